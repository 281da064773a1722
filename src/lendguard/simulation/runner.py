"""The book simulator's day loop: origination, the day's requests, the night's close, outputs.

Each business date of the run, in order:

1. on the first day of an origination month, that month's applications go through the real
   underwriter (:mod:`.origination`) and approved applicants are booked on their application day;
2. the day's accounts open and the day's borrower actions post requests through the ledger
   (:mod:`.actions`), in group commits;
3. close of business: every open account is closed for the day by the ledger's one rule set
   (``Book.close_through`` -> ``ledger.close.close_day``), in group commits;
4. the day's account snapshot is written in the layout of ``lendguard eod``
   (``OUT/snapshots/business_date=D/part-00000.parquet``, :mod:`lendguard.eod.outputs`).

The book runs as :data:`PARTITIONS` partitions on worker processes, each with its own SQLite
file, merged at the end. ``OUT/decisions.parquet`` holds every decided application; the store
(``OUT/lendguard.sqlite``) keeps events, journal, requests and month-end state snapshots.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import make_url

from lendguard.eod.local import die_with_parent
from lendguard.eod.outputs import SNAPSHOT_SCHEMA, SNAPSHOTS, part_path, snapshot_row
from lendguard.ledger.book import Book
from lendguard.ledger.calendar_rules import ONE_DAY
from lendguard.money import parse_minor
from lendguard.simulation.actions import ACTIONS, Calendar, Context, open_account
from lendguard.simulation.borrowers import Borrower, new_borrower
from lendguard.simulation.origination import (
    CREDIT_LINE,
    Booking,
    intake_month,
    monthly_quotas,
    scenario_underwriter,
)
from lendguard.simulation.products import register_sample_products
from lendguard.simulation.scenario import Scenario, ScenarioError
from lendguard.store import open_store
from lendguard.store.database import merge_sqlite_shards

DATABASE_NAME = "lendguard.sqlite"
DECISIONS_NAME = "decisions.parquet"

PARTITIONS = 4
"""Partitions of every book: fixed, so outputs never depend on the machine's core count."""

ACCOUNTS_PER_COMMIT = 5_000
"""Accounts per group commit: well inside ``limits.appends_per_transaction_max``."""

DECISION_SCHEMA = pa.schema(
    [
        ("application_id", pa.string()),
        ("applied_on", pa.date32()),
        ("product_kind", pa.string()),
        ("decision", pa.string()),
        ("final", pa.string()),
        ("score", pa.float64()),
        ("grade", pa.string()),
        ("limit_minor", pa.int64()),
        ("account_id", pa.string()),
    ]
)


@dataclass
class Outcome:
    """What a run leaves behind, and how long each part took (summed over partitions)."""

    out_dir: Path
    database_url: str
    borrowers: list[Borrower]
    applications: int
    refused: Counter[str]
    timings_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionTask:
    """One partition of the book: its share of every month's bookings, on its own process."""

    scenario: Scenario
    out_dir: Path
    database_url: str
    product_ids: dict[str, str]
    number: int
    partitions: int


@dataclass
class PartitionOutcome:
    borrowers: list[Borrower]
    decisions: list[dict[str, Any]]
    refused: Counter[str]
    timings_s: Counter[str]


Progress = Callable[[int], None]
"""Called with the number of partition-days just simulated (a run has days x partitions)."""


