"""The store: reads and writes ledger records, each write in one transaction.

``append`` is the hot path: a servicing call writes one to three events, so the fixed cost per
call decides throughput, not row volume. It is one compare-and-set on the account row plus one
bulk insert per table, with statements compiled once and run on the driver's cursor. Everything
else uses plain SQLAlchemy Core. A caller that writes rows of its own with the ledger's (the
service's audit log) opens the transaction itself and lends it with :meth:`Store.joined`.

Broken invariants in what the core hands over (an unbalanced journal, out-of-order sequences)
raise ``AssertionError`` even under ``python -O``: they are bugs, not bad input.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Dialect,
    Engine,
    Executable,
    Insert,
    String,
    bindparam,
    column,
    func,
    insert,
    select,
    update,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import DBAPICursor

from lendguard import limits
from lendguard.errors import (
    LendGuardError,
    ProductConfigError,
    UnknownAccountError,
    UnknownProductError,
)
from lendguard.store import schema
from lendguard.store.records import (
    AccountRecord,
    Append,
    EventRecord,
    JournalLine,
    ProductRecord,
    RequestRecord,
)

BEGIN_IMMEDIATE_OPTION = "lendguard_begin_immediate"
"""Execution option set on write transactions: SQLite then takes its write lock at BEGIN."""

_DIALECT_INSERTS: dict[str, Callable[[Any], Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}
"""Dialects with ``ON CONFLICT``, which the store uses for race-free idempotent inserts."""


class ConcurrentUpdateError(LendGuardError):
    """Another writer appended to the account first. Nothing was written: reload and retry."""

    code = "concurrent_update"


class DuplicateRequestError(ConcurrentUpdateError):
    """Another writer stored this request id first. Nothing was written.

    A subclass of :class:`ConcurrentUpdateError` so one retry loop serves both: on retry,
    ``find_request`` finds the stored answer.
    """

    code = "duplicate_request"


class DuplicateAccountError(LendGuardError):
    """An account with that id already exists."""

    code = "duplicate_account"


class InvalidPageError(LendGuardError):
    """A listing asked for a page outside ``1..page_size_max`` rows or a negative offset."""

    code = "invalid_page"


_PRODUCT_COLUMNS = [schema.products.c[name] for name in ProductRecord.__slots__]
_ACCOUNT_COLUMNS = [schema.accounts.c[name] for name in AccountRecord.__slots__]
_EVENT_COLUMNS = [schema.events.c[name] for name in EventRecord.__slots__]
_LINE_COLUMNS = [schema.journal_lines.c[name] for name in JournalLine.__slots__]
_REQUEST_COLUMNS = [schema.requests.c[name] for name in RequestRecord.__slots__]

_NEXT_STORED_ORDER = select(
    func.coalesce(func.max(schema.products.c.stored_order), 0) + 1
).scalar_subquery()

_ADVANCE_HEAD = (
    update(schema.accounts)
    .where(
        schema.accounts.c.account_id == bindparam("target_account_id"),
        schema.accounts.c.head_sequence == bindparam("expected_sequence"),
    )
    .values(
        head_sequence=bindparam("new_head_sequence"),
        status=func.coalesce(bindparam("new_status", type_=String), schema.accounts.c.status),
    )
)
"""Compare-and-set: moves the head only if nobody else did; also the row lock on PostgreSQL.

