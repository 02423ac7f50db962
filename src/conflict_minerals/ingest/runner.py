"""Read a folder of supplier workbooks in parallel, with a content-hash cache.

Each worker process reads whole files and returns plain data; a per-file time limit (SIGALRM)
and a per-process memory limit (RLIMIT_AS) keep one hostile file from stalling or sinking the
run. Results come back in file order, so everything downstream is deterministic.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import resource
import signal
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from importlib.resources import files
from multiprocessing import get_context
from pathlib import Path

from ..outputs import write_atomic
from .extract import EXTRACTOR_VERSION, read_supplier_bytes, sha256
from .models import Finding, FindingSeverity, SupplierWorkbook, UnreadableWorkbook
from .reader import Limits, ReadTimeout

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls")
PER_FILE_SECONDS = 60
# Real workbooks need under 100 MB; a hostile one that asks for more fails fast and is reported.
WORKER_MEMORY_BYTES = 1024**3

Result = SupplierWorkbook | UnreadableWorkbook


@dataclass(frozen=True)
class Job:
    path: str
    file: str  # path relative to the suppliers folder, as reports show it
    cache_dir: str | None
    with_products: bool = True


def discover(folder: Path) -> tuple[list[Job], list[UnreadableWorkbook]]:
    """Workbook files under `folder`, sorted; symlinks leading outside it are refused."""
    root = folder.resolve()
    jobs, refused = [], []
    for path in sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix()):
        if not path.name.lower().endswith(WORKBOOK_SUFFIXES) or path.name.startswith("~$"):
            continue
        relative = path.relative_to(folder).as_posix()
        real = path.resolve()
        if not real.is_relative_to(root):
            refused.append(_refused(relative, "it is a link to a file outside the suppliers folder"))
            continue
        if not real.is_file():
            continue
        jobs.append(Job(str(path), relative, None))
    return jobs, refused


def _refused(file: str, reason: str) -> UnreadableWorkbook:
    return UnreadableWorkbook(
        file=file,
        sha256=None,
        size=None,
        finding=Finding(
            code="file-refused", severity=FindingSeverity.ERROR, file=file, message=f"refused: {reason}"
        ),
    )


def cache_key_salt() -> str:
    """Cached results are valid only for the same extractor and the same cell maps."""
    digest = hashlib.sha256(EXTRACTOR_VERSION.encode())
    folder = files(__package__) / "cellmaps"
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        digest.update(item.name.encode() + item.read_bytes())
    return digest.hexdigest()[:16]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "conflict-minerals" / "ingest"


def _on_alarm(signum: int, frame: object) -> None:
    raise ReadTimeout


def _init_worker() -> None:
    # A worker that tries to exceed this much address space gets MemoryError, not the OOM killer.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    signal.signal(signal.SIGALRM, _on_alarm)


def _cache_path(cache_dir: str, digest: str, salt: str) -> Path:
    return Path(cache_dir) / salt / digest[:2] / f"{digest}.json"


def read_job(job: Job, salt: str = "") -> Result:
    """Worker: read (or fetch from the cache) one file; never raises for a bad file."""
    try:
        data = Path(job.path).read_bytes()
    except OSError as error:
        return UnreadableWorkbook(
            file=job.file,
            sha256=None,
            size=None,
            finding=Finding(
                code="file-unreadable",
                severity=FindingSeverity.ERROR,
                file=job.file,
                message=f"cannot read the file: {error.strerror}",
            ),
        )
    digest = sha256(data)
    variant = salt if job.with_products else f"{salt}-lean"
    cached = _cache_path(job.cache_dir, digest, variant) if job.cache_dir else None
    if cached is not None and cached.exists():
        with contextlib.suppress(OSError, ValueError):
            stored = json.loads(cached.read_text(encoding="utf-8"))
            model = UnreadableWorkbook if "finding" in stored else SupplierWorkbook
            return _renamed(model.model_validate(stored), job.file)
    signal.alarm(PER_FILE_SECONDS)
    try:
        result = read_supplier_bytes(data, job.file, Limits(), digest, job.with_products)
    except ReadTimeout:
        result = UnreadableWorkbook(
            file=job.file,
            sha256=digest,
            size=len(data),
            finding=Finding(
                code="file-timeout",
                severity=FindingSeverity.ERROR,
                file=job.file,
                message=f"reading took longer than {PER_FILE_SECONDS} s; the file was skipped",
            ),
        )
    finally:
        signal.alarm(0)
    if cached is not None and not (
        isinstance(result, UnreadableWorkbook) and result.finding.code == "file-timeout"
    ):
        with contextlib.suppress(OSError):
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(cached, result.model_dump_json().encode("utf-8"))
    return result


def _renamed(result: Result, file: str) -> Result:
    """A cached result read under another name: point it (and its findings) at this file."""
    if isinstance(result, UnreadableWorkbook):
        return result.model_copy(
            update={"file": file, "finding": result.finding.model_copy(update={"file": file})}
        )
    findings = [f.model_copy(update={"file": file}) for f in result.read_findings]
    return result.model_copy(update={"file": file, "read_findings": findings})


def _read_in_worker(job: Job, salt: str) -> Result:
    return read_job(job, salt)


def _finding(job: Job, code: str, message: str) -> UnreadableWorkbook:
    return UnreadableWorkbook(
        file=job.file,
        sha256=None,
        size=None,
        finding=Finding(code=code, severity=FindingSeverity.ERROR, file=job.file, message=message),
    )


def _new_pool(workers: int) -> ProcessPoolExecutor:
    # "spawn": workers start clean, whatever threads (a progress bar) the parent runs.
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop a pool whose worker died or hangs: its processes are killed, not waited for."""
    for process in list(getattr(pool, "_processes", {}).values()):
        with contextlib.suppress(Exception):
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def _isolated(job: Job, salt: str) -> Result:
    """Read one suspect file alone in a fresh process: a crash or hang there is that file's."""
    pool = _new_pool(1)
    try:
        return pool.submit(_read_in_worker, job, salt).result(timeout=PER_FILE_SECONDS + 30)
    except BrokenProcessPool:
        return _finding(job, "file-crashed", "the workbook crashed the reader (it may be damaged or hostile)")
    except FuturesTimeout:
        return _finding(
            job, "file-timeout", f"reading took longer than {PER_FILE_SECONDS} s; the file was skipped"
        )
    finally:
        _stop(pool)


