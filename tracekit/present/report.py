"""The Report protocol: one way for every result to describe itself, and one renderer
per output format.

A result (:class:`~tracekit.analysis.Analysis`, :class:`~tracekit.decisions.Comparison`,
:class:`~tracekit.decisions.canary.CanaryResult`,
:class:`~tracekit.sim.simulator.SimulationResult`) is data: it says what it holds
as a :class:`~tracekit.present.render.sections.Heading`, a list of blocks
(``sections()``: tables and label/value facts) and a versioned JSON document
(``to_dict()``). The renderers here turn any such report into a rich table, JSON,
Markdown, CSV or HTML; :func:`render` is the one format switch the commands use.

:class:`Presentable` gives a result its ``__rich__`` (terminal), ``_repr_html_``
(Jupyter), ``to_markdown()`` and ``to_json()``, each a call of the renderer of this
module. This module imports only the standard library and the section model at
import time (the result objects of ``analysis``, ``decisions`` and ``sim`` derive
from :class:`Presentable`); rich is imported when a table is drawn.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tracekit.errors import InputError
from tracekit.present.render.sections import (
    Block,
    Heading,
    to_csv,
    to_html,
    to_markdown,
    to_rich,
)

if TYPE_CHECKING:
    from rich.console import RenderableType

TEXT_WIDTH = 140
"""Characters per line of a table written to a file or a pipe."""


class ReportFormat(enum.StrEnum):
    """The output formats every report renders to."""

    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"
    html = "html"


@runtime_checkable
class Report(Protocol):
    """What a result says about itself; the renderers need nothing else."""

    def heading(self) -> Heading:
        """The title, the one-line headline and the notices above the blocks."""
        ...

    def sections(self) -> Sequence[Block]:
        """The blocks shown, in order."""
        ...

    def tables(self) -> Sequence[Block]:
        """Every block a CSV may be asked for, none left out for being empty."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (versioned with ``format`` and ``version``, where documented)."""
        ...


def rich_table(report: Report) -> RenderableType:
    """The report's blocks as rich tables (the terminal shows no heading)."""
    return to_rich(report.sections())


def table_text(report: Report, width: int = TEXT_WIDTH) -> str:
    """:func:`rich_table` as plain text ``width`` characters wide, no colour."""
    import os

    from rich.console import Console

    with open(os.devnull, "w") as sink:
        console = Console(width=width, no_color=True, highlight=False, record=True, file=sink)
        console.print(rich_table(report))
        return console.export_text()


def json_text(report: Report) -> str:
    """The report's JSON document, indented, without a final newline."""
    return json.dumps(report.to_dict(), indent=2)


def markdown_text(report: Report) -> str:
    """The report as a Markdown document: its title, lines and notices, then blocks."""
    heading = report.heading()
    out = f"# {heading.title}\n\n" + "".join(f"{line}\n\n" for line in heading.lines)
    notices = "".join(f"- {notice}\n" for notice in heading.notices)
    return out + (notices + "\n" if notices else "") + to_markdown(report.sections())


def html_text(report: Report) -> str:
    """The report as HTML for Jupyter: its headline, notices, then every row of each block."""
    heading = report.heading()
    out = f"<h4>{escape(heading.headline)}</h4>\n"
    if heading.notices:
        items = "".join(f"<li>{escape(notice)}</li>" for notice in heading.notices)
        out += f"<ul>{items}</ul>\n"
    return out + to_html(report.sections())


def csv_text(report: Report, table: str | None = None) -> str:
    """One block of the report as CSV: the one named ``table``, or the first.

    Raises:
        InputError: The report has no block of that name.
    """
    tables = list(report.tables())
    if table is None:
        if not tables:
            raise InputError("the report has no table to write as CSV")
        return to_csv(tables[0])
    for block in tables:
        if block.name == table:
            return to_csv(block)
    names = ", ".join(block.name for block in tables)
    raise InputError(f"the report has no table {table!r}; tables: {names}")


def render(report: Report, output_format: str, *, table: str | None = None) -> str:
    """The report as text in ``output_format`` (a :class:`ReportFormat` value).

    Args:
        report: What to render.
        output_format: ``table`` (plain text, :data:`TEXT_WIDTH` wide), ``json`` (with
            a final newline), ``markdown``, ``csv`` or ``html``.
        table: The block ``csv`` writes (by name; the first when None).

    Raises:
        InputError: An unknown format, or no such table for CSV.
    """
    chosen = str(output_format)
    if chosen == ReportFormat.json:
        return json_text(report) + "\n"
    if chosen == ReportFormat.markdown:
        return markdown_text(report)
    if chosen == ReportFormat.csv:
        return csv_text(report, table)
    if chosen == ReportFormat.html:
        return html_text(report)
    if chosen == ReportFormat.table:
        return table_text(report)
    known = ", ".join(item.value for item in ReportFormat)
    raise InputError(f"output format {chosen!r} is not one of {known}")


class Presentable:
    """The renderings every result has, each delegating to this module's renderers.

    A subclass defines ``heading()``, ``sections()`` and ``to_dict()`` (the
    :class:`Report` protocol; mypy checks it where a rendering is called);
    ``tables()`` defaults to the blocks of ``sections()``.
    """

    def tables(self: Report) -> Sequence[Block]:
        return list(self.sections())

    def to_json(self: Report) -> str:
        """The JSON document (``to_dict()``) as indented text."""
        return json_text(self)

    def to_markdown(self: Report) -> str:
        """The report as a Markdown document (a pull-request comment, a file)."""
        return markdown_text(self)

    def __rich__(self: Report) -> RenderableType:
        return rich_table(self)

    def _repr_html_(self: Report) -> str:
        return html_text(self)
