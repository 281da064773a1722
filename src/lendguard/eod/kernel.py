"""The close-of-business kernel: a batch of account states closed, each failure kept apart.

Engines call this and nothing else for the rules: the embedded engine's workers and Spark's
executors on each partition (:func:`lendguard.eod.local.close_partition`), the online path
(``Book``) on a batch of one through the same :func:`lendguard.ledger.close.close_through`. An
account whose close raises is returned with its error (quarantined) and its state half-closed in
place: callers must throw that state away, never write it; the rest of the batch proceeds.

``INPUT_SCHEMA`` is the columnar form of states an engine can read instead of the store's
snapshots (Spark's ``input_path``): one row per account, the state as
snapshot JSON (:mod:`lendguard.ledger.snapshot`), rows in rising account id order.
"""

from __future__ import annotations

import datetime as dt
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pyarrow as pa

from lendguard.ledger.close import close_through
from lendguard.ledger.events import Event
from lendguard.ledger.rules import ProductRules, rules_for
from lendguard.ledger.state import AccountState
from lendguard.products.loader import load_product_text

INPUT_SCHEMA = pa.schema([("account_id", pa.string()), ("state", pa.string())])


@dataclass(frozen=True)
class Outcome:
    """One account after the kernel: its new state and events, or the error that stopped it."""

    account_id: str
    sequence_before: int
    state: AccountState
    events: list[Event]
    error: str | None = None


def product_key(product_id: str, version: str) -> str:
    """How a product version is named in a run's product table."""
    return f"{product_id}@{version}"


def rules_table(product_texts: Mapping[str, str]) -> dict[str, ProductRules]:
    """Rules per product key, from the exact stored product texts (validated once per batch)."""
    return {
        key: rules_for(load_product_text(text, origin=key)) for key, text in product_texts.items()
    }


def close_states(
    states: Iterable[AccountState], rules: Mapping[str, ProductRules], through: dt.date
) -> list[Outcome]:
    """Close each state through ``through`` (in place); failures are caught per account."""
    outcomes = []
    for state in states:
        before = state.sequence
        try:
            key = product_key(state.product_id, state.product_version)
            events = close_through(state, rules[key], through)
        except Exception as error:  # quarantine: one bad account must not stop the book
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            outcomes.append(Outcome(state.account_id, before, state, [], detail))
            continue
        outcomes.append(Outcome(state.account_id, before, state, events))
    return outcomes
