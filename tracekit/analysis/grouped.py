"""Exact latency figures per group, gathered one batch of rows at a time.

:class:`GroupedRows` keeps, of each row added, only its group's number and its
value in the narrowest types that hold them (5 bytes a row for up to 256 groups
and durations below 4.29 s; ``docs/benchmarks.md``, analyze round 6), and makes
the table of
:func:`~tracekit.analysis.queries.latency_aggregates` at the end with
:func:`~tracekit.stats.exact.grouped_figures` (one numpy sort for every group).
This replaces holding the rows with their keys in polars for a grouped
``quantile``: about half the memory and a fifth of the time on analyze's 20M rows
(``docs/benchmarks.md``, analyze round 5), the same figures (to the last bit but
for a rare 1-ulp difference in an interpolated percentile).

Group keys may be of any type polars groups by (Categorical and String keys
come back as String); a null key is a group of its own, as in ``group_by``.
Rows with a null value count in ``n`` but not in the percentiles, maximum or
mean, as in polars.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tracekit.analysis.queries import WEIGHT, weighted_latency
from tracekit.stats.exact import Ints, grouped_figures
from tracekit.stats.intervals import PERCENTILES

if TYPE_CHECKING:
    import polars as pl

NS_PER_MS = 1_000_000.0
_LOOKUP_LIMIT = 1 << 22
"""Codes spread over at most this many values are mapped through a lookup array;
wider ones (window starts in ns) by binary search."""


class GroupedRows:
    """Rows of one table (key columns and a value in ns), for exact figures per group.

    Args:
        keys: The group's columns, in the order of the table.
        value: The column whose figures are made (integers, ns).
        prefix: With a prefix, :meth:`table` has only the percentiles and the mean,
            named ``{prefix}p50_ms``... (the self-time columns), as
            :func:`~tracekit.analysis.queries.latency_aggregates` makes them.
        share: ``(flag, name)``: also the share of rows whose boolean column
            ``flag`` is true, as column ``name`` (``error_share``).
        weighted: Rows carry ``_weight`` (files of different sample rates): the
            rows are kept in polars, narrow, and the figures are
            :func:`~tracekit.analysis.queries.weighted_latency`'s.
    """

    def __init__(
        self,
        keys: Sequence[str],
        value: str,
        *,
        prefix: str = "",
        share: tuple[str, str] | None = None,
        weighted: bool = False,
    ) -> None:
        self.keys = list(keys)
        self.weighted = weighted
        self._frames: list[pl.DataFrame] = []
        self.value = value
        self.prefix = prefix
        self.share = share
        self._groups: dict[tuple[Any, ...], int] = {}
        self._chunks: list[tuple[Ints, Ints]] = []
        self._rows: list[int] = []  # rows per group, nulls included (polars' len())
        self._flags: list[int] = []
        self._types: list[Any] | None = None

    def add(self, frame: pl.DataFrame) -> None:
        """Take the rows of ``frame`` (the key columns, the value and the flag)."""
        if self._types is None:
            self._types = [frame.schema[key] for key in self.keys]
        if frame.height == 0:
            return
        if self.weighted:
            flag = [self.share[0]] if self.share is not None else []
            kept = frame.select(*self.keys, self.value, *flag, WEIGHT)
            self._frames.append(_narrow(kept, self.value))
            return
        categorical = self._categorical_codes(frame)
        if categorical is not None:  # keys from their codes: one gather a row
            local, counts, used, keys = categorical
            gids = self._gids(keys)
            gid_of = np.zeros(len(counts), dtype=np.uint32)
            gid_of[used] = gids
            counts = counts[used]
            row_gids = gid_of[local]
        else:
            local, digits = self._local_codes(frame)
            used, inverse, counts = _dense(local, digits)
            gids = self._gids([_decode(code, digits) for code in used.tolist()])
            row_gids = gids[inverse]
        for gid, n in zip(gids.tolist(), counts.tolist(), strict=True):
            self._rows[gid] += n
        if self.share is not None:
            flags = frame[self.share[0]].fill_null(False).to_numpy()
            per_gid = np.bincount(row_gids, weights=flags, minlength=len(self._groups))
            for gid in gids.tolist():
                self._flags[gid] += round(per_gid[gid])
        values = frame[self.value]
        if values.null_count():
            keep = values.is_not_null().to_numpy()
            row_gids, values = row_gids[keep], values.drop_nulls()
        array = values.to_numpy()
        if array.dtype not in (np.uint32, np.int32, np.int64):
            array = array.astype(np.int64)
        self._chunks.append((_smallest_unsigned(row_gids, len(self._groups)), _narrowed(array)))

    def _gids(self, keys: Sequence[tuple[Any, ...]]) -> npt.NDArray[np.uint32]:
        """The group number of each key, new keys numbered in turn."""
        gids = np.empty(len(keys), dtype=np.uint32)
        for index, key in enumerate(keys):
            gid = self._groups.get(key)
            if gid is None:
                gid = self._groups[key] = len(self._groups)
                self._rows.append(0)
                self._flags.append(0)
            gids[index] = gid
        return gids

    def _categorical_codes(
        self, frame: pl.DataFrame
    ) -> (
        tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], list[Any]] | None
    ):
        """When every key is Categorical: each row's code made of the keys' physical
        codes (a mixed-radix number, a null key one past its column's codes), the rows
        of every code, the codes used (sorted) and their keys, as text. polars'
        categories are global, so a code names one string in every batch: nothing to
        deduplicate per batch (``docs/benchmarks.md``, analyze round 6: 4-6 ms
        instead of 13-25 ms for a batch of 600,000 stage rows). None where a key is
        not Categorical, the codes spread too wide, or a code has no string yet.
        """
        import polars as pl

        if not self.keys:
            return None
        local: npt.NDArray[np.int64] | None = None
        sizes: list[int] = []
        radix = 1
        for key in self.keys:
            column = frame[key]
            if column.dtype != pl.Categorical:
                return None
            physical = column.to_physical()
            top = physical.max()
            size = (int(top) if top is not None else -1) + 2  # type: ignore[arg-type]
            if column.null_count():
                physical = physical.fill_null(size - 1)
            codes = physical.to_numpy().astype(np.int64)
            radix_before, radix = radix, radix * size
            if radix > _LOOKUP_LIMIT:
                return None
            local = codes if local is None else local + codes * radix_before
            sizes.append(size)
        assert local is not None
        counts = np.bincount(local)
        used = np.flatnonzero(counts)
        digits: list[list[Any]] = []
        rest = used.copy()
        for key, size in zip(self.keys, sizes, strict=True):
            code = rest % size
            rest //= size
            named = code < size - 1  # the last code of each column is its null
            strings = frame[key].dtype.categories.to_series()  # type: ignore[attr-defined]
            text = strings.gather(code[named]).to_list()
            if any(value is None for value in text):
                return None
            values: list[Any] = [None] * len(used)
            for index, value in zip(np.flatnonzero(named).tolist(), text, strict=True):
                values[index] = value
            digits.append(values)
        keys = list(zip(*digits, strict=True))
        return local, counts, used, keys

    def _local_codes(self, frame: pl.DataFrame) -> tuple[npt.NDArray[np.int64], list[list[Any]]]:
        """Each row's group within ``frame`` as one integer (a mixed-radix number of
        the key columns' codes), and each column's distinct values by code."""
        import polars as pl

        local = np.zeros(frame.height, dtype=np.int64)
        digits: list[list[Any]] = []
        radix = 1
        for key in self.keys:
            column = frame[key]
            textual = column.dtype in (pl.Categorical, pl.String)
            if column.dtype == pl.String:
                column = column.cast(pl.Categorical)
            physical = column.to_physical()
            sentinel = None
            if column.null_count():
                top = physical.max()
                sentinel = (int(top) if top is not None else 0) + 1  # type: ignore[arg-type]
                physical = physical.fill_null(sentinel)
            distinct = column.unique()
            codes_of = distinct.to_physical()
            if sentinel is not None:
                codes_of = codes_of.fill_null(sentinel)
            values = (distinct.cast(pl.String) if textual else distinct.to_physical()).to_list()
            order = np.argsort(codes_of.to_numpy())
            sorted_codes = codes_of.to_numpy()[order].astype(np.int64)
            digits.append([values[i] for i in order.tolist()])
            rows = physical.to_numpy().astype(np.int64, copy=False)
            low, high = int(sorted_codes[0]), int(sorted_codes[-1])
            if high - low < _LOOKUP_LIMIT:
                lookup = np.zeros(high - low + 1, dtype=np.int64)
                lookup[sorted_codes - low] = np.arange(len(sorted_codes))
                codes = lookup[rows - low]
            else:
                codes = np.searchsorted(sorted_codes, rows)
            if radix > 1:
                codes *= radix
            local += codes
            radix *= len(sorted_codes)
        return local, digits

    def table(self) -> pl.DataFrame:
        """The figures per group: the keys, then ``n``, ``p50_ms``, ``p95_ms``,
        ``p99_ms``, ``max_ms`` and ``mean_ms`` (ms; see the class for ``prefix`` and
        ``share``), one row per group. It gives up the rows kept (their memory is
        freed as the figures are made): call it once."""
        import polars as pl

        if self.weighted:
            return self._weighted_table()
        groups = len(self._groups)
        figures = grouped_figures(self._chunks, groups, [q for _, q in PERCENTILES])
        keys = list(self._groups)
        types = self._types or [pl.String] * len(self.keys)
        columns: list[pl.Series] = []
        for index, (name, dtype) in enumerate(zip(self.keys, types, strict=True)):
            values = [key[index] for key in keys]
            if dtype in (pl.Categorical, pl.String):
                columns.append(pl.Series(name, values, dtype=pl.String))
            else:
                physical = pl.Series(name, values, dtype=pl.Int64)  # to_physical()'s
                columns.append(physical.cast(dtype))
        percentiles = [
            pl.Series(f"{self.prefix}{label}_ms", figures.quantiles[index] / NS_PER_MS)
            for index, (label, _) in enumerate(PERCENTILES)
        ]
        mean = pl.Series(f"{self.prefix}mean_ms", figures.mean() / NS_PER_MS)
        if self.prefix:
            columns += [*percentiles, mean]
        else:
            columns += [
                pl.Series("n", self._rows, dtype=pl.UInt32),
                *percentiles,
                pl.Series("max_ms", figures.maximum / NS_PER_MS),
                mean,
            ]
        if self.share is not None:
            rows = np.array(self._rows, dtype=np.float64)
            columns.append(pl.Series(self.share[1], np.array(self._flags) / rows))
        return pl.DataFrame(columns).with_columns(pl.col(pl.Float64).fill_nan(None))

    def _weighted_table(self) -> pl.DataFrame:
        import polars as pl

        types = dict(zip(self.keys, self._types or [pl.String] * len(self.keys), strict=True))
        text = [key for key in self.keys if types[key] in (pl.Categorical, pl.String)]
        extra = []
        if self.share is not None:
            flag, weight = pl.col(self.share[0]), pl.col(WEIGHT)
            extra.append(((flag * weight).sum() / weight.sum()).alias(self.share[1]))
        schema = {key: types[key] for key in self.keys}
        frame = (
            pl.concat(self._frames, how="vertical_relaxed", rechunk=False)
            if self._frames
            else pl.DataFrame(
                schema={
                    **schema,
                    self.value: pl.Int64,
                    **({self.share[0]: pl.Boolean} if self.share is not None else {}),
                    WEIGHT: pl.Float64,
                }
            )
        )
        self._frames = []
        return (
            frame.lazy()
            .with_columns(pl.col(key).cast(pl.Categorical) for key in text)
            .group_by(self.keys)
            .agg(*weighted_latency(self.value, self.prefix), *extra)
            .with_columns(pl.col(key).cast(pl.String) for key in text)
            .collect()
        )


def _smallest_unsigned(gids: npt.NDArray[np.uint32], groups: int) -> Ints:
    """Group numbers below ``groups`` in the narrowest unsigned type that holds them:
    one byte a row for up to 256 groups, the common case (stages, requests)."""
    if groups <= 2**8:
        return gids.astype(np.uint8)
    if groups <= 2**16:
        return gids.astype(np.uint16)
    return gids


def _fits_uint32(low: object, high: object) -> bool:
    """Whether durations (ns) from ``low`` to ``high`` fit in ``uint32`` (below 4.29 s):
    the rows kept for percentiles then take 4 bytes less a row, with the same figures."""
    return isinstance(low, int) and isinstance(high, int) and low >= 0 and high < 2**32


def _narrowed(values: Ints) -> Ints:
    """int64 ``values`` as uint32 when every one fits (:func:`_fits_uint32`)."""
    if values.dtype != np.int64 or not len(values):
        return values
    if not _fits_uint32(int(values.min()), int(values.max())):
        return values
    return values.astype(np.uint32)


def _narrow(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """``frame`` with ``column`` as UInt32 when every value fits (:func:`_fits_uint32`)."""
    import polars as pl

    values = frame[column]
    if not _fits_uint32(values.min(), values.max()):
        return frame
    return frame.with_columns(values.cast(pl.UInt32))


def _dense(
    local: npt.NDArray[np.int64], digits: list[list[Any]]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The distinct values of ``local`` (sorted), each row's index among them and
    the rows of each."""
    space = 1
    for values in digits:
        space *= len(values)
    if space <= _LOOKUP_LIMIT:
        counts = np.bincount(local, minlength=space)
        used = np.flatnonzero(counts)
        lookup = np.zeros(space, dtype=np.int64)
        lookup[used] = np.arange(len(used))
        return used, lookup[local], counts[used]
    used, inverse, counts = np.unique(local, return_inverse=True, return_counts=True)
    return used, inverse, counts


def _decode(code: int, digits: list[list[Any]]) -> tuple[Any, ...]:
    """The key values of a mixed-radix ``code`` (see :meth:`GroupedRows._local_codes`)."""
    key = []
    for values in digits:
        code, digit = divmod(code, len(values))
        key.append(values[digit])
    return tuple(key)
