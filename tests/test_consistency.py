"""The report says only what its data shows (issue 18): the consistency check over the rendered
documents, the statements bound to the data, last year's steps followed up, and the wording."""

from __future__ import annotations

import html
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

from conflict_minerals.build import OutputFormat, build, validate
from conflict_minerals.filing.final_copy import reserved_addresses
from conflict_minerals.filing.loader import load_filing
from conflict_minerals.problems import InputError, Problem, Severity
from conflict_minerals.report.consistency import Figures, document_findings, figures, read_layout
from conflict_minerals.report.context import build_context
from conflict_minerals.report.html import render_html

from .conftest import (
    copy_sample,
    edit,
    make_conflict_free_claim,
    make_final,
    make_rcoi_only,
    unmark_illustrative,
)

HTML_ONLY = frozenset({OutputFormat.HTML})
FIXTURE = Path(__file__).parent / "fixtures" / "before-issue-18"


def consistency(problems: list[Problem]) -> list[Problem]:
    """The findings of the check of the rendered documents: on a document (template text), or on
    the narrative line a sentence came from (they quote the sentence)."""
    return [
        p
        for p in problems
        if p.file.endswith(".html") or p.message.startswith(("Conflict Minerals Report, ", "Form SD, "))
    ]


def checked(filing: Path) -> list[Problem]:
    """Every problem validate reports, whether the filing is valid or not."""
    try:
        return validate(filing).loaded.warnings
    except InputError as error:
        return error.problems


def set_basis(filing: Path, basis: list[str]) -> None:
    survey = filing.parent / "survey.yaml"
    text = survey.read_text(encoding="utf-8")
    written = re.search(r"^countries_of_origin_basis:\n(?:- \w+\n)+", text, re.MULTILINE)
    assert written, "the sample survey states no basis"
    survey.write_text(text.replace(written[0], f"countries_of_origin_basis: {basis}\n"))


# ----- today's samples, as they were, are caught -----------------------------------------


@pytest.fixture
def samples_before(tmp_path: Path) -> Path:
    """The 2025 sample's filing and the built-in report template as they stood before this
    issue, over today's survey without the basis it now states."""
    filing = copy_sample("acme-2025", tmp_path)
    shutil.copyfile(FIXTURE / "filing-2025.yaml", filing)
    shutil.copytree(FIXTURE / "theme", filing.parent / "theme")
    edit(filing, "  draft: true", "  draft: true\n  template_dir: theme")
    survey = filing.parent / "survey.yaml"
    edit(survey, "countries_of_origin_basis:\n- rmi\n", "")
    return filing


QUOTED = {
    # Section III, last bullet
    "used the country of origin information that the RMI makes available to its members": "RMI",
    # Section VI, the narrative's introduction (a table that does not exist, and a source)
    "The countries of origin table lists the countries that": "no table of countries of origin",
    # the mine-of-origin paragraph
    "using the country of origin information that the RMI makes available to its members for SORs": "RMI",
    # Annex B and VI "Countries of Origin", each naming another source
    "as recorded in the Company\u2019s supplier survey results": "while other sentences",
    "Based on the information available to the Company": "while other sentences",
    # tables said to list SORs that only count them
    "The SOR tables list, by metal, the SORs": "lists SORs one by one",
    "The RMAP status of each identified SOR is shown in the tables above": "lists SORs one by one",
}


def test_todays_samples_report_each_sentence_the_review_quoted(samples_before: Path) -> None:
    found = consistency(checked(samples_before))
    for sentence, why in QUOTED.items():
        matching = [p for p in found if sentence in p.message]
        assert matching, f"not reported: {sentence!r}"
        assert any(why in p.message for p in matching), (sentence, [p.message for p in matching])
        assert all(p.severity is Severity.WARNING for p in matching)  # a draft
    # The filing's own sentences point at their line in the narrative.
    narrative = [p for p in found if p.file.endswith("filing.yaml")]
    assert narrative and all(p.line and p.field.startswith("narrative.") for p in narrative)


