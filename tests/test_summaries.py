"""Per-file summaries (``tracekit.summary``): exact merges, quantiles within 1%,
fallbacks to the rows, and the profile built from footers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracekit.decisions.profile import (
    POINT_EXACT,
    POINT_HISTOGRAMS,
    Profile,
    _percentiles,
    profile_from_summaries,
)
from tracekit.decisions.sides import load_side
from tracekit.stats.histogram import ALPHA, bucket_indexes
from tracekit.store import schema
from tracekit.store.compact import compact
from tracekit.store.summary import (
    SUMMARY_ALPHA,
    bucket_array,
    decode,
    encode,
    merge,
    summarize,
    with_summary,
)

ROOT = Path(__file__).resolve().parent.parent
SHAPES = ("iid", "heavy_tail", "bimodal")


def _durations_ns(shape: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if shape == "iid":
        values = rng.lognormal(np.log(20e6), 0.3, n)
    elif shape == "heavy_tail":
        values = 5e6 * (1 + rng.pareto(1.5, n))
    else:
        slow = rng.random(n) < 0.3
        values = np.where(slow, rng.normal(150e6, 10e6, n), rng.normal(30e6, 3e6, n))
    return np.maximum(values, 1000).astype(np.int64)


def _table(durations_ns: np.ndarray, *, first_tick: int = 1, run_id: str = "r") -> pa.Table:
    """A schema-v1 table: one tick row and one sampled stage row per duration."""
    n = len(durations_ns)
    tick_ids = np.arange(first_tick, first_tick + n, dtype=np.int64)
    columns: dict[str, list[object]] = {name: [] for name in schema.COLUMN_NAMES}
    for tick_id, duration in zip(tick_ids.tolist(), durations_ns.tolist(), strict=True):
        for kind, name in ((schema.KIND_TICK, schema.TICK_TOTAL), (schema.KIND_STAGE, "spread")):
            tick = kind == schema.KIND_TICK
            row = {
                "run_id": run_id,
                "tick_id": tick_id,
                "kind": kind,
                "name": name,
                "symbol": None if tick else "BTC",
                "verb": None,
                "status": schema.STATUS_OK,
                "error_type": None,
                "start_unix_ns": tick_id * 10**9,
                "duration_ns": duration + (1000 if tick else 0),
                "deadline_ns": 100_000_000 if tick else None,
                "deadline_missed": duration + 1000 > 100_000_000 if tick else None,
                "parallel_symbols": 1 if tick else None,
                "guard_trips": 0 if tick else None,
                "request_count": 0 if tick else None,
                "detail": schema.DETAIL_SAMPLED,
            }
            for key, value in row.items():
                columns[key].append(value)
    return pa.table(columns, schema=schema.arrow_schema({schema.META_SAMPLE_RATE: "1.0"}))


def test_the_store_rule_is_the_stats_rule() -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [rng.lognormal(np.log(1e6), 3.0, 200_000), [0, 1, 2, 1e3, 1e9, 2**40]]
    ).astype(np.int64)
    assert SUMMARY_ALPHA == ALPHA
    from_arrow = bucket_array(pa.array(values)).to_numpy()
    assert np.array_equal(from_arrow, bucket_indexes(values.astype(np.float64)))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", range(4))
def test_quantiles_from_a_summary_are_within_one_percent(shape: str, seed: int) -> None:
    rng = np.random.default_rng([seed, SHAPES.index(shape)])
    durations = _durations_ns(shape, 20_000, rng)
    summary = decode(encode(summarize(_table(durations), chunk_ticks=256)), "test")
    estimated = _percentiles(summary.stage_histogram("spread"))
    for label, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        exact = float(np.quantile(durations, q, method="linear")) / 1e6
        value = estimated[label]
        assert value is not None
        assert abs(value - exact) / exact <= 0.01, (shape, seed, label, value, exact)


@pytest.mark.parametrize("seed", range(3))
def test_merge_is_the_summary_of_the_union(seed: int) -> None:
    rng = np.random.default_rng(seed)
    table = _table(_durations_ns("bimodal", 3000, rng))
    cuts = np.sort(rng.choice(np.arange(1, table.num_rows // 2), 3, replace=False)) * 2
    parts = [
        table.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, table.num_rows], strict=True)
    ]
    whole = summarize(table, chunk_ticks=64)
    sizes = [64, *(int(2**k) for k in rng.integers(3, 7, len(parts) - 1))]
    rng.shuffle(sizes)
    merged = merge(
        [summarize(part, chunk_ticks=size) for part, size in zip(parts, sizes, strict=True)]
    )
    assert merged.chunk_ticks == 64
    assert encode(merged) == encode(whole)


def test_merge_refuses_two_runs() -> None:
    rng = np.random.default_rng(1)
    a = summarize(_table(_durations_ns("iid", 10, rng), run_id="a"))
    b = summarize(_table(_durations_ns("iid", 10, rng), run_id="b"))
    with pytest.raises(ValueError, match="different runs"):
        merge([a, b])


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: {**d, "version": 99},
        lambda d: {**d, "ticks": d["ticks"] + 1},
        lambda d: {**d, "histogram": {**d["histogram"], "alpha": 0.01}},
        lambda d: {**d, "stage_histograms": {**d["stage_histograms"], "data": "AAAA"}},
        lambda d: {**d, "chunks": {**d["chunks"], "n": d["chunks"]["n"] + 1}},
    ],
)
def test_a_damaged_summary_is_refused(damage: object) -> None:
    from tracekit.errors import SchemaError

    rng = np.random.default_rng(2)
    document = json.loads(encode(summarize(_table(_durations_ns("iid", 500, rng)))))
    with pytest.raises(SchemaError, match="summary"):
        decode(json.dumps(damage(document)), "f.parquet")  # type: ignore[operator]


# -- datasets ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated dataset (every file with its summary) long enough for footers."""
    out = tmp_path_factory.mktemp("summaries") / "d"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "gen_dataset.py"),
            "--rows",
            "500000",
            "--files",
            "5",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("golden-*.parquet"))


