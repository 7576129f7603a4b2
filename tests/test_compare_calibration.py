"""Calibration of the perf gate's *verdict* on synthetic profiles with known truth.

Fast, library-level companions of the CLI grid in ``tests/test_gate_calibration_grid.py``
(which tallies the exit codes of the real command on golden traces). Every rate is
judged with its binomial slack stated: a rate "at most 5%" fails only when the
observed count would be below a 1% chance for a true 5% (``binomial_tail``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from synthetic import Durations, lognormal_ticks, synthetic_profile

from tracekit.decisions.gate import GateResult, compare_profiles
from tracekit.decisions.policy import GatePolicy
from tracekit.decisions.verdicts import Verdict


def binomial_tail(count: int, trials: int, rate: float) -> float:
    """``P(X >= count)`` for ``X ~ Binomial(trials, rate)``."""
    return sum(
        math.comb(trials, k) * rate**k * (1 - rate) ** (trials - k)
        for k in range(count, trials + 1)
    )


def at_most(count: int, trials: int, rate: float) -> bool:
    """``count`` of ``trials`` is consistent with a true rate of at most ``rate`` (1% level)."""
    return binomial_tail(count, trials, rate) >= 0.01


def at_least(count: int, trials: int, rate: float) -> bool:
    """``count`` of ``trials`` is consistent with a true rate of at least ``rate`` (1% level)."""
    return binomial_tail(trials - count, trials, 1 - rate) >= 0.01


def gate(baseline: Durations, current: Durations, policy: GatePolicy | None = None) -> GateResult:
    """Gate two single-run sides; one stage (half the tick) rides along."""
    return compare_profiles(
        synthetic_profile({"b": {"tick_total": baseline, "work": baseline / 2}}),
        synthetic_profile({"c": {"tick_total": current, "work": current / 2}}),
        policy or GatePolicy(),
    )


def test_the_binomial_slack_is_what_the_docstring_says() -> None:
    # 60 seeds at a true 5%: up to 7 failures pass (P(X >= 7) = 3%), 8 do not (1.0%).
    assert at_most(7, 60, 0.05)
    assert not at_most(8, 60, 0.05)
    # 30 seeds at a true 95%: 25 successes pass (P(X <= 25) = 1.6%), 24 do not (0.3%).
    assert at_least(25, 30, 0.95)
    assert not at_least(24, 30, 0.95)


@pytest.mark.slow
@pytest.mark.parametrize(("phi", "ticks"), [(0.0, 500), (0.6, 500), (0.9, 300), (0.9, 3000)])
def test_identical_builds_rarely_fail(phi: float, ticks: int) -> None:
    seeds = 60
    failed = 0
    flat_rule_failures = 0
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        baseline = lognormal_ticks(rng, ticks, phi=phi)
        current = lognormal_ticks(rng, ticks, phi=phi)
        failed += gate(baseline, current).verdict is Verdict.REGRESSION
        flat_rule_failures += int(np.quantile(current, 0.95) / np.quantile(baseline, 0.95) > 1.03)
    assert at_most(failed, seeds, 0.05), f"{failed} of {seeds} identical builds failed"
    # The naive rule the gate replaces flaps on the very same data.
    assert flat_rule_failures >= 0.15 * seeds


@pytest.mark.slow
def test_identical_long_runs_pass() -> None:
    seeds = 30
    passed = 0
    for seed in range(seeds):
        rng = np.random.default_rng(3000 + seed)
        baseline = lognormal_ticks(rng, 20_000)
        current = lognormal_ticks(rng, 20_000)
        passed += gate(baseline, current).verdict is Verdict.PASS
    assert at_least(passed, seeds, 0.80), f"only {passed} of {seeds} identical builds passed"


@pytest.mark.slow
@pytest.mark.parametrize("shift", [1.05, 1.10])
def test_a_real_shift_is_caught(shift: float) -> None:
    seeds = 30
    caught = 0
    for seed in range(seeds):
        rng = np.random.default_rng(5000 + seed)
        baseline = lognormal_ticks(rng, 20_000, phi=0.3)
        current = lognormal_ticks(rng, 20_000, phi=0.3) * shift
        caught += gate(baseline, current).verdict is Verdict.REGRESSION
    wanted = 0.95 if shift >= 1.10 else 0.80
    assert at_least(caught, seeds, wanted), f"{caught} of {seeds} caught at x{shift}"


def test_a_real_shift_on_few_ticks_never_passes() -> None:
    seeds = 60
    passed = 0
    for seed in range(seeds):
        rng = np.random.default_rng(7000 + seed)
        result = gate(lognormal_ticks(rng, 300), lognormal_ticks(rng, 300) * 1.10)
        passed += result.verdict is Verdict.PASS
    assert at_most(passed, seeds, 0.02)


def test_small_samples_are_never_pass() -> None:
    rng = np.random.default_rng(7)
    result = gate(lognormal_ticks(rng, 200), lognormal_ticks(rng, 200))
    p99 = next(m for m in result.metrics if m.stage == "tick_total" and m.metric == "p99")
    assert p99.verdict is Verdict.INCONCLUSIVE
    assert p99.reason.value == "too_few_samples"
    assert result.verdict is not Verdict.PASS


def test_the_verdict_is_deterministic() -> None:
    rng = np.random.default_rng(11)
    baseline = lognormal_ticks(rng, 3000, phi=0.5)
    current = lognormal_ticks(rng, 3000, phi=0.5) * 1.02
    first = gate(baseline, current)
    again = gate(baseline, current)
    assert [m.to_dict() for m in first.metrics] == [m.to_dict() for m in again.metrics]


def test_clear_improvement_passes() -> None:
    rng = np.random.default_rng(12)
    baseline = lognormal_ticks(rng, 20_000)
    current = lognormal_ticks(rng, 20_000) * 0.9
    assert gate(baseline, current).verdict is Verdict.PASS


def test_strict_needs_the_whole_interval_above_the_threshold() -> None:
    rng = np.random.default_rng(13)
    baseline = lognormal_ticks(rng, 20_000)
    current = lognormal_ticks(rng, 20_000) * 1.035  # just above the 3% threshold
    result = gate(baseline, current, GatePolicy(strict=True))
    p95 = next(m for m in result.metrics if m.stage == "tick_total" and m.metric == "p95")
    assert p95.verdict is not Verdict.REGRESSION


def test_a_sub_floor_change_is_never_a_regression() -> None:
    """A microsecond stage slowing by 10% is far below 0.1% of the deadline."""
    rng = np.random.default_rng(14)
    ticks = lognormal_ticks(rng, 20_000)
    tiny = lognormal_ticks(rng, 20_000, median_ms=0.006)
    slower = lognormal_ticks(rng, 20_000, median_ms=0.006) * 1.10
    result = compare_profiles(
        synthetic_profile({"b": {"tick_total": ticks, "guards": tiny}}),
        synthetic_profile({"c": {"tick_total": ticks, "guards": slower}}),
        GatePolicy(),
    )
    guards = [m for m in result.metrics if m.stage == "guards"]
    assert all(m.verdict is not Verdict.REGRESSION for m in guards)
    assert all(m.allowed > 1.0 for m in guards)  # 0.2 ms on a 0.006 ms stage
    floored = compare_profiles(
        synthetic_profile({"b": {"tick_total": ticks, "guards": tiny}}),
        synthetic_profile({"c": {"tick_total": ticks, "guards": slower}}),
        GatePolicy(min_effect_ms=0.0),
    )
    assert any(m.verdict is Verdict.REGRESSION for m in floored.metrics if m.stage == "guards")


def test_point_estimates_are_the_exact_linear_quantiles() -> None:
    rng = np.random.default_rng(15)
    baseline = lognormal_ticks(rng, 5000)
    current = lognormal_ticks(rng, 5000)
    result = gate(baseline, current)
    for metric in result.metrics:
        if metric.stage == "tick_total":
            q = {"p50": 0.5, "p95": 0.95, "p99": 0.99}[metric.metric]
            assert metric.baseline == pytest.approx(np.quantile(baseline, q), rel=1e-12)
            assert metric.current == pytest.approx(np.quantile(current, q), rel=1e-12)
