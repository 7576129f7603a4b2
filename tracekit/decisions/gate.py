"""The perf gate: compare two profiles metric by metric, and decide once.

For every stage and ``tick_total``, and each of p50, p95 and p99:

* the point estimate is current / baseline of the exact quantiles (the figures
  ``tracekit analyze`` prints), from the histograms for old profiles;
* the interval is a 90% interval of that ratio (each bound one-sided 95%), from
  Woodruff's method with block variances that allow for bursts
  (:mod:`tracekit.stats.intervals`), Student's t with Welch's degrees of freedom;
* a metric PASSes when its upper bound is within the allowed change, where the
  allowed change is the threshold or, for a small stage, the minimum effect in ms
  (whichever is larger); it REGRESSes when the point estimate exceeds the allowed
  change and "no increase" is rejected after Holm's correction within its family;
  otherwise it is INCONCLUSIVE.

The verdict: REGRESSION if any metric regressed; else PASS if every *critical*
metric passed (by default tick_total p95 and p99 and the miss rate: what the data
of an ordinary run can decide); else INCONCLUSIVE. The chance of a false
REGRESSION verdict is split: 80% of alpha for the critical metrics, 20% for all
the others together, so the verdict, not each metric, is what alpha controls.
"""

from __future__ import annotations

import dataclasses
import math
from enum import StrEnum
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from tracekit.decisions.measure import SideMeasure
from tracekit.decisions.policy import DEADLINE, MISS_RATE, QUANTILE_METRICS, GatePolicy
from tracekit.decisions.verdicts import Verdict, finite_or_none
from tracekit.errors import InputError
from tracekit.stats.intervals import (
    MIN_EFFECTIVE_EXCEEDANCES,
    log_ratio,
    min_effective_observations,
    min_observations,
    rate_difference_interval,
    t_quantile,
    t_survival,
    welch_degrees_of_freedom,
)
from tracekit.stats.multiplicity import holm_rejections
from tracekit.stats.sample_size import MAX_FACTOR, ticks_to_decide
from tracekit.store.schema import TICK_TOTAL

if TYPE_CHECKING:
    from tracekit.decisions.profile import Profile


class Reason(StrEnum):
    """Machine-readable reasons (the ``reason`` field of the JSON)."""

    WITHIN_THRESHOLD = "within_threshold"
    ABOVE_THRESHOLD = "above_threshold"
    ABOVE_THRESHOLD_NOT_SIGNIFICANT = "above_threshold_not_significant"
    INTERVAL_SPANS_THRESHOLD = "interval_spans_threshold"
    TOO_FEW_SAMPLES = "too_few_samples"
    STAGE_MISSING = "stage_missing_in_current"
    NEW_STAGE = "new_stage"


