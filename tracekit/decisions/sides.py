"""Reading one side of a comparison: golden traces or a profile JSON file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from tracekit.decisions.profile import (
    Profile,
    profile_from_summaries,
    profile_from_traces,
    read_profile,
)


def is_profile_path(path: str | Path) -> bool:
    """A single ``.json`` file is a profile; anything else is golden traces."""
    return str(path).endswith(".json") and Path(path).is_file()


def load_side(
    paths: Sequence[str | Path],
    *,
    skip_bad: bool = False,
    since_last: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    exact: bool = False,
) -> Profile:
    """Load a profile file, or build a profile from golden traces.

    Args:
        paths: One profile ``.json``, or golden-trace files, folders or globs.
        skip_bad: Skip unreadable trace files.
        since_last: With traces, keep only the most recent window of this length
            (e.g. ``30m``), measured back from the newest record.
        progress: Progress callback while trace files are checked.
        exact: Read every row, even when the files carry summaries. By default a
            large dataset whose files carry summaries is profiled from their footers
            (:func:`~tracekit.decisions.profile.profile_from_summaries`).

    Raises:
        tracekit.errors.InputError: Unreadable input, or ``since_last`` with a profile.
    """
    from tracekit.errors import InputError

    if len(paths) == 1 and is_profile_path(paths[0]):
        if since_last is not None:
            raise InputError(
                f"{paths[0]}: `last` needs golden traces, not a profile (a profile has no times)"
            )
        return read_profile(Path(paths[0]))
    if not exact and since_last is None:
        fast = profile_from_summaries(paths, skip_bad=skip_bad, progress=progress)
        if fast is not None:
            return fast
    from tracekit.analysis import load

    traces = load(list(paths), skip_bad=skip_bad, progress=progress)
    if since_last is not None:
        traces = traces.last(since_last)
    return profile_from_traces(traces)
