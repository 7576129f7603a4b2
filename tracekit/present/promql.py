"""PromQL for the live metrics: the dashboard's queries, recording rules and alerts.

Defined once here, for either unit of the latency histograms (``ms``, the default,
or ``seconds``; names from ``store/metrics.py``); ``docs/prometheus.md`` shows them,
``tracekit rules`` and ``tracekit dashboard`` write them, and the integration test
evaluates every one on a real Prometheus server.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Sequence
from typing import Any, Final

from tracekit.errors import ConfigError
from tracekit.store.metrics import MetricNames, metric_names

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


@dataclasses.dataclass(frozen=True)
class Targets:
    """Which series the rules and the dashboard look at, checked at construction.

    Args:
        job: The Prometheus scrape job of the tracers' exporters (the ``up`` and
            ``absent`` alerts watch it).
        canary: The ``deployment`` label value of the canary.
        control: The ``deployment`` label value the canary is compared with.

    Raises:
        ConfigError: A value is empty, holds a quote, backslash or control character,
            or canary and control are the same.
    """

    job: str = "tracekit"
    canary: str = "canary"
    control: str = "control"

    def __post_init__(self) -> None:
        for name in ("job", "canary", "control"):
            value = getattr(self, name)
            if (
                not isinstance(value, str)
                or not 0 < len(value) <= 128
                or not value.isprintable()
                or any(character in value for character in '"\\')
            ):
                raise ConfigError(
                    f"{name} must be a label value of 1-128 printable characters "
                    f"without quotes or backslashes, got {value!r}"
                )
        if self.canary == self.control:
            raise ConfigError(f"canary and control must differ, both are {self.canary!r}")


@dataclasses.dataclass(frozen=True)
class Panel:
    """One dashboard panel: a title, what it shows, a PromQL expression and its unit."""

    key: str
    title: str
    description: str
    expr: str
    unit: str
    legend: str


def _selector(metric: str, *matchers: str) -> str:
    present = [matcher for matcher in matchers if matcher]
    return f"{metric}{{{', '.join(present)}}}" if present else metric


def _p(quantile: float, selector: str, by: str, window: str = WINDOW) -> str:
    return (
        f"histogram_quantile({quantile}, sum by (le{', ' + by if by else ''}) "
        f"(rate({selector}[{window}])))"
    )


def _number(value: float) -> str:
    """``value`` as PromQL text: short, and exactly the number (a bucket bound)."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def _unit_text(names: MetricNames) -> str:
    return "ms" if names.units == "ms" else "s"


DASHBOARD_MATCHERS: Final = ('deployment=~"$deployment"', 'job=~"$job"', 'instance=~"$instance"')
"""What the dashboard's template variables add to every selector."""


