"""`cmr diff`: compare two filings and write diff.html, diff.pdf, diff.docx and diff.json.

WeasyPrint is imported only to write diff.pdf, python-docx only to write diff.docx."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .. import __version__
from ..documents import DOCUMENTS, OutputFormat
from ..outputs import refuse_unusable_outputs, rename_target, write_locked
from ..problems import InputError, Problem
from ..report.templating import builtin_theme_dir, make_environment, render_template, theme_stylesheet
from .datadiff import DataDiff, diff_data
from .prose import MAX_WORDS, SectionDiff, diff_document
from .sides import Side, load_side

DIFF_JSON = "diff.json"
DIFF_PAGE = "diff"  # diff.html and diff.pdf


@dataclass
class Comparison:
    old: Side
    new: Side
    data: DataDiff
    sections: list[SectionDiff]

    def summary(self) -> dict[str, int]:
        data = self.data
        counts = {
            "smelters_added": len(data.smelters_added),
            "smelters_removed": len(data.smelters_removed),
            "status_changed": len(data.status_changed),
            "smelter_details_changed": len(data.smelters_changed),
            "figures_changed": len(data.figures),
            "countries_added": len(data.countries_added),
            "countries_removed": len(data.countries_removed),
            "sections_changed": sum(1 for s in self.sections if s.changed),
        }
        counts["total"] = sum(counts.values())
        return counts

    @property
    def differs(self) -> bool:
        return self.summary()["total"] > 0


def compare(old_path: Path, new_path: Path) -> Comparison:
    old, new = load_side(old_path), load_side(new_path)
    sections: list[SectionDiff] = []
    for doc in DOCUMENTS:
        if doc.stem in old.documents or doc.stem in new.documents:
            sections += diff_document(doc.stem, old.documents.get(doc.stem), new.documents.get(doc.stem))
    return Comparison(old, new, diff_data(old.snapshot, new.snapshot), sections)


def _side_json(side: Side) -> dict:
    return {
        "label": side.label,
        "kind": side.kind,
        "registrant": side.snapshot.registrant,
        "reporting_year": side.reporting_year,
        "mode": side.snapshot.mode,
        "tool_version": side.tool_version,
        "inputs": side.inputs,
    }


def diff_json(comparison: Comparison) -> bytes:
    document = {
        "tool": {"name": "conflict-minerals", "version": __version__},
        "old": _side_json(comparison.old),
        "new": _side_json(comparison.new),
        "summary": comparison.summary(),
        "data": comparison.data.model_dump(mode="json"),
        "sections": [
            {
                "document": s.document,
                "key": s.key,
                "title": s.title,
                "changed": s.changed,
                "insertions": s.insertions,
                "deletions": s.deletions,
                **({"paragraphs_compared_by_sentence": s.by_sentence} if s.by_sentence else {}),
                **({"redline_html": str(s.html)} if s.changed else {}),
            }
            for s in comparison.sections
        ],
    }
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def diff_html(comparison: Comparison) -> str:
    by_metal: dict[str, dict[str, list]] = {}
    for kind in ("smelters_added", "smelters_removed", "status_changed", "smelters_changed"):
        for change in getattr(comparison.data, kind):
            by_metal.setdefault(change.metal, {}).setdefault(kind, []).append(change)
    documents = [
        (doc.stem, doc.list_title, [s for s in comparison.sections if s.document == doc.stem])
        for doc in DOCUMENTS
        if any(s.document == doc.stem for s in comparison.sections)
    ]
    return render_template(
        make_environment(None),
        "diff.html.j2",
        {
            "old": comparison.old,
            "new": comparison.new,
            "summary": comparison.summary(),
            "data": comparison.data,
            "by_metal": [
                (metal, by_metal[metal])
                for metal in ("tantalum", "tin", "tungsten", "gold")
                if metal in by_metal
            ],
            "documents": documents,
            "by_sentence": [
                (doc.list_title, s.title, s.by_sentence)
                for doc in DOCUMENTS
                for s in comparison.sections
                if s.document == doc.stem and s.by_sentence
            ],
            "max_words": MAX_WORDS,
            "tool_version": __version__,
            "draft": comparison.old.draft or comparison.new.draft,
            "stylesheet": theme_stylesheet("css/diff.css"),
        },
    )


def diff_pdf(html: str, comparison: Comparison) -> bytes:
    from ..report.pdf import RenderTooLong, render_pdf

    theme = builtin_theme_dir()
    try:
        return render_pdf(
            html,
            base_url=theme,
            font_stylesheet=theme / "css" / "fonts.css",
            asset_roots=[theme],
            # The redline has no date of its own: pin font timestamps to one derived from the inputs.
            document_date=date(comparison.new.reporting_year + 1, 1, 1),
        )
    except RenderTooLong as too_long:
        raise InputError([Problem(f"{DIFF_PAGE}.pdf", None, None, "", str(too_long))]) from None


def diff_docx(comparison: Comparison, html: str) -> bytes:
    """diff.docx: the data changes, then the new filing's documents with tracked changes."""
    from ..word.redline import redline_docx  # python-docx: only for Word output

    return redline_docx(
        comparison.old.documents,
        comparison.new.documents,
        [doc.stem for doc in DOCUMENTS],
        html,
        date(comparison.new.reporting_year + 1, 1, 1),
    )


@dataclass
class DiffResult:
    comparison: Comparison
    written: list[Path]


def write_diff(
    old_path: Path, new_path: Path, out_dir: Path, formats: Collection[OutputFormat] = tuple(OutputFormat)
) -> DiffResult:
    """Compare two filings and write diff.json, and diff.html, diff.pdf and diff.docx as `formats` asks,
    all or nothing; an output that would replace one of the two inputs is refused first."""
    names = [DIFF_JSON] + [f"{DIFF_PAGE}.{output_format.value}" for output_format in formats]
    refuse_unusable_outputs([out_dir / name for name in names], folders=[out_dir])
    comparison = compare(old_path, new_path)
    outputs = {out_dir / DIFF_JSON: diff_json(comparison)}
    html = diff_html(comparison)
    if OutputFormat.HTML in formats:
        outputs[out_dir / f"{DIFF_PAGE}.html"] = html.encode("utf-8")
    if OutputFormat.PDF in formats:
        outputs[out_dir / f"{DIFF_PAGE}.pdf"] = diff_pdf(html, comparison)
    if OutputFormat.DOCX in formats:
        outputs[out_dir / f"{DIFF_PAGE}.docx"] = diff_docx(comparison, html)
    _refuse_overwriting_inputs(outputs, (old_path, new_path))
    write_locked(out_dir, outputs)
    return DiffResult(comparison, list(outputs))


def _refuse_overwriting_inputs(outputs: dict[Path, bytes], inputs: tuple[Path, ...]) -> None:
    named = {rename_target(side): side for side in inputs}
    for path in outputs:
        if (side := named.get(rename_target(path))) is not None:
            problem = Problem(str(path), None, None, "", f"the output would overwrite the input {side}")
            raise InputError([problem])
