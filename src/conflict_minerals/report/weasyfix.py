"""A fix to WeasyPrint 70's line breaking, installed when the PDF renderer is loaded.

WeasyPrint asks Pango for the first line of a text run and then checks its width against the
line's room. Pango lets a run's trailing space hang past the edge, as CSS says it should, but
WeasyPrint 70 counts that space in the width: a run that fits exactly except for its final
space (the text before an inline element: "... set out in the " before `<em>OECD ...</em>`) is
judged too wide to split anywhere but after its first word. The CMR printed "We" alone on a
line under "IV. Design of Due Diligence Measures" for that reason. The wrapper below asks again
without the trailing spaces and, when the run then fits, lets the whole run stand on the line;
the line layout already drops a trailing space at the end of a line, and moves the inline
element after it to the next line as it should.

The fix is tied to the version the project pins (pyproject: weasyprint==70.0): another version
is left alone, and tests/test_layout_check.py fails if the fault comes back.
"""

from __future__ import annotations

import weasyprint
from weasyprint.layout import inline, preferred
from weasyprint.text import line_break

FIXED_VERSION = "70.0"
_CHARACTERS_PER_EM = 4  # WeasyPrint's own bound on how many characters one line can hold per em


def _fixed(original):
    def split_first_line(
        text, style, context, max_width, justification_spacing, is_line_start=True, minimum=False
    ):
        result = original(text, style, context, max_width, justification_spacing, is_line_start, minimum)
        if (
            result[2] is None  # all of it fits: nothing to correct
            or max_width is None
            or not text.endswith(" ")
            or style["white_space"] not in ("normal", "pre-line")
            or not style["font_size"]
            or len(text) > max_width / style["font_size"] * _CHARACTERS_PER_EM  # longer than a line
        ):
            return result
        stripped = text.rstrip(" ")
        if not stripped:
            return result
        again = original(stripped, style, context, max_width, justification_spacing, is_line_start, minimum)
        if again[2] is not None:
            return result  # it does not fit without its trailing space either
        return original(text, style, context, None, justification_spacing, is_line_start, minimum)

    split_first_line.weasyfix = True
    return split_first_line


def install() -> bool:
    """Install the fix (once); False when WeasyPrint is not the version it was written for."""
    if weasyprint.__version__ != FIXED_VERSION:
        return False
    if not getattr(line_break.split_first_line, "weasyfix", False):
        fixed = _fixed(line_break.split_first_line)
        for module in (line_break, inline, preferred):
            module.split_first_line = fixed
    return True
