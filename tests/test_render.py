"""Rendering: the documents say what the SEC form requires and print the survey's numbers."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader

from conflict_minerals.build import OutputFormat, build
from conflict_minerals.problems import InputError

from .conftest import copy_sample, edit, make_final, make_rcoi_only

HTML_ONLY = frozenset({OutputFormat.HTML})

FORM_SD_CAPTIONS = [
    "UNITED STATES",
    "SECURITIES AND EXCHANGE COMMISSION",
    "Washington, D.C. 20549",
    "FORM SD",
    "SPECIALIZED DISCLOSURE REPORT",
    "(Exact name of the registrant as specified in its charter)",
    "(State or other jurisdiction of incorporation or organization)",
    "(Commission File Number)",
    "(I.R.S. Employer Identification No.)",
    "(Address of principal executive offices)",
    "(Zip code)",
    "(Name and telephone number, including area code, of the person to contact in connection with "
    "this report.)",
    "Check the appropriate box to indicate the rule pursuant to which this Form is being submitted, and "
    "provide the period to which the information in this Form applies:",
    "Rule 13p-1 under the Securities Exchange Act (17 CFR 240.13p-1) for the reporting period from "
    "January 1 to December 31, 2025.",
    "Rule 13q-1 under the Securities Exchange Act (17 CFR 240.13q-1) for the fiscal year ended",
    "Section 1 – Conflict Minerals Disclosure",
    "Item 1.01 Conflict Minerals Disclosure and Report",
    "Conflict Minerals Disclosure",
    "Item 1.02 Exhibit",
    "Section 2 – Resource Extraction Issuer Disclosure",
    "Item 2.01 Resource Extraction Issuer Disclosure and Report",
    "Section 3 – Exhibits",
    "Item 3.01 Exhibits",
    "SIGNATURES",
    "Pursuant to the requirements of the Securities Exchange Act of 1934, the registrant has duly caused "
    "this report to be signed on its behalf by the duly authorized undersigned.",
    "(Registrant)",
    "/s/ Margaret L. Chen",
]


def pdf_text(path: Path) -> str:
    """PDF text with whitespace collapsed, so captions that wrap still match."""
    reader = PdfReader(path)
    return " ".join(" ".join(page.extract_text() or "" for page in reader.pages).split())


def html_text(path: Path) -> str:
    text = re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))
    text = text.replace("&ndash;", "–").replace("&amp;", "&").replace("&#39;", "'")
    return " ".join(text.split())


@pytest.fixture(scope="module")
def sample_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One full HTML+PDF build of the 2025 sample, shared by the read-only tests below."""
    root = tmp_path_factory.mktemp("sample")
    filing = copy_sample("acme-2025", root)
    out = root / "out"
    build(filing, out)
    return filing, out


def test_build_writes_every_output(sample_build: tuple[Path, Path]) -> None:
    _, out = sample_build
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == [
        "conflict-minerals-report.docx",
        "conflict-minerals-report.html",
        "conflict-minerals-report.pdf",
        "evidence.html",
        "evidence.json",
        "filing-data.json",
        "form-sd.docx",
        "form-sd.html",
        "form-sd.pdf",
        "manifest.json",
    ]


@pytest.mark.parametrize("caption", FORM_SD_CAPTIONS)
def test_form_sd_pdf_has_every_caption(sample_build: tuple[Path, Path], caption: str) -> None:
    assert caption in pdf_text(sample_build[1] / "form-sd.pdf")


def test_form_sd_cover_values_and_checkboxes(sample_build: tuple[Path, Path]) -> None:
    html = (sample_build[1] / "form-sd.html").read_text(encoding="utf-8")
    for value in ("Acme Devices, Inc.", "Delaware", "001-38217", "94-3261785", "95134", "(408) 555-0142"):
        assert value in html
    # 13p-1 is checked, 13q-1 is not.
    assert re.search(r'class="checkbox checked"[^>]*>X</span> Rule 13p-1', html)
    assert re.search(r'class="checkbox"[^>]*></span> Rule 13q-1', html)
    assert "https://investors.acme-devices.example/governance/conflict-minerals" in html


def survey_data(filing: Path) -> dict:
    return yaml.safe_load((filing.parent / "survey.yaml").read_text(encoding="utf-8"))


