"""`cmr ingest` end to end on real supplier workbooks: survey file, findings, status, roster,
exit codes, determinism, cache, and hostile files beside good ones."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import zipfile
from datetime import date
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from conflict_minerals.build import OutputFormat, build
from conflict_minerals.cli import app
from conflict_minerals.ingest.pipeline import IngestOptions, run_ingest
from conflict_minerals.ingest.read import extract as extract_module
from conflict_minerals.ingest.read.detect import version_order
from conflict_minerals.ingest.read.runner import Readers

from .conftest import copy_sample, edited_workbook, excel_day

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cmrt-corpus"
pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason="../shared/cmrt-corpus is not beside the checkout"
)

FILLED = {
    "central-glass.xlsx": "wwww13wwww__mineral-system__RMI_CMRT_6.4_20240426_CG20240510_giga.xlsx",
    "sk.xlsx": "wwww13wwww__mineral-system__RMI_CMRT_6.4_20240509_WF6__SK.xlsx",
    "pkg.xlsx": "wwww13wwww__mineral-system__RMI_CMRT_6.4_PKG_DE00_20240710.xlsx",
    "merck.xlsx": "wwww13wwww__mineral-system__RMI_WF6_CMRT_6.4_Apr2024_Merck.xlsx",
}
TEMPLATE_65 = "cirscn__cm-reporting__RMI_CMRT_6.5.xlsx"
runner = CliRunner()


def supplier_folder(root: Path) -> Path:
    folder = root / "suppliers"
    folder.mkdir()
    for name, source in FILLED.items():
        shutil.copy(CORPUS / source, folder / name)
    return folder


def filled_copy(source: str, target: Path, company: str, day: str = "2024-05-01") -> Path:
    """A corpus CMRT 6.x with the company's name and the effective date filled in: somebody's
    response, where a blank template is nobody's."""
    cells = {("Declaration", "D8"): company, ("Declaration", "D22"): excel_day(day)}
    return edited_workbook(CORPUS / source, target, cells)


def ingest(folder: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        [
            "ingest",
            str(folder),
            "--out",
            str(out),
            "--reference",
            str(CORPUS / "smelter-reference-6.5.csv"),
            "--year",
            "2024",
            "--as-of",
            "2024-12-31",
            "--no-cache",
            "--jobs",
            "2",
            *extra,
        ],
    )
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ingest")
    folder = supplier_folder(root)
    status = root / "status.csv"
    status.write_text(
        "Smelter ID,Standard Smelter Name,Metal,Assessment Status,As Of\n"
        "CID002494,Ganzhou Seadragon W & Mo Co.,Tungsten,Conformant,2025-03-31\n"
        "CID002551,Jiangwu H.C. Starck,Tungsten,Active,2025-03-31\n"
        "CID002082,Xiamen Tungsten,Tungsten,Non-Conformant,2025-03-31\n",
        encoding="utf-8",
    )
    roster = root / "roster.csv"
    roster.write_text(
        'Supplier Name\n"Central Glass Co., Ltd."\n"SK specialty Co., Ltd"\n'
        '"EMD Electronics, a business of Merck KGaA, Darmstadt, Germany"\nSilent Supplier GmbH\n',
        encoding="utf-8",
    )
    code, output = ingest(
        folder,
        root / "survey.yaml",
        "--status",
        str(status),
        "--roster",
        str(roster),
        "--findings",
        str(root / "findings"),
        "--details",
        str(root / "details"),
    )
    assert code == 0, output
    return root


def load_survey(root: Path) -> dict:
    return yaml.safe_load((root / "survey.yaml").read_text(encoding="utf-8"))


def test_survey_counts_and_deduplicates_smelters(ingested: Path) -> None:
    survey = load_survey(ingested)
    cids = [s["cid"] for s in survey["smelters"]]
    assert len(cids) == len(set(cids))
    # Central Glass lists four tungsten smelters; the PKG file lists 67 rows of tin and others.
    by_cid = {s["cid"]: s for s in survey["smelters"]}
    assert by_cid["CID002494"]["metal"] == "tungsten"
    named = {(p["file"], p["row"]) for p in by_cid["CID002494"]["named_by"]}
    assert ("central-glass.xlsx", 5) in named
    assert survey["ingest"]["files_found"] == 4 and survey["ingest"]["files_unreadable"] == 0