``status`` stays unless the append sets a new one.
"""

_SET_STATUS = (
    update(schema.accounts)
    .where(schema.accounts.c.account_id == bindparam("target_account_id"))
    .values(status=bindparam("new_status"))
)


class Store:
    """Ledger persistence over one SQLAlchemy engine (SQLite or PostgreSQL).

    Build it with :func:`lendguard.store.open_store`, which also migrates. Every write method is
    one transaction: on any error, nothing is written.
    """

    def __init__(self, engine: Engine) -> None:
        dialect_insert = _DIALECT_INSERTS[engine.dialect.name]
        dialect = engine.dialect
        self._engine = engine
        self._write_engine = engine.execution_options(**{BEGIN_IMMEDIATE_OPTION: True})
        self._is_postgres = dialect.name == "postgresql"
        # SQLAlchemy keeps rowcount only for UPDATE and DELETE unless asked.
        self._insert_account = (
            dialect_insert(schema.accounts)
            .on_conflict_do_nothing()
            .execution_options(preserve_rowcount=True)
        )
        self._advance_head = _DriverStatement(_ADVANCE_HEAD, dialect)
        self._insert_new_account = _DriverStatement(
            dialect_insert(schema.accounts).on_conflict_do_nothing(), dialect
        )
        self._insert_request: _DriverStatement | _ArrayInsert
        self._insert_event: _DriverStatement | _ArrayInsert
        self._insert_line: _DriverStatement | _ArrayInsert
        if self._is_postgres:
            self._advance_heads = _ArrayAdvanceHeads()
            self._insert_request = _ArrayInsert(schema.requests, dialect, skip_conflicts=True)
            self._insert_event = _ArrayInsert(schema.events, dialect)
            self._insert_line = _ArrayInsert(schema.journal_lines, dialect)
        else:
            self._insert_request = _DriverStatement(
                dialect_insert(schema.requests).on_conflict_do_nothing(), dialect
            )
            self._insert_event = _DriverStatement(insert(schema.events), dialect)
            self._insert_line = _DriverStatement(insert(schema.journal_lines), dialect)
        self._upsert_snapshot = _DriverStatement(_snapshot_upsert(dialect_insert), dialect)
        self._joined = threading.local()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for stores of other domains that share the database."""
        return self._engine

    def close(self) -> None:
        """Close pooled connections (tests drop their database right after)."""
        self._engine.dispose()

    @property
    def write_engine(self) -> Engine:
        """The engine with the store's write-transaction options (SQLite: ``BEGIN IMMEDIATE``),
        for a caller opening a transaction to lend to :meth:`joined`."""
        return self._write_engine

    @contextmanager
    def joined(self, connection: Connection) -> Iterator[None]:
        """Inside the block, this thread's appends write into the caller's open transaction on
        ``connection`` (begun on :attr:`write_engine`) instead of committing their own.

        Why: the service commits a batch of requests together with their audit records, so
        either both are stored or neither is. Each append runs in a savepoint, so a refused one
        (:class:`ConcurrentUpdateError` and its kin) leaves nothing behind and the transaction
        stays usable; committing or rolling back stays the caller's. Other threads, and every
        other method, are unaffected. Blocks do not nest.
        """
        if getattr(self._joined, "connection", None) is not None:
            raise AssertionError("joined transactions do not nest")
        self._joined.connection = connection
        try:
            yield
        finally:
            self._joined.connection = None

    # Products

    def save_product(self, product: ProductRecord) -> None:
        """Store a product version; saving the same text again is a no-op.

        Different text under a stored id and version is refused: accounts opened under that
        version must keep replaying with exactly the text they were opened with.
        """
        with self._write_engine.begin() as connection:
            if self._is_postgres:
                connection.exec_driver_sql("LOCK TABLE products IN EXCLUSIVE MODE")
            stored_sha256 = connection.execute(
                select(schema.products.c.sha256).where(
                    schema.products.c.product_id == product.product_id,
                    schema.products.c.version == product.version,
                )
            ).scalar_one_or_none()
            if stored_sha256 is None:
                row = _record_row(product) | {"stored_order": _NEXT_STORED_ORDER}
                connection.execute(insert(schema.products).values(row))
        if stored_sha256 not in (None, product.sha256):
            raise ProductConfigError(
                f"product {product.product_id} version {product.version} already stored with "
                "different content; bump the version"
            )

    def get_product(self, product_id: str, version: str | None = None) -> ProductRecord:
        """One product version; without ``version``, the one stored last."""
        query = select(*_PRODUCT_COLUMNS).where(schema.products.c.product_id == product_id)
        if version is not None:
            query = query.where(schema.products.c.version == version)
        query = query.order_by(schema.products.c.stored_order.desc()).limit(1)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            named = product_id if version is None else f"{product_id} version {version}"
            raise UnknownProductError(f"no stored product {named}")
        return ProductRecord(*row)

    def list_products(self) -> list[ProductRecord]:
        """Every stored product version, oldest first (products are few; no paging)."""
        query = select(*_PRODUCT_COLUMNS).order_by(schema.products.c.stored_order)
        with self._engine.connect() as connection:
            return [ProductRecord(*row) for row in connection.execute(query)]

    # Accounts

    def create_account(self, account: AccountRecord) -> None:
        """Open an account under a stored product version, with no events yet."""
        row = _record_row(account) | {"head_sequence": 0}
        with self._write_engine.begin() as connection:
            _require_product(connection, account.product_id, account.product_version)
            inserted = connection.execute(self._insert_account, row).rowcount
        if inserted == 0:
            raise DuplicateAccountError(f"account {account.account_id} already exists")

    def get_account(self, account_id: str) -> AccountRecord:
        """One account; an unknown id is the caller's mistake, so it raises."""
        query = select(*_ACCOUNT_COLUMNS).where(schema.accounts.c.account_id == account_id)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise UnknownAccountError(f"no account {account_id}")
        return AccountRecord(*row)

    def list_accounts(
        self, limit: int = limits.page_size_max, offset: int = 0
    ) -> list[AccountRecord]:
        """One page of accounts in id order."""
        _check_page(limit, offset)
        query = (
            select(*_ACCOUNT_COLUMNS)
            .order_by(schema.accounts.c.account_id)
            .limit(limit)
            .offset(offset)
        )
        with self._engine.connect() as connection:
            return [AccountRecord(*row) for row in connection.execute(query)]

    def set_account_status(self, account_id: str, status: str) -> None:
        """Change an account's status outside an append (``append`` can also set it)."""
        parameters = {"target_account_id": account_id, "new_status": status}
        with self._write_engine.begin() as connection:
            updated = connection.execute(_SET_STATUS, parameters).rowcount
        if updated == 0:
            raise UnknownAccountError(f"no account {account_id}")

    # The event log

    def append(
        self,
        account_id: str,
        expected_sequence: int,
        events: Sequence[EventRecord],
        journal: Sequence[JournalLine],
        *,
        request: RequestRecord | None = None,
        snapshot: dict | None = None,
        status: str | None = None,
    ) -> None:
        """Write one command's outcome atomically, if the account is still at ``expected_sequence``.

        ``events`` must continue the account's sequence from ``expected_sequence + 1``. The
        snapshot, if given, is the state after these events; its ``"last_closed_on"`` key (an ISO
        date or absent) also fills the indexed column. Raises :class:`ConcurrentUpdateError` if
        another writer got there first, :class:`DuplicateRequestError` if the request id is taken.
        """
        self.append_many(
            [Append(account_id, expected_sequence, events, journal, request, snapshot, status)]
        )

    def append_many(self, appends: Sequence[Append]) -> None:
        """Write several outcomes in one transaction (group commit): all of them, or none.

        One durable commit costs milliseconds on a real disk, far more than the rows themselves,
        so a caller with many requests in hand (a batch, a busy service) commits them together.
        Appends to the same account must chain: each ``expected_sequence`` is the previous head.
        """
        if len(appends) > limits.appends_per_transaction_max:
            raise AssertionError(
                f"{len(appends)} appends exceed {limits.appends_per_transaction_max} "
                "per transaction"
            )
        for item in appends:
            _check_batch(
                item.account_id, item.expected_sequence, item.events, item.journal, item.request
            )
        joined: Connection | None = getattr(self._joined, "connection", None)
        if joined is None:
            with self._write_engine.begin() as connection:
                self._append_on(connection, appends)
        else:
            with joined.begin_nested():
                self._append_on(joined, appends)

    def _append_on(self, connection: Connection, appends: Sequence[Append]) -> None:
        """Write the appends in the transaction open on ``connection``; raise on a refusal
        (the caller rolls the transaction, or its savepoint, back)."""
        cursor = connection.connection.cursor()
        try:
            moved = self._write_appends(cursor, appends)
        finally:
            cursor.close()
        if not moved and len(appends) == 1:
            _refuse_append(connection, appends[0].account_id, appends[0].expected_sequence)
        if not moved:
            raise ConcurrentUpdateError(
                "an account of this batch moved on or does not exist; nothing was written"
            )

    def _write_appends(self, cursor: DBAPICursor, appends: Sequence[Append]) -> bool:
        """Write every append with one driver call per table.

        Round trips, not rows, are what a transaction costs on PostgreSQL, so a group commit of
        any size takes five calls: new accounts, head compare-and-sets, requests, events, journal
        lines. On PostgreSQL each table's rows go as one array per column into one statement
        (``unnest``), and the appends to one account collapse into one compare-and-set from its
        first expected head to its last: per-row statements, even pipelined, cost the driver and
        the server ~20 us a row. SQLite runs ``executemany`` in C, in order, so appends to one
        account chain there. A shortfall in the rows written is a refusal and the caller rolls
        back. Returns whether every head moved.
        """
        openings = [_record_row(a.account) | {"head_sequence": 0} for a in appends if a.account]
        if openings and self._insert_new_account.executemany(cursor, openings) != len(openings):
            raise DuplicateAccountError(
                f"account {', '.join(row['account_id'] for row in openings[:3])} already exists"
            )
        if self._is_postgres:
            heads = _collapsed_heads(appends)
            if heads is None or self._advance_heads.execute(cursor, heads) != len(heads):
                return False
        else:
            heads = [_compare_and_set_row(item) for item in appends]
            if self._advance_head.executemany(cursor, heads) != len(heads):
                return False
        requests = [_record_row(a.request) for a in appends if a.request is not None]
        if requests and self._insert_request.executemany(cursor, requests) != len(requests):
            raise DuplicateRequestError(
                f"request {', '.join(row['request_id'] for row in requests[:3])} is already stored"
            )
        events = [_record_row(event) for item in appends for event in item.events]
        if events:
            self._insert_event.executemany(cursor, events)
        lines = [_record_row(line) for item in appends for line in item.journal]
        if lines:
            self._insert_line.executemany(cursor, lines)
        for item in appends:
            if item.snapshot is not None:
                head_sequence = item.expected_sequence + len(item.events)
                row = _snapshot_row(item.account_id, head_sequence, item.snapshot)
                self._upsert_snapshot.execute(cursor, row)
        return True

    def find_request(self, request_id: str) -> RequestRecord | None:
        """The stored answer to a request id, or ``None`` if the request is new."""
        query = select(*_REQUEST_COLUMNS).where(schema.requests.c.request_id == request_id)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else RequestRecord(*row)

    def load_events(self, account_id: str, after_sequence: int = 0) -> list[EventRecord]:
        """An account's events after ``after_sequence``, in sequence order."""
        query = (
            select(*_EVENT_COLUMNS)
            .where(
                schema.events.c.account_id == account_id,
                schema.events.c.sequence > after_sequence,
            )
            .order_by(schema.events.c.sequence)
        )
        with self._engine.connect() as connection:
            return [EventRecord(*row) for row in connection.execute(query)]

    def load_snapshot(self, account_id: str) -> tuple[int, dict] | None:
        """``(sequence, state)`` of the account's last snapshot, or ``None`` if it has none."""
        table = schema.account_snapshots
        query = select(table.c.sequence, table.c.state).where(table.c.account_id == account_id)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else (row.sequence, row.state)

    # The journal

    def journal(
        self, account_id: str | None = None, limit: int = limits.page_size_max, offset: int = 0
    ) -> list[JournalLine]:
        """One page of journal lines (of one account, or all) in posting order."""
        _check_page(limit, offset)
        table = schema.journal_lines
        query = select(*_LINE_COLUMNS)
        if account_id is not None:
            query = query.where(table.c.account_id == account_id)
        query = query.order_by(table.c.account_id, table.c.sequence, table.c.line_number)
        with self._engine.connect() as connection:
            rows = connection.execute(query.limit(limit).offset(offset))
            return [JournalLine(*row) for row in rows]

    def trial_balance(self) -> dict[tuple[str, str], int]:
        """Net amount per ``(ledger_account, currency)`` over the whole journal."""
        table = schema.journal_lines
        query = select(table.c.ledger_account, table.c.currency, func.sum(table.c.amount_minor))
        query = query.group_by(table.c.ledger_account, table.c.currency)
        with self._engine.connect() as connection:
            rows = connection.execute(query)
            return {(account, currency): int(total) for account, currency, total in rows}

    def journal_total_by_currency(self) -> dict[str, int]:
        """Sum of every line per currency: zero for each currency in a sound ledger."""
        table = schema.journal_lines
        query = select(table.c.currency, func.sum(table.c.amount_minor)).group_by(table.c.currency)
        with self._engine.connect() as connection:
            return {currency: int(total) for currency, total in connection.execute(query)}

    # Close of business: bulk reads by page of accounts, run records, quarantine

    def open_account_ids(self, after: str | None, limit: int) -> list[str]:
        """Ids of accounts still serviced (any status but ``closed``) after ``after``, in order.

        Written-off accounts are serviced too: recoveries post to them, so their days close like
        any other. Paging by id (not offset) keeps each page one index range scan, whatever the
        page number, and stable while accounts are opened.
        """
        if limit < 1:
            raise InvalidPageError(f"page size must be at least 1, got {limit}")
        self._check_accounts(limit)
        table = schema.accounts
        query = select(table.c.account_id).where(table.c.status != "closed")
        if after is not None:
            query = query.where(table.c.account_id > after)
        query = query.order_by(table.c.account_id).limit(limit)
        with self._engine.connect() as connection:
            return list(connection.execute(query).scalars())

    def open_account_count(self) -> int:
        """How many accounts :meth:`open_account_ids` pages through."""
        query = select(func.count()).where(schema.accounts.c.status != "closed")
        with self._engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def closed_through_min(self) -> date | None:
        """The oldest last-closed business date over serviced accounts (``None``: no accounts).

        Read from the snapshot index, an account without a snapshot counting as closed through
        the day before it opened. A lower bound: a request's catch-up advances an account without
        a snapshot, so an account may be closed further than this says, never less.
        """
        accounts, snapshots = schema.accounts, schema.account_snapshots
        joined = accounts.outerjoin(snapshots, snapshots.c.account_id == accounts.c.account_id)
        serviced = accounts.c.status != "closed"
        with self._engine.connect() as connection:
            closed_on = connection.execute(
                select(func.min(snapshots.c.last_closed_on)).select_from(joined).where(serviced)
            ).scalar_one()
            opened_on = connection.execute(
                select(func.min(accounts.c.opened_on))
                .select_from(joined)
                .where(serviced, snapshots.c.account_id.is_(None))
            ).scalar_one()
        lower_bounds = [closed_on, None if opened_on is None else opened_on - timedelta(days=1)]
        return min((day for day in lower_bounds if day is not None), default=None)

    def load_snapshots(self, account_ids: Sequence[str]) -> dict[str, tuple[int, dict]]:
        """``account_id -> (sequence, state)`` of each account's snapshot; absent: none stored."""
        self._check_accounts(len(account_ids))
        table = schema.account_snapshots
        query = select(table.c.account_id, table.c.sequence, table.c.state).where(
            table.c.account_id.in_(account_ids)
        )
        with self._engine.connect() as connection:
            return {row.account_id: (row.sequence, row.state) for row in connection.execute(query)}

    def load_events_after(self, after_sequences: Mapping[str, int]) -> dict[str, list[EventRecord]]:
        """Each account's events after its own sequence, in order (every given id is a key).

        Two queries for the whole page: the heads of the accounts, then the events of those with
        any after the sequence given, whose ``(account, after)`` pairs are a CTE joined on the
        events' primary key. Usually a snapshot is at the head, so the second query is small
        (building a CTE costs about 0.1 ms per account).
        """
        self._check_accounts(len(after_sequences))
        loaded: dict[str, list[EventRecord]] = {account_id: [] for account_id in after_sequences}
        accounts = schema.accounts
        heads = select(accounts.c.account_id, accounts.c.head_sequence).where(
            accounts.c.account_id.in_(list(after_sequences))
        )
        with self._engine.connect() as connection:
            behind = [
                (account_id, after_sequences[account_id])
                for account_id, head_sequence in connection.execute(heads)
                if head_sequence > after_sequences[account_id]
            ]
        if not behind:
            return loaded
        wanted = (
            values(
                column("wanted_account_id", String),
                column("after_sequence", BigInteger),
                name="wanted",
            )
            .data(behind)
            .cte("wanted")
        )
        events = schema.events
        query = (
            select(*_EVENT_COLUMNS)
            .join(wanted, wanted.c.wanted_account_id == events.c.account_id)
            .where(events.c.sequence > wanted.c.after_sequence)
            .order_by(events.c.account_id, events.c.sequence)
        )
        with self._engine.connect() as connection:
            for row in connection.execute(query):
                loaded[row.account_id].append(EventRecord(*row))
        return loaded

    def day_closed_sequences(
        self, account_ids: Sequence[str], business_date: date
    ) -> dict[str, int]:
        """``account_id -> sequence`` of each account's ``day_closed`` event of ``business_date``
        (absent: the account has not closed that day), so a caller can read one night's events
        with :meth:`load_events_after` instead of a whole log."""
        self._check_accounts(len(account_ids))
        events = schema.events
        query = select(events.c.account_id, events.c.sequence).where(
            events.c.account_id.in_(account_ids),
            events.c.kind == "day_closed",
            events.c.business_date == business_date,
        )
        with self._engine.connect() as connection:
            return {row.account_id: row.sequence for row in connection.execute(query)}

    def start_eod_run(
        self,
        run_id: str,
        business_dates: Sequence[date],
        engine: str,
        started_at: datetime,
    ) -> None:
        """Record a close-of-business run as ``running`` before it writes anything."""
        row = {
            "run_id": run_id,
            "first_business_date": business_dates[0],
            "business_date": business_dates[-1],
            "engine": engine,
            "status": "running",
            "started_at": started_at,
        }
        with self._write_engine.begin() as connection:
            connection.execute(insert(schema.eod_runs).values(row))

    def finish_eod_run(
        self,
        run_id: str,
        status: str,
        finished_at: datetime,
        counts: Mapping[str, int],
        timings: Mapping[str, float],
    ) -> None:
        """Record how a run ended; ``counts`` names the ``accounts_*`` and ``events_posted``
        columns."""
        table = schema.eod_runs
        row = {"status": status, "finished_at": finished_at, "timings": dict(timings)}
        columns = ("accounts_closed", "accounts_skipped", "accounts_quarantined", "events_posted")
        row |= {name: counts[name] for name in columns if name in counts}
        with self._write_engine.begin() as connection:
            updated = connection.execute(
                update(table).where(table.c.run_id == run_id).values(row)
            ).rowcount
        if updated != 1:
            raise AssertionError(f"no close-of-business run {run_id} to finish")

    def eod_run(self, run_id: str) -> dict[str, Any] | None:
        """The stored record of a run, or ``None``."""
        query = select(schema.eod_runs).where(schema.eod_runs.c.run_id == run_id)
        with self._engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else dict(row)

    def save_quarantine(self, run_id: str, entries: Sequence[tuple[date, str, str]]) -> None:
        """Record ``(business_date, account_id, error)`` of accounts a run could not close."""
        self._check_accounts(len(entries))
        rows = [
            {"run_id": run_id, "business_date": day, "account_id": account_id, "error": error}
            for day, account_id, error in entries
        ]
        if rows:
            with self._write_engine.begin() as connection:
                connection.execute(insert(schema.eod_quarantine), rows)

    def quarantined(self, run_id: str) -> list[tuple[date, str, str]]:
        """``(business_date, account_id, error)`` recorded by a run, by account id."""
        table = schema.eod_quarantine
        query = (
            select(table.c.business_date, table.c.account_id, table.c.error)
            .where(table.c.run_id == run_id)
            .order_by(table.c.account_id)
            .limit(limits.page_size_max)
        )
        with self._engine.connect() as connection:
            return [tuple(row) for row in connection.execute(query)]

    @staticmethod
    def _check_accounts(count: int) -> None:
        """Refuse a bulk read or write over more accounts than one close-of-business partition."""
        if count > limits.accounts_per_partition_max:
            raise AssertionError(
                f"{count} accounts exceed {limits.accounts_per_partition_max} per partition"
            )


