"""``tracekit analyze`` on the command line: outputs, golden renderings, errors, progress.

Commands run in-process through the entry point's ``main`` (``tests/cli_helpers.py``);
only the progress bar on a pseudo-terminal needs a real process. Golden files live in
``tests/golden/``; regenerate them with ``TRACEKIT_UPDATE_GOLDEN=1 pytest`` and read
the diff before committing.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import subprocess
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from analysis_helpers import (
    EPOCH_NS,
    MS,
    Tick,
    TreeSnapshot,
    files_under,
    golden_table,
    metadata,
    write_known_dataset,
    write_microsecond_dataset,
    write_run,
    write_tiny_dataset,
)
from cli_helpers import SAMPLES, CliResult, clean_env, run_in_process, tracekit_command
from rich.console import Console
from typer.testing import CliRunner

import tracekit
from tracekit.analysis import Analysis
from tracekit.cli import app

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("TRACEKIT_UPDATE_GOLDEN") == "1"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
PROGRESS_MARKS = ("Reading golden traces", "━", "\x1b[")
TEXT_COLUMNS = {"stage", "run_id", "symbol", "reason", "verb", "api", "component"}
COUNT_COLUMNS = {
    "n",
    "ticks",
    "misses",
    "misses_with_detail",
    "trips",
    "ticks_dominated",
    "missed_ticks_present",
    "min",
    "max",
}
LATENCY = ["n", "p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"]
SELF_LATENCY = ["self_p50_ms", "self_p95_ms", "self_p99_ms", "self_mean_ms"]
SELF_LATENCY = ["self_p50_ms", "self_p95_ms", "self_p99_ms", "self_mean_ms"]


# -- running the command ----------------------------------------------------------------


def run_on_terminal(*args: object) -> tuple[int, str]:
    """Run the entry point with stdout on a pseudo-terminal; exit code and raw output."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    process = subprocess.Popen(
        tracekit_command(*args),
        stdout=slave,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=clean_env(),
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.stderr is not None
    stderr = process.stderr.read()
    process.stderr.close()
    code = process.wait(timeout=120)
    assert stderr == b"", stderr
    return code, b"".join(chunks).decode()


def invoke(*args: object) -> Any:
    """Run ``tracekit`` in-process with typer's CliRunner; it must succeed."""
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exception is None or (
        isinstance(result.exception, SystemExit) and result.exit_code == 0
    ), result.exception
    assert result.exit_code == 0, result.stderr
    return result


# -- data -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def known_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("known")
    write_known_dataset(root)
    return root


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    write_tiny_dataset(root)
    return root


def read_golden_or_update(name: str, actual: str) -> str:
    """The golden text ``name``; with TRACEKIT_UPDATE_GOLDEN=1, ``actual`` is written first."""
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    if not path.exists():
        pytest.fail(f"{path} is missing; create it with TRACEKIT_UPDATE_GOLDEN=1 and review it")
    return path.read_text(encoding="utf-8")


def render_in_process(analysis: Analysis) -> str:
    console = Console(width=140, no_color=True, record=True, file=io.StringIO(), highlight=False)
    console.print(analysis)
    return console.export_text()


# -- golden renderings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("analyze_known.txt", []),
        ("analyze_known_by_run_every_20s.txt", ["--by", "run", "--every", "20s"]),
    ],
)
def test_table_matches_golden(
    known_root: Path, tmp_path: Path, name: str, options: list[str]
) -> None:
    out = tmp_path / "report.txt"
    invoke("analyze", known_root, *options, "--output", out)
    text = out.read_text(encoding="utf-8")
    assert text == read_golden_or_update(name, text)
    # The same rendering in-process, through the object's __rich__.
    by = ["run_id"] if "--by" in options else []
    every = "20s" if "--every" in options else None
    analysis = tracekit.load(known_root).analyze(by=by, every=every, sketches=True)  # type: ignore[arg-type]
    assert render_in_process(analysis) == text
    assert max(len(line) for line in text.splitlines()) <= 140


