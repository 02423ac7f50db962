"""Rules that span fields or files: the checks a securities lawyer would make by hand."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..problems import Problem, Severity
from ..report.markdown import disallowed_links
from .countries import lookup_country
from .dates import long_date
from .deadline import filing_deadline, first_year_covering, window_opens
from .models import Filing, FilingMode, IndependentAudit
from .survey import RmapStatus, SurveyResults
from .yamlio import LoadedYaml, Path_, dotted, strings

WARNING = Severity.WARNING


def check_survey(survey: SurveyResults, loaded: LoadedYaml) -> list[Problem]:
    problems: list[Problem] = []
    if survey.suppliers.responded > survey.suppliers.surveyed:
        problems.append(
            loaded.problem(
                ("suppliers", "responded"),
                f"{survey.suppliers.responded} suppliers responded but only "
                f"{survey.suppliers.surveyed} were surveyed",
            )
        )
    problems += _duplicate_smelters(survey, loaded)
    for index, smelter in enumerate(survey.smelters):
        if smelter.status is RmapStatus.OTHER and not smelter.status_note:
            problems.append(
                loaded.problem(
                    ("smelters", index, "status"),
                    "status 'Other' needs a status_note saying what the status is",
                    severity=WARNING,
                )
            )
    metals_with_smelters = {s.metal for s in survey.smelters}
    for metal in sorted(metals_with_smelters - set(survey.countries_of_origin)):
        problems.append(
            loaded.problem(
                ("countries_of_origin",),
                f"{metal.label} smelters are listed but no countries of origin for {metal.value}",
                severity=WARNING,
            )
        )
    problems += _unmatched_country_sources(survey, loaded)
    problems += _unmatched_decisions(survey, loaded)
    seen_years: dict[int, int] = {}
    for index, prior in enumerate(survey.prior_years):
        where: Path_ = ("prior_years", index)
        if prior.year >= survey.reporting_year:
            problems.append(
                loaded.problem((*where, "year"), f"must be before the reporting year {survey.reporting_year}")
            )
        if prior.year in seen_years:
            problems.append(
                loaded.problem(
                    (*where, "year"), f"year {prior.year} is given twice (also item {seen_years[prior.year]})"
                )
            )
        seen_years.setdefault(prior.year, index)
        if prior.suppliers_responded > prior.suppliers_surveyed:
            problems.append(
                loaded.problem(
                    (*where, "suppliers_responded"),
                    f"{prior.suppliers_responded} responded but only "
                    f"{prior.suppliers_surveyed} were surveyed",
                )
            )
    return problems


def _unmatched_country_sources(survey: SurveyResults, loaded: LoadedYaml) -> Iterator[Problem]:
    """Provenance for a country the survey does not list: the evidence would not match the report."""
    for metal, sources in survey.countries_of_origin_sources.items():
        listed = {country.code for country in survey.countries_of_origin.get(metal, [])}
        for written in sources:
            country = lookup_country(written)
            if country is None or country.code not in listed:
                where: Path_ = ("countries_of_origin_sources", metal.value, written)
                line, column = loaded.position(where)  # the key names the country
                message = f"{written!r} has sources but is not among countries_of_origin.{metal.value}"
                yield Problem(loaded.file, line, column, dotted(where), message)


def _unmatched_decisions(survey: SurveyResults, loaded: LoadedYaml) -> Iterator[Problem]:
    """A reviewer's decision whose countries the survey does not list for its metal: the report
    would leave out what the reviewer decided."""
    for index, decision in enumerate(survey.mine_location_decisions):
        if decision.countries and decision.metal is None:
            yield loaded.problem(
                ("mine_location_decisions", index, "metal"),
                "the decision names countries but no metal they count for",
            )
            continue
        listed = (
            {c.code for c in survey.countries_of_origin.get(decision.metal, [])} if decision.metal else set()
        )
        missing = [c.name for c in decision.countries if c.code not in listed]
        if missing:
            yield loaded.problem(
                ("mine_location_decisions", index, "countries"),
                f"{', '.join(missing)} decided for {decision.file} {decision.sheet}!{decision.cell} "
                f"{'is' if len(missing) == 1 else 'are'} not among countries_of_origin.{decision.metal}",
            )


def _duplicate_smelters(survey: SurveyResults, loaded: LoadedYaml) -> Iterator[Problem]:
    first_row: dict[str, int] = {}
    for index, smelter in enumerate(survey.smelters):
        if smelter.cid in first_row:
            earlier = survey.smelters[first_row[smelter.cid]]
            detail = (
                "listed twice"
                if earlier.metal is smelter.metal
                else f"listed for {earlier.metal.value} and for {smelter.metal.value}"
            )
            yield loaded.problem(
                ("smelters", index, "cid"),
                f"{smelter.cid} is {detail} (first at smelters.{first_row[smelter.cid]})",
            )
        else:
            first_row[smelter.cid] = index


def check_filing(filing: Filing, survey: SurveyResults | None, loaded: LoadedYaml) -> list[Problem]:
    problems: list[Problem] = []
    year = filing.reporting_year
    if survey is not None and survey.reporting_year != year:
        problems.append(
            loaded.problem(
                ("survey_results",),
                f"the survey results are for {survey.reporting_year}, the filing for {year}",
            )
        )
    problems += _signature_window(filing, loaded)
    problems += _mode_requirements(filing, loaded)
    problems += _excluded_acquisitions(filing, loaded)
    problems += _narrative_links(loaded)
    if filing.mode is not FilingMode.RCOI_ONLY:
        problems += _table_references(loaded)
    # "DRC conflict free" wherever it is used is read in the rendered documents, sentence by
    # sentence (report/consistency.py), so the templates' words are read too.
    return problems


def _signature_window(filing: Filing, loaded: LoadedYaml) -> list[Problem]:
    signed = filing.signature.date
    opens = window_opens(filing.reporting_year)
    deadline = filing_deadline(filing.reporting_year)
    where = ("signature", "date")
    if signed < opens:
        return [
            loaded.problem(
                where,
                f"{signed.isoformat()} is before the reporting period ends; a report for "
                f"{filing.reporting_year} can be signed from {long_date(opens)}",
            )
        ]
    if signed > deadline:
        return [
            loaded.problem(
                where,
                f"{signed.isoformat()} is after the filing deadline for {filing.reporting_year}, "
                f"{long_date(deadline)} (Form SD General Instruction B)",
                severity=WARNING,
            )
        ]
    return []


def _excluded_acquisitions(filing: Filing, loaded: LoadedYaml) -> Iterator[Problem]:
    """An acquired company's products may be left out only for a time (see first_year_covering)."""
    scope = filing.scope
    for index, item in enumerate(scope.excluded_acquisitions if scope else []):
        where: Path_ = ("scope", "excluded_acquisitions", index, "acquired_on")
        if item.acquired_on.year > filing.reporting_year:
            yield loaded.problem(where, f"is after the reporting year {filing.reporting_year}")
            continue
        covered_from = first_year_covering(item.acquired_on)
        if filing.reporting_year >= covered_from:
            yield loaded.problem(
                where,
                f"{item.name} was acquired on {long_date(item.acquired_on)}: Form SD allows leaving its "
                f"products out only until the end of the first calendar year that begins at least eight "
                f"months after the acquisition, so reports from {covered_from} on must cover them",
            )


