"""What a simulation did, as a report (the Report protocol of :mod:`tracekit.present.report`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tracekit.present.render.sections import MISSING, Facts, Heading
from tracekit.present.report import Presentable
from tracekit.trace.tracer import TracerStats


@dataclasses.dataclass(frozen=True)
class SimulationResult(Presentable):
    """What a simulation did.

    Attributes:
        run_id: The run's name.
        output_folder: Where its golden files are, if any were written.
        stats: The tracer's counters at the end.
        simulated_ns: Virtual time the run covered, in ns.
    """

    run_id: str
    output_folder: Path | None
    stats: TracerStats
    simulated_ns: int

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-able values, keys sorted at every level."""
        document = {
            "run_id": self.run_id,
            "output_folder": None if self.output_folder is None else str(self.output_folder),
            "simulated_s": self.simulated_ns / 1e9,
            "stats": dataclasses.asdict(self.stats),
        }
        return _sorted_keys(document)  # type: ignore[no-any-return]

    def heading(self) -> Heading:
        return Heading(title=f"tracekit simulate: run {self.run_id}", headline=self.summary())

    def summary(self) -> str:
        """One line: the run, its ticks and its misses."""
        stats = self.stats
        return (
            f"Simulated run {self.run_id}: {stats.ticks:,} ticks, "
            f"{stats.deadline_misses:,} deadline misses"
        )

    def sections(self) -> list[Facts]:
        """One summary: ticks, time, misses, sampling and what was written."""
        stats = self.stats
        share = stats.deadline_misses / stats.ticks if stats.ticks else 0.0
        items = [
            ("ticks", str(stats.ticks)),
            ("simulated time", f"{self.simulated_ns / 1e9:.1f} s"),
            ("deadline misses", f"{stats.deadline_misses} ({share:.2%})"),
            ("ticks sampled", str(stats.ticks_sampled)),
            ("kept for a miss", str(stats.ticks_kept_for_miss)),
            ("golden files", str(stats.writer.files_written)),
            ("rows written", str(stats.writer.rows_written)),
            ("written to", MISSING if self.output_folder is None else str(self.output_folder)),
        ]
        for name, value in dataclasses.asdict(stats.writer).items():
            if name in ("windows_dropped", "write_errors") and value:
                items.append((name.replace("_", " "), str(value)))
        return [Facts("simulation", f"Simulated run {self.run_id}", tuple(items))]


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(item) for item in value]
    return value
