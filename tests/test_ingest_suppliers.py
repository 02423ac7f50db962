"""One response per supplier, on real corpus workbooks: revisions, repackaged copies, conflicting
copies, roster mapping; and the supplier work built on it (status, letters, changes)."""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from datetime import date
from pathlib import Path

import pytest
import yaml

from conflict_minerals.ingest.check.lists import company_key
from conflict_minerals.ingest.check.responses import natural_key
from conflict_minerals.ingest.pipeline import IngestOptions, run_ingest

from .conftest import edited_workbook, excel_day

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cmrt-corpus"
GIGA = CORPUS / "wwww13wwww__mineral-system__RMI_CMRT_6.4_20240426_CG20240510_giga.xlsx"
SK = CORPUS / "wwww13wwww__mineral-system__RMI_CMRT_6.4_20240509_WF6__SK.xlsx"
corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/cmrt-corpus is not beside the checkout")

# Central Glass lists four tungsten smelters in rows 5-8; row 8 is CID002082 (Xiamen Tungsten).
ROW_8_SWAPPED = {
    ("Smelter List", "C8"): "A.L.M.T. Corp.",
    ("Smelter List", "D8"): "A.L.M.T. Corp.",
    ("Smelter List", "F8"): "CID000004",
}


def run(folder: Path, out: Path, roster: Path | None = None) -> tuple[dict, list[dict]]:
    """`cmr ingest` in this process; the survey and the findings rows."""
    options = IngestOptions(
        folder=folder,
        out=out / "survey.yaml",
        reporting_year=2024,
        as_of=date(2024, 12, 31),
        reference=CORPUS / "smelter-reference-6.5.csv",
        roster=roster,
        findings_dir=out,
        jobs=0,
    )
    run_ingest(options, lambda *a: None)
    survey = yaml.safe_load((out / "survey.yaml").read_text(encoding="utf-8"))
    return survey, list(csv.DictReader(io.StringIO((out / "findings.csv").read_text(encoding="utf-8"))))


def named_by(survey: dict) -> dict[str, set[str]]:
    return {s["cid"]: {p["file"] for p in s["named_by"]} for s in survey["smelters"]}


def findings_of(rows: list[dict], file: str) -> list[tuple[str, str]]:
    return [(r["code"], r["severity"]) for r in rows if r["file"] == file]


@corpus
def test_a_revision_supersedes_the_earlier_file_mapped_by_the_roster(tmp_path: Path) -> None:
    """Central Glass resends its CMRT a month later, one smelter changed, under another name
    ("CG Japan K.K."); the roster says both names are supplier V-1. One supplier, the later
    smelters, and one info finding on the earlier file naming the later one."""
    folder = tmp_path / "suppliers"
    folder.mkdir()
    shutil.copy(GIGA, folder / "central-glass.xlsx")
    revised = {
        **ROW_8_SWAPPED,
        ("Declaration", "D8"): "CG Japan K.K.",
        ("Declaration", "D22"): excel_day("2024-06-14"),
    }
    edited_workbook(GIGA, folder / "central-glass r1.xlsx", revised)
    shutil.copy(SK, folder / "sk.xlsx")
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "Supplier,Supplier ID\nCentral Glass Co. Ltd,V-1\nCG Japan,V-1\n"
        "SK specialty,V-2\nSilent Supplier,V-3\n",
        encoding="utf-8",
    )
    survey, rows = run(folder, tmp_path / "out", roster)
    assert survey["suppliers"] == {"surveyed": 3, "responded": 2}
    assert survey["suppliers_not_responded"] == ["Silent Supplier"]
    assert survey["ingest"]["files_superseded"] == 1
    smelters = named_by(survey)
    assert smelters["CID000004"] == {"central-glass r1.xlsx"}
    assert smelters["CID002082"] == {"sk.xlsx"}  # Central Glass no longer lists it; SK still does
    assert all("central-glass.xlsx" not in files for files in smelters.values())
    assert findings_of(rows, "central-glass.xlsx") == [("response-superseded", "info")]
    message = next(r["message"] for r in rows if r["file"] == "central-glass.xlsx")
    assert "central-glass r1.xlsx" in message and "2024-06-14" in message and "2024-05-10" in message
    # The declaration summary counts the supplier once.
    assert survey["declaration_summary"]["in_scope"]["tungsten"] == {"Yes": 2}


