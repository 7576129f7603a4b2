"""Figures of a comparison: the two sides' distributions, and the verdicts' intervals.

* :func:`plot_overlays`: per stage, the baseline and current empirical CDFs, read
  from the profiles' log histograms (:meth:`Profile.merged`, ~1% buckets).
* :func:`plot_forest`: one row per metric, its change with its interval and its
  threshold, coloured by verdict. It takes any objects with the fields of
  :class:`~tracekit.decisions.gate.MetricResult` (:class:`IntervalMetric`), so a
  canary result can use it too.
* :func:`plot_comparison`: both, for a :class:`~tracekit.decisions.result.Comparison`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

from tracekit.present.plots._style import (
    DEADLINE_COLOR,
    DEFAULT_DPI,
    DEFAULT_WIDTH_IN,
    NOTE_COLOR,
    PALETTE,
    VERDICT_COLORS,
    ecdf_from_histogram,
    join_note,
    new_figure,
    set_titles,
    size_or,
    style_axes,
    use_log_ms_axis,
    verdict_color,
    verdict_text,
)
from tracekit.store import schema

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from tracekit.decisions.profile import Profile
    from tracekit.decisions.result import Comparison

_VERDICT_RANK: Final = {
    "REGRESSION": 3,
    "ROLLBACK": 3,
    "violated": 3,
    "INCONCLUSIVE": 2,
    "CONTINUE": 2,
    "undecided": 2,
    "PASS": 1,
    "PROMOTE": 1,
    "met": 1,
    "NEW": 0,
}
"""Worst first: the order of the legend, and which verdict colours a stage's panel."""
_REASONS: Final = {
    "too_few_samples": "too few samples",
    "stage_missing_in_current": "stage missing",
    "new_stage": "new stage",
}
_ROW_HEIGHT_IN: Final = 0.34
_LOGIT_TICKS: Final = (0.01, 0.1, 0.5, 0.95, 0.99, 0.999)
_LOGIT_LIMITS: Final = (0.002, 0.9995)


class IntervalMetric(Protocol):
    """One judged metric, as :func:`plot_forest` reads it.

    :class:`~tracekit.decisions.gate.MetricResult` has these fields; so can a canary's
    result. ``reason`` and ``critical`` are read when present.
    """

    @property
    def stage(self) -> str:
        """Stage name (``tick_total``, ``deadline``, ...)."""
        ...

    @property
    def metric(self) -> str:
        """``p95``, ``p99``, ``miss_rate``, ..."""
        ...

    @property
    def change(self) -> float | None:
        """Relative change (0.03 = +3%), or a rate difference for rate metrics."""
        ...

    @property
    def low(self) -> float | None:
        """Lower bound of ``change``."""
        ...

    @property
    def high(self) -> float | None:
        """Upper bound of ``change``."""
        ...

    @property
    def threshold(self) -> float:
        """Allowed change, in the unit of ``change``."""
        ...

    @property
    def verdict(self) -> object:
        """A verdict enum or string (PASS, REGRESSION, INCONCLUSIVE, NEW, ...)."""
        ...


