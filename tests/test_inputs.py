"""Input validation: the filing and survey YAML, every rule, and what `cmr validate` prints.

Most tests copy sample_inputs/acme-2025 (filing.yaml and survey.yaml, side by side) into a
temporary folder, make one targeted edit and check the problem reported: its file, line,
field and severity. Line numbers are computed from the edited text, so the tests do not
depend on the sample's comments or the order of its narrative.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from conflict_minerals.build import validate
from conflict_minerals.cli import app
from conflict_minerals.filing import yamlio
from conflict_minerals.filing.countries import Country
from conflict_minerals.filing.deadline import filing_deadline, window_opens
from conflict_minerals.filing.loader import LoadedFiling, load_filing
from conflict_minerals.filing.models import FilingMode
from conflict_minerals.filing.starter import write_starter
from conflict_minerals.filing.survey import Metal
from conflict_minerals.filing.yamlio import parse_yaml
from conflict_minerals.problems import InputError, Problem, Severity

from .conftest import make_rcoi_only, unmark_illustrative

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_inputs"

# The acme-2025 sample is for reporting year 2025; its filing deadline is Monday June 1, 2026.
SAMPLE_YEAR = 2025
SAMPLE_DEADLINE = date(2026, 6, 1)

FULLWIDTH_DIGITS = {ord(d): ord(d) + 0xFEE0 for d in "0123456789"}

# Ten levels of ten aliases: 10**9 values once expanded, from a file of a few hundred bytes.
BILLION_LAUGHS = (
    "\n".join(
        ['lol0: &lol0 "lol"']
        + [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 10)}]" for i in range(1, 10)]
    )
    + "\n"
)

DEEPLY_NESTED = "reporting_year: 2025\nnested: " + "[" * 10_000 + "]" * 10_000 + "\n"
# Deep enough to overflow the C stack of a recursive composer (400 KB, far below the size limit).
VERY_DEEPLY_NESTED = "reporting_year: 2025\nnested: " + "[" * 200_000 + "]" * 200_000 + "\n"

INDEPENDENT_AUDIT = """\
  independent_audit:
    auditor: "Example Assurance LLP"
    report: |
      We examined the design of the due diligence framework described in this report and
      the description of the due diligence measures performed.
"""


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def lines_containing(text: str, needle: str) -> list[int]:
    """1-based numbers of the lines of `text` that contain `needle`."""
    return [number for number, line in enumerate(text.split("\n"), start=1) if needle in line]


def line_of(text: str, needle: str) -> int:
    found = lines_containing(text, needle)
    assert len(found) == 1, f"{needle!r} is on lines {found}; expected exactly one"
    return found[0]


def describe(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems) or "(no problems)"


def errors_in(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.ERROR]


def warnings_in(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.WARNING]


def the_problem(
    problems: list[Problem], field: str, file: str = "filing.yaml", severity: Severity = Severity.ERROR
) -> Problem:
    """The one problem of `severity` reported for `field` in `file`."""
    matches = [
        p for p in problems if p.field == field and Path(p.file).name == file and p.severity is severity
    ]
    assert len(matches) == 1, f"expected one {severity} for {field!r} in {file}; got:\n{describe(problems)}"
    return matches[0]


def collect_problems(action: Callable[[], object]) -> list[Problem]:
    """Run `action`, which must refuse its input with an InputError, and return the problems.

    Any other exception would reach the user as a traceback, so it fails the test.
    """
    try:
        action()
    except InputError as error:
        assert error.problems, "InputError raised without any problem"
        return error.problems
    except Exception as exc:
        pytest.fail(f"{type(exc).__name__} escaped instead of an InputError: {str(exc)[:300]}")
    pytest.fail("the input was accepted, but it should have been refused")


class Project:
    """A copy of a sample's filing.yaml and survey.yaml in one folder, with editing helpers."""

    def __init__(self, folder: Path, sample: str = "acme-2025") -> None:
        folder.mkdir(parents=True)
        for name in ("filing.yaml", "survey.yaml"):
            shutil.copyfile(SAMPLES / sample / name, folder / name)
        if sample == "acme-2025":  # its previous_filing, ../acme-2024/filing.yaml
            (folder.parent / "acme-2024").mkdir(exist_ok=True)
            shutil.copyfile(
                SAMPLES / "acme-2024" / "filing.yaml", folder.parent / "acme-2024" / "filing.yaml"
            )
        # The company's own survey, not the sample's illustrative one (tests of the final-copy
        # gate put the markings back).
        unmark_illustrative(folder / "survey.yaml")
        # and its own web addresses, not the sample's under the reserved .example name.
        filing = folder / "filing.yaml"
        filing.write_text(
            filing.read_text(encoding="utf-8").replace("acme-devices.example", "acme-devices.com")
        )
        self.folder = folder
        self.filing_path = folder / "filing.yaml"
        self.survey_path = folder / "survey.yaml"

    # The filing is edited as text, so YAML details (quotes, block scalars) stay as written.

    @property
    def filing_text(self) -> str:
        return self.filing_path.read_text(encoding="utf-8")

    def write_filing(self, text: str) -> None:
        self.filing_path.write_text(text, encoding="utf-8")

    def replace(self, old: str, new: str) -> None:
        text = self.filing_text
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in the filing"
        self.write_filing(text.replace(old, new))

    def set_line(self, prefix: str, new_line: str) -> int:
        """Replace the one filing line that starts with `prefix`; return its line number."""
        lines = self.filing_text.split("\n")
        found = [i for i, line in enumerate(lines) if line.startswith(prefix)]
        assert len(found) == 1, f"{len(found)} filing lines start with {prefix!r}"
        lines[found[0]] = new_line
        self.write_filing("\n".join(lines))
        return found[0] + 1

    def set_value(self, key_prefix: str, value: str) -> int:
        """Give the key on the line starting with `key_prefix` a new value; return the line."""
        return self.set_line(key_prefix, f"{key_prefix} {value}")

    def drop_key(self, key_line: str) -> None:
        """Remove the key on the line starting with `key_line` and everything nested under it."""
        lines = self.filing_text.split("\n")
        found = [i for i, line in enumerate(lines) if line.startswith(key_line)]
        assert len(found) == 1, f"{len(found)} filing lines start with {key_line!r}"
        start = found[0]
        indent = len(key_line) - len(key_line.lstrip())
        end = start + 1
        while end < len(lines) and (
            not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent
        ):
            end += 1
        self.write_filing("\n".join(lines[:start] + lines[end:]))

    # The survey is machine-written; tests edit it as data and dump it back.

    @property
    def survey_text(self) -> str:
        return self.survey_path.read_text(encoding="utf-8")

    def edit_survey(self, change: Callable[[dict[str, Any]], object]) -> str:
        """Apply `change` to the survey data, write it back and return the new text."""
        data = yaml.safe_load(self.survey_text)
        change(data)
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
        self.survey_path.write_text(text, encoding="utf-8")
        return text

    # Loading.

    def load(self) -> LoadedFiling:
        try:
            return load_filing(self.filing_path)
        except InputError as error:
            pytest.fail(f"expected a valid filing, got:\n{describe(error.problems)}")

    def problems(self) -> list[Problem]:
        return collect_problems(lambda: load_filing(self.filing_path))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "acme")


