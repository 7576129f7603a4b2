"""Golden-trace schema v1, defined once here and documented in ``docs/schema.md``.

One row per record. A record is a tick, a stage span, an exchange request or a
guard trip (column ``kind``). Columns that do not apply to a kind are null.

This module imports nothing heavy: the tracer uses the column order and the
constants, and only :func:`arrow_schema` (called by the background writer and the
readers) imports pyarrow.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final, NamedTuple

if TYPE_CHECKING:
    import pyarrow as pa

SCHEMA_VERSION: Final = 1

# Record kinds (column ``kind``).
KIND_TICK: Final = "tick"
KIND_STAGE: Final = "stage"
KIND_REQUEST: Final = "request"
KIND_GUARD: Final = "guard"
KINDS: Final = (KIND_TICK, KIND_STAGE, KIND_REQUEST, KIND_GUARD)

# Span status (column ``status``).
STATUS_OK: Final = "ok"
STATUS_ERROR: Final = "error"

# Why a tick's stage and request detail is in the file (column ``detail``).
DETAIL_SAMPLED: Final = "sampled"
"""Chosen by the random sampling decision before the tick ran: an unbiased sample."""
DETAIL_DEADLINE_MISS: Final = "deadline_miss"
"""Not sampled, kept because the tick missed its deadline: biased towards slow ticks."""
DETAIL_NONE: Final = "none"
"""Not kept: only the tick row and its guard-trip rows are in the file."""

TICK_TOTAL: Final = "tick_total"
"""The ``name`` of tick rows, and the stage name analysis uses for whole ticks."""

STAGE_ORDER: Final = ("fetch_md", "spread", "guards", "emit", TICK_TOTAL)
"""Known stages in tick order; custom stages follow, alphabetically, before tick_total."""

# Parquet key-value metadata keys.
META_SCHEMA_VERSION: Final = "tracekit.schema_version"
META_TRACEKIT_VERSION: Final = "tracekit.version"
META_RUN_ID: Final = "tracekit.run_id"
META_HOST: Final = "tracekit.host"
META_PID: Final = "tracekit.pid"
META_CONFIG: Final = "tracekit.config"
META_SAMPLE_RATE: Final = "tracekit.sample_rate"
META_SAMPLE_SEED: Final = "tracekit.sample_seed"
META_WINDOW: Final = "tracekit.window"
META_TICKS: Final = "tracekit.ticks"
META_LAST_TICK: Final = "tracekit.last_tick_id"
META_SUMMARY: Final = "tracekit.summary"
"""The file's summary (:mod:`tracekit.store.summary`); files written before lack it."""

PARTITION_KEY: Final = "run_id"
"""Golden files live under ``<output_dir>/run_id=<run id>/`` (Hive-style partitions)."""

# Golden file names inside a run folder: one per window, or one per compacted range.
GOLDEN_FILE_GLOB: Final = "golden-*.parquet"
"""Matches both kinds of golden file name (a first filter; the patterns decide)."""
WINDOW_FILE: Final = re.compile(r"^golden-(\d+)\.parquet$")
"""``golden-<window>.parquet``: one window of ticks, numbered from 1 within a run."""
COMPACTED_FILE: Final = re.compile(r"^golden-(\d+)-(\d+)\.parquet$")
"""``golden-<first>-<last>.parquet``: windows first to last merged by ``tracekit compact``."""


def window_file_name(window: int) -> str:
    """The file name of window number ``window`` (numbered from 1 within a run)."""
    return f"golden-{window:06d}.parquet"


def compacted_file_name(first: int, last: int) -> str:
    """The file name of windows ``first`` to ``last`` merged into one file."""
    return f"golden-{first:06d}-{last:06d}.parquet"


def file_windows(name: str) -> tuple[int, int] | None:
    """The first and last window a golden file name holds; None for another name."""
    window = WINDOW_FILE.match(name)
    if window:
        return int(window[1]), int(window[1])
    compacted = COMPACTED_FILE.match(name)
    if compacted:
        return int(compacted[1]), int(compacted[2])
    return None


class Column(NamedTuple):
    """One column of the schema."""

    name: str
    arrow_type: str
    nullable: bool
    description: str


COLUMNS: Final[tuple[Column, ...]] = (
    Column("run_id", "string", False, "Run the record belongs to (also the partition folder)."),
    Column("tick_id", "int64", False, "Tick number within the run, from 1."),
    Column("kind", "string", False, "Record kind: tick, stage, request or guard."),
    Column(
        "name",
        "string",
        False,
        "tick: 'tick_total'; stage: stage name; request: API name; guard: trip reason.",
    ),
    Column("symbol", "string", True, "Symbol the record is about; null for tick-wide records."),
    Column("verb", "string", True, "request: HTTP-style verb (GET, POST, DELETE, ...)."),
    Column("status", "string", False, "'ok', or 'error' when the span's body raised."),
    Column("error_type", "string", True, "Exception class name when status is 'error'."),
    Column(
        "start_unix_ns",
        "int64",
        False,
        "Start, wall-clock ns since the Unix epoch (monotonic clock anchored once per run).",
    ),
    Column("duration_ns", "int64", True, "Duration in ns; null for guard trips (instants)."),
    Column("deadline_ns", "int64", True, "tick: the deadline in ns that applied."),
    Column("deadline_missed", "bool", True, "tick: duration_ns > deadline_ns."),
    Column("parallel_symbols", "int32", True, "tick: symbols processed concurrently, if set."),
    Column("guard_trips", "int32", True, "tick: guard trips during the tick."),
    Column("request_count", "int32", True, "tick: exchange requests during the tick."),
    Column(
        "detail",
        "string",
        False,
        "Why the tick's stage/request rows are present: sampled, deadline_miss or none.",
    ),
)

COLUMN_NAMES: Final = tuple(column.name for column in COLUMNS)

ADDED_COLUMNS: Final[tuple[Column, ...]] = (
    Column(
        "attributes",
        "string",
        True,
        "stage/request: the span's attributes as a JSON object (sorted keys); else null.",
    ),
    Column(
        "span_id",
        "int32",
        True,
        "stage/request: the span's number within its tick, from 1, with record_parents; else null.",
    ),
    Column(
        "parent_span_id",
        "int32",
        True,
        "stage/request: span_id of the span it ran inside; null inside the tick itself "
        "or without record_parents.",
    ),
)
"""Nullable columns added at the end after version 1 was defined (``docs/schema.md``,
"Versioning"): the tracer writes them, files written before lack them, and readers
need not read them."""

SPAN_ID: Final = "span_id"
PARENT_SPAN_ID: Final = "parent_span_id"
NESTING_COLUMNS: Final = (SPAN_ID, PARENT_SPAN_ID)
"""The added columns that say which span ran inside which (``record_parents``)."""

DICTIONARY_COLUMNS: Final = tuple(
    column.name for column in COLUMNS if column.arrow_type == "string"
)
"""String columns, dictionary-encoded in the Parquet files."""


def arrow_schema(metadata: dict[str, str] | None = None, *, added: bool = False) -> pa.Schema:
    """The schema as a pyarrow schema, optionally with key-value metadata.

    Args:
        metadata: Key-value metadata of the schema.
        added: Include :data:`ADDED_COLUMNS` (as the tracer writes them).
    """
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "int64": pa.int64(),
        "int32": pa.int32(),
        "bool": pa.bool_(),
    }
    fields = [
        pa.field(column.name, types[column.arrow_type], nullable=column.nullable)
        for column in ((*COLUMNS, *ADDED_COLUMNS) if added else COLUMNS)
    ]
    return pa.schema(fields, metadata=metadata)
