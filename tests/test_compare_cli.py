"""tracekit compare and tracekit profile through the real entry point."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import SAMPLES, run_in_process
from synthetic import lognormal_ticks, synthetic_profile

from tracekit.decisions.profile import read_profile


def write_profile(path: Path, seed: int, factor: float = 1.0, n: int = 20_000) -> Path:
    rng = np.random.default_rng(seed)
    ticks = lognormal_ticks(rng, n, factor=factor)
    stage = lognormal_ticks(rng, n, median_ms=20.0, factor=factor)
    synthetic_profile({f"run-{seed}": {"tick_total": ticks, "spread": stage}}).write(path)
    return path


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("profiles")
    return {
        "base": write_profile(folder / "base.json", 1),
        "same": write_profile(folder / "same.json", 2),
        "faster": write_profile(folder / "faster.json", 3, 0.9),
        "slower": write_profile(folder / "slower.json", 4, 1.10),
        "tiny": write_profile(folder / "tiny.json", 5, 1.0, n=200),
    }


def test_pass_exits_0(profiles: dict[str, Path]) -> None:
    result = run_in_process("compare", profiles["base"], profiles["faster"])
    assert result.returncode == 0, result.stderr
    assert "Verdict: PASS" in result.stdout


def test_regression_exits_1_with_json_reasons(profiles: dict[str, Path]) -> None:
    result = run_in_process("compare", profiles["base"], profiles["slower"], "--format", "json")
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["format"] == "tracekit.comparison"
    assert document["version"] == 2
    assert document["verdict"] == "REGRESSION"
    assert document["method"]["false_regression_rate"] == 0.05
    assert document["method"]["critical_alpha"] + document["method"][
        "other_alpha"
    ] == pytest.approx(0.05)
    p95 = next(m for m in document["metrics"] if (m["stage"], m["metric"]) == ("tick_total", "p95"))
    assert p95["verdict"] == "REGRESSION"
    assert p95["reason"] == "above_threshold"
    assert 0.07 < p95["change"] < 0.13
    assert p95["low"] > 0
    assert p95["high"] > p95["low"]
    assert {
        "stage",
        "metric",
        "baseline",
        "current",
        "change",
        "low",
        "high",
        "threshold",
        "verdict",
        "reason",
        "critical",
        "n_baseline",
        "n_current",
        "p_value",
        "mde",
        "allowed",
        "n_effective_baseline",
        "n_effective_current",
    } <= set(p95)


def test_inconclusive_exits_3_or_0_when_mapped(profiles: dict[str, Path], tmp_path: Path) -> None:
    result = run_in_process("compare", profiles["base"], profiles["tiny"], "--format", "json")
    assert result.returncode == 3, result.stderr
    document = json.loads(result.stdout)
    reasons = {(m["stage"], m["metric"]): m["reason"] for m in document["metrics"]}
    assert reasons[("tick_total", "p99")] == "too_few_samples"
    assert document["advice"].startswith("Not enough evidence to pass or fail (tick_total p95")
    mapped = run_in_process(
        "compare",
        "--baseline",
        profiles["base"],
        "--current",
        profiles["tiny"],
        "--inconclusive",
        "pass",
        "--report",
        tmp_path / "gate.md",
    )
    assert mapped.returncode == 0
    report = (tmp_path / "gate.md").read_text()
    assert report.startswith("# ⚠️ tracekit perf gate: INCONCLUSIVE")
    assert "| stage | metric |" in report


def test_thresholds_from_flags_and_config(profiles: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "gate.yaml"
    config.write_text("gate:\n  p50: 0.20\n  p95: 0.20\n  p99: 0.20\n  miss_rate_pp: 5\n")
    loose = run_in_process("compare", profiles["base"], profiles["slower"], "--config", config)
    assert loose.returncode == 0, loose.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("gate:\n  p96: 0.2\n")
    result = run_in_process("compare", profiles["base"], profiles["slower"], "--config", bad)
    assert result.returncode == 2
    assert result.stderr.startswith(f"Error: {bad}: unknown key gate.p96")


def test_golden_traces_against_a_profile(tmp_path: Path) -> None:
    profile = tmp_path / "perf_profile.json"
    made = run_in_process("profile", SAMPLES / "baseline", "-o", profile)
    assert made.returncode == 0, made.stderr
    document = json.loads(profile.read_text())
    for seed_field in (
        "total_ticks",
        "deadline_misses",
        "deadline_miss_pct",
        "stage_percentiles",
        "guard_trips",
        "exchange_req_percentiles",
    ):
        assert seed_field in document
    assert document["total_ticks"] == 6000
    assert set(document["stage_percentiles"]["spread"]) == {"p50", "p95", "p99"}
    assert read_profile(profile).total_ticks == 6000
    result = run_in_process("compare", profile, SAMPLES / "current", "--format", "json")
    assert result.returncode == 1, result.stderr
    metrics = json.loads(result.stdout)["metrics"]
    spread = next(m for m in metrics if (m["stage"], m["metric"]) == ("spread", "p95"))
    assert spread["verdict"] == "REGRESSION"
    assert spread["change"] > 0.05


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"format": "tracekit.profile", "version": 99, "runs": []}',
            "profile version 99 is not supported",
        ),
        ('{"hello": 1}', "not a tracekit profile"),
        ("not json", "not valid JSON"),
    ],
)
def test_bad_profiles_exit_2(
    profiles: dict[str, Path], tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = run_in_process("compare", profiles["base"], bad)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"Error: {bad}: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_no_stage_in_common_and_empty_side(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    alpha, beta = (lognormal_ticks(rng, 500, median_ms=1.0, sigma=1.0) for _ in range(2))
    synthetic_profile({"r": {"alpha": alpha}}).write(a)
    synthetic_profile({"r": {"beta": beta}}).write(b)
    result = run_in_process("compare", a, b)
    assert result.returncode == 2
    assert "have no stage in common" in result.stderr
    empty = tmp_path / "empty.json"
    synthetic_profile({}).write(empty)
    result = run_in_process("compare", empty, a)
    assert result.returncode == 2
    assert "holds no tick" in result.stderr


def test_missing_stage_in_current_fails(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    ticks = lognormal_ticks(rng, 5000)
    synthetic_profile({"r": {"tick_total": ticks, "spread": ticks / 5}}).write(a)
    synthetic_profile({"r": {"tick_total": ticks, "emit": ticks / 5}}).write(b)
    result = run_in_process("compare", a, b, "--format", "json")
    assert result.returncode == 1
    metrics = json.loads(result.stdout)["metrics"]
    reasons = {(m["stage"], m["reason"]) for m in metrics}
    assert ("spread", "stage_missing_in_current") in reasons
    assert ("emit", "new_stage") in reasons


def test_format_offers_only_what_works() -> None:
    """compare and canary have no CSV: --help must not offer it, and it is a usage error."""
    for command in ("compare", "canary"):
        help_text = run_in_process(command, "--help").stdout
        assert "<table|json|markdown>" in help_text
        assert "csv" not in help_text
        refused = run_in_process(command, "a", "b", "--format", "csv")
        assert refused.returncode == 2
        assert "csv" in refused.stderr


def test_help_has_no_bool_metavar_and_choices_stay_whole() -> None:
    from tracekit.cli import COMMANDS

    for command in [*COMMANDS, "export chrome"]:
        result = run_in_process(*command.split(), "--help", env={"COLUMNS": "60"})
        assert result.returncode == 0, result.stderr
        assert "<bool>" not in result.stdout, command
        for line in result.stdout.splitlines():
            for choices in re.findall(r"<([a-z|_\[\]]+)", line):
                assert line.count("<") == line.count(">"), (command, line)
                assert all(choice for choice in choices.split("|")), (command, line)


def test_usage_errors_exit_2(profiles: dict[str, Path]) -> None:
    result = run_in_process("compare", profiles["base"])
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ")


@pytest.mark.slow  # draws two full figures
def test_plot_folder_gets_overlays_and_forest(tmp_path: Path) -> None:
    result = run_in_process(
        "compare", SAMPLES / "baseline", SAMPLES / "current", "--plot", tmp_path
    )
    assert result.returncode == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forest.png", "overlays.png"]
    assert result.stderr.splitlines() == [
        f"Wrote {tmp_path / 'overlays.png'}",
        f"Wrote {tmp_path / 'forest.png'}",
    ]
    assert all(p.stat().st_size > 10_000 for p in tmp_path.iterdir())


def test_point_estimates_are_analyzes_figures() -> None:
    """compare's baseline and current values are exactly what analyze prints."""
    gate = run_in_process("compare", SAMPLES / "baseline", SAMPLES / "current", "--format", "json")
    assert gate.returncode == 1, gate.stderr
    metrics = json.loads(gate.stdout)["metrics"]
    for side, field in (("baseline", "baseline"), ("current", "current")):
        analysis = run_in_process("analyze", str(SAMPLES / side), "--format", "json")
        assert analysis.returncode == 0, analysis.stderr
        stages = {row["stage"]: row for row in json.loads(analysis.stdout)["stages"]}
        compared = 0
        for metric in metrics:
            if metric["metric"] in ("p50", "p95", "p99"):
                assert metric[field] == stages[metric["stage"]][f"{metric['metric']}_ms"]
                compared += 1
        assert compared == 15


