"""Which run each file belongs to, which files repeat others, and each file's sampling.

``(run_id, tick_id)`` identifies a tick (``docs/schema.md``). Two things can break
that before any row is read, and both are settled here from the files' paths and
key-value metadata alone (no data is scanned):

* **Run identity.** DuckDB, polars and pyarrow, reading a dataset with Hive
  partitioning, take a file's run from its ``run_id=<run>`` folder, not from the
  rows. tracekit does the same: a file under ``run_id=B/`` whose rows say run ``A``
  (a copy moved into another run folder) is run ``B``, and the mismatch is
  reported. A file outside any ``run_id=`` folder keeps the run of its rows.
* **Duplicated windows.** Every file records the window(s) of its run it holds
  (``tracekit.window``: ``N``, or ``first-last`` after ``tracekit compact``). Two
  files of one run holding the same window hold the same ticks: a copy
  (``golden-000005 (copy).parquet``) or a file copied under another name. The
  ticks are counted once: of two files with the same windows the one with the
  tracer's own file name (else the first path) is kept; a file whose windows lie
  inside another file's is left out; two files whose windows overlap only in part
  are refused (:class:`~tracekit.errors.InputError`), as neither can be dropped
  without losing ticks. Every file left out is listed (:class:`DuplicateFile`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping, Sequence

from tracekit.errors import InputError
from tracekit.store import schema

_RUN_FOLDER_PREFIX = f"{schema.PARTITION_KEY}="


@dataclasses.dataclass(frozen=True)
class DuplicateFile:
    """A file left out because another file holds the same ticks.

    Attributes:
        path: The file left out.
        kept: The file whose rows are counted instead.
        reason: One line saying why.
    """

    path: str
    kept: str
    reason: str


@dataclasses.dataclass(frozen=True)
class RunOverride:
    """A file whose ``run_id=`` folder names another run than its rows.

    Attributes:
        path: The file.
        run_id: The run of its folder, the one used (as DuckDB, polars, pyarrow).
        rows_run_id: The run its rows and metadata say.
    """

    path: str
    run_id: str
    rows_run_id: str


def folder_run(path: str) -> str | None:
    """The run of the innermost ``run_id=<run>`` folder of ``path``, if any."""
    return _folder_run(os.path.dirname(os.path.abspath(path)))


@functools.lru_cache(maxsize=4096)
def _folder_run(folder: str) -> str | None:
    """:func:`folder_run` of a folder (the files of a run share it: asked once per file
    and per question, 10,000 small files would walk the same path 30,000 times)."""
    while True:
        folder, name = os.path.split(folder)
        if name.startswith(_RUN_FOLDER_PREFIX):
            return name[len(_RUN_FOLDER_PREFIX) :]
        if not name:
            return None


def file_run(path: str, meta: Mapping[str, str]) -> str:
    """The run a file belongs to: its ``run_id=`` folder, else its metadata."""
    return folder_run(path) or meta.get(schema.META_RUN_ID, "")


def run_overrides(metadata: Mapping[str, Mapping[str, str]]) -> list[RunOverride]:
    """Files whose ``run_id=`` folder disagrees with the run of their rows."""
    found = []
    for path, meta in sorted(metadata.items()):
        folder = folder_run(path)
        rows = meta.get(schema.META_RUN_ID)
        if folder is not None and rows is not None and folder != rows:
            found.append(RunOverride(path, folder, rows))
    return found


def _windows(meta: Mapping[str, str]) -> tuple[int, int] | None:
    """The first and last window a file's metadata names; None when it names none,
    or a range that runs backwards (``5-0``: no window is in it, so it neither
    covers nor repeats another file)."""
    text = meta.get(schema.META_WINDOW, "")
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        return None
    return (low, high) if low <= high else None


def duplicate_files(
    files: Sequence[str], metadata: Mapping[str, Mapping[str, str]]
) -> list[DuplicateFile]:
    """Files holding windows of their run that another file holds (see the module doc).

    Raises:
        InputError: Two files of one run hold windows that overlap only in part.
    """
    by_run: dict[str, list[tuple[int, int, str]]] = {}
    for path in files:
        windows = _windows(metadata.get(path, {}))
        if windows is not None:
            by_run.setdefault(file_run(path, metadata[path]), []).append((*windows, path))
    found: list[DuplicateFile] = []
    for run, entries in sorted(by_run.items()):
        # Widest first, then the tracer's own file name, then path order: the keeper of
        # a group comes before the files it covers.
        entries.sort(key=lambda e: (e[0], -e[1], not _canonical(e[2], e[0], e[1]), e[2]))
        # The kept files hold disjoint windows, in order; every later entry starts at or
        # after the last kept one, so only that one can hold or overlap its windows.
        kept: list[tuple[int, int, str]] = []
        for first, last, path in entries:
            latest = kept[-1] if kept else None
            cover = latest if latest is not None and last <= latest[1] else None
            if cover is not None:
                same = (cover[0], cover[1]) == (first, last)
                what = "the same window" if same else "windows inside those"
                found.append(
                    DuplicateFile(
                        path,
                        cover[2],
                        f"{path} holds {what} of run {run} as {cover[2]} "
                        f"(tracekit.window {_label(first, last)}); its ticks are counted once",
                    )
                )
                continue
            clash = latest if latest is not None and first <= latest[1] else None
            if clash is not None:
                raise InputError(
                    f"{path} and {clash[2]} hold overlapping windows of run {run} "
                    f"({_label(first, last)} and {_label(clash[0], clash[1])}): the same "
                    "ticks twice; remove one of them or run `tracekit compact` again"
                )
            kept.append((first, last, path))
    return found


def _canonical(path: str, first: int, last: int) -> bool:
    name = os.path.basename(path)
    if first == last:
        return name == schema.window_file_name(first)
    return name == schema.compacted_file_name(first, last)


def _label(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"