def invoke(*args: object):
    """Run `cmr` in-process; an exception other than a clean exit is a crash the user would see."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    crash = result.exception
    assert crash is None or isinstance(crash, SystemExit), f"cmr crashed with {type(crash).__name__}: {crash}"
    return result


def run_cmr(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `cmr` as the user does, in a fresh process, to see exactly what reaches the terminal."""
    return subprocess.run(
        [sys.executable, "-m", "conflict_minerals", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --------------------------------------------------------------------------------------
# Valid inputs
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sample", "year"), [("acme-2025", 2025), ("acme-2024", 2024)])
def test_samples_load_without_errors(sample: str, year: int) -> None:
    loaded = load_filing(SAMPLES / sample / "filing.yaml")
    assert loaded.filing.reporting_year == year
    assert loaded.survey.reporting_year == year
    assert loaded.survey.smelters
    assert errors_in(loaded.warnings) == []


def test_starter_loads_without_errors(tmp_path: Path) -> None:
    write_starter(tmp_path / "starter")
    loaded = load_filing(tmp_path / "starter" / "filing.yaml")
    assert loaded.filing.registrant.name == "Example Company, Inc."
    assert loaded.survey.smelters
    assert errors_in(loaded.warnings) == []


def test_copied_sample_is_valid(project: Project) -> None:
    """The baseline every other edit starts from; the survey survives a safe_dump round trip."""
    project.edit_survey(lambda data: None)
    loaded = project.load()
    assert loaded.warnings == []
    assert loaded.survey_path == project.survey_path.resolve()


# --------------------------------------------------------------------------------------
# Field formats (fields.py)
# --------------------------------------------------------------------------------------

BAD_FIELD_VALUES = [
    pytest.param(
        "  irs_employer_identification_number:",
        '"943261785"',
        "registrant.irs_employer_identification_number",
        "NN-NNNNNNN",
        id="ein-without-dash",
    ),
    pytest.param(
        "  irs_employer_identification_number:",
        '"94-326178"',
        "registrant.irs_employer_identification_number",
        "NN-NNNNNNN",
        id="ein-too-short",
    ),
    pytest.param(
        "  commission_file_number:",
        '"1-38217"',
        "registrant.commission_file_number",
        "0NN-NNNNN",
        id="file-number-short",
    ),
    pytest.param(
        "  commission_file_number:",
        '"101-38217"',
        "registrant.commission_file_number",
        "0NN-NNNNN",
        id="file-number-no-leading-zero",
    ),
    pytest.param("  zip_code:", '"9513"', "registrant.zip_code", "NNNNN", id="zip-four-digits"),
    pytest.param("  zip_code:", '"95134-12"', "registrant.zip_code", "NNNNN", id="zip-bad-plus-four"),
    pytest.param("  zip_code:", "SW1A 1AA", "registrant.zip_code", "NNNNN", id="zip-postcode"),
    pytest.param(
        "    phone:", '"555-0142"', "registrant.contact.phone", "area code", id="phone-no-area-code"
    ),
    pytest.param(
        "    phone:", '"call the front desk"', "registrant.contact.phone", "area code", id="phone-words"
    ),
    pytest.param(
        "website_url:", '"investors.acme-devices.example"', "website_url", "https://", id="url-no-scheme"
    ),
    pytest.param("website_url:", '"javascript:alert(1)"', "website_url", "https://", id="url-javascript"),
    pytest.param("website_url:", '"ftp://acme-devices.example/cmr"', "website_url", "https://", id="url-ftp"),
    pytest.param(
        "  state_of_incorporation:",
        "Atlantis",
        "registrant.state_of_incorporation",
        "not a US state or a country",
        id="state-unknown",
    ),
]


@pytest.mark.parametrize(("key", "value", "field", "hint"), BAD_FIELD_VALUES)
def test_bad_field_value_is_reported_at_its_line(
    project: Project, key: str, value: str, field: str, hint: str
) -> None:
    line = project.set_value(key, value)
    problems = project.problems()
    problem = the_problem(problems, field)
    assert (problem.line, problem.column) == (line, len(key) - len(key.lstrip()) + 1)
    assert hint in problem.message
    assert value.strip('"') in problem.message  # the message quotes what was typed
    assert errors_in(problems) == [problem], describe(problems)


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        pytest.param("  zip_code:", '"95134"', "registrant.zip_code", id="zip"),
        pytest.param(
            "  irs_employer_identification_number:",
            '"94-3261785"',
            "registrant.irs_employer_identification_number",
            id="ein",
        ),
    ],
)
def test_fullwidth_digits_are_not_accepted(project: Project, key: str, value: str, field: str) -> None:
    """EDGAR needs ASCII digits; the patterns use \\d, which also matches full-width digits."""
    project.set_value(key, value.translate(FULLWIDTH_DIGITS))
    the_problem(project.problems(), field)


@pytest.mark.parametrize(
    ("key", "value", "read", "expected"),
    [
        pytest.param(
            "  state_of_incorporation:",
            "DE",
            lambda f: f.registrant.state_of_incorporation,
            "Delaware",
            id="state-code",
        ),
        pytest.param(
            "  state_of_incorporation:",
            "Cayman Islands",
            lambda f: f.registrant.state_of_incorporation,
            "Cayman Islands",
            id="foreign-country",
        ),
        pytest.param(
            "  zip_code:", '"95134-1234"', lambda f: f.registrant.zip_code, "95134-1234", id="zip+4"
        ),
        pytest.param(
            "    phone:",
            '"+1 408 555 0142 ext. 12"',
            lambda f: f.registrant.contact.phone,
            "+1 408 555 0142 ext. 12",
            id="phone-extension",
        ),
    ],
)
def test_accepted_field_variants(project: Project, key: str, value: str, read, expected: str) -> None:
    project.set_value(key, value)
    assert read(project.load().filing) == expected


