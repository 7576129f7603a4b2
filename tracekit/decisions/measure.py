"""What the gate and the canary measure on one side: the shared engine.

A :class:`SideMeasure` wraps a :class:`~tracekit.decisions.profile.Profile` and
answers, with standard errors that respect time order (:mod:`tracekit.stats`):
a quantile of a stage, the deadline-miss rate, exchange requests per tick and
hard guard trips. The point estimates are the exact figures ``tracekit analyze``
prints when the profile carries them (profiles built from traces do); the
histograms supply only the precision.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from tracekit.stats.batches import BlockVariance, block_variance
from tracekit.stats.intervals import (
    QuantileEstimate,
    RateEstimate,
    quantile_estimate,
    rate_estimate,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from tracekit.decisions.profile import Profile


class SideMeasure:
    """One side of a comparison, ready to be measured.

    Args:
        profile: The side's profile.
    """

    def __init__(self, profile: Profile) -> None:
        import numpy as np

        self.profile = profile
        blocks = list(profile.blocks())
        self.run_of_block: npt.NDArray[np.int64] = np.array(
            [index for index, run in enumerate(profile.runs) for _ in run.blocks],
            dtype=np.int64,
        )
        self.ticks = np.array([block.ticks for block in blocks], dtype=np.float64)
        self.misses = np.array([block.misses for block in blocks], dtype=np.float64)
        self.requests = np.array([block.requests for block in blocks], dtype=np.float64)
        self._matrices: dict[str, tuple[npt.NDArray[np.float64], int]] = {}

    @property
    def total_ticks(self) -> int:
        return int(self.ticks.sum())

    def _matrix(self, stage: str) -> tuple[npt.NDArray[np.float64], int]:
        """``stage``'s (blocks x buckets) counts over its own bucket range, and the first bucket."""
        cached = self._matrices.get(stage)
        if cached is None:
            extent = self.profile.bucket_range(stage) or (0, 0)
            cached = (self.profile.stage_matrix(stage, extent[0], extent[1]), extent[0])
            self._matrices[stage] = cached
        return cached

    def quantile(self, stage: str, quantile: float) -> QuantileEstimate:
        """The ``quantile`` of ``stage``, with its standard error."""
        matrix, first = self._matrix(stage)
        exact = self.profile.exact_quantile(stage, quantile)
        estimate = quantile_estimate(matrix, first, self.run_of_block, quantile, exact)
        floor = self.profile.floor_of(stage, quantile) if exact is None else 0.0
        if estimate.value < floor:  # a histogram figure below an exact lower percentile
            return dataclasses.replace(estimate, value=floor)
        return estimate

    def mean_ms(self, stage: str) -> float:
        """The mean of ``stage`` (from the histograms: within about 1%)."""
        import numpy as np

        from tracekit.stats.histogram import bucket_values_ms

        matrix, first = self._matrix(stage)
        counts = matrix.sum(axis=0)
        total = float(counts.sum())
        if not total:
            return math.nan
        values = bucket_values_ms(np.arange(first, first + counts.size, dtype=np.int64))
        return float((counts * values).sum() / total)

    def miss_rate(self) -> RateEstimate:
        """The deadline-miss rate, with its design effect."""
        return rate_estimate(self.misses, self.ticks, self.run_of_block)

    def requests_per_tick(self) -> BlockVariance:
        """Exchange requests per tick, with its variance."""
        return block_variance(self.requests, self.ticks, self.run_of_block)
