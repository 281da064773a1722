"""Deciding external events: each function checks a request against the account and its product
and returns the event that records the outcome, or raises a typed error. Nothing here writes.

Every function is pure: ``(state, product, business_date, request) -> Event``. The book applies
and stores the event; replay later needs only the event.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lendguard.errors import AccountStateError, InvalidDateError, InvalidEventError
from lendguard.ledger.calendar_rules import plan_due_dates
from lendguard.ledger.events import REVERSIBLE_KINDS, Event, EventKind
from lendguard.ledger.state import AccountState, Item
from lendguard.ledger.waterfall import allocate, order_items
from lendguard.money import check_positive, parse_minor
from lendguard.plans.apr import AprResult, percent_text
from lendguard.plans.instalment import build_instalment_plan
from lendguard.plans.interest import interest_minor
from lendguard.plans.schedule import RepaymentMethod, Schedule, build_schedule, reamortise
from lendguard.products.loader import ProductFile, loan_rate
from lendguard.products.model import Component, FeeRateCard, Product, ProductKind

_ID_PATTERN_MAX = 64


# --- shared checks ----------------------------------------------------------------------------


def check_id(value: object, what: str) -> str:
    """Caller-supplied ids (purchase, plan, payment) are short printable strings."""
    if (
        not isinstance(value, str)
        or not value
        or len(value) > _ID_PATTERN_MAX
        or not value.isprintable()
    ):
        raise InvalidEventError(
            f"{what} must be a non-empty printable string of at most "
            f"{_ID_PATTERN_MAX} characters, got {value!r}"
        )
    return value


def check_open(state: AccountState, action: str) -> None:
    """Refuse anything but recoveries on a closed or written-off account."""
    if state.status == "closed":
        raise AccountStateError(f"account {state.account_id} is closed: cannot {action}")
    if state.status == "written_off":
        raise AccountStateError(
            f"account {state.account_id} is written off: cannot {action} "
            "(repayments are recoveries)"
        )


def check_date(state: AccountState, business_date: dt.date) -> None:
    """Events may not predate the account or land on a business date already closed."""
    if business_date < state.opened_on:
        raise InvalidDateError(
            f"{business_date} is before account {state.account_id} opened ({state.opened_on})"
        )
    if business_date <= state.closed_through:
        raise InvalidDateError(
            f"{business_date} is on or before the last closed business date "
            f"{state.closed_through} of account {state.account_id}"
        )


def _check_kind(product: Product, kind: ProductKind, action: str) -> None:
    if product.kind is not kind:
        raise AccountStateError(f"{action} needs a {kind.value} product, not {product.kind.value}")


def _check_can_borrow(state: AccountState, amount_minor: int, action: str) -> None:
    check_open(state, action)
    if state.frozen:
        raise AccountStateError(f"account {state.account_id} is frozen: cannot {action}")
    if amount_minor > state.available_minor():
        raise AccountStateError(
            f"{action} of {amount_minor} exceeds the available line {state.available_minor()}"
        )


def _new_id(state: AccountState, prefix: str) -> str:
    """Item and plan ids from the sequence of the event that creates them: unique, stable."""
    return f"{prefix}{state.sequence + 1}"


def apr_data(apr: AprResult) -> dict[str, str]:
    """APR as stored with a plan: exact strings, with the convention named."""
    return {
        "nominal_percent": percent_text(apr.nominal_annual),
        "effective_percent": percent_text(apr.effective_annual),
        "periodic_irr": str(apr.periodic_irr),
        "convention": apr.convention,
    }


def _plan_data(plan_id: str, kind: str, schedule: Schedule, source: str) -> dict[str, Any]:
    return {
        "plan_id": plan_id,
        "plan_kind": kind,
        "method": schedule.method.value,
        "principal_minor": schedule.principal_minor,
        "periods": [
            {
                "number": p.number,
                "due_on": p.due_date.isoformat(),
                "principal_minor": p.principal_minor,
                "fee_minor": p.fee_minor,
                "interest_minor": p.interest_minor,
            }
            for p in schedule.periods
        ],
        "apr": apr_data(schedule.apr),
        "source": source,
    }


# --- opening ----------------------------------------------------------------------------------


def open_account(
    product_file: ProductFile,
    opened_on: dt.date,
    *,
    due_day: int | None = None,
    credit_limit_minor: int | None = None,
) -> Event:
    """The opening event: product version, limit, and for credit lines the billing days."""
    product = product_file.product
    rules = product.credit_line or product.cash_loan
    assert rules is not None
    product_limit = parse_minor(rules.credit_limit, product.currency)
    limit = (
        product_limit
        if credit_limit_minor is None
        else check_positive(credit_limit_minor, what="credit limit")
    )
    if limit > product_limit:
        raise InvalidEventError(f"credit limit {limit} exceeds the product maximum {product_limit}")
    data: dict[str, Any] = {
        "product_id": product_file.product_id,
        "product_version": product_file.version,
        "currency": product.currency,
        "credit_limit_minor": limit,
    }
    if product.credit_line is not None:
        choices = product.credit_line.due_day_choices
        chosen = choices[0] if due_day is None else due_day
        if chosen not in choices:
            raise InvalidEventError(f"due day {chosen} is not offered; choose one of {choices}")
        data |= {"statement_day": product.credit_line.statement_day, "due_day": chosen}
    elif due_day is not None:
        raise InvalidEventError("a cash loan's due day follows each draw's date; do not pass one")
    return Event(EventKind.OPENED, opened_on, data)


# --- borrowing --------------------------------------------------------------------------------


def purchase(
    state: AccountState, product: Product, day: dt.date, purchase_id: str, amount_minor: int
) -> Event:
    """A purchase on a credit line: unbilled principal until the next statement."""
    _check_kind(product, ProductKind.CREDIT_LINE, "a purchase")
    check_positive(amount_minor, what="purchase amount")
    check_id(purchase_id, "purchase id")
    if purchase_id in state.purchases:
        raise InvalidEventError(f"purchase {purchase_id} already exists on {state.account_id}")
    _check_can_borrow(state, amount_minor, "purchase")
    data = {
        "purchase_id": purchase_id,
        "amount_minor": amount_minor,
        "item_id": _new_id(state, "P"),
    }
    return Event(EventKind.PURCHASE, day, data)


def draw(
    state: AccountState, product: Product, day: dt.date, amount_minor: int, term: int, method: str
) -> Event:
    """A cash-loan draw: a new plan on the product's daily rate, its APR stored with it."""
    _check_kind(product, ProductKind.CASH_LOAN, "a draw")
    loan = product.cash_loan
    assert loan is not None
    check_positive(amount_minor, what="draw amount")
    if term not in loan.terms:
        raise InvalidEventError(f"term {term} is not offered; choose one of {loan.terms}")
    if method not in loan.methods:
        raise InvalidEventError(f"method {method!r} is not offered; choose one of {loan.methods}")
    draw_min = parse_minor(loan.draw_min, product.currency)
    if amount_minor < draw_min:
        raise InvalidEventError(f"draw {amount_minor} is below the minimum draw {draw_min}")
    _check_can_borrow(state, amount_minor, "draw")
    schedule = build_schedule(
        amount_minor,
        loan_rate(product),
        term,
        RepaymentMethod(method),
        day,
        currency=product.currency,
        rounding=product.rounding.interest,
        remainder=product.rounding.remainder_period,
    )
    plan_id = _new_id(state, "L")
    data = _plan_data(plan_id, "loan", schedule, plan_id)
    return Event(EventKind.DRAW, day, data)


