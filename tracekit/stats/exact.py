"""Exact per-group percentiles of integer values, with numpy: one partition for every group.

The values of every group are packed into one ``uint64`` array, the group number in
the high bits and the value (less the smallest value) in the low bits. Since a
group's packed values all lie between those of the groups before and after it, the
k-th smallest packed value is, for ``k`` between a group's first and last position,
that group's ``(k - first)``-th smallest value. One :meth:`numpy.ndarray.partition`
at every position a figure reads (each group's first and last position and the two
closest ranks of each percentile) therefore places every group's values in one
contiguous run with the needed order statistics in place: a percentile is two
lookups, a sum one ``reduceat``. That is two to three times faster than sorting the
array (12M values: 0.25-0.5 s against 0.8 s on this project's CI machines, more
groups costing more), several times less than a grouped ``quantile`` in polars, and
the array is the only copy held (8 bytes a row). When group and value bits do not
fit in 64, the values are ordered by :func:`numpy.lexsort` on (group, value)
instead: slower, the same figures.

Percentiles are type 7 (linear interpolation between closest ranks, the rule of
polars' ``interpolation="linear"``, DuckDB's ``quantile_cont`` and R's default):
with ``n`` values, the position ``h = q (n - 1)`` of the group's values in order,
between the values at ``floor(h)`` and ``ceil(h)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.integer]
"""Group numbers or values: any numpy integer array."""


@dataclass(frozen=True)
class GroupFigures:
    """Figures of ``groups`` groups, each array indexed by group number.

    Attributes:
        count: Values in each group.
        quantiles: ``quantiles[i][g]``: the i-th asked percentile of group g
            (NaN for an empty group).
        maximum: The largest value of each group (NaN when empty).
        total: The sum of each group's values, exact (Python ints beyond 2**63).
    """

    count: npt.NDArray[np.int64]
    quantiles: list[npt.NDArray[np.float64]]
    maximum: npt.NDArray[np.float64]
    total: list[int]

    def mean(self) -> npt.NDArray[np.float64]:
        """Each group's mean (NaN when empty), from the exact sum."""
        return np.array(
            [
                total / n if n else np.nan
                for total, n in zip(self.total, self.count.tolist(), strict=True)
            ],
            dtype=np.float64,
        )


def grouped_figures(
    chunks: list[tuple[Ints, Ints]], groups: int, quantiles: Sequence[float]
) -> GroupFigures:
    """Count, type-7 ``quantiles``, maximum and exact sum of each group's values.

    Args:
        chunks: Pairs of equal-length arrays: group numbers in ``[0, groups)``
            (unsigned) and values (``uint32``, ``int32`` or ``int64``).
            The list is emptied as the chunks are packed, so that they are freed
            while the sorted array fills (the caller gives them up).
        groups: The number of groups.
        quantiles: Probabilities in [0, 1].
    """
    count = np.zeros(groups, dtype=np.int64)
    low = high = 0
    rows = 0
    for gids, values in chunks:
        if len(values):
            count += np.bincount(gids, minlength=groups)
            low = min(low, int(values.min())) if rows else int(values.min())
            high = max(high, int(values.max())) if rows else int(values.max())
            rows += len(values)
    if rows == 0:
        empty = np.full(groups, np.nan)
        return GroupFigures(count, [empty.copy() for _ in quantiles], empty, [0] * groups)
    value_bits = (high - low).bit_length()
    group_bits = max(groups - 1, 0).bit_length()
    ends = np.cumsum(count)
    starts = ends - count
    present = count > 0
    if value_bits + group_bits <= 64:
        needed = _read_positions(starts[present], count[present], quantiles)
        ordered = _packed_order(chunks, rows, low, value_bits, needed)
    else:
        ordered = _lexsorted(chunks, low)
    figures = [_quantile(ordered, starts, count, present, q, low) for q in quantiles]
    maximum = np.full(groups, np.nan)
    maximum[present] = _at(ordered, ends[present] - 1, low)
    total = _sums(ordered, starts, count, low, value_bits)
    return GroupFigures(count, figures, maximum, total)


