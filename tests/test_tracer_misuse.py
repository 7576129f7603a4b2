"""A misused tracer: a bad argument is counted, never raised into the traced program."""

from __future__ import annotations

import math
import socket
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tracekit import TraceConfig, Tracer, VirtualClock
from tracekit.errors import ConfigError


@pytest.mark.parametrize("deadline", [math.nan, math.inf, -5.0, 0, "100", True])
def test_a_bad_per_tick_deadline_is_counted_not_raised(deadline: object, tmp_path: Path) -> None:
    clock = VirtualClock()
    with Tracer(TraceConfig(output_dir=str(tmp_path)), clock=clock) as tracer:
        with tracer.tick(deadline_ms=deadline):  # type: ignore[arg-type]
            clock.advance(250_000_000)
        stats = tracer.stats()
    assert stats.invalid_calls == 1
    assert stats.deadline_misses == 1  # judged against the configured 200 ms


def test_a_taken_metrics_port_is_a_config_error_and_leaks_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = TraceConfig(output_dir=str(tmp_path), metrics=True, metrics_port=port)
        with pytest.raises(ConfigError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            Tracer(config)
    assert not list(tmp_path.iterdir())  # no writer was started


def test_a_non_string_symbol_is_written_as_text(tmp_path: Path) -> None:
    clock = VirtualClock()
    config = TraceConfig(output_dir=str(tmp_path), sample_rate=1.0, golden_trace_interval=2)
    with Tracer(config, clock=clock, run_id="r") as tracer:
        for _ in range(2):
            with tracer.tick(), tracer.stage("spread", symbol=7):  # type: ignore[arg-type]
                clock.advance(1_000)
    assert tracer.stats().writer.write_errors == 0
    table = pq.read_table(tmp_path / "run_id=r" / "golden-000001.parquet")
    assert "7" in table.column("symbol").to_pylist()


def test_a_resumed_run_continues_its_tick_numbering(tmp_path: Path) -> None:
    config = TraceConfig(output_dir=str(tmp_path), golden_trace_interval=5)
    for _ in range(2):
        with Tracer(config, clock=VirtualClock(), run_id="r") as tracer:
            for _ in range(5):
                with tracer.tick():
                    pass
    ids = pq.read_table(tmp_path / "run_id=r", columns=["tick_id"]).column("tick_id").to_pylist()
    assert sorted(ids) == list(range(1, 11))
