"""The perf profile of ``tracekit profile``, built by Spark.

The same :class:`~tracekit.decisions.profile.Profile` as
``tracekit.decisions.profile`` builds with polars: per run, blocks of
``max(MIN_BLOCK_TICKS, ceil(last_tick_id / 256))`` consecutive tick ids; per block
the ticks, misses, requests and a log-bucketed histogram of every sampled stage and
of ``tick_total``; per run the guard trips and a histogram of each sampled
``"VERB api"``; the median tick deadline (``deadline_ms``) and the stage table's
exact p50/p95/p99 (``exact_percentiles``). A fleet's profile built on a cluster is
written with ``Profile.write`` and gated locally with ``tracekit compare``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracekit.decisions.profile import (
    Block,
    Profile,
    RunProfile,
    block_ticks,
)
from tracekit.errors import EmptyDataError
from tracekit.spark.read_errors import object_read_errors
from tracekit.spark.reading import SparkTraces, read_traces
from tracekit.spark.tables import NS_PER_MS, stage_rows, stage_table
from tracekit.stats.histogram import LOG_GAMMA
from tracekit.stats.intervals import PERCENTILES
from tracekit.store import schema

if TYPE_CHECKING:
    from pyspark.sql import Column, SparkSession


def bucket_column(duration_ns: Column) -> Column:
    """The Spark twin of ``tracekit.stats.histogram.bucket_expr``."""
    from pyspark.sql import functions as F

    clipped = F.greatest(duration_ns.cast("double"), F.lit(1.0))
    return F.ceil(F.log(clipped) / F.lit(LOG_GAMMA)).cast("int")


def build_profile(
    spark: SparkSession,
    paths: str | Path | Sequence[str | Path],
    *,
    skip_bad: bool = False,
    cache: bool = False,
) -> Profile:
    """Build the perf profile of a dataset with Spark (``Profile.write`` saves it).

    Args:
        spark: The session (``tracekit.spark.local_session()`` or a cluster's).
        paths: Local files, folders or globs, or URIs (see :func:`read_traces`).
        skip_bad: Leave out bad files instead of failing.
        cache: Read the files once into Spark's cache (see :func:`read_traces`).

    Raises:
        InputError: Unreadable input.
        EmptyDataError: No tick in the data.
    """
    return profile_traces(read_traces(spark, paths, skip_bad=skip_bad, cache=cache))


@object_read_errors()
def profile_traces(traces: SparkTraces) -> Profile:
    """:func:`build_profile` for traces already read.

    Raises:
        InputError: An ``s3://`` object cannot be read (see
            :func:`tracekit.spark.read_errors.object_read_errors`).
        EmptyDataError: No tick in the data.
    """
    from pyspark.sql import functions as F

    frame = traces.frame
    spark = frame.sparkSession
    ticks = frame.filter(F.col("kind") == schema.KIND_TICK)
    summary = ticks.groupBy("run_id").agg(F.max("tick_id").alias("last_tick")).collect()
    sizes = {str(row["run_id"]): block_ticks(int(row["last_tick"])) for row in summary}
    if not sizes:
        raise EmptyDataError(f"{traces.source}: no tick in the data; nothing to profile")
    size_frame = F.broadcast(
        spark.createDataFrame(sorted(sizes.items()), "run_id string, block_ticks long")
    )

    def with_block(rows: Any) -> Any:
        return rows.join(size_frame, on="run_id").withColumn(
            "block", F.expr("(tick_id - 1) div block_ticks")
        )

    block_rows = (
        with_block(ticks)
        .groupBy("run_id", "block")
        .agg(
            F.count(F.lit(1)).alias("ticks"),
            F.coalesce(F.sum(F.col("deadline_missed").cast("long")), F.lit(0)).alias("misses"),
            F.sum(F.coalesce(F.col("request_count").cast("long"), F.lit(0))).alias("requests"),
        )
        .collect()
    )
    bucket_rows = (
        with_block(stage_rows(frame))
        .groupBy("run_id", "block", "stage", bucket_column(F.col("duration_ns")).alias("bucket"))
        .agg(F.count(F.lit(1)).alias("count"))
        .collect()
    )
    guard_rows = (
        frame.filter(F.col("kind") == schema.KIND_GUARD)
        .groupBy("run_id", "name")
        .agg(F.count(F.lit(1)).alias("count"))
        .collect()
    )
    request_key = F.concat(F.coalesce(F.col("verb"), F.lit("")), F.lit(" "), F.col("name"))
    request_rows = (
        frame.filter(
            (F.col("kind") == schema.KIND_REQUEST) & (F.col("detail") == schema.DETAIL_SAMPLED)
        )
        .groupBy(
            "run_id", request_key.alias("key"), bucket_column(F.col("duration_ns")).alias("bucket")
        )
        .agg(F.count(F.lit(1)).alias("count"))
        .collect()
    )
    deadline_ns = ticks.agg(F.percentile("deadline_ns", 0.5).alias("median")).collect()[0][0]

    runs: dict[str, RunProfile] = {}
    blocks: dict[tuple[str, int], Block] = {}
    for row in sorted(block_rows, key=lambda r: (str(r["run_id"]), int(r["block"]))):
        run_id = str(row["run_id"])
        run = runs.setdefault(run_id, RunProfile(run_id, sizes[run_id], [], {}, {}))
        block = Block(int(row["ticks"]), int(row["misses"]), int(row["requests"]), {})
        run.blocks.append(block)
        blocks[(run_id, int(row["block"]))] = block
    for row in sorted(bucket_rows, key=lambda r: (str(r["stage"]), int(r["bucket"]))):
        owner = blocks.get((str(row["run_id"]), int(row["block"])))
        if owner is not None:
            owner.stages.setdefault(str(row["stage"]), {})[int(row["bucket"])] = int(row["count"])
    for row in sorted(guard_rows, key=lambda r: str(r["name"])):
        if str(row["run_id"]) in runs:
            runs[str(row["run_id"])].guard_trips[str(row["name"])] = int(row["count"])
    for row in sorted(request_rows, key=lambda r: (str(r["key"]), int(r["bucket"]))):
        if str(row["run_id"]) in runs:
            histogram = runs[str(row["run_id"])].requests.setdefault(str(row["key"]), {})
            histogram[int(row["bucket"])] = int(row["count"])

    # The exact figures analyze reports, so compare's point estimates are analyze's.
    exact = {
        str(row["stage"]): {
            label: row[f"{label}_ms"] for label, _ in PERCENTILES if row[f"{label}_ms"] is not None
        }
        for row in stage_table(frame).iter_rows(named=True)
    }
    median = None if deadline_ns is None else float(deadline_ns) / NS_PER_MS
    return Profile([runs[run_id] for run_id in sorted(runs)], traces.source, median, exact)
