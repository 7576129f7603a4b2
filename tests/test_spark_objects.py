"""The Spark engine on an object store: ``s3://`` read by Spark tasks, equal to polars.

A real S3-compatible server (SeaweedFS, :mod:`s3_server`) on 127.0.0.1 and pyspark
in local mode. Spark reads ``s3://`` objects through tracekit's data source
(``tracekit.spark.objects``, no Hadoop S3 connector); every figure of every analyze
table and the profile must equal what the polars engine computes from the same
objects. The tasks get their credentials from their own environment
(``spark.executorEnv.*`` here), the driver from the AWS variables.
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest
from cli_helpers import SAMPLES
from hostile import negative_duration_run, write_window
from s3_server import ACCESS_KEY, BUCKET, SECRET_KEY, S3Server, client_env, free_port, upload
from spark_helpers import TABLES, TOLERANCE, assert_frames_close, start_session
from typer.testing import CliRunner

import tracekit
from tracekit.cli import app
from tracekit.decisions.profile import profile_from_traces
from tracekit.errors import InputError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.slow  # a JVM and an S3 server start once for the module


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with pytest.MonkeyPatch.context() as patch:
        running = S3Server(tmp_path_factory.mktemp("seaweedfs"))
        running.start()
        aws = tmp_path_factory.mktemp("aws")
        for name, value in {
            **client_env(running),
            "AWS_CONFIG_FILE": str(aws / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(aws / "no-credentials"),
        }.items():
            patch.setenv(name, value)
        for name in ("AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            patch.delenv(name, raising=False)
        try:
            yield running
        finally:
            running.stop(graceful=True)


@pytest.fixture(scope="module")
def spark(server: S3Server) -> Iterator[SparkSession]:
    # The tasks' own environment: no endpoint there, it comes with the query.
    session = start_session(
        {
            "spark.executorEnv.AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "spark.executorEnv.AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def samples(server: S3Server) -> str:
    return upload(server, SAMPLES, "samples")


def test_every_table_and_the_profile_from_the_store_equal_polars(
    spark: SparkSession, samples: str
) -> None:
    from tracekit.spark import read_traces
    from tracekit.spark.profile import profile_traces
    from tracekit.spark.tables import analyze_traces

    traces = read_traces(spark, samples, cache=True)
    ours = analyze_traces(traces)
    loaded = tracekit.load(samples)
    theirs = loaded.analyze(self_time=False)  # the Spark engine: inclusive time
    for table in TABLES:
        assert_frames_close(table, getattr(ours, table), getattr(theirs, table))
    assert ours.files == theirs.files
    assert all(path.startswith(f"s3://{BUCKET}/samples/") for path in ours.files)
    assert len(ours.files) == len(list(SAMPLES.rglob("*.parquet")))
    assert (ours.runs, ours.sample_rates) == (theirs.runs, theirs.sample_rates)
    assert ours.stages.height >= 5
    assert ours.guards.height > 0
    assert ours.requests.height > 0

    profile, reference = profile_traces(traces), profile_from_traces(loaded)
    traces.frame.unpersist()
    assert profile.runs == reference.runs  # blocks, counts, every histogram bucket
    assert len(profile.runs) == len(loaded.runs) > 1
    for stage, figures in reference.exact.items():
        for label, value in figures.items():
            assert math.isclose(profile.exact[stage][label], value, rel_tol=TOLERANCE)


def test_cli_engine_spark_reads_the_store(samples: str, spark: SparkSession) -> None:
    runner = CliRunner()
    location = f"{samples}/current"
    result = runner.invoke(app, ["analyze", location, "--engine", "spark", "-f", "json"])
    assert result.exit_code == 0, result.output
    polars_result = runner.invoke(app, ["analyze", location, "--no-self-time", "-f", "json"])
    assert polars_result.exit_code == 0, polars_result.output
    ours, theirs = json.loads(result.stdout), json.loads(polars_result.stdout)
    assert ours.keys() == theirs.keys()
    for table in ("stages", "deadline", "guards", "requests", "attribution", "parallel_symbols"):
        assert len(ours[table]) == len(theirs[table]) > 0, table
        for mine, reference in zip(ours[table], theirs[table], strict=True):
            for key, value in mine.items():
                if isinstance(value, float):
                    assert math.isclose(value, reference[key], rel_tol=TOLERANCE), (table, key)
                else:
                    assert value == reference[key], (table, key)


def test_the_query_carries_the_endpoint_but_never_the_credentials() -> None:
    pytest.importorskip("pyspark")
    from tracekit.spark.objects import query_options
    from tracekit.store.location import StoreSettings

    urls = ["s3://b/run_id=r/golden-000001.parquet"]
    settings = StoreSettings("http://127.0.0.1:9", "eu-west-3", "key-id", "the-secret", "tok")
    options = query_options(urls, settings, 3)
    assert options == {
        "urls": json.dumps(urls),
        "partitions": "3",
        "endpoint_url": "http://127.0.0.1:9",
        "region": "eu-west-3",
    }
    aws = query_options(urls, StoreSettings(region="us-east-1"), 1)
    assert aws["endpoint_url"] == ""  # AWS itself, whatever the executors' variables say


def test_a_task_reads_with_its_own_credentials_at_the_drivers_endpoint(
    server: S3Server, samples: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a Spark task runs, in this process: the endpoint comes with the query, so
    an executor without AWS_ENDPOINT_URL still reaches the driver's store."""
    pytest.importorskip("pyspark")
    import pyarrow.parquet as pq

    from tracekit.spark.objects import _ObjectReader, _Slice, arrow_schema

    local = sorted((SAMPLES / "current").rglob("*.parquet"))[0]
    url = f"{samples}/current/{local.relative_to(SAMPLES / 'current').as_posix()}"
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    reader = _ObjectReader([url], 1, server.endpoint, "us-east-1")
    batches = list(reader.read(_Slice([url])))
    assert all(batch.schema.equals(arrow_schema()) for batch in batches)
    rows = pa.Table.from_batches(batches)
    expected = pq.read_table(local)
    assert rows.num_rows == expected.num_rows > 0
    for name in expected.column_names:
        assert rows.column(name).to_pylist() == expected.column(name).to_pylist(), name
    assert set(rows.column("_tracekit_file").to_pylist()) == {url}

    from tracekit.spark.read_errors import MARK, ObjectReadError

    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ObjectReadError) as unreachable:
        list(_ObjectReader([url], 1, closed, "us-east-1").read(_Slice([url])))
    told = str(unreachable.value)
    assert told.startswith(f"{MARK}{url}: cannot reach the object store at {closed}")
    assert told.endswith("(read by a Spark task, its own credentials)")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(ObjectReadError) as refused:
        list(reader.read(_Slice([url])))
    assert "refused the credentials" in str(refused.value)
    assert "not-the-secret" not in str(refused.value)


