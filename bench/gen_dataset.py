"""Write a synthetic golden-trace dataset (schema v1) of any size, for benchmarks.

Usage::

    python bench/gen_dataset.py --rows 20_000_000 --files 20 --out bench/data/r20m-f20
    python bench/gen_dataset.py --rows 6_400_000 --files 10_000 --out bench/data/many
    python bench/gen_dataset.py --rows 100_000_000 --files 100 --out bench/data/r100m

The layout and the files are those of tracekit's golden writer:
``<out>/run_id=<run>/golden-000001.parquet``, one file per window of consecutive
ticks, the schema of :func:`tracekit.store.schema.arrow_schema` with the run-level
key-value metadata, zstd compression and dictionary-encoded string columns
(with :func:`tracekit.store.parquet.parquet_writer`, as the golden writer).

What the rows look like (modelled on ``samples/``):

* every tick has a ``tick`` row (``tick_total``; deadline 200 ms, about 1% missed,
  ``deadline_missed`` is exactly ``duration_ns > deadline_ns``) and its guard-trip
  rows (``latency_hard`` is likelier on missed ticks);
* the tick is sampled by tracekit's deterministic decision (SplitMix64 of
  ``seed + tick_id * golden gamma`` against ``--sample-rate``, as the tracer);
  ``detail`` is ``sampled``, else ``deadline_miss`` when the tick missed its
  deadline, else ``none``, and is the same on every row of the tick;
* a tick whose detail is kept also has its stage rows (``fetch_md`` and ``emit``
  once, ``spread`` and ``guards`` per symbol, 4 to 8 of 8 symbols in parallel) and
  request rows (``GET orderbook``; per symbol ``POST place_order`` and, 60% of
  the time, ``DELETE cancel_order``; 0.3% of requests fail with ``TimeoutError``);
* durations are lognormal per stage, scaled by the tick's own slowness so slow
  ticks have slow stages; the critical path never exceeds the tick's duration.

The dataset has exactly ``--rows`` rows: the very last tick is cut short when
needed (its ``request_count`` / ``guard_trips`` may then exceed its rows).

Memory stays bounded whatever ``--rows`` is: a per-tick plan (about 20 bytes a
tick) is drawn first, then rows are generated and written in chunks of
``CHUNK_TICKS`` ticks (about 830,000 rows). Each chunk has its own random stream
and chunks do not depend on the file layout, so the same ``--rows``, ``--runs``
and ``--seed`` give the same rows whatever ``--files`` is (10,000 small files
hold exactly the rows of one big file).

The dataset is built in a hidden sibling folder and renamed into place at the
end, so an interrupted run leaves no half dataset at ``--out``. A small
``<out>.gen.json`` beside it records the parameters (benchmarks reuse a
dataset whose parameters match).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tracekit._version import __version__
from tracekit.store import schema
from tracekit.store.parquet import parquet_writer
from tracekit.store.summary import Summary, encode, merge, summarize

GEN_VERSION = 4
"""Bumped whenever the generated data changes, so cached datasets are rebuilt (2: each
file carries its ``tracekit.summary``, as the golden writer writes it; 3: summary
version 2, with its levels; 4: no ``ARROW:schema`` footer entry, as the golden writer
writes since analyze round 10)."""

MANIFEST_SUFFIX = ".gen.json"
CHUNK_TICKS = 1 << 17

NS_PER_MS = 1_000_000
TICK_PERIOD_NS = 250 * NS_PER_MS
EPOCH_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
RUN_SPACING_NS = 86_400 * 10**9
GOLDEN_GAMMA = 0x9E3779B97F4A7C15

SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "ADA-USD", "DOGE-USD", "AVAX-USD", "DOT-USD")
MIN_PARALLEL, MAX_PARALLEL = 4, len(SYMBOLS)

# Dictionaries of the string columns; rows hold codes into them (-1 is null).
NAMES = (
    schema.TICK_TOTAL,
    "orderbook",
    "fetch_md",
    "spread",
    "guards",
    "place_order",
    "cancel_order",
    "emit",
    "vol_soft",
    "position_limit",
    "latency_hard",
    "vol_hard",
)
(
    N_TICK,
    N_ORDERBOOK,
    N_FETCH,
    N_SPREAD,
    N_GUARDS,
    N_PLACE,
    N_CANCEL,
    N_EMIT,
    N_VOL_SOFT,
    N_POSITION,
    N_LAT_HARD,
    N_VOL_HARD,
) = range(len(NAMES))
GUARD_REASONS = np.array([N_VOL_SOFT, N_POSITION, N_LAT_HARD, N_VOL_HARD], dtype=np.int8)
GUARD_WEIGHTS = np.array([0.60, 0.25, 0.10, 0.05])
GUARD_RATE = 0.18  # Poisson mean of guard trips per tick
MISSED_EXTRA_GUARD_RATE = 1.5  # extra trips (latency_hard) on a missed tick

KINDS = schema.KINDS  # tick, stage, request, guard
K_TICK, K_STAGE, K_REQUEST, K_GUARD = range(4)
VERBS = ("GET", "POST", "DELETE")
V_GET, V_POST, V_DELETE = range(3)
DETAILS = (schema.DETAIL_SAMPLED, schema.DETAIL_DEADLINE_MISS, schema.DETAIL_NONE)
D_SAMPLED, D_MISS, D_NONE = range(3)
STATUSES = (schema.STATUS_OK, schema.STATUS_ERROR)
ERROR_TYPES = ("TimeoutError",)
REQUEST_ERROR_RATE = 0.003
CANCEL_RATE = 0.6

# Lognormal (median ms, sigma) of the tick and of each component at median slowness.
TICK_MEDIAN_MS, TICK_SIGMA = 105.0, 0.28
COMPONENTS: dict[int, tuple[float, float]] = {
    N_ORDERBOOK: (18.0, 0.35),
    N_FETCH: (24.0, 0.35),
    N_SPREAD: (14.0, 0.30),
    N_GUARDS: (5.0, 0.40),
    N_PLACE: (22.0, 0.45),
    N_CANCEL: (16.0, 0.45),
    N_EMIT: (6.0, 0.30),
}


@dataclass(frozen=True)
class Params:
    rows: int
    files: int
    runs: int
    seed: int
    sample_rate: float
    deadline_ms: float
    gen_version: int = GEN_VERSION


# -- the per-tick plan ---------------------------------------------------------------


@dataclass
class Plan:
    """What every tick of one run is: drawn before any row, about 20 bytes a tick."""

    duration_ns: np.ndarray  # int64
    detail: np.ndarray  # int8 code into DETAILS
    parallel: np.ndarray  # int8, symbols processed
    cancels: np.ndarray  # int8, cancel_order requests (first `cancels` symbols)
    guard_trips: np.ndarray  # int16
    rotation: np.ndarray  # int8, first symbol of the tick
    rows: np.ndarray  # int32, rows of the tick (the last one may be cut short)

    @property
    def ticks(self) -> int:
        return len(self.rows)

    @property
    def kept(self) -> np.ndarray:
        return np.asarray(self.detail != D_NONE)


def sampled_ticks(tick_ids: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """tracekit's sampling decision (see tracekit/trace/sampling.py), vectorised."""
    threshold = int(rate * (1 << 64))
    if threshold <= 0:
        return np.zeros(len(tick_ids), dtype=bool)
    if threshold >= 1 << 64:
        return np.ones(len(tick_ids), dtype=bool)
    z = np.uint64(seed & ((1 << 64) - 1)) + tick_ids.astype(np.uint64) * np.uint64(GOLDEN_GAMMA)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return z < np.uint64(threshold)


