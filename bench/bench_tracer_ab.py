"""The tracer's overhead, this tracekit against an older one, in one process.

Usage::

    python bench/bench_tracer_ab.py                 # against OLD_REF, ~70 s
    python bench/bench_tracer_ab.py --old REF       # any git ref of this repository
    python bench/bench_tracer_ab.py --quick         # ~10 s
    python bench/bench_tracer_ab.py --json ab.json

Method. The older tracer is taken from git (``git archive REF tracekit``), unpacked
into a temporary folder as a package named ``tracekit_ab_old`` (its own imports
rewritten to that name), and imported beside the working tree's ``tracekit``, so the
two run in the same process, on the same interpreter state. Both build the tracers
of bench/bench_tracer.py's rows with the same settings, and every row of that
benchmark that both versions have is measured for both with the same batch code.

Rounds are interleaved: each round takes the rows in a shuffled order and, for each
row, runs one batch (``--batch`` operations) of the old and one of the new tracer
back to back, in a random order, so drift and the load of a shared machine hit both
alike. The benchmark's floors (the empty loop, an empty ``with``, ...) are built
twice, once per side, with identical code: their ratio is an A/A control that shows
what "no difference" measures as. Per-operation cost is a batch's time divided by
its size, minus the median cost of an empty loop iteration (one figure for both
sides). For each row the table gives each side's median and minimum, the ratio of
the medians, and the median of the per-round ratios (new / old of the two batches
run back to back) with a 95 % bootstrap interval. The cyclic garbage collector is
off while timing, as in bench/bench_tracer.py.

The rows only the new tracer has (decorators, ``async with``) and the OpenTelemetry
rows are run in the same rounds, once per round, and shown in a second table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import io
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import bench_tracer
from bench_tracer import LOOP_KEY, Case, Tracers, build_cases, check_setup, make_otel, make_tracers

OLD_REF = "ea26870"
"""The last commit before the tracer's API rework (ef85303, merged in d18c422)."""
OLD_PACKAGE = "tracekit_ab_old"
BOOTSTRAP_RESAMPLES = 2000
REPOSITORY = Path(__file__).resolve().parent.parent

_IMPORT = re.compile(r"^(\s*(?:from|import)\s+)tracekit(?=[\s.])", re.MULTILINE)


