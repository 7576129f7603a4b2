"""Every value of the gate's YAML config is checked: one ``Error:`` line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import SAMPLES, run_in_process


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('strict: "no"', "gate.strict must be true or false, got 'no'"),
        ('alpha: "x"', "gate.alpha must be a number in (0, 0.5), got 'x'"),
        (
            'seed: "abc"',
            "gate.seed was removed: the gate and canary no longer bootstrap, "
            "so results need no seed; delete it",
        ),
        ("stages: [1, 2]", "gate.stages must map stage names to {p95: ..., p99: ...}"),
        ("p95: .nan", "gate.p95 must be a number >= 0 (0.03 means +3%), got nan"),
        ("p95: 3", "gate.p95 = 3 would allow +300%; thresholds are shares: for +3% use 0.03"),
        (
            "p42: 3",
            "unknown key gate.p42; allowed keys: alpha, critical, "
            "ignore, min_effect_ms, miss_rate_pp, p50, p95, p99, stages, strict",
        ),
        (
            "p59: 3",
            "unknown key gate.p59 (did you mean p99?); allowed keys: alpha, critical, "
            "ignore, min_effect_ms, miss_rate_pp, p50, p95, p99, stages, strict",
        ),
        (
            "critical: [nosuch:p42]",
            "gate.critical item 'nosuch:p42': unknown metric 'p42'; nosuch has p50, p95, p99",
        ),
    ],
)
def test_gate_config_values_are_checked(tmp_path: Path, line: str, message: str) -> None:
    config = tmp_path / "gate.yaml"
    config.write_text(f"gate:\n  {line}\n")
    result = run_in_process(
        "compare", SAMPLES / "baseline", SAMPLES / "current", "--config", config
    )
    assert result.returncode == 2
    assert result.stderr == f"Error: {config}: {message}\n"


@pytest.mark.parametrize(
    ("command", "text", "message"),
    [
        ("compare", "gates:\n  p95: 0.5\n", "unknown section 'gates:' (did you mean 'gate:'?)"),
        (
            "compare",
            "tracer:\n  deadline_ms: 5\n",
            "unknown section 'tracer:' (did you mean 'trace:'?)",
        ),
        (
            "canary",
            "canaries:\n  alpha: 0.1\n",
            "unknown section 'canaries:' (did you mean 'canary:'?)",
        ),
        ("canary", "gate: {}\nzzz: 1\n", "unknown section 'zzz:'"),
    ],
)
def test_a_misspelled_section_is_refused_by_every_command(
    tmp_path: Path, command: str, text: str, message: str
) -> None:
    """A gate or canary config with ``gates:`` must not silently run with the default
    policy: every command that reads a config checks all of its sections."""
    config = tmp_path / "policy.yaml"
    config.write_text(text)
    result = run_in_process(command, SAMPLES / "baseline", SAMPLES / "current", "--config", config)
    assert result.returncode == 2
    assert result.stderr == (
        f"Error: {config}: {message}; "
        "known sections: trace, gate, canary (and x-... for your own)\n"
    )


def test_extension_and_other_commands_sections_are_accepted(tmp_path: Path) -> None:
    config = tmp_path / "policy.yaml"
    config.write_text("x-mine: {a: 1}\ntrace:\n  deadline_ms: 200\ncanary: {}\ngate:\n  p95: 0.5\n")
    result = run_in_process(
        "compare", SAMPLES / "baseline", SAMPLES / "baseline", "--config", config
    )
    assert result.returncode == 0, result.stderr