class _DriverStatement:
    """A write compiled once for the engine's dialect and run straight on the DBAPI cursor.

    Why: ``append`` is the hot path, and SQLAlchemy's per-execute bookkeeping costs more than
    SQLite's own insert of a few rows (measured: about half of each call). Core still writes the
    SQL and its dialect's bind processors still convert the values, so what reaches the driver is
    what ``Connection.execute`` would send.
    """

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled.positional:
            raise AssertionError("the store needs named parameters: use create_engine_for")
        self.sql = str(compiled)
        self.processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.processors[name] = processor

    def execute(self, cursor: DBAPICursor, row: dict[str, Any]) -> int:
        """Run with one row; returns the driver's rowcount."""
        cursor.execute(self.sql, self._process(row))
        return cursor.rowcount

    def executemany(self, cursor: DBAPICursor, rows: list[dict[str, Any]]) -> int:
        """Run many rows in one driver call (psycopg pipelines them in one round trip); returns
        the rowcount summed over the rows, as both drivers report it."""
        cursor.executemany(self.sql, [self._process(row) for row in rows])
        return cursor.rowcount

    def _process(self, row: dict[str, Any]) -> dict[str, Any]:
        """Convert values in place (rows are built per call): dates and JSON per dialect."""
        for name, processor in self.processors.items():
            row[name] = processor(row[name])
        return row


