"""The project's linter for EDGAR HTML documents (`cmr check-edgar`, `cmr build --edgar`).

EDGAR accepts HTML "3.2 with some 4.0 attribute support": no active content, no external
references except links to sec.gov/Archives, local links that resolve, JPEG and GIF images
only, no nested tables, ASCII only, and file names of at most 32 characters. See
shared reference notes, section 4, and the EDGAR Filer Manual Vol. II, chapter 5.

Decisions (stricter than EDGAR where EDGAR is vague):
- Only `.htm` names pass `file-name`: `.html` is not an EDGAR extension, and a `.txt` file is
  an ASCII document, which EDGAR shows as plain text (tags and all).
- Graphics must be `.jpg` or `.gif`: `.jpeg` is not an extension EDGARLink Online accepts.
- `mailto:` (like every other scheme but `https?://www.sec.gov/Archives/...` in an href) is an
  external reference; write the e-mail address as plain text.
- A `<style>` element is refused: EDGAR practice is inline `style=""` attributes only.
- Local references must be bare file names (a submission is flat); files are looked for in
  `folder` only when one is given; `#id` links are always checked.
- `doctype` is warning-level (see WARNING_RULES); the other rules are errors.

Line numbers come from lxml (corrected to the line where the start tag or the attribute is
written); the `ascii` rule reads the raw bytes line by line.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from urllib.parse import unquote

from lxml import etree

from ..filing.characters import describe, is_allowed_code_point
from ..filing.inputs import MAX_ASSET_BYTES, read_input_file
from ..problems import InputError

RULES: dict[str, str] = {
    "parse": "the file must be readable as an HTML document",
    "file-name": "file name: at most 32 characters, starts with a letter or digit, only letters, digits, "
    "'.', '-', '_', ends in .htm",
    "ascii": "every byte must be ASCII; write other characters as numeric character references (&#8220;)",
    "doctype": "(warning) the document starts with an HTML 4.01 or 3.2 DOCTYPE, or with <html>",
    "disallowed-tag": "only HTML 3.2/4.01 tags; no active content, frames, forms, <link>, <base>, <style>, "
    "refresh <meta> or HTML5 media",
    "event-attribute": "no event-handler attributes (onclick, onload, ...)",
    "javascript-url": "no javascript:, vbscript: or data: URLs",
    "external-reference": "no references outside the submission, except <a href> links to "
    "https://www.sec.gov/Archives/...; mailto: counts as external",
    "broken-link": "local links resolve: #id in the document, other files (and their #id) in the folder",
    "image-type": "<img src> names a .jpg or .gif file",
    "nested-table": "no <table> inside another <table>",
    "css-external": "no url(, @import, expression( or behavior: in style attributes",
    "control-character": "no control characters but tab, line feed and carriage return, and no "
    "noncharacters (U+FFFE, U+FFFF), written as themselves or as character references (&#1;)",
    "draft-banner": "no draft banner ('DRAFT', as `cmr build` prints while presentation.draft is true): "
    "what is filed is the final copy",
}
WARNING_RULES: frozenset[str] = frozenset({"doctype"})

MAX_NAME = 32
_NAME_CHARS = re.compile(r"[A-Za-z0-9._-]")
# The HTML 3.2/4.01 elements a filing needs (no forms, frames, scripts or media).
# fmt: off
_ALLOWED_TAGS = frozenset({
    "html", "head", "title", "meta", "body",
    "div", "span", "p", "br", "hr", "center", "pre", "blockquote", "address",
    "h1", "h2", "h3", "h4", "h5", "h6",
    "b", "i", "u", "em", "strong", "sup", "sub", "small", "big", "font", "tt", "code", "s", "strike",
    "del", "ins", "cite", "q", "abbr", "acronym", "dfn", "kbd", "samp", "var", "bdo",
    "a", "img",
    "table", "caption", "thead", "tbody", "tfoot", "tr", "td", "th", "col", "colgroup",
    "ul", "ol", "li", "dl", "dt", "dd",
})
# fmt: on
_REFUSED_GROUPS = (
    ("script applet object embed noscript", "active content is not allowed", "remove the element"),
    ("iframe frame frameset", "frames are not allowed", "put the content in the document itself"),
    (
        "form input button select textarea",
        "form controls are not allowed",
        "remove the form or write it as text",
    ),
    ("link", "links to external resources (style sheets) are not allowed", "use inline style attributes"),
    ("base", "<base> changes how every link resolves", "remove it and write plain relative links"),
    ("svg math video audio canvas", "HTML5 embedded content is not allowed", "use a .jpg or .gif image"),
    (
        "style",
        "<style> elements are refused (EDGAR practice: inline styles only)",
        "move the rules into style attributes",
    ),
)
# tag -> (why it is refused, how to fix it)
_REFUSED: dict[str, tuple[str, str]] = {
    tag: (why, fix) for tags, why, fix in _REFUSED_GROUPS for tag in tags.split()
}

_URL_ATTRIBUTES = ("href", "src", "background", "longdesc", "cite", "lowsrc", "dynsrc")
_FILE_ATTRIBUTES = frozenset({"href", "src", "background"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_SCRIPT_SCHEMES = frozenset({"javascript", "vbscript", "data"})
_SEC_ARCHIVES = re.compile(r"https?://www\.sec\.gov/Archives/", re.IGNORECASE)
_IMAGE_SUFFIXES = (".jpg", ".gif")
_CSS_FORBIDDEN = (
    (re.compile(r"url\s*\(", re.I), "url("),
    (re.compile(r"@import", re.I), "@import"),
    (re.compile(r"expression\s*\(", re.I), "expression("),
    (re.compile(r"behaviou?r\s*:", re.I), "behavior:"),
    (re.compile(r"-moz-binding", re.I), "-moz-binding"),
)
_GOOD_DOCTYPE = re.compile(r'<!doctype\s+html\s+public\s+"-//w3c//dtd\s+html\s+(3\.2|4\.01?)\b', re.I)
_HTML_START = re.compile(r"<html(?=[\s>])", re.I)
_LEADING_JUNK = re.compile(r"(?:\s+|<!--.*?-->)*", re.S)
_MARKUP = re.compile(r"<[A-Za-z!?/]")
# A start tag is `<`, a name, then attributes (quoted values may hold '>' and newlines), then
# '>'; `_start_tags` finds them. Comments, and the raw text inside <script> and <style>, where
# '<p' is not a tag, are blanked first (`_mask`).
_TAG_OPEN = re.compile(r"<[A-Za-z]")
_NAME_STOP = re.compile(r"[\s/>]")
_TAG_BOUNDARY = re.compile(r"[>\"']")
_RAW_OPEN = re.compile(r"<!--|<(script|style)\b", re.I)
_ATTRIBUTE_NAME = re.compile(r"[\s\"'/]([^\s\"'/=>]+)(?=[\s=/>])")
# The word a draft banner prints in capitals; filed text has no reason to shout it.
_DRAFT_WORD = re.compile(r"\bDRAFT\b")
_DOCTYPE_FIX = 'start with <!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN"> or <HTML>'


@dataclass(frozen=True)
class EdgarProblem:
    file: str
    line: int
    rule: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.rule}: {self.message} (fix: {self.fix})"


@dataclass
class _Doc:
    """One document being linted, with what the rules need to look things up."""

    name: str
    folder: Path | None
    text: str
    root: etree._Element
    ids: frozenset[str] = field(init=False)
    other_ids: dict[str, frozenset[str] | None] = field(default_factory=dict)
    _newlines: list[int] = field(init=False)
    _spans: dict[etree._Element, tuple[int, int]] = field(init=False)
    _attributes: dict[etree._Element, dict[str, int]] = field(default_factory=dict)
    _inside: tuple[set[etree._Element], set[etree._Element]] | None = None

    def __post_init__(self) -> None:
        self.ids = _anchors(self.root)
        self._newlines = [match.start() for match in re.finditer("\n", self.text)]
        self._spans = self._match_start_tags()

    @property
    def basename(self) -> str:
        return PurePath(self.name).name

    def problem(self, line: int, rule: str, message: str, fix: str) -> EdgarProblem:
        return EdgarProblem(self.name, line, rule, message, fix)

    def inside_refused(self, element: etree._Element) -> bool:
        """Whether an ancestor of the element is itself a refused tag."""
        return element in self._ancestry()[0]

    def inside_table(self, element: etree._Element) -> bool:
        return element in self._ancestry()[1]

    def _ancestry(self) -> tuple[set[etree._Element], set[etree._Element]]:
        """The elements inside a refused element, and those inside a table, found in one pass
        from the root down (asking each element for its ancestors is quadratic in the depth)."""
        if self._inside is None:
            refused: set[etree._Element] = set()
            tables: set[etree._Element] = set()
            for element in self.root.iter():
                parent = element.getparent()
                if parent is None or not isinstance(parent.tag, str):
                    continue
                if parent in refused or _refusal(parent) is not None:
                    refused.add(element)
                if parent in tables or parent.tag == "table":
                    tables.add(element)
            self._inside = (refused, tables)
        return self._inside

    def line_of(self, offset: int) -> int:
        return bisect_left(self._newlines, offset) + 1

    def element_line(self, element: etree._Element) -> int:
        """The line where the start tag begins (lxml reports the line where it ends)."""
        span = self._spans.get(element)
        return self.line_of(span[0]) if span else element.sourceline or 1

    def attribute_line(self, element: etree._Element, attribute: str) -> int:
        span = self._spans.get(element)
        if span is None:
            return element.sourceline or 1
        if element not in self._attributes:
            # Where each name is first written in the start tag, found in one pass over it:
            # an element with thousands of attributes must not be searched once for each.
            first: dict[str, int] = {}
            for match in _ATTRIBUTE_NAME.finditer(self.text, span[0], span[1]):
                first.setdefault(match[1].lower(), match.start(1))
            self._attributes[element] = first
        return self.line_of(self._attributes[element].get(attribute.lower(), span[0]))

    def _match_start_tags(self) -> dict[etree._Element, tuple[int, int]]:
        """Each element's start tag in the source: lxml gives the line where the tag ends, so the
        n-th element with a tag name ending on a line is the n-th such start tag in the text."""
        found: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for name, start, end in _start_tags(_mask(self.text)):
            key = (name.lower(), self.line_of(end - 1))
            found.setdefault(key, []).append((start, end))
        taken: dict[tuple[str, int], int] = {}
        spans = {}
        for element in self.root.iter():
            if isinstance(element.tag, str):
                key = (element.tag, element.sourceline or 0)
                candidates = found.get(key)
                if candidates and taken.get(key, 0) < len(candidates):
                    spans[element] = candidates[taken.get(key, 0)]
                    taken[key] = taken.get(key, 0) + 1
        return spans


class _Searches:
    """`pattern.search(text, position)` for positions that mostly grow, each part of the text
    scanned once: a search that found its match at `r` from `p` answers every later search
    from a position between `p` and `r` (none of them can match earlier), and one that found
    nothing answers every search from further on."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.last: dict[re.Pattern[str], tuple[int, int]] = {}

    def find(self, pattern: re.Pattern[str], position: int) -> int:
        """The start of the first match at or after `position`, or -1."""
        known = self.last.get(pattern)
        if known is not None and known[0] <= position and (position <= known[1] or known[1] < 0):
            return known[1]
        match = pattern.search(self.text, position)
        found = match.start() if match else -1
        self.last[pattern] = (position, found)
        return found


