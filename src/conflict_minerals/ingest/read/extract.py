"""Read one workbook through its version's cell map into a SupplierWorkbook.

Everything here is per file and independent of the reference and status lists, so results
can be cached by the file's content hash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from ...manifest import sha256
from ..models import (
    Answer,
    CompanyInfo,
    Finding,
    FindingSeverity,
    ProductRow,
    RowKind,
    SmelterRow,
    SupplierWorkbook,
    UnreadableWorkbook,
)
from .cellmap import CellMap, CompanyQuestion, load_cellmap
from .cleantext import replace_invalid_text
from .detect import Detected, detect
from .reader import (
    Limits,
    ReadFailure,
    ReadTimeout,
    Sheet,
    Workbook,
    cell_date,
    column_index,
    multiline_text,
    normalise_cid,
    open_workbook,
    read_limited,
    text,
)
from .sheetscan import XLS, ScanUnsupported, open_scanned

DEFAULT_LIMITS = Limits()

# Bump when extraction changes, so cached results are not reused. 4: results that ran out of
# memory are no longer cached (the ones cached before are dropped), and mine-location cells
# keep their line breaks. 5: results say which reader read the sheets. 6: characters no output
# may hold are replaced, with a finding.
EXTRACTOR_VERSION = "6"
OUT_OF_MEMORY = "reading the file needed more memory than allowed"

NOT_LISTED = "smelter not listed"
NOT_YET_IDENTIFIED = "smelter not yet identified"
_MINERAL_LABEL = re.compile(r"[^a-z]+")


def normalise_answer(meaning: str, value: object) -> str | None:
    """Answers as the English option strings, with the known variants folded together."""
    if meaning == "supplier_response" and isinstance(value, (int, float)) and not isinstance(value, bool):
        # CMRT 6.01-6.22 store the "100%" option as the number 1 (formatted as a percent).
        if value in (1, 1.0):
            return "100%"
        if 0 < value < 1:
            return f"{value * 100:g}%"
    raw = text(value)
    if raw is None:
        return None
    if meaning == "supplier_response" and re.fullmatch(r"(1|1\.0+|100\s*%)", raw):
        return "100%"
    return raw


def _company(sheet: Sheet, cellmap: CellMap) -> CompanyInfo:
    values: dict[str, object] = {}
    for field, address in cellmap.declaration.company.items():
        if field == "effective_date":
            values["effective_date"], values["effective_date_raw"] = cell_date(sheet.cell(address))
        else:
            values[field] = text(sheet.cell(address))
    return CompanyInfo.model_validate(values)


def _mineral_rows(sheet: Sheet, cellmap: CellMap, first_row: int) -> list[tuple[str, int]]:
    """(mineral, row) for one question block."""
    spec = cellmap.declaration.minerals
    if spec.mode == "fixed":
        return [(mineral, first_row + offset) for offset, mineral in enumerate(spec.rows)]
    label_column = column_index(spec.label_column)
    found = []
    for offset in range(spec.count):
        label = text(sheet.value(first_row + offset, label_column))
        if label:
            name = _MINERAL_LABEL.sub(" ", label.lower().replace("(*)", "")).strip()
            if name and not name.startswith("delete"):
                found.append((name, first_row + offset))
    return found


def _answers(sheet: Sheet, cellmap: CellMap) -> tuple[list[str], dict[str, list[Answer]]]:
    declaration = cellmap.declaration
    answer_column = column_index(declaration.answer_column)
    comment_column = column_index(declaration.comment_column) if declaration.comment_column else None
    by_mineral: dict[str, list[Answer]] = {}
    minerals: list[str] = []
    for question in declaration.questions:
        for mineral, row in _mineral_rows(sheet, cellmap, question.first_row):
            if mineral not in by_mineral:
                by_mineral[mineral] = []
                minerals.append(mineral)
            comment = text(sheet.value(row, comment_column)) if comment_column is not None else None
            by_mineral[mineral].append(
                Answer(
                    question=question.id,
                    meaning=question.meaning,
                    value=normalise_answer(question.meaning, sheet.value(row, answer_column)),
                    cell=f"{declaration.answer_column}{row}",
                    comment=comment,
                )
            )
    return minerals, by_mineral


def _company_answers(sheet: Sheet, cellmap: CellMap) -> list[Answer]:
    comment_letter = cellmap.declaration.comment_column
    answers = []
    for question in cellmap.declaration.company_questions:
        answers += _company_question(sheet, question, comment_letter)
    return answers


def _company_question(sheet: Sheet, question: CompanyQuestion, comment_letter: str | None) -> list[Answer]:
    letters = re.match(r"[A-Z]+", question.cell)[0]
    first_row = int(question.cell[len(letters) :])
    rows = range(first_row, first_row + max(question.per_mineral_rows, 1))
    answers = []
    for row in rows:
        comment = text(sheet.cell(f"{comment_letter}{row}")) if comment_letter else None
        answers.append(
            Answer(
                question=question.id,
                meaning=question.meaning,
                value=normalise_answer(question.meaning, sheet.cell(f"{letters}{row}")),
                cell=f"{letters}{row}",
                comment=comment,
            )
        )
    return answers


@dataclass(frozen=True)
class LookupRow:
    """One row of a template's Smelter Look-up sheet (the embedded smelter reference list)."""

    metal: str
    lookup_name: str
    name: str | None
    country: str | None
    cid: str


