"""Delinquency status of an account: days past due, bucket, five-category class, IFRS 9 stage.

Everything is read from the ledger state as of the account's last closed business date
(``as_of``): the night's close computes the clocks and maps, so this route computes nothing and
changes nothing. A read never closes days: the status a collector sees is the one the books hold.

No ``from __future__ import annotations``: FastAPI resolves these annotations at runtime.
"""

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from lendguard.delinquency.classification import FiveCategory, non_performing
from lendguard.eod.outputs import overdue_minor
from lendguard.ledger.book import Book
from lendguard.ledger.state import AccountState
from lendguard.money import format_minor
from lendguard.service.deps import Services, get_services, require
from lendguard.service.security import Principal

router = APIRouter(prefix="/accounts", tags=["delinquency"])

ServicesDep = Annotated[Services, Depends(get_services)]
Reader = Annotated[Principal, Depends(require("delinquency:read"))]

bucket_spells_max = 100
"""Latest bucket spells a status shows: eight years of monthly moves; the history has them all."""

AccountId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]


class BucketSpell(BaseModel):
    """A stay in one bucket from ``entered_on`` up to, not including, ``left_on``."""

    bucket: str
    entered_on: dt.date
    left_on: dt.date | None


class DelinquencyStatus(BaseModel):
    """How late an account is, and how the books classify it, at the end of ``as_of``."""

    account_id: str
    as_of: dt.date = Field(description="The account's last closed business date.")
    status: str
    frozen: bool
    currency: str
    past_due_days: int = Field(description="Calendar days since the oldest unpaid due date.")
    delinquent_days: int = Field(description="Past-due days less grace and paused days.")
    oldest_past_due_on: dt.date | None
    overdue: str = Field(description="Owed past its due date, any component, decimal string.")
    overdue_minor: int
    bucket: str
    bucket_since: dt.date | None
    five_category: Literal["normal", "special-mention", "substandard", "doubtful", "loss"]
    five_category_zh: str
    non_performing: bool
    ifrs9_stage: Literal[1, 2, 3]
    bucket_history: list[BucketSpell] = Field(
        description=f"The latest {bucket_spells_max} bucket spells, oldest first."
    )


@router.get(
    "/{account_id}/delinquency",
    response_model=DelinquencyStatus,
    summary="An account's delinquency status",
)
def delinquency_status(
    services: ServicesDep, _principal: Reader, account_id: AccountId
) -> dict[str, Any]:
    """Days past due, bucket, five-category class and IFRS 9 stage from the stored ledger.

    Folded afresh from the store (snapshot plus later events) rather than from the service's
    cached state, so a close of business run by another process is always seen.
    """
    return _status(Book(services.store).state(account_id))


def _status(state: AccountState) -> dict[str, Any]:
    delinquency = state.delinquency
    category = FiveCategory(delinquency.five_category)
    history = state.bucket_history[-bucket_spells_max:]
    overdue = overdue_minor(state)
    return {
        "account_id": state.account_id,
        "as_of": state.closed_through,
        "status": state.status,
        "frozen": state.frozen,
        "currency": state.currency,
        "past_due_days": delinquency.past_due_days,
        "delinquent_days": delinquency.delinquent_days,
        "oldest_past_due_on": state.oldest_past_due_on(state.closed_through),
        "overdue": format_minor(overdue, state.currency),
        "overdue_minor": overdue,
        "bucket": delinquency.bucket,
        "bucket_since": _bucket_since(history),
        "five_category": category.value,
        "five_category_zh": category.label_zh,
        "non_performing": non_performing(category),
        "ifrs9_stage": delinquency.ifrs9_stage,
        "bucket_history": [
            {"bucket": spell.bucket, "entered_on": spell.entered_on, "left_on": spell.left_on}
            for spell in history
        ],
    }


def _bucket_since(history: tuple[Any, ...]) -> dt.date | None:
    """When the account entered its current bucket; ``None`` if it was never delinquent.

    The history records delinquent spells only, so a cured account has been current since its
    last spell ended.
    """
    if not history:
        return None
    last = history[-1]
    return last.entered_on if last.left_on is None else last.left_on
