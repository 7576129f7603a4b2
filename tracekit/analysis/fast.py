"""``tracekit analyze --fast``: approximate analyze tables from the files' summaries.

The tables are those of :meth:`tracekit.analysis.traceset.TraceSet.analyze`, in the
same :class:`~tracekit.analysis.result.Analysis` (marked ``approximate``), built
from the footers only (:mod:`tracekit.analysis.summaries`):

* exact: ticks, misses and misses with detail per deadline (and the Wilson
  interval), guard trips per reason, n of every stage and request;
* from the log-bucket histograms (within about 1%): p50/p95/p99 (type 7 on the
  histogram, :mod:`tracekit.stats.quantiles`), max and mean;
* not computed (they need rows): request error shares, the attribution of missed
  ticks and parallel symbols.

When the files' sample rates differ, histogram counts are weighted by
``1 / sample_rate`` as the exact path weights rows (n stays the number of rows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from tracekit.analysis.identity import file_run
from tracekit.analysis.result import Analysis
from tracekit.analysis.selection import Selection
from tracekit.analysis.summaries import load_summaries
from tracekit.errors import EmptyDataError
from tracekit.stats.intervals import PERCENTILES, min_n_for_quantile
from tracekit.store import schema

Histogram = dict[int, float]


def analyze_fast(
    paths: Sequence[str | Path],
    *,
    skip_bad: bool = False,
    runs: Sequence[str] = (),
    stages: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Analysis, tuple[str, ...]] | None:
    """The approximate analysis of golden files, and warnings about unusable summaries.

    Returns:
        None when no file carries a summary (run the exact analysis instead).

    Raises:
        InputError: Bad files (as :func:`tracekit.analysis.load`); no tick in the
            selection; a named stage absent.
    """
    import polars as pl

    from tracekit.analysis.traceset import TraceSet, finish_deadline

    loaded = load_summaries(paths, skip_bad=skip_bad, progress=progress)
    if loaded is None:
        return None
    traces = TraceSet(loaded.sources, duplicates=loaded.duplicates)
    rates = {
        path: float(meta[schema.META_SAMPLE_RATE])
        for path, meta in loaded.sources.metadata.items()
        if meta.get(schema.META_SAMPLE_RATE) is not None
    }
    weighted = len(set(rates.values())) > 1
    chosen = set(runs)
    stage_counts: dict[str, Histogram] = {}
    stage_n: dict[str, int] = {}
    request_counts: dict[str, Histogram] = {}
    request_n: dict[str, int] = {}
    deadlines: dict[int, list[int]] = {}
    guards: dict[str, int] = {}
    ticks = 0
    for path in list(loaded.by_file):
        if chosen and file_run(path, loaded.sources.metadata[path]) not in chosen:
            continue
        weight = 1.0 / rates[path] if weighted and rates.get(path) else 1.0
        summary, stage_totals = loaded.stage_entries(path)  # the coarsest level, added up
        for names, histograms, counts, totals in (
            (summary.stage_names, stage_totals, stage_counts, stage_n),
            (summary.request_keys, summary.request_histograms, request_counts, request_n),
        ):
            for key, bucket, count in zip(
                histograms.key.tolist(),
                histograms.bucket.tolist(),
                histograms.count.tolist(),
                strict=True,
            ):
                histogram = counts.setdefault(names[key], {})
                histogram[bucket] = histogram.get(bucket, 0.0) + count * weight
                totals[names[key]] = totals.get(names[key], 0) + count
        for deadline, values in summary.deadlines.items():
            total = deadlines.setdefault(deadline, [0, 0, 0])
            for index, value in enumerate(values):
                total[index] += value
        for reason, trips in summary.guards.items():
            guards[reason] = guards.get(reason, 0) + trips
        ticks += summary.ticks
    if ticks == 0:
        raise EmptyDataError(
            f"{loaded.files[0] if loaded.files else paths[0]}: no tick in the selection; "
            "widen --run"
        )
    missing = sorted(set(stages) - set(stage_counts))
    if missing:
        raise EmptyDataError(
            f"stage {', '.join(missing)} has no sampled rows; "
            f"stages present: {', '.join(sorted(stage_counts))}"
        )
    stage_rows = [
        {"stage": name, **_latency(stage_counts[name], stage_n[name])}
        for name in _stage_order(stage_counts)
        if not stages or name in stages
    ]
    request_rows = []
    for key in sorted(request_counts):
        verb, _, api = key.partition(" ")
        request_rows.append(
            {
                "verb": verb or None,
                "api": api,
                **_latency(request_counts[key], request_n[key]),
                "error_share": None,
            }
        )
    latency = {
        "n": pl.UInt32,
        **{f"{label}_ms": pl.Float64 for label, _ in PERCENTILES},
        "max_ms": pl.Float64,
        "mean_ms": pl.Float64,
    }
    deadline_frame = pl.DataFrame(
        [
            {
                "ticks": t,
                "misses": m,
                "misses_with_detail": e,
                "deadline_ms": d / 1e6 if d >= 0 else None,
            }
            for d, (t, m, e) in sorted(deadlines.items())
        ],
        schema={
            "ticks": pl.UInt32,
            "misses": pl.UInt32,
            "misses_with_detail": pl.UInt32,
            "deadline_ms": pl.Float64,
        },
    )
    total_trips = sum(guards.values())
    guard_rows = [
        {
            "reason": reason,
            "trips": trips,
            "per_1000_ticks": 1000.0 * trips / ticks,
            "share": trips / total_trips,
        }
        for reason, trips in sorted(guards.items(), key=lambda item: (-item[1], item[0]))
    ]
    analysis = Analysis(
        files=loaded.files,
        skipped=loaded.sources.skipped,
        runs=sorted(chosen & set(traces.runs)) if chosen else traces.runs,
        sample_rates={
            run: rates_[0] if len(rates_) == 1 else rates_
            for run, rates_ in traces.session_rates.items()
            if not chosen or run in chosen
        },
        weighted=weighted,
        duplicates=loaded.duplicates,
        run_overrides=traces.run_overrides,
        selection=Selection(stages=tuple(stages), runs=tuple(runs)),
        by=(),
        every=None,
        stages=pl.DataFrame(stage_rows, schema={"stage": pl.String, **latency}),
        deadline=finish_deadline(deadline_frame),
        attribution=pl.DataFrame(
            schema={
                "component": pl.String,
                "ticks_dominated": pl.UInt32,
                "missed_ticks_present": pl.UInt32,
                "self_mean_ms": pl.Float64,
                "mean_ms": pl.Float64,
                "share": pl.Float64,
            }
        ),
        guards=pl.DataFrame(
            guard_rows,
            schema={
                "reason": pl.String,
                "trips": pl.UInt32,
                "per_1000_ticks": pl.Float64,
                "share": pl.Float64,
            },
        ),
        requests=pl.DataFrame(
            request_rows,
            schema={"verb": pl.String, "api": pl.String, **latency, "error_share": pl.Float64},
        ),
        parallel=pl.DataFrame(
            schema={"n": pl.UInt32, "min": pl.Int32, "mean": pl.Float64, "max": pl.Int32}
        ),
        approximate=True,
    )
    return analysis, loaded.warnings


def _stage_order(names: Sequence[str] | dict[str, Histogram]) -> list[str]:
    known = [name for name in schema.STAGE_ORDER if name != schema.TICK_TOTAL]
    present = set(names)
    custom = sorted(present - set(schema.STAGE_ORDER))
    tail = [schema.TICK_TOTAL] if schema.TICK_TOTAL in present else []
    return [name for name in known if name in present] + custom + tail


def _latency(histogram: Histogram, n: int) -> dict[str, float | int | None]:
    """n, p50/p95/p99 (null below :func:`min_n_for_quantile`), max and mean in ms."""
    import numpy as np

    from tracekit.stats.histogram import bucket_values_ms
    from tracekit.stats.quantiles import histogram_quantiles

    first, last = min(histogram), max(histogram)
    counts = np.zeros(last - first + 1, dtype=np.float64)
    for index, count in histogram.items():
        counts[index - first] = count
    values = histogram_quantiles(counts, first, np.array([q for _, q in PERCENTILES]))
    middles = bucket_values_ms(np.arange(first, last + 1, dtype=np.int64))
    row: dict[str, float | int | None] = {"n": n}
    for (label, q), value in zip(PERCENTILES, values.tolist(), strict=True):
        row[f"{label}_ms"] = value if n >= min_n_for_quantile(q) else None
    row["max_ms"] = float(middles[-1])
    row["mean_ms"] = float((counts * middles).sum() / counts.sum())
    return row
