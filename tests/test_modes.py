"""The other two modes as the rule reads them (issue 19): an RCOI-only Form SD whose conclusion
follows from the inquiry, and a conflict-free claim that names its products and the audit behind
it. One test (or more) per finding of the review."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from conflict_minerals.build import BuildOptions, OutputFormat, build, validate
from conflict_minerals.filing.loader import load_filing
from conflict_minerals.filing.starter import write_starter
from conflict_minerals.problems import InputError, Problem, Severity

from .conftest import SAMPLES, copy_sample, edit, make_conflict_free_claim, make_final, make_rcoi_only

HTML_ONLY = frozenset({OutputFormat.HTML})


def words(path: Path) -> str:
    body = path.read_text(encoding="utf-8").split("<body", 1)[1]
    body = re.sub(r"</?(?:a|em|strong|span)\b[^>]*>", "", body)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", "<body" + body)).split())


def problems_of(filing: Path) -> list[Problem]:
    """Everything validate says, whether the filing is valid or not."""
    try:
        return validate(filing).loaded.warnings
    except InputError as error:
        return error.problems


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.ERROR]


def company_copy(filing: Path) -> None:
    """A copied sample as the company's own copy to file (addresses, survey markings)."""
    make_final(filing)


@pytest.fixture
def rcoi(tmp_path: Path) -> Path:
    """The RCOI-only sample, as the copy to file."""
    filing = copy_sample("northwind-rcoi-2025", tmp_path)
    edit(filing, "  draft: true", "  draft: false")
    edit(filing, "northwind-controls.example", "northwind-controls.com")
    survey = filing.parent / "survey.yaml"
    text = survey.read_text(encoding="utf-8")
    text = re.sub(
        r"(?ms)^note: .*?(?=^suppliers:)", "note: Survey results of Northwind Controls, Inc.\n", text
    )
    survey.write_text(text.replace(" (illustrative statuses for this sample)", ""), encoding="utf-8")
    assert errors(problems_of(filing)) == []
    return filing


# ----- rcoi_only ---------------------------------------------------------------------------


