"""A set of golden traces and the questions analyze answers about it.

:func:`load` checks the files and returns a :class:`TraceSet`. Its methods return
polars DataFrames; :meth:`TraceSet.analyze` gathers all of them in one
:class:`~tracekit.analysis.result.Analysis`, computed with one shared scan.

Which rows answer which question (see ``docs/analysis.md``):

* ``tick_total``, deadline misses and parallel symbols: every tick row.
* Stage and request figures: the unbiased detail only (``detail = 'sampled'``).
* Miss attribution: every missed tick whose detail was kept, by self time.
* Guard trips: every guard row.

Self time (exclusive of child spans) is defined in :mod:`tracekit.analysis.queries`,
which holds every query; the stage table shows it beside inclusive time by default.

Sampling across sessions: when the selected files were written at different
sample rates (a run resumed with another rate, or runs of different rates
pooled), each sampled row is weighted by ``1 / sample_rate`` of its file, so the
stage and request figures estimate every tick's, not over-weighting the denser
session (see :func:`~tracekit.analysis.queries.weighted_latency`). With one rate,
nothing is weighted and the figures are DuckDB's ``quantile_cont`` exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import polars as pl

from tracekit.analysis import queries, reader
from tracekit.analysis.attribution import attribution_table, tick_costs
from tracekit.analysis.grouped import GroupedRows
from tracekit.analysis.identity import (
    DuplicateFile,
    RunOverride,
    duplicate_files,
    file_run,
    run_overrides,
)
from tracekit.analysis.prefetch import prefetched
from tracekit.analysis.result import Analysis
from tracekit.analysis.selection import Selection, parse_time_ns, unix_ns
from tracekit.analysis.sources import SkippedFile, Sources, find_sources, reading, scan_options
from tracekit.errors import EmptyDataError, InputError
from tracekit.present.render.sketch import SKETCH_BINS_PER_OCTAVE, sparkline_from_bins
from tracekit.stats.intervals import PERCENTILES, min_n_for_quantile, wilson_interval
from tracekit.store import schema
from tracekit.store.location import storage_options

GroupKey = Literal["symbol", "run_id"]
GROUP_KEYS: tuple[GroupKey, ...] = ("symbol", "run_id")
WINDOW_COLUMN = queries.WINDOW_COLUMN

_NS_PER_MS = queries.NS_PER_MS
_WEIGHT = queries.WEIGHT
_SELF = queries.SELF
SELF_TIME_BATCH_BYTES = 8 * 2**20
"""Bytes on disk of the files read (and held) together: by :meth:`TraceSet.analyze`'s
one pass, and to find self time."""
LARGE_FILE_BYTES = 2 * SELF_TIME_BATCH_BYTES
"""From this size on disk, analyze's one pass reads a file in parts of at least
:data:`PART_BYTES` where its row groups allow."""
PART_BYTES = 4 * 2**20
"""Compressed bytes at which a part of a large file is cut: a row group of a
compacted or generated file (about 830,000 rows, 6.8 MiB) is a part of its own.
On a 6.4M-row file, parts of two such groups peaked at 1,194 MiB, parts of one at
828 MiB, in 0.95x the time (``docs/benchmarks.md``, analyze round 9)."""


def _time_ns(value: datetime | int | str, parameter: str) -> int:
    if isinstance(value, datetime):
        return unix_ns(value)
    if isinstance(value, int):
        return value
    try:
        return parse_time_ns(value)
    except ValueError:
        raise InputError(
            f"`{parameter}` {value!r} is not an ISO 8601 time, for example 2026-01-01T00:05:00Z"
        ) from None


def load(
    paths: str | Path | Sequence[str | Path],
    *,
    skip_bad: bool = False,
    progress: Callable[[int, int], None] | None = None,
    defer_value_check: bool = False,
    footer_cache: bool = True,
) -> TraceSet:
    """Open golden traces for analysis.

    Args:
        paths: A file, folder (searched recursively) or glob, or a list of them.
        skip_bad: Leave out unreadable or foreign files instead of failing; they are
            listed in :attr:`TraceSet.skipped`.
        progress: Called as ``progress(done, total)`` while files are checked.
        defer_value_check: Check the rows for negative or null durations with the
            first question that reads rows instead of here: :meth:`TraceSet.analyze`
            checks each batch as it reads it (no read of its own: at 20M rows 0.45 s
            less, at 10,000 small files 1.1 s), every other question checks first.
            A bad file gets the same error, raised by that question instead of
            here; an error that needs no rows (an unknown run in :meth:`select`, a
            bad ``every``) may then come first. Not with ``skip_bad``, which must
            know the files it leaves out here.
        footer_cache: Reuse the footer checks of files unchanged since an earlier
            load (:mod:`tracekit.store.footer_cache`: at 10,000 window files about
            3 s less); ``TRACEKIT_FOOTER_CACHE=0`` also turns it off.

    Files holding the same windows of a run as another file are left out (their
    ticks counted once) and listed in :attr:`TraceSet.duplicates`; a file's run is
    its ``run_id=`` folder when it has one (see :mod:`tracekit.analysis.identity`).

    Raises:
        tracekit.errors.InputError: A path is missing, a file is bad, two files
            overlap in part, or the data holds negative or null durations.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    sources = find_sources(paths, skip_bad=skip_bad, progress=progress, footer_cache=footer_cache)
    duplicates = duplicate_files(sources.files, sources.metadata)
    if duplicates:
        dropped = {duplicate.path for duplicate in duplicates}
        sources = Sources(
            tuple(path for path in sources.files if path not in dropped),
            sources.skipped,
            {path: meta for path, meta in sources.metadata.items() if path not in dropped},
        )
    memory = _InMemory(sources.files)
    if defer_value_check and not skip_bad:
        return TraceSet(
            sources, memory=memory, duplicates=tuple(duplicates), values=_ValueCheck(pending=True)
        )
    bad = TraceSet(sources, memory=memory).bad_values()
    if bad and not skip_bad:
        raise InputError(bad[0].reason)
    if bad:
        sources = sources.without(bad)
        memory = memory.of(sources.files)
    return TraceSet(sources, memory=memory, duplicates=tuple(duplicates))


