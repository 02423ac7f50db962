"""`cmr build`: filing YAML -> validated model -> context -> HTML -> PDF, plus a manifest."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path

import weasyprint

from . import __version__
from .context import DocumentContext, build_context
from .deadline import filing_deadline
from .edgar.package import EDGAR_DIR, edgar_outputs
from .evidence import evidence_outputs
from .loader import LoadedFiling, load_filing
from .outputs import locked_folder, write_atomic
from .pdf import ATTACHING_VARIANTS, AssetRefused, EmbeddedFile, render_pdf
from .problems import InputError, Problem
from .snapshot import SNAPSHOT_NAME, make_snapshot, snapshot_bytes
from .templating import (
    CMR_TEMPLATE,
    FONT_STYLESHEET,
    FORM_SD_TEMPLATE,
    STYLESHEET,
    TemplateFailure,
    builtin_theme_dir,
    make_environment,
    render_template,
    style_block,
)

MANIFEST = "manifest.json"


class OutputFormat(StrEnum):
    HTML = "html"
    PDF = "pdf"


@dataclass(frozen=True)
class DocumentSpec:
    stem: str
    template: str
    title: str


FORM_SD = DocumentSpec("form-sd", FORM_SD_TEMPLATE, "Form SD")
CMR = DocumentSpec("conflict-minerals-report", CMR_TEMPLATE, "Conflict Minerals Report")
ALL_DOCUMENTS = (FORM_SD, CMR)


@dataclass
class BuildResult:
    out_dir: Path
    written: list[Path]
    removed: list[Path]
    deadline: date
    warnings: list[Problem] = field(default_factory=list)


def documents_for(context: DocumentContext) -> list[DocumentSpec]:
    # In rcoi_only mode the RCOI goes in Form SD Item 1.01 and there is no exhibit.
    return [FORM_SD, CMR] if context.files_cmr else [FORM_SD]


def _stylesheet(loaded: LoadedFiling) -> str:
    css = (builtin_theme_dir() / STYLESHEET).read_text(encoding="utf-8")
    if loaded.css_path is not None:
        css += "\n/* presentation.css */\n" + loaded.css_path.read_text(encoding="utf-8")
    return css


def render_html(loaded: LoadedFiling, context: DocumentContext) -> dict[str, str]:
    """HTML text of each document, keyed by file stem."""
    env = make_environment(loaded.template_dir)
    variables = {name: getattr(context, name) for name in DocumentContext.model_fields}
    variables["stylesheet"] = style_block(_stylesheet(loaded))
    pages = {}
    for spec in documents_for(context):
        try:
            pages[spec.stem] = render_template(
                env, spec.template, {**variables, "document_title": spec.title}
            )
        except TemplateFailure as failure:
            raise failure.as_input_error() from None
    return pages


@dataclass(frozen=True)
class BuildOptions:
    formats: frozenset[OutputFormat] = frozenset(OutputFormat)
    pdf_variant: str | None = None
    edgar: bool = False
    # An EDGAR package is what gets filed: from a draft filing only when asked for explicitly.
    allow_draft: bool = False


def _embedded_files(loaded: LoadedFiling, variant: str | None) -> list[EmbeddedFile]:
    """PDF/A-3 copies carry the survey results and the manifest of the inputs.

    The manifest embedded is the inputs half: a PDF cannot carry its own hash."""
    if variant not in ATTACHING_VARIANTS:
        return []
    return [
        EmbeddedFile(loaded.survey_path.name, loaded.survey_path.read_bytes(), "Supplier survey results"),
        EmbeddedFile(
            "inputs-manifest.json", inputs_manifest(loaded), "Tool versions and sha256 of every input"
        ),
    ]


def _pdf(loaded: LoadedFiling, html: str, variant: str | None = None) -> bytes:
    theme = builtin_theme_dir()
    roots = [theme] + ([loaded.template_dir] if loaded.template_dir else [])
    if loaded.css_path is not None:
        roots.append(loaded.css_path.parent)
    try:
        return render_pdf(
            html,
            base_url=loaded.template_dir or theme,
            font_stylesheet=theme / FONT_STYLESHEET,
            asset_roots=roots,
            document_date=loaded.filing.signature.date,
            variant=variant,
            embedded=_embedded_files(loaded, variant),
        )
    except AssetRefused as refused:
        raise InputError([Problem(str(loaded.filing_path.name), None, None, "", str(refused))]) from None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def relative_to(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()


def _manifest_head(loaded: LoadedFiling) -> dict:
    base = loaded.base_dir
    return {
        "tool": {"name": "conflict-minerals", "version": __version__},
        "weasyprint": weasyprint.__version__,
        "filing": relative_to(loaded.filing_path, base),
        "reporting_year": loaded.filing.reporting_year,
        "mode": loaded.filing.mode.value,
        "inputs": [
            {"path": relative_to(path, base), "sha256": sha256(path.read_bytes())}
            for path in loaded.input_files()
        ],
    }


def inputs_manifest(loaded: LoadedFiling) -> bytes:
    return (json.dumps(_manifest_head(loaded), indent=2, sort_keys=True) + "\n").encode("utf-8")


def make_manifest(loaded: LoadedFiling, outputs: dict[Path, bytes]) -> bytes:
    base = loaded.base_dir
    manifest = _manifest_head(loaded) | {
        "outputs": [
            {"path": relative_to(path, base), "sha256": sha256(data)}
            for path, data in sorted(outputs.items())
        ],
    }
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")


def render_outputs(loaded: LoadedFiling, out_dir: Path, options: BuildOptions) -> dict[Path, bytes]:
    context = build_context(loaded)
    outputs: dict[Path, bytes] = {out_dir / SNAPSHOT_NAME: snapshot_bytes(make_snapshot(loaded, context))}
    # Not part of the filing, and written whatever --format says: the answer to "where does
    # this number come from?" must sit beside every build.
    outputs |= evidence_outputs(loaded, context, out_dir)
    pages = render_html(loaded, context)
    for stem, html in pages.items():
        if OutputFormat.HTML in options.formats:
            outputs[out_dir / f"{stem}.html"] = html.encode("utf-8")
        if OutputFormat.PDF in options.formats:
            outputs[out_dir / f"{stem}.pdf"] = _pdf(loaded, html, options.pdf_variant)
    if options.edgar:
        outputs |= edgar_outputs(loaded, pages, out_dir / EDGAR_DIR, allow_draft=options.allow_draft)
    return outputs


def build(
    filing_path: Path,
    out_dir: Path,
    formats: frozenset[OutputFormat] | BuildOptions = frozenset(OutputFormat),
) -> BuildResult:
    """Render everything in memory, then replace the files; a failure writes nothing."""
    options = formats if isinstance(formats, BuildOptions) else BuildOptions(formats=formats)
    loaded = load_filing(filing_path)
    if options.edgar and loaded.filing.presentation.draft and not options.allow_draft:
        raise InputError([_draft_edgar_problem(loaded)])
    outputs = render_outputs(loaded, out_dir, options)
    outputs[out_dir / MANIFEST] = make_manifest(loaded, outputs)
    with locked_folder(out_dir):
        for path, data in outputs.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data)
        removed = _remove_stale(out_dir, set(outputs))
    return BuildResult(
        out_dir=out_dir,
        written=list(outputs),
        removed=removed,
        deadline=filing_deadline(loaded.filing.reporting_year),
        warnings=loaded.warnings,
    )


def _draft_edgar_problem(loaded: LoadedFiling) -> Problem:
    message = (
        "is true, and an EDGAR package is what gets filed: set presentation.draft to false for "
        "the copy to file, or give --allow-draft for a test package"
    )
    where = ("presentation", "draft")
    if loaded.filing_yaml is not None:
        return loaded.filing_yaml.problem(where, message)
    return Problem(loaded.filing_path.name, None, None, "presentation.draft", message)


def _remove_stale(out_dir: Path, current: set[Path]) -> list[Path]:
    """Drop documents an earlier build wrote that this one does not (a CMR after switching to
    rcoi_only, a PDF after `--format html`), so the folder matches its manifest."""
    candidates = [out_dir / f"{spec.stem}.{fmt.value}" for spec in ALL_DOCUMENTS for fmt in OutputFormat]
    edgar = out_dir / EDGAR_DIR
    if edgar.is_dir():
        candidates += sorted(p for p in edgar.iterdir() if p.suffix in (".htm", ".json"))
    removed = []
    for path in candidates:
        if path not in current and path.exists():
            path.unlink()
            removed.append(path)
    return removed
