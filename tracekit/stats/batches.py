"""How precise a share or a mean is when the ticks behind it come in bursts.

Latency is autocorrelated: a slow tick is often followed by slow ticks, and
deadline misses come in bursts. A variance that treats ticks as independent is
then too small, and a gate built on it fails identical builds. The estimators
here work on *blocks* of consecutive ticks (a profile keeps 20 or more ticks per
block, in time order, per run) and measure the variance from the blocks
themselves (batch means), so bursts inside a block are accounted for exactly.
Bursts longer than a block leave neighbouring blocks correlated; that is
measured too (the lag-1 correlation of the blocks' residuals, within each run)
and corrected for with the AR(1) factor ``(1 + r) / (1 - r)``, with fewer degrees
of freedom to match.

All runs of a side are centred on the side's pooled value: runs of one build are
taken as draws of one distribution, so a run that differs from the others widens
the interval rather than being explained away. Runs are never resampled, so with
two runs neither can count twice (``docs/compare.md``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

MAX_LAG_CORRELATION: Final = 0.95
"""Above this, the AR(1) correction would be a guess; it is capped here."""


@dataclasses.dataclass(frozen=True)
class BlockVariance:
    """The variance of a pooled ratio ``sum(numerators) / sum(denominators)``.

    Attributes:
        value: The pooled ratio.
        variance: Its variance, allowing for correlation between blocks.
        degrees_of_freedom: For a t quantile: fewer blocks, or more correlated
            ones, mean fewer.
        lag_correlation: The (bias-corrected, clipped) lag-1 correlation of the
            blocks' residuals that the variance was corrected for.
        blocks: How many blocks it was measured on.
    """

    value: float
    variance: float
    degrees_of_freedom: float
    lag_correlation: float
    blocks: int

    @property
    def standard_error(self) -> float:
        return math.sqrt(self.variance)


def block_variance(
    numerators: npt.NDArray[np.float64],
    denominators: npt.NDArray[np.float64],
    run_of_block: npt.NDArray[np.int64],
) -> BlockVariance:
    """The variance of the pooled ratio of per-block sums.

    Args:
        numerators: Per block, e.g. the ticks that missed, or the observations at
            or below a value.
        denominators: Per block, e.g. the ticks, or the observations.
        run_of_block: Per block, the run it belongs to; blocks of one run are
            consecutive and in time order.

    Returns:
        The ratio, its variance and degrees of freedom. With fewer than two
        blocks the variance is infinite.
    """
    import numpy as np

    total = float(denominators.sum())
    count = int(numerators.size)
    if total <= 0 or count < 2:
        return BlockVariance(math.nan, math.inf, 0.0, 0.0, count)
    value = float(numerators.sum()) / total
    residuals = numerators - value * denominators
    sum_squares = float(np.dot(residuals, residuals))
    same_run = run_of_block[1:] == run_of_block[:-1]
    pairs = int(same_run.sum())
    lagged = float(np.dot(residuals[1:][same_run], residuals[:-1][same_run]))
    correlation = lagged / sum_squares * (count / max(pairs, 1)) if sum_squares > 0 else 0.0
    # Kendall's first-order correction of the downward bias of a lag-1 estimate.
    correlation += (1.0 + 3.0 * correlation) / count
    correlation = min(max(correlation, 0.0), MAX_LAG_CORRELATION)
    inflation = (1.0 + correlation) / (1.0 - correlation)
    variance = sum_squares * count / (count - 1) / total**2 * inflation
    degrees_of_freedom = max(1.0, (count - 1) / inflation)
    return BlockVariance(value, variance, degrees_of_freedom, correlation, count)
