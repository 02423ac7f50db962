"""Writing outputs so nothing is lost: each file appears whole or not at all.

A build renders everything in memory first; only then are files replaced. `replace_together`
writes every file to a temporary beside it first (a full disk or a read-only folder fails
here, before anything visible has changed), then renames them into place with the manifest
last, and puts the old files back if a rename fails. A lock keeps two builds from writing the
same folder at once: an flock on the folder itself, so the build leaves no file of its own
beside the outputs.

Temporaries are named `.cmr-XXXXXXXX.tmp` (eight random characters): a later run removes
files with exactly that shape and nothing else, so a user's own `.notes.tmp` survives.

Helper processes (ingest's readers, build's PDF renderers) call `die_with_parent`, so none
outlives the command that started it, however that command ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import re
import secrets
import signal
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .problems import InputError, Problem, display_path

# The lock file of earlier versions, removed when found (the folder itself is locked now).
LEGACY_LOCK_NAME = ".cmr.lock"
TEMP_PREFIX = ".cmr-"
TEMP_SUFFIX = ".tmp"
# tempfile.mkstemp's random part is eight of [a-z0-9_]; backups use eight hex digits.
_OWN_TEMPORARY = re.compile(r"\.cmr-[a-z0-9_]{8}\.tmp")


class OutputBusy(Exception):
    pass


def rename_target(path: Path) -> Path:
    """The path with its folder resolved but not its last part: what a rename would replace
    (a symlink of that name is replaced, not followed)."""
    return path.parent.resolve() / path.name


def _naming(error: OSError, path: Path) -> OSError:
    """The same error, naming the output it was for (a full disk says only "No space left")."""
    return OSError(error.errno, error.strerror or str(error), str(path))


def _unlink_quietly(path: Path | str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def stage_file(path: Path, data: bytes) -> Path:
    """Write `data` to a new temporary beside `path`, flushed to disk; the caller renames it."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as error:
        raise _naming(error, path) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
    except BaseException as error:
        _unlink_quietly(temporary)
        if isinstance(error, OSError):
            raise _naming(error, path) from None
        raise
    return Path(temporary)


def write_atomic(path: Path, data: bytes) -> None:
    temporary = stage_file(path, data)
    try:
        os.replace(temporary, path)
    except BaseException as error:
        _unlink_quietly(temporary)
        if isinstance(error, OSError):
            raise _naming(error, path) from None
        raise


