"""Every CSV the tool writes goes through `csv_bytes`, so no cell can run as a formula.

Spreadsheet programs (Excel, LibreOffice, Google Sheets) treat a cell that begins with `=`,
`+`, `-` or `@` as a formula, and some also a cell that begins with a tab or a carriage return
followed by one. Supplier-controlled text (company names, file names, smelter names) lands in
these files, so such a cell is written with a leading apostrophe, the usual neutralisation
(OWASP "CSV injection"): the spreadsheet shows the text, and a reader of the raw CSV sees
the apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """The cell as text a spreadsheet will not evaluate."""
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell


def csv_bytes(header: Iterable[str], rows: Iterable[Iterable[str]]) -> bytes:
    """A UTF-8 CSV (LF line ends, minimal quoting) with every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([neutralise(cell) for cell in header])
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    return buffer.getvalue().encode("utf-8")