_COMMENT_END = re.compile("-->")
_GREATER = re.compile(">")
_RAW_END = {"script": re.compile("</script", re.I), "style": re.compile("</style", re.I)}


def _mask(text: str) -> str:
    """The text with comments and script/style content blanked (same length, same lines). An
    unclosed comment or script is left as it is. Linear: each end is searched for once."""
    searches = _Searches(text)
    pieces: list[str] = []
    done = position = 0
    while (opening := _RAW_OPEN.search(text, position)) is not None:
        start = opening.start()
        if opening[1] is None:  # <!-- ... -->
            close = searches.find(_COMMENT_END, opening.end())
            blank_from, blank_to = start, close + 3
        else:  # <script ...> ... up to </script
            tag_end = searches.find(_GREATER, opening.end())
            close = searches.find(_RAW_END[opening[1].lower()], tag_end + 1) if tag_end >= 0 else -1
            blank_from, blank_to = tag_end + 1, close
        if close < 0:
            position = start + 1
            continue
        pieces += (text[done:blank_from], re.sub(r"[^\n]", " ", text[blank_from:blank_to]))
        done = position = blank_to
    pieces.append(text[done:])
    return "".join(pieces)


def _start_tags(text: str) -> Iterator[tuple[str, int, int]]:
    """(name, start, end) of each start tag, as the pattern
    `<([A-Za-z][^\\s/>]*)(?:[^>"']|"[^"]*"|'[^']*')*>` finds them, in linear time: that pattern,
    tried at every `<` of a document with no `>` after it, took time cubic in its length."""
    searches = _Searches(text)
    ends: dict[int, int] = {}  # a quote or '>' -> where the tag walking from it ends (-1: never)

    def walk(boundary: int) -> int:
        """Where a start tag ends when its attributes reach `boundary` (a quote or '>'). Each
        quote is followed once: the next quote of its kind closes it (one of a kind cannot
        lie in between), and the text after it up to the next quote or '>' holds neither."""
        path: list[int] = []
        result = -1
        while boundary >= 0:
            if boundary in ends:
                result = ends[boundary]
                break
            path.append(boundary)
            if text[boundary] == ">":
                result = boundary + 1
                break
            close = text.find(text[boundary], boundary + 1)
            after = _TAG_BOUNDARY.search(text, close + 1) if close >= 0 else None
            boundary = after.start() if after is not None else -1
        for visited in path:
            ends[visited] = result
        return result

    position = 0
    in_names = _Searches(text)  # the first quote after each `<`: its searches only grow too
    while (opening := _TAG_OPEN.search(text, position)) is not None:
        start = opening.start()
        name_end = searches.find(_NAME_STOP, start + 2)
        name_end = len(text) if name_end < 0 else name_end
        first = searches.find(_TAG_BOUNDARY, name_end)
        end = walk(first) if first >= 0 else -1
        if end < 0 and 0 <= (quote := in_names.find(_TAG_BOUNDARY, start + 1)) < name_end:
            # The pattern would shorten the name to its first quote and try again from there.
            name_end, end = quote, walk(quote)
        if end < 0:
            position = start + 1
            continue
        yield text[start + 1 : name_end], start, end
        position = end


