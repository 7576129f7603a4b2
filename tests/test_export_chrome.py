"""``tracekit export chrome``: the Chrome Trace Event Format export.

Checked on three kinds of data: simulated runs (concurrent symbols, sampled and
unsampled ticks, misses, guard trips), a run recorded through the real tracer in
which two tasks of one symbol and two ticks overlap without nesting, and a slice of
``samples/``. The format's rules are checked on every export; nesting is checked
with :func:`tracekit.present.export.nesting_violations`, itself tested on hand-made events.
"""

from __future__ import annotations

import contextvars
import json
import math
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from cli_helpers import SAMPLES, run_in_process
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import tracekit
from tracekit import TraceConfig, VirtualClock
from tracekit.cli import export as cli_export
from tracekit.cli import in_options
from tracekit.errors import EmptyDataError, ExportTooLargeError, InputError, TracekitError
from tracekit.present.export import (
    DEFAULT_MAX_MB,
    ChromeExport,
    assign_lanes,
    chrome_trace,
    dumps_chrome_trace,
    estimate_chrome_trace,
    lane_name,
    nesting_violations,
    parse_tick_range,
    write_chrome_trace,
)
from tracekit.sim.simulator import SimulationSpec, simulate

BASELINE = SAMPLES / "baseline"
MS = 1_000_000
PHASES = {"X", "i", "M"}
METADATA_NAMES = {"process_name", "process_sort_index", "thread_name", "thread_sort_index"}
CATEGORIES = {"tick", "stage", "request", "guard", "deadline"}
TOO_LARGE = re.compile(
    r"^the export would be about [\d.,]+ MB \([\d,]+ events\), over the [\d.]+ MB limit; "
    r"narrow the selection with `runs`, `since`/`until` or `ticks` \(or raise `max_mb`\)$"
)


# -- data ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated runs: half the ticks sampled, a deadline some ticks miss."""
    root = tmp_path_factory.mktemp("sim")
    for seed in (5, 6):
        simulate(
            SimulationSpec(ticks=80, symbols=4, seed=seed),
            TraceConfig(output_dir=str(root), sample_rate=0.5, deadline_ms=110.0),
            run_id=f"sim-{seed}",
        )
    return root


@pytest.fixture(scope="module")
def sim_trace(sim_root: Path) -> dict[str, Any]:
    return chrome_trace(tracekit.load(sim_root))


def rows_of(root: Path) -> list[dict[str, Any]]:
    """Every row under ``root``, read with pyarrow alone."""
    tables = [pq.read_table(path) for path in sorted(root.rglob("*.parquet"))]
    rows: list[dict[str, Any]] = pa.concat_tables(tables).to_pylist()
    return rows


class Task:
    """An asyncio task's view of the tracer: its own copy of the context."""

    def __init__(self, context: contextvars.Context) -> None:
        self.context = context

    def child(self) -> Task:
        """A task created now (``asyncio.gather`` copies the current context)."""
        return Task(self.context.copy())

    def enter(self, manager: Any) -> Any:
        self.context.run(manager.__enter__)
        return manager

    def exit(self, manager: Any, error: BaseException | None = None) -> None:
        self.context.run(manager.__exit__, type(error) if error else None, error, None)

    def run(self, function: Any, *args: Any) -> Any:
        return self.context.run(function, *args)


