"""Reviewer decisions on what suppliers wrote in words.

Ingest never guesses what free text in a mine-location cell means ("the southern Katanga
Province of the DRC that is not within the recognised conflict areas"): such a cell is reported,
and only a person can say which countries it gives. The decisions file (`cmr ingest --decisions
FILE`) records, for each such cell, the countries the text that could not be read means (none is
a decision too), why, who and when:

    decisions:
      - file: supplier-a.xlsx
        sheet: Smelter List
        cell: O12
        text: "Malaysia.Rwanda  the southern Katanga Province of the DRC ..."
        countries: [Democratic Republic of the Congo]
        reason: The supplier names the DRC as the mine location.
        decided_by: J. Rivera, Supply Chain Compliance
        decided_on: 2026-03-02

A decision holds only while the cell still says `text`; a supplier's revised file brings the
question back. Decisions are applied when the survey is built: the countries join that metal's
countries of origin, with the cell as their source, and the survey lists every decision applied
and every cell still waiting for one, so `cmr build` can refuse a final copy that would leave out
a Covered Country a supplier named. `--findings DIR` writes `decisions-to-make.yaml`, a decisions
file listing every undecided cell to fill in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml
from pydantic import Field

from ...filing.fields import CountryName, StrictModel, Text
from ...filing.loader import pydantic_problems
from ...filing.survey import MetalName
from ...filing.yamlio import LoadedYaml, load_yaml
from ...problems import InputError, display_path
from .locations import MineCell

STARTER_NAME = "decisions-to-make.yaml"


class Decision(StrictModel):
    file: Text
    sheet: Text = "Smelter List"
    cell: Text
    text: Text  # the whole cell as ingest read it
    # Written by ingest into the starter for the reader; not used.
    unread: list[Text] = Field(default_factory=list)
    mentions: list[Text] = Field(default_factory=list)
    # Only when the row names no 3TG metal: the metal the countries count for.
    metal: MetalName | None = None
    # Not yet filled in (the starter's empty value): the cell stays undecided.
    countries: list[CountryName] | None = None
    reason: Text | None = None
    decided_by: Text | None = None
    decided_on: date | None = None

    @property
    def decided(self) -> bool:
        return self.countries is not None


class DecisionsFile(StrictModel):
    decisions: list[Decision] = Field(default_factory=list)


Key = tuple[str, str, str]  # file, sheet, cell


@dataclass
class Decisions:
    """The decisions of one file, by cell."""

    source: str  # the file as shown to the user
    by_cell: dict[Key, tuple[int, Decision]] = field(default_factory=dict)

    def get(self, file: str, cell: MineCell) -> Decision | None:
        found = self.by_cell.get((file, cell.sheet, cell.cell))
        return found[1] if found else None

    def applying(self, file: str, cell: MineCell) -> Decision | None:
        """The decision on the cell, if it is filled in, made for what the cell says now, and
        placeable: the row's metal, or the decision's own when the row names none."""
        decision = self.get(file, cell)
        if decision is None or not decision.decided or decision.text != cell.text:
            return None
        if cell.metal is None and decision.metal is None:
            return None
        return decision

    def line(self, key: Key) -> int:
        return self.by_cell[key][0]


def load_decisions(path: Path) -> Decisions:
    """The reviewer's decisions, or an InputError naming the file, line and field at fault."""
    loaded = load_yaml(path, display_path(path))
    try:
        document = DecisionsFile.model_validate(loaded.data if loaded.data is not None else {})
    except Exception as error:  # pydantic's ValidationError, reported the way the filing's are
        from pydantic import ValidationError

        if not isinstance(error, ValidationError):
            raise
        raise InputError(pydantic_problems(loaded, error)) from None
    decisions = Decisions(loaded.file)
    problems = []
    for index, decision in enumerate(document.decisions):
        where = ("decisions", index)
        key = (decision.file, decision.sheet, decision.cell)
        if key in decisions.by_cell:
            first = decisions.by_cell[key][0]
            problems.append(loaded.problem(where, f"{_place(key)} is decided twice (also on line {first})"))
            continue
        if decision.decided:
            problems += _incomplete(loaded, where, decision)
        decisions.by_cell[key] = (loaded.value_position(where)[0] or 1, decision)
    if problems:
        raise InputError(problems)
    return decisions


def _incomplete(loaded: LoadedYaml, where: tuple, decision: Decision) -> list:
    """A decision says who made it, when and why; the countries alone are not enough."""
    missing = [name for name in ("reason", "decided_by", "decided_on") if getattr(decision, name) is None]
    return [
        loaded.problem(
            (*where, name),
            "a decision needs reason, decided_by and decided_on; fill them in (or empty countries to "
            "leave the cell undecided)",
        )
        for name in missing
    ]


def _place(key: Key) -> str:
    file, sheet, cell = key
    return f"{file} {sheet}!{cell}"


def starter_bytes(undecided: list[dict]) -> bytes:
    """A decisions file listing every cell still waiting for a decision, to fill in."""
    header = (
        "# Mine-location text that cmr ingest could not read, waiting for a reviewer's decision.\n"
        "# For each cell, give the countries the unread text means (countries: [] if none), why,\n"
        "# who and when; copy the entries into the decisions file given to `cmr ingest --decisions`.\n"
        "# An entry left with `countries:` empty stays undecided. `unread` and `mentions` are what\n"
        "# ingest read, for you; they are not used.\n"
    )
    entries = [
        {
            "file": item["file"],
            "sheet": item["sheet"],
            "cell": item["cell"],
            "text": item["text"],
            "unread": item["unread"],
            "mentions": item["mentions"],
            **({} if item.get("metal") else {"metal": None}),
            "countries": None,
            "reason": None,
            "decided_by": None,
            "decided_on": None,
        }
        for item in undecided
    ]
    body = yaml.safe_dump({"decisions": entries}, sort_keys=False, allow_unicode=True, width=100)
    return (header + body).encode("utf-8")
