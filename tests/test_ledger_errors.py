"""The negative space of the ledger: every bad request gets its own typed error and writes nothing.

Each refusal is checked twice: the exception type (and the words a caller needs), and a footprint
of the store taken before and after (event count, the account's journal, the trial balance, and
whether the request id was stored) that must not change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from ledger_helpers import (
    HUABEI_TEXT,
    JIEBEI_TEXT,
    Account,
    Footprint,
    drop_key,
    drop_section,
    register_text,
    set_key,
)
from lendguard.errors import (
    AccountStateError,
    IdempotencyConflictError,
    InvalidAmountError,
    InvalidDateError,
    InvalidEventError,
    LendGuardError,
    ProductConfigError,
    RateCapError,
    UnknownAccountError,
    UnknownProductError,
)
from lendguard.ledger.book import Book
from lendguard.products.loader import load_product_text
from lendguard.products.model import Component
from lendguard.store import Store

D = dt.date
OPENED_ON = D(2026, 1, 5)


@pytest.fixture
def book(store: Store) -> Book:
    return Book(store)


@pytest.fixture
def line(book: Book) -> Account:
    """A Huabei line with one 500.00 purchase, limit 20,000.00."""
    account = Account.open(book, "HB-1", register_text(book, HUABEI_TEXT), OPENED_ON, due_day=10)
    account.purchase(D(2026, 1, 6), "tv", 500_00)
    return account


@pytest.fixture
def loan(book: Book) -> Account:
    return Account.open(book, "JB-1", register_text(book, JIEBEI_TEXT), OPENED_ON)


def refused(
    account: Account, error: type[LendGuardError], call: Callable[[str], Any], match: str = "."
) -> LendGuardError:
    """Run ``call(request_id)``; it must raise exactly ``error`` and leave the store as it was."""
    store = account.book.store
    request_id = account.request_id()
    before = Footprint.of(store, account.account_id)
    with pytest.raises(LendGuardError, match=match) as raised:
        call(request_id)
    assert type(raised.value) is error, raised.value
    assert Footprint.of(store, account.account_id) == before
    assert store.find_request(request_id) is None
    # The cached state is still the stored one.
    assert account.book.state(account.account_id) == Book(store).state(account.account_id)
    return raised.value


# --- amounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -1, -500_00])
def test_zero_or_negative_amounts_are_refused(line: Account, amount: int) -> None:
    book, account_id, day = line.book, line.account_id, D(2026, 1, 7)
    calls: list[Callable[[str], Any]] = [
        lambda rid: book.purchase(account_id, day, "sofa", amount, request_id=rid),
        lambda rid: book.repay(account_id, day, amount, request_id=rid),
        lambda rid: book.refund(account_id, day, "tv", amount, request_id=rid),
        lambda rid: book.charge_fee(account_id, day, amount, "card", request_id=rid),
        lambda rid: book.waive(
            account_id, day, Component.PRINCIPAL, amount, "goodwill", request_id=rid
        ),
    ]
    for call in calls:
        refused(line, InvalidAmountError, call, match="positive")


def test_zero_draw_is_refused(loan: Account) -> None:
    refused(
        loan,
        InvalidAmountError,
        lambda rid: loan.book.draw(
            loan.account_id, D(2026, 1, 6), 0, 12, "equal-instalment", request_id=rid
        ),
    )


@pytest.mark.parametrize("amount", [100.0, 100.5, True, "100"])
def test_amounts_that_are_not_integers_are_refused(line: Account, amount: object) -> None:
    book, account_id, day = line.book, line.account_id, D(2026, 1, 7)
    refused(
        line,
        InvalidAmountError,
        lambda rid: book.purchase(account_id, day, "sofa", amount, request_id=rid),  # type: ignore[arg-type]
        match="integer",
    )
    refused(
        line,
        InvalidAmountError,
        lambda rid: book.repay(account_id, day, amount, request_id=rid),  # type: ignore[arg-type]
        match="integer",
    )


# --- unknown things ---------------------------------------------------------------------------


def test_unknown_account_is_refused(line: Account) -> None:
    store = line.book.store
    before = Footprint.of(store, line.account_id)
    with pytest.raises(UnknownAccountError, match="NOPE"):
        line.book.repay("NOPE", D(2026, 1, 7), 10_00, request_id="r-unknown")
    with pytest.raises(UnknownAccountError, match="NOPE"):
        line.book.close_through("NOPE", D(2026, 1, 7))
    assert Footprint.of(store, line.account_id) == before
    assert store.find_request("r-unknown") is None
    assert [account.account_id for account in store.list_accounts()] == [line.account_id]


def test_unknown_product_is_refused(book: Book) -> None:
    with pytest.raises(UnknownProductError, match="no-such-product"):
        book.open_account("HB-9", "no-such-product", OPENED_ON, request_id="r-open")
    with pytest.raises(UnknownProductError, match="not found"):
        book.register_product("/nonexistent/product.toml")
    assert book.store.list_products() == []
    assert book.store.list_accounts() == []
    assert book.store.find_request("r-open") is None


# --- account state ----------------------------------------------------------------------------


def test_repayment_on_a_closed_account_is_refused(book: Book) -> None:
    account = Account.open(book, "HB-2", register_text(book, HUABEI_TEXT), OPENED_ON)
    account.close(D(2026, 1, 6))
    refused(
        account,
        AccountStateError,
        lambda rid: book.repay(account.account_id, D(2026, 1, 7), 10_00, request_id=rid),
        match="closed",
    )


def test_closing_an_account_that_still_owes_is_refused(line: Account) -> None:
    refused(
        line,
        AccountStateError,
        lambda rid: line.book.close_account(line.account_id, D(2026, 1, 7), request_id=rid),
        match="owes",
    )


def test_purchase_over_the_limit_is_refused(line: Account) -> None:
    # Limit 20,000.00 with 500.00 used: 19,500.00 is available, 19,500.01 is not.
    refused(
        line,
        AccountStateError,
        lambda rid: line.book.purchase(
            line.account_id, D(2026, 1, 7), "car", 19500_01, request_id=rid
        ),
        match="exceeds the available line",
    )
    line.purchase(D(2026, 1, 7), "car", 19500_00)
    assert line.state.available_minor() == 0


def test_purchase_while_frozen_is_refused(line: Account) -> None:
    line.close_through(D(2026, 2, 11))  # 50.00 minimum unpaid since 10 Feb: frozen from day 1
    assert line.state.frozen
    refused(
        line,
        AccountStateError,
        lambda rid: line.book.purchase(
            line.account_id, D(2026, 2, 12), "sofa", 10_00, request_id=rid
        ),
        match="frozen",
    )


def test_draw_while_frozen_is_refused(loan: Account) -> None:
    loan.draw(D(2026, 1, 6), 1000_00, 3)
    loan.close_through(D(2026, 2, 10))  # due 6 Feb, grace 3: delinquent from 10 Feb
    assert loan.state.frozen
    refused(
        loan,
        AccountStateError,
        lambda rid: loan.book.draw(
            loan.account_id, D(2026, 2, 11), 1000_00, 3, "equal-instalment", request_id=rid
        ),
        match="frozen",
    )


# --- dates ------------------------------------------------------------------------------------


def test_event_dated_before_opening_is_refused(line: Account) -> None:
    refused(
        line,
        InvalidDateError,
        lambda rid: line.book.repay(line.account_id, D(2026, 1, 4), 10_00, request_id=rid),
        match="before account HB-1 opened",
    )


@pytest.mark.parametrize("day", [D(2026, 1, 19), D(2026, 1, 20)])
def test_event_on_or_before_the_last_closed_day_is_refused(line: Account, day: dt.date) -> None:
    line.close_through(D(2026, 1, 20))
    refused(
        line,
        InvalidDateError,
        lambda rid: line.book.repay(line.account_id, day, 10_00, request_id=rid),
        match="last closed business date 2026-01-20",
    )
    line.repay(D(2026, 1, 21), 10_00)  # the next day is open


# --- idempotency ------------------------------------------------------------------------------


def test_request_id_reused_with_a_different_body_is_a_conflict(line: Account) -> None:
    book, account_id, store = line.book, line.account_id, line.book.store
    first = book.repay(account_id, D(2026, 1, 7), 10_00, request_id="pay-1")
    before = Footprint.of(store, account_id)
    for call in (
        lambda: book.repay(account_id, D(2026, 1, 7), 20_00, request_id="pay-1"),
        lambda: book.repay(account_id, D(2026, 1, 8), 10_00, request_id="pay-1"),
        lambda: book.purchase(account_id, D(2026, 1, 7), "sofa", 10_00, request_id="pay-1"),
    ):
        with pytest.raises(IdempotencyConflictError, match="pay-1"):
            call()
        assert Footprint.of(store, account_id) == before
    retried = book.repay(account_id, D(2026, 1, 7), 10_00, request_id="pay-1")
    assert retried.replayed and retried.to_dict() == first.to_dict()
    assert Footprint.of(store, account_id) == before


def test_open_request_id_reused_for_another_account_is_a_conflict(book: Book) -> None:
    product_id = register_text(book, HUABEI_TEXT)
    first = book.open_account("HB-7", product_id, OPENED_ON, request_id="open-7")
    assert book.open_account("HB-7", product_id, OPENED_ON, request_id="open-7").replayed
    with pytest.raises(IdempotencyConflictError, match="open-7"):
        book.open_account("HB-8", product_id, OPENED_ON, request_id="open-7")
    assert [account.account_id for account in book.store.list_accounts()] == ["HB-7"]
    assert len(book.store.load_events("HB-7")) == first.sequence == 1


def test_bad_ids_are_refused(line: Account) -> None:
    for bad in ("", "x" * 65, "tab\there"):
        refused(
            line,
            InvalidEventError,
            lambda rid, bad=bad: line.book.purchase(
                line.account_id, D(2026, 1, 7), bad, 10_00, request_id=rid
            ),
            match="purchase id",
        )


# --- product files ----------------------------------------------------------------------------


def _overdue_with_both_penalties() -> str:
    return set_key(JIEBEI_TEXT, "overdue", "penalty_daily_rate_percent", '"0.05"')


def _apr_over_the_cap() -> str:
    # 万10 a day x 360 = 36% a year, above the 24% judicial cap.
    return set_key(JIEBEI_TEXT, "cash_loan", "daily_rate_percent", '"0.10"')


BAD_PRODUCTS = {
    "missing [overdue]": (drop_section(HUABEI_TEXT, "overdue"), ProductConfigError, "overdue"),
    "both penalty options": (
        _overdue_with_both_penalties(),
        ProductConfigError,
        "exactly one of penalty_daily_rate_percent and penalty_contract_rate_multiplier",
    ),
    "neither penalty option": (
        drop_key(HUABEI_TEXT, "overdue", "penalty_daily_rate_percent"),
        ProductConfigError,
        "exactly one of",
    ),
    "due day equals statement day": (
        set_key(HUABEI_TEXT, "credit_line", "due_day_choices", "[1, 10]"),
        ProductConfigError,
        "due day 1 equals the statement day",
    ),
    "typo in a key": (
        HUABEI_TEXT.replace("grace_days = 0", "grace_dayz = 0"),
        ProductConfigError,
        r"overdue\.grace_dayz",
    ),
    "float rate": (
        set_key(HUABEI_TEXT, "overdue", "penalty_daily_rate_percent", "0.05"),
        ProductConfigError,
        r'write 0\.05 as a string \(e\.g\. "0\.05"\)',
    ),
    "compounding on the overdue amount": (
        set_key(HUABEI_TEXT, "overdue", "compound_overdue_interest", "true"),
        ProductConfigError,
        "compound_overdue_interest",
    ),
    "multiplier on a credit line": (
        set_key(
            drop_key(HUABEI_TEXT, "overdue", "penalty_daily_rate_percent"),
            "overdue",
            "penalty_contract_rate_multiplier",
            '"1.5"',
        ),
        ProductConfigError,
        "cash loans only",
    ),
    "APR above the cap": (
        _apr_over_the_cap(),
        RateCapError,
        r"exceeds the cap of 24\.00% \(法发〔2017〕22号 第2条",
    ),
    "revolving rate above the cap": (
        set_key(HUABEI_TEXT, "credit_line", "revolving_daily_rate_percent", '"0.1"'),
        ProductConfigError,
        r"exceeds the cap 24\.00% \(法发〔2017〕22号",
    ),
    "not TOML": ("[product\nid = 1", ProductConfigError, "not valid TOML"),
}


@pytest.mark.parametrize("case", sorted(BAD_PRODUCTS))
def test_bad_product_files_are_refused_with_the_field_named(book: Book, case: str) -> None:
    text, error, message = BAD_PRODUCTS[case]
    with pytest.raises(ProductConfigError, match=message) as raised:
        register_text(book, text)
    assert type(raised.value) is error
    assert book.store.list_products() == []
    with pytest.raises(ProductConfigError, match=message):
        load_product_text(text)


def test_changing_a_stored_product_version_is_refused(book: Book) -> None:
    register_text(book, HUABEI_TEXT)
    changed = set_key(HUABEI_TEXT, "overdue", "grace_days", "2")
    with pytest.raises(ProductConfigError, match="bump the version"):
        register_text(book, changed)
    assert [p.sha256 for p in book.store.list_products()] == [load_product_text(HUABEI_TEXT).sha256]
