"""Underwriting persistence: append-only decision revisions, rejections, and the review queue.

Each method is one transaction. A decision revision is never updated: a human review appends
revision 2, 3 ... and closes its review item in the same transaction, so the queue and the
decisions cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, insert, select, update

from lendguard import limits
from lendguard.errors import LendGuardError
from lendguard.store import schema


class DuplicateApplicationError(LendGuardError):
    """An application id already decided for a different application body."""

    code = "duplicate_application"


class ReviewStateError(LendGuardError):
    """A review action that does not fit the application's state (nothing to review, closed ...)."""

    code = "invalid_review"


@dataclass(frozen=True)
class StoredDecision:
    """One revision of the decision on an application."""

    application_id: str
    revision: int
    decided_on: dt.date
    decision: str
    actor: str
    payload_sha256: str
    record: dict[str, Any]


@dataclass(frozen=True)
class ReviewItem:
    """A referral or a contest waiting for (or closed by) a reviewer."""

    application_id: str
    opened_revision: int
    reason: str
    note: str
    status: str
    opened_on: dt.date
    closed_revision: int | None


class DecisionStore:
    """Reads and writes the underwriting tables on one engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def revisions(self, application_id: str) -> list[StoredDecision]:
        """Every revision of one application's decision, oldest first."""
        table = schema.underwriting_decisions
        query = (
            select(table).where(table.c.application_id == application_id).order_by(table.c.revision)
        )
        with self._engine.connect() as connection:
            return [StoredDecision(**row._asdict()) for row in connection.execute(query)]

    def first_revisions(self, application_ids: Sequence[str]) -> dict[str, StoredDecision]:
        """The automated decision (revision 1) of each id that has one."""
        table = schema.underwriting_decisions
        found: dict[str, StoredDecision] = {}
        with self._engine.connect() as connection:
            for start in range(0, len(application_ids), limits.page_size_max):
                chunk = list(application_ids[start : start + limits.page_size_max])
                query = select(table).where(
                    and_(table.c.application_id.in_(chunk), table.c.revision == 1)
                )
                for row in connection.execute(query):
                    found[row.application_id] = StoredDecision(**row._asdict())
        return found

    def record_decisions(
        self, decisions: Sequence[StoredDecision], referrals: Sequence[ReviewItem]
    ) -> None:
        """Write automated decisions and the review items their referrals open, atomically."""
        with self._engine.begin() as connection:
            if decisions:
                connection.execute(
                    insert(schema.underwriting_decisions),
                    [_decision_row(decision) for decision in decisions],
                )
            if referrals:
                connection.execute(
                    insert(schema.review_items), [_review_row(item) for item in referrals]
                )

    def record_rejection(
        self, received_on: dt.date, payload_sha256: str, code: str, error: str
    ) -> None:
        """Keep the digest of a refused application and why it was refused."""
        with self._engine.begin() as connection:
            connection.execute(
                insert(schema.underwriting_rejections).values(
                    received_on=received_on, payload_sha256=payload_sha256, code=code, error=error
                )
            )

    def rejections_count(self) -> int:
        """How many applications were refused before a decision."""
        with self._engine.connect() as connection:
            query = select(func.count()).select_from(schema.underwriting_rejections)
            return int(connection.execute(query).scalar_one())

    def open_item(self, application_id: str) -> ReviewItem | None:
        """The application's open review item, if any."""
        with self._engine.connect() as connection:
            return _open_item(connection, application_id)

    def open_review(self, item: ReviewItem) -> None:
        """Queue an application for a human (a contest of an automated decision)."""
        with self._engine.begin() as connection:
            if _open_item(connection, item.application_id) is not None:
                raise ReviewStateError(f"{item.application_id} is already waiting for review")
            connection.execute(insert(schema.review_items).values(**_review_row(item)))

    def close_review(self, decision: StoredDecision) -> ReviewItem:
        """Append a reviewer's decision and close the open review item, atomically."""
        table = schema.review_items
        with self._engine.begin() as connection:
            item = _open_item(connection, decision.application_id)
            if item is None:
                raise ReviewStateError(f"{decision.application_id} has no open review")
            connection.execute(
                insert(schema.underwriting_decisions).values(**_decision_row(decision))
            )
            connection.execute(
                update(table)
                .where(
                    and_(
                        table.c.application_id == item.application_id,
                        table.c.opened_revision == item.opened_revision,
                    )
                )
                .values(status="closed", closed_revision=decision.revision)
            )
        return ReviewItem(
            **{**item.__dict__, "status": "closed", "closed_revision": decision.revision}
        )

    def review_queue(self, limit: int = 100, offset: int = 0) -> list[ReviewItem]:
        """Open review items, oldest first, one bounded page."""
        if not 1 <= limit <= limits.page_size_max:
            raise ReviewStateError(f"page size must be 1..{limits.page_size_max}, got {limit}")
        table = schema.review_items
        query = (
            select(table)
            .where(table.c.status == "open")
            .order_by(table.c.opened_on, table.c.application_id)
            .limit(limit)
            .offset(offset)
        )
        with self._engine.connect() as connection:
            return [ReviewItem(**row._asdict()) for row in connection.execute(query)]


def _open_item(connection: Any, application_id: str) -> ReviewItem | None:
    table = schema.review_items
    query = select(table).where(
        and_(table.c.application_id == application_id, table.c.status == "open")
    )
    row = connection.execute(query).first()
    return None if row is None else ReviewItem(**row._asdict())


def _decision_row(decision: StoredDecision) -> dict[str, Any]:
    return dict(decision.__dict__)


def _review_row(item: ReviewItem) -> dict[str, Any]:
    return dict(item.__dict__)