# --------------------------------------------------------------------------------------
# Shape: unknown keys, missing fields, wrong types (pydantic, as reported by loader.py)
# --------------------------------------------------------------------------------------


def test_misspelt_key_is_unknown_and_the_real_one_missing(project: Project) -> None:
    line = project.set_line('  name: "Acme Devices, Inc."', '  nmae: "Acme Devices, Inc."')
    problems = project.problems()
    unknown = the_problem(problems, "registrant.nmae")
    assert (unknown.line, unknown.column) == (line, 3)
    assert "unknown field" in unknown.message
    missing = the_problem(problems, "registrant.name")
    assert missing.message == "required field is missing"
    assert missing.line in (line - 1, line)  # the `registrant:` block, where the key belongs


def test_missing_required_field_points_at_its_block(project: Project) -> None:
    project.drop_key("  zip_code:")
    registrant_line = line_of(project.filing_text, "registrant:")
    problems = project.problems()
    problem = the_problem(problems, "registrant.zip_code")
    assert problem.message == "required field is missing"
    assert problem.line in (registrant_line, registrant_line + 1)
    assert errors_in(problems) == [problem]


@pytest.mark.parametrize(
    ("key", "value", "hint"),
    [
        pytest.param("reporting_year:", '"twenty"', "valid integer", id="year-text"),
        pytest.param("reporting_year:", "2012", "greater than or equal to 2013", id="year-too-early"),
        pytest.param("mode:", "annual", "'cmr', 'rcoi_only' or 'conflict_free_claim'", id="mode-unknown"),
        pytest.param("  date:", "next Tuesday", "valid date", id="date-text"),
        pytest.param("  date:", "2026-02-30", "valid date", id="date-impossible"),
    ],
)
def test_wrong_type_is_reported_at_its_line(project: Project, key: str, value: str, hint: str) -> None:
    line = project.set_value(key, value)
    problems = project.problems()
    field = "signature.date" if key == "  date:" else key.strip().rstrip(":")
    problem = the_problem(problems, field)
    assert problem.line == line
    assert hint in problem.message
    assert errors_in(problems) == [problem], describe(problems)


def test_mapping_given_as_text_is_a_type_error(project: Project) -> None:
    project.drop_key("  contact:")
    line = project.set_line("  zip_code:", '  zip_code: "95134"\n  contact: "Daniel R. Okafor"')
    problem = the_problem(project.problems(), "registrant.contact")
    assert problem.line == line + 1
    assert "dictionary" in problem.message


# --------------------------------------------------------------------------------------
# Survey rules (models/survey.py and checks.check_survey)
# --------------------------------------------------------------------------------------


def test_more_responses_than_suppliers_surveyed(project: Project) -> None:
    text = project.edit_survey(lambda d: d["suppliers"].update(surveyed=100, responded=101))
    problems = project.problems()
    problem = the_problem(problems, "suppliers.responded", file="survey.yaml")
    assert problem.line == line_of(text, "responded: 101")
    assert "101" in problem.message and "100" in problem.message
    assert errors_in(problems) == [problem]


def test_all_suppliers_responding_is_fine(project: Project) -> None:
    project.edit_survey(lambda d: d["suppliers"].update(surveyed=100, responded=100))
    assert project.load().survey.suppliers.responded == 100


@pytest.mark.parametrize("cid", ["CID12345", "CID0039261", "CID 003926", "CIDX00001"])
def test_malformed_smelter_id(project: Project, cid: str) -> None:
    text = project.edit_survey(lambda d: d["smelters"][0].update(cid=cid))
    problem = the_problem(project.problems(), "smelters.0.cid", file="survey.yaml")
    assert problem.line == line_of(text, f"cid: {cid}")
    assert "CID followed by 6 digits" in problem.message


def test_metal_outside_3tg_in_smelters(project: Project) -> None:
    text = project.edit_survey(lambda d: d["smelters"][0].update(metal="cobalt"))
    problem = the_problem(project.problems(), "smelters.0.metal", file="survey.yaml")
    assert problem.line == line_of(text, "metal: cobalt")
    assert "cobalt" in problem.message


def test_metal_outside_3tg_in_countries_of_origin(project: Project) -> None:
    text = project.edit_survey(lambda d: d["countries_of_origin"].update(cobalt=["China"]))
    problem = the_problem(project.problems(), "countries_of_origin.cobalt", file="survey.yaml")
    assert problem.line == line_of(text, "  cobalt:")


def test_unknown_smelter_country(project: Project) -> None:
    text = project.edit_survey(lambda d: d["smelters"][0].update(country="Atlantis"))
    problem = the_problem(project.problems(), "smelters.0.country", file="survey.yaml")
    assert problem.line == line_of(text, "country: Atlantis")
    assert "'Atlantis' is not a recognised country" in problem.message


def test_unknown_country_of_origin(project: Project) -> None:
    index = len(yaml.safe_load(project.survey_text)["countries_of_origin"]["gold"])
    text = project.edit_survey(lambda d: d["countries_of_origin"]["gold"].append("Wakanda"))
    problem = the_problem(project.problems(), f"countries_of_origin.gold.{index}", file="survey.yaml")
    assert problem.line == line_of(text, "- Wakanda")


def test_duplicate_smelter_id(project: Project) -> None:
    data = yaml.safe_load(project.survey_text)
    first, second = data["smelters"][0], data["smelters"][1]
    assert first["metal"] == second["metal"]
    text = project.edit_survey(lambda d: d["smelters"][1].update(cid=first["cid"]))
    problems = project.problems()
    problem = the_problem(problems, "smelters.1.cid", file="survey.yaml")
    assert problem.line == lines_containing(text, f"cid: {first['cid']}")[1]
    assert "listed twice" in problem.message and "smelters.0" in problem.message
    assert errors_in(problems) == [problem]


def test_smelter_id_listed_for_two_metals(project: Project) -> None:
    data = yaml.safe_load(project.survey_text)
    tin = next(i for i, s in enumerate(data["smelters"]) if s["metal"] == "tin")
    cid = data["smelters"][0]["cid"]
    project.edit_survey(lambda d: d["smelters"][tin].update(cid=cid))
    problem = the_problem(project.problems(), f"smelters.{tin}.cid", file="survey.yaml")
    assert "listed for tantalum and for tin" in problem.message


def test_survey_year_must_match_filing_year(project: Project) -> None:
    project.edit_survey(lambda d: d.update(reporting_year=2024, prior_years=[]))
    problems = project.problems()
    problem = the_problem(problems, "survey_results")
    assert problem.line == line_of(project.filing_text, "survey_results:")
    assert "2024" in problem.message and "2025" in problem.message
    assert errors_in(problems) == [problem]


