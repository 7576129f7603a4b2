"""Calibration harness: exit codes of the real ``tracekit compare`` and ``tracekit canary``.

Writes golden traces with KNOWN truth (schema v1 of ``docs/schema.md``, written
here with pyarrow, independently of tracekit's own writer), runs the real command
line on them and tallies what CI would see: the exit code (0 PASS, 1 REGRESSION,
3 INCONCLUSIVE; anything else is an error and reported loudly) and, from
``--format json``, each metric's interval, to measure how often the 90% interval
covers the true change.

Usage::

    python bench/calibrate.py --grid ci                     # reduced grid (a few minutes)
    python bench/calibrate.py --grid full --seeds 40 --workers 2 --json-out cal.json
    python bench/calibrate.py --only 'ar1-300t-*' --seeds 100
    python bench/calibrate.py --only canary --seeds 40       # the canary rollouts only
    python bench/calibrate.py --grid ci --subprocess         # real processes, same codes

Gate scenarios (``SHAPE-NNNt-Rr-SS%-EFFECT``): per-tick durations of the stages
``fetch_md, spread, guards, emit``; ``tick_total`` is their sum.

* ``lognormal``: i.i.d. lognormal stages.
* ``bimodal``: 15% of ticks take a slow path (every stage x2).
* ``pareto``: Pareto-tailed stages (shape 2.5 for fetch_md, 3.5 for the others).
* ``ar1``: log-durations follow an AR(1) with phi = 0.9 per run (bursty misses).
* ``warmup``: lognormal, the start of each run slower (x1.8 decaying, tau = 10% of the run).

Each side holds ``NNN`` ticks split over ``R`` runs (one ``run_id=`` partition per
run), stage detail sampled at ``SS%`` (``detail`` = sampled / deadline_miss /
none as the tracer writes it). The deadline is the baseline's 97th percentile of
tick_total (about 3% misses). Effects: ``same`` (both sides drawn independently
from the same distribution) or ``+5%`` / ``+10%`` (every duration of the current
side multiplied), so the true ratio of every quantile is exactly 1, 1.05 or 1.10.

Canary scenarios (``canary-*``): six looks of phase 1, 2,000 new ticks per side
per look (look k judges ticks 1..2000k; one ``--state`` file carries the phase's
looks, as a rollout cron would):

* ``canary-misses-at-limit``: AR(1) phi = 0.9 ticks on both sides, the deadline at
  the true 98th percentile, so the canary's miss rate is exactly the 2% limit:
  every ROLLBACK is false.
* ``canary-p95+20%``: AR(1) phi = 0.9 ticks of lower dispersion (tick_total log-sd
  about 0.08), the canary 20% slower (limit +15%); the deadline at the canary's
  99.5th percentile, so misses do not decide.

Every draw is seeded from (scenario, seed), so a run reproduces exactly.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fnmatch
import functools
import io
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

STAGES: Final = ("fetch_md", "spread", "guards", "emit")
TICK_TOTAL: Final = "tick_total"
STAGE_MEDIAN_MS: Final = np.array([6.0, 3.0, 0.8, 2.0])
STAGE_SIGMA: Final = np.array([0.35, 0.25, 0.20, 0.30])
PARETO_SHAPE: Final = np.array([2.5, 3.5, 3.5, 3.5])
BIMODAL_SLOW_SHARE: Final = 0.15
BIMODAL_SLOW_FACTOR: Final = 2.0
AR1_PHI: Final = 0.9
WARMUP_AMPLITUDE: Final = 0.8
WARMUP_TAU_SHARE: Final = 0.1
GATE_MISS_SHARE: Final = 0.03
"""The deadline is the baseline's (1 - this) quantile of tick_total."""

SHAPES: Final = ("lognormal", "bimodal", "pareto", "ar1", "warmup")
TICKS_PER_SIDE: Final = (300, 20_000)
RUNS_PER_SIDE: Final = (1, 2, 8)
SAMPLE_RATES: Final = (0.2, 1.0)
EFFECTS: Final = (0.0, 0.05, 0.10)

WINDOW_TICKS: Final = 10_000
"""Ticks per golden file (``golden_trace_interval``)."""
TICK_INTERVAL_NS: Final = 250_000_000
WALL_ANCHOR_NS: Final = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
REFERENCE_TICKS: Final = 1_000_000
"""Ticks in the reference sample from which deadlines and miss-rate truths come."""

CANARY_LOOKS: Final = 6
CANARY_TICKS_PER_LOOK: Final = 2_000
CANARY_MISS_LIMIT: Final = 0.02
CANARY_SLOWDOWN: Final = 0.20
CANARY_SIGMA_SCALE: Final = 0.4
"""The p95 canary's stages are less dispersed than the gate's (tick_total log-sd ~0.08)."""

CONFIDENCE: Final = 0.90
"""compare's intervals are two-sided 90% (each bound one-sided 95%)."""

EXIT_NAMES: Final = {0: "PASS", 1: "REGRESSION", 3: "INCONCLUSIVE"}
CANARY_NAMES: Final = {0: "PROMOTE", 1: "ROLLBACK", 3: "CONTINUE"}

_MASK64: Final = (1 << 64) - 1
_GOLDEN_GAMMA: Final = 0x9E3779B97F4A7C15


# -- scenarios ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One cell of the gate grid: a data shape, sizes, sampling and a true effect."""

    shape: str
    ticks: int
    runs: int
    sample_rate: float
    effect: float

    @property
    def name(self) -> str:
        effect = "same" if self.effect == 0 else f"+{round(100 * self.effect)}%"
        return f"{self.shape}-{self.ticks}t-{self.runs}r-{round(100 * self.sample_rate)}%-{effect}"

    @property
    def run_lengths(self) -> tuple[int, ...]:
        """The side's ticks split as evenly as possible over its runs."""
        base, extra = divmod(self.ticks, self.runs)
        return tuple(base + (1 if index < extra else 0) for index in range(self.runs))


