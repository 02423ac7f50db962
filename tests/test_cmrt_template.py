"""Issue 20, class 6: `cmr cmrt` checks the template is RMI's before filling it.

Before: a template whose "Smelter List" and "Product List" sheets had swapped names was filled
("wrote 277 smelters") into a workbook that read back wrong; a macro workbook renamed .xlsx, a
template with a link to another workbook, or one whose Declaration was very hidden were filled
silently, those parts going to customers with the company's declaration.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conflict_minerals.cli import app

from .test_cmrt import TEMPLATES, _project

runner = CliRunner()
pytestmark = pytest.mark.skipif(
    not TEMPLATES["6.5"].is_file(), reason="the RMI template is not in the corpus"
)

_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def altered(source: Path, target: Path, change: Callable[[dict[str, bytes]], None]) -> Path:
    with zipfile.ZipFile(source) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    change(parts)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    target.write_bytes(buffer.getvalue())
    return target


def _workbook(parts: dict[str, bytes], edit: Callable[[str], str]) -> None:
    parts["xl/workbook.xml"] = edit(parts["xl/workbook.xml"].decode("utf-8")).encode("utf-8")


def swap_names(parts: dict[str, bytes]) -> None:
    """The two sheets keep their places and contents; only their names are exchanged."""
    _workbook(
        parts,
        lambda xml: (
            xml.replace('name="Smelter List"', 'name="@@"')
            .replace('name="Product List"', 'name="Smelter List"')
            .replace('name="@@"', 'name="Product List"')
        ),
    )


def swap_contents(parts: dict[str, bytes]) -> None:
    """Names and order as RMI's, but each name now leads to the other sheet's part."""

    def edit(xml: str) -> str:
        smelter = re.search(r'<sheet name="Smelter List"[^>]*r:id="(rId\d+)"', xml)[1]
        product = re.search(r'<sheet name="Product List"[^>]*r:id="(rId\d+)"', xml)[1]
        xml = xml.replace(f'r:id="{smelter}"', 'r:id="@@"').replace(f'r:id="{product}"', f'r:id="{smelter}"')
        return xml.replace('r:id="@@"', f'r:id="{product}"')

    _workbook(parts, edit)


def add_macros(parts: dict[str, bytes]) -> None:
    parts["xl/vbaProject.bin"] = b"\xd0\xcf\x11\xe0 not really a VBA project"
    types = parts["[Content_Types].xml"].decode("utf-8")
    types = types.replace(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    )
    parts["[Content_Types].xml"] = types.encode("utf-8")


def add_external_link(parts: dict[str, bytes]) -> None:
    parts["xl/externalLinks/externalLink1.xml"] = (
        b'<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'
    )
    parts["xl/externalLinks/_rels/externalLink1.xml.rels"] = (
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="' + _REL.encode() + b'/externalLinkPath" '
        b'Target="file:///C:/prices/secret.xlsx" TargetMode="External"/></Relationships>'
    )


def hide_declaration(parts: dict[str, bytes]) -> None:
    _workbook(
        parts,
        lambda xml: xml.replace('<sheet name="Declaration"', '<sheet name="Declaration" state="veryHidden"'),
    )


def run(tmp_path: Path, change: Callable[[dict[str, bytes]], None], *extra: str):
    filing = _project(tmp_path)
    template = altered(TEMPLATES["6.5"], tmp_path / "RMI_CMRT_6.5.xlsx", change)
    out = tmp_path / "company-cmrt.xlsx"
    result = runner.invoke(app, ["cmrt", str(filing), "--template", str(template), "--out", str(out), *extra])
    return result, out


@pytest.mark.parametrize(
    "change, said",
    [
        pytest.param(
            swap_names,
            "its sheets are 'Revision', 'Instructions', 'Definitions', 'Declaration', 'Product List'",
            id="names-swapped",
        ),
        pytest.param(
            swap_contents,
            "the sheet named 'Smelter List' is RMI's 'Product List' sheet",
            id="contents-swapped",
        ),
        pytest.param(
            add_macros, "macros (a VBA project or ActiveX controls): xl/vbaProject.bin", id="macros"
        ),
        pytest.param(
            add_external_link,
            "links to other workbooks or data sources: xl/externalLinks/externalLink1.xml",
            id="external-link",
        ),
        pytest.param(hide_declaration, "Declaration is veryHidden (RMI's is visible)", id="very-hidden"),
    ],
)
def test_a_template_that_is_not_rmis_is_refused(change, said: str, tmp_path: Path) -> None:
    result, out = run(tmp_path, change)
    assert result.exit_code == 1, result.output
    assert said in result.output
    assert "nothing was written" in result.output
    assert not out.exists()


def test_allow_copies_what_it_names_and_says_so(tmp_path: Path) -> None:
    result, out = run(tmp_path, add_macros, "--allow", "macros")
    assert result.exit_code == 0, result.output
    assert "--allow macros: copied as they are into the output: macros" in result.output
    with zipfile.ZipFile(out) as archive:
        assert archive.read("xl/vbaProject.bin").startswith(b"\xd0\xcf\x11\xe0")


def test_allow_names_only_what_it_lets_through(tmp_path: Path) -> None:
    """--allow macros does not let an external link through; an unknown name is a usage error."""
    both = lambda parts: (add_macros(parts), add_external_link(parts))  # noqa: E731
    result, _ = run(tmp_path, both, "--allow", "macros")
    assert result.exit_code == 1
    assert "--allow external-links" in result.output
    assert "--allow macros" not in result.output.split("give the blank")[1]
    unknown, _ = run(tmp_path / "again", lambda parts: None, "--allow", "everything")
    assert unknown.exit_code == 2
