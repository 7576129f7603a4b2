"""The deterministic, seedable sampling decision.

Whether a tick's detail is kept is a pure function of ``(seed, tick_id)``: the
SplitMix64 finaliser of ``seed + tick_id * 0x9E3779B97F4A7C15`` compared with
``sample_rate * 2**64``. It does not depend on timing, thread interleaving or the
order ticks finish in, so a seed reproduces the same choice of ticks, and the
choice is independent of the tick's outcome (the sample is unbiased).
"""

from __future__ import annotations

from collections.abc import Callable

_MASK = (1 << 64) - 1
_GOLDEN_GAMMA = 0x9E3779B97F4A7C15


def mix64(value: int) -> int:
    """SplitMix64's finaliser: a well-spread 64-bit hash of ``value``."""
    z = value & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _never(tick_id: int) -> bool:
    return False


def _always(tick_id: int) -> bool:
    return True


def _decision(seed: int, threshold: int) -> Callable[[int], bool]:
    """The decision as a plain function of the tick id, its seed and threshold held in
    the closure: on the traced loop a closure call is cheaper than a method's."""
    if threshold <= 0:
        return _never
    if threshold >= 1 << 64:
        return _always

    def decide(tick_id: int) -> bool:
        # mix64 inlined: this runs once per tick on the traced loop.
        z = (seed + tick_id * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return (z ^ (z >> 31)) < threshold

    return decide


class Sampler:
    """Decides which ticks are sampled.

    Args:
        rate: Probability in [0, 1] that a tick is sampled.
        seed: Seed of the decision (a 64-bit unsigned value is used).

    ``sampler(tick_id)`` and ``sampler.decide(tick_id)`` give the same answer; the
    tracer calls :attr:`decide`, a plain function (the cheaper call).
    """

    __slots__ = ("_threshold", "decide", "rate", "seed")

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.seed = seed & _MASK
        self._threshold = int(rate * (1 << 64))
        self.decide: Callable[[int], bool] = _decision(self.seed, self._threshold)

    def __call__(self, tick_id: int) -> bool:
        """True when tick ``tick_id`` is sampled."""
        return self.decide(tick_id)
