"""The tracer's configuration: the ``trace:`` section of a YAML file.

Every value is checked when the configuration is built, so a bad file fails at
start-up with a message naming the key and the allowed values, never later in
the traced loop.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Final

from tracekit.errors import ConfigError, InputError
from tracekit.store import location
from tracekit.store.metrics import UNITS
from tracekit.yamlfile import key_text as _key_text
from tracekit.yamlfile import load_yaml_section, shown

RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_NOT_TEXT_WORDS = frozenset({"true", "false", "null", "none", "nan", "inf", "infinity"})
_DATE_OR_TIME = re.compile(r"^\d{4}-\d{1,2}(-\d{1,2})?([T ]|$)|^\d{1,2}:\d{2}")


def is_safe_run_id(value: str) -> bool:
    """True when ``value`` may name a run: 1-128 letters, digits, ``.``, ``_`` or ``-``,
    starting with a letter or digit, with at least one letter, and not something
    pyarrow, polars, DuckDB or Spark read from a ``run_id=<value>`` folder as a
    number, date, time or boolean (``7``, ``1e5``, ``0x1F``, ``inf``, ``true``,
    ``2026-12-01``). Such readers then always see ``run_id`` as a string."""
    if not RUN_ID_PATTERN.fullmatch(value) or not any(c.isalpha() for c in value):
        return False
    if value.lower() in _NOT_TEXT_WORDS or _DATE_OR_TIME.match(value):
        return False
    for parse in (float, lambda text: int(text, 0)):
        try:
            parse(value)
        except ValueError:
            continue
        return False
    return True


def _close_match(name: str, choices: Collection[str]) -> str | None:
    """The known name ``name`` is most likely a misspelling of, if any."""
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return close[0] if close else None


GUARD_REASONS: Final = ("vol_soft", "vol_hard", "position_limit", "latency_hard")
"""The market-making bot's guard reasons (the simulator's): the default of
``metrics_guard_reasons``."""

ALERT_LIMITS_MS: Final = (200.0, 250.0)
"""The default p95 and p99 alert limits of ``tracekit rules``: the default of
``metrics_alert_limits_ms``."""


@dataclasses.dataclass(frozen=True)
class TraceConfig:
    """Settings of a :class:`tracekit.Tracer`.

    Args:
        enabled: When false the tracer is a no-op: no records, files or threads.
        sample_rate: Share of ticks, in [0, 1], whose stage and request detail is kept.
            Every tick's own row is always kept.
        deadline_ms: A tick slower than this, in milliseconds, has missed its deadline.
        export_golden: Write golden-trace Parquet files.
        golden_trace_interval: Ticks per golden-trace file (one file per window).
        output_dir: Root folder of the golden-trace dataset, or an object store
            location ``s3://bucket/prefix`` (``docs/object-store.md``).
        sample_seed: Seed of the sampling decision; None draws one at random (it is
            recorded in every file either way).
        keep_missed_detail: Also keep the detail of unsampled ticks that missed their
            deadline (tail-based keep). This needs every span measured; when false,
            spans of unsampled ticks cost next to nothing.
        max_queue_windows: Finished windows that may wait for the writer; beyond it a
            window is dropped and counted, never blocking the traced loop.
        max_records_per_tick: Detail records kept per tick; the rest are counted as dropped.
        run_id: Name of this run (a partition of the dataset); None derives one from
            the start time, host and process id.
        metrics: Feed the live Prometheus metrics (``docs/prometheus.md``).
        metrics_port: Serve them on this port (0 picks a free one); None serves nothing
            (mount ``Tracer.metrics_registry`` in your own exporter instead).
        metrics_addr: Address to serve on; loopback unless you choose otherwise.
        deployment: Value of a ``deployment`` label on every metric (for example
            ``canary`` or ``control``); None adds no such label.
        metrics_units: Unit of the latency histograms: ``ms`` (``mm_stage_duration_ms``,
            the seed's names) or ``seconds`` (``mm_stage_duration_seconds``, Prometheus's
            base unit, which ``promtool check metrics`` accepts without a lint).
        metrics_guard_reasons: Guard reasons whose trip counters exist at 0 from the
            start, so ``increase()`` and ``rate()`` see their first trip.
        metrics_alert_limits_ms: Latency thresholds the alerts compare quantiles with;
            each is a histogram bucket bound, so those alerts are exact.
        metrics_max_label_values: Label values one metric may have (stages, verb/api
            pairs, guard reasons); observations of further values are recorded under
            ``__other__`` and counted in ``tracekit_metrics_folded_total``.
        s3_endpoint_url: The object store's ``http(s)://host[:port]`` when
            ``output_dir`` is ``s3://...``; None takes ``AWS_ENDPOINT_URL`` (or AWS).
            Credentials are never a config key (the config is stored in every file):
            they come from the AWS variables and files.
        s3_region: The object store's region; None takes ``AWS_REGION`` (or us-east-1).
        close_timeout_s: Longest :meth:`tracekit.Tracer.close` (and interpreter exit)
            waits for the sinks, in seconds; what is not written by then is counted.
        record_parents: Record each stage and request span's id and its parent
            span's id (``span_id``, ``parent_span_id``), so analysis knows exactly
            which spans are nested in which; costs a few hundred ns per measured span
            (``docs/tracer.md``, "Nesting").
    """

    enabled: bool = True
    sample_rate: float = 0.2
    deadline_ms: float = 200.0
    export_golden: bool = True
    golden_trace_interval: int = 100
    output_dir: str = "traces"
    sample_seed: int | None = None
    keep_missed_detail: bool = True
    max_queue_windows: int = 64
    max_records_per_tick: int = 10_000
    run_id: str | None = None
    metrics: bool = False
    metrics_port: int | None = None
    metrics_addr: str = "127.0.0.1"
    deployment: str | None = None
    metrics_units: str = "ms"
    metrics_guard_reasons: tuple[str, ...] = GUARD_REASONS
    metrics_alert_limits_ms: tuple[float, ...] = ALERT_LIMITS_MS
    metrics_max_label_values: int = 100
    close_timeout_s: float = 2.0
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    record_parents: bool = False

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            _check(field.name, getattr(self, field.name), source="TraceConfig")
        # YAML gives lists; a frozen config holds tuples (hashable, equal either way).
        for name in ("metrics_guard_reasons", "metrics_alert_limits_ms"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str = "config") -> TraceConfig:
        """Build a config from the keys of a ``trace:`` section.

        Args:
            values: Key/value pairs; unknown keys are rejected.
            source: Name used in error messages (a file path, usually).

        Raises:
            ConfigError: A key is unknown or a value is out of range or of the wrong type.
        """
        known = {field.name for field in dataclasses.fields(cls)}
        for key in values:
            if key not in known:
                allowed = ", ".join(sorted(known))
                close = _close_match(_key_text(key), known)
                hint = f" (did you mean trace.{close}?)" if close else ""
                raise ConfigError(
                    f"{source}: unknown key trace.{_key_text(key)}{hint}; allowed keys: {allowed}"
                )
        for key, value in values.items():
            _check(key, value, source=source)
        return cls(**dict(values))

    @classmethod
    def from_yaml(cls, path: str | Path) -> TraceConfig:
        """Load the ``trace:`` section of a YAML file.

        The other known sections (``gate:``, ``canary:``) belong to other commands, and
        sections named ``x-...`` or ``x_...`` to you; any other top-level section is an
        error, so a misspelled ``tracer:`` never silently gives every default.

        Raises:
            ConfigError: The file is missing, is not YAML, has an unknown section, or
                holds a bad value.
        """
        return cls.from_mapping(load_yaml_section(path, "trace"), source=str(path))

    def to_dict(self) -> dict[str, object]:
        """The settings as plain JSON-able values (lists, not tuples)."""
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in dataclasses.asdict(self).items()
        }


def _check(key: str, value: Any, *, source: str) -> None:
    """Raise ConfigError when ``value`` is not allowed for ``key``."""
    rule = _RULES.get(key)
    if rule is None:
        return
    kind, ok, allowed = rule
    if not _is_kind(value, kind) or not ok(value):
        raise ConfigError(f"{source}: trace.{key} must be {allowed}, got {shown(value)}")


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "int?":
        return value is None or _is_kind(value, "int")
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "str?":
        return value is None or isinstance(value, str)
    if kind == "str-list":
        return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    if kind == "number-list":
        return isinstance(value, list | tuple) and all(_is_kind(v, "number") for v in value)
    raise AssertionError(kind)


def _always(_: Any) -> bool:
    return True


def _label_value(value: str) -> bool:
    """A usable Prometheus label value: non-empty, short, encodable as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return 0 < len(value) <= 128


