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

At the end ``OUT/decisions.parquet`` holds every decided application. The store keeps events,
journal, requests and monthly state snapshots (``OUT/lendguard.sqlite``).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lendguard.eod.outputs import SNAPSHOT_SCHEMA, SNAPSHOTS, part_path, snapshot_row
from lendguard.ledger.book import Book
from lendguard.ledger.calendar_rules import ONE_DAY
from lendguard.money import parse_minor
from lendguard.products.loader import ProductFile
from lendguard.simulation.actions import ACTIONS, Calendar, Context, open_account
from lendguard.simulation.borrowers import Borrower, new_borrower
from lendguard.simulation.origination import (
    CASH_LOAN,
    CREDIT_LINE,
    Booking,
    intake_month,
    monthly_quotas,
    scenario_underwriter,
)
from lendguard.simulation.scenario import Scenario, ScenarioError
from lendguard.store import open_store

PRODUCT_FILES = {CREDIT_LINE: "huabei-standard.toml", CASH_LOAN: "jiebei-standard.toml"}
"""The sample products shipped in ``lendguard/data/products``, by kind."""

DATABASE_NAME = "lendguard.sqlite"
DECISIONS_NAME = "decisions.parquet"

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
    """What a run leaves behind, and how long each part took."""

    out_dir: Path
    database_url: str
    borrowers: list[Borrower]
    applications: int
    refused: Counter[str]
    timings_s: dict[str, float] = field(default_factory=dict)


Progress = Callable[[dt.date], None]


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


def fresh_database(out: Path) -> str:
    """URL of a new, empty SQLite file in ``out`` (an earlier run's file is deleted first)."""
    path = (out / DATABASE_NAME).resolve()
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


def simulate(scenario: Scenario, out: Path, progress: Progress = lambda day: None) -> Outcome:
    """Run ``scenario`` into the folder ``out`` (replacing an earlier run there)."""
    check_output_folder(out)
    clear_outputs(out)
    url = fresh_database(out)
    book = Book(open_store(url))
    try:
        return _run(scenario, book, out, url, progress)
    finally:
        book.store.close()


def _run(scenario: Scenario, book: Book, out: Path, url: str, progress: Progress) -> Outcome:
    product_files = load_products(book)
    context = Context(
        book=book,
        scenario=scenario,
        products={kind: file.product for kind, file in product_files.items()},
        product_ids={kind: file.product_id for kind, file in product_files.items()},
        calendar=Calendar(scenario.end),
    )
    underwriter = scenario_underwriter(scenario)
    line = product_files[CREDIT_LINE].product.credit_line
    assert line is not None
    line_limit_minor = parse_minor(line.credit_limit, product_files[CREDIT_LINE].product.currency)
    timings: Counter[str] = Counter()
    quotas = monthly_quotas(scenario)
    decisions: list[dict[str, Any]] = []
    openings: dict[dt.date, list[Booking]] = {}
    borrowers: list[Borrower] = []
    day = scenario.run.start
    while day <= scenario.end:
        month = scenario.month_of(day)
        if day.day == 1 and month <= len(quotas):
            started = time.perf_counter()
            intake = intake_month(scenario, underwriter, month, quotas[month - 1], line_limit_minor)
            decisions.extend(intake.decisions)
            for booking in intake.bookings:
                openings.setdefault(booking.application.applied_on, []).append(booking)
            timings["underwriting"] += time.perf_counter() - started
        started = time.perf_counter()
        opened = _open_accounts(context, openings.pop(day, []), len(borrowers), day)
        borrowers.extend(opened)
        _run_actions(context, day)
        timings["requests"] += time.perf_counter() - started
        started = time.perf_counter()
        month_end = (day + ONE_DAY).day == 1
        _close_night(book, borrowers, day, snapshot=month_end)
        timings["close"] += time.perf_counter() - started
        started = time.perf_counter()
        _write_snapshots(out, book, borrowers, day)
        timings["snapshots"] += time.perf_counter() - started
        progress(day)
        day += ONE_DAY
    _link_accounts(decisions, borrowers)
    write_decisions(out / DECISIONS_NAME, decisions)
    return Outcome(out, url, borrowers, len(decisions), context.refused, dict(timings))


def load_products(book: Book) -> dict[str, ProductFile]:
    """Register the packaged sample products, by kind."""
    folder = resources.files("lendguard") / "data" / "products"
    products = {}
    for kind, name in PRODUCT_FILES.items():
        with resources.as_file(folder / name) as path:
            products[kind] = book.register_product(str(path))
    return products


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _open_accounts(
    context: Context, bookings: list[Booking], booked_before: int, day: dt.date
) -> list[Borrower]:
    """Open today's approved applications as accounts, numbered in booking order."""
    opened = []
    for chunk in _chunks(bookings, ACCOUNTS_PER_COMMIT):
        with context.book.batch():
            for booking in chunk:
                number = booked_before + len(opened) + 1
                borrower = new_borrower(
                    context.scenario,
                    f"A{number:08d}",
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


def _write_snapshots(out: Path, book: Book, borrowers: list[Borrower], day: dt.date) -> None:
    """The day's account snapshot, one row per booked account, in account order."""
    rows = [snapshot_row(book.state(b.account_id), b.kind) for b in borrowers]
    path = part_path(out, SNAPSHOTS, day, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SNAPSHOT_SCHEMA), path)


def _link_accounts(decisions: list[dict[str, Any]], borrowers: list[Borrower]) -> None:
    accounts = {b.application.application_id: b.account_id for b in borrowers}
    for row in decisions:
        row["account_id"] = accounts.get(row["application_id"])


def write_decisions(path: Path, decisions: list[dict[str, Any]]) -> None:
    """Every decided application, one row each, in arrival order."""
    pq.write_table(pa.Table.from_pylist(decisions, schema=DECISION_SCHEMA), path)