# --- paying -----------------------------------------------------------------------------------


def open_statement_id(state: AccountState, day: dt.date) -> str | None:
    """The statement a payment today counts toward for the minimum-payment test."""
    candidates = [s for s in state.statements.values() if not s.due_passed and s.cut_on <= day]
    return max(candidates, key=lambda s: s.cut_on).statement_id if candidates else None


def repay(
    state: AccountState, product: Product, day: dt.date, amount_minor: int, payment_id: str
) -> Event:
    """A repayment: the waterfall settles billed items; any rest pays ahead or is held as credit.

    On a written-off account the money is a recovery (DOMAIN 4.17), not an allocation.
    """
    check_positive(amount_minor, what="repayment amount")
    check_id(payment_id, "payment id")
    if state.status == "written_off":
        return Event(
            EventKind.RECOVERY, day, {"payment_id": payment_id, "amount_minor": amount_minor}
        )
    check_open(state, "repay")
    pay_ahead = product.kind is ProductKind.CREDIT_LINE
    ordered = order_items(state.items.values(), product.waterfall, include_unbilled=pay_ahead)
    allocations, rest = allocate(amount_minor, ordered)
    data = {
        "payment_id": payment_id,
        "amount_minor": amount_minor,
        "allocations": allocations,
        "credit_minor": rest,
        "statement_id": open_statement_id(state, day),
    }
    return Event(EventKind.REPAYMENT, day, data)