class _ArrayInsert:
    """``INSERT ... SELECT * FROM unnest(<one array per column>)`` on PostgreSQL: any number of
    rows in one statement with one parameter per column (the server plans and runs it once).

    Values go through the columns' bind processors (JSON to text), as with
    :class:`_DriverStatement`; each array is cast to its column's type. ``skip_conflicts`` adds
    ``ON CONFLICT DO NOTHING``: the rowcount then says how many rows were new.
    """

    def __init__(self, table: Any, dialect: Dialect, *, skip_conflicts: bool = False) -> None:
        self.names = [table_column.name for table_column in table.columns]
        arrays = ", ".join(
            f"CAST(%({table_column.name})b AS {table_column.type.compile(dialect=dialect)}[])"
            for table_column in table.columns
        )
        self.sql = (
            f"INSERT INTO {table.name} ({', '.join(self.names)}) SELECT * FROM unnest({arrays})"
            + (" ON CONFLICT DO NOTHING" if skip_conflicts else "")
        )
        self.processors: dict[str, Callable[[Any], Any]] = {}
        for table_column in table.columns:
            processor = table_column.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.processors[table_column.name] = processor

    def executemany(self, cursor: DBAPICursor, rows: list[dict[str, Any]]) -> int:
        """Insert the rows; returns how many were inserted."""
        columns: dict[str, list[Any]] = {}
        for name in self.names:
            values = [row[name] for row in rows]
            processor = self.processors.get(name)
            columns[name] = values if processor is None else [processor(v) for v in values]
        cursor.execute(self.sql, columns)
        return cursor.rowcount


