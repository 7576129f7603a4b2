"""The on-disk contract of golden traces: the schema (:mod:`.schema`), writing Parquet
safely (:mod:`.parquet`), checking a file (:mod:`.check`) and merging small files
(:mod:`.compact`).

Importing this package or :mod:`.schema` costs only the standard library (the tracer
imports them); pyarrow is imported inside the functions that need it.
"""
