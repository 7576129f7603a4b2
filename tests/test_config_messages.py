"""Config error messages echo a bounded part of a bad value (issue 14, "Billion laughs").

A config value can be a megabyte string, a list of thousands of values (YAML aliases
expand to up to ``MAX_CONFIG_ITEMS``) or an integer of thousands of digits; the
one-line ``Error:`` message shows at most ``MAX_SHOWN_CHARS`` characters of it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tracekit.errors import ConfigError
from tracekit.exit_codes import BAD_INPUT
from tracekit.trace.config import TraceConfig
from tracekit.yamlfile import MAX_SHOWN_CHARS, shown

LONGEST_MESSAGE = 400
"""The longest rule description plus a shown value, the key and the file name."""

HUGE_VALUES: list[object] = [
    "x" * 10_000_000,
    list(range(1_000_000)),
    {"k" * 1_000: ["v" * 1_000] * 1_000},
    10**100_000,  # repr() of it raises ValueError in Python >= 3.11
    [[[["deep" * 1_000]]]] * 1_000,
    b"\x00" * 1_000_000,
]


@pytest.mark.parametrize("value", HUGE_VALUES, ids=lambda v: type(v).__name__)
def test_shown_is_short_and_cheap_for_any_value(value: object) -> None:
    began = time.perf_counter()
    text = shown(value)
    assert time.perf_counter() - began < 0.5
    assert 0 < len(text) <= MAX_SHOWN_CHARS


def test_shown_keeps_short_values_as_repr_and_marks_what_it_cuts() -> None:
    assert shown("canary-1") == "'canary-1'"
    assert shown([1, 2]) == "[1, 2]"
    assert shown(None) == "None"
    assert "..." in shown("a" * 500)


@pytest.mark.parametrize("value", HUGE_VALUES, ids=lambda v: type(v).__name__)
def test_a_huge_bad_value_gives_a_short_config_error(value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        TraceConfig(run_id=value)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith("TraceConfig: trace.run_id must be")
    assert len(message) <= LONGEST_MESSAGE


def test_a_huge_unknown_key_is_cut_in_the_message() -> None:
    with pytest.raises(ConfigError) as caught:
        TraceConfig.from_mapping({"k" * 1_000_000: 1})
    message = str(caught.value)
    assert "unknown key trace.kkk" in message
    assert len(message) <= LONGEST_MESSAGE + 300  # the list of allowed keys


def run_simulate(config: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tracekit", "simulate", "-o", str(tmp_path / "out")]
    command += ["--ticks", "10", "--config", str(config)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  run_id: '" + "a" * 500_000 + "'\n", "trace.run_id must be"),
        ("  output_dir: [" + ", ".join(["1"] * 9_000) + "]\n", "trace.output_dir must be"),
        ("  deadline_ms: &a [" + ", ".join(["7"] * 90) + "]\n", "trace.deadline_ms must be"),
        ("  run_id: " + "1" * 5_000 + "\n", "looks like a number or a date"),
        ("  run_id: 2026-13-45\n", "looks like a number or a date"),
    ],
    ids=["long-string", "long-list", "list", "int-5000-digits", "bad-date"],
)
def test_the_cli_says_one_short_error_line_for_a_huge_or_unconvertible_value(
    tmp_path: Path, body: str, expected: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("trace:\n" + body, encoding="utf-8")
    result = run_simulate(config, tmp_path)
    assert result.returncode == BAD_INPUT, result.stderr[-500:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[-500:]
    assert lines[0].startswith(f"Error: {config}: ")
    assert expected in lines[0]
    assert len(lines[0]) <= LONGEST_MESSAGE + len(str(config))
    assert "Traceback" not in result.stderr
