"""`cmr cmrt`: the company's own CMRT written into the official RMI template (issue 13).

Run on the real CMRT 6.4 and 6.5 templates of ../shared/cmrt-corpus: the output is read back
with `cmr ingest`, compared part by part with the template, recalculated by LibreOffice (when
installed) so the template's own Checker sheet can say whether a required item is missing.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
import yaml
from typer.testing import CliRunner

from conflict_minerals.cli import app
from conflict_minerals.cmrt.answers import response_band
from conflict_minerals.filing.models import OutgoingCmrt
from conflict_minerals.filing.yamlio import parse_yaml

from .conftest import REPO, copy_sample, edit

CORPUS = REPO.parent / "shared" / "cmrt-corpus"
TEMPLATES = {v: CORPUS / f"cirscn__cm-reporting__RMI_CMRT_{v}.xlsx" for v in ("6.4", "6.5")}
pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason="../shared/cmrt-corpus is not beside the checkout"
)
runner = CliRunner()

SECRET_SUPPLIER = "Zyxwv Secret Components GmbH"


def _project(tmp_path: Path) -> Path:
    """The 2025 sample (it has an outgoing_cmrt section) with supplier names in its survey."""
    filing = copy_sample("acme-2025", tmp_path)
    survey = filing.parent / "survey.yaml"
    # Provenance as ingest writes it: a roll-up must never disclose who supplies what.
    edit(
        survey,
        "  status: Conformant\n",
        "  status: Conformant\n  named_by:\n"
        f"  - {{file: secret-supplier.xlsx, row: 7, supplier: {SECRET_SUPPLIER}}}\n",
        count=5,
    )
    return filing


def _run(filing: Path, template: Path, out: Path):
    return runner.invoke(app, ["cmrt", str(filing), "--template", str(template), "--out", str(out)])


@pytest.fixture(scope="module", params=["6.5", "6.4"])
def written(request, tmp_path_factory) -> tuple[str, Path, Path, str]:
    version = request.param
    folder = tmp_path_factory.mktemp(f"cmrt{version}")
    filing = _project(folder)
    out = folder / "out" / "company-cmrt.xlsx"
    out.parent.mkdir()
    result = _run(filing, TEMPLATES[version], out)
    assert result.exit_code == 0, result.output
    return version, filing, out, result.output


def _parts(path: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def test_only_the_written_parts_differ_from_the_template(written) -> None:
    version, _filing, out, _output = written
    template, output = _parts(TEMPLATES[version]), _parts(out)
    assert [name for name, _ in template] == [name for name, _ in output]
    changed = sorted(name for (name, old), (_, new) in zip(template, output, strict=True) if old != new)
    assert changed == ["xl/workbook.xml", "xl/worksheets/sheet4.xml", "xl/worksheets/sheet5.xml"]
    workbook = dict(output)["xl/workbook.xml"]
    assert b'fullCalcOnLoad="1"' in workbook
    # workbook.xml: only the calcPr attribute was added.
    assert workbook.replace(b' fullCalcOnLoad="1"', b"") == dict(template)["xl/workbook.xml"]


def test_two_runs_give_the_same_bytes(written, tmp_path: Path) -> None:
    version, filing, out, _output = written
    again = tmp_path / "again.xlsx"
    assert _run(filing, TEMPLATES[version], again).exit_code == 0
    assert again.read_bytes() == out.read_bytes()


def test_no_supplier_name_anywhere(written) -> None:
    _version, filing, out, _output = written
    assert SECRET_SUPPLIER in (filing.parent / "survey.yaml").read_text(encoding="utf-8")
    for name, data in _parts(out):
        assert SECRET_SUPPLIER.encode() not in data, name
        assert b"secret-supplier" not in data, name


def test_cells_keep_their_style_and_use_inline_strings(written) -> None:
    version, _filing, out, _output = written
    old = dict(_parts(TEMPLATES[version]))["xl/worksheets/sheet4.xml"].decode()
    new = dict(_parts(out))["xl/worksheets/sheet4.xml"].decode()
    style = old.split('<c r="D8" ', 1)[1].split("/>", 1)[0]  # s="NNN"
    assert f'<c r="D8" {style} t="inlineStr"><is><t>Acme Devices, Inc.</t></is></c>' in new
    assert '<c r="D3" ' in new and "<t>English</t>" in new.split('<c r="D3" ', 1)[1].split("</c>", 1)[0]


def test_ingest_reads_back_the_same_smelters_and_answers(written, tmp_path: Path) -> None:
    version, filing, out, _output = written
    suppliers = tmp_path / "in"
    suppliers.mkdir()
    shutil.copy(out, suppliers / "company.xlsx")
    reference = TEMPLATES["6.5"]
    result = runner.invoke(
        app,
        [
            "ingest", str(suppliers), "--out", str(tmp_path / "survey.yaml"),
            "--details", str(tmp_path / "d"),
            "--reference", str(reference), "--year", "2025", "--as-of", "2026-06-01", "--no-cache",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    read = yaml.safe_load((tmp_path / "survey.yaml").read_text(encoding="utf-8"))
    assert read["ingest"]["findings_by_severity"].get("error", 0) == 0
    source = yaml.safe_load((filing.parent / "survey.yaml").read_text(encoding="utf-8"))
    expected = {s["cid"] for s in source["smelters"]}
    got = {s["cid"] for s in read["smelters"]}
    if version == "6.5":
        assert got == expected
        assert read["unidentified_smelter_rows"] == 0
    else:
        # The 6.4 look-up lacks newer IDs (and cannot resolve one): those are written as
        # "Smelter not listed" rows with name and country, and the run warned about each.
        missing = expected - got
        assert missing and got <= expected
        assert read["unidentified_smelter_rows"] == len(missing)
        for cid in missing:
            assert cid in _output
    details = json.loads(next((tmp_path / "d").iterdir()).read_text(encoding="utf-8"))
    workbook = details.get("workbook", details)
    company = workbook["company"]
    assert company["name"] == "Acme Devices, Inc."
    assert company["scope"] == "A. Company"
    assert company["authorizer"] == "Margaret L. Chen"
    assert company["effective_date"] == "2026-05-27"
    answers = {a["cell"]: a["value"] for answers in workbook["answers"].values() for a in answers}
    assert answers["D26"] == "Yes" and answers["D32"] == "Yes" and answers["D44"] == "Unknown"
    assert answers["D56"] == response_band(298, 412) == "Greater than 50%"
    assert answers["D62"] == "No"  # 114 suppliers did not respond: not every smelter is known
    assert answers["D38"] == "Yes"  # the sample's tantalum countries include Covered Countries
    company_answers = {a["cell"]: a["value"] for a in workbook["company_answers"]}
    assert company_answers["D81"] == "Yes" and company_answers["D89"] == "Yes, with the SEC"


def test_the_6_4_template_leftover_row_is_cleared(written) -> None:
    version, _filing, out, output = written
    if version != "6.4":
        pytest.skip("only the 6.4 template in the corpus carries a leftover row")
    assert "Smelter List rows 5 held entries" in output
    sheet = openpyxl.load_workbook(out, read_only=True)["Smelter List"]
    # Row 5's formulas are back (the template had pasted values over them).
    assert str(sheet["B5"].value).startswith("=IF(LEN(A5)=0")
    assert sheet["A5"].value == "CID003926"


def test_response_bands() -> None:
    assert response_band(10, 10) == "100%"
    assert response_band(91, 100) == "Greater than 90%"
    assert response_band(90, 100) == "Greater than 75%"
    assert response_band(51, 100) == "Greater than 50%"
    assert response_band(50, 100) == "50% or less"
    assert response_band(0, 100) == "None"


def test_missing_answers_name_the_cell_and_the_field(tmp_path: Path) -> None:
    filing = _project(tmp_path)
    edit(filing, "  contact_email: conflict.minerals@acme-devices.example\n", "")
    edit(
        filing,
        "    tin: {remains_in_product: Yes, cahra: Unknown, all_information_reported: No}",
        "    tin: {}",
    )
    out = tmp_path / "out.xlsx"
    result = _run(filing, TEMPLATES["6.5"], out)
    assert result.exit_code == 1
    assert "Declaration!D16 (Email - Contact) is required" in result.output
    assert "fill outgoing_cmrt.contact_email" in result.output
    assert "Declaration!D33 (question 2: does tin remain in the product(s)?)" in result.output
    assert "fill outgoing_cmrt.metals.tin.remains_in_product (Yes or No)" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_an_answer_the_survey_contradicts_is_an_error_with_its_line(tmp_path: Path) -> None:
    filing = _project(tmp_path)
    edit(filing, "tin: {remains_in_product: Yes,", "tin: {covered_countries: No, remains_in_product: Yes,")
    line = next(
        i for i, text in enumerate(filing.read_text().splitlines(), 1) if "covered_countries: No" in text
    )
    result = _run(filing, TEMPLATES["6.5"], tmp_path / "out.xlsx")
    assert result.exit_code == 1
    assert f"filing.yaml:{line}:" in result.output
    assert "Declaration!D39 (question 3) is decided by the survey: Yes" in result.output


def test_unknown_field_in_the_section_is_an_error(tmp_path: Path) -> None:
    filing = _project(tmp_path)
    edit(filing, "  policy: Yes\n", "  polcy: Yes\n")
    result = _run(filing, TEMPLATES["6.5"], tmp_path / "out.xlsx")
    assert result.exit_code == 1 and "outgoing_cmrt.polcy: unknown field" in result.output


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("cirscn__cm-reporting__RMI_CMRT_6.31.xlsx", "is CMRT 6.31 (Declaration!J3)"),
        ("cirscn__cm-reporting__RMI_EMRT_2.1.xlsx", "is an EMRT (it has a Mine List)"),
        ("ldenevi__ddm__3.01_-_empty.xls", "is not an .xlsx workbook"),
        (
            "wwww13wwww__mineral-system__RMI_WF6_CMRT_6.4_Apr2024_Merck.xlsx",
            "is a filled CMRT, not a blank template (Declaration!D8 holds",
        ),
    ],
)
def test_other_templates_are_refused(tmp_path: Path, template: str, message: str) -> None:
    filing = _project(tmp_path)
    out = tmp_path / "out.xlsx"
    result = _run(filing, CORPUS / template, out)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_output_over_an_input_is_refused(tmp_path: Path) -> None:
    filing = _project(tmp_path)
    before = filing.read_bytes()
    result = _run(filing, TEMPLATES["6.5"], filing)
    assert result.exit_code == 1 and "--out: is an input of this run" in result.output
    assert filing.read_bytes() == before


def test_product_scope_fills_the_product_list(tmp_path: Path) -> None:
    filing = _project(tmp_path)
    edit(
        filing,
        "outgoing_cmrt:\n",
        "outgoing_cmrt:\n  scope: products\n  products:\n  - {number: AX-100, name: Industrial sensor}\n",
    )
    out = tmp_path / "out.xlsx"
    assert _run(filing, TEMPLATES["6.5"], out).exit_code == 0
    book = openpyxl.load_workbook(out, read_only=True)
    assert book["Declaration"]["D9"].value == "B. Product (or List of Products)"
    assert (book["Product List"]["B6"].value, book["Product List"]["C6"].value) == (
        "AX-100",
        "Industrial sensor",
    )


def test_starter_example_section_is_valid() -> None:
    text = (REPO / "src/conflict_minerals/filing/starter/filing.yaml").read_text(encoding="utf-8")
    block = text[text.index("# outgoing_cmrt:") :].splitlines()
    uncommented = "\n".join(line[2:] if line.startswith("# ") else line for line in block)
    parsed = parse_yaml(uncommented.encode(), "starter")
    section = OutgoingCmrt.model_validate(parsed.data["outgoing_cmrt"])
    assert section.policy is not None and section.policy.value == "Yes"


# -- LibreOffice: a real spreadsheet engine recalculates the workbook -------------------------

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
_RECALC_ALWAYS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
<prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def _recalculated(source: Path, folder: Path) -> Path:
    """The workbook as LibreOffice saves it after recalculating every formula on load."""
    profile = folder / "profile"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(_RECALC_ALWAYS, encoding="utf-8")
    subprocess.run(
        [
            SOFFICE, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
            "--convert-to", "xlsx", "--outdir", str(folder / "converted"), str(source),
        ],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return folder / "converted" / source.name


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_checker_finds_nothing_missing_and_cached_values_match(written, tmp_path: Path) -> None:
    _version, _filing, out, _output = written
    converted = _recalculated(out, tmp_path)
    recalculated = openpyxl.load_workbook(converted, data_only=True, read_only=True)
    checker = recalculated["Checker"]
    # D2 is the template's count of required fields still missing (=IF(H70=0,"0",H70)).
    assert checker["D2"].value in ("0", 0)
    flags = [row for row in checker.iter_rows(min_row=4, max_row=69, min_col=1, max_col=8, values_only=True)]
    assert not [row for row in flags if row[7] not in (None, 0)]
    # What we cached for the Smelter List formulas is what the engine computes.
    cached = openpyxl.load_workbook(io.BytesIO(out.read_bytes()), data_only=True, read_only=True)
    ours = list(cached["Smelter List"].iter_rows(min_row=5, max_row=300, max_col=28, values_only=True))
    theirs = list(
        recalculated["Smelter List"].iter_rows(min_row=5, max_row=300, max_col=28, values_only=True)
    )

    def norm(value: object) -> object:
        return None if value == "" else value

    assert [[norm(v) for v in row] for row in ours] == [[norm(v) for v in row] for row in theirs]
    assert recalculated["Declaration"]["P3"].value == 1  # the language selector is English
