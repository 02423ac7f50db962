"""The `cmr` command line. Exit codes: 0 ok, 1 invalid input, 2 usage."""

from __future__ import annotations

import gc
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from .dates import long_date
from .deadline import filing_deadline
from .loader import load_filing
from .outputs import OutputBusy
from .problems import InputError, Problem, Severity
from .starter import StarterExists, write_starter

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
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"next: cmr build {directory / 'filing.yaml'}")


@app.command()
def validate(filing: FilingArg, as_json: JsonOpt = False) -> None:
    """Check everything `build` would read and print every problem found."""
    try:
        loaded = load_filing(filing)
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
    as_json: JsonOpt = False,
) -> None:
    """Render the Form SD and Conflict Minerals Report as HTML and PDF, with manifest.json."""
    # Imported here so `validate` and `init` do not pay for loading WeasyPrint.
    from .build import OutputFormat, build

    # The objects made by importing WeasyPrint live for the whole run; moving them out of the
    # cyclic garbage collector's view makes layout about 8% faster (see benchmarks/).
    gc.freeze()

    out_dir = out if out is not None else default_out_dir(filing)
    chosen = frozenset(OutputFormat(f.value) for f in formats) if formats else frozenset(OutputFormat)
    try:
        result = build(filing, out_dir, chosen)
    except InputError as error:
        _fail(error, as_json)
        return
    except OutputBusy as busy:
        typer.echo(f"error: {busy}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
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
                },
                indent=2,
            )
        )
        return
    for path in result.written:
        typer.echo(f"wrote {path}")
    for path in result.removed:
        typer.echo(f"removed stale {path}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
