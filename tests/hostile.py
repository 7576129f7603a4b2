"""A small corpus of hostile inputs, generated on demand (nothing binary is committed).

Each builder writes one bad (or awkward but valid) golden-trace file from a small,
well-formed window, so a test can say exactly what is wrong with it. The fuzz tests
(``tests/test_fuzz.py``) start from the same window and mutate its bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tracekit.store import schema
from tracekit.store.parquet import write_parquet

ROWS = 40
"""Rows of the base window: 10 ticks of a tick row and three stage rows each."""


def base_table(run_id: str = "r", first_tick: int = 1, ticks: int = 10) -> pa.Table:
    """A well-formed golden window: ``ticks`` ticks of 1 tick row and 3 stage rows."""
    rows: list[dict[str, object]] = []
    for tick_id in range(first_tick, first_tick + ticks):
        start = 1_700_000_000_000_000_000 + tick_id * 250_000_000
        rows.append(
            {
                "run_id": run_id,
                "tick_id": tick_id,
                "kind": "tick",
                "name": schema.TICK_TOTAL,
                "status": "ok",
                "start_unix_ns": start,
                "duration_ns": 3_000_000 + tick_id,
                "deadline_ns": 200_000_000,
                "deadline_missed": False,
                "parallel_symbols": 1,
                "guard_trips": 0,
                "request_count": 0,
                "detail": "sampled",
            }
        )
        for offset, stage in enumerate(("fetch_md", "spread", "emit")):
            rows.append(
                {
                    "run_id": run_id,
                    "tick_id": tick_id,
                    "kind": "stage",
                    "name": stage,
                    "symbol": "BTC-USD" if stage == "spread" else None,
                    "status": "ok",
                    "start_unix_ns": start + offset * 1_000_000,
                    "duration_ns": 900_000 + offset,
                    "detail": "sampled",
                }
            )
    metadata = {
        schema.META_SCHEMA_VERSION: str(schema.SCHEMA_VERSION),
        schema.META_TRACEKIT_VERSION: "0.0.0",
        schema.META_RUN_ID: run_id,
        schema.META_HOST: "test",
        schema.META_PID: "0",
        schema.META_CONFIG: "{}",
        schema.META_SAMPLE_RATE: "1.0",
        schema.META_SAMPLE_SEED: "0",
        schema.META_WINDOW: "1",
        schema.META_TICKS: str(ticks),
        schema.META_LAST_TICK: str(first_tick + ticks - 1),
    }
    return pa.Table.from_pylist(rows, schema=schema.arrow_schema(metadata))


def write_window(folder: Path, window: int, table: pa.Table | None = None) -> Path:
    """Write window ``window`` of run ``r`` (ticks of that window) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if table is None:
        table = base_table(first_tick=(window - 1) * 10 + 1)
        metadata = dict(table.schema.metadata or {})
        metadata[schema.META_WINDOW.encode()] = str(window).encode()
        table = table.replace_schema_metadata(metadata)
    path = folder / schema.window_file_name(window)
    write_parquet(table, path)
    return path


def with_metadata(table: pa.Table, **changes: bytes) -> pa.Table:
    """``table`` with some key-value metadata replaced (keys without ``tracekit.``)."""
    metadata = dict(table.schema.metadata or {})
    for key, value in changes.items():
        metadata[f"tracekit.{key}".encode()] = value
    return table.replace_schema_metadata(metadata)


def null_in(column: str) -> pa.Table:
    """The base window with a null in ``column`` (a column schema v1 says is never null)."""
    table = base_table()
    index = table.schema.get_field_index(column)
    values = table.column(column).to_pylist()
    values[1] = None
    field = table.schema.field(index).with_nullable(True)
    return table.set_column(index, field, pa.array(values, type=field.type))


def extra_column() -> pa.Table:
    """The base window with an extra nullable column at the end (schema.md allows it)."""
    table = base_table()
    return table.append_column(pa.field("queue_depth", pa.int64()), pa.nulls(ROWS, pa.int64()))