@dataclasses.dataclass(frozen=True)
class MetricResult:
    """The verdict on one metric of one stage.

    Attributes:
        stage: Stage name, ``tick_total`` or ``deadline``.
        metric: ``p50``, ``p95``, ``p99`` or ``miss_rate``.
        baseline: Baseline value (ms, or a rate in [0, 1]).
        current: Current value.
        change: Ratio - 1 for quantiles; difference of rates for miss_rate.
        low: Lower bound of ``change`` (one-sided 1 - alpha).
        high: Upper bound of ``change``.
        threshold: The policy's allowed change.
        allowed: The allowed change applied: the threshold, or the minimum effect
            in ms relative to the baseline when that is larger.
        verdict: PASS, REGRESSION, INCONCLUSIVE or NEW.
        reason: Why, machine-readable.
        critical: Whether it decides PASS (see the module docstring).
        n_baseline: Observations on the baseline side (stages: spans of sampled ticks).
        n_current: Observations on the current side.
        n_effective_baseline: ``n_baseline`` divided by the design effect of bursts.
        n_effective_current: The same for the current side.
        p_value: One-sided p-value of "no increase" (before Holm's correction).
        mde: Minimum detectable change at this n (half the interval's width).
        ticks_to_decide: For an undecided critical metric: ticks per side at which
            it would decide four times out of five.
    """

    stage: str
    metric: str
    baseline: float | None
    current: float | None
    change: float | None
    low: float | None
    high: float | None
    threshold: float
    allowed: float
    verdict: Verdict
    reason: Reason
    critical: bool
    n_baseline: int
    n_current: int
    n_effective_baseline: float | None = None
    n_effective_current: float | None = None
    p_value: float | None = None
    mde: float | None = None
    ticks_to_decide: int | None = None

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["verdict"] = self.verdict.value
        values["reason"] = self.reason.value
        for key in ("n_effective_baseline", "n_effective_current"):
            if values[key] is not None:
                values[key] = round(values[key], 1)
        return {key: finite_or_none(value) for key, value in values.items()}


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
    """Every metric's verdict and the overall outcome.

    Attributes:
        metrics: One per stage and metric, then the miss rate.
        attribution: Stage mean shifts, largest first.
        policy: The policy applied.
        sketches: Stage -> (baseline, current) sparklines of the latency distribution.
        baseline_ticks: Ticks on the baseline side.
        current_ticks: Ticks on the current side.
        baseline_runs: Runs on the baseline side.
        current_runs: Runs on the current side.
        deadline_ms: The deadline the traces recorded (None if they did not).
        ticks_to_decide: Ticks per side at which every undecided critical metric
            would likely decide; None when nothing is undecided.
        ticks_to_decide_capped: ``ticks_to_decide`` is a floor ("more than").
    """

    metrics: list[MetricResult]
    attribution: list[StageShift]
    policy: GatePolicy
    sketches: dict[str, tuple[str, str]]
    baseline_ticks: int
    current_ticks: int
    baseline_runs: int
    current_runs: int
    deadline_ms: float | None = None
    ticks_to_decide: int | None = None
    ticks_to_decide_capped: bool = False

    @property
    def verdict(self) -> Verdict:
        """REGRESSION if any metric regressed; else PASS if every critical metric passed."""
        if any(m.verdict is Verdict.REGRESSION for m in self.metrics):
            return Verdict.REGRESSION
        critical = [m for m in self.metrics if m.critical]
        if critical and all(m.verdict is Verdict.PASS for m in critical):
            return Verdict.PASS
        return Verdict.INCONCLUSIVE

    @property
    def undecided(self) -> list[MetricResult]:
        """The critical metrics that keep the verdict from PASS (when it is INCONCLUSIVE)."""
        return [m for m in self.metrics if m.critical and m.verdict is not Verdict.PASS]

    def advice(self) -> str | None:
        """What to do about an INCONCLUSIVE verdict, in words."""
        if self.verdict is not Verdict.INCONCLUSIVE:
            return None
        names = ", ".join(f"{m.stage} {m.metric}" for m in self.undecided) or "none"
        if self.ticks_to_decide is None:
            more = "more ticks per side"
        elif self.ticks_to_decide_capped:
            more = f"more than {self.ticks_to_decide:,} ticks per side (a noisier loop than "
            more += "a gate can judge: loosen the threshold or steady the benchmark)"
        else:
            more = f"about {self.ticks_to_decide:,} ticks per side"
        return (
            f"Not enough evidence to pass or fail ({names} undecided). Run {more}, or "
            "merge runs of both builds, or treat INCONCLUSIVE as a pass in CI."
        )


def compare_profiles(baseline: Profile, current: Profile, policy: GatePolicy) -> GateResult:
    """Judge ``current`` against ``baseline`` under ``policy``.

    Raises:
        InputError: A side is empty, the sides share no stage, or the policy names
            a stage neither side has.
    """
    for side, profile in (("baseline", baseline), ("current", current)):
        if profile.total_ticks == 0:
            raise InputError(f"{profile.source}: the {side} side holds no tick")
    every_stage = sorted({*baseline.stage_names(), *current.stage_names()})
    unknown = policy.unknown_stages(every_stage)
    if unknown:
        raise InputError(
            f"the gate policy names stages that neither side has: {', '.join(unknown)}; "
            f"the stages are: {', '.join(every_stage)}"
        )
    base_stages = [s for s in baseline.stage_names() if s not in policy.ignore]
    current_stages = [s for s in current.stage_names() if s not in policy.ignore]
    common = [s for s in base_stages if s in current_stages]
    if not common:
        raise InputError(
            f"{baseline.source} and {current.source} have no stage in common "
            f"(baseline: {', '.join(base_stages) or 'none'}; "
            f"current: {', '.join(current_stages) or 'none'})"
        )
    deadline_ms = current.deadline_ms or baseline.deadline_ms
    measured = SideMeasure(baseline), SideMeasure(current)
    critical_z = t_quantile(1.0 - policy.alpha, math.inf)
    metrics: list[MetricResult] = []
    for stage in common:
        for metric in QUANTILE_METRICS:
            metrics.append(_quantile_metric(stage, metric, measured, policy, deadline_ms))
    for stage in base_stages:
        if stage not in current_stages:
            metrics.extend(_missing_stage(stage, metric, baseline, policy) for metric in ("p95",))
    for stage in current_stages:
        if stage not in base_stages:
            metrics.append(_new_stage(stage, current))
    metrics.append(_miss_rate_metric(measured, policy))
    metrics = _apply_holm(metrics, policy)
    needed, capped = _ticks_to_decide(metrics, measured, critical_z)
    means = {stage: (measured[0].mean_ms(stage), measured[1].mean_ms(stage)) for stage in common}
    sketches = {stage: (_sketch(baseline, stage), _sketch(current, stage)) for stage in common}
    return GateResult(
        metrics=metrics,
        attribution=_attribution(means),
        policy=policy,
        sketches=sketches,
        baseline_ticks=baseline.total_ticks,
        current_ticks=current.total_ticks,
        baseline_runs=len(baseline.runs),
        current_runs=len(current.runs),
        deadline_ms=deadline_ms,
        ticks_to_decide=needed,
        ticks_to_decide_capped=capped,
    )


