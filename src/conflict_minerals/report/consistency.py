"""The consistency check: what the rendered documents say, read again and compared with the figures.

Every build and `cmr validate` run it on the HTML of every document, after the templates (built-in
or the filing's own) and the narrative have been put together, so a sentence cannot drift from
the data whoever wrote it. It checks, sentence by sentence:

- references: every "Table 2", "Figure 1", "Annex B", "Section VI" names a part that exists in the
  document, on the side the sentence says ("above", "below"); "the countries of origin table" names
  a table of that subject in its section; a table said to list SORs (or countries) lists them,
  one per row, and does not merely count them;
- the source of the countries of origin: every sentence that says where they came from names the
  survey's `countries_of_origin_basis`, and none names another;
- numbers: a number stated of suppliers, SORs, countries or entries is one of the figures the
  tables show for that kind (the exact one when the sentence says which: "responded",
  "tantalum", "Conformant"), and a stated response rate is the table's;
- the Covered Countries: those the text names as countries of origin are those Annex B marks,
  and a sentence listing them lists all of them.

A finding names the document, the section and the sentence, and the filing line when the sentence
comes from the narrative; it is an error in the copy to file, a warning in a draft.

Every scan here is a regular expression without nested repetition over one sentence at a time,
so the time grows linearly with the documents.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..filing.countries import lookup_country
from ..filing.loader import LoadedFiling
from ..filing.yamlio import LoadedYaml, Path_, strings
from ..problems import Problem, Severity
from .context import DocumentContext
from .htmltree import Node, parse

# ----- the document as parts and sentences -----

_SKIP_CLASSES = {"running-header", "draft-notice", "toc"}
_BLOCKS = {"p", "li", "dd", "dt", "figcaption", "h1", "h2", "h3", "h4"}
_SUBJECTS = {
    "survey": re.compile(r"\b(?:suppliers?|survey|responses?|response rate)\b", re.IGNORECASE),
    "sors": re.compile(r"\b(?:SORs?|smelters?|refiners?|facilit(?:y|ies)|RMAP status)\b", re.IGNORECASE),
    "countries": re.compile(r"\b(?:countr(?:y|ies)|origin)\b", re.IGNORECASE),
    "trend": re.compile(
        r"\b(?:trend|multi-year|by year|each year|\d{4}\s*(?:–|-|to)\s*\d{4})\b", re.IGNORECASE
    ),
}
_CID = re.compile(r"\bCID\d{6}\b")
_ROMAN = re.compile(r"^([IVXL]+)\.\s")
_ANNEX_TITLE = re.compile(r"^Annex\s+([A-Z])\b")
_SECTION_TITLE = re.compile(r"^Section\s+(\d+)\b")


@dataclass
class Part:
    """A table, figure, annex or numbered section a sentence can point to."""

    kind: str  # "table", "figure", "annex", "section"
    label: str  # "Table 2", "Annex B", "Section VI"
    start: int  # document order of its first and last element
    end: int
    section: str  # the top-level section (h2) it stands in
    subjects: set[str] = field(default_factory=set)
    lists: str | None = None  # "sors" or "countries" when it lists them one per row


@dataclass
class Sentence:
    text: str
    position: int  # document order of its block
    section: str  # the top-level section's title
    definition: bool  # in the report's list of definitions


@dataclass
class Layout:
    """What a rendered document is made of, in document order."""

    parts: list[Part] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)
    # Annex B: the countries it lists, and those marked as Covered Countries (ISO codes).
    annex_countries: set[str] | None = None
    annex_marked: set[str] = field(default_factory=set)


_SENTENCE_END = re.compile(r"(?<=[.!?])[\u201d\"’)]?\s+(?=[A-Z\u201c\"(])")
_ABBREVIATION = re.compile(r"\b(?:Inc|Co|Corp|Ltd|No|U\.S|e\.g|i\.e|Mr|Ms|Dr|St|vs)\.$")


def split_sentences(text: str) -> list[str]:
    """Sentences of a block: cut after a full stop followed by a capital, except after the usual
    abbreviations ("Inc.", "U.S.")."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        # The tail only (no slice of the whole candidate): a run of "Inc. Inc. ..." stays linear.
        if _ABBREVIATION.search(text[max(start, match.start() - 8) : match.start()].rstrip()):
            continue
        candidate = text[start : match.start()].strip()
        if candidate:
            pieces.append(candidate)
        start = match.end()
    rest = text[start:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def _classes(element: Node) -> set[str]:
    return set((element.get("class") or "").split())


def _text(element: Node) -> str:
    return " ".join(element.text_content().split())


def read_layout(document_html: str) -> Layout:
    layout = Layout()
    _Walker(layout).walk(parse(document_html))
    return layout


class _Walker:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.order = 0
        self.section = ""
        self.annex: Part | None = None

    def walk(self, element: Node, definitions: bool = False) -> None:
        if element.tag in ("style", "script", "nav", "head", "title"):
            return
        if _classes(element) & _SKIP_CLASSES:
            return
        self.order += 1
        if element.tag == "h2":
            self._heading(element)
        if element.tag == "table":
            self._table(element)
            return
        if element.tag == "figure":
            self._figure(element)
            return
        definitions = definitions or "definitions" in _classes(element)
        if element.tag in _BLOCKS and not (element.tag == "li" and element.has_descendant("li")):
            if element.tag not in ("h1", "h2", "h3", "h4"):
                for sentence in split_sentences(_text(element)):
                    self.layout.sentences.append(Sentence(sentence, self.order, self.section, definitions))
            return
        for child in element:
            self.walk(child, definitions)
        if self.annex is not None and element.tag == "section":
            self.annex.end = self.order

    def _heading(self, element: Node) -> None:
        title = _text(element)
        self.section = title
        self.annex = None
        if (found := _ROMAN.match(title)) or (found := _SECTION_TITLE.match(title)):
            self._add(Part("section", f"Section {found[1]}", self.order, self.order, title))
        elif found := _ANNEX_TITLE.match(title):
            self.annex = Part("annex", f"Annex {found[1]}", self.order, self.order, title)
            self.annex.subjects = _subjects(title)
            self._add(self.annex)

    def _add(self, part: Part) -> None:
        self.layout.parts.append(part)

    def _table(self, element: Node) -> None:
        caption = element.child("caption")
        title = _text(caption) if caption is not None else ""
        lists = _what_it_lists(element)
        numbered = re.match(r"Table\s+(\d+)\b", title)
        # A table is about what its caption says and what it lists; its column headings name
        # the details of each row (Annex A's "Country" is the SOR's, not a country of origin).
        if numbered:
            part = Part("table", f"Table {numbered[1]}", self.order, self.order, self.section)
            part.subjects = _subjects(title) | ({lists} if lists else set())
            part.lists = lists
            self._add(part)
        elif self.annex is not None:
            self.annex.lists = self.annex.lists or lists
            self.annex.subjects |= {lists} if lists else set()
            if self.annex.label == "Annex B" and lists == "countries":
                self._annex_countries(element)
        self.order += 1

    def _annex_countries(self, table: Node) -> None:
        listed, marked = set(), set()
        for row in table.iter("tr"):
            cells = [cell for cell in row if cell.tag == "td"]
            if not cells:
                continue
            name = _text(cells[0])
            country = lookup_country(name.rstrip("*").strip())
            if country is None:
                continue
            listed.add(country.code)
            if name.endswith("*"):
                marked.add(country.code)
        self.layout.annex_countries = listed
        self.layout.annex_marked = marked

    def _figure(self, element: Node) -> None:
        caption = element.child("figcaption")
        title = _text(caption) if caption is not None else ""
        if numbered := re.match(r"Figure\s+(\d+)\b", title):
            part = Part("figure", f"Figure {numbered[1]}", self.order, self.order, self.section)
            part.subjects = _subjects(title)
            self._add(part)
        self.order += 1


def _subjects(text: str) -> set[str]:
    return {name for name, pattern in _SUBJECTS.items() if pattern.search(text)}


def _what_it_lists(table: Node) -> str | None:
    """ "sors" for a table with a smelter ID in its rows, "countries" for one whose rows are
    countries; None for a table of figures."""
    rows = [row for row in table.iter("tr") if any(cell.tag == "td" for cell in row)]
    if not rows:
        return None
    if sum(1 for row in rows if any(_CID.search(_text(cell)) for cell in row)) * 2 >= len(rows):
        return "sors"
    firsts = [_text(row.elements()[0]).rstrip("*").strip() for row in rows if row.elements()]
    if firsts and sum(1 for name in firsts if lookup_country(name)) * 2 >= len(firsts):
        return "countries"
    return None


# ----- the figures the documents show -----


@dataclass
class Figures:
    """Every number a sentence may state, by kind, from the report context."""

    suppliers: dict[str, set[int]]  # "surveyed", "responded", "not responded"
    sors: dict[str, set[int]]  # "" (any), a metal, a status, "metal status", "removed", "located"
    countries: dict[str, set[int]]  # "" (any), "covered", a metal
    entries: set[int]
    places: set[int]
    percents: dict[str, set[float]]  # "response", "spend", "" (any)
    years: dict[int, Figures] = field(default_factory=dict)


_STATUS_WORDS = ("conformant or active", "non-conformant", "not enrolled", "conformant", "active", "other")
_METALS = ("tantalum", "tin", "tungsten", "gold")


def _percent_value(text: str | None) -> float | None:
    if not text or not text.endswith("%"):
        return None
    return float(text.rstrip("%"))


def figures(context: DocumentContext) -> Figures:
    survey = context.survey
    statuses = [s.lower() for s in context.statuses]
    sors: dict[str, set[int]] = {"": {context.status_total.total}}
    percents: dict[str, set[float]] = {"response": set(), "spend": set(), "": set()}
    for row in [*context.status_rows, context.status_total]:
        metal = row.label.lower() if row.label != "Total" else ""
        sors.setdefault(metal, set()).add(row.total)
        sors[""].add(row.total)
        cells = [*zip(statuses, row.counts, strict=True), ("conformant or active", row.conformant_or_active)]
        for status, cell in cells:
            # "tin conformant" for a metal's row; "conformant" alone is the Total row's.
            sors.setdefault(f"{metal} {status}".strip(), set()).add(cell.count)
            sors[""].add(cell.count)
            if (value := _percent_value(cell.percent)) is not None:
                percents[""].add(value)
    removals = {n for n in (context.sor_removals_requested, context.sor_removals_removed) if n is not None}
    sors["removed"] = removals
    sors["located"] = {len(context.covered_located)}
    sors[""] |= removals | sors["located"]
    for product in context.claimed_products:  # the SORs behind a "DRC conflict free" claim
        claimed = {len(product.sors), product.conformant}
        sors[""] |= claimed
        sors.setdefault("conformant", set()).update(claimed)
    countries: dict[str, set[int]] = {
        "": {context.countries_total},
        "covered": {len(context.covered_country_origins)},
    }
    for metal, found in context.countries_by_metal:
        countries.setdefault(metal.lower(), set()).add(len(found))
        countries[""].add(len(found))
    countries[""] |= countries["covered"]
    locations = context.mine_locations
    entries = {survey.unidentified_rows, len(context.undecided_covered)}
    places: set[int] = set()
    if locations is not None:
        entries.add(locations.cells)
        places = {
            locations.places,
            locations.resolved,
            locations.recycled,
            locations.unresolved,
            locations.declined,
            locations.decided,
        }
    for text, key in ((survey.response_rate, "response"), (survey.spend_coverage, "spend")):
        if (value := _percent_value(text)) is not None:
            percents[key].add(value)
            percents[""].add(value)
    found = Figures(
        suppliers={
            "surveyed": {survey.surveyed},
            "responded": {survey.responded},
            "not responded": {survey.not_responded},
        },
        sors=sors,
        countries=countries,
        entries=entries,
        places=places,
        percents=percents,
    )
    for row in context.trend:
        prior = Figures(
            suppliers={
                "surveyed": {row.surveyed},
                "responded": {row.responded},
                "not responded": {row.surveyed - row.responded},
            },
            sors={"": {row.total, *row.by_status}}
            | {status: {count} for status, count in zip(statuses, row.by_status, strict=True)},
            countries={},
            entries=set(),
            places=set(),
            percents={
                "response": {v for v in [_percent_value(row.response_rate)] if v is not None},
                "spend": set(),
                "": set(),
            },
        )
        found.years[row.year] = prior
    return found


# ----- the checks, one sentence at a time -----


@dataclass
class Finding:
    sentence: Sentence
    message: str


_NUMBERED = re.compile(
    r"\b(Tables?|Figures?)\s+(\d+(?:\s*(?:,|and|or|to|through|–|-)\s*\d+){0,8})"
    r"|\bAnnex(?:es)?\s+([A-Z](?:\s*(?:,|and|or)\s*[A-Z]){0,8})\b"
    r"|\bSections?\s+([IVXL]+\b|\d\b(?!\s*\())"
)
_GENERIC = re.compile(
    r"\b(?:the|these|those|this)\s+((?:(?!(?:the|these|those|this|and|or|as|in|to|by|with|for|from)\b)"
    r"[\w’'-]+,?\s+){0,4}?)(tables?|figures?|charts?|annex(?:es)?)\b(?!\s+[A-Z\d]\b)",
    re.IGNORECASE,
)
_TABLE_OF = re.compile(r"\b(tables?)\s+of\s+((?:[\w’'-]+\s+){0,4}[\w’'-]+)", re.IGNORECASE)
_SIDE_AFTER = re.compile(r"^\W{0,2}(?:[\w’'-]+\s+){0,2}?(above|below|following|preceding)\b", re.IGNORECASE)
_SIDE_BEFORE = re.compile(r"\b(above|below|following|preceding)\s+(?:in\s+)?$", re.IGNORECASE)
_SIDE_WORD = re.compile(r"\b(above|below|following|preceding)\b", re.IGNORECASE)
_COUNTING = re.compile(r"\b(?:numbers?|count|how many|totals?)\b", re.IGNORECASE)


@dataclass
class Reference:
    start: int
    end: int
    kind: str  # "table", "figure", "annex", "section"
    labels: list[str]  # numbered parts it names; empty for a generic one
    text: str
    side: str | None
    subject: str | None = None  # for a generic reference with a subject ("countries of origin table")
    plural: bool = False


def _side(sentence: str, start: int, end: int) -> tuple[str | None, int]:
    """The side a reference says its part is on, and where its words end ("the tables below")."""
    after = _SIDE_AFTER.match(sentence[end : end + 40])
    found = after or _SIDE_BEFORE.search(sentence[max(0, start - 20) : start])
    if not found:
        return None, end
    word = found[1].lower()
    return ("below" if word in ("below", "following") else "above"), end + (after.end() if after else 0)


def _labels(kind: str, numbers: str) -> list[str]:
    return [f"{kind} {n}" for n in re.findall(r"[A-Z]\b|\d+|[IVXL]+", numbers)]


def references(sentence: str) -> list[Reference]:
    found: list[Reference] = []
    for match in _NUMBERED.finditer(sentence):
        if match[1]:
            kind = "Table" if match[1].lower().startswith("table") else "Figure"
            labels = _labels(kind, match[2])
        elif match[3]:
            kind, labels = "Annex", _labels("Annex", match[3])
        else:
            kind, labels = "Section", [f"Section {match[4]}"]
        side, ends = _side(sentence, match.start(), match.end())
        found.append(
            Reference(match.start(), match.end(), kind.lower(), labels, sentence[match.start() : ends], side)
        )
    # A generic reference overlapping a numbered one (or one taken before it) is the same words.
    taken = _Spans([(r.start, r.end) for r in found])
    generic = sorted([*_GENERIC.finditer(sentence), *_TABLE_OF.finditer(sentence)], key=lambda m: m.start())
    for match in generic:
        if taken.overlaps(match.start(), match.end()):
            continue
        if match.re is _GENERIC:
            noun, descriptor = match[2].lower(), match[1]
        else:
            noun, descriptor = match[1].lower(), match[2]
        kind = (
            "annex"
            if noun.startswith("annex")
            else ("figure" if noun.startswith(("figure", "chart")) else "table")
        )
        subjects = _subjects(descriptor)
        subject = next((s for s in ("countries", "survey", "trend", "sors") if s in subjects), None)
        side, ends = _side(sentence, match.start(), match.end())
        if side is None and (inside := _SIDE_WORD.search(descriptor)):  # "the following table"
            side = "below" if inside[1].lower() in ("below", "following") else "above"
        plural = (noun.endswith("s") and not noun.endswith("ss")) or noun == "annexes"
        text = sentence[match.start() : ends]
        found.append(Reference(match.start(), match.end(), kind, [], text, side, subject, plural))
        taken.add(match.start(), match.end())
    return sorted(found, key=lambda r: r.start)


class _Spans:
    """Spans of a sentence, asked in increasing order of start: overlap in logarithmic time."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.starts = [a for a, _ in spans]
        self.ends = [b for _, b in spans]
        self.last_end = -1  # the end of the spans added in order

    def overlaps(self, start: int, end: int) -> bool:
        index = bisect.bisect_right(self.starts, start)
        if index and self.ends[index - 1] > start:
            return True
        if index < len(self.starts) and self.starts[index] < end:
            return True
        return start < self.last_end

    def add(self, start: int, end: int) -> None:
        self.last_end = max(self.last_end, end)


def _on_side(part: Part, position: int, side: str | None) -> bool:
    if side == "below":
        return part.start > position
    if side == "above":
        return part.end < position
    return True


def _reference_findings(sentence: Sentence, layout: Layout) -> Iterator[tuple[Reference, list[Part], str]]:
    """Each reference with the parts it can mean, or a message when it means nothing."""
    for ref in references(sentence.text):
        if ref.labels:
            parts = []
            for label in ref.labels:
                part = next((p for p in layout.parts if p.label == label), None)
                if part is None:
                    yield ref, [], f"refers to {label}, which this document does not have"
                    continue
                if not _on_side(part, sentence.position, ref.side):
                    yield ref, [], f"says {label} is {ref.side}, but it is {_opposite(ref.side)}"
                    continue
                parts.append(part)
            if parts:
                yield ref, parts, ""
            continue
        candidates = [
            p for p in layout.parts if p.kind == ref.kind and _on_side(p, sentence.position, ref.side)
        ]
        if ref.kind == "table" and ref.side is None:
            # "The countries of origin table": a reader looks for it where the sentence stands.
            candidates = [p for p in candidates if p.section == sentence.section]
        if ref.subject is not None:
            candidates = [p for p in candidates if ref.subject in p.subjects]
        if candidates:
            yield ref, candidates, ""
            continue
        yield ref, [], _missing_message(ref, sentence, layout)


def _opposite(side: str | None) -> str:
    return "above" if side == "below" else "below"


_SUBJECT_WORDS = {
    "countries": "countries of origin",
    "survey": "the supplier survey",
    "trend": "figures by year",
    "sors": "SORs",
}


def _missing_message(ref: Reference, sentence: Sentence, layout: Layout) -> str:
    what = ref.kind + ("s" if ref.plural and ref.kind != "annex" else "")
    where = f"{ref.side} it" if ref.side else f"in {sentence.section}"
    if ref.subject is None:
        return f"refers to {ref.text!r}, but there is no {ref.kind} {where}"
    elsewhere = [p.label for p in layout.parts if ref.subject in p.subjects and p.kind in ("table", "annex")]
    hint = (
        f"; {_SUBJECT_WORDS[ref.subject]} {'are' if ref.subject != 'survey' else 'is'} "
        f"in {_series(elsewhere)}"
        if elsewhere
        else ""
    )
    subject = _SUBJECT_WORDS[ref.subject]
    return f"refers to {ref.text!r}, but no {what.rstrip('s')} of {subject} stands {where}{hint}"


def _series(items: list[str]) -> str:
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


_CLAIM_NOUN = r"(?P<noun>SORs?|smelters?|refiners?|facilit(?:y|ies)|countries)"
# "<reference> lists the SORs ...": the reference, a listing verb, then what it lists.
_ACTIVE_LISTING = re.compile(
    r"^[\s,]*(?:\w+\s+)?(?:lists?|names?|sets? out|identif(?:y|ies))\b(?P<between>[^.;]{0,60}?)\b"
    + _CLAIM_NOUN
    + r"\b",
    re.IGNORECASE,
)
# "... each identified SOR is shown in <reference>", "the SORs are listed in <reference>".
_PASSIVE_LISTING = re.compile(
    r"(?P<before>[^.;]{0,30})\b" + _CLAIM_NOUN + r"\b[^.;]{0,40}?\b(?:are|is|were|was)\s+"
    r"(?:listed|named|set out|shown|given|identified)\s+(?:by metal\s+|one by one\s+)?in\s+$",
    re.IGNORECASE,
)


def _listing_claim(sentence: str, ref: Reference) -> str | None:
    """ "sors" or "countries" when the sentence says the part it refers to lists them one by one
    (and not merely how many there are)."""
    active = _ACTIVE_LISTING.match(sentence[ref.end : ref.end + 120])
    if active and not _COUNTING.search(active["between"]):
        return "countries" if active["noun"].lower() == "countries" else "sors"
    passive = _PASSIVE_LISTING.search(sentence[max(0, ref.start - 160) : ref.start])
    if passive and not _COUNTING.search(passive["before"]):
        return "countries" if passive["noun"].lower() == "countries" else "sors"
    return None


def check_references(sentence: Sentence, layout: Layout) -> Iterator[str]:
    for ref, parts, message in _reference_findings(sentence, layout):
        if message:
            yield message
            continue
        noun = _listing_claim(sentence.text, ref)
        if noun is None or any(part.lists == noun for part in parts):
            continue
        listers = [p.label for p in layout.parts if p.lists == noun]
        shown = _series([p.label for p in parts])
        verb = "gives" if len(parts) == 1 else "give"
        hint = f"; they are listed in {_series(listers)}" if listers else ""
        what = "countries" if noun == "countries" else "SORs"
        yield f"says {ref.text!r} lists {what} one by one, but {shown} {verb} counts{hint}"


# The source of the countries of origin.
_ORIGIN = re.compile(
    r"\b(?:countr(?:y|ies) of origin(?!\s+inquiry)|originated|originate|sources of the 3TG"
    r"|source from the Covered Countries|mine locations?)\b",
    re.IGNORECASE,
)
_SOURCES = {
    "rmi": re.compile(
        r"\b(?:RMI|Responsible Minerals Initiative)\b[^.;]{0,80}"
        r"\b(?:data|information|makes available|made available)\b"
        r"|\b(?:data|information)\b[^.;]{0,60}\b(?:RMI|Responsible Minerals Initiative)\b",
        re.IGNORECASE,
    ),
    "supplier_declarations": re.compile(
        r"\bsuppliers?\s+(?:have\s+)?(?:declared|reported)\b|\bdeclared by (?:the |their )?suppliers\b"
        r"|\bsupplier(?:s’|s'|’s|'s)? declarations?\b",
        re.IGNORECASE,
    ),
    "survey_results": re.compile(
        r"\brecorded in (?:the )?(?:Company’s |Company's )?(?:supplier )?survey results\b", re.IGNORECASE
    ),
    "unspecified": re.compile(
        r"\binformation available to (?:the Company|us|it|the registrant)\b", re.IGNORECASE
    ),
}
_BASIS_WORDS = {
    "rmi": "RMI country of origin data",
    "supplier_declarations": "the mine locations suppliers declared",
    "survey_results": "the survey results",
    "unspecified": "the information available to the Company",
}


def origin_sources(sentence: Sentence) -> list[str]:
    """The sources of the countries of origin a sentence names (none when it names no source)."""
    if sentence.definition or not _ORIGIN.search(sentence.text):
        return []
    return [name for name, pattern in _SOURCES.items() if pattern.search(sentence.text)]


def check_origin_source(sentence: Sentence, basis: list[str], named_elsewhere: set[str]) -> Iterator[str]:
    """One source for the countries of origin: the survey's basis, named the same way everywhere."""
    for name in origin_sources(sentence):
        if name in ("survey_results", "unspecified"):
            specific = sorted(named_elsewhere & {"rmi", "supplier_declarations"})
            if basis:
                yield (
                    f"says the countries of origin come from {_BASIS_WORDS[name]}, but the survey says they "
                    f"are based on {_series([_BASIS_WORDS[b] for b in basis])}; state one source"
                )
            elif specific:
                yield (
                    f"says the countries of origin come from {_BASIS_WORDS[name]}, while other sentences of "
                    f"the document say {_series([_BASIS_WORDS[b] for b in specific])}; state one source"
                )
        elif name not in basis:
            stated = _series([_BASIS_WORDS[b] for b in basis]) if basis else None
            yield (
                f"says the countries of origin come from {_BASIS_WORDS[name]}, but "
                + (
                    f"the survey says they are based on {stated}"
                    if stated
                    else "the survey does not say where they came from (countries_of_origin_basis)"
                )
            )


# Numbers stated of what the tables count.
_NOUN = (
    r"(?P<noun>supplier\s+entr(?:y|ies)|entr(?:y|ies)|suppliers?|SORs?|smelters?(?:\s+(?:and|or)\s+refiners?)?|refiners?"
    r"|facilities|countries|country|places|responses|CMRTs)"
)
_STOP = (
    r"(?:of|to|from|in|on|at|by|for|with|and|or|that|which|who|the|a|an|were|was|are|is|be|been"
    r"|have|has|had|we|our|its|their|per|percent)"
)
_STATED = re.compile(
    r"(?P<bound>\b(?:at least|no fewer than|more than|over|fewer than|less than|under|up to|at most"
    r"|no more than|approximately|about|nearly|almost|roughly|some)\s+)?"
    # Digits only: a figure in words ("four component suppliers") is rarely a survey figure.
    r"(?<![\w.,])(?P<number>\d{1,3}(?:,\d{3})+|\d+)"
    r"(?!\.\d|,\d|%|\w)"
    r"(?P<modifiers>(?:\s+(?!" + _STOP + r"\b)[A-Za-z][\w’'-]*){0,3}?)\s+" + _NOUN + r"\b",
    re.IGNORECASE,
)
_PERCENT = re.compile(r"(?<![\w.])(?P<number>\d+(?:\.\d+)?)\s?(?:%|percent\b)", re.IGNORECASE)
_YEAR = re.compile(r"\b(20\d{2})\b")
_BOUNDS = {
    "at least": lambda stated, value: value >= stated,
    "no fewer than": lambda stated, value: value >= stated,
    "more than": lambda stated, value: value > stated,
    "over": lambda stated, value: value > stated,
    "fewer than": lambda stated, value: value < stated,
    "less than": lambda stated, value: value < stated,
    "under": lambda stated, value: value < stated,
    "up to": lambda stated, value: value <= stated,
    "at most": lambda stated, value: value <= stated,
    "no more than": lambda stated, value: value <= stated,
}


def _parse_number(text: str) -> int:
    return int(text.replace(",", ""))


def _agrees(bound: str | None, stated: float, values: Iterable[float]) -> bool:
    bound = " ".join(bound.lower().split()) if bound else None
    for value in values:
        if bound is None and value == stated:
            return True
        if bound in _BOUNDS and _BOUNDS[bound](stated, value):
            return True
        if bound is not None and bound not in _BOUNDS and abs(value - stated) <= max(1, 0.1 * value):
            return True
    return False


class _Clauses:
    """The clauses of a sentence (cut at semicolons), found by position in logarithmic time."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.cuts = [index for index, char in enumerate(text) if char == ";"]
        self._kinds: dict[int, str | None] = {}

    def at(self, position: int) -> str:
        index = bisect.bisect_left(self.cuts, position)
        begin = self.cuts[index - 1] + 1 if index else 0
        end = self.cuts[index] if index < len(self.cuts) else len(self.text)
        return self.text[begin:end]

    def percent_kind(self, position: int) -> str | None:
        """What a percentage in the clause at `position` is of ("response", "spend" or None),
        decided once per clause: a clause holding thousands of numbers must not be read again
        for each (quadratic, issue 20)."""
        index = bisect.bisect_left(self.cuts, position)
        if index not in self._kinds:
            lowered = self.at(position).lower()
            self._kinds[index] = (
                "response" if "response rate" in lowered else ("spend" if "spend" in lowered else None)
            )
        return self._kinds[index]


def _near(text: str, match: re.Match[str], clause: str) -> str:
    """The words that say what a stated number is: a few before it, and those after its noun up
    to the next comma ("Of the 64 suppliers we surveyed, 57 responded": "we surveyed")."""
    before = text[max(0, match.start() - 30) : match.start()]
    after = text[match.end() : match.end() + 60]
    cut = min((at for at in (after.find(","), after.find(";")) if at >= 0), default=len(after))
    near = f"{before} {match['modifiers'] or ''} {after[:cut]}"
    return near if near.strip() else clause


def _supplier_values(found: Figures, clause: str) -> tuple[str, set[int]]:
    lowered = clause.lower()
    if re.search(r"did not respond|not respond|no response|non-respon|not return", lowered):
        return "that did not respond", found.suppliers["not responded"]
    if re.search(r"\b(?:responded|returned|answered|responses?|respond)\b", lowered):
        return "that responded", found.suppliers["responded"]
    if re.search(r"\b(?:surveyed|asked|sent|requested|contacted|in-scope|in scope)\b", lowered):
        return "surveyed", found.suppliers["surveyed"]
    return "", set().union(*found.suppliers.values())


def _sor_values(found: Figures, modifiers: str, clause: str) -> tuple[str, set[int]]:
    lowered = clause.lower()
    if "remov" in lowered:
        return "removed", found.sors.get("removed", set())
    if "located in" in lowered and "covered countr" in lowered:
        return "located in a Covered Country", found.sors.get("located", set())
    words = f"{modifiers} {clause}".lower()
    metal = next((m for m in _METALS if re.search(rf"\b{m}\b", words)), "")
    status = next((s for s in _STATUS_WORDS if re.search(rf"(?<![\w-]){re.escape(s)}\b", words)), "")
    key = f"{metal} {status}".strip()
    if key and key in found.sors:
        return key, found.sors[key]
    if metal and metal in found.sors:
        return metal, found.sors[metal]
    return "", found.sors[""]


def _country_values(found: Figures, modifiers: str, clause: str) -> tuple[str, set[int]]:
    if "covered" in modifiers.lower():
        return "Covered Countries", found.countries.get("covered", set())
    words = clause.lower()
    metal = next((m for m in _METALS if re.search(rf"\b{m}\b", words)), "")
    if metal and metal in found.countries:
        return metal, found.countries[metal]
    return "", found.countries.get("", set())


def _years(text: str, reporting_year: int) -> list[int]:
    return sorted({int(y) for y in _YEAR.findall(text)} - {reporting_year})


def check_numbers(sentence: Sentence, found: Figures, reporting_year: int) -> Iterator[str]:
    if sentence.definition:
        return
    text = sentence.text
    other_years = _years(text, reporting_year)
    if other_years and not all(year in found.years for year in other_years):
        return  # a year the data does not cover: nothing to compare with
    sets = [found] + [found.years[y] for y in other_years]
    clauses = _Clauses(text)
    for match in _STATED.finditer(text):
        noun = match["noun"].lower()
        stated = _parse_number(match["number"])
        # What the sentence says the number is, from the words around it (else its clause).
        clause = _near(text, match, clauses.at(match.start()))
        modifiers = match["modifiers"] or ""
        what, values = "", set()
        for figures_set in sets:
            if noun.startswith("supplier") and "entr" not in noun:
                what, more = _supplier_values(figures_set, clause)
            elif noun in ("responses", "cmrts"):
                what, more = "responses", figures_set.suppliers["responded"]
            elif noun.startswith(("sor", "smelter", "refiner", "facilit")):
                what, more = _sor_values(figures_set, modifiers, clause)
            elif noun in ("countries", "country"):
                what, more = _country_values(figures_set, modifiers, clause)
            elif "entr" in noun:
                what, more = "entries", figures_set.entries
            else:
                what, more = "places", figures_set.places
            values |= more
        if not values:
            continue
        if not _agrees(match["bound"], stated, values):
            kind = match["noun"] if not what else f"{match['noun']} ({what})"
            shown = _series([f"{v:,}" for v in sorted(values)][:6])
            yield f"states {match[0].strip()!r}, but the figures show {shown} for {kind}"
    for match in _PERCENT.finditer(text):
        key = clauses.percent_kind(match.start())
        if key is None:
            continue
        values = set().union(*(s.percents[key] for s in sets))
        if not values:
            continue
        stated = float(match["number"])
        decimals = len(match["number"].split(".")[1]) if "." in match["number"] else 0
        if not any(round(value, decimals) == stated for value in values):
            shown = _series([f"{v:.1f}%" for v in sorted(values)])
            label = "response rate" if key == "response" else "spend coverage"
            yield f"states a {label} of {match[0].strip()}, but the figures show {shown}"


# The Covered Countries named as countries of origin.
_COVERED_NAMES = re.compile(
    r"\b(?:Democratic Republic of (?:the )?Congo|DRC(?! conflict)|Republic of (?:the )?Congo"
    r"|Central African Republic|South Sudan|Angola|Burundi|Rwanda|Tanzania|Uganda|Zambia)\b"
)
_DEFINING = re.compile(
    r"\badjoining countr|\binternationally recognized border|\bwhether\b|\bany of the\b", re.IGNORECASE
)
_CAVEAT = re.compile(
    r"could not be read|no decision has|not yet been decided|undecided|may therefore be incomplete"
    r"|not necessarily",
    re.IGNORECASE,
)
_NONE_COVERED = re.compile(r"\b(?:None of them is|It is not) a Covered Country\b")


def _covered_codes(text: str) -> set[str]:
    codes = set()
    for match in _COVERED_NAMES.finditer(text):
        name = "Democratic Republic of the Congo" if match[0] == "DRC" else match[0]
        country = lookup_country(name)
        if country is not None:
            codes.add(country.code)
    return codes


def check_covered(sentence: Sentence, layout: Layout) -> Iterator[str]:
    if layout.annex_countries is None or sentence.definition or sentence.section.startswith("Annex B"):
        return
    text = sentence.text
    if _NONE_COVERED.search(text) and layout.annex_marked:
        marked = _names(layout.annex_marked)
        yield f"says no country of origin is a Covered Country, but Annex B marks {marked}"
        return
    if _DEFINING.search(text) or _CAVEAT.search(text):
        return
    named = _covered_codes(text)
    if not named or not (_ORIGIN.search(text) or re.search(r"\binclude", text)):
        return
    unmarked = named - layout.annex_marked
    if unmarked:
        one = len(unmarked) == 1
        yield (
            f"names {_names(unmarked)} as {'a country' if one else 'countries'} of origin, but Annex B "
            f"does not mark {'it' if one else 'them'} as a Covered Country of origin"
        )
    missing = layout.annex_marked - named
    if "Covered Countr" in text and missing:
        yield f"lists the Covered Countries of origin without {_names(missing)}, which Annex B marks"


def _names(codes: set[str]) -> str:
    from ..filing.countries import country_name

    return _series(sorted(country_name(code) for code in codes))


# "DRC conflict free": a label the rule gives products, in one mode, for the products claimed.
_CONFLICT_FREE = re.compile(r"\bconflict[\s\u2010-\u2013-]*free\b", re.IGNORECASE)
_NEGATED = re.compile(
    r"\b(?:not|never|neither|nor|none|without|cannot|no\s+(?:products?|smelters?|refiners?|SORs?|claims?))\b"
    r"|n[\u2019']t\b",
    re.IGNORECASE,
)
# A sentence about the label rather than a use of it: what the rule requires if or when.
_HYPOTHETICAL = re.compile(r"\b(?:if|whether|unless|when|elects? to describe|may describe)\b", re.IGNORECASE)
_LEVELS = (
    ("products", re.compile(r"\b(?:products?|components?|devices?|goods)\b", re.IGNORECASE)),
    ("smelters", re.compile(r"\b(?:smelters?|refiners?|SORs?|facilit(?:y|ies)|mines?)\b", re.IGNORECASE)),
    (
        "supply chain",
        re.compile(r"\b(?:supply chains?|sourcing|sources?|minerals?|materials?|3TG)\b", re.IGNORECASE),
    ),
    (
        "company",
        re.compile(
            r"\b(?:company|companies|registrant|corporation|business|organi[sz]ation|we are)\b", re.IGNORECASE
        ),
    ),
)
# What real filers write when they use the words outside the rule's meaning, and say what they mean.
_OUTSIDE_THE_RULE = re.compile(
    r"\b(?:outside|not (?:with)?in|other than)\b[^.;]{0,50}\b(?:meaning|sense|definition|scope)\b",
    re.IGNORECASE,
)
_SAYS_WHAT_IT_MEANS = re.compile(
    r"\b(?:means?|refers? to|we use|(?:is|are) used (?:to|here|in this)|used to (?:mean|describe|refer))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Claims:
    """What the filing may say of "DRC conflict free": in which mode, for which products."""

    allowed: bool  # conflict_free_claim mode
    products: tuple[str, ...]  # the names in conflict_free_products


def _clause_of(text: str, start: int) -> str:
    begin = text.rfind(";", 0, start) + 1
    end = text.find(";", start)
    return text[begin : end if end >= 0 else len(text)]


def check_conflict_free(sentence: Sentence, claims: Claims, disclaimed: bool) -> Iterator[str]:
    """A use of "conflict free" that claims it: of products named in conflict_free_products, in
    conflict_free_claim mode only; never of the company, its smelters or its supply chain unless
    the same paragraph says the words are used outside the rule's meaning and what they mean."""
    if sentence.definition:
        return
    found = _CONFLICT_FREE.search(sentence.text)
    if found is None:
        return
    clause = _clause_of(sentence.text, found.start())
    if _NEGATED.search(clause) or _HYPOTHETICAL.search(clause):
        return
    names = [name for name in claims.products if name.casefold() in sentence.text.casefold()]
    level = (
        "products" if names else next((name for name, words in _LEVELS if words.search(clause)), "products")
    )
    if level != "products":
        if not disclaimed:
            yield (
                f"describes the {level} as {found[0]!r}: the rule's label applies to products only; use "
                "other words, or say in the same paragraph that the words are used outside the rule's "
                "meaning and what they mean there"
            )
        return
    if not claims.allowed:
        yield (
            f"describes products as {found[0]!r}: that needs mode conflict_free_claim, the products named in "
            "conflict_free_products and an independent private sector audit"
        )
    elif not names:
        yield (
            f"describes products as {found[0]!r} without naming one the filing claims "
            f"({_series(list(claims.products)) if claims.products else 'conflict_free_products is empty'})"
        )


def _disclaimed_blocks(layout: Layout) -> set[int]:
    """The paragraphs that say the words are used outside the rule's meaning, and what they mean."""
    blocks: dict[int, list[str]] = {}
    for sentence in layout.sentences:
        blocks.setdefault(sentence.position, []).append(sentence.text)
    return {
        position
        for position, texts in blocks.items()
        if _OUTSIDE_THE_RULE.search(" ".join(texts)) and _SAYS_WHAT_IT_MEANS.search(" ".join(texts))
    }


# The exhibits a sentence points to, and the conclusion of the inquiry.
_EXHIBIT = re.compile(r"\bExhibit\s+(\d+\.\d+)")
_REPORT_NAMED = re.compile(r"\b(?:Conflict Minerals Report|CMR)\b")
_REASON = re.compile(r"\breason to believe\b", re.IGNORECASE)
_NO_REASON = re.compile(
    r"\bno reason to believe\b|\b(?:does|do|did|has|have) not (?:have )?(?:any )?reason to believe\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Filed:
    """What is filed with the Form SD, and what the inquiry concluded."""

    exhibits: tuple[str, ...]
    report: bool
    rcoi_result: str | None


def check_filed(sentence: Sentence, filed: Filed) -> Iterator[str]:
    """No pointer to an exhibit or a report that is not filed; the inquiry's conclusion as the
    filing states it."""
    text = sentence.text
    for match in _EXHIBIT.finditer(text):
        if match[1] not in filed.exhibits and not _NEGATED.search(_clause_of(text, match.start())):
            shown = _series([f"Exhibit {n}" for n in filed.exhibits]) if filed.exhibits else "no exhibit"
            yield f"refers to Exhibit {match[1]}, which is not filed (the Form SD files {shown})"
    if not filed.report:
        for match in _REPORT_NAMED.finditer(text):
            if not _NEGATED.search(_clause_of(text, match.start())):
                yield f"refers to a {match[0]}, but none is filed in rcoi_only mode"
                break
    if sentence.definition or not _REASON.search(text) or _HYPOTHETICAL.search(text):
        return
    negative = bool(_NO_REASON.search(text))
    if filed.rcoi_result in ("no_reason_to_believe", "recycled_or_scrap") and not negative:
        yield f"says the Company has reason to believe, but rcoi_result is {filed.rcoi_result}"
    elif negative and (filed.rcoi_result == "reason_to_believe" or filed.report):
        why = (
            "rcoi_result is reason_to_believe" if filed.rcoi_result else "a Conflict Minerals Report is filed"
        )
        yield f"says the Company has no reason to believe, but {why}"


# ----- the check as a whole -----

MAX_PER_SENTENCE = 8


def document_findings(
    document_html: str, context: DocumentContext, found: Figures | None = None
) -> list[Finding]:
    """Every inconsistency in one rendered document."""
    layout = read_layout(document_html)
    found = found or figures(context)
    findings = []
    named_sources = {name for sentence in layout.sentences for name in origin_sources(sentence)}
    claims = Claims(context.claims_conflict_free, tuple(p.name for p in context.claimed_products))
    filed = Filed(tuple(e.number for e in context.exhibits_filed), context.files_cmr, context.rcoi_result)
    disclaimed = _disclaimed_blocks(layout)
    for sentence in layout.sentences:
        messages = [
            *check_references(sentence, layout),
            *check_origin_source(sentence, context.origin_basis, named_sources),
            *check_numbers(sentence, found, context.reporting_year),
            *check_covered(sentence, layout),
            *check_conflict_free(sentence, claims, sentence.position in disclaimed),
            *check_filed(sentence, filed),
        ]
        # A sentence with more than a few faults is shown with the first few: it needs rewriting.
        findings += [
            Finding(sentence, message) for message in list(dict.fromkeys(messages))[:MAX_PER_SENTENCE]
        ]
    return findings


def check_documents(loaded: LoadedFiling, context: DocumentContext, pages: dict[str, str]) -> None:
    """Run the check on the rendered documents: its warnings join the filing's, an error stops the
    build (an InputError listing every problem found)."""
    loaded.warnings = checked_warnings(loaded, context, pages)


def checked_warnings(loaded: LoadedFiling, context: DocumentContext, pages: dict[str, str]) -> list[Problem]:
    """The filing's warnings with the check's added, or an InputError listing every problem when
    the check found an error. Changes nothing, so a build can run it in a forked process beside
    the renders."""
    from ..filing.final_copy import gate_severity
    from ..problems import InputError

    problems = consistency_problems(loaded, context, pages, gate_severity(loaded.filing))
    merged = sorted({*loaded.warnings, *problems}, key=_order)
    if any(p.severity is Severity.ERROR for p in problems):
        raise InputError(merged)
    return merged


def _order(problem: Problem) -> tuple:
    return (problem.file, problem.line or 0, problem.column or 0, problem.field, problem.message)


def consistency_problems(
    loaded: LoadedFiling, context: DocumentContext, pages: dict[str, str], gate: Severity
) -> list[Problem]:
    """The findings of every document as problems: at the narrative's line when the sentence is
    the filing's own text, else naming the document and its section."""
    from ..documents import DOCUMENTS, OutputFormat

    titles = {doc.stem: (doc.title, doc.file_name(OutputFormat.HTML)) for doc in DOCUMENTS}
    found = figures(context)
    narrative = _NarrativeSources(loaded.filing_yaml)
    problems = []
    for stem, document_html in pages.items():
        title, file_name = titles.get(stem, (stem, f"{stem}.html"))
        for finding in document_findings(document_html, context, found):
            quoted = _quote(finding.sentence.text)
            place = f"{title}, {finding.sentence.section}" if finding.sentence.section else title
            source = narrative.source(finding.sentence.text)
            if source is not None and loaded.filing_yaml is not None:
                path, needle, skip = source
                problems.append(
                    loaded.filing_yaml.text_problem(
                        path, needle, f"{place}: {quoted} {finding.message}", skip=skip, severity=gate
                    )
                )
            else:
                problems.append(Problem(file_name, None, None, place, f"{quoted} {finding.message}", gate))
    return problems


def _quote(text: str) -> str:
    shown = text if len(text) <= 240 else text[:237] + "..."
    return f"\u201c{shown}\u201d"


_MARKDOWN_NOISE = re.compile(r"[*_`]|\]\([^)]*\)|\[")


def _normal(text: str) -> str:
    text = _MARKDOWN_NOISE.sub("", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return " ".join(text.split()).casefold()


class _NarrativeSources:
    """Which narrative field a sentence was written in, and how to find its line there.

    Each lookup searches the narrative once; past MAX_LOOKUPS sentences (a filing whose text is
    wrong throughout) the rest are reported by document and section only, so the time stays
    bounded by the narrative's size."""

    MAX_LOOKUPS = 200

    def __init__(self, loaded: LoadedYaml | None) -> None:
        data = loaded.data if loaded is not None and isinstance(loaded.data, dict) else {}
        self.index = [(path, _normal(text)) for path, text in strings(data.get("narrative"), ("narrative",))]
        self.found: dict[str, tuple[Path_, str, int] | None] = {}

    def source(self, sentence: str) -> tuple[Path_, str, int] | None:
        if sentence in self.found:
            return self.found[sentence]
        if len(self.found) >= self.MAX_LOOKUPS:
            return None
        self.found[sentence] = self._search(sentence)
        return self.found[sentence]

    def _search(self, sentence: str) -> tuple[Path_, str, int] | None:
        wanted = _normal(sentence)[:80]
        if len(wanted) < 12:
            return None
        for path, text in self.index:
            at = text.find(wanted)
            if at >= 0:
                head = wanted.split()[0]
                return path, head, text[:at].count(head)
        return None
