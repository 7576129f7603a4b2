"""Decisions from traces: the perf gate (:func:`compare`) and the canary
(:func:`judge_canary`).

>>> from tracekit.decisions import compare, judge_canary
>>> result = compare("samples/baseline", "samples/current")   # a Comparison
>>> result.verdict, result.exit_code()
>>> judge_canary("samples/canary/control", "samples/canary/canary", phase=3).decision

The canary's machinery lives in :mod:`tracekit.decisions.canary`, hence this
function's name: ``tracekit.decisions.canary`` is that module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracekit.decisions.canary import CanaryResult, CanaryState
    from tracekit.decisions.policy import CanaryPolicy, GatePolicy
    from tracekit.decisions.result import Comparison

Paths = str | Path | Sequence[str | Path]


def _paths(paths: Paths) -> list[str | Path]:
    return [paths] if isinstance(paths, str | Path) else list(paths)


def compare(
    baseline: Paths,
    current: Paths,
    policy: GatePolicy | None = None,
    *,
    skip_bad: bool = False,
    exact: bool = False,
) -> Comparison:
    """Run the perf gate on two sides (golden traces or profile ``.json`` files).

    Args:
        baseline: Files, folders or globs of golden traces, or one profile file.
        current: The same for the current build.
        policy: Thresholds, critical metrics and the error rate; the defaults when omitted.
        skip_bad: Skip unreadable trace files.
        exact: Read every row of trace sides, even when their files carry summaries
            (see :func:`~tracekit.decisions.sides.load_side`).
    """
    from tracekit.decisions.gate import compare_profiles
    from tracekit.decisions.policy import GatePolicy
    from tracekit.decisions.result import Comparison
    from tracekit.decisions.sides import load_side

    base_profile = load_side(_paths(baseline), skip_bad=skip_bad, exact=exact)
    current_profile = load_side(_paths(current), skip_bad=skip_bad, exact=exact)
    result = compare_profiles(base_profile, current_profile, policy or GatePolicy())
    return Comparison(
        result, base_profile.source, current_profile.source, base_profile, current_profile
    )


def judge_canary(
    control: Paths,
    canary: Paths,
    phase: int = 1,
    policy: CanaryPolicy | None = None,
    *,
    look: int | None = None,
    state: CanaryState | None = None,
    last: str | None = None,
    skip_bad: bool = False,
) -> CanaryResult:
    """Judge a canary against its control for one rollout phase.

    Args:
        control: Golden traces or a profile of the control deployment.
        canary: The same for the canary.
        phase: The rollout phase whose criteria apply.
        policy: Phases and error budget; the defaults when omitted.
        look: Which look of this phase this is (a label: the intervals are valid at
            every look); by default one more than ``state`` holds.
        state: The phase's earlier looks (:attr:`CanaryResult.state` of the last
            one): intervals are intersected with theirs, and a ROLLBACK or PROMOTE
            reached earlier stands.
        last: Judge only the most recent window of this length (e.g. ``30m``).
        skip_bad: Skip unreadable trace files.
    """
    from tracekit.decisions.canary import judge
    from tracekit.decisions.sides import load_side

    control_profile = load_side(_paths(control), skip_bad=skip_bad, since_last=last)
    canary_profile = load_side(_paths(canary), skip_bad=skip_bad, since_last=last)
    return judge(control_profile, canary_profile, phase, policy, look, state)