@pytest.mark.parametrize("year", [SAMPLE_YEAR, SAMPLE_YEAR + 1])
def test_prior_year_must_be_before_reporting_year(project: Project, year: int) -> None:
    last = len(yaml.safe_load(project.survey_text)["prior_years"]) - 1
    text = project.edit_survey(lambda d: d["prior_years"][-1].update(year=year))
    problem = the_problem(project.problems(), f"prior_years.{last}.year", file="survey.yaml")
    assert problem.line == line_of(text, f"- year: {year}")
    assert f"before the reporting year {SAMPLE_YEAR}" in problem.message


def test_prior_year_given_twice(project: Project) -> None:
    data = yaml.safe_load(project.survey_text)
    year = data["prior_years"][0]["year"]
    text = project.edit_survey(lambda d: d["prior_years"][1].update(year=year))
    problem = the_problem(project.problems(), "prior_years.1.year", file="survey.yaml")
    assert problem.line == lines_containing(text, f"- year: {year}")[1]
    assert "given twice" in problem.message


def test_prior_year_more_responses_than_surveyed(project: Project) -> None:
    project.edit_survey(lambda d: d["prior_years"][0].update(suppliers_surveyed=10, suppliers_responded=11))
    problem = the_problem(project.problems(), "prior_years.0.suppliers_responded", file="survey.yaml")
    assert "11 responded but only 10" in problem.message


def test_status_other_without_note_is_a_warning(project: Project) -> None:
    def change(data: dict[str, Any]) -> None:
        data["smelters"][0]["status"] = "Other"
        data["smelters"][0].pop("status_note", None)

    project.edit_survey(change)
    loaded = project.load()
    the_problem(loaded.warnings, "smelters.0.status", file="survey.yaml", severity=Severity.WARNING)


def test_metal_without_countries_of_origin_is_a_warning(project: Project) -> None:
    project.edit_survey(lambda d: d["countries_of_origin"].pop("gold"))
    loaded = project.load()
    warning = the_problem(
        loaded.warnings, "countries_of_origin", file="survey.yaml", severity=Severity.WARNING
    )
    assert "Gold smelters" in warning.message


# --------------------------------------------------------------------------------------
# Filing rules (checks.check_filing): signature window, modes, narrative links
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("signed", ["2025-12-31", "2025-06-30"])
def test_signature_before_the_year_ends_is_an_error(project: Project, signed: str) -> None:
    line = project.set_value("  date:", signed)
    problems = project.problems()
    problem = the_problem(problems, "signature.date")
    assert (problem.line, problem.column) == (line, len("  date: ") + 1)
    assert "January 1, 2026" in problem.message
    assert errors_in(problems) == [problem]


@pytest.mark.parametrize("signed", ["2026-01-01", SAMPLE_DEADLINE.isoformat()])
def test_signature_inside_the_window_is_clean(project: Project, signed: str) -> None:
    project.set_value("  date:", signed)
    loaded = project.load()
    assert loaded.filing.signature.date == date.fromisoformat(signed)
    assert loaded.warnings == []


def test_signature_after_the_deadline_is_only_a_warning(project: Project) -> None:
    line = project.set_value("  date:", "2026-06-02")
    loaded = project.load()
    warning = the_problem(loaded.warnings, "signature.date", severity=Severity.WARNING)
    assert warning.line == line
    assert "after the filing deadline" in warning.message and "June 1, 2026" in warning.message


def test_conflict_free_claim_needs_an_independent_audit(project: Project) -> None:
    project.set_value("mode:", "conflict_free_claim")
    problems = project.problems()
    problem = the_problem(problems, "narrative.independent_audit")
    assert "independent private sector audit" in problem.message
    products = the_problem(problems, "conflict_free_products")
    assert "name the products described as 'DRC conflict free'" in products.message
    assert sorted(errors_in(problems)) == sorted([problem, products])
    the_problem(problems, "mode", severity=Severity.WARNING)


def test_conflict_free_claim_with_audit_is_valid_with_a_warning(project: Project) -> None:
    mode_line = project.set_value("mode:", "conflict_free_claim")
    project.replace("\npresentation:", "\n" + INDEPENDENT_AUDIT + "\npresentation:")
    project.replace(
        "\nregistrant:",
        "\nconflict_free_products:\n  - {name: EdgeLink gateways, sors: [CID003926]}\nregistrant:",
    )
    loaded = project.load()
    assert loaded.filing.mode is FilingMode.CONFLICT_FREE_CLAIM
    assert loaded.filing.narrative.independent_audit.auditor == "Example Assurance LLP"
    warning = the_problem(loaded.warnings, "mode", severity=Severity.WARNING)
    assert warning.line == mode_line
    assert "counsel" in warning.message


def test_audit_in_cmr_mode_is_printed_as_voluntary(project: Project) -> None:
    project.replace("\npresentation:", "\n" + INDEPENDENT_AUDIT + "\npresentation:")
    loaded = project.load()
    warning = the_problem(loaded.warnings, "narrative.independent_audit", severity=Severity.WARNING)
    assert warning.line == line_of(project.filing_text, "  independent_audit:") + 1


def test_rcoi_only_needs_no_report_sections(project: Project) -> None:
    make_rcoi_only(project.filing_path)
    loaded = project.load()
    assert loaded.filing.mode is FilingMode.RCOI_ONLY
    assert loaded.filing.narrative.due_diligence is None
    assert loaded.warnings == []


REPORT_ONLY_FIELDS = [
    "due_diligence",
    "results",
    "determination",
    "mine_of_origin_efforts",
    "risk_mitigation",
    "forward_looking_statements",
]


def test_rcoi_only_refuses_report_sections(project: Project) -> None:
    """A field printed only in the report would vanish without a word in rcoi_only mode."""
    project.set_value("mode:", "rcoi_only")
    problems = project.problems()
    for name in REPORT_ONLY_FIELDS:
        problem = the_problem(problems, f"narrative.{name}")
        # A block scalar's value starts on the key's line ("|"); a mapping or list on the next.
        nested = name in ("due_diligence", "risk_mitigation")
        assert problem.line == line_of(project.filing_text, f"  {name}:") + nested
        assert "not filed in rcoi_only mode" in problem.message


def test_rcoi_only_text_must_not_refer_to_the_report(project: Project) -> None:
    make_rcoi_only(project.filing_path)
    described = "    The steps of the inquiry are described above.\n"
    project.replace(described, described + "\n    Further details are given in this report.\n")
    problems = project.problems()
    problem = the_problem(problems, "narrative.rcoi_determination")
    assert problem.line == line_of(project.filing_text, "Further details are given in this report.")
    assert "'this report'" in problem.message and "Form SD Item 1.01" in problem.message
    assert errors_in(problems) == [problem]


