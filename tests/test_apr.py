"""APR by IRR (PBOC 公告〔2021〕第3号): the DOMAIN 9 worked example, numpy-financial, caps."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy_financial as npf
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lendguard import limits
from lendguard.dates.daycount import DayCount
from lendguard.errors import LendGuardError, RateCapError, ScheduleError
from lendguard.plans import apr as apr_module
from lendguard.plans.apr import (
    AprResult,
    apr_from_cashflows,
    check_apr_cap,
    percent_text,
    schedule_apr,
)
from lendguard.plans.interest import Rate
from lendguard.plans.schedule import build_schedule

TWELVE_PERCENT = Rate.annual_percent("12", DayCount.THIRTY_360)
NOV_1 = dt.date(2022, 11, 1)
CAP_SOURCE = "DOMAIN 6.4: judicial cap, 24% a year"


def test_pboc_worked_example() -> None:
    # 100,000 lent, 1,000 fee up front, 12 payments of 8,833.30 -> 12.80% nominal, 13.58% effective.
    apr = apr_from_cashflows([-(10_000_000 - 100_000)] + [883_330] * 12)
    assert abs(apr.nominal_annual - Decimal("0.1280")) <= Decimal("0.0001")
    assert abs(apr.effective_annual - Decimal("0.1358")) <= Decimal("0.0001")
    assert (percent_text(apr.nominal_annual), percent_text(apr.effective_annual)) == (
        "12.80",
        "13.58",
    )
    assert apr.periods_per_year == 12
    assert apr.convention == "IRR, monthly, nominal = periodic x 12"


def test_solver_agrees_with_numpy_financial() -> None:
    amounts = [-9_900_000] + [883_330] * 12
    assert abs(float(apr_from_cashflows(amounts).periodic_irr) - npf.irr(amounts)) < 1e-12


def test_periodic_irr_zeroes_the_present_value() -> None:
    amounts = [-9_900_000] + [883_330] * 12
    irr = apr_from_cashflows(amounts).periodic_irr
    present_value = sum(Decimal(amount) / (1 + irr) ** k for k, amount in enumerate(amounts))
    assert abs(present_value) < Decimal("1e-6")


def test_zero_cost_loan_has_zero_apr() -> None:
    apr = apr_from_cashflows([-120_000] + [10_000] * 12)
    assert apr.periodic_irr == 0
    assert apr.effective_annual == 0


def test_payments_below_the_amount_lent_give_a_negative_irr() -> None:
    apr = apr_from_cashflows([-100_000, 40_000, 40_000])
    assert apr.periodic_irr < 0
    assert abs(float(apr.periodic_irr) - npf.irr([-100_000, 40_000, 40_000])) < 1e-12


def test_other_period_lengths_name_their_convention() -> None:
    apr = apr_from_cashflows([-100_000, 0, 0, 0, 110_000], periods_per_year=4)
    assert apr.convention == "IRR, 4 periods a year, nominal = periodic x 4"
    assert apr.nominal_annual == apr.periodic_irr * 4


def test_level_schedule_apr_is_its_nominal_rate() -> None:
    schedule = build_schedule(500_000, TWELVE_PERCENT, 18, "equal-instalment", NOV_1)
    assert percent_text(schedule.apr.nominal_annual) == "12.00"
    assert percent_text(schedule.apr.effective_annual) == "12.68"


def test_upfront_fee_raises_the_apr() -> None:
    schedule = build_schedule(10_000_000, TWELVE_PERCENT, 12, "equal-instalment", NOV_1)
    with_fee = schedule_apr(schedule, upfront_fee_minor=100_000)
    assert with_fee.nominal_annual > schedule.apr.nominal_annual + Decimal("0.015")
    assert schedule_apr(schedule) == schedule.apr


@pytest.mark.parametrize("fee_minor", [-1, 10_000_000, 10_000_001])
def test_upfront_fee_must_leave_something_lent(fee_minor: int) -> None:
    schedule = build_schedule(10_000_000, TWELVE_PERCENT, 12, "equal-instalment", NOV_1)
    with pytest.raises(ScheduleError, match="upfront fee"):
        schedule_apr(schedule, upfront_fee_minor=fee_minor)


@pytest.mark.parametrize(
    ("amounts", "message"),
    [
        ([-100], "1..360 payments"),
        ([-100] + [1] * (limits.term_periods_max + 1), "1..360 payments"),
        ([100, 50, 60], "must be negative"),
        ([-100, 150, -10], "non-negative"),
        ([-100, 0, 0], "not all zero"),
        ([-100, 1.5], "integer number of minor units"),
        ([-(10**9), 1], "less than 0.0001%"),
        ([-1, 10**12], "not a loan"),
    ],
)
def test_invalid_cashflows_are_refused(amounts: list[int], message: str) -> None:
    with pytest.raises(LendGuardError, match=message):
        apr_from_cashflows(amounts)


def test_periods_per_year_is_bounded() -> None:
    with pytest.raises(ScheduleError, match="periods_per_year"):
        apr_from_cashflows([-100, 110], periods_per_year=0)


def test_cap_check_names_the_cap_and_its_source() -> None:
    apr = apr_from_cashflows([-(10_000_000 - 100_000)] + [883_330] * 12)
    check_apr_cap(apr, Decimal("0.24"), CAP_SOURCE, "plan A")
    with pytest.raises(RateCapError, match=r"plan A: APR 12\.80% .* cap of 12\.00% \(4 x LPR"):
        check_apr_cap(apr, Decimal("0.12"), "4 x LPR 3.00% (DOMAIN 9)", "plan A")


@pytest.mark.parametrize(
    ("cap", "source", "message"),
    [
        (0.24, CAP_SOURCE, "Decimal fraction"),
        (Decimal("-0.1"), CAP_SOURCE, "non-negative"),
        (Decimal("0.24"), "", "named source"),
    ],
)
def test_cap_check_refuses_a_bad_cap(cap: object, source: str, message: str) -> None:
    apr = AprResult(Decimal("0.01"), Decimal("0.12"), Decimal("0.1268"), 12, "IRR")
    with pytest.raises(ScheduleError, match=message):
        check_apr_cap(apr, cap, source, "plan")  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(
    principal_minor=st.integers(min_value=100_000, max_value=10**10),
    percent=st.integers(min_value=1, max_value=36),
    term=st.integers(min_value=1, max_value=60),
    fee_per_mille=st.integers(min_value=1, max_value=100),
)
def test_upfront_fees_put_the_apr_above_the_nominal_rate(
    principal_minor: int, percent: int, term: int, fee_per_mille: int
) -> None:
    rate = Rate.annual_percent(str(percent), DayCount.THIRTY_360)
    schedule = build_schedule(principal_minor, rate, term, "equal-instalment", NOV_1)
    fee_minor = principal_minor * fee_per_mille // 1_000
    apr = schedule_apr(schedule, upfront_fee_minor=fee_minor)
    assert apr.nominal_annual >= rate.annual_equivalent
    assert apr.effective_annual >= apr.nominal_annual


@st.composite
def any_loan(draw: st.DrawFn) -> list[int]:
    """Cash flows of a loan repaying 0.5x to 3x what was lent, in any pattern of non-negative
    payments: ``[-lent, payment 1, ...]``."""
    payments = draw(
        st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=60).filter(any)
    )
    repaid_per_mille = draw(st.integers(min_value=500, max_value=3_000))
    return [-max(1, sum(payments) * 1_000 // repaid_per_mille), *payments]


@settings(max_examples=100, deadline=None)
@given(amounts=any_loan())
def test_solver_matches_numpy_financial_on_any_loan(amounts: list[int]) -> None:
    irr = float(apr_from_cashflows(amounts).periodic_irr)
    assert irr == pytest.approx(npf.irr(amounts), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(amounts=any_loan())
@example(amounts=[-125, 375])  # the root, 2, is the wide bracket's own upper end
def test_the_near_and_the_wide_bracket_hold_the_same_root(amounts: list[int]) -> None:
    """The float estimate only narrows where bisection starts: the exact NPV changes sign across
    each bracket, so each holds the one root and the two overlap (the near one may reach past
    the wide one's end when the root sits on it)."""
    exact = [Decimal(amount) for amount in amounts]
    near = apr_module._near_bracket(exact)
    wide = apr_module._wide_bracket(exact)
    for low, high in filter(None, (near, wide)):
        assert apr_module._net_present_value(exact, low) >= 0
        assert apr_module._net_present_value(exact, high) <= 0
    if near is not None:
        assert near[0] <= wide[1] and wide[0] <= near[1]
        assert near[1] - near[0] == 2 * apr_module.IRR_NEAR_WIDTH


def test_a_schedule_is_solved_from_the_near_bracket() -> None:
    schedule = build_schedule(1_000_000, TWELVE_PERCENT, 36, "equal-instalment", NOV_1)
    amounts = [Decimal(-1_000_000), *(Decimal(p.payment_minor) for p in schedule.periods)]
    assert apr_module._near_bracket(amounts) is not None
