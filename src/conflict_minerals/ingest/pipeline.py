"""`cmr ingest` end to end: find the workbooks, read them in parallel, check, aggregate, write.

Outputs are written only after every file has been read (each atomically), so a failed run
leaves the previous survey file, findings and details as they were. An output path that is one
of the inputs, or lies inside the suppliers folder, is refused before anything is read.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from ..filing.survey import SurveyResults
from ..outputs import locked_folders, replace_together
from ..problems import InputError, Problem, display_path
from .aggregate import Aggregator
from .cellmap import load_cellmap
from .checks import CheckContext, check_workbook
from .detect import version_key
from .discover import Discovery, discover, duplicate, printable
from .lists import (
    ReferenceList,
    RosterEntry,
    StatusList,
    read_roster,
    read_status_list,
    reference_from_csv,
    reference_from_lookup_rows,
)
from .locations import load_location_tables
from .models import Finding, FindingSeverity, SupplierWorkbook, UnreadableWorkbook
from .report import details_json, details_names, findings_csv, findings_html, sort_findings
from .runner import Failed, Job, LookupSheet, Readers, Result
from .stopping import Interrupted, held
from .surveyfile import survey_yaml

Progress = Callable[[str, int, int], None]  # stage, done, total


@dataclass
class IngestOptions:
    folder: Path
    out: Path
    reporting_year: int
    as_of: date
    status: Path | None = None
    status_as_of: date | None = None
    reference: Path | None = None
    roster: Path | None = None
    findings_dir: Path | None = None
    details_dir: Path | None = None
    jobs: int = 1
    cache_dir: Path | None = None


@dataclass
class IngestOutcome:
    files_found: int
    unreadable: list[Finding]
    findings: list[Finding]
    written: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity.value == "error")


# At most this many templates' look-ups are tried for the default reference list: each try is
# a guarded read that may take a worker's time limit, and a folder of hostile templates must
# not make the run endless.
MAX_REFERENCE_TRIES = 10


def _lookup_source(sheet: LookupSheet, file: str) -> str:
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
    return reference_from_lookup_rows(_lookup_source(outcome, printable(path.name)), outcome.rows)


def default_reference(
    packed: list[_Packed], folder: Path, readers: Readers
) -> tuple[ReferenceList, list[Finding]]:
    """The Smelter Look-up of the newest CMRT read, each read in a guarded worker. A look-up
    that cannot be read is a finding on its file and the next newest template is tried."""
    failures: list[Finding] = []
    candidates = sorted(
        (item for item in packed if item.lookup_sheet is not None),
        key=lambda item: (version_key(item.version or ""), item.file),
        reverse=True,
    )
    for item in candidates[:MAX_REFERENCE_TRIES]:
        outcome = readers.lookup(item.path, item.sha256)
        if isinstance(outcome, LookupSheet):
            return reference_from_lookup_rows(_lookup_source(outcome, item.file), outcome.rows), failures
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
        message = "no CMRT with a Smelter Look-up sheet found; give the list with --reference"
        raise InputError([Problem(where, None, None, "", message)])
    tried = "; ".join(f"{f.file}: {f.message}" for f in failures)
    message = (
        f"no smelter reference list could be read from the {len(failures)} newest templates ({tried}); "
        "give the list with --reference"
    )
    raise InputError([Problem(where, None, None, "", message)])


@dataclass(frozen=True)
class _Packed:
    """One read workbook, kept compressed until it is checked: a run over thousands of files
    holds a few kilobytes per file, never the workbooks."""

    path: Path
    file: str
    template: str | None
    version: str | None
    sha256: str | None
    lookup_sheet: str | None  # a CMRT whose template has a Smelter Look-up: that sheet's name
    data: bytes

    @classmethod
    def of(cls, job: Job, result: Result) -> _Packed:
        template = result.template if isinstance(result, SupplierWorkbook) else None
        version = result.version if isinstance(result, SupplierWorkbook) else None
        lookup = None
        if isinstance(result, SupplierWorkbook) and result.template == "CMRT" and result.version:
            spec = load_cellmap(result.family).smelter_lookup
            lookup = spec.sheet if spec is not None else None
        payload = _compact(result).model_dump_json().encode("utf-8")
        return cls(
            Path(job.path), result.file, template, version, result.sha256, lookup, zlib.compress(payload, 1)
        )

    def unpack(self) -> Result:
        payload = zlib.decompress(self.data)
        model = UnreadableWorkbook if self.template is None else SupplierWorkbook
        return model.model_validate_json(payload)


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


def _compact(result: Result) -> Result:
    """What checks and aggregation need of a workbook: no product list, lean smelter rows."""
    if isinstance(result, UnreadableWorkbook):
        return result
    rows = [
        row.model_copy(update={k: None for k in type(row).model_fields if k not in _KEPT_ROW_FIELDS})
        for row in result.smelters
    ]
    return result.model_copy(update={"products": [], "smelters": rows})


class _Checker:
    """Checks each workbook and adds it to the aggregate, as soon as the reference is known."""

    def __init__(
        self,
        options: IngestOptions,
        reference: ReferenceList,
        status: StatusList | None,
        roster: list[RosterEntry] | None,
    ) -> None:
        self.context = CheckContext(
            reference=reference, reporting_year=options.reporting_year, as_of=options.as_of
        )
        self.aggregator = Aggregator(
            reference, status, roster, options.reporting_year, _folder_name(options.folder)
        )
        self.findings: list[Finding] = []
        self.unreadable: list[Finding] = []

    def add(self, result: Result) -> None:
        if isinstance(result, UnreadableWorkbook):
            file_findings = [result.finding]
            if result.finding.code != "file-duplicate":
                self.unreadable.append(result.finding)
        else:
            file_findings = check_workbook(result, self.context)
        self.aggregator.add(result, [f.severity.value for f in file_findings])
        self.findings += file_findings

    def note(self, finding: Finding) -> None:
        """A finding about the folder rather than a workbook's content (counted, not a file)."""
        self.aggregator.findings_by_severity.update([finding.severity.value])
        self.findings.append(finding)

    def survey(self) -> dict:
        survey = self.aggregator.result()
        _validate_survey(survey)
        return survey


