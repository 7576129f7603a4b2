"""load(defer_value_check=True): the rows' check runs with the first question, the same
error as load()'s, and analyze() finds it inside its one pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_helpers import EPOCH_NS, MS, Tick, known_ticks, write_run

import tracekit
from tracekit.analysis import traceset
from tracekit.analysis.sources import SkippedFile
from tracekit.errors import InputError


def _dataset(root: Path, *, bad: str | None) -> Path:
    """Three runs of good ticks, and (``bad``) one file of a negative or null duration
    in the middle of the sorted files."""
    for index, run in enumerate(["a", "c", "d"]):
        write_run(root, run, known_ticks(run, 30, EPOCH_NS + index * 100_000 * MS))
    if bad == "negative":
        stage = ("stage", "spread", "BTC", None, None, EPOCH_NS, -5)
        write_run(root, "b", [Tick(1, EPOCH_NS, 10 * MS, spans=(stage,))])
    elif bad == "null":
        write_run(root, "b", [Tick(1, EPOCH_NS, None)])
    return root


def _eager_error(root: Path) -> str:
    with pytest.raises(InputError) as caught:
        tracekit.load(root)
    return str(caught.value)


def _count_scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one at every call of ``TraceSet.bad_values`` (the check's
    own read of the rows)."""
    scans: list[int] = []
    original = traceset.TraceSet.bad_values

    def counted(self: traceset.TraceSet) -> list[SkippedFile]:
        scans.append(1)
        return original(self)

    monkeypatch.setattr(traceset.TraceSet, "bad_values", counted)
    return scans


@pytest.mark.parametrize("bad", ["negative", "null"])
@pytest.mark.parametrize("one_file_a_batch", [False, True])
def test_analyze_raises_load_s_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str, one_file_a_batch: bool
) -> None:
    root = _dataset(tmp_path, bad=bad)
    expected = _eager_error(root)
    assert "run_id=b" in expected
    assert bad in expected
    if one_file_a_batch:  # the bad file in a later batch than the first
        monkeypatch.setattr(traceset, "SELF_TIME_BATCH_BYTES", 1)
    traces = tracekit.load(root, defer_value_check=True)  # nothing read yet
    with pytest.raises(InputError) as caught:
        traces.analyze()
    assert str(caught.value) == expected
    with pytest.raises(InputError) as again:  # still pending: every question refuses
        traces.select(runs=["a"]).stages()
    assert str(again.value) == expected


def test_other_questions_check_first(tmp_path: Path) -> None:
    root = _dataset(tmp_path, bad="negative")
    expected = _eager_error(root)
    for question in ("stages", "requests", "guards", "parallel"):
        traces = tracekit.load(root, defer_value_check=True)
        with pytest.raises(InputError) as caught:
            getattr(traces, question)()
        assert str(caught.value) == expected, question


def test_good_rows_give_the_same_analysis_and_are_checked_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _dataset(tmp_path, bad=None)
    eager = tracekit.load(root).analyze().to_dict()
    scans = _count_scans(monkeypatch)
    traces = tracekit.load(root, defer_value_check=True)
    assert traces.analyze().to_dict() == eager
    traces.stages()
    traces.select(runs=["a"]).requests()
    assert scans == []  # the one pass checked every row; nothing scanned again
    fresh = tracekit.load(root, defer_value_check=True)
    fresh.stages()
    fresh.guards()
    assert scans == [1]  # a question other than analyze checks once, first


def test_skip_bad_checks_at_load(tmp_path: Path) -> None:
    root = _dataset(tmp_path, bad="negative")
    traces = tracekit.load(root, skip_bad=True, defer_value_check=True)
    assert [Path(s.path).parent.name for s in traces.skipped] == ["run_id=b"]
    assert list(traces.analyze().runs) == ["a", "c", "d"]


def test_bad_values_lists_the_files_of_a_deferred_set(tmp_path: Path) -> None:
    root = _dataset(tmp_path, bad="null")
    traces = tracekit.load(root, defer_value_check=True)
    (found,) = traces.bad_values()  # the list, as for an eager set: no raise
    assert Path(found.path).parent.name == "run_id=b"
    assert found.reason == _eager_error(root)


def test_many_small_files_in_memory_are_checked_in_the_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Few enough bytes to be read into memory once. A deferred load reads nothing
    # into memory: the one pass reads and checks its batches. Once a question that
    # reads every file has read them into memory (here the list of bad files, which
    # leaves the check deferred), the pass checks that frame as it checks a batch.
    # Neither pass runs a check of its own.
    monkeypatch.setattr(traceset, "MANY_FILES", 2)
    root = _dataset(tmp_path, bad=None)
    eager = tracekit.load(root).analyze().to_dict()
    scans = _count_scans(monkeypatch)
    traces = tracekit.load(root, defer_value_check=True)
    assert traces.analyze().to_dict() == eager
    assert traces._memory.frame is None  # batches, not the frame
    assert scans == []
    traces = tracekit.load(root, defer_value_check=True)
    assert traces.bad_values() == []  # every file read, so into memory; still deferred
    assert traces._memory.frame is not None  # the in-memory path
    scans.clear()
    assert traces.analyze().to_dict() == eager
    assert scans == []
    bad_root = _dataset(tmp_path / "bad", bad="negative")
    expected = _eager_error(bad_root)
    with pytest.raises(InputError) as caught:
        tracekit.load(bad_root, defer_value_check=True).analyze()
    assert str(caught.value) == expected


@pytest.mark.parametrize("self_time", [False, True])
def test_a_null_duration_in_a_missed_tick_gets_load_s_error(
    tmp_path: Path, self_time: bool
) -> None:
    # The bad row is a span of a missed, sampled tick: the attribution's self-time
    # sweep would meet it (and fail in numpy) if the batch were used before its check.
    for index, run in enumerate(["a", "c", "d"]):
        write_run(tmp_path, run, known_ticks(run, 30, EPOCH_NS + index * 100_000 * MS))
    null_stage = ("stage", "spread", "BTC", None, None, EPOCH_NS, None)
    stage = ("stage", "quote", "BTC", None, None, EPOCH_NS, 5 * MS)
    write_run(tmp_path, "b", [Tick(1, EPOCH_NS, 300 * MS, spans=(null_stage, stage))])
    with pytest.raises(InputError) as eager:
        tracekit.load(tmp_path)
    deferred = tracekit.load(tmp_path, defer_value_check=True)
    with pytest.raises(InputError) as late:
        deferred.analyze(self_time=self_time)
    assert str(late.value) == str(eager.value)
    assert "run_id=b" in str(late.value)
