"""The audit trail: an append-only log whose records are chained by SHA-256.

Record ``n`` stores ``hash = sha256(prev_hash + canonical JSON of record n)``, where ``prev_hash``
is record ``n - 1``'s hash (64 zeros for record 1) and the canonical JSON is the object
``{sequence, at, actor, action, target, detail}`` with sorted keys, no spaces, UTF-8, and ``at``
in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` (:func:`record_hash`). Editing, deleting, inserting
or reordering a record breaks the chain at that record, and :meth:`AuditLog.verify` names it.

What a chain cannot see on its own: someone able to write the table can delete the newest records,
or rewrite every record after an edit with fresh hashes. Against that, publish the head
(``AuditVerification.head_sequence`` and ``head_hash``) somewhere the database's writers cannot
reach, such as the nightly report, and pass it back as an :class:`AuditAnchor`.

The log has one writer at a time: SQLite's ``BEGIN IMMEDIATE`` and PostgreSQL's table lock queue
writers, so each reads the newest record and appends after it; the primary key on ``sequence``
refuses a second record with a number taken. Within a process, appends that arrive while one is
being written are written together in the next transaction (group commit), so the serial chain does
not cap the service at one commit per request. A caller that must store records atomically with
writes of its own (the service's money movements) appends them in its own transaction with
:meth:`AuditLog.append_in`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, String, Text, cast, insert, select, type_coerce
from sqlalchemy.engine import Connection

from lendguard import limits
from lendguard.errors import LendGuardError
from lendguard.store.repository import BEGIN_IMMEDIATE_OPTION, InvalidPageError
from lendguard.store.service_tables import audit_log

GENESIS_HASH = "0" * 64
"""``prev_hash`` of record 1."""

audit_detail_bytes_max = 16 * 1024
"""Largest canonical ``detail`` (UTF-8): a record says what happened, it does not carry payloads."""

audit_field_chars_max = 256
"""Longest ``actor``, ``action`` or ``target``."""

audit_records_per_transaction_max = 1_000
"""Records one group commit may write: bounds a transaction's size and the table lock's hold."""


class AuditRecordError(LendGuardError):
    """A record the log refuses: a field too long or empty, or a detail over the size bound."""

    code = "invalid_audit_record"


@dataclass(frozen=True)
class AuditRecord:
    """One stored record of the chain."""

    sequence: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditAnchor:
    """A record's sequence and hash, kept outside the database to catch truncation or rewrites."""

    sequence: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> AuditAnchor:
        """``SEQUENCE:HASH`` as printed by ``lendguard audit verify``."""
        sequence, _, digest = text.partition(":")
        if not sequence.isdigit() or int(sequence) < 1 or len(digest) != 64:
            raise AuditRecordError(f"an anchor is SEQUENCE:SHA256 (64 hex digits), got {text!r}")
        return cls(int(sequence), digest.lower())


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of checking the chain.

    ``records`` counts the intact records before the first bad one (all of them when ``ok``);
    ``head_sequence`` and ``head_hash`` are the last intact record's, the values to anchor.
    """

    ok: bool
    records: int
    first_bad_sequence: int | None
    problem: str | None
    head_sequence: int
    head_hash: str


@dataclass(frozen=True)
class AuditEntry:
    """A validated record waiting for its sequence number (build it with :func:`audit_entry`)."""

    at: dt.datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class _Waiter:
    """One caller's entry in the group-commit queue and, once written, its outcome."""

    __slots__ = ("done", "entry", "error", "record")

    def __init__(self, entry: AuditEntry) -> None:
        self.entry = entry
        self.record: AuditRecord | None = None
        self.error: BaseException | None = None
        self.done = False