@dataclasses.dataclass(frozen=True)
class CanaryScenario:
    """A simulated phase-1 rollout judged at ``looks`` growing looks."""

    name: str
    shape: str
    slowdown: float
    deadline_quantile: float
    sigma_scale: float
    looks: int = CANARY_LOOKS
    ticks_per_look: int = CANARY_TICKS_PER_LOOK

    @property
    def false_rollback_scenario(self) -> bool:
        """True when every ROLLBACK is a false one (misses exactly at the limit)."""
        return self.slowdown == 0


CANARY_SCENARIOS: Final = (
    CanaryScenario("canary-misses-at-limit", "ar1", 0.0, 1 - CANARY_MISS_LIMIT, 1.0),
    CanaryScenario("canary-p95+20%", "ar1", CANARY_SLOWDOWN, 0.995, CANARY_SIGMA_SCALE),
)


def full_grid() -> list[Scenario]:
    """Every combination of shape, size, runs, sampling and effect (180 scenarios)."""
    return [
        Scenario(shape, ticks, runs, rate, effect)
        for shape in SHAPES
        for ticks in TICKS_PER_SIDE
        for runs in RUNS_PER_SIDE
        for rate in SAMPLE_RATES
        for effect in EFFECTS
    ]


def ci_grid() -> list[Scenario]:
    """The reduced grid behind the required rates of issue 9 (11 scenarios).

    Identical builds in seven shapes and layouts (one with 20,000 i.i.d. ticks at 20%
    sampling, for PASS; one with 8 runs and warm-up drift), and real +5% / +10%
    regressions at 20,000 and at 300 ticks per side.
    """
    identical = [
        Scenario("lognormal", 20_000, 1, 0.2, 0.0),
        Scenario("lognormal", 300, 2, 1.0, 0.0),
        Scenario("bimodal", 300, 1, 1.0, 0.0),
        Scenario("pareto", 300, 8, 0.2, 0.0),
        Scenario("ar1", 300, 1, 1.0, 0.0),
        Scenario("ar1", 300, 2, 0.2, 0.0),
        Scenario("warmup", 20_000, 8, 0.2, 0.0),
    ]
    effects = [
        Scenario("lognormal", 20_000, 1, 0.2, 0.10),
        Scenario("lognormal", 20_000, 1, 0.2, 0.05),
        Scenario("lognormal", 300, 1, 0.2, 0.10),
        Scenario("ar1", 300, 2, 0.2, 0.10),
    ]
    return identical + effects


def select(scenarios: Sequence[Scenario], pattern: str | None) -> list[Scenario]:
    """Scenarios whose name matches the glob ``pattern`` (or starts with it)."""
    if pattern is None:
        return list(scenarios)
    return [s for s in scenarios if fnmatch.fnmatch(s.name, pattern) or s.name.startswith(pattern)]


def stream_seed(*parts: str | int) -> list[int]:
    """A stable numpy seed sequence entropy from names and numbers."""
    return [zlib.crc32(str(part).encode()) if isinstance(part, str) else part for part in parts]


# -- data: per-tick stage durations (vectorised) ----------------------------------------


def ar1_filter(innovations: FloatArray, phi: float) -> FloatArray:
    """Stationary AR(1) with unit variance along axis 0 (each column its own process)."""
    from scipy.signal import lfilter

    scaled = innovations * math.sqrt(1.0 - phi * phi)
    scaled[0] = innovations[0]  # start in the stationary distribution
    return np.asarray(lfilter([1.0], [1.0, -phi], scaled, axis=0), dtype=np.float64)


def stage_durations_ms(
    shape: str,
    run_lengths: Sequence[int],
    rng: np.random.Generator,
    sigma_scale: float = 1.0,
) -> list[FloatArray]:
    """Per run, a (ticks, 4) array of stage durations in ms, in tick order.

    All runs are drawn at once as a (longest run, runs, stages) array; each run is
    an independent process (its own AR(1) start, its own warm-up).
    """
    length, runs = max(run_lengths), len(run_lengths)
    size = (length, runs, len(STAGES))
    sigma = STAGE_SIGMA * sigma_scale
    log_median = np.log(STAGE_MEDIAN_MS)
    if shape == "lognormal":
        values = np.exp(log_median + sigma * rng.standard_normal(size))
    elif shape == "bimodal":
        slow = rng.random((length, runs, 1)) < BIMODAL_SLOW_SHARE
        values = np.exp(log_median + sigma * rng.standard_normal(size))
        values = values * np.where(slow, BIMODAL_SLOW_FACTOR, 1.0)
    elif shape == "pareto":
        classic = 1.0 + rng.pareto(PARETO_SHAPE, size)  # Pareto with minimum 1
        values = STAGE_MEDIAN_MS * classic / 2.0 ** (1.0 / PARETO_SHAPE)  # median as lognormal
    elif shape == "ar1":
        values = np.exp(log_median + sigma * ar1_filter(rng.standard_normal(size), AR1_PHI))
    elif shape == "warmup":
        position = np.arange(length, dtype=np.float64)[:, None, None]
        tau = WARMUP_TAU_SHARE * np.asarray(run_lengths, dtype=np.float64)[None, :, None]
        slower = 1.0 + WARMUP_AMPLITUDE * np.exp(-position / tau)
        values = slower * np.exp(log_median + sigma * rng.standard_normal(size))
    else:
        raise ValueError(f"unknown shape {shape!r}; shapes: {', '.join(SHAPES)}")
    return [values[:ticks, run, :] for run, ticks in enumerate(run_lengths)]


