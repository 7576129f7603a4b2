"""Calibration of the perf gate on synthetic data with known truth.

The gate must not flap between identical builds (REGRESSION in at most 5% of
seeds, autocorrelated ticks included) and must catch a real +10% p95 shift at
20,000 ticks per side (REGRESSION in at least 95% of seeds).
"""

from __future__ import annotations

import numpy as np
import pytest

from tracekit.decisions.gate import GateResult, Verdict, compare_profiles
from tracekit.decisions.policy import GatePolicy
from tracekit.decisions.profile import profile_from_durations

REPLICATES = 400


def lognormal_ticks(
    rng: np.random.Generator,
    n: int,
    *,
    median_ms: float = 100.0,
    sigma: float = 0.3,
    phi: float = 0.0,
) -> np.ndarray:
    """Lognormal tick durations whose log follows an AR(1) with coefficient phi."""
    noise = rng.standard_normal(n)
    z = np.empty(n)
    z[0] = noise[0]
    scale = np.sqrt(1.0 - phi * phi)
    for i in range(1, n):
        z[i] = phi * z[i - 1] + scale * noise[i]
    return np.exp(np.log(median_ms) + sigma * z)


def gate(baseline: np.ndarray, current: np.ndarray, seed: int = 0) -> GateResult:
    policy = GatePolicy(replicates=REPLICATES, seed=seed)
    return compare_profiles(
        profile_from_durations({"b": {"tick_total": baseline}}),
        profile_from_durations({"c": {"tick_total": current}}),
        policy,
    )


def p95_verdict(result: GateResult) -> Verdict:
    (metric,) = [m for m in result.metrics if m.stage == "tick_total" and m.metric == "p95"]
    return metric.verdict


@pytest.mark.parametrize("phi", [0.0, 0.6])
def test_identical_builds_rarely_regress(phi: float) -> None:
    seeds = 60
    regressions = 0
    flat_rule_failures = 0
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        baseline = lognormal_ticks(rng, 500, phi=phi)
        current = lognormal_ticks(rng, 500, phi=phi)
        regressions += p95_verdict(gate(baseline, current, seed)) is Verdict.REGRESSION
        ratio = np.quantile(current, 0.95) / np.quantile(baseline, 0.95)
        flat_rule_failures += ratio > 1.03
    assert regressions <= 0.05 * seeds
    # The naive rule the gate replaces flaps on the very same data.
    assert flat_rule_failures >= 0.15 * seeds


def test_real_ten_percent_shift_is_caught() -> None:
    seeds = 30
    caught = 0
    for seed in range(seeds):
        rng = np.random.default_rng(5000 + seed)
        baseline = lognormal_ticks(rng, 20_000, phi=0.3)
        current = lognormal_ticks(rng, 20_000, phi=0.3) * 1.10
        caught += p95_verdict(gate(baseline, current, seed)) is Verdict.REGRESSION
    assert caught >= 0.95 * seeds


def test_small_samples_are_never_pass() -> None:
    rng = np.random.default_rng(7)
    result = gate(lognormal_ticks(rng, 200), lognormal_ticks(rng, 200))
    p99 = next(m for m in result.metrics if m.stage == "tick_total" and m.metric == "p99")
    assert p99.verdict is Verdict.INCONCLUSIVE
    assert p99.reason.value == "too_few_samples"
    assert result.verdict is not Verdict.PASS


def test_verdict_is_reproducible_for_a_seed() -> None:
    rng = np.random.default_rng(11)
    baseline = lognormal_ticks(rng, 3000, phi=0.5)
    current = lognormal_ticks(rng, 3000, phi=0.5) * 1.02
    first = gate(baseline, current, seed=3)
    again = gate(baseline, current, seed=3)
    other = gate(baseline, current, seed=4)
    assert [m.to_dict() for m in first.metrics] == [m.to_dict() for m in again.metrics]
    assert [m.low for m in first.metrics] != [m.low for m in other.metrics]


def test_clear_improvement_passes() -> None:
    rng = np.random.default_rng(12)
    baseline = lognormal_ticks(rng, 20_000)
    current = lognormal_ticks(rng, 20_000) * 0.9
    assert gate(baseline, current).verdict is Verdict.PASS


def test_strict_needs_the_whole_interval_above_the_threshold() -> None:
    rng = np.random.default_rng(13)
    baseline = lognormal_ticks(rng, 20_000)
    current = lognormal_ticks(rng, 20_000) * 1.035  # just above the 3% threshold
    policy = GatePolicy(replicates=REPLICATES, strict=True)
    result = compare_profiles(
        profile_from_durations({"b": {"tick_total": baseline}}),
        profile_from_durations({"c": {"tick_total": current}}),
        policy,
    )
    assert p95_verdict(result) is not Verdict.REGRESSION
