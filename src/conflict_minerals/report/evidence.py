"""Evidence: where every smelter, country of origin and figure in the documents came from.

`cmr build` writes `evidence.json` and `evidence.html` beside `filing-data.json`. Neither is
part of the filing; they answer an auditor's "where does this number come from?":

- a smelter in Annex A: the supplier workbooks and Smelter List rows that named it
  (`named_by`, written by `cmr ingest`);
- a country of origin: the workbook cells it was read from (`countries_of_origin_sources`);
- a figure in the CMR's tables: the survey field and line it was taken from, and for the
  SORs by metal and status the CIDs counted in each cell and the status list they came from.

A hand-made survey has no workbook provenance; its entries then name the survey file and the
line of the value (yamlio keeps the line of every value), never nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..documents import EVIDENCE_HTML, EVIDENCE_JSON
from ..filing.countries import lookup_country
from ..filing.loader import LoadedFiling
from ..filing.survey import CellSource, LocationDecision, Smelter
from ..filing.yamlio import LoadedYaml, Path_, dotted
from .context import METAL_ORDER, STATUS_ORDER, DocumentContext
from .templating import make_environment, render_template

EVIDENCE_TEMPLATE = "evidence.html.j2"
EVIDENCE_SCHEMA = 1
SMELTER_SHEET = "Smelter List"

Source = dict[str, Any]


class _SurveyLines:
    """Sources that point at a line of the survey file."""

    def __init__(self, name: str, loaded: LoadedYaml | None) -> None:
        self.name = name
        self.loaded = loaded

    def source(self, path: Path_) -> Source:
        line = self.loaded.value_position(path)[0] if self.loaded is not None else None
        return {"file": self.name, "line": line, "field": dotted(path)}


def _survey_name(loaded: LoadedFiling) -> str:
    survey = loaded.survey_path.resolve()
    try:
        return survey.relative_to(loaded.base_dir.resolve()).as_posix()
    except ValueError:  # the loader keeps the survey inside the filing's folder; be safe anyway
        return survey.name


def _smelter_sources(smelter: Smelter, index: int, lines: _SurveyLines) -> list[Source]:
    if not smelter.named_by:
        return [lines.source(("smelters", index))]
    return [
        {"file": p.file, "sheet": SMELTER_SHEET, "row": p.row}
        | ({"supplier": p.supplier} if p.supplier else {})
        for p in smelter.named_by
    ]


def _cell_source(cell: CellSource, decision: LocationDecision | None = None) -> Source:
    source: Source = {"file": cell.file, "sheet": cell.sheet, "cell": cell.cell}
    if cell.text is not None:
        source["text"] = cell.text
    if decision is not None:  # the country came from the cell through a reviewer's decision
        source["decision"] = _decision(decision)
    return source


def _decision(decision: LocationDecision) -> dict[str, Any]:
    return {
        "countries": [country.name for country in decision.countries],
        "reason": decision.reason,
        "decided_by": decision.decided_by,
        "decided_on": decision.decided_on.isoformat(),
    }


def _reviewed_cells(loaded: LoadedFiling) -> dict[str, list[dict[str, Any]]]:
    """The reviewer's decisions on supplier text, and the cells still waiting for one."""
    survey = loaded.survey
    return {
        "decided": [
            {"file": d.file, "sheet": d.sheet, "cell": d.cell, "text": d.text} | _decision(d)
            for d in survey.mine_location_decisions
        ],
        "undecided": [
            {
                "file": u.file,
                "sheet": u.sheet,
                "cell": u.cell,
                "text": u.text,
                "mentions": [country.name for country in u.mentions],
            }
            for u in survey.mine_locations_undecided
        ],
    }


def _raw_country_lists(loaded: LoadedFiling) -> dict[str, tuple[str, list[object]]]:
    """metal value -> (the key as written, the list as written) from the survey YAML."""
    data = loaded.survey_yaml.data if loaded.survey_yaml is not None else {}
    written = data.get("countries_of_origin") if isinstance(data, dict) else None
    if not isinstance(written, dict):
        return {}
    return {
        str(key).strip().lower(): (key, value) for key, value in written.items() if isinstance(value, list)
    }


def _country_sources(loaded: LoadedFiling, lines: _SurveyLines) -> dict[str, dict[str, list[Source]]]:
    """metal -> country as printed -> sources, for every country the documents print."""
    survey = loaded.survey
    raw = _raw_country_lists(loaded)
    decisions = {(d.file, d.sheet, d.cell): d for d in survey.mine_location_decisions}
    found: dict[str, dict[str, list[Source]]] = {}
    for metal in METAL_ORDER:
        countries = survey.countries_of_origin.get(metal, [])
        if not countries:
            continue
        by_name: dict[str, list[Source]] = {c.name: [] for c in sorted(countries, key=lambda c: c.name)}
        for written, cells in survey.countries_of_origin_sources.get(metal, {}).items():
            country = lookup_country(written)
            if country is not None and country.name in by_name:
                for cell in cells:
                    decision = decisions.get((cell.file, cell.sheet, cell.cell))
                    decided = decision is not None and any(c.code == country.code for c in decision.countries)
                    by_name[country.name].append(_cell_source(cell, decision if decided else None))
        key, values = raw.get(metal.value, (metal.value, []))
        for index, value in enumerate(values):
            country = lookup_country(value) if isinstance(value, str) else None
            if country is not None and country.name in by_name and not by_name[country.name]:
                by_name[country.name].append(lines.source(("countries_of_origin", key, index)))
        found[metal.value] = by_name
    return found