def plot_comparison(
    comparison: Comparison,
    baseline_profile: Profile | None = None,
    current_profile: Profile | None = None,
    *,
    deadline_ms: float | None = None,
    width: float | None = None,
    dpi: float = DEFAULT_DPI,
) -> dict[str, Figure]:
    """The figures of a perf-gate comparison, by name, for :func:`save_figures`.

    Args:
        comparison: The result of the gate.
        baseline_profile: The baseline side it was computed from; None for the
            profile the comparison kept (``Comparison.baseline_profile``).
        current_profile: The current side; None for ``Comparison.current_profile``.
        deadline_ms: The tick deadline, marked on ``tick_total``; None to leave it out
            (profiles do not record it).
        width: Width of each figure in inches. Defaults to 10.
        dpi: Dots per inch of raster output. Defaults to 100.

    Returns:
        ``{"overlays": ..., "forest": ...}``: per-stage baseline-vs-current CDFs
        (:func:`plot_overlays`) and the intervals against their thresholds
        (:func:`plot_forest`).

    Raises:
        InputError: A profile is neither given nor kept by the comparison.
    """
    from tracekit.errors import InputError

    baseline_profile = baseline_profile or getattr(comparison, "baseline_profile", None)
    current_profile = current_profile or getattr(comparison, "current_profile", None)
    if baseline_profile is None or current_profile is None:
        raise InputError(
            "plot_comparison needs the baseline and current profiles: pass them, or use a "
            "Comparison that kept them (tracekit.decisions.compare does)"
        )
    result = comparison.result
    policy = result.policy
    confidence = 1.0 - 2.0 * policy.alpha
    sides = (
        f"baseline {comparison.baseline_source} ({result.baseline_ticks:,} ticks), "
        f"current {comparison.current_source} ({result.current_ticks:,} ticks)"
    )
    overlays = plot_overlays(
        baseline_profile,
        current_profile,
        metrics=result.metrics,
        deadline_ms=deadline_ms,
        title=f"Baseline vs current, per stage: {comparison.verdict.value}",
        caption=join_note(
            [
                sides,
                "stages from sampled ticks, tick_total from every tick",
                "CDFs from ~1% log buckets",
            ]
        ),
        width=width,
        dpi=dpi,
    )
    order = {
        name: index for index, name in enumerate(_stage_order(baseline_profile, current_profile))
    }
    ordered = sorted(result.metrics, key=lambda metric: order.get(metric.stage, len(order)))
    forest = plot_forest(
        ordered,
        title=f"Perf gate: {comparison.verdict.value}",
        interval_label=f"{confidence:.0%} interval",
        caption=join_note(
            [
                "Woodruff intervals from blocks of consecutive ticks",
                f"each bound one-sided {1.0 - policy.alpha:.0%}",
                sides,
            ]
        ),
        width=width,
        dpi=dpi,
    )
    return {"overlays": overlays, "forest": forest}


# -- overlays ----------------------------------------------------------------------------


def plot_overlays(
    baseline: Profile,
    current: Profile,
    *,
    metrics: Sequence[IntervalMetric] = (),
    stages: Sequence[str] | None = None,
    labels: tuple[str, str] = ("baseline", "current"),
    deadline_ms: float | None = None,
    title: str | None = None,
    caption: str | None = None,
    width: float | None = None,
    height: float | None = None,
    dpi: float = DEFAULT_DPI,
) -> Figure:
    """Per stage, the empirical CDFs of two profiles on a log x axis (ms).

    Args:
        baseline: The first side (drawn blue).
        current: The second side (drawn orange).
        metrics: Verdicts to summarise in each panel's title (``p95 +11.3% ...``),
            coloured by the stage's worst verdict; may be empty.
        stages: Stages to draw, in order; None for every stage of either side, in
            tick order (``tick_total`` last).
        labels: Legend names of the two sides, e.g. ``("control", "canary")``.
        deadline_ms: Marked on the ``tick_total`` panel when given.
        title: The figure title; None for "Baseline vs current, per stage".
        caption: A grey line under the figure; None for none.
        width: Width in inches. Defaults to 10.
        height: Height in inches. Defaults to 2.9 per row of panels plus 1.4.
        dpi: Dots per inch of raster output. Defaults to 100.

    Raises:
        InputError: No stage to draw.
    """
    from matplotlib.ticker import NullLocator

    from tracekit.errors import InputError

    names = list(stages) if stages is not None else _stage_order(baseline, current)
    names = [name for name in names if baseline.merged(name) or current.merged(name)]
    if not names:
        raise InputError(f"{baseline.source} and {current.source}: no stage to plot")
    columns = 1 if len(names) == 1 else 2 if len(names) <= 4 else 3
    rows = math.ceil(len(names) / columns)
    figure = new_figure(size_or(width, DEFAULT_WIDTH_IN), size_or(height, 1.4 + 2.9 * rows), dpi)
    grid = figure.subplots(rows, columns, squeeze=False)
    panels = [axes for row in grid for axes in row]
    by_stage: dict[str, list[IntervalMetric]] = {}
    for metric in metrics:
        by_stage.setdefault(metric.stage, []).append(metric)

    for number, (axes, name) in enumerate(zip(panels, names, strict=False)):
        for side, (profile, label) in enumerate(zip((baseline, current), labels, strict=True)):
            histogram = profile.merged(name)
            x_ms, shares = ecdf_from_histogram(histogram)
            if x_ms.size:
                axes.plot(
                    x_ms,
                    shares,
                    color=PALETTE[side],
                    linewidth=1.8,
                    label=f"{label} (n = {sum(histogram.values()):,})",
                )
        for quantile in (0.95, 0.99):
            axes.axhline(quantile, color=NOTE_COLOR, linewidth=0.8, linestyle=":")
        if deadline_ms is not None and name == schema.TICK_TOTAL:
            axes.axvline(
                deadline_ms,
                color=DEADLINE_COLOR,
                linewidth=1.5,
                label=f"deadline {deadline_ms:g} ms",
            )
        style_axes(axes)
        use_log_ms_axis(axes)
        # A logit y axis spreads out both tails, where p95 and p99 live.
        axes.set_yscale("logit")
        axes.set_ylim(_LOGIT_LIMITS)
        axes.set_yticks(_LOGIT_TICKS, [f"{100 * tick:g}%" for tick in _LOGIT_TICKS])
        axes.yaxis.set_minor_locator(NullLocator())
        axes.set_title(name, loc="left", fontsize=10, fontweight="bold")
        summary, color = _stage_summary(by_stage.get(name, []))
        if summary:
            axes.set_title(summary, loc="right", fontsize=8.5, color=color)
        axes.legend(loc="lower right", fontsize=7.5, framealpha=0.9)
        if number % columns == 0:
            axes.set_ylabel("share ≤ x (logit scale)")
        if number + columns >= len(names):
            axes.set_xlabel("duration (ms, log scale)")
    for axes in panels[len(names) :]:
        axes.remove()
    set_titles(figure, title or f"{labels[0].capitalize()} vs {labels[1]}, per stage", caption)
    return figure


