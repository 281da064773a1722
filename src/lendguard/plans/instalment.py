"""Flat-fee instalment plans: 交易分期 (checkout instalments) and 账单分期 (bill instalments).

The Alipay arithmetic as reproduced (DOMAIN 1.6): total fee = round(P x fee rate) half-even;
principal floor(P / n) and fee floor(total fee / n) per period; both remainders go to period 1
(or to the last period, a product choice). No interest is charged: the fee is flat on the original
principal, so the APR by IRR is about twice the simple annualised fee rate (DOMAIN 6.9), and the
plan's ``apr`` shows it. Fee rates are policy: a :class:`FeeRateCard` with a named source.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType

from lendguard import limits
from lendguard.dates.daycount import DayCount
from lendguard.dates.months import add_months, anchored_date
from lendguard.errors import ScheduleError
from lendguard.money import RoundingMode, round_minor
from lendguard.plans.interest import Rate
from lendguard.plans.schedule import (
    Remainder,
    RepaymentMethod,
    Schedule,
    SchedulePeriod,
    check_due_day,
    check_principal,
    check_remainder,
    check_rounding,
    check_term,
    plan_apr,
    split_evenly,
)

NO_INTEREST = Rate(annual=Decimal(0), day_count=DayCount.THIRTY_360)
"""The contract rate of a flat-fee plan: it charges a fee, never interest."""


@dataclass(frozen=True, slots=True)
class FeeRateCard:
    """Total fee rate per term (``{3: Decimal("0.023"), ...}``, fractions of the principal)."""

    fee_rates: Mapping[int, Decimal]
    source: str

    def __post_init__(self) -> None:
        if not self.fee_rates:
            raise ScheduleError("a fee rate card needs at least one term")
        if not self.source.strip():
            raise ScheduleError("a fee rate card needs a named source")
        for term, fee_rate in self.fee_rates.items():
            check_term(term)
            _check_fee_rate(fee_rate)
        object.__setattr__(
            self, "fee_rates", MappingProxyType(dict(sorted(self.fee_rates.items())))
        )

    def fee_rate(self, term: int) -> Decimal:
        """The total fee rate for ``term`` periods; an unknown term names the terms on offer."""
        try:
            return self.fee_rates[term]
        except KeyError:
            terms = ", ".join(str(known) for known in self.fee_rates)
            raise ScheduleError(
                f"no fee rate for {term} periods in {self.source}; available terms: {terms}"
            ) from None


def build_instalment_plan(
    principal_minor: int,
    term: int,
    fee_rate: Decimal | FeeRateCard,
    first_due_date: dt.date,
    *,
    currency: str = "CNY",
    fee_rounding: RoundingMode = RoundingMode.HALF_EVEN,
    remainder: Remainder = "first",
    due_day: int | None = None,
) -> Schedule:
    """A flat-fee plan of ``term`` monthly periods, the first due on ``first_due_date``.

    ``fee_rate`` is the total fee as a fraction of the principal, or a card to look the term up
    in. Later due dates keep ``due_day`` (default: the first due date's day), clamped to short
    months. Period 1 nominally starts one month before the first due date; with no interest, the
    dates do not change any amount.
    """
    check_term(term)
    check_remainder(remainder)
    rate = fee_rate.fee_rate(term) if isinstance(fee_rate, FeeRateCard) else fee_rate
    _check_fee_rate(rate)
    check_principal(principal_minor)
    due_dates = _due_dates(first_due_date, term, check_due_day(due_day))
    fee_total_minor = round_minor(principal_minor * Fraction(rate), check_rounding(fee_rounding))
    periods = _periods(principal_minor, fee_total_minor, due_dates, remainder)
    apr = plan_apr(principal_minor, periods)
    return Schedule(currency, principal_minor, RepaymentMethod.FLAT_FEE, NO_INTEREST, periods, apr)


def _periods(
    principal_minor: int, fee_total_minor: int, due_dates: list[dt.date], remainder: Remainder
) -> tuple[SchedulePeriod, ...]:
    principal_parts = split_evenly(principal_minor, len(due_dates) - 1, remainder)
    fee_parts = split_evenly(fee_total_minor, len(due_dates) - 1, remainder)
    periods: list[SchedulePeriod] = []
    balance_minor = principal_minor
    windows = zip(due_dates[:-1], due_dates[1:], principal_parts, fee_parts, strict=True)
    for number, (start, due_date, principal, fee) in enumerate(windows, start=1):
        balance_minor -= principal
        periods.append(SchedulePeriod(number, start, due_date, principal, 0, fee, balance_minor))
    return tuple(periods)


def _due_dates(first_due_date: dt.date, term: int, due_day: int | None) -> list[dt.date]:
    """The nominal start, then ``term`` due dates anchored on one day of the month."""
    anchor_day = due_day or first_due_date.day
    if anchored_date(first_due_date.year, first_due_date.month, anchor_day) != first_due_date:
        raise ScheduleError(f"first due date {first_due_date} does not fall on due day {due_day}")
    return [add_months(first_due_date, months, anchor_day) for months in range(-1, term)]


def _check_fee_rate(fee_rate: object) -> None:
    if isinstance(fee_rate, float) or not isinstance(fee_rate, Decimal):
        raise ScheduleError(f"fee rate must be a Decimal fraction, got {fee_rate!r}")
    if not fee_rate.is_finite() or fee_rate < 0:
        raise ScheduleError(f"fee rate must be a non-negative fraction, got {fee_rate}")
    if fee_rate * 100 > limits.annual_rate_percent_max:
        raise ScheduleError(
            f"fee rate {fee_rate * 100}% is above {limits.annual_rate_percent_max}%"
        )
