"""The streaming sheet reader (ingest/read/sheetscan.py) against calamine: the same value in every
cell it keeps, on every workbook of the corpus and on generated sheets of each shape it must
handle; what it does not handle makes it give up (and the file is read with calamine)."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook

from conflict_minerals.ingest.read.extract import read_supplier_bytes
from conflict_minerals.ingest.read.reader import ZIP_MAGIC, Limits, decrypt_ole
from conflict_minerals.ingest.read.sheetscan import (
    ScannedWorkbook,
    ScanUnsupported,
    is_date_format,
    open_scanned,
    planned_columns,
)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cmrt-corpus"


def _calamine_rows(data: bytes, sheet: str) -> list[list[Any]]:
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)


def _cell(rows: list[list[Any]], row: int, column: int) -> Any:
    if row >= len(rows) or column >= len(rows[row]):
        return ""
    return rows[row][column]


def _typed(value: Any) -> tuple[str, Any]:
    """A value with its exact type, so that 1.0 and 1, a date and a datetime differ."""
    return (type(value).__name__, value)


def assert_same_cells(data: bytes, workbook: ScannedWorkbook, sheet: str) -> int:
    """Every planned cell of `sheet` the same in both readers; the number of non-empty cells."""
    expected = _calamine_rows(data, sheet)
    scanned = workbook.sheet(sheet)
    columns = sorted(planned_columns()[sheet])
    filled = 0
    for row in range(max(len(expected), scanned.row_count)):
        for column in columns:
            want = _cell(expected, row, column)
            got = scanned.value(row + 1, column)
            got = "" if got is None else got
            assert _typed(got) == _typed(want), f"{sheet} row {row + 1} column {column}"
            filled += want != ""
    return filled


def _scanned(data: bytes) -> ScannedWorkbook:
    return open_scanned(data, Limits())


# ----- the corpus -----


def _corpus_workbooks() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if p.suffix == ".xlsx")


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the CMRT corpus is not beside the checkout")
def test_every_corpus_workbook_reads_as_calamine_reads_it() -> None:
    compared = 0
    for path in _corpus_workbooks():
        data = path.read_bytes()
        if not data.startswith(ZIP_MAGIC):
            data, _ = decrypt_ole(data)  # a workbook encrypted with Excel's default password
        workbook = _scanned(data)
        for sheet in planned_columns():
            if workbook.has_sheet(sheet):
                compared += assert_same_cells(data, workbook, sheet)
        assert workbook.sheet_names == CalamineWorkbook.from_filelike(io.BytesIO(data)).sheet_names
    assert compared > 90_000  # 93,237 non-empty values in 45 workbooks: the look-up sheets hold most


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the CMRT corpus is not beside the checkout")
def test_every_cmrt_6_corpus_file_is_read_by_the_streaming_reader() -> None:
    cmrt6 = [p for p in _corpus_workbooks() if "CMRT_6" in p.name]
    assert len(cmrt6) >= 11
    for path in cmrt6:
        result = read_supplier_bytes(path.read_bytes(), path.name, with_products=True)
        assert (result.reader, result.reader_note) == ("streaming", None), path.name


# ----- generated workbooks -----

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE = "http://schemas.openxmlformats.org/package/2006"
_OFFICE = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def make_workbook(
    sheet_data: str,
    strings: list[str] = (),  # type: ignore[assignment]
    formats: dict[int, str] | None = None,
    cell_styles: list[int] = (0,),  # type: ignore[assignment]
    date1904: bool = False,
    head: str = '<dimension ref="A1:Q40"/>',
    sheet: str = "Smelter List",
) -> bytes:
    """A minimal .xlsx with one sheet: `sheet_data` is the XML inside <sheetData>, `strings`
    the shared string items (the XML inside each <si>), `cell_styles` the numFmtId of each
    cell style and `formats` the custom number formats."""
    number_formats = "".join(
        f'<numFmt numFmtId="{key}" formatCode="{code}"/>' for key, code in (formats or {}).items()
    )
    styles = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{_MAIN}">'
        + (f'<numFmts count="{len(formats or {})}">{number_formats}</numFmts>' if formats else "")
        + '<fonts count="1"><font/></fonts><fills count="1"><fill/></fills>'
        + '<borders count="1"><border/></borders>'
        + '<cellStyleXfs count="1"><xf numFmtId="0"/></cellStyleXfs>'
        + f'<cellXfs count="{len(cell_styles)}">'
        + "".join(f'<xf numFmtId="{n}" fontId="0" borderId="0" xfId="0"/>' for n in cell_styles)
        + "</cellXfs></styleSheet>"
    )
    parts = {
        "[Content_Types].xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{_PACKAGE}/content-types">'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_OFFICE}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_OFFICE}.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PACKAGE}/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
            + ('<workbookPr date1904="1"/>' if date1904 else "<workbookPr/>")
            + f'<sheets><sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PACKAGE}/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/>'
            f'<Relationship Id="rId3" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": styles,
        "xl/sharedStrings.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_MAIN}" count="{len(strings)}" '
            f'uniqueCount="{len(strings)}">' + "".join(f"<si>{item}</si>" for item in strings) + "</sst>"
        ),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n<worksheet xmlns="{_MAIN}" '
            f'xmlns:r="{_REL}">{head}<sheetData>{sheet_data}</sheetData></worksheet>'
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text.encode("utf-8"))
    return buffer.getvalue()


def _same(data: bytes, sheet: str = "Smelter List") -> int:
    return assert_same_cells(data, _scanned(data), sheet)


STRINGS = [
    "<t>Tin</t>",
    '<t xml:space="preserve">  padded  </t>',
    "<t>  trimmed\n</t>",
    '<r><rPr><b/><sz val="10"/></rPr><t>Rich </t></r><r><t>text</t></r>',
    '<r><t>漢字</t></r><rPh sb="0" eb="2"><t>かんじ</t></rPh><phoneticPr fontId="1"/>',
    "<t>line one&#13;\nline two\r\nthree</t>",
    "<t>A &amp; B &lt;c&gt; &quot;q&quot; &apos;s&apos; &#x41;&#66;</t>",
    "<t>escaped_x000D_break and _x005F_x000D_ kept, _x263A_ _x0041_ _x00+A_ _x00G1_</t>",
    "<t/>",
    "<t>Ünïcödé — “quotes”</t>",
]


def test_strings_numbers_booleans_errors_and_formulas() -> None:
    cells = "".join(f'<c r="{"ABCDEFGHIJ"[i]}5" t="s"><v>{i}</v></c>' for i in range(len(STRINGS)))
    data = make_workbook(
        '<row r="5">' + cells + "</row>"
        '<row r="6"><c r="A6"><v>42</v></c><c r="B6" t="n"><v>-1.5e3</v></c><c r="C6"><v>.25</v></c>'
        '<c r="D6" t="b"><v>1</v></c><c r="E6" t="b"><v>0</v></c><c r="F6" t="e"><v>#N/A</v></c>'
        '<c r="G6" t="e"><f>1/0</f><v>#DIV/0!</v></c><c r="H6" t="str"><f>A6&amp;"x"</f><v>42x</v></c>'
        '<c r="I6" t="str"><f>""</f><v/></c><c r="J6" t="str"><f>B1</f></c><c r="K6"><f>1+1</f><v>2</v></c>'
        '<c r="L6" t="str"><f t="shared" si="0"/><v xml:space="preserve"> sp </v></c>'
        '<c r="M6" t="str"><f>X</f><v>a&amp;b\r\nc_x000D_ _x263A_</v></c><c r="N6" s="0"><v>0</v></c>'
        '<c r="O6" t="n"><v></v></c><c r="P6" t="s"><v></v></c><c r="Q6"><v>123456789012345</v></c></row>',
        strings=STRINGS,
    )
    assert _same(data) >= 20


def test_inline_strings() -> None:
    data = make_workbook(
        '<row r="5"><c r="A5" t="inlineStr"><is><t>inline</t></is></c>'
        '<c r="B5" t="inlineStr"><is><r><t>ri</t></r>'
        '<r><rPr><i/></rPr><t xml:space="preserve"> ch</t></r></is></c>'
        '<c r="C5" t="inlineStr"><is><t>  trimmed  </t></is></c>'
        '<c r="V5" t="inlineStr"><is><t>skipped</t></is></c>'
        '<c r="D5" t="inlineStr"><v>ignored</v></c><c r="E5" t="s"><v>0</v></c></row>',
        strings=["<t>shared</t>"],
    )
    assert _same(data) == 4


def test_dates_times_and_durations() -> None:
    formats = {
        164: "dd\\-mmm\\-yyyy",
        165: "[h]:mm:ss",
        166: "h:mm AM/PM",
        167: '0.00" m"',
        168: "yyyy-mm-dd hh:mm",
    }
    styles = [0, 14, 164, 165, 166, 167, 22, 168, 46]
    values = ["45412", "45412.75", "0.5", "1.5", "59", "61", "-0.25", "2958466", "45412.123456789"]
    rows = "".join(
        f'<row r="{5 + i}">'
        + "".join(f'<c r="{"ABCDEFGHI"[s]}{5 + i}" s="{s}"><v>{value}</v></c>' for s in range(len(styles)))
        + "</row>"
        for i, value in enumerate(values)
    )
    for date1904 in (False, True):
        data = make_workbook(rows, formats=formats, cell_styles=styles, date1904=date1904)
        assert _same(data) == len(values) * len(styles)
    # the readers' values are dates, times and durations, not numbers
    scanned = _scanned(make_workbook(rows, formats=formats, cell_styles=styles)).sheet("Smelter List")
    assert scanned.value(5, 1) == date(2024, 4, 30)
    assert scanned.value(6, 7) == datetime(2024, 4, 30, 18, 0)
    assert scanned.value(7, 4) == time(12, 0)
    assert scanned.value(8, 3) == timedelta(hours=36)


def test_no_dimension_rows_out_of_order_gaps_and_empty_styled_rows() -> None:
    template = "".join(
        f'<row r="{r}" spans="1:34" s="227" customFormat="1"><c r="A{r}" s="0"/><c r="B{r}" t="str">'
        f'<f>IF(LEN(A{r})=0,"",1)</f><v/></c><c r="V{r}" t="e"><f>NA()</f><v>#N/A</v></c>'
        f'<c r="X{r}"><f t="shared" si="6"/><v>0</v></c></row>'
        for r in range(40, 2500)
    )
    data = make_workbook(
        '<row r="9"><c r="B9" t="s"><v>0</v></c><c r="O9" t="s"><v>1</v></c></row>'
        '<row r="5"><c r="B5" t="s"><v>1</v></c></row>'
        '<row r="30"><c r="D30"><v>7</v></c></row>' + template,
        strings=["<t>Gold</t>", "<t>Peru</t>"],
        head="",
    )
    assert _same(data) == 4
    assert _scanned(data).sheet("Smelter List").row_count == 30  # the template rows cost nothing


@pytest.mark.parametrize(
    ("sheet_data", "why"),
    [
        ('<row r="5"><!-- <c r="A5"><v>1</v></c> --></row>', "comment"),
        ('<row r="5"><c t="n"><v>1</v></c></row>', "laid out"),  # no address
        ('<row r="5"><c r="A5" t="d"><v>2024-01-01</v></c></row>', "type"),
        ('<row r="5"><c r="A5" t="str"><v><![CDATA[x]]></v></c></row>', "comment or CDATA"),
        ('<row r="5"><c r="a5"><v>1</v></c></row>', "laid out"),  # lower-case address
        ('<row r="5"><c r="A5"><v>1</v></c><c r="A5"><v>2</v></c></row>', "twice"),
        ('<row r="5"><c r="A5"><v>0x1F</v></c></row>', "number"),
        ('<row r="5"><c r="A5" t="e"><v>#WHAT?</v></c></row>', "error"),
        ('<row r="5"><c r="A5" t="s"><v>3</v></c></row>', "past the shared strings"),
        ("<row r=\"5\"><c r='A5'><v>1</v></c></row>", "laid out"),
        ('<row r="5"><c r="A5"><v>1</v><v>2</v></c></row>', "laid out"),
    ],
)
def test_what_it_does_not_handle_is_read_with_calamine(sheet_data: str, why: str) -> None:
    data = make_workbook(sheet_data, strings=["<t>x</t>"])
    with pytest.raises(ScanUnsupported, match=why):
        _scanned(data).sheet("Smelter List")


def test_a_fallback_is_named_in_the_details() -> None:
    corpus = [p for p in _corpus_workbooks() if "CMRT_6.4_2024" in p.name]
    if not corpus:
        pytest.skip("the CMRT corpus is not beside the checkout")
    data = corpus[0].read_bytes()
    # The same workbook with a comment put into its Smelter List: calamine reads it, and says so.
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "xl/worksheets/sheet5.xml":
                content = content.replace(b"<sheetData>", b"<sheetData><!-- a note -->", 1)
            target.writestr(item, content)
    fast = read_supplier_bytes(data, "a.xlsx")
    slow = read_supplier_bytes(buffer.getvalue(), "a.xlsx")
    assert fast.reader == "streaming" and slow.reader == "calamine"
    assert "Smelter List sheet holds a comment" in (slow.reader_note or "")
    unchanged = {"reader", "reader_note", "sha256", "size"}
    assert fast.model_dump(exclude=unchanged) == slow.model_dump(exclude=unchanged)


def test_custom_number_formats_are_classified_as_calamine_does() -> None:
    assert is_date_format("DD/MM/YY") == "datetime"
    assert is_date_format("H:MM:SS;@") == "datetime"
    assert is_date_format("#,##0\\ [$\\u20bd-46D]") is None
    assert is_date_format('m"M"d"D";@') == "datetime"
    assert is_date_format("[h]:mm:ss") == "timedelta"
    assert is_date_format('"$"#,##0_);[Red]("$"#,##0)') is None
    assert is_date_format('[$-404]e"\\xfc"m') == "datetime"
    assert is_date_format("\\Y000000") is None
    assert is_date_format("[>=100][Magenta][s].00") == "timedelta"
    assert is_date_format("[>=100][Magenta]General") is None
    assert is_date_format("#,##0*y") is None
    assert is_date_format("*-yyyy-mm-dd") == "datetime"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the CMRT corpus is not beside the checkout")
def test_the_reference_look_up_is_read_by_the_streaming_reader_as_calamine_reads_it() -> None:
    """The worker that reads a template's Smelter Look-up (the reference list when none is
    given) reads it streaming: the same rows as through calamine, on every corpus CMRT."""
    from conflict_minerals.ingest.read.reader import open_workbook
    from conflict_minerals.ingest.read.runner import _lookup_from

    compared = 0
    for path in [p for p in _corpus_workbooks() if "RMI_CMRT_" in p.name]:
        data = path.read_bytes()
        if not data.startswith(ZIP_MAGIC):
            data, _ = decrypt_ole(data)
        streamed, whole = _lookup_from(_scanned(data)), _lookup_from(open_workbook(data))
        assert streamed == whole, path.name
        compared += len(streamed[2]) if isinstance(streamed, tuple) else 0
    assert compared > 5_000  # 6,315 rows in the corpus CMRTs


def test_a_look_up_the_streaming_reader_does_not_follow_is_read_with_calamine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from conflict_minerals.ingest.read import runner

    template = CORPUS / "cirscn__cm-reporting__RMI_CMRT_6.5.xlsx"
    if not template.is_file():
        pytest.skip("the CMRT corpus is not beside the checkout")
    streamed = runner._lookup_in_worker(str(template), None)

    def unsupported(data: bytes, limits: Limits) -> ScannedWorkbook:
        raise ScanUnsupported("a test's refusal")

    monkeypatch.setattr(runner, "open_scanned", unsupported)
    through_calamine = runner._lookup_in_worker(str(template), None)
    assert isinstance(streamed, runner.LookupSheet) and len(streamed.rows) > 500
    assert through_calamine == streamed
