"""Shared fixtures: copies of the sample projects that tests may edit freely."""

from __future__ import annotations

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
    "filing-data.json",
    "manifest.json",
)


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
