"""Read a folder of supplier workbooks in parallel, with a content-hash cache.

Each worker process reads whole files and returns plain data; a per-file time limit (SIGALRM)
and a per-process memory limit (RLIMIT_AS) keep one hostile file from stalling or sinking the
run. Results come back in file order, so everything downstream is deterministic.

Every read of a supplier file's bytes, for any purpose (the survey data, or the Smelter
Look-up used as the reference list), happens in such a worker: a native crash there takes
down one worker, never the run. Workers die with the process that started them, however it
ends (Linux: a parent-death signal), so no worker outlives its `cmr` command.

On Linux the workers are forked from the command's process when it runs a single thread (the
usual case: the pool starts before any progress bar), so they start in milliseconds with the
modules already imported; otherwise they are spawned clean. One pool serves the whole run:
the reference look-up is read by a worker that is already warm.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import gc
import json
import os
import resource
import signal
import sys
import threading
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from importlib.resources import files
from multiprocessing import get_context
from pathlib import Path
from typing import Any, cast

from ...manifest import sha256
from ...outputs import address_space, die_with_parent, write_atomic
from ..models import Finding, FindingSeverity, SupplierWorkbook, UnreadableWorkbook
from .cellmap import load_cellmap
from .detect import detect
from .extract import EXTRACTOR_VERSION, OUT_OF_MEMORY, lookup_rows, read_supplier_bytes
from .reader import Limits, ReadFailure, ReadTimeout, Workbook, open_workbook, read_limited
from .sheetscan import ScannedWorkbook, ScanUnsupported, open_scanned

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


def cache_key_salt() -> str:
    """Cached results are valid only for the same extractor and the same cell maps."""
    folder = files(__package__) / "cellmaps"
    maps = [item.name.encode() + item.read_bytes() for item in sorted(folder.iterdir(), key=lambda p: p.name)]
    return sha256(EXTRACTOR_VERSION.encode() + b"".join(maps))[:16]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "conflict-minerals" / "ingest"


def _on_alarm(signum: int, frame: object) -> None:
    raise ReadTimeout


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}

# glibc's mallopt parameters, from <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEPT_BUFFER_BYTES = 64 * 1024 * 1024


def _reuse_freed_buffers() -> None:
    """A worker reads one workbook after another, and each read allocates and frees the same
    large buffers (the file's bytes, the reader's copy, the unpacked sheets). By default glibc
    gives such buffers back to the kernel as soon as they are freed, and the next file faults
    every page in again: about 2,000 page faults a file, a tenth of the read's time. Buffers
    up to 64 MiB now stay in the worker's heap for the next file; larger ones (a hostile
    file's) still go straight back. The memory limit below counts them either way."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, _KEPT_BUFFER_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, 4 * _KEPT_BUFFER_BYTES)


