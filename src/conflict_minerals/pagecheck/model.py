"""Rendered pages as the layout rules see them: lines of words with their boxes, in reading
order, grouped into paragraphs, on pages with a content box. Units are the front-end's own
(CSS pixels for WeasyPrint, PDF points for a PDF); the rules use only ratios and a small tolerance
in the same unit."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["body", "heading", "cell", "margin"]
_WORD = re.compile(r"[^\W_]+(?:['’.][^\W_]+)*")


def words_of(text: str) -> list[str]:
    """The words of a text, lower-cased, as the broken-word rule compares them: letters and digits,
    with inner apostrophes and full stops ("supplier’s", "U.S.", "6.4"); hyphens and other
    punctuation separate words."""
    return [word.lower() for word in _WORD.findall(text)]


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass
class Line:
    text: str
    box: Box
    paragraph: object  # lines of one paragraph share this (hashable) key, across pages too
    role: Role = "body"
    # The width the paragraph's lines may take (its column or cell); 0 when unknown.
    measure: float = 0.0
    link: bool = False  # the line ends inside a link (its text is an address)


@dataclass
class Page:
    number: int  # from 1
    width: float
    height: float
    content: Box  # the area inside the page margins
    lines: list[Line] = field(default_factory=list)
    # The lowest point anything is drawn at inside the content box (text, pictures, rules).
    content_bottom: float = 0.0
    # The page begins where the document asked for a new page (an annex, the items after a cover),
    # so the page before it may end early.
    starts_forced: bool = False
    # What the page begins with ("Figure 1. ...", "Table 3. ...", or its first line), for messages.
    opening: str = ""


@dataclass(frozen=True)
class Fault:
    document: str
    page: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.document}: page {self.page}: {self.message} [{self.rule}]"
