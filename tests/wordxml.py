"""Reading .docx files back as counsel's Word would: paragraph texts in order, split into the
parts a section break starts, and Word's Accept All / Reject All applied to the XML."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

from lxml import etree

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
NS = {"w": W}


def q(tag: str) -> str:
    return f"{{{W}}}{tag}"


def body(docx: bytes) -> etree._Element:
    with zipfile.ZipFile(io.BytesIO(docx)) as package:
        return etree.fromstring(package.read("word/document.xml")).find(q("body"))


def _mark(element: etree._Element, container: str, kind: str) -> bool:
    return element.find(f"w:{container}/w:{kind}", NS) is not None


def resolve(root: etree._Element, accept: bool) -> etree._Element:
    """Accept All (accept=True) or Reject All on a copy of the body."""
    root = etree.fromstring(etree.tostring(root))
    gone, kept = ("del", "ins") if accept else ("ins", "del")
    for row in root.xpath(f"//w:tr[w:trPr/w:{gone}]", namespaces=NS):
        row.getparent().remove(row)
    for paragraph in root.xpath(f"//w:p[w:pPr/w:rPr/w:{gone}]", namespaces=NS):
        paragraph.getparent().remove(paragraph)
    for table in root.xpath("//w:tbl[not(w:tr)]", namespaces=NS):
        table.getparent().remove(table)
    for element in root.xpath(f"//w:{gone}", namespaces=NS):
        element.getparent().remove(element)
    for element in root.xpath(f"//w:r/w:{kept} | //w:ins | //w:del", namespaces=NS):
        parent = element.getparent()
        if parent.tag in (q("rPr"), q("trPr")):
            parent.remove(element)  # the mark of a paragraph or row that stays
            continue
        index = parent.index(element)
        for child in list(element):
            parent.insert(index, child)
            index += 1
        parent.remove(element)
    for text in root.iter(q("delText")):
        text.tag = q("t")
    return root


def paragraph_text(paragraph: etree._Element) -> str:
    out = []
    elements = paragraph.iter(q("t"), q("delText"), q("br"), q("tab"), q("instrText"), q("noBreakHyphen"))
    for element in elements:
        if element.tag == q("br"):
            out.append("\n")
        elif element.tag == q("tab"):
            out.append("\t")
        elif element.tag == q("noBreakHyphen"):
            out.append("-")
        elif element.tag != q("instrText"):
            out.append(element.text or "")
    return "".join(out)


def parts(root: etree._Element) -> list[list[str]]:
    """Paragraph texts (table cells included, in reading order), one list per section."""
    found: list[list[str]] = [[]]
    for paragraph in root.iter(q("p")):
        if paragraph.find("w:pPr/w:sectPr", NS) is not None:
            found.append([])  # python-docx ends a section with an empty paragraph holding it
            continue
        found[-1].append(paragraph_text(paragraph))
    return found


def revisions(root: etree._Element) -> Iterator[etree._Element]:
    yield from root.xpath("//w:ins | //w:del", namespaces=NS)