def _output_location(value: str) -> bool:
    """A folder path, or an ``s3://`` location that parses."""
    if value == "" or location.has_foreign_scheme(value):
        return False
    if location.is_object_url(value):
        try:
            location.parse_object_url(value)
        except InputError:
            return False
    return True


# key -> (type, extra check, how the allowed values are described)
_RULES: dict[str, tuple[str, Any, str]] = {
    "enabled": ("bool", _always, "true or false"),
    "sample_rate": ("number", lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]"),
    "deadline_ms": (
        "number",
        lambda v: v > 0 and math.isfinite(v),
        "a number of milliseconds > 0",
    ),
    "export_golden": ("bool", _always, "true or false"),
    "golden_trace_interval": ("int", lambda v: v >= 1, "a whole number of ticks >= 1"),
    "output_dir": (
        "str",
        lambda v: _output_location(v),
        "a non-empty folder path or s3://bucket/prefix (a bucket of 3-63 lowercase "
        "letters, digits, '.' or '-'; no other URL scheme)",
    ),
    "s3_endpoint_url": (
        "str?",
        lambda v: v is None or location.check_endpoint_url(v),
        "null or an endpoint http(s)://host[:port] such as http://127.0.0.1:8333",
    ),
    "s3_region": (
        "str?",
        lambda v: v is None or location.check_region(v),
        "null or a region name such as us-east-1",
    ),
    "sample_seed": ("int?", _always, "a whole number or null"),
    "keep_missed_detail": ("bool", _always, "true or false"),
    "record_parents": ("bool", _always, "true or false"),
    "max_queue_windows": ("int", lambda v: v >= 1, "a whole number >= 1"),
    "max_records_per_tick": ("int", lambda v: v >= 1, "a whole number >= 1"),
    "run_id": (
        "str?",
        lambda v: v is None or is_safe_run_id(v),
        "null or a name of 1-128 letters, digits, '.', '_' or '-' that starts with a "
        "letter or digit, has a letter, and is not a number, date or boolean "
        "(such as canary-1)",
    ),
    "metrics": ("bool", _always, "true or false"),
    "metrics_port": ("int?", lambda v: v is None or 0 <= v <= 65535, "null or a port 0-65535"),
    "metrics_addr": ("str", lambda v: v != "", "an address such as 127.0.0.1"),
    "close_timeout_s": (
        "number",
        lambda v: 0 <= v <= 3600 and math.isfinite(v),
        "a number of seconds in [0, 3600]",
    ),
    "deployment": (
        "str?",
        lambda v: v is None or (_label_value(v) and '"' not in v),
        "null or a non-empty label value",
    ),
    "metrics_units": ("str", lambda v: v in UNITS, "'ms' or 'seconds'"),
    "metrics_guard_reasons": (
        "str-list",
        lambda v: all(_label_value(reason) for reason in v) and len(set(v)) == len(v),
        "a list of distinct guard reasons (names of 1-128 characters)",
    ),
    "metrics_alert_limits_ms": (
        "number-list",
        lambda v: len(v) <= 16 and all(limit > 0 and math.isfinite(limit) for limit in v),
        "a list of at most 16 numbers of milliseconds > 0",
    ),
    "metrics_max_label_values": (
        "int",
        lambda v: 1 <= v <= 10_000,
        "a whole number in [1, 10000]",
    ),
}
