"""tracekit canary: decisions, repeated looks, absorbing decisions, defaults, the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import SAMPLES, run_in_process
from synthetic import Durations, lognormal_ticks, synthetic_profile
from test_compare_calibration import at_least, at_most

from tracekit.decisions.canary import CanaryState, judge
from tracekit.decisions.policy import CanaryPolicy, Limit
from tracekit.decisions.profile import Profile
from tracekit.decisions.verdicts import Decision, Status
from tracekit.errors import ConfigError
from tracekit.stats.sequential import mixture_multiplier

CONTROL, CANARY = str(SAMPLES / "canary" / "control"), str(SAMPLES / "canary" / "canary")


def ticks(seed: int, n: int, factor: float = 1.0, phi: float = 0.0) -> Durations:
    """Lognormal ticks (median 100 ms) whose logs are a stationary AR(1)."""
    return lognormal_ticks(seed, n, phi=phi, factor=factor)


def profile(values: Durations, deadline_ms: float = 200.0) -> Profile:
    return synthetic_profile({"run": {"tick_total": values}}, deadline_ms=deadline_ms)


def only(**criteria: object) -> CanaryPolicy:
    """A phase 1 with only the given criteria switched on."""
    off: dict[str, object] = {"p95_max_ms": None, "miss_rate_max": None, "p95_delta_max": None}
    return CanaryPolicy(phases={1: {**off, **criteria}})


def test_the_confidence_sequence_is_wider_than_one_interval_and_tightest_where_planned() -> None:
    at_plan = mixture_multiplier(10_000, 10_000, 0.05)
    assert 2.9 < at_plan < 3.1  # against 1.96 for a single 95% interval
    assert mixture_multiplier(1_000, 10_000, 0.05) > at_plan
    assert mixture_multiplier(100_000, 10_000, 0.05) > at_plan
    assert mixture_multiplier(10**9, 10_000, 0.05) < 6  # grows only like sqrt(log n)


def test_identical_builds_promote_with_enough_ticks() -> None:
    result = judge(profile(ticks(1, 20_000)), profile(ticks(2, 20_000)), phase=1)
    assert result.decision is Decision.PROMOTE
    assert [c.status for c in result.checks] == [Status.MET] * 3
    assert result.exit_code() == 0


def test_a_slow_canary_rolls_back_with_reasons() -> None:
    result = judge(profile(ticks(1, 5000)), profile(ticks(2, 5000, 1.4)), phase=1)
    assert result.decision is Decision.ROLLBACK
    assert "p95_vs_control" in result.reasons
    assert "miss_rate_below_limit" in result.reasons  # 1.4x pushes misses far above 2%
    assert result.exit_code() == 1


def test_too_few_ticks_continue_and_say_how_many_more() -> None:
    result = judge(profile(ticks(1, 300)), profile(ticks(2, 300, 1.12)), phase=1)
    assert result.decision is Decision.CONTINUE
    assert result.ticks_to_decide is not None
    assert result.ticks_to_decide > 300
    assert result.exit_code() == 3


def rollout(
    control_all: np.ndarray,
    canary_all: np.ndarray,
    policy: CanaryPolicy,
    looks: int,
    per_look: int,
    deadline_ms: float = 200.0,
) -> list[Decision]:
    """The decisions of one phase judged ``looks`` times on a growing sample, with state."""
    state: CanaryState | None = None
    decisions = []
    for look in range(1, looks + 1):
        result = judge(
            profile(control_all[: look * per_look], deadline_ms),
            profile(canary_all[: look * per_look], deadline_ms),
            1,
            policy,
            state=state,
        )
        state = result.state
        decisions.append(result.decision)
    return decisions


@pytest.mark.slow
def test_six_looks_at_the_boundary_rarely_roll_back() -> None:
    """Canary exactly +15% over control, AR(1) ticks: every ROLLBACK is a false one."""
    simulations, looks, per_look = 60, 6, 1000
    false_rollbacks = 0
    for seed in range(simulations):
        decisions = rollout(
            ticks(10_000 + seed, looks * per_look, phi=0.5),
            ticks(20_000 + seed, looks * per_look, 1.15, phi=0.5),
            only(p95_delta_max=0.15),
            looks,
            per_look,
        )
        false_rollbacks += Decision.ROLLBACK in decisions
    assert at_most(false_rollbacks, simulations, 0.05), false_rollbacks


@pytest.mark.slow
def test_bursty_misses_at_the_limit_rarely_roll_back() -> None:
    """Misses at exactly 2%, in bursts (AR(1) on the latency): false ROLLBACK <= 5%."""
    simulations, looks, per_look = 60, 6, 2000
    false_rollbacks = 0
    deadline = float(np.quantile(ticks(99, 1_000_000), 0.98))  # the stationary 98th percentile
    for seed in range(simulations):
        canary = ticks(30_000 + seed, looks * per_look, phi=0.9)
        decisions = rollout(
            ticks(40_000 + seed, looks * per_look, phi=0.9),
            canary,
            only(miss_rate_max=0.02),
            looks,
            per_look,
            deadline,
        )
        false_rollbacks += Decision.ROLLBACK in decisions
    assert at_most(false_rollbacks, simulations, 0.05), false_rollbacks


@pytest.mark.slow
def test_a_real_regression_rolls_back_and_the_decision_stands() -> None:
    """p95 +20% at 2,000 ticks a look: ROLLBACK by look 6, and never undone."""
    simulations, looks, per_look = 30, 6, 2000
    rolled_back = 0
    for seed in range(simulations):
        decisions = rollout(
            ticks(50_000 + seed, looks * per_look, phi=0.3),
            ticks(60_000 + seed, looks * per_look, 1.20, phi=0.3),
            CanaryPolicy(),
            looks,
            per_look,
        )
        rolled_back += decisions[-1] is Decision.ROLLBACK
        first = next((i for i, d in enumerate(decisions) if d is not Decision.CONTINUE), None)
        if first is not None:
            assert set(decisions[first:]) == {decisions[first]}, decisions
    assert at_least(rolled_back, simulations, 0.90), rolled_back


def test_a_state_from_another_phase_starts_afresh() -> None:
    control, canary = profile(ticks(1, 5000)), profile(ticks(2, 5000, 1.5))
    rolled = judge(control, canary, 1)
    assert rolled.decision is Decision.ROLLBACK
    assert rolled.state is not None
    fine = judge(control, profile(ticks(3, 20_000)), 1, state=rolled.state)
    assert fine.decision is Decision.ROLLBACK
    assert fine.settled_at == 1
    assert fine.look == 2
    other = judge(control, profile(ticks(3, 20_000)), 2, state=rolled.state)
    assert other.look == 1
    assert other.settled_at is None


def test_defaults_follow_the_recorded_deadline() -> None:
    """Traces with a 50 ms deadline are judged against 50 ms, not the bot's 200 ms."""
    fast = ticks(1, 5000, 0.3)  # p95 about 49 ms
    result = judge(profile(fast, 50.0), profile(fast * 1.2, 50.0), 1)
    check = next(c for c in result.checks if c.name == "p95_below_limit")
    assert check.limit == 50.0
    assert result.deadline_ms == 50.0
    assert result.deadline_recorded


