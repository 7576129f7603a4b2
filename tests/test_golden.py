"""Golden-trace files: one per window, self-describing, atomic, bounded, readable anywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from tracekit import TraceConfig, Tracer, VirtualClock, __version__
from tracekit.store.compact import STALE_TEMPORARY_S, compact
from tracekit.store.schema import arrow_schema
from tracekit.trace.records import GuardRecord, SpanRecord
from tracekit.trace.sinks import golden
from tracekit.trace.sinks.golden import GoldenWriter

MS = 1_000_000
TICK_ONLY_COLUMNS = (
    "deadline_ns",
    "deadline_missed",
    "parallel_symbols",
    "guard_trips",
    "request_count",
)


def metadata_of(path: Path) -> dict[str, str]:
    raw = pq.read_schema(path).metadata or {}
    return {key.decode(): value.decode() for key, value in raw.items()}


def field_triples(fields: Any) -> list[tuple[str, Any, bool]]:
    return [(field.name, field.type, field.nullable) for field in fields]


def run_ticks(tracer: Tracer, clock: VirtualClock, n: int, *, miss_every: int = 0) -> int:
    """Run ``n`` ticks with one stage each; every ``miss_every``-th tick takes 5 ms."""
    misses = 0
    for i in range(n):
        with tracer.tick(), tracer.stage("compute", "BTC"):
            if miss_every and i % miss_every == 0:
                clock.advance(5 * MS)
                misses += 1
            else:
                clock.advance(10_000)
    return misses


# -- files, schema and metadata -----------------------------------------------------


def test_one_file_per_interval_and_the_last_partial_window_on_close(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, helpers: Any
) -> None:
    tracer = make_tracer(clock=clock, golden_trace_interval=100, sample_rate=0.5, deadline_ms=1)
    run_ticks(tracer, clock, 250, miss_every=10)
    assert helpers.wait_until(lambda: tracer.stats().writer.files_written == 2)
    folder = out_dir / "run_id=test-run"
    assert [path.name for path in helpers.golden_files(out_dir)] == [
        "golden-000001.parquet",
        "golden-000002.parquet",
    ]
    tracer.close()

    files = helpers.golden_files(out_dir)
    assert files == [folder / f"golden-00000{n}.parquet" for n in (1, 2, 3)]
    expected_ticks = [range(1, 101), range(101, 201), range(201, 251)]
    for window, (path, tick_ids) in enumerate(zip(files, expected_ticks, strict=True), start=1):
        table = pq.read_table(path)
        ticks = [row for row in table.to_pylist() if row["kind"] == "tick"]
        assert [row["tick_id"] for row in ticks] == list(tick_ids)
        meta = metadata_of(path)
        assert meta["tracekit.window"] == str(window)
        assert meta["tracekit.ticks"] == str(len(tick_ids))
    stats = tracer.stats()
    assert stats.writer.files_written == 3
    assert stats.writer.rows_written == sum(pq.read_metadata(p).num_rows for p in files)
    assert stats.writer.write_errors == 0


def test_files_have_the_v1_schema_and_describe_their_run(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, helpers: Any
) -> None:
    tracer = make_tracer(
        clock=clock, run_id="meta-run", sample_rate=0.25, sample_seed=99, golden_trace_interval=40
    )
    run_ticks(tracer, clock, 90)
    tracer.close()
    files = helpers.golden_files(out_dir)
    assert len(files) == 3
    for path in files:
        file_schema = pq.read_schema(path)
        # schema v1, and the nullable columns added at its end since (docs/schema.md)
        assert field_triples(file_schema) == field_triples(arrow_schema(added=True))
        assert file_schema.names[: len(arrow_schema())] == arrow_schema().names
        meta = metadata_of(path)
        assert meta["tracekit.schema_version"] == "1"
        assert meta["tracekit.run_id"] == "meta-run"
        assert float(meta["tracekit.sample_rate"]) == 0.25
        assert meta["tracekit.sample_seed"] == "99"
        assert meta["tracekit.version"] == __version__
        assert meta["tracekit.pid"] == str(os.getpid())
        assert meta["tracekit.host"]
        config = json.loads(meta["tracekit.config"])
        assert config == tracer.config.to_dict()
        assert TraceConfig.from_mapping(config) == tracer.config
        assert set(pq.read_table(path).column("run_id").to_pylist()) == {"meta-run"}
        # Each key-value pair is in the footer once: no ARROW:schema entry repeating
        # them (docs/schema.md); the footer's pairs are the schema's metadata.
        footer = pq.read_metadata(path).metadata
        assert b"ARROW:schema" not in footer
        assert footer == file_schema.metadata
        assert "tracekit.summary" in meta


def test_columns_that_do_not_apply_to_a_kind_are_null(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, helpers: Any
) -> None:
    tracer = make_tracer(clock=clock, sample_rate=1.0, deadline_ms=3)
    with tracer.tick():
        tracer.set_parallel_symbols(2)
        with tracer.stage("compute", "BTC"):
            clock.advance(1 * MS)
        with tracer.request("POST", "place_order", "ETH"):
            clock.advance(1 * MS)
        tracer.guard_trip("stale_book", "ETH")
    tracer.close()
    rows = {row["kind"]: row for row in helpers.read_rows(out_dir)}
    assert set(rows) == {"tick", "stage", "request", "guard"}
    tick = rows["tick"]
    assert (tick["name"], tick["symbol"], tick["verb"]) == ("tick_total", None, None)
    assert tick["duration_ns"] == 2 * MS
    assert tick["deadline_ns"] == 3 * MS
    assert tick["deadline_missed"] is False
    assert (tick["parallel_symbols"], tick["guard_trips"], tick["request_count"]) == (2, 1, 1)
    for kind in ("stage", "request", "guard"):
        assert all(rows[kind][column] is None for column in TICK_ONLY_COLUMNS), kind
    assert rows["request"]["verb"] == "POST"
    assert rows["stage"]["verb"] is None
    assert rows["guard"]["duration_ns"] is None
    # wall-clock times: the anchor plus the virtual clock's reading
    anchor = helpers.WALL_ANCHOR_NS
    assert tick["start_unix_ns"] == anchor
    assert rows["stage"]["start_unix_ns"] == anchor
    assert rows["request"]["start_unix_ns"] == anchor + 1 * MS
    assert rows["guard"]["start_unix_ns"] == anchor + 2 * MS


def test_string_columns_are_dictionary_encoded(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, helpers: Any
) -> None:
    tracer = make_tracer(clock=clock, sample_rate=1.0)
    run_ticks(tracer, clock, 20)
    tracer.close()
    (path,) = helpers.golden_files(out_dir)
    row_group = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {
        row_group.column(i).path_in_schema: row_group.column(i).encodings
        for i in range(row_group.num_columns)
    }
    for name in ("run_id", "kind", "name", "status", "detail"):
        assert any("DICTIONARY" in encoding for encoding in encodings[name]), name


# -- layout and other readers -------------------------------------------------------


def test_hive_layout_read_by_duckdb_matches_the_tracer(
    make_tracer: Any, out_dir: Path, helpers: Any
) -> None:
    expected: dict[str, tuple[int, int]] = {}
    for run_id, n, miss_every in (("run-a", 230, 7), ("run-b", 120, 3)):
        clock = VirtualClock()
        tracer = make_tracer(
            clock=clock, run_id=run_id, deadline_ms=1, sample_rate=0.1, golden_trace_interval=50
        )
        misses = run_ticks(tracer, clock, n, miss_every=miss_every)
        tracer.close()
        stats = tracer.stats()
        assert stats.deadline_misses == misses
        expected[run_id] = (stats.ticks, stats.deadline_misses)
        assert tracer.output_folder == out_dir / f"run_id={run_id}"

    for path in helpers.golden_files(out_dir):
        assert path.parent.parent == out_dir
        assert path.parent.name in ("run_id=run-a", "run_id=run-b")

    pattern = f"{out_dir.as_posix()}/**/*.parquet"
    with duckdb.connect() as con:
        result = con.execute(
            """
            SELECT run_id,
                   count(*) FILTER (WHERE kind = 'tick'),
                   count(*) FILTER (WHERE kind = 'tick' AND deadline_missed)
            FROM read_parquet(?, hive_partitioning = true)
            GROUP BY run_id ORDER BY run_id
            """,
            [pattern],
        ).fetchall()
    assert {run_id: (ticks, misses) for run_id, ticks, misses in result} == expected


# -- crashes and write errors -------------------------------------------------------


def test_failed_write_leaves_no_partial_file(tmp_path: Path, helpers: Any) -> None:
    root = tmp_path / "traces"
    attempts: list[Path] = []

    def half_then_fail(table: Any, path: Path) -> None:
        pq.write_table(table, path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        attempts.append(path)
        raise OSError(28, "No space left on device (simulated)")

    writer = GoldenWriter(root, "broken", {}, 0, 4, write_table=half_then_fail)
    try:
        assert writer.submit(helpers.make_window(1, 10))
        assert writer.submit(helpers.make_window(11, 10))
    finally:
        writer.close()
    stats = writer.stats()
    assert len(attempts) == 2
    # written beside the dataset root, where no reader of the root looks
    assert all(path.parent == tmp_path / ".traces.tracekit-tmp" for path in attempts)
    assert all(path.suffix == ".tmp" for path in attempts)
    assert stats.write_errors == 2
    assert stats.files_written == 0
    assert stats.rows_written == 0
    assert stats.last_error is not None
    assert "No space left on device (simulated)" in stats.last_error
    assert stats.last_error.startswith("OSError")
    assert list(root.rglob("*.parquet")) == []
    assert [path for path in root.rglob("*") if path.is_file()] == [], "temporaries removed"
    assert not (tmp_path / ".traces.tracekit-tmp").exists(), "and their folder"


def test_write_errors_never_reach_the_traced_loop(
    make_tracer: Any, clock: VirtualClock, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_write(table: Any, path: Path) -> None:
        path.write_bytes(b"PAR1 partial")
        raise PermissionError(13, "Permission denied (simulated)")

    # The Tracer builds its GoldenWriter with the module's default writer function.
    monkeypatch.setattr(golden, "write_parquet", failing_write)
    tracer = make_tracer(clock=clock, golden_trace_interval=100)
    run_ticks(tracer, clock, 250)
    tracer.close()
    stats = tracer.stats()
    assert stats.ticks == 250
    assert stats.writer.write_errors == 3
    assert stats.writer.files_written == 0
    assert stats.writer.last_error is not None
    assert "Permission denied (simulated)" in stats.writer.last_error
    assert list(out_dir.rglob("*.parquet")) == []


CRASHING_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    from tracekit.trace.sinks.golden import GoldenWriter
    from tracekit.trace.records import FinishedTick

    calls = []

    def write_table(table, path):
        calls.append(path)
        if len(calls) == 1:
            pq.write_table(table, path)
            return
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        data = sink.getvalue().to_pybytes()
        with open(path, "wb") as handle:
            handle.write(data[: len(data) // 2])
            handle.flush()
            os.fsync(handle.fileno())
        print("PARTIAL", path, flush=True)
        time.sleep(60)

    def window(first):
        return [
            FinishedTick(t, t * 1000, 500, 10**8, False, None, None, 0, 0, "sampled",
                         [("stage", "s", "BTC", None, None, t * 1000, 5)], [])
            for t in range(first, first + 10)
        ]

    writer = GoldenWriter(Path(sys.argv[1]), "killed", {}, 0, 4,
                          write_table=write_table)
    writer.submit(window(1))
    writer.submit(window(11))
    for _ in range(3000):  # the writer thread is killed mid-write; fail fast otherwise
        stats = writer.stats()
        if stats.write_errors:
            print("ERROR", stats.last_error, flush=True)
            sys.exit(1)
        time.sleep(0.01)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_during_a_write_leaves_only_readable_parquet_files(tmp_path: Path) -> None:
    root = tmp_path / "traces"
    with subprocess.Popen(
        [sys.executable, "-c", CRASHING_WRITER, str(root)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            line = proc.stdout.readline() if proc.stdout else ""
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            _, stderr = proc.communicate(timeout=30)
        assert line.startswith("PARTIAL "), f"child failed: {stderr}"
        assert proc.returncode == -signal.SIGKILL

    folder = root / "run_id=killed"
    partial = Path(line.split(maxsplit=1)[1].strip())
    assert partial.exists(), "the kill hit mid-write"
    assert partial.stat().st_size > 0
    assert root not in partial.parents, "the half-written file is outside the dataset"
    assert partial.parent.name.startswith("."), "in a hidden folder"
    assert not partial.name.endswith(".parquet")

    parquet_files = sorted(root.rglob("*.parquet"))
    assert [path.name for path in parquet_files] == ["golden-000001.parquet"]
    for path in parquet_files:
        table = pq.read_table(path)  # raises on a truncated file
        assert table.num_rows == 20
    pattern = f"{root.as_posix()}/**/*.parquet"
    with duckdb.connect() as con:
        found = con.execute(
            "SELECT count(*) FROM read_parquet(?, hive_partitioning = true) WHERE kind = 'tick'",
            [pattern],
        ).fetchone()
    assert found is not None
    (count,) = found
    assert count == 10

    # compact removes what the killed writer left, once it is old (its process is gone)
    moment = time.time() - STALE_TEMPORARY_S - 60
    os.utime(partial, (moment, moment))
    assert compact(root, skip_bad=True).temporaries_removed == 1  # its files have no run metadata
    assert not partial.exists()

    # a writer resuming the run continues after the last complete file
    writer = GoldenWriter(root, "killed", {}, 0, 4)
    try:
        assert writer.submit([])
    finally:
        writer.close()
    assert (folder / "golden-000002.parquet").exists()


# -- bounded queue ------------------------------------------------------------------


def test_full_queue_drops_and_counts_windows(tmp_path: Path, helpers: Any) -> None:
    started = threading.Event()
    release = threading.Event()

    def blocked_write(table: Any, path: Path) -> None:
        started.set()
        assert release.wait(20)
        pq.write_table(table, path)

    writer = GoldenWriter(tmp_path / "q", "full", {}, 0, 1, write_table=blocked_write)
    try:
        assert writer.submit(helpers.make_window(1, 5)) is True
        assert started.wait(5)
        assert writer.submit(helpers.make_window(6, 5)) is True  # waits in the queue
        began = time.perf_counter()
        results = [writer.submit(helpers.make_window(11 + 5 * k, 5)) for k in range(50)]
        elapsed = time.perf_counter() - began
        during = writer.stats()
    finally:
        release.set()
        writer.close()
    assert results == [False] * 50
    assert elapsed < 1.0, f"submit blocked for {elapsed:.2f} s"
    assert during.windows_dropped == 50
    assert during.queue_depth == 1
    after = writer.stats()
    assert after.files_written == 2
    assert after.windows_dropped == 50
    assert after.queue_depth == 0
    written = sorted((tmp_path / "q").rglob("*.parquet"))
    tick_ids = sorted(
        row["tick_id"]
        for path in written
        for row in pq.read_table(path).to_pylist()
        if row["kind"] == "tick"
    )
    assert tick_ids == list(range(1, 11))


def test_submit_after_close_is_dropped(tmp_path: Path, helpers: Any) -> None:
    writer = GoldenWriter(tmp_path / "c", "closed", {}, 0, 4)
    writer.close()
    writer.close()
    assert writer.submit(helpers.make_window(1, 3)) is False
    assert writer.stats().windows_dropped == 1
    assert not (tmp_path / "c").exists()


# -- runs ---------------------------------------------------------------------------


def test_resumed_run_appends_windows_after_existing_files(
    make_tracer: Any, out_dir: Path, helpers: Any
) -> None:
    first = make_tracer(clock=VirtualClock(), run_id="resumed", golden_trace_interval=100)
    run_ticks(first, VirtualClock(), 250)
    first.close()
    second = make_tracer(clock=VirtualClock(), run_id="resumed", golden_trace_interval=100)
    run_ticks(second, VirtualClock(), 120)
    second.close()
    files = helpers.golden_files(out_dir)
    assert [path.name for path in files] == [f"golden-00000{n}.parquet" for n in range(1, 6)]
    windows = [
        (metadata_of(path)["tracekit.window"], metadata_of(path)["tracekit.ticks"])
        for path in files
    ]
    assert windows == [("1", "100"), ("2", "100"), ("3", "50"), ("4", "100"), ("5", "20")]
    assert len(helpers.tick_rows(helpers.read_rows(out_dir))) == 370


def test_two_open_tracers_with_a_default_run_id_lose_no_data(out_dir: Path, helpers: Any) -> None:
    # Two tracers of one process whose default run ids fall in the same second (here:
    # the same wall anchor) share a partition; neither may overwrite the other's files.
    config = TraceConfig(output_dir=str(out_dir), sample_rate=1.0, golden_trace_interval=10)
    first = Tracer(config, clock=VirtualClock(), wall_anchor_ns=helpers.WALL_ANCHOR_NS)
    second = Tracer(config, clock=VirtualClock(), wall_anchor_ns=helpers.WALL_ANCHOR_NS)
    try:
        for tracer in (first, second):
            for _ in range(10):
                with tracer.tick():
                    pass
    finally:
        first.close()
        second.close()
    written = first.stats().writer.rows_written + second.stats().writer.rows_written
    assert written == 20
    assert len(helpers.tick_rows(helpers.read_rows(out_dir))) == written


# -- the leak check of conftest.py --------------------------------------------------

LEAKING_TESTS = """
import sys

