"""The Markdown subset allowed in narrative fields.

Paragraphs, bullet and numbered lists, emphasis, line breaks and web links; raw HTML,
images, headings, tables and code blocks are off. Text that looks like HTML or Jinja is
escaped and shown as typed, never executed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, isMdAsciiPunct, isPunctChar, isWhiteSpace
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markupsafe import Markup, escape

ALLOWED_LINK = re.compile(r"(https?://|mailto:|#)", re.IGNORECASE)
# CommonMark: a link label holds at most 999 characters and no unescaped bracket. The bound
# keeps the scan for reference definitions linear.
_INLINE_TARGET = re.compile(r"\]\(\s*<?([^)\s>]+)")
_REFERENCE_TARGET = re.compile(
    r"^[ \t]{0,3}\[(?:[^\[\]\\]|\\.){1,999}\]:[ \t]*\n?[ \t]*<?(\S+?)>?(?:\s|$)", re.MULTILINE
)


@cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("zero", {"html": False, "linkify": False, "typographer": True})
    md.enable(
        ["paragraph", "list", "emphasis", "link", "newline", "escape", "entity", "backticks", "smartquotes"]
    )
    md.validateLink = lambda url: bool(ALLOWED_LINK.match(url.strip()))
    # markdown-it's own rule rebuilds the whole text for every quote it curls and walks back
    # over every unmatched quote: a paragraph of quotes took minutes. Same output, linear time.
    md.core.ruler.at("smartquotes", smartquotes)
    # A soft line break in YAML prose is a space; a raw newline inside justified text made
    # WeasyPrint 70 break the line early.
    md.add_render_rule("softbreak", lambda *args: " ")
    md.add_render_rule("text", _text)
    return md


def _text(renderer, tokens, index, options, env) -> str:
    """A link whose text is its own address is printed as an address (see address_html)."""
    content = tokens[index].content
    if index > 0 and tokens[index - 1].type == "link_open" and ADDRESS.fullmatch(content):
        return str(address_html(content))
    return escapeHtml(content)  # as markdown-it's own rule


# A web or mail address as written out in a document: no spaces, a scheme or an @.
ADDRESS = re.compile(r"(?:https?://|mailto:)?[^\s@/]+(?:@[^\s@/]+|(?:/[^\s]*)?)", re.IGNORECASE)
_ADDRESS_PIECE = re.compile(r"[^/.@]*(?:/+|[.@]|$)")


def address_html(address: str) -> Markup:
    """An address that never breaks at one of its own hyphens and may break after a "/", "." or
    "@": each piece up to such a character is kept whole (`nobr`), with an empty break point
    (`brk`) between pieces. The text is unchanged, so copying it gives the address; a hyphen
    at a line end would leave a reader unable to tell whether it belongs to the address."""
    if not re.search(r"://|@|\.", address):
        return Markup(escape(address))
    pieces = [piece for piece in _ADDRESS_PIECE.findall(address) if piece]
    inner = '<span class="brk"></span>'.join(f'<span class="nobr">{escape(piece)}</span>' for piece in pieces)
    return Markup(f'<span class="address">{inner}</span>')


def render_markdown(text: str) -> Markup:
    """Render narrative Markdown to safe HTML (markdown-it escapes every text run)."""
    return Markup(_parser().render(text).strip())


def render_inline(text: str) -> Markup:
    """Render one line of Markdown without a surrounding paragraph."""
    return Markup(_parser().renderInline(text).strip())


def disallowed_links(text: str) -> list[str]:
    """Link targets in `text` that the subset refuses (anything but web, mail or in-page)."""
    inline = _INLINE_TARGET.findall(text)
    references = _REFERENCE_TARGET.findall(text)
    return sorted({target for target in inline + references if not ALLOWED_LINK.match(target)})


# ----- typographic quotes in linear time -----

_QUOTE = re.compile("['\"]")
APOSTROPHE = "\u2019"
_BREAKS = ("softbreak", "hardbreak")


@dataclass(frozen=True)
class _Opener:
    token: int
    pos: int
    single: bool
    level: int


def smartquotes(state: StateCore) -> None:
    """markdown-it's `smartquotes` core rule with the same result: straight quotes become
    typographic ones, pairs matched the same way. Each quote costs O(1): the characters around
    a token are found once per paragraph, the replacements are applied once per token, and the
    opener a closing quote pairs with is found through an index by level and kind."""
    if not state.md.options.typographer:
        return
    for token in state.tokens:
        if token.type == "inline" and token.children is not None and _QUOTE.search(token.content):
            _curl(token.children, state.md.options.quotes)


def _neighbours(tokens: list[Token]) -> tuple[list[int], list[int]]:
    """The character just before and just after each token, across tokens without text and up to
    a line break (a space there), as markdown-it looks them up."""
    before, after = [0x20] * len(tokens), [0x20] * len(tokens)
    last = 0x20
    for index, token in enumerate(tokens):
        before[index] = last
        if token.type in _BREAKS:
            last = 0x20
        elif token.content:
            last = ord(token.content[-1])
    following = 0x20
    for index in range(len(tokens) - 1, -1, -1):
        after[index] = following
        token = tokens[index]
        if token.type in _BREAKS:
            following = 0x20
        elif token.content:
            following = ord(token.content[0])
    return before, after


def _is_punctuation(code: int) -> bool:
    return isMdAsciiPunct(code) or isPunctChar(chr(code))


def _curl(tokens: list[Token], quotes: str | list[str]) -> None:
    before, after = _neighbours(tokens)
    replaced: dict[int, dict[int, str]] = {}  # token -> position -> quote
    stack: list[_Opener] = []
    open_at: dict[tuple[int, bool], list[int]] = {}  # (level, single) -> their places in `stack`

    def pop() -> None:
        opener = stack.pop()
        open_at[(opener.level, opener.single)].pop()

    for index, token in enumerate(tokens):
        level = token.level
        while stack and stack[-1].level > level:
            pop()
        if token.type != "text":
            continue
        text = token.content
        for match in _QUOTE.finditer(text):
            at = match.start()
            single = match[0] == "'"
            last = ord(text[at - 1]) if at > 0 else before[index]
            following = ord(text[at + 1]) if at + 1 < len(text) else after[index]
            last_punct, next_punct = _is_punctuation(last), _is_punctuation(following)
            last_space, next_space = isWhiteSpace(last), isWhiteSpace(following)
            can_open = not next_space and not (next_punct and not (last_space or last_punct))
            can_close = not last_space and not (last_punct and not (next_space or next_punct))
            if following == 0x22 and not single and 0x30 <= last <= 0x39:
                can_open = can_close = False  # 1"" - the first quote is an inch
            if can_open and can_close:
                can_open, can_close = last_punct, next_punct
            if not can_open and not can_close:
                if single:
                    replaced.setdefault(index, {})[at] = APOSTROPHE
                continue
            if can_close and (places := open_at.get((level, single))):
                found = places[-1]
                opener = stack[found]
                opening, closing = (quotes[2], quotes[3]) if single else (quotes[0], quotes[1])
                replaced.setdefault(index, {})[at] = closing
                replaced.setdefault(opener.token, {})[opener.pos] = opening
                while len(stack) > found:
                    pop()
                continue
            if can_open:
                open_at.setdefault((level, single), []).append(len(stack))
                stack.append(_Opener(index, at, single, level))
            elif can_close and single:
                replaced.setdefault(index, {})[at] = APOSTROPHE
    for index, places in replaced.items():
        content = tokens[index].content
        pieces, start = [], 0
        for at in sorted(places):
            pieces += (content[start:at], places[at])
            start = at + 1
        pieces.append(content[start:])
        tokens[index].content = "".join(pieces)
