"""`cmr cmrt`: write the company's own CMRT into the blank RMI template.

The Declaration comes from `answers.py`; every smelter of the survey goes on the Smelter List
with its ID in the input column (A), so the template's own formulas fill in the name, the
country and the rest from its Smelter Look-up. Those formulas' results are also written as
cached values, worked out here the way the formulas do, so a reader without a calculation
engine (calamine, openpyxl, `cmr ingest`) sees what Excel shows; the workbook is marked for a
full recalculation on open all the same. Supplier names are never written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ..filing.countries import lookup_country
from ..filing.loader import load_filing
from ..filing.survey import Smelter
from ..outputs import refuse_unusable_outputs, write_atomic
from ..problems import InputError, Problem, Severity, display_path
from .answers import Declaration, derive_declaration
from .template import PRODUCT_ROWS, SMELTER_ROWS, LookupRow, Template, open_template
from .xlsx import CellError, SheetEditor, set_full_calc_on_load, split_address

NOT_LISTED = "Smelter not listed"
NOT_YET_IDENTIFIED = "Smelter not yet identified"
NA = CellError("#N/A")
# A label cell: =OFFSET(L!$C$1,MATCH("Declaration"&ADDRESS(ROW(),COLUMN(),4),L!$A:$A,0)-1,SL,,)
_LABEL = re.compile(
    r'OFFSET\(L!\$C\$1,MATCH\("([^"]*)"&(?:ADDRESS\(ROW\(\),COLUMN\(\),4\)|"([^"]*)"),L!\$A:\$A,0\)-1,SL,,\)'
)
_EXCEL_EPOCH = date(1899, 12, 30)
# Smelter List input columns a leftover row may hold (the formula columns are restored instead).
_INPUT_COLUMNS = ("A", "D", "K", "L", "M", "N", "O", "P", "Q")


@dataclass
class CmrtResult:
    out: Path
    version: str
    smelters: int
    declaration: Declaration
    warnings: list[Problem] = field(default_factory=list)


def write_company_cmrt(
    filing_path: Path, template_path: Path, out_path: Path, allow: frozenset[str] = frozenset()
) -> CmrtResult:
    """Fill the template from the filing and its survey and write it to `out_path` atomically.

    Raises InputError (every problem, nothing written) for invalid input or a refused template.
    `allow` names what the template may hold and be copied though RMI's has none (ALLOWABLE).
    """
    refuse_unusable_outputs([out_path])
    loaded = load_filing(filing_path)
    template = open_template(template_path, allow)
    _refuse_output_over_input(out_path, [filing_path, loaded.survey_path, template_path])
    declaration = derive_declaration(loaded)
    problems = list(declaration.problems)
    warnings = [p for p in loaded.warnings if p.severity is Severity.WARNING]
    warnings += [Problem(template.shown, None, None, "", note, Severity.WARNING) for note in template.copied]
    rows, smelter_problems = _smelter_rows(template, loaded.survey.smelters, declaration, loaded.survey_yaml)
    problems += smelter_problems
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        raise InputError(sorted(problems, key=lambda p: (p.file, p.line or 0, p.column or 0, p.field)))
    warnings += [p for p in problems if p.severity is Severity.WARNING]

    _fill_declaration(template, declaration)
    warnings += _clear_leftovers(template)
    _fill_smelter_list(template, rows)
    _fill_product_list(template, declaration)
    written = ["Declaration", "Smelter List"] + (["Product List"] if declaration.products else [])
    package = template.package
    for sheet in written:  # every other part stays byte for byte as in the template
        _translate_labels(template, sheet)
        editor = template.editor(sheet)
        package.replace(editor.part, editor.to_bytes())
    package.replace("xl/workbook.xml", set_full_calc_on_load(package.parts["xl/workbook.xml"]))
    write_atomic(out_path, package.to_bytes())
    return CmrtResult(out_path, template.version, len(loaded.survey.smelters), declaration, warnings)


def _refuse_output_over_input(out_path: Path, inputs: list[Path]) -> None:
    target = out_path.resolve()
    for path in inputs:
        if path.resolve() == target:
            raise InputError(
                [
                    Problem(
                        display_path(out_path),
                        None,
                        None,
                        "--out",
                        "is an input of this run; choose another file",
                    )
                ]
            )
    if target.is_dir():
        raise InputError(
            [Problem(display_path(out_path), None, None, "--out", "is a folder; give a file name")]
        )


# -- Declaration -------------------------------------------------------------------------


def _fill_declaration(template: Template, declaration: Declaration) -> None:
    sheet = template.editor("Declaration")
    sheet.set_text("D3", "English")
    sheet.set_cached("P3", 1)  # MATCH($D$3,LN,0): English is the first language
    for cell, value in declaration.cells.items():
        if isinstance(value, date):
            sheet.set_number(cell, (value - _EXCEL_EPOCH).days)
        else:
            sheet.set_text(cell, value)
    if sheet.formula("A5") is not None:
        sheet.set_cached("A5", str(declaration.cells.get("D9", ""))[:1])  # LEFT(D9,1)


def _translate_labels(template: Template, sheet_name: str) -> None:
    """The labels' cached text in English, as the L sheet gives it for the chosen language."""
    sheet = template.editor(sheet_name)
    for address in list(sheet.cells):
        formula = sheet.formula(address)
        match = _LABEL.fullmatch(formula or "")
        if match is None:
            continue
        key = match.group(1) + (address if match.group(2) is None else match.group(2))
        if key not in template.labels:
            continue
        english = template.labels[key]
        sheet.set_cached(address, english if english else 0)  # OFFSET to an empty cell gives 0


