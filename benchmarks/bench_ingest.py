"""Time `cmr ingest` against bare python-calamine (and optionally openpyxl) on the same workbooks.

For each size N given with --files (default: 60 and 600), the benchmark fills a temporary
folder with N real supplier-filled CMRT 6.4 workbooks from the corpus. Each copy is its own
supplier: the company name in its Declaration gets the copy's number ("Central Glass Co.,
Ltd. #0004"; the part holding it is replaced and the workbook re-zipped), since `cmr ingest`
counts one response per supplier (copies of one company's declaration would be one response,
the others set aside unchecked) and reads the same bytes under a second name once. The one
source without a company name (and without an effective date) is its own supplier already and
gets its own zip comment. Then it measures, with the same number of workers:

  cmr ingest      `python -m conflict_minerals ingest DIR --no-cache --jobs J ...`, end to end:
                  the reference look-up, the checks and the survey file included
  bare calamine   the Declaration and Smelter List sheets read with python-calamine
                  (`CalamineWorkbook.from_path(p).get_sheet_by_name(name).to_python()`)
  openpyxl        (with --openpyxl-files M) the same two sheets with
                  `load_workbook(p, read_only=True, data_only=True)`, on the first M files

Every side is a whole process (this script runs the baselines in a hidden mode): interpreter
start, imports and the worker pool's start-up count on every side. The baselines' pools start
their workers the way `cmr ingest` does on this machine (fork on Linux, spawn elsewhere).
The readers run in turn, A B A B ..., --runs times; each one's median is reported, and the
ratio is the median of the per-round ratios, so a slow spell of a shared machine hits both
sides of a ratio alike. Peak memory is the summed PSS of the process and its descendants
(RSS where PSS is not available), sampled every 100 ms: pages a forked worker shares with its
parent count once. MB here are MiB. The load average is printed before and after each size:
figures taken with other work running on the machine are not comparable.

Before measuring, the package's bytecode is written (as `pip install` writes it for an
installed copy), so that no run compiles source where PYTHONDONTWRITEBYTECODE is set.

Goals (issue 23): `cmr ingest` at most 1.0x bare calamine's time on 60 files and 0.8x on 600
(it reads less: the streaming sheet reader, ingest/read/sheetscan.py), a peak memory at most 1.5x
calamine's below 1,000 files, and under 500 MB peak for 1,000 files or more (assessed only when
measured; there the ratio is printed for information: the survey's provenance, every file that
names each smelter, grows with the folder, where the bare script keeps nothing). Misses
are reported; the exit code is 0 unless --check is given. A size of 5,000 files or more is
measured in one round (--runs is for the smaller sizes): it is the scale test, not a ratio.

    python benchmarks/bench_ingest.py [--files 60 600] [--jobs J] [--runs R] [--openpyxl-files M] [--check]

The corpus is expected in ../shared/cmrt-corpus next to the project folder.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cmrt-corpus"
CORPUS_PATTERNS = (
    "wwww13wwww__mineral-system__RMI_CMRT_6.4_*.xlsx",
    "wwww13wwww__mineral-system__RMI_WF6_CMRT_6.4_Apr2024_Merck.xlsx",
)
SHEETS = ("Declaration", "Smelter List")
SAMPLE_SECONDS = 0.1  # reading PSS costs the sampler CPU: often enough, and no more
MIB = 1024 * 1024

# Files -> the most `cmr ingest` may take, as a multiple of bare calamine's time.
WITHIN_OF_CALAMINE = {60: 1.0, 600: 0.8}
PEAK_VS_CALAMINE = 1.5  # the most `cmr ingest`'s peak memory may be, as a multiple of calamine's
PEAK_MB_LIMIT = 500
PEAK_MB_FILES = 1000
ONE_ROUND_FILES = 5000  # from this size on, one round


def start_method() -> str:
    """The way `cmr ingest` starts its workers here (see conflict_minerals.ingest.read.runner)."""
    return "fork" if sys.platform.startswith("linux") else "spawn"


# ----- the baselines, run in a child process of this script -----


def _read_calamine(path: str) -> int:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(path)
    return sum(len(book.get_sheet_by_name(name).to_python(skip_empty_area=False)) for name in SHEETS)


def _read_openpyxl(path: str) -> int:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        return sum(sum(1 for _ in book[name].iter_rows(values_only=True)) for name in SHEETS)
    finally:
        book.close()


def run_baseline(reader: str, folder: Path, jobs: int, limit: int | None) -> int:
    """Read the first `limit` workbooks of `folder` with a pool of `jobs`; print files and rows."""
    paths = sorted(str(p) for p in folder.iterdir() if p.suffix == ".xlsx")[:limit]
    read = _read_calamine if reader == "calamine" else _read_openpyxl
    chunk = max(1, min(16, len(paths) // (jobs * 4)))
    with multiprocessing.get_context(start_method()).Pool(jobs) as pool:
        rows = sum(pool.imap(read, paths, chunksize=chunk))
    print(f"files={len(paths)} rows={rows}")
    return 0


# ----- measuring a process tree -----


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0  # gone, or a zombie (no VmRSS line)


def _children_from_task_files(pid: int) -> list[int] | None:
    """Children via /proc/PID/task/*/children; None where the kernel does not provide it."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return []
    children: list[int] = []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                children += [int(child) for child in handle.read().split()]
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{task}"):
                continue  # the thread ended
            return None
    return children


def _parents() -> dict[int, int]:
    """pid -> ppid for every process, by scanning /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # The command name is in parentheses and may contain spaces; ppid is the 2nd field after it.
        parents[int(entry)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
    return parents


def process_tree(root: int, use_task_files: bool) -> list[int]:
    if use_task_files:
        tree, queue = [], [root]
        while queue:
            pid = queue.pop()
            tree.append(pid)
            children = _children_from_task_files(pid)
            if children is None:
                break
            queue += children
        else:
            return tree
    by_parent: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        by_parent.setdefault(ppid, []).append(pid)
    tree, queue = [], [root]
    while queue:
        pid = queue.pop()
        tree.append(pid)
        queue += by_parent.get(pid, [])
    return tree


def _memory_bytes(pid: int) -> int:
    """The process's proportional set size (shared pages divided among their users), or its RSS."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return _rss_bytes(pid)


class PeakMemory(threading.Thread):
    """Samples the summed memory of a process and its descendants until stopped."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak = 0
        self._stop_event = threading.Event()
        self._task_files = _children_from_task_files(os.getpid()) is not None

    def run(self) -> None:
        while not self._stop_event.is_set():
            total = sum(_memory_bytes(pid) for pid in process_tree(self.root, self._task_files))
            self.peak = max(self.peak, total)
            self._stop_event.wait(SAMPLE_SECONDS)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


@dataclass
class Reader:
    name: str
    files: int
    command: list[str]
    seconds: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak_mb(self) -> float:
        return max(self.peaks) / MIB


def measure(command: list[str]) -> tuple[float, int, str, str]:
    """Wall seconds, peak tree memory, stdout and stderr of one run; exits if the command fails."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = PeakMemory(process.pid)
    sampler.start()
    out, err = process.communicate()
    seconds = time.perf_counter() - start
    peak = sampler.stop()
    if process.returncode != 0:
        sys.exit(f"failed (exit {process.returncode}): {' '.join(command)}\n{err.strip()}")
    return seconds, peak, out, err


def measure_interleaved(readers: list[Reader], runs: int, survey: Path) -> None:
    """Run the readers in turn, `runs` rounds, recording each run's time and peak memory."""
    for round_number in range(1, runs + 1):
        line = []
        for reader in readers:
            seconds, peak, out, err = measure(reader.command)
            check_output(reader, out, err, survey)
            reader.seconds.append(seconds)
            reader.peaks.append(peak)
            line.append(f"{reader.name} {seconds:.2f} s")
        print(f"  round {round_number}: {', '.join(line)}", flush=True)


def check_output(reader: Reader, out: str, err: str, survey: Path) -> None:
    """Make sure each reader really read (and `cmr ingest` counted) every file it was given."""
    if reader.name == "cmr ingest":
        expected = f"ingest: {reader.files} files, 0 unreadable"
        responded = f"responded: {reader.files}\n"
        if expected not in err or responded not in survey.read_text(encoding="utf-8"):
            sys.exit(f"cmr ingest did not read and count all {reader.files} files:\n{err.strip()}")
    elif f"files={reader.files} " not in out:
        sys.exit(f"{reader.name} read an unexpected number of files: {out.strip()}")


# ----- building the folder -----


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        sys.exit(f"the CMRT corpus is missing: expected it in {CORPUS}")
    found = sorted({path for pattern in CORPUS_PATTERNS for path in CORPUS.glob(pattern)})
    if not found:
        sys.exit(f"no supplier-filled CMRT 6.4 workbooks ({', '.join(CORPUS_PATTERNS)}) in {CORPUS}")
    return found


@dataclass
class Source:
    """A corpus workbook and, when its Declaration names a company, the shared-strings entries
    that hold the name and the company's unique ID (so that each copy gets a company of its own:
    the ID, when given, is what says which company a declaration is from)."""

    path: Path
    parts: dict[str, bytes] = field(default_factory=dict)
    entries: list[zipfile.ZipInfo] = field(default_factory=list)
    company_entries: list[bytes] = field(default_factory=list)

    @classmethod
    def of(cls, path: Path) -> Source:
        from xml.sax.saxutils import escape

        from conflict_minerals.ingest.read.extract import read_supplier_file

        source = cls(path)
        company = getattr(read_supplier_file(path, path.name), "company", None)
        if company is not None and company.name:
            with zipfile.ZipFile(path) as archive:
                source.entries = archive.infolist()
                source.parts = {entry.filename: archive.read(entry) for entry in source.entries}
            for value in filter(None, (company.name, company.unique_id)):
                entry = f"<t>{escape(value)}</t>".encode()
                if source.parts.get("xl/sharedStrings.xml", b"").count(entry) != 1:
                    sys.exit(f"{path.name}: {value!r} is not one shared string; cannot make copies of it")
                source.company_entries.append(entry)
        return source

    def copy(self, target: Path, index: int) -> None:
        if not self.company_entries:
            shutil.copyfile(self.path, target)
            with zipfile.ZipFile(target, "a") as archive:
                archive.comment = f"benchmark copy {index}".encode()
        else:
            strings = self.parts["xl/sharedStrings.xml"]
            for entry in self.company_entries:
                strings = strings.replace(entry, entry.replace(b"</t>", f" #{index:04d}</t>".encode()))
            with zipfile.ZipFile(target, "w") as archive:
                for entry in self.entries:
                    data = strings if entry.filename == "xl/sharedStrings.xml" else self.parts[entry.filename]
                    archive.writestr(entry, data, compress_type=entry.compress_type, compresslevel=1)
        target.chmod(0o644)


def build_folder(folder: Path, count: int, sources: list[Source]) -> None:
    """`count` workbooks under distinct names, the sources taken round-robin, each its own
    supplier (see Source.copy)."""
    folder.mkdir()
    for index in range(count):
        source = sources[index % len(sources)]
        source.copy(folder / f"supplier-{index:04d}-{source.path.name.split('__')[-1]}", index)


# ----- report -----


def load() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def ratio(cmr: Reader, other: Reader) -> float:
    """The median of the per-round ratios: rounds ran back to back, so they share the machine's mood."""
    return statistics.median(a / b for a, b in zip(cmr.seconds, other.seconds, strict=True))


@dataclass
class SizeResult:
    files: int
    readers: list[Reader]
    load_before: str
    load_after: str


def print_table(results: list[SizeResult]) -> None:
    header = ("files", "reader", "median s", "min s", "max s", "files/s", "peak MB", "vs calamine")
    rows = [header]
    for result in results:
        cmr, calamine = result.readers[0], result.readers[1]
        for reader in result.readers:
            versus = "1.00x" if reader is calamine else f"{ratio(reader, calamine):.2f}x"
            rows.append(
                (
                    str(reader.files),
                    reader.name,
                    f"{reader.median:.2f}",
                    f"{min(reader.seconds):.2f}",
                    f"{max(reader.seconds):.2f}",
                    f"{reader.files / reader.median:.1f}",
                    f"{reader.peak_mb:.0f}",
                    versus if reader.files == cmr.files else "-",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for number, row in enumerate(rows):
        cells = [row[0].rjust(widths[0]), row[1].ljust(widths[1])]
        cells += [value.rjust(width) for value, width in zip(row[2:], widths[2:], strict=True)]
        print(" | ".join(cells))
        if number == 0:
            print("-+-".join("-" * width for width in widths))


def assess(results: list[SizeResult]) -> bool:
    """Print the goals for the sizes measured; True if none was missed."""
    met_all = True
    for result in results:
        cmr, calamine = result.readers[0], result.readers[1]
        slower = ratio(cmr, calamine)
        goal = WITHIN_OF_CALAMINE.get(result.files)
        if goal is not None:
            met = slower <= goal
            met_all &= met
            verdict = "PASS" if met else "MISS"
            print(f"{verdict}  {result.files} files: within {goal}x of bare calamine ({slower:.2f}x)")
        memory = cmr.peak_mb / calamine.peak_mb
        if result.files < PEAK_MB_FILES:
            met = memory <= PEAK_VS_CALAMINE
            met_all &= met
            verdict = "PASS" if met else "MISS"
            goal = f"peak at most {PEAK_VS_CALAMINE}x calamine's"
            print(f"{verdict}  {result.files} files: {goal} ({memory:.2f}x)")
        else:  # the survey's provenance grows with the files; the bare script keeps nothing
            print(f"INFO  {result.files} files: peak {memory:.2f}x calamine's (the goal here is the bound)")
        if result.files >= PEAK_MB_FILES:
            met = cmr.peak_mb < PEAK_MB_LIMIT
            met_all &= met
            verdict = "PASS" if met else "MISS"
            print(f"{verdict}  {result.files} files: under {PEAK_MB_LIMIT} MB peak ({cmr.peak_mb:.0f} MB)")
    return met_all


def compile_package() -> str:
    """Write the package's bytecode, as `pip install` does for an installed copy: an editable
    checkout run where PYTHONDONTWRITEBYTECODE is set (as on some CI machines) would otherwise
    compile every module from source on every run, a cost no installed copy pays."""
    spec = importlib.util.find_spec("conflict_minerals")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("conflict_minerals is not installed in this Python")
    folder = next(iter(spec.submodule_search_locations))
    compileall.compile_dir(folder, quiet=1)
    return folder


def measure_size(files: int, args: argparse.Namespace, sources: list[Source]) -> SizeResult:
    script = str(Path(__file__).resolve())
    jobs = str(args.jobs)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as temp:
        folder = Path(temp) / "suppliers"
        build_folder(folder, files, sources)
        survey = Path(temp) / "survey.yaml"
        ingest = [
            sys.executable, "-m", "conflict_minerals", "ingest", str(folder), "--out", str(survey),
            "--no-cache", "--jobs", jobs, "--year", "2024", "--as-of", "2024-12-31",
        ]  # fmt: skip
        readers = [
            Reader("cmr ingest", files, ingest),
            Reader(
                "bare calamine",
                files,
                [sys.executable, script, "--bare-calamine", str(folder), "--jobs", jobs],
            ),
        ]
        openpyxl_files = min(files, args.openpyxl_files)
        if openpyxl_files:
            command = [sys.executable, script, "--bare-openpyxl", str(folder), "--jobs", jobs]
            readers.append(Reader("openpyxl", openpyxl_files, [*command, "--limit", str(openpyxl_files)]))
        before = load()
        print(f"{files} workbooks, {before}", flush=True)
        measure_interleaved(readers, 1 if files >= ONE_ROUND_FILES else args.runs, survey)
        after = load()
    return SizeResult(files, readers, before, after)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--files", type=int, nargs="+", default=[60, 600], help="folder sizes to measure (default: 60 600)"
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)"
    )
    parser.add_argument(
        "--runs", type=int, default=5, help="rounds per size, readers interleaved (default 5)"
    )
    parser.add_argument(
        "--openpyxl-files",
        type=int,
        default=0,
        help="also time openpyxl on this many files (default: 0, skipped)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    # Hidden: the baselines, run by this script as subprocesses.
    parser.add_argument("--bare-calamine", type=Path, metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--bare-openpyxl", type=Path, metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if min(*args.files, args.jobs, args.runs) < 1 or args.openpyxl_files < 0:
        parser.error("--files, --jobs and --runs must be at least 1, --openpyxl-files at least 0")

    if args.bare_calamine is not None:
        return run_baseline("calamine", args.bare_calamine, args.jobs, args.limit)
    if args.bare_openpyxl is not None:
        return run_baseline("openpyxl", args.bare_openpyxl, args.jobs, args.limit)

    print(f"bytecode compiled for {compile_package()}")
    sources = [Source.of(path) for path in corpus_files()]
    print(
        f"{len(sources)} distinct CMRT 6.4 files copied round-robin, each copy its own supplier; "
        f"{args.jobs} worker "
        f"process{'es' if args.jobs != 1 else ''} on {len(os.sched_getaffinity(0))} cores; "
        f"{args.runs} interleaved rounds per size. Every side runs as a whole process "
        f"(interpreter start and imports included); the pools start workers by {start_method()}.",
        flush=True,
    )
    results = [measure_size(files, args, sources) for files in args.files]
    print()
    print_table(results)
    print()
    for result in results:
        print(f"{result.files} files: {result.load_before} before, {result.load_after} after")
    print()
    met = assess(results)
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
