"""Open a supplier workbook safely and read cells by address.

One small interface over python-calamine. Before calamine sees a file it is checked:
zip bombs (total and per-member expansion), XML entity declarations (billion laughs,
external entities), and OLE containers, which are either legacy .xls files or workbooks
encrypted with Excel's default password "VelvetSweatshop" (decrypted with msoffcrypto-tool).
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from python_calamine import CalamineWorkbook

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
DEFAULT_PASSWORD = "VelvetSweatshop"


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 64 * 1024 * 1024
    max_uncompressed_bytes: int = 256 * 1024 * 1024
    max_member_ratio: int = 200  # real CMRTs expand about 12:1
    max_members: int = 5_000
    entity_probe_bytes: int = 4096


class ReadTimeout(BaseException):
    """Raised by the per-file time limit. A BaseException so that no `except Exception` in the
    reading code can mistake it for a damaged file."""


class ReadFailure(Exception):
    """The file cannot be read; `code` is the finding code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_CELL = re.compile(r"([A-Z]{1,3})([0-9]+)")


def column_index(letters: str) -> int:
    index = 0
    for char in letters:
        index = index * 26 + (ord(char) - 64)
    return index - 1


def parse_address(address: str) -> tuple[int, int]:
    """'D8' -> (row 8, column index 3)."""
    match = _CELL.fullmatch(address)
    if match is None:
        raise ValueError(f"not a cell address: {address!r}")
    return int(match[2]), column_index(match[1])


class Sheet:
    """A sheet's cached values; rows and columns are addressed as in Excel (row 1 = first)."""

    def __init__(self, name: str, rows: list[list[Any]]) -> None:
        self.name = name
        self.rows = rows

    def value(self, row: int, column: int) -> Any:
        if row < 1 or row > len(self.rows):
            return None
        values = self.rows[row - 1]
        return values[column] if column < len(values) else None

    def cell(self, address: str) -> Any:
        return self.value(*parse_address(address))

    @property
    def row_count(self) -> int:
        return len(self.rows)


class Workbook:
    reader = "calamine"

    def __init__(self, book: CalamineWorkbook, encrypted: bool) -> None:
        self._book = book
        self.encrypted = encrypted
        self.sheet_names: list[str] = list(book.sheet_names)
        self._sheets: dict[str, Sheet] = {}

    def has_sheet(self, name: str) -> bool:
        return name in self.sheet_names

    def sheet(self, name: str) -> Sheet:
        if name not in self._sheets:
            rows = self._book.get_sheet_by_name(name).to_python(skip_empty_area=False)
            self._sheets[name] = Sheet(name, rows)
        return self._sheets[name]


