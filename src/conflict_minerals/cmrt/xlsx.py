"""Write cell values into a workbook's own sheet XML and re-zip it, every other part untouched.

The RMI templates carry data validations, conditional-format extensions, form controls and
hidden sheets that openpyxl drops on a re-save. So the template is edited as a package: only
the sheet parts that receive values are parsed (lxml) and written back; every other part is
copied with the same content, in the same order, with the template's own timestamps, so two
runs give the same bytes whatever the clock.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field

from lxml import etree

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS = {"m": MAIN_NS}
_C = f"{{{MAIN_NS}}}c"
_ROW = f"{{{MAIN_NS}}}row"
_F = f"{{{MAIN_NS}}}f"
_V = f"{{{MAIN_NS}}}v"
_IS = f"{{{MAIN_NS}}}is"
_T = f"{{{MAIN_NS}}}t"
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
_CELL = re.compile(r"([A-Z]{1,3})([0-9]+)")


def safe_parser() -> etree.XMLParser:
    """No entities, no network, no huge trees: the template is a file the user named."""
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=False)


def column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def split_address(address: str) -> tuple[str, int]:
    match = _CELL.fullmatch(address)
    if match is None:
        raise ValueError(f"not a cell address: {address!r}")
    return match.group(1), int(match.group(2))


class SheetEditor:
    """One worksheet part, parsed once, with cells found and created by address."""

    def __init__(self, part: str, data: bytes) -> None:
        self.part = part
        self.root = etree.fromstring(data, safe_parser())
        sheet_data = self.root.find("m:sheetData", _NS)
        if sheet_data is None:
            raise ValueError(f"{part}: no sheetData")
        self.sheet_data = sheet_data
        self.rows: dict[int, etree._Element] = {}
        self.cells: dict[str, etree._Element] = {}
        for row in sheet_data.iterfind("m:row", _NS):
            self.rows[int(row.get("r"))] = row
            for cell in row.iterfind("m:c", _NS):
                self.cells[cell.get("r")] = cell

    # -- reading -------------------------------------------------------------------------
    def formula(self, address: str) -> str | None:
        cell = self.cells.get(address)
        node = None if cell is None else cell.find("m:f", _NS)
        return None if node is None else (node.text or "")

    def is_shared_formula_master(self, address: str) -> bool:
        cell = self.cells.get(address)
        node = None if cell is None else cell.find("m:f", _NS)
        return node is not None and node.get("t") == "shared" and node.get("ref") is not None

    def raw_value(self, address: str, shared_strings: list[str]) -> str | None:
        """The cell's stored (cached) value as text, or None when empty."""
        cell = self.cells.get(address)
        if cell is None:
            return None
        kind = cell.get("t")
        if kind == "inlineStr":
            node = cell.find("m:is", _NS)
            return None if node is None else "".join(node.itertext())
        value = cell.find("m:v", _NS)
        if value is None or value.text is None:
            return None
        if kind == "s":
            return shared_strings[int(value.text)]
        return value.text

    # -- writing -------------------------------------------------------------------------
    def _cell(self, address: str) -> etree._Element:
        cell = self.cells.get(address)
        if cell is not None:
            return cell
        letters, number = split_address(address)
        row = self._row(number)
        cell = etree.Element(_C, r=address)
        wanted = column_number(letters)
        following = next(
            (c for c in row.iterfind("m:c", _NS) if column_number(split_address(c.get("r"))[0]) > wanted),
            None,
        )
        if following is None:
            row.append(cell)
        else:
            following.addprevious(cell)
        self.cells[address] = cell
        return cell

    def _row(self, number: int) -> etree._Element:
        row = self.rows.get(number)
        if row is not None:
            return row
        row = etree.Element(_ROW, r=str(number))
        later = [n for n in self.rows if n > number]
        if later:
            self.rows[min(later)].addprevious(row)
        else:
            self.sheet_data.append(row)
        self.rows[number] = row
        return row

    @staticmethod
    def _clear(cell: etree._Element, keep_formula: bool) -> None:
        for child in list(cell):
            if keep_formula and child.tag == _F:
                continue
            cell.remove(child)
        for attribute in ("t", "cm", "vm"):
            if attribute in cell.attrib and not (keep_formula and attribute == "cm"):
                del cell.attrib[attribute]

    def _refuse_shared_master(self, address: str) -> None:
        # Other cells borrow a shared formula from its master: replacing it would break them.
        if self.is_shared_formula_master(address):
            raise ValueError(f"{self.part}: {address} holds a shared formula other cells use")

    def set_text(self, address: str, text: str) -> None:
        """A typed text value (an inline string, so sharedStrings.xml stays as it was); the
        cell's style (s=) is kept and a formula in it is replaced."""
        self._refuse_shared_master(address)
        cell = self._cell(address)
        self._clear(cell, keep_formula=False)
        cell.set("t", "inlineStr")
        inline = etree.SubElement(cell, _IS)
        node = etree.SubElement(inline, _T)
        node.text = text
        if text != text.strip():
            node.set(_XML_SPACE, "preserve")

    def set_formula(self, address: str, formula: str) -> None:
        """A formula with no cached value yet (a restored template formula)."""
        cell = self._cell(address)
        self._clear(cell, keep_formula=False)
        etree.SubElement(cell, _F).text = formula

    def clear(self, address: str) -> None:
        """The cell emptied, its style kept."""
        self._refuse_shared_master(address)
        cell = self._cell(address)
        self._clear(cell, keep_formula=False)

    def set_number(self, address: str, number: int | float) -> None:
        self._refuse_shared_master(address)
        cell = self._cell(address)
        self._clear(cell, keep_formula=False)
        etree.SubElement(cell, _V).text = _number_text(number)

    def set_cached(self, address: str, value: str | int | float | CellError) -> None:
        """The result a formula cell shows, so readers without a calculation engine see it."""
        cell = self.cells.get(address)
        if cell is None or cell.find("m:f", _NS) is None:
            raise ValueError(f"{self.part}: {address} has no formula to cache a value for")
        self._clear(cell, keep_formula=True)
        node = etree.SubElement(cell, _V)
        if isinstance(value, CellError):
            cell.set("t", "e")
            node.text = value.code
        elif isinstance(value, str):
            cell.set("t", "str")
            node.text = value
        else:
            node.text = _number_text(value)

    def to_bytes(self) -> bytes:
        return etree.tostring(self.root, xml_declaration=True, encoding="UTF-8", standalone=True)


