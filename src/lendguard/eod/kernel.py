"""The close-of-business kernel: a batch of account states in, closed states and events out.

Engines call this and nothing else for the rules: the embedded engine on partitions in worker
processes, Spark on executors through ``mapInArrow``, the online path (``Book``) on a batch of one
through the same :func:`lendguard.ledger.close.close_through`. An account whose close raises is
returned with its error (quarantined) and its state half-closed in place: callers must throw that
state away, never write it; the rest of the batch proceeds.

Arrow layout of a batch (``INPUT_SCHEMA`` -> ``OUTPUT_SCHEMA``): one row per account, the state as
snapshot JSON (:mod:`lendguard.ledger.snapshot`), the events of the night as a JSON list in the
stored form (kind, business_date, data). Both are read and written with the snapshot module's
codec (:func:`~lendguard.ledger.snapshot.dumps`): texts compare by value, not byte for byte.
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
from lendguard.ledger.snapshot import dumps, state_from_text, state_to_text
from lendguard.ledger.state import AccountState
from lendguard.products.loader import load_product_text

INPUT_SCHEMA = pa.schema([("account_id", pa.string()), ("state", pa.string())])
OUTPUT_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("sequence_before", pa.int64()),
        ("state", pa.string()),
        ("events", pa.string()),
        ("error", pa.string()),
    ]
)


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


def event_data(event: Event) -> dict[str, object]:
    """An event as the kernel ships it between processes."""
    return {
        "kind": event.kind.value,
        "business_date": event.business_date.isoformat(),
        "data": event.data,
    }


def close_arrow_batch(
    batch: pa.RecordBatch, rules: Mapping[str, ProductRules], through: dt.date
) -> pa.RecordBatch:
    """The kernel on an Arrow batch of ``INPUT_SCHEMA``; returns ``OUTPUT_SCHEMA``.

    A state that does not parse is an error of its own row (a corrupted snapshot), not of the
    batch.
    """
    columns = batch.to_pydict()
    rows: dict[str, list[object]] = {name: [] for name in OUTPUT_SCHEMA.names}
    for account_id, text in zip(columns["account_id"], columns["state"], strict=True):
        state, error = _parse_state(text)
        if state is None:
            _append(rows, account_id, -1, text, "[]", error)
            continue
        (outcome,) = close_states([state], rules, through)
        if outcome.error is not None:
            _append(rows, account_id, outcome.sequence_before, text, "[]", outcome.error)
            continue
        events = dumps([event_data(event) for event in outcome.events])
        new_state = state_to_text(outcome.state)
        _append(rows, account_id, outcome.sequence_before, new_state, events, None)
    return pa.RecordBatch.from_pydict(rows, schema=OUTPUT_SCHEMA)


def _parse_state(text: str | None) -> tuple[AccountState | None, str]:
    try:
        state = state_from_text(text or "")
    except (ValueError, KeyError, TypeError, AssertionError) as error:
        return None, f"unreadable snapshot: {type(error).__name__}: {error}"
    if state is None:
        return None, "snapshot of another layout version"
    return state, ""


def _append(
    rows: dict[str, list[object]],
    account_id: str,
    sequence_before: int,
    state: str | None,
    events: str,
    error: str | None,
) -> None:
    rows["account_id"].append(account_id)
    rows["sequence_before"].append(sequence_before)
    rows["state"].append(state)
    rows["events"].append(events)
    rows["error"].append(error)