def test_a_bad_duration_on_the_store_is_named_or_skipped(
    spark: SparkSession, server: S3Server, tmp_path: Path
) -> None:
    from tracekit.spark import analyze

    local = tmp_path / "bad"
    bad = negative_duration_run(local / "run_id=r")
    location = upload(server, local, "bad")
    bad_url = f"{location}/run_id=r/{bad.name}"
    with pytest.raises(InputError) as refused:
        analyze(spark, location)
    assert str(refused.value).startswith(f"{bad_url}: a stage row has a negative (-5 ns) duration")

    ours = analyze(spark, location, skip_bad=True)
    theirs = tracekit.load(location, skip_bad=True).analyze(self_time=False)
    assert [skipped.path for skipped in ours.skipped] == [bad_url]
    assert [skipped.path for skipped in theirs.skipped] == [bad_url]
    for table in TABLES:
        assert_frames_close(table, getattr(ours, table), getattr(theirs, table))
    assert int(ours.deadline["ticks"][0]) == 20


def test_an_object_gone_after_its_check_is_one_error_naming_it(
    spark: SparkSession, server: S3Server, tmp_path: Path
) -> None:
    from tracekit.spark import read_traces
    from tracekit.spark.tables import analyze_traces

    local = tmp_path / "gone"
    for window in (1, 2, 3):
        write_window(local / "run_id=r", window)
    location = upload(server, local, "gone")
    traces = read_traces(spark, location)  # checked, and read once for bad durations
    victim = traces.files[1]
    server.filesystem().delete_file(victim.removeprefix("s3://"))
    with pytest.raises(InputError) as failed:
        analyze_traces(traces)
    message = str(failed.value)
    assert message == (
        f"{victim}: the object is gone since it was checked; run again once the dataset is settled"
    )
    assert "\n" not in message


