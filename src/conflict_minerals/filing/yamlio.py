"""Strict YAML loading with source positions.

PyYAML is used only to *compose* the node tree (safe, no Python tags); this module
turns the nodes into plain values itself so that:

- duplicate keys are an error (PyYAML silently keeps the last one);
- YAML 1.1 implicit typing never changes a value: a plain scalar stays the text the
  user typed (`NO` stays "NO", `01234` keeps its zero) and pydantic converts it only
  where the field really is a number, date or boolean;
- every value remembers its line and column, so a validation error can point at it.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..problems import InputError, Problem
from .characters import describe, escaped, invalid_characters
from .inputs import read_input_file

# Limits that keep a hostile or mistaken file from exhausting memory.
MAX_YAML_BYTES = 20 * 1024 * 1024
MAX_YAML_NODES = 500_000
MAX_YAML_DEPTH = 100

NULL_WORDS = frozenset({"", "~", "null", "Null", "NULL"})
STANDARD_TAGS = frozenset(
    {
        "tag:yaml.org,2002:str",
        "tag:yaml.org,2002:map",
        "tag:yaml.org,2002:seq",
        "tag:yaml.org,2002:null",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:timestamp",
    }
)

Path_ = tuple[str | int, ...]

# libyaml's composer is several times faster on large survey files; both give the same nodes.
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class LoadedYaml:
    """A YAML document as plain values plus the position of every value and key."""

    file: str
    data: Any
    value_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    # The source text, so a check can point at the line inside a multi-line value.
    text: str = ""
    # Where each text value is written in `text`: start and end index, and its YAML style.
    value_spans: dict[Path_, tuple[int, int, str]] = field(default_factory=dict)
    _lines: list[str] | None = field(default=None, repr=False)
    _folded: dict[int, str] = field(default_factory=dict, repr=False)
    _starts: list[int] | None = field(default=None, repr=False)

    def position(self, loc: Path_) -> tuple[int | None, int | None]:
        """Line and column (1-based) for a path; falls back to the nearest parent."""
        for table in (self.key_marks, self.value_marks) if loc else (self.value_marks,):
            if loc in table:
                return table[loc]
        probe = tuple(loc)
        while probe:
            probe = probe[:-1]
            if probe in self.value_marks:
                return self.value_marks[probe]
        return self.value_marks.get((), (1, 1))

    def value_position(self, loc: Path_) -> tuple[int | None, int | None]:
        """Position of the value itself (not its key) for a path, or the nearest parent."""
        probe = tuple(loc)
        while True:
            if probe in self.value_marks:
                return self.value_marks[probe]
            if not probe:
                return (1, 1)
            probe = probe[:-1]

    def problem(self, loc: Path_, message: str, **kwargs: Any) -> Problem:
        line, column = self.value_position(loc)
        return Problem(self.file, line, column, dotted(loc), message, **kwargs)

    def text_position(self, loc: Path_, needle: str, skip: int = 0) -> tuple[int | None, int | None]:
        """Line and column of `needle` inside the value at `loc` (a line of a block scalar),
        after `skip` earlier occurrences of its first word in that value; the start of the
        value when the source text does not show it. Looks no further than the value's end."""
        line, column = self.value_position(loc)
        words = needle.split()
        if not self.text or line is None or not words:
            return line, column
        # The first word only: YAML may fold the rest of a long needle onto the next line.
        head = words[0].casefold()
        lines = self._source_lines()
        last = self._end_line(loc, len(lines))
        for number in range(line, last + 1):
            start = (column or 1) - 1 if number == line else 0
            folded = self._folded_line(number)
            found = folded.find(head, start)
            while found >= 0:
                if skip == 0:
                    return number, found + 1
                skip -= 1
                found = folded.find(head, found + len(head))
        return line, column

    def offset_positions(self, loc: Path_, offsets: list[int]) -> list[tuple[int | None, int | None]]:
        """Line and column in the source of each character offset into the text value at `loc`,
        in one pass over the value, however many offsets (a value with thousands of problems
        must not be searched once for each). Offsets that cannot be followed into the source
        (the value is not in the text) give the start of the value."""
        start = self.value_position(loc)
        value = self._value(loc)
        span = self.value_spans.get(loc)
        if not offsets or span is None or not isinstance(value, str) or not self.text:
            return [start] * len(offsets)
        found = _align(self.text, span, value, sorted(set(offsets)))
        starts = self._line_starts()
        positions = []
        for offset in offsets:
            index = found.get(offset)
            if index is None:
                positions.append(start)
                continue
            line = bisect_right(starts, index)
            positions.append((line, index - starts[line - 1] + 1))
        return positions

    def offset_problems(self, loc: Path_, found: list[tuple[int, str]], **kwargs: Any) -> list[Problem]:
        """A problem for each (offset into the value at `loc`, message), placed at its character."""
        positions = self.offset_positions(loc, [offset for offset, _ in found])
        field_name = dotted(loc)
        return [
            Problem(self.file, line, column, field_name, message, **kwargs)
            for (line, column), (_, message) in zip(positions, found, strict=True)
        ]

    def _value(self, loc: Path_) -> Any:
        value: Any = self.data
        for part in loc:
            listed = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
            if not listed and not (isinstance(value, dict) and part in value):
                return None
            value = value[part]
        return value

    def _source_lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.text.split("\n")
        return self._lines

    def _folded_line(self, number: int) -> str:
        if number not in self._folded:
            self._folded[number] = self._source_lines()[number - 1].casefold()
        return self._folded[number]

    def _line_starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [0] + [match.end() for match in re.finditer("\n", self.text)]
        return self._starts

    def _end_line(self, loc: Path_, last: int) -> int:
        """The line the value at `loc` ends on (the last line when not known)."""
        span = self.value_spans.get(loc)
        if span is None:
            return last
        return min(last, bisect_right(self._line_starts(), span[1]))

    def text_problem(self, loc: Path_, needle: str, message: str, *, skip: int = 0, **kwargs: Any) -> Problem:
        line, column = self.text_position(loc, needle, skip)
        return Problem(self.file, line, column, dotted(loc), message, **kwargs)


