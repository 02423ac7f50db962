"""Last year's promises: the steps to improve due diligence that the previous report described,
each answered with what was done.

The steps come from last year's filing YAML (`previous_filing`, read only, and the one path a
filing may name outside its own folder) or, when last year's report was not made with this
tool, from the filing itself: `narrative.progress_on_prior_steps` then lists last year's words
with the progress on each. A step left unanswered is a final-copy problem naming the step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..problems import InputError, Problem, Severity
from .models import Filing, FilingMode
from .yamlio import LoadedYaml, Path_, load_yaml

WHERE = ("narrative", "progress_on_prior_steps")


@dataclass
class PriorSteps:
    """Last year's steps, in last year's order, and the answer to each (None: unanswered)."""

    year: int
    steps: list[str]
    source: str  # the previous filing as shown to the user, or the field that lists the steps
    answers: dict[int, str | None] = field(default_factory=dict)
    # Where each step's answer is (or, unanswered, where it belongs), for problems.
    places: dict[int, Path_] = field(default_factory=dict)
    path: Path | None = None  # the previous filing, an input of the build

    def answered(self) -> list[tuple[str, str | None]]:
        return [(step, self.answers.get(index)) for index, step in enumerate(self.steps)]


def _normal(text: str) -> str:
    """Step text compared as words: Markdown emphasis, quotes' shapes, case and spacing ignored."""
    text = re.sub(r"[*_`]", "", text).replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    return " ".join(text.split()).casefold()


def _quote(text: str) -> str:
    words = " ".join(text.split())
    return repr(words if len(words) <= 70 else words[:67] + "...")


def load_prior_steps(
    filing: Filing, loaded: LoadedYaml, base: Path
) -> tuple[PriorSteps | None, list[Problem]]:
    """The steps to follow up, with their answers; problems in what the filing says of them."""
    if filing.mode is FilingMode.RCOI_ONLY:
        return None, []
    if filing.previous_filing is not None:
        return _from_previous_filing(filing, loaded, base)
    entries = filing.narrative.progress_on_prior_steps
    if not entries:
        return None, []
    problems = []
    steps, answers, places = [], {}, {}
    for index, entry in enumerate(entries):
        if _step_number(entry.step) is not None:
            problems.append(
                loaded.problem(
                    (*WHERE, index, "step"),
                    "a step number needs previous_filing (last year's filing YAML); without it, "
                    "give last year's words",
                )
            )
            continue
        places[len(steps)] = (*WHERE, index)
        answers[len(steps)] = entry.progress
        steps.append(str(entry.step))
    return PriorSteps(filing.reporting_year - 1, steps, dotted_where(), answers, places), problems


def dotted_where() -> str:
    return ".".join(WHERE)


def _from_previous_filing(
    filing: Filing, loaded: LoadedYaml, base: Path
) -> tuple[PriorSteps | None, list[Problem]]:
    relative = filing.previous_filing or ""
    path = base / relative
    try:
        previous = load_yaml(path, relative)
    except InputError as error:
        return None, [loaded.problem(("previous_filing",), f"cannot be read: {_reason(error)}")]
    year, steps, problems = _previous_steps(previous, loaded, filing.reporting_year)
    if year is None:
        return None, problems
    prior = PriorSteps(year, steps, previous.file, path=path)
    for index in range(len(steps)):
        prior.places[index] = WHERE
    problems += _match_answers(filing, loaded, prior)
    return prior, problems


def _reason(error: InputError) -> str:
    first = error.problems[0]
    where = f" (line {first.line})" if first.line else ""
    return f"{first.message}{where}"


def _previous_steps(
    previous: LoadedYaml, loaded: LoadedYaml, year: int
) -> tuple[int | None, list[str], list[Problem]]:
    data = previous.data if isinstance(previous.data, dict) else {}
    where = ("previous_filing",)
    found_year = data.get("reporting_year")
    try:
        prior_year = int(str(found_year))
    except ValueError:
        return (
            None,
            [],
            [loaded.problem(where, f"{previous.file} has no reporting_year; is it a filing YAML?")],
        )
    if prior_year >= year:
        message = f"{previous.file} is the filing for {prior_year}, not a year before {year}"
        return None, [], [loaded.problem(where, message)]
    problems = []
    if prior_year != year - 1:
        message = f"{previous.file} is the filing for {prior_year}; last year's would be {year - 1}"
        problems.append(loaded.problem(where, message, severity=Severity.WARNING))
    narrative = data.get("narrative") if isinstance(data.get("narrative"), dict) else {}
    steps = narrative.get("risk_mitigation") or []
    if not isinstance(steps, list) or not all(isinstance(step, str) for step in steps):
        message = f"{previous.file}: narrative.risk_mitigation is not a list of steps"
        return None, [], [*problems, loaded.problem(where, message)]
    return prior_year, [step.strip() for step in steps], problems


def _match_answers(filing: Filing, loaded: LoadedYaml, prior: PriorSteps) -> list[Problem]:
    """Each answer is matched to one of last year's steps, by its words or its number."""
    problems = []
    by_words = {_normal(step): index for index, step in enumerate(prior.steps)}
    for position, entry in enumerate(filing.narrative.progress_on_prior_steps):
        here = (*WHERE, position, "step")
        number = _step_number(entry.step)
        if number is not None:
            index = number - 1 if 1 <= number <= len(prior.steps) else None
        else:
            index = by_words.get(_normal(str(entry.step)))
        if index is None:
            listed = "; ".join(f"{n}. {_quote(s)}" for n, s in enumerate(prior.steps, 1)) or "none"
            message = f"is not one of the steps in {prior.source} (its steps: {listed})"
            problems.append(loaded.problem(here, message))
            continue
        if index in prior.answers:
            message = f"step {index + 1} of {prior.source} is answered twice; keep one answer"
            problems.append(loaded.problem(here, message))
            continue
        prior.answers[index] = entry.progress
        prior.places[index] = (*WHERE, position)
    return problems


def _step_number(step: str | int) -> int | None:
    """A step given by its number in last year's list (YAML gives `3` as text here)."""
    if isinstance(step, int):
        return step
    return int(step) if step.strip().isdigit() else None


def unanswered_problems(prior: PriorSteps, loaded: LoadedYaml, gate: Severity) -> list[Problem]:
    """A step from last year with no word on what was done: the report must follow it up."""
    problems = []
    for index, step in enumerate(prior.steps):
        if prior.answers.get(index):
            continue
        where = prior.places.get(index, WHERE)
        if where == WHERE and WHERE not in loaded.key_marks:
            where = ("previous_filing",)
        message = (
            f"step {index + 1} of the {prior.year} report ({prior.source}), {_quote(step)}, is not "
            "answered: add it to narrative.progress_on_prior_steps with what was done (progress)"
        )
        problems.append(loaded.problem(where, message, severity=gate))
    return problems
