"""Golden traces as a Spark DataFrame, and the session to read them with.

Local paths and ``s3://`` locations go through the same file checks as
``tracekit.load`` (footers, schema version, windows a compacted file covers);
Spark reads local files with its Parquet reader and ``s3://`` objects through
tracekit's data source (:mod:`tracekit.spark.objects`: no Hadoop S3 connector
needed). Other URIs with a scheme (``s3a://``, ``hdfs://``, ``abfss://``, ...) are
handed to Spark as they are and read with the schema of ``tracekit.store.schema``,
recursively, ``golden-*.parquet`` only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from tracekit.errors import InputError
from tracekit.store import schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from tracekit.analysis.sources import SkippedFile

_URI: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
FILE_COLUMN: Final = "_tracekit_file"
"""The column naming each row's file while the rows are checked (then dropped)."""
LOCAL_SHUFFLE_PARTITIONS: Final = 4
"""Shuffle partitions of a local session: Spark's default of 200 costs seconds per
query on one machine's worth of data."""


SPARK_COLUMNS: Final = (
    *schema.COLUMNS,
    *(column for column in schema.ADDED_COLUMNS if column.name in schema.NESTING_COLUMNS),
)
"""The columns the Spark engine reads: schema v1 and the added ``span_id`` and
``parent_span_id`` (null in files without them)."""


def spark_schema() -> StructType:
    """The golden-trace schema as a Spark ``StructType`` (``run_id`` stays a string):
    :data:`SPARK_COLUMNS`."""
    from pyspark.sql import types as T

    spark_types = {
        "string": T.StringType(),
        "int64": T.LongType(),
        "int32": T.IntegerType(),
        "bool": T.BooleanType(),
    }
    return T.StructType(
        [
            T.StructField(column.name, spark_types[column.arrow_type], column.nullable)
            for column in SPARK_COLUMNS
        ]
    )


def local_session(
    master: str = "local[2]",
    app_name: str = "tracekit",
    config: Mapping[str, str] | None = None,
) -> SparkSession:
    """A Spark session for one machine, tuned for small shuffles, in UTC.

    Args:
        master: The Spark master URL; ``local[N]`` runs N threads in this process's JVM.
        app_name: The application name Spark shows.
        config: More Spark settings (they win over these defaults), e.g. JVM options
            for a short-lived test session.

    Raises:
        InputError: pyspark is not installed or its JVM cannot start (no Java).
    """
    builder = _builder().master(master).appName(app_name)
    local = master.startswith("local")
    if local:
        builder = (
            builder.config("spark.sql.shuffle.partitions", str(LOCAL_SHUFFLE_PARTITIONS))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            # tracekit passes every file by name; listing them is no job for executors.
            .config("spark.sql.sources.parallelPartitionDiscovery.threshold", "1000000")
        )
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    with _quiet_log(config or {}) if local else contextlib.nullcontext():
        return _start(builder)


LOG_CONFIG: Final = Path(__file__).with_name("log4j2.properties")
"""Spark's log in a local session tracekit starts: errors only (the file says why)."""
_LOG_PROPERTIES: Final = ("log4j2.configurationFile", "log4j.configurationFile")
_LOG_FILE: Final = re.compile(
    r"log4j2(-test)?\.(properties|xml|ya?ml|jso?n)|log4j2\.component\.properties"
)


@contextlib.contextmanager
def _quiet_log(config: Mapping[str, str]) -> Iterator[None]:
    """While a local session starts: :data:`LOG_CONFIG` as the driver JVM's log
    configuration, unless the user chose one (:func:`_user_log_choice`).

    It goes in ``SPARK_SUBMIT_OPTS``, which ``spark-submit`` puts on the driver's
    command line before ``spark.driver.extraJavaOptions``: the user's own driver
    options (from ``config`` or ``spark-defaults.conf``) are all kept, and win.
    The variable is set back once the JVM has started; a process whose JVM already
    runs is not changed.
    """
    import os

    if _user_log_choice(config) or not LOG_CONFIG.is_file():
        yield
        return
    before = os.environ.get("SPARK_SUBMIT_OPTS")
    # A file: URI has no spaces to split the options on, whatever the install path.
    ours = f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}"
    os.environ["SPARK_SUBMIT_OPTS"] = f"{ours} {before}" if before else ours
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SPARK_SUBMIT_OPTS", None)
        else:
            os.environ["SPARK_SUBMIT_OPTS"] = before


