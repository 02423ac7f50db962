"""The documents' tables compared cell by cell, so the redline says what a table now shows.

A section is unchanged only when neither its words nor the figures or rows it shows changed: the
redline (prose.py) gives Tables 1 to 3 and each annex's table an entry of their own, listing the
rows added and removed and each changed cell as old and new value. Rows are matched by the first
column whose values are unique on both sides (the smelter ID in Annex A, the country in Annex B,
the measure in Table 1), so a moved or inserted row never shows as a change of every row below.
A cell holding only a mark ("X") reads as its column added or removed ("Uganda: Tin added").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import html as lxml_html
from markupsafe import Markup, escape

_CAPTION_NUMBER = re.compile(r"^(Table\s+\d+)\b")
_MARK = "X"


@dataclass
class DataTable:
    key: str  # "table-2", or "<section>-table" for a table without a numbered caption
    title: str  # "Table 2. SORs identified by metal and RMAP status", or the section's title
    section: str  # the key of the section it stands in
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class TableDiff:
    key: str
    title: str
    section: str
    changes: list[Markup]

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _text(element: lxml_html.HtmlElement) -> str:
    return " ".join(element.text_content().split())


def read_tables(document_html: str) -> list[DataTable]:
    """The data tables of a document (class "data"), in order, with the section each stands in."""
    root = lxml_html.document_fromstring(document_html.encode("utf-8"))
    found: list[DataTable] = []
    for table in root.iter("table"):
        if "data" not in (table.get("class") or "").split():
            continue
        section = next((a for a in table.iterancestors("section") if a.get("id")), None)
        section_key = section.get("id") if section is not None else "start"
        heading = section.find(".//h2") if section is not None else None
        caption = table.find("caption")
        caption_text = _text(caption) if caption is not None else ""
        numbered = _CAPTION_NUMBER.match(caption_text)
        if numbered:
            key = numbered[1].lower().replace(" ", "-")
            title = caption_text
        else:
            key = f"{section_key}-table"
            title = _text(heading) if heading is not None else section_key
        header = table.find(".//thead/tr")
        columns = [_text(cell) for cell in header] if header is not None else []
        rows = []
        for row in table.iter("tr"):
            if row is header or (row.getparent() is not None and row.getparent().tag == "thead"):
                continue
            cells = [_text(cell) for cell in row if cell.tag in ("td", "th")]
            if cells:
                rows.append(cells)
        found.append(DataTable(key, title, section_key, columns, rows))
    return found


def _row_key_column(old: DataTable | None, new: DataTable | None) -> int:
    """The first column whose values are unique on both sides."""
    tables = [t for t in (old, new) if t is not None]
    width = min((len(row) for t in tables for row in t.rows), default=0)
    for column in range(width):
        if all(len({_key_text(row[column]) for row in t.rows}) == len(t.rows) for t in tables):
            return column
    return 0


def _key_text(cell: str) -> str:
    # "Uganda*" and "Uganda" are one country: the asterisk marks a Covered Country.
    return cell.rstrip("*").strip()


def _column(table: DataTable, index: int) -> str:
    return table.columns[index] if index < len(table.columns) else f"column {index + 1}"


def _marks(table: DataTable, row: list[str], skip: int) -> list[str]:
    return [_column(table, i) for i, cell in enumerate(row) if i != skip and cell == _MARK]


def _is_mark_table(table: DataTable, key_column: int) -> bool:
    cells = [cell for row in table.rows for i, cell in enumerate(row) if i != key_column]
    return bool(cells) and all(cell in ("", _MARK) for cell in cells)


def _row_label(row: list[str], key_column: int, table: DataTable) -> str:
    label = _key_text(row[key_column])
    if key_column != 0 and row:
        return f"{label} ({row[0]}{', ' + row[1] if key_column > 1 else ''})"
    return label


def compare_tables(old: DataTable | None, new: DataTable | None) -> TableDiff:
    base = new or old
    assert base is not None
    key_column = _row_key_column(old, new)
    old_rows = {_key_text(row[key_column]): row for row in (old.rows if old else []) if len(row) > key_column}
    new_rows = {_key_text(row[key_column]): row for row in (new.rows if new else []) if len(row) > key_column}
    marks = _is_mark_table(base, key_column)
    changes: list[Markup] = []
    for name in [k for k in new_rows if k not in old_rows]:
        row = new_rows[name]
        changes.append(_whole_row(row, key_column, base, marks, "added", "ins"))
    for name in [k for k in old_rows if k not in new_rows]:
        row = old_rows[name]
        changes.append(_whole_row(row, key_column, old or base, marks, "removed", "del"))
    for name in [k for k in new_rows if k in old_rows]:
        before, after = old_rows[name], new_rows[name]
        label = _row_label(after, key_column, base)
        cells = []
        for index in range(max(len(before), len(after))):
            if index == key_column:
                continue
            a = before[index] if index < len(before) else ""
            b = after[index] if index < len(after) else ""
            if a == b:
                continue
            column = escape(_column(base, index))
            if marks and {a, b} <= {"", _MARK}:
                verb, tag = ("added", "ins") if b == _MARK else ("removed", "del")
                cells.append(Markup(f"<{tag}>{column} {verb}</{tag}>"))
            else:
                old_text = f"<del>{escape(a)}</del>" if a else "(blank)"
                new_text = f"<ins>{escape(b)}</ins>" if b else "(blank)"
                # A table of one value per row (Table 1) needs no column name.
                named = f"{column}: " if len(base.columns) > 2 else ""
                cells.append(Markup(f"{named}{old_text} {new_text}"))
        if before[key_column] != after[key_column]:  # the Covered Country mark itself
            cells.append(
                Markup(f"<del>{escape(before[key_column])}</del> <ins>{escape(after[key_column])}</ins>")
            )
        if cells:
            changes.append(Markup(f"{escape(label)}: ") + Markup("; ").join(cells))
    if old is not None and new is not None and old.columns != new.columns:
        changes.insert(
            0,
            Markup("Columns: <del>{}</del> <ins>{}</ins>").format(
                " | ".join(old.columns), " | ".join(new.columns)
            ),
        )
    return TableDiff(base.key, base.title, base.section, changes)


def _whole_row(row: list[str], key_column: int, table: DataTable, marks: bool, verb: str, tag: str) -> Markup:
    label = escape(_row_label(row, key_column, table))
    if marks:
        detail = ", ".join(_marks(table, row, key_column))
        shown = f"{label} ({escape(detail)})" if detail else label
        return Markup(f"<{tag}>{shown} {verb}</{tag}>")
    values = "; ".join(
        f"{_column(table, i)}: {cell}" for i, cell in enumerate(row) if i != key_column and cell
    )
    return Markup(f"<{tag}>{label} {verb}</{tag}>") + (
        Markup(" ({})").format(values) if values else Markup("")
    )


def diff_tables(old_html: str | None, new_html: str | None) -> list[TableDiff]:
    """Every data table of either side, compared; in the new document's order, then the old's."""
    old_tables = {t.key: t for t in read_tables(old_html)} if old_html else {}
    new_tables = read_tables(new_html) if new_html else []
    keys = [t.key for t in new_tables] + [k for k in old_tables if k not in {t.key for t in new_tables}]
    new_by_key = {t.key: t for t in new_tables}
    return [compare_tables(old_tables.get(key), new_by_key.get(key)) for key in keys]