def test_cmr_tables_equal_the_survey_data(sample_build: tuple[Path, Path]) -> None:
    filing, out = sample_build
    survey = survey_data(filing)
    html = (out / "conflict-minerals-report.html").read_text(encoding="utf-8")

    surveyed, responded = survey["suppliers"]["surveyed"], survey["suppliers"]["responded"]
    rate = f"{round(responded * 100 / surveyed, 1)}%"
    survey_table = html[html.index("Table 1.") : html.index("Table 2.")]
    for figure in (str(surveyed), str(responded), str(surveyed - responded), rate):
        assert f">{figure}<" in survey_table

    counts = Counter((s["metal"], s["status"]) for s in survey["smelters"])
    matrix = html[html.index("Table 2.") : html.index("</table>", html.index("Table 2."))]
    statuses = ["Conformant", "Active", "Non-Conformant", "Not Enrolled", "Other"]
    for metal in ("tantalum", "tin", "tungsten", "gold"):
        row = re.search(rf'<th scope="row">{metal.capitalize()}</th>(.*?)</tr>', matrix).group(1)
        cells = [int(n) for n in re.findall(r'<td class="num(?: total)?">(\d+)', row)]
        expected = [counts[(metal, s)] for s in statuses]
        total = sum(expected)
        assert cells == [*expected, total, expected[0] + expected[1]]
    total_row = re.search(r'<th scope="row">Total</th>(.*?)</tr>', matrix).group(1)
    assert f'<td class="num total">{len(survey["smelters"])}</td>' in total_row


def test_cmr_annex_lists_every_smelter(sample_build: tuple[Path, Path]) -> None:
    filing, out = sample_build
    survey = survey_data(filing)
    text = pdf_text(out / "conflict-minerals-report.pdf")
    annex = text[text.index("Annex A – Smelters and Refiners Identified The SORs") :]
    for smelter in survey["smelters"]:
        assert smelter["cid"] in annex
    html = (out / "conflict-minerals-report.html").read_text(encoding="utf-8")
    assert html.count('<td class="cid">') == len(survey["smelters"])


def test_cmr_countries_mark_covered_countries(sample_build: tuple[Path, Path]) -> None:
    html = (sample_build[1] / "conflict-minerals-report.html").read_text(encoding="utf-8")
    annex_b = html[html.index('id="annex-b"') :]
    assert "<td>Rwanda*</td>" in annex_b
    assert "<td>Democratic Republic of the Congo*</td>" in annex_b
    assert "<td>Brazil</td>" in annex_b
    # Norway is not an origin country in the sample, Türkiye is (spelt as pycountry's common name).
    assert "<td>Türkiye</td>" in annex_b


def test_cmr_outline_and_definitions(sample_build: tuple[Path, Path]) -> None:
    text = pdf_text(sample_build[1] / "conflict-minerals-report.pdf")
    for heading in (
        "Exhibit 1.01",
        "Conflict Minerals Report of Acme Devices, Inc.",
        "I. Introduction",
        "Forward-Looking Statements",
        "II. Company Overview and Products Covered by this Report",
        "III. Reasonable Country of Origin Inquiry",
        "IV. Design of Due Diligence Measures",
        "Third Edition",
        "OECD Step 1: Establish strong company management systems",
        "OECD Step 5: Report annually on supply chain due diligence",
        "VI. Results of Due Diligence",
        "VII. Steps to Mitigate Risk and Improve Due Diligence",
        "VIII. Independent Private Sector Audit",
        "Annex B – Countries of Origin",
    ):
        assert heading in text, heading
    for country in (
        "Angola",
        "Burundi",
        "Central African Republic",
        "Republic of the Congo",
        "Rwanda",
        "South Sudan",
        "Tanzania",
        "Uganda",
        "Zambia",
    ):
        assert country in text
    assert "was not required for the reporting period and has not been obtained" in text
    # No product is labelled conflict free outside the voluntary-claim mode.
    assert "conflict free," in text  # only inside the IPSA sentence that disclaims the label
    assert text.count("conflict free") == 1


def test_pdf_presentation(sample_build: tuple[Path, Path]) -> None:
    path = sample_build[1] / "conflict-minerals-report.pdf"
    reader = PdfReader(path)
    pages = len(reader.pages)
    assert pages > 5
    first = reader.pages[0].extract_text()
    last = reader.pages[-1].extract_text()
    assert f"Page 1 of {pages}" in first and f"Page {pages} of {pages}" in last
    assert "DRAFT" in last and "Acme Devices, Inc." in last  # running header on every page
    # Table of contents with page numbers.
    assert re.search(r"Annex A – Smelters and Refiners Identified \.+ \d+", first)
    # Bookmarks for the sections.
    titles = [item.title for item in reader.outline if not isinstance(item, list)]
    assert "I. Introduction" in titles and "Annex A – Smelters and Refiners Identified" in titles
    # Metadata comes from the filing, not the clock.
    meta = reader.metadata
    assert meta.title == "Conflict Minerals Report of Acme Devices, Inc. for 2025"
    assert meta.author == "Acme Devices, Inc."
    assert meta["/CreationDate"].startswith("D:20260527")
    # Only the bundled fonts are embedded.
    fonts = set()
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    assert fonts and all("+CMR-" in name for name in fonts), fonts


