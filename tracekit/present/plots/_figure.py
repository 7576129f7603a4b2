"""The figure class of tracekit's plots: a matplotlib ``Figure`` that shows itself in Jupyter.

A bare ``Figure()`` (no pyplot) has no display hook until pyplot's inline backend
is switched on, so a fresh kernel printed ``<Figure size 1000x610 with 3 Axes>``.
:class:`TracekitFigure` gives IPython a PNG itself (``_repr_png_``). When the inline
backend is on (``%matplotlib inline``), IPython's own Figure printer takes
precedence, and the figure is still shown once.

Imported only when a figure is made: it imports matplotlib.
"""

from __future__ import annotations

from matplotlib.figure import Figure


class TracekitFigure(Figure):
    """A :class:`matplotlib.figure.Figure` with a PNG representation for Jupyter."""

    def _repr_png_(self) -> bytes:
        """The figure as PNG bytes, as :func:`~tracekit.present.plots.save_figure` writes it."""
        from tracekit.present.plots.save import png_bytes

        return png_bytes(self)
