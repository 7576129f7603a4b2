"""The lean install: the base package is what the tracer needs; the CLI says what is missing."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import ROOT

ANALYSIS_ONLY = {"polars", "typer", "rich", "matplotlib", "numpy", "scipy"}


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0] for requirement in requirements}


def project() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return dict(tomllib.load(handle)["project"])


def test_base_install_pulls_in_no_analysis_package() -> None:
    base = requirement_names(project()["dependencies"])
    assert base == {"pyyaml", "pyarrow", "prometheus-client"}
    assert not base & ANALYSIS_ONLY


def test_analysis_extra_has_everything_the_command_line_needs_and_dev_includes_it() -> None:
    extras = project()["optional-dependencies"]
    assert isinstance(extras, dict)
    assert requirement_names(extras["analysis"]) >= ANALYSIS_ONLY | {"pyarrow"}
    assert "tracekit[analysis]" in extras["dev"], "the Quick start installs everything"
    scripts = project()["scripts"]
    assert scripts == {"tracekit": "tracekit.__main__:main"}


@pytest.mark.parametrize("blocked", ["polars", "typer", "matplotlib"])
def test_cli_without_the_analysis_extra_says_what_to_install_in_one_line(blocked: str) -> None:
    code = (
        f"import sys; sys.modules[{blocked!r}] = None; "  # as if the package were not installed
        "sys.argv = ['tracekit', 'analyze', 'samples/current']; "
        "from tracekit.__main__ import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: the tracekit command needs the analysis extra (missing: {blocked}); "
        "install it with: pip install 'tracekit[analysis]' "
        "(from a checkout: pip install '.[analysis]')\n"
    )


def _lean(code: str) -> subprocess.CompletedProcess[str]:
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in sorted(ANALYSIS_ONLY))
    return subprocess.run(
        [sys.executable, "-c", f"import sys; {blocked}; {code}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_version_works_without_the_analysis_extra() -> None:
    result = _lean(
        "sys.argv = ['tracekit', '--version']; from tracekit.__main__ import main; main()"
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"tracekit \d+\.\d+\.\d+\S*\n", result.stdout)


def test_the_analysis_api_without_its_extra_says_what_to_install() -> None:
    result = _lean(
        "import tracekit\n"
        "try:\n    tracekit.load('samples/current')\n"
        "except ModuleNotFoundError as error:\n    print(error)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("tracekit.load needs the analysis extra (missing: ")
    assert "pip install 'tracekit[analysis]'" in result.stdout


def test_the_tracer_runs_without_the_analysis_packages(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "for name in ('polars', 'typer', 'rich', 'matplotlib', 'numpy', 'scipy'):\n"
        "    sys.modules[name] = None\n"
        "from tracekit import Tracer, TraceConfig\n"
        "config = TraceConfig.from_yaml(sys.argv[1])\n"
        "with Tracer(config) as tracer:\n"
        "    with tracer.tick(), tracer.stage('s'):\n"
        "        pass\n"
        "print(tracer.stats().writer.files_written)\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text(f"trace:\n  output_dir: {tmp_path / 'traces'}\n  run_id: lean\n")
    result = subprocess.run(
        [sys.executable, "-c", code, str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
