"""What simulated borrowers do, as requests through the real ledger (:class:`~lendguard.ledger.
book.Book`): purchases, instalment conversions, draws, repayments and prepayments.

Actions sit in a calendar (day -> actions) and run before that day's close of business. Each
reads the account's live state, decides with the borrower's traits (:mod:`.borrowers`) and posts
requests; what it plans for later (the next bill, a late payment, a redraw) goes back into the
calendar. A request the ledger refuses is counted, never retried blindly: the simulator's record
(``Borrower.record``) holds only what the ledger accepted, which is what the auditor checks.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lendguard.dates.months import add_months
from lendguard.errors import LendGuardError
from lendguard.ledger.book import Book, Posted
from lendguard.ledger.calendar_rules import ONE_DAY, due_date_for_cut, next_cut_after
from lendguard.ledger.state import AccountState
from lendguard.money import parse_minor
from lendguard.products.model import Component, Product
from lendguard.simulation.borrowers import Borrower, monthly_spend_minor
from lendguard.simulation.scenario import Scenario

PURCHASE_MINOR_MIN = 10_00
"""Smaller purchases are not worth simulating (they do not change any measure)."""

INSTALMENT_MINOR_MIN = 600_00
"""Purchases and bills from this amount up are offered a conversion to instalments."""

DRAW_STEP_MINOR = 100_00
"""Draws are whole hundreds of yuan, as lending apps offer them."""

METHOD_WEIGHTS = {"equal-instalment": 70, "equal-principal": 20, "interest-first": 10}
"""Repayment methods chosen by cash-loan borrowers (design note: equal instalments dominate)."""


@dataclass
class Context:
    """What every action needs: the book, the scenario, products by kind, and counters."""

    book: Book
    scenario: Scenario
    products: dict[str, Product]
    """Product terms by kind (``credit-line``, ``cash-loan``)."""
    product_ids: dict[str, str]
    calendar: Calendar
    refused: Counter[str] = field(default_factory=Counter)


Action = Callable[[Context, Borrower, dt.date, dict[str, Any]], None]


@dataclass
class Calendar:
    """Dated actions, taken in date order; ties in the order they were added."""

    end: dt.date
    entries: list[tuple[dt.date, int, str, Borrower, dict[str, Any]]] = field(default_factory=list)
    added: int = 0

    def add(self, day: dt.date, action: str, borrower: Borrower, **detail: Any) -> None:
        """Plan ``action`` on ``day``; days after the end of the run are dropped."""
        if day <= self.end:
            heapq.heappush(self.entries, (day, self.added, action, borrower, detail))
            self.added += 1

    def due_on(self, day: dt.date) -> list[tuple[str, Borrower, dict[str, Any]]]:
        """Pop every action planned for ``day`` (or earlier), in order."""
        due = []
        while self.entries and self.entries[0][0] <= day:
            _, _, action, borrower, detail = heapq.heappop(self.entries)
            due.append((action, borrower, detail))
        return due


def billed_minor(state: AccountState) -> int:
    """Everything billed and unpaid: what paying a bill or an instalment in full means."""
    return sum(item.amount_minor for item in state.items.values() if item.due_on is not None)


def overdue_minor(state: AccountState, day: dt.date) -> int:
    return sum(
        i.amount_minor for i in state.items.values() if i.due_on is not None and i.due_on < day
    )


def can_borrow(state: AccountState) -> bool:
    return state.status == "open" and not state.frozen


def _post(context: Context, what: str, request: Callable[[], Any]) -> bool:
    """Post one request; a refusal is counted by kind and reported as ``False``."""
    try:
        request()
    except LendGuardError as error:
        context.refused[f"{what}: {error.code}"] += 1
        return False
    return True


# --- opening ----------------------------------------------------------------------------------


def open_account(context: Context, borrower: Borrower, day: dt.date, limit_minor: int) -> None:
    """Open the account and plan the borrower's first moves."""
    product = context.products[borrower.kind]
    due_day = None
    if product.credit_line is not None:
        due_day = borrower.rng.choice(product.credit_line.due_day_choices)
    context.book.open_account(
        borrower.account_id,
        context.product_ids[borrower.kind],
        day,
        request_id=borrower.request_id(),
        due_day=due_day,
        credit_limit_minor=limit_minor,
    )
    if product.credit_line is not None:
        assert due_day is not None
        _plan_month(context, borrower, day)
        first_cut = next_cut_after(day, product.credit_line.statement_day)
        _plan_bill(context, borrower, first_cut, due_day)
    else:
        context.calendar.add(day, "draw", borrower)


