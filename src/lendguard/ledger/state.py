"""What an account holds, and ``apply``: the one function that folds an event into state.

State is never edited any other way, so ``fold(events)`` after a restart gives exactly the state
the live service had. ``apply`` only executes the effects an event records; it decides nothing.
Broken invariants (a negative balance, an unknown item) raise ``AssertionError``: they are bugs.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from lendguard.delinquency.buckets import BucketSpell, track_bucket
from lendguard.ledger.events import Event, EventKind, parse_date
from lendguard.products.model import Component

PAST_DUE_COMPONENTS = frozenset({Component.PRINCIPAL, Component.INTEREST, Component.FEE})
"""Components whose unpaid due items start the days-past-due clock (DOMAIN 4.19). Penalty and late
fees are consequences of delinquency, so they never start a clock of their own."""


@dataclass(slots=True)
class Item:
    """A receivable: an amount of one component, due on a date (``None`` = not billed yet)."""

    item_id: str
    component: Component
    amount_minor: int
    due_on: dt.date | None
    posted_on: dt.date
    source: str
    statement_id: str | None = None
    revolving: bool = False

    def clone(self) -> Item:
        """A copy; built directly because ``copy.copy`` of a slotted class is slow."""
        return Item(
            self.item_id,
            self.component,
            self.amount_minor,
            self.due_on,
            self.posted_on,
            self.source,
            self.statement_id,
            self.revolving,
        )

    def to_data(self, amount_minor: int) -> dict[str, Any]:
        """The item's identity with an amount, as events record it (a reversal restores it)."""
        return {
            "item_id": self.item_id,
            "component": self.component.value,
            "amount_minor": amount_minor,
            "due_on": None if self.due_on is None else self.due_on.isoformat(),
            "posted_on": self.posted_on.isoformat(),
            "source": self.source,
            "statement_id": self.statement_id,
            "revolving": self.revolving,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Item:
        return cls(
            item_id=data["item_id"],
            component=Component(data["component"]),
            amount_minor=data["amount_minor"],
            due_on=parse_date(data["due_on"]),
            posted_on=dt.date.fromisoformat(data["posted_on"]),
            source=data["source"],
            statement_id=data.get("statement_id"),
            revolving=data.get("revolving", False),
        )


@dataclass(slots=True)
class PlanPeriod:
    """One period of a plan. Loans compute interest when the period falls due (actual days)."""

    number: int
    due_on: dt.date
    principal_minor: int
    fee_minor: int
    interest_minor: int
    billed: bool = False


@dataclass(slots=True)
class Plan:
    """A repayment plan: a cash-loan draw, a purchase instalment or a bill instalment."""

    plan_id: str
    kind: str
    method: str
    principal_minor: int
    remaining_minor: int
    periods: list[PlanPeriod]
    interest_from: dt.date
    apr: dict[str, str]
    source: str
    closed: bool = False

    def next_period(self) -> PlanPeriod | None:
        return next((period for period in self.periods if not period.billed), None)


@dataclass(slots=True)
class Statement:
    """A monthly bill of a credit line."""

    statement_id: str
    cut_on: dt.date
    due_on: dt.date
    total_minor: int
    minimum_minor: int
    principal_lines: list[tuple[dt.date, int]] = field(default_factory=list)
    paid_minor: int = 0
    due_passed: bool = False
    paid_in_full: bool = False


@dataclass(slots=True)
class Delinquency:
    """Two clocks: past-due days (calendar) and delinquent days (after grace, pauses excluded)."""

    past_due_days: int = 0
    delinquent_days: int = 0
    bucket: str = "M0"
    five_category: str = "normal"
    ifrs9_stage: int = 1


@dataclass(slots=True)
class AccountState:
    """The whole state of one account after its last applied event."""

    account_id: str
    product_id: str
    product_version: str
    currency: str
    opened_on: dt.date
    credit_limit_minor: int
    statement_day: int | None
    due_day: int | None
    closed_through: dt.date
    status: str = "open"
    frozen: bool = False
    sequence: int = 0
    items: dict[str, Item] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)
    statements: dict[str, Statement] = field(default_factory=dict)
    purchases: dict[str, dict[str, Any]] = field(default_factory=dict)
    credit_minor: int = 0
    recovered_minor: int = 0
    written_off_minor: int = 0
    pauses: list[list[dt.date | None]] = field(default_factory=list)
    delinquency: Delinquency = field(default_factory=Delinquency)
    bucket_history: tuple[BucketSpell, ...] = ()
    reversed_sequences: set[int] = field(default_factory=set)
    late_fee_for_due_on: dt.date | None = None
    """Oldest past-due date of the delinquency a late fee was last charged for."""

    def copy(self) -> AccountState:
        """An independent copy (to restore if a decision is refused after a catch-up).

        Written out rather than ``copy.deepcopy``: it runs on the request path, and copying each
        mutable part once is an order of magnitude cheaper than a generic deep copy.
        """
        return replace(
            self,
            items={key: item.clone() for key, item in self.items.items()},
            plans={
                key: replace(plan, periods=[copy.copy(period) for period in plan.periods])
                for key, plan in self.plans.items()
            },
            statements={
                key: replace(statement, principal_lines=list(statement.principal_lines))
                for key, statement in self.statements.items()
            },
            purchases={key: dict(record) for key, record in self.purchases.items()},
            pauses=[list(pause) for pause in self.pauses],
            delinquency=copy.copy(self.delinquency),
            reversed_sequences=set(self.reversed_sequences),
        )

    def principal_outstanding_minor(self) -> int:
        """Principal owed: billed and unbilled items plus principal still inside plans."""
        items = sum(
            i.amount_minor for i in self.items.values() if i.component is Component.PRINCIPAL
        )
        return items + sum(plan.remaining_minor for plan in self.plans.values())

    def balance_minor(self, component: Component | None = None) -> int:
        """Everything owed (or one component), including principal inside plans."""
        if component is Component.PRINCIPAL:
            return self.principal_outstanding_minor()
        owed = sum(
            item.amount_minor
            for item in self.items.values()
            if component is None or item.component is component
        )
        if component is None:
            owed += sum(plan.remaining_minor for plan in self.plans.values())
        return owed

    def balances_minor(self) -> dict[Component, int]:
        """Every component's balance in one pass: the same figures as ``balance_minor(c)`` for
        each ``c`` (a property test holds them equal), at the cost of one of those calls; the
        nightly snapshot reads all of them for every account."""
        owed = dict.fromkeys(Component, 0)
        for item in self.items.values():
            owed[item.component] += item.amount_minor
        owed[Component.PRINCIPAL] += sum(plan.remaining_minor for plan in self.plans.values())
        return owed

    def available_minor(self) -> int:
        """Unused line: limit minus principal owed (never negative)."""
        return max(0, self.credit_limit_minor - self.principal_outstanding_minor())

    def oldest_past_due_on(self, business_date: dt.date) -> dt.date | None:
        """Due date of the oldest unpaid item that started a clock, as of ``business_date``."""
        dates = [
            item.due_on
            for item in self.items.values()
            if item.due_on is not None
            and item.due_on < business_date
            and item.component in PAST_DUE_COMPONENTS
            and item.amount_minor > 0
        ]
        return min(dates, default=None)


