"""``tracekit.spark``: the analyze tables and the profile, by Spark, equal to polars'.

pyspark runs in local mode (``local[2]``), one session for the whole module. Every
figure of every analyze table is checked against ``tracekit.load(...).analyze()``
to 1e-9, and the profile's blocks and histograms must equal the polars profile's,
on ``samples/`` and on a simulated dataset (``tracekit simulate``).

Locally these tests skip when pyspark or Java is missing; CI sets
TRACEKIT_REQUIRE_SPARK=1 (``.ci/run`` installs ``tracekit[spark]``), so there they
fail instead.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest
from cli_helpers import SAMPLES
from spark_helpers import TABLES, TOLERANCE, assert_frames_close, start_session
from typer.testing import CliRunner

import tracekit
from tracekit.analysis import Analysis
from tracekit.cli import app
from tracekit.decisions.gate import compare_profiles
from tracekit.decisions.policy import GatePolicy
from tracekit.decisions.profile import Profile, profile_from_traces, read_profile
from tracekit.errors import InputError
from tracekit.store import schema

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


pytestmark = pytest.mark.slow  # a JVM starts once for the module (about 10-30 s)


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    session = start_session()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated runs with misses, guard trips and requests."""
    root = tmp_path_factory.mktemp("simulated")
    runner = CliRunner()
    slower = ["--slow", "spread=+30%", "--spike-probability", "0.03"]
    for seed, extra in ((1, []), (2, [*slower, "--run-id", "sim-2"])):
        result = runner.invoke(
            app,
            ["simulate", "-o", str(root), "--ticks", "1200", "--seed", str(seed), *extra],
        )
        assert result.exit_code == 0, result.output
    return root


@dataclasses.dataclass(frozen=True)
class Computed:
    """One dataset's figures by both engines, computed once for the module."""

    path: Path
    spark_analysis: Analysis
    spark_profile: Profile
    polars_traces: tracekit.TraceSet
    polars_analysis: Analysis
    polars_profile: Profile


@pytest.fixture(scope="module")
def computed(spark: SparkSession, simulated: Path) -> dict[str, Computed]:
    from tracekit.spark import read_traces
    from tracekit.spark.profile import profile_traces
    from tracekit.spark.tables import analyze_traces

    result = {}
    for name, path in (("samples", SAMPLES), ("simulated", simulated)):
        traces = read_traces(spark, path, cache=True)
        loaded = tracekit.load(path)
        result[name] = Computed(
            path,
            analyze_traces(traces),
            profile_traces(traces),
            loaded,
            loaded.analyze(self_time=False),  # the Spark engine: inclusive time
            profile_from_traces(loaded),
        )
        traces.frame.unpersist()
    return result


@pytest.mark.parametrize("dataset", ["samples", "simulated"])
def test_every_analyze_table_equals_polars(computed: dict[str, Computed], dataset: str) -> None:
    ours, theirs = computed[dataset].spark_analysis, computed[dataset].polars_analysis
    for table in TABLES:
        assert_frames_close(f"{dataset}:{table}", getattr(ours, table), getattr(theirs, table))
    assert ours.stages.height >= 5
    assert ours.attribution.height > 0
    assert ours.guards.height > 0
    assert (ours.runs, ours.sample_rates, ours.files) == (
        theirs.runs,
        theirs.sample_rates,
        theirs.files,
    )


@pytest.mark.parametrize("dataset", ["samples", "simulated"])
def test_profile_blocks_and_histograms_equal_polars(
    computed: dict[str, Computed], dataset: str
) -> None:
    ours, theirs = computed[dataset].spark_profile, computed[dataset].polars_profile
    assert ours.runs == theirs.runs  # blocks, counts and every histogram bucket
    assert sum(len(run.blocks) for run in theirs.runs) > len(theirs.runs)
    assert ours.source == theirs.source
    assert ours.deadline_ms == pytest.approx(theirs.deadline_ms, rel=TOLERANCE)
    assert ours.exact.keys() == theirs.exact.keys()
    for stage, figures in theirs.exact.items():
        assert ours.exact[stage].keys() == figures.keys(), stage
        for label, value in figures.items():
            assert math.isclose(ours.exact[stage][label], value, rel_tol=TOLERANCE), stage

    document, reference = ours.to_dict(), theirs.to_dict()
    assert document["version"] == reference["version"] == 2
    close = ("deadline_ms", "exact_percentiles", "stage_percentiles")
    assert {k: v for k, v in document.items() if k not in close} == {
        k: v for k, v in reference.items() if k not in close
    }