@pytest.fixture
def overlap_root(make_tracer: Any, out_dir: Path) -> Path:
    """A run whose spans overlap without nesting, recorded through the real tracer.

    Tick 1 runs 0-100 ms and misses its 80 ms deadline; tick 2 runs 50-130 ms (two
    ticks in flight). In tick 1 two tasks of BTC-USD overlap: spread 10-40 and
    spread 20-60 ms; tick 2's BTC-USD spread runs 60-90 ms. ETH-USD's request fails.
    """
    clock = VirtualClock()
    tracer = make_tracer(clock=clock, sample_rate=1.0, deadline_ms=80.0, run_id="overlap")
    main = Task(contextvars.copy_context())
    tick_1, tick_2 = main.child(), main.child()
    t1 = tick_1.enter(tracer.tick())
    fetch_1 = tick_1.enter(tick_1.run(tracer.stage, "fetch_md"))
    clock.set(10 * MS)
    tick_1.exit(fetch_1)
    first, second, eth = tick_1.child(), tick_1.child(), tick_1.child()
    spread_a = first.enter(first.run(tracer.stage, "spread", "BTC-USD"))
    clock.set(20 * MS)
    spread_b = second.enter(second.run(tracer.stage, "spread", "BTC-USD"))
    clock.set(30 * MS)
    first.run(tracer.guard_trip, "vol_soft", "BTC-USD")
    clock.set(40 * MS)
    first.exit(spread_a)
    clock.set(50 * MS)
    t2 = tick_2.enter(tracer.tick())
    request = eth.enter(eth.run(tracer.request, "POST", "place_order", "ETH-USD"))
    clock.set(60 * MS)
    second.exit(spread_b)
    eth.exit(request, ValueError("rejected"))
    spread_c = tick_2.enter(tick_2.run(tracer.stage, "spread", "BTC-USD"))
    emit = tick_1.enter(tick_1.run(tracer.stage, "emit", "€UR-USD"))
    clock.set(90 * MS)
    tick_2.exit(spread_c)
    tick_1.exit(emit)
    clock.set(100 * MS)
    tick_1.exit(t1)
    clock.set(130 * MS)
    tick_2.exit(t2)
    tracer.close()
    return out_dir


# -- format checks --------------------------------------------------------------------------


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_time(value_us: Any) -> bool:
    """A non-negative time in µs that is an exact number of ns (at most three decimals)."""
    return (
        is_number(value_us)
        and value_us >= 0
        and abs(value_us * 1000 - round(value_us * 1000)) < 1e-3
    )


def check_format(trace: dict[str, Any]) -> None:
    """The rules of the Trace Event Format (JSON object form) that the export promises."""
    assert set(trace) == {"traceEvents", "displayTimeUnit", "otherData"}
    assert trace["displayTimeUnit"] == "ms"
    assert isinstance(trace["otherData"], dict)
    events = trace["traceEvents"]
    assert isinstance(events, list)
    assert events
    thread_names: dict[int, str] = {}
    for event in events:
        assert event["ph"] in PHASES, event
        assert is_int(event["pid"]), event
        assert isinstance(event["name"], str), event
        assert event["name"], event
        if event["ph"] == "M":
            assert event["name"] in METADATA_NAMES, event
            assert isinstance(event["args"], dict)
            if event["name"].startswith("thread_"):
                assert isinstance(event["tid"], int)
            if event["name"] == "thread_name":
                thread_names[event["tid"]] = event["args"]["name"]
            continue
        assert is_int(event["tid"]), event
        assert event["tid"] != event["pid"]
        assert event["cat"] in CATEGORIES, event
        assert isinstance(event["args"], dict)
        assert is_time(event["ts"]), event
        if event["ph"] == "X":
            assert is_time(event["dur"]), event
        else:
            assert event["s"] == "t", event
            assert "dur" not in event, event
    timed = [event for event in events if event["ph"] != "M"]
    assert min(event["ts"] for event in timed) == 0  # relative to the earliest record
    assert {event["tid"] for event in timed} <= set(thread_names)  # every track is named
    # Metadata first, then by start with parents (longer) before children.
    assert all(event["ph"] == "M" for event in events[: len(events) - len(timed)])
    keys = [(event["ts"], -event.get("dur", -1)) for event in timed]
    assert keys == sorted(keys)
    assert nesting_violations(events) == []


def threads(trace: dict[str, Any]) -> dict[int, tuple[int, str]]:
    """tid -> (pid, thread name)."""
    return {
        event["tid"]: (event["pid"], event["args"]["name"])
        for event in trace["traceEvents"]
        if event["ph"] == "M" and event["name"] == "thread_name"
    }


def processes(trace: dict[str, Any]) -> dict[int, str]:
    """pid -> process name without its wall-clock part: ``run sim-5``."""
    return {
        event["pid"]: event["args"]["name"].split(" (from ")[0]
        for event in trace["traceEvents"]
        if event["ph"] == "M" and event["name"] == "process_name"
    }


def timed_events(trace: dict[str, Any], **match: Any) -> list[dict[str, Any]]:
    return [
        event
        for event in trace["traceEvents"]
        if event["ph"] != "M" and all(event.get(key) == value for key, value in match.items())
    ]


def base_name(thread_name: str) -> str:
    return re.sub(r" \([a-z]+\)$", "", thread_name)


# -- the checker and the lanes ------------------------------------------------------------------


