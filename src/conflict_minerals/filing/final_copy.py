"""The final-copy gate: what must not reach a filed document.

With `presentation.draft: false` each problem here is an error; with `draft: true` it is a
warning, so a draft still builds but says what stands between it and the copy to file.
A few facts are warnings in both modes (an old status list, mine locations that could not be
read): they need a reviewer's judgement, not a fix.

Every problem names the file and the line of the value at fault: the line inside a
multi-line narrative for a placeholder, the survey line for what the survey says.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from functools import cache
from importlib.resources import files

from ..problems import Problem, Severity
from .dates import long_date
from .models import Filing, FilingMode, RcoiResult
from .prior import PriorSteps, unanswered_problems
from .survey import SurveyResults
from .yamlio import LoadedYaml, Path_, parse_yaml, strings

# A status list older than this at signing gives a warning. RMAP statuses change through the
# year; filers commonly state them as of the end of the reporting year (five months before a
# May 31 signature) or later, so six months leaves room for that practice and still catches a
# list from the year before.
STATUS_LIST_MAX_AGE_DAYS = 183

# "[product line one, ...]", "[COMPANY]": bracketed text meant to be replaced. Markdown links
# ("[text](https://...)") and short editorial brackets ("[t]he", "[sic]") are not placeholders.
_MARKDOWN_LINK = re.compile(r"\[[^\[\]]*\]\([^()\s]*\)")
_BRACKETS = re.compile(r"\[([^\[\]\n]+)\]")
# Runs of characters an address or host name is made of; each run is looked at once, so the
# scan is linear however long a word is.
_ADDRESS_RUN = re.compile(r"[\w.+@-]+")
# Names reserved for documentation and testing (RFC 2606, RFC 6761): never a company's own.
RESERVED_TOP_LEVEL = frozenset({"example", "test", "invalid", "localhost"})
RESERVED_SECOND_LEVEL = frozenset({"example.com", "example.org", "example.net"})
_ILLUSTRATIVE = re.compile(r"\billustrative\b", re.IGNORECASE)
# What marks a survey note as demonstration data.
_SAMPLE_NOTE = re.compile(r"\b(illustrative|sample|fictional|invented|dummy|placeholder)\b", re.IGNORECASE)

# Examples the starter shows commented out: left as they stand once uncommented, a placeholder.
_STARTER_EXAMPLES: dict[Path_, str] = {("narrative", "independent_audit", "auditor"): "Example Audit LLP"}

# Registrant and signer fields whose starter value is a placeholder when left as is.
_STARTER_IDENTITY: tuple[Path_, ...] = (
    ("registrant", "name"),
    ("registrant", "commission_file_number"),
    ("registrant", "irs_employer_identification_number"),
    ("registrant", "principal_executive_offices"),
    ("registrant", "contact", "name"),
    ("registrant", "contact", "phone"),
    ("signature", "name"),
)


def gate_severity(filing: Filing) -> Severity:
    """What a problem that keeps a filing from being the copy to file is: an error in the copy
    to file, a warning in a draft."""
    return Severity.WARNING if filing.presentation.draft else Severity.ERROR


def final_copy_problems(
    filing: Filing,
    survey: SurveyResults,
    filing_yaml: LoadedYaml,
    survey_yaml: LoadedYaml,
    prior: PriorSteps | None = None,
) -> list[Problem]:
    """Everything that keeps this filing from being the copy to file."""
    gate = gate_severity(filing)
    rcoi_only = filing.mode is FilingMode.RCOI_ONLY
    problems = [
        *_placeholders(filing_yaml, gate, _UNPRINTED_IN_RCOI_ONLY if rcoi_only else ()),
        *_starter_values(filing_yaml, gate),
        *_illustrative_survey(survey, survey_yaml, gate),
        # rcoi_only prints nothing from the status list.
        *([] if rcoi_only else _no_status_list(survey, survey_yaml, gate)),
        *_rcoi_conclusion(filing, survey, filing_yaml, survey_yaml, gate),
        *_claimed_products(filing, survey, filing_yaml, gate),
        *_missing_elements(filing, survey, filing_yaml, survey_yaml, gate),
        *_undecided_covered_mentions(survey, survey_yaml, gate),
        *(unanswered_problems(prior, filing_yaml, gate) if prior is not None else []),
        *_status_list_age(filing, survey, survey_yaml),
        *_undetermined_locations(survey, survey_yaml),
    ]
    if gate is Severity.ERROR:
        problems = [_final(p) for p in problems]
    return problems


def _final(problem: Problem) -> Problem:
    if problem.severity is not Severity.ERROR:
        return problem
    return Problem(
        problem.file,
        problem.line,
        problem.column,
        problem.field,
        f"{problem.message} (presentation.draft is false: this is the copy to file)",
        problem.severity,
    )


def bracket_placeholders(text: str) -> list[str]:
    """Bracketed placeholders in a text: brackets holding several words, an ellipsis or a
    capitalised word such as [COMPANY]."""
    found = []
    for match in _BRACKETS.finditer(_MARKDOWN_LINK.sub("", text)):
        inner = match[1].strip()
        if re.search(r"\s|\.\.\.|\u2026", inner) or re.fullmatch(r"[A-Z][A-Z _-]+", inner):
            found.append(match[0])
    return found


# Fields rcoi_only mode does not print: neither required nor gated there.
_UNPRINTED_IN_RCOI_ONLY: tuple[Path_, ...] = (("narrative", "company_overview"),)


def _placeholders(
    filing_yaml: LoadedYaml, gate: Severity, unprinted: tuple[Path_, ...] = ()
) -> Iterator[Problem]:
    for path, text in strings(filing_yaml.data, ()):
        if any(path[: len(skip)] == skip for skip in unprinted):
            continue
        start = 0
        for placeholder in bracket_placeholders(text):
            start = text.find(placeholder, start)
            yield filing_yaml.text_problem(
                path,
                placeholder,
                f"placeholder {_quote(placeholder)} is still in the text",
                skip=_earlier(text, start, placeholder),
                severity=gate,
            )
            start += len(placeholder)
        for address in dict.fromkeys(reserved_addresses(text)):
            yield filing_yaml.text_problem(
                path,
                address,
                f"{_quote(address)} is a placeholder address (example.com, .org and .net, and names "
                "ending in .example, .test or .invalid, are reserved for documentation and testing); "
                "give the company's own",
                severity=gate,
            )
        if found := _ILLUSTRATIVE.search(text):
            yield filing_yaml.text_problem(
                path, found[0], "says 'illustrative': text left from a starter or sample", severity=gate
            )


def reserved_addresses(text: str) -> list[str]:
    """Host names and e-mail addresses in `text` under a name reserved for documentation or
    testing (`investors.acme.example`, `someone@example.com`), in the order written.

    Each run of address characters is looked at in place, from its end: only its last two labels
    decide, and no copy of a long run is made."""
    found = []
    for run in _ADDRESS_RUN.finditer(text):
        start, end = run.span()
        while end > start and text[end - 1] in ".-@+":
            end -= 1
        while start < end and text[start] in ".-@+":
            start += 1
        host = text.rfind("@", start, end) + 1 or start
        last_dot = text.rfind(".", host, end)
        if last_dot <= host or last_dot == end - 1:
            continue
        second_dot = text.rfind(".", host, last_dot)
        top = text[last_dot + 1 : end].casefold()
        second = text[second_dot + 1 if second_dot >= 0 else host : last_dot].casefold()
        if not second:
            continue
        if top in RESERVED_TOP_LEVEL or f"{second}.{top}" in RESERVED_SECOND_LEVEL:
            found.append(text[start:end])
    return found


@cache
def _starter_placeholders() -> dict[Path_, str]:
    starter = files("conflict_minerals.filing.starter") / "filing.yaml"
    loaded = parse_yaml(starter.read_bytes(), "starter/filing.yaml")
    values = {}
    for path in _STARTER_IDENTITY:
        value: object = loaded.data
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str):
            values[path] = value
    return values


def _starter_values(filing_yaml: LoadedYaml, gate: Severity) -> Iterator[Problem]:
    for path, placeholder in {**_starter_placeholders(), **_STARTER_EXAMPLES}.items():
        value: object = filing_yaml.data
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value.strip() == placeholder.strip():
            yield filing_yaml.problem(
                path, f"{_quote(value)} is the `cmr init` starter's placeholder; give your own", severity=gate
            )


def _illustrative_survey(survey: SurveyResults, survey_yaml: LoadedYaml, gate: Severity) -> Iterator[Problem]:
    message = "the survey results are marked as illustrative or sample data, not the company's survey"
    if survey.note:
        # The folder named in an ingest note is the user's choice of name, not a marking.
        note = survey.note.replace(survey.ingest.folder, "") if survey.ingest else survey.note
        if found := _SAMPLE_NOTE.search(note):
            yield survey_yaml.text_problem(
                ("note",), found[0], f"{message} (note: {found[0]!r})", severity=gate
            )
    for path, text in strings(survey_yaml.data, ()):
        if path == ("note",):
            continue
        if found := _ILLUSTRATIVE.search(text):
            yield survey_yaml.text_problem(path, found[0], f"{message} ({found[0]!r})", severity=gate)


def _no_status_list(survey: SurveyResults, survey_yaml: LoadedYaml, gate: Severity) -> Iterator[Problem]:
    if survey.status_list is not None or not survey.smelters:
        return
    yield survey_yaml.problem(
        ("smelters",),
        f"no RMAP status list was given, so the {len(survey.smelters)} smelters and refiners have "
        "no RMAP status (shown as Other); run `cmr ingest --status FILE` with the RMI's list",
        severity=gate,
    )


def _missing_elements(
    filing: Filing, survey: SurveyResults, filing_yaml: LoadedYaml, survey_yaml: LoadedYaml, gate: Severity
) -> Iterator[Problem]:
    """Rule 13p-1 elements of the report that the data leaves empty (see README, "Rule 13p-1
    elements"). The others are required fields, checked in checks.py."""
    if filing.mode is FilingMode.RCOI_ONLY:
        return
    if not survey.smelters:
        yield survey_yaml.problem(
            ("smelters",),
            "no smelters or refiners: the report must describe the facilities used to process the "
            "3TG (Annex A says none were identified)",
            severity=gate,
        )
    if not any(survey.countries_of_origin.values()):
        yield survey_yaml.problem(
            ("countries_of_origin",),
            "no countries of origin: the report must state the country of origin of the 3TG "
            "(Annex B says none were identified)",
            severity=gate,
        )
    elif not survey.countries_of_origin_basis:
        yield survey_yaml.problem(
            ("countries_of_origin",),
            "the survey does not say how its countries of origin were determined "
            "(countries_of_origin_basis: supplier_declarations and/or rmi), so the report cannot say "
            "where they came from; `cmr ingest` writes it, a hand-made survey must give it",
            severity=gate,
        )
    if filing.narrative.mine_of_origin_efforts is None:
        yield filing_yaml.problem(
            ("narrative", "mine_of_origin_efforts"),
            "missing: the report must describe the efforts to determine the mine or location of "
            "origin with the greatest possible specificity; a standard sentence stating only that "
            "suppliers were surveyed through the CMRT is printed instead",
            severity=gate,
        )
    # What real reports state besides the rule's elements, each printed from its field.
    stated = (
        (
            survey.suppliers.responses_through,
            survey_yaml,
            "suppliers",
            "the cut-off date for supplier responses (suppliers.responses_through; `cmr ingest --cutoff "
            "DATE` writes it): the report states up to when responses were counted",
        ),
        (
            filing.policy_url,
            filing_yaml,
            "policy_url",
            "the web address of the company's responsible minerals sourcing policy, which the report "
            "gives under OECD Step 1",
        ),
        (
            filing.scope,
            filing_yaml,
            "scope",
            "say whether the report leaves out an acquired business or a subsidiary "
            "(scope.excluded_acquisitions and scope.excluded_subsidiaries, empty lists when none); "
            "the report states its scope either way",
        ),
    )
    for value, loaded, field, what in stated:
        if value is None:
            yield loaded.problem((field,), f"missing: {what}", severity=gate)


def _rcoi_conclusion(
    filing: Filing, survey: SurveyResults, filing_yaml: LoadedYaml, survey_yaml: LoadedYaml, gate: Severity
) -> Iterator[Problem]:
    """An rcoi_only conclusion the survey contradicts. "No reason to believe" while the survey
    shows Covered Country origins, or suppliers said Yes to the Covered Countries question;
    "recycled or scrap" while the survey shows mined origins or suppliers said No. A Covered
    Country named in a supplier's free text is settled by a reviewer's decision (see ingest)."""
    result = filing.rcoi_result
    if filing.mode is not FilingMode.RCOI_ONLY or result is None:
        return
    where = ("rcoi_result",)
    if result is not RcoiResult.REASON_TO_BELIEVE:
        for metal, countries in survey.countries_of_origin.items():
            covered = sorted({c.name for c in countries if c.covered})
            if covered:
                yield survey_yaml.problem(
                    ("countries_of_origin", metal.value),
                    f"rcoi_result is {result.value}, but the survey gives {_series(covered)} as "
                    f"{'a country' if len(covered) == 1 else 'countries'} of origin of {metal.value}, a "
                    "Covered Country: the conclusion must follow from the inquiry (reason_to_believe, "
                    "or mode cmr)",
                    severity=gate,
                )
        yield from _declared(filing_yaml, survey, "covered_countries", "Yes", where, result, gate)
    if result is RcoiResult.RECYCLED_OR_SCRAP:
        mined = sorted(metal.value for metal, countries in survey.countries_of_origin.items() if countries)
        if mined:
            yield survey_yaml.problem(
                ("countries_of_origin",),
                f"rcoi_result is recycled_or_scrap, but the survey gives countries where {', '.join(mined)} "
                "was mined; a reasonable belief in recycled or scrap sources needs the data to show them",
                severity=gate,
            )
        yield from _declared(filing_yaml, survey, "recycled_scrap", "No", where, result, gate)
    # A refiner in a Covered Country sits oddly beside a negative determination: say why.
    located = [s for s in survey.smelters if s.country.covered]
    if located and filing.narrative.refiner_locations is None and result is not RcoiResult.REASON_TO_BELIEVE:
        named = ", ".join(f"{s.name} ({s.country.name})" for s in located[:5]) + (
            " ..." if len(located) > 5 else ""
        )
        yield filing_yaml.problem(
            where,
            f"{len(located)} SOR{'s' if len(located) != 1 else ''} the suppliers named "
            f"{'are' if len(located) != 1 else 'is'} located in a Covered Country ({named}); a refiner's "
            "location is not the mine's, but the Form SD should say why it does not change the conclusion "
            "(narrative.refiner_locations)",
            severity=Severity.WARNING,
        )


def _declared(
    filing_yaml: LoadedYaml,
    survey: SurveyResults,
    question: str,
    answer: str,
    where: Path_,
    result: RcoiResult,
    gate: Severity,
) -> Iterator[Problem]:
    """Suppliers' own answers to a CMRT question that contradict the conclusion."""
    counts = survey.declaration_summary.get(question, {})
    said = {
        metal.value: answers.get(answer, 0) for metal, answers in counts.items() if answers.get(answer, 0)
    }
    if not said:
        return
    asked = {
        "covered_countries": "whether their 3TG came from the Covered Countries",
        "recycled_scrap": "whether their 3TG came 100% from recycled or scrap sources",
    }[question]
    tally = ", ".join(f"{metal} {count}" for metal, count in said.items())
    yield filing_yaml.problem(
        where,
        f"rcoi_result is {result.value}, but suppliers answered {answer} when asked {asked} "
        f"(survey declaration_summary.{question}: {tally})",
        severity=gate,
    )


def _claimed_products(
    filing: Filing, survey: SurveyResults, filing_yaml: LoadedYaml, gate: Severity
) -> Iterator[Problem]:
    """A 'DRC conflict free' claim stands only on SORs that are all Conformant."""
    from .claims import claimed_sors

    if filing.mode is not FilingMode.CONFLICT_FREE_CLAIM:
        return
    for index, product in enumerate(filing.conflict_free_products):
        where = ("conflict_free_products", index)
        sors, unknown = claimed_sors(product, survey)
        for item in unknown:
            yield filing_yaml.problem(
                where,
                f"{item!r} is neither a smelter ID of the survey nor a supplier file or name that named one",
            )
        if not sors:
            yield filing_yaml.problem(
                where,
                f"no SOR is behind the claim for {product.name!r}: give the smelter IDs (sors) or the "
                "supplier files or names whose CMRTs cover it (suppliers)",
                severity=gate,
            )
            continue
        refused = [s for s in sors if s.status.value != "Conformant"]
        if refused:
            shown = "; ".join(f"{s.cid} {s.name} ({s.status.value})" for s in refused[:8])
            more = f" and {len(refused) - 8} more" if len(refused) > 8 else ""
            yield filing_yaml.problem(
                where,
                f"{product.name!r} cannot be described as 'DRC conflict free': {len(refused)} of its "
                f"{len(sors)} SORs {'is' if len(refused) == 1 else 'are'} not Conformant: {shown}{more}",
                severity=gate,
            )


def _undecided_covered_mentions(
    survey: SurveyResults, survey_yaml: LoadedYaml, gate: Severity
) -> Iterator[Problem]:
    """Supplier text naming a Covered Country that nobody has read and decided: the report's list
    of Covered Countries may be short by it."""
    for index, cell in enumerate(survey.mine_locations_undecided):
        covered = sorted({c.name for c in cell.mentions if c.covered})
        if not covered:
            continue
        yield survey_yaml.problem(
            ("mine_locations_undecided", index),
            f"{cell.file}, {cell.sheet}!{cell.cell} names {' and '.join(covered)} in text that could not be "
            f"read as a mine location ({_quote(cell.text)}) and no reviewer has decided what it means; "
            "record a decision in the decisions file given to `cmr ingest --decisions` (until then the "
            "report says that a Covered Country mention is undecided)",
            severity=gate,
        )


def _status_list_age(filing: Filing, survey: SurveyResults, survey_yaml: LoadedYaml) -> Iterator[Problem]:
    if survey.status_list is None:
        return
    as_of, signed = survey.status_list.as_of, filing.signature.date
    age = (signed - as_of).days
    if age > STATUS_LIST_MAX_AGE_DAYS:
        yield survey_yaml.problem(
            ("status_list", "as_of"),
            f"the RMAP status list is dated {long_date(as_of)}, {age} days ({_months(as_of, signed)}) "
            f"before the signature date {long_date(signed)}; statuses change during the year, so "
            f"use a list dated within {STATUS_LIST_MAX_AGE_DAYS} days of signing",
            severity=Severity.WARNING,
        )


def _months(start: date, end: date) -> str:
    months = (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day)
    return f"about {months} month{'s' if months != 1 else ''}"


def _undetermined_locations(survey: SurveyResults, survey_yaml: LoadedYaml) -> Iterator[Problem]:
    summary = survey.mine_locations
    if summary is None or not (summary.parts_unresolved or summary.parts_declined):
        return
    parts = []
    if summary.parts_unresolved:
        parts.append(
            f"{summary.parts_unresolved} could not be resolved to a country (ingest findings "
            "mine-location-unresolved)"
        )
    if summary.parts_declined:
        parts.append(f"{summary.parts_declined} pointed elsewhere or declined to answer")
    yield survey_yaml.problem(
        ("mine_locations",),
        f"of the mine locations suppliers gave, {' and '.join(parts)}; the report says that some "
        "locations could not be determined",
        severity=Severity.WARNING,
    )


def _earlier(text: str, position: int, needle: str) -> int:
    """How often the first word of `needle` occurs in `text` before `position`."""
    head = needle.split()[0].casefold()
    return text[: max(position, 0)].casefold().count(head)


def _series(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _quote(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")