def make_plan(rows: int, params: Params, run_index: int) -> Plan:
    """Draw ticks until they hold ``rows`` rows; cut the last tick to make it exact."""
    rng = np.random.default_rng([params.seed, run_index, 1])
    deadline_ns = int(params.deadline_ms * NS_PER_MS)
    parts: list[dict[str, np.ndarray]] = []
    total = 0
    first_tick = 1
    while total < rows:
        n = max(1024, int((rows - total) / 6.0) + 1024)
        tick_ids = np.arange(first_tick, first_tick + n, dtype=np.int64)
        duration = rng.lognormal(np.log(TICK_MEDIAN_MS * NS_PER_MS), TICK_SIGMA, n)
        tail = rng.random(n) < 0.002  # a few pathological ticks
        duration[tail] *= rng.uniform(1.5, 4.0, int(tail.sum()))
        duration_ns = duration.astype(np.int64)
        missed = duration_ns > deadline_ns
        detail = np.full(n, D_NONE, dtype=np.int8)
        detail[missed] = D_MISS
        detail[sampled_ticks(tick_ids, params.sample_rate, params.seed)] = D_SAMPLED
        parallel = rng.integers(MIN_PARALLEL, MAX_PARALLEL + 1, n, dtype=np.int8)
        cancels = rng.binomial(parallel, CANCEL_RATE).astype(np.int8)
        guard_trips = rng.poisson(GUARD_RATE, n) + missed * rng.poisson(MISSED_EXTRA_GUARD_RATE, n)
        guard_trips = guard_trips.astype(np.int16)
        rotation = rng.integers(0, len(SYMBOLS), n, dtype=np.int8)
        kept = detail != D_NONE
        tick_rows = (1 + guard_trips + kept * (3 + 3 * parallel.astype(np.int32) + cancels)).astype(
            np.int32
        )
        parts.append(
            {
                "duration_ns": duration_ns,
                "detail": detail,
                "parallel": parallel,
                "cancels": cancels,
                "guard_trips": guard_trips,
                "rotation": rotation,
                "rows": tick_rows,
            }
        )
        total += int(tick_rows.sum())
        first_tick += n
    columns = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    cumulative = np.cumsum(columns["rows"], dtype=np.int64)
    ticks = int(np.searchsorted(cumulative, rows)) + 1  # first tick reaching `rows`
    columns = {key: value[:ticks].copy() for key, value in columns.items()}
    columns["rows"][-1] -= int(cumulative[ticks - 1]) - rows
    return Plan(**columns)


