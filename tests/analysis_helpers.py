"""Hand-built golden traces with known values, and references computed without tracekit.

Used by ``test_analysis.py`` and ``test_analyze_cli.py``. Every dataset is written
with the package's own schema (``tracekit.store.schema.arrow_schema`` and its metadata
keys) so the files have the tracer's layout, but every duration, detail and guard
trip is chosen here, deterministically (``random.Random`` with a fixed seed, no wall clock).

The reference figures (:func:`reference_latency` and friends) read the Parquet files
back with pyarrow alone and compute with numpy, so they share no code with
``tracekit.analysis``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tracekit.store import schema

MS = 1_000_000
EPOCH_NS = 1_767_225_600_000_000_000
"""2026-01-01T00:00:00Z."""
TICK_INTERVAL_NS = 250 * MS
DEADLINE_NS = 200 * MS
WINDOW_TICKS = 100
HUGE_NS = 9_000 * MS
"""Added to stage and request spans of ``deadline_miss`` ticks: if analysis used them,
p50/max/mean would move by seconds."""

RUNS = {"alpha": (240, EPOCH_NS), "beta": (160, EPOCH_NS + 20_000 * MS)}
"""Run id -> (ticks, wall-clock start) of the known dataset."""
SYMBOLS = ("BTC", "ETH")
QUANTILES = (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99))
MIN_N = {"p50_ms": 2, "p95_ms": 20, "p99_ms": 100}


def metadata(run_id: str, *, version: str = "1", window: int = 1, ticks: int = 0) -> dict[str, str]:
    """The key-value metadata of a golden file, as the tracer writes it."""
    return {
        schema.META_SCHEMA_VERSION: version,
        schema.META_TRACEKIT_VERSION: "0.1.0",
        schema.META_RUN_ID: run_id,
        schema.META_HOST: "tests",
        schema.META_PID: "0",
        schema.META_CONFIG: "{}",
        schema.META_SAMPLE_RATE: "0.5",
        schema.META_SAMPLE_SEED: "7",
        schema.META_WINDOW: str(window),
        schema.META_TICKS: str(ticks),
    }


@dataclasses.dataclass(frozen=True)
class Tick:
    """One tick with its detail; ``spans`` as (kind, name, symbol, verb, error_type,
    start_unix_ns, duration_ns), ``guards`` as (reason, symbol, at_unix_ns)."""

    tick_id: int
    start_ns: int
    duration_ns: int | None
    detail: str = schema.DETAIL_SAMPLED
    spans: tuple[tuple[Any, ...], ...] = ()
    guards: tuple[tuple[str, str | None, int], ...] = ()
    parallel_symbols: int | None = 1
    deadline_ns: int = DEADLINE_NS

    def rows(self, run_id: str) -> list[dict[str, Any]]:
        """The tick's schema-v1 rows: the tick, its spans, its guard trips."""
        missed = self.duration_ns is not None and self.duration_ns > self.deadline_ns
        common = {"run_id": run_id, "tick_id": self.tick_id, "detail": self.detail}
        rows = [
            {
                **common,
                "kind": schema.KIND_TICK,
                "name": schema.TICK_TOTAL,
                "status": schema.STATUS_OK,
                "start_unix_ns": self.start_ns,
                "duration_ns": self.duration_ns,
                "deadline_ns": self.deadline_ns,
                "deadline_missed": missed,
                "parallel_symbols": self.parallel_symbols,
                "guard_trips": len(self.guards),
                "request_count": sum(span[0] == schema.KIND_REQUEST for span in self.spans),
            }
        ]
        for kind, name, symbol, verb, error_type, start, duration in self.spans:
            rows.append(
                {
                    **common,
                    "kind": kind,
                    "name": name,
                    "symbol": symbol,
                    "verb": verb,
                    "status": schema.STATUS_OK if error_type is None else schema.STATUS_ERROR,
                    "error_type": error_type,
                    "start_unix_ns": start,
                    "duration_ns": duration,
                }
            )
        for reason, symbol, at_ns in self.guards:
            rows.append(
                {
                    **common,
                    "kind": schema.KIND_GUARD,
                    "name": reason,
                    "symbol": symbol,
                    "status": schema.STATUS_OK,
                    "start_unix_ns": at_ns,
                }
            )
        return rows


def golden_table(run_id: str, ticks: Sequence[Tick], meta: dict[str, str]) -> pa.Table:
    """A schema-v1 table (``tracekit.store.schema.arrow_schema``) of ``ticks``."""
    rows = [row for tick in ticks for row in tick.rows(run_id)]
    return pa.Table.from_pylist(rows, schema=schema.arrow_schema(meta))


