"""APR by IRR, as PBOC 公告〔2021〕第3号 asks (DOMAIN 6.8, 6.9 and 9 "Rates and disclosure").

The APR counts all interest and loan-related fees against the principal actually received: the
first cash flow is the amount lent net of upfront fees (negative), the rest are the payments. We
solve the periodic IRR with a bracketed bisection in 50-digit ``Decimal`` (no float, no
numpy-financial at run time) and show both conventions, named:
- nominal = periodic IRR x periods per year (the figure Chinese lenders disclose);
- effective = (1 + periodic IRR) ^ periods per year - 1.
Cap checks compare the nominal figure, the disclosed one.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from lendguard import limits
from lendguard.errors import RateCapError, ScheduleError
from lendguard.money import check_minor

if TYPE_CHECKING:
    from lendguard.plans.schedule import Schedule

IRR_TOLERANCE = Decimal("1e-15")
"""Width of the final bracket around the periodic IRR (the brief asks for 1e-12 or better)."""

IRR_ITERATIONS_MAX = 200
"""Bisection steps allowed; halving from width 1 reaches 1e-15 in about 50."""

IRR_PERIODIC_MAX = Decimal(1000)
"""Largest periodic rate searched (100,000% a period): beyond it the plan is not a loan."""

IRR_NEAR_WIDTH = Decimal("1e-12")
"""Half-width of the bracket tried around the float estimate (seen within 1e-15 of the root)."""

IRR_FLOAT_STEPS_MAX = 50
"""Newton steps allowed for the float estimate before the wide bracket is used instead."""

IRR_FLOAT_SETTLED = 1e-14
"""A Newton step smaller than this ends the float estimate."""

_EXACT = decimal.Context(prec=50, rounding=decimal.ROUND_HALF_EVEN)
_QUANTUM = Decimal("1e-15")


@dataclass(frozen=True, slots=True)
class AprResult:
    """A periodic IRR and its two annual readings, with the convention spelled out for display."""

    periodic_irr: Decimal
    nominal_annual: Decimal
    effective_annual: Decimal
    periods_per_year: int
    convention: str


def apr_from_cashflows(amounts_minor: Sequence[int], periods_per_year: int = 12) -> AprResult:
    """APR of ``amounts_minor``: [-(lent net of upfront fees), payment 1, payment 2, ...]."""
    _check_cashflows(amounts_minor)
    if not 1 <= periods_per_year <= 366:
        raise ScheduleError(f"periods_per_year must be 1..366, got {periods_per_year}")
    periodic = _solve_irr([Decimal(amount) for amount in amounts_minor])
    nominal = _EXACT.multiply(periodic, Decimal(periods_per_year))
    effective = _EXACT.power(1 + periodic, periods_per_year) - 1
    return AprResult(
        periodic_irr=periodic,
        nominal_annual=nominal.quantize(_QUANTUM),
        effective_annual=effective.quantize(_QUANTUM),
        periods_per_year=periods_per_year,
        convention=_convention(periods_per_year),
    )


def schedule_apr(schedule: Schedule, upfront_fee_minor: int = 0) -> AprResult:
    """APR of a schedule when ``upfront_fee_minor`` is withheld from the amount paid out."""
    check_minor(upfront_fee_minor, what="upfront fee")
    if not 0 <= upfront_fee_minor < schedule.principal_minor:
        raise ScheduleError(
            f"upfront fee must be 0..principal-1 ({schedule.principal_minor - 1}), "
            f"got {upfront_fee_minor}"
        )
    lent_minor = schedule.principal_minor - upfront_fee_minor
    payments = [period.payment_minor for period in schedule.periods]
    return apr_from_cashflows([-lent_minor, *payments])


def check_apr_cap(apr: AprResult, cap_annual: Decimal, cap_source: str, what: str) -> None:
    """Refuse ``what`` when its nominal APR is above ``cap_annual`` (a fraction, 0.24 = 24%)."""
    if isinstance(cap_annual, float) or not isinstance(cap_annual, Decimal) or cap_annual < 0:
        raise ScheduleError(f"cap must be a non-negative Decimal fraction, got {cap_annual!r}")
    if not cap_source.strip():
        raise ScheduleError("a rate cap needs a named source")
    if apr.nominal_annual > cap_annual:
        raise RateCapError(
            f"{what}: APR {percent_text(apr.nominal_annual)}% ({apr.convention}) exceeds the "
            f"cap of {percent_text(cap_annual)}% ({cap_source})"
        )


def percent_text(fraction: Decimal) -> str:
    """A fraction as a percent with two decimals, rounded half up (0.12804 -> "12.80")."""
    return str((fraction * 100).quantize(Decimal("0.01"), rounding=decimal.ROUND_HALF_UP))


def _convention(periods_per_year: int) -> str:
    cadence = "monthly" if periods_per_year == 12 else f"{periods_per_year} periods a year"
    return f"IRR, {cadence}, nominal = periodic x {periods_per_year}"


def _check_cashflows(amounts_minor: Sequence[int]) -> None:
    if not 2 <= len(amounts_minor) <= limits.term_periods_max + 1:
        raise ScheduleError(
            f"cash flows need the amount lent and 1..{limits.term_periods_max} payments, "
            f"got {len(amounts_minor)} amounts"
        )
    for amount in amounts_minor:
        check_minor(amount, what="cash flow")
    if amounts_minor[0] >= 0:
        raise ScheduleError(
            f"the first cash flow (amount lent) must be negative, got {amounts_minor[0]}"
        )
    if any(amount < 0 for amount in amounts_minor[1:]) or sum(amounts_minor[1:]) == 0:
        raise ScheduleError("payments must be non-negative and not all zero")


def _wide_bracket(amounts: list[Decimal]) -> tuple[Decimal, Decimal]:
    """``(low, high)`` with NPV(low) >= 0 >= NPV(high), searched from (-0.999999, 1] upwards."""
    low, high = Decimal("-0.999999"), Decimal(1)
    if _net_present_value(amounts, low) < 0:
        raise ScheduleError("payments return less than 0.0001% of the amount lent: no IRR")
    while _net_present_value(amounts, high) > 0:
        high *= 2
        if high > IRR_PERIODIC_MAX:
            raise ScheduleError(f"periodic IRR above {IRR_PERIODIC_MAX}: not a loan")
    return low, high


def _near_bracket(amounts: list[Decimal]) -> tuple[Decimal, Decimal] | None:
    """A bracket of width ``2 * IRR_NEAR_WIDTH`` around a float Newton estimate, when the exact
    NPV confirms it holds the root; ``None`` sends the search to :func:`_wide_bracket`.

    Why: bisecting from width 1 to 1e-15 takes ~50 exact evaluations; a float estimate is good
    to ~1e-15, so confirming a 2e-12 bracket and bisecting it takes ~13. The answer stays the
    exact bisection's: only the starting bracket differs, and it is checked, not trusted.
    """
    estimate = _float_irr([float(amount) for amount in amounts])
    if estimate is None or not -0.99 < estimate < float(IRR_PERIODIC_MAX):
        return None
    centre = Decimal(repr(estimate))
    low, high = centre - IRR_NEAR_WIDTH, centre + IRR_NEAR_WIDTH
    if _net_present_value(amounts, low) > 0 >= _net_present_value(amounts, high):
        return low, high
    return None


def _float_irr(amounts: list[float]) -> float | None:
    """Newton's method on the NPV in floats from 0; ``None`` when it does not settle."""
    rate = 0.0
    for _ in range(IRR_FLOAT_STEPS_MAX):
        discount = 1.0 / (1.0 + rate)
        value = slope = 0.0
        for amount in reversed(amounts):  # Horner: value and its derivative in the discount
            slope = slope * discount + value
            value = value * discount + amount
        derivative = -slope * discount * discount
        if derivative == 0.0 or not math.isfinite(value):
            return None
        step = value / derivative
        rate -= step
        if rate <= -1.0 or not math.isfinite(rate):
            return None
        if abs(step) < IRR_FLOAT_SETTLED:
            return rate
    return None


def _net_present_value(amounts: list[Decimal], periodic: Decimal) -> Decimal:
    """Sum of amount_k / (1 + periodic)^k, by Horner's rule in the discount factor."""
    discount = _EXACT.divide(Decimal(1), 1 + periodic)
    total = Decimal(0)
    for amount in reversed(amounts):
        total = _EXACT.add(_EXACT.multiply(total, discount), amount)
    return total


def _solve_irr(amounts: list[Decimal]) -> Decimal:
    """The unique root of the NPV: one sign change (lent, then payments) makes it decreasing."""
    low, high = _near_bracket(amounts) or _wide_bracket(amounts)
    for _ in range(IRR_ITERATIONS_MAX):
        if high - low <= IRR_TOLERANCE:
            break
        middle = _EXACT.divide(low + high, Decimal(2))
        if _net_present_value(amounts, middle) > 0:
            low = middle
        else:
            high = middle
    assert high - low <= IRR_TOLERANCE, "IRR bisection did not converge"
    return _EXACT.divide(low + high, Decimal(2)).quantize(_QUANTUM)
