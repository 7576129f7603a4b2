"""``tracekit --help`` without typer: the root help in typer's (click's) plain layout.

Importing typer costs more than everything else the root help needs, and the help
needs only the command names and the first paragraph of each command's docstring,
which are read from the command modules' source (``ast``) without importing them.
``tests/test_startup.py`` checks that this text equals typer's at several widths.
Standard library only.
"""

from __future__ import annotations

import ast
import os
import sys
import textwrap

from tracekit.cli import COMMANDS

ROOT_HELP = "Latency tracing for tick-based loops, and offline analysis of golden traces."
"""The root group's help (also ``tracekit.cli.application.ROOT_HELP``)."""
OPTIONS = (
    ("--version", "Print the version and exit."),
    ("-h, --help", "Show this message and exit."),
)
"""The root group's options as click lists them."""


def root_help(prog: str, width: int | None = None) -> str:
    """The text of ``tracekit --help``, without the final newline.

    Args:
        prog: The program name in the usage line.
        width: The text width; None for click's (terminal columns, at most 80, minus 2,
            at least 50).
    """
    if width is None:
        width = max(min(_terminal_columns(), 80) - 2, 50)
    out = [_usage(prog, "[OPTIONS] COMMAND [ARGS]...", width)]
    out.append("\n" + _fill(ROOT_HELP, width, "  ", "  ") + "\n")
    out.append("\nOptions:\n" + _definitions(OPTIONS, width))
    out.append("\nCommands:\n" + _definitions([(n, short_help(n)) for n in COMMANDS], width))
    return "".join(out).rstrip("\n")


def short_help(name: str) -> str:
    """The first paragraph of a command's docstring (a group's ``help=``), from its source."""
    module, attribute = COMMANDS[name].split(":")
    # Every command module is in this folder (tests/test_startup.py checks the text).
    path = os.path.join(os.path.dirname(__file__), module.rsplit(".", 1)[-1] + ".py")
    with open(path, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    text = ""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == attribute:
            text = ast.get_docstring(node, clean=False) or ""
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == attribute for target in node.targets
        ):
            call = node.value
            if isinstance(call, ast.Call):
                for keyword in call.keywords:
                    if keyword.arg == "help" and isinstance(keyword.value, ast.Constant):
                        text = str(keyword.value.value)
    return _cleandoc(text).split("\n\n")[0]


def _cleandoc(text: str) -> str:
    """``inspect.cleandoc`` (importing inspect would cost more than the whole help)."""
    lines = text.expandtabs().split("\n")
    body = textwrap.dedent("\n".join(lines[1:])).split("\n") if len(lines) > 1 else []
    cleaned = [lines[0].strip(), *(line.rstrip() for line in body)]
    while cleaned and not cleaned[0]:
        cleaned.pop(0)
    while cleaned and not cleaned[-1]:
        cleaned.pop()
    return "\n".join(cleaned)


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns`` without importing shutil: $COLUMNS, the
    terminal of stdout, or 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def _fill(text: str, width: int, first: str = "", rest: str = "") -> str:
    wrapper = textwrap.TextWrapper(
        width, initial_indent=first, subsequent_indent=rest, replace_whitespace=False
    )
    return wrapper.fill(" ".join(text.split("\n")))


def _usage(prog: str, args: str, width: int) -> str:
    prefix = f"Usage: {prog} "
    if width >= len(prefix) + 20:
        return _fill(args, width, prefix, " " * len(prefix)) + "\n"
    indent = " " * (len("Usage: ") + 4)
    return f"{prefix}\n" + _fill(args, width, indent, indent) + "\n"


def _definitions(rows: list[tuple[str, str]] | tuple[tuple[str, str], ...], width: int) -> str:
    """click's ``HelpFormatter.write_dl`` at indent 2."""
    indent = 2
    first_col = min(max(len(first) for first, _ in rows), 30) + 2
    text_width = max(width - first_col - 2, 10)
    out = []
    for first, second in rows:
        line = " " * indent + first
        if not second:
            out.append(line + "\n")
            continue
        if len(first) <= first_col - 2:
            line += " " * (first_col - len(first))
        else:
            line += "\n" + " " * (first_col + indent)
        lines = _fill(second, text_width).splitlines()
        out.append(line + lines[0] + "\n")
        out.extend(" " * (first_col + indent) + rest + "\n" for rest in lines[1:])
    return "".join(out)
