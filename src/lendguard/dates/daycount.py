"""Day-count conventions: how many days, and what fraction of a year, lie between two dates.

Interest on consumer loans is quoted per day (Jiebei, DOMAIN 2.4) or per year; the convention
decides the year fraction. Definitions follow ISDA 2006 §4.16:
- ACT/365 (Fixed): actual days / 365.
- ACT/360: actual days / 360.
- 30/360 (Bond Basis): day 31 becomes 30; the end day 31 becomes 30 only if the start is 30 or 31.
- ACT/ACT (ISDA): days in each calendar year divided by that year's length.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from fractions import Fraction

from lendguard.errors import InvalidDateError


class DayCount(StrEnum):
    """Supported day-count conventions, named as the CLI spells them."""

    ACT_365 = "ACT/365"
    ACT_360 = "ACT/360"
    THIRTY_360 = "30/360"
    ACT_ACT = "ACT/ACT"


def actual_days(start: dt.date, end: dt.date) -> int:
    """Calendar days from ``start`` (inclusive) to ``end`` (exclusive)."""
    if end < start:
        raise InvalidDateError(f"end {end} is before start {start}")
    return (end - start).days


def thirty_360_days(start: dt.date, end: dt.date) -> int:
    """Days under 30/360 Bond Basis (ISDA 2006 §4.16(f))."""
    if end < start:
        raise InvalidDateError(f"end {end} is before start {start}")
    day_start = min(start.day, 30)
    day_end = 30 if end.day == 31 and day_start == 30 else end.day
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (day_end - day_start)


def _year_length(year: int) -> int:
    return 366 if dt.date(year, 12, 31).timetuple().tm_yday == 366 else 365


def year_fraction(start: dt.date, end: dt.date, convention: DayCount) -> Fraction:
    """Exact year fraction between two dates under ``convention``."""
    convention = DayCount(convention)
    if convention is DayCount.ACT_365:
        return Fraction(actual_days(start, end), 365)
    if convention is DayCount.ACT_360:
        return Fraction(actual_days(start, end), 360)
    if convention is DayCount.THIRTY_360:
        return Fraction(thirty_360_days(start, end), 360)
    return _act_act_fraction(start, end)


def _act_act_fraction(start: dt.date, end: dt.date) -> Fraction:
    actual_days(start, end)  # validates order
    total = Fraction(0)
    cursor = start
    while cursor < end:
        year_end = dt.date(cursor.year + 1, 1, 1)
        stop = min(year_end, end)
        total += Fraction((stop - cursor).days, _year_length(cursor.year))
        cursor = stop
    return total


def period_days(start: dt.date, end: dt.date, convention: DayCount) -> int:
    """Days counted for interest: 30/360 counts its own days, ACT conventions count actual days."""
    if DayCount(convention) is DayCount.THIRTY_360:
        return thirty_360_days(start, end)
    return actual_days(start, end)
