"""Merging small golden files into larger ones: ``tracekit compact``.

A run writes one file per window (100 ticks by default), so a long run leaves
thousands of small files, and every scan pays a cost per file. Compaction merges
consecutive windows of a run into ``golden-<first>-<last>.parquet`` (same schema,
the run-level metadata kept, the window range recorded), then removes the
originals.

It is safe at every step, and it never removes data it has not seen elsewhere:

* every file is checked first (:func:`~tracekit.store.check.check_footer`); a bad
  one stops the command with its name before anything changes, or with
  ``skip_bad`` is left untouched and never merged;
* a window is merged only once all of its data has been read;
* the merged file is written to a hidden temporary name and read back completely
  (footer, row count, ``tracekit.window``, tick count) before it is renamed into
  place, and the originals are removed only after that;
* a merged file found in a folder covers (and lets compact remove) the windows of
  its range only once it passes the same complete check; readers that meet both
  ignore the covered originals (:func:`covered_by_compacted`), so nothing is ever
  counted twice and a second ``compact`` finishes an interrupted one;
* temporary files of writers that were killed (the tracer's, in its hidden folder
  beside the root or a run folder's ``.tracekit-tmp/``, and compact's own
  ``.golden-*.parquet.<pid>.<thread>.tmp``) are removed once their process is gone
  and they are :data:`STALE_TEMPORARY_S` old.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from tracekit.errors import InputError, SchemaError
from tracekit.fileio import open_regular
from tracekit.store import schema
from tracekit.store.check import Footer, check_footer
from tracekit.store.parquet import atomic_write, write_parquet

DEFAULT_TARGET_ROWS = 1_000_000

STALE_TEMPORARY_S: Final = 15 * 60
"""Age (since its last change) from which a dead writer's temporary file is removed."""
TEMPORARY_FILE: Final = re.compile(r"^\.golden-\d+(?:-\d+)?\.parquet\.(\d+)\.\d+\.tmp$")
"""A temporary name of :func:`~tracekit.store.parquet.atomic_write` for a golden file
(compact's own merged files), in the run folder."""
WRITER_TEMPORARY_FILE: Final = re.compile(r"^.+\.golden-\d+(?:-\d+)?\.(\d+)\.\d+\.tmp$")
"""A temporary name of the tracer's golden writer (``<run>.golden-NNNNNN.<pid>.<thread>.tmp``),
in its hidden folder beside the dataset root or in the run folder's ``.tracekit-tmp/``."""
RUN_KEYS: Final = (schema.META_RUN_ID, schema.META_SAMPLE_RATE, schema.META_SAMPLE_SEED)
"""Metadata that must agree for windows to be merged into one file."""

_SKIP_HINT = "remove it or pass `skip_bad=True`"


@dataclasses.dataclass(frozen=True)
class LeftAlone:
    """A file compaction did not touch, and why."""

    path: str
    reason: str


@dataclasses.dataclass(frozen=True)
class CompactResult:
    """What compaction did.

    Attributes:
        folders: Run folders looked at.
        files_before: Window files merged.
        files_after: Merged files written.
        rows: Rows in the merged files.
        covered_removed: Windows removed because a checked merged file holds them
            (left over by an interrupted compaction).
        temporaries_removed: Temporary files of killed writers removed.
        skipped: Bad files left untouched (only with ``skip_bad``).
    """

    folders: int
    files_before: int
    files_after: int
    rows: int
    covered_removed: int = 0
    temporaries_removed: int = 0
    skipped: tuple[LeftAlone, ...] = ()

    def summary(self) -> str:
        text = (
            f"Compacted {self.files_before:,} files into {self.files_after:,} "
            f"({self.rows:,} rows) in {self.folders} run folder(s)"
        )
        extra = []
        if self.covered_removed:
            extra.append(f"removed {self.covered_removed:,} already merged window(s)")
        if self.temporaries_removed:
            extra.append(f"removed {self.temporaries_removed:,} stale temporary file(s)")
        if self.skipped:
            extra.append(f"left {len(self.skipped):,} bad file(s) untouched")
        return text + ("; " + ", ".join(extra) if extra else "")


def covered_by_compacted(files: Iterable[str]) -> set[str]:
    """The window files of ``files`` that a compacted file in the same folder covers.

    By name alone: callers pass only compacted files that passed their check.
    """
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


@dataclasses.dataclass
class _Folder:
    """One run folder's golden files, checked."""

    path: Path
    windows: dict[int, Path]
    merged: list[tuple[int, int, Path]]
    footers: dict[Path, Footer]
    held: list[tuple[int, int]]
    """Window ranges of bad merged files: their windows are kept and not merged."""

    def hold(self, first: int, last: int) -> None:
        """Keep the files in ``first..last`` as they are: none of them is merged."""
        self.held.append((first, last))
        for number in [n for n in self.windows if first <= n <= last]:
            del self.windows[number]
        self.merged = [m for m in self.merged if not (first <= m[0] and m[1] <= last)]

    def units(self) -> list[tuple[int, int, Path]]:
        """The folder's files as (first window, last window, path), in window order:
        windows and merged files alike, so a later compact merges merged files too."""
        found = [(number, number, path) for number, path in self.windows.items()]
        return sorted([*found, *self.merged])


