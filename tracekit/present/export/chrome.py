"""Golden traces as a Chrome Trace Event Format timeline (ui.perfetto.dev, chrome://tracing).

The JSON object form of the format is written: ``{"traceEvents": [...],
"displayTimeUnit": "ms", "otherData": {...}}``. Track layout (``docs/export.md``):

* one process (``pid``) per run, named ``run <run id> (from <its first record, UTC>)``,
  so the wall-clock time is on screen although the timeline starts at 0;
* in it, a ``ticks`` thread with one ``tick_total`` complete event per tick (a missed
  tick is named ``tick_total (deadline miss)`` and has a ``deadline miss`` instant at
  the moment its deadline passed), a ``tick-wide`` thread for stages and requests
  without a symbol (``fetch_md``, ``emit``) and one thread per symbol;
* guard trips are thread-scoped instant events on their symbol's thread.

Within one thread any two complete events either nest or are disjoint, which is what
the viewers need to draw them as a stack. Spans of one track that overlap without
nesting (two concurrent tasks on the same symbol, ticks of several threads) are moved
to extra threads named ``BTC-USD (b)``, ``BTC-USD (c)``... (:func:`assign_lanes`; letters,
because the viewers append the thread id to every name);
:func:`nesting_violations` checks the rule on any event list.

Times are microseconds (the format's unit) relative to the earliest exported record,
written with at most three decimals: every value is an exact number of nanoseconds,
so ``ts + dur`` of a child never passes its parent's end through rounding. Each tick
also carries its wall-clock start (``args.start_utc``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import polars as pl

from tracekit._version import __version__
from tracekit.analysis.traceset import TraceSet
from tracekit.errors import EmptyDataError, ExportTooLargeError, InputError
from tracekit.store import schema
from tracekit.store.parquet import atomic_write

DEFAULT_MAX_MB: Final = 100.0
"""Default size limit of an export, in MB (10^6 bytes)."""

TICKS_TRACK: Final = "ticks"
"""Thread of the ``tick_total`` events and deadline-miss markers."""
TICK_WIDE_TRACK: Final = "tick-wide"
"""Thread of the stages, requests and guard trips that have no symbol."""

CATEGORY_TICK: Final = "tick"
CATEGORY_STAGE: Final = "stage"
CATEGORY_REQUEST: Final = "request"
CATEGORY_GUARD: Final = "guard"
CATEGORY_DEADLINE: Final = "deadline"

DEADLINE_MISS: Final = "deadline miss"
"""Name of the instant event marking the moment a tick's deadline passed."""
MISSED_TICK_NAME: Final = f"{schema.TICK_TOTAL} (deadline miss)"
"""Name of a missed tick's complete event (a distinct name gets a distinct colour)."""

COLOR_MISS: Final = "terrible"
COLOR_ERROR: Final = "bad"
"""``cname`` values (chrome://tracing's reserved colour names; Perfetto ignores them)."""

EVENT_BYTES: Final[Mapping[str, int]] = {
    "tick": 305,
    "miss": 220,
    "span": 185,
    "guard": 180,
}
"""Bytes an event of each kind takes in the file, on average (measured on the samples
and rounded up), for the size estimate made before anything is built."""

TEXT_BYTES_INCLUDED: Final = 48
"""Bytes of a record's text (run id, name, symbol, verb, error type) that
:data:`EVENT_BYTES` already counts; longer text is added to the estimate (twice: an
event may repeat it in its args and its thread name)."""

_THREAD_UNKNOWN: Final[Mapping[str, int]] = {"pid": 0, "tid": 0}
"""Placeholders (keeping pid and tid before args in the JSON), set once lanes are known."""
_NS_PER_US: Final = 1000
_NS_PER_MS: Final = 1_000_000
_BYTES_PER_MB: Final = 1_000_000


TickRange = tuple[int, int]
"""First and last tick id, inclusive."""


