"""The preview's PDFs, rendered in a process the server can kill at any moment.

A PDF render holds the CPU for seconds (42 s for a filing of 1.6 MB), and a thread cannot be
stopped: a preview asked to stop mid-render waited for it. So PDFs are rendered in a worker
process of their own, started clean (spawned, never forked from the preview's threads) when
the preview starts, importing WeasyPrint once; `stop()` kills it whatever it is doing, and
every wait on it is a poll that notices. The worker applies the same time limit as
`cmr build` (PDF_RENDER_SECONDS); the preview waits a little longer, then kills it itself and
starts another for the next render.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from ..filing.loader import LoadedFiling
from ..outputs import die_with_parent
from ..problems import InputError, Problem
from ..report import pdf

# Beyond the worker's own limit, how long the preview waits before it kills the worker itself.
GRACE_SECONDS = 10.0
# How long a new worker may take to import what it renders with.
START_SECONDS = 120.0
# How often a wait on the worker looks whether the preview is stopping.
POLL_SECONDS = 0.05
_READY = b"ready"


class RenderStopped(Exception):
    """The preview is stopping: the render was killed, or never started."""


def _serve_renders(connection: Connection, parent: int) -> None:
    """The worker: import once, say so, then render each job sent until the pipe closes."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group: the preview kills us
    from ..build import document_pdf  # WeasyPrint: the second or so a render should not wait for

    connection.send_bytes(_READY)
    while True:
        try:
            loaded, html, limit = pickle.loads(connection.recv_bytes())
        except EOFError:
            return
        pdf.PDF_RENDER_SECONDS = limit  # the preview's, as it is now
        try:
            outcome: tuple[str, object] = ("ok", document_pdf(loaded, html))
        except InputError as error:
            outcome = ("input", error)
        except Exception as error:  # a bug: the preview reports it with this traceback
            outcome = ("failed", "".join(traceback.format_exception(error)))
        connection.send_bytes(pickle.dumps(outcome))


class KillableRenderer:
    """`document_pdf` in a worker process; `stop()` kills it and refuses new renders. Renders
    are made one at a time (the preview's PdfCache holds a lock around each)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._worker: tuple[BaseProcess, Connection] | None = None
        self._ready = False
        self._stopped = False
        self._busy = False  # a render is waiting on the worker's pipe

    def start(self) -> None:
        """Start the worker now, so that the first PDF asked for does not wait for its imports."""
        with self._lock:
            if not self._stopped and self._worker is None:
                self._worker = self._spawn()
                self._ready = False

    @staticmethod
    def _spawn() -> tuple[BaseProcess, Connection]:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe(duplex=True)
        worker = context.Process(
            target=_serve_renders, args=(theirs, os.getpid()), name="cmr-serve-pdf", daemon=True
        )
        worker.start()
        theirs.close()
        return worker, ours

    def __call__(self, loaded: LoadedFiling, html: str) -> bytes:
        self.start()
        with self._lock:
            if self._stopped or self._worker is None:
                raise RenderStopped("the preview is stopping")
            worker, connection = self._worker
            ready = self._ready
            self._busy = True
        try:
            return self._render(worker, connection, ready, loaded, html)
        finally:
            with self._lock:
                self._busy = False
                closed = self._worker is None or self._worker[0] is not worker
            if closed:  # stopped or discarded meanwhile: this render's pipe is done with
                connection.close()

    def _render(
        self, worker: BaseProcess, connection: Connection, ready: bool, loaded: LoadedFiling, html: str
    ) -> bytes:
        try:
            if not ready:
                self._receive(connection, START_SECONDS)  # _READY
                with self._lock:
                    self._ready = True
            limit = pdf.PDF_RENDER_SECONDS
            connection.send_bytes(pickle.dumps((loaded, html, limit)))
            received = self._receive(connection, limit + GRACE_SECONDS)
        except TimeoutError:
            self._discard(worker)
            limit_text = f"{pdf.PDF_RENDER_SECONDS:g} s"
            message = f"rendering the PDF took longer than {limit_text} (the limit for one document)"
            raise InputError([Problem(loaded.filing_path.name, None, None, "", message)]) from None
        except (EOFError, OSError):  # killed by stop(), or died
            self._discard(worker)
            if self.stopped:
                raise RenderStopped("the preview is stopping") from None
            raise RuntimeError(f"the PDF rendering process died (exit code {worker.exitcode})") from None
        kind, value = pickle.loads(received)
        if kind == "input":
            raise value
        if kind == "failed":
            raise RuntimeError(f"rendering a PDF failed in its process:\n{value}")
        return value

    def _receive(self, connection: Connection, seconds: float) -> bytes:
        """The next message from the worker, waiting at most `seconds`, and never past stop()."""
        deadline = time.monotonic() + seconds
        while not connection.poll(POLL_SECONDS):
            if self.stopped:
                raise EOFError("stopping")
            if time.monotonic() > deadline:
                raise TimeoutError
        return connection.recv_bytes()

    def _discard(self, worker: BaseProcess) -> None:
        """Kill a worker that timed out or died; the next render starts another."""
        with self._lock:
            if self._worker is not None and self._worker[0] is worker:
                self._worker = None
        if worker.is_alive():
            worker.kill()
        worker.join()

    @property
    def stopped(self) -> bool:
        with self._lock:
            return self._stopped

    def stop(self) -> None:
        """Kill the worker, whatever it is rendering (its request is answered at once), and
        refuse new renders."""
        with self._lock:
            self._stopped = True
            worker, busy = self._worker, self._busy
            self._worker = None
        if worker is not None:
            process, connection = worker
            if process.is_alive():
                process.kill()
            process.join()
            if not busy:  # else the render waiting on it closes it as it ends
                connection.close()
