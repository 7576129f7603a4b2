"""The required rates of issue 9, measured by ``bench/calibrate.py`` on the real CLI.

Golden traces with known truth are written independently of tracekit's writer,
``tracekit compare`` / ``tracekit canary`` run on them in-process, and the EXIT
CODES are tallied (plus the coverage of compare's 90% intervals).

Binomial slack: each rate is measured on ``SEEDS`` seeds (``ROLLOUTS`` rollouts for
the canary). A bound "rate <= r" accepts counts up to the 99th percentile of
Binomial(n, r), a bound "rate >= r" down to its 1st percentile: a gate whose true
rate sits exactly at the requirement fails a given assertion with probability at
most 1%. With 30 seeds that is <= 5 of 30 for "<= 5%", >= 19 of 30 for ">= 80%",
>= 23 of 30 for ">= 90%", >= 25 of 30 for ">= 95%", <= 3 of 30 for "<= 2%" (30 seeds
cannot resolve 2%: the bound mainly catches a gate that often passes real
regressions). Coverage pools the quantile
metrics (p50/p95/p99 of tick_total and each stage) of a scenario, and of all
scenarios; the metrics of one comparison share data, so the binomial slack of a
coverage count assumes a design effect of 1.5 (an assumption, not a bound).

Sized for about 4 minutes on 2 cores (two worker processes).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SEEDS = int(os.environ.get("TRACEKIT_CALIBRATION_SEEDS", "30"))
"""Seeds per gate scenario (set the variable lower for a quick look; the slack follows)."""
ROLLOUTS = SEEDS
WORKERS = 2
CALIBRATE = Path(__file__).resolve().parents[1] / "bench" / "calibrate.py"

pytestmark = pytest.mark.slow


def load_calibrate() -> ModuleType:
    """Import bench/calibrate.py by path (registered as ``calibrate`` for the workers)."""
    if "calibrate" in sys.modules:
        return sys.modules["calibrate"]
    spec = importlib.util.spec_from_file_location("calibrate", CALIBRATE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["calibrate"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cal() -> ModuleType:
    return load_calibrate()


@pytest.fixture(scope="module")
def grid(cal: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The CI grid and both canary scenarios, run once for every test of this file."""
    return cal.run_grid(
        cal.ci_grid(),
        SEEDS,
        canary=cal.CANARY_SCENARIOS,
        canary_seeds=ROLLOUTS,
        workers=WORKERS,
        work_dir=tmp_path_factory.mktemp("calibrate"),
    )


def at_most(cal: ModuleType, count: int, total: int, rate: float) -> bool:
    return bool(count <= cal.max_count_at_rate(total, rate))


def at_least(cal: ModuleType, count: int, total: int, rate: float) -> bool:
    return bool(count >= cal.min_count_at_rate(total, rate))


def test_golden_traces_follow_the_schema(cal: ModuleType, tmp_path: Path) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    from tracekit.store.schema import arrow_schema
    from tracekit.trace.sampling import Sampler

    scenario = cal.Scenario("ar1", 300, 2, 0.2, 0.0)
    cal.write_gate_side(tmp_path, scenario, 0, "baseline")
    files = sorted(tmp_path.glob("run_id=*/golden-*.parquet"))
    assert len(files) == 2
    assert pq.read_schema(files[0]).remove_metadata().equals(arrow_schema())
    ids = np.arange(1, 2001)
    sampler = Sampler(0.2, 99)
    assert cal.sampled(ids, 0.2, 99).tolist() == [sampler(int(i)) for i in ids]


def test_in_process_and_subprocess_cli_agree(cal: ModuleType, tmp_path: Path) -> None:
    for scenario in (
        cal.Scenario("lognormal", 300, 2, 0.2, 0.1),
        cal.Scenario("ar1", 300, 1, 1.0, 0.0),
    ):
        for seed in range(1):
            in_process = cal.compare_once(scenario, seed, tmp_path, use_subprocess=False)
            real = cal.compare_once(scenario, seed, tmp_path, use_subprocess=True)
            assert (in_process.code, in_process.intervals) == (real.code, real.intervals)


def test_every_cli_call_gave_a_verdict(grid: Any) -> None:
    assert grid.errors() == []