def run_ingest(options: IngestOptions, progress: Progress) -> IngestOutcome:
    started = time.perf_counter()
    _check_inputs(options)
    found = discover(options.folder)
    names = details_names(
        [job.file for job in found.jobs] + [r.file for r in found.refused + found.duplicates]
    )
    _check_outputs(options, set(names.values()))
    status = read_status_list(options.status, options.status_as_of) if options.status else None
    roster = read_roster(options.roster) if options.roster else None
    written: list[Path] = []
    with Readers(options.jobs) as readers:  # the workers stop when this block is left, however
        reference = load_reference(options, readers) if options.reference else None
        progress("found", len(found.jobs), len(found.jobs))
        try:
            with _locked_outputs(options), _Staging(options.details_dir, names) as staging:
                checker = _read_and_check(
                    options, found, reference, status, roster, staging, progress, readers
                )
                survey = checker.survey()
                findings = sort_findings(checker.findings)
                progress("checked", len(found.jobs), len(found.jobs))
                written = _write(_outputs(options, survey, findings), staging)
        except Interrupted as stop:  # after the outputs were written, say so
            stop.outputs_written = stop.outputs_written or bool(written)
            raise
    progress("written", len(written), len(written))
    unreadable = sorted(checker.unreadable, key=lambda f: f.file)
    return IngestOutcome(found.entries, unreadable, findings, written, time.perf_counter() - started)


