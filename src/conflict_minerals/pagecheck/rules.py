"""The layout rules, each a fault a reviewer has sent back from looking at pages:

- `outside-content`: text drawn outside the page's content box (a table past the margin);
  the running header and footer, in the top and bottom margins, only may not pass the sides.
- `stranded-word`: a line holding a single short word while its paragraph goes on below it
  (the "We" left alone under a heading).
- `broken-word`: a word cut across two lines without a hyphen ("Supplier" / "s" in a table
  header); a break at a hyphen the word has ("Non-" / "Conformant") is not a fault.
- `address-at-hyphen`: a web or mail address broken after one of its own hyphens, where a
  reader cannot tell whether the hyphen belongs to the address.
- `heading-at-page-end`: a heading (or a table's caption) as the last thing on a page.
- `page-ends-early`: a page that ends with more than a fifth of the sheet blank below the last
  thing drawn on it (the bottom margin included) when the next
  page does not start where the document asked for a new page: something that could not be
  split (a figure, a table kept with its heading) was pushed over.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Sequence

from .model import Fault, Line, Page, words_of

EMPTY_SHARE = 0.2  # more than this share of a page's height left empty is a fault
STRANDED_SHARE = 0.25  # a lone word on a line narrower than this share of its measure
# ... in a paragraph at least this share of the text width wide: in a narrow table cell a word
# alone on a line is how the cell wraps.
WIDE_SHARE = 0.5
_ADDRESS = re.compile(r"(://|@|www\.|\.[a-z]{2,}\b)", re.IGNORECASE)


def check_pages(
    document: str, pages: Sequence[Page], vocabulary: set[str], tolerance: float = 1.0
) -> list[Fault]:
    """Every fault of the rendered pages, in page order. `vocabulary` holds the words of the
    document's own text (`words_of`), to tell a word cut in two from two words."""
    faults: list[Fault] = []
    for page in pages:
        faults += _outside(document, page, tolerance)
        faults += _heading_at_end(document, page, pages, tolerance)
    faults += _line_pairs(document, pages, vocabulary)
    faults += _ends_early(document, pages)
    return sorted(faults, key=lambda fault: fault.page)


def _outside(document: str, page: Page, tolerance: float) -> list[Fault]:
    box = page.content
    outside = []
    for line in page.lines:
        sideways = line.box.x0 < box.x0 - tolerance or line.box.x1 > box.x1 + tolerance
        up_down = line.box.y0 < box.y0 - tolerance or line.box.y1 > box.y1 + tolerance
        if sideways or (up_down and line.role != "margin"):
            outside.append(line)
    if not outside:
        return []
    worst = max(outside, key=lambda line: _overhang(line, box))
    more = f" and {len(outside) - 1} more line(s)" if len(outside) > 1 else ""
    message = (
        f"text drawn outside the page's content box: {_quote(worst.text)} passes the margin by "
        f"{_overhang(worst, box):.1f}{more}"
    )
    return [Fault(document, page.number, "outside-content", message)]


def _overhang(line: Line, box) -> float:
    return max(box.x0 - line.box.x0, line.box.x1 - box.x1, 0.0)


def _heading_at_end(document: str, page: Page, pages: Sequence[Page], tolerance: float) -> list[Fault]:
    if page.number == len(pages):
        return []
    body = [line for line in page.lines if line.role != "margin"]
    if not body:
        return []
    last = max(body, key=lambda line: line.box.y1)
    if last.role != "heading" or last.box.y1 < page.content_bottom - tolerance * 4:
        return []  # something is drawn below it (a picture, a rule)
    return [
        Fault(
            document,
            page.number,
            "heading-at-page-end",
            f"the heading {_quote(last.text)} is the last line of the page; its text is on the next",
        )
    ]


def _body_lines(pages: Sequence[Page]) -> Iterable[tuple[Page, Line]]:
    for page in pages:
        for line in page.lines:
            if line.role != "margin":
                yield page, line


def _line_pairs(document: str, pages: Sequence[Page], vocabulary: set[str]) -> list[Fault]:
    """The rules on a line and the next line of its paragraph."""
    faults = []
    ordered = sorted(vocabulary)
    last_of: dict[object, tuple[Page, Line]] = {}
    for page, line in _body_lines(pages):
        key = line.paragraph
        if key in last_of:
            before_page, before = last_of[key]
            faults += _pair(document, before_page, before, line, vocabulary, ordered)
        last_of[key] = (page, line)
    return faults


def _pair(
    document: str, page: Page, line: Line, following: Line, vocabulary: set[str], ordered: list[str]
) -> list[Fault]:
    faults = []
    text = line.text.strip()
    pieces = text.split()
    width = line.box.x1 - line.box.x0
    wide = line.measure >= WIDE_SHARE * (page.content.x1 - page.content.x0)
    if len(pieces) == 1 and wide and width < STRANDED_SHARE * line.measure:
        faults.append(
            Fault(
                document,
                page.number,
                "stranded-word",
                f"{_quote(text)} stands alone on a line; its paragraph goes on with {_quote(following.text)}",
            )
        )
    head, tail = words_of(text), words_of(following.text)
    next_text = following.text.strip()
    if head and tail and text[-1:].isalnum() and next_text[:1].isalnum():
        joined = head[-1] + tail[0]
        whole = joined in vocabulary or _begins_a_word(joined, ordered)
        if whole and not (head[-1] in vocabulary and tail[0] in vocabulary):
            faults.append(
                Fault(
                    document,
                    page.number,
                    "broken-word",
                    f"the word {_quote(joined)} is broken across two lines "
                    f"({_quote(pieces[-1])} / {_quote(next_text.split()[0])})",
                )
            )
    if text.endswith("-") and (line.link or _ADDRESS.search(pieces[-1] if pieces else "")):
        faults.append(
            Fault(
                document,
                page.number,
                "address-at-hyphen",
                f"the address {_quote(pieces[-1] + next_text.split()[0])} is broken at its own hyphen",
            )
        )
    return faults


def _begins_a_word(text: str, ordered: list[str]) -> bool:
    """`text` is the start of a word of the document (`ordered`: its words, sorted): a word cut
    in three or more pieces."""
    index = bisect.bisect_left(ordered, text)
    return index < len(ordered) and ordered[index].startswith(text)


def _ends_early(document: str, pages: Sequence[Page]) -> list[Fault]:
    faults = []
    for page, following in itertools.pairwise(pages):
        if following.starts_forced:
            continue
        # As a reader sees it: the blank from the last thing drawn to the foot of the sheet (a
        # full page leaves only its bottom margin, 8% of a Letter page in these documents).
        height = page.height
        empty = page.height - max(page.content_bottom, page.content.y0)
        if empty > EMPTY_SHARE * height:
            faults.append(
                Fault(
                    document,
                    page.number,
                    "page-ends-early",
                    f"the page ends with {empty / height:.0%} of its height empty: what opens page "
                    f"{following.number} ({_quote(following.opening)}) did not fit in the space left",
                )
            )
    return faults


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return f"“{text if len(text) <= limit else text[: limit - 1] + '…'}”"
