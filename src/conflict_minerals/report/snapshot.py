"""The filing's figures as data (`filing-data.json`), written beside the documents by `cmr build`.

`cmr diff` compares two filings through these snapshots, keyed by smelter ID, so a moved table
row or a renumbered page is never reported as a change. The numbers are the ones the documents
print: they come from the same template context.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from ..filing.loader import LoadedFiling
from .context import DocumentContext, percent, percent_value

SNAPSHOT_SCHEMA = 1


class SnapshotModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SurveyFigures(SnapshotModel):
    suppliers_surveyed: int
    suppliers_responded: int
    response_rate: str
    spend_coverage: str | None
    unidentified_smelter_rows: int
    smelters_total: int
    smelters_by_status: dict[str, int]


class SmelterRecord(SnapshotModel):
    cid: str
    metal: str
    name: str
    country: str
    status: str


class TrendYear(SnapshotModel):
    year: int
    suppliers_surveyed: int
    suppliers_responded: int
    response_rate: str
    smelters_total: int
    smelters_by_status: dict[str, int]


class Snapshot(SnapshotModel):
    schema_version: int = SNAPSHOT_SCHEMA
    registrant: str
    reporting_year: int
    mode: str
    figures: SurveyFigures
    smelters: list[SmelterRecord]
    countries_of_origin: dict[str, list[str]]
    trend: list[TrendYear]


def make_snapshot(loaded: LoadedFiling, context: DocumentContext) -> Snapshot:
    survey = loaded.survey
    statuses = context.statuses
    total = context.status_total
    return Snapshot(
        registrant=loaded.filing.registrant.name,
        reporting_year=loaded.filing.reporting_year,
        mode=loaded.filing.mode.value,
        figures=SurveyFigures(
            suppliers_surveyed=survey.suppliers.surveyed,
            suppliers_responded=survey.suppliers.responded,
            response_rate=percent(survey.suppliers.responded, survey.suppliers.surveyed),
            spend_coverage=percent_value(survey.suppliers.spend_coverage_percent),
            unidentified_smelter_rows=survey.unidentified_smelter_rows,
            smelters_total=total.total,
            smelters_by_status={s: c.count for s, c in zip(statuses, total.counts, strict=True)},
        ),
        smelters=sorted(
            (
                SmelterRecord(
                    cid=s.cid, metal=s.metal.value, name=s.name, country=s.country.name, status=s.status.value
                )
                for s in survey.smelters
            ),
            key=lambda r: r.cid,
        ),
        countries_of_origin={
            metal.lower(): [c.name for c in countries]
            for metal, countries in context.countries_by_metal
            if countries
        },
        trend=[
            TrendYear(
                year=row.year,
                suppliers_surveyed=row.surveyed,
                suppliers_responded=row.responded,
                response_rate=row.response_rate,
                smelters_total=row.total,
                smelters_by_status=dict(zip(statuses, row.by_status, strict=True)),
            )
            for row in context.trend
        ],
    )


def snapshot_bytes(snapshot: Snapshot) -> bytes:
    return (
        json.dumps(snapshot.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    ).encode("utf-8")
