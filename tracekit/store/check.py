"""Checking one golden-trace file from its Parquet footer, before any data is read.

The footer says everything a reader needs to refuse a file early and by name: its
schema and metadata, its row count and sizes (so a few kilobytes that would
decompress to gigabytes are refused before any page is read: :data:`MAX_FILE_ROWS`,
:data:`MAX_UNCOMPRESSED_BYTES`), and per row group the null count of every column
(so a null in a column the schema says is never null is refused too).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Callable
from typing import Any, Final

from tracekit.errors import InputError, SchemaError
from tracekit.store import schema
from tracekit.store.location import open_input

SUPPORTED_SCHEMA_VERSIONS = frozenset({schema.SCHEMA_VERSION})

MAX_FILE_ROWS: Final = 50_000_000
"""Rows one golden file may hold (a compacted file holds about 1,000,000)."""
MAX_UNCOMPRESSED_BYTES: Final = 4 * 2**30
"""Bytes one golden file's pages may decompress to, as its footer declares them."""
MAX_SHOWN: Final = 60
"""Characters of a value from the file shown in an error message."""

TAIL_BYTES: Final = 64 * 2**10
"""Bytes read at once from the end of a file (or an object on a store) for its
footer: a golden file's (about 5 KiB) and its 8-byte trailer; a larger footer takes
one more read."""

_SKIP_HINT = "remove it or pass `skip_bad=True`"
_DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII digits only: str.isdigit() accepts '²'


@dataclasses.dataclass(frozen=True)
class Footer:
    """What the footer of a golden file says, once checked.

    Attributes:
        metadata: The ``tracekit.*`` key-value metadata.
        num_rows: Rows in the file.
        uncompressed_bytes: Bytes its pages decompress to.
    """

    metadata: dict[str, str]
    num_rows: int
    uncompressed_bytes: int


def shown(value: str) -> str:
    """A value read from a file, quoted and cut to :data:`MAX_SHOWN` characters."""
    cut = value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN] + "…"
    return repr(cut)


def check_file(path: str) -> dict[str, str]:
    """Read a file's footer and return its tracekit metadata (see :func:`check_footer`)."""
    return check_footer(path).metadata


def check_footer(path: str) -> Footer:
    """Read and check a file's footer: schema, metadata, sizes and null counts.

    Only a regular file (or an ``s3://`` object) is opened. Nothing but the footer
    is read, except the non-nullable columns of a row group whose footer lacks null
    counts.

    Raises:
        InputError: The file is not a regular file, not Parquet, truncated, or too
            large to read safely.
        SchemaError: It is Parquet but not a golden trace of a supported version,
            or a column the schema says is never null holds a null.
    """
    with open_input(path, "golden-trace file", _SKIP_HINT) as file:
        footer, pairs, columns = _read_footer(path, file)
        checked = _check(path, footer, pairs, columns)
        _check_nulls(path, footer, file)
    return checked


def _read_footer(path: str, file: Any) -> tuple[Any, dict[bytes, bytes], _Columns]:
    """The footer (``FileMetaData``), its key-value metadata (built once: pyarrow
    builds the mapping anew at each read of ``metadata``) and what its Arrow schema
    says of the columns."""
    import pyarrow.parquet as pq

    try:
        footer = _footer_from_tail(file)
        if footer is None:  # pyarrow's own reader, then the same look at the trailer
            footer = pq.read_metadata(file)
            size, read_at = _positioned_reads(file)
            _refuse_bytes_after_metadata(footer, int.from_bytes(read_at(8, size - 8)[:4], "little"))
        pairs = footer.metadata or {}
        stored = pairs.get(b"ARROW:schema")
        if stored is not None:  # the Arrow types the writer meant, as pq.read_schema reads
            columns = _stored_columns(stored)
        else:
            columns = _columns(footer.schema.to_arrow_schema())
    except Exception as exc:  # any failure to parse a footer means the same: unreadable
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InputError(
            f"{path}: not a readable Parquet file ({detail}); "
            f"it may be truncated or not a golden trace: {_SKIP_HINT}"
        ) from None
    return footer, pairs, columns


