"""Amortisation schedules: known answers against numpy-financial, month ends, invariants."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import numpy_financial as npf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard import limits
from lendguard.dates.daycount import DayCount
from lendguard.errors import InvalidAmountError, ScheduleError
from lendguard.money import RoundingMode
from lendguard.plans.interest import Rate
from lendguard.plans.schedule import (
    RepaymentMethod,
    Schedule,
    build_schedule,
    reamortise,
)

NOV_1 = dt.date(2022, 11, 1)
TWELVE_PERCENT = Rate.annual_percent("12", DayCount.THIRTY_360)


def due_dates(schedule: Schedule) -> list[dt.date]:
    return [period.due_date for period in schedule.periods]


def assert_invariants(schedule: Schedule) -> None:
    """Principal sums to P, balances fall to 0, every amount is a non-negative int."""
    periods = schedule.periods
    assert sum(period.principal_minor for period in periods) == schedule.principal_minor
    balances = [schedule.principal_minor] + [period.balance_minor for period in periods]
    assert all(later <= earlier for earlier, later in itertools.pairwise(balances))
    assert balances[-1] == 0
    for period in periods:
        amounts = (period.principal_minor, period.interest_minor, period.fee_minor)
        assert all(type(amount) is int and amount >= 0 for amount in amounts)
    assert [period.number for period in periods] == list(range(1, len(periods) + 1))
    assert all(period.start_date < period.due_date for period in periods)


# --- known answers: numpy-financial, 30/360 ------------------------------------------------


def test_equal_instalment_matches_numpy_financial_except_last_period() -> None:
    # 5,000.00 at 12% over 18 months: pmt 304.91; every period but the last is within a minor
    # unit of ipmt / ppmt (the real balance carries earlier roundings, numpy's does not).
    schedule = build_schedule(500_000, TWELVE_PERCENT, 18, "equal-instalment", NOV_1)
    level_minor = round(-npf.pmt(0.01, 18, 500_000))
    assert level_minor == 30_491
    for period in schedule.periods[:-1]:
        assert period.payment_minor == level_minor
        assert abs(period.interest_minor + npf.ipmt(0.01, period.number, 18, 500_000)) < 1
        assert abs(period.principal_minor + npf.ppmt(0.01, period.number, 18, 500_000)) < 1
    last = schedule.periods[-1]
    # The last period clears the balance the rounded payments left: 301.92 + 3.02 = 304.94.
    assert (last.principal_minor, last.interest_minor, last.payment_minor) == (30_192, 302, 30_494)
    assert abs(last.principal_minor + npf.ppmt(0.01, 18, 18, 500_000)) > 1
    assert schedule.total_interest_minor == 48_841
    assert_invariants(schedule)


@pytest.mark.parametrize("principal_minor", [100_000, 1_234_567, 50_000_000])
@pytest.mark.parametrize("percent", ["4.35", "7.2", "18", "24", "36"])
@pytest.mark.parametrize("term", [3, 6, 12, 24, 36, 60])
def test_equal_instalment_tracks_numpy_financial(
    principal_minor: int, percent: str, term: int
) -> None:
    """The payment is round(pmt) exactly; after k periods the balance is numpy's balance for that
    rounded payment (fv) give or take the interest roundings: half a minor unit a period,
    compounded, so at most 0.5 ((1 + r)^k - 1) / r."""
    rate = Rate.annual_percent(percent, DayCount.THIRTY_360)
    schedule = build_schedule(principal_minor, rate, term, "equal-instalment", NOV_1)
    periodic = float(Decimal(percent) / 1200)
    level_minor = round(-npf.pmt(periodic, term, principal_minor))
    for period in schedule.periods[:-1]:
        assert period.payment_minor == level_minor
        expected_balance = npf.fv(periodic, period.number, level_minor, -principal_minor)
        drift_max = 0.5 * ((1 + periodic) ** period.number - 1) / periodic + 1e-6
        assert abs(period.balance_minor - expected_balance) <= drift_max
    assert_invariants(schedule)


def test_zero_rate_equal_instalment_is_principal_over_term() -> None:
    rate = Rate.annual_percent("0", DayCount.ACT_365)
    schedule = build_schedule(100_000, rate, 3, "equal-instalment", NOV_1)
    assert [period.payment_minor for period in schedule.periods] == [33_333, 33_333, 33_334]
    assert schedule.total_interest_minor == 0
    assert schedule.apr.nominal_annual == 0


# --- due dates -----------------------------------------------------------------------------


def test_due_dates_keep_the_month_end() -> None:
    schedule = build_schedule(300_000, TWELVE_PERCENT, 4, "equal-principal", dt.date(2024, 1, 31))
    assert due_dates(schedule) == [
        dt.date(2024, 2, 29),
        dt.date(2024, 3, 31),
        dt.date(2024, 4, 30),
        dt.date(2024, 5, 31),
    ]
    assert [period.start_date for period in schedule.periods[1:]] == due_dates(schedule)[:-1]


def test_due_day_overrides_the_anchor() -> None:
    schedule = build_schedule(300_000, TWELVE_PERCENT, 3, "interest-first", NOV_1, due_day=10)
    assert due_dates(schedule) == [
        dt.date(2022, 12, 10),
        dt.date(2023, 1, 10),
        dt.date(2023, 2, 10),
    ]
    # The first period runs 1 Nov -> 10 Dec: 39 days of 30/360 at 12% on 3,000.00 = 39.00.
    assert schedule.periods[0].interest_minor == 3_900
    end_of_month = build_schedule(300_000, TWELVE_PERCENT, 3, "interest-first", NOV_1, due_day=31)
    assert due_dates(end_of_month) == [
        dt.date(2022, 12, 31),
        dt.date(2023, 1, 31),
        dt.date(2023, 2, 28),
    ]


# --- methods -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remainder", "parts"),
    [("last", [33_333, 33_333, 33_335]), ("first", [33_335, 33_333, 33_333])],
)
def test_equal_principal_puts_the_remainder_where_asked(remainder: str, parts: list[int]) -> None:
    schedule = build_schedule(
        100_001,
        TWELVE_PERCENT,
        3,
        "equal-principal",
        NOV_1,
        remainder=remainder,  # type: ignore[arg-type]
    )
    assert [period.principal_minor for period in schedule.periods] == parts
    # Interest is 1% a month of the opening balance, rounded half up.
    assert [period.interest_minor for period in schedule.periods] == [1_000, 667, 333]
    assert_invariants(schedule)


def test_interest_first_pays_all_principal_at_the_end() -> None:
    schedule = build_schedule(1_000_000, TWELVE_PERCENT, 6, RepaymentMethod.INTEREST_FIRST, NOV_1)
    assert [period.principal_minor for period in schedule.periods] == [0] * 5 + [1_000_000]
    assert {period.interest_minor for period in schedule.periods} == {10_000}
    assert schedule.periods[-1].payment_minor == 1_010_000
    assert schedule.apr.nominal_annual == Decimal("0.12")


def test_daily_rate_schedule_charges_actual_days() -> None:
    rate = Rate.daily_percent("0.05", DayCount.ACT_365)
    schedule = build_schedule(1_000_000, rate, 2, "interest-first", dt.date(2024, 1, 15))
    # 15 Jan -> 15 Feb is 31 days, 15 Feb -> 15 Mar 2024 is 29 days: 155.00 and 145.00.
    assert [period.interest_minor for period in schedule.periods] == [15_500, 14_500]


def test_rounding_mode_reaches_payment_and_interest() -> None:
    # Period 2 interest is 1% of 666.68 = 6.6668: 6.67 half up, 6.66 down.
    up = build_schedule(100_001, TWELVE_PERCENT, 3, "equal-principal", NOV_1)
    down = build_schedule(100_001, TWELVE_PERCENT, 3, "equal-principal", NOV_1, rounding="down")
    assert (up.periods[1].interest_minor, down.periods[1].interest_minor) == (667, 666)
    # The level payment 304.9102... is 304.91 half up and 304.92 rounded toward +infinity.
    ceiling = build_schedule(
        500_000, TWELVE_PERCENT, 18, "equal-instalment", NOV_1, rounding=RoundingMode.CEILING
    )
    assert ceiling.periods[0].payment_minor == 30_492


# --- refused inputs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"principal_minor": 0}, "positive"),
        ({"principal_minor": -100}, "positive"),
        ({"principal_minor": 100.0}, "integer minor units"),
        ({"principal_minor": True}, "integer minor units"),
        ({"term_periods": 0}, "term must be 1..360"),
        ({"term_periods": limits.term_periods_max + 1}, "term must be 1..360"),
        ({"term_periods": "12"}, "integer number of periods"),
        ({"method": "balloon"}, "unknown repayment method 'balloon'; known: equal-instalment"),
        ({"method": "flat-fee"}, "build_instalment_plan"),
        ({"due_day": 0}, "due day must be 1..31"),
        ({"due_day": 32}, "due day must be 1..31"),
        ({"remainder": "middle"}, "remainder must be"),
        ({"rounding": "bankers"}, "unknown rounding mode"),
        ({"rate": Decimal("0.12")}, "plans.interest.Rate"),
    ],
)
def test_invalid_schedule_inputs_are_refused(arguments: dict[str, object], message: str) -> None:
    defaults: dict[str, object] = {
        "principal_minor": 500_000,
        "rate": TWELVE_PERCENT,
        "term_periods": 12,
        "method": "equal-instalment",
        "start": NOV_1,
    }
    with pytest.raises(ScheduleError, match=message):
        build_schedule(**{**defaults, **arguments})  # type: ignore[arg-type]


def test_principal_above_the_limit_is_refused() -> None:
    with pytest.raises(InvalidAmountError, match="exceeds the limit"):
        build_schedule(limits.amount_minor_max + 1, TWELVE_PERCENT, 12, "equal-principal", NOV_1)


def test_level_payment_that_does_not_cover_interest_is_refused() -> None:
    # 1000% a year, first period of 60 actual days: interest exceeds the monthly-sized payment.
    rate = Rate.annual_percent("1000", DayCount.ACT_365)
    with pytest.raises(ScheduleError, match=r"period 1 \(60 days\): .* does not cover interest"):
        build_schedule(1_000_000, rate, 12, "equal-instalment", NOV_1, due_day=31)


def test_long_first_period_at_the_cap_over_five_years_is_refused() -> None:
    # A known limit of the level-payment rule: 24% over 60 months, first due 58 days away.
    rate = Rate.annual_percent("24", DayCount.ACT_360)
    with pytest.raises(ScheduleError, match=r"period 1 \(58 days\)"):
        build_schedule(1_000_000, rate, 60, "equal-instalment", dt.date(2023, 2, 1), due_day=31)


def test_rounding_drift_that_repays_early_is_refused() -> None:
    # 36% over 30 years: the half-fen rounding of the payment compounds past the balance.
    rate = Rate.annual_percent("36", DayCount.THIRTY_360)
    with pytest.raises(ScheduleError, match=r"period \d+ \(\d+ days\): .* before the last period"):
        build_schedule(1_000_000, rate, 360, "equal-instalment", NOV_1)


# --- reamortisation after a partial prepayment --------------------------------------------


def test_reamortise_keeps_due_dates_and_lowers_payments() -> None:
    original = build_schedule(1_200_000, TWELVE_PERCENT, 12, "equal-instalment", NOV_1)
    third = original.periods[2]
    prepaid_minor = 300_000
    rest = reamortise(
        third.balance_minor - prepaid_minor,
        TWELVE_PERCENT,
        "equal-instalment",
        third.due_date,
        due_dates(original)[3:],
        first_number=4,
    )
    assert due_dates(rest) == due_dates(original)[3:]
    assert [period.number for period in rest.periods] == list(range(4, 13))
    assert rest.principal_minor == third.balance_minor - prepaid_minor
    assert rest.periods[0].payment_minor < original.periods[3].payment_minor
    assert rest.periods[-1].balance_minor == 0


def test_reamortise_mid_period_charges_interest_from_the_prepayment_date() -> None:
    original = build_schedule(1_200_000, TWELVE_PERCENT, 6, "equal-principal", NOV_1)
    prepayment_date = dt.date(2023, 1, 16)  # halfway through period 3 (1 Jan -> 1 Feb)
    rest = reamortise(
        500_000,
        TWELVE_PERCENT,
        "equal-principal",
        prepayment_date,
        due_dates(original)[2:],
        first_number=3,
    )
    # 15 days of 30/360 at 12% on 5,000.00 = 25.00; then a full month on 3,750.00 = 37.50.
    assert [period.interest_minor for period in rest.periods[:2]] == [2_500, 3_750]
    assert rest.periods[0].start_date == prepayment_date


@pytest.mark.parametrize(
    ("from_date", "dates", "message"),
    [
        (NOV_1, [dt.date(2022, 12, 1), dt.date(2022, 12, 1)], "due dates must increase"),
        (NOV_1, [NOV_1], "due dates must increase"),
        (NOV_1, [], "term must be 1..360"),
    ],
)
def test_reamortise_refuses_bad_due_dates(
    from_date: dt.date, dates: list[dt.date], message: str
) -> None:
    with pytest.raises(ScheduleError, match=message):
        reamortise(100_000, TWELVE_PERCENT, "equal-instalment", from_date, dates)


def test_reamortise_refuses_a_bad_first_number() -> None:
    with pytest.raises(ScheduleError, match="first period number"):
        reamortise(
            100_000,
            TWELVE_PERCENT,
            "equal-instalment",
            NOV_1,
            [dt.date(2022, 12, 1)],
            first_number=0,
        )


# --- properties ----------------------------------------------------------------------------


def annual_rates(percent_max: int) -> st.SearchStrategy[Rate]:
    return st.builds(
        Rate,
        annual=st.integers(min_value=0, max_value=percent_max * 100).map(
            lambda basis_points: Decimal(basis_points) / 10_000
        ),
        day_count=st.sampled_from(list(DayCount)),
    )


starts = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 12, 31))
due_days = st.none() | st.integers(min_value=1, max_value=31)


@settings(max_examples=150, deadline=None)
@given(
    principal_minor=st.integers(min_value=100_000, max_value=10**11),
    rate=annual_rates(24),
    term=st.integers(min_value=1, max_value=36),
    method=st.sampled_from(list(RepaymentMethod)[:3]),
    start=starts,
    due_day=due_days,
    rounding=st.sampled_from(list(RoundingMode)),
)
def test_every_schedule_repays_exactly(
    *,
    principal_minor: int,
    rate: Rate,
    term: int,
    method: RepaymentMethod,
    start: dt.date,
    due_day: int | None,
    rounding: RoundingMode,
) -> None:
    """Any calendar, day count and rounding, up to the 24% cap and three years."""
    schedule = build_schedule(
        principal_minor, rate, term, method, start, due_day=due_day, rounding=rounding
    )
    assert len(schedule.periods) == term
    assert_invariants(schedule)
    assert schedule.total_payment_minor == principal_minor + schedule.total_interest_minor


@settings(max_examples=100, deadline=None)
@given(
    principal_minor=st.integers(min_value=1, max_value=10**12),
    rate=annual_rates(limits.annual_rate_percent_max),
    term=st.integers(min_value=1, max_value=limits.term_periods_max),
    method=st.sampled_from([RepaymentMethod.EQUAL_PRINCIPAL, RepaymentMethod.INTEREST_FIRST]),
    start=starts,
    due_day=due_days,
)
def test_split_methods_repay_exactly_at_any_rate_and_term(
    *,
    principal_minor: int,
    rate: Rate,
    term: int,
    method: RepaymentMethod,
    start: dt.date,
    due_day: int | None,
) -> None:
    schedule = build_schedule(principal_minor, rate, term, method, start, due_day=due_day)
    assert_invariants(schedule)


@settings(max_examples=100, deadline=None)
@given(
    principal_minor=st.integers(min_value=1, max_value=10**12),
    term=st.integers(min_value=1, max_value=limits.term_periods_max),
    remainder=st.sampled_from(["first", "last"]),
)
def test_equal_principal_periods_differ_by_at_most_the_remainder(
    principal_minor: int, term: int, remainder: str
) -> None:
    schedule = build_schedule(
        principal_minor,
        TWELVE_PERCENT,
        term,
        "equal-principal",
        NOV_1,
        remainder=remainder,  # type: ignore[arg-type]
    )
    parts = [period.principal_minor for period in schedule.periods]
    assert max(parts) - min(parts) <= principal_minor % term
    assert min(parts) == principal_minor // term
    assert_invariants(schedule)