def test_table_of_a_small_sample_shows_a_dash_not_the_max(tiny_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny.txt"
    invoke("analyze", tiny_root, "-o", out)
    text = out.read_text(encoding="utf-8")
    assert text == read_golden_or_update("analyze_tiny.txt", text)
    rows = {
        line.split()[0]: line.split()
        for line in text.splitlines()
        if line.startswith("  ") and line.strip()
    }
    # stage, n, p50, p95, p99, max, mean (then the sketch)
    assert rows["a"][1:7] == ["50", "13.00", "16.00", "—", "500.00", "22.74"]
    assert rows["b"][1:7] == ["10", "21.00", "—", "—", "500.00", "68.90"]
    assert rows["GET"][2:] == ["10", "21.00", "—", "—", "500.00", "68.90", "0.00%"]


def test_microsecond_stages_keep_their_digits(tmp_path: Path) -> None:
    """A 5 µs stage is 0.00500 ms, not 0.00: three significant digits below 1 ms."""
    write_microsecond_dataset(tmp_path / "micro")
    out = tmp_path / "micro.txt"
    invoke("analyze", tmp_path / "micro", "-o", out)
    text = out.read_text(encoding="utf-8")
    assert text == read_golden_or_update("analyze_microseconds.txt", text)
    rows = {
        line.split()[0]: line.split()
        for line in text.splitlines()
        if line.startswith("  ") and line.strip()
    }
    assert rows["decode"][2].startswith("0.00")
    assert rows["decode"][2] != "0.00"
    assert len(rows["decode"][2].lstrip("0.")) == 3  # 3 significant digits


def test_markdown_matches_golden(known_root: Path) -> None:
    text = invoke("analyze", known_root, "--format", "markdown").stdout
    assert text == read_golden_or_update("analyze_known.md", text)
    assert text.startswith("# tracekit analysis\n\n5 files, runs: alpha, beta\n")
    assert (
        "| stage | n | p50 ms | p95 ms | p99 ms | max ms | mean ms | self p95 ms | self mean ms "
        "| shape (log) |"
    ) in text


def test_table_on_stdout_without_colour(known_root: Path) -> None:
    result = invoke("analyze", known_root, "--no-color")
    assert "Stage latency" in result.stdout
    assert "Deadline misses" in result.stdout
    assert "\x1b[" not in result.stdout
    assert result.stderr == ""


# -- JSON -------------------------------------------------------------------------------


def strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} in JSON output")

    return json.loads(text, parse_constant=refuse)


def section_columns(by: Sequence[str], every: bool) -> dict[str, set[str]]:
    keys = set(by) | ({"window_start"} if every else set())
    tick_keys = keys - {"symbol"}
    latency = {"n", "p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"}
    return {
        "stages": {"stage", *keys, *latency, *SELF_LATENCY},
        "deadline": {
            *tick_keys,
            *("ticks", "misses", "misses_with_detail", "deadline_ms"),
            *("miss_rate", "miss_rate_low", "miss_rate_high"),
        },
        "attribution": {
            *tick_keys,
            *("component", "ticks_dominated", "missed_ticks_present", "mean_ms", "share"),
            "self_mean_ms",
        },
        "guards": {"reason", *keys, "trips", "per_1000_ticks", "share"},
        "requests": {"verb", "api", *keys, *latency, "error_share"},
        "parallel_symbols": {*tick_keys, "n", "min", "mean", "max"},
    }


def check_json_value(column: str, value: Any) -> None:
    if column == "window_start":
        assert isinstance(value, str)
        assert ISO_UTC.match(value), value
        assert datetime.fromisoformat(value).utcoffset() is not None
    elif column in TEXT_COLUMNS:
        assert value is None or isinstance(value, str), (column, value)
    elif value is not None:
        assert isinstance(value, int | float), (column, value)
        assert not isinstance(value, bool), (column, value)
        assert math.isfinite(value), (column, value)
        if column in COUNT_COLUMNS:
            assert isinstance(value, int), (column, value)