def x(ts: float, dur: float, tid: int = 1, name: str = "span") -> dict[str, Any]:
    return {"ph": "X", "name": name, "ts": ts, "dur": dur, "pid": 1, "tid": tid}


@pytest.mark.parametrize(
    "events",
    [
        [x(0, 10), x(2, 3), x(5, 5)],  # nested, child ending with its parent
        [x(0, 10), x(10, 5)],  # touching
        [x(0, 10), x(0, 10)],  # identical
        [x(0, 10), x(3, 0), x(10, 0)],  # instants-like zero durations
        [x(0, 10, tid=1), x(5, 10, tid=2)],  # overlap on different threads
        [x(0.001, 0.002), x(0.002, 0.001)],  # exact to the ns
    ],
)
def test_checker_accepts_nested_and_disjoint_spans(events: list[dict[str, Any]]) -> None:
    assert nesting_violations(events) == []


def test_checker_reports_spans_that_overlap_without_nesting() -> None:
    events = [x(0, 10, name="a"), x(5, 10, name="b"), x(20, 5), x(21, 5, name="c")]
    problems = nesting_violations(events)
    assert len(problems) == 2
    assert problems[0] == (
        "pid 1 tid 1: 'b' [5000, 15000] ns overlaps 'a' [0, 10000] ns without nesting"
    )
    assert nesting_violations([x(0, 1.001), x(0.5, 0.502)]) != []  # 1 ns past its parent
    assert len(nesting_violations([x(i, 2) for i in range(50)], limit=3)) == 3


def test_lanes_keep_nested_spans_together_and_split_overlaps() -> None:
    assert assign_lanes([(0, 100), (10, 40), (40, 60), (60, 100)]) == [0, 0, 0, 0]
    assert assign_lanes([(0, 10), (5, 15), (10, 20), (12, 14)]) == [0, 1, 0, 0]
    assert assign_lanes([(0, 10), (1, 11), (2, 12)]) == [0, 1, 2]
    assert assign_lanes([]) == []


intervals = st.lists(
    st.tuples(st.integers(0, 50), st.integers(0, 20)).map(lambda p: (p[0], p[0] + p[1])),
    max_size=40,
)


@given(intervals)
def test_lanes_always_nest_and_are_as_few_as_the_first_fit_allows(
    spans: list[tuple[int, int]],
) -> None:
    lanes = assign_lanes(spans)
    assert len(lanes) == len(spans)
    events = [
        x(start / 1000, (end - start) / 1000, tid=lane)
        for (start, end), lane in zip(spans, lanes, strict=True)
    ]
    assert nesting_violations(events) == []
    if spans:
        assert set(lanes) == set(range(max(lanes) + 1))  # no empty lane
    # Spans that already nest stay on one lane.
    if nesting_violations([x(s / 1000, (e - s) / 1000) for s, e in spans]) == []:
        assert set(lanes) <= {0}


# -- the export -------------------------------------------------------------------------------


def test_simulated_export_follows_the_format(sim_trace: dict[str, Any], sim_root: Path) -> None:
    check_format(sim_trace)
    other = sim_trace["otherData"]
    assert other["runs"] == ["sim-5", "sim-6"]
    assert other["sample_rates"] == {"sim-5": 0.5, "sim-6": 0.5}
    assert other["schema_version"] == 1
    first_start = min(row["start_unix_ns"] for row in rows_of(sim_root))
    assert other["origin_unix_ns"] == first_start
    # One process per run, named after it.
    assert sorted(processes(sim_trace).values()) == ["run sim-5", "run sim-6"]


def test_every_tick_is_exported_and_detail_only_where_kept(
    sim_trace: dict[str, Any], sim_root: Path
) -> None:
    rows = rows_of(sim_root)
    ticks = [row for row in rows if row["kind"] == "tick"]
    assert {row["detail"] for row in ticks} == {"sampled", "deadline_miss", "none"}
    tick_events = timed_events(sim_trace, cat="tick")
    assert len(tick_events) == len(ticks) == 160
    by_run = {pid: name.removeprefix("run ") for pid, name in processes(sim_trace).items()}
    exported = {(by_run[e["pid"]], e["args"]["tick_id"]): e for e in tick_events}
    for row in ticks:
        event = exported[(row["run_id"], row["tick_id"])]
        assert event["dur"] * 1000 == pytest.approx(row["duration_ns"], abs=0.5)
        assert event["args"]["detail"] == row["detail"]
    # Stage and request events exist only for ticks whose detail was kept.
    without_detail = {(row["run_id"], row["tick_id"]) for row in ticks if row["detail"] == "none"}
    spans = timed_events(sim_trace, ph="X", cat="stage") + timed_events(
        sim_trace, ph="X", cat="request"
    )
    assert len(spans) == sum(row["kind"] in ("stage", "request") for row in rows)
    assert not [e for e in spans if (by_run[e["pid"]], e["args"]["tick_id"]) in without_detail]


