"""Live Prometheus metrics fed by the tracer (``docs/prometheus.md``).

The traced loop only appends each finished tick to a deque (one C call). A daemon
thread, and every scrape, drain the deque into prometheus-client metrics whose
label children are bound once and cached, so the loop never touches a
prometheus-client lock.

Metrics (names and labels are a contract; ``deployment`` is added to every
``mm_*`` metric only when configured):

* ``mm_stage_duration_ms{stage}``: histogram; ``tick_total`` from every tick, the
  other stages from sampled ticks' spans (unbiased quantiles; counts are samples);
* ``mm_exchange_req_ms{verb,api}``: histogram, from sampled ticks' requests;
* ``mm_guard_trips_total{reason}``: counter, every trip;
* ``mm_tick_deadline_miss_total``: counter, every miss;
* ``mm_parallel_symbols``: gauge, the last tick's value;
* ``mm_ticks_total``: counter, every tick;
* ``tracekit_records_dropped_total``, ``tracekit_windows_dropped_total``,
  ``tracekit_write_errors_total``, ``tracekit_metrics_dropped_total``: the tracer's
  own health.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from tracekit.store import schema
from tracekit.trace.records import FinishedTick

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

BASE_BUCKETS_MS: Final = (
    1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 75.0, 100.0, 125.0,
    150.0, 175.0, 200.0, 225.0, 250.0, 300.0, 400.0, 500.0, 750.0, 1000.0, 2000.0, 5000.0,
)  # fmt: skip
"""Histogram buckets in ms; the deadline is always added as a boundary."""

MAX_PENDING_TICKS: Final = 100_000
"""Ticks that may wait to be drained; beyond it ticks are dropped and counted."""

DRAIN_INTERVAL_S: Final = 0.25


def buckets_for(deadline_ms: float) -> tuple[float, ...]:
    """The histogram buckets with a boundary exactly at ``deadline_ms``."""
    return tuple(sorted({*BASE_BUCKETS_MS, float(deadline_ms)}))


class PrometheusMetrics:
    """The tracer's Prometheus metrics and the thread that feeds them.

    Args:
        deadline_ms: The configured deadline (a bucket boundary).
        deployment: Value of a ``deployment`` label on every ``mm_*`` metric, or None.
        registry: Where to register; a new registry when None.
        health: Returns (records dropped, windows dropped, write errors) at scrape time.
    """

    def __init__(
        self,
        deadline_ms: float,
        deployment: str | None = None,
        registry: CollectorRegistry | None = None,
        health: Callable[[], tuple[int, int, int]] | None = None,
    ) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._pending: collections.deque[FinishedTick] = collections.deque()
        self._dropped = 0
        self._drain_lock = threading.Lock()
        # Registered first, so a scrape drains the queue before any metric is read.
        self.registry.register(_HealthCollector(self, health))
        extra: tuple[str, ...] = ("deployment",) if deployment is not None else ()
        self._extra_values: tuple[str, ...] = (deployment,) if deployment is not None else ()
        buckets = buckets_for(deadline_ms)
        self._stage = Histogram(
            "mm_stage_duration_ms",
            "Stage latency in ms (tick_total: every tick; stages: sampled ticks).",
            labelnames=("stage", *extra),
            buckets=buckets,
            registry=self.registry,
        )
        self._request = Histogram(
            "mm_exchange_req_ms",
            "Exchange API request latency in ms (sampled ticks).",
            labelnames=("verb", "api", *extra),
            buckets=buckets,
            registry=self.registry,
        )
        self._guards = Counter(
            "mm_guard_trips",
            "Guard trips by reason.",
            labelnames=("reason", *extra),
            registry=self.registry,
        )
        self._misses = Counter(
            "mm_tick_deadline_miss",
            "Ticks that missed their deadline.",
            labelnames=extra,
            registry=self.registry,
        )
        self._ticks = Counter(
            "mm_ticks", "Ticks finished.", labelnames=extra, registry=self.registry
        )
        self._parallel = Gauge(
            "mm_parallel_symbols",
            "Symbols processed concurrently in the last tick.",
            labelnames=extra,
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        # Children bound once: the drain loop does dictionary lookups only.
        self._tick_total = self._stage.labels(schema.TICK_TOTAL, *self._extra_values)
        # Without a deployment label these metrics have no labels: the metric is the child.
        self._miss_child = self._misses.labels(*self._extra_values) if extra else self._misses
        self._tick_child = self._ticks.labels(*self._extra_values) if extra else self._ticks
        self._parallel_child = (
            self._parallel.labels(*self._extra_values) if extra else self._parallel
        )
        self._stage_children: dict[str, Any] = {}
        self._request_children: dict[tuple[str, str], Any] = {}
        self._guard_children: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracekit-metrics", daemon=True)
        self._thread.start()
        self._server: Any = None

    # -- the hot path ----------------------------------------------------------------

    def submit(self, tick: FinishedTick) -> None:
        """Queue a finished tick; never blocks (drops and counts when far behind)."""
        if len(self._pending) < MAX_PENDING_TICKS:
            self._pending.append(tick)
        else:
            self._dropped += 1

    # -- feeding -------------------------------------------------------------------------

    def drain(self) -> None:
        """Move every queued tick into the metrics (the thread and scrapes call this)."""
        with self._drain_lock:
            pending = self._pending
            while pending:
                try:
                    tick = pending.popleft()
                except IndexError:
                    return
                self._observe(tick)

    def _observe(self, tick: FinishedTick) -> None:
        self._tick_child.inc()
        self._tick_total.observe(tick.duration_ns / 1e6)
        if tick.deadline_missed:
            self._miss_child.inc()
        if tick.parallel_symbols is not None:
            self._parallel_child.set(tick.parallel_symbols)
        for reason, _symbol, _at in tick.guards:
            child = self._guard_children.get(reason)
            if child is None:
                child = self._guards.labels(reason, *self._extra_values)
                self._guard_children[reason] = child
            child.inc()
        if tick.detail != schema.DETAIL_SAMPLED:
            return
        for kind, name, _symbol, verb, _error, _start, duration_ns in tick.spans:
            if kind == schema.KIND_STAGE:
                child = self._stage_children.get(name)
                if child is None:
                    child = self._stage.labels(name, *self._extra_values)
                    self._stage_children[name] = child
            else:
                key = (verb or "", name)
                child = self._request_children.get(key)
                if child is None:
                    child = self._request.labels(key[0], name, *self._extra_values)
                    self._request_children[key] = child
            child.observe(duration_ns / 1e6)

    def _run(self) -> None:
        while not self._stop.wait(DRAIN_INTERVAL_S):
            self.drain()

    # -- serving -------------------------------------------------------------------------

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` on ``addr:port`` (0 picks a free port); returns the port."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        self._server = server
        return int(server.server_port)

    def close(self) -> None:
        """Drain what is queued, stop the thread and the server."""
        self._stop.set()
        self._thread.join(5.0)
        self.drain()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def dropped(self) -> int:
        return self._dropped


class _HealthCollector:
    """Exposes the tracer's own counters at scrape time (after draining the queue)."""

    def __init__(
        self, metrics: PrometheusMetrics, health: Callable[[], tuple[int, int, int]] | None
    ) -> None:
        self._metrics = metrics
        self._health = health

    def describe(self) -> Sequence[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        self._metrics.drain()
        records, windows, errors = self._health() if self._health is not None else (0, 0, 0)
        for name, value, text in (
            ("tracekit_records_dropped", records, "Span records the tracer dropped."),
            ("tracekit_windows_dropped", windows, "Golden windows dropped (queue full)."),
            ("tracekit_write_errors", errors, "Golden windows that failed to write."),
            ("tracekit_metrics_dropped", self._metrics.dropped, "Ticks not fed to metrics."),
        ):
            yield CounterMetricFamily(name, text, value=value)
