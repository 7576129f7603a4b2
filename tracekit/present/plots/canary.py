"""Figures of a canary decision: control-vs-canary overlays and each criterion
against its limit."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from tracekit.present.plots.comparison import plot_forest, plot_overlays

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from tracekit.decisions.canary import CanaryResult, Check


@dataclasses.dataclass(frozen=True)
class _AgainstLimit:
    """A check as an interval metric: ``value / limit - 1`` (above 0 is over the limit)."""

    stage: str
    metric: str
    change: float
    low: float
    high: float
    threshold: float
    verdict: str


def _against_limit(check: Check) -> _AgainstLimit:
    def relative(value: float) -> float:
        if check.name == "p95_vs_control":  # a share over control: compare as ratios
            return (1.0 + value) / (1.0 + check.limit) - 1.0
        return value / check.limit - 1.0 if check.limit else value

    return _AgainstLimit(
        stage=check.name,
        metric="",
        change=relative(check.estimate),
        low=relative(check.low),
        high=relative(check.high),
        threshold=0.0,
        verdict=check.status.value,
    )


def plot_canary(
    result: CanaryResult, *, deadline_ms: float | None = 200.0, dpi: float = 100.0
) -> dict[str, Figure]:
    """The figures of a canary decision, by name, for :func:`save_figures`.

    Returns:
        ``{"overlays": ..., "criteria": ...}``: control-vs-canary tick_total CDFs
        (when the result kept its profiles), and every criterion's interval relative
        to its limit (``value / limit - 1``: left of 0 is within the limit).
    """
    figures: dict[str, Figure] = {}
    if result.control_profile is not None and result.canary_profile is not None:
        figures["overlays"] = plot_overlays(
            result.control_profile,
            result.canary_profile,
            labels=("control", "canary"),
            deadline_ms=deadline_ms,
            title=f"Canary phase {result.phase}: control vs canary",
            dpi=dpi,
        )
    figures["criteria"] = plot_forest(
        [_against_limit(check) for check in result.checks],
        title=f"Canary phase {result.phase}, look {result.look}: {result.decision.value}",
        caption="each criterion relative to its limit (value / limit - 1); intervals are a "
        f"confidence sequence, {result.multiplier:.2f} standard errors wide at this look",
        interval_label="interval",
        absolute_metrics=(),
        value_label="position relative to the limit: value / limit - 1 (0 = at the limit)",
        dpi=dpi,
    )
    return figures