# --- credit line ------------------------------------------------------------------------------


def _plan_month(context: Context, borrower: Borrower, from_day: dt.date) -> None:
    """This month's purchases on random days from ``from_day``, and next month's planning."""
    scenario = context.scenario
    month = scenario.month_of(from_day)
    month_end = add_months(from_day.replace(day=1), 1) - ONE_DAY
    budget_minor = monthly_spend_minor(borrower, scenario, month)
    count = borrower.rng.randint(1, max(1, scenario.spending.purchases_per_month_max))
    for _ in range(count):
        day = from_day + dt.timedelta(days=borrower.rng.randint(0, (month_end - from_day).days))
        amount_minor = int(budget_minor / count * borrower.rng.uniform(0.3, 1.7))
        context.calendar.add(day, "purchase", borrower, amount_minor=amount_minor)
    context.calendar.add(month_end + ONE_DAY, "plan_month", borrower)


def plan_month(context: Context, borrower: Borrower, day: dt.date, detail: dict[str, Any]) -> None:
    state = context.book.state(borrower.account_id)
    if state.status == "open":
        _plan_month(context, borrower, day)


def purchase(context: Context, borrower: Borrower, day: dt.date, detail: dict[str, Any]) -> None:
    """Buy, up to the available line; a large purchase may go straight into instalments."""
    state = context.book.state(borrower.account_id)
    amount_minor = min(detail["amount_minor"], state.available_minor())
    if not can_borrow(state) or amount_minor < PURCHASE_MINOR_MIN:
        return
    purchase_id = borrower.request_id()
    book = context.book
    if not _post(
        context,
        "purchase",
        lambda: book.purchase(
            borrower.account_id, day, purchase_id, amount_minor, request_id=purchase_id
        ),
    ):
        return
    borrower.record.append((day, "purchase", amount_minor))
    card = context.products[borrower.kind].credit_line
    plans = card.purchase_instalment if card else None
    if plans is None or amount_minor < INSTALMENT_MINOR_MIN:
        return
    if borrower.rng.random() < context.scenario.spending.purchase_instalment_chance:
        term = borrower.rng.choice(sorted(plans.fee_percent))
        _post(
            context,
            "convert_purchase",
            lambda: book.convert_purchase(
                borrower.account_id, day, purchase_id, term, request_id=borrower.request_id()
            ),
        )


def _plan_bill(context: Context, borrower: Borrower, cut_on: dt.date, due_day: int) -> None:
    """Plan looking at the bill cut on ``cut_on`` a few days before it falls due."""
    due_on = due_date_for_cut(cut_on, due_day)
    early = borrower.rng.randint(0, context.scenario.repayment.early_days_max)
    look_on = max(cut_on, due_on - dt.timedelta(days=early))
    context.calendar.add(look_on, "pay_bill", borrower, cut_on=cut_on, due_on=due_on)


def pay_bill(context: Context, borrower: Borrower, day: dt.date, detail: dict[str, Any]) -> None:
    """Pay (or not) the bill cut on ``cut_on``, then plan the next one."""
    state = context.book.state(borrower.account_id)
    if state.status != "open":
        return
    assert state.due_day is not None and state.statement_day is not None
    _plan_bill(
        context, borrower, next_cut_after(detail["cut_on"], state.statement_day), state.due_day
    )
    statement = next((s for s in state.statements.values() if s.cut_on == detail["cut_on"]), None)
    if statement is None and billed_minor(state) == 0:
        return
    if statement is not None and not statement.due_passed:
        _maybe_convert_bill(context, borrower, state, day, statement.statement_id)
        state = context.book.state(borrower.account_id)
    owed_minor = billed_minor(state)
    minimum_minor = owed_minor
    if statement is not None:
        minimum_minor = min(owed_minor, max(0, statement.minimum_minor - statement.paid_minor))
        minimum_minor = max(minimum_minor, overdue_minor(state, day))
    revolver = borrower.revolves
    _decide_payment(
        context, borrower, state, day, detail["due_on"], owed_minor, minimum_minor, revolver
    )


