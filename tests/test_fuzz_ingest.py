"""Property-based fuzzing of `cmr ingest`'s workbook reader with mutated real supplier CMRTs.

Every mutation starts from a real supplier-filled CMRT 6.4 .xlsx or the encrypted CMRT 3.01 .xls in
shared/cmrt-corpus: truncation, byte flips in the zip/OLE structure, byte flips inside a sheet's XML,
a missing sheet, wrong value types in every cell the parser reads, megabyte strings and thousands of
smelter rows. Whatever the damage, `read_supplier_bytes` must return a SupplierWorkbook or an
UnreadableWorkbook that names the file with a known finding code, within READ_SECONDS, and
`check_workbook` must not raise on what it returns.

Reads run in a separate process (with the same address-space limit as `cmr ingest`'s workers), so a
Rust panic, an abort or a hang inside calamine fails one example instead of killing or stalling the
whole session. Mutated workbooks are built by editing the XML text directly and re-zipping: openpyxl
needs over two seconds per load/save of these 1.6 MB files, so it is used only for one prebuilt file.

The tests named test_bug_* are focused reproductions of bugs the fuzzing found in src/ (each failed
when it was written); they state the behaviour that must hold once the bug is fixed.
"""

from __future__ import annotations

import contextlib
import functools
import io
import multiprocessing
import random
import re
import resource
import signal
import string
import struct
import time
import traceback
import warnings
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conflict_minerals.cli import app
from conflict_minerals.ingest.check.checks import CODES, CheckContext, check_workbook
from conflict_minerals.ingest.check.lists import reference_from_csv
from conflict_minerals.ingest.models import Finding, RowKind, SupplierWorkbook, UnreadableWorkbook
from conflict_minerals.ingest.read import extract
from conflict_minerals.ingest.read import runner as ingest_runner
from conflict_minerals.ingest.read.extract import read_supplier_bytes

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cmrt-corpus"
REFERENCE = CORPUS / "smelter-reference-6.5.csv"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared/cmrt-corpus is not available")

MINERAL_SYSTEM = "wwww13wwww__mineral-system__"
GIGA = f"{MINERAL_SYSTEM}RMI_CMRT_6.4_20240426_CG20240510_giga.xlsx"
SK = f"{MINERAL_SYSTEM}RMI_CMRT_6.4_20240509_WF6__SK.xlsx"
PKG = f"{MINERAL_SYSTEM}RMI_CMRT_6.4_PKG_DE00_20240710.xlsx"
MERCK = f"{MINERAL_SYSTEM}RMI_WF6_CMRT_6.4_Apr2024_Merck.xlsx"
XLS = "ldenevi__ddm__3.01_-_filled.xls"  # CMRT 3.01, encrypted with Excel's default password
XLSX_BASES = (GIGA, SK, PKG, MERCK)
ALL_BASES = (*XLSX_BASES, XLS)

READ_SECONDS = 10.0  # every read_supplier_bytes call (and every check_workbook call) must finish in this
HANG_SECONDS = 60.0  # the reading process is killed after this long and the example fails as a hang

FUZZ = settings(
    derandomize=True,  # the same examples on every run, so CI is reproducible
    database=None,
    deadline=timedelta(seconds=15),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    print_blob=False,
)


# ----- reading in a separate process -----


@dataclass
class Outcome:
    """What one read in the reading process gave."""

    result: SupplierWorkbook | UnreadableWorkbook | None = None
    findings: list[Finding] = field(default_factory=list)
    read_seconds: float = 0.0
    check_seconds: float = 0.0
    raised: str | None = None  # read_supplier_bytes raised this
    check_raised: str | None = None  # check_workbook raised this
    crashed: int | None = None  # the reading process died with this exit code
    hung: bool = False


def _describe(error: BaseException) -> str:
    kind = f"{type(error).__module__}.{type(error).__qualname__}"
    return f"{kind}: {error}\n{''.join(traceback.format_exception(error))}"


def _reading_process(connection: Any, reference: str) -> None:
    # Like `cmr ingest`'s workers: a hostile file must get MemoryError (or die), not swamp the machine.
    limit = ingest_runner.WORKER_MEMORY_BYTES
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    context = CheckContext(reference_from_csv(Path(reference)), 2024, date(2024, 12, 31))
    while True:
        try:
            job = connection.recv()
        except EOFError:
            return
        if job is None:
            return
        data, name = job
        outcome = Outcome()
        started = time.perf_counter()
        try:
            outcome.result = read_supplier_bytes(data, name)
        except BaseException as error:  # exactly what the test looks for
            outcome.raised = _describe(error)
        outcome.read_seconds = time.perf_counter() - started
        if isinstance(outcome.result, SupplierWorkbook):
            started = time.perf_counter()
            try:
                outcome.findings = check_workbook(outcome.result, context)
            except BaseException as error:
                outcome.check_raised = _describe(error)
            outcome.check_seconds = time.perf_counter() - started
        connection.send(outcome)