def test_starter_determination_in_rcoi_only_mode_is_refused(tmp_path: Path) -> None:
    """The starter says "as described in this report": right in a report, wrong in Form SD."""
    write_starter(tmp_path / "starter")
    filing = tmp_path / "starter" / "filing.yaml"
    filing.write_text(filing.read_text(encoding="utf-8").replace("mode: cmr", "mode: rcoi_only"))
    problems = collect_problems(lambda: load_filing(filing))
    problem = the_problem(problems, "narrative.rcoi_determination")
    assert problem.line == line_of(filing.read_text(encoding="utf-8"), "as described in this report.")


@pytest.mark.parametrize("section", ["due_diligence", "results", "determination", "risk_mitigation"])
def test_cmr_mode_needs_every_report_section(project: Project, section: str) -> None:
    project.drop_key(f"  {section}:")
    problems = project.problems()
    problem = the_problem(problems, f"narrative.{section}")
    assert "required when mode is cmr" in problem.message
    assert errors_in(problems) == [problem]


LINK_INSERTS = [
    pytest.param("See [our policy](file:///etc/passwd).", "file:///etc/passwd", id="file-url"),
    pytest.param("See [our policy](javascript:alert(1)).", "javascript:", id="javascript"),
    pytest.param(
        "See [our policy].\n\n    [our policy]: file:///etc/passwd", "file:///etc/passwd", id="reference"
    ),
]


@pytest.mark.parametrize(("markdown", "target"), LINK_INSERTS)
def test_narrative_link_must_be_web_or_mail(project: Project, markdown: str, target: str) -> None:
    project.replace("  company_overview: |\n", f"  company_overview: |\n    {markdown}\n\n")
    problems = project.problems()
    problem = the_problem(problems, "narrative.company_overview")
    assert problem.line == line_of(project.filing_text, "  company_overview: |")
    assert target in problem.message
    assert errors_in(problems) == [problem]


def test_narrative_link_in_a_list_item_is_checked(project: Project) -> None:
    project.replace(
        "  risk_mitigation:\n    - |\n", "  risk_mitigation:\n    - |\n      See [x](file:///etc/passwd).\n"
    )
    problem = the_problem(project.problems(), "narrative.risk_mitigation.0")
    assert "file:///etc/passwd" in problem.message


def test_web_and_mail_links_are_allowed(project: Project) -> None:
    project.replace(
        "  company_overview: |\n",
        "  company_overview: |\n    See [our site](https://acme-devices.com/a) or "
        "[write](mailto:cm@acme-devices.com)."
        "\n\n",
    )
    assert project.load().warnings == []


def test_conflict_free_wording_outside_claim_mode_is_a_warning(project: Project) -> None:
    project.replace("  results: |\n", "  results: |\n    All of our products are DRC conflict free.\n\n")
    # Read in the rendered documents, as a build and `cmr validate` read them.
    warnings = validate(project.filing_path).loaded.warnings
    the_problem(warnings, "narrative.results", severity=Severity.WARNING)


def test_disclaiming_conflict_free_is_fine(project: Project) -> None:
    project.replace(
        "  results: |\n", "  results: |\n    We do not describe any product as DRC conflict free.\n\n"
    )
    assert validate(project.filing_path).loaded.warnings == []


# --------------------------------------------------------------------------------------
# Paths written in the filing must stay inside its folder (loader.resolve_inside)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        pytest.param("../../etc/passwd", "must stay inside the filing's folder", id="dot-dot"),
        pytest.param("/etc/passwd", "must be a path relative", id="absolute"),
        pytest.param("file:///etc/passwd", "must be a path relative", id="url"),
        pytest.param("missing.yaml", "does not exist", id="missing"),
    ],
)
def test_survey_results_path_is_refused(project: Project, value: str, hint: str) -> None:
    line = project.set_value("survey_results:", value)
    problems = project.problems()
    problem = the_problem(problems, "survey_results")
    assert problem.line == line
    assert hint in problem.message
    assert {Path(p.file).name for p in problems} == {"filing.yaml"}  # nothing else was read


