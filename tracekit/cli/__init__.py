"""The ``tracekit`` command line: parse, call the library, render, pick the exit code.

Exit codes (documented in ``docs/cli.md``):

* 0: success, PASS or PROMOTE;
* 1: a REGRESSION or ROLLBACK verdict;
* 2: bad input or usage (``Error: ...`` on stderr, no traceback);
* 3: INCONCLUSIVE or CONTINUE;
* 4: an internal error (a bug in tracekit: please report it; ``TRACEKIT_DEBUG=1``
  shows the traceback).

``tracekit --help`` is fast (``tests/test_startup.py`` times it): this module imports
no third-party package, the typer application (:mod:`tracekit.cli.application`) builds a
command's options only when that command runs or shows its help, and the root help
of the console script is written by :mod:`tracekit.cli.root_help` without typer (in
typer's exact layout; a test compares the two). Heavy libraries are imported inside
the commands.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Any

from tracekit import exit_codes
from tracekit.errors import TracekitError

if TYPE_CHECKING:
    import typer

EXIT_OK = exit_codes.OK
EXIT_FAIL = exit_codes.FAIL
EXIT_BAD_INPUT = exit_codes.BAD_INPUT
EXIT_INCONCLUSIVE = exit_codes.INCONCLUSIVE
EXIT_INTERNAL = exit_codes.INTERNAL

COMMANDS: dict[str, str] = {
    "analyze": "tracekit.cli.analyze:analyze_command",
    "compare": "tracekit.cli.compare:compare_command",
    "compact": "tracekit.cli.compact:compact_command",
    "canary": "tracekit.cli.canary:canary_command",
    "plot": "tracekit.cli.plot:plot_command",
    "profile": "tracekit.cli.compare:profile_command",
    "rules": "tracekit.cli.prometheus:rules_command",
    "dashboard": "tracekit.cli.prometheus:dashboard_command",
    "simulate": "tracekit.cli.simulate:simulate_command",
    "export": "tracekit.cli.export:export_app",
}
"""Every command, in the order of ``tracekit --help``: name -> ``module:function`` (or a
``typer.Typer`` for a command group)."""


def __getattr__(name: str) -> Any:
    if name == "app":  # the typer application, imported on first use
        from tracekit.cli.application import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point of the ``tracekit`` console script and ``python -m tracekit``.

    The one place where errors become output: a :class:`TracekitError` or a usage
    error is one ``Error: ...`` line on stderr and its exit code, never a traceback.
    """
    if sys.argv[1:] in ([], ["--help"], ["-h"]) and os.path.basename(sys.argv[0]) == "tracekit":
        from tracekit.cli.root_help import root_help

        sys.stdout.write(root_help("tracekit") + "\n")
        sys.exit(EXIT_OK)
    import logging

    import typer

    from tracekit.cli.allocator import keep_freed_memory

    keep_freed_memory()

    # The tracer logs its write errors for traced programs; a command reports them in
    # its own one ``Error:`` line (``tracekit simulate``), so they are not logged twice.
    logger = logging.getLogger("tracekit")
    if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):
        logger.addHandler(logging.NullHandler())
    application: typer.Typer = getattr(sys.modules[__name__], "app")  # noqa: B009
    try:
        code = application(standalone_mode=False)
    except TracekitError as error:
        _fail(in_options(str(error)), error.exit_code)
    except typer.Abort:
        _fail("interrupted", 130)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except typer.TyperException as error:  # usage errors of the command line parser
        if type(error).__name__ == "NoArgsIsHelpError":
            ctx = getattr(error, "ctx", None)
            sys.stdout.write(ctx.get_help() + "\n" if ctx is not None else "")
            sys.exit(EXIT_OK)
        message = error.format_message() if hasattr(error, "format_message") else str(error)
        _fail(" ".join(message.split()), int(getattr(error, "exit_code", EXIT_BAD_INPUT)))
    except Exception as error:  # a bug: never let it look like a verdict (exit 1)
        if os.environ.get("TRACEKIT_DEBUG"):
            raise
        detail = " ".join(str(error).split())[:300]
        _fail(
            f"internal error ({type(error).__name__}: {detail}); please report it "
            "(TRACEKIT_DEBUG=1 shows the traceback)",
            EXIT_INTERNAL,
        )
    sys.exit(code if isinstance(code, int) else EXIT_OK)


OPTIONS: dict[str, str] = {
    "runs": "--run",
    "symbols": "--symbol",
    "stages": "--stage",
}
"""The parameters of library calls whose option is not ``--`` and the name with dashes
(``skip_bad`` is ``--skip-bad``)."""


def option_of(parameter: str) -> str:
    """The command-line option of a library parameter: ``skip_bad`` -> ``--skip-bad``."""
    return OPTIONS.get(parameter, "--" + parameter.replace("_", "-"))


def in_options(message: str) -> str:
    """A library message in the command line's words: each parameter it quotes
    (`` `skip_bad=True` ``, `` `since` ``, :func:`tracekit.errors.parameter`) becomes
    its option (``--skip-bad``, ``--since``)."""
    from tracekit.errors import PARAMETER

    def replace(match: re.Match[str]) -> str:
        name, value = match[1], match[2]
        flag = option_of(name)
        return flag if value in (None, "True") else f"{flag} {value}"

    return PARAMETER.sub(replace, message)


MAX_MESSAGE_CHARS = 2000
"""An error line is cut here: a message may quote a value read from a file."""


def one_line(message: str) -> str:
    """``message`` as one terminal-safe line of at most :data:`MAX_MESSAGE_CHARS`."""
    from tracekit.present.render.sections import printable

    text = printable(" ".join(message.split()))
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"Error: {one_line(message)}\n")
    sys.exit(code)