def test_annex_header_repeats_on_every_page(sample_build: tuple[Path, Path]) -> None:
    reader = PdfReader(sample_build[1] / "conflict-minerals-report.pdf")
    annex_pages = [p.extract_text() for p in reader.pages if "CID00" in (p.extract_text() or "")]
    assert len(annex_pages) > 3
    assert all("Smelter or Refiner Name" in text for text in annex_pages)


def test_manifest_hashes_inputs_and_outputs(sample_build: tuple[Path, Path]) -> None:
    filing, out = sample_build
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["weasyprint"] == "70.0"
    assert manifest["tool"]["name"] == "conflict-minerals"
    inputs = {entry["path"]: entry["sha256"] for entry in manifest["inputs"]}
    previous = filing.parent.parent / "acme-2024" / "filing.yaml"
    assert inputs == {
        "filing.yaml": hashlib.sha256(filing.read_bytes()).hexdigest(),
        "survey.yaml": hashlib.sha256((filing.parent / "survey.yaml").read_bytes()).hexdigest(),
        # Last year's filing, read for the steps it promised (previous_filing).
        "../acme-2024/filing.yaml": hashlib.sha256(previous.read_bytes()).hexdigest(),
    }
    outputs = {entry["path"]: entry["sha256"] for entry in manifest["outputs"]}
    assert len(outputs) == 9  # six documents, filing-data.json, evidence.json and evidence.html
    assert manifest["manifest_version"] == 2
    for relative, digest in outputs.items():
        # Relative to the manifest's own folder: no climbing out through "..".
        assert not relative.startswith(("/", "..")) and "/" not in relative
        assert hashlib.sha256((out / relative).read_bytes()).hexdigest() == digest


# ----- Mode switches (HTML only: they change wording, not layout) -----


def test_rcoi_only_mode_has_no_exhibit(sample_2025: Path, tmp_path: Path) -> None:
    make_rcoi_only(sample_2025)
    out = tmp_path / "out"
    result = build(sample_2025, out, HTML_ONLY)
    assert sorted(p.name for p in result.written) == [
        "evidence.html",
        "evidence.json",
        "filing-data.json",
        "form-sd.html",
        "manifest.json",
    ]
    text = html_text(out / "form-sd.html")
    assert "Reasonable Country of Origin Inquiry" in text
    assert "CMRT" in text  # the RCOI narrative itself is in Item 1.01
    assert "Item 1.02 Exhibit Not applicable." in text
    assert "Exhibit 1.01" not in text
    assert "The information contained in this Form SD is publicly available at" in text