def _user_log_choice(config: Mapping[str, str]) -> bool:
    """Whether the user chose Spark's log configuration: a log4j configuration file
    named in the driver's options (``config``, :data:`_JVM_VARIABLES`, the conf
    folder's ``spark-defaults.conf`` and ``java-opts``, comment lines aside) or in
    ``LOG4J_CONFIGURATION_FILE``, or a ``log4j2.*`` file in the conf folder Spark
    reads (``$SPARK_CONF_DIR``, else ``$SPARK_HOME/conf``, else pyspark's own)."""
    import os

    folder = _conf_folder()
    texts = [
        config.get("spark.driver.extraJavaOptions", ""),
        config.get("spark.driver.defaultJavaOptions", ""),
        *(os.environ.get(name, "") for name in _JVM_VARIABLES),
    ]
    if os.environ.get("LOG4J_CONFIGURATION_FILE"):
        return True
    if folder is not None:
        try:
            for name in ("spark-defaults.conf", "java-opts"):  # java-opts: the launcher's
                texts.extend(_settings_lines(folder / name))
            if folder.is_dir() and any(_LOG_FILE.fullmatch(e.name) for e in folder.iterdir()):
                return True
        except OSError:  # a conf folder this process cannot read: Spark's log is left alone
            return True
    return any(name in text for text in texts for name in _LOG_PROPERTIES)


