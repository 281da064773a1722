"""The one place the source rules live: raw reports -> the flat source columns, as arrays.

Every window counts back from the application date (``applied_on``) and includes it:
- bureau inquiries "in the last N months" are those with
  ``applied_on - N months < queried_on <= applied_on`` (calendar months, the day clamped to the
  month's end: 31 March minus one month is 28/29 February), and only lending inquiries count
  (:data:`~.sources_reports.LENDING_INQUIRY_REASONS`);
- multi-lending "in the last N days" means ``applied_on - N days < applied_on_of_application <=
  applied_on``, so a 7-day window holds the application date and the six days before it;
- anything dated after ``applied_on`` is outside every window (point in time: a report fetched
  later must not see the future). An account opened after ``applied_on`` is a broken report.

Bureau status strings are aligned across a report's accounts (the last character is the newest
month), so "months with any overdue" counts month positions where at least one account was
overdue, and the worst status over 12 months reads the last 12 characters.

Each summariser takes a sequence of reports, ``None`` where there is none (no record, no consent, a
failure), and returns one numpy array per column, ``MISSING_VALUES`` where the report is ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import cast

import numpy as np

from lendguard.underwriting.sources_reports import (
    LENDING_INQUIRY_REASONS,
    STATUS_MONTHS,
    BlocklistResult,
    BureauAccount,
    BureauReport,
    MultiLendingReport,
    PlatformHistory,
    Report,
    SourceDataError,
    missing_columns,
)

INQUIRY_WINDOWS_MONTHS = (1, 3, 6)
APPLICATION_WINDOWS_DAYS = (7, 30, 90)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
RECENT_STATUS_MONTHS = 12
"""``bureau_worst_status_12m`` reads the newest 12 of the 24 status characters."""

_STATUS_PERIODS = np.zeros(256, dtype=np.int8)
_STATUS_PERIODS[np.frombuffer(b"1234567", dtype=np.uint8)] = np.arange(1, 8, dtype=np.int8)
"""Status character (as a byte) -> periods overdue; ``N``, ``*``, ``C`` and ``/`` are 0."""


def as_days(dates: Sequence[date] | np.ndarray) -> np.ndarray:
    """Dates (a list or tuple of ``date``, or datetime64 / a pandas column) as datetime64[D]."""
    if isinstance(dates, list | tuple):  # ordinals: ten times faster than numpy parsing dates
        ordinals = np.fromiter((day.toordinal() for day in dates), np.int64, count=len(dates))
        return (ordinals - _EPOCH_ORDINAL).astype("datetime64[D]")
    return np.asarray(dates, dtype="datetime64[D]")


def months_before(days: np.ndarray, months: int | np.ndarray) -> np.ndarray:
    """The same day ``months`` calendar months earlier, clamped to the end of a shorter month."""
    month = days.astype("datetime64[M]")
    day_index = (days - month.astype("datetime64[D]")).astype(np.int64)
    target = month - np.asarray(months, dtype=np.int64)
    month_days = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    return target.astype("datetime64[D]") + np.minimum(day_index, month_days - 1)


def whole_months_between(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Complete calendar months from ``start`` to ``end``, by monthly anniversaries clamped to the
    month's end (31 January to 28 February is one month); the inverse of :func:`months_before`."""
    start_month = start.astype("datetime64[M]")
    end_month = end.astype("datetime64[M]")
    months = (end_month - start_month).astype(np.int64)
    start_day = (start - start_month.astype("datetime64[D]")).astype(np.int64)
    end_day = (end - end_month.astype("datetime64[D]")).astype(np.int64)
    end_month_days = (
        (end_month + 1).astype("datetime64[D]") - end_month.astype("datetime64[D]")
    ).astype(np.int64)
    return months - (end_day < np.minimum(start_day, end_month_days - 1))


def status_periods(status_strings: Sequence[str]) -> np.ndarray:
    """An (accounts, 24) int8 array of periods overdue per month from the status strings."""
    if not status_strings:
        return np.zeros((0, STATUS_MONTHS), dtype=np.int8)
    raw = np.frombuffer("".join(status_strings).encode("ascii"), dtype=np.uint8)
    return _STATUS_PERIODS[raw.reshape(len(status_strings), STATUS_MONTHS)]


# --- bureau -------------------------------------------------------------------------------------


