"""The tracer under faults: a full queue at close, a hung disk, fork, readers during a write."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from tracekit.store import parquet
from tracekit.trace.sinks import golden


def blocking_writer(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Make the golden writer write the temporary file, then wait for ``release``."""
    started = threading.Event()
    release = threading.Event()
    real_write = parquet.write_parquet  # what golden.write_parquet is, unpatched

    def write(table: Any, path: Path) -> None:
        real_write(table, path)
        started.set()
        release.wait(30)

    monkeypatch.setattr(golden, "write_parquet", write)
    return started, release


def test_close_with_a_full_queue_still_writes_the_last_partial_window(
    make_tracer: Any, monkeypatch: pytest.MonkeyPatch, helpers: Any, out_dir: Path
) -> None:
    started, release = blocking_writer(monkeypatch)
    tracer = make_tracer(golden_trace_interval=10, max_queue_windows=1)
    for tick in range(25):  # window 1 being written, window 2 queued, 5 ticks pending
        with tracer.tick():
            pass
        if tick == 9:
            assert started.wait(10)
    threading.Timer(0.3, release.set).start()  # the disk frees up while close() waits
    reports = tracer.close(timeout_s=20)
    stats = tracer.stats()
    assert [report.windows_abandoned for report in reports] == [0]
    assert stats.writer.windows_dropped == 0
    assert stats.writer.files_written == 3
    ticks = helpers.tick_rows(helpers.read_rows(out_dir))
    assert [row["tick_id"] for row in ticks] == list(range(1, 26))


def test_close_with_a_hung_disk_returns_in_time_and_counts_what_it_abandoned(
    make_tracer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = blocking_writer(monkeypatch)
    tracer = make_tracer(golden_trace_interval=10, max_queue_windows=4)
    for tick in range(35):  # window 1 hangs, windows 2-3 queued, 5 ticks pending
        with tracer.tick():
            pass
        if tick == 9:
            assert started.wait(10)
    began = time.monotonic()
    (report,) = tracer.close(timeout_s=0.5)
    elapsed = time.monotonic() - began
    release.set()
    assert elapsed < 3.0
    assert report.timed_out
    assert (report.windows_abandoned, report.ticks_abandoned) == (4, 35)
    stats = tracer.stats()
    assert stats.writer.windows_abandoned == 4
    assert stats.writer.ticks_abandoned == 35
    assert stats.sink_reports == (report,)


HUNG_AT_EXIT = textwrap.dedent(
    """
    import sys, time
    from tracekit import Tracer, TraceConfig
    from tracekit.trace.sinks import golden

    def hang(table, path):
        time.sleep(120)

    golden.write_parquet = hang
    tracer = Tracer(TraceConfig(output_dir=sys.argv[1], run_id="hung", golden_trace_interval=5,
                                close_timeout_s=1.0))
    for _ in range(12):
        with tracer.tick():
            pass
    print("ticked", flush=True)
    """
)


def test_interpreter_exit_with_a_hung_disk_is_bounded_and_says_what_was_lost(
    tmp_path: Path,
) -> None:
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", HUNG_AT_EXIT, str(tmp_path / "t")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - began
    assert result.returncode == 0, result.stderr
    assert elapsed < 15, f"exit took {elapsed:.1f} s"
    assert "did not finish within 1.0 s; abandoned 3 window(s), 12 tick(s)" in result.stderr


FORKING = textwrap.dedent(
    """
    import os, sys, time
    from tracekit import Tracer, TraceConfig

    tracer = Tracer(TraceConfig(output_dir=sys.argv[1], run_id="forked", golden_trace_interval=5,
                                metrics=True, metrics_port=0))
    for _ in range(7):
        with tracer.tick():
            pass
    pid = os.fork()
    if pid == 0:
        for _ in range(4):
            with tracer.tick():
                pass
        stats = tracer.stats()
        print("child", stats.ticks_after_fork, stats.ticks, flush=True)
        sys.exit(0)  # runs atexit: must not wait for the parent's threads
    began = time.monotonic()
    while time.monotonic() - began < 20:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        print("child hung", flush=True)
    print("child exit", round(time.monotonic() - began, 1) < 5, os.waitstatus_to_exitcode(status))
    for _ in range(3):
        with tracer.tick():
            pass
    tracer.close()
    print("parent", tracer.stats().ticks, tracer.stats().writer.files_written)
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_records_nothing_counts_its_ticks_and_exits_at_once(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", FORKING, str(tmp_path / "t")],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "child 4 7" in lines
    assert "child exit True 0" in lines
    assert "parent 10 2" in lines
    rows = pq.read_table(sorted((tmp_path / "t").rglob("*.parquet")), partitioning=None).to_pylist()
    assert sorted(row["tick_id"] for row in rows) == list(range(1, 11))


def test_readers_of_the_dataset_never_see_a_file_being_written(
    make_tracer: Any, monkeypatch: pytest.MonkeyPatch, out_dir: Path
) -> None:
    tracer = make_tracer(run_id="canary-1", golden_trace_interval=5)
    for _ in range(5):
        with tracer.tick():
            pass
    tracer.close()  # one complete window on disk
    started, release = blocking_writer(monkeypatch)
    writing = make_tracer(run_id="canary-2", golden_trace_interval=5)
    try:
        for _ in range(5):
            with writing.tick():
                pass
        assert started.wait(10)  # a temporary file exists now, fully written, not renamed
        temporaries = [
            path for path in out_dir.parent.rglob("*") if path.is_file() and ".tmp" in path.name
        ]
        assert temporaries, "the writer is mid-write"
        assert all(out_dir not in path.parents for path in temporaries)

        frame = pl.scan_parquet(f"{out_dir}/").collect()  # the documented polars pattern
        assert frame.height == 5
        assert frame.schema["run_id"] == pl.String
        with duckdb.connect() as con:
            found = con.execute(
                "SELECT count(*), any_value(typeof(run_id)) FROM "
                "read_parquet(?, hive_partitioning = true)",
                [f"{out_dir}/**/*.parquet"],
            ).fetchone()
        assert found is not None
        (count, kind) = found
        assert (count, kind) == (5, "VARCHAR")
        dataset = ds.dataset(out_dir, format="parquet", partitioning="hive")
        assert dataset.count_rows() == 5
    finally:
        release.set()
        writing.close()
    assert pl.scan_parquet(f"{out_dir}/").collect().height == 10
