"""The figures of ``tracekit analyze`` (Python API), checked against numpy, DuckDB and scipy.

The data is hand-built (``analysis_helpers``): two runs, 400 ticks, every duration
known. Each figure is recomputed here from the raw rows without tracekit: numpy
``quantile(method="linear")`` and DuckDB ``quantile_cont`` for percentiles, the
textbook Wilson formula (and scipy, when installed) for the miss-rate interval.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from analysis_helpers import (
    EPOCH_NS,
    HUGE_NS,
    MIN_N,
    MS,
    RUNS,
    Tick,
    files_under,
    read_rows,
    reference_deadline,
    reference_guards,
    reference_parallel,
    reference_requests,
    reference_stages,
    self_times,
    wilson,
    write_known_dataset,
    write_run,
    write_tiny_dataset,
)
from cli_helpers import SAMPLES
from polars.testing import assert_frame_equal

import tracekit
from tracekit.analysis import TraceSet
from tracekit.errors import EmptyDataError, InputError

EVERY = "20s"
EVERY_NS = 20_000 * MS
LATENCY = ("n", "p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")
SELF_LATENCY = ("self_p50_ms", "self_p95_ms", "self_p99_ms", "self_mean_ms")

GROUPINGS: list[tuple[tuple[str, ...], str | None]] = [
    ((), None),
    (("run_id",), None),
    (("symbol",), None),
    (("run_id", "symbol"), None),
    ((), EVERY),
    (("run_id",), EVERY),
    (("symbol",), EVERY),
]
GROUPING_IDS = ["all", "run", "symbol", "run+symbol", "every", "run+every", "symbol+every"]


# -- data -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def known_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("known")
    write_known_dataset(root)
    return root


@pytest.fixture(scope="module")
def known_rows(known_root: Path) -> list[dict[str, Any]]:
    return read_rows(files_under(known_root))


@pytest.fixture(scope="module")
def known(known_root: Path) -> TraceSet:
    return tracekit.load(known_root)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    write_tiny_dataset(root)
    return root


def key_columns(by: Sequence[str], every: str | None, *, tick_wide: bool = False) -> list[str]:
    """The grouping columns of a section, in the order ``analyze`` reports them."""
    keys = [key for key in ("symbol", "run_id") if key in by]
    keys = sorted(keys, key=list(by).index)
    if tick_wide:
        keys = [key for key in keys if key != "symbol"]
    return [*keys, "window_start"] if every else keys


def row_key(columns: Sequence[str]) -> Any:
    """A reference grouping function: the row's value of each column (window start in ns)."""

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            row["start_unix_ns"] // EVERY_NS * EVERY_NS if column == "window_start" else row[column]
            for column in columns
        )

    return key


