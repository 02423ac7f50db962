"""One PDF render as plain data, so that a process holding no filing can run it.

`cmr build` forks a render process before it loads the filing (report/parallel.Prestarted):
that process imports WeasyPrint while this one makes the documents, then is sent the longest
document's request. A request pickles without the filing's models, and this module imports
nothing heavy, so both processes can load it at once; WeasyPrint is imported when a request
runs (report/pdf.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..pagecheck.model import Fault
from ..problems import InputError, Problem


@dataclass(frozen=True)
class RenderedPdf:
    """What a request gives back, in classes this module's importers already hold: a result
    that named WeasyPrint's module (report/pdf.Rendered) would import WeasyPrint, half a
    second, into the process that unpickles it."""

    pdf: bytes
    faults: list[Fault]  # the layout check's, when it was asked for
    loaded: dict[str, str]  # the sha256 of every file the render loaded, by path


@dataclass(frozen=True)
class PdfJob:
    """Everything a PDF render is given, and what the render cache keys the PDF on
    (cache/render.pdf_key)."""

    html: str
    base_url: Path
    font_stylesheet: Path
    asset_roots: tuple[Path, ...]
    document_date: date
    variant: str | None
    # (name, sha256 of the data, description) of each PDF/A-3 attachment.
    attachments: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class PdfRequest:
    job: PdfJob
    # (name, data, description) of each PDF/A-3 attachment (the job holds their hashes).
    embedded: tuple[tuple[str, bytes, str], ...]
    check_as: str | None  # the document's name in the layout check's faults; None: no check
    filing_name: str  # what a refused asset or an over-long render is reported against

    def __call__(self) -> RenderedPdf:
        """The rendered PDF (with the layout check's faults) and the sha256 of every file the
        render loaded; a refused asset or an over-long render is an InputError naming the filing."""
        from .pdf import AssetRefused, EmbeddedFile, RenderTooLong, render_document

        loaded: dict[str, str] = {}
        try:
            job = self.job
            rendered = render_document(
                job.html,
                base_url=job.base_url,
                font_stylesheet=job.font_stylesheet,
                asset_roots=job.asset_roots,
                document_date=job.document_date,
                variant=job.variant,
                embedded=[EmbeddedFile(*item) for item in self.embedded],
                check_as=self.check_as,
                record=loaded,
            )
        except (AssetRefused, RenderTooLong) as refused:
            raise InputError([Problem(self.filing_name, None, None, "", str(refused))]) from None
        return RenderedPdf(rendered.pdf, rendered.faults, loaded)


def warm() -> None:
    """What a render process loads before its request comes: WeasyPrint (about 0.6 s)."""
    from . import pdf  # noqa: F401
