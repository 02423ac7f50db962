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
from conflict_minerals.report import pdf

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
def batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records the size of every batch rendered with forked helpers."""
    sizes: list[int] = []
    real = pdf._render_batch

    def recording(renders: list[pdf.Render]) -> list[bytes]:
        sizes.append(len(renders))
        return real(renders)

    monkeypatch.setattr(pdf, "_render_batch", recording)
    return sizes


def test_parallel_and_serial_builds_write_the_same_bytes(
    sample_2025: Path, tmp_path: Path, batches: list[int], no_process_left: None
) -> None:
    build(sample_2025, tmp_path / "serial", BuildOptions(jobs=1))
    assert batches == [], "one job must render in this process, one document after the other"
    build(sample_2025, tmp_path / "parallel", BuildOptions(jobs=2))
    assert batches == [2], "two jobs must render Form SD and the CMR at once"
    for name in BUILD_OUTPUTS:
        serial, parallel = (tmp_path / side / name for side in ("serial", "parallel"))
        assert serial.read_bytes() == parallel.read_bytes(), f"{name} differs between serial and parallel"


def test_a_refused_asset_in_a_forked_render_is_the_same_input_error(
    sample_2025: Path, tmp_path: Path, batches: list[int], no_process_left: None
) -> None:
    """The CMR is rendered in the forked helper: its refusal must reach the user unchanged."""
    theme = sample_2025.parent / "theme"
    theme.mkdir()
    (theme / "cmr.html.j2").write_text(
        '{% extends "builtin/cmr.html.j2" %}{% block content %}{{ super() }}'
        '<img src="file:///etc/passwd">{% endblock %}',
        encoding="utf-8",
    )
    edit(sample_2025, "  draft: true", "  draft: true\n  template_dir: theme")
    errors = []
    for jobs in (1, 2):
        out = tmp_path / f"jobs-{jobs}"
        with pytest.raises(InputError) as raised:
            build(sample_2025, out, BuildOptions(formats=PDF_ONLY, jobs=jobs))
        errors.append(raised.value.problems)
        assert not out.exists() or not any(out.iterdir()), "a failed build must write nothing"
    assert batches == [2]
    assert errors[0] == errors[1]
    assert "refused to load 'file:///etc/passwd'" in errors[0][0].message


def test_renders_come_back_in_order_from_forked_processes(no_process_left: None) -> None:
    def whoami(index: int) -> pdf.Render:
        return lambda: f"{index}:{os.getpid()}".encode()

    results = pdf.render_all([whoami(index) for index in range(5)], processes=2)
    indexes, pids = zip(*(result.decode().split(":") for result in results), strict=True)
    assert indexes == ("0", "1", "2", "3", "4")
    # Each batch of two: the first in this process, the second in a forked helper.
    assert [int(pid) == os.getpid() for pid in pids] == [True, False, True, False, True]


def test_a_helper_that_fails_or_dies_is_an_error_here(no_process_left: None) -> None:
    def fails() -> bytes:
        raise ValueError("bad layout")

    with pytest.raises(RuntimeError, match=r"(?s)failed in a helper process.*ValueError: bad layout"):
        pdf.render_all([lambda: b"ok", fails], processes=2)
    with pytest.raises(RuntimeError, match=r"died \(exit code 3\)"):
        pdf.render_all([lambda: b"ok", lambda: os._exit(3)], processes=2)


def test_jobs_option_must_be_positive(sample_2025: Path) -> None:
    result = CliRunner().invoke(app, ["build", str(sample_2025), "--jobs", "0"])
    assert result.exit_code == 2
