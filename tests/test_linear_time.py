"""Issue 20, class 2: every function that scans user text runs in time that grows at most like
n log n, proven on inputs of n and 4n characters (n = 50,000, where a quadratic function is
plainly slower: 16 times, against 4 for a linear one). Each is timed three times at each size,
in CPU time (other processes on a busy machine do not count), the runs interleaved, and the
best of each is compared: the ratio must stay under 6.

Before: one 60,000-character word in a narrative field made `cmr validate` take 39 s (the
final-copy gate's address check); a text of many quotes took minutes in the Markdown renderer;
a document of unclosed comments, script tags or `<a` took minutes in the EDGAR lint; a
mine-location cell of many spaces took seconds per cell.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conflict_minerals.build import validate
from conflict_minerals.diff.prose import tokens
from conflict_minerals.edgar.lint import lint_html
from conflict_minerals.filing import checks, final_copy
from conflict_minerals.filing.characters import invalid_in_html, replace_invalid
from conflict_minerals.filing.yamlio import parse_yaml
from conflict_minerals.ingest.check.locations import load_location_tables, read_cell
from conflict_minerals.problems import InputError
from conflict_minerals.report.markdown import disallowed_links, render_markdown
from conflict_minerals.serve.assets import css_references

from .conftest import copy_sample, edit

N = 50_000
RATIO = 6.0


def repeated(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def growth(scan: Callable[[str], object], make: Callable[[int], str]) -> tuple[float, float, float]:
    """Best of three runs at n and at 4n, interleaved; the ratio of the two."""
    small, large = make(N), make(4 * N)
    best = {N: float("inf"), 4 * N: float("inf")}
    for _ in range(3):
        for size, text in ((N, small), (4 * N, large)):
            best[size] = min(best[size], _cpu_seconds(lambda text=text: scan(text)))
    return best[N], best[4 * N], best[4 * N] / max(best[N], 1e-4)


def _cpu_seconds(action: Callable[[], object]) -> float:
    """The CPU time of one run, with Python's cyclic garbage collector held off: its full
    collections start at a threshold set by the whole heap (the imports' objects), a step that
    a run of 200,000 objects crosses and one of 50,000 does not, whatever the algorithm."""
    gc.collect()
    gc.disable()
    try:
        started = time.process_time()
        action()
        return time.process_time() - started
    finally:
        gc.enable()


def _yaml_value(text: str) -> str:
    """A filing-like YAML document whose one value is `text`, as a literal block."""
    indented = "\n".join("    " + line for line in text.split("\n"))
    return f"narrative:\n  company_overview: |\n{indented}\n"


def final_copy_gate(text: str) -> object:
    """The placeholder, address and 'illustrative' checks of the final-copy gate, with the
    problems placed on their lines (one pass over the value however many there are)."""
    loaded = parse_yaml(_yaml_value(text).encode(), "filing.yaml")
    return list(final_copy._placeholders(loaded, final_copy.Severity.WARNING))


def filing_checks(text: str) -> object:
    loaded = parse_yaml(_yaml_value(text).encode(), "filing.yaml")
    return [
        *checks._narrative_links(loaded),
        *checks._table_references(loaded),
    ]


def escapes_in_yaml(text: str) -> object:
    """The check for characters no output may hold, placing each escape (here: all refused)."""
    try:
        return parse_yaml(f'value: "{text}"\n'.encode(), "filing.yaml")
    except InputError as error:  # the expected outcome: every one reported
        return error.problems


def mine_location_cell(text: str) -> object:
    return read_cell.__wrapped__(text)


def edgar_lint(text: str) -> object:
    return lint_html(text.encode("utf-8"), "formsd-2025.htm")


SCANS: list[tuple[str, Callable[[str], object], list[str]]] = [
    ("final-copy gate", final_copy_gate, ["a", "a.example.", "x@", "[A b] ", "[", "-.", "illustrative "]),
    (
        "links and table references",
        filing_checks,
        ["\n[", "](", "[a]: ", "tables  "],
    ),
    ("Markdown", render_markdown, ["a'", "'", '"a', "*a", "&#"]),
    ("link targets", disallowed_links, ["\n[", "[a](", "]("]),
    ("escapes in YAML", escapes_in_yaml, ["\\x01", "\\\\\\x01a"]),
    ("mine-location cells", mine_location_cell, ["  ", " \n", "a ,", "etc ", ". "]),
    ("EDGAR lint", edgar_lint, ["<a", "<!--", "<script>", "<p>", "<a b='", '<p style="/*', "&#1;", "<div>"]),
    ("CSS references", css_references, ['url("', "url(", "@import '", "url( "]),
    (
        "characters in documents",
        lambda t: (replace_invalid(t), invalid_in_html(t)),
        ["\x01", "&#1", "a"],
    ),
    ("redline words", tokens, ["a", "a.", "6.4,", " "]),
]


@pytest.mark.parametrize(
    "scan, unit",
    [pytest.param(scan, unit, id=f"{name}: {unit!r}") for name, scan, units in SCANS for unit in units],
)
def test_scanning_user_text_grows_at_most_like_n_log_n(scan: Callable[[str], object], unit: str) -> None:
    if scan is mine_location_cell:
        load_location_tables()
    small, large, ratio = growth(scan, lambda size: repeated(unit, size))
    assert ratio < RATIO, f"{small * 1000:.1f} ms at {N:,} characters, {large * 1000:.1f} ms at {4 * N:,}"


def _validation_growth(
    tmp_path: Path, text: Callable[[int], str], sizes: tuple[int, int]
) -> tuple[float, float]:
    """Best of three CPU times of validating a filing whose overview is `text(size)`: loading,
    the checks, the documents rendered and read back by the consistency check."""
    projects = {}
    for size in sizes:
        filing = copy_sample("acme-2025", tmp_path / str(size))
        edit(filing, "  company_overview: |\n", f"  company_overview: |\n    {text(size)}\n\n")
        projects[size] = filing

    def check(filing: Path) -> None:
        with contextlib.suppress(InputError):
            validate(filing)

    best = dict.fromkeys(projects, float("inf"))
    for _ in range(3):
        for size, filing in projects.items():
            best[size] = min(best[size], _cpu_seconds(lambda filing=filing: check(filing)))
    return best[sizes[0]], best[sizes[1]]


def test_one_long_word_does_not_hold_up_validation(tmp_path: Path) -> None:
    """The issue's reproduction: a 60,000-character word in a narrative field (39 s before)."""
    small, large = _validation_growth(tmp_path, lambda size: f"We sell {'a' * size}.", (60_000, 240_000))
    assert large / small < RATIO and large < 10, (
        f"{small:.2f} s for 60,000 characters, {large:.2f} s for 240,000"
    )


@pytest.mark.parametrize("unit", ["100% ", "at least 5 smelters; ", "products are conflict-free "])
def test_the_consistency_check_of_the_documents_grows_at_most_like_n_log_n(unit: str, tmp_path: Path) -> None:
    """The rendered documents read back and checked against the figures (a clause of thousands
    of percentages was read again for each: quadratic)."""
    small, large = _validation_growth(tmp_path, lambda size: repeated(unit, size), (N // 2, 2 * N))
    assert large / small < RATIO, f"{small:.2f} s at {N // 2:,} characters, {large:.2f} s at {2 * N:,}"
