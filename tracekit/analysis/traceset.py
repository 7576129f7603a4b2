"""A set of golden traces and the questions analyze answers about it.

:func:`load` checks the files and returns a :class:`TraceSet`. Its methods return
polars DataFrames; :meth:`TraceSet.analyze` gathers all of them in one
:class:`~tracekit.analysis.result.Analysis`, computed with one shared scan.

Which rows answer which question (see ``docs/analysis.md``):

* ``tick_total``, deadline misses and parallel symbols: every tick row.
* Stage and request figures: the unbiased detail only (``detail = 'sampled'``).
* Miss attribution: every missed tick whose detail was kept.
* Guard trips: every guard row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from tracekit.analysis.result import Analysis
from tracekit.analysis.selection import Selection
from tracekit.analysis.sources import SkippedFile, Sources, find_sources, reading
from tracekit.errors import EmptyDataError, InputError
from tracekit.present.render.sketch import SKETCH_BINS_PER_OCTAVE, sparkline_from_bins
from tracekit.stats.intervals import (
    PERCENTILES,
    QUANTILE_METHOD,
    min_n_for_quantile,
    wilson_interval,
)
from tracekit.store import schema

GroupKey = Literal["symbol", "run_id"]
GROUP_KEYS: tuple[GroupKey, ...] = ("symbol", "run_id")
WINDOW_COLUMN = "window_start"

_NS_PER_MS = 1_000_000.0


def _unix_ns(moment: datetime) -> int:
    """Exact ns since the epoch (no float rounding) of an aware datetime."""
    from datetime import UTC, timedelta

    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def load(
    paths: str | Path | Sequence[str | Path],
    *,
    skip_bad: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> TraceSet:
    """Open golden traces for analysis.

    Args:
        paths: A file, folder (searched recursively) or glob, or a list of them.
        skip_bad: Leave out unreadable or foreign files instead of failing; they are
            listed in :attr:`TraceSet.skipped`.
        progress: Called as ``progress(done, total)`` while files are checked.

    Raises:
        tracekit.errors.InputError: A path is missing, a file is bad, or the data
            holds negative or null durations.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    sources = find_sources(paths, skip_bad=skip_bad, progress=progress)
    frame = _read_in_memory(sources.files) if _small_and_scattered(sources.files) else None
    bad = TraceSet(sources, frame=frame).bad_values()
    if bad and not skip_bad:
        raise InputError(bad[0].reason)
    if bad:
        sources = sources.without(bad)
        if frame is not None:
            frame = frame.filter(pl.col("file").is_in(sources.files))
    return TraceSet(sources, frame=frame)


MANY_FILES = 500
"""From this many files, a dataset small on disk is read into memory once."""
IN_MEMORY_BUDGET_BYTES = 128 * 2**20
"""Bytes on disk up to which a many-file dataset is read into memory once."""


def _small_and_scattered(files: Sequence[str]) -> bool:
    """Many small files: every query's scan would pay a per-file cost again, so read
    them once instead (``docs/benchmarks.md``: 10,000 files, 4x faster)."""
    if len(files) < MANY_FILES:
        return False
    total = 0
    for path in files:
        with contextlib.suppress(OSError):
            total += os.path.getsize(path)
        if total > IN_MEMORY_BUDGET_BYTES:
            return False
    return True


def _read_in_memory(files: Sequence[str]) -> pl.DataFrame:
    with reading(files):
        return pl.scan_parquet(
            list(files), hive_partitioning=False, include_file_paths="file", glob=False
        ).collect()


