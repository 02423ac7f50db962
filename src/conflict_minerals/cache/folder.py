"""The user's cache folder, shared by the ingest cache and the render cache, and its size bound.

Each cache keeps its entries as files with its own suffix under its own folder; after a run
that stored something, `trim` removes the least recently used entries (by modification time,
which a cache hit refreshes) until the folder is back under the bound. Only regular files with
that suffix, in the cache's own folder tree, are ever removed (and the temporaries of
outputs.write_atomic that a killed run left there, once they are an hour old).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

DEFAULT_LIMIT_BYTES = 512 * 1024 * 1024
LIMIT_VARIABLE = "CMR_CACHE_LIMIT_MB"
# Trimmed down to this share of the bound, so that a run just over it does not trim every time.
TRIM_TO = 0.8
# write_atomic's temporaries (outputs.py); one left by a killed run goes once it is this old.
_OWN_TEMPORARY = re.compile(r"\.cmr-[a-z0-9_]{8}\.tmp")
STALE_TEMPORARY_SECONDS = 3600


def user_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "conflict-minerals"


def cache_limit() -> int:
    """Bytes each cache may hold: CMR_CACHE_LIMIT_MB (MiB) when set to a number, else 512 MiB."""
    raw = os.environ.get(LIMIT_VARIABLE, "").strip()
    if raw.isdigit():
        return int(raw) * 1024 * 1024
    return DEFAULT_LIMIT_BYTES


def _entries(folder: Path, suffix: str) -> list[tuple[float, int, str]]:
    """(last used, size, path) of every entry under `folder`, symlinks not followed; the
    temporaries a killed run left (over an hour old) are removed on the way."""
    found = []
    pending = [str(folder)]
    stale = time.time() - STALE_TEMPORARY_SECONDS
    while pending:
        try:
            with os.scandir(pending.pop()) as listing:
                for entry in listing:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif not entry.is_file(follow_symlinks=False):
                        continue
                    elif entry.name.endswith(suffix):
                        with contextlib.suppress(OSError):
                            status = entry.stat(follow_symlinks=False)
                            found.append((status.st_mtime, status.st_size, entry.path))
                    elif _OWN_TEMPORARY.fullmatch(entry.name):
                        with contextlib.suppress(OSError):
                            if entry.stat(follow_symlinks=False).st_mtime < stale:
                                os.unlink(entry.path)
        except OSError:
            continue
    return found


def trim(folder: Path, limit: int, suffix: str) -> int:
    """Remove the least recently used entries until the folder holds at most `limit` bytes (then
    down to TRIM_TO of it); the bytes removed."""
    entries = _entries(folder, suffix)
    total = sum(size for _, size, _ in entries)
    if total <= limit:
        return 0
    removed = 0
    for _, size, path in sorted(entries):
        if total - removed <= limit * TRIM_TO:
            break
        with contextlib.suppress(OSError):
            os.unlink(path)
            removed += size
    return removed
