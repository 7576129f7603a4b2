"""The golden writer's summaries (issue 13) keep its steps short (issue 14).

``tests/test_writer_gil.py`` writes windows of 100 ticks, whose summaries are tiny.
Here each 200,000-row window holds 20,000 ticks with sampled stages and guard trips,
so its summary has many chunks, several levels and thousands of histogram entries:
the writer computes it with compute kernels that release the GIL, and the Python
between them must stay within the same bound as the rest of the writer's steps.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from test_writer_gil import (
    LONG_STEP_MS,
    MAX_STEP_MS,
    STEP_P99_MS,
    long_step_allowance,
    no_cyclic_gc,
    write_and_watch,
)

from tracekit.store import schema
from tracekit.store.summary import decode, encode, merge, summarize
from tracekit.trace.records import FinishedTick

__all__ = ["no_cyclic_gc"]  # the fixture, imported to be used here

pytestmark = pytest.mark.skipif(
    not hasattr(time, "pthread_getcpuclockid"), reason="needs per-thread CPU clocks"
)

TICKS = 20_000
ROWS_PER_TICK = 10  # the tick row, 8 stage spans, 1 guard trip
WINDOWS = 3


def many_ticks(first_tick: int, seed: int) -> list[FinishedTick]:
    """``TICKS`` sampled ticks of 8 stage spans and a guard trip each, durations
    lognormal (so the histograms have hundreds of buckets), about 2% over deadline."""
    rng = np.random.default_rng(seed)
    durations = rng.lognormal(np.log(2e6), 0.6, (TICKS, 9)).astype(np.int64)
    window = []
    for offset in range(TICKS):
        tick_id = first_tick + offset
        start = tick_id * 10_000_000
        row = durations[offset].tolist()
        total = row[0] * 3
        spans: list[tuple[str, str, str | None, str | None, str | None, int, int]] = [
            ("stage", f"stage{k % 4}", f"SYM{k}", None, None, start + k * 1_000, int(row[k + 1]))
            for k in range(8)
        ]
        window.append(
            FinishedTick(
                tick_id,
                start,
                total,
                15_000_000,
                total > 15_000_000,
                None,
                8,
                1,
                0,
                schema.DETAIL_SAMPLED,
                spans,
                [("latency_soft", None, start + 5)],
            )
        )
    return window


@pytest.mark.slow
@pytest.mark.usefixtures("no_cyclic_gc")
def test_summarizing_20k_tick_windows_keeps_every_writer_step_short(tmp_path: Path) -> None:
    windows = [many_ticks(1 + n * TICKS, n) for n in range(WINDOWS)]
    watched = write_and_watch(tmp_path, windows)
    steps, held, control, writer = watched
    stats = writer.stats()
    assert stats.files_written == WINDOWS
    assert stats.rows_written == WINDOWS * TICKS * ROWS_PER_TICK
    # The same bounds as the writer without summaries (test_writer_gil.py).
    ordered_steps = sorted(steps)
    assert ordered_steps[len(steps) * 99 // 100] / 1e6 <= STEP_P99_MS, ordered_steps[-5:]
    long_steps = sum(step > STEP_P99_MS * 1e6 for step in steps)
    assert long_steps <= long_step_allowance(watched), (
        long_steps,
        len(steps),
        sorted(control)[-5:],
    )
    assert sum(step > LONG_STEP_MS * 1e6 for step in steps) <= 1, ordered_steps[-5:]
    assert ordered_steps[-1] / 1e6 <= MAX_STEP_MS, ordered_steps[-5:]
    ordered = sorted(held)
    assert ordered[len(ordered) * 99 // 100] / 1e6 <= 5.0, ordered[-5:]
    assert ordered[-1] / 1e6 <= 2 * MAX_STEP_MS, ordered[-5:]
    # Every file carries the summary of its rows, with its levels.
    files = sorted(tmp_path.rglob("*.parquet"))
    assert len(files) == WINDOWS
    parts = []
    for path in files:
        text = pq.read_metadata(path).metadata[schema.META_SUMMARY.encode()].decode()
        summary = decode(text, str(path))
        assert encode(summary) == encode(summarize(pq.read_table(path)))
        assert summary.ticks == TICKS
        assert len(summary.stage_levels) >= 4
        assert len(summary.stage_histograms) > 1000
        parts.append(summary)
    merged = merge(parts)
    assert merged.ticks == WINDOWS * TICKS
    assert merged.guards == {"latency_soft": WINDOWS * TICKS}
    assert sum(merged.stage_histogram("stage0").values()) == WINDOWS * TICKS * 2
