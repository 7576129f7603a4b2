"""tracekit compact: fewer, larger files; the same answers; safe to interrupt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cli_helpers import run_in_process

import tracekit
from tracekit import TraceConfig, Tracer, VirtualClock
from tracekit.errors import InputError
from tracekit.sim.simulator import SimulationSpec, simulate
from tracekit.store.compact import compact


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "traces"
    config = TraceConfig(output_dir=str(root), golden_trace_interval=20)
    simulate(SimulationSpec(ticks=300, seed=4), config, run_id="r")
    return root


def window_files(root: Path) -> list[str]:
    return sorted(path.name for path in (root / "run_id=r").glob("golden-*.parquet"))


def test_compaction_keeps_every_answer(dataset: Path) -> None:
    before = tracekit.load(dataset).analyze().to_dict()
    assert len(window_files(dataset)) == 15
    result = compact(dataset, target_rows=1000)
    assert result.files_before == 15
    names = window_files(dataset)
    assert len(names) == result.files_after < 15
    assert names[0].startswith("golden-000001-")
    assert names[-1].endswith("-000015.parquet")
    after = tracekit.load(dataset).analyze().to_dict()
    for key in ("stages", "deadline", "guards", "requests", "attribution", "parallel_symbols"):
        assert after[key] == before[key], key
    metadata = pq.read_schema(dataset / "run_id=r" / names[0]).metadata
    assert metadata[b"tracekit.run_id"] == b"r"
    first, last = (int(part) for part in names[0][len("golden-") : -len(".parquet")].split("-"))
    assert metadata[b"tracekit.window"].decode() == f"{first}-{last}"


def test_an_interrupted_compaction_counts_nothing_twice(dataset: Path, tmp_path: Path) -> None:
    originals = tmp_path / "originals"
    shutil.copytree(dataset / "run_id=r", originals)
    compact(dataset, target_rows=10**9)
    assert window_files(dataset) == ["golden-000001-000015.parquet"]
    for path in originals.iterdir():  # as if the removals never happened
        shutil.copy(path, dataset / "run_id=r" / path.name)
    assert tracekit.load(dataset).deadline()["ticks"].to_list() == [300]
    compact(dataset)
    assert window_files(dataset) == ["golden-000001-000015.parquet"]


def test_a_resumed_run_continues_after_compacted_windows(dataset: Path) -> None:
    compact(dataset, target_rows=10**9)
    config = TraceConfig(output_dir=str(dataset), golden_trace_interval=20)
    with Tracer(config, clock=VirtualClock(), run_id="r") as tracer:
        for _ in range(20):
            with tracer.tick():
                pass
    assert window_files(dataset)[-1] == "golden-000016.parquet"
    ids = pq.read_table(dataset / "run_id=r" / "golden-000016.parquet").column("tick_id")
    assert min(ids.to_pylist()) == 301


def test_compact_cli(dataset: Path, tmp_path: Path) -> None:
    done = run_in_process("compact", dataset)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Compacted 15 files into 1 ")
    missing = run_in_process("compact", tmp_path / "nope")
    assert missing.returncode == 2
    assert missing.stderr.startswith("Error: ")


def test_many_small_files_read_once_give_the_same_answers(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracekit.analysis import traceset

    scanned = tracekit.load(dataset)
    assert scanned._memory.frame is None
    expected = scanned.analyze(by=["symbol"], every="1m", sketches=True).to_dict()
    monkeypatch.setattr(traceset, "MANY_FILES", 10)
    in_memory = tracekit.load(dataset)
    assert in_memory._memory.frame is not None  # read by load's value check
    actual = in_memory.analyze(by=["symbol"], every="1m", sketches=True).to_dict()
    for key in ("stages", "deadline", "guards", "requests", "attribution", "parallel_symbols"):
        assert actual[key] == expected[key], key
    narrowed = in_memory.select(runs=["r"], symbols=["BTC-USD"]).stages()
    assert narrowed.equals(scanned.select(runs=["r"], symbols=["BTC-USD"]).stages())


def test_in_memory_read_skips_a_file_with_bad_durations(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa

    from tracekit.analysis import traceset

    victim = dataset / "run_id=r" / "golden-000003.parquet"
    table = pq.read_table(victim)
    durations = table.column("duration_ns").to_pylist()
    durations[0] = -5
    index = table.schema.get_field_index("duration_ns")
    table = table.set_column(index, table.schema.field(index), pa.array(durations, pa.int64()))
    pq.write_table(table, victim)
    monkeypatch.setattr(traceset, "MANY_FILES", 2)
    with pytest.raises(InputError, match="negative"):
        tracekit.load(dataset)
    traces = tracekit.load(dataset, skip_bad=True)
    assert [skipped.path for skipped in traces.skipped] == [str(victim)]
    assert traces.deadline()["ticks"].to_list() == [300 - 20]


def _move_windows(dataset: Path, aside: Path, numbers: range) -> None:
    aside.mkdir(exist_ok=True)
    for number in numbers:
        name = f"golden-{number:06d}.parquet"
        shutil.move(dataset / "run_id=r" / name, aside / name)


def _bring_back(dataset: Path, aside: Path) -> None:
    for path in sorted(aside.iterdir()):
        shutil.move(path, dataset / "run_id=r" / path.name)


def test_a_later_compact_merges_merged_files_up_to_the_target(
    dataset: Path, tmp_path: Path
) -> None:
    """Hourly compaction of a live run: each pass merges what came since with what
    earlier passes merged, until files reach the target."""
    before = tracekit.load(dataset).analyze().to_dict()
    aside = tmp_path / "later"
    _move_windows(dataset, aside, range(6, 16))  # windows 6-15 not written yet
    compact(dataset, target_rows=10**9)
    assert window_files(dataset) == ["golden-000001-000005.parquet"]
    _bring_back(dataset, aside)
    _move_windows(dataset, aside, range(11, 16))
    compact(dataset, target_rows=10**9)
    assert window_files(dataset) == ["golden-000001-000010.parquet"]
    _bring_back(dataset, aside)
    result = compact(dataset, target_rows=10**9)
    assert result.files_before == 6  # one merged file and five windows
    assert window_files(dataset) == ["golden-000001-000015.parquet"]
    after = tracekit.load(dataset).analyze().to_dict()
    for key in ("stages", "deadline", "guards", "requests", "attribution", "parallel_symbols"):
        assert after[key] == before[key], key
    metadata = pq.read_schema(dataset / "run_id=r" / "golden-000001-000015.parquet").metadata
    assert metadata[b"tracekit.window"] == b"1-15"
    assert metadata[b"tracekit.ticks"] == b"300"


def test_a_merged_file_at_the_target_is_left_as_it_is(dataset: Path, tmp_path: Path) -> None:
    aside = tmp_path / "later"
    _move_windows(dataset, aside, range(6, 16))
    compact(dataset, target_rows=10**9)
    rows = pq.read_metadata(dataset / "run_id=r" / "golden-000001-000005.parquet").num_rows
    _bring_back(dataset, aside)
    compact(dataset, target_rows=rows)  # the merged file is already at the target
    names = window_files(dataset)
    assert names[0] == "golden-000001-000005.parquet"
    assert all(not name.startswith("golden-000001-0000") for name in names[1:])


def test_an_interrupted_re_merge_counts_nothing_twice(dataset: Path, tmp_path: Path) -> None:
    aside = tmp_path / "later"
    _move_windows(dataset, aside, range(6, 16))
    compact(dataset, target_rows=10**9)
    kept = tmp_path / "kept"
    kept.mkdir()
    shutil.copy(dataset / "run_id=r" / "golden-000001-000005.parquet", kept)
    _bring_back(dataset, aside)
    compact(dataset, target_rows=10**9)
    assert window_files(dataset) == ["golden-000001-000015.parquet"]
    shutil.copy(kept / "golden-000001-000005.parquet", dataset / "run_id=r")  # not yet removed
    assert tracekit.load(dataset).deadline()["ticks"].to_list() == [300]
    result = compact(dataset, target_rows=10**9)
    assert result.covered_removed == 1
    assert window_files(dataset) == ["golden-000001-000015.parquet"]
