"""The perf gate: compare two profiles metric by metric, with intervals.

For each stage (and ``tick_total``) and each of p95 and p99:

* the point estimate is current / baseline of the histogram quantiles;
* the interval is the 5th..95th percentile of that ratio over B paired-up,
  independent replicates of each side (:mod:`tracekit.stats.bootstrap`): each
  bound is one-sided 95%;
* PASS when the upper bound is ≤ 1 + threshold; REGRESSION when the point estimate
  is > 1 + threshold and the lower bound is > 1 (for non-critical metrics: the
  bootstrap p-value of "ratio ≤ 1" passes Holm's step-down at alpha across the
  family); otherwise INCONCLUSIVE, with the minimum detectable effect at this n.
  ``strict`` calls REGRESSION only when the lower bound is > 1 + threshold;
* below the n that a distribution-free bound on the quantile needs (59 for p95,
  299 for p99, per side) the verdict is INCONCLUSIVE, never PASS.

The deadline-miss rate uses Newcombe's hybrid score interval for the difference of
two proportions (each bound one-sided 95%) against a threshold in percentage points.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from enum import StrEnum
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Final

from tracekit.decisions.policy import MISS_RATE, QUANTILE_METRICS, GatePolicy
from tracekit.errors import InputError
from tracekit.stats.bootstrap import replicate_weights
from tracekit.stats.histogram import bucket_values_ms, quantiles_from_counts

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from tracekit.decisions.profile import Profile


class Verdict(StrEnum):
    PASS = "PASS"
    REGRESSION = "REGRESSION"
    INCONCLUSIVE = "INCONCLUSIVE"
    NEW = "NEW"
    """A stage only the current side has: reported, not judged."""


class Reason(StrEnum):
    """Machine-readable reasons (the ``reason`` field of the JSON)."""

    WITHIN_THRESHOLD = "within_threshold"
    ABOVE_THRESHOLD = "above_threshold"
    ABOVE_THRESHOLD_NOT_SIGNIFICANT = "above_threshold_not_significant"
    INTERVAL_SPANS_THRESHOLD = "interval_spans_threshold"
    TOO_FEW_SAMPLES = "too_few_samples"
    STAGE_MISSING = "stage_missing_in_current"
    NEW_STAGE = "new_stage"


MIN_SAMPLES: Final = {"p95": 59, "p99": 299}
"""Per side: the smallest n for which the sample maximum is a one-sided 95% upper
confidence bound on the quantile (``1 - q**n >= 0.95``)."""


@dataclasses.dataclass(frozen=True)
class MetricResult:
    """The verdict on one metric of one stage.

    Attributes:
        stage: Stage name, ``tick_total`` or ``deadline``.
        metric: ``p95``, ``p99`` or ``miss_rate``.
        baseline: Baseline value (ms, or a rate in [0, 1]).
        current: Current value.
        change: Ratio - 1 for quantiles; difference in rate for miss_rate.
        low: Lower bound of ``change`` (one-sided 95%).
        high: Upper bound of ``change``.
        threshold: Allowed change.
        verdict: PASS, REGRESSION, INCONCLUSIVE or NEW.
        reason: Why, machine-readable.
        critical: Tested at the full alpha rather than within the Holm family.
        n_baseline: Observations on the baseline side.
        n_current: Observations on the current side.
        p_value: Bootstrap p-value of "no increase" (quantiles only).
        mde: Minimum detectable change at this n (half the interval's width).
    """

    stage: str
    metric: str
    baseline: float | None
    current: float | None
    change: float | None
    low: float | None
    high: float | None
    threshold: float
    verdict: Verdict
    reason: Reason
    critical: bool
    n_baseline: int
    n_current: int
    p_value: float | None = None
    mde: float | None = None

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["verdict"] = self.verdict.value
        values["reason"] = self.reason.value
        return {key: finite_or_none(value) for key, value in values.items()}


def finite_or_none(value: Any) -> Any:
    """``value``, or None for a NaN or infinite float (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclasses.dataclass(frozen=True)
class StageShift:
    """How much a stage's mean moved, to explain a tick_total regression."""

    stage: str
    baseline_mean_ms: float
    current_mean_ms: float
    shift_ms: float
    share_of_tick_shift: float | None


@dataclasses.dataclass(frozen=True)
class GateResult:
    """Every metric's verdict and the overall outcome."""

    metrics: list[MetricResult]
    attribution: list[StageShift]
    policy: GatePolicy
    sketches: dict[str, tuple[str, str]]
    """Stage -> (baseline, current) sparklines of the latency distribution."""
    baseline_ticks: int
    current_ticks: int
    baseline_runs: int
    current_runs: int

    @property
    def verdict(self) -> Verdict:
        """REGRESSION if any metric regressed; else INCONCLUSIVE if any was; else PASS."""
        judged = [m.verdict for m in self.metrics if m.verdict is not Verdict.NEW]
        if Verdict.REGRESSION in judged:
            return Verdict.REGRESSION
        if Verdict.INCONCLUSIVE in judged:
            return Verdict.INCONCLUSIVE
        return Verdict.PASS


def compare_profiles(baseline: Profile, current: Profile, policy: GatePolicy) -> GateResult:
    """Judge ``current`` against ``baseline`` under ``policy``.

    Raises:
        InputError: A side is empty, or the sides have no stage in common.
    """
    import numpy as np

    for side, profile in (("baseline", baseline), ("current", current)):
        if profile.total_ticks == 0:
            raise InputError(f"{profile.source}: the {side} side holds no tick")
    base_stages = [s for s in baseline.stage_names() if s not in policy.ignore]
    current_stages = [s for s in current.stage_names() if s not in policy.ignore]
    common = [s for s in base_stages if s in current_stages]
    if not common:
        raise InputError(
            f"{baseline.source} and {current.source} have no stage in common "
            f"(baseline: {', '.join(base_stages) or 'none'}; "
            f"current: {', '.join(current_stages) or 'none'})"
        )
    rng_base = np.random.default_rng([policy.seed, 0])
    rng_current = np.random.default_rng([policy.seed, 1])
    weights_base = replicate_weights(baseline.unit_counts(), policy.replicates, rng_base)
    weights_current = replicate_weights(current.unit_counts(), policy.replicates, rng_current)

    metrics: list[MetricResult] = []
    means: dict[str, tuple[float, float]] = {}
    sketches: dict[str, tuple[str, str]] = {}
    for stage in common:
        low = min(baseline.bucket_range(stage) or (0, 0))
        high = max(
            (baseline.bucket_range(stage) or (0, 0))[1], (current.bucket_range(stage) or (0, 0))[1]
        )
        low = min(low, (current.bucket_range(stage) or (low, low))[0])
        values = bucket_values_ms(np.arange(low, high + 1, dtype=np.int64))
        matrix_base = baseline.stage_matrix(stage, low, high)
        matrix_current = current.stage_matrix(stage, low, high)
        total_base = matrix_base.sum(axis=0)
        total_current = matrix_current.sum(axis=0)
        means[stage] = (_mean(total_base, values), _mean(total_current, values))
        sketches[stage] = (_sketch(total_base, values), _sketch(total_current, values))
        replicated_base = weights_base @ matrix_base
        replicated_current = weights_current @ matrix_current
        for metric, quantile in QUANTILE_METRICS.items():
            metrics.append(
                _quantile_metric(
                    stage,
                    metric,
                    quantile,
                    policy,
                    low,
                    total_base,
                    total_current,
                    replicated_base,
                    replicated_current,
                )
            )
    for stage in base_stages:
        if stage not in current_stages:
            for metric in QUANTILE_METRICS:
                metrics.append(_missing_stage(stage, metric, baseline, policy))
    for stage in current_stages:
        if stage not in base_stages:
            metrics.append(_new_stage(stage, current))
    metrics = _apply_holm(metrics, policy)
    metrics.append(_miss_rate_metric(baseline, current, policy))
    return GateResult(
        metrics=metrics,
        attribution=_attribution(means),
        policy=policy,
        sketches=sketches,
        baseline_ticks=baseline.total_ticks,
        current_ticks=current.total_ticks,
        baseline_runs=len(baseline.runs),
        current_runs=len(current.runs),
    )


def _sketch(counts: npt.NDArray[np.float64], values_ms: npt.NDArray[np.float64]) -> str:
    from tracekit.present.render.sketch import sketch_bin, sparkline_from_bins

    bins: dict[int, float] = {}
    for count, value in zip(counts.tolist(), values_ms.tolist(), strict=True):
        if count:
            key = sketch_bin(value * 1e6)
            bins[key] = bins.get(key, 0.0) + count
    return sparkline_from_bins(bins, width=12)


def _mean(counts: npt.NDArray[np.float64], values: npt.NDArray[np.float64]) -> float:
    total = float(counts.sum())
    return float((counts * values).sum() / total) if total else math.nan


def _quantile_metric(
    stage: str,
    metric: str,
    quantile: float,
    policy: GatePolicy,
    first_index: int,
    total_base: npt.NDArray[np.float64],
    total_current: npt.NDArray[np.float64],
    replicated_base: npt.NDArray[np.float64],
    replicated_current: npt.NDArray[np.float64],
) -> MetricResult:
    import numpy as np

    threshold = policy.threshold(stage, metric)
    critical = policy.is_critical(stage, metric)
    n_base = int(total_base.sum())
    n_current = int(total_current.sum())
    base_value = float(quantiles_from_counts(total_base, first_index, quantile)[0])
    current_value = float(quantiles_from_counts(total_current, first_index, quantile)[0])
    common: dict[str, Any] = {
        "stage": stage,
        "metric": metric,
        "baseline": base_value,
        "current": current_value,
        "threshold": threshold,
        "critical": critical,
        "n_baseline": n_base,
        "n_current": n_current,
    }
    change = current_value / base_value - 1.0
    needed = MIN_SAMPLES[metric]
    ratios = np.empty(0)
    if n_base >= needed and n_current >= needed:
        ratios = (
            quantiles_from_counts(replicated_current, first_index, quantile)
            / quantiles_from_counts(replicated_base, first_index, quantile)
            - 1.0
        )
        ratios = ratios[np.isfinite(ratios) & (ratios > -1.0)]
    if ratios.size < 2 or not math.isfinite(change):
        return MetricResult(
            **common,
            change=change,
            low=None,
            high=None,
            verdict=Verdict.INCONCLUSIVE,
            reason=Reason.TOO_FEW_SAMPLES,
        )
    low = float(np.quantile(ratios, policy.alpha))
    high = float(np.quantile(ratios, 1.0 - policy.alpha))
    p_value = _p_value_no_increase(change, ratios)
    verdict, reason = _decide(change, low, high, threshold, policy.strict)
    return MetricResult(
        **common,
        change=change,
        low=low,
        high=high,
        verdict=verdict,
        reason=reason,
        p_value=p_value,
        mde=(high - low) / 2.0,
    )


def _p_value_no_increase(change: float, ratios: npt.NDArray[np.float64]) -> float:
    """One-sided p-value of "no increase", from the bootstrap spread of the log ratio.

    A normal approximation rather than the share of replicates at or below 1: that
    share cannot go below ``1 / (B + 1)``, which would make Holm's first cut-off
    (``alpha / m``) unreachable for a modest B.
    """
    import numpy as np

    spread = float(np.std(np.log1p(ratios), ddof=1))
    if spread <= 0.0:
        return 0.0 if change > 0 else 1.0
    return 1.0 - NormalDist().cdf(math.log1p(change) / spread)


def _decide(
    change: float, low: float, high: float, threshold: float, strict: bool
) -> tuple[Verdict, Reason]:
    if high <= threshold:
        return Verdict.PASS, Reason.WITHIN_THRESHOLD
    if strict:
        if low > threshold:
            return Verdict.REGRESSION, Reason.ABOVE_THRESHOLD
        return Verdict.INCONCLUSIVE, Reason.INTERVAL_SPANS_THRESHOLD
    if change > threshold and low > 0.0:
        return Verdict.REGRESSION, Reason.ABOVE_THRESHOLD
    if change > threshold:
        return Verdict.INCONCLUSIVE, Reason.ABOVE_THRESHOLD_NOT_SIGNIFICANT
    return Verdict.INCONCLUSIVE, Reason.INTERVAL_SPANS_THRESHOLD


def _apply_holm(metrics: list[MetricResult], policy: GatePolicy) -> list[MetricResult]:
    """Holm's step-down over the non-critical metrics' regression tests.

    A non-critical REGRESSION stands only if its p-value passes Holm at
    ``policy.alpha`` across all non-critical quantile metrics; otherwise it becomes
    INCONCLUSIVE (above the threshold, not significant after correction).
    """
    family = [
        index
        for index, m in enumerate(metrics)
        if not m.critical and m.p_value is not None and not policy.strict
    ]

    def p_value(index: int) -> float:
        value = metrics[index].p_value
        return 1.0 if value is None else value

    family.sort(key=p_value)
    size = len(family)
    rejected: set[int] = set()
    for rank, index in enumerate(family):
        if p_value(index) > policy.alpha / (size - rank):
            break
        rejected.add(index)
    result = []
    for index, metric in enumerate(metrics):
        if index in family and metric.verdict is Verdict.REGRESSION and index not in rejected:
            metric = dataclasses.replace(
                metric,
                verdict=Verdict.INCONCLUSIVE,
                reason=Reason.ABOVE_THRESHOLD_NOT_SIGNIFICANT,
            )
        result.append(metric)
    return result


def _missing_stage(stage: str, metric: str, baseline: Profile, policy: GatePolicy) -> MetricResult:
    return MetricResult(
        stage=stage,
        metric=metric,
        baseline=None,
        current=None,
        change=None,
        low=None,
        high=None,
        threshold=policy.threshold(stage, metric),
        verdict=Verdict.REGRESSION,
        reason=Reason.STAGE_MISSING,
        critical=policy.is_critical(stage, metric),
        n_baseline=int(sum(baseline.merged(stage).values())),
        n_current=0,
    )


def _new_stage(stage: str, current: Profile) -> MetricResult:
    return MetricResult(
        stage=stage,
        metric="p95",
        baseline=None,
        current=None,
        change=None,
        low=None,
        high=None,
        threshold=0.0,
        verdict=Verdict.NEW,
        reason=Reason.NEW_STAGE,
        critical=False,
        n_baseline=0,
        n_current=int(sum(current.merged(stage).values())),
    )


Z_ONE_SIDED_95: Final = 1.6448536269514722


def newcombe_interval(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, z: float = Z_ONE_SIDED_95
) -> tuple[float, float, float]:
    """Newcombe's hybrid score interval for ``p_b - p_a``: (difference, low, high)."""
    from tracekit.stats.intervals import wilson_interval

    p_a = successes_a / trials_a
    p_b = successes_b / trials_b
    low_a, high_a = wilson_interval(successes_a, trials_a, z)
    low_b, high_b = wilson_interval(successes_b, trials_b, z)
    difference = p_b - p_a
    low = difference - math.sqrt((p_b - low_b) ** 2 + (high_a - p_a) ** 2)
    high = difference + math.sqrt((high_b - p_b) ** 2 + (p_a - low_a) ** 2)
    return difference, low, high


def _miss_rate_metric(baseline: Profile, current: Profile, policy: GatePolicy) -> MetricResult:
    misses_base, ticks_base = baseline.deadline_misses, baseline.total_ticks
    misses_current, ticks_current = current.deadline_misses, current.total_ticks
    difference, low, high = newcombe_interval(
        misses_base, ticks_base, misses_current, ticks_current
    )
    threshold = policy.miss_rate_pp / 100.0
    verdict, reason = _decide(difference, low, high, threshold, policy.strict)
    return MetricResult(
        stage="deadline",
        metric=MISS_RATE,
        baseline=misses_base / ticks_base,
        current=misses_current / ticks_current,
        change=difference,
        low=low,
        high=high,
        threshold=threshold,
        verdict=verdict,
        reason=reason,
        critical=policy.is_critical("deadline", MISS_RATE),
        n_baseline=ticks_base,
        n_current=ticks_current,
        mde=(high - low) / 2.0,
    )


def _attribution(means: dict[str, tuple[float, float]]) -> list[StageShift]:
    from tracekit.store.schema import TICK_TOTAL

    tick = means.get(TICK_TOTAL)
    tick_shift = (tick[1] - tick[0]) if tick is not None else math.nan
    shifts = []
    for stage, (base_mean, current_mean) in means.items():
        if stage == TICK_TOTAL:
            continue
        shift = current_mean - base_mean
        share = shift / tick_shift if tick_shift and math.isfinite(tick_shift) else None
        shifts.append(StageShift(stage, base_mean, current_mean, shift, share))
    return sorted(shifts, key=lambda s: -abs(s.shift_ms))


def required_ticks(metrics: Sequence[MetricResult], current_ticks: int) -> int | None:
    """Roughly how many ticks per side would make the inconclusive metrics decide.

    Interval widths shrink like 1/sqrt(n): for each INCONCLUSIVE metric with an
    interval, the n at which its half-width would fit between its change and its
    threshold. None when no such metric exists.
    """
    needed: list[float] = []
    for metric in metrics:
        if metric.verdict is not Verdict.INCONCLUSIVE:
            continue
        if metric.reason is Reason.TOO_FEW_SAMPLES:
            minimum = MIN_SAMPLES.get(metric.metric, 0)
            have = min(metric.n_baseline, metric.n_current) or 1
            needed.append(current_ticks * minimum / have)
            continue
        if metric.mde is None or metric.change is None:
            continue
        gap = abs(metric.threshold - metric.change)
        if gap <= 0 or metric.mde <= 0:
            continue
        needed.append(current_ticks * (metric.mde / gap) ** 2)
    return math.ceil(max(needed)) if needed else None