_CMR_FIELDS = ("due_diligence", "results", "determination")
# Printed only in the Conflict Minerals Report, which rcoi_only mode does not file.
_REPORT_ONLY_FIELDS = (
    *_CMR_FIELDS,
    "mine_of_origin_efforts",
    "risk_mitigation",
    "progress_on_prior_steps",
    "independent_audit",
    "forward_looking_statements",
)
# Top-level fields that only the Conflict Minerals Report prints.
_REPORT_ONLY_SETTINGS = ("previous_filing", "scope", "sor_removals")
# Words in Form SD text that point to a report; in rcoi_only mode there is none.
_REPORT_REFERENCE = re.compile(
    r"\b(?:Conflict Minerals Report|Exhibit 1\.01|(?:this|the|our) report)\b", re.IGNORECASE
)


def _rcoi_only_problems(filing: Filing, loaded: LoadedYaml) -> list[Problem]:
    """rcoi_only files Form SD alone: a report-only field would be silently dropped, and Item
    1.01 text must not refer to a report that is not filed."""
    problems = []
    for name in _REPORT_ONLY_FIELDS:
        if getattr(filing.narrative, name):
            problems.append(
                loaded.problem(
                    ("narrative", name),
                    "is printed only in the Conflict Minerals Report, which is not filed in rcoi_only "
                    "mode; remove it (or use mode cmr)",
                )
            )
    for name in _REPORT_ONLY_SETTINGS:
        if getattr(filing, name) is not None:
            problems.append(
                loaded.problem(
                    (name,),
                    "is used only by the Conflict Minerals Report, which is not filed in rcoi_only mode",
                    severity=WARNING,
                )
            )
    if filing.rcoi_result is None:
        problems.append(
            loaded.problem(
                ("rcoi_result",),
                "required when mode is rcoi_only: no_reason_to_believe, recycled_or_scrap, or "
                "reason_to_believe (filing only Item 1.01(a)-(b) in reliance on the SEC staff statement "
                "of April 7, 2017); the Form SD prints the words each requires",
            )
        )
    # Every text Item 1.01 prints in this mode.
    for name in ("products_in_scope", "rcoi", "rcoi_determination"):
        found = _REPORT_REFERENCE.search(getattr(filing.narrative, name))
        if found:
            problems.append(
                loaded.text_problem(
                    ("narrative", name),
                    found[0],
                    f"refers to {found[0]!r}, but in rcoi_only mode this text is printed in Form SD "
                    "Item 1.01 and no Conflict Minerals Report is filed; describe the inquiry and "
                    "its result in the Form SD's own terms",
                )
            )
    return problems


