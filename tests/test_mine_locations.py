"""Mine-location cells read as lists of places: every split rule and resolution path on
synthetic cells, the real supplier files in ../shared/cmrt-corpus against values read with
openpyxl and resolved by hand, and red flags that keep every reason."""

from __future__ import annotations

import csv
import shutil
import warnings
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import openpyxl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conflict_minerals.filing.survey import SurveyResults
from conflict_minerals.ingest.check.aggregate import Aggregator, Responses
from conflict_minerals.ingest.check.checks import CODES, CheckContext, check_workbook
from conflict_minerals.ingest.check.lists import ReferenceEntry, ReferenceList
from conflict_minerals.ingest.check.locations import Part, PartKind, read_cell
from conflict_minerals.ingest.models import Answer, RowKind, SmelterRow, SupplierWorkbook
from conflict_minerals.ingest.pipeline import IngestOptions, run_ingest
from conflict_minerals.ingest.read.reader import multiline_text

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cmrt-corpus"
needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason="../shared/cmrt-corpus is not beside the checkout"
)

COUNTRY, RECYCLED, UNRESOLVED, AMBIGUOUS, DECLINED = (
    PartKind.COUNTRY,
    PartKind.RECYCLED,
    PartKind.UNRESOLVED,
    PartKind.AMBIGUOUS,
    PartKind.DECLINED,
)


def countries(text: str) -> list[str]:
    return [p.country.name for p in read_cell(text) if p.kind is COUNTRY and p.country]


def kinds(text: str) -> list[tuple[str, str]]:
    """(kind, part text) for every part; a country part gives its resolved name."""
    return [
        (p.kind.value, p.country.name if p.kind is COUNTRY and p.country else p.text) for p in read_cell(text)
    ]


# ----- splitting -----


@pytest.mark.parametrize(
    ("cell", "want"),
    [
        ("United States, Peru, Chile, Japan", ["United States", "Peru", "Chile", "Japan"]),
        ("China; Indonesia;Malaysia", ["China", "Indonesia", "Malaysia"]),
        ("Peru/Chile / Bolivia", ["Peru", "Chile", "Bolivia"]),
        ("Peru\nChile\nBolivia", ["Peru", "Chile", "Bolivia"]),
        ("Rwanda and Burundi", ["Rwanda", "Burundi"]),
        ("Rwanda & Burundi", ["Rwanda", "Burundi"]),
        ("Malaysia.Rwanda", ["Malaysia", "Rwanda"]),
        ("Chile. Peru.", ["Chile", "Peru"]),
        ("Peru  Chile", ["Peru", "Chile"]),
        ("Rwanda - DRC", ["Rwanda", "Democratic Republic of the Congo"]),
        ("Peru | Chile + Brazil", ["Peru", "Chile", "Brazil"]),
    ],
)
def test_cells_split_into_places(cell: str, want: list[str]) -> None:
    assert countries(cell) == want
    assert all(p.kind is COUNTRY for p in read_cell(cell))


@pytest.mark.parametrize(
    ("cell", "want"),
    [
        # A separator inside a country's own name does not cut it.
        ("Trinidad and Tobago, Peru", ["Trinidad and Tobago", "Peru"]),
        ("Bosnia & Herzegovina", ["Bosnia and Herzegovina"]),
        ("KOREA, REPUBLIC OF; Japan", ["South Korea", "Japan"]),
        ("CONGO, DEMOCRATIC REPUBLIC OF THE", ["Democratic Republic of the Congo"]),
        ("TANZANIA, UNITED REPUBLIC OF", ["Tanzania"]),
        ("Bonaire, Sint Eustatius and Saba", ["Bonaire, Sint Eustatius and Saba"]),
        ("Guinea-Bissau", ["Guinea-Bissau"]),
        ("United  States", ["United States"]),
        # Initialisms and abbreviations keep their full stops.
        ("U.S.A.; D.R.C.", ["United States", "Democratic Republic of the Congo"]),
        ("Dem. Rep. Congo", ["Democratic Republic of the Congo"]),
    ],
)
def test_separators_inside_names_do_not_split(cell: str, want: list[str]) -> None:
    assert countries(cell) == want
    assert len(read_cell(cell)) == len(want)


