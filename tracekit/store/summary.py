"""Per-file summaries: what a golden file holds, small, mergeable and versioned.

The golden writer stores one in each file's key-value metadata
(:data:`~tracekit.store.schema.META_SUMMARY`), ``tracekit compact`` stores the
merge of its inputs' summaries, and ``tracekit profile``, ``compare`` and
``analyze --fast`` read footers only (``docs/schema.md``, "Summaries").

A summary holds, for the ticks of one run in one file:

* per *chunk* of :data:`CHUNK_TICKS` consecutive tick ids (chunk ``k`` holds tick ids
  ``k * CHUNK_TICKS + 1`` to ``(k + 1) * CHUNK_TICKS``): ticks, deadline misses,
  exchange requests, and the log-bucket histogram of every stage's sampled durations
  and of ``tick_total`` (every tick) -- the blocks of a profile are unions of
  chunks;
* per exchange request key (``"VERB api"``, sampled rows) a histogram; per
  deadline: ticks, misses, misses with detail; guard trips per reason; the tick id
  and time range; the sample rate.

Everything is computed with ``pyarrow.compute`` and numpy on a finished table (the
writer thread calls :func:`summarize` once per window; compute kernels release the
GIL). Summaries of the same run merge exactly (:func:`merge`): counts and sums add,
maxima and minima combine, histograms add bucket by bucket.

The buckets are those of :mod:`tracekit.stats.histogram` (bucket ``i`` holds
durations in ``(GAMMA**(i-1), GAMMA**i]`` ns). The store room may not import the
stats room (``tests/test_layout.py``), so the constant is restated here,
recorded in every summary, and a test checks both rules give the same buckets.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from tracekit.errors import SchemaError
from tracekit.store import schema

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

SUMMARY_FORMAT: Final = "tracekit.summary"
SUMMARY_VERSION: Final = 1
READABLE_VERSIONS: Final = (1,)

SUMMARY_ALPHA: Final = 0.005
"""Must equal :data:`tracekit.stats.histogram.ALPHA` (tested)."""
_LOG_GAMMA: Final = math.log((1 + SUMMARY_ALPHA) / (1 - SUMMARY_ALPHA))

CHUNK_TICKS: Final = 1024
"""Tick ids per chunk (a power of two, so chunks of two sizes nest)."""
MAX_BUCKET_INDEX: Final = 8000
"""As a profile's: bucket indexes beyond this mark a corrupt summary."""


