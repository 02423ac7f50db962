"""`cmr ingest` against the real workbook corpus in shared/cmrt-corpus (see SOURCES.md there).

Every template version must read with the right template, version and cell-map family; the real
filled files must give exactly what an independent reader (openpyxl, data_only=True) finds at the
verified cell addresses; edited, encrypted and damaged copies of a real 6.4 file must behave.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from conflict_minerals.ingest.models import RowKind, SupplierWorkbook, UnreadableWorkbook
from conflict_minerals.ingest.read.extract import read_supplier_file

openpyxl = pytest.importorskip("openpyxl")
ooxml = pytest.importorskip("msoffcrypto.format.ooxml")

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cmrt-corpus"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared/cmrt-corpus is not available")

CIRSCN = "cirscn__cm-reporting__RMI_"
DDM = "ldenevi__ddm__"
MINERAL_SYSTEM = "wwww13wwww__mineral-system__"

# file -> (template, version, family, encrypted). Versions are what the workbook itself says:
# the 2.00 files are stamped "Revision 2", and the CRT 2.21 file still says "Revision 2.2"
# everywhere (Declaration!J3, Smelter List!Q3, Revision sheet).
TEMPLATES: dict[str, tuple[str, str, str, bool]] = {
    f"{CIRSCN}CMRT_6.01.xlsx": ("CMRT", "6.01", "cmrt6", False),
    f"{CIRSCN}CMRT_6.1.xlsx": ("CMRT", "6.1", "cmrt6", False),
    f"{CIRSCN}CMRT_6.22.xlsx": ("CMRT", "6.22", "cmrt6", False),
    f"{CIRSCN}CMRT_6.31.xlsx": ("CMRT", "6.31", "cmrt6", False),
    f"{CIRSCN}CMRT_6.4.xlsx": ("CMRT", "6.4", "cmrt6", False),
    f"{CIRSCN}CMRT_6.5.xlsx": ("CMRT", "6.5", "cmrt6", False),
    f"{CIRSCN}CRT_2.2.xlsx": ("CRT", "2.2", "crt2", False),
    f"{CIRSCN}CRT_2.21.xlsx": ("CRT", "2.2", "crt2", False),
    f"{CIRSCN}EMRT_1.1.xlsx": ("EMRT", "1.1", "emrt1", False),
    f"{CIRSCN}EMRT_1.11.xlsx": ("EMRT", "1.11", "emrt1", False),
    f"{CIRSCN}EMRT_1.2.xlsx": ("EMRT", "1.2", "emrt1", False),
    f"{CIRSCN}EMRT_1.3.xlsx": ("EMRT", "1.3", "emrt1", False),
    f"{CIRSCN}EMRT_2.0.xlsx": ("EMRT", "2.0", "emrt2", False),
    f"{CIRSCN}EMRT_2.1.xlsx": ("EMRT", "2.1", "emrt2", False),
    **{
        f"{DDM}{version}_-_{kind}.xlsx": ("CMRT", stamp, family, kind == "empty" and encrypted_blank)
        for version, stamp, family, encrypted_blank in (
            ("2.00", "2", "cmrt2", False),
            ("2.01", "2.01", "cmrt2", False),
            ("2.02", "2.02", "cmrt202", True),
            ("2.03", "2.03", "cmrt202", True),
            ("2.03a", "2.03a", "cmrt202", True),
            ("3.01", "3.01", "cmrt3", False),
        )
        for kind in ("empty", "green", "high_risk", "validation_needed")
        if (version, kind) != ("3.01", "empty")
    },
    f"{DDM}3.01_-_empty.xls": ("CMRT", "3.01", "cmrt3", True),
    f"{DDM}3.01_-_filled.xls": ("CMRT", "3.01", "cmrt3", True),
    f"{MINERAL_SYSTEM}RMI_CMRT_6.4.xlsx": ("CMRT", "6.4", "cmrt6", False),
    f"{MINERAL_SYSTEM}RMI_CMRT_6.4_20240426_CG20240510_giga.xlsx": ("CMRT", "6.4", "cmrt6", False),
    f"{MINERAL_SYSTEM}RMI_CMRT_6.4_20240509_WF6__SK.xlsx": ("CMRT", "6.4", "cmrt6", False),
    f"{MINERAL_SYSTEM}RMI_CMRT_6.4_PKG_DE00_20240710.xlsx": ("CMRT", "6.4", "cmrt6", False),
    f"{MINERAL_SYSTEM}RMI_WF6_CMRT_6.4_Apr2024_Merck.xlsx": ("CMRT", "6.4", "cmrt6", False),
}
UNSUPPORTED = [f"{CIRSCN}AMRT_1.2.xlsx", f"{CIRSCN}AMRT_1.3.xlsx", f"{DDM}1.00_-_empty.xlsx"]
BLANKS = [name for name in TEMPLATES if name.startswith(CIRSCN) or "empty" in name] + [
    f"{MINERAL_SYSTEM}RMI_CMRT_6.4.xlsx"
]

CMRT_METALS = ["tantalum", "tin", "gold", "tungsten"]
MINERALS = {
    "cmrt6": CMRT_METALS,
    "cmrt3": CMRT_METALS,
    "cmrt202": CMRT_METALS,
    "cmrt2": CMRT_METALS,
    "emrt1": ["cobalt", "mica"],
    "crt2": ["cobalt"],
    "emrt2": ["cobalt", "copper", "graphite", "lithium", "mica", "nickel"],
}
# Answer cells of question 1 per mineral, and of the company-level questions (verified by hand).
Q1_CELLS = {
    "cmrt6": ["D26", "D27", "D28", "D29"],
    "cmrt3": ["D26", "D27", "D28", "D29"],
    "cmrt202": ["D22", "D23", "D24", "D25"],
    "cmrt2": ["D22", "D23", "D24", "D25"],
    "emrt1": ["D26", "D27"],
    "crt2": ["D26"],
    "emrt2": ["D30", "D31", "D32", "D33", "D34", "D35"],
}
QUESTION_COUNT = {"cmrt6": 8, "cmrt3": 7, "cmrt202": 6, "cmrt2": 6, "emrt1": 7, "crt2": 6, "emrt2": 7}
COMPANY_QUESTION_CELLS = {
    "cmrt6": [f"D{row}" for row in range(75, 90, 2)],
    "cmrt3": [f"D{row}" for row in range(69, 88, 2)],
    "cmrt202": [f"D{row}" for row in range(59, 78, 2)],
    "cmrt2": [f"D{row}" for row in range(59, 78, 2)],
    "emrt1": ["D69", "D71", "D74", "D75", "D77", "D79", "D81", "D83"],
    "crt2": [f"D{row}" for row in range(63, 80, 2)],
    "emrt2": ["D115", "D117", *[f"D{row}" for row in range(120, 130)], "D131", "D133", "D135", "D137"],
}

FILLED = [
    f"{DDM}{version}_-_{kind}.xlsx"
    for version in ("2.00", "2.01", "2.02", "2.03", "2.03a", "3.01")
    for kind in ("green", "high_risk", "validation_needed")
] + [
    f"{MINERAL_SYSTEM}RMI_CMRT_6.4_20240426_CG20240510_giga.xlsx",
    f"{MINERAL_SYSTEM}RMI_CMRT_6.4_20240509_WF6__SK.xlsx",
    f"{MINERAL_SYSTEM}RMI_CMRT_6.4_PKG_DE00_20240710.xlsx",
    f"{MINERAL_SYSTEM}RMI_WF6_CMRT_6.4_Apr2024_Merck.xlsx",
]
GIGA, SK, PKG = FILLED[-4], FILLED[-3], FILLED[-2]


@dataclass(frozen=True)
class Layout:
    """Where things are, as found by inspecting the files cell by cell."""

    company: dict[str, str]  # field -> cell
    question_rows: tuple[int, ...]  # first (tantalum) row of each question
    supplier_response: int  # index of the question whose "100%" option may be the number 1
    company_question_rows: tuple[int, ...]
    smelter_rows: tuple[int, int]
    metal: str
    lookup_name: str
    name: str
    smelter_id: str
    typed_id: str | None
    lookup: tuple[str, int, str, str, str] | None  # sheet, first row, metal, look-up name, CID columns


_DECLARATION_6 = {"name": "D8", "contact_name": "D15", "contact_email": "D16", "effective_date": "D22"}
_DECLARATION_2 = {"name": "D8", "contact_name": "D14", "contact_email": "D16", "effective_date": "D18"}
_SMELTER_COLUMNS = {"metal": "B", "lookup_name": "C", "name": "D"}
LAYOUTS = {
    "cmrt6": Layout(
        company=_DECLARATION_6,
        question_rows=(26, 32, 38, 44, 50, 56, 62, 68),
        supplier_response=5,
        company_question_rows=tuple(range(75, 90, 2)),
        smelter_rows=(5, 2504),
        **_SMELTER_COLUMNS,
        smelter_id="F",
        typed_id="A",
        lookup=("Smelter Look-up", 5, "A", "B", "E"),
    ),
    "cmrt3": Layout(
        company=_DECLARATION_6,
        question_rows=(26, 32, 38, 44, 50, 56, 62),
        supplier_response=4,
        company_question_rows=tuple(range(69, 88, 2)),
        smelter_rows=(5, 2504),
        **_SMELTER_COLUMNS,
        smelter_id="F",
        typed_id=None,
        lookup=("K", 2, "A", "B", "F"),
    ),
    "cmrt202": Layout(
        company=_DECLARATION_2,
        question_rows=(22, 28, 34, 40, 46, 52),
        supplier_response=3,
        company_question_rows=tuple(range(59, 78, 2)),
        smelter_rows=(5, 2504),
        **_SMELTER_COLUMNS,
        smelter_id="F",
        typed_id=None,
        lookup=None,
    ),
    "cmrt2": Layout(
        company=_DECLARATION_2,
        question_rows=(22, 28, 34, 40, 46, 52),
        supplier_response=3,
        company_question_rows=tuple(range(59, 78, 2)),
        smelter_rows=(5, 1001),
        **_SMELTER_COLUMNS,
        smelter_id="A",
        typed_id=None,
        lookup=None,
    ),
}

_CID = re.compile(r"CID\d{6}")
_FOLD = re.compile(r"[\t\r\n\u00a0]+")
EXCEL_ERRORS = {"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NULL!", "#NUM!"}


def clean(value: Any) -> Any:
    """Cell text as a supplier means it: padding dropped; empty strings, cached 0 and cached Excel
    errors (#N/A from a failed look-up formula) are nothing."""
    if isinstance(value, str):
        value = _FOLD.sub(" ", value).strip()
        return None if value in EXCEL_ERRORS else value or None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
        return None
    return value


def exact_cid(value: Any) -> str | None:
    value = clean(value)
    return value if isinstance(value, str) and _CID.fullmatch(value) else None


def column(letter: str) -> int:
    return ord(letter) - ord("A")


class Sheet:
    """All values of one sheet as openpyxl caches them, addressed like Excel."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def value(self, row: int, letter: str) -> Any:
        if row > len(self.rows):
            return None
        values = self.rows[row - 1]
        index = column(letter)
        return values[index] if index < len(values) else None

    def cell(self, address: str) -> Any:
        return self.value(int(address[1:]), address[0])


def read_with_openpyxl(path: Path, sheets: dict[str, int]) -> dict[str, Sheet]:
    """sheet name -> its first N rows of cached values (data_only=True)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            return {
                name: Sheet(list(book[name].iter_rows(min_row=1, max_row=rows, max_col=17, values_only=True)))
                for name, rows in sheets.items()
                if name in book.sheetnames
            }
        finally:
            book.close()


@dataclass
class Expected:
    company: dict[str, Any]
    answers: dict[str, list[Any]]
    company_answers: list[tuple[Any, Any]]
    rows: set[int]
    identified: set[tuple[int, str]]
    raw_ids: set[tuple[int, str]]


def expected_from_openpyxl(path: Path, family: str) -> Expected:
    layout = LAYOUTS[family]
    wanted = {"Declaration": 100, "Smelter List": layout.smelter_rows[1]}
    if layout.lookup:
        wanted[layout.lookup[0]] = 3000
    sheets = read_with_openpyxl(path, wanted)
    declaration, smelters = sheets["Declaration"], sheets["Smelter List"]

    company = {field: clean(declaration.cell(address)) for field, address in layout.company.items()}
    if isinstance(company["effective_date"], datetime):
        company["effective_date"] = company["effective_date"].date()
    answers: dict[str, list[Any]] = {metal: [] for metal in CMRT_METALS}
    for index, first in enumerate(layout.question_rows):
        for offset, metal in enumerate(CMRT_METALS):
            value = clean(declaration.value(first + offset, "D"))
            if index == layout.supplier_response and value == 1:
                value = "100%"
            answers[metal].append(value)
    company_answers = [
        (clean(declaration.value(row, "D")), clean(declaration.value(row, "G")))
        for row in layout.company_question_rows
    ]

    lookup: dict[tuple[str, str], str] = {}
    if layout.lookup and layout.lookup[0] in sheets:
        name, first, metal_col, name_col, cid_col = layout.lookup
        table = sheets[name]
        for row in range(first, len(table.rows) + 1):
            metal, lookup_name = clean(table.value(row, metal_col)), clean(table.value(row, name_col))
            cid = exact_cid(table.value(row, cid_col))
            if metal and lookup_name and cid:
                lookup[(metal.lower(), lookup_name.casefold())] = cid
    rows, identified, raw_ids = set(), set(), set()
    for row in range(layout.smelter_rows[0], layout.smelter_rows[1] + 1):
        metal = clean(smelters.value(row, layout.metal))
        lookup_name = clean(smelters.value(row, layout.lookup_name))
        typed = clean(smelters.value(row, layout.typed_id)) if layout.typed_id else None
        if not (metal or lookup_name or clean(smelters.value(row, layout.name)) or typed):
            continue
        rows.add(row)
        raw = clean(smelters.value(row, layout.smelter_id))
        if raw:
            raw_ids.add((row, raw))
        cid = exact_cid(raw) or exact_cid(typed)
        if cid is None and metal and lookup_name:
            cid = lookup.get((metal.lower(), lookup_name.casefold()))
        if cid:
            identified.add((row, cid))
    return Expected(company, answers, company_answers, rows, identified, raw_ids)


# CMRT 3.01 filled (.xls, encrypted): openpyxl cannot read .xls, so these values were read by hand
# (xlrd on the decrypted file). Row 19 has no cached F: its CID comes from the K look-up sheet
# (Tin / "Chengfeng Metals Co Pte Ltd" -> CID002158).
_FILLED_301_IDS = """
5:CID000058 6:CID000401 7:CID001754 8:CID000814 9:CID000041 10:CID000807 11:CID002243 12:CID001322
13:CID002030 14:CID000937 15:CID000493 16:CID000128 17:CID002180 19:CID002158 20:CID002158 21:CID001421
22:CID001482 23:CID002180 24:CID000438 25:CID001305 26:CID000410 27:CID000564 28:CID001076 29:CID002232
30:CID000456 31:CID001368 32:CID000564 33:CID000963 34:CID002232 35:CID000731 36:CID000004 37:CID000105
38:CID000683 39:CID002047 40:CID000258 41:CID002321 42:CID002011 43:CID002236 44:CID000568 45:CID000766
"""
FILLED_301 = Expected(
    company={
        "name": "GoerTech Inc.",
        "contact_name": "Jennifer Zhong",
        "contact_email": "jzhong@goertech.com",
        "effective_date": date(2014, 5, 22),
    },
    answers={
        "tantalum": ["Yes", "Yes", "Unknown", "Unknown", "No, but greater than 50%", "Yes", "No"],
        "tin": ["Yes", "Yes", "No", "Yes", "No, but greater than 50%", "No", "Unknown"],
        "gold": ["Yes", "Yes", "Yes", "Unknown", "No, but greater than 75%", "Yes", None],
        "tungsten": ["Yes", "Yes", "No", "No", "No, but less than 25%", "No", "Yes"],
    },
    company_answers=[
        (answer, None) for answer in ("Yes", "Yes", "Yes", "No", "Yes", "Yes", "Yes", "Yes", "No", "No")
    ],
    rows=set(range(5, 46)) - {18},
    identified={(int(row), cid) for row, cid in re.findall(r"(\d+):(CID\d{6})", _FILLED_301_IDS)},
    raw_ids=set(),
)


@pytest.fixture(scope="module")
def parsed():
    """Each corpus file read once by the parser."""
    cache: dict[str, SupplierWorkbook | UnreadableWorkbook] = {}

    def get(name: str) -> SupplierWorkbook | UnreadableWorkbook:
        if name not in cache:
            cache[name] = read_supplier_file(CORPUS / name, name)
        return cache[name]

    return get


def workbook(result: SupplierWorkbook | UnreadableWorkbook) -> SupplierWorkbook:
    assert isinstance(result, SupplierWorkbook), getattr(result, "finding", result)
    return result


def identified(result: SupplierWorkbook) -> set[tuple[int, str]]:
    return {(row.row, row.cid) for row in result.smelters if row.kind == RowKind.IDENTIFIED and row.cid}


# ----- every template version -----


def test_the_tables_cover_the_whole_corpus():
    files = {path.name for path in CORPUS.iterdir() if path.suffix in (".xls", ".xlsx")}
    assert files == set(TEMPLATES) | set(UNSUPPORTED)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_template_reads_with_its_version_and_family(parsed, name):
    template, version, family, encrypted = TEMPLATES[name]
    result = workbook(parsed(name))
    assert (result.template, result.version, result.family, result.encrypted) == (
        template,
        version,
        family,
        encrypted,
    )
    assert result.minerals == MINERALS[family]
    assert [answers[0].cell for answers in result.answers.values()] == Q1_CELLS[family]
    assert {len(answers) for answers in result.answers.values()} == {QUESTION_COUNT[family]}
    assert [answer.cell for answer in result.company_answers] == COMPANY_QUESTION_CELLS[family]


@pytest.mark.parametrize("name", sorted(BLANKS))
def test_blank_templates_have_no_supplier(parsed, name):
    result = workbook(parsed(name))
    assert result.company.name is None
    assert result.company.effective_date is None


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_amrt_and_cmrt_1_are_reported_unsupported(parsed, name):
    result = parsed(name)
    assert isinstance(result, UnreadableWorkbook)
    assert result.finding.code == "template-unsupported"


@pytest.mark.parametrize(
    "name",
    [
        f"{CIRSCN}CMRT_6.01.xlsx",
        f"{CIRSCN}CMRT_6.5.xlsx",
        f"{CIRSCN}EMRT_1.3.xlsx",
        f"{CIRSCN}EMRT_2.1.xlsx",
        f"{CIRSCN}CRT_2.2.xlsx",
        f"{DDM}2.00_-_green.xlsx",
        f"{DDM}2.03_-_green.xlsx",
        f"{DDM}3.01_-_green.xlsx",
    ],
)
def test_product_list_stops_before_the_template_footer(parsed, name):
    # Every template ends its Product List with a "© ..." line (row 301, 1001 or 2006).
    result = workbook(parsed(name))
    assert not [product for product in result.products if (product.number or "").startswith("©")]


# ----- the real filled files against an independent reader -----


@pytest.fixture(scope="module")
def expected():
    cache: dict[str, Expected] = {}

    def get(name: str, family: str) -> Expected:
        if name not in cache:
            cache[name] = expected_from_openpyxl(CORPUS / name, family)
        return cache[name]

    return get


def assert_matches(result: SupplierWorkbook, want: Expected) -> None:
    got_company = {field: getattr(result.company, field) for field in want.company}
    assert got_company == want.company
    assert {
        metal: [answer.value for answer in answers] for metal, answers in result.answers.items()
    } == want.answers
    assert [(answer.value, answer.comment) for answer in result.company_answers] == want.company_answers
    assert {row.row for row in result.smelters} == want.rows
    assert identified(result) == want.identified


@pytest.mark.parametrize("name", FILLED)
def test_filled_file_matches_an_independent_read(parsed, expected, name):
    result = workbook(parsed(name))
    want = expected(name, result.family)
    assert_matches(result, want)
    if result.family in ("cmrt2", "cmrt202"):
        # 2.x has no CIDs; its old-style IDs (e.g. 4CHN005) are kept as they were written.
        assert {(row.row, row.cid_raw) for row in result.smelters if row.cid_raw} == want.raw_ids


def test_filled_301_xls_gives_the_values_read_by_hand(parsed):
    result = workbook(parsed(f"{DDM}3.01_-_filled.xls"))
    assert_matches(result, FILLED_301)
    assert next(row for row in result.smelters if row.row == 19).cid_from == "Smelter Look-up"


def test_the_filled_corpus_is_not_trivially_empty(parsed, expected):
    # Guards the comparisons above against two empty reads agreeing with each other.
    giga = expected(GIGA, "cmrt6")
    assert giga.company["name"] == "Central Glass Co., Ltd."
    assert giga.identified == {(5, "CID002494"), (6, "CID002551"), (7, "CID002513"), (8, "CID002082")}
    assert len(expected(PKG, "cmrt6").identified) == 67
    assert expected(f"{DDM}2.00_-_green.xlsx", "cmrt2").raw_ids == {(8, "4CHN005")}
    assert (
        workbook(parsed(f"{DDM}2.02_-_green.xlsx")).company.contact_email == "leo.denevi@greenstatuspro.com"
    )


# ----- edited, encrypted and damaged copies of real 6.4 files -----


def resave(source: Path, target: Path, data_only: bool, edit=None) -> Path:
    """Load with openpyxl and save: data_only=True pastes values over formulas; False keeps the
    formulas but drops their cached values (openpyxl has no calculation engine)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        book = openpyxl.load_workbook(source, data_only=data_only)
        if edit:
            edit(book)
        book.save(target)
    return target


def test_values_pasted_over_formulas_keep_the_ids(parsed, tmp_path):
    original = workbook(parsed(SK))
    copy = workbook(
        read_supplier_file(resave(CORPUS / SK, tmp_path / "pasted.xlsx", data_only=True), "pasted")
    )
    assert identified(copy) == identified(original) == {(5, "CID002082"), (6, "CID000258")}
    assert copy.answers == original.answers
    assert copy.company == original.company


def test_lost_cached_values_are_recovered_from_the_smelter_lookup(parsed, tmp_path):
    # SK picked metal and look-up name from the dropdowns (B, C) and left column A empty: with F's
    # cached values gone the CIDs come from the workbook's own Smelter Look-up.
    original = workbook(parsed(SK))
    copy = workbook(read_supplier_file(resave(CORPUS / SK, tmp_path / "formulas.xlsx", data_only=False), "f"))
    assert identified(copy) == identified(original)
    assert {row.cid_from for row in copy.smelters} == {"Smelter Look-up"}
    assert copy.answers == original.answers


def test_lost_cached_values_are_recovered_from_column_a(parsed, tmp_path):
    # PKG typed every CID into column A; B, C and F are formulas whose values are lost.
    original = workbook(parsed(PKG))
    copy = workbook(
        read_supplier_file(resave(CORPUS / PKG, tmp_path / "formulas.xlsx", data_only=False), "f")
    )
    assert len(identified(original)) == 67
    assert identified(copy) == identified(original)
    assert {row.cid_from for row in copy.smelters} == {"A"}
    assert copy.answers == original.answers


def encrypted_copy(source: Path, target: Path, password: str) -> Path:
    with source.open("rb") as plain, target.open("wb") as out:
        ooxml.OOXMLFile(plain).encrypt(password, out)
    return target


def test_default_password_encryption_is_transparent(parsed, tmp_path):
    original = workbook(parsed(SK))
    copy = workbook(
        read_supplier_file(encrypted_copy(CORPUS / SK, tmp_path / "enc.xlsx", "VelvetSweatshop"), "e")
    )
    assert copy.encrypted and not original.encrypted
    ignore = {"file", "sha256", "size", "encrypted"}
    assert copy.model_dump(exclude=ignore) == original.model_dump(exclude=ignore)


def test_other_password_is_reported(tmp_path):
    result = read_supplier_file(encrypted_copy(CORPUS / SK, tmp_path / "secret.xlsx", "not-the-default"), "s")
    assert isinstance(result, UnreadableWorkbook)
    assert result.finding.code == "file-password"


def test_truncated_file_is_reported_corrupt(tmp_path):
    data = (CORPUS / SK).read_bytes()
    path = tmp_path / "half.xlsx"
    path.write_bytes(data[: len(data) // 2])
    result = read_supplier_file(path, "half.xlsx")
    assert isinstance(result, UnreadableWorkbook)
    assert result.finding.code == "file-corrupt"


def test_sloppy_supplier_input_is_normalised(tmp_path):
    def edit(book) -> None:
        smelters, declaration = book["Smelter List"], book["Declaration"]
        smelters["A5"], smelters["F5"] = "CID 000801", None  # IDs typed by hand, formula result gone
        smelters["A6"], smelters["F6"] = "cid-2514", None
        declaration["D8"] = "\tCentral Glass Co., Ltd.\t\t"
        declaration["D59"] = 1  # question 6 for tungsten, the 6.01-6.22 way of writing "100%"

    path = resave(CORPUS / GIGA, tmp_path / "sloppy.xlsx", data_only=True, edit=edit)
    result = workbook(read_supplier_file(path, "sloppy.xlsx"))
    rows = {row.row: row for row in result.smelters}
    assert (rows[5].cid, rows[5].cid_from) == ("CID000801", "A")
    assert (rows[6].cid, rows[6].cid_from) == ("CID002514", "A")
    assert identified(result) == {(5, "CID000801"), (6, "CID002514"), (7, "CID002513"), (8, "CID002082")}
    assert result.company.name == "Central Glass Co., Ltd."
    q6 = next(answer for answer in result.answers["tungsten"] if answer.question == "Q6")
    assert (q6.cell, q6.meaning, q6.value) == ("D59", "supplier_response", "100%")
