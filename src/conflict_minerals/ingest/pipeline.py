"""`cmr ingest` end to end: find the workbooks, read them in parallel, check, aggregate, write.

Outputs are written only after every file has been read (each atomically), so a failed run
leaves the previous survey file, findings and details as they were. An output path that is one
of the inputs, or lies inside the suppliers folder, is refused before anything is read.
"""

from __future__ import annotations

import contextlib
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..cache.folder import cache_limit, trim
from ..outputs import locked_folders, not_a_folder, not_replaceable, replace_together
from ..problems import InputError, Problem
from .models import Finding
from .options import IngestOptions
from .read.discover import Discovery, discover, duplicate, folder_name, printable
from .read.runner import CACHE_SUFFIX, Readers, Result
from .stopping import Interrupted, held
from .write.details import Staging, details_names

# What checks, adds up and writes the results (checking, lists, locations, report: half the
# command's imports) is imported where it is used, after the workers were forked: they do not
# need it, and they read the first files while this process loads it.
if TYPE_CHECKING:
    from .check.checking import Checker
    from .check.decisions import Decisions
    from .check.lists import ReferenceList, RosterEntry, StatusList
    from .suppliers.changes import Change, PreviousRound
    from .suppliers.identity import Campaign
    from .suppliers.letters import Letterhead
    from .suppliers.status import SupplierStatus

Progress = Callable[[str, int, int], None]  # stage, done, total


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


def run_ingest(options: IngestOptions, progress: Progress) -> IngestOutcome:
    started = time.perf_counter()
    _check_inputs(options)
    decisions = _load_decisions(options)
    found = discover(options.folder)
    names = details_names(
        [job.file for job in found.jobs] + [r.file for r in found.refused + found.duplicates]
    )
    _check_outputs(options, set(names.values()))
    with Readers(options.jobs) as readers:  # the workers stop when this block is left, however
        # The workers start now, on the look-up (see _look_up_early) and the first files, while
        # this process loads what checks and writes the results.
        _look_up_early(options, found, readers)
        results = readers.read(found.jobs, options.cache_dir, options.details_dir is not None)
        with contextlib.closing(results):  # an interrupted run stops its workers on the way out
            run = _Run(options, found, readers, results, progress, decisions)
            checker, findings, written = _check_and_write(run, names)
    progress("written", len(written), len(written))
    if options.cache_dir is not None:  # the cache keeps to its size bound, the oldest entries going first
        trim(options.cache_dir, cache_limit(), CACHE_SUFFIX)
    unreadable = sorted(checker.unreadable, key=lambda f: f.file)
    return IngestOutcome(found.entries, unreadable, findings, written, time.perf_counter() - started)


@dataclass
class _Run:
    """What the stages of one run share."""

    options: IngestOptions
    found: Discovery
    readers: Readers
    results: Iterator[Result]  # the workbooks, in file order, as the workers read them
    progress: Progress
    decisions: Decisions | None = None


def _load_decisions(options: IngestOptions) -> Decisions | None:
    """Read before any workbook: a mistake in the decisions file stops the run at once."""
    if options.decisions is None:
        return None
    from .check.decisions import load_decisions

    return load_decisions(options.decisions)


def _check_and_write(run: _Run, names: dict[str, str]) -> tuple[Checker, list[Finding], list[Path]]:
    from .check.checking import load_reference
    from .check.lists import read_roster, read_status_list
    from .suppliers.identity import resolve
    from .write.report import sort_findings

    options, total = run.options, len(run.found.jobs)
    status = read_status_list(options.status, options.status_as_of) if options.status else None
    roster = read_roster(options.roster) if options.roster else None
    extras = _Extras.load(options)
    reference = load_reference(options, run.readers) if options.reference else None
    run.progress("found", total, total)
    written: list[Path] = []
    try:
        with _locked_outputs(options), Staging(options.details_dir, names) as staging:
            checker = _read_and_check(run, (reference, status, roster), staging)
            campaign = resolve(checker.responses, roster)
            survey = checker.survey(campaign.responses(bool(roster)))
            findings = sort_findings(checker.findings)
            work = _supplier_work(options, extras, checker, campaign, roster)
            run.progress("checked", total, total)
            written = _write(_outputs(options, survey, findings, work, extras), staging)
    except Interrupted as stop:  # after the outputs were written, say so
        stop.outputs_written = stop.outputs_written or bool(written)
        raise
    return checker, findings, written


