"""Log-bucketed latency histograms with a bounded relative error.

Bucket ``i`` holds durations in ``(GAMMA**(i-1), GAMMA**i]`` nanoseconds, with
``GAMMA = (1 + ALPHA) / (1 - ALPHA)`` and ``ALPHA = 0.005`` (buckets about 1% wide,
the DDSketch construction). Quantiles are read from them by the
documented type-7 rule (:mod:`tracekit.stats.quantiles`), within one bucket of the
exact figure. Histograms with the same buckets merge by adding counts, which is
what makes profiles mergeable.
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