def check_zip(data: bytes, limits: Limits) -> zipfile.ZipFile:
    """Refuse archives that expand too far, and XML that declares entities; the archive."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ReadFailure("file-corrupt", f"not a readable .xlsx file (broken zip: {error})") from None
    if len(members) > limits.max_members:
        raise ReadFailure("file-refused", f"the archive has {len(members)} parts; refusing to read it")
    total = sum(m.file_size for m in members)
    if total > limits.max_uncompressed_bytes:
        raise ReadFailure(
            "file-refused",
            f"the archive would expand to {total // 1_048_576} MiB (limit "
            f"{limits.max_uncompressed_bytes // 1_048_576} MiB): possible zip bomb",
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > 1_048_576 and ratio > limits.max_member_ratio:
            raise ReadFailure(
                "file-refused",
                f"part {member.filename} expands {ratio:.0f}:1 (limit {limits.max_member_ratio}:1): "
                "possible zip bomb",
            )
    for member in members:
        if not _parsed_part(member.filename):
            continue
        try:
            head = _head(data, archive, member, limits.entity_probe_bytes)
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError) as error:
            raise ReadFailure("file-corrupt", f"part {member.filename} is damaged ({error})") from None
        if b"<!ENTITY" in head or b"<!DOCTYPE" in head:
            raise ReadFailure(
                "file-refused",
                f"part {member.filename} declares XML entities (a DOCTYPE); refusing to read it",
            )
    return archive


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile's structFileHeader
_LOCAL_SIGNATURE = b"PK\x03\x04"
_STORED, _DEFLATED = 0, 8
_ENCRYPTED_FLAG, _UTF8_FLAG = 0x1, 0x800


def _head(data: bytes, archive: zipfile.ZipFile, member: zipfile.ZipInfo, size: int) -> bytes:
    """The first `size` bytes of a part. Stored and deflated parts (all a workbook holds) are
    unpacked straight from the file's bytes: zipfile's stream objects cost more than the
    inflating itself, for each of the forty-odd parts of a CMRT. The local header is checked
    as zipfile checks it (signature, and the name the central directory gives); anything
    else (encryption, another compression) goes through zipfile."""
    encrypted = member.flag_bits & _ENCRYPTED_FLAG
    if encrypted or member.compress_type not in (_STORED, _DEFLATED):
        with archive.open(member) as stream:
            return stream.read(size)
    if not 0 <= member.header_offset <= len(data) - _LOCAL_HEADER.size:
        raise zipfile.BadZipFile("the part's header lies outside the file")
    header = _LOCAL_HEADER.unpack_from(data, member.header_offset)
    name_length, extra_length = header[10], header[11]
    if header[0] != _LOCAL_SIGNATURE:
        raise zipfile.BadZipFile("bad magic number for file header")
    name_start = member.header_offset + _LOCAL_HEADER.size
    encoding = "utf-8" if header[3] & _UTF8_FLAG else "cp437"
    if data[name_start : name_start + name_length] != member.orig_filename.encode(encoding):
        raise zipfile.BadZipFile("the file name in the directory and in the part's header differ")
    start = name_start + name_length + extra_length
    body = memoryview(data)[start : start + member.compress_size]
    if member.compress_type == _STORED:
        return bytes(body[:size])
    return zlib.decompressobj(-15).decompress(body, size)


def _parsed_part(name: str) -> bool:
    """XML parts a workbook reader parses: where an entity declaration could do harm."""
    return (
        name.endswith(".rels")
        or name == "[Content_Types].xml"
        or (name.startswith("xl/") and name.count("/") == 1 and name.endswith(".xml"))
        or (name.startswith("xl/worksheets/") and name.endswith(".xml"))
    )


def decrypt_ole(data: bytes) -> tuple[bytes, bool]:
    """An OLE file is an .xls workbook or an encrypted one; decrypt with Excel's default password."""
    import msoffcrypto
    from msoffcrypto.exceptions import DecryptionError, FileFormatError, InvalidKeyError

    try:
        office = msoffcrypto.OfficeFile(io.BytesIO(data))
        if not office.is_encrypted():
            return data, False
        office.load_key(password=DEFAULT_PASSWORD)
        plain = io.BytesIO()
        office.decrypt(plain)
        return plain.getvalue(), True
    except (InvalidKeyError, DecryptionError):
        raise ReadFailure(
            "file-password",
            "the workbook is protected with a password; ask the supplier for an unprotected copy",
        ) from None
    except (FileFormatError, Exception) as error:  # msoffcrypto raises many kinds on bad input
        raise ReadFailure("file-corrupt", f"damaged Office file ({type(error).__name__}: {error})") from None


