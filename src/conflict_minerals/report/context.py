"""Turn a validated filing into the template context: every figure and table the documents print.

Templates only lay out what this module computes, so each number in a document can be traced
to one function here and, through it, to the survey data.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from markupsafe import Markup
from pydantic import BaseModel, ConfigDict

from .. import __version__
from ..filing.countries import Country, covered_country_names
from ..filing.dates import long_date
from ..filing.deadline import filing_deadline, first_year_covering
from ..filing.loader import LoadedFiling
from ..filing.models import ExhibitsNumbering, Filing, FilingMode
from ..filing.survey import Metal, RmapStatus, Smelter, SurveyResults
from .figures import Chart, stacked_bars, status_categories
from .markdown import render_inline, render_markdown

STATUS_ORDER = list(RmapStatus)
METAL_ORDER = list(Metal)


class ContextModel(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)


class StatusCount(ContextModel):
    count: int
    percent: str


class StatusRow(ContextModel):
    label: str
    counts: list[StatusCount]
    total: int
    conformant_or_active: StatusCount


class SurveyTable(ContextModel):
    surveyed: int
    responded: int
    not_responded: int
    response_rate: str
    spend_coverage: str | None
    unidentified_rows: int


class CountryRow(ContextModel):
    name: str
    prose_name: str  # with "the" where running text needs it
    covered: bool
    metals: list[bool]


class AnnexRow(ContextModel):
    metal: str
    name: str
    cid: str
    country: str
    covered_country: bool
    status: str
    # The key of the status note in the annex's legend ("a", "b", ...), when there is one.
    note_key: str | None = None


class StatusNote(ContextModel):
    key: str
    text: str


class MineLocations(ContextModel):
    """How suppliers' mine-location entries were read (from `cmr ingest`)."""

    cells: int
    resolved: int
    recycled: int
    unresolved: int
    declined: int
    decided: int  # parts that could not be read and that a reviewer decided

    @property
    def places(self) -> int:
        return self.resolved + self.recycled + self.unresolved + self.declined + self.decided


class UndecidedMention(ContextModel):
    """Supplier text naming a Covered Country that could not be read and is not yet decided."""

    file: str
    sheet: str
    cell: str
    countries: list[str]  # the Covered Countries it names, as prose names them


class LocatedSor(ContextModel):
    """An SOR located in a Covered Country; its location is not the mine's."""

    name: str
    metal: str
    country: str  # as prose names it
    # Whether its country is among the countries of origin of its metal.
    origin_listed: bool


class ExcludedBusiness(ContextModel):
    name: str
    detail: str  # the acquisition date, or why a subsidiary is left out
    # For an acquisition: the first reporting year whose report must cover its products.
    covered_from: int | None = None


class ScopeStatement(ContextModel):
    acquisitions: list[ExcludedBusiness]
    subsidiaries: list[ExcludedBusiness]


class PriorStep(ContextModel):
    """A step to improve due diligence from last year's report, with what was done."""

    step: Markup
    progress: Markup | None


class TrendRow(ContextModel):
    year: int
    surveyed: int
    responded: int
    response_rate: str
    spend_coverage: str | None
    by_status: list[int]
    total: int
    conformant_or_active: str


class Exhibits(ContextModel):
    section: str
    item: str


class ExhibitRow(ContextModel):
    number: str
    description: str


class ClaimedProductRow(ContextModel):
    """A product described as "DRC conflict free", with the SORs behind the claim."""

    name: str
    description: Markup | None
    sors: list[AnnexRow]
    conformant: int  # how many of them are Conformant


class Narrative(ContextModel):
    company_overview: Markup | None
    products_in_scope: Markup
    rcoi: Markup
    rcoi_determination: Markup
    forward_looking_statements: Markup | None
    framework: Markup | None
    steps: list[Markup]
    results: Markup | None
    determination: Markup | None
    mine_of_origin_efforts: Markup | None
    risk_mitigation: list[Markup]
    refiner_locations: Markup | None
    auditor: str | None
    audit_report: Markup | None


