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
from .manifest import NotAManifest, inputs_manifest, make_manifest, read_manifest
from .outputs import rename_target, write_locked
from .problems import InputError, Problem, Severity, display_path
from .report.consistency import check_documents
from .report.context import build_context
from .report.evidence import evidence_outputs
from .report.html import render_html
from .report.parallel import Job, run_jobs
from .report.snapshot import make_snapshot, snapshot_bytes
from .report.templating import FONT_STYLESHEET, builtin_theme_dir

if TYPE_CHECKING:
    from .report.pdf import EmbeddedFile, Rendered

WARNING = Severity.WARNING


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


def _embedded_files(loaded: LoadedFiling, variant: str | None) -> list[EmbeddedFile]:
    """PDF/A-3 copies carry the survey results and the manifest of the inputs.

    The manifest embedded is the inputs half: a PDF cannot carry its own hash."""
    from .report.pdf import EmbeddedFile

    if variant not in ATTACHING_VARIANTS:
        return []
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


def document_pdf(loaded: LoadedFiling, html: str, variant: str | None = None) -> bytes:
    """One document's PDF from its HTML, with the filing's assets and fonts only (also used by
    `cmr serve`); a refused asset is an InputError naming the filing."""
    return _rendered_pdf(loaded, html, variant).pdf


def _rendered_pdf(
    loaded: LoadedFiling, html: str, variant: str | None, check_as: str | None = None
) -> Rendered:
    from .report.pdf import AssetRefused, render_document

    theme = builtin_theme_dir()
    roots = [theme] + ([loaded.template_dir] if loaded.template_dir else [])
    if loaded.css_path is not None:
        roots.append(loaded.css_path.parent)
    try:
        return render_document(
            html,
            base_url=loaded.template_dir or theme,
            font_stylesheet=theme / FONT_STYLESHEET,
            asset_roots=roots,
            document_date=loaded.filing.signature.date,
            variant=variant,
            embedded=_embedded_files(loaded, variant),
            check_as=check_as,
        )
    except AssetRefused as refused:
        raise InputError([Problem(str(loaded.filing_path.name), None, None, "", str(refused))]) from None


def _checked_pdf(
    loaded: LoadedFiling, html: str, variant: str | None, name: str
) -> tuple[bytes, list[Problem]]:
    """A document's PDF and the layout check's faults on its pages, as warnings naming the
    document and the page."""
    rendered = _rendered_pdf(loaded, html, variant, check_as=name)
    warnings = [
        Problem(fault.document, None, None, f"page {fault.page}", f"{fault.message} [{fault.rule}]", WARNING)
        for fault in rendered.faults
    ]
    return rendered.pdf, warnings


def _docx_bytes(loaded: LoadedFiling, doc: Document, html: str) -> tuple[bytes, list[Problem]]:
    from .word.docx import docx_bytes  # python-docx and Pillow: only for Word output

    return docx_bytes(html, doc.file_name(OutputFormat.HTML), loaded.filing.signature.date), []


# Laying out a PDF costs about three times what writing the same document in Word does; the
# jobs are shared out between the processes by these weights times the document's length.
_COST = {OutputFormat.PDF: 1.0, OutputFormat.DOCX: 0.3}


def render_outputs(
    loaded: LoadedFiling, out_dir: Path, options: BuildOptions, warnings: list[Problem] | None = None
) -> dict[Path, bytes]:
    """Every output's bytes; the layout check's faults are added to `warnings`."""
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
    if any(output_format is OutputFormat.PDF for _, output_format in written):
        from .report import pdf  # noqa: F401 - WeasyPrint, loaded before the fork, only for PDFs
    jobs = []
    for doc, output_format in written:
        if output_format is OutputFormat.HTML:
            outputs[out_dir / doc.file_name(output_format)] = pages[doc.stem].encode("utf-8")
            continue
        html = pages[doc.stem]
        if output_format is OutputFormat.PDF:
            run = partial(_checked_pdf, loaded, html, options.pdf_variant, doc.file_name(output_format))
        else:
            run = partial(_docx_bytes, loaded, doc, html)
        jobs.append((doc.file_name(output_format), Job(run, _COST[output_format] * len(html))))
    # The PDFs and Word files at once, one process per core: the Word files are written beside
    # the PDFs' renders, not after them.
    for (name, _), (data, found) in zip(jobs, run_jobs([job for _, job in jobs], options.jobs), strict=True):
        outputs[out_dir / name] = data
        if warnings is not None:
            warnings += found
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
    layout: list[Problem] = []
    outputs = render_outputs(loaded, out_dir, options, layout)
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
        warnings=loaded.warnings + layout,
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