def to_ns(durations_ms: FloatArray) -> IntArray:
    """Durations in whole ns (at least 1)."""
    return np.maximum(np.rint(durations_ms * 1e6), 1).astype(np.int64)


@functools.cache
def reference_tick_totals(
    shape: str, run_lengths: tuple[int, ...], sigma_scale: float = 1.0
) -> FloatArray:
    """About REFERENCE_TICKS tick_total values (ns, sorted) of the baseline process."""
    copies = max(1, math.ceil(REFERENCE_TICKS / sum(run_lengths)))
    rng = np.random.default_rng(stream_seed("reference", shape, *run_lengths))
    runs = stage_durations_ms(shape, run_lengths * copies, rng, sigma_scale)
    return np.sort(np.concatenate([to_ns(run).sum(axis=1) for run in runs]).astype(np.float64))


def deadline_ns(reference: FloatArray, quantile: float) -> int:
    """The deadline that ``1 - quantile`` of the reference ticks miss."""
    return round(float(np.quantile(reference, quantile)))


def miss_share(reference: FloatArray, deadline: int, factor: float = 1.0) -> float:
    """Share of reference ticks, multiplied by ``factor``, slower than ``deadline``."""
    limit = deadline / factor
    return 1.0 - float(np.searchsorted(reference, limit, side="right")) / reference.size


# -- golden traces (schema v1, written with pyarrow) ------------------------------------


def mix64(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64's finaliser, vectorised (uint64 arithmetic wraps modulo 2^64)."""
    z = values
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def sampled(tick_ids: IntArray, rate: float, seed: int) -> npt.NDArray[np.bool_]:
    """docs/schema.md: ``mix64(seed + tick_id * 0x9E3779B97F4A7C15) < rate * 2^64``."""
    threshold = int(rate * (1 << 64))
    if threshold <= 0:
        return np.zeros(tick_ids.size, dtype=bool)
    if threshold >= 1 << 64:
        return np.ones(tick_ids.size, dtype=bool)
    with np.errstate(over="ignore"):
        mixed = mix64(
            np.uint64(seed & _MASK64) + tick_ids.astype(np.uint64) * np.uint64(_GOLDEN_GAMMA)
        )
    return mixed < np.uint64(threshold)


DETAILS: Final = ("sampled", "deadline_miss", "none")
"""Values of the ``detail`` column, indexed by the codes :func:`write_run` computes."""


def _strings(codes: IntArray, values: Sequence[str]) -> Any:
    import pyarrow as pa

    dictionary = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(values))
    return dictionary.cast(pa.string())


def window_table(
    run_id: str,
    tick_ids: IntArray,
    stages_ns: IntArray,
    deadline: int,
    detail: npt.NDArray[np.int64],
    metadata: dict[str, str],
) -> Any:
    """One golden window: a tick row per tick, a stage row per stage of kept ticks.

    ``detail`` codes: 0 sampled, 1 deadline_miss, 2 none (``DETAILS``).
    """
    import pyarrow as pa

    ticks = tick_ids.size
    totals = stages_ns.sum(axis=1)
    starts = WALL_ANCHOR_NS + (tick_ids - 1) * TICK_INTERVAL_NS
    kept = np.flatnonzero(detail != DETAILS.index("none"))
    stage_starts = starts[kept, None] + np.cumsum(stages_ns[kept], axis=1) - stages_ns[kept]
    stage_count = kept.size * len(STAGES)
    rows = ticks + stage_count
    kind = np.concatenate([np.zeros(ticks, np.int64), np.ones(stage_count, np.int64)])
    name = np.concatenate(
        [np.zeros(ticks, np.int64), np.tile(np.arange(1, len(STAGES) + 1), kept.size)]
    )
    tick_only = np.concatenate([np.ones(ticks, bool), np.zeros(stage_count, bool)])

    def tick_column(values: Any, arrow_type: Any) -> Any:
        return pa.array(
            np.concatenate([values, np.zeros(stage_count, values.dtype)]),
            arrow_type,
            mask=~tick_only,
        )

    columns = {
        "run_id": _strings(np.zeros(rows, np.int64), [run_id]),
        "tick_id": pa.array(np.concatenate([tick_ids, np.repeat(tick_ids[kept], len(STAGES))])),
        "kind": _strings(kind, ["tick", "stage"]),
        "name": _strings(name, [TICK_TOTAL, *STAGES]),
        "symbol": pa.nulls(rows, pa.string()),
        "verb": pa.nulls(rows, pa.string()),
        "status": _strings(np.zeros(rows, np.int64), ["ok"]),
        "error_type": pa.nulls(rows, pa.string()),
        "start_unix_ns": pa.array(np.concatenate([starts, stage_starts.ravel()])),
        "duration_ns": pa.array(np.concatenate([totals, stages_ns[kept].ravel()])),
        "deadline_ns": tick_column(np.full(ticks, deadline, np.int64), pa.int64()),
        "deadline_missed": tick_column(totals > deadline, pa.bool_()),
        "parallel_symbols": pa.nulls(rows, pa.int32()),
        "guard_trips": tick_column(np.zeros(ticks, np.int32), pa.int32()),
        "request_count": tick_column(np.zeros(ticks, np.int32), pa.int32()),
        "detail": _strings(np.concatenate([detail, np.repeat(detail[kept], len(STAGES))]), DETAILS),
    }
    return pa.Table.from_pydict(columns, schema=golden_schema(metadata))


