"""Word documents (.docx) from the blocks read out of the rendered HTML (reader.py).

python-docx writes the package, the styles, tables and pictures; what it has no API for (fields,
bookmarks, hyperlinks, borders, tracked changes, repeating header rows) is written on its element
tree with its own `OxmlElement`. Output is byte-identical for the same input: the zip is rewritten
with fixed timestamps in a fixed order, and every date inside comes from the filing.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from docx import Document
from docx.enum.section import WD_SECTION
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT, WD_TAB_LEADER
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Emu, Inches, Pt, RGBColor
from docx.table import Table as DocxTable
from docx.text.paragraph import Paragraph as DocxParagraph

from ..report.markdown import ADDRESS
from .model import (
    LINE_BREAK,
    Block,
    Contents,
    Figure,
    Paragraph,
    Revision,
    Row,
    RunningHeader,
    Span,
    Table,
    WordDocument,
)
from .reader import read_document

SERIF, SANS = "Times New Roman", "Arial"  # metric twins of the PDF's Liberation fonts
TEXT_WIDTH = Inches(6.7)  # Letter with the PDF's 0.9 in side margins
# A chart is a picture that cannot split: at the full text width (1.6 in tall with its four bars)
# one that did not fit after its table left a quarter of the page empty in Word and LibreOffice.
# At 5.6 in its text is still 6.7 pt and it needs a sixth less room.
FIGURE_WIDTH = Inches(5.6)
ALIGNMENT = {
    "left": WD_ALIGN_PARAGRAPH.LEFT,
    "center": WD_ALIGN_PARAGRAPH.CENTER,
    "right": WD_ALIGN_PARAGRAPH.RIGHT,
    "justify": WD_ALIGN_PARAGRAPH.JUSTIFY,
}
TOC_INSTRUCTION = ' TOC \\o "1-3" \\h \\z \\u '
HEADER_SHADE, TOTAL_SHADE = "E6E6E6", "F2F2F2"


@dataclass(frozen=True)
class StyleSpec:
    name: str
    font: str = SERIF
    size: float = 11
    bold: bool = False
    italic: bool = False
    align: str | None = None
    before: float = 0
    after: float = 7
    indent: float = 0  # points
    hanging: float = 0
    border: str | None = None  # "bottom" or "box"
    keep_with_next: bool = False
    tab_leader_at: float = 0  # points: a right tab with a dot leader (the contents' page numbers)


# The look of the PDF (templates/css/documents.css), as Word styles a reviewer can change.
STYLES = (
    StyleSpec("Normal", align="justify"),
    StyleSpec("Title", size=16, bold=True, align="center", before=8, after=4, keep_with_next=True),
    StyleSpec("Subtitle", size=11, align="center", after=7),
    StyleSpec("Heading 1", size=12.5, bold=True, before=18, after=6, keep_with_next=True),
    StyleSpec("Heading 2", size=11, bold=True, before=12, after=4, keep_with_next=True),
    StyleSpec("Heading 3", size=10.5, bold=True, italic=True, before=8, after=3, keep_with_next=True),
    StyleSpec("TOC Heading", size=12.5, bold=True, before=18, after=6, keep_with_next=True),
    StyleSpec("TOC 1", size=11, after=4, align="left", tab_leader_at=6.7 * 72),
    StyleSpec("Caption", font=SANS, size=9, bold=True, before=6, after=4, align="left", keep_with_next=True),
    StyleSpec("CMR Figure Caption", font=SANS, size=8.5, bold=True, before=2, after=12, align="left"),
    StyleSpec("CMR Agency", bold=True, align="center", after=6),
    StyleSpec("CMR Form Subtitle", bold=True, align="center", after=8),
    StyleSpec("CMR Field", bold=True, align="center", before=14, after=0, border="bottom"),
    StyleSpec("CMR Field Caption", size=8.5, align="center", before=2, after=6),
    StyleSpec("CMR Instruction", align="left"),
    StyleSpec("CMR Check Line", align="left", indent=1.75 * 11, hanging=1.75 * 11),
    StyleSpec("CMR Rule", size=4, after=10, before=10, border="bottom"),
    StyleSpec("CMR Subheading", bold=True, italic=True, before=6, keep_with_next=True),
    StyleSpec("CMR Draft Notice", font=SANS, size=8.5, align="left", after=14, border="box"),
    StyleSpec("CMR Exhibit Label", bold=True, align="center"),
    StyleSpec("CMR Term", bold=True, before=4, after=0, align="left", keep_with_next=True),
    StyleSpec("CMR Definition", indent=1.5 * 11, after=4),
    StyleSpec("CMR Table Text", font=SANS, size=8.5, after=0, align="left"),
    StyleSpec("CMR Ruled Text", after=0, align="left"),  # the Form SD exhibit index, as in the PDF
    StyleSpec("CMR Cover Value", bold=True, align="center", after=0),
    StyleSpec("CMR Signature", align="left", after=0),
    StyleSpec("CMR Signature Caption", size=9, align="left", after=0),
    StyleSpec("CMR Running", font=SANS, size=8, align="left", after=0),
    StyleSpec("List Bullet", after=3, align="justify"),
    StyleSpec("List Bullet 2", after=3, align="justify"),
    StyleSpec("List Bullet 3", after=3, align="justify"),
    StyleSpec("List Number", after=3, align="justify"),
    StyleSpec("List Number 2", after=3, align="justify"),
    StyleSpec("List Number 3", after=3, align="justify"),
    StyleSpec("Quote", italic=True, indent=22),
)


def _element(tag: str, **attributes: str) -> OxmlElement:
    element = OxmlElement(tag)
    for name, value in attributes.items():
        element.set(qn(f"w:{name}"), value)
    return element


def _border(position: str, size_eighths: int = 6) -> OxmlElement:
    return _element(f"w:{position}", val="single", sz=str(size_eighths), space="1", color="000000")


def _paragraph_border(ppr: OxmlElement, sides: Sequence[str]) -> None:
    borders = _element("w:pBdr")
    for side in sides:
        borders.append(_border(side, 6 if side == "bottom" else 8))
    # pBdr sits before shading, tabs, spacing and indentation in CT_PPr's sequence.
    successors = ("w:shd", "w:tabs", "w:suppressAutoHyphens", "w:spacing", "w:ind", "w:jc", "w:rPr")
    ppr.insert_element_before(borders, *successors)


# CT_TblPr's children in the order the schema gives them (Word refuses a file out of order).
_TABLE_PROPERTIES = (
    "w:tblStyle", "w:tblpPr", "w:tblOverlap", "w:bidiVisual", "w:tblStyleRowBandSize",
    "w:tblStyleColBandSize", "w:tblW", "w:jc", "w:tblCellSpacing", "w:tblInd", "w:tblBorders",
    "w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption", "w:tblDescription",
)  # fmt: skip


def _table_property(table: DocxTable, element: OxmlElement) -> None:
    """Set one of a table's properties (tblInd, tblBorders, tblCellMar...) in schema order."""
    properties = table._tbl.tblPr
    tag = element.tag.split("}")[1]
    for old in properties.findall(qn(f"w:{tag}")):
        properties.remove(old)
    successors = _TABLE_PROPERTIES[_TABLE_PROPERTIES.index(f"w:{tag}") + 1 :]
    properties.insert_element_before(element, *successors)


