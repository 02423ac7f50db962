"""Data changes between two filings, from their snapshots: smelters keyed by CID, survey
figures with deltas, countries of origin, and a check that the new filing's trend table
agrees with the old filing's own figures."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ..report.snapshot import Snapshot, SurveyFigures

METALS = ("tantalum", "tin", "tungsten", "gold")


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmelterChange(Change):
    cid: str
    metal: str
    name: str
    old_status: str | None = None
    new_status: str | None = None
    details: list[str] = []


class FigureChange(Change):
    figure: str
    old: str
    new: str
    delta: str | None


class CountryChange(Change):
    metal: str
    country: str


class TrendMismatch(Change):
    year: int
    figure: str
    old_filing: str
    new_trend: str


class DataDiff(Change):
    smelters_added: list[SmelterChange]
    smelters_removed: list[SmelterChange]
    status_changed: list[SmelterChange]
    smelters_changed: list[SmelterChange]
    figures: list[FigureChange]
    countries_added: list[CountryChange]
    countries_removed: list[CountryChange]
    trend_mismatches: list[TrendMismatch]


FIGURE_LABELS = {
    "suppliers_surveyed": "Suppliers surveyed",
    "suppliers_responded": "Suppliers that responded",
    "response_rate": "Response rate",
    "spend_coverage": "Spend covered by responses",
    "unidentified_smelter_rows": "Supplier entries not identified as SORs",
    "smelters_total": "SORs identified",
}


def _delta(old: str | int | None, new: str | int | None) -> str | None:
    def number(value: str | int | None) -> float | None:
        if value is None:
            return None
        try:
            return float(str(value).rstrip("%"))
        except ValueError:
            return None

    a, b = number(old), number(new)
    if a is None or b is None:
        return None
    difference = b - a
    unit = " pts" if isinstance(old, str) and old.endswith("%") else ""
    text = f"{difference:+.1f}" if unit else f"{difference:+g}"
    return text + unit


def _figures(old: SurveyFigures, new: SurveyFigures) -> list[FigureChange]:
    changes = []
    for field, label in FIGURE_LABELS.items():
        a, b = getattr(old, field), getattr(new, field)
        if a != b:
            changes.append(
                FigureChange(
                    figure=label,
                    old=str(a if a is not None else "-"),
                    new=str(b if b is not None else "-"),
                    delta=_delta(a, b),
                )
            )
    for status in sorted(
        set(old.smelters_by_status) | set(new.smelters_by_status),
        key=lambda s: list(new.smelters_by_status).index(s) if s in new.smelters_by_status else 99,
    ):
        a, b = old.smelters_by_status.get(status, 0), new.smelters_by_status.get(status, 0)
        if a != b:
            changes.append(FigureChange(figure=f"SORs {status}", old=str(a), new=str(b), delta=_delta(a, b)))
    return changes


def _order(change: SmelterChange) -> tuple[int, str, str]:
    return (METALS.index(change.metal) if change.metal in METALS else 9, change.name.casefold(), change.cid)


def _smelters(old: Snapshot, new: Snapshot) -> tuple[list, list, list, list]:
    before = {s.cid: s for s in old.smelters}
    after = {s.cid: s for s in new.smelters}
    added = [
        SmelterChange(cid=c, metal=after[c].metal, name=after[c].name, new_status=after[c].status)
        for c in after.keys() - before.keys()
    ]
    removed = [
        SmelterChange(cid=c, metal=before[c].metal, name=before[c].name, old_status=before[c].status)
        for c in before.keys() - after.keys()
    ]
    status, other = [], []
    for cid in before.keys() & after.keys():
        a, b = before[cid], after[cid]
        if a.status != b.status:
            status.append(
                SmelterChange(cid=cid, metal=b.metal, name=b.name, old_status=a.status, new_status=b.status)
            )
        details = [
            f"{field}: {getattr(a, field)} -> {getattr(b, field)}"
            for field in ("metal", "name", "country")
            if getattr(a, field) != getattr(b, field)
        ]
        if details:
            other.append(SmelterChange(cid=cid, metal=b.metal, name=b.name, details=details))
    return (
        sorted(added, key=_order),
        sorted(removed, key=_order),
        sorted(status, key=_order),
        sorted(other, key=_order),
    )


def _countries(old: Snapshot, new: Snapshot) -> tuple[list[CountryChange], list[CountryChange]]:
    added, removed = [], []
    for metal in METALS:
        a = set(old.countries_of_origin.get(metal, []))
        b = set(new.countries_of_origin.get(metal, []))
        added += [CountryChange(metal=metal, country=c) for c in sorted(b - a)]
        removed += [CountryChange(metal=metal, country=c) for c in sorted(a - b)]
    return added, removed


def _trend(old: Snapshot, new: Snapshot) -> list[TrendMismatch]:
    """The new filing's trend row for the old year must repeat the old filing's own figures."""
    row = next((t for t in new.trend if t.year == old.reporting_year), None)
    if row is None:
        return []
    expected = {
        "suppliers surveyed": (old.figures.suppliers_surveyed, row.suppliers_surveyed),
        "suppliers responded": (old.figures.suppliers_responded, row.suppliers_responded),
        "SORs identified": (old.figures.smelters_total, row.smelters_total),
        **{
            f"SORs {s}": (old.figures.smelters_by_status.get(s, 0), row.smelters_by_status.get(s, 0))
            for s in old.figures.smelters_by_status
        },
    }
    return [
        TrendMismatch(year=old.reporting_year, figure=name, old_filing=str(a), new_trend=str(b))
        for name, (a, b) in expected.items()
        if a != b
    ]


def diff_data(old: Snapshot, new: Snapshot) -> DataDiff:
    added, removed, status, other = _smelters(old, new)
    countries_added, countries_removed = _countries(old, new)
    return DataDiff(
        smelters_added=added,
        smelters_removed=removed,
        status_changed=status,
        smelters_changed=other,
        figures=_figures(old.figures, new.figures),
        countries_added=countries_added,
        countries_removed=countries_removed,
        trend_mismatches=_trend(old, new),
    )
