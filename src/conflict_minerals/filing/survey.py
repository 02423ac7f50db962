"""The survey results file: what `cmr ingest` writes and `cmr build` reads."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, Field

from .fields import CountryName, SmelterId, StrictModel, Text


class Metal(StrEnum):
    """The conflict minerals' derivatives, in the order filings list them."""

    TANTALUM = "tantalum"
    TIN = "tin"
    TUNGSTEN = "tungsten"
    GOLD = "gold"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class RmapStatus(StrEnum):
    """RMI Responsible Minerals Assurance Process status of a smelter or refiner."""

    CONFORMANT = "Conformant"
    ACTIVE = "Active"
    NON_CONFORMANT = "Non-Conformant"
    NOT_ENROLLED = "Not Enrolled"
    OTHER = "Other"


_STATUS_KEYS = {re.sub(r"[^a-z]", "", s.value.lower()): s for s in RmapStatus}


def _metal(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _status(value: object) -> object:
    # Status lists write "Non-Conformant", "NON CONFORMANT", "non_conformant"...
    if isinstance(value, str):
        return _STATUS_KEYS.get(re.sub(r"[^a-z]", "", value.lower()), value)
    return value


MetalName = Annotated[Metal, BeforeValidator(_metal)]
Status = Annotated[RmapStatus, BeforeValidator(_status)]


class SupplierResponse(StrictModel):
    surveyed: int = Field(ge=0, description="Suppliers sent a CMRT")
    responded: int = Field(ge=0, description="Suppliers who returned a CMRT")
    spend_coverage_percent: float | None = Field(default=None, ge=0, le=100)
    # The cut-off: responses received up to this day are in the figures.
    responses_through: date | None = None


class StatusList(StrictModel):
    source: Text
    as_of: date


class Provenance(StrictModel):
    """Where a figure came from: a supplier workbook and its Smelter List row."""

    file: Text
    row: int = Field(ge=1)
    supplier: Text | None = None


class Smelter(StrictModel):
    metal: MetalName
    name: Text
    cid: SmelterId
    country: CountryName
    status: Status
    status_note: Text | None = None
    named_by: list[Provenance] = Field(default_factory=list)


class RedFlag(StrictModel):
    """A smelter that may source from the Covered Countries or a CAHRA and is not Conformant or Active."""

    metal: MetalName
    cid: SmelterId
    name: Text
    status: Status
    reasons: list[Text]


class CellSource(StrictModel):
    """Where a value was read: a supplier workbook, its sheet and cell, and the cell's text."""

    file: Text
    sheet: Text
    cell: Text
    text: Text | None = None


class OriginBasis(StrEnum):
    """Where the countries of origin came from."""

    SUPPLIER_DECLARATIONS = "supplier_declarations"  # the suppliers' mine-location column
    RMI = "rmi"  # RMI country-of-origin data given to ingest as a file


class MineLocationSummary(StrictModel):
    """How the suppliers' mine-location cells were read (written by `cmr ingest`).

    Every part of every cell is counted in exactly one of the four part counts.
    """

    cells: int = Field(ge=0, description="Non-empty mine-location cells read")
    parts_resolved: int = Field(ge=0, description="Places resolved to a country")
    parts_recycled: int = Field(ge=0, description="Parts naming recycled or scrap sources")
    parts_unresolved: int = Field(ge=0, description="Places that could not be resolved (each a finding)")
    parts_declined: int = Field(
        ge=0, description="Parts that point elsewhere or decline to answer (each a finding)"
    )
    parts_decided: int = Field(
        default=0, ge=0, description="Parts that could not be read and that a reviewer decided"
    )


class LocationDecision(StrictModel):
    """A reviewer's decision on mine-location text that ingest could not read: the countries
    the unread text means (none is a decision too), why, who and when."""

    file: Text
    sheet: Text
    cell: Text
    text: Text  # the whole cell as read: a decision holds only while the cell says this
    metal: MetalName | None = None  # the metal the countries count for
    countries: list[CountryName] = Field(default_factory=list)
    reason: Text
    decided_by: Text
    decided_on: date


class UndecidedLocation(StrictModel):
    """A mine-location cell with text that could not be read and that no reviewer has decided."""

    file: Text
    sheet: Text
    cell: Text
    text: Text
    metal: MetalName | None = None
    unread: list[Text] = Field(default_factory=list)  # the parts that could not be read
    mentions: list[CountryName] = Field(default_factory=list)  # countries named inside them


class IngestSummary(StrictModel):
    """How the survey results were made (written by `cmr ingest`)."""

    folder: Text
    files_found: int = Field(ge=0)
    files_read: int = Field(ge=0)
    files_unreadable: int = Field(ge=0)
    files_duplicate: int = Field(default=0, ge=0, description="Second copies of a workbook counted once")
    files_superseded: int = Field(
        default=0, ge=0, description="A supplier's earlier or second responses, not counted"
    )
    files_empty: int = Field(default=0, ge=0, description="Blank templates: no company and no answers")
    templates: dict[str, int] = Field(default_factory=dict)
    reference_list: Text
    findings_by_severity: dict[str, int] = Field(default_factory=dict)


class PriorYear(StrictModel):
    year: int = Field(ge=2013, le=2100)
    suppliers_surveyed: int = Field(ge=0)
    suppliers_responded: int = Field(ge=0)
    spend_coverage_percent: float | None = Field(default=None, ge=0, le=100)
    smelters_by_status: dict[Status, int] = Field(default_factory=dict)


class SurveyResults(StrictModel):
    reporting_year: int = Field(ge=2013, le=2100)
    note: Text | None = None
    suppliers: SupplierResponse
    status_list: StatusList | None = None
    smelters: list[Smelter] = Field(default_factory=list)
    unidentified_smelter_rows: int = Field(default=0, ge=0)
    countries_of_origin: dict[MetalName, list[CountryName]] = Field(default_factory=dict)
    # Written by `cmr ingest`; optional in hand-made files. Keys of the inner mapping are the
    # country names as listed in countries_of_origin.
    countries_of_origin_sources: dict[MetalName, dict[str, list[CellSource]]] = Field(default_factory=dict)
    countries_of_origin_basis: list[OriginBasis] = Field(default_factory=list)
    mine_locations: MineLocationSummary | None = None
    # Written by `cmr ingest` from the reviewer's decisions file, and the cells still waiting for one.
    mine_location_decisions: list[LocationDecision] = Field(default_factory=list)
    mine_locations_undecided: list[UndecidedLocation] = Field(default_factory=list)
    prior_years: list[PriorYear] = Field(default_factory=list)
    # Written by `cmr ingest`; optional in hand-made files.
    suppliers_not_responded: list[Text] = Field(default_factory=list)
    declaration_summary: dict[str, dict[MetalName, dict[str, int]]] = Field(default_factory=dict)
    red_flags: list[RedFlag] = Field(default_factory=list)
    ingest: IngestSummary | None = None
