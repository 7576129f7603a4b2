"""The tracer: cheap, asyncio-safe spans for a tick-based loop.

The hot path uses only the standard library: a monotonic nanosecond clock and a
:class:`contextvars.ContextVar` holding the current tick. Tasks created inside a
tick (``asyncio.gather``, ``create_task``, ``asyncio.to_thread``) copy the context,
so their spans land in that tick whatever the interleaving. Each thread running
its own ticks has its own context.

Every tick's own row is recorded. Stage and request spans are measured for
sampled ticks and, with ``keep_missed_detail``, for every tick, then kept only if
the tick was sampled or missed its deadline. Nothing here raises into the traced
program: misuse is counted in :meth:`Tracer.stats`.
"""

from __future__ import annotations

import atexit
import contextvars
import dataclasses
import itertools
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from tracekit._version import __version__
from tracekit.errors import ConfigError
from tracekit.store import schema
from tracekit.trace.clock import ClockNs, monotonic_ns
from tracekit.trace.config import TraceConfig
from tracekit.trace.records import FinishedTick, GuardRecord, SpanRecord
from tracekit.trace.sampling import Sampler
from tracekit.trace.sinks.golden import GoldenWriter, WriterStats

if TYPE_CHECKING:
    from tracekit.trace.sinks.prometheus import PrometheusMetrics

logger = logging.getLogger("tracekit")


class _NullSpan:
    """The span (and, for a disabled tracer, the tick) handed out when nothing is to be
    measured: it does nothing."""

    __slots__ = ()
    tick_id = 0

    def __enter__(self) -> _NullSpan:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


NULL_SPAN: Final = _NullSpan()


class _TickState:
    """What one tick accumulates; shared by every task and span inside it."""

    __slots__ = (
        "dropped",
        "guard_trips",
        "guards",
        "late",
        "measuring",
        "open",
        "parallel_symbols",
        "request_count",
        "sampled",
        "spans",
        "tick_id",
    )

    def __init__(self, tick_id: int, sampled: bool, measuring: bool, late: list[int]) -> None:
        self.tick_id = tick_id
        self.late = late  # the tracer's counter of spans that ended after their tick
        self.sampled = sampled
        self.measuring = measuring
        self.open = True
        self.spans: list[SpanRecord] = []
        self.guards: list[GuardRecord] = []
        self.guard_trips = 0
        self.request_count = 0
        self.parallel_symbols: int | None = None
        self.dropped = 0


def _span_type(clock: ClockNs, max_records: int) -> type:
    """Build the span class of one tracer.

    The clock and the record cap are closure variables rather than attributes, as
    this is the hottest code in tracekit: a closure read is the cheapest lookup
    CPython has.
    """

    class _Span:
        __slots__ = ("_kind", "_name", "_start_ns", "_state", "_symbol", "_verb")

        def __init__(
            self, state: _TickState, kind: str, name: str, symbol: str | None, verb: str | None
        ) -> None:
            self._state = state
            self._kind = kind
            self._name = name
            self._symbol = symbol
            self._verb = verb

        def __enter__(self) -> _Span:
            self._start_ns = clock()
            return self

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            traceback: TracebackType | None,
        ) -> None:
            end_ns = clock()
            state = self._state
            spans = state.spans
            if not state.open:
                state.late[0] += 1
            elif len(spans) < max_records:
                spans.append(
                    (
                        self._kind,
                        self._name,
                        self._symbol,
                        self._verb,
                        None if exc_type is None else exc_type.__name__,
                        self._start_ns,
                        end_ns - self._start_ns,
                    )
                )
            else:
                state.dropped += 1

    return _Span


