"""Live Prometheus metrics fed by the tracer (``docs/prometheus.md``).

The traced loop only appends each finished tick to a deque (one C call). A daemon
thread, and every scrape, drain the deque into prometheus-client metrics whose
label children are bound once and cached, so the loop never touches a
prometheus-client lock.

Metrics (names and labels are a contract, ``store/metrics.py``; ``deployment`` is
added to every ``mm_*`` metric only when configured; ``<unit>`` is ``ms``, the
default, or ``seconds``):

* ``mm_stage_duration_<unit>{stage}``: histogram; ``tick_total`` from every tick, the
  other stages from sampled ticks' spans (unbiased quantiles; counts are samples);
* ``mm_exchange_req_<unit>{verb,api}``: histogram, from sampled ticks' requests;
* ``mm_guard_trips_total{reason}``: counter, every trip; configured reasons exist at 0;
* ``mm_tick_deadline_miss_total``: counter, every miss;
* ``mm_parallel_symbols``: gauge, the last tick's value;
* ``mm_ticks_total``: counter, every tick;
* ``tracekit_records_dropped_total``, ``tracekit_windows_dropped_total``,
  ``tracekit_write_errors_total``, ``tracekit_metrics_dropped_total``,
  ``tracekit_metrics_refused_total``, ``tracekit_metrics_folded_total``: the tracer's
  own health (with the ``deployment`` label too, when configured).

No ``_created`` series are exported, whatever prometheus-client's process-wide
setting. Whatever the traced program passes (a ``None`` or non-UTF-8 name, a
parallel-symbol count of ``'abc'``), the feed refuses it and counts it: the thread
never dies and a scrape never fails on it.
"""

from __future__ import annotations

import collections
import logging
import math
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from tracekit.errors import ConfigError
from tracekit.store import metrics as names
from tracekit.store import schema
from tracekit.trace.config import ALERT_LIMITS_MS, GUARD_REASONS
from tracekit.trace.records import FinishedTick

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from tracekit.trace.config import TraceConfig

logger = logging.getLogger("tracekit")

BASE_BUCKETS_MS: Final = (
    1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 75.0, 100.0, 125.0,
    150.0, 175.0, 200.0, 225.0, 250.0, 300.0, 400.0, 500.0, 750.0, 1000.0, 2000.0, 5000.0,
)  # fmt: skip
"""Bucket bounds in ms outside the fine region around the deadline and alert limits."""

FINE_STEPS_PER_DOUBLING: Final = 8
"""Bounds per doubling in the fine region: each bucket there is at most 9.1% wide."""

FINE_FROM: Final = 0.5
FINE_TO: Final = 2.5
"""The fine region spans FINE_FROM x the smallest to FINE_TO x the largest of the
deadline and the alert limits (the p99 tail of a loop near its deadline)."""

MAX_PENDING_TICKS: Final = 100_000
"""Ticks that may wait to be drained; beyond it ticks are dropped and counted."""

DRAIN_INTERVAL_S: Final = 0.25

MAX_LABEL_CHARS: Final = 128
"""Longer stage, api, verb or reason names are refused (and counted)."""

MAX_PARALLEL_SYMBOLS: Final = 2**31 - 1
"""The largest parallel-symbol count (the schema's int32); larger ones are refused."""

CONNECTION_TIMEOUT_S: Final = 10.0
"""How long the endpoint waits on a silent connection before closing it."""

MAX_CONNECTIONS: Final = 16
"""Connections served at once; further ones are closed at once (Prometheus needs one)."""


def bucket_bounds_ms(
    deadline_ms: float, alert_limits_ms: Iterable[float] = ()
) -> tuple[float, ...]:
    """The histogram bucket bounds in ms, derived from the deadline and the alert limits.

    The deadline and every limit are bounds, so "more than 5% of ticks above the
    limit" and "the p95 is above the limit" are the same statement in Prometheus.
    From half to 2.5 times each of them, bounds follow a
    geometric grid anchored at the deadline, 8 per doubling (each bucket at most
    9.1% wide), rounded to three significant digits; a grid bound within 2% of an
    anchor gives way to it. Outside the grid, ``BASE_BUCKETS_MS``.

    Args:
        deadline_ms: The configured deadline.
        alert_limits_ms: The latency thresholds of the alerts (p95, p99).
    """
    anchors = sorted({float(deadline_ms), *(float(limit) for limit in alert_limits_ms)})
    ratio = 2.0 ** (1.0 / FINE_STEPS_PER_DOUBLING)
    steps: set[int] = set()
    spans = []
    for anchor in anchors:
        first = math.floor(math.log(anchor * FINE_FROM / deadline_ms, ratio))
        last = math.ceil(math.log(anchor * FINE_TO / deadline_ms, ratio))
        steps.update(range(first, last + 1))
        spans.append((deadline_ms * ratio**first * 0.999, deadline_ms * ratio**last * 1.001))
    grid = [float(f"{deadline_ms * ratio**step:.3g}") for step in sorted(steps)]
    bounds = {b for b in BASE_BUCKETS_MS if not any(lo <= b <= hi for lo, hi in spans)}
    bounds.update(bound for bound in grid if all(abs(bound - a) > 0.02 * a for a in anchors))
    bounds.update(anchors)
    return tuple(sorted(bounds))


