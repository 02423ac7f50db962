"""`cmr build` and `cmr validate`: filing YAML -> validated model -> context -> HTML -> PDF and Word,
plus the evidence, the figures as data and the manifest.

WeasyPrint (PDF) and lxml (EDGAR) are imported where they are used, so `validate`, which
renders the HTML and writes nothing, never loads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from .cache.render import PdfJob, RenderCache, cached_docx, cached_pdfs
from .documents import (
    ATTACHING_VARIANTS,
    EDGAR_DIR,
    MANIFEST,
    OWN_OUTPUT,
    SNAPSHOT,
    Document,
    OutputFormat,
    documents_for,
)
from .filing.deadline import filing_deadline
from .filing.inputs import read_input_file
from .filing.loader import LoadedFiling, load_filing
from .filing.yamlio import MAX_YAML_BYTES
from .manifest import NotAManifest, inputs_manifest, make_manifest, read_manifest, sha256
from .outputs import rename_target, write_locked
from .problems import InputError, Problem, display_path
from .report.consistency import check_documents
from .report.context import build_context
from .report.evidence import evidence_outputs
from .report.html import render_html
from .report.snapshot import make_snapshot, snapshot_bytes
from .report.templating import FONT_STYLESHEET, builtin_theme_dir

if TYPE_CHECKING:
    from .report.pdf import EmbeddedFile


@dataclass
class BuildResult:
    out_dir: Path
    written: list[Path]
    removed: list[Path]
    deadline: date
    warnings: list[Problem] = field(default_factory=list)


@dataclass
class Validated:
    loaded: LoadedFiling
    deadline: date


def validate(filing_path: Path) -> Validated:
    """Everything `build` would read, checked; the documents rendered (an override template's
    syntax error or sandbox breach shows here) and nothing written."""
    loaded = load_filing(filing_path)
    context = build_context(loaded)
    check_documents(loaded, context, render_html(loaded, context))
    return Validated(loaded, filing_deadline(loaded.filing.reporting_year))


@dataclass(frozen=True)
class BuildOptions:
    formats: frozenset[OutputFormat] = frozenset(OutputFormat)
    pdf_variant: str | None = None
    edgar: bool = False
    # An EDGAR package is what gets filed: from a draft filing only when asked for explicitly.
    allow_draft: bool = False
    # Processes rendering the PDFs at once; None: one per core. The bytes are the same.
    jobs: int | None = None
    # Where unchanged documents are taken from (cache/render.py); None: render every one (--no-cache).
    render_cache: RenderCache | None = None


def _embedded_files(loaded: LoadedFiling, variant: str | None) -> list[EmbeddedFile]:
    """PDF/A-3 copies carry the survey results and the manifest of the inputs.

    The manifest embedded is the inputs half: a PDF cannot carry its own hash."""
    if variant not in ATTACHING_VARIANTS:
        return []
    from .report.pdf import EmbeddedFile  # WeasyPrint: not for a PDF the render cache holds

    return [
        EmbeddedFile(
            loaded.survey_path.name,
            read_input_file(loaded.survey_path, MAX_YAML_BYTES),
            "Supplier survey results",
        ),
        EmbeddedFile(
            "inputs-manifest.json", inputs_manifest(loaded), "Tool versions and sha256 of every input"
        ),
    ]


def pdf_job(loaded: LoadedFiling, html: str, variant: str | None = None) -> PdfJob:
    """What a document's PDF is rendered from (and keyed on in the render cache)."""
    theme = builtin_theme_dir()
    roots = [theme] + ([loaded.template_dir] if loaded.template_dir else [])
    if loaded.css_path is not None:
        roots.append(loaded.css_path.parent)
    attachments = tuple((f.name, sha256(f.data), f.description) for f in _embedded_files(loaded, variant))
    return PdfJob(
        html=html,
        base_url=loaded.template_dir or theme,
        font_stylesheet=theme / FONT_STYLESHEET,
        asset_roots=tuple(roots),
        document_date=loaded.filing.signature.date,
        variant=variant,
        attachments=attachments,
    )


def document_pdf(
    loaded: LoadedFiling, html: str, variant: str | None = None, record: dict[str, str] | None = None
) -> bytes:
    """One document's PDF from its HTML, with the filing's assets and fonts only (also used by
    `cmr serve`); a refused asset is an InputError naming the filing. `record` gets the sha256
    of every file the render loaded."""
    from .report.pdf import AssetRefused, render_pdf

    job = pdf_job(loaded, html, variant)
    try:
        return render_pdf(
            html,
            base_url=job.base_url,
            font_stylesheet=job.font_stylesheet,
            asset_roots=job.asset_roots,
            document_date=job.document_date,
            variant=variant,
            embedded=_embedded_files(loaded, variant),
            record=record,
        )
    except AssetRefused as refused:
        raise InputError([Problem(str(loaded.filing_path.name), None, None, "", str(refused))]) from None


def _html_bytes(loaded: LoadedFiling, doc: Document, html: str, options: BuildOptions) -> bytes:
    return html.encode("utf-8")


