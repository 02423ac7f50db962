"""The `cmr` commands as a user and a pipeline call them: outputs, exit codes, JSON."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conflict_minerals.cli import app

from .conftest import edit

runner = CliRunner()


def test_init_writes_a_project_that_builds(tmp_path: Path) -> None:
    project = tmp_path / "new"
    result = runner.invoke(app, ["init", str(project)])
    assert result.exit_code == 0, result.output
    filing = project / "filing.yaml"
    text = filing.read_text(encoding="utf-8")
    # Every field is explained by a comment.
    for field in (
        "irs_employer_identification_number",
        "commission_file_number",
        "exhibits_numbering",
        "template_dir",
        "css",
        "independent_audit",
        "forward_looking_statements",
    ):
        assert field in text
    assert text.count("#") > 40
    built = runner.invoke(app, ["build", str(filing), "--out", str(tmp_path / "out")])
    assert built.exit_code == 0, built.output
    assert (tmp_path / "out" / "conflict-minerals-report.pdf").stat().st_size > 10_000


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 0
    again = runner.invoke(app, ["init", str(tmp_path)])
    assert again.exit_code == 1 and "already exists" in again.output
    assert runner.invoke(app, ["init", str(tmp_path), "--force"]).exit_code == 0


def test_build_html_only_and_json_report(sample_2025: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["build", str(sample_2025), "--out", str(out), "--format", "html", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert sorted(Path(p).name for p in report["written"]) == [
        "conflict-minerals-report.html",
        "evidence.html",
        "evidence.json",
        "filing-data.json",
        "form-sd.html",
        "manifest.json",
    ]


def test_build_default_output_folder_is_under_output(sample_2025: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["build", str(sample_2025), "--format", "html"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "output" / "acme-2025" / "form-sd.html").exists()


def test_build_invalid_input_exits_1_and_lists_problems(sample_2025: Path, tmp_path: Path) -> None:
    edit(sample_2025, 'zip_code: "95134"', 'zip_code: "9513"')
    edit(sample_2025, "reporting_year: 2025", "reporting_year: 2025\nunknown_setting: 1")
    result = runner.invoke(app, ["build", str(sample_2025), "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    fields = {p["field"] for p in report["problems"]}
    assert {"registrant.zip_code", "unknown_setting"} <= fields
    assert all(p["line"] for p in report["problems"])
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "arguments",
    [["build"], ["build", "x.yaml", "--format", "rtf"], ["frobnicate"], ["validate", "--nope", "x"]],
)
def test_usage_errors_exit_2(arguments: list[str]) -> None:
    assert runner.invoke(app, arguments).exit_code == 2


def test_missing_filing_exits_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 1
    assert "absent.yaml: file not found" in result.output


def test_concurrent_build_into_the_same_folder_fails_clearly(sample_2025: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    held = os.open(out, os.O_RDONLY | os.O_DIRECTORY)  # the lock is the folder's own
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = runner.invoke(app, ["build", str(sample_2025), "--out", str(out), "--format", "html"])
    finally:
        os.close(held)
    assert result.exit_code == 1
    assert "being written by another cmr process" in result.output
    assert not (out / "form-sd.html").exists()


def test_validate_reports_the_deadline_and_warnings(sample_2025: Path) -> None:
    edit(sample_2025, "date: 2026-05-27", "date: 2026-06-15")
    result = runner.invoke(app, ["validate", str(sample_2025), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["filing_deadline"] == "2026-06-01"
    assert any("after the filing deadline" in p["message"] for p in report["problems"])


def test_validate_also_checks_override_templates(sample_2025: Path) -> None:
    theme = sample_2025.parent / "theme"
    theme.mkdir()
    (theme / "cmr.html.j2").write_text("ok\n{% for %}\n", encoding="utf-8")
    edit(sample_2025, "  draft: true", "  draft: true\n  template_dir: theme")
    result = runner.invoke(app, ["validate", str(sample_2025)])
    assert result.exit_code == 1
    assert "theme/cmr.html.j2:2" in result.output


def test_a_build_leaves_no_file_of_its_own_beyond_the_manifest(sample_2025: Path, tmp_path: Path) -> None:
    """The lock is the folder's own (no `.cmr.lock` beside the outputs); an earlier version's
    empty lock file is removed, an older cmr still holding it makes the folder busy, and other
    people's files stay."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    legacy = out / ".cmr.lock"
    legacy.touch()
    with open(legacy, "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        busy = runner.invoke(app, ["build", str(sample_2025), "--out", str(out), "--format", "html"])
    assert busy.exit_code == 1 and "being written by another cmr process" in busy.output
    result = runner.invoke(app, ["build", str(sample_2025), "--out", str(out), "--format", "html"])
    assert result.exit_code == 0, result.output
    listed = {entry["path"] for entry in json.loads((out / "manifest.json").read_text())["outputs"]}
    assert {p.name for p in out.iterdir()} == listed | {"manifest.json", "notes.txt"}


def test_ingest_progress_is_a_bar_for_reading_and_checking_and_a_line_per_other_stage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Reading and checking go file by file (a bar on a terminal, nothing in a log); the other
    stages are one line each. Checking now runs after the last read: it has a bar of its own."""
    from conflict_minerals import cli

    shown: list[tuple[str, int, int]] = []
    progress = cli._Progress()
    progress.interactive = True
    progress._show = lambda description, done, total: shown.append((description, done, total))  # type: ignore[method-assign]
    for stage, done in (("found", 2), ("read", 1), ("read", 2), ("check", 1), ("check", 2), ("checked", 2)):
        progress(stage, done, 2)
    assert shown == [
        ("reading workbooks", 1, 2),
        ("reading workbooks", 2, 2),
        ("checking workbooks", 1, 2),
        ("checking workbooks", 2, 2),
    ]
    assert capsys.readouterr().err.splitlines() == ["ingest: found 2 files", "ingest: checked 2 files"]
    progress.interactive = False
    progress("check", 1, 2)
    assert capsys.readouterr().err == ""