def test_the_tallies_serialise(cal: ModuleType, grid: Any) -> None:
    document = json.loads(json.dumps(grid.to_dict()))
    assert document["format"] == "tracekit.calibration"
    assert "| scenario |" in cal.markdown_table(grid)


def test_identical_builds_rarely_regress_in_every_scenario(cal: ModuleType, grid: Any) -> None:
    failing = {
        name: f"{tally.count('REGRESSION')}/{tally.seeds}"
        for name, tally in grid.gate.items()
        if tally.scenario.effect == 0
        and not at_most(cal, tally.count("REGRESSION"), tally.seeds, 0.05)
    }
    assert failing == {}, f"false REGRESSION above 5% (+ binomial slack): {failing}"


def test_identical_iid_builds_with_enough_ticks_pass(cal: ModuleType, grid: Any) -> None:
    tally = grid.gate["lognormal-20000t-1r-20%-same"]
    assert at_least(cal, tally.count("PASS"), tally.seeds, 0.80), tally.to_dict()["codes"]


@pytest.mark.parametrize(
    ("scenario", "required"),
    [
        ("lognormal-20000t-1r-20%-+10%", 0.95),
        ("lognormal-20000t-1r-20%-+5%", 0.80),
    ],
)
def test_real_regressions_are_caught(
    cal: ModuleType, grid: Any, scenario: str, required: float
) -> None:
    tally = grid.gate[scenario]
    assert at_least(cal, tally.count("REGRESSION"), tally.seeds, required), tally.to_dict()["codes"]


@pytest.mark.parametrize("scenario", ["lognormal-300t-1r-20%-+10%", "ar1-300t-2r-20%-+10%"])
def test_a_real_regression_on_few_ticks_is_never_passed(
    cal: ModuleType, grid: Any, scenario: str
) -> None:
    tally = grid.gate[scenario]
    assert at_most(cal, tally.count("PASS"), tally.seeds, 0.02), tally.to_dict()["codes"]


DESIGN_EFFECT = 1.5
"""Assumed variance inflation of a coverage count: a comparison's metrics share data."""


def coverage_slack(intervals: int) -> float:
    """One-sided 99% binomial slack of a coverage rate near 90% from ``intervals`` counts."""
    return 2.326 * math.sqrt(0.9 * 0.1 * DESIGN_EFFECT / intervals)


def test_intervals_cover_the_true_change_85_to_95_percent(grid: Any) -> None:
    covered = total = 0
    for tally in grid.gate.values():
        pooled = tally.quantile_coverage()
        covered, total = covered + pooled.covered, total + pooled.total
    assert total > 0
    slack = coverage_slack(total)
    assert 0.85 - slack <= covered / total <= 0.95 + slack, f"{covered}/{total}"


def test_intervals_cover_85_to_95_percent_in_every_scenario(grid: Any) -> None:
    wrong = {}
    for name, tally in grid.gate.items():
        pooled = tally.quantile_coverage()
        slack = coverage_slack(pooled.total) if pooled.total else 0.0
        if pooled.rate is not None and not 0.85 - slack <= pooled.rate <= 0.95 + slack:
            wrong[name] = f"{pooled.covered}/{pooled.total}"
    assert wrong == {}, f"quantile coverage outside 85-95% (+ slack): {wrong}"


def test_canary_at_the_miss_limit_rarely_rolls_back(cal: ModuleType, grid: Any) -> None:
    tally = grid.canary["canary-misses-at-limit"]
    assert at_most(cal, tally.rollback_by_last_look(), tally.rollouts, 0.05), tally.sequences


def test_canary_catches_a_p95_regression_by_the_last_look(cal: ModuleType, grid: Any) -> None:
    tally = grid.canary["canary-p95+20%"]
    assert at_least(cal, tally.rollback_at_last_look(), tally.rollouts, 0.90), tally.sequences


@pytest.mark.parametrize("scenario", ["canary-misses-at-limit", "canary-p95+20%"])
def test_canary_decisions_stand_once_reached(grid: Any, scenario: str) -> None:
    assert grid.canary[scenario].reversals() == 0, grid.canary[scenario].sequences
