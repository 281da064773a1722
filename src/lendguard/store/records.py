"""Plain records the ledger core and the store exchange: no SQLAlchemy, no methods, no I/O.

Why frozen dataclasses of plain types: the core stays free of any ORM, and a record that cannot be
changed after it was built is safe to cache, compare in tests and hand between threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One fact about an account, in the account's total order (``sequence`` 1, 2, 3...).

    ``request_id`` is set only on the external event that carried the caller's request; events the
    platform derives (accruals, close-of-business) have ``None``. ``payload`` holds JSON values
    only, with dates already as ISO strings.
    """

    account_id: str
    sequence: int
    kind: str
    business_date: date
    request_id: str | None
    payload: dict


@dataclass(frozen=True, slots=True)
class JournalLine:
    """One side of a posting: signed minor units, debit positive.

    The lines of one event sum to zero per currency; the store asserts it on every append.
    """

    account_id: str
    sequence: int
    line_number: int
    ledger_account: str
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """A credit account and the exact product version it was opened under."""

    account_id: str
    product_id: str
    product_version: str
    currency: str
    opened_on: date
    status: str


@dataclass(frozen=True, slots=True)
class ProductRecord:
    """A product version with the text it was loaded from, so old accounts replay exactly."""

    product_id: str
    version: str
    kind: str
    sha256: str
    source_text: str


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """What a caller's request produced, kept so a retried request gets the original answer.

    ``sequence`` is the account's sequence after the request was applied.
    """

    request_id: str
    account_id: str
    request_hash: str
    response: dict
    sequence: int


@dataclass(frozen=True, slots=True)
class Append:
    """One account's outcome to write: events continuing ``expected_sequence``, their journal
    lines, and optionally the request that caused them, a snapshot and a new status. With
    ``account`` set, the account row is created in the same transaction (an opening)."""

    account_id: str
    expected_sequence: int
    events: Sequence[EventRecord]
    journal: Sequence[JournalLine]
    request: RequestRecord | None = None
    snapshot: dict | None = None
    status: str | None = None
    account: AccountRecord | None = None
