"""Log-bucketed latency histograms with a bounded relative error.

Bucket ``i`` holds durations in ``(GAMMA**(i-1), GAMMA**i]`` nanoseconds, with
``GAMMA = (1 + ALPHA) / (1 - ALPHA)`` and ``ALPHA = 0.005`` (buckets about 1% wide,
the DDSketch construction). A quantile is read by interpolating log-linearly
inside the bucket that holds its rank, so it lies in the same bucket as the exact
order statistic: within 1% of it. Histograms with the same buckets merge by adding
counts, which is what makes profiles mergeable and the bootstrap cheap.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import polars as pl

ALPHA: Final = 0.005
"""Half the relative width of a bucket: a bucket spans a factor of ``GAMMA`` (~1.01)."""

GAMMA: Final = (1 + ALPHA) / (1 - ALPHA)
LOG_GAMMA: Final = math.log(GAMMA)


def bucket_expr(duration_ns: pl.Expr) -> pl.Expr:
    """A polars expression for the bucket index of a duration (durations < 1 ns go to 0)."""
    import polars as pl

    return (
        (duration_ns.cast(pl.Float64).clip(lower_bound=1.0).log() / LOG_GAMMA).ceil().cast(pl.Int32)
    )


def bucket_indexes(durations_ns: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """The bucket index of each duration (numpy twin of :func:`bucket_expr`)."""
    import numpy as np

    return np.ceil(np.log(np.maximum(durations_ns, 1.0)) / LOG_GAMMA).astype(np.int64)


def bucket_values_ms(indexes: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """The representative value, in ms, of each bucket index."""
    import numpy as np

    return 2.0 * np.exp(indexes.astype(np.float64) * LOG_GAMMA) / (GAMMA + 1.0) / 1e6


def quantiles_from_counts(
    counts: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    first_index: int,
    quantile: float,
) -> npt.NDArray[np.float64]:
    """The ``quantile`` of each row of a (rows x buckets) count matrix, in ms.

    Column ``j`` is bucket ``first_index + j``. The rank ``q * n`` is located in its
    bucket and interpolated log-linearly between the bucket's edges, so estimates
    move smoothly with the data rather than in bucket steps. Rows with no
    observations give NaN.
    """
    import numpy as np

    counts2d = np.atleast_2d(counts).astype(np.float64)
    cumulative = np.cumsum(counts2d, axis=1)
    totals = cumulative[:, -1]
    rank = quantile * totals
    column = np.minimum(np.sum(cumulative < rank[:, None], axis=1), counts2d.shape[1] - 1)
    rows = np.arange(counts2d.shape[0])
    in_bucket = counts2d[rows, column]
    before = cumulative[rows, column] - in_bucket
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.clip(np.where(in_bucket > 0, (rank - before) / in_bucket, 1.0), 0.0, 1.0)
    exponent = (first_index + column - 1 + fraction) * LOG_GAMMA
    return np.where(totals > 0, np.exp(exponent) / 1e6, np.nan)