class _ArrayAdvanceHeads:
    """Every account's compare-and-set in one PostgreSQL statement, from arrays.

    A row is updated at most once per statement, so the appends to one account must first be
    collapsed into one move (:func:`_collapsed_heads`); the rowcount is the accounts that moved.
    """

    sql = (
        "UPDATE accounts SET head_sequence = moves.new_head_sequence, "
        "status = COALESCE(moves.new_status, accounts.status) "
        "FROM unnest(CAST(%(account_ids)b AS VARCHAR[]), CAST(%(expected)b AS BIGINT[]), "
        "CAST(%(new_heads)b AS BIGINT[]), CAST(%(new_statuses)b AS VARCHAR[])) "
        "AS moves(account_id, expected_sequence, new_head_sequence, new_status) "
        "WHERE accounts.account_id = moves.account_id "
        "AND accounts.head_sequence = moves.expected_sequence"
    )

    def execute(self, cursor: DBAPICursor, heads: list[dict[str, Any]]) -> int:
        parameters = {
            "account_ids": [row["target_account_id"] for row in heads],
            "expected": [row["expected_sequence"] for row in heads],
            "new_heads": [row["new_head_sequence"] for row in heads],
            "new_statuses": [row["new_status"] for row in heads],
        }
        cursor.execute(self.sql, parameters)
        return cursor.rowcount


