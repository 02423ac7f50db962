"""Merge every supplier's workbook into the survey results `cmr build` reads.

Results are added one workbook at a time (so a run over thousands of files holds only the
figures, never the workbooks) and written out sorted, so a re-run gives the same bytes.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from ...filing.countries import lookup_country
from ...filing.survey import Metal, OriginBasis, RmapStatus
from ..models import Finding, RowKind, SupplierWorkbook, UnreadableWorkbook
from .checks import in_scope_metals
from .lists import ReferenceList, StatusList
from .locations import MineCell, PartKind, mentioned, mine_cells, unread_parts

if TYPE_CHECKING:
    from .decisions import Decision, Decisions

THREE_TG = {m.value for m in Metal}
TALLIED = (
    "in_scope",
    "covered_countries",
    "cahra",
    "recycled_scrap",
    "supplier_response",
    "all_smelters_identified",
)
RISK_AREAS = {
    "covered_countries": "the Covered Countries",
    "cahra": "conflict-affected and high-risk areas (CAHRAs)",
}
# How the parts of the mine-location cells are counted in the survey's mine_locations summary;
# an ambiguous part is one that could not be resolved.
PART_COUNTS = {
    PartKind.COUNTRY: "parts_resolved",
    PartKind.RECYCLED: "parts_recycled",
    PartKind.UNRESOLVED: "parts_unresolved",
    PartKind.AMBIGUOUS: "parts_unresolved",
    PartKind.DECLINED: "parts_declined",
}
NOT_ON_STATUS_LIST = "Not on the status list"
NO_STATUS_LIST = "No status list given"


# (file, sheet, row, cell, cell text): where a country of origin was named.
_Source = tuple[str, str, int, str, str]


@dataclass
class _SmelterTally:
    named_by: list[tuple[str, int, str | None]] = field(default_factory=list)
    reasons: set[str] = field(default_factory=set)


class _SmelterRows:
    """A CMRT's identified smelters as (CID, row, reasons), held as a list of the CIDs (the
    reference list's own strings), an array of the rows and the few rows that have reasons:
    a tuple per row cost this process a megabyte in a run over 600 files."""

    __slots__ = ("cids", "reasons", "rows")

    def __init__(self) -> None:
        self.cids: list[str] = []
        self.rows: array[int] | list[int] = array("q")
        self.reasons: dict[int, tuple[str, ...]] = {}  # index -> the row's reasons, when it has any

    def append(self, cid: str, row: int, reasons: tuple[str, ...]) -> None:
        if reasons:
            self.reasons[len(self.cids)] = reasons
        try:
            self.rows.append(row)
        except OverflowError:  # no sheet has such a row; a hostile file's number is kept as it is
            self.rows = [*self.rows, row]
        self.cids.append(cid)

    def __iter__(self) -> Iterator[tuple[str, int, tuple[str, ...]]]:
        for index, (cid, row) in enumerate(zip(self.cids, self.rows, strict=True)):
            yield cid, row, self.reasons.get(index, ())

    def __len__(self) -> int:
        return len(self.cids)


@dataclass
class _Contribution:
    """What one CMRT adds to the survey, worked out as it is read and added up only if it is
    the response that counts for its supplier (see suppliers/identity.py)."""

    file: str
    company: str | None
    tallies: tuple[tuple[str, str, str], ...] = ()  # (meaning, mineral, value), each held once per run
    cells: int = 0
    parts: Counter = field(default_factory=Counter)
    countries: list[tuple[str, str, _Source]] = field(default_factory=list)  # (metal, country, cell)
    smelters: _SmelterRows = field(default_factory=_SmelterRows)  # (CID, row, reasons)
    unidentified_rows: int = 0
    # The reviewer's decisions applied, and the cells with unread text still waiting for one.
    decided: list[dict] = field(default_factory=list)
    undecided: list[dict] = field(default_factory=list)


@dataclass
class Aggregator:
    reference: ReferenceList
    status: StatusList | None
    reporting_year: int
    folder: str
    files_found: int = 0
    files_unreadable: int = 0
    files_duplicate: int = 0  # the same content as a workbook already counted
    templates: Counter = field(default_factory=Counter)
    contributions: dict[str, _Contribution] = field(default_factory=dict)  # file -> what it adds
    decisions: Decisions | None = None
    responses_through: date | None = None  # the cut-off, when given
    decisions_used: set[tuple[str, str, str]] = field(default_factory=set)
    # Each distinct (meaning, mineral, answer) once: every CMRT of a folder gives two dozen,
    # most of them the same few (a run over 600 files held 14,000 tuples, 0.9 MB, before).
    _tally_items: dict[tuple[str, str, str], tuple[str, str, str]] = field(default_factory=dict, repr=False)

    def add(self, result: SupplierWorkbook | UnreadableWorkbook, empty: bool = False) -> None:
        """Count the file; work out what a CMRT response would add (kept until the responses
        that count are known). An empty workbook (a blank template) adds nothing."""
        self.files_found += 1
        if isinstance(result, UnreadableWorkbook):
            if result.finding.code == "file-duplicate":
                self.files_duplicate += 1
            else:
                self.files_unreadable += 1
            return
        self.templates[f"{result.template} {result.version}"] += 1
        if result.template != "CMRT" or empty:
            return  # EMRT/CRT declarations are read and checked but are not 3TG responses
        self.contributions[result.file] = self._contribution(result)

    def _contribution(self, result: SupplierWorkbook) -> _Contribution:
        adds = _Contribution(result.file, result.company.name)
        adds.tallies = self._answer_tallies(result)
        risky_metals = self._risky_metals(result)
        cells = {cell.row: cell for cell in mine_cells(result, self.reference)}
        decided = {row: self._decision(result.file, cell) for row, cell in cells.items()}
        for row, cell in cells.items():
            self._tally_mine_cell(adds, result.file, cell, decided[row])
        for row in result.smelters:
            entry = self.reference.get(row.cid) if row.kind is RowKind.IDENTIFIED else None
            if entry is None or entry.metal not in THREE_TG:
                adds.unidentified_rows += 1
                continue
            reasons = list(risky_metals.get(entry.metal, ()))
            if row.row in cells:
                reasons += _mine_location_reasons(result.file, cells[row.row], decided[row.row])
            adds.smelters.append(entry.cid, row.row, tuple(reasons))
        return adds

    def _decision(self, file: str, cell: MineCell) -> Decision | None:
        """The reviewer's decision on the cell's unread text, if one holds for what it says now."""
        if self.decisions is None or not unread_parts(cell):
            return None
        if self.decisions.get(file, cell) is None:
            return None
        self.decisions_used.add((file, cell.sheet, cell.cell))
        # Not filled in yet, made for text the cell no longer holds, or with no metal to count
        # for: the cell stays undecided (checks.py says why).
        return self.decisions.applying(file, cell)

    @staticmethod
    def _tally_mine_cell(adds: _Contribution, file: str, cell: MineCell, decision: Decision | None) -> None:
        """Every part of the cell counted once; its countries kept, with the cell, for its metal
        (a row that names no identifiable smelter still declares where that metal was mined).
        The parts that could not be read count as decided when a reviewer decided them; the
        countries decided join the metal's. A cell with unread text and no decision is listed."""
        adds.cells += 1
        source = (file, cell.sheet, cell.row, cell.cell, cell.text)
        for part in cell.parts:
            kind = PART_COUNTS[part.kind]
            if decision is not None and kind == "parts_unresolved":
                kind = "parts_decided"
            adds.parts[kind] += 1
            if part.kind is PartKind.COUNTRY and part.country is not None and cell.metal is not None:
                adds.countries.append((cell.metal, part.country.name, source))
        unread = unread_parts(cell)
        if not unread:
            return
        if decision is None:
            adds.undecided.append(_undecided(file, cell, unread))
            return
        metal = cell.metal or decision.metal
        for country in decision.countries or []:
            if metal is not None:
                adds.countries.append((metal, country.name, source))
        adds.decided.append(_decided(file, cell, decision, metal))

    def _answer_tallies(self, workbook: SupplierWorkbook) -> tuple[tuple[str, str, str], ...]:
        held = self._tally_items
        return tuple(
            held.setdefault(item, item)
            for item in (
                (answer.meaning, mineral, answer.value or "(blank)")
                for mineral, answers in workbook.answers.items()
                if mineral in THREE_TG
                for answer in answers
                if answer.meaning in TALLIED
            )
        )

    @staticmethod
    def _risky_metals(workbook: SupplierWorkbook) -> dict[str, list[str]]:
        """Metals for which the supplier answered that smelters source from the Covered Countries
        or from conflict-affected and high-risk areas: every such answer is a reason of its own."""
        risky: dict[str, list[str]] = defaultdict(list)
        for mineral in in_scope_metals(workbook):
            for answer in workbook.answers.get(mineral, []):
                if answer.meaning in RISK_AREAS and (answer.value or "").lower() == "yes":
                    risky[mineral].append(
                        f"{workbook.file} (Declaration {answer.cell}) answers Yes: {mineral} smelters in its "
                        f"supply chain source from {RISK_AREAS[answer.meaning]}"
                    )
        return risky

    def _status(self, cid: str) -> tuple[RmapStatus, str | None]:
        if self.status is None:
            return RmapStatus.OTHER, NO_STATUS_LIST
        entry = self.status.entries.get(cid)
        if entry is None:
            return RmapStatus.OTHER, NOT_ON_STATUS_LIST
        return entry.status, entry.note

    def result(self, response: Responses) -> dict:
        """The survey results document (plain data, ready for YAML), from the responses that count."""
        counted = sorted(file for file in response.counted if file in self.contributions)
        totals = _Totals.of(self.contributions[file] for file in counted)
        smelters, red_flags = [], []
        order = [m.value for m in Metal]
        for cid in sorted(totals.smelters, key=lambda c: (order.index(self.reference.entries[c].metal), c)):
            entry, tally = self.reference.entries[cid], totals.smelters[cid]
            status, note = self._status(cid)
            country = lookup_country(entry.country or "")
            item = {
                "metal": entry.metal,
                "name": entry.name,
                "cid": cid,
                "country": country.name if country else entry.country,
                "status": status.value,
            }
            if note:
                item["status_note"] = note
            item["named_by"] = [
                {"file": file, "row": row, **({"supplier": supplier} if supplier else {})}
                for file, row, supplier in sorted(tally.named_by)
            ]
            smelters.append(item)
            reasons = set(tally.reasons)
            if country is not None and country.covered:
                reasons.add(f"located in {country.name}")
            if reasons and status not in (RmapStatus.CONFORMANT, RmapStatus.ACTIVE):
                red_flags.append(
                    {
                        "metal": entry.metal,
                        "cid": cid,
                        "name": entry.name,
                        "status": status.value,
                        "reasons": sorted(reasons),
                    }
                )
        suppliers = dict(response.suppliers)
        if self.responses_through is not None:
            suppliers["responses_through"] = self.responses_through.isoformat()
        document = {
            "reporting_year": self.reporting_year,
            "note": f"Generated by cmr ingest from the supplier workbooks in {self.folder}.",
            "suppliers": suppliers,
        }
        if self.status is not None:
            document["status_list"] = {"source": self.status.source, "as_of": self.status.as_of.isoformat()}
        document |= {
            "smelters": smelters,
            "unidentified_smelter_rows": totals.unidentified_rows,
            "countries_of_origin": {m: sorted(totals.countries[m]) for m in order if totals.countries.get(m)},
            "countries_of_origin_sources": {
                m: {name: _sources(totals.countries[m][name]) for name in sorted(totals.countries[m])}
                for m in order
                if totals.countries.get(m)
            },
            "countries_of_origin_basis": [OriginBasis.SUPPLIER_DECLARATIONS.value],
            "mine_locations": {
                key: totals.mine_locations[key]
                for key in ("cells", "parts_resolved", "parts_recycled", "parts_unresolved", "parts_declined")
            }
            | ({"parts_decided": totals.mine_locations["parts_decided"]} if totals.decided else {}),
            **({"mine_location_decisions": _by_place(totals.decided)} if totals.decided else {}),
            **({"mine_locations_undecided": _by_place(totals.undecided)} if totals.undecided else {}),
            "suppliers_not_responded": response.not_responded,
            "declaration_summary": {
                meaning: {
                    m: dict(sorted(totals.tallies[meaning][m].items()))
                    for m in order
                    if m in totals.tallies[meaning]
                }
                for meaning in TALLIED
                if meaning in totals.tallies
            },
            "red_flags": red_flags,
            "ingest": {
                "folder": self.folder,
                "files_found": self.files_found,
                "files_read": self.files_found - self.files_unreadable - self.files_duplicate,
                "files_unreadable": self.files_unreadable,
                "files_duplicate": self.files_duplicate,
                "templates": dict(sorted(self.templates.items())),
                **({"files_superseded": response.superseded} if response.superseded else {}),
                **({"files_empty": response.empty} if response.empty else {}),
                "reference_list": self.reference.source,
                "findings_by_severity": dict(sorted(response.findings_by_severity.items())),
            },
        }
        return document


