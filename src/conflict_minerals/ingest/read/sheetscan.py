"""The streaming sheet reader: the cells a cell map needs, read straight from the sheet XML.

A supplier's CMRT holds a few dozen filled rows under about 2,500 formatted template rows, each
with some twenty styled or formula cells: calamine parses all of them (most of a read's time).
This reader does not parse the XML. It inflates the sheet and finds, at C speed, the closing
`</v>` tags (cached values) with one regular expression run over the sheet's bytes reversed,
so that each match starts at a value and reads its cell backwards: the value, the `<v>` tag,
an optional formula and the cell's start tag with its address. The column test is part of
the pattern, so a template row costs no Python work at all; only the cells of the columns the
cell maps use (`PLANNED_COLUMNS`) come back to Python. Shared strings are read only for the
indices those cells use.

The values are calamine's, cell for cell (python-calamine's `to_python`): numbers as floats,
numbers with a date or time format as date, datetime, time or timedelta, booleans, error
values and empty cells as "", shared and inline strings (rich text runs joined, phonetic runs
left out, `_xHHHH_` escapes, line ends and surrounding white space as calamine treats them).
Anything it does not recognise (another XML layout, a comment or CDATA in the sheet, a cell
without an address, an unusual type or number, a part not where Excel puts it) raises
ScanUnsupported: the whole workbook is then read with calamine, and the reason goes into the
details. tests/test_sheetscan.py compares the two readers on every corpus workbook and on
generated sheets of each shape.
"""

from __future__ import annotations

import math
import re
import struct
import zipfile
import zlib
from array import array
from collections.abc import Callable, Iterator
from datetime import datetime, time, timedelta
from functools import cache, lru_cache
from operator import itemgetter
from typing import Any

try:  # ISA-L inflates about twice as fast as zlib; the bytes are the same
    from isal import isal_zlib as _inflater
except ImportError:  # pragma: no cover - isal is a dependency, zlib is the fallback
    _inflater = zlib  # type: ignore[assignment]

from .cellmap import available_families, load_cellmap
from .reader import Limits, Sheet, checked_bytes, column_index

XLS = "an .xls workbook"  # not a reason to note: calamine reads every .xls


class ScanUnsupported(Exception):
    """The workbook holds something the streaming reader does not handle; read it with calamine."""


# ----- which cells are kept -----

# Cells that detect.py reads before the cell map is known (the version and the template's title).
DETECT_COLUMNS = {"Declaration": "DJN", "Smelter List": "Q"}


@cache
def planned_columns() -> dict[str, frozenset[int]]:
    """Sheet name -> the column indices any cell map (or template detection) reads there."""
    plan: dict[str, set[str]] = {sheet: set(letters) for sheet, letters in DETECT_COLUMNS.items()}
    for family in available_families():
        cellmap = load_cellmap(family)
        declaration = cellmap.declaration
        letters = {_letters(address) for address in declaration.company.values()}
        letters |= {_letters(question.cell) for question in declaration.company_questions}
        letters.add(declaration.answer_column)
        if declaration.comment_column:
            letters.add(declaration.comment_column)
        if declaration.minerals.mode == "labels":
            letters.add(declaration.minerals.label_column)
        plan.setdefault(declaration.sheet, set()).update(letters)
        for table in (cellmap.smelter_list, cellmap.product_list, cellmap.smelter_lookup):
            if table is not None:
                plan.setdefault(table.sheet, set()).update(table.columns.values())
    return {sheet: frozenset(column_index(letter) for letter in letters) for sheet, letters in plan.items()}


def _letters(address: str) -> str:
    match = re.match(r"[A-Z]+", address)
    if match is None:
        raise ValueError(f"not a cell address: {address!r}")
    return match[0]