def _define_styles(document) -> None:
    styles = document.styles
    names = {style.name for style in styles}
    for spec in STYLES:
        if spec.name in names:
            style = styles[spec.name]
        else:
            style = styles.add_style(spec.name, WD_STYLE_TYPE.PARAGRAPH)
            style.base_style = styles["Normal"]
            style.quick_style = True
        font = style.font
        font.name, font.size, font.bold, font.italic = spec.font, Pt(spec.size), spec.bold, spec.italic
        font.color.rgb = RGBColor(0, 0, 0)
        rpr = style.element.get_or_add_rPr()
        fonts = rpr.get_or_add_rFonts()
        for slot in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
            fonts.attrib.pop(qn(slot), None)  # theme fonts would override the named font
        for attribute in ("w:ascii", "w:hAnsi", "w:cs"):
            fonts.set(qn(attribute), spec.font)
        layout = style.paragraph_format
        layout.space_before, layout.space_after = Pt(spec.before), Pt(spec.after)
        layout.keep_with_next = spec.keep_with_next or None
        if spec.align:
            layout.alignment = ALIGNMENT[spec.align]
        if spec.indent:
            layout.left_indent = Pt(spec.indent)
        if spec.hanging:
            layout.first_line_indent = Pt(-spec.hanging)
        for old in rpr.findall(qn("w:spacing")):
            rpr.remove(old)  # the default Subtitle's letter spacing
        ppr = style.element.get_or_add_pPr()
        for old in ppr.findall(qn("w:pBdr")):
            ppr.remove(old)  # the default Title's blue rule
        if spec.tab_leader_at:
            layout.tab_stops.add_tab_stop(Pt(spec.tab_leader_at), WD_TAB_ALIGNMENT.RIGHT, WD_TAB_LEADER.DOTS)
        if spec.border:
            _paragraph_border(
                ppr, ["bottom"] if spec.border == "bottom" else ["top", "left", "bottom", "right"]
            )
    if "Hyperlink" not in names:
        link = styles.add_style("Hyperlink", WD_STYLE_TYPE.CHARACTER)
        link.font.underline = True
    if "Table Grid" in names:
        styles["Table Grid"].font.name = SANS


