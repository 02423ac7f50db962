"""Shared fixtures: copies of the sample projects that tests may edit freely."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

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
    """Copy sample_inputs/<name> to destination and return its filing.yaml."""
    target = destination / name
    shutil.copytree(SAMPLES / name, target)
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
    """A copied sample as the copy to file: draft off, survey no longer marked illustrative."""
    edit(filing, "  draft: true", "  draft: false")
    unmark_illustrative(filing.parent / "survey.yaml")


def make_rcoi_only(filing: Path) -> None:
    """Switch a copied sample to rcoi_only: drop what only the report prints, and word the RCOI
    result for the Form SD (no report is filed to refer to)."""
    edit(filing, "mode: cmr", "mode: rcoi_only")
    lines = filing.read_text(encoding="utf-8").split("\n")
    report_only = (
        "  forward_looking_statements:",
        "  due_diligence:",
        "  results:",
        "  determination:",
        "  mine_of_origin_efforts:",
        "  risk_mitigation:",
    )
    kept: list[str] = []
    skipping = False
    for line in lines:
        if line.startswith(report_only):
            skipping = True
            continue
        if skipping and (not line.strip() or line.startswith("    ")):
            continue
        skipping = False
        kept.append(line)
    text = "\n".join(kept)
    text = re.sub(
        r"\n    Accordingly, we exercised due diligence[^\n]*\n[^\n]*\n",
        "\n    The steps of the inquiry are described above.\n",
        text,
    )
    filing.write_text(text, encoding="utf-8")
