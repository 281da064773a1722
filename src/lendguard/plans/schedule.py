"""Amortisation schedules: 等额本息 (equal instalment), 等额本金 (equal principal), 先息后本
(interest first), and the shape shared with flat-fee instalment plans (DOMAIN 2.3, 1.6).

Rules, in one place:
- Due dates are monthly from the start, all anchored to one day (31 Jan -> 29 Feb -> 31 Mar);
  ``due_day`` replaces the start's day as the anchor.
- Interest of each period is :func:`interest_minor` on the opening balance from the period start
  to its due date: the single interest rule, so the ledger charges what the schedule shows.
- Equal instalment: level payment = round(P r / (1 - (1 + r)^-n)), r = annual / 12 (the
  numpy-financial ``pmt`` convention); principal = payment - interest; the last period takes the
  whole remaining balance, so principal sums exactly to P and the last payment absorbs rounding.
- Equal principal: floor(P / n) each period; the remainder P - n floor(P / n) goes to the first
  or the last period (``remainder``), so periods differ by at most that remainder.
- Interest first: interest every period, all principal in the last.
Schedules are values; a partial prepayment rebuilds the rest with :func:`reamortise`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Literal

from lendguard import limits
from lendguard.dates.months import monthly_dates
from lendguard.errors import ScheduleError
from lendguard.money import RoundingMode, check_minor, exponent, round_minor
from lendguard.plans.apr import AprResult, apr_from_cashflows
from lendguard.plans.interest import Rate, interest_minor

Remainder = Literal["first", "last"]
"""Which period takes the indivisible remainder of an even split."""


class RepaymentMethod(StrEnum):
    """How principal and interest are spread over the periods (DOMAIN 2.3, 1.6)."""

    EQUAL_INSTALMENT = "equal-instalment"
    """等额本息: a level payment; interest falls and principal grows."""
    EQUAL_PRINCIPAL = "equal-principal"
    """等额本金: the same principal each period plus interest on what is left."""
    INTEREST_FIRST = "interest-first"
    """先息后本: interest only, then all principal at the end."""
    FLAT_FEE = "flat-fee"
    """交易分期 / 账单分期: no interest; a fee flat on the original principal (instalment.py)."""


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    """One period: what is due on ``due_date`` and the balance left after paying it."""

    number: int
    start_date: dt.date
    due_date: dt.date
    principal_minor: int
    interest_minor: int
    fee_minor: int
    balance_minor: int

    def __post_init__(self) -> None:
        for name in ("principal_minor", "interest_minor", "fee_minor", "balance_minor"):
            if check_minor(getattr(self, name), what=name) < 0:
                raise ScheduleError(f"period {self.number}: {name} is negative")
        if self.due_date <= self.start_date:
            raise ScheduleError(
                f"period {self.number}: due date {self.due_date} is not after {self.start_date}"
            )

    @property
    def payment_minor(self) -> int:
        """Everything due on the due date."""
        return self.principal_minor + self.interest_minor + self.fee_minor


@dataclass(frozen=True, slots=True)
class Schedule:
    """A whole plan. ``rate`` is the contract rate (zero for flat-fee plans, which charge a fee)."""

    currency: str
    principal_minor: int
    method: RepaymentMethod
    rate: Rate
    periods: tuple[SchedulePeriod, ...]
    apr: AprResult

    def __post_init__(self) -> None:
        exponent(self.currency)
        if not self.periods:
            raise ScheduleError("a schedule needs at least one period")
        repaid_minor = sum(period.principal_minor for period in self.periods)
        if repaid_minor != self.principal_minor or self.periods[-1].balance_minor != 0:
            raise AssertionError(
                f"schedule repays {repaid_minor} of {self.principal_minor}: a bug, not bad input"
            )

    @property
    def total_interest_minor(self) -> int:
        """Interest over the whole plan."""
        return sum(period.interest_minor for period in self.periods)

    @property
    def total_fee_minor(self) -> int:
        """Fees over the whole plan."""
        return sum(period.fee_minor for period in self.periods)

    @property
    def total_payment_minor(self) -> int:
        """Everything the borrower pays: principal, interest and fees."""
        return sum(period.payment_minor for period in self.periods)


def build_schedule(
    principal_minor: int,
    rate: Rate,
    term_periods: int,
    method: RepaymentMethod | str,
    start: dt.date,
    *,
    currency: str = "CNY",
    rounding: RoundingMode = RoundingMode.HALF_UP,
    due_day: int | None = None,
    remainder: Remainder = "last",
) -> Schedule:
    """A monthly schedule of ``term_periods`` periods from ``start`` (the drawdown date).

    ``rounding`` rounds the level payment and each period's interest; ``remainder`` says which
    period takes the indivisible fen of an equal-principal split (see the module rules).
    """
    check_term(term_periods)
    anchor_day = check_due_day(due_day)
    due_dates = monthly_dates(start, term_periods, anchor_day)
    return reamortise(
        principal_minor,
        rate,
        method,
        start,
        due_dates,
        currency=currency,
        rounding=rounding,
        remainder=remainder,
    )


def reamortise(
    principal_minor: int,
    rate: Rate,
    method: RepaymentMethod | str,
    from_date: dt.date,
    due_dates: Sequence[dt.date],
    *,
    currency: str = "CNY",
    rounding: RoundingMode = RoundingMode.HALF_UP,
    remainder: Remainder = "last",
    first_number: int = 1,
) -> Schedule:
    """Spread ``principal_minor`` over ``due_dates``, the first period running from ``from_date``.

    After a partial prepayment, pass the principal still owed, the prepayment date and the plan's
    remaining due dates: the due dates stay, the payments shrink (the term is not shortened), and
    numbering continues at ``first_number``. Interest accrued before ``from_date`` is not in the
    result: the ledger settles it on the prepayment day (actual days used, DOMAIN 2.5).
    """
    method = check_method(method)
    if method is RepaymentMethod.FLAT_FEE:
        raise ScheduleError("flat-fee plans are built by plans.instalment.build_instalment_plan")
    check_principal(principal_minor)
    if not isinstance(rate, Rate):
        raise ScheduleError(f"rate must be a plans.interest.Rate, got {rate!r}")
    _check_due_dates(from_date, due_dates)
    if isinstance(first_number, bool) or not isinstance(first_number, int) or first_number < 1:
        raise ScheduleError(f"first period number must be an integer >= 1, got {first_number!r}")
    plan = _PlanInputs(
        principal_minor,
        rate,
        from_date,
        tuple(due_dates),
        check_rounding(rounding),
        check_remainder(remainder),
        first_number,
    )
    periods = tuple(_PERIOD_BUILDERS[method](plan))
    return Schedule(
        currency, principal_minor, method, rate, periods, plan_apr(principal_minor, periods)
    )


def plan_apr(principal_minor: int, periods: Sequence[SchedulePeriod]) -> AprResult:
    """APR of periods that repay ``principal_minor`` paid out in full (no upfront fee)."""
    return apr_from_cashflows([-principal_minor, *(period.payment_minor for period in periods)])


def check_method(method: RepaymentMethod | str) -> RepaymentMethod:
    """Read a repayment method, naming the known ones when it is not one."""
    try:
        return RepaymentMethod(method)
    except ValueError:
        known = ", ".join(method.value for method in RepaymentMethod)
        raise ScheduleError(f"unknown repayment method {method!r}; known: {known}") from None


def check_term(term_periods: object) -> int:
    """A term of 1..``limits.term_periods_max`` periods."""
    if isinstance(term_periods, bool) or not isinstance(term_periods, int):
        raise ScheduleError(f"term must be an integer number of periods, got {term_periods!r}")
    if not 1 <= term_periods <= limits.term_periods_max:
        raise ScheduleError(
            f"term must be 1..{limits.term_periods_max} periods, got {term_periods}"
        )
    return term_periods


def check_due_day(due_day: int | None) -> int | None:
    """A due day of the month, 1..31 (clamped to short months), or None for the start's day."""
    if due_day is not None and (isinstance(due_day, bool) or due_day not in range(1, 32)):
        raise ScheduleError(f"due day must be 1..31, got {due_day!r}")
    return due_day


