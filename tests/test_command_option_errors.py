"""Option values a command cannot honour: exit 2 and an ``Error:`` line, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import assert_one_error_line, run_in_process, run_subprocess


@pytest.mark.parametrize(
    "args",
    [["--for", "abc"], ["--interval", "x y"], ["--p95-ms", "-5"], ["--miss-ratio", "7"]],
)
def test_rules_refuse_values_prometheus_would_reject(args: list[str]) -> None:
    result = run_in_process("rules", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ")
    assert result.stdout == ""


def test_simulate_fails_when_nothing_could_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run_in_process("simulate", "--ticks", "150", "-o", blocker / "traces")
    assert result.returncode == 2
    assert "could not write the golden traces" in result.stderr
    assert_one_error_line(result)  # the tracer's own log line is not printed too


def test_simulate_into_a_file_is_one_error_line(tmp_path: Path) -> None:
    target = tmp_path / "fake.parquet"
    target.write_text("a file")
    result = run_subprocess("simulate", "-o", target, "--ticks", "5")
    assert result.returncode == 2
    assert_one_error_line(result)
    assert target.read_text() == "a file"


@pytest.mark.parametrize("slow", ["spread=+10", "spread=-5"])
def test_simulate_refuses_a_signed_slow_factor_without_percent(tmp_path: Path, slow: str) -> None:
    result = run_in_process("simulate", "-o", tmp_path / "t", "--ticks", "5", "--slow", slow)
    message = assert_one_error_line(result, slow, "is ambiguous")
    assert "%" in message
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize(("slow", "factor"), [("spread=+10%", 1.1), ("spread=1.1", 1.1)])
def test_simulate_slow_forms(slow: str, factor: float) -> None:
    from tracekit.sim.simulator import parse_slow

    name, parsed = parse_slow(slow)
    assert name == "spread"
    assert parsed == pytest.approx(factor)


def test_simulate_writes_where_its_config_says(tmp_path: Path) -> None:
    target = tmp_path / "from-config"
    config = tmp_path / "bot.yaml"
    config.write_text(f"trace:\n  output_dir: {target}\n")
    result = run_in_process("simulate", "--ticks", "120", "--config", config, "--json")
    assert result.returncode == 0, result.stderr
    assert list(target.glob("run_id=*/golden-*.parquet"))
    explicit = tmp_path / "explicit"
    result = run_in_process("simulate", "--ticks", "120", "--config", config, "-o", explicit)
    assert result.returncode == 0, result.stderr
    assert list(explicit.glob("run_id=*/golden-*.parquet"))
