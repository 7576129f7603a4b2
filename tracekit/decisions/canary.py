"""Canary judgement: PROMOTE, CONTINUE or ROLLBACK for a phase of a staged rollout.

Each criterion of the phase gets an interval and a state against its limit:
*met* when the whole interval is on the good side, *violated* when the whole
interval is on the bad side, *undecided* otherwise. Any violated criterion means
ROLLBACK, all met means PROMOTE, anything else CONTINUE.

A rollout is judged again and again on a growing sample, so the intervals are
*confidence sequences* (:mod:`tracekit.stats.sequential`): valid at every look at
once, however many looks there are, with the error split evenly over the
phase's criteria. The standard errors are the gate's (:mod:`tracekit.decisions.measure`):
blocks of consecutive ticks, so bursts of slow ticks or misses count for what
they are. With a state file, each look's intervals are intersected with the
earlier looks' (still valid for a confidence sequence), and a ROLLBACK or PROMOTE,
once reached, stands for the rest of the phase.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tracekit.decisions.measure import SideMeasure
from tracekit.decisions.policy import (
    DEFAULT_DEADLINE_MS,
    MAX_LOOK,
    CanaryPolicy,
    Limit,
    PhaseCriteria,
)
from tracekit.decisions.verdicts import (
    EXIT_CODES,
    Decision,
    Status,
    finite_or_none,
    status_against_limit,
)
from tracekit.errors import InputError
from tracekit.present.render.sections import Column, Heading, Section, fixed
from tracekit.present.report import Presentable
from tracekit.stats.intervals import log_ratio, rate_interval, wilson_interval
from tracekit.stats.sequential import mixture_multiplier, ticks_until_decided
from tracekit.store.schema import TICK_TOTAL

if TYPE_CHECKING:
    from tracekit.decisions.profile import Profile

CANARY_FORMAT: Final = "tracekit.canary"
CANARY_VERSION: Final = 2
STATE_FORMAT: Final = "tracekit.canary-state"
STATE_VERSION: Final = 1
HARD_TRIP_SUFFIX: Final = "_hard"
"""Guard-trip reasons ending in this are hard trips."""


@dataclasses.dataclass(frozen=True)
class Check:
    """One criterion's judgement.

    Attributes:
        name: Machine-readable name (e.g. ``p95_vs_control``).
        description: What is required, in words.
        estimate: The point estimate (ms, share or ratio, as the limit).
        low: Lower bound of the confidence sequence at this look (NaN: no interval).
        high: Upper bound.
        limit: The limit the interval is judged against.
        status: met, violated or undecided.
        ticks_to_decide: Roughly how many canary ticks in all would decide it.
        ticks_to_decide_capped: ``ticks_to_decide`` is a floor ("more than").
    """

    name: str
    description: str
    estimate: float
    low: float
    high: float
    limit: float
    status: Status
    ticks_to_decide: int | None = None
    ticks_to_decide_capped: bool = False

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["status"] = self.status.value
        return {key: finite_or_none(value) for key, value in values.items()}


@dataclasses.dataclass(frozen=True)
class LookRecord:
    """One earlier look of a phase, as the state file keeps it."""

    look: int
    decision: Decision
    canary_ticks: int
    intervals: Mapping[str, tuple[float, float]]


@dataclasses.dataclass(frozen=True)
class CanaryState:
    """The looks of one phase so far (``tracekit canary --state``).

    Attributes:
        phase: The phase the looks belong to.
        looks: Earlier looks, oldest first.
    """

    phase: int
    looks: tuple[LookRecord, ...] = ()

    @property
    def settled(self) -> LookRecord | None:
        """The first look that reached ROLLBACK or PROMOTE, if any."""
        return next((r for r in self.looks if r.decision is not Decision.CONTINUE), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "phase": self.phase,
            "looks": [
                {
                    "look": record.look,
                    "decision": record.decision.value,
                    "canary_ticks": record.canary_ticks,
                    "intervals": {
                        name: [finite_or_none(low), finite_or_none(high)]
                        for name, (low, high) in record.intervals.items()
                    },
                }
                for record in self.looks
            ],
        }

    def write(self, path: Path) -> None:
        """Write the state atomically."""
        from tracekit.store.documents import write_document

        write_document(path, self.to_dict(), "canary state", compact=False)

    @classmethod
    def read(cls, path: Path) -> CanaryState | None:
        """The state in ``path``; None when the file does not exist yet.

        Raises:
            InputError: The file exists but is not a canary state.
        """
        from tracekit.store.documents import read_document

        if not path.exists():
            return None
        document = read_document(
            path,
            STATE_FORMAT,
            (STATE_VERSION,),
            "canary state",
            "delete it to start the phase's looks afresh",
        )
        try:
            looks = tuple(
                LookRecord(
                    look=int(item["look"]),
                    decision=Decision(item["decision"]),
                    canary_ticks=int(item["canary_ticks"]),
                    intervals={
                        str(name): (_bound(pair[0], -math.inf), _bound(pair[1], math.inf))
                        for name, pair in item["intervals"].items()
                    },
                )
                for item in document["looks"]
            )
            return cls(int(document["phase"]), looks)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            raise InputError(
                f"{path}: the canary state is incomplete or malformed; delete it to start "
                "the phase's looks afresh"
            ) from None


def _bound(value: Any, missing: float) -> float:
    if value is None:
        return missing
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(value)
    return float(value)


@dataclasses.dataclass(frozen=True)
class CanaryResult(Presentable):
    """The decision for one phase at one look.

    Attributes:
        phase: The phase judged.
        look: Which look of the phase this is (1, 2, ...).
        checks: One per criterion of the phase.
        control_ticks: Ticks on the control side.
        canary_ticks: Ticks on the canary side.
        policy: The policy applied.
        multiplier: Standard errors per half-width of this look's intervals.
        deadline_ms: The deadline that "deadline" limits resolved to.
        deadline_recorded: Whether the traces recorded that deadline.
        settled_at: The look at which an earlier ROLLBACK or PROMOTE was reached.
        state: The state after this look (to pass to the next).
    """

    phase: int
    look: int
    checks: list[Check]
    control_ticks: int
    canary_ticks: int
    policy: CanaryPolicy
    multiplier: float
    deadline_ms: float
    deadline_recorded: bool
    settled_at: int | None = None
    settled_decision: Decision | None = None
    state: CanaryState | None = None
    control_profile: Profile | None = dataclasses.field(default=None, repr=False)
    canary_profile: Profile | None = dataclasses.field(default=None, repr=False)

    @property
    def decision(self) -> Decision:
        if self.settled_decision is not None:
            return self.settled_decision
        return decide(self.checks)

    @property
    def reasons(self) -> list[str]:
        """Why: the violated checks for ROLLBACK, the undecided ones for CONTINUE."""
        wanted = Status.VIOLATED if self.decision is Decision.ROLLBACK else Status.UNDECIDED
        return [check.name for check in self.checks if check.status is wanted]

    @property
    def ticks_to_decide(self) -> int | None:
        """Roughly how many canary ticks in all would decide every undecided check."""
        if self.decision is not Decision.CONTINUE:
            return None
        needed = [c.ticks_to_decide for c in self.checks if c.ticks_to_decide is not None]
        return max(needed) if needed else None

    def exit_code(self) -> int:
        """0 PROMOTE, 1 ROLLBACK, 3 CONTINUE."""
        return EXIT_CODES[self.decision]

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON shape documented in ``docs/canary.md``."""
        from tracekit._version import __version__

        return {
            "format": CANARY_FORMAT,
            "version": CANARY_VERSION,
            "tracekit_version": __version__,
            "decision": self.decision.value,
            "exit_code": self.exit_code(),
            "phase": self.phase,
            "look": self.look,
            "settled_at_look": self.settled_at,
            "alpha": self.policy.alpha,
            "method": {
                "intervals": "confidence sequence (normal mixture), valid at every look",
                "multiplier": round(self.multiplier, 4),
                "planned_ticks": self.policy.planned_ticks,
                "criteria": len(self.checks),
            },
            "deadline_ms": self.deadline_ms,
            "deadline_recorded": self.deadline_recorded,
            "control_ticks": self.control_ticks,
            "canary_ticks": self.canary_ticks,
            "reasons": self.reasons,
            "ticks_to_decide": self.ticks_to_decide,
            "checks": [check.to_dict() for check in self.checks],
        }

    def heading(self) -> Heading:
        """The decision (and, in Jupyter, the phase)."""
        decision = self.decision.value
        return Heading(
            title=f"tracekit canary: {decision}",
            headline=f"tracekit canary, phase {self.phase}: {decision}",
        )

    def note(self) -> str:
        """The words under the table: the method, the sizes and what comes next."""
        parts = [
            f"Phase {self.phase}, look {self.look}. Intervals are a confidence sequence: "
            f"valid at every look of the phase at once (any false ROLLBACK or PROMOTE "
            f"≤ {self.policy.alpha:g} in all), {self.multiplier:.2f} standard errors wide "
            f"at {self.canary_ticks:,} canary ticks.",
            f"Control {self.control_ticks:,} ticks, canary {self.canary_ticks:,} ticks.",
        ]
        if not self.deadline_recorded:
            parts.append(
                f"The traces recorded no deadline: 'deadline' limits use {self.deadline_ms:g} ms."
            )
        if self.settled_at is not None:
            parts.append(
                f"{self.decision.value} was reached at look {self.settled_at} and stands for "
                "the rest of the phase."
            )
        elif self.ticks_to_decide is not None:
            parts.append(f"About {self.ticks_to_decide:,} canary ticks in all would decide.")
        return " ".join(parts)

    def sections(self) -> list[Section]:
        import polars as pl

        rows = [check.to_dict() for check in self.checks]
        frame = pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()
        return [
            Section(
                "checks",
                f"Canary: {self.decision.value}",
                frame,
                (
                    Column("description", "criterion"),
                    Column("estimate", "estimate", fixed(3), True),
                    Column("low", "low", fixed(3), True),
                    Column("high", "high", fixed(3), True),
                    Column("limit", "limit", fixed(3), True),
                    Column("status", "status"),
                ),
                self.note(),
            )
        ]


