"""evidence.json and evidence.html: every smelter, country and figure traced to its source."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
import yaml
from typer.testing import CliRunner

from conflict_minerals.build import OutputFormat, build
from conflict_minerals.cli import app
from conflict_minerals.filing.loader import load_filing
from conflict_minerals.problems import InputError, Severity

from .conftest import REPO, copy_sample

HTML_ONLY = frozenset({OutputFormat.HTML})
CORPUS = REPO.parent / "shared" / "cmrt-corpus"
# The real supplier-filled CMRT 6.4 workbooks of the corpus (see its SOURCES.md).
REAL_FILLED = (
    "wwww13wwww__mineral-system__RMI_CMRT_6.4_20240426_CG20240510_giga.xlsx",
    "wwww13wwww__mineral-system__RMI_CMRT_6.4_20240509_WF6__SK.xlsx",
    "wwww13wwww__mineral-system__RMI_CMRT_6.4_PKG_DE00_20240710.xlsx",
    "wwww13wwww__mineral-system__RMI_WF6_CMRT_6.4_Apr2024_Merck.xlsx",
)


def annex_cids(out: Path) -> list[str]:
    html = (out / "conflict-minerals-report.html").read_text(encoding="utf-8")
    annex = html[html.index('id="annex-a"') : html.index('id="annex-b"')]
    return re.findall(r'<td class="cid">(CID\d{6})</td>', annex)


def annex_b_countries(out: Path) -> dict[str, set[str]]:
    """metal -> countries marked in Annex B."""
    html = (out / "conflict-minerals-report.html").read_text(encoding="utf-8")
    annex = html[html.index('id="annex-b"') :]
    metals = re.findall(r'<th class="mark">(\w+)</th>', annex)
    marked: dict[str, set[str]] = {metal.lower(): set() for metal in metals}
    for name, cells in re.findall(r"<tr><td>([^<]+?)\*?</td>((?:<td class=\"mark\">X?</td>)+)</tr>", annex):
        for metal, flag in zip(metals, re.findall(r'<td class="mark">(X?)</td>', cells), strict=True):
            if flag:
                marked[metal.lower()].add(name)
    return marked


@pytest.fixture(scope="module")
def sample_evidence(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("evidence")
    filing = copy_sample("acme-2025", root)
    out = root / "out"
    build(filing, out, HTML_ONLY)
    return filing, out, json.loads((out / "evidence.json").read_text(encoding="utf-8"))


def test_every_annex_a_smelter_has_a_source(sample_evidence: tuple[Path, Path, dict]) -> None:
    filing, out, evidence = sample_evidence
    cids = annex_cids(out)
    assert len(cids) == len(set(cids)) > 250
    assert set(evidence["smelters"]) == set(cids)
    survey_lines = (filing.parent / "survey.yaml").read_text(encoding="utf-8").split("\n")
    for cid in cids:
        (source,) = evidence["smelters"][cid]  # the hand-made sample has no workbook provenance
        assert source["file"] == "survey.yaml" and source["field"].startswith("smelters.")
        # The line is the smelter's entry: its first key, with the CID a few lines down.
        entry = survey_lines[source["line"] - 1 : source["line"] + 4]
        assert entry[0].startswith("- metal:") and f"  cid: {cid}" in entry


def test_every_annex_b_country_has_a_source(sample_evidence: tuple[Path, Path, dict]) -> None:
    filing, out, evidence = sample_evidence
    survey_lines = (filing.parent / "survey.yaml").read_text(encoding="utf-8").split("\n")
    printed = annex_b_countries(out)
    assert {metal: set(countries) for metal, countries in evidence["countries_of_origin"].items()} == {
        metal: countries for metal, countries in printed.items() if countries
    }
    for metal, countries in evidence["countries_of_origin"].items():
        for sources in countries.values():
            (source,) = sources
            assert source["field"].startswith(f"countries_of_origin.{metal}.")
            assert survey_lines[source["line"] - 1].startswith("  - ")


def test_table_figures_name_their_source(sample_evidence: tuple[Path, Path, dict]) -> None:
    filing, _, evidence = sample_evidence
    survey = yaml.safe_load((filing.parent / "survey.yaml").read_text(encoding="utf-8"))
    lines = (filing.parent / "survey.yaml").read_text(encoding="utf-8").split("\n")
    response = evidence["figures"]["survey_response"]
    assert response["suppliers_surveyed"]["value"] == survey["suppliers"]["surveyed"]
    assert (
        lines[response["suppliers_surveyed"]["from"]["line"] - 1]
        == f"  surveyed: {survey['suppliers']['surveyed']}"
    )
    assert lines[response["suppliers_responded"]["from"]["line"] - 1].startswith("  responded: ")
    table = evidence["figures"]["sors_by_status"]
    counts = Counter((s["metal"], s["status"]) for s in survey["smelters"])
    every = []
    for metal, row in table.items():
        for status, cell in row.items():
            assert cell["count"] == counts[(metal, status)] == len(cell["cids"])
            every += cell["cids"]
    assert sorted(every) == sorted(s["cid"] for s in survey["smelters"])
    status_list = evidence["figures"]["status_list"]
    assert status_list["as_of"] == survey["status_list"]["as_of"]
    assert lines[status_list["from"]["line"] - 1].startswith("  source: ")


def test_evidence_html_links_every_count_to_its_smelters(sample_evidence: tuple[Path, Path, dict]) -> None:
    _, out, evidence = sample_evidence
    html = (out / "evidence.html").read_text(encoding="utf-8")
    assert "Not part of the filing." in html
    for cid in evidence["smelters"]:
        assert f'<tr id="{cid}">' in html and f'href="#{cid}"' in html
    assert "evidence.html" in json.loads((out / "manifest.json").read_text())["outputs"][1]["path"]


def test_workbook_provenance_is_carried_through(tmp_path: Path) -> None:
    """A survey written by ingest: named_by rows and mine-location cells become the sources."""
    filing = copy_sample("acme-2025", tmp_path)
    survey_path = filing.parent / "survey.yaml"
    data = yaml.safe_load(survey_path.read_text(encoding="utf-8"))
    first = data["smelters"][0]
    first["named_by"] = [
        {"file": "supplier-a.xlsx", "row": 9, "supplier": "Supplier A"},
        {"file": "supplier-b.xlsx", "row": 14},
    ]
    data["countries_of_origin"]["tantalum"] = ["Burundi", "RWANDA"]
    data["countries_of_origin_sources"] = {
        "tantalum": {
            "Burundi": [
                {"file": "supplier-a.xlsx", "sheet": "Smelter List", "cell": "O9", "text": "Burundi, Rwanda"}
            ],
            "RWANDA": [
                {"file": "supplier-a.xlsx", "sheet": "Smelter List", "cell": "O9", "text": "Burundi, Rwanda"}
            ],
        }
    }
    data["countries_of_origin_basis"] = ["supplier_declarations"]
    survey_path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    build(filing, tmp_path / "out", HTML_ONLY)
    evidence = json.loads((tmp_path / "out" / "evidence.json").read_text(encoding="utf-8"))
    assert evidence["smelters"][first["cid"]] == [
        {"file": "supplier-a.xlsx", "sheet": "Smelter List", "row": 9, "supplier": "Supplier A"},
        {"file": "supplier-b.xlsx", "sheet": "Smelter List", "row": 14},
    ]
    cell = {"file": "supplier-a.xlsx", "sheet": "Smelter List", "cell": "O9", "text": "Burundi, Rwanda"}
    assert evidence["countries_of_origin"]["tantalum"] == {"Burundi": [cell], "Rwanda": [cell]}
    html = (tmp_path / "out" / "evidence.html").read_text(encoding="utf-8")
    assert "supplier-a.xlsx</span> &middot; Smelter List row 9 &middot; Supplier A" in html
    assert "supplier-a.xlsx</span> &middot; Smelter List!O9 &middot; &ldquo;Burundi, Rwanda&rdquo;" in html


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/cmrt-corpus is not beside the checkout")
def test_real_supplier_files_end_to_end(tmp_path: Path) -> None:
    """Ingest the real filled CMRTs, build a filing from the result, and check each evidence row
    against the workbook itself, read independently with openpyxl."""
    suppliers = tmp_path / "suppliers"
    suppliers.mkdir()
    for name in REAL_FILLED:
        shutil.copyfile(CORPUS / name, suppliers / name)
    filing = copy_sample("acme-2025", tmp_path)
    survey = filing.parent / "survey.yaml"
    result = CliRunner().invoke(
        app,
        [
            "ingest",
            str(suppliers),
            "--out",
            str(survey),
            "--reference",
            str(CORPUS / "smelter-reference-6.5.csv"),
            "--year",
            "2025",
            "--as-of",
            "2026-04-01",
            "--no-cache",
            "--jobs",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    built = build(filing, out, HTML_ONLY)
    # Ingest was given no status list: the build says so (a warning in a draft).
    assert any(w.field == "smelters" and "no RMAP status list" in w.message for w in built.warnings)
    evidence = json.loads((out / "evidence.json").read_text(encoding="utf-8"))
    cids = annex_cids(out)
    assert len(cids) > 50 and set(evidence["smelters"]) == set(cids)
    sheets = {}
    checked = 0
    for cid in cids:
        sources = evidence["smelters"][cid]
        assert sources, f"{cid} has no source"
        for source in sources:
            assert source["file"] in REAL_FILLED and source["sheet"] == "Smelter List"
            if source["file"] not in sheets:
                workbook = openpyxl.load_workbook(suppliers / source["file"], read_only=True, data_only=True)
                sheets[source["file"]] = {
                    number: row
                    for number, row in enumerate(workbook["Smelter List"].iter_rows(values_only=True), 1)
                }
            row = sheets[source["file"]][source["row"]]
            # CMRT 6.x: column A is the ID the supplier typed, F the ID the template looked up.
            typed, looked_up = (str(row[i]).strip() if row[i] is not None else "" for i in (0, 5))
            assert cid in (typed, looked_up), f"{source} does not name {cid}: {row[:6]}"
            checked += 1
    assert checked >= len(cids)
    _check_country_sources(evidence, annex_b_countries(out), suppliers)


def _check_country_sources(evidence: dict, printed: dict[str, set[str]], suppliers: Path) -> None:
    """Every Annex B country has workbook cells behind it, and each cell (read with openpyxl)
    holds the text ingest says it read there."""
    countries = evidence["countries_of_origin"]
    assert {metal: set(found) for metal, found in countries.items()} == {
        metal: found for metal, found in printed.items() if found
    }
    assert sum(len(found) for found in countries.values()) >= 15  # 8 tin, 1 tungsten, 10 gold
    workbooks = {}
    for metal, found in countries.items():
        for country, sources in found.items():
            assert sources, f"{metal} {country} has no source"
            for source in sources:
                assert source["sheet"] == "Smelter List", source
                if source["file"] not in workbooks:
                    workbooks[source["file"]] = openpyxl.load_workbook(
                        suppliers / source["file"], read_only=False, data_only=True
                    )
                value = workbooks[source["file"]]["Smelter List"][source["cell"]].value
                assert str(value).strip() == source["text"].strip(), (metal, country, source, value)


def test_sources_for_a_country_not_listed_are_refused(tmp_path: Path) -> None:
    """Evidence must match the report: provenance for a country the survey does not list is an error."""
    filing = copy_sample("acme-2025", tmp_path)
    survey_path = filing.parent / "survey.yaml"
    data = yaml.safe_load(survey_path.read_text(encoding="utf-8"))
    cell = {"file": "a.xlsx", "sheet": "Smelter List", "cell": "O5", "text": "Narnia"}
    data["countries_of_origin_sources"] = {"tin": {"Narnia": [cell], "Bolivia": [cell]}}
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    survey_path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as raised:
        load_filing(filing)
    (error,) = [p for p in raised.value.problems if p.severity is Severity.ERROR]
    assert error.field == "countries_of_origin_sources.tin.Narnia"
    assert error.line == text.split("\n").index("    Narnia:") + 1
