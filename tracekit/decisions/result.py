"""The result of ``tracekit compare``: verdicts as data, rendered anywhere.

The verdict is decided in :mod:`tracekit.decisions.gate`; this module only shows it
(rich, Markdown for a pull-request comment, versioned JSON) and maps it to an exit
code.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from tracekit import exit_codes
from tracekit._version import __version__
from tracekit.decisions.gate import GateResult, Verdict, required_ticks
from tracekit.present.render.sections import Column, Section, fixed, to_markdown, to_rich

if TYPE_CHECKING:
    from rich.console import RenderableType

    from tracekit.decisions.profile import Profile

COMPARISON_FORMAT: Final = "tracekit.comparison"
COMPARISON_VERSION: Final = 1

EXIT_CODES: Final = {
    Verdict.PASS: exit_codes.OK,
    Verdict.REGRESSION: exit_codes.FAIL,
    Verdict.INCONCLUSIVE: exit_codes.INCONCLUSIVE,
}


def _signed_percent(value: Any) -> str:
    if value is None:
        return "—"
    return f"{100 * value:+.1f}%"


def _why(row: dict[str, Any]) -> str:
    """A short human reason; the JSON keeps the machine-readable one."""
    reason = row["reason"]
    limit = row["threshold"]
    if reason == "too_few_samples":
        return "too few samples"
    if reason == "stage_missing_in_current":
        return "stage missing in current"
    if reason == "new_stage":
        return "new stage"
    if reason == "within_threshold":
        return f"≤ {100 * limit:+.1f}%"
    if reason == "above_threshold":
        return f"> {100 * limit:+.1f}%"
    if reason == "above_threshold_not_significant":
        return f"> {100 * limit:+.1f}%, not significant"
    mde = row.get("mde")
    return f"spans {100 * limit:+.1f}%" + ("" if mde is None else f", MDE {100 * mde:.1f}%")


def _interval(row: dict[str, Any]) -> str:
    if row["low"] is None or row["high"] is None:
        return "—"
    return f"[{100 * row['low']:+.1f}%, {100 * row['high']:+.1f}%]"


@dataclasses.dataclass(frozen=True)
class Comparison:
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
            pl.Series("interval", [_interval(row) for row in rows], dtype=pl.String),
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
            "bootstrap": {
                "method": "moving-block (runs resampled first when a side has several)",
                "replicates": policy.replicates,
                "seed": policy.seed,
                "confidence": f"two-sided {1 - 2 * policy.alpha:.0%} (each bound one-sided "
                f"{1 - policy.alpha:.0%})",
            },
            "policy": policy.to_dict(),
            "metrics": [metric.to_dict() for metric in result.metrics],
            "attribution": [dataclasses.asdict(shift) for shift in result.attribution],
            "ticks_to_decide": required_ticks(result.metrics, result.current_ticks),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

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
                    Column("baseline", "baseline", fixed(3), True),
                    Column("current", "current", fixed(3), True),
                    Column("change", "Δ", _signed_percent, True),
                    Column("interval", "90% interval", numeric=True),
                    Column("verdict", "verdict"),
                    Column("why", "why"),
                    Column("shape", "current (log)"),
                ),
                f"Quantiles in ms, miss_rate as a share (Δ in points). Bootstrap: moving "
                f"blocks, B={policy.replicates}, seed={policy.seed}; each bound one-sided "
                f"{1 - policy.alpha:.0%}. MDE: smallest change this n can detect. "
                f"Baseline: {self.baseline_source} ({self.result.baseline_ticks:,} ticks); "
                f"current: {self.current_source} ({self.result.current_ticks:,} ticks).",
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
                        Column("baseline_mean_ms", "baseline mean ms", fixed(2), True),
                        Column("current_mean_ms", "current mean ms", fixed(2), True),
                        Column("shift_ms", "shift ms", fixed(2), True),
                        Column("share_of_tick_shift", "share of tick shift", _share, True),
                    ),
                    "Stages run partly concurrently, so shares need not add up to 100%.",
                )
            )
        needed = required_ticks(self.result.metrics, self.result.current_ticks)
        if self.verdict is Verdict.INCONCLUSIVE and needed is not None:
            sections[0] = dataclasses.replace(
                sections[0],
                note=sections[0].note
                + f" About {needed:,} ticks per side would decide the inconclusive metrics.",
            )
        return sections

    def to_markdown(self) -> str:
        icon = {"PASS": "✅", "REGRESSION": "❌", "INCONCLUSIVE": "⚠️"}[self.verdict.value]
        return f"# {icon} tracekit perf gate: {self.verdict.value}\n\n" + to_markdown(
            self.sections()
        )

    def __rich__(self) -> RenderableType:
        return to_rich(self.sections())

    def _repr_html_(self) -> str:
        parts = [f"<h4>tracekit compare: {self.verdict.value}</h4>"]
        for section in self.sections():
            parts.append(section.frame._repr_html_())
        return "\n".join(parts)


def _share(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"