from tracekit.trace.sinks.golden import GoldenWriter


def test_leaks_a_writer(tmp_path):
    sys._tracekit_leaked_writer = GoldenWriter(tmp_path, "leak", {}, 0, 1)


def test_closes_its_writer(tmp_path):
    writer = GoldenWriter(tmp_path, "ok", {}, 0, 1)
    writer.close()
"""


def test_leak_check_fails_a_test_that_leaves_a_writer_thread(pytester: pytest.Pytester) -> None:
    conftest = (Path(__file__).parent / "conftest.py").read_text(encoding="utf-8")
    assert "LEAK_GRACE_S = 1.0" in conftest
    pytester.makeconftest(conftest.replace("LEAK_GRACE_S = 1.0", "LEAK_GRACE_S = 0.05"))
    pytester.makepyfile(test_leaky=LEAKING_TESTS)
    try:
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    finally:
        leaked = sys.__dict__.pop("_tracekit_leaked_writer", None)
        if leaked is not None:
            leaked.close()
    assert leaked is not None
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*test_leaks_a_writer*", "*thread(s) running (tracekit-golden)*"])


# -- building a window in slices ------------------------------------------------------


def test_window_table_in_slices_matches_the_rows_and_pauses_between_slices() -> None:
    from tracekit.trace.records import FinishedTick
    from tracekit.trace.sinks.golden import SLICE_ROWS, window_table

    window = []
    expected: list[tuple[int, str, str, str | None, int]] = []
    for tick_id in (3, 1, 2):  # out of order: rows come back in tick order
        spans: list[SpanRecord] = [
            ("stage", f"s{k % 3}", None if k % 2 else "BTC", None, None, 10 * k, k)
            for k in range(SLICE_ROWS + 7 if tick_id == 2 else 3)
        ]
        attributes = {index: {"k": index} for index in range(0, len(spans), 97)}
        guards: list[GuardRecord] = [("limit", "BTC", 5)] if tick_id != 1 else []
        window.append(
            FinishedTick(
                tick_id,
                0,
                100,
                200,
                False,
                None,
                2,
                len(guards),
                0,
                "sampled",
                spans,
                guards,
                attributes,
            )
        )
    for tick in sorted(window):
        expected.append((tick.tick_id, "tick", "tick_total", None, 1_000 + 0))
        for index, span in enumerate(tick.spans):
            text = f'{{"k":{index}}}' if index % 97 == 0 else None
            expected.append((tick.tick_id, span[0], span[1], text, 1_000 + span[5]))
        for reason, _symbol, at in tick.guards:
            expected.append((tick.tick_id, "guard", reason, None, 1_000 + at))
    pauses: list[int] = []
    table = window_table("r", window, 1_000, {}, pause=lambda: pauses.append(1))
    rows = table.to_pylist()
    got = [
        (row["tick_id"], row["kind"], row["name"], row["attributes"], row["start_unix_ns"])
        for row in rows
    ]
    assert got == expected
    assert len(pauses) >= len(rows) // SLICE_ROWS
    assert table.schema.names[-3:] == ["attributes", "span_id", "parent_span_id"]
    assert {(row["span_id"], row["parent_span_id"]) for row in rows} == {(None, None)}


def test_schema_doc_lists_the_added_columns_of_the_code() -> None:
    from tracekit.store import schema

    text = (Path(__file__).resolve().parent.parent / "docs" / "schema.md").read_text()
    block = text.split("<!-- added-columns:start -->")[1].split("<!-- added-columns:end -->")[0]
    documented = []
    for row in (line for line in block.splitlines() if line.startswith("| `")):
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        documented.append((cells[0].strip("`"), cells[1], cells[2] == "yes", cells[3]))
    in_code = [(c.name, c.arrow_type, c.nullable, c.description) for c in schema.ADDED_COLUMNS]
    assert documented == in_code
    assert all(column.nullable for column in schema.ADDED_COLUMNS), "v1 grows by nullable ones"
