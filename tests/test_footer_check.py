"""The footer check's verdicts on a repeated column, its per-schema comparison, and
its footer read from the file's tail (pyarrow's own reader for anything unusual)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from analysis_helpers import EPOCH_NS, MS, Tick, golden_table, metadata

from tracekit.errors import InputError, SchemaError
from tracekit.store import check


def _with_tick_id_twice(path: Path, *, tracekit_metadata: bool) -> Path:
    table = golden_table("r", [Tick(1, EPOCH_NS, 10 * MS)], metadata("r"))
    table = table.append_column(pa.field("tick_id", pa.int64()), table.column("tick_id"))
    if not tracekit_metadata:
        table = table.replace_schema_metadata({})
    pq.write_table(table, path)
    return path


def test_a_repeated_column_is_refused_as_repeated(tmp_path: Path) -> None:
    path = _with_tick_id_twice(tmp_path / "twice.parquet", tracekit_metadata=True)
    with pytest.raises(SchemaError, match="a column name appears twice"):
        check.check_footer(str(path))


def test_without_tracekit_metadata_that_comes_first(tmp_path: Path) -> None:
    path = _with_tick_id_twice(tmp_path / "foreign.parquet", tracekit_metadata=False)
    with pytest.raises(SchemaError, match="without tracekit metadata"):
        check.check_footer(str(path))


def test_files_of_one_writer_share_one_comparison(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Their key-value metadata differ (window, ticks), their columns do not.
    compared: list[object] = []
    real = check._compared

    def counted(arrow_schema: pa.Schema) -> object:
        compared.append(arrow_schema)
        return real(arrow_schema)

    monkeypatch.setattr(check, "_compared", counted)
    monkeypatch.setattr(check, "_recent", ())
    for window in range(1, 6):
        table = golden_table("r", [Tick(window, EPOCH_NS, 10 * MS)], metadata("r", window=window))
        pq.write_table(table, tmp_path / f"golden-{window:06d}.parquet")
        check.check_footer(str(tmp_path / f"golden-{window:06d}.parquet"))
    assert len(compared) == 1
    # A file of other columns is compared on its own, and refused.
    _with_tick_id_twice(tmp_path / "twice.parquet", tracekit_metadata=True)
    with pytest.raises(SchemaError, match="appears twice"):
        check.check_footer(str(tmp_path / "twice.parquet"))
    assert len(compared) == 2
    check.check_footer(str(tmp_path / "golden-000001.parquet"))  # still known
    assert len(compared) == 2


def _golden(path: Path, window: int = 1, **write: Any) -> Path:
    table = golden_table("r", [Tick(window, EPOCH_NS, 10 * MS)], metadata("r", window=window))
    pq.write_table(table, path, **write)
    return path


@pytest.mark.parametrize(
    "write",
    [{}, {"row_group_size": 1}, {"compression": "none"}, {"write_statistics": False}],
    ids=["default", "row-groups", "uncompressed", "no-statistics"],
)
def test_the_footer_read_from_the_tail_is_pyarrows(tmp_path: Path, write: dict[str, Any]) -> None:
    path = _golden(tmp_path / "golden-000001.parquet", **write)
    with path.open("rb") as file:
        fast = check._footer_from_tail(file)
    assert fast is not None
    assert fast.equals(pq.read_metadata(path))
    assert fast.metadata == pq.read_metadata(path).metadata


def test_a_footer_longer_than_one_read_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _golden(tmp_path / "golden-000001.parquet")
    monkeypatch.setattr(check, "TAIL_BYTES", 16)
    with path.open("rb") as file:
        fast = check._footer_from_tail(file)
    assert fast is not None
    assert fast.equals(pq.read_metadata(path))


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:5],  # under 12 bytes
        lambda data: data[:-1],  # no PAR1 trailer
        lambda data: data[:-8] + (len(data)).to_bytes(4, "little") + b"PAR1",  # past the start
        lambda data: data[:-8] + (0).to_bytes(4, "little") + b"PAR1",  # empty footer
        lambda data: data[:-200] + b"\xff" * 192 + data[-8:],  # a footer that is not Thrift
    ],
    ids=["tiny", "no-trailer", "length-past-start", "zero-length", "garbled"],
)
def test_an_unusual_tail_goes_to_pyarrows_reader_and_its_verdict(
    tmp_path: Path, damage: object
) -> None:
    good = _golden(tmp_path / "good.parquet").read_bytes()
    path = tmp_path / "golden-000001.parquet"
    path.write_bytes(damage(good))  # type: ignore[operator]
    with path.open("rb") as file:
        assert check._footer_from_tail(file) is None
    with pytest.raises(InputError, match="not a readable Parquet file"):
        check.check_footer(str(path))


def test_moved_columns_are_found_anew(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check, "_recent_leaves", None)
    path = _golden(tmp_path / "golden-000001.parquet")
    check.check_footer(str(path))
    table = pq.read_table(path)
    moved = table.select([*table.column_names[1:], table.column_names[0]])
    nulls = pa.array([None] * moved.num_rows, pa.string())
    broken = moved.set_column(moved.num_columns - 1, pa.field("run_id", pa.string()), nulls)
    pq.write_table(broken, tmp_path / "golden-000002.parquet")
    with pytest.raises(SchemaError, match="column run_id holds a null"):
        check.check_footer(str(tmp_path / "golden-000002.parquet"))


def _claiming_the_arrow_schema_of(path: Path, table: pa.Table) -> Path:
    """``path`` with its stored Arrow schema replaced by ``table``'s (padded to the
    same length, so the footer's offsets hold): a file whose Arrow and Parquet
    schemas disagree, as only a crafted file's do."""
    import base64

    raw = path.read_bytes()
    stored = pq.read_metadata(path).metadata[b"ARROW:schema"]
    claimed = table.schema.serialize().to_pybytes()
    room = len(base64.b64decode(stored))
    assert raw.count(stored) == 1
    assert room >= len(claimed)
    path.write_bytes(raw.replace(stored, base64.b64encode(claimed + b"\0" * (room - len(claimed)))))
    return path