def write_run(
    root: Path,
    run_id: str,
    ticks: Sequence[Tick],
    *,
    window_ticks: int = WINDOW_TICKS,
    version: str = "1",
) -> list[Path]:
    """Write ``ticks`` as golden files of ``window_ticks`` under ``root/run_id=<run>/``."""
    folder = root / f"{schema.PARTITION_KEY}={run_id}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for window, first in enumerate(range(0, len(ticks), window_ticks), start=1):
        chunk = ticks[first : first + window_ticks]
        meta = metadata(run_id, version=version, window=window, ticks=len(chunk))
        path = folder / f"golden-{window:06d}.parquet"
        pq.write_table(golden_table(run_id, chunk, meta), path, compression="zstd")
        paths.append(path)
    return paths


def _add_span(
    rng: random.Random,
    spans: list[tuple[Any, ...]],
    tick_start_ns: int,
    extra_ns: int,
    kind: str,
    name: str,
    symbol: str | None,
    verb: str | None,
    base_ms: float,
) -> None:
    """Append a span of about ``base_ms`` (x0.5-1.5); one request in ten fails."""
    error = "TimeoutError" if kind == schema.KIND_REQUEST and rng.random() < 0.1 else None
    value = int(base_ms * MS * (0.5 + rng.random())) + extra_ns
    start = tick_start_ns + len(spans) * 1000
    spans.append((kind, name, symbol, verb, error, start, value))


def known_ticks(run_id: str, count: int, start_ns: int) -> list[Tick]:
    """The ticks of one run of the known dataset.

    Half the ticks are sampled. Every 9th tick takes 260-300 ms and misses its
    200 ms deadline; an unsampled miss keeps its detail as ``deadline_miss``, with
    every span :data:`HUGE_NS` longer than any sampled one. Guards trip on every
    tick, sampled or not; ``latency_hard`` (no symbol) on every missed tick.
    """
    rng = random.Random(f"tracekit-tests-{run_id}")
    ticks = []
    for tick_id in range(1, count + 1):
        start = start_ns + (tick_id - 1) * TICK_INTERVAL_NS
        sampled = rng.random() < 0.5
        missed = tick_id % 9 == 0
        duration = (260 + rng.randrange(41)) * MS if missed else rng.randrange(60, 180) * MS
        duration += rng.randrange(1000)  # sub-microsecond digits, to catch rounding
        if sampled:
            detail = schema.DETAIL_SAMPLED
        elif missed and tick_id % 4:
            detail = schema.DETAIL_DEADLINE_MISS
        else:  # not sampled; a few misses lose their detail (as without keep_missed_detail)
            detail = schema.DETAIL_NONE
        active = SYMBOLS if tick_id % 3 else SYMBOLS[:1]
        spans: list[tuple[Any, ...]] = []
        add = functools.partial(
            _add_span, rng, spans, start, HUGE_NS if detail == schema.DETAIL_DEADLINE_MISS else 0
        )
        add(schema.KIND_STAGE, "fetch_md", None, None, 22)
        add(schema.KIND_REQUEST, "orderbook", None, "GET", 18)
        for symbol in active:
            add(schema.KIND_STAGE, "spread", symbol, None, 14)
            add(schema.KIND_STAGE, "guards", symbol, None, 5)
            if rng.random() < 0.6:
                add(schema.KIND_REQUEST, "cancel_order", symbol, "DELETE", 16)
            add(schema.KIND_REQUEST, "place_order", symbol, "POST", 22)
        add(schema.KIND_STAGE, "emit", None, None, 6)
        guards: list[tuple[str, str | None, int]] = []
        for symbol in active:
            if rng.random() < 0.15:
                guards.append(("vol_soft", symbol, start + 5 * MS))
            if rng.random() < 0.05:
                guards.append(("position_limit", symbol, start + 6 * MS))
        if missed:
            guards.append(("latency_hard", None, start + 7 * MS))
        ticks.append(
            Tick(
                tick_id,
                start,
                duration,
                detail=detail,
                spans=tuple(spans) if detail != schema.DETAIL_NONE else (),
                guards=tuple(guards),
                parallel_symbols=len(active),
            )
        )
    return ticks


def write_known_dataset(root: Path) -> list[Path]:
    """Two runs (alpha: 240 ticks, beta: 160 ticks starting 20 s later) in 5 files."""
    paths = []
    for run_id, (count, start_ns) in RUNS.items():
        paths += write_run(root, run_id, known_ticks(run_id, count, start_ns))
    return paths


