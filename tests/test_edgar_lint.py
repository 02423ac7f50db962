"""The EDGAR HTML linter: one bad case per rule, a clean document, and robustness."""

from __future__ import annotations

from pathlib import Path

import pytest

from conflict_minerals.edgar.lint import RULES, WARNING_RULES, EdgarProblem, lint_file, lint_html

DOCTYPE = '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">'
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


def page(*body: str) -> str:
    """A minimal EDGAR document; body line i (0-based) is on line 4 + i."""
    return "\n".join(
        [DOCTYPE, "<HTML><HEAD><TITLE>Form SD</TITLE></HEAD>", "<BODY>", *body, "</BODY></HTML>", ""]
    )


def write(folder: Path, text: str | bytes, name: str = "formsd.htm") -> Path:
    path = folder / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def found(problems: list[EdgarProblem]) -> list[tuple[str, int]]:
    return [(problem.rule, problem.line) for problem in problems]


CLEAN = """<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<HTML>
<HEAD>
<TITLE>Form SD</TITLE>
</HEAD>
<BODY STYLE="font-family: 'Times New Roman', Times, serif; font-size: 10pt">
<P STYLE="text-align: center"><IMG SRC="logo.gif" ALT="Acme Corp" WIDTH="120" HEIGHT="40"></P>
<P STYLE="margin-top: 12pt; text-align: center"><B>SPECIALIZED DISCLOSURE REPORT</B></P>
<P><A HREF="#item101">Item 1.01</A> &#8212; <A HREF="#ex">Exhibits</A></P>
<TABLE STYLE="width: 100%; border-collapse: collapse" CELLPADDING="0">
<TR><TD STYLE="width: 50%">Acme Corp</TD><TD>001-12345</TD></TR>
</TABLE>
<HR STYLE="page-break-after: always">
<A NAME="item101"></A><P STYLE="font-weight: bold">Item 1.01 Conflict Minerals Disclosure and Report</P>
<P>See the &#8220;Conflict Minerals Report&#8221; (<A HREF="ex1-01.htm#top">Exhibit 1.01</A>) and last
year&#8217;s <A HREF="https://www.sec.gov/Archives/edgar/data/1/000000000124000001/formsd.htm">report</A>.</P>
<P ID="ex"><FONT STYLE="font-size: 8pt">Exhibit 1.01</FONT></P>
</BODY>
</HTML>
"""


def test_clean_document_has_no_problems(tmp_path: Path) -> None:
    write(tmp_path, GIF, "logo.gif")
    write(tmp_path, page('<A NAME="top"></A><P>Report</P>'), "ex1-01.htm")
    assert lint_file(write(tmp_path, CLEAN)) == []


def test_clean_document_without_a_folder(tmp_path: Path) -> None:
    # Without a folder, links to other files cannot be checked; #anchors still are.
    assert lint_html(CLEAN.encode("ascii"), "edgar/formsd-2025.htm") == []


