"""Self time from recorded parents against inferred nesting, on the same spans.

Usage::

    python bench/bench_self_time.py              # 200,000 ticks of 5 spans, ~10 s
    python bench/bench_self_time.py --ticks 20000

Builds one frame of stage and request rows (per tick: a tick-wide stage holding
requests of two symbols, and a symbol's stage holding a request), with
``span_id`` and ``parent_span_id``, and times, on that frame, the one sorted
sweep that infers nesting (``queries.covered_ns``, what files without the ids
take) and the parent-id path (``queries.parent_covered_ns``); best of
``--repeat`` runs each, in alternation.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from tracekit.analysis import queries

# Per tick: (symbol, kind, start, duration, span_id, parent_span_id), ns from its start.
TICK = (
    (None, "stage", 0, 10_000, 1, None),
    ("BTC", "request", 1_000, 2_000, 2, 1),
    ("ETH", "request", 2_000, 4_000, 3, 1),
    ("ETH", "stage", 6_000, 3_000, 4, None),
    ("ETH", "request", 7_000, 1_000, 5, 4),
)


def spans(ticks: int) -> pl.DataFrame:
    per_tick = len(TICK)
    starts = np.repeat(np.arange(ticks, dtype=np.int64) * 100_000, per_tick)
    return pl.DataFrame(
        {
            "run_id": ["bench"] * (ticks * per_tick),
            "tick_id": np.repeat(np.arange(1, ticks + 1, dtype=np.int64), per_tick),
            "symbol": [row[0] for row in TICK] * ticks,
            "kind": [row[1] for row in TICK] * ticks,
            "start_unix_ns": starts + np.tile([row[2] for row in TICK], ticks),
            "duration_ns": np.tile(np.array([row[3] for row in TICK], dtype=np.int64), ticks),
            "span_id": pl.Series(np.tile([row[4] for row in TICK], ticks), dtype=pl.Int32),
            "parent_span_id": pl.Series([row[5] for row in TICK] * ticks, dtype=pl.Int32),
        }
    )


def best_of(repeat: int, runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=200_000, help="ticks of 5 spans")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each, best kept")
    args = parser.parse_args(argv)
    frame = spans(args.ticks)
    inferred = queries.covered_ns(frame)
    exact = queries.parent_covered_ns(frame)
    assert inferred[:5].tolist() == [0, 0, 0, 1_000, 0], inferred[:5]
    assert exact[:5].tolist() == [5_000, 0, 0, 1_000, 0], exact[:5]
    best = best_of(
        args.repeat,
        {
            "covered_ns (inferred)": lambda: queries.covered_ns(frame),
            "parent_covered_ns (recorded)": lambda: queries.parent_covered_ns(frame),
        },
    )
    load = os.getloadavg()[0]
    print(f"{frame.height:,} spans, best of {args.repeat}; load average {load:.2f}")
    for name, seconds in best.items():
        print(f"{name:<30} {seconds:8.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
