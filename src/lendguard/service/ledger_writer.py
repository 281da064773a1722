"""One writer per process for the ledger: requests that change accounts are decided in turn on one
thread and committed together, with their audit records, in one transaction (group commit).

Back of the envelope (PostgreSQL, loopback, 2 cores): deciding a repayment on a cached state costs
~50 us of Python, writing its rows in a batch ~0.1 ms, but every transaction costs a handful of
round trips (~0.1 ms each) and a durable commit. A request that took its own account lock,
ledger transaction and audit transaction paid ~20 round trips and three commits, and a hot
account queued its requests one commit at a time. Here the requests that arrive while a
transaction is being written wait and go together into the next one: ~10 round trips and one
commit per batch, whatever its size, and a hot account moves a whole batch per commit.

What each batch's transaction does, in order:

1. take the lock of every account in it: on PostgreSQL a transaction-scoped advisory lock per
   account, taken in key order (so two processes never wait on each other in a cycle); on SQLite
   ``BEGIN IMMEDIATE`` already holds the database's write lock;
2. read the accounts' stored heads and drop any cached state another writer moved past (another
   service process, close of business, the CLI), so decisions start from the stored state;
3. decide every request in arrival order on the ``Book`` in batch mode (a refused request adds
   nothing to the batch and is answered with its refusal);
4. write the ledger rows and then the audit records in the same transaction, and commit.

If the batch as a whole is refused (a request id another process stored meanwhile, an account a
writer without locks moved), nothing was written: each request is run again alone, where the
``Book`` answers a duplicate with its original result and a lost compare-and-set is retried on a
fresh fold. Callers are answered only after the commit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from lendguard.errors import LendGuardError
from lendguard.ledger.book import Book
from lendguard.service.audit import AuditLog, audit_entry
from lendguard.service.errors import ProblemError
from lendguard.store import ConcurrentUpdateError, Store, schema

_T = TypeVar("_T")

logger = logging.getLogger("lendguard.service")

requests_per_transaction_max = 256
"""Requests one transaction decides and commits: bounds a batch's lock hold and its rows (a
request writes at most two appends, far under ``limits.appends_per_transaction_max``)."""

requests_queued_max = 10_000
"""Requests waiting for the writer at once; past it the service answers 503 instead of queueing
without bound."""

request_attempts_max = 5
"""Tries of one request run alone that lost the compare-and-set to a writer without locks."""

retry_backoff_seconds_max = 0.005
"""Upper bound of the random pause before such a retry, times the attempt number."""

BUSY_RETRY_AFTER_SECONDS = 1

ACCOUNT_LOCK_CLASS = 0x4C47_4143
"""First key of the PostgreSQL advisory lock of an account ("LGAC"); close of business uses
another class, so the two never collide."""

_LOCK_ACCOUNTS = text(
    "SELECT pg_advisory_xact_lock(:lock_class, hashtext(current_schema() || '/' || account_id)) "
    "FROM unnest(CAST(:account_ids AS text[])) AS account_id "
    "ORDER BY hashtext(current_schema() || '/' || account_id)"
)
"""Every account's lock in one round trip, in key order: PostgreSQL evaluates a volatile output
expression after the sort. Keyed by schema and account id (tenants and tests share databases)."""


@dataclass(frozen=True)
class Audited(Generic[_T]):
    """A request's answer and the audit record of what it did (``detail`` without personal
    data), written in the transaction that stores the request's effect."""

    value: _T
    action: str
    target: str
    detail: Mapping[str, Any]


Decision = Callable[[Book], Audited[_T]]
"""A request as the writer runs it: decide and post on the book, answer what was done."""


