"""The ledger writer's group commit, on SQLite and PostgreSQL: requests that arrive together are
decided in turn and committed in one transaction with their audit records; a refusal is answered
alone; a batch refused as a whole is run again request by request; a failed commit writes
nothing; the queue is bounded.

Each test holds the writer on a first request (a gate) while it queues the requests under test,
so they are taken together as one batch, whatever the machine's timing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from lendguard.errors import UnknownAccountError
from lendguard.ledger.book import Book, Posted
from lendguard.service import ledger_writer
from lendguard.service.audit import AuditLog
from lendguard.service.errors import ProblemError
from lendguard.service.ledger_writer import Audited, Decision, LedgerWriter
from lendguard.store import (
    Append,
    ConcurrentUpdateError,
    EventRecord,
    JournalLine,
    Store,
    open_store,
    schema,
)

CASH_LOAN = Path(__file__).resolve().parents[1] / "products" / "jiebei-standard.toml"
PAY_DAY = dt.date(2026, 2, 28)
GATE_SECONDS_MAX = 10.0


@dataclass
class Ledger:
    """A store with two repayable loans, its book, audit log and writer, and a record of the
    writer's transactions: ``(requests, grouped, committed)`` each."""

    store: Store
    book: Book
    audit: AuditLog
    writer: LedgerWriter
    transactions: list[tuple[int, bool, bool]]


@pytest.fixture
def ledger(store_url: str) -> Iterator[Ledger]:
    store = open_store(store_url)
    book = Book(store)
    book.register_product(str(CASH_LOAN))
    for account in ("L1", "L2"):
        book.open_account(
            account, "jiebei-standard", dt.date(2026, 1, 31), request_id=f"o{account}"
        )
        book.draw(
            account, dt.date(2026, 1, 31), 1_200_000, 12, "equal-instalment", request_id=account
        )
        book.close_through(account, PAY_DAY - dt.timedelta(days=1))
    audit = AuditLog(store.engine)
    writer = LedgerWriter(store, audit, lambda: book)
    transactions: list[tuple[int, bool, bool]] = []
    transaction = writer._transaction

    def recorded(commands: Any, *, grouped: bool) -> Any:
        try:
            outcomes = transaction(commands, grouped=grouped)
        except Exception:
            transactions.append((len(commands), grouped, False))
            raise
        transactions.append((len(commands), grouped, True))
        return outcomes

    writer._transaction = recorded  # type: ignore[method-assign]
    yield Ledger(store, book, audit, writer, transactions)
    writer.close()
    store.close()


def repayment(account_id: str, key: str, amount_minor: int = 100) -> Decision[Posted]:
    def decide(book: Book) -> Audited[Posted]:
        posted = book.repay(account_id, PAY_DAY, amount_minor, request_id=key)
        detail = {"request_id": key, "replayed": posted.replayed}
        return Audited(posted, "accounts.repay", f"account/{account_id}", detail)

    return decide


def in_one_batch(writer: LedgerWriter, requests: list[tuple[str, Decision[Any]]]) -> list[Any]:
    """Run ``requests`` so the writer takes them as one batch: each answer, or its error."""
    taken, gate = threading.Event(), threading.Event()

    def held(_book: Book) -> Audited[None]:
        taken.set()
        if not gate.wait(GATE_SECONDS_MAX):
            raise AssertionError("the gate was never opened")
        return Audited(None, "test.gate", "", {})

    async def main() -> list[Any]:
        gated = asyncio.ensure_future(writer.run("L1", "tester", held))
        while not taken.is_set():  # the writer is inside the gate's transaction
            await asyncio.sleep(0.001)
        runs: list[Awaitable[Any]] = [writer.run(a, "tester", d) for a, d in requests]
        queued = [asyncio.ensure_future(run) for run in runs]
        await asyncio.sleep(0)  # every request is queued
        gate.set()
        await asyncio.gather(gated, return_exceptions=True)
        return await asyncio.gather(*queued, return_exceptions=True)

    return asyncio.run(main())


def repayments(store: Store) -> int:
    query = select(func.count()).where(schema.events.c.kind == "repayment")
    with store.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def actions(audit: AuditLog) -> list[tuple[str, str, dict[str, Any]]]:
    return [(r.action, r.target, r.detail) for r in audit.records() if r.action != "test.gate"]


def test_requests_arriving_together_commit_in_one_transaction_with_their_audit(
    ledger: Ledger,
) -> None:
    answers = in_one_batch(
        ledger.writer,
        [
            ("L1", repayment("L1", "k1")),
            ("L2", repayment("L2", "k2")),
            ("L1", repayment("L1", "k3")),
        ],
    )
    assert [type(answer) for answer in answers] == [Posted] * 3
    assert answers[2].sequence == answers[0].sequence + 1  # decided in turn on one account
    assert ledger.transactions == [(1, False, True), (3, True, True)]
    assert repayments(ledger.store) == 3
    assert actions(ledger.audit) == [
        ("accounts.repay", "account/L1", {"request_id": "k1", "replayed": False}),
        ("accounts.repay", "account/L2", {"request_id": "k2", "replayed": False}),
        ("accounts.repay", "account/L1", {"request_id": "k3", "replayed": False}),
    ]
    assert ledger.audit.verify().ok


def test_a_refused_request_is_answered_alone_and_leaves_no_trace(ledger: Ledger) -> None:
    answers = in_one_batch(
        ledger.writer,
        [
            ("L1", repayment("L1", "k1")),
            ("NOPE", repayment("NOPE", "k2")),
            ("L2", repayment("L2", "k3")),
        ],
    )
    assert isinstance(answers[0], Posted) and isinstance(answers[2], Posted)
    assert isinstance(answers[1], UnknownAccountError)
    assert ledger.transactions[-1] == (3, True, True)
    assert repayments(ledger.store) == 2
    assert [detail["request_id"] for _, _, detail in actions(ledger.audit)] == ["k1", "k3"]


