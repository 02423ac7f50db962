"""Watching the filing's folder for saved changes, with watchfiles.

The folder is watched, not the files: editors save by writing a new file and renaming it over
the old one, which a watch on the old file would miss. `RustNotify` (watchfiles' documented
Rust backend) is used directly because its constructor returns only once the watches are in
place, so a change made just after `start()` is never missed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from watchfiles import Change, DefaultFilter
from watchfiles._rust_notify import RustNotify

# Changes are grouped until the folder has been quiet for STEP_MS (an editor's save is a few
# events within a millisecond or two), and for at most DEBOUNCE_MS while changes keep coming.
STEP_MS = 20
DEBOUNCE_MS = 400
# How often the watch loop looks at the stop flag when nothing changes.
TIMEOUT_MS = 200

# Version control folders, editor swap and backup files, caches: never an input of the filing.
_IGNORED = DefaultFilter()


class FolderWatcher:
    """Calls `on_change` (in its own thread) with the paths changed under `folder`."""

    def __init__(
        self, folder: Path, on_change: Callable[[set[Path]], None], log: Callable[[str], None]
    ) -> None:
        self.folder = folder.resolve()
        self._on_change = on_change
        self._log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._notify: RustNotify | None = None

    def start(self) -> None:
        self._notify = RustNotify([str(self.folder)], False, False, 300, True, True)
        self._thread = threading.Thread(target=self._run, name="cmr-serve-watch", daemon=False)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._notify is not None:
            self._notify.close()

    def _run(self) -> None:
        assert self._notify is not None
        while not self._stop.is_set():
            try:
                raw = self._notify.watch(DEBOUNCE_MS, STEP_MS, TIMEOUT_MS, self._stop)
            except Exception as error:  # the folder was removed or became unreadable
                self._log(f"cmr serve: stopped watching {self.folder}: {error}; pages no longer reload")
                return
            if isinstance(raw, str):  # "stop", "timeout" or "signal": look at the flag again
                continue
            changed = {Path(path) for change, path in raw if _IGNORED(Change(change), path)}
            if changed:
                self._on_change(changed)