def _stage_order(baseline: Profile, current: Profile) -> list[str]:
    names = set(baseline.stage_names()) | set(current.stage_names())
    known = [name for name in schema.STAGE_ORDER if name in names and name != schema.TICK_TOTAL]
    custom = sorted(names - set(schema.STAGE_ORDER))
    tail = [schema.TICK_TOTAL] if schema.TICK_TOTAL in names else []
    return known + custom + tail


def _stage_summary(metrics: Sequence[IntervalMetric]) -> tuple[str, str]:
    """``p95 +11.3% · p99 +9.5%`` and the colour of the worst verdict."""
    if not metrics:
        return "", NOTE_COLOR
    parts = []
    for metric in metrics:
        if metric.change is not None and math.isfinite(metric.change):
            parts.append(f"{metric.metric} {metric.change:+.1%}")
    worst = max(metrics, key=lambda m: _VERDICT_RANK.get(verdict_text(m.verdict), 0))
    text = " · ".join(parts)
    verdict = verdict_text(worst.verdict)
    return (f"{text}\n{verdict}" if text else verdict), verdict_color(worst.verdict)


# -- forest ------------------------------------------------------------------------------


def plot_forest(
    metrics: Sequence[IntervalMetric],
    *,
    title: str | None = None,
    caption: str | None = None,
    interval_label: str = "interval",
    absolute_metrics: Collection[str] | None = None,
    value_label: str = "relative change, current / baseline - 1",
    width: float | None = None,
    height: float | None = None,
    dpi: float = DEFAULT_DPI,
) -> Figure:
    """A forest plot: each metric's change with its interval, against its threshold.

    One row per metric, in the given order: a dot at ``change``, a bar from ``low``
    to ``high`` and a vertical mark at ``threshold``, coloured by verdict; the right
    margin repeats the numbers and the verdict. Relative changes (quantiles) and
    rate differences are in separate panels with their own units.

    Args:
        metrics: Objects with ``stage``, ``metric``, ``change``, ``low``, ``high``,
            ``threshold`` and ``verdict`` (:class:`IntervalMetric`), e.g.
            ``comparison.result.metrics``.
        title: The figure title; None for "Changes and thresholds".
        caption: A grey line under the figure; None for none.
        interval_label: Legend name of the bars, e.g. ``"90% interval"``.
        absolute_metrics: Metric names whose change is a difference of rates (drawn
            in percentage points); None for every name ending in ``rate``.
        value_label: The x-axis label of the relative-change panel.
        width: Width in inches. Defaults to 10.
        height: Height in inches. Defaults to 0.34 per row plus 2.
        dpi: Dots per inch of raster output. Defaults to 100.

    Raises:
        InputError: ``metrics`` is empty.
    """
    from matplotlib.lines import Line2D

    from tracekit.errors import InputError

    if not metrics:
        raise InputError("no metric to plot")

    def is_absolute(metric: IntervalMetric) -> bool:
        if absolute_metrics is None:
            return metric.metric.endswith("rate")
        return metric.metric in absolute_metrics

    groups = [
        (False, [m for m in metrics if not is_absolute(m)]),
        (True, [m for m in metrics if is_absolute(m)]),
    ]
    groups = [(absolute, rows) for absolute, rows in groups if rows]
    figure = new_figure(
        size_or(width, DEFAULT_WIDTH_IN),
        size_or(height, 2.0 + _ROW_HEIGHT_IN * (len(metrics) + 2 * len(groups))),
        dpi,
    )
    panels = figure.subplots(
        len(groups),
        1,
        squeeze=False,
        height_ratios=[len(rows) + 1.5 for _, rows in groups],
    )
    # About one x label per 1.6 inches, so that labels like "+7.5 pp" never touch.
    label_count = max(3, round(figure.get_figwidth() / 1.6))
    for (absolute, rows), (axes,) in zip(groups, panels, strict=True):
        _forest_panel(axes, rows, absolute, label_count, value_label)

    verdicts = []
    for metric in metrics:
        verdict = verdict_text(metric.verdict)
        if verdict not in verdicts:
            verdicts.append(verdict)
    verdicts.sort(key=lambda v: -_VERDICT_RANK.get(v, -1))
    handles = [
        Line2D([], [], color=VERDICT_COLORS.get(v, NOTE_COLOR), marker="o", linewidth=3, label=v)
        for v in verdicts
    ]
    handles.append(Line2D([], [], color="#999999", linewidth=3.2, label=interval_label))
    handles.append(Line2D([], [], color="#222222", linewidth=2.2, label="threshold"))
    # Above the top panel, under the title (constrained layout makes room for it).
    panels[0][0].legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncols=len(handles),
        frameon=False,
        fontsize=9,
    )
    if any(getattr(metric, "critical", False) for metric in metrics):
        caption = join_note([caption, "bold: critical metrics"])
    set_titles(figure, title or "Changes and thresholds", caption)
    return figure


