"""``tracekit plot``: stage latency, a tick timeline, guard trips or request latency as an image.

The command loads and selects traces like ``tracekit analyze``, asks
:mod:`tracekit.present.plots` for one figure and writes it; nothing is drawn here. Only
typer is imported at module level, so ``tracekit --help`` does not load
matplotlib or polars.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from tracekit.cli.common import (
    PathsArgument,
    RunOption,
    SinceOption,
    SkipBadOption,
    SymbolOption,
    UntilOption,
    load_selection,
    parse_time,
    say,
)


class PlotKind(enum.StrEnum):
    """The figures ``tracekit plot`` draws (``tracekit.present.plots.TRACE_KINDS``)."""

    stages = "stages"
    timeline = "timeline"
    guards = "guards"
    requests = "requests"


class ImageFormat(enum.StrEnum):
    """Image formats (``tracekit.present.plots.PLOT_FORMATS``)."""

    png = "png"
    svg = "svg"
    pdf = "pdf"


def plot_command(
    paths: PathsArgument,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Image file to write: .png, .svg or .pdf."
        ),
    ],
    kind: Annotated[
        PlotKind,
        typer.Option(
            "--kind",
            "-k",
            help="stages: latency per stage; timeline: tick_total over time; "
            "guards: trips per window; requests: latency per verb and API.",
        ),
    ] = PlotKind.stages,
    output_format: Annotated[
        ImageFormat | None,
        typer.Option("--format", "-f", help="Image format; default: from the --output suffix."),
    ] = None,
    stage: Annotated[
        list[str] | None,
        typer.Option(
            "--stage", metavar="NAME", help="Only these stages (repeatable; --kind stages)."
        ),
    ] = None,
    symbol: SymbolOption = None,
    run: RunOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    every: Annotated[
        str | None,
        typer.Option(
            metavar="WIDTH", help="Window width of --kind guards, e.g. 30s or 5m (default: auto)."
        ),
    ] = None,
    title: Annotated[str | None, typer.Option(metavar="TEXT", help="Figure title.")] = None,
    width: Annotated[
        float | None, typer.Option(metavar="INCHES", help="Width in inches (default 10).")
    ] = None,
    height: Annotated[
        float | None,
        typer.Option(metavar="INCHES", help="Height in inches (default: depends on --kind)."),
    ] = None,
    dpi: Annotated[float, typer.Option(metavar="DPI", help="Dots per inch of PNG output.")] = 100.0,
    skip_bad: SkipBadOption = False,
) -> None:
    """Plot golden traces to a PNG, SVG or PDF file."""
    from tracekit.errors import InputError
    from tracekit.present.plots import check_size, format_for_path, plot_traces, save_figure

    # Everything that can be checked without the data is checked first.
    image_format = format_for_path(output, output_format.value if output_format else None)
    check_size(width, height, dpi)
    parse_time(since, "--since")  # checked before any data is read
    parse_time(until, "--until")
    if stage and kind is not PlotKind.stages:
        raise InputError(f"--stage selects rows of --kind stages; it does not apply to {kind}")
    if every is not None and kind is not PlotKind.guards:
        raise InputError(f"--every sets the guards figure's windows; it does not apply to {kind}")
    traces = load_selection(
        paths,
        skip_bad=skip_bad,
        show_progress=True,
        stages=stage,
        symbols=symbol,
        runs=run,
        since=since,
        until=until,
    )
    figure = plot_traces(
        traces, kind.value, title=title, width=width, height=height, dpi=dpi, every=every
    )
    written = save_figure(figure, output, image_format)
    say(f"Wrote {written} ({kind.value}, {image_format})")