@dataclass(frozen=True)
class Responses:
    """Which responses count, decided once every workbook is read (suppliers/identity.py)."""

    counted: frozenset[str]  # the files whose contributions make the survey
    set_aside: dict[str, Finding]  # file -> the one finding that replaces its own
    suppliers: dict[str, int]  # surveyed, responded
    not_responded: list[str]
    empty: int = 0  # blank templates
    findings_by_severity: Counter = field(default_factory=Counter)

    @property
    def superseded(self) -> int:
        """Files not counted: an earlier or a second response of a supplier."""
        return len(self.set_aside)


@dataclass
class _Totals:
    """The contributions of the responses that count, added up."""

    smelters: dict[str, _SmelterTally] = field(default_factory=lambda: defaultdict(_SmelterTally))
    unidentified_rows: int = 0
    # metal -> country name -> the cells that named it
    countries: dict[str, dict[str, set[_Source]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set))
    )
    mine_locations: Counter = field(default_factory=Counter)
    tallies: dict[str, dict[str, Counter]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Counter))
    )
    decided: list[dict] = field(default_factory=list)
    undecided: list[dict] = field(default_factory=list)

    @classmethod
    def of(cls, contributions: Iterable[_Contribution]) -> _Totals:
        totals = cls()
        for adds in contributions:
            totals.unidentified_rows += adds.unidentified_rows
            totals.decided += adds.decided
            totals.undecided += adds.undecided
            for meaning, mineral, value in adds.tallies:
                totals.tallies[meaning][mineral][value] += 1
            if adds.cells:
                totals.mine_locations["cells"] += adds.cells
                totals.mine_locations.update(adds.parts)
            for metal, country, source in adds.countries:
                totals.countries[metal][country].add(source)
            for cid, row, reasons in adds.smelters:
                tally = totals.smelters[cid]
                tally.named_by.append((adds.file, row, adds.company))
                tally.reasons.update(reasons)
        return totals


