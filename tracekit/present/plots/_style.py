"""Shared look of tracekit's figures: colours, figure creation, small formatting helpers.

Figures are built as :class:`matplotlib.figure.Figure` objects with an Agg canvas
attached, never through pyplot, so plotting touches no global matplotlib state
and needs no display. matplotlib is imported inside the functions: importing
tracekit (or running ``tracekit --help``) does not load it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

from tracekit.errors import InputError
from tracekit.stats.histogram import GAMMA

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE: Final = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)
REASON_PALETTE: Final = (
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#7F7F7F",
    "#000000",
    "#F0E442",
    "#0072B2",
    "#E69F00",
)
"""Colours of guard-trip reasons, starting apart from the first runs' colours."""
DEADLINE_COLOR: Final = "#C0392B"
MISS_COLOR: Final = "#C0392B"
GRID_COLOR: Final = "#DDDDDD"
NOTE_COLOR: Final = "#555555"
PERCENTILE_STYLES: Final = {
    "p50": {"color": "#333333", "linestyle": "-"},
    "p95": {"color": "#0072B2", "linestyle": "--"},
    "p99": {"color": "#CC79A7", "linestyle": ":"},
}
"""Line style of each percentile marker, the same in every figure."""

_GOOD, _BAD, _UNDECIDED, _OTHER = "#009E73", "#D55E00", "#B8860B", "#777777"
VERDICT_COLORS: Final = {
    "PASS": _GOOD,
    "REGRESSION": _BAD,
    "INCONCLUSIVE": _UNDECIDED,
    "NEW": _OTHER,
    # The canary's decisions and check statuses.
    "PROMOTE": _GOOD,
    "ROLLBACK": _BAD,
    "CONTINUE": _UNDECIDED,
    "met": _GOOD,
    "violated": _BAD,
    "undecided": _UNDECIDED,
}
"""Colour of each verdict (green good, vermilion bad, ochre undecided); others grey."""
OTHER_VERDICT_COLOR: Final = _OTHER

DEFAULT_WIDTH_IN: Final = 10.0
DEFAULT_DPI: Final = 100.0
MAX_PIXELS_PER_SIDE: Final = 20_000
"""A figure larger than this (inches x dpi) is refused: it would take gigabytes."""

TITLE_SIZE: Final = 13
NOTE_SIZE: Final = 9


def check_size(width_in: float | None, height_in: float | None, dpi: float) -> None:
    """Refuse a figure size or dpi that is not positive or would make a huge image.

    Args:
        width_in: Width in inches, or None for a default.
        height_in: Height in inches, or None for a default.
        dpi: Dots per inch.

    Raises:
        InputError: Naming the parameter at fault (``width``, ``height``, ``dpi``).
    """
    for name, value in (("`width`", width_in), ("`height`", height_in), ("`dpi`", dpi)):
        if value is not None and (not math.isfinite(value) or value <= 0):
            raise InputError(f"{name} must be a positive number, got {value:g}")
    for name, value in (("`width`", width_in), ("`height`", height_in)):
        if value is not None and value * dpi > MAX_PIXELS_PER_SIDE:
            raise InputError(
                f"{name} {value:g} at `dpi` {dpi:g} is {value * dpi:,.0f} pixels; "
                f"the limit is {MAX_PIXELS_PER_SIDE:,}: lower the size or the dpi"
            )


def new_figure(width_in: float, height_in: float, dpi: float) -> Figure:
    """An empty figure with constrained layout and an Agg canvas (no pyplot).

    The figure is a :class:`~tracekit.present.plots._figure.TracekitFigure`, which
    Jupyter displays inline without ``%matplotlib inline``.

    Args:
        width_in: Width in inches (> 0).
        height_in: Height in inches (> 0).
        dpi: Dots per inch of raster output (> 0).

    Raises:
        InputError: A size or the dpi is not positive, or the image would be huge.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from tracekit.present.plots._figure import TracekitFigure

    check_size(width_in, height_in, dpi)
    figure = TracekitFigure(figsize=(width_in, height_in), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def size_or(value: float | None, default: float) -> float:
    """``value`` when given (even 0, so that it is refused), else ``default``."""
    return default if value is None else value


def style_axes(axes: Axes, *, grid_axis: Literal["both", "x", "y"] = "both") -> None:
    """Light grid behind the data (fainter on minor ticks), no top and right frame lines."""
    axes.set_axisbelow(True)
    axes.grid(True, axis=grid_axis, color=GRID_COLOR, linewidth=0.8)
    axes.grid(True, which="minor", axis=grid_axis, color=GRID_COLOR, linewidth=0.4, alpha=0.5)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def set_titles(figure: Figure, title: str, caption: str | None = None) -> None:
    """The figure title on top, and a small grey caption at the bottom.

    Both are wrapped to the figure's width: matplotlib does not wrap them itself,
    and constrained layout would let a long line run off the image.
    """
    import textwrap

    # About 2 characters per point of font size fit in an inch of 72 points.
    title_chars = max(20, int(figure.get_figwidth() * 72 / (TITLE_SIZE * 0.62)))
    figure.suptitle(textwrap.fill(title, title_chars), fontsize=TITLE_SIZE, fontweight="bold")
    if caption:
        caption_chars = max(30, int(figure.get_figwidth() * 72 / (NOTE_SIZE * 0.58)))
        figure.supxlabel(
            textwrap.fill(caption, caption_chars), fontsize=NOTE_SIZE, color=NOTE_COLOR
        )


def format_ms(value: float) -> str:
    """A duration in ms for a figure's text: ``12.0``, ``0.783``, ``0.00496``."""
    if value >= 1 or value == 0:
        return f"{value:,.1f}"
    return f"{value:.3g}"