def _read_in_process(jobs: list[Job], salt: str) -> Iterator[Result]:
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        for job in jobs:
            yield read_job(job, salt)
    finally:
        signal.signal(signal.SIGALRM, previous)


def read_all(
    jobs: list[Job], workers: int, cache_dir: Path | None, with_products: bool = True
) -> Iterator[Result]:
    """Results in the order of `jobs`, read by `workers` processes (0 = in this process).

    A worker that dies (a native crash or an aborted allocation in the reader) or stops
    answering takes down only the files it was reading: those are re-read one by one in fresh
    processes, and the one that fails again becomes a finding. The rest of the run goes on."""
    salt = cache_key_salt()
    prepared = [Job(job.path, job.file, str(cache_dir) if cache_dir else None, with_products) for job in jobs]
    if workers <= 0:
        yield from _read_in_process(prepared, salt)
        return
    results: dict[int, Result] = {}
    waiting = deque(enumerate(prepared))
    in_flight: dict[Future, int] = {}
    pool = _new_pool(workers)
    emitted = 0
    try:
        while waiting or in_flight:
            while waiting and len(in_flight) < workers * 4:
                index, job = waiting.popleft()
                in_flight[pool.submit(_read_in_worker, job, salt)] = index
            done, _ = wait(in_flight, timeout=PER_FILE_SECONDS + 30, return_when=FIRST_COMPLETED)
            suspects: list[int] = []
            for future in done:
                index = in_flight.pop(future)
                try:
                    results[index] = future.result()
                except BrokenProcessPool:
                    suspects.append(index)
            if not done or suspects:  # a hang, or a worker died: every file in flight is a suspect
                suspects += in_flight.values()
                in_flight.clear()
                _stop(pool)
                for index in sorted(suspects):
                    results[index] = _isolated(prepared[index], salt)
                pool = _new_pool(workers)
            while emitted in results:
                yield results.pop(emitted)
                emitted += 1
    finally:
        _stop(pool)
