"""A large file read in parts of its row groups: ticks never split, figures unchanged."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from analysis_helpers import golden_table, known_ticks, metadata, write_run

import tracekit
from tracekit.analysis import reader, traceset
from tracekit.store import schema

START_NS = 1_700_000_000_000_000_000


def _one_file(root: Path, *, row_group_size: int, order: str | None = None) -> Path:
    """400 ticks of one run in one file of many row groups (ticks in file order, or
    sorted by ``order``, which interleaves them across row groups)."""
    folder = root / f"{schema.PARTITION_KEY}=r"
    folder.mkdir(parents=True)
    ticks = known_ticks("r", 400, START_NS)
    table = golden_table("r", ticks, metadata("r", window=1, ticks=len(ticks)))
    if order is not None:
        table = table.sort_by(order)
    path = folder / "golden-000001.parquet"
    pq.write_table(table, path, row_group_size=row_group_size, compression="zstd")
    return path


def _ticks_of(part: reader.FilePart) -> set[int]:
    file = pq.ParquetFile(part.path)
    return set(
        file.read_row_groups(list(part.row_groups), columns=["tick_id"])["tick_id"].to_pylist()
    )


def test_cuts_fall_only_between_whole_ticks(tmp_path: Path) -> None:
    # Row groups of 97 rows: most boundaries fall inside a tick (several rows each).
    path = _one_file(tmp_path, row_group_size=97)
    groups = pq.read_metadata(path).num_row_groups
    parts = reader.file_parts(str(path), target_bytes=1)
    assert 1 < len(parts) < groups  # some boundaries cut a tick: those are not cuts
    assert [g for part in parts for g in part.row_groups] == list(range(groups))
    seen: set[int] = set()
    for part in parts:
        ticks = _ticks_of(part)
        assert not ticks & seen, "a tick has rows in two parts"
        seen |= ticks
    assert len(seen) == 400


def test_interleaved_ticks_leave_the_file_whole(tmp_path: Path) -> None:
    path = _one_file(tmp_path, row_group_size=97, order="kind")  # tick rows, then spans
    assert reader.file_parts(str(path), target_bytes=1) == [reader.FilePart(str(path), ())]


def test_a_file_without_statistics_is_whole(tmp_path: Path) -> None:
    path = _one_file(tmp_path, row_group_size=97)
    table = pq.read_table(path)
    pq.write_table(table, path, row_group_size=97, write_statistics=False)
    assert reader.file_parts(str(path), target_bytes=1) == [reader.FilePart(str(path), ())]


@pytest.mark.parametrize("self_time", [True, False])
def test_analyze_in_parts_equals_analyze_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, self_time: bool
) -> None:
    _one_file(tmp_path, row_group_size=97)
    whole = tracekit.load(tmp_path).analyze(self_time=self_time).to_dict()
    calls: list[reader.FilePart] = []
    original = reader.read_part

    def read_part(part: reader.FilePart, *args: object, **kwargs: object) -> object:
        calls.append(part)
        return original(part, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(traceset, "LARGE_FILE_BYTES", 0)
    monkeypatch.setattr(traceset, "SELF_TIME_BATCH_BYTES", 1)
    monkeypatch.setattr(traceset, "PART_BYTES", 1)
    monkeypatch.setattr(reader, "read_part", read_part)
    parted = tracekit.load(tmp_path).analyze(self_time=self_time).to_dict()
    assert len([part for part in calls if part.row_groups]) > 1  # it was read in parts
    assert parted == whole


def test_read_part_reads_only_its_row_groups(tmp_path: Path) -> None:
    path = _one_file(tmp_path, row_group_size=97)
    part = reader.FilePart(str(path), (2, 3))
    frame = reader.read_part(
        part, ["tick_id", "kind", "_weight"], runs={str(path): "s"}, weights={}
    )
    expected = pq.ParquetFile(path).read_row_groups([2, 3], columns=["tick_id"])
    assert frame["tick_id"].to_list() == expected["tick_id"].to_pylist()
    assert frame["_weight"].unique().to_list() == [1.0]


def test_a_large_file_after_small_ones_is_still_read_in_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = _one_file(tmp_path / "b", row_group_size=97)
    (small,) = write_run(tmp_path / "a", "a", known_ticks("a", 3, START_NS - 10**12))
    # The small file opens a batch that the large one joins (and closes).
    monkeypatch.setattr(traceset, "SELF_TIME_BATCH_BYTES", small.stat().st_size + 1)
    monkeypatch.setattr(traceset, "LARGE_FILE_BYTES", big.stat().st_size)
    monkeypatch.setattr(traceset, "PART_BYTES", 1)
    paths = sorted([str(small), str(big)])
    assert traceset._batches(paths) == [paths]
    found = traceset._batches_and_parts(paths)
    assert found[0] == [str(small)]
    assert len(found) > 2
    assert all(isinstance(part, reader.FilePart) and part.path == str(big) for part in found[1:])


def test_a_file_without_the_added_columns_reads_them_as_nulls(tmp_path: Path) -> None:
    # Written before `attributes`, `span_id` and `parent_span_id` (added=False): a
    # string column asked for as a dictionary used to be a KeyError in pyarrow.
    path = _one_file(tmp_path, row_group_size=500)
    assert "attributes" not in pq.read_schema(path).names
    frame = reader.read_file(str(path), ["kind", "attributes", "span_id"], row_groups=(0,))
    assert frame.columns == ["kind", "attributes", "span_id"]
    assert frame.height == 500
    assert frame["attributes"].null_count() == frame.height
    assert frame["span_id"].null_count() == frame.height
    assert frame.schema["attributes"] == frame.schema["kind"]  # Categorical both
