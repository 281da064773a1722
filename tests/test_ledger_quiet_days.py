"""The quiet-day shortcut of close of business changes nothing: on random sample books, every
account's events with the shortcut equal its events when every step is asked."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lendguard.ledger import close
from lendguard.ledger.book import Book
from lendguard.ledger.events import EventKind
from lendguard.simulation.sample_book import simulate
from lendguard.store import open_store


def _book_events(seed: int, accounts: int, months: int) -> dict[str, list[tuple]]:
    book = Book(open_store("sqlite://"))
    try:
        borrowers = simulate(book, accounts, months, seed)
        return {
            b.account_id: [(e.kind, e.business_date, e.data) for e in book.events(b.account_id)]
            for b in borrowers
        }
    finally:
        book.store.close()


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_quiet_days_close_exactly_as_the_full_rule_set(seed: int) -> None:
    shortcut = _book_events(seed, accounts=24, months=5)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(close, "quiet_day", lambda state, rules, day: False)
        full = _book_events(seed, accounts=24, months=5)
    assert shortcut == full
    kinds = {kind for events in full.values() for kind, _, _ in events}
    assert {EventKind.PENALTY_ACCRUED, EventKind.STATEMENT_CUT, EventKind.INSTALMENT_DUE} <= kinds


def test_most_days_of_a_sample_book_are_quiet() -> None:
    calls = {"quiet": 0, "all": 0}
    original = close.quiet_day

    def counting(state, rules, day):  # type: ignore[no-untyped-def]
        quiet = original(state, rules, day)
        calls["all"] += 1
        calls["quiet"] += quiet
        return quiet

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(close, "quiet_day", counting)
        _book_events(3, accounts=12, months=3)
    assert calls["quiet"] > calls["all"] // 2