def _assert_same_histograms(fast: Profile, exact: Profile) -> None:
    for stage in exact.stage_names():
        assert fast.merged(stage) == exact.merged(stage), stage
    assert fast.total_ticks == exact.total_ticks
    assert fast.deadline_misses == exact.deadline_misses
    assert fast.total_requests == exact.total_requests
    assert fast.guard_trips() == exact.guard_trips()
    assert fast.request_histograms() == exact.request_histograms()
    assert fast.deadline_ms == exact.deadline_ms


def test_the_profile_from_footers_is_the_profile_from_rows(dataset: Path) -> None:
    fast = load_side([str(dataset)])
    exact = load_side([str(dataset)], exact=True)
    assert fast.point_estimates == POINT_HISTOGRAMS
    assert fast.exact == {}
    assert fast.inputs == {"files_from_summaries": 5, "files_from_rows": 0}
    assert exact.point_estimates == POINT_EXACT
    assert exact.exact
    _assert_same_histograms(fast, exact)
    assert len(list(fast.blocks())) >= 64
    stages = fast.to_dict()["stage_percentiles"]
    for stage, figures in exact.exact.items():
        for label, value in figures.items():
            assert abs(stages[stage][label] - value) / value <= 0.01, (stage, label)


def _without_summary(path: Path) -> None:
    table = pq.read_table(path)
    metadata = {
        k: v for k, v in (table.schema.metadata or {}).items() if k != schema.META_SUMMARY.encode()
    }
    pq.write_table(table.replace_schema_metadata(metadata), path, compression="zstd")


def _with_metadata(path: Path, text: bytes) -> None:
    table = pq.read_table(path)
    metadata = {**(table.schema.metadata or {}), schema.META_SUMMARY.encode(): text}
    pq.write_table(table.replace_schema_metadata(metadata), path, compression="zstd")


