"""Pages as WeasyPrint laid them out (the page boxes `write_pdf` paints), for the layout rules.

This runs inside `cmr build`, between laying out and painting a PDF, so it reads WeasyPrint's
box tree rather than the PDF: the same positions, at the cost of one walk over the boxes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import html as lxml_html
from weasyprint.formatting_structure import boxes

from .model import Box, Line, Page, Role, words_of

HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6", "caption"}
FORCED = {"page", "left", "right", "recto", "verso"}


def vocabulary_of_html(document_html: str) -> set[str]:
    """The words of a document's text, to tell a word cut in two from two words."""
    root = lxml_html.document_fromstring(document_html.encode("utf-8"))
    for skipped in root.xpath("//style | //script | //head"):
        skipped.drop_tree()
    # Each text node apart: "STATES<br>SECURITIES" or two table cells are not one word.
    return {word for text in root.itertext() for word in words_of(text)}


@dataclass
class _Walk:
    page: Page
    seen: set[int]  # elements drawn on this page
    lines: list[Line] = field(default_factory=list)
    bottom: float = 0.0

    def box(self, box: boxes.Box, role: Role, block: boxes.Box | None, link: bool) -> None:
        if isinstance(box, boxes.MarginBox):
            role = "margin"
        elif isinstance(box, boxes.TableCellBox) and role != "margin":
            role = "cell"
        if box.element is not None:
            self.seen.add(id(box.element))
        if isinstance(box, boxes.LineBox):
            self.line(box, role, block)
            return
        if role != "margin" and _drawn_edge(box):
            self.bottom = max(self.bottom, box.border_box_y() + box.border_height())
        if isinstance(box, (boxes.BlockContainerBox, boxes.TableCellBox)):
            block = box
        for child in getattr(box, "children", ()):
            self.box(child, role, block, link or getattr(child, "element_tag", "") == "a")

    def line(self, line: boxes.LineBox, role: Role, block: boxes.Box | None) -> None:
        if (line.element_tag or "").endswith("::marker"):
            return
        texts = [(text, link) for text, link in _texts(line, False) if text.text.strip()]
        if not texts:
            return
        tag = block.element_tag if block is not None else ""
        if role == "body" and tag in HEADINGS:
            role = "heading"
        x0 = min(text.position_x for text, _ in texts)
        x1 = max(text.position_x + text.width for text, _ in texts)
        y0 = min(text.position_y for text, _ in texts)
        y1 = max(text.position_y + text.height for text, _ in texts)
        paragraph = block.element if block is not None and block.element is not None else block
        # A cell never breaks across pages, but a table's header row is drawn again on each.
        page_key = self.page.number if role == "cell" else 0
        self.lines.append(
            Line(
                text="".join(text.text for text, _ in texts),
                box=Box(x0, y0, x1, y1),
                paragraph=(paragraph, getattr(block, "element_tag", ""), page_key),
                role=role,
                measure=block.width if block is not None else 0.0,
                link=texts[-1][1],
            )
        )
        if role != "margin":
            self.bottom = max(self.bottom, y1)


def _drawn_edge(box: boxes.Box) -> bool:
    """Boxes whose bottom edge is visible on the page: pictures, tables, bordered blocks."""
    if isinstance(box, (boxes.ReplacedBox, boxes.TableBox)):
        return True
    return bool(getattr(box, "border_bottom_width", 0))


def _texts(box: boxes.Box, link: bool) -> Iterator[tuple[boxes.TextBox, bool]]:
    for child in getattr(box, "children", ()):
        if isinstance(child, boxes.TextBox):
            yield child, link
        else:
            yield from _texts(child, link or getattr(child, "element_tag", "") == "a")


def _chain(box: boxes.Box, first: bool) -> Iterator[boxes.Box]:
    """The box and its first (or last) in-flow block-level descendants, outermost first."""
    while box is not None:
        yield box
        children = [
            child
            for child in getattr(box, "children", ())
            if not isinstance(child, (boxes.LineBox, boxes.MarginBox)) and child.is_in_normal_flow()
        ]
        box = (children[0] if first else children[-1]) if children else None


def pages_of(document) -> list[Page]:
    """The pages of a rendered WeasyPrint document."""
    pages: list[Page] = []
    seen_before: set[int] = set()
    previous_root = None
    for number, rendered in enumerate(document.pages, start=1):
        page_box = rendered._page_box
        content = Box(
            page_box.content_box_x(),
            page_box.content_box_y(),
            page_box.content_box_x() + page_box.width,
            page_box.content_box_y() + page_box.height,
        )
        page = Page(number, page_box.margin_width(), page_box.margin_height(), content)
        walk = _Walk(page, set())
        walk.box(page_box, "body", None, False)
        page.lines, page.content_bottom = walk.lines, walk.bottom
        root = next((child for child in page_box.children if not isinstance(child, boxes.MarginBox)), None)
        page.starts_forced = _starts_forced(root, previous_root, seen_before)
        page.opening = _opening(root, page)
        pages.append(page)
        seen_before |= walk.seen
        previous_root = root
    return pages


def _starts_forced(root, previous_root, seen_before: set[int]) -> bool:
    """The page begins with an element's forced break before it (its first fragment), or the
    previous page ended with a forced break after."""
    if root is None or previous_root is None:
        return False
    for box in _chain(root, first=True):
        fresh = box.element is None or id(box.element) not in seen_before
        if fresh and box.style["break_before"] in FORCED:
            return True
    return any(box.style["break_after"] in FORCED for box in _chain(previous_root, first=False))


def _opening(root, page: Page) -> str:
    for box in _chain(root, first=True) if root is not None else ():
        if box.element_tag in ("figure", "table"):
            caption = next(_captions(box), "")
            return caption or f"a {box.element_tag}"
    body = [line for line in page.lines if line.role != "margin"]
    return body[0].text if body else ""


def _captions(box: boxes.Box) -> Iterator[str]:
    for child in getattr(box, "children", ()):
        if child.element_tag in ("figcaption", "caption"):
            yield "".join(text.text for text, _ in _texts(child, False))
        else:
            yield from _captions(child)
