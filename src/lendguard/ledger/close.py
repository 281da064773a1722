"""Closing one business day for one account: the rules of the night, as events.

``close_day(state, rules, day)`` decides and applies, in this order, every event the end of
``day`` brings, then marks the day closed. It is the one implementation of these rules; the
nightly batch (issue 3) will run the same steps over batches of accounts.

1. Accrue for ``day``: penalty interest on items overdue during the day (after each item's grace
   days, not while paused) and revolving interest on carried credit-line principal.
2. Statements due on ``day``: paid in full -> interest-free; minimum paid -> the rest revolves;
   otherwise the unpaid minimum stays overdue and the rest revolves.
3. Delinquency as of ``day``: the two clocks, bucket, five-category class, IFRS 9 stage; a late fee
   on becoming delinquent; freeze and unfreeze; write-off at the configured days.
4. Prepare ``day + 1``: cut the statement dated tomorrow; bill loan instalments due tomorrow.
5. Apply held credit to anything billed. 6. Mark ``day`` closed.

Days past due (DOMAIN 4.19): day 1 is the day after the due date, counted from the oldest unpaid
principal, interest or fee item. Delinquent days are past-due days less the grace days and the
paused days since that due date; buckets, classes, stages, freeze and write-off use delinquent days.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, NamedTuple

from lendguard.delinquency.classification import classify_five, ifrs9_stage
from lendguard.ledger.calendar_rules import ONE_DAY, due_date_for_cut, is_statement_day
from lendguard.ledger.events import Event, EventKind
from lendguard.ledger.rules import ProductRules
from lendguard.ledger.state import AccountState, Item, apply
from lendguard.ledger.waterfall import allocate, order_items
from lendguard.money import round_minor
from lendguard.plans.interest import interest_minor
from lendguard.products.loader import loan_rate
from lendguard.products.model import Component, ProductKind


def close_day(state: AccountState, rules: ProductRules, day: dt.date) -> list[Event]:
    """Decide and apply the events of closing ``day``; ``state`` must be closed through day-1."""
    assert day == state.closed_through + ONE_DAY, (day, state.closed_through)
    events: list[Event] = []

    def emit(event: Event | None) -> None:
        if event is not None:
            apply(state, event)
            events.append(event)

    today: Clocks | None = None
    if state.status == "open":
        emit(_penalty(state, rules, day))
        emit(_revolving_interest(state, rules, day))
        for statement_id in _statements_due(state, day):
            emit(_due_date_passed(state, rules, day, statement_id))
            emit(_full_statement_interest(state, rules, day, statement_id))
        today = clocks(state, rules.product.overdue.grace_days, day)
        for step in _DELINQUENCY_STEPS:
            emit(step(state, rules, day, today))
    if state.status == "open":
        emit(_statement_cut(state, rules, day + ONE_DAY))
        for plan_id in list(state.plans):
            emit(_instalment_due(state, rules, plan_id, day + ONE_DAY))
        credit = _apply_credit(state, rules, day)
        if credit is not None:
            emit(credit)
            today = None  # paying overdue items moves the clocks
    emit(Event(EventKind.DAY_CLOSED, day, _clocks(state, rules, day, today)))
    return events


def close_through(state: AccountState, rules: ProductRules, through: dt.date) -> list[Event]:
    """Close every business day after the account's watermark up to ``through``."""
    events: list[Event] = []
    while state.closed_through < through:
        events.extend(close_day(state, rules, state.closed_through + ONE_DAY))
    return events


# --- 1. accruals ------------------------------------------------------------------------------


def paused_on(state: AccountState, day: dt.date) -> bool:
    """Whether ``day`` falls inside a pause (a pause starting on ``day`` covers it)."""
    return any(start <= day and (end is None or day < end) for start, end in state.pauses)


_ACCRUAL_PREFIX = {Component.PENALTY: "X", Component.INTEREST: "I"}


def _accrual_item(
    state: AccountState, component: Component, day: dt.date, amount: int, due_on: dt.date | None
) -> dict[str, Any]:
    """Accruals add to the open item of their kind, so a long delinquency is one item, not 180."""
    open_item = next(
        (
            i
            for i in state.items.values()
            if i.component is component
            and (i.due_on is None) == (due_on is None)
            and i.statement_id is None
        ),
        None,
    )
    item_id = (
        open_item.item_id if open_item else f"{_ACCRUAL_PREFIX[component]}{state.sequence + 1}"
    )
    posted = open_item.posted_on if open_item else day
    first_due = open_item.due_on if open_item else due_on
    return Item(item_id, component, amount, first_due, posted, "accrual").to_data(amount)


