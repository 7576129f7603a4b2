"""The result of ``tracekit analyze``: DataFrames plus what they were computed from.

One object renders everywhere: a rich table in the terminal (``__rich__``), HTML in
Jupyter (``_repr_html_``), Markdown, CSV and the versioned JSON of
``docs/analysis.md`` (:meth:`Analysis.to_dict`).
"""

from __future__ import annotations

import dataclasses
import html
import json
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from tracekit._version import __version__
from tracekit.analysis.sources import SkippedFile
from tracekit.present.render.sections import (
    Column,
    Section,
    fixed,
    integer,
    json_rows,
    percent,
    significant,
    to_html,
    to_markdown,
    to_rich,
)
from tracekit.stats.intervals import QUANTILE_METHOD, min_n_for_quantile

if TYPE_CHECKING:
    from rich.console import RenderableType

    from tracekit.analysis.selection import Selection

ANALYSIS_FORMAT: Final = "tracekit.analysis"
ANALYSIS_VERSION: Final = 1

_KEY_COLUMNS = (
    Column("run_id", "run"),
    Column("symbol", "symbol"),
    Column("window_start", "window (UTC)"),
)
_MS = significant(2)
"""Milliseconds: two decimals, and three significant digits below 1 ms (a 5 µs stage
shows as 0.00512, not 0.00)."""


@dataclasses.dataclass(frozen=True, repr=False)
class Analysis:
    """Everything ``tracekit analyze`` reports, as polars DataFrames.

    Attributes:
        files: Files read.
        skipped: Files left out with ``skip_bad``.
        runs: Run ids present.
        sample_rates: Each run's sampling rate.
        selection: Filters applied.
        by: Grouping keys (``symbol``, ``run_id``).
        every: Time-window width (e.g. ``1m``) or None.
        stages: Per stage: n, p50_ms, p95_ms, p99_ms, max_ms, mean_ms.
        deadline: ticks, misses, miss_rate and its 95% Wilson interval.
        attribution: For missed ticks with detail: the component that took longest.
        guards: Guard trips by reason: trips, per_1000_ticks, share.
        requests: Exchange requests by verb and api: latency and error_share.
        parallel: Parallel symbols per tick: n, min, mean, max.
    """

    files: tuple[str, ...]
    skipped: tuple[SkippedFile, ...]
    runs: list[str]
    sample_rates: dict[str, float]
    selection: Selection
    by: tuple[str, ...]
    every: str | None
    stages: pl.DataFrame
    deadline: pl.DataFrame
    attribution: pl.DataFrame
    guards: pl.DataFrame
    requests: pl.DataFrame
    parallel: pl.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """The analysis in the versioned JSON shape documented in ``docs/analysis.md``."""
        return {
            "format": ANALYSIS_FORMAT,
            "version": ANALYSIS_VERSION,
            "tracekit_version": __version__,
            "quantile_method": QUANTILE_METHOD,
            "inputs": {
                "files": len(self.files),
                "runs": self.runs,
                "sample_rates": self.sample_rates,
                "skipped": [dataclasses.asdict(skipped) for skipped in self.skipped],
            },
            "selection": self.selection.to_dict(),
            "by": list(self.by),
            "every": self.every,
            "stages": json_rows(self.stages),
            "deadline": json_rows(self.deadline),
            "attribution": json_rows(self.attribution),
            "guards": json_rows(self.guards),
            "requests": json_rows(self.requests),
            "parallel_symbols": json_rows(self.parallel),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2)

    def sections(self) -> list[Section]:
        """The tables of the report, in order."""
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
        return [
            Section(
                "stages",
                "Stage latency",
                self.stages,
                (
                    Column("stage", "stage"),
                    *_KEY_COLUMNS,
                    *latency,
                    Column("sketch", "shape (log)"),
                ),
                "Stages from sampled ticks only (unbiased); tick_total from every tick. " + too_few,
            ),
            Section(
                "deadline",
                "Deadline misses",
                self.deadline,
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
                "Interval: Wilson score, 95%. 'explained': misses whose stage detail was kept.",
            ),
            Section(
                "attribution",
                "What the missed ticks spent their time on",
                self.attribution,
                (
                    *_KEY_COLUMNS,
                    Column("component", "component"),
                    Column("ticks_dominated", "largest in", integer, True),
                    Column("share", "share", percent(1), True),
                    Column("mean_ms", "mean ms", _MS, True),
                ),
                "Per missed tick, the component (stage, or request:api) with the largest time; "
                "concurrent symbols count as their slowest.",
            ),
            Section(
                "guards",
                "Guard trips",
                self.guards,
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
                "Exchange requests",
                self.requests,
                (
                    Column("verb", "verb"),
                    Column("api", "api"),
                    *_KEY_COLUMNS,
                    *latency,
                    Column("error_share", "errors", percent(2), True),
                ),
                "From sampled ticks only. " + too_few,
            ),
            Section(
                "parallel",
                "Parallel symbols per tick",
                self.parallel,
                (
                    *_KEY_COLUMNS,
                    Column("n", "ticks", integer, True),
                    Column("min", "min", integer, True),
                    Column("mean", "mean", fixed(2), True),
                    Column("max", "max", integer, True),
                ),
            ),
        ]

    def to_markdown(self) -> str:
        """The report as Markdown."""
        header = f"# tracekit analysis\n\n{len(self.files)} files, runs: {', '.join(self.runs)}\n\n"
        return header + to_markdown(self.sections())

    def __rich__(self) -> RenderableType:
        return to_rich(self.sections())

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

    def _repr_html_(self) -> str:
        heading = f"<h4>tracekit analysis: {html.escape(self.summary())}</h4>"
        return heading + "\n" + to_html(self.sections())
