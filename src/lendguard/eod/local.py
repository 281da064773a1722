"""The embedded close-of-business engine: partitions of accounts closed by worker processes.

The parent pages account ids (never the book) and hands each partition of at most
``partition_size`` ids to a worker. A worker loads its partition's states in bulk (snapshot plus
later events), runs the kernel one business date at a time, commits every account's events,
journal lines and new snapshot in ONE group commit, then writes the partition's Parquet parts.
A task may instead take its states from a Parquet dataset of ``INPUT_SCHEMA`` (``input_path``,
what the Spark engine offers): the log still comes from the store, and a partition that such a
state leaves stale is refused at commit and loaded again from the store.

Why this is safe to kill and rerun: each account's write is a compare-and-set on the sequence it
was loaded at, and its snapshot carries the day it is closed through, so a rerun loads accounts a
killed run already committed as closed and skips them (no day is accrued twice). Their rows are
rebuilt from the ledger, so a rerun rewrites the same parts: from the loaded state and one night's
events when the log ends with the run's first night (:func:`_replay_night`, the usual rerun),
else by folding the whole log (:func:`_replay`). An account the kernel quarantines is not written
at all (not even the dates of the run it did close): it keeps its state, is recorded in
``eod_quarantine``, and the next run tries it again.

Envelope (sample book, 6 months, one core): per account and night about 0.5 ms to load (a 4 KB
snapshot, 14 KB at most), 0.1 ms of kernel, 0.6 ms to write (events, journal, the snapshot back).
A 5,000-account partition holds tens of MB and commits about 20 MB, so memory stays bounded by
``workers * partition_size`` states whatever the book's size.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import functools
import itertools
import math
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from lendguard.eod.engine import (
    STEPS,
    InvalidEodRunError,
    Parallelism,
    PartitionResult,
    ProgressCallback,
    Quarantined,
    RunSummary,
    Tally,
)
from lendguard.eod.kernel import INPUT_SCHEMA, close_states, product_key, rules_table
from lendguard.eod.outputs import (
    CHANGE_SCHEMA,
    CHANGES,
    SNAPSHOT_SCHEMA,
    SNAPSHOTS,
    change_rows,
    part_path,
    prune_parts,
    snapshot_row,
    write_part,
)
from lendguard.ledger.book import from_record, to_records
from lendguard.ledger.calendar_rules import ONE_DAY
from lendguard.ledger.events import Event, EventKind
from lendguard.ledger.rules import ProductRules
from lendguard.ledger.snapshot import state_from_data, state_from_text, state_to_data
from lendguard.ledger.state import AccountState, Delinquency, apply, fold
from lendguard.store import (
    Append,
    ConcurrentUpdateError,
    EventRecord,
    Store,
    create_engine_for,
    open_store,
)

ENGINE = "local"

partition_attempts_max = 3
"""Tries of one partition when a request moved one of its accounts between load and commit."""

PR_SET_PDEATHSIG = 1
"""Linux ``prctl`` option: a signal the kernel sends a process when its parent dies."""

_UNREADABLE = (ValueError, KeyError, TypeError, AssertionError)
"""What a corrupted snapshot or log raises while being read: the kernel's own quarantine set."""

Row = dict[str, Any]


@dataclass(frozen=True)
class PartitionTask:
    """One worker's job: these accounts, these business dates, parts numbered ``partition``."""

    store_url: str
    run_id: str
    partition_number: int
    account_ids: tuple[str, ...]
    business_dates: tuple[dt.date, ...]
    out_dir: Path
    input_path: Path | None = None
    """A Parquet dataset of the kernel's ``INPUT_SCHEMA`` (e.g. yesterday's columnar states) to
    take the states from instead of the store's snapshots; the store still holds the log."""