def test_todays_samples_fail_as_the_copy_to_file(samples_before: Path) -> None:
    # Everything else the copy to file needs is there: the sentences alone stop it.
    edit(samples_before, "  draft: true", "  draft: false")
    edit(samples_before, "acme-devices.example", "acme-devices.com", count=-1)
    edit(
        samples_before,
        "exhibits_numbering: current\n",
        "exhibits_numbering: current\npolicy_url: https://acme-devices.com/policy\n"
        "scope: {excluded_acquisitions: [], excluded_subsidiaries: []}\n",
    )
    unmark_illustrative(samples_before.parent / "survey.yaml")
    edit(
        samples_before.parent / "survey.yaml",
        "countries_of_origin:",
        "countries_of_origin_basis: [rmi]\ncountries_of_origin:",
    )
    with pytest.raises(InputError) as raised:
        validate(samples_before)
    errors = [p for p in raised.value.problems if p.severity is Severity.ERROR]
    assert errors == consistency(errors)  # nothing but the sentences
    # With the basis stated (RMI, as the narrative says), the RMI sentences agree with it, and so
    # do the old templates' (they followed the basis already); the references are still wrong.
    caught = {sentence for sentence in QUOTED if any(sentence in p.message for p in errors)}
    assert caught == {
        "The countries of origin table lists the countries that",
        "The SOR tables list, by metal, the SORs",
        "The RMAP status of each identified SOR is shown in the tables above",
    }


# ----- the samples say nothing their data contradicts, in every mode and basis -----------


CONFORMANT = ["CID003926", "CID000460"]  # Conformant tantalum SORs of both Acme samples
ACME_MODES = [
    (sample, mode)
    for sample in ("acme-2024", "acme-2025")
    for mode in ("cmr", "conflict_free_claim", "rcoi_only")
]


@pytest.mark.parametrize("basis", [["rmi"], ["supplier_declarations"], ["rmi", "supplier_declarations"], []])
@pytest.mark.parametrize(
    ("sample", "mode"),
    [*ACME_MODES, ("northwind-rcoi-2025", "rcoi_only"), ("acme-claim-2025", "conflict_free_claim")],
)
def test_samples_are_consistent(sample: str, mode: str, basis: list[str], tmp_path: Path) -> None:
    filing = copy_sample(sample, tmp_path)
    set_basis(filing, basis)
    if sample.startswith("acme-20") and mode == "rcoi_only":
        make_rcoi_only(filing)
    elif sample.startswith("acme-20") and mode == "conflict_free_claim":
        make_conflict_free_claim(filing, CONFORMANT)
    loaded = load_filing(filing)
    context = build_context(loaded)
    pages = render_html(loaded, context)
    for stem, page in pages.items():
        assert [f"{f.sentence.text} {f.message}" for f in document_findings(page, context)] == [], stem


# ----- seeded mistakes in an override template -------------------------------------------


@pytest.fixture
def overridden(tmp_path: Path) -> Path:
    """The 2025 sample as the copy to file, with a copy of the built-in report template to edit."""
    filing = copy_sample("acme-2025", tmp_path)
    make_final(filing)
    theme = filing.parent / "theme"
    theme.mkdir()
    builtin = Path(__file__).resolve().parents[1] / "templates" / "cmr.html.j2"
    (theme / "cmr.html.j2").write_text(builtin.read_text(encoding="utf-8"), encoding="utf-8")
    edit(filing, "  draft: false", "  draft: false\n  template_dir: theme")
    assert consistency(checked(filing)) == []
    return filing


SEEDED = {
    "wrong count": (
        "Supplier responses identified {{ status_total.total | number }} SORs",
        "Supplier responses identified {{ (status_total.total + 3) | number }} SORs",
        "states '280 SORs', but the figures show",
    ),
    "missing table": (
        '  <h3 id="countries">Countries of Origin</h3>',
        '  <h3 id="countries">Countries of Origin</h3>\n  <p>Table 4 lists the countries by metal.</p>',
        "refers to Table 4, which this document does not have",
    ),
    "above for a table below": (
        "  {{ say.results_overview(survey, trend, responses_through, reporting_year) }}",
        "  <p>Table 2 above gives the SORs by RMAP status.</p>",
        "says Table 2 is above, but it is below",
    ),
    "a second source": (
        '  <h3 id="countries">Countries of Origin</h3>',
        '  <h3 id="countries">Countries of Origin</h3>\n  <p>The countries of origin are those the '
        "suppliers declared in their CMRTs.</p>",
        "come from the mine locations suppliers declared, but the survey says they are based on RMI",
    ),
    "a Covered Country dropped": (
        "countries_total, covered_country_origins, undecided_covered",
        "countries_total, covered_country_origins[1:], undecided_covered",
        "lists the Covered Countries of origin without Burundi",
    ),
    "a table said to list SORs": (
        '  <h3 id="countries">Countries of Origin</h3>',
        '  <h3 id="countries">Countries of Origin</h3>\n  <p>Table 2 lists the SORs identified.</p>',
        "says 'Table 2' lists SORs one by one, but Table 2 gives counts; they are listed in Annex A",
    ),
}


