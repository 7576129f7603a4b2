"""``tracekit compact`` on hostile folders: it never deletes data it has not verified.

Issue 14, "Data silently wrong or lost", item 2.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

import hostile
import pyarrow.parquet as pq
import pytest
from cli_helpers import assert_one_error_line, run_in_process

import tracekit
from tracekit.errors import InputError
from tracekit.store import compact as compact_module
from tracekit.store import schema
from tracekit.store.compact import compact


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (FIFOs by name only) and a hash of its bytes."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_fifo():
            found[str(path)] = "fifo"
        elif path.is_file():
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def windows(folder: Path, count: int) -> list[Path]:
    return [hostile.write_window(folder, window) for window in range(1, count + 1)]


def test_a_broken_merged_file_removes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "run_id=r"
    windows(folder, 3)
    broken = folder / schema.compacted_file_name(1, 3)
    broken.write_bytes(b"")
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="not a readable Parquet file") as caught:
        compact(tmp_path)
    assert str(broken) in str(caught.value)
    assert snapshot(tmp_path) == before
    result = compact(tmp_path, skip_bad=True)
    assert snapshot(tmp_path) == before  # its windows are kept, and not merged again
    assert [left.path for left in result.skipped] == [str(broken)]
    assert tracekit.load(tmp_path, skip_bad=True).deadline()["ticks"].to_list() == [30]


def test_a_merged_file_with_the_wrong_rows_removes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "run_id=r"
    windows(folder, 3)
    other = hostile.base_table(ticks=5)
    other = hostile.with_metadata(other, window=b"1-3", ticks=b"5")
    pq.write_table(other, folder / schema.compacted_file_name(1, 3))
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="it is not the merge of these windows"):
        compact(tmp_path)
    assert snapshot(tmp_path) == before


def test_a_merged_file_with_the_wrong_window_metadata_removes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "run_id=r"
    windows(folder, 2)
    table = hostile.with_metadata(hostile.base_table(ticks=20), window=b"7", ticks=b"20")
    pq.write_table(table, folder / schema.compacted_file_name(1, 2))
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match=re.escape("tracekit.window metadata is '7', not '1-2'")):
        compact(tmp_path)
    assert snapshot(tmp_path) == before


def test_a_checked_merged_file_still_removes_its_leftover_windows(tmp_path: Path) -> None:
    folder = tmp_path / "run_id=r"
    originals = {path: path.read_bytes() for path in windows(folder, 3)}
    compact(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["golden-000001-000003.parquet"]
    for path, data in originals.items():  # as if compact was killed before the removals
        path.write_bytes(data)
    result = compact(tmp_path)
    assert result.covered_removed == 3
    assert sorted(p.name for p in folder.iterdir()) == ["golden-000001-000003.parquet"]


def test_an_unreadable_window_is_exit_2_and_changes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "run_id=r"
    windows(folder, 3)
    (folder / "golden-000002.parquet").write_bytes(b"PAR1 garbage")
    before = snapshot(tmp_path)
    result = run_in_process("compact", str(tmp_path))
    assert_one_error_line(result, "golden-000002.parquet", "--skip-bad")
    assert snapshot(tmp_path) == before


def test_a_corrupt_window_is_never_merged(tmp_path: Path) -> None:
    folder = tmp_path / "run_id=r"
    paths = windows(folder, 4)
    data = bytearray(paths[1].read_bytes())
    for index in range(4, len(data) // 2):  # the data pages; the footer stays intact
        data[index] = 0xFF
    paths[1].write_bytes(bytes(data))
    corrupt = paths[1].read_bytes()
    result = compact(tmp_path, skip_bad=True)
    assert [left.path for left in result.skipped] == [str(paths[1])]
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "golden-000001.parquet",
        "golden-000002.parquet",
        "golden-000003-000004.parquet",
    ]
    assert paths[1].read_bytes() == corrupt


def test_an_extra_nullable_column_is_merged_and_kept(tmp_path: Path) -> None:
    folder = tmp_path / "run_id=r"
    windows(folder, 2)
    hostile.write_window(folder, 3, hostile.with_metadata(hostile.extra_column(), window=b"3"))
    result = compact(tmp_path)
    assert result.files_before == 3
    merged = pq.read_table(folder / schema.compacted_file_name(1, 3))
    assert "queue_depth" in merged.column_names
    assert merged.num_rows == 3 * hostile.ROWS


def _temporary(folder: Path, pid: int, age_s: float) -> Path:
    path = folder / f".golden-000009.parquet.{pid}.140000000.tmp"
    path.write_bytes(b"partial")
    moment = time.time() - age_s
    os.utime(path, (moment, moment))
    return path


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "run_id=r"
    windows(folder, 1)
    dead = 2**22 + 12345  # above the default pid_max: never a live process
    stale = _temporary(folder, dead, compact_module.STALE_TEMPORARY_S + 60)
    fresh = folder / ".golden-000010.parquet.1.1.tmp"
    fresh.write_bytes(b"being written")
    young = folder / f".golden-000011.parquet.{dead}.1.tmp"
    young.write_bytes(b"young")
    alive = _temporary(folder, os.getpid(), compact_module.STALE_TEMPORARY_S + 60)
    other = folder / ".notes.tmp"
    other.write_bytes(b"not ours")
    os.utime(other, (0, 0))
    result = compact(tmp_path)
    assert result.temporaries_removed == 1
    assert not stale.exists()
    assert all(path.exists() for path in (fresh, young, alive, other))


def test_compact_finds_run_folders_with_glob_characters(tmp_path: Path) -> None:
    folder = tmp_path / "run_id=canary[1]"
    windows(folder, 2)
    assert compact(tmp_path).files_before == 2
    assert [p.name for p in folder.iterdir()] == ["golden-000001-000002.parquet"]