def compact(
    root: str | Path,
    target_rows: int = DEFAULT_TARGET_ROWS,
    *,
    skip_bad: bool = False,
    warn: Callable[[str], None] | None = None,
) -> CompactResult:
    """Merge consecutive window files of every run folder under ``root``.

    Args:
        root: A dataset root or one run folder.
        target_rows: Rows per merged file (a merged file may exceed it by one window).
        skip_bad: Leave bad files untouched (listed in :attr:`CompactResult.skipped`,
            and passed to ``warn``) instead of stopping at the first one.
        warn: Called with a message for each bad file left alone.

    Raises:
        InputError: ``root`` is not a folder, a file is bad (without ``skip_bad``;
            nothing has changed when its footer is bad), or a file cannot be written.
    """
    base = Path(root)
    if not base.is_dir():
        raise InputError(f"{root}: not a folder; pass a dataset root written by the tracer")
    if target_rows < 1:
        raise InputError(f"`target_rows` must be at least 1, got {target_rows}")
    skipped: list[LeftAlone] = []

    def bad(path: Path, reason: str) -> None:
        if not skip_bad:
            raise InputError(reason)
        skipped.append(LeftAlone(str(path), reason))
        if warn is not None:
            warn(f"left {reason}")

    folders = [_survey(folder, bad) for folder in _run_folders(base)]  # nothing changed yet
    temporaries = sum(
        _remove_stale_temporaries(place, pattern)
        for place, pattern in _temporary_places([folder.path for folder in folders])
    )
    before = after = rows = covered_removed = 0
    for folder in folders:
        covered_removed += _settle_merged(folder, bad)
        for group in _groups(folder, target_rows):
            tables = _read_group(group, folder, bad)
            for run in tables:
                if len(run) < 2:
                    continue
                rows += _merge(run, folder.path)
                before += len(run)
                after += 1
    return CompactResult(
        len(folders), before, after, rows, covered_removed, temporaries, tuple(skipped)
    )


def _run_folders(base: Path) -> list[Path]:
    """Folders under ``base`` (itself included) holding a golden file name; literal paths."""
    found = []
    for folder, subfolders, names in os.walk(base):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        if any(schema.file_windows(name) for name in names):
            found.append(Path(folder))
    return sorted(found)


def _survey(folder: Path, bad: Callable[[Path, str], None]) -> _Folder:
    windows: dict[int, Path] = {}
    merged: list[tuple[int, int, Path]] = []
    footers: dict[Path, Footer] = {}
    held: list[tuple[int, int]] = []
    for name in sorted(os.listdir(folder)):
        span = schema.file_windows(name)
        if span is None:
            continue
        path = folder / name
        try:
            footer = check_footer(str(path))
            if schema.COMPACTED_FILE.match(name):
                _require_window(path, footer, f"{span[0]}-{span[1]}")
            _metadata_int(path, footer, schema.META_TICKS)
            _metadata_int(path, footer, schema.META_LAST_TICK)
        except InputError as error:
            bad(path, str(error))
            if schema.COMPACTED_FILE.match(name):
                held.append(span)
            continue
        footers[path] = footer
        if schema.COMPACTED_FILE.match(name):
            merged.append((span[0], span[1], path))
        else:
            windows[span[0]] = path
    result = _Folder(folder, windows, merged, footers, [])
    for first, last in held:
        result.hold(first, last)
    return result


def _require_window(path: Path, footer: Footer, expected: str) -> None:
    found = footer.metadata.get(schema.META_WINDOW)
    if found != expected:
        raise InputError(
            f"{path}: its {schema.META_WINDOW} metadata is {found!r:.40}, not {expected!r}: "
            f"it is not a complete merged file: {_SKIP_HINT}"
        )


def _metadata_int(path: Path, footer: Footer, key: str) -> int:
    value = footer.metadata.get(key, "0")
    if not re.fullmatch(r"[0-9]{1,18}", value):
        raise InputError(
            f"{path}: its {key} metadata {value!r:.40} is not a count; "
            f"the file was not written by tracekit: {_SKIP_HINT}"
        )
    return int(value)


