"""Reviewer decisions on what suppliers wrote in words (issue 18): a Covered Country a supplier
named in free text reaches the report only through a person's recorded decision, and until then
the report says so and the copy to file is refused."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from conflict_minerals.build import OutputFormat, build
from conflict_minerals.cli import app
from conflict_minerals.filing.loader import load_filing
from conflict_minerals.problems import InputError, Severity

from .conftest import REPO, copy_sample, edit

CORPUS = REPO.parent / "shared" / "cmrt-corpus"
KATANGA = CORPUS / "wwww13wwww__mineral-system__RMI_CMRT_6.4_PKG_DE00_20240710.xlsx"
pytestmark = pytest.mark.skipif(
    not KATANGA.is_file(), reason="../shared/cmrt-corpus is not beside the checkout"
)
runner = CliRunner()
DRC = "Democratic Republic of the Congo"


def ingest(folder: Path, out: Path, *extra: str, code: int = 0) -> dict:
    arguments = [
        "ingest",
        str(folder),
        "--out",
        str(out / "survey.yaml"),
        "--findings",
        str(out / "findings"),
    ]
    arguments += [
        "--year",
        "2024",
        "--as-of",
        "2025-05-01",
        "--cutoff",
        "2025-04-30",
        "--no-cache",
        "--jobs",
        "1",
    ]
    result = runner.invoke(app, [*arguments, *extra])
    assert result.exit_code == code, result.output
    return yaml.safe_load((out / "survey.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def suppliers(tmp_path: Path) -> Path:
    folder = tmp_path / "suppliers"
    folder.mkdir()
    shutil.copyfile(KATANGA, folder / KATANGA.name)
    return folder


def decide(starter: Path, target: Path, countries: str = f"[{DRC}]") -> Path:
    text = starter.read_text(encoding="utf-8")
    text = text.replace("countries: null", f"countries: {countries}")
    text = text.replace("reason: null", 'reason: "The supplier names the DRC (Katanga) as a mine location."')
    text = text.replace("decided_by: null", 'decided_by: "J. Rivera, Supply Chain Compliance"')
    text = text.replace("decided_on: null", "decided_on: 2025-04-20")
    target.write_text(text, encoding="utf-8")
    return target


def filing_over(survey: Path, folder: Path, final: bool) -> Path:
    """The 2024 sample's filing over this survey, as a company's own (a draft, or the copy to file)."""
    filing = copy_sample("acme-2024", folder)
    shutil.copyfile(survey, filing.parent / "survey.yaml")
    edit(filing, "acme-devices.example", "acme-devices.com", count=-1)
    if final:
        edit(filing, "  draft: true", "  draft: false")
    return filing


def report_text(out: Path) -> str:
    body = (out / "conflict-minerals-report.html").read_text(encoding="utf-8").split("<body", 1)[1]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def test_undecided_katanga_text_is_listed_and_written_as_a_starter(suppliers: Path, tmp_path: Path) -> None:
    survey = ingest(suppliers, tmp_path)
    (cell,) = survey["mine_locations_undecided"]
    assert (cell["file"], cell["sheet"], cell["cell"]) == (KATANGA.name, "Smelter List", "O12")
    assert "the southern Katanga Province of the DRC" in cell["text"] and cell["mentions"] == [DRC]
    assert DRC not in survey["countries_of_origin"]["tin"]  # nothing guessed
    starter = yaml.safe_load((tmp_path / "findings" / "decisions-to-make.yaml").read_text())
    (entry,) = starter["decisions"]
    assert entry["cell"] == "O12" and entry["text"] == cell["text"] and entry["countries"] is None


def test_without_a_decision_the_final_copy_fails_naming_the_cell(suppliers: Path, tmp_path: Path) -> None:
    ingest(suppliers, tmp_path)
    filing = filing_over(tmp_path / "survey.yaml", tmp_path / "final", final=True)
    with pytest.raises(InputError) as raised:
        load_filing(filing)
    named = [p for p in raised.value.problems if "O12" in p.message]
    assert named and named[0].severity is Severity.ERROR
    assert KATANGA.name in named[0].message and "Smelter List!O12" in named[0].message
    assert "the southern Katanga Province of the DRC" in named[0].message
    assert named[0].field == "mine_locations_undecided.0"


def test_without_a_decision_the_draft_says_a_covered_country_mention_is_undecided(
    suppliers: Path, tmp_path: Path
) -> None:
    ingest(suppliers, tmp_path)
    filing = filing_over(tmp_path / "survey.yaml", tmp_path / "draft", final=False)
    result = build(filing, tmp_path / "out", frozenset({OutputFormat.HTML}))
    assert any("O12" in w.message and w.severity is Severity.WARNING for w in result.warnings)
    text = report_text(tmp_path / "out")
    countries = text[text.index("Countries of Origin Based on") : text.index("Efforts to Determine")]
    # The list names what was read, and says at once that a Covered Country mention waits.
    assert "These include 2 Covered Countries: Rwanda and Tanzania." in countries
    assert (
        "In addition, text that could not be read as a mine location in 1 supplier entry mentions the "
        "Democratic Republic of the Congo, and no decision has yet been made" in countries
    )
    assert "the Covered Countries listed may therefore be incomplete" in countries


def test_with_a_decision_the_drc_is_a_country_of_origin_with_its_evidence(
    suppliers: Path, tmp_path: Path
) -> None:
    ingest(suppliers, tmp_path / "first")
    decisions = decide(
        tmp_path / "first" / "findings" / "decisions-to-make.yaml", tmp_path / "decisions.yaml"
    )
    survey = ingest(suppliers, tmp_path, "--decisions", str(decisions))
    assert DRC in survey["countries_of_origin"]["tin"]
    assert survey["countries_of_origin_sources"]["tin"][DRC][0]["cell"] == "O12"
    (decision,) = survey["mine_location_decisions"]
    assert decision["countries"] == [DRC] and decision["decided_by"] == "J. Rivera, Supply Chain Compliance"
    assert "mine_locations_undecided" not in survey
    assert (
        survey["mine_locations"]["parts_decided"] == 1 and survey["mine_locations"]["parts_unresolved"] == 0
    )
    findings = (tmp_path / "findings" / "findings.csv").read_text(encoding="utf-8")
    assert "mine-location-decided" in findings and "mine-location-unresolved" not in findings
    assert yaml.safe_load((tmp_path / "findings" / "decisions-to-make.yaml").read_text())["decisions"] == []
    # The report names the DRC among the Covered Countries; evidence shows the decision by the cell.
    filing = filing_over(tmp_path / "survey.yaml", tmp_path / "filing", final=False)
    build(filing, tmp_path / "out", frozenset({OutputFormat.HTML}))
    text = report_text(tmp_path / "out")
    assert (
        "These include 3 Covered Countries: the Democratic Republic of the Congo, Rwanda and Tanzania."
        in text
    )
    assert "1 was read and decided by a reviewer of the Company" in text
    evidence = json.loads((tmp_path / "out" / "evidence.json").read_text())
    (source,) = evidence["countries_of_origin"]["tin"][DRC]
    assert source["cell"] == "O12" and "Katanga" in source["text"]
    assert source["decision"]["reason"] == "The supplier names the DRC (Katanga) as a mine location."
    page = (tmp_path / "out" / "evidence.html").read_text(encoding="utf-8")
    row = page[page.index(f"<tr><td>{DRC}</td>") :].split("</tr>", 1)[0]
    assert "Katanga" in row and "Read by a reviewer" in row and "J. Rivera" in row


def test_a_decision_made_for_other_words_is_not_applied(suppliers: Path, tmp_path: Path) -> None:
    ingest(suppliers, tmp_path / "first")
    decisions = decide(
        tmp_path / "first" / "findings" / "decisions-to-make.yaml", tmp_path / "decisions.yaml"
    )
    edit(decisions, "recognised conflict", "recognized conflict")  # the text the reviewer saw
    survey = ingest(suppliers, tmp_path, "--decisions", str(decisions))
    assert DRC not in survey["countries_of_origin"]["tin"] and survey["mine_locations_undecided"]
    findings = (tmp_path / "findings" / "findings.csv").read_text(encoding="utf-8")
    assert "decision-stale" in findings and "decide again" in findings


def test_a_decision_for_a_cell_not_read_is_reported(suppliers: Path, tmp_path: Path) -> None:
    ingest(suppliers, tmp_path / "first")
    decisions = decide(
        tmp_path / "first" / "findings" / "decisions-to-make.yaml", tmp_path / "decisions.yaml"
    )
    edit(decisions, "cell: O12", "cell: O13")
    ingest(suppliers, tmp_path, "--decisions", str(decisions))
    findings = (tmp_path / "findings" / "findings.csv").read_text(encoding="utf-8")
    assert "decision-unused" in findings and "decisions.yaml" in findings


def test_a_decision_says_who_when_and_why(suppliers: Path, tmp_path: Path) -> None:
    ingest(suppliers, tmp_path / "first")
    decisions = decide(
        tmp_path / "first" / "findings" / "decisions-to-make.yaml", tmp_path / "decisions.yaml"
    )
    edit(decisions, '  decided_by: "J. Rivera, Supply Chain Compliance"\n', "")
    result = runner.invoke(
        app, ["ingest", str(suppliers), "--out", str(tmp_path / "survey.yaml"), "--decisions", str(decisions)]
    )
    assert result.exit_code == 1
    assert re.search(
        r"decisions\.yaml:\d+:\d+: decisions\.0\.decided_by: a decision needs reason", result.output
    )
    assert not (tmp_path / "survey.yaml").exists()


def test_a_covered_country_in_an_ambiguous_name_is_never_lost() -> None:
    from conflict_minerals.ingest.check.locations import read_cell

    (part,) = read_cell("Congo")
    assert part.kind.value == "ambiguous"
    assert {c.name for c in part.mentions} == {DRC, "Republic of the Congo"}


def test_the_whole_corpus_with_its_decisions_builds_a_consistent_report(tmp_path: Path) -> None:
    """Ingest of every corpus workbook, the Katanga cell decided: the report built from it says
    nothing the consistency check finds, and names the DRC among the Covered Countries."""
    # The corpus holds AMRT and CMRT 1.00 templates ingest reports as unsupported: exit 1.
    ingest(CORPUS, tmp_path / "first", code=1)
    decisions = decide(
        tmp_path / "first" / "findings" / "decisions-to-make.yaml", tmp_path / "decisions.yaml"
    )
    survey = ingest(CORPUS, tmp_path, "--decisions", str(decisions), code=1)
    assert "mine_locations_undecided" not in survey
    filing = filing_over(tmp_path / "survey.yaml", tmp_path / "filing", final=False)
    result = build(filing, tmp_path / "out", frozenset({OutputFormat.HTML}))
    found = [w for w in result.warnings if w.file.endswith(".html") or "\u201c" in w.message]
    assert found == []
    assert "the Democratic Republic of the Congo, Rwanda and Tanzania" in report_text(tmp_path / "out")
