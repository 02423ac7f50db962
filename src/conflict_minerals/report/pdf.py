"""HTML to PDF with WeasyPrint, fetching nothing but the project's own assets.

WeasyPrint's default fetcher reads any file:// or http:// URL a document names, including
`<a rel=attachment href=/etc/passwd>`; `SandboxFetcher` allows only files inside the theme
folders (fonts, user CSS assets) and data: URLs, and stops the build on anything else.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from weasyprint import CSS, HTML, Attachment
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from ..filing.inputs import MAX_ASSET_BYTES, read_input_file
from ..problems import InputError


class AssetRefused(FatalURLFetchingError):
    """A document asked for a resource outside the allowed asset folders."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"refused to load {url!r}: {reason}")
        self.url = url
        self.reason = reason


class SandboxFetcher(URLFetcher):
    def __init__(self, roots: Sequence[Path]) -> None:
        super().__init__(fail_on_errors=True, allowed_protocols=("file", "data"))
        self.roots = [root.resolve() for root in roots]

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


# Variants that render deterministically (pdf/x-4 writes a random UUID); WeasyPrint does not
# validate conformance, it only writes what the standard asks for.
PDF_VARIANTS = (
    "pdf/a-1b",
    "pdf/a-2b",
    "pdf/a-2u",
    "pdf/a-3b",
    "pdf/a-3u",
    "pdf/a-4u",
    "pdf/a-1a",
    "pdf/a-2a",
    "pdf/a-3a",
    "pdf/ua-1",
    "pdf/ua-2",
)
# PDF/A-3 is the part that allows embedding arbitrary files (the survey results, the manifest).
ATTACHING_VARIANTS = ("pdf/a-3b", "pdf/a-3u", "pdf/a-3a")


@dataclass(frozen=True)
class EmbeddedFile:
    name: str
    data: bytes
    description: str


def render_pdf(
    html: str,
    *,
    base_url: Path,
    font_stylesheet: Path,
    asset_roots: Sequence[Path],
    document_date: date,
    variant: str | None = None,
    embedded: Sequence[EmbeddedFile] = (),
) -> bytes:
    fetcher = SandboxFetcher(asset_roots)
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
    with source_date_epoch(document_date):
        pdf = document.write_pdf(
            stylesheets=[stylesheet], font_config=fonts, pdf_variant=variant, attachments=attachments or None
        )
    if pdf is None:  # pragma: no cover - write_pdf returns bytes when no target is given
        raise RuntimeError("WeasyPrint returned no PDF")
    return pdf