@dataclasses.dataclass(frozen=True)
class ExportEstimate:
    """What an export of a selection would hold, counted before it is built.

    Attributes:
        runs: Runs with at least one selected record.
        ticks: Tick records (one ``tick_total`` event each).
        deadline_misses: Ticks that missed their deadline (one more instant each).
        spans: Stage and request records (one complete event each).
        guard_trips: Guard-trip records (one instant event each).
        events: Timed events the file would hold (metadata events not counted).
        size_bytes: Estimated file size in bytes.
    """

    runs: int
    ticks: int
    deadline_misses: int
    spans: int
    guard_trips: int
    events: int
    size_bytes: int


@dataclasses.dataclass(frozen=True)
class ChromeExport:
    """What :func:`write_chrome_trace` wrote.

    Attributes:
        output: The file written.
        size_bytes: Its size in bytes.
        events: Timed events in it (complete and instant events).
        runs: The runs exported, one process each.
        ticks: Tick events.
        deadline_misses: Ticks that missed their deadline.
        threads: Threads (tracks) over all processes.
    """

    output: Path
    size_bytes: int
    events: int
    runs: tuple[str, ...]
    ticks: int
    deadline_misses: int
    threads: int

    def summary(self) -> str:
        """One line saying what was written, for the command line."""
        return (
            f"Wrote {self.output}: {_count(len(self.runs), 'run')}, "
            f"{_count(self.ticks, 'tick')} ({_count(self.deadline_misses, 'deadline miss')}), "
            f"{_count(self.events, 'event')} on {_count(self.threads, 'track')}, "
            f"{_format_mb(self.size_bytes)}; open it in https://ui.perfetto.dev"
        )


def _count(number: int, noun: str) -> str:
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{number:,} {noun if number == 1 else plural}"


# -- selection ---------------------------------------------------------------------------

_TICK_RANGE = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")


def parse_tick_range(text: str) -> TickRange:
    """Parse ``--ticks``: ``100-200`` (inclusive) or a single tick id ``150``.

    Raises:
        InputError: The text is not such a range, or its first id is after its last.
    """
    match = _TICK_RANGE.fullmatch(text)
    if match is None:
        raise InputError(
            f"`ticks` {text!r} is not a tick id range; use FIRST-LAST, for example 100-200"
        )
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    if first > last:
        raise InputError(
            f"`ticks` {text!r} starts after it ends; use FIRST-LAST with FIRST <= LAST"
        )
    return first, last


def _selected(traces: TraceSet, ticks: TickRange | None) -> pl.LazyFrame:
    frame = traces.scan()
    if ticks is not None:
        frame = frame.filter(pl.col("tick_id").is_between(ticks[0], ticks[1], closed="both"))
    return frame


def _check_max_mb(max_mb: float) -> None:
    if not (math.isfinite(max_mb) and max_mb > 0):
        raise InputError(f"`max_mb` must be a positive number of MB, got {max_mb:g}")


_TEXT_BYTES = (
    pl.sum_horizontal(
        pl.col(column).str.len_bytes().cast(pl.Int64).fill_null(0)
        for column in ("run_id", "name", "symbol", "verb", "error_type")
    )
    - TEXT_BYTES_INCLUDED
).clip(lower_bound=0)
"""Per record, the bytes of its text beyond what :data:`EVENT_BYTES` allows for: a
few records with huge names (a few KB of Parquet can hold gigabytes of repeated
text) count at their real size, so the estimate refuses them before anything is built."""


