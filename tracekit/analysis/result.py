"""The result of ``tracekit analyze``: DataFrames plus what they were computed from.

One object renders everywhere through the Report protocol of
:mod:`tracekit.present.report`: a rich table in the terminal (``__rich__``), HTML in
Jupyter (``_repr_html_``), Markdown, CSV and the versioned JSON of
``docs/analysis.md`` (:meth:`Analysis.to_dict`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from tracekit._version import __version__
from tracekit.analysis.identity import DuplicateFile, RunOverride
from tracekit.analysis.selection import iso_ns
from tracekit.analysis.sources import SkippedFile
from tracekit.present.render.sections import (
    Column,
    Heading,
    Section,
    fixed,
    integer,
    json_rows,
    percent,
    significant,
)
from tracekit.present.report import Presentable
from tracekit.stats.intervals import QUANTILE_METHOD, min_n_for_quantile

if TYPE_CHECKING:
    from tracekit.analysis.selection import Selection

ANALYSIS_FORMAT: Final = "tracekit.analysis"
ANALYSIS_VERSION: Final = 1
APPROXIMATE_NOTE: Final = (
    "APPROXIMATE (analyze --fast): from the files' summaries; percentiles, max and mean "
    "from log-bucket histograms (within 1%), counts exact; error shares, attribution "
    "and parallel symbols need rows (run without --fast)."
)

_KEY_COLUMNS = (
    Column("run_id", "run"),
    Column("symbol", "symbol"),
    Column("window_start", "window (UTC)"),
)
_MS = significant(2)
"""Milliseconds: two decimals, and three significant digits below 1 ms (a 5 µs stage
shows as 0.00512, not 0.00)."""


@dataclasses.dataclass(frozen=True, repr=False)
class Analysis(Presentable):
    """Everything ``tracekit analyze`` reports, as polars DataFrames.

    Attributes:
        files: Files read.
        skipped: Files left out with ``skip_bad``.
        runs: Run ids present (a file's ``run_id=`` folder names its run).
        sample_rates: Each run's sampling rate, or its rates in session order when
            it was resumed with another rate.
        selection: Filters applied.
        by: Grouping keys (``symbol``, ``run_id``).
        every: Time-window width (e.g. ``1m``) or None.
        stages: Per stage: n, p50_ms, p95_ms, p99_ms, max_ms, mean_ms (inclusive
            time); unless ``self_time=False``, also self_p50_ms, self_p95_ms, self_p99_ms,
            self_mean_ms (exclusive of child spans).
        deadline: Per deadline: ticks, misses, miss_rate and its 95% Wilson interval.
        attribution: For missed ticks with detail: the component with the largest
            self time.
        guards: Guard trips by reason: trips, per_1000_ticks, share.
        requests: Exchange requests by verb and api: latency and error_share.
        parallel: Parallel symbols per tick: n, min, mean, max.
        weighted: Whether sampled rows were weighted by 1 / sample_rate (the files'
            rates differ).
        duplicates: Files left out because another file holds the same ticks.
        run_overrides: Files whose ``run_id=`` folder names another run than their rows.
        approximate: Built from the files' summaries (``analyze --fast``,
            :mod:`tracekit.analysis.fast`): percentiles, max and mean within about 1%.
    """

    files: tuple[str, ...]
    skipped: tuple[SkippedFile, ...]
    runs: list[str]
    sample_rates: dict[str, float | list[float]]
    selection: Selection
    by: tuple[str, ...]
    every: str | None
    stages: pl.DataFrame
    deadline: pl.DataFrame
    attribution: pl.DataFrame
    guards: pl.DataFrame
    requests: pl.DataFrame
    parallel: pl.DataFrame
    weighted: bool = False
    duplicates: tuple[DuplicateFile, ...] = ()
    run_overrides: tuple[RunOverride, ...] = ()
    approximate: bool = False

    def notices(self) -> list[str]:
        """One line per thing about the inputs a reader should know: files left out
        as duplicates, files counted under their folder's run."""
        lines = [f"counted once: {duplicate.reason}" for duplicate in self.duplicates]
        lines += [
            f"{override.path}: its rows say run {override.rows_run_id}, its folder "
            f"run_id={override.run_id}; counted as run {override.run_id} (as DuckDB, "
            "polars and pyarrow read it)"
            for override in self.run_overrides
        ]
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The analysis in the versioned JSON shape documented in ``docs/analysis.md``."""
        marker = (
            {"approximate": True, "approximation": APPROXIMATE_NOTE} if self.approximate else {}
        )
        return {
            **marker,
            "format": ANALYSIS_FORMAT,
            "version": ANALYSIS_VERSION,
            "tracekit_version": __version__,
            "quantile_method": QUANTILE_METHOD,
            "inputs": {
                "files": len(self.files),
                "runs": self.runs,
                "sample_rates": self.sample_rates,
                "weighted": self.weighted,
                "skipped": [dataclasses.asdict(skipped) for skipped in self.skipped],
                "duplicates": [dataclasses.asdict(duplicate) for duplicate in self.duplicates],
                "run_overrides": [dataclasses.asdict(item) for item in self.run_overrides],
            },
            "selection": self.selection.to_dict(),
            "by": list(self.by),
            "every": self.every,
            "stages": json_rows(_iso_times(self.stages)),
            "deadline": json_rows(_iso_times(self.deadline)),
            "attribution": json_rows(_iso_times(self.attribution)),
            "guards": json_rows(_iso_times(self.guards)),
            "requests": json_rows(_iso_times(self.requests)),
            "parallel_symbols": json_rows(_iso_times(self.parallel)),
        }

    def heading(self) -> Heading:
        """What was read (files, runs) and the notices about the inputs."""
        title = "tracekit analysis (approximate)" if self.approximate else "tracekit analysis"
        return Heading(
            title=title,
            headline=f"{title}: {self.summary()}",
            lines=(f"{len(self.files)} files, runs: {', '.join(self.runs)}",),
            notices=tuple(self.notices()),
        )

    def tables(self) -> list[Section]:
        """Every table, the empty ones too (the CSV of any table)."""
        return self.sections(all_sections=True)

    def sections(self, *, all_sections: bool = False) -> list[Section]:
        """The tables of the report, in order.

        Args:
            all_sections: Keep sections with no rows (the CSV of any table). By
                default the attribution, guard, request and parallel-symbol
                sections are left out when they have no data (a loop without
                misses, guards, exchange requests or symbols), and the last section
                shown says once which were left out.
        """
        sections = self._all_sections()
        if all_sections:
            return sections
        optional = {"attribution", "guards", "requests", "parallel"}
        empty = [
            section
            for section in sections
            if section.name in optional
            and (
                section.frame.height == 0
                or (section.name == "parallel" and int(section.frame["n"].sum()) == 0)
            )
        ]
        left_out = {section.name for section in empty}
        shown = [section for section in sections if section.name not in left_out]
        if empty:
            titles = ", ".join(section.title.lower() for section in empty)
            last = shown[-1]
            note = f"{last.note} " if last.note else ""
            shown[-1] = dataclasses.replace(last, note=f"{note}Not shown, no data: {titles}.")
        return shown

    def _all_sections(self) -> list[Section]:
        latency = (
            Column("n", "n", integer, True),
            Column("p50_ms", "p50 ms", _MS, True),
            Column("p95_ms", "p95 ms", _MS, True),
            Column("p99_ms", "p99 ms", _MS, True),
            Column("max_ms", "max ms", _MS, True),
            Column("mean_ms", "mean ms", _MS, True),
        )
        too_few = (
            f"— : too few samples to estimate (p95 needs n ≥ {min_n_for_quantile(0.95)}, "
            f"p99 n ≥ {min_n_for_quantile(0.99)}). Quantiles: {QUANTILE_METHOD} interpolation."
        )
        weighted = (
            " Weighted by 1 / sample rate (the files' rates differ)." if self.weighted else ""
        )
        approximate = f"{APPROXIMATE_NOTE} " if self.approximate else ""
        label = " (approximate)" if self.approximate else ""
        return [
            Section(
                "stages",
                "Stage latency" + label,
                _iso_times(self.stages),
                (
                    Column("stage", "stage"),
                    *_KEY_COLUMNS,
                    *latency,
                    Column("self_p95_ms", "self p95 ms", _MS, True),
                    Column("self_mean_ms", "self mean ms", _MS, True),
                    Column("sketch", "shape (log)"),
                ),
                approximate
                + "Stages from sampled ticks only (unbiased); tick_total from every tick. "
                + (
                    "p50 to mean: inclusive time (child spans included); self: exclusive of "
                    "child spans (requests and stages inside the stage; self p50 and p99 in "
                    "JSON and CSV). "
                    if "self_mean_ms" in self.stages.columns
                    else "Inclusive times (child spans included). "
                )
                + too_few
                + weighted,
            ),
            Section(
                "deadline",
                "Deadline misses",
                _iso_times(self.deadline),
                (
                    *_KEY_COLUMNS,
                    Column("ticks", "ticks", integer, True),
                    Column("misses", "misses", integer, True),
                    Column("miss_rate", "miss rate", percent(2), True),
                    Column("miss_rate_low", "95% low", percent(2), True),
                    Column("miss_rate_high", "95% high", percent(2), True),
                    Column("misses_with_detail", "explained", integer, True),
                    Column("deadline_ms", "deadline ms", fixed(1), True),
                ),
                "Interval: Wilson score, 95%. 'explained': misses whose stage detail was kept. "
                "One row per deadline.",
            ),
            Section(
                "attribution",
                "What the missed ticks spent their time on",
                _iso_times(self.attribution),
                (
                    *_KEY_COLUMNS,
                    Column("component", "component"),
                    Column("ticks_dominated", "largest in", integer, True),
                    Column("share", "share", percent(1), True),
                    Column("self_mean_ms", "self ms", _MS, True),
                    Column("mean_ms", "inclusive ms", _MS, True),
                ),
                "Per missed tick, the component (stage, or request:api) with the largest "
                "self time (exclusive of child spans); concurrent symbols count as their "
                "slowest; a tie goes to the alphabetically first component.",
            ),
            Section(
                "guards",
                "Guard trips",
                _iso_times(self.guards),
                (
                    Column("reason", "reason"),
                    *_KEY_COLUMNS,
                    Column("trips", "trips", integer, True),
                    Column("per_1000_ticks", "per 1k ticks", fixed(2), True),
                    Column("share", "share", percent(1), True),
                ),
            ),
            Section(
                "requests",
                "Exchange requests" + label,
                _iso_times(self.requests),
                (
                    Column("verb", "verb"),
                    Column("api", "api"),
                    *_KEY_COLUMNS,
                    *latency,
                    Column("error_share", "errors", percent(2), True),
                ),
                approximate + "From sampled ticks only. " + too_few + weighted,
            ),
            Section(
                "parallel",
                "Parallel symbols per tick",
                _iso_times(self.parallel),
                (
                    *_KEY_COLUMNS,
                    Column("n", "ticks", integer, True),
                    Column("min", "min", integer, True),
                    Column("mean", "mean", fixed(2), True),
                    Column("max", "max", integer, True),
                ),
            ),
        ]

    def summary(self) -> str:
        """One line: what was read and the headline numbers (the ``repr``)."""
        parts = [f"{len(self.files):,} files", f"runs {', '.join(self.runs) or '—'}"]
        if self.skipped:
            parts.append(f"{len(self.skipped):,} skipped")
        if self.by:
            parts.append(f"by {', '.join(self.by)}")
        if self.every:
            parts.append(f"every {self.every}")
        if self.deadline.height and {"ticks", "misses"} <= set(self.deadline.columns):
            ticks = int(self.deadline["ticks"].sum())
            misses = int(self.deadline["misses"].sum())
            rate = f" ({100 * misses / ticks:.2f}%)" if ticks else ""
            parts.append(f"{ticks:,} ticks, {misses:,} deadline misses{rate}")
        stages = self.stages["stage"].n_unique() if "stage" in self.stages.columns else 0
        parts.append(f"{stages} stages")
        return "; ".join(parts)

    def __repr__(self) -> str:
        # The dataclass repr would print every file path and every DataFrame.
        return f"<Analysis: {self.summary()}>"


def _iso_times(frame: pl.DataFrame) -> pl.DataFrame:
    """``window_start`` as ISO 8601 text exact to the ns (``…T00:00:00.0000015Z``):
    one format for tables, JSON and CSV (a Python datetime would drop the ns)."""
    if "window_start" not in frame.columns:
        return frame
    return frame.with_columns(
        pl.col("window_start")
        .dt.epoch("ns")
        .map_elements(iso_ns, return_dtype=pl.String, skip_nulls=True)
    )
