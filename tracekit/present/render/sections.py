"""Tables as data: a result object describes itself as blocks (:class:`Section`, a
table of rows; :class:`Facts`, label and value pairs) under a :class:`Heading`, and
one renderer per output format draws any block the same way.

Standard library only at import: the result objects of ``analysis``, ``decisions``
and ``sim`` build these. Renderers return strings or rich renderables; they never
print. A whole report (heading, blocks, JSON document) is rendered by
:mod:`tracekit.present.report`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl
    from rich.console import RenderableType

Formatter = Callable[[Any], str]

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

FAST_TABLE_ROWS = 200
"""From this many rows a table is laid out by :class:`PlainTable` (rich's ``Table``
measures and wraps every cell: 25 to 87 s for 10,000 rows)."""


def printable(value: str) -> str:
    """``value`` safe to show on a terminal, on one line.

    Control characters (ESC, so no terminal escape sequence gets through, and line
    breaks), bidirectional overrides and lone surrogates become visible ``\\xNN`` /
    ``\\uNNNN`` escapes. Rich markup is not interpreted by any renderer here (cells
    are :class:`rich.text.Text`, never markup), so ``[/bold]`` stays text.
    """
    return _UNPRINTABLE.sub(_escape, value)


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


MISSING = "—"
"""Shown for a value that cannot be estimated (too few samples) or does not apply."""


def fixed(digits: int) -> Formatter:
    """Format a number with ``digits`` decimals."""

    def format_number(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return MISSING
        return f"{value:,.{digits}f}"

    return format_number


def significant(decimals: int = 2, digits: int = 3) -> Formatter:
    """``decimals`` decimals from 1 up, and ``digits`` significant digits below 1.

    For a column in one unit whose values span magnitudes: a 5 µs stage in a
    ``p50 ms`` column is ``0.00512``, not ``0.00``.
    """

    def format_number(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return MISSING
        size = abs(value)
        if size == 0 or size >= 1:
            return f"{value:,.{decimals}f}"
        # Decimals that keep `digits` significant digits (0.512 -> 3, 0.00512 -> 5).
        places = digits - 1 - math.floor(math.log10(size))
        rounded = round(value, places)
        if abs(rounded) >= 10.0 ** (digits - places):
            places -= 1  # 0.09996 rounds up to 0.100: one decimal fewer
        return f"{value:.{max(places, decimals)}f}"

    return format_number


def percent(digits: int = 2) -> Formatter:
    """Format a share in [0, 1] as a percentage."""

    def format_percent(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return MISSING
        return f"{100 * value:.{digits}f}%"

    return format_percent


def format_ms(value: Any) -> str:
    """A duration in ms: 3 decimals from 1 ms up, else 3 significant digits (0.00612).

    Microsecond-scale stages would otherwise all read ``0.000``.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    magnitude = abs(float(value))
    if magnitude >= 1.0 or magnitude == 0.0:
        return f"{value:,.3f}"
    digits = min(9, 2 - math.floor(math.log10(magnitude)))
    return f"{value:.{digits}f}"


def integer(value: Any) -> str:
    """Format a count with thousands separators."""
    return MISSING if value is None else f"{int(value):,}"


def text(value: Any) -> str:
    """Format a value as text; timestamps in ISO 8601 (UTC)."""
    if value is None:
        return MISSING
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


@dataclasses.dataclass(frozen=True)
class Column:
    """How to show one column of a section.

    Attributes:
        key: Column name in the frame.
        label: Header text.
        format: Turns a value into text.
        numeric: Right-align the column.
    """

    key: str
    label: str
    format: Formatter = text
    numeric: bool = False


@dataclasses.dataclass(frozen=True)
class Section:
    """A titled table with a note under it."""

    name: str
    title: str
    frame: pl.DataFrame
    columns: tuple[Column, ...]
    note: str = ""

    def present_columns(self) -> list[Column]:
        return [column for column in self.columns if column.key in self.frame.columns]

    def rows(self) -> list[list[str]]:
        columns = self.present_columns()
        return [
            [column.format(row[column.key]) for column in columns]
            for row in self.frame.iter_rows(named=True)
        ]


