"""The survey results file `cmr ingest` writes: YAML, byte for byte what PyYAML's libyaml dumper writes.

The file used to be written with `yaml.dump` (the libyaml `CSafeDumper`, block style, keys in
insertion order, `allow_unicode=True`, `width=110`). For a survey of many supplier files that
was half a second at the end of every run, most of it spent dispatching each value through the
representer and the serializer. `survey_yaml` writes the same bytes by hand for what a survey is
made of (dicts with str keys, lists, str, int, float, bool, None) and asks PyYAML itself
whenever a value is not one it can prove it writes the same:

* a scalar is written by hand only in plain or single-quoted style, and only when it holds no
  character libyaml would escape or break a line on; its style is decided by the same rules
  as libyaml's `yaml_emitter_analyze_scalar` and the same resolver PyYAML uses, and long
  scalars are folded at the width by the same rule as libyaml's writers;
* any other scalar (tabs, line breaks, characters outside the Basic Multilingual Plane, ...)
  is dumped by PyYAML in a small document that puts it at the same indent and column, and
  that rendering is used;
* anything else (another type, a dict or list that appears twice and so would get an anchor,
  a key too long or too odd to be a simple key) sends the whole document through PyYAML.

tests/test_survey_yaml.py compares the bytes with PyYAML's on real and generated surveys.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.representer import SafeRepresenter
from yaml.resolver import Resolver

HEADER = "# Survey results written by `cmr ingest`; `cmr build` reads this file.\n"
WIDTH = 110  # the line width given to the dumper; libyaml folds at spaces once past it
INDENT = 2  # libyaml's default indent, and so the one the dumper uses
SIMPLE_KEY_BYTES = 128  # libyaml writes a longer key as an explicit "? key" entry

STR_TAG = "tag:yaml.org,2002:str"
_SCALAR_TAGS = {
    bool: "tag:yaml.org,2002:bool",
    int: "tag:yaml.org,2002:int",
    float: "tag:yaml.org,2002:float",
    type(None): "tag:yaml.org,2002:null",
}

# Characters libyaml writes as they are in plain and single-quoted scalars: its IS_PRINTABLE
# (with allow_unicode) less its line breaks (U+2028, U+2029). Tab, DEL, C1 controls (NEL
# among them), the byte order mark, U+FFFE/U+FFFF and anything past U+FFFF are not printable
# to libyaml and force double quotes.
_WRITTEN_AS_IS = re.compile("[\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]*")
# A first character that makes a plain scalar impossible in block context, whatever follows.
_INDICATOR_FIRST = frozenset("#,[]{}&*!|>'\"%@`")


# The hand-written path reproduces libyaml's emitter; PyYAML's pure-Python one (used when PyYAML
# was built without libyaml) quotes, folds and limits keys a little differently.
LIBYAML = hasattr(yaml, "CSafeDumper")


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # libyaml when available: files get large
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._resolved: dict[tuple[str, tuple[bool, bool]], str] = {}

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        """The same tag as the resolver gives, remembered per scalar: a survey of many files
        repeats the same names and cells thousands of times, and the resolver's patterns
        were half the time spent writing it."""
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)
        key = (value, implicit)
        tag = self._resolved.get(key)
        if tag is None:
            tag = self._resolved[key] = super().resolve(kind, value, implicit)
        return tag


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Quote strings YAML 1.1 would read as something else ("NO", "2024-01-01", "1e3").
    resolved = dumper.resolve(yaml.ScalarNode, value, (True, False))
    style = "'" if resolved != STR_TAG else None
    # The node represent_scalar would make: strings are never anchored, and no default style is set.
    return yaml.ScalarNode(STR_TAG, value, style=style)


_Dumper.add_representer(str, _str_presenter)


def _pyyaml_dump(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=WIDTH)


def survey_yaml(survey: dict) -> bytes:
    """The survey results file: a header comment, then the survey as block-style YAML."""
    if not LIBYAML:
        return pyyaml_survey_yaml(survey)
    try:
        chunks = _Writer().document(survey)
    except _AskPyYAML:
        return pyyaml_survey_yaml(survey)
    return b"".join([HEADER.encode("utf-8"), *chunks])


def pyyaml_survey_yaml(survey: dict) -> bytes:
    """The same file written by PyYAML alone: what `survey_yaml` falls back to (and the
    benchmark's baseline)."""
    return (HEADER + _pyyaml_dump(survey)).encode("utf-8")


class _AskPyYAML(Exception):
    """The document holds something only PyYAML can be trusted to write."""


class _Writer:
    """One document's worth of state: what was decided per scalar, and which containers were seen."""

    # Pieces written are joined and encoded this many at a time: a 600-file survey is 330,000
    # pieces, 16 MB as str objects in a list, for a 3.4 MB file.
    CHUNK_PIECES = 4096

    def __init__(self) -> None:
        self._out: list[str] = []
        self._chunks: list[bytes] = []
        self._seen: set[int] = set()  # ids of the dicts and lists written so far
        self._styles: dict[tuple[str, str], str | None] = {}  # (text, tag) -> "plain", "'" or None
        self._keys: dict[str, str] = {}
        self._folded: dict[tuple[str, str, int, int], str] = {}
        self._asked: dict[tuple[Any, ...], str] = {}
        self._resolve = Resolver().resolve
        self._represent_float = SafeRepresenter().represent_float

    def document(self, root: Any) -> list[bytes]:
        """The document as UTF-8, in pieces to be joined."""
        if type(root) is not dict or not root:
            raise _AskPyYAML
        self._mapping(root, 0, inline=True)
        self._out.append("\n")
        self._flush()
        return self._chunks

    def _flush(self) -> None:
        self._chunks.append("".join(self._out).encode("utf-8"))
        self._out.clear()  # in place: the collections being written hold it as `out`

    # ----- collections -----

    def _enter(self, container: dict | list) -> None:
        # PyYAML anchors a dict or list met twice (&id001 ... *id001); leave that to it.
        if id(container) in self._seen:
            raise _AskPyYAML
        self._seen.add(id(container))

    def _mapping(self, mapping: dict, indent: int, inline: bool) -> None:
        """A non-empty block mapping whose keys start at column `indent`; `inline`: the first
        key follows a sequence's "- " (or starts the document) on the current line."""
        self._enter(mapping)
        out = self._out
        newline = "\n" + " " * indent
        for key, value in mapping.items():
            if len(out) >= self.CHUNK_PIECES:
                self._flush()
            written = self._key(key)
            out.append(written + ":" if inline else newline + written + ":")
            inline = False
            kind = type(value)
            if (kind is dict or kind is list) and not value:
                self._empty(value)
            elif kind is dict:
                self._mapping(value, indent + INDENT, inline=False)
            elif kind is list:
                self._sequence(value, indent, inline=False)  # "key:\n- item": not indented
            else:
                out.append(self._scalar(value, indent + INDENT, indent + len(written) + 1, len(written)))

    def _sequence(self, sequence: list, indent: int, inline: bool) -> None:
        """A non-empty block sequence whose dashes are at column `indent`."""
        self._enter(sequence)
        out = self._out
        dash = "\n" + " " * indent + "-"
        for item in sequence:
            if len(out) >= self.CHUNK_PIECES:
                self._flush()
            out.append("-" if inline else dash)
            inline = False
            kind = type(item)
            if (kind is dict or kind is list) and not item:
                self._empty(item)
            elif kind is dict:
                out.append(" ")
                self._mapping(item, indent + INDENT, inline=True)
            elif kind is list:
                out.append(" ")
                self._sequence(item, indent + INDENT, inline=True)
            else:
                out.append(self._scalar(item, indent + INDENT, indent + 1, None))

    def _empty(self, collection: dict | list) -> None:
        """An empty dict or list, written in flow style after its key or dash."""
        self._enter(collection)
        self._out.append(" {}" if type(collection) is dict else " []")

    # ----- scalars -----

    def _key(self, key: Any) -> str:
        written = self._keys.get(key) if type(key) is str else None
        if written is None:
            if type(key) is not str:
                raise _AskPyYAML
            written = self._keys[key] = self._write_key(key)
        return written

    def _write_key(self, key: str) -> str:
        # A simple key: no line break (none is written as is) and at most 128 bytes.
        if len(key.encode("utf-8")) > SIMPLE_KEY_BYTES:
            raise _AskPyYAML
        style = self._style(key, STR_TAG)
        if style == "plain":
            return key
        if style is not None:
            return "'" + key.replace("'", "''") + "'"
        if not _has_line_break(key):
            return self._ask_key(key)
        raise _AskPyYAML

    def _scalar(self, value: Any, indent: int, column: int, key_width: int | None) -> str:
        """`value` as written after an indicator (":" or "-") that ends at `column`, with
        continuation lines at `indent`; `key_width` is the key's width after a ":", None after "-"."""
        kind = type(value)
        if kind is str:
            text, tag = value, STR_TAG
        elif kind is int:
            text, tag = str(value), _SCALAR_TAGS[int]
        elif kind is bool:
            text, tag = ("true" if value else "false"), _SCALAR_TAGS[bool]
        elif value is None:
            text, tag = "null", _SCALAR_TAGS[type(None)]
        elif kind is float:
            text, tag = self._represent_float(value).value, _SCALAR_TAGS[float]
        else:
            raise _AskPyYAML
        style = self._styles.get((text, tag), "?")
        if style == "?":
            style = self._styles[(text, tag)] = self._style(text, tag)
        if style is None:
            return self._ask_scalar(value, indent, key_width)
        written = " " + text if style == "plain" else " '" + text.replace("'", "''") + "'"
        if column + len(written) <= WIDTH:  # every space is written before the column passes the width
            return written
        if " " not in text:
            return written
        key = (text, style, column, indent)
        folded = self._folded.get(key)
        if folded is None:
            quote = "" if style == "plain" else "'"
            folded = self._folded[key] = _fold(text, column, indent, quote)
        return folded

    def _style(self, text: str, tag: str) -> str | None:
        """The style libyaml writes `text` (of `tag`) in, when it is "plain" or "'" with no
        escape and no line break of its own; None when only libyaml can say."""
        if _WRITTEN_AS_IS.fullmatch(text) is None:
            return None
        resolved = self._resolve(yaml.ScalarNode, text, (True, False))
        if text and _plain_allowed(text) and resolved == tag:
            return "plain"
        if tag != STR_TAG:
            return None  # a quoted int, float, bool or null would get a tag
        # "" is quoted because it reads as null; were it ever read as text, libyaml would write
        # an empty plain value (nothing at all) but a quoted key: leave that to it.
        return "'" if text or resolved != STR_TAG else None

    # ----- PyYAML's own rendering, at the same place -----

    def _ask_scalar(self, value: Any, indent: int, key_width: int | None) -> str:
        """What PyYAML writes for `value` at this indent and column: dumped as the value of a
        key of the same width (or as a sequence item) in mappings nested to the same depth."""
        outer = indent - INDENT
        key = (type(value), repr(value), outer, key_width)
        written = self._asked.get(key)
        if written is not None:
            return written
        if key_width is None:
            document: Any = {"a": [value]}
            probe: Any = {"a": [0]}
        else:
            if key_width > SIMPLE_KEY_BYTES:
                raise _AskPyYAML
            document = {"k" * key_width: value}
            probe = {"k" * key_width: 0}
        for _ in range(outer // INDENT):
            document, probe = {"a": document}, {"a": probe}
        before = _pyyaml_dump(probe)[: -len(" 0\n")]
        dumped = _pyyaml_dump(document)
        if not (dumped.startswith(before) and dumped.endswith("\n")):  # pragma: no cover - a bug
            raise _AskPyYAML
        written = self._asked[key] = dumped[len(before) : -1]
        return written

    def _ask_key(self, key: str) -> str:
        """What PyYAML writes for a simple key that needs escapes: a simple key is never
        folded, so its place does not matter."""
        dumped = _pyyaml_dump({key: None})
        if not dumped.endswith(": null\n"):  # pragma: no cover - a bug
            raise _AskPyYAML
        return dumped[: -len(": null\n")]


def _has_line_break(text: str) -> bool:
    return any(c in text for c in "\n\r\x85\u2028\u2029")


def _plain_allowed(text: str) -> bool:
    """libyaml's block_plain_allowed for a non-empty scalar of characters written as is (so no
    tab and no line break): no leading or trailing space and no indicator read as one."""
    first = text[0]
    if first == " " or text[-1] == " " or first in _INDICATOR_FIRST:
        return False
    if text.startswith(("---", "...")):
        return False
    if first in "?:-" and (len(text) == 1 or text[1] == " "):
        return False
    rest = text[1:]
    # ": " or a final ":" is a mapping indicator, " #" starts a comment.
    return ": " not in rest and not rest.endswith(":") and " #" not in text


def _fold(text: str, column: int, indent: int, quote: str) -> str:
    """libyaml's yaml_emitter_write_plain_scalar (quote "") and, for a scalar without line
    breaks, yaml_emitter_write_single_quoted_scalar (quote "'", a quote inside doubled, two
    columns), after an indicator ending at `column`: a single space met once the column is
    past the width becomes a line break and indent. Never at the first or last character
    (the single-quoted rule; a plain scalar has no space there: see _plain_allowed)."""
    parts = [" " + quote]
    column += 1 + len(quote)
    spaces = False
    last = len(text) - 1
    for i, char in enumerate(text):
        if char == " ":
            if not spaces and column > WIDTH and 0 < i < last and text[i + 1] != " ":
                parts.append("\n" + " " * indent)
                column = indent
            else:
                parts.append(" ")
                column += 1
            spaces = True
        else:
            written = "''" if quote and char == "'" else char
            parts.append(written)
            column += len(written)
            spaces = False
    parts.append(quote)
    return "".join(parts)