def check_remainder(remainder: str) -> Remainder:
    """Where a split's remainder goes: "first" or "last"."""
    if remainder == "first":
        return "first"
    if remainder == "last":
        return "last"
    raise ScheduleError(f"remainder must be 'first' or 'last', got {remainder!r}")


def check_rounding(rounding: RoundingMode | str) -> RoundingMode:
    """Read a rounding mode, naming the known ones when it is not one."""
    try:
        return RoundingMode(rounding)
    except ValueError:
        known = ", ".join(mode.value for mode in RoundingMode)
        raise ScheduleError(f"unknown rounding mode {rounding!r}; known: {known}") from None


def split_evenly(total_minor: int, count: int, remainder: Remainder) -> list[int]:
    """``count`` parts of floor(total / count), the remainder added to the first or last part."""
    part_minor, left_minor = divmod(total_minor, count)
    parts = [part_minor] * count
    parts[0 if remainder == "first" else -1] += left_minor
    return parts


@dataclass(frozen=True, slots=True)
class _PlanInputs:
    """Validated inputs shared by the period builders."""

    principal_minor: int
    rate: Rate
    from_date: dt.date
    due_dates: tuple[dt.date, ...]
    rounding: RoundingMode
    remainder: Remainder
    first_number: int

    def windows(self) -> list[tuple[int, dt.date, dt.date]]:
        """(number, start, due date) of each period: each starts on the previous due date."""
        starts = (self.from_date, *self.due_dates[:-1])
        numbers = range(self.first_number, self.first_number + len(self.due_dates))
        return list(zip(numbers, starts, self.due_dates, strict=True))


