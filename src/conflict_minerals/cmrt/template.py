"""Open the blank RMI CMRT the user downloaded and check it is one `cmr cmrt` can fill.

Only CMRT 6.4 and 6.5 are accepted (their Declaration, Smelter List and Checker have the cell
layout the filler writes); anything else, or a workbook somebody already filled in, is refused
with a message naming the file and the cell that gave it away. Every XML part read here is
parsed without entities or network access, after the zip-bomb guard ingest uses.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path

from lxml import etree

from ..filing.inputs import read_input_file
from ..ingest.read.reader import Limits, ReadFailure, check_zip
from ..problems import InputError, Problem, display_path
from .xlsx import MAIN_NS, Package, SheetEditor, column_number, safe_parser, split_address

SUPPORTED_VERSIONS = ("6.4", "6.5")
REQUIRED_SHEETS = (
    "Declaration",
    "Smelter List",
    "Checker",
    "Product List",
    "Smelter Look-up",
    "L",
    "C",
    "SorP",
)
SMELTER_ROWS = range(5, 2505)  # the Smelter List's input rows in CMRT 6.31 and later
PRODUCT_ROWS = range(6, 2006)
_NS = {"m": MAIN_NS}
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_VERSION = re.compile(r"(?:Revision|Version)\s*([0-9]+(?:\.[0-9]+)*[a-z]?)", re.IGNORECASE)
# Declaration cells a blank template leaves empty; a value in one means a filled workbook.
_DECLARATION_INPUTS = ("D8", "D9", "D15", "D16", "D18", "D20", "D22", "D26", "D27", "D28", "D29", "D75")


@dataclass(frozen=True)
class LookupRow:
    """One row of the template's Smelter Look-up sheet (its embedded smelter reference list)."""

    row: int
    metal: str
    lookup_name: str
    name: str
    country: str
    cid: str
    source: str
    street: str
    city: str
    state: str
    key: str  # column J (=A&B): what the Smelter List's MATCH looks for; empty in a few 6.4 rows


@dataclass
class Template:
    path: Path
    shown: str
    version: str
    package: Package
    sheet_parts: dict[str, str]
    shared_strings: list[str]
    lookup: list[LookupRow]
    countries: list[tuple[str, str]]  # sheet C: (ISO code, name as the template spells it)
    labels: dict[str, str | None]  # sheet L: "<Sheet><Cell>" -> English text
    subdivisions: list[tuple[str, str, str]]  # sheet SorP: (code, name, country code & name)
    editors: dict[str, SheetEditor] = field(default_factory=dict)
    leftover_rows: list[int] = field(default_factory=list)  # Smelter List rows holding values
    copied: list[str] = field(default_factory=list)  # what --allow let through, said as warnings

    def editor(self, sheet: str) -> SheetEditor:
        """The sheet's XML, parsed once and edited in place; written back by `package_bytes`."""
        if sheet not in self.editors:
            part = self.sheet_parts[sheet]
            self.editors[sheet] = SheetEditor(part, self.package.part(part))
        return self.editors[sheet]

    def failure(self, message: str) -> InputError:
        return InputError([Problem(self.shown, None, None, "", message)])


def _fail(shown: str, message: str) -> InputError:
    return InputError([Problem(shown, None, None, "", message)])


