"""What analyze's figures mean, on golden traces written row by row here (issue 11).

Each dataset is small and built by hand so every expected figure is either written
out in the test or recomputed with DuckDB from the raw rows: self time of nested
spans, duplicated files and run identity, mixed deadlines, sessions of different
sample rates, nanosecond times, ties in attribution, an unknown ``--symbol`` and
sections without data.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from analysis_helpers import (
    EPOCH_NS,
    MS,
    Tick,
    files_under,
    golden_table,
    metadata,
    read_rows,
    self_times,
    write_known_dataset,
    write_run,
)
from cli_helpers import run_in_process
from typer.testing import CliRunner

import tracekit
from tracekit.cli import app
from tracekit.errors import InputError
from tracekit.store import schema

STAGE, REQUEST = schema.KIND_STAGE, schema.KIND_REQUEST


def duck(sql: str) -> list[tuple[Any, ...]]:
    connection = duckdb.connect()
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def source(root: Path) -> str:
    return "read_parquet([" + ", ".join(f"'{path}'" for path in files_under(root)) + "])"


def invoke(*args: object, code: int = 0) -> Any:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result


# -- self time ---------------------------------------------------------------------


def nested_tick(tick_id: int, *, slow_request_ms: int = 30) -> Tick:
    """One tick of a loop that makes its requests inside its stages (ms from tick start):

    ``handle`` [0, 100] holds ``GET a`` [10, 10 + slow] and ``GET b`` [20, 50] (they
    overlap: the union counts once) and the stage ``inner`` [60, 80], which holds
    ``GET c`` [65, 70]. ``quote`` of BTC [0, 90] runs concurrently with ``handle``
    and holds ``POST order`` of BTC [5, 85]; a request without a symbol, ``GET d``
    [1, 2], lies in both intervals but is only ``handle``'s child (no symbol, like
    ``handle``; ``quote`` is BTC's).
    ``wrap`` [200, 210] holds ``GET e`` with exactly its interval.
    """
    t0 = EPOCH_NS + tick_id * 1000 * MS

    def span(kind: str, name: str, begin: int, end: int, symbol: str | None = None) -> Any:
        verb = "GET" if kind == REQUEST else None
        return (kind, name, symbol, verb, None, t0 + begin * MS, (end - begin) * MS)

    spans = (
        span(REQUEST, "a", 10, 10 + slow_request_ms),
        span(REQUEST, "b", 20, 50),
        span(REQUEST, "c", 65, 70),
        span(STAGE, "inner", 60, 80),
        span(STAGE, "handle", 0, 100),
        span(REQUEST, "d", 1, 2),
        span(REQUEST, "order", 5, 85, "BTC"),
        span(STAGE, "quote", 0, 90, "BTC"),
        span(REQUEST, "e", 200, 210),
        span(STAGE, "wrap", 200, 210),
    )
    return Tick(tick_id, t0, 300 * MS, spans=spans, deadline_ns=250 * MS)


@pytest.fixture(scope="module")
def nested_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nested")
    write_run(root, "nested", [nested_tick(i, slow_request_ms=30 + i) for i in range(1, 4)])
    return root


def test_self_time_of_nested_spans_by_hand(nested_root: Path) -> None:
    stages = tracekit.load(nested_root).stages(self_time=True)
    figures = {row["stage"]: row for row in stages.iter_rows(named=True)}
    # handle: 100 - |[1, 2] u [10, 40+i] u [20, 50] u [60, 80]| = 100 - (1 + 40 + 20).
    assert figures["handle"]["self_mean_ms"] == pytest.approx(39.0)
    assert figures["handle"]["mean_ms"] == pytest.approx(100.0)  # inclusive unchanged
    assert figures["inner"]["self_mean_ms"] == pytest.approx(15.0)  # 20 - 5
    assert figures["quote"]["self_mean_ms"] == pytest.approx(10.0)  # 90 - 80; GET d is not BTC's
    assert figures["wrap"]["self_mean_ms"] == pytest.approx(0.0)  # GET e has its interval
    assert figures["tick_total"]["self_mean_ms"] is None
    assert figures["handle"]["self_p50_ms"] == pytest.approx(39.0)
    # Self time is in the default table; self_time=False gives inclusive time alone.
    assert tracekit.load(nested_root).stages().equals(stages)
    assert tracekit.load(nested_root).stages(self_time=False).columns == [
        "stage",
        *("n", "p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"),
    ]


def test_attribution_credits_the_request_not_the_stage_around_it(nested_root: Path) -> None:
    frame = tracekit.load(nested_root).attribution()
    rows = {row["component"]: row for row in frame.iter_rows(named=True)}
    # By inclusive time handle (100 ms) would win every tick; by self time quote's
    # POST order (80 ms) does.
    assert rows["request:order"]["ticks_dominated"] == 3
    assert rows["handle"]["ticks_dominated"] == 0
    assert rows["handle"]["self_mean_ms"] == pytest.approx(39.0)
    assert rows["handle"]["mean_ms"] == pytest.approx(100.0)


def test_self_time_matches_a_pairwise_reference_and_duckdb(tmp_path: Path) -> None:
    """The known dataset's spans overlap every which way: self times per stage,
    against the pure-Python reference and against the same rule in DuckDB SQL."""
    write_known_dataset(tmp_path)
    rows = read_rows(files_under(tmp_path))
    expected: dict[str, list[int]] = {}
    for row, own in zip(rows, self_times(rows), strict=True):
        if row["kind"] == STAGE and row["detail"] == "sampled" and own is not None:
            expected.setdefault(row["name"], []).append(own)
    frame = tracekit.load(tmp_path).stages(self_time=True)
    got = {row["stage"]: row for row in frame.iter_rows(named=True)}
    for name, values in expected.items():
        assert got[name]["self_mean_ms"] == pytest.approx(sum(values) / len(values) / MS, 1e-12)
    sql = f"""
        WITH s AS (
            SELECT *, row_number() OVER () AS id, start_unix_ns + duration_ns AS e
            FROM {source(tmp_path)}
            WHERE kind IN ('stage', 'request') AND detail = 'sampled'),
        pairs AS (
            SELECT p.id, c.start_unix_ns AS cs, c.e AS ce FROM s p JOIN s c
            ON p.run_id = c.run_id AND p.tick_id = c.tick_id
               AND p.symbol IS NOT DISTINCT FROM c.symbol AND p.kind = 'stage'
               AND c.start_unix_ns >= p.start_unix_ns AND c.e <= p.e AND c.id <> p.id
               AND (c.start_unix_ns > p.start_unix_ns OR c.e < p.e OR c.kind = 'request')),
        reach AS (
            SELECT id, cs, ce, max(ce) OVER (PARTITION BY id ORDER BY cs, ce
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS r FROM pairs),
        covered AS (
            SELECT id, sum(greatest(0, ce - greatest(cs, coalesce(r, cs)))) AS c
            FROM reach GROUP BY id)
        SELECT name, count(*),
               quantile_cont((duration_ns - coalesce(c, 0)) / 1e6, 0.5),
               quantile_cont((duration_ns - coalesce(c, 0)) / 1e6, 0.95),
               avg((duration_ns - coalesce(c, 0)) / 1e6)
        FROM s LEFT JOIN covered USING (id) WHERE kind = 'stage' GROUP BY name
    """
    checked = 0
    for name, n, p50, p95, mean in duck(sql):
        assert got[name]["n"] == n
        assert got[name]["self_p50_ms"] == pytest.approx(p50, rel=1e-9)
        assert got[name]["self_p95_ms"] == pytest.approx(p95, rel=1e-9)
        assert got[name]["self_mean_ms"] == pytest.approx(mean, rel=1e-9)
        checked += 1
    assert checked == 4
    assert any(got[name]["self_mean_ms"] < got[name]["mean_ms"] for name in expected)


def test_self_time_is_shown_by_default_on_the_command_line(nested_root: Path) -> None:
    document = json.loads(invoke("analyze", nested_root, "-f", "json").stdout)
    handle = next(row for row in document["stages"] if row["stage"] == "handle")
    assert handle["self_mean_ms"] == pytest.approx(39.0)
    assert handle["self_p95_ms"] is None  # n = 3: too few for a p95
    assert handle["mean_ms"] == pytest.approx(100.0)
    # --self-time (now the default) still works and changes nothing.
    assert json.loads(invoke("analyze", nested_root, "-f", "json", "--self-time").stdout) == (
        document
    )
    plain = json.loads(invoke("analyze", nested_root, "-f", "json", "--no-self-time").stdout)
    assert "self_mean_ms" not in plain["stages"][0]
    assert plain["stages"][0]["mean_ms"] == document["stages"][0]["mean_ms"]
    table = invoke("analyze", nested_root, "--no-color").stdout
    assert "self mean ms" in table
    assert "inclusive" in table


# -- ties --------------------------------------------------------------------------


def test_a_tie_in_attribution_goes_to_the_alphabetically_first_component(tmp_path: Path) -> None:
    t0 = EPOCH_NS
    spans = (
        (STAGE, "zeta", None, None, None, t0, 40 * MS),
        (STAGE, "alpha", None, None, None, t0 + 50 * MS, 40 * MS),
    )
    write_run(tmp_path, "tie", [Tick(1, t0, 300 * MS, spans=spans)])
    frame = tracekit.load(tmp_path).attribution()
    assert frame.select("component", "ticks_dominated").rows() == [("alpha", 1), ("zeta", 0)]


# -- duplicated files and run identity ----------------------------------------------


def ticks_by_run(root: Path) -> dict[str, int]:
    frame = tracekit.load(root).deadline(by=["run_id"])
    return dict(zip(frame["run_id"], frame["ticks"], strict=True))


def test_a_copied_file_is_counted_once_and_reported(tmp_path: Path) -> None:
    write_known_dataset(tmp_path)
    folder = tmp_path / "run_id=alpha"
    shutil.copy(folder / "golden-000001.parquet", folder / "golden-000001 (copy).parquet")
    shutil.copy(folder / "golden-000002.parquet", folder / "golden-000099.parquet")
    traces = tracekit.load(tmp_path)
    assert traces.deadline()["ticks"].to_list() == [400]  # not 600
    assert sorted(Path(d.path).name for d in traces.duplicates) == [
        "golden-000001 (copy).parquet",
        "golden-000099.parquet",
    ]
    kept = {Path(d.path).name: Path(d.kept).name for d in traces.duplicates}
    assert kept["golden-000099.parquet"] == "golden-000002.parquet"
    result = invoke("analyze", tmp_path, "-f", "json")
    document = json.loads(result.stdout)
    assert len(document["inputs"]["duplicates"]) == 2
    assert document["deadline"][0]["ticks"] == 400
    warnings = [line for line in result.stderr.splitlines() if "counted once" in line]
    assert len(warnings) == 2
    assert all(line.startswith("Warning: ") for line in warnings)


def test_a_compacted_file_and_a_stray_window_are_counted_once(tmp_path: Path) -> None:
    write_known_dataset(tmp_path)
    alpha = tmp_path / "run_id=alpha"
    elsewhere = tmp_path / "backup" / "run_id=alpha"
    elsewhere.mkdir(parents=True)
    shutil.copy(alpha / "golden-000002.parquet", elsewhere / "golden-000002.parquet")
    assert ticks_by_run(tmp_path) == {"alpha": 240, "beta": 160}


def test_partly_overlapping_windows_are_refused(tmp_path: Path) -> None:
    ticks = [Tick(i, EPOCH_NS + i * MS, 10 * MS) for i in range(1, 5)]
    folder = tmp_path / "run_id=r"
    folder.mkdir()
    for name, window, chunk in [
        ("golden-000001-000002.parquet", "1-2", ticks[:2]),
        ("golden-000002-000003.parquet", "2-3", ticks[1:3]),
    ]:
        meta = {**metadata("r"), schema.META_WINDOW: window}
        pq.write_table(golden_table("r", chunk, meta), folder / name)
    with pytest.raises(InputError, match="overlapping windows of run r"):
        tracekit.load(tmp_path)


@pytest.mark.parametrize("in_memory", [False, True], ids=["scan", "in-memory"])
def test_a_copy_under_another_run_folder_is_that_run_as_for_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_memory: bool
) -> None:
    if in_memory:  # the path taken for many small files: every row read once
        monkeypatch.setattr("tracekit.analysis.traceset.MANY_FILES", 1)
    write_known_dataset(tmp_path)
    other = tmp_path / "run_id=gamma"
    other.mkdir()
    shutil.copy(tmp_path / "run_id=beta" / "golden-000001.parquet", other / "golden-000001.parquet")
    ours = ticks_by_run(tmp_path)
    theirs = dict(
        duck(
            f"SELECT run_id, count(*) FROM read_parquet('{tmp_path}/**/*.parquet', "
            "hive_partitioning = true) WHERE kind = 'tick' GROUP BY run_id"
        )
    )
    assert ours == theirs == {"alpha": 240, "beta": 160, "gamma": 100}
    traces = tracekit.load(tmp_path)
    assert traces.runs == ["alpha", "beta", "gamma"]
    [override] = traces.run_overrides
    assert (override.run_id, override.rows_run_id) == ("gamma", "beta")
    result = invoke("analyze", tmp_path, "-f", "json", "--run", "gamma")
    assert json.loads(result.stdout)["deadline"][0]["ticks"] == 100
    assert "counted as run gamma" in result.stderr


# -- mixed deadlines ---------------------------------------------------------------


def test_mixed_deadlines_are_rows_of_their_own(tmp_path: Path) -> None:
    ticks = [
        Tick(
            i,
            EPOCH_NS + i * 250 * MS,
            (90 + i % 70) * MS,
            deadline_ns=(100 if i <= 480 else 150) * MS,
        )
        for i in range(1, 601)
    ]
    write_run(tmp_path, "mixed", ticks)
    frame = tracekit.load(tmp_path).deadline()
    assert frame["deadline_ms"].to_list() == [100.0, 150.0]  # never their mean, 110
    assert frame["ticks"].to_list() == [480, 120]
    expected = duck(
        f"SELECT deadline_ns / 1e6, count(*), sum(deadline_missed::INT) FROM {source(tmp_path)} "
        "WHERE kind = 'tick' GROUP BY ALL ORDER BY 1"
    )
    assert frame.select("deadline_ms", "ticks", "misses").rows() == expected


# -- sessions of different sample rates --------------------------------------------


def write_resumed_run(root: Path) -> None:
    """Run ``r``: window 1 (ticks 1-100) sampled at 0.5, window 2 (101-300) at 0.1.

    The second session's stage is slower; sampled ticks are chosen by hand (every
    2nd, then every 10th tick), as the rates say.
    """
    folder = root / "run_id=r"
    folder.mkdir(parents=True)
    sessions = [(1, range(1, 101), 0.5, 2, 10), (2, range(101, 301), 0.1, 10, 40)]
    for window, ids, rate, every, base_ms in sessions:
        ticks = []
        for i in ids:
            start = EPOCH_NS + i * 250 * MS
            sampled = i % every == 0
            spans = (
                ((STAGE, "work", None, None, None, start, (base_ms + i % 7) * MS),)
                if sampled
                else ()
            )
            detail = schema.DETAIL_SAMPLED if sampled else schema.DETAIL_NONE
            ticks.append(Tick(i, start, 50 * MS, detail=detail, spans=spans))
        meta = {
            **metadata("r", window=window, ticks=len(ticks)),
            schema.META_SAMPLE_RATE: str(rate),
        }
        pq.write_table(golden_table("r", ticks, meta), folder / schema.window_file_name(window))


def test_resumed_run_with_another_rate_is_weighted_like_every_tick(tmp_path: Path) -> None:
    write_resumed_run(tmp_path)
    traces = tracekit.load(tmp_path)
    assert traces.session_rates == {"r": [0.5, 0.1]}
    assert traces.weighted
    work = traces.stages().row(0, named=True)
    # Each sampled row stands for 1 / rate ticks: DuckDB over the rows repeated that often.
    files = ", ".join(f"'{path}'" for path in files_under(tmp_path))
    p50, p95, _p99, mean, n = duck(
        f"""
        WITH rows AS (
            SELECT duration_ns / 1e6 AS ms,
                   CASE WHEN filename LIKE '%golden-000001.parquet' THEN 2 ELSE 10 END AS w
            FROM read_parquet([{files}], filename = true)
            WHERE kind = 'stage' AND detail = 'sampled'),
        repeated AS (SELECT ms FROM rows, range(w))
        SELECT quantile_cont(ms, 0.5), quantile_cont(ms, 0.95), quantile_cont(ms, 0.99),
               avg(ms), (SELECT count(*) FROM rows) FROM repeated
        """
    )[0]
    assert work["n"] == n == 50 + 20
    assert work["p50_ms"] == pytest.approx(p50, rel=1e-12)
    assert work["p95_ms"] == pytest.approx(p95, rel=1e-12)
    assert work["mean_ms"] == pytest.approx(mean, rel=1e-12)
    assert work["p99_ms"] is None  # n = 70 < 100
    # Unweighted, the 0.5 session (50 rows of ~13 ms) would outweigh the 0.1 one.
    assert work["mean_ms"] > 30
    document = json.loads(invoke("analyze", tmp_path, "-f", "json").stdout)
    assert document["inputs"]["sample_rates"] == {"r": [0.5, 0.1]}
    assert document["inputs"]["weighted"] is True


def test_one_rate_is_not_weighted(tmp_path: Path) -> None:
    write_known_dataset(tmp_path)
    traces = tracekit.load(tmp_path)
    assert not traces.weighted
    assert traces.session_rates == {"alpha": [0.5], "beta": [0.5]}


# -- nanoseconds -------------------------------------------------------------------


def test_since_keeps_every_nanosecond_digit(tmp_path: Path) -> None:
    base = EPOCH_NS + 3_123_456_789
    write_run(tmp_path, "ns", [Tick(i, base + i - 2, 10 * MS) for i in range(1, 4)])
    since = "2026-01-01T00:00:03.123456789"
    assert tracekit.load(tmp_path).select(since=since).deadline()["ticks"].to_list() == [2]
    document = json.loads(invoke("analyze", tmp_path, "-f", "json", "--since", since).stdout)
    assert document["deadline"][0]["ticks"] == 2
    assert document["selection"]["since"] == "2026-01-01T00:00:03.123456789Z"
    until = "2026-01-01T00:00:03.123456789Z"
    assert tracekit.load(tmp_path).select(until=until).deadline()["ticks"].to_list() == [1]
    spaced = "2026-01-01 00:00:03,123456790+00:00"
    assert tracekit.load(tmp_path).select(since=spaced).deadline()["ticks"].to_list() == [1]
    with pytest.raises(InputError, match="not an ISO 8601 time"):
        tracekit.load(tmp_path).select(since="2026-01-01T00:00:03.1234567891")


def test_sub_microsecond_windows_are_labelled_exactly_in_one_format(tmp_path: Path) -> None:
    write_run(tmp_path, "ns", [Tick(i, EPOCH_NS + i * 1000, 10 * MS) for i in range(1, 5)])
    document = json.loads(invoke("analyze", tmp_path, "-f", "json", "--every", "1500ns").stdout)
    starts = [row["window_start"] for row in document["deadline"]]
    # Ticks at 1000..4000 ns fall in the windows starting at 0, 1500 and 3000 ns.
    assert starts == [
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00.0000015Z",
        "2026-01-01T00:00:00.000003Z",
    ]
    text = invoke(
        "analyze", tmp_path, "-f", "csv", "--csv-table", "deadline", "--every", "1500ns"
    ).stdout
    assert [row["window_start"] for row in csv.DictReader(io.StringIO(text))] == starts
    table = invoke("analyze", tmp_path, "--every", "1500ns", "--no-color").stdout
    assert "2026-01-01T00:00:00.0000015Z" in table


# -- an unknown symbol, and sections without data ---------------------------------


def test_an_unknown_symbol_is_an_error_listing_the_symbols(tmp_path: Path) -> None:
    write_known_dataset(tmp_path)
    with pytest.raises(InputError, match="symbol NOPE is not in the data; symbols: BTC, ETH"):
        tracekit.load(tmp_path).select(symbols=["NOPE"]).analyze()
    # A known symbol passes; a selection without it stays valid for plots (tick rows).
    assert tracekit.load(tmp_path).select(symbols=["BTC"]).analyze().deadline["ticks"][0] == 400
    result = run_in_process("analyze", tmp_path, "--symbol", "NOPE")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "Error: symbol NOPE is not in the data; symbols: BTC, ETH"
    ]


def test_a_loop_without_symbols_or_requests_gets_no_empty_sections(tmp_path: Path) -> None:
    t0 = EPOCH_NS
    ticks = [
        Tick(
            i,
            t0 + i * 250 * MS,
            20 * MS,
            spans=((STAGE, "step", None, None, None, t0 + i * 250 * MS, 5 * MS),),
            parallel_symbols=None,
        )
        for i in range(1, 31)
    ]
    write_run(tmp_path, "plain", ticks)
    for args in (["--no-color"], ["-f", "markdown"]):
        text = invoke("analyze", tmp_path, *args).stdout
        for title in ("Exchange requests", "Parallel symbols", "Guard trips", "What the missed"):
            assert title not in text
        assert text.count("Not shown, no data:") == 1
        assert "exchange requests" in text.split("Not shown, no data:")[1]
    document = json.loads(invoke("analyze", tmp_path, "-f", "json").stdout)
    assert document["requests"] == []  # the JSON keeps every key
    header = invoke("analyze", tmp_path, "-f", "csv", "--csv-table", "requests").stdout
    assert header.startswith("verb,api,n,")