def _quantile_metric(
    stage: str,
    metric: str,
    measured: tuple[SideMeasure, SideMeasure],
    policy: GatePolicy,
    deadline_ms: float | None,
) -> MetricResult:
    quantile = QUANTILE_METRICS[metric]
    base = measured[0].quantile(stage, quantile)
    current = measured[1].quantile(stage, quantile)
    threshold = policy.threshold(stage, metric)
    allowed = threshold
    if base.value > 0:
        allowed = max(threshold, policy.min_effect(stage, deadline_ms) / base.value)
    common: dict[str, Any] = {
        "stage": stage,
        "metric": metric,
        "baseline": base.value,
        "current": current.value,
        "change": current.value / base.value - 1.0 if base.value > 0 else None,
        "threshold": threshold,
        "allowed": allowed,
        "critical": policy.is_critical(stage, metric),
        "n_baseline": base.observations,
        "n_current": current.observations,
        "n_effective_baseline": base.effective_observations,
        "n_effective_current": current.effective_observations,
    }
    if not (base.supported and current.supported) or not base.value > 0:
        return MetricResult(
            **common,
            low=None,
            high=None,
            verdict=Verdict.INCONCLUSIVE,
            reason=Reason.TOO_FEW_SAMPLES,
        )
    ratio = log_ratio(base, current)
    t = t_quantile(1.0 - policy.alpha, ratio.degrees_of_freedom)
    low, high = ratio.bounds(t)
    p_value = _p_no_increase(ratio.log_ratio, ratio.standard_error, ratio.degrees_of_freedom)
    verdict, reason = _decide(math.expm1(ratio.log_ratio), low, high, allowed, policy.strict)
    return MetricResult(
        **common,
        low=low,
        high=high,
        verdict=verdict,
        reason=reason,
        p_value=p_value,
        mde=(high - low) / 2.0,
    )


def _p_no_increase(change: float, standard_error: float, degrees_of_freedom: float) -> float:
    """One-sided p-value of "no increase" for ``change`` with its standard error (t tails)."""
    if standard_error > 0:
        return t_survival(change / standard_error, degrees_of_freedom)
    return 0.0 if change > 0 else 1.0


def _decide(
    change: float, low: float, high: float, allowed: float, strict: bool
) -> tuple[Verdict, Reason]:
    """PASS, REGRESSION (before Holm) or INCONCLUSIVE from an interval and the allowed change."""
    if high <= allowed:
        return Verdict.PASS, Reason.WITHIN_THRESHOLD
    if strict:
        if low > allowed:
            return Verdict.REGRESSION, Reason.ABOVE_THRESHOLD
        return Verdict.INCONCLUSIVE, Reason.INTERVAL_SPANS_THRESHOLD
    if change > allowed and low > 0.0:
        return Verdict.REGRESSION, Reason.ABOVE_THRESHOLD
    if change > allowed:
        return Verdict.INCONCLUSIVE, Reason.ABOVE_THRESHOLD_NOT_SIGNIFICANT
    return Verdict.INCONCLUSIVE, Reason.INTERVAL_SPANS_THRESHOLD


def _apply_holm(metrics: list[MetricResult], policy: GatePolicy) -> list[MetricResult]:
    """Holm's step-down within each family: a REGRESSION stands only if rejected there.

    The critical metrics form one family at ``policy.critical_alpha``, all others
    one at ``policy.stage_alpha``; the two add up to alpha, so the chance of any
    false REGRESSION verdict is at most alpha. ``strict`` has no p-values to
    correct: its regressions already clear the threshold with the whole interval.
    """
    if policy.strict:
        return metrics
    rejected: set[int] = set()
    for critical, alpha in ((True, policy.critical_alpha), (False, policy.stage_alpha)):
        family = [
            index
            for index, m in enumerate(metrics)
            if m.critical is critical and m.p_value is not None
        ]
        decisions = holm_rejections([metrics[i].p_value or 1.0 for i in family], alpha)
        rejected.update(index for index, hit in zip(family, decisions, strict=True) if hit)
    result = []
    for index, metric in enumerate(metrics):
        if (
            metric.verdict is Verdict.REGRESSION
            and metric.p_value is not None
            and index not in rejected
        ):
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
        allowed=policy.threshold(stage, metric),
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
        allowed=0.0,
        verdict=Verdict.NEW,
        reason=Reason.NEW_STAGE,
        critical=False,
        n_baseline=0,
        n_current=int(sum(current.merged(stage).values())),
    )


