"""The read workbooks checked and added up: against which reference list, kept how until then.

The reference list is given (--reference: a CSV, or a template's look-up) or is the Smelter
Look-up of the newest template read. While the workers read, the workbooks wait compacted and
compressed (Packed); they are checked once every one is read (see ingest/pipeline.py).
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, get_args, get_origin

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from ...filing.characters import describe, invalid_characters
from ...filing.survey import SurveyResults
from ...problems import InputError, Problem
from ..models import Finding, FindingSeverity, SupplierWorkbook, UnreadableWorkbook
from ..read.cellmap import load_cellmap
from ..read.cleantext import CODE as TEXT_INVALID
from ..read.detect import version_order
from ..read.discover import folder_name, printable
from ..read.runner import Failed, Job, LookupSheet, Readers, Result
from .aggregate import Aggregator, Responses
from .checks import CODES, CheckContext, check_workbook
from .lists import ReferenceList, RosterEntry, StatusList, reference_from_csv, reference_from_lookup_rows
from .responses import Declared, Response, empty_finding, is_empty

if TYPE_CHECKING:
    from ..options import IngestOptions
    from .decisions import Decisions

# At most this many templates' look-ups are tried for the default reference list: each try is
# a guarded read that may take a worker's time limit, and a folder of hostile templates must
# not make the run endless.
MAX_REFERENCE_TRIES = 10


def lookup_source(sheet: LookupSheet, file: str) -> str:
    return f"Smelter Look-up of {sheet.template} {sheet.version} ({file})"


def load_reference(options: IngestOptions, readers: Readers) -> ReferenceList:
    """The list given with --reference: a CSV, or a template whose look-up is read in a guarded
    worker like any supplier file."""
    assert options.reference is not None
    path = options.reference
    if path.suffix.lower() not in (".xlsx", ".xls", ".xlsm"):
        return reference_from_csv(path)
    outcome = readers.lookup(path)
    if isinstance(outcome, Failed):
        message = f"cannot use its Smelter Look-up as the reference list: {outcome.message}"
        raise InputError([Problem(printable(str(path)), None, None, "", message)])
    return reference_from_lookup_rows(lookup_source(outcome, printable(path.name)), outcome.rows)


def default_reference(
    packed: list[Packed], folder: Path, readers: Readers
) -> tuple[ReferenceList, list[Finding]]:
    """The Smelter Look-up of the newest CMRT read, each read in a guarded worker. A look-up
    that cannot be read is a finding on its file and the next newest template is tried."""
    failures: list[Finding] = []
    for item in reference_candidates(packed)[:MAX_REFERENCE_TRIES]:
        outcome = readers.lookup(item.path, item.sha256)
        if isinstance(outcome, LookupSheet):
            failures += _invalid_lookup_text(outcome, item)
            return reference_from_lookup_rows(lookup_source(outcome, item.file), outcome.rows), failures
        failures.append(
            Finding(
                code="lookup-unreadable",
                severity=FindingSeverity.WARNING,
                file=item.file,
                sheet=item.lookup_sheet,
                message=f"not used as the smelter reference list, as it could not be read: {outcome.message}",
            )
        )
    where = printable(str(folder))
    if not failures:
        message = (
            "no supplier's CMRT with a Smelter Look-up sheet found (blank templates are not used); "
            "give the list with --reference"
        )
        raise InputError([Problem(where, None, None, "", message)])
    tried = "; ".join(f"{f.file}: {f.message}" for f in failures)
    message = (
        f"no smelter reference list could be read from the {len(failures)} newest templates ({tried}); "
        "give the list with --reference"
    )
    raise InputError([Problem(where, None, None, "", message)])


def _invalid_lookup_text(sheet: LookupSheet, item: Packed) -> list[Finding]:
    """The reference list's names keep U+FFFD where a character no output may hold was
    (lists.py); the template that gave them says so once."""
    named = sorted(
        {describe(m[0]) for row in sheet.rows for value in row if value for m in invalid_characters(value)}
    )
    if not named:
        return []
    message = (
        f"its Smelter Look-up, used as the reference list, holds {', '.join(named)}, which no "
        "document can hold; each is replaced by U+FFFD (\ufffd)"
    )
    return [
        Finding(
            code=TEXT_INVALID,
            severity=FindingSeverity.WARNING,
            file=item.file,
            sheet=item.lookup_sheet,
            message=message,
        )
    ]


def reference_candidates(packed: list[Packed]) -> list[Packed]:
    """The templates whose look-up may be the reference list, the one to try first first: the
    newest version, and of those the last file name."""
    return sorted(
        (item for item in packed if item.lookup_sheet is not None),
        key=lambda item: (version_order(item.version or ""), item.file),
        reverse=True,
    )


@dataclass(frozen=True)
class Packed:
    """One read workbook, kept compressed until it is checked: a run over thousands of files
    holds a kilobyte or two per file, never the workbooks (see Packer)."""

    path: Path
    file: str
    template: str | None
    version: str | None
    sha256: str | None
    lookup_sheet: str | None  # a CMRT whose template has a Smelter Look-up: that sheet's name
    data: bytes
    dictionary: bytes = b""  # what `data` was compressed against (one bytes object per run)

    @classmethod
    def of(cls, job: Job, result: Result, dictionary: bytes = b"") -> Packed:
        """`result`: compacted (see compact)."""
        template = result.template if isinstance(result, SupplierWorkbook) else None
        version = result.version if isinstance(result, SupplierWorkbook) else None
        lookup = None
        # A blank template is never the reference list: it is nobody's response.
        if (
            isinstance(result, SupplierWorkbook)
            and result.template == "CMRT"
            and result.version
            and not is_empty(result)
        ):
            spec = load_cellmap(result.family).smelter_lookup
            lookup = spec.sheet if spec is not None else None
        payload = result.model_dump_json().encode("utf-8")
        data = _compressed(payload, dictionary)
        return cls(Path(job.path), result.file, template, version, result.sha256, lookup, data, dictionary)

    def unpack(self) -> Result:
        expand = zlib.decompressobj(zdict=self.dictionary) if self.dictionary else zlib.decompressobj()
        payload = expand.decompress(self.data) + expand.flush()
        model = UnreadableWorkbook if self.template is None else SupplierWorkbook
        return model.model_validate_json(payload)


def _compressed(payload: bytes, dictionary: bytes) -> bytes:
    squeeze = zlib.compressobj(6, zdict=dictionary) if dictionary else zlib.compressobj(6)
    return squeeze.compress(payload) + squeeze.flush()


class Packer:
    """Packs a run's workbooks against one dictionary, the end of the first one's JSON: most of
    a CMRT's JSON (the field names, the Declaration's questions) is the same in every one, and
    so each packs to half the size it takes alone (1.0 KB against 2.1 KB for the benchmark's
    CMRT 6.4 files), in about the same time."""

    WINDOW = 32 * 1024  # as much of a dictionary as zlib uses

    def __init__(self) -> None:
        self.dictionary = b""  # none until a workbook was read

    def pack(self, job: Job, result: Result) -> Packed:
        if not self.dictionary and isinstance(result, SupplierWorkbook):
            self.dictionary = result.model_dump_json().encode("utf-8")[-self.WINDOW :]
        return Packed.of(job, result, self.dictionary)


# Smelter-row fields that checks and aggregation use; the rest stay only in the details JSON.
_KEPT_ROW_FIELDS = {
    "row",
    "metal",
    "lookup_name",
    "name",
    "country",
    "cid",
    "cid_raw",
    "cid_from",
    "kind",
    "mine_country",
}


def compact(result: Result) -> Result:
    """What checks and aggregation need of a workbook: no product list, lean smelter rows."""
    if isinstance(result, UnreadableWorkbook):
        return result
    rows = [
        row.model_copy(update={k: None for k in type(row).model_fields if k not in _KEPT_ROW_FIELDS})
        for row in result.smelters
    ]
    return result.model_copy(update={"products": [], "smelters": rows})


class Checker:
    """Checks each workbook as soon as the reference is known and works out what it adds to the
    survey; which responses count is decided once all are read (see suppliers/identity.py)."""

    def __init__(
        self,
        options: IngestOptions,
        reference: ReferenceList,
        status: StatusList | None,
        roster: list[RosterEntry] | None,
        decisions: Decisions | None = None,
    ) -> None:
        self.context = CheckContext(
            reference=reference,
            reporting_year=options.reporting_year,
            as_of=options.as_of,
            decisions=decisions,
        )
        self.aggregator = Aggregator(
            reference,
            status,
            options.reporting_year,
            folder_name(options.folder),
            decisions=decisions,
            responses_through=options.responses_through,
        )
        self.roster = roster
        self.decisions = decisions
        self.findings: list[Finding] = []
        self.unreadable: list[Finding] = []
        self.responses: list[Response] = []
        # With --previous: what each response declared, to compare with the previous round's.
        self.keep_declarations = options.previous is not None
        self.declarations: dict[str, Declared] = {}

    def add(self, result: Result) -> None:
        empty = False
        if isinstance(result, UnreadableWorkbook):
            file_findings = [result.finding]
            if result.finding.code != "file-duplicate":
                self.unreadable.append(result.finding)
        elif empty := is_empty(result):
            file_findings = [empty_finding(result)]  # one finding, not one per empty cell
            self.responses.append(Response.of(result, empty=True))
        else:
            file_findings = check_workbook(result, self.context)
            self.responses.append(Response.of(result, empty=False))
            if self.keep_declarations:
                self.declarations[result.file] = Declared.of(result)
        self.aggregator.add(result, empty)
        self.findings += file_findings

    def note(self, finding: Finding) -> None:
        """A finding about the folder rather than a workbook's content (counted, not a file)."""
        self.findings.append(finding)

    def survey(self, responses: Responses) -> dict:
        """The survey of the responses that count; a file set aside (superseded, or a second
        response) keeps one finding saying so instead of its own."""
        for finding in self._unused_decisions():
            self.note(finding)
        self.findings = [f for f in self.findings if f.file not in responses.set_aside]
        self.findings += responses.set_aside.values()
        counts = Counter(f.severity.value for f in self.findings)
        survey = self.aggregator.result(replace(responses, findings_by_severity=counts))
        validate_survey(survey)
        return survey

    def _unused_decisions(self) -> list[Finding]:
        """Decisions naming a cell that held no unread text in this run: a file that was not
        read or was renamed, or a cell the supplier has since filled in clearly."""
        if self.decisions is None:
            return []
        used = self.aggregator.decisions_used
        return [
            Finding(
                code="decision-unused",
                severity=CODES["decision-unused"][0],
                file=self.decisions.source,
                message=(
                    f"line {self.decisions.line(key)}: no unread mine-location text in {key[0]} "
                    f"{key[1]}!{key[2]} in this run (the file was not read, or the cell reads "
                    "differently); the decision was not used"
                ),
            )
            for key in sorted(self.decisions.by_cell)
            if key not in used
        ]