@dataclass
class Loaded:
    """A partition read from the store, before any rule runs."""

    states: dict[str, AccountState]
    histories: dict[str, list[EventRecord]]
    """Whole logs of accounts already closed into the run's dates: their rows are replayed."""
    rules: dict[str, ProductRules]
    errors: dict[str, str]
    nights: dict[str, list[EventRecord]] = field(default_factory=dict)
    """Events since the night before the run of accounts whose log ends with the run's first
    night (a rerun): their loaded state is that night's end, so their rows need no whole log."""


@dataclass
class Fresh:
    """An account the kernel closes in this run: where its new events start, and them."""

    sequence_before: int
    bucket_before: str
    events: list[Event] = field(default_factory=list)


@dataclass
class Closing:
    """A partition after the kernel: what to commit and what to publish per date."""

    fresh: dict[str, Fresh] = field(default_factory=dict)
    snapshots: dict[dt.date, list[Row]] = field(default_factory=dict)
    changes: dict[dt.date, list[Row]] = field(default_factory=dict)
    quarantined: dict[str, Quarantined] = field(default_factory=dict)
    skipped: int = 0


# --- the runner -------------------------------------------------------------------------------


def run_local(
    store_url: str,
    business_dates: Sequence[dt.date],
    out_dir: Path,
    partition_size: int,
    parallelism: Parallelism,
    progress: ProgressCallback,
    run_id: str,
) -> RunSummary:
    """Close ``business_dates`` for every serviced account (an :class:`EngineRunner`).

    ``parallelism`` is the number of worker processes; one runs partitions in this process.
    """
    if not isinstance(parallelism, int):
        raise InvalidEodRunError(f"the embedded engine takes a worker count, not {parallelism}")
    started = time.perf_counter()
    store = open_store(store_url)
    tally = Tally()
    try:
        expected = math.ceil(store.open_account_count() / partition_size)
        tasks = partition_tasks(store, store_url, run_id, business_dates, out_dir, partition_size)
        for result in _execute(tasks, min(parallelism, max(1, expected))):
            tally.add(result)
            progress(tally.partitions, max(expected, tally.partitions))
    finally:
        store.close()
    prune_parts(out_dir, business_dates, tally.partitions)
    return tally.summary(run_id, ENGINE, business_dates, time.perf_counter() - started)


def partition_tasks(
    store: Store,
    store_url: str,
    run_id: str,
    business_dates: Sequence[dt.date],
    out_dir: Path,
    partition_size: int,
) -> Iterator[PartitionTask]:
    """Partitions of serviced accounts in id order, paged lazily (the parent holds ids only)."""
    after = None
    for number in itertools.count():
        account_ids = store.open_account_ids(after, partition_size)
        if not account_ids:
            return
        after = account_ids[-1]
        yield PartitionTask(
            store_url, run_id, number, tuple(account_ids), tuple(business_dates), out_dir
        )


def _execute(tasks: Iterator[PartitionTask], workers: int) -> Iterator[PartitionResult]:
    """Results of every task; one worker runs them here, as a pool of one only adds a process."""
    if workers == 1:
        yield from map(close_partition, tasks)
        return
    yield from _pooled(tasks, workers)


def _pooled(tasks: Iterator[PartitionTask], workers: int) -> Iterator[PartitionResult]:
    """Run tasks on ``workers`` spawned processes, at most two queued per worker.

    Spawned (each imports pyarrow and SQLAlchemy afresh, about two seconds, in parallel), not
    forked: a fork would share this process's database connections and lock. Not from a fork
    server either: its workers are its children, and it outlives a killed run (the workers keep
    it alive), so they could not die with the run. On the first failure, queued tasks are
    cancelled and running ones finish (each is all or nothing).
    """
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
    )
    in_flight: set[Future[PartitionResult]] = set()
    try:
        for task in tasks:
            in_flight.add(pool.submit(close_partition, task))
            if len(in_flight) >= 2 * workers:
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in done)
        while in_flight:
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            yield from (future.result() for future in done)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def die_with_parent(parent_pid: int) -> None:
    """Make a worker die with the run (Linux): orphaned pool workers would wait for work forever,
    and a rerun should not race a killed run's last partition.

    Elsewhere a worker may outlive a killed run; the per-account compare-and-set still refuses a
    second close of a day, so this is tidiness, not safety.
    """
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