# --- the fold ---------------------------------------------------------------------------------


def fold(events: Iterable[Event], account_id: str) -> AccountState:
    """State from nothing: the first event must open the account."""
    state: AccountState | None = None
    for event in events:
        if state is None:
            assert event.kind is EventKind.OPENED, f"first event of {account_id} is {event.kind}"
            state = _opened(account_id, event)
            continue
        apply(state, event)
    assert state is not None, f"account {account_id} has no events"
    return state


def apply(state: AccountState, event: Event) -> None:
    """Fold one event into ``state`` in place (``state.copy()`` first to keep the original)."""
    state.sequence += 1
    _HANDLERS[event.kind](state, event.data, event.business_date)


def _opened(account_id: str, event: Event) -> AccountState:
    data = event.data
    opened_on = event.business_date
    return AccountState(
        account_id=account_id,
        product_id=data["product_id"],
        product_version=data["product_version"],
        currency=data["currency"],
        opened_on=opened_on,
        credit_limit_minor=data["credit_limit_minor"],
        statement_day=data.get("statement_day"),
        due_day=data.get("due_day"),
        closed_through=opened_on - dt.timedelta(days=1),
        sequence=1,
    )


def add_item(state: AccountState, item: Item) -> None:
    """Add to an item of the same id, or create it."""
    assert item.amount_minor >= 0, item
    existing = state.items.get(item.item_id)
    if existing is None:
        state.items[item.item_id] = item
    else:
        existing.amount_minor += item.amount_minor


