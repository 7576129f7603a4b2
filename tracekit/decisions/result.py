"""The result of ``tracekit compare``: verdicts as data, rendered anywhere.

The verdict is decided in :mod:`tracekit.decisions.gate`; this module only describes
it (the Report protocol of :mod:`tracekit.present.report`: rich, Markdown for a
pull-request comment, versioned JSON, HTML) and maps it to an exit code.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from tracekit import exit_codes
from tracekit._version import __version__
from tracekit.decisions.gate import GateResult
from tracekit.decisions.policy import MISS_RATE
from tracekit.decisions.verdicts import EXIT_CODES, Verdict
from tracekit.present.render.sections import Column, Heading, Section, format_ms
from tracekit.present.report import Presentable

if TYPE_CHECKING:
    from tracekit.decisions.profile import Profile

COMPARISON_FORMAT: Final = "tracekit.comparison"
COMPARISON_VERSION: Final = 2

METHOD: Final = (
    "Woodruff intervals with block variances (bursts allowed), Student t with Welch's "
    "degrees of freedom; runs kept as they are (never resampled); Holm within the "
    "critical and the other metrics"
)


def _is_rate(row: dict[str, Any]) -> bool:
    return bool(row["metric"] == MISS_RATE)


def _change(row: dict[str, Any], value: Any) -> str:
    """A change: relative (%) for quantiles, percentage points for the miss rate."""
    if value is None:
        return "—"
    if _is_rate(row):
        return f"{100 * value:+.2f} pp"
    return f"{100 * value:+.1f}%"


def _value(row: dict[str, Any], value: Any) -> str:
    """A side's value: ms with enough digits for microseconds; the miss rate in %."""
    if value is None:
        return "—"
    if _is_rate(row):
        return f"{100 * value:.2f}%"
    return format_ms(value)


def _why(row: dict[str, Any]) -> str:
    """A short human reason; the JSON keeps the machine-readable one."""
    reason = row["reason"]
    limit = _change(row, row["allowed"])
    if reason == "too_few_samples":
        return "too few samples"
    if reason == "stage_missing_in_current":
        return "stage missing in current"
    if reason == "new_stage":
        return "new stage"
    if reason == "within_threshold":
        return f"≤ {limit}"
    if reason == "above_threshold":
        return f"> {limit}"
    if reason == "above_threshold_not_significant":
        return f"> {limit}, not significant"
    mde = row.get("mde")
    return f"spans {limit}" + ("" if mde is None else f", MDE {_change(row, mde).lstrip('+')}")


def _interval(row: dict[str, Any]) -> str:
    if row["low"] is None or row["high"] is None:
        return "—"
    return f"[{_change(row, row['low'])}, {_change(row, row['high'])}]"


_ICONS: Final = {Verdict.PASS: "✅", Verdict.REGRESSION: "❌", Verdict.INCONCLUSIVE: "⚠️"}
"""The verdict's mark in the title of the Markdown report (a pull-request comment)."""