class IsolatedReader:
    """read_supplier_bytes + check_workbook in a child process that is restarted after a crash or hang."""

    def __init__(self) -> None:
        methods = multiprocessing.get_all_start_methods()
        self._context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self._start()

    def _start(self) -> None:
        self._connection, child = self._context.Pipe()
        self._process = self._context.Process(
            target=_reading_process, args=(child, str(REFERENCE)), daemon=True
        )
        self._process.start()
        child.close()

    def _restart(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._connection.close()
        self._start()

    def read(self, data: bytes, name: str) -> Outcome:
        try:
            self._connection.send((data, name))
            if not self._connection.poll(HANG_SECONDS):
                self._restart()
                return Outcome(hung=True)
            return self._connection.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            self._process.join(5)
            code = self._process.exitcode
            self._restart()
            return Outcome(crashed=code if code is not None else -1)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._connection.send(None)
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


@pytest.fixture(scope="module")
def reader() -> Any:
    isolated = IsolatedReader()
    yield isolated
    isolated.close()


def assert_read_safely(reader: IsolatedReader, data: bytes, name: str) -> Outcome:
    """The properties every read must have, whatever the input."""
    outcome = reader.read(data, name)
    assert not outcome.hung, f"reading {name} did not finish within {HANG_SECONDS:.0f} s"
    assert outcome.crashed is None, (
        f"the process reading {name} died (exit code {outcome.crashed}): a Rust abort or a signal"
    )
    assert outcome.raised is None, (
        f"read_supplier_bytes raised instead of reporting the file:\n{outcome.raised}"
    )
    assert outcome.read_seconds < READ_SECONDS, f"reading took {outcome.read_seconds:.1f} s"
    result = outcome.result
    assert isinstance(result, (SupplierWorkbook, UnreadableWorkbook))
    assert result.file == name
    if isinstance(result, UnreadableWorkbook):
        assert result.finding.file == name
        assert result.finding.code in CODES, result.finding
        assert result.finding.severity == CODES[result.finding.code][0]
        assert result.finding.message
    else:
        assert outcome.check_raised is None, f"check_workbook raised:\n{outcome.check_raised}"
        assert outcome.check_seconds < READ_SECONDS, f"checking took {outcome.check_seconds:.1f} s"
        for finding in outcome.findings:
            assert finding.file == name, finding
            assert finding.code in CODES, finding
    return outcome


def name_for(base: str) -> str:
    return "x.xls" if base.endswith(".xls") else "x.xlsx"


# ----- taking real workbooks apart and putting them back together -----

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
DOC_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


@functools.cache
def corpus_bytes(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


@dataclass(frozen=True)
class Package:
    """A real .xlsx taken apart once: its members (decompressed, in order) and its sheets' parts."""

    members: tuple[tuple[str, bytes], ...]
    sheet_parts: tuple[tuple[str, str], ...]  # (sheet name, member name)

    def member(self, name: str) -> bytes:
        return dict(self.members)[name]

    def part(self, sheet_or_member: str) -> str:
        return dict(self.sheet_parts).get(sheet_or_member, sheet_or_member)


@functools.cache
def package(base: str) -> Package:
    with zipfile.ZipFile(io.BytesIO(corpus_bytes(base))) as archive:
        members = tuple((info.filename, archive.read(info)) for info in archive.infolist())
    content = dict(members)
    rels = ElementTree.fromstring(content["xl/_rels/workbook.xml.rels"])
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels}
    parts = []
    for sheet in ElementTree.fromstring(content["xl/workbook.xml"]).iter(f"{{{MAIN_NS}}}sheet"):
        target = targets[sheet.get(f"{{{DOC_REL_NS}}}id")]
        parts.append(
            (sheet.get("name", ""), target.lstrip("/") if target.startswith("/") else f"xl/{target}")
        )
    return Package(members, tuple(parts))


def rezip(base: str, replace: dict[str, bytes | None]) -> bytes:
    """The base workbook with some members replaced (None: left out); the others keep their content."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, content in package(base).members:
            new = replace.get(name, content)
            if new is not None:
                archive.writestr(name, new)
    return buffer.getvalue()


def column_number(letters: str) -> int:
    number = 0
    for char in letters:
        number = number * 26 + ord(char) - 64
    return number


_ROW = re.compile(r'<row r="(\d+)"[^>]*?(?:/>|>(.*?)</row>)', re.S)
_CELL = re.compile(r'<c r="([A-Z]+)\d+"[^>]*?(?:/>|>.*?</c>)', re.S)
_ADDRESS = re.compile(r"([A-Z]+)([0-9]+)")


def set_cells(sheet_xml: bytes, cells: dict[str, str]) -> bytes:
    """Replace or add cells (address -> a whole <c> element) in a worksheet's XML, in one pass."""
    wanted: dict[int, dict[str, str]] = {}
    for address, element in cells.items():
        letters, digits = _ADDRESS.fullmatch(address).groups()
        wanted.setdefault(int(digits), {})[letters] = element
    pending = sorted(wanted)
    text = sheet_xml.decode("utf-8")
    pieces: list[str] = []
    position = text.index("<sheetData")

    def row_xml(number: int, opening: str, body: str) -> str:
        merged = {m[1]: m[0] for m in _CELL.finditer(body)} | wanted[number]
        return opening + "".join(merged[k] for k in sorted(merged, key=column_number)) + "</row>"

    pieces.append(text[:position])
    for match in _ROW.finditer(text, position):
        if not pending:
            break
        number = int(match[1])
        while pending and pending[0] < number:
            pieces.append(text[position : match.start()])
            position = match.start()
            pieces.append(row_xml(pending[0], f'<row r="{pending[0]}">', ""))
            pending.pop(0)
        if pending and pending[0] == number:
            opening = re.match(r"<row[^>]*?(?=/?>)", match[0])[0] + ">"
            pieces.append(text[position : match.start()])
            pieces.append(row_xml(number, opening, match[2] or ""))
            position = match.end()
            pending.pop(0)
    if pending:
        end = text.index("</sheetData>", position)
        pieces.append(text[position:end])
        pieces.extend(row_xml(number, f'<row r="{number}">', "") for number in pending)
        position = end
    pieces.append(text[position:])
    return "".join(pieces).encode("utf-8")


@functools.cache
def date_style(base: str) -> str:
    """The style of Declaration!D22 (the effective date), a date format in every CMRT 6.4."""
    xml = package(base).member(package(base).part("Declaration")).decode("utf-8")
    return re.search(r'<c r="D22" s="(\d+)"', xml)[1]


def inline(address: str, value: str) -> str:
    return f'<c r="{address}" t="inlineStr"><is><t xml:space="preserve">{escape(value)}</t></is></c>'


class Mutant:
    """A damaged workbook and how it was damaged (its repr leaves the bytes out)."""

    def __init__(
        self, kind: str, base: str, detail: str, data: bytes, sheet: str | None = None, how: str | None = None
    ) -> None:
        self.kind, self.base, self.detail, self.data = kind, base, detail, data
        self.sheet = sheet  # missing-sheet: which one
        self.how = how  # missing-sheet: entry, part, entry+part or rename

    def __repr__(self) -> str:
        return f"Mutant({self.kind!r}, {self.base!r}, {self.detail!r}, <{len(self.data)} bytes>)"


# ----- strategies: one per mutation -----


@st.composite
def truncations(draw: st.DrawFn) -> Mutant:
    base = draw(st.sampled_from(ALL_BASES))
    data = corpus_bytes(base)
    where = draw(st.sampled_from(("anywhere", "head", "tail")))
    if where == "head":  # in the zip's first headers or the OLE header
        offset = draw(st.integers(0, 4_096))
    elif where == "tail":  # in the zip's central directory or the OLE file's last sectors
        offset = len(data) - draw(st.integers(1, 70_000))
    else:
        offset = len(data) * draw(st.integers(0, 999_999)) // 1_000_000
    return Mutant("truncated", base, f"first {offset} of {len(data)} bytes", data[:offset])


@functools.cache
def structure_ranges(base: str) -> tuple[tuple[int, int], ...]:
    """Byte ranges holding the container's structure: zip headers and central directory, OLE header."""
    data = corpus_bytes(base)
    if not data.startswith(b"PK"):
        return ((0, 512),)
    ranges = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            start = info.header_offset
            name_length, extra_length = struct.unpack("<HH", data[start + 26 : start + 30])
            ranges.append((start, start + 30 + name_length + extra_length))
    end_record = data.rfind(b"PK\x05\x06")
    (directory,) = struct.unpack("<I", data[end_record + 16 : end_record + 20])
    ranges.append((directory, len(data)))
    return tuple(ranges)


@st.composite
def zip_flips(draw: st.DrawFn) -> Mutant:
    base = draw(st.sampled_from(ALL_BASES))
    data = bytearray(corpus_bytes(base))
    flips = []
    for _ in range(draw(st.integers(1, 16))):
        start, end = draw(st.sampled_from(structure_ranges(base))) if draw(st.booleans()) else (0, len(data))
        position, mask = draw(st.integers(start, end - 1)), draw(st.integers(1, 255))
        data[position] ^= mask
        flips.append((position, mask))
    return Mutant("zip-flip", base, f"xor (offset, mask) {flips}", bytes(data))


XML_PARTS = ("Declaration", "Smelter List", "xl/sharedStrings.xml", "xl/styles.xml", "xl/workbook.xml")
TOKENS = (
    b"<", b">", b"&", b"&amp;", b"&#0;", b"&#xD800;", b"&nosuch;", b'"', b"</c>", b"<c>", b"<v>",
    b"</row>", b"<row>", b'<c r="A1"/>', b"\x00", b"\xff\xfe", b"\xc3", b"<![CDATA[", b"]]>", b"<!--",
    b"-->", b"<?pi?>", b' t="e"', b' t="s"', b' t="b"', b' t="d"', b' t="n"', b' s="9999"',
    b"<v>99999999</v>", b"<f>1/0</f>", b"9", b"-", b".", b"E", b" xml:space=\"preserve\"",
)  # fmt: skip


def hot_range(xml: bytes, part: str) -> tuple[int, int]:
    """Where the cells the parser reads are: rows 1-12 of the Smelter List, rows 1-90 of the Declaration."""
    if not part.startswith("xl/worksheets/"):
        return 0, len(xml)
    start = max(xml.find(b"<sheetData"), 0)
    for last_row in (90, 12):
        end = xml.find(b'<row r="%d"' % last_row, start)
        if end > 0:
            return start, end
    return start, len(xml)


@st.composite
def xml_flips(draw: st.DrawFn) -> Mutant:
    base = draw(st.sampled_from(XLSX_BASES))
    part = package(base).part(draw(st.sampled_from(XML_PARTS)))
    xml = bytearray(package(base).member(part))
    hot = hot_range(bytes(xml), part)
    edits = []
    for _ in range(draw(st.integers(1, 8))):
        start, end = hot if draw(st.booleans()) else (0, len(xml))
        position = min(draw(st.integers(start, end - 1)), len(xml) - 1)
        operation = draw(st.sampled_from(("flip", "insert", "delete")))
        if operation == "flip":
            mask = draw(st.integers(1, 255))
            xml[position] ^= mask
            edits.append((operation, position, mask))
        elif operation == "insert":
            inserted = draw(st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=8))
            xml[position:position] = inserted
            edits.append((operation, position, inserted))
        else:
            length = draw(st.integers(1, 32))
            del xml[position : position + length]
            edits.append((operation, position, length))
    return Mutant("xml-flip", base, f"{part}: {edits}", rezip(base, {part: bytes(xml)}))


