"""The Markdown subset allowed in narrative fields.

Paragraphs, bullet and numbered lists, emphasis, line breaks and web links; raw HTML,
images, headings, tables and code blocks are off. Text that looks like HTML or Jinja is
escaped and shown as typed, never executed.
"""

from __future__ import annotations

import re
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markupsafe import Markup, escape

ALLOWED_LINK = re.compile(r"(https?://|mailto:|#)", re.IGNORECASE)


@cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("zero", {"html": False, "linkify": False, "typographer": True})
    md.enable(
        ["paragraph", "list", "emphasis", "link", "newline", "escape", "entity", "backticks", "smartquotes"]
    )
    md.validateLink = lambda url: bool(ALLOWED_LINK.match(url.strip()))
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
    inline = re.findall(r"\]\(\s*<?([^)\s>]+)", text)
    references = re.findall(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", text, re.MULTILINE)
    return sorted({target for target in inline + references if not ALLOWED_LINK.match(target)})