@dataclasses.dataclass(frozen=True)
class Comparison(Presentable):
    """A gate result with where its sides came from.

    Attributes:
        result: The verdicts.
        baseline_source: Where the baseline came from, for people.
        current_source: Where the current side came from.
        baseline_profile: The baseline profile (for plots), when kept.
        current_profile: The current profile, when kept.
    """

    result: GateResult
    baseline_source: str
    current_source: str
    baseline_profile: Profile | None = dataclasses.field(default=None, repr=False)
    current_profile: Profile | None = dataclasses.field(default=None, repr=False)

    @property
    def verdict(self) -> Verdict:
        return self.result.verdict

    def exit_code(self, inconclusive_passes: bool = False) -> int:
        """0 PASS, 1 REGRESSION, 3 INCONCLUSIVE (0 with ``inconclusive_passes``)."""
        if self.verdict is Verdict.INCONCLUSIVE and inconclusive_passes:
            return exit_codes.OK
        return EXIT_CODES[self.verdict]

    def metrics_frame(self) -> pl.DataFrame:
        rows = [metric.to_dict() for metric in self.result.metrics]
        frame = pl.DataFrame(rows, infer_schema_length=None)
        sketches = self.result.sketches
        shapes = [
            sketches[row["stage"]][1] if row["metric"] == "p95" and row["stage"] in sketches else ""
            for row in rows
        ]
        return frame.with_columns(
            pl.Series("shown_baseline", [_value(r, r["baseline"]) for r in rows], dtype=pl.String),
            pl.Series("shown_current", [_value(r, r["current"]) for r in rows], dtype=pl.String),
            pl.Series("shown_change", [_change(r, r["change"]) for r in rows], dtype=pl.String),
            pl.Series("interval", [_interval(row) for row in rows], dtype=pl.String),
            pl.Series("role", ["✓" if row["critical"] else "" for row in rows], dtype=pl.String),
            pl.Series("n", [f"{r['n_baseline']:,}/{r['n_current']:,}" for r in rows]),
            pl.Series("why", [_why(row) for row in rows], dtype=pl.String),
            pl.Series("shape", shapes, dtype=pl.String),
        )

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON shape documented in ``docs/compare.md``."""
        result = self.result
        policy = result.policy
        return {
            "format": COMPARISON_FORMAT,
            "version": COMPARISON_VERSION,
            "tracekit_version": __version__,
            "verdict": self.verdict.value,
            "exit_code": self.exit_code(),
            "baseline": {
                "source": self.baseline_source,
                "ticks": result.baseline_ticks,
                "runs": result.baseline_runs,
            },
            "current": {
                "source": self.current_source,
                "ticks": result.current_ticks,
                "runs": result.current_runs,
            },
            "deadline_ms": result.deadline_ms,
            "method": {
                "intervals": METHOD,
                "confidence": f"two-sided {1 - 2 * policy.alpha:.0%} (each bound one-sided "
                f"{1 - policy.alpha:.0%})",
                "false_regression_rate": policy.alpha,
                "critical_alpha": policy.critical_alpha,
                "other_alpha": policy.stage_alpha,
            },
            "policy": policy.to_dict(),
            "metrics": [metric.to_dict() for metric in result.metrics],
            "attribution": [dataclasses.asdict(shift) for shift in result.attribution],
            "ticks_to_decide": result.ticks_to_decide,
            "ticks_to_decide_capped": result.ticks_to_decide_capped,
            "advice": result.advice(),
        }

    def heading(self) -> Heading:
        """The verdict: with its mark in Markdown, plain in Jupyter."""
        verdict = self.verdict.value
        return Heading(
            title=f"{_ICONS[self.verdict]} tracekit perf gate: {verdict}",
            headline=f"tracekit compare: {verdict}",
        )

    def sections(self) -> list[Section]:
        metrics = self.metrics_frame()
        policy = self.result.policy
        sections = [
            Section(
                "metrics",
                f"Verdict: {self.verdict.value}",
                metrics,
                (
                    Column("stage", "stage"),
                    Column("metric", "metric"),
                    Column("role", "crit"),
                    Column("shown_baseline", "baseline", numeric=True),
                    Column("shown_current", "current", numeric=True),
                    Column("shown_change", "Δ", numeric=True),
                    Column("interval", f"{1 - 2 * policy.alpha:.0%} interval", numeric=True),
                    Column("n", "n base/cur", numeric=True),
                    Column("verdict", "verdict"),
                    Column("why", "why"),
                    Column("shape", "current (log)"),
                ),
                self._note(),
            )
        ]
        tick = next(
            (m for m in self.result.metrics if m.stage == "tick_total" and m.metric == "p95"),
            None,
        )
        if self.result.attribution and tick is not None and (tick.change or 0.0) > 0:
            shifts = pl.DataFrame(
                [dataclasses.asdict(shift) for shift in self.result.attribution],
                infer_schema_length=None,
            )
            sections.append(
                Section(
                    "attribution",
                    "Which stages moved (mean shift)",
                    shifts,
                    (
                        Column("stage", "stage"),
                        Column("baseline_mean_ms", "baseline mean ms", format_ms, True),
                        Column("current_mean_ms", "current mean ms", format_ms, True),
                        Column("shift_ms", "shift ms", format_ms, True),
                        Column("share_of_tick_shift", "share of tick shift", _share, True),
                    ),
                    "Stages run partly concurrently, so shares need not add up to 100%.",
                )
            )
        return sections

    def _note(self) -> str:
        result = self.result
        policy = result.policy
        parts = [
            "Quantiles in ms; the miss rate in % (Δ in percentage points). ✓ marks the "
            "critical metrics: they decide PASS; the others explain, and fail the build "
            "only when significant after Holm's correction and above the minimum effect.",
            "Stage n counts spans of sampled ticks; tick_total n counts every tick.",
            f"Intervals: {METHOD}; each bound one-sided {1 - policy.alpha:.0%}; a false "
            f"REGRESSION verdict has at most a {policy.alpha:.0%} chance.",
            f"Baseline: {self.baseline_source} ({result.baseline_ticks:,} ticks, "
            f"{result.baseline_runs} run(s)); current: {self.current_source} "
            f"({result.current_ticks:,} ticks, {result.current_runs} run(s)).",
        ]
        advice = result.advice()
        if advice:
            parts.append(advice)
        return " ".join(parts)


def _share(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"
