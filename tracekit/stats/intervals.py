"""Small statistical building blocks shared by analyze, compare and canary.

Quantiles use linear interpolation between order statistics (numpy's default
``method="linear"``, DuckDB's ``quantile_cont``, polars' ``interpolation="linear"``).
"""

from __future__ import annotations

import math
from typing import Final

QUANTILE_METHOD: Final = "linear"
"""The quantile method everywhere in tracekit; see the module docstring."""

PERCENTILES: Final = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
"""The percentiles reported per stage: (label, quantile)."""

Z_95_TWO_SIDED: Final = 1.959963984540054


def min_n_for_quantile(quantile: float) -> int:
    """The smallest sample for which analyze reports the q-th quantile.

    With fewer than ``1 / (1 - q)`` observations the linear estimate of the q-th
    quantile lies in the top gap of the sample, mostly the maximum itself, so
    analyze marks it as not estimable (p95 needs 20, p99 needs 100). At exactly
    that n it still interpolates towards the maximum; it is reported, with its n.
    """
    return math.ceil(round(1.0 / (1.0 - quantile), 9))


def wilson_interval(successes: int, trials: int, z: float = Z_95_TWO_SIDED) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95% two-sided by default).

    Returns (nan, nan) when there are no trials.
    """
    if trials <= 0:
        return (math.nan, math.nan)
    p = successes / trials
    z2 = z * z
    denominator = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))
