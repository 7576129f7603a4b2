"""Intervals: quantiles, their ratios and rates, from blocks of consecutive ticks.

Quantiles use linear interpolation between order statistics everywhere in
tracekit (numpy's default ``method="linear"``, DuckDB's ``quantile_cont``, polars'
``interpolation="linear"``).

**A quantile** (Woodruff's method): the share of observations at or below the
estimated quantile is a mean over blocks, so its standard error comes from
:func:`tracekit.stats.batches.block_variance`, which allows for bursts. Mapping
``q ± z·se`` back through the histogram's quantile function gives the interval of
the quantile itself without estimating a density; its width on the log scale,
divided by ``2 z``, is the standard error of the log quantile.

**A ratio of two sides** is judged on the log scale: the sides are independent,
so the variances add, with Welch-Satterthwaite degrees of freedom.

**A rate** (deadline misses): Wilson's score interval at the *effective* number of
ticks, the ticks divided by the design effect that the blocks measure (how much
more the rate varies between blocks than independent ticks would). Two rates:
Newcombe's hybrid score interval from those Wilson intervals.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Final

from tracekit.stats.batches import block_variance
from tracekit.stats.quantiles import counts_at_or_below, histogram_quantiles

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

QUANTILE_METHOD: Final = "linear"
"""The quantile method everywhere in tracekit; see the module docstring."""

PERCENTILES: Final = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
"""The percentiles reported per stage: (label, quantile)."""

Z_95_TWO_SIDED: Final = 1.959963984540054


def min_n_for_quantile(quantile: float) -> int:
    """The smallest sample for which analyze reports the q-th quantile.

    With fewer than ``1 / (1 - q)`` observations the linear estimate of the q-th
    quantile lies in the top gap of the sample, mostly the maximum itself, so
    analyze marks it as not estimable (p95 needs 20, p99 needs 100). At exactly
    that n it still interpolates towards the maximum; it is reported, with its n.
    """
    return math.ceil(round(1.0 / (1.0 - quantile), 9))


def wilson_interval(
    successes: float, trials: float, z: float = Z_95_TWO_SIDED
) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95% two-sided by default).

    Returns (nan, nan) when there are no trials.
    """
    if trials <= 0:
        return (math.nan, math.nan)
    p = successes / trials
    z2 = z * z
    denominator = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


WOODRUFF_Z: Final = 1.6448536269514722
"""How far (in standard errors of the share) the quantile function is probed."""

MIN_OBSERVATIONS: Final = {0.5: 10, 0.95: 59, 0.99: 299}
"""Per side, per quantile: the fewest observations an interval is given for (for a
tail quantile, the n at which the sample maximum is a one-sided 95% bound on it:
``1 - q**n >= 0.95``). Other quantiles: ``ceil(log(0.05) / log(q))``."""

MIN_EFFECTIVE_EXCEEDANCES: Final = 10
"""An interval also needs this many *effective* observations on the quantile's
thinner side (above a p95: 10 in 200), after bursts are accounted for: with fewer,
the block variances that the interval rests on are themselves too noisy to trust
(a p99 of 300 bursty ticks is set by two or three bursts)."""


def min_observations(quantile: float) -> int:
    """The fewest (raw) observations per side for an interval on ``quantile``."""
    known = MIN_OBSERVATIONS.get(quantile)
    if known is not None:
        return known
    return max(10, math.ceil(math.log(0.05) / math.log(max(quantile, 0.5))))


def min_effective_observations(quantile: float) -> float:
    """The fewest effective observations per side for an interval on ``quantile``."""
    thinner = min(quantile, 1.0 - quantile)
    return MIN_EFFECTIVE_EXCEEDANCES / thinner if thinner > 0 else math.inf


@dataclasses.dataclass(frozen=True)
class QuantileEstimate:
    """One side's estimate of one quantile.

    Attributes:
        value: The estimate, in ms.
        log_standard_error: Standard error of ``log(value)``; infinite when the
            data cannot support an interval (too few observations, effective or raw).
        degrees_of_freedom: For a t quantile.
        observations: Observations behind it.
        effective_observations: ``observations`` divided by the design effect.
    """

    value: float
    log_standard_error: float
    degrees_of_freedom: float
    observations: int
    effective_observations: float

    @property
    def supported(self) -> bool:
        """Whether there is enough data for an interval."""
        return math.isfinite(self.log_standard_error)


def quantile_estimate(
    matrix: npt.NDArray[np.float64],
    first_index: int,
    run_of_block: npt.NDArray[np.int64],
    quantile: float,
    point_ms: float | None = None,
) -> QuantileEstimate:
    """Woodruff's interval for one quantile of one side.

    Args:
        matrix: (blocks x buckets) counts, blocks in time order within runs.
        first_index: The bucket index of column 0.
        run_of_block: The run of each block.
        quantile: The probability, e.g. 0.95.
        point_ms: The exact estimate when it is known (from the raw durations);
            otherwise the histogram's.
    """
    import numpy as np

    pooled = matrix.sum(axis=0)
    observations = round(float(pooled.sum()))
    histogram_value = float(histogram_quantiles(pooled, first_index, quantile)[0])
    value = point_ms if point_ms is not None else histogram_value
    unsupported = QuantileEstimate(value, math.inf, 0.0, observations, 0.0)
    if observations < min_observations(quantile) or not histogram_value > 0:
        return unsupported
    below = counts_at_or_below(matrix, first_index, histogram_value)
    share = block_variance(below, matrix.sum(axis=1), run_of_block)
    independent = quantile * (1.0 - quantile) / observations
    design_effect = max(1.0, share.variance / independent) if independent > 0 else 1.0
    effective = observations / design_effect
    if not math.isfinite(share.variance) or effective < min_effective_observations(quantile):
        return QuantileEstimate(value, math.inf, 0.0, observations, effective)
    spread = WOODRUFF_Z * share.standard_error
    low, high = histogram_quantiles(
        pooled, first_index, np.array([quantile - spread, quantile + spread])
    )
    # The average of the two half widths: the max overstates a tail quantile's error
    # (its upper probe reaches into the sparse top of the sample).
    log_standard_error = (math.log(high) - math.log(low)) / (2.0 * WOODRUFF_Z)
    return QuantileEstimate(
        value, log_standard_error, share.degrees_of_freedom, observations, effective
    )


