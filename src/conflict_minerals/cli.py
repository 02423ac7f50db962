"""The `cmr` command line. Exit codes: 0 ok, 1 invalid input, 2 usage.

Each command parses its options, calls one library function and prints the result; `_reported`
turns every error a command can meet into its message and exit code. The library is imported
inside the commands, so `cmr --help` and `cmr --version` load none of it, and `cmr validate`
never loads WeasyPrint.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from . import __version__
from .documents import PDF_VARIANTS, OutputFormat
from .filing.starter import NotAFolder, StarterExists, write_starter
from .ingest.stopping import Interrupted
from .outputs import OutputBusy
from .problems import InputError, Problem, Severity

if TYPE_CHECKING:
    from .build import BuildOptions
    from .report.parallel import Prestarted

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


class PlainHelpCommand(TyperCommand):
    """Help that names each argument plainly (`FILING.yaml`, `FILE...`), where Typer would print
    `{FILING.yaml}` in the usage line and `FILING.yaml <path>` in the list."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [_plain_name(p) for p in self.get_params(ctx) if p.param_type_name == "argument"]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((_plain_name(param), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _plain_name(param: Any) -> str:
    name = param.metavar or param.name.upper()
    return f"{name}..." if param.nargs != 1 else name


app = typer.Typer(
    name="cmr",
    help="Draft the SEC Form SD and Conflict Minerals Report from YAML and supplier survey results.",
    epilog="Start with `cmr init DIR`, then `cmr build DIR/filing.yaml`. `cmr COMMAND --help` explains each.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _command(name: str, summary: str, example: str) -> Any:
    """A command whose one-line summary is shown whole in `cmr --help` (click cuts a docstring's
    first line at 45 characters) and whose help ends with an example."""
    return app.command(name, cls=PlainHelpCommand, short_help=summary, epilog=f"Example:\n\n\b\n  {example}")


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        typer.echo(str(problem), err=True)


@contextlib.contextmanager
def _reported(as_json: bool = False, writes: bool = True) -> Iterator[None]:
    """Every error a command can meet, as a message on stderr and an exit code; never a traceback.

    `writes`: the command writes files, so invalid input ends with "nothing was written"."""
    try:
        yield
    except InputError as error:
        if as_json:
            typer.echo(json.dumps({"ok": False, "problems": [p.as_dict() for p in error.problems]}, indent=2))
        _print_problems(error.problems)
        if writes:
            errors = sum(1 for p in error.problems if p.severity is Severity.ERROR)
            typer.echo(f"{errors} error{'s' if errors != 1 else ''} found; nothing was written.", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except StarterExists as exists:
        typer.echo(f"{exists}: already exists (use --force to overwrite)", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except NotAFolder as problem:
        typer.echo(f"{problem}: is a file, not a folder; give a folder for the new project", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except OutputBusy as busy:
        typer.echo(f"error: {busy}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        typer.echo(f"error: cannot write{where}: {error.strerror or error}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except Interrupted as stop:
        state = "the outputs had all been written" if stop.outputs_written else "nothing was written"
        typer.echo(f"ingest: stopped by {stop.signal_name}; {state}", err=True)
        raise typer.Exit(stop.exit_code) from None


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
_FORMATS = " or ".join(OutputFormat)


@_command(
    "init",
    "Write a starter project (filing.yaml with every field explained, survey.yaml) that builds as is.",
    "cmr init acme-2025 && cmr build acme-2025/filing.yaml",
)
def init(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder for the new project.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing starter files.")] = False,
) -> None:
    """Write a starter project (filing.yaml with every field explained, survey.yaml) that builds as is."""
    with _reported():
        written = write_starter(directory, force=force)
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"next: cmr build {directory / 'filing.yaml'}")


@_command(
    "validate",
    "Check everything `build` would read and print every problem found, with the filing deadline.",
    "cmr validate sample_inputs/acme-2025/filing.yaml",
)
def validate(filing: FilingArg, as_json: JsonOpt = False) -> None:
    """Check everything `build` would read (the filing, the survey, the templates) and print every
    problem found, not just the first, and the filing deadline."""
    from .build import validate as validate_filing
    from .filing.dates import long_date

    with _reported(as_json):
        result = validate_filing(filing)
    loaded = result.loaded
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": True,
                    "reporting_year": loaded.filing.reporting_year,
                    "filing_deadline": result.deadline.isoformat(),
                    "problems": [p.as_dict() for p in loaded.warnings],
                },
                indent=2,
            )
        )
    _print_problems(loaded.warnings)
    typer.echo(
        f"{filing}: valid ({loaded.filing.mode.value}, reporting year {loaded.filing.reporting_year}, "
        f"{len(loaded.survey.smelters)} smelters and refiners); filing deadline {long_date(result.deadline)}",
        err=as_json,
    )


def default_out_dir(filing: Path) -> Path:
    """output/<folder of the filing>, e.g. output/acme-2025 for sample_inputs/acme-2025/filing.yaml."""
    name = filing.resolve().parent.name
    return Path("output") / (name or "filing")


def _chosen_formats(formats: list[OutputFormat] | None) -> frozenset[OutputFormat]:
    return frozenset(formats) if formats else frozenset(OutputFormat)


@_command(
    "build",
    "Render the Form SD and Conflict Minerals Report as HTML, PDF and Word, with evidence and manifest.",
    "cmr build sample_inputs/acme-2025/filing.yaml --out output/acme-2025 --format pdf",
)
def build_command(
    filing: FilingArg,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="DIR", help="Output folder [default: output/<filing folder>]."),
    ] = None,
    formats: Annotated[
        list[OutputFormat] | None,
        typer.Option(
            "--format", "-f", metavar="FORMAT", help=f"Write the documents as {_FORMATS} only (repeatable)."
        ),
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
        int | None,
        typer.Option(min=1, metavar="N", help="Processes rendering the PDFs at once [default: all cores]."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Render every document again (skip the render cache).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Render the Form SD and Conflict Minerals Report as HTML, PDF and Word, with filing-data.json,
    evidence.json, evidence.html and manifest.json."""
    if pdf_variant is not None and pdf_variant not in PDF_VARIANTS:
        raise typer.BadParameter(f"choose one of {', '.join(PDF_VARIANTS)}", param_hint="--pdf-variant")
    # Started before anything else is loaded: it imports WeasyPrint while this process loads the
    # filing and makes the documents, then renders the longest PDF (report/parallel.Prestarted).
    renderer = _prestarted_renderer(_chosen_formats(formats), jobs)
    try:
        from .build import build  # the library, loaded while the renderer imports WeasyPrint

        # The objects made by importing WeasyPrint live for the whole run; moving them out of the
        # cyclic garbage collector's view makes layout about 8% faster (see benchmarks/).
        gc.freeze()
        options = _build_options(
            _chosen_formats(formats), pdf_variant, edgar, allow_draft, jobs, no_cache, renderer
        )
        with _reported(as_json):
            result = build(filing, out if out is not None else default_out_dir(filing), options)
    finally:
        if renderer is not None:
            renderer.stop()
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
    from .filing.dates import long_date

    typer.echo(f"filing deadline: {long_date(result.deadline)}", err=True)


def _prestarted_renderer(formats: frozenset[OutputFormat], jobs: int | None) -> Prestarted | None:
    """A render process for the longest PDF, when PDFs are asked for and more than one process may run."""
    from .report.parallel import Prestarted
    from .report.pdfrequest import warm

    allowed = jobs if jobs is not None else len(os.sched_getaffinity(0))
    if OutputFormat.PDF not in formats or allowed <= 1:
        return None
    return Prestarted.start(warm)


def _build_options(
    formats: frozenset[OutputFormat],
    pdf_variant: str | None,
    edgar: bool,
    allow_draft: bool,
    jobs: int | None,
    no_cache: bool,
    renderer: Prestarted | None,
) -> BuildOptions:
    from .build import BuildOptions
    from .cache.render import RenderCache, default_render_cache_dir

    return BuildOptions(
        formats=formats,
        pdf_variant=pdf_variant,
        edgar=edgar,
        allow_draft=allow_draft,
        jobs=jobs,
        render_cache=None if no_cache else RenderCache(default_render_cache_dir()),
        renderer=renderer,
    )


@_command(
    "serve",
    "Preview the documents in the browser; pages reload by themselves when the files change.",
    "cmr serve sample_inputs/acme-2025/filing.yaml --port 8000",
)
def serve(
    filing: FilingArg,
    port: Annotated[
        int, typer.Option(min=0, max=65535, metavar="N", help="Port to listen on; 0 picks a free one.")
    ] = 8000,
    host: Annotated[
        str,
        typer.Option(
            metavar="ADDRESS", help="Address to listen on; anything but loopback is reachable by others."
        ),
    ] = "127.0.0.1",
) -> None:
    """Preview the documents in the browser; pages reload by themselves when the files change."""
    from .serve.server import ServeError, run_server

    try:
        run_server(filing, host=host, port=port)
    except ServeError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_INVALID) from None


def _default_year() -> int:
    return datetime.date.today().year - 1


# The stages shown as a bar on a terminal (file by file); the others are one line each.
_BAR_STAGES = {"read": "reading workbooks", "check": "checking workbooks"}


class _Progress:
    """A progress bar on a terminal; one plain line per stage elsewhere (CI, pipes)."""

    def __init__(self) -> None:
        self.interactive = sys.stderr.isatty() and not os.environ.get("CI")
        self.bar = None
        self.task = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage in _BAR_STAGES:
            if self.interactive and total:
                self._show(_BAR_STAGES[stage], done, total)
            return
        self.close()
        typer.echo(f"ingest: {stage} {done} file{'s' if done != 1 else ''}", err=True)

    def _show(self, description: str, done: int, total: int) -> None:
        if self.bar is None:
            from rich.progress import Progress

            self.bar = Progress(transient=True)
            self.bar.start()
            self.task = self.bar.add_task(description, total=total)
        self.bar.update(self.task, description=description, completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _parse_day(value: str | None, option: str) -> datetime.date | None:
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


@_command(
    "ingest",
    "Read a folder of supplier CMRT/EMRT/CRT workbooks, check them, write the survey results `build` reads.",
    "cmr ingest suppliers/ --out survey.yaml --status rmap-status.csv --findings findings/",
)
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
    letters: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Write a letter to each supplier with something to correct (and to each roster "
            "supplier who did not answer) here: .html, .docx, .eml drafts (never sent), letters.csv.",
        ),
    ] = None,
    filing: Annotated[
        Path | None,
        typer.Option(
            metavar="FILING.yaml", help="The filing whose company heads the letters (with --letters)."
        ),
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="The previous round's --details folder: list each supplier's changed smelters and answers.",
        ),
    ] = None,
    year: Annotated[
        int | None,
        typer.Option(
            metavar="YYYY", min=2013, max=2100, help="Reporting year [default: last calendar year]."
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(metavar="YYYY-MM-DD", help="Date for 'effective date in the future' [default: today]."),
    ] = None,
    jobs: Annotated[
        int | None, typer.Option(metavar="N", min=1, help="Worker processes [default: all cores].")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Read every file again.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any finding is an error.")] = False,
    decisions: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Reviewer decisions (YAML) on mine-location text that ingest could not read.",
        ),
    ] = None,
    cutoff: Annotated[
        str | None,
        typer.Option(
            metavar="YYYY-MM-DD",
            help="The cut-off: responses received up to this day are in the figures (the report says so).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Read supplier workbooks, check them, and write the survey results `build` reads."""
    from .ingest.pipeline import IngestOptions, run_ingest
    from .ingest.read.discover import printable
    from .ingest.read.runner import default_cache_dir
    from .ingest.stopping import stop_on_signals

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
        letters_dir=letters,
        filing=filing,
        previous=previous,
        jobs=jobs or os.cpu_count() or 1,
        cache_dir=None if no_cache else default_cache_dir(),
        decisions=decisions,
        responses_through=_parse_day(cutoff, "--cutoff"),
    )
    progress = _Progress()
    # The progress bar is closed before any message is printed.
    with _reported(as_json), contextlib.closing(progress), stop_on_signals():
        outcome = run_ingest(options, progress)
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


@_command(
    "diff",
    "Compare two filings: data changes keyed by smelter ID and a word-level redline of the text.",
    "cmr diff output/acme-2024 sample_inputs/acme-2025/filing.yaml --out review/",
)
def diff(
    old: Annotated[
        Path,
        typer.Argument(
            metavar="OLD", help="Old filing YAML, folder holding filing.yaml, or cmr build output folder."
        ),
    ],
    new: Annotated[
        Path,
        typer.Argument(
            metavar="NEW", help="New filing YAML, folder holding filing.yaml, or cmr build output folder."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Folder for diff.html, diff.pdf, diff.docx, diff.json."
        ),
    ],
    formats: Annotated[
        list[OutputFormat] | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help=f"Write the redline as {_FORMATS} only (diff.json is always written).",
        ),
    ] = None,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when anything differs, 0 when nothing does.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Compare two filings: data changes keyed by smelter ID and a word-level redline of the text."""
    from .diff.compare import write_diff

    gc.freeze()
    with _reported(as_json):
        result = write_diff(old, new, out, _chosen_formats(formats))
    comparison = result.comparison
    summary = comparison.summary()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": True,
                    "differs": comparison.differs,
                    "summary": summary,
                    "written": [str(p) for p in result.written],
                },
                indent=2,
            )
        )
    else:
        for path in result.written:
            typer.echo(f"wrote {path}")
    changes = ", ".join(
        f"{value} {key.replace('_', ' ')}" for key, value in summary.items() if value and key != "total"
    )
    typer.echo(f"diff: {changes or 'no differences'}", err=True)
    if exit_code and comparison.differs:
        raise typer.Exit(EXIT_INVALID)


@_command(
    "cmrt",
    "Write the company's own CMRT for its customers into the official RMI template.",
    "cmr cmrt filing.yaml --template RMI_CMRT_6.5.xlsx --out company-cmrt.xlsx",
)
def cmrt_command(
    filing: FilingArg,
    template: Annotated[
        Path,
        typer.Option(
            "--template", metavar="FILE", help="The blank RMI CMRT 6.4 or 6.5 workbook (.xlsx) from RMI."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="The company's filled CMRT to write (.xlsx).")
    ],
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow",
            metavar="WHAT",
            help="Copy what RMI's template has none of: macros, external-links, hidden-sheets (repeatable).",
        ),
    ] = None,
) -> None:
    """Write the company's own CMRT for its customers into the official RMI template."""
    from .cmrt.fill import write_company_cmrt
    from .cmrt.template import ALLOWABLE

    unknown = sorted(set(allow or ()) - set(ALLOWABLE))
    if unknown:
        choices = ", ".join(ALLOWABLE)
        raise typer.BadParameter(f"{', '.join(unknown)}: choose from {choices}", param_hint="--allow")
    with _reported():
        result = write_company_cmrt(filing, template, out, frozenset(allow or ()))
    _print_problems(result.warnings)
    typer.echo(
        f"wrote {out} (CMRT {result.version}: {result.smelters} smelters and refiners, "
        f"{len(result.declaration.cells)} Declaration cells)"
    )


@_command(
    "check-edgar",
    "Check HTML documents against EDGAR's rules and print each problem with its line and a fix.",
    "cmr check-edgar output/acme-2025/edgar/*.htm",
)
def check_edgar(
    files: Annotated[list[Path], typer.Argument(metavar="FILE", help="EDGAR .htm documents to check.")],
    as_json: JsonOpt = False,
) -> None:
    """Check HTML documents against EDGAR's rules; print each problem with its line and a fix."""
    from .edgar.lint import lint_files

    with _reported(writes=False):
        problems = lint_files(files)
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