def _mark_paragraph(paragraph: OxmlElement, mark: OxmlElement) -> None:
    """Track a paragraph's own mark (w:pPr/w:rPr/w:ins or w:del): accepting a deleted one, or
    rejecting an inserted one, removes the paragraph with its text."""
    ppr = paragraph.get_or_add_pPr()
    rpr = ppr.find(qn("w:rPr"))
    if rpr is None:
        rpr = OxmlElement("w:rPr")
        following = ppr.find(qn("w:sectPr"))
        if following is not None:
            following.addprevious(rpr)
        else:
            ppr.append(rpr)
    rpr.append(mark)


def _bookmark_name(anchor: str) -> str:
    """Word bookmark names take letters, digits and underscores, start with a letter, and stop at 40."""
    name = re.sub(r"\W", "_", anchor, flags=re.ASCII)
    return ("_" + name if not name[:1].isalpha() else name)[:40]


@dataclass
class RevisionStamp:
    """Who made a tracked change and when: the redline's author and the new filing's date."""

    author: str
    when: date
    next_id: int = 1

    def mark(self, kind: str) -> OxmlElement:
        element = _element(
            f"w:{kind}",
            id=str(self.next_id),
            author=self.author,
            date=datetime(self.when.year, self.when.month, self.when.day, tzinfo=UTC)
            .isoformat()
            .replace("+00:00", "Z"),
        )
        self.next_id += 1
        return element


Segment = tuple[Span, Revision]


@dataclass
class RowPlan:
    """A table row to write, with its tracked change and, for a changed row, each cell's text."""

    row: Row
    mark: Revision = None
    cells: list[list[Segment]] | None = None