class DocumentContext(ContextModel):
    tool_version: str
    draft: bool
    mode: str
    files_cmr: bool
    claims_conflict_free: bool
    # rcoi_only: what the inquiry concluded (models.RcoiResult), which decides Item 1.01's words.
    rcoi_result: str | None
    # The exhibits filed with the Form SD, for Items 1.01, 1.02 and 3.01.
    exhibits_filed: list[ExhibitRow]
    # The auditor's report filed as Exhibit 1.02 (given as a file), not printed in the report.
    audit_exhibit: bool
    claimed_products: list[ClaimedProductRow]
    registrant: dict[str, str]
    contact_line: str
    reporting_year: int
    period: str
    exhibits: Exhibits
    website_url: str
    signer_name: str
    signer_title: str
    signature_date: str
    signature_date_iso: str
    filing_deadline: str
    covered_countries: list[str]
    metals: list[str]
    statuses: list[str]
    narrative: Narrative
    survey: SurveyTable
    status_rows: list[StatusRow]
    status_total: StatusRow
    status_list_source: str | None
    status_as_of: str | None
    countries_by_metal: list[tuple[str, list[Country]]]
    country_rows: list[CountryRow]
    covered_country_origins: list[str]
    annex: list[AnnexRow]
    status_notes: list[StatusNote]
    trend: list[TrendRow]
    # Where the countries of origin came from: "supplier_declarations" and/or "rmi"; empty
    # when a hand-made survey does not say.
    origin_basis: list[str]
    mine_locations: MineLocations | None
    locations_undetermined: bool
    # Distinct countries of origin over all metals.
    countries_total: int
    # Supplier text naming a Covered Country that nobody has decided yet: the report says so
    # where it lists the Covered Countries.
    undecided_covered: list[UndecidedMention]
    covered_located: list[LocatedSor]
    responses_through: str | None
    policy_url: str | None
    scope: ScopeStatement | None
    sor_removals_requested: int | None
    sor_removals_removed: int | None
    prior_year: int | None
    prior_steps: list[PriorStep]
    charts: dict[str, Chart]