@pytest.mark.parametrize("mistake", list(SEEDED))
def test_seeded_mistakes_in_an_override_template_are_caught(overridden: Path, mistake: str) -> None:
    old, new, message = SEEDED[mistake]
    edit(overridden.parent / "theme" / "cmr.html.j2", old, new)
    with pytest.raises(InputError) as raised:
        build(overridden, overridden.parent / "out", HTML_ONLY)
    found = [p for p in raised.value.problems if message in p.message]
    assert found, [p.message for p in raised.value.problems]
    assert all(p.severity is Severity.ERROR and p.file == "conflict-minerals-report.html" for p in found)
    assert not (overridden.parent / "out").exists()  # nothing written
    # In a draft the same finding is a warning and the documents are written.
    edit(overridden, "  draft: false", "  draft: true")
    result = build(overridden, overridden.parent / "out", HTML_ONLY)
    assert any(message in w.message and w.severity is Severity.WARNING for w in result.warnings)


# ----- the checks themselves -------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_figures(tmp_path_factory: pytest.TempPathFactory) -> tuple[Figures, object]:
    filing = copy_sample("acme-2025", tmp_path_factory.mktemp("figures"))
    context = build_context(load_filing(filing))
    return figures(context), context


def page(body: str) -> str:
    return f"<html><body><section id='results'><h2>VI. Results</h2>{body}</section></body></html>"


TABLE_1 = (
    "<table class='data'><caption>Table 1. Supplier survey response</caption>"
    "<tr><th>Measure</th><th>Value</th></tr><tr><td>Suppliers surveyed</td><td>412</td></tr></table>"
)


@pytest.mark.parametrize(
    ("sentence", "complaint"),
    [
        ("We asked 412 suppliers to complete a CMRT.", None),
        ("We asked 413 suppliers to complete a CMRT.", "states '413 suppliers'"),
        ("Of the suppliers surveyed, 298 responded.", None),
        (
            "In all, 299 suppliers responded to the survey.",
            "states '299 suppliers', but the figures show 298",
        ),
        ("More than 400 suppliers were surveyed.", None),
        ("More than 500 suppliers were surveyed.", "states 'More than 500 suppliers'"),
        ("Suppliers identified 58 Conformant tin SORs.", None),
        ("Suppliers identified 59 Conformant tin SORs.", "states '59 Conformant tin SORs'"),
        ("The response rate was 72.3%.", None),
        ("The response rate was 72%.", None),
        ("The response rate was 75%.", "states a response rate of 75%"),
        ("In 2024, 265 suppliers responded.", None),  # the trend table's year
        ("In 2019, 999 suppliers responded.", None),  # a year the data does not hold: not compared
        ("The 3TG may have originated in the 41 countries listed.", None),
        ("The 3TG may have originated in 40 countries.", "states '40 countries'"),
        ("Suppliers named 5 Covered Countries.", None),
        ("Suppliers named 4 Covered Countries.", "states '4 Covered Countries'"),
        ("We sent at least two follow-up requests to in-scope suppliers.", None),
        ("Table 1 below gives the response.", None),
        ("Table 1 above gives the response.", "says Table 1 is above, but it is below"),
        ("The figures are in Table 7.", "refers to Table 7, which this document does not have"),
        ("The following table gives the response.", None),
        ("The preceding table gives the response.", "but there is no table above it"),
        ("The supplier survey table gives the response.", None),
        ("The trend table gives the years.", "no table of figures by year stands in VI. Results"),
        ("Table 1 lists the SORs identified.", "lists SORs one by one, but Table 1 gives counts"),
        ("Table 1 shows the number of suppliers surveyed.", None),
    ],
)
def test_one_sentence(sample_figures: tuple, sentence: str, complaint: str | None) -> None:
    _, context = sample_figures
    findings = document_findings(page(f"<p>{sentence}</p>{TABLE_1}"), context)
    messages = [f.message for f in findings]
    if complaint is None:
        assert messages == []
    else:
        assert any(complaint in m for m in messages), messages


