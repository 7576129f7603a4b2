"""What the gate and the canary share about outcomes: verdicts, states and exit codes."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, Final

from tracekit import exit_codes


class Verdict(StrEnum):
    """The perf gate's outcome (and each metric's)."""

    PASS = "PASS"
    REGRESSION = "REGRESSION"
    INCONCLUSIVE = "INCONCLUSIVE"
    NEW = "NEW"
    """A stage only the current side has: reported, not judged."""


class Decision(StrEnum):
    """The canary's outcome for a phase."""

    PROMOTE = "PROMOTE"
    CONTINUE = "CONTINUE"
    ROLLBACK = "ROLLBACK"


EXIT_CODES: Final[dict[Verdict | Decision, int]] = {
    Verdict.PASS: exit_codes.OK,
    Verdict.REGRESSION: exit_codes.FAIL,
    Verdict.INCONCLUSIVE: exit_codes.INCONCLUSIVE,
    Decision.PROMOTE: exit_codes.OK,
    Decision.ROLLBACK: exit_codes.FAIL,
    Decision.CONTINUE: exit_codes.INCONCLUSIVE,
}
"""Good news 0, bad news 1, not enough evidence 3 (``docs/cli.md``)."""


class Status(StrEnum):
    """Where an interval lies against a limit (higher is worse)."""

    MET = "met"
    VIOLATED = "violated"
    UNDECIDED = "undecided"


def status_against_limit(low: float, high: float, limit: float) -> Status:
    """MET when the whole interval is below ``limit``, VIOLATED when above, else UNDECIDED."""
    if high < limit:
        return Status.MET
    if low > limit:
        return Status.VIOLATED
    return Status.UNDECIDED


def finite_or_none(value: Any) -> Any:
    """``value``, or None for a NaN or infinite float (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