def open_template(path: Path, allow: frozenset[str] = frozenset()) -> Template:
    """Read and check the blank template; raise InputError naming the file on anything wrong.

    `allow` names what may be copied although RMI's template has none of it (ALLOWABLE)."""
    shown = display_path(path)
    limits = Limits()
    data = read_input_file(path, limits.max_file_bytes, shown)
    if not data.startswith(b"PK\x03\x04"):
        raise _fail(shown, "is not an .xlsx workbook; give the blank CMRT 6.4 or 6.5 template from RMI")
    try:
        check_zip(data, limits)
        package = Package.read(data)
        sheet_parts = _sheet_parts(package)
        missing = [name for name in REQUIRED_SHEETS if name not in sheet_parts]
        if "Mine List" in sheet_parts:
            message = "is an EMRT (it has a Mine List); give the blank CMRT 6.4 or 6.5 template from RMI"
            raise _fail(shown, message)
        if missing:
            raise _fail(
                shown,
                f"is not a CMRT 6.x workbook (sheets missing: {', '.join(missing)}); "
                "give the blank CMRT 6.4 or 6.5 template from RMI",
            )
        shared = _shared_strings(package)
        template = Template(path, shown, "", package, sheet_parts, shared, [], [], {}, [])
        template.version = _version(template)
        _check_layout(template)
        template.copied = _check_contents(template, allow)
        _refuse_filled(template)
        template.lookup = _lookup(template)
        template.countries = [
            (code, name) for code, name in _columns(template, "C", ("A", "B"), first_row=2) if code and name
        ]
        template.labels = {
            f"{sheet}{cell}": english
            for sheet, cell, english in _columns(template, "L", ("B", "C", "D"), first_row=2)
            if sheet and cell
        }
        template.subdivisions = [
            (code, name, key)
            for code, name, key in _columns(template, "SorP", ("A", "B", "C"), first_row=1)
            if code and name
        ]
    except ReadFailure as failure:
        raise _fail(shown, failure.message) from None
    except (etree.XMLSyntaxError, KeyError, ValueError, IndexError) as error:
        raise _fail(shown, f"is a damaged workbook ({type(error).__name__}: {error})") from None
    return template


def _xml(package: Package, name: str) -> etree._Element:
    return etree.fromstring(package.part(name), safe_parser())


def _sheet_parts(package: Package) -> dict[str, str]:
    """Sheet name -> its part, through workbook.xml and its relationships (never by file name)."""
    workbook = _xml(package, "xl/workbook.xml")
    rels = _xml(package, "xl/_rels/workbook.xml.rels")
    targets = {rel.get("Id"): rel.get("Target") for rel in rels.iterfind(f"{{{_PKG_REL_NS}}}Relationship")}
    parts = {}
    for sheet in workbook.iterfind("m:sheets/m:sheet", _NS):
        target = targets.get(sheet.get(f"{{{_REL_NS}}}id"), "")
        part = (
            target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        )
        if part in package.parts:
            parts[sheet.get("name")] = part
    return parts


# ----- is it RMI's template? ------------------------------------------------------------

# What `--allow` may name: parts RMI's blank template never has, copied into the output only
# when the user says so.
ALLOWABLE = {
    "macros": "macros (a VBA project or ActiveX controls)",
    "external-links": "links to other workbooks or data sources",
    "hidden-sheets": "sheets hidden otherwise than in RMI's template",
}
_MACRO_PART = re.compile(r"(^|/)vbaProject[^/]*\.bin$|^xl/activeX/", re.IGNORECASE)
_EXTERNAL_PART = re.compile(r"^xl/(externalLinks/|connections\.xml$|queryTables/)", re.IGNORECASE)
_RELATIONSHIP = re.compile(rb"<Relationship\b[^>]*>")
_LABEL_OF = 'MATCH("{sheet}"&ADDRESS(ROW(),COLUMN(),4)'


@cache
def _layouts() -> dict[str, dict]:
    """The per-version map of RMI's template: templates.json (data, not code)."""
    text = (files(__package__) / "templates.json").read_text(encoding="utf-8")
    return json.loads(text)["versions"]


def _sheets(package: Package) -> list[tuple[str, str]]:
    """(name, state) of every sheet in the workbook's order; state is visible, hidden or veryHidden."""
    workbook = _xml(package, "xl/workbook.xml")
    return [
        (sheet.get("name") or "", sheet.get("state") or "visible")
        for sheet in workbook.iterfind("m:sheets/m:sheet", _NS)
    ]


