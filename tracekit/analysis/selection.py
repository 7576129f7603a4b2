"""Which part of a trace set to look at: :class:`Selection`."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any


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
            "since": _iso(self.since_ns),
            "until": _iso(self.until_ns),
        }


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    from datetime import UTC

    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat().replace("+00:00", "Z")
