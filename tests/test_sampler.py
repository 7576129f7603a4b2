"""The tracer's tick sampler: the documented SplitMix64 rule, bit for bit."""

from __future__ import annotations

from tracekit.trace.sampling import Sampler, mix64


def test_sampler_is_the_documented_splitmix_formula() -> None:
    sampler = Sampler(0.3, seed=12345)
    for tick_id in range(1, 2000):
        expected = mix64(12345 + tick_id * 0x9E3779B97F4A7C15) < int(0.3 * 2**64)
        assert sampler(tick_id) is expected