def by_group(frame: pl.DataFrame, columns: Sequence[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """A frame's rows by their group (window starts as ns since the epoch)."""
    if "window_start" in frame.columns:
        frame = frame.with_columns(pl.col("window_start").dt.epoch("ns"))
    rows = {tuple(row[c] for c in columns): row for row in frame.iter_rows(named=True)}
    assert len(rows) == frame.height, "a group appears twice"
    return rows


def assert_figures(
    frame: pl.DataFrame,
    reference: dict[tuple[Any, ...], dict[str, Any]],
    columns: Sequence[str],
) -> None:
    """Every group of ``reference`` is a row of ``frame`` with the same figures, and no other."""
    actual = by_group(frame, columns)
    assert set(actual) == set(reference)
    for group, expected in reference.items():
        for name, value in expected.items():
            got = actual[group][name]
            if value is None:
                assert got is None, (group, name, got)
            elif isinstance(value, int):
                assert got == value, (group, name)
            else:
                assert got == pytest.approx(value, rel=1e-9, abs=1e-12), (group, name)


# -- the known dataset is what the tests think it is -----------------------------------


def test_known_dataset_has_every_kind_of_detail(known_rows: list[dict[str, Any]]) -> None:
    details = {(row["kind"], row["detail"]) for row in known_rows}
    assert ("stage", "deadline_miss") in details
    assert ("request", "deadline_miss") in details
    assert ("tick", "none") in details
    biased = [
        row["duration_ns"]
        for row in known_rows
        if row["kind"] == "stage" and row["detail"] == "deadline_miss"
    ]
    assert min(biased) > HUGE_NS  # the rows analysis must leave out are seconds long
    ticks = [row for row in known_rows if row["kind"] == "tick"]
    assert len(ticks) == sum(count for count, _ in RUNS.values())
    missed = [row for row in ticks if row["deadline_missed"]]
    assert any(row["detail"] == "none" for row in missed)  # misses_with_detail < misses


# -- figures against numpy ---------------------------------------------------------------


@pytest.mark.parametrize(("by", "every"), GROUPINGS, ids=GROUPING_IDS)
def test_stage_figures_match_numpy(
    known: TraceSet, known_rows: list[dict[str, Any]], by: tuple[str, ...], every: str | None
) -> None:
    analysis = known.analyze(by=by, every=every)  # type: ignore[arg-type]
    keys = key_columns(by, every)
    reference = reference_stages(known_rows, row_key(keys))
    assert_figures(analysis.stages, reference, ["stage", *keys])
    assert analysis.stages.columns == ["stage", *keys, *LATENCY, *SELF_LATENCY]


def test_stages_use_only_sampled_rows_and_tick_total_every_tick(
    known: TraceSet, known_rows: list[dict[str, Any]]
) -> None:
    stages = known.stages()
    figures = {row["stage"]: row for row in stages.iter_rows(named=True)}
    for stage in ("fetch_md", "spread", "guards", "emit"):
        sampled = [
            row
            for row in known_rows
            if row["kind"] == "stage" and row["name"] == stage and row["detail"] == "sampled"
        ]
        assert figures[stage]["n"] == len(sampled)
        assert figures[stage]["max_ms"] < HUGE_NS / MS  # no deadline_miss row got in
        assert figures[stage]["mean_ms"] < 100
    ticks = [row for row in known_rows if row["kind"] == "tick"]
    assert figures["tick_total"]["n"] == len(ticks) == 400  # sampled or not
    assert {row["detail"] for row in ticks} == {"sampled", "deadline_miss", "none"}
    assert list(figures) == ["fetch_md", "spread", "guards", "emit", "tick_total"]


@pytest.mark.parametrize(("by", "every"), GROUPINGS, ids=GROUPING_IDS)
def test_request_figures_match_numpy(
    known: TraceSet, known_rows: list[dict[str, Any]], by: tuple[str, ...], every: str | None
) -> None:
    analysis = known.analyze(by=by, every=every)  # type: ignore[arg-type]
    keys = key_columns(by, every)
    reference = reference_requests(known_rows, row_key(keys))
    assert_figures(analysis.requests, reference, ["verb", "api", *keys])
    assert all(row["max_ms"] < HUGE_NS / MS for row in analysis.requests.to_dicts())
    share = analysis.requests["error_share"].max()
    assert isinstance(share, float)
    assert 0 < share < 1  # errors exist and are counted


@pytest.mark.parametrize(("by", "every"), GROUPINGS, ids=GROUPING_IDS)
def test_deadline_figures_match_textbook_wilson(
    known: TraceSet, known_rows: list[dict[str, Any]], by: tuple[str, ...], every: str | None
) -> None:
    analysis = known.analyze(by=by, every=every)  # type: ignore[arg-type]
    keys = key_columns(by, every, tick_wide=True)
    reference = reference_deadline(known_rows, row_key(keys))
    assert_figures(analysis.deadline, reference, keys)
    assert "symbol" not in analysis.deadline.columns  # a miss is tick-wide


@pytest.mark.parametrize(("by", "every"), GROUPINGS, ids=GROUPING_IDS)
def test_guard_figures_match_counts(
    known: TraceSet, known_rows: list[dict[str, Any]], by: tuple[str, ...], every: str | None
) -> None:
    analysis = known.analyze(by=by, every=every)  # type: ignore[arg-type]
    keys = key_columns(by, every)
    tick_keys = key_columns(by, every, tick_wide=True)
    reference = reference_guards(known_rows, row_key(keys), row_key(tick_keys))
    assert_figures(analysis.guards, reference, ["reason", *keys])
    # Shares add up to 1 within each group of ticks (all symbols together).
    totals = analysis.guards.group_by(tick_keys or pl.lit(1)).agg(pl.col("share").sum())
    assert totals["share"].to_list() == pytest.approx([1.0] * totals.height)


@pytest.mark.parametrize(("by", "every"), GROUPINGS, ids=GROUPING_IDS)
def test_parallel_symbols_match_numpy(
    known: TraceSet, known_rows: list[dict[str, Any]], by: tuple[str, ...], every: str | None
) -> None:
    analysis = known.analyze(by=by, every=every)  # type: ignore[arg-type]
    keys = key_columns(by, every, tick_wide=True)
    reference = reference_parallel(known_rows, row_key(keys))
    assert_figures(analysis.parallel, reference, keys)


def test_known_figures_by_hand(known: TraceSet) -> None:
    """A few figures fixed by the construction of the dataset, not recomputed."""
    deadline = known.deadline().row(0, named=True)
    # Every 9th tick misses: 240 // 9 + 160 // 9.
    assert (deadline["ticks"], deadline["misses"]) == (400, 26 + 17)
    assert deadline["deadline_ms"] == 200.0
    guards = {row["reason"]: row for row in known.guards().iter_rows(named=True)}
    assert guards["latency_hard"]["trips"] == 43  # one per missed tick
    assert guards["latency_hard"]["per_1000_ticks"] == pytest.approx(1000 * 43 / 400)
    parallel = known.parallel().row(0, named=True)
    # Every 3rd tick processes one symbol, the others two.
    assert (parallel["n"], parallel["min"], parallel["max"]) == (400, 1, 2)
    assert parallel["mean"] == pytest.approx((80 * 1 + 160 * 2 + 53 * 1 + 107 * 2) / 400)


def test_windows_start_on_multiples_of_every(known: TraceSet) -> None:
    deadline = known.deadline(every=EVERY)
    starts = deadline["window_start"].to_list()
    epoch = datetime.fromtimestamp(EPOCH_NS // 10**9, tz=UTC)
    assert starts == [epoch, epoch + timedelta(seconds=20), epoch + timedelta(seconds=40)]
    assert deadline["ticks"].to_list() == [80, 80 + 80, 80 + 80]
    assert deadline["window_start"].dtype == pl.Datetime("ns", "UTC")


# -- figures against DuckDB (the queries of docs/schema.md) -------------------------------


def duckdb_rows(sql: str) -> list[tuple[Any, ...]]:
    connection = duckdb.connect()
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def parquet(root: Path) -> str:
    files = ", ".join(f"'{path}'" for path in files_under(root))
    return f"read_parquet([{files}])"


def estimable(figures: dict[str, Any]) -> dict[str, Any]:
    """DuckDB's figures with a percentile of too small a sample nulled, as analyze does."""
    return {
        name: None if name in MIN_N and figures["n"] < MIN_N[name] else value
        for name, value in figures.items()
    }


LATENCY_SQL = """
    count(*),
    quantile_cont(duration_ns / 1e6, 0.5),
    quantile_cont(duration_ns / 1e6, 0.95),
    quantile_cont(duration_ns / 1e6, 0.99),
    max(duration_ns) / 1e6,
    avg(duration_ns) / 1e6
"""


@pytest.mark.parametrize("by", [(), ("run_id",)], ids=["all", "run"])
def test_stage_and_tick_total_figures_match_duckdb(
    known: TraceSet, known_root: Path, by: tuple[str, ...]
) -> None:
    group = "".join(f", {key}" for key in by)
    source = parquet(known_root)
    rows = duckdb_rows(
        f"""
        SELECT name{group}, {LATENCY_SQL} FROM {source}
        WHERE kind = 'stage' AND detail = 'sampled' GROUP BY ALL
        UNION ALL
        SELECT 'tick_total'{group}, {LATENCY_SQL} FROM {source}
        WHERE kind = 'tick' GROUP BY ALL
        """
    )
    expected = {
        row[: 1 + len(by)]: estimable(dict(zip(LATENCY, row[1 + len(by) :], strict=True)))
        for row in rows
    }
    assert any(figures["p99_ms"] is None for figures in expected.values()) == bool(by)
    assert len(expected) == (5 if not by else 10)
    assert_figures(known.stages(by=by), expected, ["stage", *by])  # type: ignore[arg-type]


def test_request_deadline_and_guard_figures_match_duckdb(known: TraceSet, known_root: Path) -> None:
    source = parquet(known_root)
    requests = duckdb_rows(
        f"""
        SELECT verb, name, {LATENCY_SQL}, avg((status = 'error')::INT)
        FROM {source} WHERE kind = 'request' AND detail = 'sampled' GROUP BY verb, name
        """
    )
    expected = {
        row[:2]: estimable(dict(zip((*LATENCY, "error_share"), row[2:], strict=True)))
        for row in requests
    }
    assert_figures(known.requests(), expected, ["verb", "api"])

    [(ticks, misses, miss_rate)] = duckdb_rows(
        f"SELECT count(*), sum(deadline_missed::INT), avg(deadline_missed::INT) FROM {source} "
        "WHERE kind = 'tick'"
    )
    deadline = known.deadline().row(0, named=True)
    assert (deadline["ticks"], deadline["misses"]) == (ticks, misses)
    assert deadline["miss_rate"] == pytest.approx(miss_rate, rel=1e-12)

    guards = duckdb_rows(
        f"""
        SELECT name, count(*),
               1000.0 * count(*) / (SELECT count(*) FROM {source} WHERE kind = 'tick'),
               count(*) / sum(count(*)) OVER ()
        FROM {source} WHERE kind = 'guard' GROUP BY name ORDER BY count(*) DESC, name
        """
    )
    frame = known.guards()
    assert frame["reason"].to_list() == [row[0] for row in guards]  # most trips first
    expected_guards = {
        (row[0],): {"trips": row[1], "per_1000_ticks": row[2], "share": row[3]} for row in guards
    }
    assert_figures(frame, expected_guards, ["reason"])


# -- the Wilson interval ---------------------------------------------------------------


@pytest.mark.slow  # imports scipy.stats (about a second) for the reference
def test_wilson_interval_matches_scipy(known: TraceSet) -> None:
    stats = pytest.importorskip("scipy.stats")
    for row in known.deadline(by=["run_id"]).iter_rows(named=True):
        interval = stats.binomtest(row["misses"], row["ticks"]).proportion_ci(
            confidence_level=0.95, method="wilson"
        )
        assert row["miss_rate_low"] == pytest.approx(interval.low, rel=1e-9)
        assert row["miss_rate_high"] == pytest.approx(interval.high, rel=1e-9)


def test_wilson_interval_with_no_miss(tiny_root: Path) -> None:
    row = tracekit.load(tiny_root).deadline().row(0, named=True)
    assert (row["ticks"], row["misses"], row["miss_rate"]) == (50, 0, 0.0)
    z2 = 1.959963984540054**2
    # With no success the upper bound is z^2 / (n + z^2) and the lower one 0.
    assert row["miss_rate_high"] == pytest.approx(z2 / (50 + z2), rel=1e-12)
    assert row["miss_rate_low"] == pytest.approx(0.0, abs=1e-12)
    assert wilson(0, 50)[1] == pytest.approx(row["miss_rate_high"], rel=1e-12)


# -- too few samples -------------------------------------------------------------------


def test_percentile_of_too_small_a_sample_is_null_never_the_max(tiny_root: Path) -> None:
    traces = tracekit.load(tiny_root)
    stages = {row["stage"]: row for row in traces.stages().iter_rows(named=True)}
    a, b = stages["a"], stages["b"]
    assert a["n"] == 50
    assert a["p99_ms"] is None  # p99 needs n >= 100
    assert a["p95_ms"] is not None
    assert a["p95_ms"] < a["max_ms"] == 500.0
    assert b["n"] == 10
    assert (b["p95_ms"], b["p99_ms"]) == (None, None)  # p95 needs n >= 20
    assert b["p50_ms"] == pytest.approx(21.0)
    assert b["max_ms"] == 500.0
    assert stages["tick_total"]["p99_ms"] is None
    [request] = traces.requests().iter_rows(named=True)
    assert (request["n"], request["p95_ms"], request["p99_ms"]) == (10, None, None)
    assert request["max_ms"] == 500.0


@pytest.mark.parametrize(
    ("n", "estimable"),
    [
        (1, (False, False, False)),
        (2, (True, False, False)),
        (19, (True, False, False)),
        (20, (True, True, False)),
        (99, (True, True, False)),
        (100, (True, True, True)),
    ],
)
def test_minimum_sample_for_each_percentile(
    tmp_path: Path, n: int, estimable: tuple[bool, bool, bool]
) -> None:
    ticks = [
        Tick(
            i,
            EPOCH_NS + i * 250 * MS,
            (10 + i) * MS,
            spans=(("stage", "x", None, None, None, EPOCH_NS + i * 250 * MS, i * MS),),
        )
        for i in range(1, n + 1)
    ]
    write_run(tmp_path, "edge", ticks)
    for row in tracekit.load(tmp_path).stages().iter_rows(named=True):
        assert row["n"] == n
        present = tuple(row[label] is not None for label in ("p50_ms", "p95_ms", "p99_ms"))
        assert present == estimable, row["stage"]
        assert row["max_ms"] is not None


# -- the Python API ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("by", "every"),
    [((), None), (("run_id",), None), (("symbol",), EVERY), (("run_id", "symbol"), None)],
    ids=["all", "run", "symbol+every", "run+symbol"],
)
def test_methods_return_the_frames_of_analyze(
    known_root: Path, by: tuple[str, ...], every: str | None
) -> None:
    traces = tracekit.load(known_root)
    analysis = traces.analyze(by=by, every=every)  # type: ignore[arg-type]
    pairs = {
        "stages": (traces.stages(by, every), analysis.stages),  # type: ignore[arg-type]
        "deadline": (traces.deadline(by, every), analysis.deadline),  # type: ignore[arg-type]
        "guards": (traces.guards(by, every), analysis.guards),  # type: ignore[arg-type]
        "requests": (traces.requests(by, every), analysis.requests),  # type: ignore[arg-type]
        "parallel": (traces.parallel(by, every), analysis.parallel),  # type: ignore[arg-type]
        "attribution": (traces.attribution(by, every), analysis.attribution),  # type: ignore[arg-type]
    }
    for name, (alone, together) in pairs.items():
        assert isinstance(alone, pl.DataFrame), name
        assert alone.height > 0, name
        assert_frame_equal(alone, together, check_exact=False, rel_tol=1e-12)


def test_load_and_analyze_print_nothing(
    known_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    traces = tracekit.load(known_root)
    traces.analyze(by=["run_id"], every=EVERY)
    traces.stages()
    assert capsys.readouterr() == ("", "")
    assert traces.runs == ["alpha", "beta"]
    assert traces.sample_rates == {"alpha": 0.5, "beta": 0.5}
    assert len(traces.files) == 5


def test_load_accepts_a_list_of_paths_and_reports_progress(known_root: Path) -> None:
    calls: list[tuple[int, int]] = []
    alpha, beta = known_root / "run_id=alpha", known_root / "run_id=beta"
    traces = tracekit.load(
        [alpha, str(beta)], progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(done, 5) for done in range(1, 6)]
    assert traces.deadline()["ticks"].to_list() == [400]


def test_selection_narrows_runs_symbols_stages_and_time(known: TraceSet) -> None:
    beta = known.select(runs=["beta"])
    assert beta.deadline()["ticks"].to_list() == [160]
    start = datetime.fromtimestamp(EPOCH_NS // 10**9, tz=UTC)
    late = known.select(since=start + timedelta(seconds=40))
    assert late.deadline()["ticks"].to_list() == [80 + 80]
    early = known.select(until=start + timedelta(seconds=20))
    assert early.deadline()["ticks"].to_list() == [80]
    btc = known.select(symbols=["BTC"]).analyze(by=["symbol"])
    assert set(btc.guards["symbol"].to_list()) <= {"BTC"}
    assert btc.deadline["ticks"].to_list() == [400]  # tick rows are tick-wide, always kept
    spread = known.select(stages=["spread", "tick_total"]).stages()
    assert spread["stage"].to_list() == ["spread", "tick_total"]


def test_selection_errors_name_what_is_missing(known: TraceSet) -> None:
    with pytest.raises(InputError, match="run nope is not in the data"):
        known.select(runs=["nope"])
    with pytest.raises(EmptyDataError, match="stage nope has no sampled rows"):
        known.select(stages=["nope"]).analyze()
    with pytest.raises(EmptyDataError, match="no tick in the selection"):
        known.select(since=datetime(2030, 1, 1, tzinfo=UTC)).analyze()
    with pytest.raises(InputError, match="cannot group by 'colour'"):
        known.analyze(by=["colour"])  # type: ignore[list-item]
    with pytest.raises(InputError, match="'soon' is not a positive number"):
        known.analyze(every="soon")


# -- attribution ------------------------------------------------------------------------


def reference_attribution(
    rows: list[dict[str, Any]], window_ns: int | None = None
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """(window start or (), component) -> ticks_dominated, missed_ticks_present,
    self_mean_ms and mean_ms, from the rows by hand (self times: ``self_times``)."""
    selfs = self_times(rows)
    missed = {
        (row["run_id"], row["tick_id"]): row["start_unix_ns"]
        for row in rows
        if row["kind"] == "tick" and row["deadline_missed"] and row["detail"] != "none"
    }
    per_symbol: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    for row, own in zip(rows, selfs, strict=True):
        tick = (row["run_id"], row["tick_id"])
        if tick in missed and own is not None:
            name = f"request:{row['name']}" if row["kind"] == "request" else row["name"]
            totals = per_symbol[(*tick, name, row["symbol"])]
            totals[0] += own
            totals[1] += row["duration_ns"]
    cost: dict[tuple[Any, ...], dict[str, tuple[int, int]]] = defaultdict(dict)
    for (run, tick_id, name, _), (own, inclusive) in per_symbol.items():
        before = cost[(run, tick_id)].get(name, (0, 0))
        cost[(run, tick_id)][name] = (max(before[0], own), max(before[1], inclusive))
    figures: dict[tuple[Any, ...], dict[str, Any]] = {}
    for tick, components in cost.items():
        window = () if window_ns is None else (missed[tick] // window_ns * window_ns,)
        winner = min(components, key=lambda name: (-components[name][0], name))
        for name, (own, inclusive) in components.items():
            entry = figures.setdefault(
                (*window, name),
                {"ticks_dominated": 0, "missed_ticks_present": 0, "self": [], "incl": []},
            )
            entry["ticks_dominated"] += name == winner
            entry["missed_ticks_present"] += 1
            entry["self"].append(own)
            entry["incl"].append(inclusive)
    return {
        key: {
            "ticks_dominated": entry["ticks_dominated"],
            "missed_ticks_present": entry["missed_ticks_present"],
            "self_mean_ms": sum(entry["self"]) / len(entry["self"]) / MS,
            "mean_ms": sum(entry["incl"]) / len(entry["incl"]) / MS,
        }
        for key, entry in figures.items()
    }


@pytest.mark.parametrize("every", [None, EVERY], ids=["all", "every"])
def test_attribution_names_the_component_with_the_largest_self_time(
    known: TraceSet, known_rows: list[dict[str, Any]], every: str | None
) -> None:
    reference = reference_attribution(known_rows, None if every is None else EVERY_NS)
    frame = known.attribution(every=every)
    keys = ["window_start"] if every else []
    assert_figures(frame, reference, [*keys, "component"])
    assert int(frame["ticks_dominated"].sum()) == known.deadline()["misses_with_detail"][0]
    shares = frame.group_by(keys or pl.lit(1)).agg(pl.col("share").sum())["share"]
    assert shares.to_list() == pytest.approx([1.0] * len(shares))
    if every:  # every table is split by --every, the attribution too
        assert frame["window_start"].n_unique() > 1
        assert_frame_equal(frame, known.analyze(every=every).attribution)


# -- bugs -----------------------------------------------------------------------------


def test_custom_stages_sort_before_tick_total(tiny_root: Path) -> None:
    stages = tracekit.load(tiny_root).stages()["stage"].to_list()
    assert stages == ["a", "b", "tick_total"]


def _ticks_at(offsets_ns: Sequence[int]) -> list[Tick]:
    return [Tick(i, EPOCH_NS + offset, 10 * MS) for i, offset in enumerate(offsets_ns, start=1)]


def test_since_keeps_a_record_starting_exactly_then(tmp_path: Path) -> None:
    write_run(tmp_path, "edge", _ticks_at([500, 1_000, 5_000]))
    since = datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC)  # EPOCH + 1 µs = EPOCH + 1000 ns
    ticks = tracekit.load(tmp_path).select(since=since).deadline()["ticks"].to_list()
    assert ticks == [2]


def test_until_leaves_out_a_record_starting_after_it(tmp_path: Path) -> None:
    write_run(tmp_path, "edge", _ticks_at([500, 1_010, 5_000]))
    until = datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    ticks = tracekit.load(tmp_path).select(until=until).deadline()["ticks"].to_list()
    assert ticks == [1]


def test_whole_second_since_and_until_are_exact(tmp_path: Path) -> None:
    write_run(tmp_path, "edge", _ticks_at([-1, 0, 10**9 - 1, 10**9]))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    traces = tracekit.load(tmp_path).select(since=start, until=start + timedelta(seconds=1))
    assert traces.deadline()["ticks"].to_list() == [2]
    assert math.isclose(traces.deadline()["miss_rate"][0], 0.0)


def test_a_trace_set_has_a_short_repr() -> None:
    """One line, whatever the number of files (a notebook cell shows it)."""

    import tracekit

    samples = SAMPLES / "current"
    traces = tracekit.load(samples)
    assert repr(traces) == "<TraceSet: 60 files; runs current-1, current-2>"
    chosen = traces.select(runs=["current-1"], stages=["spread"])
    assert repr(chosen) == (
        "<TraceSet: 60 files; runs current-1, current-2; "
        "selection stages=['spread'], runs=['current-1']>"
    )
