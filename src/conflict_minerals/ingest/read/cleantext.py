"""Supplier text that no output may hold, replaced where it is read.

A workbook from a stranger can hold characters no document can (control characters, lone
surrogates, U+FFFE; see characters.py): an .xls cell, or an `_x0001_` escape in an .xlsx. Each
one is replaced by U+FFFD, which shows a reader where something was, and reported as a
`text-invalid-character` finding naming the sheet and the cell, so the survey, the findings
and every document made from them stay writable and one supplier cannot block a build.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from pydantic import BaseModel

from ...filing.characters import describe, has_invalid, invalid_characters, replace_invalid
from ..models import Answer, Finding, FindingSeverity, SupplierWorkbook
from .cellmap import CellMap

CODE = "text-invalid-character"


def _strings(model: BaseModel) -> Iterator[str]:
    for value in model.__dict__.values():
        if value.__class__ is str:
            yield value


def holds_invalid_text(book: SupplierWorkbook) -> bool:
    """Whether any text read from the workbook holds a refused character (one pass, at C speed:
    this runs for every workbook of every run)."""
    parts = [*_strings(book.company), *book.minerals]
    for items in (*book.answers.values(), book.company_answers):
        for item in items:
            parts += _strings(item)
    for rows in (book.smelters, book.products):
        for row in rows:
            parts += _strings(row)
    return has_invalid("".join(parts))


def replace_invalid_text(book: SupplierWorkbook, cellmap: CellMap) -> SupplierWorkbook:
    """The workbook with every refused character of its text replaced, and a finding for each cell."""
    if not holds_invalid_text(book):
        return book
    findings: list[Finding] = []

    def clean(value: str | None, sheet: str, cell: str) -> str | None:
        if value is None or not has_invalid(value):
            return value
        named = sorted({describe(match[0]) for match in invalid_characters(value)})
        findings.append(
            Finding(
                code=CODE,
                severity=FindingSeverity.WARNING,
                file=book.file,
                sheet=sheet,
                cell=cell,
                message=f"the text holds {', '.join(named)}, which no document can hold; "
                "it is replaced by U+FFFD (\ufffd) in the survey results",
            )
        )
        return replace_invalid(value)

    declaration = cellmap.declaration
    company = {
        field: clean(value, declaration.sheet, declaration.company.get(field, "?"))
        if isinstance(value, str)
        else value
        for field, value in book.company.model_dump().items()
    }
    comment_column = declaration.comment_column

    def answer(item: Answer) -> Answer:
        row = item.cell.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        comment_cell = f"{comment_column}{row}" if comment_column else item.cell
        return item.model_copy(
            update={
                "value": clean(item.value, declaration.sheet, item.cell),
                "comment": clean(item.comment, declaration.sheet, comment_cell),
            }
        )

    smelters = [
        _cleaned_row(row, cellmap.smelter_list.sheet, cellmap.smelter_list.columns, clean)
        for row in book.smelters
    ]
    products = (
        [
            _cleaned_row(row, cellmap.product_list.sheet, cellmap.product_list.columns, clean)
            for row in book.products
        ]
        if cellmap.product_list is not None
        else book.products
    )
    cleaned = book.model_copy(
        update={
            "company": book.company.model_validate(company),
            "minerals": [clean(m, declaration.sheet, "minerals") or "" for m in book.minerals],
            "answers": {
                clean(mineral, declaration.sheet, "minerals") or "": [answer(a) for a in items]
                for mineral, items in book.answers.items()
            },
            "company_answers": [answer(a) for a in book.company_answers],
            "smelters": smelters,
            "products": products,
        }
    )
    return cleaned.model_copy(update={"read_findings": [*book.read_findings, *findings]})


_COLUMN_KEYS = {"cid_raw": "cid_input", "number": "number", "name": "name"}
Row = TypeVar("Row", bound=BaseModel)


def _cleaned_row(
    row: Row, sheet: str, columns: dict[str, str], clean: Callable[[str | None, str, str], str | None]
) -> Row:
    values = row.model_dump()
    update = {}
    for key, value in values.items():
        if isinstance(value, str) and has_invalid(value):
            letter = columns.get(key) or columns.get(_COLUMN_KEYS.get(key, key)) or "?"
            update[key] = clean(value, sheet, f"{letter}{values['row']}")
    return row.model_copy(update=update) if update else row