def lint_files(paths: Iterable[Path]) -> list[EdgarProblem]:
    """`cmr check-edgar`: the problems of each file in turn. A file that cannot be read is an
    InputError naming it (unlike `lint_file`, which reports it as a problem of the file)."""
    problems: list[EdgarProblem] = []
    for path in paths:
        problems += lint_html(read_input_file(path, MAX_ASSET_BYTES, str(path)), str(path), path.parent)
    return problems


def lint_file(path: Path) -> list[EdgarProblem]:
    """Lint one file on disk; links to other files are looked up in its folder."""
    try:
        data = read_input_file(path, MAX_ASSET_BYTES, str(path))
    except InputError as error:
        message = error.problems[0].message
        return [EdgarProblem(str(path), 1, "parse", f"cannot read the file: {message}", "check the path")]
    return lint_html(data, str(path), path.parent)


def lint_html(text_bytes: bytes, name: str, folder: Path | None = None) -> list[EdgarProblem]:
    """Every EDGAR problem in one HTML document, sorted by line then rule. Never raises."""
    problems = _file_name(name)
    text = text_bytes.decode("utf-8", errors="replace")
    root, why = _parse(text_bytes, text)
    if root is None:
        problems.append(EdgarProblem(name, 1, "parse", why, "give an HTML document"))
        return _sorted(problems)
    doc = _Doc(name, folder, text, root)
    problems += _ascii(text_bytes, name)
    problems += _control_characters(doc)
    problems += _doctype(doc)
    for element in root.iter():
        if isinstance(element.tag, str):
            problems += _element_problems(doc, element)
    return _sorted(problems)