# (rule, body lines, expected line)
BAD_BODIES = [
    ("ascii", ["<P>ok</P>", "<P>\u201cquoted\u201d</P>"], 5),
    ("disallowed-tag", ["<P>ok</P>", "<SCRIPT>alert(1)</SCRIPT>"], 5),
    ("disallowed-tag", ["<STYLE>P { color: red }</STYLE>"], 4),
    ("disallowed-tag", ['<META HTTP-EQUIV="Refresh" CONTENT="0; url=formsd.htm">'], 4),
    ("disallowed-tag", ["<SECTION>x</SECTION>"], 4),
    ("disallowed-tag", ["<P>", '<IFRAME SRC="logo.png"></IFRAME></P>'], 5),
    ("disallowed-tag", ["<NOSCRIPT>x</NOSCRIPT>"], 4),
    ("event-attribute", ['<P STYLE="margin: 0"', '   ONCLICK="go()">x</P>'], 5),
    ("javascript-url", ['<A HREF="javascript:void(0)">x</A>'], 4),
    ("javascript-url", ['<P>x</P><A HREF=" JavaScript:alert(1)">x</A>'], 4),
    ("external-reference", ['<A HREF="http://www.example.com/cmr">x</A>'], 4),
    ("external-reference", ['<A HREF="mailto:ir@example.com">ir@example.com</A>'], 4),
    ("external-reference", ['<A HREF="/Archives/x.htm">x</A>'], 4),
    ("external-reference", ['<A HREF="//www.example.com/x.htm">x</A>'], 4),
    ("external-reference", ["<P>", '<IMG SRC="https://www.sec.gov/Archives/logo.gif">'], 5),
    ("broken-link", ["<P>x</P>", '<A HREF="#missing">x</A>'], 5),
    ("broken-link", ['<A HREF="ex1-01.htm">x</A>'], 4),
    ("broken-link", ['<A HREF="exhibits/ex1-01.htm">x</A>'], 4),
    ("image-type", ['<IMG SRC="logo.png">'], 4),
    ("image-type", ['<IMG SRC="logo.jpeg">'], 4),
    ("nested-table", ["<TABLE><TR><TD>", "<TABLE><TR><TD>x</TD></TR></TABLE>", "</TD></TR></TABLE>"], 5),
    ("css-external", ['<P STYLE="background: URL(logo.gif)">x</P>'], 4),
    ("css-external", ["<P>x</P>", "<DIV STYLE=\"@import 'a.css'\">x</DIV>"], 5),
    ("css-external", ['<P STYLE="width: expression(1)">x</P>'], 4),
]


@pytest.mark.parametrize(
    ("rule", "body", "line"), BAD_BODIES, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(BAD_BODIES)]
)
def test_one_problem_per_bad_case(tmp_path: Path, rule: str, body: list[str], line: int) -> None:
    for image in ("logo.png", "logo.jpeg"):
        write(tmp_path, GIF, image)  # present, so only the type is wrong
    problems = lint_file(write(tmp_path, page(*body)))
    assert found(problems) == [(rule, line)]
    assert problems[0].message and problems[0].fix


def test_ascii_fix_names_the_character_reference(tmp_path: Path) -> None:
    (problem,) = lint_file(write(tmp_path, page("<P>\u2014 and \u00a9</P>")))
    assert problem.rule == "ascii"
    assert "2 non-ASCII characters" in problem.message
    assert "&#8212;" in problem.fix


def test_ascii_windows_1252_bytes(tmp_path: Path) -> None:
    (problem,) = lint_file(write(tmp_path, page("<P>x</P>").encode("ascii").replace(b"x", b"\x93x\x94")))
    assert found([problem]) == [("ascii", 4)]
    assert "0x93" in problem.message
    assert "&#8220;" in problem.fix


def test_link_to_an_anchor_missing_in_another_file(tmp_path: Path) -> None:
    write(tmp_path, page('<A NAME="top"></A>'), "ex1-01.htm")
    problems = lint_file(
        write(tmp_path, page('<A HREF="ex1-01.htm#top">a</A>', '<A HREF="ex1-01.htm#end">b</A>'))
    )
    assert found(problems) == [("broken-link", 5)]
    assert "'end'" in problems[0].message


def test_link_to_itself_by_name_is_checked_without_a_folder() -> None:
    text = page('<P ID="a">x</P>', '<A HREF="formsd.htm#a">ok</A>', '<A HREF="formsd.htm#b">bad</A>')
    assert found(lint_html(text.encode(), "edgar/formsd.htm")) == [("broken-link", 6)]


def test_doctype_html5(tmp_path: Path) -> None:
    text = "\n<!DOCTYPE html>\n<HTML><BODY><P>x</P></BODY></HTML>\n"
    assert found(lint_file(write(tmp_path, text))) == [("doctype", 2)]
    assert "doctype" in WARNING_RULES


def test_doctype_may_be_plain_html_tag(tmp_path: Path) -> None:
    assert lint_file(write(tmp_path, "<html>\n<body><p>x</p></body>\n</html>\n")) == []


def test_doctype_missing(tmp_path: Path) -> None:
    assert found(lint_file(write(tmp_path, "<P>x</P>\n"))) == [("doctype", 1)]


