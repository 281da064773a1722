"""Invariants of the servicing ledger under random products and random event scripts.

Hypothesis builds a product variant from a sample file (penalty rate and base, grace days, minimum
percent, waterfall order and grouping, late fee, write-off threshold) and a script of about 120
days of requests: purchases or draws, repayments of any size (overpayments included), refunds,
fees, waivers, instalment conversions, prepayments, reversals, pauses, write-offs, retried request
ids and jumps of the close of business. A request the ledger refuses with a ``LendGuardError`` is
allowed, but must write nothing. After every accepted request:

(a) every unit of a payment is allocated or held as credit;
(b) the journal sums to zero, its receivable accounts equal the state's balance per component
    (principal including plan principal) and customer credit equals the state's credit;
(c) no item, plan, period or credit is negative;
(d) folding the stored events again gives the live state;
(e) retrying the request id returns the same outcome and posts nothing;
(f) a draw's schedule repays exactly the amount drawn.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from ledger_helpers import (
    HUABEI_TEXT,
    JIEBEI_TEXT,
    audit,
    drop_key,
    register_text,
    set_key,
    with_unique_version,
)
from lendguard.errors import LendGuardError
from lendguard.ledger.book import Book, Posted
from lendguard.ledger.state import AccountState
from lendguard.products.model import Component
from lendguard.store import Store, open_store

OPENED_ON = dt.date(2026, 1, 5)
HORIZON_DAYS = 125
"""A script stops once its business date is this far past the opening."""

EXAMPLES_MAX = int(os.environ.get("LENDGUARD_PROPERTY_EXAMPLES", "40"))
"""Scripts per property test (about 0.2 s each on SQLite in memory); raise it to hunt longer."""

ORDERS = [list(order) for order in itertools.permutations(c.value for c in Component)]


# --- products ---------------------------------------------------------------------------------


def _percent(thousandths: int) -> str:
    return str(Decimal(thousandths) / 1000)


@st.composite
def overdue_and_waterfall(draw: st.DrawFn, text: str, *, cash_loan: bool) -> str:
    """Random [overdue] and [waterfall] settings common to both product kinds."""
    text = set_key(text, "overdue", "grace_days", str(draw(st.integers(0, 5))))
    base = draw(st.sampled_from(["overdue-amount", "overdue-principal"]))
    text = set_key(text, "overdue", "penalty_base", f'"{base}"')
    compound = base == "overdue-principal" and draw(st.booleans())
    text = set_key(text, "overdue", "compound_overdue_interest", str(compound).lower())
    if cash_loan and draw(st.booleans()):
        multiplier = draw(st.sampled_from(["1.3", "1.5", "2"]))
        text = set_key(text, "overdue", "penalty_contract_rate_multiplier", f'"{multiplier}"')
    else:
        text = drop_key(text, "overdue", "penalty_contract_rate_multiplier")
        rate = _percent(draw(st.integers(0, 100)))  # 0 to 0.1 % a day
        text = set_key(text, "overdue", "penalty_daily_rate_percent", f'"{rate}"')
    late_fee = draw(st.sampled_from(["0", "0", "5.00", "25.50"]))
    text = set_key(text, "overdue", "late_fee", f'"{late_fee}"')
    text = set_key(text, "overdue", "freeze_after_days", str(draw(st.integers(1, 10))))
    write_off = draw(st.sampled_from([30, 45, 60, 180]))
    text = set_key(text, "overdue", "write_off_after_days", str(write_off))
    order = draw(st.sampled_from(ORDERS))
    text = set_key(text, "waterfall", "order", "[" + ", ".join(f'"{c}"' for c in order) + "]")
    group_by = draw(st.sampled_from(["component", "due-date"]))
    return set_key(text, "waterfall", "group_by", f'"{group_by}"')


@st.composite
def credit_line_products(draw: st.DrawFn) -> str:
    text = HUABEI_TEXT
    minimum = draw(st.integers(5, 20))
    text = set_key(text, "credit_line", "minimum_payment_percent", f'"{minimum}"')
    rate = _percent(draw(st.integers(0, 60)))  # up to 0.06 % a day (21.9 % a year)
    text = set_key(text, "credit_line", "revolving_daily_rate_percent", f'"{rate}"')
    base = draw(st.sampled_from(["unpaid-remainder", "full-statement"]))
    text = set_key(text, "credit_line", "revolving_interest_base", f'"{base}"')
    text = draw(overdue_and_waterfall(text, cash_loan=False))
    return with_unique_version(text)


@st.composite
def cash_loan_products(draw: st.DrawFn) -> str:
    text = JIEBEI_TEXT
    rate = draw(st.sampled_from(["0.02", "0.03", "0.04", "0.05"]))
    text = set_key(text, "cash_loan", "daily_rate_percent", f'"{rate}"')
    text = set_key(text, "cash_loan", "credit_limit", '"20000.00"')
    text = draw(overdue_and_waterfall(text, cash_loan=True))
    return with_unique_version(text)


# --- scripts ----------------------------------------------------------------------------------

PERMILLE = st.integers(0, 1500)
"""A share of a balance in thousandths; above 1000 makes overpayments and over-refunds."""

PURCHASE = st.tuples(st.just("purchase"), st.integers(1, 6000_00))
DRAW = st.tuples(
    st.just("draw"),
    st.integers(450_00, 8000_00),  # the minimum draw is 500.00: a few are refused
    st.sampled_from([3, 6, 12]),
    st.sampled_from(["equal-instalment", "equal-principal", "interest-first"]),
)
ACTIONS: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "wait": st.tuples(st.just("wait"), st.integers(0, 8)),
    "jump": st.tuples(st.just("jump"), st.integers(1, 40)),
    "repay": st.tuples(st.just("repay"), PERMILLE, st.integers(0, 50_00)),
    "fee": st.tuples(st.just("fee"), st.integers(-5, 50_00)),
    "waive": st.tuples(st.just("waive"), st.sampled_from(list(Component)), PERMILLE),
    "reverse": st.tuples(st.just("reverse"), st.integers(0, 1000)),
    "pause": st.tuples(st.just("pause")),
    "resume": st.tuples(st.just("resume")),
    "replay": st.tuples(st.just("replay"), st.integers(0, 1000)),
    # Ending the account ends the script's interest: only one request in ten goes through.
    "write_off": st.tuples(st.just("write_off"), st.integers(0, 9)),
    "close": st.tuples(st.just("close"), st.integers(0, 9)),
    "purchase": PURCHASE,
    "refund": st.tuples(st.just("refund"), st.integers(0, 1000), PERMILLE),
    "convert_purchase": st.tuples(
        st.just("convert_purchase"), st.integers(0, 1000), st.sampled_from([3, 6, 9, 12])
    ),
    "convert_bill": st.tuples(st.just("convert_bill"), st.sampled_from([3, 6, 9, 12])),
    "draw": DRAW,
    "prepay": st.tuples(st.just("prepay"), st.integers(0, 1000), st.one_of(st.none(), PERMILLE)),
}
COMMON_WEIGHTS = {
    "wait": 6,
    "jump": 2,
    "repay": 6,
    "fee": 2,
    "waive": 2,
    "reverse": 3,
    "pause": 1,
    "resume": 1,
    "replay": 2,
    "write_off": 1,
    "close": 1,
}
CREDIT_LINE_WEIGHTS = COMMON_WEIGHTS | {
    "purchase": 5,
    "refund": 2,
    "convert_purchase": 2,
    "convert_bill": 2,
}
CASH_LOAN_WEIGHTS = COMMON_WEIGHTS | {"draw": 3, "prepay": 3}


def weighted(weights: dict[str, int]) -> st.SearchStrategy[tuple[Any, ...]]:
    """Actions drawn in proportion to ``weights``."""
    kinds = [kind for kind, weight in weights.items() for _ in range(weight)]
    return st.sampled_from(kinds).flatmap(ACTIONS.__getitem__)


def scripts(is_line: bool) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    """A first borrowing, then a mix of requests and waits."""
    first = PURCHASE if is_line else DRAW
    rest = st.lists(
        weighted(CREDIT_LINE_WEIGHTS if is_line else CASH_LOAN_WEIGHTS), min_size=10, max_size=60
    )
    return st.tuples(first, rest).map(lambda pair: [pair[0], *pair[1]])


@dataclass
class Run:
    """One script on one account: the interpreter of the actions and the auditor of each step."""

    book: Book
    account_id: str
    today: dt.date = OPENED_ON
    accepted: list[tuple[Callable[[str], Posted], str, Posted]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=itertools.count)

    @property
    def state(self) -> AccountState:
        return self.book.state(self.account_id)

    def event_count(self) -> int:
        return len(self.book.store.load_events(self.account_id))

    def submit(self, name: str, call: Callable[[str], Posted]) -> None:
        """Send one request; a refusal must leave no trace, an acceptance must keep the books."""
        request_id = f"{self.account_id}:{next(self._ids)}"
        store = self.book.store
        events_before, balance_before = self.event_count(), store.trial_balance()
        try:
            posted = call(request_id)
        except LendGuardError as refusal:
            note(f"{self.today} {name}: refused {type(refusal).__name__}: {refusal.message}")
            event(f"{name.split(maxsplit=1)[0]} refused")
            assert self.event_count() == events_before
            assert store.trial_balance() == balance_before
            assert store.find_request(request_id) is None
            assert self.book.state(self.account_id) == Book(store).state(self.account_id)
            return
        note(f"{self.today} {name}: {posted.kind} #{posted.sequence}")
        event(f"{name.split(maxsplit=1)[0]} accepted")
        check_outcome(posted)
        audit(self.book, self.account_id)
        self.check_retry(call, request_id, posted)
        self.accepted.append((call, request_id, posted))

    def check_retry(self, call: Callable[[str], Posted], request_id: str, posted: Posted) -> None:
        events = self.event_count()
        retried = call(request_id)
        assert retried.replayed
        assert retried.to_dict() == posted.to_dict()
        assert self.event_count() == events

    def step(self, action: tuple[Any, ...]) -> None:
        kind, *args = action
        getattr(self, f"do_{kind}")(*args)

    # --- actions --------------------------------------------------------------------------

    def do_wait(self, days: int) -> None:
        self.today += dt.timedelta(days=days)

    def do_jump(self, days: int) -> None:
        through = self.today + dt.timedelta(days=days)
        self.book.close_through(self.account_id, through)
        note(f"closed through {through}")
        audit(self.book, self.account_id)
        self.today = through + dt.timedelta(days=1)

    def do_purchase(self, amount: int) -> None:
        day = self.today
        purchase_id = f"p{len(self.state.purchases) + len(self.accepted)}"
        self.submit(
            f"purchase {purchase_id} {amount}",
            lambda rid: self.book.purchase(
                self.account_id, day, purchase_id, amount, request_id=rid
            ),
        )

    def do_draw(self, amount: int, term: int, method: str) -> None:
        day = self.today
        self.submit(
            f"draw {amount} x{term} {method}",
            lambda rid: self.book.draw(self.account_id, day, amount, term, method, request_id=rid),
        )

    def do_repay(self, permille: int, extra: int) -> None:
        day = self.today
        amount = max(1, self.state.balance_minor() * permille // 1000 + extra)
        self.submit(
            f"repay {amount}",
            lambda rid: self.book.repay(self.account_id, day, amount, request_id=rid),
        )

    def do_prepay(self, pick: int, permille: int | None) -> None:
        day = self.today
        plans = sorted(self.state.plans.values(), key=lambda plan: plan.plan_id)
        plan_id = plans[pick % len(plans)].plan_id if plans else "L-none"
        remaining = plans[pick % len(plans)].remaining_minor if plans else 1
        amount = None if permille is None else max(1, remaining * permille // 1000)
        self.submit(
            f"prepay {plan_id} {amount}",
            lambda rid: self.book.prepay(self.account_id, day, plan_id, amount, request_id=rid),
        )

    def do_refund(self, pick: int, permille: int) -> None:
        day = self.today
        purchases = sorted(self.state.purchases.items())
        if not purchases:
            return
        purchase_id, record = purchases[pick % len(purchases)]
        refundable = record["amount_minor"] - record["refunded_minor"]
        amount = max(1, refundable * permille // 1000)
        self.submit(
            f"refund {purchase_id} {amount}",
            lambda rid: self.book.refund(self.account_id, day, purchase_id, amount, request_id=rid),
        )

    def do_fee(self, amount: int) -> None:
        day = self.today
        self.submit(
            f"fee {amount}",
            lambda rid: self.book.charge_fee(
                self.account_id, day, amount, "service", request_id=rid
            ),
        )

    def do_waive(self, component: Component, permille: int) -> None:
        day = self.today
        amount = max(1, self.state.balance_minor(component) * permille // 1000)
        self.submit(
            f"waive {component.value} {amount}",
            lambda rid: self.book.waive(
                self.account_id, day, component, amount, "goodwill", request_id=rid
            ),
        )

    def do_convert_purchase(self, pick: int, term: int) -> None:
        day = self.today
        purchases = sorted(self.state.purchases)
        if not purchases:
            return
        purchase_id = purchases[pick % len(purchases)]
        self.submit(
            f"convert purchase {purchase_id} x{term}",
            lambda rid: self.book.convert_purchase(
                self.account_id, day, purchase_id, term, request_id=rid
            ),
        )

    def do_convert_bill(self, term: int) -> None:
        day = self.today
        statements = sorted(self.state.statements)
        statement_id = statements[-1] if statements else "S-none"
        self.submit(
            f"convert bill {statement_id} x{term}",
            lambda rid: self.book.convert_bill(
                self.account_id, day, statement_id, term, request_id=rid
            ),
        )

    def do_reverse(self, pick: int) -> None:
        day = self.today
        if not self.accepted:
            return
        target = self.accepted[pick % len(self.accepted)][2].sequence
        self.submit(
            f"reverse #{target}",
            lambda rid: self.book.reverse(self.account_id, day, target, "bounced", request_id=rid),
        )

    def do_pause(self) -> None:
        day = self.today
        self.submit(
            "pause",
            lambda rid: self.book.pause(self.account_id, day, "review", request_id=rid),
        )

    def do_resume(self) -> None:
        day = self.today
        self.submit("resume", lambda rid: self.book.resume(self.account_id, day, request_id=rid))

    def do_write_off(self, gate: int) -> None:
        day = self.today
        if gate:
            return
        self.submit(
            "write off",
            lambda rid: self.book.write_off(self.account_id, day, "manual", request_id=rid),
        )

    def do_close(self, gate: int) -> None:
        day = self.today
        if gate:
            return
        self.submit(
            "close",
            lambda rid: self.book.close_account(self.account_id, day, request_id=rid),
        )

    def do_replay(self, pick: int) -> None:
        if not self.accepted:
            return
        call, request_id, posted = self.accepted[pick % len(self.accepted)]
        note(f"retry {request_id}")
        self.check_retry(call, request_id, posted)


def check_outcome(posted: Posted) -> None:
    """(a) and (f): the amounts an accepted request records add up."""
    data = posted.data
    allocated = sum(a["amount_minor"] for a in data.get("allocations", []))
    if posted.kind == "repayment":
        assert allocated + data["credit_minor"] == data["amount_minor"], data
        assert all(a["amount_minor"] > 0 for a in data["allocations"])
    if posted.kind == "prepayment":
        assert (
            allocated + data["interest_minor"] + data["principal_minor"] == data["amount_minor"]
        ), data
    if posted.kind == "refund":
        reduced = sum(cut["principal_minor"] for cut in data["plan_reductions"])
        assert allocated + reduced + data["credit_minor"] == data["amount_minor"], data
    if posted.kind == "draw":
        assert sum(p["principal_minor"] for p in data["periods"]) == data["principal_minor"]
    if posted.kind == "recovery":
        assert data["amount_minor"] > 0


def run_script(store: Store, product_text: str, actions: list[tuple[Any, ...]]) -> Run:
    book = Book(store)
    product_id = register_text(book, product_text)
    account_id = f"A-{uuid.uuid4().hex[:12]}"
    book.open_account(account_id, product_id, OPENED_ON, request_id=f"{account_id}:open")
    run = Run(book, account_id)
    horizon = OPENED_ON + dt.timedelta(days=HORIZON_DAYS)
    for action in actions:
        if run.today > horizon:
            break
        run.step(action)
    run.do_jump(max(1, (horizon - run.today).days))
    return run


PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES_MAX, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(product_text=credit_line_products(), actions=scripts(is_line=True))
def test_credit_line_books_stay_balanced(product_text: str, actions: list[Any]) -> None:
    store = open_store("sqlite://")
    try:
        run_script(store, product_text, actions)
    finally:
        store.close()


@PROPERTY_SETTINGS
@given(product_text=cash_loan_products(), actions=scripts(is_line=False))
def test_cash_loan_books_stay_balanced(product_text: str, actions: list[Any]) -> None:
    store = open_store("sqlite://")
    try:
        run_script(store, product_text, actions)
    finally:
        store.close()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    product_text=st.one_of(credit_line_products(), cash_loan_products()),
    data=st.data(),
)
def test_books_stay_balanced_on_each_database(
    store: Store, product_text: str, data: st.DataObject
) -> None:
    # One store (SQLite file or PostgreSQL schema) serves every example: accounts and product
    # versions are unique per example, and the store-wide journal must still sum to zero.
    is_line = "credit-line" in product_text.split("[rounding]", maxsplit=1)[0]
    actions = data.draw(scripts(is_line))
    run_script(store, product_text, actions)
