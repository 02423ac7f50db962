"""A small element tree of a rendered document, from the standard library's HTML parser.

The consistency check reads the documents back in `cmr validate` and `cmr serve`, which load
no lxml (see tests/test_structure.py); the documents are the templates' own well-formed HTML, so
a stack of open elements is all the tree needs. A stray end tag closes the elements opened
after its match; an end tag with no match is ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)


class Node:
    """An element: its tag, attributes and children (elements and text, in order)."""

    __slots__ = ("attrs", "children", "tag")

    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list[Node | str] = []

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    def elements(self) -> list[Node]:
        return [child for child in self.children if isinstance(child, Node)]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.elements())

    def child(self, tag: str) -> Node | None:
        """The first child element with this tag."""
        return next((c for c in self.children if isinstance(c, Node) and c.tag == tag), None)

    def iter(self, *tags: str) -> Iterator[Node]:
        """This element and every element under it, in document order (only `tags` if given)."""
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            if not tags or node.tag in tags:
                yield node
            stack.extend(reversed(node.elements()))

    def has_descendant(self, tag: str) -> bool:
        return any(node is not self for node in self.iter(tag))

    def text_content(self) -> str:
        parts: list[str] = []
        stack: list[Node | str] = [self]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                parts.append(item)
            else:
                stack.extend(reversed(item.children))
        return "".join(parts)


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.open: list[Node] = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs})
        self.open[-1].children.append(node)
        if tag in _VOID:
            if tag == "br":
                node.children.append(" ")  # a line break separates words
            return
        self.open.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.open.pop()

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.open) - 1, 0, -1):
            if self.open[depth].tag == tag:
                del self.open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.open[-1].children.append(data)


def parse(document: str) -> Node:
    """The document's tree; its `body` element, or the whole document when it has none."""
    builder = _Builder()
    builder.feed(document)
    builder.close()
    return next(builder.root.iter("body"), builder.root)
