"""The layout check on the rendered pages: nothing on both samples (WeasyPrint's PDFs, and the
.docx files as LibreOffice renders them), and each fault found again when it is put back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conflict_minerals.build import builtin_theme_dir
from conflict_minerals.pagecheck.model import words_of
from conflict_minerals.pagecheck.pdfpages import docx_hints, pdf_pages
from conflict_minerals.pagecheck.rules import check_pages
from conflict_minerals.report import pdf, weasyfix
from conflict_minerals.report.templating import FONT_STYLESHEET

from .conftest import Rendered, SampleBuild

LAYOUT_RULES = {
    "outside-content",
    "stranded-word",
    "broken-word",
    "address-at-hyphen",
    "heading-at-page-end",
    "page-ends-early",
}


def render(html: str, name: str = "test.pdf") -> list:
    theme = builtin_theme_dir()
    return pdf.render_document(
        html,
        base_url=theme,
        font_stylesheet=theme / FONT_STYLESHEET,
        asset_roots=[theme],
        document_date=pdf.date(2026, 5, 27),
        check_as=name,
    ).faults


def test_the_samples_pdfs_have_no_layout_fault(sample_builds: dict[int, SampleBuild]) -> None:
    """`cmr build` runs the check on every PDF it writes and warns with the document and page."""
    for sample in sample_builds.values():
        layout = [p for p in sample.result.warnings if p.file.endswith(".pdf")]
        assert layout == [], [str(p) for p in layout]


def test_the_samples_docx_as_libreoffice_renders_them_have_no_layout_fault(
    libreoffice_pages: dict[str, Rendered],
) -> None:
    """No header word broken in any table, no stranded word, no address broken at a hyphen, no
    heading at a page foot, no page left a fifth empty, nothing past the margins."""
    for key, rendered in libreoffice_pages.items():
        if key.startswith("reverted/"):
            continue
        hints = docx_hints(rendered.docx.read_bytes())
        faults = check_pages(key, pdf_pages(rendered.pdf, hints), hints.vocabulary)
        assert faults == [], [str(f) for f in faults]


def test_libreoffice_finds_the_word_faults_put_back(libreoffice_pages: dict[str, Rendered]) -> None:
    """Equal column widths break header words (Table 3's "Supplier|s", "Conform|ant"), and an
    address without its non-breaking hyphens breaks at one."""
    rendered = libreoffice_pages["reverted/conflict-minerals-report"]
    hints = docx_hints(rendered.docx.read_bytes())
    faults = check_pages("reverted.docx", pdf_pages(rendered.pdf, hints), hints.vocabulary)
    broken = {re.search(r"“(\w+)”", f.message).group(1) for f in faults if f.rule == "broken-word"}
    assert {"suppliers", "conformant"} <= broken
    assert any(f.rule == "address-at-hyphen" for f in faults)


def _put_back(html: str) -> str:
    """The 2025 CMR as it was laid out before the fixes: small tables kept with their headings
    and the text between them, the countries of origin text kept whole, Table 3 at the usual
    padding, addresses free to break at hyphens."""
    html = re.sub(r'<span class="(?:address|nobr|brk)">|</span>(?=</span>|<span class="brk">|</a>)', "", html)
    html = re.sub(r'<span class="brk"></span>', "", html)
    html = html.replace("table.trend th, table.trend td { padding-left: 2.5pt; padding-right: 2.5pt; }", "")
    for heading, table in (
        ("survey-response", "survey"),
        ("sor-status", "status-matrix"),
        ("trend", "trend"),
    ):
        html = html.replace(f'<h3 id="{heading}">', f'<div class="keep">\n  <h3 id="{heading}">')
        html = html.replace(
            f'<div class="keep">\n  <table class="data {table}">', f'<table class="data {table}">'
        )
    html = html.replace('<h3 id="countries">', '<div class="keep">\n  <h3 id="countries">')
    return html.replace('\n  <h3 id="mine-of-origin">', '\n  </div>\n  <h3 id="mine-of-origin">')


def test_each_pdf_fault_is_found_when_put_back(
    sample_builds: dict[int, SampleBuild], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The faults counsel saw on the CMR's pages, put back at their cause, are each found on the
    right page: "We" alone under IV (WeasyPrint's line breaking unfixed), a table kept whole with
    its heading pushed to the next page (a quarter of a page left empty), Table 3 past the
    margin, the website address broken at its hyphen."""
    html = (sample_builds[2025].out / "conflict-minerals-report.html").read_text(encoding="utf-8")
    reverted = _put_back(html)
    assert reverted != html and 'class="nobr"' not in reverted
    unfixed = weasyfix.line_break.split_first_line.__closure__[0].cell_contents  # what the fix wraps
    for module in (weasyfix.line_break, weasyfix.inline, weasyfix.preferred):
        monkeypatch.setattr(module, "split_first_line", unfixed)
    faults = render(reverted, "conflict-minerals-report.pdf")
    found = {(f.rule, f.message.split("”")[0]) for f in faults}
    assert ("stranded-word", "“We") in found, [str(f) for f in faults]
    assert any(f.rule == "page-ends-early" and "Supplier Survey Response" in f.message for f in faults)
    assert any(f.rule == "outside-content" and "Conformant" in f.message for f in faults)
    assert any(f.rule == "address-at-hyphen" and "acme-devices" in f.message for f in faults)


SMALL_PAGE = "@page { size: letter; margin: 1in } body { font-size: 11pt; margin: 0 }"


def test_a_heading_at_a_page_foot_and_a_broken_word_are_found() -> None:
    heading = (
        f"<html><head><style>{SMALL_PAGE} h3 {{ break-after: auto; margin: 0 }}</style></head><body>"
        '<div style="height: 8.7in"></div><h3>Countries of Origin</h3>'
        "<p>Based on the information available to the Company, the 3TG may have originated there.</p>"
        "</body></html>"
    )
    faults = render(heading)
    assert [(f.rule, f.page) for f in faults if f.rule == "heading-at-page-end"] == [
        ("heading-at-page-end", 1)
    ]
    narrow = (
        f"<html><head><style>{SMALL_PAGE} th {{ overflow-wrap: anywhere; width: 20pt }}</style></head>"
        "<body><table><tr><th>Conformant</th><th>Responded</th></tr></table>"
        "<p>Conformant and responded are the words.</p></body></html>"
    )
    faults = render(narrow)
    assert {f.rule for f in faults} == {"broken-word"}, [str(f) for f in faults]


def test_the_rules_are_the_documented_six_and_words_keep_inner_stops() -> None:
    from conflict_minerals.pagecheck import rules

    documented = set(re.findall(r"- `([a-z-]+)`:", rules.__doc__ or ""))
    assert documented == LAYOUT_RULES
    assert words_of("U.S. supplier’s 6.4 Non-Conformant") == ["u.s", "supplier’s", "6.4", "non", "conformant"]


def test_a_build_prints_each_fault_with_document_and_page(tmp_path: Path, sample_2025: Path) -> None:
    """A fault found on a PDF is a warning naming the document and the page (an override
    stylesheet pushes the signature block past the margin)."""
    from typer.testing import CliRunner

    from conflict_minerals.cli import app

    from .conftest import edit, make_rcoi_only

    make_rcoi_only(sample_2025)  # Form SD alone: a quick render
    (sample_2025.parent / "wide.css").write_text(".signature-block { width: 5in; }\n", encoding="utf-8")
    edit(sample_2025, "  draft: true", "  draft: true\n  css: wide.css")
    result = CliRunner().invoke(app, ["build", str(sample_2025), "--out", str(tmp_path / "o"), "-f", "pdf"])
    assert result.exit_code == 0, result.output
    assert re.search(
        r"form-sd\.pdf: warning: page \d: text drawn outside the page's content box", result.output
    )