def prepay(
    state: AccountState,
    product: Product,
    day: dt.date,
    plan_id: str,
    amount_minor: int | None,
    payment_id: str,
) -> Event:
    """Prepay a cash-loan plan: interest for the days used only (民法典 第677条, DOMAIN 2.5).

    Billed items must be settled first (they are, from the same payment, by the waterfall). With
    ``amount_minor=None`` the plan is paid off; otherwise the rest reduces principal and the
    remaining periods are re-amortised on the same due dates.
    """
    _check_kind(product, ProductKind.CASH_LOAN, "a prepayment")
    check_open(state, "prepay")
    check_id(payment_id, "payment id")
    plan = state.plans.get(plan_id)
    if plan is None:
        raise InvalidEventError(f"no open plan {plan_id!r} on account {state.account_id}")
    billed = order_items(state.items.values(), product.waterfall, include_unbilled=False)
    billed_total = sum(item.amount_minor for item in billed)
    accrued = interest_minor(
        plan.remaining_minor, plan.interest_from, day, loan_rate(product), product.rounding.interest
    )
    payoff = billed_total + accrued + plan.remaining_minor
    amount = payoff if amount_minor is None else check_positive(amount_minor, what="prepayment")
    if amount > payoff:
        raise InvalidEventError(f"prepayment {amount} exceeds the payoff amount {payoff}")
    if amount <= billed_total + accrued:
        raise InvalidEventError(
            f"prepayment {amount} does not reach principal: billed items {billed_total} and "
            f"interest to date {accrued} come first"
        )
    allocations, _ = allocate(billed_total, billed)
    principal = amount - billed_total - accrued
    periods = _reamortised_periods(plan, product, day, plan.remaining_minor - principal)
    data = {
        "payment_id": payment_id,
        "plan_id": plan_id,
        "amount_minor": amount,
        "allocations": allocations,
        "interest_minor": accrued,
        "principal_minor": principal,
        "periods": periods,
    }
    return Event(EventKind.PREPAYMENT, day, data)


def _reamortised_periods(
    plan: Any, product: Product, day: dt.date, principal_left: int
) -> list[dict[str, Any]]:
    if principal_left == 0:
        return []
    remaining = [p for p in plan.periods if not p.billed]
    schedule = reamortise(
        principal_left,
        loan_rate(product),
        plan.method,
        day,
        [p.due_on for p in remaining],
        currency=product.currency,
        rounding=product.rounding.interest,
        remainder=product.rounding.remainder_period,
        first_number=remaining[0].number,
    )
    return _plan_data(plan.plan_id, plan.kind, schedule, plan.source)["periods"]


def refund(
    state: AccountState, product: Product, day: dt.date, purchase_id: str, amount_minor: int
) -> Event:
    """A merchant refund against a purchase, even one converted to instalments.

    Order: the purchase's own unpaid principal item; then, for a converted purchase, the plan's
    unbilled principal from the last period backwards (a period refunded to zero loses its fee);
    whatever is left (the customer already paid it) is held as credit.
    """
    _check_kind(product, ProductKind.CREDIT_LINE, "a refund")
    check_open(state, "take a refund")
    check_positive(amount_minor, what="refund amount")
    record = state.purchases.get(purchase_id)
    if record is None:
        raise InvalidEventError(f"no purchase {purchase_id!r} on account {state.account_id}")
    refundable = record["amount_minor"] - record["refunded_minor"]
    if amount_minor > refundable:
        raise InvalidEventError(f"refund {amount_minor} exceeds the refundable {refundable}")
    items = [
        i
        for i in state.items.values()
        if i.source == purchase_id and i.component is Component.PRINCIPAL
    ]
    allocations, rest = allocate(amount_minor, items)
    reductions, rest = _plan_reductions(state, record.get("plan_id"), rest)
    data = {
        "purchase_id": purchase_id,
        "amount_minor": amount_minor,
        "allocations": allocations,
        "plan_reductions": reductions,
        "credit_minor": rest,
    }
    return Event(EventKind.REFUND, day, data)