RENAMES = {
    "Declaration": ("declaration", "Declaration ", "Declaration (2)", "Sheet1"),
    "Smelter List": ("Smelter list", "SmelterList", "Smelter List (2)", "Sheet2"),
}


def without_sheet(base: str, sheet: str, how: str, new_name: str | None = None) -> bytes:
    """Remove a sheet: its <sheet> entry in xl/workbook.xml, its part, both, or rename it."""
    workbook = package(base).member("xl/workbook.xml").decode("utf-8")
    entry = re.compile(rf'<sheet name="{re.escape(sheet)}"[^>]*/>')
    assert entry.search(workbook), sheet
    replace: dict[str, bytes | None] = {}
    if how in ("entry", "entry+part"):
        replace["xl/workbook.xml"] = entry.sub("", workbook).encode("utf-8")
    if how in ("part", "entry+part"):
        replace[package(base).part(sheet)] = None
    if how == "rename":
        renamed = workbook.replace(f'<sheet name="{sheet}"', f'<sheet name="{escape(new_name or "")}"')
        replace["xl/workbook.xml"] = renamed.encode("utf-8")
    return rezip(base, replace)


@st.composite
def missing_sheets(draw: st.DrawFn) -> Mutant:
    base = draw(st.sampled_from(XLSX_BASES))
    sheet = draw(st.sampled_from(("Declaration", "Smelter List")))
    how = draw(st.sampled_from(("entry", "part", "entry+part", "rename")))
    new_name = draw(st.sampled_from(RENAMES[sheet])) if how == "rename" else None
    data = without_sheet(base, sheet, how, new_name)
    return Mutant("missing-sheet", base, f"{how} {sheet!r} {new_name or ''}", data, sheet, how)


