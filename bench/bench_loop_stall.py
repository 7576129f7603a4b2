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
  keeping two windows queued, so the writer thread is never idle. The windows are
  built before the heartbeat starts, each submitted once, so the writer frees them
  as it frees the tracer's, and frozen out of the cyclic collector's sight
  (``gc.freeze``): a program holds the few windows queued for the writer, not the
  dozens prepared here, and a full collection costs in proportion to the heap.

The table gives the heartbeat's p50, p99, p99.9 and max stall in ms (nearest-rank
quantiles over every heartbeat of the mode) and the windows written per second.

A second table gives the writer's *steps* in the ``busy`` run: the CPU time of the
writer thread (``time.thread_time_ns``, so other processes on the machine do not
count) between two points where the loop can take the GIL (a pause, or a pyarrow
call that releases it), as the writer's own ``StepClock`` times them: building the
table slice by slice, joining the slices, freeing the written window. The cyclic
garbage collector runs on whichever thread allocates; the table counts the full
(generation 2) collections of the ``busy`` run, which may land in a step.
Only the standard library and tracekit are used (pyarrow by the writer).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path

from tracekit.trace.records import FinishedTick, SpanRecord
from tracekit.trace.sinks.golden import GoldenWriter

HEARTBEAT_S = 0.001
TICKS_PER_WINDOW = 100


def make_window(rows: int) -> list[FinishedTick]:
    """A window of 100 sampled ticks holding ``rows`` rows in all (ticks + spans)."""
    spans_per_tick = max(0, rows // TICKS_PER_WINDOW - 1)
    window: list[FinishedTick] = []
    for tick_id in range(1, TICKS_PER_WINDOW + 1):
        start = tick_id * 200_000_000
        spans: list[SpanRecord] = [
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
    """Run the heartbeat for ``seconds`` with the writer ``off`` or ``busy``."""
    # Windows built beforehand, one per submission, so that the writer holds their
    # last references and frees them, as it does the tracer's windows.
    windows = [make_window(rows) for _ in range(int(seconds * 3) + 4)] if mode == "busy" else []
    windows_left_over = 0
    writer = None
    steps: list[int] = []
    steps_collecting: list[int] = []  # steps with a collection in them
    full_collections = [0]
    writer_gc: list[tuple[int, int]] = []  # (start, stop) of collections on the writer thread
    writer_thread: list[int] = []

    def count_full(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full_collections[0] += 1
        if writer_thread and threading.get_ident() == writer_thread[0]:
            now = time.thread_time_ns()
            if phase == "start":
                writer_gc.append((now, now))
            elif writer_gc:
                writer_gc[-1] = (writer_gc[-1][0], now)

    def on_step(step: int) -> None:  # on the writer thread: its CPU clock
        now = time.thread_time_ns()
        if not writer_thread:
            writer_thread.append(threading.get_ident())
        if writer_gc and writer_gc[-1][1] >= now - step:
            steps_collecting.append(step)
            writer_gc.clear()
        else:
            steps.append(step)

    # The prepared windows are frozen out of the cyclic collector's sight (gc.freeze):
    # a program holds the few windows the writer has queued, not dozens, and a full
    # collection's cost grows with every object the heap holds.
    gc.collect()
    gc.freeze()
    if mode == "busy":
        try:
            writer = GoldenWriter(folder, f"stall-{mode}", {}, 0, 2, on_step=on_step)
        except TypeError:  # a tracekit before StepClock: no steps to report
            writer = GoldenWriter(folder, f"stall-{mode}", {}, 0, 2)
        time.sleep(1.0)  # let the writer thread import pyarrow before measuring
    stalls: list[int] = []
    stop = threading.Event()
    beat = threading.Thread(target=heartbeat, args=(stop, stalls), name="heartbeat")
    gc.callbacks.append(count_full)
    began = time.monotonic()
    beat.start()
    while time.monotonic() - began < seconds:
        if writer is not None and windows and writer.stats().queue_depth < 2:
            writer.submit(windows.pop())
        time.sleep(0.005)
    stop.set()
    beat.join()
    elapsed = time.monotonic() - began
    gc.callbacks.remove(count_full)
    gc.unfreeze()
    windows_left_over = len(windows)
    windows.clear()
    written = 0
    if writer is not None:
        writer.close(60)
        written = writer.stats().files_written
    ordered = sorted(stalls)
    ordered_steps = sorted(steps)
    return {
        "heartbeats": len(ordered),
        "p50_ms": nearest_rank(ordered, 0.50) / 1e6,
        "p99_ms": nearest_rank(ordered, 0.99) / 1e6,
        "p999_ms": nearest_rank(ordered, 0.999) / 1e6,
        "max_ms": (ordered[-1] if ordered else 0) / 1e6,
        "windows_per_s": written / elapsed,
        "windows_written": written,
        "writer_steps": len(ordered_steps),
        "median_step_ms": nearest_rank(ordered_steps, 0.5) / 1e6,
        "p99_step_ms": nearest_rank(ordered_steps, 0.99) / 1e6,
        "p999_step_ms": nearest_rank(ordered_steps, 0.999) / 1e6,
        "max_step_ms": (ordered_steps[-1] if ordered_steps else 0) / 1e6,
        "steps_over_1ms": sum(step > 1_000_000 for step in ordered_steps),
        "full_collections": full_collections[0],
        "steps_collecting": len(steps_collecting),
        "max_step_collecting_ms": max(steps_collecting, default=0) / 1e6,
        "windows_left_over": windows_left_over,
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
    print(f"heartbeat every {HEARTBEAT_S * 1e3:.0f} ms; windows of {options.rows:,} rows")
    print("| writer | heartbeats | p50 ms | p99 ms | p99.9 ms | max ms | windows/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, figures in results.items():
        print(
            f"| {mode} | {figures['heartbeats']:,.0f} | {figures['p50_ms']:.3f} | "
            f"{figures['p99_ms']:.3f} | {figures['p999_ms']:.3f} | {figures['max_ms']:.3f} | "
            f"{figures['windows_per_s']:.2f} |"
        )
    busy = results["busy"]
    if busy["windows_left_over"] == 0:
        print("note: the writer ran out of prepared windows before the end of the busy run")
    print()
    print(
        "| writer steps (CPU ms) | windows | steps | median | p99 | p99.9 | max | steps > 1 ms "
        "| steps with a GC run in them | their max | full GCs in the run |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {options.rows:,}-row windows | {busy['windows_written']:,.0f} | "
        f"{busy['writer_steps']:,.0f} | {busy['median_step_ms']:.3f} | "
        f"{busy['p99_step_ms']:.3f} | {busy['p999_step_ms']:.3f} | {busy['max_step_ms']:.3f} | "
        f"{busy['steps_over_1ms']:,.0f} | {busy['steps_collecting']:,.0f} | "
        f"{busy['max_step_collecting_ms']:.3f} | {busy['full_collections']:,.0f} |"
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
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
