"""Billing dates of a credit line: when statements are cut and when they fall due.

A statement is cut at the start of the statement day and covers everything posted before it; it
falls due on the next ``due_day`` after the cut (DOMAIN 1.1-1.3: cut on the 1st, due the 9th/10th,
so a purchase on the 1st enjoys up to ~41 interest-free days). Month ends are kept by anchoring.
"""

from __future__ import annotations

import datetime as dt

from lendguard.dates.months import add_months, next_anchored_on_or_after

ONE_DAY = dt.timedelta(days=1)


def is_statement_day(day: dt.date, statement_day: int) -> bool:
    """Whether a statement is cut on ``day``."""
    return next_anchored_on_or_after(day, statement_day) == day


def due_date_for_cut(cut_on: dt.date, due_day: int) -> dt.date:
    """Due date of the statement cut on ``cut_on``."""
    return next_anchored_on_or_after(cut_on + ONE_DAY, due_day)


def next_cut_after(day: dt.date, statement_day: int) -> dt.date:
    """The first statement date strictly after ``day``."""
    return next_anchored_on_or_after(day + ONE_DAY, statement_day)


def plan_due_dates(day: dt.date, statement_day: int, due_day: int, count: int) -> list[dt.date]:
    """Due dates of an instalment plan converted on ``day``: the next ``count`` statement dues."""
    first = due_date_for_cut(next_cut_after(day, statement_day), due_day)
    return [add_months(first, months, due_day) for months in range(count)]