def golden_schema(metadata: dict[str, str]) -> Any:
    """Schema v1 (docs/schema.md, "Columns"), with the run's key-value metadata."""
    import pyarrow as pa

    string, int64, int32 = pa.string(), pa.int64(), pa.int32()
    fields = [
        ("run_id", string, False),
        ("tick_id", int64, False),
        ("kind", string, False),
        ("name", string, False),
        ("symbol", string, True),
        ("verb", string, True),
        ("status", string, False),
        ("error_type", string, True),
        ("start_unix_ns", int64, False),
        ("duration_ns", int64, True),
        ("deadline_ns", int64, True),
        ("deadline_missed", pa.bool_(), True),
        ("parallel_symbols", int32, True),
        ("guard_trips", int32, True),
        ("request_count", int32, True),
        ("detail", string, False),
    ]
    return pa.schema([pa.field(*field) for field in fields], metadata=metadata)


def run_metadata(
    run_id: str, sample_rate: float, sample_seed: int, deadline: int, window_ticks: int
) -> dict[str, str]:
    """The run-level key-value metadata of docs/schema.md (window keys added per file)."""
    config = {
        "deadline_ms": deadline / 1e6,
        "golden_trace_interval": window_ticks,
        "keep_missed_detail": True,
        "run_id": run_id,
        "sample_rate": sample_rate,
        "sample_seed": sample_seed,
    }
    return {
        "tracekit.schema_version": "1",
        "tracekit.version": "0.0.0+calibrate",
        "tracekit.run_id": run_id,
        "tracekit.host": "simulator",
        "tracekit.pid": "0",
        "tracekit.config": json.dumps(config, sort_keys=True),
        "tracekit.sample_rate": repr(sample_rate),
        "tracekit.sample_seed": str(sample_seed),
    }


def write_run(
    root: Path,
    run_id: str,
    stages_ns: IntArray,
    deadline: int,
    sample_rate: float,
    sample_seed: int,
    window_ticks: int = WINDOW_TICKS,
) -> list[Path]:
    """Write one run as ``root/run_id=<id>/golden-NNNNNN.parquet`` windows."""
    import pyarrow.parquet as pq

    folder = root / f"run_id={run_id}"
    folder.mkdir(parents=True, exist_ok=True)
    tick_ids = np.arange(1, stages_ns.shape[0] + 1, dtype=np.int64)
    missed = stages_ns.sum(axis=1) > deadline
    chosen = sampled(tick_ids, sample_rate, sample_seed)
    detail = np.where(chosen, 0, np.where(missed, 1, 2)).astype(np.int64)
    metadata = run_metadata(run_id, sample_rate, sample_seed, deadline, window_ticks)
    paths = []
    for window, start in enumerate(range(0, tick_ids.size, window_ticks), start=1):
        part = slice(start, start + window_ticks)
        file_meta = {
            **metadata,
            "tracekit.window": str(window),
            "tracekit.ticks": str(tick_ids[part].size),
            "tracekit.last_tick_id": str(int(tick_ids[part][-1])),
        }
        table = window_table(
            run_id, tick_ids[part], stages_ns[part], deadline, detail[part], file_meta
        )
        path = folder / f"golden-{window:06d}.parquet"
        temporary = folder / f".{path.name}.{os.getpid()}.0.tmp"
        pq.write_table(
            table,
            temporary,
            compression="zstd",
            use_dictionary=[
                "run_id",
                "kind",
                "name",
                "symbol",
                "verb",
                "status",
                "error_type",
                "detail",
            ],
        )
        temporary.rename(path)
        paths.append(path)
    return paths


def write_gate_side(root: Path, scenario: Scenario, seed: int, side: str) -> int:
    """Write one side of a gate scenario; returns the deadline in ns."""
    reference = reference_tick_totals(scenario.shape, scenario.run_lengths)
    deadline = deadline_ns(reference, 1.0 - GATE_MISS_SHARE)
    rng = np.random.default_rng(stream_seed(scenario.name, seed, side))
    factor = 1.0 + scenario.effect if side == "current" else 1.0
    runs = stage_durations_ms(scenario.shape, scenario.run_lengths, rng)
    for index, durations in enumerate(runs):
        run_id = f"{side}-{seed}-{index}"
        sample_seed = int(rng.integers(0, 2**63))
        write_run(
            root, run_id, to_ns(durations * factor), deadline, scenario.sample_rate, sample_seed
        )
    return deadline


# -- running the real CLI -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CliOutcome:
    """What one CLI call gave: its exit code, its JSON document (if any), stderr."""

    code: int
    document: dict[str, Any] | None
    stderr: str


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    return value if isinstance(value, int) else 1


def run_cli_in_process(args: Sequence[str]) -> tuple[int, str]:
    """``tracekit ARGS`` through ``tracekit.cli.main`` in this process: (code, stderr)."""
    from tracekit.cli import main

    stderr, stdout = io.StringIO(), io.StringIO()
    saved = sys.argv
    sys.argv = ["tracekit", *args]
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            main()
        code = 0
    except SystemExit as stop:
        code = _exit_code(stop.code)
    finally:
        sys.argv = saved
    return code, stderr.getvalue()


def run_cli_subprocess(args: Sequence[str]) -> tuple[int, str]:
    """``python -m tracekit ARGS`` as a real process: (code, stderr)."""
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tracekit", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    return done.returncode, done.stderr


def run_cli(args: Sequence[str], json_path: Path, use_subprocess: bool) -> CliOutcome:
    """Run a decision command with ``--format json -o json_path`` and read the document."""
    full = [*args, "--format", "json", "--output", str(json_path)]
    runner = run_cli_subprocess if use_subprocess else run_cli_in_process
    json_path.unlink(missing_ok=True)
    code, stderr = runner(full)
    document = None
    if json_path.exists():
        with contextlib.suppress(ValueError):
            document = json.loads(json_path.read_text(encoding="utf-8"))
    return CliOutcome(code, document, stderr.strip())


