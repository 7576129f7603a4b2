"""Figures of golden traces: stage latency, a tick timeline, guard trips, request latency.

Every function takes a :class:`~tracekit.analysis.TraceSet` (from
:func:`tracekit.load`, narrowed with :meth:`~tracekit.analysis.TraceSet.select`)
and returns a :class:`matplotlib.figure.Figure`; :func:`~tracekit.present.plots.save_figure`
writes it. The rows behind each figure are those of ``tracekit analyze``
(``docs/analysis.md``):

* stages: stage rows of the sampled detail only (unbiased); ``tick_total`` from
  every tick row. The p50/p95/p99 marked are :meth:`TraceSet.stages`'s, so they
  equal the analyze table (linear interpolation);
* timeline: every tick row and every guard row;
* guards: every guard row, counted per wall-clock window with
  :meth:`TraceSet.guards`;
* requests: request rows of the sampled detail only, percentiles from
  :meth:`TraceSet.requests`.

Distributions are counted in polars into the ~1% log buckets of
:mod:`tracekit.stats.histogram` (the buckets of ``tracekit profile``), so raw
stage and request durations are never collected into memory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from tracekit.analysis import queries
from tracekit.errors import EmptyDataError, InputError
from tracekit.present.plots._style import (
    DEADLINE_COLOR,
    DEFAULT_DPI,
    DEFAULT_WIDTH_IN,
    MISS_COLOR,
    NOTE_COLOR,
    PALETTE,
    PERCENTILE_STYLES,
    REASON_PALETTE,
    check_size,
    describe_files,
    ecdf_from_histogram,
    format_durations_ms,
    join_note,
    new_figure,
    set_titles,
    size_or,
    style_axes,
    use_log_ms_axis,
)
from tracekit.stats.histogram import GAMMA, bucket_expr
from tracekit.stats.intervals import PERCENTILES
from tracekit.store import schema

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from tracekit.analysis.traceset import TraceSet

TRACE_KINDS: Final = ("stages", "timeline", "guards", "requests")
"""The figures :func:`plot_traces` draws (``tracekit plot --kind``)."""

HISTOGRAM_BINS: Final = 70
"""About this many log-spaced bins span the stage figure's x axis."""
GUARD_WINDOWS: Final = 48
"""Without ``every``, the guards figure aims at about this many time windows."""
MAX_GUARD_WINDOWS: Final = 2_000
"""A narrower ``every`` than this many windows is refused: the bars would be invisible."""
_NICE_WINDOWS: Final = (
    "100ms",
    "200ms",
    "500ms",
    "1s",
    "2s",
    "5s",
    "10s",
    "15s",
    "30s",
    "1m",
    "2m",
    "5m",
    "10m",
    "15m",
    "30m",
    "1h",
    "2h",
    "3h",
    "6h",
    "12h",
    "1d",
)
_NS_PER_MS: Final = 1_000_000.0
MISS_CIRCLE_LIMIT: Final = 150
MISS_CIRCLE_SHARE: Final = 0.05
"""Up to this many deadline misses, and this share of ticks, the timeline circles each
miss; above either, it colours the missed ticks' own dots red (circles would bury the
data)."""
_NS_PER_DAY: Final = 86_400 * 10**9


