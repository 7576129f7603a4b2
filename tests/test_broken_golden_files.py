"""A golden file broken inside (a corrupt data page, a column of the wrong type)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from cli_helpers import SAMPLES, run_in_process


def test_a_corrupt_data_page_is_named(tmp_path: Path) -> None:
    source = next((SAMPLES / "baseline").rglob("golden-000001.parquet"))
    broken = tmp_path / "run_id=x" / "golden-000001.parquet"
    broken.parent.mkdir()
    data = bytearray(source.read_bytes())
    for index in range(200, len(data) // 2):  # the data pages; the footer stays intact
        data[index] = 0xFF
    broken.write_bytes(bytes(data))
    result = run_in_process("analyze", tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"Error: {broken}: ")
    assert "Traceback" not in result.stderr


def test_a_column_of_the_wrong_type_is_a_schema_error(tmp_path: Path) -> None:
    source = next((SAMPLES / "baseline").rglob("golden-000001.parquet"))
    table = pq.read_table(source)
    index = table.schema.get_field_index("duration_ns")
    as_text = pa.array([None if v is None else str(v) for v in table.column(index).to_pylist()])
    table = table.set_column(index, "duration_ns", as_text)
    path = tmp_path / "strings.parquet"
    pq.write_table(table, path)
    result = run_in_process("analyze", path)
    assert result.returncode == 2
    assert "duration_ns is string, not int64" in result.stderr