def _column_name(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        name = chr(65 + remainder) + name
    return name


# ----- the reversed-cell patterns -----

# Everything below is matched on the sheet's bytes reversed: '<c r="B7" t="s"><v>12</v></c>'
# reads '>c/<>v/<21>v<>"s"=t "7B"=r c<'. Each pattern starts at a closing tag of a value (the
# regex engine jumps between occurrences of that literal at C speed) and walks back to the
# cell's start tag, which must be as Excel and the other common writers write it: `<c r="..."`
# first. A value not laid out so still matches, through the last alternative, with the `odd`
# group set: the scan then gives up rather than skip a cell. Groups: value (or inline string),
# the attributes after r, the row, the column when it is a kept one, odd.
_FORMULA = rb"(?:>f/<[^<]*>[^<>]*(?<=[\s>/])f<|>/[^<>]*(?<=[\s/])f<)?"
_START_TAG = rb'>([^<>]*)"([0-9]+)(?:(%s)|[A-Z]{1,3})"=r c<'


def _kept(columns: frozenset[int]) -> bytes:
    return b"|".join(_column_name(c)[::-1].encode() for c in sorted(columns, reverse=True))


@cache
def _value_pattern(columns: frozenset[int]) -> re.Pattern[bytes]:
    return re.compile(
        rb'>v/<(?:([^<]*)>(?:"evreserp"=ecaps:lmx )?v<'
        + _FORMULA
        + _START_TAG % _kept(columns)
        + rb"|(?=([\s\S])))"
    )


@cache
def _inline_pattern(columns: frozenset[int]) -> re.Pattern[bytes]:
    return re.compile(
        rb">si/<(?:([\s\S]*?)>si<(?:>v/<[^<]*>v<)?"
        + _FORMULA
        + _START_TAG % _kept(columns)
        + rb"|(?=([\s\S])))"
    )


# Only in the sheet data: a comment or CDATA section (calamine skips or reads them differently),
# or an inline string (read by the second pattern).
_SPECIAL = re.compile(rb"</is>|<!")
_COMMENT = re.compile(rb"<!")
_ODD = itemgetter(4)
_KEPT = itemgetter(3)
_ATTRIBUTES = re.compile(rb'\s*([A-Za-z_:][\w:.-]*)="([^"<]*)"')
_NUMBER = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INDEX = re.compile(rb"[0-9]{1,9}")
_ERRORS = frozenset(
    {b"#DIV/0!", b"#N/A", b"#NAME?", b"#NULL!", b"#NUM!", b"#REF!", b"#VALUE!", b"#GETTING_DATA"}
)


# ----- the zip parts -----

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")


def _compressed(
    data: bytes, archive: zipfile.ZipFile, name: str
) -> tuple[zipfile.ZipInfo, memoryview] | None:
    """A part's entry and its compressed bytes; None if the zip has no such part. Stored and
    deflated parts only (all a workbook holds)."""
    try:
        member = archive.getinfo(name)
    except KeyError:
        return None
    if member.flag_bits & 0x1 or member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ScanUnsupported(f"part {name} is encrypted or compressed in an unusual way")
    if not 0 <= member.header_offset <= len(data) - _LOCAL_HEADER.size:
        raise ScanUnsupported(f"part {name} has no readable header")
    header = _LOCAL_HEADER.unpack_from(data, member.header_offset)
    if header[0] != b"PK\x03\x04":
        raise ScanUnsupported(f"part {name} has no readable header")
    start = member.header_offset + _LOCAL_HEADER.size + header[10] + header[11]
    return member, memoryview(data)[start : start + member.compress_size]


def _part(data: bytes, archive: zipfile.ZipFile, name: str) -> bytes | None:
    """A part's inflated bytes, checked against its size and CRC-32; None if there is none."""
    found = _compressed(data, archive, name)
    if found is None:
        return None
    member, body = found
    try:
        content = (
            bytes(body) if member.compress_type == zipfile.ZIP_STORED else _inflater.decompress(body, -15)
        )
    except Exception as error:  # zlib.error, isal's IsalError
        raise ScanUnsupported(f"part {name} cannot be inflated ({error})") from None
    if len(content) != member.file_size or _inflater.crc32(content) != member.CRC:
        raise ScanUnsupported(f"part {name} does not match its size or checksum")
    return content


# A sheet is inflated about this many bytes at a time, each piece cut just before a <row> tag,
# so that a 5 MB Smelter List never sits in memory whole (nor its reversed copy). A worker's
# memory keeps the high-water mark of its reads: a quarter of a megabyte costs no more time than
# a megabyte did (the pattern runs over the same bytes) and takes 3 MB less a worker.
_PIECE_BYTES = 256 * 1024
# The compressed bytes go to the inflater this many at a time: what it leaves unused comes back
# as a copy (its unconsumed tail), and a copy of the whole rest of a sheet would take as much
# memory again as a piece.
_INPUT_BYTES = 64 * 1024
_MAX_PROLOGUE = 16 * 1024 * 1024


def _pieces(data: bytes, archive: zipfile.ZipFile, name: str) -> Iterator[bytes]:
    """A sheet part's inflated bytes in pieces that end just before a `<row` (or at the end);
    after the last, the size and CRC-32 are checked (ScanUnsupported: the cells read are not used)."""
    found = _compressed(data, archive, name)
    if found is None:
        raise ScanUnsupported(f"the sheet's part {name} is missing")
    member, body = found
    inflater = _inflater.decompressobj(-15) if member.compress_type == zipfile.ZIP_DEFLATED else None
    size, crc, carry, offset = 0, 0, b"", 0
    pending: Any = b""  # input given to the inflater that it has not used yet
    while True:
        if inflater is None:
            piece = bytes(body[offset : offset + _PIECE_BYTES])
            offset += len(piece)
        else:
            if not pending and not inflater.eof:
                pending = body[offset : offset + _INPUT_BYTES]
                offset += len(pending)
            try:
                piece = inflater.decompress(pending, _PIECE_BYTES)
            except Exception as error:  # zlib.error, isal's IsalError
                raise ScanUnsupported(f"part {name} cannot be inflated ({error})") from None
            pending = inflater.unconsumed_tail
        more = pending or (offset < len(body) and not (inflater is not None and inflater.eof))
        if not piece and not more:
            break
        size += len(piece)
        crc = _inflater.crc32(piece, crc)
        if size > member.file_size:
            break
        carry += piece
        cut = carry.rfind(b"<row")
        if cut > 0:
            yield carry[:cut]
            carry = carry[cut:]
    if size != member.file_size or crc != member.CRC or (inflater is not None and not inflater.eof):
        raise ScanUnsupported(f"part {name} does not match its size or checksum")
    yield carry


def _xml_text(part: bytes, name: str) -> bytes:
    """The part without its XML declaration, refusing encodings other than UTF-8."""
    if part.startswith(b"\xef\xbb\xbf"):
        part = part[3:]
    if part.startswith(b"<?xml"):
        end = part.find(b"?>")
        declaration = part[:end].lower()
        if end < 0 or (b"encoding" in declaration and b"utf-8" not in declaration):
            raise ScanUnsupported(f"part {name} is not UTF-8 XML")
        return part[end + 2 :]
    if part[:1] != b"<" and part.lstrip()[:1] != b"<":
        raise ScanUnsupported(f"part {name} is not XML")
    return part


# ----- text -----

_ENTITY = re.compile(rb"&([^;&<]{0,10});")
_NAMED = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"', b"apos": "'"}
_EXCEL_ESCAPE = re.compile(r"_x00(\+[0-9A-Fa-f]|[0-9A-Fa-f]{2})_")


def _entity(match: re.Match[bytes]) -> str:
    name = match[1]
    if name in _NAMED:
        return _NAMED[name]
    try:
        if name[:2] in (b"#x", b"#X"):
            return chr(int(name[2:], 16))
        if name[:1] == b"#":
            return chr(int(name[1:], 10))
    except ValueError:
        pass
    raise ScanUnsupported(f"unknown XML entity &{name.decode('ascii', 'replace')};")


def xml_text(raw: bytes) -> str:
    """Character data as an XML parser gives it: line ends folded to LF, entities replaced."""
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if b"&" in raw:
        pieces = []
        last = 0
        for match in _ENTITY.finditer(raw):
            pieces.append(_decode(raw[last : match.start()]))
            pieces.append(_entity(match))
            last = match.end()
        tail = raw[last:]
        if b"&" in tail:
            raise ScanUnsupported("a stray '&' in the text")
        pieces.append(_decode(tail))
        return "".join(pieces)
    return _decode(raw)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScanUnsupported("text that is not UTF-8") from None


def _excel_unescape(value: str) -> str:
    """Excel writes a control character such as CR as `_x000D_` (and a literal `_x` as `_x005F_x`)."""
    if "_x00" not in value:
        return value
    return _EXCEL_ESCAPE.sub(lambda match: chr(int(match[1], 16)), value)


_PHONETIC = re.compile(rb"<rPh(?:\s[^>]*)?>[\s\S]*?</rPh>|<rPh(?:\s[^>]*)?/>")
_TEXT = re.compile(rb"<t(\s[^>]*)?(?:/>|>([^<]*)</t>)")


def rich_text(item: bytes) -> str:
    """The text of a shared string item or an inline string (the XML inside <si> or <is>): every
    <t> outside a phonetic run (<rPh>), joined; surrounding white space trimmed from a <t> unless
    it says xml:space="preserve"."""
    _check_string_markup(item)
    if b"<rPh" in item:
        item = _PHONETIC.sub(b"", item)
    parts = []
    for attributes, raw in _TEXT.findall(item):
        value = xml_text(raw)
        if not _preserves_space(attributes):
            value = value.strip(" \t\r\n")
        parts.append(_excel_unescape(value))
    return "".join(parts)


_STRING_TAG = re.compile(rb"<(/?)([A-Za-z_][\w:.-]*)")
_STRING_ELEMENTS = frozenset(
    {
        b"r", b"rPr", b"t", b"rPh", b"phoneticPr", b"rFont", b"charset", b"family", b"b", b"i",
        b"strike", b"outline", b"shadow", b"condense", b"extend", b"color", b"sz", b"u",
        b"vertAlign", b"scheme",
    }
)  # fmt: skip


def _check_string_markup(item: bytes) -> None:
    """Refuse a string holding elements that are not text runs (or a CDATA section, a comment)."""
    if b"<!" in item or b"<?" in item:
        raise ScanUnsupported("a string holds a comment, CDATA or a processing instruction")
    for _, name in _STRING_TAG.findall(item):
        if name not in _STRING_ELEMENTS:
            raise ScanUnsupported(f"a string holds an unexpected <{name.decode('ascii', 'replace')}> element")


def _preserves_space(attributes: bytes) -> bool:
    return any(
        name == b"xml:space" and value == b"preserve" for name, value in _ATTRIBUTES.findall(attributes)
    )


# ----- number formats -----


def is_date_format(code: str) -> str | None:
    """calamine's reading of a custom number format: "datetime", "timedelta" or None."""
    escaped = is_quote = ampm = hms = False
    brackets = 0
    previous = " "
    for char in code:
        if escaped:
            escaped = False
        elif char in "_\\*":
            escaped = True
        elif is_quote:
            if char == '"':
                is_quote = False
        elif char == '"':
            is_quote = True
        elif char == ";":
            return None
        elif char == "[":
            brackets = min(brackets + 1, 255)
        elif char == "]" and brackets == 1 and hms:
            return "timedelta"
        elif char == "]":
            brackets = max(brackets - 1, 0)
        elif char in "aA" and not ampm and brackets == 0:
            ampm = True
        elif brackets == 0 and (char in "pm/PM" if ampm else char in "dmhysDMHYS"):
            return "datetime"
        elif not (hms and char.lower() == previous.lower()):
            hms = previous == "[" and char in "mhsMHS"
        previous = char
    return None


_BUILTIN_DATE_FORMATS = {
    b"14": "datetime", b"15": "datetime", b"16": "datetime", b"17": "datetime", b"18": "datetime",
    b"19": "datetime", b"20": "datetime", b"21": "datetime", b"22": "datetime", b"45": "datetime",
    b"47": "datetime", b"46": "timedelta",
}  # fmt: skip

_NUM_FMT = re.compile(rb"<numFmt\s([^>]*?)/?>")
_XF = re.compile(rb"<xf(?=[\s/>])[^>]*>")
_NUM_FMT_ID = re.compile(rb'\snumFmtId="([^"]*)"')


class CellFormats:
    """The date kind of each cell style (cellXfs in styles.xml), as calamine reads them; a
    style is looked at only when a number in a kept cell uses it."""

    def __init__(self, styles: bytes | None) -> None:
        self.custom: dict[bytes, str | None] = {}
        self.styles: list[bytes] = []
        if styles is None:
            return
        styles = _xml_text(styles, "xl/styles.xml")
        if b"<!" in styles:
            raise ScanUnsupported("xl/styles.xml holds a comment or CDATA")
        numbers_at, cells_at = styles.find(b"<numFmts"), styles.find(b"<cellXfs")
        if numbers_at >= 0:
            if cells_at >= 0 and numbers_at > cells_at:
                raise ScanUnsupported("xl/styles.xml lists its number formats after the cell styles")
            end = styles.find(b"</numFmts>", numbers_at)
            for attributes in _NUM_FMT.findall(styles, numbers_at, end if end >= 0 else len(styles)):
                fields = dict(_ATTRIBUTES.findall(attributes))
                if b"numFmtId" in fields and b"formatCode" in fields:
                    self.custom[fields[b"numFmtId"]] = is_date_format(xml_text(fields[b"formatCode"]))
                elif b"'" in attributes:
                    raise ScanUnsupported("xl/styles.xml has a number format this reader cannot read")
        if cells_at < 0 or styles[cells_at : styles.find(b">", cells_at) + 1].endswith(b"/>"):
            return
        end = styles.find(b"</cellXfs>", cells_at)
        if end < 0:
            raise ScanUnsupported("xl/styles.xml has no end to its cell styles")
        self.styles = _XF.findall(styles, cells_at, end)

    def date_kind(self, style: int) -> str | None:
        if style >= len(self.styles):
            return None
        tag = self.styles[style]
        if b"'" in tag:
            raise ScanUnsupported("xl/styles.xml has a cell style this reader cannot read")
        number_format = _NUM_FMT_ID.search(tag)
        if number_format is None:
            return None
        if number_format[1] in self.custom:
            return self.custom[number_format[1]]
        return _BUILTIN_DATE_FORMATS.get(number_format[1])


# ----- values -----

_EPOCH = datetime(1899, 12, 30)
_DAY_MS = 86_400_000


def _round_half_away(value: float) -> int:
    return math.floor(value + 0.5) if value >= 0 else -math.floor(-value + 0.5)


def excel_date(value: float, kind: str, is_1904: bool) -> Any:
    """A number with a date or duration format, as python-calamine gives it."""
    if kind == "timedelta":
        return timedelta(milliseconds=_round_half_away(value * _DAY_MS))
    serial = value + 1462.0 if is_1904 else value
    serial = serial if serial >= 60.0 else serial + 1.0
    milliseconds = _round_half_away(serial * _DAY_MS)
    if value < 1.0:
        of_day = milliseconds % _DAY_MS
        return time(of_day // 3_600_000, of_day // 60_000 % 60, of_day // 1000 % 60, of_day % 1000 * 1000)
    try:
        moment = _EPOCH + timedelta(milliseconds=milliseconds)
    except OverflowError:
        return value
    if value.is_integer() and value < 2.0**64:
        return moment.date()
    return moment


# ----- the workbook -----

_SHEET = re.compile(rb"<sheet\s([^>]*?)/?>")
_RELATIONSHIP = re.compile(rb"<Relationship\s([^>]*?)/?>")
_WORKBOOK_PR = re.compile(rb"<workbookPr\s([^>]*?)/?>")
_OFFICE_DOCUMENT = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"


def _relationships(part: bytes, name: str) -> dict[bytes, tuple[bytes, bytes]]:
    """Id -> (Type, Target) of a relationships part."""
    text = _xml_text(part, name)
    if b"<!" in text:
        raise ScanUnsupported(f"part {name} holds a comment or CDATA")
    found = {}
    for attributes in _RELATIONSHIP.findall(text):
        fields = dict(_ATTRIBUTES.findall(attributes))
        if b"Id" in fields:
            found[fields[b"Id"]] = (fields.get(b"Type", b""), fields.get(b"Target", b""))
        elif b"'" in attributes:
            raise ScanUnsupported(f"part {name} is written in a way this reader does not follow")
    return found


class ScannedSheet(Sheet):
    """A sheet holding only the planned columns' cells; asking for another column is refused."""

    def __init__(self, name: str, rows: list[list[Any]], columns: frozenset[int]) -> None:
        super().__init__(name, rows)
        self.columns = columns

    def value(self, row: int, column: int) -> Any:
        if column not in self.columns:
            raise ScanUnsupported(f"column {_column_name(column)} of {self.name} was not read")
        return super().value(row, column)


class ScannedWorkbook:
    """The workbook interface of reader.Workbook over the streaming reader."""

    reader = "streaming"

    def __init__(self, data: bytes, archive: zipfile.ZipFile, encrypted: bool) -> None:
        self._data = data
        self._archive = archive
        self.encrypted = encrypted
        self._sheets: dict[str, ScannedSheet] = {}
        self._strings: _StringItems | None = None
        self._resolved: dict[int, str] = {}  # shared string index -> its text
        self._formats: CellFormats | None = None
        self._read_workbook()

    def _read_workbook(self) -> None:
        package = _part(self._data, self._archive, "_rels/.rels")
        if package is None:
            raise ScanUnsupported("the workbook has no package relationships")
        targets = [
            target
            for kind, target in _relationships(package, "_rels/.rels").values()
            if kind == _OFFICE_DOCUMENT
        ]
        if targets not in ([b"xl/workbook.xml"], [b"/xl/workbook.xml"]):
            raise ScanUnsupported("the workbook part is not xl/workbook.xml")
        book = _part(self._data, self._archive, "xl/workbook.xml")
        rels = _part(self._data, self._archive, "xl/_rels/workbook.xml.rels")
        if book is None or rels is None:
            raise ScanUnsupported("the workbook part or its relationships are missing")
        relationships = _relationships(rels, "xl/_rels/workbook.xml.rels")
        text = _xml_text(book, "xl/workbook.xml")
        if b"<!" in text or not text.lstrip().startswith(b"<workbook"):
            raise ScanUnsupported("xl/workbook.xml is written in a way this reader does not follow")
        self.sheet_names: list[str] = []
        self._paths: dict[str, str] = {}
        for attributes in _SHEET.findall(text):
            self._add_sheet(dict(_ATTRIBUTES.findall(attributes)), relationships)
        if text.count(b"<sheet ") != len(self.sheet_names):
            raise ScanUnsupported("xl/workbook.xml lists sheets in a way this reader does not follow")
        settings = _WORKBOOK_PR.search(text)
        flag = dict(_ATTRIBUTES.findall(settings[1])).get(b"date1904") if settings else None
        self.is_1904 = flag in (b"1", b"true")

    def _add_sheet(self, fields: dict[bytes, bytes], relationships: dict[bytes, tuple[bytes, bytes]]) -> None:
        if fields.get(b"state", b"visible") not in (b"visible", b"hidden", b"veryHidden"):
            raise ScanUnsupported("a sheet has an unknown state")
        if b"name" not in fields or b"r:id" not in fields or fields[b"r:id"] not in relationships:
            raise ScanUnsupported("a sheet without a name or a relationship")
        kind, target = relationships[fields[b"r:id"]]
        name = xml_text(fields[b"name"])
        self.sheet_names.append(name)
        if kind.rsplit(b"/", 1)[-1] != b"worksheet":
            return  # a chart or dialog sheet: listed, never read here
        path = target[1:] if target.startswith(b"/") else b"xl/" + target
        if b".." in path or b"\\" in path:
            raise ScanUnsupported("a sheet's part is outside xl/")
        self._paths.setdefault(name, path.decode("utf-8", "replace"))

    def has_sheet(self, name: str) -> bool:
        return name in self.sheet_names

    def sheet(self, name: str) -> Sheet:
        if name not in self._sheets:
            if name not in self._paths:
                raise ScanUnsupported(f"{name} is not a worksheet this reader can find")
            columns = planned_columns().get(name)
            if columns is None:
                raise ScanUnsupported(f"no cell map reads the {name} sheet")
            self._sheets[name] = guarded(lambda: self._scan(name, columns))
        return self._sheets[name]

    # -- one sheet --

    def _scan(self, name: str, columns: frozenset[int]) -> ScannedSheet:
        """The sheet's kept cells, from its XML inflated a piece of whole rows at a time."""
        cells: dict[tuple[int, int], Any] = {}
        state, kept = "head", b""  # head: before <sheetData> (kept: the bytes so far); data; tail
        for piece in _pieces(self._data, self._archive, self._paths[name]):
            start = 0
            if state == "head":
                kept += piece
                at = kept.find(b"<sheetData")
                if at < 0:
                    if len(kept) > _MAX_PROLOGUE:
                        raise ScanUnsupported(f"the {name} sheet has no <sheetData>")
                    continue
                _check_prologue(kept[:at], name)
                piece, kept = kept, b""
                opening = piece.find(b">", at)
                if opening < 0:
                    raise ScanUnsupported(f"the {name} sheet's XML is laid out unusually")
                state, start = ("tail" if piece[opening - 1] == ord("/") else "data"), opening + 1
            if state == "data":
                end = piece.find(b"</sheetData>", start)
                self._scan_rows(piece, start, len(piece) if end < 0 else end, columns, cells, name)
                if end < 0:
                    continue
                state, start = "tail", end
            kept = (kept + piece[start:])[-64:]
        if state != "tail" or not kept.rstrip().endswith(b"</worksheet>"):
            raise ScanUnsupported(f"the {name} sheet's XML is cut short or laid out unusually")
        return ScannedSheet(name, _dense(cells, columns), columns)

    def _scan_rows(
        self,
        piece: bytes,
        start: int,
        stop: int,
        columns: frozenset[int],
        cells: dict[tuple[int, int], Any],
        name: str,
    ) -> None:
        """The kept cells of piece[start:stop], whole rows of the sheet data."""
        if start >= stop:
            return
        special = _SPECIAL.search(piece, start, stop)
        if special is not None and (special[0] == b"<!" or _COMMENT.search(piece, special.end(), stop)):
            raise ScanUnsupported(f"the {name} sheet holds a comment or CDATA")
        backwards = piece[stop - 1 : start - 1 : -1] if start else piece[stop - 1 :: -1]
        found = _value_pattern(columns).findall(backwards)
        if any(map(_ODD, found)):
            raise ScanUnsupported(
                f"a value in the {name} sheet is laid out in a way this reader does not follow"
            )
        for value, attributes, row, column, _ in filter(_KEPT, found):
            self._keep(cells, attributes, row, column, self._value, value[::-1], name)
        if special is not None:  # inline strings
            found = _inline_pattern(columns).findall(backwards)
            if len(found) != piece.count(b"</is>", start, stop) or any(map(_ODD, found)):
                raise ScanUnsupported(f"an inline string in the {name} sheet is laid out unusually")
            for item, attributes, row, column, _ in filter(_KEPT, found):
                self._keep(cells, attributes, row, column, _inline, item[::-1], name)

    def _keep(
        self,
        cells: dict[tuple[int, int], Any],
        attributes: bytes,
        row: bytes,
        column: bytes,
        read: Callable[[dict[bytes, bytes], bytes, str], Any],
        raw: bytes,
        name: str,
    ) -> None:
        """Keep one cell; `attributes` (reversed) are those written after its address."""
        fields = _cell_fields(attributes)
        if fields is None:
            raise ScanUnsupported(f"a cell of the {name} sheet has attributes this reader does not follow")
        position = (int(row[::-1]), _column_number(column))
        if position[0] == 0 or position in cells:
            address = (column + row)[::-1].decode("ascii")
            raise ScanUnsupported(f"cell {address} of the {name} sheet is unusual or written twice")
        try:
            cells[position] = read(fields, raw, name)
        except _Unreadable as problem:
            address = (column + row)[::-1].decode("ascii")
            raise ScanUnsupported(f"cell {address} of the {name} sheet {problem}") from None

    def _value(self, fields: dict[bytes, bytes], raw: bytes, name: str) -> Any:
        kind = fields.get(b"t")
        if kind == b"s" and raw.isdigit() and len(raw) < 10:  # most kept cells: a shared string
            return self._shared_string(int(raw))
        if kind in (b"inlineStr", b"is"):
            return ""  # the value of an inline string is in <is>; a <v> beside it is ignored
        if kind == b"str":
            return _excel_unescape(xml_text(raw))
        if b"&" in raw or b"\r" in raw:
            raise _Unreadable("holds an escaped value")
        if not raw:
            return ""
        if kind == b"s":
            raise _Unreadable("has an unusual shared string index")
        if kind == b"b":
            return raw != b"0"
        if kind == b"e":
            if raw not in _ERRORS:
                raise _Unreadable("holds an unknown error value")
            return ""
        if kind not in (None, b"n"):
            raise _Unreadable("has a type this reader does not handle")
        if _NUMBER.fullmatch(raw) is None:
            raise _Unreadable("holds a number this reader does not parse")
        number = float(raw)
        style = fields.get(b"s")
        if style is None or math.isinf(number) or math.isnan(number):
            return number
        if _INDEX.fullmatch(style) is None:
            raise _Unreadable("has an unusual style")
        date_kind = self._cell_formats().date_kind(int(style))
        return excel_date(number, date_kind, self.is_1904) if date_kind else number

    def _cell_formats(self) -> CellFormats:
        if self._formats is None:
            self._formats = CellFormats(_part(self._data, self._archive, "xl/styles.xml"))
        return self._formats

    def _shared_string(self, index: int) -> str:
        text = self._resolved.get(index)
        if text is None:
            if self._strings is None:
                self._strings = _StringItems(_part(self._data, self._archive, "xl/sharedStrings.xml"))
            if index >= len(self._strings):
                raise _Unreadable("points past the shared strings")
            item = self._strings.item(index)
            end = item.rfind(b"</si>")
            if end < 0:
                raise ScanUnsupported("xl/sharedStrings.xml is laid out unusually")
            text = self._resolved[index] = rich_text(item[:end])
        return text


class _Unreadable(Exception):
    """A kept cell's value the reader does not handle (the message follows the cell's name)."""


_CELL_ATTRIBUTES = re.compile(rb'(?:\s+[A-Za-z_:][\w:.-]*="[^"<]*")*\s*')


@lru_cache(maxsize=1024)
def _cell_fields(reversed_attributes: bytes) -> dict[bytes, bytes] | None:
    """A cell's attributes after its address (given reversed, as the pattern found them), or
    None when they are not all written name="value". Few distinct ones: cached."""
    attributes = reversed_attributes[::-1]
    if _CELL_ATTRIBUTES.fullmatch(attributes) is None:
        return None
    return dict(_ATTRIBUTES.findall(attributes))


@lru_cache(maxsize=1024)
def _column_number(reversed_letters: bytes) -> int:
    return column_index(reversed_letters[::-1].decode("ascii"))


def _inline(fields: dict[bytes, bytes], item: bytes, name: str) -> str:
    return rich_text(item)


def _check_prologue(head: bytes, name: str) -> None:
    """The sheet's root element must be an unprefixed <worksheet>."""
    text = _xml_text(head, name)
    if not text.lstrip().startswith(b"<worksheet") or b"<!" in text:
        raise ScanUnsupported(f"the {name} sheet is written in a way this reader does not follow")


_UNIQUE_COUNT = re.compile(rb'<sst\s[^>]*?uniqueCount="([0-9]+)"')
_ITEM_START = re.compile(rb"<si>")
_match_end = re.Match.end


class _StringItems:
    """Each <si> item's bytes (up to the next item), in order, cut from the part when asked
    for. A CMRT holds some 16,000 shared strings and a read uses a few dozen: as separate
    bytes objects they took 1.5 MB of small objects a workbook, as offsets into the part
    they take 130 KB (the worker's memory keeps the high-water mark of its reads)."""

    def __init__(self, part: bytes | None) -> None:
        self._part = part or b""
        self._starts = array("q", map(_match_end, _ITEM_START.finditer(self._part)))
        declared = _UNIQUE_COUNT.search(self._part, 0, 1000)
        # An item written <si/> or with attributes would shift every later index: unless the
        # count the file declares is the count found, look for one.
        if (declared is None or int(declared[1]) != len(self)) and re.search(rb"<si[\s/]|<!", self._part):
            raise ScanUnsupported("xl/sharedStrings.xml is written in a way this reader does not follow")

    def __len__(self) -> int:
        return len(self._starts)

    def item(self, index: int) -> bytes:
        """Item `index`, as part.split(b"<si>")[1:] would give it (0 <= index < len(self))."""
        end = self._starts[index + 1] - len(b"<si>") if index + 1 < len(self._starts) else len(self._part)
        return self._part[self._starts[index] : end]


def _dense(cells: dict[tuple[int, int], Any], columns: frozenset[int]) -> list[list[Any]]:
    """Rows 1..last as lists up to the last planned column; cells not held are ""."""
    if not cells:
        return []
    width = max(columns) + 1
    rows: list[list[Any]] = [[""] * width for _ in range(max(row for row, _ in cells))]
    for (row, column), value in cells.items():
        rows[row - 1][column] = value
    return rows


def open_scanned(data: bytes, limits: Limits) -> ScannedWorkbook:
    """The workbook for the streaming reader, checked as reader.open_workbook checks it (a
    ReadFailure the same); ScanUnsupported if the streaming reader cannot read this one."""
    data, encrypted, archive = checked_bytes(data, limits)
    if archive is None:
        raise ScanUnsupported(XLS)
    return guarded(lambda: ScannedWorkbook(data, archive, encrypted))


def guarded(step: Callable[[], Any]) -> Any:
    """Run a read step; an unexpected error in the streaming reader becomes ScanUnsupported, so
    the workbook is read with calamine instead of being reported as damaged."""
    try:
        return step()
    except ScanUnsupported:
        raise
    except (ValueError, KeyError, IndexError, TypeError, UnicodeError, zlib.error, OverflowError) as error:
        raise ScanUnsupported(f"the streaming reader failed ({type(error).__name__}: {error})") from None
