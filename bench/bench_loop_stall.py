"""How long the golden writer makes a traced loop wait for the GIL.

Usage::

    python bench/bench_loop_stall.py                 # 10 s per mode, 200k-row windows
    python bench/bench_loop_stall.py --seconds 3 --rows 200000 --json stall.json

Method. A *heartbeat* thread stands in for the traced loop: it sleeps 1 ms, wakes,
and records how late it woke (``perf_counter_ns`` after the sleep minus the time it
asked for). Lateness is the loop's stall: the time it waited for the GIL plus the
OS's wake-up latency. It runs in three modes, one after the other:

* ``off``: no writer; the heartbeat alone (the machine's own wake-up latency);
* ``control``: no writer, but a thread that runs a fixed piece of pure-Python work
  (calibrated to the writer's step budget, ``STEP_BUDGET_NS``) then sleeps as the
  writer pauses, over and over: the CPU time of each piece shows how much this
  machine's per-thread CPU clock varies for the same work (a shared VM's does);
* ``busy``: a :class:`~tracekit.trace.sinks.golden.GoldenWriter` writes windows of
  ``--rows`` rows (100 ticks, the rest stage spans) back to back, the main thread
  keeping two windows queued, so the writer thread is never idle. The windows are
  built before the heartbeat starts, each submitted once, so the writer frees them
  as it frees the tracer's, and frozen out of the cyclic collector's sight
  (``gc.freeze``): a program holds the few windows queued for the writer, not the
  dozens prepared here, and a full collection costs in proportion to the heap.

The first table gives the heartbeat's p50, p99, p99.9 and max stall in ms
(nearest-rank quantiles over every heartbeat of the mode) and the windows written
per second.

The second gives *steps*: for ``busy`` the writer's, as its own ``StepClock`` times
them, the CPU time of the writer thread (``time.thread_time_ns``, so other processes
on the machine do not count) between two points where the loop can take the GIL (a
pause, or a pyarrow call or file sync that releases it); for ``control`` the fixed
pieces. It counts the steps above 1 ms of CPU, and of those the ones a cyclic
garbage collection ran in (a collection runs on whichever thread allocates and costs
in proportion to the whole heap), and, apart, the steps above 1 ms of wall time but
not of CPU (the OS descheduled the thread: it held the GIL without running).
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
from tracekit.trace.sinks import golden
from tracekit.trace.sinks.golden import SLICE_PAUSE_S, GoldenWriter

HEARTBEAT_S = 0.001
TICKS_PER_WINDOW = 100
MODES = ("off", "control", "busy")
MS = 1_000_000
STEP_BUDGET_NS: int = getattr(golden, "STEP_BUDGET_NS", 250_000)
"""The writer's step budget (a tracekit before it, run for comparison: 0.25 ms)."""


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


def spin(loops: int) -> int:
    total = 0
    for k in range(loops):
        total += k
    return total