def plot_traces(
    traces: TraceSet,
    kind: str,
    *,
    title: str | None = None,
    width: float | None = None,
    height: float | None = None,
    dpi: float = DEFAULT_DPI,
    every: str | None = None,
) -> Figure:
    """One figure of golden traces, chosen by name (what ``tracekit plot`` draws).

    Args:
        traces: The selected traces.
        kind: ``stages``, ``timeline``, ``guards`` or ``requests`` (:data:`TRACE_KINDS`).
        title: The figure title; None for a default naming the data.
        width: Width in inches; None for the kind's default.
        height: Height in inches; None for the kind's default.
        dpi: Dots per inch of raster output. Defaults to 100.
        every: Time-window width of the guards figure (e.g. ``30s``); only for
            ``guards``. None picks about 48 windows.

    Raises:
        InputError: Unknown kind, ``every`` with another kind, a bad size.
        EmptyDataError: The selection holds no tick (or no row the figure needs).
    """
    options: dict[str, Any] = {"title": title, "width": width, "height": height, "dpi": dpi}
    if kind not in TRACE_KINDS:
        raise InputError(f"`kind` {kind!r} is not one of {', '.join(TRACE_KINDS)}")
    if every is not None and kind != "guards":
        raise InputError(f"`every` sets the guards figure's windows; it does not apply to {kind}")
    check_size(width, height, dpi)
    from tracekit.analysis.sources import reading

    with reading(traces.files):
        if kind == "stages":
            return plot_stages(traces, **options)
        if kind == "timeline":
            return plot_timeline(traces, **options)
        if kind == "guards":
            return plot_guards(traces, every=every, **options)
        return plot_requests(traces, **options)


# -- stages ----------------------------------------------------------------------------


