"""Per-file summaries: what a golden file holds, small, mergeable and versioned.

The golden writer stores one in each file's key-value metadata
(:data:`~tracekit.store.schema.META_SUMMARY`), ``tracekit compact`` stores the
merge of its inputs' summaries, and ``tracekit profile``, ``compare`` and
``analyze --fast`` read footers only (``docs/schema.md``, "Summaries").

A summary holds, for the ticks of one run in one file:

* per *chunk* of :data:`CHUNK_TICKS` consecutive tick ids (chunk ``k`` holds tick ids
  ``k * CHUNK_TICKS + 1`` to ``(k + 1) * CHUNK_TICKS``): ticks, deadline misses and
  exchange requests;
* the log-bucket histogram of every stage's sampled durations and of
  ``tick_total`` (every tick), per chunk at several *levels* (:func:`level_sizes`):
  from the chunk size a profile of a run ending at the file's last tick reads
  (``chunk_ticks`` for runs up to 2M ticks, coarser for longer ones), doubling up to
  the first size at which the file's ticks fall in at most :data:`MAX_LEVEL_CHUNKS`
  chunks (chunks of two sizes nest, so any coarser level is the coarsest stored one
  with its chunk indexes shifted). A profile's blocks are unions of chunks of one
  level (:func:`profile_blocks`), so it adds a few large histograms instead of many
  small ones; the levels are decoded only when asked for;
* per exchange request key (``"VERB api"``, sampled rows) a histogram; per
  deadline: ticks, misses, misses with detail; guard trips per reason; the tick id
  and time range; the sample rate.

Everything is computed with ``pyarrow.compute`` kernels on a finished table, each
call in ``released()`` when given (the golden writer passes its step clock's
:meth:`~tracekit.trace.sinks.golden.StepClock.gil_released`: the kernels release
the GIL, and the little Python between them is timed as the writer's steps).
Summaries of the same run merge exactly (:func:`merge`): counts and sums add,
maxima and minima combine, histograms add bucket by bucket.

The buckets are those of :mod:`tracekit.stats.histogram` (bucket ``i`` holds
durations in ``(GAMMA**(i-1), GAMMA**i]`` ns). The store room may not import the
stats room (``tests/test_layout.py``), so the constant is restated here,
recorded in every summary, and a test checks both rules give the same buckets.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import math
import zlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Final

from tracekit.errors import SchemaError
from tracekit.store import schema

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

SUMMARY_FORMAT: Final = "tracekit.summary"
SUMMARY_VERSION: Final = 2
READABLE_VERSIONS: Final = (1, 2)
"""Version 1 stores the stage histograms of ``chunk_ticks`` chunks only (no ``stage_levels``)
and int64 packed columns; it is read as a summary of one level."""

SUMMARY_ALPHA: Final = 0.005
"""Must equal :data:`tracekit.stats.histogram.ALPHA` (tested)."""
_LOG_GAMMA: Final = math.log((1 + SUMMARY_ALPHA) / (1 - SUMMARY_ALPHA))

CHUNK_TICKS: Final = 1024
"""Tick ids per chunk (a power of two, so chunks of two sizes nest)."""
MAX_LEVEL_CHUNKS: Final = 2
"""Levels stop at the first chunk size at which the file's ticks span this many chunks."""
CHUNKS_PER_BLOCK: Final = 4
"""A profile's blocks hold at least this many chunks of the level it reads
(:func:`profile_blocks`), so its block size is at most 1/4 above the rows' rule."""
MAX_BUCKET_INDEX: Final = 8000
"""As a profile's: bucket indexes beyond this mark a corrupt summary."""
PROFILE_BLOCKS_PER_RUN: Final = 256
"""Must equal :data:`tracekit.decisions.profile.TARGET_BLOCKS_PER_RUN` (tested; the
store room may not import the decisions room)."""
PROFILE_MIN_BLOCK_TICKS: Final = 5
"""Must equal :data:`tracekit.decisions.profile.MIN_BLOCK_TICKS` (tested)."""

Released = Callable[[], AbstractContextManager[None]]
"""Around each compute kernel call: e.g. a step clock's ``gil_released``."""

logger = logging.getLogger("tracekit")


@dataclasses.dataclass
class Histograms:
    """Sparse histograms of several keys and groups as flat arrays (one entry a row).

    Attributes:
        group: The group of each entry (a chunk index at the level's chunk size, or 0).
        key: Index into the owner's list of names.
        bucket: Log-bucket index.
        count: Observations.
    """

    group: npt.NDArray[np.int64]
    key: npt.NDArray[np.int64]
    bucket: npt.NDArray[np.int64]
    count: npt.NDArray[np.int64]

    @staticmethod
    def empty() -> Histograms:
        import numpy as np

        nothing = np.zeros(0, dtype=np.int64)
        return Histograms(nothing, nothing, nothing, nothing)

    def __len__(self) -> int:
        return len(self.count)


