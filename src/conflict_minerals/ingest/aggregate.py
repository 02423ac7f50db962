"""Merge every supplier's workbook into the survey results `cmr build` reads.

Results are added one workbook at a time (so a run over thousands of files holds only the
figures, never the workbooks) and written out sorted, so a re-run gives the same bytes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from ..filing.countries import lookup_country
from ..filing.survey import Metal, OriginBasis, RmapStatus
from .checks import in_scope_metals
from .lists import ReferenceList, RosterEntry, StatusList, company_key
from .locations import MineCell, PartKind, mentioned, mine_cells, unread_parts
from .models import RowKind, SupplierWorkbook, UnreadableWorkbook

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


@dataclass
class Aggregator:
    reference: ReferenceList
    status: StatusList | None
    roster: list[RosterEntry] | None
    reporting_year: int
    folder: str
    files_found: int = 0
    files_unreadable: int = 0
    files_duplicate: int = 0  # the same content as a workbook already counted
    templates: Counter = field(default_factory=Counter)
    responders: list[tuple[str, str | None]] = field(default_factory=list)  # (file, company)
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
    findings_by_severity: Counter = field(default_factory=Counter)
    decisions: Decisions | None = None
    responses_through: date | None = None  # the cut-off, when given
    # The reviewer's decisions applied, and the cells with unread text still waiting for one.
    decided: list[dict] = field(default_factory=list)
    undecided: list[dict] = field(default_factory=list)
    decisions_used: set[tuple[str, str, str]] = field(default_factory=set)

    def add(self, result: SupplierWorkbook | UnreadableWorkbook, severities: list[str]) -> None:
        self.files_found += 1
        self.findings_by_severity.update(severities)
        if isinstance(result, UnreadableWorkbook):
            if result.finding.code == "file-duplicate":
                self.files_duplicate += 1
            else:
                self.files_unreadable += 1
            return
        self.templates[f"{result.template} {result.version}"] += 1
        if result.template != "CMRT":
            return  # EMRT/CRT declarations are read and checked but are not 3TG responses
        self.responders.append((result.file, result.company.name))
        self._tally_answers(result)
        risky_metals = self._risky_metals(result)
        cells = {cell.row: cell for cell in mine_cells(result, self.reference)}
        decided = {row: self._decision(result.file, cell) for row, cell in cells.items()}
        for row, cell in cells.items():
            self._tally_mine_cell(result.file, cell, decided[row])
        for row in result.smelters:
            entry = self.reference.get(row.cid) if row.kind is RowKind.IDENTIFIED else None
            if entry is None or entry.metal not in THREE_TG:
                self.unidentified_rows += 1
                continue
            tally = self.smelters[entry.cid]
            tally.named_by.append((result.file, row.row, result.company.name))
            tally.reasons.update(risky_metals.get(entry.metal, ()))
            if row.row in cells:
                tally.reasons.update(_mine_location_reasons(result.file, cells[row.row], decided[row.row]))

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

    def _tally_mine_cell(self, file: str, cell: MineCell, decision: Decision | None) -> None:
        """Every part of the cell counted once; its countries kept, with the cell, for its metal
        (a row that names no identifiable smelter still declares where that metal was mined).
        The parts that could not be read count as decided when a reviewer decided them; the
        countries decided join the metal's. A cell with unread text and no decision is listed."""
        self.mine_locations["cells"] += 1
        source = (file, cell.sheet, cell.row, cell.cell, cell.text)
        for part in cell.parts:
            kind = PART_COUNTS[part.kind]
            if decision is not None and kind == "parts_unresolved":
                kind = "parts_decided"
            self.mine_locations[kind] += 1
            if part.kind is PartKind.COUNTRY and part.country is not None and cell.metal is not None:
                self.countries[cell.metal][part.country.name].add(source)
        unread = unread_parts(cell)
        if not unread:
            return
        if decision is None:
            self.undecided.append(_undecided(file, cell, unread))
            return
        metal = cell.metal or decision.metal
        for country in decision.countries or []:
            if metal is not None:
                self.countries[metal][country.name].add(source)
        self.decided.append(_decided(file, cell, decision, metal))

    def _tally_answers(self, workbook: SupplierWorkbook) -> None:
        for mineral, answers in workbook.answers.items():
            if mineral not in THREE_TG:
                continue
            for answer in answers:
                if answer.meaning in TALLIED:
                    self.tallies[answer.meaning][mineral][answer.value or "(blank)"] += 1

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

    def _suppliers(self) -> tuple[dict, list[str]]:
        responded = len(self.responders)
        if not self.roster:
            return {"surveyed": responded, "responded": responded}, []
        answered_files = {file for file, _ in self.responders}
        answered_names = {company_key(name) for _, name in self.responders if name}
        missing = [
            entry.supplier
            for entry in self.roster
            if not (entry.file and entry.file in answered_files)
            and company_key(entry.supplier) not in answered_names
        ]
        surveyed = max(len(self.roster), responded)
        return {"surveyed": surveyed, "responded": surveyed - len(missing)}, sorted(missing, key=str.casefold)

    def result(self) -> dict:
        """The survey results document (plain data, ready for YAML)."""
        smelters, red_flags = [], []
        order = [m.value for m in Metal]
        for cid in sorted(self.smelters, key=lambda c: (order.index(self.reference.entries[c].metal), c)):
            entry, tally = self.reference.entries[cid], self.smelters[cid]
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
        suppliers, missing = self._suppliers()
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
            "unidentified_smelter_rows": self.unidentified_rows,
            "countries_of_origin": {m: sorted(self.countries[m]) for m in order if self.countries.get(m)},
            "countries_of_origin_sources": {
                m: {name: _sources(self.countries[m][name]) for name in sorted(self.countries[m])}
                for m in order
                if self.countries.get(m)
            },
            "countries_of_origin_basis": [OriginBasis.SUPPLIER_DECLARATIONS.value],
            "mine_locations": {
                key: self.mine_locations[key]
                for key in ("cells", "parts_resolved", "parts_recycled", "parts_unresolved", "parts_declined")
            }
            | ({"parts_decided": self.mine_locations["parts_decided"]} if self.decided else {}),
            **({"mine_location_decisions": _by_place(self.decided)} if self.decided else {}),
            **({"mine_locations_undecided": _by_place(self.undecided)} if self.undecided else {}),
            "suppliers_not_responded": missing,
            "declaration_summary": {
                meaning: {
                    m: dict(sorted(self.tallies[meaning][m].items()))
                    for m in order
                    if m in self.tallies[meaning]
                }
                for meaning in TALLIED
                if meaning in self.tallies
            },
            "red_flags": red_flags,
            "ingest": {
                "folder": self.folder,
                "files_found": self.files_found,
                "files_read": self.files_found - self.files_unreadable - self.files_duplicate,
                "files_unreadable": self.files_unreadable,
                "files_duplicate": self.files_duplicate,
                "templates": dict(sorted(self.templates.items())),
                "reference_list": self.reference.source,
                "findings_by_severity": dict(sorted(self.findings_by_severity.items())),
            },
        }
        return document


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
