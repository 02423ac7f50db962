"""What each supplier changed since the previous round: smelters added and removed, answers changed.

The previous round is given as its details folder (`cmr ingest --details DIR` of last round or
last year): every workbook of it, as read then. Its suppliers are found and their responses
chosen by the same rules as this run's (identity.py), and a supplier of this run is the same
as one of then when their identities meet (the same Declaration ID, normalised name or roster
supplier; a file without a company, by its name). Smelters are compared by metal and smelter
ID as the supplier gave them; answers question by question, per metal, and the company-level
questions.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ...problems import InputError, Problem
from ..check.lists import RosterEntry
from ..check.responses import Declared, Response, is_empty
from ..models import SupplierWorkbook
from ..read.discover import printable
from .identity import Campaign, identity_keys, resolve, roster_suppliers

MAX_DETAILS_BYTES = 64 * 1024 * 1024  # a details file is a few hundred kilobytes

SMELTER_ADDED, SMELTER_REMOVED, ANSWER_CHANGED = "smelter added", "smelter removed", "answer changed"
NEW_SUPPLIER, NOT_THIS_ROUND = "new supplier", "no response this round"
KINDS = {
    SMELTER_ADDED: "smelters_added",
    SMELTER_REMOVED: "smelters_removed",
    ANSWER_CHANGED: "answers_changed",
}


@dataclass(frozen=True)
class Change:
    supplier: str
    key: str  # the supplier's key in this run (status rows carry the same)
    kind: str
    metal: str
    item: str  # the smelter (ID and name) or the question (and its cell)
    previous: str
    current: str
    file: str


@dataclass(frozen=True)
class PreviousRound:
    folder: str
    responses: list[Response]
    declared: dict[str, Declared]


def read_previous(folder: Path) -> PreviousRound:
    """The previous round's details folder; a file that is not one of its details is an error
    naming it, and nothing is written."""
    shown = printable(str(folder))
    if not folder.is_dir():
        raise InputError(
            [
                Problem(
                    shown, None, None, "", "--previous: is not a folder (give last round's --details folder)"
                )
            ]
        )
    responses: list[Response] = []
    declared: dict[str, Declared] = {}
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if not path.name.endswith(".json") or path.name.startswith("."):
            continue
        workbook = _details_file(path)
        if workbook is None:
            continue  # a file that could not be read then: nothing to compare
        empty = is_empty(workbook)
        responses.append(Response.of(workbook, empty))
        if not empty:
            declared[workbook.file] = Declared.of(workbook)
    if not responses:
        raise InputError([Problem(shown, None, None, "", "--previous: holds no details file of a workbook")])
    return PreviousRound(shown, responses, declared)


def _details_file(path: Path) -> SupplierWorkbook | None:
    shown = printable(str(path))
    try:
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):
            raise InputError([Problem(shown, None, None, "", "is not a regular file")])
        if os.path.getsize(path) > MAX_DETAILS_BYTES:
            raise InputError([Problem(shown, None, None, "", "is over 64 MiB: not a details file")])
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InputError(
            [Problem(shown, None, None, "", f"cannot be read as a details file: {error}")]
        ) from None
    if isinstance(data, dict) and "finding" in data:
        return None
    try:
        return SupplierWorkbook.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = f"is not a details file of cmr ingest ({where}: {first['msg']})"
        raise InputError([Problem(shown, None, None, "", message)]) from None


_PREVIOUS = "\0previous\0"  # previous files, kept apart from this run's in one identity pass


def campaign_changes(
    campaign: Campaign,
    declared: dict[str, Declared],
    previous: PreviousRound,
    roster: list[RosterEntry] | None,
) -> list[Change]:
    """Per supplier: what changed since the previous round (see the module's docstring)."""
    before = resolve(previous.responses, roster)
    now_responses = [r for s in campaign.suppliers for r in s.responses]
    old_responses = [r.renamed(_PREVIOUS + r.file) for s in before.suppliers for r in s.responses]
    keys = identity_keys(now_responses + old_responses, roster_suppliers(roster or []))

    def meeting_key(file: str) -> str:
        key = keys[file]
        return "file:" + file.removeprefix(_PREVIOUS) if key.startswith("file:") else key

    earlier = {}
    for supplier in before.suppliers:
        cmrt = next((r for r in supplier.counted if r.template == "CMRT"), None)
        if cmrt is not None and cmrt.file in previous.declared:
            earlier[meeting_key(_PREVIOUS + cmrt.file)] = (supplier.name, previous.declared[cmrt.file])
    changes: list[Change] = []
    seen = set()
    for supplier in campaign.suppliers:
        cmrt = next((r for r in supplier.counted if r.template == "CMRT"), None)
        if cmrt is None or cmrt.file not in declared:
            continue
        meeting = meeting_key(cmrt.file)
        seen.add(meeting)
        now = declared[cmrt.file]
        if meeting not in earlier:
            changes.append(Change(supplier.name, supplier.key, NEW_SUPPLIER, "", "", "", "", now.file))
            continue
        changes += _compared(supplier.name, supplier.key, earlier[meeting][1], now)
    for meeting, (name, then) in sorted(earlier.items()):
        if meeting not in seen:
            changes.append(Change(name, "", NOT_THIS_ROUND, "", "", "", "", then.file))
    return changes


def _compared(name: str, key: str, then: Declared, now: Declared) -> list[Change]:
    changes = []
    for metal, cid in sorted(now.smelters.keys() - then.smelters.keys()):
        item = f"{cid} {now.smelters[(metal, cid)]}".strip()
        changes.append(Change(name, key, SMELTER_ADDED, metal, item, "", "listed", now.file))
    for metal, cid in sorted(then.smelters.keys() - now.smelters.keys()):
        item = f"{cid} {then.smelters[(metal, cid)]}".strip()
        changes.append(Change(name, key, SMELTER_REMOVED, metal, item, "listed", "", now.file))
    for metal, question in sorted(then.answers.keys() & now.answers.keys()):
        old, new = then.answers[(metal, question)], now.answers[(metal, question)]
        if (old[0] or "") != (new[0] or ""):
            label = question.split(" ")[0]
            item = f"{label} ({new[2].replace('_', ' ')}), Declaration {new[1]}"
            changes.append(
                Change(name, key, ANSWER_CHANGED, metal, item, old[0] or "", new[0] or "", now.file)
            )
    return changes


CSV_COLUMNS = ("supplier", "change", "metal", "item", "previous", "current", "file")


def changes_rows(changes: list[Change]) -> list[list[str]]:
    return [[c.supplier, c.kind, c.metal, c.item, c.previous, c.current, c.file] for c in changes]