def _penalty(state: AccountState, rules: ProductRules, day: dt.date) -> Event | None:
    if paused_on(state, day):
        return None
    grace_days = rules.product.overdue.grace_days
    base = sum(
        item.amount_minor
        for item in state.items.values()
        if item.due_on is not None
        and (day - item.due_on).days > grace_days
        and item.component in rules.penalty_components
    )
    if base == 0:
        return None
    amount = round_minor(Decimal(base) * rules.penalty_daily_rate, rules.product.rounding.penalty)
    if amount == 0:
        return None
    item = _accrual_item(state, Component.PENALTY, day, amount, day)
    return Event(EventKind.PENALTY_ACCRUED, day, {"item": item, "base_minor": base})


def _revolving_interest(state: AccountState, rules: ProductRules, day: dt.date) -> Event | None:
    base = sum(item.amount_minor for item in state.items.values() if item.revolving)
    if base == 0:
        return None
    amount = round_minor(
        Decimal(base) * rules.revolving_daily_rate, rules.product.rounding.interest
    )
    if amount == 0:
        return None
    item = _accrual_item(state, Component.INTEREST, day, amount, None)
    return Event(EventKind.INTEREST_ACCRUED, day, {"item": item, "base_minor": base})


# --- 2. statement due dates -------------------------------------------------------------------


def _statements_due(state: AccountState, day: dt.date) -> list[str]:
    return [
        s.statement_id for s in state.statements.values() if s.due_on == day and not s.due_passed
    ]


def _due_date_passed(
    state: AccountState, rules: ProductRules, day: dt.date, statement_id: str
) -> Event:
    """Minimum-payment test of a statement at the end of its due date (DOMAIN 1.4, 9)."""
    statement = state.statements[statement_id]
    own = [i for i in state.items.values() if i.statement_id == statement_id]
    earlier = sum(
        i.amount_minor
        for i in state.items.values()
        if i.due_on is not None and i.due_on < statement.due_on and i.statement_id != statement_id
    )
    shortfall = max(0, statement.minimum_minor - statement.paid_minor - earlier)
    ordered = order_items(own, rules.product.waterfall, include_unbilled=False)
    taken, _ = allocate(shortfall, ordered)
    splits = []
    carried = {i.item_id for i in own}
    for allocation in taken:
        item = state.items[allocation["item_id"]]
        if allocation["amount_minor"] == item.amount_minor:
            carried.discard(item.item_id)
        else:
            splits.append(
                {
                    "item_id": item.item_id,
                    "overdue_item_id": f"{item.item_id}/{day:%Y%m%d}",
                    "overdue_minor": allocation["amount_minor"],
                }
            )
    data = {
        "statement_id": statement_id,
        "paid_in_full": not own,
        "shortfall_minor": shortfall,
        "splits": splits,
        "carried_item_ids": [i.item_id for i in own if i.item_id in carried],
    }
    return Event(EventKind.DUE_DATE_PASSED, day, data)


def _full_statement_interest(
    state: AccountState, rules: ProductRules, day: dt.date, statement_id: str
) -> Event | None:
    """With ``revolving_interest_base = "full-statement"`` (bank-card style, DOMAIN 9), a bill not
    paid in full loses its interest-free period: interest on each billed purchase from its posting
    day to the due date. Daily interest on the unpaid remainder then follows as usual."""
    line = rules.product.credit_line
    statement = state.statements[statement_id]
    if line is None or line.revolving_interest_base != "full-statement" or statement.paid_in_full:
        return None
    exact = sum(
        Decimal(amount) * rules.revolving_daily_rate * (statement.due_on - posted_on).days
        for posted_on, amount in statement.principal_lines
    )
    amount = round_minor(exact, rules.product.rounding.interest)
    if amount == 0:
        return None
    item = _accrual_item(state, Component.INTEREST, day, amount, None)
    return Event(EventKind.INTEREST_ACCRUED, day, {"item": item, "base": "full-statement"})


# --- 3. delinquency ---------------------------------------------------------------------------


class Clocks(NamedTuple):
    """The two delinquency clocks of an account at the end of a day, and where they start."""

    past_due_days: int
    delinquent_days: int
    oldest_due_on: dt.date | None = None


