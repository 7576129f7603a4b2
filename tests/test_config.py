"""TraceConfig: every bad value is rejected at start-up, naming the key and what is allowed."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tracekit import TraceConfig
from tracekit.errors import ConfigError, TracekitError
from tracekit.trace.config import is_safe_run_id

RUN_ID_RULE = (
    "null or a name of 1-128 letters, digits, '.', '_' or '-' that starts with a letter or "
    "digit, has a letter, and is not a number, date or boolean (such as canary-1)"
)
ALL_KEYS = (
    "close_timeout_s, deadline_ms, deployment, enabled, export_golden, golden_trace_interval, "
    "keep_missed_detail, max_queue_windows, max_records_per_tick, metrics, metrics_addr, "
    "metrics_alert_limits_ms, metrics_guard_reasons, metrics_max_label_values, metrics_port, "
    "metrics_units, output_dir, record_parents, run_id, s3_endpoint_url, s3_region, "
    "sample_rate, sample_seed"
)

# (key, bad value as Python, the same value as YAML text, words of the allowed values)
BAD_VALUES = [
    ("sample_rate", -0.1, "-0.1", "a number in [0, 1]"),
    ("sample_rate", 1.5, "1.5", "a number in [0, 1]"),
    ("sample_rate", "high", '"high"', "a number in [0, 1]"),
    ("sample_rate", True, "true", "a number in [0, 1]"),
    ("sample_rate", math.nan, ".nan", "a number in [0, 1]"),
    ("golden_trace_interval", 0, "0", "a whole number of ticks >= 1"),
    ("golden_trace_interval", -5, "-5", "a whole number of ticks >= 1"),
    ("golden_trace_interval", 2.5, "2.5", "a whole number of ticks >= 1"),
    ("deadline_ms", 0, "0", "a number of milliseconds > 0"),
    ("deadline_ms", -1, "-1", "a number of milliseconds > 0"),
    ("deadline_ms", math.inf, ".inf", "a number of milliseconds > 0"),
    ("deadline_ms", "fast", "fast", "a number of milliseconds > 0"),
    ("enabled", "yes", '"yes"', "true or false"),
    ("enabled", 1, "1", "true or false"),
    ("export_golden", "no", '"no"', "true or false"),
    ("keep_missed_detail", 0, "0", "true or false"),
    ("record_parents", "yes", '"yes"', "true or false"),
    ("record_parents", 1, "1", "true or false"),
    ("record_parents", None, "null", "true or false"),
    ("output_dir", "", '""', "a non-empty folder path"),
    ("output_dir", 7, "7", "a non-empty folder path"),
    ("sample_seed", 1.0, "1.0", "a whole number or null"),
    ("sample_seed", "42", '"42"', "a whole number or null"),
    ("max_queue_windows", 0, "0", "a whole number >= 1"),
    ("max_records_per_tick", 0, "0", "a whole number >= 1"),
    ("run_id", "", '""', RUN_ID_RULE),
    ("run_id", "a/b", "a/b", RUN_ID_RULE),
    ("run_id", "a=b", "a=b", RUN_ID_RULE),
    ("run_id", "a\\b", "'a\\b'", RUN_ID_RULE),
    ("metrics_units", "s", "s", "'ms' or 'seconds'"),
    ("metrics_guard_reasons", "vol_soft", "vol_soft", "a list of distinct guard reasons"),
    ("metrics_guard_reasons", ["a", "a"], "[a, a]", "a list of distinct guard reasons"),
    ("metrics_guard_reasons", [""], '[""]', "a list of distinct guard reasons"),
    ("metrics_alert_limits_ms", [180, -1], "[180, -1]", "a list of at most 16 numbers"),
    ("metrics_alert_limits_ms", 180, "180", "a list of at most 16 numbers"),
    ("metrics_max_label_values", 0, "0", "a whole number in [1, 10000]"),
]
BAD_IDS = [f"{key}={text}" for key, _, text, _ in BAD_VALUES]


def write_yaml(tmp_path: Path, text: str, name: str = "tracekit.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- valid configurations -----------------------------------------------------------


def test_defaults_are_valid_and_documented_values() -> None:
    config = TraceConfig()
    assert config.enabled is True
    assert config.sample_rate == 0.2
    assert config.deadline_ms == 200.0
    assert config.golden_trace_interval == 100
    assert config.keep_missed_detail is True


@pytest.mark.parametrize("rate", [0, 0.0, 1, 1.0, 0.5])
def test_sample_rate_bounds_are_valid(rate: float, tmp_path: Path) -> None:
    assert TraceConfig(sample_rate=rate).sample_rate == rate
    path = write_yaml(tmp_path, f"trace:\n  sample_rate: {rate}\n")
    assert TraceConfig.from_yaml(path).sample_rate == rate


def test_from_yaml_reads_every_key_of_the_trace_section(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """
x-loop:
  symbols: [A, B]      # your own section (x-...): ignored here
