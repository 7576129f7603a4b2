"""Log-bucketed latency histograms with a bounded relative error.

Bucket ``i`` holds durations in ``(GAMMA**(i-1), GAMMA**i]`` nanoseconds, with
``GAMMA = (1 + ALPHA) / (1 - ALPHA)`` and ``ALPHA = 0.01``. A bucket is represented by
``2 * GAMMA**i / (GAMMA + 1)``, within 1% of every value in it (the DDSketch
construction), so any quantile read from a histogram is within 1% of the
corresponding order statistic. Histograms with the same buckets merge by adding
counts, which is what makes profiles mergeable and the bootstrap cheap.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import polars as pl

ALPHA: Final = 0.01
"""The relative error bound of a bucket's representative value."""

GAMMA: Final = (1 + ALPHA) / (1 - ALPHA)
LOG_GAMMA: Final = math.log(GAMMA)


def bucket_expr(duration_ns: pl.Expr) -> pl.Expr:
    """A polars expression for the bucket index of a duration (durations < 1 ns go to 0)."""
    import polars as pl

    return (
        (duration_ns.cast(pl.Float64).clip(lower_bound=1.0).log() / LOG_GAMMA).ceil().cast(pl.Int32)
    )


def bucket_values_ms(indexes: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """The representative value, in ms, of each bucket index."""
    import numpy as np

    return 2.0 * np.exp(indexes.astype(np.float64) * LOG_GAMMA) / (GAMMA + 1.0) / 1e6


def quantiles_from_counts(
    counts: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    values_ms: npt.NDArray[np.float64],
    quantile: float,
) -> npt.NDArray[np.float64]:
    """The ``quantile`` of each row of a (rows x buckets) count matrix, in ms.

    Uses the lower empirical quantile (the value of the ``ceil(q * n)``-th
    observation); rows with no observations give NaN.
    """
    import numpy as np

    counts2d = np.atleast_2d(counts).astype(np.float64)
    cumulative = np.cumsum(counts2d, axis=1)
    totals = cumulative[:, -1]
    rank = np.maximum(np.ceil(quantile * totals), 1.0)
    index = np.sum(cumulative < rank[:, None], axis=1)
    index = np.minimum(index, counts2d.shape[1] - 1)
    result = values_ms[index]
    return np.where(totals > 0, result, np.nan)