def _read_and_check(
    options: IngestOptions,
    found: Discovery,
    reference: ReferenceList | None,
    status: StatusList | None,
    roster: list[RosterEntry] | None,
    staging: _Staging,
    progress: Progress,
    readers: Readers,
) -> _Checker:
    """Read every workbook and check it. With --reference the list is known before reading:
    each workbook is checked while the workers read the next ones. Otherwise the newest
    template found is the reference, so the workbooks wait (compressed) until all are read."""
    checker = _Checker(options, reference, status, roster) if reference is not None else None
    packed: list[_Packed] = []
    first_copies = _FirstCopies()
    jobs = found.jobs
    if checker is None and jobs:
        # The reference will be the newest template's look-up, known only when all is read.
        # In a folder of one template version that is the last file's: read it now.
        readers.look_up_early(Path(jobs[-1].path))
    results = readers.read(jobs, options.cache_dir, options.details_dir is not None)
    with contextlib.closing(results):  # an interrupted run stops its workers on the way out
        for index, result in enumerate(results, start=1):
            if index == 1 and options.jobs > 0:
                # This process waits for the workers now: load the place-name tables the checks
                # need here, rather than after the last read, when the run waits for them.
                load_location_tables()
            result = first_copies.check(result)
            staging.put(result)
            if checker is not None:
                checker.add(_compact(result))
            else:
                packed.append(_Packed.of(jobs[index - 1], result))
            progress("read", index, len(jobs))
    aside = found.refused + found.duplicates
    for item in aside:
        staging.put(item)
    lookup_failures: list[Finding] = []
    if checker is None:
        reference, lookup_failures = default_reference(packed, options.folder, readers)
    readers.close()  # everything is read: the workers' memory goes back before the checks
    if checker is None:
        checker = _Checker(options, reference, status, roster)
        for item in packed:
            checker.add(item.unpack())
        for finding in lookup_failures:
            checker.note(finding)
    for item in aside:
        checker.add(item)
    for finding in found.notes:
        checker.note(finding)
    return checker


def _outputs(options: IngestOptions, survey: dict, findings: list[Finding]) -> dict[Path, bytes]:
    outputs: dict[Path, bytes] = {options.out: survey_yaml(survey)}
    if options.findings_dir is not None:
        title = f"Supplier survey findings: {_folder_name(options.folder)}"
        outputs[options.findings_dir / "findings.html"] = findings_html(findings, survey["ingest"], title)
        outputs[options.findings_dir / "findings.csv"] = findings_csv(findings)
    return outputs


def _folder_name(folder: Path) -> str:
    return printable(display_path(folder))


class _FirstCopies:
    """The same bytes under a second name are one supplier response: the first name (in file
    order) is read and counted, the others are `file-duplicate` findings."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def check(self, result: Result) -> Result:
        if result.sha256 is None:
            return result
        first = self.seen.setdefault(result.sha256, result.file)
        if first == result.file:
            return result
        return duplicate(result.file, first, "the same content as", result.sha256)


@contextlib.contextmanager
def _locked_outputs(options: IngestOptions) -> Iterator[None]:
    """Hold the lock of every output folder for the whole run: two runs never write (or clean)
    one folder at once, and stale temporaries are removed under the lock."""
    folders = [options.out.parent]
    folders += [folder for folder in (options.findings_dir, options.details_dir) if folder is not None]
    with locked_folders(folders):
        yield


# tempfile.mkdtemp names: the prefix and eight characters from this alphabet.
_STAGING_PREFIX = ".cmr-staging-"
_STAGING_NAME = re.compile(re.escape(_STAGING_PREFIX) + r"[a-z0-9_]{8}")


class _Staging:
    """Details JSON written as each workbook is read, into a hidden folder, and moved into place
    only when the whole run succeeds; a failed run leaves the previous details untouched. The
    staging folders a killed run left behind are removed by the next run (only folders with
    this tool's staging name, and only the .json files this tool puts in them)."""

    def __init__(self, folder: Path | None, names: dict[str, str]) -> None:
        self.folder = folder
        self.names = names
        self.area: Path | None = None
        self.staged: list[str] = []

    def __enter__(self) -> _Staging:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            _remove_stale_staging(self.folder)
            self.area = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=self.folder))
        return self

    def put(self, result: Result) -> None:
        if self.area is not None:
            name = self.names[result.file]
            (self.area / name).write_bytes(details_json(result))
            self.staged.append(name)

    def publish(self) -> list[Path]:
        if self.area is None or self.folder is None:
            return []
        published = []
        for name in self.staged:
            os.replace(self.area / name, self.folder / name)
            published.append(self.folder / name)
        return published

    def __exit__(self, *exc: object) -> None:
        if self.area is not None:
            with held():  # a stop signal now must not leave half a staging folder behind
                shutil.rmtree(self.area, ignore_errors=True)