def _label(value: object) -> str | None:
    """``value`` if it can be a label value in every exposition, else None."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_LABEL_CHARS:
        return None
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate would break every later scrape
            return None
    return value


class PrometheusMetrics:
    """The tracer's Prometheus metrics and the thread that feeds them.

    Args:
        deadline_ms: The configured deadline (a bucket bound).
        deployment: Value of a ``deployment`` label on every ``mm_*`` metric, or None.
        registry: Where to register; a new registry when None.
        health: Returns (records dropped, windows dropped, write errors) at scrape time.
        units: ``ms`` or ``seconds``: the latency histograms' unit and names.
        guard_reasons: Reasons whose trip counters exist at 0 from the start.
        alert_limits_ms: Latency alert thresholds (bucket bounds, see
            :func:`bucket_bounds_ms`).
        max_label_values: Label values each metric may have; further ones are
            recorded under ``__other__`` and counted as folded.

    Raises:
        ConfigError: ``units`` is neither ``ms`` nor ``seconds``, ``max_label_values``
            is below 1, or a guard reason cannot be a label value.
    """

    def __init__(
        self,
        deadline_ms: float,
        deployment: str | None = None,
        registry: CollectorRegistry | None = None,
        health: Callable[[], tuple[int, int, int]] | None = None,
        *,
        units: str = "ms",
        guard_reasons: Sequence[str] = GUARD_REASONS,
        alert_limits_ms: Sequence[float] = ALERT_LIMITS_MS,
        max_label_values: int = 100,
    ) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        metric_names = names.metric_names(units)
        if max_label_values < 1:
            raise ConfigError(f"max_label_values must be >= 1, got {max_label_values}")
        for reason in guard_reasons:
            if _label(reason) is None:
                raise ConfigError(f"guard reason {reason!r} cannot be a label value")
        self.names = metric_names
        self._ns_per_unit = metric_names.ns_per_unit
        self._max_values = max_label_values
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._pending: collections.deque[FinishedTick] = collections.deque()
        self._dropped = 0
        self._refused = 0
        self._folded = 0
        self._drain_lock = threading.Lock()
        self._health = health
        extra: tuple[str, ...] = ("deployment",) if deployment is not None else ()
        self._extra_values: tuple[str, ...] = (deployment,) if deployment is not None else ()
        self._extra_labels = list(extra)
        self.buckets_ms = bucket_bounds_ms(deadline_ms, alert_limits_ms)
        # Divided, not multiplied by 0.001: the bound reads 0.109, not 0.10900000000000001.
        divisor = 1.0 if units == "ms" else 1000.0
        buckets = tuple(bound / divisor for bound in self.buckets_ms)
        unit_text = "ms" if units == "ms" else "seconds"
        # Not registered themselves: one collector serves them without _created series.
        self._stage = Histogram(
            metric_names.stage,
            f"Stage latency in {unit_text} (tick_total: every tick; stages: sampled ticks).",
            labelnames=("stage", *extra),
            buckets=buckets,
            registry=None,
        )
        self._request = Histogram(
            metric_names.request,
            f"Exchange API request latency in {unit_text} (sampled ticks).",
            labelnames=("verb", "api", *extra),
            buckets=buckets,
            registry=None,
        )
        self._guards = Counter(
            names.GUARD_TRIPS,
            "Guard trips by reason.",
            labelnames=("reason", *extra),
            registry=None,
        )
        self._misses = Counter(
            names.DEADLINE_MISSES,
            "Ticks that missed their deadline.",
            labelnames=extra,
            registry=None,
        )
        self._ticks = Counter(names.TICKS, "Ticks finished.", labelnames=extra, registry=None)
        self._parallel = Gauge(
            names.PARALLEL_SYMBOLS,
            "Symbols processed concurrently in the last tick.",
            labelnames=extra,
            registry=None,
            multiprocess_mode="liveall",
        )
        self._metrics = (
            self._stage,
            self._request,
            self._guards,
            self._misses,
            self._ticks,
            self._parallel,
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
        # Configured reasons exist at 0, so increase() and rate() see the first trip.
        self._guard_children: dict[str, Any] = {
            reason: self._guards.labels(reason, *self._extra_values)
            for reason in dict.fromkeys(guard_reasons)
        }
        self.registry.register(_Collector(self))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracekit-metrics", daemon=True)
        self._thread.start()
        self._server: Any = None

    @classmethod
    def from_config(
        cls,
        config: TraceConfig,
        registry: CollectorRegistry | None = None,
        health: Callable[[], tuple[int, int, int]] | None = None,
    ) -> PrometheusMetrics:
        """The metrics a :class:`~tracekit.trace.config.TraceConfig` describes."""
        return cls(
            config.deadline_ms,
            config.deployment,
            registry,
            health,
            units=config.metrics_units,
            guard_reasons=config.metrics_guard_reasons,
            alert_limits_ms=config.metrics_alert_limits_ms,
            max_label_values=config.metrics_max_label_values,
        )

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
                try:
                    self._observe(tick)
                except Exception:  # the feed must outlive any tick it is given
                    self._refused += 1
                    logger.debug("tracekit metrics: refused a tick", exc_info=True)

    def _observe(self, tick: FinishedTick) -> None:
        self._tick_child.inc()
        self._tick_total.observe(tick.duration_ns / self._ns_per_unit)
        if tick.deadline_missed:
            self._miss_child.inc()
        count = tick.parallel_symbols
        if count is not None:
            if type(count) is int and 0 <= count <= MAX_PARALLEL_SYMBOLS:
                self._parallel_child.set(count)
            else:
                self._refused += 1
        for reason, _symbol, _at in tick.guards:
            child = self._guard_children.get(reason) if isinstance(reason, str) else None
            if child is None:
                child = self._child(self._guards, self._guard_children, reason)
                if child is None:
                    continue
            child.inc()
        if tick.detail != schema.DETAIL_SAMPLED:
            return
        ns_per_unit = self._ns_per_unit
        for record in tick.spans:  # 7 items, or 9 with record_parents
            kind, name, verb, duration_ns = record[0], record[1], record[3], record[6]
            if kind == schema.KIND_STAGE:
                child = self._stage_children.get(name) if isinstance(name, str) else None
                if child is None:
                    if name == schema.TICK_TOTAL:  # would mix into every tick's histogram
                        self._refused += 1
                        continue
                    child = self._child(self._stage, self._stage_children, name)
            else:
                key = (verb or "", name)
                try:
                    child = self._request_children.get(key)
                except TypeError:  # an unhashable name
                    child = None
                if child is None:
                    child = self._request_child(key)
            if child is not None:
                child.observe(duration_ns / ns_per_unit)

    def _child(self, metric: Any, children: dict[str, Any], name: object) -> Any:
        """The child of a new label value, the ``__other__`` child beyond the cap, or
        None (counted as refused) for an unusable value."""
        value = _label(name)
        if value is None:
            self._refused += 1
            return None
        if len(children) >= self._max_values:
            self._folded += 1
            other = children.get(names.FOLDED)
            if other is None:  # the folded child is the one allowed past the cap
                other = metric.labels(names.FOLDED, *self._extra_values)
                children[names.FOLDED] = other
            return other
        child = metric.labels(value, *self._extra_values)
        children[value] = child
        return child

    def _request_child(self, key: tuple[object, object]) -> Any:
        verb = "" if key[0] == "" else _label(key[0])
        api = _label(key[1])
        if verb is None or api is None:
            self._refused += 1
            return None
        children = self._request_children
        if len(children) >= self._max_values:
            self._folded += 1
            folded = (names.FOLDED, names.FOLDED)
            other = children.get(folded)
            if other is None:
                other = self._request.labels(*folded, *self._extra_values)
                children[folded] = other
            return other
        child = self._request.labels(verb, api, *self._extra_values)
        children[(verb, api)] = child
        return child

    def _run(self) -> None:
        while not self._stop.wait(DRAIN_INTERVAL_S):
            try:
                self.drain()
            except Exception:  # pragma: no cover - drain already refuses bad ticks
                logger.exception("tracekit metrics: drain failed; the feed goes on")

    def collect(self) -> Iterator[Any]:
        """The metric families of a scrape: drains the queue first, omits ``_created``."""
        from prometheus_client.core import CounterMetricFamily

        try:
            self.drain()
        except Exception:  # pragma: no cover - a scrape must answer whatever happened
            logger.exception("tracekit metrics: drain failed during a scrape")
        for metric in self._metrics:
            for family in metric.collect():
                family.samples = [s for s in family.samples if not s.name.endswith("_created")]
                yield family
        records, windows, errors = self._health() if self._health is not None else (0, 0, 0)
        for name, value, text in (
            ("tracekit_records_dropped", records, "Span records the tracer dropped."),
            ("tracekit_windows_dropped", windows, "Golden windows dropped (queue full)."),
            ("tracekit_write_errors", errors, "Golden windows that failed to write."),
            ("tracekit_metrics_dropped", self._dropped, "Ticks not fed to metrics."),
            (
                "tracekit_metrics_refused",
                self._refused,
                "Names or values the metrics refused (not a usable label or number).",
            ),
            (
                "tracekit_metrics_folded",
                self._folded,
                "Observations recorded under __other__ (a metric had too many label values).",
            ),
        ):
            family = CounterMetricFamily(name, text, labels=self._extra_labels)
            family.add_metric(self._extra_values, value)
            yield family

    def describe(self) -> Iterator[Any]:
        """The metric families' names, so a registry refuses a second tracer's."""
        from prometheus_client.core import CounterMetricFamily

        for metric in self._metrics:
            yield from metric.describe()
        for name in (
            "tracekit_records_dropped",
            "tracekit_windows_dropped",
            "tracekit_write_errors",
            "tracekit_metrics_dropped",
            "tracekit_metrics_refused",
            "tracekit_metrics_folded",
        ):
            yield CounterMetricFamily(name, "", value=0)

    # -- serving -------------------------------------------------------------------------

    def serve(
        self,
        port: int,
        addr: str = "127.0.0.1",
        *,
        connection_timeout_s: float = CONNECTION_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> int:
        """Serve ``/metrics`` on ``addr:port`` (0 picks a free port); returns the port.

        A connection that sends nothing for ``connection_timeout_s`` is closed; at most
        ``max_connections`` are served at once and further ones are closed at once, so
        idle or slow clients hold neither threads nor memory for long.

        Raises:
            OSError: The address cannot be bound.
        """
        from prometheus_client import make_wsgi_app

        server = _make_server(
            addr, port, make_wsgi_app(self.registry), connection_timeout_s, max_connections
        )
        thread = threading.Thread(
            target=server.serve_forever, name="tracekit-metrics-server", daemon=True
        )
        thread.start()
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
        """Ticks not fed to the metrics (the queue was full)."""
        return self._dropped

    @property
    def refused(self) -> int:
        """Names or values refused: not a usable label value or parallel-symbol count."""
        return self._refused

    @property
    def folded(self) -> int:
        """Observations recorded under ``__other__`` (beyond ``max_label_values``)."""
        return self._folded


class _Collector:
    """The registry's view of one :class:`PrometheusMetrics`."""

    def __init__(self, metrics: PrometheusMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterator[Any]:
        return self._metrics.describe()

    def collect(self) -> Iterator[Any]:
        return self._metrics.collect()


def _make_server(
    addr: str, port: int, app: Any, connection_timeout_s: float, max_connections: int
) -> Any:
    """A threading WSGI server whose connections time out and whose threads are capped."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

    family, _type, _proto, _name, sockaddr = socket.getaddrinfo(
        addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]

    class Handler(WSGIRequestHandler):
        timeout = connection_timeout_s  # applied to the socket in setup()

        def handle(self) -> None:
            try:
                super().handle()
            except OSError:  # timed out or reset by the client: its problem, not ours
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            """Log nothing (a scrape every few seconds)."""

    class Server(ThreadingMixIn, WSGIServer):
        address_family = family
        daemon_threads = True
        block_on_close = False
        slots = threading.BoundedSemaphore(max_connections)

        def process_request(self, request: Any, client_address: Any) -> None:
            if not self.slots.acquire(blocking=False):
                self.shutdown_request(request)  # full: close at once, hold no thread
                return
            try:
                super().process_request(request, client_address)
            except BaseException:
                self.slots.release()
                raise

        def process_request_thread(self, request: Any, client_address: Any) -> None:
            try:
                super().process_request_thread(request, client_address)
            finally:
                self.slots.release()

        def handle_error(self, request: Any, client_address: Any) -> None:
            """Print nothing: a client's broken connection is not the program's error."""

    server = Server((str(sockaddr[0]), port), Handler)
    server.set_app(app)
    return server
