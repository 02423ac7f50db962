"""How `cmr ingest` starts and uses its workers: forked when safe, one pool for the run, the
reference look-up read early and used only when it is exactly what the run asks for."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conflict_minerals.ingest.models import SupplierWorkbook
from conflict_minerals.ingest.read import runner
from conflict_minerals.ingest.read.extract import sha256

from .test_ingest_hostile import MERCK, PKG, TEMPLATE_65, with_far_lookup_cell

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cmrt-corpus"
pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason="../shared/cmrt-corpus is not beside the checkout"
)
TEMPLATE_64 = CORPUS / "cirscn__cm-reporting__RMI_CMRT_6.4.xlsx"


START_METHOD = """
import threading
from conflict_minerals.ingest.read import runner
print(runner._start_method())
release = threading.Event()
other = threading.Thread(target=release.wait)
other.start()
print(runner._start_method())
release.set()
other.join()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is used on Linux only")
def test_workers_are_forked_only_from_a_single_thread() -> None:
    """In a fresh process (a test run may have threads of its own)."""
    result = subprocess.run([sys.executable, "-c", START_METHOD], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["fork", "spawn"]


def counting_submits(readers: runner.Readers, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    real = readers._submit

    def counting(function: object, *args: object) -> object:
        names.append(getattr(function, "__name__", ""))
        return real(function, *args)

    monkeypatch.setattr(readers, "_submit", counting)
    return names


def test_an_early_look_up_of_the_same_bytes_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    template = tmp_path / "template.xlsx"
    shutil.copy(TEMPLATE_65, template)
    expected = runner.read_lookup_sheet(template)
    assert isinstance(expected, runner.LookupSheet)
    with runner.Readers(2) as readers:
        submits = counting_submits(readers, monkeypatch)
        readers.look_up_early(template)
        outcome = readers.lookup(template, sha256(template.read_bytes()))
    assert outcome == expected
    assert submits == ["_lookup_in_worker"], "the look-up must have been read once, early"


def test_an_early_look_up_of_other_bytes_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file was replaced after the early read: the run uses what the supplier read saw."""
    template = tmp_path / "template.xlsx"
    shutil.copy(TEMPLATE_65, template)
    with runner.Readers(2) as readers:
        submits = counting_submits(readers, monkeypatch)
        readers.look_up_early(template)
        readers._early[str(template)].result()  # the early read is done before the file changes
        shutil.copy(TEMPLATE_64, template)
        outcome = readers.lookup(template, sha256(template.read_bytes()))
    assert isinstance(outcome, runner.LookupSheet)
    assert (outcome.version, outcome.sha256) == ("6.4", sha256(TEMPLATE_64.read_bytes()))
    assert submits == ["_lookup_in_worker", "_lookup_in_worker"]


def test_an_early_look_up_that_kills_its_worker_costs_no_file(tmp_path: Path) -> None:
    """The look-up aborts the reader beside the supplier reads: every file is still read, in
    order, and the look-up asked for at the end is the crash finding a late read gives."""
    hostile = tmp_path / "z-template.xlsx"
    hostile.write_bytes(with_far_lookup_cell(TEMPLATE_65))
    for index, source in enumerate([MERCK, PKG, MERCK, PKG]):
        shutil.copy(source, tmp_path / f"supplier-{index}.xlsx")
    names = sorted(path.name for path in tmp_path.glob("supplier-*.xlsx"))
    jobs = [runner.Job(str(tmp_path / name), name, None) for name in names]
    with runner.Readers(2) as readers:
        readers.look_up_early(hostile)
        results = list(readers.read(jobs, None))
        outcome = readers.lookup(hostile, sha256(hostile.read_bytes()))
    assert [r.file for r in results] == names
    assert all(isinstance(r, SupplierWorkbook) for r in results)
    assert outcome == runner.Failed("file-crashed", runner.CRASHED)


def test_the_workers_start_reading_before_the_first_result_is_asked_for(tmp_path: Path) -> None:
    """`cmr ingest` loads its checking half while the workers read: read() submits at once."""
    files = []
    for index in range(3):
        path = tmp_path / f"supplier-{index}.xlsx"
        shutil.copy(PKG if index % 2 else MERCK, path)
        files.append(runner.Job(str(path), path.name, None, False))
    with runner.Readers(2) as readers:
        results = readers.read(files, None, with_products=False)
        pool = readers._pool
        assert pool is not None
        submitted = [item.fn for item in pool._pending_work_items.values()]  # type: ignore[attr-defined]
        assert submitted.count(runner._read_in_worker) == 3
        names = [result.file for result in results]
        assert names == ["supplier-0.xlsx", "supplier-1.xlsx", "supplier-2.xlsx"]
        assert readers.read([], None) is not None and list(readers.read([], None)) == []
