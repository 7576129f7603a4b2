"""Per-file summaries (``tracekit.summary``): exact merges, quantiles within 1%,
fallbacks to the rows, and the profile built from footers."""

from __future__ import annotations

import base64
import json
import math
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracekit.decisions.profile import (
    MIN_SUMMARY_BLOCKS,
    POINT_EXACT,
    POINT_HISTOGRAMS,
    Profile,
    _percentiles,
    block_ticks,
    profile_from_summaries,
)
from tracekit.decisions.sides import load_side
from tracekit.stats.histogram import ALPHA, bucket_indexes
from tracekit.store import schema
from tracekit.store.compact import compact
from tracekit.store.summary import (
    CHUNKS_PER_BLOCK,
    SUMMARY_ALPHA,
    Histograms,
    Summary,
    bucket_array,
    decode,
    encode,
    level_sizes,
    merge,
    profile_blocks,
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
    assert [level.chunk_ticks for level in summary.stage_levels] == [256 * 2**k for k in range(7)]
    spread = summary.stage_names.index("spread")
    for level in summary.stage_levels:  # every level, the same histogram, within 1%
        histograms = level.histograms()
        chosen = histograms.key == spread
        merged: dict[int, int] = {}
        for bucket, count in zip(histograms.bucket[chosen], histograms.count[chosen], strict=True):
            merged[int(bucket)] = merged.get(int(bucket), 0) + int(count)
        assert merged == summary.stage_histogram("spread"), level.chunk_ticks
        estimated = _percentiles(merged)
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
        lambda d: {
            **d,
            "stage_levels": [
                {
                    **d["stage_levels"][0],
                    "histograms": {**d["stage_levels"][0]["histograms"], "data": "AAAA"},
                },
                *d["stage_levels"][1:],
            ],
        },
        lambda d: {**d, "chunks": {**d["chunks"], "n": d["chunks"]["n"] + 1}},
        lambda d: {**d, "chunks": {**d["chunks"], "dtype": "<f8"}},
        lambda d: {**d, "stage_levels": d["stage_levels"][::2]},
        lambda d: {**d, "stage_levels": []},
        lambda d: {**d, "stage_levels": [{**d["stage_levels"][0], "chunk_ticks": 100}]},
        lambda d: {
            **d,
            "stage_levels": [
                {**d["stage_levels"][0], "histograms": d["request_histograms"]},
                *d["stage_levels"][1:],
            ],
        },
        lambda d: {**d, "stage_levels": [*d["stage_levels"][:-1], {"chunk_ticks": 256}]},
    ],
)
def test_a_damaged_summary_is_refused(damage: object) -> None:
    """Counts and the chunk table are checked when read, a level's histograms when
    first used (only the level a profile needs is decoded)."""
    from tracekit.errors import SchemaError

    rng = np.random.default_rng(2)
    summary = summarize(_table(_durations_ns("iid", 500, rng)), chunk_ticks=64)
    assert [level.chunk_ticks for level in summary.stage_levels] == [64, 128, 256]
    document = json.loads(encode(summary))
    with pytest.raises(SchemaError, match="summary"):
        _decode_and_use(json.dumps(damage(document)))  # type: ignore[operator]


def _decode_and_use(text: str) -> None:
    for level in decode(text, "f.parquet").stage_levels:
        level.histograms()


def _packed_columns(value: dict[str, object]) -> np.ndarray:
    raw = zlib.decompress(base64.b64decode(str(value["data"])))
    return np.frombuffer(raw, dtype=str(value.get("dtype", "<i8"))).astype(np.int64)


def _as_version_1(text: str) -> str:
    """A version 2 summary as version 1 stored it: int64 columns, the finest level only."""
    document = json.loads(text)
    document["version"] = 1
    finest = document.pop("stage_levels")[0]
    assert finest["chunk_ticks"] == document["chunk_ticks"]
    n = document["chunks"]["n"]
    chunks = _packed_columns(document["chunks"])[:n]
    columns = _packed_columns(finest["histograms"])
    m = finest["histograms"]["n"]
    columns[:m] = np.searchsorted(chunks, columns[:m])  # version 1: the chunk's position
    document["stage_histograms"] = {"n": m, "dtype": "<i8", "data": columns}
    for name in ("chunks", "stage_histograms", "request_histograms"):
        value = document[name]
        raw = (value["data"] if name == "stage_histograms" else _packed_columns(value)).astype(
            "<i8"
        )
        document[name] = {
            "n": value["n"],
            "data": base64.b64encode(zlib.compress(raw.tobytes(), 6)).decode(),
        }
    return json.dumps(document, separators=(",", ":"))