def forest_clip(rows: Sequence[Sequence[float]], thresholds: Sequence[float]) -> float | None:
    """Where the forest plot's x axis is cut, or None when every value fits.

    One huge change (+15,000%) on a linear axis squashes every other row into a
    pixel. The span the rows need is at least ±25%, three times the largest
    threshold, and 1.5 times the median row's largest value; when a value is more
    than four times that, the axis stops at that span and the values beyond it are
    drawn at the edge with an arrow and their number.

    Args:
        rows: Each row's values (change and interval bounds, as shares).
        thresholds: The rows' thresholds.
    """
    extents = sorted(max((abs(v) for v in row), default=0.0) for row in rows)
    if not extents:
        return None
    median = extents[(len(extents) - 1) // 2]
    core = max(0.25, 3 * max((abs(t) for t in thresholds), default=0.0), 1.5 * median)
    return core if extents[-1] > 4 * core else None


def _forest_panel(
    axes: Axes,
    rows: Sequence[IntervalMetric],
    absolute: bool,
    label_count: int,
    value_label: str,
) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    style_axes(axes, grid_axis="x")
    axes.axvline(0.0, color="#888888", linewidth=1.0)
    numbers = [
        [
            value
            for value in (_number(metric.low), _number(metric.high), _number(metric.change))
            if value is not None
        ]
        for metric in rows
    ]
    clip = None if absolute else forest_clip(numbers, [m.threshold for m in rows])

    def shown(value: float) -> float:
        return value if clip is None else max(-clip, min(clip, value))

    values: list[float] = [0.0]
    right_labels = []
    for y, metric in enumerate(rows):
        color = verdict_color(metric.verdict)
        low, high, change = _number(metric.low), _number(metric.high), _number(metric.change)
        has_interval = low is not None and high is not None
        if low is not None and high is not None:
            axes.plot(
                [shown(low), shown(high)], [y, y], color=color, linewidth=3.2, solid_capstyle="butt"
            )
            values += [shown(low), shown(high)]
        if change is not None:
            axes.plot(
                [shown(change)],
                [y],
                "o",
                color=color,
                markersize=7,
                markerfacecolor=color if has_interval else "white",
                markeredgewidth=1.5,
            )
            values.append(shown(change))
        if clip is not None:
            _mark_clipped(axes, y, change, [v for v in (low, high) if v is not None], clip, color)
        axes.plot(
            [metric.threshold, metric.threshold],
            [y - 0.38, y + 0.38],
            color="#222222",
            linewidth=2.2,
        )
        values.append(metric.threshold)
        right_labels.append(_right_label(metric, absolute))

    names = [f"{m.stage} {m.metric}" for m in rows]
    axes.set_yticks(range(len(rows)), names)
    for label, metric in zip(axes.get_yticklabels(), rows, strict=True):
        if getattr(metric, "critical", False):
            label.set_fontweight("bold")
    axes.set_ylim(len(rows) - 0.5, -0.5)
    right = axes.secondary_yaxis("right")
    right.set_yticks(range(len(rows)), right_labels, fontsize=8.5)
    right.tick_params(length=0)
    for label, metric in zip(right.get_yticklabels(), rows, strict=True):
        label.set_color(verdict_color(metric.verdict))
    lowest, highest = min(values), max(values)
    pad = max((highest - lowest) * 0.08, 0.005 if absolute else 0.01)
    # Beyond a cut, room for the arrow.
    left = lowest - (pad * 1.5 if clip is not None and lowest <= -clip else pad)
    right_edge = highest + (pad * 1.5 if clip is not None and highest >= clip else pad)
    axes.set_xlim(left, right_edge)
    axes.xaxis.set_major_locator(MaxNLocator(nbins=label_count, steps=[1, 2, 2.5, 5, 10]))
    if absolute:
        axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _signed(100 * v) + " pp"))
        axes.set_xlabel("difference in rate, current - baseline (percentage points)")
    else:
        axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _signed(100 * v) + "%"))
        cut = (
            ""
            if clip is None
            else f" (axis cut at ±{100 * clip:g}%: ▶ marks a value beyond, printed)"
        )
        axes.set_xlabel(value_label + cut)