def write_tiny_dataset(root: Path) -> list[Path]:
    """One run of 50 sampled ticks: stage ``a`` has n=50, stage ``b`` n=10.

    Each of ``a``, ``b`` and the GET ``quote`` request has one outlier of 500 ms
    that is its maximum: a percentile that fell back to the maximum would show it.
    Parallel symbols are never set (null), so their mean is null.
    """
    ticks = []
    for tick_id in range(1, 51):
        start = EPOCH_NS + (tick_id - 1) * TICK_INTERVAL_NS
        a = 500 * MS if tick_id == 50 else (10 + tick_id % 7) * MS
        spans: list[tuple[Any, ...]] = [("stage", "a", None, None, None, start, a)]
        if tick_id % 5 == 0:
            b = 500 * MS if tick_id == 50 else (20 + tick_id % 3) * MS
            spans.append(("stage", "b", None, None, None, start + 1, b))
            spans.append(("request", "quote", None, "GET", None, start + 2, b))
        ticks.append(
            Tick(tick_id, start, (50 + tick_id) * MS, spans=tuple(spans), parallel_symbols=None)
        )
    return write_run(root, "tiny", ticks)


def write_microsecond_dataset(root: Path) -> list[Path]:
    """One run of 200 sampled ticks whose stages span four magnitudes.

    ``decode`` takes 4-6 µs, ``encode`` 0.6-1 ms, ``spread`` 10-14 ms; the GET
    ``quote`` request 250-350 µs. A table or plot with fixed decimals shows
    ``decode`` as 0.00 ms.
    """
    rng = random.Random("tracekit-tests-microseconds")
    ticks = []
    for tick_id in range(1, 201):
        start = EPOCH_NS + (tick_id - 1) * TICK_INTERVAL_NS
        decode = rng.randrange(4_000, 6_000)
        encode = rng.randrange(600_000, 1_000_000)
        quote = rng.randrange(250_000, 350_000)
        spread = rng.randrange(10 * MS, 14 * MS)
        spans: list[tuple[Any, ...]] = [
            ("stage", "decode", None, None, None, start, decode),
            ("request", "quote", None, "GET", None, start + decode, quote),
            ("stage", "spread", None, None, None, start + decode + quote, spread),
            ("stage", "encode", None, None, None, start + decode + quote + spread, encode),
        ]
        total = decode + quote + spread + encode + 1_000
        ticks.append(Tick(tick_id, start, total, spans=tuple(spans), parallel_symbols=1))
    return write_run(root, "micro", ticks)


# -- references computed without tracekit ----------------------------------------------


