"""The tracer: attribution across tasks and threads, errors, sampling, deadlines, limits."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracekit import TraceConfig, Tracer, VirtualClock
from tracekit.errors import ClockError, ConfigError, TracekitError
from tracekit.store import parquet
from tracekit.trace.sampling import Sampler
from tracekit.trace.sinks import golden

MS = 1_000_000


def rows_by_tick(rows: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["tick_id"]].append(row)
    return grouped


def sampled_tick_ids(rows: list[dict[str, Any]]) -> set[int]:
    return {row["tick_id"] for row in rows if row["kind"] == "tick" and row["detail"] == "sampled"}


# -- attribution: asyncio -----------------------------------------------------------


def test_asyncio_spans_of_concurrent_ticks_are_attributed_to_their_tick(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, helpers: Any
) -> None:
    tasks_per_tick = 120
    concurrent_ticks = 6
    tracer = make_tracer(clock=clock, sample_rate=1.0, deadline_ms=1e9)
    tick_of_label: dict[str, int] = {}

    async def symbol_task(label: str, index: int) -> None:
        symbol = f"{label}:{index}"
        with tracer.stage("fetch", symbol):
            await asyncio.sleep(0)
            clock.advance(1_000)
        await asyncio.sleep(0)
        with tracer.request("POST", "place_order", symbol):
            await asyncio.sleep(0)
            clock.advance(3_000)

    async def one_tick(label: str) -> None:
        with tracer.tick() as tick:
            tick_of_label[label] = tick.tick_id
            tracer.set_parallel_symbols(tasks_per_tick)
            await asyncio.sleep(0)
            await asyncio.gather(*(symbol_task(label, i) for i in range(tasks_per_tick)))
            with tracer.stage("decide"):
                await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(one_tick(f"T{n}") for n in range(concurrent_ticks)))

    asyncio.run(main())
    tracer.close()

    assert sorted(tick_of_label.values()) == list(range(1, concurrent_ticks + 1))
    rows = helpers.read_rows(out_dir)
    grouped = rows_by_tick(rows)
    assert set(grouped) == set(tick_of_label.values())
    for label, tick_id in tick_of_label.items():
        tick_rows = grouped[tick_id]
        kinds = Counter(row["kind"] for row in tick_rows)
        assert kinds == {"tick": 1, "stage": tasks_per_tick + 1, "request": tasks_per_tick}
        symbols = {row["symbol"] for row in tick_rows if row["kind"] in ("stage", "request")}
        assert symbols == {f"{label}:{i}" for i in range(tasks_per_tick)} | {None}
        (tick_row,) = (row for row in tick_rows if row["kind"] == "tick")
        assert tick_row["request_count"] == tasks_per_tick
        assert tick_row["parallel_symbols"] == tasks_per_tick
        for row in tick_rows:
            if row["kind"] == "stage" and row["name"] == "fetch":
                assert row["duration_ns"] >= 1_000
    stats = tracer.stats()
    assert stats.ticks == concurrent_ticks
    assert stats.orphan_calls == 0
    assert stats.records_dropped == 0


def test_span_ending_after_its_tick_ended_is_not_kept(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, helpers: Any
) -> None:
    tracer = make_tracer(clock=clock, sample_rate=1.0)

    async def main() -> None:
        late = asyncio.Event()

        async def straggler() -> None:
            with tracer.stage("late"):
                await late.wait()

        with tracer.tick():
            with tracer.stage("on_time"):
                pass
            task = asyncio.create_task(straggler())
            await asyncio.sleep(0)
        late.set()
        await task

    asyncio.run(main())
    tracer.close()
    names = {row["name"] for row in helpers.read_rows(out_dir)}
    assert "on_time" in names
    assert "late" not in names
    assert tracer.stats().spans_after_tick == 1  # its own counter, not the per-tick cap
    assert tracer.stats().records_dropped == 0


def test_stage_in_a_task_created_outside_any_tick_is_an_orphan(make_tracer: Any) -> None:
    tracer = make_tracer(sample_rate=1.0)

    async def main() -> None:
        ready = asyncio.Event()
        go = asyncio.Event()

        async def worker() -> None:
            ready.set()
            await go.wait()
            with tracer.stage("outside"):
                pass

        task = asyncio.create_task(worker())
        await ready.wait()
        with tracer.tick():
            go.set()
            await task  # the worker's context was copied before the tick began

    asyncio.run(main())
    assert tracer.stats().orphan_calls == 1


# -- attribution: threads -----------------------------------------------------------


def test_threads_running_their_own_ticks_attribute_spans_to_the_right_tick(
    make_tracer: Any, out_dir: Path, helpers: Any
) -> None:
    n_threads = 6
    ticks_per_thread = 40
    tracer = make_tracer(sample_rate=1.0, deadline_ms=1e9, golden_trace_interval=50)
    seen: dict[str, list[int]] = {}
    barrier = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            ids = []
            for n in range(ticks_per_thread):
                with tracer.tick() as tick:
                    ids.append(tick.tick_id)
                    for k in range(3):
                        with tracer.stage(f"s{k}", name):
                            time.sleep(0)
                    with tracer.request("GET", "book", name):
                        time.sleep(0)
                    if n % 4 == 0:
                        tracer.guard_trip("limit", name)
            seen[name] = ids
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"th{i}",)) for i in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    tracer.close()

    all_ids = [tick_id for ids in seen.values() for tick_id in ids]
    assert sorted(all_ids) == list(range(1, n_threads * ticks_per_thread + 1))
    grouped = rows_by_tick(helpers.read_rows(out_dir))
    for name, ids in seen.items():
        for tick_id in ids:
            rows = grouped[tick_id]
            detail_symbols = {row["symbol"] for row in rows if row["kind"] != "tick"}
            assert detail_symbols == {name}, f"tick {tick_id} of {name} has {detail_symbols}"
            kinds = Counter(row["kind"] for row in rows)
            assert kinds["stage"] == 3
            assert kinds["request"] == 1
            (tick_row,) = (row for row in rows if row["kind"] == "tick")
            assert tick_row["request_count"] == 1
            assert tick_row["guard_trips"] == kinds["guard"]
    assert tracer.stats().ticks == n_threads * ticks_per_thread


def test_spans_from_to_thread_inside_a_tick_land_in_that_tick(
    make_tracer: Any, out_dir: Path, helpers: Any
) -> None:
    tracer = make_tracer(sample_rate=1.0, deadline_ms=1e9)
    ids: dict[str, int] = {}

    def blocking_io(symbol: str) -> None:
        with tracer.request("POST", "order", symbol):
            time.sleep(0.001)

    async def one_tick(label: str) -> None:
        with tracer.tick() as tick:
            ids[label] = tick.tick_id
            await asyncio.gather(*(asyncio.to_thread(blocking_io, f"{label}{i}") for i in range(8)))

    async def main() -> None:
        await asyncio.gather(one_tick("a"), one_tick("b"), one_tick("c"))

    asyncio.run(main())
    tracer.close()
    grouped = rows_by_tick(helpers.read_rows(out_dir))
    for label, tick_id in ids.items():
        symbols = {row["symbol"] for row in grouped[tick_id] if row["kind"] == "request"}
        assert symbols == {f"{label}{i}" for i in range(8)}


# -- errors -------------------------------------------------------------------------


class VenueRejected(Exception):
    pass


def reject_order(tracer: Tracer, clock: VirtualClock, error: Exception) -> None:
    with tracer.request("POST", "place_order", "BTC"):
        clock.advance(20)
        raise error


@pytest.mark.parametrize(
    ("sample_rate", "keep_missed_detail"),
    [(1.0, True), (0.0, True), (0.0, False)],
    ids=["sampled", "unsampled-measured", "unsampled-unmeasured"],
)
def test_error_in_span_propagates_the_same_exception_object(
    make_tracer: Any, clock: VirtualClock, sample_rate: float, keep_missed_detail: bool
) -> None:
    tracer = make_tracer(
        clock=clock, sample_rate=sample_rate, keep_missed_detail=keep_missed_detail
    )
    error = VenueRejected("insufficient margin")
    with (
        pytest.raises(VenueRejected) as excinfo,
        tracer.tick(),
        tracer.request("POST", "place_order", "BTC"),
    ):
        raise error
    assert excinfo.value is error
    assert excinfo.value.args == ("insufficient margin",)
    assert tracer.stats().ticks == 1


def test_error_in_span_is_recorded_with_status_and_type(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, helpers: Any
) -> None:
    tracer = make_tracer(clock=clock, sample_rate=1.0)
    error = VenueRejected("no")
    with tracer.tick():
        with tracer.stage("ok_stage", "ETH"):
            clock.advance(10)
        with pytest.raises(VenueRejected) as excinfo:
            reject_order(tracer, clock, error)
        assert excinfo.value is error
        with pytest.raises(KeyError), tracer.stage("lookup", "SOL"):
            dict[str, int]()["missing"]
    tracer.close()
    rows = {row["name"]: row for row in helpers.read_rows(out_dir)}
    assert rows["place_order"]["status"] == "error"
    assert rows["place_order"]["error_type"] == "VenueRejected"
    assert rows["place_order"]["verb"] == "POST"
    assert rows["place_order"]["duration_ns"] == 20
    assert rows["lookup"]["status"] == "error"
    assert rows["lookup"]["error_type"] == "KeyError"
    assert rows["ok_stage"]["status"] == "ok"
    assert rows["ok_stage"]["error_type"] is None
    assert rows["tick_total"]["status"] == "ok", "errors caught inside the tick do not fail it"


def test_error_escaping_the_tick_marks_the_tick_row(
    make_tracer: Any, out_dir: Path, helpers: Any
) -> None:
    tracer = make_tracer(sample_rate=0.0, keep_missed_detail=False)
    error = RuntimeError("loop failed")
    with pytest.raises(RuntimeError) as excinfo, tracer.tick():
        raise error
    assert excinfo.value is error
    with tracer.tick():
        pass
    tracer.close()
    ticks = helpers.tick_rows(helpers.read_rows(out_dir))
    assert [(row["status"], row["error_type"]) for row in ticks] == [
        ("error", "RuntimeError"),
        ("ok", None),
    ]


# -- sampling -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 987654321, 2**64 - 1])
def test_sample_rate_within_four_sigma(make_tracer: Any, seed: int) -> None:
    n, rate = 20_000, 0.2
    tracer = make_tracer(sample_rate=rate, sample_seed=seed, export_golden=False)
    for _ in range(n):
        with tracer.tick():
            pass
    sigma = math.sqrt(n * rate * (1 - rate))
    sampled = tracer.stats().ticks_sampled
    assert abs(sampled - n * rate) < 4 * sigma, sampled


def _run_and_collect_sampled(
    tmp_path: Path, name: str, *, n: int, miss_every: int | None = None, **config: Any
) -> set[int]:
    clock = VirtualClock()
    output = tmp_path / name
    values: dict[str, Any] = {"output_dir": str(output), "run_id": name, "golden_trace_interval": n}
    values.update(config)
    with Tracer(TraceConfig(**values), clock=clock) as tracer:
        for i in range(n):
            with tracer.tick():
                slow = miss_every is not None and i % miss_every == 0
                clock.advance(5 * MS if slow else 1)
    rows = [
        row
        for path in sorted(output.rglob("*.parquet"))
        for row in pq.read_table(path, columns=["tick_id", "kind", "detail"]).to_pylist()
    ]
    assert len([row for row in rows if row["kind"] == "tick"]) == n
    return sampled_tick_ids(rows)


def test_same_seed_samples_the_same_ticks_and_another_seed_does_not(tmp_path: Path) -> None:
    common: dict[str, Any] = {"n": 4_000, "sample_rate": 0.2, "deadline_ms": 1.0}
    first = _run_and_collect_sampled(tmp_path, "a", sample_seed=42, **common)
    again = _run_and_collect_sampled(tmp_path, "b", sample_seed=42, **common)
    other = _run_and_collect_sampled(tmp_path, "c", sample_seed=43, **common)
    assert first == again
    assert first != other
    assert 0 < len(first) < 4_000
    # two independent 20% samples overlap in about 4% of ticks, not in all of them
    assert len(first & other) < 0.5 * len(first)


def test_sampling_does_not_depend_on_tick_outcome(tmp_path: Path) -> None:
    common: dict[str, Any] = {"n": 2_000, "sample_rate": 0.3, "sample_seed": 7, "deadline_ms": 1.0}
    fast = _run_and_collect_sampled(tmp_path, "fast", **common)
    slow = _run_and_collect_sampled(tmp_path, "slow", miss_every=2, **common)
    assert fast == slow


def test_random_seed_is_recorded_and_reproduces_the_sample(tmp_path: Path) -> None:
    n = 2_000
    first = _run_and_collect_sampled(tmp_path, "random", n=n, sample_rate=0.25, sample_seed=None)
    (path,) = (tmp_path / "random").rglob("*.parquet")
    seed = int(pq.read_schema(path).metadata[b"tracekit.sample_seed"])
    replay = _run_and_collect_sampled(tmp_path, "replay", n=n, sample_rate=0.25, sample_seed=seed)
    assert first == replay


@pytest.mark.parametrize(("rate", "expected"), [(0, "none"), (0.0, "none"), (1, "sampled")])
def test_sample_rate_edges(
    make_tracer: Any, out_dir: Path, helpers: Any, rate: float, expected: str
) -> None:
    n = 500
    tracer = make_tracer(clock=VirtualClock(), sample_rate=rate, golden_trace_interval=n)
    for _ in range(n):
        with tracer.tick(), tracer.stage("work"):
            pass
    tracer.close()
    rows = helpers.read_rows(out_dir)
    assert {row["detail"] for row in rows} == {expected}
    stage_rows = [row for row in rows if row["kind"] == "stage"]
    assert len(stage_rows) == (n if expected == "sampled" else 0)
    assert tracer.stats().ticks_sampled == (n if expected == "sampled" else 0)


@given(
    seed=st.integers(min_value=0, max_value=2**64 - 1),
    rate=st.floats(min_value=0.0, max_value=1.0),
    higher=st.floats(min_value=0.0, max_value=1.0),
    tick_ids=st.lists(st.integers(min_value=1, max_value=2**40), min_size=1, max_size=50),
)
def test_sampler_is_deterministic_nested_and_exact_at_the_edges(
    seed: int, rate: float, higher: float, tick_ids: list[int]
) -> None:
    higher = max(rate, higher)
    sampler = Sampler(rate, seed)
    twin = Sampler(rate, seed)
    decisions = [sampler(tick_id) for tick_id in tick_ids]
    assert decisions == [twin(tick_id) for tick_id in tick_ids]
    assert decisions == [sampler(tick_id) for tick_id in tick_ids], "no hidden state"
    assert not any(Sampler(0.0, seed)(tick_id) for tick_id in tick_ids)
    assert all(Sampler(1.0, seed)(tick_id) for tick_id in tick_ids)
    # raising the rate only adds ticks to the sample
    bigger = Sampler(higher, seed)
    assert all(bigger(tick_id) for tick_id, kept in zip(tick_ids, decisions, strict=True) if kept)


# -- deadlines ----------------------------------------------------------------------


def test_deadline_misses_are_counted_exactly(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, helpers: Any
) -> None:
    tracer = make_tracer(clock=clock, sample_rate=0.0, deadline_ms=10, golden_trace_interval=30)
    slow = {3, 4, 17, 40, 41, 42, 77}
    at_deadline = {5, 60}  # exactly the deadline is not a miss
    for tick_id in range(1, 101):
        with tracer.tick(), tracer.stage("compute", "BTC"):
            if tick_id in slow:
                clock.advance(10 * MS + 1)
            elif tick_id in at_deadline:
                clock.advance(10 * MS)
            else:
                clock.advance(2 * MS)
    tracer.close()

    stats = tracer.stats()
    assert stats.deadline_misses == len(slow)
    assert stats.ticks_kept_for_miss == len(slow)
    assert stats.ticks_sampled == 0
    rows = helpers.read_rows(out_dir)
    ticks = helpers.tick_rows(rows)
    assert len(ticks) == 100
    assert {row["tick_id"] for row in ticks if row["deadline_missed"]} == slow
    assert all(row["deadline_ns"] == 10 * MS for row in ticks)
    assert {row["tick_id"] for row in ticks if row["detail"] == "deadline_miss"} == slow
    assert {row["tick_id"] for row in ticks if row["detail"] == "none"} == set(range(1, 101)) - slow
    stages = [row for row in rows if row["kind"] == "stage"]
    assert {row["tick_id"] for row in stages} == slow
    assert all(row["detail"] == "deadline_miss" for row in stages)
    assert all(row["duration_ns"] == 10 * MS + 1 for row in stages)


def test_missed_ticks_without_keep_missed_detail_keep_no_detail(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, helpers: Any
) -> None:
    tracer = make_tracer(clock=clock, sample_rate=0.0, deadline_ms=1, keep_missed_detail=False)
    misses = 0
    for i in range(50):
        with tracer.tick(), tracer.stage("compute"), tracer.request("GET", "book"):
            if i % 3 == 0:
                clock.advance(2 * MS)
                misses += 1
    tracer.close()
    stats = tracer.stats()
    assert stats.deadline_misses == misses
    assert stats.ticks_kept_for_miss == 0
    rows = helpers.read_rows(out_dir)
    assert {row["kind"] for row in rows} == {"tick"}
    assert sum(row["deadline_missed"] for row in rows) == misses
    assert {row["detail"] for row in rows} == {"none"}
    assert all(row["request_count"] == 1 for row in rows)


def test_sampled_missed_tick_is_labelled_sampled(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, helpers: Any
) -> None:
    tracer = make_tracer(clock=clock, sample_rate=1.0, deadline_ms=1)
    with tracer.tick(), tracer.stage("compute"):
        clock.advance(5 * MS)
    tracer.close()
    assert tracer.stats().deadline_misses == 1
    assert tracer.stats().ticks_kept_for_miss == 0
    assert {row["detail"] for row in helpers.read_rows(out_dir)} == {"sampled"}


def test_per_tick_deadline_overrides_the_configured_one(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, helpers: Any
) -> None:
    tracer = make_tracer(clock=clock, deadline_ms=100)
    with tracer.tick(deadline_ms=1):
        clock.advance(2 * MS)
    with tracer.tick():
        clock.advance(2 * MS)
    tracer.close()
    ticks = helpers.tick_rows(helpers.read_rows(out_dir))
    assert [(row["deadline_ns"], row["deadline_missed"]) for row in ticks] == [
        (1 * MS, True),
        (100 * MS, False),
    ]
    assert tracer.stats().deadline_misses == 1


# -- recorded counts ----------------------------------------------------------------


def test_orphan_calls_are_counted_and_harmless(make_tracer: Any, out_dir: Path) -> None:
    tracer = make_tracer(sample_rate=1.0)
    with tracer.stage("setup"):
        value = 41
    with tracer.request("GET", "ping", "BTC"):
        value += 1
    tracer.guard_trip("limit", "BTC")
    tracer.set_parallel_symbols(4)
    assert value == 42
    error = VenueRejected("outside")
    with pytest.raises(VenueRejected) as excinfo, tracer.stage("raises"):
        raise error
    assert excinfo.value is error
    tracer.close()
    stats = tracer.stats()
    assert stats.orphan_calls == 5
    assert stats.ticks == 0
    assert not list(out_dir.rglob("*.parquet"))


def test_guard_trips_are_kept_for_unsampled_ticks(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, helpers: Any
) -> None:
    tracer = make_tracer(clock=clock, sample_rate=0.0, keep_missed_detail=False)
    with tracer.tick():
        clock.advance(100)
        tracer.guard_trip("max_position", "BTC")
        clock.advance(100)
        tracer.guard_trip("kill_switch")
    with tracer.tick():
        pass
    tracer.close()
    rows = helpers.read_rows(out_dir)
    guards = [row for row in rows if row["kind"] == "guard"]
    assert [(row["tick_id"], row["name"], row["symbol"]) for row in guards] == [
        (1, "max_position", "BTC"),
        (1, "kill_switch", None),
    ]
    assert [row["start_unix_ns"] for row in guards] == [
        helpers.WALL_ANCHOR_NS + 100,
        helpers.WALL_ANCHOR_NS + 200,
    ]
    assert all(row["duration_ns"] is None for row in guards)
    ticks = helpers.tick_rows(rows)
    assert [row["guard_trips"] for row in ticks] == [2, 0]
    assert {row["detail"] for row in rows} == {"none"}


def test_request_count_and_parallel_symbols_on_tick_rows(
    make_tracer: Any, out_dir: Path, helpers: Any
) -> None:
    tracer = make_tracer(sample_rate=0.0, keep_missed_detail=False)
    for requests in (0, 3, 7):
        with tracer.tick():
            if requests:
                tracer.set_parallel_symbols(requests)
            for i in range(requests):
                with tracer.request("DELETE", "cancel", f"S{i}"):
                    pass
    tracer.close()
    ticks = helpers.tick_rows(helpers.read_rows(out_dir))
    assert [row["request_count"] for row in ticks] == [0, 3, 7]
    assert [row["parallel_symbols"] for row in ticks] == [None, 3, 7]


def test_records_over_the_per_tick_limit_are_dropped_and_counted(
    make_tracer: Any, out_dir: Path, helpers: Any
) -> None:
    tracer = make_tracer(sample_rate=1.0, max_records_per_tick=5)
    with tracer.tick():
        for i in range(8):
            with tracer.stage(f"s{i}"):
                pass
        for _ in range(3):
            with tracer.request("GET", "book"):
                pass
        tracer.guard_trip("limit")
    with tracer.tick():
        for i in range(4):
            with tracer.stage(f"t{i}"):
                pass
    tracer.close()
    assert tracer.stats().records_dropped == 6
    grouped = rows_by_tick(helpers.read_rows(out_dir))
    first = Counter(row["kind"] for row in grouped[1])
    assert first["stage"] + first["request"] == 5
    assert first["guard"] == 1
    assert [row["name"] for row in grouped[1] if row["kind"] == "stage"] == [
        f"s{i}" for i in range(5)
    ]
    (tick_row,) = (row for row in grouped[1] if row["kind"] == "tick")
    assert tick_row["request_count"] == 3, "dropped requests are still counted"
    assert Counter(row["kind"] for row in grouped[2])["stage"] == 4


# -- life cycle ---------------------------------------------------------------------


def test_close_is_idempotent_and_later_ticks_are_counted_not_written(
    make_tracer: Any, out_dir: Path, helpers: Any
) -> None:
    tracer = make_tracer(sample_rate=1.0, golden_trace_interval=10)
    for _ in range(15):
        with tracer.tick():
            pass
    tracer.close()
    after_first_close = tracer.stats()
    tracer.close()
    assert tracer.stats() == after_first_close
    for _ in range(4):
        with tracer.tick(), tracer.stage("late"):
            pass
    stats = tracer.stats()
    assert stats.ticks == 15
    assert stats.ticks_after_close == 4
    assert stats.writer.files_written == 2
    rows = helpers.read_rows(out_dir)
    assert len(helpers.tick_rows(rows)) == 15
    assert "late" not in {row["name"] for row in rows}


def test_tracer_is_a_context_manager_that_closes(out_dir: Path, helpers: Any) -> None:
    config = TraceConfig(output_dir=str(out_dir), run_id="cm", golden_trace_interval=1_000)
    with Tracer(config) as tracer:
        for _ in range(3):
            with tracer.tick():
                pass
        assert helpers.golden_files(out_dir) == [], "the window is not full yet"
    assert [path.name for path in helpers.golden_files(out_dir)] == ["golden-000001.parquet"]
    assert tracer.stats().writer.files_written == 1
    with tracer.tick():
        pass
    assert tracer.stats().ticks_after_close == 1


def test_tracer_closes_when_the_with_body_raises(out_dir: Path, helpers: Any) -> None:
    config = TraceConfig(output_dir=str(out_dir), run_id="cm-error")
    error = VenueRejected("stop")

    def traced_then_fail() -> None:
        with Tracer(config) as tracer:
            with tracer.tick():
                pass
            raise error

    with pytest.raises(VenueRejected) as excinfo:
        traced_then_fail()
    assert excinfo.value is error
    assert len(helpers.tick_rows(helpers.read_rows(out_dir))) == 1


def test_disabled_tracer_writes_nothing_and_starts_no_thread(out_dir: Path) -> None:
    threads_before = threading.enumerate()
    count_before = threading.active_count()
    tracer = Tracer(TraceConfig(enabled=False, output_dir=str(out_dir), run_id="off"))
    assert threading.enumerate() == threads_before
    assert threading.active_count() == count_before
    with tracer.tick() as tick:
        with tracer.stage("s", "BTC"), tracer.request("POST", "order", "BTC"):
            pass
        tracer.guard_trip("limit")
        tracer.set_parallel_symbols(3)
        assert tick.tick_id == 0
    error = VenueRejected("still raised")
    with pytest.raises(VenueRejected) as excinfo, tracer.tick(), tracer.stage("x"):
        raise error
    assert excinfo.value is error
    tracer.stage("orphan")  # no tick: not even counted when disabled
    tracer.close()
    assert threading.enumerate() == threads_before
    assert not out_dir.exists()
    assert tracer.output_folder is None
    stats = tracer.stats()
    assert (stats.ticks, stats.orphan_calls, stats.deadline_misses) == (0, 0, 0)
    assert stats.writer.files_written == 0


def test_tracer_without_export_starts_no_thread_and_still_counts(out_dir: Path) -> None:
    before = threading.enumerate()
    clock = VirtualClock()
    with Tracer(
        TraceConfig(export_golden=False, output_dir=str(out_dir), deadline_ms=1), clock=clock
    ) as tracer:
        assert threading.enumerate() == before
        for i in range(10):
            with tracer.tick():
                clock.advance(2 * MS if i < 4 else 0)
    assert not out_dir.exists()
    assert tracer.stats().ticks == 10
    assert tracer.stats().deadline_misses == 4


def test_full_queue_drops_windows_without_blocking_the_tick_loop(
    make_tracer: Any, monkeypatch: pytest.MonkeyPatch, helpers: Any
) -> None:
    started = threading.Event()
    release = threading.Event()
    real_write = parquet.write_parquet  # what golden.write_parquet is, unpatched

    def blocked_write(table: Any, path: Path) -> None:
        started.set()
        assert release.wait(20)
        real_write(table, path)

    # The Tracer builds its GoldenWriter with the module's default writer function.
    monkeypatch.setattr(golden, "write_parquet", blocked_write)
    tracer = make_tracer(golden_trace_interval=1, max_queue_windows=1)
    try:
        with tracer.tick():
            pass
        assert started.wait(5), "the writer took the first window"
        loop_started = time.perf_counter()
        for _ in range(500):
            with tracer.tick(), tracer.stage("work"):
                pass
        elapsed = time.perf_counter() - loop_started
        stats = tracer.stats()
    finally:
        release.set()
    assert elapsed < 2.0, f"the tick loop took {elapsed:.2f} s while the writer was blocked"
    assert stats.ticks == 501
    assert stats.writer.windows_dropped == 499  # one is written, one waits in the queue
    assert stats.writer.queue_depth == 1
    tracer.close()
    final = tracer.stats().writer
    assert final.files_written == 2
    assert final.windows_dropped == 499
    assert len(helpers.golden_files(Path(tracer.config.output_dir))) == 2


def test_run_id_argument_is_validated_like_the_config(out_dir: Path) -> None:
    # TraceConfig rejects run ids with '/', '\\' or '=', as they break the
    # <output_dir>/run_id=<run>/ layout; the run_id argument of Tracer must too.
    config = TraceConfig(output_dir=str(out_dir), sample_seed=1)
    for bad in ("a/b", "x=y"):
        tracer: Tracer | None = None
        try:
            with pytest.raises(ConfigError, match="run_id"):
                tracer = Tracer(config, run_id=bad)
        finally:
            if tracer is not None:
                tracer.close()


def test_a_virtual_clock_refuses_to_go_backwards_with_a_tracekit_error() -> None:
    clock = VirtualClock(100)
    with pytest.raises(ClockError, match="cannot go backwards") as raised:
        clock.set(50)
    assert isinstance(raised.value, TracekitError)
    assert isinstance(raised.value, ValueError)  # what it raised before
    assert clock() == 100
