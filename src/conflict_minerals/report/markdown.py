"""The Markdown subset allowed in narrative fields.

Paragraphs, bullet and numbered lists, emphasis, line breaks and web links; raw HTML,
images, headings, tables and code blocks are off. Text that looks like HTML or Jinja is
escaped and shown as typed, never executed.
"""

from __future__ import annotations

import re
from functools import cache

from markdown_it import MarkdownIt
from markupsafe import Markup

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
    return md


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
