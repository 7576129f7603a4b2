"""The tracer's API: decorators, ``async with``, attributes, the tick id, executors, names."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from tracekit import TraceConfig, Tracer, VirtualClock
from tracekit.trace.tracer import NULL_SPAN, NullTracer, Span

MS = 1_000_000


def detail_rows(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(tick_id, kind, name, symbol, verb, error_type, attributes) of every row, in order."""
    return [
        (
            row["tick_id"],
            row["kind"],
            row["name"],
            row["symbol"],
            row["verb"],
            row["error_type"],
            None if row["attributes"] is None else json.loads(row["attributes"]),
        )
        for row in rows
    ]


def test_a_program_using_every_form_is_recorded_row_by_row(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, helpers: Any
) -> None:
    tracer: Tracer = make_tracer(clock=clock, sample_rate=1.0, golden_trace_interval=10)

    @tracer.stage("fetch_md", attributes={"source": "ws"})
    def fetch(symbol: str) -> str:
        clock.advance(1 * MS)
        return symbol

    @tracer.request("POST", "place_order")
    async def place(symbol: str) -> str:
        await asyncio.sleep(0)
        clock.advance(2 * MS)
        return f"order-{symbol}"

    @tracer.tick()
    def sync_tick() -> int | None:
        fetch("BTC")
        with tracer.stage("spread", "BTC", attributes={"attempt": 2, "widened": True}):
            clock.advance(1 * MS)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(tracer.bind(fetch), "ETH").result()  # carried into the pool
        return tracer.current_tick_id()

    async def async_tick() -> None:
        async with tracer.tick():
            async with tracer.stage("emit", "BTC"):  # a request nested in its stage
                assert await place("BTC") == "order-BTC"
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, tracer.bind(fetch), "SOL")

    assert fetch.__name__ == "fetch"
    assert inspect.iscoroutinefunction(place)
    assert sync_tick() == 1
    asyncio.run(async_tick())
    assert tracer.current_tick_id() is None
    tracer.close()
    rows = helpers.read_rows(out_dir)
    assert detail_rows(rows) == [
        (1, "tick", "tick_total", None, None, None, None),
        (1, "stage", "fetch_md", None, None, None, {"source": "ws"}),
        (1, "stage", "spread", "BTC", None, None, {"attempt": 2, "widened": True}),
        (1, "stage", "fetch_md", None, None, None, {"source": "ws"}),
        (2, "tick", "tick_total", None, None, None, None),
        (2, "request", "place_order", None, "POST", None, None),
        (2, "stage", "emit", "BTC", None, None, None),
        (2, "stage", "fetch_md", None, None, None, {"source": "ws"}),
    ]
    durations = [row["duration_ns"] for row in rows]
    assert durations[:4] == [3 * MS, 1 * MS, 1 * MS, 1 * MS]
    assert durations[5:7] == [2 * MS, 2 * MS]
    stats = tracer.stats()
    assert (stats.orphan_calls, stats.invalid_calls) == (0, 0)


def test_decorated_function_called_outside_a_tick_is_an_orphan_each_call(
    make_tracer: Any,
) -> None:
    tracer: Tracer = make_tracer()

    @tracer.stage("s")
    def work() -> int:
        return 7

    assert tracer.stats().orphan_calls == 0  # decorating is not a call
    assert work() == 7
    assert work() == 7
    assert tracer.stats().orphan_calls == 2


def test_executor_without_bind_is_an_orphan_and_counted(make_tracer: Any) -> None:
    tracer: Tracer = make_tracer()
    with tracer.tick(), concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(lambda: tracer.current_tick_id()).result() is None
        pool.submit(lambda: tracer.stage("lost").__enter__()).result()
    assert tracer.stats().orphan_calls == 1


def test_tick_decorator_and_async_with_tick_each_make_one_tick(
    make_tracer: Any, helpers: Any, out_dir: Path
) -> None:
    tracer: Tracer = make_tracer(sample_rate=1.0)

    @tracer.tick(deadline_ms=5)
    async def handler() -> int | None:
        return tracer.current_tick_id()

    async def main() -> list[int | None]:
        ids = [await handler(), await handler()]
        async with tracer.tick() as tick:
            ids.append(tick.tick_id)
        return ids

    assert asyncio.run(main()) == [1, 2, 3]
    tracer.close()
    ticks = helpers.tick_rows(helpers.read_rows(out_dir))
    assert [row["deadline_ns"] for row in ticks] == [5 * MS, 5 * MS, 200 * MS]


