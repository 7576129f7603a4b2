"""Quantiles of log-bucketed histograms, by the documented rule.

tracekit's percentiles are linear interpolation between order statistics (numpy's
``linear``, Hyndman & Fan type 7, DuckDB's ``quantile_cont``; ``docs/schema.md``).
A histogram does not hold the order statistics themselves, only how many fall in
each bucket, so here the ``c`` observations of a bucket are placed evenly on the
log scale inside it, at the midpoints of ``c`` equal slices, and the type-7 rule is
applied to those positions. Every placed value lies in the bucket of the true
order statistic, so an estimate is within one bucket (about 1%) of the exact
figure, and estimates move smoothly with the data instead of jumping between
bucket edges.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tracekit.stats.histogram import LOG_GAMMA

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def histogram_quantiles(
    counts: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    first_index: int,
    probabilities: float | npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """The type-7 quantiles, in ms, of one histogram.

    Args:
        counts: Observations per bucket; entry ``j`` is bucket ``first_index + j``.
        first_index: The bucket index of ``counts[0]``.
        probabilities: One or more probabilities in [0, 1] (clipped into it).

    Returns:
        One value per probability (NaN for an empty histogram).
    """
    import numpy as np

    counts = np.asarray(counts, dtype=np.float64)
    wanted = np.clip(np.atleast_1d(np.asarray(probabilities, dtype=np.float64)), 0.0, 1.0)
    total = float(counts.sum())
    if total <= 0:
        return np.full(wanted.shape, np.nan)
    cumulative = np.cumsum(counts)
    rank = (total - 1.0) * wanted
    lower = np.floor(rank)
    fraction = rank - lower
    below = _order_statistics(counts, cumulative, first_index, lower, total)
    above = _order_statistics(counts, cumulative, first_index, lower + 1.0, total)
    return below + fraction * (above - below)


def _order_statistics(
    counts: npt.NDArray[np.float64],
    cumulative: npt.NDArray[np.float64],
    first_index: int,
    ranks: npt.NDArray[np.float64],
    total: float,
) -> npt.NDArray[np.float64]:
    """The ``ranks``-th (0-based) placed observation, in ms."""
    import numpy as np

    ranks = np.clip(ranks, 0.0, total - 1.0)
    # The bucket holding observation k is the first whose cumulative count exceeds k.
    column = np.minimum(np.searchsorted(cumulative, ranks, side="right"), counts.size - 1)
    in_bucket = np.maximum(counts[column], 1.0)
    position = (ranks - (cumulative[column] - counts[column]) + 0.5) / in_bucket
    exponent = (first_index + column - 1.0 + np.clip(position, 0.0, 1.0)) * LOG_GAMMA
    return np.exp(exponent) / 1e6


def counts_at_or_below(
    matrix: npt.NDArray[np.float64], first_index: int, value_ms: float
) -> npt.NDArray[np.float64]:
    """Per row of a (rows x buckets) count matrix: how many observations are <= ``value_ms``.

    Inside the bucket that holds ``value_ms`` the observations are taken as spread
    evenly on the log scale (the placement :func:`histogram_quantiles` uses).
    """
    import numpy as np

    if not value_ms > 0:
        return np.zeros(matrix.shape[0])
    position = math.log(value_ms * 1e6) / LOG_GAMMA
    bucket = math.ceil(position)
    column = bucket - first_index
    if column < 0:
        return np.zeros(matrix.shape[0])
    if column >= matrix.shape[1]:
        return np.asarray(matrix.sum(axis=1), dtype=np.float64)
    share = position - (bucket - 1)
    below = matrix[:, :column].sum(axis=1)
    return np.asarray(below + share * matrix[:, column], dtype=np.float64)
