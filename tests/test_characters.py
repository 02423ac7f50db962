"""Issue 20, class 1: one rule for characters no output may hold, for every writer.

Before: a YAML string written with an escape (`"Acme Devices,\\x01 Inc."`, `"\\uFFFE"`,
`"\\uFFFF"`) passed `cmr validate`, and `cmr build` (Word), `cmr diff --format docx`, `cmr cmrt`
and the EDGAR converter stopped with a ValueError traceback ("All strings must be XML
compatible"). Now: refused at validation in the user's own files with file:line:col and the
character named; replaced by U+FFFD with a finding in text read from supplier workbooks; a
rendered document that still holds one (an override template wrote it) is an error naming it;
`check-edgar` flags such characters. A property test feeds generated Unicode through every
free-text field into every output and asserts a clean error or valid files.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from lxml import etree
from lxml import html as lxml_html
from typer.testing import CliRunner

from conflict_minerals.build import BuildOptions, build, document_pdf
from conflict_minerals.cli import app
from conflict_minerals.diff.compare import write_diff
from conflict_minerals.documents import OutputFormat
from conflict_minerals.edgar.lint import lint_html
from conflict_minerals.filing.characters import REFUSED
from conflict_minerals.filing.loader import load_filing
from conflict_minerals.filing.yamlio import parse_yaml, strings
from conflict_minerals.problems import InputError
from conflict_minerals.report.context import build_context
from conflict_minerals.report.html import render_html
from conflict_minerals.serve.preview import render_preview
from conflict_minerals.word.docx import docx_bytes

from .conftest import SAMPLES, copy_sample, edit
from .test_cmrt import TEMPLATES

runner = CliRunner()
CANNOT_HOLD = "which no Word, EDGAR or CMRT file can hold"


# ----- the reproductions -------------------------------------------------------


@pytest.mark.parametrize(
    "escape, named",
    [
        ("\\x01", "U+0001 (a control character), written \\x01"),
        ("\\uFFFE", "U+FFFE (a noncharacter), written \\uFFFE"),
        ("\\uFFFF", "U+FFFF (a noncharacter), written \\uFFFF"),
    ],
)
def test_an_escaped_character_no_output_can_hold_is_refused_with_its_place(
    sample_2025: Path, escape: str, named: str
) -> None:
    edit(sample_2025, 'name: "Acme Devices, Inc."', f'name: "Acme Devices,{escape} Inc."')
    line = next(n for n, text in enumerate(sample_2025.read_text().split("\n"), 1) if escape in text)
    column = sample_2025.read_text().split("\n")[line - 1].index(escape) + 1
    for command in (["validate"], ["build", "--format", "docx", "--edgar", "--allow-draft"]):
        result = runner.invoke(app, [command[0], str(sample_2025), *command[1:]])
        assert result.exit_code == 1, result.output
        assert f"filing.yaml:{line}:{column}: registrant.name: holds {named}, {CANNOT_HOLD}" in result.output
        assert "Traceback" not in result.output


def test_diff_and_cmrt_refuse_it_the_same_way(sample_2025: Path, tmp_path: Path) -> None:
    edit(sample_2025, '    title: "Associate General Counsel"', '    title: "Associate\\uFFFF Counsel"')
    old = copy_sample("acme-2024", tmp_path / "old")
    results = [
        runner.invoke(
            app, ["diff", str(old), str(sample_2025), "--out", str(tmp_path / "d"), "--format", "docx"]
        ),
        runner.invoke(
            app,
            [
                "cmrt",
                str(sample_2025),
                "--template",
                str(TEMPLATES["6.5"]),
                "--out",
                str(tmp_path / "c.xlsx"),
            ],
        ),
    ]
    for result in results:
        assert result.exit_code == 1 and "registrant.contact.title: holds U+FFFF" in result.output
        assert "Traceback" not in result.output


def test_the_survey_is_checked_by_the_same_rule(sample_2025: Path) -> None:
    survey = sample_2025.parent / "survey.yaml"
    edit(survey, "name: 5D Production OU", 'name: "5D Production\\e OU"')
    result = runner.invoke(app, ["validate", str(sample_2025)])
    assert result.exit_code == 1
    assert re.search(
        r"survey\.yaml:\d+:\d+: smelters\.0\.name: holds U\+001B \(a control character\)", result.output
    )


def test_an_override_template_that_writes_one_names_the_document(sample_2025: Path) -> None:
    theme = sample_2025.parent / "theme"
    theme.mkdir()
    (theme / "form-sd.html.j2").write_text(
        '{% extends "builtin/form-sd.html.j2" %}{% block content %}<p>&#1;</p>{{ super() }}{% endblock %}',
        encoding="utf-8",
    )
    edit(sample_2025, "  draft: true", "  draft: true\n  template_dir: theme")
    result = runner.invoke(app, ["build", str(sample_2025), "--format", "docx"])
    assert result.exit_code == 1
    assert "form-sd.html (as rendered):" in result.output
    assert "holds U+0001 (a control character), written '&#1;'" in result.output


def test_a_list_csv_is_checked_too(tmp_path: Path) -> None:
    from conflict_minerals.ingest.check.lists import read_status_list

    status = tmp_path / "status.csv"
    status.write_text("CID,Status\nCID000001,Conformant\x0b\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"status\.csv:2:21: holds U\+000B"):
        read_status_list(status, None)


def test_check_edgar_flags_control_characters_and_references(tmp_path: Path) -> None:
    document = tmp_path / "formsd.htm"
    document.write_bytes(b"<html><body><p>a\x01b</p>\n<p>&#xFFFE; &#128; ok &#9746;</p></body></html>\n")
    problems = [p for p in lint_html(document.read_bytes(), "formsd.htm") if p.rule == "control-character"]
    assert [(p.line, p.message) for p in problems] == [
        (1, "U+0001 (a control character) is not a character EDGAR accepts"),
        (2, "'&#xFFFE;': U+FFFE (a noncharacter) is not a character EDGAR accepts"),
    ]


CORPUS_WORKBOOK = TEMPLATES["6.5"].parent / "wwww13wwww__mineral-system__RMI_CMRT_6.4_20240509_WF6__SK.xlsx"


@pytest.mark.skipif(not CORPUS_WORKBOOK.is_file(), reason="the supplier workbook is not in the corpus")
def test_supplier_text_is_replaced_visibly_with_a_finding_and_the_build_goes_on(
    sample_2025: Path, tmp_path: Path
) -> None:
    """`_x0001_` in a workbook's shared strings is how an .xlsx carries a control character."""
    with zipfile.ZipFile(CORPUS_WORKBOOK) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    shared = parts["xl/sharedStrings.xml"].decode("utf-8")
    parts["xl/sharedStrings.xml"] = shared.replace("SK specialty", "SK_x0001_ specialty", 1).encode("utf-8")
    suppliers = tmp_path / "suppliers"
    suppliers.mkdir()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    (suppliers / "supplier.xlsx").write_bytes(buffer.getvalue())
    survey = sample_2025.parent / "survey.yaml"
    result = runner.invoke(
        app,
        ["ingest", str(suppliers), "--out", str(survey), "--findings", str(tmp_path / "f"), "--no-cache",
         "--year", "2025", "--as-of", "2026-05-01"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = survey.read_text(encoding="utf-8")
    assert "SK\ufffd specialty" in text and REFUSED.search(text) is None
    findings = (tmp_path / "f" / "findings.csv").read_text(encoding="utf-8")
    assert "text-invalid-character,Declaration,D8," in findings and "U+0001 (a control character)" in findings
    built = runner.invoke(
        app, ["build", str(sample_2025), "--out", str(tmp_path / "out"), "--format", "docx"]
    )
    assert built.exit_code == 0, built.output


# ----- every string, every writer --------------------------------------------------------

# Control characters and noncharacters (refused), and what is allowed but awkward: combining
# marks, right-to-left text and overrides, zero-width characters, emoji, markup and template
# syntax, quotes, Markdown.
ALPHABET = [
    "a", "Z", " ", "\t", "\x01", "\x0b", "\x1b", "\x7f", "\x85", "\ufffe", "\uffff", "\U0001fffe", "\ud800",
    "e\u0301", "\u202e", "\u200f", "\u200b", "\u05d0", "\u0627", "\U0001f600", "中", "\u00a0",
    "<", ">", "&", '"', "'", "*", "_", "[", "]", "(x)", "{{", "}}", "{%", "\\", "#", "`", "&#1;",
]  # fmt: skip
ALLOWED = [piece for piece in ALPHABET if REFUSED.search(piece) is None]
# Half the examples hold only allowed characters, so that outputs are written and checked.
TEXTS = st.one_of(
    *(
        st.lists(
            st.lists(st.sampled_from(pieces), min_size=1, max_size=12).map("".join), min_size=1, max_size=6
        )
        for pieces in (ALLOWED, ALPHABET)
    )
)
# Free text of the filing and the survey; identifiers, dates and codes keep their form.
SKIPPED = {
    ("reporting_year",), ("mode",), ("registrant", "state_of_incorporation"),
    ("registrant", "commission_file_number"), ("registrant", "irs_employer_identification_number"),
    ("registrant", "zip_code"), ("registrant", "contact", "phone"), ("survey_results",), ("website_url",),
    ("exhibits_numbering",), ("signature", "date"), ("presentation", "draft"), ("previous_filing",),
    ("policy_url",),
}  # fmt: skip
# Keys whose values are dates, counts, or last year's own words (matched against that filing).
SKIPPED_KEYS = {"acquired_on", "requested", "removed", "step"}
SURVEY_TEXT = (("note",), ("status_list", "source"), ("smelters", 0, "name"), ("smelters", 1, "name"))


def _set(data: dict, path: tuple, value: str) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def _project(folder: Path, texts: list[str]) -> tuple[Path, bool]:
    """A copy of the 2025 sample with each free-text field holding one of `texts` added to its
    own text (so the Markdown around it stays), and whether any holds a refused character."""
    folder.mkdir(parents=True)
    if not (folder.parent / "acme-2024").exists():
        copy_sample("acme-2024", folder.parent)  # the previous filing the sample names
    filing = parse_yaml((SAMPLES / "acme-2025" / "filing.yaml").read_bytes(), "filing.yaml").data
    survey = parse_yaml((SAMPLES / "acme-2025" / "survey.yaml").read_bytes(), "survey.yaml").data
    used = []
    fields = [
        (filing, path, text)
        for path, text in strings(filing)
        if path not in SKIPPED and path[0] != "outgoing_cmrt" and path[-1] not in SKIPPED_KEYS
    ]
    fields += [(survey, path, survey_value) for path in SURVEY_TEXT for survey_value in [_get(survey, path)]]
    for index, (data, path, text) in enumerate(fields):
        added = texts[index % len(texts)]
        used.append(added)
        _set(data, path, f"{text} {added}")
    for name, data in (("filing.yaml", filing), ("survey.yaml", survey)):
        (folder / name).write_text(
            yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10**6), encoding="utf-8"
        )
    return folder / "filing.yaml", any(REFUSED.search(text) for text in used)


def _get(data: dict, path: tuple) -> str:
    for part in path:
        data = data[part]
    return data


def _valid_xml_parts(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.endswith((".xml", ".rels")):
                etree.fromstring(archive.read(name))


def _valid_html(data: bytes) -> None:
    text = data.decode("utf-8")
    assert REFUSED.search(text) is None
    lxml_html.document_fromstring(data)


@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(texts=TEXTS)
@example(texts=["Acme Devices,\x01 Inc.", "\ufffe", "\uffff"])
@example(
    texts=[
        "e\u0301 \u202eevil\u202c \u05d0\u0627 \U0001f600 中 <b>&amp;</b> {{ x }} [link](https://a.b) *em*"
    ]
)
def test_generated_text_in_every_field_gives_a_clean_error_or_valid_files(
    texts: list[str], tmp_path_factory
) -> None:
    folder = tmp_path_factory.mktemp("generated")
    filing, refused = _project(folder / "project", texts)
    assert render_preview(filing) is not None  # the preview shows problems; it never raises
    try:
        load_filing(filing)
    except InputError as error:
        named = [p for p in error.problems if CANNOT_HOLD in p.message]
        # A lone surrogate's escape is a YAML error of its own (libyaml refuses it), at its line.
        unreadable = [p for p in error.problems if p.message.startswith("not valid YAML") and p.line]
        assert named or unreadable or not refused, error
        assert all(p.line and REFUSED.search(str(p)) is None for p in named)
        event("refused at validation" if named else "another input error")
        return
    assert not refused, "a character no output may hold got through validation"
    out = folder / "out"
    try:
        build(
            filing,
            out,
            BuildOptions(
                formats=frozenset({OutputFormat.HTML, OutputFormat.DOCX}), edgar=True, allow_draft=True
            ),
        )
    except InputError as error:  # an EDGAR lint problem or the like: named, never a traceback
        assert error.problems
        event("refused by the build")
        return
    event("every output written")
    for path in out.rglob("*"):
        if path.suffix == ".html":
            _valid_html(path.read_bytes())
        elif path.suffix == ".docx":
            _valid_xml_parts(path.read_bytes())
        elif path.suffix == ".htm":
            assert not [
                p
                for p in lint_html(path.read_bytes(), path.name)
                if p.rule in ("control-character", "ascii", "parse")
            ]
    write_diff(SAMPLES / "acme-2025" / "filing.yaml", filing, folder / "diff", {OutputFormat.HTML})
    _valid_html((folder / "diff" / "diff.html").read_bytes())
    if TEMPLATES["6.5"].is_file():
        result = runner.invoke(
            app, ["cmrt", str(filing), "--template", str(TEMPLATES["6.5"]), "--out", str(folder / "c.xlsx")]
        )
        assert result.exit_code in (0, 1) and "Traceback" not in result.output, result.output
        if result.exit_code == 0:
            _valid_xml_parts((folder / "c.xlsx").read_bytes())


def test_awkward_but_allowed_text_reaches_the_pdf_and_every_diff_format(tmp_path: Path) -> None:
    """Small inputs through the writers the property test leaves out for time: the PDF, and the
    redline as PDF and Word."""
    awkward = "e\u0301 \u202eevil\u202c \u05d0\u0627 \U0001f600 中 \u200b <b>&amp;</b> {{ x }} \ufeff"
    filing, refused = _project(tmp_path / "project", [awkward])
    assert not refused
    loaded = load_filing(filing)
    pages = render_html(loaded, build_context(loaded))
    assert document_pdf(loaded, pages["form-sd"]).startswith(b"%PDF")
    write_diff(
        SAMPLES / "acme-2025" / "filing.yaml",
        filing,
        tmp_path / "diff",
        {OutputFormat.PDF, OutputFormat.DOCX},
    )
    assert (tmp_path / "diff" / "diff.pdf").read_bytes().startswith(b"%PDF")
    _valid_xml_parts((tmp_path / "diff" / "diff.docx").read_bytes())


def test_a_megabyte_of_text_goes_through_the_checks_and_the_html_and_word_writers(sample_2025: Path) -> None:
    link = "[the RMI](https://www.responsiblemineralsinitiative.org)"
    piece = f"Tin from *Bolivia* and {link} \u05d0 e\u0301 \"q\" 'a' "
    big = piece * (1_000_000 // len(piece))
    edit(sample_2025, "  company_overview: |\n", f"  company_overview: |\n    {big}\n\n")
    loaded = load_filing(sample_2025)
    pages = render_html(loaded, build_context(loaded))
    assert len(pages["conflict-minerals-report"]) > 1_000_000
    _valid_xml_parts(
        docx_bytes(
            pages["conflict-minerals-report"], "conflict-minerals-report.html", loaded.filing.signature.date
        )
    )