def test_later_phases_inherit_what_earlier_phases_set() -> None:
    policy = CanaryPolicy(phases={1: {"p95_max_ms": 150}})
    phase3 = policy.criteria(3)
    assert phase3 is not None
    assert phase3.p95_max_ms == Limit(ms=150.0)
    assert phase3.p99_max_ms == Limit(deadline_multiple=1.25)
    assert phase3.requests_drop_min is None  # the batching criterion only when configured
    assert policy.criteria(4) is None


def test_zero_hard_trips_on_both_sides_are_met() -> None:
    result = judge(profile(ticks(1, 3000)), profile(ticks(2, 3000)), 2)
    trips = next(c for c in result.checks if c.name == "hard_guard_trips")
    assert trips.status is Status.MET
    assert trips.estimate == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 7.0}, "canary.alpha must be a number in (0, 0.5), got 7.0"),
        ({"planned_ticks": 5}, "canary.planned_ticks must be a whole number >= 100, got 5"),
        ({"phases": {1: {"p95_max_ms": "soon"}}}, "canary.phases.1: canary criterion p95_max_ms"),
        ({"phases": {1: {"p95_maximum": 1}}}, "unknown key canary.phases.1.p95_maximum"),
        ({"phases": {0: {}}}, "canary.phases key 0 must be a phase number >= 1"),
    ],
)
def test_a_policy_is_checked_when_built(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        CanaryPolicy(**kwargs)  # type: ignore[arg-type]
    assert str(error.value).startswith(message)


def test_samples_canary_is_promoted_in_every_phase(tmp_path: Path) -> None:
    for phase in ("1", "2", "3"):
        result = run_in_process("canary", CONTROL, CANARY, "--phase", phase, "--format", "json")
        assert result.returncode == 0, result.stdout + result.stderr
        document = json.loads(result.stdout)
        assert document["format"] == "tracekit.canary"
        assert document["version"] == 2
        assert document["decision"] == "PROMOTE"
        names = {check["name"] for check in document["checks"]}
        assert "requests_per_tick_drop" not in names
        if phase == "3":
            assert "p99_below_limit" in names
        if phase != "1":
            assert "hard_guard_trips" in names
    reported = run_in_process("canary", CONTROL, CANARY, "--report", tmp_path / "canary.md")
    assert reported.returncode == 0
    assert (tmp_path / "canary.md").read_text().startswith("# tracekit canary: PROMOTE")


def test_the_batching_criterion_when_configured(tmp_path: Path) -> None:
    config = tmp_path / "rollout.yaml"
    config.write_text("canary:\n  phases:\n    3: {requests_drop_min: 0.40}\n")
    result = run_in_process(
        "canary", CONTROL, CANARY, "--phase", "3", "--config", config, "-f", "json"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    drop = next(
        c for c in json.loads(result.stdout)["checks"] if c["name"] == "requests_per_tick_drop"
    )
    assert drop["status"] == "met"
    assert drop["high"] < 0.6


def test_a_state_file_keeps_a_decision(tmp_path: Path) -> None:
    control = tmp_path / "control.json"
    slow = tmp_path / "slow.json"
    fine = tmp_path / "fine.json"
    profile(ticks(1, 5000)).write(control)
    profile(ticks(2, 5000, 1.5)).write(slow)
    profile(ticks(3, 20_000)).write(fine)
    state = tmp_path / "state.json"
    first = run_in_process("canary", control, slow, "--state", state, "-f", "json")
    assert first.returncode == 1
    assert json.loads(state.read_text())["looks"][0]["decision"] == "ROLLBACK"
    again = run_in_process("canary", control, fine, "--state", state, "-f", "json")
    assert again.returncode == 1
    document = json.loads(again.stdout)
    assert document["look"] == 2
    assert document["settled_at_look"] == 1
    state.write_text("{broken")
    broken = run_in_process("canary", control, fine, "--state", state)
    assert broken.returncode == 2
    assert broken.stderr.startswith(f"Error: {state}: not valid JSON")


def test_rollback_and_continue_exit_codes(tmp_path: Path) -> None:
    control = tmp_path / "control.json"
    slow = tmp_path / "slow.json"
    short = tmp_path / "short.json"
    profile(ticks(1, 5000)).write(control)
    profile(ticks(2, 5000, 1.5)).write(slow)
    profile(ticks(3, 200, 1.1)).write(short)
    rolled = run_in_process("canary", control, slow)
    assert rolled.returncode == 1
    assert "ROLLBACK" in rolled.stdout
    assert run_in_process("canary", control, short).returncode == 3


def test_last_window_judges_fewer_ticks() -> None:
    result = run_in_process("canary", CONTROL, CANARY, "--last", "2m", "--format", "json")
    assert result.returncode in (0, 3)
    document = json.loads(result.stdout)
    assert 0 < document["canary_ticks"] < 3000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--phase", "9"], "phase 9 is not configured"),
        (["--look", "0"], "the look number must be 1 or more"),
        (["--last", "soon"], "--last 'soon' is not a positive number"),
    ],
)
def test_bad_input_exits_2(args: list[str], message: str) -> None:
    result = run_in_process("canary", CONTROL, CANARY, *args)
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_canary_config_section(tmp_path: Path) -> None:
    config = tmp_path / "rollout.yaml"
    config.write_text("canary:\n  phases:\n    1: {p95_max_ms: 100}\n")
    policy = CanaryPolicy.from_yaml(config)
    phase3 = policy.criteria(3)
    assert phase3 is not None
    assert phase3.p95_max_ms == Limit(ms=100.0)
    strict = run_in_process("canary", CONTROL, CANARY, "--config", config)
    assert strict.returncode == 1  # p95 ~ 144 ms is over the 100 ms configured
    config.write_text("canary:\n  phases:\n    1: {p95_maximum: 100}\n")
    bad = run_in_process("canary", CONTROL, CANARY, "--config", config)
    assert bad.returncode == 2
    assert "unknown key canary.phases.1.p95_maximum" in bad.stderr
    config.write_text("canary:\n  replicates: 1000\n")
    removed = run_in_process("canary", CONTROL, CANARY, "--config", config)
    assert removed.returncode == 2
    assert "canary.replicates was removed" in removed.stderr


@pytest.mark.slow  # draws two full figures
def test_plot_folder_gets_the_canary_figures(tmp_path: Path) -> None:
    result = run_in_process("canary", CONTROL, CANARY, "--phase", "3", "--plot", tmp_path / "plots")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "criteria.png",
        "overlays.png",
    ]
    assert sorted(result.stderr.splitlines()) == sorted(
        f"Wrote {tmp_path / 'plots' / name}" for name in ("criteria.png", "overlays.png")
    )
    assert all(p.stat().st_size > 10_000 for p in (tmp_path / "plots").iterdir())