def _runs(profile: Profile, prefix: str) -> Profile:
    return Profile([run for run in profile.runs if run.run_id.startswith(prefix)], prefix)


def test_a_spark_profile_gates_like_the_polars_one(
    computed: dict[str, Computed], tmp_path: Path
) -> None:
    built, polars_side = computed["samples"].spark_profile, computed["samples"].polars_profile
    path = tmp_path / "fleet.json"
    built.write(path)
    document = json.loads(path.read_text())
    assert (document["format"], document["version"]) == ("tracekit.profile", 2)
    assert document["deadline_ms"] == 200.0
    assert read_profile(path).runs == built.runs

    policy = GatePolicy()
    baseline, current = _runs(built, "baseline"), _runs(built, "current")
    ours = compare_profiles(baseline, current, policy)
    theirs = compare_profiles(_runs(polars_side, "baseline"), _runs(polars_side, "current"), policy)
    assert ours.verdict == theirs.verdict
    assert [m.verdict for m in ours.metrics] == [m.verdict for m in theirs.metrics]
    for mine, reference in zip(ours.metrics, theirs.metrics, strict=True):
        assert (mine.stage, mine.metric) == (reference.stage, reference.metric)
        for field in ("baseline", "current", "change", "low", "high"):
            a, b = getattr(mine, field), getattr(reference, field)
            assert (a is None) == (b is None)
            if a is not None:
                assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12), (mine.stage, field)

    # The file gates on the command line like any profile.
    result = CliRunner().invoke(app, ["compare", str(path), str(path), "-f", "json"])
    assert result.exit_code in (0, 3), result.output
    assert json.loads(result.stdout)["verdict"] in ("PASS", "INCONCLUSIVE")