def percent(part: int, whole: int) -> str:
    """One decimal place, half up: the same text on every machine and locale."""
    if whole == 0:
        return "n/a"
    value = (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{value}%"


def percent_value(value: float | None) -> str | None:
    if value is None:
        return None
    return f"{Decimal(str(value)).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def _status_row(label: str, smelters: list[Smelter]) -> StatusRow:
    counts = Counter(s.status for s in smelters)
    total = len(smelters)
    good = counts[RmapStatus.CONFORMANT] + counts[RmapStatus.ACTIVE]
    return StatusRow(
        label=label,
        counts=[StatusCount(count=counts[s], percent=percent(counts[s], total)) for s in STATUS_ORDER],
        total=total,
        conformant_or_active=StatusCount(count=good, percent=percent(good, total)),
    )


def status_table(survey: SurveyResults) -> tuple[list[StatusRow], StatusRow]:
    rows = [
        _status_row(metal.label, [s for s in survey.smelters if s.metal is metal]) for metal in METAL_ORDER
    ]
    return rows, _status_row("Total", list(survey.smelters))


def survey_table(survey: SurveyResults) -> SurveyTable:
    suppliers = survey.suppliers
    return SurveyTable(
        surveyed=suppliers.surveyed,
        responded=suppliers.responded,
        not_responded=suppliers.surveyed - suppliers.responded,
        response_rate=percent(suppliers.responded, suppliers.surveyed),
        spend_coverage=percent_value(suppliers.spend_coverage_percent),
        unidentified_rows=survey.unidentified_smelter_rows,
    )


def _unique_countries(countries: list[Country]) -> list[Country]:
    return sorted({c.code: c for c in countries}.values(), key=lambda c: c.name)


def countries_of_origin(survey: SurveyResults) -> tuple[list[tuple[str, list[Country]]], list[CountryRow]]:
    by_metal = [
        (metal.label, _unique_countries(survey.countries_of_origin.get(metal, []))) for metal in METAL_ORDER
    ]
    every = _unique_countries([c for _, countries in by_metal for c in countries])
    rows = [
        CountryRow(
            name=country.name,
            prose_name=country.in_prose,
            covered=country.covered,
            metals=[any(c.code == country.code for c in countries) for _, countries in by_metal],
        )
        for country in every
    ]
    return by_metal, rows


def status_notes(survey: SurveyResults) -> list[StatusNote]:
    """The distinct status notes, keyed a, b, c... in alphabetical order of their text.

    Annex A prints the key after the status ("Other (a)") and the notes once, in a legend:
    a note written out in every row ("Other (Not on the status list)") wraps the narrow
    status column to three lines."""
    texts = sorted({s.status_note for s in survey.smelters if s.status_note}, key=str.casefold)
    return [StatusNote(key=_note_key(index), text=text) for index, text in enumerate(texts)]


def _note_key(index: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    key = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, len(letters))
        key = letters[rest] + key
    return key


def annex_rows(survey: SurveyResults, notes: list[StatusNote]) -> list[AnnexRow]:
    keys = {note.text: note.key for note in notes}
    ordered = sorted(survey.smelters, key=lambda s: (METAL_ORDER.index(s.metal), s.name.casefold(), s.cid))
    return [
        AnnexRow(
            metal=s.metal.label,
            name=s.name,
            cid=s.cid,
            country=s.country.name,
            covered_country=s.country.covered,
            status=s.status.value,
            note_key=keys[s.status_note] if s.status_note else None,
        )
        for s in ordered
    ]


def mine_locations(survey: SurveyResults) -> MineLocations | None:
    summary = survey.mine_locations
    if summary is None:
        return None
    return MineLocations(
        cells=summary.cells,
        resolved=summary.parts_resolved,
        recycled=summary.parts_recycled,
        unresolved=summary.parts_unresolved,
        declined=summary.parts_declined,
        decided=summary.parts_decided,
    )


def undecided_covered(survey: SurveyResults) -> list[UndecidedMention]:
    """Undecided mine-location cells that name a Covered Country, in file and cell order."""
    found = []
    for cell in survey.mine_locations_undecided:
        covered = _unique_countries([c for c in cell.mentions if c.covered])
        if covered:
            names = [c.in_prose for c in covered]
            found.append(UndecidedMention(file=cell.file, sheet=cell.sheet, cell=cell.cell, countries=names))
    return found


def covered_located(survey: SurveyResults) -> list[LocatedSor]:
    """SORs that stand in a Covered Country, with whether the country is among their metal's
    countries of origin (a refiner's location is not where the ore was mined)."""
    origins = {metal: {c.code for c in countries} for metal, countries in survey.countries_of_origin.items()}
    located = [s for s in survey.smelters if s.country.covered]
    located.sort(key=lambda s: (METAL_ORDER.index(s.metal), s.name.casefold(), s.cid))
    return [
        LocatedSor(
            name=s.name,
            metal=s.metal.value,
            country=s.country.in_prose,
            origin_listed=s.country.code in origins.get(s.metal, set()),
        )
        for s in located
    ]


def scope_statement(filing: Filing) -> ScopeStatement | None:
    scope = filing.scope
    if scope is None:
        return None
    return ScopeStatement(
        acquisitions=[
            ExcludedBusiness(
                name=item.name,
                detail=long_date(item.acquired_on),
                covered_from=first_year_covering(item.acquired_on),
            )
            for item in scope.excluded_acquisitions
        ],
        subsidiaries=[
            ExcludedBusiness(name=item.name, detail=item.reason) for item in scope.excluded_subsidiaries
        ],
    )


def prior_steps(loaded: LoadedFiling) -> tuple[int | None, list[PriorStep]]:
    """Last year's steps to improve due diligence, each with the progress the filing reports."""
    prior = loaded.prior_steps
    if prior is None:
        return None, []
    return prior.year, [
        # The step as one line of running text (last year's list items are single paragraphs).
        PriorStep(step=render_inline(step), progress=_optional(progress))
        for step, progress in prior.answered()
    ]


def _trend_row(
    year: int, surveyed: int, responded: int, spend_coverage_percent: float | None, by_status: list[int]
) -> TrendRow:
    """One year of the trend table; `by_status` counts SORs in STATUS_ORDER."""
    total = sum(by_status)
    good = (
        by_status[STATUS_ORDER.index(RmapStatus.CONFORMANT)]
        + by_status[STATUS_ORDER.index(RmapStatus.ACTIVE)]
    )
    return TrendRow(
        year=year,
        surveyed=surveyed,
        responded=responded,
        response_rate=percent(responded, surveyed),
        spend_coverage=percent_value(spend_coverage_percent),
        by_status=by_status,
        total=total,
        conformant_or_active=percent(good, total),
    )


def trend_rows(survey: SurveyResults) -> list[TrendRow]:
    """Prior years given in the survey file, oldest first, then the reporting year; the same
    figures, computed the same way, as Table 1 and Table 2 print for the reporting year."""
    rows = [
        _trend_row(
            prior.year,
            prior.suppliers_surveyed,
            prior.suppliers_responded,
            prior.spend_coverage_percent,
            [prior.smelters_by_status.get(status, 0) for status in STATUS_ORDER],
        )
        for prior in sorted(survey.prior_years, key=lambda p: p.year)
    ]
    if not rows:
        return []
    suppliers = survey.suppliers
    counts = Counter(smelter.status for smelter in survey.smelters)
    current = [counts[status] for status in STATUS_ORDER]
    current_row = _trend_row(
        survey.reporting_year,
        suppliers.surveyed,
        suppliers.responded,
        suppliers.spend_coverage_percent,
        current,
    )
    return [*rows, current_row]


def charts(
    statuses: list[str],
    status_rows: list[StatusRow],
    survey: SurveyTable,
    reporting_year: int,
    trend: list[TrendRow],
) -> dict[str, Chart]:
    """The figures the CMR prints beside its tables, from the same numbers."""
    categories = status_categories(statuses)
    found = {
        "status_by_metal": stacked_bars(
            "figure-status-by-metal",
            "SORs identified by metal and RMAP status",
            [(row.label, [c.count for c in row.counts], f"{row.total:,}") for row in status_rows],
            categories,
        )
    }
    years = trend or []
    response_rows = [
        (str(r.year), [r.responded, r.surveyed - r.responded], r.response_rate) for r in years
    ] or [(str(reporting_year), [survey.responded, survey.not_responded], survey.response_rate)]
    found["response"] = stacked_bars(
        "figure-response",
        "Supplier survey response" + (" by year" if years else ""),
        response_rows,
        [("Responded", "responded"), ("Did not respond", "not-responded")],
        scale_to_row=True,
    )
    if years:
        found["status_trend"] = stacked_bars(
            "figure-status-trend",
            "SORs identified by RMAP status and year",
            [(str(r.year), r.by_status, f"{r.total:,}") for r in years],
            categories,
        )
    return found


def _optional(text: str | None) -> Markup | None:
    return render_markdown(text) if text else None


def narrative(filing: Filing, audit_report_file: str | None = None) -> Narrative:
    """The filing's text as Markdown rendered to HTML; the auditor's report from its file when it
    is given as one (Exhibit 1.02)."""
    source = filing.narrative
    diligence = source.due_diligence
    steps = (
        [
            render_markdown(diligence.step_1_management_systems),
            render_markdown(diligence.step_2_identify_and_assess_risk),
            render_markdown(diligence.step_3_respond_to_risk),
            render_markdown(diligence.step_4_independent_audits),
            render_markdown(diligence.step_5_annual_report),
        ]
        if diligence
        else []
    )
    audit = source.independent_audit
    return Narrative(
        company_overview=_optional(source.company_overview),
        products_in_scope=render_markdown(source.products_in_scope),
        rcoi=render_markdown(source.rcoi),
        rcoi_determination=render_markdown(source.rcoi_determination),
        forward_looking_statements=_optional(source.forward_looking_statements),
        framework=_optional(diligence.framework if diligence else None),
        steps=steps,
        results=_optional(source.results),
        determination=_optional(source.determination),
        mine_of_origin_efforts=_optional(source.mine_of_origin_efforts),
        risk_mitigation=[render_markdown(step) for step in source.risk_mitigation],
        refiner_locations=_optional(source.refiner_locations),
        auditor=audit.auditor if audit else None,
        audit_report=_optional((audit.report or audit_report_file) if audit else None),
    )


def exhibits_filed(loaded: LoadedFiling) -> list[ExhibitRow]:
    """What the Form SD files as exhibits, as its Items 1.01, 1.02 and 3.01 list them."""
    filing = loaded.filing
    if filing.mode is FilingMode.RCOI_ONLY:
        return []
    if filing.mode is not FilingMode.CONFLICT_FREE_CLAIM:
        return [ExhibitRow(number="1.01", description=_CMR_EXHIBIT)]
    if loaded.audit_report is None:
        included = "Conflict Minerals Report, including the report of the independent private sector audit, "
        return [ExhibitRow(number="1.01", description=included + _AS_REQUIRED)]
    return [
        ExhibitRow(number="1.01", description=_CMR_EXHIBIT),
        ExhibitRow(
            number="1.02",
            description="Report of the independent private sector audit of the Conflict Minerals Report, "
            "as required by Item 1.01 of this Form SD.",
        ),
    ]


_AS_REQUIRED = "as required by Items 1.01 and 1.02 of this Form SD."
_CMR_EXHIBIT = f"Conflict Minerals Report {_AS_REQUIRED}"


def claimed_products(loaded: LoadedFiling, notes: list[StatusNote]) -> list[ClaimedProductRow]:
    from ..filing.claims import claimed_sors

    filing, survey = loaded.filing, loaded.survey
    if filing.mode is not FilingMode.CONFLICT_FREE_CLAIM:
        return []
    rows = []
    for product in filing.conflict_free_products:
        sors, _ = claimed_sors(product, survey)
        annex = annex_rows(survey.model_copy(update={"smelters": sors}), notes)
        rows.append(
            ClaimedProductRow(
                name=product.name,
                description=_optional(product.description),
                sors=annex,
                conformant=sum(1 for s in sors if s.status is RmapStatus.CONFORMANT),
            )
        )
    return rows


def _exhibits(numbering: ExhibitsNumbering) -> Exhibits:
    if numbering is ExhibitsNumbering.LEGACY:
        return Exhibits(section="2", item="2.01")
    return Exhibits(section="3", item="3.01")


def _iso(day: date) -> str:
    return day.isoformat()


def build_context(loaded: LoadedFiling) -> DocumentContext:
    filing, survey = loaded.filing, loaded.survey
    registrant = filing.registrant
    contact = registrant.contact
    status_rows, status_total = status_table(survey)
    by_metal, country_rows = countries_of_origin(survey)
    survey_figures = survey_table(survey)
    trend = trend_rows(survey)
    statuses = [s.value for s in STATUS_ORDER]
    notes = status_notes(survey)
    locations = mine_locations(survey)
    prior_year, steps = prior_steps(loaded)
    removals = filing.sor_removals
    contact_line = ", ".join(part for part in (contact.name, contact.title, contact.phone) if part)
    return DocumentContext(
        tool_version=__version__,
        draft=filing.presentation.draft,
        mode=filing.mode.value,
        files_cmr=filing.mode is not FilingMode.RCOI_ONLY,
        claims_conflict_free=filing.mode is FilingMode.CONFLICT_FREE_CLAIM,
        rcoi_result=filing.rcoi_result.value if filing.rcoi_result else None,
        exhibits_filed=exhibits_filed(loaded),
        audit_exhibit=loaded.audit_report is not None,
        claimed_products=claimed_products(loaded, notes),
        registrant={
            "name": registrant.name,
            "state_of_incorporation": registrant.state_of_incorporation,
            "commission_file_number": registrant.commission_file_number,
            "irs_employer_identification_number": registrant.irs_employer_identification_number,
            "principal_executive_offices": registrant.principal_executive_offices,
            "zip_code": registrant.zip_code,
        },
        contact_line=contact_line,
        reporting_year=filing.reporting_year,
        period=f"January 1 to December 31, {filing.reporting_year}",
        exhibits=_exhibits(filing.exhibits_numbering),
        website_url=filing.website_url,
        signer_name=filing.signature.name,
        signer_title=filing.signature.title,
        signature_date=long_date(filing.signature.date),
        signature_date_iso=_iso(filing.signature.date),
        filing_deadline=long_date(filing_deadline(filing.reporting_year)),
        covered_countries=covered_country_names(),
        metals=[m.label for m in METAL_ORDER],
        statuses=statuses,
        narrative=narrative(filing, loaded.audit_report),
        survey=survey_figures,
        status_rows=status_rows,
        status_total=status_total,
        status_list_source=survey.status_list.source if survey.status_list else None,
        status_as_of=long_date(survey.status_list.as_of) if survey.status_list else None,
        countries_by_metal=by_metal,
        country_rows=country_rows,
        covered_country_origins=[row.prose_name for row in country_rows if row.covered],
        annex=annex_rows(survey, notes),
        status_notes=notes,
        trend=trend,
        origin_basis=[basis.value for basis in survey.countries_of_origin_basis],
        mine_locations=locations,
        locations_undetermined=bool(locations and (locations.unresolved or locations.declined)),
        countries_total=len(country_rows),
        undecided_covered=undecided_covered(survey),
        covered_located=covered_located(survey),
        responses_through=(
            long_date(survey.suppliers.responses_through) if survey.suppliers.responses_through else None
        ),
        policy_url=filing.policy_url,
        scope=scope_statement(filing),
        sor_removals_requested=removals.requested if removals else None,
        sor_removals_removed=removals.removed if removals else None,
        prior_year=prior_year,
        prior_steps=steps,
        charts=charts(statuses, status_rows, survey_figures, filing.reporting_year, trend),
    )
