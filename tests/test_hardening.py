"""Hostile and unlucky conditions: every filing field with the wrong type, builds killed at any
moment, two builds into one folder at once. Nothing is lost and no traceback reaches a user."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conflict_minerals.filing.loader import load_filing
from conflict_minerals.problems import InputError

from .conftest import BUILD_OUTPUTS as OUTPUTS
from .conftest import SAMPLES, copy_sample


def leaf_paths(value: object, path: tuple = ()) -> list[tuple]:
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in leaf_paths(item, (*path, key))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in leaf_paths(item, (*path, index))]
    return [path]


SAMPLE_FILING = yaml.safe_load((SAMPLES / "acme-2025" / "filing.yaml").read_text(encoding="utf-8"))
LEAVES = leaf_paths(SAMPLE_FILING)


def set_path(document: dict, path: tuple, value: object) -> None:
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


@pytest.mark.parametrize("path", LEAVES, ids=[".".join(map(str, p)) for p in LEAVES])
def test_every_filing_field_with_the_wrong_type_is_named(tmp_path: Path, path: tuple) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    document = yaml.safe_load(filing.read_text(encoding="utf-8"))
    set_path(document, path, {"unexpected": ["a", "mapping"]})
    filing.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    with pytest.raises(InputError) as raised:
        load_filing(filing)
    dotted = ".".join(map(str, path))
    matching = [p for p in raised.value.problems if p.field == dotted or p.field.startswith(dotted + ".")]
    assert matching, [str(p) for p in raised.value.problems]
    assert all(p.line is not None and p.file.endswith("filing.yaml") for p in matching)


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def cmr(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "conflict_minerals", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_a_build_killed_at_any_moment_leaves_old_or_new_files(tmp_path: Path) -> None:
    old_filing = copy_sample("acme-2024", tmp_path / "old")
    new_filing = copy_sample("acme-2025", tmp_path / "new")
    out = tmp_path / "out"
    # The same folder for both, so the manifests' relative paths are the same too.
    assert cmr("build", str(new_filing), "--out", str(out)).wait(timeout=120) == 0
    new = {name: digest(out / name) for name in OUTPUTS}
    assert cmr("build", str(old_filing), "--out", str(out)).wait(timeout=120) == 0
    old = {name: digest(out / name) for name in OUTPUTS}
    # Kill the new build at moments spread over its whole run, including the write phase.
    for delay in (0.3, 0.8, 1.2, 1.6, 2.0, 2.3, 2.6, 3.0):
        process = cmr("build", str(new_filing), "--out", str(out))
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        for name in OUTPUTS:
            assert digest(out / name) in (old[name], new[name]), f"{name} is partial after a kill at {delay}s"
    # The next build completes and clears what killed runs left behind.
    assert cmr("build", str(new_filing), "--out", str(out)).wait(timeout=120) == 0
    assert {name: digest(out / name) for name in OUTPUTS} == new
    assert not list(out.glob(".*.tmp"))


def test_two_builds_into_one_folder_leave_a_consistent_folder(tmp_path: Path) -> None:
    filings = [copy_sample("acme-2024", tmp_path / "a"), copy_sample("acme-2025", tmp_path / "b")]
    out = tmp_path / "out"
    for _ in range(3):
        processes = [cmr("build", str(f), "--out", str(out), "--format", "html") for f in filings]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in processes]
        for code, stderr in results:
            assert code in (0, 1), stderr
            assert "Traceback" not in stderr
            if code == 1:
                assert "being written by another cmr process" in stderr
        assert any(code == 0 for code, _ in results)
        manifest = json.loads((out / "manifest.json").read_text())
        for entry in manifest["outputs"]:
            path = out / Path(entry["path"]).name
            assert digest(path) == entry["sha256"], f"{path.name} does not belong to the manifest's build"


def test_details_names_cannot_escape_their_folder(tmp_path: Path) -> None:
    from conflict_minerals.ingest.write.details import details_name

    for hostile in ("../../etc/passwd", "/abs/path.xlsx", "a/../../b.xlsx", "..", "nul\x00.xlsx"):
        name = details_name(hostile)
        assert "/" not in name and "\x00" not in name and name.endswith(".json")
        assert (tmp_path / name).resolve().parent == tmp_path.resolve()


def test_an_output_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output folder should be", encoding="utf-8")
    for command in (
        ["build", str(filing), "--out", str(blocker), "--format", "html"],
        ["diff", str(filing), str(filing), "--out", str(blocker)],
    ):
        process = cmr(*command)
        assert process.wait(timeout=120) == 1, command
        stderr = process.stderr.read()
        assert "Traceback" not in stderr and "cannot write" in stderr, stderr
    assert blocker.read_text(encoding="utf-8").startswith("a file")
