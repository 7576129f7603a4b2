"""Reading golden files into memory a batch at a time, strings as Categorical.

The golden writer dictionary-encodes every string column (``kind``, ``name``,
``symbol``...: :data:`~tracekit.store.schema.DICTIONARY_COLUMNS`). polars' own
Parquet reader decodes those pages into one string per row, and every query then
compares, hashes or casts strings row by row. pyarrow hands over the dictionary and
the codes instead, which polars takes as ``Categorical`` without touching a string
per row: filters, group-bys and the self-time sweep's lane keys then work on
integers (``docs/benchmarks.md``, analyze round 5: the queries of a batch 3-4x
faster). The frames read here have exactly the columns asked for, in that order,
with the string columns Categorical and the others in their schema types.

A file of many row groups may be read in parts (:func:`file_parts`), cut only
where no tick has rows on both sides.

Batches are read ahead of their use by :func:`~tracekit.analysis.prefetch.prefetched`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tracekit.analysis.sources import scan_options
from tracekit.store import schema
from tracekit.store.location import is_object_url, parse_object_url, reader_filesystem

if TYPE_CHECKING:
    import polars as pl


STRINGS = frozenset(
    column.name
    for column in (*schema.COLUMNS, *schema.ADDED_COLUMNS)
    if column.arrow_type == "string"
)


def _polars_types() -> dict[str, Any]:
    import polars as pl

    types = {"string": pl.Categorical(), "int64": pl.Int64, "int32": pl.Int32, "bool": pl.Boolean}
    return {
        column.name: types[column.arrow_type] for column in (*schema.COLUMNS, *schema.ADDED_COLUMNS)
    }


@dataclasses.dataclass(frozen=True)
class FilePart:
    """Consecutive row groups of one large file, read as a batch of their own.

    Attributes:
        path: The file.
        row_groups: Its row groups in this part, in order.
    """

    path: str
    row_groups: tuple[int, ...]


def file_parts(path: str, target_bytes: int) -> list[FilePart]:
    """A large local file cut into parts of about ``target_bytes`` (compressed), so
    that a batch's memory does not grow with the file (a 6.4M-row file read whole
    peaks at 1.9 GiB: ``docs/benchmarks.md``, analyze round 6).

    A tick's rows must stay in one part (self time, attribution and the per-tick
    queries work part by part), so a cut falls only between row groups where every
    ``tick_id`` before it is below every ``tick_id`` after it, as the row groups'
    statistics say: a tick cannot then have rows on both sides, whatever the runs
    in the file. A file without such statistics, or whose row groups interleave
    ticks, is one part.
    """
    import pyarrow.parquet as pq

    whole = [FilePart(path, ())]
    if is_object_url(path):
        return whole
    try:
        footer = pq.read_metadata(path)
    except (OSError, ValueError):  # checked before; a file that changed since stays whole
        return whole
    groups = footer.num_row_groups
    if groups < 2:
        return whole
    column = footer.schema.names.index("tick_id")
    columns = footer.num_columns
    lows: list[int] = []
    highs: list[int] = []
    sizes: list[int] = []
    for index in range(groups):
        row_group = footer.row_group(index)
        statistics = row_group.column(column).statistics
        if statistics is None or not statistics.has_min_max:
            return whole
        lows.append(int(statistics.min))
        highs.append(int(statistics.max))
        sizes.append(sum(row_group.column(i).total_compressed_size for i in range(columns)))
    below = list(itertools.accumulate(highs, max))  # the highest tick up to each group
    above = list(itertools.accumulate(reversed(lows), min))[::-1]  # the lowest from each
    parts: list[FilePart] = []
    current: list[int] = []
    size = 0
    for index in range(groups):
        current.append(index)
        size += sizes[index]
        last = index == groups - 1
        if last or (size >= target_bytes and below[index] < above[index + 1]):
            parts.append(FilePart(path, tuple(current)))
            current, size = [], 0
    return parts if len(parts) > 1 else whole


def read_file(path: str, columns: Sequence[str], row_groups: Sequence[int] = ()) -> pl.DataFrame:
    """The ``columns`` of one golden file (or of its ``row_groups``), string columns
    as Categorical.

    A column the file lacks (one of :data:`~tracekit.store.schema.ADDED_COLUMNS`,
    in a file written before it) is all nulls; the file was checked by
    :func:`~tracekit.analysis.sources.find_sources`, so any other is present.
    """
    import polars as pl
    import pyarrow.parquet as pq

    types = _polars_types()
    if is_object_url(path):
        source: Any = reader_filesystem().open_input_file(parse_object_url(path).path)
    else:
        source = path
    try:
        # The footer first: a dictionary asked for a column the file lacks is an
        # error in pyarrow, and older files lack the added columns.
        footer = pq.read_metadata(source)
        present = set(footer.schema.names)
        chosen = [name for name in columns if name in present]
        parquet = pq.ParquetFile(
            source, metadata=footer, read_dictionary=[name for name in chosen if name in STRINGS]
        )
        if row_groups:
            table = parquet.read_row_groups(list(row_groups), columns=chosen)
        else:
            table = parquet.read(columns=chosen)
    finally:
        if source is not path:
            source.close()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.select(
        pl.col(name).cast(types[name]) if name in present else pl.lit(None, types[name]).alias(name)
        for name in columns
    )


def read_part(
    part: FilePart,
    columns: Sequence[str],
    *,
    runs: Mapping[str, str],
    weights: Mapping[str, float] | None = None,
    weight_column: str = "_weight",
) -> pl.DataFrame:
    """The ``columns`` of one part of a file (see :func:`read_batch` for the rest)."""
    import polars as pl

    frame = read_file(
        part.path, [name for name in columns if name != weight_column], part.row_groups
    )
    if part.path in runs and "run_id" in columns:
        frame = frame.with_columns(pl.lit(runs[part.path]).cast(pl.Categorical).alias("run_id"))
    if weights is not None:
        frame = frame.with_columns(
            pl.lit(weights.get(part.path, 1.0), pl.Float64).alias(weight_column)
        )
    return frame.select(columns)


def read_batch(
    paths: Sequence[str],
    columns: Sequence[str],
    *,
    runs: Mapping[str, str],
    weights: Mapping[str, float] | None = None,
    weight_column: str = "_weight",
) -> pl.DataFrame:
    """The ``columns`` of ``paths``, one frame (see :func:`read_file`).

    Local files of a batch of several are read by one polars scan and their string
    columns then cast to Categorical: for small files the cost is per file, and
    polars opens and decodes a file in about a quarter of the time pyarrow takes
    (``docs/benchmarks.md``, analyze round 6: 0.2-0.3 ms against 0.8-2 ms for a
    640-row file). One file, or ``s3://`` objects, are read by :func:`read_file`.

    Args:
        runs: A file's run when its ``run_id=`` folder names another than its rows
            (``run_id`` is then that run on every row).
        weights: With a value, every row of each file carries its file's weight in
            ``weight_column`` (1.0 for a file not listed).
    """
    import polars as pl

    wanted = [name for name in columns if name != weight_column]
    if not paths:
        types = _polars_types()
        return pl.DataFrame(
            schema={name: pl.Float64 if name == weight_column else types[name] for name in columns}
        )
    if len(paths) > 1 and not any(is_object_url(path) for path in paths):
        frame = _scan_files(paths, wanted, runs=runs, weights=weights, weight_column=weight_column)
        return frame.select(columns)
    parts = [
        read_part(
            FilePart(path, ()), columns, runs=runs, weights=weights, weight_column=weight_column
        )
        for path in paths
    ]
    return parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical", rechunk=False)


_FILE = "_tracekit_file"
"""The column naming each row's file while a batch is scanned."""


def _scan_files(
    paths: Sequence[str],
    wanted: Sequence[str],
    *,
    runs: Mapping[str, str],
    weights: Mapping[str, float] | None,
    weight_column: str,
) -> pl.DataFrame:
    """Several local files in one polars scan, with :func:`read_batch`'s columns."""
    import polars as pl

    types = _polars_types()
    overrides = {path: runs[path] for path in paths if path in runs}
    scan = pl.scan_parquet(
        list(paths),
        hive_partitioning=False,
        glob=False,
        include_file_paths=_FILE if overrides or weights is not None else None,
        **scan_options(),
    )
    columns = []
    for name in wanted:
        column = pl.col(name)
        if name == "run_id" and overrides:
            column = pl.col(_FILE).replace_strict(overrides, default=column, return_dtype=pl.String)
        columns.append(column.cast(types[name]).alias(name))
    if weights is not None:
        batch_weights = {path: float(weights.get(path, 1.0)) for path in paths}
        columns.append(
            pl.col(_FILE)
            .replace_strict(batch_weights, return_dtype=pl.Float64)
            .alias(weight_column)
        )
    return scan.select(columns).collect()
