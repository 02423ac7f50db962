"""Shared fixtures: copies of the sample projects that tests may edit freely."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from unittest import mock

import pytest

from conflict_minerals.build import BuildResult, build

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_inputs"

# Every file a full `cmr build` writes.
BUILD_OUTPUTS = (
    "form-sd.html",
    "form-sd.pdf",
    "conflict-minerals-report.html",
    "conflict-minerals-report.pdf",
    "form-sd.docx",
    "conflict-minerals-report.docx",
    "filing-data.json",
    "evidence.json",
    "evidence.html",
    "manifest.json",
)


@pytest.fixture(autouse=True)
def _own_cache_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets an empty cache folder of its own (the render and ingest caches), never the
    user's: a test that builds twice renders twice unless it is about the cache."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    # fontconfig keeps its own cache there too: point it at the one it has, or every process a
    # test starts would scan the system's fonts again.
    fontconfig = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fontconfig"
    if fontconfig.is_dir():
        (folder / "fontconfig").symlink_to(fontconfig)
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))


def copy_sample(name: str, destination: Path) -> Path:
    """Copy sample_inputs/<name> to destination and return its filing.yaml; the sample whose
    filing it names as previous_filing (`../acme-2024/filing.yaml`) is copied beside it."""
    target = destination / name
    shutil.copytree(SAMPLES / name, target)
    previous = re.search(
        r"^previous_filing: \.\./([\w-]+)/filing\.yaml$", (target / "filing.yaml").read_text(), re.M
    )
    if previous and not (destination / previous[1]).exists():
        copy_sample(previous[1], destination)
    return target / "filing.yaml"


@pytest.fixture
def sample_2025(tmp_path: Path) -> Path:
    return copy_sample("acme-2025", tmp_path)


@pytest.fixture
def sample_2024(tmp_path: Path) -> Path:
    return copy_sample("acme-2024", tmp_path)


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace text in a file, failing loudly if the text is not there."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not found in {path}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def unmark_illustrative(survey: Path) -> None:
    """Make a copied sample survey read as a company's own: the samples' survey is marked
    illustrative (its note and status list source), which the final-copy gate reports."""
    text = survey.read_text(encoding="utf-8")
    marked = re.sub(r"(?ms)^note: .*?(?=^suppliers:)", "note: Survey results of Acme Devices, Inc.\n", text)
    marked = marked.replace(" (illustrative statuses for this sample)", "")
    assert marked != text and "llustrative" not in marked.split("\n", 1)[1], "sample survey markings changed"
    survey.write_text(marked, encoding="utf-8")


def make_final(filing: Path) -> None:
    """A copied sample as the copy to file: draft off, survey no longer marked illustrative, and
    the samples' addresses under the reserved .example name replaced by a real-looking one."""
    edit(filing, "  draft: true", "  draft: false")
    edit(filing, "acme-devices.example", "acme-devices.com", count=-1)
    unmark_illustrative(filing.parent / "survey.yaml")


def make_rcoi_only(filing: Path) -> None:
    """Switch a copied sample to rcoi_only: drop what only the report prints, and word the RCOI
    result for the Form SD (no report is filed to refer to)."""
    # The samples' inquiry gave reason to believe: filed as Item 1.01(a)-(b) only, in reliance on
    # the SEC staff statement of April 7, 2017.
    edit(filing, "mode: cmr", "mode: rcoi_only\nrcoi_result: reason_to_believe")
    lines = filing.read_text(encoding="utf-8").split("\n")
    report_only = (
        "  forward_looking_statements:",
        "  due_diligence:",
        "  results:",
        "  determination:",
        "  mine_of_origin_efforts:",
        "  risk_mitigation:",
        "  progress_on_prior_steps:",
    )
    # Top-level settings only the report uses (an rcoi_only filing with them gets a warning).
    report_settings = ("previous_filing:", "scope:", "sor_removals:")
    kept: list[str] = []
    skipping = ""
    for line in lines:
        if line.startswith(report_only):
            skipping = "    "
            continue
        if line.startswith(report_settings):
            skipping = "  "
            continue
        if skipping and (not line.strip() or line.startswith(skipping)):
            continue
        skipping = ""
        kept.append(line)
    text = "\n".join(kept)
    text = re.sub(
        r"\n    Accordingly, we exercised due diligence[^\n]*\n[^\n]*\n",
        "\n    The steps of the inquiry are described above.\n",
        text,
    )
    # The products are printed in Item 1.01 too, where "this report" would mean a report not filed.
    text = text.replace("This\n    report does not cover", "This\n    Form SD does not cover")
    filing.write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class SampleBuild:
    out: Path
    result: BuildResult


