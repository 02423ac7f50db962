"""Time `cmr ingest` against bare python-calamine and openpyxl reading the same workbooks.

The benchmark fills a temporary folder with N real supplier-filled CMRT 6.4 workbooks (the
corpus files copied round-robin under distinct names; identical content is fine because
`cmr ingest` runs with --no-cache) and measures, with the same number of worker processes:

  cmr ingest      `python -m conflict_minerals ingest DIR --no-cache --jobs J ...`, end to end
  bare calamine   the Declaration and Smelter List sheets read with python-calamine
                  (`CalamineWorkbook.from_path(p).get_sheet_by_name(name).to_python()`)
  openpyxl        the same two sheets with `load_workbook(p, read_only=True, data_only=True)`,
                  every row's values iterated; on the first M files only, as it is slow

Each reader runs as a fresh process (this script in a hidden mode for the two baselines), so
interpreter start, imports and the worker pool's start-up count on every side; both baselines
use a "spawn" multiprocessing pool, as `cmr ingest` does. Peak memory is the summed RSS
(VmRSS) of the process and all its descendants, sampled every 20 ms from /proc; pages shared
between processes count in each of them, so it errs on the high side. MB here are MiB.

Goals: `cmr ingest` within 1.5x of bare calamine's time, at least 8x the files/s of openpyxl,
and under 500 MB peak for 1,000 files (assessed only with --files >= 1000). Misses are
reported; the exit code is 0 unless --check is given.

    python benchmarks/bench_ingest.py [--files 200] [--jobs J] [--openpyxl-files M] [--runs R] [--check]

On a shared or virtual machine timings drift by 20% or more between runs; --runs 3 runs the
three readers in turn three times and reports each one's best time (and highest peak).

The corpus is expected in ../shared/cmrt-corpus next to the project folder.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cmrt-corpus"
CORPUS_PATTERNS = (
    "wwww13wwww__mineral-system__RMI_CMRT_6.4_*.xlsx",
    "wwww13wwww__mineral-system__RMI_WF6_CMRT_6.4_Apr2024_Merck.xlsx",
)
SHEETS = ("Declaration", "Smelter List")
SAMPLE_SECONDS = 0.020
MIB = 1024 * 1024

WITHIN_OF_CALAMINE = 1.5
FASTER_THAN_OPENPYXL = 8.0
PEAK_MB_LIMIT = 500
PEAK_MB_FILES = 1000


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
    chunk = max(1, min(16, len(paths) // (jobs * 4)))  # as `cmr ingest` chunks its jobs
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
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


class PeakMemory(threading.Thread):
    """Samples the summed RSS of a process and its descendants until stopped."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak = 0
        self.samples = 0
        self._stop_event = threading.Event()
        self._task_files = _children_from_task_files(os.getpid()) is not None

    def run(self) -> None:
        while not self._stop_event.is_set():
            total = sum(_rss_bytes(pid) for pid in process_tree(self.root, self._task_files))
            self.peak = max(self.peak, total)
            self.samples += 1
            self._stop_event.wait(SAMPLE_SECONDS)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


@dataclass
class Measurement:
    reader: str
    files: int
    seconds: float
    peak_bytes: int

    @property
    def files_per_second(self) -> float:
        return self.files / self.seconds

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / MIB


def measure(command: list[str]) -> tuple[float, int, str, str]:
    """Wall seconds, peak tree RSS, stdout and stderr of one run; exits if the command fails."""
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


def measure_all(readers: list[tuple[str, int, list[str]]], runs: int) -> list[Measurement]:
    """Each reader's best time and highest peak over `runs` rounds.

    The rounds interleave the readers, so a slow spell of a shared machine hits all of them; the
    best time is kept because other load only ever adds to a run's time."""
    times: dict[str, list[float]] = {reader: [] for reader, _, _ in readers}
    peaks: dict[str, list[int]] = {reader: [] for reader, _, _ in readers}
    for round_number in range(1, runs + 1):
        for reader, files, command in readers:
            seconds, peak, out, err = measure(command)
            check_output(reader, files, out, err)
            times[reader].append(seconds)
            peaks[reader].append(peak)
            if runs > 1:
                print(f"  round {round_number}: {reader} {seconds:.2f} s, {peak / MIB:.0f} MB", flush=True)
    return [
        Measurement(reader, files, min(times[reader]), max(peaks[reader])) for reader, files, _ in readers
    ]


def check_output(reader: str, files: int, out: str, err: str) -> None:
    """Make sure each reader really read every file it was given."""
    if reader == "cmr ingest":
        expected = f"ingest: {files} files, 0 unreadable"
        if expected not in err:
            sys.exit(f"cmr ingest did not read all {files} files cleanly:\n{err.strip()}")
    elif f"files={files} " not in out:
        sys.exit(f"{reader} read an unexpected number of files: {out.strip()}")


# ----- building the folder -----


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        sys.exit(f"the CMRT corpus is missing: expected it in {CORPUS}")
    found = sorted({path for pattern in CORPUS_PATTERNS for path in CORPUS.glob(pattern)})
    if not found:
        sys.exit(f"no supplier-filled CMRT 6.4 workbooks ({', '.join(CORPUS_PATTERNS)}) in {CORPUS}")
    return found