def test_identical_samples_pass_with_intervals_of_the_right_width() -> None:
    """The samples against themselves: PASS, and emit p99's interval is about the
    spread of 32 independent simulated pairs ([-12.4%, +14.1%], issue 9)."""
    result = run_in_process("compare", SAMPLES / "baseline", SAMPLES / "baseline", "-f", "json")
    assert result.returncode == 0, result.stdout
    emit = next(
        m
        for m in json.loads(result.stdout)["metrics"]
        if (m["stage"], m["metric"]) == ("emit", "p99")
    )
    assert -0.19 < emit["low"] < -0.08
    assert 0.09 < emit["high"] < 0.21


def test_a_rare_stage_gets_ordered_figures_from_one_method(tmp_path: Path) -> None:
    """A stage with too few spans for analyze's p95/p99 ("—") gets all its point
    estimates from its histogram: never an exact p50 above a histogram p95."""
    from analysis_helpers import MS, Tick, write_run

    ticks = []
    for tick_id in range(1, 201):
        start = tick_id * 1_000 * MS
        spans: tuple[tuple[object, ...], ...] = ()
        if tick_id % 50 == 0:  # 4 spans, all within one ~1% histogram bucket
            spans = (("stage", "slow_path", None, None, None, start, 45_300_000 + tick_id * 100),)
        ticks.append(Tick(tick_id, start, 60 * MS + tick_id * 1_000, spans=spans))
    write_run(tmp_path / "a", "a", ticks)
    write_run(tmp_path / "b", "b", ticks)
    result = run_in_process("compare", tmp_path / "a", tmp_path / "b", "--format", "json")
    assert result.returncode in (0, 3), result.stderr
    figures = {
        (m["stage"], m["metric"]): m
        for m in json.loads(result.stdout)["metrics"]
        if m["metric"] in ("p50", "p95", "p99")
    }
    for side in ("baseline", "current"):
        p50, p95, p99 = (figures[("slow_path", q)][side] for q in ("p50", "p95", "p99"))
        assert p50 <= p95 <= p99
    analysis = run_in_process("analyze", tmp_path / "a", "--format", "json")
    stage = next(
        row for row in json.loads(analysis.stdout)["stages"] if row["stage"] == "slow_path"
    )
    assert stage["n"] == 4
    assert stage["p95_ms"] is None
