"""Issue 10, build side: hostile or odd files around `validate`, `build`, `init` and `diff`.

Each test builds the hostile case in a temporary folder: a FIFO, a folder or a device where a
file is expected, a stranger's files in the output folder, a template that loops, recurses or
grows without end, a full disk, a build folder moved elsewhere.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conflict_minerals import build as build_module
from conflict_minerals import outputs
from conflict_minerals.build import OutputFormat, build
from conflict_minerals.cli import app
from conflict_minerals.problems import InputError
from conflict_minerals.report import templating

from .conftest import edit, make_rcoi_only

runner = CliRunner()
HTML_ONLY = frozenset({OutputFormat.HTML})


def cmr(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """`cmr` in its own process, so a hang fails the test instead of stalling the suite."""
    return subprocess.run(
        [sys.executable, "-m", "conflict_minerals", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_state(folder: Path) -> dict[str, str]:
    """Every file under a folder (hidden ones included) and its sha256."""
    return {p.relative_to(folder).as_posix(): digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_matches_manifest(out: Path) -> dict:
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["outputs"]:
        assert digest(out / entry["path"]) == entry["sha256"], f"{entry['path']} does not match manifest.json"
    return manifest


def sparse_file(size: int):
    def make(path: Path) -> None:
        path.write_bytes(b"{}")
        os.truncate(path, size)

    return make


def with_css(filing: Path, name: str = "extra.css") -> Path:
    edit(filing, "  draft: true", f"  draft: true\n  css: {name}")
    return filing.parent / name


def with_override(filing: Path, template: str, name: str = "form-sd.html.j2") -> Path:
    folder = filing.parent / "theme"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(template, encoding="utf-8")
    edit(filing, "  draft: true", "  draft: true\n  template_dir: theme")
    return folder / name


# --------------------------------------------------------------------------------------
# Class 4: every input file gets a clear error
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "build"])
@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(os.mkfifo, "extra.css: is a named pipe (FIFO), not a file", id="fifo"),
        pytest.param(os.mkdir, "extra.css: is a folder, not a file", id="folder"),
        # A link to a device leaves the folder, which is refused before anything is opened.
        pytest.param(
            lambda p: os.symlink("/dev/zero", p), "must stay inside the filing's folder", id="dev-zero"
        ),
        pytest.param(
            lambda p: p.write_bytes(b"body {}\n/* caf\xe9 */\n"), "extra.css:2: not UTF-8 text", id="latin-1"
        ),
    ],
)
def test_a_stylesheet_that_is_not_a_text_file_is_a_clear_error(
    sample_2025: Path, tmp_path: Path, command: str, make, message: str
) -> None:
    make(with_css(sample_2025))
    extra = ["--out", str(tmp_path / "out")] if command == "build" else []
    result = cmr(command, str(sample_2025), *extra, timeout=60, cwd=sample_2025.parent)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["validate", "build"])
def test_survey_results_naming_a_fifo_does_not_hang(sample_2025: Path, tmp_path: Path, command: str) -> None:
    survey = sample_2025.parent / "survey.yaml"
    survey.unlink()
    os.mkfifo(survey)
    extra = ["--out", str(tmp_path / "out")] if command == "build" else []
    result = cmr(command, str(sample_2025), *extra, timeout=60, cwd=sample_2025.parent)
    assert result.returncode == 1
    assert "survey.yaml: is a named pipe (FIFO), not a file" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_filing_that_is_a_symlink_loop_is_a_clear_error(tmp_path: Path) -> None:
    os.symlink(tmp_path / "b.yaml", tmp_path / "a.yaml")
    os.symlink(tmp_path / "a.yaml", tmp_path / "b.yaml")
    result = cmr("validate", str(tmp_path / "a.yaml"), timeout=60)
    assert result.returncode == 1
    assert "a.yaml: cannot read file: a symlink loop" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(os.mkfifo, "is a named pipe (FIFO), not a file", id="fifo"),
        pytest.param(os.mkdir, "is a folder, not a file", id="folder"),
    ],
)
def test_an_override_template_that_is_not_a_file_is_an_error_not_a_hang_or_fallback(
    sample_2025: Path, tmp_path: Path, make, message: str
) -> None:
    template = with_override(sample_2025, "unused")
    template.unlink()
    make(template)
    result = cmr("build", str(sample_2025), "--out", str(tmp_path / "out"), "--format", "html", timeout=60)
    assert result.returncode == 1
    assert f"theme/form-sd.html.j2: {message}" in result.stderr, result.stderr


def test_init_on_an_existing_file_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "project"
    target.write_text("someone's notes\n", encoding="utf-8")
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 1
    assert "is a file, not a folder" in result.output and "Traceback" not in result.output
    assert target.read_text(encoding="utf-8") == "someone's notes\n"


def test_init_replaces_a_dangling_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    os.symlink(tmp_path / "elsewhere.yaml", project / "filing.yaml")
    assert runner.invoke(app, ["init", str(project)]).exit_code == 1  # it exists: not without --force
    assert runner.invoke(app, ["init", str(project), "--force"]).exit_code == 0
    assert not (project / "filing.yaml").is_symlink()
    assert not (tmp_path / "elsewhere.yaml").exists()


@pytest.fixture
def built(sample_2025: Path, tmp_path: Path) -> Path:
    out = tmp_path / "built"
    build(sample_2025, out, HTML_ONLY)
    return out


def _rewrite_manifest_hash(out: Path, name: str) -> None:
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["outputs"]:
        if entry["path"] == name:
            entry["sha256"] = digest(out / name)
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_diff_of_a_build_whose_html_is_not_utf8_names_file_and_line(sample_2025: Path, built: Path) -> None:
    page = built / "form-sd.html"
    lines = page.read_bytes().split(b"\n")
    lines[4] += b"\xff"
    page.write_bytes(b"\n".join(lines))
    _rewrite_manifest_hash(built, "form-sd.html")  # so the hash check passes and the decode is tried
    result = cmr("diff", str(built), str(sample_2025), "--out", str(built.parent / "d"), timeout=60)
    assert result.returncode == 1
    assert "form-sd.html:5: not UTF-8 text" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda p: os.symlink("/dev/zero", p), "is a character device", id="dev-zero"),
        pytest.param(os.mkfifo, "is a named pipe (FIFO)", id="fifo"),
        pytest.param(sparse_file(21 * 1024 * 1024), "file is too large", id="huge"),
        pytest.param(os.mkdir, "is a folder", id="folder"),
    ],
)
def test_diff_of_a_build_with_a_hostile_manifest_is_a_clear_error(
    sample_2025: Path, built: Path, make, message: str
) -> None:
    manifest = built / "manifest.json"
    manifest.unlink()
    make(manifest)
    result = cmr("diff", str(built), str(sample_2025), "--out", str(built.parent / "d"), timeout=60)
    assert result.returncode == 1
    assert "manifest.json: " + message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_diff_of_a_build_whose_document_is_a_fifo_does_not_hang(sample_2025: Path, built: Path) -> None:
    (built / "conflict-minerals-report.html").unlink()
    os.mkfifo(built / "conflict-minerals-report.html")
    result = cmr("diff", str(built), str(sample_2025), "--out", str(built.parent / "d"), timeout=60)
    assert result.returncode == 1
    assert "conflict-minerals-report.html: is a named pipe (FIFO)" in result.stderr, result.stderr


def test_check_edgar_on_a_fifo_or_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.htm")
    (tmp_path / "folder.htm").mkdir()
    for name, message in (("pipe.htm", "is a named pipe (FIFO)"), ("folder.htm", "is a folder")):
        result = cmr("check-edgar", str(tmp_path / name), timeout=60)
        assert result.returncode == 1
        assert f"{name}: {message}" in result.stderr, result.stderr


def test_an_edgar_link_to_a_fifo_is_not_read(tmp_path: Path) -> None:
    from conflict_minerals.edgar.lint import lint_file

    os.mkfifo(tmp_path / "other.htm")
    page = tmp_path / "page.htm"
    page.write_text(
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n'
        '<HTML><BODY><P><A HREF="other.htm#x">x</A></P></BODY></HTML>\n',
        encoding="ascii",
    )
    done = []
    worker = threading.Thread(target=lambda: done.append(lint_file(page)), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert done, "linting a page that links to a FIFO hung"


# --------------------------------------------------------------------------------------
# Class 5: build deletes and overwrites only what it wrote
# --------------------------------------------------------------------------------------


def test_strangers_files_in_the_output_folder_survive_two_builds(sample_2025: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "edgar").mkdir(parents=True)
    strangers = {
        out / "edgar" / "file.json": b'{"owner": "someone else"}',
        out / "edgar" / "notes.htm": b"<p>draft cover letter</p>",
        out / ".notes.tmp": b"half-written notes",
        out / ".form-sd.html.tmp": b"not cmr's either",
        out / "README.json": b"{}",
    }
    for path, data in strangers.items():
        path.write_bytes(data)
    options = build_module.BuildOptions(formats=HTML_ONLY, edgar=True, allow_draft=True)
    build(sample_2025, out, options)
    build(sample_2025, out, options)
    for path, data in strangers.items():
        assert path.read_bytes() == data, f"{path.name} was touched"
    assert_matches_manifest(out)


def test_only_this_tools_own_temporaries_are_cleared(sample_2025: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "edgar").mkdir(parents=True)
    leftovers = [out / ".cmr-k1ll3d_x.tmp", out / "edgar" / ".cmr-0a1b2c3d.tmp"]
    for path in leftovers:
        path.write_bytes(b"left by a killed run")
    (out / ".cmr-notes.tmp").write_bytes(b"a user's file that only looks similar")
    build(sample_2025, out, build_module.BuildOptions(formats=HTML_ONLY, edgar=True, allow_draft=True))
    assert not any(path.exists() for path in leftovers)
    assert (out / ".cmr-notes.tmp").exists()


def test_stale_outputs_are_removed_only_when_the_previous_manifest_lists_them(
    sample_2025: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    build(sample_2025, out, build_module.BuildOptions(formats=HTML_ONLY, edgar=True, allow_draft=True))
    # A stranger's file with one of the tool's names, not listed in the manifest, is kept...
    (out / "form-sd.pdf").write_bytes(b"%PDF- someone else's")
    # ...and a forged manifest entry outside the tool's names or outside the folder deletes nothing.
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    (out / "notes.txt").write_text("keep me too", encoding="utf-8")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["outputs"] += [{"path": "../victim.txt", "sha256": "0"}, {"path": "notes.txt", "sha256": "0"}]
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = build(sample_2025, out, HTML_ONLY)  # no --edgar now: its files are stale
    assert sorted(p.relative_to(out).as_posix() for p in result.removed) == [
        "edgar/ex1-01-2025.htm",
        "edgar/formsd-2025.htm",
        "edgar/submission.json",
    ]
    assert victim.exists() and (out / "notes.txt").exists() and (out / "form-sd.pdf").exists()
    assert_matches_manifest(out)


def test_a_manifest_of_an_earlier_version_still_gives_the_stale_files(
    sample_2025: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    build(sample_2025, out, HTML_ONLY)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    del manifest["manifest_version"]  # version 1 named outputs relative to the filing's folder
    for entry in manifest["outputs"]:
        entry["path"] = "../out/" + entry["path"]
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    make_rcoi_only(sample_2025)
    result = build(sample_2025, out, HTML_ONLY)
    assert [p.name for p in result.removed] == ["conflict-minerals-report.html"]


def test_out_may_be_the_filing_folder_when_nothing_collides(sample_2025: Path) -> None:
    folder = sample_2025.parent
    before = {name: digest(folder / name) for name in ("filing.yaml", "survey.yaml")}
    build(sample_2025, folder, HTML_ONLY)
    assert {name: digest(folder / name) for name in before} == before
    assert_matches_manifest(folder)


@pytest.mark.parametrize(
    ("setup", "victim"),
    [
        pytest.param(
            lambda f: (
                (f.parent / "survey.yaml").rename(f.parent / "filing-data.json"),
                edit(f, "survey_results: survey.yaml", "survey_results: filing-data.json"),
            ),
            "filing-data.json",
            id="survey",
        ),
        pytest.param(lambda f: f.rename(f.parent / "manifest.json"), "manifest.json", id="filing"),
        pytest.param(
            lambda f: with_css(f, "form-sd.html").write_text("p {}", encoding="utf-8"),
            "form-sd.html",
            id="css",
        ),
    ],
)
def test_an_output_that_would_overwrite_an_input_is_refused(sample_2025: Path, setup, victim: str) -> None:
    folder = sample_2025.parent
    setup(sample_2025)
    filing = folder / "manifest.json" if victim == "manifest.json" else sample_2025
    before = digest(folder / victim)
    result = cmr("build", str(filing), "--out", str(folder), "--format", "html", timeout=60)
    assert result.returncode == 1
    assert f"{victim}: the output would overwrite the input" in result.stderr, result.stderr
    assert digest(folder / victim) == before


def test_diff_output_that_would_overwrite_an_input_is_refused(sample_2025: Path) -> None:
    folder = sample_2025.parent
    named_like_an_output = folder / "diff.json"
    shutil.copy(sample_2025, named_like_an_output)
    before = digest(named_like_an_output)
    result = runner.invoke(app, ["diff", str(sample_2025), str(named_like_an_output), "--out", str(folder)])
    assert result.exit_code == 1
    assert "diff.json: the output would overwrite the input" in result.output
    assert digest(named_like_an_output) == before


def test_output_inside_the_template_folder_is_refused(sample_2025: Path) -> None:
    template = with_override(sample_2025, '{% extends "builtin/form-sd.html.j2" %}')
    with pytest.raises(InputError, match=r"inside presentation\.template_dir"):
        build(sample_2025, template.parent / "out", HTML_ONLY)
    assert not (template.parent / "out").exists()


# --------------------------------------------------------------------------------------
# Class 7: templates cannot hang or crash the tool
# --------------------------------------------------------------------------------------


@pytest.fixture
def quick_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templating, "MAX_RENDER_SECONDS", 1.0)


HOSTILE_TEMPLATES = {
    "nested-loops": (
        "<p>\n{% for a in range(100000) %}\n{% for b in range(100000) %}{% endfor %}{% endfor %}\n",
        "rendering took longer than 1 s",
    ),
    "recursive-macro": (
        "<p>\n{% macro again(n) %}{{ again(n + 1) }}{% endmacro %}\n{{ again(1) }}\n",
        "calls itself too deeply",
    ),
    "huge-string": ("<p>\n{{ 'x' * 10**10 }}\n", "over the limit of 10,000,000"),
    "huge-string-in-two-steps": ("<p>\n{{ 'x' * 10**6 * 10**4 }}\n", "over the limit of 10,000,000"),
    "huge-list": ("<p>\n{{ ([1] * 10**5 + [2]) * 10**5 }}\n", "over the limit of 10,000,000"),
    "huge-number": ("<p>\n{{ 7 ** 1000000000 }}\n", "bits is over the limit"),
    "doubling": (
        "<p>\n{% set s = ['x'] %}{% for i in range(64) %}{% set _ = s.append(s[-1] + s[-1]) %}{% endfor %}\n",
        "over the limit of 10,000,000",
    ),
    "huge-output": (
        "<p>\n{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}\n",
        "the output is larger",
    ),
    "division-by-zero": ("<p>\n{{ 1 / 0 }}\n", "ZeroDivisionError: division by zero"),
}


@pytest.mark.parametrize("case", list(HOSTILE_TEMPLATES))
def test_a_hostile_override_template_stops_with_its_file_and_line(
    sample_2025: Path, tmp_path: Path, quick_limits: None, case: str
) -> None:
    template, message = HOSTILE_TEMPLATES[case]
    with_override(sample_2025, template)
    for command in (
        ["validate", str(sample_2025)],
        ["build", str(sample_2025), "--out", str(tmp_path / "o")],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        lines = [line for line in result.output.splitlines() if "form-sd.html.j2" in line]
        assert lines and "theme/form-sd.html.j2:" in lines[0] and message in lines[0], result.output
        if case != "huge-output":  # checked between pieces of output, so no line
            assert "theme/form-sd.html.j2:2:" in lines[0] or "theme/form-sd.html.j2:3:" in lines[0], lines
    assert not (tmp_path / "o").exists()


def test_a_runaway_allocation_the_checks_do_not_see_stops_at_the_memory_cap(
    sample_2025: Path, tmp_path: Path
) -> None:
    if outputs.address_space() is None:
        pytest.skip("the process's address space cannot be read here")
    with_override(sample_2025, "<p>\n{{ 'x'|center(2 * 10**9) }}\n")
    with pytest.raises(InputError) as raised:
        build(sample_2025, tmp_path / "out", HTML_ONLY)
    [problem] = raised.value.problems
    assert (problem.file.endswith("theme/form-sd.html.j2"), problem.line) == (True, 2)
    assert "needs more than" in problem.message


def test_a_hung_template_in_the_main_process_times_out_on_the_real_limit(
    sample_2025: Path, tmp_path: Path
) -> None:
    with_override(
        sample_2025, "<p>\n{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    )
    result = cmr("validate", str(sample_2025), timeout=templating.MAX_RENDER_SECONDS + 60)
    assert result.returncode == 1
    assert "form-sd.html.j2:2: rendering took longer than 20 s" in result.stderr, result.stderr


def test_the_time_limit_holds_outside_the_main_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(templating, "MAX_RENDER_SECONDS", 0.5)
    (tmp_path / "loop.html.j2").write_text(
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", encoding="utf-8"
    )
    env = templating.make_environment(tmp_path)
    failures: list[templating.TemplateFailure] = []

    def render() -> None:
        try:
            templating.render_template(env, "loop.html.j2", {})
        except templating.TemplateFailure as failure:
            failures.append(failure)

    worker = threading.Thread(target=render, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert [f.message for f in failures] == ["rendering took longer than 0.5 s (a loop that does not end?)"]


def test_every_environment_gets_the_limits() -> None:
    # build (the documents and the evidence page), diff and the ingest findings page all
    # render through make_environment.
    import inspect

    from conflict_minerals.diff import compare
    from conflict_minerals.ingest.write import report
    from conflict_minerals.report import evidence, html

    for module in (html, evidence, compare, report):
        source = inspect.getsource(module)
        assert "make_environment(" in source and "render_template(" in source
        assert "SandboxedEnvironment(" not in source and ".render(" not in source
    env = templating.make_environment(None)
    env.loader = __import__("jinja2").DictLoader({"t.j2": "{{ 'ab' * 10**8 }}"})
    with pytest.raises(templating.TemplateFailure, match="over the limit"):
        templating.render_template(env, "t.j2", {})


# --------------------------------------------------------------------------------------
# Class 8: outputs describe themselves, wherever they are
# --------------------------------------------------------------------------------------


def test_builds_into_two_folders_give_identical_manifests(sample_2025: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "deeper" / "still" / "b"
    build(sample_2025, first, HTML_ONLY)
    build(sample_2025, second, HTML_ONLY)
    assert (first / "manifest.json").read_bytes() == (second / "manifest.json").read_bytes()
    manifest = assert_matches_manifest(first)
    assert not any(".." in entry["path"] for entry in manifest["outputs"])
    inputs = {entry["path"] for entry in manifest["inputs"]}
    assert inputs == {"filing.yaml", "survey.yaml", "../acme-2024/filing.yaml"}


@pytest.mark.parametrize("how", [shutil.move, shutil.copytree])
def test_a_build_moved_or_copied_elsewhere_stays_verifiable(sample_2025: Path, tmp_path: Path, how) -> None:
    out = tmp_path / "out"
    build(sample_2025, out, HTML_ONLY)
    elsewhere = tmp_path / "archive" / "2025" / "filed"
    elsewhere.parent.mkdir(parents=True)
    how(str(out), str(elsewhere))
    result = runner.invoke(app, ["diff", str(elsewhere), str(sample_2025), "--out", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "d" / "diff.json").read_text())["summary"]["total"] == 0
    # ...and still refuses an edited copy.
    edit(elsewhere / "form-sd.html", "Form SD", "Form XX")
    result = runner.invoke(app, ["diff", str(elsewhere), str(sample_2025), "--out", str(tmp_path / "d")])
    assert result.exit_code == 1 and "changed since it was built" in result.output


# --------------------------------------------------------------------------------------
# Class 9: full disks and read-only folders
# --------------------------------------------------------------------------------------


@pytest.fixture
def old_build(sample_2025: Path, tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A folder built once; the filing is then edited so the next build changes every document."""
    out = tmp_path / "out"
    build(sample_2025, out, build_module.BuildOptions(formats=HTML_ONLY, edgar=True, allow_draft=True))
    edit(sample_2025, "Acme Devices, Inc.", "Acme Devices Holdings, Inc.", count=-1)
    return sample_2025, out, folder_state(out)