def test_error_in_async_with_and_decorated_spans_is_recorded_and_propagates(
    make_tracer: Any, helpers: Any, out_dir: Path
) -> None:
    tracer: Tracer = make_tracer(sample_rate=1.0)

    @tracer.stage("boom")
    async def boom() -> None:
        raise KeyError("x")

    async def main() -> None:
        async with tracer.tick():
            with pytest.raises(KeyError):
                await boom()
            with pytest.raises(ValueError, match="v"):
                async with tracer.stage("bad"):
                    raise ValueError("v")

    asyncio.run(main())
    tracer.close()
    errors = [(row["name"], row["error_type"]) for row in helpers.read_rows(out_dir)]
    assert errors == [("tick_total", None), ("boom", "KeyError"), ("bad", "ValueError")]


def test_request_cut_off_by_asyncio_timeout_is_a_timeout_error(
    make_tracer: Any, helpers: Any, out_dir: Path
) -> None:
    tracer: Tracer = make_tracer(sample_rate=1.0)

    async def cancelled_for_real() -> None:
        async with tracer.request("GET", "book"):
            await asyncio.sleep(10)

    async def main() -> None:
        async with tracer.tick():
            try:
                async with asyncio.timeout(0.01), tracer.request("POST", "place_order"):
                    await asyncio.sleep(10)
            except TimeoutError:
                pass
            task = asyncio.create_task(cancelled_for_real())
            await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    tracer.close()
    errors = {row["name"]: row["error_type"] for row in helpers.read_rows(out_dir)}
    assert errors["place_order"] == "TimeoutError"
    assert errors["book"] == "CancelledError"


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda t: t.stage("tick_total"), "reserved name"),
        (lambda t: t.stage(""), "empty name"),
        (lambda t: t.stage(123), "an int"),
        (lambda t: t.stage(None), "None"),
        (lambda t: t.stage(["a"]), "unhashable"),
        (lambda t: t.stage("\ud800"), "lone surrogate"),
        (lambda t: t.stage("x" * 201), "too long"),
        (lambda t: t.request(None, None), "request(None, None)"),
        (lambda t: t.request("POST", "tick_total"), "reserved api"),
        (lambda t: t.stage("ok", attributes={"1bad": 1}), "attribute key"),
        (lambda t: t.stage("ok", attributes={"a": float("nan")}), "NaN attribute"),
        (lambda t: t.stage("ok", attributes={"a": [1]}), "list attribute"),
        (lambda t: t.stage("ok", attributes={f"k{i}": i for i in range(9)}), "9 attributes"),
        (lambda t: t.stage("ok", attributes="a=1"), "not a mapping"),
    ],
)
def test_invalid_names_are_refused_at_the_call_counted_and_the_window_kept(
    make_tracer: Any, helpers: Any, out_dir: Path, call: Any, name: str
) -> None:
    tracer: Tracer = make_tracer(sample_rate=1.0, golden_trace_interval=3)
    for _ in range(3):
        with tracer.tick(), tracer.stage("good", "BTC"), call(tracer):
            pass
    tracer.close()
    stats = tracer.stats()
    assert stats.invalid_calls == 3, name
    assert stats.writer.write_errors == 0
    rows = helpers.read_rows(out_dir)
    assert len(helpers.tick_rows(rows)) == 3, "no tick lost"
    names = [row["name"] for row in rows if row["kind"] != "tick"]
    assert "good" in names
    assert all(isinstance(value, str) and value for value in names)
    assert names.count("tick_total") == 0
    attributed = [row for row in rows if row["name"] == "ok"]
    assert all(row["attributes"] is None for row in attributed), "bad attributes not written"


