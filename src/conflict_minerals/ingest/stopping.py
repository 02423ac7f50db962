"""Stopping a run on SIGTERM or SIGINT: promptly, with its workers killed and nothing half-written.

While `stop_on_signals` is active, SIGTERM (what `timeout` and CI send) and SIGINT (Ctrl-C)
raise `Interrupted` in the main thread, so every `finally` on the way out runs: the worker
pools are killed and the staging folder is removed. Inside `held()` (writing the outputs) a
signal waits until the block ends, so the outputs are either all old or all new.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(BaseException):
    """The run was stopped by a signal. A BaseException, so no `except Exception` stops it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.outputs_written = False

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _Stopper:
    def __init__(self) -> None:
        self.holding = 0
        self.pending: int | None = None
        self.stopping = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            return  # already on the way out: a second signal must not break the cleanup
        if self.holding:
            self.pending = signum
            return
        self.stopping = True
        raise Interrupted(signum)

    def release(self) -> None:
        self.holding -= 1
        if not self.holding and self.pending is not None and not self.stopping:
            self.stopping = True
            raise Interrupted(self.pending)


_stopper: _Stopper | None = None


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise Interrupted while the block runs (main thread only)."""
    global _stopper
    if threading.current_thread() is not threading.main_thread():
        yield  # Python runs signal handlers in the main thread only; the defaults stay
        return
    stopper, outer = _Stopper(), _stopper
    previous = {number: signal.signal(number, stopper.handle) for number in STOP_SIGNALS}
    _stopper = stopper
    try:
        yield
    finally:
        _stopper = outer
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """A stop signal that arrives inside the block takes effect when the block ends."""
    stopper = _stopper
    if stopper is None:
        yield
        return
    stopper.holding += 1
    try:
        yield
    finally:
        stopper.release()