def _give_back_freed() -> None:
    """Return the heap's free pages to the kernel. After a read calamine does whole (a template's
    Smelter Look-up: about 4 MB more than a streaming read takes), the worker would otherwise
    keep that high-water mark for the rest of the run (see _reuse_freed_buffers): once a run,
    a millisecond."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _init_worker(parent: int) -> None:
    die_with_parent(parent)
    # A file that aborts the reader is reported as a finding; a forked worker must not also
    # print the Python stack dump the parent may have asked for (pytest does).
    faulthandler.disable()
    # The parent decides when the run stops (Ctrl-C reaches the whole process group) and then
    # kills its workers; a worker dying on its own would look like a file that crashed it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # A forked worker starts with them blocked (see _new_pool); ignored now, they may pass.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    _reuse_freed_buffers()
    # A worker that tries to take this much more address space gets MemoryError, not the OOM
    # killer. More than it starts with: a forked worker starts with the whole address space of
    # the process it was forked from (a long-lived parent, such as a test run, may hold a lot).
    limit = WORKER_MEMORY_BYTES + (address_space() or 0)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, _on_alarm)


CACHE_SUFFIX = ".json"


def _cache_path(cache_dir: str, digest: str, salt: str) -> Path:
    return Path(cache_dir) / salt / digest[:2] / f"{digest}{CACHE_SUFFIX}"


# Findings that say nothing about the file's content, only about this attempt to read it: never
# cached, so the next run reads the file again.
TRANSIENT_CODES = frozenset({"file-timeout", "file-crashed", "file-unreadable"})


def is_transient(result: Result) -> bool:
    if not isinstance(result, UnreadableWorkbook):
        return False
    finding = result.finding
    return finding.code in TRANSIENT_CODES or finding.message == OUT_OF_MEMORY


def read_job(job: Job, salt: str = "") -> Result:
    """Worker: read (or fetch from the cache) one file; never raises for a bad file."""
    try:
        data = read_limited(job.path, Limits())
    except ReadFailure as failure:
        return _finding(job, failure.code, failure.message)
    except OSError as error:
        return _finding(job, "file-unreadable", f"cannot read the file: {error.strerror}")
    digest = sha256(data)
    variant = salt if job.with_products else f"{salt}-lean"
    cached = _cache_path(job.cache_dir, digest, variant) if job.cache_dir else None
    if cached is not None and cached.exists():
        with contextlib.suppress(OSError, ValueError):
            stored = json.loads(cached.read_text(encoding="utf-8"))
            model = UnreadableWorkbook if "finding" in stored else SupplierWorkbook
            result = _renamed(model.model_validate(stored), job.file)
            os.utime(cached)  # recently used: the last to go when the cache is trimmed
            return result
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
    if cached is not None and not is_transient(result):
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
    try:
        return read_job(job, salt)
    except MemoryError:  # outside the reader (hashing, the cache, the result): still this file's
        return _finding(job, "file-refused", OUT_OF_MEMORY)


def _finding(job: Job, code: str, message: str) -> UnreadableWorkbook:
    return UnreadableWorkbook(
        file=job.file,
        sha256=None,
        size=None,
        finding=Finding(code=code, severity=FindingSeverity.ERROR, file=job.file, message=message),
    )


def _start_method() -> str:
    """How workers start. On Linux, from a process running one thread: "fork", which copies
    the modules already imported (no interpreter start and no imports: the workers of a
    60-file run are ready in milliseconds, where spawned ones needed a third of a second).
    A fork copies only the forking thread, so with another thread alive (a progress bar, the
    manager thread of a pool that was just stopped) a lock that thread held could stay locked
    forever in the worker; then, and elsewhere, "spawn": a clean interpreter. Either way the
    memory limit counts the worker's whole address space, and a forked worker starts from
    this process's, a few tens of MB."""
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn"


def _new_pool(workers: int) -> ProcessPoolExecutor:
    method = _start_method()
    if method == "fork":
        # The objects this process holds now are out of the collector's view: a forked worker's
        # collections would otherwise write to every one of them and copy their pages (about
        # 7 MB a worker), though the worker only reads them.
        gc.freeze()
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context(method),
        initializer=_init_worker,
        initargs=(os.getpid(),),
    )
    if method == "fork":
        # A forked worker inherits this process's stop-signal handlers until _init_worker
        # ignores them: fork every worker now (a fork pool starts all its processes at the
        # first submit) with the signals blocked, so a Ctrl-C in between waits for the parent.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            pool.submit(os.getpid)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    return pool


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop a pool whose worker died or hangs: its processes are killed, not waited for."""
    for process in list(getattr(pool, "_processes", {}).values()):
        with contextlib.suppress(Exception):
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


CRASHED = "the workbook crashed the reader (it may be damaged or hostile)"
TIMED_OUT = f"reading took longer than {PER_FILE_SECONDS} s; the file was skipped"


@dataclass(frozen=True)
class Failed:
    """A guarded call that did not return: the finding code and why."""

    code: str
    message: str


def _guarded_result(future: Future) -> Any:
    """A guarded call's result; a crash, a hang or an exception in the worker comes back as
    Failed, never raised here."""
    try:
        return future.result(timeout=PER_FILE_SECONDS + 30)
    except BrokenProcessPool:
        return Failed("file-crashed", CRASHED)
    except FuturesTimeout:
        return Failed("file-timeout", TIMED_OUT)
    except MemoryError:
        return Failed("file-refused", OUT_OF_MEMORY)
    except Exception as error:  # whatever the worker raised: the file's failure, not the run's
        return Failed("file-crashed", f"the reader failed on this workbook ({type(error).__name__}: {error})")


def run_guarded(function: Any, *args: Any) -> Any:
    """`function(*args)` alone in a fresh worker (same memory and time limits as the readers);
    a crash, a hang or an exception there comes back as Failed, never raised here."""
    pool = _new_pool(1)
    try:
        return _guarded_result(pool.submit(function, *args))
    finally:
        _stop(pool)


def _isolated(job: Job, salt: str) -> Result:
    """Read one suspect file alone in a fresh process: a crash or hang there is that file's."""
    outcome = run_guarded(_read_in_worker, job, salt)
    if isinstance(outcome, Failed):
        return _finding(job, outcome.code, outcome.message)
    return outcome


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
    """Results in the order of `jobs`, read by `workers` processes (0 = in this process)."""
    with Readers(workers) as readers:
        yield from readers.read(jobs, cache_dir, with_products)


