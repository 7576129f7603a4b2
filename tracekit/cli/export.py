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

from tracekit.cli.common import file_progress, parse_time, warn

DEFAULT_OUTPUT = Path("trace.json")
DEFAULT_MAX_MB = 100.0
"""The same default as ``tracekit.export.chrome.DEFAULT_MAX_MB`` (not imported: it
would load polars); ``tests/test_export_chrome.py`` checks that they agree."""

export_app = typer.Typer(
    help="Export golden traces to other tools' formats (Chrome Trace Event Format).",
    no_args_is_help=True,
)


@export_app.command("chrome")
def chrome_command(
    paths: Annotated[
        list[str], typer.Argument(help="Golden-trace files, folders (recursive) or globs.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The JSON file to write.")
    ] = DEFAULT_OUTPUT,
    run: Annotated[
        list[str] | None, typer.Option("--run", help="Only these run ids (repeatable).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Records starting at or after this ISO time (UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Records starting before this ISO time (UTC).")
    ] = None,
    ticks: Annotated[
        str | None,
        typer.Option("--ticks", help="Only these tick ids, FIRST-LAST inclusive, e.g. 100-200."),
    ] = None,
    symbol: Annotated[
        list[str] | None,
        typer.Option("--symbol", help="Only these symbols' spans and guard trips (repeatable)."),
    ] = None,
    max_mb: Annotated[
        float,
        typer.Option("--max-mb", help="Refuse exports estimated larger than this (MB)."),
    ] = DEFAULT_MAX_MB,
    skip_bad: Annotated[
        bool, typer.Option(help="Skip unreadable or foreign files (listed on stderr).")
    ] = False,
) -> None:
    """Write a Chrome Trace Event Format JSON file for ui.perfetto.dev or chrome://tracing."""
    from tracekit.analysis import load
    from tracekit.export.chrome import parse_tick_range, write_chrome_trace

    since_time = parse_time(since, "--since")
    until_time = parse_time(until, "--until")
    tick_range = None if ticks is None else parse_tick_range(ticks)
    with file_progress(True) as progress:
        traces = load(paths, skip_bad=skip_bad, progress=progress)
    for skipped in traces.skipped:
        warn(f"skipped {skipped.reason}")
    traces = traces.select(symbols=symbol or [], runs=run or [], since=since_time, until=until_time)
    written = write_chrome_trace(traces, output, ticks=tick_range, max_mb=max_mb)
    typer.echo(written.summary())