# ----- resolution paths -----


@pytest.mark.parametrize(
    ("cell", "want"),
    [
        ("Bolivia", "Bolivia"),  # ISO common name
        ("Bolivia, Plurinational State of", "Bolivia"),  # ISO name
        ("Plurinational State of Bolivia", "Bolivia"),  # ISO official name
        ("CHINA", "China"),
        ("Côte d’Ivoire", "Côte d'Ivoire"),
        ("Cote d'Ivoire", "Côte d'Ivoire"),
        ("CN", "China"),  # ISO alpha-2, written as a code
        ("IDN", "Indonesia"),  # ISO alpha-3
        ("DRC", "Democratic Republic of the Congo"),
        ("RDC", "Democratic Republic of the Congo"),
        ("Congo-Kinshasa", "Democratic Republic of the Congo"),
        ("Congo Brazzaville", "Republic of the Congo"),
        ("USA", "United States"),
        ("UK", "United Kingdom"),
        ("UAE", "United Arab Emirates"),
        ("South Korea", "South Korea"),
        ("Russia", "Russia"),
        ("TURKEY", "Türkiye"),
        ("Burma", "Myanmar"),
        ("Western Australia", "Australia"),  # ISO 3166-2 subdivisions
        ("Puno", "Peru"),
        ("Haut-Katanga", "Democratic Republic of the Congo"),
        ("Shanghai", "China"),  # "Shanghai Shi"
        ("Yunnan Province", "China"),  # "Yunnan Sheng"
        ("Indo nesia", "Indonesia"),  # a stray space
        ("Ma laysia", "Malaysia"),
        ("Sao Paulo Brazil", "Brazil"),  # region and country, no separator
        ("Brazil (Rondonia)", "Brazil"),
        ("China (Yunnan)", "China"),
        ("the Ariquemes region of Brazil", "Brazil"),
        ("Puno - Peru", "Peru"),  # "Region - Country"
        ("Kab. Bangka, Indonesia", "Indonesia"),  # "Region, Country" with a region word
        ("Minas Gerais, Brazil", "Brazil"),  # "Region, Country" with an ISO subdivision
    ],
)
def test_each_resolution_path(cell: str, want: str) -> None:
    parts = read_cell(cell)
    assert [(p.kind, p.country.name if p.country else None) for p in parts] == [(COUNTRY, want)]


def test_a_region_with_its_country_is_one_place_and_keeps_its_text() -> None:
    (part,) = read_cell("Puno - Peru")
    assert part.text == "Puno - Peru"
    assert "Puno" in part.note
    assert kinds("Kab. Bangka, Indonesia/ Kab. Bangka Tengah, Indonesia") == [
        ("country", "Indonesia"),
        ("country", "Indonesia"),
    ]


def test_codes_are_read_only_when_written_as_codes() -> None:
    # "in", "it", "be" are words; only upper-case two- and three-letter codes are ISO codes.
    assert kinds("in") == [("unresolved", "in")]
    assert kinds("SE, FI") == [("country", "Sweden"), ("country", "Finland")]


def test_a_region_of_another_country_is_that_country_not_a_detail() -> None:
    assert countries("Haut-Katanga, Zambia") == ["Democratic Republic of the Congo", "Zambia"]


def test_an_unknown_region_beside_a_country_is_reported_not_absorbed() -> None:
    assert kinds("Atlantis - Peru") == [("unresolved", "Atlantis"), ("country", "Peru")]
    assert kinds("Indonisia, Peru") == [("unresolved", "Indonisia"), ("country", "Peru")]


# ----- recycled, ambiguous, declined, free text -----


@pytest.mark.parametrize(
    "cell",
    [
        "Recycled",
        "recycled",
        "RECYCLED",
        "Recyled",
        "recylced material",
        "Re-cycled",
        "recycling",
        "Scrap",
        "scraps",
        "100% recycled",
        "recycled gold",
        "Recycled scrap material",
        "Reclaimed",
        "scrap sources",
    ],
)
def test_recycled_and_scrap_in_any_spelling(cell: str) -> None:
    assert [p.kind for p in read_cell(cell)] == [RECYCLED]


