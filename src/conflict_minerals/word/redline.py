"""`cmr diff --format docx`: the new filing in Word with every change against the old one as a
native tracked change (w:ins / w:del), so that Accept All gives the new documents and Reject All
the old ones, word for word.

Both sides are read into blocks exactly as their own .docx are (reader.py); blocks are aligned
with difflib, changed paragraphs and table cells word by word with the same tokens and joining
rules as diff.html (diff/prose.py), rows of a table one by one. A whole paragraph or row added or
removed is tracked with its mark, so accepting or rejecting removes it entirely. The data changes
(the summary, figures with deltas, smelters and countries) come first as ordinary content.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from lxml import html as lxml_html

from ..diff.matching import opcodes
from ..diff.prose import similar, tokens, word_opcodes
from .docx import RevisionStamp, RowPlan, Segment, Writer
from .model import Block, Cell, Contents, Figure, Paragraph, Row, RunningHeader, Span, Table, WordDocument
from .reader import read_document

AUTHOR = "cmr diff"


def _key(block: Block) -> tuple:
    if isinstance(block, Paragraph):
        return ("p", block.text)
    if isinstance(block, Table):
        header = next((row.text for row in block.rows if row.header), block.rows[0].text)
        return ("t", block.kind, header)
    if isinstance(block, Figure):
        return ("f", block.description, block.png)
    return ("c",)


def _words(spans: Sequence[Span]) -> list[tuple[str, Span]]:
    """Each token of a paragraph with the span (formatting, link) it is printed in."""
    return [(token, span) for span in spans for token in tokens(span.text)]


def word_segments(old: Sequence[Span], new: Sequence[Span]) -> list[Segment]:
    """The new paragraph's runs with the old one's words struck and the new ones inserted."""
    a, b = _words(old), _words(new)
    segments: list[Segment] = []
    for tag, i1, i2, j1, j2 in word_opcodes([t for t, _ in a], [t for t, _ in b]):
        if tag == "equal":
            segments += [(replace(span, text=token), None) for token, span in b[j1:j2]]
            continue
        segments += [(replace(span, text=token), "del") for token, span in a[i1:i2]]
        segments += [(replace(span, text=token), "ins") for token, span in b[j1:j2]]
    return _joined(segments)


def _joined(segments: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for span, mark in segments:
        same_run = out and out[-1][1] == mark and replace(out[-1][0], text="") == replace(span, text="")
        if same_run and "\n" not in (span.text, out[-1][0].text):
            out[-1] = (replace(out[-1][0], text=out[-1][0].text + span.text), mark)
            continue
        out.append((span, mark))
    return out


def _similar(a: str, b: str) -> bool:
    return similar(tokens(a), tokens(b))


def _row_plans(old: Table, new: Table) -> list[RowPlan]:
    """The new table's rows, each unchanged, changed cell by cell, or inserted, and the old rows
    that are gone, deleted. Rows are matched by their key column (below): a row whose key is on
    both sides is the same row, and only its changed cells are marked, so an unchanged label
    ("Suppliers surveyed", "Title:") stays plain and the changed figure is struck and inserted
    in its cell; a whole row is inserted or deleted only when its key is new or gone."""
    column = _key_column(old, new)
    if column is None:
        return _aligned_plans(old, new)
    old_keys, new_keys = _row_keys(old, column), _row_keys(new, column)
    plans: list[RowPlan] = []
    for tag, i1, i2, j1, j2 in opcodes(old_keys, new_keys):
        if tag == "equal":
            for before, after in zip(old.rows[i1:i2], new.rows[j1:j2], strict=True):
                plans += _changed(before, after)
            continue
        plans += [RowPlan(row, "del") for row in old.rows[i1:i2]]
        plans += [RowPlan(row, "ins") for row in new.rows[j1:j2]]
    return plans


def _changed(before: Row, after: Row) -> list[RowPlan]:
    """The same row on both sides: as it is, or with its changed cells marked word by word;
    cells laid out differently on each side are the old row deleted and the new inserted."""
    if before == after:
        return [RowPlan(after)]
    if [c.colspan for c in before.cells] != [c.colspan for c in after.cells]:
        return [RowPlan(before, "del"), RowPlan(after, "ins")]
    cells = [
        word_segments(_cell_spans(x), _cell_spans(y)) for x, y in zip(before.cells, after.cells, strict=True)
    ]
    return [RowPlan(after, None, cells)]


def _row_keys(table: Table, column: int) -> list[tuple]:
    """A key per row: the key column's text for the body, the position for header and total rows."""
    keys: list[tuple] = []
    for index, row in enumerate(table.rows):
        if row.header or row.total:
            keys.append(("header" if row.header else "total", index if row.header else 0))
        else:
            keys.append(("row", row.cells[column].text))
    return keys


def _key_column(old: Table, new: Table) -> int | None:
    """The column that names each body row: one whose texts are all present and different from
    each other on both sides (the smelter ID, the figure's label, the year); of several, the one
    the most rows share, so a renamed smelter is still the same row by its ID."""
    best, best_shared = None, -1
    old_body = [row for row in old.rows if not (row.header or row.total)]
    new_body = [row for row in new.rows if not (row.header or row.total)]
    if not old_body or not new_body:
        return None
    width = min(len(row.cells) for row in old_body + new_body)
    for column in range(width):
        if any(len(row.cells) != len(old_body[0].cells) for row in old_body + new_body):
            return None
        old_texts = [row.cells[column].text for row in old_body]
        new_texts = [row.cells[column].text for row in new_body]
        unique = all(len(set(texts)) == len(texts) and all(texts) for texts in (old_texts, new_texts))
        if unique and (shared := len(set(old_texts) & set(new_texts))) > best_shared:
            best, best_shared = column, shared
    return best if best_shared > 0 else None


