"""Time `cmr serve` from saving the filing YAML to the open page having the change.

Starts `cmr serve --port 0` on a copy of a sample, listens to the event stream as an open page
does, and then, run after run: saves the YAML as an editor does (a new file renamed over the
old one) with a different registrant name, waits for the reload event, and fetches the
Conflict Minerals Report until it shows the new name. The median is reported.

    python benchmarks/bench_serve.py [FILING.yaml] [--runs N] [--max-seconds 1.0]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FILING = REPO / "sample_inputs" / "acme-2025" / "filing.yaml"
PAGE = "conflict-minerals-report.html"
NAME = re.compile(r'(?m)^(  name: ")([^"]*)(")')
# Each run waits at most this long for the change before the benchmark gives up.
RUN_TIMEOUT_SECONDS = 20.0


def next_version(stream, seen: str | None) -> str:
    """Read the event stream until a `version` event other than `seen`."""
    event = None
    while True:
        line = stream.readline().decode("utf-8")
        if not line:
            raise RuntimeError("the event stream ended")
        line = line.rstrip("\n")
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "version" and line[6:] != seen:
            return line[6:]


def save(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.saving")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def one_run(filing: Path, url: str, stream, version: str, name: str) -> tuple[float, str]:
    text = NAME.sub(lambda m: m[1] + name + m[3], filing.read_text(encoding="utf-8"), count=1)
    started = time.perf_counter()
    save(filing, text)
    deadline = started + RUN_TIMEOUT_SECONDS
    version = next_version(stream, version)
    while time.perf_counter() < deadline:
        with urllib.request.urlopen(url + PAGE, timeout=RUN_TIMEOUT_SECONDS) as response:
            if name.encode() in response.read():
                return time.perf_counter() - started, version
    raise RuntimeError(f"the page did not show {name!r} within {RUN_TIMEOUT_SECONDS} s")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("filing", nargs="?", type=Path, default=DEFAULT_FILING)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--max-seconds", type=float, default=1.0, help="exit 1 when the median is above it")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch) / args.filing.resolve().parent.name
        shutil.copytree(args.filing.resolve().parent, project)
        filing = project / args.filing.name
        command = [sys.executable, "-m", "conflict_minerals", "serve", str(filing), "--port", "0"]
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert server.stdout is not None
            url = re.search(r"http://\S+/", server.stdout.readline())[0]
            with urllib.request.urlopen(url + "_cmr/events", timeout=RUN_TIMEOUT_SECONDS) as stream:
                version = next_version(stream, None)
                times = []
                for run in range(args.runs):
                    seconds, version = one_run(filing, url, stream, version, f"Acme Run {run} Devices, Inc.")
                    times.append(seconds)
        finally:
            server.terminate()
            server.wait(10)

    median = statistics.median(times)
    print(f"filing:        {args.filing}")
    print(f"runs:          {args.runs}")
    low, high = min(times) * 1000, max(times) * 1000
    print(f"save to page:  median {median * 1000:.0f} ms (min {low:.0f}, max {high:.0f})")
    if median > args.max_seconds:
        print(f"FAIL: median above {args.max_seconds} s")
        return 1
    print(f"ok: within {args.max_seconds} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
