"""What a close-of-business run publishes per business date: account snapshots and a change feed.

Layout (Hive partitions, so Spark and ``pyarrow.dataset`` read each folder's date as a column)::

    OUT/snapshots/business_date=YYYY-MM-DD/part-NNNNN.parquet
    OUT/changes/business_date=YYYY-MM-DD/part-NNNNN.parquet

``business_date`` lives only in the folder name: a file that also held it would clash with the
partition column for every Hive reader. ``NNNNN`` is the run's partition number (accounts in id
order), and each part is written to a hidden temporary name, synced, then renamed over the old
one: a reader sees the old part or the new one, never half of either, and a rerun of the same date
replaces the same names with identical bytes. Rows are sorted (account, then sequence), so the
bytes depend only on the ledger.

The change feed holds the night's system events a downstream consumer acts on (statements, due
instalments, delinquency, freezes, write-offs), with a ``change`` column for delinquency moves.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from lendguard.ledger.events import Event, EventKind
from lendguard.ledger.state import AccountState

SNAPSHOTS = "snapshots"
CHANGES = "changes"
FEEDS = (SNAPSHOTS, CHANGES)

SNAPSHOT_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("product_id", pa.string()),
        ("kind", pa.string()),
        ("status", pa.string()),
        ("frozen", pa.bool_()),
        ("principal_minor", pa.int64()),
        ("interest_minor", pa.int64()),
        ("fee_minor", pa.int64()),
        ("penalty_minor", pa.int64()),
        ("late_fee_minor", pa.int64()),
        ("total_minor", pa.int64()),
        ("credit_minor", pa.int64()),
        ("available_minor", pa.int64()),
        ("past_due_days", pa.int32()),
        ("delinquent_days", pa.int32()),
        ("bucket", pa.string()),
        ("five_category", pa.string()),
        ("ifrs9_stage", pa.int8()),
        ("closed_through", pa.date32()),
        ("limit_minor", pa.int64()),
        ("overdue_minor", pa.int64()),
        ("opened_on", pa.date32()),
    ]
)
"""Columns after ``closed_through`` were added for the scoring features (append-only: readers of
older files select the columns they know)."""

CHANGE_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("sequence", pa.int64()),
        ("kind", pa.string()),
        ("change", pa.string()),
        ("detail", pa.string()),
    ]
)
"""``change`` is set on ``delinquency_changed`` rows only; ``detail`` is the event data as JSON."""

CHANGE_KINDS = frozenset(
    {
        EventKind.STATEMENT_CUT,
        EventKind.INSTALMENT_DUE,
        EventKind.DELINQUENCY_CHANGED,
        EventKind.FROZEN,
        EventKind.UNFROZEN,
        EventKind.WRITE_OFF,
    }
)

PARTITIONING = ds.partitioning(pa.schema([("business_date", pa.date32())]), flavor="hive")

_PART = re.compile(r"part-(\d{5})\.parquet")
parts_per_date_max = 99_999
"""Five digits of part number: 99,999 partitions of 10,000 accounts is a billion accounts."""


# --- rows -------------------------------------------------------------------------------------


def snapshot_row(state: AccountState, product_kind: str) -> dict[str, Any]:
    """One account at the end of a business date, as a snapshot row."""
    owed = state.balances_minor()
    balances = {f"{component.value}_minor": amount for component, amount in owed.items()}
    total_minor = sum(owed.values())
    delinquency = state.delinquency
    return {
        "account_id": state.account_id,
        "product_id": state.product_id,
        "kind": product_kind,
        "status": state.status,
        "frozen": state.frozen,
        **balances,
        "total_minor": total_minor,
        "credit_minor": state.credit_minor,
        "available_minor": state.available_minor(),
        "past_due_days": delinquency.past_due_days,
        "delinquent_days": delinquency.delinquent_days,
        "bucket": delinquency.bucket,
        "five_category": delinquency.five_category,
        "ifrs9_stage": delinquency.ifrs9_stage,
        "closed_through": state.closed_through,
        "limit_minor": state.credit_limit_minor,
        "overdue_minor": overdue_minor(state),
        "opened_on": state.opened_on,
    }


def overdue_minor(state: AccountState) -> int:
    """What is owed past its due date at the end of the account's last closed day, any component.

    Past due means due before that day, the rule of the past-due clock; unlike the clock, late
    fees and penalties count too, because a collector asks for them as well.
    """
    return sum(
        item.amount_minor
        for item in state.items.values()
        if item.due_on is not None and item.due_on < state.closed_through
    )


def change_rows(
    account_id: str,
    first_sequence: int,
    events: Sequence[Event],
    bucket_before: str,
    current_bucket: str,
    business_dates: Collection[dt.date],
) -> dict[dt.date, list[dict[str, Any]]]:
    """The change-feed rows of the nights of ``business_dates`` in a run of consecutive events.

    A night is the system events up to its ``day_closed`` marker (a statement cut for tomorrow is
    news of the night that decided it); requests between nights carry a request id and are not
    night events. ``bucket_before`` is the account's bucket before ``events``, and
    ``current_bucket`` the scheme's bucket for no delinquent days.
    """
    nights: dict[dt.date, list[dict[str, Any]]] = {}
    pending: list[dict[str, Any]] = []
    bucket = bucket_before
    for sequence, event in enumerate(events, start=first_sequence):
        if event.kind is EventKind.DAY_CLOSED:
            if event.business_date in business_dates:
                nights[event.business_date] = pending
            pending = []
            continue
        if event.request_id is not None or event.kind not in CHANGE_KINDS:
            continue
        change = None
        if event.kind is EventKind.DELINQUENCY_CHANGED:
            change = delinquency_change(bucket, event.data["bucket"], current_bucket)
            bucket = event.data["bucket"]
        detail = json.dumps(event.data, sort_keys=True, ensure_ascii=False)
        pending.append(
            {
                "account_id": account_id,
                "sequence": sequence,
                "kind": event.kind.value,
                "change": change,
                "detail": detail,
            }
        )
    return nights


def delinquency_change(bucket_before: str, bucket_after: str, current_bucket: str) -> str:
    """Name a delinquency move for downstream queues.

    ``reclassified`` is a class or stage change inside one bucket: the thresholds of the five
    categories and the stages need not fall on bucket boundaries.
    """
    if bucket_before == current_bucket and bucket_after != current_bucket:
        return "became_overdue"
    if bucket_after == current_bucket and bucket_before != current_bucket:
        return "cured"
    if bucket_after != bucket_before:
        return "bucket_moved"
    return "reclassified"


# --- files ------------------------------------------------------------------------------------


def part_path(out_dir: Path, feed: str, business_date: dt.date, partition_number: int) -> Path:
    """Where one partition's part of one feed for one date lives."""
    if not 0 <= partition_number <= parts_per_date_max:
        raise AssertionError(f"partition {partition_number} outside 0..{parts_per_date_max}")
    folder = out_dir / feed / f"business_date={business_date.isoformat()}"
    return folder / f"part-{partition_number:05d}.parquet"