def test_cli_engine_spark_analyze_and_profile(
    spark: SparkSession, simulated: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["analyze", str(simulated), "--engine", "spark", "-f", "json"])
    assert result.exit_code == 0, result.output
    # The Spark engine's stage table is inclusive time: compare it without self time.
    polars_result = runner.invoke(app, ["analyze", str(simulated), "--no-self-time", "-f", "json"])
    ours, theirs = json.loads(result.stdout), json.loads(polars_result.stdout)
    assert ours.keys() == theirs.keys()
    for table in ("stages", "deadline", "guards", "requests", "attribution", "parallel_symbols"):
        assert len(ours[table]) == len(theirs[table])
        for mine, reference in zip(ours[table], theirs[table], strict=True):
            assert mine.keys() == reference.keys()
            for key, value in mine.items():
                if isinstance(value, float):
                    assert math.isclose(value, reference[key], rel_tol=TOLERANCE), (table, key)
                else:
                    assert value == reference[key], (table, key)

    output = tmp_path / "profile.json"
    result = runner.invoke(app, ["profile", str(simulated), "--engine", "spark", "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Wrote {output}: 2,400 ticks, 2 run(s)")
    assert json.loads(output.read_text())["version"] == 2


@pytest.mark.parametrize("option", [["--by", "run"], ["--every", "1m"], ["--stage", "spread"]])
def test_options_the_spark_engine_does_not_support_are_refused(
    simulated: Path, option: list[str]
) -> None:
    result = CliRunner().invoke(app, ["analyze", str(simulated), "--engine", "spark", *option])
    assert isinstance(result.exception, InputError)
    assert "not supported with --engine spark" in str(result.exception)


def test_dataset_helpers_keep_run_id_a_string(spark: SparkSession) -> None:
    from tracekit.spark.reading import spark_schema

    assert spark_schema()["run_id"].dataType.simpleString() == "string"
    names = [*schema.COLUMN_NAMES, *schema.NESTING_COLUMNS]
    assert [field.name for field in spark_schema().fields] == names


def test_attribution_uses_recorded_parents_and_reads_old_files(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Spark's attribution is analyze's: exact from span_id/parent_span_id, and the
    same inferred figures for files written before those columns."""
    from test_nesting import TICKS, run_program, strip_added_columns

    from tracekit import TraceConfig, Tracer, VirtualClock
    from tracekit.spark import read_traces
    from tracekit.spark.tables import attribution_table

    dominant = {}
    for name, old in (("new", False), ("old", True)):
        root = tmp_path / name
        clock = VirtualClock()
        config = TraceConfig(
            output_dir=str(root),
            run_id=f"{name}-run",
            sample_rate=1.0,
            deadline_ms=20.0,
            golden_trace_interval=2,
            record_parents=True,
        )
        tracer = Tracer(config, clock=clock)
        run_program(tracer, clock)
        tracer.close()
        if old:
            strip_added_columns(root)
        ours = attribution_table(read_traces(spark, root).frame)
        assert_frames_close(f"{name}:attribution", ours, tracekit.load(root).attribution())
        dominant[name] = ours.filter(pl.col("ticks_dominated") == TICKS)["component"].item()
    assert dominant == {"new": "request:book", "old": "emit"}


def test_spark_own_configuration_decides_the_master_when_none_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracekit.spark.reading import _configured_elsewhere

    for name in ("PYSPARK_GATEWAY_PORT", "SPARK_REMOTE", "SPARK_HOME", "SPARK_CONF_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert not _configured_elsewhere()
    (tmp_path / "conf").mkdir()
    defaults = tmp_path / "conf" / "spark-defaults.conf"
    defaults.write_text("spark.executor.memory 4g\n")
    monkeypatch.setenv("SPARK_HOME", str(tmp_path))
    assert not _configured_elsewhere()
    defaults.write_text("# spark.master   yarn\n")  # a comment
    assert not _configured_elsewhere()
    defaults.write_text("spark.master   yarn\n")
    assert _configured_elsewhere()
    # SPARK_CONF_DIR, as for Spark itself, is where spark-defaults.conf is read.
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    assert not _configured_elsewhere()
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path / "conf"))
    assert _configured_elsewhere()
    monkeypatch.delenv("SPARK_CONF_DIR")
    monkeypatch.delenv("SPARK_HOME")
    monkeypatch.setenv("SPARK_REMOTE", "sc://localhost")
    assert _configured_elsewhere()


def test_local_file_names_reach_spark_literally() -> None:
    """A folder named with glob characters (written by hand: the tracer refuses such
    run ids) is escaped for Hadoop, so Spark reads that folder and no other."""
    from tracekit.spark.reading import _literal

    assert _literal("/t/run_id=canary[1]/golden-000001.parquet") == (
        "/t/run_id=canary\\[1\\]/golden-000001.parquet"
    )
    assert _literal("/t/a*b?{c}") == "/t/a\\*b\\?\\{c\\}"


@pytest.mark.parametrize("cache", [False, True])
def test_a_bad_duration_in_a_local_file_is_named_cached_or_not(
    spark: SparkSession, tmp_path: Path, cache: bool
) -> None:
    """The rows' file is taken before Spark's cache (above it, ``input_file_name()``
    is empty), so the error names the file either way."""
    from hostile import negative_duration_run

    from tracekit.spark import read_traces

    root = tmp_path / "traces 1%"  # quoted in Spark's file: URI
    bad = negative_duration_run(root / "run_id=r")
    with pytest.raises(InputError) as refused:
        read_traces(spark, root, cache=cache)
    assert str(refused.value).startswith(f"{bad}: a stage row has a negative (-5 ns)")
    kept = read_traces(spark, root, cache=cache, skip_bad=True)
    assert [skipped.path for skipped in kept.skipped] == [str(bad)]
    assert kept.frame.filter("kind = 'tick'").count() == 20
    assert kept.frame.columns == [field.name for field in kept.frame.schema.fields]
    assert "_tracekit_file" not in kept.frame.columns
    kept.frame.unpersist()
    as_uri = read_traces(spark, f"file://{root}", skip_bad=True)  # a file: URI is a path
    assert (as_uri.files, as_uri.skipped) == (kept.files, kept.skipped)


@pytest.mark.parametrize(
    ("uri", "told"),
    [
        ("s3a://traces/fleet", "put Hadoop's hadoop-aws jars and the AWS SDK on its class path"),
        ("gs://traces/fleet", "add the file system's Hadoop connector to Spark"),
    ],
)
def test_a_scheme_this_spark_cannot_read_is_one_error(
    spark: SparkSession, uri: str, told: str
) -> None:
    from tracekit.spark import read_traces

    scheme = uri.partition("://")[0]
    with pytest.raises(InputError) as refused:
        read_traces(spark, uri)
    message = str(refused.value)
    assert message.startswith(f"{uri}: this Spark cannot read {scheme}:// URIs; {told}")
    assert "\n" not in message


@pytest.mark.parametrize("command", ["analyze", "profile"])
def test_a_missing_path_fails_before_spark_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    import tracekit.spark

    def no_spark(master: str | None = None) -> None:
        raise AssertionError("Spark was started for a path that does not exist")

    monkeypatch.setattr(tracekit.spark, "default_session", no_spark)
    missing = tmp_path / "nowhere"
    extra = ["-o", str(tmp_path / "p.json")] if command == "profile" else []
    result = CliRunner().invoke(app, [command, str(missing), "--engine", "spark", *extra])
    assert isinstance(result.exception, InputError), result.exception  # not Spark's start
    assert str(result.exception) == f"{missing}: no such file or folder; check the path"


def test_a_local_session_logs_errors_only_unless_the_user_chose_a_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from tracekit.spark import reading

    for name in (
        *("SPARK_CONF_DIR", "SPARK_HOME", "LOG4J_CONFIGURATION_FILE"),
        *("SPARK_SUBMIT_OPTS", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS"),
    ):
        monkeypatch.delenv(name, raising=False)
    conf = tmp_path / "conf"
    conf.mkdir()
    monkeypatch.setenv("SPARK_CONF_DIR", str(conf))
    shipped = tmp_path / "site packages" / "log4j2.properties"  # a space in the path
    shipped.parent.mkdir()
    shipped.write_text(reading.LOG_CONFIG.read_text())
    monkeypatch.setattr(reading, "LOG_CONFIG", shipped)
    ours = f"-Dlog4j2.configurationFile={shipped.as_uri()}"
    assert " " not in ours

    def submit_options(config: dict[str, str]) -> str | None:
        with reading._quiet_log(config):
            return os.environ.get("SPARK_SUBMIT_OPTS")

    assert submit_options({}) == ours
    assert os.environ.get("SPARK_SUBMIT_OPTS") is None  # set back once started
    with pytest.raises(RuntimeError), reading._quiet_log({}):
        raise RuntimeError("the JVM did not start")
    assert os.environ.get("SPARK_SUBMIT_OPTS") is None  # and when it did not
    monkeypatch.setenv("SPARK_SUBMIT_OPTS", "-Xss4m")
    assert submit_options({}) == f"{ours} -Xss4m"
    assert os.environ["SPARK_SUBMIT_OPTS"] == "-Xss4m"
    monkeypatch.delenv("SPARK_SUBMIT_OPTS")
    # The user's driver options are not touched: theirs come after SPARK_SUBMIT_OPTS.
    assert submit_options({"spark.driver.extraJavaOptions": "-XX:+UseSerialGC"}) == ours
    # A log configuration of the user's own is left alone, wherever it is chosen.
    mine = "-Dlog4j.configurationFile=file:/etc/mine.properties"  # the older name too
    assert submit_options({"spark.driver.extraJavaOptions": mine}) is None
    monkeypatch.setenv("SPARK_SUBMIT_OPTS", mine)
    assert submit_options({}) == mine
    monkeypatch.delenv("SPARK_SUBMIT_OPTS")
    for variable in ("LOG4J_CONFIGURATION_FILE", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS"):
        monkeypatch.setenv(variable, mine if variable.startswith("J") else "/etc/mine.xml")
        assert submit_options({}) is None, variable
        monkeypatch.delenv(variable)
    for name in ("spark-defaults.conf", "java-opts"):
        (conf / name).write_text(f"spark.driver.extraJavaOptions {mine}\n")
        assert submit_options({}) is None, name
        (conf / name).write_text(f"# spark.driver.extraJavaOptions {mine}\n")  # a comment
        assert submit_options({}) == ours, name
    (conf / "spark-defaults.conf").write_text("spark.driver.memory 2g\n")
    assert submit_options({}) == ours
    log_files = ("log4j2.xml", "log4j2-test.yaml", "log4j2.properties")
    for name in (*log_files, "log4j2.component.properties"):
        (conf / name).write_text("")
        assert submit_options({}) is None, name
        (conf / name).unlink()

    # A conf folder this process cannot read is left to Spark, as it is.
    def refused(self: Path) -> object:
        raise PermissionError(13, "Permission denied", str(self))

    with monkeypatch.context() as patched:
        patched.setattr(Path, "iterdir", refused)
        assert submit_options({}) is None
    # SPARK_CONF_DIR, when set, is the only conf folder Spark reads.
    (tmp_path / "home" / "conf").mkdir(parents=True)
    (tmp_path / "home" / "conf" / "log4j2.properties").write_text("")
    monkeypatch.setenv("SPARK_HOME", str(tmp_path / "home"))
    assert submit_options({}) == ours
    monkeypatch.delenv("SPARK_CONF_DIR")
    assert submit_options({}) is None


def _in_a_fresh_process(
    arguments: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """This interpreter run with ``arguments`` in a process of its own (a JVM of its
    own: this one's already runs), which must succeed."""
    done = subprocess.run(
        [sys.executable, *arguments],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_a_local_sessions_jvm_keeps_the_users_driver_options(tmp_path: Path) -> None:
    """A fresh process: the driver options of spark-defaults.conf reach the JVM
    beside tracekit's log configuration."""
    import os

    (tmp_path / "spark-defaults.conf").write_text(
        "spark.driver.extraJavaOptions -Dtracekit.probe=kept -XX:TieredStopAtLevel=1\n"
    )
    script = (
        "from tracekit.spark import local_session\n"
        "system = local_session('local[1]').sparkContext._jvm.java.lang.System\n"
        "print(system.getProperty('tracekit.probe'))\n"
        "print(system.getProperty('log4j2.configurationFile'))\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("SPARK_")}
    env["SPARK_CONF_DIR"] = str(tmp_path)
    done = _in_a_fresh_process(["-c", script], env, tmp_path)
    from tracekit.spark.reading import LOG_CONFIG

    assert done.stdout.split() == ["kept", LOG_CONFIG.as_uri()]


def test_the_cli_prints_its_answer_without_sparks_start_up_log(tmp_path: Path) -> None:
    """A fresh process (this one's JVM already runs): stdout is the JSON alone, and
    standard error holds at most the JVM's own line about incubator modules, none of
    Spark's start-up warnings (hostname, native libraries, default log profile)."""
    import os

    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SPARK_CONF_DIR", "SPARK_HOME", "SPARK_SUBMIT_OPTS", "PYSPARK_SUBMIT_ARGS")
    }
    command = ["analyze", str(SAMPLES), "--engine", "spark", "--spark-master", "local[1]"]
    done = _in_a_fresh_process(["-m", "tracekit", *command, "-f", "json"], env, tmp_path)
    assert json.loads(done.stdout)["inputs"]["files"] > 0
    noise = [
        line
        for line in done.stderr.splitlines()
        if line.strip() and not line.startswith("WARNING: Using incubator modules")
    ]
    assert noise == []
