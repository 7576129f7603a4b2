"""The docs and the code agree: schema columns, Quick start, CLI reference."""

from __future__ import annotations

import re

import pytest
from cli_helpers import ROOT, run_in_process

from tracekit.store import schema


def test_schema_doc_lists_the_columns_of_the_code() -> None:
    text = (ROOT / "docs" / "schema.md").read_text()
    block = text.split("<!-- columns:start -->")[1].split("<!-- columns:end -->")[0]
    rows = [line for line in block.splitlines() if line.startswith("| `")]
    documented = []
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        documented.append((cells[0].strip("`"), cells[1], cells[2] == "yes", cells[3]))
    in_code = [(c.name, c.arrow_type, c.nullable, c.description) for c in schema.COLUMNS]
    assert documented == in_code


def test_ci_runs_exactly_the_readme_quick_start() -> None:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start")[1].split("## ")[0]
    commands = re.findall(r"```console\n(.*?)```", quick_start, re.S)[0].strip().splitlines()
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in commands:
        assert command in ci, f"{command!r} is not run by .ci/run"


def test_metadata_keys_are_documented() -> None:
    text = (ROOT / "docs" / "schema.md").read_text()
    keys = [value for name, value in vars(schema).items() if name.startswith("META_")]
    for key in keys:
        assert f"`{key}`" in text


def commands() -> list[str]:
    from tracekit.cli import COMMANDS

    return sorted(COMMANDS)


@pytest.mark.parametrize("command", commands())
def test_every_command_has_help_and_is_documented(command: str) -> None:
    result = run_in_process(command, "--help")
    assert result.returncode == 0
    assert "Usage" in result.stdout
    assert f"`tracekit {command}" in (ROOT / "docs" / "cli.md").read_text()


def test_exit_codes_are_documented() -> None:
    from tracekit import cli

    text = (ROOT / "docs" / "cli.md").read_text()
    codes = (cli.EXIT_OK, cli.EXIT_FAIL, cli.EXIT_BAD_INPUT, cli.EXIT_INCONCLUSIVE)
    for code in (*codes, cli.EXIT_INTERNAL, 130):
        assert f"| {code} |" in text


def test_prometheus_doc_shows_every_query_and_rule() -> None:
    from tracekit.present.promql import PANELS, recording_rules

    text = (ROOT / "docs" / "prometheus.md").read_text()
    for panel in PANELS:
        assert panel.expr in text, panel.key
    for rule in recording_rules():
        assert rule["expr"] in text, rule["record"]
