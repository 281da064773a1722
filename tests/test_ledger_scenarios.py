"""Known-answer scenarios for the servicing ledger, on SQLite and PostgreSQL.

Each test is a short event script on one account with the expected amounts worked out by hand in
the comments (DOMAIN 1.4, 1.8, 2.4-2.6, 4.19-4.20, 5.9 and section 9). Amounts are fen: 1000_00 is
1,000.00 CNY. The products are the two sample files, or small edits of them.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest

from ledger_helpers import (
    CREDIT_LOSS,
    CUSTOMER_CREDIT,
    HUABEI_TEXT,
    JIEBEI_TEXT,
    RECOVERY_INCOME,
    Account,
    Footprint,
    audit,
    income,
    journal_totals,
    receivable,
    register_text,
    set_key,
)
from lendguard.delinquency.buckets import BucketSpell
from lendguard.errors import AccountStateError
from lendguard.ledger.book import Book
from lendguard.products.model import Component, WaterfallRules
from lendguard.store import Store

D = dt.date


@pytest.fixture
def book(store: Store) -> Book:
    return Book(store)


def huabei(book: Book, account_id: str = "HB-1") -> Account:
    """A Huabei line opened 5 Jan 2026: statements cut on the 1st, due on the 10th."""
    product_id = register_text(book, HUABEI_TEXT)
    return Account.open(book, account_id, product_id, D(2026, 1, 5), due_day=10)


def jiebei(book: Book, account_id: str = "JB-1", text: str = JIEBEI_TEXT) -> Account:
    """A Jiebei cash-loan line opened 15 Jan 2026 (万4 a day, grace 3 days, penalty x1.5)."""
    product_id = register_text(book, text)
    return Account.open(book, account_id, product_id, D(2026, 1, 15))


def charged(account: Account, component: Component) -> int:
    """Income recognised so far for a component (income accounts are credits, so negated)."""
    return -journal_totals(account.book.store, account.account_id).get(income(component), 0)


# --- Huabei: the bill, the minimum, the revolve ------------------------------------------------


def test_bill_paid_in_full_by_the_due_day_costs_no_interest(book: Book) -> None:
    account = huabei(book)
    account.purchase(D(2026, 1, 6), "tv", 1000_00)
    account.close_through(D(2026, 2, 9))
    statement = account.state.statements["S20260201"]
    assert (statement.due_on, statement.total_minor) == (D(2026, 2, 10), 1000_00)

    # Paying on the due day itself is on time (DOMAIN 1.2, 1.3).
    account.repay(D(2026, 2, 10), 1000_00)
    account.close_through(D(2026, 3, 31))

    assert charged(account, Component.INTEREST) == 0
    assert charged(account, Component.PENALTY) == 0
    assert account.state.statements["S20260201"].paid_in_full
    assert account.state.balance_minor() == 0
    assert account.state.delinquency.bucket == "M0"
    assert account.state.bucket_history == ()
    audit(book, account.account_id)


def test_minimum_paid_revolves_the_rest_at_five_per_ten_thousand_a_day(book: Book) -> None:
    account = huabei(book)
    account.purchase(D(2026, 1, 6), "tv", 1000_00)
    account.close_through(D(2026, 2, 1))
    # Minimum = 10% of the 1,000.00 purchase principal = 100.00 (DOMAIN 9).
    assert account.state.statements["S20260201"].minimum_minor == 100_00

    account.repay(D(2026, 2, 9), 100_00)
    account.close_through(D(2026, 2, 10))
    assert charged(account, Component.INTEREST) == 0  # nothing charged up to the due date

    account.close_through(D(2026, 2, 28))
    # Unpaid remainder 900.00 x 0.05% = 0.45 a day from 11 Feb (due + 1) to 28 Feb: 18 days
    # = 8.10; nothing is overdue because the minimum was paid.
    assert charged(account, Component.INTEREST) == 18 * 45 == 810
    assert charged(account, Component.PENALTY) == 0
    assert account.state.delinquency.past_due_days == 0
    assert not account.state.frozen
    audit(book, account.account_id)


def test_revolving_remainder_keeps_accruing_through_the_next_statement(book: Book) -> None:
    account = huabei(book)
    account.purchase(D(2026, 1, 6), "tv", 1000_00)
    account.close_through(D(2026, 2, 1))
    account.repay(D(2026, 2, 9), 100_00)
    account.close_through(D(2026, 3, 9))
    # DOMAIN 9: 0.05%/day on the unpaid remainder from due + 1 until it is paid. 900.00 stays
    # unpaid from 11 Feb to 9 Mar, across the 1 Mar statement that bills it again: 27 days x
    # 0.45 = 12.15 (regression: the remainder used to stop accruing from the next statement cut).
    assert charged(account, Component.INTEREST) == 27 * 45
    audit(book, account.account_id)


def test_nothing_paid_goes_overdue_by_the_minimum_and_cures(book: Book) -> None:
    account = huabei(book)
    account.purchase(D(2026, 1, 6), "tv", 1000_00)
    account.close_through(D(2026, 2, 10))
    # The due date itself is not overdue: DPD 0, not frozen.
    assert account.state.delinquency.past_due_days == 0
    assert not account.state.frozen
    overdue = {i.item_id: i.amount_minor for i in account.state.items.values() if i.due_on}
    # The overdue amount is the unpaid minimum, 100.00; the other 900.00 revolves.
    assert sum(overdue.values()) == 100_00

    account.close_through(D(2026, 2, 11))
    assert account.state.delinquency.past_due_days == 1  # day 1 = due + 1 (DOMAIN 4.19)
    assert account.state.delinquency.bucket == "M1"
    assert account.state.frozen  # suspended from the first day overdue (DOMAIN 1.9, 9)
    with pytest.raises(AccountStateError, match="frozen"):
        account.purchase(D(2026, 2, 12), "sofa", 10_00)

    account.close_through(D(2026, 3, 10))
    # Penalty 100.00 x 0.05% = 0.05 a day on the overdue amount only (DOMAIN 1.8), 11 Feb to
    # 10 Mar = 28 days = 1.40.
    assert charged(account, Component.PENALTY) == 28 * 5 == 140

    account.close_through(D(2026, 3, 12))
    assert account.state.delinquency.past_due_days == 30
    assert account.state.delinquency.bucket == "M1"
    account.close_through(D(2026, 3, 13))
    assert account.state.delinquency.past_due_days == 31
    assert account.state.delinquency.bucket == "M2"  # M2 = 31-60 days (DOMAIN 4.20)

    # Cure: pay everything owed on 20 Mar.
    account.repay(D(2026, 3, 20), account.state.balance_minor())
    account.close_through(D(2026, 3, 20))
    assert account.state.delinquency.past_due_days == 0
    assert account.state.delinquency.bucket == "M0"
    assert not account.state.frozen  # unfreeze_on_cure
    assert account.state.bucket_history == (
        BucketSpell("M1", D(2026, 2, 11), D(2026, 3, 13)),
        BucketSpell("M2", D(2026, 3, 13), D(2026, 3, 20)),
        BucketSpell("M0", D(2026, 3, 20), None),
    )
    audit(book, account.account_id)


# --- Jiebei: grace, penalty interest, pauses, write-off ---------------------------------------


def test_jiebei_grace_days_separate_past_due_from_delinquent(book: Book) -> None:
    account = jiebei(book)
    posted = account.draw(D(2026, 1, 15), 12000_00, 12)
    first = posted.data["periods"][0]
    # Period 1 (15 Jan -> 15 Feb, 31 days): interest 12,000.00 x 0.04% x 31 = 148.80; the level
    # payment 1,079.71 (r = 0.04% x 360 / 12 = 1.2% a month) leaves 930.91 of principal.
    assert (first["due_on"], first["interest_minor"], first["principal_minor"]) == (
        "2026-02-15",
        148_80,
        930_91,
    )

    account.close_through(D(2026, 2, 16))
    assert (account.state.delinquency.past_due_days, account.state.delinquency.delinquent_days) == (
        1,
        0,
    )
    account.close_through(D(2026, 2, 18))
    delinquency = account.state.delinquency
    assert (delinquency.past_due_days, delinquency.delinquent_days, delinquency.bucket) == (
        3,
        0,
        "M0",
    )
    assert not account.state.frozen
    assert charged(account, Component.PENALTY) == 0  # no penalty inside the 3 grace days

    account.close_through(D(2026, 2, 19))
    delinquency = account.state.delinquency
    assert (delinquency.past_due_days, delinquency.delinquent_days, delinquency.bucket) == (
        4,
        1,
        "M1",
    )
    assert account.state.frozen

    account.close_through(D(2026, 3, 13))
    delinquency = account.state.delinquency
    assert delinquency.past_due_days - delinquency.delinquent_days == 3
    # Penalty rate 0.04% x 1.5 = 0.06% a day on overdue principal 930.91 plus, compounding,
    # overdue interest 148.80: 1,079.71 x 0.06% = 0.647826 -> 0.65 a day, from 19 Feb (due + 4)
    # to 13 Mar = 10 + 13 = 23 days = 14.95.
    assert charged(account, Component.PENALTY) == 23 * 65
    audit(book, account.account_id)


def test_pause_stops_the_delinquent_clock_and_the_penalty(book: Book) -> None:
    account = jiebei(book)
    account.draw(D(2026, 1, 15), 12000_00, 12)
    account.close_through(D(2026, 2, 24))
    assert account.state.delinquency.delinquent_days == 6  # 24 Feb: 9 past due - 3 grace

    account.pause(D(2026, 2, 25), "disaster relief")
    account.close_through(D(2026, 3, 4))
    assert account.state.delinquency.delinquent_days == 6  # stood still 25 Feb - 4 Mar
    assert account.state.delinquency.past_due_days == 17  # the calendar clock runs on

    account.resume(D(2026, 3, 5))
    account.close_through(D(2026, 3, 10))
    # 10 Mar: 23 days past due - 3 grace - 8 paused days (25 Feb..4 Mar) = 12.
    assert account.state.delinquency.past_due_days == 23
    assert account.state.delinquency.delinquent_days == 12
    # Penalty 0.65 a day for 19-24 Feb (6 days) and 5-10 Mar (6 days), none while paused.
    assert charged(account, Component.PENALTY) == 12 * 65
    audit(book, account.account_id)


def test_write_off_at_180_delinquent_days_and_a_later_recovery(book: Book) -> None:
    account = jiebei(book)
    account.draw(D(2026, 1, 15), 12000_00, 12)
    # Period 1 falls due 15 Feb; 180 delinquent days = 183 past due (grace 3) = 17 Aug.
    account.close_through(D(2026, 8, 16))
    assert account.state.status == "open"
    assert account.state.delinquency.delinquent_days == 179
    owed_before = account.state.balance_minor()
    assert owed_before > 12000_00  # nothing was ever paid: all principal and more

    account.close_through(D(2026, 8, 17))
    state = account.state
    assert state.status == "written_off"
    assert state.delinquency.delinquent_days == 180
    assert state.delinquency.past_due_days == 183
    assert state.items == {} and state.plans == {}
    penalty_of_the_day = sum(
        e.data["item"]["amount_minor"]
        for e in account.events_of("penalty_accrued")
        if e.business_date == D(2026, 8, 17)
    )
    totals = journal_totals(book.store, account.account_id)
    # Everything owed, including principal still inside the plan, moves to credit loss.
    assert totals[CREDIT_LOSS] == owed_before + penalty_of_the_day == state.written_off_minor
    assert all(totals.get(receivable(c), 0) == 0 for c in Component)

    # A later repayment is a recovery: income, not an allocation.
    recovery = account.repay(D(2026, 8, 20), 500_00)
    assert recovery.kind == "recovery"
    totals = journal_totals(book.store, account.account_id)
    assert totals[RECOVERY_INCOME] == -500_00
    assert all(totals.get(receivable(c), 0) == 0 for c in Component)
    assert account.state.recovered_minor == 500_00
    audit(book, account.account_id)


def test_a_repayment_on_a_closed_account_is_refused(book: Book) -> None:
    account = huabei(book)
    account.purchase(D(2026, 1, 6), "tv", 300_00)
    account.repay(D(2026, 1, 8), 300_00)  # pays the unbilled purchase ahead
    account.close(D(2026, 1, 9))
    assert account.state.status == "closed"
    before = Footprint.of(book.store, account.account_id)
    with pytest.raises(AccountStateError, match="closed"):
        account.repay(D(2026, 1, 12), 10_00)
    assert Footprint.of(book.store, account.account_id) == before


# --- Jiebei: month ends and prepayment --------------------------------------------------------


def test_a_loan_drawn_on_31_january_keeps_month_ends(book: Book) -> None:
    account = jiebei(book)
    account.close_through(D(2026, 1, 30))
    posted = account.draw(D(2026, 1, 31), 3000_00, 3)
    due = [p["due_on"] for p in posted.data["periods"]]
    assert due == ["2026-02-28", "2026-03-31", "2026-04-30"]
    # Period 1 interest: 3,000.00 x 0.04% x 28 days (31 Jan -> 28 Feb) = 33.60.
    assert posted.data["periods"][0]["interest_minor"] == 33_60

    account.close_through(D(2026, 2, 27))
    billed = {i.item_id: (i.amount_minor, i.due_on) for i in account.state.items.values()}
    plan_id = posted.data["plan_id"]
    assert billed[f"{plan_id}#1:interest"] == (33_60, D(2026, 2, 28))
    assert billed[f"{plan_id}#1:principal"][1] == D(2026, 2, 28)
    assert sum(p["principal_minor"] for p in posted.data["periods"]) == 3000_00
    audit(book, account.account_id)


def test_prepayment_charges_interest_only_for_the_days_used(book: Book) -> None:
    account = jiebei(book)
    plan_id = account.draw(D(2026, 1, 15), 12000_00, 12).data["plan_id"]
    account.close_through(D(2026, 2, 14))
    account.repay(D(2026, 2, 15), 1079_71)  # period 1: 930.91 principal + 148.80 interest
    # Principal left 12,000.00 - 930.91 = 11,069.09; 15 Feb -> 1 Mar is 14 days:
    # 11,069.09 x 0.04% x 14 = 61.986904 -> 61.99 (not the 28 days to the next due date).
    posted = account.prepay(D(2026, 3, 1), plan_id, None)
    assert posted.data["interest_minor"] == 61_99
    assert posted.data["principal_minor"] == 11069_09
    assert posted.data["amount_minor"] == 11069_09 + 61_99
    account.close_through(D(2026, 4, 30))
    assert account.state.plans == {}
    assert account.state.balance_minor() == 0
    # Interest over the loan's life: 148.80 + 61.99.
    assert charged(account, Component.INTEREST) == 148_80 + 61_99
    audit(book, account.account_id)


def test_partial_prepayment_reamortises_from_the_prepayment_day(book: Book) -> None:
    account = jiebei(book)
    plan_id = account.draw(D(2026, 1, 15), 12000_00, 12).data["plan_id"]
    account.close_through(D(2026, 2, 14))
    account.repay(D(2026, 2, 15), 1079_71)
    posted = account.prepay(D(2026, 3, 1), plan_id, 5000_00)
    # 5,000.00 = 61.99 interest to date + 4,938.01 principal; 6,131.08 principal stays.
    assert (posted.data["interest_minor"], posted.data["principal_minor"]) == (61_99, 4938_01)
    assert account.state.plans[plan_id].remaining_minor == 6131_08
    account.close_through(D(2026, 3, 14))
    # Period 2 interest runs from the prepayment: 6,131.08 x 0.04% x 14 days = 34.334 -> 34.33.
    assert account.item_amounts()[f"{plan_id}#2:interest"] == 34_33
    audit(book, account.account_id)


def test_prepayment_settles_billed_items_first(book: Book) -> None:
    account = jiebei(book)
    plan_id = account.draw(D(2026, 1, 15), 12000_00, 12).data["plan_id"]
    account.close_through(D(2026, 2, 20))
    # Billed and unpaid: 930.91 + 148.80, and penalty 0.65 x 2 days (19, 20 Feb) = 1.30.
    assert sum(account.item_amounts().values()) == 930_91 + 148_80 + 1_30
    posted = account.prepay(D(2026, 2, 21), plan_id, 5000_00)
    assert sum(a["amount_minor"] for a in posted.data["allocations"]) == 1081_01
    # The billed items are paid off by the prepayment, so the state no longer owes them
    # (regression: they used to leave the journal but stay in the state).
    assert account.item_amounts() == {}
    audit(book, account.account_id)


# --- refunds, reversals, waterfalls -----------------------------------------------------------


def test_refund_of_a_converted_purchase_shrinks_the_plan_from_the_last_period(book: Book) -> None:
    account = huabei(book)
    account.purchase(D(2026, 1, 20), "phone", 360_00)
    converted = account.convert_purchase(D(2026, 1, 21), "phone", 3)
    plan_id = converted.data["plan_id"]
    # 3 periods of 120.00; fee 360.00 x 2.3% = 8.28 -> 2.76 a period (DOMAIN 1.5, 1.6).
    assert [(p["principal_minor"], p["fee_minor"]) for p in converted.data["periods"]] == [
        (120_00, 2_76)
    ] * 3

    refund = account.refund(D(2026, 1, 25), "phone", 150_00)
    # 150.00 = all of period 3 (its fee is cancelled) + 30.00 of period 2 (fee kept).
    assert refund.data["plan_reductions"] == [
        {"plan_id": plan_id, "number": 3, "principal_minor": 120_00, "fee_minor": 2_76},
        {"plan_id": plan_id, "number": 2, "principal_minor": 30_00, "fee_minor": 0},
    ]
    assert refund.data["credit_minor"] == 0
    plan = account.state.plans[plan_id]
    assert plan.remaining_minor == 210_00
    assert [(p.principal_minor, p.fee_minor) for p in plan.periods] == [
        (120_00, 2_76),
        (90_00, 2_76),
        (0, 0),
    ]
    audit(book, account.account_id)

    account.close_through(D(2026, 4, 30))
    account.repay(D(2026, 5, 1), account.state.balance_minor())
    # Fees charged over the plan's life: periods 1 and 2 only.
    assert charged(account, Component.FEE) == 2 * 2_76
    assert account.state.balance_minor() == 0
    audit(book, account.account_id)


def test_reversal_of_a_bounced_repayment_restores_the_items_and_the_dpd(book: Book) -> None:
    account = huabei(book)
    account.purchase(D(2026, 1, 6), "tv", 1000_00)
    account.close_through(D(2026, 2, 20))
    assert account.state.delinquency.past_due_days == 10
    owed = account.item_amounts()

    payment = account.repay(D(2026, 2, 21), account.state.balance_minor())
    account.close_through(D(2026, 2, 21))
    assert account.state.items == {}
    assert account.state.delinquency.bucket == "M0"
    assert not account.state.frozen

    account.reverse(D(2026, 2, 22), payment.sequence, "bounced")
    assert account.item_amounts() == owed
    account.close_through(D(2026, 2, 22))
    # Overdue since 11 Feb again: 22 Feb is day 12 past due, back in M1 and frozen.
    assert account.state.delinquency.past_due_days == 12
    assert account.state.delinquency.bucket == "M1"
    assert account.state.frozen
    assert account.state.bucket_history == (
        BucketSpell("M1", D(2026, 2, 11), D(2026, 2, 21)),
        BucketSpell("M0", D(2026, 2, 21), D(2026, 2, 22)),
        BucketSpell("M1", D(2026, 2, 22), None),
    )
    audit(book, account.account_id)


def test_reversal_after_the_due_date_makes_the_old_minimum_overdue(book: Book) -> None:
    account = huabei(book)
    account.purchase(D(2026, 1, 6), "tv", 1000_00)
    account.close_through(D(2026, 2, 1))
    payment = account.repay(D(2026, 2, 9), 100_00)  # February's minimum, on time
    account.close_through(D(2026, 3, 2))
    account.reverse(D(2026, 3, 3), payment.sequence, "bounced")
    account.close_through(D(2026, 3, 3))
    # The February minimum was never paid: overdue since 11 Feb, so 3 Mar is day 21.
    assert all(s.paid_minor >= 0 for s in account.state.statements.values())
    assert account.state.delinquency.past_due_days == 21


def _civil_code_jiebei() -> str:
    rules = WaterfallRules.civil_code_561()
    order = ", ".join(f'"{component.value}"' for component in rules.order)
    text = set_key(JIEBEI_TEXT, "waterfall", "order", f"[{order}]")
    text = set_key(text, "waterfall", "source", f'"{rules.source}"')
    return set_key(text, "product", "id", '"jiebei-civil-code"')


@pytest.mark.parametrize(
    ("civil_code", "expected"),
    [
        # Contract order: penalty first. 1.30 penalty (19, 20 Feb), then 147.50 of interest.
        (False, {"penalty": 1_30, "interest": 147_50}),
        # 民法典 第561条: costs, then interest, then the rest. All 148.80 to interest.
        (True, {"interest": 148_80}),
    ],
)
def test_civil_code_561_order_against_the_contract_order(
    book: Book, civil_code: bool, expected: dict[str, int]
) -> None:
    account = jiebei(book, text=_civil_code_jiebei() if civil_code else JIEBEI_TEXT)
    account.draw(D(2026, 1, 15), 12000_00, 12)
    account.close_through(D(2026, 2, 20))
    posted = account.repay(D(2026, 2, 21), 148_80)
    allocated: dict[str, int] = {}
    for allocation in posted.data["allocations"]:
        component = allocation["component"]
        allocated[component] = allocated.get(component, 0) + allocation["amount_minor"]
    assert allocated == expected
    assert posted.data["credit_minor"] == 0
    audit(book, account.account_id)


def test_overpayment_on_a_loan_is_held_as_credit_and_applied_when_billed(book: Book) -> None:
    account = jiebei(book)
    posted = account.draw(D(2026, 1, 15), 12000_00, 12)
    plan_id = posted.data["plan_id"]
    # Nothing is billed on 20 Jan: a cash loan does not pay ahead, the money waits as credit.
    repaid = account.repay(D(2026, 1, 20), 2000_00)
    assert repaid.data["allocations"] == [] and repaid.data["credit_minor"] == 2000_00
    totals = journal_totals(book.store, account.account_id)
    assert totals[CUSTOMER_CREDIT] == -2000_00
    account.close_through(D(2026, 2, 14))
    # Period 1 (1,079.71) billed on 14 Feb is paid from the credit the same night.
    assert f"{plan_id}#1:principal" not in account.item_amounts()
    assert account.state.credit_minor == 2000_00 - 1079_71
    audit(book, account.account_id)


# --- regressions: late fees across pauses, receivables on written-off or closed accounts ------


def test_one_late_fee_per_delinquency_even_across_a_pause(book: Book) -> None:
    text = set_key(HUABEI_TEXT, "overdue", "late_fee", '"10.00"')
    account = Account.open(book, "HB-LF", register_text(book, text), D(2026, 1, 5), due_day=10)
    account.purchase(D(2026, 1, 6), "tv", 1000_00)
    account.close_through(D(2026, 2, 11))  # delinquent day 1: one late fee of 10.00
    assert charged(account, Component.LATE_FEE) == 10_00
    account.pause(D(2026, 2, 12), "dispute")
    account.close_through(D(2026, 2, 20))
    assert account.state.delinquency.delinquent_days == 1  # the clock stood still
    # Still the same delinquency: still one late fee (the ledger charges 10 by 20 Feb).
    assert charged(account, Component.LATE_FEE) == 10_00


def test_a_written_off_account_never_carries_receivables_again(book: Book) -> None:
    account = jiebei(book)
    account.draw(D(2026, 1, 15), 12000_00, 12)
    account.close_through(D(2026, 3, 1))
    payment = account.repay(D(2026, 3, 2), 500_00)
    account.close_through(D(2026, 12, 31))
    assert account.state.status == "written_off"
    with contextlib.suppress(AccountStateError):
        account.reverse(D(2027, 1, 2), payment.sequence, "bounced")
    # Either the reversal is refused, or the restored 500.00 is written off as well.
    totals = journal_totals(book.store, account.account_id)
    assert all(totals.get(receivable(c), 0) == 0 for c in Component)


def test_a_closed_account_never_owes_money(book: Book) -> None:
    account = huabei(book)
    account.purchase(D(2026, 1, 6), "tv", 300_00)
    payment = account.repay(D(2026, 1, 8), 300_00)
    account.close(D(2026, 1, 9))
    with contextlib.suppress(AccountStateError):
        account.reverse(D(2026, 1, 12), payment.sequence, "bounced")
    account.close_through(D(2026, 4, 1))
    state = account.state
    # A bounced final payment must reopen collection (a statement, a due date, DPD) or be
    # refused; the ledger leaves 300.00 owed on a closed account with no statement and DPD 0.
    assert not (state.status == "closed" and state.balance_minor() > 0)
