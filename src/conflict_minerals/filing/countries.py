"""Country names: real countries only (ISO 3166 through pycountry), and the Covered Countries.

Supplier data spells countries the way RMI's lists do ("CONGO, DEMOCRATIC REPUBLIC OF THE",
"BOLIVIA (PLURINATIONAL STATE OF)", "TURKEY"); those spellings are resolved here so the
reports print one name per country.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import pycountry

# Dodd-Frank Section 1502(e)(1): the DRC and the countries sharing an internationally
# recognized border with it.
COVERED_COUNTRY_CODES = frozenset({"CD", "AO", "BI", "CF", "CG", "RW", "SS", "TZ", "UG", "ZM"})

# Spellings in RMI reference lists and CMRTs that ISO's names and pycountry's lookup miss.
_ALIASES = {
    "CONGO, DEMOCRATIC REPUBLIC OF THE": "CD",
    "DEMOCRATIC REPUBLIC OF THE CONGO": "CD",
    "DEMOCRATIC REPUBLIC OF CONGO": "CD",
    "DRC": "CD",
    "CONGO, REPUBLIC OF THE": "CG",
    "REPUBLIC OF THE CONGO": "CG",
    "TURKEY": "TR",
    "SOUTH KOREA": "KR",
    "KOREA": "KR",
    "NORTH KOREA": "KP",
    "RUSSIA": "RU",
    "LAOS": "LA",
    "VIETNAM": "VN",
    "UNITED STATES": "US",
    "USA": "US",
    "UK": "GB",
    "CZECH REPUBLIC": "CZ",
    "IVORY COAST": "CI",
}

# Names the documents print where ISO's short name reads awkwardly in prose.
_DISPLAY_NAMES = {
    "CD": "Democratic Republic of the Congo",
    "CG": "Republic of the Congo",
    "TZ": "Tanzania",
    "BO": "Bolivia",
    "TW": "Taiwan",
    "KR": "South Korea",
    "RU": "Russia",
    "LA": "Laos",
    "VN": "Vietnam",
    "TR": "Türkiye",
    "IR": "Iran",
    "SY": "Syria",
    "VE": "Venezuela",
}


# ISO 3166-2:US (states, the District of Columbia and the territories), as pycountry lists them.
# Kept here because loading pycountry's subdivision database costs 50 ms on every run;
# tests/test_inputs.py checks this table against pycountry.
US_JURISDICTIONS = {
    "AK": "Alaska",
    "AL": "Alabama",
    "AR": "Arkansas",
    "AS": "American Samoa",
    "AZ": "Arizona",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DC": "District of Columbia",
    "DE": "Delaware",
    "FL": "Florida",
    "GA": "Georgia",
    "GU": "Guam",
    "HI": "Hawaii",
    "IA": "Iowa",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "MA": "Massachusetts",
    "MD": "Maryland",
    "ME": "Maine",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MO": "Missouri",
    "MP": "Northern Mariana Islands",
    "MS": "Mississippi",
    "MT": "Montana",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "NE": "Nebraska",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NV": "Nevada",
    "NY": "New York",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "PR": "Puerto Rico",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UM": "United States Minor Outlying Islands",
    "UT": "Utah",
    "VA": "Virginia",
    "VI": "Virgin Islands, U.S.",
    "VT": "Vermont",
    "WA": "Washington",
    "WI": "Wisconsin",
    "WV": "West Virginia",
    "WY": "Wyoming",
}


# Countries whose name takes "the" in running text ("the Democratic Republic of the Congo").
_WITH_ARTICLE = frozenset(
    {"CD", "CG", "CF", "US", "GB", "AE", "NL", "PH", "CZ", "DO", "BS", "GM", "MV", "MH", "SB", "KM", "SC"}
    | {"VA", "KY", "VG", "VI", "FK", "FO", "TC", "UM", "MP"}
)


@dataclass(frozen=True)
class Country:
    code: str
    name: str

    @property
    def covered(self) -> bool:
        return self.code in COVERED_COUNTRY_CODES

    @property
    def in_prose(self) -> str:
        """The name as a sentence uses it: with "the" where English puts one."""
        return prose_name(self.code, self.name)


def prose_name(code: str, name: str) -> str:
    return f"the {name}" if code in _WITH_ARTICLE else name


@cache
def lookup_country(text: str) -> Country | None:
    """Resolve a country name or ISO code to a Country, or None when it is not a country."""
    cleaned = " ".join(text.replace("\t", " ").split()).strip()
    if not cleaned:
        return None
    upper = cleaned.upper()
    code = _ALIASES.get(upper)
    if code is None:
        for candidate in (cleaned, re.sub(r"\s*\((.+)\)$", r", \1", cleaned)):
            try:
                code = pycountry.countries.lookup(candidate).alpha_2
                break
            except LookupError:
                continue
    if code is None:
        return None
    return Country(code=code, name=country_name(code))


def country_name(code: str) -> str:
    if code in _DISPLAY_NAMES:
        return _DISPLAY_NAMES[code]
    record = pycountry.countries.get(alpha_2=code)
    if record is None:
        raise KeyError(code)
    return getattr(record, "common_name", None) or record.name


def covered_country_names() -> list[str]:
    """The Covered Countries, the DRC first and the adjoining countries alphabetically, as
    running text names them ("the Republic of the Congo")."""
    others = sorted((c for c in COVERED_COUNTRY_CODES if c != "CD"), key=country_name)
    return [prose_name(code, country_name(code)) for code in ("CD", *others)]