def check_principal(principal_minor: object) -> int:
    """A principal: positive integer minor units within ``limits.amount_minor_max``."""
    if isinstance(principal_minor, bool) or not isinstance(principal_minor, int):
        raise ScheduleError(f"principal must be integer minor units, got {principal_minor!r}")
    check_minor(principal_minor, what="principal")
    if principal_minor <= 0:
        raise ScheduleError(f"principal must be positive, got {principal_minor}")
    return principal_minor


def _check_due_dates(from_date: dt.date, due_dates: Sequence[dt.date]) -> None:
    check_term(len(due_dates))
    previous = from_date
    for due_date in due_dates:
        if due_date <= previous:
            raise ScheduleError(
                f"due dates must increase after {from_date}: {due_date} follows {previous}"
            )
        previous = due_date


def _equal_instalment(plan: _PlanInputs) -> list[SchedulePeriod]:
    level_exact = level_payment_exact(plan.principal_minor, plan.rate, len(plan.due_dates))
    payment_minor = round_minor(level_exact, plan.rounding)
    periods: list[SchedulePeriod] = []
    balance_minor = plan.principal_minor
    for number, start, due_date in plan.windows():
        interest = interest_minor(balance_minor, start, due_date, plan.rate, plan.rounding)
        is_last = due_date == plan.due_dates[-1]
        try:
            principal = _instalment_principal(payment_minor, interest, balance_minor, is_last)
        except ScheduleError as error:
            days = (due_date - start).days
            raise ScheduleError(f"period {number} ({days} days): {error.message}") from None
        balance_minor -= principal
        period = SchedulePeriod(number, start, due_date, principal, interest, 0, balance_minor)
        periods.append(period)
    return periods


def level_payment_exact(principal_minor: int, rate: Rate, term_periods: int) -> Fraction:
    """Unrounded level payment P r / (1 - (1 + r)^-n), r = annual / 12; P / n at a zero rate."""
    periodic = rate.monthly_periodic_exact
    if periodic == 0:
        return Fraction(principal_minor, term_periods)
    growth = (1 + periodic) ** term_periods
    return principal_minor * periodic * growth / (growth - 1)


def _instalment_principal(
    payment_minor: int, interest: int, balance_minor: int, is_last: bool
) -> int:
    """Principal part of a level payment; the last period clears the balance whatever it is.

    The payment is sized on regular months (annual / 12), interest is charged on actual days, so
    an irregular first period (a ``due_day`` up to two months away, or a few days away) at a high
    rate over a long term can break the plan: refused, never silently reshaped.
    """
    if is_last:
        return balance_minor
    principal = payment_minor - interest
    if principal < 0:
        raise ScheduleError(
            f"level payment {payment_minor} does not cover interest {interest}; the rate is too "
            "high, or the period too long, for an equal-instalment plan"
        )
    if principal > balance_minor:
        raise ScheduleError(
            f"level payment {payment_minor} repays the principal before the last period: the "
            "periods are shorter than the months the payment was sized on, or the rate and term "
            "too extreme for a payment in whole minor units"
        )
    return principal


def _equal_principal(plan: _PlanInputs) -> list[SchedulePeriod]:
    parts = split_evenly(plan.principal_minor, len(plan.due_dates), plan.remainder)
    return _periods_from_principal(plan, parts)


def _interest_first(plan: _PlanInputs) -> list[SchedulePeriod]:
    parts = [0] * (len(plan.due_dates) - 1) + [plan.principal_minor]
    return _periods_from_principal(plan, parts)


def _periods_from_principal(plan: _PlanInputs, parts: Sequence[int]) -> list[SchedulePeriod]:
    """Periods repaying the given principal parts, each with interest on its opening balance."""
    periods: list[SchedulePeriod] = []
    balance_minor = plan.principal_minor
    for part, (number, start, due_date) in zip(parts, plan.windows(), strict=True):
        interest = interest_minor(balance_minor, start, due_date, plan.rate, plan.rounding)
        balance_minor -= part
        periods.append(SchedulePeriod(number, start, due_date, part, interest, 0, balance_minor))
    return periods


_PERIOD_BUILDERS = {
    RepaymentMethod.EQUAL_INSTALMENT: _equal_instalment,
    RepaymentMethod.EQUAL_PRINCIPAL: _equal_principal,
    RepaymentMethod.INTEREST_FIRST: _interest_first,
}
"""One builder per interest-bearing method; each maps validated inputs to numbered periods."""
