"""PromQL for the live metrics: the dashboard's queries, recording rules and alerts.

Defined once here; ``docs/prometheus.md`` shows them, ``tracekit rules`` and
``tracekit dashboard`` write them, and the integration test evaluates every one on
a real Prometheus server.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any, Final

from tracekit.errors import ConfigError

WINDOW: Final = "5m"

_DURATION: Final = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


def check_duration(name: str, value: object) -> str:
    """Return ``value`` if it is a Prometheus duration (``5m``, ``1h30m``).

    Raises:
        ConfigError: It is not.
    """
    if not isinstance(value, str) or not _DURATION.match(value):
        raise ConfigError(f"{name} {value!r} is not a Prometheus duration such as 5m or 30s")
    return value


def _check_positive(name: str, value: object) -> None:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not value > 0
        or not math.isfinite(value)
    ):
        raise ConfigError(f"alert limit {name} must be a number > 0, got {value!r}")


@dataclasses.dataclass(frozen=True)
class Panel:
    """One dashboard panel: a title, a PromQL expression and its unit."""

    key: str
    title: str
    expr: str
    unit: str
    legend: str


def _p(quantile: float, selector: str, by: str) -> str:
    return (
        f"histogram_quantile({quantile}, sum by (le{', ' + by if by else ''}) "
        f"(rate({selector}[{WINDOW}])))"
    )


PANELS: Final = (
    Panel(
        "tick_p95",
        "p95 tick_total (ms)",
        _p(0.95, 'mm_stage_duration_ms_bucket{stage="tick_total"}', "deployment"),
        "ms",
        "{{deployment}}",
    ),
    Panel(
        "stage_p95",
        "p95 per stage (ms)",
        _p(0.95, "mm_stage_duration_ms_bucket", "stage, deployment"),
        "ms",
        "{{stage}} {{deployment}}",
    ),
    Panel(
        "exchange_p95",
        "Exchange p95 by verb and api (ms)",
        _p(0.95, "mm_exchange_req_ms_bucket", "verb, api, deployment"),
        "ms",
        "{{verb}} {{api}} {{deployment}}",
    ),
    Panel(
        "cancel_p95",
        "batch_cancel vs cancel_order p95 (ms)",
        _p(0.95, 'mm_exchange_req_ms_bucket{api=~"batch_cancel|cancel_order"}', "api, deployment"),
        "ms",
        "{{api}} {{deployment}}",
    ),
    Panel(
        "miss_pct",
        "Deadline misses (%)",
        f"100 * sum by (deployment) (rate(mm_tick_deadline_miss_total[{WINDOW}]))"
        f" / sum by (deployment) (rate(mm_ticks_total[{WINDOW}]))",
        "percent",
        "{{deployment}}",
    ),
    Panel(
        "guard_trips",
        "Guard trips by reason (per minute)",
        f"60 * sum by (reason, deployment) (rate(mm_guard_trips_total[{WINDOW}]))",
        "short",
        "{{reason}} {{deployment}}",
    ),
    Panel(
        "canary_delta",
        "Canary vs control: p95 tick_total change",
        _p(0.95, 'mm_stage_duration_ms_bucket{stage="tick_total", deployment="canary"}', "")
        + " / "
        + _p(0.95, 'mm_stage_duration_ms_bucket{stage="tick_total", deployment="control"}', "")
        + " - 1",
        "percentunit",
        "canary / control - 1",
    ),
    Panel(
        "parallel",
        "Parallel symbols",
        "max by (deployment) (mm_parallel_symbols)",
        "short",
        "{{deployment}}",
    ),
    Panel(
        "health",
        "Tracer health: drops and write errors (per minute)",
        f"60 * sum(rate(tracekit_records_dropped_total[{WINDOW}]))"
        f" + 60 * sum(rate(tracekit_windows_dropped_total[{WINDOW}]))"
        f" + 60 * sum(rate(tracekit_write_errors_total[{WINDOW}]))",
        "short",
        "drops + errors",
    ),
)


@dataclasses.dataclass(frozen=True)
class AlertLimits:
    """Thresholds of the alerts, checked at construction.

    Args:
        p95_ms: p95 tick_total above this fires TickP95OverDeadline.
        p99_ms: p99 tick_total above this fires TickP99TooHigh.
        miss_ratio: Deadline-miss ratio above this fires DeadlineMissRatioHigh.
        hard_trips_per_hour: Hard guard trips per hour above this fires HardGuardTrips.
        canary_p95_delta: Canary p95 over control's by more than this fires CanaryP95Regression.
        for_duration: How long a condition must hold before an alert fires (a
            Prometheus duration such as ``5m``).

    Raises:
        ConfigError: A limit is not a finite number > 0, ``miss_ratio`` is not in
            (0, 1], or ``for_duration`` is not a Prometheus duration.
    """

    p95_ms: float = 200.0
    p99_ms: float = 250.0
    miss_ratio: float = 0.02
    hard_trips_per_hour: float = 5.0
    canary_p95_delta: float = 0.15
    for_duration: str = "5m"

    def __post_init__(self) -> None:
        for name in ("p95_ms", "p99_ms", "hard_trips_per_hour", "canary_p95_delta"):
            _check_positive(name, getattr(self, name))
        ratio = self.miss_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio <= 1:
            raise ConfigError(f"alert limit miss_ratio must be a share in (0, 1], got {ratio!r}")
        check_duration("for_duration", self.for_duration)


def recording_rules() -> list[dict[str, str]]:
    """Recording rules: one series per question the alerts and panels ask."""
    tick = 'mm_stage_duration_ms_bucket{stage="tick_total"}'
    return [
        {"record": "mm:tick_total_p95_ms:5m", "expr": _p(0.95, tick, "deployment")},
        {"record": "mm:tick_total_p99_ms:5m", "expr": _p(0.99, tick, "deployment")},
        {
            "record": "mm:stage_p95_ms:5m",
            "expr": _p(0.95, "mm_stage_duration_ms_bucket", "stage, deployment"),
        },
        {
            "record": "mm:exchange_p95_ms:5m",
            "expr": _p(0.95, "mm_exchange_req_ms_bucket", "verb, api, deployment"),
        },
        {
            "record": "mm:deadline_miss_ratio:5m",
            "expr": f"sum by (deployment) (rate(mm_tick_deadline_miss_total[{WINDOW}]))"
            f" / sum by (deployment) (rate(mm_ticks_total[{WINDOW}]))",
        },
        {
            "record": "mm:guard_trips:rate5m",
            "expr": f"sum by (reason, deployment) (rate(mm_guard_trips_total[{WINDOW}]))",
        },
        {
            "record": "mm:hard_guard_trips:1h",
            "expr": 'sum by (deployment) (increase(mm_guard_trips_total{reason=~".*_hard"}[1h]))',
        },
        {
            "record": "mm:canary_p95_delta:5m",
            "expr": 'mm:tick_total_p95_ms:5m{deployment="canary"}'
            ' / ignoring (deployment) mm:tick_total_p95_ms:5m{deployment="control"} - 1',
        },
    ]


def alert_rules(limits: AlertLimits) -> list[dict[str, Any]]:
    """The alerts of the rollout plan, over the recording rules."""

    def alert(name: str, expr: str, summary: str) -> dict[str, Any]:
        return {
            "alert": name,
            "expr": expr,
            "for": limits.for_duration,
            "labels": {"severity": "page"},
            "annotations": {"summary": summary},
        }

    return [
        alert(
            "TickP95OverDeadline",
            f"mm:tick_total_p95_ms:5m > {limits.p95_ms:g}",
            f"p95 tick_total above {limits.p95_ms:g} ms ({{{{ $labels.deployment }}}})",
        ),
        alert(
            "TickP99TooHigh",
            f"mm:tick_total_p99_ms:5m > {limits.p99_ms:g}",
            f"p99 tick_total above {limits.p99_ms:g} ms ({{{{ $labels.deployment }}}})",
        ),
        alert(
            "DeadlineMissRatioHigh",
            f"mm:deadline_miss_ratio:5m > {limits.miss_ratio:g}",
            f"more than {100 * limits.miss_ratio:g}% of ticks miss the deadline",
        ),
        alert(
            "HardGuardTrips",
            f"mm:hard_guard_trips:1h > {limits.hard_trips_per_hour:g}",
            f"more than {limits.hard_trips_per_hour:g} hard guard trips in the last hour",
        ),
        alert(
            "CanaryP95Regression",
            f"mm:canary_p95_delta:5m > {limits.canary_p95_delta:g}",
            f"canary p95 more than {100 * limits.canary_p95_delta:g}% over control: roll back",
        ),
    ]


def rules_document(
    limits: AlertLimits | None = None, evaluation_interval: str = "15s"
) -> dict[str, Any]:
    """A Prometheus rules file (``rule_files:``) as a mapping, ready for YAML.

    Raises:
        ConfigError: ``evaluation_interval`` is not a Prometheus duration.
    """
    check_duration("evaluation_interval", evaluation_interval)
    limits = limits or AlertLimits()
    return {
        "groups": [
            {
                "name": "tracekit.recording",
                "interval": evaluation_interval,
                "rules": recording_rules(),
            },
            {
                "name": "tracekit.alerts",
                "interval": evaluation_interval,
                "rules": alert_rules(limits),
            },
        ]
    }


def rules_yaml(limits: AlertLimits | None = None, evaluation_interval: str = "15s") -> str:
    """The rules file as YAML text."""
    import yaml

    header = "# Written by `tracekit rules`; see docs/prometheus.md.\n"
    document = rules_document(limits, evaluation_interval)
    return header + yaml.safe_dump(document, sort_keys=False, width=1000)


def dashboard(title: str = "tracekit: market-making loop") -> dict[str, Any]:
    """A Grafana dashboard (JSON model) with one time-series panel per query."""
    panels = []
    for index, panel in enumerate(PANELS):
        panels.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": panel.title,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "targets": [{"refId": "A", "expr": panel.expr, "legendFormat": panel.legend}],
            }
        )
    return {
        "title": title,
        "uid": "tracekit-mm",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": panels,
    }


def dashboard_json(title: str | None = None) -> str:
    """The dashboard as indented JSON text."""
    model = dashboard() if title is None else dashboard(title)
    return json.dumps(model, indent=2) + "\n"