_JVM_VARIABLES: Final = ("SPARK_SUBMIT_OPTS", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS")
"""Variables whose JVM options reach the driver: a log configuration named in one
comes before or after tracekit's on its command line, so it is looked for."""


def _settings_lines(path: Path) -> list[str]:
    """The lines of a Spark settings file that are not comments; none if it is absent.

    Raises:
        OSError: It is there but cannot be read.
    """
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    return [line for line in text.splitlines() if not line.lstrip().startswith("#")]


def _conf_folder() -> Path | None:
    """The folder Spark reads ``spark-defaults.conf`` and ``log4j2.properties`` from."""
    import os

    if os.environ.get("SPARK_CONF_DIR"):
        return Path(os.environ["SPARK_CONF_DIR"])
    if os.environ.get("SPARK_HOME"):
        return Path(os.environ["SPARK_HOME"]) / "conf"
    try:
        import pyspark
    except ImportError:
        return None
    return Path(pyspark.__file__).parent / "conf"  # a pip install's SPARK_HOME


def default_session(master: str | None = None) -> SparkSession:
    """The active session, or a new one: ``master`` if given, else Spark's own
    configuration (run under ``spark-submit``, ``SPARK_REMOTE``, or ``spark.master``
    in the ``spark-defaults.conf`` of Spark's conf folder: ``$SPARK_CONF_DIR``, else
    ``$SPARK_HOME/conf``), else a local one (``local[*]``)."""
    if master is not None:
        if master.startswith("local"):
            return local_session(master)
        return _start(_builder().master(master).appName("tracekit"))
    builder = _builder()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if _configured_elsewhere():
        return _start(builder.appName("tracekit"))
    return local_session("local[*]")


def _configured_elsewhere() -> bool:
    import os

    if os.environ.get("PYSPARK_GATEWAY_PORT") or os.environ.get("SPARK_REMOTE"):
        return True  # launched by spark-submit, or Spark Connect
    folder = _conf_folder()
    lines = _settings_lines(folder / "spark-defaults.conf") if folder is not None else []
    return any(line.split()[:1] == ["spark.master"] for line in lines)


def _builder() -> SparkSession.Builder:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError(
            "the Spark engine needs pyspark: pip install 'tracekit[spark]' (and Java 17 or newer)"
        ) from None
    return SparkSession.builder


def _start(builder: SparkSession.Builder) -> SparkSession:
    try:
        return builder.getOrCreate()
    except Exception as error:  # pyspark raises a bare PySparkRuntimeError when Java is absent
        if "JAVA_GATEWAY_EXITED" in str(error) or "JAVA_HOME" in str(error):
            raise InputError(
                "Spark could not start its JVM; install Java 17 or newer (java -version) "
                "or set JAVA_HOME"
            ) from None
        raise


@dataclasses.dataclass(frozen=True)
class SparkTraces:
    """Golden traces read by Spark.

    Attributes:
        frame: Every record, in the schema of ``tracekit.store.schema``.
        files: The files read (local paths), or the URIs given.
        skipped: Local files left out with ``skip_bad``.
        metadata: Each local file's tracekit key-value metadata (empty for URIs).
    """

    frame: DataFrame
    files: tuple[str, ...]
    skipped: tuple[SkippedFile, ...] = ()
    metadata: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    @property
    def source(self) -> str:
        """The input in a few words, for messages and the profile's ``source``."""
        return self.files[0] if len(self.files) == 1 else f"{len(self.files)} files"

    @property
    def sample_rates(self) -> dict[str, float]:
        """Each run's sampling rate, from the local files' metadata."""
        rates: dict[str, float] = {}
        for meta in self.metadata.values():
            run, rate = meta.get(schema.META_RUN_ID), meta.get(schema.META_SAMPLE_RATE)
            if run is not None and rate is not None:
                rates[run] = float(rate)
        return rates


def read_traces(
    spark: SparkSession,
    paths: str | Path | Sequence[str | Path],
    *,
    skip_bad: bool = False,
    cache: bool = False,
) -> SparkTraces:
    """Read golden traces with Spark.

    Args:
        spark: The session to read with.
        paths: Local files, folders or globs, or ``s3://bucket/prefix`` locations
            (checked as by ``tracekit.load``; objects are read by
            :mod:`tracekit.spark.objects`), or other URIs Spark can read
            (``s3a://bucket/traces``), searched recursively.
        skip_bad: Leave out bad local files, and files holding a negative or null
            duration, instead of failing.
        cache: Keep the rows in Spark's cache (memory, spilling to disk) after the
            first pass, so the tables' later passes do not read the files again:
            worth it on one machine, where opening many small files dominates.

    Raises:
        InputError: A path is missing, a file is bad or holds a bad duration.
    """
    from pyspark.sql import functions as F

    from tracekit.store.location import is_object_url

    given = [paths] if isinstance(paths, str | Path) else paths
    items = [str(path).removeprefix("file://") for path in given]
    remote = [item for item in items if _URI.match(item) and not is_object_url(item)]
    if remote and len(remote) != len(items):
        raise InputError(
            "pass either paths tracekit checks (local files, s3://) or URIs Spark reads as "
            "they are (s3a://, hdfs://...) to the Spark engine, not both"
        )
    objects = any(is_object_url(item) for item in items)
    if objects:
        _require_data_sources()
    reader = spark.read.schema(spark_schema())
    if remote:
        try:
            frame = (
                reader.option("recursiveFileLookup", "true")
                .option("pathGlobFilter", "golden-*.parquet")
                .parquet(*remote)
            )
        except Exception as error:  # Py4JJavaError: Spark lists the files here
            raise _unreadable_scheme(remote[0], error) from None
        traces = SparkTraces(frame.withColumn(FILE_COLUMN, F.input_file_name()), tuple(remote))
        return _checked(traces, skip_bad=skip_bad, cache=cache)
    from tracekit.analysis.identity import duplicate_files
    from tracekit.analysis.sources import Sources, find_sources

    sources = find_sources(items, skip_bad=skip_bad)
    # What tracekit.load does: a file holding the same windows as another counts once.
    dropped = {duplicate.path for duplicate in duplicate_files(sources.files, sources.metadata)}
    if dropped:
        sources = Sources(
            tuple(path for path in sources.files if path not in dropped),
            sources.skipped,
            {path: meta for path, meta in sources.metadata.items() if path not in dropped},
        )
    _refuse_what_spark_cannot_match(sources.metadata)
    if objects:
        from tracekit.spark.objects import read_objects
        from tracekit.store.location import resolve_settings

        frame = read_objects(spark, sources.files, resolve_settings())
    else:
        frame = reader.parquet(
            *(_literal(str(Path(path).resolve())) for path in sources.files)
        ).withColumn(FILE_COLUMN, F.input_file_name())
    traces = SparkTraces(frame, sources.files, sources.skipped, sources.metadata)
    return _checked(traces, skip_bad=skip_bad, cache=cache)


def _unreadable_scheme(uri: str, error: Exception) -> Exception:
    """A Spark without a file system for ``uri``'s scheme as tracekit's InputError;
    any other failure as it is."""
    from tracekit.store.location import as_s3_url

    scheme, same = uri.partition("://")[0], as_s3_url(uri)
    if _NO_FILE_SYSTEM.search(str(error)):
        hint = (
            "put Hadoop's hadoop-aws jars and the AWS SDK on its class path, or pass "
            f"{same}, which tracekit reads itself"
            if same is not None
            else "add the file system's Hadoop connector to Spark, or copy the files"
        )
        return InputError(f"{uri}: this Spark cannot read {scheme}:// URIs; {hint}")
    return error


def _require_data_sources() -> None:
    """Refuse ``s3://`` before any object is listed when pyspark cannot read it."""
    import importlib.util

    if importlib.util.find_spec("pyspark.sql.datasource") is None:  # came with Spark 4.0
        raise InputError(
            "the Spark engine reads s3:// with pyspark 4.0 or newer: upgrade pyspark, "
            "or read s3a:// where the cluster has Hadoop's S3 connector"
        )


def _checked(traces: SparkTraces, *, skip_bad: bool, cache: bool) -> SparkTraces:
    """``traces`` (with :data:`FILE_COLUMN`) cached if asked, checked for bad
    durations, and without the file column.

    The cache comes first, so that the check's pass fills it and the tables' passes
    read no file again; the file column is taken before it (above a cache, Spark's
    ``input_file_name()`` is empty).
    """
    from tracekit.spark.read_errors import object_read_errors

    frame = traces.frame.cache() if cache else traces.frame
    with object_read_errors():
        checked = _without_bad_values(dataclasses.replace(traces, frame=frame), skip_bad=skip_bad)
    return dataclasses.replace(checked, frame=checked.frame.drop(FILE_COLUMN))


def _refuse_what_spark_cannot_match(metadata: dict[str, dict[str, str]]) -> None:
    """Refuse inputs for which the Spark engine's figures would differ from analyze's.

    analyze takes a file's run from its ``run_id=`` folder and weights sampled rows by
    ``1 / sample_rate`` when files of different rates are mixed; the Spark engine
    reads runs and rows as written, so it says so rather than give other figures.
    """
    from tracekit.analysis.identity import run_overrides

    overrides = run_overrides(metadata)
    if overrides:
        first = overrides[0]
        raise InputError(
            f"{first.path}: its run_id= folder names run {first.run_id} but its rows say "
            f"{first.rows_run_id}; the Spark engine reads runs as written: move the file "
            "or analyse it with the polars engine"
        )
    rates = {
        float(meta[schema.META_SAMPLE_RATE])
        for meta in metadata.values()
        if meta.get(schema.META_SAMPLE_RATE) is not None
    }
    if len(rates) > 1:
        shown = ", ".join(f"{rate:g}" for rate in sorted(rates))
        raise InputError(
            f"the files mix sample rates ({shown}); the Spark engine does not weight "
            "sampled rows by 1 / rate: analyse each rate apart or use the polars engine"
        )


_NO_FILE_SYSTEM: Final = re.compile(
    r"Class org\.apache\.hadoop\.\S*FileSystem not found|No FileSystem for scheme"
)
"""What Hadoop says of a scheme it has no file system class for."""
_HADOOP_GLOB: Final = re.compile(r"([\\{}\[\]*?])")


def _literal(path: str) -> str:
    """A file name as Hadoop takes it literally: its glob characters escaped
    (``run_id=canary[1]`` is a folder, not a pattern)."""
    return _HADOOP_GLOB.sub(r"\\\1", path)


def _without_bad_values(traces: SparkTraces, *, skip_bad: bool) -> SparkTraces:
    """Refuse (or with ``skip_bad`` drop) files with a negative or null duration, as
    ``tracekit.load`` does. A row's file is its :data:`FILE_COLUMN`; a local file is
    named by its path, as ``tracekit.load`` names it."""
    from pyspark.sql import functions as F

    file = F.col(FILE_COLUMN)
    timed = F.col("kind").isin(schema.KIND_TICK, schema.KIND_STAGE, schema.KIND_REQUEST)
    bad = F.col("duration_ns").isNull() | (F.col("duration_ns") < 0)
    found = (
        traces.frame.filter(timed & bad)
        .select(file.alias("file"), "kind", "duration_ns")
        .dropDuplicates(["file"])
        .collect()
    )
    if not found:
        return traces
    named = sorted(((_path_of(str(row["file"])), row) for row in found), key=lambda pair: pair[0])
    first, row = named[0]
    what = "null" if row["duration_ns"] is None else f"negative ({row['duration_ns']} ns)"
    reason = (
        f"{first}: a {row['kind']} row has a {what} duration; the file is corrupt or "
        "was not written by tracekit: remove it or pass `skip_bad=True`"
    )
    if not skip_bad:
        raise InputError(reason)
    from tracekit.analysis.sources import SkippedFile

    frame = traces.frame.filter(~file.isin([str(row["file"]) for row in found]))
    skipped = tuple(
        SkippedFile(name, f"{name}: a row has a negative or null duration") for name, _ in named
    )
    return dataclasses.replace(traces, frame=frame, skipped=(*traces.skipped, *skipped))


def _path_of(uri: str) -> str:
    """A local file's path from the ``file:`` URI Spark names it by; other URIs as
    they are."""
    if not uri.startswith("file:"):
        return uri
    import urllib.parse

    return urllib.parse.unquote(urllib.parse.urlsplit(uri).path)