def _collapsed_heads(appends: Sequence[Append]) -> list[dict[str, Any]] | None:
    """One compare-and-set per account: from its first append's expected head to its last
    append's new head, with the last status set on the way (as the appends in turn would).

    ``None`` when an account's appends do not chain (one expects a head the one before it did
    not leave): applied in turn, that compare-and-set would match no row.
    """
    moves: dict[str, dict[str, Any]] = {}
    for item in appends:
        row = _compare_and_set_row(item)
        move = moves.get(item.account_id)
        if move is None:
            moves[item.account_id] = row
            continue
        if row["expected_sequence"] != move["new_head_sequence"]:
            return None
        move["new_head_sequence"] = row["new_head_sequence"]
        if row["new_status"] is not None:
            move["new_status"] = row["new_status"]
    return list(moves.values())


def _snapshot_upsert(dialect_insert: Callable[[Any], Insert]) -> Insert:
    """``INSERT ... ON CONFLICT (account_id) DO UPDATE``: one snapshot per account, the latest."""
    statement = dialect_insert(schema.account_snapshots)
    replaced = ("sequence", "state", "last_closed_on")
    return statement.on_conflict_do_update(
        index_elements=["account_id"],
        set_={name: statement.excluded[name] for name in replaced},
    )


def _compare_and_set_row(item: Append) -> dict[str, Any]:
    """Parameters of the head compare-and-set for one append."""
    return {
        "target_account_id": item.account_id,
        "expected_sequence": item.expected_sequence,
        "new_head_sequence": item.expected_sequence + len(item.events),
        "new_status": item.status,
    }


