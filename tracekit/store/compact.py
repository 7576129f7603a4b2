"""Merging small golden files into larger ones: ``tracekit compact``.

A run writes one file per window (100 ticks by default), so a long run leaves
thousands of small files, and every scan pays a cost per file. Compaction merges
consecutive windows of a run into ``golden-<first>-<last>.parquet`` (same schema,
the run-level metadata kept, the window range recorded), then removes the
originals.

It is safe at every step: the merged file is written to a hidden temporary name,
flushed and renamed into place; readers that meet both a merged file and an
original it covers (a crash between the rename and the removals) ignore the
original (:func:`covered_by_compacted`), so nothing is ever counted twice and a
second ``compact`` finishes the job.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from tracekit.errors import InputError
from tracekit.store import schema
from tracekit.store.check import check_file
from tracekit.store.parquet import atomic_write, write_parquet

DEFAULT_TARGET_ROWS = 1_000_000


@dataclasses.dataclass(frozen=True)
class CompactResult:
    """What compaction did.

    Attributes:
        folders: Run folders looked at.
        files_before: Window files merged.
        files_after: Merged files written.
        rows: Rows in the merged files.
    """

    folders: int
    files_before: int
    files_after: int
    rows: int

    def summary(self) -> str:
        return (
            f"Compacted {self.files_before:,} files into {self.files_after:,} "
            f"({self.rows:,} rows) in {self.folders} run folder(s)"
        )


def covered_by_compacted(files: Iterable[str]) -> set[str]:
    """The window files of ``files`` that a compacted file in the same folder covers."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    windows: list[tuple[str, str, int]] = []
    for path in files:
        folder, name = os.path.split(path)
        compacted = schema.COMPACTED_FILE.match(name)
        if compacted:
            ranges.setdefault(folder, []).append((int(compacted[1]), int(compacted[2])))
            continue
        window = schema.WINDOW_FILE.match(name)
        if window:
            windows.append((path, folder, int(window[1])))
    return {
        path
        for path, folder, number in windows
        if any(first <= number <= last for first, last in ranges.get(folder, ()))
    }


def compact(root: str | Path, target_rows: int = DEFAULT_TARGET_ROWS) -> CompactResult:
    """Merge consecutive window files of every run folder under ``root``.

    Args:
        root: A dataset root or one run folder.
        target_rows: Rows per merged file (a merged file may exceed it by one window).

    Raises:
        InputError: ``root`` is not a folder, or a file cannot be read or written.
    """
    base = Path(root)
    if not base.is_dir():
        raise InputError(f"{root}: not a folder; pass a dataset root written by the tracer")
    if target_rows < 1:
        raise InputError(f"--target-rows must be at least 1, got {target_rows}")
    folders = sorted({path.parent for path in base.rglob(schema.GOLDEN_FILE_GLOB)})
    before = after = rows = 0
    for folder in folders:
        names = sorted(
            (int(match[1]), folder / name)
            for name in os.listdir(folder)
            if (match := schema.WINDOW_FILE.match(name))
        )
        covered = covered_by_compacted(str(folder / name) for name in os.listdir(folder))
        for _, path in names:
            if str(path) in covered:  # left over by an interrupted compaction
                path.unlink()
        names = [(number, path) for number, path in names if str(path) not in covered]
        for group in _groups(names, target_rows):
            for _, path in group:
                check_file(str(path))
            rows += _merge(group, folder)
            before += len(group)
            after += 1
    return CompactResult(len(folders), before, after, rows)


def _groups(
    names: Sequence[tuple[int, Path]], target_rows: int
) -> Iterable[list[tuple[int, Path]]]:
    """Runs of consecutive windows holding about ``target_rows`` rows (2 files at least)."""
    import pyarrow.parquet as pq

    group: list[tuple[int, Path]] = []
    size = 0
    for number, path in names:
        if group and (number != group[-1][0] + 1 or size >= target_rows):
            if len(group) > 1:
                yield group
            group, size = [], 0
        group.append((number, path))
        size += pq.read_metadata(path).num_rows
    if len(group) > 1:
        yield group


def _merge(group: list[tuple[int, Path]], folder: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as parquet

    tables = [parquet.read_table(path) for _, path in group]
    metadata = {
        key.decode(): value.decode() for key, value in (tables[0].schema.metadata or {}).items()
    }
    first, last = group[0][0], group[-1][0]
    last_ticks = [
        int((table.schema.metadata or {}).get(schema.META_LAST_TICK.encode(), b"0"))
        for table in tables
    ]
    metadata[schema.META_WINDOW] = f"{first}-{last}"
    metadata[schema.META_TICKS] = str(
        sum(int((t.schema.metadata or {}).get(schema.META_TICKS.encode(), b"0")) for t in tables)
    )
    metadata[schema.META_LAST_TICK] = str(max(last_ticks))
    merged = pa.concat_tables(tables).replace_schema_metadata(metadata)
    final = folder / schema.compacted_file_name(first, last)
    try:
        atomic_write(final, lambda temporary: write_parquet(merged, temporary), durable=True)
    except OSError as error:
        raise InputError(f"{final}: cannot write the merged file ({error.strerror})") from None
    for _, path in group:  # from here on, readers ignore these in favour of `final`
        path.unlink()
    return int(merged.num_rows)
