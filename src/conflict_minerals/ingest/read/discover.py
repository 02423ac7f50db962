"""Find the supplier workbooks in a folder; every odd entry becomes a finding, never a crash.

Discovery only looks at directory entries and their metadata (lstat/stat): it never opens a
file, so a FIFO or a device named like a workbook cannot block it, and no byte of a supplier
file is parsed here. Folders are walked without following links to folders, so a link loop
cannot make the walk endless.

File names are shown as `printable` makes them: what cannot be decoded as UTF-8 (a name
written on another system) and control characters are written as \\xNN, so every report
(YAML, JSON, CSV, HTML, the terminal) can carry every name.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ...problems import display_path
from ..models import Finding, FindingSeverity, UnreadableWorkbook
from .runner import WORKBOOK_SUFFIXES, Job

# Characters that could reorder or hide the text around them on screen (bidirectional
# overrides, line separators), besides the C0/C1 controls: escaped like undecodable bytes.
_INVISIBLE = {0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def printable(name: str) -> str:
    """A file name as reports show it, unambiguously and in valid Unicode.

    Bytes that are not UTF-8 (Python keeps them as surrogate escapes) become \\xNN with the
    byte's value, control characters \\xNN or \\uNNNN, and a backslash \\\\. Everything else
    is kept as typed."""
    out = []
    for char in os.fsencode(name).decode("utf-8", "surrogateescape"):
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif code in _INVISIBLE:
            out.append(f"\\u{code:04x}")
        elif char == "\\":
            out.append("\\\\")
        else:
            out.append(char)
    return "".join(out)


@dataclass
class Discovery:
    """What a suppliers folder holds."""

    jobs: list[Job] = field(default_factory=list)  # workbooks to read
    refused: list[UnreadableWorkbook] = field(default_factory=list)  # entries that cannot be read
    duplicates: list[UnreadableWorkbook] = field(default_factory=list)  # links to a workbook found
    notes: list[Finding] = field(default_factory=list)  # odd entries that lose nothing

    @property
    def entries(self) -> int:
        return len(self.jobs) + len(self.refused) + len(self.duplicates)


def _entry_finding(file: str, code: str, severity: FindingSeverity, message: str) -> UnreadableWorkbook:
    finding = Finding(code=code, severity=severity, file=file, message=message)
    return UnreadableWorkbook(file=file, sha256=None, size=None, finding=finding)


def refused(file: str, reason: str) -> UnreadableWorkbook:
    return _entry_finding(file, "file-refused", FindingSeverity.ERROR, f"refused: {reason}")


def _unreadable(file: str, reason: str) -> UnreadableWorkbook:
    return _entry_finding(file, "file-unreadable", FindingSeverity.ERROR, reason)


def duplicate(file: str, original: str, how: str, digest: str | None = None) -> UnreadableWorkbook:
    message = f"{how} {original}, which is read already; it counts as one supplier response"
    finding = Finding(code="file-duplicate", severity=FindingSeverity.WARNING, file=file, message=message)
    return UnreadableWorkbook(file=file, sha256=digest, size=None, finding=finding)


_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _not_a_file(mode: int) -> str | None:
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return None


def _is_workbook_name(name: str) -> bool:
    # "~$name.xlsx" is the owner file Excel keeps beside a workbook it has open, not a workbook.
    return name.lower().endswith(WORKBOOK_SUFFIXES) and not name.startswith("~$")


@dataclass(frozen=True)
class _Entry:
    relative: str  # as the OS gives it (surrogate escapes for undecodable bytes)
    path: str
    is_link: bool
    mode: int  # of the entry itself (lstat)
    identity: tuple[int, int]  # (device, inode) of the entry itself

    @property
    def is_workbook_file(self) -> bool:
        return not self.is_link and stat.S_ISREG(self.mode) and _is_workbook_name(self.relative)


def _walk(folder: str, prefix: str, found: list[_Entry], failures: list[UnreadableWorkbook]) -> None:
    """Every entry under `folder`; links to folders are listed, not followed."""
    try:
        with os.scandir(folder) as listing:
            children = sorted(listing, key=lambda e: e.name)
    except OSError as error:
        name = printable(prefix.rstrip("/") or ".")
        failures.append(_unreadable(f"{name}/", f"cannot list this folder: {error.strerror}"))
        return
    for child in children:
        relative = prefix + child.name
        try:
            status = child.stat(follow_symlinks=False)
        except OSError as error:
            failures.append(_unreadable(printable(relative), f"cannot read the entry: {error.strerror}"))
            continue
        mode = status.st_mode
        found.append(_Entry(relative, child.path, stat.S_ISLNK(mode), mode, (status.st_dev, status.st_ino)))
        if stat.S_ISDIR(mode):
            _walk(child.path, relative + "/", found, failures)


def discover(folder: Path) -> Discovery:
    """Workbook files under `folder`, sorted by their path in it, and a finding for every entry
    named like a workbook that is not one: links that lead nowhere or outside the folder, FIFOs
    and devices, folders, and second names (links, hard links) for a workbook already found."""
    root = folder.resolve()
    entries: list[_Entry] = []
    result = Discovery()
    _walk(str(folder), "", entries, result.refused)
    entries.sort(key=lambda e: e.relative)
    # A workbook reached through a link is the workbook itself when its own name is listed too:
    # the real name is read and the link is the duplicate, whichever sorts first.
    owners: dict[tuple[int, int], str] = {}
    for entry in entries:
        if entry.is_workbook_file:
            owners.setdefault(entry.identity, entry.relative)
    for entry in entries:
        if entry.is_link:
            _link(entry, root, owners, result)
        elif _is_workbook_name(entry.relative):
            _plain(entry, owners, result)
    return result


def _plain(entry: _Entry, owners: dict[tuple[int, int], str], result: Discovery) -> None:
    file = printable(entry.relative)
    if stat.S_ISDIR(entry.mode):
        result.notes.append(
            Finding(
                code="entry-folder",
                severity=FindingSeverity.INFO,
                file=file,
                message="a folder named like a workbook; the workbooks inside it are read one by one",
            )
        )
        return
    kind = _not_a_file(entry.mode)
    if kind is not None:
        result.refused.append(refused(file, f"it is {kind}, not a regular file"))
        return
    owner = owners[entry.identity]
    if owner != entry.relative:
        result.duplicates.append(duplicate(file, printable(owner), "another name (a hard link) for"))
        return
    result.jobs.append(Job(entry.path, file, None))


def _link(entry: _Entry, root: Path, owners: dict[tuple[int, int], str], result: Discovery) -> None:
    file = printable(entry.relative)
    try:
        real = Path(entry.path).resolve(strict=True)
        target = os.stat(entry.path)
    except (OSError, RuntimeError):  # a missing target, or a loop of links
        if _is_workbook_name(entry.relative):
            result.refused.append(
                _unreadable(file, "it is a link that leads nowhere (a missing target or a loop)")
            )
        return
    inside = real.is_relative_to(root)
    if stat.S_ISDIR(target.st_mode):
        if not inside:
            reason = (
                "it is a link to a folder outside the suppliers folder; the workbooks in it were not read"
            )
            result.refused.append(refused(f"{file}/", reason))
        elif _is_workbook_name(entry.relative):
            message = "a link to a folder in the suppliers folder; its workbooks are read where they are"
            result.notes.append(
                Finding(code="entry-folder", severity=FindingSeverity.INFO, file=file, message=message)
            )
        return
    if not _is_workbook_name(entry.relative):
        return
    if not inside:
        result.refused.append(refused(file, "it is a link to a file outside the suppliers folder"))
        return
    kind = _not_a_file(target.st_mode)
    if kind is not None:
        result.refused.append(refused(file, f"it is a link to {kind}, not to a regular file"))
        return
    identity = (target.st_dev, target.st_ino)
    if identity in owners:
        result.duplicates.append(duplicate(file, printable(owners[identity]), "a link to"))
        return
    owners[identity] = entry.relative  # the first link to a file not itself named like a workbook
    result.jobs.append(Job(entry.path, file, None))


def folder_name(folder: Path) -> str:
    """The suppliers folder as reports name it."""
    return printable(display_path(folder))
