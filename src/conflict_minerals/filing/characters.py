"""The one rule for characters that no output may hold.

Word (.docx), the company CMRT (.xlsx) and the EDGAR documents are XML or are checked as such,
and XML 1.0 allows only tab, line feed, carriage return and U+0020-U+D7FF, U+E000-U+FFFD and
U+10000-U+10FFFF. Anything else (C0 control characters, lone surrogates, the noncharacters
U+FFFE and U+FFFF) makes lxml refuse the whole document. The control characters XML only
discourages (DEL and U+0080-U+009F) are refused too: EDGAR refuses them, and no filing means
one. A YAML file can still carry them as escapes ("\\x01", "\\uFFFE", "\\N"), and a supplier's
workbook or an override template as text.

So: in the user's own files they are refused at validation, naming the file, the line, the
column and the character (filing/yamlio.py); in text read from supplier workbooks they are
replaced by U+FFFD, which shows where something was, and reported as a finding (ingest), so
one supplier cannot block a build; a rendered document that still holds one (an override
template wrote it) is an error naming the document, before any writer sees it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from ..problems import InputError, Problem

# Every character XML 1.0 does not allow, and DEL and the C1 controls (one pass, linear).
REFUSED = re.compile("[^\t\n\r\u0020-\u007e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Shown in place of a character that was taken out: visible, and allowed everywhere.
REPLACEMENT = "\ufffd"
# A numeric character reference in HTML: `&#1;`, `&#x1F;` (the `;` may be left out).
_CHARACTER_REFERENCE = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));?")


def describe(char: str) -> str:
    """The character as a message names it: `U+0001 (a control character)`."""
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        kind = "a lone surrogate"
    elif code in (0xFFFE, 0xFFFF) or 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE:
        kind = "a noncharacter"
    elif unicodedata.category(char) == "Cc":
        kind = "a control character"
    else:
        kind = "a character XML does not allow"
    return f"U+{code:04X} ({kind})"


def invalid_characters(text: str) -> Iterator[re.Match[str]]:
    """Each character of `text` that no output may hold, in order."""
    return REFUSED.finditer(text)


def has_invalid(text: str) -> bool:
    return REFUSED.search(text) is not None


def replace_invalid(text: str) -> str:
    """The text with each character no output may hold replaced by U+FFFD."""
    return REFUSED.sub(REPLACEMENT, text)


def escaped(text: str) -> str:
    """The text with each character no output may hold written as an escape (`\\x01`, `\\ufffe`),
    for a message that quotes it."""
    return REFUSED.sub(lambda m: m[0].encode("unicode_escape", "backslashreplace").decode("ascii"), text)


def is_allowed_code_point(code: int) -> bool:
    return code <= 0x10FFFF and REFUSED.match(chr(code)) is None


def invalid_in_html(html: str) -> tuple[int, str] | None:
    """The offset and description of the first character an HTML document holds that no output
    may hold, written as itself or as a numeric character reference (`&#1;`); None if none."""
    found: list[tuple[int, str]] = []
    if (raw := REFUSED.search(html)) is not None:
        found.append((raw.start(), describe(raw[0])))
    for match in _CHARACTER_REFERENCE.finditer(html):
        code = int(match[1], 16) if match[1] is not None else int(match[2])
        if code > 0x10FFFF:
            found.append((match.start(), f"{match[0]!r} (no such character)"))
            break
        if not is_allowed_code_point(code):
            found.append((match.start(), f"{describe(chr(code))}, written {match[0]!r}"))
            break
    return min(found) if found else None


def refuse_invalid_document(html: str, name: str, origin: str) -> None:
    """An InputError naming the document and the line, if it holds a character no output may hold.

    `origin` says where such a character can have come from (the user's own text is checked
    at validation, so a template, or a document edited by hand)."""
    found = invalid_in_html(html)
    if found is None:
        return
    offset, what = found
    line = html.count("\n", 0, offset) + 1
    message = f"holds {what}, which no Word, EDGAR or CMRT file can hold; {origin}"
    raise InputError([Problem(name, line, None, "", message)])
