"""What the tracer hands to its consumers when a tick ends, and the consumers' protocol.

Times here are readings of the tracer's monotonic clock; the golden writer turns
them into wall-clock nanoseconds off the hot path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

SpanRecord = (
    tuple[str, str, str | None, str | None, str | None, int, int]
    | tuple[str, str, str | None, str | None, str | None, int, int, int, int | None]
)
"""A stage or request span: (kind, name, symbol, verb, error_type, start_ns,
duration_ns), followed by (span_id, parent_span_id) when the tracer records parents
(``record_parents``); a tracer's records all have the same length."""

GuardRecord = tuple[str, str | None, int]
"""A guard trip: (reason, symbol, at_ns)."""

AttributeValue = str | int | float | bool
"""The value of a span attribute."""

Attributes = Mapping[str, AttributeValue]
"""Span attributes: a few named values (``docs/tracer.md``, "Span attributes")."""


class FinishedTick(NamedTuple):
    """One finished tick with the detail kept for it."""

    tick_id: int
    start_ns: int
    duration_ns: int
    deadline_ns: int
    deadline_missed: bool
    error_type: str | None
    parallel_symbols: int | None
    guard_trips: int
    request_count: int
    detail: str
    spans: Sequence[SpanRecord]
    guards: list[GuardRecord]
    span_attributes: Mapping[int, Attributes] | None = None
    """Attributes of the spans that have any, keyed by the span's index in ``spans``."""


@dataclasses.dataclass(frozen=True)
class SinkReport:
    """What a sink could not write when it was shut down.

    Attributes:
        sink: The sink's name (``golden``, ``prometheus``, ...).
        windows_abandoned: Windows still queued or being written when the timeout ran out.
        ticks_abandoned: Ticks in those windows (or ticks not fed, for per-tick sinks).
        timed_out: True when the sink did not finish within the timeout.
    """

    sink: str
    windows_abandoned: int = 0
    ticks_abandoned: int = 0
    timed_out: bool = False


class TickSink(Protocol):
    """A consumer of finished ticks (the golden writer, the Prometheus feed, your own).

    ``on_tick`` and ``on_window`` run on the traced loop and must never block or raise;
    a sink queues the work for its own thread. The tracer calls ``shutdown`` once,
    from :meth:`tracekit.Tracer.close`.
    """

    name: str
    """A short name for reports and logs."""

    def on_tick(self, tick: FinishedTick) -> None:
        """Take one finished tick (every tick, in the order ticks finish)."""

    def on_window(self, window: Sequence[FinishedTick]) -> None:
        """Take one window of ``golden_trace_interval`` finished ticks."""

    def shutdown(self, timeout_s: float, last_window: Sequence[FinishedTick] = ()) -> SinkReport:
        """Finish: take the last, partial window, write what is queued within
        ``timeout_s`` seconds, stop, and report what could not be written."""
