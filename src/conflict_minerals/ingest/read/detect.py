"""Which template (CMRT, EMRT, CRT, AMRT) and version a workbook is, and so which cell map.

The version comes from Declaration!J3 ("Revision 6.5\\nApril 25, 2025"); the template from
the acronym in the cached title (D2 shows "(EMRT)" in every language) or, failing that,
from the set of sheets. Families and their version ranges are listed in FAMILY_RULES.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .reader import Workbook, text

_VERSION = re.compile(r"(?:Revision|Version|Rev\.?)\s*([0-9]+(?:\.[0-9]+)*[a-z]?)", re.IGNORECASE)
_ACRONYM = re.compile(r"\((CMRT|EMRT|CRT|AMRT|PRT)\)")

# (template, lowest version, highest version, cell map family); first match wins.
FAMILY_RULES: tuple[tuple[str, tuple[int, ...], tuple[int, ...], str], ...] = (
    ("CMRT", (6,), (6, 99), "cmrt6"),
    ("CMRT", (5,), (5, 99), "cmrt5"),
    ("CMRT", (4,), (4, 99), "cmrt4"),
    ("CMRT", (3,), (3, 99), "cmrt3"),
    ("CMRT", (2, 2), (2, 99), "cmrt202"),
    ("CMRT", (2,), (2, 1), "cmrt2"),
    ("EMRT", (2,), (2, 99), "emrt2"),
    ("EMRT", (1,), (1, 99), "emrt1"),
    ("CRT", (2,), (2, 99), "crt2"),
)

# The newest versions this project knows; older ones get a "template outdated" finding.
# CRT 2.21 still stamps itself "Revision 2.2", so 2.2 is the newest CRT a file can claim to be.
CURRENT_VERSIONS = {"CMRT": "6.5", "EMRT": "2.1", "CRT": "2.2", "AMRT": "1.3"}


@dataclass(frozen=True)
class Detected:
    template: str
    version: str | None
    family: str | None  # None: recognised but not supported


def version_key(version: str) -> tuple[int, ...]:
    """'6.31' -> (6, 31); '2.03a' -> (2, 3); used only to order and range-match versions."""
    parts = []
    for piece in version.split("."):
        digits = re.match(r"[0-9]+", piece)
        parts.append(int(digits[0]) if digits else 0)
    return tuple(parts)


# Digits kept of a revision's decimal part when ordering: RMI's revisions are decimals.
_DECIMAL_PLACES = 6


def version_order(version: str) -> tuple[int, int, str]:
    """A key that orders revisions as RMI numbers them, as decimals: 6.01 < 6.1 < 6.22 < 6.31
    < 6.4 < 6.5, 4.01 < 4.01a < 4.10, 1.1 < 1.11 < 1.2. (version_key reads "6.31" as (6, 31),
    after (6, 5): right for matching a cell map's range, wrong for "which is newer".)"""
    match = re.match(r"\s*([0-9]*)(?:\.([0-9]*))?(.*)", version)
    assert match is not None  # every group may be empty
    major, fraction, rest = match[1], match[2] or "", match[3].strip()
    decimal = int(fraction[:_DECIMAL_PLACES].ljust(_DECIMAL_PLACES, "0"))
    return (int(major) if major else 0, decimal, rest.casefold())


def _version(workbook: Workbook) -> str | None:
    candidates = []
    if workbook.has_sheet("Declaration"):
        declaration = workbook.sheet("Declaration")
        candidates += [declaration.cell("J3"), declaration.cell("J2"), declaration.cell("N2")]
    if workbook.has_sheet("Smelter List"):
        candidates.append(workbook.sheet("Smelter List").cell("Q3"))
    for value in candidates:
        raw = text(value)
        if raw and (match := _VERSION.search(raw)):
            return match[1]
    return None


def _template(workbook: Workbook) -> str | None:
    names = set(workbook.sheet_names)
    if "Minerals Scope" in names:
        return "AMRT"
    if workbook.has_sheet("Declaration"):
        title = text(workbook.sheet("Declaration").cell("D2")) or ""
        if match := _ACRONYM.search(title):
            return "AMRT" if match[1] == "PRT" else match[1]
        if "Conflict Minerals Reporting Template" in title:
            return "CMRT"
    if "Smelter and Mine List" in names:
        return "CMRT"
    if "Mine List" in names:
        return "EMRT"
    if "Standard Smelter Names" in names or "Smelter Look-up" in names:
        return "CMRT"
    return None


def detect(workbook: Workbook) -> Detected | None:
    template = _template(workbook)
    if template is None:
        return None
    version = _version(workbook)
    if template == "CMRT" and "Smelter and Mine List" in workbook.sheet_names:
        return Detected(template, version or "1.00", None)  # CMRT 1.x: detected, not supported
    if version is None:
        return Detected(template, None, None)
    key = version_key(version)
    for rule_template, low, high, family in FAMILY_RULES:
        if rule_template == template and low <= key[: len(low)] and key[: len(high)] <= high:
            return Detected(template, version, family)
    return Detected(template, version, None)
