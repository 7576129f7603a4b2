"""Profile from footers (``tracekit.summary``) against the full read, side by side.

Usage::

    python bench/bench_summaries.py --rows 100_000_000 --files 100 --reps 3

Generates (or reuses) a dataset with ``bench/gen_dataset.py`` (every file carries
its summary, as the golden writer writes it), then times, alternately in one run,
``load_side(paths, exact=True)`` (every row read, today's profile) and
``load_side(paths)`` (the footers), and reports the medians, their ratio, the peak
RSS of each (in a child process of its own) and the largest relative error of any
stage quantile (p50/p95/p99) of the footer profile against the exact figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = """
import json, resource, sys, time
from tracekit.decisions.sides import load_side
start = time.perf_counter()
profile = load_side([sys.argv[1]], exact=sys.argv[2] == "exact")
seconds = time.perf_counter() - start
print(json.dumps({
    "seconds": seconds,
    "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "profile": profile.to_dict(),
}))
"""


def run(dataset: Path, mode: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(dataset), mode],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    args = parser.parse_args()
    dataset = args.data / f"sum-r{args.rows}-f{args.files}"
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(HERE / "gen_dataset.py"),
            "--rows",
            str(args.rows),
            "--files",
            str(args.files),
            "--out",
            str(dataset),
        ],
        check=True,
    )
    print(f"dataset {dataset} ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    size = sum(path.stat().st_size for path in dataset.rglob("*.parquet"))
    times: dict[str, list[float]] = {"exact": [], "footers": []}
    rss: dict[str, float] = {"exact": 0.0, "footers": 0.0}
    profiles: dict[str, dict[str, object]] = {}
    for _ in range(args.reps):
        for mode in ("exact", "footers"):
            result = run(dataset, mode)
            times[mode].append(float(result["seconds"]))  # type: ignore[arg-type]
            rss[mode] = max(rss[mode], float(result["rss_mib"]))  # type: ignore[arg-type]
            profiles[mode] = result["profile"]  # type: ignore[assignment]
    exact = profiles["exact"]["exact_percentiles"]
    fast = profiles["footers"]["stage_percentiles"]
    errors = {
        f"{stage}:{label}": abs(fast[stage][label] - value) / value  # type: ignore[index]
        for stage, figures in exact.items()  # type: ignore[attr-defined]
        for label, value in figures.items()
    }
    worst = max(errors, key=errors.__getitem__)
    exact_s = statistics.median(times["exact"])
    fast_s = statistics.median(times["footers"])
    print(f"{args.rows:,} rows, {args.files} files, {size / 2**20:,.0f} MiB on disk")
    print("| profile | median s | peak RSS MiB | time per footers |")
    print("| --- | ---: | ---: | ---: |")
    print(
        f"| every row (`--exact`) | {exact_s:.2f} | {rss['exact']:,.0f} | {exact_s / fast_s:.1f}x |"
    )
    print(f"| footers (default) | {fast_s:.2f} | {rss['footers']:,.0f} | 1.0x |")
    print(f"largest relative quantile error: {errors[worst]:.4%} ({worst}); all:")
    print(json.dumps({key: round(value, 6) for key, value in sorted(errors.items())}))
    print(f"ru_maxrss of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
