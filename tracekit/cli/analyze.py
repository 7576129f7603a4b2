"""``tracekit analyze``: stage percentiles, deadline misses, guard trips, exchange latency."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from tracekit.cli.common import (
    NoColorOption,
    OutputFormat,
    PathsArgument,
    RunOption,
    SinceOption,
    SkipBadOption,
    SymbolOption,
    UntilOption,
    load_selection,
    make_console,
    render_rich_text,
    write_output,
)
from tracekit.cli.engine import (
    Engine,
    EngineOption,
    SparkMasterOption,
    refuse_polars_only,
    spark_session,
)


class GroupBy(enum.StrEnum):
    symbol = "symbol"
    run = "run"


class CsvTable(enum.StrEnum):
    stages = "stages"
    deadline = "deadline"
    attribution = "attribution"
    guards = "guards"
    requests = "requests"
    parallel = "parallel"


def analyze_command(
    paths: PathsArgument,
    by: Annotated[
        list[GroupBy] | None, typer.Option("--by", help="Group the figures (repeatable).")
    ] = None,
    every: Annotated[
        str | None, typer.Option(help="The same figures per time window, e.g. 1m or 30s.")
    ] = None,
    stage: Annotated[
        list[str] | None, typer.Option("--stage", help="Only these stages (repeatable).")
    ] = None,
    symbol: SymbolOption = None,
    run: RunOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.table,
    csv_table: Annotated[
        CsvTable, typer.Option(help="Which table --format csv writes.")
    ] = CsvTable.stages,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
    skip_bad: SkipBadOption = False,
    no_color: NoColorOption = False,
    engine: EngineOption = Engine.polars,
    spark_master: SparkMasterOption = None,
) -> None:
    """Per-stage p50/p95/p99, deadline misses, guard trips and exchange latency."""
    from tracekit.present.render.sections import to_csv

    refuse_polars_only(
        engine, by=by, every=every, stage=stage, symbol=symbol, run=run, since=since, until=until
    )
    if engine is Engine.spark:
        from tracekit.spark import analyze

        session, cache = spark_session(spark_master)
        analysis = analyze(session, paths, skip_bad=skip_bad, cache=cache)
    else:
        traces = load_selection(
            paths,
            skip_bad=skip_bad,
            show_progress=output_format is OutputFormat.table and output is None,
            stages=stage,
            symbols=symbol,
            runs=run,
            since=since,
            until=until,
        )
        analysis = traces.analyze(
            by=[key.value for key in by or []],  # type: ignore[misc]
            every=every,
            sketches=output_format in (OutputFormat.table, OutputFormat.markdown),
        )

    if output_format is OutputFormat.json:
        write_output(analysis.to_json() + "\n", output)
    elif output_format is OutputFormat.markdown:
        write_output(analysis.to_markdown(), output)
    elif output_format is OutputFormat.csv:
        section = next(s for s in analysis.sections() if s.name == csv_table.value)
        write_output(to_csv(section), output)
    elif output is not None:
        write_output(render_rich_text(analysis), output)
    else:
        make_console(no_color=no_color).print(analysis)