def lookup_rows(workbook: Workbook, cellmap: CellMap) -> list[LookupRow]:
    """The workbook's Smelter Look-up rows that carry a metal, a look-up name and a smelter ID."""
    spec = cellmap.smelter_lookup
    if spec is None or not workbook.has_sheet(spec.sheet):
        return []
    sheet = workbook.sheet(spec.sheet)
    columns = {key: column_index(letter) for key, letter in spec.columns.items()}

    def cell(row: int, key: str) -> str | None:
        return text(sheet.value(row, columns[key])) if key in columns else None

    found = []
    for row in range(spec.first_row, sheet.row_count + 1):
        metal, lookup_name = cell(row, "metal"), cell(row, "lookup_name")
        cid = normalise_cid(sheet.value(row, columns["cid"]))
        if metal and lookup_name and cid:
            found.append(LookupRow(metal.lower(), lookup_name, cell(row, "name"), cell(row, "country"), cid))
    return found


@dataclass
class _LookupIndex:
    """The workbook's own look-up, used when the Smelter List's formula cells carry no cached
    values (a file last saved by a program without a calculation engine)."""

    by_name: dict[tuple[str, str], LookupRow]
    by_cid: dict[str, LookupRow]

    @classmethod
    def of(cls, workbook: Workbook, cellmap: CellMap) -> _LookupIndex:
        rows = lookup_rows(workbook, cellmap)
        by_cid: dict[str, LookupRow] = {}
        for row in rows:
            by_cid.setdefault(row.cid, row)
        return cls({(row.metal, row.lookup_name.casefold()): row for row in rows}, by_cid)


def _row_kind(lookup_name: str | None, name: str | None, cid: str | None) -> RowKind:
    markers = {(lookup_name or "").casefold(), (name or "").casefold()}
    if NOT_YET_IDENTIFIED in markers:
        return RowKind.NOT_YET_IDENTIFIED
    if NOT_LISTED in markers:
        return RowKind.NOT_LISTED
    if cid:
        return RowKind.IDENTIFIED
    return RowKind.UNIDENTIFIED


_SMELTER_ROW_FIELDS = frozenset(SmelterRow.model_fields)


def _filled_rows(sheet: Sheet, first: int, last: int, columns: list[int]) -> list[int]:
    """Row numbers (1-based) from first to last whose cells in `columns` hold anything.

    Templates carry thousands of formula rows that cache "" or 0; a C-level truthiness test per
    row is the cheapest way past them (this loop runs for every row of every workbook)."""
    pick = itemgetter(*columns) if len(columns) > 1 else (lambda values: (values[columns[0]],))
    rows = sheet.rows[first - 1 : last]
    if rows and min(map(len, rows)) > max(columns):  # no short row: the fast path
        return [number for number, values in enumerate(rows, start=first) if any(pick(values))]
    found = []
    for number, values in enumerate(rows, start=first):
        try:
            if any(pick(values)):
                found.append(number)
        except IndexError:  # a short row: test the cells it has
            if any(values[c] for c in columns if c < len(values)):
                found.append(number)
    return found