NEW_FILES = 9  # eight outputs and the manifest, with --edgar --format html


@pytest.mark.parametrize("failing", range(1, NEW_FILES + 1))
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_write_that_fails_names_the_file_and_leaves_the_old_build(
    old_build: tuple[Path, Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch, failing: int, code: int
) -> None:
    filing, out, before = old_build
    calls = []
    real_fsync = os.fsync

    def fsync(handle: int) -> None:
        calls.append(handle)
        if len(calls) == failing:
            raise OSError(code, os.strerror(code))
        real_fsync(handle)

    monkeypatch.setattr(outputs.os, "fsync", fsync)
    options = build_module.BuildOptions(formats=HTML_ONLY, edgar=True, allow_draft=True)
    with pytest.raises(OSError) as raised:
        build(filing, out, options)
    assert raised.value.strerror == os.strerror(code)
    assert raised.value.filename and Path(raised.value.filename).parent in (out, out / "edgar")
    assert folder_state(out) == before  # every file old, no temporary left behind
    assert_matches_manifest(out)


@pytest.mark.parametrize("failing", range(1, NEW_FILES + 1))
def test_a_rename_that_fails_puts_the_old_files_back(
    old_build: tuple[Path, Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch, failing: int
) -> None:
    filing, out, before = old_build
    calls: list[Path] = []
    real_replace = os.replace

    def replace(source, target) -> None:
        calls.append(Path(target))
        if len(calls) == failing:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_replace(source, target)

    monkeypatch.setattr(outputs.os, "replace", replace)
    with pytest.raises(OSError) as raised:
        build(filing, out, build_module.BuildOptions(formats=HTML_ONLY, edgar=True, allow_draft=True))
    assert raised.value.filename == str(calls[failing - 1])
    assert folder_state(out) == before
    assert_matches_manifest(out)


def test_a_full_disk_in_the_cli_names_the_file(
    old_build: tuple[Path, Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    filing, out, before = old_build

    def fsync(handle: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(outputs.os, "fsync", fsync)
    result = runner.invoke(
        app, ["build", str(filing), "--out", str(out), "--format", "html", "--edgar", "--allow-draft"]
    )
    assert result.exit_code == 1
    assert f"cannot write {out}" in result.output and "No space left on device" in result.output
    assert folder_state(out) == before


def test_a_file_size_limit_in_a_real_process_leaves_the_folder_matching_its_manifest(
    old_build: tuple[Path, Path, dict[str, str]],
) -> None:
    """The kernel refuses the write (RLIMIT_FSIZE gives EFBIG, as a quota would); nothing is mocked."""
    import resource

    filing, out, before = old_build
    limit = 64 * 1024  # the Form SD and filing-data.json (about 50 KB) fit; the CMR (about 90 KB) does not

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "conflict_minerals",
            "build",
            str(filing),
            "--out",
            str(out),
            "--format",
            "html",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=small_files,
    )
    assert result.returncode == 1, result.stderr
    # The first file staged past the limit is named (the evidence page or the CMR, by write order).
    too_large = [
        f"cannot write {out / name}: File too large"
        for name in ("conflict-minerals-report.html", "evidence.html")
    ]
    assert any(message in result.stderr for message in too_large), result.stderr
    assert "Traceback" not in result.stderr
    assert folder_state(out) == before
    assert_matches_manifest(out)


def test_a_folder_where_an_output_goes_is_refused_before_anything_changes(
    old_build: tuple[Path, Path, dict[str, str]],
) -> None:
    filing, out, _ = old_build
    (out / "form-sd.pdf").mkdir()
    (out / "form-sd.pdf" / "keep.txt").write_text("someone's", encoding="utf-8")
    before = folder_state(out)
    with pytest.raises(InputError) as raised:  # before any work (issue 20): not at the write
        build(filing, out)
    assert raised.value.problems[0].file.endswith("out/form-sd.pdf")
    assert "is a folder, not a regular file" in raised.value.problems[0].message
    assert folder_state(out) == before
