"""Date formatting that does not depend on the locale (strftime's %B does)."""

from __future__ import annotations

from datetime import date

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def long_date(day: date) -> str:
    """'May 29, 2026', the style of SEC filings."""
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"