@dataclass
class Writer:
    document: WordDocument
    stamp: RevisionStamp | None = None
    _docx: object = field(init=False)
    _bookmarks: int = field(init=False, default=0)
    _bookmark_names: set[str] = field(init=False, default_factory=set)
    _lists: dict[int, str] = field(init=False, default_factory=dict)
    _style_ids: dict[str | None, str | None] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._docx = Document()
        _define_styles(self._docx)
        body = self._docx.element.body
        for child in list(body):
            if child.tag != qn("w:sectPr"):
                body.remove(child)  # the template's empty paragraph
        section = self._docx.sections[0]
        section.page_width, section.page_height = Inches(8.5), Inches(11)
        section.left_margin = section.right_margin = Inches(0.9)
        section.top_margin, section.bottom_margin = Inches(0.9), Inches(0.85)
        section.header_distance = section.footer_distance = Inches(0.4)
        self.running(self._docx.sections[0], self.document.header)

    # ----- page furniture -----

    def running(self, section, header: RunningHeader) -> None:
        """Registrant, document and DRAFT across the top; "Page X of Y" at the foot, as Word fields."""
        section.header.is_linked_to_previous = False
        section.footer.is_linked_to_previous = False
        top = section.header.paragraphs[0]
        top.text = ""
        top.style = self._docx.styles["CMR Running"]
        stops = top.paragraph_format.tab_stops
        stops.add_tab_stop(TEXT_WIDTH // 2, WD_TAB_ALIGNMENT.CENTER)
        stops.add_tab_stop(TEXT_WIDTH, WD_TAB_ALIGNMENT.RIGHT)
        top.add_run(header.registrant)
        top.add_run("\t" + header.document)
        if header.draft:
            top.add_run("\t" + header.draft).bold = True
        _paragraph_border(top._p.get_or_add_pPr(), ["bottom"])
        foot = section.footer.paragraphs[0]
        foot.text = ""
        foot.style = self._docx.styles["CMR Running"]
        foot.alignment = WD_ALIGN_PARAGRAPH.CENTER
        foot.add_run("Page ")
        self._simple_field(foot, "PAGE", "1")
        foot.add_run(" of ")
        self._simple_field(foot, "NUMPAGES", "1")

    @staticmethod
    def _simple_field(paragraph: DocxParagraph, instruction: str, shown: str) -> None:
        field_element = _element("w:fldSimple", instr=f" {instruction} \\* MERGEFORMAT ")
        run = OxmlElement("w:r")
        text = OxmlElement("w:t")
        text.text = shown
        run.append(text)
        field_element.append(run)
        paragraph._p.append(field_element)

    def new_part(self, header: RunningHeader) -> None:
        """A new document inside this file (the redline's Form SD, then its CMR): a new page and
        its own running header."""
        section = self._docx.add_section(WD_SECTION.NEW_PAGE)
        self.running(section, header)

    # ----- text -----

    def _run(self, span: Span, revision: Revision) -> OxmlElement:
        run = OxmlElement("w:r")
        rpr = OxmlElement("w:rPr")
        if span.href:
            rpr.append(_element("w:rStyle", val="Hyperlink"))
        if span.bold:
            rpr.append(OxmlElement("w:b"))
        if span.italic:
            rpr.append(OxmlElement("w:i"))
        if span.small:
            rpr.append(_element("w:sz", val="15"))
        if len(rpr):
            run.append(rpr)
        if span.text == LINE_BREAK:
            run.append(OxmlElement("w:br"))
            return run
        # An address never breaks at one of its own hyphens (a non-breaking hyphen, which Word and
        # LibreOffice print and copy as "-"): a reader could not tell if the hyphen belonged to it.
        pieces = span.text.split("-") if span.href and ADDRESS.fullmatch(span.text) else [span.text]
        for number, piece in enumerate(pieces):
            if number:
                run.append(OxmlElement("w:noBreakHyphen"))
            if piece:
                text = OxmlElement("w:delText" if revision == "del" else "w:t")
                text.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
                text.text = piece
                run.append(text)
        return run

    def _link(self, href: str) -> OxmlElement:
        if href.startswith("#"):
            return _element("w:hyperlink", anchor=_bookmark_name(href[1:]), history="1")
        relationship = self._docx.part.relate_to(href, RT.HYPERLINK, is_external=True)
        link = OxmlElement("w:hyperlink")
        link.set(qn("r:id"), relationship)
        link.set(qn("w:history"), "1")
        return link

    def fill(self, target: OxmlElement, segments: Sequence[Segment]) -> None:
        """Runs into a paragraph; a link becomes one w:hyperlink around its runs, and a tracked
        change one w:ins or w:del around them (inside the link, so the link survives either way)."""
        previous_href: str | None = None
        link: OxmlElement | None = None
        previous_mark: Revision = None
        wrapper: OxmlElement | None = None
        for span, revision in segments:
            if span.href != previous_href or (link is None and span.href):
                link = self._link(span.href) if span.href else None
                if link is not None:
                    target.append(link)
                previous_href, wrapper, previous_mark = span.href, None, None
            container = link if link is not None else target
            if revision is None:
                container.append(self._run(span, None))
                wrapper, previous_mark = None, None
                continue
            if wrapper is None or revision != previous_mark:
                assert self.stamp is not None, "tracked changes need a revision stamp"
                wrapper = self.stamp.mark(revision)
                container.append(wrapper)
                previous_mark = revision
            wrapper.append(self._run(span, revision))

    def _format(self, paragraph: DocxParagraph, block: Paragraph) -> None:
        paragraph._p.style = self._style_id(block.style)
        layout = paragraph.paragraph_format
        if block.align:
            layout.alignment = ALIGNMENT[block.align]
        if block.page_break_before:
            layout.page_break_before = True
        if block.keep_with_next:
            layout.keep_with_next = True
        if block.list_id:
            self._restart_numbering(paragraph, block.list_id)

    def _style_id(self, name: str | None) -> str | None:
        """The w:pStyle value python-docx writes for a paragraph of this style (None for the
        default style; an unknown name is Normal), looked up once per name: python-docx
        searches every style of the document on each assignment, which made a table-heavy
        report take seconds."""
        if name not in self._style_ids:
            styles = self._docx.styles
            style = styles[name] if name in {style.name for style in styles} else styles["Normal"]
            self._style_ids[name] = self._docx.part.get_style_id(style, WD_STYLE_TYPE.PARAGRAPH)
        return self._style_ids[name]

    def _restart_numbering(self, paragraph: DocxParagraph, list_id: int) -> None:
        """Each <ol> counts from 1: its own w:num over the List Number style's abstract numbering."""
        numbering = self._docx.part.numbering_part.element
        if list_id not in self._lists:
            style_num = self._docx.styles["List Number"].element.pPr.numPr.numId.val
            abstract = numbering.num_having_numId(style_num).abstractNumId.val
            num = numbering.add_num(abstract)
            num.add_lvlOverride(ilvl=0).add_startOverride(1)
            self._lists[list_id] = str(num.numId)
        ppr = paragraph._p.get_or_add_pPr()
        numpr = ppr.get_or_add_numPr()
        numpr.get_or_add_ilvl().val = 0
        numpr.get_or_add_numId().val = int(self._lists[list_id])

    def _bookmark(self, paragraph: DocxParagraph, anchor: str) -> None:
        name = _bookmark_name(anchor)
        if name in self._bookmark_names:
            return  # a name Word already has (the redline holds two documents): the first one wins
        self._bookmark_names.add(name)
        self._bookmarks += 1
        number = str(self._bookmarks)
        start = _element("w:bookmarkStart", id=number, name=name)
        ppr = paragraph._p.pPr
        if ppr is not None:
            ppr.addnext(start)
        else:
            paragraph._p.insert(0, start)
        paragraph._p.append(_element("w:bookmarkEnd", id=number))

    def paragraph(
        self,
        block: Paragraph,
        segments: Sequence[Segment] | None = None,
        mark: Revision = None,
        container=None,
    ) -> DocxParagraph:
        """One paragraph; `mark` tracks the whole paragraph (its mark too) as inserted or deleted."""
        target = container if container is not None else self._docx
        paragraph = target.add_paragraph()
        self._format(paragraph, block)
        if mark is not None:
            assert self.stamp is not None
            _mark_paragraph(paragraph._p, self.stamp.mark(mark))
        if segments is None:
            segments = [(span, mark) for span in block.spans]
        self.fill(paragraph._p, segments)
        if mark != "del":
            for anchor in block.anchors:
                self._bookmark(paragraph, anchor)
        return paragraph

    # ----- other blocks -----

    def figure(self, block: Figure, mark: Revision = None) -> None:
        paragraph = self._docx.add_paragraph(style=self._docx.styles["Normal"])
        paragraph.paragraph_format.keep_with_next = True
        paragraph.alignment = WD_ALIGN_PARAGRAPH.LEFT
        width = FIGURE_WIDTH
        run = paragraph.add_run()
        run.add_picture(
            io.BytesIO(block.png), width=width, height=Emu(int(width * block.height_pt / block.width_pt))
        )
        for properties in run._r.iter(qn("wp:docPr")):
            properties.set("descr", block.description)
        if mark is not None:
            assert self.stamp is not None
            wrapper = self.stamp.mark(mark)
            run._r.addprevious(wrapper)
            wrapper.append(run._r)
            _mark_paragraph(paragraph._p, self.stamp.mark(mark))

    def contents(self, block: Contents, mark: Revision = None) -> None:
        """A TOC field over Heading 1-3 (Word fills in page numbers when it updates fields,
        which settings.xml asks for on opening); until then it shows the headings."""
        self.paragraph(block.title, mark=mark)
        entries = block.entries or (Paragraph("TOC 1", ()),)
        for index, entry in enumerate(entries):
            paragraph = self.paragraph(entry, mark=mark)
            runs = paragraph._p
            target = next((span.href[1:] for span in entry.spans if (span.href or "").startswith("#")), None)
            if target is not None:
                self._page_reference(runs, target, mark)
            if index == 0:
                begin = [_element("w:fldChar", fldCharType="begin")]
                instruction = OxmlElement("w:instrText")
                instruction.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
                instruction.text = TOC_INSTRUCTION
                separate = _element("w:fldChar", fldCharType="separate")
                anchor = runs.pPr
                for piece in reversed([*begin, instruction, separate]):
                    run = OxmlElement("w:r")
                    run.append(piece)
                    anchor.addnext(run)
            if index == len(entries) - 1:
                run = OxmlElement("w:r")
                run.append(_element("w:fldChar", fldCharType="end"))
                runs.append(run)
        settings = self._docx.settings.element
        if settings.find(qn("w:updateFields")) is None:
            settings.append(_element("w:updateFields", val="true"))

    def _page_reference(self, paragraph: OxmlElement, anchor: str, mark: Revision) -> None:
        """A tab to the right margin (a dot leader) and the page of `anchor` as a PAGEREF field,
        inside the entry's link: Word fills in the number when it updates fields; until then
        the entry shows its heading and the link lands."""
        links = paragraph.findall(qn("w:hyperlink"))
        container = links[-1] if links else paragraph
        pieces = [_element("w:tab")]
        begin = _element("w:fldChar", fldCharType="begin")
        instruction = OxmlElement("w:instrText")
        instruction.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
        instruction.text = f" PAGEREF {_bookmark_name(anchor)} \\h "
        pieces += [begin, instruction, _element("w:fldChar", fldCharType="separate")]
        pieces.append(_element("w:fldChar", fldCharType="end"))
        wrapper = None
        if mark is not None:
            assert self.stamp is not None
            wrapper = self.stamp.mark(mark)
            container.append(wrapper)
        for piece in pieces:
            run = OxmlElement("w:r")
            if piece.tag == qn("w:instrText") and mark == "del":
                piece.tag = qn("w:delInstrText")
            run.append(piece)
            (wrapper if wrapper is not None else container).append(run)

    def table(self, block: Table, plans: Sequence[RowPlan] | None = None) -> DocxTable:
        plans = list(plans) if plans is not None else [RowPlan(row) for row in block.rows]
        columns = max(sum(cell.colspan for cell in plan.row.cells) for plan in plans)
        table = self._docx.add_table(rows=len(plans), cols=columns)
        if block.kind in ("data", "plain"):
            table.style = self._docx.styles["Table Grid"]
            self._cell_margins(table, side=60)  # 3 pt, as the PDF's padding
        elif block.kind == "rules":
            self._cell_margins(table, side=120, top=60)  # 6 pt and 3 pt, as the PDF's padding
            borders = OxmlElement("w:tblBorders")
            for edge in ("bottom", "insideH"):
                borders.append(_element(f"w:{edge}", val="single", sz="6", space="0", color="000000"))
            _table_property(table, borders)
        table.alignment = WD_TABLE_ALIGNMENT.LEFT
        table.autofit = not block.widths
        shares = block.widths or tuple(1 / columns for _ in range(columns))
        if block.kind == "signature":
            _table_property(table, _element("w:tblInd", w=str(int(TEXT_WIDTH * 0.5 / 635)), type="dxa"))
        for index, share in enumerate(shares[:columns]):
            table.columns[index].width = Emu(int(TEXT_WIDTH * share))
        rows = table.rows  # python-docx lists every row again on each rows[index]
        for row_index, plan in enumerate(plans):
            self._row(rows[row_index], plan, shares, block)
        if block.page_break_before and plans:
            first = table.rows[0].cells[0].paragraphs[0]
            first.paragraph_format.page_break_before = True
        # A paragraph after each table keeps two tables from fusing into one in Word.
        spacer = self._docx.add_paragraph(style=self._docx.styles["CMR Table Text"])
        spacer.paragraph_format.space_after = Pt(6)
        return table

    @staticmethod
    def _cell_margins(table: DocxTable, side: int, top: int = 0) -> None:
        """Cell margins in twips; the table is moved right by the left one (Word 2010 layout puts
        the cell's text, not its border, at the indent), so its rules start at the margin."""
        margins = OxmlElement("w:tblCellMar")
        for edge, width in (("top", top), ("left", side), ("bottom", top), ("right", side)):
            margins.append(_element(f"w:{edge}", w=str(width), type="dxa"))
        _table_property(table, _element("w:tblInd", w=str(side), type="dxa"))
        _table_property(table, margins)

    def _row(self, row, plan: RowPlan, shares: Sequence[float], block: Table) -> None:
        properties = row._tr.get_or_add_trPr()
        properties.append(OxmlElement("w:cantSplit"))
        if plan.row.header:
            properties.append(OxmlElement("w:tblHeader"))
        if plan.mark is not None:
            assert self.stamp is not None
            properties.append(self.stamp.mark(plan.mark))
        column = 0
        # row.cells reads the whole row each time: read once, unless a merge changes the row.
        cells = row.cells if all(cell.colspan == 1 for cell in plan.row.cells) else None
        for cell_index, cell in enumerate(plan.row.cells):
            target = cells[column] if cells is not None else row.cells[column]
            if cell.colspan > 1:
                target = target.merge(row.cells[column + cell.colspan - 1])
            width = sum(shares[column : column + cell.colspan]) if shares else 0
            if width:
                target.width = Emu(int(TEXT_WIDTH * width))
            column += cell.colspan
            target._tc.remove(target.paragraphs[0]._p)
            segments = plan.cells[cell_index] if plan.cells is not None else None
            for number, paragraph in enumerate(cell.paragraphs):
                own = segments if segments is not None and number == 0 else None
                if segments is not None and number > 0:
                    continue  # a changed cell's text was compared as one paragraph
                self.paragraph(paragraph, own, mark=plan.mark, container=target)
            self._cell_look(target, cell, plan.row, block)

    @staticmethod
    def _cell_look(target, cell, row: Row, block: Table) -> None:
        tcpr = target._tc.get_or_add_tcPr()
        shade = HEADER_SHADE if row.header and block.kind == "data" else TOTAL_SHADE if row.total else None
        if shade:
            tcpr.append(_element("w:shd", val="clear", color="auto", fill=shade))
        if cell.bottom_border:
            borders = OxmlElement("w:tcBorders")
            borders.append(_border("bottom"))
            tcpr.append(borders)

    def block(self, block: Block) -> None:
        if isinstance(block, Paragraph):
            self.paragraph(block)
        elif isinstance(block, Table):
            self.table(block)
        elif isinstance(block, Figure):
            self.figure(block)
        elif isinstance(block, Contents):
            self.contents(block)

    # ----- the package -----

    def save(self) -> bytes:
        properties = self._docx.core_properties
        document = self.document
        moment = datetime(document.created.year, document.created.month, document.created.day)
        properties.title = document.title
        properties.author = document.author
        properties.last_modified_by = document.author
        properties.subject = document.subject
        properties.keywords = document.keywords
        properties.comments = document.generator
        properties.created = properties.modified = moment
        properties.revision = 1
        package = self._docx.part.package
        for relationship in list(package.rels.values()):
            if relationship.reltype == RT.THUMBNAIL:
                package.rels.pop(relationship.rId)  # python-docx's template picture, not ours
        buffer = io.BytesIO()
        self._docx.save(buffer)
        return stable_zip(buffer.getvalue(), document.created)


def stable_zip(data: bytes, when: date) -> bytes:
    """The same package with every entry dated `when` (python-docx stamps the clock) in the
    order written, [Content_Types].xml first, so equal documents are equal bytes."""
    timestamp = (max(when.year, 1980), when.month, when.day, 0, 0, 0)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        names = source.namelist()
        ordered = sorted(names, key=lambda name: (name != "[Content_Types].xml", names.index(name)))
        for name in ordered:
            info = zipfile.ZipInfo(name, date_time=timestamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, source.read(name))
    return out.getvalue()


def write_docx(document: WordDocument) -> bytes:
    writer = Writer(document)
    for block in document.blocks:
        writer.block(block)
    return writer.save()


def docx_bytes(document_html: str, source: str, created: date) -> bytes:
    """The .docx of one rendered document, dated `created` (the filing's signature date)."""
    return write_docx(read_document(document_html, source, created))