def _smelters(workbook: Workbook, cellmap: CellMap) -> list[SmelterRow]:
    spec = cellmap.smelter_list
    if not workbook.has_sheet(spec.sheet):
        return []
    sheet = workbook.sheet(spec.sheet)
    columns = {key: column_index(letter) for key, letter in spec.columns.items()}
    lookup: _LookupIndex | None = None
    rows = []
    last = min(sheet.row_count, spec.last_row)
    # Template rows hold formulas even when empty: look at the identifying cells first and only
    # read the whole row when one of them holds something.
    key_columns = [columns[k] for k in ("cid_input", "metal", "lookup_name", "name") if k in columns]
    for row in _filled_rows(sheet, spec.first_row, last, key_columns):
        raw = sheet.rows[row - 1]
        values = {key: (raw[index] if index < len(raw) else None) for key, index in columns.items()}
        fields = {key: text(value) for key, value in values.items() if key not in ("cid", "cid_input")}
        if "mine_country" in values:
            # Its line breaks separate places ("Peru\nChile"): keep them for the mine-location reader.
            fields["mine_country"] = multiline_text(values["mine_country"])
        typed_id = values.get("cid_input")
        formula_id = values.get("cid")
        if not any(fields.get(k) for k in ("metal", "lookup_name", "name")) and not text(typed_id):
            continue
        cid = normalise_cid(formula_id)
        cid_from = spec.columns.get("cid") if cid else None
        if cid is None and (cid := normalise_cid(typed_id)):
            cid_from = spec.columns.get("cid_input")
        if cid is None and fields.get("metal") and fields.get("lookup_name"):
            lookup = lookup or _LookupIndex.of(workbook, cellmap)
            if found := lookup.by_name.get((fields["metal"].lower(), fields["lookup_name"].casefold())):
                cid, cid_from = found.cid, "Smelter Look-up"
                fields["name"] = fields.get("name") or found.name
        if cid and not fields.get("metal"):
            # An ID typed in column A, with the metal, name and country formulas uncached.
            lookup = lookup or _LookupIndex.of(workbook, cellmap)
            if found := lookup.by_cid.get(cid):
                fields["metal"] = found.metal
                fields["name"] = fields.get("name") or found.name
                fields["country"] = fields.get("country") or found.country
        raw_id = text(formula_id) or text(typed_id)
        rows.append(
            SmelterRow(
                row=row,
                cid=cid,
                cid_raw=raw_id,
                cid_from=cid_from,
                kind=_row_kind(fields.get("lookup_name"), fields.get("name"), cid),
                **{k: v for k, v in fields.items() if k in _SMELTER_ROW_FIELDS},
            )
        )
    return rows


def _products(workbook: Workbook, cellmap: CellMap) -> list[ProductRow]:
    spec = cellmap.product_list
    if spec is None or not workbook.has_sheet(spec.sheet):
        return []
    sheet = workbook.sheet(spec.sheet)
    number_column = column_index(spec.columns["number"])
    name_column = column_index(spec.columns["name"])
    products = []
    last = min(sheet.row_count, spec.last_row)
    for row in _filled_rows(sheet, spec.first_row, last, [number_column, name_column]):
        number, name = text(sheet.value(row, number_column)), text(sheet.value(row, name_column))
        if (number or name or "").startswith(("©", "Copyright")):
            break  # the template's footer line, below the product rows
        if number or name:
            products.append(ProductRow(row=row, number=number, name=name))
    return products