def test_status_list_is_joined_and_missing_ones_are_kept(ingested: Path) -> None:
    by_cid = {s["cid"]: s for s in load_survey(ingested)["smelters"]}
    assert by_cid["CID002494"]["status"] == "Conformant"
    assert by_cid["CID002551"]["status"] == "Active"
    assert by_cid["CID002082"]["status"] == "Non-Conformant"
    others = [s for s in by_cid.values() if s["cid"] not in ("CID002494", "CID002551", "CID002082")]
    assert others and all(
        s["status"] == "Other" and s["status_note"] == "Not on the status list" for s in others
    )
    assert load_survey(ingested)["status_list"] == {"source": "status.csv", "as_of": "2025-03-31"}


def test_roster_gives_the_true_response_rate(ingested: Path) -> None:
    survey = load_survey(ingested)
    assert survey["suppliers"] == {"surveyed": 4, "responded": 3}
    assert survey["suppliers_not_responded"] == ["Silent Supplier GmbH"]


def test_findings_html_and_csv_group_by_supplier(ingested: Path) -> None:
    rows = list(csv.DictReader(io.StringIO((ingested / "findings" / "findings.csv").read_text())))
    codes = {(r["file"], r["code"]) for r in rows}
    # The PKG file's declaration is blank: its required company fields are reported with their cells.
    assert ("pkg.xlsx", "required-field-missing") in codes
    pkg_name = [r for r in rows if r["file"] == "pkg.xlsx" and r["cell"] == "D8"]
    assert pkg_name and pkg_name[0]["sheet"] == "Declaration"
    assert ("central-glass.xlsx", "template-outdated") in codes
    html = (ingested / "findings" / "findings.html").read_text()
    assert "Central Glass Co., Ltd." in html and "pkg.xlsx" in html and "Declaration!D8" in html


def test_details_json_per_workbook(ingested: Path) -> None:
    details = sorted(p.name for p in (ingested / "details").glob("*.json"))
    assert details == [f"{name}.json" for name in sorted(FILLED)]
    data = json.loads((ingested / "details" / "central-glass.xlsx.json").read_text())
    assert data["company"]["name"] == "Central Glass Co., Ltd."
    assert data["company"]["contact_email"] == "toru,nishio@cgco.co.jp"
    assert [s["cid"] for s in data["smelters"]] == ["CID002494", "CID002551", "CID002513", "CID002082"]


def test_build_renders_an_ingested_survey(ingested: Path, tmp_path: Path) -> None:
    filing = copy_sample("acme-2024", tmp_path)
    shutil.copy(ingested / "survey.yaml", filing.parent / "survey.yaml")
    result = build(filing, tmp_path / "out", frozenset({OutputFormat.HTML}))
    html = (tmp_path / "out" / "conflict-minerals-report.html").read_text(encoding="utf-8")
    assert "CID002494" in html and "Ganzhou" in html
    assert not [w for w in result.warnings if w.severity == "error"]


