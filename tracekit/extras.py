"""What the optional ``analysis`` extra brings, and how to tell it is missing.

The tracer needs only the standard library (plus pyarrow in its writer thread); the
command line and the analysis API (:func:`tracekit.load`) need the packages below.
A lean install (``pip install tracekit``) is told, in one line, what to install.
"""

from __future__ import annotations

import importlib.util
from typing import Final

ANALYSIS_PACKAGES: Final = ("typer", "rich", "polars", "pyarrow", "numpy", "matplotlib")
"""What the command line and the analysis API import beyond the tracer's dependencies."""
INSTALL_HINT: Final = (
    "pip install 'tracekit[analysis]' (from a checkout: pip install '.[analysis]')"
)


def missing_packages(names: tuple[str, ...] = ANALYSIS_PACKAGES) -> list[str]:
    """The packages of ``names`` that cannot be imported (checked without importing them)."""
    missing = []
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # ValueError: blocked (None in sys.modules)
            found = False
        if not found:
            missing.append(name)
    return missing


def needs_analysis_extra(what: str) -> str | None:
    """The one-line message for ``what`` (a command or an API) when the analysis extra
    is missing, else None."""
    missing = missing_packages()
    if not missing:
        return None
    return (
        f"{what} needs the analysis extra (missing: {', '.join(missing)}); "
        f"install it with: {INSTALL_HINT}"
    )
