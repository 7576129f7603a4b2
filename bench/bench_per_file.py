"""What one small golden file costs a reader, piece by piece: the footer check of
this tree against an older commit's, and the floors under them.

Usage::

    python bench/bench_per_file.py --old HEAD~1               # 10,000 window files, ~2 min
    python bench/bench_per_file.py --old REF --sample 1000 --rounds 5

Method. The dataset is bench_analyze.py's many-files one (6,400,000 rows in
10,000 files of about 640 rows, and the same rows in one file), made by
gen_dataset.py when missing. The older ``tracekit/store/check.py`` is taken from
git and imported beside this tree's (it imports nothing that moved), and both
check the same ``--sample`` files in this process, interleaved over ``--rounds``
rounds in a random order; the table gives each side's median milliseconds a file
and the median of the paired ratios. Then, once each, the floors a reader of many
small files cannot go under with these libraries (per file: all files' cost less
the one file's, divided by the files):

* ``pq.read_metadata`` of a path: pyarrow's footer parse alone;
* polars reading every file: its count of rows only (opening and parsing each
  footer), the 13 columns analyze reads, and those with the 7 string columns cast
  to Categorical as the batch reader does (``tracekit.analysis.reader``);
  each the least CPU of three runs.

The check's outcomes of both sides are compared on every sampled file.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from bench_analyze import BENCH_DIR, dataset

from tracekit.analysis.traceset import ANALYZE_COLUMNS as COLUMNS

REPEATS = 3
"""Runs of each polars read; the one of least CPU counts (the first pays warm-ups)."""


def old_check(ref: str, folder: Path) -> ModuleType:
    """``tracekit/store/check.py`` of ``ref``, imported as a module of its own."""
    text = subprocess.run(
        ["git", "show", f"{ref}:tracekit/store/check.py"],
        cwd=BENCH_DIR.parent,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = folder / "check_old.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("check_old", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def per_file_ms(check: Callable[[str], object], files: Sequence[str]) -> float:
    started = time.perf_counter()
    for path in files:
        check(path)
    return (time.perf_counter() - started) / len(files) * 1e3


def polars_seconds(files: Sequence[str], what: str) -> tuple[float, float]:
    """Wall and CPU seconds of polars reading ``files`` (see the module doc)."""
    import polars as pl

    from tracekit.analysis.reader import STRINGS
    from tracekit.analysis.sources import scan_options

    scan = pl.scan_parquet(list(files), hive_partitioning=False, glob=False, **scan_options())
    if what == "rows":
        query = scan.select(pl.len())
    elif what == "columns":
        query = scan.select(COLUMNS)
    else:
        query = scan.select(
            pl.col(name).cast(pl.Categorical) if name in STRINGS else pl.col(name)
            for name in COLUMNS
        )
    best: tuple[float, float] | None = None
    for _ in range(REPEATS):
        cpu, wall = time.process_time(), time.perf_counter()
        query.collect()
        took = (time.perf_counter() - wall, time.process_time() - cpu)
        best = took if best is None or took[1] < best[1] else best
    assert best is not None
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, help="git ref of the older footer check")
    parser.add_argument("--rows", type=int, default=6_400_000)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=2_000, help="files each check round reads")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--data", type=Path, default=BENCH_DIR / "data", help="dataset folder")
    args = parser.parse_args(argv)

    import pyarrow.parquet as pq

    from tracekit.analysis.sources import resolve_paths
    from tracekit.store import check

    many = resolve_paths([dataset(args.data, args.rows, args.files)])
    one = resolve_paths([dataset(args.data, args.rows, 1)])
    sample = many[: args.sample]
    with tempfile.TemporaryDirectory() as folder:
        old = old_check(args.old, Path(folder))
        for path in sample:
            if old.check_file(path) != check.check_file(path):
                print(f"{path}: the two checks disagree", file=sys.stderr)
                return 1
        sides = {"old": old.check_file, "new": check.check_file}
        times: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(args.rounds):
            order = list(sides)
            random.shuffle(order)
            for side in order:
                times[side].append(per_file_ms(sides[side], sample))
    ratios = [new / old for new, old in zip(times["new"], times["old"], strict=True)]
    metadata_ms = per_file_ms(pq.read_metadata, sample)

    print(f"### One small file's cost: {len(many):,} files of {args.rows // len(many):,} rows")
    print()
    print("| what | ms a file |")
    print("| --- | ---: |")
    print(f"| footer check, {args.old} | {statistics.median(times['old']):.3f} |")
    print(f"| footer check, this tree | {statistics.median(times['new']):.3f} |")
    print(
        f"| paired new ÷ old, median of {args.rounds} (range) | {statistics.median(ratios):.3f} "
        f"({min(ratios):.2f}-{max(ratios):.2f}) |"
    )
    print(f"| pyarrow's footer parse alone (`pq.read_metadata`) | {metadata_ms:.3f} |")
    for what, label in (
        ("rows", "polars, the row count only"),
        ("columns", f"polars, the {len(COLUMNS)} columns analyze reads"),
        ("categorical", "polars, those columns with the strings as Categorical"),
    ):
        wall_many, cpu_many = polars_seconds(many, what)
        _, cpu_one = polars_seconds(one, what)
        extra = (cpu_many - cpu_one) / len(many) * 1e3
        print(
            f"| {label}: CPU ({wall_many:.2f} s wall, {cpu_many:.2f} s CPU for all files; "
            f"{cpu_one:.2f} s CPU for the one file) | {extra:.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
