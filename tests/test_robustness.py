"""What a misuse or a broken input does: counted or one clear error, never a crash."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tracekit.cli
from tracekit import TraceConfig, Tracer, VirtualClock
from tracekit.errors import ConfigError

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracekit", *args], capture_output=True, text=True, check=False
    )


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


def test_a_corrupt_data_page_is_named(tmp_path: Path) -> None:
    source = next((SAMPLES / "baseline").rglob("golden-000001.parquet"))
    broken = tmp_path / "run_id=x" / "golden-000001.parquet"
    broken.parent.mkdir()
    data = bytearray(source.read_bytes())
    for index in range(200, len(data) // 2):  # the data pages; the footer stays intact
        data[index] = 0xFF
    broken.write_bytes(bytes(data))
    result = run("analyze", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"Error: {broken}: ")
    assert "Traceback" not in result.stderr


def test_a_column_of_the_wrong_type_is_a_schema_error(tmp_path: Path) -> None:
    source = next((SAMPLES / "baseline").rglob("golden-000001.parquet"))
    table = pq.read_table(source)
    index = table.schema.get_field_index("duration_ns")
    as_text = pa.array([None if v is None else str(v) for v in table.column(index).to_pylist()])
    table = table.set_column(index, "duration_ns", as_text)
    path = tmp_path / "strings.parquet"
    pq.write_table(table, path)
    result = run("analyze", str(path))
    assert result.returncode == 2
    assert "duration_ns is string, not int64" in result.stderr


def test_an_internal_error_exits_4_not_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode(**_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(tracekit.cli, "app", explode)
    monkeypatch.delenv("TRACEKIT_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        tracekit.cli.main()
    assert exit_info.value.code == tracekit.cli.EXIT_INTERNAL == 4
    assert capsys.readouterr().err == (
        "Error: internal error (RuntimeError: boom); please report it "
        "(TRACEKIT_DEBUG=1 shows the traceback)\n"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('strict: "no"', "gate.strict must be true or false, got 'no'"),
        ('alpha: "x"', "gate.alpha must be a number in (0, 0.5), got 'x'"),
        (
            'seed: "abc"',
            "gate.seed was removed: the gate and canary no longer bootstrap, "
            "so results need no seed; delete it",
        ),
        ("stages: [1, 2]", "gate.stages must map stage names to {p95: ..., p99: ...}"),
        ("p95: .nan", "gate.p95 must be a number >= 0 (0.03 means +3%), got nan"),
        ("p95: 3", "gate.p95 = 3 would allow +300%; thresholds are shares: for +3% use 0.03"),
        (
            "p42: 3",
            "unknown key gate.p42; allowed keys: alpha, critical, "
            "ignore, min_effect_ms, miss_rate_pp, p50, p95, p99, stages, strict",
        ),
        (
            "p59: 3",
            "unknown key gate.p59 (did you mean p99?); allowed keys: alpha, critical, "
            "ignore, min_effect_ms, miss_rate_pp, p50, p95, p99, stages, strict",
        ),
        (
            "critical: [nosuch:p42]",
            "gate.critical item 'nosuch:p42': unknown metric 'p42'; nosuch has p50, p95, p99",
        ),
    ],
)
def test_gate_config_values_are_checked(tmp_path: Path, line: str, message: str) -> None:
    config = tmp_path / "gate.yaml"
    config.write_text(f"gate:\n  {line}\n")
    result = run(
        "compare", str(SAMPLES / "baseline"), str(SAMPLES / "current"), "--config", str(config)
    )
    assert result.returncode == 2
    assert result.stderr == f"Error: {config}: {message}\n"


def test_a_profile_with_impossible_counts_is_refused(tmp_path: Path) -> None:
    import json

    good = tmp_path / "good.json"
    assert run("profile", str(SAMPLES / "baseline"), "-o", str(good)).returncode == 0
    document = json.loads(good.read_text())
    document["runs"][0]["blocks"][0]["misses"] = 10**6
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    result = run("compare", str(bad), str(good))
    assert result.returncode == 2
    assert "the profile is corrupt: re-create it" in result.stderr
    document = json.loads(good.read_text())
    block = next(b for b in document["runs"][0]["blocks"] if "spread" in b["stages"])
    block["stages"]["spread"]["idx"][0] = 10**9
    bad.write_text(json.dumps(document))
    assert run("compare", str(bad), str(good)).returncode == 2


@pytest.mark.parametrize(
    "args",
    [["--for", "abc"], ["--interval", "x y"], ["--p95-ms", "-5"], ["--miss-ratio", "7"]],
)
def test_rules_refuse_values_prometheus_would_reject(args: list[str]) -> None:
    result = run("rules", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ")
    assert result.stdout == ""


def test_simulate_fails_when_nothing_could_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run("simulate", "--ticks", "150", "-o", str(blocker / "traces"))
    assert result.returncode == 2
    assert "could not write the golden traces" in result.stderr


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["runs"][0].update(guard_trips={"vol_hard": -3}), "negative guard trips"),
        (lambda d: d.update(version=True), "profile version True is not supported"),
        (lambda d: d["runs"][0]["blocks"][0].update(ticks=1.5), "is not a whole number"),
        (
            lambda d: next(iter(d["runs"][0]["requests"].values()))["idx"].__setitem__(0, 99999),
            "bucket 99999 holds",
        ),
    ],
)
def test_a_profile_with_impossible_values_is_refused(
    tmp_path: Path, edit: Any, message: str
) -> None:
    import json

    good = tmp_path / "good.json"
    assert run("profile", str(SAMPLES / "baseline"), "-o", str(good)).returncode == 0
    document = json.loads(good.read_text())
    edit(document)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    result = run("compare", str(bad), str(good))
    assert result.returncode == 2
    assert result.stderr.startswith(f"Error: {bad}: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "tracekit.profile", "version": 2, "x": Infinity}', "Infinity is not a number"),
        ('{"format": "tracekit.profile", "version": 2, "x": 1e400}', "1e400 is out of range"),
        (
            '{"format": "tracekit.profile", "version": 2, "x": '
            + "[" * 50_000
            + "]" * 50_000
            + "}",
            "nested too deeply",
        ),
    ],
)
def test_hostile_profile_json_is_one_error_line(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    result = run("compare", str(bad), str(bad))
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
