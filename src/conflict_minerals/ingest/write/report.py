"""The findings as a CSV for spreadsheets and one HTML page grouped by supplier, and the
per-workbook details as JSON."""

from __future__ import annotations

import re
from collections import defaultdict

from ..check.checks import CODES
from ..models import Finding, FindingSeverity
from .spreadsheet import csv_bytes

SEVERITY_ORDER = {FindingSeverity.ERROR: 0, FindingSeverity.WARNING: 1, FindingSeverity.INFO: 2}
CSV_COLUMNS = ("supplier", "file", "severity", "code", "sheet", "cell", "message")


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(
        findings,
        key=lambda f: (
            f.file,
            SEVERITY_ORDER[f.severity],
            f.sheet or "",
            _cell_key(f.cell),
            f.code,
            f.message,
        ),
    )


def _cell_key(cell: str | None) -> tuple[int, str]:
    if not cell:
        return (0, "")
    match = re.fullmatch(r"([A-Z]+)([0-9]+)", cell)
    return (int(match[2]), match[1]) if match else (0, cell)


def findings_csv(findings: list[Finding]) -> bytes:
    rows = (
        [
            item.supplier or "",
            item.file,
            item.severity.value,
            item.code,
            item.sheet or "",
            item.cell or "",
            item.message,
        ]
        for item in sort_findings(findings)
    )
    return csv_bytes(CSV_COLUMNS, rows)


def findings_html(
    findings: list[Finding],
    summary: dict,
    title: str,
    campaign: dict | None = None,
    changes: list | None = None,
) -> bytes:
    """The findings page; with a roster, where each supplier stands (`campaign`: rows and
    totals); with the previous round, what each supplier changed since."""
    groups: dict[str, list[Finding]] = defaultdict(list)
    for item in sort_findings(findings):
        groups[item.file].append(item)
    suppliers = [
        {
            "file": file,
            "supplier": next((f.supplier for f in items if f.supplier), None),
            "findings": items,
            "counts": {s.value: sum(1 for f in items if f.severity is s) for s in FindingSeverity},
        }
        for file, items in sorted(groups.items())
    ]
    # Jinja is imported only when findings.html is asked for (--findings).
    from ...report.templating import make_environment, render_template, theme_stylesheet

    env = make_environment(None)
    html = render_template(
        env,
        "ingest-findings.html.j2",
        {
            "title": title,
            "suppliers": suppliers,
            "summary": summary,
            "codes": CODES,
            "stylesheet": theme_stylesheet("css/findings.css"),
            "campaign": campaign,
            "changes": changes,
        },
    )
    return html.encode("utf-8")