def _mode_requirements(filing: Filing, loaded: LoadedYaml) -> list[Problem]:
    problems = []
    narrative = filing.narrative
    problems += _claim_only_fields(filing, loaded)
    if filing.mode is FilingMode.RCOI_ONLY:
        return problems + _rcoi_only_problems(filing, loaded)
    for field_name, why in (
        ("rcoi_result", "the Conflict Minerals Report is filed because the inquiry gave reason to believe"),
        ("refiner_locations", "the report says where the SORs are located beside the countries of origin"),
    ):
        value = filing.rcoi_result if field_name == "rcoi_result" else narrative.refiner_locations
        if value is not None:
            where: Path_ = (field_name,) if field_name == "rcoi_result" else ("narrative", field_name)
            message = f"is used only in rcoi_only mode and is not printed in mode {filing.mode.value} ({why})"
            problems.append(loaded.problem(where, message, severity=WARNING))
    if narrative.company_overview is None:
        problems.append(
            loaded.problem(("narrative", "company_overview"), f"required when mode is {filing.mode.value}")
        )
    for name in _CMR_FIELDS:
        if getattr(narrative, name) is None:
            problems.append(loaded.problem(("narrative", name), f"required when mode is {filing.mode.value}"))
    if not narrative.risk_mitigation:
        problems.append(
            loaded.problem(
                ("narrative", "risk_mitigation"),
                f"required when mode is {filing.mode.value}: list the steps to improve due diligence",
            )
        )
    if filing.mode is FilingMode.CONFLICT_FREE_CLAIM:
        if narrative.independent_audit is None:
            problems.append(
                loaded.problem(
                    ("narrative", "independent_audit"),
                    "required when mode is conflict_free_claim: a 'DRC conflict free' claim "
                    "needs an independent private sector audit of the report",
                )
            )
        else:
            problems += _audit_report(narrative.independent_audit, loaded)
        if not filing.conflict_free_products:
            problems.append(
                loaded.problem(
                    ("conflict_free_products",),
                    "required when mode is conflict_free_claim: name the products described as "
                    "'DRC conflict free', each with its SORs (sors: smelter IDs, or suppliers: the supplier "
                    "files or names whose CMRTs cover it)",
                )
            )
        problems.append(
            loaded.problem(
                ("mode",),
                "describing products as 'DRC conflict free' is voluntary and requires an "
                "independent private sector audit; have counsel review the claim",
                severity=WARNING,
            )
        )
    elif narrative.independent_audit is not None:
        problems.append(
            loaded.problem(
                ("narrative", "independent_audit"),
                "printed as a voluntary audit; no audit is required unless the report "
                "claims products are 'DRC conflict free'",
                severity=WARNING,
            )
        )
    return problems


