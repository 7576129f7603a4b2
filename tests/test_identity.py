"""Which files repeat others: the linear pass against the all-pairs rule it replaced."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracekit.analysis.identity import DuplicateFile, duplicate_files
from tracekit.errors import InputError
from tracekit.store import schema


def _files(
    spans: list[tuple[int, int]], run: str = "r"
) -> tuple[list[str], dict[str, dict[str, str]]]:
    """One file per (first, length) span, named as the tracer or compact names it
    (every third one under a copy's name)."""
    files: list[str] = []
    metadata: dict[str, dict[str, str]] = {}
    for index, (first, length) in enumerate(spans):
        last = first + length
        name = (
            schema.window_file_name(first)
            if first == last
            else schema.compacted_file_name(first, last)
        )
        if index % 3 == 2:
            name = f"copy-{index}-{name}"
        path = f"/d/run_id={run}/{name}"
        files.append(path)
        window = str(first) if first == last else f"{first}-{last}"
        metadata[path] = {schema.META_WINDOW: window, schema.META_RUN_ID: run}
    return files, metadata


def _reference(
    files: list[str], metadata: dict[str, dict[str, str]]
) -> list[tuple[str, str]] | None:
    """The rule as first written: every kept file tried against every later one
    (quadratic). None when some pair overlaps only in part."""
    entries = []
    for path in files:
        low, _, high = metadata[path][schema.META_WINDOW].partition("-")
        start, end = int(low), int(high or low)
        canonical = os.path.basename(path) == (
            schema.window_file_name(start)
            if start == end
            else schema.compacted_file_name(start, end)
        )
        entries.append((start, end, path, canonical))
    entries.sort(key=lambda e: (e[0], -e[1], not e[3], e[2]))
    kept: list[tuple[int, int, str]] = []
    found = []
    for first, last, path, _ in entries:
        cover = next((k for k in kept if k[0] <= first and last <= k[1]), None)
        if cover is not None:
            found.append((path, cover[2]))
            continue
        if any(k[0] <= last and first <= k[1] for k in kept):
            return None
        kept.append((first, last, path))
    return found


spans = st.lists(
    st.tuples(st.integers(1, 60), st.sampled_from([0, 0, 0, 1, 3, 9, 20])), max_size=40
)


@settings(max_examples=400, deadline=None)
@given(spans)
def test_the_linear_pass_finds_what_every_pair_finds(chosen: list[tuple[int, int]]) -> None:
    files, metadata = _files(chosen)
    expected = _reference(files, metadata)
    if expected is None:
        with pytest.raises(InputError, match="overlapping windows of run r"):
            duplicate_files(files, metadata)
        return
    found = duplicate_files(files, metadata)
    assert [(d.path, d.kept) for d in found] == expected
    assert all(isinstance(d, DuplicateFile) for d in found)


def test_ten_thousand_windows_with_copies() -> None:
    # 10,000 windows of one run and 500 copies: the size where the all-pairs rule
    # made `load()` spend seconds (docs/benchmarks.md, round 6).
    chosen = [(window, 0) for window in range(1, 10_001)] + [(w, 0) for w in range(1, 501)]
    files, metadata = _files(chosen)
    found = duplicate_files(files, metadata)
    assert [(d.path, d.kept) for d in found] == _reference(files, metadata)
    assert len(found) == 500
    assert all(
        os.path.basename(d.kept) in os.path.basename(d.path) or "copy-" in d.kept for d in found
    )


def test_a_backwards_window_range_repeats_nothing_and_is_covered_by_nothing() -> None:
    # "5-0" holds no window: before, any kept file from 5 on "covered" it and it was
    # dropped as a repeat of an unrelated file.
    files, metadata = _files([(1, 9), (12, 0)])
    odd = "/d/run_id=r/golden-000005.parquet"
    files.append(odd)
    metadata[odd] = {schema.META_WINDOW: "5-0", schema.META_RUN_ID: "r"}
    assert duplicate_files(files, metadata) == []
