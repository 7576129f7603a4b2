"""``python -m tracekit`` and the ``tracekit`` console script.

The command line needs the ``analysis`` extra (``pip install 'tracekit[analysis]'``);
a lean install (the tracer alone) gets one line saying what to install, exit code 2.
"""

from __future__ import annotations

import importlib.util
import sys

ANALYSIS_PACKAGES = ("typer", "rich", "polars", "pyarrow", "numpy", "matplotlib")
"""What the command line imports beyond the tracer's own dependencies."""
INSTALL_HINT = "pip install 'tracekit[analysis]'"


def missing_packages() -> list[str]:
    """The analysis packages that cannot be imported (checked without importing them)."""
    missing = []
    for name in ANALYSIS_PACKAGES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # ValueError: blocked (None in sys.modules)
            found = False
        if not found:
            missing.append(name)
    return missing


def main() -> None:
    """Run the command line, or say in one line what to install (exit code 2)."""
    missing = missing_packages()
    if missing:
        sys.stderr.write(
            f"Error: the tracekit command needs the analysis extra (missing: "
            f"{', '.join(missing)}); install it with: {INSTALL_HINT}\n"
        )
        sys.exit(2)
    from tracekit.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
