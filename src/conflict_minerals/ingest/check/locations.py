"""The suppliers' mine-location cells ("Location (Country) of Mine(s)" on the Smelter List),
read as lists of places.

Real cells hold one country, a list ("United States, Peru, Chile, Japan"), a region ("Puno -
Peru", "Western Australia"), free text, "Recycled", or a pointer elsewhere ("RCOI confirmed as
per CFSI"). A cell is cut into parts and every part becomes exactly one of: a country (with the
way it was resolved), recycled or scrap sources, or a part that could not be placed
(unresolved, ambiguous or declined), which ingest reports as a finding. Nothing is guessed: a
name that fits several countries, and free text, are reported, never resolved; a country only
mentioned inside free text is named in the finding, not added.

Pure functions; the alias and word tables are data, in locations.json beside this file.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, lru_cache
from importlib.resources import files

import pycountry

from ...filing.countries import Country, country_name
from ...filing.survey import Metal
from ..models import RowKind, SmelterRow, SupplierWorkbook
from ..read.cellmap import load_cellmap
from .lists import ReferenceList

THREE_TG = frozenset(m.value for m in Metal)


class PartKind(StrEnum):
    COUNTRY = "country"
    RECYCLED = "recycled"
    UNRESOLVED = "unresolved"
    AMBIGUOUS = "ambiguous"
    DECLINED = "declined"


@dataclass(frozen=True)
class Part:
    """One place (or non-place) named in a mine-location cell."""

    text: str  # as written in the cell
    kind: PartKind
    country: Country | None = None
    note: str = ""  # how it was resolved, or why it was not
    mentions: tuple[Country, ...] = ()  # countries named inside text that could not be resolved


# ----- the tables -----


def normalise(text: str) -> str:
    """Lower case, accents removed, '&' as 'and', apostrophes dropped, other non-letters as one space."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = re.sub(r"['’`]", "", plain.replace("&", " and "))
    return re.sub(r"[^a-z0-9]+", " ", plain).strip()


@dataclass(frozen=True)
class _Tables:
    names: dict[str, str]  # normalised name or short form -> alpha-2
    squashed: dict[str, str]  # name without spaces -> alpha-2, for a stray space inside a name
    codes: dict[str, str]  # ISO alpha-2 and alpha-3 -> alpha-2
    ambiguous: dict[str, tuple[str, ...]]
    declined_exact: frozenset[str]
    declined_words: frozenset[str]
    filler_words: frozenset[str]
    region_words: frozenset[str]
    subdivision_suffixes: tuple[str, ...]
    subdivision_stopwords: frozenset[str]


@cache
def _tables() -> _Tables:
    data = json.loads((files(__package__) / "locations.json").read_text(encoding="utf-8"))
    ambiguous = {key: tuple(codes) for key, codes in data["ambiguous"].items()}
    names: dict[str, str] = {}
    codes: dict[str, str] = {}
    for record in pycountry.countries:
        codes[record.alpha_2] = codes[record.alpha_3] = record.alpha_2
        for attribute in ("name", "official_name", "common_name"):
            value = getattr(record, attribute, None)
            if not value:
                continue
            names[normalise(value)] = record.alpha_2
            if ", " in value:  # "Korea, Republic of" is also written "Republic of Korea"
                head, _, tail = value.partition(", ")
                names[normalise(f"{tail} {head}")] = record.alpha_2
    names |= data["aliases"]
    for key in ambiguous:  # pycountry calls the Republic of the Congo plain "Congo"
        names.pop(key, None)
    squashed = {key.replace(" ", ""): code for key, code in names.items() if len(key.replace(" ", "")) >= 5}
    return _Tables(
        names=names,
        squashed=squashed,
        codes=codes,
        ambiguous=ambiguous,
        declined_exact=frozenset(data["declined_exact"]),
        declined_words=frozenset(data["declined_words"]),
        filler_words=frozenset(data["filler_words"]),
        region_words=frozenset(data["region_words"]),
        subdivision_suffixes=tuple(data["subdivision_suffixes"]),
        subdivision_stopwords=frozenset(data["subdivision_stopwords"]),
    )


def _strip_suffix(key: str, suffixes: tuple[str, ...]) -> str:
    for suffix in suffixes:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


@dataclass(frozen=True)
class _Subdivisions:
    # Every subdivision name -> the countries having one so named. Only which countries: the
    # name as ISO spells it is never shown (a table of those cost this process 2 MB).
    everywhere: dict[str, frozenset[str]]


@cache
def _subdivisions() -> _Subdivisions:
    """ISO 3166-2 names (Western Australia, Puno, Haut-Katanga, Shanghai Shi as "shanghai")."""
    tables = _tables()
    # Most names belong to one country: a name's country is kept as its code until a second
    # one comes, and then one frozenset per distinct set of countries serves every name with
    # that set (a set per name, 7,000 of them, cost this process 1.4 MB).
    found: dict[str, str | set[str]] = {}
    for code, name in _subdivision_records():
        country_code = code.split("-")[0]  # as pycountry derives it
        key = normalise(name)
        for variant in {key, _strip_suffix(key, tables.subdivision_suffixes)}:
            known = found.get(variant)
            if known is None:
                found[variant] = country_code
            elif isinstance(known, str):
                if known != country_code:
                    found[variant] = {known, country_code}
            else:
                known.add(country_code)
    shared: dict[frozenset[str], frozenset[str]] = {}
    countries = {}
    for key, codes in found.items():
        held = frozenset((codes,) if isinstance(codes, str) else codes)
        countries[key] = shared.setdefault(held, held)
    return _Subdivisions(countries)


# One entry of pycountry's ISO 3166-2 file as pycountry writes it: "code", then "name" (a JSON
# string: json.loads undoes its escapes).
_SUBDIVISION_ENTRY = re.compile(r'\{\s*"code":\s*"([A-Z0-9-]+)",\s*"name":\s*("(?:[^"\\]|\\.)*")')


def _subdivision_records() -> Iterator[tuple[str, str]]:
    """(code, name) of every ISO 3166-2 subdivision, in pycountry's order, read from pycountry's
    own database file: building pycountry's record objects and indexes for 5,000 entries took
    three times as long as the JSON itself, and a run paid it whatever the supplier files say.
    The two fields are picked out of the text one entry at a time: the whole file as JSON, a
    dict for each entry, left two megabytes of this process's heap in pieces. A file laid out
    any other way is read as JSON."""
    database = pycountry.subdivisions
    with open(database.filename, encoding="utf-8") as source:
        text = source.read()
    entries = text.count('"code":')
    if entries and sum(1 for _ in _SUBDIVISION_ENTRY.finditer(text)) == entries:
        for match in _SUBDIVISION_ENTRY.finditer(text):
            yield match[1], json.loads(match[2])
        return
    for entry in json.loads(text)[database.root_key]:
        yield entry["code"], entry["name"]


def load_location_tables() -> None:
    """Build the country and ISO 3166-2 tables now (a few hundredths of a second) instead of at the
    first mine-location cell that needs them."""
    _tables()
    _subdivisions()


def _subdivision_countries(key: str) -> frozenset[str]:
    """Countries with a subdivision of this name, when the name may stand alone for a place:
    not a country's name, not a generic word ("Western", "Pool", "Coast"), four letters or more."""
    tables = _tables()
    key = _strip_region_words(key)
    if len(key) < 4 or key in tables.subdivision_stopwords or key in tables.names or key in tables.ambiguous:
        return frozenset()
    return _subdivisions().everywhere.get(key, frozenset())


def _strip_region_words(key: str) -> str:
    words = [w for w in key.split() if w not in _tables().region_words]
    return " ".join(words)


_REGION_MAX_WORDS = 4
_NEGATIONS = frozenset({"not", "no", "non", "except", "excluding", "outside", "without", "never", "nor"})


def _region_fits(text: str, code: str) -> bool:
    """Whether text can be read as a place inside the country: one of its ISO subdivisions, or
    a name marked as a region ("Kab. Bangka", "Rondonia region")."""
    key = normalise(text)
    words = key.split()
    if not _strip_region_words(key) or len(words) > _REGION_MAX_WORDS or _NEGATIONS & set(words):
        # "State" alone says nothing about where; a sentence ("... of the DRC that is not within
        # the conflict areas ...") is for a person to read, not a region.
        return False
    if any(word in _tables().region_words for word in key.split()):
        return True
    everywhere = _subdivisions().everywhere
    return code in everywhere.get(key, ()) or code in everywhere.get(_strip_region_words(key), ())


def _country(code: str) -> Country:
    return Country(code=code, name=country_name(code))


# ----- one part -----

_RECYCLED_WORD = re.compile(r"re ?(?:cy+c?l|cl?ycl|cyl)\w*|reclaim\w*|scraps?")


def _is_recycled(key: str) -> bool:
    words = re.sub(r"\bre cy", "recy", key).split()
    filler = _tables().filler_words
    return any(_RECYCLED_WORD.fullmatch(w) for w in words) and all(
        _RECYCLED_WORD.fullmatch(w) or w in filler for w in words
    )


def _mentions(key: str) -> tuple[Country, ...]:
    """Countries named anywhere inside a text (for findings and red flags, never for the list)."""
    tables = _tables()
    words = key.split()
    found: dict[str, Country] = {}
    used: set[int] = set()  # "Papua New Guinea" is not also a mention of Guinea
    for size in range(5, 0, -1):
        for start in range(len(words) - size + 1):
            span = set(range(start, start + size))
            phrase = " ".join(words[start : start + size])
            code = tables.names.get(phrase)
            if code and len(phrase) >= 3 and not span & used:
                found.setdefault(code, _country(code))
                used |= span
    return tuple(sorted(found.values(), key=lambda c: c.name))


def _name_code(text: str) -> str | None:
    """A country's name or short form (not a code, not a region)."""
    return _tables().names.get(normalise(text))


def resolve_part(text: str, alone: bool = True) -> Part:
    """One part of a cell; `alone` when it is the whole cell."""
    tables = _tables()
    key = normalise(text)
    if _is_recycled(key):
        return Part(text, PartKind.RECYCLED, note="recycled or scrap sources")
    if key in tables.declined_exact:
        if not alone and text.strip().isupper() and text.strip() in tables.codes:
            iso = _country(tables.codes[text.strip()]).name
            return Part(
                text, PartKind.AMBIGUOUS, note=f"could be the ISO code of {iso} or a word; name the country"
            )
        return Part(text, PartKind.DECLINED, note="names no place")
    if key in tables.ambiguous:
        # Each country it could be is named, so a Covered Country among them is never lost.
        candidates = tuple(sorted((_country(c) for c in tables.ambiguous[key]), key=lambda c: c.name))
        options = " or ".join(_country(c).name for c in tables.ambiguous[key])
        return Part(text, PartKind.AMBIGUOUS, note=f"could be {options}", mentions=candidates)
    if code := tables.names.get(key):
        return Part(text, PartKind.COUNTRY, _country(code), "name")
    bare = text.strip()
    if re.fullmatch(r"[A-Z]{2,3}", bare) and bare in tables.codes:
        return Part(text, PartKind.COUNTRY, _country(tables.codes[bare]), "ISO code")
    if " " in key and (code := tables.squashed.get(key.replace(" ", ""))):
        return Part(text, PartKind.COUNTRY, _country(code), "name with a stray space")
    regions = _subdivision_countries(key)
    if len(regions) == 1:
        code = next(iter(regions))
        return Part(text, PartKind.COUNTRY, _country(code), f"region of {_country(code).name}")
    if found := _region_and_country(text, key):
        return found
    mentions = _mentions(key)
    if not mentions and any(word in tables.declined_words for word in key.split()):
        return Part(text, PartKind.DECLINED, note="points elsewhere or declines to name a place")
    if len(regions) > 1:
        candidates = tuple(sorted((_country(c) for c in regions), key=lambda c: c.name))
        options = ", ".join(c.name for c in candidates)
        return Part(
            text, PartKind.AMBIGUOUS, note=f"a region of that name exists in {options}", mentions=candidates
        )
    return Part(text, PartKind.UNRESOLVED, note=_unresolved_note(key, mentions), mentions=mentions)


_OF_COUNTRY = re.compile(
    r"^(?P<region>.+ (?:region|province|state|district|department|prefecture|county))"
    r" of (?:the )?(?P<country>.+)$"
)
_PARENTHESIS = re.compile(r"^(?P<outer>[^()]+?)\s*\((?P<inner>[^()]+)\)$")


def _region_and_country(text: str, key: str) -> Part | None:
    """A place inside a country written in one part: "Sao Paulo Brazil", "Brazil (Rondonia)",
    "Katanga (DRC)", "the Ariquemes region of Brazil". The region must be one of the country's
    ISO subdivisions or be marked as a region; otherwise the part is not resolved."""
    if match := _PARENTHESIS.match(text.strip()):
        for country_text, region_text in ((match["outer"], match["inner"]), (match["inner"], match["outer"])):
            code = _name_code(country_text)
            if code and _region_fits(region_text, code):
                return _inside(text, region_text, code)
    match = _OF_COUNTRY.match(key)
    code = _tables().names.get(match["country"]) if match else None
    if match and code and _region_fits(match["region"], code):
        return _inside(text, match["region"], code)
    words = key.split()
    for size in range(min(4, len(words) - 1), 0, -1):
        for country_words, region_words in ((words[-size:], words[:-size]), (words[:size], words[size:])):
            code = _tables().names.get(" ".join(country_words))
            if code and _region_fits(" ".join(region_words), code):
                return _inside(text, " ".join(region_words), code)
    return None


def _inside(text: str, region: str, code: str) -> Part:
    country = _country(code)
    return Part(text, PartKind.COUNTRY, country, f"{region.strip()!r} read as a place in {country.name}")


def _unresolved_note(key: str, mentions: tuple[Country, ...]) -> str:
    if mentions:
        named = ", ".join(c.name for c in mentions)
        return f"free text that mentions {named}; read it and give the countries"
    close = difflib.get_close_matches(key, list(_tables().names), n=1, cutoff=0.8)
    if close:
        closest = country_name(_tables().names[close[0]])
        return f"not a country or a known region (closest country name: {closest})"
    return "not a country or a known region"


# ----- one cell -----

# The most places one cell is read as; real cells name a few, a long list a few dozen.
MAX_PARTS = 200
# Abbreviations whose full stop does not end a name ("Kab. Bangka", "Dem. Rep. Congo").
_ABBREVIATION = re.compile(r"\b(kab|prov|dem|rep|dist|reg|dept|mt|st|ste|ft|pt|co|ltd|inc|no|nr|rd)\.", re.I)
_KEEP_DOT = "\u2024"  # one-dot leader: a full stop that is not a separator, restored in the part text
_KEEP_SLASH = "\u2044"  # fraction slash: the slash of "N/A", restored in the part text
_INITIALISM = re.compile(r"\b(?:[A-Za-z]\.){2,}")  # U.S.A., D.R.C.
_NOT_APPLICABLE = re.compile(r"\bn\s*/\s*a\b", re.I)
# The spaces before "etc" are matched only from where they begin: a pattern free to start
# anywhere in a long run of spaces would scan the rest of the run from each of them.
_ETC = re.compile(r"(?<!\s)\s*\betc\b\.?", re.I)
# Separators between places: , ; / | line breaks, two or more spaces, " and ", "&", "+",
# a spaced dash ("Puno - Peru"), and a full stop that ends a name ("Malaysia.Rwanda", "Chile. Peru").
_SEPARATOR = re.compile(
    r"\s*(?:[,;/|\n+]|&|\s[-–—]\s|[–—]|(?<=[A-Za-z]{2})\.(?=[A-Z])|\.(?=\s|$))\s*|\s{2,}|\s+and\s+",
    re.I,
)


@dataclass(frozen=True)
class _Piece:
    text: str
    start: int
    end: int
    separator_before: str  # "" for the first piece


def _pieces(prepared: str) -> list[_Piece]:
    pieces, start, separator = [], 0, ""
    for match in _SEPARATOR.finditer(prepared):
        pieces.append(_Piece(prepared[start : match.start()], start, match.start(), separator))
        separator, start = match.group().strip() or " ", match.end()
    pieces.append(_Piece(prepared[start:], start, len(prepared), separator))
    return [p for p in pieces if normalise(p.text)]


def _restore(text: str) -> str:
    return text.replace(_KEEP_DOT, ".").replace(_KEEP_SLASH, "/").strip()


def _merge_names(prepared: str, pieces: list[_Piece]) -> list[_Piece]:
    """Join pieces that a separator cut out of one country's name ("Korea, Republic of",
    "Trinidad and Tobago", "Bonaire, Sint Eustatius and Saba", "United  States")."""
    merged: list[_Piece] = []
    index = 0
    while index < len(pieces):
        for end in range(min(len(pieces), index + 4), index + 1, -1):
            joined = prepared[pieces[index].start : pieces[end - 1].end]
            if _name_code(_restore(joined)):
                merged.append(
                    _Piece(joined, pieces[index].start, pieces[end - 1].end, pieces[index].separator_before)
                )
                index = end
                break
        else:
            merged.append(pieces[index])
            index += 1
    return merged


def _absorb_regions(prepared: str, pieces: list[_Piece], parts: list[Part]) -> list[Part]:
    """ "Kab. Bangka, Indonesia" and "Puno - Peru": a region followed by its country is one place."""
    result: list[Part] = []
    pieces_out: list[_Piece] = []
    for piece, part in zip(reversed(pieces), reversed(parts), strict=True):
        if result:
            following, following_piece = result[-1], pieces_out[-1]
            region_of_it = part.kind is PartKind.UNRESOLVED or (
                part.kind is PartKind.COUNTRY
                and following.country is not None
                and part.country == following.country
            )
            if (
                following.kind is PartKind.COUNTRY
                and following.country is not None
                and following_piece.separator_before in (",", "-", "–", "—")
                and region_of_it
                and _region_fits(_restore(piece.text), following.country.code)
            ):
                text = _restore(prepared[piece.start : following_piece.end])
                result[-1] = _inside(text, _restore(piece.text), following.country.code)
                pieces_out[-1] = _Piece(text, piece.start, following_piece.end, piece.separator_before)
                continue
        result.append(part)
        pieces_out.append(piece)
    return list(reversed(result))


# The same cells recur across a folder's workbooks; a folder of hostile ones, all different,
# must not grow the cache for the whole run.
@lru_cache(maxsize=16_384)
def read_cell(text: str) -> tuple[Part, ...]:
    """Every part of one mine-location cell; a non-empty cell always gives at least one part."""
    prepared = _INITIALISM.sub(lambda m: m.group().replace(".", ""), text)
    prepared = _NOT_APPLICABLE.sub(lambda m: m.group().replace("/", _KEEP_SLASH), prepared)
    prepared = _ABBREVIATION.sub(lambda m: m.group(1) + _KEEP_DOT, prepared)
    prepared = _ETC.sub("; etc", prepared)
    whole = normalise(text)
    if whole in _tables().declined_exact:
        return (Part(text.strip(), PartKind.DECLINED, note="names no place"),)
    pieces = _pieces(prepared)
    if len(pieces) > MAX_PARTS:
        # No supplier lists hundreds of places in one cell; a cell that does is read by a person
        # (each part costs a search for the closest country name, and this runs for every cell).
        mentions = _mentions(whole)
        note = f"lists more than {MAX_PARTS} places; read it and give the countries"
        return (Part(text.strip(), PartKind.UNRESOLVED, note=note, mentions=mentions),)
    pieces = _merge_names(prepared, pieces)
    if not pieces:
        return (Part(text.strip(), PartKind.DECLINED, note="names no place"),)
    alone = len(pieces) == 1
    parts = _absorb_regions(prepared, pieces, [resolve_part(_restore(p.text), alone) for p in pieces])
    if len(parts) > 1 and _is_pointer(whole, parts):
        # "see www.rmi.org/rcoi": one answer that points elsewhere, whatever separators it holds.
        return (Part(text.strip(), PartKind.DECLINED, note="points elsewhere or declines to name a place"),)
    return tuple(parts)


def _is_pointer(whole: str, parts: list[Part]) -> bool:
    """A cell that names no place at all and has words that point elsewhere or decline."""
    placeless = all(
        p.kind is PartKind.DECLINED or (p.kind is PartKind.UNRESOLVED and not p.mentions) for p in parts
    )
    pointing = any(word in _tables().declined_words for word in whole.split())
    return placeless and pointing and not _mentions(whole)


# ----- one workbook -----


@dataclass(frozen=True)
class MineCell:
    """A non-empty mine-location cell of a CMRT, read."""

    row: int
    sheet: str
    cell: str
    text: str
    metal: str | None  # the 3TG metal its places count for; None when the row names none
    metal_text: str | None  # the row's metal as written, for the message when it is not 3TG
    parts: tuple[Part, ...]


def row_metal(row: SmelterRow, reference: ReferenceList) -> str | None:
    """The metal a Smelter List row's mine locations count for: the identified smelter's metal,
    else the metal the supplier chose on the row (rows naming no identifiable smelter still
    carry the supplier's declaration for that metal); None when neither is a 3TG metal."""
    entry = reference.get(row.cid) if row.kind is RowKind.IDENTIFIED else None
    if entry is not None and entry.metal in THREE_TG:
        return entry.metal
    metal = (row.metal or "").strip().lower()
    return metal if metal in THREE_TG else None


def mine_cells(workbook: SupplierWorkbook, reference: ReferenceList) -> list[MineCell]:
    """Every non-empty mine-location cell of a CMRT (EMRT and CRT files are not 3TG responses)."""
    if workbook.template != "CMRT":
        return []
    spec = load_cellmap(workbook.family).smelter_list
    column = spec.columns.get("mine_country")
    if column is None:
        return []
    cells = []
    for row in workbook.smelters:
        if not row.mine_country:
            continue
        metal = row_metal(row, reference)
        parts = read_cell(row.mine_country)
        if metal is None:
            parts = tuple(_without_metal(part, row.metal) for part in parts)
        cells.append(
            MineCell(row.row, spec.sheet, f"{column}{row.row}", row.mine_country, metal, row.metal, parts)
        )
    return cells


def _without_metal(part: Part, metal: str | None) -> Part:
    """A row with no 3TG metal: its places count for no metal, so each is reported."""
    if part.kind not in (PartKind.COUNTRY, PartKind.RECYCLED):
        return part
    named = part.country.name if part.country else "recycled sources"
    written = f"{metal!r}" if metal else "no metal"
    return Part(
        part.text,
        PartKind.UNRESOLVED,
        note=f"names {named}, but the row gives {written}, not tantalum, tin, tungsten or gold",
        mentions=(part.country,) if part.country else (),
    )


# What only a person can decide: the parts of a cell that could not be read.
_UNREAD = (PartKind.UNRESOLVED, PartKind.AMBIGUOUS)


def unread_parts(cell: MineCell) -> list[str]:
    return [part.text for part in cell.parts if part.kind in _UNREAD]


def mentioned(cell: MineCell) -> list[Country]:
    """Countries named in the parts of a cell that could not be read (the candidates of an
    ambiguous name included)."""
    found: dict[str, Country] = {}
    for part in cell.parts:
        if part.kind in _UNREAD:
            for country in part.mentions:
                found.setdefault(country.code, country)
    return sorted(found.values(), key=lambda c: c.name)
