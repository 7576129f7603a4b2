"""A profile document that cannot be true (or is not JSON a parser survives) is refused.

One ``Error:`` line naming the file, exit 2: a corrupt baseline never becomes a verdict.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import SAMPLES, run_in_process


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The profile of the baseline samples, as ``tracekit profile`` writes it."""
    path = tmp_path_factory.mktemp("profile") / "good.json"
    assert run_in_process("profile", SAMPLES / "baseline", "-o", path).returncode == 0
    return path


def test_a_profile_with_impossible_counts_is_refused(tmp_path: Path, good: Path) -> None:
    document = json.loads(good.read_text())
    document["runs"][0]["blocks"][0]["misses"] = 10**6
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    result = run_in_process("compare", bad, good)
    assert result.returncode == 2
    assert "the profile is corrupt: re-create it" in result.stderr
    document = json.loads(good.read_text())
    block = next(b for b in document["runs"][0]["blocks"] if "spread" in b["stages"])
    block["stages"]["spread"]["idx"][0] = 10**9
    bad.write_text(json.dumps(document))
    assert run_in_process("compare", bad, good).returncode == 2


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["runs"][0].update(guard_trips={"vol_hard": -3}), "negative guard trips"),
        (lambda d: d.update(version=True), "profile version True is not supported"),
        (lambda d: d["runs"][0]["blocks"][0].update(ticks=1.5), "is not a whole number"),
        (
            lambda d: next(iter(d["runs"][0]["requests"].values()))["idx"].__setitem__(0, 99999),
            "bucket 99999 holds",
        ),
    ],
)
def test_a_profile_with_impossible_values_is_refused(
    tmp_path: Path, good: Path, edit: Callable[[Any], object], message: str
) -> None:
    document = json.loads(good.read_text())
    edit(document)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    result = run_in_process("compare", bad, good)
    assert result.returncode == 2
    assert result.stderr.startswith(f"Error: {bad}: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "tracekit.profile", "version": 2, "x": Infinity}', "Infinity is not a number"),
        ('{"format": "tracekit.profile", "version": 2, "x": 1e400}', "1e400 is out of range"),
        (
            '{"format": "tracekit.profile", "version": 2, "x": '
            + "[" * 50_000
            + "]" * 50_000
            + "}",
            "nested too deeply",
        ),
    ],
)
def test_hostile_profile_json_is_one_error_line(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    result = run_in_process("compare", bad, bad)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
