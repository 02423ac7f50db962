"""`cmr diff`: data changes keyed by smelter ID, a word-level redline, exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from markupsafe import escape
from typer.testing import CliRunner

from conflict_minerals.build import OutputFormat, build
from conflict_minerals.cli import app

from .conftest import SAMPLES, copy_sample, edit

runner = CliRunner()


def run_diff(old: Path, new: Path, out: Path, *extra: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["diff", str(old), str(new), "--out", str(out), *extra])
    report = json.loads((out / "diff.json").read_text()) if (out / "diff.json").exists() else {}
    return result.exit_code, report


def survey(sample: str) -> dict:
    return yaml.safe_load((SAMPLES / sample / "survey.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sample_diff(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict, Path]:
    out = tmp_path_factory.mktemp("diff")
    code, report = run_diff(SAMPLES / "acme-2024" / "filing.yaml", SAMPLES / "acme-2025" / "filing.yaml", out)
    return code, report, out


def test_sample_diff_lists_every_smelter_added_and_removed(sample_diff: tuple[int, dict, Path]) -> None:
    code, report, out = sample_diff
    assert code == 0  # differences are not a failure without --exit-code
    old = {s["cid"]: s for s in survey("acme-2024")["smelters"]}
    new = {s["cid"]: s for s in survey("acme-2025")["smelters"]}
    data = report["data"]
    assert {c["cid"] for c in data["smelters_added"]} == new.keys() - old.keys()
    assert {c["cid"] for c in data["smelters_removed"]} == old.keys() - new.keys()
    changed = {c for c in old.keys() & new.keys() if old[c]["status"] != new[c]["status"]}
    assert {c["cid"] for c in data["status_changed"]} == changed
    html = (out / "diff.html").read_text(encoding="utf-8")
    for cid in (new.keys() - old.keys()) | (old.keys() - new.keys()) | changed:
        assert cid in html
        assert str(escape(new.get(cid, old.get(cid))["name"])) in html


def test_sample_diff_figures_and_prose(sample_diff: tuple[int, dict, Path]) -> None:
    _, report, out = sample_diff
    figures = {f["figure"]: (f["old"], f["new"], f["delta"]) for f in report["data"]["figures"]}
    assert figures["Suppliers surveyed"] == ("398", "412", "+14")
    assert figures["Response rate"] == ("66.6%", "72.3%", "+5.7 pts")
    assert report["data"]["trend_mismatches"] == []  # 2025's trend row for 2024 repeats 2024's figures
    # Input paths are relative to each filing, so the diff does not depend on where it ran.
    assert [e["path"] for e in report["old"]["inputs"]] == ["filing.yaml", "survey.yaml"]
    changed = {(s["document"], s["key"]) for s in report["sections"] if s["changed"]}
    assert ("conflict-minerals-report", "step-1") in changed
    assert ("conflict-minerals-report", "definitions") not in changed
    step1 = next(s for s in report["sections"] if s["key"] == "step-1")
    assert "<del>annually</del><ins>twice a year</ins>" in step1["redline_html"]
    assert (out / "diff.pdf").read_bytes().startswith(b"%PDF")


def test_self_diff_is_empty_and_exit_code_zero(tmp_path: Path) -> None:
    filing = SAMPLES / "acme-2025" / "filing.yaml"
    code, report = run_diff(filing, filing, tmp_path / "d", "--exit-code", "--format", "html")
    assert code == 0
    assert report["summary"]["total"] == 0
    assert all(not s["changed"] for s in report["sections"])
    assert "No differences" in (tmp_path / "d" / "diff.html").read_text(encoding="utf-8")


def test_build_folder_against_its_filing_is_empty(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    build(filing, tmp_path / "built", frozenset({OutputFormat.HTML}))
    code, report = run_diff(tmp_path / "built", filing, tmp_path / "d", "--exit-code", "--format", "html")
    assert code == 0, report
    assert report["old"]["kind"] == "build" and report["new"]["kind"] == "filing"


def test_exit_code_flags_any_difference(tmp_path: Path) -> None:
    code, _ = run_diff(
        SAMPLES / "acme-2024" / "filing.yaml",
        SAMPLES / "acme-2025" / "filing.yaml",
        tmp_path / "d",
        "--exit-code",
        "--format",
        "html",
    )
    assert code == 1


def pair(tmp_path: Path) -> tuple[Path, Path]:
    old = copy_sample("acme-2025", tmp_path / "old")
    new = copy_sample("acme-2025", tmp_path / "new")
    return old, new


def test_one_status_change_is_reported_alone(tmp_path: Path) -> None:
    old, new = pair(tmp_path)
    data = yaml.safe_load((new.parent / "survey.yaml").read_text())
    target = next(s for s in data["smelters"] if s["status"] == "Conformant")
    target["status"] = "Non-Conformant"
    (new.parent / "survey.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    _, report = run_diff(old, new, tmp_path / "d", "--format", "html")
    data_diff = report["data"]
    assert [(c["cid"], c["old_status"], c["new_status"]) for c in data_diff["status_changed"]] == [
        (target["cid"], "Conformant", "Non-Conformant")
    ]
    assert data_diff["smelters_added"] == data_diff["smelters_removed"] == []
    assert {f["figure"] for f in data_diff["figures"]} == {"SORs Conformant", "SORs Non-Conformant"}


def test_removed_smelter_and_country(tmp_path: Path) -> None:
    old, new = pair(tmp_path)
    data = yaml.safe_load((new.parent / "survey.yaml").read_text())
    removed = data["smelters"].pop(3)
    data["countries_of_origin"]["tin"].append("Norway")
    (new.parent / "survey.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    _, report = run_diff(old, new, tmp_path / "d", "--format", "html")
    assert [c["cid"] for c in report["data"]["smelters_removed"]] == [removed["cid"]]
    assert report["data"]["countries_added"] == [{"metal": "tin", "country": "Norway"}]


def test_prose_edit_is_one_changed_section_with_word_marks(tmp_path: Path) -> None:
    old, new = pair(tmp_path)
    edit(
        new,
        "We retain records relating to our conflict minerals program",
        "We keep records relating to our responsible minerals program",
    )
    _, report = run_diff(old, new, tmp_path / "d", "--format", "html")
    changed = [s for s in report["sections"] if s["changed"]]
    assert [(s["document"], s["key"]) for s in changed] == [("conflict-minerals-report", "step-1")]
    marked = changed[0]["redline_html"]
    assert "<del>retain</del><ins>keep</ins>" in marked
    assert "<del>conflict</del><ins>responsible</ins>" in marked
    assert report["summary"]["total"] == 1


def test_trend_that_disagrees_with_the_old_filing_is_flagged(tmp_path: Path) -> None:
    old = copy_sample("acme-2024", tmp_path / "old")
    new = copy_sample("acme-2025", tmp_path / "new")
    text = (new.parent / "survey.yaml").read_text()
    text = text.replace("- year: 2024\n  suppliers_surveyed: 398", "- year: 2024\n  suppliers_surveyed: 399")
    (new.parent / "survey.yaml").write_text(text, encoding="utf-8")
    _, report = run_diff(old, new, tmp_path / "d", "--format", "html")
    assert report["data"]["trend_mismatches"] == [
        {"year": 2024, "figure": "suppliers surveyed", "old_filing": "398", "new_trend": "399"}
    ]


def test_edited_build_output_is_refused(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    build(filing, tmp_path / "built", frozenset({OutputFormat.HTML}))
    page = tmp_path / "built" / "form-sd.html"
    page.write_text(page.read_text() + "<!-- edited -->", encoding="utf-8")
    result = runner.invoke(app, ["diff", str(tmp_path / "built"), str(filing), "--out", str(tmp_path / "d")])
    assert result.exit_code == 1
    assert "changed since it was built" in result.output
    assert not (tmp_path / "d" / "diff.json").exists()


def test_diff_outputs_are_reproducible(tmp_path: Path) -> None:
    old, new = SAMPLES / "acme-2024" / "filing.yaml", SAMPLES / "acme-2025" / "filing.yaml"
    run_diff(old, new, tmp_path / "a")
    run_diff(old, new, tmp_path / "b")
    for name in ("diff.html", "diff.json", "diff.pdf"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_diff_pdf_embeds_only_the_bundled_fonts(sample_diff: tuple[int, dict, Path]) -> None:
    from pypdf import PdfReader

    fonts = set()
    for page in PdfReader(sample_diff[2] / "diff.pdf").pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    assert fonts and all("+CMR-" in name for name in fonts), fonts


def test_diff_pages_carry_the_header_paths_as_given_and_the_documents_order(
    sample_diff: tuple[int, dict, Path],
) -> None:
    """diff.pdf has a running header naming both filings, with DRAFT while either is one; inputs
    are named relative to the working folder; the CMR's "Exhibit 1.01" comes before its title;
    list items keep their bullets and italic lead-ins; the legend's punctuation is the text's."""
    from pypdf import PdfReader

    _, report, out = sample_diff
    given = Path(os.path.relpath(SAMPLES / "acme-2024" / "filing.yaml")).as_posix()
    assert report["old"]["label"] == given and not given.startswith("/")
    for page in PdfReader(out / "diff.pdf").pages:
        text = page.extract_text()
        assert "Acme Devices, Inc., reporting year 2024" in text and "reporting year 2025" in text
        assert "DRAFT – for counsel’s review" in text
    html = (out / "diff.html").read_text(encoding="utf-8")
    report_part = html[html.index('id="doc-conflict-minerals-report"') :]
    assert report_part.index("Exhibit 1.01") < report_part.index("Conflict Minerals Report of Acme")
    assert '<p class="changed">• <em>Networking hardware</em>' in report_part
    assert "<del>deleted text</del>, <ins>inserted text</ins>. Tables" in html
    assert '<td class="change">Status changed</td>' in html


# ----- the redline's "unchanged" is computed from text and data together (issue 18) ------


def entries(report: dict) -> dict[str, dict]:
    return {s["key"]: s for s in report["sections"] if s["document"] == "conflict-minerals-report"}


def test_sample_redline_gives_the_tables_and_annex_b_their_own_entries(
    sample_diff: tuple[int, dict, Path],
) -> None:
    _, report, out = sample_diff
    found = entries(report)
    annex_b = found["annex-b"]
    assert annex_b["changed"] and annex_b["title"] == "Annex B – Countries of Origin"
    for change in (
        "<ins>Uganda (Tin) added</ins>",
        "<ins>Uzbekistan (Gold) added</ins>",
        "<del>Kazakhstan (Tungsten) removed</del>",
    ):
        assert change in annex_b["redline_html"]
    for key in ("table-1", "table-2", "table-3"):
        assert found[key]["changed"], key
    assert "Suppliers surveyed: <del>398</del> <ins>412</ins>" in found["table-1"]["redline_html"]
    assert "<ins>2025 added</ins>" in found["table-3"]["redline_html"]
    assert "Tin: Conformant:" in found["table-2"]["redline_html"]
    html = (out / "diff.html").read_text(encoding="utf-8")
    assert "Annex B – Countries of Origin: unchanged" not in html
    assert "Table 1. Supplier survey response" in html


def test_a_section_whose_table_changed_is_not_unchanged(tmp_path: Path) -> None:
    """The words of Section VI stay the same; one figure of Table 1 changes."""
    old, new = pair(tmp_path)
    edit(new.parent / "survey.yaml", "  responded: 298\n", "  responded: 297\n")
    _, report = run_diff(old, new, tmp_path / "d", "--format", "html")
    found = entries(report)
    assert found["table-1"]["changed"]
    assert "Suppliers that responded: <del>298</del> <ins>297</ins>" in found["table-1"]["redline_html"]
    results = found["results"]
    assert results["changed"] and "The figures of Table 1 and Table 3 changed" in results["redline_html"]
    assert not found["annex-b"]["changed"]


def test_a_country_added_to_one_metal_reads_as_that_metal_added(tmp_path: Path) -> None:
    old, new = pair(tmp_path)
    data = yaml.safe_load((new.parent / "survey.yaml").read_text())
    data["countries_of_origin"]["gold"].append("Rwanda")  # Rwanda is already listed for other metals
    (new.parent / "survey.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    _, report = run_diff(old, new, tmp_path / "d", "--format", "html")
    annex_b = entries(report)["annex-b"]
    assert annex_b["changed"] and "Rwanda: <ins>Gold added</ins>" in annex_b["redline_html"]
