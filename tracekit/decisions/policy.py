"""What the gate and the canary require: thresholds, limits and error budgets.

Both policies are checked when they are built, whether from Python, from flags
or from the ``gate:`` / ``canary:`` sections of a YAML file, so a policy that
exists is a valid one (``docs/compare.md``, ``docs/canary.md``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from tracekit.errors import ConfigError
from tracekit.store.schema import TICK_TOTAL
from tracekit.yamlfile import load_yaml_section

MISS_RATE: Final = "miss_rate"
DEADLINE: Final = "deadline"
"""The pseudo-stage of the miss-rate metric (``deadline:miss_rate``)."""

QUANTILE_METRICS: Final = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
DEFAULT_CRITICAL: Final = (f"{TICK_TOTAL}:p95", f"{DEADLINE}:{MISS_RATE}")
"""What an ordinary run can decide. A p99 of a few thousand ticks moves by about
±9% between identical runs, so gating it at +5% would leave every such run
INCONCLUSIVE; it explains by default, and fails a build when its regression is
significant after correction (``--critical tick_total:p99`` for long runs)."""
MIN_EFFECT_SHARE_OF_DEADLINE: Final = 0.001
"""Default smallest regression, in ms: 0.1% of the deadline (0.2 ms at 200 ms)."""
DEFAULT_DEADLINE_MS: Final = 200.0
"""Used when the traces carry no deadline (profiles written before version 2)."""
STAGE_FAMILY_SHARE: Final = 0.2
"""Share of alpha spent on the stage metrics; the critical metrics get the rest."""
REMOVED_KEYS: Final = {
    "replicates": "the gate and canary no longer bootstrap (intervals are computed directly)",
    "seed": "the gate and canary no longer bootstrap, so results need no seed",
}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _share_threshold(where: str, value: Any) -> float:
    if not _number(value) or value < 0:
        raise ConfigError(f"{where} must be a number >= 0 (0.03 means +3%), got {value!r}")
    if value > 1:
        raise ConfigError(
            f"{where} = {value:g} would allow +{100 * value:g}%; thresholds are shares: "
            f"for +{value:g}% use {value / 100:g}"
        )
    return float(value)


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


@dataclasses.dataclass(frozen=True)
class GatePolicy:
    """How ``compare`` decides.

    Args:
        p50: Allowed relative rise of p50 (0.03 = +3%).
        p95: Allowed relative rise of p95.
        p99: Allowed relative rise of p99.
        miss_rate_pp: Allowed rise of the deadline-miss rate, in percentage points.
        stages: Per-stage overrides, e.g. ``{"spread": {"p95": 0.05, "min_effect_ms": 1}}``.
        critical: The metrics (``stage:metric``) that decide PASS; each can also fail
            the build. The other metrics explain, and fail it only when significant
            after Holm's correction and larger than the minimum effect.
        ignore: Stages left out of the gate.
        strict: REGRESSION only when the whole interval is above the threshold.
        alpha: One-sided error of each bound (0.05: 90% intervals), and the
            chance of a false REGRESSION verdict over all metrics together.
        min_effect_ms: No change smaller than this many ms is a regression; None:
            0.1% of the deadline the traces recorded.
    """

    p50: float = 0.03
    p95: float = 0.03
    p99: float = 0.05
    miss_rate_pp: float = 1.0
    stages: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)
    critical: tuple[str, ...] = DEFAULT_CRITICAL
    ignore: tuple[str, ...] = ()
    strict: bool = False
    alpha: float = 0.05
    min_effect_ms: float | None = None

    def __post_init__(self) -> None:
        for name in QUANTILE_METRICS:
            _share_threshold(f"gate.{name}", getattr(self, name))
        if not _number(self.miss_rate_pp) or not 0 <= self.miss_rate_pp <= 100:
            raise ConfigError(
                "gate.miss_rate_pp must be percentage points in [0, 100], "
                f"got {self.miss_rate_pp!r}"
            )
        if not _number(self.alpha) or not 0 < self.alpha < 0.5:
            raise ConfigError(f"gate.alpha must be a number in (0, 0.5), got {self.alpha!r}")
        if not isinstance(self.strict, bool):
            raise ConfigError(f"gate.strict must be true or false, got {self.strict!r}")
        if self.min_effect_ms is not None and (
            not _number(self.min_effect_ms) or self.min_effect_ms < 0
        ):
            raise ConfigError(
                f"gate.min_effect_ms must be a number of ms >= 0, got {self.min_effect_ms!r}"
            )
        if not isinstance(self.stages, Mapping):
            raise ConfigError("gate.stages must map stage names to {p95: ..., p99: ...}")
        allowed = (*QUANTILE_METRICS, "min_effect_ms")
        for stage, overrides in self.stages.items():
            if not isinstance(overrides, Mapping):
                raise ConfigError(f"gate.stages.{stage} must map p50/p95/p99 to thresholds")
            for metric, value in overrides.items():
                where = f"gate.stages.{stage}.{metric}"
                if metric not in allowed:
                    raise ConfigError(
                        f"{where}: unknown key{_suggest(str(metric), allowed)}; "
                        f"use {', '.join(allowed)}"
                    )
                if metric == "min_effect_ms":
                    if not _number(value) or value < 0:
                        raise ConfigError(f"{where} must be a number of ms >= 0, got {value!r}")
                else:
                    _share_threshold(where, value)
        for name in ("critical", "ignore"):
            items = getattr(self, name)
            if not isinstance(items, tuple) or not all(isinstance(i, str) for i in items):
                raise ConfigError(f"gate.{name} must be a list of names")
        for item in self.critical:
            stage, _, metric = item.partition(":")
            if not stage or not metric:
                raise ConfigError(
                    f"gate.critical item {item!r} is not STAGE:METRIC, e.g. tick_total:p95"
                )
            known = (MISS_RATE,) if stage == DEADLINE else tuple(QUANTILE_METRICS)
            if metric not in known:
                raise ConfigError(
                    f"gate.critical item {item!r}: unknown metric {metric!r}"
                    f"{_suggest(metric, known)}; {stage} has {', '.join(known)}"
                )

    def threshold(self, stage: str, metric: str) -> float:
        """The allowed rise of ``metric`` for ``stage`` (a share; points/100 for miss_rate)."""
        if metric == MISS_RATE:
            return self.miss_rate_pp / 100.0
        override = self.stages.get(stage, {}).get(metric)
        return float(override) if override is not None else float(getattr(self, metric))

    def min_effect(self, stage: str, deadline_ms: float | None) -> float:
        """The smallest change of ``stage``, in ms, that can be a regression."""
        override = self.stages.get(stage, {}).get("min_effect_ms")
        if override is not None:
            return float(override)
        if self.min_effect_ms is not None:
            return float(self.min_effect_ms)
        return MIN_EFFECT_SHARE_OF_DEADLINE * (deadline_ms or DEFAULT_DEADLINE_MS)

    def with_critical(self, items: Iterable[str]) -> GatePolicy:
        """This policy with ``items`` (``stage:metric``) critical too."""
        added = tuple(item for item in items if item not in self.critical)
        return dataclasses.replace(self, critical=(*self.critical, *added))

    def is_critical(self, stage: str, metric: str) -> bool:
        return f"{stage}:{metric}" in self.critical

    @property
    def critical_alpha(self) -> float:
        """The family-wise error of the critical metrics (Holm)."""
        return self.alpha * (1.0 - STAGE_FAMILY_SHARE)

    @property
    def stage_alpha(self) -> float:
        """The family-wise error of the other metrics (Holm)."""
        return self.alpha * STAGE_FAMILY_SHARE

    def unknown_stages(self, stages: Iterable[str]) -> list[str]:
        """Stages this policy names that are not in ``stages`` (``deadline`` aside)."""
        present = set(stages) | {DEADLINE}
        named = [item.partition(":")[0] for item in self.critical if item not in DEFAULT_CRITICAL]
        named += [*self.ignore, *self.stages]
        return sorted({name for name in named if name not in present})

    def to_dict(self) -> dict[str, Any]:
        return {
            "p50": self.p50,
            "p95": self.p95,
            "p99": self.p99,
            "miss_rate_pp": self.miss_rate_pp,
            "stages": {k: dict(v) for k, v in self.stages.items()},
            "critical": list(self.critical),
            "ignore": list(self.ignore),
            "strict": self.strict,
            "alpha": self.alpha,
            "min_effect_ms": self.min_effect_ms,
        }

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "gate") -> GatePolicy:
        """A policy from a ``gate:`` mapping (as YAML gives it).

        Raises:
            ConfigError: An unknown key or a bad value, naming it.
        """
        known = {field.name for field in dataclasses.fields(cls)}
        _check_keys(values, known, where)
        items = dict(values)
        for key in ("critical", "ignore"):
            if key in items:
                if not isinstance(items[key], list):
                    raise ConfigError(f"{where}.{key} must be a list of names")
                items[key] = tuple(str(item) for item in items[key])
        return cls(**items)

    @classmethod
    def load(
        cls, path: str | Path | None = None, *, critical: Iterable[str] = (), **overrides: Any
    ) -> GatePolicy:
        """The policy a gate applies: a YAML file's ``gate:`` section (the defaults
        without one), then ``overrides`` that are not None, then ``critical`` added.

        Args:
            path: A YAML file with a ``gate:`` section, or None for the defaults.
            critical: More critical metrics, ``STAGE:METRIC`` (see :meth:`with_critical`).
            overrides: Policy keys (``p95``, ``strict``, ``stages``, ...); None leaves a
                key as the file or the defaults set it.

        Raises:
            ConfigError: An unknown key or a bad value (naming the file, with one).
        """
        values = {key: value for key, value in overrides.items() if value is not None}
        policy = cls.from_yaml(path, **values) if path is not None else cls.from_mapping(values)
        critical = list(critical)
        return policy.with_critical(critical) if critical else policy

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> GatePolicy:
        """The ``gate:`` section of a YAML file; ``overrides`` that are not None win.

        Raises:
            ConfigError: An unknown key or a bad value, naming the file and the key.
        """
        section = load_yaml_section(path, "gate")
        section.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.from_mapping(section)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None


def _check_keys(values: Mapping[str, Any], known: set[str], where: str) -> None:
    for key in values:
        if key in REMOVED_KEYS:
            raise ConfigError(f"{where}.{key} was removed: {REMOVED_KEYS[key]}; delete it")
        if key not in known:
            raise ConfigError(
                f"unknown key {where}.{key}{_suggest(str(key), known)}; "
                f"allowed keys: {', '.join(sorted(known))}"
            )


# -- the canary -------------------------------------------------------------------------

MAX_LOOK: Final = 1000
"""The last look number of a phase (a label only: a phase judged every minute for 16
hours has 1,000 looks); a 30-digit number is a typo, not a look."""

_DEADLINE_MULTIPLE = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*[x*\u00d7]\s*)?deadline\s*$")


@dataclasses.dataclass(frozen=True)
class Limit:
    """An absolute latency limit: a number of ms, or a multiple of the traces' deadline."""

    ms: float | None = None
    deadline_multiple: float | None = None

    def resolve(self, deadline_ms: float) -> float:
        if self.ms is not None:
            return self.ms
        return (self.deadline_multiple or 1.0) * deadline_ms

    def describe(self) -> str:
        if self.ms is not None:
            return f"{self.ms:g}"
        multiple = self.deadline_multiple or 1.0
        return "deadline" if multiple == 1.0 else f"{multiple:g}x deadline"

    @classmethod
    def parse(cls, value: Any, where: str) -> Limit | None:
        """``250`` (ms), ``"deadline"``, ``"1.25x deadline"``, or None (off)."""
        if value is None or isinstance(value, Limit):
            return value
        if _number(value) and value > 0:
            return cls(ms=float(value))
        if isinstance(value, str):
            match = _DEADLINE_MULTIPLE.match(value)
            if match:
                return cls(deadline_multiple=float(match.group(1) or 1.0))
        raise ConfigError(
            f"{where} must be a number of ms > 0, 'deadline', '1.25x deadline' or null, "
            f"got {str(value)[:40]!r}"
        )