def _maybe_convert_bill(
    context: Context, borrower: Borrower, state: AccountState, day: dt.date, statement_id: str
) -> None:
    card = context.products[borrower.kind].credit_line
    plans = card.bill_instalment if card else None
    principal_minor = sum(
        item.amount_minor
        for item in state.items.values()
        if item.statement_id == statement_id and item.component is Component.PRINCIPAL
    )
    if plans is None or principal_minor < INSTALMENT_MINOR_MIN:
        return
    if borrower.rng.random() >= context.scenario.spending.bill_instalment_chance:
        return
    term = borrower.rng.choice(sorted(plans.fee_percent))
    book = context.book
    _post(
        context,
        "convert_bill",
        lambda: book.convert_bill(
            borrower.account_id, day, statement_id, term, request_id=borrower.request_id()
        ),
    )


# --- the payment decision (both products) -----------------------------------------------------


def _decide_payment(
    context: Context,
    borrower: Borrower,
    state: AccountState,
    day: dt.date,
    due_on: dt.date,
    owed_minor: int,
    minimum_minor: int,
    revolver: bool,
) -> None:
    """Ability and willingness decide how much is paid, and when.

    Unwilling, or overdue and not catching up this month (``cure_chance_monthly``): nothing.
    Otherwise the most of what is owed (all of it, unless a revolver) and the minimum that
    this month's capacity covers, else what capacity allows. A willing payer sometimes pays late.
    """
    if owed_minor <= 0:
        return
    scenario = context.scenario
    month = scenario.month_of(day)
    behind = overdue_minor(state, day) > 0
    cure_chance = min(
        1.0, scenario.repayment.cure_chance_monthly + scenario.hooks.collection_cure_uplift
    )
    if not borrower.willing(scenario) or (behind and borrower.rng.random() >= cure_chance):
        _missed(borrower, due_on, owed_minor)
        return
    capacity_minor = borrower.capacity_minor(scenario, month)
    if capacity_minor >= owed_minor and not revolver:
        amount_minor = owed_minor
    elif capacity_minor >= minimum_minor:
        amount_minor = max(minimum_minor, min(owed_minor, capacity_minor) if not revolver else 0)
    else:
        amount_minor = capacity_minor
    if amount_minor >= minimum_minor:
        borrower.missed_months = 0
    else:
        _missed(borrower, due_on, minimum_minor - amount_minor)
    if amount_minor <= 0:
        return
    late_chance = scenario.repayment.late_chance * (1 - scenario.hooks.reminder_on_time_uplift)
    if not behind and borrower.rng.random() < late_chance:
        late_days = borrower.rng.randint(1, scenario.repayment.late_days_max)
        context.calendar.add(
            due_on + dt.timedelta(days=late_days), "repay", borrower, amount_minor=amount_minor
        )
        return
    repay(context, borrower, day, {"amount_minor": amount_minor})


def _missed(borrower: Borrower, due_on: dt.date, short_minor: int) -> None:
    """Note a bill left (partly) unpaid: willingness wears down, and the auditor learns of it."""
    borrower.missed_months += 1
    borrower.record.append((due_on, "missed", short_minor))


def repay(context: Context, borrower: Borrower, day: dt.date, detail: dict[str, Any]) -> None:
    """Pay what the borrower meant to, at least what is overdue by now (penalty accrued while
    late included: the app shows it), at most what is billed."""
    state = context.book.state(borrower.account_id)
    meant_minor = max(detail["amount_minor"], overdue_minor(state, day))
    amount_minor = min(meant_minor, billed_minor(state))
    if state.status != "open" or amount_minor <= 0:
        return
    book = context.book
    if _post(
        context,
        "repay",
        lambda: book.repay(
            borrower.account_id, day, amount_minor, request_id=borrower.request_id()
        ),
    ):
        borrower.record.append((day, "repay", amount_minor))


