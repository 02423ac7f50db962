"""What `cmr serve` shows: the filing rendered in memory, or the problems that stop it.

A `Preview` is made once per change of the inputs. It holds either every document's HTML or
the list of problems, and a version: the sha256 of what was read and rendered, so that open
pages reload only when something they show has changed. PDFs are rendered on request and
kept by the sha256 of their inputs.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..build import document_pdf
from ..documents import documents_for
from ..filing.loader import LoadedFiling, load_filing
from ..manifest import input_digests, sha256
from ..problems import InputError, Problem
from ..report.consistency import check_documents
from ..report.context import DocumentContext, build_context
from ..report.html import render_html

# The PDFs of the last few versions: going back and forth between two drafts costs nothing.
PDF_CACHE_ENTRIES = 8


@dataclass(frozen=True)
class PreviewDocument:
    """A document of the filing as the preview lists it."""

    stem: str
    title: str
    formats: tuple[str, ...]


def preview_documents(context: DocumentContext) -> list[PreviewDocument]:
    """The documents this filing makes, in order: the one place the preview learns them."""
    return [
        PreviewDocument(doc.stem, doc.title, tuple(fmt.value for fmt in doc.formats))
        for doc in documents_for(context.files_cmr, context.audit_exhibit)
    ]


@dataclass(frozen=True)
class Preview:
    """One rendering of the filing: the documents' HTML, or the problems that stopped it."""

    version: str
    documents: tuple[PreviewDocument, ...] = ()
    pages: dict[str, str] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    loaded: LoadedFiling | None = None
    input_digests: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.loaded is not None

    def document(self, stem: str) -> PreviewDocument | None:
        return next((doc for doc in self.documents if doc.stem == stem), None)

    def input_files(self) -> list[Path]:
        """The files this rendering read, resolved (empty when the filing could not be loaded)."""
        return [path.resolve() for path in self.loaded.input_files()] if self.loaded else []

    def pdf_key(self, stem: str) -> str:
        """The sha256 of everything one PDF is made from: the inputs (filing, survey, CSS,
        templates and assets) and the HTML rendered from them, which pins the version even if a
        file changed while it was being read."""
        key = json.dumps([stem, self.input_digests], sort_keys=True) + self.pages[stem]
        return sha256(key.encode("utf-8"))


def render_preview(filing_path: Path) -> Preview:
    """Load and render the filing; every problem becomes part of the Preview, never an exception."""
    started = time.perf_counter()
    try:
        loaded = load_filing(filing_path)
        context = build_context(loaded)
        pages = render_html(loaded, context)
        check_documents(loaded, context, pages)  # what a build would say of the words, said here too
        documents = tuple(preview_documents(context))
        digests = tuple((entry["path"], entry["sha256"]) for entry in input_digests(loaded))
    except InputError as error:
        problems = tuple(error.problems)
        return Preview(version=_version({"problems": [str(p) for p in problems]}), problems=problems)
    return Preview(
        version=_version({"inputs": digests, "pages": pages, "warnings": [str(w) for w in loaded.warnings]}),
        documents=documents,
        pages=pages,
        warnings=tuple(loaded.warnings),
        loaded=loaded,
        input_digests=digests,
        seconds=time.perf_counter() - started,
    )


def _version(content: object) -> str:
    return sha256(json.dumps(content, sort_keys=True).encode("utf-8"))[:16]


class PdfCache:
    """PDFs rendered on request, one at a time, kept by `Preview.pdf_key`."""

    def __init__(self, render: Callable[[LoadedFiling, str], bytes] = document_pdf) -> None:
        self._render = render
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        # One render at a time: WeasyPrint's run sets SOURCE_DATE_EPOCH in the process
        # environment, and two layouts at once would only slow each other on two cores.
        self._lock = threading.Lock()
        self.renders = 0

    def get(self, preview: Preview, stem: str) -> bytes:
        if preview.loaded is None or stem not in preview.pages:
            raise KeyError(stem)
        key = preview.pdf_key(stem)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            pdf = self._render(preview.loaded, preview.pages[stem])
            self.renders += 1
            self._entries[key] = pdf
            while len(self._entries) > PDF_CACHE_ENTRIES:
                self._entries.popitem(last=False)
            return pdf