def panels(
    units: str = "ms",
    targets: Targets | None = None,
    *,
    window: str = WINDOW,
    matchers: Sequence[str] = (),
) -> tuple[Panel, ...]:
    """The dashboard's panels.

    Args:
        units: ``ms`` or ``seconds``, as the tracer's ``metrics_units``.
        targets: The canary's and control's ``deployment`` values; the defaults when None.
        window: The range of ``rate()``: ``5m`` for Prometheus, ``$__rate_interval``
            for Grafana.
        matchers: Label matchers added to every selector (the dashboard's variables);
            the canary panel takes only those not naming ``deployment`` or ``instance``,
            as it compares two deployments.

    Raises:
        ConfigError: ``units`` is neither ``ms`` nor ``seconds``.
    """
    names = metric_names(units)
    targets = targets or Targets()
    unit = _unit_text(names)
    grafana = names.grafana_unit
    pair = [m for m in matchers if not m.startswith(("deployment", "instance"))]
    stage, request = f"{names.stage}_bucket", f"{names.request}_bucket"

    def rate(metric: str, by: str) -> str:
        return f"sum by ({by}) (rate({_selector(metric, *matchers)}[{window}]))"

    canary = _p(
        0.95,
        _selector(stage, 'stage="tick_total"', f'deployment="{targets.canary}"', *pair),
        "",
        window,
    )
    control = _p(
        0.95,
        _selector(stage, 'stage="tick_total"', f'deployment="{targets.control}"', *pair),
        "",
        window,
    )
    health = " + ".join(
        f"sum(rate({_selector(f'tracekit_{name}_total', *matchers)}[{window}]))"
        for name in (
            "records_dropped",
            "windows_dropped",
            "write_errors",
            "metrics_dropped",
            "metrics_refused",
        )
    )
    return (
        Panel(
            "tick_p95",
            f"p95 tick_total ({unit})",
            "95th percentile of the whole tick (every tick), per deployment; the alert "
            "TickP95OverDeadline compares it with the deadline.",
            _p(0.95, _selector(stage, 'stage="tick_total"', *matchers), "deployment", window),
            grafana,
            "{{deployment}}",
        ),
        Panel(
            "stage_p95",
            f"p95 per stage ({unit})",
            "95th percentile of each stage's spans (sampled ticks), per deployment; "
            "tick_total is left out, it has its own panel.",
            _p(
                0.95,
                _selector(stage, 'stage!="tick_total"', *matchers),
                "stage, deployment",
                window,
            ),
            grafana,
            "{{stage}} {{deployment}}",
        ),
        Panel(
            "exchange_p95",
            f"Exchange p95 by verb and api ({unit})",
            "95th percentile of exchange API requests (sampled ticks), per verb and api.",
            _p(0.95, _selector(request, *matchers), "verb, api, deployment", window),
            grafana,
            "{{verb}} {{api}} {{deployment}}",
        ),
        Panel(
            "cancel_p95",
            f"batch_cancel vs cancel_order p95 ({unit})",
            "95th percentile of the two ways to cancel orders: one batch request or one "
            "request per order.",
            _p(
                0.95,
                _selector(request, 'api=~"batch_cancel|cancel_order"', *matchers),
                "api, deployment",
                window,
            ),
            grafana,
            "{{api}} {{deployment}}",
        ),
        Panel(
            "miss_pct",
            "Deadline misses (%)",
            "Share of ticks slower than their deadline, per deployment; the alert "
            "DeadlineMissRatioHigh watches it.",
            f"100 * {rate('mm_tick_deadline_miss_total', 'deployment')}"
            f" / {rate('mm_ticks_total', 'deployment')}",
            "percent",
            "{{deployment}}",
        ),
        Panel(
            "guard_trips",
            "Guard trips by reason (per minute)",
            "Risk-guard trips per minute by reason (every trip, sampled or not); "
            "reasons ending in _hard feed the alert HardGuardTrips.",
            f"60 * {rate('mm_guard_trips_total', 'reason, deployment')}",
            "short",
            "{{reason}} {{deployment}}",
        ),
        Panel(
            "canary_delta",
            "Canary vs control: p95 tick_total change",
            f'p95 tick_total of deployment "{targets.canary}" over deployment '
            f'"{targets.control}", minus 1 (0.15 is 15% slower); the alert '
            "CanaryP95Regression watches it.",
            f"{canary} / {control} - 1",
            "percentunit",
            f"{targets.canary} / {targets.control} - 1",
        ),
        Panel(
            "parallel",
            "Parallel symbols",
            "Symbols the last tick processed concurrently, per deployment.",
            f"max by (deployment) ({_selector('mm_parallel_symbols', *matchers)})",
            "short",
            "{{deployment}}",
        ),
        Panel(
            "health",
            "Tracer health: drops, refusals and write errors (per minute)",
            "What the tracer could not record or write, per minute: span records and "
            "golden windows dropped, write errors, ticks not fed to the metrics and "
            "names or values the metrics refused. 0 is healthy.",
            f"60 * ({health})",
            "short",
            "lost per minute",
        ),
    )


PANELS: Final = panels()
"""The panels for Prometheus (``[5m]`` ranges), in ms, with the default deployments."""


