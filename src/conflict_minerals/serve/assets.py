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
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote

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