gate: {}
trace:
  enabled: false
  sample_rate: 0
  deadline_ms: 12.5
  export_golden: false
  golden_trace_interval: 7
  output_dir: out/golden
  sample_seed: -3
  keep_missed_detail: false
  max_queue_windows: 2
  max_records_per_tick: 9
  run_id: nightly-1
""",
    )
    assert TraceConfig.from_yaml(path) == TraceConfig(
        enabled=False,
        sample_rate=0,
        deadline_ms=12.5,
        export_golden=False,
        golden_trace_interval=7,
        output_dir="out/golden",
        sample_seed=-3,
        keep_missed_detail=False,
        max_queue_windows=2,
        max_records_per_tick=9,
        run_id="nightly-1",
    )


@pytest.mark.parametrize(
    "text",
    ["", "# only a comment\n", "trace:\n", "gate:\n  x: 1\n", "trace: null\n"],
    ids=["empty", "comment", "empty-section", "no-section", "null-section"],
)
def test_absent_or_empty_trace_section_gives_defaults(text: str, tmp_path: Path) -> None:
    assert TraceConfig.from_yaml(write_yaml(tmp_path, text)) == TraceConfig()


def test_config_is_immutable() -> None:
    config = TraceConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.sample_rate = 0.9  # type: ignore[misc]


# -- bad values ---------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value", "yaml_text", "allowed"), BAD_VALUES, ids=BAD_IDS)
def test_bad_value_rejected_by_constructor(
    key: str, value: Any, yaml_text: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as excinfo:
        TraceConfig(**{key: value})
    message = str(excinfo.value)
    assert message.startswith("TraceConfig: ")
    assert f"trace.{key} " in message
    assert allowed in message
    assert message.endswith(f"got {value!r}")


@pytest.mark.parametrize(("key", "value", "yaml_text", "allowed"), BAD_VALUES, ids=BAD_IDS)
def test_bad_value_rejected_by_from_yaml(
    key: str, value: Any, yaml_text: str, allowed: str, tmp_path: Path
) -> None:
    path = write_yaml(tmp_path, f"trace:\n  sample_rate: 0.5\n  {key}: {yaml_text}\n")
    with pytest.raises(ConfigError) as excinfo:
        TraceConfig.from_yaml(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: "), "the message names the file"
    assert f"trace.{key} " in message
    assert allowed in message
    # the value as YAML parsed it
    parsed = yaml.safe_load(yaml_text)
    assert message.endswith(f"got {parsed!r}")


def test_exact_message_for_sample_rate_out_of_range() -> None:
    with pytest.raises(ConfigError) as excinfo:
        TraceConfig(sample_rate=1.5)
    assert (
        str(excinfo.value) == "TraceConfig: trace.sample_rate must be a number in [0, 1], got 1.5"
    )


def test_exact_message_for_deadline_in_yaml(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "trace:\n  deadline_ms: 0\n")
    with pytest.raises(ConfigError) as excinfo:
        TraceConfig.from_yaml(path)
    assert str(excinfo.value) == (
        f"{path}: trace.deadline_ms must be a number of milliseconds > 0, got 0"
    )


def test_exact_message_for_wrong_type_in_yaml(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, 'trace:\n  enabled: "yes"\n')
    with pytest.raises(ConfigError) as excinfo:
        TraceConfig.from_yaml(path)
    assert str(excinfo.value) == f"{path}: trace.enabled must be true or false, got 'yes'"


def test_exact_message_for_unknown_key_in_yaml(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "trace:\n  sample_rate: 0.1\n  colour: blue\n")
    with pytest.raises(ConfigError) as excinfo:
        TraceConfig.from_yaml(path)
    assert str(excinfo.value) == f"{path}: unknown key trace.colour; allowed keys: {ALL_KEYS}"


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "trace:\n  sampling_rate: 0.1\n")
    with pytest.raises(ConfigError) as excinfo:
        TraceConfig.from_yaml(path)
    assert str(excinfo.value) == (
        f"{path}: unknown key trace.sampling_rate (did you mean trace.sample_rate?); "
        f"allowed keys: {ALL_KEYS}"
    )


@pytest.mark.parametrize(
    ("section", "hint"),
    [("tracer", " (did you mean 'trace:'?)"), ("traces", " (did you mean 'trace:'?)"),
     ("gates", " (did you mean 'gate:'?)"), ("loop", "")],
)  # fmt: skip
def test_unknown_top_level_section_is_an_error_suggesting_the_right_one(
    tmp_path: Path, section: str, hint: str
) -> None:
    path = write_yaml(tmp_path, f"{section}:\n  deadline_ms: 100\n")
    with pytest.raises(ConfigError) as excinfo:
        TraceConfig.from_yaml(path)
    assert str(excinfo.value) == (
        f"{path}: unknown section '{section}:'{hint}; "
        "known sections: trace, gate, canary (and x-... for your own)"
    )


@pytest.mark.parametrize(
    "run_id",
    ["7", "0012", "1e5", "0x1F", "inf", "NaN", "true", "False", "null", "2026-12-01",
     "2026-12-01T20:51:11", "12:30", "canary[1]", "c*", "c?", "c{1}", "a/b", "a\\b", "a=b",
     "", ".hidden", "_x", "a b", "caf\u00e9", "a" * 129],
)  # fmt: skip
def test_unsafe_run_ids_are_refused(run_id: str) -> None:
    assert not is_safe_run_id(run_id)
    with pytest.raises(ConfigError, match=r"trace\.run_id must be"):
        TraceConfig(run_id=run_id)


@pytest.mark.parametrize(
    "run_id", ["canary-1", "c2", "nightly.2026-12-01", "20261201T205111Z-host-42-abcdef", "e"]
)
def test_safe_run_ids_are_accepted(run_id: str) -> None:
    assert TraceConfig(run_id=run_id).run_id == run_id


def test_unknown_key_rejected_by_from_mapping() -> None:
    with pytest.raises(ConfigError, match=r"^config: unknown key trace\.sampling_rate \(did"):
        TraceConfig.from_mapping({"sampling_rate": 0.1})


def test_unknown_key_rejected_by_constructor() -> None:
    # A dataclass rejects an unknown keyword argument itself, before any check runs.
    with pytest.raises(TypeError, match="sampling_rate"):
        TraceConfig(sampling_rate=0.1)  # type: ignore[call-arg]


def test_config_errors_are_tracekit_errors_with_exit_code() -> None:
    with pytest.raises(TracekitError) as excinfo:
        TraceConfig(golden_trace_interval=0)
    assert isinstance(excinfo.value, ConfigError)
    assert excinfo.value.exit_code == 2


# -- bad files ----------------------------------------------------------------------


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as excinfo:
        TraceConfig.from_yaml(path)
    assert str(excinfo.value).startswith(f"{path}: cannot read config file")


def test_directory_instead_of_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        TraceConfig.from_yaml(tmp_path)


def test_invalid_yaml_is_a_config_error_with_line(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "trace:\n  sample_rate: 0.1\n  deadline_ms: [1, 2\n")
    with pytest.raises(ConfigError) as excinfo:
        TraceConfig.from_yaml(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: not valid YAML at line ")
    assert message.endswith("; fix the syntax")


def test_unsafe_yaml_tag_is_a_config_error(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "trace: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        TraceConfig.from_yaml(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- trace\n- 1\n", "expected a mapping with a 'trace:' section at the top"),
        ("just a string\n", "expected a mapping with a 'trace:' section at the top"),
        ("trace: [1, 2]\n", "'trace:' must be a mapping of keys to values"),
        ("trace: 0.5\n", "'trace:' must be a mapping of keys to values"),
    ],
)
def test_wrong_document_shape_is_a_config_error(text: str, expected: str, tmp_path: Path) -> None:
    path = write_yaml(tmp_path, text)
    with pytest.raises(ConfigError) as excinfo:
        TraceConfig.from_yaml(path)
    assert str(excinfo.value) == f"{path}: {expected}"


def test_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    # from_yaml documents "ConfigError: The file is missing, is not YAML, or holds a
    # bad value"; a Latin-1 file must not escape as a bare UnicodeDecodeError.
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"trace:\n  run_id: caf\xe9\n")
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        TraceConfig.from_yaml(path)


# -- properties ---------------------------------------------------------------------

run_ids = st.none() | st.from_regex(r"\A[a-z][a-z0-9._-]{0,19}\Z").filter(is_safe_run_id)
valid_configs = st.builds(
    TraceConfig,
    enabled=st.booleans(),
    sample_rate=st.floats(min_value=0.0, max_value=1.0) | st.sampled_from([0, 1]),
    deadline_ms=st.floats(min_value=1e-6, max_value=1e9) | st.integers(1, 10**6),
    export_golden=st.booleans(),
    golden_trace_interval=st.integers(1, 10**9),
    output_dir=st.text(
        alphabet=st.characters(codec="ascii", categories=["L", "N"], include_characters="/_-"),
        min_size=1,
        max_size=30,
    ),
    sample_seed=st.none() | st.integers(-(2**70), 2**70),
    keep_missed_detail=st.booleans(),
    max_queue_windows=st.integers(1, 10**6),
    max_records_per_tick=st.integers(1, 10**9),
    run_id=run_ids,
)


@given(valid_configs)
def test_config_round_trips_through_dict_json_and_yaml(config: TraceConfig) -> None:
    assert TraceConfig.from_mapping(config.to_dict()) == config
    assert TraceConfig.from_mapping(json.loads(json.dumps(config.to_dict()))) == config
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(yaml.safe_dump({"trace": config.to_dict()}), encoding="utf-8")
        assert TraceConfig.from_yaml(path) == config


@given(
    st.floats(allow_nan=True, allow_infinity=True).filter(
        lambda rate: math.isnan(rate) or not 0.0 <= rate <= 1.0
    )
)
def test_any_sample_rate_outside_unit_interval_is_rejected(rate: float) -> None:
    with pytest.raises(ConfigError) as excinfo:
        TraceConfig.from_mapping({"sample_rate": rate}, source="test.yaml")
    assert str(excinfo.value) == (
        f"test.yaml: trace.sample_rate must be a number in [0, 1], got {rate!r}"
    )