def _check_layout(template: Template) -> None:
    """Sheet names, their order and the cells that identify each sheet must be the version's:
    a workbook whose "Smelter List" and "Product List" swapped names reads back wrong."""
    layout = _layouts()[template.version]
    expected = [sheet["name"] for sheet in layout["sheets"]]
    names = [name for name, _ in _sheets(template.package)]
    if names != expected:
        raise template.failure(
            f"is not RMI's CMRT {template.version} template: its sheets are {_listed(names)}, where the "
            f"template has {_listed(expected)}; give the blank template downloaded from RMI"
        )
    shared = template.shared_strings
    for sheet, cells in layout["cells"].items():
        editor = template.editor(sheet)
        for cell, rule in cells.items():
            if (why := _cell_differs(editor, cell, rule, shared)) is None:
                continue
            actually = next(
                (
                    other
                    for other, others in layout["cells"].items()
                    if other != sheet
                    and all(_cell_differs(editor, c, r, shared) is None for c, r in others.items())
                ),
                None,
            )
            if actually is not None:
                why = (
                    f"the sheet named {sheet!r} is RMI's {actually!r} sheet (the sheets' names were changed)"
                )
            else:
                why = f"{sheet}!{cell} {why} (was the sheet renamed or edited?)"
            raise template.failure(
                f"is not RMI's CMRT {template.version} template: {why}; give the blank template "
                "downloaded from RMI"
            )


def _cell_differs(editor: SheetEditor, cell: str, rule: dict[str, str], shared: list[str]) -> str | None:
    if "label_of" in rule:
        formula = editor.formula(cell) or ""
        if _LABEL_OF.format(sheet=rule["label_of"]) in formula:
            return None
        named = re.search(r'MATCH\("([^"]*)"&ADDRESS', formula)
        if named:
            return f"is a label of the {named[1]!r} sheet, not of {rule['label_of']!r}"
        return f"is not the template's {rule['label_of']} label formula"
    value = editor.raw_value(cell, shared) or ""
    if "text" in rule and value != rule["text"]:
        return f"holds {value[:40]!r}, not {rule['text']!r}"
    if "starts" in rule and not value.startswith(rule["starts"]):
        return f"holds {value[:40]!r}, not {rule['starts']!r}"
    return None


