"""The pure queries of ``tracekit.analysis.queries``: self time by its sorted sweep
against the pair-by-pair reference of ``analysis_helpers.self_times`` on many
random shapes of nesting, and the stage table's self time read in batches of files
equal to one read of every file."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from analysis_helpers import EPOCH_NS, MS, Tick, files_under, read_rows, self_times, write_run

import tracekit
from tracekit.analysis import queries, traceset
from tracekit.store import schema

STAGE, REQUEST = schema.KIND_STAGE, schema.KIND_REQUEST
INTEGERS = ("tick_id", "start_unix_ns", "duration_ns")


def random_rows(rng: random.Random, ticks: int) -> list[dict[str, Any]]:
    """Spans of a few lanes with nested, overlapping, touching and identical intervals."""
    rows: list[dict[str, Any]] = []
    for tick in range(1, ticks + 1):
        for run in ("a", "b")[: rng.randint(1, 2)]:
            for symbol in (None, "BTC", "ETH")[: rng.randint(1, 3)]:
                spans: list[tuple[int, int]] = []
                for _ in range(rng.randint(0, 9)):
                    if spans and rng.random() < 0.5:  # inside, touching or equal to another
                        start, duration = rng.choice(spans)
                        if rng.random() < 0.2:
                            new = (start, duration)
                        else:
                            low = start + rng.randint(0, duration)
                            new = (low, rng.randint(0, start + duration - low))
                    else:
                        new = (rng.randint(0, 50), rng.randint(0, 40))
                    spans.append(new)
                    rows.append(
                        {
                            "run_id": run,
                            "tick_id": tick,
                            "symbol": symbol,
                            "kind": rng.choice((STAGE, STAGE, REQUEST)),
                            "start_unix_ns": EPOCH_NS + new[0],
                            "duration_ns": new[1],
                        }
                    )
    rng.shuffle(rows)  # the sweep must not rely on the files' order
    return rows


@pytest.mark.parametrize("seed", range(60))
def test_sorted_sweep_equals_the_pairwise_reference(seed: int) -> None:
    rows = random_rows(random.Random(seed), ticks=4)
    frame = pl.DataFrame(
        rows,
        schema={
            "run_id": pl.String,
            "tick_id": pl.Int64,
            "symbol": pl.String,
            "kind": pl.String,
            "start_unix_ns": pl.Int64,
            "duration_ns": pl.Int64,
        },
    )
    got = queries.with_self_time(frame)[queries.SELF].to_list()
    expected = self_times(rows)
    assert got == expected
    covered = queries.covered_ns(frame)
    for row, own, cover in zip(rows, expected, covered.tolist(), strict=True):
        assert own is not None
        assert cover == row["duration_ns"] - own
        assert cover == 0 or row["kind"] == STAGE  # only stages have children


@pytest.mark.parametrize("seed", range(10))
def test_lanes_of_far_apart_ticks_are_ranked_not_mixed(seed: int) -> None:
    # Tick ids too far apart to mix run, tick and symbol into one int64 take the
    # dense-rank path of the lane key; the figures are the reference's all the same.
    rows = random_rows(random.Random(seed), ticks=4)
    for row in rows:
        row["tick_id"] = (row["tick_id"] - 2) * 2**61 + row["tick_id"]
    text = dict.fromkeys(("run_id", "symbol", "kind"), pl.String)
    frame = pl.DataFrame(rows, schema={**text, **dict.fromkeys(INTEGERS, pl.Int64)})
    assert frame["tick_id"].max() - frame["tick_id"].min() > 2**62  # type: ignore[operator]
    assert queries.with_self_time(frame)[queries.SELF].to_list() == self_times(rows)


def test_no_spans_no_cover() -> None:
    empty = pl.DataFrame(
        schema={
            "run_id": pl.String,
            "tick_id": pl.Int64,
            "symbol": pl.String,
            "kind": pl.String,
            "start_unix_ns": pl.Int64,
            "duration_ns": pl.Int64,
        }
    )
    assert queries.covered_ns(empty).size == 0
    assert queries.with_self_time(empty).columns[-1] == queries.SELF


def nested_ticks(rng: random.Random, count: int) -> list[Tick]:
    ticks = []
    for tick_id in range(1, count + 1):
        start = EPOCH_NS + tick_id * 200 * MS
        spans: list[tuple[Any, ...]] = []
        for symbol in ("BTC", "ETH"):
            outer = rng.randint(20, 60) * MS
            spans.append((STAGE, "handle", symbol, None, None, start, outer))
            inner_start = start + rng.randint(0, 10) * MS
            spans.append((STAGE, "inner", symbol, None, None, inner_start, rng.randint(1, 9) * MS))
            at = start + rng.randint(0, 15) * MS
            spans.append((REQUEST, "order", symbol, "POST", None, at, rng.randint(1, 30) * MS))
        ticks.append(Tick(tick_id, start, 100 * MS, spans=tuple(spans)))
    return ticks


def test_batches_of_files_give_the_figures_of_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_run(tmp_path, "r", nested_ticks(random.Random(5), 300), window_ticks=30)
    assert len(files_under(tmp_path)) == 10
    whole = tracekit.load(tmp_path).stages(by=("symbol",))
    report = tracekit.load(tmp_path).analyze(by=("symbol",), every="5s", sketches=True)
    monkeypatch.setattr(traceset, "SELF_TIME_BATCH_BYTES", 1)  # one file a batch
    assert len(traceset._batches([str(p) for p in files_under(tmp_path)])) == 10
    batched = tracekit.load(tmp_path).stages(by=("symbol",))
    assert batched.equals(whole)
    # analyze's one pass reads a batch at a time too: the same tables.
    in_batches = tracekit.load(tmp_path).analyze(by=("symbol",), every="5s", sketches=True)
    assert in_batches.deadline["ticks"].sum() == 300
    for table in ("stages", "deadline", "attribution", "guards", "requests", "parallel"):
        assert getattr(in_batches, table).equals(getattr(report, table)), table
    rows = read_rows(files_under(tmp_path))
    own = self_times(rows)
    for stage in ("handle", "inner"):
        for symbol in ("BTC", "ETH"):
            values = [
                value
                for row, value in zip(rows, own, strict=True)
                if row["name"] == stage and row["symbol"] == symbol and value is not None
            ]
            got = whole.filter((pl.col("stage") == stage) & (pl.col("symbol") == symbol))
            assert got["self_mean_ms"].item() == pytest.approx(
                sum(values) / len(values) / MS, rel=1e-12
            )
    handle = whole.filter(pl.col("stage") == "handle")
    assert (handle["self_mean_ms"] < handle["mean_ms"]).all()  # the nesting is seen


def test_a_batch_of_long_spans_joins_the_narrow_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # analyze keeps a batch's durations as UInt32 when they fit; a file holding a span
    # of more than 2**32 ns (4.3 s) keeps Int64, and both give the figures of the
    # streaming queries behind stages() and requests().
    ticks = nested_ticks(random.Random(7), 90)
    first = ticks[0]
    long_spans = ((STAGE, "handle", "BTC", None, None, first.start_ns, 5_000 * MS),)
    ticks[0] = Tick(first.tick_id, first.start_ns, 5_100 * MS, spans=long_spans)
    write_run(tmp_path, "r", ticks, window_ticks=30)
    monkeypatch.setattr(traceset, "SELF_TIME_BATCH_BYTES", 1)  # one file a batch
    traces = tracekit.load(tmp_path)
    report = traces.analyze()
    assert report.stages["max_ms"].max() == pytest.approx(5_100.0)
    assert report.stages.equals(traces.stages())
    assert report.requests.equals(traces.requests())
    assert report.parallel.equals(traces.parallel())