def _sources(sources: set[_Source]) -> list[dict]:
    return [
        {"file": file, "sheet": sheet, "cell": cell, "text": text}
        for file, sheet, _row, cell, text in sorted(
            sources, key=lambda s: (s[0], s[1], s[2], len(s[3]), s[3])
        )
    ]


def _mine_location_reasons(file: str, cell: MineCell, decision: Decision | None = None) -> list[str]:
    """A mine location in a Covered Country, named by the supplier on the smelter's row (or
    decided by a reviewer from its words); a Covered Country mentioned in text that could not be
    read and is not decided is a reason to look too."""
    reasons = []
    where = f"{file} ({cell.sheet} {cell.cell})"
    for part in cell.parts:
        if part.kind is PartKind.COUNTRY and part.country is not None and part.country.covered:
            reasons.append(f"{where} names a mine location in {part.country.name}")
        for country in part.mentions if decision is None else ():
            if part.kind is not PartKind.COUNTRY and country.covered:
                reasons.append(
                    f"{where} mentions {country.name} in a mine location that could not be read: "
                    f"{part.text!r}"
                )
    for country in decision.countries or [] if decision is not None else []:
        if country.covered:
            reasons.append(
                f"{where} names a mine location in {country.name} "
                f"(decided by {decision.decided_by} on {decision.decided_on})"
            )
    return reasons


def _undecided(file: str, cell: MineCell, unread: list[str]) -> dict:
    return {
        "file": file,
        "sheet": cell.sheet,
        "cell": cell.cell,
        "text": cell.text,
        **({"metal": cell.metal} if cell.metal else {}),
        "unread": unread,
        "mentions": [country.name for country in mentioned(cell)],
    }


def _decided(file: str, cell: MineCell, decision: Decision, metal: str | None) -> dict:
    return {
        "file": file,
        "sheet": cell.sheet,
        "cell": cell.cell,
        "text": cell.text,
        **({"metal": metal} if metal else {}),
        "countries": [country.name for country in decision.countries or []],
        "reason": decision.reason,
        "decided_by": decision.decided_by,
        "decided_on": decision.decided_on.isoformat() if decision.decided_on else None,
    }


def _by_place(items: list[dict]) -> list[dict]:
    """In file and cell order (column, then row), whatever order the workbooks came in."""
    return sorted(items, key=lambda item: (item["file"], item["sheet"], len(item["cell"]), item["cell"]))