@dataclasses.dataclass
class Histograms:
    """Sparse histograms of several keys and groups as flat arrays (one entry a row).

    Attributes:
        group: The group of each entry (a chunk position, or 0).
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


@dataclasses.dataclass
class Summary:
    """The summary of one run's ticks in one or more files (see the module docstring).

    Attributes:
        run_id: The run (as the rows say; readers use the file's ``run_id=`` folder).
        chunk_ticks: Tick ids per chunk.
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
        stage_histograms: Group = chunk position.
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
    stage_histograms: Histograms
    request_keys: list[str]
    request_histograms: Histograms

    def stage_histogram(self, stage: str) -> dict[int, int]:
        """``stage``'s histogram over the whole summary: bucket -> count."""
        import numpy as np

        if stage not in self.stage_names:
            return {}
        histograms = self.stage_histograms
        chosen = histograms.key == self.stage_names.index(stage)
        buckets, where = np.unique(histograms.bucket[chosen], return_inverse=True)
        counts = np.bincount(where, weights=histograms.count[chosen], minlength=len(buckets))
        return dict(zip(buckets.tolist(), counts.astype(np.int64).tolist(), strict=True))

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


# -- summarize -------------------------------------------------------------------------


def summarize(table: pa.Table, *, chunk_ticks: int = CHUNK_TICKS) -> Summary:
    """The summary of a schema-v1 table holding the rows of one run.

    Args:
        table: The rows (a window, a file, a merged file). The sample rate is read
            from its schema metadata when present.
        chunk_ticks: Tick ids per chunk, a power of two.

    Raises:
        ValueError: ``chunk_ticks`` is not a power of two, or the rows hold several runs.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if chunk_ticks < 1 or chunk_ticks & (chunk_ticks - 1):
        raise ValueError(f"chunk_ticks {chunk_ticks} is not a power of two")
    runs = pc.unique(table["run_id"]).to_pylist()
    if len(runs) > 1:
        raise ValueError(f"a summary holds one run; these rows hold {len(runs)}")
    kind = table["kind"]
    detail = table["detail"]
    duration = table["duration_ns"]
    sampled = pc.equal(detail, schema.DETAIL_SAMPLED)
    is_tick = pc.equal(kind, schema.KIND_TICK)
    timed = pc.is_in(kind, pa.array([schema.KIND_TICK, schema.KIND_STAGE, schema.KIND_REQUEST]))
    bad = pc.and_(timed, pc.or_kleene(pc.is_null(duration), pc.less(duration, 0)))
    bad_durations = int(pc.sum(pc.cast(bad, pa.int64())).as_py() or 0)

    ticks = table.filter(is_tick)
    tick_ids = ticks["tick_id"]
    chunk = pc.divide(pc.subtract(tick_ids, 1), chunk_ticks)
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
        tick_frame.group_by("chunk")
        .aggregate([("missed", "count"), ("missed", "sum"), ("requests", "sum")])
        .sort_by("chunk")
    )
    chunks = by_chunk["chunk"].to_numpy().astype(np.int64)
    chunk_counts = np.stack(
        [
            by_chunk["missed_count"].to_numpy(),
            by_chunk["missed_sum"].to_numpy(),
            by_chunk["requests_sum"].to_numpy(),
        ],
        axis=1,
    ).astype(np.int64)
    deadline_rows = tick_frame.group_by("deadline").aggregate(
        [("missed", "count"), ("missed", "sum"), ("explained", "sum")]
    )
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

    # Stage histograms per chunk: sampled stage rows, and every tick as tick_total.
    stage_rows = table.filter(pc.and_(pc.equal(kind, schema.KIND_STAGE), sampled))
    stage_names, stage_histograms = _histograms(
        pa.concat_arrays(
            [
                _flat(pc.divide(pc.subtract(stage_rows["tick_id"], 1), chunk_ticks), pa.int64()),
                _flat(chunk, pa.int64()),
            ]
        ),
        pa.concat_arrays(
            [
                _flat(stage_rows["name"], pa.string()),
                pa.array([schema.TICK_TOTAL] * ticks.num_rows, type=pa.string()),
            ]
        ),
        pa.concat_arrays(
            [_flat(stage_rows["duration_ns"], pa.int64()), _flat(ticks["duration_ns"], pa.int64())]
        ),
    )
    # The positions of the histograms' chunks among `chunks` (a stage row's tick is a
    # tick of this table, so its chunk is there).
    stage_histograms.group = np.searchsorted(chunks, stage_histograms.group).astype(np.int64)

    request_rows = table.filter(pc.and_(pc.equal(kind, schema.KIND_REQUEST), sampled))
    request_keys, request_histograms = _histograms(
        pa.array(np.zeros(request_rows.num_rows, dtype=np.int64)),
        _flat(
            pc.binary_join_element_wise(
                pc.fill_null(pc.cast(request_rows["verb"], pa.string()), ""),
                pc.cast(request_rows["name"], pa.string()),
                " ",
            ),
            pa.string(),
        ),
        _flat(request_rows["duration_ns"], pa.int64()),
    )

    guard_rows = table.filter(pc.equal(kind, schema.KIND_GUARD))
    guard_counts = pc.value_counts(_flat(guard_rows["name"], pa.string()))
    guards = {str(item["values"]): int(item["counts"]) for item in guard_counts.to_pylist() if item}
    starts = table["start_unix_ns"]
    ends = pc.add(starts, pc.fill_null(duration, 0))
    metadata = table.schema.metadata or {}
    rate = metadata.get(schema.META_SAMPLE_RATE.encode())
    return Summary(
        run_id=str(runs[0]) if runs else "",
        chunk_ticks=chunk_ticks,
        ticks=ticks.num_rows,
        first_tick_id=int(pc.min(tick_ids).as_py() or 0),
        last_tick_id=int(pc.max(tick_ids).as_py() or 0),
        start_unix_ns=int(pc.min(starts).as_py() or 0),
        end_unix_ns=int(pc.max(ends).as_py() or 0),
        sample_rate=float(rate) if rate is not None else None,
        bad_durations=bad_durations,
        deadlines=deadlines,
        guards=dict(sorted(guards.items())),
        chunks=chunks,
        chunk_counts=chunk_counts,
        stage_names=stage_names,
        stage_histograms=stage_histograms,
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
    groups: pa.Array, names: pa.Array, durations: pa.Array
) -> tuple[list[str], Histograms]:
    """Counts per (group, name, bucket), names as indexes into the returned list."""
    import numpy as np
    import pyarrow as pa

    frame = pa.table(
        {"group": groups, "name": names, "bucket": bucket_array(durations)}
    ).drop_null()
    counted = frame.group_by(["group", "name", "bucket"]).aggregate([([], "count_all")])
    encoded = counted["name"].combine_chunks().dictionary_encode()
    keys = [str(name) for name in encoded.dictionary.to_pylist()]
    order = np.argsort(np.array(keys, dtype=object), kind="stable")
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys))
    histograms = Histograms(
        counted["group"].to_numpy().astype(np.int64),
        rank[encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)]
        if len(keys)
        else np.zeros(0, dtype=np.int64),
        counted["bucket"].to_numpy().astype(np.int64),
        counted["count_all"].to_numpy().astype(np.int64),
    )
    return sorted(keys), _combined(histograms)


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

    Chunks of different sizes (powers of two) merge into the largest size.

    Raises:
        ValueError: No summary, or summaries of different runs.
    """
    import numpy as np

    if not summaries:
        raise ValueError("merge needs at least one summary")
    runs = {summary.run_id for summary in summaries}
    if len(runs) > 1:
        raise ValueError(f"summaries of different runs cannot merge: {sorted(runs)[:3]}")
    size = max(summary.chunk_ticks for summary in summaries)
    scaled = [(summary, summary.chunks * summary.chunk_ticks // size) for summary in summaries]
    chunks = np.unique(np.concatenate([indexes for _, indexes in scaled]))
    chunk_counts = np.zeros((len(chunks), 3), dtype=np.int64)
    for summary, indexes in scaled:
        np.add.at(chunk_counts, np.searchsorted(chunks, indexes), summary.chunk_counts)

    def histograms(kind: str, label: str, position: Any) -> tuple[list[str], Histograms]:
        names = sorted({name for s in summaries for name in getattr(s, label)})
        parts = []
        for index, summary in enumerate(summaries):
            own: Histograms = getattr(summary, f"{kind}_histograms")
            mapping = np.array(
                [names.index(name) for name in getattr(summary, label)],
                dtype=np.int64,
            )
            parts.append(
                Histograms(
                    position(index, own.group),
                    mapping[own.key] if len(own) else own.key,
                    own.bucket,
                    own.count,
                )
            )
        return names, _combined(
            Histograms(*(np.concatenate([getattr(part, f) for part in parts]) for f in _FIELDS))
        )

    stage_names, stage_histograms = histograms(
        "stage",
        "stage_names",
        lambda i, group: np.searchsorted(chunks, scaled[i][1][group]).astype(np.int64),
    )
    request_keys, request_histograms = histograms("request", "request_keys", lambda i, group: group)
    deadlines: dict[int, list[int]] = {}
    guards: dict[str, int] = {}
    for summary in summaries:
        for deadline, counts in summary.deadlines.items():
            total = deadlines.setdefault(deadline, [0, 0, 0])
            for j, count in enumerate(counts):
                total[j] += count
        for reason, trips in summary.guards.items():
            guards[reason] = guards.get(reason, 0) + trips
    with_ticks = [summary for summary in summaries if summary.ticks]
    timed = [summary for summary in summaries if summary.end_unix_ns]
    rates = {summary.sample_rate for summary in summaries}
    return Summary(
        run_id=summaries[0].run_id,
        chunk_ticks=size,
        ticks=sum(summary.ticks for summary in summaries),
        first_tick_id=min((s.first_tick_id for s in with_ticks), default=0),
        last_tick_id=max((s.last_tick_id for s in with_ticks), default=0),
        start_unix_ns=min((s.start_unix_ns for s in timed), default=0),
        end_unix_ns=max((s.end_unix_ns for s in timed), default=0),
        sample_rate=rates.pop() if len(rates) == 1 else None,
        bad_durations=sum(summary.bad_durations for summary in summaries),
        deadlines=dict(sorted(deadlines.items())),
        guards=dict(sorted(guards.items())),
        chunks=chunks.astype(np.int64),
        chunk_counts=chunk_counts,
        stage_names=stage_names,
        stage_histograms=stage_histograms,
        request_keys=request_keys,
        request_histograms=request_histograms,
    )


_FIELDS: Final = ("group", "key", "bucket", "count")


# -- the stored form -------------------------------------------------------------------


def encode(summary: Summary) -> str:
    """The summary as the JSON text stored under ``tracekit.summary``.

    Counts and scalars are JSON; the chunk table and the histograms are
    little-endian int64 arrays, zlib-compressed and base64-encoded (a long run's
    histograms would be megabytes as JSON numbers, and slow to parse).
    """
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
            "stage_histograms": _pack([getattr(summary.stage_histograms, f) for f in _FIELDS]),
            "request_histograms": _pack([getattr(summary.request_histograms, f) for f in _FIELDS]),
        },
        separators=(",", ":"),
        allow_nan=False,
    )


def _pack(columns: Sequence[npt.NDArray[np.int64]]) -> dict[str, Any]:
    import numpy as np

    raw = np.concatenate([np.asarray(c, dtype="<i8") for c in columns]).tobytes()
    return {"n": len(columns[0]), "data": base64.b64encode(zlib.compress(raw, 6)).decode()}


def _unpack(value: Any, width: int, where: str) -> list[npt.NDArray[np.int64]]:
    import numpy as np

    if not isinstance(value, dict) or not isinstance(value.get("n"), int):
        raise SchemaError(f"{where}: a packed array of the summary is not {{n, data}}")
    n = value["n"]
    try:
        raw = zlib.decompress(base64.b64decode(value["data"], validate=True))
    except (ValueError, TypeError, KeyError, zlib.error) as exc:
        raise SchemaError(
            f"{where}: the summary's packed data is damaged ({type(exc).__name__})"
        ) from None
    if n < 0 or len(raw) != 8 * n * width:
        raise SchemaError(
            f"{where}: the summary's packed data holds {len(raw)} bytes, not {8 * n * width}"
        )
    flat = np.frombuffer(raw, dtype="<i8").astype(np.int64)
    return [flat[i * n : (i + 1) * n] for i in range(width)]


def decode(text: str, where: str) -> Summary:
    """Read and check a stored summary.

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
    if document.get("version") not in READABLE_VERSIONS:
        raise SchemaError(
            f"{where}: summary version {str(document.get('version'))[:20]} is not read by "
            "this tracekit"
        )
    if document.get("histogram") != {"kind": "log", "alpha": SUMMARY_ALPHA, "unit": "ns"}:
        raise SchemaError(f"{where}: the summary's histograms use other buckets")
    try:
        chunks, ticks, misses, requests = _unpack(document["chunks"], 4, where)
        stage = Histograms(*_unpack(document["stage_histograms"], 4, where))
        request = Histograms(*_unpack(document["request_histograms"], 4, where))
        summary = Summary(
            run_id=str(document["run_id"]),
            chunk_ticks=_count(document["chunk_ticks"], where),
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
            stage_names=[str(name) for name in document["stage_names"]],
            stage_histograms=stage,
            request_keys=[str(key) for key in document["request_keys"]],
            request_histograms=request,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SchemaError(
            f"{where}: the summary is incomplete ({type(exc).__name__}: {str(exc)[:60]})"
        ) from None
    _check(summary, where)
    return summary


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SchemaError(f"{where}: the summary holds {str(value)[:20]!r}, not a count")
    return value


def _check(summary: Summary, where: str) -> None:
    """Refuse a summary whose parts disagree (damaged, or not written by tracekit)."""
    import numpy as np

    size = summary.chunk_ticks
    problems = []
    if size < 1 or size & (size - 1):
        problems.append(f"chunk_ticks {size} is not a power of two")
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
    for name, histograms, keys, groups in (
        ("stage", summary.stage_histograms, summary.stage_names, len(summary.chunks)),
        ("request", summary.request_histograms, summary.request_keys, 1),
    ):
        if len(histograms) and (
            (histograms.count <= 0).any()
            or (histograms.bucket < 0).any()
            or (histograms.bucket > MAX_BUCKET_INDEX).any()
            or (histograms.key < 0).any()
            or (histograms.key >= len(keys)).any()
            or (histograms.group < 0).any()
            or (histograms.group >= groups).any()
        ):
            problems.append(f"its {name} histograms are out of range")
    if (
        summary.ticks
        and summary.stage_histogram(schema.TICK_TOTAL)
        and sum(summary.stage_histogram(schema.TICK_TOTAL).values()) != summary.ticks
    ):
        problems.append("its tick_total histogram does not count every tick")
    if problems:
        raise SchemaError(f"{where}: the summary is inconsistent ({'; '.join(problems)})")


def with_summary(table: pa.Table) -> pa.Table:
    """``table`` with its summary in the schema's key-value metadata."""
    metadata = dict(table.schema.metadata or {})
    metadata[schema.META_SUMMARY.encode()] = encode(summarize(table)).encode()
    return table.replace_schema_metadata(metadata)
