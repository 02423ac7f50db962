"""The `cmr` command line. Exit codes: 0 ok, 1 invalid input, 2 usage."""

from __future__ import annotations

import contextlib
import datetime
import gc
import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from .filing.dates import long_date
from .filing.deadline import filing_deadline
from .filing.starter import NotAFolder, StarterExists, write_starter
from .outputs import OutputBusy
from .problems import InputError, Problem, Severity

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

app = typer.Typer(
    name="cmr",
    help="Draft the SEC Form SD and Conflict Minerals Report from YAML and supplier survey results.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class FormatChoice(StrEnum):
    HTML = "html"
    PDF = "pdf"


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        typer.echo(str(problem), err=True)


def _fail(error: InputError, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"ok": False, "problems": [p.as_dict() for p in error.problems]}, indent=2))
    _print_problems(error.problems)
    errors = sum(1 for p in error.problems if p.severity is Severity.ERROR)
    typer.echo(f"{errors} error{'s' if errors != 1 else ''} found; nothing was written.", err=True)
    raise typer.Exit(EXIT_INVALID)


def _cannot_write(error: OSError) -> None:
    where = f" {error.filename}" if error.filename else ""
    typer.echo(f"error: cannot write{where}: {error.strerror or error}", err=True)
    raise typer.Exit(EXIT_INVALID)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cmr {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Draft the SEC Form SD and Conflict Minerals Report (Exhibit 1.01)."""


FilingArg = Annotated[
    Path, typer.Argument(metavar="FILING.yaml", help="The company filing YAML.", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder for the new project.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing starter files.")] = False,
) -> None:
    """Write a starter project (filing.yaml with every field explained, survey.yaml) that builds as is."""
    try:
        written = write_starter(directory, force=force)
    except StarterExists as exists:
        typer.echo(f"{exists}: already exists (use --force to overwrite)", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except NotAFolder as problem:
        typer.echo(f"{problem}: is a file, not a folder; give a folder for the new project", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except OSError as error:
        _cannot_write(error)
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"next: cmr build {directory / 'filing.yaml'}")


@app.command()
def validate(filing: FilingArg, as_json: JsonOpt = False) -> None:
    """Check everything `build` would read and print every problem found."""
    from .filing.loader import load_filing  # here: `ingest` does not need the filing's models

    try:
        loaded = load_filing(filing)
        # The templates too: an override folder's syntax error or sandbox breach shows here.
        from .build import render_html
        from .report.context import build_context

        render_html(loaded, build_context(loaded))
    except InputError as error:
        _fail(error, as_json)
        return
    deadline = long_date(filing_deadline(loaded.filing.reporting_year))
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": True,
                    "reporting_year": loaded.filing.reporting_year,
                    "filing_deadline": filing_deadline(loaded.filing.reporting_year).isoformat(),
                    "problems": [p.as_dict() for p in loaded.warnings],
                },
                indent=2,
            )
        )
    _print_problems(loaded.warnings)
    typer.echo(
        f"{filing}: valid ({loaded.filing.mode.value}, reporting year {loaded.filing.reporting_year}, "
        f"{len(loaded.survey.smelters)} smelters and refiners); filing deadline {deadline}",
        err=as_json,
    )


def default_out_dir(filing: Path) -> Path:
    """output/<folder of the filing>, e.g. output/acme-2025 for sample_inputs/acme-2025/filing.yaml."""
    name = filing.resolve().parent.name
    return Path("output") / (name or "filing")


@app.command("build")
def build_command(
    filing: FilingArg,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="DIR", help="Output folder [default: output/<filing folder>]."),
    ] = None,
    formats: Annotated[
        list[FormatChoice] | None,
        typer.Option("--format", "-f", help="Limit the outputs to html or pdf (repeatable)."),
    ] = None,
    pdf_variant: Annotated[
        str | None,
        typer.Option(
            metavar="VARIANT", help="PDF variant: pdf/a-3b (embeds the survey and manifest), pdf/ua-1, ..."
        ),
    ] = None,
    edgar: Annotated[
        bool,
        typer.Option("--edgar", help="Also write DIR/edgar/: the EDGAR .htm documents and submission.json."),
    ] = False,
    allow_draft: Annotated[
        bool,
        typer.Option("--allow-draft", help="Let --edgar write a test package from a draft filing."),
    ] = False,
    jobs: Annotated[
        int | None, typer.Option(min=1, help="Processes rendering the PDFs at once [default: all cores].")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Render the Form SD and Conflict Minerals Report as HTML and PDF, with manifest.json."""
    # Imported here so `validate` and `init` do not pay for loading WeasyPrint.
    from .build import BuildOptions, OutputFormat, build
    from .report.pdf import PDF_VARIANTS

    if pdf_variant is not None and pdf_variant not in PDF_VARIANTS:
        raise typer.BadParameter(f"choose one of {', '.join(PDF_VARIANTS)}", param_hint="--pdf-variant")

    # The objects made by importing WeasyPrint live for the whole run; moving them out of the
    # cyclic garbage collector's view makes layout about 8% faster (see benchmarks/).
    gc.freeze()

    out_dir = out if out is not None else default_out_dir(filing)
    chosen = frozenset(OutputFormat(f.value) for f in formats) if formats else frozenset(OutputFormat)
    try:
        options = BuildOptions(
            formats=chosen, pdf_variant=pdf_variant, edgar=edgar, allow_draft=allow_draft, jobs=jobs
        )
        result = build(filing, out_dir, options)
    except InputError as error:
        _fail(error, as_json)
        return
    except OutputBusy as busy:
        typer.echo(f"error: {busy}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except OSError as error:
        _cannot_write(error)
    _print_problems(result.warnings)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": True,
                    "out_dir": str(result.out_dir),
                    "written": [str(p) for p in result.written],
                    "removed": [str(p) for p in result.removed],
                    "problems": [p.as_dict() for p in result.warnings],
                    "filing_deadline": result.deadline.isoformat(),
                },
                indent=2,
            )
        )
        return
    for path in result.written:
        typer.echo(f"wrote {path}")
    for path in result.removed:
        typer.echo(f"removed stale {path}")
    typer.echo(f"filing deadline: {long_date(result.deadline)}", err=True)