class TraceSet:
    """Golden traces selected for analysis: the Python API behind ``tracekit analyze``.

    Args:
        sources: Checked files (see :func:`load`).
        selection: Filters to apply.
    """

    def __init__(
        self,
        sources: Sources,
        selection: Selection | None = None,
        *,
        frame: pl.DataFrame | None = None,
    ) -> None:
        self.sources = sources
        self.selection = selection or Selection()
        self._frame = frame  # every file's rows, read once, for many small files

    # -- what was loaded ----------------------------------------------------------

    @property
    def files(self) -> tuple[str, ...]:
        """The files read."""
        return self.sources.files

    @property
    def skipped(self) -> tuple[Any, ...]:
        """Files left out with ``skip_bad``, each with its reason."""
        return self.sources.skipped

    @property
    def runs(self) -> list[str]:
        """The run ids in the files, sorted."""
        return sorted(
            {meta.get(schema.META_RUN_ID, "") for meta in self.sources.metadata.values()} - {""}
        )

    @property
    def sample_rates(self) -> dict[str, float]:
        """Each run's sampling rate, from the files' metadata."""
        rates: dict[str, float] = {}
        for meta in self.sources.metadata.values():
            run = meta.get(schema.META_RUN_ID)
            rate = meta.get(schema.META_SAMPLE_RATE)
            if run is not None and rate is not None:
                rates[run] = float(rate)
        return rates

    def select(
        self,
        *,
        stages: Sequence[str] = (),
        symbols: Sequence[str] = (),
        runs: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> TraceSet:
        """A trace set narrowed by stage, symbol, run or wall-clock time."""
        unknown = sorted(set(runs) - set(self.runs))
        if unknown:
            raise InputError(
                f"run {', '.join(unknown)} is not in the data; runs: {', '.join(self.runs)}"
            )
        selection = Selection(
            stages=tuple(stages),
            symbols=tuple(symbols),
            runs=tuple(runs),
            since_ns=None if since is None else _unix_ns(since),
            until_ns=None if until is None else _unix_ns(until),
        )
        return TraceSet(self.sources, selection, frame=self._frame)

    def last(self, duration: str) -> TraceSet:
        """The most recent ``duration`` (e.g. ``30m``) of the selection, measured back
        from its newest record."""
        with reading(self.files):
            newest = self.scan().select(pl.col("start_unix_ns").max()).collect().item()
        if newest is None:
            raise EmptyDataError(
                f"{_describe(self.files)}: no record to take the last {duration} of"
            )
        since_ns = int(newest) - parse_duration_ns(duration, "--last")
        if self.selection.since_ns is not None:  # keep the later of the two starts
            since_ns = max(since_ns, self.selection.since_ns)
        selection = dataclasses.replace(self.selection, since_ns=since_ns)
        return TraceSet(self.sources, selection, frame=self._frame)

    # -- the data -------------------------------------------------------------------

    def _files(self, *, with_paths: bool) -> pl.LazyFrame:
        """Every row of the files (and their path in ``file`` if asked), unfiltered."""
        if self._frame is not None:
            frame = self._frame.lazy()
            return frame if with_paths else frame.drop("file")
        return pl.scan_parquet(
            list(self.sources.files),
            hive_partitioning=False,
            glob=False,  # the paths are literal file names: run_id=canary[1] is no pattern
            extra_columns="ignore",
            include_file_paths="file" if with_paths else None,
        )

    def scan(self) -> pl.LazyFrame:
        """All selected records as a lazy frame in schema v1 (filters applied)."""
        frame = self._files(with_paths=False)
        selection = self.selection
        if selection.runs:
            frame = frame.filter(pl.col("run_id").is_in(selection.runs))
        if selection.since_ns is not None:
            frame = frame.filter(pl.col("start_unix_ns") >= selection.since_ns)
        if selection.until_ns is not None:
            frame = frame.filter(pl.col("start_unix_ns") < selection.until_ns)
        if selection.symbols:
            frame = frame.filter(
                (pl.col("kind") == schema.KIND_TICK) | pl.col("symbol").is_in(selection.symbols)
            )
        return frame

    def bad_values(self) -> list[SkippedFile]:
        """Files holding a tick, stage or request row with a negative or null duration."""
        timed = pl.col("kind").is_in([schema.KIND_TICK, schema.KIND_STAGE, schema.KIND_REQUEST])
        bad = pl.col("duration_ns").is_null() | (pl.col("duration_ns") < 0)
        frame = self._files(with_paths=True)
        with reading(self.files):
            found = (
                frame.filter(timed & bad)
                .group_by("file")
                .agg(pl.col("kind").first(), pl.col("duration_ns").first())
                .sort("file")
                .collect()
            )
        result = []
        for row in found.iter_rows(named=True):
            what = "null" if row["duration_ns"] is None else f"negative ({row['duration_ns']} ns)"
            result.append(
                SkippedFile(
                    row["file"],
                    f"{row['file']}: a {row['kind']} row has a {what} duration; the file is "
                    "corrupt or was not written by tracekit: remove it or pass --skip-bad",
                )
            )
        return result

    # -- the questions ------------------------------------------------------------------

    def stages(self, by: Sequence[GroupKey] = (), every: str | None = None) -> pl.DataFrame:
        """Per stage (and ``tick_total``): n, p50/p95/p99, max and mean in ms.

        Stage rows come from the sampled detail only; ``tick_total`` from every tick.
        A percentile whose n is below :func:`min_n_for_quantile` is null.
        """
        with reading(self.files):
            frame = self._stages_query(by, every).collect(engine="streaming")
        return self._select_stages(_finish_stages(frame))

    def deadline(self, by: Sequence[GroupKey] = (), every: str | None = None) -> pl.DataFrame:
        """Ticks, misses and the miss rate with its 95% Wilson interval."""
        with reading(self.files):
            return _finish_deadline(self._deadline_query(by, every).collect(engine="streaming"))

    def attribution(self, by: Sequence[GroupKey] = ()) -> pl.DataFrame:
        """For missed ticks with kept detail: which component took the largest share."""
        with reading(self.files):
            return self._attribution_query(by).collect(engine="streaming")

    def guards(self, by: Sequence[GroupKey] = (), every: str | None = None) -> pl.DataFrame:
        """Guard trips by reason: count, per 1,000 ticks, share of all trips."""
        with reading(self.files):
            return _finish_guards(*pl.collect_all(self._guard_queries(by, every)))

    def requests(self, by: Sequence[GroupKey] = (), every: str | None = None) -> pl.DataFrame:
        """Exchange requests by verb and api: n, p50/p95/p99, max, mean, error share."""
        with reading(self.files):
            return _finish_stages(self._requests_query(by, every).collect(engine="streaming"))

    def parallel(self, by: Sequence[GroupKey] = (), every: str | None = None) -> pl.DataFrame:
        """Parallel symbols per tick: min, mean, max."""
        with reading(self.files):
            return self._parallel_query(by, every).collect(engine="streaming")

    def analyze(
        self, by: Sequence[GroupKey] = (), every: str | None = None, sketches: bool = False
    ) -> Analysis:
        """Every figure of ``tracekit analyze`` at once, from one shared scan.

        Args:
            by: Group by ``symbol`` and/or ``run_id``.
            every: Also group by wall-clock windows of this width (e.g. ``1m``).
            sketches: Add a ``sketch`` column to the stage table: a Unicode sparkline
                of each stage's latency distribution (quarter-octave bins).
        """
        by = _check_by(by)
        ticks_query, guards_query = self._guard_queries(by, every)
        extra = [self._sketch_query(by, every)] if sketches else []
        with reading(self.files):
            frames = pl.collect_all(
                [
                    self._stages_query(by, every),
                    self._deadline_query(by, every),
                    self._attribution_query(by),
                    ticks_query,
                    guards_query,
                    self._requests_query(by, every),
                    self._parallel_query(by, every),
                    *extra,
                ],
                engine="streaming",
            )
        stages, deadline, attribution, tick_counts, guards, requests, parallel = frames[:7]
        if deadline.height == 0 or int(deadline["ticks"].sum()) == 0:
            raise EmptyDataError(
                f"{_describe(self.files)}: no tick in the selection; "
                "widen --run, --since or --until"
            )
        stages = self._select_stages(_finish_stages(stages))
        if sketches:
            stages = _with_sketches(stages, frames[7])
        return Analysis(
            files=self.files,
            skipped=self.skipped,
            runs=self.runs,
            sample_rates=self.sample_rates,
            selection=self.selection,
            by=tuple(by),
            every=every,
            stages=stages,
            deadline=_finish_deadline(deadline),
            attribution=attribution,
            guards=_finish_guards(tick_counts, guards),
            requests=_finish_stages(requests),
            parallel=parallel,
        )

    def _select_stages(self, stages: pl.DataFrame) -> pl.DataFrame:
        wanted = self.selection.stages
        if not wanted:
            return stages
        present = stages["stage"].unique().sort().to_list()
        missing = sorted(set(wanted) - set(present))
        if missing:
            raise EmptyDataError(
                f"{_describe(self.files)}: stage {', '.join(missing)} has no sampled rows; "
                f"stages present: {', '.join(present)}"
            )
        return stages.filter(pl.col("stage").is_in(wanted))

    # -- queries --------------------------------------------------------------------

    def _keyed(
        self, frame: pl.LazyFrame, by: Sequence[GroupKey], every: str | None
    ) -> tuple[pl.LazyFrame, list[str]]:
        keys: list[str] = list(_check_by(by))
        if every is not None:
            every_ns = parse_duration_ns(every)
            frame = frame.with_columns(
                (pl.col("start_unix_ns") // every_ns * every_ns)
                .cast(pl.Datetime("ns", "UTC"))
                .alias(WINDOW_COLUMN)
            )
            keys.append(WINDOW_COLUMN)
        return frame, keys

    def _stage_rows(
        self, by: Sequence[GroupKey], every: str | None
    ) -> tuple[pl.LazyFrame, list[str]]:
        """Sampled stage rows and every tick row (as ``tick_total``): stage, keys, duration."""
        frame, keys = self._keyed(self.scan(), by, every)
        columns = [*keys, "stage", "duration_ns"]
        detail = frame.filter(
            (pl.col("kind") == schema.KIND_STAGE) & (pl.col("detail") == schema.DETAIL_SAMPLED)
        ).with_columns(pl.col("name").alias("stage"))
        ticks = frame.filter(pl.col("kind") == schema.KIND_TICK).with_columns(
            pl.lit(schema.TICK_TOTAL).alias("stage")
        )
        return pl.concat([detail.select(columns), ticks.select(columns)]), keys

    def _stages_query(self, by: Sequence[GroupKey], every: str | None) -> pl.LazyFrame:
        rows, keys = self._stage_rows(by, every)
        return _grouped_latency(rows, ["stage", *keys])

    def _sketch_query(self, by: Sequence[GroupKey], every: str | None) -> pl.LazyFrame:
        rows, keys = self._stage_rows(by, every)
        micros = (pl.col("duration_ns").cast(pl.Float64) / 1000.0).clip(lower_bound=1.0)
        sketch_bin = (micros.log(2) * SKETCH_BINS_PER_OCTAVE).floor().cast(pl.Int32)
        return rows.group_by(["stage", *keys, sketch_bin.alias("bin")]).agg(pl.len().alias("count"))

    def _deadline_query(self, by: Sequence[GroupKey], every: str | None) -> pl.LazyFrame:
        frame, keys = self._keyed(self.scan(), by, every)
        keys = [key for key in keys if key != "symbol"]  # misses are tick-wide
        ticks = frame.filter(pl.col("kind") == schema.KIND_TICK)
        return ticks.group_by(keys or pl.lit(True).alias("_all")).agg(
            pl.len().alias("ticks"),
            pl.col("deadline_missed").sum().alias("misses"),
            (pl.col("detail") != schema.DETAIL_NONE)
            .filter(pl.col("deadline_missed"))
            .sum()
            .alias("misses_with_detail"),
            (pl.col("deadline_ns").mean() / _NS_PER_MS).alias("deadline_ms"),
        )

    def _attribution_query(self, by: Sequence[GroupKey]) -> pl.LazyFrame:
        keys = [key for key in _check_by(by) if key != "symbol"]
        frame = self.scan()
        tick_key = ["run_id", "tick_id"]
        missed = (
            frame.filter(
                (pl.col("kind") == schema.KIND_TICK)
                & pl.col("deadline_missed")
                & (pl.col("detail") != schema.DETAIL_NONE)
            )
            .select(*tick_key)
            .unique()
        )
        spans = frame.filter(pl.col("kind").is_in([schema.KIND_STAGE, schema.KIND_REQUEST]))
        component = (
            pl.when(pl.col("kind") == schema.KIND_REQUEST)
            .then(pl.lit("request:") + pl.col("name"))
            .otherwise(pl.col("name"))
        )
        # Symbols run concurrently: a component costs the tick its slowest symbol's time.
        per_tick = (
            spans.join(missed, on=tick_key, how="semi")
            .with_columns(component.alias("component"))
            .group_by([*tick_key, "component", "symbol"])
            .agg(pl.col("duration_ns").sum())
            .group_by([*tick_key, "component"])
            .agg(pl.col("duration_ns").max())
        )
        dominant = (
            per_tick.sort(
                [*tick_key, "duration_ns", "component"], descending=[False, False, True, False]
            )
            .group_by(tick_key)
            .agg(pl.col("component").first().alias("dominant"))
        )
        joined = per_tick.join(dominant, on=tick_key)
        return (
            joined.group_by([*keys, "component"])
            .agg(
                (pl.col("component") == pl.col("dominant")).sum().alias("ticks_dominated"),
                pl.len().alias("missed_ticks_present"),
                (pl.col("duration_ns").mean() / _NS_PER_MS).alias("mean_ms"),
            )
            .with_columns(
                (
                    pl.col("ticks_dominated")
                    / pl.col("ticks_dominated").sum().over(keys or pl.lit(True))
                ).alias("share")
            )
            .sort(
                [*keys, "ticks_dominated", "component"],
                descending=[*[False] * len(keys), True, False],
            )
        )

    def _guard_queries(self, by: Sequence[GroupKey], every: str | None) -> list[pl.LazyFrame]:
        frame, keys = self._keyed(self.scan(), by, every)
        tick_keys = [key for key in keys if key != "symbol"]
        ticks = (
            frame.filter(pl.col("kind") == schema.KIND_TICK)
            .group_by(tick_keys or pl.lit(True).alias("_all"))
            .agg(pl.len().alias("ticks"))
        )
        guards = (
            frame.filter(pl.col("kind") == schema.KIND_GUARD)
            .group_by([*keys, pl.col("name").alias("reason")])
            .agg(pl.len().alias("trips"))
        )
        return [ticks, guards]

    def _requests_query(self, by: Sequence[GroupKey], every: str | None) -> pl.LazyFrame:
        frame, keys = self._keyed(self.scan(), by, every)
        requests = frame.filter(
            (pl.col("kind") == schema.KIND_REQUEST) & (pl.col("detail") == schema.DETAIL_SAMPLED)
        )
        requests = requests.with_columns(
            pl.col("name").alias("api"), (pl.col("status") == schema.STATUS_ERROR).alias("error")
        )
        return _grouped_latency(
            requests, ["verb", "api", *keys], pl.col("error").mean().alias("error_share")
        )

    def _parallel_query(self, by: Sequence[GroupKey], every: str | None) -> pl.LazyFrame:
        frame, keys = self._keyed(self.scan(), by, every)
        keys = [key for key in keys if key != "symbol"]
        ticks = frame.filter(pl.col("kind") == schema.KIND_TICK)
        column = pl.col("parallel_symbols")
        return (
            ticks.group_by(keys or [pl.lit(True).alias("_all")])
            .agg(
                column.count().alias("n"),
                column.min().alias("min"),
                column.mean().alias("mean"),
                column.max().alias("max"),
            )
            .drop("_all", strict=False)
            .sort(keys or "n")
        )


def _with_sketches(stages: pl.DataFrame, bins: pl.DataFrame) -> pl.DataFrame:
    """Join a sparkline per stage row (and group) onto the stage table."""
    keys = [c for c in stages.columns if c in ("stage", *GROUP_KEYS, WINDOW_COLUMN)]
    lines = []
    for group, part in bins.group_by(keys, maintain_order=True):
        counts = dict(zip(part["bin"].to_list(), part["count"].to_list(), strict=True))
        lines.append({**dict(zip(keys, group, strict=True)), "sketch": sparkline_from_bins(counts)})
    if not lines:
        return stages.with_columns(pl.lit("").alias("sketch"))
    sketch = pl.DataFrame(
        lines, schema={**{k: stages.schema[k] for k in keys}, "sketch": pl.String}
    )
    return stages.join(sketch, on=keys, how="left", nulls_equal=True)


def _check_by(by: Sequence[str]) -> tuple[GroupKey, ...]:
    result: list[GroupKey] = []
    for key in by:
        if key == "symbol":
            result.append("symbol")
        elif key in ("run", "run_id"):
            result.append("run_id")
        else:
            raise InputError(f"cannot group by {key!r}; use symbol or run")
    return tuple(result)


def _grouped_latency(rows: pl.LazyFrame, keys: list[str], *extra: pl.Expr) -> pl.LazyFrame:
    """Latency aggregates per group, with string keys grouped as Categorical.

    polars' grouped ``quantile`` holds every row of its input with its keys; as
    Categorical a key costs 4 bytes a row instead of a 16-byte string view, which
    halves the peak memory of analyze (``docs/benchmarks.md``). The keys are
    strings again in the result.
    """
    text_keys = [key for key in keys if key != WINDOW_COLUMN]
    return (
        rows.with_columns(pl.col(key).cast(pl.Categorical) for key in text_keys)
        .group_by(keys)
        .agg(*_latency_aggregates(), *extra)
        .with_columns(pl.col(key).cast(pl.String) for key in text_keys)
    )


def _latency_aggregates() -> list[pl.Expr]:
    duration = pl.col("duration_ns")
    return [
        pl.len().alias("n"),
        *(
            (duration.quantile(q, interpolation=QUANTILE_METHOD) / _NS_PER_MS).alias(f"{label}_ms")
            for label, q in PERCENTILES
        ),
        (duration.max() / _NS_PER_MS).alias("max_ms"),
        (duration.mean() / _NS_PER_MS).alias("mean_ms"),
    ]


def _finish_stages(frame: pl.DataFrame) -> pl.DataFrame:
    """Null out percentiles whose n is too small, and sort stages in tick order."""
    frame = frame.with_columns(
        pl.when(pl.col("n") >= min_n_for_quantile(q))
        .then(pl.col(f"{label}_ms"))
        .otherwise(None)
        .alias(f"{label}_ms")
        for label, q in PERCENTILES
    )
    if "stage" in frame.columns:
        known = [name for name in schema.STAGE_ORDER if name != schema.TICK_TOTAL]
        order = {name: index for index, name in enumerate(known)}
        order[schema.TICK_TOTAL] = len(known) + 1  # custom stages (len(known)) come first
        frame = frame.with_columns(
            pl.col("stage")
            .replace_strict(order, default=len(known), return_dtype=pl.Int32)
            .alias("_order")
        )
        keys = [c for c in frame.columns if c in (*GROUP_KEYS, WINDOW_COLUMN)]
        frame = frame.sort([*keys, "_order", "stage"], nulls_last=True).drop("_order")
        return frame.select(
            "stage", *keys, *[c for c in frame.columns if c not in ("stage", *keys)]
        )
    keys = [c for c in frame.columns if c in (*GROUP_KEYS, WINDOW_COLUMN)]
    return frame.sort(["verb", "api", *keys], nulls_last=True)


def _finish_deadline(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.drop("_all", strict=False)
    bounds = [
        wilson_interval(int(misses), int(ticks))
        for misses, ticks in zip(frame["misses"], frame["ticks"], strict=True)
    ]
    keys = [c for c in frame.columns if c in (*GROUP_KEYS, WINDOW_COLUMN)]
    return frame.with_columns(
        (pl.col("misses") / pl.col("ticks")).alias("miss_rate"),
        pl.Series("miss_rate_low", [low for low, _ in bounds], dtype=pl.Float64),
        pl.Series("miss_rate_high", [high for _, high in bounds], dtype=pl.Float64),
    ).sort(keys)


def _finish_guards(ticks: pl.DataFrame, guards: pl.DataFrame) -> pl.DataFrame:
    tick_keys = [c for c in ticks.columns if c in (*GROUP_KEYS, WINDOW_COLUMN)]
    keys = [c for c in guards.columns if c in (*GROUP_KEYS, WINDOW_COLUMN)]
    if tick_keys:
        joined = guards.join(ticks, on=tick_keys, how="left")
    else:
        joined = guards.with_columns(
            pl.lit(int(ticks["ticks"].sum()) if ticks.height else 0).alias("ticks")
        )
    return (
        joined.with_columns(
            (1000.0 * pl.col("trips") / pl.col("ticks")).alias("per_1000_ticks"),
            (pl.col("trips") / pl.col("trips").sum().over(tick_keys or pl.lit(True))).alias(
                "share"
            ),
        )
        .drop("ticks")
        .sort([*keys, "trips", "reason"], descending=[*[False] * len(keys), True, False])
        .select("reason", *keys, "trips", "per_1000_ticks", "share")
    )


_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 86400 * 10**9,
}


def parse_duration_ns(text: str, option: str = "--every") -> int:
    """Parse ``90s``, ``1m``, ``2h``, ``500ms`` into nanoseconds.

    Raises:
        InputError: The text is not a positive number followed by ns, us, ms, s, m, h or d.
    """
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h|d)\s*", text)
    if match is None or float(match.group(1)) <= 0:
        raise InputError(
            f"{option} {text!r} is not a positive number with a unit (ns, us, ms, s, m, h, d), "
            "for example 1m"
        )
    value = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if not math.isfinite(value) or value < 1:
        raise InputError(f"{option} {text!r} is too small; use at least 1ns")
    return int(value)


def _describe(files: Sequence[str]) -> str:
    if len(files) == 1:
        return files[0]
    return f"{len(files)} files under {os.path.commonpath(files)}"