def test_survey_results_symlink_out_of_the_folder_is_refused(project: Project, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "survey.yaml"
    outside.parent.mkdir()
    shutil.copyfile(project.survey_path, outside)
    (project.folder / "linked.yaml").symlink_to(outside)
    project.set_value("survey_results:", "linked.yaml")
    problem = the_problem(project.problems(), "survey_results")
    assert "must stay inside" in problem.message


@pytest.mark.parametrize(
    "value",
    [
        pytest.param('"survey\\0.yaml"', id="nul-escape"),
        pytest.param("a" * 5000 + ".yaml", id="name-too-long"),
    ],
)
def test_survey_results_path_the_os_refuses_is_a_problem(project: Project, value: str) -> None:
    project.set_value("survey_results:", value)
    the_problem(project.problems(), "survey_results")


def test_css_outside_the_folder_is_refused(project: Project, tmp_path: Path) -> None:
    (tmp_path / "outside.css").write_text("body { color: red }\n")
    line = project.set_line("  draft:", "  draft: true\n  css: ../outside.css") + 1
    problem = the_problem(project.problems(), "presentation.css")
    assert problem.line == line
    assert "must stay inside" in problem.message


def test_css_absolute_path_is_refused(project: Project, tmp_path: Path) -> None:
    (tmp_path / "outside.css").write_text("body { color: red }\n")
    project.set_line("  draft:", f"  draft: true\n  css: {tmp_path / 'outside.css'}")
    assert "must be a path relative" in the_problem(project.problems(), "presentation.css").message


def test_css_inside_the_folder_is_used(project: Project) -> None:
    (project.folder / "house.css").write_text("body { color: navy }\n")
    project.set_line("  draft:", "  draft: true\n  css: house.css")
    loaded = project.load()
    assert loaded.css_path == (project.folder / "house.css").resolve()
    assert loaded.css_path in loaded.input_files()


def test_template_dir_must_be_a_folder(project: Project) -> None:
    project.set_line("  draft:", "  draft: true\n  template_dir: survey.yaml")
    assert "must be a folder" in the_problem(project.problems(), "presentation.template_dir").message


# --------------------------------------------------------------------------------------
# Every problem is reported at once
# --------------------------------------------------------------------------------------


def test_several_problems_in_one_file_are_all_reported(project: Project) -> None:
    project.set_value("  irs_employer_identification_number:", '"943261785"')
    project.set_value("  zip_code:", '"9513"')
    project.set_line("  principal_executive_offices:", '  principal_offices: "2200 Innovation Way"')
    problems = project.problems()
    fields = {p.field for p in errors_in(problems)}
    assert {
        "registrant.irs_employer_identification_number",
        "registrant.zip_code",
        "registrant.principal_offices",
        "registrant.principal_executive_offices",
    } <= fields, describe(problems)
    assert problems == sorted(problems, key=lambda p: (p.file, p.line or 0, p.column or 0))


def test_problems_in_filing_and_survey_are_reported_together(project: Project) -> None:
    project.set_value("  irs_employer_identification_number:", '"943261785"')

    def change(data: dict[str, Any]) -> None:
        data["smelters"][0]["cid"] = "CID12345"
        data["smelters"][1]["country"] = "Atlantis"

    project.edit_survey(change)
    problems = project.problems()
    the_problem(problems, "registrant.irs_employer_identification_number")
    the_problem(problems, "smelters.0.cid", file="survey.yaml")
    the_problem(problems, "smelters.1.country", file="survey.yaml")


def test_cross_field_problems_in_both_files_are_reported_together(project: Project) -> None:
    project.set_value("  date:", "2025-12-01")
    data = yaml.safe_load(project.survey_text)
    project.edit_survey(lambda d: d["smelters"][1].update(cid=data["smelters"][0]["cid"]))
    problems = project.problems()
    the_problem(problems, "signature.date")
    the_problem(problems, "smelters.1.cid", file="survey.yaml")


def test_broken_survey_yaml_is_reported_with_filing_problems(project: Project) -> None:
    project.set_value("  irs_employer_identification_number:", '"943261785"')
    text = project.survey_text.replace("\n  surveyed:", "\n\tsurveyed:", 1)
    project.survey_path.write_text(text, encoding="utf-8")
    problems = project.problems()
    the_problem(problems, "registrant.irs_employer_identification_number")
    survey_problem = next(p for p in problems if Path(p.file).name == "survey.yaml")
    assert survey_problem.line == line_of(text, "\tsurveyed:")


# --------------------------------------------------------------------------------------
# Bad YAML (yamlio.py)
# --------------------------------------------------------------------------------------


def test_duplicate_key_names_the_key_and_both_lines(project: Project) -> None:
    first = project.set_line("  zip_code:", '  zip_code: "95134"\n  zip_code: "95135"')
    problems = project.problems()
    assert len(problems) == 1, describe(problems)
    problem = problems[0]
    assert Path(problem.file).name == "filing.yaml"
    assert problem.line == first + 1
    assert "'zip_code'" in problem.message
    assert f"line {first}" in problem.message


def test_duplicate_key_in_the_survey_is_reported(project: Project) -> None:
    project.survey_path.write_text(project.survey_text + "reporting_year: 2025\n", encoding="utf-8")
    first, second = lines_containing(project.survey_text, "reporting_year:")
    problems = project.problems()
    assert len(problems) == 1, describe(problems)
    assert Path(problems[0].file).name == "survey.yaml"
    assert problems[0].line == second
    assert f"line {first}" in problems[0].message


def test_plain_scalars_stay_the_text_typed() -> None:
    loaded = parse_yaml(
        b"a: NO\nb: yes\nc: 0123\nd: 1e3\ne: 12:30\nf: ~\ng: null\nh: ''\ni: 'null'\nj:\n", "x.yaml"
    )
    assert loaded.data == {
        "a": "NO",
        "b": "yes",
        "c": "0123",
        "d": "1e3",
        "e": "12:30",
        "f": None,
        "g": None,
        "h": "",
        "i": "null",
        "j": None,
    }


def test_country_no_is_norway_not_false(project: Project) -> None:
    text = project.survey_text
    text = re.sub(r"(?m)^  country: .*$", "  country: NO", text, count=1)
    text = text.replace("countries_of_origin:\n  tantalum:\n", "countries_of_origin:\n  tantalum:\n  - NO\n")
    assert "  - NO\n" in text
    project.survey_path.write_text(text, encoding="utf-8")
    survey = project.load().survey
    norway = Country(code="NO", name="Norway")
    assert survey.smelters[0].country == norway
    assert norway in survey.countries_of_origin[Metal.TANTALUM]


def test_draft_no_is_false(project: Project) -> None:
    project.set_value("  draft:", "no")
    assert project.load().filing.presentation.draft is False


def test_unquoted_numbers_keep_leading_zeros(project: Project) -> None:
    project.set_value("  zip_code:", "02134")
    project.set_value("  commission_file_number:", "001-38217")
    project.set_value("  irs_employer_identification_number:", "04-3261785")
    registrant = project.load().filing.registrant
    assert registrant.zip_code == "02134"
    assert registrant.commission_file_number == "001-38217"
    assert registrant.irs_employer_identification_number == "04-3261785"


@pytest.mark.parametrize("indent", ["\t", "  \t", "\t\t"])
def test_tab_indentation_is_reported_at_its_line(project: Project, indent: str) -> None:
    line = project.set_line("  zip_code:", f'{indent}zip_code: "95134"')
    problems = project.problems()
    assert len(problems) == 1, describe(problems)
    assert problems[0].line == line
    assert "\\t" in problems[0].message or "tab" in problems[0].message.lower()


def test_broken_quoting_is_one_problem_with_a_line(project: Project) -> None:
    line = project.set_line('  name: "Acme Devices, Inc."', '  name: "Acme Devices, Inc.')
    problems = project.problems()
    assert len(problems) == 1, describe(problems)
    assert problems[0].message.startswith("not valid YAML")
    assert line <= problems[0].line <= line_of(project.filing_text, "survey_results:")


def test_unclosed_quote_points_at_the_opening_quote() -> None:
    """With no closing quote, PyYAML's problem mark is the end of the file; the useful mark
    is its context, where the quoted text starts."""
    problems = collect_problems(
        lambda: parse_yaml(b'reporting_year: 2025\nmode: "cmr\nregistrant:\n  name: x\n\n\n', "f.yaml")
    )
    assert len(problems) == 1
    assert problems[0].line == 2 or "line 2" in problems[0].message, str(problems[0])


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        pytest.param(
            random.Random(1502).randbytes(4096) + b"\x00", "not a YAML text file", id="random-bytes"
        ),
        pytest.param(b"reporting_year: 2025\n\x00\x00\x00\x00", "NUL", id="utf8-with-nul"),
        pytest.param("reporting_year: 2025\n".encode("utf-16"), "not a YAML text file", id="utf-16"),
    ],
)
@pytest.mark.parametrize("which", ["filing.yaml", "survey.yaml"])
def test_binary_file_is_one_clear_line(project: Project, raw: bytes, hint: str, which: str) -> None:
    (project.folder / which).write_bytes(raw)
    problems = project.problems()
    assert len(problems) == 1, describe(problems)
    problem = problems[0]
    assert Path(problem.file).name == which
    assert hint in problem.message
    assert "\n" not in str(problem)