def decide(checks: list[Check]) -> Decision:
    """ROLLBACK if any check is violated, PROMOTE if all are met, else CONTINUE."""
    statuses = [check.status for check in checks]
    if Status.VIOLATED in statuses:
        return Decision.ROLLBACK
    if statuses and all(status is Status.MET for status in statuses):
        return Decision.PROMOTE
    return Decision.CONTINUE


def judge(
    control: Profile,
    canary: Profile,
    phase: int,
    policy: CanaryPolicy | None = None,
    look: int | None = None,
    state: CanaryState | None = None,
) -> CanaryResult:
    """Judge ``canary`` against ``control`` for ``phase``.

    Args:
        control: The control deployment's profile.
        canary: The canary's profile.
        phase: The rollout phase whose criteria apply.
        policy: Phases and error budget; the defaults when omitted.
        look: Which look of the phase this is; with ``state``, one more than the
            looks it holds. Only a label: the intervals are valid at any look.
        state: The phase's earlier looks; its intervals are intersected with this
            look's, and a decision it holds stands.

    Raises:
        InputError: Unknown phase, an empty side, or a state of another phase.
    """
    policy = policy or CanaryPolicy()
    criteria = policy.criteria(phase)
    if criteria is None:
        raise InputError(
            f"phase {phase} is not configured; phases: {', '.join(map(str, policy.known_phases()))}"
        )
    for side, profile in (("control", control), ("canary", canary)):
        if profile.total_ticks == 0 or profile.bucket_range(TICK_TOTAL) is None:
            raise InputError(f"{profile.source}: the {side} side holds no tick")
    if state is not None and state.phase != phase:
        state = None  # a new phase starts its looks afresh
    previous = state.looks if state is not None else ()
    if look is None:
        look = len(previous) + 1
    _check_look(look)
    deadline = canary.deadline_ms or control.deadline_ms
    deadline_ms = deadline or DEFAULT_DEADLINE_MS
    measured = SideMeasure(control), SideMeasure(canary)
    n_canary = canary.total_ticks
    alpha = policy.alpha / max(1, criteria.count())
    multiplier = mixture_multiplier(n_canary, policy.planned_ticks, alpha)
    judging = _Judging(measured, multiplier, alpha, policy.planned_ticks, n_canary)
    checks = _checks(criteria, judging, deadline_ms)
    if previous:
        checks = [_intersect(check, previous) for check in checks]
    settled = state.settled if state is not None else None
    decision = settled.decision if settled is not None else decide(checks)
    record = LookRecord(
        look, decision, n_canary, {check.name: (check.low, check.high) for check in checks}
    )
    return CanaryResult(
        phase=phase,
        look=look,
        checks=checks,
        control_ticks=control.total_ticks,
        canary_ticks=n_canary,
        policy=policy,
        multiplier=multiplier,
        deadline_ms=deadline_ms,
        deadline_recorded=deadline is not None,
        settled_at=settled.look if settled is not None else None,
        settled_decision=settled.decision if settled is not None else None,
        state=CanaryState(phase, (*previous, record)),
        control_profile=control,
        canary_profile=canary,
    )


