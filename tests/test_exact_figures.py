"""Exact per-group figures in numpy (``stats.exact``), the row keeper analyze fills
batch by batch (``analysis.grouped``) and the batch reader behind it
(``analysis.reader``).

The references are independent: ``numpy.quantile(method="linear")`` and Python's
exact integer arithmetic for the kernel; polars' own ``group_by`` for the row
keeper; pyarrow reading the file for the reader. Each is checked over several data
shapes (log-normal, heavy-tailed, bimodal, autocorrelated, drifting, negative,
beyond 32 bits) and over both of the kernel's orderings (packed partition and lexsort).
"""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from analysis_helpers import known_ticks, write_run
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tracekit.analysis.grouped import GroupedRows
from tracekit.analysis.prefetch import prefetched
from tracekit.analysis.reader import read_batch, read_file
from tracekit.stats.exact import grouped_figures
from tracekit.store import schema

QUANTILES = (0.5, 0.95, 0.99)


def shape(name: str, n: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """``n`` integer values (ns) of one of the shapes a user meets."""
    if name == "lognormal":
        values = rng.lognormal(15, 0.6, n)
    elif name == "heavy":
        values = (rng.pareto(1.2, n) + 1) * 2e6
    elif name == "bimodal":
        values = np.where(rng.random(n) < 0.9, rng.normal(5e6, 3e5, n), rng.normal(8e7, 5e6, n))
    elif name == "autocorrelated":
        noise = rng.normal(0, 1, n)
        level = np.zeros(n)
        for i in range(1, n):
            level[i] = 0.95 * level[i - 1] + noise[i]
        values = np.exp(15 + 0.3 * level)
    elif name == "drifting":
        values = rng.lognormal(15, 0.4, n) * np.linspace(1.0, 1.5, n)
    elif name == "negative":
        values = rng.normal(0, 1e6, n)
    elif name == "wide":  # beyond 2**62: the packed array cannot hold group and value
        return rng.integers(0, 2**62, n, dtype=np.int64)
    else:
        raise AssertionError(name)
    return np.asarray(np.clip(values, -(2**40), 2**40), dtype=np.int64)


SHAPES = ("lognormal", "heavy", "bimodal", "autocorrelated", "drifting", "negative", "wide")


@pytest.mark.parametrize("name", SHAPES)
@pytest.mark.parametrize("seed", range(4))
def test_kernel_equals_numpy_quantiles_and_exact_sums(name: str, seed: int) -> None:
    rng = np.random.default_rng([seed, SHAPES.index(name)])
    groups = int(rng.integers(1, 40))
    n = int(rng.integers(1, 30_000))
    gids = rng.integers(0, groups, n).astype(np.uint32)
    values = shape(name, n, rng)
    chunks: list[tuple[Any, Any]] = [
        (gids[i : i + 4_096], values[i : i + 4_096]) for i in range(0, n, 4_096)
    ]
    figures = grouped_figures(chunks, groups, QUANTILES)
    assert chunks == []  # given up as packed
    means = figures.mean()
    for group in range(groups):
        mine = values[gids == group]
        assert figures.count[group] == len(mine)
        if len(mine) == 0:
            assert np.isnan(figures.maximum[group])
            assert np.isnan(means[group])
            assert all(np.isnan(q[group]) for q in figures.quantiles)
            continue
        for index, q in enumerate(QUANTILES):
            expected = float(np.quantile(mine.astype(np.float64), q, method="linear"))
            assert figures.quantiles[index][group] == pytest.approx(expected, rel=1e-12)
        assert figures.maximum[group] == float(mine.max())
        exact_sum = sum(int(value) for value in mine)
        assert figures.total[group] == exact_sum
        assert means[group] == float(Fraction(exact_sum, len(mine)))


def test_both_orderings_give_the_same_figures() -> None:
    rng = np.random.default_rng(11)
    gids = rng.integers(0, 3, 5_000).astype(np.uint32)
    values = rng.integers(0, 2**40, 5_000, dtype=np.int64)
    packed = grouped_figures([(gids, values)], 3, QUANTILES)  # 40 + 2 bits: packed
    shifted = values + (2**62 - 2**40)  # same spacing, 63 bits: lexsort
    lexsorted = grouped_figures([(gids, shifted)], 3, QUANTILES)
    offset = float(2**62 - 2**40)
    for a, b in zip(packed.quantiles, lexsorted.quantiles, strict=True):
        assert np.allclose(a + offset, b, rtol=1e-15)
    assert packed.total == [
        total - (2**62 - 2**40) * int(n)
        for total, n in zip(lexsorted.total, packed.count, strict=True)
    ]


def test_sums_beyond_64_bits_are_exact() -> None:
    values = np.full(40, 2**62 - 1, dtype=np.int64)
    gids = np.zeros(40, dtype=np.uint32)
    figures = grouped_figures([(gids, values)], 1, QUANTILES)
    assert figures.total == [40 * (2**62 - 1)]
    assert figures.mean()[0] == float(2**62 - 1)


@pytest.mark.parametrize("seed", range(4))
def test_many_small_groups_with_ties_are_exact(seed: int) -> None:
    """Thousands of groups of 1 to a few values, few distinct values: every group's
    run and the ranks read inside it must come out of the one partition intact."""
    rng = np.random.default_rng([seed, 99])
    groups = 3_000
    n = 20_000
    gids = rng.integers(0, groups, n).astype(np.uint32)
    values = rng.integers(0, 6, n, dtype=np.int64) * 1_000 + 7
    figures = grouped_figures(
        [(gids[: n // 2], values[: n // 2]), (gids[n // 2 :], values[n // 2 :])], groups, QUANTILES
    )
    for group in range(groups):
        mine = values[gids == group].astype(np.float64)
        assert figures.count[group] == len(mine)
        if len(mine) == 0:
            assert np.isnan(figures.maximum[group])
            continue
        for index, q in enumerate(QUANTILES):
            expected = float(np.quantile(mine, q, method="linear"))
            assert figures.quantiles[index][group] == pytest.approx(expected, rel=1e-12)
        assert figures.maximum[group] == mine.max()
        assert figures.total[group] == int(mine.sum())


def test_sums_of_several_groups_beyond_64_bits_are_exact() -> None:
    """Values of 62 bits in four groups (packed: 62 + 2 bits), 50 a group: the sums
    wrap 64 bits, so they are taken in blocks, after the partition."""
    rng = np.random.default_rng(5)
    gids = np.repeat(np.arange(4, dtype=np.uint32), 50)
    rng.shuffle(gids)
    values = rng.integers(2**61, 2**62, 200, dtype=np.int64)
    values[0] = 0
    figures = grouped_figures([(gids, values)], 4, QUANTILES)
    for group in range(4):
        mine = values[gids == group]
        assert figures.total[group] == sum(int(value) for value in mine)
        assert figures.maximum[group] == float(mine.max())
        for index, q in enumerate(QUANTILES):
            expected = float(np.quantile(mine.astype(np.float64), q, method="linear"))
            assert figures.quantiles[index][group] == pytest.approx(expected, rel=1e-12)


def test_no_rows_gives_empty_groups() -> None:
    figures = grouped_figures([], 2, QUANTILES)
    assert figures.count.tolist() == [0, 0]
    assert np.isnan(figures.maximum).all()


# -- the row keeper --------------------------------------------------------------------


def reference(frame: pl.DataFrame, keys: list[str], value: str, share: str | None) -> pl.DataFrame:
    """polars' own grouped figures (the rule GroupedRows implements)."""
    duration = pl.col(value)
    aggregates = [
        pl.len().alias("n"),
        *(
            (duration.quantile(q, interpolation="linear") / 1e6).alias(f"p{round(q * 100)}_ms")
            for q in QUANTILES
        ),
        (duration.max() / 1e6).alias("max_ms"),
        (duration.mean() / 1e6).alias("mean_ms"),
        *([pl.col(share).mean().alias("error_share")] if share else []),
    ]
    return (
        frame.group_by(keys)
        .agg(aggregates)
        .with_columns(pl.col(pl.Categorical).cast(pl.String))
        .sort(keys, nulls_last=True)
    )


def assert_grouped_equals_reference(batches: list[pl.DataFrame], keys: list[str]) -> None:
    """GroupedRows over ``batches`` (``duration_ns`` by ``keys``, the ``error`` share)
    gives polars' own figures of the rows together."""
    grouped = GroupedRows(keys, "duration_ns", share=("error", "error_share"))
    for batch in batches:
        grouped.add(batch)
    got = grouped.table().sort(keys, nulls_last=True)
    expected = reference(pl.concat(batches), keys, "duration_ns", "error")
    assert got.schema == expected.schema
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-14, abs_tol=0)


def random_batch(rng: np.random.Generator, n: int) -> pl.DataFrame:
    start = 1_700_000_000_000_000_000
    return pl.DataFrame(
        {
            "stage": pl.Series(rng.choice(["fetch_md", "spread", "tick_total"], n)).cast(
                pl.Categorical
            ),
            "symbol": pl.Series(
                [None if code == 0 else f"S{code}" for code in rng.integers(0, 6, n)],
                dtype=pl.String,
            ),
            "window": pl.Series(start + rng.integers(0, 5, n) * 60_000_000_000).cast(
                pl.Datetime("ns", "UTC")
            ),
            "duration_ns": pl.Series(
                [None if rng.random() < 0.01 else int(v) for v in rng.lognormal(15, 1, n)],
                dtype=pl.Int64,
            ),
            "error": pl.Series(rng.random(n) < 0.1),
        }
    )


@pytest.mark.parametrize("seed", range(6))
def test_grouped_rows_equal_polars_group_by(seed: int) -> None:
    rng = np.random.default_rng(seed)
    batches = [random_batch(rng, int(rng.integers(0, 4_000))) for _ in range(5)]
    keys = ["stage", "symbol", "window"]
    assert_grouped_equals_reference(batches, keys)


@pytest.mark.parametrize("seed", range(2))
def test_kept_rows_narrowed_per_batch_give_the_same_figures(seed: int) -> None:
    # Each batch keeps its group numbers in the narrowest type the groups so far
    # need (1, 2 or 4 bytes) and its values as uint32 when they fit: batches that
    # cross 256 and 65,536 groups, and values beyond 4.29 s, mix the types.
    rng = np.random.default_rng(seed)
    sizes = [(200, 2_000, 2**31), (3_000, 20_000, 2**33), (80_000, 150_000, 2**31)]
    batches = []
    for groups, n, top in sizes:
        batches.append(
            pl.DataFrame(
                {
                    "symbol": pl.Series(
                        [f"S{code}" for code in rng.integers(0, groups, n)], dtype=pl.String
                    ).cast(pl.Categorical),
                    "duration_ns": pl.Series(rng.integers(0, top, n), dtype=pl.Int64),
                }
            )
        )
    grouped = GroupedRows(["symbol"], "duration_ns")
    kinds = []
    for batch in batches:
        grouped.add(batch)
        gids, values = grouped._chunks[-1]
        kinds.append((gids.dtype, values.dtype))
    assert kinds == [
        (np.dtype(np.uint8), np.dtype(np.uint32)),
        (np.dtype(np.uint16), np.dtype(np.int64)),
        (np.dtype(np.uint32), np.dtype(np.uint32)),
    ]
    got = grouped.table().sort("symbol")
    expected = reference(pl.concat(batches), ["symbol"], "duration_ns", None)
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-14, abs_tol=0)


@pytest.mark.parametrize("seed", range(4))
def test_categorical_keys_are_grouped_by_their_codes(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every key Categorical: groups come from the global physical codes, never from
    # the general path. Later batches bring categories the first had not seen, nulls
    # in both keys, and a flag share.
    rng = np.random.default_rng(seed)
    monkeypatch.setattr(GroupedRows, "_local_codes", None)  # calling it would fail
    batches = []
    for index in range(4):
        n = int(rng.integers(1, 3_000))
        stages = [f"st{seed}-{index}-{code}" for code in rng.integers(0, 4 + index, n)]
        symbols = [None if code == 0 else f"S{code}" for code in rng.integers(0, 5, n)]
        batches.append(
            pl.DataFrame(
                {
                    "stage": pl.Series(
                        [None if rng.random() < 0.02 else value for value in stages],
                        dtype=pl.String,
                    ).cast(pl.Categorical),
                    "symbol": pl.Series(symbols, dtype=pl.String).cast(pl.Categorical),
                    "duration_ns": pl.Series(rng.integers(0, 2**40, n), dtype=pl.Int64),
                    "error": pl.Series(rng.random(n) < 0.2),
                }
            )
        )
    keys = ["stage", "symbol"]
    assert_grouped_equals_reference(batches, keys)


def test_a_prefix_gives_only_percentiles_and_mean() -> None:
    frame = pl.DataFrame({"stage": ["a", "a", "b"], "_self_ns": [1_000_000, 3_000_000, 5]})
    grouped = GroupedRows(["stage"], "_self_ns", prefix="self_")
    grouped.add(frame)
    table = grouped.table().sort("stage")
    assert table.columns == ["stage", "self_p50_ms", "self_p95_ms", "self_p99_ms", "self_mean_ms"]
    assert table.row(0) == ("a", 2.0, pytest.approx(2.9), pytest.approx(2.98), 2.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(["a", "b", "c"]),
                st.one_of(st.none(), st.sampled_from(["X", "Y"])),
                st.integers(0, 2**40),
            ),
            max_size=30,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_grouped_rows_any_batches(batches: list[list[tuple[str, str | None, int]]]) -> None:
    frames = [
        pl.DataFrame(
            rows, schema={"stage": pl.String, "symbol": pl.String, "v": pl.Int64}, orient="row"
        )
        for rows in batches
    ]
    grouped = GroupedRows(["stage", "symbol"], "v")
    for frame in frames:
        grouped.add(frame)
    got = grouped.table().sort(["stage", "symbol"], nulls_last=True)
    expected = reference(pl.concat(frames), ["stage", "symbol"], "v", None)
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-14, abs_tol=0)


# -- the reader ------------------------------------------------------------------------


def test_read_file_gives_categorical_strings_and_nulls_for_added_columns(tmp_path: Path) -> None:
    (path,) = write_run(tmp_path, "r1", known_ticks("r1", 20, 1_700_000_000_000_000_000))
    columns = ["run_id", "kind", "name", "duration_ns", *schema.NESTING_COLUMNS]
    frame = read_file(str(path), columns)
    assert frame.columns == columns
    assert frame.schema["kind"] == pl.Categorical
    assert frame.schema["duration_ns"] == pl.Int64
    for name in schema.NESTING_COLUMNS:  # written before the columns were added
        assert frame[name].null_count() == frame.height
        assert frame.schema[name] == pl.Int32
    table = pq.read_table(path, columns=["kind", "duration_ns"])
    assert frame["kind"].cast(pl.String).to_list() == table.column("kind").to_pylist()
    assert frame["duration_ns"].to_list() == table.column("duration_ns").to_pylist()


def test_read_batch_applies_run_overrides_and_weights(tmp_path: Path) -> None:
    first = write_run(tmp_path, "a", known_ticks("a", 10, 1_700_000_000_000_000_000))
    second = write_run(tmp_path / "b", "b", known_ticks("b", 10, 1_700_000_100_000_000_000))
    paths = [str(first[0]), str(second[0])]
    frame = read_batch(
        paths,
        ["run_id", "duration_ns", "_weight"],
        runs={paths[1]: "renamed"},
        weights={paths[0]: 10.0},
    )
    rows_a = pq.read_metadata(paths[0]).num_rows
    assert frame.columns == ["run_id", "duration_ns", "_weight"]
    assert frame["run_id"][:rows_a].cast(pl.String).unique().to_list() == ["a"]
    assert frame["run_id"][rows_a:].cast(pl.String).unique().to_list() == ["renamed"]
    assert frame["_weight"][:rows_a].unique().to_list() == [10.0]
    assert frame["_weight"][rows_a:].unique().to_list() == [1.0]  # not listed


def test_read_batch_of_several_files_equals_each_file_read_alone(tmp_path: Path) -> None:
    # Several local files are read by one polars scan, one file by pyarrow: the same
    # frame either way, with overrides, weights and added columns some files lack.
    paths = []
    for index, run in enumerate(["a", "b", "c", "d"]):
        start = 1_700_000_000_000_000_000 + index * 100_000_000_000
        (path,) = write_run(tmp_path / run, run, known_ticks(run, 12 + 5 * index, start))
        paths.append(str(path))
    table = pq.read_table(paths[1])  # this one written after the added columns
    for offset, name in enumerate(schema.NESTING_COLUMNS):
        values = pa.array([offset + row for row in range(table.num_rows)], pa.int32())
        table = table.append_column(pa.field(name, pa.int32()), values)
    pq.write_table(table, paths[1])
    columns = [
        "run_id", "tick_id", "kind", "name", "symbol", "duration_ns", "deadline_missed",
        *schema.NESTING_COLUMNS, "_weight",
    ]  # fmt: skip
    runs = {paths[2]: "moved"}
    for weights in ({paths[0]: 4.0, paths[1]: 0.5}, None):
        wanted = columns if weights is not None else columns[:-1]
        got = read_batch(paths, wanted, runs=runs, weights=weights)
        alone = [read_batch([path], wanted, runs=runs, weights=weights) for path in paths]
        assert_frame_equal(got, pl.concat(alone), categorical_as_str=True)
        assert got.schema == alone[0].schema
    assert got.filter(pl.col("run_id") == "moved").height == pq.read_metadata(paths[2]).num_rows
    assert got[schema.NESTING_COLUMNS[0]].null_count() == got.height - table.num_rows


def test_read_batch_of_no_file_has_the_columns() -> None:
    frame = read_batch([], ["kind", "duration_ns", "_weight"], runs={})
    assert frame.height == 0
    expected: dict[str, pl.DataType] = {
        "kind": pl.Categorical(),
        "duration_ns": pl.Int64(),
        "_weight": pl.Float64(),
    }
    assert dict(frame.schema) == expected


def test_prefetched_keeps_order_reads_ahead_and_raises_at_the_item() -> None:
    threads: list[str] = []

    def read(item: int) -> int:
        threads.append(threading.current_thread().name)
        if item == 3:
            raise ValueError("bad item 3")
        return item * 10

    got: list[int] = []
    items = prefetched([0, 1, 2, 3, 4], read)
    got.extend(next(items) for _ in range(3))
    with pytest.raises(ValueError, match="bad item 3"):
        next(items)
    assert got == [0, 10, 20]  # everything before the bad item was given
    assert all(name.startswith("tracekit-read") for name in threads)
    assert list(prefetched([5], read)) == [50]  # one item: read in place
    assert list(prefetched([], read)) == []


@pytest.mark.parametrize("ahead", [1, 2, 3])
def test_prefetched_holds_at_most_ahead_plus_one(ahead: int) -> None:
    lock = threading.Lock()
    held = [0]
    most = [0]

    class Result:
        def __init__(self, item: int) -> None:
            self.item = item
            with lock:
                held[0] += 1
                most[0] = max(most[0], held[0])

        def release(self) -> None:
            with lock:
                held[0] -= 1

    got = []
    for result in prefetched(list(range(12)), Result, ahead=ahead):
        got.append(result.item)
        result.release()
    assert got == list(range(12))
    assert most[0] <= ahead + 1
    items = prefetched([0, 1, 2, 3, 4, 5], lambda i: 1 // (i - 4) and i, ahead=ahead)
    assert [next(items) for _ in range(4)] == [0, 1, 2, 3]
    with pytest.raises(ZeroDivisionError):
        next(items)


def test_prefetched_ticks_are_whole_per_file(tmp_path: Path) -> None:
    paths = write_run(tmp_path, "r", known_ticks("r", 30, 1), window_ticks=10)
    frames = list(
        prefetched([[str(p)] for p in paths], lambda batch: read_file(batch[0], ["tick_id"]))
    )
    assert [frame["tick_id"].n_unique() for frame in frames] == [10, 10, 10]
