"""The footer cache: unchanged files are not checked again, anything else is.

Each test has a cache folder of its own. Files written by a test are seconds old,
so most tests set ``SETTLE_NS`` to 0 to have them remembered at once; the settle
rule itself is tested with its default.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from analysis_helpers import write_known_dataset

import tracekit
from tracekit.analysis import sources
from tracekit.errors import InputError, SchemaError
from tracekit.store import check_workers, footer_cache
from tracekit.store.check import check_file


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TRACEKIT_CACHE_DIR", str(folder))
    monkeypatch.delenv("TRACEKIT_FOOTER_CACHE", raising=False)
    return folder


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(footer_cache, "SETTLE_NS", 0)


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths whose footers are read, in order."""
    seen: list[str] = []

    def counting(path: str) -> dict[str, str]:
        seen.append(path)
        return check_file(path)

    monkeypatch.setattr(check_workers, "check_file", counting)
    return seen


def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_known_dataset(root)
    return root


def corrupt_copy_over(path: Path) -> None:
    """Replace ``path`` by a file of the same size that is not Parquet."""
    size = path.stat().st_size
    replacement = path.with_suffix(".new")
    replacement.write_bytes(b"x" * size)
    os.replace(replacement, path)


@pytest.mark.usefixtures("cache_dir", "settled")
def test_a_second_load_reads_no_footer_and_gives_the_same_answers(
    tmp_path: Path, checks: list[str]
) -> None:
    root = dataset(tmp_path)
    first = tracekit.load(root)
    assert len(checks) == 5
    checks.clear()
    second = tracekit.load(root)
    assert checks == []
    assert second.files == first.files
    assert second.runs == first.runs
    assert second.session_rates == first.session_rates
    assert second.analyze().to_dict() == first.analyze().to_dict()


@pytest.mark.usefixtures("cache_dir", "settled")
def test_a_file_replaced_since_is_checked_again_and_refused(tmp_path: Path) -> None:
    root = dataset(tmp_path)
    tracekit.load(root)
    victim = sorted(root.rglob("*.parquet"))[2]
    corrupt_copy_over(victim)
    with pytest.raises(InputError, match=r"not a readable Parquet file") as error:
        tracekit.load(root)
    assert str(victim) in str(error.value)


@pytest.mark.usefixtures("cache_dir", "settled")
def test_a_file_rewritten_in_place_with_its_old_times_is_checked_again(
    tmp_path: Path, checks: list[str]
) -> None:
    root = dataset(tmp_path)
    tracekit.load(root)
    victim = sorted(root.rglob("*.parquet"))[0]
    before = victim.stat()
    time.sleep(0.05)  # past the file system's clock tick, so ctime moves
    data = bytearray(victim.read_bytes())
    data[4:8] = b"\0\0\0\0"  # same size, same inode
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime put back
    checks.clear()
    tracekit.load(root, skip_bad=True)
    assert checks == [str(victim)]


@pytest.mark.usefixtures("cache_dir", "settled")
def test_a_bad_file_is_never_remembered(tmp_path: Path, checks: list[str]) -> None:
    root = dataset(tmp_path)
    victim = sorted(root.rglob("*.parquet"))[1]
    corrupt_copy_over(victim)
    for _ in range(2):
        checks.clear()
        traces = tracekit.load(root, skip_bad=True)
        assert [skipped.path for skipped in traces.skipped] == [str(victim)]
        assert str(victim) in checks
    with pytest.raises(InputError, match=str(victim)):
        tracekit.load(root)


@pytest.mark.usefixtures("cache_dir")
def test_a_file_changed_in_the_last_seconds_is_not_remembered(
    tmp_path: Path, checks: list[str]
) -> None:
    root = dataset(tmp_path)  # just written: not settled
    tracekit.load(root)
    checks.clear()
    tracekit.load(root)
    assert len(checks) == 5