# -- rows of a range of ticks ----------------------------------------------------------


def _string_column(codes: np.ndarray, values: Sequence[str]) -> pa.Array:
    dictionary = pa.array(values, type=pa.string())
    indices = pa.array(codes.astype(np.int32), mask=codes < 0)
    return dictionary.take(indices)


def tick_rows(
    plan: Plan,
    start: int,
    stop: int,
    run_id: str,
    run_index: int,
    chunk_index: int,
    params: Params,
    metadata: dict[str, str],
) -> pa.Table:
    """The rows of ticks ``start``..``stop - 1`` (0-based) of a run, in tick order."""
    rng = np.random.default_rng([params.seed, run_index, 2, chunk_index])
    n = stop - start
    duration = plan.duration_ns[start:stop]
    detail = plan.detail[start:stop]
    parallel = plan.parallel[start:stop].astype(np.int64)
    cancels = plan.cancels[start:stop].astype(np.int64)
    trips = plan.guard_trips[start:stop].astype(np.int64)
    rotation = plan.rotation[start:stop].astype(np.int64)
    tick_start = EPOCH_NS + run_index * RUN_SPACING_NS + (start + np.arange(n)) * TICK_PERIOD_NS
    kept = np.flatnonzero(detail != D_NONE)
    slowness = duration[kept] / (TICK_MEDIAN_MS * NS_PER_MS)

    def draw(component: int, count: int, scale: np.ndarray) -> np.ndarray:
        median_ms, sigma = COMPONENTS[component]
        return np.asarray(rng.lognormal(np.log(median_ms * NS_PER_MS), sigma, count) * scale)

    # Per kept tick: fetch_md, emit, orderbook; per symbol: spread, guards, requests.
    k_parallel = parallel[kept]
    sym_tick = np.repeat(kept, k_parallel)  # tick index of each symbol row
    sym_pos = np.arange(len(sym_tick)) - np.repeat(np.cumsum(k_parallel) - k_parallel, k_parallel)
    sym_code = (rotation[sym_tick] + sym_pos) % len(SYMBOLS)
    sym_slowness = np.repeat(slowness, k_parallel)
    fetch = draw(N_FETCH, len(kept), slowness)
    emit = draw(N_EMIT, len(kept), slowness)
    orderbook = draw(N_ORDERBOOK, len(kept), slowness)
    spread = draw(N_SPREAD, len(sym_tick), sym_slowness)
    guards = draw(N_GUARDS, len(sym_tick), sym_slowness)
    place = draw(N_PLACE, len(sym_tick), sym_slowness)
    # The critical path (fetch_md, slowest symbol, emit) fits in the tick.
    sym_first = np.cumsum(k_parallel) - k_parallel  # first symbol row of each kept tick
    slowest = np.maximum.reduceat(spread + guards, sym_first) if len(kept) else fetch
    path = fetch + slowest + emit
    squeeze = np.minimum(1.0, 0.97 * duration[kept] / path)
    sym_squeeze = np.repeat(squeeze, k_parallel)
    fetch, emit, orderbook = fetch * squeeze, emit * squeeze, orderbook * squeeze
    spread, guards, place = spread * sym_squeeze, guards * sym_squeeze, place * sym_squeeze
    has_cancel = sym_pos < np.repeat(cancels[kept], k_parallel)
    cancel_sym = np.flatnonzero(has_cancel)
    cancel = draw(N_CANCEL, len(cancel_sym), sym_slowness[cancel_sym]) * sym_squeeze[cancel_sym]

    k_start = tick_start[kept]
    s_start = np.repeat(k_start + fetch.astype(np.int64), k_parallel)
    g_start = s_start + spread.astype(np.int64)
    p_start = g_start + guards.astype(np.int64)
    c_start = p_start[cancel_sym] + place[cancel_sym].astype(np.int64)

    guard_tick = np.repeat(np.arange(n), trips)
    missed_guard = duration[guard_tick] > int(params.deadline_ms * NS_PER_MS)
    reason = rng.choice(GUARD_REASONS, size=len(guard_tick), p=GUARD_WEIGHTS)
    reason[missed_guard & (rng.random(len(guard_tick)) < 0.7)] = N_LAT_HARD
    guard_offset = rng.integers(0, parallel[guard_tick]) if len(guard_tick) else guard_tick
    guard_sym = (rotation[guard_tick] + guard_offset) % len(SYMBOLS)
    guard_at = tick_start[guard_tick] + (rng.random(len(guard_tick)) * duration[guard_tick]).astype(
        np.int64
    )

    # Blocks in within-tick order; a stable sort by tick then interleaves them.
    nk, ns, nc, ng = len(kept), len(sym_tick), len(cancel_sym), len(guard_tick)
    blocks: list[dict[str, Any]] = [
        {  # tick rows
            "tick": np.arange(n),
            "kind": K_TICK,
            "name": N_TICK,
            "symbol": -1,
            "verb": -1,
            "start": tick_start,
            "duration": duration,
        },
        {
            "tick": kept,
            "kind": K_REQUEST,
            "name": N_ORDERBOOK,
            "symbol": -1,
            "verb": V_GET,
            "start": k_start,
            "duration": orderbook,
        },
        {
            "tick": kept,
            "kind": K_STAGE,
            "name": N_FETCH,
            "symbol": -1,
            "verb": -1,
            "start": k_start,
            "duration": fetch,
        },
        {
            "tick": sym_tick,
            "kind": K_STAGE,
            "name": N_SPREAD,
            "symbol": sym_code,
            "verb": -1,
            "start": s_start,
            "duration": spread,
        },
        {
            "tick": sym_tick,
            "kind": K_STAGE,
            "name": N_GUARDS,
            "symbol": sym_code,
            "verb": -1,
            "start": g_start,
            "duration": guards,
        },
        {
            "tick": sym_tick,
            "kind": K_REQUEST,
            "name": N_PLACE,
            "symbol": sym_code,
            "verb": V_POST,
            "start": p_start,
            "duration": place,
        },
        {
            "tick": sym_tick[cancel_sym],
            "kind": K_REQUEST,
            "name": N_CANCEL,
            "symbol": sym_code[cancel_sym],
            "verb": V_DELETE,
            "start": c_start,
            "duration": cancel,
        },
        {
            "tick": kept,
            "kind": K_STAGE,
            "name": N_EMIT,
            "symbol": -1,
            "verb": -1,
            "start": k_start + (duration[kept] - emit).astype(np.int64),
            "duration": emit,
        },
        {
            "tick": guard_tick,
            "kind": K_GUARD,
            "name": reason,
            "symbol": guard_sym,
            "verb": -1,
            "start": guard_at,
            "duration": None,
        },
    ]
    sizes = [n, nk, nk, ns, ns, ns, nc, nk, ng]

    def column(key: str, dtype: Any, fill: int = -1) -> np.ndarray:
        out = np.empty(sum(sizes), dtype=dtype)
        at = 0
        for block, size in zip(blocks, sizes, strict=True):
            value = block[key]
            out[at : at + size] = fill if value is None else value
            at += size
        return out

    row_tick = column("tick", np.int64)
    order = np.argsort(row_tick, kind="stable")
    row_tick = row_tick[order]
    kind = column("kind", np.int8)[order]
    name = column("name", np.int8)[order]
    symbol = column("symbol", np.int8)[order]
    verb = column("verb", np.int8)[order]
    start_ns = column("start", np.int64)[order]
    duration_col = column("duration", np.int64)[order]
    is_tick = kind == K_TICK
    is_guard = kind == K_GUARD
    failed = (kind == K_REQUEST) & (rng.random(len(kind)) < REQUEST_ERROR_RATE)

    deadline_ns = int(params.deadline_ms * NS_PER_MS)
    not_tick = ~is_tick
    requests = 1 + parallel + cancels  # orderbook, place_order per symbol, cancels
    columns = {
        "run_id": pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(len(kind), dtype=np.int32)), pa.array([run_id])
        ).cast(pa.string()),
        "tick_id": pa.array(row_tick + start + 1),
        "kind": _string_column(kind, KINDS),
        "name": _string_column(name, NAMES),
        "symbol": _string_column(symbol, SYMBOLS),
        "verb": _string_column(verb, VERBS),
        "status": _string_column(failed.astype(np.int8), STATUSES),
        "error_type": _string_column(np.where(failed, 0, -1).astype(np.int8), ERROR_TYPES),
        "start_unix_ns": pa.array(start_ns),
        "duration_ns": pa.array(duration_col, mask=is_guard),
        "deadline_ns": pa.array(np.full(len(kind), deadline_ns, dtype=np.int64), mask=not_tick),
        "deadline_missed": pa.array(duration_col > deadline_ns, mask=not_tick),
        "parallel_symbols": pa.array(parallel[row_tick].astype(np.int32), mask=not_tick),
        "guard_trips": pa.array(trips[row_tick].astype(np.int32), mask=not_tick),
        "request_count": pa.array(requests[row_tick].astype(np.int32), mask=not_tick),
        "detail": _string_column(detail[row_tick], DETAILS),
    }
    table = pa.Table.from_arrays(
        [columns[name] for name in schema.COLUMN_NAMES], schema=schema.arrow_schema(metadata)
    )
    wanted = int(plan.rows[start:stop].sum())
    return table.slice(0, wanted) if wanted < table.num_rows else table