def read_limited(path: str, limits: Limits) -> bytes:
    """A file's bytes, refusing what is not a regular file, or too large, before reading it.

    Opened without blocking, so a FIFO that replaced the file since it was found cannot hang
    the reader, and never read past the size limit, so /dev/zero cannot fill the memory."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise ReadFailure("file-refused", "refused: it is not a regular file")
        size = status.st_size
        with os.fdopen(os.dup(descriptor), "rb") as stream:
            # Asked for its size (plus one byte, to see it grew), not the limit: a buffer of the
            # limit's size would be allocated, and its pages faulted in, for every file.
            data = stream.read(min(size, limits.max_file_bytes) + 1)
            if len(data) > size:  # it grew since: read on, still never past the limit
                data += stream.read(limits.max_file_bytes + 1 - len(data))
    finally:
        os.close(descriptor)
    if len(data) > limits.max_file_bytes:
        raise ReadFailure("file-refused", f"the file is over {limits.max_file_bytes} bytes (the limit)")
    return data


def checked_bytes(data: bytes, limits: Limits) -> tuple[bytes, bool, zipfile.ZipFile | None]:
    """A workbook's bytes, decrypted and checked (the streaming reader, sheetscan.py, starts
    here too): (bytes, whether they were encrypted, the zip archive of an .xlsx or None)."""
    if len(data) > limits.max_file_bytes:
        raise ReadFailure("file-refused", f"the file is {len(data)} bytes (limit {limits.max_file_bytes})")
    if len(data) == 0:
        raise ReadFailure("file-corrupt", "the file is empty")
    encrypted = False
    if data.startswith(OLE_MAGIC):
        data, encrypted = decrypt_ole(data)
    if data.startswith(ZIP_MAGIC):
        return data, encrypted, check_zip(data, limits)
    if not data.startswith(OLE_MAGIC):
        raise ReadFailure("file-corrupt", "not an Excel workbook (neither .xlsx nor .xls content)")
    return data, encrypted, None


def open_workbook(data: bytes, limits: Limits | None = None) -> Workbook:
    # Imported here, by the worker that needs it: most workbooks are read by the streaming
    # reader (sheetscan.py), and calamine's library loaded in the command's own process kept
    # a megabyte there for the whole run.
    from python_calamine import CalamineWorkbook

    data, encrypted, _ = checked_bytes(data, limits or Limits())
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except Exception as error:  # calamine raises its own error types for bad workbooks
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "password" in text.lower():
            raise ReadFailure("file-password", "the workbook is protected with a password") from None
        raise ReadFailure("file-corrupt", f"the workbook cannot be read ({text})") from None
    return Workbook(book, encrypted)


# ----- value normalisation -----

_SPACES = re.compile(r"[\t\r\n\u00a0]+")


def text(value: Any) -> str | None:
    """Cell text with TAB padding and line breaks folded; empty, and a cached 0, become None.

    Formula columns whose look-up source is empty cache as 0 in real files, so a 0 in a
    text column means "nothing".
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, (int, float)):
        if value == 0:
            return None
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    cleaned = _SPACES.sub(" ", str(value)).strip()
    if cleaned in ("", "0"):
        return None
    return cleaned


def multiline_text(value: Any) -> str | None:
    """Like text(), but line breaks are kept (as "\n"), each line trimmed and blank lines dropped."""
    if not isinstance(value, str):
        return text(value)
    lines = (text(line) for line in value.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    kept = [line for line in lines if line]
    return "\n".join(kept) or None


def cell_date(value: Any) -> tuple[date | None, str | None]:
    """A date cell as written: a datetime, an Excel serial number or text like 02-May-2024."""
    if value is None or value == "":
        return None, None
    if isinstance(value, datetime):
        return value.date(), value.date().isoformat()
    if isinstance(value, date):
        return value, value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 20_000 < value < 80_000:  # Excel serial days since 1899-12-30
            from datetime import timedelta

            day = date(1899, 12, 30) + timedelta(days=int(value))
            return day, str(value)
        return None, str(value)
    raw = text(value)
    if raw is None:
        return None, None
    return parse_date_text(raw), raw


_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1
    )
}


def parse_date_text(raw: str) -> date | None:
    cleaned = raw.strip().replace(",", " ")
    formats = [
        r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})",
        r"(?P<d>\d{1,2})[-/. ](?P<mon>[A-Za-z]{3,9})[-/. ]+(?P<y>\d{4})",
        r"(?P<mon>[A-Za-z]{3,9})[ .-]+(?P<d>\d{1,2})[ .-]+(?P<y>\d{4})",
        r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})",
        r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})",
    ]
    for pattern in formats:
        match = re.fullmatch(pattern, cleaned.split(" 00:00")[0].strip())
        if not match:
            continue
        parts = match.groupdict()
        month = int(parts["m"]) if parts.get("m") else _MONTHS.get((parts.get("mon") or "")[:3].lower())
        if not month:
            continue
        try:
            return date(int(parts["y"]), month, int(parts["d"]))
        except ValueError:
            return None
    return None


_CID = re.compile(r"CID[\s\-_#:]*0*([0-9]{1,6})", re.IGNORECASE)


def normalise_cid(value: Any) -> str | None:
    """'CID 000801', 'cid-2514', 'CID002514 ' -> 'CID000801', 'CID002514'."""
    raw = text(value)
    if raw is None:
        return None
    match = _CID.fullmatch(raw.strip())
    if match is None:
        return None
    return f"CID{int(match[1]):06d}"