def _mark_clipped(
    axes: Axes,
    y: float,
    change: float | None,
    bounds: Sequence[float],
    clip: float,
    color: str,
) -> None:
    """An arrow at the axis cut for a row with values beyond it, and the change's number."""
    for side in (1, -1):
        beyond = [v for v in (change, *bounds) if v is not None and side * v > clip]
        if not beyond:
            continue
        axes.plot(
            [side * clip], [y], ">" if side > 0 else "<", color=color, markersize=9, clip_on=False
        )
        shown = change if change is not None and side * change > clip else max(beyond, key=abs)
        axes.annotate(
            f"{100 * shown:+,.0f}%",
            (side * clip, y),
            xytext=(-6 * side, 7),
            textcoords="offset points",
            ha="right" if side > 0 else "left",
            va="bottom",
            fontsize=8.5,
            color=color,
        )


def _signed(value: float) -> str:
    """``+5``, ``-2.5``, ``0``: a tick label without float noise."""
    value = round(value, 6)
    return "0" if value == 0 else f"{value:+g}"


def _right_label(metric: IntervalMetric, absolute: bool) -> str:
    verdict = verdict_text(metric.verdict)

    def show(value: float) -> str:
        return f"{100 * value:+,.2f} pp" if absolute else f"{value:+,.1%}"

    reason = _reason_text(metric)
    change, low, high = _number(metric.change), _number(metric.low), _number(metric.high)
    if change is None:
        return f"{verdict} ({reason})" if reason else verdict
    text = show(change)
    if low is not None and high is not None:
        text += f" [{show(low)}, {show(high)}]"
    else:
        text += f" ({reason or 'no interval'})"
    return f"{text}  {verdict}"


def _reason_text(metric: IntervalMetric) -> str:
    """A short reason for a row without numbers (``reason`` is optional)."""
    reason = getattr(metric, "reason", None)
    if reason is None:
        return ""
    code = str(getattr(reason, "value", reason))
    return _REASONS.get(code, code.replace("_", " "))


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a finite number, else None."""
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None
