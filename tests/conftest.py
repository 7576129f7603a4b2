"""Shared fixtures of the tracekit tests.

All output goes to ``tmp_path``; nothing is written into the repository (the
Hypothesis example database is switched off for the same reason).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from tracekit import TraceConfig, Tracer, VirtualClock
from tracekit.trace.records import FinishedTick, SpanRecord

pytest_plugins = ["pytester"]

# The footer cache (tracekit.store.footer_cache) of every test, and of the commands
# tests start, goes to a temp folder of this session, not the user's ~/.cache.
CACHE_DIR = tempfile.mkdtemp(prefix="tracekit-tests-cache-")
os.environ["TRACEKIT_CACHE_DIR"] = CACHE_DIR


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(CACHE_DIR, ignore_errors=True)


# Hypothesis caches (constants, unicode data) go to the temp folder, not the repository.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "tracekit-tests-hypothesis")
settings.register_profile(
    "tracekit",
    database=None,  # no example database either
    derandomize=True,  # the same examples on every run: the suite is deterministic
    deadline=None,
    print_blob=False,
)
settings.load_profile("tracekit")

WRITER_THREAD_NAME = "tracekit-golden"
METRICS_THREAD_NAME = "tracekit-metrics"
LEAK_GRACE_S = 1.0
"""How long a writer thread may take to finish after its test before it counts as leaked."""
WALL_ANCHOR_NS = 1_700_000_000_000_000_000
"""A fixed wall-clock anchor (2023-11-14T22:13:20Z) so wall times are exact."""


def _writer_threads() -> list[threading.Thread]:
    names = (WRITER_THREAD_NAME, METRICS_THREAD_NAME)
    return [thread for thread in threading.enumerate() if thread.name in names]


@pytest.fixture(autouse=True)
def no_leaked_writer_thread() -> Iterator[None]:
    """Fail any test that leaves a golden-writer or metrics thread running.

    In the spirit of pyinstrument's fixture that fails tests leaving the profiler
    installed: every Tracer and GoldenWriter a test starts must be closed by it.
    """
    before = set(_writer_threads())
    yield
    leaked = [thread for thread in _writer_threads() if thread not in before]
    give_up_at = time.monotonic() + LEAK_GRACE_S
    for thread in leaked:
        thread.join(max(0.0, give_up_at - time.monotonic()))
    alive = [thread for thread in leaked if thread.is_alive()]
    if alive:
        pytest.fail(
            f"the test left {len(alive)} thread(s) running "
            f"({', '.join(sorted({thread.name for thread in alive}))}); "
            "close every Tracer and GoldenWriter it creates"
        )


@pytest.fixture
def clock() -> VirtualClock:
    """A virtual clock starting at 0 ns."""
    return VirtualClock()


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """The dataset root of the test (not created in advance)."""
    return tmp_path / "traces"


MakeTracer = Callable[..., Tracer]


@pytest.fixture
def make_tracer(out_dir: Path) -> Iterator[MakeTracer]:
    """Build tracers writing under ``out_dir``; every one is closed after the test.

    Keyword arguments ``clock``, ``run_id`` and ``wall_anchor_ns`` go to the Tracer,
    the rest override the TraceConfig (whose run id and seed are fixed by default).
    """
    tracers: list[Tracer] = []

    def make(
        *,
        clock: Any = None,
        run_id: str | None = None,
        wall_anchor_ns: int | None = WALL_ANCHOR_NS,
        **overrides: Any,
    ) -> Tracer:
        values: dict[str, Any] = {
            "output_dir": str(out_dir),
            "run_id": "test-run",
            "sample_seed": 20240229,
        }
        values.update(overrides)
        tracer = Tracer(
            TraceConfig(**values), clock=clock, wall_anchor_ns=wall_anchor_ns, run_id=run_id
        )
        tracers.append(tracer)
        return tracer

    yield make
    for tracer in tracers:
        tracer.close()


def golden_files(root: Path) -> list[Path]:
    """Every ``*.parquet`` file under ``root``, sorted."""
    return sorted(root.rglob("*.parquet"))


def read_rows(root: Path) -> list[dict[str, Any]]:
    """All rows of all golden files under ``root``, read with pyarrow alone."""
    files = golden_files(root)
    if not files:
        return []
    tables = [pq.read_table(path) for path in files]
    rows: list[dict[str, Any]] = pa.concat_tables(tables).to_pylist()
    return rows


def tick_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in rows if row["kind"] == "tick"]


def make_window(first_tick_id: int, count: int, *, spans_per_tick: int = 2) -> list[FinishedTick]:
    """A window of ``count`` finished, sampled ticks (built by hand, for GoldenWriter)."""
    window = []
    for tick_id in range(first_tick_id, first_tick_id + count):
        start = tick_id * 1_000_000
        spans: list[SpanRecord] = [
            ("stage", f"stage{k}", f"SYM{k}", None, None, start + k * 10, 5)
            for k in range(spans_per_tick)
        ]
        window.append(
            FinishedTick(
                tick_id=tick_id,
                start_ns=start,
                duration_ns=500_000,
                deadline_ns=200_000_000,
                deadline_missed=False,
                error_type=None,
                parallel_symbols=spans_per_tick,
                guard_trips=0,
                request_count=0,
                detail="sampled",
                spans=spans,
                guards=[],
            )
        )
    return window


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout_s`` passes; its last value."""
    give_up_at = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > give_up_at:
            return predicate()
        time.sleep(0.002)
    return True


class Helpers:
    """The helper functions above, handed to tests as the ``helpers`` fixture."""

    golden_files = staticmethod(golden_files)
    read_rows = staticmethod(read_rows)
    tick_rows = staticmethod(tick_rows)
    make_window = staticmethod(make_window)
    wait_until = staticmethod(wait_until)
    WALL_ANCHOR_NS = WALL_ANCHOR_NS


@pytest.fixture
def helpers() -> type[Helpers]:
    return Helpers
