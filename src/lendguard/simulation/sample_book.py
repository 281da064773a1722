"""A small seeded sample book pushed through the real ledger by scripted borrowers.

Why: to exercise the whole servicing cycle (purchases, instalments, draws, repayments, delinquency,
charge-off, recovery) on real numbers in seconds, as a load every ledger change must survive with a
balanced journal, and as the book of the close-of-business tests and benchmark. The demo's book
simulator (:mod:`.runner`) models borrowers instead; this one scripts them. Everything follows from
the seed through one ``random.Random`` and business dates from 2026-01-01: the same seed gives
the same book.

Each simulated borrower draws a behaviour: pays in full, pays the minimum, pays late, or stops
paying on some date. An account keeps an agenda of dated actions; before each action the
simulator closes the account's business days up to the day before (one batched close per gap, not
one call a night), reads the state, decides amounts from it and posts the request. Accounts run
one after another: they share nothing, so one account's agenda is a complete story.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lendguard.dates.months import add_months
from lendguard.ledger.book import Book
from lendguard.ledger.calendar_rules import ONE_DAY, due_date_for_cut
from lendguard.ledger.state import AccountState
from lendguard.money import parse_minor
from lendguard.products.loader import ProductFile
from lendguard.products.model import Component, Product
from lendguard.simulation.products import register_sample_products

START = dt.date(2026, 1, 1)
"""First business date of every sample book."""

CREDIT_LINE_SHARE = 0.6
BEHAVIOUR_WEIGHTS = {"full": 50, "minimum": 20, "late": 20, "stop": 10}
"""Share of borrowers per payment behaviour, in percent."""

PURCHASES_PER_MONTH_MAX = 4
PURCHASE_MINOR_RANGE = (10_00, 2_500_00)
INSTALMENT_PURCHASE_MINOR_MIN = 600_00
"""Purchases from this amount up are offered a conversion to instalments at checkout."""

PURCHASE_INSTALMENT_CHANCE = 0.25
BILL_INSTALMENT_CHANCE = 0.08
SECOND_DRAW_CHANCE = 0.3
PAYOFF_CHANCE = 0.15
RECOVERY_CHANCE = 0.4
LATE_DAYS_MAX = 40
EARLY_DAYS_MAX = 6

CHARGE_OFF_DELINQUENT_DAYS = 90
"""The demo lender charges off at 90 delinquent days, before the products' automatic 180, so a
six-month run shows write-offs and recoveries."""

REVIEW_DAYS = (1, 16)
"""Days of the month the lender reviews each account for charge-off."""

CHARGE_OFF_REASON = f"demo: charged off at {CHARGE_OFF_DELINQUENT_DAYS} delinquent days"


# --- the agenda of one account ----------------------------------------------------------------


@dataclass
class Agenda:
    """Dated actions of one account, taken in date order (ties: in the order added)."""

    end: dt.date
    entries: list[tuple[dt.date, int, str, dict[str, Any]]] = field(default_factory=list)
    added: int = 0

    def add(self, day: dt.date, action: str, detail: dict[str, Any] | None = None) -> None:
        """Plan ``action`` on ``day``; days after the end of the run are dropped."""
        if day <= self.end:
            heapq.heappush(self.entries, (day, self.added, action, detail or {}))
            self.added += 1

    def pop(self) -> tuple[dt.date, str, dict[str, Any]]:
        day, _, action, detail = heapq.heappop(self.entries)
        return day, action, detail


@dataclass
class Borrower:
    """One simulated customer: an account, a behaviour and the requests posted so far."""

    book: Book
    rng: random.Random
    account_id: str
    product: Product
    behaviour: str
    stops_on: dt.date
    requests: int = 0

    def request_id(self) -> str:
        """The next client-generated request id (deterministic, unique across the book)."""
        self.requests += 1
        return f"{self.account_id}-{self.requests}"

    def pays_on(self, day: dt.date) -> bool:
        return day < self.stops_on

    def pay_day(self, due_on: dt.date, early_days_max: int) -> dt.date:
        """When this borrower pays something due on ``due_on``."""
        if self.behaviour == "late":
            return due_on + dt.timedelta(days=self.rng.randint(1, LATE_DAYS_MAX))
        return due_on - dt.timedelta(days=self.rng.randint(0, early_days_max))

    def repay(self, day: dt.date, amount_minor: int) -> None:
        if amount_minor > 0:
            self.book.repay(self.account_id, day, amount_minor, request_id=self.request_id())


Action = Callable[[Borrower, AccountState, dt.date, dict[str, Any], Agenda], None]


def billed_minor(state: AccountState) -> int:
    """Everything billed and unpaid: what paying a bill or an instalment in full means."""
    return sum(item.amount_minor for item in state.items.values() if item.due_on is not None)


def can_borrow(state: AccountState) -> bool:
    return state.status == "open" and not state.frozen


# --- actions ----------------------------------------------------------------------------------


def purchase(
    borrower: Borrower, state: AccountState, day: dt.date, detail: dict[str, Any], agenda: Agenda
) -> None:
    """Buy, up to the available line; a large purchase may go straight into instalments."""
    amount_minor = min(detail["amount_minor"], state.available_minor())
    if not can_borrow(state) or amount_minor < PURCHASE_MINOR_RANGE[0]:
        return
    purchase_id = borrower.request_id()
    borrower.book.purchase(
        borrower.account_id, day, purchase_id, amount_minor, request_id=purchase_id
    )
    card = (
        borrower.product.credit_line.purchase_instalment if borrower.product.credit_line else None
    )
    if card is None or amount_minor < INSTALMENT_PURCHASE_MINOR_MIN:
        return
    if borrower.rng.random() < PURCHASE_INSTALMENT_CHANCE:
        term = borrower.rng.choice(sorted(card.fee_percent))
        borrower.book.convert_purchase(
            borrower.account_id, day, purchase_id, term, request_id=borrower.request_id()
        )


def pay_bill(
    borrower: Borrower, state: AccountState, day: dt.date, detail: dict[str, Any], agenda: Agenda
) -> None:
    """Pay the statement cut on ``detail["cut_on"]`` the borrower's way, maybe in instalments."""
    if state.status != "open" or not borrower.pays_on(day):
        return
    statement = next((s for s in state.statements.values() if s.cut_on == detail["cut_on"]), None)
    if statement is None:
        return
    if not statement.due_passed and convert_bill(borrower, state, day, statement.statement_id):
        borrower.repay(day, billed_minor(borrower.book.state(borrower.account_id)))
    elif borrower.behaviour == "minimum":
        borrower.repay(day, statement.minimum_minor - statement.paid_minor)
    else:
        borrower.repay(day, billed_minor(state))