def reduce_item(state: AccountState, item_id: str, amount_minor: int) -> None:
    """Lower an item's outstanding amount; a fully paid item leaves the state."""
    item = state.items[item_id]
    assert 0 <= amount_minor <= item.amount_minor, (item, amount_minor)
    item.amount_minor -= amount_minor
    if item.amount_minor == 0:
        del state.items[item_id]


def _apply_allocations(state: AccountState, allocations: list[dict[str, Any]]) -> None:
    for allocation in allocations:
        reduce_item(state, allocation["item_id"], allocation["amount_minor"])


def _restore_allocations(
    state: AccountState, allocations: list[dict[str, Any]], day: dt.date
) -> None:
    """Give back what a reversed payment or waiver settled, as it was when settled.

    The amount returns with its original due date and statement: a bounced payment never paid
    anything, so what it covered is owed from its own due date (and is past due if that date has
    gone). If the item has since moved on (carried to a later bill), the amount returns as an item
    of its own rather than inheriting the later due date.
    """
    for allocation in allocations:
        restored = Item.from_data(allocation)
        if restored.due_on is not None and restored.due_on < day:
            restored.revolving = False
        existing = state.items.get(restored.item_id)
        if existing is not None and (existing.due_on, existing.statement_id) != (
            restored.due_on,
            restored.statement_id,
        ):
            restored.item_id = f"{restored.item_id}@{state.sequence}"
        add_item(state, restored)


