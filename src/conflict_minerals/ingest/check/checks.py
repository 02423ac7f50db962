"""Findings about one supplier workbook: the CMRT Checker's rules and a reviewer's cross-checks.

Each finding has a stable code (listed in CODES with its severity), the file, the sheet and
cell, and a message written for the supplier who has to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

from ..models import Answer, Finding, FindingSeverity, RowKind, SmelterRow, SupplierWorkbook
from ..read.cellmap import load_cellmap
from ..read.detect import CURRENT_VERSIONS, version_order
from .lists import ReferenceList
from .locations import MineCell, PartKind, mine_cells, unread_parts

if TYPE_CHECKING:
    from .decisions import Decision, Decisions

ERROR, WARNING, INFO = FindingSeverity.ERROR, FindingSeverity.WARNING, FindingSeverity.INFO

CODES: dict[str, tuple[FindingSeverity, str]] = {
    "file-corrupt": (ERROR, "The file is not a readable workbook."),
    "file-refused": (ERROR, "The file was refused for safety (zip bomb, XML entities, size, symlink)."),
    "file-password": (ERROR, "The workbook is protected with a password other than Excel's default."),
    "file-unreadable": (ERROR, "The file could not be read from disk."),
    "file-timeout": (ERROR, "Reading the file took longer than the per-file limit."),
    "file-crashed": (ERROR, "The file crashed the workbook reader (damaged or hostile content)."),
    "file-duplicate": (WARNING, "A second copy of a workbook (a link or the same content): counted once."),
    "entry-folder": (INFO, "A folder named like a workbook: the workbooks inside it are read one by one."),
    "lookup-unreadable": (WARNING, "The template's Smelter Look-up could not be read as the reference list."),
    "template-unknown": (ERROR, "The file is not an RMI reporting template."),
    "template-unsupported": (ERROR, "The template version is not supported."),
    "sheet-missing": (ERROR, "A sheet the template needs is missing."),
    "template-outdated": (WARNING, "The supplier used an older template version."),
    "template-not-3tg": (INFO, "An EMRT or CRT: it is read, but not counted in the 3TG survey."),
    "required-field-missing": (ERROR, "A required company field is empty."),
    "scope-description-missing": (ERROR, "The declaration scope chosen needs a description of scope."),
    "answer-missing": (ERROR, "A required declaration answer is empty."),
    "email-invalid": (WARNING, "An email address is not valid."),
    "effective-date-invalid": (ERROR, "The effective date cannot be read as a date."),
    "effective-date-future": (WARNING, "The effective date is in the future."),
    "effective-date-before-period": (WARNING, "The effective date is before the reporting year."),
    "metal-in-scope-no-smelters": (ERROR, "A metal is declared in scope but no smelter is listed for it."),
    "smelters-metal-not-in-scope": (WARNING, "Smelters are listed for a metal declared not in scope."),
    "smelter-id-malformed": (ERROR, "A smelter ID is not CID followed by 6 digits."),
    "smelter-id-unknown": (ERROR, "A smelter ID is not on the smelter reference list."),
    "smelter-metal-mismatch": (ERROR, "A smelter ID belongs to a different metal."),
    "smelter-name-mismatch": (WARNING, "A smelter name does not match its ID in the reference list."),
    "smelter-duplicate-row": (WARNING, "The same smelter is listed twice for the same metal."),
    "smelter-not-listed-incomplete": (ERROR, "A 'Smelter not listed' row lacks the smelter name or country."),
    "smelter-not-yet-identified": (INFO, "A row says 'Smelter not yet identified'."),
    "smelter-unidentified": (WARNING, "A smelter row has a name but no smelter ID."),
    "text-invalid-character": (
        WARNING,
        "A cell holds a character no document can hold (a control character, U+FFFE); it is "
        "replaced by U+FFFD in the survey results.",
    ),
    "mine-location-unresolved": (
        WARNING,
        "A place in a mine-location cell could not be resolved to a country (free text, a misspelling, "
        "a region of no known country, or a row with no 3TG metal); its country is not in the survey.",
    ),
    "mine-location-ambiguous": (
        WARNING,
        "A place in a mine-location cell fits more than one country (Korea, Congo); it is not guessed.",
    ),
    "mine-location-decided": (
        INFO,
        "Mine-location text that could not be read, and that a reviewer has decided (the decisions file).",
    ),
    "decision-stale": (
        WARNING,
        "A reviewer's decision was made for other text than the cell now holds (a revised file): it is "
        "not applied; decide again.",
    ),
    "decision-unused": (
        WARNING,
        "A reviewer's decision names a cell that holds no unread mine-location text in this run.",
    ),
    "response-empty": (
        WARNING,
        "A blank template: no company and no answers. Not counted as a response, never the reference list.",
    ),
    "response-superseded": (
        INFO,
        "A supplier's earlier response (an older effective date or template revision), or the same "
        "declaration sent twice: not counted; the finding names the file that is.",
    ),
    "response-conflict": (
        WARNING,
        "Two responses of one supplier with the same effective date and revision say different things: "
        "the file whose name sorts last is counted until the supplier says which one is current.",
    ),
    "mine-location-declined": (
        INFO,
        "A mine-location cell names no place: it points elsewhere or declines (Unknown, N/A, "
        "'see the RMI list', confidential).",
    ),
}

# What each kind of unreadable mine-location part is reported as.
_MINE_LOCATION_CODES = {
    PartKind.UNRESOLVED: "mine-location-unresolved",
    PartKind.AMBIGUOUS: "mine-location-ambiguous",
    PartKind.DECLINED: "mine-location-declined",
}

_EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[A-Za-z]{2,}")
_ANSWERED_NO = "no"


@dataclass(frozen=True)
class CheckContext:
    reference: ReferenceList
    reporting_year: int
    as_of: date
    decisions: Decisions | None = None


def finding(
    code: str, workbook: SupplierWorkbook, message: str, sheet: str | None = None, cell: str | None = None
) -> Finding:
    return Finding(
        code=code,
        severity=CODES[code][0],
        file=workbook.file,
        sheet=sheet,
        cell=cell,
        message=message,
        supplier=workbook.company.name,
    )


def check_workbook(workbook: SupplierWorkbook, context: CheckContext) -> list[Finding]:
    findings = list(workbook.read_findings)
    for check in (_template, _company, _answers, _scope_versus_smelters, _smelter_rows, _mine_locations):
        findings += check(workbook, context)
    return findings


def _template(workbook: SupplierWorkbook, context: CheckContext) -> Iterator[Finding]:
    current = CURRENT_VERSIONS.get(workbook.template)
    if workbook.template != "CMRT":
        yield finding(
            "template-not-3tg", workbook, f"{workbook.template} {workbook.version}: not a 3TG declaration"
        )
    if current and workbook.version and version_order(workbook.version) < version_order(current):
        yield finding(
            "template-outdated",
            workbook,
            f"{workbook.template} {workbook.version} is older than the current {current}; "
            f"please use {workbook.template} {current} next time",
            "Declaration",
            "J3",
        )


def _company(workbook: SupplierWorkbook, context: CheckContext) -> Iterator[Finding]:
    cellmap = load_cellmap(workbook.family)
    cells = cellmap.declaration.company
    company = workbook.company
    for field in cellmap.declaration.required_company:
        value = getattr(company, field)
        if field == "effective_date":
            value = company.effective_date_raw
        if not value:
            label = field.replace("_", " ")
            yield finding(
                "required-field-missing", workbook, f"{label} is required", "Declaration", cells[field]
            )
    needs = cellmap.declaration.scope_needs_description
    if company.scope and company.scope[:1].upper() in needs and not company.scope_description:
        yield finding(
            "scope-description-missing",
            workbook,
            f"declaration scope {company.scope[:1].upper()} needs a description of scope",
            "Declaration",
            cells.get("scope_description"),
        )
    for field in ("contact_email", "authorizer_email"):
        value = getattr(company, field)
        if value and not _EMAIL.fullmatch(value):
            yield finding(
                "email-invalid",
                workbook,
                f"{value!r} is not a valid email address",
                "Declaration",
                cells.get(field),
            )
    yield from _effective_date(workbook, context, cells.get("effective_date"))


def _effective_date(workbook: SupplierWorkbook, context: CheckContext, cell: str | None) -> Iterator[Finding]:
    company = workbook.company
    if company.effective_date_raw and company.effective_date is None:
        yield finding(
            "effective-date-invalid",
            workbook,
            f"{company.effective_date_raw!r} is not a date; use DD-MMM-YYYY",
            "Declaration",
            cell,
        )
    elif company.effective_date is not None:
        if company.effective_date > context.as_of:
            yield finding(
                "effective-date-future",
                workbook,
                f"effective date {company.effective_date.isoformat()} is in the future",
                "Declaration",
                cell,
            )
        elif company.effective_date < date(context.reporting_year, 1, 1):
            yield finding(
                "effective-date-before-period",
                workbook,
                f"effective date {company.effective_date.isoformat()} is before the reporting year "
                f"{context.reporting_year}; please send a current declaration",
                "Declaration",
                cell,
            )


def _value(answers: list[Answer], meaning: str) -> str | None:
    for answer in answers:
        if answer.meaning == meaning:
            return answer.value
    return None


def _is_no(value: str | None) -> bool:
    return (value or "").strip().lower() == _ANSWERED_NO


def _answers(workbook: SupplierWorkbook, context: CheckContext) -> Iterator[Finding]:
    rules = {q.id: q.required for q in load_cellmap(workbook.family).declaration.questions}
    for mineral, answers in workbook.answers.items():
        out_of_scope = _is_no(_value(answers, "in_scope"))
        absent = _is_no(_value(answers, "remains_in_product"))
        for answer in answers:
            rule = rules.get(answer.question, "never")
            required = (
                rule == "always"
                or (rule == "unless_out_of_scope" and not out_of_scope)
                or (rule == "unless_out_of_scope_or_absent" and not (out_of_scope or absent))
            )
            if required and answer.value is None:
                yield finding(
                    "answer-missing",
                    workbook,
                    f"question {answer.question[1:]} for {mineral} needs an answer",
                    "Declaration",
                    answer.cell,
                )


def in_scope_metals(workbook: SupplierWorkbook) -> set[str]:
    """Minerals the supplier declares intentionally added (Q1 Yes) and not absent (Q2 not No)."""
    metals = set()
    for mineral, answers in workbook.answers.items():
        if (_value(answers, "in_scope") or "").lower().startswith("yes") and not _is_no(
            _value(answers, "remains_in_product")
        ):
            metals.add(mineral)
    return metals


def _scope_versus_smelters(workbook: SupplierWorkbook, context: CheckContext) -> Iterator[Finding]:
    if workbook.template != "CMRT":
        return
    listed = {(row.metal or "").lower() for row in workbook.smelters if row.metal}
    declared = in_scope_metals(workbook)
    cells = {mineral: answers[0].cell for mineral, answers in workbook.answers.items() if answers}
    for metal in sorted(declared - listed):
        yield finding(
            "metal-in-scope-no-smelters",
            workbook,
            f"{metal} is declared in scope (question 1) but no {metal} smelter is listed",
            "Declaration",
            cells.get(metal),
        )
    for metal in sorted(listed - declared):
        if metal in workbook.answers:
            yield finding(
                "smelters-metal-not-in-scope",
                workbook,
                f"{metal} smelters are listed but {metal} is not declared in scope (question 1)",
                "Declaration",
                cells.get(metal),
            )


_NOT_LETTER_OR_DIGIT = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=65_536)  # the same reference and template names recur in every workbook
def _squash(value: str) -> str:
    return _NOT_LETTER_OR_DIGIT.sub("", value.casefold())


def _names_match(row: SmelterRow, names: set[str]) -> bool:
    wanted = {_squash(n) for n in names if n}
    given = [_squash(v) for v in (row.lookup_name, row.name) if v]
    return not given or any(g in wanted for g in given)


def _smelter_rows(workbook: SupplierWorkbook, context: CheckContext) -> Iterator[Finding]:
    sheet = load_cellmap(workbook.family).smelter_list
    cid_column = sheet.columns.get("cid", "F")
    name_column = sheet.columns.get("name", "D")
    seen: dict[tuple[str, str], int] = {}
    for row in workbook.smelters:
        cid_cell = f"{cid_column}{row.row}"
        if row.kind is RowKind.NOT_YET_IDENTIFIED:
            yield finding(
                "smelter-not-yet-identified",
                workbook,
                f"row {row.row}: smelter not yet identified",
                sheet.sheet,
                cid_cell,
            )
            continue
        if row.kind is RowKind.NOT_LISTED:
            if not row.name or not row.country:
                missing = " and ".join(x for x, v in (("name", row.name), ("country", row.country)) if not v)
                yield finding(
                    "smelter-not-listed-incomplete",
                    workbook,
                    f"row {row.row}: 'Smelter not listed' needs the smelter {missing}",
                    sheet.sheet,
                    f"{name_column}{row.row}",
                )
            continue
        if row.cid is None:
            if row.cid_raw:
                yield finding(
                    "smelter-id-malformed",
                    workbook,
                    f"row {row.row}: {row.cid_raw!r} is not a smelter ID (CID + 6 digits)",
                    sheet.sheet,
                    cid_cell,
                )
            else:
                yield finding(
                    "smelter-unidentified",
                    workbook,
                    f"row {row.row}: {row.name or row.lookup_name!r} has no smelter ID; pick it from "
                    "the Smelter Look-up list or choose 'Smelter not listed'",
                    sheet.sheet,
                    cid_cell,
                )
            continue
        if workbook.template != "CMRT":
            continue
        entry = context.reference.get(row.cid)
        if entry is None:
            yield finding(
                "smelter-id-unknown",
                workbook,
                f"row {row.row}: {row.cid} is not on the smelter reference list ({context.reference.source})",
                sheet.sheet,
                cid_cell,
            )
            continue
        if row.metal and row.metal.lower() != entry.metal:
            yield finding(
                "smelter-metal-mismatch",
                workbook,
                f"row {row.row}: {row.cid} is a {entry.metal} smelter, listed as {row.metal.lower()}",
                sheet.sheet,
                cid_cell,
            )
        if not _names_match(row, {entry.name, *entry.aliases}):
            given = row.name or row.lookup_name
            yield finding(
                "smelter-name-mismatch",
                workbook,
                f"row {row.row}: {given!r} does not match {row.cid}, which is {entry.name!r}",
                sheet.sheet,
                f"{name_column}{row.row}",
            )
        key = (entry.metal, row.cid)
        if key in seen:
            yield finding(
                "smelter-duplicate-row",
                workbook,
                f"row {row.row}: {row.cid} is already listed in row {seen[key]}",
                sheet.sheet,
                cid_cell,
            )
        else:
            seen[key] = row.row


def _decided(workbook: SupplierWorkbook, cell: MineCell, decision: Decision) -> Finding:
    countries = ", ".join(c.name for c in decision.countries or []) or "no country"
    return finding(
        "mine-location-decided",
        workbook,
        f"row {cell.row}: mine location {cell.text!r}: decided by {decision.decided_by} on "
        f"{decision.decided_on}: {countries} ({decision.reason})",
        cell.sheet,
        cell.cell,
    )


def _mine_locations(workbook: SupplierWorkbook, context: CheckContext) -> Iterator[Finding]:
    """One finding for each part of a mine-location cell that did not become a country or
    recycled sources, so no place a supplier named is lost without a word; a cell a reviewer
    decided is one note saying what was decided."""
    for cell in mine_cells(workbook, context.reference):
        decisions = context.decisions
        decision = decisions.get(workbook.file, cell) if decisions and unread_parts(cell) else None
        applies = decisions is not None and decisions.applying(workbook.file, cell) is not None
        if applies and decision is not None:
            yield _decided(workbook, cell, decision)
        elif decision is not None and decision.decided and decisions is not None:
            why = (
                f"was made for {decision.text!r}, but the cell now reads {cell.text!r}; decide again"
                if decision.text != cell.text
                else "gives countries, but the row names no 3TG metal; give the metal in the decision"
            )
            yield finding(
                "decision-stale",
                workbook,
                f"row {cell.row}: the decision in {decisions.source} {why}",
                cell.sheet,
                cell.cell,
            )
        for part in cell.parts:
            code = _MINE_LOCATION_CODES.get(part.kind)
            if code is None or (applies and part.kind is not PartKind.DECLINED):
                continue
            whole = "" if part.text == cell.text else f" (cell: {cell.text!r})"
            yield finding(
                code,
                workbook,
                f"row {cell.row}: mine location {part.text!r}{whole}: {part.note}",
                cell.sheet,
                cell.cell,
            )