@dataclasses.dataclass
class _ValueCheck:
    """Whether the rows still wait for :meth:`TraceSet.bad_values`'s check (shared by
    a set and the sets selected from it, so it runs once)."""

    pending: bool = False


ANALYZE_COLUMNS: Final = (
    *queries.LANE,
    "kind",
    "name",
    "verb",
    "status",
    "detail",
    "start_unix_ns",
    "duration_ns",
    "deadline_ns",
    "deadline_missed",
    "parallel_symbols",
)
"""The columns :meth:`TraceSet.analyze` reads from every file, beside the nesting
columns (:data:`~tracekit.analysis.queries.NESTING`) and a weighted set's weight."""


@dataclasses.dataclass
class _InMemory:
    """Every file's rows read into memory once, for many small files
    (:func:`_small_and_scattered`), shared by a set and the sets selected from it.

    The first question that scans the files whole (:meth:`TraceSet.scan`, the value
    check, a table of its own) reads them; until then nothing is read. Questions
    that read batch by batch (:meth:`TraceSet.analyze`, the grouped tables) use the
    frame once it is there and otherwise read their batches, never the frame: over
    10,000 small files one pass in batches takes 4.9 s and 0.5 GiB where reading
    them into memory first took 8.2 s and 3.2 GiB (``docs/benchmarks.md``, analyze
    round 10).
    """

    files: tuple[str, ...]
    frame: pl.DataFrame | None = None
    wanted: bool | None = None
    """Whether the files are many and small, once asked."""

    def read(self) -> pl.DataFrame | None:
        """The frame, read now if the files are many and small and it is not yet."""
        if self.wanted is None:
            self.wanted = _small_and_scattered(self.files)
        if self.wanted and self.frame is None:
            self.frame = _read_in_memory(self.files)
        return self.frame

    def of(self, files: Sequence[str]) -> _InMemory:
        """This, for ``files`` only (a subset: the others were left out)."""
        kept = tuple(files)
        frame = None if self.frame is None else self.frame.filter(pl.col("file").is_in(kept))
        return _InMemory(kept, frame, self.wanted)


MANY_FILES = 500
"""From this many files, a dataset small on disk is read into memory once, by the
first question that reads every file (:class:`_InMemory`)."""
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


def _batches(files: Sequence[str]) -> list[list[str]]:
    """``files`` in consecutive batches of about :data:`SELF_TIME_BATCH_BYTES` on disk."""
    batches: list[list[str]] = [[]]
    size = 0
    for path in files:
        with contextlib.suppress(OSError):
            size += os.path.getsize(path)
        batches[-1].append(path)
        if size >= SELF_TIME_BATCH_BYTES:
            batches.append([])
            size = 0
    return [batch for batch in batches if batch]


def _batches_and_parts(files: Sequence[str]) -> list[list[str] | reader.FilePart]:
    """:func:`_batches`, with a file of :data:`LARGE_FILE_BYTES` or more read in parts
    of at least :data:`PART_BYTES` where its row groups allow
    (:func:`~tracekit.analysis.reader.file_parts`)."""
    found: list[list[str] | reader.FilePart] = []
    for batch in _batches(files):
        # A large file closes the batch it joins: it is the batch's last file.
        size = 0
        with contextlib.suppress(OSError):
            size = os.path.getsize(batch[-1])
        if size < LARGE_FILE_BYTES:
            found.append(batch)
            continue
        if len(batch) > 1:
            found.append(batch[:-1])
        parts = reader.file_parts(batch[-1], PART_BYTES)
        found.extend(parts if len(parts) > 1 else [batch[-1:]])
    return found


