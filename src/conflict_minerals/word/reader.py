"""Rendered HTML (a Form SD or a CMR) -> the blocks of a Word document (model.py).

The HTML is the one `cmr build` writes, so the .docx says exactly what the HTML and the PDF say.
The layout classes of the built-in templates pick Word styles (the cover's captions, the
signature block, data tables); anything else falls back to the plain tag's style, so an override
template still gives every word of its text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date

from lxml import html as lxml_html

from ..filing.characters import refuse_invalid_document
from ..problems import InputError, Problem
from .chart import ChartError, rasterize
from .model import (
    LINE_BREAK,
    Block,
    Cell,
    Contents,
    Figure,
    Paragraph,
    Row,
    RunningHeader,
    Span,
    Table,
    WordDocument,
)
from .widths import column_shares

HEADING_STYLES = {"h1": "Title", "h2": "Heading 1", "h3": "Heading 2", "h4": "Heading 3"}
# Paragraph classes of the built-in templates and the Word styles that lay them out (docx.py).
PARAGRAPH_STYLES = {
    "agency": "CMR Agency",
    "form-subtitle": "CMR Form Subtitle",
    "field": "CMR Field",
    "caption": "CMR Field Caption",
    "instruction": "CMR Instruction",
    "check-line": "CMR Check Line",
    "subheading": "CMR Subheading",
    "draft-notice": "CMR Draft Notice",
    "exhibit-label": "CMR Exhibit Label",
    "report-subtitle": "Subtitle",
}
CENTERED_SECTIONS = {"cover", "title-block"}
PAGE_BREAK_BEFORE = {"items", "annex"}
SKIPPED_TAGS = {"head", "style", "script", "template"}
INLINE_TAGS = {
    "a",
    "em",
    "i",
    "strong",
    "b",
    "span",
    "code",
    "small",
    "sup",
    "sub",
    "abbr",
    "br",
    "u",
    "ins",
    "del",
    "s",
}
CHECKED, UNCHECKED = "☒", "☐"
TEXT_WIDTH_PT = 6.7 * 72  # Letter with the PDF's 0.9 in side margins (docx.TEXT_WIDTH)
_SPACE = re.compile(r"\s+")


@dataclass
class _Style:
    bold: bool = False
    italic: bool = False
    small: bool = False
    href: str | None = None


@dataclass
class _Reader:
    source: str  # the document's name, for errors
    blocks: list[Block] = field(default_factory=list)
    page_break: bool = False
    centered: bool = False
    lists: int = 0  # numbered lists seen, so each <ol> starts again at 1
    # Ids of sections entered whose first paragraph is still to come: the contents link to a
    # section (<section id="introduction">), and its bookmark goes on that first paragraph.
    pending: list[str] = field(default_factory=list)

    # ----- inline content -----

    def spans(self, element: lxml_html.HtmlElement, style: _Style | None = None) -> list[Span]:
        """The text of an element and its inline children, formatting kept."""
        style = style or _Style()
        out: list[Span] = []
        if element.text:
            out.append(Span(element.text, style.bold, style.italic, style.small, style.href))
        for child in element:
            if isinstance(child.tag, str) and child.tag not in SKIPPED_TAGS:
                out += self._inline(child, style)
            if child.tail:
                out.append(Span(child.tail, style.bold, style.italic, style.small, style.href))
        return out

    def _inline(self, child: lxml_html.HtmlElement, style: _Style) -> list[Span]:
        classes = set((child.get("class") or "").split())
        if child.tag == "br":
            return [Span(LINE_BREAK)]
        if "checkbox" in classes:
            return [Span(CHECKED if "checked" in classes else UNCHECKED, bold=True), Span(" ")]
        inner = replace(style)
        if child.tag in ("strong", "b"):
            inner.bold = True
        elif child.tag in ("em", "i"):
            inner.italic = True
        elif child.tag == "a" and child.get("href"):
            inner.href = child.get("href")
        if "pct" in classes:  # a percentage printed under its count
            inner.small = True
            return [Span(LINE_BREAK), *self.spans(child, inner)]
        if child.tag in ("p", "div") or child.tag not in INLINE_TAGS:
            # A block inside a paragraph-like element (a list item's <p>): a line of its own.
            return [Span(LINE_BREAK), *self.spans(child, inner)]
        return self.spans(child, inner)

    # ----- blocks -----

    def paragraph(
        self, spans: list[Span], style: str, anchor: str | None = None, list_id: int = 0
    ) -> Paragraph | None:
        cleaned = _normalise(spans)
        if not cleaned and style != "CMR Rule":
            return None
        align = "center" if self.centered and style not in ("CMR Instruction", "CMR Check Line") else None
        if style.startswith("Heading"):
            align = None
        anchors = (*self.pending, anchor) if anchor else tuple(self.pending)
        self.pending = []
        paragraph = Paragraph(
            style,
            tuple(cleaned),
            align=align,
            anchors=anchors,
            list_id=list_id,
            page_break_before=self.page_break,
            keep_with_next=style.startswith(("Heading", "Title", "CMR Subheading", "Caption")),
        )
        self.page_break = False
        return paragraph

    def add(self, block: Block | None) -> None:
        if block is not None:
            self.blocks.append(block)

    def walk(self, element: lxml_html.HtmlElement) -> None:
        if not isinstance(element.tag, str) or element.tag in SKIPPED_TAGS:
            return
        classes = set((element.get("class") or "").split())
        if "running-header" in classes:
            return
        if classes & PAGE_BREAK_BEFORE:
            self.page_break = True
        tag = element.tag
        if tag in ("section", "div", "article") and element.get("id"):
            self.pending.append(element.get("id"))
        if tag in HEADING_STYLES:
            self.add(self.paragraph(self.spans(element), HEADING_STYLES[tag], element.get("id")))
        elif tag == "p":
            style = next((PARAGRAPH_STYLES[c] for c in classes if c in PARAGRAPH_STYLES), "Normal")
            self.add(self.paragraph(self.spans(element), style, element.get("id")))
        elif tag == "hr":
            self.add(self.paragraph([], "CMR Rule"))
        elif tag in ("ul", "ol"):
            self.list(element, 1)
        elif tag == "dl":
            for child in element:
                if child.tag in ("dt", "dd"):
                    style = "CMR Term" if child.tag == "dt" else "CMR Definition"
                    self.add(self.paragraph(self.spans(child), style))
        elif tag == "table":
            self.table(element, classes)
        elif tag == "figure":
            self.figure(element)
        elif tag == "nav" and "toc" in classes:
            self.contents(element)
        elif tag == "blockquote":
            self.add(self.paragraph(self.spans(element), "Quote"))
        else:
            centered = self.centered
            if classes & CENTERED_SECTIONS:
                self.centered = True
            if tag in ("section", "div", "body", "main", "article", "header", "footer", "nav", "aside"):
                self.inline_run(element)
            else:
                self.add(self.paragraph(self.spans(element), "Normal", element.get("id")))
            self.centered = centered

    def inline_run(self, element: lxml_html.HtmlElement) -> None:
        """A container: its blocks in order; loose text between them becomes paragraphs."""
        loose: list[Span] = [Span(element.text)] if element.text else []
        for child in element:
            if isinstance(child.tag, str) and child.tag in INLINE_TAGS:
                loose += self._inline(child, _Style())
            else:
                self.add(self.paragraph(loose, "Normal"))
                loose = []
                self.walk(child)
            if child.tail:
                loose.append(Span(child.tail))
        self.add(self.paragraph(loose, "Normal"))

    def list(self, element: lxml_html.HtmlElement, level: int) -> None:
        numbered = element.tag == "ol"
        if numbered:
            self.lists += 1
        base = "List Number" if numbered else "List Bullet"
        style = base if level == 1 else f"{base} {min(level, 3)}"
        for item in element:
            if item.tag != "li":
                continue
            nested = [child for child in item if child.tag in ("ul", "ol")]
            for child in nested:
                item.remove(child)  # printed after the item's own text
            self.add(self.paragraph(self.spans(item), style, list_id=self.lists if numbered else 0))
            for child in nested:
                self.list(child, level + 1)

    def table(self, element: lxml_html.HtmlElement, classes: set[str]) -> None:
        kind = (
            "data"
            if "data" in classes
            else "cover"
            if "cover-fields" in classes
            else "signature"
            if "signature-block" in classes
            else "rules"
            if "exhibit-index" in classes
            else "plain"
        )
        caption = element.find("caption")
        if caption is not None:
            self.add(self.paragraph(self.spans(caption), "Caption"))
        rows: list[Row] = []
        for row in element.iter("tr"):
            section = row.getparent().tag if row.getparent() is not None else ""
            row_classes = set((row.get("class") or "").split())
            cells = tuple(self.cell(cell, kind, row_classes) for cell in row if cell.tag in ("td", "th"))
            if cells:
                rows.append(Row(cells, header=section == "thead", total=section == "tfoot"))
        if rows:
            widths = _widths(element, kind, rows)
            self.blocks.append(Table(tuple(rows), kind, widths, page_break_before=self.page_break))
            self.page_break = False

    def cell(self, cell: lxml_html.HtmlElement, kind: str, row_classes: set[str]) -> Cell:
        classes = set((cell.get("class") or "").split())
        style = {"data": "CMR Table Text", "plain": "CMR Table Text", "rules": "CMR Ruled Text"}.get(
            kind, "CMR Cover Value"
        )
        if "captions" in row_classes:
            style = "CMR Field Caption"
        elif kind == "signature":
            style = "CMR Signature Caption" if "caption-left" in classes else "CMR Signature"
        bold = (
            cell.tag == "th" or "values" in row_classes or "registrant-caps" in classes or "total" in classes
        )
        spans = [replace(span, bold=span.bold or bold) for span in self.spans(cell)]
        align = (
            "right" if classes & {"num"} else "center" if classes & {"mark"} or kind == "cover" else "left"
        )
        paragraph = Paragraph(style, tuple(_normalise(spans)), align=align)
        return Cell(
            (paragraph,),
            header=cell.tag == "th",
            colspan=_int(cell.get("colspan"), 1),
            bottom_border="values" in row_classes or "signature-line" in classes,
        )

    def figure(self, element: lxml_html.HtmlElement) -> None:
        svg = element.find(".//svg")
        if svg is not None:
            try:
                raster = rasterize(svg)
            except ChartError as error:
                figure = element.get("id") or "a figure"
                raise InputError(
                    [Problem(self.source, None, None, "", f"figure {figure}: {error}")]
                ) from None
            self.blocks.append(
                Figure(raster.png, raster.width, raster.height, raster.title or element.get("id") or "")
            )
        caption = element.find("figcaption")
        if caption is not None:
            self.add(self.paragraph(self.spans(caption), "CMR Figure Caption"))

    def contents(self, element: lxml_html.HtmlElement) -> None:
        heading = element.find(".//h2")
        title = self.paragraph(self.spans(heading) if heading is not None else [], "TOC Heading")
        entries = tuple(
            Paragraph("TOC 1", tuple(_normalise(self.spans(item)))) for item in element.iter("li")
        )
        self.blocks.append(Contents(title or Paragraph("TOC Heading", (Span("Contents"),)), entries))
        self.page_break = True  # the contents have a page of their own, as in the PDF


def _int(value: str | None, default: int) -> int:
    try:
        return max(1, int(value or default))
    except ValueError:
        return default


def _widths(element: lxml_html.HtmlElement, kind: str, rows: list[Row]) -> tuple[float, ...]:
    """Column shares: where the layout fixes them (the cover, the signature block), else from
    what the cells hold (widths.py), so no word of a header has to break."""
    columns = max(sum(cell.colspan for cell in row.cells) for row in rows)
    classes = set((element.get("class") or "").split())
    if "address" in classes:
        return (0.7, 0.3)
    if kind == "cover":
        return tuple(1 / columns for _ in range(columns))
    if kind == "signature":
        return (0.12, 0.38)  # the block stands in the right half of the page, as in the PDF
    if kind in ("data", "plain", "rules"):
        return column_shares(rows, TEXT_WIDTH_PT)
    return ()


def _normalise(spans: list[Span]) -> list[Span]:
    """HTML white space rules: runs of spaces collapse to one, none at either end or around a
    line break; adjacent spans with the same formatting merge."""
    out: list[Span] = []
    for span in spans:
        text = span.text if span.text == LINE_BREAK else _SPACE.sub(" ", span.text)
        if text == LINE_BREAK:
            if out and out[-1].text != LINE_BREAK:
                out[-1] = replace(out[-1], text=out[-1].text.rstrip(" "))
            out.append(span)
            continue
        if not out or out[-1].text == LINE_BREAK or out[-1].text.endswith(" "):
            text = text.lstrip(" ")
        if not text:
            continue
        last = out[-1] if out else None
        if last is not None and last.text != LINE_BREAK and _same_format(last, span):
            out[-1] = replace(last, text=last.text + text)
        else:
            out.append(replace(span, text=text))
    while out and (out[-1].text == LINE_BREAK or not out[-1].text.strip(" ")):
        out.pop()
    if out:
        out[-1] = replace(out[-1], text=out[-1].text.rstrip(" "))
    while out and out[0].text == LINE_BREAK:
        out.pop(0)
    return [span for span in out if span.text]


def _same_format(a: Span, b: Span) -> bool:
    return (a.bold, a.italic, a.small, a.href) == (b.bold, b.italic, b.small, b.href)


def _meta(root: lxml_html.HtmlElement, name: str) -> str:
    found = root.find(f".//meta[@name='{name}']")
    return (found.get("content") or "") if found is not None else ""


def _running_header(root: lxml_html.HtmlElement) -> RunningHeader:
    def text(cls: str) -> str | None:
        found = root.find(f".//*[@class='{cls}']")
        return " ".join(found.text_content().split()) if found is not None else None

    return RunningHeader(
        text("running-registrant") or "", text("running-document") or "", text("running-draft")
    )


def read_document(document_html: str, source: str, created: date) -> WordDocument:
    """The blocks of one rendered document; `source` names it in errors."""
    # Rendered documents are checked when rendered; a build folder's may have been edited since.
    refuse_invalid_document(document_html, source, "Word cannot hold it (was the document edited?)")
    root = lxml_html.document_fromstring(document_html.encode("utf-8"))
    title = root.find(".//title")
    reader = _Reader(source)
    body = root.find("body")
    if body is not None:
        reader.inline_run(body)
    return WordDocument(
        title=" ".join(title.text_content().split()) if title is not None else source,
        author=_meta(root, "author"),
        subject=_meta(root, "description"),
        keywords=_meta(root, "keywords"),
        generator=_meta(root, "generator"),
        created=created,
        header=_running_header(root),
        blocks=tuple(reader.blocks),
    )
