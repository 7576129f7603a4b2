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
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest
from cli_helpers import SAMPLES
from hostile import base_table, with_metadata, write_window
from s3_server import ACCESS_KEY, BUCKET, SECRET_KEY, S3Server
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
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_ENDPOINT_URL": running.endpoint,
            "AWS_REGION": "us-east-1",
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


def upload(server: S3Server, local: Path, prefix: str) -> str:
    """Every Parquet file under ``local`` copied to ``prefix``; the location."""
    filesystem = server.filesystem()
    for path in sorted(local.rglob("*.parquet")):
        key = f"{BUCKET}/{prefix}/{path.relative_to(local).as_posix()}"
        with filesystem.open_output_stream(key) as sink:
            sink.write(path.read_bytes())
    return f"s3://{BUCKET}/{prefix}"


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


def test_the_query_carries_the_endpoint_but_never_the_credentials(
    spark: SparkSession, samples: str, server: S3Server, capsys: pytest.CaptureFixture[str]
) -> None:
    from tracekit.spark import read_traces

    traces = read_traces(spark, f"{samples}/baseline")
    traces.frame.explain(mode="extended")
    plan = capsys.readouterr().out
    assert "tracekit_golden" in plan or "GoldenObjects" in plan
    assert SECRET_KEY not in plan
    assert ACCESS_KEY not in plan


def _bad_window(folder: Path) -> Path:
    """Window 2 of run ``r`` with a negative stage duration (windows 1 and 3 good)."""
    write_window(folder, 1)
    write_window(folder, 3)
    table = base_table(first_tick=11)
    durations = table.column("duration_ns").to_pylist()
    durations[1] = -5
    index = table.schema.get_field_index("duration_ns")
    table = table.set_column(index, table.schema.field(index), pa.array(durations, pa.int64()))
    return write_window(folder, 2, with_metadata(table, window=b"2"))


def test_a_bad_duration_on_the_store_is_named_or_skipped(
    spark: SparkSession, server: S3Server, tmp_path: Path
) -> None:
    from tracekit.spark import analyze

    local = tmp_path / "bad"
    bad = _bad_window(local / "run_id=r")
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


def test_tasks_read_consecutive_slices_of_every_object() -> None:
    pytest.importorskip("pyspark")
    from tracekit.spark.objects import _ObjectReader

    urls = [f"s3://b/run_id=r/golden-{n:06d}.parquet" for n in range(1, 12)]
    for count in (1, 2, 3, 4, 11, 40):
        slices = [part.urls for part in _ObjectReader(urls, count, None, None).partitions()]
        assert [url for part in slices for url in part] == urls  # each once, in order
        assert len(slices) == min(count, len(urls))
        assert max(map(len, slices)) - min(map(len, slices)) <= 1


def test_only_a_task_failure_tracekit_marked_becomes_an_input_error() -> None:
    from tracekit.spark.read_errors import MARK, object_read_errors

    spark_said = f"Job aborted\n  File read\n{MARK}s3://b/k.parquet: gone; run again\n  at org"
    told = r"^s3://b/k\.parquet: gone; run again$"
    with pytest.raises(InputError, match=told), object_read_errors():
        raise RuntimeError(spark_said)
    with pytest.raises(RuntimeError, match=r"^a bug$"), object_read_errors():
        raise RuntimeError("a bug")
