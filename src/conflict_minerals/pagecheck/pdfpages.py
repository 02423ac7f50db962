"""Pages of any PDF for the layout rules: LibreOffice's rendering of a .docx, or a PDF on disk.

The words and their boxes come from poppler's `pdftotext -bbox-layout` (its blocks are the
paragraphs); how far down each page something is drawn, pictures included, from a small
greyscale raster of the page (`pdftoppm`). A PDF holds no structure, so what the rules must
know about the document (its words, its headings, where it asked for a new page) comes from its
source, here the .docx (`DocxHints`). Both poppler programs must be installed: this is for the
tests and for checking by hand, not for `cmr build`."""

from __future__ import annotations

import io
import re
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree
from PIL import Image

from .model import Box, Line, Page, words_of

_XHTML = "{http://www.w3.org/1999/xhtml}"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
HEADING_STYLES = {"Title", "Heading1", "Heading2", "Heading3", "TOCHeading", "Caption", "CMRSubheading"}
_RASTER_DPI = 24
_INK = 200  # a grey level darker than this is ink


@dataclass
class DocxHints:
    """What the rules need to know of a .docx that its rendering does not say."""

    vocabulary: set[str] = field(default_factory=set)
    # Texts of heading and caption paragraphs (not those a contents entry repeats).
    headings: set[str] = field(default_factory=set)
    # Every paragraph's text, one a line: two lines of a PDF are one paragraph's when their
    # texts follow each other in one of these (poppler's blocks also merge the cells of a
    # table column, or a term and its definition).
    paragraphs: str = ""
    forced: list[str] = field(default_factory=list)  # texts that start on a new page
    margins: tuple[float, float, float, float] = (72.0, 72.0, 72.0, 72.0)  # top, right, bottom, left (pt)


def _normal(text: str) -> str:
    # A non-breaking hyphen (Word's w:noBreakHyphen, in addresses) is a hyphen in the text.
    return " ".join(text.replace("\u2011", "-").split())


def docx_hints(docx: bytes) -> DocxHints:
    with zipfile.ZipFile(io.BytesIO(docx)) as package:
        root = etree.fromstring(package.read("word/document.xml"))
        furniture = [
            etree.fromstring(package.read(name))
            for name in package.namelist()
            if re.fullmatch(r"word/(header|footer)\d*\.xml", name)
        ]
    hints = DocxHints()
    others: set[str] = set()
    texts: list[str] = []
    new_page = False
    for paragraph in root.iter(f"{W}p"):
        text = _normal(
            "".join(_run_text(element) for element in paragraph.iter(f"{W}t", f"{W}br", f"{W}tab"))
        )
        style = paragraph.find(f"{W}pPr/{W}pStyle")
        breaks_before = paragraph.find(f"{W}pPr/{W}pageBreakBefore") is not None
        if text:
            texts.append(text)
            hints.vocabulary |= set(words_of(text))
            if style is not None and style.get(f"{W}val") in HEADING_STYLES:
                hints.headings.add(text)
            else:
                others.add(text)
            if breaks_before or new_page:
                hints.forced.append(text)
            new_page = False
        if any(br.get(f"{W}type") == "page" for br in paragraph.iter(f"{W}br")):
            new_page = True
        if paragraph.find(f"{W}pPr/{W}sectPr") is not None:
            new_page = True  # a section break: the next part starts on a new page
    hints.headings -= others
    for part in furniture:  # the running header and footer: lines of text too
        texts += [
            _normal("".join(_run_text(e) for e in p.iter(f"{W}t", f"{W}tab"))) for p in part.iter(f"{W}p")
        ]
    hints.paragraphs = "\n".join(texts)
    margin = root.find(f".//{W}sectPr/{W}pgMar")
    if margin is not None:
        top, right, bottom, left = (
            int(margin.get(f"{W}{side}", "1440")) / 20 for side in ("top", "right", "bottom", "left")
        )
        hints.margins = (top, right, bottom, left)
    return hints


def _run_text(element) -> str:
    return element.text or "" if element.tag == f"{W}t" else " "


def pdf_pages(pdf: Path, hints: DocxHints) -> list[Page]:
    """The pages of a PDF file, with the hints of its source."""
    layout = subprocess.run(
        ["pdftotext", "-bbox-layout", str(pdf), "-"], check=True, capture_output=True, timeout=120
    ).stdout
    root = etree.fromstring(layout, etree.XMLParser(recover=True, resolve_entities=False, no_network=True))
    bottoms = _ink_bottoms(pdf, hints.margins[2])
    pages = []
    top, right, bottom, left = hints.margins
    for number, page_element in enumerate(root.iter(f"{_XHTML}page"), start=1):
        width, height = float(page_element.get("width")), float(page_element.get("height"))
        content = Box(left, top, width - right, height - bottom)
        page = Page(number, width, height, content)
        for block in page_element.iter(f"{_XHTML}block"):
            page.lines += _block_lines(block, content, hints, number)
        body = [line for line in page.lines if line.role != "margin"]
        text_bottom = max((line.box.y1 for line in body), default=content.y0)
        page.content_bottom = max(text_bottom, bottoms.get(number, content.y0))
        page.opening = body[0].text if body else ""
        page.starts_forced = any(_starts(text, page.opening) for text in hints.forced)
        pages.append(page)
    return pages


def _starts(forced: str, opening: str) -> bool:
    opening = _normal(opening)
    return bool(opening) and (forced.startswith(opening) or opening.startswith(forced))