def test_concurrent_symbols_are_on_their_own_tracks(sim_trace: dict[str, Any]) -> None:
    names = threads(sim_trace)
    for event in timed_events(sim_trace):
        pid, thread = names[event["tid"]]
        assert pid == event["pid"]
        symbol = event["args"].get("symbol")
        if event["cat"] == "tick" or event["cat"] == "deadline":
            assert base_name(thread) == "ticks"
        elif symbol is None:
            assert base_name(thread) == "tick-wide"
        else:
            assert base_name(thread) == symbol
    # In the simulation, symbols' spread stages run at the same time on different tracks.
    spreads = defaultdict(list)
    for event in timed_events(sim_trace, name="spread"):
        spreads[(event["pid"], event["args"]["tick_id"])].append(event)
    concurrent = [group for group in spreads.values() if len(group) > 1]
    assert concurrent
    for group in concurrent:
        assert len({event["tid"] for event in group}) == len(group)
        starts = {event["ts"] for event in group}
        assert len(starts) == 1  # they all start when fetch_md ends
    # Tick-wide stages nest their requests: GET orderbook inside fetch_md.
    fetch = timed_events(sim_trace, name="fetch_md")[0]
    orderbook = [
        e
        for e in timed_events(sim_trace, name="GET orderbook")
        if e["pid"] == fetch["pid"] and e["args"]["tick_id"] == fetch["args"]["tick_id"]
    ]
    assert orderbook
    assert orderbook[0]["tid"] == fetch["tid"]
    # The simulation's symbol spans never overlap within a symbol: no extra lanes.
    assert not [name for _, name in names.values() if base_name(name) != name]


def test_guard_trips_and_requests_are_present(sim_trace: dict[str, Any], sim_root: Path) -> None:
    rows = rows_of(sim_root)
    guards = [row for row in rows if row["kind"] == "guard"]
    assert guards
    trips = timed_events(sim_trace, cat="guard")
    assert len(trips) == len(guards)
    names = threads(sim_trace)
    for event in trips:
        assert (event["ph"], event["s"]) == ("i", "t")
        assert event["name"] == f"guard {event['args']['reason']}"
        assert names[event["tid"]][1] == event["args"]["symbol"]
    assert Counter(e["args"]["reason"] for e in trips) == Counter(row["name"] for row in guards)
    requests = [row for row in rows if row["kind"] == "request"]
    exported = timed_events(sim_trace, cat="request")
    assert Counter(e["name"] for e in exported) == Counter(
        f"{row['verb']} {row['name']}" for row in requests
    )
    assert {"GET orderbook", "POST place_order", "DELETE cancel_order"} <= {
        e["name"] for e in exported
    }
    for event in exported:
        assert event["ph"] == "X"
        assert event["args"]["verb"] == event["name"].split()[0]


def test_deadline_misses_are_marked(sim_trace: dict[str, Any], sim_root: Path) -> None:
    ticks = [row for row in rows_of(sim_root) if row["kind"] == "tick"]
    missed = [row for row in ticks if row["deadline_missed"]]
    assert 0 < len(missed) < len(ticks)
    missed_events = timed_events(sim_trace, name="tick_total (deadline miss)")
    assert len(missed_events) == len(missed) == sim_trace["otherData"]["deadline_misses"]
    assert len(timed_events(sim_trace, name="tick_total")) == len(ticks) - len(missed)
    markers = {
        (e["pid"], e["args"]["tick_id"]): e for e in timed_events(sim_trace, name="deadline miss")
    }
    assert len(markers) == len(missed)
    for tick in missed_events:
        assert tick["cname"] == "terrible"
        assert tick["args"]["deadline_missed"] is True
        assert tick["args"]["deadline_ms"] == 110.0
        marker = markers[(tick["pid"], tick["args"]["tick_id"])]
        assert (marker["ph"], marker["tid"]) == ("i", tick["tid"])
        assert marker["ts"] == pytest.approx(tick["ts"] + 110_000)  # where the deadline passed
        assert tick["ts"] < marker["ts"] <= tick["ts"] + tick["dur"]
        assert marker["args"]["deadline_ms"] == 110.0
        assert marker["args"]["over_ms"] == pytest.approx(tick["dur"] / 1000 - 110.0)
    for tick in timed_events(sim_trace, name="tick_total"):
        assert "cname" not in tick
        assert tick["args"]["deadline_missed"] is False


