"""Events posted per second through the ledger library, single process, on SQLite and PostgreSQL.

Back of the envelope: a request is one decision (microseconds of Python), one transaction with
~1 event row and ~3 journal lines, and one fsync-free commit (SQLite WAL, synchronous=NORMAL) or
one loopback round trip set (PostgreSQL). The in-memory column (decide + fold + journal, no store)
is the ceiling the stores are measured against; the targets are the issue's floors.

Workload per account: open, then purchases and repayments alternating on consecutive business
days of one month (each request also closes the day before it, so the nightly rules run too).
Each store runs twice: one durable commit per request, and group commit (``Book.batch``) of
100 requests per transaction, which is how a busy service or a batch posts.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lendguard.ledger import commands
from lendguard.ledger.book import Book, to_records
from lendguard.ledger.close import close_through
from lendguard.ledger.rules import rules_for
from lendguard.ledger.state import apply, fold
from lendguard.products.loader import load_product
from lendguard.store import open_store
from lendguard.store.database import scratch_postgres_schema

PRODUCT = Path(__file__).resolve().parent.parent / "products" / "huabei-standard.toml"
POSTGRES_URL = os.environ.get(
    "LENDGUARD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ACCOUNTS = 100
REQUESTS_PER_ACCOUNT = 60
START = dt.date(2026, 3, 2)
TARGETS = {"sqlite": 5_000, "postgresql": 2_000}
GROUP_COMMIT_REQUESTS = 100
"""Requests per transaction in the group-commit rows (``Book.batch``)."""


def workload(book: Book, batch_requests: int) -> int:
    """Post the workload, ``batch_requests`` requests per transaction (1 = no batching).

    Requests go round-robin over the accounts, as a service would see them. Returns the number of
    events written, the night's events included.
    """
    accounts = [f"B{number}" for number in range(ACCOUNTS)]
    with book.batch():
        for account in accounts:
            book.open_account(account, "huabei-standard", START, request_id=f"{account}-open")
    requests = [(step, account) for step in range(REQUESTS_PER_ACCOUNT) for account in accounts]
    for start in range(0, len(requests), batch_requests):
        with book.batch():
            for step, account in requests[start : start + batch_requests]:
                post(book, account, step)
    return sum(book.state(account).sequence for account in accounts)


def post(book: Book, account: str, step: int) -> None:
    """One request of the workload: purchases and repayments alternate, a new day every two."""
    day = START + dt.timedelta(days=step // 2)
    request = f"{account}-{step}"
    if step % 2 == 0:
        book.purchase(account, day, f"p{step}", 10_000, request_id=request)
    else:
        book.repay(account, day, 4_000, request_id=request)


def in_memory_events_per_second() -> tuple[int, float]:
    """Decide, fold and journal the same workload with no store: the ceiling."""
    product_file = load_product(PRODUCT)
    rules = rules_for(product_file)
    started = time.perf_counter()
    events = 0
    for number in range(ACCOUNTS):
        opened = commands.open_account(product_file, START)
        state = fold([opened], f"M{number}")
        for step in range(REQUESTS_PER_ACCOUNT):
            day = START + dt.timedelta(days=step // 2)
            batch = close_through(state, rules, day - dt.timedelta(days=1))
            if step % 2 == 0:
                event = commands.purchase(state, rules.product, day, f"p{step}", 10_000)
            else:
                event = commands.repay(state, rules.product, day, 4_000, f"r{step}")
            apply(state, event)
            to_records(state.account_id, state.sequence, [*batch, event], "CNY")
        events += state.sequence
    return events, time.perf_counter() - started


def store_events_per_second(url: str, batch_requests: int) -> tuple[int, float]:
    """Events per second through ``Book`` on a fresh database."""
    store = open_store(url)
    book = Book(store)
    book.register_product(str(PRODUCT))
    started = time.perf_counter()
    events = workload(book, batch_requests)
    elapsed = time.perf_counter() - started
    assert store.journal_total_by_currency() == {"CNY": 0}
    store.close()
    return events, elapsed


def main() -> None:
    rows = []
    events, seconds = in_memory_events_per_second()
    ceiling = events / seconds
    rows.append(("in memory (no store)", events, seconds, ceiling, None))
    for batch_requests in (1, GROUP_COMMIT_REQUESTS):
        label = "1 request/commit" if batch_requests == 1 else f"{batch_requests} requests/commit"
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.sqlite"
            events, seconds = store_events_per_second(url, batch_requests)
        rows.append((f"SQLite, {label}", events, seconds, events / seconds, TARGETS["sqlite"]))
        with scratch_postgres_schema(POSTGRES_URL, "bench") as url:
            events, seconds = store_events_per_second(url, batch_requests)
        rows.append(
            (f"PostgreSQL, {label}", events, seconds, events / seconds, TARGETS["postgresql"])
        )
    table = Table(
        title=f"Ledger events posted per second ({ACCOUNTS} accounts x "
        f"{REQUESTS_PER_ACCOUNT} requests, single process)"
    )
    for column in ("path", "events", "seconds", "events/s", "target", "vs target", "vs memory"):
        table.add_column(column, justify="right")
    for name, count, elapsed, rate, target in rows:
        versus = f"{rate / target:.2f}x" if target else "-"
        table.add_row(
            name,
            str(count),
            f"{elapsed:.2f}",
            f"{rate:,.0f}",
            f"{target:,}" if target else "-",
            versus,
            f"{rate / ceiling:.2f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
