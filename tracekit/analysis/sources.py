"""Finding and checking golden-trace files before any data is read.

A path may be a file, a folder (searched recursively; ``run_id=`` partition
folders are ordinary folders here) or a glob. Each file's Parquet footer is read
to check that it is a tracekit golden trace of a supported schema version; a bad
file is named in the error, or skipped and listed with ``skip_bad``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tracekit.analysis.prefetch import prefetched
from tracekit.errors import EmptyDataError, InputError, SchemaError
from tracekit.store import check_workers, schema
from tracekit.store.check_workers import checked_in_parallel
from tracekit.store.compact import covered_by_compacted
from tracekit.store.footer_cache import FooterCache
from tracekit.store.footer_cache import enabled as footer_cache_enabled
from tracekit.store.location import (
    as_s3_url,
    has_foreign_scheme,
    is_object_url,
    list_parquet,
    reader_filesystem,
    storage_options,
)


@dataclasses.dataclass(frozen=True)
class SkippedFile:
    """A file left out with ``skip_bad``, and why."""

    path: str
    reason: str


@dataclasses.dataclass(frozen=True)
class Sources:
    """The golden-trace files selected by some paths.

    Attributes:
        files: Readable files of a supported schema, sorted.
        skipped: Files left out because they were bad (only with ``skip_bad``).
        metadata: Each file's tracekit key-value metadata, by path.
    """

    files: tuple[str, ...]
    skipped: tuple[SkippedFile, ...]
    metadata: dict[str, dict[str, str]]

    def without(self, bad: Sequence[SkippedFile]) -> Sources:
        """These sources less ``bad`` files, which join the skipped ones.

        Raises:
            EmptyDataError: No file would remain.
        """
        names = {skipped.path for skipped in bad}
        files = tuple(path for path in self.files if path not in names)
        if not files:
            raise EmptyDataError(
                f"no usable golden-trace file among {len(self.files)} found "
                f"(first problem: {_without_skip_hint(bad[0].reason)})"
            )
        metadata = {path: meta for path, meta in self.metadata.items() if path in files}
        return Sources(files, (*self.skipped, *bad), metadata)


def _without_skip_hint(reason: str) -> str:
    """A skipped file's reason without "or pass `skip_bad=True`": with no usable file
    left, skipping the bad ones cannot help."""
    return reason.replace(" or pass `skip_bad=True`", "")


def resolve_paths(paths: Sequence[str | Path]) -> list[str]:
    """Expand files, folders and globs into Parquet file paths.

    A path that exists is taken literally, even when it holds glob characters
    (``run_id=canary[1]``); only a path that does not exist is tried as a pattern.
    The paths returned are literal file names: readers must not expand them again.
    Files found in folders are kept whatever their kind, so that a FIFO or a device
    named ``*.parquet`` is named and refused by the footer check, never opened.

    Raises:
        InputError: A path does not exist, matches nothing, or nothing is found at all.
    """
    if not paths:
        raise InputError("no path given; pass a golden-trace file, folder or glob")
    found: list[str] = []
    texts = [str(raw) for raw in paths]
    remote = [text for text in texts if is_object_url(text)]
    if remote and len(remote) != len(texts):
        raise InputError(
            f"{remote[0]}: local paths and s3:// locations cannot be read together; "
            "pass only one kind"
        )
    for raw in paths:
        text = str(raw)
        if is_object_url(text):  # a prefix (read as a folder) or one object
            found.extend(list_parquet(text))
            continue
        if not os.path.lexists(text) and glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise InputError(f"{text}: the pattern matches no file; check the path")
            for match in matches:
                found.extend(_files_under(Path(match)))
            continue
        path = Path(text)
        if not path.exists():
            if has_foreign_scheme(text):
                raise InputError(_foreign_scheme(text))
            raise InputError(f"{text}: no such file or folder; check the path")
        found.extend(_files_under(path))
    unique = sorted(set(found))
    if not unique:
        shown = ", ".join(str(p) for p in paths)
        raise EmptyDataError(
            f"{shown}: no Parquet file found; pass a folder written by the tracer "
            "(it holds run_id=*/golden-*.parquet)"
        )
    return unique


def _foreign_scheme(text: str) -> str:
    """The error for a URL of a store tracekit does not read (``gs://``, ``s3a://``)."""
    scheme = text.partition("://")[0]
    same = as_s3_url(text)
    if same is not None:
        return (
            f"{text}: tracekit reads S3 as s3://, not {scheme}://; "
            f"pass {same} (with --engine spark too)"
        )
    return (
        f"{text}: tracekit reads local paths and s3:// locations, not {scheme}://; "
        "copy the files to one of them"
    )


def _files_under(path: Path) -> Iterable[str]:
    if path.is_dir():
        found: list[str] = []
        for folder, subfolders, names in os.walk(path):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            found.extend(
                os.path.join(folder, name)
                for name in names
                if name.endswith(".parquet") and not name.startswith(".")
            )
        return found
    # A file given by name, of any kind: check_file refuses anything but a regular file.
    return [str(path)]


@contextlib.contextmanager
def reading(files: Sequence[str]) -> Iterator[None]:
    """Turn a data error met while reading ``files`` into an InputError naming the file.

    The footer checks of :func:`~tracekit.store.check.check_file` cannot see a
    corrupt data page; polars meets it mid-query. On that (rare) path every file is
    read in turn to find it.
    """
    import polars as pl
    import pyarrow as pa

    try:
        yield
    except (pl.exceptions.PolarsError, pa.ArrowException, OSError) as error:
        culprit = _find_unreadable(files)
        first = " ".join(str(error).split())[:200]
        if culprit is None:
            raise InputError(
                f"cannot read the golden traces ({type(error).__name__}: {first}); check the files"
            ) from None
        raise InputError(
            f"{culprit}: the data cannot be read ({first}); the file is corrupt: "
            "remove it from the selection"
        ) from None


def scan_options() -> dict[str, Any]:
    """Options of ``pl.scan_parquet`` over golden files: schema v1 and its added
    columns, whichever file comes first. An added column a file lacks (a file
    written before it) reads as nulls; a column tracekit does not know is left out."""
    import polars as pl

    types = {"string": pl.String, "int64": pl.Int64, "int32": pl.Int32, "bool": pl.Boolean}
    columns = (*schema.COLUMNS, *schema.ADDED_COLUMNS)
    return {
        "schema": {column.name: types[column.arrow_type] for column in columns},
        "missing_columns": "insert",
        "extra_columns": "ignore",
    }


def _find_unreadable(files: Sequence[str]) -> str | None:
    import polars as pl
    import pyarrow as pa

    for path in files:
        try:
            pl.read_parquet(
                path,
                columns=list(schema.COLUMN_NAMES),
                glob=False,
                storage_options=storage_options([path]),
            )
        except (pl.exceptions.PolarsError, pa.ArrowException, OSError):
            return path
    return None


OBJECT_CHECKS_AHEAD = 16
"""Footers of objects on a store checked at once, beside the one in use."""


def find_sources(
    paths: Sequence[str | Path],
    *,
    skip_bad: bool = False,
    progress: Callable[[int, int], None] | None = None,
    footer_cache: bool = True,
) -> Sources:
    """Resolve paths and check every file.

    Args:
        paths: Files, folders or globs; several combine.
        skip_bad: Leave bad files out (listed in :attr:`Sources.skipped`) instead of
            failing on the first one.
        progress: Called as ``progress(done, total)`` after each file is checked.
        footer_cache: Reuse the checks of files unchanged since an earlier run
            (:mod:`tracekit.store.footer_cache`; also off with
            ``TRACEKIT_FOOTER_CACHE=0``).

    Raises:
        InputError: A path is missing, a file is bad (without ``skip_bad``), or no
            good file remains.
    """
    files = resolve_paths(paths)
    good: list[str] = []
    skipped: list[SkippedFile] = []
    metadata: dict[str, dict[str, str]] = {}

    cache = FooterCache() if footer_cache and footer_cache_enabled() else None
    known = cache.known(files) if cache is not None else {}

    def footer(path: str) -> dict[str, str] | InputError:
        return known[path] if path in known else check_workers.outcome(path)

    def checked(
        paths: Sequence[str],
    ) -> Generator[tuple[str, dict[str, str] | InputError], None, None]:
        """Each path with its footer's metadata or its error, in order. Objects on a
        store are checked :data:`OBJECT_CHECKS_AHEAD` at a time: each is a round
        trip, and waiting on one holds no lock. Local footers are checked in turn
        (their check is Python more than waiting: threads only shared the GIL)."""
        remote = sum(1 for path in paths if is_object_url(path) and path not in known)
        ahead = OBJECT_CHECKS_AHEAD if remote > 1 else 0
        if not ahead:
            # Local files unknown to the cache: on every core when there are many.
            fresh = [path for path in paths if path not in known]
            with contextlib.closing(checked_in_parallel(fresh, footer)) as outcomes:
                for path in paths:
                    yield path, known[path] if path in known else next(outcomes)
            return
        reader_filesystem()  # made once here, not by the first checks at once
        outcomes = prefetched(paths, footer, ahead=ahead)
        with contextlib.closing(outcomes):  # closed with this one: nothing more starts
            yield from zip(paths, outcomes, strict=True)

    def check(path: str, outcome: dict[str, str] | InputError) -> bool:
        if progress is not None:
            progress(len(metadata) + len(skipped) + 1, len(files))
        if isinstance(outcome, InputError):
            if not skip_bad:
                raise outcome
            skipped.append(SkippedFile(path, str(outcome)))
            return False
        metadata[path] = outcome
        return True

    # Merged files first: a window file is left out (a leftover of an interrupted
    # `tracekit compact`) only when a merged file that covers it passed its check.
    merged = [path for path in files if schema.COMPACTED_FILE.match(os.path.basename(path))]
    with contextlib.closing(checked(merged)) as outcomes:  # an error stops the checks
        for path, outcome in outcomes:
            if not check(path, outcome):
                continue
            if covers_its_name(path, metadata[path]):
                good.append(path)
                continue
            del metadata[path]
            reason = (
                f"{path}: its {schema.META_WINDOW} metadata does not match its name; "
                "it is not a merged file tracekit wrote: remove it or pass `skip_bad=True`"
            )
            if not skip_bad:
                raise SchemaError(reason)
            skipped.append(SkippedFile(path, reason))
    merged_set = set(merged)
    windows = [path for path in files if path not in merged_set]
    covered = covered_by_compacted([*good, *windows])
    rest = [path for path in windows if path not in covered]
    with contextlib.closing(checked(rest)) as outcomes:
        for path, outcome in outcomes:
            if check(path, outcome):
                good.append(path)
    good.sort()
    if cache is not None:
        cache.remember({path: metadata[path] for path in good if path not in known})
    if not good:
        raise EmptyDataError(
            f"no usable golden-trace file among {len(files)} found "
            f"(first problem: {_without_skip_hint(skipped[0].reason)})"
        )
    return Sources(tuple(good), tuple(skipped), metadata)


def covers_its_name(path: str, metadata: dict[str, str]) -> bool:
    """Whether a merged file's ``tracekit.window`` metadata is the range of its name."""
    windows = schema.file_windows(os.path.basename(path))
    return windows is not None and metadata.get(schema.META_WINDOW) == f"{windows[0]}-{windows[1]}"