def _read_positions(
    starts: npt.NDArray[np.int64], count: npt.NDArray[np.int64], quantiles: Sequence[float]
) -> npt.NDArray[np.int64]:
    """Every position of the ordered array a figure reads, sorted and unique: each
    (non-empty) group's first and last, and both closest ranks of each percentile
    (:func:`_closest_ranks`, as :func:`_quantile` reads them)."""
    positions = [starts, starts + count - 1]
    for q in quantiles:
        _, below, above = _closest_ranks(count, q)
        positions += [starts + below, starts + above]
    return np.unique(np.concatenate(positions))


def _closest_ranks(
    count: npt.NDArray[np.int64], q: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Type 7's position ``h = q (n - 1)`` in each group, and the ranks either side."""
    h = (count - 1).astype(np.float64) * q
    return h, np.floor(h).astype(np.int64), np.ceil(h).astype(np.int64)


def _packed_order(
    chunks: list[tuple[Ints, Ints]],
    rows: int,
    low: int,
    value_bits: int,
    needed: npt.NDArray[np.int64],
) -> npt.NDArray[np.uint64]:
    """The values (less ``low``) of every chunk, group bits masked off, each group in
    one contiguous run (in group order) and the value at each ``needed`` position
    the one a full (group, value) sort would put there."""
    packed = np.empty(rows, dtype=np.uint64)
    at = 0
    shift = np.uint64(value_bits)
    while chunks:
        gids, values = chunks.pop()
        end = at + len(values)
        target = packed[at:end]
        np.subtract(values, np.int64(low), out=target, casting="unsafe")
        target |= gids.astype(np.uint64) << shift
        at = end
        del gids, values, target
    packed.partition(needed)
    if value_bits < 64:
        packed &= np.uint64((1 << value_bits) - 1)
    return packed


def _lexsorted(chunks: list[tuple[Ints, Ints]], low: int) -> npt.NDArray[np.uint64]:
    gids = np.concatenate([chunk[0] for chunk in chunks])
    values = np.concatenate([np.asarray(chunk[1], dtype=np.int64) for chunk in chunks])
    chunks.clear()
    order = np.lexsort((values, gids))
    del gids
    shifted = values[order].astype(np.uint64)  # wraps below zero; low added back
    return shifted - np.uint64(low % (1 << 64)) if low else shifted


def _quantile(
    ordered: npt.NDArray[np.uint64],
    starts: npt.NDArray[np.int64],
    count: npt.NDArray[np.int64],
    present: npt.NDArray[np.bool_],
    q: float,
    low: int,
) -> npt.NDArray[np.float64]:
    result = np.full(len(count), np.nan)
    h, below, above = _closest_ranks(count[present], q)
    start = starts[present]
    lower = _at(ordered, start + below, low)
    upper = _at(ordered, start + above, low)
    result[present] = lower + (h - below) * (upper - lower)
    return result


def _at(
    ordered: npt.NDArray[np.uint64], index: npt.NDArray[np.int64], low: int
) -> npt.NDArray[np.float64]:
    """The values at ``index`` (stored less ``low``), each rounded once to float.

    The stored value plus ``low`` is the original int64; the addition wraps
    through the same bits, so it is exact.
    """
    stored = ordered[index]
    if low == 0:
        return stored.astype(np.float64)
    return (stored.view(np.int64) + np.int64(low)).astype(np.float64)


def _sums(
    ordered: npt.NDArray[np.uint64],
    starts: npt.NDArray[np.int64],
    count: npt.NDArray[np.int64],
    low: int,
    value_bits: int,
) -> list[int]:
    """Exact sums per group (``ordered`` holds values less ``low``, each below
    ``2**value_bits``)."""
    present = np.flatnonzero(count)
    largest = int(count.max()) if len(count) else 0
    totals = [0] * len(count)
    if value_bits + largest.bit_length() <= 64:  # no group's sum can wrap
        sums = np.add.reduceat(ordered, starts[present], dtype=np.uint64)
        for group, total in zip(present.tolist(), sums.tolist(), strict=True):
            totals[group] = total + low * int(count[group])
        return totals
    block = 1 << max(0, 64 - value_bits)  # blocks whose uint64 sums cannot wrap
    for group in present.tolist():
        start, n = int(starts[group]), int(count[group])
        total = 0
        for at in range(start, start + n, block):
            total += int(ordered[at : min(at + block, start + n)].sum(dtype=np.uint64))
        totals[group] = total + low * n
    return totals