# Cells the cmrt6 cell map reads: the company block, the answers and company questions, and
# columns A-Q of the first smelter rows.
DECLARATION_CELLS = tuple(f"D{row}" for row in (*range(8, 23), *range(26, 90)))
SMELTER_CELLS = tuple(f"{column}{row}" for row in range(5, 11) for column in "ABCDEFGHIJKLMNOPQ")
# The seven classic error values. calamine refuses the whole workbook ("Unsupported cell error value")
# for #GETTING_DATA, which ECMA-376 also allows, and for the newer #SPILL!, #CALC!, #BUSY!... .
ERRORS = ("#N/A", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!")
FORMULAS = ("1/0", "NA()", "A1", "TODAY()", '""', "VLOOKUP(A5,'Smelter Look-up'!$A:$E,5,0)", "D8&D9")
EMPTY_INLINE = ("<is><t/></is>", "<is><t></t></is>", '<is><t xml:space="preserve">   </t></is>', "<is/>")
SPECIAL_TEXT = (
    "", " ", "0", "\t\n", "CID", "cid-2514", "CID 000801", "Smelter not listed", "smelter not yet identified",
    "Yes", "No", "100%", "1", "#N/A", "Tungsten", "tin", "©", "02-May-2024", "31/12/2024",
)  # fmt: skip


@dataclass(frozen=True)
class Value:
    """A cell value of some type the template does not expect there."""

    kind: str
    payload: Any = None

    def element(self, address: str, date_style: str) -> str:
        cell = f'<c r="{address}"'
        if self.kind == "number":
            return f"{cell}><v>{self.payload!r}</v></c>"
        if self.kind == "bool":
            return f'{cell} t="b"><v>{int(self.payload)}</v></c>'
        if self.kind == "date-serial":
            return f'{cell} s="{date_style}"><v>{self.payload!r}</v></c>'
        if self.kind == "iso-date":
            return f'{cell} t="d"><v>{self.payload}</v></c>'
        if self.kind == "formula":  # no cached value, an empty cached string or a cached error
            formula, cached = self.payload
            if cached == "none":
                return f"{cell}><f>{escape(formula)}</f></c>"
            if cached == "empty":
                return f'{cell} t="str"><f>{escape(formula)}</f><v></v></c>'
            return f'{cell} t="e"><f>{escape(formula)}</f><v>#N/A</v></c>'
        if self.kind == "error":
            return f'{cell} t="e"><v>{escape(self.payload)}</v></c>'
        if self.kind == "empty-inline":
            return f'{cell} t="inlineStr">{self.payload}</c>'
        if self.kind == "text":
            return inline(address, self.payload)
        return f"{cell}/>"


XML_CHARACTERS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Co", "Cn")) | st.sampled_from(
    "\t\n"
)
# Date serials stay within what chrono can add to 1899-12-30 in milliseconds: beyond about 1e11 days
# calamine panics (see test_bug_date_cell_with_huge_serial_raises_panic_exception).
NUMBERS = st.integers(-(10**15), 10**15) | st.floats(allow_nan=False, allow_infinity=False)
SERIALS = st.integers(-100_000, 3_000_000) | st.floats(-1e9, 1e9)
ISO_DATES = st.datetimes(datetime(1900, 1, 1), datetime(9999, 12, 31)).map(datetime.isoformat)
CACHED = st.sampled_from(("none", "empty", "error"))
TEXTS = st.sampled_from(SPECIAL_TEXT) | st.text(XML_CHARACTERS, max_size=40)
WRONG_VALUES = st.one_of(
    st.builds(Value, st.just("number"), NUMBERS),
    st.builds(Value, st.just("bool"), st.booleans()),
    st.builds(Value, st.just("date-serial"), SERIALS),
    st.builds(Value, st.just("iso-date"), ISO_DATES),
    st.builds(Value, st.just("formula"), st.tuples(st.sampled_from(FORMULAS), CACHED)),
    st.builds(Value, st.just("error"), st.sampled_from(ERRORS)),
    st.builds(Value, st.just("empty-inline"), st.sampled_from(EMPTY_INLINE)),
    st.builds(Value, st.just("text"), TEXTS),
    st.just(Value("blank")),
)