def _docx_bytes(loaded: LoadedFiling, doc: Document, html: str, options: BuildOptions) -> bytes:
    name, signed = doc.file_name(OutputFormat.HTML), loaded.filing.signature.date

    def render() -> bytes:
        from .word.docx import docx_bytes  # python-docx and Pillow: only for Word output

        return docx_bytes(html, name, signed)

    return cached_docx(options.render_cache, html, name, signed, render)


def _pdf(loaded: LoadedFiling, html: str, options: BuildOptions, record: dict[str, str]) -> bytes:
    return document_pdf(loaded, html, options.pdf_variant, record)


# One writer per format: every document of the table is written from its HTML. PDFs are
# rendered together in render_outputs, in parallel.
_WRITERS = {OutputFormat.HTML: _html_bytes, OutputFormat.DOCX: _docx_bytes}


def render_outputs(loaded: LoadedFiling, out_dir: Path, options: BuildOptions) -> dict[Path, bytes]:
    context = build_context(loaded)
    outputs: dict[Path, bytes] = {out_dir / SNAPSHOT: snapshot_bytes(make_snapshot(loaded, context))}
    # Not part of the filing, and written whatever --format says: the answer to "where does
    # this number come from?" must sit beside every build.
    outputs |= evidence_outputs(loaded, context, out_dir)
    pages = render_html(loaded, context)
    # What the documents say, read back and compared with the figures, before anything is written.
    check_documents(loaded, context, pages)
    written = [
        (doc, output_format)
        for doc in documents_for(context.files_cmr, context.audit_exhibit)
        for output_format in doc.formats
        if output_format in options.formats
    ]
    # The PDFs take most of the time: they are rendered at once, one process per core.
    pdf_docs = [doc for doc, output_format in written if output_format is OutputFormat.PDF]
    pdfs: dict[str, bytes] = {}
    if pdf_docs:
        html = [pages[doc.stem] for doc in pdf_docs]
        variant = options.pdf_variant
        jobs = [(pdf_job(loaded, page, variant), partial(_pdf, loaded, page, options)) for page in html]
        rendered = cached_pdfs(options.render_cache, jobs, options.jobs)
        pdfs = dict(zip((doc.stem for doc in pdf_docs), rendered, strict=True))
    for doc, output_format in written:
        path = out_dir / doc.file_name(output_format)
        if output_format is OutputFormat.PDF:
            outputs[path] = pdfs[doc.stem]
        else:
            outputs[path] = _WRITERS[output_format](loaded, doc, pages[doc.stem], options)
    if options.edgar:
        from .edgar.package import edgar_outputs

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
    if options.render_cache is not None:
        options.render_cache.trim()
    refuse_overwriting_inputs(loaded, out_dir, outputs)
    manifest = out_dir / MANIFEST
    outputs[manifest] = make_manifest(loaded, out_dir, outputs)
    stale = write_locked(
        out_dir,
        outputs,
        # Read under the lock: the previous build's manifest says what it wrote.
        stale=lambda: [path for path in previous_outputs(out_dir, loaded.base_dir) if path not in outputs],
        last=manifest,
        clean=[out_dir / EDGAR_DIR],
    )
    return BuildResult(
        out_dir=out_dir,
        written=list(outputs),
        removed=stale,
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


def refuse_overwriting_inputs(loaded: LoadedFiling, out_dir: Path, outputs: dict[Path, bytes]) -> None:
    """`--out` may be the filing's own folder, but no output may replace an input, and the
    outputs may not land among the templates (the next build would read them as templates)."""
    inputs = {}
    for path in loaded.input_files():
        inputs[path.resolve()] = path
        inputs[rename_target(path)] = path
    problems = []
    for output in [*outputs, out_dir / MANIFEST]:
        if (source := inputs.get(rename_target(output))) is not None:
            message = f"the output would overwrite the input {display_path(source)}; choose another --out"
            problems.append(Problem(display_path(output), None, None, "", message))
    template_dir = loaded.template_dir
    if template_dir is not None and out_dir.resolve().is_relative_to(template_dir.resolve()):
        message = "is inside presentation.template_dir; choose an output folder outside the templates"
        problems.append(Problem(display_path(out_dir), None, None, "", message))
    if problems:
        raise InputError(problems)


def previous_outputs(out_dir: Path, filing_dir: Path) -> list[Path]:
    """The files the previous build's manifest lists, for removing those this build no longer makes
    (a CMR after switching to rcoi_only, a PDF after `--format html`).

    Only names this tool writes (documents.OWN_OUTPUT), inside the folder, are taken: anything
    else there (another tool's `edgar/file.json`, a forged manifest's `../notes.txt`) is left
    alone. An unreadable manifest removes nothing."""
    try:
        listed = read_manifest(out_dir).outputs_inside(filing_dir)
    except (InputError, NotAManifest):
        return []
    return sorted({out_dir / relative for relative in listed if OWN_OUTPUT.fullmatch(relative)})
