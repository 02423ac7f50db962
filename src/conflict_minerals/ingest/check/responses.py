"""What a read workbook is as a response: empty or not, what it declares, whose and how recent.

The checks see each workbook once; what identity and ordering (suppliers/identity.py) and the
comparison with the previous round (suppliers/changes.py) need of it is kept here, small.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from datetime import date
from pathlib import PurePosixPath

from ..models import Finding, FindingSeverity, RowKind, SupplierWorkbook
from ..read.detect import version_order
from .lists import company_key, id_key

COMPANY = "company"  # the "metal" of a company-level question


# The company fields that make a workbook someone's (the declaration's company block).
_COMPANY_FIELDS = (
    "name",
    "scope",
    "scope_description",
    "unique_id",
    "unique_id_authority",
    "address",
    "contact_name",
    "contact_email",
    "contact_phone",
    "authorizer",
    "authorizer_title",
    "authorizer_email",
    "authorizer_phone",
    "effective_date_raw",
)


def is_empty(workbook: SupplierWorkbook) -> bool:
    """No company field and no answer at all: a blank template, not somebody's declaration."""
    company = workbook.company
    if any(getattr(company, name) for name in _COMPANY_FIELDS):
        return False
    if any(answer.value for answers in workbook.answers.values() for answer in answers):
        return False
    return not any(answer.value for answer in workbook.company_answers)


def empty_finding(workbook: SupplierWorkbook) -> Finding:
    rows = len(workbook.smelters)
    also = ""
    if rows:
        also = f"; its {rows} Smelter List row{'s are' if rows != 1 else ' is'} not counted"
    return Finding(
        code="response-empty",
        severity=FindingSeverity.WARNING,
        file=workbook.file,
        sheet="Declaration",
        message=(
            f"{workbook.template} {workbook.version}: no company and no answer is filled in: a blank "
            f"template, not a supplier's response; it is not counted as a response{also}"
        ),
    )


def declaration_digest(workbook: SupplierWorkbook) -> str:
    """What a supplier declared (company, answers, smelters; not where rows sit or how the file
    is packed): equal for two files that say the same."""
    smelters = sorted(
        json.dumps(row.model_dump(mode="json", exclude={"row"}), sort_keys=True) for row in workbook.smelters
    )
    content = {
        "company": workbook.company.model_dump(mode="json"),
        "answers": {m: [(a.question, a.value) for a in answers] for m, answers in workbook.answers.items()},
        "company_answers": [(a.question, a.value) for a in workbook.company_answers],
        "smelters": smelters,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Response:
    """What identity and ordering need of one read workbook."""

    file: str
    template: str
    version: str | None
    name: str | None
    unique_id: str | None
    authority: str | None
    effective_date: date | None
    contact_name: str | None
    contact_email: str | None
    digest: str
    empty: bool = False

    @classmethod
    def of(cls, workbook: SupplierWorkbook, empty: bool) -> Response:
        company = workbook.company
        return cls(
            workbook.file,
            workbook.template,
            workbook.version,
            company.name,
            company.unique_id,
            company.unique_id_authority,
            company.effective_date,
            company.contact_name,
            company.contact_email,
            "" if empty else declaration_digest(workbook),
            empty,
        )

    def renamed(self, file: str) -> Response:
        return replace(self, file=file)

    @property
    def has_company(self) -> bool:
        return bool(company_key(self.name) or id_key(self.unique_id))

    @property
    def order(self) -> tuple:
        """Later responses sort after earlier ones: effective date, revision, then the name."""
        return (self.effective_date or date.min, version_order(self.version or ""), natural_key(self.file))


def natural_key(file: str) -> tuple:
    """A file name's order with numbers compared as numbers ("r2" before "r10"), extension aside."""
    stem = PurePosixPath(file).stem if "." in PurePosixPath(file).name else file
    parts = re.split(r"([0-9]+)", stem.casefold())
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in parts if part)


@dataclass(frozen=True)
class Declared:
    """What one response declared, as compared between rounds."""

    file: str
    smelters: dict[tuple[str, str], str]  # (metal, CID) -> the name given
    answers: dict[tuple[str, str], tuple[str | None, str, str]]  # (metal, question) -> (value, cell, meaning)

    @classmethod
    def of(cls, workbook: SupplierWorkbook) -> Declared:
        smelters = {
            ((row.metal or "").lower(), row.cid): row.name or row.lookup_name or ""
            for row in workbook.smelters
            if row.kind is RowKind.IDENTIFIED and row.cid
        }
        answers = {
            (metal, answer.question): (answer.value, answer.cell, answer.meaning)
            for metal, given in workbook.answers.items()
            for answer in given
        }
        answers |= {
            (COMPANY, f"{answer.question} {answer.cell}"): (answer.value, answer.cell, answer.meaning)
            for answer in workbook.company_answers
        }
        return cls(workbook.file, smelters, answers)
