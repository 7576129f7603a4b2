"""Sparklines: the shape of a distribution in a table cell."""

from __future__ import annotations

import numpy as np

from tracekit.present.render.sketch import BARS, sketch_bin, sparkline, sparkline_from_bins


def test_tallest_count_is_a_full_bar_and_rare_tails_stay_visible() -> None:
    line = sparkline([0, 1, 50, 100, 50, 1, 0])
    assert line == "▁▄█▄▁"
    assert line[0] != BARS[0]


def test_long_inputs_are_summed_down_to_the_width() -> None:
    line = sparkline(list(range(1, 101)), width=10)
    assert len(line) == 10
    assert line[-1] == "█"


def test_gaps_between_bins_are_zeros_and_empty_is_blank() -> None:
    assert sparkline_from_bins({3: 10, 6: 10}) == "█  █"
    assert sparkline_from_bins({}) == ""
    assert sparkline([0, 0]) == ""


def test_bins_are_quarter_octaves_of_microseconds() -> None:
    assert sketch_bin(1_000) == 0
    assert sketch_bin(2_000) == 4
    assert sketch_bin(16_000) == 16
    assert sketch_bin(10) == 0  # below 1 µs is clipped


def test_a_lognormal_sketch_peaks_in_the_middle() -> None:
    rng = np.random.default_rng(0)
    bins: dict[int, float] = {}
    for value in rng.lognormal(np.log(20e6), 0.4, 20_000):
        bins[sketch_bin(value)] = bins.get(sketch_bin(value), 0) + 1
    line = sparkline_from_bins(bins)
    peak = line.index("█")
    assert 0 < peak < len(line) - 1