class Readers:
    """The worker processes of one run: they read the supplier files and the reference
    look-up (started early, beside the first files, or asked for at the end), so the look-up
    needs no process of its own. Leaving the `with` block, however, kills every worker."""

    def __init__(self, workers: int) -> None:
        self.workers = workers  # 0: read in this process (the look-up still in a fresh worker)
        self._pool: ProcessPoolExecutor | None = None
        self._early: dict[str, Future] = {}  # look-ups started before they were asked for

    def __enter__(self) -> Readers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (the next read or look-up starts new ones)."""
        self._drop_pool()

    def _live_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = _new_pool(self.workers)
        return self._pool

    def _submit(self, function: Any, *args: Any) -> Future:
        """`function(*args)` in a worker; a pool that lost a worker meanwhile (to an early
        look-up) is replaced first."""
        try:
            return self._live_pool().submit(function, *args)
        except BrokenProcessPool:
            self._drop_pool()
            return self._live_pool().submit(function, *args)

    def _drop_pool(self) -> None:
        if self._pool is not None:
            _stop(self._pool)
            self._pool = None

    def read(self, jobs: list[Job], cache_dir: Path | None, with_products: bool = True) -> Iterator[Result]:
        """Results in the order of `jobs`. The workers start on the first files at once, before
        the first result is asked for: the caller may do other work meanwhile.

        A worker that dies (a native crash or an aborted allocation in the reader) or stops
        answering takes down only the files it was reading: those are re-read one by one in
        fresh processes, and the one that fails again becomes a finding. The rest of the run
        goes on."""
        salt = cache_key_salt()
        cache = str(cache_dir) if cache_dir else None
        prepared = [Job(job.path, job.file, cache, with_products) for job in jobs]
        if self.workers <= 0:
            return _read_in_process(prepared, salt)
        if not prepared:
            return iter(())
        reading = self._read_in_workers(prepared, salt)
        next(reading)  # runs up to the first wait: the first files are submitted
        return cast(Iterator[Result], reading)

    def _read_in_workers(self, prepared: list[Job], salt: str) -> Iterator[Result | None]:
        """A generator whose first step submits the first files and yields None; then the results."""
        results: dict[int, Result] = {}
        waiting = deque(enumerate(prepared))
        in_flight: dict[Future, int] = {}
        emitted = 0
        started = False
        try:
            while waiting or in_flight:
                pool = self._live_pool()
                while waiting and len(in_flight) < self.workers * 4:
                    index, job = waiting[0]
                    try:
                        in_flight[pool.submit(_read_in_worker, job, salt)] = index
                    except BrokenProcessPool:
                        # An early look-up killed a worker: the reads in flight fail with it
                        # and are re-read below (with none in flight, the pool is replaced).
                        break
                    waiting.popleft()
                if not started:
                    started = True
                    yield None  # the priming step (see read)
                done, _ = wait(in_flight, timeout=PER_FILE_SECONDS + 30, return_when=FIRST_COMPLETED)
                suspects: list[int] = []
                for future in done:
                    index = in_flight.pop(future)
                    try:
                        results[index] = future.result()
                    except Exception:  # a dead worker, or a result that could not come back
                        suspects.append(index)
                if not done or suspects:  # a hang, or a worker died: every file in flight is a suspect
                    suspects += in_flight.values()
                    in_flight.clear()
                    self._drop_pool()
                    for index in sorted(suspects):
                        results[index] = _isolated(prepared[index], salt)
                while emitted in results:
                    yield results.pop(emitted)
                    emitted += 1
        finally:
            if in_flight:  # stopped early: what the workers are still reading is not wanted
                self._drop_pool()

    def look_up_early(self, path: Path) -> bool:
        """Start reading a template's look-up now, beside the supplier files, in case `lookup`
        asks for it at the end: then the run does not wait for it. Only with two workers or
        more, so that a look-up that takes long never holds up the reading. True if started."""
        if self.workers < 2:
            return False
        self._early[str(path)] = self._submit(_lookup_in_worker, str(path), None)
        return True

    def lookup(self, path: Path, digest: str | None = None) -> LookupSheet | Failed:
        """A template's Smelter Look-up, read by one of the workers (see read_lookup_sheet)."""
        if self.workers <= 0:
            return read_lookup_sheet(path, digest)
        early = self._early_lookup(path, digest)
        if early is not None:
            return early
        future = self._submit(_lookup_in_worker, str(path), digest)
        outcome = _guarded_result(future)
        stuck = not future.done()
        if stuck or (not future.cancelled() and isinstance(future.exception(), BrokenProcessPool)):
            self._drop_pool()  # a stuck or dead worker: the next use starts fresh ones
        return outcome

    def _early_lookup(self, path: Path, digest: str | None) -> LookupSheet | None:
        """The look-up read early, if it was and it read these very bytes. Anything else (a
        failure, a crash, other bytes) is not used: `lookup` reads the file again, exactly as
        it would have without the early read, so the outcome never depends on it."""
        future = self._early.pop(str(path), None)
        if future is None or digest is None:
            return None
        done, _ = wait([future], timeout=PER_FILE_SECONDS + 30)
        if not done:
            self._drop_pool()  # the worker is stuck on it
            return None
        if future.cancelled() or future.exception() is not None:
            return None
        outcome = future.result()
        return outcome if isinstance(outcome, LookupSheet) and outcome.sha256 == digest else None