@dataclasses.dataclass(frozen=True)
class Facts:
    """A titled list of label and value pairs: a summary, not a table of rows.

    Attributes:
        name: What the block is (like :attr:`Section.name`).
        title: Its title.
        items: ``(label, value)`` pairs, values already formatted as text.
        note: Words under it.
    """

    name: str
    title: str
    items: tuple[tuple[str, str], ...]
    note: str = ""


Block = Section | Facts
"""What a report is made of: tables of rows, and label and value summaries."""


@dataclasses.dataclass(frozen=True)
class Heading:
    """What a report says above its blocks.

    Attributes:
        title: The title of the Markdown document (``# title``).
        headline: One line heading the report in Jupyter (HTML).
        lines: Paragraphs under the Markdown title.
        notices: Things about the inputs a reader should know (a bulleted list).
    """

    title: str
    headline: str
    lines: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()


def to_rich(sections: Sequence[Block]) -> RenderableType:
    """Blocks as rich tables, one under the other.

    A :class:`Section` is a table with a header, followed by its note and an empty
    line; :class:`Facts` are a boxed table without header (and its note). Every
    cell, title and note is plain text (no markup), with control characters
    escaped (:func:`printable`).
    """
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[RenderableType] = []
    for section in sections:
        if isinstance(section, Facts):
            panel = Table(title=Text(printable(section.title)), show_header=False)
            for label, value in section.items:
                panel.add_row(Text(printable(label)), Text(printable(value)))
            parts.append(panel)
            if section.note:
                parts.append(Text(printable(section.note), style="dim"))
            continue
        columns = section.present_columns()
        rows = [[printable(cell) for cell in row] for row in section.rows()]
        if len(rows) >= FAST_TABLE_ROWS:
            parts.append(PlainTable(printable(section.title), columns, rows))
        else:
            table = Table(
                title=Text(printable(section.title), style="table.title"),
                box=box.SIMPLE_HEAD,
                title_justify="left",
            )
            for column in columns:
                table.add_column(
                    Text(printable(column.label)), justify="right" if column.numeric else "left"
                )
            for row in rows:
                table.add_row(*(Text(cell) for cell in row))
            parts.append(table)
        if section.frame.height == 0:
            parts.append(Text("  (none)", style="dim"))
        if section.note:
            parts.append(Text(printable(section.note), style="dim"))
        parts.append(Text(""))
    return Group(*parts)


def to_html(sections: Sequence[Block]) -> str:
    """Blocks as HTML tables for Jupyter: every row (nothing elided), text escaped."""
    from html import escape

    out: list[str] = []
    for section in sections:
        if isinstance(section, Facts):
            out.append(f"<h5>{escape(section.title)}</h5>")
            rows = "".join(
                f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>"
                for label, value in section.items
            )
            out.append(f"<table><tbody>{rows}</tbody></table>")
            if section.note:
                out.append(f"<p><small>{escape(section.note)}</small></p>")
            continue
        columns = section.present_columns()
        out.append(f"<h5>{escape(section.title)}</h5>")
        if section.frame.height == 0:
            out.append("<p>(none)</p>")
        else:
            header = "".join(f"<th>{escape(column.label)}</th>" for column in columns)
            out.append(f"<table><thead><tr>{header}</tr></thead><tbody>")
            for row in section.rows():
                cells = "".join(
                    f'<td style="text-align:{"right" if column.numeric else "left"}">'
                    f"{escape(cell)}</td>"
                    for column, cell in zip(columns, row, strict=True)
                )
                out.append(f"<tr>{cells}</tr>")
            out.append("</tbody></table>")
        if section.note:
            out.append(f"<p><small>{escape(section.note)}</small></p>")
    return "\n".join(out)


