"""The Form SD filing window: January 1 to May 31 after the reporting year.

Form SD General Instruction B: the report is due no later than May 31; when that falls
on a Saturday, Sunday or holiday it is due the next business day (US federal holidays,
as the SEC observes them).
"""

from __future__ import annotations

from datetime import date, timedelta

import holidays


def is_business_day(day: date) -> bool:
    if day.weekday() >= 5:
        return False
    return day not in holidays.US(years=day.year, categories=("public",))


def filing_deadline(reporting_year: int) -> date:
    due = date(reporting_year + 1, 5, 31)
    while not is_business_day(due):
        due += timedelta(days=1)
    return due


def window_opens(reporting_year: int) -> date:
    """The reporting period is the calendar year; a report can be signed only after it ends."""
    return date(reporting_year + 1, 1, 1)
