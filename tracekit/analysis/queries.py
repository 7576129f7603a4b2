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

A tick written with ``record_parents`` says its nesting itself: every span has a
``span_id`` and the ``parent_span_id`` of the span it ran in. For such a tick a
span's children are exactly the spans naming it as their parent, whatever their
symbol or kind (:func:`parent_covered_ns`); the intervals decide only for ticks
without the ids (older files, or a tracer without the option).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import polars as pl

from tracekit.stats.intervals import PERCENTILES
from tracekit.store import schema

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

NS_PER_MS: Final = 1_000_000.0
WEIGHT: Final = "_weight"
"""Column of ``1 / sample_rate`` on every row when files' rates differ."""
SELF: Final = "self_ns"
"""Column of a span's self time in ns (null for tick rows)."""
WINDOW_COLUMN: Final = "window_start"
"""Column of a row's wall-clock window (``every``): its start, a UTC datetime."""
LANE: Final = ("run_id", "tick_id", "symbol")
"""A span's children share these columns with it."""
COVERED: Final = "_covered"
NESTING: Final = schema.NESTING_COLUMNS
"""``span_id`` and ``parent_span_id``: a span's children name it (``record_parents``)."""


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
    name = frame.collect_schema()["name"]  # String, or Categorical as analyze reads it
    ticks = frame.filter(pl.col("kind") == schema.KIND_TICK).select(
        pl.lit(schema.TICK_TOTAL).cast(name).alias("stage"), *columns
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


def nesting_columns(frame: pl.LazyFrame | pl.DataFrame) -> list[str]:
    """The columns of :data:`NESTING` that ``frame`` has (none in older files)."""
    names = frame.collect_schema().names()
    return [column for column in NESTING if column in names]


def parent_covered_ns(spans: pl.DataFrame) -> npt.NDArray[np.int64]:
    """Per row of ``spans``, the ns of its interval covered by its direct children:
    the rows of the same run and tick whose ``parent_span_id`` is its ``span_id``.

    ``spans`` holds the columns of :func:`covered_ns` and :data:`NESTING`. The
    length of the union of the children's intervals, each clipped to the parent's
    own (a task may outlive the span it was created in), so children running
    concurrently are not counted twice. A child whose parent row is absent counts
    for nothing. Each child finds its parent by a binary search of the sorted
    (tick, span id) keys; the children are sorted by parent and start and swept
    with one running maximum of their ends: each parent's children are placed,
    relative to the parent's start, in a range of their own above the previous
    parent's, so the maximum never carries an end from one parent into the next.
    """
    import numpy as np

    height = spans.height
    covered = np.zeros(height, dtype=np.int64)
    if height == 0:
        return covered
    columns = spans.select(
        pl.col("run_id").cast(pl.Categorical).to_physical().alias("_run"),
        pl.col("tick_id").alias("_tick"),
        pl.col(schema.SPAN_ID).cast(pl.Int64).alias("_id"),
        pl.col(schema.PARENT_SPAN_ID).cast(pl.Int64).alias("_parent"),
        pl.col("start_unix_ns").alias("_s"),
        (pl.col("start_unix_ns") + pl.col("duration_ns")).alias("_e"),
    )
    timed = columns["_e"].is_not_null().to_numpy()
    has_id = columns["_id"].is_not_null().to_numpy() & timed
    is_child = columns["_parent"].is_not_null().to_numpy() & timed
    if not (has_id.any() and is_child.any()):
        return covered
    start = columns["_s"].fill_null(0).to_numpy()
    end = columns["_e"].fill_null(0).to_numpy()
    # One number per (run, tick), so that (tick, span id) is one int64 key: ids are
    # int32, so a tick's keys never reach the next tick's.
    ticks = columns.select(
        pl.struct("_run", "_tick").rank("dense").cast(pl.Int64) * 2**32
    ).to_series()
    base = ticks.to_numpy()
    owners = np.flatnonzero(has_id)
    keys = base[owners] + columns["_id"].fill_null(0).to_numpy()[owners]
    by_key = np.argsort(keys, kind="stable")
    keys = keys[by_key]
    child = np.flatnonzero(is_child)
    wanted = base[child] + columns["_parent"].fill_null(0).to_numpy()[child]
    found = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
    matched = keys[found] == wanted
    child = child[matched]
    parent = owners[by_key[found[matched]]]
    parent_start, parent_end = start[parent], end[parent]
    child_start = np.maximum(start[child], parent_start) - parent_start
    child_end = np.minimum(end[child], parent_end) - parent_start
    inside = child_end > child_start
    parent, child_start, child_end = parent[inside], child_start[inside], child_end[inside]
    if parent.size == 0:
        return covered
    order = np.lexsort((child_start, parent))
    parent, child_start, child_end = parent[order], child_start[order], child_end[order]
    first = np.flatnonzero(np.r_[True, parent[1:] != parent[:-1]])
    width = end[parent[first]] - start[parent[first]] + 1
    if float(width.astype(np.float64).sum()) >= 2.0**62:  # absurd durations: no room
        for low, high in zip(first, np.r_[first[1:], parent.size], strict=True):
            covered[parent[low]] = _union_ns(child_start[low:high], child_end[low:high])
        return covered
    shift = np.repeat(np.cumsum(width) - width, np.diff(np.r_[first, parent.size]))
    child_start += shift
    child_end += shift
    reach = np.r_[np.iinfo(np.int64).min, np.maximum.accumulate(child_end)[:-1]]
    gain = np.maximum(child_end - np.maximum(child_start, reach), 0)
    covered[parent[first]] = np.add.reduceat(gain, first)
    return covered


def _union_ns(starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]) -> int:
    """The length of the union of intervals sorted by start."""
    total, reach = 0, None
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        low = start if reach is None else max(start, reach)
        total += max(end - low, 0)
        reach = end if reach is None else max(reach, end)
    return total


def self_covered_ns(spans: pl.DataFrame) -> npt.NDArray[np.int64]:
    """Per row of ``spans``, the ns its children cover: by parent ids
    (:func:`parent_covered_ns`) in the ticks whose every span has one, from the
    intervals (:func:`covered_ns`) in the others."""
    if len(nesting_columns(spans)) < len(NESTING) or spans[schema.SPAN_ID].null_count() == len(
        spans
    ):
        return covered_ns(spans)
    import numpy as np

    if spans[schema.SPAN_ID].null_count() == 0:
        return parent_covered_ns(spans)
    recorded = (
        spans.select(pl.col(schema.SPAN_ID).is_not_null().all().over(["run_id", "tick_id"]))
        .to_series()
        .to_numpy()
    )
    covered = np.zeros(spans.height, dtype=np.int64)
    covered[recorded] = parent_covered_ns(spans.filter(pl.Series(recorded)))
    covered[~recorded] = covered_ns(spans.filter(pl.Series(~recorded)))
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
    """``spans`` (see :func:`covered_ns`, and :data:`NESTING` if present) with
    ``self_ns``: duration less what its children cover (:func:`self_covered_ns`)."""
    covered = pl.Series(COVERED, self_covered_ns(spans))
    return spans.with_columns((pl.col("duration_ns") - covered).alias(SELF))


# -- latency figures -------------------------------------------------------------------


def weighted_latency(column: str = "duration_ns", prefix: str = "") -> list[pl.Expr]:
    """n, p50/p95/p99, max and mean in ms of ``column`` with each row weighted by
    ``_weight`` (only the percentiles and the mean with a ``prefix``).

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