def check_output_folder(out: Path) -> None:
    """Refuse an output folder that cannot be created or written, before any work starts."""
    if out.exists() and not out.is_dir():
        raise ScenarioError(f"{out}: the output path exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScenarioError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ScenarioError(f"{out}: the output folder is not writable")


def fresh_database(out: Path, tag: str = "") -> str:
    """URL of a new, empty SQLite file in ``out`` (an earlier run's file is deleted first);
    ``tag`` names a partition's shard."""
    path = (out / f"{DATABASE_NAME.removesuffix('.sqlite')}{tag}.sqlite").resolve()
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return f"sqlite:///{path}"


def clear_outputs(out: Path) -> None:
    """Delete an earlier run's snapshots and decisions, so nothing stale mixes in."""
    folder = out / SNAPSHOTS
    if folder.is_dir():
        for part in folder.glob("business_date=*/*.parquet"):
            part.unlink()
    (out / DECISIONS_NAME).unlink(missing_ok=True)


def _prepare_store(url: str) -> dict[str, str]:
    """Migrate a store and register the sample products in it; their ids by kind."""
    book = Book(open_store(url))
    try:
        products = register_sample_products(book)
        return {kind: file.product_id for kind, file in products.items()}
    finally:
        book.store.close()


def partition_days(scenario: Scenario) -> int:
    """How many partition-days a run simulates: what ``progress`` counts up to."""
    return ((scenario.end - scenario.run.start).days + 1) * PARTITIONS


def simulate(
    scenario: Scenario,
    out: Path,
    progress: Progress = lambda days: None,
    workers: int | None = None,
) -> Outcome:
    """Run ``scenario`` into the folder ``out`` (replacing an earlier run there).

    The book is split into :data:`PARTITIONS` partitions whatever the number of ``workers``
    (default: one per core, at most one per partition), so the same seed gives the same book on
    any machine. Each partition writes a SQLite file of its own (no lock waits between
    processes); the files are merged into ``lendguard.sqlite`` in one transaction at the end.
    """
    check_output_folder(out)
    clear_outputs(out)
    url = fresh_database(out)
    shards = [fresh_database(out, f".partition-{number}") for number in range(PARTITIONS)]
    product_ids = _prepare_store(url)
    for shard in shards:
        _prepare_store(shard)
    tasks = [
        PartitionTask(scenario, out, shard, product_ids, number, PARTITIONS)
        for number, shard in enumerate(shards)
    ]
    workers = min(PARTITIONS, workers or os.cpu_count() or 1)
    results = _execute(tasks, workers, progress)
    merge_sqlite_shards(url, [Path(make_url(shard).database or "") for shard in shards])
    decisions = [row for result in results for row in result.decisions]
    write_decisions(out / DECISIONS_NAME, decisions)
    refused: Counter[str] = Counter()
    timings: Counter[str] = Counter()
    for result in results:
        refused.update(result.refused)
        timings.update(result.timings_s)
    borrowers = [borrower for result in results for borrower in result.borrowers]
    return Outcome(out, url, borrowers, len(decisions), refused, dict(timings))


def _execute(
    tasks: list[PartitionTask], workers: int, progress: Progress
) -> list[PartitionOutcome]:
    """Every partition's outcome, in partition order; in this process when one worker."""
    if workers == 1:
        return [run_partition(task, progress) for task in tasks]
    context = multiprocessing.get_context("spawn")
    queue = context.SimpleQueue()
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_setup, initargs=(os.getpid(), queue)
    )
    try:
        futures = [pool.submit(_run_in_worker, task) for task in tasks]
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            while not queue.empty():
                progress(queue.get())
        while not queue.empty():
            progress(queue.get())
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_WORKER: dict[str, Any] = {}
"""A worker process's progress queue, set once by :func:`_worker_setup`."""


def _worker_setup(parent_pid: int, queue: Any) -> None:
    """Die with the parent (see :func:`lendguard.eod.local.die_with_parent`); keep the queue."""
    die_with_parent(parent_pid)
    _WORKER["queue"] = queue


def _run_in_worker(task: PartitionTask) -> PartitionOutcome:
    return run_partition(task, _WORKER["queue"].put)


def run_partition(task: PartitionTask, progress: Progress) -> PartitionOutcome:
    """Simulate one partition of the book from the first day to the last."""
    book = Book(open_store(task.database_url))
    try:
        return _run(task, book, progress)
    finally:
        book.store.close()


