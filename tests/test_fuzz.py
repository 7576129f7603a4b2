"""Byte-level fuzzing of the readers and of ``tracekit compact``, bounded for CI.

Each example damages one window of a small dataset (bytes overwritten, cut or
inserted, or the whole file replaced) and runs a command in-process, as
``tracekit`` would run it. Whatever the bytes, the promise of ``docs/cli.md`` and
``docs/reliability.md`` holds:

* the exit code is 0 or 2;
* stderr is empty (exit 0) or one ``Error:`` line (exit 2), never a traceback;
* no command takes longer than :data:`HANG_S` (an alarm fails the example);
* the inputs are unchanged (readers), and compact loses no good window's ticks.

The hypothesis profile of ``conftest.py`` derandomizes the examples, so a run in CI
replays the same :data:`EXAMPLES` examples every time.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import hostile
import pyarrow.parquet as pq
import pytest
from cli_helpers import HANG_S, run_in_process
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tracekit.store import schema

EXAMPLES = int(os.environ.get("TRACEKIT_FUZZ_EXAMPLES", "50"))
"""Examples per fuzz test (each is one command on one damaged dataset); set
``TRACEKIT_FUZZ_EXAMPLES`` for a longer local run (``TRACEKIT_FUZZ_RANDOM=1`` draws
new examples instead of the derandomized ones)."""

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=not os.environ.get("TRACEKIT_FUZZ_RANDOM"),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

_BASE: dict[int, bytes] = {}


def base_window(window: int) -> bytes:
    """The bytes of a good window file (built once per window number)."""
    if window not in _BASE:
        buffer = io.BytesIO()
        table = hostile.base_table(first_tick=(window - 1) * 10 + 1)
        table = hostile.with_metadata(table, window=str(window).encode())
        pq.write_table(
            table, buffer, compression="zstd", use_dictionary=list(schema.DICTIONARY_COLUMNS)
        )
        _BASE[window] = buffer.getvalue()
    return _BASE[window]


@st.composite
def damaged(draw: Any, data: bytes) -> bytes:
    """``data`` overwritten, cut, extended, or replaced, as drawn."""
    how = draw(st.sampled_from(["overwrite", "overwrite", "cut", "insert", "replace", "footer"]))
    raw = bytearray(data)
    if how == "replace":
        return bytes(draw(st.binary(max_size=2048)))
    if how == "cut":
        return bytes(raw[: draw(st.integers(0, len(raw) - 1))])
    if how == "insert":
        at = draw(st.integers(0, len(raw)))
        return bytes(raw[:at] + draw(st.binary(min_size=1, max_size=64)) + raw[at:])
    # overwrite: anywhere, or within the footer (the last 1 KB) where the metadata lives
    low = max(0, len(raw) - 1024) if how == "footer" else 0
    for _ in range(draw(st.integers(1, 16))):
        at = draw(st.integers(low, len(raw) - 1))
        raw[at] = draw(st.integers(0, 255))
    return bytes(raw)


def assert_kept_the_promise(code: int, stderr: str) -> None:
    assert "Traceback" not in stderr
    assert code in (0, 2), (code, stderr)
    lines = stderr.splitlines()
    if code == 2:
        assert len(lines) == 1, stderr
        assert lines[0].startswith("Error: "), stderr
    else:
        assert all(line.startswith("Warning: ") for line in lines), stderr


def digest(root: Path) -> dict[str, str]:
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


_counter = iter(range(10**9))


def fresh_dataset(root: Path, bad: bytes, windows: int = 3) -> tuple[Path, Path]:
    """A dataset of ``windows`` good windows but window 2, which holds ``bad``."""
    dataset = root / f"d{next(_counter)}"
    folder = dataset / "run_id=r"
    folder.mkdir(parents=True)
    for window in range(1, windows + 1):
        path = folder / f"golden-{window:06d}.parquet"
        path.write_bytes(bad if window == 2 else base_window(window))
    return dataset, folder / "golden-000002.parquet"


READ_COMMANDS = [
    ("analyze", "{data}", "-f", "json"),
    ("analyze", "{data}", "--no-color"),
    ("analyze", "{data}", "--skip-bad", "-f", "json"),
    ("export", "chrome", "{data}", "-o", "{out}"),
]


@pytest.mark.slow  # 50 fuzzed datasets; the compact fuzz test stays fast
@FUZZ_SETTINGS
@given(data=st.data())
def test_fuzzed_readers_exit_0_or_2_and_change_nothing(fuzz_root: Path, data: Any) -> None:
    bad = data.draw(damaged(base_window(2)), label="window 2")
    command = data.draw(st.sampled_from(READ_COMMANDS), label="command")
    dataset, _ = fresh_dataset(fuzz_root, bad)
    before = digest(dataset)
    out = fuzz_root / f"{dataset.name}-export" / "trace.json"
    args = [part.format(data=dataset, out=out) for part in command]
    result = run_in_process(*args, timeout=HANG_S)
    code, stderr = result.returncode, result.stderr
    event(f"{command[0]} exit {code}")
    assert_kept_the_promise(code, stderr)
    assert digest(dataset) == before


def ticks_readable(folder: Path) -> set[int]:
    """Tick ids of every file in ``folder`` that pyarrow reads whole."""
    found: set[int] = set()
    for path in folder.iterdir():
        if not path.name.endswith(".parquet"):
            continue
        try:
            table = pq.read_table(path, columns=["kind", "tick_id"])
        except Exception:
            continue
        for kind, tick in zip(
            table.column("kind").to_pylist(), table.column("tick_id").to_pylist(), strict=True
        ):
            if kind == "tick":
                found.add(tick)
    return found


@FUZZ_SETTINGS
@given(data=st.data())
def test_fuzzed_compact_exits_0_or_2_and_loses_no_good_window(fuzz_root: Path, data: Any) -> None:
    bad = data.draw(damaged(base_window(2)), label="window 2")
    skip_bad = data.draw(st.booleans(), label="--skip-bad")
    dataset, damaged_path = fresh_dataset(fuzz_root, bad, windows=4)
    folder = damaged_path.parent
    good_ticks = set(range(1, 11)) | set(range(21, 41))
    before = digest(dataset)
    result = run_in_process("compact", dataset, *(["--skip-bad"] * skip_bad), timeout=HANG_S)
    code, stderr = result.returncode, result.stderr
    event(f"compact{' --skip-bad' * skip_bad} exit {code}")
    assert_kept_the_promise(code, stderr)
    assert good_ticks <= ticks_readable(folder)  # every good window's ticks are still there
    if damaged_path.exists():
        assert damaged_path.read_bytes() == bad  # a bad file is left exactly as it was
    if skip_bad:
        assert code == 0, stderr  # bad files are left alone, the rest is merged
    elif code == 2:
        assert digest(dataset) == before  # refused before anything changed