# ----- the Smelter Look-up of a template, read like any other supplier file -----


LookupRowValues = tuple[str, str, str | None, str | None, str]


@dataclass(frozen=True)
class LookupSheet:
    """A template's Smelter Look-up rows: (metal, look-up name, standard name, country, CID)."""

    template: str
    version: str | None
    # The rows as compressed JSON: a look-up read early waits in this process while the
    # workers read, and its 2,500 rows as Python tuples took half a megabyte there.
    packed_rows: bytes
    sha256: str  # of the bytes the rows were read from

    @classmethod
    def of(cls, template: str, version: str | None, rows: list[LookupRowValues], sha256: str) -> LookupSheet:
        return cls(template, version, zlib.compress(json.dumps(rows).encode("utf-8")), sha256)

    @property
    def rows(self) -> list[LookupRowValues]:
        return [tuple(row) for row in json.loads(zlib.decompress(self.packed_rows))]  # type: ignore[misc]


def _lookup_in_worker(path: str, digest: str | None) -> LookupSheet | Failed:
    signal.alarm(PER_FILE_SECONDS)
    try:
        data = read_limited(path, Limits())
        actual = sha256(data)
        if digest is not None and actual != digest:
            return Failed("file-unreadable", "the file changed while the run was reading it")
        try:
            found = _lookup_from(open_scanned(data, Limits()))
        except ScanUnsupported:  # what the streaming reader does not follow, calamine reads
            found = _lookup_from(open_workbook(data))
        if isinstance(found, Failed):
            return found
        template, version, rows = found
        return LookupSheet.of(template, version, rows, actual)
    except ReadFailure as failure:
        return Failed(failure.code, failure.message)
    except ReadTimeout:
        return Failed("file-timeout", TIMED_OUT)
    except MemoryError:
        return Failed("file-refused", OUT_OF_MEMORY)
    except OSError as error:
        return Failed("file-unreadable", f"cannot read the file: {error.strerror}")
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # calamine's panics are BaseExceptions: still this file's failure
        return Failed("file-corrupt", f"the workbook cannot be read ({type(error).__name__}: {error})")
    finally:
        signal.alarm(0)
        _give_back_freed()


def _lookup_from(workbook: Workbook | ScannedWorkbook) -> Failed | tuple[str, str | None, list]:
    """The template's look-up rows that name a smelter. The streaming reader gives the same
    values as calamine (tests/test_sheetscan.py compares every planned cell, the look-up's
    included) without calamine's copy of the whole sheet: the worker that reads the look-up
    keeps no more memory than the others for the rest of the run."""
    detected = detect(workbook)
    if detected is None or detected.family is None:
        return Failed("template-unknown", "not a supported RMI template")
    found = lookup_rows(workbook, load_cellmap(detected.family))
    rows = [(row.metal, row.lookup_name, row.name, row.country, row.cid) for row in found if row.name]
    if not rows:
        return Failed("sheet-missing", "no Smelter Look-up sheet with smelter IDs")
    return detected.template, detected.version, rows


def read_lookup_sheet(path: Path, digest: str | None = None) -> LookupSheet | Failed:
    """A template's Smelter Look-up, read in a guarded worker. `digest`: the sha256 the file
    had when the run read it; a file changed since then is not used."""
    return run_guarded(_lookup_in_worker, str(path), digest)
