"""The company filing: registrant facts, narrative and presentation settings."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from .fields import (
    CommissionFileNumber,
    Email,
    EmployerId,
    Jurisdiction,
    Markdown,
    Phone,
    SmelterId,
    StrictModel,
    Text,
    WebUrl,
    ZipCode,
)
from .survey import MetalName


class FilingMode(StrEnum):
    # Form SD with the Conflict Minerals Report as Exhibit 1.01 (what large filers do).
    CMR = "cmr"
    # Form SD only: Item 1.01(a)-(b) per the SEC staff statement of 7 April 2017.
    RCOI_ONLY = "rcoi_only"
    # A voluntary "DRC conflict free" claim, which needs an independent private sector audit.
    CONFLICT_FREE_CLAIM = "conflict_free_claim"


class RcoiResult(StrEnum):
    """What the reasonable country of origin inquiry concluded, in rcoi_only mode (Form SD only)."""

    # Item 1.01(b): no reason to believe the 3TG may have originated in the Covered Countries.
    NO_REASON_TO_BELIEVE = "no_reason_to_believe"
    # Item 1.01(b): a reasonable belief that the 3TG came from recycled or scrap sources.
    RECYCLED_OR_SCRAP = "recycled_or_scrap"
    # Reason to believe, but only the Item 1.01(a)-(b) disclosure is filed, in reliance on the
    # statement of the SEC's Division of Corporation Finance of April 7, 2017.
    REASON_TO_BELIEVE = "reason_to_believe"


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
    # The auditor's report: its text, printed in the report (Exhibit 1.01, as most filers did),
    # or a Markdown file inside the filing's folder, filed as Exhibit 1.02.
    report: Markdown | None = None
    report_file: Text | None = None


class ClaimedProduct(StrictModel):
    """A product (line) the report describes as "DRC conflict free", and the SORs behind it."""

    name: Text
    description: Markdown | None = None
    # Its SORs: smelter IDs, and/or the supplier files (or supplier names) whose CMRTs cover it.
    sors: list[SmelterId] = Field(default_factory=list)
    suppliers: list[Text] = Field(default_factory=list)


class PriorStepProgress(StrictModel):
    """One step to improve due diligence described in last year's report, and what was done."""

    # Last year's words (or its number in last year's list when `previous_filing` is given).
    step: Text | int
    progress: Markdown | None = None


class Narrative(StrictModel):
    company_overview: Markdown | None = None  # required unless mode is rcoi_only (not printed there)
    products_in_scope: Markdown
    rcoi: Markdown
    rcoi_determination: Markdown
    forward_looking_statements: Markdown | None = None
    due_diligence: DueDiligence | None = None
    results: Markdown | None = None
    determination: Markdown | None = None
    mine_of_origin_efforts: Markdown | None = None
    risk_mitigation: list[Markdown] = Field(default_factory=list)
    # rcoi_only: why SORs located in the Covered Countries do not change the conclusion.
    refiner_locations: Markdown | None = None
    # What was done on each step to improve due diligence that last year's report described.
    progress_on_prior_steps: list[PriorStepProgress] = Field(default_factory=list)
    independent_audit: IndependentAudit | None = None


class ExcludedAcquisition(StrictModel):
    """A business acquired whose products the report does not yet cover (Form SD lets a
    registrant delay reporting on an acquired company's products for a time)."""

    name: Text
    acquired_on: date


class ExcludedSubsidiary(StrictModel):
    name: Text
    reason: Text


class Scope(StrictModel):
    """What the report leaves out; empty lists say that nothing is left out."""

    excluded_acquisitions: list[ExcludedAcquisition] = Field(default_factory=list)
    excluded_subsidiaries: list[ExcludedSubsidiary] = Field(default_factory=list)


class SorRemovals(StrictModel):
    """SORs the company asked suppliers to remove from their supply chains during the year."""

    requested: int | None = Field(default=None, ge=0)
    removed: int | None = Field(default=None, ge=0)


class Presentation(StrictModel):
    draft: bool = True
    template_dir: Text | None = None
    css: Text | None = None


class YesNo(StrEnum):
    YES = "Yes"
    NO = "No"


class YesNoUnknown(StrEnum):
    YES = "Yes"
    NO = "No"
    UNKNOWN = "Unknown"


class DeclarationScope(StrEnum):
    """CMRT Declaration scope (D9): A. Company, B. Product (or List of Products), C. User defined."""

    COMPANY = "company"
    PRODUCTS = "products"
    USER_DEFINED = "user_defined"


