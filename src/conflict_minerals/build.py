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

from .cache.render import RenderCache, docx_key, pdf_key
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
from .report.consistency import check_documents, checked_warnings
from .report.context import build_context
from .report.evidence import evidence_outputs
from .report.html import render_html
from .report.parallel import Job, Prestarted, run_jobs
from .report.pdfrequest import PdfJob, PdfRequest, RenderedPdf
from .report.snapshot import make_snapshot, snapshot_bytes
from .report.templating import FONT_STYLESHEET, builtin_theme_dir

if TYPE_CHECKING:
    from .report.context import DocumentContext

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
    # A process forked before the filing was loaded, WeasyPrint imported there meanwhile: it
    # renders the longest PDF (`cmr build` starts it; the caller stops it).
    renderer: Prestarted | None = None


def _embedded_files(loaded: LoadedFiling, variant: str | None) -> tuple[tuple[str, bytes, str], ...]:
    """(name, data, description) of each file a PDF/A-3 copy carries: the survey results and the
    manifest of the inputs. The manifest embedded is the inputs half: a PDF cannot carry its own hash."""
    if variant not in ATTACHING_VARIANTS:
        return ()
    return (
        (
            loaded.survey_path.name,
            read_input_file(loaded.survey_path, MAX_YAML_BYTES),
            "Supplier survey results",
        ),
        ("inputs-manifest.json", inputs_manifest(loaded), "Tool versions and sha256 of every input"),
    )


def pdf_job(
    loaded: LoadedFiling, html: str, variant: str | None, embedded: tuple[tuple[str, bytes, str], ...]
) -> PdfJob:
    """What a document's PDF is rendered from (and keyed on in the render cache); `embedded`:
    its PDF/A-3 attachments (_embedded_files)."""
    theme = builtin_theme_dir()
    roots = [theme] + ([loaded.template_dir] if loaded.template_dir else [])
    if loaded.css_path is not None:
        roots.append(loaded.css_path.parent)
    attachments = tuple((name, sha256(data), note) for name, data, note in embedded)
    return PdfJob(
        html=html,
        base_url=loaded.template_dir or theme,
        font_stylesheet=theme / FONT_STYLESHEET,
        asset_roots=tuple(roots),
        document_date=loaded.filing.signature.date,
        variant=variant,
        attachments=attachments,
    )


def pdf_request(
    loaded: LoadedFiling, html: str, variant: str | None, check_as: str | None = None
) -> PdfRequest:
    """A document's PDF render as plain data (it may run in a process that holds no filing)."""
    embedded = _embedded_files(loaded, variant)
    return PdfRequest(
        job=pdf_job(loaded, html, variant, embedded),
        embedded=embedded,
        check_as=check_as,
        filing_name=loaded.filing_path.name,
    )


def document_pdf(
    loaded: LoadedFiling, html: str, variant: str | None = None, record: dict[str, str] | None = None
) -> bytes:
    """One document's PDF from its HTML, with the filing's assets and fonts only (also used by
    `cmr serve`); a refused asset is an InputError naming the filing. `record` gets the sha256
    of every file the render loaded."""
    rendered = pdf_request(loaded, html, variant)()
    if record is not None:
        record.update(rendered.loaded)
    return rendered.pdf


def _checked_pdf(request: PdfRequest, store: _Store) -> tuple[bytes, list[Problem]]:
    """A document's PDF and the layout check's faults on its pages, as warnings naming the
    document and the page; stored in the render cache with them."""
    return _stored_pdf(request(), store)


def _stored_pdf(rendered: RenderedPdf, store: _Store) -> tuple[bytes, list[Problem]]:
    """The PDF and its layout faults as warnings, put in the render cache (where this runs)."""
    warnings = [
        Problem(fault.document, None, None, f"page {fault.page}", f"{fault.message} [{fault.rule}]", WARNING)
        for fault in rendered.faults
    ]
    store.put(rendered.pdf, rendered.loaded, warnings)
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
    roots: tuple[Path, ...] = ()  # the folders a PDF's assets were loaded from

    def get(self) -> tuple[bytes, list[Problem]] | None:
        """The stored document and the layout warnings it was rendered with, if still valid."""
        entry = self.cache.entry(self.key, self.roots) if self.cache is not None else None
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
# The check of the documents' words and the evidence each take about 2% of what laying out
# the same length of HTML does.
_SIDE_COST = 0.02


