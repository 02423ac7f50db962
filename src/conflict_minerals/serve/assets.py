"""Which file, if any, a URL path of the preview may serve.

The preview serves the assets a document references (the theme's fonts and stylesheets, the
images of a template override folder) under the rules of the PDF's sandboxed fetcher: only
regular files whose real path, after symlinks, is inside one of the allowed folders. The URL
itself is refused before any file is looked at when it tries to leave its folder: a `..` or
`.` segment, the same encoded (`%2e%2e`), an encoded slash or backslash, an absolute path
(`//etc/passwd`), a NUL byte.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from lxml import html as lxml_html

from ..filing.inputs import MAX_ASSET_BYTES, read_input_file
from ..problems import InputError

# Percent-encoded dot, slash, backslash and NUL: a browser never needs them in a path to a
# file of the project, and decoding them is how a path escape slips past a check on `..`.
_ENCODED_ESCAPE = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)

# Types mimetypes does not know everywhere; with `nosniff` a stylesheet must say text/css.
_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}


class AssetRefused(Exception):
    """A path that tries to leave the allowed folders (HTTP 403)."""


class AssetMissing(Exception):
    """A path inside the allowed folders with no file behind it (HTTP 404)."""


def url_segments(raw_path: str) -> list[str]:
    """The folder and file names of a URL path, or AssetRefused if any could leave the folder."""
    if _ENCODED_ESCAPE.search(raw_path):
        raise AssetRefused("an encoded dot, slash, backslash or NUL in the path")
    try:
        decoded = unquote(raw_path, errors="strict")
    except UnicodeDecodeError:
        raise AssetRefused("the path is not UTF-8") from None
    if "\\" in decoded or "\x00" in decoded:
        raise AssetRefused("a backslash or NUL in the path")
    if not decoded.startswith("/"):
        raise AssetRefused("the path is not absolute from the server's root")
    relative = decoded[1:]
    if relative.startswith("/"):
        raise AssetRefused("an absolute file path")
    segments = relative.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise AssetRefused("a `..`, `.` or empty segment in the path")
    return segments


def resolve_asset(segments: Sequence[str], base: Path, roots: Sequence[Path]) -> Path:
    """The real path of `base/segments`, which must be a file inside one of `roots`."""
    candidate = base.joinpath(*segments)
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a symlink loop
        raise AssetMissing("no such file") from None
    if not any(real.is_relative_to(root.resolve()) for root in roots):
        raise AssetRefused("the file is outside the project's template and asset folders")
    return real


def read_asset(path: Path) -> tuple[bytes, str]:
    """The asset's bytes and content type; a folder, FIFO or device is missing, not an error page."""
    try:
        data = read_input_file(path, MAX_ASSET_BYTES)
    except InputError as error:
        raise AssetMissing(error.problems[0].message) from None
    content_type = _TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    return data, content_type or "application/octet-stream"


# ----- the files the documents use -----

_ORIGIN = "http://preview.invalid"
# Where a CSS reference starts: url(...) in any of its three spellings, or @import "...".
_CSS_REFERENCE_START = re.compile(r"url\(|@import", re.IGNORECASE)
_CSS_SPACE = " \t\r\n\f"
# Attributes through which a page loads a file (an <a href> is a link to follow, not a load).
_LOADING_ATTRIBUTES = ("src", "data", "poster", "background")
_MAX_STYLESHEETS = 1000  # a stylesheet importing itself, or thousands of others, ends here


def referenced_files(
    pages: Mapping[str, str], own_stylesheet: str, locate: Callable[[str], Path | None]
) -> frozenset[Path]:
    """The files the documents load, as the browser finds them: through `src`, `<link href>`,
    `srcset`, `style` attributes and `<style>` (CSS `url()` and `@import`), and the stylesheets
    found that way, followed to the files they load in turn. `own_stylesheet` is the preview's
    own (the fonts), added to every page. `locate` gives the file of a URL path, or None."""
    found: set[Path] = set()
    stylesheets: list[tuple[str, Path]] = []

    def add(base: str, reference: str) -> None:
        joined = urljoin(base, reference.strip())
        parts = urlsplit(joined)
        if f"{parts.scheme}://{parts.netloc}" != _ORIGIN:
            return  # another site, or data: (the page's CSP stops the former)
        path = locate(parts.path)
        if path is None or path in found:
            return
        found.add(path)
        if path.suffix.lower() == ".css":
            stylesheets.append((f"{_ORIGIN}{parts.path}", path))

    add(f"{_ORIGIN}/", own_stylesheet)
    for stem, page in pages.items():
        base = f"{_ORIGIN}/{stem}.html"
        for reference in _page_references(page):
            add(base, reference)
    done = 0
    while stylesheets and done < _MAX_STYLESHEETS:
        base, path = stylesheets.pop()
        done += 1
        try:
            css, _ = read_asset(path)
        except AssetMissing:
            continue
        for reference in css_references(css.decode("utf-8", errors="replace")):
            add(base, reference)
    return frozenset(found)


def css_references(css: str) -> list[str]:
    """The URLs a stylesheet loads (`url(...)`, `@import "..."`), found in linear time: the end of
    each is searched for from where the last search left off, never from every start again."""
    references: list[str] = []
    ends: dict[str, tuple[int, int]] = {}  # character -> (searched from, found at or -1)

    def find(char: str, start: int) -> int:
        known = ends.get(char)
        if known is not None and known[0] <= start and (start <= known[1] or known[1] < 0):
            return known[1]
        found = css.find(char, start)
        ends[char] = (start, found)
        return found

    position = 0
    while (opening := _CSS_REFERENCE_START.search(css, position)) is not None:
        start = opening.end()
        while start < len(css) and css[start] in _CSS_SPACE:
            start += 1
        position = opening.end()
        quote = css[start] if start < len(css) and css[start] in "\"'" else None
        if quote is not None:
            end = find(quote, start + 1)
            if end >= 0:
                references.append(css[start + 1 : end])
                position = end + 1
        elif opening[0].lower() == "url(":
            end = find(")", start)
            value = css[start:end].strip(_CSS_SPACE) if end >= 0 else ""
            if value and not any(char in value for char in _CSS_SPACE + "\"'("):
                references.append(value)
    return references


def _page_references(page: str) -> list[str]:
    root = lxml_html.document_fromstring(page.encode("utf-8"))
    references: list[str] = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        references += [element.get(name) for name in _LOADING_ATTRIBUTES if element.get(name)]
        if tag != "a" and tag != "area":
            references += [value for name, value in element.attrib.items() if name.endswith("href") and value]
        if srcset := element.get("srcset"):
            references += [candidate.split()[0] for candidate in srcset.split(",") if candidate.split()]
        if style := element.get("style"):
            references += css_references(style)
        if tag == "style" and element.text:
            references += css_references(element.text)
    return references
