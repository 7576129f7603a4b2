"""``tracekit export``: golden traces in other tools' formats.

``tracekit export chrome`` writes the Chrome Trace Event Format (``docs/export.md``).
The command group is registered in :mod:`tracekit.cli` with
``app.add_typer(export_app, name="export")``. polars and the exporter are imported
inside the command, so ``tracekit --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracekit.cli.common import (
    PathsArgument,
    RunOption,
    SinceOption,
    SkipBadOption,
    UntilOption,
    load_selection,
    parse_time,
    say,
)

DEFAULT_OUTPUT = Path("trace.json")
DEFAULT_MAX_MB = 100.0
"""The same default as ``tracekit.present.export.chrome.DEFAULT_MAX_MB`` (not imported: it
would load polars); ``tests/test_export_chrome.py`` checks that they agree."""

export_app = typer.Typer(
    help="Export golden traces to other tools' formats (Chrome Trace Event Format).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@export_app.command("chrome")
def chrome_command(
    paths: PathsArgument,
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="FILE", help="The JSON file to write.")
    ] = DEFAULT_OUTPUT,
    run: RunOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    ticks: Annotated[
        str | None,
        typer.Option(
            "--ticks",
            metavar="FIRST-LAST",
            help="Only these tick ids, FIRST-LAST inclusive, e.g. 100-200.",
        ),
    ] = None,
    symbol: Annotated[
        list[str] | None,
        typer.Option(
            "--symbol",
            metavar="SYMBOL",
            help="Only these symbols' spans and guard trips (repeatable).",
        ),
    ] = None,
    max_mb: Annotated[
        float,
        typer.Option(
            "--max-mb", metavar="MB", help="Refuse exports estimated larger than this (MB)."
        ),
    ] = DEFAULT_MAX_MB,
    skip_bad: SkipBadOption = False,
) -> None:
    """Write a Chrome Trace Event Format JSON file for ui.perfetto.dev or chrome://tracing."""
    from tracekit.present.export.chrome import parse_tick_range, write_chrome_trace

    parse_time(since, "--since")  # checked before any data is read
    parse_time(until, "--until")
    tick_range = None if ticks is None else parse_tick_range(ticks)
    traces = load_selection(
        paths,
        skip_bad=skip_bad,
        show_progress=True,
        symbols=symbol,
        runs=run,
        since=since,
        until=until,
    )
    written = write_chrome_trace(traces, output, ticks=tick_range, max_mb=max_mb)
    say(written.summary())
