"""Hostile inputs to the readers: one ``Error:`` line and exit 2, or a right answer.

Issue 14, "Data silently wrong or lost" (items 1 and 3) and "Hangs and crashes
instead of one Error: line". The bad files come from ``tests/hostile.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import hostile
import pytest
from cli_helpers import assert_one_error_line, run_in_process, run_subprocess

import tracekit
from tracekit.errors import InputError, SchemaError
from tracekit.store import check, schema


def _two_runs(root: Path) -> None:
    hostile.write_window(root / "run_id=canary[1]", 1, hostile.base_table(run_id="canary[1]"))
    hostile.write_window(root / "run_id=c2", 1, hostile.base_table(run_id="c2"))


def test_glob_characters_in_a_run_folder_are_literal(tmp_path: Path) -> None:
    _two_runs(tmp_path)
    traces = tracekit.load(tmp_path)
    assert traces.runs == ["c2", "canary[1]"]
    deadline = traces.deadline(by=["run_id"])
    assert dict(zip(deadline["run_id"], deadline["ticks"], strict=True)) == {
        "c2": 10,
        "canary[1]": 10,
    }


def test_a_file_with_glob_characters_is_read_alone(tmp_path: Path) -> None:
    _two_runs(tmp_path)
    path = tmp_path / "run_id=canary[1]" / "golden-000001.parquet"
    traces = tracekit.load(path)  # '[1]' would be a character class as a glob
    assert traces.files == (str(path),)
    assert traces.deadline()["ticks"].to_list() == [10]


def test_a_file_named_like_a_glob_is_counted_once(tmp_path: Path) -> None:
    folder = tmp_path / "run_id=r"
    hostile.write_window(folder, 1)
    shutil.copy(folder / "golden-000001.parquet", folder / "golden-*.parquet")
    shutil.copy(folder / "golden-000001.parquet", tmp_path / "other.parquet")
    traces = tracekit.load(folder / "golden-*.parquet")  # the file exists: no pattern
    assert traces.deadline()["ticks"].to_list() == [10]


def test_a_pattern_that_names_no_file_is_still_a_glob(tmp_path: Path) -> None:
    _two_runs(tmp_path)
    traces = tracekit.load(str(tmp_path / "run_id=c*"))
    assert traces.runs == ["c2", "canary[1]"]


@pytest.mark.parametrize("column", check.NON_NULLABLE)
def test_a_null_in_a_non_nullable_column_names_the_file(column: str, tmp_path: Path) -> None:
    path = hostile.write_window(tmp_path / "run_id=r", 1, hostile.null_in(column))
    with pytest.raises(SchemaError, match=f"column {column} holds a null") as caught:
        tracekit.load(tmp_path)
    assert str(path) in str(caught.value)


def test_a_null_is_skipped_with_skip_bad(tmp_path: Path) -> None:
    hostile.write_window(tmp_path / "run_id=r", 1, hostile.null_in("kind"))
    good = hostile.write_window(tmp_path / "run_id=r", 2)
    traces = tracekit.load(tmp_path, skip_bad=True)
    assert traces.files == (str(good),)
    assert "holds a null" in traces.skipped[0].reason


def test_null_counts_missing_from_the_footer_are_counted_from_the_data(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "run_id=r" / "golden-000001.parquet"
    path.parent.mkdir()
    pq.write_table(hostile.null_in("tick_id"), path, write_statistics=False)
    assert not pq.read_metadata(path).row_group(0).column(1).is_stats_set
    with pytest.raises(SchemaError, match="column tick_id holds a null"):
        check.check_file(str(path))


def test_an_extra_nullable_column_is_read(tmp_path: Path) -> None:
    hostile.write_window(tmp_path / "run_id=r", 1, hostile.extra_column())
    assert tracekit.load(tmp_path).deadline()["ticks"].to_list() == [10]


def test_a_footer_declaring_too_many_rows_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = hostile.write_window(tmp_path / "run_id=r", 1)
    monkeypatch.setattr(check, "MAX_FILE_ROWS", hostile.ROWS - 1)
    with pytest.raises(InputError, match="declares 40 rows"):
        check.check_file(str(path))


BAD_FILES = {
    "empty file": "not a readable Parquet file",
    "not parquet": "not a readable Parquet file",
    "truncated": "not a readable Parquet file",
    "fifo": "is a FIFO (named pipe), not a regular file",
    "non-utf8 metadata": "is not UTF-8 text",
    "version superscript two": "schema version '²' is not supported",
    "version 30 digits": "schema version '999999999999999999999999999999' is not supported",
    "null run_id": "column run_id holds a null",
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_one_error_line(case: str, tmp_path: Path) -> None:
    path = hostile.corpus()[case](tmp_path / "data" / "run_id=r")
    run = run_subprocess if case == "fifo" else run_in_process  # a FIFO could hang: a process
    result = run("analyze", tmp_path / "data", timeout=60)
    assert_one_error_line(result, str(path), BAD_FILES[case])


@pytest.mark.slow  # a fresh interpreter per command (the profile FIFO test stays fast)
@pytest.mark.parametrize(
    "command",
    [
        ("analyze", "{data}"),
        ("profile", "{data}", "-o", "{out}/p.json"),
        ("plot", "{data}", "--kind", "timeline", "-o", "{out}/p.png"),
        ("export", "chrome", "{data}", "-o", "{out}/t.json"),
        ("compare", "{data}", "{data}"),
        ("canary", "{data}", "{data}"),
        ("compact", "{data}"),
    ],
    ids=lambda command: command[0],
)
def test_a_fifo_in_a_dataset_never_hangs(command: tuple[str, ...], tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    hostile.write_window(data / "run_id=r", 2)
    fifo = hostile.fifo(data / "run_id=r" / "golden-000001.parquet")
    args = [part.format(data=data, out=out) for part in command]
    result = run_subprocess(*args, timeout=60)
    assert_one_error_line(result, str(fifo), "FIFO")


def test_a_decompression_bomb_is_refused_by_export_chrome(tmp_path: Path) -> None:
    data = tmp_path / "data" / "run_id=r"
    data.mkdir(parents=True)
    bomb = hostile.decompression_bomb(data / "golden-000001.parquet")
    assert bomb.stat().st_size < 40_000  # 5 GB once decoded
    result = run_in_process(
        "export", "chrome", str(tmp_path / "data"), "-o", str(tmp_path / "t.json")
    )
    assert_one_error_line(result, "over the 100 MB limit")
    assert not (tmp_path / "t.json").exists()


def test_the_json_of_a_glob_named_run_counts_every_run(tmp_path: Path) -> None:
    _two_runs(tmp_path)
    result = run_in_process("analyze", str(tmp_path), "--by", "run", "-f", "json")
    assert result.returncode == 0, result.stderr
    ticks = {row["run_id"]: row["ticks"] for row in json.loads(result.stdout)["deadline"]}
    assert ticks == {"c2": 10, "canary[1]": 10}


def test_a_merged_file_covers_windows_only_once_it_passes_its_check(tmp_path: Path) -> None:
    folder = tmp_path / "run_id=r"
    for window in (1, 2):
        hostile.write_window(folder, window)
    (folder / schema.compacted_file_name(1, 2)).write_bytes(b"")  # a crashed merge
    traces = tracekit.load(tmp_path, skip_bad=True)
    assert len(traces.files) == 2  # the windows, not lost behind the broken merge
    assert traces.deadline()["ticks"].to_list() == [20]


def test_a_fifo_named_like_a_profile_never_hangs(tmp_path: Path) -> None:
    hostile.write_window(tmp_path / "data" / "run_id=r", 1)
    fifo = hostile.fifo(tmp_path / "baseline.json")
    result = run_subprocess("compare", str(fifo), str(tmp_path / "data"), timeout=60)
    assert_one_error_line(result, str(fifo), "FIFO")