def named(stage: str) -> pa.Table:
    """The base window with the spread stage renamed to ``stage``."""
    table = base_table()
    index = table.schema.get_field_index("name")
    names = [stage if value == "spread" else value for value in table.column("name").to_pylist()]
    return table.set_column(index, table.schema.field(index), pa.array(names))


def decompression_bomb(path: Path, rows: int = 5000, text_bytes: int = 1_000_000) -> Path:
    """A few KB of Parquet that decodes to ``rows * text_bytes`` bytes (5 GB by default).

    The stage name is one ``text_bytes`` string in the column's dictionary, referenced
    by every row: run-length encoded indices and a zstd dictionary page make it tiny
    on disk, and every reader that turns rows into objects pays the full size.
    """
    base = base_table()
    columns = {
        field.name: (
            pa.DictionaryArray.from_arrays(
                pa.array([0] * rows, pa.int32()), pa.array(["x" * text_bytes])
            )
            if field.name == "name"
            else pa.repeat(base.column(field.name)[1], rows)
        )
        for field in base.schema
    }
    fields = [
        pa.field("name", pa.dictionary(pa.int32(), pa.string())) if field.name == "name" else field
        for field in base.schema
    ]
    bomb_schema = pa.schema(fields)
    metadata = {key.decode(): value.decode() for key, value in (base.schema.metadata or {}).items()}
    # Without the stored Arrow schema, readers see the name column as plain strings.
    with pq.ParquetWriter(path, bomb_schema, compression="zstd", store_schema=False) as writer:
        writer.write_table(pa.table(columns, schema=bomb_schema))
        writer.add_key_value_metadata(metadata)
    return path


def fifo(path: Path) -> Path:
    """A FIFO (named pipe) at ``path``: opening it for reading blocks without a writer."""
    os.mkfifo(path)
    return path


Builder = Callable[[Path], Path]


def corpus() -> dict[str, Builder]:
    """Bad inputs, each written by a builder given the run folder to write it in."""

    def table_file(table: pa.Table) -> Builder:
        return lambda folder: write_window(folder, 1, table)

    def raw(data: bytes) -> Builder:
        def build(folder: Path) -> Path:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / schema.window_file_name(1)
            path.write_bytes(data)
            return path

        return build

    def truncated(folder: Path) -> Path:
        path = write_window(folder, 1)
        path.write_bytes(path.read_bytes()[:-100])
        return path

    def fifo_window(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        return fifo(folder / schema.window_file_name(1))

    cases: dict[str, Builder] = {
        "empty file": raw(b""),
        "not parquet": raw(b"PAR1 this is not a parquet file PAR1"),
        "truncated": truncated,
        "fifo": fifo_window,
        "non-utf8 metadata": table_file(with_metadata(base_table(), run_id=b"\xff\xfe")),
        "version superscript two": table_file(
            with_metadata(base_table(), schema_version="²".encode())
        ),
        "version 30 digits": table_file(with_metadata(base_table(), schema_version=b"9" * 30)),
        "null run_id": table_file(null_in("run_id")),
        "null tick_id": table_file(null_in("tick_id")),
        "null kind": table_file(null_in("kind")),
        "null start": table_file(null_in("start_unix_ns")),
        "decompression bomb": lambda folder: decompression_bomb(
            _mkdir(folder) / schema.window_file_name(1)
        ),
    }
    return cases


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def negative_duration_run(folder: Path) -> Path:
    """Windows 1-3 of run ``r`` in ``folder``, window 2 with a stage of -5 ns; window 2."""
    write_window(folder, 1)
    write_window(folder, 3)
    table = base_table(first_tick=11)
    durations = table.column("duration_ns").to_pylist()
    durations[1] = -5
    index = table.schema.get_field_index("duration_ns")
    table = table.set_column(index, table.schema.field(index), pa.array(durations, pa.int64()))
    return write_window(folder, 2, with_metadata(table, window=b"2"))