def _miss_rate_metric(
    measured: tuple[SideMeasure, SideMeasure], policy: GatePolicy
) -> MetricResult:
    base, current = measured[0].miss_rate(), measured[1].miss_rate()
    z = NormalDist().inv_cdf(1.0 - policy.alpha)
    difference, low, high = rate_difference_interval(base, current, z)
    threshold = policy.threshold(DEADLINE, MISS_RATE)
    spread = math.sqrt(base.variance + current.variance)
    effective_events = base.rate * base.effective_trials + current.rate * current.effective_trials
    if effective_events < MIN_EFFECTIVE_EXCEEDANCES:
        # Too few (effective) misses for a test of "no increase" to mean anything:
        # such a rate can pass on its interval, never fail on a p-value.
        p_value = 1.0
    else:
        freedom = welch_degrees_of_freedom(
            (base.variance, current.variance),
            (base.degrees_of_freedom, current.degrees_of_freedom),
        )
        p_value = _p_no_increase(difference, spread, freedom)
    verdict, reason = _decide(difference, low, high, threshold, policy.strict)
    return MetricResult(
        stage=DEADLINE,
        metric=MISS_RATE,
        baseline=base.rate,
        current=current.rate,
        change=difference,
        low=low,
        high=high,
        threshold=threshold,
        allowed=threshold,
        verdict=verdict,
        reason=reason,
        critical=policy.is_critical(DEADLINE, MISS_RATE),
        n_baseline=base.trials,
        n_current=current.trials,
        n_effective_baseline=base.effective_trials,
        n_effective_current=current.effective_trials,
        p_value=p_value,
        mde=(high - low) / 2.0,
    )


def _ticks_to_decide(
    metrics: list[MetricResult], measured: tuple[SideMeasure, SideMeasure], z: float
) -> tuple[int | None, bool]:
    """Ticks per side at which every undecided critical metric would likely decide."""
    ticks = min(side.total_ticks for side in measured)
    needed: list[tuple[int, bool]] = []
    for metric in metrics:
        if not metric.critical or metric.verdict is not Verdict.INCONCLUSIVE:
            continue
        if metric.reason is Reason.TOO_FEW_SAMPLES:
            needed.append(_ticks_for_samples(metric, ticks))
            continue
        if metric.low is None or metric.high is None or metric.change is None:
            continue
        if metric.metric == MISS_RATE:
            change, allowed = metric.change, metric.allowed
            spread = (metric.high - metric.low) / (2.0 * z)
        else:
            change = math.log1p(metric.change)
            allowed = math.log1p(metric.allowed)
            spread = (math.log1p(metric.high) - math.log1p(metric.low)) / (2.0 * z)
        estimate = ticks_to_decide(ticks, spread, change, allowed, z, metric.low > 0)
        if estimate[0] is not None:
            needed.append((estimate[0], estimate[1]))
    if not needed:
        return None, False
    worst = max(needed)
    return worst[0], worst[1]


def _ticks_for_samples(metric: MetricResult, ticks: int) -> tuple[int, bool]:
    """Too few (effective) observations: scale the ticks up to the minimum needed."""
    quantile = QUANTILE_METRICS.get(metric.metric, 0.99)
    need = min_observations(quantile)
    have = min(metric.n_baseline, metric.n_current)
    effective = min(metric.n_effective_baseline or 0.0, metric.n_effective_current or 0.0)
    factors = [need / have if have else math.inf]
    if effective > 0:
        factors.append(min_effective_observations(quantile) / effective)
    factor = max(1.0, *factors)
    if not math.isfinite(factor) or factor > MAX_FACTOR:
        return math.ceil(ticks * MAX_FACTOR), True
    return math.ceil(ticks * factor), False


def _sketch(profile: Profile, stage: str) -> str:
    import numpy as np

    from tracekit.present.render.sketch import sketch_bin, sparkline_from_bins
    from tracekit.stats.histogram import bucket_values_ms

    bins: dict[int, float] = {}
    histogram = profile.merged(stage)
    if not histogram:
        return ""
    indexes = np.array(sorted(histogram), dtype=np.int64)
    for index, value in zip(indexes.tolist(), bucket_values_ms(indexes).tolist(), strict=True):
        key = sketch_bin(value * 1e6)
        bins[key] = bins.get(key, 0.0) + histogram[index]
    return sparkline_from_bins(bins, width=12)


def _attribution(means: dict[str, tuple[float, float]]) -> list[StageShift]:
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