class _BureauRows:
    """A batch of bureau reports flattened into one array per account and per inquiry field."""

    def __init__(self, reports: Sequence[BureauReport | None]) -> None:
        self.present = np.zeros(len(reports), dtype=bool)
        self.identity_matches = np.ones(len(reports), dtype=bool)
        account_rows: list[int] = []
        opened: list[date] = []
        numbers: list[tuple[int, int, int, int]] = []
        revolving: list[bool] = []
        statuses: list[str] = []
        inquiry_rows: list[int] = []
        queried: list[date] = []
        for row, report in enumerate(reports):
            if report is None:
                continue
            self.present[row] = True
            self.identity_matches[row] = report.identity_matches
            for account in report.accounts:
                account_rows.append(row)
                opened.append(account.opened_on)
                numbers.append(_account_numbers(account))
                revolving.append(account.kind == "revolving" and account.status_24m[-1] != "C")
                statuses.append(account.status_24m)
            for inquiry in report.inquiries:
                if inquiry.reason in LENDING_INQUIRY_REASONS:
                    inquiry_rows.append(row)
                    queried.append(inquiry.queried_on)
        self.account_rows = np.array(account_rows, dtype=np.int64)
        self.opened = as_days(opened)
        amounts = np.array(numbers, dtype=np.int64).reshape(-1, 4)
        self.limit, self.balance, self.repayment, self.overdue = amounts.T
        self.open_revolving = np.array(revolving, dtype=bool)
        self.periods = status_periods(statuses)
        self.inquiry_rows = np.array(inquiry_rows, dtype=np.int64)
        self.queried = as_days(queried)


def _account_numbers(account: BureauAccount) -> tuple[int, int, int, int]:
    return (
        account.limit_minor,
        account.balance_minor,
        account.monthly_repayment_minor,
        account.overdue_minor,
    )


def summarise_bureau(
    reports: Sequence[BureauReport | None], applied_on: Sequence[date] | np.ndarray
) -> dict[str, np.ndarray]:
    """The ``bureau_*`` value columns (all but ``bureau_status``) of each report at its date.

    Raises :class:`SourceDataError` for an account opened after its application date.
    """
    applied = as_days(applied_on)
    assert len(applied) == len(reports), "one application date per report"
    rows = _BureauRows(reports)
    columns = missing_columns("bureau", len(reports))
    columns["bureau_identity_matches"] = rows.identity_matches
    _check_opened(rows, applied)
    columns.update(_account_columns(rows, applied))
    columns.update(_month_columns(rows, len(reports)))
    columns.update(_inquiry_columns(rows, applied))
    return columns


def _check_opened(rows: _BureauRows, applied: np.ndarray) -> None:
    future = rows.opened > applied[rows.account_rows]
    if future.any():
        first = int(np.flatnonzero(future)[0])
        row = int(rows.account_rows[first])
        raise SourceDataError(
            f"bureau report at row {row}: account opened_on {rows.opened[first]} is after the "
            f"application date {applied[row]}"
        )


