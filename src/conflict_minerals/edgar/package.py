"""`cmr build --edgar`: the submission folder: Form SD and the CMR as EDGAR .htm files (their
document types and file names are in documents.py), and submission.json with what the filer
enters in EDGARLink Online."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..documents import CMR, DOCUMENTS, EDGAR_DIR, SUBMISSION
from ..problems import InputError, Problem
from .convert import to_edgar

if TYPE_CHECKING:
    from ..filing.loader import LoadedFiling


def submission(loaded: LoadedFiling, documents: list[dict]) -> bytes:
    year = loaded.filing.reporting_year
    has_report = any(d["type"] == CMR.edgar.type for d in documents)
    data = {
        "submission_type": "SD",
        "rule": "13p-1",
        # Item 1.02 (Exhibit) is claimed only when the Conflict Minerals Report is attached.
        "items": [
            {"item": item, "period": f"{year}1231"} for item in (["1.01", "1.02"] if has_report else ["1.01"])
        ],
        "period": f"{year}1231",
        "registrant": loaded.filing.registrant.name,
        "commission_file_number": loaded.filing.registrant.commission_file_number,
        "documents": documents,
    }
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


def edgar_outputs(
    loaded: LoadedFiling, pages: dict[str, str], folder: Path, *, allow_draft: bool = False
) -> dict[Path, bytes]:
    """The EDGAR files, each checked with the project's EDGAR linter; a problem fails the build.

    `allow_draft` (a test package from a draft, `--allow-draft`) lets the draft banner through."""
    from .lint import lint_html

    year = loaded.filing.reporting_year
    outputs: dict[Path, bytes] = {}
    documents = []
    for doc in DOCUMENTS:
        if doc.stem not in pages:
            continue
        name = doc.edgar.file_name(year)
        outputs[folder / name] = to_edgar(pages[doc.stem])
        documents.append(
            {
                "sequence": len(documents) + 1,
                "type": doc.edgar.type,
                "file_name": name,
                "description": doc.edgar.description,
            }
        )
    problems = []
    for path, data in outputs.items():
        for problem in lint_html(data, f"{EDGAR_DIR}/{path.name}", None):
            if allow_draft and problem.rule == "draft-banner":
                continue
            problems.append(
                Problem(problem.file, problem.line, None, problem.rule, f"{problem.message} ({problem.fix})")
            )
    if problems:
        raise InputError(problems)
    outputs[folder / SUBMISSION] = submission(loaded, documents)
    return outputs