def render_outputs(
    loaded: LoadedFiling, out_dir: Path, options: BuildOptions, warnings: list[Problem] | None = None
) -> dict[Path, bytes]:
    """Every output's bytes; the layout check's faults are added to `warnings` (in the documents'
    order), the consistency check's to the filing's."""
    context = build_context(loaded)
    pages = render_html(loaded, context)
    documents: dict[Path, bytes] = {}  # in the documents' order; a rendered one is filled in below
    layouts: dict[Path, list[Problem]] = {}
    renders: list[_Render] = []
    for doc, output_format in _written(context, options):
        path, html = out_dir / doc.file_name(output_format), pages[doc.stem]
        documents[path] = html.encode("utf-8") if output_format is OutputFormat.HTML else b""
        if output_format is OutputFormat.HTML:
            continue
        request = None
        if output_format is OutputFormat.PDF:
            request = pdf_request(loaded, html, options.pdf_variant, check_as=path.name)
        store = _cache_store(loaded, doc, html, options.render_cache, request)
        found = store.get()
        if found is not None:  # unchanged since it was rendered: taken from the render cache
            documents[path], layouts[path] = found
        else:
            renders.append(_render(loaded, path, doc, html, request, store))
    away = _hand_over(renders, options.renderer)
    here = [render for render in renders if render is not away]
    if any(render.request is not None for render in here):
        from .report import pdf  # noqa: F401 - WeasyPrint, loaded before the fork, only to render a PDF
    if renders and options.render_cache is not None:
        options.render_cache.changed = True  # entries are written where the documents are made
    # What the documents say is read back and compared with the figures beside the renders (in
    # the forked helper when there is one, off the longest render's way): nothing is written
    # before every job is done, and the check's error is raised before any render's (job order).
    side = _SIDE_COST * sum(len(html) for html in pages.values())
    jobs = [
        Job(partial(_snapshot_bytes, loaded, context), side / 4),
        Job(partial(evidence_outputs, loaded, context, out_dir), side),
        Job(partial(checked_warnings, loaded, context, pages), side),
    ]
    # The PDFs and Word files at once, one process per core: the Word files are written beside
    # the PDFs' renders, not after them. With nothing to render, a helper would cost more than it saves.
    processes = max(1, _processes(options) - (away is not None)) if here else 1
    done = run_jobs(jobs + [render.job for render in here], processes)
    snapshot, evidence, loaded.warnings = done[:3]
    for render, (data, layout) in zip(here, done[3:], strict=True):
        documents[render.path], layouts[render.path] = data, layout
    if away is not None and options.renderer is not None:
        result = options.renderer.result()
        documents[away.path], layouts[away.path] = _stored_pdf(result, away.store)
    if warnings is not None:
        warnings += [problem for path in documents for problem in layouts.get(path, [])]
    # Not part of the filing, and written whatever --format says: the answer to "where does
    # this number come from?" must sit beside every build.
    outputs = {out_dir / SNAPSHOT: snapshot} | evidence | documents
    if options.edgar:
        from .edgar.package import edgar_outputs

        outputs |= edgar_outputs(loaded, pages, out_dir / EDGAR_DIR, allow_draft=options.allow_draft)
    return outputs


@dataclass(frozen=True)
class _Render:
    """A PDF or Word file to make: where it goes, the job making it, and for a PDF its request
    (which a prestarted process can run) and where it is kept in the render cache."""

    path: Path
    job: Job
    request: PdfRequest | None = None
    store: _Store = field(default_factory=_Store)


def _render(
    loaded: LoadedFiling, path: Path, doc: Document, html: str, request: PdfRequest | None, store: _Store
) -> _Render:
    """The PDF's render when there is a request, else the Word file's."""
    if request is None:
        job = Job(partial(_docx_bytes, loaded, doc, html, store), _COST[OutputFormat.DOCX] * len(html))
        return _Render(path, job)
    job = Job(partial(_checked_pdf, request, store), _COST[OutputFormat.PDF] * len(html))
    return _Render(path, job, request, store)


def _hand_over(renders: list[_Render], renderer: Prestarted | None) -> _Render | None:
    """The longest PDF's render, sent to the process started for it; None when there is no such
    process or no PDF to render (the process is stopped then: nothing will be sent)."""
    if renderer is None:
        return None
    pdfs = [render for render in renders if render.request is not None]
    if not pdfs:
        renderer.stop()
        return None
    longest = max(pdfs, key=lambda render: render.job.weight)  # the first of equals
    renderer.run(longest.request)
    return longest


def _processes(options: BuildOptions) -> int:
    return options.jobs if options.jobs is not None else len(os.sched_getaffinity(0))


def _written(context: DocumentContext, options: BuildOptions) -> list[tuple[Document, OutputFormat]]:
    """Each document and format the build writes, in the documents' order."""
    return [
        (doc, output_format)
        for doc in documents_for(context.files_cmr, context.audit_exhibit)
        for output_format in doc.formats
        if output_format in options.formats
    ]


def _cache_store(
    loaded: LoadedFiling, doc: Document, html: str, cache: RenderCache | None, request: PdfRequest | None
) -> _Store:
    """Where the document's rendering is kept in the render cache (nowhere with --no-cache): the
    PDF its request makes, else the Word file."""
    if cache is None:
        return _Store()
    if request is not None:
        return _Store(cache, pdf_key(request.job), request.job.asset_roots)
    return _Store(cache, docx_key(html, doc.file_name(OutputFormat.HTML), loaded.filing.signature.date))


def _snapshot_bytes(loaded: LoadedFiling, context: DocumentContext) -> bytes:
    return snapshot_bytes(make_snapshot(loaded, context))


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
