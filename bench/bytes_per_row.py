"""Bytes per row and rows per tick of golden traces, as written and after compaction.

Usage::

    python bench/bytes_per_row.py samples/baseline samples/current samples

For each path: files, bytes on disk, rows, bytes per row and rows per tick; then the
same for a temporary copy of the last path after ``tracekit compact``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl


def measure(root: Path) -> str:
    files = sorted(p for p in root.rglob("*.parquet") if not p.name.startswith("."))
    size = sum(p.stat().st_size for p in files)
    frame = pl.scan_parquet(files, hive_partitioning=False).select("kind").collect()
    ticks = frame.filter(pl.col("kind") == "tick").height
    return (
        f"| {root} | {len(files)} | {size:,} | {frame.height:,} | "
        f"{size / frame.height:.1f} | {frame.height / ticks:.2f} |"
    )


def main() -> None:
    roots = [Path(arg) for arg in sys.argv[1:]] or [Path("samples")]
    print("| data | files | bytes | rows | bytes per row | rows per tick |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for root in roots:
        print(measure(root))
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / f"{roots[-1].name}-compacted"
        shutil.copytree(roots[-1], copy)
        subprocess.run(["tracekit", "compact", str(copy)], check=True, capture_output=True)
        print(measure(copy))


if __name__ == "__main__":
    main()
