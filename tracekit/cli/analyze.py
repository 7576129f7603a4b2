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
    emit,
    file_progress,
    warn,
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
        str | None,
        typer.Option(metavar="WIDTH", help="The same figures per time window, e.g. 1m or 30s."),
    ] = None,
    stage: Annotated[
        list[str] | None,
        typer.Option("--stage", metavar="NAME", help="Only these stages (repeatable)."),
    ] = None,
    symbol: SymbolOption = None,
    run: RunOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.table,
    csv_table: Annotated[
        CsvTable | None,
        typer.Option(help="Which table --format csv writes (default: stages).", show_default=False),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to this file, not stdout."),
    ] = None,
    self_time: Annotated[
        bool | None,
        typer.Option(
            "--self-time/--no-self-time",
            help="Each stage's self time (exclusive of child spans) beside its inclusive "
            "time in the stage table (the default; --no-self-time skips reading the "
            "spans a second time).",
            show_default=False,
        ),
    ] = None,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast",
            help="Approximate tables from the files' summaries (footers only): "
            "percentiles within 1%, counts exact; no attribution, error shares or "
            "parallel symbols. Only --run and --stage apply.",
        ),
    ] = False,
    skip_bad: SkipBadOption = False,
    no_color: NoColorOption = False,
    engine: EngineOption = Engine.polars,
    spark_master: SparkMasterOption = None,
) -> None:
    """Per-stage p50/p95/p99, deadline misses, guard trips and exchange latency."""
    from tracekit.analysis import load
    from tracekit.errors import InputError

    refuse_polars_only(
        engine, by=by, every=every, stage=stage, symbol=symbol, run=run, since=since, until=until
    )
    if csv_table is not None and output_format is not OutputFormat.csv:
        raise InputError(
            f"--csv-table applies to --format csv only; add --format csv, or drop "
            f"--csv-table {csv_table.value}"
        )
    analysis = None
    if fast:
        if engine is Engine.spark or by or every or symbol or since or until or self_time:
            raise InputError(
                "--fast answers whole runs from the files' summaries: only --run and --stage "
                "apply; drop --by, --every, --symbol, --since, --until, --self-time, --engine"
            )
        from tracekit.analysis.fast import analyze_fast

        with file_progress(output_format is OutputFormat.table and output is None) as progress:
            found = analyze_fast(
                paths, skip_bad=skip_bad, runs=run or [], stages=stage or [], progress=progress
            )
        if found is None:
            warn("--fast: no file carries a summary; the exact analysis follows")
        else:
            analysis, warnings = found
            for line in warnings:
                warn(line)
    if analysis is not None:
        pass
    elif engine is Engine.spark:
        # The Spark engine's stage table is inclusive time (its notes say so).
        from tracekit.spark import analyze

        session, cache = spark_session(spark_master, paths)
        analysis = analyze(session, paths, skip_bad=skip_bad, cache=cache)
    else:
        with file_progress(output_format is OutputFormat.table and output is None) as progress:
            # The rows' check runs inside analyze's one pass, not as a read of its own.
            loaded = load(paths, skip_bad=skip_bad, progress=progress, defer_value_check=True)
        for skipped in loaded.skipped:
            warn(f"skipped {skipped.reason}")
        # Times go in as text: the library parses them exact to the ns.
        traces = loaded.select(
            stages=stage or [], symbols=symbol or [], runs=run or [], since=since, until=until
        )
        analysis = traces.analyze(
            by=[key.value for key in by or []],  # type: ignore[misc]
            every=every,
            sketches=output_format in (OutputFormat.table, OutputFormat.markdown),
            self_time=self_time is not False,
        )
    for notice in analysis.notices():
        warn(notice)

    emit(
        analysis,
        output_format,
        output,
        no_color=no_color,
        table=(csv_table or CsvTable.stages).value,
    )
