"""How long the golden writer makes a traced loop wait for the GIL.

Usage::

    python bench/bench_loop_stall.py                 # 10 s per mode, 200k-row windows
    python bench/bench_loop_stall.py --seconds 3 --rows 200000 --json stall.json

Method. A *heartbeat* thread stands in for the traced loop: it sleeps 1 ms, wakes,
and records how late it woke (``perf_counter_ns`` after the sleep minus the time it
asked for). Lateness is the loop's stall: the time it waited for the GIL plus the
OS's wake-up latency. It runs in two modes, one after the other:

* ``off``: no writer; the heartbeat alone (the machine's own wake-up latency);
* ``busy``: a :class:`~tracekit.trace.sinks.golden.GoldenWriter` writes windows of
  ``--rows`` rows (100 ticks, the rest stage spans) back to back, the main thread
  keeping two windows queued, so the writer thread is never idle.

The table gives the heartbeat's p50, p99, p99.9 and max stall in ms (nearest-rank
quantiles over every heartbeat of the mode) and the windows written per second.

A second table times the writer's *steps*: the CPU time of the writer thread
(``time.thread_time_ns``, so other processes on the machine do not count) spent
building one window's table (``window_table``) between two of its pauses, where
the loop can take the GIL. A tracekit without pauses builds the whole table in one
step. The Parquet write itself runs in pyarrow without the GIL.
Only the standard library and tracekit are used (pyarrow by the writer).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path

from tracekit.trace.records import FinishedTick
from tracekit.trace.sinks.golden import GoldenWriter

HEARTBEAT_S = 0.001
TICKS_PER_WINDOW = 100


def make_window(rows: int) -> list[FinishedTick]:
    """A window of 100 sampled ticks holding ``rows`` rows in all (ticks + spans)."""
    spans_per_tick = max(0, rows // TICKS_PER_WINDOW - 1)
    window = []
    for tick_id in range(1, TICKS_PER_WINDOW + 1):
        start = tick_id * 200_000_000
        spans = [
            ("stage", f"stage{k % 8}", f"SYM{k % 16}", None, None, start + k * 1000, 900)
            for k in range(spans_per_tick)
        ]
        window.append(
            FinishedTick(
                tick_id,
                start,
                150_000_000,
                200_000_000,
                False,
                None,
                16,
                0,
                0,
                "sampled",
                spans,
                [],
            )
        )
    return window


def nearest_rank(sorted_values: list[int], q: float) -> int:
    if not sorted_values:
        return 0
    index = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def heartbeat(stop: threading.Event, stalls: list[int]) -> None:
    asked = round(HEARTBEAT_S * 1e9)
    clock = time.perf_counter_ns
    while not stop.is_set():
        began = clock()
        time.sleep(HEARTBEAT_S)
        stalls.append(clock() - began - asked)


def run_mode(mode: str, seconds: float, rows: int, folder: Path) -> dict[str, float]:
    window = make_window(rows) if mode == "busy" else []
    writer = None
    if mode == "busy":
        writer = GoldenWriter(folder, f"stall-{mode}", {}, 0, 2)
        time.sleep(1.0)  # let the writer thread import pyarrow before measuring
    stalls: list[int] = []
    stop = threading.Event()
    beat = threading.Thread(target=heartbeat, args=(stop, stalls), name="heartbeat")
    began = time.monotonic()
    beat.start()
    while time.monotonic() - began < seconds:
        if writer is not None and writer.stats().queue_depth < 2:
            writer.submit(window)
        time.sleep(0.005)
    stop.set()
    beat.join()
    elapsed = time.monotonic() - began
    written = 0
    if writer is not None:
        writer.close(60)
        written = writer.stats().files_written
    ordered = sorted(stalls)
    return {
        "heartbeats": len(ordered),
        "p50_ms": nearest_rank(ordered, 0.50) / 1e6,
        "p99_ms": nearest_rank(ordered, 0.99) / 1e6,
        "p999_ms": nearest_rank(ordered, 0.999) / 1e6,
        "max_ms": (ordered[-1] if ordered else 0) / 1e6,
        "windows_per_s": written / elapsed,
    }


def writer_steps(rows: int, repeats: int = 3) -> dict[str, float]:
    """The longest and median step of building a window's table, in ms."""
    from tracekit.trace.sinks import golden

    window = make_window(rows)
    steps: list[int] = []
    totals: list[int] = []
    for _ in range(repeats):
        last = [time.thread_time_ns()]

        def pause(last: list[int] = last) -> None:
            now = time.thread_time_ns()
            steps.append(now - last[0])
            last[0] = now

        began = time.thread_time_ns()
        try:
            golden.window_table("steps", window, 0, {}, pause=pause)  # type: ignore[call-arg]
        except TypeError:  # a tracekit whose writer never pauses: one step
            golden.window_table("steps", window, 0, {})
        end = time.thread_time_ns()
        steps.append(end - last[0])
        totals.append(end - began)
    ordered = sorted(steps)
    return {
        "steps": len(ordered),
        "median_step_ms": nearest_rank(ordered, 0.5) / 1e6,
        "max_step_ms": ordered[-1] / 1e6,
        "build_ms": min(totals) / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per mode (default 10)")
    parser.add_argument("--rows", type=int, default=200_000, help="rows per window")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tracekit-stall-")) / "traces"
    try:
        results = {
            mode: run_mode(mode, options.seconds, options.rows, folder) for mode in ("off", "busy")
        }
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
    steps = writer_steps(options.rows)
    print(f"heartbeat every {HEARTBEAT_S * 1e3:.0f} ms; windows of {options.rows:,} rows")
    print("| writer | heartbeats | p50 ms | p99 ms | p99.9 ms | max ms | windows/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, figures in results.items():
        print(
            f"| {mode} | {figures['heartbeats']:,.0f} | {figures['p50_ms']:.3f} | "
            f"{figures['p99_ms']:.3f} | {figures['p999_ms']:.3f} | {figures['max_ms']:.3f} | "
            f"{figures['windows_per_s']:.2f} |"
        )
    print()
    print("| window_table, one window | steps | median step ms | max step ms | total ms |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| {options.rows:,} rows | {steps['steps'] / 3:,.0f} | {steps['median_step_ms']:.3f} | "
        f"{steps['max_step_ms']:.3f} | {steps['build_ms']:.1f} |"
    )
    if options.json is not None:
        options.json.write_text(
            json.dumps(
                {
                    "rows_per_window": options.rows,
                    "seconds_per_mode": options.seconds,
                    "python": platform.python_version(),
                    "machine": platform.machine(),
                    "results": results,
                    "writer_steps": steps,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