class PlainTable:
    """A big table drawn as rich draws ``Table(box=SIMPLE_HEAD)``, in linear time.

    Every cell is one line; the columns are as wide as their widest cell. When that
    is wider than the console, the widest left-aligned columns are cut (ending in
    ``…``) until it fits. Styles match rich's defaults: an italic title, a bold header.

    Args:
        title: The title, above the table.
        columns: The columns (label, alignment).
        rows: Each row's cells as text (already :func:`printable`).
    """

    def __init__(self, title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]]):
        self.title = title
        self.columns = list(columns)
        self.rows = rows

    def _widths(self, max_width: int) -> list[int]:
        from rich.cells import cell_len

        widths = [cell_len(column.label) for column in self.columns]
        for row in self.rows:
            for index, cell in enumerate(row):
                length = len(cell) if cell.isascii() else cell_len(cell)
                if length > widths[index]:
                    widths[index] = length
        excess = self._table_width(widths) - max_width
        while excess > 0:
            shrinkable = [i for i, c in enumerate(self.columns) if not c.numeric and widths[i] > 4]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda i: widths[i])
            cut = min(excess, widths[widest] - 4)
            widths[widest] -= cut
            excess -= cut
        return widths

    @staticmethod
    def _table_width(widths: Sequence[int]) -> int:
        return sum(widths) + 3 * len(widths) + 1

    def _line(self, cells: Sequence[str], widths: Sequence[int]) -> str:
        from rich.cells import cell_len, set_cell_size

        parts = []
        for cell, width, column in zip(cells, widths, self.columns, strict=True):
            length = len(cell) if cell.isascii() else cell_len(cell)
            if length > width:
                cell = set_cell_size(cell, width - 1) + "…"
                length = width
            pad = " " * (width - length)
            parts.append(pad + cell if column.numeric else cell + pad)
        return "  " + "   ".join(parts) + "  "

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.segment import Segment
        from rich.style import Style
        from rich.text import Text

        widths = self._widths(options.max_width)
        width = self._table_width(widths)
        title = Text(self.title, style="table.title")
        title.truncate(width, overflow="ellipsis", pad=True)
        yield title
        yield Segment(" " * width)
        yield Segment.line()
        header_style = console.get_style("table.header")
        yield Segment(self._line([column.label for column in self.columns], widths), header_style)
        yield Segment.line()
        yield Segment(" " + "─" * (width - 2) + " ", Style.null())
        yield Segment.line()
        for row in self.rows:
            yield Segment(self._line(row, widths))
            yield Segment.line()
        yield Segment(" " * width)
        yield Segment.line()

    def __rich_measure__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        width = self._table_width(self._widths(options.max_width))
        return Measurement(width, width)


def to_markdown(sections: Sequence[Block], heading_level: int = 2) -> str:
    """Blocks as GitHub-flavoured Markdown: tables, and facts as a bulleted list."""
    out: list[str] = []
    hashes = "#" * heading_level
    for section in sections:
        if isinstance(section, Facts):
            out.append(f"{hashes} {section.title}\n")
            out.extend(f"- {label}: {value}" for label, value in section.items)
            out.append("")
            if section.note:
                out.append(f"{section.note}\n")
            continue
        columns = section.present_columns()
        out.append(f"{hashes} {section.title}\n")
        if section.frame.height == 0:
            out.append("(none)\n")
        else:
            out.append("| " + " | ".join(column.label for column in columns) + " |")
            out.append(
                "| " + " | ".join("---:" if column.numeric else "---" for column in columns) + " |"
            )
            for row in section.rows():
                out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
            out.append("")
        if section.note:
            out.append(f"{section.note}\n")
    return "\n".join(out).rstrip() + "\n"


def to_csv(section: Block) -> str:
    """One section as CSV with raw (unformatted) values; null is an empty field.

    Facts are two columns, ``field`` and ``value``.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if isinstance(section, Facts):
        writer.writerow(["field", "value"])
        writer.writerows(section.items)
        return buffer.getvalue()
    writer.writerow(section.frame.columns)
    for row in section.frame.iter_rows():
        writer.writerow(["" if value is None else _csv_value(value) for value in row])
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return ""
    return value


def json_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as JSON-able dicts (timestamps ISO 8601, NaN as null)."""
    rows = []
    for row in frame.iter_rows(named=True):
        rows.append({key: _json_value(value) for key, value in row.items()})
    return rows


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
