"""The statistics of tracekit.stats, each against what it promises."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracekit.stats.batches import block_variance
from tracekit.stats.histogram import bucket_indexes
from tracekit.stats.intervals import quantile_estimate, rate_estimate
from tracekit.stats.multiplicity import holm_rejections
from tracekit.stats.quantiles import counts_at_or_below, histogram_quantiles
from tracekit.stats.sample_size import MAX_FACTOR, ticks_to_decide
from tracekit.stats.sequential import mixture_multiplier, ticks_until_decided


def histogram(values_ms: np.ndarray) -> tuple[np.ndarray, int]:
    indexes = bucket_indexes(values_ms * 1e6)
    first = int(indexes.min())
    return np.bincount(indexes - first).astype(np.float64), first


@given(
    st.lists(st.floats(0.001, 10_000.0), min_size=1, max_size=300),
    st.sampled_from([0.0, 0.01, 0.5, 0.95, 0.99, 1.0]),
)
def test_histogram_quantiles_are_within_a_bucket_of_the_linear_rule(
    values: list[float], quantile: float
) -> None:
    data = np.asarray(values)
    counts, first = histogram(data)
    estimate = float(histogram_quantiles(counts, first, quantile)[0])
    exact = float(np.quantile(data, quantile, method="linear"))
    assert estimate == pytest.approx(exact, rel=0.0101)


def test_histogram_quantiles_of_an_empty_histogram_are_nan() -> None:
    assert math.isnan(float(histogram_quantiles(np.zeros(3), 10, 0.5)[0]))


def test_counts_at_or_below_invert_the_quantiles() -> None:
    rng = np.random.default_rng(1)
    data = rng.lognormal(3, 0.5, 10_000)
    counts, first = histogram(data)
    for quantile in (0.1, 0.5, 0.95, 0.99):
        value = float(histogram_quantiles(counts, first, quantile)[0])
        share = float(counts_at_or_below(counts[None, :], first, value)[0]) / data.size
        assert share == pytest.approx(quantile, abs=2e-3)


def ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    noise = rng.standard_normal(n)
    out = np.empty(n)
    out[0] = noise[0]
    for i in range(1, n):
        out[i] = phi * out[i - 1] + math.sqrt(1 - phi * phi) * noise[i]
    return out


def blocks_of(indicator: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    usable = indicator[: indicator.size // size * size].reshape(-1, size)
    return usable.sum(axis=1).astype(np.float64), np.full(usable.shape[0], size, dtype=float)


@pytest.mark.slow  # many repeats of a long series
@pytest.mark.parametrize("phi", [0.0, 0.9])
def test_block_variance_matches_the_spread_across_repeats(phi: float) -> None:
    """The variance of a share of ticks above a cut-off, against 400 repeats."""
    rng = np.random.default_rng(2)
    shares, estimates = [], []
    for _ in range(400):
        above = (ar1(rng, 4000, phi) > 1.645).astype(float)
        numerators, denominators = blocks_of(above, 20)
        result = block_variance(numerators, denominators, np.zeros(numerators.size, dtype=np.int64))
        shares.append(result.value)
        estimates.append(result.variance)
    truth = float(np.var(shares, ddof=1))
    assert float(np.mean(estimates)) == pytest.approx(truth, rel=0.25)
    if phi == 0.0:
        assert truth == pytest.approx(0.05 * 0.95 / 4000, rel=0.2)


def test_block_variance_with_one_block_is_infinite() -> None:
    result = block_variance(np.array([3.0]), np.array([20.0]), np.zeros(1, dtype=np.int64))
    assert math.isinf(result.variance)


def test_design_effect_of_bursty_misses() -> None:
    rng = np.random.default_rng(3)
    bursty = (ar1(rng, 20_000, 0.95) > 2.0).astype(float)
    independent = (rng.standard_normal(20_000) > 2.0).astype(float)
    runs = np.zeros(1000, dtype=np.int64)
    assert rate_estimate(*blocks_of(bursty, 20), runs).effective_trials < 20_000 / 3
    assert rate_estimate(*blocks_of(independent, 20), runs).effective_trials > 20_000 / 1.5


def test_quantile_estimate_covers_the_truth_of_independent_ticks() -> None:
    rng = np.random.default_rng(4)
    true_p95 = math.exp(3 + 0.5 * 1.6448536269514722)
    covered = 0
    for _ in range(200):
        data = rng.lognormal(3, 0.5, 2000)
        indexes = bucket_indexes(data * 1e6)
        first = int(indexes.min())
        matrix = np.zeros((100, int(indexes.max()) - first + 1))
        for row in range(100):
            np.add.at(matrix[row], indexes[row * 20 : (row + 1) * 20] - first, 1.0)
        estimate = quantile_estimate(matrix, first, np.zeros(100, dtype=np.int64), 0.95)
        spread = 1.6448536269514722 * estimate.log_standard_error
        covered += abs(math.log(estimate.value / true_p95)) <= spread
    assert 0.84 <= covered / 200 <= 0.96  # a 90% interval, with binomial slack


def test_holm_is_step_down() -> None:
    assert holm_rejections([0.01, 0.04, 0.03, 0.005], 0.05) == [True, False, False, True]
    assert holm_rejections([0.001, 0.0125, 0.02], 0.05) == [True, True, True]
    assert holm_rejections([], 0.05) == []


def test_ticks_to_decide_assumes_no_change_inside_the_noise() -> None:
    """An estimate of +2.9% inside its noise does not make the answer explode."""
    near, _ = ticks_to_decide(1000, 0.02, math.log(1.029), math.log(1.03), 1.645, False)
    zero, _ = ticks_to_decide(1000, 0.02, 0.0, math.log(1.03), 1.645, False)
    assert near == zero
    assert zero is not None
    assert 1000 * 2 < zero < 1000 * 10


def test_ticks_to_decide_is_capped() -> None:
    needed, capped = ticks_to_decide(1000, 1.0, 0.0, 0.001, 1.645, False)
    assert capped
    assert needed == 1000 * MAX_FACTOR


def test_sequential_ticks_to_decide_meets_the_boundary() -> None:
    needed, capped = ticks_until_decided(1000, 0.05, 0.05, 10_000, 0.05)
    assert not capped
    assert needed is not None
    width = mixture_multiplier(needed, 10_000, 0.05) * 0.05 * math.sqrt(1000 / needed)
    assert width == pytest.approx(0.05, rel=1e-3)