@dataclass
class _Extras:
    """The supplier work beside the survey: campaign status (--roster), changes since the
    previous round (--previous), letters (--letters, with the filing's letterhead)."""

    letterhead: Letterhead | None = None
    previous: PreviousRound | None = None

    @classmethod
    def load(cls, options: IngestOptions) -> _Extras:
        """Read before any workbook, so that a bad filing or folder writes nothing."""
        extras = cls()
        if options.letters_dir is not None and options.filing is not None:
            from .suppliers.letters import load_letterhead

            extras.letterhead = load_letterhead(options.filing)
        if options.previous is not None:
            from .suppliers.changes import read_previous

            extras.previous = read_previous(options.previous)
        return extras


@dataclass
class _SupplierWork:
    rows: list[SupplierStatus]
    changes: list[Change] | None


def _supplier_work(
    options: IngestOptions,
    extras: _Extras,
    checker: Checker,
    campaign: Campaign,
    roster: list[RosterEntry] | None,
) -> _SupplierWork | None:
    """Each supplier's status, with its changes since the previous round, when asked for."""
    if options.roster is None and extras.previous is None and options.letters_dir is None:
        return None
    from .suppliers.status import campaign_status

    rows = campaign_status(campaign, checker.findings)
    changes = None
    if extras.previous is not None:
        from .suppliers.changes import KINDS, campaign_changes

        changes = campaign_changes(campaign, checker.declarations, extras.previous, roster)
        by_key = {row.key: row for row in rows}
        for change in changes:
            if change.kind in KINDS and change.key in by_key:
                by_key[change.key].changes[KINDS[change.kind]] += 1
    return _SupplierWork(rows, changes)


def _look_up_early(options: IngestOptions, found: Discovery, readers: Readers) -> None:
    """Without --reference the reference is the newest template's look-up, known only when all
    is read. In a folder of one template version that is the last file's: a worker starts
    reading it now (with two workers or more), before anything else, and the run does not
    wait for it at the end (Readers.lookup takes it if it read the very bytes the run did)."""
    if options.reference is None and found.jobs:
        readers.look_up_early(Path(found.jobs[-1].path))


Lists = tuple["ReferenceList | None", "StatusList | None", "list[RosterEntry] | None"]


def _read_and_check(run: _Run, lists: Lists, staging: Staging) -> Checker:
    """Read every workbook, then check them all.

    While the workers read, this process only keeps each workbook compacted and compressed
    (Packed): the checks touch most of the library's objects, and every page of them a process
    writes to after the workers were forked is a page copied. Checked as they came in, the
    workbooks cost 3 MB (60 files) to 5 MB (600) more at the run's peak; checked once the
    workers have stopped, they take no longer, as the workers keep every core busy meanwhile.
    Without --reference the reference is the newest template's look-up, read early beside
    the workbooks when that may be the last file's (see _look_up_early)."""
    from .check.checking import Checker, Packed, Packer, compact, default_reference

    options, found, readers, decisions = run.options, run.found, run.readers, run.decisions
    reference, status, roster = lists
    packed: list[Packed] = []
    packer = Packer()
    first_copies = _FirstCopies()
    for index, result in enumerate(run.results, start=1):
        result = first_copies.check(result)
        staging.put(result)
        packed.append(packer.pack(found.jobs[index - 1], compact(result)))
        run.progress("read", index, len(found.jobs))
    aside = found.refused + found.duplicates
    for item in aside:
        staging.put(item)
    lookup_failures: list[Finding] = []
    if reference is None:
        reference, lookup_failures = default_reference(packed, options.folder, readers)
    readers.close()  # everything is read: the workers' memory goes back before the checks
    checker = Checker(options, reference, status, roster, decisions)
    packed.reverse()
    total = len(packed)
    while packed:  # in file order; each dropped once checked (only what it adds to the survey stays)
        checker.add(packed.pop().unpack())
        run.progress("check", total - len(packed), total)
    for finding in lookup_failures:
        checker.note(finding)
    for item in aside:
        checker.add(item)
    for finding in found.notes:
        checker.note(finding)
    return checker


