"""Benchmark: `tracekit compare` on 1M ticks per side, 5 stages.

Usage::

    python bench/bench_compare.py            # generates bench/data/cmp-{a,b} if missing
    python bench/bench_compare.py --quick    # 100k ticks per side

Reports the wall time of the whole command (a fresh process, as CI runs it; median
of 3) and, in-process, how it splits into checking the files, building the two
profiles (including the exact quantiles analyze reports) and the gate's intervals.
Target: under 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def ensure(out: Path, rows: int, seed: int) -> None:
    subprocess.run(
        [sys.executable, str(HERE / "gen_dataset.py"), "--rows", str(rows), "--files", "10",
         "--seed", str(seed), "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k ticks per side")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = 640_000 if args.quick else 6_400_000
    a, b = HERE / "data" / f"cmp-{rows}-a", HERE / "data" / f"cmp-{rows}-b"
    ensure(a, rows, 11)
    ensure(b, rows, 12)

    import tracekit
    from tracekit.decisions.gate import compare_profiles
    from tracekit.decisions.policy import GatePolicy
    from tracekit.decisions.profile import profile_from_traces

    started = time.perf_counter()
    traces_a, traces_b = tracekit.load(a), tracekit.load(b)
    loaded = time.perf_counter()
    profile_a, profile_b = profile_from_traces(traces_a), profile_from_traces(traces_b)
    profiled = time.perf_counter()
    result = compare_profiles(profile_a, profile_b, GatePolicy())
    gated = time.perf_counter()

    walls = []
    for _ in range(args.repeat):
        begin = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "tracekit", "compare", str(a), str(b), "--format", "json"],
            capture_output=True,
            check=False,
        )
        walls.append(time.perf_counter() - begin)
        if done.returncode not in (0, 1, 3):
            sys.stderr.write(done.stderr.decode())
            return 2
    stages = len(profile_a.stage_names())
    verdict = result.verdict.value
    print(f"ticks per side: {profile_a.total_ticks:,} / {profile_b.total_ticks:,}; "
          f"stages incl. tick_total: {stages}; verdict {verdict}")  # fmt: skip
    print(f"in-process: check files {loaded - started:.2f} s, build profiles "
          f"{profiled - loaded:.2f} s, gate {gated - profiled:.2f} s")  # fmt: skip
    print(f"tracekit compare (fresh process), median of {args.repeat}: "
          f"{statistics.median(walls):.2f} s (runs: {', '.join(f'{w:.2f}' for w in walls)}); "
          "target < 5 s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
