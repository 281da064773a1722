"""Test helpers for the servicing ledger: product text variants, an account driver, an auditor.

Nothing here decides a business outcome. The helpers edit product TOML text, call the public
``Book`` API with generated request ids, and read the store back so tests can compare what the
journal says with what the folded state says. Expected numbers live in the tests, by hand.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lendguard import limits
from lendguard.ledger.book import Book, Posted
from lendguard.ledger.state import AccountState
from lendguard.products.model import Component
from lendguard.store import Store

PRODUCTS_DIRECTORY = Path(__file__).resolve().parents[1] / "products"
HUABEI_TEXT = (PRODUCTS_DIRECTORY / "huabei-standard.toml").read_text(encoding="utf-8")
JIEBEI_TEXT = (PRODUCTS_DIRECTORY / "jiebei-standard.toml").read_text(encoding="utf-8")

CUSTOMER_CREDIT = "liability:customer_credit"
CREDIT_LOSS = "expense:credit_loss"
RECOVERY_INCOME = "income:recovery"
SETTLEMENT = "asset:settlement"


def receivable(component: Component) -> str:
    return f"asset:receivable:{component.value}"


def income(component: Component) -> str:
    return f"income:{component.value}"


# --- product text -----------------------------------------------------------------------------


def _section_span(text: str, section: str) -> tuple[int, int]:
    """Start and end offsets of the body of ``[section]`` (up to the next header)."""
    header = re.search(rf"^\[{re.escape(section)}\]\s*$", text, flags=re.MULTILINE)
    if header is None:
        raise KeyError(f"no [{section}] in the product text")
    following = re.compile(r"^\[", flags=re.MULTILINE).search(text, header.end())
    return header.end(), len(text) if following is None else following.start()


def set_key(text: str, section: str, key: str, literal: str) -> str:
    """``text`` with ``key = literal`` in ``[section]`` (replaced if present, else appended)."""
    start, end = _section_span(text, section)
    body = text[start:end]
    line = re.compile(rf"^{re.escape(key)}\s*=.*$", flags=re.MULTILINE)
    if line.search(body):
        body = line.sub(lambda _: f"{key} = {literal}", body, count=1)
    else:
        body = body.rstrip("\n") + f"\n{key} = {literal}\n\n"
    return text[:start] + body + text[end:]


def drop_key(text: str, section: str, key: str) -> str:
    """``text`` without ``key`` in ``[section]``."""
    start, end = _section_span(text, section)
    body = re.sub(rf"^{re.escape(key)}\s*=.*\n", "", text[start:end], flags=re.MULTILINE)
    return text[:start] + body + text[end:]


def drop_section(text: str, section: str) -> str:
    """``text`` without the ``[section]`` table."""
    start, end = _section_span(text, section)
    header_start = text.rindex(f"[{section}]", 0, start)
    return text[:header_start] + text[end:]


def with_unique_version(text: str) -> str:
    """Give a product variant its own version, so variants can share one store."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return set_key(text, "product", "version", f'"t-{digest}"')


