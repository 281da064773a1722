"""Flat-fee instalment plans (交易分期 / 账单分期): the Alipay fee arithmetic, DOMAIN 1.5-1.7."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.errors import ScheduleError
from lendguard.plans.instalment import FeeRateCard, build_instalment_plan
from lendguard.plans.schedule import RepaymentMethod

CHECKOUT_BUYER_PAID = FeeRateCard(
    {3: Decimal("0.023"), 6: Decimal("0.045"), 12: Decimal("0.075")},
    source="DOMAIN 1.5: Alipay checkout instalments, buyer pays the fee",
)
BILL_INSTALMENT = FeeRateCard(
    {3: Decimal("0.025"), 6: Decimal("0.045"), 9: Decimal("0.065"), 12: Decimal("0.088")},
    source="DOMAIN 1.7: bill instalment card [U]",
)
JAN_31 = dt.date(2024, 1, 31)


def test_alipay_example_remainders_go_to_period_one() -> None:
    # 1,000.00 over 12 at 7.5%: fee 75.00 = 6.25 a period; principal 83.33 + 0.04 in period 1.
    plan = build_instalment_plan(100_000, 12, CHECKOUT_BUYER_PAID, dt.date(2024, 2, 10))
    assert plan.total_fee_minor == 7_500
    assert [period.principal_minor for period in plan.periods] == [8_337] + [8_333] * 11
    assert {period.fee_minor for period in plan.periods} == {625}
    assert plan.total_interest_minor == 0
    assert plan.method is RepaymentMethod.FLAT_FEE
    assert plan.rate.annual == 0


def test_remainders_can_go_to_the_last_period() -> None:
    plan = build_instalment_plan(100_000, 3, Decimal("0.025"), JAN_31, remainder="last")
    # Fee 25.00 = 8.33 x 2 + 8.34; principal 333.33 x 2 + 333.34.
    assert [period.fee_minor for period in plan.periods] == [833, 833, 834]
    assert [period.principal_minor for period in plan.periods] == [33_333, 33_333, 33_334]


def test_fee_total_rounds_half_even_by_default() -> None:
    # 1.00 x 4.5% = 4.5 fen: half-even gives 4, half-up gives 5.
    assert build_instalment_plan(100, 6, Decimal("0.045"), JAN_31).total_fee_minor == 4
    half_up = build_instalment_plan(100, 6, Decimal("0.045"), JAN_31, fee_rounding="half-up")
    assert half_up.total_fee_minor == 5


def test_due_dates_keep_the_month_end() -> None:
    plan = build_instalment_plan(90_000, 3, BILL_INSTALMENT, JAN_31)
    assert [period.due_date for period in plan.periods] == [
        JAN_31,
        dt.date(2024, 2, 29),
        dt.date(2024, 3, 31),
    ]
    assert plan.periods[0].start_date == dt.date(2023, 12, 31)


def test_due_day_anchors_after_a_short_first_month() -> None:
    plan = build_instalment_plan(90_000, 3, BILL_INSTALMENT, dt.date(2024, 2, 29), due_day=31)
    assert [period.due_date for period in plan.periods] == [
        dt.date(2024, 2, 29),
        dt.date(2024, 3, 31),
        dt.date(2024, 4, 30),
    ]


def test_flat_fee_apr_is_about_twice_the_simple_rate() -> None:
    # DOMAIN 6.9: a 12-period plan at 7.5% flat has an IRR of 1.8-2x the simple annual 7.5%.
    plan = build_instalment_plan(1_000_000, 12, CHECKOUT_BUYER_PAID, JAN_31)
    ratio = plan.apr.nominal_annual / Decimal("0.075")
    assert Decimal("1.75") < ratio < Decimal("2.0")


def test_unknown_term_lists_the_available_terms() -> None:
    with pytest.raises(
        ScheduleError, match=r"no fee rate for 9 periods .* available terms: 3, 6, 12"
    ):
        build_instalment_plan(100_000, 9, CHECKOUT_BUYER_PAID, JAN_31)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"principal_minor": 0}, "positive"),
        ({"principal_minor": 10.0}, "integer minor units"),
        ({"term": 0}, "term must be"),
        ({"fee_rate": 0.075}, "Decimal fraction"),
        ({"fee_rate": Decimal("-0.01")}, "non-negative"),
        ({"remainder": "middle"}, "remainder must be"),
        ({"fee_rounding": "nearest"}, "unknown rounding mode"),
        ({"due_day": 10}, "does not fall on due day 10"),
        ({"due_day": 40}, "due day must be 1..31"),
    ],
)
def test_invalid_plan_inputs_are_refused(arguments: dict[str, object], message: str) -> None:
    defaults: dict[str, object] = {
        "principal_minor": 100_000,
        "term": 3,
        "fee_rate": Decimal("0.023"),
        "first_due_date": JAN_31,
    }
    with pytest.raises(ScheduleError, match=message):
        build_instalment_plan(**{**defaults, **arguments})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fee_rates", "source", "message"),
    [
        ({}, "card", "at least one term"),
        ({3: Decimal("0.02")}, " ", "named source"),
        ({0: Decimal("0.02")}, "card", "term must be"),
        ({3: 0.02}, "card", "Decimal fraction"),
    ],
)
def test_invalid_rate_cards_are_refused(
    fee_rates: dict[int, Decimal], source: str, message: str
) -> None:
    with pytest.raises(ScheduleError, match=message):
        FeeRateCard(fee_rates, source)


def test_rate_card_is_read_only() -> None:
    with pytest.raises(TypeError):
        CHECKOUT_BUYER_PAID.fee_rates[24] = Decimal("0.1")  # type: ignore[index]


@settings(max_examples=150, deadline=None)
@given(
    principal_minor=st.integers(min_value=1_000, max_value=10**11),
    term=st.sampled_from([3, 6, 9, 12]),
    fee_basis_points=st.integers(min_value=10, max_value=1_500),
    remainder=st.sampled_from(["first", "last"]),
    first_due_date=st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 12, 31)),
)
def test_every_plan_repays_principal_and_fee_exactly(
    *,
    principal_minor: int,
    term: int,
    fee_basis_points: int,
    remainder: str,
    first_due_date: dt.date,
) -> None:
    fee_rate = Decimal(fee_basis_points) / 10_000
    plan = build_instalment_plan(
        principal_minor,
        term,
        fee_rate,
        first_due_date,
        remainder=remainder,  # type: ignore[arg-type]
    )
    periods = plan.periods
    assert sum(period.principal_minor for period in periods) == principal_minor
    assert plan.total_fee_minor == round(principal_minor * fee_rate)
    balances = [principal_minor] + [period.balance_minor for period in periods]
    assert all(later <= earlier for earlier, later in itertools.pairwise(balances))
    assert balances[-1] == 0
    fees = [period.fee_minor for period in periods]
    assert max(fees) - min(fees) <= plan.total_fee_minor % term
    for period in periods:
        amounts = (period.principal_minor, period.interest_minor, period.fee_minor)
        assert all(type(amount) is int and amount >= 0 for amount in amounts)
    # A fee on the original principal costs more than its simple annualised rate (DOMAIN 6.9).
    simple_annual = plan.total_fee_minor / principal_minor * 12 / term
    assert float(plan.apr.nominal_annual) >= simple_annual
