"""Aligning two sequences (the words of a paragraph, the paragraphs of a section, the rows of a
table) in time that stays close to linear.

difflib's SequenceMatcher looks for the longest common run again in every gap it leaves, and
with a token as common as the space between words that costs time quadratic in the length:
a paragraph of 8,000 words with 5% of them changed took 139 s. Here difflib still aligns every
pair small enough for it (up to SMALL_PAIRS token pairs: a paragraph of about 250 words, so
the redline of ordinary text is what it always was). A longer pair is first trimmed of its
common start and end, then anchored on the tokens that occur once on each side (patience
diff: the longest run of such tokens in the same order on both sides; runs of 2, 4, 8 or 16
tokens when no single token is unique), and each gap between
anchors is aligned the same way. A gap with no such token that is still too long for difflib
stays a replacement, and so does everything once the work done passes WORK_PER_TOKEN per token:
what comes out is always a correct redline (accepting it gives the new text, rejecting it the
old), minimal except on inputs built to defeat it, and never slow.
"""

from __future__ import annotations

import difflib
from bisect import bisect_left
from collections.abc import Hashable, Iterator, Sequence

Opcode = tuple[str, int, int, int, int]
Block = tuple[int, int, int]

SMALL_PAIRS = 250_000  # len(a) * len(b) up to which difflib aligns a pair as it is
WORK_PER_TOKEN = 200  # the budget of the anchored alignment, per token of both sides
# Runs of tokens tried as anchors in turn, until some occur once on each side (a word and the
# space after it are two tokens).
ANCHOR_WIDTHS = (1, 2, 4, 8, 16)


def matching_blocks(a: Sequence[Hashable], b: Sequence[Hashable]) -> list[Block]:
    """Like difflib's get_matching_blocks: (i, j, size) runs with a[i:i+size] == b[j:j+size],
    increasing in i and j, adjacent runs joined, ending with (len(a), len(b), 0)."""
    if len(a) * len(b) <= SMALL_PAIRS:
        return list(difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())
    return _joined(sorted(_anchored(a, b)), len(a), len(b))


def opcodes(a: Sequence[Hashable], b: Sequence[Hashable]) -> list[Opcode]:
    """Like difflib's get_opcodes, from `matching_blocks`."""
    if len(a) * len(b) <= SMALL_PAIRS:
        return difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    return blocks_to_opcodes(matching_blocks(a, b))


def ratio(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Like difflib's ratio: twice the matched items over all items (1.0 for two empty sides)."""
    total = len(a) + len(b)
    if not total:
        return 1.0
    return 2.0 * sum(size for _, _, size in matching_blocks(a, b)) / total


def blocks_to_opcodes(blocks: list[Block]) -> list[Opcode]:
    """difflib's get_opcodes over a list of matching blocks."""
    found: list[Opcode] = []
    i = j = 0
    for ai, bj, size in blocks:
        tag = "replace" if i < ai and j < bj else "delete" if i < ai else "insert" if j < bj else ""
        if tag:
            found.append((tag, i, ai, j, bj))
        i, j = ai + size, bj + size
        if size:
            found.append(("equal", ai, i, bj, j))
    return found


def _joined(blocks: list[Block], length_a: int, length_b: int) -> list[Block]:
    joined: list[Block] = []
    for i, j, size in blocks:
        if joined and joined[-1][0] + joined[-1][2] == i and joined[-1][1] + joined[-1][2] == j:
            last = joined[-1]
            joined[-1] = (last[0], last[1], last[2] + size)
        elif size:
            joined.append((i, j, size))
    joined.append((length_a, length_b, 0))
    return joined


def _anchored(a: Sequence[Hashable], b: Sequence[Hashable]) -> list[Block]:
    """The matching blocks of a long pair (see the module's docstring); gaps are handled from a
    stack, not by recursion, so no input can exhaust Python's stack."""
    budget = WORK_PER_TOKEN * (len(a) + len(b))
    found: list[Block] = []
    gaps = [(0, len(a), 0, len(b))]
    while gaps:
        alo, ahi, blo, bhi = gaps.pop()
        budget -= (ahi - alo) + (bhi - blo)
        start = alo
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            alo, blo = alo + 1, blo + 1
        if alo > start:
            found.append((start, blo - (alo - start), alo - start))
        end = ahi
        while ahi > alo and bhi > blo and a[ahi - 1] == b[bhi - 1]:
            ahi, bhi = ahi - 1, bhi - 1
        if end > ahi:
            found.append((ahi, bhi, end - ahi))
        if alo == ahi or blo == bhi:
            continue
        if (ahi - alo) * (bhi - blo) <= SMALL_PAIRS:
            matcher = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
            found += [(alo + i, blo + j, size) for i, j, size in matcher.get_matching_blocks() if size]
            continue
        if budget < 0:
            continue  # past the budget: the rest stays replaced, still a correct redline
        for width in ANCHOR_WIDTHS:
            anchors = _unique_anchors(a, alo, ahi, b, blo, bhi, width)
            budget -= width * ((ahi - alo) + (bhi - blo))
            if anchors:
                break
        previous_i, previous_j = alo, blo
        for i, j in anchors:
            found.append((i, j, width))
            gaps.append((previous_i, i, previous_j, j))
            previous_i, previous_j = i + width, j + width
        if anchors:
            gaps.append((previous_i, ahi, previous_j, bhi))
    return found


def _unique_anchors(
    a: Sequence[Hashable], alo: int, ahi: int, b: Sequence[Hashable], blo: int, bhi: int, width: int
) -> list[tuple[int, int]]:
    """(i, j) of the runs of `width` tokens that occur once in a[alo:ahi] and once in b[blo:bhi],
    the longest chain of them in the same order on both sides, none overlapping the one before
    (patience sorting, n log n). Width 1 is single tokens; wider runs anchor text made of few
    distinct words, where no single word is unique."""

    def grams(seq: Sequence[Hashable], low: int, high: int) -> Iterator[tuple[int, Hashable]]:
        if width == 1:
            return ((i, seq[i]) for i in range(low, high))
        return ((i, tuple(seq[i : i + width])) for i in range(low, high - width + 1))

    counts: dict[Hashable, list[int]] = {}
    for i, gram in grams(a, alo, ahi):
        entry = counts.setdefault(gram, [0, 0, i, -1])
        entry[0] += 1
    for j, gram in grams(b, blo, bhi):
        entry = counts.get(gram)
        if entry is not None:
            entry[1] += 1
            entry[3] = j
    pairs = sorted((entry[2], entry[3]) for entry in counts.values() if entry[0] == 1 and entry[1] == 1)
    # Longest increasing subsequence of the j's, in the order of the i's.
    tails: list[int] = []  # tails[k]: the smallest last j of an increasing run of length k + 1
    tail_index: list[int] = []
    previous: list[int] = [-1] * len(pairs)
    for index, (_, j) in enumerate(pairs):
        k = bisect_left(tails, j)
        if k == len(tails):
            tails.append(j)
            tail_index.append(index)
        else:
            tails[k] = j
            tail_index[k] = index
        previous[index] = tail_index[k - 1] if k else -1
    chain: list[tuple[int, int]] = []
    index = tail_index[-1] if tail_index else -1
    while index >= 0:
        chain.append(pairs[index])
        index = previous[index]
    chain.reverse()
    kept: list[tuple[int, int]] = []
    for i, j in chain:
        if not kept or (i >= kept[-1][0] + width and j >= kept[-1][1] + width):
            kept.append((i, j))
    return kept