@pytest.mark.parametrize(
    ("dataset", "options", "by"),
    [
        ("known", [], []),
        ("known", ["--by", "run", "--by", "symbol", "--every", "20s"], ["run_id", "symbol"]),
        ("tiny", [], []),
    ],
    ids=["known", "known-by-run-symbol-every", "tiny"],
)
def test_json_shape(
    known_root: Path, tiny_root: Path, dataset: str, options: list[str], by: list[str]
) -> None:
    root = known_root if dataset == "known" else tiny_root
    text = invoke("analyze", root, "--format", "json", *options).stdout
    document = strict_json(text)
    assert set(document) == {
        "format",
        "version",
        "tracekit_version",
        "quantile_method",
        "inputs",
        "selection",
        "by",
        "every",
        "stages",
        "deadline",
        "attribution",
        "guards",
        "requests",
        "parallel_symbols",
    }
    assert document["format"] == "tracekit.analysis"
    assert document["version"] == 1
    assert document["tracekit_version"] == tracekit.__version__
    assert document["quantile_method"] == "linear"
    assert document["by"] == by
    every = "--every" in options
    assert document["every"] == ("20s" if every else None)
    assert set(document["inputs"]) == {
        "files",
        "runs",
        "sample_rates",
        "weighted",
        "skipped",
        "duplicates",
        "run_overrides",
    }
    assert document["inputs"]["weighted"] is False
    assert document["inputs"]["duplicates"] == document["inputs"]["run_overrides"] == []
    assert document["inputs"]["skipped"] == []
    assert document["inputs"]["files"] == len(files_under(root))
    assert set(document["selection"]) == {"stages", "symbols", "runs", "since", "until"}
    for section, columns in section_columns(by, every).items():
        rows = document[section]
        assert isinstance(rows, list), section
        for row in rows:
            assert set(row) == columns, section
            for column, value in row.items():
                check_json_value(column, value)
    assert document["stages"], "no stage rows"
    assert document["deadline"], "no deadline rows"
    if dataset == "tiny":
        stages = {row["stage"]: row for row in document["stages"]}
        assert stages["b"]["p95_ms"] is None
        assert stages["a"]["p99_ms"] is None
        assert document["parallel_symbols"] == [{"n": 0, "min": None, "mean": None, "max": None}]
    if every:
        starts = sorted({row["window_start"] for row in document["deadline"]})
        assert starts == [
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:20Z",
            "2026-01-01T00:00:40Z",
        ]


def test_json_records_the_selection(known_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    invoke(
        "analyze",
        known_root,
        "-f",
        "json",
        "--run",
        "beta",
        "--symbol",
        "ETH",
        "--stage",
        "spread",
        "--since",
        "2026-01-01T00:00:30",
        "--until",
        "2026-01-01T00:00:50Z",
        "-o",
        out,
    )
    document = strict_json(out.read_text(encoding="utf-8"))
    assert document["selection"] == {
        "stages": ["spread"],
        "symbols": ["ETH"],
        "runs": ["beta"],
        "since": "2026-01-01T00:00:30Z",
        "until": "2026-01-01T00:00:50Z",
    }
    assert [row["stage"] for row in document["stages"]] == ["spread"]
    assert document["deadline"][0]["ticks"] == 80  # beta's ticks in [30 s, 50 s)


# -- CSV --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table", ["stages", "deadline", "attribution", "guards", "requests", "parallel"]
)
def test_csv_writes_the_chosen_table(known_root: Path, table: str) -> None:
    text = invoke(
        "analyze", known_root, "-f", "csv", "--csv-table", table, "--by", "run", "--every", "20s"
    ).stdout
    rows = list(csv.reader(io.StringIO(text)))
    analysis = tracekit.load(known_root).analyze(by=["run_id"], every="20s")
    frame: pl.DataFrame = getattr(analysis, table)
    assert rows[0] == frame.columns
    assert len(rows) - 1 == frame.height > 0
    for cells, expected in zip(rows[1:], frame.iter_rows(), strict=True):
        for cell, value in zip(cells, expected, strict=True):
            if value is None:
                assert cell == ""
            elif isinstance(value, datetime):
                assert datetime.fromisoformat(cell) == value
            elif isinstance(value, str):
                assert cell == value
            else:
                assert float(cell) == pytest.approx(value, rel=1e-12)


def test_csv_defaults_to_stages(known_root: Path) -> None:
    text = invoke("analyze", known_root, "--format", "csv").stdout
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header == ["stage", *LATENCY, *SELF_LATENCY]
    assert [row[0] for row in rows] == ["fetch_md", "spread", "guards", "emit", "tick_total"]


# -- help and version -------------------------------------------------------------------