class AuditLog:
    """Appends to, pages through and verifies the ``audit_log`` table of one engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write_engine = engine.execution_options(**{BEGIN_IMMEDIATE_OPTION: True})
        self._is_postgres = engine.dialect.name == "postgresql"
        self._queue: list[_Waiter] = []
        self._queue_lock = threading.Lock()
        self._writer_lock = threading.Lock()

    def append(
        self, actor: str, action: str, target: str, detail: Mapping[str, Any], at: dt.datetime
    ) -> AuditRecord:
        """Append one record and return it as stored; ``at`` must be timezone-aware.

        ``detail`` must be JSON (str keys; str, int, finite float, bool, None, lists, objects):
        anything else is a programmer error and raises ``TypeError`` or ``ValueError``.
        """
        waiter = _Waiter(audit_entry(actor, action, target, detail, at))
        with self._queue_lock:
            self._queue.append(waiter)
        with self._writer_lock:
            while not waiter.done:
                self._write_next_batch()
        if waiter.error is not None:
            raise waiter.error
        assert waiter.record is not None
        return waiter.record

    def records(
        self, limit: int = limits.page_size_max, offset: int = 0, target: str | None = None
    ) -> list[AuditRecord]:
        """One page of records, oldest first; with ``target``, only that resource's history."""
        if not 1 <= limit <= limits.page_size_max or offset < 0:
            raise InvalidPageError(f"page size must be 1..{limits.page_size_max}, offset >= 0")
        query = select(audit_log)
        if target is not None:
            query = query.where(audit_log.c.target == target)
        query = query.order_by(audit_log.c.sequence).limit(limit).offset(offset)
        with self._engine.connect() as connection:
            return [_stored_record(row._mapping) for row in connection.execute(query)]

    def verify(self, anchor: AuditAnchor | None = None) -> AuditVerification:
        """Check every record's link and hash in sequence order; stop at the first bad one.

        With ``anchor``, also check that the anchored record is still there with that hash: since
        each hash covers all before it, nothing up to the anchor was edited, cut or rewritten.
        """
        head_sequence, head_hash = 0, GENESIS_HASH
        with self._engine.connect() as connection:
            for row in _raw_rows(connection):
                problem = _check_row(row, head_sequence, head_hash)
                if problem is None and anchor is not None and row["sequence"] == anchor.sequence:
                    problem = _check_anchor(row, anchor)
                if problem is not None:
                    return AuditVerification(
                        False, head_sequence, head_sequence + 1, problem, head_sequence, head_hash
                    )
                head_sequence, head_hash = row["sequence"], row["hash"]
        if anchor is not None and head_sequence < anchor.sequence:
            problem = (
                f"the log ends at record {head_sequence} but record {anchor.sequence} was "
                "anchored: records were deleted from the end"
            )
            return AuditVerification(
                False, head_sequence, head_sequence + 1, problem, head_sequence, head_hash
            )
        return AuditVerification(True, head_sequence, None, None, head_sequence, head_hash)

    def _write_next_batch(self) -> None:
        """Write the oldest queued entries as one transaction (the caller holds the writer lock).

        A failed transaction wrote nothing; every caller in the batch gets its error.
        """
        with self._queue_lock:
            batch = self._queue[:audit_records_per_transaction_max]
            del self._queue[: len(batch)]
        if not batch:
            raise AssertionError("a caller waits on the audit log but nothing is queued")
        try:
            records = self._write([waiter.entry for waiter in batch])
        except BaseException as error:
            for waiter in batch:
                waiter.error, waiter.done = error, True
            if not isinstance(error, Exception):  # KeyboardInterrupt and the like go on up
                raise
            return
        for waiter, record in zip(batch, records, strict=True):
            waiter.record, waiter.done = record, True

    def append_in(self, connection: Connection, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Chain ``entries`` after the newest stored record and insert them in the write
        transaction open on ``connection`` (begun with SQLite's ``BEGIN IMMEDIATE``): they are
        stored if, and only if, the caller commits.

        On PostgreSQL the table lock is held until that commit, so a caller takes it last, after
        any other lock its transaction waits for, and commits soon after.
        """
        if len(entries) > audit_records_per_transaction_max:
            raise AssertionError(
                f"{len(entries)} audit records exceed {audit_records_per_transaction_max} "
                "per transaction"
            )
        if self._is_postgres:
            # Readers (verify, paging) still run; a second writer waits here for the commit.
            connection.exec_driver_sql("LOCK TABLE audit_log IN EXCLUSIVE MODE")
        newest = connection.execute(
            select(audit_log.c.sequence, audit_log.c.hash)
            .order_by(audit_log.c.sequence.desc())
            .limit(1)
        ).first()
        sequence, prev_hash = (
            (0, GENESIS_HASH) if newest is None else (newest.sequence, newest.hash)
        )
        records = []
        for entry in entries:
            sequence += 1
            fields = _entry_fields(entry)
            digest = record_hash(prev_hash, sequence, **fields)
            records.append(AuditRecord(sequence, **fields, prev_hash=prev_hash, hash=digest))
            prev_hash = digest
        connection.execute(insert(audit_log), [_row(record) for record in records])
        return records

    def _write(self, entries: list[AuditEntry]) -> list[AuditRecord]:
        """Chain ``entries`` after the newest stored record and insert them, in one transaction."""
        with self._write_engine.begin() as connection:
            return self.append_in(connection, entries)


def record_hash(
    prev_hash: str,
    sequence: int,
    at: dt.datetime,
    actor: str,
    action: str,
    target: str,
    detail: Mapping[str, Any],
) -> str:
    """``sha256(prev_hash + canonical JSON)`` as hex: the chain's one formula (module docstring)."""
    body = {
        "sequence": sequence,
        "at": _utc(at).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "target": target,
        "detail": detail,
    }
    return hashlib.sha256((prev_hash + _canonical_json(body)).encode("utf-8")).hexdigest()


def _canonical_json(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _utc(at: dt.datetime) -> dt.datetime:
    """``at`` in UTC; a naive value read back from SQLite (which drops the zone) is UTC."""
    if at.tzinfo is None:
        return at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC)


def audit_entry(
    actor: str, action: str, target: str, detail: Mapping[str, Any], at: dt.datetime
) -> AuditEntry:
    """Validate a record's fields; ``detail`` becomes exactly what a reader will load back.

    ``at`` must be timezone-aware and ``detail`` JSON (see :meth:`AuditLog.append`); anything else
    is a programmer error and raises.
    """
    if at.tzinfo is None:
        raise AssertionError("audit timestamps must be timezone-aware")
    if not isinstance(detail, Mapping):
        raise TypeError(f"audit detail must be a mapping, got {type(detail).__name__}")
    _check_field("actor", actor, chars_min=1)
    _check_field("action", action, chars_min=1)
    _check_field("target", target, chars_min=0)
    text = _canonical_json(dict(detail))
    if len(text.encode("utf-8")) > audit_detail_bytes_max:
        raise AuditRecordError(f"audit detail over {audit_detail_bytes_max} bytes")
    return AuditEntry(_utc(at), actor, action, target, json.loads(text))


def _check_field(name: str, value: str, chars_min: int) -> None:
    """Who did what to which resource: short strings; only ``target`` may be empty."""
    if not isinstance(value, str):
        raise TypeError(f"audit {name} must be a string, got {type(value).__name__}")
    if not chars_min <= len(value) <= audit_field_chars_max:
        raise AuditRecordError(
            f"audit {name} must have {chars_min}..{audit_field_chars_max} characters"
        )


def _entry_fields(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "detail": entry.detail,
    }


def _row(record: AuditRecord) -> dict[str, Any]:
    return {
        "sequence": record.sequence,
        "at": record.at,
        "actor": record.actor,
        "action": record.action,
        "target": record.target,
        "detail": record.detail,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


def _stored_record(row: Mapping[str, Any]) -> AuditRecord:
    return AuditRecord(**{**row, "at": _utc(row["at"])})


def _raw_rows(connection: Connection) -> Iterator[dict[str, Any]]:
    """Every record in sequence order, a page at a time, with ``at`` and ``detail`` unparsed.

    Raw, so that a value someone overwrote with garbage is reported as a bad record by
    :func:`_check_row` instead of crashing the check in the database driver's parser.
    """
    table = audit_log
    at = type_coerce(table.c.at, String) if connection.dialect.name == "sqlite" else table.c.at
    columns = [
        table.c.sequence,
        at.label("at"),
        table.c.actor,
        table.c.action,
        table.c.target,
        cast(table.c.detail, Text).label("detail"),
        table.c.prev_hash,
        table.c.hash,
    ]
    after: Any = 0
    while True:
        query = (
            select(*columns)
            .where(table.c.sequence > after)
            .order_by(table.c.sequence)
            .limit(limits.page_size_max)
        )
        rows = [dict(row._mapping) for row in connection.execute(query)]
        yield from rows
        if len(rows) < limits.page_size_max:
            return
        after = rows[-1]["sequence"]


def _check_row(row: dict[str, Any], previous_sequence: int, previous_hash: str) -> str | None:
    """Why ``row`` cannot follow the record ``previous_sequence``, or ``None`` if it can."""
    expected = previous_sequence + 1
    sequence = row["sequence"]
    if sequence != expected:
        return f"record {expected} is missing (deleted or renumbered); the next is {sequence!r}"
    if row["prev_hash"] != previous_hash:
        return (
            f"record {expected} does not follow record {previous_sequence}: its prev_hash is not "
            "that record's hash (a record was inserted, deleted or moved here)"
        )
    try:
        at = row["at"]
        if not isinstance(at, dt.datetime):  # SQLite hands back its stored text
            at = dt.datetime.fromisoformat(at)
        detail = json.loads(row["detail"])
        digest = record_hash(
            previous_hash, sequence, at, row["actor"], row["action"], row["target"], detail
        )
    except (TypeError, ValueError):
        return f"record {expected} cannot be read: a field was overwritten with an invalid value"
    if digest != row["hash"]:
        return f"record {expected} was altered: its hash does not match its contents"
    return None


def _check_anchor(row: dict[str, Any], anchor: AuditAnchor) -> str | None:
    if row["hash"] == anchor.hash:
        return None
    return f"record {anchor.sequence} does not match the anchor: the log up to it was rewritten"
