"""Golden traces on an object store (``s3://bucket/prefix``), read by Spark without
Hadoop's S3 connector (imported only when such a location is read: it needs pyspark).

Spark reads ``s3a://`` only with the ``hadoop-aws`` jars and the AWS SDK bundle
on its class path, which a pip-installed pyspark lacks. ``s3://`` locations are
read instead through a Python data source (:class:`GoldenObjects`, Spark 4's
``pyspark.sql.datasource``): the driver lists and checks the objects as
``tracekit.load`` does (footers, schema version, duplicate and compacted windows),
then every Spark task reads a slice of them with pyarrow's S3 file system,
streamed a batch at a time, in the schema of :func:`~tracekit.spark.reading.spark_schema`.

The executors reach the store at the driver's endpoint (AWS itself when the driver
has none) and region, passed with the query, and with the credentials of their own
environment: the AWS variables, ``~/.aws`` files, or an instance role (on a
cluster, the nodes' role or ``spark.executorEnv.*``). Credentials are never part
of the query (:func:`query_options`).

A failure to read an object in a task (the object deleted since it was checked,
the store unreachable, credentials refused) fails the Spark job;
:func:`~tracekit.spark.read_errors.object_read_errors` turns it into a one-line
:class:`~tracekit.errors.InputError` naming the object, as the polars readers'.
"""

from __future__ import annotations

import dataclasses
import json
import weakref
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition

from tracekit.errors import ConfigError
from tracekit.spark.read_errors import MARK, ObjectReadError
from tracekit.spark.reading import FILE_COLUMN, SPARK_COLUMNS, spark_schema
from tracekit.store import schema

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from tracekit.store.location import StoreSettings

SOURCE_NAME: Final = "tracekit_golden"
"""The data source's name in ``spark.read.format(...)``."""
BATCH_ROWS: Final = 65_536
"""Rows per Arrow batch a task hands to Spark: a task holds one batch, not a file."""
PARTITIONS_PER_CORE: Final = 2
"""Tasks per core of the session, at most (never more tasks than objects): a slow
object delays one small task, not a core's share."""
CONNECT_CORES: Final = 8
"""The cores assumed of a Spark Connect session, which does not tell its own."""
_NO_ENDPOINT: Final = ""
"""The ``endpoint_url`` option when the driver reads AWS itself."""

_registered: weakref.WeakSet[Any] = weakref.WeakSet()
"""Sessions the data source is registered in (Spark warns at a second registration)."""


def read_objects(spark: SparkSession, urls: Sequence[str], settings: StoreSettings) -> DataFrame:
    """Every row of the ``s3://`` objects ``urls`` (already checked), with
    :data:`FILE_COLUMN` naming each row's object.

    Args:
        spark: The session; the data source is registered in it.
        urls: The objects, in order; each task reads consecutive ones.
        settings: The store the driver reads (its endpoint and region go to the
            executors, never its credentials).
    """
    if spark not in _registered:
        spark.dataSource.register(GoldenObjects)
        _registered.add(spark)
    options = query_options(urls, settings, _partition_count(spark, len(urls)))
    return spark.read.format(SOURCE_NAME).options(**options).load()


def query_options(urls: Sequence[str], settings: StoreSettings, partitions: int) -> dict[str, str]:
    """The data source's options: the objects, the tasks, the store's endpoint and
    region. Nothing else of ``settings``: the options are part of the query."""
    return {
        "urls": json.dumps(list(urls)),
        "partitions": str(partitions),
        "endpoint_url": settings.endpoint_url or _NO_ENDPOINT,
        "region": settings.region,
    }


def _partition_count(spark: SparkSession, objects: int) -> int:
    try:
        cores = int(spark.sparkContext.defaultParallelism)
    except Exception:  # Spark Connect has no SparkContext
        cores = CONNECT_CORES
    return max(1, min(objects, PARTITIONS_PER_CORE * cores))