def _fill_product_list(template: Template, declaration: Declaration) -> None:
    if not declaration.products:
        return
    if len(declaration.products) > len(PRODUCT_ROWS):
        raise template.failure(f"the Product List holds {len(PRODUCT_ROWS)} products; the filing lists more")
    sheet = template.editor("Product List")
    for row, product in zip(PRODUCT_ROWS, declaration.products, strict=False):
        sheet.set_text(f"B{row}", product.number)
        if product.name:
            sheet.set_text(f"C{row}", product.name)


# -- Smelter List ------------------------------------------------------------------------


@dataclass(frozen=True)
class SmelterRow:
    """What is typed into one Smelter List row: an ID (A), or metal and look-up choice (B, C)
    with a name and country (D, E) when the template's look-up does not have the smelter."""

    metal: str
    cid: str = ""
    lookup_choice: str = ""
    name: str = ""
    country: str = ""
    comment: str = ""


def _smelter_rows(
    template: Template, smelters: list[Smelter], declaration: Declaration, survey_yaml
) -> tuple[list[SmelterRow], list[Problem]]:
    by_cid: dict[str, LookupRow] = {}
    for entry in template.lookup:
        if entry.cid:
            by_cid.setdefault(entry.cid.upper(), entry)
    formulas = _LookupFormulas(template)
    rows, problems = [], []
    for index, smelter in enumerate(smelters):
        metal = smelter.metal.label
        entry = by_cid.get(smelter.cid.upper())
        if entry is not None and entry.metal.casefold() != metal.casefold():
            problems.append(
                survey_yaml.problem(
                    ("smelters", index, "metal"),
                    f"{smelter.cid} is a {entry.metal} smelter in the template's Smelter Look-up, "
                    f"not {metal}",
                )
            )
        elif entry is not None and formulas.resolves(entry.cid):
            rows.append(SmelterRow(metal, cid=entry.cid))
        else:
            # Not in this template's look-up (a newer ID than the template), or in it but out of
            # its formulas' reach (the 6.4 look-up leaves the key column J empty in a few rows):
            # the template's instructions say to pick "Smelter not listed" and type the name
            # and country.
            rows.append(
                SmelterRow(
                    metal,
                    lookup_choice=NOT_LISTED,
                    name=smelter.name,
                    country=_template_country(template, smelter.country.name),
                    comment=f"Smelter ID {smelter.cid} is not in the Smelter Look-up of this template",
                )
            )
            problems.append(
                survey_yaml.problem(
                    ("smelters", index, "cid"),
                    f"{smelter.cid} is not in the CMRT {template.version} Smelter Look-up (or its formulas "
                    "cannot find it there): written as "
                    f"'{NOT_LISTED}' with its name and country (a newer template may list it)",
                    severity=Severity.WARNING,
                )
            )
    listed = {row.metal for row in rows}
    for metal in declaration.metals_in_scope:
        if metal.label not in listed:
            rows.append(SmelterRow(metal.label, lookup_choice=NOT_YET_IDENTIFIED))
    if len(rows) > len(SMELTER_ROWS):
        problems.append(
            Problem(
                template.shown,
                None,
                None,
                "",
                f"the Smelter List has {len(SMELTER_ROWS)} rows; {len(rows)} needed",
            )
        )
    return rows, problems


def _template_country(template: Template, name: str) -> str:
    """The country as the template's country list (sheet C) spells it, so its look-ups match."""
    wanted = lookup_country(name)
    for _code, listed in template.countries:
        if wanted is not None and lookup_country(listed) == wanted:
            return listed
    return name


def _clear_leftovers(template: Template) -> list[Problem]:
    """Rows of a copied template that hold someone's entry: inputs cleared, formulas restored
    from the next clean row (the same formula with its row number moved)."""
    if not template.leftover_rows:
        return []
    sheet = template.editor("Smelter List")
    clean = [row for row in SMELTER_ROWS if row not in set(template.leftover_rows)]
    for row in template.leftover_rows:
        model = next(r for r in clean if r > row) if any(r > row for r in clean) else clean[-1]
        _restore_row(sheet, row, model)
    rows = ", ".join(str(r) for r in template.leftover_rows[:10])
    more = "..." if len(template.leftover_rows) > 10 else ""
    return [
        Problem(
            template.shown,
            None,
            None,
            "",
            f"Smelter List rows {rows}{more} held entries in the template; they were cleared and their "
            "formulas restored before filling",
            Severity.WARNING,
        )
    ]


