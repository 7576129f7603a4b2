"""The typer application of ``tracekit``: the root group and its lazily built commands."""

from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Annotated, Any

import typer
import typer.core
import typer.main

from tracekit._version import __version__
from tracekit.cli import COMMANDS, EXIT_OK
from tracekit.cli.root_help import OPTIONS, ROOT_HELP

VERSION_HELP = OPTIONS[0][1]


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

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except Exception as error:  # click's UsageError: suggest from every command name
            message = getattr(error, "message", None)
            if isinstance(message, str) and args and "Did you mean" not in message:
                matches = difflib.get_close_matches(args[0], list(COMMANDS))
                if matches:
                    names = ", ".join(repr(match) for match in matches)
                    error.message = f"{message.rstrip('.')}. Did you mean {names}?"  # type: ignore[attr-defined]
            raise

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
    help=ROOT_HELP,
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
            help=VERSION_HELP,
        ),
    ] = False,
) -> None:
    """Latency tracing for tick-based loops, and offline analysis of golden traces."""