@dataclasses.dataclass(frozen=True)
class TracerStats:
    """Counters of a tracer: what it recorded, kept, dropped and wrote.

    Attributes:
        ticks: Ticks finished.
        ticks_sampled: Ticks chosen by the sampling decision.
        ticks_kept_for_miss: Unsampled ticks whose detail was kept because they missed.
        deadline_misses: Ticks slower than their deadline.
        records_dropped: Span records dropped: over ``max_records_per_tick`` in their
            tick, or ending after their tick had ended.
        orphan_calls: Spans, guard trips or parallel-symbol counts outside any tick.
        invalid_calls: Calls with an unusable argument (e.g. a NaN ``deadline_ms``); the
            tracer used its default instead of raising.
        ticks_after_close: Ticks finished after :meth:`Tracer.close` (not recorded).
        writer: The golden writer's counters (all zero without a writer).
    """

    ticks: int
    ticks_sampled: int
    ticks_kept_for_miss: int
    deadline_misses: int
    records_dropped: int
    orphan_calls: int
    invalid_calls: int
    ticks_after_close: int
    writer: WriterStats


class _TickSpan:
    """The context manager returned by :meth:`Tracer.tick`."""

    __slots__ = ("_deadline_ns", "_start_ns", "_state", "_token", "_tracer")

    def __init__(self, tracer: Tracer, deadline_ns: int) -> None:
        self._tracer = tracer
        self._deadline_ns = deadline_ns

    def __enter__(self) -> _TickSpan:
        tracer = self._tracer
        self._state = tracer._begin_tick()
        self._token = tracer._current.set(self._state)
        self._start_ns = tracer._clock()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        tracer = self._tracer
        end_ns = tracer._clock()
        try:
            tracer._current.reset(self._token)
        except ValueError:  # exited in another context than it was entered in
            tracer._current.set(None)
        tracer._end_tick(
            self._state,
            self._start_ns,
            end_ns - self._start_ns,
            self._deadline_ns,
            None if exc_type is None else exc_type.__name__,
        )

    @property
    def tick_id(self) -> int:
        """The number of this tick within the run (valid inside the ``with`` block)."""
        return self._state.tick_id


def _null_stage(name: str, symbol: str | None = None) -> _NullSpan:
    return NULL_SPAN


def _null_request(verb: str, api: str, symbol: str | None = None) -> _NullSpan:
    return NULL_SPAN


