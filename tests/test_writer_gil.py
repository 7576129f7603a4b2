"""The golden writer never holds the GIL for long (issue 14, "Never blocks the loop").

A *step* of the writer thread is the CPU time it runs holding the GIL between two
points where the traced loop can take it (``StepClock``). The bound is checked
two ways: by the writer's own step accounting, and by a probe thread that reads the
writer thread's CPU clock each time it manages to run, which also catches work the
step accounting would miss (a call wrongly thought to release the GIL).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tracekit.trace.records import FinishedTick
from tracekit.trace.sinks.golden import (
    SLICE_ROWS,
    STEP_BUDGET_NS,
    GoldenWriter,
    StepClock,
    release_ticks,
    window_table,
)

pytestmark = pytest.mark.skipif(
    not hasattr(time, "pthread_getcpuclockid"), reason="needs per-thread CPU clocks"
)

ROWS = 200_000
TICKS = 100
WINDOWS = 3
STEP_P99_MS = 1.0
"""The goal: a writer step holds the GIL for at most 1 ms of CPU. Steps end once they
have run STEP_BUDGET_NS (0.25 ms); on the 2-core CI machine, under a load average of
5-7, their p99 is 0.39-0.49 ms, so the 99th percentile is held to the goal itself
(twice that)."""
LONG_SHARE = 0.003
"""Steps above 1 ms may be at most 0.3 % of the steps, plus what the machine itself
adds (``long_step_allowance``): the same code takes 0.26 ms otherwise, but on that
shared VM 0.02-0.1 % of the steps exceed 1 ms of thread CPU time, as often as a fixed
piece of pure-Python work the length of a step does (``bench/bench_loop_stall.py``'s
control), so a few must be allowed: 5 times the most this test saw (0.06 %, under a
load of 7). The writer before the step budget had 0.15-1 % of its steps above 1 ms in
the benchmark."""
MACHINE_NOISE_FACTOR = 3
"""On a quiet machine the control pieces (``Watched.control``) are almost never long,
and the writer gets LONG_SHARE alone. In a noisy period of the VM (a CI run once saw
0.38 % and 0.33 % of the writer's steps above 1 ms in two tests in a row, where they
are 0.02-0.11 % otherwise, with or without two CPU-bound neighbour processes, after
the Spark and object-store tests or alone), the vCPU's stolen time is counted as the
thread's CPU time and lengthens steps and control pieces alike; the writer may then
have 3 times the control's share on top. A writer whose own code makes long steps
exceeds it, since its control stays short: with one step in 150 made to last 1.2 ms,
the two tests counted 44 and 97 long steps against 33 and 57 allowed."""
LONG_STEP_MS = 5.0
"""At most one step above this: a writer step that is long in every window (joining,
writing or freeing a window in one go: 15-40 ms) is long WINDOWS times."""
MAX_STEP_MS = 50.0
"""A single step may still be stretched by the machine (14.5 ms seen once under a
load of 4): the maximum only catches a writer that builds a whole window's table in
one go (250 ms)."""


def big_window(rows: int = ROWS, first_tick: int = 1) -> list[FinishedTick]:
    """100 ticks holding ``rows`` rows in all, each span with its own label strings,
    as a traced program with many symbols makes them."""
    per_tick = rows // TICKS - 1
    window = []
    for tick_id in range(first_tick, first_tick + TICKS):
        start = tick_id * 200_000_000
        spans: list[tuple[str, str, str | None, str | None, str | None, int, int]] = [
            ("stage", f"stage{k % 8}", f"SYM{k}", None, None, start + k * 1_000, 900)
            for k in range(per_tick)
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


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    """The interpreter's cyclic collections run on whichever thread allocates and
    scan the whole program's heap; they are not the writer's steps."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Watched(NamedTuple):
    steps: list[int]
    """The writer's steps, in CPU ns."""
    held: list[int]
    """Per wake-up of a probe thread, the writer thread's CPU ns since the probe's
    previous wake-up, capped by the wall time between them."""
    control: list[int]
    """The CPU ns of each control piece: pure-Python work the length of a step
    (STEP_BUDGET_NS on this machine), run by a third thread while the writer writes."""
    writer: GoldenWriter


