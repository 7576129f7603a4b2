"""Performance profiles: what ``compare`` needs from one side, small and mergeable.

A profile keeps, per run and per block of consecutive ticks, the tick and miss
counts and a log-bucketed histogram of every stage (and ``tick_total``). Blocks
keep the time order the bootstrap needs; histograms keep quantiles within 1%.
It is written by ``tracekit profile`` as versioned JSON (``docs/compare.md``) and
is a superset of the seed's ``perf_profile.json`` fields.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tracekit._version import __version__
from tracekit.errors import InputError
from tracekit.stats.histogram import ALPHA, bucket_expr
from tracekit.store import schema

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from tracekit.analysis.traceset import TraceSet
    from tracekit.store.summary import Histograms, Summary

PROFILE_FORMAT: Final = "tracekit.profile"
PROFILE_VERSION: Final = 2
READABLE_VERSIONS: Final = (1, 2)
"""Version 1 lacks ``deadline_ms`` and ``exact_percentiles``; both are then unknown."""
TARGET_BLOCKS_PER_RUN: Final = 256
MIN_BLOCK_TICKS: Final = 5

MIN_SUMMARY_BLOCKS: Final = 64
"""A profile is built from summaries only when every run gets at least this many blocks
(a run's blocks are whole chunks there); shorter runs are read row by row, cheaply."""
POINT_EXACT: Final = "exact"
POINT_HISTOGRAMS: Final = "histograms"

MAX_BUCKET_INDEX: Final = 8000
"""Bucket indexes beyond this (durations over ~10^17 ns) mark a corrupt profile."""

SparseHistogram = dict[int, int]
"""Bucket index -> count."""


@dataclasses.dataclass
class Block:
    """Consecutive ticks of one run.

    Attributes:
        ticks: Ticks in the block.
        misses: Of those, deadline misses.
        requests: Exchange requests made in those ticks.
        stages: Stage name (and ``tick_total``) -> histogram of durations.
    """

    ticks: int
    misses: int
    requests: int
    stages: dict[str, SparseHistogram]


@dataclasses.dataclass
class RunProfile:
    """One run: its blocks in time order, guard trips and request latency."""

    run_id: str
    block_ticks: int
    blocks: list[Block]
    guard_trips: dict[str, int]
    requests: dict[str, SparseHistogram]


@dataclasses.dataclass
class Profile:
    """One side of a comparison.

    Attributes:
        runs: The runs, each a sequence of blocks.
        source: Where it came from (paths), for messages.
        deadline_ms: The deadline the traces recorded (the median over ticks), if known.
        exact: Stage -> {"p50": ms, "p95": ms, "p99": ms}: the exact figures
            ``tracekit analyze`` gives, when the profile was built from the rows.
        point_estimates: Where the gate's point estimates come from:
            :data:`POINT_EXACT` (``exact``, analyze's figures) or
            :data:`POINT_HISTOGRAMS` (the histograms, within about 1%: a profile built
            from the files' summaries).
        inputs: For a profile built from summaries: ``files_from_summaries`` and
            ``files_from_rows``.
        warnings: Files whose summary could not be used (their rows were read); not
            stored.
    """

    runs: list[RunProfile]
    source: str
    deadline_ms: float | None = None
    exact: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    point_estimates: str = POINT_EXACT
    inputs: dict[str, int] = dataclasses.field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def exact_quantile(self, stage: str, quantile: float) -> float | None:
        """The exact ``quantile`` of ``stage`` in ms, when known."""
        value = self.exact.get(stage, {}).get(f"p{round(quantile * 100)}")
        return float(value) if value is not None else None

    def floor_of(self, stage: str, quantile: float) -> float:
        """The largest exact figure of ``stage`` at a lower percentile (else 0): a
        histogram figure that stands in for a missing exact one (``tracekit analyze``
        prints "—": too few spans) is raised to it, so p50 <= p95 <= p99 holds even
        where the two methods meet."""
        from tracekit.stats.intervals import PERCENTILES

        figures = self.exact.get(stage, {})
        lower = [figures.get(label) for label, q in PERCENTILES if q < quantile]
        return max((float(value) for value in lower if value is not None), default=0.0)

    def _ordered_percentiles(self, stage: str) -> dict[str, float | None]:
        """The stage's p50/p95/p99: exact where known, else the histogram's, never
        below the exact figure of a lower percentile."""
        from tracekit.stats.intervals import PERCENTILES

        figures: dict[str, float | None] = {
            **_percentiles(self.merged(stage)),
            **self.exact.get(stage, {}),
        }
        for label, quantile in PERCENTILES:
            value = figures.get(label)
            if value is not None and self.exact_quantile(stage, quantile) is None:
                figures[label] = max(float(value), self.floor_of(stage, quantile))
        return figures

    def blocks(self) -> Iterator[Block]:
        """Every block of every run, runs in order, blocks in time order."""
        for run in self.runs:
            yield from run.blocks

    @property
    def total_ticks(self) -> int:
        return sum(block.ticks for block in self.blocks())

    @property
    def deadline_misses(self) -> int:
        return sum(block.misses for block in self.blocks())

    @property
    def total_requests(self) -> int:
        return sum(block.requests for block in self.blocks())

    def stage_names(self) -> list[str]:
        names = {name for block in self.blocks() for name in block.stages}
        return sorted(names)

    def unit_counts(self) -> list[int]:
        """Blocks per run (the bootstrap's units)."""
        return [len(run.blocks) for run in self.runs]

    def stage_matrix(self, stage: str, low: int, high: int) -> npt.NDArray[np.float64]:
        """Counts of ``stage`` as a (blocks x buckets) matrix over buckets low..high."""
        import numpy as np

        blocks = list(self.blocks())
        matrix = np.zeros((len(blocks), high - low + 1), dtype=np.float64)
        for row, block in enumerate(blocks):
            for index, count in block.stages.get(stage, {}).items():
                matrix[row, index - low] += count
        return matrix

    def bucket_range(self, stage: str) -> tuple[int, int] | None:
        indexes = [index for block in self.blocks() for index in block.stages.get(stage, {})]
        return (min(indexes), max(indexes)) if indexes else None

    def merged(self, stage: str) -> SparseHistogram:
        total: SparseHistogram = {}
        for block in self.blocks():
            for index, count in block.stages.get(stage, {}).items():
                total[index] = total.get(index, 0) + count
        return total

    def guard_trips(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for run in self.runs:
            for reason, count in run.guard_trips.items():
                total[reason] = total.get(reason, 0) + count
        return dict(sorted(total.items()))

    def request_histograms(self) -> dict[str, SparseHistogram]:
        total: dict[str, SparseHistogram] = {}
        for run in self.runs:
            for key, histogram in run.requests.items():
                merged = total.setdefault(key, {})
                for index, count in histogram.items():
                    merged[index] = merged.get(index, 0) + count
        return dict(sorted(total.items()))

    # -- JSON --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON form, with the seed's summary fields on top."""
        ticks = self.total_ticks
        misses = self.deadline_misses
        return {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "tracekit_version": __version__,
            "histogram": {"kind": "log", "alpha": ALPHA, "unit": "ns"},
            "deadline_ms": self.deadline_ms,
            "point_estimates": self.point_estimates,
            "inputs": self.inputs,
            "exact_percentiles": self.exact,
            "total_ticks": ticks,
            "deadline_misses": misses,
            "deadline_miss_pct": 100.0 * misses / ticks if ticks else 0.0,
            "requests_per_tick": self.total_requests / ticks if ticks else 0.0,
            "stage_percentiles": {
                stage: self._ordered_percentiles(stage) for stage in self.stage_names()
            },
            "guard_trips": self.guard_trips(),
            "exchange_req_percentiles": {
                key: _percentiles(histogram) for key, histogram in self.request_histograms().items()
            },
            "runs": [
                {
                    "run_id": run.run_id,
                    "block_ticks": run.block_ticks,
                    "guard_trips": run.guard_trips,
                    "requests": {key: _encode(h) for key, h in run.requests.items()},
                    "blocks": [
                        {
                            "ticks": block.ticks,
                            "misses": block.misses,
                            "requests": block.requests,
                            "stages": {name: _encode(h) for name, h in block.stages.items()},
                        }
                        for block in run.blocks
                    ],
                }
                for run in self.runs
            ],
        }

    def summary(self) -> str:
        """One line: ticks, runs and stages (``12,000 ticks, 2 run(s), 5 stages``)."""
        return (
            f"{self.total_ticks:,} ticks, {len(self.runs)} run(s), {len(self.stage_names())} stages"
        )

    def write(self, path: Path) -> None:
        """Write the profile as JSON, atomically.

        Raises:
            InputError: It cannot be written, or ``path`` is not a regular file.
        """
        from tracekit.store.documents import write_document

        write_document(path, self.to_dict(), "profile", compact=True)


def _encode(histogram: SparseHistogram) -> dict[str, list[int]]:
    indexes = sorted(histogram)
    return {"idx": indexes, "cnt": [histogram[i] for i in indexes]}


def _decode(value: Any, where: str) -> SparseHistogram:
    if not isinstance(value, dict) or not isinstance(value.get("idx"), list):
        raise InputError(f"{where}: a histogram must be {{'idx': [...], 'cnt': [...]}}")
    indexes, counts = value["idx"], value.get("cnt")
    if not isinstance(counts, list) or len(counts) != len(indexes):
        raise InputError(f"{where}: histogram 'idx' and 'cnt' differ in length")
    histogram = {_whole(i, where): _whole(c, where) for i, c in zip(indexes, counts, strict=True)}
    for index, count in histogram.items():
        if count < 0 or not 0 <= index <= MAX_BUCKET_INDEX:
            raise InputError(
                f"{where}: bucket {index} holds {count}; the profile is corrupt: re-create it"
            )
    return histogram


def _whole(value: Any, where: str) -> int:
    """A count or index as JSON gives it: a whole number, not a bool or a float."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(
            f"{where}: {str(value)[:20]!r} is not a whole number; the profile is corrupt: "
            "re-create it"
        )
    return value


def _percentiles(histogram: SparseHistogram) -> dict[str, float | None]:
    import numpy as np

    from tracekit.stats.intervals import PERCENTILES
    from tracekit.stats.quantiles import histogram_quantiles

    if not histogram:
        return {"p50": None, "p95": None, "p99": None}
    first = min(histogram)
    counts = np.zeros(max(histogram) - first + 1, dtype=np.float64)
    for index, count in histogram.items():
        counts[index - first] = count
    values = histogram_quantiles(counts, first, np.array([q for _, q in PERCENTILES]))
    return {label: round(float(v), 6) for (label, _), v in zip(PERCENTILES, values, strict=True)}


def read_profile(path: Path) -> Profile:
    """Load a profile written by ``tracekit profile`` (version 1 or 2).

    Raises:
        InputError: The file is unreadable, not a profile, or of another version.
    """
    from tracekit.store.documents import read_document

    document = read_document(
        path,
        PROFILE_FORMAT,
        READABLE_VERSIONS,
        "profile",
        "make one with: tracekit profile TRACES -o perf_profile.json",
    )
    try:
        runs = [
            RunProfile(
                run_id=str(run["run_id"]),
                block_ticks=_whole(run["block_ticks"], f"{path}: block_ticks"),
                guard_trips={
                    str(k): _whole(v, f"{path}: guard trips")
                    for k, v in run.get("guard_trips", {}).items()
                },
                requests={
                    str(k): _decode(v, f"{path}: run {run['run_id']}")
                    for k, v in run.get("requests", {}).items()
                },
                blocks=[
                    Block(
                        ticks=_whole(block["ticks"], f"{path}: a block's ticks"),
                        misses=_whole(block["misses"], f"{path}: a block's misses"),
                        requests=_whole(block.get("requests", 0), f"{path}: a block's requests"),
                        stages={
                            str(name): _decode(h, f"{path}: run {run['run_id']}")
                            for name, h in block["stages"].items()
                        },
                    )
                    for block in run["blocks"]
                ],
            )
            for run in document["runs"]
        ]
        deadline = document.get("deadline_ms")
        deadline_ms = float(deadline) if deadline is not None else None
        exact = {
            str(stage): {str(label): float(value) for label, value in values.items()}
            for stage, values in (document.get("exact_percentiles") or {}).items()
        }
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise InputError(
            f"{path}: profile is incomplete or malformed ({type(exc).__name__}: "
            f"{str(exc)[:80]}); re-create it with: tracekit profile TRACES"
        ) from None
    if deadline_ms is not None and not deadline_ms > 0:
        raise InputError(f"{path}: deadline_ms {deadline_ms!r} is not a positive number")
    for run in runs:
        negative = [reason for reason, count in run.guard_trips.items() if count < 0]
        if negative or run.block_ticks < 1:
            raise InputError(
                f"{path}: run {run.run_id} has negative guard trips ({', '.join(negative)}) or "
                "no block size; the profile is corrupt: re-create it"
            )
        for block in run.blocks:
            if not 0 <= block.misses <= block.ticks or block.requests < 0:
                raise InputError(
                    f"{path}: run {run.run_id} has a block with {block.ticks} ticks and "
                    f"{block.misses} misses; the profile is corrupt: re-create it"
                )
            for name, histogram in block.stages.items():
                for index, count in histogram.items():
                    if count < 0 or not 0 <= index <= MAX_BUCKET_INDEX:
                        raise InputError(
                            f"{path}: run {run.run_id}, stage {name}: bucket {index} holds "
                            f"{count}; the profile is corrupt: re-create it"
                        )
    estimates = document.get("point_estimates")
    if estimates not in (None, POINT_EXACT, POINT_HISTOGRAMS):
        raise InputError(
            f"{path}: point_estimates {str(estimates)[:20]!r} is not "
            f"{POINT_EXACT!r} or {POINT_HISTOGRAMS!r}; the profile is corrupt: re-create it"
        )
    if estimates is None:  # written before the field: exact when analyze's figures are there
        estimates = POINT_EXACT if exact else POINT_HISTOGRAMS
    return Profile(runs, str(path), deadline_ms, exact, estimates)


def profile_from_traces(traces: TraceSet) -> Profile:
    """Build a profile from golden traces (stages from the sampled detail only)."""
    from tracekit.analysis.sources import reading

    with reading(traces.files):
        return _profile_from_traces(traces)


def _profile_from_traces(traces: TraceSet) -> Profile:
    import polars as pl

    from tracekit.analysis.queries import is_sampled, stage_rows
    from tracekit.stats.intervals import PERCENTILES

    frame = traces.scan()
    tick_rows = frame.filter(pl.col("kind") == schema.KIND_TICK)
    run_ticks = tick_rows.group_by("run_id").agg(pl.col("tick_id").max().alias("last_tick"))
    sizes = {
        row["run_id"]: block_ticks(int(row["last_tick"]))
        for row in run_ticks.collect().iter_rows(named=True)
    }
    if not sizes:
        raise InputError(f"{traces.files[0]}: no tick in the selection; nothing to profile")
    block_size = pl.col("run_id").replace_strict(sizes, return_dtype=pl.Int64)
    block = ((pl.col("tick_id") - 1) // block_size).alias("block")
    sampled_rows = stage_rows(frame, "run_id", "tick_id", "duration_ns")
    queries = [
        sampled_rows.group_by(
            "run_id", block, "stage", bucket_expr(pl.col("duration_ns")).alias("bucket")
        ).agg(pl.len().alias("count")),
        tick_rows.group_by("run_id", block).agg(
            pl.len().alias("ticks"),
            pl.col("deadline_missed").sum().alias("misses"),
            pl.col("request_count").fill_null(0).sum().alias("requests"),
        ),
        frame.filter(pl.col("kind") == schema.KIND_GUARD)
        .group_by("run_id", "name")
        .agg(pl.len().alias("count")),
        frame.filter(is_sampled(schema.KIND_REQUEST))
        .group_by(
            "run_id",
            (pl.col("verb").fill_null("") + pl.lit(" ") + pl.col("name")).alias("key"),
            bucket_expr(pl.col("duration_ns")).alias("bucket"),
        )
        .agg(pl.len().alias("count")),
        tick_rows.select((pl.col("deadline_ns").median() / 1e6).alias("deadline_ms")),
        traces.stage_table_query(),
    ]
    stages, ticks, guards, requests, deadline, table = pl.collect_all(queries, engine="streaming")
    # The exact figures analyze reports (its very query, in the same pass), so
    # compare's point estimates are analyze's.
    exact = {
        row["stage"]: {
            label: row[f"{label}_ms"] for label, _ in PERCENTILES if row[f"{label}_ms"] is not None
        }
        for row in traces.finish_stage_table(table).iter_rows(named=True)
    }

    runs: dict[str, RunProfile] = {}
    blocks: dict[tuple[str, int], Block] = {}
    for row in ticks.sort("run_id", "block").iter_rows(named=True):
        run = runs.setdefault(
            row["run_id"], RunProfile(row["run_id"], sizes[row["run_id"]], [], {}, {})
        )
        block_record = Block(int(row["ticks"]), int(row["misses"]), int(row["requests"]), {})
        run.blocks.append(block_record)
        blocks[(row["run_id"], row["block"])] = block_record
    for run_id, block_index, stage, bucket, count in stages.iter_rows():
        owner = blocks.get((run_id, block_index))
        if owner is not None:
            histogram = owner.stages.setdefault(stage, {})
            histogram[int(bucket)] = histogram.get(int(bucket), 0) + int(count)
    for run_id, reason, count in guards.iter_rows():
        if run_id in runs:
            runs[run_id].guard_trips[reason] = int(count)
    for run_id, key, bucket, count in requests.iter_rows():
        if run_id in runs:
            runs[run_id].requests.setdefault(key, {})[int(bucket)] = int(count)
    source = traces.files[0] if len(traces.files) == 1 else f"{len(traces.files)} files"
    deadline_ms = deadline.item() if deadline.height else None
    return Profile(
        [runs[run_id] for run_id in sorted(runs)],
        source,
        float(deadline_ms) if deadline_ms is not None else None,
        exact,
    )


def block_ticks(last_tick_id: int) -> int:
    """Ticks per block of a run whose highest tick id is ``last_tick_id`` (every engine's rule)."""
    return max(MIN_BLOCK_TICKS, math.ceil(last_tick_id / TARGET_BLOCKS_PER_RUN))


def profile_from_durations(
    runs: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    deadline_ms: float = 200.0,
    source: str = "samples",
) -> Profile:
    """Build a profile from per-tick durations in ms, in time order.

    Args:
        runs: Run id -> stage name -> durations in ms, one per tick, in time order.
            ``tick_total`` (if present) also decides the deadline misses.
        deadline_ms: The deadline for ``tick_total``.
        source: A name for messages.
    """
    import numpy as np

    from tracekit.stats.histogram import bucket_indexes

    profiles = []
    for run_id, stages in runs.items():
        lengths = {len(values) for values in stages.values()}
        ticks = max(lengths) if lengths else 0
        size = block_ticks(ticks)
        block_list = []
        for start in range(0, ticks, size):
            stop = min(start + size, ticks)
            block_stages: dict[str, SparseHistogram] = {}
            for name, values in stages.items():
                chunk = np.asarray(values[start:stop], dtype=np.float64) * 1e6
                indexes = bucket_indexes(chunk)
                unique, counts = np.unique(indexes, return_counts=True)
                block_stages[name] = dict(zip(unique.tolist(), counts.tolist(), strict=True))
            total = stages.get(schema.TICK_TOTAL)
            misses = (
                int(np.sum(np.asarray(total[start:stop]) > deadline_ms)) if total is not None else 0
            )
            block_list.append(Block(stop - start, misses, 0, block_stages))
        profiles.append(RunProfile(run_id, size, block_list, {}, {}))
    from tracekit.stats.intervals import PERCENTILES, QUANTILE_METHOD

    names = {name for stages in runs.values() for name in stages}
    exact: dict[str, dict[str, float]] = {}
    for name in sorted(names):
        durations = np.concatenate(
            [
                np.asarray(stages[name], dtype=np.float64)
                for stages in runs.values()
                if name in stages
            ]
        )
        if durations.size:
            exact[name] = {
                label: float(np.quantile(durations, q, method=QUANTILE_METHOD))
                for label, q in PERCENTILES
            }
    return Profile(profiles, source, deadline_ms, exact)


def profile_from_summaries(
    paths: Sequence[str | Path],
    *,
    skip_bad: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Profile | None:
    """Build a profile from the files' footers (their ``tracekit.summary``).

    Files without a usable summary are read row by row and merged in. The
    histograms and counts are those :func:`profile_from_traces` builds; a run's
    blocks are whole chunks of one level of its summaries
    (:func:`~tracekit.store.summary.profile_blocks`: at least
    :data:`~tracekit.store.summary.CHUNKS_PER_BLOCK` chunks a block, so the block
    size is the rows' rule rounded up to a multiple of the chunk size, at most 1/4
    more), and the point estimates come from the histograms (within about 1%;
    ``point_estimates`` says so). Only that level of each file is decoded, and the
    blocks' histograms are added up in one vectorised pass per run.

    Returns:
        The profile, or None when no file carries a summary or a run would get fewer
        than :data:`MIN_SUMMARY_BLOCKS` blocks: then read the rows
        (:func:`profile_from_traces`).
    """
    import numpy as np

    from tracekit.analysis.summaries import load_summaries
    from tracekit.store.summary import profile_blocks

    loaded = load_summaries(paths, skip_bad=skip_bad, progress=progress)
    if loaded is None or not loaded.runs:
        return None
    files_of_run: dict[str, list[str]] = {}
    for path, summary in loaded.by_file.items():
        files_of_run.setdefault(summary.run_id, []).append(path)
    runs = []
    deadlines: dict[int, int] = {}
    for run_id in sorted(files_of_run):
        summaries = [loaded.by_file[path] for path in files_of_run[run_id]]
        with_ticks = [summary for summary in summaries if summary.ticks]
        if not with_ticks:
            continue
        last_tick_id = max(summary.last_tick_id for summary in with_ticks)
        size, block_size = profile_blocks(
            last_tick_id, max(summary.chunk_ticks for summary in summaries)
        )
        if math.ceil(last_tick_id / block_size) < MIN_SUMMARY_BLOCKS:
            return None
        entries = [loaded.stage_entries(path, size) for path in files_of_run[run_id]]
        summaries = [summary for summary, _ in entries]
        counts = np.concatenate([summary.chunk_counts for summary in summaries])
        block_of_chunk = np.concatenate(
            [summary.chunks * summary.chunk_ticks // block_size for summary in summaries]
        )
        has_ticks = counts[:, 0] > 0
        numbers, position = np.unique(block_of_chunk[has_ticks], return_inverse=True)
        totals = np.zeros((len(numbers), 3), dtype=np.int64)
        np.add.at(totals, position.ravel(), counts[has_ticks])
        block_list = [Block(int(t), int(m), int(r), {}) for t, m, r in totals.tolist()]
        names = sorted({name for summary in summaries for name in summary.stage_names})
        _add_block_histograms(block_list, numbers, block_size // size, names, entries)
        requests = _run_requests(summaries)
        guards: dict[str, int] = {}
        for summary in summaries:
            for reason, trips in summary.guards.items():
                guards[reason] = guards.get(reason, 0) + trips
            for deadline, (ticks, _, _) in summary.deadlines.items():
                if deadline >= 0:
                    deadlines[deadline] = deadlines.get(deadline, 0) + ticks
        runs.append(
            RunProfile(run_id, block_size, block_list, dict(sorted(guards.items())), requests)
        )
    if not runs:
        raise InputError(f"{loaded.files[0]}: no tick in the selection; nothing to profile")
    files = loaded.files
    return Profile(
        runs,
        files[0] if len(files) == 1 else f"{len(files)} files",
        _median_ms(deadlines),
        {},
        POINT_HISTOGRAMS,
        {"files_from_summaries": loaded.from_footers, "files_from_rows": loaded.from_rows},
        loaded.warnings,
    )


DENSE_CELLS: Final = 1 << 24
"""Up to this many (block, stage, bucket) cells, a run's histograms are added with one
``bincount`` over a dense array; beyond, by sorting the entries."""


def _add_block_histograms(
    blocks: list[Block],
    numbers: npt.NDArray[np.int64],
    chunks_per_block: int,
    names: list[str],
    entries: Sequence[tuple[Summary, Histograms]],
) -> None:
    """Fill ``blocks`` (block indexes ``numbers``, sorted) with the stage histograms of
    ``entries`` ((summary, its stage histograms per chunk of the level read))."""
    import numpy as np

    index = {name: i for i, name in enumerate(names)}
    block_parts, key_parts, bucket_parts, count_parts = [], [], [], []
    for summary, histograms in entries:
        if not len(histograms):
            continue
        mapping = np.array([index[name] for name in summary.stage_names], dtype=np.int64)
        block_parts.append(histograms.group // chunks_per_block)
        key_parts.append(mapping[histograms.key])
        bucket_parts.append(histograms.bucket)
        count_parts.append(histograms.count)
    if not block_parts or not len(numbers):
        return
    block = np.concatenate(block_parts)
    key = np.concatenate(key_parts)
    bucket = np.concatenate(bucket_parts)
    weights = np.concatenate(count_parts).astype(np.float64)
    # The position of each entry's block among `numbers` (-1: a block without ticks,
    # whose entries are left out), by a lookup table over the blocks' range.
    first = int(numbers[0])
    lookup = np.full(int(numbers[-1]) - first + 1, -1, dtype=np.int64)
    lookup[numbers - first] = np.arange(len(numbers))
    inside = (block >= first) & (block <= int(numbers[-1]))
    position = np.where(inside, lookup[np.clip(block - first, 0, len(lookup) - 1)], -1)
    keep = position >= 0
    if not keep.all():
        position, key, bucket, weights = position[keep], key[keep], bucket[keep], weights[keep]
    if not len(key):
        return
    low = int(bucket.min())
    width = int(bucket.max()) - low + 1
    cells = (position * len(names) + key) * width + (bucket - low)
    size = len(numbers) * len(names) * width
    if size <= max(DENSE_CELLS, 4 * len(cells)):
        dense = np.bincount(cells, weights=weights, minlength=size)
        unique = np.flatnonzero(dense)
        counts = dense[unique]
    else:
        unique, where = np.unique(cells, return_inverse=True)
        counts = np.bincount(where.ravel(), weights=weights, minlength=len(unique))
    counts_list = counts.astype(np.int64).tolist()
    owner = unique // width
    buckets = (unique % width + low).tolist()
    starts = np.flatnonzero(np.concatenate([[True], np.diff(owner) != 0])).tolist()
    for begin, end, cell in zip(
        starts, [*starts[1:], len(unique)], owner[starts].tolist(), strict=True
    ):
        blocks[cell // len(names)].stages[names[cell % len(names)]] = dict(
            zip(buckets[begin:end], counts_list[begin:end], strict=True)
        )


def _run_requests(summaries: Sequence[Summary]) -> dict[str, SparseHistogram]:
    """The request histograms of a run's files, added up (keys and buckets sorted)."""
    import numpy as np

    keys = sorted({key for summary in summaries for key in summary.request_keys})
    index = {key: i for i, key in enumerate(keys)}
    parts = [
        (
            np.array([index[key] for key in summary.request_keys], dtype=np.int64)[
                summary.request_histograms.key
            ],
            summary.request_histograms,
        )
        for summary in summaries
        if len(summary.request_histograms)
    ]
    if not parts:
        return {}
    key = np.concatenate([mapped for mapped, _ in parts])
    bucket = np.concatenate([histograms.bucket for _, histograms in parts])
    count = np.concatenate([histograms.count for _, histograms in parts])
    cells, where = np.unique(key * (MAX_BUCKET_INDEX + 1) + bucket, return_inverse=True)
    totals = np.bincount(where.ravel(), weights=count.astype(np.float64), minlength=len(cells))
    owner = (cells // (MAX_BUCKET_INDEX + 1)).tolist()
    requests: dict[str, SparseHistogram] = {}
    for name, bucket_index, total in zip(
        owner,
        (cells % (MAX_BUCKET_INDEX + 1)).tolist(),
        totals.astype(np.int64).tolist(),
        strict=True,
    ):
        requests.setdefault(keys[name], {})[bucket_index] = total
    return requests


def _median_ms(counts: Mapping[int, int]) -> float | None:
    """The median (polars' rule: the mean of the two middle values) of values given as
    value -> count, in ms; None when empty."""
    total = sum(counts.values())
    if total == 0:
        return None
    wanted = [(total - 1) // 2, total // 2]
    found: list[int] = []
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        while len(found) < 2 and wanted[len(found)] < seen:
            found.append(value)
    return (found[0] + found[1]) / 2 / 1e6
