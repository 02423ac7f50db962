"""The company filing: registrant facts, narrative and presentation settings."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field

from .fields import (
    CommissionFileNumber,
    EmployerId,
    Jurisdiction,
    Markdown,
    Phone,
    StrictModel,
    Text,
    WebUrl,
    ZipCode,
)


class FilingMode(StrEnum):
    # Form SD with the Conflict Minerals Report as Exhibit 1.01 (what large filers do).
    CMR = "cmr"
    # Form SD only: Item 1.01(a)-(b) per the SEC staff statement of 7 April 2017.
    RCOI_ONLY = "rcoi_only"
    # A voluntary "DRC conflict free" claim, which needs an independent private sector audit.
    CONFLICT_FREE_CLAIM = "conflict_free_claim"


class ExhibitsNumbering(StrEnum):
    CURRENT = "current"  # Section 3 / Item 3.01 (form as amended in 2020)
    LEGACY = "legacy"  # Section 2 / Item 2.01 (the habit of 2013-2020 filings)


class Contact(StrictModel):
    name: Text
    title: Text | None = None
    phone: Phone


class Registrant(StrictModel):
    name: Text = Field(description="Exact name of the registrant as specified in its charter")
    state_of_incorporation: Jurisdiction
    commission_file_number: CommissionFileNumber
    irs_employer_identification_number: EmployerId
    principal_executive_offices: Text
    zip_code: ZipCode
    contact: Contact


class Signature(StrictModel):
    name: Text
    title: Text
    date: date


class DueDiligence(StrictModel):
    """Measures performed, one per step of the OECD Due Diligence Guidance."""

    framework: Markdown | None = None
    step_1_management_systems: Markdown
    step_2_identify_and_assess_risk: Markdown
    step_3_respond_to_risk: Markdown
    step_4_independent_audits: Markdown
    step_5_annual_report: Markdown


class IndependentAudit(StrictModel):
    auditor: Text
    report: Markdown


class Narrative(StrictModel):
    company_overview: Markdown
    products_in_scope: Markdown
    rcoi: Markdown
    rcoi_determination: Markdown
    forward_looking_statements: Markdown | None = None
    due_diligence: DueDiligence | None = None
    results: Markdown | None = None
    determination: Markdown | None = None
    mine_of_origin_efforts: Markdown | None = None
    risk_mitigation: list[Markdown] = Field(default_factory=list)
    independent_audit: IndependentAudit | None = None


class Presentation(StrictModel):
    draft: bool = True
    template_dir: Text | None = None
    css: Text | None = None


class Filing(StrictModel):
    reporting_year: int = Field(ge=2013, le=2100)
    mode: FilingMode = FilingMode.CMR
    registrant: Registrant
    survey_results: Text = Field(description="Path of the survey results YAML, relative to this file")
    website_url: WebUrl
    exhibits_numbering: ExhibitsNumbering = ExhibitsNumbering.CURRENT
    signature: Signature
    narrative: Narrative
    presentation: Presentation = Presentation()