def validate_survey(survey: dict) -> None:
    """What ingest writes must be what build reads; a mismatch here is a bug, not bad input.

    The parts that grow with the number of files (the smelters, each with the files that name
    it, and the other lists of items; the cells behind each country) are validated an item at a
    time, the rest as one SurveyResults: as one model, a 5,000-file survey took 80 MB more at
    the run's peak. The checks are the same, as SurveyResults has no validator across fields."""
    where = "the survey"
    try:
        parts = _growing_parts(survey)
        SurveyResults.model_validate({**survey, **{name: type(value)() for name, value in parts.items()}})
        for name, value in parts.items():
            if name == _SOURCES_FIELD:
                for metal, countries in value.items():
                    for piece in [{country: cells} for country, cells in countries.items()] or [{}]:
                        where = f"{name}.{metal}"
                        _sources_adapter().validate_python({metal: piece})
            else:
                for index, item in enumerate(value):
                    where = f"{name}.{index}"
                    _list_items()[name].model_validate(item)
    except ValidationError as error:  # a bug: the contract between ingest and build broken
        raise RuntimeError(
            f"cmr ingest produced survey results that cmr build would reject ({where}):\n{error}"
        ) from error


_SOURCES_FIELD = "countries_of_origin_sources"


def _growing_parts(survey: dict) -> dict[str, list | dict]:
    """The survey's lists of items and its countries' cells, where they have the shape to be
    validated a piece at a time (anything else is left to SurveyResults, which says what is wrong)."""
    parts: dict[str, list | dict] = {
        name: survey[name] for name in _list_items() if isinstance(survey.get(name), list)
    }
    sources = survey.get(_SOURCES_FIELD)
    if isinstance(sources, dict) and all(isinstance(countries, dict) for countries in sources.values()):
        parts[_SOURCES_FIELD] = sources
    return parts


@cache
def _list_items() -> dict[str, type[BaseModel]]:
    """SurveyResults' fields that are plain lists of models (no constraint on the list itself)."""
    found: dict[str, type[BaseModel]] = {}
    for name, field in SurveyResults.model_fields.items():
        if get_origin(field.annotation) is list and not field.metadata:
            (item,) = get_args(field.annotation)
            if isinstance(item, type) and issubclass(item, BaseModel):
                found[name] = item
    return found


@cache
def _sources_adapter() -> TypeAdapter:
    field = SurveyResults.model_fields[_SOURCES_FIELD]
    assert not field.metadata
    # The model's own handling of strings, as inside SurveyResults (its models carry their own).
    config = SurveyResults.model_config
    strings = {key: config[key] for key in ("str_strip_whitespace", "strict") if key in config}
    return TypeAdapter(field.annotation, config=ConfigDict(**strings))  # type: ignore[typeddict-item]