def test_help_and_version() -> None:
    top = run_in_process("--help")
    assert top.returncode == 0, top.stderr
    assert "analyze" in top.stdout
    command = run_in_process("analyze", "--help")
    assert command.returncode == 0, command.stderr
    for option in ("--by", "--every", "--format", "--csv-table", "--skip-bad", "--output"):
        assert option in command.stdout
    version = run_in_process("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"tracekit {tracekit.__version__}"


def test_a_mistyped_command_gets_a_suggestion() -> None:
    result = run_in_process("analyz", "samples")
    assert result.returncode == 2
    assert result.stderr.startswith("Error: No such command 'analyz'. Did you mean 'analyze'")


# -- progress bar -----------------------------------------------------------------------


def test_progress_is_drawn_on_a_terminal_for_the_table(known_root: Path) -> None:
    """The control: with a terminal, the table format does draw the bar."""
    code, output = run_on_terminal("analyze", known_root)
    assert code == 0
    assert "Reading golden traces" in output
    assert "Stage latency" in output


@pytest.mark.slow  # a fresh interpreter on a pseudo-terminal
def test_no_progress_in_json_even_on_a_terminal(known_root: Path) -> None:
    code, output = run_on_terminal("analyze", known_root, "--format", "json")
    assert code == 0
    for mark in PROGRESS_MARKS:
        assert mark not in output
    assert strict_json(output.replace("\r\n", "\n"))["format"] == "tracekit.analysis"


def test_no_progress_when_stdout_is_not_a_terminal(known_root: Path) -> None:
    result = run_in_process("analyze", known_root)
    assert result.returncode == 0, result.stderr
    assert "Stage latency" in result.stdout
    for mark in PROGRESS_MARKS:
        assert mark not in result.stdout
        assert mark not in result.stderr


# -- bad input ---------------------------------------------------------------------------


class Case(NamedTuple):
    args: tuple[str, ...]
    names: tuple[str, ...]
    """Text the one error line must contain (the file or option at fault)."""


class Outcome(NamedTuple):
    result: CliResult
    case: Case


def build_bad_inputs(root: Path, known_root: Path) -> dict[str, Case]:
    """Write every kind of bad input under ``root``; the cases that use them."""
    good = files_under(known_root)[0]
    (root / "empty").mkdir()
    (root / "empty" / "notes.txt").write_text("not a trace\n")
    text_file = root / "x.parquet"
    text_file.write_text("this is not parquet\n")
    truncated = root / "truncated.parquet"
    data = good.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    foreign = root / "foreign.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3]}), foreign)
    v2 = write_run(root / "v2", "future", [Tick(1, EPOCH_NS, 10 * MS)], version="2")[0]
    lacking = root / "lacking.parquet"
    pq.write_table(
        golden_table("r", [Tick(1, EPOCH_NS, 10 * MS)], metadata("r")).drop(["detail"]), lacking
    )
    zero = root / "zero.parquet"
    pq.write_table(golden_table("r", [], metadata("r")), zero)
    stage = ("stage", "spread", "BTC", None, None, EPOCH_NS, -5)
    negative = write_run(root / "negative", "neg", [Tick(1, EPOCH_NS, 10 * MS, spans=(stage,))])[0]
    null = write_run(root / "null", "null", [Tick(1, EPOCH_NS, None)])[0]
    mixed = root / "mixed"
    for path in files_under(known_root):
        target = mixed / path.relative_to(known_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    bad_among_good = mixed / "run_id=alpha" / "golden-000009.parquet"
    bad_among_good.write_text("garbage\n")
    with_negative = root / "with_negative"
    with_negative.mkdir()
    (with_negative / "good.parquet").write_bytes(good.read_bytes())
    (with_negative / "negative.parquet").write_bytes(negative.read_bytes())
    out = root / "out" / "report.txt"
    pattern = str(root / "*.nothing")
    return {
        "missing path": Case((str(root / "nope"),), (str(root / "nope"),)),
        "folder without parquet": Case((str(root / "empty"),), (str(root / "empty"), "Parquet")),
        "glob matching nothing": Case((pattern,), (pattern,)),
        "text file named .parquet": Case((str(text_file),), (str(text_file), "not a readable")),
        "truncated parquet": Case((str(truncated),), (str(truncated), "not a readable")),
        "parquet of another schema": Case((str(foreign),), (str(foreign), "metadata")),
        "schema version 2": Case((str(root / "v2"),), (str(v2), "version 2")),
        "columns missing": Case((str(lacking),), (str(lacking), "detail")),
        "zero rows": Case((str(zero),), (str(zero), "no tick")),
        "since after the data": Case(
            (str(good), "--since", "2030-01-01T00:00:00Z", "--output", str(out)),
            (str(good), "no tick"),
        ),
        "run not in the data": Case((str(good), "--run", "nope"), ("nope",)),
        "stage with no rows": Case((str(good), "--stage", "nope"), (str(good), "nope")),
        "negative duration": Case((str(negative),), (str(negative), "negative")),
        "null duration": Case((str(null),), (str(null), "null")),
        "one bad file among many": Case((str(mixed),), (str(bad_among_good),)),
        "bad --every": Case((str(good), "--every", "soon"), ("soon",)),
        "zero --every": Case((str(good), "--every", "0s"), ("0s",)),
        "bad --since": Case((str(good), "--since", "yesterday"), ("--since", "yesterday")),
        "bad --until": Case((str(good), "--until", "2026-13-01"), ("--until",)),
        "bad --by": Case((str(good), "--by", "colour"), ("--by",)),
        "skip bad, nothing left": Case(
            (str(text_file), str(foreign), "--skip-bad"), ("no usable", "among 2", str(foreign))
        ),
        # Not errors: these are checked by their own tests below.
        "skip bad": Case(
            (str(mixed), str(foreign), str(root / "v2"), "--skip-bad", "--format", "json"),
            (str(bad_among_good), str(foreign), str(v2)),
        ),
        "skip a negative file": Case((str(with_negative), "--skip-bad", "-f", "json"), ()),
    }


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory: pytest.TempPathFactory, known_root: Path) -> dict[str, Outcome]:
    """Every case run once through ``tracekit analyze``.

    The tree of inputs is hashed before and after all the runs.
    """
    root = tmp_path_factory.mktemp("bad")
    cases = build_bad_inputs(root, known_root)
    before = TreeSnapshot.of(root)
    outcomes = {
        name: Outcome(run_in_process("analyze", *case.args), case) for name, case in cases.items()
    }
    assert TreeSnapshot.of(root) == before, "analyze modified or created a file"
    assert not (root / "out").exists()
    return outcomes


ONE_LINE_ERRORS = [
    "missing path",
    "folder without parquet",
    "glob matching nothing",
    "text file named .parquet",
    "truncated parquet",
    "parquet of another schema",
    "schema version 2",
    "columns missing",
    "zero rows",
    "since after the data",
    "run not in the data",
    "stage with no rows",
    "negative duration",
    "null duration",
    "one bad file among many",
    "bad --every",
    "zero --every",
    "bad --since",
    "bad --until",
    "skip bad, nothing left",
]


def assert_no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


@pytest.mark.parametrize("name", ONE_LINE_ERRORS)
def test_bad_input_is_one_error_line_and_exit_2(bad_runs: dict[str, Outcome], name: str) -> None:
    result, case = bad_runs[name]
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert_no_traceback(result)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    for text in case.names:
        assert text in lines[0]


def test_bad_by_value_exits_2_without_traceback(bad_runs: dict[str, Outcome]) -> None:
    result, _ = bad_runs["bad --by"]
    assert result.returncode == 2
    assert_no_traceback(result)
    assert result.stdout == ""
    assert "colour" in result.stderr


def test_bad_by_value_is_one_error_line(bad_runs: dict[str, Outcome]) -> None:
    result, _ = bad_runs["bad --by"]
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "--by" in lines[0]


def test_bad_every_names_the_option(bad_runs: dict[str, Outcome]) -> None:
    result, _ = bad_runs["bad --every"]
    assert "--every" in result.stderr


def test_skip_bad_lists_what_it_skipped(bad_runs: dict[str, Outcome], known_root: Path) -> None:
    result, case = bad_runs["skip bad"]
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    lines = result.stderr.splitlines()
    assert len(lines) == len(case.names) == 3, result.stderr
    for line, path in zip(lines, sorted(case.names), strict=True):
        assert line.startswith(f"Warning: skipped {path}: ")
    document = strict_json(result.stdout)
    skipped = {entry["path"]: entry["reason"] for entry in document["inputs"]["skipped"]}
    assert set(skipped) == set(case.names)
    assert "not a readable Parquet file" in skipped[case.names[0]]
    assert "without tracekit metadata" in skipped[case.names[1]]
    assert "schema version 2" in skipped[case.names[2]]
    assert document["inputs"]["files"] == len(files_under(known_root))
    assert document["inputs"]["runs"] == ["alpha", "beta"]
    assert document["deadline"][0]["ticks"] == 400  # every good file was read


def test_skip_bad_also_skips_a_file_with_a_negative_duration(
    bad_runs: dict[str, Outcome],
) -> None:
    result, _ = bad_runs["skip a negative file"]
    assert result.returncode == 0, result.stderr
    [skipped] = strict_json(result.stdout)["inputs"]["skipped"]
    assert skipped["path"].endswith("negative.parquet")


def test_analysis_repr_is_one_line_without_file_paths(known_root: Path) -> None:
    analysis = tracekit.load(known_root).analyze()
    text = repr(analysis)
    assert text.startswith("<Analysis: 5 files; runs alpha, beta; 400 ticks, ")
    assert "\n" not in text
    assert ".parquet" not in text
    assert ".parquet" not in analysis._repr_html_().split("</h4>")[0]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.0, "0.00"),
        (0.0051234, "0.00512"),
        (0.09996, "0.100"),
        (0.512, "0.512"),
        (0.99951, "1.00"),
        (1.234, "1.23"),
        (1234.5, "1,234.50"),
        (None, "—"),
    ],
)
def test_milliseconds_keep_three_significant_digits_below_one(value: Any, shown: str) -> None:
    from tracekit.present.render.sections import significant

    assert significant(2)(value) == shown