def _settle_merged(folder: _Folder, bad: Callable[[Path, str], None]) -> int:
    """Check each merged file completely; remove the files it covers.

    A good merged file covers the windows and the smaller merged files in its range
    (left by an interrupted compact); when all of them are still there, they must
    hold as many rows as it does. The files in the range of a merged file that fails
    are kept, and not merged.
    """
    removed = 0
    widest_first = sorted(folder.merged, key=lambda m: (m[0] - m[1], m[0]))
    for first, last, path in widest_first:
        if (first, last, path) not in folder.merged:  # held, or covered by a wider one
            continue
        inside = {n: p for n, p in folder.windows.items() if first <= n <= last}
        smaller = [m for m in folder.merged if first <= m[0] and m[1] <= last and m[2] != path]
        try:
            table = _read_all(path)
            _verify(path, table, folder.footers[path], f"{first}-{last}")
            pieces = [*((n, n, p) for n, p in inside.items()), *smaller]
            if _tile(pieces, first, last):  # every original still there: same rows?
                expected = sum(folder.footers[p].num_rows for _, _, p in pieces)
                if expected != table.num_rows:
                    raise InputError(
                        f"{path}: holds {table.num_rows:,} rows, its windows {expected:,}; "
                        f"it is not the merge of these windows: {_SKIP_HINT}"
                    )
        except InputError as error:
            bad(path, str(error))
            folder.merged.remove((first, last, path))
            folder.hold(first, last)  # the files of its range are kept as they are
            continue
        for number, window in inside.items():
            window.unlink()
            del folder.windows[number]
            removed += 1
        for piece in smaller:
            piece[2].unlink()
            folder.merged.remove(piece)
            removed += 1
    return removed


def _tile(pieces: Sequence[tuple[int, int, Path]], first: int, last: int) -> bool:
    """Whether ``pieces`` cover ``first..last`` exactly, each window once."""
    expected = first
    for start, stop, _ in sorted(pieces):
        if start != expected:
            return False
        expected = stop + 1
    return expected == last + 1


def _groups(folder: _Folder, target_rows: int) -> Iterable[list[tuple[int, int, Path]]]:
    """Runs of consecutive files of one run (windows, and merged files smaller than
    ``target_rows``) holding about ``target_rows`` rows: a group closes once it
    reaches the target, and before a merged file that would take it past it."""
    group: list[tuple[int, int, Path]] = []
    size = 0
    for unit in folder.units():
        first, last, path = unit
        rows = folder.footers[path].num_rows
        run = _run_of(folder.footers[path])
        if group and (
            first != group[-1][1] + 1
            or size >= target_rows
            or (first != last and size + rows > target_rows)
            or run != _run_of(folder.footers[group[-1][2]])
        ):
            if len(group) > 1:
                yield group
            group, size = [], 0
        group.append(unit)
        size += rows
    if len(group) > 1:
        yield group


def _run_of(footer: Footer) -> tuple[str | None, ...]:
    return tuple(footer.metadata.get(key) for key in RUN_KEYS)


_Read = tuple[int, int, Path, Any]
"""A file read for merging: its first and last window, its path, its table."""


def _read_group(
    group: list[tuple[int, int, Path]], folder: _Folder, bad: Callable[[Path, str], None]
) -> list[list[_Read]]:
    """Every file of ``group`` read completely (merged files were read and checked by
    :func:`_settle_merged`), split into runs around bad ones."""
    runs: list[list[_Read]] = [[]]
    for first, last, path in group:
        try:
            table = _read_all(path)
            _verify(path, table, folder.footers[path], None if first == last else f"{first}-{last}")
        except InputError as error:
            bad(path, str(error))
            runs.append([])
            continue
        runs[-1].append((first, last, path, table))
    return runs


def _read_all(path: Path) -> Any:
    """The whole table of a golden file: every page decoded."""
    import pyarrow.parquet as pq

    with open_regular(path, "golden-trace file", _SKIP_HINT) as file:
        try:
            return pq.ParquetFile(file).read()
        except Exception as exc:  # a corrupt page, whatever pyarrow calls it
            detail = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise InputError(
                f"{path}: the data cannot be read ({detail}); the file is corrupt: {_SKIP_HINT}"
            ) from None


def _verify(path: Path, table: Any, footer: Footer, window: str | None) -> None:
    """A file read completely holds what its footer and metadata say."""
    import pyarrow.compute as pc

    if table.num_rows != footer.num_rows:
        raise InputError(
            f"{path}: holds {table.num_rows:,} rows, its footer says {footer.num_rows:,}; "
            f"the file is corrupt: {_SKIP_HINT}"
        )
    if window is not None:
        _require_window(path, footer, window)
    ticks = int(pc.sum(pc.equal(table.column("kind"), schema.KIND_TICK)).as_py() or 0)
    declared = footer.metadata.get(schema.META_TICKS)
    if declared is not None and declared != str(ticks):
        raise InputError(
            f"{path}: holds {ticks:,} tick rows, its {schema.META_TICKS} metadata says "
            f"{declared!r:.40}; the file is corrupt: {_SKIP_HINT}"
        )