# --- one partition ----------------------------------------------------------------------------


def close_partition(task: PartitionTask) -> PartitionResult:
    """Load, close, commit and publish one partition on a connection of its own.

    A request that moves an account between load and commit refuses the whole group commit
    (nothing written); the partition is then loaded again, up to ``partition_attempts_max`` times.
    """
    store = Store(create_engine_for(task.store_url))
    try:
        for attempt in range(1, partition_attempts_max + 1):
            try:
                return _close_once(store, task)
            except ConcurrentUpdateError:
                if attempt == partition_attempts_max:
                    raise
                task = replace(task, input_path=None)  # the store is newer than any input
        raise AssertionError("unreachable: the last attempt returns or raises")
    finally:
        store.close()


def _close_once(store: Store, task: PartitionTask) -> PartitionResult:
    """Load, compute, write: the store is read first and written once, the kernel does no I/O."""
    timings = dict.fromkeys(STEPS, 0.0)
    with timed(timings, "load"):
        loaded = _load(store, task)
    with timed(timings, "rules"):
        closing = close_loaded(loaded, task.business_dates)
    with timed(timings, "write"):
        appends = _appends(loaded.states, closing.fresh)
        if appends:
            store.append_many(appends)
        entries = [(q.business_date, q.account_id, q.error) for q in closing.quarantined.values()]
        store.save_quarantine(task.run_id, entries)
    with timed(timings, "outputs"):
        write_parts(task, closing)
    return PartitionResult(
        task.partition_number,
        len(closing.fresh),
        closing.skipped,
        sum(len(append.events) for append in appends),
        tuple(sorted(closing.quarantined.values(), key=lambda q: q.account_id)),
        timings,
    )


