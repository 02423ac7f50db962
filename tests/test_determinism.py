"""Same inputs, same bytes: whatever the clock, time zone, locale, working directory or system fonts."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pypdf import PdfReader

from .conftest import BUILD_OUTPUTS as OUTPUTS
from .conftest import copy_sample

EMPTY_FONTCONFIG = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><cachedir>{cache}</cachedir></fontconfig>
"""


def run_build(filing: str, out: Path, cwd: Path, env_changes: dict[str, str]) -> dict[str, bytes]:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env.update(env_changes)
    completed = subprocess.run(
        [sys.executable, "-m", "conflict_minerals", "build", filing, "--out", str(out), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    files = {name: (out / name).read_bytes() for name in OUTPUTS}
    shutil.rmtree(out)
    return files


def test_builds_are_byte_identical_across_environments(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    out = tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    fontconfig = tmp_path / "fonts.conf"
    fontconfig.write_text(EMPTY_FONTCONFIG.format(cache=tmp_path / "fc-cache"), encoding="utf-8")

    first = run_build(
        "filing.yaml", out, filing.parent, {"TZ": "UTC", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    )
    time.sleep(1.2)  # a later second: anything stamped from the clock would differ
    second = run_build(
        str(filing),
        out,
        elsewhere,
        {
            "TZ": "Pacific/Kiritimati",
            "LC_ALL": "C",
            "LANG": "C",
            # No system fonts at all: the documents must use only the bundled ones.
            "FONTCONFIG_FILE": str(fontconfig),
        },
    )
    for name in OUTPUTS:
        assert first[name] == second[name], f"{name} differs between builds"


def test_source_date_epoch_does_not_change_documents_dated_by_the_filing(tmp_path: Path) -> None:
    filing = copy_sample("acme-2025", tmp_path)
    out = tmp_path / "out"
    plain = run_build("filing.yaml", out, filing.parent, {})
    pinned = run_build("filing.yaml", out, filing.parent, {"SOURCE_DATE_EPOCH": "1780000000"})
    assert plain["form-sd.html"] == pinned["form-sd.html"]
    # Metadata dates come from the filing's signature date in both cases.
    for files in (plain, pinned):
        metadata = PdfReader(io.BytesIO(files["form-sd.pdf"])).metadata
        assert metadata["/CreationDate"].startswith("D:20260527")
        assert metadata["/ModDate"].startswith("D:20260527")
