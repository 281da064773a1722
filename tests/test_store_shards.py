"""Merging per-process SQLite shards: every row arrives once, or nothing does."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from lendguard.ledger.book import Book
from lendguard.simulation.products import register_sample_products
from lendguard.store import open_store
from lendguard.store.database import merge_sqlite_shards

OPENED_ON = dt.date(2026, 1, 5)


def _shard(path: Path, account_ids: list[str]) -> Path:
    book = Book(open_store(f"sqlite:///{path}"))
    try:
        line = register_sample_products(book)["credit-line"]
        for account_id in account_ids:
            book.open_account(
                account_id, line.product_id, OPENED_ON, request_id=f"{account_id}-open", due_day=10
            )
            book.close_through(account_id, OPENED_ON + dt.timedelta(days=3))
    finally:
        book.store.close()
    return path


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_shards_merge_into_one_store_and_are_removed(tmp_path: Path) -> None:
    target = _shard(tmp_path / "main.sqlite", [])
    shards = [_shard(tmp_path / "a.sqlite", ["A1", "A2"]), _shard(tmp_path / "b.sqlite", ["B1"])]
    events = sum(_count(shard, "events") for shard in shards)
    merge_sqlite_shards(f"sqlite:///{target}", shards)
    assert _count(target, "accounts") == 3
    assert _count(target, "events") == events
    assert _count(target, "products") == 2  # the same product texts, once
    assert not any(shard.exists() for shard in shards)
    store = open_store(f"sqlite:///{target}")
    try:
        assert store.journal_total_by_currency() in ({}, {"CNY": 0})
        assert Book(store).state("B1").closed_through == OPENED_ON + dt.timedelta(days=3)
    finally:
        store.close()


def test_a_row_two_shards_both_hold_refuses_the_whole_merge(tmp_path: Path) -> None:
    target = _shard(tmp_path / "main.sqlite", [])
    shards = [_shard(tmp_path / "a.sqlite", ["A1"]), _shard(tmp_path / "b.sqlite", ["A1", "B1"])]
    with pytest.raises(sqlite3.IntegrityError):
        merge_sqlite_shards(f"sqlite:///{target}", shards)
    assert _count(target, "accounts") == 0  # nothing half-merged
    assert all(shard.exists() for shard in shards)  # kept for a look
