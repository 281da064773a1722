"""The single interest rule of the platform: the ledger, the nightly batch and the schedules all
call :func:`interest_minor` (or :func:`interest_exact`); nothing else may compute interest.

A rate is quoted either per year (``annual``) or per day (``daily``, Jiebei's 日利率, DOMAIN 2.1):
- annual: interest = balance x annual x year_fraction(start, end, day_count);
- daily: interest = balance x daily x period_days(start, end, day_count) (DOMAIN 2.4).
The arithmetic is exact (``Fraction``) and rounds once, at the end, with the caller's mode. Daily
accrual must not round day by day: accrued-to-date is ``round(interest_exact(start, today))``, so
the sum of daily postings never drifts from the period's interest.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from lendguard import limits
from lendguard.dates.daycount import DayCount, period_days, year_fraction
from lendguard.errors import InvalidAmountError, ScheduleError
from lendguard.money import RoundingMode, check_minor, round_minor, to_decimal

DAILY_RATE_YEAR_DAYS_ALLOWED = (360, 365, 366)
"""Annualisation bases for a daily rate; the Jiebei feed uses 360 (DOMAIN 9), products configure."""

MONTHS_PER_YEAR = 12

_EXACT = decimal.Context(prec=50, rounding=decimal.ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rate:
    """A contract rate as a fraction (``Decimal("0.12")`` = 12% a year): annual or daily, not both.

    ``daily_rate_year_days`` is only the basis for showing a daily rate as an annual one; it does
    not change daily interest, which is always balance x daily x days.
    """

    day_count: DayCount
    annual: Decimal | None = None
    daily: Decimal | None = None
    daily_rate_year_days: int = 360

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "day_count", DayCount(self.day_count))
        except ValueError:
            known = ", ".join(day_count.value for day_count in DayCount)
            raise ScheduleError(f"unknown day count {self.day_count!r}; known: {known}") from None
        if (self.annual is None) == (self.daily is None):
            raise ScheduleError("a rate needs exactly one of annual or daily")
        for name in ("annual", "daily"):
            value = getattr(self, name)
            if value is not None:
                _check_rate_fraction(value, f"{name} rate")
        if self.daily_rate_year_days not in DAILY_RATE_YEAR_DAYS_ALLOWED:
            raise ScheduleError(
                f"daily_rate_year_days must be one of {DAILY_RATE_YEAR_DAYS_ALLOWED}, "
                f"got {self.daily_rate_year_days!r}"
            )
        if self.annual_equivalent * 100 > limits.annual_rate_percent_max:
            raise ScheduleError(
                f"annual rate {self.annual_equivalent * 100}% exceeds the limit "
                f"{limits.annual_rate_percent_max}%: a typo, not a product"
            )

    @classmethod
    def annual_percent(cls, percent: Decimal | str, day_count: DayCount) -> Rate:
        """Build from a percent per year as quoted (``"12"`` -> 0.12)."""
        return cls(annual=_percent_to_fraction(percent, "annual rate"), day_count=day_count)

    @classmethod
    def daily_percent(
        cls, percent: Decimal | str, day_count: DayCount, *, year_days: int = 360
    ) -> Rate:
        """Build from a percent per day as quoted (万五 = ``"0.05"`` -> 0.0005)."""
        return cls(
            daily=_percent_to_fraction(percent, "daily rate"),
            day_count=day_count,
            daily_rate_year_days=year_days,
        )

    @property
    def annual_equivalent(self) -> Decimal:
        """The rate per year: ``annual``, or ``daily x daily_rate_year_days`` (simple, not IRR)."""
        if self.annual is not None:
            return self.annual
        assert self.daily is not None  # guaranteed by __post_init__
        return _EXACT.multiply(self.daily, Decimal(self.daily_rate_year_days))

    @property
    def monthly_periodic_exact(self) -> Fraction:
        """Exact annual equivalent / 12: sizes level payments, never charges interest."""
        return Fraction(self.annual_equivalent) / MONTHS_PER_YEAR

    @property
    def monthly_periodic(self) -> Decimal:
        """Annual equivalent / 12 (50 significant digits), for display and level-payment sizing."""
        return _EXACT.divide(self.annual_equivalent, Decimal(MONTHS_PER_YEAR))


def _check_rate_fraction(value: object, what: str) -> None:
    if isinstance(value, float):
        raise ScheduleError(
            f"{what} must be a Decimal, not the float {value!r}: floats are inexact"
        )
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ScheduleError(f"{what} must be a finite Decimal, got {value!r}")
    if value < 0:
        raise ScheduleError(f"{what} must not be negative, got {value}")


def _percent_to_fraction(percent: Decimal | str, what: str) -> Decimal:
    try:
        value = to_decimal(percent)
    except InvalidAmountError as exc:
        raise ScheduleError(f"{what}: {exc.message}") from None
    return _EXACT.divide(value, Decimal(100))


def interest_exact(balance_minor: int, start: dt.date, end: dt.date, rate: Rate) -> Fraction:
    """Unrounded interest in minor units on ``balance_minor`` from ``start`` to ``end``.

    Use it for cumulative accrual (round the running total, never the daily pieces).
    """
    check_minor(balance_minor, what="balance")
    if balance_minor < 0:
        raise ScheduleError(f"interest needs a non-negative balance, got {balance_minor}")
    if rate.annual is not None:
        return balance_minor * Fraction(rate.annual) * year_fraction(start, end, rate.day_count)
    assert rate.daily is not None  # guaranteed by Rate.__post_init__
    return balance_minor * Fraction(rate.daily) * period_days(start, end, rate.day_count)


def interest_minor(
    balance_minor: int, start: dt.date, end: dt.date, rate: Rate, rounding: RoundingMode
) -> int:
    """Interest in minor units on ``balance_minor`` from ``start`` to ``end``, rounded once."""
    return round_minor(interest_exact(balance_minor, start, end, rate), rounding)
