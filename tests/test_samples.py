"""The sample data is drawn from the real RMI smelter reference list (when the corpus is present)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, SAMPLES

REFERENCE = REPO.parent / "shared" / "cmrt-corpus" / "smelter-reference-6.5.csv"


@pytest.mark.skipif(not REFERENCE.exists(), reason="../shared/cmrt-corpus is not beside the checkout")
@pytest.mark.parametrize("sample", ["acme-2024", "acme-2025"])
def test_sample_smelters_match_the_rmi_reference_list(sample: str) -> None:
    with REFERENCE.open(newline="", encoding="utf-8") as handle:
        reference = {row["cid"]: row for row in csv.DictReader(handle)}
    survey = yaml.safe_load((SAMPLES / sample / "survey.yaml").read_text(encoding="utf-8"))
    assert 250 <= len(survey["smelters"]) <= 350
    for smelter in survey["smelters"]:
        row = reference[smelter["cid"]]
        assert (row["metal"].lower(), row["smelter_name"]) == (smelter["metal"], smelter["name"])
    assert "illustrative" in survey["note"].lower()


def test_the_two_sample_years_differ_like_real_years() -> None:
    def load(sample: str) -> dict:
        return yaml.safe_load((SAMPLES / sample / "survey.yaml").read_text(encoding="utf-8"))

    old, new = load("acme-2024"), load("acme-2025")
    old_ids = {s["cid"]: s["status"] for s in old["smelters"]}
    new_ids = {s["cid"]: s["status"] for s in new["smelters"]}
    assert set(new_ids) - set(old_ids), "no smelter added"
    assert set(old_ids) - set(new_ids), "no smelter removed"
    assert any(old_ids[c] != new_ids[c] for c in set(old_ids) & set(new_ids)), "no status changed"
    assert old["suppliers"] != new["suppliers"]
    assert (
        Path(SAMPLES / "acme-2024" / "filing.yaml").read_text()
        != Path(SAMPLES / "acme-2025" / "filing.yaml").read_text()
    )
