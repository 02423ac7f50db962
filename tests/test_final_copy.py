"""The final-copy gate, the Rule 13p-1 elements, the EDGAR draft guard and the wording that
states its sources (issue 9, the build half)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pypdf import PdfReader
from typer.testing import CliRunner

from conflict_minerals.build import BuildOptions, OutputFormat, build, validate
from conflict_minerals.cli import app
from conflict_minerals.filing.final_copy import STATUS_LIST_MAX_AGE_DAYS, bracket_placeholders
from conflict_minerals.filing.loader import load_filing
from conflict_minerals.filing.starter import write_starter
from conflict_minerals.problems import InputError, Problem, Severity

from .conftest import copy_sample, edit, make_rcoi_only, unmark_illustrative

HTML_ONLY = frozenset({OutputFormat.HTML})
runner = CliRunner()


def html_text(path: Path) -> str:
    """The words a reader sees: body text only, entities resolved, whitespace collapsed."""
    body = path.read_text(encoding="utf-8").split("<body", 1)[1]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", "<body" + body)).split())


def line_of(text: str, needle: str) -> int:
    found = [n for n, line in enumerate(text.split("\n"), start=1) if needle in line]
    assert len(found) == 1, f"{needle!r} on lines {found}"
    return found[0]


def refused(filing: Path) -> list[Problem]:
    with pytest.raises(InputError) as raised:
        load_filing(filing)
    return raised.value.problems


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.ERROR]


def survey_of(filing: Path) -> Path:
    return filing.parent / "survey.yaml"


def rewrite_survey(filing: Path, change: Any) -> None:
    path = survey_of(filing)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000), encoding="utf-8")


@pytest.fixture
def company(tmp_path: Path) -> Path:
    """The 2025 sample as a company's own draft: the survey no longer marked illustrative, the
    addresses no longer under the reserved .example name."""
    filing = copy_sample("acme-2025", tmp_path)
    unmark_illustrative(survey_of(filing))
    edit(filing, "acme-devices.example", "acme-devices.com", count=-1)
    return filing


# ----- The starter and the samples -----------------------------------------------------


@pytest.fixture
def starter(tmp_path: Path) -> Path:
    write_starter(tmp_path / "starter")
    return tmp_path / "starter" / "filing.yaml"


def test_unedited_starter_final_build_fails_with_file_and_line_for_each_placeholder(starter: Path) -> None:
    edit(starter, "  draft: true", "  draft: false")
    text = starter.read_text(encoding="utf-8")
    survey_text = survey_of(starter).read_text(encoding="utf-8")
    problems = refused(starter)
    assert errors(problems) == problems
    found = {(Path(p.file).name, p.line, p.field) for p in problems}
    filing_lines = {
        "[product line one": "narrative.products_in_scope",
        "[product line two": "narrative.products_in_scope",
        "website_url:": "website_url",
        "policy_url:": "policy_url",
        "[conflict.minerals@example.com]": "narrative.due_diligence.step_1_management_systems",
        "[https://www.example.com/": "narrative.due_diligence.step_5_annual_report",
        'name: "Example Company, Inc."': "registrant.name",
        "commission_file_number:": "registrant.commission_file_number",
        "irs_employer_identification_number:": "registrant.irs_employer_identification_number",
        "principal_executive_offices:": "registrant.principal_executive_offices",
        'name: "Jordan A. Smith"': "registrant.contact.name",
        'phone: "(555) 555-0100"': "registrant.contact.phone",
        'name: "Alex B. Jones"': "signature.name",
    }
    expected = {("filing.yaml", line_of(text, needle), field) for needle, field in filing_lines.items()}
    expected |= {
        ("survey.yaml", line_of(survey_text, "note: Illustrative"), "note"),
        ("survey.yaml", line_of(survey_text, "(illustrative)"), "status_list.source"),
    }
    assert found == expected
    result = runner.invoke(app, ["build", str(starter), "--out", str(starter.parent / "out")])
    assert result.exit_code == 1
    assert (
        f"filing.yaml:{line_of(text, '[product line one')}:7: narrative.products_in_scope: placeholder"
        in (result.output)
    )
    assert not (starter.parent / "out").exists()


def test_starter_still_builds_as_a_draft_with_the_same_items_as_warnings(
    starter: Path, tmp_path: Path
) -> None:
    result = build(starter, tmp_path / "out", HTML_ONLY)
    fields = {w.field for w in result.warnings if w.severity is Severity.WARNING}
    assert {"narrative.products_in_scope", "website_url", "registrant.name", "note"} <= fields
    assert (tmp_path / "out" / "conflict-minerals-report.html").exists()


@pytest.mark.parametrize("sample", ["acme-2024", "acme-2025"])
def test_sample_final_build_fails_only_because_it_is_illustrative(sample: str, tmp_path: Path) -> None:
    filing = copy_sample(sample, tmp_path)
    edit(filing, "  draft: true", "  draft: false")
    problems = refused(filing)
    illustrative = [p for p in problems if "illustrative" in p.message]
    assert [(Path(p.file).name, p.field, p.severity) for p in illustrative] == [
        ("survey.yaml", "note", Severity.ERROR),
        ("survey.yaml", "status_list.source", Severity.ERROR),
    ]
    # Every other problem is one of the sample's invented addresses under the reserved .example.
    addresses = [p for p in problems if p not in illustrative]
    assert {p.field for p in addresses} >= {"website_url", "policy_url", "outgoing_cmrt.contact_email"}
    assert all("acme-devices.example" in p.message and "reserved" in p.message for p in addresses)
    assert all("copy to file" in p.message for p in problems)
    # With the survey's markings and the addresses gone, nothing else stands in the way.
    unmark_illustrative(survey_of(filing))
    edit(filing, "acme-devices.example", "acme-devices.com", count=-1)
    assert load_filing(filing).warnings == []


def test_survey_note_is_never_printed(company: Path, tmp_path: Path) -> None:
    rewrite_survey(
        company, lambda d: d.update(note="Generated by cmr ingest from the supplier workbooks in x.")
    )
    build(company, tmp_path / "out", HTML_ONLY)
    for name in ("form-sd.html", "conflict-minerals-report.html"):
        text = (tmp_path / "out" / name).read_text(encoding="utf-8")
        assert "Generated by cmr ingest" not in text and "data-note" not in text


# ----- Placeholders --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (
            "Our products: [product line one, for example sensors].",
            ["[product line one, for example sensors]"],
        ),
        ("Signed for [COMPANY NAME] by us.", ["[COMPANY NAME]"]),
        ("See [our policy](https://acme.example/policy) and [t]he [sic] text.", []),
        ("Write to [cm@acme.example](mailto:cm@acme.example).", []),
        ("Totals [...] are in the tables.", ["[...]"]),
    ],
)
def test_bracket_placeholders(text: str, found: list[str]) -> None:
    assert bracket_placeholders(text) == found


def test_placeholder_in_a_company_filing_points_at_its_line(company: Path) -> None:
    edit(
        company,
        "    In 2025 we began shipping",
        "    [Describe new products here.]\n\n    In 2025 we began shipping",
    )
    edit(company, "  draft: true", "  draft: false")
    text = company.read_text(encoding="utf-8")
    (problem,) = refused(company)
    assert (problem.line, problem.column) == (line_of(text, "[Describe new products here.]"), 5)
    assert problem.field == "narrative.products_in_scope" and "placeholder" in problem.message


def test_illustrative_in_the_filing_text_is_flagged(company: Path) -> None:
    edit(
        company,
        "    In 2025 we began shipping",
        "    These figures are illustrative.\n\n    In 2025 we began shipping",
    )
    warnings = load_filing(company).warnings
    (warning,) = warnings
    assert warning.severity is Severity.WARNING and warning.line == line_of(
        company.read_text(encoding="utf-8"), "These figures are illustrative."
    )


# ----- Status list ---------------------------------------------------------------------


def test_no_status_list_is_a_warning_in_draft_and_an_error_in_the_final_copy(company: Path) -> None:
    def drop_list(data: dict) -> None:
        data.pop("status_list")
        for smelter in data["smelters"]:
            smelter.update(status="Other", status_note="No status list given")

    rewrite_survey(company, drop_list)
    survey_line = line_of(survey_of(company).read_text(encoding="utf-8"), "smelters:") + 1
    (warning,) = load_filing(company).warnings
    assert (warning.field, warning.line, warning.severity) == ("smelters", survey_line, Severity.WARNING)
    assert "no RMAP status list was given" in warning.message and "--status" in warning.message
    edit(company, "  draft: true", "  draft: false")
    (error,) = refused(company)
    assert (error.field, error.line, error.severity) == ("smelters", survey_line, Severity.ERROR)


def test_status_list_dated_long_before_the_signature_is_a_warning(company: Path) -> None:
    rewrite_survey(company, lambda d: d["status_list"].update(as_of="2025-01-15"))
    (warning,) = load_filing(company).warnings
    assert warning.field == "status_list.as_of" and warning.severity is Severity.WARNING
    assert (
        "January 15, 2025, 497 days (about 16 months) before the signature date May 27, 2026"
        in warning.message
    )
    # Still only a warning in the final copy.
    edit(company, "  draft: true", "  draft: false")
    assert [w.severity for w in load_filing(company).warnings] == [Severity.WARNING]


def test_status_list_as_of_the_year_end_is_fine(company: Path) -> None:
    rewrite_survey(company, lambda d: d["status_list"].update(as_of="2025-12-31"))
    assert (
        load_filing(company).filing.signature.date - load_filing(company).survey.status_list.as_of
    ).days <= (STATUS_LIST_MAX_AGE_DAYS)
    assert load_filing(company).warnings == []


# ----- Rule 13p-1 elements -------------------------------------------------------------


def drop_mine_of_origin_efforts(filing: Path) -> None:
    text = filing.read_text(encoding="utf-8")
    start = text.index("  mine_of_origin_efforts: |")
    end = text.index("  risk_mitigation:")
    filing.write_text(text[:start] + text[end:], encoding="utf-8")


def test_missing_mine_of_origin_efforts_is_never_silent(company: Path, tmp_path: Path) -> None:
    drop_mine_of_origin_efforts(company)
    (warning,) = load_filing(company).warnings
    assert warning.field == "narrative.mine_of_origin_efforts" and warning.severity is Severity.WARNING
    build(company, tmp_path / "out", HTML_ONLY)
    cmr = html_text(tmp_path / "out" / "conflict-minerals-report.html")
    assert (
        "Efforts to Determine the Mine or Location of Origin To determine the mine or location of origin of "
        "the 3TG in the Covered Products, the Company asked 412 suppliers to complete the CMRT" in cmr
    )
    edit(company, "  draft: true", "  draft: false")
    (error,) = refused(company)
    assert error.field == "narrative.mine_of_origin_efforts" and error.severity is Severity.ERROR


def test_no_facilities_and_no_countries_are_missing_elements(company: Path, tmp_path: Path) -> None:
    rewrite_survey(company, lambda d: d.update(smelters=[], countries_of_origin={}, prior_years=[]))
    fields = {(w.field, w.severity) for w in load_filing(company).warnings}
    assert fields == {("smelters", Severity.WARNING), ("countries_of_origin", Severity.WARNING)}
    build(company, tmp_path / "out", HTML_ONLY)
    cmr = html_text(tmp_path / "out" / "conflict-minerals-report.html")
    assert "The Company’s suppliers identified no SORs listed in the RMI smelter reference list." in cmr
    assert "did not identify the countries of origin of the 3TG processed by the SORs in Annex A" in cmr
    assert "did not identify the countries of origin of the 3TG in the Covered Products" in cmr
    edit(company, "  draft: true", "  draft: false")
    assert {(p.field, p.severity) for p in refused(company)} == {
        ("smelters", Severity.ERROR),
        ("countries_of_origin", Severity.ERROR),
    }


def test_rcoi_only_prints_no_reference_to_a_report(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    make_rcoi_only(filing)
    build(filing, tmp_path / "out", HTML_ONLY)
    text = html_text(tmp_path / "out" / "form-sd.html")
    # Only to say that none is filed (the reason-to-believe path under the 2017 staff statement).
    said = "the Company files that disclosure in this Form SD and does not file a Conflict Minerals Report"
    assert said in text
    assert not re.search(r"Conflict Minerals Report\b|Exhibit 1\.01", text.replace(said, ""))
    # "this report" elsewhere is the Form SD's own wording (cover, signatures) about itself.
    item_1_01 = text[text.index("Item 1.01") : text.index("Item 1.02")]
    assert "Reasonable Country of Origin Inquiry" in item_1_01
    assert not re.search(r"\b(this|the|our) report\b", item_1_01, re.IGNORECASE)


# ----- Cross-references and wording ----------------------------------------------------


def test_determination_pointing_at_tables_below_is_flagged(company: Path) -> None:
    edit(
        company,
        "    those that may have processed, or been the source of, the 3TG in the Covered Products.",
        "    those that may have processed, or been the source of, the 3TG in the Covered Products, as\n"
        "    the tables below show.",
    )
    text = company.read_text(encoding="utf-8")
    warnings = validate(company).loaded.warnings
    # Found twice: by the narrative check (before rendering) and by the check of the document.
    assert {(w.field, w.severity) for w in warnings} == {("narrative.determination", Severity.WARNING)}
    assert any("printed after the results tables" in w.message for w in warnings)
    rendered = [
        w for w in warnings if "refers to 'the tables below', but there is no table below it" in w.message
    ]
    # The finding of the document points at the sentence's first line in the narrative.
    sentence = line_of(text, "    The SORs listed in Annex A, with their RMAP status")
    assert rendered and all(w.line == sentence for w in rendered)


def mine_location_survey(data: dict, basis: list[str], unresolved: int = 3, declined: int = 2) -> None:
    """Countries read from suppliers' mine locations (ingest's summary), with the given basis."""
    data["countries_of_origin_basis"] = basis
    data["mine_locations"] = {
        "cells": 10,
        "parts_resolved": 12,
        "parts_recycled": 1,
        "parts_unresolved": unresolved,
        "parts_declined": declined,
    }


def test_annex_b_states_supplier_declarations_with_counts(company: Path, tmp_path: Path) -> None:
    rewrite_survey(company, lambda d: mine_location_survey(d, ["supplier_declarations"]))
    (warning,) = load_filing(company).warnings
    assert warning.field == "mine_locations" and warning.severity is Severity.WARNING
    assert "3 could not be resolved to a country" in warning.message
    assert "2 pointed elsewhere or declined to answer" in warning.message
    build(company, tmp_path / "out", HTML_ONLY)
    cmr = html_text(tmp_path / "out" / "conflict-minerals-report.html")
    annex_b = cmr[cmr.index("Annex B – Countries of Origin Countries") :]
    assert (
        "as declared by suppliers in the mine location column of the smelter lists in their CMRTs "
        "(of 18 places named in 10 entries, 12 were identified as countries, 1 as recycled or scrap "
        "sources, 3 could not be resolved to a country and 2 referred elsewhere or declined to answer)."
        in annex_b
    )
    assert "Some mine locations could not be determined" in annex_b
    assert annex_b.count("3 could not be resolved") == 1  # the counts are given once, not repeated
    results = cmr[cmr.index("Countries of Origin Based on") : cmr.index("Efforts to Determine")]
    assert results.startswith(
        "Countries of Origin Based on the mine locations that suppliers declared in their CMRTs"
    )
    assert (
        "Some mine locations could not be determined: of the places suppliers named as mine locations, 3"
        in results
    )
    assert "as reported through the RMI" not in cmr


@pytest.mark.parametrize(
    ("basis", "annex_b", "results"),
    [
        (
            ["rmi"],
            "may have originated, as given in RMI country of origin data for those SORs.",
            "Based on RMI country of origin data for the SORs identified, the 3TG in the Covered Products",
        ),
        (
            # A survey that does not say: a warning, and no sentence names a source.
            [],
            "Countries in which the 3TG processed by the SORs in Annex A may have originated. An X",
            "Countries of Origin The 3TG in the Covered Products may have originated in the 41 countries",
        ),
    ],
)
def test_annex_b_wording_follows_the_basis(
    company: Path, tmp_path: Path, basis: list[str], annex_b: str, results: str
) -> None:
    rewrite_survey(company, lambda d: mine_location_survey(d, basis, unresolved=0, declined=0))
    warnings = load_filing(company).warnings
    assert [w.field for w in warnings] == ([] if basis else ["countries_of_origin"])
    build(company, tmp_path / "out", HTML_ONLY)
    cmr = html_text(tmp_path / "out" / "conflict-minerals-report.html")
    assert annex_b in cmr and results in cmr
    assert "could not be determined" not in cmr
    if not basis:
        assert not re.search(
            r"RMI country of origin|declared by suppliers|recorded in|information available to the Company",
            cmr,
        )


def test_annex_a_prints_status_notes_as_keys_with_a_legend(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    build(filing, tmp_path / "out", HTML_ONLY)
    html = (tmp_path / "out" / "conflict-minerals-report.html").read_text(encoding="utf-8")
    annex = html[html.index('id="annex-a"') : html.index('id="annex-b"')]
    assert (
        "A letter after a status refers to these notes: (a) In communication with RMI; (b) Suspended."
        in annex
    )
    survey = yaml.safe_load(survey_of(filing).read_text(encoding="utf-8"))
    for smelter in survey["smelters"]:
        key = {"In communication with RMI": " (a)", "Suspended": " (b)"}.get(smelter.get("status_note"), "")
        assert f'<td class="cid">{smelter["cid"]}</td>' in annex
        row = annex[annex.index(f'<td class="cid">{smelter["cid"]}</td>') :].split("</tr>", 1)[0]
        assert row.endswith(f"<td>{smelter['status']}{key}</td>")
    assert "Other (In communication" not in annex


def test_headings_keep_with_their_tables_in_the_pdf(tmp_path: Path) -> None:
    """A heading stays on the page of what follows it: its table, or the first lines of the text
    that introduces the table (Table 2's); a table's caption stays with the table."""
    filing = copy_sample("acme-2025", tmp_path)
    build(filing, tmp_path / "out", frozenset({OutputFormat.PDF}))
    pages = [
        page.extract_text() or ""
        for page in PdfReader(tmp_path / "out" / "conflict-minerals-report.pdf").pages
    ]
    for heading, following in (
        ("Supplier Survey Response", "Table 1."),
        ("Smelters and Refiners by RMAP Status", "Supplier responses identified"),
        ("Multi-Year Trend", "Table 3."),
    ):
        (page,) = [text for text in pages if heading in text and "Contents" not in text]
        assert following in page, f"{heading!r} is on a page without {following!r}"
    for caption, first_row in (
        ("Table 1.", "Suppliers surveyed"),
        ("Table 2.", "Tantalum"),
        ("Table 3.", "2022"),
    ):
        (page,) = [text for text in pages if caption in text]
        assert first_row in page.split(caption, 1)[1], f"{caption} is apart from its table"


# ----- EDGAR ---------------------------------------------------------------------------


def test_edgar_package_from_a_draft_is_refused(company: Path, tmp_path: Path) -> None:
    text = company.read_text(encoding="utf-8")
    result = runner.invoke(
        app, ["build", str(company), "--out", str(tmp_path / "out"), "--format", "html", "--edgar"]
    )
    assert result.exit_code == 1
    assert f"filing.yaml:{line_of(text, '  draft: true')}:10: presentation.draft: is true" in result.output
    assert "--allow-draft" in result.output
    assert not (tmp_path / "out").exists()


def test_allow_draft_writes_a_test_package_that_check_edgar_flags(company: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["build", str(company), "--out", str(out), "--format", "html", "--edgar", "--allow-draft"]
    )
    assert result.exit_code == 0, result.output
    checked = runner.invoke(app, ["check-edgar", str(out / "edgar" / "formsd-2025.htm"), "--json"])
    assert checked.exit_code == 1
    problems = json.loads(checked.stdout)
    assert problems and {p["rule"] for p in problems} == {"draft-banner"}
    assert "DRAFT for review by counsel" in problems[0]["message"]


def test_final_edgar_package_has_no_draft_banner(company: Path, tmp_path: Path) -> None:
    edit(company, "  draft: true", "  draft: false")
    build(company, tmp_path / "out", BuildOptions(formats=HTML_ONLY, edgar=True))
    files = [str(tmp_path / "out" / "edgar" / name) for name in ("formsd-2025.htm", "ex1-01-2025.htm")]
    assert runner.invoke(app, ["check-edgar", *files]).exit_code == 0
