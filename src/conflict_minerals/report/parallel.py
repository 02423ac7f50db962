"""Several jobs at once in processes forked from this one (a build's PDFs and Word files).

WeasyPrint holds the GIL while it lays out, so threads would not help. A fork starts in
milliseconds with everything this process imported; a spawned process would spend more time
importing WeasyPrint than the smaller document takes. The jobs are shared out by their weight
(longest first, each to the least loaded process); this process runs one share itself, each
forked helper runs one share, one job after the other. Results come back in the order of the
jobs, the same whatever the number of processes. A fork copies only the calling thread, so a
process running other threads runs every job itself.

An error in a forked job (an InputError a user must fix included) is raised here as it would
have been raised in this process: the first failing job's, in the jobs' order. No forked
process outlives `run_jobs`, and each one dies with this process however it dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import multiprocessing
import multiprocessing.process
import os
import pickle
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..outputs import die_with_parent
from ..problems import InputError

T = TypeVar("T")


@dataclass(frozen=True)
class Job(Generic[T]):
    run: Callable[[], T]
    weight: float = 1.0  # the job's cost relative to the others, to balance the processes


# What a job ended with: ("ok", value), ("input", InputError), ("failed", traceback text),
# or ("raised", exception) for a job of this process (raised again with its own traceback).
Outcome = tuple[str, object]


def run_jobs(jobs: Sequence[Job[T]], processes: int | None = None) -> list[T]:
    """Each job's result, in order; `processes` at most (None: one per core this process may use)."""
    allowed = processes if processes is not None else len(os.sched_getaffinity(0))
    if allowed <= 1 or len(jobs) <= 1 or not can_fork():
        return [job.run() for job in jobs]
    shares = plan([job.weight for job in jobs], min(allowed, len(jobs)))
    outcomes = _run_shares(jobs, shares)
    return [_result(outcomes[index]) for index in range(len(jobs))]


def can_fork() -> bool:
    return sys.platform.startswith("linux") and threading.active_count() == 1


def plan(weights: Sequence[float], processes: int) -> list[list[int]]:
    """The jobs' indexes for each process, heaviest job first to the least loaded process
    (ties to the lowest process, this one first); each share in the jobs' order."""
    loads = [0.0] * processes
    shares: list[list[int]] = [[] for _ in range(processes)]
    for index in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        lane = min(range(processes), key=lambda p: (loads[p], p))
        loads[lane] += weights[index]
        shares[lane].append(index)
    return [sorted(share) for share in shares if share] or [[]]


def _run_shares(jobs: Sequence[Job[T]], shares: list[list[int]]) -> dict[int, Outcome]:
    context = multiprocessing.get_context("fork")
    helpers = []
    outcomes: dict[int, Outcome] = {}
    try:
        for share in shares[1:]:
            receiver, sender = context.Pipe(duplex=False)
            runs = [jobs[index].run for index in share]
            helper = _forked(context, _helper, (runs, sender, os.getpid()))
            sender.close()
            helpers.append((share, helper, receiver))
        for index in shares[0]:
            try:
                outcomes[index] = ("ok", jobs[index].run())
            except Exception as error:  # raised in job order, after the helpers' results
                outcomes[index] = ("raised", error)
                break
        for share, helper, receiver in helpers:
            outcomes |= dict(zip(share, _received(helper, receiver), strict=False))
        return outcomes
    finally:
        for _, helper, receiver in helpers:
            if helper.is_alive():
                helper.kill()
            helper.join()
            receiver.close()


def _helper(runs: list[Callable[[], object]], sender, parent: int) -> None:
    _become_helper(parent)
    outcomes: list[Outcome] = []
    for run in runs:
        outcomes.append(_outcome(run))
        if outcomes[-1][0] != "ok":
            break
    sender.send_bytes(pickle.dumps(outcomes))
    sender.close()


def _become_helper(parent: int) -> None:
    die_with_parent(parent)
    # Ctrl-C reaches the whole process group: the parent stops, and kills this helper.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _outcome(run: Callable[[], object]) -> Outcome:
    try:
        return ("ok", run())
    except InputError as error:  # what the user must fix: raised again, unchanged, in the parent
        return ("input", error)
    except BaseException as error:  # a bug: the parent reports it with this process's traceback
        return ("failed", "".join(traceback.format_exception(error)))


def _forked(context, target: Callable[..., None], args: tuple) -> multiprocessing.process.BaseProcess:
    """A daemon process forked to run `target`, started with Ctrl-C blocked: until the helper
    ignores it, it must not act on it."""
    helper = context.Process(target=target, args=args, daemon=True)
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        helper.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    return helper


class Prestarted:
    """A process forked before this one has made what it will be given: it loads what its job
    needs meanwhile (`warm`), then runs the one job it is sent and answers. `cmr build` forks one
    before it loads the filing, so that the longest PDF's render starts as soon as its HTML
    exists, WeasyPrint having been imported there while the documents were made here.

    The job must pickle (report/pdfrequest.PdfRequest does); its error is raised by `result()`
    as run_jobs raises a helper's. `stop()` kills the process whether or not it was sent a job;
    it dies with this process however this one dies."""

    def __init__(self, process: multiprocessing.process.BaseProcess, requests, answers) -> None:
        self._process, self._requests, self._answers = process, requests, answers
        self.sent = False

    @classmethod
    def start(cls, warm: Callable[[], None]) -> Prestarted | None:
        """The process, started; None where this process may not fork (see can_fork)."""
        if not can_fork():
            return None
        context = multiprocessing.get_context("fork")
        requests_in, requests_out = context.Pipe(duplex=False)
        _widen(requests_out)
        answers_in, answers_out = context.Pipe(duplex=False)
        process = _forked(context, _prestarted, (warm, requests_in, answers_out, os.getpid()))
        requests_in.close()
        answers_out.close()
        return cls(process, requests_out, answers_in)

    def run(self, job: Callable[[], T]) -> None:
        self._requests.send_bytes(pickle.dumps(job))
        self.sent = True

    def result(self):
        """The job's result (waiting for it), or its error raised here."""
        (outcome,) = _received(self._process, self._answers)[:1]
        return _result(outcome)

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._requests.close()
        self._answers.close()


def _widen(connection) -> None:
    """A pipe that holds a whole document's request (1 MiB where the system allows it; 64 KiB
    by default): the process it goes to reads it only once it has loaded WeasyPrint, and
    until then a larger request would hold this process up instead of letting it work on."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(connection.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)


def _prestarted(warm: Callable[[], None], requests, answers, parent: int) -> None:
    _become_helper(parent)
    warm()
    # What the warm-up loaded lives as long as this process: out of the collector's view, a
    # render runs about 8% faster (as `cmr build` does with its own imports).
    gc.freeze()
    try:
        job = pickle.loads(requests.recv_bytes())
    except EOFError:  # nothing to do: the parent closed the pipe (or died)
        return
    answers.send_bytes(pickle.dumps([_outcome(job)]))
    answers.close()


def _received(helper, receiver) -> list[Outcome]:
    try:
        return pickle.loads(receiver.recv_bytes())
    except EOFError:  # the helper died before it could answer
        helper.join()
        return [("failed", f"died (exit code {helper.exitcode})")]


def _result(outcome: Outcome | None):
    if outcome is None:  # an earlier job of the same process failed, and is raised first
        raise RuntimeError("a job was not run after an earlier one failed")
    kind, value = outcome
    if kind == "ok":
        return value
    if kind in ("input", "raised"):
        raise value
    if str(value).startswith("died"):
        raise RuntimeError(f"a rendering process {value}")
    raise RuntimeError(f"a job failed in a helper process:\n{value}")