def convert_bill(borrower: Borrower, state: AccountState, day: dt.date, statement_id: str) -> bool:
    """Sometimes turn a bill's principal into instalments; whether it was converted."""
    card = borrower.product.credit_line.bill_instalment if borrower.product.credit_line else None
    principal_minor = sum(
        item.amount_minor
        for item in state.items.values()
        if item.statement_id == statement_id and item.component is Component.PRINCIPAL
    )
    if card is None or principal_minor < INSTALMENT_PURCHASE_MINOR_MIN:
        return False
    if borrower.rng.random() >= BILL_INSTALMENT_CHANCE:
        return False
    term = borrower.rng.choice(sorted(card.fee_percent))
    borrower.book.convert_bill(
        borrower.account_id, day, statement_id, term, request_id=borrower.request_id()
    )
    return True


def draw(
    borrower: Borrower, state: AccountState, day: dt.date, detail: dict[str, Any], agenda: Agenda
) -> None:
    """Draw a cash loan and plan paying each of its instalments (and maybe paying it off)."""
    loan = borrower.product.cash_loan
    assert loan is not None
    amount_minor = min(detail["amount_minor"], state.available_minor()) // 100_00 * 100_00
    if not can_borrow(state) or amount_minor < parse_minor(
        loan.draw_min, borrower.product.currency
    ):
        return
    term, method = borrower.rng.choice(loan.terms), borrower.rng.choice(loan.methods)
    posted = borrower.book.draw(
        borrower.account_id, day, amount_minor, term, method, request_id=borrower.request_id()
    )
    plan = borrower.book.state(borrower.account_id).plans[posted.data["plan_id"]]
    for period in plan.periods:
        agenda.add(borrower.pay_day(period.due_on, 0), "pay_instalment")
    if borrower.behaviour == "full" and borrower.rng.random() < PAYOFF_CHANCE:
        payoff_on = day + dt.timedelta(days=borrower.rng.randint(20, 150))
        agenda.add(payoff_on, "payoff", {"plan_id": plan.plan_id})