def _run(task: PartitionTask, book: Book, progress: Progress) -> PartitionOutcome:
    scenario = task.scenario
    products = {kind: book.product(product_id) for kind, product_id in task.product_ids.items()}
    context = Context(
        book=book,
        scenario=scenario,
        products={kind: file.product for kind, file in products.items()},
        product_ids=task.product_ids,
        calendar=Calendar(scenario.end),
    )
    underwriter = scenario_underwriter(scenario)
    line_product = products[CREDIT_LINE].product
    assert line_product.credit_line is not None
    line_limit_minor = parse_minor(line_product.credit_line.credit_limit, line_product.currency)
    timings: Counter[str] = Counter()
    quotas = monthly_quotas(scenario, task.number, task.partitions)
    decisions: list[dict[str, Any]] = []
    openings: dict[dt.date, list[Booking]] = {}
    borrowers: list[Borrower] = []
    day = scenario.run.start
    while day <= scenario.end:
        month = scenario.month_of(day)
        if day.day == 1 and month <= len(quotas):
            started = time.perf_counter()
            intake = intake_month(
                scenario, underwriter, month, quotas[month - 1], line_limit_minor, task.number
            )
            decisions.extend(intake.decisions)
            for booking in intake.bookings:
                openings.setdefault(booking.application.applied_on, []).append(booking)
            timings["underwriting"] += time.perf_counter() - started
        started = time.perf_counter()
        opened = _open_accounts(context, openings.pop(day, []), task.number, len(borrowers), day)
        borrowers.extend(opened)
        _run_actions(context, day)
        timings["requests"] += time.perf_counter() - started
        started = time.perf_counter()
        month_end = (day + ONE_DAY).day == 1
        _close_night(book, borrowers, day, snapshot=month_end)
        timings["close"] += time.perf_counter() - started
        started = time.perf_counter()
        _write_snapshots(task, book, borrowers, day)
        timings["snapshots"] += time.perf_counter() - started
        progress(1)
        day += ONE_DAY
    _link_accounts(decisions, borrowers)
    return PartitionOutcome(borrowers, decisions, context.refused, timings)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _open_accounts(
    context: Context, bookings: list[Booking], partition: int, booked_before: int, day: dt.date
) -> list[Borrower]:
    """Open today's approved applications as accounts, numbered in booking order within the
    partition (``A`` + partition + number: unique across the book)."""
    opened = []
    for chunk in _chunks(bookings, ACCOUNTS_PER_COMMIT):
        with context.book.batch():
            for booking in chunk:
                number = booked_before + len(opened) + 1
                borrower = new_borrower(
                    context.scenario,
                    f"A{partition}{number:07d}",
                    booking.kind,
                    booking.application,
                    booking.latent_risk,
                )
                open_account(context, borrower, day, booking.limit_minor)
                opened.append(borrower)
    return opened


def _run_actions(context: Context, day: dt.date) -> None:
    """Every action planned for ``day``, in group commits."""
    due = context.calendar.due_on(day)
    for chunk in _chunks(due, ACCOUNTS_PER_COMMIT):
        with context.book.batch():
            for action, borrower, detail in chunk:
                ACTIONS[action](context, borrower, day, detail)


def _close_night(book: Book, borrowers: list[Borrower], day: dt.date, *, snapshot: bool) -> None:
    """Close of business for ``day``: the ledger's rules on every open account."""
    open_ids = [b.account_id for b in borrowers if book.state(b.account_id).status == "open"]
    for chunk in _chunks(open_ids, ACCOUNTS_PER_COMMIT):
        with book.batch():
            for account_id in chunk:
                book.close_through(account_id, day, snapshot=snapshot)


def _write_snapshots(
    task: PartitionTask, book: Book, borrowers: list[Borrower], day: dt.date
) -> None:
    """The partition's part of the day's account snapshot: a row per booked account."""
    rows = [snapshot_row(book.state(b.account_id), b.kind) for b in borrowers]
    path = part_path(task.out_dir, SNAPSHOTS, day, task.number)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SNAPSHOT_SCHEMA), path)


def _link_accounts(decisions: list[dict[str, Any]], borrowers: list[Borrower]) -> None:
    accounts = {b.application.application_id: b.account_id for b in borrowers}
    for row in decisions:
        row["account_id"] = accounts.get(row["application_id"])


def write_decisions(path: Path, decisions: list[dict[str, Any]]) -> None:
    """Every decided application, one row each, in arrival order."""
    pq.write_table(pa.Table.from_pylist(decisions, schema=DECISION_SCHEMA), path)
