"""Is "about N ticks per side would decide" right? Check it against simulation.

For identical builds of a given shape, the gate at ``--ticks`` per side is
INCONCLUSIVE and prints a ticks-to-decide figure N (the ticks at which it expects to
decide four times out of five). This script takes the median N over ``--seeds``
seeds, then simulates identical builds at N/2, N and 2N ticks per side and reports
how often the gate reaches a decision (PASS) there. The figure is right within x2
when the PASS rate crosses 80% between N/2 and 2N.

Usage::

    python bench/ticks_to_decide.py                      # lognormal, 1,000 ticks
    python bench/ticks_to_decide.py --phi 0.6 --ticks 2000 --seeds 40
"""

from __future__ import annotations

import argparse
import math
import statistics

import numpy as np

from tracekit.decisions.gate import compare_profiles
from tracekit.decisions.policy import GatePolicy
from tracekit.decisions.profile import profile_from_durations
from tracekit.decisions.verdicts import Verdict


def ticks(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """Lognormal tick durations (median 100 ms, log-sd 0.3) with AR(1) logs."""
    noise = rng.standard_normal(n)
    z = np.empty(n)
    z[0] = noise[0]
    for i in range(1, n):
        z[i] = phi * z[i - 1] + math.sqrt(1.0 - phi * phi) * noise[i]
    return np.exp(math.log(100.0) + 0.3 * z)


def gate(rng: np.random.Generator, n: int, phi: float) -> tuple[Verdict, int | None]:
    baseline = profile_from_durations({"b": {"tick_total": ticks(rng, n, phi).tolist()}})
    current = profile_from_durations({"c": {"tick_total": ticks(rng, n, phi).tolist()}})
    result = compare_profiles(baseline, current, GatePolicy())
    return result.verdict, result.ticks_to_decide


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1000, help="ticks per side (default 1000)")
    parser.add_argument("--phi", type=float, default=0.0, help="AR(1) coefficient (default 0)")
    parser.add_argument("--seeds", type=int, default=40, help="seeds per row (default 40)")
    args = parser.parse_args()
    estimates = []
    for seed in range(args.seeds):
        _, needed = gate(np.random.default_rng(seed), args.ticks, args.phi)
        if needed is not None:
            estimates.append(needed)
    if not estimates:
        print("every comparison decided at this size: nothing to check")
        return 0
    figure = int(statistics.median(estimates))
    print(
        f"at {args.ticks:,} ticks per side (phi {args.phi}): median ticks-to-decide "
        f"{figure:,} (quartiles {int(np.quantile(estimates, 0.25)):,} to "
        f"{int(np.quantile(estimates, 0.75)):,}, {len(estimates)} of {args.seeds} seeds)"
    )
    print("| ticks per side | PASS rate (identical builds) |")
    print("| ---: | ---: |")
    for size in (figure // 2, figure, 2 * figure):
        passed = sum(
            gate(np.random.default_rng(10_000 + seed), size, args.phi)[0] is Verdict.PASS
            for seed in range(args.seeds)
        )
        print(f"| {size:,} | {passed / args.seeds:.0%} ({passed}/{args.seeds}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
