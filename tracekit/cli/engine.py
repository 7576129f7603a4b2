"""``--engine`` and ``--spark-master``: which engine analyze and profile compute with."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tracekit.errors import InputError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class Engine(enum.StrEnum):
    """The engine that reads the golden traces."""

    polars = "polars"
    spark = "spark"


EngineOption = Annotated[
    Engine,
    typer.Option(
        help="polars on this machine, or Spark for datasets beyond one machine "
        "(needs tracekit[spark] and Java; docs/scale.md)."
    ),
]
SparkMasterOption = Annotated[
    str | None,
    typer.Option(
        help="Spark master URL, e.g. local[2] or spark://host:7077 (default: Spark's "
        "own configuration, else local[*])."
    ),
]


def refuse_polars_only(engine: Engine, **options: object) -> None:
    """Fail when an option the Spark engine does not support is set.

    Raises:
        InputError: One of ``options`` (flag name without dashes -> value) is set.
    """
    used = [name for name, value in options.items() if value not in (None, [], False)]
    if engine is Engine.spark and used:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in used)
        raise InputError(
            f"{flags}: not supported with --engine spark, which reports the whole dataset; "
            "narrow the paths instead, or use --engine polars"
        )


def spark_session(master: str | None, paths: Sequence[str | Path]) -> tuple[SparkSession, bool]:
    """The session the Spark engine computes with (see ``--spark-master``), and
    whether to cache the rows (on a local master, where reading files dominates).

    Paths tracekit finds itself (local ones, ``s3://``) are found first: a missing
    path or an unreachable store fails in a second, not after Spark's JVM started.
    """
    from tracekit.analysis.sources import resolve_paths
    from tracekit.spark import default_session
    from tracekit.store.location import has_foreign_scheme

    texts = [str(path).removeprefix("file://") for path in paths]
    if not any(has_foreign_scheme(text) for text in texts):
        resolve_paths(texts)

    session = default_session(master)
    local = str(session.conf.get("spark.master", "")).startswith("local")
    if local:
        # tracekit reports a failed read as one `Error:` line; on one machine Spark's
        # own log would print each failed task's stack traces before it.
        with contextlib.suppress(Exception):  # Spark Connect has no SparkContext
            session.sparkContext.setLogLevel("FATAL")
    return session, local
