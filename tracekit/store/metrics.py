"""The live metrics' contract: names, units and label values (``docs/prometheus.md``).

The Prometheus sink (``trace/sinks/prometheus.py``) writes these names and the
rules and dashboard (``present/promql.py``) query them; both take them from here.
Standard library only (the tracer imports it).
"""

from __future__ import annotations

import dataclasses
from typing import Final

from tracekit.errors import ConfigError

UNITS: Final = ("ms", "seconds")
"""Units of the latency histograms: ``ms`` (the seed's names, the default) or
``seconds`` (Prometheus's base unit)."""

GUARD_TRIPS: Final = "mm_guard_trips"
DEADLINE_MISSES: Final = "mm_tick_deadline_miss"
TICKS: Final = "mm_ticks"
PARALLEL_SYMBOLS: Final = "mm_parallel_symbols"
"""Counters are named without ``_total`` here (prometheus-client adds it)."""

FOLDED: Final = "__other__"
"""The label value that observations beyond the label-cardinality cap are recorded under."""


@dataclasses.dataclass(frozen=True)
class MetricNames:
    """The latency histograms' names in one unit.

    Attributes:
        units: ``ms`` or ``seconds``.
        stage: Histogram of stage latency (``tick_total`` included).
        request: Histogram of exchange request latency.
        per_ms: Multiply milliseconds by this to get the unit (1 or 0.001).
        ns_per_unit: Divide nanoseconds by this to get the unit.
        grafana_unit: Grafana's name of the unit (``ms`` or ``s``).
    """

    units: str
    stage: str
    request: str
    per_ms: float
    ns_per_unit: float
    grafana_unit: str


def metric_names(units: str = "ms") -> MetricNames:
    """The histogram names in ``units`` (``ms`` or ``seconds``).

    Raises:
        ConfigError: ``units`` is neither.
    """
    if units == "ms":
        return MetricNames("ms", "mm_stage_duration_ms", "mm_exchange_req_ms", 1.0, 1e6, "ms")
    if units == "seconds":
        return MetricNames(
            "seconds", "mm_stage_duration_seconds", "mm_exchange_req_seconds", 1e-3, 1e9, "s"
        )
    raise ConfigError(f"metric units must be 'ms' or 'seconds', got {units!r}")