def test_a_null_in_a_second_leaf_of_the_same_name_is_found_after_a_good_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Parquet schema names run_id twice, its Arrow schema once (so the column
    # check sees no repeat): the null in the last run_id leaf, the one a full map of
    # the leaves finds, is refused whether or not a good file came first.
    good = _golden(tmp_path / "golden-000001.parquet")
    table = pq.read_table(good)
    twice = pa.Table.from_arrays(
        [*table.columns, pa.array([None] * table.num_rows, pa.string())],
        names=[*table.column_names, "run_id"],
    ).replace_schema_metadata(table.schema.metadata)
    path = tmp_path / "golden-000002.parquet"
    pq.write_table(twice, path)
    _claiming_the_arrow_schema_of(path, table)
    for first in (False, True):
        monkeypatch.setattr(check, "_recent_leaves", None)
        if first:
            check.check_footer(str(good))
        with pytest.raises(SchemaError, match="column run_id holds a null"):
            check.check_footer(str(path))


@pytest.mark.parametrize("rows", [0, 1], ids=["no-row-group", "one-row-group"])
def test_a_leaf_the_parquet_schema_lacks_is_refused_by_name(tmp_path: Path, rows: int) -> None:
    table = pq.read_table(_golden(tmp_path / "golden-000001.parquet")).slice(0, rows)
    odd = table.drop_columns(["status"]).append_column(
        "z" * 40, pa.array([None] * rows, pa.string())
    )
    path = tmp_path / "golden-000002.parquet"
    with pq.ParquetWriter(path, odd.schema) as writer:
        if rows:
            writer.write_table(odd)
    _claiming_the_arrow_schema_of(path, table)
    if rows == 0:  # no row group: no null count to read, and nothing to refuse
        check.check_footer(str(path))
        return
    with pytest.raises(SchemaError, match=r"Parquet schema lacks column\(s\) status"):
        check.check_footer(str(path))


def write_encrypted(path: Path) -> Path:
    """A golden file whose ``run_id`` column is encrypted and whose footer is left in
    plain text (Parquet modular encryption, with a toy key service). Only its
    footer's bytes may be read in this process: pyarrow aborts the process when
    asked for that column's metadata."""
    import base64

    import pyarrow.parquet.encryption as pe

    class Kms(pe.KmsClient):  # type: ignore[misc]
        def __init__(self, config: object) -> None:
            super().__init__()

        def wrap_key(self, key: bytes, master_key_identifier: str) -> bytes:
            return base64.b64encode(key)

        def unwrap_key(self, wrapped: bytes, master_key_identifier: str) -> bytes:
            return base64.b64decode(wrapped)

    factory = pe.CryptoFactory(lambda config: Kms(config))
    encryption = pe.EncryptionConfiguration(
        footer_key="f",
        column_keys={"c": ["run_id"]},
        plaintext_footer=True,
        double_wrapping=False,
    )
    properties = factory.file_encryption_properties(pe.KmsConnectionConfig(), encryption)
    table = golden_table("r", [Tick(1, EPOCH_NS, 10 * MS)], metadata("r"))
    pq.write_table(table, path, encryption_properties=properties)
    return path


ENCRYPTED_CHECK = """
import sys
sys.path.insert(0, sys.argv[2])
from test_footer_check import write_encrypted
from tracekit.errors import InputError
from tracekit.store import check

path = str(write_encrypted(__import__("pathlib").Path(sys.argv[1])))
try:
    check.check_footer(path)
except InputError as error:
    print(error)
# The same when the tail read fails and pyarrow's own reader reads the footer.
check._footer_from_tail = lambda file: None
try:
    check.check_footer(path)
except InputError as error:
    print(error)
"""


def test_an_encrypted_file_with_a_plain_footer_is_refused_not_aborted_on(tmp_path: Path) -> None:
    # pyarrow reads such a footer, then aborts the process (an uncaught C++
    # exception) when asked for an encrypted column's statistics: hence a child.
    import subprocess
    import sys

    path = tmp_path / "golden-000001.parquet"
    tests = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", ENCRYPTED_CHECK, str(path), tests],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert line.startswith(f"{path}: not a readable Parquet file (28 bytes follow")
        assert "an encrypted Parquet file" in line