def _restore_row(sheet: SheetEditor, row: int, model: int) -> None:
    model_cells = {split_address(a)[0]: a for a in sheet.cells if split_address(a)[1] == model}
    for column, model_address in model_cells.items():
        formula = sheet.formula(model_address)
        address = f"{column}{row}"
        if formula and not sheet.is_shared_formula_master(model_address) and sheet.formula(address) is None:
            sheet.set_formula(address, _move_formula(formula, model, row))
    for column in _INPUT_COLUMNS:
        if f"{column}{row}" in sheet.cells and sheet.formula(f"{column}{row}") is None:
            sheet.clear(f"{column}{row}")


def _move_formula(formula: str, old_row: int, new_row: int) -> str:
    """Relative references to `old_row` moved to `new_row` (absolute rows, $4, stay)."""
    pattern = re.compile(r'("[^"]*")|(?<![A-Za-z0-9_])(\$?[A-Z]{1,3})(' + str(old_row) + r")(?![0-9(])")
    return pattern.sub(lambda m: m.group(1) or f"{m.group(2)}{new_row}", formula)


def _fill_smelter_list(template: Template, rows: list[SmelterRow]) -> None:
    sheet = template.editor("Smelter List")
    results = _LookupFormulas(template)
    for number, row in zip(SMELTER_ROWS, rows, strict=False):
        if row.cid:
            sheet.set_text(f"A{number}", row.cid)
            metal, choice = results.by_cid(row.cid)
            typed_country = None
        else:
            sheet.set_text(f"B{number}", row.metal)
            sheet.set_text(f"C{number}", row.lookup_choice)
            metal, choice = row.metal, row.lookup_choice
            typed_country = row.country or None
            if row.name:
                sheet.set_text(f"D{number}", row.name)
            if row.country:
                sheet.set_text(f"E{number}", row.country)
        if row.comment:
            sheet.set_text(f"Q{number}", row.comment)
        cached = results.row(metal, choice, row.name, typed_country)
        for column, value in cached.items():
            address = f"{column}{number}"
            if sheet.formula(address) is not None:
                sheet.set_cached(address, value)


class _LookupFormulas:
    """The Smelter List formulas (columns B, C, E-J, R-T, V, X, AB) worked out in Python.

    MATCH with match type 0 is case-insensitive in Excel, so keys are compared casefolded;
    OFFSET to an empty look-up cell gives 0, which the template hides (showZeros="0").
    """

    def __init__(self, template: Template) -> None:
        self.template = template
        self.first_by_cid: dict[str, LookupRow] = {}
        self.first_by_key: dict[str, LookupRow] = {}
        for entry in template.lookup:
            if entry.cid:
                self.first_by_cid.setdefault(entry.cid.casefold(), entry)
            if entry.key:
                self.first_by_key.setdefault(entry.key.casefold(), entry)
        self.country_codes = {name.casefold(): code for code, name in template.countries}
        self.subdivision_names = {name.casefold() for _c, name, _k in template.subdivisions}
        self.subdivision_keys: dict[str, str] = {}
        for code, _name, key in template.subdivisions:
            self.subdivision_keys.setdefault(key.casefold(), code)  # MATCH finds the first

    def resolves(self, cid: str) -> bool:
        """Whether a CID typed in column A leads the row's formulas to a look-up row."""
        metal, name = self.by_cid(cid)
        return (metal + name).casefold() in self.first_by_key

    def by_cid(self, cid: str) -> tuple[str, str]:
        entry = self.first_by_cid[cid.casefold()]
        return entry.metal, entry.name  # B: look-up column A; C: look-up column C

    def row(self, metal: str, choice: str, typed_name: str, typed_country: str | None) -> dict:
        special = choice.casefold() in (NOT_LISTED.casefold(), NOT_YET_IDENTIFIED.casefold())
        key = (metal + (typed_name if special else choice)).casefold()
        entry = self.first_by_key.get(key)
        values: dict[str, object] = {"B": metal, "C": choice}
        if entry is None:
            values |= dict.fromkeys(("F", "H", "I", "J", "R"), "")
            values["E"] = typed_country if typed_country is not None else ""
            values["G"] = "Enter smelter details" if choice.casefold() == NOT_LISTED.casefold() else ""
            values["V"] = NA
        else:
            values |= {
                "E": typed_country if typed_country is not None else entry.country,
                "F": entry.cid or 0,
                "G": ("RMI" if choice.casefold() == NOT_LISTED.casefold() else (entry.source or 0)),
                "H": entry.street or 0,
                "I": entry.city or 0,
                "J": entry.state or 0,
                "R": entry.name,
                "V": entry.row,
            }
        country = str(values["E"])
        code = self.country_codes.get(country.casefold(), "Unknown")
        values["S"] = code
        state = values["J"]
        if not isinstance(state, str) or not state or state.casefold() not in self.subdivision_names:
            values["T"] = ""
        else:
            values["T"] = self.subdivision_keys.get((code + state).casefold(), NA)
        values["X"] = 0  # a "Smelter not listed" row always gets its name and country here
        values["AB"] = metal + choice
        return values