def _sorted(problems: list[EdgarProblem]) -> list[EdgarProblem]:
    return sorted(problems, key=lambda p: (p.line, p.rule, p.message))


def _parse(data: bytes, text: str) -> tuple[etree._Element | None, str]:
    """The parsed root, or None and why the bytes are not an HTML document."""
    if not text.strip():
        return None, "the file is empty"
    if b"\x00" in data:
        return None, "the file holds binary data (NUL bytes), not HTML"
    if not _MARKUP.search(text):
        return None, "no HTML markup found"
    parser = etree.HTMLParser(recover=True, encoding="utf-8", no_network=True)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except (etree.LxmlError, ValueError) as error:
        return None, f"cannot parse the document: {error}"
    if root is None:
        return None, "cannot parse the document: no elements found"
    return root, ""


# --- file name ---------------------------------------------------------------------------


def _file_name(name: str) -> list[EdgarProblem]:
    base = PurePath(name).name
    if not base or base == "-" or base.startswith("<"):  # a display name such as <stdin>
        return []
    return [EdgarProblem(name, 1, "file-name", why, fix) for why, fix in _name_faults(base)]


def _name_faults(base: str) -> Iterator[tuple[str, str]]:
    if len(base) > MAX_NAME:
        yield f"'{base}' is {len(base)} characters; EDGAR allows at most {MAX_NAME}", "shorten the name"
    if not base[0].isascii() or not base[0].isalnum():
        yield f"'{base}' must start with a letter or digit", "rename the file"
    bad = sorted({char for char in base if not _NAME_CHARS.fullmatch(char)})
    if bad:
        shown = " ".join(repr(char) for char in bad)
        yield (
            f"'{base}' contains {shown}; only letters, digits, '.', '-' and '_' are allowed",
            "rename the file",
        )
    suffix = PurePath(base).suffix.lower()
    if suffix == ".html":
        yield f"'{base}' ends in .html; EDGAR HTML documents end in .htm", "rename it to .htm"
    elif suffix == ".txt":
        yield f"'{base}' ends in .txt; EDGAR shows a .txt file as plain ASCII text", "rename it to .htm"
    elif suffix != ".htm":
        yield f"'{base}' does not end in .htm", "give the HTML document a .htm name"


