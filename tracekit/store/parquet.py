"""Writing golden-trace Parquet files safely.

A file is written to a hidden temporary name in its folder, flushed to disk and
renamed into place, so a crash leaves at most a ``.*.tmp`` file that no reader picks
up, never a partial ``*.parquet``. pyarrow is imported inside :func:`write_parquet`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from tracekit.store import schema


def write_parquet(table: Any, path: Path) -> None:
    """Write a golden-trace table as Parquet: zstd, dictionary-encoded label columns."""
    import pyarrow.parquet as pq

    pq.write_table(
        table,
        path,
        compression="zstd",
        use_dictionary=list(schema.DICTIONARY_COLUMNS),
    )


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