@corpus
def test_the_same_declaration_packaged_differently_counts_once(tmp_path: Path) -> None:
    folder = tmp_path / "suppliers"
    folder.mkdir()
    shutil.copy(GIGA, folder / "central-glass.xlsx")
    shutil.copy(GIGA, folder / "central-glass (2).xlsx")
    with zipfile.ZipFile(folder / "central-glass (2).xlsx", "a") as archive:  # other bytes, same content
        archive.comment = b"saved again"
    survey, rows = run(folder, tmp_path / "out")
    assert survey["suppliers"] == {"surveyed": 1, "responded": 1}
    assert survey["declaration_summary"]["in_scope"]["tungsten"] == {"Yes": 1}
    assert {s["cid"]: len(s["named_by"]) for s in survey["smelters"]} == dict.fromkeys(
        ["CID002082", "CID002494", "CID002513", "CID002551"], 1
    )
    # "central-glass (2)" sorts after "central-glass": it is the one counted.
    assert findings_of(rows, "central-glass.xlsx") == [("response-superseded", "info")]
    assert any("the same declaration as central-glass (2).xlsx" in r["message"] for r in rows)


@corpus
def test_a_different_declaration_on_the_same_date_is_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "suppliers"
    folder.mkdir()
    shutil.copy(GIGA, folder / "cg-v9.xlsx")
    edited_workbook(GIGA, folder / "cg-v10.xlsx", ROW_8_SWAPPED)
    survey, rows = run(folder, tmp_path / "out")
    assert survey["suppliers"] == {"surveyed": 1, "responded": 1}
    # v10 sorts after v9 (numbers compared as numbers): it is counted, v9 gets the warning.
    assert named_by(survey)["CID000004"] == {"cg-v10.xlsx"}
    assert "CID002082" not in named_by(survey)
    assert findings_of(rows, "cg-v9.xlsx") == [("response-conflict", "warning")]
    assert "cg-v10.xlsx is counted (the file whose name sorts last)" in next(
        r["message"] for r in rows if r["file"] == "cg-v9.xlsx"
    )


def test_names_and_file_names_compare_as_people_read_them() -> None:
    assert company_key("Central Glass Co., Ltd.") == company_key("CENTRAL GLASS CO LTD") == "central glass"
    assert company_key("Acme Company Holdings S.A.") == "acme"
    assert company_key("The Company Store") == "the company store"  # only a suffix is dropped
    assert sorted(["r10.xlsx", "r9.xlsx", "r1.xlsx"], key=natural_key) == ["r1.xlsx", "r9.xlsx", "r10.xlsx"]


# ----- where the campaign stands, letters, changes since the previous round -----

MERCK = CORPUS / "wwww13wwww__mineral-system__RMI_WF6_CMRT_6.4_Apr2024_Merck.xlsx"
PKG = CORPUS / "wwww13wwww__mineral-system__RMI_CMRT_6.4_PKG_DE00_20240710.xlsx"
BLANK = CORPUS / "cirscn__cm-reporting__RMI_CMRT_6.5.xlsx"
ROSTER = (
    "Supplier,Supplier ID,File,Contact Name,Contact Email\n"
    '"Central Glass Co., Ltd.",V-1,,Toru Nishio,toru.nishio@cgco.example\n'
    "SK specialty,V-2,,,\n"
    "EMD Electronics,V-3,RMI_WF6_CMRT_6.4_Apr2024_Merck.xlsx,,not an address\n"
    "Silent Supplier GmbH,V-4,blank.xlsx,Ana Silva,ana@silent.example\n"
    "Broken Parts Ltd,V-5,broken.xlsx,,parts@broken.example\n"
)
TUNGSTEN_Q3 = "D41"  # question 3 (Covered Countries), tungsten


