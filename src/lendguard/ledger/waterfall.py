"""Repayment allocation: which receivables a payment settles, in the product's configured order.

The order is data (``[waterfall]`` in the product file, DOMAIN 5.9): a component order and a
grouping. ``component`` grouping settles every penalty before any fee, and so on, oldest due item
first within a component; ``due-date`` grouping settles the oldest due date first, components in
order within it. Items not yet billed come last, oldest posting first, and only if the caller
allows paying ahead. Ties break on the item id, so allocation is deterministic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from lendguard.ledger.state import Item
from lendguard.products.model import WaterfallRules

_FAR_FUTURE = dt.date.max


def order_items(
    items: Iterable[Item], rules: WaterfallRules, *, include_unbilled: bool
) -> list[Item]:
    """Items in the order a payment settles them."""
    rank = {component: position for position, component in enumerate(rules.order)}
    billed = [item for item in items if item.due_on is not None and item.amount_minor > 0]
    if rules.group_by == "component":
        billed.sort(key=lambda i: (rank[i.component], i.due_on, i.posted_on, i.item_id))
    else:
        billed.sort(key=lambda i: (i.due_on, rank[i.component], i.posted_on, i.item_id))
    if not include_unbilled:
        return billed
    unbilled = [item for item in items if item.due_on is None and item.amount_minor > 0]
    unbilled.sort(key=lambda i: (i.posted_on, rank[i.component], i.item_id))
    return billed + unbilled


def allocate(amount_minor: int, ordered: list[Item]) -> tuple[list[dict[str, Any]], int]:
    """Settle ``ordered`` items with ``amount_minor``; returns allocations and the unused rest.

    Every unit is either allocated or returned: ``sum(allocations) + rest == amount_minor``.
    """
    assert amount_minor >= 0
    allocations = []
    rest = amount_minor
    for item in ordered:
        if rest == 0:
            break
        paid = min(rest, item.amount_minor)
        allocations.append(item.to_data(paid))
        rest -= paid
    return allocations, rest