def _rows(block) -> list[list]:
    """The words of a block by baseline: poppler makes a line of each word of a loose justified
    line, and one line of the cells of a table row."""
    rows: list[list] = []
    for line in block.iter(f"{_XHTML}line"):
        words = list(line.iter(f"{_XHTML}word"))
        if rows and abs(float(rows[-1][0].get("yMax")) - float(line.get("yMax"))) < 1.0:
            rows[-1] = sorted([*rows[-1], *words], key=lambda word: float(word.get("xMin")))
        elif words:
            rows.append(words)
    return rows


def _segments(row: list, paragraphs: str) -> list[Line]:
    """A poppler line cut into the pieces of text that stand together in the source: the cells
    of a table row share a baseline, and poppler puts them on one line. A cut falls where the
    words so far, with the next, are in no paragraph of the source, or at a gap wider than the
    line is high unless they are there as whole words (a justified line's wide gaps are no
    cut). Words with no gap between them are one word (poppler cuts one at a non-breaking
    hyphen)."""
    height = max(float(word.get("yMax")) - float(word.get("yMin")) for word in row)
    segments: list[tuple[str, list]] = []  # (text, words)
    previous_end = None
    for word in row:
        x0, text = float(word.get("xMin")), word.text or ""
        gap = x0 - previous_end if previous_end is not None else None
        previous_end = float(word.get("xMax"))
        if gap is not None and gap < 0.1 * height:  # the same word, cut by poppler
            joined, words = segments[-1]
            segments[-1] = (joined + text, [*words, word])
            continue
        joined = _normal(f"{segments[-1][0]} {text}") if segments else ""
        # A wide gap (more than the line is high) is a new cell unless the words on both sides
        # stand together, whole, in the source (a loose justified line).
        apart = gap is not None and gap > height and not _whole(joined, paragraphs)
        if gap is None or apart or joined not in paragraphs:
            segments.append((text, [word]))
        else:
            segments[-1] = (joined, [*segments[-1][1], word])
    found = []
    for text, words in segments:
        box = Box(
            float(words[0].get("xMin")),
            min(float(w.get("yMin")) for w in words),
            float(words[-1].get("xMax")),
            max(float(w.get("yMax")) for w in words),
        )
        found.append(Line(text=_normal(text), box=box, paragraph=None))
    return found


def _block_lines(block, content: Box, hints: DocxHints, number: int) -> list[Line]:
    """The block's lines (cut into cells), each given the paragraph it belongs to: the one of
    the segment just above it in the same column whose text it continues, or a new one."""
    rows = [_segments(row, hints.paragraphs) for row in _rows(block)]
    paragraphs: list[list[Line]] = []
    for segment in (segment for row in rows for segment in row):
        owner = next(
            (
                index
                for index, lines in enumerate(paragraphs)
                if _below(lines[-1], segment) and _continues(lines[-1].text, segment.text, hints.paragraphs)
            ),
            None,
        )
        if owner is None:
            paragraphs.append([])
            owner = len(paragraphs) - 1
        paragraphs[owner].append(segment)
    for index, lines in enumerate(paragraphs):
        text = _normal(" ".join(line.text for line in lines))
        measure = max(line.box.x1 - line.box.x0 for line in lines) if len(lines) > 1 else 0.0
        for line in lines:
            line.paragraph = (number, id(block), index)
            line.measure = measure
            middle = (line.box.y0 + line.box.y1) / 2
            if middle < content.y0 or middle > content.y1:
                line.role = "margin"
            elif text in hints.headings:
                line.role = "heading"
    return [segment for row in rows for segment in row]


def _whole(text: str, paragraphs: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(text)}(?!\w)", paragraphs) is not None


def _below(upper: Line, lower: Line) -> bool:
    """`lower` is the line right under `upper`, in the same column."""
    height = upper.box.y1 - upper.box.y0
    gap = lower.box.y0 - upper.box.y1
    return -height / 2 < gap < height and upper.box.x0 < lower.box.x1 and lower.box.x0 < upper.box.x1


def _continues(before: str, after: str, paragraphs: str) -> bool:
    """The two lines follow each other in one paragraph of the source (a space between them,
    or none where a word was cut in two)."""
    before, after = _normal(before), _normal(after)
    return f"{before} {after}" in paragraphs or f"{before}{after}" in paragraphs


def _ink_bottoms(pdf: Path, bottom_margin: float) -> dict[int, float]:
    """For each page, the lowest point (in PDF points) with ink above the bottom margin (where
    the footer is), read from a small greyscale raster: pictures count, which the text layer
    does not show."""
    bottoms: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            ["pdftoppm", "-gray", "-r", str(_RASTER_DPI), str(pdf), f"{scratch}/p"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        for raster in sorted(Path(scratch).glob("p-*.pgm")):
            number = int(re.search(r"-(\d+)\.pgm$", raster.name).group(1))
            with Image.open(raster) as image:
                bottoms[number] = _lowest_ink(image, bottom_margin)
    return bottoms


def _lowest_ink(image: Image.Image, bottom_margin: float) -> float:
    width, height = image.size
    pixels = image.load()
    for row in range(height - int(bottom_margin * _RASTER_DPI / 72) - 1, -1, -1):
        if any(pixels[column, row] < _INK for column in range(width)):
            return (row + 1) * 72 / _RASTER_DPI
    return 0.0