# -- one gate comparison ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MetricInterval:
    """One metric row of compare's JSON: ``stage:metric`` and its interval (relative)."""

    key: str
    low: float | None
    high: float | None


@dataclasses.dataclass(frozen=True)
class CompareOutcome:
    """The exit code of one ``tracekit compare`` and the metric intervals it printed."""

    scenario: str
    seed: int
    code: int
    intervals: tuple[MetricInterval, ...]
    error: str | None
    deadline_ns: int


def metric_intervals(document: dict[str, Any] | None) -> tuple[MetricInterval, ...]:
    """Every metric of a ``tracekit.comparison`` JSON document, whatever metrics appear."""
    if document is None:
        return ()
    return tuple(
        MetricInterval(f"{row.get('stage')}:{row.get('metric')}", row.get("low"), row.get("high"))
        for row in document.get("metrics", [])
    )


def compare_once(
    scenario: Scenario, seed: int, work: Path, use_subprocess: bool = False
) -> CompareOutcome:
    """Write both sides of ``scenario`` for ``seed``, run ``tracekit compare``, clean up."""
    folder = work / f"{scenario.name}-{seed}"
    shutil.rmtree(folder, ignore_errors=True)
    try:
        deadline = write_gate_side(folder / "baseline", scenario, seed, "baseline")
        write_gate_side(folder / "current", scenario, seed, "current")
        args = ["compare", str(folder / "baseline"), str(folder / "current")]
        outcome = run_cli(args, folder / "result.json", use_subprocess)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    error = None
    if outcome.code not in EXIT_NAMES:
        error = f"exit {outcome.code}: {outcome.stderr[-400:]}"
    elif outcome.document is None:
        error = f"exit {outcome.code} but no JSON document: {outcome.stderr[-400:]}"
    intervals = metric_intervals(outcome.document)
    return CompareOutcome(scenario.name, seed, outcome.code, intervals, error, deadline)


# -- truth and coverage -----------------------------------------------------------------


def is_quantile_metric(metric: str) -> bool:
    """``p50``, ``p95``, ``p99``, ``p99.9``, ... (and ``mean``): truth is ``effect``."""
    body = metric[1:] if metric.startswith("p") else ""
    return metric == "mean" or body.replace(".", "", 1).isdigit()


def true_change(scenario: Scenario, metric: str, deadline: int) -> float | None:
    """The true value of a metric's ``change``; None when the harness has no truth for it.

    Every duration of the current side is the baseline's process times ``1 + effect``,
    so every population quantile (and mean) ratio is exactly ``1 + effect``; the true
    miss-rate difference comes from the reference sample.
    """
    if is_quantile_metric(metric):
        return scenario.effect
    if metric == "miss_rate":
        reference = reference_tick_totals(scenario.shape, scenario.run_lengths)
        return float(
            miss_share(reference, deadline, 1 + scenario.effect) - miss_share(reference, deadline)
        )
    return None


@dataclasses.dataclass
class Coverage:
    """How often intervals covered the truth: ``covered`` of ``total``; ``missing``: no bounds."""

    covered: int = 0
    total: int = 0
    missing: int = 0

    def add(self, covered: bool | None) -> None:
        if covered is None:
            self.missing += 1
        else:
            self.total += 1
            self.covered += covered

    @property
    def rate(self) -> float | None:
        return self.covered / self.total if self.total else None


def covers(interval: MetricInterval, truth: float) -> bool | None:
    """True when ``low <= truth <= high`` (None if a bound is missing)."""
    if interval.low is None or interval.high is None:
        return None
    slack = 1e-9
    return bool(interval.low - slack <= truth <= interval.high + slack)


# -- tallies ------------------------------------------------------------------------------


@dataclasses.dataclass
class Tally:
    """Exit codes and coverage of one scenario over its seeds."""

    scenario: Scenario
    codes: Counter[int] = dataclasses.field(default_factory=Counter)
    errors: list[str] = dataclasses.field(default_factory=list)
    coverage: dict[str, Coverage] = dataclasses.field(default_factory=dict)

    @property
    def seeds(self) -> int:
        return sum(self.codes.values())

    def count(self, verdict: str) -> int:
        """Seeds with this verdict: PASS, REGRESSION, INCONCLUSIVE or ERROR."""
        if verdict == "ERROR":
            return sum(n for code, n in self.codes.items() if code not in EXIT_NAMES)
        code = {name: code for code, name in EXIT_NAMES.items()}[verdict]
        return self.codes[code]

    def rate(self, verdict: str) -> float:
        return self.count(verdict) / self.seeds if self.seeds else math.nan

    def quantile_coverage(self) -> Coverage:
        """Coverage pooled over every quantile metric (tick_total and stages)."""
        pooled = Coverage()
        for key, item in self.coverage.items():
            if is_quantile_metric(key.split(":", 1)[1]):
                pooled.covered += item.covered
                pooled.total += item.total
                pooled.missing += item.missing
        return pooled

    def add(self, outcome: CompareOutcome) -> None:
        self.codes[outcome.code] += 1
        if outcome.error is not None:
            self.errors.append(f"seed {outcome.seed}: {outcome.error}")
        for interval in outcome.intervals:
            metric = interval.key.split(":", 1)[1]
            truth = true_change(self.scenario, metric, outcome.deadline_ns)
            if truth is not None:
                self.coverage.setdefault(interval.key, Coverage()).add(covers(interval, truth))

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "scenario": self.scenario.name,
            **dataclasses.asdict(self.scenario),
            "seeds": self.seeds,
            "codes": {str(code): n for code, n in sorted(self.codes.items())},
            "errors": self.errors,
        }
        for verdict in ("PASS", "REGRESSION", "INCONCLUSIVE", "ERROR"):
            count = self.count(verdict)
            result[verdict.lower()] = {
                "count": count,
                "rate": count / self.seeds if self.seeds else None,
                "clopper_pearson_95": clopper_pearson(count, self.seeds),
            }
        pooled = self.quantile_coverage()
        result["quantile_coverage"] = dataclasses.asdict(pooled) | {"rate": pooled.rate}
        result["coverage"] = {
            key: dataclasses.asdict(item) | {"rate": item.rate}
            for key, item in sorted(self.coverage.items())
        }
        return result