def calibrate_piece() -> int:
    """Loops of :func:`spin` that take about ``STEP_BUDGET_NS`` of CPU (the median
    of 200 tries)."""
    loops = 1000
    while True:
        began = time.thread_time_ns()
        spin(loops)
        if time.thread_time_ns() - began > 2 * MS:
            break
        loops *= 2
    timings = []
    for _ in range(200):
        began = time.thread_time_ns()
        spin(loops)
        timings.append(time.thread_time_ns() - began)
    median = sorted(timings)[len(timings) // 2]
    return max(1, loops * STEP_BUDGET_NS // median)


def control_worker(stop: threading.Event, loops: int, steps: list[tuple[int, int]]) -> None:
    """Fixed pieces of work with the writer's pause between them: (CPU ns, wall ns)."""
    while not stop.is_set():
        began, began_wall = time.thread_time_ns(), time.perf_counter_ns()
        spin(loops)
        steps.append((time.thread_time_ns() - began, time.perf_counter_ns() - began_wall))
        time.sleep(SLICE_PAUSE_S)


def step_figures(steps: list[tuple[int, int]], collecting: set[int]) -> dict[str, float]:
    """Quantiles of the steps' CPU time; steps long in CPU, and in wall time only."""
    cpu = sorted(step for step, _wall in steps)
    long_cpu = [index for index, (step, _wall) in enumerate(steps) if step > MS]
    return {
        "steps": len(cpu),
        "p50_step_ms": nearest_rank(cpu, 0.5) / MS,
        "p99_step_ms": nearest_rank(cpu, 0.99) / MS,
        "p999_step_ms": nearest_rank(cpu, 0.999) / MS,
        "max_step_ms": (cpu[-1] if cpu else 0) / MS,
        "steps_over_1ms": len(long_cpu),
        "steps_over_1ms_collecting": sum(index in collecting for index in long_cpu),
        "max_step_not_collecting_ms": max(
            (step for index, (step, _wall) in enumerate(steps) if index not in collecting),
            default=0,
        )
        / MS,
        "steps_collecting": len(collecting),
        "steps_over_1ms_wall_only": sum(step <= MS < wall for step, wall in steps),
        "wall_known": all(wall >= 0 for _step, wall in steps),
        "max_step_wall_ms": max((wall for _step, wall in steps), default=0) / MS,
    }


def run_mode(mode: str, seconds: float, rows: int, folder: Path) -> dict[str, float]:
    """Run the heartbeat for ``seconds`` in ``mode`` (see the module's text)."""
    # Windows built beforehand, one per submission, so that the writer holds their
    # last references and frees them, as it does the tracer's windows.
    windows = [make_window(rows) for _ in range(int(seconds * 3) + 4)] if mode == "busy" else []
    writer = None
    steps: list[tuple[int, int]] = []  # (CPU ns, wall ns)
    collecting: set[int] = set()  # indexes of the steps a collection ran in
    full_collections = [0]
    worker_gc: list[int] = []  # thread CPU ns at the end of the worker's last collection
    worker_thread: list[int] = []

    def count_full(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full_collections[0] += 1
        if phase == "stop" and worker_thread and threading.get_ident() == worker_thread[0]:
            worker_gc.append(time.thread_time_ns())

    def on_step(step: int, wall: int = -1) -> None:  # on the writer thread: its CPU clock
        # (A tracekit before the step budget tells the CPU time only: wall -1.)
        now = time.thread_time_ns()
        if not worker_thread:
            worker_thread.append(threading.get_ident())
        if worker_gc and worker_gc[-1] >= now - step:
            collecting.add(len(steps))
        worker_gc.clear()
        steps.append((step, wall))

    # The prepared windows are frozen out of the cyclic collector's sight (gc.freeze):
    # a program holds the few windows the writer has queued, not dozens, and a full
    # collection's cost grows with every object the heap holds.
    gc.collect()
    gc.freeze()
    stop = threading.Event()
    control = None
    if mode == "busy":
        writer = GoldenWriter(folder, f"stall-{mode}", {}, 0, 2, on_step=on_step)
        time.sleep(1.0)  # let the writer thread import pyarrow before measuring
    elif mode == "control":
        control = threading.Thread(
            target=control_worker, args=(stop, calibrate_piece(), steps), name="control"
        )
    stalls: list[int] = []
    beat = threading.Thread(target=heartbeat, args=(stop, stalls), name="heartbeat")
    gc.callbacks.append(count_full)
    began = time.monotonic()
    beat.start()
    if control is not None:
        control.start()
    while time.monotonic() - began < seconds:
        if writer is not None and windows and writer.stats().queue_depth < 2:
            writer.submit(windows.pop())
        time.sleep(0.005)
    stop.set()
    beat.join()
    if control is not None:
        control.join()
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
    return {
        "heartbeats": len(ordered),
        "p50_ms": nearest_rank(ordered, 0.50) / MS,
        "p99_ms": nearest_rank(ordered, 0.99) / MS,
        "p999_ms": nearest_rank(ordered, 0.999) / MS,
        "max_ms": (ordered[-1] if ordered else 0) / MS,
        "windows_per_s": written / elapsed,
        "windows_written": written,
        "full_collections": full_collections[0],
        "windows_left_over": windows_left_over,
        **step_figures(steps, collecting),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per mode (default 10)")
    parser.add_argument("--rows", type=int, default=200_000, help="rows per window")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tracekit-stall-")) / "traces"
    try:
        results = {mode: run_mode(mode, options.seconds, options.rows, folder) for mode in MODES}
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
    print(f"heartbeat every {HEARTBEAT_S * 1e3:.0f} ms; windows of {options.rows:,} rows")
    print("| mode | heartbeats | p50 ms | p99 ms | p99.9 ms | max ms | windows/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, figures in results.items():
        print(
            f"| {mode} | {figures['heartbeats']:,.0f} | {figures['p50_ms']:.3f} | "
            f"{figures['p99_ms']:.3f} | {figures['p999_ms']:.3f} | {figures['max_ms']:.3f} | "
            f"{figures['windows_per_s']:.2f} |"
        )
    if results["busy"]["windows_left_over"] == 0:
        print("note: the writer ran out of prepared windows before the end of the busy run")
    print()
    print(
        "| steps (CPU ms) | steps | p50 | p99 | p99.9 | max | > 1 ms | of which with a GC "
        "| max without a GC | > 1 ms wall only | max wall | full GCs in the run |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode, label in (("busy", "writer (busy)"), ("control", "fixed pieces (control)")):
        figures = results[mode]
        wall_only, max_wall = "n/a", "n/a"
        if figures["wall_known"]:
            wall_only = f"{figures['steps_over_1ms_wall_only']:,.0f}"
            max_wall = f"{figures['max_step_wall_ms']:.3f}"
        print(
            f"| {label} | {figures['steps']:,.0f} | {figures['p50_step_ms']:.3f} | "
            f"{figures['p99_step_ms']:.3f} | {figures['p999_step_ms']:.3f} | "
            f"{figures['max_step_ms']:.3f} | {figures['steps_over_1ms']:,.0f} | "
            f"{figures['steps_over_1ms_collecting']:,.0f} | "
            f"{figures['max_step_not_collecting_ms']:.3f} | "
            f"{wall_only} | {max_wall} | "
            f"{figures['full_collections']:,.0f} |"
        )
    if options.json is not None:
        options.json.write_text(
            json.dumps(
                {
                    "rows_per_window": options.rows,
                    "seconds_per_mode": options.seconds,
                    "step_budget_ms": STEP_BUDGET_NS / MS,
                    "python": platform.python_version(),
                    "machine": platform.machine(),
                    "results": results,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