def write_part(path: Path, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    """Write rows atomically: a hidden temporary file, synced, renamed over ``path``.

    Hidden (leading dot) so readers skip a temporary left by a killed process; the rename is
    atomic within the folder, so ``path`` is always a whole file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    table = pa.Table.from_pylist(rows, schema=schema)
    with temporary.open("wb") as sink:
        pq.write_table(table, sink)
        sink.flush()
        os.fsync(sink.fileno())
    temporary.replace(path)


def prune_parts(out_dir: Path, business_dates: Iterable[dt.date], partitions_count: int) -> None:
    """Delete what an earlier run of these dates left beyond this run's parts.

    An earlier run with a smaller partition size, or a larger book, wrote more parts; left in
    place they would repeat rows. Called only after every part of the run is written, so a crash
    never leaves a date with fewer rows than before. Also deletes temporaries of killed writers.
    """
    for business_date in business_dates:
        for feed in FEEDS:
            folder = out_dir / feed / f"business_date={business_date.isoformat()}"
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                match = _PART.fullmatch(path.name)
                stale = match is None or int(match.group(1)) >= partitions_count
                if stale and (match is not None or path.name.endswith(".tmp")):
                    path.unlink()


def read_feed(out_dir: Path, feed: str) -> pa.Table:
    """A whole feed as one table, ``business_date`` (from the folders) as a date column."""
    dataset = ds.dataset(out_dir / feed, format="parquet", partitioning=PARTITIONING)
    return dataset.to_table()
