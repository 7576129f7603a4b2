"""Reading the files' summaries (``tracekit.summary``) instead of their rows.

:func:`load_summaries` checks every footer as :func:`tracekit.analysis.load` does
(bad files, duplicates, ``run_id=`` folders), then takes each file's summary from
the footer already read. A file without one (written before summaries existed)
is read row by row and summarized the same way; a file whose summary cannot be
used (damaged, another version) is too, with a warning: a summary never gives a
wrong answer, at worst a slower one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from tracekit.analysis.identity import DuplicateFile, duplicate_files, file_run
from tracekit.analysis.sources import Sources, find_sources, reading
from tracekit.errors import InputError, SchemaError
from tracekit.store import schema
from tracekit.store.summary import Histograms, Summary, decode, summarize


@dataclasses.dataclass
class LoadedSummaries:
    """The summaries of some golden files.

    Attributes:
        runs: Run (a file's ``run_id=`` folder first) -> the summaries of its files.
        files: The files, after duplicates and skipped files are left out.
        from_footers: Files whose stored summary was used.
        from_rows: Files read row by row (no summary, or an unusable one).
        warnings: One line per file whose summary could not be used or was skipped.
        sources: The checked files and their metadata (duplicates left out).
        duplicates: Files left out because another file holds the same ticks.
        by_file: Each kept file's summary (its run the file's run).
    """

    runs: dict[str, list[Summary]]
    files: tuple[str, ...]
    from_footers: int
    from_rows: int
    warnings: tuple[str, ...]
    sources: Sources
    duplicates: tuple[DuplicateFile, ...]
    by_file: dict[str, Summary]

    def stage_entries(
        self, path: str, chunk_ticks: int | None = None
    ) -> tuple[Summary, Histograms]:
        """``path``'s summary and its stage histograms per chunk of ``chunk_ticks``
        (:meth:`~tracekit.store.summary.Summary.stage_entries`), or over the whole file
        when None (:meth:`~tracekit.store.summary.Summary.stage_totals`).

        A summary's histograms are decoded only here; when they turn out damaged, the
        file's rows are read and summarized instead (and it is counted and warned about
        as a file read row by row), so a summary never gives a wrong answer.
        """
        summary = self.by_file[path]
        try:
            return summary, _entries(summary, chunk_ticks)
        except SchemaError as exc:
            self.warnings = (*self.warnings, f"{exc}; its rows were read instead")
        fresh = dataclasses.replace(_from_rows(path), run_id=summary.run_id)
        self.from_footers -= 1
        self.from_rows += 1
        self.by_file[path] = fresh
        run = self.runs[summary.run_id]
        run[next(i for i, item in enumerate(run) if item is summary)] = fresh
        return fresh, _entries(fresh, chunk_ticks)


def _entries(summary: Summary, chunk_ticks: int | None) -> Histograms:
    if chunk_ticks is None:
        return summary.stage_totals()
    return summary.stage_entries(max(chunk_ticks, summary.chunk_ticks))


def has_summaries(sources: Sources) -> bool:
    """Whether any of the files carries a summary."""
    return any(schema.META_SUMMARY in meta for meta in sources.metadata.values())


def load_summaries(
    paths: Sequence[str | Path],
    *,
    skip_bad: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> LoadedSummaries | None:
    """The summaries of golden files, or None when no file carries one.

    Raises:
        InputError: A path is missing or a file is bad (without ``skip_bad``), as
            :func:`tracekit.analysis.load`.
    """
    sources = find_sources(paths, skip_bad=skip_bad, progress=progress)
    if not has_summaries(sources):
        return None
    duplicates = tuple(duplicate_files(sources.files, sources.metadata))
    dropped = {duplicate.path for duplicate in duplicates}
    files = tuple(path for path in sources.files if path not in dropped)
    runs: dict[str, list[Summary]] = {}
    by_file: dict[str, Summary] = {}
    warnings: list[str] = []
    from_footers = from_rows = 0
    kept: list[str] = []
    for path in files:
        meta = sources.metadata[path]
        text = meta.get(schema.META_SUMMARY)
        summary = None
        if text is not None:
            try:
                summary = decode(text, path)
            except SchemaError as exc:
                warnings.append(f"{exc}; its rows were read instead")
        if summary is None:
            summary = _from_rows(path)
            from_rows += 1
        else:
            from_footers += 1
        if summary.bad_durations:
            reason = (
                f"{path}: {summary.bad_durations} tick, stage or request row(s) have a null "
                "or negative duration; the file is corrupt or was not written by tracekit: "
                "remove it or pass --skip-bad"
            )
            if not skip_bad:
                raise InputError(reason)
            warnings.append(f"skipped {reason}")
            continue
        run = file_run(path, meta)
        summary = dataclasses.replace(summary, run_id=run)
        runs.setdefault(run, []).append(summary)
        by_file[path] = summary
        kept.append(path)
    chosen = set(kept)
    kept_sources = Sources(
        tuple(kept),
        sources.skipped,
        {path: meta for path, meta in sources.metadata.items() if path in chosen},
    )
    return LoadedSummaries(
        runs,
        tuple(kept),
        from_footers,
        from_rows,
        tuple(warnings),
        kept_sources,
        duplicates,
        by_file,
    )


def _from_rows(path: str) -> Summary:
    import pyarrow.parquet as pq

    columns = [
        "run_id",
        "tick_id",
        "kind",
        "name",
        "verb",
        "start_unix_ns",
        "duration_ns",
        "deadline_ns",
        "deadline_missed",
        "request_count",
        "detail",
    ]
    with reading([path]):
        table = pq.read_table(path, columns=columns)
    return summarize(table)
