"""Many metrics, one verdict: Holm's step-down keeps the chance of any false alarm at alpha."""

from __future__ import annotations

from collections.abc import Sequence


def holm_rejections(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Which hypotheses Holm's step-down rejects at family-wise error ``alpha``.

    The smallest p-value is compared with ``alpha / m``, the next with
    ``alpha / (m - 1)``, and so on, stopping at the first that fails. Valid under
    any dependence between the tests.

    Args:
        p_values: One per hypothesis, in any order.
        alpha: The family-wise error rate.

    Returns:
        Per hypothesis, in the order given, whether it is rejected.
    """
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    rejected = [False] * len(p_values)
    size = len(p_values)
    for rank, index in enumerate(order):
        if not p_values[index] <= alpha / (size - rank):
            break
        rejected[index] = True
    return rejected
