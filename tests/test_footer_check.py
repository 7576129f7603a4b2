"""The footer check's verdicts on a repeated column, and its per-schema cache."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from analysis_helpers import EPOCH_NS, MS, Tick, golden_table, metadata

from tracekit.errors import SchemaError
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


def test_files_of_one_writer_share_one_comparison(tmp_path: Path) -> None:
    # Their key-value metadata differ (window, ticks), their columns do not.
    check._columns.cache_clear()
    for window in range(1, 6):
        table = golden_table("r", [Tick(window, EPOCH_NS, 10 * MS)], metadata("r", window=window))
        pq.write_table(table, tmp_path / f"golden-{window:06d}.parquet")
        check.check_footer(str(tmp_path / f"golden-{window:06d}.parquet"))
    info = check._columns.cache_info()
    assert (info.misses, info.hits) == (1, 4)
