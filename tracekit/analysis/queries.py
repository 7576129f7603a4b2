"""The queries behind analyze, written once: pure functions of polars frames.

Everything here takes a frame of golden-trace rows (schema v1, see
``docs/schema.md``) and returns a frame; nothing reads files or knows about
selections. :mod:`tracekit.analysis.traceset` composes them, and the perf gate's
profile (:mod:`tracekit.decisions.profile`), the plots and the benchmark call the
same functions, so "the stage rows" mean one thing everywhere.

Self time (exclusive of child spans): a span's children are the spans of the same
tick and the same symbol (both without a symbol counts as the same) whose interval
lies inside its own; only stages have children (a request is a leaf). A span's
self time is its duration less the length of the union of its children's
intervals, so children running concurrently are not subtracted twice. A request
with exactly a stage's interval is its child; of two stages with the same
interval neither is the other's. :func:`covered_ns` computes it in one sorted pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import polars as pl

from tracekit.stats.intervals import PERCENTILES, QUANTILE_METHOD
from tracekit.store import schema

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

NS_PER_MS: Final = 1_000_000.0
WEIGHT: Final = "_weight"
"""Column of ``1 / sample_rate`` on every row when files' rates differ."""
SELF: Final = "self_ns"
"""Column of a span's self time in ns (null for tick rows)."""
LANE: Final = ("run_id", "tick_id", "symbol")
"""A span's children share these columns with it."""
COVERED: Final = "_covered"


def is_sampled(kind: str) -> pl.Expr:
    """Rows of ``kind`` from the unbiased sample (``detail = 'sampled'``)."""
    return (pl.col("kind") == kind) & (pl.col("detail") == schema.DETAIL_SAMPLED)


def stage_rows(frame: pl.LazyFrame, *columns: str | pl.Expr) -> pl.LazyFrame:
    """The rows of the stage table: sampled stage rows, and every tick row as
    ``tick_total``. Each has ``stage`` and the given ``columns`` (names or
    expressions evaluated on both kinds of row)."""
    detail = frame.filter(is_sampled(schema.KIND_STAGE)).select(
        pl.col("name").alias("stage"), *columns
    )
    ticks = frame.filter(pl.col("kind") == schema.KIND_TICK).select(
        pl.lit(schema.TICK_TOTAL).alias("stage"), *columns
    )
    return pl.concat([detail, ticks])