def test_recycled_parts_are_counted_each() -> None:
    assert kinds("Scrap & recycled") == [("recycled", "Scrap"), ("recycled", "recycled")]
    assert kinds("Recycled; Peru") == [("recycled", "Recycled"), ("country", "Peru")]


@pytest.mark.parametrize(
    ("cell", "options"),
    [
        ("Korea", ["North Korea", "South Korea"]),
        ("Congo", ["Democratic Republic of the Congo", "Republic of the Congo"]),
        ("CONGO", ["Democratic Republic of the Congo", "Republic of the Congo"]),
        ("Virgin Islands", ["Virgin Islands, British", "Virgin Islands, U.S."]),
        ("La Libertad", ["El Salvador", "Peru"]),  # a region in two countries
        ("Mwanza", ["Malawi", "Tanzania"]),
    ],
)
def test_ambiguous_names_are_never_guessed(cell: str, options: list[str]) -> None:
    (part,) = read_cell(cell)
    assert part.kind is AMBIGUOUS and part.country is None
    for option in options:
        assert option in part.note


def test_a_code_that_is_also_a_word_is_ambiguous_in_a_list_and_declined_alone() -> None:
    assert kinds("SE, NO, FI") == [("country", "Sweden"), ("ambiguous", "NO"), ("country", "Finland")]
    assert "Norway" in read_cell("SE, NO, FI")[1].note
    assert kinds("NO") == [("declined", "NO")]


@pytest.mark.parametrize(
    "cell",
    [
        "Unknown",
        "UNKOWN",
        "N/A",
        "n/a",
        "NA",
        "confidential",
        "Proprietary",
        "see the RCOI list on the RMI homepage",
        "RCOI confirmed as per CFSI",
        "see www.rmi.org/rcoi",
        "Refer to the RMI smelter list",
        "TBD",
        "-",
        "various",
    ],
)
def test_cells_that_decline_or_point_elsewhere(cell: str) -> None:
    (part,) = read_cell(cell)
    assert part.kind is DECLINED
    assert part.text == cell.strip()


def test_free_text_is_reported_with_the_countries_it_mentions_never_added() -> None:
    for cell in ("Not the DRC", "no DRC sources", "mines outside Rwanda"):
        (part,) = read_cell(cell)
        assert part.kind is UNRESOLVED and part.country is None
        assert part.mentions, cell
    (part,) = read_cell("Georgia State")  # the US state or the country: a person decides
    assert part.kind is UNRESOLVED and [c.name for c in part.mentions] == ["Georgia"]


def test_a_misspelling_is_reported_with_the_closest_name() -> None:
    (part,) = read_cell("Indonisia")
    assert part.kind is UNRESOLVED and "Indonesia" in part.note


def test_generic_region_words_are_not_places() -> None:
    # ISO 3166-2 has regions called "Western" (eight countries), "Pool" (Congo) and "Coast"
    # (Tanzania); a supplier writing one of these words is not naming those regions.
    for cell in ("Western", "Pool", "Coast", "North"):
        assert [p.kind for p in read_cell(cell)] == [UNRESOLVED], cell


# ----- the four real cells quoted in the issue -----


def test_the_issue_examples() -> None:
    assert countries("United States, Peru, Chile, Japan") == ["United States", "Peru", "Chile", "Japan"]
    assert kinds("Puno - Peru") == [("country", "Peru")]
    assert kinds("Western Australia") == [("country", "Australia")]
    cell = (
        "Malaysia.Rwanda  the southern Katanga Province of the DRC that is not within the recognised "
        "conflict areas of Eastern DRC."
    )
    parts = read_cell(cell)
    assert [p.kind for p in parts] == [COUNTRY, COUNTRY, UNRESOLVED]
    assert countries(cell) == ["Malaysia", "Rwanda"]
    assert parts[2].text.startswith("the southern Katanga Province")
    assert [c.name for c in parts[2].mentions] == ["Democratic Republic of the Congo"]