@dataclasses.dataclass(frozen=True)
class PhaseCriteria:
    """What a phase requires; None switches a criterion off.

    Args:
        p95_max_ms: Canary p95 tick_total must stay below this (default: the
            deadline the canary's traces recorded).
        p99_max_ms: Canary p99 tick_total must stay below this.
        miss_rate_max: Canary deadline-miss rate must stay below this share.
        p95_delta_max: Canary p95 may exceed control's by at most this share.
        hard_trip_ratio_max: Canary hard guard trips per tick may be at most this
            multiple of control's.
        requests_drop_min: Exchange requests per tick must be down at least this
            share versus control (for a batching rollout; off unless configured).
    """

    p95_max_ms: Limit | None = Limit(deadline_multiple=1.0)
    p99_max_ms: Limit | None = None
    miss_rate_max: float | None = 0.02
    p95_delta_max: float | None = 0.15
    hard_trip_ratio_max: float | None = None
    requests_drop_min: float | None = None

    def __post_init__(self) -> None:
        for name in ("p95_max_ms", "p99_max_ms"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Limit):
                object.__setattr__(self, name, Limit.parse(value, f"canary criterion {name}"))
        for name in ("miss_rate_max", "requests_drop_min"):
            value = getattr(self, name)
            if value is not None and (not _number(value) or not 0 <= value <= 1):
                raise ConfigError(
                    f"canary criterion {name} must be a share in [0, 1] or null, got {value!r}"
                )
        for name in ("p95_delta_max", "hard_trip_ratio_max"):
            value = getattr(self, name)
            if value is not None and (not _number(value) or value < 0):
                raise ConfigError(
                    f"canary criterion {name} must be a number >= 0 or null, got {value!r}"
                )

    def count(self) -> int:
        """How many criteria are switched on."""
        return sum(getattr(self, field.name) is not None for field in dataclasses.fields(self))