def test_spans_that_overlap_without_nesting_get_extra_tracks(overlap_root: Path) -> None:
    trace = chrome_trace(tracekit.load(overlap_root))
    check_format(trace)  # includes the nesting check
    names = threads(trace)
    assert sorted(name for _, name in names.values()) == sorted(
        ["ticks", "ticks (b)", "tick-wide", "BTC-USD", "BTC-USD (b)", "ETH-USD", "€UR-USD"]
    )
    by_name = {name: tid for tid, (_, name) in names.items()}
    spreads = sorted(timed_events(trace, name="spread"), key=lambda e: e["ts"])
    assert [(e["ts"], e["dur"]) for e in spreads] == [
        (10_000, 30_000),
        (20_000, 40_000),
        (60_000, 30_000),
    ]
    assert [e["tid"] for e in spreads] == [
        by_name["BTC-USD"],
        by_name["BTC-USD (b)"],
        by_name["BTC-USD"],
    ]
    ticks = sorted(timed_events(trace, cat="tick"), key=lambda e: e["ts"])
    assert [(e["name"], e["tid"]) for e in ticks] == [
        ("tick_total (deadline miss)", by_name["ticks"]),
        ("tick_total", by_name["ticks (b)"]),
    ]
    # The miss marker sits on its tick's track; the guard trip on the symbol's first track.
    (marker,) = timed_events(trace, name="deadline miss")
    assert (marker["tid"], marker["ts"], marker["args"]["over_ms"]) == (
        by_name["ticks"],
        80_000,
        20.0,
    )
    (trip,) = timed_events(trace, cat="guard")
    assert (trip["tid"], trip["ts"], trip["name"]) == (by_name["BTC-USD"], 30_000, "guard vol_soft")
    (failed,) = timed_events(trace, cat="request")
    assert (failed["name"], failed["cname"]) == ("POST place_order", "bad")
    assert failed["args"] | {"tick_id": 1} == {
        "symbol": "ETH-USD",
        "tick_id": 1,
        "verb": "POST",
        "status": "error",
        "error_type": "ValueError",
        "detail": "sampled",
    }


def test_text_is_utf8_json_one_event_per_line(overlap_root: Path, tmp_path: Path) -> None:
    traces = tracekit.load(overlap_root)
    out = tmp_path / "out" / "trace.json"
    written = write_chrome_trace(traces, out)
    raw = out.read_bytes()
    assert "€UR-USD".encode() in raw
    assert b"\\u" not in raw  # Perfetto does not decode \u escapes
    trace = json.loads(raw)
    check_format(trace)
    lines = raw.decode().splitlines()
    assert lines[0] == '{"traceEvents":['
    assert len(lines) == len(trace["traceEvents"]) + 2
    assert lines[-1].startswith('],"displayTimeUnit":"ms","otherData":{')
    assert written.size_bytes == len(raw)
    assert written.events == len([e for e in trace["traceEvents"] if e["ph"] != "M"])
    assert (written.runs, written.ticks, written.deadline_misses, written.threads) == (
        ("overlap",),
        2,
        1,
        7,
    )
    assert [p.name for p in out.parent.iterdir()] == ["trace.json"]  # no temporary left
    # The same input gives the same bytes.
    assert dumps_chrome_trace(chrome_trace(traces)).encode() == raw