def plot_stages(
    traces: TraceSet,
    *,
    title: str | None = None,
    width: float | None = None,
    height: float | None = None,
    dpi: float = DEFAULT_DPI,
) -> Figure:
    """Latency distribution of every stage and of ``tick_total``, one row each.

    Each row is a histogram over log-spaced bins on a shared log x axis (ms), with
    p50, p95 and p99 marked; the ``tick_total`` row also marks the deadline. Stage
    rows come from the sampled detail only, ``tick_total`` from every tick; the
    selection's stages (``--stage``) limit the rows.

    Args:
        traces: The selected traces.
        title: The figure title; None for "Stage latency: <data>".
        width: Width in inches. Defaults to 10.
        height: Height in inches. Defaults to 1.5 per row plus 1.6.
        dpi: Dots per inch of raster output. Defaults to 100.

    Raises:
        EmptyDataError: No tick in the selection, or a selected stage has no rows.
    """
    import numpy as np

    ticks = _require_ticks(traces)
    summary = traces.stages()  # the analyze percentiles; checks --stage names
    names = [name for name in summary["stage"].to_list() if isinstance(name, str)]
    histograms = _histograms(_stage_buckets(traces, names), "stage")
    names = [name for name in names if histograms.get(name)]
    deadlines_ms = _deadlines_ms(traces)

    all_indexes = [index for name in names for index in histograms[name]]
    low, high = min(all_indexes), max(all_indexes)
    bin_width = max(1, math.ceil((high - low + 1) / HISTOGRAM_BINS))
    bins = (high - low) // bin_width + 1
    edges_ms = np.power(GAMMA, low - 1.0 + bin_width * np.arange(bins + 1)) / _NS_PER_MS

    figure = new_figure(
        size_or(width, DEFAULT_WIDTH_IN), size_or(height, 1.6 + 1.5 * len(names)), dpi
    )
    axes_list = list(np.atleast_1d(figure.subplots(len(names), 1, sharex=True)))
    rows = {row["stage"]: row for row in summary.iter_rows(named=True)}
    for axes, name in zip(axes_list, names, strict=True):
        counts = np.zeros(bins, dtype=np.float64)
        for index, count in histograms[name].items():
            counts[(index - low) // bin_width] += count
        color = PALETTE[2] if name == schema.TICK_TOTAL else PALETTE[0]
        axes.stairs(counts, edges_ms, fill=True, color=color, alpha=0.3, linewidth=0)
        axes.stairs(counts, edges_ms, color=color, linewidth=1.2)
        axes.set_ylim(0, max(float(counts.max()), 1.0) * 1.12)
        axes.set_yticks([])
        style_axes(axes, grid_axis="x")
        row = rows[name]
        stats: dict[str, float] = {}
        for label, style in PERCENTILE_STYLES.items():
            value = row.get(f"{label}_ms")
            if value is not None:
                axes.axvline(value, linewidth=1.8, label=label, **style)
                stats[label] = value
        if name == schema.TICK_TOTAL:
            for deadline in deadlines_ms:
                axes.axvline(
                    deadline,
                    color=DEADLINE_COLOR,
                    linewidth=2.0,
                    label=f"deadline {deadline:g} ms",
                )
        source = "every tick" if name == schema.TICK_TOTAL else "sampled"
        axes.set_ylabel(
            f"{name}\nn = {int(row['n']):,}\n({source})",
            rotation=0,
            ha="right",
            va="center",
            fontsize=10,
        )
        axes.set_title(
            format_durations_ms(stats) if stats else "too few samples for percentiles",
            loc="right",
            fontsize=9,
            color=NOTE_COLOR,
        )
    bottom = axes_list[-1]
    use_log_ms_axis(bottom)
    # The deadline stays in view even when every tick was far faster.
    bottom.set_xlim(
        min([float(edges_ms[0]), *(d / 1.15 for d in deadlines_ms)]),
        max([float(edges_ms[-1]), *(d * 1.15 for d in deadlines_ms)]),
    )
    bottom.set_xlabel("duration (ms, log scale)")
    handles, labels = _unique_legend_entries(axes_list)
    # Beside the top row, outside the data (constrained layout makes room for it).
    axes_list[0].legend(
        handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False
    )
    set_titles(
        figure,
        title or f"Stage latency: {describe_files(traces.files)}",
        join_note(
            [
                _runs_note(traces, ticks),
                f"stages from sampled ticks{_rate_note(traces)}, tick_total from every tick",
                "percentiles: linear interpolation",
                _selection_note(traces),
            ]
        ),
    )
    return figure


def _stage_buckets(traces: TraceSet, names: Sequence[str]) -> pl.LazyFrame:
    bucket = bucket_expr(pl.col("duration_ns")).alias("bucket")
    return (
        queries.stage_rows(traces.scan(), bucket)
        .filter(pl.col("stage").is_in(list(names)))
        .group_by("stage", "bucket")
        .agg(pl.len().alias("count"))
    )


def _histograms(query: pl.LazyFrame, key: str) -> dict[str, dict[int, int]]:
    """``{key value: {bucket: count}}`` from a query of (key, bucket, count)."""
    result: dict[str, dict[int, int]] = {}
    for name, bucket, count in query.select(key, "bucket", "count").collect().iter_rows():
        result.setdefault(str(name), {})[int(bucket)] = int(count)
    return result


def _deadlines_ms(traces: TraceSet) -> list[float]:
    values = (
        traces.scan()
        .filter(pl.col("kind") == schema.KIND_TICK)
        .select(pl.col("deadline_ns").drop_nulls().unique().sort())
        .collect()
        .to_series()
        .to_list()
    )
    return [int(value) / _NS_PER_MS for value in values]


def _unique_legend_entries(axes_list: Sequence[Axes]) -> tuple[list[Any], list[str]]:
    handles: list[Any] = []
    labels: list[str] = []
    for axes in axes_list:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    return handles, labels


# -- timeline --------------------------------------------------------------------------


def plot_timeline(
    traces: TraceSet,
    *,
    title: str | None = None,
    width: float | None = None,
    height: float | None = None,
    dpi: float = DEFAULT_DPI,
) -> Figure:
    """``tick_total`` of every tick over wall-clock time, with the deadline and misses.

    One colour per run; deadline misses are highlighted; the deadline is a dashed
    line. Below, a strip shows each guard trip as a mark in its reason's row.

    Args:
        traces: The selected traces.
        title: The figure title; None for "Tick timeline: <data>".
        width: Width in inches. Defaults to 10.
        height: Height in inches. Defaults to 5.5 (4.5 without guard trips).
        dpi: Dots per inch of raster output. Defaults to 100.

    Raises:
        EmptyDataError: No tick in the selection.
    """
    import numpy as np

    ticks_query = (
        traces.scan()
        .filter(pl.col("kind") == schema.KIND_TICK)
        .select("run_id", "start_unix_ns", "duration_ns", "deadline_ns", "deadline_missed")
        .sort("run_id", "start_unix_ns")
    )
    guards_query = (
        traces.scan()
        .filter(pl.col("kind") == schema.KIND_GUARD)
        .select(pl.col("name").alias("reason"), "start_unix_ns")
    )
    ticks, guards = pl.collect_all([ticks_query, guards_query])
    if ticks.height == 0:
        raise _no_tick(traces)
    reasons = guards.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
    figure = new_figure(
        size_or(width, DEFAULT_WIDTH_IN), size_or(height, 5.5 if guards.height else 4.5), dpi
    )
    if guards.height:
        strip_height = 0.35 + 0.25 * reasons.height
        top, strip = figure.subplots(2, 1, sharex=True, height_ratios=[4.0, strip_height])
    else:
        top, strip = figure.subplots(1, 1), None
    style_axes(top)

    misses = ticks.filter(pl.col("deadline_missed").fill_null(False))
    runs = ticks.partition_by("run_id", maintain_order=True, as_dict=False)
    for number, run in enumerate(runs):
        run_id = run["run_id"][0]
        top.plot(
            _dates(run["start_unix_ns"]),
            run["duration_ns"].to_numpy() / _NS_PER_MS,
            ".",
            markersize=2.0,
            color=PALETTE[number % len(PALETTE)] if len(runs) > 1 else PALETTE[0],
            label=f"{run_id} ({run.height:,} ticks)",
            rasterized=True,
        )
    miss_label = f"deadline miss ({misses.height:,}, {misses.height / ticks.height:.2%})"
    if misses.height <= min(MISS_CIRCLE_LIMIT, MISS_CIRCLE_SHARE * ticks.height):
        # A few misses: circle each, so that none goes unseen.
        top.plot(
            _dates(misses["start_unix_ns"]),
            misses["duration_ns"].to_numpy() / _NS_PER_MS,
            "o",
            markersize=5,
            markerfacecolor="none",
            markeredgewidth=1.3,
            color=MISS_COLOR,
            label=miss_label,
        )
    else:
        # Many misses: circles would bury the data; the missed ticks' own dots turn red.
        top.plot(
            _dates(misses["start_unix_ns"]),
            misses["duration_ns"].to_numpy() / _NS_PER_MS,
            ".",
            markersize=2.6,
            color=MISS_COLOR,
            label=miss_label,
            rasterized=True,
        )
    deadlines = ticks["deadline_ns"].drop_nulls().unique()
    if deadlines.len() == 1:
        value = int(deadlines[0]) / _NS_PER_MS
        top.axhline(
            value,
            color=DEADLINE_COLOR,
            linestyle="--",
            linewidth=1.5,
            label=f"deadline {value:g} ms",
        )
    elif deadlines.len() > 1:  # the deadline changed during a run: follow it
        for number, run in enumerate(runs):
            top.plot(
                _dates(run["start_unix_ns"]),
                run["deadline_ns"].to_numpy() / _NS_PER_MS,
                color=DEADLINE_COLOR,
                linestyle="--",
                linewidth=1.5,
                drawstyle="steps-post",
                label="deadline" if number == 0 else "_deadline",
            )
    top.set_ylabel("tick_total (ms)")
    top.set_ylim(bottom=0)
    top.legend(
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        fontsize=8.5,
        frameon=False,
        ncols=4,
        markerscale=2.0,
    )

    if strip is not None:
        style_axes(strip, grid_axis="x")
        names = reasons["reason"].to_list()
        for row, reason in enumerate(names):
            times = guards.filter(pl.col("reason") == reason)["start_unix_ns"]
            strip.plot(
                _dates(times),
                np.full(times.len(), row, dtype=np.float64),
                "|",
                markersize=9,
                color=REASON_PALETTE[row % len(REASON_PALETTE)],
                rasterized=True,
            )
        strip.set_yticks(range(len(names)), names, fontsize=8)
        strip.set_ylim(len(names) - 0.5, -0.5)
        strip.set_ylabel("guard trips", fontsize=9)
    bottom = strip if strip is not None else top
    _use_date_axis(bottom)
    bottom.set_xlabel("wall-clock time (UTC)")
    set_titles(
        figure,
        title or f"Tick timeline: {describe_files(traces.files)}",
        join_note(
            [
                _runs_note(traces, ticks.height),
                f"{misses.height:,} deadline misses",
                f"{guards.height:,} guard trips",
                _selection_note(traces),
            ]
        ),
    )
    return figure


def _dates(unix_ns: pl.Series) -> npt.NDArray[np.float64]:
    """Wall-clock ns as matplotlib date numbers (days since matplotlib's epoch)."""
    import matplotlib.dates as mdates
    import numpy as np

    values = unix_ns.to_numpy().astype("datetime64[ns]")
    return np.asarray(mdates.date2num(values), dtype=np.float64)  # type: ignore[no-untyped-call]


def _use_date_axis(axes: Axes) -> None:
    import datetime

    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(tz=datetime.UTC)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(  # type: ignore[no-untyped-call]
        locator, tz=datetime.UTC
    )
    axes.xaxis.set_major_formatter(formatter)


# -- guards ------------------------------------------------------------------------------


def plot_guards(
    traces: TraceSet,
    *,
    every: str | None = None,
    title: str | None = None,
    width: float | None = None,
    height: float | None = None,
    dpi: float = DEFAULT_DPI,
) -> Figure:
    """Guard trips per wall-clock window, stacked by reason.

    Windows are aligned to the epoch, as with ``tracekit analyze --every``; the
    legend gives each reason's total and its rate per 1,000 ticks.

    Args:
        traces: The selected traces.
        every: Window width (``30s``, ``1m``, ...); None picks a round width that
            gives about 48 windows.
        title: The figure title; None for "Guard trips: <data>".
        width: Width in inches. Defaults to 10.
        height: Height in inches. Defaults to 4.5.
        dpi: Dots per inch of raster output. Defaults to 100.

    Raises:
        EmptyDataError: No tick in the selection.
        InputError: ``every`` is not a duration, or gives more than 2,000 windows.
    """
    import numpy as np

    from tracekit.analysis.traceset import WINDOW_COLUMN, parse_duration_ns

    span = (
        traces.scan()
        .filter(pl.col("kind") == schema.KIND_TICK)
        .select(
            pl.len().alias("ticks"),
            pl.col("start_unix_ns").min().alias("first"),
            pl.col("start_unix_ns").max().alias("last"),
        )
        .collect()
        .row(0, named=True)
    )
    if not span["ticks"]:
        raise _no_tick(traces)
    every = every or _auto_window(int(span["last"]) - int(span["first"]))
    window_ns = parse_duration_ns(every)
    trips = traces.guards(every=every).with_columns(
        pl.col(WINDOW_COLUMN).dt.epoch("ns").alias("window_ns")
    )
    totals = (
        trips.group_by("reason")
        .agg(pl.col("trips").sum())
        .sort(["trips", "reason"], descending=[True, False])
    )
    ticks = int(span["ticks"])
    # Every window from the first record to the last, empty ones included (a gap
    # without trips is information); a trip may start after the last tick did.
    first = min([int(span["first"]) // window_ns * window_ns, *trips["window_ns"].to_list()])
    last = max([int(span["last"]), *trips["window_ns"].to_list()])
    count = (last - first) // window_ns + 1
    if count > MAX_GUARD_WINDOWS:
        raise InputError(
            f"`every` {every} cuts the selection into {count:,} windows; the limit is "
            f"{MAX_GUARD_WINDOWS:,}: use a wider window"
        )
    starts = pl.Series([first + window_ns * number for number in range(count)], dtype=pl.Int64)

    figure = new_figure(size_or(width, DEFAULT_WIDTH_IN), size_or(height, 4.5), dpi)
    axes = figure.subplots(1, 1)
    style_axes(axes, grid_axis="y")
    positions = _dates(starts)
    below = np.zeros(len(positions), dtype=np.float64)
    for number, (reason, total) in enumerate(totals.iter_rows()):
        counts = np.zeros(len(positions), dtype=np.float64)
        rows = trips.filter(pl.col("reason") == reason)
        for start, trip_count in zip(
            rows["window_ns"].to_list(), rows["trips"].to_list(), strict=True
        ):
            counts[(int(start) - first) // window_ns] += trip_count
        axes.bar(
            positions,
            counts,
            width=0.9 * window_ns / _NS_PER_DAY,
            bottom=below,
            align="edge",
            color=REASON_PALETTE[number % len(REASON_PALETTE)],
            label=f"{reason}: {int(total):,} ({1000.0 * int(total) / ticks:.1f})",
        )
        below += counts
    if totals.height:
        axes.legend(
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=8.5,
            frameon=False,
            title="reason: trips (per 1,000 ticks)",
            title_fontsize=8.5,
            alignment="left",
        )
    else:
        axes.text(
            0.5,
            0.5,
            "no guard trips in the selection",
            transform=axes.transAxes,
            ha="center",
            va="center",
            color=NOTE_COLOR,
        )
    axes.set_ylim(0, max(float(below.max()) if below.size else 0.0, 1.0) * 1.25)
    if positions.size:
        axes.set_xlim(positions[0], positions[-1] + window_ns / _NS_PER_DAY)
    axes.set_ylabel(f"guard trips per {every} window")
    _use_date_axis(axes)
    axes.set_xlabel("wall-clock time (UTC)")
    set_titles(
        figure,
        title or f"Guard trips: {describe_files(traces.files)}",
        join_note(
            [
                _runs_note(traces, ticks),
                f"{int(totals['trips'].sum()) if totals.height else 0:,} guard trips",
                f"{every} windows (runs added together)" if len(traces.runs) > 1 else None,
                _selection_note(traces),
            ]
        ),
    )
    return figure


def _auto_window(span_ns: int) -> str:
    """The smallest round window width that cuts ``span_ns`` into at most 48 windows."""
    from tracekit.analysis.traceset import parse_duration_ns

    for candidate in _NICE_WINDOWS:
        if parse_duration_ns(candidate) * GUARD_WINDOWS >= span_ns:
            return candidate
    return f"{math.ceil(span_ns / GUARD_WINDOWS / _NS_PER_DAY)}d"


# -- requests ----------------------------------------------------------------------------


def plot_requests(
    traces: TraceSet,
    *,
    title: str | None = None,
    width: float | None = None,
    height: float | None = None,
    dpi: float = DEFAULT_DPI,
) -> Figure:
    """Exchange latency per verb and API: the distribution and its tail.

    Left, the empirical CDF (share of requests at most x ms) of each verb and API
    with p50, p95 and p99 marked; right, the tail (share of requests slower than
    x ms) on a log y axis. Sampled detail only.

    Args:
        traces: The selected traces.
        title: The figure title; None for "Exchange request latency: <data>".
        width: Width in inches. Defaults to 10.
        height: Height in inches. Defaults to 4.8.
        dpi: Dots per inch of raster output. Defaults to 100.

    Raises:
        EmptyDataError: No tick, or no sampled request row, in the selection.
    """
    from matplotlib.ticker import FuncFormatter

    ticks = _require_ticks(traces)
    summary = traces.requests()
    if summary.height == 0:
        raise EmptyDataError(
            f"{describe_files(traces.files)}: no sampled exchange request in the selection; "
            "widen `symbols`, `runs`, `since` or `until`"
        )
    key = (pl.col("verb").fill_null("") + pl.lit(" ") + pl.col("name")).alias("key")
    query = (
        traces.scan()
        .filter(queries.is_sampled(schema.KIND_REQUEST))
        .group_by(key, bucket_expr(pl.col("duration_ns")).alias("bucket"))
        .agg(pl.len().alias("count"))
    )
    histograms = _histograms(query, "key")

    figure = new_figure(size_or(width, DEFAULT_WIDTH_IN), size_or(height, 4.8), dpi)
    cdf_axes, tail_axes = figure.subplots(1, 2, sharex=True)
    for number, row in enumerate(summary.iter_rows(named=True)):
        color = PALETTE[number % len(PALETTE)]
        name = f"{row['verb'] or ''} {row['api']}".strip()
        x_ms, shares = ecdf_from_histogram(histograms.get(f"{row['verb'] or ''} {row['api']}", {}))
        label = f"{name} (n = {int(row['n']):,}"
        if row.get("error_share"):
            label += f", errors {row['error_share']:.1%}"
        label += ")"
        cdf_axes.plot(x_ms, shares, color=color, linewidth=1.8, label=label)
        for percentile, quantile in PERCENTILES:
            value = row.get(f"{percentile}_ms")
            if value is not None:
                cdf_axes.plot([value], [quantile], "o", color=color, markersize=4.5)
        tail = shares < 1.0
        tail_axes.plot(x_ms[tail], 1.0 - shares[tail], color=color, linewidth=1.8, label=label)
    for quantile in (0.95, 0.99):
        cdf_axes.axhline(quantile, color=NOTE_COLOR, linewidth=0.8, linestyle=":")
        tail_axes.axhline(1.0 - quantile, color=NOTE_COLOR, linewidth=0.8, linestyle=":")
    for axes in (cdf_axes, tail_axes):
        style_axes(axes)
        use_log_ms_axis(axes)
        axes.set_xlabel("request latency (ms, log scale)")
    cdf_axes.set_ylim(0, 1.02)
    cdf_axes.set_yticks([0.0, 0.25, 0.5, 0.75, 0.95], ["0%", "25%", "50%", "75%", "95%"])
    cdf_axes.set_ylabel("share of requests ≤ x")
    cdf_axes.set_title("distribution (dots: p50, p95, p99)", loc="left", fontsize=10)
    tail_axes.set_title("tail: share slower than x", loc="left", fontsize=10)
    cdf_axes.legend(loc="lower right", fontsize=8, framealpha=0.9)
    tail_axes.set_yscale("log")
    tail_axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{100 * value:g}%"))
    tail_axes.set_ylabel("share of requests > x (log scale)")
    smallest = min(
        (1.0 / total for total in (sum(h.values()) for h in histograms.values()) if total),
        default=1e-3,
    )
    tail_axes.set_ylim(max(smallest * 0.8, 1e-6), 1.05)
    set_titles(
        figure,
        title or f"Exchange request latency: {describe_files(traces.files)}",
        join_note(
            [
                _runs_note(traces, ticks),
                f"requests of sampled ticks{_rate_note(traces)}",
                _selection_note(traces),
            ]
        ),
    )
    return figure


# -- shared ------------------------------------------------------------------------------


def _require_ticks(traces: TraceSet) -> int:
    ticks = int(
        traces.scan().filter(pl.col("kind") == schema.KIND_TICK).select(pl.len()).collect().item()
    )
    if ticks == 0:
        raise _no_tick(traces)
    return ticks


def _no_tick(traces: TraceSet) -> EmptyDataError:
    return EmptyDataError(
        f"{describe_files(traces.files)}: no tick in the selection; "
        "widen `runs`, `since` or `until`"
    )


def _runs_note(traces: TraceSet, ticks: int) -> str:
    runs = traces.selection.runs or tuple(traces.runs)
    if len(runs) == 1:
        return f"run {runs[0]} · {ticks:,} ticks"
    return f"{len(runs)} runs · {ticks:,} ticks"


def _rate_note(traces: TraceSet) -> str:
    rates = set(traces.sample_rates.values())
    if len(rates) == 1:
        return f" ({next(iter(rates)):.0%})"
    return ""


def _selection_note(traces: TraceSet) -> str | None:
    selection = traces.selection.to_dict()
    parts = []
    if selection["symbols"]:
        parts.append("symbols " + ", ".join(selection["symbols"]))
    if selection["since"]:
        parts.append(f"since {selection['since']}")
    if selection["until"]:
        parts.append(f"until {selection['until']}")
    return "; ".join(parts) or None