def cell_text(path: Path, sheet: str, cell: str) -> str | None:
    """A cell's stored value read straight from the sheet XML (not through calamine)."""
    from conflict_minerals.cmrt.template import _shared_strings, _sheet_parts
    from conflict_minerals.cmrt.xlsx import Package, SheetEditor

    package = Package.read(path.read_bytes())
    part = _sheet_parts(package)[sheet]
    return SheetEditor(part, package.part(part)).raw_value(cell, _shared_strings(package))


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Last round: Central Glass listed A.L.M.T. (CID000004) instead of Xiamen Tungsten and
    answered Yes to question 3 for tungsten. This round: the corpus files as they are, a blank
    template from the silent supplier, and a roster."""
    root = tmp_path_factory.mktemp("campaign")
    before = root / "before"
    before.mkdir()
    edited_workbook(
        GIGA, before / "central-glass.xlsx", {**ROW_8_SWAPPED, ("Declaration", TUNGSTEN_Q3): "Yes"}
    )
    options = IngestOptions(
        folder=before,
        out=root / "previous" / "survey.yaml",
        reporting_year=2024,
        as_of=date(2024, 12, 31),
        reference=CORPUS / "smelter-reference-6.5.csv",
        details_dir=root / "previous" / "details",
        jobs=0,
    )
    run_ingest(options, lambda *a: None)
    now = root / "suppliers"
    now.mkdir()
    shutil.copy(GIGA, now / "central-glass.xlsx")
    for source in (SK, MERCK, PKG):
        shutil.copy(source, now / source.name.split("__")[-1])
    shutil.copy(BLANK, now / "blank.xlsx")
    (now / "broken.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    (root / "roster.csv").write_text(ROSTER, encoding="utf-8")
    options.folder, options.out, options.details_dir = now, root / "out" / "survey.yaml", None
    options.roster, options.findings_dir = root / "roster.csv", root / "out"
    options.letters_dir, options.previous = root / "letters", root / "previous" / "details"
    run_ingest(options, lambda *a: None)
    return root


def csv_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


@corpus
def test_status_per_supplier_follows_the_findings_and_the_roster(campaign: Path) -> None:
    status = {row["supplier"]: row for row in csv_rows(campaign / "out" / "status.csv")}
    findings = csv_rows(campaign / "out" / "findings.csv")

    def expected(file: str) -> str:
        severities = {row["severity"] for row in findings if row["file"] == file}
        return (
            "must correct"
            if "error" in severities
            else "warnings only"
            if "warning" in severities
            else "accepted"
        )

    assert status["Central Glass Co., Ltd."]["status"] == expected("central-glass.xlsx") == "warnings only"
    assert status["Central Glass Co., Ltd."]["effective_date"] == "2024-05-10"
    assert status["EMD Electronics"]["files"] == "RMI_WF6_CMRT_6.4_Apr2024_Merck.xlsx"  # by the roster's File
    pkg = "RMI_CMRT_6.4_PKG_DE00_20240710.xlsx"
    assert status[pkg]["status"] == expected(pkg) == "must correct" and status[pkg]["on_roster"] == "no"
    silent = status["Silent Supplier GmbH"]
    assert (silent["status"], silent["note"]) == ("not answered", "sent a blank template: blank.xlsx")
    broken = status["Broken Parts Ltd"]
    assert (broken["status"], broken["note"]) == (
        "not answered",
        "sent a file that could not be read: broken.xlsx",
    )
    html = (campaign / "out" / "findings.html").read_text(encoding="utf-8")
    assert "Where the campaign stands" in html and "<td>Not answered</td><td>2</td>" in html


@corpus
def test_letters_name_every_error_with_its_cell_and_the_drafts_parse(campaign: Path) -> None:
    import email
    import email.policy

    from docx import Document

    letters = {row["supplier"]: row for row in csv_rows(campaign / "letters" / "letters.csv")}
    findings = csv_rows(campaign / "out" / "findings.csv")
    status = {row["supplier"]: row for row in csv_rows(campaign / "out" / "status.csv")}
    assert set(letters) == {name for name, row in status.items() if row["status"] != "accepted"}
    for name, row in letters.items():
        document = Document(str(campaign / "letters" / row["docx"]))
        text = "\n".join(p.text for p in document.paragraphs)
        files = set(status[name]["files"].split("; ")) - {""}
        errors = [f for f in findings if f["file"] in files and f["severity"] == "error"]
        assert row["errors"] == str(len(errors))
        for finding in errors:
            where = (
                f"Sheet {finding['sheet']}, cell {finding['cell']}" if finding["cell"] else finding["sheet"]
            )
            assert where in text, (name, where)
            assert finding["message"][1:] in text, (name, finding["message"])
        draft = email.message_from_bytes(
            (campaign / "letters" / row["eml"]).read_bytes(), policy=email.policy.default
        )
        assert draft["Subject"] and draft.get_body(("plain",)).get_content().strip()
        assert (draft["To"].addresses[0].addr_spec if draft["To"] else "") == row["email"]
        # A letter names no file but the supplier's own: not another supplier's, not the reference list's.
        page = (campaign / "letters" / row["html"]).read_text(encoding="utf-8")
        others = {path.name for path in (campaign / "suppliers").iterdir()} - files
        assert not [other for other in (*others, "smelter-reference-6.5.csv") if other in page], name
    assert letters["Central Glass Co., Ltd."]["email"] == "toru.nishio@cgco.example"
    assert letters["EMD Electronics"]["email_note"] == "no valid address: 'not an address'"
    silent = letters["Silent Supplier GmbH"]
    assert (silent["letter"], silent["email"]) == ("reminder", "ana@silent.example")
    reminder = (campaign / "letters" / silent["html"]).read_text(encoding="utf-8")
    assert "we have not yet received it: the file we received (blank.xlsx) could not be used" in reminder
    assert "Fill in the Declaration tab" in reminder  # the advice for response-empty


@corpus
def test_changes_since_the_previous_round_match_the_cells(campaign: Path) -> None:
    changes = csv_rows(campaign / "out" / "changes.csv")
    central = [
        (c["change"], c["metal"], c["item"], c["previous"], c["current"])
        for c in changes
        if c["supplier"] == "Central Glass Co., Ltd."
    ]
    now = cell_text(GIGA, "Declaration", TUNGSTEN_Q3)
    assert now != "Yes"
    assert central == [
        ("smelter added", "tungsten", f"CID002082 {cell_text(GIGA, 'Smelter List', 'D8')}", "", "listed"),
        ("smelter removed", "tungsten", "CID000004 A.L.M.T. Corp.", "listed", ""),
        ("answer changed", "tungsten", f"Q3 (covered countries), Declaration {TUNGSTEN_Q3}", "Yes", now),
    ]
    assert {c["supplier"]: c["change"] for c in changes if c["supplier"] != "Central Glass Co., Ltd."} == {
        "SK specialty": "new supplier",
        "EMD Electronics": "new supplier",
        "RMI_CMRT_6.4_PKG_DE00_20240710.xlsx": "new supplier",
    }
    status = {row["supplier"]: row for row in csv_rows(campaign / "out" / "status.csv")}
    assert [
        status["Central Glass Co., Ltd."][k]
        for k in ("smelters_added", "smelters_removed", "answers_changed")
    ] == ["1", "1", "1"]