def _read_in_memory(files: Sequence[str]) -> pl.DataFrame:
    with reading(files):
        return pl.scan_parquet(
            list(files),
            hive_partitioning=False,
            include_file_paths="file",
            glob=False,
            storage_options=storage_options(files),
            **scan_options(),
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
        memory: _InMemory | None = None,
        duplicates: tuple[DuplicateFile, ...] = (),
        values: _ValueCheck | None = None,
    ) -> None:
        self.sources = sources
        self._values = values or _ValueCheck()
        self.selection = selection or Selection()
        self.duplicates = duplicates
        """Files left out because another file holds the same ticks."""
        self._memory = memory or _InMemory(sources.files)
        self.run_overrides: tuple[RunOverride, ...] = tuple(run_overrides(sources.metadata))
        """Files whose ``run_id=`` folder names another run than their rows (the
        folder's run is used, as DuckDB, polars and pyarrow do)."""
        files = set(sources.files)
        rates = {
            path: float(meta[schema.META_SAMPLE_RATE])
            for path, meta in sources.metadata.items()
            if path in files and meta.get(schema.META_SAMPLE_RATE) is not None
        }
        # Weighted only when the files' rates differ: one rate keeps DuckDB's figures.
        self._weights = (
            {path: 1.0 / rate for path, rate in rates.items() if rate > 0}
            if len(set(rates.values())) > 1
            else {}
        )

    def __repr__(self) -> str:
        # The default repr would print every file path.
        parts = [f"{len(self.files):,} files", f"runs {', '.join(self.runs) or '—'}"]
        if self.skipped:
            parts.append(f"{len(self.skipped):,} skipped")
        chosen = {key: value for key, value in self.selection.to_dict().items() if value}
        if chosen:
            parts.append("selection " + ", ".join(f"{k}={v}" for k, v in chosen.items()))
        return f"<TraceSet: {'; '.join(parts)}>"

    def _replace(self, selection: Selection) -> TraceSet:
        return TraceSet(
            self.sources,
            selection,
            memory=self._memory,
            duplicates=self.duplicates,
            values=self._values,
        )

    @property
    def weighted(self) -> bool:
        """Whether sampled rows are weighted by ``1 / sample_rate`` (files' rates differ)."""
        return bool(self._weights)

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
        """The run ids of the files (a file's ``run_id=`` folder first), sorted."""
        return sorted({file_run(path, meta) for path, meta in self.sources.metadata.items()} - {""})

    @property
    def session_rates(self) -> dict[str, list[float]]:
        """Each run's sampling rates, in the order of its windows (a resumed run may
        have several)."""
        windows: dict[str, list[tuple[int, float]]] = {}
        for path, meta in self.sources.metadata.items():
            text = meta.get(schema.META_SAMPLE_RATE)
            if text is None:
                continue
            window = meta.get(schema.META_WINDOW, "0").partition("-")[0]
            order = int(window) if window.isdigit() else 0
            windows.setdefault(file_run(path, meta), []).append((order, float(text)))
        result: dict[str, list[float]] = {}
        for run, entries in sorted(windows.items()):
            rates: list[float] = []
            for _, rate in sorted(entries):
                if rate not in rates:
                    rates.append(rate)
            result[run] = rates
        return result

    @property
    def sample_rates(self) -> dict[str, float]:
        """Each run's sampling rate; for a run with several (see :attr:`session_rates`),
        the rate of its latest session."""
        return {run: rates[-1] for run, rates in self.session_rates.items()}

    def select(
        self,
        *,
        stages: Sequence[str] = (),
        symbols: Sequence[str] = (),
        runs: Sequence[str] = (),
        since: datetime | int | str | None = None,
        until: datetime | int | str | None = None,
    ) -> TraceSet:
        """A trace set narrowed by stage, symbol, run or wall-clock time.

        Args:
            stages: Stage names for the stage table.
            symbols: Symbols whose rows to keep (tick rows always stay).
            runs: Run ids to keep.
            since: Records starting at or after this time: a datetime, ns since the
                epoch, or ISO 8601 text (exact to the ns; UTC when no zone is given).
            until: Records starting before this time (the same forms).

        Raises:
            InputError: A run is not in the data (the message lists the runs), or a
                time is not ISO 8601. An unknown symbol is refused by
                :meth:`analyze` (a selection of tick rows alone is valid for plots).
        """
        unknown = sorted(set(runs) - set(self.runs))
        if unknown:
            raise InputError(
                f"run {', '.join(unknown)} is not in the data; runs: {', '.join(self.runs)}"
            )
        selection = Selection(
            stages=tuple(stages),
            symbols=tuple(symbols),
            runs=tuple(runs),
            since_ns=None if since is None else _time_ns(since, "since"),
            until_ns=None if until is None else _time_ns(until, "until"),
        )
        if (
            selection.since_ns is not None
            and selection.until_ns is not None
            and selection.since_ns >= selection.until_ns
        ):
            raise InputError(
                f"`since` ({since}) is not before `until` ({until}): nothing starts in "
                "[since, until); swap them or widen the range"
            )
        return self._replace(selection)

    def check_symbols(self) -> None:
        """Refuse a selected symbol that no row of the other selections has.

        Raises:
            InputError: Naming the unknown symbols and listing those that exist.
        """
        wanted = self.selection.symbols
        if not wanted:
            return
        present = self._replace(dataclasses.replace(self.selection, symbols=())).symbols()
        missing = sorted(set(wanted) - set(present))
        if missing:
            listed = ", ".join(present) if present else "none (no row has a symbol)"
            raise InputError(f"symbol {', '.join(missing)} is not in the data; symbols: {listed}")

    def symbols(self) -> list[str]:
        """The symbols of the selected rows, sorted."""
        with reading(self.files):
            found = (
                self.scan()
                .select(pl.col("symbol").drop_nulls().unique())
                .collect(engine="streaming")
            )
        return sorted(found["symbol"].to_list())

    def last(self, duration: str) -> TraceSet:
        """The most recent ``duration`` (e.g. ``30m``) of the selection, measured back
        from its newest record."""
        with reading(self.files):
            newest = self.scan().select(pl.col("start_unix_ns").max()).collect().item()
        if newest is None:
            raise EmptyDataError(
                f"{_describe(self.files)}: no record to take the last {duration} of"
            )
        since_ns = int(newest) - parse_duration_ns(duration, "last")
        if self.selection.since_ns is not None:  # keep the later of the two starts
            since_ns = max(since_ns, self.selection.since_ns)
        selection = dataclasses.replace(self.selection, since_ns=since_ns)
        return self._replace(selection)

    # -- the data -------------------------------------------------------------------

    def _files(
        self, *, with_paths: bool, only: Sequence[str] | None = None, checked: bool = True
    ) -> pl.LazyFrame:
        """Every row of the files (and their path in ``file`` if asked), unfiltered.

        A file under another run's ``run_id=`` folder has that run in ``run_id``; when
        the files' sample rates differ, every row carries ``_weight``.
        """
        if checked and self._values.pending:  # rows only once they passed the check
            self._check_values()
        overrides = {override.path: override.run_id for override in self.run_overrides}
        weights = self._weights
        # Every file (not a batch of them): the frame in memory, read now if wanted.
        whole = self._memory.read() if only is None else None
        if whole is not None:
            frame = whole.lazy()
            if overrides:
                frame = frame.with_columns(
                    pl.col("file")
                    .replace_strict(overrides, default=pl.col("run_id"))
                    .alias("run_id")
                )
            if weights:
                frame = frame.with_columns(
                    pl.col("file").replace_strict(weights, default=1.0).alias(_WEIGHT)
                )
            return frame if with_paths else frame.drop("file")
        groups: dict[tuple[str | None, float | None], list[str]] = {}
        for path in self.sources.files if only is None else only:
            groups.setdefault((overrides.get(path), weights.get(path)), []).append(path)
        parts = []
        for (run, weight), paths in groups.items():
            part = pl.scan_parquet(
                paths,
                hive_partitioning=False,
                glob=False,  # the paths are literal file names: run_id=canary[1] is no pattern
                include_file_paths="file" if with_paths else None,
                storage_options=storage_options(paths),
                **scan_options(),  # files written before an added column read it as nulls
            )
            if run is not None:
                part = part.with_columns(pl.lit(run).alias("run_id"))
            if weights:
                part = part.with_columns(pl.lit(weight or 1.0, pl.Float64).alias(_WEIGHT))
            parts.append(part)
        return parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")

    def scan(self) -> pl.LazyFrame:
        """All selected records as a lazy frame in schema v1 (filters applied).

        A file under another run's ``run_id=`` folder has that run in ``run_id``, and
        files that hold the same windows as another are left out (see :func:`load`).
        """
        frame = self._selected()
        return frame.drop(_WEIGHT) if self.weighted else frame

    def _selected(self, only: Sequence[str] | None = None) -> pl.LazyFrame:
        """:meth:`scan` (of the files ``only``, if given), with ``_weight`` when the
        files' sample rates differ."""
        return self._filter(self._files(with_paths=False, only=only))

    def _filter(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """``frame`` narrowed by the selection (runs, times, symbols)."""
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

    def _check_values(self) -> None:
        """The check :func:`load` defers (``defer_value_check``), run once.

        Raises:
            InputError: A file holds a negative or null duration (the first such file).
        """
        bad = self.bad_values()
        if bad:
            raise InputError(bad[0].reason)
        self._values.pending = False

    def bad_values(self) -> list[SkippedFile]:
        """Files holding a tick, stage or request row with a negative or null duration."""
        with reading(self.files):
            # Counted first without paths, the common case (no bad row) reads two
            # columns and nothing else, streamed: over 10,000 small files 1.2 s
            # against 2.0 s for the query naming the files; at 20M rows 0.45 s and
            # 210 MiB against 0.65 s and 580 MiB in memory (docs/benchmarks.md,
            # analyze round 6).
            count = (
                self._files(with_paths=False, checked=False)
                .select(_BAD_VALUE.sum())
                .collect(engine="streaming")
                .item()
            )
        if not count:
            return []
        frame = self._files(with_paths=True, checked=False)
        with reading(self.files):
            found = (
                frame.filter(_BAD_VALUE)
                .group_by("file")
                .agg(pl.col("kind").first(), pl.col("duration_ns").first())
                .sort("file")
                .collect(engine="streaming")
            )
        result = []
        for row in found.iter_rows(named=True):
            what = "null" if row["duration_ns"] is None else f"negative ({row['duration_ns']} ns)"
            result.append(
                SkippedFile(
                    row["file"],
                    f"{row['file']}: a {row['kind']} row has a {what} duration; the file is "
                    "corrupt or was not written by tracekit: remove it or pass `skip_bad=True`",
                )
            )
        return result

    # -- the questions ------------------------------------------------------------------

    def stages(
        self, by: Sequence[GroupKey] = (), every: str | None = None, *, self_time: bool = True
    ) -> pl.DataFrame:
        """Per stage (and ``tick_total``): n, p50/p95/p99, max and mean in ms.

        Stage rows come from the sampled detail only; ``tick_total`` from every tick.
        A percentile whose n is below :func:`min_n_for_quantile` is null.
        ``p50_ms`` to ``mean_ms`` are inclusive (a stage's whole duration, child spans
        included); the ``self_`` columns are self time. When files' sample rates
        differ, rows are weighted by ``1 / sample_rate`` (``n`` stays the number of
        rows).

        Args:
            by: Group by ``symbol`` and/or ``run_id``.
            every: Also group by wall-clock windows of this width (e.g. ``1m``).
            self_time: With ``self_p50_ms``, ``self_p95_ms``, ``self_p99_ms`` and
                ``self_mean_ms``: the same figures of self time (exclusive of child
                spans, see :mod:`tracekit.analysis.queries`; null for ``tick_total``).
                False leaves them out, and skips reading the spans a second time.
        """
        grouped = self._groupings(by, every, self_time=self_time)
        frame = self._gather(grouped["stages"], lambda batch: self._stage_rows(by, every, batch)[0])
        if self_time:
            frame = _with_self_figures(frame, self._self_time_table(by, every, grouped["self"]))
        return self._select_stages(_finish_stages(frame))

    def stage_table_query(self) -> pl.LazyFrame:
        """The rows behind :meth:`stages` (no grouping), to collect with other queries
        in one pass (the perf gate's profile does); :meth:`finish_stage_table` makes
        the table of them."""
        return self._stage_rows((), None)[0].with_columns(pl.col("stage").cast(pl.Categorical))

    def finish_stage_table(self, rows: pl.DataFrame) -> pl.DataFrame:
        """:meth:`stages`' table (without self time) from the collected
        :meth:`stage_table_query`."""
        grouped = self._groupings((), None, self_time=False)["stages"]
        grouped.add(rows)
        return self._select_stages(_finish_stages(grouped.table()))

    def deadline(self, by: Sequence[GroupKey] = (), every: str | None = None) -> pl.DataFrame:
        """Ticks, misses and the miss rate with its 95% Wilson interval, per deadline.

        Ticks with different deadlines (``tracer.tick(deadline_ms=...)``) are on rows
        of their own: ``deadline_ms`` is a key, never an average.
        """
        with reading(self.files):
            return finish_deadline(self._deadline_query(by, every).collect(engine="streaming"))

    def attribution(self, by: Sequence[GroupKey] = (), every: str | None = None) -> pl.DataFrame:
        """For missed ticks with kept detail: which component took the largest self time.

        Per missed tick, each component (a stage, or ``request:<api>``) costs the tick
        its slowest symbol's total self time; the component with the largest cost
        counts the tick in ``ticks_dominated``. A tie goes to the component first in
        alphabetical order (with ns durations, ties are rare; the rule is fixed so
        the table is reproducible). ``self_mean_ms`` is the mean of that cost over
        the missed ticks the component appears in, ``mean_ms`` the same of inclusive
        time. With ``every``, a tick belongs to the window its tick row starts in.
        """
        by = _check_by(by)
        costs = [
            tick_costs(spans)
            for spans in self._per_batch(lambda batch: self._missed_spans_query(by, every, batch))
        ]
        return self._attribution_from(pl.concat(costs, how="vertical_relaxed"), by, every)

    def guards(self, by: Sequence[GroupKey] = (), every: str | None = None) -> pl.DataFrame:
        """Guard trips by reason: count, per 1,000 ticks, share of all trips."""
        with reading(self.files):
            return _finish_guards(*pl.collect_all(self._guard_queries(by, every)))

    def requests(self, by: Sequence[GroupKey] = (), every: str | None = None) -> pl.DataFrame:
        """Exchange requests by verb and api: n, p50/p95/p99, max, mean, error share."""
        grouped = self._groupings(by, every, self_time=False)["requests"]
        return _finish_stages(
            self._gather(grouped, lambda batch: self._request_rows(by, every, batch)[0])
        )

    def parallel(self, by: Sequence[GroupKey] = (), every: str | None = None) -> pl.DataFrame:
        """Parallel symbols per tick: min, mean, max."""
        with reading(self.files):
            return _finish_parallel(self._parallel_query(by, every).collect(engine="streaming"))

    def analyze(
        self,
        by: Sequence[GroupKey] = (),
        every: str | None = None,
        sketches: bool = False,
        *,
        self_time: bool = True,
    ) -> Analysis:
        """Every figure of ``tracekit analyze`` at once, from one shared scan.

        Args:
            by: Group by ``symbol`` and/or ``run_id``.
            every: Also group by wall-clock windows of this width (e.g. ``1m``).
            sketches: Add a ``sketch`` column to the stage table: a Unicode sparkline
                of each stage's latency distribution (quarter-octave bins).
            self_time: The stages' self-time figures beside inclusive time (see
                :meth:`stages`). The attribution table is by self time either way.

        Raises:
            InputError: A selected symbol is not in the data (see :meth:`check_symbols`),
                or no tick is selected.
        """
        by = _check_by(by)
        self.check_symbols()
        with reading(self.files):
            tables = self._one_pass(by, every, sketches=sketches, self_time=self_time)
        deadline = tables["deadline"]
        if deadline.height == 0 or int(deadline["ticks"].sum()) == 0:
            raise EmptyDataError(
                f"{_describe(self.files)}: no tick in the selection; "
                "widen `runs`, `since` or `until`"
            )
        stages = tables["stages"]
        attribution = self._attribution_from(tables["attribution"], by, every)
        if self_time:
            stages = _with_self_figures(stages, tables["self_figures"])
        stages = self._select_stages(_finish_stages(stages))
        if sketches:
            stages = _with_sketches(stages, tables["sketch"])
        return Analysis(
            files=self.files,
            skipped=self.skipped,
            runs=self.runs,
            sample_rates={
                run: rates[0] if len(rates) == 1 else rates
                for run, rates in self.session_rates.items()
            },
            weighted=self.weighted,
            duplicates=self.duplicates,
            run_overrides=self.run_overrides,
            selection=self.selection,
            by=tuple(by),
            every=every,
            stages=stages,
            deadline=finish_deadline(deadline),
            attribution=attribution,
            guards=_finish_guards(tables["tick_counts"], tables["guards"]),
            requests=_finish_stages(tables["requests"]),
            parallel=tables["parallel"],
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
        self, by: Sequence[GroupKey], every: str | None, frame: pl.LazyFrame | None = None
    ) -> tuple[pl.LazyFrame, list[str]]:
        """Sampled stage rows and every tick row (as ``tick_total``): stage, keys,
        duration, and ``_weight`` when weighted."""
        frame, keys = self._keyed(self._selected() if frame is None else frame, by, every)
        # Every tick is read: tick_total is exact, unweighted.
        tick = pl.col("kind") == schema.KIND_TICK
        weighted = pl.when(tick).then(1.0).otherwise(_WEIGHT).alias(_WEIGHT)
        weight = [weighted] if self.weighted else []
        return queries.stage_rows(frame, *keys, "duration_ns", *weight), keys

    def _self_rows_of(
        self, frame: pl.LazyFrame, by: Sequence[GroupKey], every: str | None
    ) -> pl.DataFrame:
        """:meth:`_self_time_rows` of the rows of ``frame`` (whole ticks)."""
        frame, keys = self._keyed(frame, by, every)
        nesting = queries.nesting_columns(frame)
        columns = dict.fromkeys(
            [*queries.LANE, "kind", "name", "start_unix_ns", "duration_ns", *nesting, *keys]
        )
        weight = [_WEIGHT] if self.weighted else []
        spans = queries.sampled_spans(frame).select(*columns, *weight).collect()
        text = [key for key in keys if key != WINDOW_COLUMN]
        return (
            queries.with_self_time(spans)
            .filter(pl.col("kind") == schema.KIND_STAGE)
            .select(
                pl.col("name").cast(pl.Categorical).alias("stage"),
                *(pl.col(key).cast(pl.Categorical) for key in text),
                *(key for key in keys if key not in text),
                _SELF,
                *weight,
            )
        )

    def _self_time_table(
        self, by: Sequence[GroupKey], every: str | None, grouped: GroupedRows
    ) -> pl.DataFrame:
        """``self_p50_ms`` to ``self_mean_ms`` per stage (and group) of every sampled
        stage row.

        A tick's rows are all in one file (a window, or a compacted run of windows),
        so the spans are read a batch of files at a time, each batch's self times
        found by :func:`~tracekit.analysis.queries.with_self_time`; only the stage
        rows' group and self time are kept.
        """
        return self._gather(grouped, lambda batch: self._self_rows_of(batch, by, every))

    def _groupings(
        self, by: Sequence[GroupKey], every: str | None, *, self_time: bool
    ) -> dict[str, GroupedRows]:
        """The percentile tables' row keepers: ``stages``, ``requests`` and, with
        ``self_time``, ``self`` (the stages' self time)."""
        keys = [*_check_by(by), *([WINDOW_COLUMN] if every is not None else [])]
        weighted = self.weighted
        grouped = {
            "stages": GroupedRows(["stage", *keys], "duration_ns", weighted=weighted),
            "requests": GroupedRows(
                ["verb", "api", *keys],
                "duration_ns",
                share=("error", "error_share"),
                weighted=weighted,
            ),
        }
        if self_time:
            grouped["self"] = GroupedRows(
                ["stage", *keys], _SELF, prefix="self_", weighted=weighted
            )
        return grouped

    def _gather(
        self,
        grouped: GroupedRows,
        rows_of: Callable[[pl.LazyFrame], pl.LazyFrame | pl.DataFrame],
    ) -> pl.DataFrame:
        """``grouped``'s table of the rows ``rows_of`` finds in each batch of files."""
        for rows in self._per_batch(rows_of):
            grouped.add(rows)
        return grouped.table()

    def _per_batch(
        self, rows_of: Callable[[pl.LazyFrame], pl.LazyFrame | pl.DataFrame]
    ) -> Iterator[pl.DataFrame]:
        """What ``rows_of`` finds in each batch of files (:func:`_batches`; whole
        ticks), read and collected one batch at a time (polars sorts on every core)."""
        batches: list[list[str] | None] = (
            [None] if self._memory.frame is not None else list(_batches(self.files))
        )
        with reading(self.files):
            for batch in batches:
                rows = rows_of(self._selected(batch))
                yield rows.collect() if isinstance(rows, pl.LazyFrame) else rows

    def _sketch_query(
        self, by: Sequence[GroupKey], every: str | None, frame: pl.LazyFrame | None = None
    ) -> pl.LazyFrame:
        rows, keys = self._stage_rows(by, every, frame)
        micros = (pl.col("duration_ns").cast(pl.Float64) / 1000.0).clip(lower_bound=1.0)
        sketch_bin = (micros.log(2) * SKETCH_BINS_PER_OCTAVE).floor().cast(pl.Int32)
        count = pl.col(_WEIGHT).sum() if self.weighted else pl.len()
        return rows.group_by(["stage", *keys, sketch_bin.alias("bin")]).agg(count.alias("count"))

    def _deadline_query(
        self, by: Sequence[GroupKey], every: str | None, frame: pl.LazyFrame | None = None
    ) -> pl.LazyFrame:
        frame, keys = self._keyed(self._selected() if frame is None else frame, by, every)
        keys = [key for key in keys if key != "symbol"]  # misses are tick-wide
        ticks = frame.filter(pl.col("kind") == schema.KIND_TICK)
        return (
            ticks.group_by([*keys, "deadline_ns"])
            .agg(
                pl.len().alias("ticks"),
                pl.col("deadline_missed").sum().alias("misses"),
                (pl.col("detail") != schema.DETAIL_NONE)
                .filter(pl.col("deadline_missed"))
                .sum()
                .alias("misses_with_detail"),
            )
            .with_columns((pl.col("deadline_ns") / _NS_PER_MS).alias("deadline_ms"))
            .drop("deadline_ns")
        )

    def _missed_spans_query(
        self, by: Sequence[GroupKey], every: str | None, frame: pl.LazyFrame | None = None
    ) -> pl.LazyFrame:
        """The stage and request rows of missed ticks with detail (a small frame), each
        with its tick's window when ``every`` is given."""
        frame, keys = self._keyed(self._selected() if frame is None else frame, by, every)
        tick_key = ["run_id", "tick_id"]
        window = [WINDOW_COLUMN] if WINDOW_COLUMN in keys else []
        missed = (
            frame.filter(
                (pl.col("kind") == schema.KIND_TICK)
                & pl.col("deadline_missed")
                & (pl.col("detail") != schema.DETAIL_NONE)
            )
            .select(*tick_key, *window)
            .unique(subset=tick_key)
            .collect()  # a few ticks: read first, so the spans are filtered as they are read
        )
        # A membership test on the tick number drops nearly every span cheaply; the
        # semi-join on (run, tick) of what is left is the exact rule.
        spans = frame.filter(
            pl.col("kind").is_in([schema.KIND_STAGE, schema.KIND_REQUEST])
            & pl.col("tick_id").is_in(missed["tick_id"].unique().implode())
        ).join(missed.lazy().select(tick_key), on=tick_key, how="semi")
        if window:  # a span belongs to its tick's window, not to the one it starts in
            spans = spans.drop(WINDOW_COLUMN).join(missed.lazy(), on=tick_key, how="left")
        return spans.select(
            *tick_key,
            *window,
            "kind",
            "name",
            "symbol",
            "start_unix_ns",
            "duration_ns",
            *queries.nesting_columns(spans),
        )

    def _attribution_from(
        self, costs: pl.DataFrame, by: Sequence[GroupKey], every: str | None
    ) -> pl.DataFrame:
        """The attribution table from the :func:`~tracekit.analysis.attribution.tick_costs`
        of every batch's missed spans (:meth:`_missed_spans_query`)."""
        keys: list[str] = [key for key in by if key != "symbol"]
        keys += [WINDOW_COLUMN] if every is not None else []
        return attribution_table(costs, keys)

    def _guard_queries(
        self, by: Sequence[GroupKey], every: str | None, frame: pl.LazyFrame | None = None
    ) -> list[pl.LazyFrame]:
        frame, keys = self._keyed(self._selected() if frame is None else frame, by, every)
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

    def _request_rows(
        self, by: Sequence[GroupKey], every: str | None, frame: pl.LazyFrame | None = None
    ) -> tuple[pl.LazyFrame, list[str]]:
        """Sampled request rows: verb, api and the keys (as Categorical), duration,
        ``error`` and ``_weight`` when weighted."""
        frame, keys = self._keyed(self._selected() if frame is None else frame, by, every)
        text = ["verb", "api", *(key for key in keys if key != WINDOW_COLUMN)]
        rows = frame.filter(queries.is_sampled(schema.KIND_REQUEST)).select(
            pl.col("verb").cast(pl.Categorical),
            pl.col("name").cast(pl.Categorical).alias("api"),
            *(pl.col(key).cast(pl.Categorical) for key in text[2:]),
            *(key for key in keys if key not in text),
            "duration_ns",
            (pl.col("status") == schema.STATUS_ERROR).alias("error"),
            *([_WEIGHT] if self.weighted else []),
        )
        return rows, keys

    def _parallel_query(
        self, by: Sequence[GroupKey], every: str | None, frame: pl.LazyFrame | None = None
    ) -> pl.LazyFrame:
        """Per group of ticks: count, min, sum and max of ``parallel_symbols`` (partial
        sums that add up over batches; :func:`_finish_parallel` makes the table)."""
        frame, keys = self._keyed(self._selected() if frame is None else frame, by, every)
        keys = [key for key in keys if key != "symbol"]
        ticks = frame.filter(pl.col("kind") == schema.KIND_TICK)
        column = pl.col("parallel_symbols").cast(pl.Int64)
        return ticks.group_by(keys or [pl.lit(True).alias("_all")]).agg(
            column.count().alias("n"),
            column.min().alias("min"),
            column.sum().alias("_sum"),
            column.max().alias("max"),
        )

    # -- every table in one pass ------------------------------------------------------

    def _one_pass(
        self, by: Sequence[GroupKey], every: str | None, *, sketches: bool, self_time: bool
    ) -> dict[str, pl.DataFrame]:
        """Every table's rows or partial counts, reading each batch of files once.

        A batch (about :data:`SELF_TIME_BATCH_BYTES` on disk: several files, one
        file, or part of a large file's row groups; or the frame read into memory for
        many small files) is read once with only the columns analyze needs; every
        query then runs on it in memory, and self time is found on its spans (a
        tick's rows are all in one file, and in one part of it). Counts are summed
        over batches; the rows behind percentiles are kept, narrow (Categorical keys
        and the duration), for the grouped quantiles at the end. With the value check
        deferred (:func:`load`), each batch is checked before it is used.
        """
        batches: list[list[str] | reader.FilePart | None] = (
            [None] if self._memory.frame is not None else [*_batches_and_parts(self.files)]
        )
        needed = [*ANALYZE_COLUMNS, *([_WEIGHT] if self.weighted else [])]
        parts: dict[str, list[pl.DataFrame]] = {}
        nesting = list(queries.NESTING)  # all nulls in files written before them
        keys = [*by, *([WINDOW_COLUMN] if every is not None else [])]
        grouped = self._groupings(by, every, self_time=self_time)
        kept = {"stage_rows": "stages", "request_rows": "requests", "self_rows": "self"}

        def read(batch: list[str] | reader.FilePart | None) -> pl.DataFrame:
            if batch is None:  # the frame in memory (many small files)
                # Unchecked: the loop below checks it, as it does every batch.
                frame = self._files(with_paths=False, checked=False)
                return frame.select([*needed, *nesting]).collect()
            overrides = {override.path: override.run_id for override in self.run_overrides}
            weights = self._weights if self.weighted else None
            columns = [*needed, *nesting]
            if isinstance(batch, reader.FilePart):
                return reader.read_part(
                    batch, columns, runs=overrides, weights=weights, weight_column=_WEIGHT
                )
            return reader.read_batch(
                batch, columns, runs=overrides, weights=weights, weight_column=_WEIGHT
            )

        unchecked = self._values.pending

        def reduced(batch: list[str] | reader.FilePart | None) -> tuple[bool, _Found]:
            """One batch read and reduced to its tables' rows and partial counts
            (on a worker: see below), and whether it holds a bad value."""
            batch_frame = read(batch)
            if unchecked and batch_frame.select(_BAD_VALUE.any()).item():
                return True, {}  # used by no query: the main thread names the file
            frame = self._filter(batch_frame.lazy())
            stage_rows, _ = self._stage_rows(by, every, frame)
            text = [key for key in ["stage", *keys] if key != WINDOW_COLUMN]
            request_rows, _ = self._request_rows(by, every, frame)
            ticks, guards = self._guard_queries(by, every, frame)
            named = {
                "stage_rows": stage_rows.with_columns(
                    pl.col(key).cast(pl.Categorical) for key in text
                ),
                "request_rows": request_rows,
                "deadline": self._deadline_query(by, every, frame),
                "missed_spans": self._missed_spans_query(by, every, frame),
                "tick_counts": ticks,
                "guards": guards,
                "parallel": self._parallel_query(by, every, frame),
                **({"sketch": self._sketch_query(by, every, frame)} if sketches else {}),
            }
            found = dict(zip(named, pl.collect_all(named.values()), strict=True))
            # Whole ticks: their costs now, not their spans at the end.
            found["attribution"] = tick_costs(found.pop("missed_spans"))
            for name in named:
                if name not in ("stage_rows", "request_rows", "missed_spans"):
                    found[name] = _as_strings(found[name])  # small: keys as text again
            if self_time:
                found["self_rows"] = self._self_rows_of(frame, by, every)
            return False, found

        # Each batch is read and reduced on one of two workers, the main thread only
        # merging what they return (small: the kept rows and counts): polars,
        # pyarrow and most of numpy run without the GIL, so two batches at a time
        # keep both cores busy where one reader and one main thread left them
        # waiting on each other; the batches held stay two, as before
        # (docs/benchmarks.md, analyze round 7).
        for bad, found in prefetched(batches, reduced, ahead=2):
            if bad:
                self._check_values()  # names the first bad file, as load() would
                raise AssertionError("a batch held a bad value that the check missed")
            for name, table in kept.items():
                if name in found:
                    grouped[table].add(found.pop(name))
            for name, result in found.items():
                parts.setdefault(name, []).append(result)
            del found
        if unchecked:  # every row of every file was read and none was bad
            self._values.pending = False
        merged = {
            name: pl.concat(frames, how="vertical_relaxed", rechunk=False)
            for name, frames in parts.items()
        }
        merged["stages"] = grouped["stages"].table()
        merged["requests"] = grouped["requests"].table()
        if self_time:
            merged["self_figures"] = grouped["self"].table()
        for name, counts in (
            ("deadline", ["ticks", "misses", "misses_with_detail"]),
            ("tick_counts", ["ticks"]),
            ("guards", ["trips"]),
            ("sketch", ["count"]),
        ):
            if name in merged:
                merged[name] = _sum_over_batches(merged[name], counts)
        merged["parallel"] = _finish_parallel(merged["parallel"])
        return merged


_Found = dict[str, pl.DataFrame]
"""A batch's tables, by name (see :meth:`TraceSet._one_pass`)."""

_BAD_VALUE = pl.col("kind").is_in([schema.KIND_TICK, schema.KIND_STAGE, schema.KIND_REQUEST]) & (
    pl.col("duration_ns").is_null() | (pl.col("duration_ns") < 0)
)
"""A tick, stage or request row with a negative or null duration."""


def _as_strings(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its Categorical columns (read by :mod:`~tracekit.analysis.reader`)
    as String, the type of every table's text columns."""
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String))


