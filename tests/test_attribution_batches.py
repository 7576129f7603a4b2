"""The attribution table made batch by batch equals the one made from every span.

analyze keeps only :func:`tick_costs`' rows of each batch of whole ticks and counts
them at the end; these tests check that against a plain-Python reading of the rule
(docs/analysis.md) and against :func:`attribution_from_spans` on every span at once,
for any cut of the ticks into batches.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracekit.analysis.attribution import attribution_from_spans, attribution_table, tick_costs
from tracekit.store import schema

COMPONENTS = [
    (schema.KIND_STAGE, "fetch_md"),
    (schema.KIND_STAGE, "spread"),
    (schema.KIND_REQUEST, "place_order"),
    (schema.KIND_REQUEST, "orderbook"),
]
SPAN_COLUMNS = {
    "run_id": pl.String,
    "tick_id": pl.Int64,
    "kind": pl.String,
    "name": pl.String,
    "symbol": pl.String,
    "start_unix_ns": pl.Int64,
    "duration_ns": pl.Int64,
}


@st.composite
def missed_ticks(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Spans of a few missed ticks: per lane (run, tick, symbol) the spans follow each
    other without overlap, so each span's self time is its duration. Durations come
    from a small set, so ties between components are common."""
    rows: list[tuple[Any, ...]] = []
    ticks = draw(st.integers(1, 12))
    for tick in range(ticks):
        run = draw(st.sampled_from(["a", "b"]))
        for symbol in draw(
            st.lists(st.sampled_from(["BTC", "ETH", None]), min_size=1, max_size=3, unique=True)
        ):
            start = 0
            for kind, name in draw(st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=6)):
                duration = draw(st.sampled_from([1, 2, 3, 5]))
                rows.append((run, tick, kind, name, symbol, start, duration))
                start += duration + draw(st.integers(0, 2))
    return rows


def frame_of(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SPAN_COLUMNS, orient="row")


def by_rule(rows: list[tuple[Any, ...]]) -> dict[str, tuple[int, int, float]]:
    """Per component: ticks dominated, missed ticks present, mean cost (the rule, in
    plain Python; self time equals duration here)."""
    per_symbol: dict[tuple[Any, ...], int] = defaultdict(int)
    for run, tick, kind, name, symbol, _, duration in rows:
        component = f"request:{name}" if kind == schema.KIND_REQUEST else name
        per_symbol[(run, tick, component, symbol)] += duration
    cost: dict[tuple[Any, ...], dict[str, int]] = defaultdict(dict)
    for (run, tick, component, _), total in per_symbol.items():
        costs = cost[(run, tick)]
        costs[component] = max(costs.get(component, 0), total)
    dominated: dict[str, int] = defaultdict(int)
    present: dict[str, list[int]] = defaultdict(list)
    for costs in cost.values():
        winner = min(costs, key=lambda component: (-costs[component], component))
        dominated[winner] += 1
        for component, value in costs.items():
            present[component].append(value)
    return {
        component: (dominated[component], len(values), sum(values) / len(values))
        for component, values in present.items()
    }


@settings(max_examples=60, deadline=None)
@given(missed_ticks())
def test_the_table_follows_the_rule(rows: list[tuple[Any, ...]]) -> None:
    table = attribution_from_spans(frame_of(rows))
    expected = by_rule(rows)
    assert sorted(table["component"].to_list()) == sorted(expected)
    for component, dominated, present, mean_ms in table.select(
        "component", "ticks_dominated", "missed_ticks_present", "mean_ms"
    ).iter_rows():
        want = expected[component]
        assert (dominated, present) == want[:2]
        assert mean_ms == pytest.approx(want[2] / 1e6, rel=1e-12)
    assert table["share"].sum() == pytest.approx(1.0)
    # Most dominant first, ties in alphabetical order.
    order = [(-row[1], row[0]) for row in table.select("component", "ticks_dominated").rows()]
    assert order == sorted(order)


@settings(max_examples=60, deadline=None)
@given(missed_ticks(), st.data())
def test_any_cut_of_the_ticks_into_batches_gives_the_same_table(
    rows: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    whole = attribution_from_spans(frame_of(rows), by=["run_id"])
    ticks = sorted({(row[0], row[1]) for row in rows})
    batch_of = {tick: data.draw(st.integers(0, 3)) for tick in ticks}
    batches = defaultdict(list)
    for row in rows:
        batches[batch_of[(row[0], row[1])]].append(row)
    # Categorical strings, as analyze's batches hold them.
    costs = [
        tick_costs(frame_of(batch).with_columns(pl.col(pl.String).cast(pl.Categorical)))
        for batch in batches.values()
    ]
    merged = attribution_table(pl.concat(costs), ["run_id"])
    assert merged.equals(whole)


def test_nested_spans_cost_their_self_time() -> None:
    # A stage of 10 ns around a request of 8 ns: the request dominates (self 8 > 2).
    rows = [
        ("a", 1, schema.KIND_STAGE, "spread", "BTC", 0, 10),
        ("a", 1, schema.KIND_REQUEST, "place_order", "BTC", 1, 8),
    ]
    costs = tick_costs(frame_of(rows))
    assert costs.sort("component").select(
        "component", "duration_ns", "self_ns", "_dominant"
    ).rows() == [
        ("request:place_order", 8, 8, True),
        ("spread", 10, 2, False),
    ]