# ----- invariants -----


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "Peru",
                "DRC",
                "Korea",
                "recycled",
                "Unknown",
                "Puno - Peru",
                "Kab. Bangka",
                "Atlantis",
                "N/A",
                "etc.",
            ]
        )
        | st.text(min_size=1, max_size=12),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([", ", "; ", "/", "\n", " and ", ".", "  "]),
)
def test_every_non_empty_cell_gives_parts_and_every_part_one_kind(words: list[str], separator: str) -> None:
    cell = separator.join(words)
    if not cell.strip():
        return
    parts = read_cell(cell)
    assert parts
    for part in parts:
        assert isinstance(part, Part)
        assert (part.kind is COUNTRY) == (part.country is not None)
        assert part.text.strip()


def test_extraction_keeps_line_breaks_for_the_reader() -> None:
    assert multiline_text("Peru\r\n  Chile \n\n\tBolivia ") == "Peru\nChile\nBolivia"
    assert multiline_text(0) is None
    assert multiline_text("  ") is None


# ----- one workbook: findings, counts, red flags -----

REFERENCE = ReferenceList(
    source="test",
    entries={
        "CID000001": ReferenceEntry("CID000001", "tin", "Tin Smelter", "Malaysia"),
        "CID000002": ReferenceEntry("CID000002", "gold", "Gold Refiner", "Switzerland"),
        "CID000003": ReferenceEntry("CID000003", "cobalt", "Cobalt Refiner", "Finland"),
    },
)


def supplier_workbook(
    rows: list[SmelterRow], answers: dict[str, dict[str, str]] | None = None
) -> SupplierWorkbook:
    declared = answers or {}
    return SupplierWorkbook(
        file="supplier.xlsx",
        sha256="0" * 64,
        size=1,
        template="CMRT",
        version="6.5",
        family="cmrt6",
        answers={
            metal: [
                Answer(question=f"Q{i}", meaning=meaning, value=value, cell=f"D{20 + i}")
                for i, (meaning, value) in enumerate(values.items())
            ]
            for metal, values in declared.items()
        },
        smelters=rows,
    )


def row(number: int, mine: str, cid: str | None = None, metal: str | None = "Tin") -> SmelterRow:
    kind = RowKind.IDENTIFIED if cid else RowKind.UNIDENTIFIED
    return SmelterRow(row=number, metal=metal, cid=cid, name="x", kind=kind, mine_country=mine)


def aggregate(workbook: SupplierWorkbook) -> tuple[dict, list]:
    aggregator = Aggregator(REFERENCE, None, 2025, "suppliers")
    findings = check_workbook(workbook, CheckContext(REFERENCE, 2025, date(2026, 3, 1)))
    aggregator.add(workbook)
    counts = Counter(f.severity.value for f in findings)
    responses = Responses(frozenset({workbook.file}), {}, {"surveyed": 1, "responded": 1}, [], 0, counts)
    survey = aggregator.result(responses)
    SurveyResults.model_validate(survey)
    return survey, [f for f in findings if f.code.startswith("mine-location")]


def test_every_part_is_a_country_with_its_cell_or_a_finding() -> None:
    workbook = supplier_workbook(
        [
            row(5, "Peru, Korea, Recycled", "CID000001"),
            row(6, "Unknown", "CID000002", metal="Gold"),
            row(7, "Rwanda\nAtlantis", None, metal="Tin"),  # no smelter identified: still the supplier's tin
            row(8, "Bolivia", None, metal=None),  # no metal at all
            row(9, "Chile", "CID000003", metal="Cobalt"),  # an EMRT metal on a CMRT
        ]
    )
    survey, findings = aggregate(workbook)
    assert survey["countries_of_origin"] == {"tin": ["Peru", "Rwanda"]}
    assert survey["countries_of_origin_basis"] == ["supplier_declarations"]
    assert survey["countries_of_origin_sources"]["tin"] == {
        "Peru": [
            {"file": "supplier.xlsx", "sheet": "Smelter List", "cell": "O5", "text": "Peru, Korea, Recycled"}
        ],
        "Rwanda": [
            {"file": "supplier.xlsx", "sheet": "Smelter List", "cell": "O7", "text": "Rwanda\nAtlantis"}
        ],
    }
    assert survey["mine_locations"] == {
        "cells": 5,
        "parts_resolved": 2,
        "parts_recycled": 1,
        "parts_unresolved": 4,  # Korea (ambiguous), Atlantis, and the two rows with no 3TG metal
        "parts_declined": 1,
    }
    assert sorted((f.cell, f.code) for f in findings) == [
        ("O5", "mine-location-ambiguous"),
        ("O6", "mine-location-declined"),
        ("O7", "mine-location-unresolved"),
        ("O8", "mine-location-unresolved"),
        ("O9", "mine-location-unresolved"),
    ]
    by_cell = {f.cell: f for f in findings}
    assert "Bolivia" in by_cell["O8"].message and "no metal" in by_cell["O8"].message
    assert "'Cobalt'" in by_cell["O9"].message
    assert all(f.sheet == "Smelter List" and f.file == "supplier.xlsx" for f in findings)
    assert all(f.severity == CODES[f.code][0] for f in findings)
    summary = survey["mine_locations"]
    assert len(findings) == summary["parts_unresolved"] + summary["parts_declined"]