# --- cash loan --------------------------------------------------------------------------------


def draw(context: Context, borrower: Borrower, day: dt.date, detail: dict[str, Any]) -> None:
    """Draw the requested amount (up to the line) on the requested term, and plan paying it."""
    state = context.book.state(borrower.account_id)
    loan = context.products[borrower.kind].cash_loan
    assert loan is not None
    requested = borrower.application.requested_amount_minor
    amount_minor = min(requested, state.available_minor()) // DRAW_STEP_MINOR * DRAW_STEP_MINOR
    draw_min = parse_minor(loan.draw_min, context.products[borrower.kind].currency)
    if not can_borrow(state) or amount_minor < draw_min:
        return
    term = borrower.application.requested_term_months
    term = term if term in loan.terms else max(loan.terms)
    methods = [m for m in METHOD_WEIGHTS if m in loan.methods] or list(loan.methods)
    method = borrower.rng.choices(methods, weights=[METHOD_WEIGHTS.get(m, 1) for m in methods])[0]
    book = context.book
    posted: list[Posted] = []
    if not _post(
        context,
        "draw",
        lambda: posted.append(
            book.draw(
                borrower.account_id,
                day,
                amount_minor,
                term,
                method,
                request_id=borrower.request_id(),
            )
        ),
    ):
        return
    borrower.record.append((day, "draw", amount_minor))
    plan = book.state(borrower.account_id).plans[posted[0].data["plan_id"]]
    for period in plan.periods:
        last = period is plan.periods[-1]
        context.calendar.add(
            period.due_on, "pay_instalment", borrower, due_on=period.due_on, last=last
        )
    if borrower.rng.random() < context.scenario.spending.prepay_chance:
        payoff_on = day + dt.timedelta(days=borrower.rng.randint(20, 30 * term))
        context.calendar.add(payoff_on, "prepay", borrower, plan_id=plan.plan_id)


def pay_instalment(
    context: Context, borrower: Borrower, day: dt.date, detail: dict[str, Any]
) -> None:
    """Pay (or not) what is billed on the loan. After the last instalment a borrower still
    behind faces the same decision again a month later (no new bill will prompt it); one who
    is clear may draw again."""
    state = context.book.state(borrower.account_id)
    if state.status != "open":
        return
    owed_minor = billed_minor(state)
    _decide_payment(context, borrower, state, day, detail["due_on"], owed_minor, owed_minor, False)
    if not detail["last"]:
        return
    if billed_minor(context.book.state(borrower.account_id)) > 0:
        context.calendar.add(day + dt.timedelta(days=30), "pay_instalment", borrower, **detail)
    elif borrower.rng.random() < context.scenario.spending.redraw_chance:
        context.calendar.add(day + dt.timedelta(days=borrower.rng.randint(5, 60)), "draw", borrower)


def prepay(context: Context, borrower: Borrower, day: dt.date, detail: dict[str, Any]) -> None:
    """Pay a loan off early when the borrower is up to date and can afford it."""
    state = context.book.state(borrower.account_id)
    plan = state.plans.get(detail["plan_id"])
    if state.status != "open" or plan is None or overdue_minor(state, day) > 0:
        return
    month = context.scenario.month_of(day)
    if borrower.capacity_minor(context.scenario, month) < plan.remaining_minor:
        return
    book = context.book
    posted: list[Posted] = []
    if _post(
        context,
        "prepay",
        lambda: posted.append(
            book.prepay(
                borrower.account_id, day, detail["plan_id"], None, request_id=borrower.request_id()
            )
        ),
    ):
        borrower.record.append((day, "repay", posted[0].data["amount_minor"]))


ACTIONS: dict[str, Action] = {
    "plan_month": plan_month,
    "purchase": purchase,
    "pay_bill": pay_bill,
    "repay": repay,
    "draw": draw,
    "pay_instalment": pay_instalment,
    "prepay": prepay,
}