def recording_rules(units: str = "ms", targets: Targets | None = None) -> list[dict[str, str]]:
    """Recording rules: one series per question the alerts and panels ask.

    Raises:
        ConfigError: ``units`` is neither ``ms`` nor ``seconds``.
    """
    names = metric_names(units)
    targets = targets or Targets()
    u = names.units
    stage, request = f"{names.stage}_bucket", f"{names.request}_bucket"
    tick = f'{stage}{{stage="tick_total"}}'
    p95 = f"mm:tick_total_p95_{u}:5m"
    return [
        {"record": p95, "expr": _p(0.95, tick, "deployment")},
        {"record": f"mm:tick_total_p99_{u}:5m", "expr": _p(0.99, tick, "deployment")},
        {"record": f"mm:stage_p95_{u}:5m", "expr": _p(0.95, stage, "stage, deployment")},
        {
            "record": f"mm:exchange_p95_{u}:5m",
            "expr": _p(0.95, request, "verb, api, deployment"),
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
            "expr": f'{p95}{{deployment="{targets.canary}"}}'
            f' / ignoring (deployment) {p95}{{deployment="{targets.control}"}} - 1',
        },
    ]


SEVERITIES: Final = {
    "TickP95OverDeadline": "page",
    "TickP99TooHigh": "warning",
    "DeadlineMissRatioHigh": "page",
    "HardGuardTrips": "warning",
    "CanaryP95Regression": "warning",
    "TracekitExporterDown": "page",
    "TracekitMetricsAbsent": "page",
    "TracerNotTicking": "page",
}
"""Each alert's ``severity`` label: ``page`` when the loop misses its deadline or
nobody can see it, ``warning`` when someone should look within hours."""


def alert_rules(
    limits: AlertLimits, units: str = "ms", targets: Targets | None = None
) -> list[dict[str, Any]]:
    """The alerts of the rollout plan, over the recording rules, and the tracer's
    own: its exporter down (``up == 0``), gone (``absent``) or not ticking.

    Raises:
        ConfigError: ``units`` is neither ``ms`` nor ``seconds``.
    """
    names = metric_names(units)
    targets = targets or Targets()
    u = names.units
    divisor = 1.0 if u == "ms" else 1000.0
    deployment = "{{ $labels.deployment }}"
    job = f'job="{targets.job}"'

    def alert(name: str, expr: str, summary: str) -> dict[str, Any]:
        return {
            "alert": name,
            "expr": expr,
            "for": limits.for_duration,
            "labels": {"severity": SEVERITIES[name]},
            "annotations": {"summary": summary},
        }

    return [
        alert(
            "TickP95OverDeadline",
            f"mm:tick_total_p95_{u}:5m > {_number(limits.p95_ms / divisor)}",
            f"p95 tick_total above {limits.p95_ms:g} ms (deployment {deployment})",
        ),
        alert(
            "TickP99TooHigh",
            f"mm:tick_total_p99_{u}:5m > {_number(limits.p99_ms / divisor)}",
            f"p99 tick_total above {limits.p99_ms:g} ms (deployment {deployment})",
        ),
        alert(
            "DeadlineMissRatioHigh",
            f"mm:deadline_miss_ratio:5m > {_number(limits.miss_ratio)}",
            f"more than {100 * limits.miss_ratio:g}% of ticks miss the deadline "
            f"(deployment {deployment})",
        ),
        alert(
            "HardGuardTrips",
            f"mm:hard_guard_trips:1h > {_number(limits.hard_trips_per_hour)}",
            f"more than {limits.hard_trips_per_hour:g} hard guard trips in the last hour "
            f"(deployment {deployment})",
        ),
        alert(
            "CanaryP95Regression",
            f"mm:canary_p95_delta:5m > {_number(limits.canary_p95_delta)}",
            f"deployment {targets.canary}: p95 tick_total more than "
            f"{100 * limits.canary_p95_delta:g}% over deployment {targets.control}: roll back",
        ),
        alert(
            "TracekitExporterDown",
            f"up{{{job}}} == 0",
            "tracekit exporter {{ $labels.instance }} (job "
            f"{targets.job}) cannot be scraped: the traced program is dead or unreachable",
        ),
        alert(
            "TracekitMetricsAbsent",
            f"absent(mm_ticks_total{{{job}}})",
            f"no exporter of job {targets.job} reports mm_ticks_total: every tracer is "
            "gone, or the scrape config lost them",
        ),
        alert(
            "TracerNotTicking",
            f"rate(mm_ticks_total{{{job}}}[{WINDOW}]) == 0",
            "tracer at {{ $labels.instance }} (deployment "
            f"{deployment}) finished no tick in {WINDOW}: the loop is stuck or stopped",
        ),
    ]


