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

from conflict_minerals.ingest.lists import company_key
from conflict_minerals.ingest.pipeline import IngestOptions, run_ingest
from conflict_minerals.ingest.suppliers import natural_key

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
    revised = {**ROW_8_SWAPPED, ("Declaration", "D8"): "CG Japan K.K.", ("Declaration", "D22"): excel_day("2024-06-14")}
    edited_workbook(GIGA, folder / "central-glass r1.xlsx", revised)
    shutil.copy(SK, folder / "sk.xlsx")
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "Supplier,Supplier ID\nCentral Glass Co. Ltd,V-1\nCG Japan,V-1\nSK specialty,V-2\nSilent Supplier,V-3\n",
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
    assert "cg-v10.xlsx is counted" in next(r["message"] for r in rows if r["file"] == "cg-v9.xlsx")


def test_names_and_file_names_compare_as_people_read_them() -> None:
    assert company_key("Central Glass Co., Ltd.") == company_key("CENTRAL GLASS CO LTD") == "central glass"
    assert company_key("Acme Company Holdings S.A.") == "acme"
    assert company_key("The Company Store") == "the company store"  # only a suffix is dropped
    assert sorted(["r10.xlsx", "r9.xlsx", "r1.xlsx"], key=natural_key) == ["r1.xlsx", "r9.xlsx", "r10.xlsx"]
