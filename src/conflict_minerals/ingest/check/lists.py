"""The lists `cmr ingest` reads besides the workbooks: smelter reference, RMAP status, roster.

CSV headers are matched loosely (case, spaces, punctuation ignored) against the names RMI's
exports and common vendor tools use; the accepted names are listed in HEADERS and in the
README. Every problem is reported with the file, line and column name. A list must be a
regular file of UTF-8 text (a byte-order mark is fine) and well-formed CSV: anything else is
a `file:line: what is wrong` error, never a guess at the encoding and never a row lost to an
unbalanced quote.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ...filing.characters import REFUSED, describe, replace_invalid
from ...filing.survey import RmapStatus
from ...problems import InputError, Problem
from ..read.reader import normalise_cid, parse_date_text, text

HEADERS = {
    "cid": [
        "cid",
        "smelter id",
        "smelter identification",
        "smelter identification number",
        "facility id",
        "rmi id",
        "smelter reference id",
    ],
    "metal": ["metal", "mineral", "metal mineral"],
    "name": ["smelter name", "standard smelter name", "facility name", "smelter_name", "name"],
    "country": ["country", "smelter country", "country location", "facility country", "location"],
    "status": ["status", "rmap status", "assessment status", "audit status", "conformance status"],
    "as_of": ["as of", "as_of", "status date", "as of date", "list date", "date"],
    "supplier": ["supplier", "supplier name", "company", "company name", "vendor", "vendor name"],
    "file": ["file", "file name", "filename", "workbook"],
    "supplier_id": [
        "supplier id",
        "supplier number",
        "vendor id",
        "vendor number",
        "company unique id",
        "unique id",
    ],
    "contact_name": ["contact name", "contact", "contact person"],
    "contact_email": ["contact email", "email", "e mail", "email address", "contact e mail"],
}

# RMAP and industry status words -> the report's categories (and a note for the "Other" ones).
STATUS_WORDS = {
    "conformant": (RmapStatus.CONFORMANT, None),
    "cross recognized": (RmapStatus.CONFORMANT, "Cross-recognized"),
    "crossrecognized": (RmapStatus.CONFORMANT, "Cross-recognized"),
    "conformant cross recognized": (RmapStatus.CONFORMANT, "Cross-recognized"),
    "active": (RmapStatus.ACTIVE, None),
    "in process": (RmapStatus.ACTIVE, None),
    "non conformant": (RmapStatus.NON_CONFORMANT, None),
    "nonconformant": (RmapStatus.NON_CONFORMANT, None),
    "not conformant": (RmapStatus.NON_CONFORMANT, None),
    "not enrolled": (RmapStatus.NOT_ENROLLED, None),
    "not participating": (RmapStatus.NOT_ENROLLED, None),
}


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", header.lower()).strip()


def _columns(headers: list[str], wanted: list[str], required: list[str], file: str) -> dict[str, int]:
    found: dict[str, int] = {}
    keys = [_key(h) for h in headers]
    for name in wanted:
        for alias in HEADERS[name]:
            if _key(alias) in keys:
                found[name] = keys.index(_key(alias))
                break
    missing = [name for name in required if name not in found]
    if missing:
        expected = "; ".join(f"{name}: one of {', '.join(HEADERS[name])}" for name in missing)
        raise InputError([Problem(file, 1, None, "", f"missing column(s) - expected {expected}")])
    return found


def _records(path: Path, wanted: list[str], required: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {column name: stripped text}) for each non-empty row of a CSV list."""
    headers, rows = _read_csv(path)
    columns = _columns(headers, wanted, required, str(path))
    for line, row in rows:
        cell = {name: (row[index].strip() if index < len(row) else "") for name, index in columns.items()}
        if any(cell.values()):
            yield line, cell


def _cid(cell: dict[str, str], path: Path, line: int, problems: list[Problem]) -> str | None:
    cid = normalise_cid(cell["cid"])
    if cid is None:
        problems.append(Problem(str(path), line, None, "cid", f"not a smelter ID: {cell['cid']!r}"))
    return cid


MAX_LIST_BYTES = 64 * 1024 * 1024  # RMI's lists are a few hundred kilobytes


