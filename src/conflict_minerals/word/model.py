"""What a Word document is made of, as read from a rendered HTML document.

The reader (reader.py) turns the HTML into these blocks; the writer (docx.py) turns blocks into
WordprocessingML; the redline (redline.py) compares two lists of blocks. Keeping the middle
step plain data means the redline compares exactly what each side's own .docx prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

# A tracked change: inserted or deleted text, a row or a paragraph mark.
Revision = Literal["ins", "del"] | None
LINE_BREAK = "\n"


@dataclass(frozen=True)
class Span:
    """A run of text with one formatting; LINE_BREAK alone is a line break."""

    text: str
    bold: bool = False
    italic: bool = False
    small: bool = False
    href: str | None = None  # https:/mailto: address, or "#anchor" inside the document


@dataclass(frozen=True)
class Paragraph:
    style: str  # a Word style name: Title, Heading 1, List Bullet, CMR Caption Line...
    spans: tuple[Span, ...]
    align: Literal["left", "center", "right", "justify"] | None = None
    anchors: tuple[str, ...] = ()  # bookmarks, so the contents and links can point here
    list_id: int = 0  # which numbered list a List Number paragraph belongs to
    page_break_before: bool = False
    keep_with_next: bool = False

    @property
    def text(self) -> str:
        return "".join(span.text for span in self.spans)


@dataclass(frozen=True)
class Cell:
    paragraphs: tuple[Paragraph, ...]
    header: bool = False
    colspan: int = 1
    bottom_border: bool = False

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.paragraphs)


@dataclass(frozen=True)
class Row:
    cells: tuple[Cell, ...]
    header: bool = False  # repeated at the top of each page
    total: bool = False  # a footer row (tfoot): shaded and bold

    @property
    def text(self) -> str:
        return "\t".join(cell.text for cell in self.cells)


@dataclass(frozen=True)
class Table:
    rows: tuple[Row, ...]
    kind: Literal["data", "cover", "signature", "plain", "rules"]  # rules: ruled rows, the text's font
    widths: tuple[float, ...] = ()  # shares of the table width, when the layout fixes them
    page_break_before: bool = False


@dataclass(frozen=True)
class Figure:
    png: bytes
    width_pt: float
    height_pt: float
    description: str  # the chart's title, as the image's alternative text


@dataclass(frozen=True)
class Contents:
    """A table-of-contents field over Heading 1 to 3; entries are its text until Word updates it."""

    title: Paragraph
    entries: tuple[Paragraph, ...]


Block = Paragraph | Table | Figure | Contents


@dataclass(frozen=True)
class RunningHeader:
    registrant: str
    document: str
    draft: str | None  # the DRAFT marker, while presentation.draft is on


@dataclass(frozen=True)
class WordDocument:
    title: str
    author: str
    subject: str
    keywords: str
    generator: str
    created: date
    header: RunningHeader
    blocks: tuple[Block, ...] = field(default_factory=tuple)