DEFAULT_PHASES: Final[Mapping[int, Mapping[str, Any]]] = {
    1: {},
    2: {"hard_trip_ratio_max": 2.0},
    3: {"hard_trip_ratio_max": 2.0, "p99_max_ms": Limit(deadline_multiple=1.25)},
}
"""Each phase's defaults, as changes to :class:`PhaseCriteria`'s."""

PHASE_KEYS: Final = frozenset(field.name for field in dataclasses.fields(PhaseCriteria))


@dataclasses.dataclass(frozen=True)
class CanaryPolicy:
    """The phases of a rollout and the error budget.

    Args:
        phases: Phase number -> the criteria set *for that phase*, as changes; a
            phase inherits what earlier phases set, then its own defaults and
            settings apply (``docs/canary.md``).
        alpha: The chance of any wrong decision (a false ROLLBACK or a false
            PROMOTE) over all looks of a phase, however many.
        planned_ticks: Canary ticks at which the intervals are made tightest; any
            number of looks before or after stays valid.
    """

    phases: Mapping[int, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    alpha: float = 0.05
    planned_ticks: int = 10_000

    def __post_init__(self) -> None:
        if not _number(self.alpha) or not 0 < self.alpha < 0.5:
            raise ConfigError(f"canary.alpha must be a number in (0, 0.5), got {self.alpha!r}")
        if not _whole(self.planned_ticks) or self.planned_ticks < 100:
            raise ConfigError(
                f"canary.planned_ticks must be a whole number >= 100, got {self.planned_ticks!r}"
            )
        if not isinstance(self.phases, Mapping):
            raise ConfigError("canary.phases must map phase numbers to criteria")
        for number, criteria in self.phases.items():
            if not _whole(number) or number < 1:
                raise ConfigError(f"canary.phases key {number!r} must be a phase number >= 1")
            if not isinstance(criteria, Mapping):
                raise ConfigError(f"canary.phases.{number} must be a mapping of limits")
            for key in criteria:
                if key not in PHASE_KEYS:
                    raise ConfigError(
                        f"unknown key canary.phases.{number}.{key}"
                        f"{_suggest(str(key), PHASE_KEYS)}; "
                        f"allowed keys: {', '.join(sorted(PHASE_KEYS))}"
                    )
            try:
                PhaseCriteria(**criteria)
            except ConfigError as error:
                raise ConfigError(f"canary.phases.{number}: {error}") from None

    def known_phases(self) -> list[int]:
        return sorted({*DEFAULT_PHASES, *self.phases})

    def criteria(self, phase: int) -> PhaseCriteria | None:
        """The criteria of ``phase``, or None when it is not a known phase.

        Built in order: the defaults of phases 1..phase and then the settings of
        phases 1..phase, so a limit set for phase 1 holds in every later phase
        unless a later phase changes it.
        """
        if phase not in self.known_phases():
            return None
        values: dict[str, Any] = {}
        for number in sorted(DEFAULT_PHASES):
            if number <= phase:
                values.update(DEFAULT_PHASES[number])
        for number in sorted(self.phases):
            if number <= phase:
                values.update(self.phases[number])
        return PhaseCriteria(**values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "planned_ticks": self.planned_ticks,
            "phases": {
                str(number): {
                    key: value.describe() if isinstance(value, Limit) else value
                    for key, value in criteria.items()
                }
                for number, criteria in sorted(self.phases.items())
            },
        }

    @classmethod
    def from_yaml(cls, path: str | Path) -> CanaryPolicy:
        """The ``canary:`` section of a YAML file.

        Raises:
            ConfigError: Unknown keys or bad values, naming the file and the key.
        """
        section = load_yaml_section(path, "canary")
        try:
            _check_keys(section, {"phases", "alpha", "planned_ticks"}, "canary")
            phases = section.get("phases", {}) or {}
            if not isinstance(phases, dict):
                raise ConfigError("canary.phases must map phase numbers to criteria")
            return cls(
                phases={k: dict(v) if isinstance(v, dict) else v for k, v in phases.items()},
                alpha=section.get("alpha", 0.05),
                planned_ticks=section.get("planned_ticks", 10_000),
            )
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None