def clocks(state: AccountState, grace_days: int, day: dt.date) -> Clocks:
    """Past-due days and delinquent days as of the end of ``day``."""
    oldest = state.oldest_past_due_on(day)
    if oldest is None:
        return Clocks(0, 0)
    past_due_days = (day - oldest).days
    paused_days = (
        sum(
            1
            for offset in range(1, past_due_days + 1)
            if paused_on(state, oldest + dt.timedelta(offset))
        )
        if state.pauses
        else 0
    )
    return Clocks(past_due_days, max(0, past_due_days - grace_days - paused_days), oldest)


def _clocks(
    state: AccountState, rules: ProductRules, day: dt.date, known: Clocks | None
) -> dict[str, int]:
    """The clocks the day closes with. ``known`` are the clocks of the delinquency step, still
    true unless credit was applied since: the later steps (late fee, freeze, billing tomorrow)
    add nothing due before ``day``, and a write-off leaves the account closed with its clocks."""
    if state.status != "open":
        return {
            "past_due_days": state.delinquency.past_due_days,
            "delinquent_days": state.delinquency.delinquent_days,
        }
    past_due, delinquent, _ = known or clocks(state, rules.product.overdue.grace_days, day)
    return {"past_due_days": past_due, "delinquent_days": delinquent}


def _classification(
    state: AccountState, rules: ProductRules, day: dt.date, today: Clocks
) -> Event | None:
    past_due, delinquent, _ = today
    bucket = rules.buckets.bucket_for(delinquent).name
    five_category = classify_five(delinquent, rules.classification).value
    stage = ifrs9_stage(delinquent, rules.stages)
    current = state.delinquency
    if (bucket, five_category, stage) == (
        current.bucket,
        current.five_category,
        current.ifrs9_stage,
    ):
        return None
    status = {
        "past_due_days": past_due,
        "delinquent_days": delinquent,
        "bucket": bucket,
        "five_category": five_category,
        "ifrs9_stage": stage,
    }
    return Event(EventKind.DELINQUENCY_CHANGED, day, status)


def _late_fee(
    state: AccountState, rules: ProductRules, day: dt.date, today: Clocks
) -> Event | None:
    """One late fee per delinquency: per oldest past-due date, charged once it is past grace."""
    _, delinquent, oldest = today
    if delinquent == 0 or rules.late_fee_minor == 0 or oldest == state.late_fee_for_due_on:
        return None
    assert oldest is not None
    item = Item(
        f"LF{state.sequence + 1}", Component.LATE_FEE, rules.late_fee_minor, day, day, "late fee"
    )
    data = {"item": item.to_data(item.amount_minor), "for_due_on": oldest.isoformat()}
    return Event(EventKind.LATE_FEE_CHARGED, day, data)


def _freeze(state: AccountState, rules: ProductRules, day: dt.date, today: Clocks) -> Event | None:
    """Suspend the line once delinquent (DOMAIN 1.9, 2.9); restore on cure if configured."""
    overdue = rules.product.overdue
    delinquent = today.delinquent_days
    if delinquent >= overdue.freeze_after_days and not state.frozen:
        return Event(EventKind.FROZEN, day, {"delinquent_days": delinquent})
    if delinquent == 0 and state.frozen and overdue.unfreeze_on_cure:
        return Event(EventKind.UNFROZEN, day, {"reason": "cured"})
    return None


def _automatic_write_off(
    state: AccountState, rules: ProductRules, day: dt.date, today: Clocks
) -> Event | None:
    delinquent = today.delinquent_days
    if delinquent < rules.product.overdue.write_off_after_days:
        return None
    return write_off_event(state, day, "automatic", delinquent)


_DELINQUENCY_STEPS = (_classification, _late_fee, _freeze, _automatic_write_off)


def write_off_event(state: AccountState, day: dt.date, reason: str, delinquent_days: int) -> Event:
    """Write off everything owed: items and principal still inside plans (DOMAIN 4.17-4.18)."""
    allocations = [item.to_data(item.amount_minor) for item in state.items.values()]
    plan_principal = sum(plan.remaining_minor for plan in state.plans.values())
    amount = sum(a["amount_minor"] for a in allocations) + plan_principal
    past_due_days = clocks(state, 0, day).past_due_days
    data = {
        "allocations": allocations,
        "plan_ids": sorted(state.plans),
        "amount_minor": amount,
        "reason": reason,
        "past_due_days": past_due_days,
        "delinquent_days": delinquent_days,
    }
    return Event(EventKind.WRITE_OFF, day, data)


