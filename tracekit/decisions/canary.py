"""Canary judgement: PROMOTE, CONTINUE or ROLLBACK for a phase of a staged rollout.

Each phase has criteria (``docs/canary.md``). Every criterion is judged with an
interval: *met* when the whole interval is on the good side of its limit,
*violated* when the whole interval is on the bad side, *undecided* otherwise. Any
violated criterion means ROLLBACK, all met means PROMOTE, anything else CONTINUE.

Decisions are repeated on a growing sample (a cron every few minutes), so each
look spends part of the error budget: look ``k`` uses
``alpha_k = alpha * 6 / (pi**2 * k**2)``, split evenly over the phase's criteria.
These sum to ``alpha`` over any number of looks and criteria, so the chance of
*any* false rollback over the whole phase stays at most ``alpha`` (a union bound;
``tests/test_canary.py`` checks it by simulation).

Quantile intervals are normal intervals on the log scale with the standard error
from the moving-block bootstrap of :mod:`tracekit.stats.bootstrap` (a normal
interval, rather than bootstrap percentiles, stays accurate at the small
``alpha_k`` of later looks). Rates use Wilson intervals; counts of hard guard
trips a Poisson rate ratio.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Final

from tracekit import exit_codes
from tracekit.decisions.gate import finite_or_none
from tracekit.errors import ConfigError, InputError
from tracekit.stats.bootstrap import replicate_weights
from tracekit.stats.histogram import quantiles_from_counts
from tracekit.stats.intervals import wilson_interval
from tracekit.store.schema import TICK_TOTAL
from tracekit.yamlfile import load_yaml_section

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from tracekit.decisions.profile import Profile


class Decision(StrEnum):
    PROMOTE = "PROMOTE"
    CONTINUE = "CONTINUE"
    ROLLBACK = "ROLLBACK"


class Status(StrEnum):
    MET = "met"
    VIOLATED = "violated"
    UNDECIDED = "undecided"


@dataclasses.dataclass(frozen=True)
class PhaseCriteria:
    """What a phase requires; a None limit is not checked.

    Args:
        p95_max_ms: Canary p95 tick_total must stay below this.
        p99_max_ms: Canary p99 tick_total must stay below this.
        miss_rate_max: Canary deadline-miss rate must stay below this.
        p95_delta_max: Canary p95 may exceed control's by at most this share.
        hard_trip_ratio_max: Canary hard guard trips per tick may be at most this
            multiple of control's (a "spike" beyond it rolls back).
        requests_drop_min: Exchange requests per tick must be down at least this
            share versus control.
    """

    p95_max_ms: float | None = 200.0
    p99_max_ms: float | None = None
    miss_rate_max: float | None = 0.02
    p95_delta_max: float | None = 0.15
    hard_trip_ratio_max: float | None = None
    requests_drop_min: float | None = None


DEFAULT_PHASES: Final[Mapping[int, PhaseCriteria]] = {
    1: PhaseCriteria(),
    2: PhaseCriteria(hard_trip_ratio_max=2.0),
    3: PhaseCriteria(p99_max_ms=250.0, requests_drop_min=0.40),
}


@dataclasses.dataclass(frozen=True)
class CanaryPolicy:
    """Phases and the error budget.

    Args:
        phases: Phase number -> criteria.
        alpha: Chance of a false rollback over all looks of a phase.
        replicates: Bootstrap replicates for the standard errors.
        seed: Bootstrap seed.
    """

    phases: Mapping[int, PhaseCriteria] = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_PHASES)
    )
    alpha: float = 0.05
    replicates: int = 1000
    seed: int = 0

    @classmethod
    def from_yaml(cls, path: str | Path) -> CanaryPolicy:
        """The ``canary:`` section of a YAML file (``phases:`` merge over the defaults).

        Raises:
            ConfigError: Unknown keys or bad values, naming them.
        """
        section = load_yaml_section(path, "canary")
        allowed = {"phases", "alpha", "replicates", "seed"}
        for key in section:
            if key not in allowed:
                raise ConfigError(
                    f"{path}: unknown key canary.{key}; allowed keys: {', '.join(sorted(allowed))}"
                )
        phases = dict(DEFAULT_PHASES)
        known = {field.name for field in dataclasses.fields(PhaseCriteria)}
        raw_phases = section.get("phases", {}) or {}
        if not isinstance(raw_phases, dict):
            raise ConfigError(f"{path}: canary.phases must map phase numbers to criteria")
        for number, criteria in raw_phases.items():
            if not isinstance(number, int) or number < 1:
                raise ConfigError(
                    f"{path}: canary.phases key {number!r} must be a phase number >= 1"
                )
            if not isinstance(criteria, dict):
                raise ConfigError(f"{path}: canary.phases.{number} must be a mapping of limits")
            for key, value in criteria.items():
                if key not in known:
                    raise ConfigError(
                        f"{path}: unknown key canary.phases.{number}.{key}; "
                        f"allowed keys: {', '.join(sorted(known))}"
                    )
                if value is not None and (
                    not isinstance(value, int | float) or isinstance(value, bool) or value < 0
                ):
                    raise ConfigError(
                        f"{path}: canary.phases.{number}.{key} must be a number >= 0 or null, "
                        f"got {value!r}"
                    )
            base = phases.get(number, PhaseCriteria())
            phases[number] = dataclasses.replace(base, **criteria)
        alpha = section.get("alpha", 0.05)
        if not isinstance(alpha, float) or not 0 < alpha < 0.5:
            raise ConfigError(f"{path}: canary.alpha must be a number in (0, 0.5), got {alpha!r}")
        replicates = section.get("replicates", 1000)
        if not isinstance(replicates, int) or replicates < 100:
            raise ConfigError(f"{path}: canary.replicates must be a whole number >= 100")
        seed = section.get("seed", 0)
        if not isinstance(seed, int):
            raise ConfigError(f"{path}: canary.seed must be a whole number")
        return cls(phases=phases, alpha=alpha, replicates=replicates, seed=seed)


def look_alpha(alpha: float, look: int) -> float:
    """The error spent at look ``look`` (1, 2, ...): ``alpha * 6 / (pi^2 look^2)``."""
    return alpha * 6.0 / (math.pi**2 * look * look)


@dataclasses.dataclass(frozen=True)
class Check:
    """One criterion's judgement.

    Attributes:
        name: Machine-readable name (e.g. ``p95_vs_control``).
        description: What is required, in words.
        estimate: The point estimate (ms, share or ratio, as the limit).
        low: Lower bound of the interval at this look.
        high: Upper bound.
        limit: The limit the interval is judged against.
        status: met, violated or undecided.
        ticks_to_decide: Roughly how many canary ticks would decide it, if undecided.
    """

    name: str
    description: str
    estimate: float
    low: float
    high: float
    limit: float
    status: Status
    ticks_to_decide: int | None = None

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["status"] = self.status.value
        return {key: finite_or_none(value) for key, value in values.items()}


@dataclasses.dataclass(frozen=True)
class CanaryResult:
    """The decision for one phase at one look."""

    phase: int
    look: int
    alpha_spent: float
    checks: list[Check]
    control_ticks: int
    canary_ticks: int
    policy: CanaryPolicy
    control_profile: Profile | None = dataclasses.field(default=None, repr=False)
    canary_profile: Profile | None = dataclasses.field(default=None, repr=False)

    @property
    def decision(self) -> Decision:
        statuses = [check.status for check in self.checks]
        if Status.VIOLATED in statuses:
            return Decision.ROLLBACK
        if all(status is Status.MET for status in statuses):
            return Decision.PROMOTE
        return Decision.CONTINUE

    @property
    def reasons(self) -> list[str]:
        """Why: the violated checks for ROLLBACK, the undecided ones for CONTINUE."""
        wanted = Status.VIOLATED if self.decision is Decision.ROLLBACK else Status.UNDECIDED
        return [check.name for check in self.checks if check.status is wanted]

    @property
    def ticks_to_decide(self) -> int | None:
        """Roughly how many canary ticks in all would decide every undecided check."""
        needed = [c.ticks_to_decide for c in self.checks if c.ticks_to_decide is not None]
        return max(needed) if needed and self.decision is Decision.CONTINUE else None

    def exit_code(self) -> int:
        """0 PROMOTE, 1 ROLLBACK, 3 CONTINUE."""
        return {
            Decision.PROMOTE: exit_codes.OK,
            Decision.ROLLBACK: exit_codes.FAIL,
            Decision.CONTINUE: exit_codes.INCONCLUSIVE,
        }[self.decision]

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON shape documented in ``docs/canary.md``."""
        from tracekit._version import __version__

        return {
            "format": "tracekit.canary",
            "version": 1,
            "tracekit_version": __version__,
            "decision": self.decision.value,
            "exit_code": self.exit_code(),
            "phase": self.phase,
            "look": self.look,
            "alpha": self.policy.alpha,
            "alpha_spent_this_look": self.alpha_spent,
            "control_ticks": self.control_ticks,
            "canary_ticks": self.canary_ticks,
            "reasons": self.reasons,
            "ticks_to_decide": self.ticks_to_decide,
            "bootstrap": {"replicates": self.policy.replicates, "seed": self.policy.seed},
            "checks": [check.to_dict() for check in self.checks],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON text."""
        import json

        return json.dumps(self.to_dict(), indent=2)

    def sections(self) -> list[Any]:
        import polars as pl

        from tracekit.present.render.sections import Column, Section, fixed

        rows = [check.to_dict() for check in self.checks]
        frame = pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()
        note = (
            f"Phase {self.phase}, look {self.look} spends alpha {self.alpha_spent:.4f} of the "
            f"phase's {self.policy.alpha:g}, split over {len(self.checks)} criteria "
            "(each bound one-sided). "
            f"Control {self.control_ticks:,} ticks, canary {self.canary_ticks:,} ticks."
        )
        if self.ticks_to_decide is not None:
            note += f" About {self.ticks_to_decide:,} canary ticks would decide."
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
                note,
            )
        ]

    def to_markdown(self) -> str:
        from tracekit.present.render.sections import to_markdown

        return f"# tracekit canary: {self.decision.value}\n\n" + to_markdown(self.sections())

    def __rich__(self) -> Any:
        from tracekit.present.render.sections import to_rich

        return to_rich(self.sections())

    def _repr_html_(self) -> str:
        parts = [f"<h4>tracekit canary, phase {self.phase}: {self.decision.value}</h4>"]
        for section in self.sections():
            parts.append(section.frame._repr_html_())
            parts.append(f"<p><small>{section.note}</small></p>")
        return "\n".join(parts)


def judge(
    control: Profile,
    canary: Profile,
    phase: int,
    policy: CanaryPolicy | None = None,
    look: int = 1,
) -> CanaryResult:
    """Judge ``canary`` against ``control`` for ``phase`` at decision number ``look``.

    Raises:
        InputError: Unknown phase, an empty side, or no tick_total on a side.
    """
    policy = policy or CanaryPolicy()
    criteria = policy.phases.get(phase)
    if criteria is None:
        raise InputError(
            f"phase {phase} is not configured; phases: {', '.join(map(str, sorted(policy.phases)))}"
        )
    if look < 1:
        raise InputError(f"--look must be 1 or more (the number of this decision), got {look}")
    for side, profile in (("control", control), ("canary", canary)):
        if profile.total_ticks == 0 or profile.bucket_range(TICK_TOTAL) is None:
            raise InputError(f"{profile.source}: the {side} side holds no tick")
    alpha_k = look_alpha(policy.alpha, look)
    # Bonferroni over the phase's criteria: any false rollback in the phase stays <= alpha.
    z = NormalDist().inv_cdf(1.0 - alpha_k / _criteria_count(criteria))
    n_canary = canary.total_ticks
    sides = {
        "control": _Side(control, policy, 0),
        "canary": _Side(canary, policy, 1),
    }
    checks: list[Check] = []
    if criteria.p95_max_ms is not None:
        checks.append(_absolute_quantile(sides["canary"], 0.95, criteria.p95_max_ms, z, n_canary))
    if criteria.p99_max_ms is not None:
        checks.append(_absolute_quantile(sides["canary"], 0.99, criteria.p99_max_ms, z, n_canary))
    if criteria.miss_rate_max is not None:
        checks.append(_miss_rate(canary, criteria.miss_rate_max, z))
    if criteria.p95_delta_max is not None:
        checks.append(
            _delta(sides["control"], sides["canary"], criteria.p95_delta_max, z, n_canary)
        )
    if criteria.hard_trip_ratio_max is not None:
        checks.append(_hard_trips(control, canary, criteria.hard_trip_ratio_max, z))
    if criteria.requests_drop_min is not None:
        checks.append(
            _requests(sides["control"], sides["canary"], criteria.requests_drop_min, z, n_canary)
        )
    return CanaryResult(
        phase, look, alpha_k, checks, control.total_ticks, n_canary, policy, control, canary
    )


def _criteria_count(criteria: PhaseCriteria) -> int:
    return max(1, sum(value is not None for value in dataclasses.astuple(criteria)))


class _Side:
    """Bootstrap replicates of one side, computed once and shared by the checks."""

    def __init__(self, profile: Profile, policy: CanaryPolicy, stream: int) -> None:
        import numpy as np

        self.profile = profile
        rng = np.random.default_rng([policy.seed, stream])
        self.weights = replicate_weights(profile.unit_counts(), policy.replicates, rng)
        low, high = profile.bucket_range(TICK_TOTAL) or (0, 0)
        self.first = low
        self.matrix = profile.stage_matrix(TICK_TOTAL, low, high)

    def quantile(self, q: float) -> tuple[float, float]:
        """(estimate in ms, bootstrap standard error of its log)."""
        import numpy as np

        estimate = float(quantiles_from_counts(self.matrix.sum(axis=0), self.first, q)[0])
        replicated = quantiles_from_counts(self.weights @ self.matrix, self.first, q)
        logs = np.log(replicated[np.isfinite(replicated) & (replicated > 0)])
        return estimate, float(np.std(logs, ddof=1)) if logs.size > 1 else math.inf

    def requests_per_tick(self) -> tuple[float, npt.NDArray[np.float64]]:
        import numpy as np

        blocks = list(self.profile.blocks())
        requests = np.array([block.requests for block in blocks], dtype=np.float64)
        ticks = np.array([block.ticks for block in blocks], dtype=np.float64)
        estimate = float(requests.sum() / ticks.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            replicated = (self.weights @ requests) / (self.weights @ ticks)
        return estimate, replicated


def _status(low: float, high: float, limit: float) -> Status:
    """Higher is worse: met when the interval is below the limit, violated above."""
    if high < limit:
        return Status.MET
    if low > limit:
        return Status.VIOLATED
    return Status.UNDECIDED


def _ticks_needed(n: int, log_estimate: float, log_limit: float, z: float, se: float) -> int | None:
    gap = abs(log_estimate - log_limit)
    if gap == 0 or not math.isfinite(se):
        return None
    return math.ceil(n * (z * se / gap) ** 2)


def _absolute_quantile(side: _Side, q: float, limit: float, z: float, n: int) -> Check:
    estimate, se = side.quantile(q)
    low, high = estimate * math.exp(-z * se), estimate * math.exp(z * se)
    status = _status(low, high, limit)
    label = f"p{round(q * 100)}"
    return Check(
        f"{label}_below_limit",
        f"canary {label} tick_total < {limit:g} ms",
        estimate,
        low,
        high,
        limit,
        status,
        _ticks_needed(n, math.log(estimate), math.log(limit), z, se)
        if status is Status.UNDECIDED
        else None,
    )


def _miss_rate(canary: Profile, limit: float, z: float) -> Check:
    misses, ticks = canary.deadline_misses, canary.total_ticks
    low, high = wilson_interval(misses, ticks, z)
    estimate = misses / ticks
    status = _status(low, high, limit)
    needed = None
    if status is Status.UNDECIDED and estimate != limit:
        variance = max(estimate * (1 - estimate), 1e-9)
        needed = math.ceil(z * z * variance / (estimate - limit) ** 2)
    return Check(
        "miss_rate_below_limit",
        f"canary deadline misses < {100 * limit:g}%",
        estimate,
        low,
        high,
        limit,
        status,
        needed,
    )


def _delta(control: _Side, canary: _Side, limit: float, z: float, n: int) -> Check:
    base, se_base = control.quantile(0.95)
    current, se_current = canary.quantile(0.95)
    se = math.hypot(se_base, se_current)
    log_ratio = math.log(current / base)
    estimate = current / base - 1.0
    low = math.exp(log_ratio - z * se) - 1.0
    high = math.exp(log_ratio + z * se) - 1.0
    status = _status(low, high, limit)
    return Check(
        "p95_vs_control",
        f"canary p95 tick_total at most +{100 * limit:g}% over control",
        estimate,
        low,
        high,
        limit,
        status,
        _ticks_needed(n, log_ratio, math.log1p(limit), z, se)
        if status is Status.UNDECIDED
        else None,
    )


def _hard_trip_count(profile: Profile) -> int:
    return sum(count for reason, count in profile.guard_trips().items() if reason.endswith("_hard"))


def _hard_trips(control: Profile, canary: Profile, limit: float, z: float) -> Check:
    # Poisson rate ratio on the log scale, with 0.5 added to each count.
    trips_control = _hard_trip_count(control) + 0.5
    trips_canary = _hard_trip_count(canary) + 0.5
    log_ratio = math.log(
        (trips_canary / canary.total_ticks) / (trips_control / control.total_ticks)
    )
    se = math.sqrt(1.0 / trips_canary + 1.0 / trips_control)
    low, high = math.exp(log_ratio - z * se), math.exp(log_ratio + z * se)
    status = _status(low, high, limit)
    return Check(
        "hard_guard_trips",
        f"canary hard guard trips per tick at most {limit:g}x control's",
        math.exp(log_ratio),
        low,
        high,
        limit,
        status,
        _ticks_needed(canary.total_ticks, log_ratio, math.log(limit), z, se)
        if status is Status.UNDECIDED
        else None,
    )


def _requests(control: _Side, canary: _Side, drop: float, z: float, n: int) -> Check:
    import numpy as np

    base, replicated_base = control.requests_per_tick()
    current, replicated_current = canary.requests_per_tick()
    limit = 1.0 - drop
    if base <= 0:
        raise InputError(
            f"{control.profile.source}: control made no exchange requests; "
            "cannot judge the requests-per-tick criterion"
        )
    ratio = max(current, 1e-12) / base
    logs = np.log(replicated_current) - np.log(replicated_base)
    logs = logs[np.isfinite(logs)]
    se = float(np.std(logs, ddof=1)) if logs.size > 1 else math.inf
    low, high = ratio * math.exp(-z * se), ratio * math.exp(z * se)
    status = _status(low, high, limit)
    return Check(
        "requests_per_tick_drop",
        f"exchange requests per tick down at least {100 * drop:g}% vs control",
        ratio,
        low,
        high,
        limit,
        status,
        _ticks_needed(n, math.log(ratio), math.log(limit), z, se)
        if status is Status.UNDECIDED
        else None,
    )
