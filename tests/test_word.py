"""Word output: the documents as .docx and the redline as native tracked changes, read back the
way Word would read them (python-docx and the raw XML), and opened in LibreOffice when it is there."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import docx
import pytest
from lxml import html as lxml_html
from typer.testing import CliRunner

from conflict_minerals.build import OutputFormat, build
from conflict_minerals.cli import app
from conflict_minerals.diff.prose import redline_text, sections

from .conftest import SAMPLES, Rendered, SampleBuild, copy_sample, libreoffice_convert
from .wordxml import NS, body, parts, q, resolve, revisions

runner = CliRunner()
STEMS = ("form-sd", "conflict-minerals-report")
WORD_AND_HTML = frozenset({OutputFormat.HTML, OutputFormat.DOCX})


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("word")
    found = {}
    for year in (2024, 2025):
        filing = copy_sample(f"acme-{year}", root)
        build(filing, root / f"out-{year}", WORD_AND_HTML)
        found[year] = root / f"out-{year}"
    return found


@pytest.fixture(scope="module")
def redline(builds: dict[int, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("redline")
    result = runner.invoke(
        app, ["diff", str(builds[2024]), str(builds[2025]), "--out", str(out), "-f", "docx"]
    )
    assert result.exit_code == 0, result.output
    return out / "diff.docx"


def texts(path: Path) -> list[str]:
    """Every paragraph, table cells included, in reading order."""
    return parts(body(path.read_bytes()))[0]


def html_texts(path: Path, xpath: str) -> list[str]:
    root = lxml_html.parse(str(path)).getroot()
    for line_break in root.iter("br"):
        line_break.tail = " " + (line_break.tail or "")
    return [" ".join(e.text_content().split()) for e in root.xpath(xpath)]


def test_form_sd_cover_captions_checkboxes_and_signature(builds: dict[int, Path]) -> None:
    path = builds[2025] / "form-sd.docx"
    document = docx.Document(str(path))
    words = texts(path)
    captions = html_texts(
        builds[2025] / "form-sd.html",
        "//p[@class='caption'] | //tr[@class='captions']/td | //td[@class='caption-left']",
    )
    assert len(captions) == 8
    for caption in captions:
        assert caption in words, caption
    assert any(t.startswith("☒ Rule 13p-1") for t in words)
    assert any(t.startswith("☐ Rule 13q-1") for t in words)
    for line in (
        "By:",
        "/s/ Margaret L. Chen",
        "Name:",
        "Title:",
        "Date:",
        "May 27, 2026",
        "ACME DEVICES, INC.",
    ):
        assert line in words, line
    styles = [p.style.name for p in document.paragraphs]
    assert styles.count("Title") == 1 and "Heading 1" in styles and "Heading 2" in styles
    assert "CMR Field Caption" in styles
    header = document.sections[0].header.paragraphs[0].text
    assert header == "Acme Devices, Inc.\tForm SD · Reporting year 2025\tDRAFT – for counsel’s review"
    footer = document.sections[0].footer._element
    fields = [f.get(q("instr")).split()[0] for f in footer.iter(q("fldSimple"))]
    assert fields == ["PAGE", "NUMPAGES"]
    link = next(r for r in document.part.rels.values() if r.reltype.endswith("/hyperlink"))
    assert link.is_external and link.target_ref.startswith("https://investors.acme-devices.example")


def test_cmr_tables_lists_figures_and_every_smelter(builds: dict[int, Path]) -> None:
    path = builds[2025] / "conflict-minerals-report.docx"
    document = docx.Document(str(path))
    styles = {p.style.name for p in document.paragraphs}
    assert {"Title", "Heading 1", "Heading 2", "List Bullet", "List Number", "Caption"} <= styles
    smelters = json.loads((builds[2025] / "filing-data.json").read_text())["smelters"]
    annex = next(
        t for t in document.tables if len(t.columns) == 5 and t.rows[0].cells[2].text == "Smelter ID"
    )
    assert {row.cells[2].text for row in annex.rows[1:]} == {s["cid"] for s in smelters}
    assert len(annex.rows) - 1 == len(smelters) == 277
    for table in document.tables:
        first = table.rows[0]._tr
        assert first.find("w:trPr/w:tblHeader", NS) is not None  # repeated on each page
        assert all(row._tr.find("w:trPr/w:cantSplit", NS) is not None for row in table.rows)
    assert len(document.tables) == 5
    assert len(document.inline_shapes) == 3  # the three charts, drawn from the SVG
    alt = [s._inline.docPr.get("descr") for s in document.inline_shapes]
    assert alt[0] == "Supplier survey response by year"
    instructions = [t.text for t in document.element.body.iter(q("instrText"))]
    assert instructions[0] == ' TOC \\o "1-3" \\h \\z \\u '
    assert len(instructions) == 11 and all(i.startswith(" PAGEREF ") for i in instructions[1:])
    # Each <ol> numbers from 1: the five OECD steps have a numbering of their own that restarts.
    numbered = [p for p in document.paragraphs if p.style.name == "List Number"]
    assert len(numbered) == 5
    (own,) = {p._p.pPr.numPr.numId.val for p in numbered}
    num = document.part.numbering_part.element.num_having_numId(own)
    assert num.find("w:lvlOverride/w:startOverride", NS).get(q("val")) == "1"
    core = document.core_properties
    assert core.title == "Conflict Minerals Report of Acme Devices, Inc. for 2025"
    assert core.author == "Acme Devices, Inc."
    assert core.created.date().isoformat() == core.modified.date().isoformat() == "2026-05-27"


def test_docx_text_is_the_html_text(builds: dict[int, Path]) -> None:
    """Every paragraph of the HTML is in the .docx, word for word."""
    for stem in STEMS:
        words = " ".join(" ".join(texts(builds[2025] / f"{stem}.docx")).split())
        for paragraph in html_texts(
            builds[2025] / f"{stem}.html", "//p | //li | //dt | //dd | //h1 | //h2 | //h3 | //figcaption"
        ):
            assert paragraph in words or paragraph.replace("X ", "☒ ", 1) in words, paragraph


def test_docx_is_byte_identical_and_dated_by_the_filing(builds: dict[int, Path], tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    build(filing, tmp_path / "again", frozenset({OutputFormat.DOCX}))
    for stem in STEMS:
        data = (tmp_path / "again" / f"{stem}.docx").read_bytes()
        assert data == (builds[2025] / f"{stem}.docx").read_bytes()
        with zipfile.ZipFile(tmp_path / "again" / f"{stem}.docx") as package:
            assert package.namelist()[0] == "[Content_Types].xml"
            assert {info.date_time for info in package.infolist()} == {(2026, 5, 27, 0, 0, 0)}
            assert "thumbnail" not in " ".join(package.namelist())
            core = package.read("docProps/core.xml").decode()
            assert core.count("2026-05-27T00:00:00Z") == 2


def test_redline_accept_all_gives_new_and_reject_all_gives_old(
    builds: dict[int, Path], redline: Path
) -> None:
    root = body(redline.read_bytes())
    accepted, rejected = parts(resolve(root, accept=True)), parts(resolve(root, accept=False))
    assert len(accepted) == len(rejected) == 3  # data changes, Form SD, CMR
    for number, stem in enumerate(STEMS, start=1):
        assert accepted[number] == texts(builds[2025] / f"{stem}.docx"), stem
        assert rejected[number] == texts(builds[2024] / f"{stem}.docx"), stem
    assert accepted[0] == rejected[0]  # the data changes are ordinary content
    assert "Smelters and refiners" in accepted[0] and "Survey figures" in accepted[0]


def test_redline_marks_are_words_with_author_and_date(redline: Path) -> None:
    root = body(redline.read_bytes())
    marks = list(revisions(root))
    assert len(marks) > 100
    assert {m.get(q("author")) for m in marks} == {"cmr diff"}
    assert {m.get(q("date")) for m in marks} == {"2026-05-27T00:00:00Z"}
    assert len({m.get(q("id")) for m in marks}) == len(marks)
    deleted = ["".join(m.itertext()) for m in root.iter(q("del")) if m.getparent().tag == q("p")]
    inserted = ["".join(m.itertext()) for m in root.iter(q("ins")) if m.getparent().tag == q("p")]
    assert "6.4" in deleted and "6.5" in inserted  # whole, never "6." kept and "4" struck
    # The signature date (whole words; the report's own sentence no longer states a date).
    assert any(d.endswith("29, 2025") for d in deleted) and any(i.endswith("27, 2026") for i in inserted)
    # Whole rows: smelters added and removed in Annex A are tracked rows.
    assert root.xpath("count(//w:tr[w:trPr/w:ins])", namespaces=NS) >= 16
    assert root.xpath("count(//w:tr[w:trPr/w:del])", namespaces=NS) >= 11


def test_html_redline_changes_whole_words_without_separators() -> None:
    assert redline_text("version 6.4 of", "version 6.5 of")[0] == "version <del>6.4</del><ins>6.5</ins> of"
    marked = str(redline_text("May 29, 2025", "May 27, 2026")[0])
    assert marked == "May <del>29, 2025</del><ins>27, 2026</ins>"
    page = (SAMPLES.parent / "templates").exists()
    assert page
    html = (
        "<html><body><section id='signatures'><h2 id='signatures'>SIGNATURES</h2>"
        "<table><tr><td>Title:</td><td>General Counsel</td></tr></table></section></body></html>"
    )
    (found,) = sections(html)
    assert found.title == "SIGNATURES"
    assert found.blocks == ["Title:\u2003General Counsel"]  # no "|", and the heading not twice


def test_diff_takes_a_folder_holding_filing_yaml(tmp_path: Path) -> None:
    old = copy_sample("acme-2024", tmp_path).parent
    new = copy_sample("acme-2025", tmp_path).parent
    result = runner.invoke(app, ["diff", str(old), str(new), "--out", str(tmp_path / "d"), "-f", "html"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "d" / "diff.json").read_text())
    assert report["old"]["kind"] == report["new"]["kind"] == "filing"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["diff", str(empty), str(new), "--out", str(tmp_path / "e")])
    assert result.exit_code == 1
    assert "neither a cmr build folder" in result.output


def test_libreoffice_opens_every_docx(
    sample_builds: dict[int, SampleBuild],
    libreoffice_pages: dict[str, Rendered],
    redline: Path,
    tmp_path: Path,
) -> None:
    """The samples' files as LibreOffice renders them (converted once per session), and the redline."""
    libreoffice_convert([redline], tmp_path)
    from pypdf import PdfReader

    pages = {
        "form-sd": PdfReader(libreoffice_pages["2025/form-sd"].pdf).pages,
        "conflict-minerals-report": PdfReader(libreoffice_pages["2025/conflict-minerals-report"].pdf).pages,
        "diff": PdfReader(tmp_path / "diff.pdf").pages,
    }
    assert len(pages["form-sd"]) == 2
    assert 12 <= len(pages["conflict-minerals-report"]) <= 24
    report = " ".join(page.extract_text() for page in pages["conflict-minerals-report"])
    smelters = json.loads((sample_builds[2025].out / "filing-data.json").read_text())["smelters"]
    assert all(s["cid"] in report for s in smelters)
    cover = pages["form-sd"][0].extract_text()
    assert "(Commission File Number)" in cover and "Page 1 of 2" in cover
    assert len(pages["diff"]) > 10
