"""Everything that can happen to an account, as immutable events.

An event records its *effects* (allocations, amounts, item ids), not just the request that caused
it: the decision is made once, by the rules in ``commands`` and ``close``, and the fold only applies
what the event says. So replay reproduces state exactly even after a rule or product changes.

Total order: events of one account are ordered by ``sequence`` (1 = opening); nothing else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    """Kinds of events. External ones carry a request id; system ones come from close of day."""

    OPENED = "opened"
    PURCHASE = "purchase"
    DRAW = "draw"
    REPAYMENT = "repayment"
    PREPAYMENT = "prepayment"
    RECOVERY = "recovery"
    REFUND = "refund"
    FEE = "fee"
    WAIVER = "waiver"
    INSTALMENT_CONVERSION = "instalment_conversion"
    REVERSAL = "reversal"
    PAUSE_STARTED = "pause_started"
    PAUSE_ENDED = "pause_ended"
    WRITE_OFF = "write_off"
    CLOSED = "closed"
    # system events, decided by close of business
    STATEMENT_CUT = "statement_cut"
    INSTALMENT_DUE = "instalment_due"
    DUE_DATE_PASSED = "due_date_passed"
    INTEREST_ACCRUED = "interest_accrued"
    PENALTY_ACCRUED = "penalty_accrued"
    LATE_FEE_CHARGED = "late_fee_charged"
    CREDIT_APPLIED = "credit_applied"
    DELINQUENCY_CHANGED = "delinquency_changed"
    FROZEN = "frozen"
    UNFROZEN = "unfrozen"
    DAY_CLOSED = "day_closed"


REVERSIBLE_KINDS = frozenset(
    {EventKind.REPAYMENT, EventKind.PURCHASE, EventKind.FEE, EventKind.WAIVER, EventKind.RECOVERY}
)
"""Events a reversal can undo. Others are corrected by their own counter-event (refund, waiver)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One fact about an account. ``data`` holds JSON-ready values (ints, strings, lists, dicts)."""

    kind: EventKind
    business_date: dt.date
    data: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None


def date_text(day: dt.date | None) -> str | None:
    """Dates travel in event data as ISO text so an event is JSON as it stands."""
    return None if day is None else day.isoformat()


def parse_date(text: str | None) -> dt.date | None:
    """Inverse of :func:`date_text`."""
    return None if text is None else dt.date.fromisoformat(text)