def _default_year() -> int:
    return datetime.date.today().year - 1


class _Progress:
    """A progress bar on a terminal; one plain line per stage elsewhere (CI, pipes)."""

    def __init__(self) -> None:
        self.interactive = sys.stderr.isatty() and not os.environ.get("CI")
        self.bar = None
        self.task = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.interactive and stage == "read" and total:
            if self.bar is None:
                from rich.progress import Progress

                self.bar = Progress(transient=True)
                self.bar.start()
                self.task = self.bar.add_task("reading workbooks", total=total)
            self.bar.update(self.task, completed=done)
            return
        if self.bar is not None and stage != "read":
            self.bar.stop()
            self.bar = None
        if stage == "read":
            return
        typer.echo(f"ingest: {stage} {done} file{'s' if done != 1 else ''}", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _parse_day(value: str | None, option: str) -> datetime.date | None:
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


@app.command()
def ingest(
    suppliers_dir: Annotated[
        Path, typer.Argument(metavar="SUPPLIERS_DIR", help="Folder of supplier CMRT/EMRT workbooks.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="SURVEY.yaml", help="Survey results to write.")],
    status: Annotated[
        Path | None, typer.Option(metavar="FILE", help="RMAP status list CSV (CID, status, as-of date).")
    ] = None,
    status_as_of: Annotated[
        str | None,
        typer.Option(metavar="YYYY-MM-DD", help="Date of the status list, if it has no date column."),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Smelter reference list (CSV or template) [default: newest template found]."
        ),
    ] = None,
    roster: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="CSV of suppliers surveyed, for the true response rate."),
    ] = None,
    findings: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Write findings.html and findings.csv here.")
    ] = None,
    details: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Write one JSON file per workbook here.")
    ] = None,
    year: Annotated[
        int | None, typer.Option(min=2013, max=2100, help="Reporting year [default: last calendar year].")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(metavar="YYYY-MM-DD", help="Date for 'effective date in the future' [default: today]."),
    ] = None,
    jobs: Annotated[int | None, typer.Option(min=1, help="Worker processes [default: all cores].")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Read every file again.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any finding is an error.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Read supplier workbooks, check them, and write the survey results `build` reads."""
    from .ingest.discover import printable
    from .ingest.pipeline import IngestOptions, run_ingest
    from .ingest.runner import default_cache_dir
    from .ingest.stopping import Interrupted, stop_on_signals

    options = IngestOptions(
        folder=suppliers_dir,
        out=out,
        reporting_year=year or _default_year(),
        as_of=_parse_day(as_of, "--as-of") or datetime.date.today(),
        status=status,
        status_as_of=_parse_day(status_as_of, "--status-as-of"),
        reference=reference,
        roster=roster,
        findings_dir=findings,
        details_dir=details,
        jobs=jobs or os.cpu_count() or 1,
        cache_dir=None if no_cache else default_cache_dir(),
    )
    progress = _Progress()
    try:
        with stop_on_signals():
            outcome = run_ingest(options, progress)
    except Interrupted as stop:
        progress.close()
        state = "the outputs had all been written" if stop.outputs_written else "nothing was written"
        typer.echo(f"ingest: stopped by {stop.signal_name}; {state}", err=True)
        raise typer.Exit(stop.exit_code) from None
    except InputError as error:
        progress.close()
        _fail(error, as_json)
        return
    except OutputBusy as busy:
        progress.close()
        typer.echo(f"error: {busy}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except OSError as error:
        progress.close()
        _cannot_write(error)
    progress.close()
    for finding in outcome.unreadable:
        typer.echo(f"{finding.file}: {finding.code}: {finding.message}", err=True)
    counts = {
        s: sum(1 for f in outcome.findings if f.severity.value == s) for s in ("error", "warning", "info")
    }
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": not outcome.unreadable and not (strict and counts["error"]),
                    "files": outcome.files_found,
                    "unreadable": [f.model_dump(mode="json") for f in outcome.unreadable],
                    "findings": counts,
                    "written": [str(p) for p in outcome.written],
                },
                indent=2,
            )
        )
    else:
        for path in outcome.written:
            if path.suffix != ".json":
                typer.echo(f"wrote {printable(str(path))}")
    typer.echo(
        f"ingest: {outcome.files_found} files, {len(outcome.unreadable)} unreadable; findings: "
        f"{counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes "
        f"({outcome.seconds:.1f} s)",
        err=True,
    )
    if outcome.unreadable or (strict and counts["error"]):
        raise typer.Exit(EXIT_INVALID)


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(metavar="OLD", help="Old filing YAML or cmr build output folder.")],
    new: Annotated[Path, typer.Argument(metavar="NEW", help="New filing YAML or cmr build output folder.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="DIR", help="Folder for diff.html, diff.pdf, diff.json.")
    ],
    formats: Annotated[
        list[FormatChoice] | None,
        typer.Option(
            "--format", "-f", help="Limit the redline to html or pdf (diff.json is always written)."
        ),
    ] = None,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when anything differs, 0 when nothing does.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Compare two filings: data changes keyed by smelter ID and a word-level redline of the text."""
    from .diff.compare import compare, diff_html, diff_json, diff_pdf
    from .outputs import locked_folder, replace_together

    gc.freeze()
    chosen = {f.value for f in formats} if formats else {"html", "pdf"}
    try:
        comparison = compare(old, new)
    except InputError as error:
        _fail(error, as_json)
        return
    outputs = {out / "diff.json": diff_json(comparison)}
    html = diff_html(comparison)
    if "html" in chosen:
        outputs[out / "diff.html"] = html.encode("utf-8")
    if "pdf" in chosen:
        outputs[out / "diff.pdf"] = diff_pdf(html, comparison)
    named = {side.parent.resolve() / side.name: side for side in (old, new)}
    for path in outputs:
        if (side := named.get(path.parent.resolve() / path.name)) is not None:
            problem = Problem(str(path), None, None, "", f"the output would overwrite the input {side}")
            _fail(InputError([problem]), as_json)
    try:
        with locked_folder(out):
            replace_together(outputs)
    except OutputBusy as busy:
        typer.echo(f"error: {busy}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except OSError as error:
        _cannot_write(error)
    summary = comparison.summary()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": True,
                    "differs": comparison.differs,
                    "summary": summary,
                    "written": [str(p) for p in outputs],
                },
                indent=2,
            )
        )
    else:
        for path in outputs:
            typer.echo(f"wrote {path}")
    changes = ", ".join(
        f"{value} {key.replace('_', ' ')}" for key, value in summary.items() if value and key != "total"
    )
    typer.echo(f"diff: {changes or 'no differences'}", err=True)
    if exit_code and comparison.differs:
        raise typer.Exit(EXIT_INVALID)


@app.command("check-edgar")
def check_edgar(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="EDGAR .htm documents to check.")],
    as_json: JsonOpt = False,
) -> None:
    """Check HTML documents against EDGAR's rules; print each problem with its line and a fix."""
    from .edgar.lint import lint_html
    from .filing.inputs import MAX_ASSET_BYTES, read_input_file

    problems = []
    for path in files:
        try:
            data = read_input_file(path, MAX_ASSET_BYTES, str(path))
        except InputError as error:
            _print_problems(error.problems)
            raise typer.Exit(EXIT_INVALID) from None
        problems += lint_html(data, str(path), path.parent)
    if as_json:
        typer.echo(json.dumps([vars(p) for p in problems], indent=2))
    for problem in problems:
        typer.echo(str(problem), err=as_json)
    typer.echo(
        f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {len(files)} file(s)", err=True
    )
    if problems:
        raise typer.Exit(EXIT_INVALID)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            _exit_now(done.code or 0)
        raise


def _exit_now(code: int) -> None:
    """End the process without the interpreter's teardown: every output is written and closed
    by now, and freeing the run's objects one by one took a tenth of a second (ingest), for
    nothing. Only the console streams still hold anything."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
