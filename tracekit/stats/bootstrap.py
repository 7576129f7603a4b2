"""A seeded bootstrap that respects time order.

The units are a profile's blocks (consecutive ticks). A replicate draws, per run,
overlapping runs of ``L`` consecutive blocks (a moving-block bootstrap, with
``L = ceil(blocks ** (1/3))``) until the run's length is covered; when a side holds
several runs, the runs are first resampled with replacement and each drawn run
contributes its own block resample. A replicate is therefore a weight per block,
and a replicate's histogram of any stage is ``weights @ block_histograms``: one
matrix product for all replicates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def block_length(units: int) -> int:
    """The moving-block length for a run of ``units`` blocks."""
    return int(max(1, min(units, math.ceil(float(units) ** (1.0 / 3.0)))))


def replicate_weights(
    units_per_run: Sequence[int], replicates: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """A (replicates x total units) matrix: how often each block is drawn per replicate."""
    import numpy as np

    total = sum(units_per_run)
    weights = np.zeros((replicates, total), dtype=np.float64)
    runs = len(units_per_run)
    if runs > 1:
        run_multiplicity = rng.multinomial(runs, [1.0 / runs] * runs, size=replicates)
    else:
        run_multiplicity = np.ones((replicates, 1), dtype=np.int64)
    offset = 0
    rows = np.arange(replicates)[:, None]
    for run, units in enumerate(units_per_run):
        if units == 0:
            continue
        length = block_length(units)
        blocks = math.ceil(units / length)
        multiplicity = run_multiplicity[:, run]
        counts = np.zeros((replicates, units), dtype=np.float64)
        # Every copy of a run drawn more than once gets a block resample of its own.
        for copy in range(int(multiplicity.max())):
            starts = rng.integers(0, units - length + 1, size=(replicates, blocks))
            drawn = (starts[:, :, None] + np.arange(length)).reshape(replicates, -1)[:, :units]
            draw = np.zeros((replicates, units), dtype=np.float64)
            np.add.at(draw, (np.broadcast_to(rows, drawn.shape), drawn), 1.0)
            counts += draw * (multiplicity > copy)[:, None]
        weights[:, offset : offset + units] = counts
        offset += units
    return weights