def _check_look(look: object) -> None:
    """Refuse a look number that is not a whole number from 1 to :data:`MAX_LOOK`."""
    if isinstance(look, bool) or not isinstance(look, int):
        raise InputError(f"the look number must be a whole number, got {type(look).__name__}")
    if look < 1:
        shown = str(look) if look > -(10**18) else "a very negative number"
        raise InputError(f"the look number must be 1 or more, got {shown}")
    if look > MAX_LOOK:
        shown = str(look) if look < 10**18 else f"a number of {look.bit_length()} bits"
        raise InputError(f"the look number must be at most {MAX_LOOK:,}, got {shown}")


@dataclasses.dataclass(frozen=True)
class _Judging:
    """What every check of one look shares."""

    sides: tuple[SideMeasure, SideMeasure]
    multiplier: float
    alpha: float
    planned: int
    ticks: int

    def until_decided(self, standard_error: float, gap: float) -> tuple[int | None, bool]:
        return ticks_until_decided(self.ticks, standard_error, gap, self.planned, self.alpha)


def _checks(criteria: PhaseCriteria, judging: _Judging, deadline_ms: float) -> list[Check]:
    checks: list[Check] = []
    if criteria.p95_max_ms is not None:
        checks.append(_absolute_quantile(judging, 0.95, criteria.p95_max_ms, deadline_ms))
    if criteria.p99_max_ms is not None:
        checks.append(_absolute_quantile(judging, 0.99, criteria.p99_max_ms, deadline_ms))
    if criteria.miss_rate_max is not None:
        checks.append(_miss_rate(judging, criteria.miss_rate_max))
    if criteria.p95_delta_max is not None:
        checks.append(_delta(judging, criteria.p95_delta_max))
    if criteria.hard_trip_ratio_max is not None:
        checks.append(_hard_trips(judging, criteria.hard_trip_ratio_max))
    if criteria.requests_drop_min is not None:
        checks.append(_requests(judging, criteria.requests_drop_min))
    return checks