# --- ascii and doctype -------------------------------------------------------------------


def _ascii(data: bytes, name: str) -> list[EdgarProblem]:
    problems = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if raw.isascii():
            continue
        line = raw.decode("utf-8", errors="replace")
        count = sum(1 for char in line if not char.isascii())
        column, char = next((i, c) for i, c in enumerate(line, start=1) if not c.isascii())
        what, fix = _describe_char(char, raw)
        plural = "s" if count > 1 else ""
        message = f"{count} non-ASCII character{plural}, the first {what} at column {column}"
        problems.append(EdgarProblem(name, number, "ascii", message, fix))
    return problems


# Control characters EDGAR refuses (tab, line feed and carriage return are text), as themselves
# or as numeric character references; references are checked for their code point below.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CHARACTER_REFERENCE = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));?")


def _refused_reference(match: re.Match[str]) -> bool:
    code = int(match[1], 16) if match[1] is not None else int(match[2])
    return not is_allowed_code_point(code)


def _control_characters(doc: _Doc) -> list[EdgarProblem]:
    """One problem per line holding a control character or a reference to one (or to U+FFFE)."""
    found: dict[int, str] = {}
    for match in _CONTROL.finditer(doc.text):
        found.setdefault(doc.line_of(match.start()), f"{describe(match[0])}")
    for match in _CHARACTER_REFERENCE.finditer(doc.text):
        if _refused_reference(match):
            code = int(match[1], 16) if match[1] is not None else int(match[2])
            what = describe(chr(code)) if code <= 0x10FFFF else "no such character"
            found.setdefault(doc.line_of(match.start()), f"{match[0]!r}: {what}")
    return [
        doc.problem(line, "control-character", f"{what} is not a character EDGAR accepts", "remove it")
        for line, what in sorted(found.items())
    ]


def _describe_char(char: str, raw: bytes) -> tuple[str, str]:
    generic = "write it as a numeric character reference such as &#8220;"
    if char == "\ufffd" and "\ufffd".encode() not in raw:
        byte = next(b for b in raw if b > 0x7F)
        try:
            guess = bytes([byte]).decode("cp1252")
        except UnicodeDecodeError:
            return f"byte 0x{byte:02X} (not UTF-8)", generic
        return f"byte 0x{byte:02X} (not UTF-8; Windows-1252 {guess!r})", f"write it as &#{ord(guess)};"
    return f"U+{ord(char):04X} {char!r}", f"write it as &#{ord(char)};"


def _doctype(doc: _Doc) -> list[EdgarProblem]:
    text = doc.text.lstrip("\ufeff")
    start = _LEADING_JUNK.match(text)
    offset = start.end() if start else 0
    rest = text[offset:]
    if _GOOD_DOCTYPE.match(rest) or _HTML_START.match(rest):
        return []
    line = text.count("\n", 0, offset) + 1
    if rest[:9].lower() == "<!doctype":
        found = rest.split(">", 1)[0][:80]
        message = f"the DOCTYPE is not HTML 4.01 or 3.2: {found}>"
    elif rest[:5].lower() == "<?xml":
        message = "the document starts with an XML declaration (XHTML); EDGAR wants HTML 3.2/4.01"
    else:
        message = "the document does not start with a DOCTYPE or <html>"
    return [doc.problem(line, "doctype", message, _DOCTYPE_FIX)]


