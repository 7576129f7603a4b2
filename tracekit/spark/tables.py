"""The tables of ``tracekit analyze``, computed by Spark.

The same figures as ``TraceSet.analyze()`` over the whole dataset (no grouping),
from the same rows (``docs/analysis.md``): stage figures from the sampled detail,
``tick_total``, deadline misses and parallel symbols from every tick row, guard
trips from every guard row, requests from the sampled detail, attribution from the
missed ticks whose detail was kept. Quantiles are exact: Spark's ``percentile``
interpolates linearly between order statistics, as polars' ``"linear"`` does.

Spark does the scans and the aggregation; the small results are finished (n too
small for a percentile, Wilson intervals, shares, order) in Python and returned as
an :class:`~tracekit.analysis.result.Analysis`, so they render like analyze's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from tracekit.analysis.result import Analysis
from tracekit.analysis.selection import Selection
from tracekit.errors import EmptyDataError
from tracekit.spark.read_errors import object_read_errors
from tracekit.spark.reading import SparkTraces, read_traces
from tracekit.stats.intervals import PERCENTILES, min_n_for_quantile
from tracekit.store import schema

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

NS_PER_MS: Final = 1_000_000.0
QUANTILES: Final = [q for _, q in PERCENTILES]


def analyze(
    spark: SparkSession,
    paths: str | Path | Sequence[str | Path],
    *,
    skip_bad: bool = False,
    cache: bool = False,
) -> Analysis:
    """Every table of ``tracekit analyze`` for a dataset, computed by Spark.

    Args:
        spark: The session (``tracekit.spark.local_session()`` or a cluster's).
        paths: Local files, folders or globs, or URIs (see :func:`read_traces`).
        skip_bad: Leave out bad files instead of failing.
        cache: Read the files once into Spark's cache (see :func:`read_traces`).

    Raises:
        InputError: Unreadable input.
        EmptyDataError: No tick in the data.
    """
    return analyze_traces(read_traces(spark, paths, skip_bad=skip_bad, cache=cache))


@object_read_errors()
def analyze_traces(traces: SparkTraces) -> Analysis:
    """:func:`analyze` for traces already read.

    Raises:
        InputError: An ``s3://`` object cannot be read (see
            :func:`tracekit.spark.read_errors.object_read_errors`).
        EmptyDataError: No tick in the data.
    """
    frame = traces.frame
    deadline, parallel = tick_tables(frame)
    ticks = int(deadline["ticks"][0])
    if ticks == 0:
        raise EmptyDataError(f"{traces.source}: no tick in the data; nothing to analyse")
    runs = sorted({meta.get(schema.META_RUN_ID, "") for meta in traces.metadata.values()} - {""})
    if not traces.metadata:
        runs = sorted(str(row[0]) for row in frame.select("run_id").distinct().collect())
    return Analysis(
        files=traces.files,
        skipped=traces.skipped,
        runs=runs,
        sample_rates=_rates(traces),
        selection=Selection(),
        by=(),
        every=None,
        stages=stage_table(frame),
        deadline=deadline,
        attribution=attribution_table(frame),
        guards=guard_table(frame, ticks),
        requests=request_table(frame),
        parallel=parallel,
    )


def _rates(traces: SparkTraces) -> dict[str, float | list[float]]:
    rates: dict[str, float | list[float]] = {}
    rates.update(traces.sample_rates)
    return rates


# -- rows ------------------------------------------------------------------------------


def _is(kind: str) -> Column:
    from pyspark.sql import functions as F

    return F.col("kind") == kind


def _sampled(kind: str) -> Column:
    from pyspark.sql import functions as F

    return _is(kind) & (F.col("detail") == schema.DETAIL_SAMPLED)


def stage_rows(frame: DataFrame) -> DataFrame:
    """Sampled stage rows and every tick row (as ``tick_total``): run_id, tick_id,
    stage, duration_ns."""
    from pyspark.sql import functions as F

    detail = frame.filter(_sampled(schema.KIND_STAGE)).select(
        "run_id", "tick_id", F.col("name").alias("stage"), "duration_ns"
    )
    ticks = frame.filter(_is(schema.KIND_TICK)).select(
        "run_id", "tick_id", F.lit(schema.TICK_TOTAL).alias("stage"), "duration_ns"
    )
    return detail.unionByName(ticks)


def _latency(column: str = "duration_ns") -> list[Column]:
    """n, exact linear percentiles, max and mean, in ms."""
    from pyspark.sql import functions as F

    duration = F.col(column)
    return [
        F.count(F.lit(1)).alias("n"),
        F.percentile(duration, QUANTILES).alias("quantiles_ns"),
        F.max(duration).alias("max_ns"),
        F.avg(duration).alias("mean_ns"),
    ]


def _latency_values(row: Any) -> dict[str, Any]:
    n = int(row["n"])
    quantiles = row["quantiles_ns"] or [None] * len(PERCENTILES)
    values: dict[str, Any] = {"n": n}
    for (label, q), value in zip(PERCENTILES, quantiles, strict=True):
        estimable = value is not None and n >= min_n_for_quantile(q)
        values[f"{label}_ms"] = float(value) / NS_PER_MS if estimable else None
    values["max_ms"] = None if row["max_ns"] is None else float(row["max_ns"]) / NS_PER_MS
    values["mean_ms"] = None if row["mean_ns"] is None else float(row["mean_ns"]) / NS_PER_MS
    return values


_LATENCY_SCHEMA: Final = {
    "n": pl.UInt32,
    "p50_ms": pl.Float64,
    "p95_ms": pl.Float64,
    "p99_ms": pl.Float64,
    "max_ms": pl.Float64,
    "mean_ms": pl.Float64,
}


def _stage_order(stage: str) -> tuple[int, str]:
    known = [name for name in schema.STAGE_ORDER if name != schema.TICK_TOTAL]
    if stage == schema.TICK_TOTAL:
        return (len(known) + 1, stage)
    return (known.index(stage), stage) if stage in known else (len(known), stage)


# -- tables ------------------------------------------------------------------------------


def stage_table(frame: DataFrame) -> pl.DataFrame:
    """Per stage and ``tick_total``: n, p50/p95/p99, max and mean in ms (analyze's order)."""
    rows = stage_rows(frame).groupBy("stage").agg(*_latency()).collect()
    records = [{"stage": str(row["stage"]), **_latency_values(row)} for row in rows]
    records.sort(key=lambda record: _stage_order(record["stage"]))
    return pl.DataFrame(records, schema={"stage": pl.String, **_LATENCY_SCHEMA}, orient="row")


def tick_tables(frame: DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The deadline table (one row per deadline) and the parallel-symbols table."""
    from pyspark.sql import functions as F

    from tracekit.analysis.traceset import finish_deadline

    missed = F.col("deadline_missed")
    parallel = F.col("parallel_symbols")
    ticks_frame = frame.filter(_is(schema.KIND_TICK))
    rows = (
        ticks_frame.groupBy("deadline_ns")
        .agg(
            F.count(F.lit(1)).alias("ticks"),
            F.coalesce(F.sum(missed.cast("long")), F.lit(0)).alias("misses"),
            F.coalesce(
                F.sum(F.when(missed & (F.col("detail") != schema.DETAIL_NONE), 1).otherwise(0)),
                F.lit(0),
            ).alias("misses_with_detail"),
        )
        .collect()
    )
    counts = pl.DataFrame(
        {
            "ticks": [int(row["ticks"]) for row in rows],
            "misses": [int(row["misses"]) for row in rows],
            "misses_with_detail": [int(row["misses_with_detail"]) for row in rows],
            "deadline_ms": [
                None if row["deadline_ns"] is None else float(row["deadline_ns"]) / NS_PER_MS
                for row in rows
            ],
        },
        schema={
            "ticks": pl.UInt32,
            "misses": pl.UInt32,
            "misses_with_detail": pl.UInt32,
            "deadline_ms": pl.Float64,
        },
    )
    deadline = finish_deadline(counts)
    row = ticks_frame.agg(
        F.count(parallel).alias("parallel_n"),
        F.min(parallel).alias("parallel_min"),
        F.avg(parallel).alias("parallel_mean"),
        F.max(parallel).alias("parallel_max"),
    ).collect()[0]
    parallel_table = pl.DataFrame(
        {
            "n": [int(row["parallel_n"])],
            "min": [row["parallel_min"]],
            "mean": [row["parallel_mean"]],
            "max": [row["parallel_max"]],
        },
        schema={"n": pl.UInt32, "min": pl.Int32, "mean": pl.Float64, "max": pl.Int32},
    )
    return deadline, parallel_table


def guard_table(frame: DataFrame, ticks: int) -> pl.DataFrame:
    """Guard trips by reason: trips, per 1,000 ticks and share of all trips."""
    from pyspark.sql import functions as F

    rows = (
        frame.filter(_is(schema.KIND_GUARD))
        .groupBy(F.col("name").alias("reason"))
        .agg(F.count(F.lit(1)).alias("trips"))
        .collect()
    )
    total = sum(int(row["trips"]) for row in rows)
    rows.sort(key=lambda row: (-int(row["trips"]), str(row["reason"])))
    records = [
        {
            "reason": str(row["reason"]),
            "trips": int(row["trips"]),
            "per_1000_ticks": 1000.0 * int(row["trips"]) / ticks,
            "share": int(row["trips"]) / total,
        }
        for row in rows
    ]
    return pl.DataFrame(
        records,
        schema={
            "reason": pl.String,
            "trips": pl.UInt32,
            "per_1000_ticks": pl.Float64,
            "share": pl.Float64,
        },
        orient="row",
    )


def request_table(frame: DataFrame) -> pl.DataFrame:
    """Sampled exchange requests by verb and api: latency in ms and the error share."""
    from pyspark.sql import functions as F

    rows = (
        frame.filter(_sampled(schema.KIND_REQUEST))
        .groupBy("verb", F.col("name").alias("api"))
        .agg(
            *_latency(),
            F.avg((F.col("status") == schema.STATUS_ERROR).cast("double")).alias("error_share"),
        )
        .collect()
    )
    records = [
        {
            "verb": row["verb"],
            "api": str(row["api"]),
            **_latency_values(row),
            "error_share": float(row["error_share"]),
        }
        for row in rows
    ]
    records.sort(key=lambda r: (r["verb"] is None, r["verb"] or "", r["api"]))
    return pl.DataFrame(
        records,
        schema={
            "verb": pl.String,
            "api": pl.String,
            **_LATENCY_SCHEMA,
            "error_share": pl.Float64,
        },
        orient="row",
    )


def attribution_table(frame: DataFrame) -> pl.DataFrame:
    """What the missed ticks spent their time on, as analyze computes it.

    Spark finds the missed ticks with detail and their stage and request rows (a
    small share of the data); the table itself, self time and all, is computed from
    those rows by the very function analyze uses
    (:func:`tracekit.analysis.attribution.attribution_from_spans`).
    """
    from pyspark.sql import functions as F

    from tracekit.analysis.attribution import attribution_from_spans

    tick_key = ["run_id", "tick_id"]
    missed = (
        frame.filter(
            _is(schema.KIND_TICK)
            & F.col("deadline_missed")
            & (F.col("detail") != schema.DETAIL_NONE)
        )
        .select(*tick_key)
        .distinct()
    )
    columns = [
        *tick_key,
        "kind",
        "name",
        "symbol",
        "start_unix_ns",
        "duration_ns",
        *schema.NESTING_COLUMNS,  # exact self time where the tracer recorded parents
    ]
    rows = (
        frame.filter(F.col("kind").isin(schema.KIND_STAGE, schema.KIND_REQUEST))
        .join(missed, on=tick_key, how="left_semi")
        .select(*columns)
        .collect()
    )
    spans = pl.DataFrame(
        [tuple(row) for row in rows],
        schema={
            "run_id": pl.String,
            "tick_id": pl.Int64,
            "kind": pl.String,
            "name": pl.String,
            "symbol": pl.String,
            "start_unix_ns": pl.Int64,
            "duration_ns": pl.Int64,
            schema.SPAN_ID: pl.Int32,
            schema.PARENT_SPAN_ID: pl.Int32,
        },
        orient="row",
    )
    return attribution_from_spans(spans)