def test_html_shows_every_row_formatted(known_root: Path) -> None:
    """Jupyter's table: all rows (polars' own HTML elides the middle), formatted cells."""
    analysis = tracekit.load(known_root).analyze(by=["run_id"], every="20s")
    html = analysis._repr_html_()
    assert "&hellip;" not in html
    assert "…" not in html
    stage_table = html.split("<h5>Stage latency</h5>")[1].split("</table>")[0]
    assert stage_table.count("<tr>") == analysis.stages.height + 1  # and the header
    first = analysis.stages.row(0, named=True)
    assert f">{first['p95_ms']:,.2f}<" in stage_table


def test_fast_refuses_an_explicit_self_time() -> None:
    result = run_in_process("analyze", SAMPLES / "current", "--fast", "--self-time")
    assert result.returncode == 2
    assert "--self-time" in result.stderr
    assert result.stderr.count("\n") == 1
    quiet = run_in_process("analyze", SAMPLES / "current", "--fast", "--no-self-time", "-f", "json")
    assert quiet.returncode == 0, quiet.stderr


def test_csv_table_without_csv_format_is_refused() -> None:
    result = run_in_process("analyze", SAMPLES / "current", "--csv-table", "guards")
    assert result.returncode == 2
    assert result.stderr == (
        "Error: --csv-table applies to --format csv only; add --format csv, or drop "
        "--csv-table guards\n"
    )
    csv = run_in_process("analyze", SAMPLES / "current", "-f", "csv", "--csv-table", "guards")
    assert csv.returncode == 0, csv.stderr
    assert "reason" in csv.stdout.splitlines()[0]


def test_since_after_until_is_refused_by_name() -> None:
    result = run_in_process(
        "analyze", SAMPLES / "current", "--since", "2030-01-01", "--until", "2020-01-01"
    )
    assert result.returncode == 2
    assert result.stderr.startswith("Error: --since (2030-01-01) is not before --until")
    assert result.stderr.count("\n") == 1


def test_only_bad_files_with_skip_bad_does_not_suggest_skip_bad(tmp_path: Path) -> None:
    (tmp_path / "run_id=r").mkdir()
    (tmp_path / "run_id=r" / "golden-000001.parquet").write_bytes(b"not parquet")
    result = run_in_process("analyze", tmp_path, "--skip-bad")
    assert result.returncode == 2
    assert "no usable golden-trace file" in result.stderr
    assert "--skip-bad" not in result.stderr