def _merge(run: Sequence[_Read], folder: Path) -> int:
    """Write one merged file of ``run``, check it, rename it into place, remove ``run``."""
    import pyarrow as pa

    tables = [table for _, _, _, table in run]
    metadata = {
        key.decode("utf-8", "replace"): value.decode("utf-8", "replace")
        for key, value in (tables[0].schema.metadata or {}).items()
        if key != b"ARROW:schema"
    }
    first, last = run[0][0], run[-1][1]
    window = f"{first}-{last}"
    metadata[schema.META_WINDOW] = window
    metadata[schema.META_TICKS] = str(sum(int(_meta(table, schema.META_TICKS)) for table in tables))
    metadata[schema.META_LAST_TICK] = str(
        max(int(_meta(table, schema.META_LAST_TICK)) for table in tables)
    )
    final = folder / schema.compacted_file_name(first, last)
    try:
        # Extra (nullable) columns some windows have are kept, null in the others.
        merged = pa.concat_tables(
            [table.replace_schema_metadata(None) for table in tables], promote_options="default"
        ).replace_schema_metadata(metadata)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise InputError(
            f"{run[0][2]}: windows {window} cannot be merged ({error}); "
            "move the odd window out of the folder"
        ) from None
    merged = _with_merged_summary(merged, run)

    def write(temporary: Path) -> None:
        write_parquet(merged, temporary)
        footer = check_footer(str(temporary))  # complete before it covers anything
        written = _read_all(temporary)
        _verify(temporary, written, footer, window)
        if written.num_rows != merged.num_rows:
            raise InputError(f"{final}: the merged file did not read back whole; nothing removed")

    try:
        atomic_write(final, write, durable=True)
    except OSError as error:
        raise InputError(f"{final}: cannot write the merged file ({error.strerror})") from None
    for _, _, path, _ in run:  # from here on, readers ignore these in favour of `final`
        path.unlink()
    return int(merged.num_rows)


def _with_merged_summary(merged: Any, run: Sequence[_Read]) -> Any:
    """The merged table with the merge of its windows' summaries; a window without
    a readable one is summarized from its rows (they are in memory)."""
    from tracekit.store.summary import decode, encode, merge, summarize

    parts = []
    for _, _, path, table in run:
        text = (table.schema.metadata or {}).get(schema.META_SUMMARY.encode())
        try:
            parts.append(decode(text.decode("utf-8"), str(path)) if text else summarize(table))
        except (SchemaError, UnicodeDecodeError):
            parts.append(summarize(table))
    try:
        summary = merge(parts)
    except ValueError:  # rows of several runs: leave the summary out, readers read rows
        return merged.replace_schema_metadata(
            {
                k: v
                for k, v in (merged.schema.metadata or {}).items()
                if k != schema.META_SUMMARY.encode()
            }
        )
    return merged.replace_schema_metadata(
        {**(merged.schema.metadata or {}), schema.META_SUMMARY.encode(): encode(summary).encode()}
    )


def _meta(table: Any, key: str) -> str:
    value: bytes = (table.schema.metadata or {}).get(key.encode(), b"0")
    return value.decode("ascii", "replace")


def _temporary_places(run_folders: Sequence[Path]) -> list[tuple[Path, re.Pattern[str]]]:
    """The folders where killed writers may have left temporary files, each with the
    pattern of the names to look for: each run folder (compact's own temporaries), its
    ``.tracekit-tmp/`` and the tracer's hidden folder beside its dataset root
    (``<parent>/.<root name>.tracekit-tmp/``, see ``golden.temp_folder``)."""
    places: dict[Path, re.Pattern[str]] = {}
    for folder in run_folders:
        places[folder] = TEMPORARY_FILE
        places[folder / ".tracekit-tmp"] = WRITER_TEMPORARY_FILE
        root = Path(os.path.abspath(folder)).parent
        places[root.parent / f".{root.name}.tracekit-tmp"] = WRITER_TEMPORARY_FILE
    return list(places.items())


def _remove_stale_temporaries(
    folder: Path, pattern: re.Pattern[str] = TEMPORARY_FILE, now: float | None = None
) -> int:
    """Remove temporary golden files whose writer process is gone and that are old
    (the folder itself stays: a live writer may still use it)."""
    now = time.time() if now is None else now
    removed = 0
    try:
        names = os.listdir(folder)
    except OSError:  # no such folder: nothing was left there
        return 0
    for name in names:
        match = pattern.match(name)
        if match is None:
            continue
        path = folder / name
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < STALE_TEMPORARY_S:
            continue
        if _process_alive(int(match[1])):
            continue
        try:
            path.unlink()
        except OSError:
            continue
        removed += 1
    return removed


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a permission error means it does)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False
    return True