# --- element rules -----------------------------------------------------------------------


def _element_problems(doc: _Doc, element: etree._Element) -> list[EdgarProblem]:
    problems = _tag(doc, element) + _nested_table(doc, element) + _image(doc, element)
    problems += _draft_banner(doc, element)
    for attribute, value in element.attrib.items():
        problems += _attribute(doc, element, str(attribute).lower(), str(value))
    return problems


def _refusal(element: etree._Element) -> tuple[str, str] | None:
    tag = str(element.tag).lower()
    if tag in _REFUSED:
        return _REFUSED[tag]
    if tag == "meta" and (element.get("http-equiv") or "").strip().lower() == "refresh":
        return "a refresh <meta> redirects the reader", "remove it"
    if tag not in _ALLOWED_TAGS:
        return (
            "it is not an HTML 3.2/4.01 tag this linter allows",
            "use a plain HTML 4.01 element (div, span, p)",
        )
    return None


def _tag(doc: _Doc, element: etree._Element) -> list[EdgarProblem]:
    refusal = _refusal(element)
    if refusal is None or doc.inside_refused(element):
        return []  # reported once, at the outermost refused element
    why, fix = refusal
    return [doc.problem(doc.element_line(element), "disallowed-tag", f"<{element.tag}>: {why}", fix)]


def _draft_banner(doc: _Doc, element: etree._Element) -> list[EdgarProblem]:
    """A draft banner left in a document that is about to be filed."""
    if str(element.tag).lower() in ("script", "style"):
        return []
    for text in (element.text, element.tail):
        if text and (found := _DRAFT_WORD.search(text)):
            snippet = " ".join(text[found.start() :].split())[:60]
            message = f"a draft banner is left in the document: {snippet!r}"
            fix = "build with presentation.draft: false for the copy to file"
            return [doc.problem(doc.element_line(element), "draft-banner", message, fix)]
    return []


def _nested_table(doc: _Doc, element: etree._Element) -> list[EdgarProblem]:
    if element.tag != "table" or not doc.inside_table(element):
        return []
    message = "a <table> inside another <table>"
    fix = "put the inner table after the outer one, or merge the cells"
    return [doc.problem(doc.element_line(element), "nested-table", message, fix)]


def _image(doc: _Doc, element: etree._Element) -> list[EdgarProblem]:
    if element.tag != "img":
        return []
    src = element.get("src")
    if src is None:
        return [doc.problem(doc.element_line(element), "image-type", "<img> has no src", "remove the <img>")]
    if _kind(src, "src") == "script":
        return []  # javascript-url says it
    path = src.strip().split("#", 1)[0].split("?", 1)[0]
    if path.lower().endswith(_IMAGE_SUFFIXES):
        return []
    message = f'<img src="{_short(src)}">: EDGAR accepts only JPEG and GIF graphics named .jpg or .gif'
    fix = "convert the image to .gif or .jpg (rename .jpeg to .jpg)"
    return [doc.problem(doc.attribute_line(element, "src"), "image-type", message, fix)]


def _attribute(doc: _Doc, element: etree._Element, attribute: str, value: str) -> list[EdgarProblem]:
    if attribute.startswith("on"):
        line = doc.attribute_line(element, attribute)
        message = f"<{element.tag} {attribute}=...>: event handlers are active content"
        return [doc.problem(line, "event-attribute", message, f"remove the {attribute} attribute")]
    if attribute == "style":
        return _style(doc, element, value)
    if attribute in _URL_ATTRIBUTES:
        return _reference(doc, element, attribute, value)
    return []


def _without_comments(css: str) -> str:
    """CSS without its /* comments */ (an unclosed one is kept, as the pattern
    `/\\*.*?\\*/` would keep it, found in linear time)."""
    pieces, done = [], 0
    while (start := css.find("/*", done)) >= 0:
        end = css.find("*/", start + 2)
        if end < 0:
            break  # no comment closes after this one either
        pieces.append(css[done:start])
        done = end + 2
    pieces.append(css[done:])
    return "".join(pieces)