@dataclasses.dataclass(frozen=True)
class LogRatio:
    """``log(current / baseline)`` with its standard error.

    Attributes:
        log_ratio: The point estimate on the log scale.
        standard_error: Its standard error.
        degrees_of_freedom: Welch-Satterthwaite.
    """

    log_ratio: float
    standard_error: float
    degrees_of_freedom: float

    def bounds(self, multiplier: float) -> tuple[float, float]:
        """``(low, high)`` of the relative change (ratio - 1) at ``multiplier`` errors."""
        return (
            math.expm1(self.log_ratio - multiplier * self.standard_error),
            math.expm1(self.log_ratio + multiplier * self.standard_error),
        )


def log_ratio(baseline: QuantileEstimate, current: QuantileEstimate) -> LogRatio:
    """The log ratio of two independent sides' estimates."""
    difference = math.log(current.value / baseline.value)
    variances = (baseline.log_standard_error**2, current.log_standard_error**2)
    return LogRatio(
        difference,
        math.sqrt(sum(variances)),
        welch_degrees_of_freedom(
            variances, (baseline.degrees_of_freedom, current.degrees_of_freedom)
        ),
    )


def welch_degrees_of_freedom(
    variances: tuple[float, ...], degrees_of_freedom: tuple[float, ...]
) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of independent variances."""
    total = sum(variances)
    if not total > 0 or not math.isfinite(total):
        return 1.0
    denominator = sum(
        v * v / max(df, 1.0) for v, df in zip(variances, degrees_of_freedom, strict=True)
    )
    return total * total / denominator if denominator > 0 else 1.0


def t_quantile(probability: float, degrees_of_freedom: float) -> float:
    """The Student t quantile (normal beyond 1,000 degrees of freedom)."""
    from statistics import NormalDist

    if degrees_of_freedom > 1000 or not math.isfinite(degrees_of_freedom):
        return NormalDist().inv_cdf(probability)
    from scipy.special import stdtrit  # scipy.special: a tenth of scipy.stats' import time

    return float(stdtrit(max(degrees_of_freedom, 1.0), probability))


def t_survival(statistic: float, degrees_of_freedom: float) -> float:
    """``P(T > statistic)`` for Student's t."""
    from statistics import NormalDist

    if degrees_of_freedom > 1000 or not math.isfinite(degrees_of_freedom):
        return 1.0 - NormalDist().cdf(statistic)
    from scipy.special import stdtr

    return float(stdtr(max(degrees_of_freedom, 1.0), -statistic))


@dataclasses.dataclass(frozen=True)
class RateEstimate:
    """A rate over ticks (e.g. deadline misses) and what it is worth.

    Attributes:
        events: Ticks with the event.
        trials: Ticks.
        effective_trials: ``trials`` divided by the design effect (at most ``trials``).
        variance: The rate's variance allowing for bursts.
        degrees_of_freedom: Of that variance, for a t quantile.
    """

    events: int
    trials: int
    effective_trials: float
    variance: float
    degrees_of_freedom: float = math.inf

    @property
    def rate(self) -> float:
        return self.events / self.trials if self.trials else math.nan


def rate_estimate(
    events: npt.NDArray[np.float64],
    trials: npt.NDArray[np.float64],
    run_of_block: npt.NDArray[np.int64],
) -> RateEstimate:
    """A rate from per-block event and trial counts, with its design effect."""
    total_events = round(float(events.sum()))
    total_trials = round(float(trials.sum()))
    if total_trials == 0:
        return RateEstimate(0, 0, 0.0, math.inf, 0.0)
    rate = total_events / total_trials
    independent = rate * (1.0 - rate) / total_trials
    measured = block_variance(events, trials, run_of_block)
    if independent > 0 and math.isfinite(measured.variance):
        design_effect = max(1.0, measured.variance / independent)
    else:
        design_effect = 1.0
    return RateEstimate(
        total_events,
        total_trials,
        total_trials / design_effect,
        independent * design_effect,
        measured.degrees_of_freedom,
    )


def rate_interval(estimate: RateEstimate, z: float) -> tuple[float, float]:
    """Wilson's interval for one rate at its effective number of ticks."""
    return wilson_interval(estimate.rate * estimate.effective_trials, estimate.effective_trials, z)


def rate_difference_interval(
    baseline: RateEstimate, current: RateEstimate, z: float
) -> tuple[float, float, float]:
    """Newcombe's hybrid score interval for ``current.rate - baseline.rate``.

    Returns:
        ``(difference, low, high)``.
    """
    low_a, high_a = rate_interval(baseline, z)
    low_b, high_b = rate_interval(current, z)
    p_a, p_b = baseline.rate, current.rate
    difference = p_b - p_a
    low = difference - math.sqrt((p_b - low_b) ** 2 + (high_a - p_a) ** 2)
    high = difference + math.sqrt((high_b - p_b) ** 2 + (p_a - low_a) ** 2)
    return difference, low, high