@dataclasses.dataclass
class CanaryTally:
    """Decisions of simulated rollouts, look by look."""

    scenario: CanaryScenario
    sequences: list[tuple[int, ...]] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)

    @property
    def rollouts(self) -> int:
        return len(self.sequences)

    def rollback_by_last_look(self) -> int:
        """Rollouts with a ROLLBACK at some look (the false ones, under the null)."""
        return sum(1 in codes for codes in self.sequences)

    def promote_by_last_look(self) -> int:
        """Rollouts with a PROMOTE at some look (a false one when misses sit at the limit)."""
        return sum(0 in codes for codes in self.sequences)

    def rollback_at_last_look(self) -> int:
        return sum(codes[-1] == 1 for codes in self.sequences if codes)

    def reversals(self) -> int:
        """Rollouts where a ROLLBACK or PROMOTE was followed by a different decision."""
        return sum(_reversed(codes) for codes in self.sequences)

    def to_dict(self) -> dict[str, Any]:
        n = self.rollouts
        rollbacks = self.rollback_by_last_look()
        return {
            "scenario": self.scenario.name,
            **dataclasses.asdict(self.scenario),
            "rollouts": n,
            "decisions": [[CANARY_NAMES.get(c, f"exit {c}") for c in s] for s in self.sequences],
            "rollback_by_last_look": {
                "count": rollbacks,
                "rate": rollbacks / n if n else None,
                "clopper_pearson_95": clopper_pearson(rollbacks, n),
            },
            "rollback_at_last_look": self.rollback_at_last_look(),
            "promote_by_last_look": self.promote_by_last_look(),
            "reversals": self.reversals(),
            "errors": self.errors,
        }


def _reversed(codes: Sequence[int]) -> bool:
    for index, code in enumerate(codes):
        if code in (0, 1) and any(later != code for later in codes[index + 1 :]):
            return True
    return False


@dataclasses.dataclass
class GridResult:
    """What :func:`run_grid` returns: per-scenario tallies, the settings, the wall time."""

    gate: dict[str, Tally]
    canary: dict[str, CanaryTally]
    seeds: int
    workers: int
    subprocess: bool
    seconds: float

    def errors(self) -> list[str]:
        """Every error (exit code other than 0/1/3, missing JSON), scenario first."""
        found = [f"{name}: {e}" for name, tally in self.gate.items() for e in tally.errors]
        found += [f"{name}: {e}" for name, tally in self.canary.items() for e in tally.errors]
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "tracekit.calibration",
            "version": 1,
            "tracekit_version": _tracekit_version(),
            "seeds": self.seeds,
            "workers": self.workers,
            "subprocess": self.subprocess,
            "seconds": round(self.seconds, 1),
            "machine": machine_notes(),
            "gate": [tally.to_dict() for tally in self.gate.values()],
            "canary": [tally.to_dict() for tally in self.canary.values()],
        }


# -- statistics of the tallies ------------------------------------------------------------


def clopper_pearson(count: int, total: int, confidence: float = 0.95) -> list[float] | None:
    """Exact two-sided binomial (Clopper-Pearson) interval for ``count / total``."""
    if total == 0:
        return None
    from scipy.stats import beta

    tail = (1 - confidence) / 2
    low = 0.0 if count == 0 else float(beta.ppf(tail, count, total - count + 1))
    high = 1.0 if count == total else float(beta.ppf(1 - tail, count + 1, total - count))
    return [round(low, 4), round(high, 4)]


def max_count_at_rate(total: int, rate: float, risk: float = 0.01) -> int:
    """Largest count to accept for "rate <= ``rate``": a true ``rate`` exceeds it w.p. <= risk."""
    from scipy.stats import binom

    return int(binom.ppf(1 - risk, total, rate))


def min_count_at_rate(total: int, rate: float, risk: float = 0.01) -> int:
    """Smallest count to accept for "rate >= ``rate``": a true ``rate`` falls below w.p. <= risk."""
    from scipy.stats import binom

    return int(binom.ppf(risk, total, rate))


# -- canary rollouts ----------------------------------------------------------------------


def write_canary_pool(root: Path, scenario: CanaryScenario, seed: int) -> None:
    """Write both sides' whole phase (one run each), one window file per look."""
    ticks = scenario.looks * scenario.ticks_per_look
    reference = reference_tick_totals(scenario.shape, (ticks,), scenario.sigma_scale)
    slow = 1.0 + scenario.slowdown
    deadline = deadline_ns(reference * slow, scenario.deadline_quantile)
    for side, factor in (("control", 1.0), ("canary", slow)):
        rng = np.random.default_rng(stream_seed(scenario.name, seed, side))
        (durations,) = stage_durations_ms(scenario.shape, (ticks,), rng, scenario.sigma_scale)
        write_run(
            root / side,
            f"{side}-{seed}",
            to_ns(durations * factor),
            deadline,
            0.2,
            int(rng.integers(0, 2**63)),
            window_ticks=scenario.ticks_per_look,
        )


