"""Synthetic latency data with a known truth: tick durations and profiles built from them.

One generator for the tests that need durations whose distribution they know:
lognormal ticks (median 100 ms, log-sd 0.3 unless told), optionally with an AR(1)
dependence between neighbouring ticks, and the gate's :class:`Profile` of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from tracekit.decisions.profile import Profile, profile_from_durations

Durations = NDArray[np.float64]


def lognormal_ticks(
    rng: np.random.Generator | int,
    n: int,
    *,
    median_ms: float = 100.0,
    sigma: float = 0.3,
    phi: float = 0.0,
    factor: float = 1.0,
) -> Durations:
    """``n`` lognormal durations in ms whose logs are a stationary AR(1) with coefficient phi.

    ``rng`` is a generator (drawn from) or a seed; ``factor`` scales every duration
    (1.10 is a 10% slower build). With ``phi = 0`` the ticks are independent.
    """
    from scipy.signal import lfilter

    generator = np.random.default_rng(rng) if isinstance(rng, int) else rng
    noise = generator.standard_normal(n)
    scale = math.sqrt(1.0 - phi * phi)
    # z[i] = phi z[i-1] + scale noise[i], started so that z[0] = noise[0] (stationary).
    start = np.array([noise[0] * (1 - scale)])
    z = np.asarray(lfilter([scale], [1.0, -phi], noise, zi=start)[0], dtype=np.float64)
    return np.exp(math.log(median_ms) + sigma * z) * factor


def synthetic_profile(
    runs: Mapping[str, Mapping[str, Durations]], *, deadline_ms: float = 200.0
) -> Profile:
    """The profile of ``runs`` (run id -> stage -> durations in ms, in time order)."""
    return profile_from_durations(
        {
            run: {stage: values.tolist() for stage, values in stages.items()}
            for run, stages in runs.items()
        },
        deadline_ms=deadline_ms,
    )
