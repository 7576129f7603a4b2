"""Golden traces in other tools' formats.

>>> import tracekit
>>> from tracekit.present.export import write_chrome_trace
>>> traces = tracekit.load("samples/baseline").select(runs=["baseline-1"])
>>> write_chrome_trace(traces, "trace.json", ticks=(1, 200)).summary()

The Chrome Trace Event Format export (:mod:`tracekit.present.export.chrome`) opens in
ui.perfetto.dev and chrome://tracing; see ``docs/export.md``.
"""

from tracekit.present.export.chrome import (
    DEFAULT_MAX_MB,
    ChromeExport,
    ExportEstimate,
    assign_lanes,
    chrome_trace,
    dumps_chrome_trace,
    estimate_chrome_trace,
    lane_name,
    nesting_violations,
    parse_tick_range,
    write_chrome_trace,
)

__all__ = [
    "DEFAULT_MAX_MB",
    "ChromeExport",
    "ExportEstimate",
    "assign_lanes",
    "chrome_trace",
    "dumps_chrome_trace",
    "estimate_chrome_trace",
    "lane_name",
    "nesting_violations",
    "parse_tick_range",
    "write_chrome_trace",
]
