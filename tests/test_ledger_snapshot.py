"""Snapshots are a cache of the fold: snapshot + later events == the fold of the whole log."""

from __future__ import annotations

import json
from pathlib import Path

from lendguard.ledger.book import Book, from_record
from lendguard.ledger.snapshot import state_from_data, state_to_data
from lendguard.ledger.state import apply, fold
from lendguard.simulation.sample_book import simulate
from lendguard.store import Store, open_store


def test_a_snapshot_at_any_sequence_plus_the_rest_equals_the_whole_fold(store: Store) -> None:
    book = Book(store)
    borrowers = simulate(book, accounts=12, months=4, seed=7)
    for borrower in borrowers:
        events = [from_record(record) for record in store.load_events(borrower.account_id)]
        whole = fold(events, borrower.account_id)
        assert whole == book.state(borrower.account_id)
        for cut in range(1, len(events), max(1, len(events) // 7)):
            prefix = fold(events[:cut], borrower.account_id)
            data = json.loads(json.dumps(state_to_data(prefix)))  # as the store keeps it
            restored = state_from_data(data)
            assert restored == prefix
            assert restored is not None
            for event in events[cut:]:
                apply(restored, event)
            assert restored == whole


def test_a_fresh_book_loads_from_the_stored_snapshot(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'book.sqlite'}"
    writer = Book(open_store(url))
    borrowers = simulate(writer, accounts=5, months=3, seed=3)
    reader_store = open_store(url)
    reader = Book(reader_store)
    for borrower in borrowers:
        snapshot = reader_store.load_snapshot(borrower.account_id)
        assert snapshot is not None  # close of business left one
        assert reader.state(borrower.account_id) == writer.state(borrower.account_id)


def test_a_snapshot_of_another_layout_is_ignored() -> None:
    assert state_from_data({"snapshot_version": 0}) is None
