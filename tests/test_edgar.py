"""`cmr build --edgar`, and PDF variants: what can be uploaded as is, and a PDF for the record."""

from __future__ import annotations

import html as html_module
import json
import re
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader
from typer.testing import CliRunner

from conflict_minerals.build import BuildOptions, OutputFormat, build
from conflict_minerals.cli import app
from conflict_minerals.problems import InputError

from .conftest import copy_sample, edit, make_final, make_rcoi_only
from .test_render import FORM_SD_CAPTIONS, pdf_text

runner = CliRunner()
HTML_ONLY = frozenset({OutputFormat.HTML})


def text_of(htm: bytes) -> str:
    text = re.sub(r"<[^>]+>", " ", htm.decode("ascii"))
    return " ".join(html_module.unescape(text).split())


@pytest.fixture(scope="module")
def edgar_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("edgar")
    filing = copy_sample("acme-2025", root)
    make_final(filing)  # an EDGAR package is the copy to file
    build(filing, root / "out", BuildOptions(formats=frozenset(OutputFormat), edgar=True))
    return filing, root / "out"


def test_edgar_folder_and_submission(edgar_build: tuple[Path, Path]) -> None:
    _, out = edgar_build
    names = sorted(p.name for p in (out / "edgar").iterdir())
    assert names == ["ex1-01-2025.htm", "formsd-2025.htm", "submission.json"]
    submission = json.loads((out / "edgar" / "submission.json").read_text())
    assert submission["submission_type"] == "SD"
    assert submission["rule"] == "13p-1"
    assert submission["period"] == "20251231"
    assert [i["item"] for i in submission["items"]] == ["1.01", "1.02"]
    assert [(d["sequence"], d["type"], d["file_name"]) for d in submission["documents"]] == [
        (1, "SD", "formsd-2025.htm"),
        (2, "EX-1.01", "ex1-01-2025.htm"),
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert any(e["path"].endswith("edgar/formsd-2025.htm") for e in manifest["outputs"])


def test_edgar_documents_pass_the_linter(edgar_build: tuple[Path, Path]) -> None:
    _, out = edgar_build
    files = [str(out / "edgar" / "formsd-2025.htm"), str(out / "edgar" / "ex1-01-2025.htm")]
    result = runner.invoke(app, ["check-edgar", *files])
    assert result.exit_code == 0, result.output
    for name in files:
        data = Path(name).read_bytes()
        assert data.isascii()
        assert (
            b"<style" not in data.lower() and b"<script" not in data.lower() and b"<svg" not in data.lower()
        )
        assert len(Path(name).name) <= 32


def test_edgar_shows_the_same_captions_and_numbers_as_the_pdf(edgar_build: tuple[Path, Path]) -> None:
    filing, out = edgar_build
    form_sd = text_of((out / "edgar" / "formsd-2025.htm").read_bytes())
    pdf = pdf_text(out / "form-sd.pdf")
    for caption in FORM_SD_CAPTIONS:
        assert caption in form_sd, caption
        assert caption in pdf
    assert "\u2612 Rule 13p-1" in form_sd and "\u2610 Rule 13q-1" in form_sd
    cmr = text_of((out / "edgar" / "ex1-01-2025.htm").read_bytes())
    survey = yaml.safe_load((filing.parent / "survey.yaml").read_text())
    for smelter in survey["smelters"]:
        assert smelter["cid"] in cmr
    assert f"Suppliers surveyed {survey['suppliers']['surveyed']}" in cmr
    # The website is shown as text, not as a link outside the submission.
    edgar_html = (out / "edgar" / "formsd-2025.htm").read_text()
    assert "https://investors.acme-devices.com/governance/conflict-minerals" in edgar_html  # make_final's
    assert 'href="https://investors' not in edgar_html


def test_rcoi_only_submission_has_no_exhibit(sample_2025: Path, tmp_path: Path) -> None:
    make_rcoi_only(sample_2025)
    make_final(sample_2025)
    build(sample_2025, tmp_path / "out", BuildOptions(formats=HTML_ONLY, edgar=True))
    submission = json.loads((tmp_path / "out" / "edgar" / "submission.json").read_text())
    assert [i["item"] for i in submission["items"]] == ["1.01"]
    assert [d["type"] for d in submission["documents"]] == ["SD"]


def test_override_that_breaks_edgar_rules_fails_the_build(sample_2025: Path, tmp_path: Path) -> None:
    theme = sample_2025.parent / "theme"
    theme.mkdir()
    (theme / "form-sd.html.j2").write_text(
        '{% extends "builtin/form-sd.html.j2" %}{% block content %}{{ super() }}'
        '<form action="x"><input name="q"></form>{% endblock %}',
        encoding="utf-8",
    )
    edit(sample_2025, "  draft: true", "  draft: true\n  template_dir: theme")
    with pytest.raises(InputError) as raised:
        build(sample_2025, tmp_path / "out", BuildOptions(formats=HTML_ONLY, edgar=True, allow_draft=True))
    assert any(p.file == "edgar/formsd-2025.htm" for p in raised.value.problems)
    assert not (tmp_path / "out").exists()


def test_pdf_a3b_carries_identification_and_attachments_and_is_reproducible(
    sample_2025: Path, tmp_path: Path
) -> None:
    outputs = []
    for name in ("a", "b"):
        build(
            sample_2025,
            tmp_path / name,
            BuildOptions(formats=frozenset({OutputFormat.PDF}), pdf_variant="pdf/a-3b"),
        )
        outputs.append((tmp_path / name / "form-sd.pdf").read_bytes())
    assert outputs[0] == outputs[1]
    reader = PdfReader(tmp_path / "a" / "form-sd.pdf")
    xmp = reader.root_object["/Metadata"].get_object().get_data()
    assert b'pdfaid:part="3"' in xmp and b'pdfaid:conformance="B"' in xmp
    assert "/OutputIntents" in reader.root_object
    attachments = reader.attachments
    assert sorted(attachments) == ["inputs-manifest.json", "survey.yaml"]
    assert attachments["survey.yaml"][0] == (sample_2025.parent / "survey.yaml").read_bytes()
    manifest = json.loads(attachments["inputs-manifest.json"][0])
    assert {e["path"] for e in manifest["inputs"]} == {
        "filing.yaml",
        "survey.yaml",
        "../acme-2024/filing.yaml",
    }


def test_pdf_ua1_is_tagged(sample_2025: Path, tmp_path: Path) -> None:
    build(
        sample_2025,
        tmp_path / "out",
        BuildOptions(formats=frozenset({OutputFormat.PDF}), pdf_variant="pdf/ua-1"),
    )
    reader = PdfReader(tmp_path / "out" / "conflict-minerals-report.pdf")
    assert "/StructTreeRoot" in reader.root_object
    assert reader.root_object["/MarkInfo"]["/Marked"]


def test_unknown_pdf_variant_is_a_usage_error(sample_2025: Path) -> None:
    result = runner.invoke(app, ["build", str(sample_2025), "--pdf-variant", "pdf/x-4"])
    assert result.exit_code == 2


def test_build_states_the_deadline(sample_2025: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", str(sample_2025), "--out", str(tmp_path / "o"), "--format", "html"])
    assert result.exit_code == 0
    assert "filing deadline: June 1, 2026" in result.output
