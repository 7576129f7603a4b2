"""``tracekit analyze --fast``: approximate tables from footers, labelled in every format."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from tracekit.analysis import load
from tracekit.analysis.fast import analyze_fast
from tracekit.store import schema

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fast") / "d"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "gen_dataset.py"),
            "--rows",
            "200000",
            "--files",
            "4",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracekit", "analyze", *args], capture_output=True, text=True
    )


def test_fast_tables_match_the_exact_ones(dataset: Path) -> None:
    found = analyze_fast([str(dataset)])
    assert found is not None
    fast, warnings = found
    exact = load(str(dataset)).analyze()
    assert warnings == ()
    assert fast.approximate
    assert not exact.approximate
    assert fast.stages["stage"].to_list() == exact.stages["stage"].to_list()
    assert fast.stages["n"].to_list() == exact.stages["n"].to_list()
    for frame_fast, frame_exact in ((fast.stages, exact.stages), (fast.requests, exact.requests)):
        for column in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"):
            for a, b in zip(frame_fast[column], frame_exact[column], strict=True):
                assert (a is None) == (b is None)
                if b is not None:
                    assert abs(a - b) / b <= 0.01, column
    keys = ["ticks", "misses", "misses_with_detail", "deadline_ms", "miss_rate"]
    assert fast.deadline.select(keys).equals(exact.deadline.select(keys))
    assert fast.guards.select("reason", "trips").equals(
        exact.guards.select("reason", "trips").cast({"trips": pl.UInt32})
    )
    assert fast.requests["n"].to_list() == exact.requests["n"].to_list()


def test_every_format_says_approximate(dataset: Path) -> None:
    document = json.loads(_cli(str(dataset), "--fast", "-f", "json").stdout)
    assert document["approximate"] is True
    assert "APPROXIMATE" in document["approximation"]
    exact = json.loads(_cli(str(dataset), "-f", "json").stdout)
    assert "approximate" not in exact
    markdown = _cli(str(dataset), "--fast", "-f", "markdown").stdout
    assert markdown.startswith("# tracekit analysis (approximate)")
    assert "Stage latency (approximate)" in markdown
    table = _cli(str(dataset), "--fast", "--no-color").stdout
    assert "Stage latency (approximate)" in table
    assert "APPROXIMATE (analyze --fast)" in table


def test_run_and_stage_select(dataset: Path) -> None:
    found = analyze_fast([str(dataset)], stages=["spread"], runs=["bench-1"])
    assert found is not None
    assert found[0].stages["stage"].to_list() == ["spread"]
    none = _cli(str(dataset), "--fast", "--run", "nope")
    assert none.returncode == 2
    assert none.stderr.startswith("Error: ")


def test_fast_refuses_what_it_cannot_answer(dataset: Path) -> None:
    done = _cli(str(dataset), "--fast", "--by", "symbol")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "--fast answers whole runs" in done.stderr


def test_without_summaries_fast_is_exact_and_says_so(dataset: Path, tmp_path: Path) -> None:
    copy = tmp_path / "old"
    shutil.copytree(dataset, copy)
    for path in copy.rglob("golden-*.parquet"):
        table = pq.read_table(path)
        metadata = {
            k: v
            for k, v in (table.schema.metadata or {}).items()
            if k != schema.META_SUMMARY.encode()
        }
        pq.write_table(table.replace_schema_metadata(metadata), path)
    assert analyze_fast([str(copy)]) is None
    done = _cli(str(copy), "--fast", "-f", "json")
    assert done.returncode == 0
    assert "no file carries a summary" in done.stderr
    assert "approximate" not in json.loads(done.stdout)