def _sum_over_batches(frame: pl.DataFrame, counts: Sequence[str]) -> pl.DataFrame:
    """Partial counts of several batches summed per group (the other columns)."""
    keys = [column for column in frame.columns if column not in counts]
    return frame.group_by(keys, maintain_order=True).agg(pl.col(counts).sum())


def _finish_parallel(partial: pl.DataFrame) -> pl.DataFrame:
    """The parallel-symbols table from :meth:`TraceSet._parallel_query`'s partial sums
    (of one or more batches)."""
    keys = [column for column in partial.columns if column not in ("n", "min", "_sum", "max")]
    return (
        partial.group_by(keys, maintain_order=True)
        .agg(
            pl.col("n").sum(),
            pl.col("min").min(),
            pl.col("_sum").sum(),
            pl.col("max").max(),
        )
        .select(
            *keys,
            "n",
            pl.col("min").cast(pl.Int32),  # the column's own type (parallel_symbols)
            pl.when(pl.col("n") > 0)
            .then(pl.col("_sum") / pl.col("n"))
            .otherwise(None)
            .alias("mean"),
            pl.col("max").cast(pl.Int32),
        )
        .drop("_all", strict=False)
        .sort([key for key in keys if key != "_all"] or "n")
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


def _with_self_figures(stages: pl.DataFrame, figures: pl.DataFrame) -> pl.DataFrame:
    """The stage table with the self-time columns of :meth:`TraceSet._self_time_table`
    (null for ``tick_total``, whose rows are ticks, not spans)."""
    keys = [c for c in figures.columns if c in ("stage", *GROUP_KEYS, WINDOW_COLUMN)]
    return stages.join(figures, on=keys, how="left", nulls_equal=True)


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


def _finish_stages(frame: pl.DataFrame) -> pl.DataFrame:
    """Null out percentiles whose n is too small, and sort stages in tick order."""
    frame = frame.with_columns(
        pl.when(pl.col("n") >= min_n_for_quantile(q))
        .then(pl.col(f"{prefix}{label}_ms"))
        .otherwise(None)
        .alias(f"{prefix}{label}_ms")
        for label, q in PERCENTILES
        for prefix in ("", "self_")
        if f"{prefix}{label}_ms" in frame.columns
    )
    frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None))  # an empty mean is null
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


