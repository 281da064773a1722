"""The chart of accounts and the postings of every event.

Each event posts a balanced set of lines (debits positive, credits negative, sum zero per
currency), derived only from the event's recorded effects. A reversal posts the exact negation of
the event it reverses, so corrections are new entries and nothing is ever edited.

Chart of accounts (the lender's view of one customer account):

=============================  ==========  =====================================================
ledger account                 type        holds
=============================  ==========  =====================================================
asset:settlement               asset       cash in transit: money paid out to merchants/borrowers
                                           (credit) and received from borrowers (debit)
asset:receivable:principal     asset       principal owed, billed or not, including plans
asset:receivable:interest      asset       interest charged and unpaid
asset:receivable:fee           asset       instalment and service fees charged and unpaid
asset:receivable:penalty       asset       penalty interest charged and unpaid
asset:receivable:late_fee      asset       late fees charged and unpaid
liability:customer_credit      liability   overpayments and refunds held for the customer
income:interest / :fee /       income      revenue recognised when charged
:penalty / :late_fee
income:recovery                income      cash recovered after write-off
expense:concession             expense     waived amounts (a concession, not a payment)
expense:credit_loss            expense     amounts written off
=============================  ==========  =====================================================
"""

from __future__ import annotations

from typing import Any

from lendguard.ledger.events import Event, EventKind
from lendguard.products.model import Component

SETTLEMENT = "asset:settlement"
CUSTOMER_CREDIT = "liability:customer_credit"
RECOVERY_INCOME = "income:recovery"
CONCESSION_EXPENSE = "expense:concession"
CREDIT_LOSS_EXPENSE = "expense:credit_loss"

Posting = tuple[str, int]


def receivable(component: Component | str) -> str:
    """Ledger account of a receivable component."""
    return f"asset:receivable:{Component(component).value}"


def income(component: Component | str) -> str:
    """Ledger account of the income a component earns when charged."""
    return f"income:{Component(component).value}"


def postings(event: Event) -> list[Posting]:
    """The journal lines of ``event``; asserts they balance."""
    lines = _POSTERS.get(event.kind, _nothing)(event.data)
    lines = [(account, amount) for account, amount in lines if amount != 0]
    assert sum(amount for _, amount in lines) == 0, (event.kind, lines)
    return lines


def _nothing(data: dict[str, Any]) -> list[Posting]:
    return []


def _lend(data: dict[str, Any]) -> list[Posting]:
    amount = data["amount_minor"] if "amount_minor" in data else data["principal_minor"]
    return [(receivable(Component.PRINCIPAL), amount), (SETTLEMENT, -amount)]


def _credits(allocations: list[dict[str, Any]]) -> list[Posting]:
    return [(receivable(a["component"]), -a["amount_minor"]) for a in allocations]


def _repayment(data: dict[str, Any]) -> list[Posting]:
    return [
        (SETTLEMENT, data["amount_minor"]),
        *_credits(data["allocations"]),
        (CUSTOMER_CREDIT, -data["credit_minor"]),
    ]


def _prepayment(data: dict[str, Any]) -> list[Posting]:
    return [
        (SETTLEMENT, data["amount_minor"]),
        (income(Component.INTEREST), -data["interest_minor"]),
        (receivable(Component.PRINCIPAL), -data["principal_minor"]),
        *_credits(data.get("allocations", [])),
    ]


def _recovery(data: dict[str, Any]) -> list[Posting]:
    return [(SETTLEMENT, data["amount_minor"]), (RECOVERY_INCOME, -data["amount_minor"])]


def _refund(data: dict[str, Any]) -> list[Posting]:
    plan_principal = sum(cut["principal_minor"] for cut in data["plan_reductions"])
    return [
        (SETTLEMENT, data["amount_minor"]),
        *_credits(data["allocations"]),
        (receivable(Component.PRINCIPAL), -plan_principal),
        (CUSTOMER_CREDIT, -data["credit_minor"]),
    ]


def _charge(item: dict[str, Any]) -> list[Posting]:
    component = item["component"]
    return [
        (receivable(component), item["amount_minor"]),
        (income(component), -item["amount_minor"]),
    ]


def _fee(data: dict[str, Any]) -> list[Posting]:
    return _charge(data["item"])


def _waiver(data: dict[str, Any]) -> list[Posting]:
    total = sum(a["amount_minor"] for a in data["allocations"])
    return [(CONCESSION_EXPENSE, total), *_credits(data["allocations"])]


def _billed_charges(billed: list[dict[str, Any]]) -> list[Posting]:
    """Billing a plan period recognises its fee and interest; principal was lent already."""
    lines: list[Posting] = []
    for entry in billed:
        for item in entry["items"]:
            if item["component"] != Component.PRINCIPAL.value:
                lines.extend(_charge(item))
    return lines


def _statement_cut(data: dict[str, Any]) -> list[Posting]:
    return _billed_charges(data["billed"])


def _instalment_due(data: dict[str, Any]) -> list[Posting]:
    return _billed_charges([data])


def _credit_applied(data: dict[str, Any]) -> list[Posting]:
    total = sum(a["amount_minor"] for a in data["allocations"])
    return [(CUSTOMER_CREDIT, total), *_credits(data["allocations"])]


def _write_off(data: dict[str, Any]) -> list[Posting]:
    plan_principal = data["amount_minor"] - sum(a["amount_minor"] for a in data["allocations"])
    return [
        (CREDIT_LOSS_EXPENSE, data["amount_minor"]),
        *_credits(data["allocations"]),
        (receivable(Component.PRINCIPAL), -plan_principal),
    ]


def _accrued(data: dict[str, Any]) -> list[Posting]:
    return _charge(data["item"])


def _reversal(data: dict[str, Any]) -> list[Posting]:
    original = _POSTERS[EventKind(data["target"]["kind"])](data["target"]["data"])
    return [(account, -amount) for account, amount in original]


_POSTERS = {
    EventKind.PURCHASE: _lend,
    EventKind.DRAW: _lend,
    EventKind.REPAYMENT: _repayment,
    EventKind.PREPAYMENT: _prepayment,
    EventKind.RECOVERY: _recovery,
    EventKind.REFUND: _refund,
    EventKind.FEE: _fee,
    EventKind.WAIVER: _waiver,
    EventKind.STATEMENT_CUT: _statement_cut,
    EventKind.INSTALMENT_DUE: _instalment_due,
    EventKind.CREDIT_APPLIED: _credit_applied,
    EventKind.WRITE_OFF: _write_off,
    EventKind.INTEREST_ACCRUED: _accrued,
    EventKind.PENALTY_ACCRUED: _accrued,
    EventKind.LATE_FEE_CHARGED: _accrued,
    EventKind.REVERSAL: _reversal,
}