class SupplierSurveyFormat(StrEnum):
    """CMRT company question E: how the company surveys its suppliers."""

    CMRT = "cmrt"  # "Yes, in conformance with IPC1755 (e.g., CMRT)"
    OTHER = "other"  # "Yes, using other format (describe)"
    NONE = "none"  # "No"


def _answer_word(value: object) -> object:
    # "yes", "YES" and "Yes" are the same answer; the CMRT's dropdowns spell it "Yes".
    if isinstance(value, bool):  # YAML 1.1 readers turn Yes into true; this project's does not
        return "Yes" if value else "No"
    return value.strip().capitalize() if isinstance(value, str) else value


def _moved_to_policy_url(value: object) -> object:
    if value is not None:
        raise ValueError(
            "has moved to the filing's top-level policy_url (the report prints it too); move it there"
        )
    return value


Answer = Annotated[YesNo, BeforeValidator(_answer_word)]
AnswerOrUnknown = Annotated[YesNoUnknown, BeforeValidator(_answer_word)]


class OutgoingMetal(StrictModel):
    """The CMRT questions 1-5, 7 and 8 for one metal, where the survey data does not decide them.

    Question 6 (the response rate) always comes from the survey's supplier counts.
    """

    used: Answer | None = None  # Q1: intentionally added or used in the product or production
    remains_in_product: Answer | None = None  # Q2
    covered_countries: AnswerOrUnknown | None = None  # Q3
    cahra: AnswerOrUnknown | None = None  # Q4
    recycled_scrap: AnswerOrUnknown | None = None  # Q5: 100 percent from recycled or scrap sources
    all_smelters_identified: Answer | None = None  # Q7
    all_information_reported: Answer | None = None  # Q8


class OutgoingProduct(StrictModel):
    number: Text
    name: Text | None = None


class OutgoingCmrt(StrictModel):
    """The company's own CMRT for its customers (`cmr cmrt`): what the filing does not already say."""

    scope: DeclarationScope = DeclarationScope.COMPANY
    scope_description: Text | None = None
    products: list[OutgoingProduct] = Field(default_factory=list)
    company_unique_id: Text | None = None
    company_unique_id_authority: Text | None = None
    address: Text | None = None
    contact_email: Email | None = None
    authorizer_email: Email | None = None
    authorizer_phone: Phone | None = None
    effective_date: date | None = None
    metals: dict[MetalName, OutgoingMetal] = Field(default_factory=dict)
    policy: Answer | None = None  # A
    policy_public: Answer | None = None  # B (its comment, the address, is the filing's policy_url)
    # Moved to the filing's top level, where the report prints it too: an error that says so.
    policy_url: Annotated[object, AfterValidator(_moved_to_policy_url)] = None
    require_validated_smelters: Answer | None = None  # C
    due_diligence_measures: Answer | None = None  # D
    supplier_survey: SupplierSurveyFormat | None = None  # E
    supplier_survey_format: Text | None = None  # E's comment when the format is "other"
    review_supplier_information: Answer | None = None  # F
    corrective_action: Answer | None = None  # G
    files_with_eu: bool | None = None  # H: besides the SEC (this Form SD), also under the EU Regulation


class Filing(StrictModel):
    reporting_year: int = Field(ge=2013, le=2100)
    mode: FilingMode = FilingMode.CMR
    # rcoi_only: what the inquiry concluded; the Form SD prints the words each result requires.
    rcoi_result: RcoiResult | None = None
    # conflict_free_claim: the products described as "DRC conflict free", with their SORs.
    conflict_free_products: list[ClaimedProduct] = Field(default_factory=list)
    registrant: Registrant
    survey_results: Text = Field(description="Path of the survey results YAML, relative to this file")
    website_url: WebUrl
    # Where the company's responsible minerals sourcing policy is published: printed in the
    # report and written into the company's own CMRT (question B).
    policy_url: WebUrl | None = None
    # Last year's filing YAML, read only, for its steps to improve due diligence.
    previous_filing: Text | None = None
    scope: Scope | None = None
    sor_removals: SorRemovals | None = None
    exhibits_numbering: ExhibitsNumbering = ExhibitsNumbering.CURRENT
    signature: Signature
    narrative: Narrative
    presentation: Presentation = Presentation()
    outgoing_cmrt: OutgoingCmrt | None = None