def _purchase(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    amount = data["amount_minor"]
    state.purchases[data["purchase_id"]] = {
        "amount_minor": amount,
        "refunded_minor": 0,
        "plan_id": None,
    }
    add_item(
        state, Item(data["item_id"], Component.PRINCIPAL, amount, None, day, data["purchase_id"])
    )


def _periods_from_data(periods: list[dict[str, Any]]) -> list[PlanPeriod]:
    return [
        PlanPeriod(
            p["number"],
            dt.date.fromisoformat(p["due_on"]),
            p["principal_minor"],
            p["fee_minor"],
            p["interest_minor"],
        )
        for p in periods
    ]


def _plan_from_data(data: dict[str, Any], day: dt.date) -> Plan:
    periods = _periods_from_data(data["periods"])
    return Plan(
        plan_id=data["plan_id"],
        kind=data["plan_kind"],
        method=data["method"],
        principal_minor=data["principal_minor"],
        remaining_minor=data["principal_minor"],
        periods=periods,
        interest_from=day,
        apr=data["apr"],
        source=data["source"],
    )


def _draw(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    state.plans[data["plan_id"]] = _plan_from_data(data, day)


def _repayment(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    _apply_allocations(state, data["allocations"])
    state.credit_minor += data["credit_minor"]
    _count_statement_payment(state, data.get("statement_id"), data["amount_minor"])


def _count_statement_payment(state: AccountState, statement_id: str | None, amount: int) -> None:
    if statement_id is not None:
        state.statements[statement_id].paid_minor += amount


def _prepayment(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    _apply_allocations(state, data["allocations"])
    plan = state.plans[data["plan_id"]]
    assert data["principal_minor"] <= plan.remaining_minor
    plan.remaining_minor -= data["principal_minor"]
    plan.interest_from = day
    billed_periods = [p for p in plan.periods if p.billed]
    plan.periods = billed_periods + _periods_from_data(data["periods"])
    if plan.remaining_minor == 0:
        plan.closed = True
        del state.plans[plan.plan_id]


def _recovery(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    state.recovered_minor += data["amount_minor"]


def _refund(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    _apply_allocations(state, data["allocations"])
    for cut in data["plan_reductions"]:
        plan = state.plans[cut["plan_id"]]
        period = next(p for p in plan.periods if p.number == cut["number"])
        period.principal_minor -= cut["principal_minor"]
        period.fee_minor -= cut["fee_minor"]
        plan.remaining_minor -= cut["principal_minor"]
        assert period.principal_minor >= 0 and period.fee_minor >= 0 and plan.remaining_minor >= 0
        if plan.remaining_minor == 0 and all(p.billed or p.fee_minor == 0 for p in plan.periods):
            del state.plans[plan.plan_id]
    state.credit_minor += data["credit_minor"]
    state.purchases[data["purchase_id"]]["refunded_minor"] += data["amount_minor"]


def _fee(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    add_item(state, Item.from_data(data["item"]))


def _waiver(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    _apply_allocations(state, data["allocations"])


def _conversion(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    _apply_allocations(state, data["removed"])
    state.plans[data["plan_id"]] = _plan_from_data(data, day)
    if data["plan_kind"] == "purchase-instalment":
        state.purchases[data["source"]]["plan_id"] = data["plan_id"]


def _reversal(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    target = data["target"]
    state.reversed_sequences.add(data["target_sequence"])
    kind = EventKind(target["kind"])
    effects = target["data"]
    if kind is EventKind.REPAYMENT:
        _restore_allocations(state, effects["allocations"], day)
        assert state.credit_minor >= effects["credit_minor"]
        state.credit_minor -= effects["credit_minor"]
        statement = state.statements.get(effects.get("statement_id") or "")
        if statement is not None and not statement.due_passed:
            statement.paid_minor -= effects["amount_minor"]
    elif kind is EventKind.PURCHASE:
        reduce_item(state, effects["item_id"], effects["amount_minor"])
        del state.purchases[effects["purchase_id"]]
    elif kind is EventKind.FEE:
        reduce_item(state, effects["item"]["item_id"], effects["item"]["amount_minor"])
    elif kind is EventKind.WAIVER:
        _restore_allocations(state, effects["allocations"], day)
    elif kind is EventKind.RECOVERY:
        state.recovered_minor -= effects["amount_minor"]
    else:
        raise AssertionError(f"reversal of {kind} reached the fold")


def _pause_started(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    state.pauses.append([day, None])


def _pause_ended(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    assert state.pauses and state.pauses[-1][1] is None
    state.pauses[-1][1] = day


def _write_off(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    _apply_allocations(state, data["allocations"])
    for plan_id in data["plan_ids"]:
        del state.plans[plan_id]
    state.written_off_minor += data["amount_minor"]
    state.delinquency.past_due_days = data["past_due_days"]
    state.delinquency.delinquent_days = data["delinquent_days"]
    state.status = "written_off"
    state.frozen = True


def _closed(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    state.status = "closed"


def _statement_cut(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    statement = data["statement_id"]
    due_on = dt.date.fromisoformat(data["due_on"])
    for item_id in data["item_ids"]:
        item = state.items[item_id]
        item.due_on, item.statement_id = due_on, statement  # revolving principal keeps accruing
    _bill_periods(state, data["billed"])
    lines = [(dt.date.fromisoformat(posted), amount) for posted, amount in data["principal_lines"]]
    state.statements[statement] = Statement(
        statement,
        day + dt.timedelta(days=1),
        due_on,
        data["total_minor"],
        data["minimum_minor"],
        lines,
    )


def _bill_periods(state: AccountState, billed: list[dict[str, Any]]) -> None:
    for entry in billed:
        plan = state.plans[entry["plan_id"]]
        period = next(p for p in plan.periods if p.number == entry["number"])
        period.billed = True
        for item in entry["items"]:
            add_item(state, Item.from_data(item))
            if item["component"] == Component.PRINCIPAL.value:
                plan.remaining_minor -= item["amount_minor"]
        plan.interest_from = period.due_on
        assert plan.remaining_minor >= 0
        if plan.next_period() is None:
            assert plan.remaining_minor == 0, plan
            del state.plans[plan.plan_id]


def _instalment_due(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    _bill_periods(state, [data])


def _due_date_passed(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    statement = state.statements[data["statement_id"]]
    statement.due_passed = True
    statement.paid_in_full = data["paid_in_full"]
    for split in data["splits"]:
        item = state.items[split["item_id"]]
        overdue = item.clone()
        overdue.item_id, overdue.amount_minor = split["overdue_item_id"], split["overdue_minor"]
        reduce_item(state, item.item_id, split["overdue_minor"])
        add_item(state, overdue)
    carried = set(data["carried_item_ids"])
    for item in state.items.values():
        if item.statement_id != statement.statement_id:
            continue
        if item.item_id in carried:
            item.due_on, item.statement_id = None, None
            item.revolving = item.component is Component.PRINCIPAL
        else:
            item.revolving = False  # overdue now: penalty interest, not revolving interest


def _accrued(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    add_item(state, Item.from_data(data["item"]))


def _late_fee_charged(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    add_item(state, Item.from_data(data["item"]))
    state.late_fee_for_due_on = dt.date.fromisoformat(data["for_due_on"])


def _credit_applied(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    _apply_allocations(state, data["allocations"])
    total = sum(a["amount_minor"] for a in data["allocations"])
    assert total <= state.credit_minor
    state.credit_minor -= total


def _delinquency_changed(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    state.delinquency = Delinquency(
        data["past_due_days"],
        data["delinquent_days"],
        data["bucket"],
        data["five_category"],
        data["ifrs9_stage"],
    )
    state.bucket_history = track_bucket(state.bucket_history, data["bucket"], day)


def _frozen(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    state.frozen = True


def _unfrozen(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    state.frozen = False


def _day_closed(state: AccountState, data: dict[str, Any], day: dt.date) -> None:
    assert day == state.closed_through + dt.timedelta(days=1), (day, state.closed_through)
    state.closed_through = day
    state.delinquency.past_due_days = data["past_due_days"]
    state.delinquency.delinquent_days = data["delinquent_days"]


_HANDLERS: dict[EventKind, Callable[[AccountState, dict[str, Any], dt.date], None]] = {
    EventKind.PURCHASE: _purchase,
    EventKind.DRAW: _draw,
    EventKind.REPAYMENT: _repayment,
    EventKind.PREPAYMENT: _prepayment,
    EventKind.RECOVERY: _recovery,
    EventKind.REFUND: _refund,
    EventKind.FEE: _fee,
    EventKind.WAIVER: _waiver,
    EventKind.INSTALMENT_CONVERSION: _conversion,
    EventKind.REVERSAL: _reversal,
    EventKind.PAUSE_STARTED: _pause_started,
    EventKind.PAUSE_ENDED: _pause_ended,
    EventKind.WRITE_OFF: _write_off,
    EventKind.CLOSED: _closed,
    EventKind.STATEMENT_CUT: _statement_cut,
    EventKind.INSTALMENT_DUE: _instalment_due,
    EventKind.DUE_DATE_PASSED: _due_date_passed,
    EventKind.INTEREST_ACCRUED: _accrued,
    EventKind.PENALTY_ACCRUED: _accrued,
    EventKind.LATE_FEE_CHARGED: _late_fee_charged,
    EventKind.CREDIT_APPLIED: _credit_applied,
    EventKind.DELINQUENCY_CHANGED: _delinquency_changed,
    EventKind.FROZEN: _frozen,
    EventKind.UNFROZEN: _unfrozen,
    EventKind.DAY_CLOSED: _day_closed,
}
assert set(_HANDLERS) == set(EventKind) - {EventKind.OPENED}
