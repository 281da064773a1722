"""Group commit (``Book.batch``): many requests in one transaction, all or nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lendguard.errors import AccountStateError
from lendguard.ledger.book import Book
from lendguard.store import Store

PRODUCT = Path(__file__).resolve().parents[1] / "products" / "huabei-standard.toml"
OPENED_ON = dt.date(2026, 3, 2)


def new_book(store: Store) -> Book:
    book = Book(store)
    book.register_product(str(PRODUCT))
    return book


def event_count(store: Store, account_id: str) -> int:
    return len(store.load_events(account_id))


def test_a_batch_writes_every_request_in_one_go(store: Store) -> None:
    book = new_book(store)
    with book.batch():
        book.open_account("A", "huabei-standard", OPENED_ON, request_id="open-A")
        book.purchase("A", OPENED_ON, "p1", 10_000, request_id="r1")
        book.purchase("A", OPENED_ON + dt.timedelta(days=3), "p2", 5_000, request_id="r2")
        assert store.find_request("r1") is None  # nothing is stored before the block ends
    assert event_count(store, "A") == book.state("A").sequence
    assert store.journal_total_by_currency() == {"CNY": 0}
    book.forget("A")
    assert book.state("A").principal_outstanding_minor() == 15_000


def test_an_exception_leaving_the_block_writes_nothing(store: Store) -> None:
    book = new_book(store)
    book.open_account("A", "huabei-standard", OPENED_ON, request_id="open-A")
    before = event_count(store, "A")
    with pytest.raises(RuntimeError), book.batch():
        book.purchase("A", OPENED_ON + dt.timedelta(days=5), "p1", 10_000, request_id="r1")
        raise RuntimeError("the caller gave up")
    assert event_count(store, "A") == before
    assert store.find_request("r1") is None
    assert book.state("A").principal_outstanding_minor() == 0  # the cache forgot the purchase


def test_a_refused_request_inside_a_batch_keeps_the_others(store: Store) -> None:
    book = new_book(store)
    book.open_account("A", "huabei-standard", OPENED_ON, request_id="open-A")
    with book.batch():
        book.purchase("A", OPENED_ON, "p1", 10_000, request_id="r1")
        with pytest.raises(AccountStateError):  # over the 20,000.00 limit, ten days later
            book.purchase("A", OPENED_ON + dt.timedelta(days=10), "p2", 2_000_000, request_id="r2")
        assert book.state("A").closed_through == OPENED_ON - dt.timedelta(days=1)
        book.purchase("A", OPENED_ON + dt.timedelta(days=1), "p3", 1_000, request_id="r3")
    assert store.find_request("r2") is None
    book.forget("A")
    assert book.state("A").principal_outstanding_minor() == 11_000


def test_a_request_repeated_inside_a_batch_replays(store: Store) -> None:
    book = new_book(store)
    book.open_account("A", "huabei-standard", OPENED_ON, request_id="open-A")
    with book.batch():
        first = book.repay("A", OPENED_ON, 500, request_id="pay-1")
        again = book.repay("A", OPENED_ON, 500, request_id="pay-1")
    assert again.replayed and (again.sequence, again.data) == (first.sequence, first.data)
    assert book.state("A").credit_minor == 500