def estimate_chrome_trace(traces: TraceSet, *, ticks: TickRange | None = None) -> ExportEstimate:
    """Count what an export of the selection would hold, reading only a few columns.

    Args:
        traces: The selected traces (see :meth:`TraceSet.select`).
        ticks: Only tick ids in this inclusive range; None keeps every tick.
    """
    kind = pl.col("kind")
    counts = (
        _selected(traces, ticks)
        .select(
            pl.col("run_id").n_unique().alias("runs"),
            (kind == schema.KIND_TICK).sum().alias("ticks"),
            ((kind == schema.KIND_TICK) & pl.col("deadline_missed").fill_null(False))
            .sum()
            .alias("misses"),
            kind.is_in([schema.KIND_STAGE, schema.KIND_REQUEST]).sum().alias("spans"),
            (kind == schema.KIND_GUARD).sum().alias("guards"),
            _TEXT_BYTES.sum().alias("text"),
        )
        .collect()
        .row(0, named=True)
    )
    ticks_n, misses, spans, guards = (
        int(counts[key] or 0) for key in ("ticks", "misses", "spans", "guards")
    )
    size = (
        ticks_n * EVENT_BYTES["tick"]
        + misses * EVENT_BYTES["miss"]
        + spans * EVENT_BYTES["span"]
        + guards * EVENT_BYTES["guard"]
        + 2 * int(counts["text"] or 0)
    )
    return ExportEstimate(
        runs=int(counts["runs"] or 0),
        ticks=ticks_n,
        deadline_misses=misses,
        spans=spans,
        guard_trips=guards,
        events=ticks_n + misses + spans + guards,
        size_bytes=size,
    )


def _format_mb(size_bytes: int | float) -> str:
    mb = size_bytes / _BYTES_PER_MB
    return f"{mb:,.0f} MB" if mb >= 10 else f"{mb:.1f} MB" if mb >= 0.1 else f"{mb:.2f} MB"


# -- lanes and nesting -------------------------------------------------------------------


def assign_lanes(intervals: Sequence[tuple[int, int]]) -> list[int]:
    """Give each ``(start, end)`` interval a lane so that each lane nests properly.

    Within a lane, any two intervals are disjoint (touching ends count as disjoint)
    or one contains the other. Intervals go to the first lane where they fit, so a
    set that already nests stays in lane 0 and extra lanes appear only for spans
    that overlap without nesting.

    Args:
        intervals: ``(start, end)`` pairs with ``start <= end``, in any unit.

    Returns:
        The lane of each interval, from 0, in the order given.
    """
    order = sorted(range(len(intervals)), key=lambda i: (intervals[i][0], -intervals[i][1]))
    open_ends: list[list[int]] = []  # per lane: ends of the open intervals, outermost first
    lanes = [0] * len(intervals)
    for index in order:
        start, end = intervals[index]
        for lane, stack in enumerate(open_ends):
            while stack and stack[-1] <= start:
                stack.pop()
            if not stack or stack[-1] >= end:
                stack.append(end)
                lanes[index] = lane
                break
        else:
            open_ends.append([end])
            lanes[index] = len(open_ends) - 1
    return lanes


def nesting_violations(events: Iterable[Mapping[str, Any]], limit: int = 10) -> list[str]:
    """Pairs of complete events on one thread that overlap without nesting.

    Times are compared in whole nanoseconds, as ui.perfetto.dev reads them
    (``ts`` and ``dur`` in microseconds with up to three decimals).

    Args:
        events: Trace events; only ``"ph": "X"`` events are checked.
        limit: Stop after this many violations.

    Returns:
        One description per violation; empty when every thread nests properly.
    """
    by_thread: dict[tuple[Any, Any], list[tuple[int, int, str]]] = defaultdict(list)
    for event in events:
        if event.get("ph") != "X":
            continue
        start = round(float(event["ts"]) * _NS_PER_US)
        end = start + round(float(event["dur"]) * _NS_PER_US)
        by_thread[(event.get("pid"), event.get("tid"))].append((start, end, str(event.get("name"))))
    problems: list[str] = []
    for (pid, tid), spans in sorted(by_thread.items(), key=lambda item: str(item[0])):
        spans.sort(key=lambda span: (span[0], -span[1]))
        stack: list[tuple[int, int, str]] = []
        for span in spans:
            while stack and stack[-1][1] <= span[0]:
                stack.pop()
            if stack and stack[-1][1] < span[1]:
                outer = stack[-1]
                problems.append(
                    f"pid {pid} tid {tid}: {span[2]!r} [{span[0]}, {span[1]}] ns overlaps "
                    f"{outer[2]!r} [{outer[0]}, {outer[1]}] ns without nesting"
                )
                if len(problems) >= limit:
                    return problems
            stack.append(span)
    return problems