def dotted(loc: Path_) -> str:
    return ".".join(str(part) for part in loc)


def strings(value: object, path: Path_ = ()) -> Iterator[tuple[Path_, str]]:
    """Every text value under `value` (parsed YAML), with its path below `path`."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, (*path, index))
    elif isinstance(value, str):
        yield path, value


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


# An escape in a double-quoted YAML scalar: the only way a character that no output may hold
# gets into a value (the YAML reader refuses them written as themselves).
_ESCAPE = re.compile(r"\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[\s\S])")
_DECODED = {
    "0": "\x00", "a": "\x07", "b": "\x08", "t": "\t", "\t": "\t", "n": "\n", "v": "\x0b", "f": "\x0c",
    "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0",
    "L": "\u2028", "P": "\u2029",
}  # fmt: skip
_FOLDED_SPACE = frozenset(" \t\r\n")


def _decoded(escape: str) -> str:
    if len(escape) > 2:
        code = int(escape[2:], 16)
        return chr(code) if code <= 0x10FFFF else ""
    return _DECODED.get(escape[1], "")


def _align(source: str, span: tuple[int, int, str], value: str, wanted: list[int]) -> dict[int, int]:
    """The source index of each wanted offset of `value`, written in `source` within `span`.

    The value's characters are found in order in the source, skipping what YAML does not keep
    (indentation, quotes, the `|` or `>` header), a line break standing for a folded space, and
    reading escapes in double-quoted text. Linear in the span: nothing is searched twice."""
    begin, end, style = span
    targets = set(wanted)
    found: dict[int, int] = {}
    position = begin
    for offset, char in enumerate(value[: wanted[-1] + 1]):
        while position < end:
            here = source[position]
            if here == char or (char in _FOLDED_SPACE and here in _FOLDED_SPACE):
                width = 1
                break
            if here == "\\" and style == '"' and (escape := _ESCAPE.match(source, position)):
                if _decoded(escape[0]) == char:
                    width = len(escape[0])
                    break
                position += len(escape[0])
                continue
            position += 1
        else:
            break  # the rest of the value is not in the source as expected: those offsets stay unknown
        if offset in targets:
            found[offset] = position
        position += width
    return found


class _Converter:
    def __init__(self, loaded: LoadedYaml) -> None:
        self.loaded = loaded
        self.visited = 0
        # Characters that no output may hold (see characters.py): every one is reported.
        self.invalid: list[Problem] = []
        self._line_starts: list[int] | None = None

    def _check_characters(self, node: yaml.ScalarNode, path: Path_) -> None:
        value = node.value
        if not isinstance(value, str):
            return
        bad = [match[0] for match in invalid_characters(value)]
        if not bad:
            return
        places = self._escape_places(node, set(bad))
        for index, char in enumerate(bad):
            line, column, written = places[index] if index < len(places) else (*_mark(node), "")
            how = f", written {written}," if written else ""
            message = f"holds {describe(char)}{how} which no Word, EDGAR or CMRT file can hold; remove it"
            self.invalid.append(Problem(self.loaded.file, line, column, escaped(dotted(path)), message))

    def _escape_places(self, node: yaml.ScalarNode, bad: set[str]) -> list[tuple[int, int, str]]:
        """Line, column and text of each escape in the scalar's source that gives a refused character."""
        text = self.loaded.text
        start, end = node.start_mark.index, node.end_mark.index
        if node.style != '"' or not 0 <= start < end <= len(text):
            return []
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        places = []
        for match in _ESCAPE.finditer(text, start, end):
            if _decoded(match[0]) in bad:
                line = bisect_right(self._line_starts, match.start())
                places.append((line, match.start() - self._line_starts[line - 1] + 1, match[0]))
        return places

    def fail(self, node: yaml.Node, message: str) -> InputError:
        line, column = _mark(node)
        return InputError([Problem(self.loaded.file, line, column, "", message)])

    def convert(self, node: yaml.Node, path: Path_) -> Any:
        self.visited += 1
        if self.visited > MAX_YAML_NODES:
            # Aliases can make a small file expand to billions of values ("billion laughs").
            raise self.fail(node, f"document is too large (more than {MAX_YAML_NODES} values)")
        self.loaded.value_marks.setdefault(path, _mark(node))
        if node.tag not in STANDARD_TAGS:
            raise self.fail(node, f"unsupported YAML tag {node.tag!r}")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        self._check_characters(node, path)
        start, end = node.start_mark.index, node.end_mark.index
        self.loaded.value_spans.setdefault(path, (start, end, node.style or ""))
        return self._scalar(node)

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self.fail(key_node, "merge keys ('<<') are not supported; write the keys out")
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, "mapping keys must be plain text")
            key = str(key_node.value)
            self._check_characters(key_node, (*path, key))
            if key in result:
                first_line = self.loaded.key_marks[(*path, key)][0]
                raise self.fail(key_node, f"duplicate key {key!r} (first defined on line {first_line})")
            self.loaded.key_marks[(*path, key)] = _mark(key_node)
            result[key] = self.convert(value_node, (*path, key))
        return result

    @staticmethod
    def _scalar(node: yaml.ScalarNode) -> str | None:
        # Plain scalars keep their text; only the YAML null words become None.
        if node.style in (None, "") and node.value in NULL_WORDS:
            return None
        if node.tag == "tag:yaml.org,2002:null":
            return None
        return node.value


