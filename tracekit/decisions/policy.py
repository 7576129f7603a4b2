"""The gate's policy: thresholds, critical metrics and bootstrap settings.

Defaults: p95 of every stage and of tick_total may rise by at most 3%, p99 by at
most 5%, the deadline-miss rate by at most 1 percentage point. Read from flags
and from the ``gate:`` section of the YAML config (``docs/compare.md``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from tracekit.errors import ConfigError
from tracekit.yamlfile import load_yaml_section

MISS_RATE: Final = "miss_rate"
QUANTILE_METRICS: Final = {"p95": 0.95, "p99": 0.99}
DEFAULT_CRITICAL: Final = ("tick_total:p95", "tick_total:p99", "deadline:miss_rate")


@dataclasses.dataclass(frozen=True)
class GatePolicy:
    """How ``compare`` decides.

    Args:
        p95: Allowed relative rise of p95 (0.03 = +3%).
        p99: Allowed relative rise of p99.
        miss_rate_pp: Allowed rise of the deadline-miss rate, in percentage points.
        stages: Per-stage overrides, e.g. ``{"spread": {"p95": 0.05}}``.
        critical: Metrics tested at the full alpha each (``stage:metric``); the other
            stage metrics form one family with Holm's correction.
        ignore: Stages left out of the gate.
        strict: REGRESSION only when the whole interval is above the threshold.
        alpha: One-sided error rate of each bound (0.05: a two-sided 90% interval).
        replicates: Bootstrap replicates (B).
        seed: Bootstrap seed.
    """

    p95: float = 0.03
    p99: float = 0.05
    miss_rate_pp: float = 1.0
    stages: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)
    critical: tuple[str, ...] = DEFAULT_CRITICAL
    ignore: tuple[str, ...] = ()
    strict: bool = False
    alpha: float = 0.05
    replicates: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("p95", "p99", "miss_rate_pp"):
            value = getattr(self, name)
            if not _is_threshold(value):
                raise ConfigError(f"gate.{name} must be a number >= 0, got {value!r}")
        if not _is_number(self.alpha) or not 0 < self.alpha < 0.5:
            raise ConfigError(f"gate.alpha must be a number in (0, 0.5), got {self.alpha!r}")
        if not _is_whole(self.replicates) or self.replicates < 100:
            raise ConfigError(
                f"gate.replicates must be a whole number >= 100, got {self.replicates!r}"
            )
        if not _is_whole(self.seed) or self.seed < 0:
            raise ConfigError(f"gate.seed must be a whole number >= 0, got {self.seed!r}")
        if not isinstance(self.strict, bool):
            raise ConfigError(f"gate.strict must be true or false, got {self.strict!r}")
        if not isinstance(self.stages, Mapping):
            raise ConfigError("gate.stages must map stage names to {p95: ..., p99: ...}")
        for stage, overrides in self.stages.items():
            if not isinstance(overrides, Mapping):
                raise ConfigError(f"gate.stages.{stage} must map p95/p99 to thresholds")
            for metric, value in overrides.items():
                if metric not in QUANTILE_METRICS:
                    raise ConfigError(
                        f"gate.stages.{stage}.{metric}: unknown metric; use p95 or p99"
                    )
                if not _is_threshold(value):
                    raise ConfigError(
                        f"gate.stages.{stage}.{metric} must be a number >= 0, got {value!r}"
                    )

    def threshold(self, stage: str, metric: str) -> float:
        """The allowed relative rise of ``metric`` for ``stage``."""
        override = self.stages.get(stage, {}).get(metric)
        if override is not None:
            return float(override)
        return float(self.p95 if metric == "p95" else self.p99)

    def is_critical(self, stage: str, metric: str) -> bool:
        return f"{stage}:{metric}" in self.critical

    def to_dict(self) -> dict[str, Any]:
        return {
            "p95": self.p95,
            "p99": self.p99,
            "miss_rate_pp": self.miss_rate_pp,
            "stages": {k: dict(v) for k, v in self.stages.items()},
            "critical": list(self.critical),
            "ignore": list(self.ignore),
            "strict": self.strict,
            "alpha": self.alpha,
            "replicates": self.replicates,
            "seed": self.seed,
        }

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> GatePolicy:
        """The ``gate:`` section of a YAML file; ``overrides`` (flags) win.

        Raises:
            ConfigError: An unknown key or a bad value, naming it.
        """
        section = load_yaml_section(path, "gate")
        known = {field.name for field in dataclasses.fields(cls)}
        for key in section:
            if key not in known:
                raise ConfigError(
                    f"{path}: unknown key gate.{key}; allowed keys: {', '.join(sorted(known))}"
                )
        values = dict(section)
        for key in ("critical", "ignore"):
            if key in values:
                if not isinstance(values[key], list):
                    raise ConfigError(f"{path}: gate.{key} must be a list of names")
                values[key] = tuple(str(item) for item in values[key])
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_threshold(value: Any) -> bool:
    return _is_number(value) and value >= 0