def register_text(book: Book, text: str) -> str:
    """Register product TOML text through the public path (a file); returns the product id."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "product.toml"
        path.write_text(text, encoding="utf-8")
        return book.register_product(str(path)).product_id


# --- driving an account -----------------------------------------------------------------------


@dataclass
class Account:
    """One account driven through the public ``Book`` API, each request with a fresh id."""

    book: Book
    account_id: str
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def request_id(self) -> str:
        return f"{self.account_id}-r{next(self._ids)}"

    @classmethod
    def open(
        cls,
        book: Book,
        account_id: str,
        product_id: str,
        opened_on: dt.date,
        *,
        due_day: int | None = None,
        credit_limit_minor: int | None = None,
    ) -> Account:
        account = cls(book, account_id)
        book.open_account(
            account_id,
            product_id,
            opened_on,
            request_id=account.request_id(),
            due_day=due_day,
            credit_limit_minor=credit_limit_minor,
        )
        return account

    @property
    def state(self) -> AccountState:
        return self.book.state(self.account_id)

    def close_through(self, day: dt.date) -> None:
        self.book.close_through(self.account_id, day)

    def purchase(self, day: dt.date, purchase_id: str, amount_minor: int) -> Posted:
        return self.book.purchase(
            self.account_id, day, purchase_id, amount_minor, request_id=self.request_id()
        )

    def draw(
        self, day: dt.date, amount_minor: int, term: int, method: str = "equal-instalment"
    ) -> Posted:
        return self.book.draw(
            self.account_id, day, amount_minor, term, method, request_id=self.request_id()
        )

    def repay(self, day: dt.date, amount_minor: int) -> Posted:
        return self.book.repay(self.account_id, day, amount_minor, request_id=self.request_id())

    def prepay(self, day: dt.date, plan_id: str, amount_minor: int | None) -> Posted:
        return self.book.prepay(
            self.account_id, day, plan_id, amount_minor, request_id=self.request_id()
        )

    def refund(self, day: dt.date, purchase_id: str, amount_minor: int) -> Posted:
        return self.book.refund(
            self.account_id, day, purchase_id, amount_minor, request_id=self.request_id()
        )

    def convert_purchase(self, day: dt.date, purchase_id: str, term: int) -> Posted:
        return self.book.convert_purchase(
            self.account_id, day, purchase_id, term, request_id=self.request_id()
        )

    def reverse(self, day: dt.date, target_sequence: int, reason: str = "bounced") -> Posted:
        return self.book.reverse(
            self.account_id, day, target_sequence, reason, request_id=self.request_id()
        )

    def pause(self, day: dt.date, reason: str = "dispute") -> Posted:
        return self.book.pause(self.account_id, day, reason, request_id=self.request_id())

    def resume(self, day: dt.date) -> Posted:
        return self.book.resume(self.account_id, day, request_id=self.request_id())

    def close(self, day: dt.date) -> Posted:
        return self.book.close_account(self.account_id, day, request_id=self.request_id())

    def item_amounts(self) -> dict[str, int]:
        """Outstanding amount per item id."""
        return {item_id: item.amount_minor for item_id, item in self.state.items.items()}

    def kinds_on(self, day: dt.date) -> list[str]:
        """Kinds of the events dated ``day``, in order."""
        return [e.kind.value for e in self.book.events(self.account_id) if e.business_date == day]

    def events_of(self, kind: str) -> list[Any]:
        return [e for e in self.book.events(self.account_id) if e.kind.value == kind]


# --- reading the store back -------------------------------------------------------------------


def journal_totals(store: Store, account_id: str) -> dict[str, int]:
    """Net amount per ledger account over one account's journal lines (every page)."""
    totals: defaultdict[str, int] = defaultdict(int)
    for offset in itertools.count(0, limits.page_size_max):
        page = store.journal(account_id, limit=limits.page_size_max, offset=offset)
        for line in page:
            totals[line.ledger_account] += line.amount_minor
        if len(page) < limits.page_size_max:
            return dict(totals)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Footprint:
    """Everything a request could write about an account: to prove a refusal wrote nothing."""

    events: int
    journal: dict[str, int]
    trial_balance: dict[tuple[str, str], int]

    @classmethod
    def of(cls, store: Store, account_id: str | None) -> Footprint:
        events = len(store.load_events(account_id)) if account_id else 0
        journal = journal_totals(store, account_id) if account_id else {}
        return cls(events, journal, store.trial_balance())


def audit(book: Book, account_id: str) -> None:
    """The invariants every accepted request must keep (journal, state, replay)."""
    store = book.store
    state = book.state(account_id)
    assert all(total == 0 for total in store.journal_total_by_currency().values())
    totals = journal_totals(store, account_id)
    balances = state.balances_minor()
    for component in Component:
        assert totals.get(receivable(component), 0) == state.balance_minor(component), component
        assert balances[component] == state.balance_minor(component), component
    assert totals.get(CUSTOMER_CREDIT, 0) == -state.credit_minor
    assert_nothing_negative(state)
    assert_bucket_history_is_a_chain(state)
    replayed = Book(store).state(account_id)
    assert replayed == state


def assert_nothing_negative(state: AccountState) -> None:
    assert state.credit_minor >= 0, state.credit_minor
    assert state.recovered_minor >= 0
    for item in state.items.values():
        assert item.amount_minor >= 0, item
    for plan in state.plans.values():
        assert plan.remaining_minor >= 0, plan
        for period in plan.periods:
            assert period.principal_minor >= 0 and period.fee_minor >= 0, period


def assert_bucket_history_is_a_chain(state: AccountState) -> None:
    """Bucket spells follow each other without gaps; only the last is open."""
    history = state.bucket_history
    for previous, spell in itertools.pairwise(history):
        assert previous.left_on == spell.entered_on, history
        assert previous.bucket != spell.bucket, history
    assert not history or history[-1].left_on is None, history