def materialise(ref: str, into: Path) -> str:
    """Unpack ``tracekit/`` at ``ref`` into ``into`` as package ``OLD_PACKAGE``; returns
    the commit's full hash."""
    commit = subprocess.run(
        ["git", "-C", str(REPOSITORY), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(REPOSITORY), "archive", commit, "tracekit"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    package = into / OLD_PACKAGE
    (into / "tracekit").rename(package)
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(_IMPORT.sub(rf"\g<1>{OLD_PACKAGE}", text), encoding="utf-8")
    return commit


@dataclass
class OldTracekit:
    """The older version's tracer, config and null span."""

    commit: str
    tracer_type: Any
    config_type: Any
    null_span: object


def import_old(folder: Path, commit: str) -> OldTracekit:
    sys.path.insert(0, str(folder))
    try:
        tracer_module: ModuleType = importlib.import_module(f"{OLD_PACKAGE}.trace.tracer")
        config_module: ModuleType = importlib.import_module(f"{OLD_PACKAGE}.trace.config")
    finally:
        sys.path.remove(str(folder))
    return OldTracekit(
        commit,
        tracer_module.Tracer,
        config_module.TraceConfig,
        tracer_module.NULL_SPAN,
    )


@dataclass
class Pair:
    """One row measured for both versions."""

    key: str
    label: str
    old: Case
    new: Case


def pair_cases(old_cases: list[Case], new_cases: list[Case]) -> tuple[list[Pair], list[Case]]:
    """Rows both versions have, and the rows only the new side has."""
    old_by_key = {case.key: case for case in old_cases}
    pairs = [
        Pair(case.key, case.label, old_by_key[case.key], case)
        for case in new_cases
        if case.key in old_by_key
    ]
    only_new = [case for case in new_cases if case.key not in old_by_key]
    return pairs, only_new


def run_batch(case: Case, batch: int) -> None:
    case.per_op_raw.append(case.run(batch) / batch)
    if case.after_batch is not None:
        case.after_batch()


def run_interleaved(
    pairs: list[Pair],
    only_new: list[Case],
    batch: int,
    warmup_rounds: int,
    budget_s: float,
    seed: int,
) -> tuple[int, float]:
    """Warm up, then interleaved rounds until the budget is spent; (rounds, seconds)."""
    rng = random.Random(seed)
    units: list[Pair | Case] = [*pairs, *only_new]
    for _ in range(warmup_rounds):
        for unit in units:
            for case in (unit.old, unit.new) if isinstance(unit, Pair) else (unit,):
                case.run(batch)
                if case.after_batch is not None:
                    case.after_batch()
    gc.collect()
    gc.freeze()
    gc.disable()
    rounds = 0
    started = time.perf_counter()
    try:
        while rounds < 5 or time.perf_counter() - started < budget_s:
            rng.shuffle(units)
            for unit in units:
                if isinstance(unit, Pair):
                    first, second = (
                        (unit.old, unit.new) if rng.random() < 0.5 else (unit.new, unit.old)
                    )
                    run_batch(first, batch)
                    run_batch(second, batch)
                else:
                    run_batch(unit, batch)
            rounds += 1
            if rounds % bench_tracer.GC_EVERY_ROUNDS == 0:
                gc.collect()
    finally:
        gc.enable()
        gc.unfreeze()
    return rounds, time.perf_counter() - started


@dataclass
class AbRow:
    key: str
    label: str
    old_median_ns: float
    new_median_ns: float
    old_min_ns: float
    new_min_ns: float
    ratio_of_medians: float
    paired_ratio: float
    paired_low: float
    paired_high: float
    batches: int


def bootstrap_median(values: Sequence[float], rng: random.Random) -> tuple[float, float]:
    """A 95 % percentile-bootstrap interval of the median of ``values``."""
    n = len(values)
    medians = sorted(
        statistics.median(rng.choices(values, k=n)) for _ in range(BOOTSTRAP_RESAMPLES)
    )
    return medians[int(0.025 * BOOTSTRAP_RESAMPLES)], medians[int(0.975 * BOOTSTRAP_RESAMPLES) - 1]


def loop_baseline(pairs: list[Pair]) -> float:
    loop = next(pair for pair in pairs if pair.key == LOOP_KEY)
    return statistics.median([*loop.old.per_op_raw, *loop.new.per_op_raw])


def summarise(pairs: list[Pair], baseline: float, seed: int) -> list[AbRow]:
    rng = random.Random(seed)
    rows = []
    for pair in pairs:
        subtract = 0.0 if pair.key == LOOP_KEY else baseline
        old = [value - subtract for value in pair.old.per_op_raw]
        new = [value - subtract for value in pair.new.per_op_raw]
        ratios = [b / a for a, b in zip(old, new, strict=True) if a > 0]
        low, high = bootstrap_median(ratios, rng)
        rows.append(
            AbRow(
                key=pair.key,
                label=pair.label,
                old_median_ns=statistics.median(old),
                new_median_ns=statistics.median(new),
                old_min_ns=min(old),
                new_min_ns=min(new),
                ratio_of_medians=statistics.median(new) / statistics.median(old),
                paired_ratio=statistics.median(ratios),
                paired_low=low,
                paired_high=high,
                batches=len(old),
            )
        )
    return rows


def format_ab(rows: list[AbRow]) -> str:
    header = (
        "case",
        "old median",
        "new median",
        "old min",
        "new min",
        "new/old medians",
        "paired new/old [95% CI]",
    )
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        lines.append(
            (
                row.label,
                f"{row.old_median_ns:,.1f}",
                f"{row.new_median_ns:,.1f}",
                f"{row.old_min_ns:,.1f}",
                f"{row.new_min_ns:,.1f}",
                f"{row.ratio_of_medians:.3f}",
                f"{row.paired_ratio:.3f} [{row.paired_low:.3f}, {row.paired_high:.3f}]",
            )
        )
    return render(lines)


def format_only_new(cases: list[Case], baseline: float) -> str:
    lines: list[tuple[str, ...]] = [("case (new tracer only)", "median ns", "min ns")]
    for case in cases:
        net = [value - baseline for value in case.per_op_raw]
        lines.append((case.label, f"{statistics.median(net):,.1f}", f"{min(net):,.1f}"))
    return render(lines)


def render(lines: list[tuple[str, ...]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = []
    for number, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells).rstrip())
        if number == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def wanted(key: str, only: Sequence[str]) -> bool:
    return any(text in key for text in only)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", default=OLD_REF, help=f"git ref of the older tracer ({OLD_REF})")
    parser.add_argument("--quick", action="store_true", help="a ~10 s run")
    parser.add_argument("--seconds", type=float, help="measuring budget (default 60; 6 quick)")
    parser.add_argument("--batch", type=int, default=1000, help="operations per batch")
    parser.add_argument("--seed", type=int, default=12345, help="seed of the order")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write results as JSON")
    parser.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="measure only the rows whose key contains TEXT (repeatable; the empty loop "
        "is always kept)",
    )
    return parser.parse_args(argv)


@contextlib.contextmanager
def both_tracers(
    old: OldTracekit, folder: Path, interval: int
) -> Iterator[tuple[Tracers, Tracers]]:
    with (
        make_tracers(folder / "old", interval, old.tracer_type, old.config_type) as old_tracers,
        make_tracers(folder / "new", interval) as new_tracers,
    ):
        yield old_tracers, new_tracers


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    budget_s = args.seconds if args.seconds is not None else (6.0 if args.quick else 60.0)
    warmup_rounds = 5 if args.quick else 20
    interval = 100
    load_before = os.getloadavg()
    otel = make_otel()
    loop = asyncio.new_event_loop()
    try:
        with tempfile.TemporaryDirectory(prefix="tracekit-ab-") as tmp:
            commit = materialise(args.old, Path(tmp) / "src")
            old = import_old(Path(tmp) / "src", commit)
            with both_tracers(old, Path(tmp), interval) as (old_tracers, new_tracers):
                check_setup(old_tracers, old.null_span)
                check_setup(new_tracers)
                old_cases = build_cases(old_tracers, None, interval)
                new_cases = build_cases(new_tracers, otel, interval, loop)
                pairs, only_new = pair_cases(old_cases, new_cases)
                if args.only:
                    pairs = [p for p in pairs if p.key == LOOP_KEY or wanted(p.key, args.only)]
                    only_new = [c for c in only_new if wanted(c.key, args.only)]
                rounds, measured_s = run_interleaved(
                    pairs, only_new, args.batch, warmup_rounds, budget_s, args.seed
                )
                problems = [
                    *(f"old: {p}" for p in bench_tracer.check_after(old_tracers)),
                    *(f"new: {p}" for p in bench_tracer.check_after(new_tracers)),
                ]
    finally:
        loop.close()
        if otel is not None:
            otel.shutdown()
    load_after = os.getloadavg()
    baseline = loop_baseline(pairs)
    rows = summarise(pairs, baseline, args.seed)
    print(
        f"tracer A/B: old = {args.old} ({commit[:10]}), new = this working tree; "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    print(
        f"{rounds} interleaved rounds x {args.batch} ops/batch, {warmup_rounds} warm-up rounds, "
        f"{measured_s:.1f} s measuring, gc off while timing; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(
        f"ns per operation, empty-loop cost ({baseline:.1f} ns) subtracted; "
        "the baseline rows are A/A controls"
    )
    print()
    print(format_ab(rows))
    print()
    print(format_only_new(only_new, baseline))
    for problem in problems:
        print(f"WARNING: {problem}")
    if args.json is not None:
        document = {
            "benchmark": "bench/bench_tracer_ab.py",
            "old_ref": args.old,
            "old_commit": commit,
            "rounds": rounds,
            "ops_per_batch": args.batch,
            "measuring_s": measured_s,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "loop_baseline_ns": baseline,
            "ab": [dict(vars(row)) for row in rows],
            "only_new": {
                case.key: {
                    "median_ns": statistics.median(case.per_op_raw) - baseline,
                    "min_ns": min(case.per_op_raw) - baseline,
                }
                for case in only_new
            },
            "problems": problems,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