@contextmanager
def timed(timings: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[step] += time.perf_counter() - started


# --- load -------------------------------------------------------------------------------------


def _load(store: Store, task: PartitionTask) -> Loaded:
    if task.input_path is None:
        return load_partition(store, task.account_ids, task.business_dates[0])
    return load_input_partition(store, task.input_path, task.account_ids, task.business_dates[0])


def load_partition(store: Store, account_ids: Sequence[str], first_date: dt.date) -> Loaded:
    """The product rules, the accounts' states (snapshot + later events, in bulk), and for
    accounts already closed on or after ``first_date`` the events their rows are replayed from."""
    rules = _stored_rules(store)
    snapshots, errors = _parse_snapshots(store.load_snapshots(account_ids))
    after = {account_id: _sequence(snapshots.get(account_id)) for account_id in account_ids}
    records = store.load_events_after(after)
    states = {}
    for account_id in account_ids:
        if account_id in errors:
            continue
        try:
            states[account_id] = _state(account_id, snapshots.get(account_id), records[account_id])
        except _UNREADABLE as error:
            errors[account_id] = f"unreadable log: {type(error).__name__}: {error}"
    replayed = [i for i, state in states.items() if state.closed_through >= first_date]
    nights = _first_nights(store, states, replayed, first_date)
    whole = [account_id for account_id in replayed if account_id not in nights]
    histories = store.load_events_after(dict.fromkeys(whole, 0)) if whole else {}
    return Loaded(states, histories, rules, errors, nights)


def load_input_partition(
    store: Store, input_path: Path, account_ids: Sequence[str], first_date: dt.date
) -> Loaded:
    """As :func:`load_partition`, with the states read from the ``INPUT_SCHEMA`` dataset at
    ``input_path`` (the rows of ``account_ids``, found by id range, so a worker reads only the
    row groups of its own partition). Closed accounts are left out, as the store's pages leave
    them out; a state staler than the store is refused at commit and the partition reloaded from
    the store."""
    rules = _stored_rules(store)
    texts = _input_states(input_path, account_ids)
    states, errors = {}, {}
    for account_id, text in zip(account_ids, texts, strict=True):
        try:
            state = state_from_text(text or "")
        except _UNREADABLE as error:
            errors[account_id] = f"unreadable snapshot: {type(error).__name__}: {error}"
            continue
        if state is None:
            errors[account_id] = "snapshot of another layout version"
        elif state.status != "closed":
            states[account_id] = state
    replayed = [i for i, state in states.items() if state.closed_through >= first_date]
    histories = store.load_events_after(dict.fromkeys(replayed, 0)) if replayed else {}
    return Loaded(states, histories, rules, errors)


def _input_states(input_path: Path, account_ids: Sequence[str]) -> list[str | None]:
    """The state texts of ``account_ids`` (rising) in the dataset at ``input_path``."""
    account_id = pc.field("account_id")
    wanted = (account_id >= account_ids[0]) & (account_id <= account_ids[-1])
    try:
        dataset = ds.dataset(input_path, format="parquet")
        table = dataset.to_table(columns=INPUT_SCHEMA.names, filter=wanted).sort_by("account_id")
    except (pa.ArrowException, OSError) as error:
        raise InvalidEodRunError(f"the input dataset {input_path} is unreadable: {error}") from None
    found = table.column("account_id").to_pylist()
    if found != list(account_ids):
        raise InvalidEodRunError(
            f"the input dataset changed during the run: {len(found)} rows between "
            f"{account_ids[0]} and {account_ids[-1]}, {len(account_ids)} expected"
        )
    return table.column("state").to_pylist()


def _first_nights(
    store: Store, states: Mapping[str, AccountState], replayed: list[str], first_date: dt.date
) -> dict[str, list[EventRecord]]:
    """Events from the night before ``first_date`` on, of accounts whose log ends with the close
    of ``first_date``: a rerun reads one night per account, not its whole history."""
    candidates = [i for i in replayed if states[i].closed_through == first_date]
    if not candidates:
        return {}
    before = store.day_closed_sequences(candidates, first_date - ONE_DAY)
    tails = store.load_events_after({i: before.get(i, 0) for i in candidates})
    return {
        account_id: records
        for account_id, records in tails.items()
        if records
        and records[-1].kind == EventKind.DAY_CLOSED
        and records[-1].business_date == first_date
        and records[-1].sequence == states[account_id].sequence
    }


def _stored_rules(store: Store) -> dict[str, ProductRules]:
    """The rules of every product version in the store (validated once per worker)."""
    products = store.list_products()
    return _rules(tuple((product_key(p.product_id, p.version), p.source_text) for p in products))


@functools.lru_cache(maxsize=4)
def _rules(product_texts: tuple[tuple[str, str], ...]) -> dict[str, ProductRules]:
    """The kernel's rules table, validated once per worker for the same stored product texts
    (validation costs tens of milliseconds, as much as closing a hundred accounts)."""
    return rules_table(dict(product_texts))


def _parse_snapshots(
    stored: Mapping[str, tuple[int, dict]],
) -> tuple[dict[str, AccountState | None], dict[str, str]]:
    """Parsed snapshots (``None``: another layout version, fold the log) and unreadable ones."""
    snapshots: dict[str, AccountState | None] = {}
    errors = {}
    for account_id, (_, data) in stored.items():
        try:
            snapshots[account_id] = state_from_data(data)
        except _UNREADABLE as error:
            errors[account_id] = f"unreadable snapshot: {type(error).__name__}: {error}"
    return snapshots, errors


def _sequence(snapshot: AccountState | None) -> int:
    return 0 if snapshot is None else snapshot.sequence


def _state(
    account_id: str, snapshot: AccountState | None, records: list[EventRecord]
) -> AccountState:
    """As ``Book`` loads an account: the snapshot and the events after it, or the whole fold."""
    if snapshot is None:
        return fold((from_record(record) for record in records), account_id)
    for record in records:
        apply(snapshot, from_record(record))
    return snapshot


# --- close ------------------------------------------------------------------------------------


def close_loaded(loaded: Loaded, business_dates: Sequence[dt.date]) -> Closing:
    """Run the kernel date by date, and replay the rows of accounts already closed.

    An account closed on or after the last date is skipped (left alone, never moved back); one
    closed part of the way is replayed up to its watermark and closed by the kernel after it.
    """
    closing = Closing(
        snapshots={day: [] for day in business_dates},
        changes={day: [] for day in business_dates},
    )
    first_date = business_dates[0]
    for account_id, error in loaded.errors.items():
        closing.quarantined[account_id] = Quarantined(first_date, account_id, error)
    for account_id, records in loaded.nights.items():
        state = loaded.states[account_id]
        night = functools.partial(_replay_night, records, state, loaded.rules, first_date)
        _replay_into(closing, account_id, night, first_date)
    for account_id, records in loaded.histories.items():
        whole = functools.partial(_replay, account_id, records, loaded.rules, business_dates)
        _replay_into(closing, account_id, whole, first_date)
    for account_id, state in loaded.states.items():
        if account_id in closing.quarantined:
            continue
        if state.closed_through >= business_dates[-1]:
            closing.skipped += 1
        else:
            closing.fresh[account_id] = Fresh(state.sequence, state.delinquency.bucket)
    for day in business_dates:
        _close_day(closing, loaded, day)
    _publish_fresh(closing, loaded, business_dates)
    for rows in (*closing.snapshots.values(), *closing.changes.values()):
        rows.sort(key=lambda row: (row["account_id"], row.get("sequence", 0)))
    return closing


def _close_day(closing: Closing, loaded: Loaded, day: dt.date) -> None:
    """The kernel on every fresh account still behind ``day``; failures leave the run."""
    due = [
        loaded.states[account_id]
        for account_id in closing.fresh
        if account_id not in closing.quarantined and loaded.states[account_id].closed_through < day
    ]
    for outcome in close_states(due, loaded.rules, day):
        if outcome.error is not None:
            closing.quarantined[outcome.account_id] = Quarantined(
                day, outcome.account_id, outcome.error
            )
            continue
        closing.fresh[outcome.account_id].events.extend(outcome.events)
        kind, _ = product_facts(loaded.rules, outcome.state)
        closing.snapshots[day].append(snapshot_row(outcome.state, kind))


def _publish_fresh(closing: Closing, loaded: Loaded, business_dates: Sequence[dt.date]) -> None:
    """Drop quarantined accounts from the run; derive the change rows of the rest."""
    for account_id in closing.quarantined:
        closing.fresh.pop(account_id, None)
    for rows in (*closing.snapshots.values(), *closing.changes.values()):
        rows[:] = [row for row in rows if row["account_id"] not in closing.quarantined]
    wanted = set(business_dates)
    for account_id, fresh in closing.fresh.items():
        _, current_bucket = product_facts(loaded.rules, loaded.states[account_id])
        publish_changes(closing, account_id, fresh, current_bucket, wanted)


def publish_changes(
    closing: Closing,
    account_id: str,
    fresh: Fresh,
    current_bucket: str,
    business_dates: Collection[dt.date],
) -> None:
    """Add one account's change-feed rows of the run's nights to the partition's closing."""
    nights = change_rows(
        account_id,
        fresh.sequence_before + 1,
        fresh.events,
        fresh.bucket_before,
        current_bucket,
        business_dates,
    )
    for day, rows in nights.items():
        closing.changes[day].extend(rows)


Replayed = tuple[dict[dt.date, Row], dict[dt.date, list[Row]]]
"""Snapshot and change rows, by business date, of nights an account had already closed."""


def _replay_into(
    closing: Closing, account_id: str, replay: Callable[[], Replayed], first_date: dt.date
) -> None:
    """Add an account's replayed rows; a log that does not replay quarantines the account."""
    try:
        snapshots, changes = replay()
    except _UNREADABLE as error:
        detail = f"unreadable log: {type(error).__name__}: {error}"
        closing.quarantined[account_id] = Quarantined(first_date, account_id, detail)
        return
    for day, row in snapshots.items():
        closing.snapshots[day].append(row)
    for day, rows in changes.items():
        closing.changes[day].extend(rows)


def _replay_night(
    records: list[EventRecord],
    state: AccountState,
    rules: Mapping[str, ProductRules],
    day: dt.date,
) -> Replayed:
    """Rows of ``day`` for a state that ends with its close, from that night's events."""
    kind, current_bucket = product_facts(rules, state)
    events = [from_record(record) for record in records]
    bucket_before = _bucket_on(state, day - ONE_DAY)
    changes = change_rows(
        state.account_id, records[0].sequence, events, bucket_before, current_bucket, {day}
    )
    return {day: snapshot_row(state, kind)}, changes


def _bucket_on(state: AccountState, day: dt.date) -> str:
    """The account's bucket at the end of ``day``, from its bucket history (each move opens a
    spell on the night it happened; before the first, an account is in the opening bucket)."""
    for spell in state.bucket_history:
        if spell.entered_on <= day and (spell.left_on is None or day < spell.left_on):
            return spell.bucket
    return Delinquency().bucket


def _replay(
    account_id: str,
    records: list[EventRecord],
    rules: Mapping[str, ProductRules],
    business_dates: Sequence[dt.date],
) -> Replayed:
    """Fold the whole log to the last of ``business_dates``, keeping each night's end state."""
    events = [from_record(record) for record in records]
    state = fold(events[:1], account_id)
    bucket_before = state.delinquency.bucket
    kind, current_bucket = product_facts(rules, state)
    wanted, last = set(business_dates), business_dates[-1]
    snapshots, end = {}, len(events)
    for index, event in enumerate(events[1:], start=1):
        apply(state, event)
        if event.kind is EventKind.DAY_CLOSED and event.business_date in wanted:
            snapshots[event.business_date] = snapshot_row(state, kind)
        if event.kind is EventKind.DAY_CLOSED and event.business_date >= last:
            end = index + 1
            break
    first_sequence = records[0].sequence + 1
    changes = change_rows(
        account_id, first_sequence, events[1:end], bucket_before, current_bucket, wanted
    )
    return snapshots, changes


def product_facts(rules: Mapping[str, ProductRules], state: AccountState) -> tuple[str, str]:
    """The product's kind and the name of its bucket for no delinquent days."""
    product_rules = rules[product_key(state.product_id, state.product_version)]
    return product_rules.product.kind.value, product_rules.buckets.bucket_for(0).name


# --- write ------------------------------------------------------------------------------------


def _appends(states: Mapping[str, AccountState], fresh: Mapping[str, Fresh]) -> list[Append]:
    """Each closed account's events, journal lines and snapshot, guarded by its loaded head."""
    appends = []
    for account_id, closed in fresh.items():
        state = states[account_id]
        records, lines = to_records(
            account_id, closed.sequence_before + 1, closed.events, state.currency
        )
        appends.append(
            Append(
                account_id,
                closed.sequence_before,
                records,
                lines,
                snapshot=state_to_data(state),
                status=state.status,
            )
        )
    return appends


def write_parts(task: PartitionTask, closing: Closing) -> None:
    """This partition's part of each feed for each date (written even when empty)."""
    for day in task.business_dates:
        snapshots = part_path(task.out_dir, SNAPSHOTS, day, task.partition_number)
        write_part(snapshots, closing.snapshots[day], SNAPSHOT_SCHEMA)
        changes = part_path(task.out_dir, CHANGES, day, task.partition_number)
        write_part(changes, closing.changes[day], CHANGE_SCHEMA)