def with_values(base: str, declaration: list[Value], smelters: list[Value]) -> bytes:
    style = date_style(base)
    parts = package(base)
    declaration_part, smelter_part = parts.part("Declaration"), parts.part("Smelter List")
    new_declaration = {a: v.element(a, style) for a, v in zip(DECLARATION_CELLS, declaration, strict=True)}
    new_smelters = {a: v.element(a, style) for a, v in zip(SMELTER_CELLS, smelters, strict=True)}
    return rezip(
        base,
        {
            declaration_part: set_cells(parts.member(declaration_part), new_declaration),
            smelter_part: set_cells(parts.member(smelter_part), new_smelters),
        },
    )


@st.composite
def wrong_types(draw: st.DrawFn) -> Mutant:
    base = draw(st.sampled_from(XLSX_BASES))
    size = len(DECLARATION_CELLS)
    declaration = draw(st.lists(WRONG_VALUES, min_size=size, max_size=size))
    size = len(SMELTER_CELLS)
    smelters = draw(st.lists(WRONG_VALUES, min_size=size, max_size=size))
    detail = f"Declaration {list(zip(DECLARATION_CELLS, declaration, strict=True))}; Smelter List " + str(
        list(zip(SMELTER_CELLS, smelters, strict=True))
    )
    return Mutant("wrong-types", base, detail, with_values(base, declaration, smelters))


MUTATION_STRATEGIES = {
    "truncated": truncations(),
    "zip-flip": zip_flips(),
    "xml-flip": xml_flips(),
    "missing-sheet": missing_sheets(),
    "wrong-types": wrong_types(),
}
MUTATIONS = st.one_of(*MUTATION_STRATEGIES.values())


@functools.cache
def base_result(base: str) -> SupplierWorkbook:
    result = read_supplier_bytes(corpus_bytes(base), name_for(base))
    assert isinstance(result, SupplierWorkbook), result
    return result


def check_mutation_expectations(mutant: Mutant, outcome: Outcome) -> None:
    """What each kind of damage must give, beyond the properties every read has."""
    result = outcome.result
    if mutant.kind == "truncated" and mutant.base.endswith(".xlsx"):
        # The zip's central directory is at the end: no truncated .xlsx can be read.
        assert isinstance(result, UnreadableWorkbook), result
        assert result.finding.code == "file-corrupt", result.finding
    if mutant.kind == "missing-sheet" and mutant.sheet == "Declaration":
        assert isinstance(result, UnreadableWorkbook), result
        expected = (
            {"sheet-missing"} if mutant.how in ("entry", "rename") else {"sheet-missing", "file-corrupt"}
        )
        assert result.finding.code in expected, result.finding
    if mutant.kind == "wrong-types":
        # A well-formed workbook with odd values is read; the odd values become findings, not a failure.
        assert isinstance(result, SupplierWorkbook), result
        base = base_result(mutant.base)
        assert (result.template, result.version, result.family) == (base.template, base.version, base.family)
        # Rows below the rewritten ones read exactly as before.
        assert [r for r in result.smelters if r.row > 10] == [r for r in base.smelters if r.row > 10]


# One test per kind of damage, so each gets its share of examples (hypothesis does not spread
# st.one_of's examples evenly) and a failure in one kind does not hide the others.
@pytest.mark.parametrize("kind", list(MUTATION_STRATEGIES))
@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_mutated_workbooks_are_read_or_reported_by_name(
    reader: IsolatedReader, kind: str, data: st.DataObject
) -> None:
    mutant = data.draw(MUTATION_STRATEGIES[kind], label="mutant")
    outcome = assert_read_safely(reader, mutant.data, name_for(mutant.base))
    check_mutation_expectations(mutant, outcome)


# All kinds mixed, as st.one_of draws them.
@settings(FUZZ, max_examples=40)
@given(mutant=MUTATIONS)
def test_any_mutation_is_read_or_reported_by_name(reader: IsolatedReader, mutant: Mutant) -> None:
    outcome = assert_read_safely(reader, mutant.data, name_for(mutant.base))
    check_mutation_expectations(mutant, outcome)


# ----- huge strings -----

_ALPHABET = (string.ascii_letters + string.digits + " .,-").encode("ascii")
_TO_ALPHABET = bytes(_ALPHABET[i % len(_ALPHABET)] for i in range(256))


