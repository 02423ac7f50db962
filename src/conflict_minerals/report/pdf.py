"""HTML to PDF with WeasyPrint, fetching nothing but the project's own assets.

WeasyPrint's default fetcher reads any file:// or http:// URL a document names, including
`<a rel=attachment href=/etc/passwd>`; `SandboxFetcher` allows only files inside the theme
folders (fonts, user CSS assets) and data: URLs, and stops the build on anything else.

`render_all` renders several documents at once in forked processes: WeasyPrint holds the GIL
while it lays out, so threads would not help.
"""

from __future__ import annotations

import contextlib
import mimetypes
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from weasyprint import CSS, HTML, Attachment
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from ..filing.inputs import MAX_ASSET_BYTES, read_input_file
from ..manifest import sha256
from ..outputs import die_with_parent
from ..problems import InputError


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
    with source_date_epoch(document_date):
        pdf = document.write_pdf(
            stylesheets=[stylesheet], font_config=fonts, pdf_variant=variant, attachments=attachments or None
        )
    if pdf is None:  # pragma: no cover - write_pdf returns bytes when no target is given
        raise RuntimeError("WeasyPrint returned no PDF")
    return pdf


# ----- several documents at once -----

Render = Callable[[], bytes]


def render_all(renders: Sequence[Render], processes: int | None = None) -> list[bytes]:
    """Each render's bytes, in order; the same bytes however many processes run them.

    With more than one process allowed (by default, one per core this process may use), every
    render but the first runs in a process forked from this one while this process runs the
    first. A fork starts in milliseconds with WeasyPrint already imported; a spawned process
    would spend more time importing it than the smaller document takes. A fork copies only
    the calling thread, so a process running other threads renders one document at a time.
    An error in a forked render (a refused asset's InputError included) is raised here as it
    would have been raised in this process, and no forked process outlives this call."""
    allowed = processes if processes is not None else len(os.sched_getaffinity(0))
    if allowed <= 1 or len(renders) <= 1 or not _can_fork():
        return [render() for render in renders]
    results: list[bytes] = []
    for start in range(0, len(renders), allowed):  # this process takes one render of each batch
        results += _render_batch(renders[start : start + allowed])
    return results


def _can_fork() -> bool:
    return sys.platform.startswith("linux") and threading.active_count() == 1


def _render_batch(renders: Sequence[Render]) -> list[bytes]:
    context = multiprocessing.get_context("fork")
    helpers = []
    try:
        for render in renders[1:]:
            receiver, sender = context.Pipe(duplex=False)
            helper = context.Process(
                target=_render_in_helper, args=(render, sender, os.getpid()), daemon=True
            )
            # Blocked across the fork: until the helper ignores Ctrl-C, it must not act on it.
            previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                helper.start()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
            sender.close()
            helpers.append((helper, receiver))
        first = renders[0]()
        return [first] + [_outcome(helper, receiver) for helper, receiver in helpers]
    finally:
        for helper, receiver in helpers:
            if helper.is_alive():
                helper.kill()
            helper.join()
            receiver.close()


def _render_in_helper(render: Render, sender: multiprocessing.connection.Connection, parent: int) -> None:
    die_with_parent(parent)
    # Ctrl-C reaches the whole process group: the parent stops, and kills this helper.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        outcome: tuple[str, object] = ("ok", render())
    except InputError as error:  # what the user must fix: raised again, unchanged, in the parent
        outcome = ("input", error)
    except BaseException as error:  # a bug: the parent reports it with this process's traceback
        outcome = ("failed", "".join(traceback.format_exception(error)))
    sender.send_bytes(pickle.dumps(outcome))
    sender.close()


def _outcome(
    helper: multiprocessing.process.BaseProcess, receiver: multiprocessing.connection.Connection
) -> bytes:
    try:
        kind, value = pickle.loads(receiver.recv_bytes())
    except EOFError:  # the helper died before it could answer
        helper.join()
        raise RuntimeError(f"a PDF rendering process died (exit code {helper.exitcode})") from None
    if kind == "input":
        raise value
    if kind == "failed":
        raise RuntimeError(f"rendering a PDF failed in a helper process:\n{value}")
    return value