def test_switching_to_rcoi_only_removes_the_stale_report(sample_2025: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(sample_2025, out, HTML_ONLY)
    assert (out / "conflict-minerals-report.html").exists()
    make_rcoi_only(sample_2025)
    result = build(sample_2025, out, HTML_ONLY)
    assert not (out / "conflict-minerals-report.html").exists()
    assert out / "conflict-minerals-report.html" in result.removed


def test_legacy_exhibit_numbering(sample_2025: Path, tmp_path: Path) -> None:
    edit(sample_2025, "exhibits_numbering: current", "exhibits_numbering: legacy")
    build(sample_2025, tmp_path / "out", HTML_ONLY)
    text = html_text(tmp_path / "out" / "form-sd.html")
    assert "Section 2 – Exhibits Item 2.01 Exhibits" in text
    assert "Resource Extraction" not in text
    assert "Section 3" not in text


def test_conflict_free_claim_prints_the_audit(sample_2025: Path, tmp_path: Path) -> None:
    edit(
        sample_2025,
        "mode: cmr",
        "mode: conflict_free_claim\nconflict_free_products: [{name: EdgeLink, sors: [CID003926]}]",
    )
    text = sample_2025.read_text(encoding="utf-8")
    text = text.replace(
        "\nnarrative:\n",
        "\nnarrative:\n  independent_audit:\n    auditor: Example Audit LLP\n"
        "    report: |\n      We have examined the design of the due diligence framework.\n",
        1,
    )
    sample_2025.write_text(text, encoding="utf-8")
    result = build(sample_2025, tmp_path / "out", HTML_ONLY)
    assert any("conflict_free_claim" in str(w) or "DRC conflict free" in w.message for w in result.warnings)
    cmr = html_text(tmp_path / "out" / "conflict-minerals-report.html")
    assert "conducted by Example Audit LLP" in cmr
    assert "We have examined the design of the due diligence framework." in cmr
    assert "has not been obtained" not in cmr


def test_draft_marking_can_be_turned_off(sample_2025: Path, tmp_path: Path) -> None:
    make_final(sample_2025)
    build(sample_2025, tmp_path / "out", HTML_ONLY)
    for name in ("form-sd.html", "conflict-minerals-report.html"):
        assert "DRAFT" not in (tmp_path / "out" / name).read_text(encoding="utf-8")


def test_html_and_jinja_in_values_are_shown_as_text(sample_2025: Path, tmp_path: Path) -> None:
    edit(sample_2025, 'name: "Acme Devices, Inc."', 'name: "Acme <b>Devices</b> {{ 7*7 }}, Inc."')
    text = sample_2025.read_text(encoding="utf-8")
    text = text.replace(
        "  company_overview: |\n", "  company_overview: |\n    <script>alert(1)</script> {% raw %}\n\n", 1
    )
    sample_2025.write_text(text, encoding="utf-8")
    build(sample_2025, tmp_path / "out", HTML_ONLY)
    html = (tmp_path / "out" / "conflict-minerals-report.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Acme &lt;b&gt;Devices&lt;/b&gt; {{ 7*7 }}, Inc." in html
    assert "{% raw %}" in html


def test_format_html_only_writes_no_pdf(sample_2025: Path, tmp_path: Path) -> None:
    result = build(sample_2025, tmp_path / "out", HTML_ONLY)
    assert not any(p.suffix == ".pdf" for p in result.written)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [e["path"].rsplit("/", 1)[-1] for e in manifest["outputs"]] == [
        "conflict-minerals-report.html",
        "evidence.html",
        "evidence.json",
        "filing-data.json",
        "form-sd.html",
    ]


def test_failed_build_leaves_earlier_outputs_untouched(sample_2025: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(sample_2025, out, HTML_ONLY)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    edit(
        sample_2025,
        'irs_employer_identification_number: "94-3261785"',
        'irs_employer_identification_number: "943261785"',
    )
    with pytest.raises(InputError):
        build(sample_2025, out, HTML_ONLY)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_both_samples_build(sample_2024: Path, tmp_path: Path) -> None:
    result = build(sample_2024, tmp_path / "out", HTML_ONLY)
    # A draft builds; the only warnings are the final-copy gate's about the illustrative survey
    # and the sample's invented addresses under the reserved .example name.
    survey = [(w.field, w.severity.value) for w in result.warnings if w.file.endswith("survey.yaml")]
    assert survey == [("note", "warning"), ("status_list.source", "warning")]
    others = [w for w in result.warnings if not w.file.endswith("survey.yaml")]
    assert others and all("acme-devices.example" in w.message and "reserved" in w.message for w in others)
    assert all(w.severity.value == "warning" for w in result.warnings)
    text = html_text(tmp_path / "out" / "form-sd.html")
    assert "January 1 to December 31, 2024" in text


def test_figures_draw_the_table_numbers(sample_build: tuple[Path, Path]) -> None:
    filing, out = sample_build
    html = (out / "conflict-minerals-report.html").read_text(encoding="utf-8")
    survey = survey_data(filing)
    figure = html[
        html.index('id="figure-status-by-metal"') : html.index(
            "</figure>", html.index("figure-status-by-metal")
        )
    ]
    counts = Counter(s["status"] for s in survey["smelters"] if s["metal"] == "gold")
    gold_titles = re.findall(
        r"<title>([A-Za-z -]+): (\d+)</title>", figure.split(">Gold</text>")[1].split("<text")[0]
    )
    assert {name: int(value) for name, value in gold_titles} == {k: v for k, v in counts.items() if v}
    assert "Figure 2. SORs identified by metal and RMAP status" in html
    assert 'id="figure-response"' in html and 'id="figure-status-trend"' in html
    # Each figure sits beside a table with the same numbers (Rule 304(e)).
    assert html.index("Table 1.") < html.index("figure-response") < html.index("Table 2.")


def test_figures_share_one_scale(sample_build: tuple[Path, Path]) -> None:
    from conflict_minerals.report.figures import BAR_WIDTH, stacked_bars

    chart = stacked_bars("x", "t", [("a", [10, 30], ""), ("b", [5, 0], "")], [("A", "a"), ("B", "b")])
    widths = [[s.width for s in row.segments] for row in chart.rows]
    assert widths == [[BAR_WIDTH / 4, BAR_WIDTH * 3 / 4], [BAR_WIDTH / 8]]