def _claim_only_fields(filing: Filing, loaded: LoadedYaml) -> list[Problem]:
    """Products may be described as 'DRC conflict free' only in conflict_free_claim mode."""
    if filing.mode is FilingMode.CONFLICT_FREE_CLAIM or not filing.conflict_free_products:
        return []
    return [
        loaded.problem(
            ("conflict_free_products",),
            "describing products as 'DRC conflict free' needs mode conflict_free_claim and an "
            "independent private sector audit; remove this field or change the mode",
        )
    ]


def _audit_report(audit: IndependentAudit, loaded: LoadedYaml) -> list[Problem]:
    """The auditor's report is given once: as text (printed in the report) or as a file (Exhibit 1.02)."""
    where: Path_ = ("narrative", "independent_audit")
    if (audit.report is None) == (audit.report_file is None):
        return [
            loaded.problem(
                where,
                "give the auditor's report either as report (its text, printed in the Conflict Minerals "
                "Report) or as report_file (a Markdown file, filed as Exhibit 1.02), not "
                + ("both" if audit.report is not None else "neither"),
            )
        ]
    return []


def _narrative_texts(loaded: LoadedYaml) -> Iterator[tuple[Path_, str]]:
    return strings(loaded.data.get("narrative"), ("narrative",))


def _narrative_links(loaded: LoadedYaml) -> Iterator[Problem]:
    for path, text in _narrative_texts(loaded):
        for target in disallowed_links(text):
            yield loaded.problem(
                path,
                f"link to {target!r} is not allowed; narrative links must be web "
                "(https://) or mailto: addresses",
            )


# Where each narrative field is printed relative to the CMR's results tables.
_BEFORE_TABLES = ("results",)
_AFTER_TABLES = ("mine_of_origin_efforts", "determination")
_TABLES_BELOW = re.compile(r"\btables?\s+below\b", re.IGNORECASE)
_TABLES_ABOVE = re.compile(r"\btables?\s+above\b", re.IGNORECASE)


def _table_references(loaded: LoadedYaml) -> Iterator[Problem]:
    """Flag "the tables below" in text printed after the tables, and "above" before them."""
    narrative = loaded.data.get("narrative")
    if not isinstance(narrative, dict):
        return
    placements = (
        (_AFTER_TABLES, _TABLES_BELOW, "after", "above"),
        (_BEFORE_TABLES, _TABLES_ABOVE, "before", "below"),
    )
    for names, pattern, side, right_way in placements:
        for name in names:
            text = narrative.get(name)
            found = pattern.search(text) if isinstance(text, str) else None
            if found:
                yield loaded.text_problem(
                    ("narrative", name),
                    found[0],
                    f"says {found[0]!r}, but this text is printed {side} the results tables; "
                    f"write 'the tables {right_way}' or name the table or annex",
                    severity=WARNING,
                )
