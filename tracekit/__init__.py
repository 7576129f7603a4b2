"""tracekit: latency tracing for tick-based loops, and offline analysis of its traces.

The tracer (:class:`Tracer`, :class:`TraceConfig`) imports only the standard
library. The analysis API (:func:`load`) imports polars when first used. Names are
imported on first access, so ``import tracekit`` (and ``tracekit --help``) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracekit._version import __version__

if TYPE_CHECKING:
    from tracekit.analysis import TraceSet, load
    from tracekit.trace.clock import VirtualClock
    from tracekit.trace.config import TraceConfig
    from tracekit.trace.tracer import Tracer, TracerStats

__all__ = [
    "TraceConfig",
    "TraceSet",
    "Tracer",
    "TracerStats",
    "VirtualClock",
    "__version__",
    "load",
]

_HOMES = {
    "Tracer": "tracekit.trace.tracer",
    "TracerStats": "tracekit.trace.tracer",
    "TraceConfig": "tracekit.trace.config",
    "VirtualClock": "tracekit.trace.clock",
    "load": "tracekit.analysis",
    "TraceSet": "tracekit.analysis",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tracekit' has no attribute {name!r}")
    import importlib

    if home == "tracekit.analysis":
        from tracekit.extras import needs_analysis_extra

        message = needs_analysis_extra(f"tracekit.{name}")
        if message is not None:
            raise ModuleNotFoundError(message)
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
