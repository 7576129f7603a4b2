"""Which part of a trace set to look at: :class:`Selection`, and exact times.

Times in tracekit are integers of nanoseconds since the Unix epoch. Python's
``datetime`` holds microseconds, so the text forms here are parsed and written
without it: :func:`parse_time_ns` keeps every digit of ``--since
2026-01-01T00:00:03.123456789``, and :func:`iso_ns` writes one format
everywhere (JSON, CSV, tables): ``2026-01-01T00:00:03.123456789Z``, with the
fraction trimmed of trailing zeros and left out on a whole second.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any

_NS_PER_S = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FRACTION = re.compile(r"^(.*[T ]\d\d:\d\d(?::\d\d)?)[.,](\d+)(.*)$")


@dataclasses.dataclass(frozen=True)
class Selection:
    """Filters applied to a trace set (empty means everything).

    Attributes:
        stages: Stage names to report (``tick_total`` included if named).
        symbols: Symbols whose stage, request and guard rows to keep; tick rows are
            tick-wide and always kept.
        runs: Run ids to keep.
        since_ns: Keep records starting at or after this wall-clock ns.
        until_ns: Keep records starting before this wall-clock ns.
    """

    stages: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    runs: tuple[str, ...] = ()
    since_ns: int | None = None
    until_ns: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stages": list(self.stages),
            "symbols": list(self.symbols),
            "runs": list(self.runs),
            "since": None if self.since_ns is None else iso_ns(self.since_ns),
            "until": None if self.until_ns is None else iso_ns(self.until_ns),
        }


def unix_ns(moment: datetime) -> int:
    """Exact ns since the epoch of a datetime (naive means UTC); no float rounding."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def parse_time_ns(text: str) -> int:
    """An ISO 8601 time as exact ns since the epoch (UTC when no zone is given).

    Any number of fraction digits is kept (``.123456789`` is 123,456,789 ns; digits
    past the ninth are refused rather than rounded).

    Raises:
        ValueError: The text is not an ISO 8601 time.
    """
    text = text.strip()
    extra_ns = 0
    match = _FRACTION.match(text)
    if match is not None:
        head, digits, zone = match.groups()
        if len(digits) > 9:
            raise ValueError(f"{text!r} has more than 9 fraction digits")
        extra_ns = int(digits.ljust(9, "0"))
        text = head + zone
    moment = datetime.fromisoformat(text)
    return unix_ns(moment) + extra_ns


def iso_ns(ns: int) -> str:
    """``ns`` since the epoch as ISO 8601 UTC, exact to the ns: ``…T00:00:01.5Z``."""
    seconds, fraction = divmod(int(ns), _NS_PER_S)
    text = (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"
