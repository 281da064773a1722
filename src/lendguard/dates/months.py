"""Month arithmetic that keeps month ends.

A due day is anchored to the day the contract names, not to last month's date: due on the 31st
gives 31 Jan -> 28/29 Feb -> 31 Mar, never 31 Jan -> 28 Feb -> 28 Mar. So every date in a series
is computed from the anchor, never from the previous date.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
import datetime as dt


def days_in_month(year: int, month: int) -> int:
    """Number of days in a month."""
    return _stdlib_calendar.monthrange(year, month)[1]


def anchored_date(year: int, month: int, anchor_day: int) -> dt.date:
    """The ``anchor_day`` of a month, clamped to the month's last day."""
    if not 1 <= anchor_day <= 31:
        raise ValueError(f"anchor day must be 1..31, got {anchor_day}")
    return dt.date(year, month, min(anchor_day, days_in_month(year, month)))


def add_months(start: dt.date, months: int, anchor_day: int | None = None) -> dt.date:
    """``start`` moved by ``months`` months on ``anchor_day`` (default: start's day), clamped."""
    index = start.year * 12 + (start.month - 1) + months
    year, month_zero = divmod(index, 12)
    return anchored_date(year, month_zero + 1, anchor_day or start.day)


def monthly_dates(start: dt.date, count: int, anchor_day: int | None = None) -> list[dt.date]:
    """The ``count`` dates one, two, ... months after ``start``, all anchored to the same day."""
    return [add_months(start, n, anchor_day) for n in range(1, count + 1)]


def next_anchored_on_or_after(day: dt.date, anchor_day: int) -> dt.date:
    """The first date on or after ``day`` that falls on ``anchor_day`` (clamped to month end)."""
    candidate = anchored_date(day.year, day.month, anchor_day)
    if candidate >= day:
        return candidate
    return add_months(candidate, 1, anchor_day)