def test_red_flags_keep_every_reason() -> None:
    workbook = supplier_workbook(
        [row(5, "Malaysia, Rwanda, not the DRC", "CID000001")],
        {"tin": {"in_scope": "Yes", "remains_in_product": "Yes", "covered_countries": "Yes", "cahra": "Yes"}},
    )
    survey, _ = aggregate(workbook)
    (flag,) = survey["red_flags"]
    assert flag["cid"] == "CID000001" and flag["metal"] == "tin"
    assert flag["reasons"] == [
        "supplier.xlsx (Declaration D22) answers Yes: tin smelters in its supply chain source from the "
        "Covered Countries",
        "supplier.xlsx (Declaration D23) answers Yes: tin smelters in its supply chain source from "
        "conflict-affected and high-risk areas (CAHRAs)",
        "supplier.xlsx (Smelter List O5) mentions Democratic Republic of the Congo in a mine location that "
        "could not be read: 'not the DRC'",
        "supplier.xlsx (Smelter List O5) names a mine location in Rwanda",
    ]


def test_mine_locations_of_emrt_files_are_not_read() -> None:
    workbook = supplier_workbook([row(5, "Atlantis", "CID000003", metal="Cobalt")]).model_copy(
        update={"template": "EMRT", "version": "2.1", "family": "emrt2"}
    )
    findings = check_workbook(workbook, CheckContext(REFERENCE, 2025, date(2026, 3, 1)))
    assert not [f for f in findings if f.code.startswith("mine-location")]


# ----- the real supplier files -----

PKG = "wwww13wwww__mineral-system__RMI_CMRT_6.4_PKG_DE00_20240710.xlsx"
GIGA = "wwww13wwww__mineral-system__RMI_CMRT_6.4_20240426_CG20240510_giga.xlsx"
MERCK = "wwww13wwww__mineral-system__RMI_WF6_CMRT_6.4_Apr2024_Merck.xlsx"
SK = "wwww13wwww__mineral-system__RMI_CMRT_6.4_20240509_WF6__SK.xlsx"
FILLED = {"pkg.xlsx": PKG, "giga.xlsx": GIGA, "merck.xlsx": MERCK, "sk.xlsx": SK}

# Every distinct mine-location cell in the filled files, resolved by hand: the countries of its
# parts (repeated when two parts name one country), its recycled parts, and the findings.
BY_HAND: dict[str, tuple[list[str], int, list[str]]] = {
    "Bolivia": (["Bolivia"], 0, []),
    "Brazil": (["Brazil"], 0, []),
    "CHINA": (["China"], 0, []),
    "China": (["China"], 0, []),
    "Canada": (["Canada"], 0, []),
    "Canada, Chile": (["Canada", "Chile"], 0, []),
    "Chile": (["Chile"], 0, []),
    "Indonesia": (["Indonesia"], 0, []),
    "Kab. Bangka, Indonesia/ Kab. Bangka Tengah, Indonesia": (["Indonesia", "Indonesia"], 0, []),
    "Malaysia.Rwanda  the southern Katanga Province of the DRC that is not within the recognised conflict "
    "areas of Eastern DRC.": (["Malaysia", "Rwanda"], 0, ["mine-location-unresolved"]),
    "Mining, recycled and scrap sources": ([], 2, ["mine-location-declined"]),
    "Poland": (["Poland"], 0, []),
    "Puno - Peru": (["Peru"], 0, []),
    "RCOI confirmed as per CFSI": ([], 0, ["mine-location-declined"]),
    "Recycled": ([], 1, []),
    "recycled": ([], 1, []),
    "scrap": ([], 1, []),
    "Recycled etc.": ([], 1, ["mine-location-declined"]),
    "SWITZERLAND": (["Switzerland"], 0, []),
    "Sao Paulo Brazil": (["Brazil"], 0, []),
    "Shanghai": (["China"], 0, []),
    "TAIWAN": (["Taiwan"], 0, []),
    "Tanzania": (["Tanzania"], 0, []),
    "United States, Peru, Chile, Japan": (["United States", "Peru", "Chile", "Japan"], 0, []),
    "Western Australia": (["Australia"], 0, []),
}


