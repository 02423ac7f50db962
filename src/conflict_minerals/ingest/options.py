"""What one `cmr ingest` run is asked to do (the command's options), shared by its stages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path


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
    # The reviewer's decisions on mine-location text ingest could not read (check/decisions.py).
    decisions: Path | None = None
    # The cut-off: responses received up to this day are in the figures (the survey says so).
    responses_through: date | None = None
    letters_dir: Path | None = None
    filing: Path | None = None  # the letterhead of the letters
    previous: Path | None = None  # the previous round's details folder