def test_1_rcoi_only_names_its_path_and_prints_its_words(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    make_rcoi_only(filing)
    edit(filing, "rcoi_result: reason_to_believe\n", "")
    (error,) = errors(problems_of(filing))
    assert error.field == "rcoi_result" and "required when mode is rcoi_only" in error.message
    edit(filing, "mode: rcoi_only", "mode: rcoi_only\nrcoi_result: reason_to_believe")
    build(filing, tmp_path / "out", HTML_ONLY)
    text = words(tmp_path / "out" / "form-sd.html")
    assert (
        "In reliance on the statement of the Division of Corporation Finance of the Securities and "
        "Exchange Commission of April 7, 2017" in text
    )
    assert (
        "the Company files that disclosure in this Form SD and does not file a Conflict Minerals Report"
        in text
    )


def test_1_the_negative_determination_prints_its_own_words(tmp_path: Path) -> None:
    filing = copy_sample("northwind-rcoi-2025", tmp_path)
    build(filing, tmp_path / "out", HTML_ONLY)
    text = words(tmp_path / "out" / "form-sd.html")
    assert (
        "the Company has no reason to believe that any of the Conflict Minerals necessary to the "
        "functionality or production of the Covered Products may have originated in the Covered Countries"
        in text
    )
    assert "April 7, 2017" not in text


def test_2_no_reason_to_believe_against_covered_country_origins_fails_naming_the_data(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    make_rcoi_only(filing)
    edit(filing, "rcoi_result: reason_to_believe", "rcoi_result: no_reason_to_believe")
    # A draft: warnings, and the documents are read; the words say the opposite of the result too.
    drafted = problems_of(filing)
    assert any("says the Company has reason to believe, but rcoi_result is" in p.message for p in drafted)
    company_copy(filing)
    found = errors(problems_of(filing))
    named = {p.field for p in found}
    assert {"countries_of_origin.tantalum", "countries_of_origin.tin"} <= named
    tin = next(p for p in found if p.field == "countries_of_origin.tin")
    assert "Democratic Republic of the Congo" in tin.message and "no_reason_to_believe" in tin.message


def test_2_suppliers_answering_yes_contradict_no_reason_to_believe(rcoi: Path) -> None:
    survey = rcoi.parent / "survey.yaml"
    edit(survey, "    tin:\n      'No': 49\n", "    tin:\n      'No': 47\n      'Yes': 2\n")
    (error,) = errors(problems_of(rcoi))
    assert error.field == "rcoi_result"
    assert (
        "suppliers answered Yes when asked whether their 3TG came from the Covered Countries" in error.message
    )
    assert "declaration_summary.covered_countries: tin 2" in error.message


def test_2_the_starter_in_rcoi_only_is_told_its_survey_has_rwanda(tmp_path: Path) -> None:
    write_starter(tmp_path / "s")
    filing = tmp_path / "s" / "filing.yaml"
    edit(filing, "mode: cmr", "mode: rcoi_only")
    edit(filing, "# rcoi_result: no_reason_to_believe", "rcoi_result: no_reason_to_believe")
    found = problems_of(filing)
    tantalum = [p for p in found if p.field == "countries_of_origin.tantalum"]
    assert tantalum and "Rwanda" in tantalum[0].message


def test_2_refiners_in_a_covered_country_ask_for_the_explanation(rcoi: Path) -> None:
    survey = rcoi.parent / "survey.yaml"
    text = survey.read_text(encoding="utf-8")
    first = re.search(r"  country: [A-Z ,()]+\n", text)[0]
    survey.write_text(text.replace(first, "  country: RWANDA\n", 1), encoding="utf-8")
    found = problems_of(rcoi)
    warning = next(p for p in found if "located in a Covered Country" in p.message)
    assert warning.severity is Severity.WARNING and "narrative.refiner_locations" in warning.message
    edit(
        rcoi,
        "presentation:",
        "  refiner_locations: |\n    That refiner processes ore from Australia only, as its supplier "
        "confirmed.\n\npresentation:",
    )
    assert not [p for p in problems_of(rcoi) if "located in a Covered Country" in p.message]
    build(rcoi, rcoi.parent / "out", HTML_ONLY)
    assert "That refiner processes ore from Australia only" in words(rcoi.parent / "out" / "form-sd.html")


def test_3_a_claim_with_no_exceptions_is_a_claim(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    company_copy(filing)
    edit(
        filing,
        "  results: |\n",
        "  results: |\n    All of our products are DRC conflict free, with no exceptions.\n\n",
    )
    found = [p for p in errors(problems_of(filing)) if "conflict free" in p.message]
    assert found and "needs mode conflict_free_claim" in found[0].message
    assert found[0].field == "narrative.results"


def test_3_a_sentence_that_disclaims_the_label_is_not_a_claim(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    company_copy(filing)
    edit(
        filing,
        "  results: |\n",
        "  results: |\n    We have not described any of our products as DRC conflict free.\n\n",
    )
    assert not [p for p in problems_of(filing) if "conflict free" in p.message.lower()]


def test_4_the_rcoi_only_form_sd_states_necessity_and_defines_its_terms(rcoi: Path) -> None:
    build(rcoi, rcoi.parent / "out", HTML_ONLY)
    text = words(rcoi.parent / "out" / "form-sd.html")
    assert (
        "The Company has determined that 3TG are necessary to the functionality or production of "
        "products that it manufactured or contracted to manufacture during the reporting period (the "
        "\u201cCovered Products\u201d)." in text
    )
    assert "\u201c3TG\u201d means tantalum, tin, tungsten and gold." in text
    assert "\u201cConflict Minerals\u201d are (i) cassiterite" in text
    assert "Programmable logic controllers" in text or "programmable logic controllers" in text


def test_4_fields_rcoi_only_does_not_print_are_not_required_nor_gated(rcoi: Path) -> None:
    assert load_filing(rcoi).filing.narrative.company_overview is None  # not required
    edit(rcoi, "narrative:\n", "narrative:\n  company_overview: |\n    [Describe the company here.]\n\n")
    assert errors(problems_of(rcoi)) == []  # a placeholder in an unprinted field
    # A status list is not needed either: this mode prints nothing from it.
    survey = rcoi.parent / "survey.yaml"
    text = survey.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^status_list:\n(?:  .*\n)+", "", text)
    text = re.sub(
        r"(?m)^  status: \w[\w -]*\n", "  status: Other\n  status_note: No status list given\n", text
    )
    survey.write_text(text, encoding="utf-8")
    assert errors(problems_of(rcoi)) == []


@pytest.mark.parametrize(
    ("sentence", "complaint"),
    [
        ("The SORs are listed in Annex A.", "refers to Annex A, which this document does not have"),
        (
            "The results are set out in the tables below.",
            "refers to 'the tables below', but there is no table",
        ),
        ("For more, see our CMR on our website.", "refers to a CMR, but none is filed in rcoi_only mode"),
        ("Exhibit 1.01 describes our due diligence.", "refers to 'Exhibit 1.01', but in rcoi_only mode"),
    ],
)
def test_5_references_to_what_is_not_filed_stop_the_copy_to_file(
    rcoi: Path, sentence: str, complaint: str
) -> None:
    edit(
        rcoi, "    Of the 64 suppliers we surveyed", f"    {sentence}\n\n    Of the 64 suppliers we surveyed"
    )
    found = errors(problems_of(rcoi))
    assert any(complaint in p.message for p in found), [p.message for p in found]


def test_5_the_starter_speaks_of_the_report_only_when_one_is_filed() -> None:
    starter = (
        Path(__file__).resolve().parents[1] / "src/conflict_minerals/filing/starter/filing.yaml"
    ).read_text()
    comment = starter[: starter.index("website_url:")].rsplit("\n\n", 1)[1]
    assert "when one is filed" in comment


# ----- conflict_free_claim -----------------------------------------------------------------


@pytest.fixture
def claim(tmp_path: Path) -> Path:
    """The conflict-free-claim sample, as the copy to file."""
    filing = copy_sample("acme-claim-2025", tmp_path)
    company_copy(filing)
    assert errors(problems_of(filing)) == []
    return filing


def test_6_the_claim_names_its_products_and_defines_the_term(claim: Path) -> None:
    build(claim, claim.parent / "out", HTML_ONLY)
    text = words(claim.parent / "out" / "conflict-minerals-report.html")
    assert (
        "\u201cDRC conflict free\u201d As Form SD defines the term, describes a product that does not contain"
        in text
    )
    assert (
        "The Company describes the following product as \u201cDRC conflict free\u201d: EdgeLink industrial "
        "edge gateways." in text
    )
    assert "The 16 SORs are all Conformant in the RMAP." in text
    assert "CID003926" in text.split("Products Described as DRC Conflict Free", 1)[1]


def test_6_a_claim_without_products_is_refused(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    edit(filing, "mode: cmr", "mode: conflict_free_claim")
    edit(
        filing,
        "  risk_mitigation:\n",
        '  independent_audit:\n    auditor: "A LLP"\n    report: Text.\n  risk_mitigation:\n',
    )
    found = errors(problems_of(filing))
    assert any(p.field == "conflict_free_products" and "required when mode" in p.message for p in found)


def test_6_a_claimed_sor_that_is_not_conformant_refuses_the_claim(claim: Path) -> None:
    # CID001076 (AMG Brasil, tantalum) is Not Enrolled in the sample survey.
    edit(claim, "    sors: [CID003926,", "    sors: [CID001076, CID003926,")
    (error,) = [p for p in errors(problems_of(claim)) if p.field == "conflict_free_products.0"]
    assert "cannot be described as 'DRC conflict free'" in error.message
    assert "CID001076 AMG Brasil (Not Enrolled)" in error.message


def test_6_the_claim_is_refused_outside_its_mode(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    edit(filing, "mode: cmr", "mode: cmr\nconflict_free_products:\n  - {name: X, sors: [CID003926]}")
    assert any(p.field == "conflict_free_products" for p in errors(problems_of(filing)))


@pytest.mark.parametrize(
    "sentence",
    [
        "Acme is a conflict-free company.",
        "All of our smelters are conflict free.",
        "Our supply chain is conflict-free.",
    ],
)
def test_7_conflict_free_beyond_products_is_an_error_in_every_mode(claim: Path, sentence: str) -> None:
    edit(claim, "  results: |\n", f"  results: |\n    {sentence}\n\n")
    found = [p for p in errors(problems_of(claim)) if "label applies to products only" in p.message]
    assert found and found[0].field == "narrative.results"


def test_7_used_outside_the_rules_meaning_and_said_so_is_fine(claim: Path) -> None:
    edit(
        claim,
        "  results: |\n",
        '  results: |\n    All of our smelters are conflict free. We use "conflict free" here outside the '
        "meaning of the Conflict Minerals Rule: it means that each smelter is Conformant in the RMAP.\n\n",
    )
    assert not [p for p in problems_of(claim) if "label applies to products only" in p.message]


def test_7_a_product_claim_must_name_a_claimed_product(claim: Path) -> None:
    edit(claim, "  results: |\n", "  results: |\n    Our power modules are DRC conflict free.\n\n")
    found = [p for p in errors(problems_of(claim)) if "without naming one the filing claims" in p.message]
    assert found and "EdgeLink industrial edge gateways" in found[0].message


def test_8_the_starters_auditor_example_is_caught(tmp_path: Path) -> None:
    write_starter(tmp_path / "s")
    filing = tmp_path / "s" / "filing.yaml"
    text = filing.read_text(encoding="utf-8")
    text = text.replace("  # independent_audit:", "  independent_audit:")
    text = text.replace('  #   auditor: "Example Audit LLP"', '    auditor: "Example Audit LLP"')
    text = text.replace("  #   report: |\n  #     [Text", "    report: |\n      [Text")
    filing.write_text(text.replace("  draft: true", "  draft: false"), encoding="utf-8")
    found = errors(problems_of(filing))
    assert any(p.field == "narrative.independent_audit.auditor" and "starter" in p.message for p in found)


def test_8_a_pointer_to_an_exhibit_not_filed_is_an_error(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    make_conflict_free_claim(filing, ["CID003926"])
    company_copy(filing)
    edit(
        filing,
        "      description of the due diligence measures performed.",
        "      report, attached as Exhibit 1.02.",
    )
    found = errors(problems_of(filing))
    assert any(
        "refers to Exhibit 1.02, which is not filed (the Form SD files Exhibit 1.01)" in p.message
        for p in found
    )


def test_8_an_audit_report_file_is_filed_as_exhibit_1_02_everywhere(claim: Path) -> None:
    out = claim.parent / "out"
    build(claim, out, BuildOptions(formats=frozenset({OutputFormat.HTML}), edgar=True))
    assert (out / "independent-audit-report.html").is_file()
    form_sd = words(out / "form-sd.html")
    assert "the report of the independent private sector audit as Exhibit 1.02 hereto" in form_sd
    assert "Report of the independent private sector audit of the Conflict Minerals Report" in form_sd
    submission = json.loads((out / "edgar" / "submission.json").read_text())
    assert [d["type"] for d in submission["documents"]] == ["SD", "EX-1.01", "EX-1.02"]
    assert "Harbor & Vale Assurance LLP" in words(out / "independent-audit-report.html")
    manifest = json.loads((out / "manifest.json").read_text())
    assert "audit-report.md" in {e["path"] for e in manifest["inputs"]}


def test_8_the_audit_is_given_once(claim: Path) -> None:
    edit(claim, "    report_file: audit-report.md", "    report_file: audit-report.md\n    report: Text.")
    assert any("not both" in p.message for p in errors(problems_of(claim)))


def test_9_the_audit_section_states_objective_and_certification(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    make_conflict_free_claim(filing, ["CID003926"])
    build(filing, tmp_path / "out", HTML_ONLY)
    text = words(tmp_path / "out" / "conflict-minerals-report.html")
    audit = text[text.index("VIII. Independent Private Sector Audit") :]
    assert "The Company certifies that it obtained an independent private sector audit" in audit
    assert "whether the design of the Company\u2019s due diligence framework" in audit
    assert "is consistent, in all material respects, with the due diligence process" in audit
    assert "It is not an audit of this report as a whole." in audit
    assert "The report of Example Assurance LLP is set out below." in audit
    form_sd = words(tmp_path / "out" / "form-sd.html")
    assert (
        "which includes the report of the independent private sector audit, is provided as Exhibit 1.01"
        in form_sd
    )
    assert "Conflict Minerals Report, including the report of the independent private sector audit" in form_sd


# ----- the samples -------------------------------------------------------------------------


@pytest.mark.parametrize("sample", ["northwind-rcoi-2025", "acme-claim-2025"])
def test_the_new_samples_build_as_drafts_without_error(sample: str, tmp_path: Path) -> None:
    result = build(SAMPLES / sample / "filing.yaml", tmp_path / "out", HTML_ONLY)
    assert all(w.severity is Severity.WARNING for w in result.warnings)
    assert not [w for w in result.warnings if w.file.endswith(".html")]  # the words agree with the data


def test_switching_the_rcoi_conclusion_against_its_data_fails_naming_the_data(rcoi: Path) -> None:
    survey = rcoi.parent / "survey.yaml"
    edit(survey, "  tin:\n  - Bolivia\n", "  tin:\n  - Bolivia\n  - Democratic Republic of the Congo\n")
    (error,) = errors(problems_of(rcoi))
    assert error.field == "countries_of_origin.tin" and "Democratic Republic of the Congo" in error.message