def test_rerun_gives_the_same_bytes(ingested: Path, tmp_path: Path) -> None:
    folder = supplier_folder(tmp_path)
    status_args = ["--status", str(ingested / "status.csv"), "--roster", str(ingested / "roster.csv")]
    assert ingest(folder, tmp_path / "a.yaml", *status_args, "--findings", str(tmp_path / "fa"))[0] == 0
    assert ingest(folder, tmp_path / "b.yaml", *status_args, "--findings", str(tmp_path / "fb"))[0] == 0
    first = (tmp_path / "a.yaml").read_bytes()
    assert first == (tmp_path / "b.yaml").read_bytes()
    for name in ("findings.csv", "findings.html"):
        assert (tmp_path / "fa" / name).read_bytes() == (tmp_path / "fb" / name).read_bytes()


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_hostile_files_are_findings_and_good_files_still_count(tmp_path: Path) -> None:
    folder = supplier_folder(tmp_path)
    (folder / "empty.xlsx").write_bytes(b"")
    (folder / "photo.xlsx").write_bytes(b"\xff\xd8\xff\xe0 not a workbook at all")
    (folder / "truncated.xlsx").write_bytes((CORPUS / FILLED["sk.xlsx"]).read_bytes()[:50_000])
    write_zip(folder / "bomb.xlsx", {"xl/worksheets/sheet1.xml": b"0" * (20 * 1024 * 1024)})
    write_zip(
        folder / "entities.xlsx",
        {"xl/workbook.xml": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'},
    )
    outside = tmp_path / "outside.xlsx"
    shutil.copy(CORPUS / FILLED["sk.xlsx"], outside)
    os.symlink(outside, folder / "link.xlsx")
    code, output = ingest(folder, tmp_path / "survey.yaml", "--findings", str(tmp_path / "f"))
    assert code == 1  # some files could not be read...
    survey = load_survey(tmp_path)  # ...and the rest is still written
    assert survey["ingest"]["files_read"] == 4
    rows = list(csv.DictReader(io.StringIO((tmp_path / "f" / "findings.csv").read_text())))
    refused = {r["file"]: r["code"] for r in rows if r["code"].startswith("file-")}
    assert refused == {
        "bomb.xlsx": "file-refused",
        "empty.xlsx": "file-corrupt",
        "entities.xlsx": "file-refused",
        "link.xlsx": "file-refused",
        "photo.xlsx": "file-corrupt",
        "truncated.xlsx": "file-corrupt",
    }
    for name in refused:
        assert name in output
    assert "Traceback" not in output


def test_strict_makes_error_findings_fail(tmp_path: Path) -> None:
    folder = supplier_folder(tmp_path)
    assert ingest(folder, tmp_path / "s.yaml")[0] == 0
    assert ingest(folder, tmp_path / "s.yaml", "--strict")[0] == 1


def test_bad_status_list_is_invalid_input(tmp_path: Path) -> None:
    folder = supplier_folder(tmp_path)
    status = tmp_path / "status.csv"
    status.write_text("Name,Colour\nx,y\n", encoding="utf-8")
    code, output = ingest(folder, tmp_path / "s.yaml", "--status", str(status))
    assert code == 1
    assert "missing column(s)" in output and "Smelter ID" in output.replace("smelter id", "Smelter ID")
    assert not (tmp_path / "s.yaml").exists()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert runner.invoke(app, ["ingest", str(tmp_path)]).exit_code == 2  # --out missing
    assert runner.invoke(app, ["ingest", str(tmp_path), "--out", "x.yaml", "--jobs", "0"]).exit_code == 2


def test_cache_rereads_only_changed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = supplier_folder(tmp_path)
    calls: list[str] = []
    real = extract_module.read_supplier_bytes

    def counting(data: bytes, file: str, *args: object) -> object:
        calls.append(file)
        return real(data, file, *args)

    monkeypatch.setattr("conflict_minerals.ingest.read.runner.read_supplier_bytes", counting)
    options = IngestOptions(
        folder=folder,
        out=tmp_path / "s.yaml",
        reporting_year=2024,
        as_of=__import__("datetime").date(2024, 12, 31),
        reference=CORPUS / "smelter-reference-6.5.csv",
        jobs=0,  # in this process, so the counting stand-in above is the one called
        cache_dir=tmp_path / "cache",
    )
    run_ingest(options, lambda *a: None)
    assert sorted(calls) == sorted(FILLED)
    first = (tmp_path / "s.yaml").read_bytes()
    calls.clear()
    run_ingest(options, lambda *a: None)
    assert calls == []
    assert (tmp_path / "s.yaml").read_bytes() == first
    shutil.copy(CORPUS / "wwww13wwww__mineral-system__RMI_CMRT_6.4.xlsx", folder / "sk.xlsx")  # resent
    run_ingest(options, lambda *a: None)
    assert calls == ["sk.xlsx"]


def test_default_reference_is_the_newest_response_never_a_blank_template(tmp_path: Path) -> None:
    """A blank 6.5 template beside the 6.4 responses is one `response-empty` finding, not a
    response, and not the reference list; a filled 6.5 is."""
    folder = supplier_folder(tmp_path)
    shutil.copy(CORPUS / TEMPLATE_65, folder / "blank-6.5.xlsx")

    def run(name: str) -> dict:
        command = ["ingest", str(folder), "--out", str(tmp_path / f"{name}.yaml"), "--year", "2024"]
        command += ["--as-of", "2024-12-31", "--no-cache", "--jobs", "1", "--findings", str(tmp_path / name)]
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
        return yaml.safe_load((tmp_path / f"{name}.yaml").read_text(encoding="utf-8"))

    survey = run("blank")
    assert survey["ingest"]["reference_list"] == "Smelter Look-up of CMRT 6.4 (sk.xlsx)"
    assert survey["suppliers"] == {"surveyed": 4, "responded": 4}
    assert survey["ingest"]["files_empty"] == 1 and survey["ingest"]["files_read"] == 5
    rows = list(csv.DictReader(io.StringIO((tmp_path / "blank" / "findings.csv").read_text())))
    assert [(r["code"], r["severity"]) for r in rows if r["file"] == "blank-6.5.xlsx"] == [
        ("response-empty", "warning")
    ]
    filled_copy(TEMPLATE_65, folder / "filled-6.5.xlsx", "Newest Template Supplier Ltd")
    survey = run("filled")
    assert survey["ingest"]["reference_list"] == "Smelter Look-up of CMRT 6.5 (filled-6.5.xlsx)"
    assert survey["suppliers"] == {"surveyed": 5, "responded": 5}


def test_ingested_survey_validates_with_the_filing(ingested: Path, tmp_path: Path) -> None:
    filing = copy_sample("acme-2024", tmp_path)
    shutil.copy(ingested / "survey.yaml", filing.parent / "survey.yaml")
    result = runner.invoke(app, ["validate", str(filing)])
    assert result.exit_code == 0, result.output


def ingest_into(folder: Path, out: Path, jobs: int) -> None:
    """`cmr ingest` in this process with the default reference: survey.yaml and the findings in `out`."""
    options = IngestOptions(
        folder=folder,
        out=out / "survey.yaml",
        reporting_year=2024,
        as_of=date(2024, 12, 31),
        findings_dir=out,
        jobs=jobs,
    )
    run_ingest(options, lambda *a: None)


@pytest.mark.parametrize(
    ("last_file", "source", "early_used"),
    [
        ("zz-newest.xlsx", TEMPLATE_65, True),  # the last file is the newest response: its look-up is used
        (
            "zz-older.xlsx",
            FILLED["sk.xlsx"],
            False,
        ),  # the newest (6.5) is not last: its early read is unused
    ],
)
def test_the_look_up_read_early_gives_the_same_survey(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, last_file: str, source: str, early_used: bool
) -> None:
    """With two workers the last file's look-up is read beside the workbooks, in case it is the
    reference; the survey and findings are byte for byte those of a run with one worker (which
    reads the look-up at the end), whether it proves to be the reference or not."""
    folder = supplier_folder(tmp_path)
    filled_copy(TEMPLATE_65, folder / "filled-6.5.xlsx", "First Template Supplier Ltd")
    if source == TEMPLATE_65:
        filled_copy(TEMPLATE_65, folder / last_file, "Second Template Supplier Ltd")
    else:
        shutil.copy(CORPUS / source, folder / last_file)
        with zipfile.ZipFile(folder / last_file, "a") as archive:  # not a copy of sk.xlsx's bytes
            archive.comment = b"resent"
    used: list[bool] = []
    early_lookup = Readers._early_lookup

    def spy(self: Readers, *args: object) -> object:
        outcome = early_lookup(self, *args)
        used.append(outcome is not None)
        return outcome

    monkeypatch.setattr(Readers, "_early_lookup", spy)
    outputs = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs-{jobs}"
        ingest_into(folder, out, jobs)
        names = ("survey.yaml", "findings.csv", "findings.html")
        outputs[jobs] = [(out / name).read_bytes() for name in names]
    assert outputs[1] == outputs[2]
    assert any(used) == early_used  # only the two-worker run reads it early
    survey = yaml.safe_load(outputs[2][0])
    assert survey["ingest"]["reference_list"] == "Smelter Look-up of CMRT 6.5 " + (
        f"({last_file})" if early_used else "(filled-6.5.xlsx)"
    )


def test_revisions_are_ordered_as_decimals(tmp_path: Path) -> None:
    """RMI numbers revisions as decimals: CMRT 6.31 is older than 6.4 and 6.5 (not (6, 31) after
    (6, 5)), so it gets the template-outdated finding, and the 6.5 look-up is the reference."""
    assert sorted(["6.5", "6.31", "6.4", "6.1", "6.22", "6.01", "4.10", "4.01a"], key=version_order) == [
        "4.01a",
        "4.10",
        "6.01",
        "6.1",
        "6.22",
        "6.31",
        "6.4",
        "6.5",
    ]
    folder = tmp_path / "suppliers"
    folder.mkdir()
    for version in ("6.22", "6.31", "6.5"):
        template = f"cirscn__cm-reporting__RMI_CMRT_{version}.xlsx"
        filled_copy(template, folder / f"cmrt-{version}.xlsx", f"Supplier of {version} Ltd")
    out = tmp_path / "out"
    ingest_into(folder, out, jobs=1)
    survey = yaml.safe_load((out / "survey.yaml").read_text(encoding="utf-8"))
    assert survey["ingest"]["reference_list"] == "Smelter Look-up of CMRT 6.5 (cmrt-6.5.xlsx)"
    rows = csv.DictReader(io.StringIO((out / "findings.csv").read_text(encoding="utf-8")))
    outdated = sorted(row["file"] for row in rows if row["code"] == "template-outdated")
    assert outdated == ["cmrt-6.22.xlsx", "cmrt-6.31.xlsx"]