def _plan_reductions(
    state: AccountState, plan_id: str | None, rest: int
) -> tuple[list[dict[str, Any]], int]:
    plan = state.plans.get(plan_id) if plan_id else None
    if plan is None:
        return [], rest
    reductions = []
    for period in reversed([p for p in plan.periods if not p.billed]):
        if rest == 0:
            break
        cut = min(rest, period.principal_minor)
        fee_cut = period.fee_minor if cut == period.principal_minor else 0
        reductions.append(
            {
                "plan_id": plan.plan_id,
                "number": period.number,
                "principal_minor": cut,
                "fee_minor": fee_cut,
            }
        )
        rest -= cut
    return reductions, rest


def charge_fee(
    state: AccountState, product: Product, day: dt.date, amount_minor: int, name: str
) -> Event:
    """A service fee: billed with the next statement on a credit line, due at once on a loan."""
    check_open(state, "charge a fee")
    check_positive(amount_minor, what="fee amount")
    due_on = None if product.kind is ProductKind.CREDIT_LINE else day
    item = Item(
        _new_id(state, "F"), Component.FEE, amount_minor, due_on, day, check_id(name, "fee name")
    )
    return Event(EventKind.FEE, day, {"item": item.to_data(amount_minor)})


def waive(
    state: AccountState,
    product: Product,
    day: dt.date,
    component: Component,
    amount_minor: int,
    reason: str,
) -> Event:
    """Waive part of a component (oldest first): a concession, recorded as an expense."""
    check_open(state, "waive")
    check_positive(amount_minor, what="waiver amount")
    items = [i for i in state.items.values() if i.component is component]
    items.sort(key=lambda i: (i.due_on or dt.date.max, i.posted_on, i.item_id))
    owed = sum(i.amount_minor for i in items)
    if amount_minor > owed:
        raise InvalidEventError(f"waiver {amount_minor} exceeds the {component.value} owed {owed}")
    allocations, _ = allocate(amount_minor, items)
    return Event(
        EventKind.WAIVER, day, {"allocations": allocations, "reason": check_id(reason, "reason")}
    )


# --- instalment conversions -------------------------------------------------------------------


def _instalment_plan(
    state: AccountState,
    product: Product,
    day: dt.date,
    card: FeeRateCard | None,
    principal_minor: int,
    term: int,
    what: str,
) -> Schedule:
    if card is None:
        raise AccountStateError(f"product {state.product_id} offers no {what}")
    if term not in card.fee_percent:
        raise InvalidEventError(
            f"{what} term {term} is not offered; choose one of {sorted(card.fee_percent)}"
        )
    assert state.statement_day is not None and state.due_day is not None
    due_dates = plan_due_dates(day, state.statement_day, state.due_day, term)
    return build_instalment_plan(
        principal_minor,
        term,
        card.fee_percent[term] / 100,
        due_dates[0],
        currency=product.currency,
        fee_rounding=product.rounding.fee,
        remainder=product.rounding.remainder_period,
        due_day=state.due_day,
    )


def convert_purchase(
    state: AccountState, product: Product, day: dt.date, purchase_id: str, term: int
) -> Event:
    """Purchase instalment (交易分期): an unbilled, unpaid purchase becomes a flat-fee plan."""
    _check_kind(product, ProductKind.CREDIT_LINE, "an instalment conversion")
    check_open(state, "convert to instalments")
    record = state.purchases.get(purchase_id)
    if record is None:
        raise InvalidEventError(f"no purchase {purchase_id!r} on account {state.account_id}")
    if record["plan_id"] is not None:
        raise AccountStateError(f"purchase {purchase_id} is already in instalments")
    items = [i for i in state.items.values() if i.source == purchase_id and i.due_on is None]
    if not items:
        raise AccountStateError(
            f"purchase {purchase_id} is billed or paid: convert the bill instead"
        )
    line = product.credit_line
    assert line is not None
    principal = sum(i.amount_minor for i in items)
    schedule = _instalment_plan(
        state, product, day, line.purchase_instalment, principal, term, "purchase instalment"
    )
    removed = [i.to_data(i.amount_minor) for i in items]
    data = _plan_data(_new_id(state, "IP"), "purchase-instalment", schedule, purchase_id)
    return Event(EventKind.INSTALMENT_CONVERSION, day, data | {"removed": removed})


