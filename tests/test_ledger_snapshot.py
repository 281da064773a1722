"""Snapshots are a cache of the fold: snapshot + later events == the fold of the whole log."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lendguard.ledger.book import Book, from_record
from lendguard.ledger.events import Event
from lendguard.ledger.snapshot import (
    dumps,
    loads,
    state_from_data,
    state_from_text,
    state_to_data,
    state_to_text,
)
from lendguard.ledger.state import Item, apply, fold
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


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, list[Event]]]:
    """Whole logs of a small simulated book (both product shapes, arrears, reversals)."""
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('codec') / 'book.sqlite'}")
    try:
        borrowers = simulate(Book(store), accounts=10, months=4, seed=11)
        return [
            (b.account_id, [from_record(record) for record in store.load_events(b.account_id)])
            for b in borrowers
        ]
    finally:
        store.close()


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_fold_round_trips_through_either_codec_and_folds_on_to_the_whole(
    logs: list[tuple[str, list[Event]]], data: st.DataObject
) -> None:
    account_id, events = data.draw(st.sampled_from(logs))
    cut = data.draw(st.integers(1, len(events)))
    prefix, whole = fold(events[:cut], account_id), fold(events, account_id)
    snapshot = state_to_data(prefix)
    assert snapshot["items"] == [item.to_data(item.amount_minor) for item in prefix.items.values()]
    text = state_to_text(prefix)
    assert json.loads(text) == loads(json.dumps(snapshot)) == snapshot  # readable by old code
    for restored in (
        state_from_text(text),
        state_from_text(json.dumps(snapshot)),
        state_from_data(json.loads(json.dumps(snapshot))),
    ):
        assert restored == prefix
        assert restored.items == {i["item_id"]: Item.from_data(i) for i in snapshot["items"]}
        for event in events[cut:]:
            apply(restored, event)
        assert restored == whole
    # parts a short simulation seldom reaches: pauses (one open), reversals, a late fee
    days = st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31))
    varied = prefix.copy()
    varied.pauses = [[start, data.draw(st.none() | days)] for start in data.draw(st.lists(days))]
    varied.reversed_sequences = data.draw(st.sets(st.integers(1, 10**6)))
    varied.late_fee_for_due_on = data.draw(st.none() | days)
    varied.frozen, varied.status = data.draw(st.booleans()), data.draw(st.sampled_from(["x", ""]))
    for text in (state_to_text(varied), json.dumps(state_to_data(varied))):
        assert state_from_text(text) == varied
        assert state_from_data(json.loads(text)) == varied


@pytest.mark.parametrize("text", ["", "{", '{"a": }', "[1, 2", "nul", '"\\ud800'])
def test_an_unreadable_text_raises_the_standard_librarys_error(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as raised:
        loads(text)
    assert str(raised.value) == str(expected.value)


def test_what_the_fast_codec_refuses_is_written_or_refused_as_the_standard_library_does() -> None:
    for value in ([2**70, -(2**70)], {1: "a", None: "b"}):
        assert loads(dumps(value)) == json.loads(json.dumps(value))
    with pytest.raises(TypeError):
        dumps({"day": dt.date(2026, 1, 1)})  # orjson alone would write it
    with pytest.raises(TypeError):
        dumps({"items": {1, 2}})