def finish_deadline(frame: pl.DataFrame) -> pl.DataFrame:
    """The deadline table from per-deadline counts: the miss rate and its Wilson interval."""
    frame = frame.drop("_all", strict=False)
    frame = frame.select(
        *[c for c in frame.columns if c in (*GROUP_KEYS, WINDOW_COLUMN)],
        "ticks",
        "misses",
        "misses_with_detail",
        "deadline_ms",
    )
    bounds = [
        wilson_interval(int(misses), int(ticks))
        for misses, ticks in zip(frame["misses"], frame["ticks"], strict=True)
    ]
    keys = [c for c in frame.columns if c in (*GROUP_KEYS, WINDOW_COLUMN)]
    return frame.with_columns(
        (pl.col("misses") / pl.col("ticks")).alias("miss_rate"),
        pl.Series("miss_rate_low", [low for low, _ in bounds], dtype=pl.Float64),
        pl.Series("miss_rate_high", [high for _, high in bounds], dtype=pl.Float64),
    ).sort([*keys, "deadline_ms"])


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


def parse_duration_ns(text: str, parameter: str = "every") -> int:
    """Parse ``90s``, ``1m``, ``2h``, ``500ms`` into nanoseconds.

    Raises:
        InputError: The text is not a positive number followed by ns, us, ms, s, m, h or d.
    """
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h|d)\s*", text)
    if match is None or float(match.group(1)) <= 0:
        raise InputError(
            f"`{parameter}` {text!r} is not a positive number with a unit "
            "(ns, us, ms, s, m, h, d), for example 1m"
        )
    value = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if not math.isfinite(value) or value < 1:
        raise InputError(f"`{parameter}` {text!r} is too small; use at least 1ns")
    return int(value)


def _describe(files: Sequence[str]) -> str:
    if len(files) == 1:
        return files[0]
    return f"{len(files)} files under {os.path.commonpath(files)}"