@pytest.mark.usefixtures("settled")
def test_the_cache_can_be_turned_off(
    tmp_path: Path, cache_dir: Path, checks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = dataset(tmp_path)
    tracekit.load(root, footer_cache=False)
    assert not cache_dir.exists()
    tracekit.load(root)
    checks.clear()
    tracekit.load(root, footer_cache=False)
    assert len(checks) == 5
    monkeypatch.setenv("TRACEKIT_FOOTER_CACHE", "off")
    checks.clear()
    tracekit.load(root)
    assert len(checks) == 5


@pytest.mark.usefixtures("settled")
def test_another_tracekit_checks_again(
    tmp_path: Path, checks: list[str], monkeypatch: pytest.MonkeyPatch, cache_dir: Path
) -> None:
    root = dataset(tmp_path)
    tracekit.load(root)
    monkeypatch.setattr(footer_cache, "checker", lambda: "9.9.9/schema-1/pyarrow-0")
    checks.clear()
    tracekit.load(root)
    assert len(checks) == 5


@pytest.mark.usefixtures("settled")
@pytest.mark.parametrize("damage", ["garbage", "a folder in its place", "a file for its folder"])
def test_a_broken_cache_is_a_cache_miss_never_an_error(
    tmp_path: Path, cache_dir: Path, checks: list[str], damage: str
) -> None:
    root = dataset(tmp_path)
    expected = tracekit.load(root, footer_cache=False).analyze().to_dict()
    database = cache_dir / footer_cache.FILE_NAME
    if damage == "garbage":
        cache_dir.mkdir()
        database.write_bytes(b"not a database" * 100)
    elif damage == "a folder in its place":
        database.mkdir(parents=True)
    else:
        cache_dir.write_text("a file, not a folder")
    checks.clear()
    for _ in range(2):
        assert tracekit.load(root).analyze().to_dict() == expected
    assert len(checks) == 10
    if damage == "garbage":  # the first run removed it, the second built it again
        checks.clear()
        assert tracekit.load(root).analyze().to_dict() == expected
        assert checks == []


@pytest.mark.usefixtures("cache_dir", "settled")
def test_a_moved_dataset_is_checked_again_under_its_new_paths(
    tmp_path: Path, checks: list[str]
) -> None:
    root = dataset(tmp_path)
    tracekit.load(root)
    moved = tmp_path / "moved"
    shutil.move(root, moved)
    checks.clear()
    traces = tracekit.load(moved)
    assert len(checks) == 5
    assert all(path.startswith(str(moved)) for path in traces.files)


@pytest.mark.usefixtures("settled")
def test_the_oldest_answers_go_beyond_the_limit(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = dataset(tmp_path)
    monkeypatch.setattr(footer_cache, "MAX_ENTRIES", 3)
    tracekit.load(root)
    with sqlite3.connect(cache_dir / footer_cache.FILE_NAME) as connection:
        kept = [row[0] for row in connection.execute("SELECT path FROM footers ORDER BY path")]
    files = sorted(str(path) for path in root.rglob("*.parquet"))
    assert len(kept) == 3
    assert set(kept) <= set(files)


@pytest.mark.usefixtures("cache_dir", "settled")
def test_a_merged_file_with_a_wrong_window_is_refused_every_time(tmp_path: Path) -> None:
    # Its footer passes, its name does not: only files kept are remembered.
    root = dataset(tmp_path)
    folder = root / "run_id=alpha"
    shutil.copy(folder / "golden-000001.parquet", folder / "golden-000001-000003.parquet")
    for _ in range(2):
        with pytest.raises(SchemaError, match="does not match its name"):
            tracekit.load(root)


@pytest.mark.usefixtures("cache_dir")
def test_the_settle_time_counts_from_the_stats_not_from_the_end_of_the_run(
    tmp_path: Path, checks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long run (here a slow progress callback) must not make a file changed just
    # before its stats were taken look settled by the time the run ends.
    monkeypatch.setattr(footer_cache, "SETTLE_NS", 200_000_000)
    root = dataset(tmp_path)
    time.sleep(0.05)
    tracekit.load(root, progress=lambda done, total: time.sleep(0.3 if done == total else 0))
    checks.clear()
    tracekit.load(root)
    assert len(checks) == 5


@pytest.mark.usefixtures("settled")
def test_replacing_answers_drops_no_other_file_below_the_limit(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(footer_cache, "MAX_ENTRIES", 5)
    root = dataset(tmp_path)
    tracekit.load(root)
    victim = sorted(root.rglob("*.parquet"))[0]
    for _ in range(3):  # the same file remembered again under a new stamp
        time.sleep(0.02)
        victim.write_bytes(victim.read_bytes())
        tracekit.load(root)
    with sqlite3.connect(cache_dir / footer_cache.FILE_NAME) as connection:
        kept = [row[0] for row in connection.execute("SELECT path FROM footers")]
    assert sorted(kept) == sorted(str(path) for path in root.rglob("*.parquet"))


@pytest.mark.usefixtures("settled")
def test_odd_names_and_places_are_a_miss_never_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checks: list[str]
) -> None:
    root = dataset(tmp_path)
    odd = root / "run_id=alpha" / "golden-\udcff-1.parquet"  # not UTF-8 on disk
    os.rename(sorted(root.rglob("golden-000001.parquet"))[0], os.fsencode(odd))
    monkeypatch.setenv("TRACEKIT_CACHE_DIR", str(tmp_path / "cache"))
    first = sources.find_sources([root])
    assert str(odd) in first.files
    monkeypatch.setenv("TRACEKIT_CACHE_DIR", str(tmp_path / ("x" * 300)))  # too long a name
    checks.clear()
    assert sources.find_sources([root]).files == first.files
    assert len(checks) == 5
