"""Column widths of a Word table from what its cells hold.

Word and LibreOffice lay a table out on the widths the file gives; equal widths (what a table
gets without them) broke header words inside ("Supplier|s", "Conform|ant"). Each column gets
at least the width of the longest word in any of its cells, measured in the table's own font
(Liberation Sans is metric-compatible with the Arial the styles name), so no word has to break;
the rest goes by the length of their typical cell (the median), so a name column takes the room
and a column of figures stays narrow."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from functools import cache

from PIL import ImageFont

from ..report.templating import builtin_theme_dir
from .model import Row

TABLE_FONT_PT = 8.5  # the CMR Table Text style
CELL_PADDING_PT = 2 * 3.0 + 1.5  # the cell margins of both sides (w:tblCellMar), and the rules
# Word and LibreOffice round and kern a little differently from Pillow: a word measured at
# exactly its cell's width may still be cut by the last letter.
SLACK = 1.06
_MEASURE_SIZE = 100  # the font is loaded once at this size and widths scaled from it


@cache
def _font(bold: bool) -> ImageFont.FreeTypeFont:
    name = "LiberationSans-Bold.ttf" if bold else "LiberationSans-Regular.ttf"
    return ImageFont.truetype(str(builtin_theme_dir() / "fonts" / name), _MEASURE_SIZE)


def text_width(text: str, bold: bool = False, size: float = TABLE_FONT_PT) -> float:
    """The width in points of `text` set on one line."""
    return _font(bold).getlength(text) * size / _MEASURE_SIZE


def column_shares(rows: Sequence[Row], width_pt: float) -> tuple[float, ...]:
    """Each column's share of the table's width (summing to 1)."""
    columns = max(sum(cell.colspan for cell in row.cells) for row in rows)
    least = [0.0] * columns  # the longest word
    typical: list[list[float]] = [[] for _ in range(columns)]  # whole lines, one per cell
    for row in rows:
        column = 0
        for cell in row.cells:
            if cell.colspan == 1:
                for line in cell.text.split("\n"):
                    bold = cell.header or any(span.bold for p in cell.paragraphs for span in p.spans)
                    words = line.split() or [""]
                    longest = max(text_width(word, bold) for word in words) * SLACK
                    least[column] = max(least[column], longest)
                    typical[column].append(text_width(line, bold))
            column += cell.colspan
    least = [value + CELL_PADDING_PT for value in least]
    wanted = [
        max(statistics.median(found) + CELL_PADDING_PT if found else 0.0, low)
        for found, low in zip(typical, least, strict=True)
    ]
    spare = width_pt - sum(least)
    if spare <= 0:  # the words alone need more than the width: in proportion, as near as it gets
        return tuple(value / sum(least) for value in least)
    if sum(wanted) <= width_pt:  # every typical cell fits on one line: widths in proportion
        return tuple(want / sum(wanted) for want in wanted)
    # Otherwise the room beyond the longest words goes where typical cells need more of it, so a
    # column of long names takes most of it and a column of figures stays narrow.
    extra = [want - low for want, low in zip(wanted, least, strict=True)]
    widths = [low + spare * more / sum(extra) for low, more in zip(least, extra, strict=True)]
    return tuple(value / width_pt for value in widths)