def _record_row(record: Any) -> dict[str, Any]:
    """A record as an insert row; shallow, as ``dataclasses.asdict`` would deep-copy payloads."""
    return {name: getattr(record, name) for name in record.__slots__}


def _snapshot_row(account_id: str, sequence: int, state: dict) -> dict[str, Any]:
    """The snapshot row; ``last_closed_on`` is lifted out of the state for the index."""
    last_closed_on = state.get("last_closed_on")
    return {
        "account_id": account_id,
        "sequence": sequence,
        "state": state,
        "last_closed_on": None if last_closed_on is None else date.fromisoformat(last_closed_on),
    }


def _require_product(connection: Connection, product_id: str, version: str) -> None:
    """Refuse an account whose product version was never stored."""
    query = select(schema.products.c.version).where(
        schema.products.c.product_id == product_id, schema.products.c.version == version
    )
    if connection.execute(query).first() is None:
        raise UnknownProductError(f"no stored product {product_id} version {version}")


def _refuse_append(connection: Connection, account_id: str, expected_sequence: int) -> None:
    """Raise why the compare-and-set matched no row: no such account, or it moved on.

    The conditional UPDATE was both the lock and the check: PostgreSQL locks the row and, if a
    concurrent writer held it, re-reads the committed row before matching (the effect of
    ``SELECT ... FOR UPDATE`` then compare, in one round trip).
    """
    query = select(schema.accounts.c.head_sequence).where(
        schema.accounts.c.account_id == account_id
    )
    current_sequence = connection.execute(query).scalar_one_or_none()
    if current_sequence is None:
        raise UnknownAccountError(f"no account {account_id}")
    raise ConcurrentUpdateError(
        f"account {account_id} is at sequence {current_sequence}, not {expected_sequence}; "
        "reload and retry"
    )