@pytest.mark.parametrize(
    "name", ["formsd.html", "formsd.txt", "_formsd.htm", "form sd.htm", "formsd-\u00e9.htm", "formsd"]
)
def test_file_name(name: str) -> None:
    problems = lint_html(page("<P>x</P>").encode(), name)
    assert [p.rule for p in problems] == ["file-name"]
    assert problems[0].line == 1


def test_file_name_longer_than_32_characters(tmp_path: Path) -> None:
    name = "conflict-minerals-report-2025.htm"
    assert len(name) == 33
    path = write(tmp_path, page("<P>x</P>"), name)
    problems = lint_file(path)
    assert found(problems) == [("file-name", 1)]
    assert problems[0].file == str(path)
    assert "33 characters" in problems[0].message


def test_file_name_uses_only_the_last_path_part() -> None:
    assert lint_html(page("<P>x</P>").encode(), "some folder/with spaces/ex1-01.htm") == []


def test_many_problems_in_one_file_are_all_reported_in_order(tmp_path: Path) -> None:
    text = page(
        '<P ONCLICK="x()">\u201cx\u201d</P>',
        '<SCRIPT SRC="http://example.com/a.js"></SCRIPT>',
        '<A HREF="#nowhere">a</A><A HREF="mailto:a@example.com">b</A>',
        '<TABLE><TR><TD><TABLE><TR><TD><IMG SRC="chart.png" STYLE="x: url(x.gif)"></TD></TR></TABLE>',
        "</TD></TR></TABLE>",
    )
    problems = lint_html(text.encode(), "Form SD.html", tmp_path)
    assert found(problems) == [
        ("file-name", 1),
        ("file-name", 1),
        ("ascii", 4),
        ("event-attribute", 4),
        ("disallowed-tag", 5),
        ("external-reference", 5),
        ("broken-link", 6),
        ("external-reference", 6),
        ("broken-link", 7),  # chart.png is not in the folder
        ("css-external", 7),
        ("image-type", 7),
        ("nested-table", 7),
    ]
    assert all(p.rule in RULES for p in problems)


def test_refused_element_is_reported_once_with_its_children() -> None:
    text = page("<SVG>", "<CIRCLE R=1></CIRCLE><TEXT>x</TEXT>", "</SVG>")
    assert found(lint_html(text.encode(), "formsd.htm")) == [("disallowed-tag", 4)]


def test_str_format() -> None:
    problem = EdgarProblem("formsd.htm", 3, "no-script", "a <script>", "remove it")
    assert str(problem) == "formsd.htm:3: no-script: a <script> (fix: remove it)"


@pytest.mark.parametrize(
    "data",
    [b"", b"   \n", b"\x00\x01\x02\xff\xfe garbage", b"just some text", b"<!-- only a comment -->"],
)
def test_unparseable_input_gives_one_parse_problem(data: bytes) -> None:
    assert found(lint_html(data, "formsd.htm")) == [("parse", 1)]


@pytest.mark.parametrize(
    "data",
    [
        b"<<<>>><</</>",
        b"<p " + b'a="' * 50 + b">",
        b"<div>" * 3000,
        b"<a href='%zz#%'>x</a><a href='?'>y</a><a href=''>z</a><img>",
        b'<?xml version="1.0" encoding="latin-1"?><html><body>\xff</body></html>',
        b"<html><body><a href='C:\\files\\x.htm'>x</a>\r\n<p>\x0b\x1b</p></body></html>",
        b"<html><body><a href='%00.htm'>x</a><a href='" + b"x" * 5000 + b".htm#a'>y</a></body></html>",
    ],
)
def test_never_raises(tmp_path: Path, data: bytes) -> None:
    problems = lint_html(data, "formsd.htm", tmp_path)
    assert all(isinstance(p, EdgarProblem) and p.rule in RULES for p in problems)


def test_unreadable_file(tmp_path: Path) -> None:
    assert found(lint_file(tmp_path / "missing.htm")) == [("parse", 1)]