def _account_columns(rows: _BureauRows, applied: np.ndarray) -> dict[str, np.ndarray]:
    count = len(applied)
    accounts = np.bincount(rows.account_rows, minlength=count).astype(np.int64)
    first_opened = np.full(count, np.datetime64("9999-12-31"), dtype="datetime64[D]")
    np.minimum.at(first_opened, rows.account_rows, rows.opened)
    history = np.where(accounts > 0, whole_months_between(first_opened, applied), 0)
    limit = _row_sums(
        rows.account_rows[rows.open_revolving], rows.limit[rows.open_revolving], count
    )
    balance = _row_sums(
        rows.account_rows[rows.open_revolving], rows.balance[rows.open_revolving], count
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        utilisation = np.where(limit > 0, balance / np.maximum(limit, 1), np.nan)
    return {
        "bureau_accounts": accounts,
        "bureau_history_months": history.astype(np.int64),
        "bureau_current_overdue_minor": _row_sums(rows.account_rows, rows.overdue, count),
        "bureau_monthly_repayment_minor": _row_sums(rows.account_rows, rows.repayment, count),
        "bureau_utilisation": utilisation,
    }


def _month_columns(rows: _BureauRows, count: int) -> dict[str, np.ndarray]:
    worst_by_month = np.zeros((count, STATUS_MONTHS), dtype=np.int8)
    np.maximum.at(worst_by_month, rows.account_rows, rows.periods)
    return month_summary(worst_by_month)


def month_summary(worst_by_month: np.ndarray) -> dict[str, np.ndarray]:
    """Overdue months and worst statuses from each row's worst periods per month (rows, 24)."""
    return {
        "bureau_overdue_months_24m": (worst_by_month > 0).sum(axis=1).astype(np.int64),
        "bureau_worst_status_24m": worst_by_month.max(axis=1, initial=0).astype(np.int64),
        "bureau_worst_status_12m": worst_by_month[:, -RECENT_STATUS_MONTHS:]
        .max(axis=1, initial=0)
        .astype(np.int64),
    }


def _inquiry_columns(rows: _BureauRows, applied: np.ndarray) -> dict[str, np.ndarray]:
    columns = {}
    inquiry_applied = applied[rows.inquiry_rows]
    for months in INQUIRY_WINDOWS_MONTHS:
        start = months_before(applied, months)[rows.inquiry_rows]
        inside = (rows.queried > start) & (rows.queried <= inquiry_applied)
        columns[f"bureau_inquiries_{months}m"] = np.bincount(
            rows.inquiry_rows[inside], minlength=len(applied)
        ).astype(np.int64)
    return columns


def _row_sums(row_of_item: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """Exact int64 sums per row (bincount's float weights are not used for money)."""
    totals = np.zeros(count, dtype=np.int64)
    np.add.at(totals, row_of_item, values)
    return totals


# --- multi-lending, platform, blocklist ---------------------------------------------------------


def summarise_multi_lending(
    reports: Sequence[MultiLendingReport | None], applied_on: Sequence[date] | np.ndarray
) -> dict[str, np.ndarray]:
    """Distinct lenders and applications in the last 7, 30 and 90 days (the ``multi_*`` columns)."""
    applied = as_days(applied_on)
    assert len(applied) == len(reports), "one application date per report"
    columns = missing_columns("multi_lending", len(reports))
    rows = [row for row, report in enumerate(reports) if report is not None]
    pairs = [
        (row, applied_at, lender)
        for row in rows
        for applied_at, lender in reports[row].applications  # type: ignore[union-attr]
    ]
    if not pairs:
        return columns
    item_rows = np.array([pair[0] for pair in pairs], dtype=np.int64)
    item_days = as_days([pair[1] for pair in pairs])
    lenders, lender_codes = np.unique([pair[2] for pair in pairs], return_inverse=True)
    days_back = (applied[item_rows] - item_days).astype(np.int64)
    for days in APPLICATION_WINDOWS_DAYS:
        inside = (days_back >= 0) & (days_back < days)
        columns[f"multi_applications_{days}d"] = np.bincount(
            item_rows[inside], minlength=len(reports)
        ).astype(np.int64)
        distinct = np.unique(item_rows[inside] * len(lenders) + lender_codes[inside])
        columns[f"multi_lenders_{days}d"] = np.bincount(
            distinct // len(lenders), minlength=len(reports)
        ).astype(np.int64)
    return columns


def summarise_platform(reports: Sequence[PlatformHistory | None]) -> dict[str, np.ndarray]:
    """The ``platform_*`` value columns."""
    columns = missing_columns("platform", len(reports))
    for row, report in enumerate(reports):
        if report is not None:
            columns["platform_accounts"][row] = report.accounts
            columns["platform_max_past_due_days"][row] = report.max_past_due_days
            columns["platform_written_off"][row] = report.written_off
    return columns


def summarise_blocklist(reports: Sequence[BlocklistResult | None]) -> dict[str, np.ndarray]:
    """The ``blocklist_hit`` column."""
    columns = missing_columns("blocklist", len(reports))
    columns["blocklist_hit"] = np.array(
        [report is not None and report.hit for report in reports], dtype=bool
    )
    return columns


def summarise(
    name: str, reports: Sequence[Report | None], applied_on: Sequence[date] | np.ndarray
) -> dict[str, np.ndarray]:
    """Any source's value columns by source name; each report must be that source's type."""
    if name == "bureau":
        return summarise_bureau(cast("Sequence[BureauReport | None]", reports), applied_on)
    if name == "multi_lending":
        multi = cast("Sequence[MultiLendingReport | None]", reports)
        return summarise_multi_lending(multi, applied_on)
    if name == "platform":
        return summarise_platform(cast("Sequence[PlatformHistory | None]", reports))
    assert name == "blocklist", f"unknown source {name!r}"
    return summarise_blocklist(cast("Sequence[BlocklistResult | None]", reports))
