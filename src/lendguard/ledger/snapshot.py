"""Account state as plain JSON data and back: the snapshot that saves refolding a whole log.

A snapshot is a cache, never the truth: it records the sequence it was taken at, and loading one
means "the fold of events 1..sequence". ``snapshot_version`` changes whenever the layout does; a
snapshot of another version is ignored and the log is folded instead (tested: snapshot + later
events == full fold).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lendguard.delinquency.buckets import BucketSpell
from lendguard.ledger.state import (
    AccountState,
    Delinquency,
    Item,
    Plan,
    PlanPeriod,
    Statement,
)

SNAPSHOT_VERSION = 1


def _date(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def _text(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def state_to_data(state: AccountState) -> dict[str, Any]:
    """Everything in ``state`` as JSON-ready values."""
    return {
        "snapshot_version": SNAPSHOT_VERSION,
        "account_id": state.account_id,
        "product_id": state.product_id,
        "product_version": state.product_version,
        "currency": state.currency,
        "opened_on": _text(state.opened_on),
        "credit_limit_minor": state.credit_limit_minor,
        "statement_day": state.statement_day,
        "due_day": state.due_day,
        "closed_through": _text(state.closed_through),
        "last_closed_on": _text(state.closed_through),
        "status": state.status,
        "frozen": state.frozen,
        "sequence": state.sequence,
        "items": [item.to_data(item.amount_minor) for item in state.items.values()],
        "plans": [_plan_data(plan) for plan in state.plans.values()],
        "statements": [_statement_data(statement) for statement in state.statements.values()],
        "purchases": state.purchases,
        "credit_minor": state.credit_minor,
        "recovered_minor": state.recovered_minor,
        "written_off_minor": state.written_off_minor,
        "pauses": [[_text(start), _text(end)] for start, end in state.pauses],
        "delinquency": [
            state.delinquency.past_due_days,
            state.delinquency.delinquent_days,
            state.delinquency.bucket,
            state.delinquency.five_category,
            state.delinquency.ifrs9_stage,
        ],
        "bucket_history": [
            [spell.bucket, _text(spell.entered_on), _text(spell.left_on)]
            for spell in state.bucket_history
        ],
        "reversed_sequences": sorted(state.reversed_sequences),
        "late_fee_for_due_on": _text(state.late_fee_for_due_on),
    }


def state_from_data(data: dict[str, Any]) -> AccountState | None:
    """The state a snapshot holds, or ``None`` for a snapshot of another layout version."""
    if data.get("snapshot_version") != SNAPSHOT_VERSION:
        return None
    opened_on = _date(data["opened_on"])
    closed_through = _date(data["closed_through"])
    assert opened_on is not None and closed_through is not None
    return AccountState(
        account_id=data["account_id"],
        product_id=data["product_id"],
        product_version=data["product_version"],
        currency=data["currency"],
        opened_on=opened_on,
        credit_limit_minor=data["credit_limit_minor"],
        statement_day=data["statement_day"],
        due_day=data["due_day"],
        closed_through=closed_through,
        status=data["status"],
        frozen=data["frozen"],
        sequence=data["sequence"],
        items={item["item_id"]: Item.from_data(item) for item in data["items"]},
        plans={plan["plan_id"]: _plan(plan) for plan in data["plans"]},
        statements={s["statement_id"]: _statement(s) for s in data["statements"]},
        purchases={key: dict(value) for key, value in data["purchases"].items()},
        credit_minor=data["credit_minor"],
        recovered_minor=data["recovered_minor"],
        written_off_minor=data["written_off_minor"],
        pauses=[[_date(start), _date(end)] for start, end in data["pauses"]],
        delinquency=Delinquency(*data["delinquency"]),
        bucket_history=tuple(
            BucketSpell(bucket, _date(entered), _date(left))  # type: ignore[arg-type]
            for bucket, entered, left in data["bucket_history"]
        ),
        reversed_sequences=set(data["reversed_sequences"]),
        late_fee_for_due_on=_date(data["late_fee_for_due_on"]),
    )


def _plan_data(plan: Plan) -> dict[str, Any]:
    return {
        "plan_id": plan.plan_id,
        "kind": plan.kind,
        "method": plan.method,
        "principal_minor": plan.principal_minor,
        "remaining_minor": plan.remaining_minor,
        "periods": [
            [p.number, _text(p.due_on), p.principal_minor, p.fee_minor, p.interest_minor, p.billed]
            for p in plan.periods
        ],
        "interest_from": _text(plan.interest_from),
        "apr": plan.apr,
        "source": plan.source,
        "closed": plan.closed,
    }


def _plan(data: dict[str, Any]) -> Plan:
    interest_from = _date(data["interest_from"])
    assert interest_from is not None
    return Plan(
        plan_id=data["plan_id"],
        kind=data["kind"],
        method=data["method"],
        principal_minor=data["principal_minor"],
        remaining_minor=data["remaining_minor"],
        periods=[
            PlanPeriod(number, _date(due_on), principal, fee, interest, billed)  # type: ignore[arg-type]
            for number, due_on, principal, fee, interest, billed in data["periods"]
        ],
        interest_from=interest_from,
        apr=dict(data["apr"]),
        source=data["source"],
        closed=data["closed"],
    )


def _statement_data(statement: Statement) -> dict[str, Any]:
    return {
        "statement_id": statement.statement_id,
        "cut_on": _text(statement.cut_on),
        "due_on": _text(statement.due_on),
        "total_minor": statement.total_minor,
        "minimum_minor": statement.minimum_minor,
        "principal_lines": [[_text(day), amount] for day, amount in statement.principal_lines],
        "paid_minor": statement.paid_minor,
        "due_passed": statement.due_passed,
        "paid_in_full": statement.paid_in_full,
    }


def _statement(data: dict[str, Any]) -> Statement:
    return Statement(
        statement_id=data["statement_id"],
        cut_on=_date(data["cut_on"]),  # type: ignore[arg-type]
        due_on=_date(data["due_on"]),  # type: ignore[arg-type]
        total_minor=data["total_minor"],
        minimum_minor=data["minimum_minor"],
        principal_lines=[(_date(day), amount) for day, amount in data["principal_lines"]],  # type: ignore[misc]
        paid_minor=data["paid_minor"],
        due_passed=data["due_passed"],
        paid_in_full=data["paid_in_full"],
    )