def kind_of(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def not_replaceable(path: Path) -> str | None:
    """What is at an output path that cmr must not replace: a folder, a FIFO, a socket or a
    device (`/dev/null` given as --out would otherwise be renamed over, and gone). None when
    the path is free, a regular file, or a symlink (a rename replaces the link itself and
    never touches what it points to)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as error:  # a part of the path is not a folder, a name too long...
        return f"cannot be used ({error.strerror or error})"
    if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        return None
    return f"is {kind_of(mode)}, not a regular file; cmr replaces only regular files"


def not_a_folder(path: Path) -> str | None:
    """Why an output folder that exists cannot be used as one (None: free or a folder)."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # a parent that is not a folder says so itself
        return None
    except OSError as error:
        return f"cannot be used as a folder ({error.strerror or error})"
    return (
        None
        if stat.S_ISDIR(mode)
        else f"is {kind_of(mode)}, not a folder; cmr cannot write its outputs in it"
    )


def refuse_unusable_outputs(files: Iterable[Path], folders: Iterable[Path] = ()) -> None:
    """Before any work: an InputError naming every output file that exists and is not a
    regular file (a device, a FIFO, a socket, a folder), and every output folder that exists
    and is not a folder."""
    problems = [
        Problem(display_path(folder), None, None, "", why)
        for folder in folders
        if (why := not_a_folder(folder)) is not None
    ]
    problems += [
        Problem(display_path(path), None, None, "", f"{why}: remove it, or write the output elsewhere")
        for path in dict.fromkeys(files)
        if (why := not_replaceable(path)) is not None
    ]
    if problems:
        raise InputError(problems)


def _refuse_folder(path: Path) -> None:
    """An output name taken by a folder, a FIFO, a socket or a device (someone else's) is an
    error, never renamed away."""
    if (why := not_replaceable(path)) is not None:
        raise OSError(errno.EEXIST, why, str(path))


def _set_aside(path: Path) -> Path | None:
    """Keep the current file under a temporary name so it can be put back (None: no file).

    A hard link keeps the file in place meanwhile; where links are not supported, it is renamed."""
    if not os.path.lexists(path):
        return None
    while True:
        backup = path.parent / f"{TEMP_PREFIX}{secrets.token_hex(4)}{TEMP_SUFFIX}"
        try:
            os.link(path, backup, follow_symlinks=False)
            return backup
        except FileExistsError:
            continue
        except OSError:
            os.replace(path, backup)
            return backup


class _Commit:
    """The renames done so far, to undo them if a later one fails."""

    def __init__(self) -> None:
        self.done: list[tuple[Path, Path | None]] = []  # (target, its old content set aside)

    def replace(self, temporary: Path, target: Path) -> None:
        backup = _set_aside(target)
        self.done.append((target, backup))
        os.replace(temporary, target)

    def remove(self, target: Path) -> None:
        backup = _set_aside(target)
        if backup is not None:
            self.done.append((target, backup))
            _unlink_quietly(target)  # after a hard link the file is still in place

    def undo(self) -> None:
        for target, backup in reversed(self.done):
            with contextlib.suppress(OSError):
                if backup is None:
                    os.unlink(target)
                else:
                    os.replace(backup, target)
                    # rename() does nothing when both names are links to one file: drop the spare.
                    _unlink_quietly(backup)

    def forget_backups(self) -> None:
        for _, backup in self.done:
            if backup is not None:
                _unlink_quietly(backup)


def replace_together(files: dict[Path, bytes], remove: Iterable[Path] = (), last: Path | None = None) -> None:
    """Replace several files as one change: all of them (and `remove` deleted), or none.

    Every file is first written to a temporary, so a full disk or a read-only folder fails
    before any output has changed. Then the temporaries are renamed into place, the files
    in `remove` are deleted, and `last` (the manifest) is renamed last: once it appears, every
    file it lists is in place. If a rename fails, the renames already done are undone.
    A process killed during the renames leaves each file old or new, and the old manifest,
    whose sha256 sums then expose any file that is already new."""
    order = sorted(files, key=lambda path: path == last)
    staged: dict[Path, Path] = {}
    try:
        for path in order:
            path.parent.mkdir(parents=True, exist_ok=True)
            _refuse_folder(path)
            staged[path] = stage_file(path, files[path])
        commit = _Commit()
        steps = [(staged[p], p) for p in order if p != last] + [(None, p) for p in remove]
        if last is not None and last in staged:
            steps.append((staged[last], last))
        target = last
        try:
            for temporary, target in steps:
                if temporary is None:
                    commit.remove(target)
                else:
                    commit.replace(temporary, target)
                    del staged[target]
        except BaseException as error:
            commit.undo()
            if isinstance(error, OSError):
                raise _naming(error, target or Path(error.filename or "")) from None
            raise
        commit.forget_backups()
    finally:
        for temporary in staged.values():
            _unlink_quietly(temporary)


def clear_stale_temporaries(folder: Path) -> None:
    """Remove temporary files a killed run left behind: only names this module makes.

    Called with the folder's lock held, so no other cmr process is writing there."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if _OWN_TEMPORARY.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                _unlink_quietly(entry.path)


@contextlib.contextmanager
def locked_folder(folder: Path) -> Iterator[None]:
    """Hold `folder`'s lock: an exclusive flock on the folder itself (its directory inode), so
    no lock file sits beside the outputs a user sends on, and two processes that open the same
    folder always contend for the same lock (there is no file to create, so no race in
    creating one)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise _naming(error, folder) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputBusy(_busy(folder)) from None
        except OSError as error:  # a file system without flock on folders
            raise _naming(error, folder) from None
        with _legacy_lock(folder):
            clear_stale_temporaries(folder)
            yield
    finally:
        os.close(handle)  # closing the descriptor releases the lock


def _busy(folder: Path) -> str:
    return f"{folder} is being written by another cmr process; try again when it ends"


@contextlib.contextmanager
def _legacy_lock(folder: Path) -> Iterator[None]:
    """Earlier versions locked an empty `.cmr.lock` file in the folder. One left there is ours to
    remove; while an older cmr still holds it, that process is writing the folder (busy)."""
    lock_path = folder / LEGACY_LOCK_NAME
    try:
        # Never opened unless it is a regular file: opening a device can act on it (a tape rewinds).
        if not stat.S_ISREG(os.lstat(lock_path).st_mode):
            raise FileNotFoundError(lock_path)
        # Not following a symlink, not waiting on a FIFO, and never creating one.
        handle = os.open(lock_path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        yield  # none there (or not a file we could have made): nothing to do
        return
    try:
        info = os.fstat(handle)
        if stat.S_ISREG(info.st_mode) and info.st_size == 0:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OutputBusy(_busy(folder)) from None
            _unlink_quietly(lock_path)
        yield
    finally:
        os.close(handle)


@contextlib.contextmanager
def locked_folders(folders: Iterable[Path]) -> Iterator[None]:
    """Hold the lock of every folder, taken in one order (by real path) so that two runs
    sharing folders never wait on each other."""
    with contextlib.ExitStack() as stack:
        for folder in sorted({folder.resolve() for folder in folders}):
            stack.enter_context(locked_folder(folder))
        yield


def write_locked(
    folder: Path,
    files: dict[Path, bytes],
    *,
    stale: Callable[[], Iterable[Path]] = list,
    last: Path | None = None,
    clean: Iterable[Path] = (),
) -> list[Path]:
    """Write `files` into `folder` as one change (`replace_together`) with the folder's lock held.

    `stale` is asked under the lock (it may read what an earlier run wrote) for the files to
    remove; `clean` names sub-folders whose leftover temporaries are removed too (the folder's
    own are removed by taking the lock). Returns the files removed."""
    with locked_folder(folder):
        for sub in clean:
            if sub.is_dir():
                clear_stale_temporaries(sub)
        removed = list(stale())
        replace_together(files, remove=removed, last=last)
    return removed


def address_space() -> int | None:
    """The process's current address space in bytes (Linux), or None where it cannot be read."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this helper process when the process that started it (`parent`)
    dies, however it dies (SIGKILL included), so no helper is left behind parented to init."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