def sampled_spans(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Sampled stage and request rows: the spans whose self time the stage table needs."""
    return frame.filter(
        pl.col("kind").is_in([schema.KIND_STAGE, schema.KIND_REQUEST])
        & (pl.col("detail") == schema.DETAIL_SAMPLED)
    )


# -- self time -------------------------------------------------------------------------


def covered_ns(spans: pl.DataFrame) -> npt.NDArray[np.int64]:
    """Per row of ``spans``, the ns of its interval covered by its children.

    ``spans`` holds stage and request rows (``run_id, tick_id, symbol, kind,
    start_unix_ns, duration_ns``), every span of a lane present. One sort by lane
    and start (ends descending, stages before requests at the same interval), then
    a sweep: each stage looks at the rows after it in its lane until one starts
    past its end, adding the part of each child beyond the furthest end seen so
    far. The sweep takes as many steps as the most spans starting inside one
    stage, and each step only touches the stages still looking.
    """
    import numpy as np

    height = spans.height
    covered = np.zeros(height, dtype=np.int64)
    if height == 0:
        return covered
    columns = spans.select(
        pl.col("run_id").cast(pl.Categorical).to_physical().cast(pl.Int64).alias("_run"),
        pl.col("tick_id").alias("_tick"),
        pl.col("symbol").cast(pl.Categorical).to_physical().cast(pl.Int64).fill_null(-1),
        pl.col("start_unix_ns"),
        (pl.col("start_unix_ns") + pl.col("duration_ns")).alias("_end"),
        (pl.col("kind") == schema.KIND_REQUEST).alias("_request"),
    )
    run, tick, symbol, start, end, request = (series.to_numpy() for series in columns)
    lanes = _lane_keys(run, tick, symbol)
    order = _sweep_order(lanes, start, end, request)
    lanes, start, end, request = lanes[order], start[order], end[order], request[order]
    parent = np.flatnonzero(~request)
    reach = np.full(parent.size, np.iinfo(np.int64).min, dtype=np.int64)
    total = np.zeros(parent.size, dtype=np.int64)
    slot = np.arange(parent.size)
    step = 1
    while slot.size:
        child = parent[slot] + step
        looking = child < height
        slot, child = slot[looking], child[looking]
        owner = parent[slot]
        looking = (lanes[child] == lanes[owner]) & (start[child] <= end[owner])
        slot, child, owner = slot[looking], child[looking], owner[looking]
        inside = (end[child] <= end[owner]) & (
            (start[child] > start[owner]) | (end[child] < end[owner]) | request[child]
        )
        gain = end[child] - np.maximum(start[child], reach[slot])
        total[slot] += np.where(inside, np.maximum(gain, 0), 0)
        reach[slot] = np.where(inside, np.maximum(reach[slot], end[child]), reach[slot])
        step += 1
    covered[order[parent]] = total
    return covered


def _lane_keys(
    run: npt.NDArray[np.int64], tick: npt.NDArray[np.int64], symbol: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """One integer per row, equal for rows of the same (run, tick, symbol) and ordered
    as those three: ``run``, ``tick`` and ``symbol`` mixed into one int64 when their
    ranges fit (they always do for real traces), else a dense rank."""
    import numpy as np

    spans = [int(v.max()) - int(v.min()) + 1 for v in (run, tick, symbol)]
    if spans[0] * spans[1] * spans[2] < 2**62:
        key = (run - run.min()) * spans[1] + (tick - tick.min())
        return key * spans[2] + (symbol - symbol.min())  # type: ignore[no-any-return]
    order = np.lexsort((symbol, tick, run))
    same = np.ones(run.size, dtype=bool)  # as the row before, in that order
    same[0] = False
    for column in (run, tick, symbol):
        ordered = column[order]
        same[1:] &= ordered[1:] == ordered[:-1]
    dense = np.empty(run.size, dtype=np.int64)
    dense[order] = np.cumsum(~same)
    return dense


def _sweep_order(
    lanes: npt.NDArray[np.int64],
    start: npt.NDArray[np.int64],
    end: npt.NDArray[np.int64],
    request: npt.NDArray[np.bool_],
) -> npt.NDArray[np.intp]:
    """The order of :func:`covered_ns`' sweep: by lane and start, ends descending, stages
    before requests at the same interval.

    Two stable sorts (start, then lane) are nearly linear on traces, whose rows come
    in time order; only the few rows sharing a lane and a start with another are
    then sorted by the full key, in place among themselves.
    """
    import numpy as np

    order = np.argsort(start, kind="stable")
    order = order[np.argsort(lanes[order], kind="stable")]
    ordered_lanes, ordered_start = lanes[order], start[order]
    tie = (ordered_lanes[1:] == ordered_lanes[:-1]) & (ordered_start[1:] == ordered_start[:-1])
    if tie.any():
        tied = np.zeros(order.size, dtype=bool)
        tied[1:] |= tie
        tied[:-1] |= tie
        rows = order[tied]
        order[tied] = rows[np.lexsort((request[rows], -end[rows], start[rows], lanes[rows]))]
    return order


def with_self_time(spans: pl.DataFrame) -> pl.DataFrame:
    """``spans`` (see :func:`covered_ns`) with ``self_ns``: duration less covered."""
    covered = pl.Series(COVERED, covered_ns(spans))
    return spans.with_columns((pl.col("duration_ns") - covered).alias(SELF))


# -- latency figures -------------------------------------------------------------------


def latency_aggregates(column: str = "duration_ns", prefix: str = "") -> list[pl.Expr]:
    """n, p50/p95/p99, max and mean in ms of ``column`` (only the percentiles and the
    mean with a ``prefix``)."""
    duration = pl.col(column)
    figures = [
        *(
            (duration.quantile(q, interpolation=QUANTILE_METHOD) / NS_PER_MS).alias(
                f"{prefix}{label}_ms"
            )
            for label, q in PERCENTILES
        ),
        (duration.mean() / NS_PER_MS).alias(f"{prefix}mean_ms"),
    ]
    if prefix:
        return figures
    return [
        pl.len().alias("n"),
        *figures[:-1],
        (duration.max() / NS_PER_MS).alias("max_ms"),
        figures[-1],
    ]


def weighted_latency(column: str = "duration_ns", prefix: str = "") -> list[pl.Expr]:
    """The figures of :func:`latency_aggregates` with each row weighted by ``_weight``.

    A weighted percentile is the linear-interpolation percentile of the sample in
    which each row is repeated ``weight`` times: with total weight W, the position
    ``h = q (W - 1)`` of the sorted repeated sample, between the values at
    ``floor(h)`` and ``ceil(h)``. With whole weights (rates 0.5 and 0.1 give 2 and
    10) this is exactly DuckDB's ``quantile_cont`` over the repeated rows; the mean
    is the weighted mean. ``n`` stays the number of rows.
    """
    value = pl.col(column).drop_nulls()
    weight = pl.col(WEIGHT).filter(pl.col(column).is_not_null())
    ordered = value.sort()
    cumulative = weight.sort_by(value).cum_sum()
    total = weight.sum()

    def at(position: pl.Expr) -> pl.Expr:
        # The value at 0-based position m of the repeated sample: the first row whose
        # cumulative weight exceeds m.
        return ordered.filter(cumulative > position).first()

    figures = []
    for label, q in PERCENTILES:
        h = q * (total - 1)
        low, high = at(h.floor()), at(h.ceil())
        estimate = low + (h - h.floor()) * (high - low)
        figures.append((estimate / NS_PER_MS).alias(f"{prefix}{label}_ms"))
    mean = ((value * weight).sum() / total / NS_PER_MS).alias(f"{prefix}mean_ms")
    if prefix:
        return [*figures, mean]
    return [pl.len().alias("n"), *figures, (value.max() / NS_PER_MS).alias("max_ms"), mean]


def self_time_figures(rows: pl.LazyFrame, keys: Sequence[str], *, weighted: bool) -> pl.LazyFrame:
    """``self_p50_ms`` to ``self_mean_ms`` per group of stage rows with ``self_ns``."""
    figures = weighted_latency if weighted else latency_aggregates
    return rows.group_by(list(keys)).agg(*figures(SELF, "self_"))


def grouped_latency(
    rows: pl.LazyFrame,
    keys: Sequence[str],
    *extra: pl.Expr,
    weighted: bool = False,
    text_keys: Sequence[str] | None = None,
) -> pl.LazyFrame:
    """Latency aggregates per group, with string keys grouped as Categorical.

    polars' grouped ``quantile`` holds every row of its input with its keys; as
    Categorical a key costs 4 bytes a row instead of a 16-byte string view, which
    halves the peak memory of analyze (``docs/benchmarks.md``). The keys are
    strings again in the result.
    """
    text = list(text_keys) if text_keys is not None else list(keys)
    aggregates = weighted_latency() if weighted else latency_aggregates()
    return (
        rows.with_columns(pl.col(key).cast(pl.Categorical) for key in text)
        .group_by(list(keys))
        .agg(*aggregates, *extra)
        .with_columns(pl.col(key).cast(pl.String) for key in text)
    )
