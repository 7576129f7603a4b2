"""The analyze tables and the perf profile of a golden-trace dataset, with Spark.

For datasets too big for one machine: the figures of ``tracekit analyze`` (exact
percentiles, Spark's ``percentile``) and the profile of ``tracekit profile``
computed on a cluster from the same Parquet files, so a fleet's
profile is gated locally with ``tracekit compare`` (``docs/scale.md``).

>>> from tracekit import spark as tkspark
>>> session = tkspark.local_session()          # or the cluster's SparkSession
>>> tkspark.analyze(session, "samples/current")  # an Analysis, as tracekit.load().analyze()
>>> tkspark.build_profile(session, "s3://bucket/traces").write(Path("fleet.json"))

Needs ``pip install 'tracekit[spark]'`` and Java 17 or newer.
"""

from tracekit.spark.profile import build_profile
from tracekit.spark.reading import SparkTraces, default_session, local_session, read_traces
from tracekit.spark.tables import analyze

__all__ = [
    "SparkTraces",
    "analyze",
    "build_profile",
    "default_session",
    "local_session",
    "read_traces",
]