def source_schema() -> StructType:
    """The data source's rows: the golden schema and :data:`FILE_COLUMN`."""
    from pyspark.sql import types as T

    return T.StructType([*spark_schema().fields, T.StructField(FILE_COLUMN, T.StringType(), False)])


def arrow_schema() -> pa.Schema:
    """:func:`source_schema` as pyarrow, the types each batch is built in."""
    import pyarrow as pa

    golden = schema.arrow_schema(added=True)
    fields = [golden.field(column.name) for column in SPARK_COLUMNS]
    return pa.schema([*fields, pa.field(FILE_COLUMN, pa.string(), nullable=False)])


class _Slice(InputPartition):
    """The objects one task reads."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__(urls)
        self.urls = urls


class GoldenObjects(DataSource):
    """Golden traces on an S3-compatible store, as a Spark batch source.

    Options: ``urls`` (a JSON list of ``s3://`` objects), ``partitions`` (tasks),
    ``endpoint_url`` and ``region`` (of the store).
    """

    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    def schema(self) -> StructType:
        return source_schema()

    def reader(self, schema: StructType) -> _ObjectReader:
        options = dict(self.options)
        return _ObjectReader(
            json.loads(options["urls"]),
            int(options.get("partitions", "1")),
            options.get("endpoint_url") or None,
            options.get("region"),
        )


class _ObjectReader(DataSourceReader):
    def __init__(
        self, urls: list[str], partitions: int, endpoint_url: str | None, region: str | None
    ) -> None:
        self.urls = urls
        self.count = max(1, min(partitions, len(urls)))
        self.endpoint_url = endpoint_url
        self.region = region

    def __getstate__(self) -> dict[str, Any]:
        """Without the objects: Spark pickles the reader into every task's command,
        and each task's objects come with its partition (a fleet's list is megabytes)."""
        return {**self.__dict__, "urls": []}

    def partitions(self) -> list[_Slice]:
        size, extra = divmod(len(self.urls), self.count)
        slices = []
        start = 0
        for index in range(self.count):
            end = start + size + (1 if index < extra else 0)
            slices.append(_Slice(self.urls[start:end]))
            start = end
        return slices

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        from tracekit.store.location import reader_filesystem, resolve_settings

        assert isinstance(partition, _Slice)
        try:  # the credentials of this executor's environment, the driver's endpoint
            settings = dataclasses.replace(
                resolve_settings(region=self.region), endpoint_url=self.endpoint_url
            )
        except ConfigError as error:  # the executor's own AWS files
            raise ObjectReadError(f"{MARK}{error} (on a Spark executor)") from None
        filesystem = reader_filesystem(settings)
        target = arrow_schema()
        for url in partition.urls:
            yield from _batches(url, filesystem, settings, target)


def _batches(
    url: str, filesystem: Any, settings: StoreSettings, target: pa.Schema
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tracekit.store.location import parse_object_url, store_error

    try:
        with filesystem.open_input_file(parse_object_url(url).path) as handle:
            parquet = pq.ParquetFile(handle)
            present = set(parquet.schema_arrow.names)
            names = [field.name for field in target if field.name in present]
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=names):
                rows = batch.num_rows
                columns = [
                    batch.column(field.name).cast(field.type)
                    if field.name in present
                    else pa.nulls(rows, field.type)
                    for field in target
                    if field.name != FILE_COLUMN
                ]
                columns.append(pa.array([url] * rows, pa.string()))
                yield pa.RecordBatch.from_arrays(columns, schema=target)
    except FileNotFoundError:
        raise ObjectReadError(
            f"{MARK}{url}: the object is gone since it was checked; "
            "run again once the dataset is settled"
        ) from None
    except OSError as error:
        told = f"{store_error(url, error, settings)} (read by a Spark task, its own credentials)"
        raise ObjectReadError(f"{MARK}{told}") from None
    except (pa.ArrowException, ValueError) as error:
        detail = " ".join(str(error).split())[:200]
        raise ObjectReadError(
            f"{MARK}{url}: the data cannot be read ({detail}); the object changed since "
            "it was checked or is corrupt: remove it from the selection"
        ) from None
