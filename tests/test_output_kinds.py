"""Issue 20, class 4: an output path that exists and is not a regular file (a device, a FIFO,
a socket, a folder) is refused by every command, with a message, before any work; the node is
left as it was. Devices are made with mknod in the test's own folder, so only as root.

Before: `cmr cmrt ... --out DEV` and `cmr ingest ... --out DEV` exited 0 after renaming a
regular file over DEV (as root with `--out /dev/null`, the system's /dev/null was gone).
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conflict_minerals import build as build_module
from conflict_minerals import outputs
from conflict_minerals.cli import app
from conflict_minerals.cmrt import fill
from conflict_minerals.diff import compare
from conflict_minerals.ingest import pipeline

from .conftest import copy_sample

runner = CliRunner()
ROOT = os.geteuid() == 0


@contextmanager
def bound_socket(path: Path) -> Iterator[None]:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        yield
    finally:
        server.close()


def make(kind: str, path: Path) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "character-device":
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
    elif kind == "block-device":
        os.mknod(path, 0o600 | stat.S_IFBLK, os.makedev(7, 0))  # a loop device's numbers; never opened


KINDS = [
    pytest.param("fifo", "a named pipe (FIFO)", id="fifo"),
    pytest.param("socket", "a socket", id="socket"),
    pytest.param("folder", "a folder", id="folder"),
    pytest.param(
        "character-device",
        "a character device",
        id="character-device",
        marks=pytest.mark.skipif(not ROOT, reason="mknod needs root"),
    ),
    pytest.param(
        "block-device",
        "a block device",
        id="block-device",
        marks=pytest.mark.skipif(not ROOT, reason="mknod needs root"),
    ),
]


def no_work(*args: object, **kwargs: object) -> None:
    raise AssertionError("the command started its work before refusing the output")


def build_args(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Path]:
    filing = copy_sample("acme-2025", tmp)
    monkeypatch.setattr(build_module, "load_filing", no_work)
    out = tmp / "out"
    out.mkdir()
    return ["build", str(filing), "--out", str(out), "--format", "html"], out / "form-sd.html"


def build_edgar_args(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Path]:
    """A name the build writes in its edgar/ folder, even when this build does not write it."""
    filing = copy_sample("acme-2025", tmp)
    monkeypatch.setattr(build_module, "load_filing", no_work)
    (tmp / "out" / "edgar").mkdir(parents=True)
    return ["build", str(filing), "--out", str(tmp / "out")], tmp / "out" / "edgar" / "ex1-01-2025.htm"


def diff_args(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Path]:
    old, new = copy_sample("acme-2024", tmp), copy_sample("acme-2025", tmp)
    monkeypatch.setattr(compare, "compare", no_work)
    (tmp / "review").mkdir()
    return ["diff", str(old), str(new), "--out", str(tmp / "review")], tmp / "review" / "diff.json"


def ingest_args(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Path]:
    (tmp / "suppliers").mkdir()
    monkeypatch.setattr(pipeline, "Readers", no_work)
    return ["ingest", str(tmp / "suppliers"), "--out", str(tmp / "survey.yaml")], tmp / "survey.yaml"


def ingest_findings_args(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Path]:
    args, _ = ingest_args(tmp, monkeypatch)
    (tmp / "findings").mkdir()
    return [*args, "--findings", str(tmp / "findings")], tmp / "findings" / "findings.csv"


def cmrt_args(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Path]:
    filing = copy_sample("acme-2025", tmp)
    monkeypatch.setattr(fill, "load_filing", no_work)
    template = tmp / "RMI_CMRT_6.5.xlsx"  # refused before the template is even opened
    out = tmp / "cmrt.xlsx"
    return ["cmrt", str(filing), "--template", str(template), "--out", str(out)], out


def init_args(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Path]:
    (tmp / "project").mkdir()
    return ["init", str(tmp / "project"), "--force"], tmp / "project" / "filing.yaml"


COMMANDS: list[Callable[[Path, pytest.MonkeyPatch], tuple[list[str], Path]]] = [
    build_args,
    build_edgar_args,
    diff_args,
    ingest_args,
    ingest_findings_args,
    cmrt_args,
    init_args,
]


@pytest.mark.parametrize("kind, named", KINDS)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.__name__.removesuffix("_args"))
def test_an_output_that_is_not_a_regular_file_is_refused_before_any_work(
    command: Callable[[Path, pytest.MonkeyPatch], tuple[list[str], Path]],
    kind: str,
    named: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args, target = command(tmp_path, monkeypatch)
    with bound_socket(target) if kind == "socket" else _made(kind, target):
        before = os.lstat(target)
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert f"is {named}, not a regular file; cmr replaces only regular files" in result.output
        after = os.lstat(target)
        assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)
    assert "Traceback" not in result.output


@contextmanager
def _made(kind: str, path: Path) -> Iterator[None]:
    make(kind, path)
    yield


@pytest.mark.skipif(not ROOT, reason="mknod needs root")
def test_an_output_folder_that_is_a_device_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args, _ = build_args(tmp_path, monkeypatch)
    make("character-device", tmp_path / "dev")
    args[args.index("--out") + 1] = str(tmp_path / "dev")
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "dev: is a character device, not a folder" in result.output
    assert stat.S_ISCHR(os.lstat(tmp_path / "dev").st_mode)


def test_writing_still_refuses_a_fifo_that_appeared_after_the_check(tmp_path: Path) -> None:
    """The write itself checks again: a FIFO made between the check and the rename stays."""
    os.mkfifo(tmp_path / "survey.yaml")
    with pytest.raises(OSError, match="named pipe"):
        outputs.replace_together({tmp_path / "survey.yaml": b"x", tmp_path / "other.txt": b"y"})
    assert stat.S_ISFIFO(os.lstat(tmp_path / "survey.yaml").st_mode)
    assert not (tmp_path / "other.txt").exists()


def test_a_symlink_output_is_still_replaced_not_followed(tmp_path: Path) -> None:
    """A rename replaces a link itself and never touches what it points to."""
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "out.yaml").symlink_to(tmp_path / "pipe")
    outputs.replace_together({tmp_path / "out.yaml": b"x"})
    assert (tmp_path / "out.yaml").read_bytes() == b"x"
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe").st_mode)
