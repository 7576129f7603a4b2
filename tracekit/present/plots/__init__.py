"""Figures of golden traces and of comparisons, as matplotlib :class:`Figure` objects.

>>> import tracekit
>>> from tracekit.present.plots import plot_traces, save_figure
>>> traces = tracekit.load("samples/current")
>>> save_figure(plot_traces(traces, "stages"), "stages.png")

Figures are built with ``matplotlib.figure.Figure`` and an Agg canvas, never with
pyplot: plotting changes no global matplotlib state and needs no display.
matplotlib is imported when a figure is made, not when tracekit is imported.
See ``docs/plots.md``.
"""

from tracekit.present.plots._style import check_size
from tracekit.present.plots.canary import plot_canary
from tracekit.present.plots.comparison import (
    IntervalMetric,
    plot_comparison,
    plot_forest,
    plot_overlays,
)
from tracekit.present.plots.save import PLOT_FORMATS, format_for_path, save_figure, save_figures
from tracekit.present.plots.traces import (
    TRACE_KINDS,
    plot_guards,
    plot_requests,
    plot_stages,
    plot_timeline,
    plot_traces,
)

__all__ = [
    "PLOT_FORMATS",
    "TRACE_KINDS",
    "IntervalMetric",
    "check_size",
    "format_for_path",
    "plot_canary",
    "plot_comparison",
    "plot_forest",
    "plot_guards",
    "plot_overlays",
    "plot_requests",
    "plot_stages",
    "plot_timeline",
    "plot_traces",
    "save_figure",
    "save_figures",
]
