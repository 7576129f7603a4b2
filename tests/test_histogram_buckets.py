"""The latency histogram's buckets: the polars expression and numpy agree."""

from __future__ import annotations

import numpy as np
import polars as pl

from tracekit.stats.histogram import bucket_expr, bucket_indexes


def test_polars_and_numpy_bucketing_agree() -> None:
    durations = np.array([0.0, 1.0, 999.0, 1e6, 2.5e7, 1.234567e9])
    frame = pl.DataFrame({"d": durations}).select(bucket_expr(pl.col("d")).alias("b"))
    assert frame["b"].to_list() == bucket_indexes(durations).tolist()
