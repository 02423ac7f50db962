"""The Form SD filing window: January 1 to May 31 after the reporting year.

Form SD General Instruction B: the report is due no later than May 31; when that falls
on a Saturday, Sunday or holiday it is due the next business day (US federal holidays,
as the SEC observes them).

The federal holidays are those of 5 U.S.C. 6103, computed here rather than through the
`holidays` package, whose import loads some 280 country modules (50 ms on every run);
tests/test_inputs.py checks this function against `holidays` for every year 2013-2100.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

MONDAY, THURSDAY = 0, 3


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year, month + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    """A holiday on Saturday is observed on Friday, on Sunday on Monday (5 U.S.C. 6103(b))."""
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


@cache
def federal_holidays(year: int) -> frozenset[date]:
    fixed = [date(year, 1, 1), date(year, 7, 4), date(year, 11, 11), date(year, 12, 25)]
    if year >= 2021:  # Juneteenth National Independence Day Act, June 17, 2021
        fixed.append(date(year, 6, 19))
    # A Saturday January 1 is observed on December 31 of the year before: kept to that year.
    days = {_observed(day) for day in fixed if _observed(day).year == year}
    days |= {
        _nth_weekday(year, 1, MONDAY, 3),  # Birthday of Martin Luther King, Jr.
        _nth_weekday(year, 2, MONDAY, 3),  # Washington's Birthday
        _last_weekday(year, 5, MONDAY),  # Memorial Day
        _nth_weekday(year, 9, MONDAY, 1),  # Labor Day
        _nth_weekday(year, 10, MONDAY, 2),  # Columbus Day
        _nth_weekday(year, 11, THURSDAY, 4),  # Thanksgiving Day
    }
    # New Year's Day of the next year observed on December 31 of this one.
    if date(year + 1, 1, 1).weekday() == 5:
        days.add(date(year, 12, 31))
    return frozenset(days)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in federal_holidays(day.year)


def filing_deadline(reporting_year: int) -> date:
    due = date(reporting_year + 1, 5, 31)
    while not is_business_day(due):
        due += timedelta(days=1)
    return due


def window_opens(reporting_year: int) -> date:
    """The reporting period is the calendar year; a report can be signed only after it ends."""
    return date(reporting_year + 1, 1, 1)


def first_year_covering(acquired: date) -> int:
    """The first reporting year whose report covers an acquired company's products: Form SD lets
    a registrant delay reporting on them until the end of the first calendar year that begins no
    sooner than eight months after the acquisition."""
    month = acquired.month + 8
    year = acquired.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    earliest = date(year, month, min(acquired.day, 28))
    # A calendar year begins on January 1: the first January 1 on or after `earliest`.
    return earliest.year if (earliest.month, earliest.day) == (1, 1) else earliest.year + 1
