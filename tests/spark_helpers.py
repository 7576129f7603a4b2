"""What the Spark tests share: the quick local session, and frames compared to 1e-9.

Locally the Spark tests skip when pyspark or Java is missing; CI sets
TRACEKIT_REQUIRE_SPARK=1 (``.ci/run`` installs ``tracekit[spark]``), so there they
fail instead.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING

import polars as pl
import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

REQUIRED = os.environ.get("TRACEKIT_REQUIRE_SPARK") == "1"
TOLERANCE = 1e-9
QUICK_JVM = {
    # A short-lived JVM on small data: compile less, start sooner (about 2x faster here).
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
}
TABLES = ("stages", "deadline", "attribution", "guards", "requests", "parallel")


def unavailable(message: str) -> None:
    if REQUIRED:
        pytest.fail(f"{message} (TRACEKIT_REQUIRE_SPARK=1)")
    pytest.skip(message)


def start_session(config: Mapping[str, str] | None = None) -> SparkSession:
    """A ``local[2]`` session with :data:`QUICK_JVM` and ``config`` (skips, or fails
    under TRACEKIT_REQUIRE_SPARK=1, without pyspark or Java)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        unavailable("pyspark is not installed: pip install -e '.[spark]'")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        unavailable("no Java on this machine (java -version); Spark needs Java 17+")
    from tracekit.spark import local_session

    return local_session("local[2]", config={**QUICK_JVM, **(config or {})})


def assert_frames_close(name: str, ours: pl.DataFrame, theirs: pl.DataFrame) -> None:
    """Same columns, types and rows; floats equal to 1e-9 (relative, or absolute near 0)."""
    assert ours.columns == theirs.columns, name
    assert ours.schema == theirs.schema, name
    assert ours.height == theirs.height, f"{name}: {ours} != {theirs}"
    for column in ours.columns:
        for index, (a, b) in enumerate(zip(ours[column], theirs[column], strict=True)):
            where = f"{name}.{column}[{index}]"
            if isinstance(a, float) or isinstance(b, float):
                assert (a is None) == (b is None), f"{where}: {a} != {b}"
                if a is not None:
                    assert math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE), where
            else:
                assert a == b, f"{where}: {a!r} != {b!r}"