def test_wall_clock_time_is_where_the_viewer_shows_it() -> None:
    """The timeline starts at 0: process names and every tick's args give UTC times."""
    traces = tracekit.load(BASELINE).select(runs=["baseline-2"])
    trace = chrome_trace(traces, ticks=(5, 9))
    (name,) = [e["args"]["name"] for e in trace["traceEvents"] if e.get("name") == "process_name"]
    origin_ns = trace["otherData"]["origin_unix_ns"]
    first = datetime.fromtimestamp(origin_ns // 10**9, tz=UTC)
    assert (
        name
        == f"run baseline-2 (from {first:%Y-%m-%d %H:%M:%S}.{origin_ns // 10**6 % 1000:03d} UTC)"
    )
    for tick in timed_events(trace, cat="tick"):
        start_ns = origin_ns + round(tick["ts"] * 1000)
        seconds, rest = divmod(start_ns, 10**9)
        when = datetime.fromtimestamp(seconds, tz=UTC)
        assert tick["args"]["start_utc"] == f"{when:%Y-%m-%dT%H:%M:%S}.{rest:09d}Z"


@pytest.mark.parametrize(
    ("lane", "name"),
    [(0, "BTC-USD"), (1, "BTC-USD (b)"), (25, "BTC-USD (z)"), (26, "BTC-USD (aa)")],
)
def test_extra_lanes_are_named_with_letters(lane: int, name: str) -> None:
    assert lane_name("BTC-USD", lane) == name


def test_samples_slice_exports_and_nests() -> None:
    traces = tracekit.load(BASELINE).select(runs=["baseline-2"])
    trace = chrome_trace(traces, ticks=(1, 400))
    check_format(trace)
    ticks = timed_events(trace, cat="tick")
    assert sorted(e["args"]["tick_id"] for e in ticks) == list(range(1, 401))
    assert {e["args"]["tick_id"] for e in timed_events(trace)} <= set(range(1, 401))
    assert processes(trace) == {1: "run baseline-2"}
    assert trace["otherData"]["selection"]["runs"] == ["baseline-2"]
    assert trace["otherData"]["selection"]["ticks"] == "1-400"


def test_size_estimate_is_close_to_the_written_size(tmp_path: Path) -> None:
    traces = tracekit.load(BASELINE)
    estimate = estimate_chrome_trace(traces, ticks=(1, 1000))
    written = write_chrome_trace(traces, tmp_path / "t.json", ticks=(1, 1000))
    assert estimate.events == written.events
    assert 1.0 <= estimate.size_bytes / written.size_bytes <= 1.25  # errs on the large side


def test_size_guard_refuses_with_a_way_to_narrow(sim_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    with pytest.raises(ExportTooLargeError) as raised:
        write_chrome_trace(tracekit.load(sim_root), out, max_mb=0.01)
    assert TOO_LARGE.match(str(raised.value)), str(raised.value)
    assert "over the 0.01 MB limit" in str(raised.value)
    assert isinstance(raised.value, InputError)
    assert raised.value.exit_code == 2
    assert list(tmp_path.iterdir()) == []  # no file, no temporary


def test_selection_of_symbols_runs_and_ticks(sim_root: Path) -> None:
    traces = tracekit.load(sim_root).select(runs=["sim-6"], symbols=["BTC-USD"])
    trace = chrome_trace(traces, ticks=(10, 19))
    check_format(trace)
    names = {name for _, name in threads(trace).values()}
    assert names == {"ticks", "BTC-USD"}  # tick rows stay, as in analyze
    assert len(timed_events(trace, cat="tick")) == 10
    with pytest.raises(EmptyDataError, match="no record in the selection; widen"):
        chrome_trace(tracekit.load(sim_root), ticks=(500, 600))


@pytest.mark.parametrize(
    ("text", "expected"), [("100-200", (100, 200)), ("7", (7, 7)), (" 3 - 3 ", (3, 3))]
)
def test_tick_ranges(text: str, expected: tuple[int, int]) -> None:
    assert parse_tick_range(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a-b", "`ticks` 'a-b' is not a tick id range; use FIRST-LAST, for example 100-200"),
        ("-5", "`ticks` '-5' is not a tick id range; use FIRST-LAST, for example 100-200"),
        ("9-3", "`ticks` '9-3' starts after it ends; use FIRST-LAST with FIRST <= LAST"),
    ],
)
def test_bad_tick_ranges(text: str, message: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_tick_range(text)
    assert str(raised.value) == message


@pytest.mark.parametrize("max_mb", [0.0, -1.0, math.inf, math.nan])
def test_bad_size_limit(sim_root: Path, max_mb: float) -> None:
    with pytest.raises(InputError, match="`max_mb` must be a positive number of MB"):
        chrome_trace(tracekit.load(sim_root), max_mb=max_mb)


# -- the command --------------------------------------------------------------------------


def make_app() -> typer.Typer:
    """A root app with the export group registered as the lead registers it."""
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """tracekit (test app)."""

    app.add_typer(cli_export.export_app, name="export")
    return app


def invoke(*args: object) -> Any:
    return CliRunner().invoke(make_app(), [str(arg) for arg in args])


def test_command_writes_the_file_and_one_summary_line(sim_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    result = invoke(
        "export", "chrome", sim_root, "-o", out, "--run", "sim-5", "--ticks", "1-40",
        "--since", "2026-01-01T00:00:00Z", "--until", "2026-01-02",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    trace = json.loads(out.read_text(encoding="utf-8"))
    check_format(trace)
    assert processes(trace) == {1: "run sim-5"}
    misses = trace["otherData"]["deadline_misses"]
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(
        rf"Wrote {re.escape(str(out))}: 1 run, 40 ticks \({misses} deadline miss(es)?\), "
        r"[\d,]+ events on \d+ tracks, [\d.]+ MB; open it in https://ui.perfetto.dev",
        lines[0],
    ), lines[0]


def test_summary_line() -> None:
    written = ChromeExport(Path("t.json"), 1_234_567, 12_345, ("a", "b"), 1500, 1, 21)
    assert written.summary() == (
        "Wrote t.json: 2 runs, 1,500 ticks (1 deadline miss), 12,345 events on 21 tracks, "
        "1.2 MB; open it in https://ui.perfetto.dev"
    )
    written = ChromeExport(Path("t.json"), 45_000_000, 1, ("a",), 1, 0, 1)
    assert written.summary() == (
        "Wrote t.json: 1 run, 1 tick (0 deadline misses), 1 event on 1 track, 45 MB; "
        "open it in https://ui.perfetto.dev"
    )


def test_command_default_output_is_trace_json(
    sim_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("export", "chrome", sim_root, "--ticks", "1")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "trace.json").exists()
    assert cli_export.DEFAULT_MAX_MB == DEFAULT_MAX_MB


def test_command_size_guard(sim_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    result = invoke("export", "chrome", sim_root, "-o", out, "--max-mb", "0.001")
    assert isinstance(result.exception, ExportTooLargeError)
    assert TOO_LARGE.match(str(result.exception))
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ticks", "3-1"], "--ticks '3-1' starts after it ends"),
        (["--since", "yesterday"], "--since 'yesterday' is not an ISO 8601 time"),
        (["--run", "nope"], "run nope is not in the data; runs: sim-5, sim-6"),
    ],
)
def test_command_bad_options(sim_root: Path, args: list[str], message: str) -> None:
    result = invoke("export", "chrome", sim_root, *args)
    assert isinstance(result.exception, TracekitError)
    assert in_options(str(result.exception)).startswith(message)  # the CLI's Error: line
    assert result.exception.exit_code == 2


def test_command_skip_bad(sim_root: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for path in sorted(sim_root.rglob("*.parquet"))[:1]:
        (data / path.parent.name).mkdir(parents=True)
        (data / path.parent.name / path.name).write_bytes(path.read_bytes())
    (data / "junk.parquet").write_bytes(b"not parquet")
    result = invoke("export", "chrome", data, "-o", tmp_path / "t.json", "--skip-bad")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("Warning: skipped ")
    assert isinstance(invoke("export", "chrome", data).exception, InputError)


def test_importing_the_command_does_not_load_polars() -> None:
    code = "import sys, tracekit.cli.export; print('polars' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# -- the entry point (tracekit.cli.main, the registered command) ------------------------------


def test_entry_point_lists_export() -> None:
    help_text = run_in_process("--help").stdout
    assert re.search(r"\bexport\b", help_text), help_text


def test_entry_point_exports(sim_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    result = run_in_process("export", "chrome", sim_root, "-o", out, "--ticks", "1-20")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Wrote {out}: 2 runs, 40 ticks")
    check_format(json.loads(out.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["missing-folder"], "Error: missing-folder: no such file or folder"),
        (["SIM", "--max-mb", "0.001"], "Error: the export would be about"),
        (["SIM", "--ticks", "x"], "Error: --ticks 'x' is not a tick id range"),
        (["SIM", "--ticks", "900-901"], "Error: no record in the selection"),
    ],
)
def test_entry_point_bad_input_exits_2_with_one_error_line(
    sim_root: Path, tmp_path: Path, args: list[str], start: str
) -> None:
    args = [str(sim_root) if arg == "SIM" else arg for arg in args]
    result = run_in_process("export", "chrome", *args, "-o", tmp_path / "t.json")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(start), result.stderr
    assert not (tmp_path / "t.json").exists()