def link_look(pool: Path, look_root: Path, look: int) -> None:
    """``look_root/<side>/run_id=*/`` with hard links to the pool's windows 1..look."""
    for run_folder in pool.glob("*/run_id=*"):
        target = look_root / run_folder.parent.name / run_folder.name
        target.mkdir(parents=True, exist_ok=True)
        for window in range(1, look + 1):
            name = f"golden-{window:06d}.parquet"
            os.link(run_folder / name, target / name)


def canary_rollout(
    scenario: CanaryScenario, seed: int, work: Path, use_subprocess: bool = False
) -> tuple[tuple[int, ...], list[str]]:
    """Judge looks 1..N of one simulated rollout: (exit codes, errors)."""
    folder = work / f"{scenario.name}-{seed}"
    shutil.rmtree(folder, ignore_errors=True)
    codes: list[int] = []
    errors: list[str] = []
    try:
        write_canary_pool(folder / "pool", scenario, seed)
        for look in range(1, scenario.looks + 1):
            look_root = folder / f"look-{look}"
            link_look(folder / "pool", look_root, look)
            args = [
                "canary",
                str(look_root / "control"),
                str(look_root / "canary"),
                "--phase",
                "1",
                "--state",
                str(folder / "state.json"),
            ]
            outcome = run_cli(args, folder / f"look-{look}.json", use_subprocess)
            codes.append(outcome.code)
            if outcome.code not in CANARY_NAMES:
                errors.append(f"seed {seed} look {look}: exit {outcome.code}: {outcome.stderr}")
            shutil.rmtree(look_root, ignore_errors=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return tuple(codes), errors


# -- the grid -------------------------------------------------------------------------------


Task = tuple[str, Scenario | CanaryScenario, int]


def _run_task(task: Task, work: str, use_subprocess: bool) -> Any:
    kind, scenario, seed = task
    if kind == "gate":
        assert isinstance(scenario, Scenario)
        return compare_once(scenario, seed, Path(work), use_subprocess)
    assert isinstance(scenario, CanaryScenario)
    return canary_rollout(scenario, seed, Path(work), use_subprocess)


def _map_tasks(
    tasks: list[Task], work: Path, workers: int, use_subprocess: bool
) -> Iterable[tuple[Task, Any]]:
    run = functools.partial(_run_task, work=str(work), use_subprocess=use_subprocess)
    if workers <= 1:
        yield from ((task, run(task)) for task in tasks)
        return
    _make_importable()
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # polars is not fork-safe
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield from zip(tasks, pool.map(run, tasks, chunksize=1), strict=True)


def _make_importable() -> None:
    """Let spawned workers import this module by name (e.g. when a test loaded it by path)."""
    here = str(Path(__file__).resolve().parent)
    if __name__ != "__main__" and here not in sys.path:
        sys.path.insert(0, here)


def run_grid(
    scenarios: Sequence[Scenario],
    seeds: int,
    *,
    canary: Sequence[CanaryScenario] = (),
    canary_seeds: int | None = None,
    workers: int = 1,
    use_subprocess: bool = False,
    work_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> GridResult:
    """Run ``tracekit compare`` on every scenario for seeds 0..seeds-1 and tally.

    Args:
        scenarios: Gate scenarios (see :func:`full_grid`, :func:`ci_grid`).
        seeds: Seeds per gate scenario.
        canary: Canary scenarios (see ``CANARY_SCENARIOS``); each seed is one rollout.
        canary_seeds: Rollouts per canary scenario (default: ``seeds``).
        workers: Worker processes (1 runs everything in this process).
        use_subprocess: Run the CLI as real subprocesses instead of in-process.
        work_dir: Where the traces are written (and removed); default a temp folder.
        progress: Called with a short line per finished task.

    Returns:
        A :class:`GridResult` with a :class:`Tally` per gate scenario name and a
        :class:`CanaryTally` per canary scenario name.
    """
    started = time.perf_counter()
    rollouts = seeds if canary_seeds is None else canary_seeds
    tasks: list[Task] = [("gate", s, seed) for s in scenarios for seed in range(seeds)]
    tasks += [("canary", s, seed) for s in canary for seed in range(rollouts)]
    gate = {s.name: Tally(s) for s in scenarios}
    canary_tallies = {s.name: CanaryTally(s) for s in canary}
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="calibrate-")))
        else:
            work = work_dir
            work.mkdir(parents=True, exist_ok=True)
        for (kind, scenario, seed), result in _map_tasks(tasks, work, workers, use_subprocess):
            if kind == "gate":
                gate[scenario.name].add(result)
                label = EXIT_NAMES.get(result.code, f"ERROR exit {result.code}")
            else:
                codes, errors = result
                canary_tallies[scenario.name].sequences.append(codes)
                canary_tallies[scenario.name].errors.extend(errors)
                label = " ".join(CANARY_NAMES.get(c, f"ERROR({c})") for c in codes)
            if progress is not None:
                progress(f"{scenario.name} seed {seed}: {label}")
    return GridResult(
        gate, canary_tallies, seeds, workers, use_subprocess, time.perf_counter() - started
    )


# -- report ----------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.0f}%"


def _interval(bounds: list[float] | None) -> str:
    return "n/a" if bounds is None else f"{100 * bounds[0]:.0f}-{100 * bounds[1]:.0f}%"


