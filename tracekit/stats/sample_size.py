"""How many ticks per side would decide: the sample-size answer an INCONCLUSIVE owes."""

from __future__ import annotations

import math
from typing import Final

POWER_Z: Final = 0.8416212335729143
"""The normal quantile for 80% power: "would decide four times out of five"."""

MAX_FACTOR: Final = 1000.0
"""Beyond this many times the current sample, the answer is "more than"."""


def ticks_to_decide(
    ticks: int,
    standard_error: float,
    change: float,
    threshold: float,
    critical: float,
    significant: bool,
) -> tuple[int | None, bool]:
    """Ticks per side at which a metric would likely (80%) reach PASS or REGRESSION.

    Standard errors shrink like ``1/sqrt(n)`` for a fixed design effect. The true
    change is taken as the estimate when that is significant, and as 0 (no
    change) otherwise: an estimate inside its own noise says nothing about which
    way the truth lies, and dividing by its distance to the threshold is what made
    earlier figures swing from thousands to billions.

    Args:
        ticks: The ticks per side now.
        standard_error: The standard error of the change now (same scale as
            ``change``: log ratio for quantiles, rate difference for rates).
        change: The estimated change.
        threshold: The allowed change.
        critical: The critical value of a bound (e.g. 1.645).
        significant: Whether the change is significantly above 0 now.

    Returns:
        ``(ticks, capped)``: the estimate (None when it cannot be computed), and
        whether it was capped at :data:`MAX_FACTOR` times the current ticks.
    """
    if not (standard_error > 0 and math.isfinite(standard_error)) or ticks <= 0:
        return None, False
    assumed = change if significant else 0.0
    # PASS needs  assumed + (critical + power) * se(n) <= threshold;
    # REGRESSION needs  assumed - (critical + power) * se(n) > 0 and assumed > threshold.
    gap = threshold - assumed if assumed < threshold else assumed
    if gap <= 0:
        return None, False
    factor = ((critical + POWER_Z) * standard_error / gap) ** 2
    if factor > MAX_FACTOR:
        return math.ceil(ticks * MAX_FACTOR), True
    return max(ticks, math.ceil(ticks * factor)), False
