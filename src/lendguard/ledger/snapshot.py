"""Account state as plain JSON data and back: the snapshot that saves refolding a whole log.

A snapshot is a cache, never the truth: it records the sequence it was taken at, and loading one
means "the fold of events 1..sequence". ``snapshot_version`` changes whenever the layout does; a
snapshot of another version is ignored and the log is folded instead (tested: snapshot + later
events == full fold).

Hot path: close of business converts every account both ways every night, so the converters are
written out flat (no helper call per date or item) and :func:`dumps` / :func:`loads` use orjson
(about 6x faster to write and 2x to read than the standard library), handing to ``json`` only
what orjson refuses. The values are the same either way; only the text's whitespace differs, so
texts from either codec read back alike (tested).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lendguard.delinquency.buckets import BucketSpell
from lendguard.jsontext import dumps, loads
from lendguard.ledger.state import (
    AccountState,
    Delinquency,
    Item,
    Plan,
    PlanPeriod,
    Statement,
)
from lendguard.products.model import Component

SNAPSHOT_VERSION = 1


_COMPONENTS: dict[str, Component] = dict(Component._value2member_map_)  # type: ignore[arg-type]
_from_iso = dt.date.fromisoformat


def state_to_text(state: AccountState) -> str:
    """``state`` as snapshot JSON text (:func:`state_to_data` through :func:`dumps`)."""
    return dumps(state_to_data(state))


def state_from_text(text: str) -> AccountState | None:
    """The state a snapshot text holds (:func:`loads` then :func:`state_from_data`)."""
    return state_from_data(loads(text))


def _date(text: str | None) -> dt.date | None:
    return None if text is None else _from_iso(text)


def _text(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def state_to_data(state: AccountState) -> dict[str, Any]:
    """Everything in ``state`` as JSON-ready values."""
    closed_through = state.closed_through
    closed_text = None if closed_through is None else closed_through.isoformat()
    delinquency = state.delinquency
    late_fee = state.late_fee_for_due_on
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
        "closed_through": closed_text,
        "last_closed_on": closed_text,
        "status": state.status,
        "frozen": state.frozen,
        "sequence": state.sequence,
        "items": [
            {  # Item.to_data(item.amount_minor), written out
                "item_id": item.item_id,
                "component": item.component.value,
                "amount_minor": item.amount_minor,
                "due_on": None if item.due_on is None else item.due_on.isoformat(),
                "posted_on": item.posted_on.isoformat(),
                "source": item.source,
                "statement_id": item.statement_id,
                "revolving": item.revolving,
            }
            for item in state.items.values()
        ],
        "plans": [_plan_data(plan) for plan in state.plans.values()],
        "statements": [_statement_data(statement) for statement in state.statements.values()],
        "purchases": state.purchases,
        "credit_minor": state.credit_minor,
        "recovered_minor": state.recovered_minor,
        "written_off_minor": state.written_off_minor,
        "pauses": [
            [
                None if start is None else start.isoformat(),
                None if end is None else end.isoformat(),
            ]
            for start, end in state.pauses
        ],
        "delinquency": [
            delinquency.past_due_days,
            delinquency.delinquent_days,
            delinquency.bucket,
            delinquency.five_category,
            delinquency.ifrs9_stage,
        ],
        "bucket_history": [
            [
                spell.bucket,
                None if spell.entered_on is None else spell.entered_on.isoformat(),
                None if spell.left_on is None else spell.left_on.isoformat(),
            ]
            for spell in state.bucket_history
        ],
        "reversed_sequences": sorted(state.reversed_sequences),
        "late_fee_for_due_on": None if late_fee is None else late_fee.isoformat(),
    }


def state_from_data(data: dict[str, Any]) -> AccountState | None:
    """The state a snapshot holds, or ``None`` for a snapshot of another layout version."""
    if data.get("snapshot_version") != SNAPSHOT_VERSION:
        return None
    opened_on = _date(data["opened_on"])
    closed_through = _date(data["closed_through"])
    assert opened_on is not None and closed_through is not None
    return AccountState(
        data["account_id"],
        data["product_id"],
        data["product_version"],
        data["currency"],
        opened_on,
        data["credit_limit_minor"],
        data["statement_day"],
        data["due_day"],
        closed_through,
        data["status"],
        data["frozen"],
        data["sequence"],
        {item["item_id"]: _item(item) for item in data["items"]},
        {plan["plan_id"]: _plan(plan) for plan in data["plans"]},
        {s["statement_id"]: _statement(s) for s in data["statements"]},
        {key: dict(value) for key, value in data["purchases"].items()},
        data["credit_minor"],
        data["recovered_minor"],
        data["written_off_minor"],
        [
            [
                None if start is None else _from_iso(start),
                None if end is None else _from_iso(end),
            ]
            for start, end in data["pauses"]
        ],
        Delinquency(*data["delinquency"]),
        tuple(
            BucketSpell(
                bucket,
                None if entered is None else _from_iso(entered),  # type: ignore[arg-type]
                None if left is None else _from_iso(left),
            )
            for bucket, entered, left in data["bucket_history"]
        ),
        set(data["reversed_sequences"]),
        _date(data["late_fee_for_due_on"]),
    )


def _item(data: dict[str, Any]) -> Item:
    """``Item.from_data``, written out (the same reads in the same order, so the same errors)."""
    item_id = data["item_id"]
    value = data["component"]
    try:
        component = _COMPONENTS[value]
    except (KeyError, TypeError):
        component = Component(value)  # raises as Item.from_data does
    amount_minor = data["amount_minor"]
    due_on = data["due_on"]
    return Item(
        item_id,
        component,
        amount_minor,
        None if due_on is None else _from_iso(due_on),
        _from_iso(data["posted_on"]),
        data["source"],
        data.get("statement_id"),
        data.get("revolving", False),
    )


def _plan_data(plan: Plan) -> dict[str, Any]:
    return {
        "plan_id": plan.plan_id,
        "kind": plan.kind,
        "method": plan.method,
        "principal_minor": plan.principal_minor,
        "remaining_minor": plan.remaining_minor,
        "periods": [
            [
                p.number,
                None if p.due_on is None else p.due_on.isoformat(),
                p.principal_minor,
                p.fee_minor,
                p.interest_minor,
                p.billed,
            ]
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
        data["plan_id"],
        data["kind"],
        data["method"],
        data["principal_minor"],
        data["remaining_minor"],
        [
            PlanPeriod(
                number,
                None if due_on is None else _from_iso(due_on),  # type: ignore[arg-type]
                principal,
                fee,
                interest,
                billed,
            )
            for number, due_on, principal, fee, interest, billed in data["periods"]
        ],
        interest_from,
        dict(data["apr"]),
        data["source"],
        data["closed"],
    )


def _statement_data(statement: Statement) -> dict[str, Any]:
    return {
        "statement_id": statement.statement_id,
        "cut_on": _text(statement.cut_on),
        "due_on": _text(statement.due_on),
        "total_minor": statement.total_minor,
        "minimum_minor": statement.minimum_minor,
        "principal_lines": [
            [None if day is None else day.isoformat(), amount]
            for day, amount in statement.principal_lines
        ],
        "paid_minor": statement.paid_minor,
        "due_passed": statement.due_passed,
        "paid_in_full": statement.paid_in_full,
    }


def _statement(data: dict[str, Any]) -> Statement:
    return Statement(
        data["statement_id"],
        _date(data["cut_on"]),  # type: ignore[arg-type]
        _date(data["due_on"]),  # type: ignore[arg-type]
        data["total_minor"],
        data["minimum_minor"],
        [
            (None if day is None else _from_iso(day), amount)  # type: ignore[misc]
            for day, amount in data["principal_lines"]
        ],
        data["paid_minor"],
        data["due_passed"],
        data["paid_in_full"],
    )