def pay_instalment(
    borrower: Borrower, state: AccountState, day: dt.date, detail: dict[str, Any], agenda: Agenda
) -> None:
    """Pay everything billed on a cash loan (instalments, and penalty when late)."""
    if state.status == "open" and borrower.pays_on(day):
        borrower.repay(day, billed_minor(state))


def payoff(
    borrower: Borrower, state: AccountState, day: dt.date, detail: dict[str, Any], agenda: Agenda
) -> None:
    """Pay a cash-loan plan off early (interest for the days used only)."""
    if state.status == "open" and detail["plan_id"] in state.plans:
        borrower.book.prepay(
            borrower.account_id, day, detail["plan_id"], None, request_id=borrower.request_id()
        )


def review(
    borrower: Borrower, state: AccountState, day: dt.date, detail: dict[str, Any], agenda: Agenda
) -> None:
    """The lender's charge-off review; a charged-off borrower may pay something back later."""
    if state.status != "open" or state.delinquency.delinquent_days < CHARGE_OFF_DELINQUENT_DAYS:
        return
    borrower.book.write_off(
        borrower.account_id, day, CHARGE_OFF_REASON, request_id=borrower.request_id()
    )
    if borrower.rng.random() < RECOVERY_CHANCE:
        agenda.add(day + dt.timedelta(days=borrower.rng.randint(10, 60)), "recover")