@pytest.fixture(scope="session")
def sample_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[int, SampleBuild]:
    """Both samples built once per session with every format (read-only for the tests)."""
    root = tmp_path_factory.mktemp("samples")
    found = {}
    for year in (2024, 2025):
        filing = copy_sample(f"acme-{year}", root)
        found[year] = SampleBuild(root / f"out-{year}", build(filing, root / f"out-{year}"))
    return found


def libreoffice_convert(files: list[Path], out: Path) -> None:
    """Each .docx as LibreOffice renders it, to PDF in `out` (one soffice run, a private profile)."""
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{out}/profile",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            *map(str, files),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )


@dataclass(frozen=True)
class Rendered:
    docx: Path
    pdf: Path


@pytest.fixture(scope="session")
def libreoffice_pages(
    sample_builds: dict[int, SampleBuild], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Rendered]:
    """Every sample .docx rendered by LibreOffice, converted once per session (the conversions are
    slow): keys "2025/form-sd" and the like. "reverted/conflict-minerals-report" is the 2025 CMR
    written the way it was before the layout fixes (equal column widths, addresses that may break
    at a hyphen), for the layout check to find those faults again."""
    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    if shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None:
        pytest.skip("poppler (pdftotext, pdftoppm) is not installed")
    from conflict_minerals.word import docx as word_docx
    from conflict_minerals.word import reader as word_reader

    out = tmp_path_factory.mktemp("libreoffice")
    files: dict[str, Path] = {}
    for year, sample in sample_builds.items():
        for stem in ("form-sd", "conflict-minerals-report"):
            files[f"{year}/{stem}"] = target = out / f"{year}-{stem}.docx"
            shutil.copyfile(sample.out / f"{stem}.docx", target)
    html = (sample_builds[2025].out / "conflict-minerals-report.html").read_text(encoding="utf-8")
    equal = lambda rows, width: tuple(1 / len(rows[0].cells) for _ in rows[0].cells)  # noqa: E731
    with (
        mock.patch.object(word_reader, "column_shares", equal),
        mock.patch.object(word_docx, "ADDRESS", re.compile(r"(?!)")),
    ):
        reverted = word_docx.docx_bytes(html, "conflict-minerals-report.html", date(2026, 5, 27))
    files["reverted/conflict-minerals-report"] = out / "reverted-conflict-minerals-report.docx"
    files["reverted/conflict-minerals-report"].write_bytes(reverted)
    libreoffice_convert(list(files.values()), out)
    return {key: Rendered(path, path.with_suffix(".pdf")) for key, path in files.items()}


CLAIM = """\
  independent_audit:
    auditor: "Example Assurance LLP"
    report: |
      We examined the design of the due diligence framework described in this report and the
      description of the due diligence measures performed.
"""


def make_conflict_free_claim(filing: Path, cids: list[str]) -> None:
    """Switch a copied sample to conflict_free_claim: one product line claimed, with the given
    SORs behind it, and an audit report printed in the report."""
    edit(
        filing,
        "mode: cmr",
        "mode: conflict_free_claim\nconflict_free_products:\n"
        f"  - name: EdgeLink gateways\n    sors: [{', '.join(cids)}]",
    )
    edit(filing, "  risk_mitigation:\n", CLAIM + "  risk_mitigation:\n")


def edited_workbook(source: Path, target: Path, cells: dict[tuple[str, str], str | float | None]) -> Path:
    """A copy of a workbook with some cells set, through the package's own sheet-XML editor (a
    fraction of a second, where openpyxl takes seconds and drops what it does not know): text,
    a number (an Excel date serial), or None to empty the cell. `cells`: (sheet, cell) -> value."""
    from conflict_minerals.cmrt.template import _sheet_parts
    from conflict_minerals.cmrt.xlsx import Package, SheetEditor

    package = Package.read(source.read_bytes())
    parts = _sheet_parts(package)
    editors: dict[str, SheetEditor] = {}
    for (sheet, cell), value in cells.items():
        part = parts[sheet]
        editor = editors.setdefault(part, SheetEditor(part, package.part(part)))
        if value is None:
            editor.clear(cell)
        elif isinstance(value, str):
            editor.set_text(cell, value)
        else:
            editor.set_number(cell, value)
    for part, editor in editors.items():
        package.replace(part, editor.to_bytes())
    target.write_bytes(package.to_bytes())
    return target


def excel_day(day: str) -> int:
    """An ISO date as the serial number Excel stores."""
    from datetime import date

    return (date.fromisoformat(day) - date(1899, 12, 30)).days