def control_piece_loops() -> int:
    """How many turns of ``control_piece`` take STEP_BUDGET_NS of CPU here."""
    loops = 2_000
    times = []
    for _ in range(21):
        start = time.thread_time_ns()
        control_piece(loops)
        times.append(time.thread_time_ns() - start)
    return max(1, loops * STEP_BUDGET_NS // sorted(times)[len(times) // 2])


def control_piece(loops: int) -> int:
    total = 0
    for turn in range(loops):
        total += turn * turn
    return total


def long_step_allowance(watched: Watched) -> float:
    """How many of the writer's steps may exceed STEP_P99_MS: LONG_SHARE of them, plus
    MACHINE_NOISE_FACTOR times the share of control pieces the machine made as long
    (at least one)."""
    control_share = sum(piece > STEP_P99_MS * 1e6 for piece in watched.control) / max(
        1, len(watched.control)
    )
    return max(1.0, (LONG_SHARE + MACHINE_NOISE_FACTOR * control_share) * len(watched.steps))


ATTEMPTS = 2
"""A run whose timing bounds are missed is run once more, and the test fails only when
every run misses: the VM's noise only lengthens steps, and seldom in two runs in a
row (a CI run once saw 2 and 5 steps above LONG_STEP_MS, of 6-23 ms, in two tests in
a row, where a quiet run has none), while a writer whose own steps are long misses
in every run."""


def timing_bounds_missed(watched: Watched) -> list[str]:
    """The bounds on the writer's steps and on the probe that ``watched`` misses
    (the same for every writer test), each told with the figures behind it."""
    steps, held, control = watched.steps, watched.held, watched.control
    ordered_steps = sorted(steps)
    missed = []
    # Cut into steps of about the budget, not done in one go (the mean step would be
    # long) nor in a few long steps.
    if len(steps) < sum(steps) // (2 * STEP_BUDGET_NS):
        missed.append(f"{len(steps)} steps for {sum(steps)} ns of CPU")
    if ordered_steps[len(steps) // 2] > 2 * STEP_BUDGET_NS:
        missed.append(f"median step above twice the budget: {ordered_steps[-5:]}")
    if ordered_steps[len(steps) * 99 // 100] / 1e6 > STEP_P99_MS:
        missed.append(f"p99 step above {STEP_P99_MS} ms: {ordered_steps[-5:]}")
    long_steps = sum(step > STEP_P99_MS * 1e6 for step in steps)
    if long_steps > long_step_allowance(watched):
        allowed = long_step_allowance(watched)
        missed.append(
            f"{long_steps} of {len(steps)} steps long, {allowed:.1f} allowed; "
            f"control's longest {sorted(control)[-5:]}"
        )
    if sum(step > LONG_STEP_MS * 1e6 for step in steps) > 1:
        missed.append(f"more than one step above {LONG_STEP_MS} ms: {ordered_steps[-5:]}")
    if ordered_steps[-1] / 1e6 > MAX_STEP_MS:
        missed.append(f"a step above {MAX_STEP_MS} ms: {ordered_steps[-5:]}")
    # A coarse second check that needs no cooperation from the writer: what the
    # writer ran between two of the probe's wake-ups stays short (up to the 5 ms
    # switch interval when the probe misses a pause; a probe the OS deschedules while
    # pyarrow compresses adds noise, hence the loose maximum, which still fails a
    # writer that builds a whole window's table in one go: 250 ms).
    ordered = sorted(held)
    if ordered[len(ordered) * 99 // 100] / 1e6 > 5.0:
        missed.append(f"probe p99 above 5 ms: {ordered[-5:]}")
    if ordered[-1] / 1e6 > 2 * MAX_STEP_MS:
        missed.append(f"probe maximum above {2 * MAX_STEP_MS} ms: {ordered[-5:]}")
    return missed


def watched_within_bounds(
    tmp_path: Path, make_windows: Callable[[], list[list[FinishedTick]]]
) -> Watched:
    """:func:`write_and_watch` of ``make_windows()``, run again (up to ATTEMPTS runs,
    each in a folder of its own) while its timing bounds are missed; the last run.

    Raises:
        AssertionError: Every run missed a bound (each run's misses told).
    """
    misses = []
    for attempt in range(1, ATTEMPTS + 1):
        watched = write_and_watch(tmp_path / f"run-{attempt}", make_windows())
        missed = timing_bounds_missed(watched)
        if not missed:
            return watched
        misses.append(missed)
    raise AssertionError(f"every run missed the writer's timing bounds: {misses}")


def write_and_watch(tmp_path: Path, windows: list[list[FinishedTick]]) -> Watched:
    """Hand ``windows`` to a writer (which then holds their last references, as it
    does the tracer's) and wait until written, with a probe thread and a control
    thread running (``Watched``)."""
    steps: list[int] = []
    count = len(windows)

    def on_step(cpu_ns: int, wall_ns: int) -> None:
        assert wall_ns >= 0
        steps.append(cpu_ns)

    writer = GoldenWriter(tmp_path, "gil", {}, 0, count + 1, on_step=on_step)
    deadline = time.monotonic() + 90
    time.sleep(0.5)  # the writer thread imports pyarrow first: not a window's step
    ident = writer._thread.ident
    assert ident is not None
    clock = time.pthread_getcpuclockid(ident)
    held: list[int] = []
    stop = threading.Event()

    def probe() -> None:
        last_wall, last_cpu = time.perf_counter_ns(), time.clock_gettime_ns(clock)
        while not stop.is_set():
            time.sleep(0.0002)
            wall, cpu = time.perf_counter_ns(), time.clock_gettime_ns(clock)
            held.append(min(wall - last_wall, cpu - last_cpu))
            last_wall, last_cpu = wall, cpu

    loops = control_piece_loops()
    control: list[int] = []

    def run_control() -> None:
        while not stop.is_set():
            start = time.thread_time_ns()
            control_piece(loops)
            control.append(time.thread_time_ns() - start)
            time.sleep(0.001)

    threads = [
        threading.Thread(target=probe, name="gil-probe"),
        threading.Thread(target=run_control, name="gil-control"),
    ]
    for thread in threads:
        thread.start()
    try:
        while windows:
            writer.submit(windows.pop())
        while writer.stats().files_written + writer.stats().write_errors < count:
            assert time.monotonic() < deadline, "the writer did not finish"
            time.sleep(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        writer.close(60)
    return Watched(steps, held, control, writer)


@pytest.mark.slow
@pytest.mark.usefixtures("no_cyclic_gc")
def test_no_writer_step_holds_the_gil_long_while_it_writes_200k_row_windows(
    tmp_path: Path,
) -> None:
    watched = watched_within_bounds(
        tmp_path, lambda: [big_window(first_tick=1 + n * TICKS) for n in range(WINDOWS)]
    )
    steps, held, control, writer = watched
    stats = writer.stats()
    assert stats.files_written == WINDOWS
    assert stats.rows_written == WINDOWS * ROWS
    assert len(control) > 100  # the control ran all along
    assert len(held) > 100  # and the probe
    assert writer.longest_step_ns == max(steps)


@pytest.mark.usefixtures("no_cyclic_gc")
def test_building_a_table_is_cut_into_short_steps_and_joined_into_one_chunk() -> None:
    window = big_window(rows=50_000)
    steps: list[int] = []
    clock = StepClock(on_step=lambda cpu_ns, _wall_ns: steps.append(cpu_ns))
    table = window_table("r", window, 0, {}, clock=clock)
    clock.end()
    assert table.num_rows == 50_000
    assert all(column.num_chunks == 1 for column in table.columns)
    assert table.column("tick_id").to_pylist() == sorted(table.column("tick_id").to_pylist())
    assert len(steps) >= sum(steps) // (2 * STEP_BUDGET_NS)
    assert sum(step > LONG_STEP_MS * 1e6 for step in steps) <= 1, sorted(steps)[-5:]


def test_building_a_table_leaves_the_garbage_collector_alone() -> None:
    """Each slice is one record batch, the Python columns are reused: building a
    200,000-row window allocates almost no objects the cyclic collector tracks, so it
    triggers no collection of its own (the writer that kept 17 arrays per slice
    triggered 22 young and 2 middle collections per window)."""
    window = big_window()
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.collect()  # the window's span tuples are untracked once they survive a collection
    gc.callbacks.append(count)
    try:
        table = window_table("r", window, 0, {}, clock=StepClock())
    finally:
        gc.callbacks.remove(count)
    assert table.num_rows == ROWS
    assert len(collections) <= 2, collections


def test_a_tick_of_many_spans_the_writer_owns_is_freed_in_steps() -> None:
    spans = big_window(rows=100 * (40 * SLICE_ROWS + 1))[0].spans
    owned = big_window(rows=100 * (40 * SLICE_ROWS + 1))[0]
    shared = big_window(rows=1_000)[0]
    shared_spans = shared.spans
    kept_spans = list(shared_spans)  # a tick the writer alone holds, whose list is not
    steps: list[int] = []
    # A budget of 0 ends a step at every unit: the freeing is cut into units.
    clock = StepClock(on_step=lambda cpu_ns, _wall_ns: steps.append(cpu_ns), budget_ns=0)
    ticks = [shared, shared._replace(spans=kept_spans), owned, owned._replace(spans=spans)]
    del owned, spans
    release_ticks(ticks, clock)
    assert ticks == []
    assert len(steps) >= 2 * 40  # two ticks of 40 slices' spans, each freed in units
    assert len(shared_spans) == 1_000 // TICKS - 1  # still referred to: left alone
    assert kept_spans == shared_spans


def test_a_window_the_writer_shares_with_another_sink_is_left_intact(tmp_path: Path) -> None:
    window = big_window(rows=5_000)
    spans_before = [list(tick.spans) for tick in window]
    writer = GoldenWriter(tmp_path, "shared", {}, 0, 2)
    writer.submit(window)
    writer.close(30)
    assert writer.stats().files_written == 1
    assert len(window) == TICKS
    assert [tick.spans for tick in window] == spans_before
