"""Load and check everything `cmr build` reads: the filing YAML and the survey results it names.

Shape and format errors come from pydantic; the rules that span fields or files (a lawyer's
checks) are in `checks.py`. Every problem in both files is collected before reporting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..problems import InputError, Problem, Severity, display_path
from .checks import check_filing, check_survey
from .final_copy import final_copy_problems
from .inputs import read_input_text
from .models import Filing
from .prior import PriorSteps, load_prior_steps
from .survey import SurveyResults
from .yamlio import LoadedYaml, Path_, dotted, load_yaml


@dataclass
class LoadedFiling:
    """A validated filing with the survey results it references and the files read."""

    filing: Filing
    survey: SurveyResults
    filing_path: Path
    survey_path: Path
    template_dir: Path | None
    css_path: Path | None
    warnings: list[Problem] = field(default_factory=list)
    # The two files as read, with the line of every value (for problems and evidence).
    filing_yaml: LoadedYaml | None = None
    survey_yaml: LoadedYaml | None = None
    # Last year's steps to improve due diligence and what the filing says was done on each.
    prior_steps: PriorSteps | None = None
    # The auditor's report given as a file (independent_audit.report_file): filed as Exhibit 1.02.
    audit_report_path: Path | None = None
    audit_report: str | None = None

    @property
    def base_dir(self) -> Path:
        return self.filing_path.parent

    def input_files(self) -> list[Path]:
        """Every file that shapes the output, for the manifest."""
        files = [self.filing_path, self.survey_path]
        if self.prior_steps is not None and self.prior_steps.path is not None:
            files.append(self.prior_steps.path)
        if self.audit_report_path is not None:
            files.append(self.audit_report_path)
        if self.css_path is not None:
            files.append(self.css_path)
        if self.template_dir is not None:
            files.extend(sorted(p for p in self.template_dir.rglob("*") if p.is_file()))
        return files


def pydantic_problems(loaded: LoadedYaml, error: ValidationError) -> list[Problem]:
    problems = []
    for detail in error.errors(include_url=False):
        loc: Path_ = tuple(part for part in detail["loc"] if part != "[key]")
        kind = detail["type"]
        message = str(detail["msg"]).removeprefix("Value error, ")
        if kind == "missing":
            line, column = loaded.value_position(loc[:-1])
            message = "required field is missing"
        elif kind == "extra_forbidden":
            line, column = loaded.position(loc)
            message = "unknown field (check the spelling; see `cmr init` for every field)"
        else:
            line, column = loaded.position(loc)
            given = detail.get("input")
            if isinstance(given, str) and "got " not in message:
                message = f"{message} (got {given!r})"
        problems.append(Problem(loaded.file, line, column, dotted(loc), message))
    return problems


def _validate(loaded: LoadedYaml, model: type[BaseModel]) -> tuple[Any, list[Problem]]:
    try:
        return model.model_validate(loaded.data), []
    except ValidationError as error:
        return None, pydantic_problems(loaded, error)


def resolve_inside(
    base: Path, relative: str, loaded: LoadedYaml, loc: Path_
) -> tuple[Path | None, list[Problem]]:
    """Resolve a path written in the filing; it must stay inside the filing's folder.

    Paths in a filing name the project's own files. Refusing absolute paths and `..`
    keeps a shared or downloaded filing from pulling in /etc/passwd or another project.
    """
    if Path(relative).is_absolute() or "://" in relative:
        return None, [
            loaded.problem(loc, f"must be a path relative to the filing's folder (got {relative!r})")
        ]
    try:
        candidate = (base / relative).resolve()
        inside = candidate.is_relative_to(base.resolve())
        exists = inside and candidate.exists()
    except (OSError, ValueError, RuntimeError) as error:  # NUL bytes, long names, symlink loops
        reason = getattr(error, "strerror", None) or str(error)
        return None, [loaded.problem(loc, f"is not a usable path ({reason})")]
    if not inside:
        return None, [loaded.problem(loc, f"must stay inside the filing's folder (got {relative!r})")]
    if not exists:
        return None, [loaded.problem(loc, f"{relative!r} does not exist")]
    return candidate, []


def load_filing(filing_path: Path) -> LoadedFiling:
    """Load, validate and cross-check a filing; raise InputError listing every problem."""
    base = filing_path.parent
    filing_name = display_path(filing_path)
    loaded_filing = load_yaml(filing_path, filing_name)
    filing, problems = _validate(loaded_filing, Filing)

    survey = None
    prior: PriorSteps | None = None
    audit_path: Path | None = None
    audit_text: str | None = None
    loaded_survey: LoadedYaml | None = None
    survey_path = template_dir = css_path = None
    survey_ref = loaded_filing.data.get("survey_results")
    if isinstance(survey_ref, str) and survey_ref.strip():
        survey_path, path_problems = resolve_inside(
            base, survey_ref.strip(), loaded_filing, ("survey_results",)
        )
        problems += path_problems
        if survey_path is not None:
            try:
                loaded_survey = load_yaml(survey_path, display_path(survey_path))
                survey, survey_problems = _validate(loaded_survey, SurveyResults)
                problems += survey_problems
                if survey is not None:
                    problems += check_survey(survey, loaded_survey)
            except InputError as error:
                problems += error.problems

    if filing is not None:
        presentation = filing.presentation
        if presentation.template_dir is not None:
            template_dir, found = resolve_inside(
                base, presentation.template_dir, loaded_filing, ("presentation", "template_dir")
            )
            problems += found
            if template_dir is not None and not template_dir.is_dir():
                problems.append(loaded_filing.problem(("presentation", "template_dir"), "must be a folder"))
                template_dir = None
        if presentation.css is not None:
            css_path, found = resolve_inside(base, presentation.css, loaded_filing, ("presentation", "css"))
            problems += found
            if css_path is not None:
                # A folder, a FIFO or a device named as the stylesheet is an error here, not a hang later.
                try:
                    read_input_text(css_path)
                except InputError as error:
                    problems += error.problems
                    css_path = None
        problems += check_filing(filing, survey, loaded_filing)
        prior, prior_problems = load_prior_steps(filing, loaded_filing, base)
        problems += prior_problems
        audit_path, audit_text, audit_problems = _audit_report_file(filing, loaded_filing, base)
        problems += audit_problems
        if survey is not None and loaded_survey is not None:
            problems += final_copy_problems(filing, survey, loaded_filing, loaded_survey, prior)

    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors or filing is None or survey is None or survey_path is None:
        raise InputError(sorted(problems, key=_problem_order))
    return LoadedFiling(
        filing=filing,
        survey=survey,
        filing_path=filing_path,
        survey_path=survey_path,
        template_dir=template_dir,
        css_path=css_path,
        warnings=sorted(problems, key=_problem_order),
        filing_yaml=loaded_filing,
        survey_yaml=loaded_survey,
        prior_steps=prior,
        audit_report_path=audit_path,
        audit_report=audit_text,
    )


def _audit_report_file(
    filing: Filing, loaded: LoadedYaml, base: Path
) -> tuple[Path | None, str | None, list[Problem]]:
    """The auditor's report as a Markdown file inside the filing's folder, read once."""
    audit = filing.narrative.independent_audit
    if audit is None or audit.report_file is None:
        return None, None, []
    where: Path_ = ("narrative", "independent_audit", "report_file")
    path, problems = resolve_inside(base, audit.report_file, loaded, where)
    if path is None:
        return None, None, problems
    try:
        text = read_input_text(path)
    except InputError as error:
        return None, None, error.problems
    if not text.strip():
        return None, None, [loaded.problem(where, f"{audit.report_file!r} is empty")]
    return path, text, []


def _problem_order(problem: Problem) -> tuple:
    return (problem.file, problem.line or 0, problem.column or 0, problem.field, problem.message)