def _sors_by_status(loaded: LoadedFiling) -> dict[str, dict[str, dict[str, Any]]]:
    """metal -> status -> the count and the CIDs behind each cell of the CMR's Table 2."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for metal in METAL_ORDER:
        row = {}
        for status in STATUS_ORDER:
            cids = sorted(s.cid for s in loaded.survey.smelters if s.metal is metal and s.status is status)
            row[status.value] = {"count": len(cids), "cids": cids}
        table[metal.value] = row
    return table


def _status_list(loaded: LoadedFiling, lines: _SurveyLines) -> dict[str, Any] | None:
    listed = loaded.survey.status_list
    if listed is None:
        return None
    return {
        "source": listed.source,
        "as_of": listed.as_of.isoformat(),
        "from": lines.source(("status_list",)),
    }


def _survey_response(loaded: LoadedFiling, context: DocumentContext, lines: _SurveyLines) -> dict[str, Any]:
    survey = loaded.survey
    figures: dict[str, Any] = {
        "suppliers_surveyed": {
            "value": context.survey.surveyed,
            "from": lines.source(("suppliers", "surveyed")),
        },
        "suppliers_responded": {
            "value": context.survey.responded,
            "from": lines.source(("suppliers", "responded")),
        },
        "response_rate": {
            "value": context.survey.response_rate,
            "from": "suppliers_responded / suppliers_surveyed",
        },
        "unidentified_smelter_rows": {
            "value": survey.unidentified_smelter_rows,
            "from": lines.source(("unidentified_smelter_rows",)),
        },
        "suppliers_not_responded": list(survey.suppliers_not_responded),
    }
    if survey.suppliers.spend_coverage_percent is not None:
        figures["spend_coverage"] = {
            "value": context.survey.spend_coverage,
            "from": lines.source(("suppliers", "spend_coverage_percent")),
        }
    if survey.ingest is not None:
        # How `cmr ingest` counted: responses are the CMRT workbooks it read in this folder.
        figures["ingest"] = survey.ingest.model_dump(mode="json")
    return figures


def make_evidence(loaded: LoadedFiling, context: DocumentContext) -> dict[str, Any]:
    survey = loaded.survey
    lines = _SurveyLines(_survey_name(loaded), loaded.survey_yaml)
    smelters = {
        smelter.cid: _smelter_sources(smelter, index, lines) for index, smelter in enumerate(survey.smelters)
    }
    return {
        "schema_version": EVIDENCE_SCHEMA,
        "about": "Where each smelter, country of origin and figure in the documents came from. "
        "Not part of the filing.",
        "registrant": loaded.filing.registrant.name,
        "reporting_year": loaded.filing.reporting_year,
        "survey_file": lines.name,
        "smelters": dict(sorted(smelters.items())),
        "countries_of_origin": _country_sources(loaded, lines),
        "countries_of_origin_basis": [basis.value for basis in survey.countries_of_origin_basis],
        "mine_locations": survey.mine_locations.model_dump(mode="json") if survey.mine_locations else None,
        "mine_location_review": _reviewed_cells(loaded),
        "figures": {
            "survey_response": _survey_response(loaded, context, lines),
            "sors_by_status": _sors_by_status(loaded),
            "status_list": _status_list(loaded, lines),
        },
    }


def evidence_json(evidence: dict[str, Any]) -> bytes:
    return (json.dumps(evidence, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def evidence_html(loaded: LoadedFiling, context: DocumentContext, evidence: dict[str, Any]) -> bytes:
    env = make_environment(loaded.template_dir)
    variables = {
        "evidence": evidence,
        "annex": context.annex,
        "metals": [m.value for m in METAL_ORDER],
        "statuses": [s.value for s in STATUS_ORDER],
        "survey": context.survey,
    }
    return render_template(env, EVIDENCE_TEMPLATE, variables).encode("utf-8")


def evidence_outputs(loaded: LoadedFiling, context: DocumentContext, out_dir: Path) -> dict[Path, bytes]:
    """evidence.json and evidence.html; raises InputError when an override template fails."""
    evidence = make_evidence(loaded, context)
    page = evidence_html(loaded, context, evidence)
    return {out_dir / EVIDENCE_JSON: evidence_json(evidence), out_dir / EVIDENCE_HTML: page}