def _aligned_plans(old: Table, new: Table) -> list[RowPlan]:
    """Rows aligned by their whole text, for a table with no key column."""
    plans: list[RowPlan] = []
    for tag, i1, i2, j1, j2 in opcodes([r.text for r in old.rows], [r.text for r in new.rows]):
        if tag == "equal":
            plans += [RowPlan(row) for row in new.rows[j1:j2]]
            continue
        olds, news = deque(old.rows[i1:i2]), deque(new.rows[j1:j2])
        while olds or news:
            if olds and news and _same_row(olds[0], news[0]):
                plans += _changed(olds.popleft(), news.popleft())
            elif olds and (not news or len(olds) >= len(news)):
                plans.append(RowPlan(olds.popleft(), "del"))
            else:
                plans.append(RowPlan(news.popleft(), "ins"))
    return plans


def _same_row(a: Row, b: Row) -> bool:
    """One row changed, not one row replacing another: the same cells, and its first cell (its
    label) or most of them still saying the same thing."""
    if [c.colspan for c in a.cells] != [c.colspan for c in b.cells]:
        return False
    same = sum(x.text == y.text for x, y in zip(a.cells, b.cells, strict=True))
    return (a.cells[0].text == b.cells[0].text and a.cells[0].text != "") or same * 2 > len(a.cells)


def _cell_spans(cell: Cell) -> list[Span]:
    return [span for paragraph in cell.paragraphs[:1] for span in paragraph.spans]


class Redline:
    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    def whole(self, block: Block, mark: str) -> None:
        """A block only one side has: every word and mark of it tracked."""
        if isinstance(block, Paragraph):
            self.writer.paragraph(block, mark=mark)
        elif isinstance(block, Table):
            self.writer.table(block, [RowPlan(row, mark) for row in block.rows])
        elif isinstance(block, Figure):
            self.writer.figure(block, mark=mark)
        elif isinstance(block, Contents):
            self.writer.contents(block, mark=mark)

    def changed(self, old: Block, new: Block) -> None:
        if isinstance(old, Paragraph) and isinstance(new, Paragraph):
            self.writer.paragraph(new, word_segments(old.spans, new.spans))
        elif isinstance(old, Table) and isinstance(new, Table):
            self.writer.table(new, _row_plans(old, new))
        else:
            self.whole(old, "del")
            self.whole(new, "ins")

    def pairable(self, old: Block, new: Block) -> bool:
        if isinstance(old, Paragraph) and isinstance(new, Paragraph):
            return _similar(old.text, new.text)
        if isinstance(old, Table) and isinstance(new, Table):
            return _key(old) == _key(new)
        return False

    def blocks(self, old: Sequence[Block], new: Sequence[Block]) -> None:
        for tag, i1, i2, j1, j2 in opcodes([_key(b) for b in old], [_key(b) for b in new]):
            if tag == "equal":
                for before, after in zip(old[i1:i2], new[j1:j2], strict=True):
                    if before == after or isinstance(after, Paragraph):
                        self.writer.block(after)  # equal words; formatting as the new filing has it
                    else:
                        self.changed(before, after)
                continue
            olds, news = deque(old[i1:i2]), deque(new[j1:j2])
            while olds or news:
                if olds and news and self.pairable(olds[0], news[0]):
                    self.changed(olds.popleft(), news.popleft())
                elif olds and (not news or len(olds) >= len(news)):
                    self.whole(olds.popleft(), "del")
                else:
                    self.whole(news.popleft(), "ins")


def _signature_date(document_html: str | None, fallback: date) -> date:
    """The new filing's signature date, as its documents carry it (dcterms.created)."""
    if document_html:
        root = lxml_html.document_fromstring(document_html.encode("utf-8"))
        found = root.find(".//meta[@name='dcterms.created']")
        if found is not None:
            try:
                return date.fromisoformat(found.get("content") or "")
            except ValueError:
                pass
    return fallback


def _data_part(diff_html: str) -> str:
    """The redline page without its text sections: cover, summary and data changes."""
    root = lxml_html.document_fromstring(diff_html.encode("utf-8"))
    for element in root.xpath("//section[starts-with(@id, 'doc-')] | //p[@class='legend']"):
        element.getparent().remove(element)
    return lxml_html.tostring(root, encoding="unicode")


def redline_docx(
    old_documents: dict[str, str],
    new_documents: dict[str, str],
    order: Sequence[str],
    diff_html: str,
    fallback_date: date,
) -> bytes:
    """diff.docx: the data changes, then each document of the new filing tracked against the old."""
    when = _signature_date(new_documents.get(order[0]), fallback_date)
    data = read_document(_data_part(diff_html), "diff.html", when)
    cover = WordDocument(
        title=data.title,
        author=AUTHOR,
        subject=data.title,
        keywords="redline, Form SD, conflict minerals",
        generator=data.generator,
        created=when,
        header=RunningHeader(data.title, "", "Tracked changes by cmr diff"),
        blocks=data.blocks,
    )
    writer = Writer(cover, RevisionStamp(AUTHOR, when))
    for block in data.blocks:
        writer.block(block)
    redline = Redline(writer)
    for stem in order:
        if stem not in old_documents and stem not in new_documents:
            continue
        old = read_document(old_documents[stem], f"{stem}.html", when) if stem in old_documents else None
        new = read_document(new_documents[stem], f"{stem}.html", when) if stem in new_documents else None
        writer.new_part((new or old).header)
        redline.blocks(old.blocks if old else (), new.blocks if new else ())
    return writer.save()
