"""Checking one golden-trace file from its Parquet footer, before any data is read."""

from __future__ import annotations

import functools
from typing import Any

from tracekit.errors import InputError, SchemaError
from tracekit.store import schema

SUPPORTED_SCHEMA_VERSIONS = frozenset({schema.SCHEMA_VERSION})


def check_file(path: str) -> dict[str, str]:
    """Read a file's footer and return its tracekit metadata.

    Raises:
        InputError: The file is not Parquet or is truncated.
        SchemaError: It is Parquet but not a golden trace of a supported version.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet_schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            f"{path}: not a readable Parquet file ({detail}); "
            "it may be truncated or not a golden trace: remove it or pass --skip-bad"
        ) from None
    raw = parquet_schema.metadata or {}
    metadata = {
        key.decode(): value.decode() for key, value in raw.items() if key.startswith(b"tracekit.")
    }
    version = metadata.get(schema.META_SCHEMA_VERSION)
    if version is None:
        raise SchemaError(
            f"{path}: a Parquet file without tracekit metadata, not a golden trace; "
            "remove it from the selection or pass --skip-bad"
        )
    if not version.isdigit() or int(version) not in SUPPORTED_SCHEMA_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_SCHEMA_VERSIONS))
        raise SchemaError(
            f"{path}: golden-trace schema version {version} is not supported "
            f"(this tracekit reads version {supported}); upgrade tracekit to read it"
        )
    missing = [name for name in schema.COLUMN_NAMES if name not in parquet_schema.names]
    if missing:
        raise SchemaError(
            f"{path}: schema version {version} file lacks column(s) {', '.join(missing)}; "
            "the file was not written by tracekit's tracer"
        )
    expected = _expected_schema()
    wrong = [
        f"{field.name} is {parquet_schema.field(field.name).type}, not {field.type}"
        for field in expected
        if not parquet_schema.field(field.name).type.equals(field.type)
    ]
    if wrong:
        raise SchemaError(
            f"{path}: column types differ from schema v1 ({'; '.join(wrong)}); "
            "the file was not written by tracekit's tracer: remove it or pass --skip-bad"
        )
    return metadata


@functools.cache
def _expected_schema() -> Any:
    """Schema v1 as pyarrow, built once (the footer check runs once per file)."""
    return schema.arrow_schema()