def _style(doc: _Doc, element: etree._Element, value: str) -> list[EdgarProblem]:
    css = _without_comments(value).replace("\\", "")
    found = [label for pattern, label in _CSS_FORBIDDEN if pattern.search(css)]
    if not found:
        return []
    message = f"<{element.tag} style> uses {', '.join(found)}: CSS may not load or run anything"
    fix = "remove those declarations (no background images; use an <img> instead)"
    return [doc.problem(doc.attribute_line(element, "style"), "css-external", message, fix)]


# --- references --------------------------------------------------------------------------


def _kind(value: str, attribute: str) -> str:
    """script | sec | external | fragment | empty | local."""
    compact = re.sub(r"[\x00-\x20]", "", value)
    scheme = _SCHEME.match(compact)
    if scheme:
        if scheme[1].lower() in _SCRIPT_SCHEMES:
            return "script"
        return "sec" if attribute == "href" and _SEC_ARCHIVES.match(compact) else "external"
    if compact.startswith(("/", "\\")):
        return "external"
    if compact.startswith("#"):
        return "fragment"
    return "local" if compact else "empty"


def _reference(doc: _Doc, element: etree._Element, attribute: str, value: str) -> list[EdgarProblem]:
    kind = _kind(value, attribute)
    line = doc.attribute_line(element, attribute)
    shown = f'<{element.tag} {attribute}="{_short(value)}">'
    if kind == "script":
        fix = f"remove the {attribute} attribute"
        return [doc.problem(line, "javascript-url", f"{shown}: script and data URLs are active content", fix)]
    if kind == "external":
        return [
            doc.problem(line, "external-reference", f"{shown}: {_external_why(value)}", _external_fix(value))
        ]
    if attribute not in _FILE_ATTRIBUTES or kind not in ("fragment", "local"):
        return []
    why = _unresolved(doc, value.strip(), attribute == "href")
    if why is None:
        return []
    return [doc.problem(line, "broken-link", f"{shown}: {why}", "fix the link or add the target")]


def _short(value: str) -> str:
    """An attribute value for a message: one line, at most 80 characters."""
    flat = " ".join(value.split())
    return flat if len(flat) <= 80 else flat[:77] + "..."


def _external_why(value: str) -> str:
    if value.strip().lower().startswith("mailto:"):
        return "a mailto: link is an external reference"
    return "EDGAR allows no references outside the submission (only <a href> to sec.gov/Archives)"


def _external_fix(value: str) -> str:
    if value.strip().lower().startswith("mailto:"):
        return "write the e-mail address as plain text"
    return "write the address as plain text, or include the file in the submission and link to it by name"


def _unresolved(doc: _Doc, value: str, check_fragment: bool) -> str | None:
    """Why a local reference does not resolve, or None when it does (or cannot be checked)."""
    path, _, fragment = value.partition("#")
    path = unquote(path.split("?", 1)[0]).removeprefix("./")
    if "/" in path or "\\" in path:
        return "an EDGAR submission is flat; refer to the file by its bare name"
    if not path or path == doc.basename:
        ids: frozenset[str] | None = doc.ids
    elif doc.folder is None:
        return None
    elif not _is_file(doc.folder / path):
        return f"there is no file '{path}' next to this document"
    else:
        ids = _other_ids(doc, path)
    if not check_fragment or not fragment or ids is None:
        return None
    if fragment in ids or unquote(fragment) in ids:
        return None
    where = "this document" if ids is doc.ids else f"'{path}'"
    return f"no element with id or <a name> '{fragment}' in {where}"


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, or holding NUL
        return False


def _other_ids(doc: _Doc, path: str) -> frozenset[str] | None:
    """Anchors of another HTML file in the folder (None: not HTML, or unreadable)."""
    if path not in doc.other_ids:
        doc.other_ids[path] = None
        if doc.folder is not None and PurePath(path).suffix.lower() in (".htm", ".html"):
            try:
                # A linked name may be a FIFO or a device: read it as any user-named file.
                data = read_input_file(doc.folder / path, MAX_ASSET_BYTES)
            except InputError:
                return None
            root, _ = _parse(data, data.decode("utf-8", errors="replace"))
            doc.other_ids[path] = _anchors(root) if root is not None else None
    return doc.other_ids[path]


def _anchors(root: etree._Element) -> frozenset[str]:
    names = set()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.get("id"):
            names.add(element.get("id"))
        if element.tag == "a" and element.get("name"):
            names.add(element.get("name"))
    return frozenset(str(name) for name in names)
