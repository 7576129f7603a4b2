"""The figure class of tracekit's plots: a matplotlib ``Figure`` that shows itself in Jupyter.

A bare ``Figure()`` (no pyplot) has no display hook until pyplot's inline backend
is switched on, so a fresh kernel printed ``<Figure size 1000x610 with 3 Axes>``.
:class:`TracekitFigure` gives IPython a PNG itself (``_repr_png_``). When the inline
backend is on (``%matplotlib inline``), IPython's own Figure printer takes
precedence, and the figure is still shown once.

Every text is drawn as written: names come from the traces (stages, runs, symbols,
files), and matplotlib would read ``$...$`` in them as mathtext (a stage named
``cost$usd$`` turned into italics; an odd ``$`` can fail the draw). tracekit writes
no mathtext of its own, so :class:`TracekitFigure` switches math parsing off for
every text it draws, the tick labels made while drawing included.

Imported only when a figure is made: it imports matplotlib.
"""

from __future__ import annotations

from typing import Any

from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.text import Text


class TracekitFigure(Figure):
    """A :class:`matplotlib.figure.Figure` that draws its text literally (no mathtext)
    and has a PNG representation for Jupyter."""

    def draw(self, renderer: Any) -> None:
        with rc_context({"text.parse_math": False}):  # texts made while drawing
            for text in self.findobj(Text):
                text.set_parse_math(False)
            super().draw(renderer)

    def _repr_png_(self) -> bytes:
        """The figure as PNG bytes, as :func:`~tracekit.present.plots.save_figure` writes it."""
        from tracekit.present.plots.save import png_bytes

        return png_bytes(self)
