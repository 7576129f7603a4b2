"""Helpers shared by the commands: consoles, output files, option parsing."""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracekit.errors import InputError
from tracekit.fileio import check_output_target

if TYPE_CHECKING:
    from rich.console import Console

    from tracekit.analysis import TraceSet
    from tracekit.present.report import Report


class OutputFormat(enum.StrEnum):
    """How a command renders its result."""

    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"


class DecisionFormat(enum.StrEnum):
    """How compare and canary render their result (no CSV: a verdict is not one table)."""

    table = "table"
    json = "json"
    markdown = "markdown"


def make_console(*, no_color: bool = False, file: object | None = None) -> Console:
    """A console for stdout (or ``file``); colour off with --no-color or NO_COLOR."""
    from rich.console import Console

    disable = no_color or bool(os.environ.get("NO_COLOR"))
    # Piped or in a CI log, nothing wraps lines: use a width that fits the tables.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 140
    return Console(file=file, no_color=disable, highlight=False, width=width)  # type: ignore[arg-type]


def write_output(text: str, output: Path | None) -> None:
    """Write rendered text to ``output``, or to stdout when None."""
    if output is None:
        sys.stdout.write(text)
        return
    check_output_target(output)  # never write into a FIFO or over a device
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{output}: cannot write the output ({exc.strerror})") from None


def parse_time(text: str | None, option: str) -> datetime | None:
    """Parse an ISO 8601 time (UTC when no zone is given) for --since/--until."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"{option} {text!r} is not an ISO 8601 time, for example 2026-01-01T00:05:00Z"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@contextmanager
def file_progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar for checking many files; None when not on a terminal."""
    if not enabled or not sys.stdout.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task("Reading golden traces", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield advance


def say(text: str) -> None:
    """One line of the command's own on stdout (``Wrote …``), terminal-safe: the
    paths in it are the user's (control characters escaped, as in tables)."""
    from tracekit.present.render.sections import printable

    typer.echo(printable(text))


def warn(message: str) -> None:
    """One warning line on stderr (terminal-safe, like the ``Error:`` line)."""
    from tracekit.cli import in_options, one_line

    sys.stderr.write(f"Warning: {one_line(in_options(message))}\n")


def emit(
    result: Report,
    output_format: str,
    output: Path | None = None,
    *,
    no_color: bool = False,
    report: Path | None = None,
    table: str | None = None,
) -> None:
    """Render a result where asked: the one format switch of every command.

    Args:
        result: A result of the Report protocol (:mod:`tracekit.present.report`).
        output_format: table, json, markdown, csv or html, compared by value (each
            command's ``--format`` offers the ones that make sense for it).
        output: A file to write instead of stdout.
        no_color: No colour on the terminal.
        report: Also write the Markdown report here.
        table: The table ``csv`` writes (by name).
    """
    from tracekit.present.report import ReportFormat, render

    if report is not None:
        write_output(render(result, ReportFormat.markdown), report)
    if str(output_format) == ReportFormat.table and output is None:
        make_console(no_color=no_color).print(result)  # its __rich__, drawn for this terminal
    else:
        write_output(render(result, str(output_format), table=table), output)


# -- selecting golden traces: the options analyze, plot and export share --------------

PathsArgument = Annotated[
    list[str], typer.Argument(help="Golden-trace files, folders (recursive) or globs.")
]
RunOption = Annotated[
    list[str] | None,
    typer.Option("--run", metavar="ID", help="Only these run ids (repeatable)."),
]
SymbolOption = Annotated[
    list[str] | None,
    typer.Option("--symbol", metavar="SYMBOL", help="Only these symbols (repeatable)."),
]
SinceOption = Annotated[
    str | None,
    typer.Option(metavar="TIME", help="Records starting at or after this ISO time (UTC)."),
]
UntilOption = Annotated[
    str | None, typer.Option(metavar="TIME", help="Records starting before this ISO time (UTC).")
]
SkipBadOption = Annotated[
    bool, typer.Option("--skip-bad", help="Skip unreadable or foreign files (listed on stderr).")
]


def load_selection(
    paths: list[str],
    *,
    skip_bad: bool,
    show_progress: bool,
    stages: list[str] | None = None,
    symbols: list[str] | None = None,
    runs: list[str] | None = None,
    since: str | None = None,
    until: str | None = None,
) -> TraceSet:
    """Load golden traces (warning about skipped files) and apply the selection options."""
    from tracekit.analysis import load

    since_time = parse_time(since, "--since")
    until_time = parse_time(until, "--until")
    with file_progress(show_progress) as progress:
        traces = load(paths, skip_bad=skip_bad, progress=progress)
    for skipped in traces.skipped:
        warn(f"skipped {skipped.reason}")
    return traces.select(
        stages=stages or [],
        symbols=symbols or [],
        runs=runs or [],
        since=since_time,
        until=until_time,
    )


# -- rendering a decision: the options compare and canary share ------------------------

DecisionFormatOption = Annotated[
    DecisionFormat, typer.Option("--format", "-f", help="How to render the result.")
]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", metavar="FILE", help="Write to this file, not stdout."),
]
ReportOption = Annotated[
    Path | None,
    typer.Option(metavar="FILE", help="Also write the Markdown report here (a PR comment)."),
]
NoColorOption = Annotated[bool, typer.Option("--no-color", help="No colour (also NO_COLOR=1).")]


def write_plots(figures: dict[str, Any], folder: Path) -> None:
    """Save a command's ``--plot DIR`` figures and name each file written, on stderr.

    stderr, because stdout may carry the result itself (``--format json``).
    """
    from tracekit.present.plots import save_figures

    for path in save_figures(figures, folder):
        from tracekit.present.render.sections import printable

        sys.stderr.write(f"Wrote {printable(str(path))}\n")
