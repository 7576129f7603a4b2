"""Unicode sparklines: the shape of a latency distribution in a table cell."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

BARS: Final = " ▁▂▃▄▅▆▇█"

SKETCH_BINS_PER_OCTAVE: Final = 4
"""Bins per doubling of duration: bin ``b`` holds ``2**(b/4)`` to ``2**((b+1)/4)`` µs."""


def sketch_bin(duration_ns: float) -> int:
    """The sketch bin of a duration (quarter-octaves of microseconds)."""
    micros = max(duration_ns / 1000.0, 1.0)
    return math.floor(math.log2(micros) * SKETCH_BINS_PER_OCTAVE)


def sparkline(counts: Sequence[float], width: int = 16) -> str:
    """Bars for ``counts`` (tallest = █), at most ``width`` characters.

    Neighbouring counts are summed when there are more than ``width``; empty
    counts at both ends are trimmed first. A bar is never blank for a non-zero
    count, so a rare tail stays visible.
    """
    values = list(counts)
    while values and values[0] == 0:
        values.pop(0)
    while values and values[-1] == 0:
        values.pop()
    if not values:
        return ""
    if len(values) > width:
        group = math.ceil(len(values) / width)
        values = [sum(values[i : i + group]) for i in range(0, len(values), group)]
    top = max(values)
    bars = []
    for value in values:
        if value <= 0:
            bars.append(BARS[0])
        else:
            bars.append(BARS[max(1, round(value / top * (len(BARS) - 1)))])
    return "".join(bars)


def sparkline_from_bins(bins: Mapping[int, float], width: int = 16) -> str:
    """A sparkline of sparse ``{bin: count}``, filling gaps between bins with zeros."""
    if not bins:
        return ""
    low, high = min(bins), max(bins)
    return sparkline([bins.get(b, 0) for b in range(low, high + 1)], width)