def _outputs(
    options: IngestOptions, survey: dict, findings: list[Finding], work: _SupplierWork | None, extras: _Extras
) -> dict[Path, bytes]:
    from .check.decisions import STARTER_NAME, starter_bytes
    from .write.report import findings_csv, findings_html
    from .write.surveyfile import survey_yaml

    outputs: dict[Path, bytes] = {options.out: survey_yaml(survey)}
    if options.findings_dir is not None:
        title = f"Supplier survey findings: {folder_name(options.folder)}"
        sections = _sections(options, work)
        outputs[options.findings_dir / "findings.html"] = findings_html(
            findings, survey["ingest"], title, **sections
        )
        outputs[options.findings_dir / "findings.csv"] = findings_csv(findings)
        # The cells waiting for a reviewer's decision, as a decisions file to fill in.
        outputs[options.findings_dir / STARTER_NAME] = starter_bytes(
            survey.get("mine_locations_undecided", [])
        )
        outputs |= _campaign_files(options, work)
    if options.letters_dir is not None and work is not None:
        from .suppliers.letters import letters_csv, letters_for, render_letters

        letters = letters_for(work.rows, survey["ingest"]["reference_list"])
        rendered = render_letters(letters, extras.letterhead, options.reporting_year, options.as_of)
        outputs |= {options.letters_dir / name: data for name, data in rendered.items()}
        outputs[options.letters_dir / "letters.csv"] = letters_csv(letters)
    return outputs


def _sections(options: IngestOptions, work: _SupplierWork | None) -> dict[str, object]:
    """The campaign sections of findings.html: the status (with --roster), the changes."""
    if work is None:
        return {}
    from .suppliers.status import totals

    sections: dict[str, object] = {}
    if options.roster is not None:
        sections["campaign"] = {
            "rows": work.rows,
            "totals": totals(work.rows),
            "with_changes": work.changes is not None,
        }
    if work.changes is not None:
        sections["changes"] = work.changes
    return sections


def _campaign_files(options: IngestOptions, work: _SupplierWork | None) -> dict[Path, bytes]:
    """status.csv (with --roster) and changes.csv (with --previous), beside the findings."""
    if work is None or options.findings_dir is None:
        return {}
    outputs: dict[Path, bytes] = {}
    if options.roster is not None:
        from .suppliers.status import status_csv

        outputs[options.findings_dir / "status.csv"] = status_csv(work.rows, work.changes is not None)
    if work.changes is not None:
        from .suppliers.changes import CSV_COLUMNS, changes_rows
        from .write.spreadsheet import csv_bytes

        outputs[options.findings_dir / "changes.csv"] = csv_bytes(CSV_COLUMNS, changes_rows(work.changes))
    return outputs


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
    folders += [
        folder
        for folder in (options.findings_dir, options.details_dir, options.letters_dir)
        if folder is not None
    ]
    with locked_folders(folders):
        yield


def _check_inputs(options: IngestOptions) -> None:
    problems = []
    if not options.folder.is_dir():
        problems.append(Problem(printable(str(options.folder)), None, None, "", "is not a folder"))
    for label, path in (
        ("--status", options.status),
        ("--reference", options.reference),
        ("--roster", options.roster),
        ("--decisions", options.decisions),
    ):
        if path is not None and (why := _not_a_regular_file(path)):
            problems.append(Problem(printable(str(path)), None, None, "", f"{label}: {why}"))
    if options.filing is not None and (why := _not_a_regular_file(options.filing)):
        problems.append(Problem(printable(str(options.filing)), None, None, "", f"--filing: {why}"))
    if options.filing is not None and options.letters_dir is None:
        problems.append(
            Problem(
                printable(str(options.filing)),
                None,
                None,
                "",
                "--filing: gives the letterhead of --letters; give --letters DIR too",
            )
        )
    if options.previous is not None and not options.previous.is_dir():
        message = "--previous: is not a folder (give the --details folder of the previous round)"
        problems.append(Problem(printable(str(options.previous)), None, None, "", message))
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
            ("--filing", options.filing),
            ("--decisions", options.decisions),
        )
        if path is not None
    }
    files: list[tuple[str, Path]] = [("--out", options.out)]
    if options.findings_dir is not None:
        names = ("findings.html", "findings.csv", "decisions-to-make.yaml", "status.csv", "changes.csv")
        files += [("--findings", options.findings_dir / name) for name in names]
    if options.letters_dir is not None:
        files.append(("--letters", options.letters_dir / "letters.csv"))
    folders = [
        (label, f)
        for label, f in (
            ("--findings", options.findings_dir),
            ("--details", options.details_dir),
            ("--letters", options.letters_dir),
        )
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
    details_files = [options.details_dir / name for name in sorted(details)] if options.details_dir else []
    for label, path in [*files, *(("--details", path) for path in details_files)]:
        if (why := not_replaceable(path)) is not None:
            refuse(path, f"{label}: {why}; remove it, or write the output elsewhere")
    for label, folder in folders:
        if (why := not_a_folder(folder)) is not None:
            refuse(folder, f"{label}: {why}")
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


def _write(outputs: dict[Path, bytes], staging: Staging) -> list[Path]:
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
