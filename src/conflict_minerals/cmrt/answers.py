"""The answers of the company's own CMRT, from the filing and the survey results.

Where the survey data decides an answer it is taken from the data, and a different answer in
`outgoing_cmrt:` is an error (the declaration must not contradict the evidence). Where it does
not, the answer must be in `outgoing_cmrt:`; a required cell with no source is an error naming
the cell and the field to fill. Nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ..filing.loader import LoadedFiling
from ..filing.models import DeclarationScope, FilingMode, OutgoingCmrt, OutgoingProduct, SupplierSurveyFormat
from ..filing.survey import Metal, SurveyResults
from ..problems import Problem

# The Declaration's metal rows, in the template's order (not the report's).
METAL_ROWS = (Metal.TANTALUM, Metal.TIN, Metal.GOLD, Metal.TUNGSTEN)
SCOPES = {
    DeclarationScope.COMPANY: "A. Company",
    DeclarationScope.PRODUCTS: "B. Product (or List of Products)",
    DeclarationScope.USER_DEFINED: "C. User defined [Specify in 'Description of scope']",
}
SURVEY_FORMATS = {
    SupplierSurveyFormat.CMRT: "Yes, in conformance with IPC1755 (e.g., CMRT)",
    SupplierSurveyFormat.OTHER: "Yes, using other format (describe)",
    SupplierSurveyFormat.NONE: "No",
}


@dataclass(frozen=True)
class Question:
    number: int
    first_row: int
    field: str  # the OutgoingMetal field, "" when only the data answers it
    text: str


QUESTIONS = (
    Question(1, 26, "used", "is {metal} intentionally added or used in the product(s) or production?"),
    Question(2, 32, "remains_in_product", "does {metal} remain in the product(s)?"),
    Question(3, 38, "covered_countries", "do smelters source {metal} from the Covered Countries?"),
    Question(4, 44, "cahra", "do smelters source {metal} from conflict-affected and high-risk areas?"),
    Question(5, 50, "recycled_scrap", "does 100 percent of the {metal} come from recycled or scrap sources?"),
    Question(6, 56, "", "what share of suppliers responded?"),
    Question(7, 62, "all_smelters_identified", "have all {metal} smelters been identified?"),
    Question(8, 68, "all_information_reported", "is all {metal} smelter information received reported?"),
)


@dataclass(frozen=True)
class CompanyQuestion:
    letter: str
    cell: str
    field: str
    text: str


COMPANY_QUESTIONS = (
    CompanyQuestion("A", "D75", "policy", "a responsible minerals sourcing policy"),
    CompanyQuestion("B", "D77", "policy_public", "the policy publicly available on the website"),
    CompanyQuestion(
        "C", "D79", "require_validated_smelters", "direct suppliers required to use validated smelters"
    ),
    CompanyQuestion("D", "D81", "due_diligence_measures", "due diligence measures implemented"),
    CompanyQuestion("E", "D83", "supplier_survey", "conflict minerals surveys of suppliers"),
    CompanyQuestion("F", "D85", "review_supplier_information", "supplier information reviewed"),
    CompanyQuestion("G", "D87", "corrective_action", "corrective action management"),
    CompanyQuestion("H", "D89", "files_with_eu", "annual conflict minerals disclosure"),
)


@dataclass
class Declaration:
    """What goes into the Declaration and Product List sheets, with where each answer came from."""

    cells: dict[str, str | date] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # cell -> "survey: ..." or "filing: field"
    products: list[OutgoingProduct] = field(default_factory=list)
    metals_in_scope: list[Metal] = field(default_factory=list)  # Q1 and Q2 Yes
    metals_used: list[Metal] = field(default_factory=list)  # Q1 Yes
    problems: list[Problem] = field(default_factory=list)


def response_band(responded: int, surveyed: int) -> str:
    """Question 6's option for the share of suppliers that answered (the template's wording)."""
    if responded <= 0:
        return "None"
    share = responded / surveyed if surveyed else 0.0
    if responded >= surveyed:
        return "100%"
    for floor, option in ((0.90, "Greater than 90%"), (0.75, "Greater than 75%"), (0.50, "Greater than 50%")):
        if share > floor:
            return option
    return "50% or less"


def _tally(survey: SurveyResults, meaning: str, metal: Metal, answer: str) -> int:
    counts = survey.declaration_summary.get(meaning, {}).get(metal, {})
    return sum(n for given, n in counts.items() if given.strip().lower() == answer.lower())


def _data_answers(survey: SurveyResults, metal: Metal) -> dict[int, tuple[str, str]]:
    """The answers the survey decides for one metal: question -> (answer, why)."""
    decided: dict[int, tuple[str, str]] = {}
    smelters = [s for s in survey.smelters if s.metal is metal]
    countries = survey.countries_of_origin.get(metal, [])
    suppliers = survey.suppliers
    if smelters:
        decided[1] = ("Yes", f"the survey lists {len(smelters)} {metal.value} smelters or refiners")
    elif _tally(survey, "in_scope", metal, "yes"):
        decided[1] = ("Yes", f"suppliers declared {metal.value} in scope")
    covered = [c.name for c in countries if c.covered]
    if covered:
        decided[3] = ("Yes", f"{metal.value} countries of origin include {', '.join(covered)}")
    elif _tally(survey, "covered_countries", metal, "yes"):
        decided[3] = ("Yes", f"suppliers answered Yes for {metal.value}")
    if _tally(survey, "cahra", metal, "yes"):
        decided[4] = ("Yes", f"suppliers answered Yes for {metal.value}")
    if countries:
        decided[5] = ("No", f"{metal.value} has countries of origin where it was mined")
    elif _tally(survey, "recycled_scrap", metal, "no"):
        decided[5] = ("No", f"suppliers answered No for {metal.value}")
    decided[6] = (
        response_band(suppliers.responded, suppliers.surveyed),
        f"{suppliers.responded} of {suppliers.surveyed} suppliers responded",
    )
    if not smelters:
        decided[7] = ("No", f"no {metal.value} smelter is identified in the survey")
    elif suppliers.responded < suppliers.surveyed:
        decided[7] = ("No", f"{suppliers.surveyed - suppliers.responded} suppliers did not respond")
    elif _tally(survey, "all_smelters_identified", metal, "no"):
        decided[7] = ("No", f"suppliers answered No for {metal.value}")
    elif survey.unidentified_smelter_rows == 0:
        decided[7] = ("Yes", "every supplier responded and every smelter row was identified")
    if survey.unidentified_smelter_rows == 0:
        decided[8] = ("Yes", "every smelter of the survey is listed on the Smelter List")
    return decided


def derive_declaration(loaded: LoadedFiling) -> Declaration:
    filing, survey = loaded.filing, loaded.survey
    yaml = loaded.filing_yaml
    section = filing.outgoing_cmrt or OutgoingCmrt()
    result = Declaration()

    def problem(loc: tuple[str | int, ...], message: str) -> None:
        if yaml is not None:
            result.problems.append(yaml.problem(loc, message))
        else:  # pragma: no cover - a LoadedFiling always carries its YAML
            result.problems.append(
                Problem(str(loaded.filing_path), None, None, ".".join(map(str, loc)), message)
            )

    def need(cell: str, what: str, loc: tuple[str | int, ...], hint: str) -> None:
        problem(
            loc,
            f"Declaration!{cell} ({what}) is required and nothing in the filing or survey answers it; "
            f"fill {'.'.join(map(str, loc))} ({hint})",
        )

    def put(cell: str, value: str | date | None, source: str) -> None:
        if value is not None and value != "":
            result.cells[cell] = value
            result.sources[cell] = source

    _company_block(loaded, section, put, need, problem, result)
    for index, metal in enumerate(METAL_ROWS):
        _metal_block(survey, section, metal, index, put, need, problem, result)
    _company_questions(loaded, section, put, need, problem, result)
    return result


def _company_block(loaded, section: OutgoingCmrt, put, need, problem, result: Declaration) -> None:
    filing = loaded.filing
    registrant = filing.registrant
    put("D8", registrant.name, "filing: registrant.name")
    put(
        "D9",
        SCOPES[section.scope],
        "filing: outgoing_cmrt.scope" if filing.outgoing_cmrt else "default: A. Company",
    )
    if section.scope is DeclarationScope.USER_DEFINED and not section.scope_description:
        need("D10", "description of scope", ("outgoing_cmrt", "scope_description"), "the scope in words")
    put("D10", section.scope_description, "filing: outgoing_cmrt.scope_description")
    if section.scope is DeclarationScope.PRODUCTS and not section.products:
        need(
            "D9", "scope B needs the Product List", ("outgoing_cmrt", "products"), "a list of {number, name}"
        )
    if section.products and section.scope is not DeclarationScope.PRODUCTS:
        problem(("outgoing_cmrt", "products"), "a product list is only written with scope: products")
    result.products = list(section.products) if section.scope is DeclarationScope.PRODUCTS else []
    put("D12", section.company_unique_id, "filing: outgoing_cmrt.company_unique_id")
    put("D13", section.company_unique_id_authority, "filing: outgoing_cmrt.company_unique_id_authority")
    address = section.address or f"{registrant.principal_executive_offices} {registrant.zip_code}"
    put("D14", address, "filing: outgoing_cmrt.address" if section.address else "filing: registrant offices")
    put("D15", registrant.contact.name, "filing: registrant.contact.name")
    if section.contact_email is None:
        need("D16", "Email - Contact", ("outgoing_cmrt", "contact_email"), "the contact's email address")
    put("D16", section.contact_email, "filing: outgoing_cmrt.contact_email")
    put("D17", registrant.contact.phone, "filing: registrant.contact.phone")
    put("D18", filing.signature.name, "filing: signature.name")
    put("D19", filing.signature.title, "filing: signature.title")
    if section.authorizer_email is None:
        need("D20", "Email - Authorizer", ("outgoing_cmrt", "authorizer_email"), "the signer's email address")
    put("D20", section.authorizer_email, "filing: outgoing_cmrt.authorizer_email")
    put("D21", section.authorizer_phone, "filing: outgoing_cmrt.authorizer_phone")
    effective = section.effective_date or filing.signature.date
    put(
        "D22",
        effective,
        "filing: outgoing_cmrt.effective_date" if section.effective_date else "filing: signature.date",
    )


def _metal_block(survey, section: OutgoingCmrt, metal: Metal, index: int, put, need, problem, result) -> None:
    decided = _data_answers(survey, metal)
    given = section.metals.get(metal)
    answers: dict[int, str] = {}
    for question in QUESTIONS:
        cell = f"D{question.first_row + index}"
        if question.number >= 2 and answers.get(1) == "No":
            break
        if question.number >= 3 and answers.get(2) == "No":
            break
        loc = ("outgoing_cmrt", "metals", metal.value, question.field)
        own = getattr(given, question.field, None) if question.field else None
        own_value = own.value if own is not None else None
        if question.number in decided:
            value, why = decided[question.number]
            if own_value is not None and own_value != value:
                problem(
                    loc,
                    f"Declaration!{cell} (question {question.number}) is decided by the survey: {value} "
                    f"({why}); remove this answer or correct the survey",
                )
            answers[question.number] = value
            put(cell, value, f"survey: {why}")
        elif own_value is not None:
            answers[question.number] = own_value
            put(cell, own_value, f"filing: outgoing_cmrt.metals.{metal.value}.{question.field}")
        else:
            options = "Yes, No or Unknown" if question.number in (3, 4, 5) else "Yes or No"
            need(cell, f"question {question.number}: {question.text.format(metal=metal.value)}", loc, options)
    stopped = answers.get(1) == "No" or answers.get(2) == "No"
    if given is not None and stopped:
        for question in QUESTIONS[1 if answers.get(1) == "No" else 2 :]:
            if question.field and getattr(given, question.field) is not None:
                problem(
                    ("outgoing_cmrt", "metals", metal.value, question.field),
                    f"question {question.number} is not asked for {metal.value}: "
                    f"question {1 if answers.get(1) == 'No' else 2} is No; remove this answer",
                )
    if answers.get(1) == "Yes":
        result.metals_used.append(metal)
        if answers.get(2) == "Yes":
            result.metals_in_scope.append(metal)


def _company_questions(loaded, section: OutgoingCmrt, put, need, problem, result) -> None:
    filing, survey = loaded.filing, loaded.survey
    decided: dict[str, tuple[str, str]] = {}
    if filing.mode is not FilingMode.RCOI_ONLY:
        decided["D"] = (
            "Yes",
            f"the filing's Conflict Minerals Report describes due diligence ({filing.mode.value})",
        )
    templates = survey.ingest.templates if survey.ingest is not None else {}
    if any(name.startswith("CMRT") for name in templates):
        decided["E"] = (SURVEY_FORMATS[SupplierSurveyFormat.CMRT], "the survey was read from supplier CMRTs")
    for question in COMPANY_QUESTIONS:
        loc = ("outgoing_cmrt", question.field)
        own = getattr(section, question.field)
        if question.letter == "H":
            if own is None:
                need(
                    question.cell,
                    f"question H: {question.text}",
                    loc,
                    "true or false: also under the EU Regulation",
                )
            else:
                put(
                    question.cell,
                    "Yes, with the SEC and the EU" if own else "Yes, with the SEC",
                    "filing: Form SD (SEC) and outgoing_cmrt.files_with_eu",
                )
            continue
        own_value = None
        if own is not None:
            own_value = SURVEY_FORMATS[own] if question.letter == "E" else own.value
        if question.letter in decided:
            value, why = decided[question.letter]
            if own_value is not None and own_value != value:
                problem(
                    loc,
                    f"Declaration!{question.cell} (question {question.letter}) is decided: {value} ({why}); "
                    "remove this answer",
                )
            put(question.cell, value, f"{'filing' if question.letter == 'D' else 'survey'}: {why}")
        elif own_value is not None:
            put(question.cell, own_value, f"filing: outgoing_cmrt.{question.field}")
        else:
            hint = "cmrt, other or none" if question.letter == "E" else "Yes or No"
            need(question.cell, f"question {question.letter}: {question.text}", loc, hint)
    if result.cells.get("D77") == "Yes":
        # One address for the policy: the report prints it too.
        policy_url = loaded.filing.policy_url
        if policy_url is None:
            need("G77", "the policy's web address (question B)", ("policy_url",), "an https:// address")
        put("G77", policy_url, "filing: policy_url")
    if result.cells.get("D83") == SURVEY_FORMATS[SupplierSurveyFormat.OTHER]:
        if not section.supplier_survey_format:
            need(
                "G83",
                "the survey format (question E)",
                ("outgoing_cmrt", "supplier_survey_format"),
                "the format",
            )
        put("G83", section.supplier_survey_format, "filing: outgoing_cmrt.supplier_survey_format")