def _check_page(limit: int, offset: int) -> None:
    """Refuse pages larger than ``limits.page_size_max`` instead of silently clamping them."""
    if not 1 <= limit <= limits.page_size_max:
        raise InvalidPageError(f"page size must be 1..{limits.page_size_max}, got {limit}")
    if offset < 0:
        raise InvalidPageError(f"page offset must be >= 0, got {offset}")


def _check_batch(
    account_id: str,
    expected_sequence: int,
    events: Sequence[EventRecord],
    journal: Sequence[JournalLine],
    request: RequestRecord | None,
) -> None:
    """Assert the batch is well formed; the core built it, so a failure here is a bug."""
    if len(events) > limits.events_per_request_max:
        raise AssertionError(f"{len(events)} events exceed {limits.events_per_request_max}")
    for offset, event in enumerate(events, start=1):
        if (event.account_id, event.sequence) != (account_id, expected_sequence + offset):
            raise AssertionError(
                f"event {event.account_id}#{event.sequence} does not continue "
                f"{account_id}#{expected_sequence + offset - 1}"
            )
    _check_request(account_id, expected_sequence + len(events), events, request)
    _check_journal(account_id, {event.sequence for event in events}, journal)


def _check_request(
    account_id: str,
    head_sequence: int,
    events: Sequence[EventRecord],
    request: RequestRecord | None,
) -> None:
    """Assert request ids tie up: at most one event carries the id, and only this batch's."""
    request_id = None if request is None else request.request_id
    carried = [event.request_id for event in events if event.request_id is not None]
    if carried not in ([], [request_id]):
        raise AssertionError(f"events carry request ids {carried}; the request is {request_id}")
    if request is not None and (
        request.account_id != account_id or not 0 <= request.sequence <= head_sequence
    ):
        raise AssertionError(f"request {request_id} does not belong to {account_id} here")


def _check_journal(account_id: str, sequences: set[int], journal: Sequence[JournalLine]) -> None:
    """Assert every line belongs to a batch event and each event balances per currency."""
    totals: defaultdict[tuple[int, str], int] = defaultdict(int)
    for line in journal:
        if line.account_id != account_id or line.sequence not in sequences:
            raise AssertionError(f"journal line {line} is not for an event of this batch")
        totals[line.sequence, line.currency] += line.amount_minor
    unbalanced = {key: total for key, total in totals.items() if total != 0}
    if unbalanced:
        raise AssertionError(f"journal does not balance (sequence, currency): {unbalanced}")