def openpyxl_mine_cells(path: Path) -> list[tuple[int, str, str]]:
    """(row, metal as written in column B, text of column O) for every non-empty mine-location
    cell of a CMRT 6.x Smelter List, read independently of the tool."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            found = []
            for number, values in enumerate(
                book["Smelter List"].iter_rows(min_row=5, max_row=2504, max_col=15, values_only=True), start=5
            ):
                metal, mine = values[1], values[14]
                # A typed 0 is what pasted formula columns leave; like everywhere in ingest, it is empty.
                if isinstance(mine, str) and mine.strip():
                    found.append((number, str(metal).strip().lower(), mine.strip()))
            return found
        finally:
            book.close()


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict]]:
    root = tmp_path_factory.mktemp("mine-locations")
    folder = root / "suppliers"
    folder.mkdir()
    for name, source in FILLED.items():
        shutil.copy(CORPUS / source, folder / name)
    options = IngestOptions(
        folder=folder,
        out=root / "survey.yaml",
        reporting_year=2024,
        as_of=date(2024, 12, 31),
        reference=CORPUS / "smelter-reference-6.5.csv",
        findings_dir=root / "findings",
    )
    run_ingest(options, lambda *args: None)
    survey = yaml.safe_load((root / "survey.yaml").read_text(encoding="utf-8"))
    with (root / "findings" / "findings.csv").open(encoding="utf-8") as handle:
        findings = list(csv.DictReader(handle))
    legend = (root / "findings" / "findings.html").read_text(encoding="utf-8")
    for code in ("mine-location-unresolved", "mine-location-ambiguous", "mine-location-declined"):
        assert code in legend  # findings.html lists every code with its meaning
    return survey, findings


@needs_corpus
def test_corpus_countries_per_metal_match_an_independent_read(corpus_run: tuple[dict, list[dict]]) -> None:
    survey, findings = corpus_run
    want_countries: dict[str, set[str]] = defaultdict(set)
    want_findings: list[tuple[str, str, str]] = []
    want_counts: Counter = Counter()
    for name, source in FILLED.items():
        for number, metal, text in openpyxl_mine_cells(CORPUS / source):
            assert text in BY_HAND, f"{source} O{number}: {text!r} is not in the hand-made table"
            resolved, recycled, codes = BY_HAND[text]
            want_countries[metal].update(resolved)
            want_findings += [(name, f"O{number}", code) for code in codes]
            want_counts.update(
                cells=1,
                parts_resolved=len(resolved),
                parts_recycled=recycled,
                parts_unresolved=codes.count("mine-location-unresolved"),
                parts_declined=codes.count("mine-location-declined"),
            )
    assert survey["countries_of_origin"] == {
        m: sorted(want_countries[m]) for m in ("tin", "tungsten", "gold")
    }
    assert survey["countries_of_origin"] == {
        "tin": ["Bolivia", "Brazil", "China", "Indonesia", "Malaysia", "Peru", "Poland", "Rwanda"],
        "tungsten": ["China"],
        "gold": [
            "Australia",
            "Canada",
            "Chile",
            "China",
            "Japan",
            "Peru",
            "Switzerland",
            "Taiwan",
            "Tanzania",
            "United States",
        ],
    }
    got = sorted((f["file"], f["cell"], f["code"]) for f in findings if f["code"].startswith("mine-location"))
    assert got == sorted(want_findings)
    assert survey["mine_locations"] == dict(want_counts)
    assert survey["mine_locations"]["cells"] == 53


@needs_corpus
def test_corpus_sources_name_cells_that_hold_the_text(corpus_run: tuple[dict, list[dict]]) -> None:
    survey, _ = corpus_run
    cells = {
        (name, f"O{number}"): (metal, text)
        for name, source in FILLED.items()
        for number, metal, text in openpyxl_mine_cells(CORPUS / source)
    }
    for metal, by_country in survey["countries_of_origin_sources"].items():
        assert sorted(by_country) == survey["countries_of_origin"][metal]
        for country, sources in by_country.items():
            assert sources
            for source in sources:
                assert source["sheet"] == "Smelter List"
                want_metal, text = cells[(source["file"], source["cell"])]
                assert (want_metal, source["text"]) == (metal, text)
                assert country in BY_HAND[text][0]


@needs_corpus
def test_corpus_red_flags_keep_both_declaration_answers_and_the_mine_location(
    corpus_run: tuple[dict, list[dict]],
) -> None:
    survey, _ = corpus_run
    flags = {flag["cid"]: flag for flag in survey["red_flags"]}
    # Malaysia Smelting Corporation, named by pkg.xlsx row 12 ("Malaysia.Rwanda  the southern
    # Katanga Province of the DRC ..."); pkg.xlsx answers Yes to both tin questions.
    assert flags["CID001105"]["reasons"] == [
        "pkg.xlsx (Declaration D39) answers Yes: tin smelters in its supply chain source from the Covered "
        "Countries",
        "pkg.xlsx (Declaration D45) answers Yes: tin smelters in its supply chain source from "
        "conflict-affected and high-risk areas (CAHRAs)",
        "pkg.xlsx (Smelter List O12) mentions Democratic Republic of the Congo in a mine location that could "
        "not be read: 'the southern Katanga Province of the DRC that is not within the recognised conflict "
        "areas of Eastern DRC'",
        "pkg.xlsx (Smelter List O12) names a mine location in Rwanda",
    ]
    assert "pkg.xlsx (Smelter List O70) names a mine location in Tanzania" in flags["CID002762"]["reasons"]


def test_subdivision_table_is_pycountrys_records() -> None:
    """The table read from pycountry's database file holds exactly what pycountry's own records
    give: every ISO 3166-2 name (and its suffix-less form) with every country that has it."""
    import pycountry

    from conflict_minerals.ingest.check import locations

    suffixes = locations._tables().subdivision_suffixes
    everywhere: dict[str, set[str]] = defaultdict(set)
    for record in pycountry.subdivisions:
        key = locations.normalise(record.name)
        for variant in {key, locations._strip_suffix(key, suffixes)}:
            everywhere[variant].add(record.country_code)
    table = locations._subdivisions()
    assert table.everywhere == {key: frozenset(codes) for key, codes in everywhere.items()}
    assert len(table.everywhere) > 4900


def test_the_cell_cache_is_bounded() -> None:
    """A folder of hostile workbooks, each cell different, must not grow it without limit."""
    maxsize = read_cell.cache_info().maxsize
    assert maxsize is not None and maxsize <= 65_536


def test_subdivision_records_read_from_the_text_are_the_json_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ISO 3166-2 entries picked out of pycountry's file one at a time are its JSON entries,
    escapes undone; a file laid out otherwise (here: a pattern that finds nothing) is read as JSON."""
    import json
    import re

    import pycountry

    from conflict_minerals.ingest.check import locations

    database = pycountry.subdivisions
    with open(database.filename, encoding="utf-8") as source:
        expected = [(entry["code"], entry["name"]) for entry in json.load(source)[database.root_key]]
    assert list(locations._subdivision_records()) == expected
    assert any(not name.isascii() for _, name in expected)  # escapes and accents both come through
    monkeypatch.setattr(locations, "_SUBDIVISION_ENTRY", re.compile(r"(?!)(x)(y)"))
    assert list(locations._subdivision_records()) == expected