def markdown_table(result: GridResult) -> str:
    """The gate and canary tallies as Markdown tables, with the binomial slack stated."""
    lines = [
        "| scenario | n per side | runs | sampling | effect | seeds | %PASS | %REGRESSION "
        "| REGRESSION 95% CP | %INCONCLUSIVE | errors | coverage (90% intervals) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for tally in result.gate.values():
        s = tally.scenario
        pooled = tally.quantile_coverage()
        lines.append(
            f"| {s.name} | {s.ticks:,} | {s.runs} | {_percent(s.sample_rate)} "
            f"| {'same' if s.effect == 0 else f'+{_percent(s.effect)}'} | {tally.seeds} "
            f"| {_percent(tally.rate('PASS'))} | {_percent(tally.rate('REGRESSION'))} "
            f"| {_interval(clopper_pearson(tally.count('REGRESSION'), tally.seeds))} "
            f"| {_percent(tally.rate('INCONCLUSIVE'))} | {tally.count('ERROR')} "
            f"| {_percent(pooled.rate)} ({pooled.covered}/{pooled.total}) |"
        )
    if result.canary:
        lines += [
            "",
            "| canary scenario | ticks per look | looks | rollouts | ROLLBACK by last look "
            "| 95% CP | ROLLBACK at last look | PROMOTE by last look | reversed decisions "
            "| errors |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for rollout in result.canary.values():
            c, n = rollout.scenario, rollout.rollouts
            rollbacks = rollout.rollback_by_last_look()
            lines.append(
                f"| {c.name} | {c.ticks_per_look:,} | {c.looks} | {n} "
                f"| {_percent(rollbacks / n if n else None)} "
                f"| {_interval(clopper_pearson(rollbacks, n))} "
                f"| {_percent(rollout.rollback_at_last_look() / n if n else None)} "
                f"| {_percent(rollout.promote_by_last_look() / n if n else None)} "
                f"| {rollout.reversals()} | {len(rollout.errors)} |"
            )
    lines += ["", slack_note(result)]
    return "\n".join(lines) + "\n"


def slack_note(result: GridResult) -> str:
    """How far a measured rate may sit from the truth by chance at these seed counts."""
    seeds = result.seeds
    if seeds == 0:
        return ""
    limit = max_count_at_rate(seeds, 0.05)
    return (
        f"Binomial slack: with {seeds} seeds a rate's exact 95% Clopper-Pearson interval is "
        f"given for REGRESSION; a gate whose true false-REGRESSION rate is exactly 5% shows "
        f"more than {limit} of {seeds} ({_percent(limit / seeds)}) with probability <= 1%. "
        "Coverage pools the p50/p95/p99 (and any other quantile) metrics of tick_total and "
        "every stage; metrics of one comparison are correlated, so its binomial slack is "
        "wider than the pooled count suggests."
    )


def machine_notes() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }


def _tracekit_version() -> str:
    from tracekit._version import __version__

    return __version__


# -- command line ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/calibrate.py",
        description="Calibrate tracekit compare / canary: exit codes and interval coverage "
        "on golden traces with known truth.",
        epilog="Gate scenarios" + __doc__.split("Gate scenarios", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--grid",
        choices=("full", "ci"),
        default="ci",
        help="full: 180 gate scenarios; ci: the 11 behind the required rates",
    )
    parser.add_argument("--seeds", type=int, default=20, help="seeds per scenario (default 20)")
    parser.add_argument(
        "--canary-seeds",
        type=int,
        default=None,
        help="rollouts per canary scenario (default: --seeds)",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--only",
        metavar="SCENARIO",
        default=None,
        help="only scenarios matching this name or glob, e.g. 'ar1-300t-*'; "
        "'canary' for the canary rollouts only",
    )
    parser.add_argument("--no-canary", action="store_true", help="skip the canary rollouts")
    parser.add_argument(
        "--subprocess",
        action="store_true",
        help="run the CLI as real subprocesses (default: in-process)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the traces while they are used (default: a temp folder)",
    )
    parser.add_argument("--json-out", type=Path, default=None, help="also write the tallies here")
    parser.add_argument("--markdown-out", type=Path, default=None, help="also write the table here")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the grid, print the Markdown table; exit 1 if any CLI call errored."""
    args = parse_args(argv)
    grid = full_grid() if args.grid == "full" else ci_grid()
    only_canary = args.only is not None and args.only.startswith("canary")
    scenarios = [] if only_canary else select(grid, args.only)
    canary: list[CanaryScenario] = []
    if not args.no_canary and (args.only is None or only_canary):
        canary = [
            c
            for c in CANARY_SCENARIOS
            if args.only in (None, "canary") or fnmatch.fnmatch(c.name, args.only)
        ]
    if not scenarios and not canary:
        sys.stderr.write(f"no scenario matches {args.only!r}\n")
        return 2

    def progress(line: str) -> None:
        if not args.quiet:
            sys.stderr.write(line + "\n")

    result = run_grid(
        scenarios,
        args.seeds,
        canary=canary,
        canary_seeds=args.canary_seeds,
        workers=args.workers,
        use_subprocess=args.subprocess,
        work_dir=args.out,
        progress=progress,
    )
    table = markdown_table(result)
    sys.stdout.write(table)
    sys.stdout.write(
        f"\n{result.seconds:.0f} s, {args.workers} worker(s), "
        f"{'subprocess' if args.subprocess else 'in-process'} CLI\n"
    )
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    if args.markdown_out is not None:
        args.markdown_out.write_text(table, encoding="utf-8")
    errors = result.errors()
    if errors:
        sys.stderr.write(f"\nERROR: {len(errors)} CLI call(s) did not give 0, 1 or 3:\n")
        sys.stderr.write("\n".join(f"  {line}" for line in errors[:20]) + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
