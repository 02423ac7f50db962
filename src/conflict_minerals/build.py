"""`cmr build` and `cmr validate`: filing YAML -> validated model -> context -> HTML -> PDF and Word,
plus the evidence, the figures as data and the manifest.

WeasyPrint (PDF) and lxml (EDGAR) are imported where they are used, so `validate`, which
renders the HTML and writes nothing, never loads them.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from .cache.render import PdfJob, RenderCache, docx_key, pdf_key
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
from .outputs import refuse_unusable_outputs, rename_target, write_locked
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
    return _rendered_pdf(loaded, html, variant, record=record).pdf


def _rendered_pdf(
    loaded: LoadedFiling,
    html: str,
    variant: str | None,
    check_as: str | None = None,
    record: dict[str, str] | None = None,
) -> Rendered:
    from .report.pdf import AssetRefused, RenderTooLong, render_document

    job = pdf_job(loaded, html, variant)
    try:
        return render_document(
            html,
            base_url=job.base_url,
            font_stylesheet=job.font_stylesheet,
            asset_roots=job.asset_roots,
            document_date=job.document_date,
            variant=variant,
            embedded=_embedded_files(loaded, variant),
            check_as=check_as,
            record=record,
        )
    except (AssetRefused, RenderTooLong) as refused:
        raise InputError([Problem(str(loaded.filing_path.name), None, None, "", str(refused))]) from None


def _checked_pdf(
    loaded: LoadedFiling, html: str, variant: str | None, name: str, store: _Store
) -> tuple[bytes, list[Problem]]:
    """A document's PDF and the layout check's faults on its pages, as warnings naming the
    document and the page; stored in the render cache with them, where this runs (perhaps a
    forked process)."""
    loaded_files: dict[str, str] = {}
    rendered = _rendered_pdf(loaded, html, variant, check_as=name, record=loaded_files)
    warnings = [
        Problem(fault.document, None, None, f"page {fault.page}", f"{fault.message} [{fault.rule}]", WARNING)
        for fault in rendered.faults
    ]
    store.put(rendered.pdf, loaded_files, warnings)
    return rendered.pdf, warnings


def _docx_bytes(loaded: LoadedFiling, doc: Document, html: str, store: _Store) -> tuple[bytes, list[Problem]]:
    from .word.docx import docx_bytes  # python-docx and Pillow: only for Word output

    data = docx_bytes(html, doc.file_name(OutputFormat.HTML), loaded.filing.signature.date)
    store.put(data)
    return data, []


@dataclass(frozen=True)
class _Store:
    """Where a rendered document goes in the render cache (nowhere with --no-cache)."""

    cache: RenderCache | None = None
    key: str = ""

    def get(self, roots: tuple[Path, ...] = ()) -> tuple[bytes, list[Problem]] | None:
        """The stored document and the layout warnings it was rendered with, if still valid."""
        entry = self.cache.entry(self.key, roots) if self.cache is not None else None
        if entry is None:
            return None
        return entry.data, [
            Problem(**{**note, "severity": Severity(note["severity"])}) for note in entry.notes
        ]

    def put(self, data: bytes, loaded: dict[str, str] | None = None, warnings: list[Problem] = ()) -> None:
        if self.cache is not None:
            notes = [{**w.as_dict(), "severity": WARNING} for w in warnings]
            self.cache.put(self.key, data, loaded, notes)


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
    cache, jobs, pdf_to_render = options.render_cache, [], False
    for doc, output_format in written:
        name = doc.file_name(output_format)
        if output_format is OutputFormat.HTML:
            outputs[out_dir / name] = pages[doc.stem].encode("utf-8")
            continue
        html = pages[doc.stem]
        if output_format is OutputFormat.PDF:
            job = pdf_job(loaded, html, options.pdf_variant)
            store = _Store(cache, pdf_key(job)) if cache is not None else _Store()
            found = store.get(job.asset_roots)
            run = partial(_checked_pdf, loaded, html, options.pdf_variant, name, store)
        else:
            signed = loaded.filing.signature.date
            key = docx_key(html, doc.file_name(OutputFormat.HTML), signed) if cache is not None else ""
            store = _Store(cache, key)
            found = store.get()
            run = partial(_docx_bytes, loaded, doc, html, store)
        if found is not None:  # unchanged since it was rendered: taken from the render cache
            outputs[out_dir / name], layout = found
            if warnings is not None:
                warnings += layout
            continue
        pdf_to_render = pdf_to_render or output_format is OutputFormat.PDF
        jobs.append((name, Job(run, _COST[output_format] * len(html))))
    if pdf_to_render:
        from .report import pdf  # noqa: F401 - WeasyPrint, loaded before the fork, only to render a PDF
    if jobs and cache is not None:
        cache.changed = True  # entries are written where the documents are made
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
    refuse_unusable_outputs(named_like_outputs(out_dir), folders=[out_dir, out_dir / EDGAR_DIR])
    loaded = load_filing(filing_path)
    if options.edgar and loaded.filing.presentation.draft and not options.allow_draft:
        raise InputError([_draft_edgar_problem(loaded)])
    layout: list[Problem] = []
    outputs = render_outputs(loaded, out_dir, options, layout)
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


def named_like_outputs(out_dir: Path) -> list[Path]:
    """What the output folder holds under a name a build writes (whatever this build writes):
    each must be a regular file for the build to go ahead."""
    found = []
    for folder, prefix in ((out_dir, ""), (out_dir / EDGAR_DIR, f"{EDGAR_DIR}/")):
        try:
            names = os.listdir(folder)
        except OSError:  # not there yet, or not a folder (refused on its own)
            continue
        found += [
            folder / name
            for name in sorted(names)
            if OWN_OUTPUT.fullmatch(prefix + name) or prefix + name == MANIFEST
        ]
    return found


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
    return sorted(
        {
            out_dir / relative
            for relative in listed
            # A FIFO or a device that took a listed name since is not what the build wrote.
            if OWN_OUTPUT.fullmatch(relative) and _is_regular(out_dir / relative)
        }
    )


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