# -- building the trace ------------------------------------------------------------------


def _us(ns: int) -> int | float:
    """Nanoseconds as microseconds: an int when whole, else a float with <= 3 decimals."""
    whole, rest = divmod(ns, _NS_PER_US)
    return whole if rest == 0 else ns / _NS_PER_US


def lane_name(base: str, lane: int) -> str:
    """The name of a track's ``lane``-th thread: ``BTC-USD``, ``BTC-USD (b)``, ... ``(aa)``.

    Letters, not numbers: Perfetto and chrome://tracing show every thread as
    ``<name> <tid>``, and ``BTC-USD #2 7`` reads as two counters.
    """
    if lane == 0:
        return base
    letters = ""
    number = lane + 1  # lane 1 is "b": the base thread is "a"
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return f"{base} ({letters})"


def _utc(ns: int) -> str:
    """Unix nanoseconds as ISO 8601 UTC with all nine decimals, e.g. ``...T00:00:01.250000000Z``."""
    seconds, rest = divmod(ns, 1_000_000_000)
    whole = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{rest:09d}Z"


def _args(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@dataclasses.dataclass
class _Timed:
    """A complete (``dur`` set) or instant event before it has a thread."""

    start_ns: int
    duration_ns: int | None
    event: dict[str, Any]
    anchor: int | None = None
    """For an instant: the index of the span of its track whose thread it goes on."""


@dataclasses.dataclass
class _Track:
    """The events of one base track (ticks, tick-wide or a symbol) of one run."""

    name: str
    spans: list[_Timed] = dataclasses.field(default_factory=list)
    instants: list[_Timed] = dataclasses.field(default_factory=list)


def chrome_trace(
    traces: TraceSet,
    *,
    ticks: TickRange | None = None,
    max_mb: float = DEFAULT_MAX_MB,
) -> dict[str, Any]:
    """The selected records as a Chrome Trace Event Format object.

    Every selected tick becomes a ``tick_total`` event; stage and request events exist
    only for ticks whose detail was kept (``sampled`` or ``deadline_miss``).

    Args:
        traces: The traces to export, with their selection (see :meth:`TraceSet.select`;
            with ``symbols``, tick-wide stages and requests are left out, as in analysis).
        ticks: Only tick ids in this inclusive range; None keeps every tick.
        max_mb: Refuse exports estimated above this many MB (10^6 bytes).

    Returns:
        ``{"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}``, ready
        for :func:`json.dumps`.

    Raises:
        ExportTooLargeError: The export is estimated above ``max_mb``.
        EmptyDataError: The selection holds no record.
        InputError: ``max_mb`` is not a positive number.
    """
    _check_max_mb(max_mb)
    from tracekit.analysis.sources import reading

    with reading(traces.files):
        return _chrome_trace(traces, ticks, max_mb)


def _chrome_trace(traces: TraceSet, ticks: TickRange | None, max_mb: float) -> dict[str, Any]:
    estimate = estimate_chrome_trace(traces, ticks=ticks)
    if estimate.events == 0:
        raise EmptyDataError(
            "no record in the selection; widen `runs`, `since`/`until`, `ticks` or `symbols`"
        )
    if estimate.size_bytes > max_mb * _BYTES_PER_MB:
        raise ExportTooLargeError(
            f"the export would be about {_format_mb(estimate.size_bytes)} "
            f"({estimate.events:,} events), over the {max_mb:g} MB limit; narrow the "
            "selection with `runs`, `since`/`until` or `ticks` (or raise `max_mb`)"
        )
    selected = _selected(traces, ticks)
    nesting = [c for c in schema.NESTING_COLUMNS if c in selected.collect_schema().names()]
    data = (
        selected.select(*schema.COLUMN_NAMES, *nesting)
        .sort(["run_id", "start_unix_ns", "tick_id", "kind", "name", "symbol"], nulls_last=True)
        .collect(engine="streaming")
    )
    return _build(data, traces, ticks, estimate)


def _build(
    data: pl.DataFrame, traces: TraceSet, ticks: TickRange | None, estimate: ExportEstimate
) -> dict[str, Any]:
    origin_ns = int(data["start_unix_ns"].min())  # type: ignore[arg-type]
    runs: list[str] = sorted(data["run_id"].unique().to_list())
    # Per run: base track key -> track. None is the ticks track, "" the tick-wide one.
    tracks: dict[str, dict[str | None, _Track]] = {run: {} for run in runs}

    def track(run: str, key: str | None) -> _Track:
        found = tracks[run].get(key)
        if found is None:
            name = TICKS_TRACK if key is None else key or TICK_WIDE_TRACK
            found = tracks[run][key] = _Track(name)
        return found

    for row in data.iter_rows(named=True):
        run, kind, start_ns = row["run_id"], row["kind"], row["start_unix_ns"]
        ts = _us(start_ns - origin_ns)
        if kind == schema.KIND_TICK:
            _add_tick(track(run, None), row, ts, origin_ns)
        elif kind in (schema.KIND_STAGE, schema.KIND_REQUEST):
            is_request = kind == schema.KIND_REQUEST
            name = f"{row['verb']} {row['name']}" if is_request and row["verb"] else row["name"]
            event: dict[str, Any] = {
                "ph": "X",
                "name": name,
                "cat": CATEGORY_REQUEST if is_request else CATEGORY_STAGE,
                "ts": ts,
                "dur": _us(row["duration_ns"]),
                **_THREAD_UNKNOWN,
                "args": _args(
                    symbol=row["symbol"],
                    tick_id=row["tick_id"],
                    verb=row["verb"],
                    status=row["status"],
                    error_type=row["error_type"],
                    detail=row["detail"],
                    span_id=row.get(schema.SPAN_ID),  # record_parents: the span's number
                    parent_span_id=row.get(schema.PARENT_SPAN_ID),
                ),
            }
            if row["status"] == schema.STATUS_ERROR:
                event["cname"] = COLOR_ERROR
            track(run, row["symbol"] or "").spans.append(
                _Timed(start_ns, row["duration_ns"], event)
            )
        elif kind == schema.KIND_GUARD:
            event = {
                "ph": "i",
                "s": "t",
                "name": f"guard {row['name']}",
                "cat": CATEGORY_GUARD,
                "ts": ts,
                **_THREAD_UNKNOWN,
                "args": _args(
                    reason=row["name"],
                    symbol=row["symbol"],
                    tick_id=row["tick_id"],
                    detail=row["detail"],
                ),
            }
            track(run, row["symbol"] or "").instants.append(_Timed(start_ns, None, event))

    timed: list[_Timed] = []
    metadata: list[dict[str, Any]] = []
    # tids are unique in the file and never equal a pid: Perfetto keys threads by tid
    # alone and takes tid == pid for a process's main thread.
    next_tid = len(runs) + 1
    for pid, run in enumerate(runs, start=1):
        first_ns = min(
            (
                item.start_ns
                for base_track in tracks[run].values()
                for item in (*base_track.spans, *base_track.instants)
            ),
            default=origin_ns,
        )
        process = f"run {run} (from {_utc(first_ns)[:23].replace('T', ' ')} UTC)"
        metadata.append(_meta("process_name", pid, None, {"name": process}))
        metadata.append(_meta("process_sort_index", pid, None, {"sort_index": pid}))
        keys = sorted(tracks[run], key=lambda key: (key is not None, key != "", key or ""))
        for key in keys:
            base = tracks[run][key]
            lanes = assign_lanes(
                [(span.start_ns, span.start_ns + (span.duration_ns or 0)) for span in base.spans]
            )
            lane_count = max(lanes, default=0) + 1
            tids = list(range(next_tid, next_tid + lane_count))
            next_tid += lane_count
            for lane, tid in enumerate(tids):
                name = lane_name(base.name, lane)
                metadata.append(_meta("thread_name", pid, tid, {"name": name}))
                metadata.append(_meta("thread_sort_index", pid, tid, {"sort_index": tid}))
            for span, lane in zip(base.spans, lanes, strict=True):
                span.event["pid"], span.event["tid"] = pid, tids[lane]
                timed.append(span)
            for instant in base.instants:
                # A deadline-miss marker goes with its tick; guard trips on the first lane.
                anchor = instant.anchor
                tid = tids[0] if anchor is None else tids[lanes[anchor]]
                instant.event["pid"], instant.event["tid"] = pid, tid
                timed.append(instant)

    # Parents before children: by start, then longest first; instants after spans.
    timed.sort(key=lambda item: (item.start_ns, -(item.duration_ns or -1)))
    events = metadata + [item.event for item in timed]
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": _other_data(traces, ticks, runs, origin_ns, estimate, next_tid),
    }


