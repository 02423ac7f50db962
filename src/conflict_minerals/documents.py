"""The one table of the documents `cmr` writes, and the names of every other file a build writes.

Everything that names a document reads it from here: the build (which documents, which template,
which formats), the EDGAR package (document type, file name, description), `cmr diff` (which
documents to read and compare, and their titles) and the removal of stale outputs. Adding a
document or an output format touches this table and the writer that makes the new format.

Standard library only: the CLI reads the formats from here to build `--help`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class OutputFormat(StrEnum):
    """The formats a document can be written in; the value is the file's extension."""

    HTML = "html"
    PDF = "pdf"
    DOCX = "docx"  # Word, for counsel's drafts and tracked changes


# PDF variants (`--pdf-variant`) that render deterministically (pdf/x-4 writes a random UUID);
# WeasyPrint does not validate conformance, it only writes what the standard asks for.
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
class EdgarDocument:
    """How a document is filed on EDGAR: its document type, file name and description."""

    type: str
    file_pattern: str  # with {year} for the reporting year: formsd-{year}.htm
    description: str

    def file_name(self, year: int) -> str:
        return self.file_pattern.format(year=year)


@dataclass(frozen=True)
class Document:
    stem: str  # the file name without its extension: form-sd.html, form-sd.pdf
    template: str  # the Jinja template in the theme (or the override folder)
    title: str  # the title the document prints (document_title in the templates)
    list_title: str  # the title in lists of documents, such as the diff's sections
    edgar: EdgarDocument
    formats: tuple[OutputFormat, ...] = tuple(OutputFormat)
    # Filed only with a Conflict Minerals Report: not written in rcoi_only mode, where the RCOI
    # goes in Form SD Item 1.01 and there is no exhibit.
    only_with_report: bool = False
    # Filed only when the auditor's report is given as a file of its own (Exhibit 1.02).
    only_with_audit_exhibit: bool = False

    def file_name(self, output_format: OutputFormat) -> str:
        return f"{self.stem}.{output_format.value}"


FORM_SD = Document(
    stem="form-sd",
    template="form-sd.html.j2",
    title="Form SD",
    list_title="Form SD",
    edgar=EdgarDocument("SD", "formsd-{year}.htm", "Form SD"),
)
CMR = Document(
    stem="conflict-minerals-report",
    template="cmr.html.j2",
    title="Conflict Minerals Report",
    list_title="Conflict Minerals Report (Exhibit 1.01)",
    edgar=EdgarDocument("EX-1.01", "ex1-01-{year}.htm", "Conflict Minerals Report"),
    only_with_report=True,
)
AUDIT_REPORT = Document(
    stem="independent-audit-report",
    template="audit-report.html.j2",
    title="Independent Private Sector Audit Report",
    list_title="Independent Private Sector Audit Report (Exhibit 1.02)",
    edgar=EdgarDocument("EX-1.02", "ex1-02-{year}.htm", "Independent Private Sector Audit Report"),
    only_with_report=True,
    only_with_audit_exhibit=True,
)
# In filing order: Form SD first, then its exhibits.
DOCUMENTS = (FORM_SD, CMR, AUDIT_REPORT)


def documents_for(files_report: bool, audit_exhibit: bool = False) -> tuple[Document, ...]:
    """The documents a filing is made of: with or without the Conflict Minerals Report, and the
    auditor's report as Exhibit 1.02 when it is given as a file."""
    return tuple(
        doc
        for doc in DOCUMENTS
        if (files_report or not doc.only_with_report) and (audit_exhibit or not doc.only_with_audit_exhibit)
    )


# The other files a build writes, relative to its folder.
SNAPSHOT = "filing-data.json"  # the figures as data, read by `cmr diff`
EVIDENCE_JSON = "evidence.json"
EVIDENCE_HTML = "evidence.html"
EDGAR_DIR = "edgar"  # `--edgar`: the documents as EDGAR .htm files, and submission.json
SUBMISSION = "submission.json"
MANIFEST = "manifest.json"  # written last; the build's own list of what it wrote


def _own_output_pattern() -> re.Pattern[str]:
    names = [re.escape(doc.file_name(fmt)) for doc in DOCUMENTS for fmt in doc.formats]
    names += [re.escape(name) for name in (SNAPSHOT, EVIDENCE_JSON, EVIDENCE_HTML)]
    year = re.escape("{year}")
    names += [re.escape(f"{EDGAR_DIR}/{doc.edgar.file_pattern}").replace(year, r"\d{4}") for doc in DOCUMENTS]
    names.append(re.escape(f"{EDGAR_DIR}/{SUBMISSION}"))
    return re.compile("|".join(names))


# Every file a build writes besides its manifest, as a path relative to its folder: only these
# are ever removed as stale outputs of an earlier build.
OWN_OUTPUT = _own_output_pattern()