def rules_document(
    limits: AlertLimits | None = None,
    evaluation_interval: str = "15s",
    *,
    units: str = "ms",
    targets: Targets | None = None,
) -> dict[str, Any]:
    """A Prometheus rules file (``rule_files:``) as a mapping, ready for YAML.

    Args:
        limits: The alert thresholds; the defaults when None.
        evaluation_interval: How often Prometheus evaluates the rules.
        units: ``ms`` or ``seconds``, as the tracer's ``metrics_units``.
        targets: The job and the canary's and control's deployments; defaults when None.

    Raises:
        ConfigError: ``evaluation_interval`` is not a Prometheus duration, or ``units``
            is neither ``ms`` nor ``seconds``.
    """
    check_duration("evaluation_interval", evaluation_interval)
    limits = limits or AlertLimits()
    return {
        "groups": [
            {
                "name": "tracekit.recording",
                "interval": evaluation_interval,
                "rules": recording_rules(units, targets),
            },
            {
                "name": "tracekit.alerts",
                "interval": evaluation_interval,
                "rules": alert_rules(limits, units, targets),
            },
        ]
    }


def rules_yaml(
    limits: AlertLimits | None = None,
    evaluation_interval: str = "15s",
    *,
    units: str = "ms",
    targets: Targets | None = None,
) -> str:
    """The rules file as YAML text (see :func:`rules_document`)."""
    import yaml

    header = "# Written by `tracekit rules`; see docs/prometheus.md.\n"
    document = rules_document(limits, evaluation_interval, units=units, targets=targets)
    return header + yaml.safe_dump(document, sort_keys=False, width=1000)


def _variable(name: str, label: str, selector: str) -> dict[str, Any]:
    query = f"label_values({selector}, {name})"
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "query": query,
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",  # also matches series without the label (no deployment configured)
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }


def dashboard(
    title: str = "tracekit: market-making loop",
    *,
    units: str = "ms",
    targets: Targets | None = None,
) -> dict[str, Any]:
    """A Grafana dashboard (JSON model) with one time-series panel per query.

    Its variables ``deployment``, ``job`` and ``instance`` filter every panel, and
    every ``rate()`` uses Grafana's ``$__rate_interval``.

    Raises:
        ConfigError: ``units`` is neither ``ms`` nor ``seconds``.
    """
    shown = panels(units, targets, window="$__rate_interval", matchers=DASHBOARD_MATCHERS)
    models = []
    for index, panel in enumerate(shown):
        models.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": panel.title,
                "description": panel.description,
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
                },
                _variable("deployment", "Deployment", "mm_ticks_total"),
                _variable("job", "Job", 'mm_ticks_total{deployment=~"$deployment"}'),
                _variable(
                    "instance",
                    "Instance",
                    'mm_ticks_total{deployment=~"$deployment", job=~"$job"}',
                ),
            ]
        },
        "panels": models,
    }


def dashboard_json(
    title: str | None = None, *, units: str = "ms", targets: Targets | None = None
) -> str:
    """The dashboard as indented JSON text."""
    if title is None:
        model = dashboard(units=units, targets=targets)
    else:
        model = dashboard(title, units=units, targets=targets)
    return json.dumps(model, indent=2) + "\n"