def _add_tick(ticks_track: _Track, row: Mapping[str, Any], ts: int | float, origin_ns: int) -> None:
    missed = bool(row["deadline_missed"])
    deadline_ns = row["deadline_ns"]
    duration_ns = row["duration_ns"]
    event: dict[str, Any] = {
        "ph": "X",
        "name": MISSED_TICK_NAME if missed else schema.TICK_TOTAL,
        "cat": CATEGORY_TICK,
        "ts": ts,
        "dur": _us(duration_ns),
        **_THREAD_UNKNOWN,
        "args": _args(
            tick_id=row["tick_id"],
            start_utc=_utc(row["start_unix_ns"]),
            detail=row["detail"],
            deadline_ms=None if deadline_ns is None else deadline_ns / _NS_PER_MS,
            deadline_missed=row["deadline_missed"],
            parallel_symbols=row["parallel_symbols"],
            guard_trips=row["guard_trips"],
            request_count=row["request_count"],
            status=row["status"],
            error_type=row["error_type"],
        ),
    }
    if missed:
        event["cname"] = COLOR_MISS
    elif row["status"] == schema.STATUS_ERROR:
        event["cname"] = COLOR_ERROR
    ticks_track.spans.append(_Timed(row["start_unix_ns"], duration_ns, event))
    if not missed:
        return
    # The marker sits where the deadline passed, inside the tick (or at its end).
    start_ns = row["start_unix_ns"]
    at_ns = start_ns + min(duration_ns, deadline_ns if deadline_ns is not None else duration_ns)
    ticks_track.instants.append(
        _Timed(
            at_ns,
            None,
            {
                "ph": "i",
                "s": "t",
                "name": DEADLINE_MISS,
                "cat": CATEGORY_DEADLINE,
                "ts": _us(at_ns - origin_ns),
                **_THREAD_UNKNOWN,
                "args": _args(
                    tick_id=row["tick_id"],
                    deadline_ms=None if deadline_ns is None else deadline_ns / _NS_PER_MS,
                    tick_total_ms=duration_ns / _NS_PER_MS,
                    over_ms=None
                    if deadline_ns is None
                    else (duration_ns - deadline_ns) / _NS_PER_MS,
                    detail=row["detail"],
                ),
            },
            anchor=len(ticks_track.spans) - 1,
        )
    )


