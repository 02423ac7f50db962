"""A word-level redline of the documents, section by section.

Each document is cut into sections at its anchors (`<section id>` and headings with an id), and
each section into text blocks (paragraphs, list items, definitions, rows of the cover and
signature tables). Data tables, the table of contents and the running header are left out:
tables are compared as data (datadiff.py) and page numbers are not prose.

Blocks are aligned with difflib, then changed blocks are compared word by word. lxml's htmldiff
was tried first: it misaligns list items and table rows and prints insertions before deletions,
which reads badly for lawyers used to "struck, then underlined".
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from lxml import html as lxml_html
from markupsafe import Markup, escape

from .matching import Opcode, opcodes, ratio
from .tables import TableDiff, diff_tables

BLOCK_TAGS = {"h1", "h2", "h3", "h4", "p", "li", "dt", "dd", "tr", "caption"}
SKIP_CLASSES = {"running-header", "draft-notice", "toc", "data"}
# A word keeps its inner punctuation, so "6.4", "1,234", "240.13p-1" and "supplier’s" are each
# one token: a changed number is struck and inserted whole, never digit by digit.
_TOKEN = re.compile(r"\s+|\w+(?:[.,:/’'\-]\w+)*|[^\w\s]")
# Past this many words on a side, a paragraph is compared sentence by sentence (and the redline
# says so): word by word it stays within seconds up to here (tests/test_diff_hostile.py).
MAX_WORDS = 10_000
_SENTENCE_END = frozenset({".", "!", "?", ";", ":"})
# Between two changes, a stretch of nothing but spaces and punctuation joins them into one, so
# "May 29, 2025" -> "May 27, 2026" reads "May [29, 2025][27, 2026]", not alternating pieces.
_GLUE = re.compile(r"[^\w]*")


@dataclass
class Section:
    key: str
    title: str
    blocks: list[str] = field(default_factory=list)
    # Italic or bold lead-ins of paragraphs ("Policy.", "Internal team."), kept in the redline.
    leads: set[str] = field(default_factory=set)


@dataclass
class SectionDiff:
    document: str
    key: str
    title: str
    changed: bool
    html: Markup  # the redline (or the unchanged text)
    insertions: int = 0
    deletions: int = 0
    by_sentence: int = 0  # changed paragraphs past MAX_WORDS, compared sentence by sentence


def _skipped(element: lxml_html.HtmlElement) -> bool:
    classes = set((element.get("class") or "").split())
    return bool(classes & SKIP_CLASSES) or element.tag in ("style", "script", "nav", "head")


def _block_text(element: lxml_html.HtmlElement) -> str:
    if element.tag == "li":
        # A list item keeps its bullet, or its number, as the document prints it.
        parent = element.getparent()
        if parent is not None and parent.tag == "ol":
            marker = f"{[c for c in parent if c.tag == 'li'].index(element) + 1}."
        else:
            marker = "•"
        return f"{marker} {' '.join(element.text_content().split())}"
    if element.tag == "tr":
        # A row reads as a line of the form: "Title: General Counsel", the cover's fields side by
        # side with wide spaces (a "|" between them would read as part of the text).
        cells = [" ".join(cell.text_content().split()) for cell in element if cell.tag in ("td", "th")]
        return "\u2003".join(c for c in cells if c)
    return " ".join(element.text_content().split())


def _first_block(section: lxml_html.HtmlElement) -> lxml_html.HtmlElement | None:
    """What a section's title is taken from: its first heading, unless text comes before it
    (the CMR's "Exhibit 1.01" above its title), then that first text, so the redline prints
    the section in the report's order."""
    for element in section.iter():
        if element is section or not isinstance(element.tag, str) or _skipped(element):
            continue
        if element.tag in ("h1", "h2", "h3"):
            return element
        if element.tag in BLOCK_TAGS and _block_text(element):
            return element
    return None


def _lead_in(element: lxml_html.HtmlElement) -> str | None:
    """The text of an emphasised run that opens a paragraph or list item, if one does."""
    holder = element
    if len(holder) and holder[0].tag == "p" and not (holder.text or "").strip():
        holder = holder[0]  # a list item whose text is a paragraph
    if len(holder) and holder[0].tag in ("em", "strong", "i", "b") and not (holder.text or "").strip():
        return " ".join(holder[0].text_content().split()) or None
    return None


_PARAGRAPH_START = re.compile(r'(<p class="(?:same|changed(?: by-sentence)?)">)((?:• |\d+\. )?)')
_LEAD_KEY = 8  # leads are looked up by their first characters


def _with_leads(marked: Markup, leads: set[str]) -> Markup:
    """The redline with each paragraph's unchanged lead-in in italics, as the document has it:
    at the start of each paragraph, the longest lead-in that begins it. One pass over the
    redline, each lead-in found by its first characters (a pass per lead-in was quadratic in a
    section of thousands of paragraphs, issue 20)."""
    if not leads:
        return marked
    shown = sorted({str(escape(lead)) for lead in leads if lead}, key=len, reverse=True)
    by_start: dict[str, list[str]] = {}
    for item in shown:  # longest first within each key
        by_start.setdefault(item[:_LEAD_KEY], []).append(item)
    html = str(marked)
    pieces, done = [], 0
    for match in _PARAGRAPH_START.finditer(html):
        places = [match.end(2), match.end(1)] if match[2] else [match.end(1)]
        for at in places:
            lead = _lead_at(html, at, by_start)
            if lead is not None:
                pieces += (html[done:at], f"<em>{lead}</em>")
                done = at + len(lead)
                break
    pieces.append(html[done:])
    return Markup("".join(pieces))


def _lead_at(html: str, at: int, by_start: dict[str, list[str]]) -> str | None:
    """The longest lead-in that `html` holds at `at`, or None."""
    for size in range(_LEAD_KEY, 0, -1):  # a lead of eight characters or more is longer than any other
        for lead in by_start.get(html[at : at + size], ()):
            if len(lead) >= size and html.startswith(lead, at):
                return lead
    return None


def sections(document_html: str) -> list[Section]:
    """The document's sections, in order, each with its text blocks."""
    root = lxml_html.document_fromstring(document_html.encode("utf-8"))
    for line_break in root.iter("br"):
        line_break.tail = " " + (line_break.tail or "")
    body = root.find("body")
    found: dict[str, Section] = {}
    order: list[str] = []
    current = "start"

    def section(key: str, title: str) -> Section:
        if key not in found:
            found[key] = Section(key, title)
            order.append(key)
        return found[key]

    titles: set[lxml_html.HtmlElement] = set()

    def walk(element: lxml_html.HtmlElement) -> None:
        nonlocal current
        if not isinstance(element.tag, str) or _skipped(element):
            return
        anchor = element.get("id")
        if anchor and (element.tag == "section" or element.tag in ("h1", "h2", "h3")):
            current = anchor
            heading = element if element.tag != "section" else _first_block(element)
            title = " ".join(heading.text_content().split()) if heading is not None else anchor
            section(anchor, title)
            if heading is not None:
                titles.add(heading)  # printed as the section's title: not again as its first line
        if element in titles:
            return
        if element.tag in BLOCK_TAGS:
            if element.tag == "li" and element.find(".//li") is not None:
                pass  # a list item holding a list: its own text is in its children
            else:
                text = _block_text(element)
                if text:
                    found_section = section(current, "Beginning of the document")
                    found_section.blocks.append(text)
                    if (lead := _lead_in(element)) is not None:
                        found_section.leads.add(lead)
                return
        for child in element:
            walk(child)

    if body is not None:
        walk(body)
    return [found[key] for key in order if found[key].blocks]


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def word_count(items: list[str]) -> int:
    """The words among a paragraph's tokens (not its spaces or punctuation)."""
    return sum(1 for token in items if token[0].isalnum() or token[0] == "_")


def compared_by_sentence(a: list[str], b: list[str]) -> bool:
    """Whether a paragraph pair is past the word-level limit and compared sentence by sentence."""
    return max(len(a), len(b)) > MAX_WORDS and max(word_count(a), word_count(b)) > MAX_WORDS


def word_opcodes(a: list[str], b: list[str]) -> list[Opcode]:
    """Opcodes over two token lists, whole words only, with changes separated by nothing but
    spaces and punctuation joined into one replacement. Past MAX_WORDS words on a side the
    pair is compared sentence by sentence: each changed sentence is struck and inserted whole."""
    if compared_by_sentence(a, b):
        return _sentence_opcodes(a, b)
    merged: list[Opcode] = []
    for opcode in opcodes(a, b):
        tag, _, i2, _, j2 = opcode
        if (
            tag != "equal"
            and len(merged) >= 2
            and merged[-2][0] != "equal"
            and merged[-1][0] == "equal"
            and _GLUE.fullmatch("".join(a[merged[-1][1] : merged[-1][2]]))
        ):
            first = merged[-2]
            merged[-2:] = [("replace", first[1], i2, first[3], j2)]
            continue
        merged.append(opcode)
    return merged


def redline_text(old: str, new: str) -> tuple[Markup, int, int]:
    """Word-level redline of one block: deletions then insertions, as lawyers read them."""
    a, b = tokens(old), tokens(new)
    parts: list[str] = []
    insertions = deletions = 0
    for tag, i1, i2, j1, j2 in word_opcodes(a, b):
        if tag == "equal":
            parts.append(str(escape("".join(a[i1:i2]))))
            continue
        if tag in ("delete", "replace") and i2 > i1:
            parts.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
            deletions += 1
        if tag in ("insert", "replace") and j2 > j1:
            parts.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
            insertions += 1
    return Markup("".join(parts)), insertions, deletions


def _sentences(items: list[str]) -> list[tuple[int, int]]:
    """The token ranges of a paragraph's sentences, each with the spaces after it."""
    ranges, start = [], 0
    for index, token in enumerate(items):
        ends = token in _SENTENCE_END and (index + 1 == len(items) or items[index + 1].isspace())
        if ends or index + 1 == len(items):
            stop = index + 2 if index + 1 < len(items) else index + 1
            ranges.append((start, stop))
            start = stop
    return [(first, last) for first, last in ranges if first < last]


def _sentence_opcodes(a: list[str], b: list[str]) -> list[Opcode]:
    """Opcodes over word tokens, decided sentence by sentence (see word_opcodes)."""
    spans_a, spans_b = _sentences(a), _sentences(b)
    texts_a = ["".join(a[first:last]) for first, last in spans_a]
    texts_b = ["".join(b[first:last]) for first, last in spans_b]

    def bounds(spans: list[tuple[int, int]], low: int, high: int, length: int) -> tuple[int, int]:
        if low == high:
            start = spans[low][0] if low < len(spans) else length
            return start, start
        return spans[low][0], spans[high - 1][1]

    found: list[Opcode] = []
    for tag, i1, i2, j1, j2 in opcodes(texts_a, texts_b):
        found.append((tag, *bounds(spans_a, i1, i2, len(a)), *bounds(spans_b, j1, j2, len(b))))
    return found


def similar(a: list[str], b: list[str]) -> bool:
    """Whether two paragraphs' tokens are close enough to be shown as one changed paragraph (half
    their words the same; half their sentences, past MAX_WORDS words)."""
    if compared_by_sentence(a, b):
        spans_a, spans_b = _sentences(a), _sentences(b)
        texts_a = ["".join(a[first:last]) for first, last in spans_a]
        return ratio(texts_a, ["".join(b[first:last]) for first, last in spans_b]) >= 0.5
    return ratio(a, b) >= 0.5


def _long(text: str) -> bool:
    return word_count(tokens(text)) > MAX_WORDS


def _context(texts: list[str]) -> list[str]:
    """Unchanged blocks: a short run is shown; a longer one collapses to a one-line summary."""
    paragraphs = [f'<p class="same">{escape(text)}</p>' for text in texts]
    if len(paragraphs) <= 1:
        return paragraphs
    return [
        f'<details class="context"><summary>{len(paragraphs)} unchanged paragraphs</summary>'
        + "".join(paragraphs)
        + "</details>"
    ]


def redline_blocks(old: list[str], new: list[str]) -> tuple[Markup, int, int, int]:
    """Redline of a section: whole blocks added or removed, changed blocks word by word (or
    sentence by sentence past MAX_WORDS words: the fourth number counts those)."""
    out: list[str] = []
    insertions = deletions = by_sentence = 0
    for tag, i1, i2, j1, j2 in opcodes(old, new):
        if tag == "equal":
            out += _context(old[i1:i2])
            continue
        olds, news = deque(old[i1:i2]), deque(new[j1:j2])
        while olds or news:
            if olds and news and similar(tokens(olds[0]), tokens(news[0])):
                before, after = olds.popleft(), news.popleft()
                marked, ins, dels = redline_text(before, after)
                coarse = compared_by_sentence(tokens(before), tokens(after))
                by_sentence += coarse
                out.append(f'<p class="changed{" by-sentence" if coarse else ""}">{marked}</p>')
                insertions, deletions = insertions + ins, deletions + dels
            elif olds and (not news or len(olds) >= len(news)):
                # A long paragraph with no sentence in common with the one beside it: compared
                # sentence by sentence too, and shown whole.
                by_sentence += bool(news) and _long(olds[0])
                out.append(f'<p class="removed"><del>{escape(olds.popleft())}</del></p>')
                deletions += 1
            else:
                by_sentence += bool(olds) and _long(news[0])
                out.append(f'<p class="added"><ins>{escape(news.popleft())}</ins></p>')
                insertions += 1
    return Markup("\n".join(out)), insertions, deletions, by_sentence


def _table_entry(document: str, table: TableDiff) -> SectionDiff:
    """A table's own entry: its changed cells and its rows added or removed."""
    if table.changes:
        items = "".join(f"<li>{change}</li>" for change in table.changes)
        body = Markup(f'<ul class="table-changes">{items}</ul>')
    else:
        body = Markup('<p class="same">No figure or row changed.</p>')
    insertions = sum(str(change).count("<ins>") for change in table.changes)
    deletions = sum(str(change).count("<del>") for change in table.changes)
    return SectionDiff(document, table.key, table.title, table.changed, body, insertions, deletions)


def _with_tables(document: str, entries: list[SectionDiff], tables: list[TableDiff]) -> list[SectionDiff]:
    """The sections' entries with the tables' data: a numbered table gets its own entry after
    its section, an annex's table counts in the annex's own entry; a section whose tables
    changed is changed and says where."""
    by_section: dict[str, list[TableDiff]] = {}
    for table in tables:
        by_section.setdefault(table.section, []).append(table)
    result = []
    for entry in entries:
        own = by_section.pop(entry.key, [])
        numbered = [t for t in own if t.key.startswith("table-")]
        unnumbered = [t for t in own if not t.key.startswith("table-")]
        for table in unnumbered:
            if table.changed:
                extra = _table_entry(document, table)
                entry.html = entry.html + Markup('\n<p class="table-note">The table:</p>\n') + extra.html
                entry.insertions += extra.insertions
                entry.deletions += extra.deletions
                entry.changed = True
        changed_tables = [t.key.replace("table-", "Table ") for t in numbered if t.changed]
        if changed_tables:
            entry.changed = True
            names = " and ".join(
                [", ".join(changed_tables[:-1]), changed_tables[-1]]
                if len(changed_tables) > 1
                else changed_tables
            )
            entry.html = entry.html + Markup(
                '\n<p class="table-note">The figures of {} changed: see {} below.</p>'
            ).format(names, "its entry" if len(changed_tables) == 1 else "their entries")
        result.append(entry)
        result += [_table_entry(document, table) for table in numbered]
    for leftover in by_section.values():  # a table outside any section with prose
        result += [_table_entry(document, table) for table in leftover]
    return result


def diff_document(document: str, old_html: str | None, new_html: str | None) -> list[SectionDiff]:
    entries = _diff_sections(document, old_html, new_html)
    return _with_tables(document, entries, diff_tables(old_html, new_html))


def _diff_sections(document: str, old_html: str | None, new_html: str | None) -> list[SectionDiff]:
    old_sections = {s.key: s for s in sections(old_html)} if old_html else {}
    new_sections = sections(new_html) if new_html else []
    keys = [s.key for s in new_sections] + [k for k in old_sections if k not in {s.key for s in new_sections}]
    new_by_key = {s.key: s for s in new_sections}
    result = []
    for key in keys:
        before, after = old_sections.get(key), new_by_key.get(key)
        old_blocks = before.blocks if before else []
        new_blocks = after.blocks if after else []
        title = (after or before).title
        marked, insertions, deletions, by_sentence = redline_blocks(old_blocks, new_blocks)
        marked = _with_leads(marked, (before.leads if before else set()) | (after.leads if after else set()))
        retitled = before is not None and after is not None and before.title != after.title
        if retitled:
            title_marks, title_ins, title_dels = redline_text(before.title, after.title)
            marked = Markup(f'<p class="changed">{title_marks}</p>\n') + marked
            insertions, deletions = insertions + title_ins, deletions + title_dels
        result.append(
            SectionDiff(
                document=document,
                key=key,
                title=title,
                changed=old_blocks != new_blocks or retitled,
                html=marked,
                insertions=insertions,
                deletions=deletions,
                by_sentence=by_sentence,
            )
        )
    return result