def test_control_characters_are_one_clear_line(project: Project) -> None:
    project.survey_path.write_bytes(b"reporting_year: 2025\nnote: \x1b[1mbold\x1b[0m\n")
    problems = project.problems()
    assert len(problems) == 1, describe(problems)
    assert Path(problems[0].file).name == "survey.yaml"
    assert "\n" not in str(problems[0]), f"message spans lines: {str(problems[0])!r}"
    assert "<unicode string>" not in problems[0].message


def test_byte_order_mark_is_accepted(project: Project) -> None:
    project.filing_path.write_bytes(b"\xef\xbb\xbf" + project.filing_path.read_bytes())
    assert project.load().filing.reporting_year == SAMPLE_YEAR


@pytest.mark.parametrize("content", ["", "\n\n   \n", "# only a comment\n"])
def test_empty_file(project: Project, content: str) -> None:
    project.write_filing(content)
    problems = project.problems()
    assert [(Path(p.file).name, p.message) for p in problems] == [("filing.yaml", "file is empty")]


def test_empty_survey(project: Project) -> None:
    project.survey_path.write_text("")
    problems = project.problems()
    assert [(Path(p.file).name, p.message) for p in problems] == [("survey.yaml", "file is empty")]


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("- reporting_year: 2025\n- mode: cmr\n", id="list"),
        pytest.param("just some text\n", id="scalar"),
        pytest.param('"quoted text"\n', id="quoted-scalar"),
    ],
)
@pytest.mark.parametrize("which", ["filing.yaml", "survey.yaml"])
def test_top_level_must_be_a_mapping(project: Project, content: str, which: str) -> None:
    (project.folder / which).write_text(content)
    problems = project.problems()
    assert len(problems) == 1, describe(problems)
    assert Path(problems[0].file).name == which
    assert problems[0].line == 1
    assert "mapping" in problems[0].message


@pytest.mark.parametrize(
    "tagged",
    [
        '!!python/object/apply:os.system ["touch MARKER"]',
        "!!python/object:builtins.dict {}",
        "!!python/name:os.system",
        "!!binary Y21y",
        "!include secrets.yaml",
        "!!set {cmr: null}",
    ],
)
def test_non_standard_tags_are_refused(project: Project, tmp_path: Path, tagged: str) -> None:
    marker = tmp_path / "tag-was-executed"
    line = project.set_value("mode:", tagged.replace("MARKER", str(marker)))
    problems = project.problems()
    assert len(problems) == 1, describe(problems)
    assert problems[0].line == line
    assert "unsupported YAML tag" in problems[0].message
    assert not marker.exists()


def test_merge_keys_are_refused() -> None:
    problems = collect_problems(
        lambda: parse_yaml(b"base: &base {a: 1}\nitem:\n  <<: *base\n  b: 2\n", "x.yaml")
    )
    assert [(p.line, "merge keys" in p.message) for p in problems] == [(3, True)]


def test_second_yaml_document_is_refused(project: Project) -> None:
    project.write_filing(project.filing_text.rstrip("\n") + "\n---\nreporting_year: 2024\n")
    problems = project.problems()
    assert len(problems) == 1, describe(problems)
    assert problems[0].line == line_of(project.filing_text, "---")


def test_alias_bomb_is_refused_quickly(project: Project) -> None:
    project.survey_path.write_text(BILLION_LAUGHS)
    started = time.monotonic()
    result = run_cmr("validate", project.filing_path, timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"survey\.yaml:\d+:\d+: document is too large", result.stderr), result.stderr
    assert elapsed < 30


def test_node_limit_counts_alias_expansions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlio, "MAX_YAML_NODES", 50)
    problems = collect_problems(
        lambda: parse_yaml(b"a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: [*a, *a, *a, *a, *a]\n", "x")
    )
    assert "too large" in problems[0].message


def test_file_over_the_size_limit_is_refused(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlio, "MAX_YAML_BYTES", 1000)
    problems = project.problems()
    assert len(problems) == 1, describe(problems)
    assert Path(problems[0].file).name == "filing.yaml"
    assert "too large" in problems[0].message and "1000" in problems[0].message