def test_the_same_key_twice_in_one_batch_posts_once(ledger: Ledger) -> None:
    first, second = in_one_batch(
        ledger.writer, [("L1", repayment("L1", "k1")), ("L1", repayment("L1", "k1"))]
    )
    assert not first.replayed and second.replayed
    assert (second.sequence, second.data) == (first.sequence, first.data)
    assert repayments(ledger.store) == 1
    assert [detail["replayed"] for _, _, detail in actions(ledger.audit)] == [False, True]


def test_a_key_stored_earlier_makes_its_batch_run_request_by_request(ledger: Ledger) -> None:
    """The store refuses the whole batch (the key is taken); nothing of it was written, so each
    request runs again alone: the retry gets its original answer, the other one is posted."""
    (original,) = in_one_batch(ledger.writer, [("L1", repayment("L1", "k1"))])
    ledger.transactions.clear()
    retry, other = in_one_batch(
        ledger.writer, [("L1", repayment("L1", "k1")), ("L2", repayment("L2", "k2"))]
    )
    assert retry.replayed and (retry.sequence, retry.data) == (original.sequence, original.data)
    assert isinstance(other, Posted) and not other.replayed
    assert ledger.transactions[1:] == [(2, True, False), (1, False, True), (1, False, True)]
    assert repayments(ledger.store) == 2
    assert [detail for _, _, detail in actions(ledger.audit)] == [
        {"request_id": "k1", "replayed": False},
        {"request_id": "k1", "replayed": True},
        {"request_id": "k2", "replayed": False},
    ]


def test_a_failed_commit_writes_neither_ledger_nor_audit(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any) -> None:
        raise RuntimeError("the audit log is unavailable")

    monkeypatch.setattr(ledger.audit, "append_in", broken)
    answers = in_one_batch(
        ledger.writer, [("L1", repayment("L1", "k1")), ("L2", repayment("L2", "k2"))]
    )
    assert [type(answer) for answer in answers] == [RuntimeError, RuntimeError]
    assert repayments(ledger.store) == 0
    monkeypatch.undo()
    assert actions(ledger.audit) == []
    # The cached states held the rolled-back decisions: the next request folds them afresh.
    (posted,) = in_one_batch(ledger.writer, [("L1", repayment("L1", "k1"))])
    assert posted.sequence == ledger.store.load_events("L1")[-1].sequence
    assert repayments(ledger.store) == 1


def test_a_full_queue_answers_503(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_writer, "requests_queued_max", 2)
    answers = in_one_batch(
        ledger.writer,
        [("L1", repayment("L1", f"k{number}")) for number in range(3)],
    )
    assert isinstance(answers[0], Posted) and isinstance(answers[1], Posted)
    assert isinstance(answers[2], ProblemError) and answers[2].status == 503
    assert answers[2].headers["Retry-After"] == "1"
    assert repayments(ledger.store) == 2


def test_the_writer_serves_again_after_close(ledger: Ledger) -> None:
    assert isinstance(in_one_batch(ledger.writer, [("L1", repayment("L1", "k1"))])[0], Posted)
    ledger.writer.close()
    assert isinstance(in_one_batch(ledger.writer, [("L1", repayment("L1", "k2"))])[0], Posted)
    assert repayments(ledger.store) == 2


# --- what the writer relies on in the store ------------------------------------------------------


def fee(account_id: str, sequence: int) -> tuple[list[EventRecord], list[JournalLine]]:
    """A one-event append with a balanced journal (the store checks shape, not meaning)."""
    event = EventRecord(account_id, sequence, "fee_charged", PAY_DAY, None, {"amount_minor": 1})
    lines = [
        JournalLine(account_id, sequence, 1, "asset:receivable:fee", 1, "CNY"),
        JournalLine(account_id, sequence, 2, "income:fee", -1, "CNY"),
    ]
    return [event], lines


def head(store: Store, account_id: str) -> int:
    return store.load_events(account_id)[-1].sequence


def test_appends_to_one_account_in_one_write_must_chain(ledger: Ledger) -> None:
    """On PostgreSQL the appends to one account become one compare-and-set: it must refuse what
    the appends one by one would (a second append from the same head), and take a chain."""
    start = head(ledger.store, "L1")
    twice = [Append("L1", start, *fee("L1", start + 1)), Append("L1", start, *fee("L1", start + 1))]
    with pytest.raises(ConcurrentUpdateError):
        ledger.store.append_many(twice)
    assert head(ledger.store, "L1") == start
    chain = [
        Append("L1", start, *fee("L1", start + 1)),
        Append("L2", head(ledger.store, "L2"), *fee("L2", head(ledger.store, "L2") + 1)),
        Append("L1", start + 1, *fee("L1", start + 2), status="frozen"),
    ]
    ledger.store.append_many(chain)
    assert head(ledger.store, "L1") == start + 2
    assert ledger.store.get_account("L1").status == "frozen"


def test_a_refused_append_in_a_joined_transaction_leaves_the_rest_to_commit(
    ledger: Ledger,
) -> None:
    start = head(ledger.store, "L1")
    with ledger.store.write_engine.begin() as connection, ledger.store.joined(connection):
        ledger.store.append_many([Append("L1", start, *fee("L1", start + 1))])
        with pytest.raises(ConcurrentUpdateError):
            ledger.store.append_many([Append("L1", start, *fee("L1", start + 1))])
        with pytest.raises(AssertionError, match="do not nest"), ledger.store.joined(connection):
            pass
    assert head(ledger.store, "L1") == start + 1
