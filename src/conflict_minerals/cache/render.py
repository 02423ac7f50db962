"""The render cache of `cmr build`: a document whose inputs are unchanged is not rendered again.

A PDF or Word file is stored under a key that hashes everything its bytes depend on: the
rendered HTML, the PDF variant and attachments, the signature date and SOURCE_DATE_EPOCH (the
dates written into the file), where the HTML's relative URLs resolve and which folders the
sandbox serves, the versions of the renderer and its libraries (WeasyPrint, pydyf, fontTools,
Pango, HarfBuzz, fontconfig; python-docx and Pillow for Word) and of this tool (the hash of its
own code and built-in theme). The stylesheets, fonts and images a PDF loaded are recorded with
the entry, each with the sha256 of the bytes the renderer got; the entry is used only while
every one of them still has those bytes and would still be served by the sandbox. An entry
whose stored bytes no longer match their recorded sha256 is not used either.

Entries live in the user's cache folder (`$XDG_CACHE_HOME/conflict-minerals/render`, default
`~/.cache/...`), one file each, written atomically; a build that cannot write there still
builds. The folder is kept under a size bound (cache/folder.py), the least recently used
entries going first. Nothing is cached from a render that failed, so every error a fresh
render would report (a refused asset, an SVG the Word writer refuses) is reported again; and
every check of `build` runs on the documents whichever way they were made (the layout check,
which reads WeasyPrint's laid-out pages, is stored with the PDF and said again on a hit).

Standard library only: a build whose documents all come from the cache imports neither
WeasyPrint nor python-docx.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from ..filing.inputs import MAX_ASSET_BYTES, read_input_file
from ..manifest import sha256
from ..outputs import write_atomic
from ..problems import InputError
from ..report.pdfrequest import PdfJob
from .folder import cache_limit, trim, user_cache_root

# Bump when what an entry holds, or how keys are made, changes.
CACHE_FORMAT = "1"
ENTRY_SUFFIX = ".render"

# Record of what a PDF render loaded: URL -> sha256 of the bytes the renderer got.
Record = dict[str, str]


def default_render_cache_dir() -> Path:
    return user_cache_root() / "render"


# ----- what the bytes depend on besides the job -----

_PYTHON_PACKAGES = (
    "weasyprint", "pydyf", "fonttools", "tinycss2", "cssselect2", "tinyhtml5", "pillow", "python-docx",
    "lxml", "cffi",
)  # fmt: skip
_NATIVE_LIBRARIES = (
    ("libpango-1.0.so.0", "pango_version_string"),
    ("libharfbuzz.so.0", "hb_version_string"),
)


@cache
def renderer_versions() -> dict[str, str]:
    """The versions of the libraries that write the documents' bytes."""
    versions = {"python": sys.version.split()[0], "platform": sys.platform}
    for package in _PYTHON_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    for library, function in _NATIVE_LIBRARIES:
        versions[library] = _native_version(library, function)
    versions["libfontconfig.so.1"] = _fontconfig_version()
    versions["libharfbuzz-subset.so.0"] = "present" if _loads("libharfbuzz-subset.so.0") else "absent"
    return versions


def _native_version(library: str, function: str) -> str:
    try:
        getter = getattr(ctypes.CDLL(library), function)
    except (OSError, AttributeError):
        return "unknown"
    getter.restype = ctypes.c_char_p
    return (getter() or b"").decode("ascii", "replace")


def _fontconfig_version() -> str:
    try:
        return str(ctypes.CDLL("libfontconfig.so.1").FcGetVersion())
    except (OSError, AttributeError):
        return "unknown"


def _loads(library: str) -> bool:
    try:
        ctypes.CDLL(library)
    except OSError:
        return False
    return True


@cache
def tool_fingerprint() -> str:
    """The sha256 of this package's code and built-in theme: a changed writer is a new key,
    even where the version number stays (a checkout under development)."""
    from ..report.templating import builtin_theme_dir

    digest = []
    for folder in (Path(__file__).parents[1], builtin_theme_dir()):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.append(f"{path.relative_to(folder)}:{sha256(path.read_bytes())}")
    return sha256("\n".join(digest).encode("utf-8"))


