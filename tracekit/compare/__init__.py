"""``tracekit compare``: a perf gate with bootstrap intervals and three outcomes."""
