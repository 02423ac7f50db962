"""Who sent what: each workbook's supplier, and the one response of each supplier that counts.

A supplier's identity is, in this order of strength:

- the roster's supplier, when the roster names the file, the Declaration's company unique ID
  (its "Supplier ID" column) or the company name (normalised); rows sharing a supplier ID are
  one supplier, so a roster can map several names and IDs to one company;
- the Declaration's company unique ID with its authority (an ID given without an authority
  joins the one authority named for that ID elsewhere, if there is exactly one);
- the company name normalised (case, spacing, punctuation, a legal-form suffix; see
  lists.company_key); a name joins the one ID whose workbooks carry that same name;
- else the file: a workbook without a company (no name, no ID) or without an effective date
  is its own supplier, since nothing says which of a supplier's files is the later one.

Among a supplier's workbooks of one template (CMRT, EMRT, CRT) the latest is the response: the
later effective date, then the newer template revision. The others are superseded: counted
nowhere, each with an info finding naming the file that counts. Two workbooks with the same
date and revision and the same declaration (company, answers, smelters) are one response; with
a different declaration the file whose name sorts last (numbers compared as numbers, so
"v10" after "v9") is counted and the other gets a `response-conflict` warning naming both.

A workbook with no company and no answers at all is an empty response (a blank template): one
`response-empty` finding, never a response, never the reference list.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..check.aggregate import Responses
from ..check.lists import RosterEntry, company_key, id_key
from ..check.responses import Response
from ..models import Finding, FindingSeverity


@dataclass(frozen=True)
class RosterSupplier:
    """One supplier of the roster: its rows grouped by supplier ID (else by name)."""

    index: int
    name: str
    supplier_id: str | None
    contact_name: str | None
    contact_email: str | None
    names: frozenset[str]
    ids: frozenset[str]
    files: frozenset[str]


def roster_suppliers(entries: Iterable[RosterEntry]) -> list[RosterSupplier]:
    groups: dict[str, list[RosterEntry]] = {}
    for entry in entries:
        key = (
            f"id:{id_key(entry.supplier_id)}"
            if id_key(entry.supplier_id)
            else f"name:{company_key(entry.supplier)}"
        )
        groups.setdefault(key, []).append(entry)
    suppliers = []
    for index, rows in enumerate(groups.values()):
        suppliers.append(
            RosterSupplier(
                index=index,
                name=rows[0].supplier,
                supplier_id=next((r.supplier_id for r in rows if r.supplier_id), None),
                contact_name=next((r.contact_name for r in rows if r.contact_name), None),
                contact_email=next((r.contact_email for r in rows if r.contact_email), None),
                names=frozenset(company_key(r.supplier) for r in rows if company_key(r.supplier)),
                ids=frozenset(id_key(r.supplier_id) for r in rows if id_key(r.supplier_id)),
                files=frozenset(r.file for r in rows if r.file),
            )
        )
    return suppliers


def roster_match(response: Response, roster: list[RosterSupplier]) -> RosterSupplier | None:
    """The roster supplier of a response: named by its file, else its ID, else its name."""
    for wanted in (
        lambda s: response.file in s.files,
        lambda s: bool(id_key(response.unique_id)) and id_key(response.unique_id) in s.ids,
        lambda s: bool(company_key(response.name)) and company_key(response.name) in s.names,
    ):
        for supplier in roster:
            if wanted(supplier):
                return supplier
    return None


class _Union:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def join(self, a: str, b: str) -> None:
        first, second = sorted((self.find(a), self.find(b)))
        if first != second:
            self.parent[second] = first


def identity_keys(responses: list[Response], roster: list[RosterSupplier]) -> dict[str, str]:
    """file -> the key of its supplier (see the module's docstring for the rules)."""
    union = _Union()
    primary: dict[str, str] = {}
    authorities: dict[str, set[str]] = defaultdict(set)
    id_names: dict[str, set[str]] = defaultdict(set)
    for response in responses:
        if response.unique_id and id_key(response.unique_id) and response.authority:
            authorities[id_key(response.unique_id)].add(id_key(response.authority))
    for response in responses:
        ident, name = id_key(response.unique_id), company_key(response.name)
        if not response.has_company or response.effective_date is None:
            primary[response.file] = f"file:{response.file}"
        elif ident:
            authority = id_key(response.authority) if response.authority else ""
            if not authority and len(authorities[ident]) == 1:
                authority = next(iter(authorities[ident]))
            primary[response.file] = f"id:{authority}:{ident}"
            if name:
                id_names[name].add(primary[response.file])
        else:
            primary[response.file] = f"name:{name}"
        union.find(primary[response.file])
    for response in responses:
        key = primary[response.file]
        if key.startswith("name:") and len(owners := id_names.get(key[5:], set())) == 1:
            union.join(key, next(iter(owners)))
        if not key.startswith("file:") and (supplier := roster_match(response, roster)) is not None:
            union.join(key, f"roster:{supplier.index:06d}")
    return {file: union.find(key) for file, key in primary.items()}


@dataclass
class Supplier:
    """One supplier of the campaign: its responses (and the ones that count) and its roster row."""

    key: str
    responses: list[Response] = field(default_factory=list)
    counted: list[Response] = field(default_factory=list)  # one per template
    roster: RosterSupplier | None = None

    @property
    def name(self) -> str:
        if self.roster is not None:
            return self.roster.name
        for response in self.counted or self.responses:
            if response.name:
                return response.name
        return (self.counted or self.responses)[0].file

    @property
    def latest(self) -> Response | None:
        """The counted CMRT if any, else the latest counted response."""
        for response in self.counted:
            if response.template == "CMRT":
                return response
        return max(self.counted, key=lambda r: r.order) if self.counted else None


@dataclass
class Campaign:
    """Every supplier of the run, and the roster's suppliers who sent nothing that counts."""

    suppliers: list[Supplier]
    not_answered: list[RosterSupplier]
    set_aside: dict[str, Finding]  # file -> the finding that replaces its other findings
    empty: list[Response]
    roster_suppliers: list[RosterSupplier] = field(default_factory=list)

    @property
    def counted_files(self) -> set[str]:
        return {response.file for supplier in self.suppliers for response in supplier.counted}

    def responses(self, roster_given: bool) -> Responses:
        """What the survey says of the responses: which count, which are set aside, and the
        suppliers surveyed and responded of the 3TG survey (with the roster's names not answered)."""
        answering = [s for s in self.suppliers if any(r.template == "CMRT" for r in s.counted)]
        counted = frozenset(self.counted_files)
        if not roster_given:
            counts = {"surveyed": len(answering), "responded": len(answering)}
            return Responses(counted, self.set_aside, counts, [], len(self.empty))
        # As before suppliers had identities: a response the roster does not name may well be
        # from a roster supplier (an anonymous file), so it does not add a supplier surveyed.
        # Missing from the 3TG survey: no CMRT that counts (an EMRT alone is no answer to it).
        answered = {s.roster.index for s in answering if s.roster is not None}
        missing = sorted((s.name for s in self.roster_suppliers if s.index not in answered), key=str.casefold)
        surveyed = max(len({s.index for s in self.roster_suppliers}), len(answering))
        counts = {"surveyed": surveyed, "responded": surveyed - len(missing)}
        return Responses(counted, self.set_aside, counts, missing, len(self.empty))


def resolve(responses: list[Response], roster_entries: list[RosterEntry] | None) -> Campaign:
    """Group the responses by supplier and pick the one that counts in each (see the docstring)."""
    roster = roster_suppliers(roster_entries or [])
    filled = [r for r in responses if not r.empty]
    keys = identity_keys(filled, roster)
    by_key: dict[str, Supplier] = {}
    for response in sorted(filled, key=lambda r: r.file):
        supplier = by_key.setdefault(keys[response.file], Supplier(keys[response.file]))
        supplier.responses.append(response)
    set_aside: dict[str, Finding] = {}
    for supplier in by_key.values():
        supplier.roster = _roster_of(supplier, roster)
        for template in sorted({r.template for r in supplier.responses}):
            counted, findings = _latest([r for r in supplier.responses if r.template == template])
            supplier.counted.append(counted)
            set_aside.update(findings)
    answered = {s.roster.index for s in by_key.values() if s.roster is not None and s.counted}
    # An empty response never answers, but it can tell which roster supplier sent it (by file).
    not_answered = [s for s in roster if s.index not in answered]
    suppliers = sorted(by_key.values(), key=lambda s: (s.name.casefold(), s.key))
    return Campaign(suppliers, not_answered, set_aside, [r for r in responses if r.empty], roster)


def _roster_of(supplier: Supplier, roster: list[RosterSupplier]) -> RosterSupplier | None:
    if supplier.key.startswith("roster:"):
        return roster[int(supplier.key[7:])]
    for response in supplier.responses:  # a file of its own, named by the roster
        if (match := roster_match(response, roster)) is not None:
            return match
    return None


def _latest(responses: list[Response]) -> tuple[Response, dict[str, Finding]]:
    """The response that counts among one supplier's files of one template, and the finding
    that each other file gets instead of its own."""
    ordered = sorted(responses, key=lambda r: r.order)
    counted = ordered[-1]
    tied = [r for r in ordered if r.order[:2] == counted.order[:2]]
    findings: dict[str, Finding] = {}
    for other in ordered[:-1]:
        if other in tied and other.digest != counted.digest:
            findings[other.file] = _conflict(other, counted)
        elif other in tied:
            findings[other.file] = _set_aside(
                other,
                f"the same declaration as {counted.file} (same company, effective date, answers and "
                f"smelters), packaged differently; counted once, as {counted.file}",
            )
        else:
            findings[other.file] = _set_aside(
                other, f"superseded by {counted.file} ({_why_later(other, counted)}); not counted"
            )
    return counted, findings


def _why_later(older: Response, newer: Response) -> str:
    if older.effective_date != newer.effective_date:
        return f"effective date {_day(newer)}, later than this file's {_day(older)}"
    return f"same effective date, newer template {newer.template} {newer.version} against {older.version}"


def _day(response: Response) -> str:
    return response.effective_date.isoformat() if response.effective_date else "(none)"


def _set_aside(response: Response, message: str) -> Finding:
    return Finding(
        code="response-superseded",
        severity=FindingSeverity.INFO,
        file=response.file,
        message=message,
        supplier=response.name,
    )


def _conflict(other: Response, counted: Response) -> Finding:
    return Finding(
        code="response-conflict",
        severity=FindingSeverity.WARNING,
        file=other.file,
        message=(
            f"{counted.file} has the same company and effective date ({_day(counted)}) and the same "
            f"template revision, but a different declaration (answers, smelters or company details); "
            f"{counted.file} is counted (the file whose name sorts last) and this one is not, until "
            "the supplier says which one is current"
        ),
        supplier=other.name,
    )
