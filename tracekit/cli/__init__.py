"""The ``tracekit`` command line: parse, call the library, render, pick the exit code.

Exit codes (documented in ``docs/cli.md``):

* 0: success, PASS or PROMOTE;
* 1: a REGRESSION or ROLLBACK verdict;
* 2: bad input or usage (``Error: ...`` on stderr, no traceback);
* 3: INCONCLUSIVE or CONTINUE;
* 4: an internal error (a bug in tracekit: please report it; ``TRACEKIT_DEBUG=1``
  shows the traceback).

Heavy libraries are imported inside the commands, and a command's options are built
only when that command runs (or shows its help), so ``tracekit --help`` is fast
(``tests/test_startup.py`` times it). Rich help panels are off: ``typer.rich_utils``
and markdown-it cost more than everything else ``--help`` does.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import Annotated, Any

import typer
import typer.core
import typer.main

from tracekit import exit_codes
from tracekit._version import __version__
from tracekit.errors import TracekitError

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


def _target(name: str) -> Any:
    module, attribute = COMMANDS[name].split(":")
    return getattr(importlib.import_module(module), attribute)


class _LazyGroup(typer.core.TyperGroup):
    """The root group: builds a command's click object only when it is asked for.

    Building all of them (typer inspects every signature) costs more than the rest of
    ``tracekit --help``, which needs only each command's first docstring line.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        if cmd_name not in self.commands:
            target = _target(cmd_name)
            wrapper = typer.Typer(rich_markup_mode=None)
            if isinstance(target, typer.Typer):
                wrapper.add_typer(target, name=cmd_name)
            else:
                wrapper.command(cmd_name)(target)
            wrapper.callback()(lambda: None)  # keeps the wrapper a group
            built = typer.main.get_command(wrapper)
            self.commands[cmd_name] = built.commands[cmd_name]  # type: ignore[attr-defined]
        return self.commands[cmd_name]

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in COMMANDS:
            target = _target(name)
            text = target.info.help if isinstance(target, typer.Typer) else target.__doc__
            rows.append((name, inspect.cleandoc(text or "").split("\n\n")[0]))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    cls=_LazyGroup,
    name="tracekit",
    help="Latency tracing for tick-based loops, and offline analysis of golden traces.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
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


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"Error: {message}\n")
    sys.exit(code)