def format_durations_ms(values: Mapping[str, float]) -> str:
    """``p50 12.0 · p95 13.9 ms``; in µs when every value is below 1 ms (``p50 4.96 µs``).

    A fixed one decimal in ms printed a 5 µs stage as ``p50 0.0 · p95 0.0 ms``.
    """
    if values and max(values.values()) < 1:
        parts = [f"{label} {1000 * value:.3g}" for label, value in values.items()]
        return " · ".join(parts) + " µs"
    return " · ".join(f"{label} {format_ms(value)}" for label, value in values.items()) + " ms"


def ms_formatter() -> Any:
    """Tick labels for a log axis in ms: ``1``, ``20``, ``500`` rather than ``10^2``.

    Labels below 1 ms are long (``0.005``), so where the axis is crowded only whole
    decades below 1 ms get one, and where it is very crowded only decades at all:
    ``0.0050.01`` ran together on a 5-decade axis.
    """
    from matplotlib.ticker import Formatter

    class _MsLabels(Formatter):
        def __call__(self, value: float, pos: int | None = None) -> str:
            if value <= 0:
                return ""
            exponent = math.floor(math.log10(value) + 1e-9)
            decade = abs(value / 10**exponent - 1) < 1e-6
            inches_per_decade = self._inches_per_decade()
            if not decade and (inches_per_decade < 1.0 or (value < 1 and inches_per_decade < 2.2)):
                return ""
            if value >= 1:
                return f"{value:,.0f}"
            return f"{value:.3g}"

        def _inches_per_decade(self) -> float:
            axis = self.axis
            if axis is None:
                return math.inf
            low, high = sorted(axis.get_view_interval())
            if low <= 0 or high <= low:
                return math.inf
            axes: Any = getattr(axis, "axes", None)
            if axes is None:
                return math.inf
            width_in = axes.get_position().width * axes.get_figure(root=True).get_figwidth()
            return float(width_in / math.log10(high / low))

    return _MsLabels()


def use_log_ms_axis(axes: Axes) -> None:
    """A log x axis in ms with plain-number tick labels at 1-2-5 steps (fewer when crowded)."""
    from matplotlib.ticker import LogLocator, NullFormatter

    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(ms_formatter())
    axes.xaxis.set_minor_formatter(NullFormatter())


def verdict_color(verdict: object) -> str:
    """The colour of a verdict (an enum or a string)."""
    return VERDICT_COLORS.get(verdict_text(verdict), OTHER_VERDICT_COLOR)


def verdict_text(verdict: object) -> str:
    """``"PASS"`` for ``Verdict.PASS`` or ``"PASS"``."""
    return str(getattr(verdict, "value", verdict))


def ecdf_from_histogram(
    histogram: Mapping[int, int],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The empirical CDF of a log-bucketed histogram ``{bucket index: count}``.

    Bucket ``i`` holds durations in ``(GAMMA**(i-1), GAMMA**i]`` ns
    (:mod:`tracekit.stats.histogram`), so the CDF is exact at every bucket's upper
    edge; points are joined linearly in between (buckets are about 1% wide).

    Returns:
        (x in ms, share of observations <= x), starting at share 0 at the lower edge
        of the first bucket. Empty arrays for an empty histogram.
    """
    import numpy as np

    indexes = np.array(sorted(i for i, count in histogram.items() if count > 0), dtype=np.int64)
    if indexes.size == 0:
        return np.empty(0, dtype=np.float64), np.empty(0, dtype=np.float64)
    counts = np.array([histogram[int(i)] for i in indexes], dtype=np.float64)
    edges_ms = np.power(GAMMA, indexes.astype(np.float64)) / 1e6
    shares = np.cumsum(counts) / counts.sum()
    first_lower_ms = GAMMA ** (float(indexes[0]) - 1.0) / 1e6
    return (
        np.concatenate([[first_lower_ms], edges_ms]),
        np.concatenate([[0.0], shares]),
    )


def describe_files(files: Sequence[str]) -> str:
    """A short name for where the data came from: a path, or the folder they share."""
    if not files:
        return "no files"
    if len(files) == 1:
        return _shorten(files[0])
    try:
        common = os.path.commonpath(files)
    except ValueError:  # mixed absolute and relative paths, or drives
        return f"{len(files)} files"
    return _shorten(common) if common else f"{len(files)} files"


def _shorten(path: str, limit: int = 60) -> str:
    if len(path) <= limit:
        return path
    parts = path.replace(os.sep, "/").split("/")
    return "…/" + "/".join(parts[-2:])


def join_note(parts: Sequence[str | None]) -> str:
    """Parts of a note line joined with a middle dot, skipping empty ones."""
    return " · ".join(part for part in parts if part)
