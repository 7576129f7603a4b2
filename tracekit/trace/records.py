"""What the tracer hands to its consumers when a tick ends.

Times here are readings of the tracer's monotonic clock; the golden writer turns
them into wall-clock nanoseconds off the hot path.
"""

from __future__ import annotations

from typing import NamedTuple

SpanRecord = tuple[str, str, str | None, str | None, str | None, int, int]
"""A stage or request span: (kind, name, symbol, verb, error_type, start_ns, duration_ns)."""

GuardRecord = tuple[str, str | None, int]
"""A guard trip: (reason, symbol, at_ns)."""


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
    spans: list[SpanRecord]
    guards: list[GuardRecord]