class Tracer:
    """Records ticks, stage spans, exchange requests and guard trips.

    Args:
        config: Settings; the defaults when omitted.
        clock: Monotonic clock in ns (inject a :class:`tracekit.trace.clock.VirtualClock`
            in tests and simulations).
        wall_anchor_ns: Wall-clock ns since the epoch that corresponds to the clock's
            reading at construction; the current time when omitted.
        run_id: Overrides ``config.run_id``.
        run_metadata: Extra or replacement Parquet key-value metadata for every file
            (the simulator sets a fixed host and pid so its output is reproducible).
        metrics_registry: A ``prometheus_client.CollectorRegistry`` to register the
            live metrics in (with ``config.metrics``); a new one when omitted.

    The tracer is a context manager; :meth:`close` also runs at interpreter exit.
    """

    def __init__(
        self,
        config: TraceConfig | None = None,
        *,
        clock: ClockNs | None = None,
        wall_anchor_ns: int | None = None,
        run_id: str | None = None,
        run_metadata: Mapping[str, str] | None = None,
        metrics_registry: Any = None,
    ) -> None:
        self.config = config if config is not None else TraceConfig()
        if run_id is not None:  # checked like the config's own run_id
            self.config = dataclasses.replace(self.config, run_id=run_id)
        self._clock: ClockNs = clock if clock is not None else monotonic_ns
        self._current: contextvars.ContextVar[_TickState | None] = contextvars.ContextVar(
            f"tracekit_tick_{id(self)}", default=None
        )
        self.enabled = self.config.enabled
        anchor_mono_ns = self._clock()
        anchor_wall_ns = wall_anchor_ns if wall_anchor_ns is not None else time.time_ns()
        self._wall_offset_ns = anchor_wall_ns - anchor_mono_ns
        self.run_id = self.config.run_id or _default_run_id(anchor_wall_ns)
        seed = self.config.sample_seed
        if seed is None:
            seed = int.from_bytes(os.urandom(8), "little")
        self.sample_seed = seed
        self._sampler = Sampler(self.config.sample_rate, seed)
        self._deadline_ns = round(self.config.deadline_ms * 1_000_000)
        self._span_cls = _span_type(self._clock, self.config.max_records_per_tick)
        self._tick_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._window: list[FinishedTick] = []
        self._ticks = 0
        self._ticks_sampled = 0
        self._ticks_kept_for_miss = 0
        self._deadline_misses = 0
        self._records_dropped = 0
        self._late_spans = [0]
        self._orphan_calls = 0
        self._invalid_calls = 0
        self._ticks_after_close = 0
        self._closed = False
        self.metrics: PrometheusMetrics | None = None
        self.metrics_port: int | None = None
        if self.enabled and self.config.metrics:
            from tracekit.trace.sinks.prometheus import PrometheusMetrics

            self.metrics = PrometheusMetrics.from_config(
                self.config, metrics_registry, self._health
            )
            if self.config.metrics_port is not None:
                try:
                    self.metrics_port = self.metrics.serve(
                        self.config.metrics_port, self.config.metrics_addr
                    )
                except OSError as error:
                    self.metrics.close()
                    address = f"{self.config.metrics_addr}:{self.config.metrics_port}"
                    raise ConfigError(
                        f"trace.metrics_port: cannot serve metrics on {address} "
                        f"({error.strerror or error}); choose a free port, or 0 for any"
                    ) from None
        self._writer: GoldenWriter | None = None
        if self.enabled and self.config.export_golden:
            self._writer = GoldenWriter(
                Path(self.config.output_dir),
                self.run_id,
                {**self._run_metadata(), **(run_metadata or {})},
                self._wall_offset_ns,
                self.config.max_queue_windows,
            )
            # A resumed run continues its tick numbering, so (run_id, tick_id) stays unique.
            self._tick_ids = itertools.count(self._writer.last_tick_id + 1)
        if self.enabled:
            atexit.register(self.close)
        else:
            # Bound once, so a disabled tracer's calls skip even the context lookup.
            self.stage = _null_stage  # type: ignore[method-assign]
            self.request = _null_request  # type: ignore[method-assign]

    # -- the traced program's API -------------------------------------------------

    def tick(self, deadline_ms: float | None = None) -> _TickSpan | _NullSpan:
        """A context manager around one tick: measures ``tick_total`` and the deadline.

        Args:
            deadline_ms: This tick's deadline; ``config.deadline_ms`` when omitted.
        """
        if not self.enabled:
            return NULL_SPAN
        if deadline_ms is None:
            return _TickSpan(self, self._deadline_ns)
        if (
            not isinstance(deadline_ms, int | float)
            or isinstance(deadline_ms, bool)
            or not 0 < deadline_ms < 1e12
        ):
            self._invalid_calls += 1  # never raise into the loop: use the configured deadline
            return _TickSpan(self, self._deadline_ns)
        return _TickSpan(self, round(deadline_ms * 1_000_000))

    def stage(self, name: str, symbol: str | None = None) -> Any:
        """A context manager timing one stage of the current tick, optionally per symbol."""
        state = self._current.get()
        if state is None:
            if self.enabled:
                self._orphan_calls += 1
            return NULL_SPAN
        if not state.measuring:
            return NULL_SPAN
        return self._span_cls(state, schema.KIND_STAGE, name, symbol, None)

    def request(self, verb: str, api: str, symbol: str | None = None) -> Any:
        """A context manager timing one exchange API request (``verb`` such as POST)."""
        state = self._current.get()
        if state is None:
            if self.enabled:
                self._orphan_calls += 1
            return NULL_SPAN
        state.request_count += 1
        if not state.measuring:
            return NULL_SPAN
        return self._span_cls(state, schema.KIND_REQUEST, api, symbol, verb)

    def guard_trip(self, reason: str, symbol: str | None = None) -> None:
        """Record that a risk guard tripped (always kept, sampled or not)."""
        state = self._current.get()
        if state is None:
            if self.enabled:
                self._orphan_calls += 1
            return
        state.guard_trips += 1
        if state.open:
            state.guards.append((reason, symbol, self._clock()))

    def set_parallel_symbols(self, count: int) -> None:
        """Record how many symbols the current tick processes concurrently."""
        state = self._current.get()
        if state is None:
            if self.enabled:
                self._orphan_calls += 1
            return
        state.parallel_symbols = count

    # -- life cycle ----------------------------------------------------------------

    def close(self) -> None:
        """Write the last, partial window and stop the writer. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            window, self._window = self._window, []
        if self._writer is not None:
            if window:
                self._writer.submit(window)
            self._writer.close()
        if self.metrics is not None:
            self.metrics.close()
        atexit.unregister(self.close)

    def __enter__(self) -> Tracer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def stats(self) -> TracerStats:
        """A snapshot of the tracer's counters."""
        with self._lock:
            return TracerStats(
                ticks=self._ticks,
                ticks_sampled=self._ticks_sampled,
                ticks_kept_for_miss=self._ticks_kept_for_miss,
                deadline_misses=self._deadline_misses,
                records_dropped=self._records_dropped + self._late_spans[0],
                orphan_calls=self._orphan_calls,
                invalid_calls=self._invalid_calls,
                ticks_after_close=self._ticks_after_close,
                writer=self._writer.stats() if self._writer is not None else WriterStats(),
            )

    @property
    def output_folder(self) -> Path | None:
        """The folder this run's golden files go to, or None when none are written."""
        return self._writer.folder if self._writer is not None else None

    def to_wall_ns(self, clock_ns: int) -> int:
        """Turn a reading of the tracer's clock into wall-clock ns since the epoch."""
        return clock_ns + self._wall_offset_ns

    # -- internals -----------------------------------------------------------------

    def _begin_tick(self) -> _TickState:
        tick_id = next(self._tick_ids)
        sampled = self._sampler(tick_id)
        return _TickState(
            tick_id, sampled, sampled or self.config.keep_missed_detail, self._late_spans
        )

    def _end_tick(
        self,
        state: _TickState,
        start_ns: int,
        duration_ns: int,
        deadline_ns: int,
        error_type: str | None,
    ) -> None:
        state.open = False
        missed = duration_ns > deadline_ns
        if state.sampled:
            detail = schema.DETAIL_SAMPLED
        elif missed and state.measuring:
            detail = schema.DETAIL_DEADLINE_MISS
        else:
            detail = schema.DETAIL_NONE
        writer = self._writer
        metrics = self.metrics
        finished = None
        if writer is not None or metrics is not None:
            finished = FinishedTick(
                state.tick_id,
                start_ns,
                duration_ns,
                deadline_ns,
                missed,
                error_type,
                state.parallel_symbols,
                state.guard_trips,
                state.request_count,
                detail,
                state.spans if detail != schema.DETAIL_NONE else [],
                state.guards,
            )
        full: list[FinishedTick] | None = None
        with self._lock:
            if self._closed:
                self._ticks_after_close += 1
                return
            self._ticks += 1
            self._deadline_misses += missed
            self._ticks_sampled += detail == schema.DETAIL_SAMPLED
            self._ticks_kept_for_miss += detail == schema.DETAIL_DEADLINE_MISS
            self._records_dropped += state.dropped
            if writer is not None and finished is not None:
                self._window.append(finished)
                if len(self._window) >= self.config.golden_trace_interval:
                    full, self._window = self._window, []
        if full is not None and writer is not None:
            writer.submit(full)
        if metrics is not None and finished is not None:
            metrics.submit(finished)

    def _health(self) -> tuple[int, int, int]:
        stats = self.stats()
        return stats.records_dropped, stats.writer.windows_dropped, stats.writer.write_errors

    def _run_metadata(self) -> dict[str, str]:
        return {
            schema.META_SCHEMA_VERSION: str(schema.SCHEMA_VERSION),
            schema.META_TRACEKIT_VERSION: __version__,
            schema.META_RUN_ID: self.run_id,
            schema.META_HOST: socket.gethostname(),
            schema.META_PID: str(os.getpid()),
            schema.META_CONFIG: json.dumps(self.config.to_dict(), sort_keys=True),
            schema.META_SAMPLE_RATE: repr(self.config.sample_rate),
            schema.META_SAMPLE_SEED: str(self.sample_seed),
        }


def _default_run_id(wall_ns: int) -> str:
    started = datetime.fromtimestamp(wall_ns / 1e9, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    host = socket.gethostname().split(".")[0] or "host"
    # The random suffix keeps two tracers started in the same second apart.
    return f"{started}-{host}-{os.getpid()}-{os.urandom(3).hex()}"