def test_symbols_that_are_not_text_are_repaired_off_the_loop_and_counted(
    make_tracer: Any, helpers: Any, out_dir: Path
) -> None:
    tracer: Tracer = make_tracer(sample_rate=1.0, golden_trace_interval=2)
    symbols_given: list[Any] = [7, "BTC\udc80", "ETH"]
    for symbol in symbols_given:
        with tracer.tick(), tracer.stage("s", symbol):
            pass
    tracer.close()
    stats = tracer.stats()
    assert stats.writer.write_errors == 0
    assert stats.writer.labels_repaired == 2
    symbols = [row["symbol"] for row in helpers.read_rows(out_dir) if row["kind"] == "stage"]
    assert symbols == ["7", "BTC\ufffd", "ETH"]


@pytest.mark.parametrize("count", ["8", "abc", 2**40, float("nan"), -1, True, 2.0, None])
def test_bad_parallel_symbols_is_counted_and_the_window_kept(
    make_tracer: Any, helpers: Any, out_dir: Path, count: Any
) -> None:
    tracer: Tracer = make_tracer(golden_trace_interval=2)
    with tracer.tick():
        tracer.set_parallel_symbols(count)
    with tracer.tick():
        tracer.set_parallel_symbols(3)
    tracer.close()
    assert tracer.stats().invalid_calls == 1
    ticks = helpers.tick_rows(helpers.read_rows(out_dir))
    assert [row["parallel_symbols"] for row in ticks] == [None, 3]


@pytest.mark.parametrize(("reason", "symbol"), [(None, None), ("ok", 5), ("\udcff", None)])
def test_bad_guard_trip_is_counted_and_the_window_kept(
    make_tracer: Any, helpers: Any, out_dir: Path, reason: Any, symbol: Any
) -> None:
    tracer: Tracer = make_tracer(golden_trace_interval=1)
    with tracer.tick():
        tracer.guard_trip(reason, symbol)
        tracer.guard_trip("limit", "BTC")
    tracer.close()
    assert tracer.stats().invalid_calls == 1
    rows = helpers.read_rows(out_dir)
    assert [(row["kind"], row["name"]) for row in rows] == [
        ("tick", "tick_total"),
        ("guard", "limit"),
    ]
    assert rows[0]["guard_trips"] == 1


def test_attribute_values_keep_their_type_in_the_json(
    make_tracer: Any, helpers: Any, out_dir: Path
) -> None:
    tracer: Tracer = make_tracer(sample_rate=1.0)
    attributes: dict[str, str | int | float | bool] = {
        "s": "text",
        "i": -3,
        "f": 0.25,
        "b": False,
        "e": "",
    }
    with tracer.tick(), tracer.stage("x", attributes=attributes):
        attributes["s"] = "changed after the call"  # the tracer keeps its own copy
    tracer.close()
    (row,) = [row for row in helpers.read_rows(out_dir) if row["name"] == "x"]
    assert row["attributes"] == '{"b":false,"e":"","f":0.25,"i":-3,"s":"text"}'


def test_disabled_tracer_is_a_null_tracer_with_the_same_signatures(out_dir: Path) -> None:
    tracer = Tracer(TraceConfig(enabled=False, output_dir=str(out_dir)))
    assert isinstance(tracer, NullTracer)
    assert isinstance(tracer, Tracer)
    for name in ("tick", "stage", "request", "guard_trip", "set_parallel_symbols", "close"):
        assert inspect.signature(getattr(NullTracer, name)) == inspect.signature(
            getattr(Tracer, name)
        ), name
    assert tracer.stage("s", attributes={"a": 1}) is NULL_SPAN

    def work() -> int:
        return 1

    assert tracer.stage("s")(work) is work, "a disabled decorator adds nothing"
    assert tracer.bind(work) is work
    assert tracer.current_tick_id() is None
    assert tracer.close() == ()
    assert not out_dir.exists()


def test_public_api_is_typed_without_any() -> None:
    for name in ("tick", "stage", "request", "current_tick_id", "bind", "close", "stats"):
        annotation = inspect.signature(getattr(Tracer, name)).return_annotation
        assert "Any" not in str(annotation), name
    assert inspect.signature(Tracer.stage).return_annotation in ("Span", Span)
    source = Path(inspect.getfile(Tracer)).read_text()
    assert "type: ignore" not in source