def _problem(path: Path, message: str, line: int | None = None, column: int | None = None) -> InputError:
    return InputError([Problem(str(path), line, column, "", message)])


def _read_list_bytes(path: Path) -> bytes:
    """The bytes of a list, refusing folders, FIFOs and devices before reading (a FIFO would
    block, /dev/zero would never end)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise _problem(path, "file not found") from None
    except OSError as error:
        raise _problem(path, f"cannot read: {error.strerror}") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise _problem(path, "is a folder, not a CSV file")
        if not stat.S_ISREG(mode):
            raise _problem(path, "is not a regular file (a FIFO or a device?); give a CSV file")
        with os.fdopen(os.dup(descriptor), "rb") as stream:
            raw = stream.read(MAX_LIST_BYTES + 1)
    except OSError as error:
        raise _problem(path, f"cannot read: {error.strerror}") from None
    finally:
        os.close(descriptor)
    if len(raw) > MAX_LIST_BYTES:
        raise _problem(path, f"the file is over {MAX_LIST_BYTES // 1_048_576} MiB (the limit for a list)")
    return raw


def _decode(path: Path, raw: bytes) -> str:
    body = raw[len(codecs.BOM_UTF8) :] if raw.startswith(codecs.BOM_UTF8) else raw
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        offset = error.start + len(raw) - len(body)
        line = raw.count(b"\n", 0, offset) + 1
        column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
        message = (
            f'not UTF-8 text (byte 0x{raw[offset]:02x}); save the list as "CSV UTF-8" '
            "so that no name is misread"
        )
        raise _problem(path, message, line, column) from None
    if (bad := REFUSED.search(text)) is not None:
        # A list is the user's own file: refused, as in the filing (characters.py).
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        message = f"holds {describe(bad[0])}, which no Word, EDGAR or CMRT file can hold; remove it"
        raise _problem(path, message, line, column)
    return text


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header row and the (first line, cells) of every other row."""
    reader = csv.reader(io.StringIO(_decode(path, _read_list_bytes(path)), newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as error:
        if "unexpected end of data" in str(error):
            raise _problem(
                path, "a quoted field opened here is never closed (an unbalanced '\"')", start
            ) from None
        raise _problem(path, f"not valid CSV: {error}", reader.line_num) from None
    if not rows:
        raise _problem(path, "the file is empty")
    return rows[0][1], rows[1:]


@dataclass(frozen=True)
class ReferenceEntry:
    cid: str
    metal: str
    name: str
    country: str | None
    aliases: frozenset[str] = frozenset()


@dataclass
class ReferenceList:
    source: str
    entries: dict[str, ReferenceEntry] = field(default_factory=dict)

    def get(self, cid: str | None) -> ReferenceEntry | None:
        return self.entries.get(cid) if cid else None


def reference_from_csv(path: Path) -> ReferenceList:
    reference = ReferenceList(source=path.name)
    problems: list[Problem] = []
    for line, cell in _records(path, ["cid", "metal", "name", "country"], ["cid", "metal", "name"]):
        cid = _cid(cell, path, line, problems)
        if cid is None:
            continue
        reference.entries[cid] = ReferenceEntry(
            cid=cid, metal=cell["metal"].lower(), name=cell["name"], country=cell.get("country") or None
        )
    if problems:
        raise InputError(problems)
    return reference


def reference_from_lookup_rows(
    source: str, rows: list[tuple[str, str, str, str | None, str]]
) -> ReferenceList:
    """From a template's Smelter Look-up: (metal, look-up name, standard name, country, CID) rows;
    look-up names sharing a CID are kept as aliases of its standard name."""
    aliases: dict[str, set[str]] = {}
    reference = ReferenceList(source=source)
    for metal, lookup_name, name, country, cid in rows:
        # A template's look-up is a stranger's text too: shown with U+FFFD where a character no
        # output may hold was (checking.py reports it for the default reference list).
        lookup_name, name = replace_invalid(lookup_name), replace_invalid(name)
        country = replace_invalid(country) if country is not None else None
        aliases.setdefault(cid, set()).add(lookup_name)
        if cid not in reference.entries:
            reference.entries[cid] = ReferenceEntry(cid=cid, metal=metal.lower(), name=name, country=country)
    for cid, entry in reference.entries.items():
        reference.entries[cid] = ReferenceEntry(
            cid=cid,
            metal=entry.metal,
            name=entry.name,
            country=entry.country,
            aliases=frozenset(aliases[cid]),
        )
    return reference


@dataclass(frozen=True)
class StatusEntry:
    status: RmapStatus
    note: str | None


@dataclass
class StatusList:
    source: str
    as_of: date
    entries: dict[str, StatusEntry]


def status_category(word: str) -> tuple[RmapStatus, str | None]:
    key = _key(word)
    if key in STATUS_WORDS:
        return STATUS_WORDS[key]
    return RmapStatus.OTHER, word.strip()


def read_status_list(path: Path, as_of: date | None) -> StatusList:
    entries: dict[str, StatusEntry] = {}
    dates: set[date] = set()
    problems: list[Problem] = []
    for line, cell in _records(path, ["cid", "metal", "status", "as_of"], ["cid", "status"]):
        cid = _cid(cell, path, line, problems)
        if cid is None:
            continue
        if not cell["status"]:
            problems.append(Problem(str(path), line, None, "status", "empty status"))
            continue
        if cell.get("as_of"):
            parsed = parse_date_text(cell["as_of"])
            if parsed is None:
                problems.append(Problem(str(path), line, None, "as_of", f"not a date: {cell['as_of']!r}"))
            else:
                dates.add(parsed)
        status, note = status_category(cell["status"])
        entries[cid] = StatusEntry(status, note)
    if problems:
        raise InputError(problems)
    if as_of is None:
        if not dates:
            raise InputError(
                [
                    Problem(
                        str(path),
                        1,
                        None,
                        "",
                        "no as-of date column; give the list's date with --status-as-of",
                    )
                ]
            )
        as_of = max(dates)
    return StatusList(source=path.name, as_of=as_of, entries=entries)


@dataclass(frozen=True)
class RosterEntry:
    """One row of the roster: a supplier surveyed, and optionally the file it answered with, its
    ID (rows sharing an ID are one supplier: several names or files for one company) and whom
    to write to."""

    supplier: str
    file: str | None
    supplier_id: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    line: int = 0


def read_roster(path: Path) -> list[RosterEntry]:
    wanted = ["supplier", "file", "supplier_id", "contact_name", "contact_email"]
    return [
        RosterEntry(
            cell["supplier"],
            cell.get("file") or None,
            cell.get("supplier_id") or None,
            cell.get("contact_name") or None,
            cell.get("contact_email") or None,
            line,
        )
        for line, cell in _records(path, wanted, ["supplier"])
        if cell["supplier"]
    ]


# Legal-form words dropped from the end of a company name before names are compared
# ("Central Glass Co., Ltd." and "CENTRAL GLASS CO LTD" are one company). Only at the end: a
# word such as "company" inside a name is part of it.
LEGAL_FORMS = tuple(
    sorted(
        {
            "inc", "incorporated", "ltd", "limited", "llc", "llp", "lp", "co", "corp", "corporation",
            "company", "gmbh", "ag", "kg", "kgaa", "sa", "s a", "sas", "s a s", "sarl", "srl", "s r l",
            "spa", "s p a", "bv", "b v", "nv", "n v", "plc", "pte", "pty", "oy", "ab", "as", "kk", "k k",
            "sdn bhd", "bhd", "tbk", "pvt", "private", "holdings",
        },
        key=len,
        reverse=True,
    )
)  # fmt: skip


def company_key(name: str | None) -> str:
    """A company name compared without case, punctuation, spacing or a legal-form suffix."""
    key = _key(text(name) or "")
    changed = True
    while changed and key:
        changed = False
        for suffix in LEGAL_FORMS:
            if key.endswith(" " + suffix):
                key, changed = key[: -len(suffix) - 1].rstrip(), True
                break
    return key


def id_key(value: str | None) -> str:
    """A company ID (DUNS, a tax number...) compared without case, spaces or punctuation."""
    return re.sub(r"[^0-9a-z]+", "", (text(value) or "").casefold())
