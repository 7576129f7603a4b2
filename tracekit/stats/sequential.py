"""Intervals that stay valid however often a growing sample is looked at.

A canary is judged again every few minutes on more data. Testing each look at a
fixed 5% lets false alarms pile up; spending the error across looks by a fixed
schedule makes decisions depend on how the looks were counted. A *confidence
sequence* avoids both: one boundary that holds at every look at once, so the
chance that *any* look is wrong stays below alpha, for any number of looks taken
at any times, and intervals from successive looks can be intersected (a
decision, once reached, stands).

The boundary is Robbins' normal mixture (Howard, Ramdas, McAuliffe & Sekhon,
"Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann. Stat.
2021, eq. 14), used with a standard error as in Waudby-Smith et al., "Time-uniform
central limit theory" (2021): the estimate is within ``multiplier * se`` of the
truth at every look, with

    multiplier = sqrt((1 + u) * (log(1 + 1/u) + 2 log(1/alpha))),  u = u* * planned / n

where ``n`` is the sample at this look and ``planned`` the sample at which the
boundary is made tightest (``u*`` minimises it there). Before ``planned`` the
boundary is wider, after it it grows only like ``sqrt(log n)``.
"""

from __future__ import annotations

import math


def optimal_tuning(alpha: float) -> float:
    """``u*``: the mixture tuning that makes the boundary tightest at the planned sample."""
    log_term = 2.0 * math.log(1.0 / alpha)
    return 1.0 / (log_term + math.log(1.0 + log_term))


def mixture_multiplier(sample: float, planned: float, alpha: float) -> float:
    """How many standard errors wide the two-sided ``alpha`` confidence sequence is.

    Args:
        sample: The sample size at this look (ticks).
        planned: The sample size the boundary is tuned for (ticks).
        alpha: The chance that the sequence misses the truth at any look, on
            either side.

    Returns:
        The multiplier of the standard error (e.g. about 3.0 at the planned sample
        for alpha 0.05, against 1.96 for a single 95% interval).
    """
    if sample <= 0:
        return math.inf
    u = optimal_tuning(alpha) * planned / sample
    return math.sqrt((1.0 + u) * (math.log(1.0 + 1.0 / u) + 2.0 * math.log(1.0 / alpha)))


def ticks_until_decided(
    ticks: int,
    standard_error: float,
    gap: float,
    planned: float,
    alpha: float,
    max_factor: float = 1000.0,
) -> tuple[int | None, bool]:
    """Ticks at which the sequence's half-width would shrink below ``gap``.

    Standard errors shrink like ``1/sqrt(n)``; the multiplier changes slowly with
    ``n``, so the answer is found by doubling and then bisecting.

    Args:
        ticks: The sample now.
        standard_error: The standard error now.
        gap: The distance from the estimate to the limit (same scale).
        planned: As in :func:`mixture_multiplier`.
        alpha: As in :func:`mixture_multiplier`.
        max_factor: Give up (and say "more than") beyond this many times ``ticks``.

    Returns:
        ``(ticks, capped)``; ``(None, False)`` when it cannot be estimated.
    """
    if not (standard_error > 0 and math.isfinite(standard_error)) or ticks <= 0 or gap <= 0:
        return None, False

    def fits(sample: float) -> bool:
        width = mixture_multiplier(sample, planned, alpha) * standard_error
        return width * math.sqrt(ticks / sample) < gap

    if fits(ticks):
        return ticks, False
    low, high = float(ticks), float(ticks)
    while not fits(high):
        if high >= ticks * max_factor:
            return math.ceil(ticks * max_factor), True
        low, high = high, high * 2.0
    for _ in range(40):
        middle = (low + high) / 2.0
        if fits(middle):
            high = middle
        else:
            low = middle
    return math.ceil(high), False
