"""The ``tracekit`` command line: parse, call the library, render, pick the exit code.

Exit codes (documented in ``docs/cli.md``):

* 0: success, PASS or PROMOTE;
* 1: a REGRESSION or ROLLBACK verdict;
* 2: bad input or usage (``Error: ...`` on stderr, no traceback);
* 3: INCONCLUSIVE or CONTINUE;
* 4: an internal error (a bug in tracekit: please report it; ``TRACEKIT_DEBUG=1``
  shows the traceback).

Heavy libraries are imported inside the commands, so ``tracekit --help`` is fast.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from tracekit import exit_codes
from tracekit._version import __version__
from tracekit.cli import analyze as analyze_module
from tracekit.cli import canary as canary_module
from tracekit.cli import compact as compact_module
from tracekit.cli import compare as compare_module
from tracekit.cli import plot as plot_module
from tracekit.cli import prometheus as prometheus_module
from tracekit.cli import simulate as simulate_module
from tracekit.cli.export import export_app
from tracekit.errors import TracekitError

EXIT_OK = exit_codes.OK
EXIT_FAIL = exit_codes.FAIL
EXIT_BAD_INPUT = exit_codes.BAD_INPUT
EXIT_INCONCLUSIVE = exit_codes.INCONCLUSIVE
EXIT_INTERNAL = exit_codes.INTERNAL

app = typer.Typer(
    name="tracekit",
    help="Latency tracing for tick-based loops, and offline analysis of golden traces.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"tracekit {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Latency tracing for tick-based loops, and offline analysis of golden traces."""


app.command("analyze")(analyze_module.analyze_command)
app.command("compare")(compare_module.compare_command)
app.command("compact")(compact_module.compact_command)
app.command("canary")(canary_module.canary_command)
app.command("plot")(plot_module.plot_command)
app.command("profile")(compare_module.profile_command)
app.command("rules")(prometheus_module.rules_command)
app.command("dashboard")(prometheus_module.dashboard_command)
app.command("simulate")(simulate_module.simulate_command)
app.add_typer(export_app, name="export")


def main() -> None:
    """Entry point of the ``tracekit`` console script and ``python -m tracekit``.

    The one place where errors become output: a :class:`TracekitError` or a usage
    error is one ``Error: ...`` line on stderr and its exit code, never a traceback.
    """
    try:
        code = app(standalone_mode=False)
    except TracekitError as error:
        _fail(str(error), error.exit_code)
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