def _meta(name: str, pid: int, tid: int | None, args: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {"ph": "M", "name": name, "pid": pid}
    if tid is not None:
        event["tid"] = tid
    event["args"] = args
    return event


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat().replace("+00:00", "Z")


def _other_data(
    traces: TraceSet,
    ticks: TickRange | None,
    runs: Sequence[str],
    origin_ns: int,
    estimate: ExportEstimate,
    next_tid: int,
) -> dict[str, Any]:
    selection = traces.selection.to_dict()
    selection["ticks"] = None if ticks is None else f"{ticks[0]}-{ticks[1]}"
    rates = traces.sample_rates
    return {
        "generator": f"tracekit {__version__}",
        "schema_version": schema.SCHEMA_VERSION,
        "runs": list(runs),
        "sample_rates": {run: rates[run] for run in runs if run in rates},
        "origin_unix_ns": origin_ns,
        "origin": _iso(origin_ns),
        "time_note": (
            "ts is microseconds since origin (the earliest exported record); each process "
            "name gives its run's first wall-clock time, each tick its args.start_utc"
        ),
        "detail_note": (
            "every tick has a tick_total event; stage and request events exist only for "
            "ticks whose detail is sampled or deadline_miss"
        ),
        "selection": selection,
        "ticks": estimate.ticks,
        "deadline_misses": estimate.deadline_misses,
        "threads": next_tid - len(runs) - 1,
    }


# -- writing -----------------------------------------------------------------------------


def _json_chunks(trace: Mapping[str, Any], batch: int = 4096) -> Iterator[str]:
    """The JSON text in pieces of ``batch`` events, one event per line."""
    # One encoder for every event: json.dumps with options builds a new one per call.
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    events = trace["traceEvents"]
    yield '{"traceEvents":[\n'
    for first in range(0, len(events), batch):
        lines = ",\n".join(encode(event) for event in events[first : first + batch])
        yield lines if first == 0 else ",\n" + lines
    rest = {key: value for key, value in trace.items() if key != "traceEvents"}
    yield "\n]" + ("," + encode(rest)[1:] if rest else "}") + "\n"


def dumps_chrome_trace(trace: Mapping[str, Any]) -> str:
    """The trace as JSON text, one event per line.

    Non-ASCII text is written as UTF-8 rather than ``\\u`` escapes, which
    Perfetto's JSON reader does not decode.
    """
    return "".join(_json_chunks(trace))


def write_chrome_trace(
    traces: TraceSet,
    output: str | Path,
    *,
    ticks: TickRange | None = None,
    max_mb: float = DEFAULT_MAX_MB,
) -> ChromeExport:
    """Export the selection to ``output`` (see :func:`chrome_trace`).

    The file is written under a temporary name and renamed into place, so a
    refused or failed export leaves no partial file behind.

    Args:
        traces: The traces to export, with their selection.
        output: The JSON file to write (its folder is created).
        ticks: Only tick ids in this inclusive range; None keeps every tick.
        max_mb: Refuse exports estimated above this many MB.

    Returns:
        What was written.

    Raises:
        ExportTooLargeError: The export is estimated above ``max_mb``.
        EmptyDataError: The selection holds no record.
        InputError: The file cannot be written.
    """
    output = Path(output)
    trace = chrome_trace(traces, ticks=ticks, max_mb=max_mb)

    def write(temporary: Path) -> int:
        size_bytes = 0
        with open(temporary, "wb") as file:
            for chunk in _json_chunks(trace):  # never the whole text in memory
                size_bytes += file.write(chunk.encode("utf-8"))
        return size_bytes

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        size_bytes = atomic_write(output, write)
    except OSError as exc:
        raise InputError(f"{output}: cannot write the export ({exc.strerror or exc})") from None
    other = trace["otherData"]
    return ChromeExport(
        output=output,
        size_bytes=size_bytes,
        events=sum(1 for event in trace["traceEvents"] if event["ph"] != "M"),
        runs=tuple(other["runs"]),
        ticks=other["ticks"],
        deadline_misses=other["deadline_misses"],
        threads=other["threads"],
    )