def build_folder(folder: Path, count: int, sources: list[Path]) -> None:
    """`count` workbooks under distinct names, the sources taken round-robin (hard links if possible)."""
    folder.mkdir()
    for index in range(count):
        source = sources[index % len(sources)]
        target = folder / f"supplier-{index:04d}-{source.name.split('__')[-1]}"
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)


# ----- report -----


def print_table(rows: list[Measurement]) -> None:
    header = ("reader", "files", "seconds", "files/s", "peak MB")
    cells = [header] + [
        (m.reader, str(m.files), f"{m.seconds:.2f}", f"{m.files_per_second:.1f}", f"{m.peak_mb:.0f}")
        for m in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        first = row[0].ljust(widths[0])
        rest = [value.rjust(width) for value, width in zip(row[1:], widths[1:], strict=True)]
        return " | ".join([first, *rest])

    print(line(header))
    print("-+-".join("-" * width for width in widths))
    for row in cells[1:]:
        print(line(row))


def assess(cmr: Measurement, calamine: Measurement, openpyxl: Measurement) -> bool:
    """Print the ratios and the goals; True if no goal was missed."""
    slower = cmr.seconds / calamine.seconds
    faster = cmr.files_per_second / openpyxl.files_per_second
    print()
    print(f"cmr ingest vs bare calamine: {slower:.2f}x slower")
    print(f"cmr ingest vs openpyxl: {faster:.1f}x faster")
    ceiling = calamine.files_per_second / openpyxl.files_per_second
    print(f"(bare calamine vs openpyxl: {ceiling:.1f}x faster, the most any calamine-based reader can reach)")
    print()
    goals = [
        (slower <= WITHIN_OF_CALAMINE, f"within {WITHIN_OF_CALAMINE}x of bare calamine ({slower:.2f}x)"),
        (
            faster >= FASTER_THAN_OPENPYXL,
            f"at least {FASTER_THAN_OPENPYXL:g}x faster than openpyxl ({faster:.1f}x)",
        ),
    ]
    memory_goal = f"under {PEAK_MB_LIMIT} MB peak for {PEAK_MB_FILES:,} files"
    if cmr.files >= PEAK_MB_FILES:
        goals.append((cmr.peak_mb < PEAK_MB_LIMIT, f"{memory_goal} ({cmr.peak_mb:.0f} MB for {cmr.files:,})"))
    for met, goal in goals:
        print(f"{'PASS' if met else 'MISS'}  {goal}")
    if cmr.files < PEAK_MB_FILES:
        print(f"SKIP  {memory_goal} (assessed only with --files >= {PEAK_MB_FILES})")
    return all(met for met, _ in goals)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=200, help="workbooks in the folder (default 200)")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)"
    )
    parser.add_argument(
        "--openpyxl-files", type=int, default=100, help="files openpyxl reads (default: min(files, 100))"
    )
    parser.add_argument(
        "--runs", type=int, default=1, help="rounds of runs (readers interleaved); the best time is kept"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    # Hidden: the baselines, run by this script as subprocesses.
    parser.add_argument("--bare-calamine", type=Path, metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--bare-openpyxl", type=Path, metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if min(args.files, args.jobs, args.runs, args.openpyxl_files) < 1:
        parser.error("--files, --jobs, --runs and --openpyxl-files must be at least 1")

    if args.bare_calamine is not None:
        return run_baseline("calamine", args.bare_calamine, args.jobs, args.limit)
    if args.bare_openpyxl is not None:
        return run_baseline("openpyxl", args.bare_openpyxl, args.jobs, args.limit)

    openpyxl_files = min(args.files, args.openpyxl_files)
    sources = corpus_files()
    script = str(Path(__file__).resolve())
    jobs = str(args.jobs)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as temp:
        folder = Path(temp) / "suppliers"
        build_folder(folder, args.files, sources)
        print(
            f"{args.files} workbooks ({len(sources)} distinct CMRT 6.4 files, round-robin), "
            f"{args.jobs} worker process{'es' if args.jobs != 1 else ''}, {args.runs} run(s) each",
            flush=True,
        )
        ingest = [
            sys.executable, "-m", "conflict_minerals", "ingest", str(folder),
            "--out", str(Path(temp) / "survey.yaml"),
            "--no-cache", "--jobs", jobs, "--year", "2024", "--as-of", "2024-12-31",
        ]  # fmt: skip
        bare_calamine = [sys.executable, script, "--bare-calamine", str(folder), "--jobs", jobs]
        bare_openpyxl = [
            sys.executable, script, "--bare-openpyxl", str(folder),
            "--jobs", jobs, "--limit", str(openpyxl_files),
        ]  # fmt: skip
        rows = measure_all(
            [
                ("cmr ingest", args.files, ingest),
                ("bare calamine", args.files, bare_calamine),
                ("openpyxl", openpyxl_files, bare_openpyxl),
            ],
            args.runs,
        )
    print()
    print_table(rows)
    met = assess(*rows)
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