@dataclass(frozen=True)
class CellError:
    """A formula's error result, such as #N/A."""

    code: str


def _number_text(number: int | float) -> str:
    if isinstance(number, bool):
        raise TypeError("a boolean is not a cell number")
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return repr(number) if isinstance(number, float) else str(number)


def set_full_calc_on_load(workbook_xml: bytes) -> bytes:
    """workbook.xml with calcPr fullCalcOnLoad="1": Excel and LibreOffice recalculate every
    formula on open, so no stale cached result (a Checker count) survives. A textual edit of
    the one element keeps the rest of the part byte for byte."""
    text = workbook_xml.decode("utf-8")
    match = re.search(r"<calcPr\b[^>]*?/?>", text)
    if match is None:
        closing = text.index("</workbook>")
        # calcPr belongs after definedNames and before the views that may follow; Excel
        # accepts it right after definedNames/sheets when absent. Put it before extLst if any.
        anchor = text.find("<extLst", 0, closing)
        position = anchor if anchor >= 0 else closing
        return (text[:position] + '<calcPr fullCalcOnLoad="1"/>' + text[position:]).encode("utf-8")
    element = match.group(0)
    if "fullCalcOnLoad=" in element:
        element = re.sub(r'fullCalcOnLoad="[^"]*"', 'fullCalcOnLoad="1"', element)
    else:
        element = element.replace("<calcPr", '<calcPr fullCalcOnLoad="1"', 1)
    return (text[: match.start()] + element + text[match.end() :]).encode("utf-8")


@dataclass
class Package:
    """The parts of an .xlsx in their order, with their zip entries' metadata."""

    entries: list[zipfile.ZipInfo]
    parts: dict[str, bytes]
    replaced: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def read(cls, data: bytes) -> Package:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
        return cls(entries, {entry.filename: archive.read(entry) for entry in entries})

    def part(self, name: str) -> bytes:
        return self.replaced.get(name, self.parts[name])

    def replace(self, name: str, data: bytes) -> None:
        if name not in self.parts:
            raise KeyError(name)
        self.replaced[name] = data

    def to_bytes(self) -> bytes:
        """The package re-zipped: same part order and names, each entry dated as in the
        template (never the clock), deflated at a fixed level."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for entry in self.entries:
                info = zipfile.ZipInfo(entry.filename, date_time=entry.date_time)
                info.external_attr = entry.external_attr
                info.create_system = 0
                is_folder = entry.filename.endswith("/")
                info.compress_type = zipfile.ZIP_STORED if is_folder else zipfile.ZIP_DEFLATED
                archive.writestr(info, self.part(entry.filename), compresslevel=6)
        return buffer.getvalue()
