"""What the missed ticks spent their time on: the attribution table, in two steps.

:func:`tick_costs` turns the stage and request rows of some missed ticks into one
row per tick and component: the component's cost to the tick (its slowest symbol's
total, as symbols run concurrently), inclusive and by self time, and whether it is
the tick's dominant component. A tick's rows are all in one file (and in one part
of a large one), so analyze finds these rows batch by batch, inside its one pass,
and keeps only them: about 7 rows a missed tick instead of every span of it
(``docs/benchmarks.md``, analyze round 7). :func:`attribution_table` then counts
them per group. :func:`attribution_from_spans` does both at once (the Spark engine
uses it on the spans it collects).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from tracekit.analysis import queries
from tracekit.store import schema

WINDOW_COLUMN = queries.WINDOW_COLUMN
TICK_KEY = ("run_id", "tick_id")
_SELF = queries.SELF
_NS_PER_MS = queries.NS_PER_MS
_DOMINANT = "_dominant"


def tick_costs(spans: pl.DataFrame) -> pl.DataFrame:
    """One row per missed tick and component of ``spans``' ticks.

    Args:
        spans: ``run_id, tick_id, kind, name, symbol, start_unix_ns, duration_ns``
            (and the window column with ``every``; ``span_id`` and
            ``parent_span_id`` when read, for exact self time) of every stage and
            request row of whole missed ticks. String columns may be Categorical.

    Returns:
        ``run_id`` (String), ``tick_id``, the window column if given, ``component``
        (a stage, or ``request:<api>``; String), ``duration_ns`` and ``self_ns``
        (the component's cost to the tick) and ``_dominant`` (the component with
        the largest self cost; a tie goes to the alphabetically first).
    """
    window = [WINDOW_COLUMN] if WINDOW_COLUMN in spans.columns else []
    tick_key = [*TICK_KEY]
    name = pl.col("name").cast(pl.String)
    component = (
        pl.when(pl.col("kind").cast(pl.String) == schema.KIND_REQUEST)
        .then(pl.lit("request:") + name)
        .otherwise(name)
    )
    # Symbols run concurrently: a component costs the tick its slowest symbol's time.
    per_tick = (
        queries.with_self_time(spans)
        .lazy()
        .with_columns(component.alias("component"))
        .group_by([*tick_key, *window, "component", "symbol"])
        .agg(pl.col("duration_ns").sum(), pl.col(_SELF).sum())
        .group_by([*tick_key, *window, "component"])
        .agg(pl.col("duration_ns").max(), pl.col(_SELF).max())
    )
    ranked = per_tick.sort([*tick_key, _SELF, "component"], descending=[False, False, True, False])
    dominant = (pl.int_range(pl.len()) == 0).over(tick_key).alias(_DOMINANT)
    return (
        ranked.with_columns(dominant)
        .select(
            pl.col("run_id").cast(pl.String),
            "tick_id",
            *window,
            "component",
            "duration_ns",
            _SELF,
            _DOMINANT,
        )
        .collect()
    )


def attribution_table(costs: pl.DataFrame, keys: Sequence[str] = ()) -> pl.DataFrame:
    """The attribution table from :func:`tick_costs`' rows (of every missed tick).

    Args:
        costs: :func:`tick_costs`' rows, of any number of batches of ticks.
        keys: The group columns (``run_id`` and the window column; never
            ``symbol``, as misses are tick-wide).

    Returns:
        Per group and component: ``ticks_dominated``, ``missed_ticks_present``,
        ``self_mean_ms``, ``mean_ms`` and ``share`` (of the group's missed ticks),
        sorted by group, most dominant first.
    """
    keys = list(keys)
    return (
        costs.lazy()
        .group_by([*keys, "component"])
        .agg(
            pl.col(_DOMINANT).sum().cast(pl.UInt32).alias("ticks_dominated"),
            pl.len().alias("missed_ticks_present"),
            (pl.col(_SELF).mean() / _NS_PER_MS).alias("self_mean_ms"),
            (pl.col("duration_ns").mean() / _NS_PER_MS).alias("mean_ms"),
        )
        .with_columns(
            (
                pl.col("ticks_dominated")
                / pl.col("ticks_dominated").sum().over(keys or pl.lit(True))
            ).alias("share")
        )
        .sort(
            [*keys, "ticks_dominated", "component"],
            descending=[*[False] * len(keys), True, False],
        )
        .collect()
    )


def attribution_from_spans(spans: pl.DataFrame, by: Sequence[str] = ()) -> pl.DataFrame:
    """The attribution table of missed ticks from all their stage and request rows
    (see :func:`tick_costs`), grouped ``by`` ``run_id`` (``symbol`` is ignored:
    misses are tick-wide) and by the window column when ``spans`` has it."""
    window = [WINDOW_COLUMN] if WINDOW_COLUMN in spans.columns else []
    keys = [key for key in by if key != "symbol"] + window
    return attribution_table(tick_costs(spans), keys)