def read_rows(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """All rows of the files, read with pyarrow alone."""
    rows: list[dict[str, Any]] = pa.concat_tables([pq.read_table(p) for p in paths]).to_pylist()
    return rows


def files_under(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


Key = Callable[[dict[str, Any]], tuple[Any, ...]]


def no_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return ()


def latency_figures(durations_ns: Sequence[int]) -> dict[str, Any]:
    """n, p50/p95/p99 (numpy linear; None below the minimum n), max and mean in ms."""
    values = np.asarray(durations_ns, dtype=np.float64) / MS
    figures: dict[str, Any] = {"n": len(values)}
    for label, q in QUANTILES:
        estimable = len(values) >= MIN_N[label]
        figures[label] = float(np.quantile(values, q, method="linear")) if estimable else None
    figures["max_ms"] = float(values.max())
    figures["mean_ms"] = float(values.mean())
    return figures


def reference_stages(rows: list[dict[str, Any]], key: Key = no_key) -> dict[tuple[Any, ...], Any]:
    """(stage, *key) -> latency figures: sampled stage rows, and every tick row."""
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for row in rows:
        if row["kind"] == "stage" and row["detail"] == "sampled":
            groups[(row["name"], *key(row))].append(row["duration_ns"])
        elif row["kind"] == "tick":
            groups[("tick_total", *key(row))].append(row["duration_ns"])
    return {group: latency_figures(values) for group, values in groups.items()}


def reference_requests(rows: list[dict[str, Any]], key: Key = no_key) -> dict[tuple[Any, ...], Any]:
    """(verb, api, *key) -> latency figures and error_share, sampled requests only."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["kind"] == "request" and row["detail"] == "sampled":
            groups[(row["verb"], row["name"], *key(row))].append(row)
    result = {}
    for group, members in groups.items():
        figures = latency_figures([row["duration_ns"] for row in members])
        errors = sum(row["status"] == "error" for row in members)
        figures["error_share"] = errors / len(members)
        result[group] = figures
    return result


def self_times(rows: list[dict[str, Any]]) -> list[int | None]:
    """Each row's self time in ns (None for rows that are not stages or requests),
    written out pair by pair, sharing no code with ``tracekit.analysis``.

    A span's children: stage and request rows of the same run, tick and symbol whose
    interval lies inside it (with the same interval, only a request); only a stage
    has children. Self time: duration less the union of the children's
    intervals.
    """
    spans = [
        (index, row)
        for index, row in enumerate(rows)
        if row["kind"] in ("stage", "request") and row["duration_ns"] is not None
    ]
    lanes: dict[tuple[Any, ...], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for index, row in spans:
        lanes[(row["run_id"], row["tick_id"], row["symbol"])].append((index, row))
    result: list[int | None] = [None] * len(rows)
    for members in lanes.values():
        for index, row in members:
            start, end = row["start_unix_ns"], row["start_unix_ns"] + row["duration_ns"]
            inside = []
            if row["kind"] == "stage":
                for other_index, other in members:
                    o_start = other["start_unix_ns"]
                    o_end = o_start + other["duration_ns"]
                    if other_index == index or not (start <= o_start and o_end <= end):
                        continue
                    if (o_start, o_end) == (start, end) and other["kind"] == "stage":
                        continue
                    inside.append((o_start, o_end))
            covered, reach = 0, None
            for o_start, o_end in sorted(inside):
                low = o_start if reach is None else max(o_start, reach)
                covered += max(0, o_end - low)
                reach = o_end if reach is None else max(reach, o_end)
            result[index] = row["duration_ns"] - covered
    return result


def wilson(successes: int, trials: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval, written out as in Wilson (1927) / Agresti & Coull (1998)."""
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    denominator = 1 + z * z / trials
    return ((centre - spread) / denominator, (centre + spread) / denominator)


def reference_deadline(rows: list[dict[str, Any]], key: Key = no_key) -> dict[tuple[Any, ...], Any]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["kind"] == "tick":
            groups[key(row)].append(row)
    result = {}
    for group, ticks in groups.items():
        misses = sum(bool(row["deadline_missed"]) for row in ticks)
        low, high = wilson(misses, len(ticks))
        result[group] = {
            "ticks": len(ticks),
            "misses": misses,
            "miss_rate": misses / len(ticks),
            "miss_rate_low": low,
            "miss_rate_high": high,
            "misses_with_detail": sum(
                bool(row["deadline_missed"]) and row["detail"] != "none" for row in ticks
            ),
            "deadline_ms": float(np.mean([row["deadline_ns"] for row in ticks])) / MS,
        }
    return result


def reference_guards(
    rows: list[dict[str, Any]], key: Key = no_key, tick_key: Key = no_key
) -> dict[tuple[Any, ...], Any]:
    """(reason, *key) -> trips, per_1000_ticks and share.

    Ticks are counted per ``tick_key`` (tick rows have no symbol); the share is of
    all trips with the same ``tick_key``.
    """
    ticks: dict[tuple[Any, ...], int] = defaultdict(int)
    for row in rows:
        if row["kind"] == "tick":
            ticks[tick_key(row)] += 1
    trips: dict[tuple[Any, ...], int] = defaultdict(int)
    trips_per_tick_group: dict[tuple[Any, ...], int] = defaultdict(int)
    tick_group_of: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in rows:
        if row["kind"] == "guard":
            group = (row["name"], *key(row))
            trips[group] += 1
            trips_per_tick_group[tick_key(row)] += 1
            tick_group_of[group] = tick_key(row)
    return {
        group: {
            "trips": count,
            "per_1000_ticks": 1000 * count / ticks[tick_group_of[group]],
            "share": count / trips_per_tick_group[tick_group_of[group]],
        }
        for group, count in trips.items()
    }


def reference_parallel(rows: list[dict[str, Any]], key: Key = no_key) -> dict[tuple[Any, ...], Any]:
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    counts: dict[tuple[Any, ...], int] = defaultdict(int)
    for row in rows:
        if row["kind"] == "tick":
            counts[key(row)] += 1
            if row["parallel_symbols"] is not None:
                groups[key(row)].append(row["parallel_symbols"])
    return {
        group: {
            "n": len(groups[group]),
            "min": min(groups[group]) if groups[group] else None,
            "mean": float(np.mean(groups[group])) if groups[group] else None,
            "max": max(groups[group]) if groups[group] else None,
        }
        for group in counts
    }


# -- files on disk ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TreeSnapshot:
    """Every file under a folder with its SHA-256, to prove nothing was modified."""

    digests: dict[str, str]

    @classmethod
    def of(cls, root: Path) -> TreeSnapshot:
        return cls(
            {
                str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
                for path in sorted(root.rglob("*"))
                if path.is_file()
            }
        )
