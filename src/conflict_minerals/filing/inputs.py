"""Reading a file the user named, so that no such file can hang or exhaust the tool.

`Path.read_bytes()` on a FIFO waits for a writer forever, on `/dev/zero` (or a symlink to it)
it fills memory, and on a folder it raises a traceback. Every file a user names (the filing,
the survey, the CSS, an override template or asset, a build folder's manifest and documents)
is read here instead: opened without blocking, refused unless it is a regular file, and read
up to a size limit. A failure is an `InputError` naming the file, for the usual
`file[:line]: what is wrong` message.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ..outputs import kind_of
from ..problems import InputError, Problem, display_path

# Limits for files the documents are made from. Real CSS, templates, built HTML and
# manifests are well under 1 MB; assets (fonts, logos) under a few MB.
MAX_TEXT_BYTES = 20 * 1024 * 1024
MAX_ASSET_BYTES = 64 * 1024 * 1024

_READ_CHUNK = 1024 * 1024


def input_problem(path: Path | str, message: str, line: int | None = None) -> InputError:
    return InputError([Problem(_shown(path), line, None, "", message)])


def _shown(path: Path | str) -> str:
    if isinstance(path, str):
        return path
    try:
        return display_path(path)
    except (OSError, RuntimeError):  # a symlink loop cannot be resolved
        return str(path)


def _open_failure(error: OSError) -> str:
    if error.errno == errno.ENOENT:
        return "file not found"
    if error.errno == errno.ENOTDIR:
        return "file not found (a part of the path is not a folder)"
    if error.errno == errno.ELOOP:
        return "cannot read file: a symlink loop"
    return f"cannot read file: {error.strerror or error}"


def kind_of_file(path: Path) -> str | None:
    """Why `path` cannot be read as a file the user named (`file not found`, `is a named pipe
    (FIFO), not a file`), without opening it; None for a regular file."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError) as error:
        return _open_failure(error) if isinstance(error, OSError) else "not a usable path"
    return None if stat.S_ISREG(mode) else f"is {kind_of(mode)}, not a file"


def read_input_file(path: Path, limit: int, display: str | None = None) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or an InputError naming it."""
    shown = display if display is not None else path
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the name
        reason = _open_failure(error) if isinstance(error, OSError) else "cannot read file: not a usable path"
        raise input_problem(shown, reason) from None
    try:
        mode = os.fstat(handle).st_mode
        if not stat.S_ISREG(mode):
            raise input_problem(shown, f"is {kind_of(mode)}, not a file")
        return _read_capped(handle, limit, shown)
    except OSError as error:
        raise input_problem(shown, f"cannot read file: {error.strerror or error}") from None
    finally:
        os.close(handle)


def _read_capped(handle: int, limit: int, shown: Path | str) -> bytes:
    size = os.fstat(handle).st_size
    if size > limit:
        raise input_problem(shown, f"file is too large ({size} bytes; limit {limit})")
    chunks: list[bytes] = []
    total = 0
    while True:
        # One byte past the limit tells a file that grew while it was read.
        chunk = os.read(handle, min(_READ_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise input_problem(shown, f"file is too large (more than {limit} bytes)")


def decode_text(data: bytes, shown: Path | str) -> str:
    """UTF-8 text (a leading BOM dropped), or an InputError giving the line of the bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        message = f"not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start})"
        raise input_problem(shown, message, line) from None


def read_input_text(path: Path, limit: int = MAX_TEXT_BYTES, display: str | None = None) -> str:
    return decode_text(read_input_file(path, limit, display), display if display is not None else path)
