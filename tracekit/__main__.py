"""``python -m tracekit`` and the ``tracekit`` console script.

The command line needs the ``analysis`` extra (``pip install 'tracekit[analysis]'``);
a lean install (the tracer alone) gets one line saying what to install, exit code 2.
"""

from __future__ import annotations

import sys

from tracekit.extras import needs_analysis_extra


def main() -> None:
    """Run the command line, or say in one line what to install (exit code 2)."""
    message = needs_analysis_extra("the tracekit command")
    if message is not None:
        if sys.argv[1:] == ["--version"]:  # the version needs no extra
            from tracekit._version import __version__

            sys.stdout.write(f"tracekit {__version__}\n")
            sys.exit(0)
        sys.stderr.write(f"Error: {message}\n")
        sys.exit(2)
    from tracekit.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
