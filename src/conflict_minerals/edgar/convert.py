"""The EDGAR versions of the documents: the same rendered HTML, rewritten to EDGAR's rules.

The documents are not templated twice: each rendered page is parsed and rewritten. Elements
become HTML 4.01 ones, the stylesheet becomes inline styles (templates/edgar/styles.json),
figures are left to the tables beside them, links outside the submission become plain text,
page breaks are written as filing agents write them, and every non-ASCII character becomes a
numeric character reference.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache

from lxml import etree
from lxml import html as lxml_html

from ..report.templating import builtin_theme_dir

DOCTYPE = (
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">'
)
PAGE_BREAK = '<hr style="page-break-after: always">'
RENAMED = {
    "section": "div",
    "nav": "div",
    "figure": "div",
    "figcaption": "p",
    "header": "div",
    "footer": "div",
}
DROPPED = {"style", "script", "svg", "figure", "link", "meta"}
SEC_ARCHIVES = re.compile(r"https?://www\.sec\.gov/Archives/", re.IGNORECASE)
CHECKED, UNCHECKED = "\u2612", "\u2610"  # ballot boxes, written as &#9746; / &#9744;


@dataclass(frozen=True)
class Selector:
    tag: str | None
    classes: frozenset[str]
    id: str | None

    @classmethod
    def parse(cls, text: str) -> Selector:
        tag = re.match(r"[a-z0-9]+", text)
        return cls(
            tag=tag[0] if tag else None,
            classes=frozenset(re.findall(r"\.([\w-]+)", text)),
            id=(m[1] if (m := re.search(r"#([\w-]+)", text)) else None),
        )

    def matches(self, element: etree._Element) -> bool:
        if self.tag and element.tag != self.tag:
            return False
        if self.id and element.get("id") != self.id:
            return False
        return self.classes <= set((element.get("class") or "").split())


@dataclass(frozen=True)
class StyleRule:
    ancestors: tuple[Selector, ...]
    target: Selector
    style: str

    def matches(self, element: etree._Element) -> bool:
        if not self.target.matches(element):
            return False
        parent = element.getparent()
        for selector in reversed(self.ancestors):
            while parent is not None and not selector.matches(parent):
                parent = parent.getparent()
            if parent is None:
                return False
            parent = parent.getparent()
        return True


@dataclass(frozen=True)
class EdgarStyles:
    rules: tuple[StyleRule, ...]
    page_breaks: tuple[Selector, ...]


@cache
def edgar_styles() -> EdgarStyles:
    data = json.loads((builtin_theme_dir() / "edgar" / "styles.json").read_text(encoding="utf-8"))
    rules = []
    for selector, style in data["rules"]:
        parts = [Selector.parse(part) for part in selector.split()]
        rules.append(StyleRule(tuple(parts[:-1]), parts[-1], style))
    return EdgarStyles(tuple(rules), tuple(Selector.parse(s) for s in data["page_break_before"]))


def _inline_styles(body: etree._Element, styles: EdgarStyles) -> None:
    # Decide every element's style before changing classes, which the selectors read.
    decided = []
    for element in body.iter():
        if not isinstance(element.tag, str):
            continue
        matched = [rule.style for rule in styles.rules if rule.matches(element)]
        decided.append((element, _merge(matched)))
    for element, style in decided:
        if style:
            element.set("style", style)
        for attribute in ("class", "role", "aria-label", "aria-labelledby", "lang"):
            element.attrib.pop(attribute, None)


def _merge(styles: list[str]) -> str:
    """Declarations of every matching rule; a later rule's value wins, as in CSS."""
    merged: dict[str, str] = {}
    for style in styles:
        for declaration in style.split(";"):
            name, _, value = declaration.partition(":")
            if name.strip() and value.strip():
                merged.pop(name.strip(), None)
                merged[name.strip()] = value.strip()
    return "; ".join(f"{name}: {value}" for name, value in merged.items())


def _page_breaks(body: etree._Element, styles: EdgarStyles) -> None:
    for element in list(body.iter()):
        if isinstance(element.tag, str) and any(s.matches(element) for s in styles.page_breaks):
            marker = lxml_html.fragment_fromstring(PAGE_BREAK)
            element.addprevious(marker)


def _checkboxes(body: etree._Element) -> None:
    for box in list(body.iter("span")):
        classes = set((box.get("class") or "").split())
        if "checkbox" in classes:
            tail = box.tail
            box.clear()
            box.text = CHECKED if "checked" in classes else UNCHECKED
            box.tail = tail
            box.set("class", "")


def _unwrap_external_links(body: etree._Element) -> None:
    """EDGAR allows no references outside the submission except to sec.gov/Archives."""
    for link in list(body.iter("a")):
        href = (link.get("href") or "").strip()
        if href.startswith("#") or SEC_ARCHIVES.match(href):
            continue
        link.drop_tag()


def _plain_addresses(body: etree._Element) -> None:
    """An address's break points (report/markdown.py address_html) are for page layout: EDGAR
    gets the address as plain text."""
    for address in list(body.xpath("//span[contains(concat(' ', @class, ' '), ' address ')]")):
        for piece in list(address.iter("span"))[1:]:
            piece.drop_tag()
        address.drop_tag()


def _drop(body: etree._Element) -> None:
    for element in list(body.iter()):
        if not isinstance(element.tag, str):
            continue
        classes = set((element.get("class") or "").split())
        if element.tag in DROPPED or "running-header" in classes or "chart" in classes:
            element.drop_tree()


def _rename(body: etree._Element) -> None:
    for element in body.iter():
        if isinstance(element.tag, str) and element.tag in RENAMED:
            element.tag = RENAMED[element.tag]


def to_edgar(document_html: str) -> bytes:
    """An EDGAR-ready .htm document (ASCII bytes) from a rendered document."""
    root = lxml_html.document_fromstring(document_html.encode("utf-8"))
    body = root.find("body")
    title = root.findtext(".//title") or "Form SD"
    styles = edgar_styles()
    _drop(body)
    _plain_addresses(body)
    _checkboxes(body)
    _unwrap_external_links(body)
    _page_breaks(body, styles)
    _inline_styles(body, styles)
    _rename(body)
    body.attrib.pop("class", None)
    inner = "".join(
        etree.tostring(child, method="html", encoding="us-ascii").decode("ascii") for child in body
    )
    leading = (body.text or "").strip()
    head = f"<html>\n<head>\n<title>{_ascii(title)}</title>\n</head>\n"
    opening = f'<body style="{body.get("style", "")}">'
    return f"{DOCTYPE}\n{head}{opening}\n{_ascii(leading)}{inner}\n</body>\n</html>\n".encode("ascii")


def _ascii(text: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.encode("ascii", "xmlcharrefreplace").decode("ascii")