def _remove_stale_staging(folder: Path) -> None:
    """Called with the folder's lock held, so no other run is staging there."""
    with os.scandir(folder) as entries:
        stale = [
            e.path for e in entries if _STAGING_NAME.fullmatch(e.name) and e.is_dir(follow_symlinks=False)
        ]
    for area in stale:
        with os.scandir(area) as entries:
            for entry in entries:
                if entry.name.endswith(".json") and entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
        with contextlib.suppress(OSError):  # left alone if anything else is in it
            os.rmdir(area)


def _check_inputs(options: IngestOptions) -> None:
    problems = []
    if not options.folder.is_dir():
        problems.append(Problem(printable(str(options.folder)), None, None, "", "is not a folder"))
    for label, path in (
        ("--status", options.status),
        ("--reference", options.reference),
        ("--roster", options.roster),
    ):
        if path is not None and (why := _not_a_regular_file(path)):
            problems.append(Problem(printable(str(path)), None, None, "", f"{label}: {why}"))
    if problems:
        raise InputError(problems)


def _not_a_regular_file(path: Path) -> str | None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "file not found"
    except OSError as error:
        return f"cannot read: {error.strerror}"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a FIFO or a device?)"
    return None


def _check_outputs(options: IngestOptions, details: set[str]) -> None:
    """Refuse any output that would replace an input, or land in the suppliers folder."""
    suppliers = options.folder.resolve()
    inputs = {
        path.resolve(): label
        for label, path in (
            ("--status", options.status),
            ("--reference", options.reference),
            ("--roster", options.roster),
        )
        if path is not None
    }
    files: list[tuple[str, Path]] = [("--out", options.out)]
    if options.findings_dir is not None:
        files += [("--findings", options.findings_dir / name) for name in ("findings.html", "findings.csv")]
    folders = [
        (label, f)
        for label, f in (("--findings", options.findings_dir), ("--details", options.details_dir))
        if f
    ]
    problems: list[Problem] = []

    def refuse(path: Path, message: str) -> None:
        problems.append(Problem(printable(str(path)), None, None, "", message))

    for label, path in [files[0], *folders]:  # the findings files are inside their folder
        if path.resolve().is_relative_to(suppliers):
            refuse(path, f"{label}: is inside the suppliers folder; write the outputs elsewhere")
    for label, path in files:
        if (real := path.resolve()) in inputs:
            refuse(path, f"{label}: is the {inputs[real]} input file; it would be replaced")
    if options.out.is_dir():
        refuse(options.out, "--out: is a folder; give the survey file's name")
    seen: dict[Path, str] = {}
    for label, path in files:
        if (other := seen.setdefault(path.resolve(), label)) != label:
            refuse(path, f"{label}: is also the {other} output")
    if options.details_dir is not None:
        details_dir = options.details_dir.resolve()
        for label, path in files:
            if path.resolve().parent == details_dir and path.name in details:
                refuse(path, f"{label}: is also the name of a --details file")
    if problems:
        raise InputError(problems)


def _validate_survey(survey: dict) -> None:
    """What ingest writes must be what build reads; a mismatch here is a bug, not bad input."""
    try:
        SurveyResults.model_validate(survey)
    except ValidationError as error:  # pragma: no cover - guards the contract between the two
        raise RuntimeError(
            f"cmr ingest produced survey results that cmr build would reject:\n{error}"
        ) from error


def _write(outputs: dict[Path, bytes], staging: _Staging) -> list[Path]:
    """Replace every output as one change; a stop signal waits until all are written, so they match."""
    written = False
    try:
        with held():
            replace_together(outputs)
            details = staging.publish()
            written = True
    except Interrupted as stop:
        stop.outputs_written = written
        raise
    return [*outputs, *details]
