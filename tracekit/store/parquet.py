"""Writing files safely: :func:`atomic_write`, and golden-trace Parquet (:func:`write_parquet`).

Every file tracekit writes (golden windows, compacted files, profiles, Chrome
exports) is written to a hidden temporary name in its folder and renamed into place,
so a crash or an error leaves at most a ``.*.tmp`` file that no reader picks up,
never a partial file. pyarrow is imported inside :func:`write_parquet`.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tracekit.fileio import check_output_target
from tracekit.store import schema

T = TypeVar("T")


def atomic_write(path: Path, write: Callable[[Path], T], *, durable: bool = False) -> T:
    """Write ``path`` by calling ``write(temporary)``, then renaming it into place.

    The temporary file is hidden (``.<name>.<pid>.<thread>.tmp``) in the same folder,
    so the rename is atomic and two writers never share one. On any error it is
    removed and the error raised again; the folder must exist. A target that exists
    and is not a regular file (a device, a FIFO, a folder) is refused before anything
    is written: the rename would replace it.

    Args:
        path: The file to write.
        write: Writes the whole content to the path it is given; its result is returned.
        durable: Flush the file to disk before the rename and the folder after it, so
            the file survives a power cut once this returns (golden traces use it).

    Raises:
        InputError: ``path`` exists and is not a regular file.
    """
    check_output_target(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        result = write(temporary)
        if durable:
            fsync_file(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    if durable:
        fsync_dir(path.parent)
    return result


def write_parquet(table: Any, path: Path | Any) -> None:
    """Write a golden-trace table as Parquet (see :func:`parquet_writer`).

    ``path`` is a file name or a pyarrow output stream (an in-memory buffer)."""
    with parquet_writer(path, table.schema) as writer:
        writer.write_table(table)


def parquet_writer(where: Path | Any, arrow_schema: Any) -> Any:
    """An open ``pyarrow.parquet.ParquetWriter`` for golden traces: zstd,
    dictionary-encoded label columns, the schema's key-value metadata in the footer
    once. The caller writes tables of ``arrow_schema`` (their metadata is not read)
    and closes it; the golden writer thread times its setup, ``write_table`` and
    ``close`` apart.

    pyarrow would also store the whole Arrow schema, metadata included, as the
    footer's ``ARROW:schema`` entry: every key-value pair twice, about 30% of a
    window file of 100 ticks (``docs/benchmarks.md``, "Bytes per row"). The Arrow
    types of schema v1 (``string``, ``int64``, ``int32``, ``bool``) are what the
    Parquet types read back as anyway, so it is left out (``store_schema=False``):
    ``pq.read_schema`` and ``pq.read_table`` give the same schema and metadata.
    """
    import pyarrow.parquet as pq

    writer = pq.ParquetWriter(
        where,
        arrow_schema.remove_metadata(),
        compression="zstd",
        use_dictionary=list(schema.DICTIONARY_COLUMNS),
        store_schema=False,
    )
    if arrow_schema.metadata:
        writer.add_key_value_metadata(arrow_schema.metadata)
    return writer


def put_object(filesystem: Any, key: str, data: Any) -> None:
    """Store a finished buffer as the object ``key`` (``bucket/key``) of a pyarrow
    file system: an object store's PUT of a whole buffer makes the object appear
    complete or not at all, so no temporary name is needed and none is visible.

    pyarrow sends a buffer below its multipart threshold as one PutObject when the
    stream is closed; a larger one as a multipart upload, which the store also
    shows only once it is completed.
    """
    with filesystem.open_output_stream(key) as stream:
        stream.write(data)


def fsync_file(path: Path) -> None:
    """Flush a written file to disk before it is renamed into place."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename) to disk, where the file system allows it."""
    with contextlib.suppress(OSError):  # not every file system lets a folder be fsynced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
