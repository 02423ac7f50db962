"""Letters to suppliers: what to correct in the CMRT they sent, or a reminder to send one.

For each supplier whose response has error or warning findings, and each roster supplier who
did not answer, one letter as HTML (templates/letter.html.j2, overridable like the reports'
templates and rendered in the same sandbox), as Word (.docx, made from that HTML by the
package's Word writer) and as an email draft (.eml: never sent; To: the roster's contact email,
else the Declaration's, when it is a valid address). letters.csv lists them for a mail merge.
The letterhead comes from the filing when one is given (--filing).
"""

from __future__ import annotations

import email.policy
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from lxml import html as lxml_html

from ...problems import InputError, Severity
from ..models import Finding, FindingSeverity
from ..write.spreadsheet import csv_bytes
from .status import NOT_ANSWERED, SupplierStatus

# Findings about the company's own folder or disk, not about the supplier's work: never in a letter.
NOT_FOR_THE_SUPPLIER = frozenset({"file-duplicate", "entry-folder", "lookup-unreadable", "file-unreadable"})
# An address a mail program accepts as it is (RFC 5322's dot-atom, which is what people type).
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Characters XML 1.0 cannot carry (Word's files are XML): replaced, never dropped silently.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class Letterhead:
    name: str
    address: str
    contact_name: str
    contact_title: str | None
    phone: str
    email: str | None
    template_dir: Path | None


def load_letterhead(filing_path: Path) -> Letterhead:
    """The company's name, address and contact from the filing (its survey need not exist yet:
    the letters are written by the ingest that makes it)."""
    from ...filing.loader import _validate, resolve_inside
    from ...filing.models import Filing
    from ...filing.yamlio import load_yaml
    from ...problems import display_path

    loaded = load_yaml(filing_path, display_path(filing_path))
    filing, problems = _validate(loaded, Filing)
    template_dir = None
    if filing is not None and filing.presentation.template_dir is not None:
        template_dir, found = resolve_inside(
            filing_path.parent, filing.presentation.template_dir, loaded, ("presentation", "template_dir")
        )
        problems += found
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors or filing is None:
        raise InputError(errors or problems)
    registrant = filing.registrant
    outgoing = filing.outgoing_cmrt
    return Letterhead(
        name=registrant.name,
        address=f"{registrant.principal_executive_offices} {registrant.zip_code}",
        contact_name=registrant.contact.name,
        contact_title=registrant.contact.title,
        phone=registrant.contact.phone,
        email=outgoing.contact_email if outgoing is not None else None,
        template_dir=template_dir if template_dir is not None and template_dir.is_dir() else None,
    )


@dataclass(frozen=True)
class Letter:
    supplier: SupplierStatus
    kind: str  # corrections | reminder
    stem: str
    findings: list[Finding]
    email: str | None
    email_note: str


def valid_address(value: str | None) -> bool:
    return bool(value) and _ADDRESS.fullmatch(value or "") is not None


def letters_for(rows: list[SupplierStatus], reference_source: str) -> list[Letter]:
    """A letter to every supplier with something to correct, and to every roster supplier who
    did not answer; file names unique within the folder (letter-<supplier>.*).

    `reference_source` names the smelter reference list; where it is another supplier's
    workbook (the default list), that name is taken out of the messages: a letter names no
    file but the supplier's own."""
    letters = []
    used: set[str] = set()
    for row in rows:
        findings = [
            f.model_copy(update={"message": f.message.replace(f" ({reference_source})", "")})
            for f in row.findings
            if f.code not in NOT_FOR_THE_SUPPLIER
        ]
        if row.status != NOT_ANSWERED and not findings:
            continue
        stem = _stem(row.name, used)
        if valid_address(row.email):
            address, note = row.email, ""
        elif row.email:
            address, note = None, f"no valid address: {row.email!r}"
        else:
            address, note = None, "no address given"
        kind = "reminder" if row.status == NOT_ANSWERED else "corrections"
        letters.append(Letter(row, kind, stem, findings, address, note))
    return letters


def _stem(name: str, used: set[str]) -> str:
    flat = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:60] or "supplier"
    stem, number = f"letter-{flat}", 2
    while stem.casefold() in used:
        stem, number = f"letter-{flat}~{number}", number + 1
    used.add(stem.casefold())
    return stem


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _context(letter: Letter, letterhead: Letterhead | None, year: int, day: date) -> dict[str, object]:
    row = letter.supplier
    by_file: dict[str, list[dict[str, object]]] = {}
    for finding in letter.findings:
        by_file.setdefault(finding.file, []).append(
            {
                "code": finding.code,
                "severity": finding.severity.value,
                "sheet": finding.sheet,
                "cell": finding.cell,
                "found": _sentence_case(finding.message),
            }
        )
    files = [
        {"file": file, "findings": items, "counted": file in row.files}
        for file, items in sorted(by_file.items(), key=lambda item: (item[0] not in row.files, item[0]))
    ]
    return {
        "kind": letter.kind,
        "year": year,
        "date": f"{day:%B} {day.day}, {day.year}",
        "letterhead": letterhead,
        "supplier": {
            "name": row.name,
            "contact_name": row.contact_name,
            "effective_date": row.effective_date,
            "templates": row.templates,
            "files": row.files,
            "note": row.note,
        },
        "files": files,
        "errors": sum(1 for f in letter.findings if f.severity is FindingSeverity.ERROR),
        "warnings": sum(1 for f in letter.findings if f.severity is FindingSeverity.WARNING),
    }


