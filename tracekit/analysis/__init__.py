"""Offline analysis of golden traces with polars.

>>> import tracekit
>>> traces = tracekit.load("samples/baseline")
>>> traces.stages()          # a polars DataFrame
>>> traces.analyze()         # every table of `tracekit analyze`
"""

from tracekit.analysis.result import Analysis
from tracekit.analysis.selection import Selection
from tracekit.analysis.sources import SkippedFile
from tracekit.analysis.traceset import TraceSet, load

__all__ = ["Analysis", "Selection", "SkippedFile", "TraceSet", "load"]