def extract(
    workbook: Workbook,
    detected: Detected,
    cellmap: CellMap,
    file: str,
    data: bytes,
    digest: str,
    with_products: bool = True,
) -> SupplierWorkbook:
    declaration = workbook.sheet(cellmap.declaration.sheet)
    minerals, answers = _answers(declaration, cellmap)
    read_findings = []
    if not workbook.has_sheet(cellmap.smelter_list.sheet):
        read_findings.append(
            Finding(
                code="sheet-missing",
                severity=FindingSeverity.ERROR,
                file=file,
                sheet=cellmap.smelter_list.sheet,
                message=f"the {cellmap.smelter_list.sheet} sheet is missing, so no smelter could be read",
            )
        )
    book = SupplierWorkbook(
        file=file,
        sha256=digest,
        size=len(data),
        template=detected.template,
        version=detected.version,
        family=cellmap.family,
        encrypted=workbook.encrypted,
        reader=workbook.reader,
        company=_company(declaration, cellmap),
        minerals=minerals,
        answers=answers,
        company_answers=_company_answers(declaration, cellmap),
        smelters=_smelters(workbook, cellmap),
        # The product list only feeds the details JSON; skipping the sheet saves a tenth of a read.
        products=_products(workbook, cellmap) if with_products else [],
        read_findings=read_findings,
    )
    return replace_invalid_text(book, cellmap)


def _unreadable(
    file: str, digest: str | None, size: int | None, code: str, message: str
) -> UnreadableWorkbook:
    return UnreadableWorkbook(
        file=file,
        sha256=digest,
        size=size,
        finding=Finding(code=code, severity=FindingSeverity.ERROR, file=file, message=message),
    )


def read_supplier_file(
    path: Path, file: str, limits: Limits = DEFAULT_LIMITS
) -> SupplierWorkbook | UnreadableWorkbook:
    """Read one supplier file in this process (tests and tools; `cmr ingest` reads in guarded
    workers, see runner.py); any failure becomes an UnreadableWorkbook naming the file."""
    try:
        data = read_limited(str(path), limits)
    except ReadFailure as failure:
        return _unreadable(file, None, None, failure.code, failure.message)
    except OSError as error:
        return _unreadable(file, None, None, "file-unreadable", f"cannot read the file: {error.strerror}")
    return read_supplier_bytes(data, file, limits)


def read_supplier_bytes(
    data: bytes,
    file: str,
    limits: Limits = DEFAULT_LIMITS,
    digest: str | None = None,
    with_products: bool = True,
) -> SupplierWorkbook | UnreadableWorkbook:
    """Read one workbook's bytes; `digest` is their sha256 when the caller already has it.

    An .xlsx is read by the streaming reader; if it meets something it does not handle, the
    workbook is read again with calamine, and the details say why."""
    digest = digest or sha256(data)
    try:
        return _read_supplier(data, file, limits, digest, with_products, streaming=True)
    except ScanUnsupported as reason:
        result = _read_supplier(data, file, limits, digest, with_products, streaming=False)
        if isinstance(result, SupplierWorkbook) and str(reason) != XLS:
            result.reader_note = f"read with calamine: {reason}"
        return result


def _read_supplier(
    data: bytes, file: str, limits: Limits, digest: str, with_products: bool, streaming: bool
) -> SupplierWorkbook | UnreadableWorkbook:
    def unreadable(code: str, message: str) -> UnreadableWorkbook:
        return _unreadable(file, digest, len(data), code, message)

    try:
        workbook = open_scanned(data, limits) if streaming else open_workbook(data, limits)
        detected = detect(workbook)
        if detected is None:
            return unreadable("template-unknown", "not an RMI reporting template (CMRT, EMRT or CRT)")
        if detected.family is None:
            version = detected.version or "unknown version"
            return unreadable(
                "template-unsupported", f"{detected.template} {version} is not a supported template version"
            )
        cellmap = load_cellmap(detected.family)
        if not workbook.has_sheet(cellmap.declaration.sheet):
            return unreadable("sheet-missing", f"the {cellmap.declaration.sheet} sheet is missing")
        return extract(workbook, detected, cellmap, file, data, digest, with_products)
    except ReadFailure as failure:
        return unreadable(failure.code, failure.message)
    except ScanUnsupported:
        raise
    except MemoryError:
        return unreadable("file-refused", OUT_OF_MEMORY)
    except RecursionError:
        return unreadable("file-corrupt", "the workbook structure is nested too deeply")
    except (ReadTimeout, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:
        # A bad file must become a finding, never crash the run.
        return unreadable("file-corrupt", f"the workbook cannot be read ({type(error).__name__}: {error})")
