"""record_parents: span ids and parents from a real asyncio program, and the exact
self time analysis computes from them (docs/analysis.md, "Self time")."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import MakeTracer, golden_files, read_rows

import tracekit
from tracekit import TraceConfig, Tracer, VirtualClock
from tracekit.analysis import queries
from tracekit.errors import ConfigError
from tracekit.store import schema
from tracekit.store.check import check_file
from tracekit.store.compact import compact
from tracekit.trace.records import FinishedTick, SpanRecord
from tracekit.trace.tracer import NULL_SPAN

MS = 1_000_000
TICKS = 3
TICK_MS = 27
SYMBOLS = ("BTC", "ETH")
NESTING = ["span_id", "parent_span_id"]

# One tick of the program below, as the golden trace holds it: spans in the order
# they end. (kind, name, symbol, span_id, parent_span_id, start ms, duration ms)
EXPECTED_SPANS = [
    ("request", "book", "BTC", 2, 1, 1, 2),  # gather: two tasks inside fetch_md
    ("request", "book", "ETH", 3, 1, 1, 5),
    ("stage", "fetch_md", None, 1, None, 0, 6),
    ("stage", "quote", "BTC", 5, 4, 7, 2),  # nested stages of one symbol
    ("stage", "spread", "BTC", 4, None, 6, 3),
    ("stage", "quote", "ETH", 7, 6, 10, 2),
    ("stage", "spread", "ETH", 6, None, 9, 3),
    ("stage", "guards", None, 8, None, 12, 1),  # a decorated function
    ("request", "cancel", "BTC", 11, 9, 15, 2),  # TaskGroup: siblings, not nested
    ("stage", "leg", "BTC", 10, 9, 14, 4),
    ("stage", "rebalance", None, 9, None, 13, 5),
    ("request", "place_order", "BTC", 13, 12, 19, 3),  # inside a stage of no symbol
    ("stage", "price", "BTC", 14, 12, 22, 2),  # asyncio.to_thread
    ("request", "hedge", "ETH", 15, 12, 24, 1),  # a pool thread through tracer.bind
    ("stage", "emit", None, 12, None, 18, 7),
    ("request", "position", None, 17, 16, 26, 1),  # async with, in a decorated coroutine
    ("stage", "settle", None, 16, None, 25, 2),
]

# Self time in ms, worked out by hand from the timeline above.
EXACT_SELF = {
    "fetch_md": 1,  # 6 less the union of [1, 3] and [1, 6]
    "spread": 1,
    "quote": 2,
    "guards": 1,
    "rebalance": 1,  # 5 less the union of leg [14, 18] and cancel [15, 17]
    "leg": 4,  # cancel ran beside it in another task: not its child
    "emit": 1,  # 7 less place_order, price and hedge, of other symbols
    "price": 2,
    "settle": 1,
}
# The same spans with nesting inferred from intervals within (tick, symbol) lanes.
INFERRED_SELF = {**EXACT_SELF, "fetch_md": 6, "rebalance": 5, "leg": 2, "emit": 7}


def run_program(tracer: Tracer, clock: VirtualClock) -> None:
    """A market-making tick in asyncio: per-symbol tasks, threads, decorators."""

    def work(ms: int) -> None:
        clock.advance(ms * MS)

    @tracer.stage("guards")
    def check_guards() -> None:
        work(1)

    @tracer.stage("settle")
    async def settle() -> None:
        work(1)
        async with tracer.request("GET", "position"):
            await asyncio.sleep(0)
            work(1)

    async def fetch(symbol: str, ms: int) -> None:
        with tracer.request("GET", "book", symbol):
            await asyncio.sleep(0)  # both requests are open before either ends
            work(ms)

    async def leg(started: asyncio.Event, cancelled: asyncio.Event) -> None:
        with tracer.stage("leg", "BTC"):
            work(1)
            started.set()
            await cancelled.wait()
            work(1)

    async def cancel(started: asyncio.Event, cancelled: asyncio.Event) -> None:
        await started.wait()
        with tracer.request("DELETE", "cancel", "BTC"):
            work(2)
        cancelled.set()

    def price() -> None:
        with tracer.stage("price", "BTC"):
            work(2)

    def hedge() -> None:
        with tracer.request("POST", "hedge", "ETH"):
            work(1)

    async def tick(pool: ThreadPoolExecutor) -> None:
        with tracer.tick():
            with tracer.stage("fetch_md"):
                work(1)
                await asyncio.gather(fetch("BTC", 2), fetch("ETH", 3))
            for symbol in SYMBOLS:
                with tracer.stage("spread", symbol):
                    work(1)
                    with tracer.stage("quote", symbol):
                        work(2)
            check_guards()
            with tracer.stage("rebalance"):
                work(1)
                started, cancelled = asyncio.Event(), asyncio.Event()
                async with asyncio.TaskGroup() as group:
                    group.create_task(leg(started, cancelled))
                    group.create_task(cancel(started, cancelled))
            with tracer.stage("emit"):
                work(1)
                with tracer.request("POST", "place_order", "BTC"):
                    work(3)
                await asyncio.to_thread(price)
                pool.submit(tracer.bind(hedge)).result()
            await settle()

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            for _ in range(TICKS):
                await tick(pool)
                work(3)  # between ticks

    asyncio.run(main())


@pytest.fixture
def program(make_tracer: MakeTracer) -> Any:
    """Runs the program with or without record_parents; returns the dataset root."""

    def run(record_parents: bool, run_id: str = "test-run") -> None:
        clock = VirtualClock()
        tracer = make_tracer(
            clock=clock,
            run_id=run_id,
            sample_rate=1.0,
            deadline_ms=20.0,  # every tick (27 ms) misses: attribution sees each
            golden_trace_interval=2,
            record_parents=record_parents,
        )
        run_program(tracer, clock)
        tracer.close()
        assert tracer.stats().writer.write_errors == 0

    return run


def spans_of(rows: list[dict[str, Any]], tick_id: int) -> list[tuple[Any, ...]]:
    start = next(r["start_unix_ns"] for r in rows if r["tick_id"] == tick_id)
    return [
        (
            r["kind"],
            r["name"],
            r["symbol"],
            r["span_id"],
            r["parent_span_id"],
            (r["start_unix_ns"] - start) / MS,
            r["duration_ns"] / MS,
        )
        for r in rows
        if r["tick_id"] == tick_id and r["kind"] != "tick"
    ]


def self_means(root: Path) -> dict[str, float]:
    table = tracekit.load(root).stages()
    return {
        row["stage"]: row["self_mean_ms"]
        for row in table.iter_rows(named=True)
        if row["stage"] != schema.TICK_TOTAL
    }


def attribution(root: Path) -> dict[str, tuple[int, float]]:
    table = tracekit.load(root).attribution()
    return {
        row["component"]: (row["ticks_dominated"], row["self_mean_ms"])
        for row in table.iter_rows(named=True)
    }


def assert_self(found: dict[str, float], expected: dict[str, int]) -> None:
    assert found.keys() == expected.keys()
    for stage, ms in expected.items():
        assert found[stage] == pytest.approx(ms, abs=1e-9), stage


# -- the golden trace -------------------------------------------------------------------


def test_each_span_records_its_number_and_its_parent(program: Any, out_dir: Path) -> None:
    program(record_parents=True)
    rows = read_rows(out_dir)
    assert [r["tick_id"] for r in rows if r["kind"] == "tick"] == list(range(1, TICKS + 1))
    for tick_id in range(1, TICKS + 1):  # numbers start again at 1 in every tick
        assert spans_of(rows, tick_id) == EXPECTED_SPANS, tick_id
    ticks = [r for r in rows if r["kind"] == "tick"]
    assert {(r["span_id"], r["parent_span_id"]) for r in ticks} == {(None, None)}
    assert {r["duration_ns"] for r in ticks} == {TICK_MS * MS}
    names = pq.read_schema(golden_files(out_dir)[0]).names
    assert names[-2:] == NESTING  # added at the end: still schema v1


def test_without_the_option_the_columns_are_null(program: Any, out_dir: Path) -> None:
    program(record_parents=False)
    rows = read_rows(out_dir)
    assert {(r["span_id"], r["parent_span_id"]) for r in rows} == {(None, None)}
    # Everything else is what the option writes.
    without = [(k, n, s, st, d) for k, n, s, _i, _p, st, d in spans_of(rows, 2)]
    assert without == [(k, n, s, st, d) for k, n, s, _i, _p, st, d in EXPECTED_SPANS]


# -- analysis ---------------------------------------------------------------------------


def test_self_time_follows_the_recorded_parents(program: Any, out_dir: Path) -> None:
    program(record_parents=True)
    assert_self(self_means(out_dir), EXACT_SELF)
    found = attribution(out_dir)
    # The slowest symbol's book request (5 ms) dominates every tick, not emit.
    assert found["request:book"] == pytest.approx((TICKS, 5.0))
    assert found["emit"] == pytest.approx((0, 1.0))
    assert found["fetch_md"] == pytest.approx((0, 1.0))
    assert found["leg"] == pytest.approx((0, 4.0))
    assert found["rebalance"] == pytest.approx((0, 1.0))


def test_without_parents_analysis_infers_nesting_as_before(program: Any, out_dir: Path) -> None:
    program(record_parents=False)
    assert_self(self_means(out_dir), INFERRED_SELF)
    found = attribution(out_dir)
    assert found["emit"] == pytest.approx((TICKS, 7.0))
    assert found["leg"] == pytest.approx((0, 2.0))


def strip_added_columns(root: Path) -> None:
    """Rewrite every file as a tracekit from before the added columns wrote it."""
    for path in golden_files(root):
        table = pq.read_table(path)
        old = table.drop_columns([c.name for c in schema.ADDED_COLUMNS])
        pq.write_table(old.replace_schema_metadata(table.schema.metadata), path)


def test_old_files_without_the_columns_still_analyze(program: Any, out_dir: Path) -> None:
    program(record_parents=True)
    strip_added_columns(out_dir)
    assert pq.read_schema(golden_files(out_dir)[0]).names == list(schema.COLUMN_NAMES)
    assert_self(self_means(out_dir), INFERRED_SELF)
    assert attribution(out_dir)["emit"] == pytest.approx((TICKS, 7.0))


@pytest.mark.parametrize("old_first", [True, False])
def test_old_and_new_files_together(
    program: Any, out_dir: Path, tmp_path: Path, old_first: bool
) -> None:
    """Each tick gets the self time its own file allows, whichever file is read first."""
    program(record_parents=True, run_id="new-run")
    old_root = tmp_path / "old"
    shutil.move(out_dir, old_root)
    strip_added_columns(old_root)
    program(record_parents=True, run_id="new-run")
    # Same run, alternate windows: old files 1 and 3 beside new file 2 (or the reverse).
    new_files = golden_files(out_dir)
    for path in golden_files(old_root):
        number = int(path.stem.split("-")[1])
        if (number % 2 == 1) == old_first:
            shutil.copy(path, next(p for p in new_files if p.name == path.name))
    old_ticks = {1, 2} if old_first else {3}  # windows of 2 ticks
    traces = tracekit.load(out_dir)
    frame = traces.scan().filter(pl.col("kind") == "stage").collect()
    recorded = frame.filter(pl.col("span_id").is_not_null())["tick_id"].unique().to_list()
    assert sorted(recorded) == sorted(set(range(1, TICKS + 1)) - old_ticks)
    leg = {
        row["tick_id"]: row[queries.SELF] / MS
        for row in queries.with_self_time(
            traces.scan().filter(pl.col("kind").is_in(["stage", "request"])).collect()
        )
        .filter(pl.col("name") == "leg")
        .iter_rows(named=True)
    }
    assert leg == {t: (INFERRED_SELF if t in old_ticks else EXACT_SELF)["leg"] for t in leg}
    assert len(leg) == TICKS


def test_compact_keeps_the_parents(program: Any, out_dir: Path) -> None:
    program(record_parents=True)
    compact(out_dir)
    (merged,) = golden_files(out_dir)
    assert schema.COMPACTED_FILE.match(merged.name)
    assert pq.read_schema(merged).names[-2:] == NESTING
    assert spans_of(read_rows(out_dir), TICKS) == EXPECTED_SPANS
    assert_self(self_means(out_dir), EXACT_SELF)


def test_compact_of_old_and_new_windows_keeps_both(
    program: Any, out_dir: Path, tmp_path: Path
) -> None:
    program(record_parents=True)
    new_files = golden_files(out_dir)
    old_root = tmp_path / "old"
    shutil.copytree(out_dir, old_root)
    strip_added_columns(old_root)
    shutil.copy(golden_files(old_root)[0], new_files[0])  # window 1 from before
    compact(out_dir)
    rows = read_rows(out_dir)
    assert all(r["span_id"] is None for r in rows if r["tick_id"] <= 2)
    assert spans_of(rows, 3) == EXPECTED_SPANS
    check_file(str(golden_files(out_dir)[0]))


def test_chrome_export_reads_files_with_parents(program: Any, out_dir: Path) -> None:
    from tracekit.present.export.chrome import chrome_trace, nesting_violations

    program(record_parents=True)
    events = chrome_trace(tracekit.load(out_dir))["traceEvents"]
    assert nesting_violations(events) == []
    spans = {
        (event["name"], event["args"].get("symbol")): event["args"]
        for event in events
        if event.get("ph") == "X" and event["args"].get("tick_id") == 1
    }
    assert spans["POST place_order", "BTC"]["parent_span_id"] == 12
    assert spans["emit", None]["span_id"] == 12
    assert "parent_span_id" not in spans["emit", None]


# -- parent_covered_ns on its own -----------------------------------------------------


def spans_frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "run_id": pl.String,
            "tick_id": pl.Int64,
            "symbol": pl.String,
            "kind": pl.String,
            "start_unix_ns": pl.Int64,
            "duration_ns": pl.Int64,
            "span_id": pl.Int32,
            "parent_span_id": pl.Int32,
        },
        orient="row",
    )


def test_children_are_clipped_to_the_parent_and_joined_by_tick() -> None:
    frame = spans_frame(
        [
            ("r", 1, None, "stage", 0, 10, 1, None),
            ("r", 1, "A", "request", 2, 3, 2, 1),  # [2, 5]
            ("r", 1, "B", "request", 4, 4, 3, 1),  # [4, 8]: overlaps: union [2, 8]
            ("r", 1, "C", "stage", 9, 5, 4, 1),  # [9, 14]: outlives it: counts [9, 10]
            ("r", 1, "C", "request", 9, 1, 5, 4),  # a grandchild: not 1's child
            ("r", 2, None, "stage", 0, 10, 1, None),  # tick 2's span 1 has no child
            ("s", 1, None, "request", 0, 4, 1, None),  # a request may be a parent too
            ("s", 1, None, "stage", 1, 2, 2, 1),
            ("s", 1, None, "stage", 1, 1, 3, 9),  # its parent's row is missing
        ]
    )
    assert queries.parent_covered_ns(frame).tolist() == [7, 0, 0, 1, 0, 0, 2, 0, 0]
    assert queries.with_self_time(frame)[queries.SELF].to_list() == [3, 3, 4, 4, 1, 10, 2, 2, 1]


def brute_covered(rows: list[tuple[Any, ...]]) -> list[int]:
    """parent_covered_ns by definition: per row, the union of its children's clipped
    intervals, counted ns by ns."""
    covered = []
    for run, tick, _symbol, _kind, start, duration, span_id, _parent in rows:
        points: set[int] = set()
        for other in rows:
            if (other[0], other[1], other[7]) == (run, tick, span_id) and span_id is not None:
                low, high = max(other[4], start), min(other[4] + other[5], start + duration)
                points.update(range(low, high))
        covered.append(len(points))
    return covered


@pytest.mark.parametrize("seed", range(20))
def test_parent_covered_ns_is_the_union_of_the_children(seed: int) -> None:
    import random

    rng = random.Random(seed)
    rows: list[tuple[Any, ...]] = []
    for run in ("a", "b"):
        for tick in range(1, rng.randint(2, 5)):
            count = rng.randint(1, 12)
            for span_id in range(1, count + 1):
                parent = rng.choice([None, *range(1, count + 2)])  # count + 1: not present
                start, duration = rng.randint(0, 40), rng.randint(0, 25)
                symbol = rng.choice([None, "BTC"])
                rows.append((run, tick, symbol, "stage", start, duration, span_id, parent))
    rng.shuffle(rows)
    assert queries.parent_covered_ns(spans_frame(rows)).tolist() == brute_covered(rows)


def test_parent_covered_ns_with_durations_too_long_to_lay_side_by_side() -> None:
    huge = 2**61
    rows = [
        ("r", 1, None, "stage", 0, huge, 1, None),
        ("r", 1, None, "stage", 5, 10, 2, 1),
        ("r", 1, None, "stage", 8, 10, 3, 1),
        ("r", 2, None, "stage", 0, huge, 1, None),
        ("r", 2, None, "stage", huge - 4, 10, 2, 1),
        ("r", 3, None, "stage", 0, huge, 1, None),
    ]
    assert queries.parent_covered_ns(spans_frame(rows)).tolist() == [13, 0, 0, 4, 0, 0]


def test_ticks_with_and_without_ids_in_one_frame() -> None:
    frame = spans_frame(
        [
            ("r", 1, None, "stage", 0, 10, 1, None),
            ("r", 1, "A", "request", 2, 3, 2, 1),
            ("r", 2, None, "stage", 0, 10, None, None),  # inferred: other symbol
            ("r", 2, "A", "request", 2, 3, None, None),
            ("r", 3, None, "stage", 0, 10, None, None),  # inferred: same lane
            ("r", 3, None, "request", 2, 3, None, None),
        ]
    )
    assert queries.self_covered_ns(frame).tolist() == [3, 0, 0, 0, 3, 0]
    inferred = queries.covered_ns(frame.drop(NESTING))
    assert inferred.tolist() == [0, 0, 0, 0, 3, 0]
    assert queries.self_covered_ns(frame.drop(NESTING)).tolist() == inferred.tolist()


# -- the tracer's rules -----------------------------------------------------------------


def nested_rows(tracer: Tracer) -> list[tuple[Any, ...]]:
    tracer.close()
    root = tracer.output_folder
    assert root is not None
    return [
        (r["tick_id"], r["name"], r["span_id"], r["parent_span_id"])
        for r in read_rows(root.parent)
        if r["kind"] != "tick"
    ]


def test_a_raising_span_gives_its_place_back(make_tracer: MakeTracer) -> None:
    tracer = make_tracer(sample_rate=1.0, record_parents=True)
    with tracer.tick():
        with tracer.stage("outer"):
            with contextlib.suppress(ValueError), tracer.stage("fails"):
                raise ValueError
            with tracer.stage("after"):
                pass
        with tracer.stage("top"):
            pass
    assert nested_rows(tracer) == [
        (1, "fails", 2, 1),
        (1, "after", 3, 1),
        (1, "outer", 1, None),
        (1, "top", 4, None),
    ]


def test_a_dropped_parent_leaves_its_number_to_the_children(make_tracer: MakeTracer) -> None:
    tracer = make_tracer(sample_rate=1.0, record_parents=True, max_records_per_tick=2)
    with tracer.tick(), tracer.stage("parent"):  # ends third: over the cap, dropped
        with tracer.stage("a"):
            pass
        with tracer.stage("b"):
            pass
    assert nested_rows(tracer) == [(1, "a", 2, 1), (1, "b", 3, 1)]
    assert tracer.stats().records_dropped == 1


def test_a_tick_inside_a_span_starts_without_a_parent(make_tracer: MakeTracer) -> None:
    tracer = make_tracer(sample_rate=1.0, record_parents=True)

    def inner_tick() -> None:
        with tracer.tick(), tracer.stage("own"):
            pass

    with tracer.tick(), tracer.stage("outer"):
        inner_tick()  # the program's choice: a tick of its own, in this context
        with tracer.stage("child"):
            pass
    assert sorted(nested_rows(tracer)) == [
        (1, "child", 2, 1),
        (1, "outer", 1, None),
        (2, "own", 1, None),
    ]


def test_a_span_ended_in_another_context_never_raises(make_tracer: MakeTracer) -> None:
    tracer = make_tracer(sample_rate=1.0, record_parents=True)

    async def main() -> None:
        with tracer.tick():
            span = tracer.stage("moved")
            span.__enter__()

            async def end_elsewhere() -> None:
                span.__exit__(None, None, None)

            await asyncio.create_task(end_elsewhere())  # a copy of the context
            with tracer.stage("next"):
                pass

    asyncio.run(main())
    rows = nested_rows(tracer)
    assert (1, "moved", 1, None) in rows
    assert (1, "next", 2, 1) in rows  # the span never ended in this context


def test_unsampled_spans_take_no_number(make_tracer: MakeTracer) -> None:
    tracer = make_tracer(sample_rate=0.0, keep_missed_detail=False, record_parents=True)
    with tracer.tick(), tracer.stage("s") as span:
        assert span is NULL_SPAN
    assert nested_rows(tracer) == []


def test_the_default_tracer_keeps_its_own_span_classes(make_tracer: MakeTracer) -> None:
    from tracekit.trace import tracer as module

    plain = make_tracer(sample_rate=1.0)
    nested = make_tracer(sample_rate=1.0, record_parents=True, export_golden=False)
    with plain.tick() as tick:
        assert type(tick) is module._TickSpan
        assert type(plain.stage("s")).__name__ == "_StageSpan"
        assert type(plain.request("GET", "r")).__name__ == "_RequestSpan"
    with nested.tick() as tick:
        assert type(tick) is module._NestingTickSpan
        assert type(nested.stage("s")).__name__ == "_NestedStageSpan"
        assert type(nested.request("GET", "r")).__name__ == "_NestedRequestSpan"
        assert type(nested.stage("s", attributes={"a": 1})).__name__ == "_NestedAttributeSpan"


def test_window_table_writes_ids_in_slices() -> None:
    from tracekit.trace.sinks.golden import SLICE_ROWS, window_table

    count = 2 * SLICE_ROWS + 3
    spans: list[SpanRecord] = [
        ("stage", "s", None, None, None, k, 1, k + 1, None if k == 0 else 1) for k in range(count)
    ]
    tick = FinishedTick(1, 0, 10, 20, False, None, None, 0, 0, "sampled", spans, [("g", None, 3)])
    pauses: list[int] = []
    table = window_table("r", [tick], 0, {}, pause=lambda: pauses.append(1))
    assert table.schema.field("span_id").type == pa.int32()
    ids = table.select(NESTING).to_pylist()
    assert ids[0] == {"span_id": None, "parent_span_id": None}  # the tick's row
    assert ids[1:-1] == [
        {"span_id": k + 1, "parent_span_id": None if k == 0 else 1} for k in range(count)
    ]
    assert ids[-1] == {"span_id": None, "parent_span_id": None}  # the guard's row
    assert len(pauses) >= count // SLICE_ROWS


# -- configuration ----------------------------------------------------------------------


def test_record_parents_is_off_by_default_and_checked(tmp_path: Path) -> None:
    assert TraceConfig().record_parents is False
    assert TraceConfig.from_mapping({"record_parents": True}).record_parents is True
    for bad in ("true", 1, None, [True]):
        with pytest.raises(ConfigError, match=r"trace\.record_parents must be true or false"):
            TraceConfig.from_mapping({"record_parents": bad})
    with pytest.raises(ConfigError, match=r"did you mean trace\.record_parents\?"):
        TraceConfig.from_mapping({"record_parent": True})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"trace": {"record_parents": True}}))
    assert TraceConfig.from_yaml(path).record_parents is True
    path.write_text("trace:\n  record_parents: maybe\n")
    with pytest.raises(ConfigError, match="record_parents"):
        TraceConfig.from_yaml(path)


def test_the_option_is_stored_in_the_files(program: Any, out_dir: Path) -> None:
    import json

    program(record_parents=True)
    metadata = pq.read_schema(golden_files(out_dir)[0]).metadata
    config = json.loads(metadata[schema.META_CONFIG.encode()])
    assert config["record_parents"] is True


def test_an_added_column_of_another_type_is_refused(program: Any, out_dir: Path) -> None:
    from tracekit.errors import SchemaError

    program(record_parents=True)
    path = golden_files(out_dir)[0]
    table = pq.read_table(path)
    index = table.schema.get_field_index("span_id")
    wider = table.set_column(index, "span_id", table.column("span_id").cast(pa.int64()))
    pq.write_table(wider.replace_schema_metadata(table.schema.metadata), path)
    with pytest.raises(SchemaError, match="span_id is int64, not int32"):
        check_file(str(path))


def test_window_table_pads_ids_in_a_slice_that_mixes_records() -> None:
    """A slice whose first rows have no ids (ticks of a sink fed by hand, say) and
    later rows do: the rows before get nulls, the rows after keep theirs."""
    from tracekit.trace.sinks.golden import SLICE_ROWS, window_table

    def tick(tick_id: int, spans: list[SpanRecord]) -> FinishedTick:
        return FinishedTick(tick_id, 0, 10, 20, False, None, None, 0, 0, "sampled", spans, [])

    plain: list[SpanRecord] = [("stage", "p", None, None, None, 1, 1)] * 3
    nested: list[SpanRecord] = [
        ("stage", "n", None, None, None, 1, 1, k + 1, None) for k in range(SLICE_ROWS + 5)
    ]
    table = window_table("r", [tick(1, plain), tick(2, nested), tick(3, plain)], 0, {})
    got = [(row["name"], row["span_id"]) for row in table.to_pylist()]
    expected = [
        ("tick_total", None),
        *[("p", None)] * 3,
        ("tick_total", None),
        *[("n", k + 1) for k in range(SLICE_ROWS + 5)],
        ("tick_total", None),
        *[("p", None)] * 3,
    ]
    assert got == expected