SLOW_PYARROW_IMPORT = textwrap.dedent(
    """
    import asyncio, sys, threading, time

    class SlowPyarrow:  # the writer thread's import of pyarrow takes 1.5 s
        def find_spec(self, name, path=None, target=None):
            if name == "pyarrow" and threading.current_thread().name == "tracekit-golden":
                time.sleep(1.5)
            return None

    sys.meta_path.insert(0, SlowPyarrow())
    from tracekit import Tracer, TraceConfig

    def build(run_id):
        began = time.perf_counter()
        tracer = Tracer(TraceConfig(output_dir=sys.argv[1], run_id=run_id))
        return tracer, time.perf_counter() - began, "pyarrow" in sys.modules

    async def in_loop():
        return build("in-loop")

    if sys.argv[2] == "loop":
        tracer, took, imported = asyncio.run(in_loop())
    else:
        tracer, took, imported = build("before-loop")
    tracer.close()
    print(f"{took:.2f} {imported}")
    """
)


@pytest.mark.slow  # a fresh interpreter
@pytest.mark.parametrize("where", ["before", "loop"])
def test_a_tracer_built_before_the_loop_waits_for_the_writers_imports(
    tmp_path: Path, where: str
) -> None:
    """An import holds the GIL for long stretches: built before the loop runs, the
    tracer lets the writer thread finish importing pyarrow (so the first ticks don't
    stall); built inside a running loop, it never waits for it."""
    result = subprocess.run(
        [sys.executable, "-c", SLOW_PYARROW_IMPORT, str(tmp_path / "traces"), where],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    took, imported = result.stdout.split()
    if where == "before":
        assert float(took) >= 1.4, result.stdout
        assert imported == "True"
    else:
        assert float(took) < 1.0, result.stdout
        assert imported == "False"


@pytest.mark.slow  # a fresh interpreter
def test_tracer_builds_without_importing_pyarrow_in_the_callers_thread(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys, threading
        importers = []

        class Spy:
            def find_spec(self, name, path=None, target=None):
                if name == "pyarrow":
                    importers.append(threading.current_thread().name)
                return None

        sys.meta_path.insert(0, Spy())
        from tracekit import Tracer, TraceConfig
        tracer = Tracer(TraceConfig(output_dir=sys.argv[1], run_id="resumed-run"))
        in_caller = "pyarrow" in sys.modules and threading.main_thread().name in importers
        with tracer.tick():
            pass
        tracer.close()
        print(importers, in_caller)
        """
    )
    for _ in range(2):  # a new run, then a resumed one (reads the footers)
        result = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "traces")],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert result.stdout.strip() == "['tracekit-golden'] False", result.stderr
    assert len(list((tmp_path / "traces").rglob("*.parquet"))) == 2


def test_resume_reads_the_last_tick_id_from_footers_without_pyarrow(
    make_tracer: Any, helpers: Any, out_dir: Path
) -> None:
    from tracekit.trace.sinks.golden import read_footer_metadata

    first = make_tracer(run_id="again", golden_trace_interval=4)
    for _ in range(10):
        with first.tick():
            pass
    first.close()
    files = helpers.golden_files(out_dir)
    metadata = read_footer_metadata(files[-1])
    assert metadata is not None
    assert metadata[b"tracekit.last_tick_id"] == b"10"
    assert metadata[b"tracekit.run_id"] == b"again"
    truncated = files[0].with_name("golden-000009.parquet")
    truncated.write_bytes(files[0].read_bytes()[:-20])
    assert read_footer_metadata(truncated) is None
    second = make_tracer(run_id="again")
    with second.tick() as tick:
        assert tick.tick_id == 11


def test_threads_with_their_own_ticks_and_decorators(make_tracer: Any, helpers: Any) -> None:
    tracer: Tracer = make_tracer(sample_rate=1.0)

    @tracer.stage("work")
    def work() -> int | None:
        return tracer.current_tick_id()

    seen: dict[int, int | None] = {}

    def loop(index: int) -> None:
        with tracer.tick() as tick:
            seen[tick.tick_id] = work()

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {tick_id: tick_id for tick_id in seen}
    assert len(seen) == 4
