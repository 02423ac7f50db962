"""HTML to PDF with WeasyPrint, fetching nothing but the project's own assets.

WeasyPrint's default fetcher reads any file:// or http:// URL a document names, including
`<a rel=attachment href=/etc/passwd>`; `SandboxFetcher` allows only files inside the theme
folders (fonts, user CSS assets) and data: URLs, and stops the build on anything else.

`render_document` also runs the layout check (pagecheck/) on the laid-out pages before they
are painted: what it finds is returned with the PDF, for the build to print as warnings.
Importing this module installs the fix to WeasyPrint 70's line breaking (weasyfix.py).
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from weasyprint import CSS, HTML, Attachment
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from ..filing.inputs import MAX_ASSET_BYTES, read_input_file
from ..manifest import sha256
from ..pagecheck.model import Fault, words_of
from ..pagecheck.rules import check_pages
from ..pagecheck.weasy import pages_of
from ..problems import InputError
from . import weasyfix

weasyfix.install()

# The longest a PDF may take to render, in `cmr build`, `cmr diff` and `cmr serve` alike. The
# sample's CMR takes about 3 s; a filing of a few megabytes, under a minute. A render past it
# stops with an error instead of holding the command (or the preview) without end.
PDF_RENDER_SECONDS = 300.0


class RenderTooLong(Exception):
    """A PDF render went past PDF_RENDER_SECONDS."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"rendering the PDF took longer than {seconds:g} s (the limit for one document); "
            "the filing or its templates make a document too large to lay out"
        )


@contextlib.contextmanager
def render_time_limit(seconds: float | None = None) -> Iterator[None]:
    """Stop a render in this thread after `seconds` (PDF_RENDER_SECONDS by default) by raising
    RenderTooLong from a SIGALRM timer: WeasyPrint lays out in Python, so the exception lands
    within a moment. Only the main thread receives signals: elsewhere the caller must run the
    render in a process it can kill (as `cmr serve` does)."""
    limit = PDF_RENDER_SECONDS if seconds is None else seconds
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise RenderTooLong(limit)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class AssetRefused(FatalURLFetchingError):
    """A document asked for a resource outside the allowed asset folders."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"refused to load {url!r}: {reason}")
        self.url = url
        self.reason = reason


class SandboxFetcher(URLFetcher):
    def __init__(self, roots: Sequence[Path], record: dict[str, str] | None = None) -> None:
        super().__init__(fail_on_errors=True, allowed_protocols=("file", "data"))
        self.roots = [root.resolve() for root in roots]
        # URL -> sha256 of every file served (the render cache checks them before reuse).
        self.record = record

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        scheme = urlsplit(url).scheme.lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme != "file":
            raise AssetRefused(url, "documents may load only the project's own assets, not network resources")
        path = Path(url2pathname(urlsplit(url).path)).resolve()
        if not any(path.is_relative_to(root) for root in self.roots):
            raise AssetRefused(url, "the file is outside the project's template and asset folders")
        if not path.exists():
            raise AssetRefused(url, "no such asset file")
        try:
            data = read_input_file(path, MAX_ASSET_BYTES)
        except InputError as error:  # a folder, a FIFO, a device, too large
            raise AssetRefused(url, error.problems[0].message) from None
        if self.record is not None:
            self.record[url] = sha256(data)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(path.as_uri(), data, {"Content-Type": content_type})


@contextlib.contextmanager
def source_date_epoch(fallback: date) -> Iterator[None]:
    """Pin the timestamp fontTools writes into subset fonts (`head.modified`).

    fontTools honours SOURCE_DATE_EPOCH; when the caller has not set it, the filing's own
    date is used so the PDF never depends on the clock.
    """
    if "SOURCE_DATE_EPOCH" in os.environ:
        yield
        return
    epoch = int(datetime(fallback.year, fallback.month, fallback.day, tzinfo=UTC).timestamp())
    os.environ["SOURCE_DATE_EPOCH"] = str(epoch)
    try:
        yield
    finally:
        os.environ.pop("SOURCE_DATE_EPOCH", None)


@dataclass(frozen=True)
class EmbeddedFile:
    name: str
    data: bytes
    description: str


@dataclass
class Rendered:
    pdf: bytes
    faults: list[Fault] = field(default_factory=list)  # the layout check's, when it was asked for


def render_pdf(
    html: str,
    *,
    base_url: Path,
    font_stylesheet: Path,
    asset_roots: Sequence[Path],
    document_date: date,
    variant: str | None = None,
    embedded: Sequence[EmbeddedFile] = (),
    record: dict[str, str] | None = None,
) -> bytes:
    return render_document(
        html,
        base_url=base_url,
        font_stylesheet=font_stylesheet,
        asset_roots=asset_roots,
        document_date=document_date,
        variant=variant,
        embedded=embedded,
        record=record,
    ).pdf


def render_document(
    html: str,
    *,
    base_url: Path,
    font_stylesheet: Path,
    asset_roots: Sequence[Path],
    document_date: date,
    variant: str | None = None,
    embedded: Sequence[EmbeddedFile] = (),
    check_as: str | None = None,
    record: dict[str, str] | None = None,
) -> Rendered:
    """The PDF; with `check_as` (the name the faults give the document), the layout check's
    faults on its pages too. `record` collects the sha256 of every file the render loaded (the
    render cache checks them before reuse)."""
    fetcher = SandboxFetcher(asset_roots, record)
    fonts = FontConfiguration()
    stylesheet = CSS(
        string=font_stylesheet.read_text(encoding="utf-8"),
        base_url=font_stylesheet.as_uri(),
        url_fetcher=fetcher,
        font_config=fonts,
    )
    document = HTML(string=html, base_url=base_url.as_uri() + "/", url_fetcher=fetcher)
    # Attachment dates come from the filing too; WeasyPrint would stamp the clock otherwise.
    stamp = datetime(document_date.year, document_date.month, document_date.day, tzinfo=UTC)
    attachments = [
        Attachment(
            string=item.data,
            name=item.name,
            description=item.description,
            created=stamp,
            modified=stamp,
            url_fetcher=fetcher,
        )
        for item in embedded
    ]
    options = {"pdf_variant": variant, "attachments": attachments or None}
    with source_date_epoch(document_date), render_time_limit():
        rendered = document.render(font_config=fonts, stylesheets=[stylesheet], **options)
        faults = _layout_faults(document, rendered, check_as) if check_as else []
        pdf = rendered.write_pdf(**options)
    if pdf is None:  # pragma: no cover - write_pdf returns bytes when no target is given
        raise RuntimeError("WeasyPrint returned no PDF")
    return Rendered(pdf, faults)


def _layout_faults(source: HTML, rendered, name: str) -> list[Fault]:
    """The layout rules on the laid-out pages; the words of the document's own text (from the
    tree WeasyPrint parsed) tell a word cut in two from two words."""
    vocabulary = {word for text in source.etree_element.itertext() for word in words_of(text)}
    return check_pages(name, pages_of(rendered), vocabulary)
