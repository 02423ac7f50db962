"""Writing outputs so nothing is lost: each file appears whole or not at all.

A build renders everything in memory first; only then are files replaced, each through a
temporary file in the same folder and an atomic rename. A lock keeps two builds from
writing the same folder at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".cmr.lock"


class OutputBusy(Exception):
    pass


def write_atomic(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def clear_stale_temporaries(folder: Path) -> None:
    """Remove temporary files a killed run left behind. Called with the folder's lock held, so
    no other cmr process is writing there."""
    for leftover in folder.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()


@contextlib.contextmanager
def locked_folder(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_NAME, "a+b") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputBusy(
                f"{folder} is being written by another cmr process; try again when it ends"
            ) from None
        try:
            clear_stale_temporaries(folder)
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
