"""tracekit: latency tracing for tick-based loops, and offline analysis of its traces.

The tracer (:class:`Tracer`, :class:`TraceConfig`) imports only the standard
library. The analysis API (:func:`load`) imports polars when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracekit._version import __version__
from tracekit.clock import VirtualClock
from tracekit.config import TraceConfig
from tracekit.tracer import Tracer, TracerStats

if TYPE_CHECKING:
    from tracekit.analysis import TraceSet, load

__all__ = [
    "TraceConfig",
    "TraceSet",
    "Tracer",
    "TracerStats",
    "VirtualClock",
    "__version__",
    "load",
]


def __getattr__(name: str) -> Any:
    if name in ("load", "TraceSet"):
        from tracekit import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module 'tracekit' has no attribute {name!r}")
