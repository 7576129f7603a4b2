"""``tracekit rules`` and ``tracekit dashboard``: Prometheus rules and a Grafana dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracekit.cli.common import write_output

UNITS_HELP = "Unit of the latency histograms, as the tracer's metrics_units: ms or seconds."


def rules_command(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Rules file to write (stdout if omitted).")
    ] = None,
    p95_ms: Annotated[float, typer.Option(help="Alert when p95 tick_total exceeds this.")] = 200.0,
    p99_ms: Annotated[float, typer.Option(help="Alert when p99 tick_total exceeds this.")] = 250.0,
    miss_ratio: Annotated[
        float, typer.Option(help="Alert when the deadline-miss ratio exceeds this.")
    ] = 0.02,
    hard_trips_per_hour: Annotated[
        float, typer.Option(help="Alert when hard guard trips per hour exceed this.")
    ] = 5.0,
    canary_p95_delta: Annotated[
        float, typer.Option(help="Alert when canary p95 exceeds control's by this share.")
    ] = 0.15,
    for_duration: Annotated[
        str, typer.Option("--for", help="How long a condition holds before it fires.")
    ] = "5m",
    interval: Annotated[str, typer.Option(help="Rule evaluation interval.")] = "15s",
    units: Annotated[str, typer.Option(help=UNITS_HELP)] = "ms",
    job: Annotated[
        str, typer.Option(help="Scrape job of the exporters (the up and absent alerts).")
    ] = "tracekit",
    canary_deployment: Annotated[
        str, typer.Option(help="deployment label value of the canary.")
    ] = "canary",
    control_deployment: Annotated[
        str, typer.Option(help="deployment label value the canary is compared with.")
    ] = "control",
) -> None:
    """Write Prometheus recording rules and the rollout's alerts (check with promtool)."""
    from tracekit.present.promql import AlertLimits, Targets, rules_yaml

    limits = AlertLimits(
        p95_ms, p99_ms, miss_ratio, hard_trips_per_hour, canary_p95_delta, for_duration
    )
    targets = Targets(job, canary_deployment, control_deployment)
    write_output(rules_yaml(limits, interval, units=units, targets=targets), output)


def dashboard_command(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Dashboard JSON to write (stdout if omitted)."),
    ] = None,
    title: Annotated[str | None, typer.Option(help="Dashboard title.")] = None,
    units: Annotated[str, typer.Option(help=UNITS_HELP)] = "ms",
    canary_deployment: Annotated[
        str, typer.Option(help="deployment label value of the canary.")
    ] = "canary",
    control_deployment: Annotated[
        str, typer.Option(help="deployment label value the canary is compared with.")
    ] = "control",
) -> None:
    """Write a Grafana dashboard (JSON) with every documented panel."""
    from tracekit.present.promql import Targets, dashboard_json

    targets = Targets(canary=canary_deployment, control=control_deployment)
    write_output(dashboard_json(title, units=units, targets=targets), output)