class Level:
    """The stage histograms per chunk of one size, decoded (and checked) on first use.

    Args:
        chunk_ticks: Tick ids per chunk (group ``k`` holds tick ids ``k * chunk_ticks + 1``
            to ``(k + 1) * chunk_ticks``).
        histograms: The histograms, when at hand.
        decoder: Otherwise, what decodes them (raising :class:`SchemaError` when the
            stored form is damaged or inconsistent).
    """

    def __init__(
        self,
        chunk_ticks: int,
        histograms: Histograms | None = None,
        decoder: Callable[[], Histograms] | None = None,
    ) -> None:
        if histograms is None and decoder is None:
            raise ValueError("a level needs its histograms or a decoder")
        self.chunk_ticks = chunk_ticks
        self._histograms = histograms
        self._decoder = decoder

    def histograms(self) -> Histograms:
        """The histograms (group: chunk index at :attr:`chunk_ticks`).

        Raises:
            SchemaError: The stored form is damaged or disagrees with the summary.
        """
        if self._histograms is None:
            assert self._decoder is not None
            self._histograms = self._decoder()
            self._decoder = None
        return self._histograms


@dataclasses.dataclass
class Summary:
    """The summary of one run's ticks in one or more files (see the module docstring).

    Attributes:
        run_id: The run (as the rows say; readers use the file's ``run_id=`` folder).
        chunk_ticks: Tick ids per chunk of :attr:`chunks`.
        ticks: Tick rows.
        first_tick_id, last_tick_id: Tick id range (0 when there is no tick).
        start_unix_ns, end_unix_ns: First record start, last record end (0 when empty).
        sample_rate: The file's sample rate, if its metadata says.
        bad_durations: Tick, stage and request rows with a null or negative duration
            (a file tracekit wrote has none; readers refuse such a file).
        deadlines: deadline_ns (-1 for none) -> [ticks, misses, misses with detail].
        guards: Guard-trip reason -> trips.
        chunks: Chunk indexes, sorted.
        chunk_counts: Per chunk: [ticks, misses, requests] (shape chunks x 3).
        stage_names: Names the stage histograms' keys index.
        stage_levels: The stage histograms per chunk (:func:`level_sizes`), finest
            level first (its chunks ``chunk_ticks`` or a multiple, for a long run),
            each level's chunks twice the size of the previous one's.
        request_keys: ``"VERB api"`` keys the request histograms' keys index.
        request_histograms: Group = 0.
    """

    run_id: str
    chunk_ticks: int
    ticks: int
    first_tick_id: int
    last_tick_id: int
    start_unix_ns: int
    end_unix_ns: int
    sample_rate: float | None
    bad_durations: int
    deadlines: dict[int, list[int]]
    guards: dict[str, int]
    chunks: npt.NDArray[np.int64]
    chunk_counts: npt.NDArray[np.int64]
    stage_names: list[str]
    stage_levels: list[Level]
    request_keys: list[str]
    request_histograms: Histograms

    @property
    def stage_histograms(self) -> Histograms:
        """The finest level's stage histograms (group: chunk index at its chunk size)."""
        return self.stage_levels[0].histograms()

    def stage_entries(self, chunk_ticks: int) -> Histograms:
        """The stage histograms per chunk of ``chunk_ticks`` (a power of two, at least
        :attr:`chunk_ticks`), from the coarsest stored level that is not coarser: its
        chunk indexes shifted, entries *not* combined (one (chunk, key, bucket) may
        come several times; callers add them up).

        Raises:
            ValueError: ``chunk_ticks`` is finer than the summary's finest level or not
                a power of two.
            SchemaError: The level's stored form is damaged.
        """
        finest = self.stage_levels[0].chunk_ticks
        if chunk_ticks < finest or chunk_ticks & (chunk_ticks - 1):
            raise ValueError(f"no level of {chunk_ticks} ticks in a summary from {finest}")
        level = [level for level in self.stage_levels if level.chunk_ticks <= chunk_ticks][-1]
        histograms = level.histograms()
        shift = (chunk_ticks // level.chunk_ticks).bit_length() - 1
        if not shift:
            return histograms
        return Histograms(
            histograms.group >> shift, histograms.key, histograms.bucket, histograms.count
        )

    def stage_totals(self) -> Histograms:
        """Every stage's histogram over the whole summary (group 0), from the coarsest level.

        Raises:
            SchemaError: The level's stored form is damaged.
        """
        import numpy as np

        histograms = self.stage_levels[-1].histograms()
        return _combined(
            Histograms(
                np.zeros(len(histograms), dtype=np.int64),
                histograms.key,
                histograms.bucket,
                histograms.count,
            )
        )

    def stage_histogram(self, stage: str) -> dict[int, int]:
        """``stage``'s histogram over the whole summary: bucket -> count."""
        if stage not in self.stage_names:
            return {}
        totals = self.stage_totals()
        chosen = totals.key == self.stage_names.index(stage)
        return dict(zip(totals.bucket[chosen].tolist(), totals.count[chosen].tolist(), strict=True))

    def request_histogram(self, key: str) -> dict[int, int]:
        """The latency histogram of requests ``"VERB api"``: bucket -> count."""
        if key not in self.request_keys:
            return {}
        histograms = self.request_histograms
        chosen = histograms.key == self.request_keys.index(key)
        return dict(
            zip(histograms.bucket[chosen].tolist(), histograms.count[chosen].tolist(), strict=True)
        )


def bucket_array(durations_ns: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The log-bucket index (int64) of each duration; below 1 ns goes to bucket 0."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.max_element_wise(pc.cast(durations_ns, pa.float64()), 1.0)
    return pc.cast(pc.ceil(pc.divide(pc.ln(values), _LOG_GAMMA)), pa.int64())


def level_sizes(chunk_ticks: int, first_tick_id: int, last_tick_id: int) -> list[int]:
    """The chunk sizes of the levels a summary of tick ids ``first..last`` stores: from
    the one a profile of a run whose last tick is ``last_tick_id`` reads
    (:func:`profile_blocks`; a run holding these ticks ends there or later, so no
    profile of it reads finer chunks), doubling until the ticks span at most
    :data:`MAX_LEVEL_CHUNKS` chunks."""
    if first_tick_id < 1 or last_tick_id < first_tick_id:
        return [chunk_ticks]
    sizes = [profile_blocks(last_tick_id, chunk_ticks)[0]]
    while (last_tick_id - 1) // sizes[-1] - (first_tick_id - 1) // sizes[-1] + 1 > MAX_LEVEL_CHUNKS:
        sizes.append(sizes[-1] * 2)
    return sizes


def profile_blocks(last_tick_id: int, chunk_ticks: int) -> tuple[int, int]:
    """The chunk size and the block size of a profile built from summaries (of
    ``chunk_ticks`` chunks) of a run whose highest tick id is ``last_tick_id``.

    The rows' rule gives blocks of ``max(5, ceil(last_tick_id / 256))`` ticks; the
    chunk size is the largest power of two, not below ``chunk_ticks``, that fits
    :data:`CHUNKS_PER_BLOCK` times in that, and the block size is the rule rounded up
    to whole chunks (so at most 1/4 larger when the rule is 4 chunks or more).
    """
    rule = max(PROFILE_MIN_BLOCK_TICKS, -(-last_tick_id // PROFILE_BLOCKS_PER_RUN))
    size = chunk_ticks
    while size * 2 * CHUNKS_PER_BLOCK <= rule:
        size *= 2
    return size, size * -(-rule // size)


# -- summarize -------------------------------------------------------------------------


def summarize(
    table: pa.Table, *, chunk_ticks: int = CHUNK_TICKS, released: Released | None = None
) -> Summary:
    """The summary of a schema-v1 table holding the rows of one run.

    Args:
        table: The rows (a window, a file, a merged file). The sample rate is read
            from its schema metadata when present.
        chunk_ticks: Tick ids per chunk, a power of two.
        released: Entered around each compute kernel call (they release the GIL);
            the Python between them is small (per distinct name, deadline or
            reason, and numpy over the histogram entries).

    Raises:
        ValueError: ``chunk_ticks`` is not a power of two, or the rows hold several runs.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if chunk_ticks < 1 or chunk_ticks & (chunk_ticks - 1):
        raise ValueError(f"chunk_ticks {chunk_ticks} is not a power of two")
    kernels = released if released is not None else contextlib.nullcontext
    with kernels():
        runs = pc.unique(table["run_id"])
    if len(runs) > 1:
        raise ValueError(f"a summary holds one run; these rows hold {len(runs)}")
    with kernels():
        kind = table["kind"]
        detail = table["detail"]
        duration = table["duration_ns"]
        sampled = pc.equal(detail, schema.DETAIL_SAMPLED)
        is_tick = pc.equal(kind, schema.KIND_TICK)
        timed = pc.is_in(kind, pa.array([schema.KIND_TICK, schema.KIND_STAGE, schema.KIND_REQUEST]))
        bad = pc.sum(
            pc.cast(
                pc.and_(timed, pc.or_kleene(pc.is_null(duration), pc.less(duration, 0))), "int64"
            )
        )
        ticks = table.filter(is_tick)
        tick_ids = ticks["tick_id"]
        chunk = _flat(pc.divide(pc.subtract(tick_ids, 1), chunk_ticks), pa.int64())
        missed = pc.fill_null(ticks["deadline_missed"], False)
        tick_frame = pa.table(
            {
                "chunk": chunk,
                "missed": pc.cast(missed, pa.int64()),
                "requests": pc.cast(pc.fill_null(ticks["request_count"], 0), pa.int64()),
                "deadline": pc.fill_null(ticks["deadline_ns"], -1),
                "explained": pc.cast(
                    pc.and_(missed, pc.not_equal(ticks["detail"], schema.DETAIL_NONE)), pa.int64()
                ),
            }
        )
        by_chunk = (
            tick_frame.group_by("chunk", use_threads=False)
            .aggregate([("missed", "count"), ("missed", "sum"), ("requests", "sum")])
            .sort_by("chunk")
        )
        deadline_rows = tick_frame.group_by("deadline", use_threads=False).aggregate(
            [("missed", "count"), ("missed", "sum"), ("explained", "sum")]
        )
        tick_range = pc.min_max(tick_ids)
        starts = table["start_unix_ns"]
        time_range = (pc.min(starts), pc.max(pc.add(starts, pc.fill_null(duration, 0))))
    chunks = by_chunk["chunk"].to_numpy().astype(np.int64)
    chunk_counts = np.stack(
        [
            by_chunk["missed_count"].to_numpy(),
            by_chunk["missed_sum"].to_numpy(),
            by_chunk["requests_sum"].to_numpy(),
        ],
        axis=1,
    ).astype(np.int64)
    deadlines = {
        int(d): [int(t), int(m), int(e)]
        for d, t, m, e in zip(
            deadline_rows["deadline"].to_pylist(),
            deadline_rows["missed_count"].to_pylist(),
            deadline_rows["missed_sum"].to_pylist(),
            deadline_rows["explained_sum"].to_pylist(),
            strict=True,
        )
    }
    first_tick_id = int(tick_range["min"].as_py() or 0)
    last_tick_id = int(tick_range["max"].as_py() or 0)

    # Stage histograms per chunk: sampled stage rows, and every tick as tick_total.
    with kernels():
        stage_rows = table.filter(pc.and_(pc.equal(kind, schema.KIND_STAGE), sampled))
        stage_names = pc.dictionary_encode(_flat(stage_rows["name"], pa.string()))
    names = [str(name) for name in stage_names.dictionary.to_pylist()]
    if schema.TICK_TOTAL not in names:
        names.append(schema.TICK_TOTAL)
    total_key = names.index(schema.TICK_TOTAL)
    sizes = level_sizes(chunk_ticks, first_tick_id, last_tick_id)
    with kernels():
        keys = pa.concat_arrays(
            [
                pc.cast(stage_names.indices, pa.int64()),
                pa.array(np.full(ticks.num_rows, total_key, dtype=np.int64)),
            ]
        )
        durations = pa.concat_arrays(
            [_flat(stage_rows["duration_ns"], pa.int64()), _flat(ticks["duration_ns"], pa.int64())]
        )
        groups = pc.divide(
            pc.subtract(
                pa.concat_arrays(
                    [_flat(stage_rows["tick_id"], pa.int64()), _flat(tick_ids, pa.int64())]
                ),
                1,
            ),
            sizes[0],
        )
    stage_keys, finest = _histograms(groups, keys, names, durations, kernels)
    levels = [Level(sizes[0], finest)]
    for size in sizes[1:]:
        levels.append(Level(size, _coarser(levels[-1].histograms(), kernels)))

    with kernels():
        request_rows = table.filter(pc.and_(pc.equal(kind, schema.KIND_REQUEST), sampled))
        request_names = pc.dictionary_encode(
            pc.binary_join_element_wise(
                pc.fill_null(_flat(request_rows["verb"], pa.string()), ""),
                _flat(request_rows["name"], pa.string()),
                " ",
            )
        )
    request_keys, request_histograms = _histograms(
        pa.array(np.zeros(request_rows.num_rows, dtype=np.int64)),
        pc.cast(request_names.indices, pa.int64()),
        [str(name) for name in request_names.dictionary.to_pylist()],
        _flat(request_rows["duration_ns"], pa.int64()),
        kernels,
    )

    with kernels():
        guard_rows = table.filter(pc.equal(kind, schema.KIND_GUARD))
        guard_counts = pc.value_counts(_flat(guard_rows["name"], pa.string()))
    guards = {str(item["values"]): int(item["counts"]) for item in guard_counts.to_pylist() if item}
    metadata = table.schema.metadata or {}
    rate = metadata.get(schema.META_SAMPLE_RATE.encode())
    run_ids = runs.to_pylist()
    return Summary(
        run_id=str(run_ids[0]) if run_ids else "",
        chunk_ticks=chunk_ticks,
        ticks=ticks.num_rows,
        first_tick_id=first_tick_id,
        last_tick_id=last_tick_id,
        start_unix_ns=int(time_range[0].as_py() or 0),
        end_unix_ns=int(time_range[1].as_py() or 0),
        sample_rate=float(rate) if rate is not None else None,
        bad_durations=int(bad.as_py() or 0),
        deadlines=deadlines,
        guards=dict(sorted(guards.items())),
        chunks=chunks,
        chunk_counts=chunk_counts,
        stage_names=stage_keys,
        stage_levels=levels,
        request_keys=request_keys,
        request_histograms=request_histograms,
    )


def _flat(values: pa.Array | pa.ChunkedArray, arrow_type: pa.DataType) -> pa.Array:
    """One contiguous array of ``arrow_type`` (dictionary columns decoded)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], arrow_type)
    return pc.cast(values, arrow_type)


def _histograms(
    groups: pa.Array,
    keys: pa.Array,
    names: list[str],
    durations: pa.Array,
    kernels: Released,
) -> tuple[list[str], Histograms]:
    """Counts per (group, name, bucket), sorted, names as indexes into the returned
    (sorted) list; ``keys`` index ``names``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    order = np.argsort(np.array(names, dtype=object), kind="stable")
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    with kernels():
        frame = pa.table(
            {
                "group": groups,
                "key": pc.take(pa.array(rank), keys),
                "bucket": bucket_array(durations),
            }
        ).drop_null()
        counted = (
            frame.group_by(["group", "key", "bucket"], use_threads=False)
            .aggregate([([], "count_all")])
            .sort_by([("group", "ascending"), ("key", "ascending"), ("bucket", "ascending")])
        )
    histograms = _numpy(counted, "count_all")
    ordered = sorted(names)
    # Names with no entry (null durations) are left out; O(entries), no sort.
    used = np.bincount(histograms.key, minlength=len(names)) > 0
    if not used.all():
        histograms.key = (np.cumsum(used) - 1)[histograms.key]
    return [name for name, kept in zip(ordered, used.tolist(), strict=True) if kept], histograms


def _coarser(histograms: Histograms, kernels: Released) -> Histograms:
    """The histograms per chunk of twice the size (sorted)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    with kernels():
        frame = pa.table(
            {
                "group": pc.shift_right(pa.array(histograms.group), 1),
                "key": pa.array(histograms.key),
                "bucket": pa.array(histograms.bucket),
                "count": pa.array(histograms.count),
            }
        )
        counted = (
            frame.group_by(["group", "key", "bucket"], use_threads=False)
            .aggregate([("count", "sum")])
            .sort_by([("group", "ascending"), ("key", "ascending"), ("bucket", "ascending")])
        )
    return _numpy(counted, "count_sum")


def _numpy(table: pa.Table, count: str) -> Histograms:
    import numpy as np

    def column(name: str) -> npt.NDArray[np.int64]:
        values = table[name]
        if not values.num_chunks:
            return np.zeros(0, dtype=np.int64)
        return np.asarray(values.combine_chunks().to_numpy(), dtype=np.int64)

    return Histograms(column("group"), column("key"), column("bucket"), column(count))


def _combined(histograms: Histograms) -> Histograms:
    """Entries with the same (group, key, bucket) added, sorted by them."""
    import numpy as np

    if not len(histograms):
        return Histograms.empty()
    order = np.lexsort((histograms.bucket, histograms.key, histograms.group))
    group, key = histograms.group[order], histograms.key[order]
    bucket, count = histograms.bucket[order], histograms.count[order]
    starts = np.flatnonzero(
        np.concatenate(
            [[True], (np.diff(group) != 0) | (np.diff(key) != 0) | (np.diff(bucket) != 0)]
        )
    )
    return Histograms(group[starts], key[starts], bucket[starts], np.add.reduceat(count, starts))


# -- merge -----------------------------------------------------------------------------


def merge(summaries: Sequence[Summary]) -> Summary:
    """One summary of the ticks of several summaries of the same run (exact).

    Chunks of different sizes (powers of two) merge into the largest size; the
    levels are those a summary of the union stores (:func:`level_sizes`), each
    built from every summary's coarsest level that is not coarser.

    Raises:
        ValueError: No summary, or summaries of different runs.
        SchemaError: A summary's level is damaged (see :meth:`Level.histograms`).
    """
    import numpy as np

    if not summaries:
        raise ValueError("merge needs at least one summary")
    runs = {summary.run_id for summary in summaries}
    if len(runs) > 1:
        raise ValueError(f"summaries of different runs cannot merge: {sorted(runs)[:3]}")
    size = max(summary.chunk_ticks for summary in summaries)
    scaled = [summary.chunks * summary.chunk_ticks // size for summary in summaries]
    chunks = np.unique(np.concatenate(scaled))
    chunk_counts = np.zeros((len(chunks), 3), dtype=np.int64)
    for summary, indexes in zip(summaries, scaled, strict=True):
        np.add.at(chunk_counts, np.searchsorted(chunks, indexes), summary.chunk_counts)
    with_ticks = [summary for summary in summaries if summary.ticks]
    first_tick_id = min((s.first_tick_id for s in with_ticks), default=0)
    last_tick_id = max((s.last_tick_id for s in with_ticks), default=0)

    def names_of(label: str) -> tuple[list[str], list[npt.NDArray[np.int64]]]:
        names = sorted({name for s in summaries for name in getattr(s, label)})
        index = {name: i for i, name in enumerate(names)}
        mappings = [
            np.array([index[name] for name in getattr(s, label)], dtype=np.int64) for s in summaries
        ]
        return names, mappings

    def joined(parts: list[Histograms], mappings: list[npt.NDArray[np.int64]]) -> Histograms:
        return _combined(
            Histograms(
                np.concatenate([part.group for part in parts]),
                np.concatenate(
                    [
                        mapping[part.key] if len(part) else part.key
                        for part, mapping in zip(parts, mappings, strict=True)
                    ]
                ),
                np.concatenate([part.bucket for part in parts]),
                np.concatenate([part.count for part in parts]),
            )
        )

    stage_names, stage_mappings = names_of("stage_names")
    levels = [
        Level(level, joined([s.stage_entries(level) for s in summaries], stage_mappings))
        for level in level_sizes(size, first_tick_id, last_tick_id)
    ]
    request_keys, request_mappings = names_of("request_keys")
    request_histograms = joined([s.request_histograms for s in summaries], request_mappings)
    deadlines: dict[int, list[int]] = {}
    guards: dict[str, int] = {}
    for summary in summaries:
        for deadline, counts in summary.deadlines.items():
            total = deadlines.setdefault(deadline, [0, 0, 0])
            for j, count in enumerate(counts):
                total[j] += count
        for reason, trips in summary.guards.items():
            guards[reason] = guards.get(reason, 0) + trips
    timed = [summary for summary in summaries if summary.end_unix_ns]
    rates = {summary.sample_rate for summary in summaries}
    return Summary(
        run_id=summaries[0].run_id,
        chunk_ticks=size,
        ticks=sum(summary.ticks for summary in summaries),
        first_tick_id=first_tick_id,
        last_tick_id=last_tick_id,
        start_unix_ns=min((s.start_unix_ns for s in timed), default=0),
        end_unix_ns=max((s.end_unix_ns for s in timed), default=0),
        sample_rate=rates.pop() if len(rates) == 1 else None,
        bad_durations=sum(summary.bad_durations for summary in summaries),
        deadlines=dict(sorted(deadlines.items())),
        guards=dict(sorted(guards.items())),
        chunks=chunks.astype(np.int64),
        chunk_counts=chunk_counts,
        stage_names=stage_names,
        stage_levels=levels,
        request_keys=request_keys,
        request_histograms=request_histograms,
    )


_FIELDS: Final = ("group", "key", "bucket", "count")


# -- the stored form -------------------------------------------------------------------


def encode(summary: Summary, *, released: Released | None = None) -> str:
    """The summary as the JSON text stored under ``tracekit.summary`` (version 2).

    Counts and scalars are JSON; the chunk table and the histograms are
    little-endian int32 (or int64, when a value needs it) arrays, zlib-compressed
    and base64-encoded (a long run's histograms would be megabytes as JSON
    numbers, and slow to parse). Each level's stage histograms are stored in
    ``stage_levels`` (group = chunk index at that level; version 1 had one level,
    ``stage_histograms``, whose group was the chunk's position in ``chunks``).

    Args:
        summary: The summary.
        released: Entered around each compression (zlib releases the GIL).

    Raises:
        SchemaError: A level of ``summary`` is damaged (see :meth:`Level.histograms`).
    """
    kernels = released if released is not None else contextlib.nullcontext

    def _pack(columns: Sequence[npt.NDArray[np.int64]]) -> dict[str, Any]:
        return _packed(columns, kernels)

    return json.dumps(
        {
            "format": SUMMARY_FORMAT,
            "version": SUMMARY_VERSION,
            "histogram": {"kind": "log", "alpha": SUMMARY_ALPHA, "unit": "ns"},
            "run_id": summary.run_id,
            "chunk_ticks": summary.chunk_ticks,
            "ticks": summary.ticks,
            "first_tick_id": summary.first_tick_id,
            "last_tick_id": summary.last_tick_id,
            "start_unix_ns": summary.start_unix_ns,
            "end_unix_ns": summary.end_unix_ns,
            "sample_rate": summary.sample_rate,
            "bad_durations": summary.bad_durations,
            "deadlines": [[d, *counts] for d, counts in summary.deadlines.items()],
            "guards": summary.guards,
            "stage_names": summary.stage_names,
            "request_keys": summary.request_keys,
            "chunks": _pack([summary.chunks, *summary.chunk_counts.T]),
            "stage_levels": [
                {
                    "chunk_ticks": level.chunk_ticks,
                    "histograms": _pack([getattr(level.histograms(), field) for field in _FIELDS]),
                }
                for level in summary.stage_levels
            ],
            "request_histograms": _pack([getattr(summary.request_histograms, f) for f in _FIELDS]),
        },
        separators=(",", ":"),
        allow_nan=False,
    )


_INT32: Final = 2**31


def _packed(columns: Sequence[npt.NDArray[np.int64]], kernels: Released) -> dict[str, Any]:
    import numpy as np

    flat = np.concatenate([np.asarray(c, dtype=np.int64) for c in columns])
    dtype = "<i4" if not flat.size or (flat.min() >= -_INT32 and flat.max() < _INT32) else "<i8"
    raw = flat.astype(dtype).tobytes()
    with kernels():
        compressed = zlib.compress(raw, 6)
    return {"n": len(columns[0]), "dtype": dtype, "data": base64.b64encode(compressed).decode()}


def _unpack(value: Any, width: int, where: str) -> list[npt.NDArray[np.int64]]:
    import numpy as np

    if not isinstance(value, dict) or not isinstance(value.get("n"), int):
        raise SchemaError(f"{where}: a packed array of the summary is not {{n, data}}")
    n = value["n"]
    dtype = value.get("dtype", "<i8")  # version 1: int64, no dtype
    if dtype not in ("<i4", "<i8"):
        raise SchemaError(f"{where}: the summary's packed data is of type {str(dtype)[:10]!r}")
    itemsize = int(dtype[-1])
    try:
        raw = zlib.decompress(base64.b64decode(value["data"], validate=True))
    except (ValueError, TypeError, KeyError, zlib.error) as exc:
        raise SchemaError(
            f"{where}: the summary's packed data is damaged ({type(exc).__name__})"
        ) from None
    if n < 0 or len(raw) != itemsize * n * width:
        raise SchemaError(
            f"{where}: the summary's packed data holds {len(raw)} bytes, not {itemsize * n * width}"
        )
    flat = np.frombuffer(raw, dtype=dtype).astype(np.int64)
    return [flat[i * n : (i + 1) * n] for i in range(width)]


def decode(text: str, where: str) -> Summary:
    """Read and check a stored summary (version 1 or 2).

    The counts, names and chunk table are decoded and checked here; the stage
    histograms of each level when first used (:meth:`Level.histograms`, which then
    raises :class:`SchemaError` if they are damaged or disagree with the summary).

    Args:
        text: The ``tracekit.summary`` value.
        where: The file, for messages.

    Raises:
        SchemaError: Not a summary this tracekit reads, or inconsistent: the caller
            reads the file's rows instead.
    """
    import numpy as np

    try:
        document = json.loads(text)
    except ValueError as exc:
        raise SchemaError(f"{where}: the summary is not JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != SUMMARY_FORMAT:
        raise SchemaError(f"{where}: the summary is not a {SUMMARY_FORMAT} document")
    version = document.get("version")
    if version not in READABLE_VERSIONS:
        raise SchemaError(
            f"{where}: summary version {str(version)[:20]} is not read by this tracekit"
        )
    if document.get("histogram") != {"kind": "log", "alpha": SUMMARY_ALPHA, "unit": "ns"}:
        raise SchemaError(f"{where}: the summary's histograms use other buckets")
    try:
        chunks, ticks, misses, requests = _unpack(document["chunks"], 4, where)
        request = Histograms(*_unpack(document["request_histograms"], 4, where))
        chunk_ticks = _count(document["chunk_ticks"], where)
        stage_names = [str(name) for name in document["stage_names"]]
        if version == 1:
            stored = [(chunk_ticks, document["stage_histograms"])]
        else:
            stored = [
                (_count(level["chunk_ticks"], where), level["histograms"])
                for level in document["stage_levels"]
            ]
        summary = Summary(
            run_id=str(document["run_id"]),
            chunk_ticks=chunk_ticks,
            ticks=_count(document["ticks"], where),
            first_tick_id=_count(document["first_tick_id"], where),
            last_tick_id=_count(document["last_tick_id"], where),
            start_unix_ns=int(document["start_unix_ns"]),
            end_unix_ns=int(document["end_unix_ns"]),
            sample_rate=None if document["sample_rate"] is None else float(document["sample_rate"]),
            bad_durations=_count(document["bad_durations"], where),
            deadlines={
                int(d): [_count(c, where) for c in counts] for d, *counts in document["deadlines"]
            },
            guards={str(k): _count(v, where) for k, v in document["guards"].items()},
            chunks=chunks,
            chunk_counts=np.stack([ticks, misses, requests], axis=1),
            stage_names=stage_names,
            stage_levels=[],
            request_keys=[str(key) for key in document["request_keys"]],
            request_histograms=request,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SchemaError(
            f"{where}: the summary is incomplete ({type(exc).__name__}: {str(exc)[:60]})"
        ) from None
    _check(summary, [size for size, _ in stored], where)
    summary.stage_levels = [
        Level(size, decoder=_level_decoder(summary, size, packed, version == 1, where))
        for size, packed in stored
    ]
    return summary


def _level_decoder(
    summary: Summary, size: int, packed: Any, positions: bool, where: str
) -> Callable[[], Histograms]:
    import numpy as np

    def decoder() -> Histograms:
        histograms = Histograms(*_unpack(packed, 4, where))
        groups = len(summary.chunks) if positions else None
        _check_histograms(histograms, len(summary.stage_names), groups, f"stage ({size})", where)
        if positions:  # version 1: positions in the chunk table
            histograms.group = summary.chunks[histograms.group]
        first = (summary.first_tick_id - 1) // size if summary.ticks else 0
        last = (summary.last_tick_id - 1) // size if summary.ticks else 0
        if (
            len(histograms)
            and not positions
            and (
                (np.diff(histograms.group) < 0).any()
                or histograms.group[0] < first
                or histograms.group[-1] > last
            )
        ):
            raise SchemaError(
                f"{where}: the summary is inconsistent (its stage histograms of {size}-tick "
                "chunks are outside its tick range)"
            )
        if schema.TICK_TOTAL in summary.stage_names and summary.ticks:
            total = histograms.key == summary.stage_names.index(schema.TICK_TOTAL)
            if int(histograms.count[total].sum()) != summary.ticks:
                raise SchemaError(
                    f"{where}: the summary is inconsistent (its tick_total histogram of "
                    f"{size}-tick chunks does not count every tick)"
                )
        return histograms

    return decoder


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SchemaError(f"{where}: the summary holds {str(value)[:20]!r}, not a count")
    return value


def _check(summary: Summary, sizes: list[int], where: str) -> None:
    """Refuse a summary whose parts disagree (damaged, or not written by tracekit)."""
    import numpy as np

    size = summary.chunk_ticks
    problems = []
    if (
        size < 1
        or size & (size - 1)
        or not sizes
        or sizes[0] < size
        or sizes[0] & (sizes[0] - 1)
        or sizes != [sizes[0] * 2**k for k in range(len(sizes))]
    ):
        problems.append(f"its chunk sizes {sizes[:4]} are not doubling powers of two")
    counts = summary.chunk_counts
    if len(counts) and (
        (counts < 0).any()
        or (counts[:, 1] > counts[:, 0]).any()
        or (np.diff(summary.chunks) <= 0).any()
    ):
        problems.append("a chunk's counts are negative or out of order")
    if (
        int(counts[:, 0].sum()) != summary.ticks
        or sum(c[0] for c in summary.deadlines.values()) != summary.ticks
    ):
        problems.append("its tick counts disagree")
    if problems:
        raise SchemaError(f"{where}: the summary is inconsistent ({'; '.join(problems)})")
    _check_histograms(summary.request_histograms, len(summary.request_keys), 1, "request", where)


def _check_histograms(
    histograms: Histograms, keys: int, groups: int | None, name: str, where: str
) -> None:
    if len(histograms) and (
        (histograms.count <= 0).any()
        or (histograms.bucket < 0).any()
        or (histograms.bucket > MAX_BUCKET_INDEX).any()
        or (histograms.key < 0).any()
        or (histograms.key >= keys).any()
        or (histograms.group < 0).any()
        or (groups is not None and (histograms.group >= groups).any())
    ):
        raise SchemaError(
            f"{where}: the summary is inconsistent (its {name} histograms are out of range)"
        )


def with_summary(table: pa.Table, *, released: Released | None = None) -> pa.Table:
    """``table`` with its summary in the schema's key-value metadata.

    Args:
        table: The rows of one run.
        released: As for :func:`summarize`; the compression of the encoded summary
            runs in it too (zlib releases the GIL; base64 and JSON hold it).
    """
    metadata = dict(table.schema.metadata or {})
    summary = summarize(table, released=released)
    metadata[schema.META_SUMMARY.encode()] = encode(summary, released=released).encode()
    return table.replace_schema_metadata(metadata)


def prepare_summaries() -> bool:
    """Import what :func:`summarize` uses (numpy, pyarrow's compute kernels and their
    group-by engine): on the golden writer's thread before its first window, since an
    import holds the GIL for tens of milliseconds. False when they cannot be imported
    (a lean install without numpy): windows are then written without summaries."""
    try:
        import numpy  # noqa: F401
        import pyarrow as pa
        import pyarrow.acero
        import pyarrow.compute

        pa.table({"k": pa.array([0], pa.int64())}).group_by("k", use_threads=False).aggregate(
            [([], "count_all")]
        )
    except ImportError:
        return False
    return True


def summarized(table: pa.Table, released: Released | None = None) -> pa.Table:
    """:func:`with_summary`, or ``table`` unchanged (with a logged warning) when the
    summary cannot be made: readers then read the file's rows, so a summary is
    never worth a lost window (the golden writer's call)."""
    try:
        return with_summary(table, released=released)
    except Exception as exc:  # the writer must never die or raise into the loop
        logger.warning("tracekit: golden window written without its summary: %s", exc)
        return table