def _intersect(check: Check, previous: tuple[LookRecord, ...]) -> Check:
    """Narrow ``check``'s interval by the earlier looks' (a confidence sequence allows it)."""
    low, high = check.low, check.high
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = -math.inf, math.inf
    for record in previous:
        earlier = record.intervals.get(check.name)
        if earlier is None:
            continue
        new_low, new_high = max(low, earlier[0]), min(high, earlier[1])
        if new_low <= new_high:  # disjoint: the model is off; keep what is narrower
            low, high = new_low, new_high
    if not (math.isfinite(low) and math.isfinite(high)):
        return check
    return dataclasses.replace(
        check, low=low, high=high, status=status_against_limit(low, high, check.limit)
    )


def _undecided(
    status: Status, judging: _Judging, standard_error: float, gap: float
) -> dict[str, Any]:
    if status is not Status.UNDECIDED:
        return {}
    needed, capped = judging.until_decided(standard_error, gap)
    return {"ticks_to_decide": needed, "ticks_to_decide_capped": capped}


def _absolute_quantile(
    judging: _Judging, quantile: float, limit: Limit, deadline_ms: float
) -> Check:
    label = f"p{round(quantile * 100)}"
    limit_ms = limit.resolve(deadline_ms)
    estimate = judging.sides[1].quantile(TICK_TOTAL, quantile)
    name = f"{label}_below_limit"
    description = f"canary {label} tick_total < {limit_ms:g} ms"
    if limit.ms is None:
        description += f" ({limit.describe()})"
    if not estimate.supported:
        return Check(
            name, description, estimate.value, math.nan, math.nan, limit_ms, Status.UNDECIDED
        )
    spread = judging.multiplier * estimate.log_standard_error
    low, high = estimate.value * math.exp(-spread), estimate.value * math.exp(spread)
    status = status_against_limit(low, high, limit_ms)
    gap = abs(math.log(estimate.value / limit_ms))
    return Check(
        name,
        description,
        estimate.value,
        low,
        high,
        limit_ms,
        status,
        **_undecided(status, judging, estimate.log_standard_error, gap),
    )