def recover(
    borrower: Borrower, state: AccountState, day: dt.date, detail: dict[str, Any], agenda: Agenda
) -> None:
    """A payment after charge-off: booked as a recovery, not against receivables."""
    borrower.repay(day, max(1, state.written_off_minor * borrower.rng.randint(10, 50) // 100))


ACTIONS: dict[str, Action] = {
    "purchase": purchase,
    "pay_bill": pay_bill,
    "draw": draw,
    "pay_instalment": pay_instalment,
    "payoff": payoff,
    "review": review,
    "recover": recover,
}


# --- one account ------------------------------------------------------------------------------


def month_starts(months: int) -> list[dt.date]:
    """First day of each month of the run."""
    return [add_months(START, offset) for offset in range(months)]


def run_end(months: int) -> dt.date:
    """Last business date of a run of ``months`` months."""
    return add_months(START, months) - ONE_DAY


def random_day(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    return first + dt.timedelta(days=rng.randint(0, (last - first).days))


def plan_credit_line(
    borrower: Borrower, agenda: Agenda, opened_on: dt.date, due_day: int, months: int
) -> None:
    """Purchases through each month, and paying each statement the borrower's way."""
    line = borrower.product.credit_line
    assert line is not None
    for month_start in month_starts(months):
        month_end = add_months(month_start, 1) - ONE_DAY
        for _ in range(borrower.rng.randint(0, PURCHASES_PER_MONTH_MAX)):
            amount_minor = borrower.rng.randint(*PURCHASE_MINOR_RANGE)
            agenda.add(
                random_day(borrower.rng, max(month_start, opened_on), month_end),
                "purchase",
                {"amount_minor": amount_minor},
            )
        cut_on = add_months(month_start, 1, line.statement_day)
        pay_on = borrower.pay_day(due_date_for_cut(cut_on, due_day), EARLY_DAYS_MAX)
        agenda.add(max(pay_on, cut_on), "pay_bill", {"cut_on": cut_on})


def plan_cash_loan(
    borrower: Borrower, agenda: Agenda, opened_on: dt.date, limit_minor: int
) -> None:
    """A draw on opening and, for some borrowers, a second one a few months in."""
    loan = borrower.product.cash_loan
    assert loan is not None
    draw_min = parse_minor(loan.draw_min, borrower.product.currency)
    draw_max = max(draw_min, limit_minor // 2)
    agenda.add(opened_on, "draw", {"amount_minor": borrower.rng.randint(draw_min, draw_max)})
    if borrower.rng.random() < SECOND_DRAW_CHANCE:
        later = opened_on + dt.timedelta(days=borrower.rng.randint(45, 120))
        agenda.add(later, "draw", {"amount_minor": borrower.rng.randint(draw_min, draw_max)})


def open_borrower(
    book: Book, rng: random.Random, number: int, products: list[ProductFile], months: int
) -> tuple[Borrower, Agenda]:
    """Draw a borrower, open their account and plan their actions."""
    product_file = products[0] if rng.random() < CREDIT_LINE_SHARE else products[1]
    product = product_file.product
    opened_on = random_day(rng, START, START + dt.timedelta(days=27))
    behaviour = rng.choices(list(BEHAVIOUR_WEIGHTS), weights=list(BEHAVIOUR_WEIGHTS.values()))[0]
    stops_on = opened_on + dt.timedelta(days=rng.randint(15, 75))
    borrower = Borrower(
        book,
        rng,
        f"A{number:05d}",
        product,
        behaviour,
        stops_on if behaviour == "stop" else dt.date.max,
    )
    rules = product.credit_line or product.cash_loan
    assert rules is not None
    limit_minor = parse_minor(rules.credit_limit, product.currency) * rng.choice((1, 2, 4)) // 4
    due_day = rng.choice(product.credit_line.due_day_choices) if product.credit_line else None
    book.open_account(
        borrower.account_id,
        product_file.product_id,
        opened_on,
        request_id=borrower.request_id(),
        due_day=due_day,
        credit_limit_minor=limit_minor,
    )
    agenda = Agenda(run_end(months))
    if due_day is not None:
        plan_credit_line(borrower, agenda, opened_on, due_day, months)
    else:
        plan_cash_loan(borrower, agenda, opened_on, limit_minor)
    for month_start in month_starts(months)[1:]:
        for review_day in REVIEW_DAYS:
            agenda.add(month_start.replace(day=review_day), "review")
    return borrower, agenda


def simulate_account(
    book: Book, rng: random.Random, number: int, products: list[ProductFile], months: int
) -> Borrower:
    """Run one account from opening to the end of the run, closing every business day."""
    borrower, agenda = open_borrower(book, rng, number, products, months)
    while agenda.entries:
        day, action, detail = agenda.pop()
        book.close_through(borrower.account_id, day - ONE_DAY)
        ACTIONS[action](borrower, book.state(borrower.account_id), day, detail, agenda)
    book.close_through(borrower.account_id, agenda.end)
    return borrower


# --- the whole book ---------------------------------------------------------------------------


def simulate(
    book: Book,
    accounts: int,
    months: int,
    seed: int,
    on_account_done: Callable[[], None] = lambda: None,
) -> list[Borrower]:
    """Every account of the book, one after another; ``on_account_done`` reports progress.

    One account's whole story is one group commit: its writes are bounded (a few dozen appends)
    and a commit per request would cost more than the simulation itself.
    """
    rng = random.Random(seed)
    products = list(register_sample_products(book).values())  # credit line, then cash loan
    borrowers = []
    for number in range(1, accounts + 1):
        with book.batch():
            borrowers.append(simulate_account(book, rng, number, products, months))
        on_account_done()
    return borrowers
