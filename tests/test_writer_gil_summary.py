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
from test_writer_gil import no_cyclic_gc, watched_within_bounds

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
    # The same bounds as the writer without summaries (test_writer_gil.py).
    watched = watched_within_bounds(
        tmp_path, lambda: [many_ticks(1 + n * TICKS, n) for n in range(WINDOWS)]
    )
    _, _, _, writer = watched
    stats = writer.stats()
    assert stats.files_written == WINDOWS
    assert stats.rows_written == WINDOWS * TICKS * ROWS_PER_TICK
    # Every file carries the summary of its rows, with its levels.
    last_run = sorted(tmp_path.glob("run-*"))[-1]  # the run within the bounds
    files = sorted(last_run.rglob("*.parquet"))
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
