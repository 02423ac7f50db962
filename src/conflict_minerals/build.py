"""`cmr build`: filing YAML -> validated model -> context -> HTML -> PDF, plus a manifest."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import partial
from pathlib import Path

import weasyprint

from . import __version__
from .edgar.package import EDGAR_DIR, edgar_outputs
from .filing.deadline import filing_deadline
from .filing.inputs import MAX_ASSET_BYTES, read_input_file, read_input_text
from .filing.loader import LoadedFiling, load_filing
from .filing.yamlio import MAX_YAML_BYTES
from .outputs import clear_stale_temporaries, locked_folder, replace_together
from .problems import InputError, Problem, display_path
from .report.context import DocumentContext, build_context
from .report.evidence import evidence_outputs
from .report.pdf import ATTACHING_VARIANTS, AssetRefused, EmbeddedFile, render_all, render_pdf
from .report.snapshot import SNAPSHOT_NAME, make_snapshot, snapshot_bytes
from .report.templating import (
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
# 2: outputs are named relative to the manifest's folder (1: relative to the filing's folder).
MANIFEST_VERSION = 2


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
        css += "\n/* presentation.css */\n" + read_input_text(loaded.css_path)
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
    # Processes rendering the PDFs at once; None: one per core. The bytes are the same.
    jobs: int | None = None


def _embedded_files(loaded: LoadedFiling, variant: str | None) -> list[EmbeddedFile]:
    """PDF/A-3 copies carry the survey results and the manifest of the inputs.

    The manifest embedded is the inputs half: a PDF cannot carry its own hash."""
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


def input_digests(loaded: LoadedFiling) -> list[dict[str, str]]:
    """Each input's path relative to the filing's folder and its sha256."""
    base = loaded.base_dir
    return [
        {"path": relative_to(path, base), "sha256": sha256(read_input_file(path, MAX_ASSET_BYTES))}
        for path in loaded.input_files()
    ]


def _manifest_head(loaded: LoadedFiling) -> dict:
    base = loaded.base_dir
    return {
        "manifest_version": MANIFEST_VERSION,
        "tool": {"name": "conflict-minerals", "version": __version__},
        "weasyprint": weasyprint.__version__,
        "filing": relative_to(loaded.filing_path, base),
        "reporting_year": loaded.filing.reporting_year,
        "mode": loaded.filing.mode.value,
        "inputs": input_digests(loaded),
    }


def inputs_manifest(loaded: LoadedFiling) -> bytes:
    return (json.dumps(_manifest_head(loaded), indent=2, sort_keys=True) + "\n").encode("utf-8")


def make_manifest(loaded: LoadedFiling, out_dir: Path, outputs: dict[Path, bytes]) -> bytes:
    """Inputs relative to the filing's folder; outputs relative to the manifest's own folder, so
    the same build into any folder gives the same manifest, and a moved folder still checks."""
    manifest = _manifest_head(loaded) | {
        "outputs": [
            {"path": path.relative_to(out_dir).as_posix(), "sha256": sha256(data)}
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
    pdfs: dict[str, bytes] = {}
    if OutputFormat.PDF in options.formats:
        renders = [partial(_pdf, loaded, html, options.pdf_variant) for html in pages.values()]
        pdfs = dict(zip(pages, render_all(renders, options.jobs), strict=True))
    for stem, html in pages.items():
        if OutputFormat.HTML in options.formats:
            outputs[out_dir / f"{stem}.html"] = html.encode("utf-8")
        if stem in pdfs:
            outputs[out_dir / f"{stem}.pdf"] = pdfs[stem]
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
    refuse_overwriting_inputs(loaded, out_dir, outputs)
    manifest = out_dir / MANIFEST
    outputs[manifest] = make_manifest(loaded, out_dir, outputs)
    with locked_folder(out_dir):
        if (out_dir / EDGAR_DIR).is_dir():
            clear_stale_temporaries(out_dir / EDGAR_DIR)
        stale = [path for path in previous_outputs(out_dir, loaded.base_dir) if path not in outputs]
        replace_together(outputs, remove=stale, last=manifest)
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


def _lexical(path: Path) -> Path:
    """The path with its folder resolved but not its last part: what a rename would replace."""
    return path.parent.resolve() / path.name


def refuse_overwriting_inputs(loaded: LoadedFiling, out_dir: Path, outputs: dict[Path, bytes]) -> None:
    """`--out` may be the filing's own folder, but no output may replace an input, and the
    outputs may not land among the templates (the next build would read them as templates)."""
    inputs = {}
    for path in loaded.input_files():
        inputs[path.resolve()] = path
        inputs[_lexical(path)] = path
    problems = []
    for output in [*outputs, out_dir / MANIFEST]:
        if (source := inputs.get(_lexical(output))) is not None:
            message = f"the output would overwrite the input {display_path(source)}; choose another --out"
            problems.append(Problem(display_path(output), None, None, "", message))
    template_dir = loaded.template_dir
    if template_dir is not None and out_dir.resolve().is_relative_to(template_dir.resolve()):
        message = "is inside presentation.template_dir; choose an output folder outside the templates"
        problems.append(Problem(display_path(out_dir), None, None, "", message))
    if problems:
        raise InputError(problems)


# The files a build writes, relative to its folder: only these are ever removed as stale.
_OWN_OUTPUT = re.compile(
    r"(form-sd|conflict-minerals-report)\.(html|pdf)|filing-data\.json"
    r"|evidence\.(json|html)|edgar/(formsd|ex1-01)-\d{4}\.htm|edgar/submission\.json"
)


def previous_outputs(out_dir: Path, filing_dir: Path) -> list[Path]:
    """The files the previous build's manifest lists, for removing those this build no longer makes
    (a CMR after switching to rcoi_only, a PDF after `--format html`).

    Only names this tool writes, inside the folder, are taken: anything else there (another
    tool's `edgar/file.json`, a forged manifest's `../notes.txt`) is left alone. An unreadable
    manifest removes nothing."""
    try:
        manifest = json.loads(read_input_text(out_dir / MANIFEST))
        version = manifest.get("manifest_version")
        entries = [str(entry["path"]) for entry in manifest["outputs"]]
    except (InputError, ValueError, KeyError, TypeError, AttributeError):
        return []
    # Manifests before version 2 gave outputs relative to the filing's folder.
    base = out_dir if version == MANIFEST_VERSION else filing_dir
    folder = out_dir.resolve()
    found = []
    for entry in entries:
        try:
            relative = _lexical(base / entry).relative_to(folder).as_posix()
        except (ValueError, OSError, RuntimeError):
            continue
        if _OWN_OUTPUT.fullmatch(relative):
            found.append(out_dir / relative)
    return sorted(set(found))