def render_letters(
    letters: list[Letter], letterhead: Letterhead | None, year: int, day: date
) -> dict[str, bytes]:
    """letter file name -> bytes: .html, .docx and .eml of every letter."""
    from ...report.templating import make_environment, render_template, theme_stylesheet
    from ...word.docx import docx_bytes

    env = make_environment(letterhead.template_dir if letterhead else None)
    stylesheet = theme_stylesheet("css/letter.css")
    out: dict[str, bytes] = {}
    for letter in letters:
        context = _context(letter, letterhead, year, day) | {"stylesheet": stylesheet}
        page = _xml_safe(render_template(env, "letter.html.j2", context))
        out[f"{letter.stem}.html"] = page.encode("utf-8")
        out[f"{letter.stem}.docx"] = docx_bytes(page, f"{letter.stem}.html", day)
        out[f"{letter.stem}.eml"] = _eml(letter, page, letterhead, day)
    return out


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _plain(page: str) -> tuple[str, str]:
    """The subject (the page's title) and the letter as plain text, paragraph by paragraph."""
    root = lxml_html.document_fromstring(page.encode("utf-8"))
    title = root.find(".//title")
    subject = " ".join(title.text_content().split()) if title is not None else ""
    lines: list[str] = []
    body = root.find("body")
    for element in body.iter("h1", "h2", "h3", "p", "li") if body is not None else ():
        parent = element.getparent()
        if element.tag == "p" and parent is not None and parent.tag == "li":
            continue
        text = "\n".join(" ".join(part.split()) for part in _lines(element))
        prefix = ""
        if element.tag == "li" and parent is not None:
            prefix = f"{parent.index(element) + 1}. " if parent.tag == "ol" else "- "
        lines.append(prefix + text)
    return subject, "\n\n".join(line for line in lines if line.strip()) + "\n"


def _lines(element: lxml_html.HtmlElement) -> list[str]:
    """An element's text with its <br> as line breaks."""
    for br in element.iter("br"):
        br.tail = "\n" + (br.tail or "")
    return element.text_content().split("\n")


def _header_text(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())


def _eml(letter: Letter, page: str, letterhead: Letterhead | None, day: date) -> bytes:
    """An email draft (never sent): the letter as text and HTML, with a fixed MIME boundary and
    date, so the same run gives the same bytes."""
    subject, text = _plain(page)
    message = EmailMessage(policy=email.policy.default)
    if letterhead is not None and valid_address(letterhead.email):
        message["From"] = Address(_header_text(letterhead.contact_name), addr_spec=letterhead.email)
    if letter.email is not None:
        name = _header_text(letter.supplier.contact_name or letter.supplier.name)
        message["To"] = Address(name, addr_spec=letter.email)
    message["Subject"] = _header_text(subject)
    message["Date"] = format_datetime(datetime(day.year, day.month, day.day, tzinfo=UTC))
    message["X-Unsent"] = "1"  # opened as a draft to send, by the mail programs that know it
    message.set_content(text)
    message.add_alternative(page, subtype="html")
    message.set_boundary("=_cmr_" + hashlib.sha256(page.encode("utf-8")).hexdigest()[:32])
    return message.as_bytes()


CSV_COLUMNS = (
    "supplier",
    "supplier_id",
    "letter",
    "email",
    "email_note",
    "files_received",
    "errors",
    "warnings",
    "html",
    "docx",
    "eml",
)


def letters_csv(letters: list[Letter]) -> bytes:
    rows = [
        [
            letter.supplier.name,
            letter.supplier.supplier_id or "",
            letter.kind,
            letter.email or "",
            letter.email_note,
            "; ".join(letter.supplier.files),
            str(sum(1 for f in letter.findings if f.severity is FindingSeverity.ERROR)),
            str(sum(1 for f in letter.findings if f.severity is FindingSeverity.WARNING)),
            f"{letter.stem}.html",
            f"{letter.stem}.docx",
            f"{letter.stem}.eml",
        ]
        for letter in letters
    ]
    return csv_bytes(CSV_COLUMNS, rows)
