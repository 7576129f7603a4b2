"""Golden files for every rendered output and JSON document beyond ``tracekit analyze``.

Covered here: ``compare`` and ``canary`` as table, Markdown and JSON; ``simulate`` as
table and JSON; ``profile`` (the profile JSON document); ``export chrome``; ``rules``
and ``dashboard``; the help of ``tracekit``, ``plot`` and ``export chrome``;
``analyze`` as JSON and CSV (its table and Markdown goldens are in
``test_analyze_cli.py``).

The commands run in-process with typer's ``CliRunner`` on deterministic inputs: the
bundled ``samples/`` and a small ``tracekit simulate --seed`` run. Tables are rendered
the rich way, at a fixed width with colour off (``--output FILE``), and the whole text
is compared. JSON documents are compared whole, after normalising the fields that
legitimately vary: ``tracekit_version`` (and the Chrome export's ``generator``) and
absolute paths under the test's temporary folder.

Regenerate the golden files after an intended change of output with::

    TRACEKIT_UPDATE_GOLDEN=1 python -m pytest -q -p no:cacheprovider tests/test_output_goldens.py

and read ``git diff tests/golden/`` before committing. The compare and canary
numbers change whenever their statistics do; regenerating is the expected step then.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import SAMPLES
from typer.testing import CliRunner

from tracekit.cli import app

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("TRACEKIT_UPDATE_GOLDEN") == "1"
VERSION_PLACEHOLDER = "<tracekit_version>"
TMP_PLACEHOLDER = "<tmp>"
SIM_ARGS = ("--ticks", "300", "--symbols", "4", "--seed", "7", "--run-id", "golden-sim")


def golden(name: str, actual: str) -> str:
    """The golden text ``name``; with TRACEKIT_UPDATE_GOLDEN=1, ``actual`` is written first."""
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    if not path.exists():
        pytest.fail(f"{path} is missing; create it with TRACEKIT_UPDATE_GOLDEN=1 and review it")
    return path.read_text(encoding="utf-8")


def invoke(*args: object, exit_code: int = 0) -> Any:
    """Run ``tracekit`` in-process; it must end with ``exit_code``."""
    result = CliRunner().invoke(app, [str(arg) for arg in args], env={"NO_COLOR": "1"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    return result


def normalise(value: Any, tmp: Path) -> Any:
    """``value`` with the version and the temporary folder replaced by placeholders."""
    if isinstance(value, dict):
        out = {key: normalise(item, tmp) for key, item in value.items()}
        if "tracekit_version" in out:
            out["tracekit_version"] = VERSION_PLACEHOLDER
        if isinstance(out.get("generator"), str) and out["generator"].startswith("tracekit "):
            out["generator"] = f"tracekit {VERSION_PLACEHOLDER}"
        return out
    if isinstance(value, list):
        return [normalise(item, tmp) for item in value]
    if isinstance(value, str):
        return value.replace(str(tmp), TMP_PLACEHOLDER)
    return value


def json_text(text: str, tmp: Path) -> str:
    """A JSON document, normalised and pretty-printed so golden diffs are readable."""
    return json.dumps(normalise(json.loads(text), tmp), indent=2, sort_keys=True) + "\n"


FLOAT_TOLERANCE = 1e-12
"""Relative: the last bits of a float may differ between numpy/scipy releases (a
p-value's 17th digit), which is no change of output."""


def same_document(actual: Any, expected: Any) -> bool:
    """Whether two parsed JSON documents are equal, floats to :data:`FLOAT_TOLERANCE`."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(
            same_document(actual[key], expected[key]) for key in actual
        )
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(
            same_document(a, e) for a, e in zip(actual, expected, strict=True)
        )
    if isinstance(actual, float) and isinstance(expected, float):
        return actual == pytest.approx(expected, rel=FLOAT_TOLERANCE, abs=0.0)
    return type(actual) is type(expected) and bool(actual == expected)


def assert_json_golden(name: str, text: str) -> None:
    """``text`` (from :func:`json_text`) equals the golden document ``name``: the same
    keys, values and types, floats to :data:`FLOAT_TOLERANCE`; a difference beyond
    that shows as a text diff."""
    expected = golden(name, text)
    if not same_document(json.loads(text), json.loads(expected)):
        assert text == expected


def text_file(path: Path, tmp: Path) -> str:
    return path.read_text(encoding="utf-8").replace(str(tmp), TMP_PLACEHOLDER)


@pytest.fixture(scope="module")
def sim_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small deterministic simulated dataset (its own temporary folder)."""
    root = tmp_path_factory.mktemp("sim")
    invoke("simulate", "-o", root / "traces", *SIM_ARGS)
    return root


# -- compare -----------------------------------------------------------------------------

COMPARE = ("compare", SAMPLES / "baseline", SAMPLES / "current")
"""baseline against current: a real +10% regression in one stage (exit 1)."""


def test_compare_table(tmp_path: Path) -> None:
    out = tmp_path / "compare.txt"
    invoke(*COMPARE, "--output", out, exit_code=1)
    text = text_file(out, tmp_path)
    assert text == golden("compare_samples.txt", text)


def test_compare_markdown() -> None:
    text = invoke(*COMPARE, "--format", "markdown", exit_code=1).stdout
    assert text == golden("compare_samples.md", text)


def test_compare_json_and_report(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    raw = invoke(*COMPARE, "--format", "json", "--report", report, exit_code=1).stdout
    text = json_text(raw, tmp_path)
    assert_json_golden("compare_samples.json", text)
    # --report writes the same Markdown as --format markdown.
    markdown = report.read_text(encoding="utf-8")
    assert markdown == golden("compare_samples.md", markdown)


# -- canary ------------------------------------------------------------------------------

CANARY = ("canary", SAMPLES / "canary" / "control", SAMPLES / "canary" / "canary")
"""The bundled canary: async batching, promoted."""


@pytest.mark.parametrize("phase", [1, 3])
def test_canary_table(tmp_path: Path, phase: int) -> None:
    out = tmp_path / "canary.txt"
    invoke(*CANARY, "--phase", phase, "--output", out)
    text = text_file(out, tmp_path)
    assert text == golden(f"canary_samples_phase{phase}.txt", text)


def test_canary_markdown() -> None:
    text = invoke(*CANARY, "--format", "markdown").stdout
    assert text == golden("canary_samples.md", text)


def test_canary_json(tmp_path: Path) -> None:
    text = json_text(invoke(*CANARY, "--format", "json").stdout, tmp_path)
    assert_json_golden("canary_samples.json", text)


def test_canary_last_window_json(tmp_path: Path) -> None:
    raw = invoke(
        *CANARY, "--phase", "2", "--look", "2", "--last", "5m", "--format", "json", exit_code=3
    )
    text = json_text(raw.stdout, tmp_path)
    assert_json_golden("canary_samples_phase2_look2_last5m.json", text)


# -- simulate, profile, export -----------------------------------------------------------


def test_simulate_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A relative folder, so the table's width does not depend on the temporary path.
    monkeypatch.chdir(tmp_path)
    text = invoke("simulate", "-o", "traces", *SIM_ARGS, "--no-color").stdout
    assert text == golden("simulate_seed7.txt", text)


def test_simulate_json(tmp_path: Path) -> None:
    result = invoke("simulate", "-o", tmp_path / "traces", *SIM_ARGS, "--json")
    text = json_text(result.stdout, tmp_path)
    assert_json_golden("simulate_seed7.json", text)


def test_profile_document(sim_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "profile.json"
    result = invoke("profile", sim_root / "traces", "-o", out)
    summary = result.stdout.replace(str(tmp_path), TMP_PLACEHOLDER)
    assert summary == golden("profile_seed7.stdout.txt", summary)
    text = json_text(out.read_text(encoding="utf-8"), tmp_path)
    assert_json_golden("profile_seed7.json", text)


def test_chrome_export(sim_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    result = invoke("export", "chrome", sim_root / "traces", "--ticks", "1-30", "-o", out)
    summary = result.stdout.replace(str(tmp_path), TMP_PLACEHOLDER)
    assert summary == golden("chrome_seed7.stdout.txt", summary)
    text = json_text(out.read_text(encoding="utf-8"), tmp_path)
    assert_json_golden("chrome_seed7.json", text)


# -- Prometheus rules and the Grafana dashboard ------------------------------------------


def test_rules() -> None:
    text = invoke("rules").stdout
    assert text == golden("rules_default.yaml", text)


def test_dashboard(tmp_path: Path) -> None:
    text = json_text(invoke("dashboard", "--title", "golden").stdout, tmp_path)
    assert_json_golden("dashboard_golden.json", text)


# -- analyze as JSON and CSV (its table and Markdown goldens are in test_analyze_cli.py) --


def test_analyze_json(tmp_path: Path) -> None:
    raw = invoke("analyze", SAMPLES / "baseline", "--format", "json").stdout
    text = json_text(raw, tmp_path).replace(str(SAMPLES), "<samples>")
    assert_json_golden("analyze_samples_baseline.json", text)


@pytest.mark.parametrize("table", ["stages", "deadline", "attribution", "guards", "requests"])
def test_analyze_csv(table: str) -> None:
    text = invoke("analyze", SAMPLES / "baseline", "--format", "csv", "--csv-table", table).stdout
    assert text == golden(f"analyze_samples_baseline_{table}.csv", text)


# -- help text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("help_root.txt", []),
        ("help_plot.txt", ["plot"]),
        ("help_export_chrome.txt", ["export", "chrome"]),
    ],
)
def test_help_text(name: str, command: list[str]) -> None:
    """Plain help at 80 columns: no ``<bool>``, choices whole, options say what they take."""
    result = CliRunner().invoke(
        app, [*command, "--help"], env={"NO_COLOR": "1", "COLUMNS": "80"}, terminal_width=80
    )
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout
    assert result.stdout == golden(name, result.stdout)


def test_same_document_tolerates_only_the_last_bits() -> None:
    document = {"p": [0.060621538516735886, 1, "a"], "n": 6000}
    assert same_document(document, {"p": [0.06062153851673587, 1, "a"], "n": 6000})
    assert not same_document(document, {"p": [0.0606215385168, 1, "a"], "n": 6000})
    assert not same_document(document, {"p": [0.060621538516735886, 1.0, "a"], "n": 6000})
    assert not same_document(document, {"p": [0.060621538516735886, 1], "n": 6000})
    assert not same_document(document, {"p": [0.060621538516735886, 1, "a"]})
