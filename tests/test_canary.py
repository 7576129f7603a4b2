"""tracekit canary: decisions, the error spending across looks, and the command."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tracekit.decisions.canary import (
    CanaryPolicy,
    Decision,
    PhaseCriteria,
    Status,
    judge,
    look_alpha,
)
from tracekit.decisions.profile import Profile, profile_from_durations

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def ticks(seed: int, n: int, factor: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.lognormal(math.log(100.0), 0.3, n) * factor


def profile(values: np.ndarray, name: str = "run") -> Profile:
    return profile_from_durations({name: {"tick_total": values}})


def test_alpha_spending_sums_to_alpha() -> None:
    assert sum(look_alpha(0.05, k) for k in range(1, 100_000)) == pytest.approx(0.05, rel=1e-4)
    assert look_alpha(0.05, 2) == pytest.approx(look_alpha(0.05, 1) / 4)


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


def delta_only(alpha: float) -> CanaryPolicy:
    criteria = PhaseCriteria(p95_max_ms=None, miss_rate_max=None, p95_delta_max=0.15)
    return CanaryPolicy(phases={1: criteria}, alpha=alpha, replicates=200)


def test_repeated_looks_do_not_inflate_false_rollbacks() -> None:
    """At the boundary (canary exactly +15%), rolling back is always a false alarm.

    Each simulated rollout looks 6 times on a growing sample. With the error spent
    per look, a false rollback at any look stays within alpha; judging every look
    at the full alpha instead rolls back far more often.
    """
    simulations, looks, per_look = 60, 6, 400
    spent_false = naive_false = 0
    naive = delta_only(0.05 * math.pi**2 / 6)  # look 1 of this policy spends 0.05
    spent = delta_only(0.05)
    for seed in range(simulations):
        control_all = ticks(10_000 + seed, looks * per_look)
        canary_all = ticks(20_000 + seed, looks * per_look, 1.15)
        spent_rolled = naive_rolled = False
        for look in range(1, looks + 1):
            control = profile(control_all[: look * per_look])
            canary = profile(canary_all[: look * per_look])
            spent_rolled |= judge(control, canary, 1, spent, look).decision is Decision.ROLLBACK
            naive_rolled |= judge(control, canary, 1, naive, 1).decision is Decision.ROLLBACK
        spent_false += spent_rolled
        naive_false += naive_rolled
    assert spent_false <= 0.05 * simulations + 1
    assert naive_false > spent_false


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracekit", *args],
        capture_output=True,
        text=True,
        check=False,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )


def test_samples_canary_is_promoted_in_every_phase(tmp_path: Path) -> None:
    control, canary = str(SAMPLES / "canary" / "control"), str(SAMPLES / "canary" / "canary")
    for phase in ("1", "2", "3"):
        result = run("canary", control, canary, "--phase", phase, "--format", "json")
        assert result.returncode == 0, result.stdout + result.stderr
        document = json.loads(result.stdout)
        assert document["format"] == "tracekit.canary"
        assert document["decision"] == "PROMOTE"
        names = {check["name"] for check in document["checks"]}
        if phase == "3":
            assert "requests_per_tick_drop" in names
            drop = next(c for c in document["checks"] if c["name"] == "requests_per_tick_drop")
            assert drop["high"] < 0.6
        if phase == "2":
            assert "hard_guard_trips" in names
    reported = run("canary", control, canary, "--report", str(tmp_path / "canary.md"))
    assert reported.returncode == 0
    assert (tmp_path / "canary.md").read_text().startswith("# tracekit canary: PROMOTE")


def test_rollback_and_continue_exit_codes(tmp_path: Path) -> None:
    control = tmp_path / "control.json"
    slow = tmp_path / "slow.json"
    short = tmp_path / "short.json"
    profile(ticks(1, 5000)).write(control)
    profile(ticks(2, 5000, 1.5)).write(slow)
    profile(ticks(3, 200, 1.1)).write(short)
    rolled = run("canary", str(control), str(slow))
    assert rolled.returncode == 1
    assert "ROLLBACK" in rolled.stdout
    assert run("canary", str(control), str(short)).returncode == 3


def test_last_window_judges_fewer_ticks() -> None:
    control, canary = str(SAMPLES / "canary" / "control"), str(SAMPLES / "canary" / "canary")
    result = run("canary", control, canary, "--last", "2m", "--format", "json")
    assert result.returncode in (0, 3)
    document = json.loads(result.stdout)
    assert 0 < document["canary_ticks"] < 3000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--phase", "9"], "phase 9 is not configured"),
        (["--look", "0"], "--look must be 1 or more"),
        (["--last", "soon"], "--last 'soon' is not a positive number"),
    ],
)
def test_bad_input_exits_2(args: list[str], message: str) -> None:
    control, canary = str(SAMPLES / "canary" / "control"), str(SAMPLES / "canary" / "canary")
    result = run("canary", control, canary, *args)
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_canary_config_section(tmp_path: Path) -> None:
    config = tmp_path / "rollout.yaml"
    config.write_text("canary:\n  phases:\n    1: {p95_max_ms: 100}\n")
    policy = CanaryPolicy.from_yaml(config)
    assert policy.phases[1].p95_max_ms == 100
    assert policy.phases[3].requests_drop_min == pytest.approx(0.40)
    control, canary = str(SAMPLES / "canary" / "control"), str(SAMPLES / "canary" / "canary")
    strict = run("canary", control, canary, "--config", str(config))
    assert strict.returncode == 1  # p95 ~ 144 ms is over the 100 ms configured
    config.write_text("canary:\n  phases:\n    1: {p95_maximum: 100}\n")
    bad = run("canary", control, canary, "--config", str(config))
    assert bad.returncode == 2
    assert "unknown key canary.phases.1.p95_maximum" in bad.stderr


def test_plot_folder_gets_the_canary_figures(tmp_path: Path) -> None:
    control, canary = str(SAMPLES / "canary" / "control"), str(SAMPLES / "canary" / "canary")
    result = run("canary", control, canary, "--phase", "3", "--plot", str(tmp_path / "plots"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "criteria.png",
        "overlays.png",
    ]
    assert sorted(result.stderr.splitlines()) == sorted(
        f"Wrote {tmp_path / 'plots' / name}" for name in ("criteria.png", "overlays.png")
    )
    assert all(p.stat().st_size > 10_000 for p in (tmp_path / "plots").iterdir())