def test_size_limit_applies_to_the_survey_and_allows_exactly_the_limit(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    filing_size = project.filing_path.stat().st_size
    assert project.survey_path.stat().st_size > filing_size
    monkeypatch.setattr(yamlio, "MAX_YAML_BYTES", filing_size)
    problems = project.problems()
    assert [(Path(p.file).name, "too large" in p.message) for p in problems] == [("survey.yaml", True)]


@pytest.mark.parametrize("which", ["filing.yaml", "survey.yaml"])
def test_deeply_nested_yaml_is_a_problem_not_a_crash(project: Project, which: str) -> None:
    (project.folder / which).write_text(DEEPLY_NESTED)
    problems = project.problems()
    assert any(Path(p.file).name == which for p in problems), describe(problems)


# --------------------------------------------------------------------------------------
# `cmr validate`: exit codes and what the user sees
# --------------------------------------------------------------------------------------


def _bad_ein(p: Project) -> tuple[str, int | None]:
    return "filing.yaml", p.set_value("  irs_employer_identification_number:", '"943261785"')


def _duplicate_key(p: Project) -> tuple[str, int | None]:
    return "filing.yaml", p.set_line("  zip_code:", '  zip_code: "95134"\n  zip_code: "95135"') + 1


def _tab_indent(p: Project) -> tuple[str, int | None]:
    return "filing.yaml", p.set_line("  zip_code:", '\tzip_code: "95134"')


def _survey_outside(p: Project) -> tuple[str, int | None]:
    return "filing.yaml", p.set_value("survey_results:", "../../etc/passwd")


def _bad_cid(p: Project) -> tuple[str, int | None]:
    text = p.edit_survey(lambda d: d["smelters"][0].update(cid="CID12345"))
    return "survey.yaml", line_of(text, "cid: CID12345")


def _python_tag(p: Project) -> tuple[str, int | None]:
    return "filing.yaml", p.set_value("mode:", "!!python/object/apply:os.system [true]")


def _binary_survey(p: Project) -> tuple[str, int | None]:
    p.survey_path.write_bytes(random.Random(7).randbytes(512) + b"\x00")
    return "survey.yaml", None


def _missing_survey(p: Project) -> tuple[str, int | None]:
    p.survey_path.unlink()
    return "filing.yaml", line_of(p.filing_text, "survey_results:")


def _deep_nesting(p: Project) -> tuple[str, int | None]:
    p.write_filing(DEEPLY_NESTED)
    return "filing.yaml", None


def _very_deep_nesting(p: Project) -> tuple[str, int | None]:
    p.write_filing(VERY_DEEPLY_NESTED)
    return "filing.yaml", None


def _nul_in_path(p: Project) -> tuple[str, int | None]:
    return "filing.yaml", p.set_value("survey_results:", '"survey\\0.yaml"')


BAD_INPUTS = [_bad_ein, _duplicate_key, _tab_indent, _survey_outside, _bad_cid, _python_tag]
BAD_INPUTS += [_binary_survey, _missing_survey, _deep_nesting, _nul_in_path]


def _location_pattern(file: str, line: int | None) -> str:
    if line is None:
        return rf"{re.escape(file)}(:\d+:\d+)?: "
    return rf"{re.escape(file)}:{line}:\d+: "


@pytest.mark.parametrize("make_bad", BAD_INPUTS, ids=lambda f: f.__name__.strip("_"))
def test_validate_reports_bad_input_without_traceback(
    project: Project, make_bad: Callable[[Project], tuple[str, int | None]]
) -> None:
    file, line = make_bad(project)
    result = invoke("validate", project.filing_path)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert re.search(_location_pattern(file, line), result.output), result.output
    assert re.search(r"^\d+ errors? found; nothing was written\.$", result.output, re.MULTILINE)


@pytest.mark.parametrize(
    "make_bad", [_bad_ein, _deep_nesting, _very_deep_nesting], ids=lambda f: f.__name__.strip("_")
)
def test_real_cli_prints_no_traceback(
    project: Project, make_bad: Callable[[Project], tuple[str, int | None]]
) -> None:
    """In a separate process, so that a crash of the interpreter itself is caught too."""
    file, line = make_bad(project)
    result = run_cmr("validate", project.filing_path)
    assert "Traceback" not in result.stderr, result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1, f"exit status {result.returncode} (negative: killed by a signal)"
    assert re.search(_location_pattern(file, line), result.stderr), result.stderr


def test_validate_sample_exits_0() -> None:
    result = invoke("validate", SAMPLES / "acme-2025" / "filing.yaml")
    assert result.exit_code == 0, result.output
    assert "valid (cmr, reporting year 2025" in result.output
    assert "filing deadline June 1, 2026" in result.output


def test_validate_starter_from_init_exits_0(tmp_path: Path) -> None:
    assert invoke("init", tmp_path / "new").exit_code == 0
    result = invoke("validate", tmp_path / "new" / "filing.yaml")
    assert result.exit_code == 0, result.output


def test_validate_prints_every_problem_as_file_line_column(project: Project) -> None:
    ein_line = project.set_value("  irs_employer_identification_number:", '"943261785"')
    zip_line = project.set_value("  zip_code:", '"9513"')
    result = invoke("validate", project.filing_path)
    assert result.exit_code == 1
    name = re.escape(str(project.filing_path))
    assert re.search(
        rf"^{name}:{ein_line}:3: registrant\.irs_employer_identification_number: ", result.output, re.M
    )
    assert re.search(rf"^{name}:{zip_line}:3: registrant\.zip_code: ", result.output, re.M)
    assert "2 errors found; nothing was written." in result.output


def test_validate_with_only_warnings_exits_0(project: Project) -> None:
    line = project.set_value("  date:", "2026-06-02")
    result = invoke("validate", project.filing_path)
    assert result.exit_code == 0, result.output
    assert f"filing.yaml:{line}:9: warning: signature.date: " in result.output
    assert ": valid (" in result.output


def test_validate_json_for_valid_and_invalid(project: Project) -> None:
    result = invoke("validate", "--json", project.filing_path)
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["filing_deadline"] == SAMPLE_DEADLINE.isoformat()

    line = project.set_value("  zip_code:", '"9513"')
    result = invoke("validate", "--json", project.filing_path)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    [problem] = report["problems"]
    assert problem["field"] == "registrant.zip_code"
    assert (problem["line"], problem["column"], problem["severity"]) == (line, 3, "error")
    assert Path(problem["file"]).name == "filing.yaml"


@pytest.mark.parametrize(("path", "message"), [("missing.yaml", "file not found"), (".", "is a folder")])
def test_validate_unreadable_filing_exits_1(tmp_path: Path, path: str, message: str) -> None:
    result = invoke("validate", tmp_path / path)
    assert result.exit_code == 1
    assert message in result.output


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--bogus"], id="unknown-global-option"),
        pytest.param(["validate", "--bogus", "filing.yaml"], id="unknown-option"),
        pytest.param(["validate"], id="missing-argument"),
        pytest.param(["frobnicate"], id="unknown-command"),
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------------------
# Filing deadline (deadline.py)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "due"),
    [
        pytest.param(2013, date(2014, 6, 2), id="2013-saturday"),
        pytest.param(2023, date(2024, 5, 31), id="2023-friday"),
        pytest.param(2024, date(2025, 6, 2), id="2024-saturday"),
        pytest.param(2025, date(2026, 6, 1), id="2025-sunday"),
        pytest.param(2026, date(2027, 6, 1), id="2026-memorial-day"),
    ],
)
def test_filing_deadline(year: int, due: date) -> None:
    assert filing_deadline(year) == due


def test_signing_window_opens_on_january_1() -> None:
    assert window_opens(2025) == date(2026, 1, 1)


def test_us_jurisdiction_table_matches_pycountry() -> None:
    import pycountry

    from conflict_minerals.filing.countries import US_JURISDICTIONS

    expected = {s.code.split("-")[1]: s.name for s in pycountry.subdivisions.get(country_code="US")}
    assert expected == US_JURISDICTIONS


def test_federal_holidays_match_the_holidays_package() -> None:
    holidays = pytest.importorskip("holidays")

    from conflict_minerals.filing.deadline import federal_holidays

    for year in range(2013, 2101):
        # Business days are what matter: a holiday on a weekend is observed on a weekday.
        expected = {
            day
            for day in holidays.US(years=[year, year + 1], categories=("public",))
            if day.year == year and day.weekday() < 5
        }
        assert {d for d in federal_holidays(year) if d.weekday() < 5} == expected, year
