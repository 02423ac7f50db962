"""`cmr build` renders its PDFs in forked processes: the same bytes, the same errors, nothing left behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conflict_minerals.build import BuildOptions, OutputFormat, build
from conflict_minerals.cli import app
from conflict_minerals.problems import InputError
from conflict_minerals.report import parallel as forked

from .conftest import BUILD_OUTPUTS, edit

PDF_ONLY = frozenset({OutputFormat.PDF})


def child_processes() -> set[int]:
    """The live children of this process (every thread's), as the kernel lists them."""
    children: set[int] = set()
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        with open(f"/proc/{os.getpid()}/task/{task}/children") as listing:
            children |= {int(pid) for pid in listing.read().split()}
    return children


@pytest.fixture
def no_process_left() -> Iterator[None]:
    """Fails the test if it leaves a child process behind (others' helpers may exist before)."""
    before = child_processes()
    yield
    assert child_processes() <= before, "a PDF rendering process outlived the call"


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Records, for every run with forked helpers, how many jobs each process was given."""
    sizes: list[list[int]] = []
    real = forked._run_shares

    def recording(jobs, shares):
        sizes.append([len(share) for share in shares])
        return real(jobs, shares)

    monkeypatch.setattr(forked, "_run_shares", recording)
    return sizes


def test_parallel_and_serial_builds_write_the_same_bytes(
    sample_2025: Path, tmp_path: Path, batches: list[int], no_process_left: None
) -> None:
    build(sample_2025, tmp_path / "serial", BuildOptions(jobs=1))
    assert batches == [], "one job must render in this process, one document after the other"
    build(sample_2025, tmp_path / "parallel", BuildOptions(jobs=2))
    # The CMR's PDF here; the snapshot, the evidence, the check of the documents' words, Form
    # SD's PDF and both Word files in the helper, beside it.
    assert batches == [[1, 6]], "two jobs must render the CMR beside everything else"
    for name in BUILD_OUTPUTS:
        serial, parallel = (tmp_path / side / name for side in ("serial", "parallel"))
        assert serial.read_bytes() == parallel.read_bytes(), f"{name} differs between serial and parallel"


def test_a_refused_asset_in_a_forked_render_is_the_same_input_error(
    sample_2025: Path, tmp_path: Path, batches: list[int], no_process_left: None
) -> None:
    """The CMR is rendered in the forked helper: its refusal must reach the user unchanged."""
    _cmr_loading_etc_passwd(sample_2025)
    errors = []
    for jobs in (1, 2):
        out = tmp_path / f"jobs-{jobs}"
        with pytest.raises(InputError) as raised:
            build(sample_2025, out, BuildOptions(formats=PDF_ONLY, jobs=jobs))
        errors.append(raised.value.problems)
        assert not out.exists() or not any(out.iterdir()), "a failed build must write nothing"
    assert batches == [[1, 4]]  # the CMR here; the three side jobs and Form SD in the helper
    assert errors[0] == errors[1]
    assert "refused to load 'file:///etc/passwd'" in errors[0][0].message


def _cmr_loading_etc_passwd(filing: Path) -> None:
    """A theme whose CMR asks for a file outside the asset folders: its render is refused."""
    theme = filing.parent / "theme"
    theme.mkdir()
    (theme / "cmr.html.j2").write_text(
        '{% extends "builtin/cmr.html.j2" %}{% block content %}{{ super() }}'
        '<img src="file:///etc/passwd">{% endblock %}',
        encoding="utf-8",
    )
    edit(filing, "  draft: true", "  draft: true\n  template_dir: theme")


def test_jobs_come_back_in_order_shared_out_by_weight(no_process_left: None) -> None:
    def whoami(index: int) -> forked.Job[str]:
        return forked.Job(lambda: f"{index}:{os.getpid()}", weight=[5, 1, 1, 4, 1][index])

    results = forked.run_jobs([whoami(index) for index in range(5)], processes=2)
    indexes, pids = zip(*(result.split(":") for result in results), strict=True)
    assert indexes == ("0", "1", "2", "3", "4")
    # Heaviest first, each to the least loaded process: 5 here, then 4 + 1 + 1 + ... balanced.
    assert forked.plan([5, 1, 1, 4, 1], 2) == [[0, 2], [1, 3, 4]]
    assert [int(pid) == os.getpid() for pid in pids] == [True, False, True, False, False]


def test_a_helper_that_fails_or_dies_is_an_error_here(no_process_left: None) -> None:
    def fails() -> bytes:
        raise ValueError("bad layout")

    jobs = [forked.Job(lambda: b"ok", 2), forked.Job(fails)]
    with pytest.raises(RuntimeError, match=r"(?s)failed in a helper process.*ValueError: bad layout"):
        forked.run_jobs(jobs, processes=2)
    with pytest.raises(RuntimeError, match=r"died \(exit code 3\)"):
        forked.run_jobs([forked.Job(lambda: b"ok", 2), forked.Job(lambda: os._exit(3))], processes=2)


def test_jobs_option_must_be_positive(sample_2025: Path) -> None:
    result = CliRunner().invoke(app, ["build", str(sample_2025), "--jobs", "0"])
    assert result.exit_code == 2


# --------------------------------------------------------------------------------------
# The render process `cmr build` forks before it loads the filing (report/parallel.Prestarted)


@pytest.fixture
def handed_over(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The document each prestarted render process was sent (None: it was stopped unsent)."""
    sent: list[str | None] = []
    stopped: list[forked.Prestarted] = []
    real_start, real_run, real_stop = forked.Prestarted.start, forked.Prestarted.run, forked.Prestarted.stop

    def start(warm):
        renderer = real_start(warm)
        assert renderer is not None, "the test process must be able to fork (one thread)"
        return renderer

    def run(self, job) -> None:
        sent.append(job.check_as)
        real_run(self, job)

    def stop(self) -> None:
        if not self.sent and self not in stopped:
            sent.append(None)
        stopped.append(self)
        real_stop(self)

    monkeypatch.setattr(forked.Prestarted, "start", staticmethod(start))
    monkeypatch.setattr(forked.Prestarted, "run", run)
    monkeypatch.setattr(forked.Prestarted, "stop", stop)
    return sent


def _cli_build(filing: Path, out: Path, *options: str):
    return CliRunner().invoke(app, ["build", str(filing), "--out", str(out), *options])


def test_the_longest_pdf_renders_in_the_process_started_before_the_filing_was_loaded(
    sample_2025: Path, tmp_path: Path, handed_over: list[str | None], no_process_left: None
) -> None:
    serial = _cli_build(sample_2025, tmp_path / "serial", "--jobs", "1", "--no-cache")
    assert serial.exit_code == 0, serial.output
    assert handed_over == [], "one process: nothing is forked"
    early = _cli_build(sample_2025, tmp_path / "early", "--jobs", "2", "--no-cache")
    assert early.exit_code == 0, early.output
    assert handed_over == ["conflict-minerals-report.pdf"]
    for name in BUILD_OUTPUTS:
        one, two = (tmp_path / side / name for side in ("serial", "early"))
        assert one.read_bytes() == two.read_bytes(), f"{name} differs when rendered in the early process"
    # The layout check ran there too: its warnings are printed as the serial build prints them.
    assert [line for line in early.output.splitlines() if "warning" in line] == [
        line for line in serial.output.splitlines() if "warning" in line
    ]


def test_an_early_render_process_with_nothing_to_render_is_stopped(
    sample_2025: Path, tmp_path: Path, handed_over: list[str | None], no_process_left: None, monkeypatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for out in ("first", "second"):  # the second build takes both PDFs from the render cache
        result = _cli_build(sample_2025, tmp_path / out, "--jobs", "2", "--format", "pdf")
        assert result.exit_code == 0, result.output
    assert handed_over == ["conflict-minerals-report.pdf", None]
    result = _cli_build(sample_2025, tmp_path / "html", "--jobs", "2", "--format", "html")
    assert result.exit_code == 0, result.output
    assert handed_over == ["conflict-minerals-report.pdf", None], "no PDF asked for: nothing started"


def test_a_refused_asset_in_the_early_render_process_is_the_same_error(
    sample_2025: Path, tmp_path: Path, handed_over: list[str | None], no_process_left: None
) -> None:
    _cmr_loading_etc_passwd(sample_2025)
    outputs = []
    for jobs in ("1", "2"):
        result = _cli_build(sample_2025, tmp_path / jobs, "--jobs", jobs, "--no-cache", "--format", "pdf")
        assert result.exit_code == 1
        assert not (tmp_path / jobs).exists() or not any((tmp_path / jobs).iterdir())
        outputs.append(result.output)
    assert handed_over == ["conflict-minerals-report.pdf"]
    assert outputs[0] == outputs[1]
    assert "refused to load 'file:///etc/passwd'" in outputs[1]


def test_an_early_process_reports_its_failure_and_dies_with_stop(no_process_left: None) -> None:
    renderer = forked.Prestarted.start(_nothing)
    assert renderer is not None
    renderer.run(_Fails())
    with pytest.raises(RuntimeError, match=r"(?s)failed in a helper process.*ValueError: bad layout"):
        renderer.result()
    renderer.stop()
    renderer = forked.Prestarted.start(_nothing)
    assert renderer is not None
    renderer.run(_Raises())
    with pytest.raises(InputError) as raised:
        renderer.result()
    assert raised.value.problems[0].message == "a user's mistake"
    renderer.stop()
    # Stopped before it was sent anything (the build failed first): killed, nothing left.
    renderer = forked.Prestarted.start(_sleeps)
    assert renderer is not None
    renderer.stop()


def _nothing() -> None:
    pass


def _sleeps() -> None:
    import time

    time.sleep(60)


class _Fails:
    def __call__(self) -> None:
        raise ValueError("bad layout")


class _Raises:
    def __call__(self) -> None:
        from conflict_minerals.problems import Problem

        raise InputError([Problem("filing.yaml", None, None, "", "a user's mistake")])
