"""What one supplier workbook holds, as extracted, and the findings about it."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FindingSeverity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Finding(Model):
    """One check result: a stable code, a severity and a message a supplier understands."""

    code: str
    severity: FindingSeverity
    file: str
    sheet: str | None = None
    cell: str | None = None
    message: str
    supplier: str | None = None


class RowKind(StrEnum):
    IDENTIFIED = "identified"  # has a smelter ID
    NOT_LISTED = "not_listed"  # "Smelter not listed": name and country typed by the supplier
    NOT_YET_IDENTIFIED = "not_yet_identified"  # "Smelter not yet identified"
    UNIDENTIFIED = "unidentified"  # a name without an ID and without either marker


class SmelterRow(Model):
    row: int
    metal: str | None = None
    lookup_name: str | None = None
    name: str | None = None
    country: str | None = None
    cid: str | None = None
    cid_raw: str | None = None
    cid_from: str | None = None  # which column or fallback gave the ID
    source: str | None = None
    street: str | None = None
    city: str | None = None
    state: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    next_steps: str | None = None
    mine_name: str | None = None
    mine_country: str | None = None
    recycled: str | None = None
    comments: str | None = None
    kind: RowKind = RowKind.UNIDENTIFIED


class ProductRow(Model):
    row: int
    number: str | None = None
    name: str | None = None


class CompanyInfo(Model):
    name: str | None = None
    scope: str | None = None
    scope_description: str | None = None
    unique_id: str | None = None
    unique_id_authority: str | None = None
    address: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    authorizer: str | None = None
    authorizer_title: str | None = None
    authorizer_email: str | None = None
    authorizer_phone: str | None = None
    effective_date: date | None = None
    effective_date_raw: str | None = None


class Answer(Model):
    """One declaration answer with the cell it came from."""

    question: str
    meaning: str
    value: str | None
    cell: str
    comment: str | None = None


class SupplierWorkbook(Model):
    """Everything read from one workbook (before checks that need the reference or status lists)."""

    file: str
    sha256: str
    size: int
    template: str
    version: str | None
    family: str
    encrypted: bool = False
    # Which reader read the sheets: "streaming" (ingest/read/sheetscan.py) or "calamine", and why
    # an .xlsx was not read by the streaming reader.
    reader: str = "calamine"
    reader_note: str | None = None
    company: CompanyInfo = Field(default_factory=CompanyInfo)
    minerals: list[str] = Field(default_factory=list)
    answers: dict[str, list[Answer]] = Field(default_factory=dict)  # mineral -> answers
    company_answers: list[Answer] = Field(default_factory=list)
    smelters: list[SmelterRow] = Field(default_factory=list)
    products: list[ProductRow] = Field(default_factory=list)
    read_findings: list[Finding] = Field(default_factory=list)


class UnreadableWorkbook(Model):
    """A file that could not be read at all; the finding says why."""

    file: str
    sha256: str | None
    size: int | None
    finding: Finding