@dataclass(frozen=True)
class _Command:
    account_id: str
    actor: str
    decide: Decision[Any]
    future: asyncio.Future[Any]
    """Created on the caller's event loop, and only ever settled there."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LedgerWriter:
    """The process's one writer of ``book()``: a queue, and a thread that commits it in batches.

    ``book`` is asked once per transaction (close of business swaps the service's ``Book`` for a
    fresh one); nothing else may write through that ``Book``. ``clock`` stamps audit records.
    The thread starts with the first request and goes with :meth:`close` (a later request starts
    a new one: test clients restart an app's lifespan).
    """

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        book: Callable[[], Book],
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._audit = audit
        self._book = book
        self._clock = clock
        self._is_postgres = store.engine.dialect.name == "postgresql"
        self._queue: deque[_Command] = deque()
        self._queue_lock = threading.Lock()
        self._draining = False
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, account_id: str, actor: str, decide: Decision[_T]) -> _T:
        """Queue ``decide`` for ``account_id`` on behalf of ``actor`` (a key id) and wait for its
        answer after the commit; a refusal (domain error or problem) is raised here.

        A caller that goes away meanwhile is still served: its request is committed like any
        other, and its idempotency key gets it the answer when it asks again.
        """
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._enqueue(_Command(account_id, actor, decide, future))
        return await future

    def _enqueue(self, command: _Command) -> None:
        with self._queue_lock:
            if len(self._queue) >= requests_queued_max:
                raise ProblemError(
                    503,
                    "service_busy",
                    f"{requests_queued_max} requests are waiting; retry shortly",
                    headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
                )
            self._queue.append(command)
            if not self._draining:
                self._draining = True
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(1, thread_name_prefix="ledger-writer")
                self._executor.submit(self._drain)

    def close(self) -> None:
        """Finish what is queued and stop the thread."""
        with self._queue_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    # --- the writer thread ---------------------------------------------------------------------

    def _drain(self) -> None:
        """Commit batches until the queue is empty (the only code that runs on the thread).

        Every error of a request is answered to its caller; one escaping here is a bug, logged
        (the executor would keep it silent), and the next request starts the thread again.
        """
        try:
            while batch := self._take():
                self._commit(batch)
        except BaseException:
            logger.exception("the ledger writer stopped on an unexpected error")
            with self._queue_lock:
                self._draining = False
            raise

    def _take(self) -> list[_Command]:
        """The oldest queued requests; none marks the thread idle."""
        with self._queue_lock:
            count = min(len(self._queue), requests_per_transaction_max)
            taken = [self._queue.popleft() for _ in range(count)]
            if not taken:
                self._draining = False
        return taken

    def _commit(self, batch: list[_Command]) -> None:
        """Commit the batch in one transaction; if it is refused as a whole, each request alone."""
        if len(batch) > 1:
            try:
                outcomes = self._transaction(batch, grouped=True)
            except Exception as error:  # nothing was written: run them one by one
                logger.debug("a batch of %d requests was refused (%r)", len(batch), error)
            else:
                _answer(batch, outcomes)
                return
        for command in batch:
            self._commit_alone(command)

    def _commit_alone(self, command: _Command) -> None:
        for attempt in range(1, request_attempts_max + 1):
            try:
                outcomes = self._transaction([command], grouped=False)
            except ConcurrentUpdateError as error:
                if attempt == request_attempts_max:
                    _answer([command], [error])
                    return
            except Exception as error:
                _answer([command], [error])
                return
            else:
                _answer([command], outcomes)
                return
            time.sleep(random.uniform(0, retry_backoff_seconds_max * attempt))

    def _transaction(
        self, commands: Sequence[_Command], *, grouped: bool
    ) -> list[Audited[Any] | Exception]:
        """Lock, refresh, decide, write, audit, commit (module docstring); the outcome of each
        command: its answer, or the refusal it was answered with (nothing written for it).

        Raises when the transaction wrote nothing: any error but a request's own refusal.
        ``grouped`` runs the ``Book`` in batch mode (one write for all); alone, the ``Book``
        writes each request itself and answers a duplicate request id with its original result.
        """
        book = self._book()
        account_ids = sorted({command.account_id for command in commands})
        try:
            with self._store.write_engine.begin() as connection:
                self._hold(connection, book, account_ids)
                with self._store.joined(connection), book.batch() if grouped else nullcontext():
                    outcomes = [_decide(command, book) for command in commands]
                at = self._clock()
                entries = [
                    audit_entry(command.actor, outcome.action, outcome.target, outcome.detail, at)
                    for command, outcome in zip(commands, outcomes, strict=True)
                    if isinstance(outcome, Audited)
                ]
                if entries:
                    self._audit.append_in(connection, entries)
        except BaseException:
            # The cached states may hold decisions that were rolled back: fold them afresh.
            for account_id in account_ids:
                book.forget(account_id)
            raise
        return outcomes

    def _hold(self, connection: Connection, book: Book, account_ids: list[str]) -> None:
        """Lock the accounts for this transaction, then drop every cached state that is not at
        its account's stored head (another writer moved on, or a decision was rolled back)."""
        if self._is_postgres:
            connection.execute(
                _LOCK_ACCOUNTS, {"lock_class": ACCOUNT_LOCK_CLASS, "account_ids": account_ids}
            )
        accounts = schema.accounts
        heads = connection.execute(
            select(accounts.c.account_id, accounts.c.head_sequence).where(
                accounts.c.account_id.in_(account_ids)
            )
        )
        for account_id, head_sequence in heads:
            if book.state(account_id).sequence != head_sequence:
                book.forget(account_id)


def _decide(command: _Command, book: Book) -> Audited[Any] | Exception:
    """Run one request; a refusal is its answer, anything else aborts the transaction."""
    try:
        return command.decide(book)
    except ConcurrentUpdateError:
        raise
    except (LendGuardError, ProblemError) as refusal:
        return refusal


def _answer(commands: Sequence[_Command], outcomes: Sequence[Audited[Any] | Exception]) -> None:
    """Answer every caller after the commit: one wake-up per event loop, not one per request
    (a wake-up and a thread-safe future per request cost the event loop ~0.1 ms a repayment)."""
    settled: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
    for command, outcome in zip(commands, outcomes, strict=True):
        answer = outcome.value if isinstance(outcome, Audited) else outcome
        settled.setdefault(command.future.get_loop(), []).append((command.future, answer))
    for loop, answers in settled.items():
        try:
            loop.call_soon_threadsafe(_settle, answers)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            logger.debug("%d answers for a closed event loop dropped", len(answers))


def _settle(answers: list[tuple[asyncio.Future[Any], Any]]) -> None:
    """On the caller's loop: hand each waiting caller its answer (a refusal is raised there)."""
    for future, answer in answers:
        if future.done():  # the caller went away
            continue
        if isinstance(answer, BaseException):
            future.set_exception(answer)
        else:
            future.set_result(answer)