def convert_bill(
    state: AccountState, product: Product, day: dt.date, statement_id: str, term: int
) -> Event:
    """Bill instalment (账单分期): the unpaid principal of a bill not yet due becomes a plan."""
    _check_kind(product, ProductKind.CREDIT_LINE, "a bill instalment")
    check_open(state, "convert a bill")
    statement = state.statements.get(statement_id)
    if statement is None:
        raise InvalidEventError(f"no statement {statement_id!r} on account {state.account_id}")
    if statement.due_passed or day > statement.due_on:
        raise AccountStateError(f"statement {statement_id} is past its due date {statement.due_on}")
    items = [
        i
        for i in state.items.values()
        if i.statement_id == statement_id and i.component is Component.PRINCIPAL
    ]
    principal = sum(i.amount_minor for i in items)
    if principal == 0:
        raise AccountStateError(f"statement {statement_id} has no unpaid principal to convert")
    line = product.credit_line
    assert line is not None
    schedule = _instalment_plan(
        state, product, day, line.bill_instalment, principal, term, "bill instalment"
    )
    removed = [i.to_data(i.amount_minor) for i in items]
    data = _plan_data(_new_id(state, "IB"), "bill-instalment", schedule, statement_id)
    return Event(EventKind.INSTALMENT_CONVERSION, day, data | {"removed": removed})


# --- corrections and status -------------------------------------------------------------------


def reverse(
    state: AccountState, day: dt.date, target_sequence: int, target: Event, reason: str
) -> Event:
    """Reverse a posted event (a bounced payment, a voided purchase) with a counter-event.

    On a written-off account only a recovery can be reversed (a bounced recovery payment); a
    closed account takes no reversal: either would bring back receivables nothing can collect.
    """
    if target_sequence in state.reversed_sequences:
        raise AccountStateError(f"event {target_sequence} is already reversed")
    if target.kind not in REVERSIBLE_KINDS:
        raise AccountStateError(
            f"a {target.kind.value} event cannot be reversed; post its "
            "counter-event instead (refund, waiver, ...)"
        )
    if target.kind is EventKind.RECOVERY:
        if state.status != "written_off":
            raise AccountStateError(f"account {state.account_id} is not written off")
    else:
        check_open(state, f"reverse a {target.kind.value}")
    _check_reversible(state, target)
    data = {
        "target_sequence": target_sequence,
        "reason": check_id(reason, "reason"),
        "target": {"kind": target.kind.value, "data": target.data},
    }
    return Event(EventKind.REVERSAL, day, data)


def _check_reversible(state: AccountState, target: Event) -> None:
    data = target.data
    if target.kind is EventKind.REPAYMENT and data["credit_minor"] > state.credit_minor:
        raise AccountStateError(
            "the credit this payment created is already used; it cannot be reversed"
        )
    if target.kind is EventKind.PURCHASE:
        item = state.items.get(data["item_id"])
        if item is None or item.amount_minor != data["amount_minor"] or item.due_on is not None:
            raise AccountStateError(
                "the purchase is billed, paid, refunded or converted: refund it"
            )
    if target.kind is EventKind.FEE:
        item = state.items.get(data["item"]["item_id"])
        if item is None or item.amount_minor != data["item"]["amount_minor"]:
            raise AccountStateError("the fee is already (partly) paid: waive it instead")


def pause(state: AccountState, day: dt.date, reason: str) -> Event:
    """Stop the delinquent-days clock and penalty (disaster relief, a dispute under review)."""
    check_open(state, "pause")
    if state.pauses and state.pauses[-1][1] is None:
        raise AccountStateError(f"account {state.account_id} is already paused")
    return Event(EventKind.PAUSE_STARTED, day, {"reason": check_id(reason, "reason")})


def resume(state: AccountState, day: dt.date) -> Event:
    """Restart the delinquent-days clock."""
    if not state.pauses or state.pauses[-1][1] is not None:
        raise AccountStateError(f"account {state.account_id} is not paused")
    return Event(EventKind.PAUSE_ENDED, day, {})


def close_account(state: AccountState, day: dt.date) -> Event:
    """Close an account that owes nothing and holds no credit."""
    check_open(state, "close")
    if state.balance_minor() or state.credit_minor or state.plans:
        raise AccountStateError(
            f"account {state.account_id} still owes {state.balance_minor()} or holds credit "
            f"{state.credit_minor}: settle it first"
        )
    return Event(EventKind.CLOSED, day, {})