def _listed(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _check_contents(template: Template, allow: frozenset[str]) -> list[str]:
    """Refuse what RMI's template never holds and would reach customers in the copy: macros,
    links to other workbooks, sheets hidden otherwise than RMI hides them. With --allow naming
    it, the part is copied as it is and a warning says so."""
    found = {kind: parts for kind, parts in _unusual_parts(template).items() if parts}
    refused = [kind for kind in found if kind not in allow]
    if refused:
        reasons = "; ".join(f"{ALLOWABLE[kind]}: {', '.join(found[kind])}" for kind in refused)
        allowing = " ".join(f"--allow {kind}" for kind in refused)
        raise template.failure(
            f"holds what RMI's blank template does not, and it would be copied into what goes to "
            f"customers ({reasons}); give the blank template downloaded from RMI, or {allowing} "
            "to copy it as it is"
        )
    return [
        f"--allow {kind}: copied as they are into the output: {ALLOWABLE[kind]} ({', '.join(parts)})"
        for kind, parts in found.items()
    ]


def _unusual_parts(template: Template) -> dict[str, list[str]]:
    package = template.package
    content_types = package.parts.get("[Content_Types].xml", b"")
    macros = [name for name in package.parts if _MACRO_PART.search(name)]
    if b"macroEnabled" in content_types and not macros:
        macros.append("[Content_Types].xml: a macro-enabled workbook")
    external = [name for name in package.parts if _EXTERNAL_PART.search(name)]
    for name, data in package.parts.items():
        if not name.endswith(".rels"):
            continue
        for relationship in _RELATIONSHIP.findall(data):
            outside = b'TargetMode="External"' in relationship or b"TargetMode='External'" in relationship
            if outside and b"/hyperlink" not in relationship:  # RMI's sheets link to its website
                target = re.search(rb'Target="([^"]*)"', relationship)
                shown = target[1].decode("utf-8", "replace")[:80] if target else "?"
                external.append(f"{name} -> {shown!r}")
    layout = {sheet["name"]: sheet["state"] for sheet in _layouts()[template.version]["sheets"]}
    hidden = [
        f"{name} is {state} (RMI's is {layout.get(name, 'absent')})"
        for name, state in _sheets(package)
        if state != layout.get(name, "visible") and state in ("hidden", "veryHidden")
    ]
    return {"macros": macros, "external-links": external, "hidden-sheets": hidden}


def _shared_strings(package: Package) -> list[str]:
    if "xl/sharedStrings.xml" not in package.parts:
        return []
    root = _xml(package, "xl/sharedStrings.xml")
    strings = []
    for item in root.iterfind("m:si", _NS):
        # Phonetic runs (rPh) hold reading aids, not the cell's text.
        strings.append(
            "".join(
                t.text or "" for t in item.iter(f"{{{MAIN_NS}}}t") if t.getparent().tag != f"{{{MAIN_NS}}}rPh"
            )
        )
    return strings


def _version(template: Template) -> str:
    declaration = template.editor("Declaration")
    stamp = declaration.raw_value("J3", template.shared_strings) or ""
    match = _VERSION.search(stamp)
    if match is None:
        raise template.failure(
            "Declaration!J3 has no template revision; give the blank CMRT 6.4 or 6.5 from RMI"
        )
    version = match.group(1)
    if version not in SUPPORTED_VERSIONS:
        raise template.failure(
            f"is CMRT {version} (Declaration!J3); cmr cmrt fills the CMRT 6.4 and 6.5 templates: "
            "download the current one from RMI"
        )
    return version


def _refuse_filled(template: Template) -> None:
    """A supplier's or last year's filled CMRT as the template would mix its answers into ours:
    a Declaration or Product List input with a value refuses the file."""
    shared = template.shared_strings
    declaration = template.editor("Declaration")
    for cell in _DECLARATION_INPUTS:
        value = declaration.raw_value(cell, shared)
        if value not in (None, "") and declaration.formula(cell) is None:
            raise _filled(template, "Declaration", cell, value)
    smelters = template.editor("Smelter List")
    for row in SMELTER_ROWS:
        for column in ("A", "B", "C", "D"):
            cell = f"{column}{row}"
            value = smelters.raw_value(cell, shared)
            if value not in (None, "") and smelters.formula(cell) is None:
                # RMI's own downloads are blank, but copies passed around keep a test row (the
                # 6.4 in the corpus has one in row 5): it is cleared later and reported.
                template.leftover_rows.append(row)
                break
    products = template.editor("Product List")
    for row in PRODUCT_ROWS:
        value = products.raw_value(f"B{row}", shared)
        if value not in (None, "") and products.formula(f"B{row}") is None:
            raise _filled(template, "Product List", f"B{row}", value)


def _filled(template: Template, sheet: str, cell: str, value: str) -> InputError:
    shown_value = value if len(value) <= 40 else value[:37] + "..."
    return template.failure(
        f"is a filled CMRT, not a blank template ({sheet}!{cell} holds {shown_value!r}); "
        "give the blank template downloaded from RMI"
    )


def _columns(
    template: Template, sheet: str, columns: tuple[str, ...], first_row: int
) -> list[tuple[str, ...]]:
    """The cached text of some columns of a sheet that is only read, row by row."""
    root = _xml(template.package, template.sheet_parts[sheet])
    wanted = {column_number(c): i for i, c in enumerate(columns)}
    rows = []
    for row in root.iterfind("m:sheetData/m:row", _NS):
        if int(row.get("r")) < first_row:
            continue
        values = [""] * len(columns)
        for cell in row.iterfind("m:c", _NS):
            index = wanted.get(column_number(split_address(cell.get("r"))[0]))
            if index is not None:
                values[index] = _cell_text(cell, template.shared_strings)
        rows.append((int(row.get("r")), *values))
    return [values[1:] for values in rows]


def _cell_text(cell: etree._Element, shared: list[str]) -> str:
    kind = cell.get("t")
    if kind == "inlineStr":
        node = cell.find("m:is", _NS)
        return "" if node is None else "".join(node.itertext())
    value = cell.find("m:v", _NS)
    if value is None or value.text is None:
        return ""
    return shared[int(value.text)] if kind == "s" else value.text


def _lookup(template: Template) -> list[LookupRow]:
    root = _xml(template.package, template.sheet_parts["Smelter Look-up"])
    columns = "ABCDEFGHIJ"
    rows = []
    for row in root.iterfind("m:sheetData/m:row", _NS):
        number = int(row.get("r"))
        if number < 5:
            continue
        values = dict.fromkeys(columns, "")
        for cell in row.iterfind("m:c", _NS):
            letters = split_address(cell.get("r"))[0]
            if letters in values:
                values[letters] = _cell_text(cell, template.shared_strings)
        if values["A"]:
            rows.append(LookupRow(number, *(values[c] for c in columns)))
    return rows