# --- 4. billing for tomorrow ------------------------------------------------------------------


def _plan_items(
    state: AccountState,
    rules: ProductRules,
    plan_id: str,
    due_on: dt.date,
    statement_id: str | None = None,
) -> dict[str, Any] | None:
    """The items of the plan period due on ``due_on``, or ``None`` if none is due then."""
    plan = state.plans[plan_id]
    period = plan.next_period()
    if period is None or period.due_on != due_on:
        return None
    is_last = all(p.billed or p is period for p in plan.periods)
    principal = (
        plan.remaining_minor if is_last else min(period.principal_minor, plan.remaining_minor)
    )
    interest = 0
    if plan.kind == "loan":
        interest = interest_minor(
            plan.remaining_minor,
            plan.interest_from,
            due_on,
            loan_rate(rules.product),
            rules.product.rounding.interest,
        )
    source = f"{plan_id}#{period.number}"
    items = [
        Item(
            f"{source}:{component.value}",
            component,
            amount,
            due_on,
            due_on - ONE_DAY,
            source,
            statement_id,
        )
        for component, amount in (
            (Component.PRINCIPAL, principal),
            (Component.INTEREST, interest),
            (Component.FEE, period.fee_minor),
        )
        if amount > 0
    ]
    return {
        "plan_id": plan_id,
        "number": period.number,
        "items": [item.to_data(item.amount_minor) for item in items],
    }


def _instalment_due(
    state: AccountState, rules: ProductRules, plan_id: str, tomorrow: dt.date
) -> Event | None:
    """Bill a loan period due tomorrow, so a payment on the due date finds it."""
    if rules.product.kind is not ProductKind.CASH_LOAN:
        return None
    entry = _plan_items(state, rules, plan_id, tomorrow)
    return Event(EventKind.INSTALMENT_DUE, tomorrow - ONE_DAY, entry) if entry else None


def _statement_cut(state: AccountState, rules: ProductRules, cut_on: dt.date) -> Event | None:
    """Cut tomorrow's statement: unbilled items posted before it, and plan periods due with it."""
    if state.statement_day is None or not is_statement_day(cut_on, state.statement_day):
        return None
    assert state.due_day is not None
    line = rules.product.credit_line
    assert line is not None
    due_on = due_date_for_cut(cut_on, state.due_day)
    unbilled = [i for i in state.items.values() if i.due_on is None]
    statement_id = f"S{cut_on:%Y%m%d}"
    billed = [
        entry
        for plan_id in list(state.plans)
        if (entry := _plan_items(state, rules, plan_id, due_on, statement_id))
    ]
    plan_amounts = sum(item["amount_minor"] for entry in billed for item in entry["items"])
    revolving_principal = sum(
        i.amount_minor for i in unbilled if i.component is Component.PRINCIPAL
    )
    other_new = sum(i.amount_minor for i in unbilled if i.component is not Component.PRINCIPAL)
    overdue = sum(i.amount_minor for i in state.items.values() if i.due_on is not None)
    total = revolving_principal + other_new + plan_amounts + overdue
    if total == 0:
        return None
    percent_part = round_minor(
        Decimal(revolving_principal) * line.minimum_payment_percent / 100,
        rules.product.rounding.interest,
    )
    minimum = min(total, percent_part + other_new + plan_amounts + overdue)
    data = {
        "statement_id": statement_id,
        "due_on": due_on.isoformat(),
        "item_ids": [i.item_id for i in unbilled],
        "principal_lines": [
            [i.posted_on.isoformat(), i.amount_minor]
            for i in unbilled
            if i.component is Component.PRINCIPAL and not i.revolving
        ],
        "billed": billed,
        "total_minor": total,
        "minimum_minor": minimum,
    }
    return Event(EventKind.STATEMENT_CUT, cut_on - ONE_DAY, data)


# --- 5. credit --------------------------------------------------------------------------------


def _apply_credit(state: AccountState, rules: ProductRules, day: dt.date) -> Event | None:
    if state.credit_minor == 0:
        return None
    ordered = order_items(state.items.values(), rules.product.waterfall, include_unbilled=False)
    allocations, _ = allocate(state.credit_minor, ordered)
    if not allocations:
        return None
    return Event(EventKind.CREDIT_APPLIED, day, {"allocations": allocations})