def _miss_rate(judging: _Judging, limit: float) -> Check:
    rate = judging.sides[1].miss_rate()
    low, high = rate_interval(rate, judging.multiplier)
    status = status_against_limit(low, high, limit)
    return Check(
        "miss_rate_below_limit",
        f"canary deadline misses < {100 * limit:g}%",
        rate.rate,
        low,
        high,
        limit,
        status,
        **_undecided(status, judging, math.sqrt(rate.variance), abs(rate.rate - limit)),
    )


def _delta(judging: _Judging, limit: float) -> Check:
    control = judging.sides[0].quantile(TICK_TOTAL, 0.95)
    canary = judging.sides[1].quantile(TICK_TOTAL, 0.95)
    name = "p95_vs_control"
    description = f"canary p95 tick_total at most +{100 * limit:g}% over control"
    estimate = canary.value / control.value - 1.0
    if not (control.supported and canary.supported):
        return Check(name, description, estimate, math.nan, math.nan, limit, Status.UNDECIDED)
    ratio = log_ratio(control, canary)
    low, high = ratio.bounds(judging.multiplier)
    status = status_against_limit(low, high, limit)
    gap = abs(ratio.log_ratio - math.log1p(limit))
    return Check(
        name,
        description,
        estimate,
        low,
        high,
        limit,
        status,
        **_undecided(status, judging, ratio.standard_error, gap),
    )


def hard_trip_count(profile: Profile) -> int:
    """Guard trips whose reason ends in ``_hard``."""
    return sum(
        count
        for reason, count in profile.guard_trips().items()
        if reason.endswith(HARD_TRIP_SUFFIX)
    )


def _hard_trips(judging: _Judging, limit: float) -> Check:
    """Canary hard trips per tick at most ``limit`` x control's.

    Given the total trips of both sides, the canary's share is binomial; the
    criterion is a limit on that share (``limit * n_canary / (limit * n_canary +
    n_control)``), judged with a Wilson interval at the look's multiplier. No
    hard trip on the canary is no spike: met.
    """
    control_profile, canary_profile = judging.sides[0].profile, judging.sides[1].profile
    trips_control, trips_canary = hard_trip_count(control_profile), hard_trip_count(canary_profile)
    ticks_control, ticks_canary = control_profile.total_ticks, canary_profile.total_ticks
    name = "hard_guard_trips"
    description = f"canary hard guard trips per tick at most {limit:g}x control's"
    scale = ticks_control / ticks_canary

    def ratio_of(share: float) -> float:
        return math.inf if share >= 1.0 else share / (1.0 - share) * scale

    estimate = (
        (trips_canary / ticks_canary) / (trips_control / ticks_control)
        if trips_control
        else (math.inf if trips_canary else 0.0)
    )
    if trips_canary == 0:
        return Check(name, description, estimate, 0.0, 0.0, limit, Status.MET)
    total = trips_canary + trips_control
    low_share, high_share = wilson_interval(trips_canary, total, judging.multiplier)
    low, high = ratio_of(low_share), ratio_of(high_share)
    status = status_against_limit(low, high, limit)
    return Check(name, description, estimate, low, high, limit, status)


def _requests(judging: _Judging, drop: float) -> Check:
    control = judging.sides[0].requests_per_tick()
    canary = judging.sides[1].requests_per_tick()
    limit = 1.0 - drop
    if not control.value > 0:
        raise InputError(
            f"{judging.sides[0].profile.source}: control made no exchange requests; "
            "cannot judge the requests-per-tick criterion"
        )
    ratio = max(canary.value, 1e-12) / control.value
    relative = [
        side.standard_error / side.value if side.value > 0 else math.inf
        for side in (control, canary)
    ]
    se = math.hypot(*relative)
    spread = judging.multiplier * se
    low, high = ratio * math.exp(-spread), ratio * math.exp(spread)
    status = status_against_limit(low, high, limit)
    return Check(
        "requests_per_tick_drop",
        f"exchange requests per tick down at least {100 * drop:g}% vs control",
        ratio,
        low,
        high,
        limit,
        status,
        **_undecided(status, judging, se, abs(math.log(ratio / limit))),
    )