def _environment() -> dict[str, str | None]:
    """Settings read from the environment while rendering."""
    names = ("SOURCE_DATE_EPOCH", "FONTCONFIG_FILE", "FONTCONFIG_PATH", "FONTCONFIG_SYSROOT")
    return {name: os.environ.get(name) for name in names}


def _key(kind: str, parts: dict[str, object]) -> str:
    whole = {
        "format": CACHE_FORMAT,
        "kind": kind,
        "tool": tool_fingerprint(),
        "versions": renderer_versions(),
        "environment": _environment(),
        **parts,
    }
    return sha256(json.dumps(whole, sort_keys=True, default=str).encode("utf-8"))


def pdf_key(job: PdfJob) -> str:
    return _key(
        "pdf",
        {
            "html": sha256(job.html.encode("utf-8")),
            "base_url": str(job.base_url),
            "font_stylesheet": str(job.font_stylesheet),
            "asset_roots": [str(root.resolve()) for root in job.asset_roots],
            "date": job.document_date.isoformat(),
            "variant": job.variant,
            "attachments": list(job.attachments),
        },
    )


def docx_key(html: str, name: str, document_date: date) -> str:
    parts = {"html": sha256(html.encode("utf-8")), "name": name, "date": document_date.isoformat()}
    return _key("docx", parts)


# ----- entries -----


@dataclass(frozen=True)
class Entry:
    data: bytes
    # What the build said of the document when it was rendered (the layout check's warnings),
    # said again when it is taken from here.
    notes: list[dict]


class RenderCache:
    """Entries in one folder: `<key[:2]>/<key>.render`, each a JSON line (the sha256 of the
    document and what it loaded) followed by the document's bytes."""

    def __init__(self, folder: Path, limit: int | None = None) -> None:
        self.folder = folder
        self.limit = cache_limit() if limit is None else limit
        self.hits = 0
        self.changed = False  # something was stored (here, or in a forked render)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}{ENTRY_SUFFIX}"

    def get(self, key: str, roots: Sequence[Path] = ()) -> bytes | None:
        """The stored document, if its bytes are intact and what it loaded is unchanged."""
        entry = self.entry(key, roots)
        return entry.data if entry is not None else None

    def entry(self, key: str, roots: Sequence[Path] = ()) -> Entry | None:
        """The stored document and its notes (the layout check's warnings on a PDF), if its
        bytes are intact and what it loaded is unchanged."""
        path = self._path(key)
        try:
            with open(path, "rb") as stream:
                header = json.loads(stream.readline())
                data = stream.read()
        except (OSError, ValueError):
            return None
        if not isinstance(header, dict) or sha256(data) != header.get("sha256"):
            return None
        if not _loaded_unchanged(header.get("loaded", {}), roots):
            return None
        notes = header.get("notes", [])
        if not isinstance(notes, list) or not all(isinstance(note, dict) for note in notes):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: the last to go when the folder is trimmed
        self.hits += 1
        return Entry(data, notes)

    def put(
        self, key: str, data: bytes, loaded: Record | None = None, notes: list[dict] | None = None
    ) -> None:
        """Store a document (with what the build said of it); a cache that cannot be written is no
        reason for a build to fail."""
        header = json.dumps(
            {"sha256": sha256(data), "loaded": loaded or {}, "notes": notes or []}, sort_keys=True
        )
        path = self._path(key)
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, header.encode("utf-8") + b"\n" + data)
        self.changed = True

    def trim(self) -> None:
        """Keep the folder under its size bound, once the build has stored what it rendered."""
        if self.changed:
            trim(self.folder, self.limit, ENTRY_SUFFIX)


def _loaded_unchanged(loaded: object, roots: Sequence[Path]) -> bool:
    """Every file a render loaded still has the bytes it had, and the sandbox would still serve
    it (inside the asset folders after symlinks, a regular file within the size limit)."""
    if not isinstance(loaded, dict):
        return False
    allowed = [root.resolve() for root in roots]
    for url, digest in loaded.items():
        path = Path(url2pathname(urlsplit(str(url)).path)).resolve()
        if not any(path.is_relative_to(root) for root in allowed):
            return False
        try:
            if sha256(read_input_file(path, MAX_ASSET_BYTES)) != digest:
                return False
        except (InputError, OSError):
            return False
    return True
