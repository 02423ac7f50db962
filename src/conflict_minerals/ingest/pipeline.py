"""`cmr ingest` end to end: find the workbooks, read them in parallel, check, aggregate, write.

Outputs are written only after every file has been read (each atomically), so a failed run
leaves the previous survey file, findings and details as they were.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml
from pydantic import ValidationError

from ..models.survey import SurveyResults
from ..outputs import locked_folder, write_atomic
from ..problems import InputError, Problem, display_path
from .aggregate import Aggregator
from .cellmap import load_cellmap
from .checks import CheckContext, check_workbook
from .detect import detect, version_key
from .extract import lookup_rows
from .lists import (
    ReferenceList,
    RosterEntry,
    StatusList,
    read_roster,
    read_status_list,
    reference_from_csv,
    reference_from_lookup_rows,
)
from .models import Finding, SupplierWorkbook, UnreadableWorkbook
from .reader import open_workbook
from .report import details_json, details_name, findings_csv, findings_html, sort_findings
from .runner import Job, Result, discover, read_all

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


def _reference_from_workbook(path: Path, file: str) -> ReferenceList | None:
    """The Smelter Look-up list inside a CMRT workbook."""
    workbook = open_workbook(path.read_bytes())
    detected = detect(workbook)
    if detected is None or detected.family is None:
        return None
    rows = [
        (row.metal, row.lookup_name, row.name, row.country, row.cid)
        for row in lookup_rows(workbook, load_cellmap(detected.family))
        if row.name
    ]
    if not rows:
        return None
    return reference_from_lookup_rows(
        f"Smelter Look-up of {detected.template} {detected.version} ({file})", rows
    )


def load_reference(options: IngestOptions, newest: tuple[Path, str] | None) -> ReferenceList:
    if options.reference is not None:
        path = options.reference
        if path.suffix.lower() in (".xlsx", ".xls", ".xlsm"):
            found = _reference_from_workbook(path, path.name)
            if found is None:
                raise InputError(
                    [Problem(str(path), None, None, "", "no Smelter Look-up sheet in this workbook")]
                )
            return found
        return reference_from_csv(path)
    if newest is not None:
        found = _reference_from_workbook(*newest)
        if found is not None:
            return found
    raise InputError(
        [
            Problem(
                str(options.folder),
                None,
                None,
                "",
                "no CMRT with a Smelter Look-up sheet found; give the list with --reference",
            )
        ]
    )


@dataclass(frozen=True)
class _Packed:
    """One read workbook, kept compressed until it is checked: a run over thousands of files
    holds a few kilobytes per file, never the workbooks."""

    path: Path
    file: str
    template: str | None
    version: str | None
    data: bytes

    @classmethod
    def of(cls, job: Job, result: Result) -> _Packed:
        template = result.template if isinstance(result, SupplierWorkbook) else None
        version = result.version if isinstance(result, SupplierWorkbook) else None
        payload = _compact(result).model_dump_json().encode("utf-8")
        return cls(Path(job.path), result.file, template, version, zlib.compress(payload, 1))

    def unpack(self) -> Result:
        payload = zlib.decompress(self.data)
        model = UnreadableWorkbook if self.template is None else SupplierWorkbook
        return model.model_validate_json(payload)


def _newest_cmrt(packed: list[_Packed]) -> tuple[Path, str] | None:
    best: tuple[tuple[int, ...], str, Path] | None = None
    for item in packed:
        if item.template == "CMRT" and item.version:
            key = (version_key(item.version), item.file, item.path)
            if best is None or key[:2] > best[:2]:
                best = key
    return (best[2], best[1]) if best else None


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
            reference, status, roster, options.reporting_year, display_path(options.folder)
        )
        self.findings: list[Finding] = []
        self.unreadable: list[Finding] = []

    def add(self, result: Result) -> None:
        if isinstance(result, UnreadableWorkbook):
            file_findings = [result.finding]
            self.unreadable.append(result.finding)
        else:
            file_findings = check_workbook(result, self.context)
        self.aggregator.add(result, [f.severity.value for f in file_findings])
        self.findings += file_findings

    def survey(self) -> dict:
        survey = self.aggregator.result()
        _validate_survey(survey)
        return survey


def run_ingest(options: IngestOptions, progress: Progress) -> IngestOutcome:
    started = time.perf_counter()
    _check_inputs(options)
    status = read_status_list(options.status, options.status_as_of) if options.status else None
    roster = read_roster(options.roster) if options.roster else None
    # With --reference the list is known before reading: each workbook is checked while the
    # workers read the next ones. Otherwise the newest template found is the reference, so the
    # workbooks wait (compressed) until every file has been read.
    checker = _Checker(options, load_reference(options, None), status, roster) if options.reference else None

    jobs, refused = discover(options.folder)
    total = len(jobs)
    progress("found", total, total)
    with _Staging(options.details_dir) as staging:
        packed: list[_Packed] = []
        for index, result in enumerate(
            read_all(jobs, options.jobs, options.cache_dir, options.details_dir is not None), start=1
        ):
            staging.put(result)
            if checker is not None:
                checker.add(_compact(result))
            else:
                packed.append(_Packed.of(jobs[index - 1], result))
            progress("read", index, total)
        for item in refused:
            staging.put(item)
        if checker is None:
            checker = _Checker(options, load_reference(options, _newest_cmrt(packed)), status, roster)
            for item in packed:
                checker.add(item.unpack())
        for item in refused:
            checker.add(item)
        survey = checker.survey()
        findings = sort_findings(checker.findings)
        progress("checked", total, total)

        outputs: dict[Path, bytes] = {options.out: _survey_yaml(survey)}
        if options.findings_dir is not None:
            title = f"Supplier survey findings: {display_path(options.folder)}"
            outputs[options.findings_dir / "findings.html"] = findings_html(findings, survey["ingest"], title)
            outputs[options.findings_dir / "findings.csv"] = findings_csv(findings)
        written = _write(outputs, staging)
    progress("written", len(written), len(written))
    unreadable = sorted(checker.unreadable, key=lambda f: f.file)
    return IngestOutcome(total + len(refused), unreadable, findings, written, time.perf_counter() - started)


class _Staging:
    """Details JSON written as each workbook is read, into a hidden folder, and moved into place
    only when the whole run succeeds; a failed run leaves the previous details untouched."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.area: Path | None = None
        self.names: list[str] = []

    def __enter__(self) -> _Staging:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.area = Path(tempfile.mkdtemp(prefix=".cmr-staging-", dir=self.folder))
        return self

    def put(self, result: Result) -> None:
        if self.area is not None:
            name = details_name(result.file)
            (self.area / name).write_bytes(details_json(result))
            self.names.append(name)

    def publish(self) -> list[Path]:
        if self.area is None or self.folder is None:
            return []
        published = []
        for name in self.names:
            os.replace(self.area / name, self.folder / name)
            published.append(self.folder / name)
        return published

    def __exit__(self, *exc: object) -> None:
        if self.area is not None:
            shutil.rmtree(self.area, ignore_errors=True)


