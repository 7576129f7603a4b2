"""Clocks: the tracer reads time through a plain callable returning nanoseconds.

Production uses :func:`time.perf_counter_ns` (monotonic, highest resolution). Tests
and the simulator inject a :class:`VirtualClock` so that timings are exact and
reproducible.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tracekit.errors import ClockError

ClockNs = Callable[[], int]
"""A monotonic clock: a callable that returns nanoseconds."""

monotonic_ns: ClockNs = time.perf_counter_ns


class VirtualClock:
    """A clock that moves only when told to.

    Args:
        start_ns: The initial reading in nanoseconds.
    """

    __slots__ = ("_now_ns",)

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns

    def __call__(self) -> int:
        return self._now_ns

    def advance(self, duration_ns: int) -> None:
        """Move the clock forward by ``duration_ns`` (must not be negative).

        Raises:
            ClockError: ``duration_ns`` is negative (a ``ValueError`` too).
        """
        if duration_ns < 0:
            raise ClockError(f"a clock cannot go backwards (advance by {duration_ns} ns)")
        self._now_ns += duration_ns

    def set(self, now_ns: int) -> None:
        """Move the clock forward to ``now_ns``."""
        self.advance(now_ns - self._now_ns)
