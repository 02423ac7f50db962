"""Where the campaign stands: one status per supplier, from its findings and the roster.

- not answered: a roster supplier with no response that counts (an empty template is no answer);
- must correct: its response has an error finding;
- warnings only: warnings and no error;
- accepted: nothing but notes.

status.csv lists them (for a spreadsheet; every cell formula-guarded) and findings.html shows
the same with the totals.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..models import Finding, FindingSeverity
from ..write.spreadsheet import csv_bytes
from .identity import Campaign, RosterSupplier, Supplier, roster_match

NOT_ANSWERED, MUST_CORRECT, WARNINGS_ONLY, ACCEPTED = (
    "not answered",
    "must correct",
    "warnings only",
    "accepted",
)
STATUSES = (NOT_ANSWERED, MUST_CORRECT, WARNINGS_ONLY, ACCEPTED)


@dataclass
class SupplierStatus:
    """One supplier's row: who, where it stands, what it sent, and what to write to it about."""

    name: str
    status: str
    supplier_id: str | None = None
    on_roster: bool = False
    effective_date: str | None = None
    files: list[str] = field(default_factory=list)  # the responses that count
    templates: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # errors and warnings, every file of it
    contact_name: str | None = None
    email: str | None = None  # as given (roster first, then the Declaration); checked by letters
    note: str | None = None
    key: str = ""
    changes: Counter = field(default_factory=Counter)  # with --previous: kind -> how many

    def count(self, severity: FindingSeverity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    @property
    def count_errors(self) -> int:
        return self.count(FindingSeverity.ERROR)

    @property
    def count_warnings(self) -> int:
        return self.count(FindingSeverity.WARNING)


def campaign_status(campaign: Campaign, findings: list[Finding]) -> list[SupplierStatus]:
    """Every supplier of the run, then every roster supplier who did not answer, by name."""
    by_file: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.severity is not FindingSeverity.INFO:
            by_file.setdefault(finding.file, []).append(finding)
    rows = [_answered(supplier, by_file) for supplier in campaign.suppliers]
    rows += [_not_answered(entry, campaign, by_file) for entry in campaign.not_answered]
    return sorted(rows, key=lambda row: (row.name.casefold(), row.key))


def _answered(supplier: Supplier, by_file: dict[str, list[Finding]]) -> SupplierStatus:
    own = [f for response in supplier.responses for f in by_file.get(response.file, [])]
    errors = any(f.severity is FindingSeverity.ERROR for f in own)
    latest = supplier.latest
    roster = supplier.roster
    declared = next((r for r in supplier.counted if r.contact_email), latest)
    return SupplierStatus(
        name=supplier.name,
        status=MUST_CORRECT if errors else WARNINGS_ONLY if own else ACCEPTED,
        supplier_id=roster.supplier_id if roster else None,
        on_roster=roster is not None,
        effective_date=latest.effective_date.isoformat() if latest and latest.effective_date else None,
        files=[r.file for r in supplier.counted],
        templates=[f"{r.template} {r.version}" for r in supplier.counted],
        findings=own,
        contact_name=(roster.contact_name if roster and roster.contact_name else None)
        or (declared.contact_name if declared else None),
        email=(roster.contact_email if roster and roster.contact_email else None)
        or (declared.contact_email if declared else None),
        key=supplier.key,
    )


def _not_answered(
    entry: RosterSupplier, campaign: Campaign, by_file: dict[str, list[Finding]]
) -> SupplierStatus:
    """A roster supplier with no response that counts; the files the roster names for it that
    were blank or could not be read are said, with their findings (for the reminder)."""
    empty = {r.file for r in campaign.empty if roster_match(r, [entry]) is not None}
    unreadable = {file for file in entry.files if file in by_file and file not in empty}
    notes = []
    if empty:
        notes.append(f"sent a blank template: {', '.join(sorted(empty))}")
    if unreadable:
        notes.append(f"sent a file that could not be read: {', '.join(sorted(unreadable))}")
    return SupplierStatus(
        name=entry.name,
        status=NOT_ANSWERED,
        supplier_id=entry.supplier_id,
        on_roster=True,
        contact_name=entry.contact_name,
        email=entry.contact_email,
        note="; ".join(notes) or None,
        files=sorted(empty | unreadable),
        findings=[f for file in sorted(empty | unreadable) for f in by_file.get(file, [])],
        key=f"roster:{entry.index:06d}",
    )


def totals(rows: list[SupplierStatus]) -> dict[str, int]:
    counts = Counter(row.status for row in rows)
    return {status: counts[status] for status in STATUSES} | {"all": len(rows)}


CHANGE_COLUMNS = ("smelters_added", "smelters_removed", "answers_changed")


def status_csv(rows: list[SupplierStatus], with_changes: bool) -> bytes:
    header = ["supplier", "supplier_id", "on_roster", "status", "effective_date", "files", "templates"]
    header += ["errors", "warnings", "contact_name", "email", "note"]
    if with_changes:
        header += list(CHANGE_COLUMNS)
    lines = []
    for row in rows:
        line = [row.name, row.supplier_id or "", "yes" if row.on_roster else "no", row.status]
        line += [row.effective_date or "", "; ".join(row.files), "; ".join(row.templates)]
        line += [str(row.count(FindingSeverity.ERROR)), str(row.count(FindingSeverity.WARNING))]
        line += [row.contact_name or "", row.email or "", row.note or ""]
        if with_changes:
            line += [str(row.changes[kind]) for kind in CHANGE_COLUMNS]
        lines.append(line)
    return csv_bytes(header, lines)
