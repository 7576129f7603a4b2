"""Footers checked on every core (``tracekit.store.check_workers``).

The slices are made small here (``MIN_SLICE``), so a few dozen files are enough to
have real worker processes check most of them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from analysis_helpers import files_under, write_known_dataset

import tracekit
from tracekit.analysis import sources
from tracekit.errors import ConfigError, InputError, SchemaError
from tracekit.store import check_workers
from tracekit.store.check_workers import checked_in_parallel, outcome, slices


@pytest.fixture
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_workers, "MIN_SLICE", 2)
    monkeypatch.setattr(check_workers, "START_FILES", 0)
    monkeypatch.delenv("TRACEKIT_CHECK_WORKERS", raising=False)
    monkeypatch.setenv("TRACEKIT_FOOTER_CACHE", "0")


def mixed_files(tmp_path: Path) -> list[str]:
    """Good golden files with bad ones among them, in both halves: not Parquet,
    Parquet without tracekit metadata, empty, and a non-UTF-8 name."""
    root = tmp_path / "data"
    write_known_dataset(root)
    write_known_dataset(tmp_path / "more")
    good = files_under(root) + files_under(tmp_path / "more")
    bad = root / "run_id=alpha" / "golden-000090.parquet"
    bad.write_bytes(b"not parquet" * 10)
    (root / "run_id=alpha" / "golden-000091.parquet").write_bytes(b"")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1]}), root / "run_id=beta" / "golden-000092.parquet")
    odd = root / "run_id=beta" / "golden-0000\udce9.parquet"
    odd.write_bytes(good[0].read_bytes())
    return sorted(
        [str(path) for path in good]
        + [str(bad), str(root / "run_id=alpha" / "golden-000091.parquet")]
        + [str(root / "run_id=beta" / "golden-000092.parquet"), str(odd)]
    )


def same(left: list[check_workers.Outcome], right: list[check_workers.Outcome]) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        if isinstance(b, InputError):
            assert type(a) is type(b)
            assert str(a) == str(b)
        else:
            assert a == b


@pytest.mark.parametrize(("count", "cores"), [(0, 2), (1, 1), (999, 2), (10_000, 2), (10_000, 8)])
def test_slices_are_consecutive_cover_every_file_and_leave_workers_enough(
    count: int, cores: int
) -> None:
    parts = slices(count, cores)
    assert [index for part in parts for index in part] == list(range(count))
    assert 1 <= len(parts) <= cores
    assert all(len(part) >= check_workers.MIN_SLICE for part in parts[1:])
    if len(parts) > 1:  # this process's slice is the longer one: workers start later
        assert len(parts[0]) >= len(parts[1])
    if count >= 2 * check_workers.MIN_SLICE + check_workers.START_FILES:
        assert len(parts) == min(cores, count // check_workers.MIN_SLICE)


@pytest.mark.usefixtures("small_slices")
def test_workers_give_the_outcome_of_a_check_in_turn_and_this_process_checks_only_its_slice(
    tmp_path: Path,
) -> None:
    paths = mixed_files(tmp_path)
    here: list[str] = []

    def check(path: str) -> check_workers.Outcome:
        here.append(path)
        return outcome(path)

    parallel = list(checked_in_parallel(paths, check, cores=3))
    same(parallel, [outcome(path) for path in paths])
    first = slices(len(paths), 3)[0]
    assert here == [paths[index] for index in first]  # the rest came from the workers
    assert any(isinstance(answer, SchemaError) for answer in parallel)
    assert sum(isinstance(answer, InputError) for answer in parallel) == 3


@pytest.mark.usefixtures("small_slices")
@pytest.mark.parametrize("interpreter", ["/nonexistent/python", "/bin/true", "/bin/cat"])
def test_a_worker_that_cannot_start_or_answers_nothing_useful_leaves_its_files_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interpreter: str
) -> None:
    paths = mixed_files(tmp_path)
    monkeypatch.setattr(sys, "executable", interpreter)
    here: list[str] = []

    def check(path: str) -> check_workers.Outcome:
        here.append(path)
        return outcome(path)

    same(list(checked_in_parallel(paths, check, cores=2)), [outcome(path) for path in paths])
    assert here == paths


@pytest.mark.usefixtures("small_slices")
def test_a_worker_cut_short_is_used_up_to_its_last_whole_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = mixed_files(tmp_path)
    script = tmp_path / "half.py"
    script.write_text(
        "import json, sys\n"
        "from tracekit.store.check_workers import outcome\n"
        "paths = json.load(sys.stdin)\n"
        "for path in paths[:3]:\n"
        "    got = outcome(path)\n"
        "    print(json.dumps({'ok': got} if isinstance(got, dict) else"
        " {'error': type(got).__name__, 'message': str(got)}))\n"
        'sys.stdout.write(\'{"ok": {"tracekit.\')\n'
        "sys.exit(3)\n"
    )
    wrapper = tmp_path / "python"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {script}\n")
    wrapper.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(wrapper))
    here: list[str] = []

    def check(path: str) -> check_workers.Outcome:
        here.append(path)
        return outcome(path)

    same(list(checked_in_parallel(paths, check, cores=2)), [outcome(path) for path in paths])
    second = slices(len(paths), 2)[1]
    answered = [paths[index] for index in second][:3]
    assert not set(answered) & set(here)  # its three whole answers were taken
    assert len(here) == len(paths) - 3


@pytest.mark.usefixtures("small_slices")
def test_workers_are_stopped_when_the_caller_stops_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = mixed_files(tmp_path)
    started: list[subprocess.Popen[bytes]] = []
    real = subprocess.Popen

    def recording(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        process = real(*args, **kwargs)  # type: ignore[call-overload]
        started.append(process)
        return process  # type: ignore[no-any-return]

    monkeypatch.setattr(subprocess, "Popen", recording)
    outcomes = checked_in_parallel(paths, cores=4)
    next(outcomes)
    assert len(started) == 3
    outcomes.close()
    assert all(process.poll() is not None for process in started)


@pytest.mark.usefixtures("small_slices")
def test_load_names_the_first_bad_file_and_skips_the_same_ones_as_in_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = mixed_files(tmp_path)
    roots = [tmp_path / "data", tmp_path / "more"]
    with pytest.raises(InputError) as parallel_error:
        sources.find_sources(roots)
    parallel = sources.find_sources(roots, skip_bad=True)
    monkeypatch.setenv("TRACEKIT_CHECK_WORKERS", "0")
    with pytest.raises(InputError) as in_turn_error:
        sources.find_sources(roots)
    in_turn = sources.find_sources(roots, skip_bad=True)
    assert str(parallel_error.value) == str(in_turn_error.value)
    assert parallel == in_turn
    assert len(parallel.skipped) == 3
    assert len(parallel.files) == len(paths) - 3
    monkeypatch.delenv("TRACEKIT_CHECK_WORKERS")
    assert (
        tracekit.load(roots, skip_bad=True).analyze().to_dict()
        == tracekit.load(roots, skip_bad=True, footer_cache=False).analyze().to_dict()
    )


@pytest.mark.parametrize("value", ["x", "-1", "1.5", "²"])
def test_a_bad_worker_count_is_a_config_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TRACEKIT_CHECK_WORKERS", value)
    with pytest.raises(ConfigError, match="TRACEKIT_CHECK_WORKERS"):
        check_workers.usable_cores()


def test_a_bad_worker_count_is_one_error_line_from_the_cli(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_known_dataset(root)
    env = {**__import__("os").environ, "TRACEKIT_CHECK_WORKERS": "many"}
    done = subprocess.run(
        [sys.executable, "-m", "tracekit", "analyze", str(root)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == ConfigError.exit_code
    assert done.stderr.startswith("Error: TRACEKIT_CHECK_WORKERS='many'")
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