@pytest.fixture(scope="module")
def nested(server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A simulated run that records its spans' parents (span_id, parent_span_id)."""
    from tracekit import TraceConfig
    from tracekit.sim import SimulationSpec, simulate

    local = tmp_path_factory.mktemp("nested")
    config = TraceConfig(
        output_dir=str(local), golden_trace_interval=60, sample_rate=0.5, record_parents=True
    )
    simulate(SimulationSpec(ticks=300, seed=5, spike_probability=0.05), config, run_id="nest")
    return upload(server, local, "nested")


def test_recorded_parents_are_read_from_the_store(spark: SparkSession, nested: str) -> None:
    from pyspark.sql import functions as F

    from tracekit.spark import read_traces
    from tracekit.spark.tables import analyze_traces

    traces = read_traces(spark, nested)
    assert "_tracekit_file" not in traces.frame.columns
    recorded = traces.frame.filter(F.col("parent_span_id").isNotNull()).count()
    assert recorded > 0  # the columns are read, not made null
    ours = analyze_traces(traces)
    theirs = tracekit.load(nested).analyze(self_time=False)
    for table in TABLES:
        assert_frames_close(table, getattr(ours, table), getattr(theirs, table))
    assert ours.attribution.height > 0


def test_s3_before_pyspark_4_is_refused_before_any_listing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    from tracekit.spark import reading

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *rest: None if name == "pyspark.sql.datasource" else real(name, *rest),
    )

    class NoSession:  # a listing or a read would need a real one
        pass

    with pytest.raises(InputError, match=r"reads s3:// with pyspark 4\.0 or newer"):
        reading.read_traces(NoSession(), "s3://nowhere/at-all")  # type: ignore[arg-type]


def test_tasks_read_consecutive_slices_of_every_object() -> None:
    pytest.importorskip("pyspark")
    from tracekit.spark.objects import _ObjectReader

    urls = [f"s3://b/run_id=r/golden-{n:06d}.parquet" for n in range(1, 12)]
    for count in (1, 2, 3, 4, 11, 40):
        slices = [part.urls for part in _ObjectReader(urls, count, None, None).partitions()]
        assert [url for part in slices for url in part] == urls  # each once, in order
        assert len(slices) == min(count, len(urls))
        assert max(map(len, slices)) - min(map(len, slices)) <= 1
    # What each task receives: the reader without the list, its slice as its partition.
    reader = _ObjectReader(urls * 1000, 4, None, "us-east-1")
    shipped = pickle.dumps(reader)
    assert len(shipped) < 1000
    assert pickle.loads(shipped).urls == []
    assert len(reader.partitions()) == 4  # the reader Spark plans with keeps them


def test_only_a_task_failure_tracekit_marked_becomes_an_input_error() -> None:
    from tracekit.spark.read_errors import MARK, object_read_errors

    spark_said = f"Job aborted\n  File read\n{MARK}s3://b/k.parquet: gone; run again\n  at org"
    told = r"^s3://b/k\.parquet: gone; run again$"
    with pytest.raises(InputError, match=told), object_read_errors():
        raise RuntimeError(spark_said)
    with pytest.raises(RuntimeError, match=r"^a bug$"), object_read_errors():
        raise RuntimeError("a bug")