def test_layout_reads_parts_and_what_they_list(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    loaded = load_filing(filing)
    context = build_context(loaded)
    layout = read_layout(render_html(loaded, context)["conflict-minerals-report"])
    parts = {p.label: p for p in layout.parts}
    assert {"Table 1", "Table 2", "Table 3", "Figure 1", "Figure 2", "Figure 3", "Annex A", "Annex B"} <= set(
        parts
    )
    assert parts["Annex A"].lists == "sors" and parts["Annex B"].lists == "countries"
    assert parts["Table 2"].lists is None and "sors" in parts["Table 2"].subjects
    assert parts["Table 1"].start < parts["Table 2"].start < parts["Annex A"].start
    assert layout.annex_marked == {"BI", "CD", "RW", "TZ", "UG"}


def test_the_check_runs_in_linear_time(sample_figures: tuple) -> None:
    """Sentences of every kind the check reads, n and 4n of them: the time grows linearly."""
    _, context = sample_figures
    paragraph = (
        "<p>We asked 412 suppliers, and 298 responded; Table 1 below gives the response and Table 2 "
        "the SORs by metal. The countries of origin in Annex B come from RMI country of origin data. "
        "Tanzania and Rwanda are Covered Countries of origin.</p>"
    )

    def seconds(count: int) -> float:
        document = page(paragraph * count + TABLE_1)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            document_findings(document, context)
            best = min(best, time.perf_counter() - start)
        return best

    small = 250  # about 60,000 characters
    assert len(page(paragraph * small)) > 50_000
    ratio = seconds(4 * small) / seconds(small)
    assert ratio < 6, ratio


def test_one_huge_sentence_is_linear(sample_figures: tuple) -> None:
    """A single 'sentence' of a few hundred thousand characters (no full stop) stays linear."""
    _, context = sample_figures

    def seconds(size: int) -> float:
        document = page("<p>" + "the suppliers table of the countries " * size + "</p>")
        start = time.perf_counter()
        document_findings(document, context)
        return time.perf_counter() - start

    ratio = seconds(8000) / max(seconds(2000), 1e-4)
    assert ratio < 6, ratio


# ----- last year's steps -----------------------------------------------------------------


def test_sample_answers_each_of_last_years_steps(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    loaded = load_filing(filing)
    prior = loaded.prior_steps
    assert prior is not None and prior.year == 2024 and len(prior.steps) == 5
    assert all(answer for _, answer in prior.answered())
    build(filing, tmp_path / "out", HTML_ONLY)
    text = html.unescape(
        re.sub(r"<[^>]+>", " ", (tmp_path / "out" / "conflict-minerals-report.html").read_text())
    )
    text = " ".join(text.split())
    assert "Progress on the Steps Described in the 2024 Report" in text
    assert "Add our responsible minerals sourcing requirements to our standard purchase order terms" in text
    assert "Completed in 2025 (see OECD Step 1 above)." in text


def test_an_unanswered_step_stops_the_copy_to_file(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    make_final(filing)
    load_filing(filing)  # every step answered: the copy to file
    edit(filing, "      progress: |\n        Completed in 2025 (see OECD Step 1 above).\n", "")
    with pytest.raises(InputError) as raised:
        load_filing(filing)
    (error,) = raised.value.problems
    assert error.severity is Severity.ERROR and error.field.startswith("narrative.progress_on_prior_steps.2")
    assert "step 3 of the 2024 report (../acme-2024/filing.yaml)" in error.message
    assert "'Add our responsible minerals sourcing requirements to our standard" in error.message
    # A draft says so as a warning and prints that the progress is not yet described.
    edit(filing, "  draft: false", "  draft: true")
    result = build(filing, tmp_path / "out", HTML_ONLY)
    assert any("step 3 of the 2024 report" in w.message for w in result.warnings)
    assert (
        "[Progress on this step is not yet described.]"
        in (tmp_path / "out" / "conflict-minerals-report.html").read_text()
    )


def test_a_step_left_out_entirely_is_named(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    text = filing.read_text(encoding="utf-8")
    start = text.index("    - step: |\n        Continue to support the RMI")
    end = text.index("\npresentation:")
    filing.write_text(text[:start] + text[end:], encoding="utf-8")
    warnings = load_filing(filing).warnings
    named = [w for w in warnings if "step 5 of the 2024 report" in w.message]
    assert named and "'Continue to support the RMI and the RMAP through our membership" in named[0].message


def test_answers_must_match_last_years_steps(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    edit(
        filing, "        Add our responsible minerals sourcing requirements", "        Add our sourcing rules"
    )
    with pytest.raises(InputError) as raised:
        load_filing(filing)
    messages = [p.message for p in raised.value.problems if p.severity is Severity.ERROR]
    assert any("is not one of the steps in ../acme-2024/filing.yaml (its steps: 1. " in m for m in messages)
    # A step number works as well as its words.
    text = filing.read_text(encoding="utf-8")
    start = text.index("    - step: |\n        Add our sourcing rules")
    end = text.index("      progress: |\n        Completed in 2025")
    filing.write_text(text[:start] + "    - step: 3\n" + text[end:], encoding="utf-8")
    assert load_filing(filing).prior_steps.answers[2].strip() == "Completed in 2025 (see OECD Step 1 above)."


def test_previous_filing_may_be_outside_the_folder_but_must_exist(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    edit(filing, "previous_filing: ../acme-2024/filing.yaml", "previous_filing: ../missing/filing.yaml")
    with pytest.raises(InputError) as raised:
        load_filing(filing)
    assert any(p.field == "previous_filing" and "cannot be read" in p.message for p in raised.value.problems)


def test_steps_carried_in_the_filing_without_last_years_file(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    edit(filing, "previous_filing: ../acme-2024/filing.yaml\n", "")
    edit(filing, "      progress: |\n        Completed in 2025 (see OECD Step 1 above).\n", "")
    make_final(filing)
    with pytest.raises(InputError) as raised:
        load_filing(filing)
    (error,) = raised.value.problems
    assert "step 3 of the 2024 report (narrative.progress_on_prior_steps)" in error.message


# ----- the elements real reports carry ---------------------------------------------------


def cmr_text(out: Path) -> str:
    """The report's words: links and emphasis inline, other elements apart."""
    body = (out / "conflict-minerals-report.html").read_text(encoding="utf-8").split("<body", 1)[1]
    body = re.sub(r"</?(?:a|em|strong|span)\b[^>]*>", "", body)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", "<body" + body)).split())


def test_the_2025_report_states_what_its_data_decides(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    build(filing, tmp_path / "out", HTML_ONLY)
    text = cmr_text(tmp_path / "out")
    assert (
        "The Company\u2019s policy on the responsible sourcing of minerals is publicly available at "
        "https://investors.acme-devices.example/governance/responsible-minerals-policy." in text
    )
    assert "The results reflect supplier responses received through March 31, 2026." in text
    assert "The products of EdgeSense Labs, Inc., acquired on September 15, 2025, are not covered" in text
    assert "for this acquisition, that is 2027." in text
    assert (
        "the Company asked suppliers to remove 9 SORs from their supply chains; suppliers reported "
        "that 6 of them were removed" in text
    )
    assert "Of the SORs listed in Annex A, 6 are located in a Covered Country" in text
    assert "The location of an SOR is not necessarily where the minerals it processes were mined" in text
    assert (
        "The countries of origin reported in this Conflict Minerals Report are based on RMI country of "
        "origin data for the SORs identified." in text
    )
    assert (
        "These include 5 Covered Countries: Burundi, the Democratic Republic of the Congo, Rwanda, Tanzania "
        "and Uganda." in text
    )


def test_an_acquisition_past_its_grace_period_is_an_error(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    edit(filing, "acquired_on: 2025-09-15", "acquired_on: 2024-03-01")
    with pytest.raises(InputError) as raised:
        load_filing(filing)
    (error,) = [p for p in raised.value.problems if p.severity is Severity.ERROR]
    assert error.field == "scope.excluded_acquisitions.0.acquired_on"
    assert "reports from 2025 on must cover them" in error.message


def test_missing_elements_stop_the_copy_to_file(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    make_final(filing)
    text = filing.read_text(encoding="utf-8")
    text = re.sub(r"\npolicy_url: [^\n]*", "", text)
    text = re.sub(r"\nscope:\n(?:  [^\n]*\n)+", "\n", text)
    filing.write_text(text, encoding="utf-8")
    edit(filing.parent / "survey.yaml", "  responses_through: '2026-03-31'\n", "")
    with pytest.raises(InputError) as raised:
        load_filing(filing)
    fields = {p.field for p in raised.value.problems if p.severity is Severity.ERROR}
    assert fields == {"policy_url", "scope", "suppliers"}


def test_policy_url_left_in_outgoing_cmrt_says_where_it_went(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    edit(
        filing,
        "  policy_public: Yes\n",
        "  policy_public: Yes\n  policy_url: https://acme-devices.com/policy\n",
    )
    with pytest.raises(InputError) as raised:
        load_filing(filing)
    (error,) = [p for p in raised.value.problems if p.severity is Severity.ERROR]
    assert error.field == "outgoing_cmrt.policy_url" and "top-level policy_url" in error.message


# ----- wording ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built_2025(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wording")
    filing = copy_sample("acme-2025", folder)
    build(filing, folder / "out", HTML_ONLY)
    return folder / "out"


def test_no_filing_date_that_can_turn_false(built_2025: Path) -> None:
    text = cmr_text(built_2025)
    assert "date of filing" not in text and "May 27, 2026" not in text.split("SIGNATURES")[0]
    assert "It is filed with that Form SD, as its Exhibit 1.01." in text


def test_definitions_follow_the_rule(built_2025: Path) -> None:
    text = cmr_text(built_2025)
    assert (
        "(ii) any other mineral or its derivatives determined by the Secretary of State of the United "
        "States to be financing conflict in the Covered Countries" in text
    )
    assert (
        "Angola, Burundi, the Central African Republic, the Republic of the Congo, Rwanda, South Sudan, "
        "Tanzania, Uganda and Zambia." in text
    )
    assert "\u201cCovered Products\u201d The products described in Section II" in text
    assert "Company\u2019s products" not in text and "Company's products" not in text


def test_the_audit_section_cites_both_staff_statements(built_2025: Path) -> None:
    text = cmr_text(built_2025)
    audit = text[text.index("VIII. Independent Private Sector Audit") :]
    assert "April 29, 2014" in audit and "April 7, 2017" in audit


def test_prose_has_typographic_quotes_and_apostrophes(built_2025: Path) -> None:
    """Every sentence of prose (the narrative and the templates' own; not the data in tables,
    where RMI's smelter names keep their spelling)."""
    for name in ("conflict-minerals-report.html", "form-sd.html"):
        layout = read_layout((built_2025 / name).read_text(encoding="utf-8"))
        straight = [s.text for s in layout.sentences if "'" in s.text or '"' in s.text]
        assert straight == [], (name, straight[:3])
    assert "smelter/refiner\u2019s due diligence practices" in cmr_text(built_2025)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Write to cm@acme.example or see https://ir.acme.test/a.", ["cm@acme.example", "ir.acme.test"]),
        ("See www.example.org and nowhere.invalid.", ["www.example.org", "nowhere.invalid"]),
        ("Our site is https://www.acme-devices.com/ir and e.g. Item 1.01.", []),
        ("myexample.community and example.company are real names.", []),
    ],
)
def test_reserved_addresses(text: str, found: list[str]) -> None:
    assert reserved_addresses(text) == found


def test_reserved_addresses_is_linear() -> None:
    def seconds(size: int) -> float:
        text = "a" * size + ".example " + "b." * size
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            reserved_addresses(text)
            best = min(best, time.perf_counter() - start)
        return best

    assert seconds(200_000) / seconds(50_000) < 6


def test_sample_addresses_stop_the_copy_to_file(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    edit(filing, "  draft: true", "  draft: false")
    unmark_illustrative(filing.parent / "survey.yaml")
    with pytest.raises(InputError) as raised:
        load_filing(filing)
    assert {p.field for p in raised.value.problems} >= {"website_url", "policy_url"}
    assert all("acme-devices.example" in p.message for p in raised.value.problems)


def test_survey_without_a_basis_makes_no_claim(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    set_basis(filing, [])
    result = build(filing, tmp_path / "out", HTML_ONLY)
    assert any(w.field == "countries_of_origin" and "does not say how" in w.message for w in result.warnings)
    text = cmr_text(tmp_path / "out")
    assert not re.search(
        r"RMI country of origin data|declared by suppliers|recorded in|available to the Company", text
    )
    data = yaml.safe_load((filing.parent / "survey.yaml").read_text())
    assert data["countries_of_origin_basis"] == []