def _same_summary(a: Summary, b: Summary) -> None:
    for field in ("run_id", "chunk_ticks", "ticks", "first_tick_id", "last_tick_id"):
        assert getattr(a, field) == getattr(b, field), field
    assert (a.deadlines, a.guards, a.sample_rate) == (b.deadlines, b.guards, b.sample_rate)
    assert a.stage_names == b.stage_names
    assert a.request_keys == b.request_keys
    assert np.array_equal(a.chunks, b.chunks)
    assert np.array_equal(a.chunk_counts, b.chunk_counts)
    for field in ("group", "key", "bucket", "count"):
        assert np.array_equal(
            getattr(a.stage_histograms, field), getattr(b.stage_histograms, field)
        )
        assert np.array_equal(
            getattr(a.request_histograms, field), getattr(b.request_histograms, field)
        )


def test_a_version_1_summary_is_read_as_one_level() -> None:
    """``tests/golden/summary_v1.json``: written by tracekit's version 1 encoder (int64
    columns, no levels) for the rows rebuilt here."""
    text = (ROOT / "tests" / "golden" / "summary_v1.json").read_text().strip()
    assert json.loads(text)["version"] == 1
    old = decode(text, "old.parquet")
    assert [level.chunk_ticks for level in old.stage_levels] == [64]
    table = _table(_durations_ns("bimodal", 3000, np.random.default_rng(11)))
    new = summarize(table, chunk_ticks=64)
    _same_summary(old, new)
    assert old.stage_histogram("spread") == new.stage_histogram("spread")
    for size in (64, 256, 4096):  # coarser chunks from the one level, as stored ones
        assert _added(old.stage_entries(size)) == _added(new.stage_entries(size))
    # Merged with a version 2 summary, it gives the summary of the union.
    later = _table(_durations_ns("iid", 500, np.random.default_rng(12)), first_tick=3001)
    union = pa.concat_tables([table, later])
    assert encode(merge([old, summarize(later, chunk_ticks=64)])) == encode(
        summarize(union, chunk_ticks=64)
    )


def _added(histograms: Histograms) -> dict[tuple[int, int, int], int]:
    total: dict[tuple[int, int, int], int] = {}
    for entry in zip(
        histograms.group.tolist(),
        histograms.key.tolist(),
        histograms.bucket.tolist(),
        histograms.count.tolist(),
        strict=True,
    ):
        total[entry[:3]] = total.get(entry[:3], 0) + entry[3]
    return total


def test_levels_stop_where_the_file_spans_two_chunks() -> None:
    rng = np.random.default_rng(3)
    summary = summarize(_table(_durations_ns("iid", 700, rng), first_tick=1000), chunk_ticks=64)
    sizes = [level.chunk_ticks for level in summary.stage_levels]
    # ticks 1000..1699: 12 chunks of 64, 6 of 128, 4 of 256, 3 of 512, 2 of 1024
    assert sizes == [64, 128, 256, 512, 1024]
    coarsest = summary.stage_levels[-1].histograms()
    assert sorted(set(coarsest.group.tolist())) == [0, 1]
    assert _added(summary.stage_totals()) == _added(summary.stage_entries(2**20))


def test_the_store_restates_the_profile_rule() -> None:
    from tracekit.decisions import profile
    from tracekit.store import summary

    assert summary.PROFILE_BLOCKS_PER_RUN == profile.TARGET_BLOCKS_PER_RUN
    assert summary.PROFILE_MIN_BLOCK_TICKS == profile.MIN_BLOCK_TICKS