def _check_inputs(options: IngestOptions) -> None:
    problems = []
    if not options.folder.is_dir():
        problems.append(Problem(str(options.folder), None, None, "", "is not a folder"))
    for label, path in (
        ("--status", options.status),
        ("--reference", options.reference),
        ("--roster", options.roster),
    ):
        if path is not None and not path.is_file():
            problems.append(Problem(str(path), None, None, "", f"{label}: file not found"))
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


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # libyaml when available: files get large
    pass


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Quote strings YAML 1.1 would read as something else ("NO", "2024-01-01", "1e3").
    resolved = dumper.resolve(yaml.ScalarNode, value, (True, False))
    style = "'" if resolved != "tag:yaml.org,2002:str" else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)


def _survey_yaml(survey: dict) -> bytes:
    header = "# Survey results written by `cmr ingest`; `cmr build` reads this file.\n"
    body = yaml.dump(survey, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)
    return (header + body).encode("utf-8")


def _write(outputs: dict[Path, bytes], staging: _Staging) -> list[Path]:
    folders = sorted({path.parent for path in outputs} | ({staging.folder} if staging.folder else set()))
    with contextlib.ExitStack() as stack:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            stack.enter_context(locked_folder(folder))
        for path, data in outputs.items():
            write_atomic(path, data)
        details = staging.publish()
    return [*outputs, *details]