# -- files ----------------------------------------------------------------------------


def run_metadata(params: Params, run_id: str, window_ticks: int) -> dict[str, str]:
    config = {
        "deadline_ms": params.deadline_ms,
        "enabled": True,
        "export_golden": True,
        "golden_trace_interval": window_ticks,
        "keep_missed_detail": True,
        "max_queue_windows": 64,
        "max_records_per_tick": 10000,
        "output_dir": "bench",
        "run_id": run_id,
        "sample_rate": params.sample_rate,
        "sample_seed": params.seed,
    }
    return {
        schema.META_SCHEMA_VERSION: str(schema.SCHEMA_VERSION),
        schema.META_TRACEKIT_VERSION: __version__,
        schema.META_RUN_ID: run_id,
        schema.META_HOST: "bench-gen",
        schema.META_PID: "0",
        schema.META_CONFIG: json.dumps(config, sort_keys=True),
        schema.META_SAMPLE_RATE: repr(params.sample_rate),
        schema.META_SAMPLE_SEED: str(params.seed),
    }


def _share(total: int, parts: int, index: int) -> int:
    return total * (index + 1) // parts - total * index // parts


def write_run(root: Path, params: Params, run_index: int, rows: int, files: int) -> int:
    """Write one run's files; returns the number of ticks."""
    run_id = f"bench-{run_index + 1}"
    plan = make_plan(rows, params, run_index)
    ticks = plan.ticks
    files = min(files, ticks)
    bounds = [ticks * k // files for k in range(files + 1)]  # windows of ticks
    window_ticks = -(-ticks // files)
    base_meta = run_metadata(params, run_id, window_ticks)
    folder = root / f"{schema.PARTITION_KEY}={run_id}"
    folder.mkdir(parents=True)
    row_offsets = np.concatenate([[0], np.cumsum(plan.rows, dtype=np.int64)])

    def file_metadata(k: int) -> dict[str, str]:
        return {
            **base_meta,
            schema.META_WINDOW: str(k + 1),
            schema.META_TICKS: str(bounds[k + 1] - bounds[k]),
        }

    writer: pq.ParquetWriter | None = None
    summaries: list[Summary] = []  # of the pieces of the file being written
    file_index = 0  # the file being written
    pos = 0
    chunk_index = 0
    while pos < ticks:
        stop = min(ticks, pos + CHUNK_TICKS)  # chunks do not depend on the files
        table = tick_rows(
            plan, pos, stop, run_id, run_index, chunk_index, params, file_metadata(file_index)
        )
        chunk_first_row = row_offsets[pos]
        while file_index < files and bounds[file_index] < stop:
            lo = max(pos, bounds[file_index])
            hi = min(stop, bounds[file_index + 1])
            piece = table.slice(
                int(row_offsets[lo] - chunk_first_row), int(row_offsets[hi] - row_offsets[lo])
            )
            meta = file_metadata(file_index)
            if writer is None:
                writer = parquet_writer(
                    folder / f"golden-{file_index + 1:06d}.parquet", schema.arrow_schema(meta)
                )
            piece = piece.replace_schema_metadata(meta)
            writer.write_table(piece)
            summaries.append(summarize(piece))
            if hi < bounds[file_index + 1]:
                break  # the file continues in the next chunk
            writer.add_key_value_metadata({schema.META_SUMMARY: encode(merge(summaries))})
            summaries = []
            writer.close()
            writer = None
            file_index += 1
        pos = stop
        chunk_index += 1
    assert writer is None
    return ticks


def manifest_path(root: Path) -> Path:
    """``<root>.gen.json``: beside the dataset, not in it (a stray file in the folder
    would break ``pl.scan_parquet('<root>/')``)."""
    return root.with_name(root.name + MANIFEST_SUFFIX)


def read_manifest(root: Path) -> dict[str, Any] | None:
    if not root.is_dir():
        return None
    try:
        return json.loads(manifest_path(root).read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def generate(
    out: Path,
    params: Params,
    *,
    force: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    """Write the dataset at ``out``, or reuse it when its manifest matches ``params``."""
    manifest = read_manifest(out)
    if manifest is not None and manifest.get("params") == asdict(params) and not force:
        if not quiet:
            print(f"{out}: up to date ({params.rows:,} rows in {params.files:,} files)")
        return manifest
    if out.exists():
        if manifest is None and any(out.iterdir()):
            raise SystemExit(f"{out}: exists, not written by gen_dataset.py; not touching it")
        shutil.rmtree(out)
    manifest_path(out).unlink(missing_ok=True)
    started = time.perf_counter()
    building = out.with_name(f".{out.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    try:
        ticks = 0
        for run in range(params.runs):
            ticks += write_run(
                building,
                params,
                run,
                _share(params.rows, params.runs, run),
                max(1, _share(params.files, params.runs, run)),
            )
        elapsed = time.perf_counter() - started
        files = sorted(building.rglob("*.parquet"))
        manifest = {
            "params": asdict(params),
            "ticks": ticks,
            "files": len(files),
            "bytes": sum(f.stat().st_size for f in files),
            "seconds": round(elapsed, 2),
        }
        building.rename(out)
        manifest_path(out).write_text(json.dumps(manifest, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    if not quiet:
        print(
            f"{out}: {params.rows:,} rows, {ticks:,} ticks, {manifest['files']:,} files, "
            f"{manifest['bytes'] / 1e6:,.0f} MB in {manifest['seconds']:.1f} s"
        )
    return manifest


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000_000, help="rows in all (exact)")
    parser.add_argument("--files", type=int, default=20, help="Parquet files in all")
    parser.add_argument("--runs", type=int, default=1, help="runs (run_id= partitions)")
    parser.add_argument("--seed", type=int, default=1, help="seed (also the sampling seed)")
    parser.add_argument("--sample-rate", type=float, default=0.2, help="share of sampled ticks")
    parser.add_argument("--deadline-ms", type=float, default=200.0, help="tick deadline")
    parser.add_argument("--out", type=Path, required=True, help="dataset root to write")
    parser.add_argument("--force", action="store_true", help="rewrite even if up to date")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.files < 1 or args.runs < 1 or args.files < args.runs:
        parser.error("--rows, --files and --runs must be >= 1, and --files >= --runs")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    params = Params(
        rows=args.rows,
        files=args.files,
        runs=args.runs,
        seed=args.seed,
        sample_rate=args.sample_rate,
        deadline_ms=args.deadline_ms,
    )
    generate(args.out, params, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
