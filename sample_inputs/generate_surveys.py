"""Regenerate the sample survey results (acme-2024, acme-2025) from the RMI smelter reference list.

Smelter names, IDs and countries come from the RMI reference list shipped in the CMRT 6.5
template (../shared/cmrt-corpus/smelter-reference-6.5.csv beside the checkout). Everything
else -- which smelters a fictional company's suppliers named, their RMAP statuses, the
supplier figures and the countries of origin -- is invented with a fixed seed and labelled
illustrative in the files. Run from the repository root:

    python sample_inputs/generate_surveys.py [path/to/smelter-reference-6.5.csv]
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DEFAULT_REFERENCE = HERE.parent.parent / "shared" / "cmrt-corpus" / "smelter-reference-6.5.csv"

NOTE = (
    "Illustrative sample data. Smelter names, IDs and countries are taken from the RMI smelter "
    "reference list in CMRT 6.5; the RMAP statuses, supplier figures and countries of origin are "
    "invented for this example and are not actual RMAP statuses."
)

# Share of each metal's reference smelters that the fictional suppliers name in 2025.
SHARE_2025 = {"Gold": 0.70, "Tin": 0.93, "Tantalum": 1.0, "Tungsten": 0.80}
STATUS_WEIGHTS = {
    "Conformant": 0.79,
    "Active": 0.05,
    "Non-Conformant": 0.04,
    "Not Enrolled": 0.10,
    "Other": 0.02,
}
OTHER_NOTES = ("Suspended", "In communication with RMI")

COUNTRIES_2025 = {
    "tantalum": [
        "Australia",
        "Brazil",
        "Burundi",
        "China",
        "Democratic Republic of the Congo",
        "Ethiopia",
        "Mozambique",
        "Nigeria",
        "Rwanda",
        "Sierra Leone",
    ],
    "tin": [
        "Australia",
        "Bolivia",
        "Brazil",
        "Burundi",
        "China",
        "Democratic Republic of the Congo",
        "Indonesia",
        "Laos",
        "Malaysia",
        "Myanmar",
        "Nigeria",
        "Peru",
        "Portugal",
        "Russia",
        "Rwanda",
        "Thailand",
        "Uganda",
        "Vietnam",
    ],
    "tungsten": [
        "Austria",
        "Bolivia",
        "Brazil",
        "Canada",
        "China",
        "Mongolia",
        "Portugal",
        "Russia",
        "Rwanda",
        "Spain",
        "United Kingdom",
        "Vietnam",
    ],
    "gold": [
        "Argentina",
        "Australia",
        "Brazil",
        "Burkina Faso",
        "Canada",
        "Chile",
        "China",
        "Colombia",
        "Ghana",
        "Indonesia",
        "Japan",
        "Mali",
        "Mexico",
        "Papua New Guinea",
        "Peru",
        "Philippines",
        "South Africa",
        "Tanzania",
        "Türkiye",
        "United States",
        "Uzbekistan",
    ],
}


def read_reference(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def pick_status(rng: random.Random) -> str:
    return rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]


def smelter_entry(row: dict[str, str], status: str, rng: random.Random) -> dict[str, str]:
    entry = {
        "metal": row["metal"].lower(),
        "name": row["smelter_name"],
        "cid": row["cid"],
        "country": row["country"],
        "status": status,
    }
    if status == "Other":
        entry["status_note"] = rng.choice(OTHER_NOTES)
    return entry


def choose_2025(reference: list[dict[str, str]], rng: random.Random) -> dict[str, dict]:
    chosen = {}
    for metal, share in SHARE_2025.items():
        rows = [r for r in reference if r["metal"] == metal]
        for row in rng.sample(rows, round(len(rows) * share)):
            chosen[row["cid"]] = smelter_entry(row, pick_status(rng), rng)
    return chosen


def derive_2024(
    current: dict[str, dict], reference: list[dict[str, str]], rng: random.Random
) -> dict[str, dict]:
    """The year before: some smelters not yet named, others named then dropped, statuses older."""
    previous = {cid: dict(entry) for cid, entry in current.items()}
    for cid in rng.sample(sorted(previous), 16):  # added in 2025
        del previous[cid]
    unused = [r for r in reference if r["cid"] not in current]
    for row in rng.sample(unused, 11):  # removed in 2025
        previous[row["cid"]] = smelter_entry(row, pick_status(rng), rng)
    for cid in rng.sample(sorted(set(previous) & set(current)), 22):  # status moved in 2025
        entry = previous[cid]
        entry["status"] = {"Conformant": "Active", "Active": "Not Enrolled"}.get(
            entry["status"], "Conformant"
        )
        entry.pop("status_note", None)
    return previous


def by_status(smelters: dict[str, dict]) -> dict[str, int]:
    counts = dict.fromkeys(STATUS_WEIGHTS, 0)
    for entry in smelters.values():
        counts[entry["status"]] += 1
    return counts


def survey_document(
    year: int,
    suppliers: dict,
    smelters: dict[str, dict],
    unidentified: int,
    countries: dict[str, list[str]],
    prior_years: list[dict],
) -> dict:
    order = {"tantalum": 0, "tin": 1, "tungsten": 2, "gold": 3}
    rows = sorted(smelters.values(), key=lambda e: (order[e["metal"]], e["name"].lower(), e["cid"]))
    return {
        "reporting_year": year,
        "note": NOTE,
        # Responses received up to the end of March are in the figures.
        "suppliers": {**suppliers, "responses_through": f"{year + 1}-03-31"},
        "status_list": {
            "source": "RMI RMAP facility list (illustrative statuses for this sample)",
            "as_of": f"{year + 1}-03-31",
        },
        "smelters": rows,
        "unidentified_smelter_rows": unidentified,
        "countries_of_origin": countries,
        # The narrative describes RMI country of origin data as the source; the report says so.
        "countries_of_origin_basis": ["rmi"],
        "prior_years": prior_years,
    }


def write(path: Path, document: dict) -> None:
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    path.write_text("# Generated by sample_inputs/generate_surveys.py -- illustrative data.\n" + text)


# Northwind Controls, the RCOI-only sample: a small company whose inquiry found no reason to
# believe any 3TG came from the Covered Countries. Its suppliers named a few SORs, none located in
# a Covered Country, and declared mine countries outside them; every supplier answered No to the
# Covered Countries question.
RCOI_SHARE = {"Gold": 0.06, "Tin": 0.12, "Tantalum": 0.15, "Tungsten": 0.12}
RCOI_COUNTRIES = {
    "tantalum": ["Australia", "Brazil", "China"],
    "tin": ["Bolivia", "China", "Indonesia", "Malaysia", "Peru"],
    "tungsten": ["Austria", "China", "Vietnam"],
    "gold": ["Australia", "Canada", "Switzerland", "United States"],
}


def choose_rcoi(reference: list[dict[str, str]], rng: random.Random) -> dict[str, dict]:
    """A few SORs per metal, none located in a Covered Country, mostly Conformant."""
    covered = (
        "CONGO",
        "RWANDA",
        "BURUNDI",
        "UGANDA",
        "TANZANIA",
        "ANGOLA",
        "ZAMBIA",
        "SUDAN",
        "CENTRAL AFRICAN",
    )
    chosen = {}
    for metal, share in RCOI_SHARE.items():
        rows = [
            r
            for r in reference
            if r["metal"] == metal and not any(c in r["country"].upper() for c in covered)
        ]
        for row in rng.sample(rows, round(len(rows) * share)):
            status = rng.choices(["Conformant", "Active", "Not Enrolled"], weights=[0.85, 0.1, 0.05])[0]
            chosen[row["cid"]] = smelter_entry(row, status, rng)
    return chosen


def rcoi_document(smelters: dict[str, dict]) -> dict:
    document = survey_document(2025, {"surveyed": 64, "responded": 57}, smelters, 4, RCOI_COUNTRIES, [])
    document["countries_of_origin_basis"] = ["supplier_declarations"]
    document["declaration_summary"] = {
        "covered_countries": {metal: {"No": count} for metal, count in RCOI_ANSWERS.items()},
    }
    return document


# How many of Northwind's suppliers declared each metal (all of them answering No).
RCOI_ANSWERS = {"tantalum": 18, "tin": 49, "tungsten": 11, "gold": 41}


def main() -> None:
    reference = read_reference(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_REFERENCE)
    rng = random.Random(1502)
    smelters_2025 = choose_2025(reference, rng)
    smelters_2024 = derive_2024(smelters_2025, reference, rng)

    countries_2024 = {metal: list(names) for metal, names in COUNTRIES_2025.items()}
    countries_2024["tin"].remove("Uganda")
    countries_2024["gold"].remove("Uzbekistan")
    countries_2024["tungsten"].append("Kazakhstan")

    older = [
        {
            "year": 2022,
            "suppliers_surveyed": 371,
            "suppliers_responded": 219,
            "spend_coverage_percent": 84.0,
            "smelters_by_status": {
                "Conformant": 214,
                "Active": 19,
                "Non-Conformant": 11,
                "Not Enrolled": 41,
                "Other": 6,
            },
        },
        {
            "year": 2023,
            "suppliers_surveyed": 386,
            "suppliers_responded": 241,
            "spend_coverage_percent": 86.5,
            "smelters_by_status": {
                "Conformant": 221,
                "Active": 17,
                "Non-Conformant": 12,
                "Not Enrolled": 36,
                "Other": 5,
            },
        },
    ]
    suppliers_2024 = {"surveyed": 398, "responded": 265, "spend_coverage_percent": 88.2}
    prior_2024 = {
        "year": 2024,
        "suppliers_surveyed": suppliers_2024["surveyed"],
        "suppliers_responded": suppliers_2024["responded"],
        "spend_coverage_percent": suppliers_2024["spend_coverage_percent"],
        "smelters_by_status": by_status(smelters_2024),
    }
    write(
        HERE / "acme-2024" / "survey.yaml",
        survey_document(2024, suppliers_2024, smelters_2024, 52, countries_2024, older),
    )
    survey_2025 = survey_document(
        2025,
        {"surveyed": 412, "responded": 298, "spend_coverage_percent": 91.4},
        smelters_2025,
        37,
        COUNTRIES_2025,
        [*older, prior_2024],
    )
    write(HERE / "acme-2025" / "survey.yaml", survey_2025)
    # The conflict-free-claim sample is Acme's 2025 filing with one product line claimed.
    write(HERE / "acme-claim-2025" / "survey.yaml", survey_2025)
    write(
        HERE / "northwind-rcoi-2025" / "survey.yaml",
        rcoi_document(choose_rcoi(reference, random.Random(1503))),
    )


if __name__ == "__main__":
    main()