def huge_text(size: int, seed: int, compressible: bool = False) -> str:
    if compressible:
        return ("Smelter Name " * (size // 13 + 1))[:size]
    # Random letters: a real zip of the result is not a "zip bomb" the reader would refuse.
    return random.Random(seed).randbytes(size).translate(_TO_ALPHABET).decode("ascii")


def with_huge_strings(base: str, value: str, where: str, storage: str) -> bytes:
    parts = package(base)
    replace: dict[str, bytes | None] = {}
    if storage == "shared":
        shared = parts.member("xl/sharedStrings.xml").decode("utf-8")
        index = shared.count("<si>")
        addition = f'<si><t xml:space="preserve">{escape(value)}</t></si></sst>'
        replace["xl/sharedStrings.xml"] = shared.replace("</sst>", addition).encode("utf-8")

        def element(address: str) -> str:
            return f'<c r="{address}" t="s"><v>{index}</v></c>'
    else:

        def element(address: str) -> str:
            return inline(address, value)

    for sheet, address in (("Declaration", "D8"), ("Smelter List", "D5")):
        if where in (address, "both"):
            part = parts.part(sheet)
            replace[part] = set_cells(parts.member(part), {address: element(address)})
    return rezip(base, replace)


@settings(FUZZ, max_examples=15)
@given(
    base=st.sampled_from(XLSX_BASES),
    size=st.integers(1_000_000, 5_000_000),
    seed=st.integers(0, 2**32 - 1),
    where=st.sampled_from(("both", "D8", "D5")),
    storage=st.sampled_from(("inline", "shared")),
    compressible=st.sampled_from((False, False, False, True)),
)
def test_megabyte_strings_are_read_whole(
    reader: IsolatedReader, base: str, size: int, seed: int, where: str, storage: str, compressible: bool
) -> None:
    value = huge_text(size, seed, compressible)
    outcome = assert_read_safely(reader, with_huge_strings(base, value, where, storage), "x.xlsx")
    result = outcome.result
    if compressible and isinstance(result, UnreadableWorkbook):
        # A megabyte of one repeated phrase expands past the zip-bomb ratio: refusing it is fine.
        assert result.finding.code == "file-refused", result.finding
        return
    assert isinstance(result, SupplierWorkbook), result
    if where in ("D8", "both"):
        assert result.company.name == value.strip()
    if where in ("D5", "both"):
        (row,) = [r for r in result.smelters if r.row == 5]
        assert row.name == value.strip()


# ----- thousands of smelter rows -----

METALS = ("Gold", "Tin", "Tantalum", "Tungsten")
COUNTRIES = ("China", "PERU", "Bolivia (Plurinational State of)", "Germany", "")
MALFORMED_IDS = (
    "CID12345678",
    "CID",
    "C1D000123",
    "12345",
    "CID-ABC",
    "ID002082",
    "CID00 12",
    "n/a",
    "CIDCID1",
)


@dataclass(frozen=True)
class GeneratedRow:
    row: int
    typed_id: str
    metal: str
    name: str
    country: str
    cid: str | None  # what the ID must read as


def generated_rows(count: int, seed: int, malformed_share: float = 0.2) -> list[GeneratedRow]:
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        number = rng.randint(1, 999_999)
        if rng.random() < malformed_share:
            typed, cid = rng.choice(MALFORMED_IDS), None
        else:
            typed = rng.choice(
                (f"CID{number:06d}", f"cid-{number}", f"CID {number:06d}", f"CID{number:06d} ")
            )
            cid = f"CID{number:06d}"
        name = f"Smelter {index} {''.join(rng.choices(string.ascii_letters, k=12))}"
        rows.append(GeneratedRow(5 + index, typed, rng.choice(METALS), name, rng.choice(COUNTRIES), cid))
    return rows


def with_rows(base: str, rows: list[GeneratedRow]) -> bytes:
    parts = package(base)
    part = parts.part("Smelter List")
    cells = {}
    for row in rows:
        # A row typed over: the template's formula columns (C, F-J) lose their cached values too.
        typed = {"A": row.typed_id, "B": row.metal, "D": row.name, "E": row.country}
        for column in "ABCDEFGHIJKLMNOPQ":
            address = f"{column}{row.row}"
            cells[address] = inline(address, typed[column]) if column in typed else f'<c r="{address}"/>'
    return rezip(base, {part: set_cells(parts.member(part), cells)})


def assert_every_row_read(result: SupplierWorkbook, rows: list[GeneratedRow], base: str) -> None:
    last = rows[-1].row
    untouched = [r.row for r in base_result(base).smelters if r.row > last]
    assert [r.row for r in result.smelters] == [row.row for row in rows] + untouched
    by_row = {r.row: r for r in result.smelters}
    for row in rows:
        read = by_row[row.row]
        assert (read.cid, read.cid_raw, read.name, read.metal) == (
            row.cid,
            row.typed_id.strip(),
            row.name,
            row.metal,
        ), row
        assert read.kind is (RowKind.IDENTIFIED if row.cid else RowKind.UNIDENTIFIED)


@settings(FUZZ, max_examples=10)
@given(
    base=st.sampled_from(XLSX_BASES),
    count=st.integers(1_000, 4_000),
    seed=st.integers(0, 2**32 - 1),
    malformed_share=st.sampled_from((0.0, 0.2, 1.0)),
)
def test_thousands_of_smelter_rows_are_all_read(
    reader: IsolatedReader, base: str, count: int, seed: int, malformed_share: float
) -> None:
    rows = generated_rows(count, seed, malformed_share)
    outcome = assert_read_safely(reader, with_rows(base, rows), "x.xlsx")
    assert isinstance(outcome.result, SupplierWorkbook), outcome.result
    assert_every_row_read(outcome.result, rows, base)


@pytest.fixture(scope="module")
def openpyxl_thousands() -> tuple[bytes, list[GeneratedRow]]:
    """3,000 smelter rows written with openpyxl into a real CMRT (which also drops cached formula values)."""
    openpyxl = pytest.importorskip("openpyxl")
    rows = generated_rows(3_000, seed=20240426)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Conditional Formatting extension is not supported"
        book = openpyxl.load_workbook(io.BytesIO(corpus_bytes(MERCK)))
    sheet = book["Smelter List"]
    for row in rows:
        for column, value in ((1, row.typed_id), (2, row.metal), (4, row.name), (5, row.country)):
            sheet.cell(row.row, column, value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue(), rows


def test_thousands_of_smelter_rows_written_by_openpyxl(
    reader: IsolatedReader, openpyxl_thousands: tuple[bytes, list[GeneratedRow]]
) -> None:
    data, rows = openpyxl_thousands
    outcome = assert_read_safely(reader, data, "x.xlsx")
    assert isinstance(outcome.result, SupplierWorkbook), outcome.result
    assert_every_row_read(outcome.result, rows, MERCK)


# ----- end to end: good and damaged files together through the CLI -----

E2E_WRONG_VALUES = (
    Value("number", 3.5),
    Value("bool", True),
    Value("date-serial", 45412),
    Value("formula", ("NA()", "none")),
    Value("error", "#N/A"),
    Value("empty-inline", "<is><t/></is>"),
    Value("number", 0),
    Value("text", "0"),
)


def e2e_mutants(thousands: bytes) -> dict[str, bytes]:
    """One damaged file of each kind, all from real supplier files that are not among the good ones."""
    data = corpus_bytes(SK)
    flipped = bytearray(data)
    directory = structure_ranges(SK)[-1][0]
    for offset in range(directory + 10, directory + 2_000, 97):
        flipped[offset] ^= 0x5A
    declaration = package(SK).part("Declaration")
    xml = package(SK).member(declaration)
    d8 = xml.index(b'<c r="D8"')
    broken_xml = xml[:d8] + b"<<" + xml[d8 + 3 :]
    cycle = [E2E_WRONG_VALUES[i % len(E2E_WRONG_VALUES)] for i in range(len(DECLARATION_CELLS))]
    smelter_cycle = [E2E_WRONG_VALUES[i % len(E2E_WRONG_VALUES)] for i in range(len(SMELTER_CELLS))]
    return {
        "damaged/truncated.xlsx": data[: len(data) // 2],
        "damaged/zip-flipped.xlsx": bytes(flipped),
        "damaged/xml-flipped.xlsx": rezip(SK, {declaration: broken_xml}),
        "damaged/missing-declaration.xlsx": without_sheet(SK, "Declaration", "entry"),
        "damaged/wrong-types.xlsx": with_values(SK, cycle, smelter_cycle),
        "damaged/huge-strings.xlsx": with_huge_strings(SK, huge_text(2_000_000, 7), "both", "inline"),
        "damaged/thousands-of-rows.xlsx": thousands,
        "damaged/truncated.xls": corpus_bytes(XLS)[:1_000_000],
    }


GOOD = {"good/pkg.xlsx": PKG, "good/giga.xlsx": GIGA, "good/cmrt-3.01.xls": XLS}


def run_ingest(folder: Path, out: Path) -> Any:
    arguments = ["ingest", str(folder), "--out", str(out), "--reference", str(REFERENCE)]
    arguments += ["--year", "2024", "--as-of", "2024-12-31", "--no-cache", "--jobs", "2"]
    return CliRunner().invoke(app, arguments)


def cids_by_file(survey: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for smelter in yaml.safe_load(survey.read_text(encoding="utf-8"))["smelters"]:
        for named in smelter["named_by"]:
            found.setdefault(named["file"], set()).add(smelter["cid"])
    return found


def test_cli_ingest_of_good_and_damaged_files(
    tmp_path: Path, reader: IsolatedReader, openpyxl_thousands: tuple[bytes, list[GeneratedRow]]
) -> None:
    good_only, mixed = tmp_path / "good-only", tmp_path / "mixed"
    for name, base in GOOD.items():
        for folder in (good_only, mixed):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(corpus_bytes(base))
    mutants = e2e_mutants(openpyxl_thousands[0])
    unreadable = {}
    for name, data in mutants.items():
        (mixed / name).parent.mkdir(parents=True, exist_ok=True)
        (mixed / name).write_bytes(data)
        result = assert_read_safely(reader, data, name).result
        if isinstance(result, UnreadableWorkbook):
            unreadable[name] = result.finding.code
    assert "damaged/truncated.xlsx" in unreadable  # the run must have something to report

    baseline = run_ingest(good_only, tmp_path / "good-only.yaml")
    assert baseline.exit_code == 0, baseline.output
    result = run_ingest(mixed, tmp_path / "mixed.yaml")

    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == (1 if unreadable else 0), result.output
    assert (tmp_path / "mixed.yaml").is_file()
    for name, code in unreadable.items():
        assert f"{name}: {code}: " in result.output, (name, result.output)
    expected, got = cids_by_file(tmp_path / "good-only.yaml"), cids_by_file(tmp_path / "mixed.yaml")
    for name in GOOD:
        assert expected[name], name
        assert got.get(name) == expected[name], name


# ----- bugs the fuzzing found: focused reproductions -----


def test_bug_date_cell_with_huge_serial_is_reported_not_raised(reader: IsolatedReader) -> None:
    """A date-formatted number far outside Excel's range (-1e300) in the effective date, Declaration!D22.

    Found: calamine converts date-styled numbers with chrono, which panics beyond about 1e11 days;
    pyo3 turns the panic into pyo3_runtime.PanicException, a BaseException, which slipped past
    `except Exception` in extract.read_supplier_bytes, and the whole `cmr ingest` run died with a
    traceback (with --jobs 2: "PicklingError: Can't pickle PanicException") and wrote nothing."""
    data = with_values(
        MERCK,
        [Value("blank")] * 14 + [Value("date-serial", -1e300)] + [Value("blank")] * 64,
        [Value("blank")] * len(SMELTER_CELLS),
    )
    assert_read_safely(reader, data, "x.xlsx")


def test_bug_truncated_xls_is_reported_not_raised(reader: IsolatedReader) -> None:
    """The CMRT 3.01 .xls cut 12,858 bytes short (its last OLE sectors missing).

    Found: after decryption, calamine's compound-file reader panics ("slice index starts at 2402304 but
    ends at 2401792", calamine cfb.rs) inside CalamineWorkbook.from_filelike in reader.open_workbook;
    same root cause as the date-serial panic above."""
    assert_read_safely(reader, corpus_bytes(XLS)[:2_402_270], "x.xls")


@pytest.mark.parametrize("far_cell", ["XFD1048576", "AH1000000"])
def test_a_file_that_aborts_the_reader_is_a_finding_and_the_run_goes_on(
    tmp_path: Path, far_cell: str
) -> None:
    """A single far-away value in the Declaration sheet (a 26 KB file).

    calamine builds a dense grid for the used range (16,384 x 1,048,576 cells for XFD1048576,
    2.5 GB for AH1000000). The allocation fails under the worker's memory limit and Rust aborts
    the process, which no Python code can catch. The runner reads in
    worker processes, so only that worker dies: the file is re-read alone, reported by name,
    and the files beside it are still read. (The streaming reader reads this file: the far cell
    is in no column it keeps. A comment in the sheet makes it give the file to calamine.)"""
    parts = package(MERCK)
    part = parts.part("Declaration")
    far = set_cells(parts.member(part), {far_cell: f'<c r="{far_cell}"><v>1</v></c>'})
    far = far.replace(b"<sheetData>", b"<sheetData><!-- read with calamine -->", 1)
    (tmp_path / "a-far.xlsx").write_bytes(rezip(MERCK, {part: far}))
    (tmp_path / "b-good.xlsx").write_bytes(corpus_bytes(MERCK))
    jobs = [ingest_runner.Job(str(tmp_path / name), name, None) for name in ("a-far.xlsx", "b-good.xlsx")]
    results = list(ingest_runner.read_all(jobs, 2, None))
    assert [r.file for r in results] == ["a-far.xlsx", "b-good.xlsx"]
    assert isinstance(results[0], UnreadableWorkbook)
    assert results[0].finding.code in ("file-crashed", "file-corrupt", "file-refused")
    assert not isinstance(results[1], UnreadableWorkbook)


def test_the_streaming_reader_reads_past_a_far_away_value(tmp_path: Path) -> None:
    """The same far-away value, without the comment: the cells the cell map reads are read."""
    parts = package(MERCK)
    part = parts.part("Declaration")
    far = set_cells(parts.member(part), {"XFD1048576": '<c r="XFD1048576"><v>1</v></c>'})
    result = read_supplier_bytes(rezip(MERCK, {part: far}), "far.xlsx")
    expected = read_supplier_bytes(corpus_bytes(MERCK), "far.xlsx")
    assert isinstance(result, SupplierWorkbook) and result.reader == "streaming"
    assert result.model_dump(exclude={"sha256", "size"}) == expected.model_dump(exclude={"sha256", "size"})


def test_bug_missing_smelter_list_sheet_is_reported(reader: IsolatedReader) -> None:
    """The Smelter List's <sheet> entry removed from xl/workbook.xml (renaming the sheet does the same).

    Found: extract._smelters returned [] when the sheet was missing, so the supplier silently counted
    as having listed no smelters; no "sheet-missing" finding named the file."""
    outcome = assert_read_safely(reader, without_sheet(MERCK, "Smelter List", "entry"), "x.xlsx")
    result = outcome.result
    codes = (
        [result.finding.code]
        if isinstance(result, UnreadableWorkbook)
        else [f.code for f in outcome.findings]
    )
    assert "sheet-missing" in codes, codes


def test_bug_per_file_timeout_is_reported_as_timeout_and_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that outlasts runner.PER_FILE_SECONDS.

    Found: the SIGALRM handler raised runner._Timeout, an Exception, which extract.read_supplier_bytes
    caught like any other: the file was reported "file-corrupt: the workbook cannot be read (_Timeout: )"
    instead of "file-timeout", and that verdict was cached, so later runs reported the file as corrupt
    even when it read fine."""
    source = tmp_path / "slow.xlsx"
    source.write_bytes(corpus_bytes(MERCK))
    real_detect = extract.detect

    def slow_detect(workbook: Any) -> Any:  # stands in for a workbook that takes long to read
        time.sleep(3)
        return real_detect(workbook)

    monkeypatch.setattr(extract, "detect", slow_detect)
    monkeypatch.setattr(ingest_runner, "PER_FILE_SECONDS", 1)
    previous = signal.signal(signal.SIGALRM, ingest_runner._on_alarm)
    try:
        job = ingest_runner.Job(str(source), "slow.xlsx", str(tmp_path / "cache"))
        result = ingest_runner.read_job(job, "salt")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert isinstance(result, UnreadableWorkbook), result
    assert result.finding.code == "file-timeout", result.finding
    assert not list((tmp_path / "cache").rglob("*.json")), "a timed-out read must not be cached"
