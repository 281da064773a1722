"""The single interest rule: annual and daily rates, day counts, one rounding at the end."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lendguard.dates.daycount import DayCount
from lendguard.errors import InvalidDateError, ScheduleError
from lendguard.money import RoundingMode
from lendguard.plans.interest import Rate, interest_exact, interest_minor

JAN_1 = dt.date(2024, 1, 1)


def annual(percent: str, day_count: DayCount = DayCount.THIRTY_360) -> Rate:
    return Rate.annual_percent(percent, day_count)


def daily(percent: str, day_count: DayCount = DayCount.ACT_365) -> Rate:
    return Rate.daily_percent(percent, day_count)


def test_annual_rate_uses_the_year_fraction() -> None:
    # 5,000.00 at 12% for one 30/360 month is 50.00.
    rate = annual("12")
    assert (
        interest_minor(500_000, dt.date(2022, 11, 1), dt.date(2022, 12, 1), rate, "half-up")
        == 5_000
    )


def test_act_365_annual_rate() -> None:
    # 10,000.00 at 3.65% for 10 actual days is 10.00.
    rate = annual("3.65", DayCount.ACT_365)
    assert (
        interest_minor(1_000_000, JAN_1, dt.date(2024, 1, 11), rate, RoundingMode.HALF_UP) == 1_000
    )


def test_daily_rate_counts_actual_days() -> None:
    # Jiebei 万五: 10,000.00 x 0.05% x 31 days = 155.00 (DOMAIN 2.4).
    rate = daily("0.05")
    assert (
        interest_minor(1_000_000, JAN_1, dt.date(2024, 2, 1), rate, RoundingMode.HALF_UP) == 15_500
    )


def test_daily_rate_under_30_360_counts_30_360_days() -> None:
    # 1 Feb -> 1 Mar 2024 is 29 actual days but 30 days under 30/360.
    rate = daily("0.05", DayCount.THIRTY_360)
    assert (
        interest_minor(1_000_000, dt.date(2024, 2, 1), dt.date(2024, 3, 1), rate, "half-up")
        == 15_000
    )
    act = daily("0.05", DayCount.ACT_360)
    assert (
        interest_minor(1_000_000, dt.date(2024, 2, 1), dt.date(2024, 3, 1), act, "half-up")
        == 14_500
    )


@pytest.mark.parametrize(
    ("mode", "expected_minor"),
    [("half-up", 1), ("half-even", 0), ("down", 0), ("up", 1), ("ceiling", 1)],
)
def test_rounding_mode_is_explicit(mode: RoundingMode, expected_minor: int) -> None:
    # 1.00 at 12% for 15 days of 30/360 is exactly half a fen.
    rate = annual("12")
    assert interest_exact(100, JAN_1, dt.date(2024, 1, 16), rate) == Fraction(1, 2)
    assert (
        interest_minor(100, JAN_1, dt.date(2024, 1, 16), rate, RoundingMode(mode)) == expected_minor
    )


def test_cumulative_accrual_does_not_drift() -> None:
    # 10.00 at 0.05%/day earns half a fen a day; rounding each day would give 0 or 30 over 30 days.
    rate = daily("0.05")
    accrued = [
        interest_minor(1_000, JAN_1, JAN_1 + dt.timedelta(days=day), rate, "half-up")
        for day in range(31)
    ]
    assert accrued[-1] == 15
    assert all(later >= earlier for earlier, later in itertools.pairwise(accrued))


def test_zero_balance_and_zero_rate_earn_nothing() -> None:
    assert interest_minor(0, JAN_1, dt.date(2024, 12, 31), annual("24"), "up") == 0
    assert interest_minor(1_000_000, JAN_1, dt.date(2024, 12, 31), annual("0"), "up") == 0


def test_negative_balance_and_reversed_dates_are_refused() -> None:
    with pytest.raises(ScheduleError, match="non-negative balance"):
        interest_minor(-1, JAN_1, dt.date(2024, 2, 1), annual("12"), "half-up")
    with pytest.raises(InvalidDateError):
        interest_minor(100, dt.date(2024, 2, 1), JAN_1, annual("12"), "half-up")


def test_annual_equivalent_and_monthly_periodic() -> None:
    assert daily("0.05").annual_equivalent == Decimal("0.18")  # x360 (DOMAIN 9)
    assert Rate.daily_percent("0.05", DayCount.ACT_365, year_days=365).annual_equivalent == Decimal(
        "0.1825"
    )
    assert annual("12").monthly_periodic == Decimal("0.01")
    assert annual("10").monthly_periodic_exact == Fraction(1, 120)


def test_percent_constructors_read_text_exactly() -> None:
    rate = Rate.annual_percent("4.35", DayCount.ACT_360)
    assert rate.annual == Decimal("0.0435")
    assert rate.daily is None
    assert Rate.daily_percent(Decimal("0.02"), DayCount.ACT_365).daily == Decimal("0.0002")


def test_day_count_text_is_read_as_the_enum() -> None:
    rate = Rate(annual=Decimal("0.1"), day_count="ACT/365")  # type: ignore[arg-type]
    assert rate.day_count is DayCount.ACT_365


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"annual": Decimal("0.1"), "daily": Decimal("0.0005")}, "exactly one"),
        ({}, "exactly one"),
        ({"annual": Decimal("-0.01")}, "must not be negative"),
        ({"daily": 0.0005}, "not the float"),
        ({"annual": "0.12"}, "finite Decimal"),
        ({"annual": Decimal("NaN")}, "finite Decimal"),
        ({"annual": Decimal("10.01")}, "exceeds the limit"),
        ({"daily": Decimal("0.0005"), "daily_rate_year_days": 364}, "daily_rate_year_days"),
        ({"annual": Decimal("0.1"), "day_count": "30/365"}, "unknown day count"),
    ],
)
def test_invalid_rates_are_refused(fields: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"day_count": DayCount.ACT_365, **fields}
    with pytest.raises(ScheduleError, match=message):
        Rate(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("percent", [12.0, "twelve", "inf", "-1"])
def test_invalid_percent_text_is_refused(percent: object) -> None:
    with pytest.raises(ScheduleError):
        Rate.annual_percent(percent, DayCount.ACT_365)  # type: ignore[arg-type]


dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2060, 12, 31))


@given(
    balance_minor=st.integers(min_value=0, max_value=10**12),
    basis_points=st.integers(min_value=0, max_value=10_000),
    day_count=st.sampled_from(list(DayCount)),
    three_dates=st.lists(dates, min_size=3, max_size=3),
)
def test_interest_is_additive_over_time_and_never_negative(
    balance_minor: int,
    basis_points: int,
    day_count: DayCount,
    three_dates: list[dt.date],
) -> None:
    start, middle, end = sorted(three_dates)
    rate = Rate(daily=Decimal(basis_points) / 10**7, day_count=day_count)
    whole = interest_exact(balance_minor, start, end, rate)
    if day_count is not DayCount.THIRTY_360:  # 30/360 day counts are not additive at month ends
        parts = interest_exact(balance_minor, start, middle, rate)
        parts += interest_exact(balance_minor, middle, end, rate)
        assert whole == parts
    assert interest_minor(balance_minor, start, end, rate, RoundingMode.DOWN) >= 0