def load_yaml(path: Path, display: str | None = None) -> LoadedYaml:
    """Load one YAML file into plain values with positions, or raise InputError."""
    name = display or str(path)
    return parse_yaml(read_input_file(path, MAX_YAML_BYTES, name), name)


def _check_depth(text: str, name: str) -> None:
    """Refuse deep nesting before composing: libyaml's composer recurses in C and a file of
    `[[[[...` a few hundred kilobytes long crashes the interpreter."""
    depth = 0
    for event in yaml.parse(text, Loader=_COMPOSER):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                line, column = event.start_mark.line + 1, event.start_mark.column + 1
                message = f"nested too deeply (more than {MAX_YAML_DEPTH} levels)"
                raise InputError([Problem(name, line, column, "", message)])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, name: str) -> Problem:
    problem, context = exc.problem or "", exc.context or ""
    mark = exc.problem_mark or exc.context_mark
    if exc.context_mark is not None and "end of stream" in problem:
        # An unclosed quote or bracket: the useful place is where it was opened.
        mark = exc.context_mark
    if mark is not None and _char_at(text, mark) == "\t":
        problem = "a TAB character; YAML indentation must use spaces"
    detail = f"{context}: {problem}" if context and problem else (problem or context or "invalid YAML")
    line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
    return Problem(name, line, column, "", f"not valid YAML: {detail}")


def _char_at(text: str, mark: yaml.Mark) -> str:
    lines = text.split("\n")
    if mark.line < len(lines) and mark.column < len(lines[mark.line]):
        return lines[mark.line][mark.column]
    return ""


def parse_yaml(raw: bytes, name: str) -> LoadedYaml:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            [Problem(name, None, None, "", f"not a YAML text file (invalid UTF-8 at byte {exc.start})")]
        ) from None
    if "\x00" in text:
        raise InputError([Problem(name, None, None, "", "not a YAML text file (contains NUL bytes)")])
    loaded = LoadedYaml(file=name, data=None, text=text)
    try:
        _check_depth(text, name)
        root = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        raise InputError([_syntax_problem(exc, text, name)]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        message = f"not valid YAML: character #x{exc.character:04x} is not allowed (control character)"
        raise InputError([Problem(name, line, None, "", message)]) from None
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise InputError([Problem(name, None, None, "", f"not valid YAML: {detail}")]) from None
    if root is None:
        raise InputError([Problem(name, None, None, "", "file is empty")])
    converter = _Converter(loaded)
    loaded.data = converter.convert(root, ())
    if converter.invalid:
        raise InputError(converter.invalid)
    if not isinstance(loaded.data, dict):
        line, column = _mark(root)
        raise InputError(
            [Problem(name, line, column, "", "expected a mapping of 'key: value' lines at the top level")]
        )
    return loaded
