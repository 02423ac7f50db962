"""Per-version cell maps: data files (cellmaps/*.json) describing where each value lives.

A new template version is a new or edited JSON file, not a code branch. Meanings name what a
question asks ("in_scope", "covered_countries"...) so the checks and the aggregation work the
same for every version.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Question(Strict):
    id: str
    meaning: str
    first_row: int
    # always | unless_out_of_scope (Q1 = No) | unless_out_of_scope_or_absent (Q1 or Q2 = No) | never
    required: str = "unless_out_of_scope_or_absent"


class Minerals(Strict):
    # fixed: the rows after each question title are these minerals in this order;
    # labels: each of `count` rows names its mineral in `label_column` (EMRT 2.x).
    mode: Literal["fixed", "labels"]
    rows: list[str] = []
    count: int = 0
    label_column: str = "B"


class CompanyQuestion(Strict):
    id: str
    meaning: str
    cell: str
    required: bool = True
    per_mineral_rows: int = 0  # EMRT 2.x question C: one row per mineral from `cell` down


class Declaration(Strict):
    sheet: str = "Declaration"
    company: dict[str, str]
    required_company: list[str]
    # Declaration scopes (their first letter) that need the description of scope filled in.
    scope_needs_description: list[str] = ["C"]
    answer_column: str = "D"
    comment_column: str | None = "G"
    minerals: Minerals
    questions: list[Question]
    company_questions: list[CompanyQuestion] = []


class Table(Strict):
    sheet: str
    first_row: int
    last_row: int = 10_000
    columns: dict[str, str]


class CellMap(Strict):
    family: str
    template: str
    description: str
    declaration: Declaration
    smelter_list: Table
    product_list: Table | None = None
    smelter_lookup: Table | None = None


@cache
def load_cellmap(family: str) -> CellMap:
    text = (files(__package__) / "cellmaps" / f"{family}.json").read_text(encoding="utf-8")
    return CellMap.model_validate(json.loads(text))


@cache
def available_families() -> tuple[str, ...]:
    folder = files(__package__) / "cellmaps"
    return tuple(sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")))