def _footer_from_tail(file: Any) -> Any:
    """A file's footer, read with one positioned read of its tail (two for a footer
    over :data:`TAIL_BYTES`) and parsed from memory; None for anything unusual,
    which ``pq.read_metadata`` then reads from the file and judges (its verdict and
    message are the answer).

    A local file is read with ``os.pread``: ``pq.read_metadata`` on a Python file
    object reads it through Python's I/O, in several calls, and from memory a small
    file's check takes about a sixth less (``docs/benchmarks.md``, analyze round
    10). An object on a store is read with pyarrow's ``read_at``: one request, as
    pyarrow's own footer read makes. None comes back for a file under 12 bytes, no
    ``PAR1`` trailer, a footer length past the file's start, a short read (the file
    changed), a failed read and a footer pyarrow cannot parse.

    Raises:
        ValueError: The footer's length covers more than its metadata
            (:func:`_refuse_bytes_after_metadata`).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        size, read_at = _positioned_reads(file)
        if size < 12:
            return None
        wanted = min(size, TAIL_BYTES)
        tail = read_at(wanted, size - wanted)
        if len(tail) != wanted or tail[-4:] != b"PAR1":
            return None
        length = int.from_bytes(tail[-8:-4], "little")
        if length <= 0 or length + 12 > size:
            return None
        if length + 8 > wanted:
            tail = read_at(length + 8, size - 8 - length)
            if len(tail) != length + 8:
                return None
        footer = pq.read_metadata(pa.BufferReader(tail))
    except Exception:  # read again from the file, which names the problem
        return None
    _refuse_bytes_after_metadata(footer, length)
    return footer


def _refuse_bytes_after_metadata(footer: Any, length: int) -> None:
    """Refuse a footer whose length (the trailer's) covers more than its metadata.

    Those bytes are the signature of an encrypted file whose footer is left in
    plain text: its column metadata is encrypted, and pyarrow aborts the process
    (an uncaught C++ exception) when it is asked for it, so this is looked at
    before any column is. No writer tried pads a footer (pyarrow, polars, DuckDB,
    Spark: ``docs/benchmarks.md``, analyze round 10).

    Raises:
        ValueError: There are such bytes (``_read_footer`` names the file).
    """
    if footer.serialized_size != length:
        raise ValueError(
            f"{length - footer.serialized_size:,} bytes follow the footer's metadata: "
            "an encrypted Parquet file, or one no Parquet writer tracekit knows wrote"
        )


def _positioned_reads(file: Any) -> tuple[int, Callable[[int, int], bytes]]:
    """The size of an open file (local, or pyarrow's for an object on a store) and a
    function reading ``count`` bytes at an offset, without moving its position."""
    try:
        descriptor = file.fileno()
    except OSError:  # pyarrow's files have no descriptor (io.UnsupportedOperation)
        return int(file.size()), lambda count, offset: bytes(file.read_at(count, offset))
    size = os.fstat(descriptor).st_size
    return size, lambda count, offset: os.pread(descriptor, count, offset)


@dataclasses.dataclass(frozen=True)
class _Columns:
    """What a file's Arrow schema says against schema v1 and its added columns."""

    missing: tuple[str, ...]
    repeated: bool
    wrong: tuple[str, ...]


def _stored_columns(stored: bytes) -> _Columns:
    """:func:`_columns` of a serialized Arrow schema."""
    import base64

    import pyarrow as pa

    return _columns(pa.ipc.read_schema(pa.py_buffer(base64.b64decode(stored))))


RECENT_SCHEMAS: Final = 8
"""Distinct schemas whose comparison :func:`_columns` keeps (a run's files share one)."""
_recent: tuple[tuple[Any, _Columns], ...] = ()


def _columns(arrow_schema: Any) -> _Columns:
    """What the columns of a schema say, compared once for the files that share them.

    The files of one writer share their columns, not their key-value metadata
    (window, ticks), so a schema is looked up among the :data:`RECENT_SCHEMAS` last
    compared by ``Schema.equals``, which ignores metadata (a few microseconds; a
    hash of the schema took 8: ``docs/benchmarks.md``, analyze rounds 6 and 10).
    """
    global _recent
    recent = _recent  # one read: another thread may replace it meanwhile
    for known, columns in recent:
        if known.equals(arrow_schema):
            return columns
    columns = _compared(arrow_schema)
    _recent = ((arrow_schema.remove_metadata(), columns), *recent[: RECENT_SCHEMAS - 1])
    return columns


def _compared(arrow_schema: Any) -> _Columns:
    """What the columns of a schema say against schema v1 and its added columns."""
    names = arrow_schema.names
    repeated = len(set(names)) != len(names)
    # The added columns a file has (files written before them lack them) are checked
    # too: readers take their types from the schema, whichever file comes first. A
    # repeated name has no one type (and is refused as repeated).
    wrong = (
        ()
        if repeated
        else tuple(
            f"{field.name} is {arrow_schema.field(field.name).type}, not {field.type}"
            for field in _expected_schema()
            if field.name in names and not arrow_schema.field(field.name).type.equals(field.type)
        )
    )
    return _Columns(
        missing=tuple(name for name in schema.COLUMN_NAMES if name not in names),
        repeated=repeated,
        wrong=wrong,
    )


def _check(path: str, footer: Any, pairs: dict[bytes, bytes], columns: _Columns) -> Footer:
    metadata: dict[str, str] = {}
    for key, value in pairs.items():
        if not key.startswith(b"tracekit."):
            continue
        try:
            metadata[key.decode("utf-8")] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise SchemaError(
                f"{path}: the key-value metadata {shown(key.decode('utf-8', 'replace'))} "
                f"is not UTF-8 text; the file was not written by tracekit: {_SKIP_HINT}"
            ) from None
    version = metadata.get(schema.META_SCHEMA_VERSION)
    if version is None:
        raise SchemaError(
            f"{path}: a Parquet file without tracekit metadata, not a golden trace; "
            "remove it from the selection or pass `skip_bad=True`"
        )
    if not _DIGITS.fullmatch(version) or int(version) not in SUPPORTED_SCHEMA_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_SCHEMA_VERSIONS))
        number = version if _DIGITS.fullmatch(version) else shown(version)
        raise SchemaError(
            f"{path}: golden-trace schema version {number} is not supported "
            f"(this tracekit reads version {supported}); upgrade tracekit to read it"
        )
    if columns.missing:
        raise SchemaError(
            f"{path}: schema version {version} file lacks column(s) "
            f"{', '.join(columns.missing)}; the file was not written by tracekit's tracer"
        )
    if columns.repeated:
        raise SchemaError(
            f"{path}: a column name appears twice; "
            f"the file was not written by tracekit's tracer: {_SKIP_HINT}"
        )
    if columns.wrong:
        raise SchemaError(
            f"{path}: column types differ from schema v1 ({'; '.join(columns.wrong)}); "
            f"the file was not written by tracekit's tracer: {_SKIP_HINT}"
        )
    uncompressed = sum(
        footer.row_group(index).total_byte_size for index in range(footer.num_row_groups)
    )
    declared_rows = sum(footer.row_group(index).num_rows for index in range(footer.num_row_groups))
    if declared_rows != footer.num_rows or footer.num_rows < 0:
        raise InputError(
            f"{path}: the footer's row counts disagree ({footer.num_rows} rows, row groups "
            f"hold {declared_rows}); the file is corrupt: {_SKIP_HINT}"
        )
    if footer.num_rows > MAX_FILE_ROWS or uncompressed > MAX_UNCOMPRESSED_BYTES:
        raise InputError(
            f"{path}: the file declares {footer.num_rows:,} rows and {uncompressed:,} bytes "
            f"uncompressed, more than one golden file may hold ({MAX_FILE_ROWS:,} rows, "
            f"{MAX_UNCOMPRESSED_BYTES:,} bytes); it is not a golden trace: {_SKIP_HINT}"
        )
    return Footer(metadata, int(footer.num_rows), int(uncompressed))