def test_files_without_summaries_are_read_and_merged_in(dataset: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "mixed"
    shutil.copytree(dataset, copy)
    for path in _files(copy)[:2]:
        _without_summary(path)
    fast = load_side([str(copy)])
    assert fast.inputs == {"files_from_summaries": 3, "files_from_rows": 2}
    assert fast.warnings == ()
    _assert_same_histograms(fast, load_side([str(copy)], exact=True))
    for path in _files(copy):
        _without_summary(path)
    assert profile_from_summaries([str(copy)]) is None  # none: the rows, exactly
    assert load_side([str(copy)]).point_estimates == POINT_EXACT


def test_a_corrupt_summary_falls_back_to_the_rows_with_a_warning(
    dataset: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "corrupt"
    shutil.copytree(dataset, copy)
    first, second = _files(copy)[:2]
    _with_metadata(first, b'{"format": "tracekit.summary", "version": 1')
    text = pq.read_metadata(second).metadata[schema.META_SUMMARY.encode()]
    document = json.loads(text)
    document["guards"] = {reason: trips + 5 for reason, trips in document["guards"].items()}
    document["ticks"] += 3  # a summary that disagrees with itself
    _with_metadata(second, json.dumps(document).encode())
    fast = load_side([str(copy)])
    assert fast.inputs == {"files_from_summaries": 3, "files_from_rows": 2}
    assert len(fast.warnings) == 2
    assert str(first) in fast.warnings[0]
    assert "rows were read instead" in fast.warnings[0]
    _assert_same_histograms(fast, load_side([str(copy)], exact=True))


def test_the_cli_counts_the_warning_and_labels_the_source(dataset: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "cli"
    shutil.copytree(dataset, copy)
    _with_metadata(_files(copy)[0], b"not json")
    out = tmp_path / "p.json"
    done = subprocess.run(
        [sys.executable, "-m", "tracekit", "profile", str(copy), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("Warning:") == 1
    assert "not JSON" in done.stderr
    assert "from 4 file summaries and 1 files' rows" in done.stdout
    document = json.loads(out.read_text())
    assert document["point_estimates"] == POINT_HISTOGRAMS
    assert document["exact_percentiles"] == {}
    exact = tmp_path / "e.json"
    subprocess.run(
        [sys.executable, "-m", "tracekit", "profile", str(copy), "--exact", "-o", str(exact)],
        check=True,
        capture_output=True,
    )
    assert json.loads(exact.read_text())["point_estimates"] == POINT_EXACT


def test_compact_stores_the_merged_summary(dataset: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "compacted"
    shutil.copytree(dataset, copy)
    _without_summary(_files(copy)[1])  # an old window: summarized from its rows
    before = [pq.read_table(path) for path in _files(copy)]
    result = compact(copy, target_rows=10_000_000)
    assert result.files_after == 1
    (merged,) = _files(copy)
    text = pq.read_metadata(merged).metadata[schema.META_SUMMARY.encode()].decode()
    expected = merge([summarize(table) for table in before])
    assert encode(decode(text, str(merged))) == encode(expected)
    _assert_same_histograms(load_side([str(copy)]), load_side([str(copy)], exact=True))


def test_the_golden_writer_leaves_summaries_to_compact(tmp_path: Path) -> None:
    """Summarizing a window holds the GIL for milliseconds (tests/test_writer_gil.py
    bounds the writer's steps), so the writer's files carry none and are read row by
    row; ``compact`` adds the summary to the files it writes."""
    from tracekit import TraceConfig, Tracer
    from tracekit.store.compact import compact

    config = TraceConfig(output_dir=str(tmp_path), golden_trace_interval=50, sample_rate=1.0)
    with Tracer(config, run_id="w") as tracer:
        for _ in range(120):
            with tracer.tick(), tracer.stage("spread"):
                pass
    files = _files(tmp_path)
    assert len(files) == 3
    for path in files:
        assert schema.META_SUMMARY.encode() not in (pq.read_metadata(path).metadata or {})
    compact(tmp_path, 1_000_000)
    (merged,) = _files(tmp_path)
    text = pq.read_metadata(merged).metadata[schema.META_SUMMARY.encode()].decode()
    summary = decode(text, str(merged))
    assert encode(summary) == encode(summarize(pq.read_table(merged)))
    assert summary.ticks == 120
    assert summary.first_tick_id == 1
    assert summary.last_tick_id == 120
    assert sum(summary.stage_histogram("spread").values()) == 120


def test_with_summary_keeps_the_rows() -> None:
    table = _table(np.array([5_000_000, 7_000_000], dtype=np.int64))
    summarized = with_summary(table)
    assert summarized.equals(table)
    assert schema.META_SUMMARY.encode() in (summarized.schema.metadata or {})