@pytest.mark.parametrize("last", [1, 900, 2**20, 2**21 + 7, 3_147_607, 15_731_056, 10**9])
def test_a_profile_reads_chunks_that_fit_four_times_in_its_blocks(last: int) -> None:
    rule = block_ticks(last)
    size, block = profile_blocks(last, 1024)
    assert size >= 1024
    assert size & (size - 1) == 0
    assert block % size == 0
    assert rule <= block < rule + size
    if rule >= CHUNKS_PER_BLOCK * 1024:
        assert CHUNKS_PER_BLOCK * size <= rule < 2 * CHUNKS_PER_BLOCK * size
        assert block < rule * (1 + 1 / CHUNKS_PER_BLOCK)
    # A file ending at or before `last` stores that level or a finer one.
    for first, file_last in ((1, last), (max(1, last // 2), last), (1, max(1, last // 3))):
        sizes = level_sizes(1024, first, file_last)
        assert sizes[0] <= size
        assert sizes == [sizes[0] * 2**k for k in range(len(sizes))]


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


def _writer_windows(windows: int, ticks: int) -> list[list[object]]:
    """Windows of sampled ticks (a tick row, 3 stage spans, a request, a guard trip)."""
    from tracekit.trace.records import FinishedTick

    rng = np.random.default_rng(5)
    result: list[list[object]] = []
    for n in range(windows):
        window: list[object] = []
        for tick_id in range(1 + n * ticks, 1 + (n + 1) * ticks):
            start = tick_id * 250_000_000
            fetch, spread, emit = rng.lognormal(np.log(3e6), 0.5, 3).astype(np.int64).tolist()
            total = fetch + spread + emit + 1000
            spans = [
                ("stage", "fetch_md", None, None, None, start, fetch),
                ("stage", "spread", "BTC", None, None, start + fetch, spread),
                ("stage", "emit", None, None, None, start + fetch + spread, emit),
                ("request", "orderbook", "BTC", "GET", "ok", start, fetch // 2),
            ]
            window.append(
                FinishedTick(
                    tick_id,
                    start,
                    total,
                    12_000_000,
                    total > 12_000_000,
                    None,
                    1,
                    1,
                    1,
                    schema.DETAIL_SAMPLED,
                    spans,
                    [("latency_soft", "BTC", start + 10)],
                )
            )
        result.append(window)
    return result


@pytest.mark.slow
def test_the_golden_writer_stores_summaries_and_compact_keeps_the_profile(
    tmp_path: Path,
) -> None:
    """The writer's files carry summaries; the profile from their footers is the one
    from the footer of the file ``compact`` makes of them, and has the rows' histograms."""
    from tracekit.trace.sinks.golden import GoldenWriter

    windows = _writer_windows(3, 23_000)  # 69,000 ticks: 68 blocks of 1,024
    from tracekit._version import __version__

    metadata = {
        schema.META_SCHEMA_VERSION: str(schema.SCHEMA_VERSION),
        schema.META_TRACEKIT_VERSION: __version__,
        schema.META_RUN_ID: "w",
        schema.META_SAMPLE_RATE: "1.0",
    }
    writer = GoldenWriter(tmp_path, "w", metadata, 0, 4)
    for window in windows:
        writer.submit(window)  # type: ignore[arg-type]
    writer.close(120)
    assert writer.stats().files_written == 3
    files = _files(tmp_path)
    parts = []
    for path in files:
        text = pq.read_metadata(path).metadata[schema.META_SUMMARY.encode()].decode()
        summary = decode(text, str(path))
        assert encode(summary) == encode(summarize(pq.read_table(path)))
        assert summary.ticks == 23_000
        parts.append(summary)
    assert sum(merge(parts).stage_histogram("spread").values()) == 69_000
    written = profile_from_summaries([str(tmp_path)])
    assert written is not None
    assert written.inputs == {"files_from_summaries": 3, "files_from_rows": 0}
    assert len(list(written.blocks())) == math.ceil(69_000 / 1024) >= MIN_SUMMARY_BLOCKS
    _assert_same_histograms(written, load_side([str(tmp_path)], exact=True))
    compact(tmp_path, 1_000_000)
    (merged,) = _files(tmp_path)
    text = pq.read_metadata(merged).metadata[schema.META_SUMMARY.encode()].decode()
    assert encode(decode(text, str(merged))) == encode(merge(parts))
    compacted = profile_from_summaries([str(tmp_path)])
    assert compacted is not None
    assert compacted.inputs == {"files_from_summaries": 1, "files_from_rows": 0}
    assert _without_source(compacted.to_dict()) == _without_source(written.to_dict())


def _without_source(document: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in document.items() if key != "inputs"}


def test_files_with_version_1_summaries_give_the_same_profile(
    dataset: Path, tmp_path: Path
) -> None:
    """Files written before summary version 2 are profiled from their one level, with
    the same blocks and histograms as from the new levels."""
    copy = tmp_path / "old"
    shutil.copytree(dataset, copy)
    for path in _files(copy)[:3]:
        text = pq.read_metadata(path).metadata[schema.META_SUMMARY.encode()].decode()
        _with_metadata(path, _as_version_1(text).encode())
        assert (
            json.loads(pq.read_metadata(path).metadata[schema.META_SUMMARY.encode()])["version"]
            == 1
        )
    old = load_side([str(copy)])
    new = load_side([str(dataset)])
    assert old.inputs == {"files_from_summaries": 5, "files_from_rows": 0}
    assert old.warnings == ()
    assert old.to_dict() == new.to_dict()
    (run,) = new.runs
    assert run.block_ticks == profile_blocks(new.total_ticks, 1024)[1]  # tick ids 1 to N


def test_a_damaged_level_falls_back_to_the_rows(dataset: Path, tmp_path: Path) -> None:
    """A level is decoded only when the profile needs it: damage found then still
    reads that file's rows, with a warning."""
    copy = tmp_path / "level"
    shutil.copytree(dataset, copy)
    first = _files(copy)[0]
    document = json.loads(pq.read_metadata(first).metadata[schema.META_SUMMARY.encode()])
    for level in document["stage_levels"]:
        level["histograms"]["data"] = base64.b64encode(b"not zlib").decode()
    _with_metadata(first, json.dumps(document).encode())
    fast = load_side([str(copy)])
    assert fast.inputs == {"files_from_summaries": 4, "files_from_rows": 1}
    assert len(fast.warnings) == 1
    assert str(first) in fast.warnings[0]
    assert "rows were read instead" in fast.warnings[0]
    assert fast.to_dict()["runs"] == load_side([str(dataset)]).to_dict()["runs"]


def test_with_summary_keeps_the_rows() -> None:
    table = _table(np.array([5_000_000, 7_000_000], dtype=np.int64))
    summarized = with_summary(table)
    assert summarized.equals(table)
    assert schema.META_SUMMARY.encode() in (summarized.schema.metadata or {})
