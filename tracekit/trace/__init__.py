"""The tracer: records tick latencies in the traced program (standard library only).

:mod:`~tracekit.trace.tracer` holds :class:`~tracekit.trace.tracer.Tracer`,
:mod:`~tracekit.trace.config` its :class:`~tracekit.trace.config.TraceConfig`,
:mod:`~tracekit.trace.sampling`, :mod:`~tracekit.trace.clock` and
:mod:`~tracekit.trace.records` the pieces it is built from, and :mod:`tracekit.trace.sinks`
the consumers of finished ticks (the golden writer, the Prometheus feed).

Nothing here imports polars, pyarrow or any other third-party package at import
time: a traced program pays only for the standard library.
"""