NON_NULLABLE: Final = tuple(column.name for column in schema.COLUMNS if not column.nullable)
"""Columns that schema v1 says are never null."""


def _check_nulls(path: str, footer: Any, file: Any) -> None:
    """Refuse a null in a non-nullable column, from the footer's null counts.

    A row group whose footer has no null count for such a column (a writer may leave
    statistics out) has that column read and counted instead.
    """
    if footer.num_row_groups == 0:
        return
    leaves = _leaves(path, footer)
    for group in range(footer.num_row_groups):
        row_group = footer.row_group(group)
        unknown: list[str] = []
        for name in NON_NULLABLE:
            statistics = row_group.column(leaves[name]).statistics
            if statistics is None or not statistics.has_null_count:
                unknown.append(name)
            elif statistics.null_count > 0:
                _null_error(path, name)
        if unknown:
            try:
                import pyarrow.parquet as pq

                table = pq.ParquetFile(file).read_row_group(group, columns=unknown)
            except Exception as exc:  # a corrupt page: the same answer as a corrupt footer
                detail = " ".join(str(exc).split())[:200] or type(exc).__name__
                raise InputError(
                    f"{path}: the data cannot be read ({detail}); the file is corrupt: {_SKIP_HINT}"
                ) from None
            for name in unknown:
                if table.column(name).null_count > 0:
                    _null_error(path, name)


_recent_leaves: tuple[Any, dict[str, int]] | None = None


def _leaves(path: str, footer: Any) -> dict[str, int]:
    """The leaf column of each of :data:`NON_NULLABLE` in a footer (the last leaf of
    that name): the last file's when its Parquet schema is the same (compared in
    C++: the files of one writer share it), else found anew.

    Raises:
        SchemaError: The Parquet schema lacks one of them (its Arrow schema, which
            the column check read, named it).
    """
    global _recent_leaves
    known = _recent_leaves  # one read: another thread may replace it meanwhile
    if known is not None and footer.schema.equals(known[0]):
        return known[1]
    every = {footer.schema.column(index).path: index for index in range(footer.num_columns)}
    absent = [name for name in NON_NULLABLE if name not in every]
    if absent:
        raise SchemaError(
            f"{path}: the Parquet schema lacks column(s) {', '.join(absent)} that its Arrow "
            f"schema names; the file was not written by tracekit: {_SKIP_HINT}"
        )
    leaves = {name: every[name] for name in NON_NULLABLE}
    _recent_leaves = (footer.schema, leaves)
    return leaves


def _null_error(path: str, column: str) -> None:
    raise SchemaError(
        f"{path}: column {column} holds a null, which schema v1 does not allow; the file "
        f"is corrupt or was not written by tracekit: {_SKIP_HINT}"
    )


@functools.cache
def _expected_schema() -> Any:
    """Schema v1 and its added columns as pyarrow, built once (the footer check runs
    once per file)."""
    return schema.arrow_schema(added=True)
