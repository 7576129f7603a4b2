"""Writing figures to PNG, SVG or PDF files (Agg canvas, no pyplot)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from tracekit.errors import InputError
from tracekit.fileio import check_output_target

if TYPE_CHECKING:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

PLOT_FORMATS: Final = ("png", "svg", "pdf")
"""The file formats figures are written in."""

_METADATA: Final[dict[str, dict[str, Any]]] = {
    # No creation date in the files (PNG has none either).
    "png": {},
    "svg": {"Date": None},
    "pdf": {"CreationDate": None},
}


def format_for_path(path: str | Path, format: str | None = None) -> str:
    """The output format: ``format`` if given, else the file's suffix.

    Args:
        path: The output file.
        format: ``png``, ``svg`` or ``pdf``, or None to use the suffix of ``path``.

    Raises:
        InputError: The format is unknown, or None and the suffix is not one of them.
    """
    if format is not None:
        chosen = format.lower().lstrip(".")
        if chosen not in PLOT_FORMATS:
            raise InputError(f"`format` {format!r} is not one of {', '.join(PLOT_FORMATS)}")
        return chosen
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in PLOT_FORMATS:
        problem = f"unknown image format '.{suffix}'" if suffix else "no suffix to tell the format"
        raise InputError(f"{path}: {problem}; name the file .png, .svg or .pdf, or pass `format`")
    return suffix


def save_figure(figure: Figure, path: str | Path, format: str | None = None) -> Path:
    """Write a figure to ``path`` (folders are created).

    Args:
        figure: The figure to write.
        path: The output file.
        format: ``png``, ``svg`` or ``pdf``; None takes it from the suffix of ``path``.

    Returns:
        The path written.

    Raises:
        InputError: Unknown format, or the file cannot be written.
    """
    from matplotlib.backend_bases import FigureCanvasBase
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    chosen = format_for_path(path, format)
    target = Path(path)
    check_output_target(target, "image")
    if type(figure.canvas) is FigureCanvasBase:  # a bare Figure(): give it the Agg canvas
        FigureCanvasAgg(figure)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if chosen == "png" and isinstance(figure.canvas, FigureCanvasAgg):
            _write_png(figure.canvas, target)
        else:
            figure.savefig(target, format=chosen, metadata=_METADATA[chosen])
    except OSError as exc:
        raise InputError(f"{target}: cannot write the image ({exc.strerror or exc})") from None
    return target


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes, exactly as :func:`save_figure` writes a ``.png``."""
    import io

    from matplotlib.backend_bases import FigureCanvasBase
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if type(figure.canvas) is FigureCanvasBase or not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    _write_png(figure.canvas, buffer)  # type: ignore[arg-type]
    return buffer.getvalue()


def _write_png(canvas: FigureCanvasAgg, target: Path | BinaryIO) -> None:
    """Draw with Agg and write RGB when the figure is opaque (about 10% smaller than RGBA)."""
    import matplotlib
    import numpy as np
    from PIL import Image, PngImagePlugin

    from tracekit._version import __version__

    canvas.draw()  # type: ignore[no-untyped-call]
    rgba = np.asarray(canvas.buffer_rgba())  # type: ignore[no-untyped-call]
    pixels = np.ascontiguousarray(rgba[..., :3]) if bool((rgba[..., 3] == 255).all()) else rgba
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"tracekit {__version__}, matplotlib {matplotlib.__version__}")
    dpi = round(canvas.figure.dpi)
    Image.fromarray(pixels).save(target, format="png", pnginfo=info, dpi=(dpi, dpi))


def save_figures(
    figures: Mapping[str, Figure], folder: str | Path, format: str = "png"
) -> list[Path]:
    """Write each figure as ``<folder>/<name>.<format>``.

    Args:
        figures: Name -> figure, e.g. the result of
            :func:`~tracekit.present.plots.plot_comparison`.
        folder: Where to write (created if missing).
        format: ``png``, ``svg`` or ``pdf``.

    Returns:
        The paths written, in the order of ``figures``.

    Raises:
        InputError: Unknown format, or a file cannot be written.
    """
    chosen = format_for_path(f"figure.{format}", format)
    return [
        save_figure(figure, Path(folder) / f"{name}.{chosen}", chosen)
        for name, figure in figures.items()
    ]
