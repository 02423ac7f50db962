"""Time the survey results writer of `cmr ingest`: PyYAML's dumper (as it was) against `survey_yaml`.

The survey is read from a YAML file given as argument (a survey.yaml `cmr ingest` wrote), or,
with --files N instead, built by ingesting N copies of the corpus's supplier-filled CMRT 6.4
workbooks (made distinct the way benchmarks/bench_ingest.py makes them; the corpus is expected
in ../shared/cmrt-corpus next to the project folder). Both writers must give the same bytes,
or the script stops with exit code 1 before timing anything. Then they run in turn, A B A B
..., --runs times, in this process; each one's median is reported, and the ratio is the median
of the per-round ratios. The load average is printed before and after: figures taken while
other work runs on the machine are not comparable.

    python benchmarks/bench_survey_yaml.py SURVEY.yaml [--runs R]
    python benchmarks/bench_survey_yaml.py --files 600 [--runs R]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import yaml

from conflict_minerals.ingest.pipeline import IngestOptions, run_ingest
from conflict_minerals.ingest.write import surveyfile
from conflict_minerals.ingest.write.surveyfile import pyyaml_survey_yaml, survey_yaml

HERE = Path(__file__).resolve().parent


def load() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def read_survey(path: Path) -> dict:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open("rb") as stream:
        return yaml.load(stream, Loader=loader)


def ingested_survey(files: int) -> dict:
    """The survey dict `cmr ingest` hands its writer for `files` corpus workbooks."""
    spec = importlib.util.spec_from_file_location("bench_ingest", HERE / "bench_ingest.py")
    assert spec is not None and spec.loader is not None
    bench_ingest = sys.modules[spec.name] = importlib.util.module_from_spec(
        spec
    )  # its dataclasses look it up
    spec.loader.exec_module(bench_ingest)
    captured: list[dict] = []

    def capture(survey: dict) -> bytes:
        captured.append(survey)
        return survey_yaml(survey)

    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp) / "suppliers"
        bench_ingest.build_folder(folder, files, bench_ingest.corpus_files())
        options = IngestOptions(
            folder=folder,
            out=Path(temp) / "survey.yaml",
            reporting_year=2024,
            as_of=date(2024, 12, 31),
            jobs=min(4, os.cpu_count() or 1),
        )
        surveyfile.survey_yaml = capture  # pipeline looks it up when it writes
        run_ingest(options, lambda *args: None)
    return captured[-1]


def timed(write: Callable[[dict], bytes], survey: dict) -> float:
    started = time.perf_counter()
    write(survey)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("survey", nargs="?", type=Path, help="a survey results YAML file")
    parser.add_argument("--files", type=int, help="build the survey by ingesting this many corpus copies")
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    if (args.survey is None) == (args.files is None):
        parser.error("give either a survey file or --files N")
    survey = read_survey(args.survey) if args.survey else ingested_survey(args.files)
    expected = pyyaml_survey_yaml(survey)
    if survey_yaml(survey) != expected:
        print("survey_yaml and PyYAML write different bytes for this survey", file=sys.stderr)
        return 1
    lines = expected.count(b"\n")
    print(f"survey: {len(expected) / 1e6:.2f} MB, {lines:,} lines; {load()}")
    old: list[float] = []
    new: list[float] = []
    for _ in range(args.runs):
        old.append(timed(pyyaml_survey_yaml, survey))
        new.append(timed(survey_yaml, survey))
    ratios = [a / b for a, b in zip(old, new, strict=True)]
    print(f"PyYAML (libyaml) dumper  median {statistics.median(old) * 1000:7.1f} ms")
    print(f"survey_yaml              median {statistics.median(new) * 1000:7.1f} ms")
    print(f"speed-up (median of per-round ratios) {statistics.median(ratios):.2f}x over {args.runs} runs")
    print(load())
    return 0


if __name__ == "__main__":
    sys.exit(main())
