"""One night of close of business on a generated book, against the I/O floor of the same path.

Back of the envelope: a night reads and writes each account's state (about 2.5 KB of snapshot
JSON) and posts one or two events; a few megabytes a second at most, so the bytes themselves are
cheap. The floor (read every state, write it back unchanged, publish the parts, no rule applied)
is what an engine would cost if the rules were free, and ``ratio_to_io_floor`` says how far the
rules are from that. (Measured: close to it; moving states in and out of Python objects costs
more than the rules, see ``docs/scaling.md``.)

Floors, one per engine path, each with the engine's own parallelism:
- ``local``: the embedded engine's loader, group commit and Parquet writer, in as many spawned
  worker processes (one worker runs in-process, as in the engine), the kernel left out;
- ``spark``: :func:`lendguard.eod.spark.run_spark` itself with the local floor's job (load and
  write back, no rule) on the executors, so Spark's own costs stay in.

A third floor, the store's own: one night's rows (heads, events and journal lines, snapshots)
written with the SQLite driver's C-level ``executemany`` and no Python object work at all, scaled
to issue 3's 10 million accounts. It bounds every engine that keeps the nightly state and events
in the store, whatever its kernel.

Every measurement runs in a fresh process on a fresh copy of one generated book, so each gets
its own peak memory (``resource.getrusage`` of the process plus its waited-for children; the
Spark JVM counts once it has exited).

    python benchmarks/eod_bench.py --accounts 100000 --engine local --json
    python benchmarks/eod_bench.py --accounts 100000 --compare
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lendguard.eod.engine import PartitionResult, run_eod
from lendguard.eod.kernel import close_states, product_key
from lendguard.eod.local import PartitionTask, load_partition, partition_tasks, run_local
from lendguard.eod.outputs import (
    CHANGE_SCHEMA,
    CHANGES,
    SNAPSHOT_SCHEMA,
    SNAPSHOTS,
    part_path,
    snapshot_row,
    write_part,
)
from lendguard.ledger.calendar_rules import ONE_DAY
from lendguard.ledger.snapshot import state_to_data
from lendguard.store import Append, Store, create_engine_for, open_store

# Run as a script (``python benchmarks/eod_bench.py``) or as a module: the repository root is
# where ``benchmarks`` resolves from either way.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.book_generator import build_templates, write_store

ENGINES = ("local", "spark")
MEASUREMENTS = ("local", "local-floor", "spark", "spark-floor", "kernel", "store-floor")
PARTITION_SIZE = 5_000
"""The command line's default: a partition of states fits a worker in about 100 MB."""

TARGET_ACCOUNTS = 10_000_000
"""Issue 3's book: 10 million accounts closed in 60 s on this machine."""

EXTRA_EVENT_SHARE = 0.27
"""Accounts with a second event on the measured night (1,267,759 events for 1,000,000 accounts:
``docs/scaling.md``); each such event carries two journal lines (0.53 lines per account)."""

KERNEL_SAMPLE_ACCOUNTS = 10_000
"""Accounts the kernel-alone measurement closes (one bulk read: a partition's bound)."""

BOOK_NAME = "book.sqlite"
KILOBYTES_PER_MEGABYTE = 1_024


# --- one measurement, in its own process ---------------------------------------------------------


def measure(kind: str, base: Path, workers: int, partition_size: int) -> dict[str, Any]:
    """Close one night of a copy of the book at ``base`` with ``kind``; seconds and peak memory."""
    with tempfile.TemporaryDirectory(dir=base.parent) as folder:
        book = Path(folder) / BOOK_NAME
        shutil.copyfile(base, book)
        url = f"sqlite:///{book}"
        store = open_store(url)
        accounts, closed_through = store.open_account_count(), store.closed_through_min()
        store.close()
        assert closed_through is not None, "the generated book is closed through one date"
        night = closed_through + ONE_DAY
        details: dict[str, Any] = {}
        if kind == "kernel":
            accounts, seconds = kernel_alone(url, night)
        elif kind == "store-floor":
            details = {"seconds_by_kind": store_write_floor(url, night, partition_size)}
            seconds = sum(details["seconds_by_kind"].values())
        else:
            started = time.perf_counter()
            details = RUNS[kind](url, night, Path(folder) / "out", workers, partition_size)
            seconds = time.perf_counter() - started
    return details | {"accounts": accounts, "seconds": seconds, "peak_memory_mb": peak_memory_mb()}


def kernel_alone(url: str, night: dt.date) -> tuple[int, float]:
    """The kernel on one core over the book's first accounts: ``(accounts, seconds)``.

    Timed from loaded states to closed states and events (``close_states``), the rules alone,
    so it is the per-core rate of the rules that every engine's workers run.
    """
    store = open_store(url)
    try:
        ids = store.open_account_ids(None, KERNEL_SAMPLE_ACCOUNTS)
        loaded = load_partition(store, ids, night)
    finally:
        store.close()
    started = time.perf_counter()
    outcomes = close_states(loaded.states.values(), loaded.rules, night)
    seconds = time.perf_counter() - started
    assert all(outcome.error is None for outcome in outcomes)
    return len(outcomes), seconds


def store_write_floor(url: str, night: dt.date, partition_size: int) -> dict[str, float]:
    """Seconds to write one night into the SQLite store with no Python object work at all, per
    kind of row: ``heads``, ``events`` (with their journal lines), ``snapshots``.

    The rows an engine commits for the night, built beforehand from the stored heads and
    snapshots (untimed), then written with the driver's C-level ``executemany`` in group commits
    of ``partition_size`` accounts: each account's compare-and-set on its head, its events
    (``day_closed``, and for a share of accounts a second event with two journal lines) and its
    snapshot rewritten. No engine that keeps the nightly state and events in this store can
    close the book faster than the sum.
    """
    engine = create_engine_for(url)
    connection = engine.raw_connection()
    seconds = dict.fromkeys(("heads", "events", "snapshots"), 0.0)
    try:
        cursor = connection.cursor()
        stored = cursor.execute(
            "SELECT a.account_id, a.head_sequence, s.state FROM accounts a "
            "JOIN account_snapshots s ON s.account_id = a.account_id ORDER BY a.account_id"
        ).fetchall()
        for first in range(0, len(stored), partition_size):
            _write_night(cursor, stored[first : first + partition_size], night, seconds)
    finally:
        connection.close()
        engine.dispose()
    return seconds


def _write_night(
    cursor: Any, stored: list[tuple[str, int, str]], night: dt.date, seconds: dict[str, float]
) -> None:
    """One group commit of the store write floor (see :func:`store_write_floor`); each kind of
    row is timed with its share of the commit."""
    day = night.isoformat()
    closed = json.dumps({"past_due_days": 0, "delinquent_days": 0})
    accrued = json.dumps({"item": {"item_id": "X1", "amount_minor": 12}, "base_minor": 24_000})
    extra = round(len(stored) * EXTRA_EVENT_SHARE)
    events, lines = [], []
    for index, (account_id, head, _) in enumerate(stored):
        events.append((account_id, head + 1, "day_closed", day, None, closed))
        if index < extra:
            events.append((account_id, head + 2, "penalty_accrued", day, None, accrued))
            lines.append((account_id, head + 2, 1, "receivable:penalty", 12, "CNY"))
            lines.append((account_id, head + 2, 2, "income:penalty", -12, "CNY"))
    heads = [
        (head + 1 + (index < extra), account_id, head)
        for index, (account_id, head, _) in enumerate(stored)
    ]
    snapshots = [(head + 1, state, day, account_id) for account_id, head, state in stored]
    writes = {
        "heads": [
            (
                "UPDATE accounts SET head_sequence = ? WHERE account_id = ? AND head_sequence = ?",
                heads,
            )
        ],
        "events": [
            ("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", events),
            ("INSERT INTO journal_lines VALUES (?, ?, ?, ?, ?, ?)", lines),
        ],
        "snapshots": [
            (
                "UPDATE account_snapshots SET sequence = ?, state = ?, last_closed_on = ? "
                "WHERE account_id = ?",
                snapshots,
            )
        ],
    }
    for kind, statements in writes.items():
        started = time.perf_counter()
        cursor.execute("BEGIN IMMEDIATE")
        for statement, rows in statements:
            cursor.executemany(statement, rows)
            assert cursor.rowcount == len(rows), "every row written (no concurrent writer)"
        cursor.execute("COMMIT")
        seconds[kind] += time.perf_counter() - started


def peak_memory_mb() -> float:
    """Peak resident memory of this process plus that of its largest finished child (Linux KB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / KILOBYTES_PER_MEGABYTE


def run_engine(
    engine: str, url: str, night: dt.date, out: Path, workers: int, partition_size: int
) -> dict[str, Any]:
    """The engine as the command line runs it (lock, run record, one business date); its events
    posted and its step timings in worker-seconds."""
    if engine == "local":
        runner, parallelism = run_local, workers
    else:
        from lendguard.eod.spark import run_spark  # noqa: PLC0415 (a JVM only when asked)

        runner, parallelism = run_spark, f"local[{workers}]"
    summary = run_eod(
        runner,
        engine,
        url,
        night,
        catch_up=False,
        out_dir=out,
        partition_size=partition_size,
        parallelism=parallelism,
    )
    assert summary.accounts_quarantined == 0 and summary.accounts_closed > 0
    steps = {step: round(seconds, 2) for step, seconds in summary.timings_seconds.items()}
    return {"events_posted": summary.events_posted, "step_seconds": steps}


def local_floor(
    url: str, night: dt.date, out: Path, workers: int, partition_size: int
) -> dict[str, Any]:
    """The embedded engine's I/O with no rule: its partitions, loader, commit and writer."""
    store = open_store(url)
    try:
        tasks = list(partition_tasks(store, url, "floor", [night], out, partition_size))
    finally:
        store.close()
    if workers == 1:  # as the engine: one worker runs in this process
        written = sum(result.accounts_closed for result in map(floor_partition, tasks))
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            written = sum(result.accounts_closed for result in pool.map(floor_partition, tasks))
    assert written > 0
    return {}


def floor_partition(task: PartitionTask) -> PartitionResult:
    """Load a partition, write every state back unchanged, publish its parts: an engine's job
    with no rule (the accounts written count as closed, with no events)."""
    store = Store(create_engine_for(task.store_url))
    try:
        loaded = load_partition(store, task.account_ids, task.business_dates[0])
        appends = [
            Append(account_id, state.sequence, [], [], snapshot=state_to_data(state))
            for account_id, state in loaded.states.items()
        ]
        store.append_many(appends)
        rows = []
        for state in loaded.states.values():
            product = loaded.rules[product_key(state.product_id, state.product_version)].product
            rows.append(snapshot_row(state, product.kind.value))
    finally:
        store.close()
    for day in task.business_dates:
        write_part(
            part_path(task.out_dir, SNAPSHOTS, day, task.partition_number), rows, SNAPSHOT_SCHEMA
        )
        write_part(part_path(task.out_dir, CHANGES, day, task.partition_number), [], CHANGE_SCHEMA)
    return PartitionResult(task.partition_number, len(appends), 0, 0, (), {})


def spark_floor(
    url: str, night: dt.date, out: Path, workers: int, partition_size: int
) -> dict[str, Any]:
    """The Spark engine's own run, each executor running the embedded floor's job (no rule)."""
    from lendguard.eod.spark import run_spark  # noqa: PLC0415 (a JVM only when asked)

    summary = run_spark(
        url,
        [night],
        out,
        partition_size,
        f"local[{workers}]",
        lambda *_: None,
        "floor",
        job=floor_partition,
    )
    assert summary.accounts_closed > 0
    return {}


RUNS = {
    "local": lambda *args: run_engine("local", *args),
    "spark": lambda *args: run_engine("spark", *args),
    "local-floor": local_floor,
    "spark-floor": spark_floor,
}


# --- the parent: a book, then each measurement in a child process --------------------------------


def generate(folder: Path, accounts: int) -> Path:
    """A generated book of ``accounts`` accounts, closed through one date; its path."""
    with tempfile.TemporaryDirectory(dir=folder) as templates_folder:
        templates = build_templates(Path(templates_folder))
    path = folder / BOOK_NAME
    write_store(f"sqlite:///{path}", templates, accounts)
    return path


def child(kind: str, base: Path, workers: int, partition_size: int) -> dict[str, Any]:
    """One measurement in a fresh interpreter, so each has its own peak memory."""
    command = [sys.executable, __file__, "--measure", kind, "--book", str(base)]
    command += ["--workers", str(workers), "--partition-size", str(partition_size)]
    finished = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(finished.stdout.strip().splitlines()[-1])


def result(
    engine: dict[str, Any], floor: dict[str, Any], kernel: dict[str, Any], store: dict[str, Any]
) -> dict[str, Any]:
    """The JSON object one engine reports: its rate, its distance from the I/O floor, and the
    store's write floor scaled to issue 3's 10 million accounts."""
    seconds = engine["seconds"]
    store_seconds_per_account = store["seconds"] / store["accounts"]
    return {
        "engine": engine["kind"],
        "accounts": engine["accounts"],
        "seconds": round(seconds, 2),
        "accounts_per_s": round(engine["accounts"] / seconds, 1),
        "io_floor_seconds": round(floor["seconds"], 2),
        "ratio_to_io_floor": round(seconds / floor["seconds"], 2),
        "peak_memory_mb": round(engine["peak_memory_mb"], 1),
        "io_floor_peak_memory_mb": round(floor["peak_memory_mb"], 1),
        "workers": engine["workers"],
        "events_posted": engine["events_posted"],
        "step_seconds": engine["step_seconds"],
        "kernel_accounts_per_core_s": round(kernel["accounts"] / kernel["seconds"], 1),
        "store_write_floor_seconds": round(store["seconds"], 2),
        "store_write_floor_10m_seconds": round(store_seconds_per_account * TARGET_ACCOUNTS, 1),
        "store_write_floor_10m_seconds_by_kind": {
            kind: round(seconds / store["accounts"] * TARGET_ACCOUNTS, 1)
            for kind, seconds in store["seconds_by_kind"].items()
        },
    }


def compare_table(results: list[dict[str, Any]]) -> Table:
    """Both engines side by side, the kernel's one-core rate as the caption."""
    first = results[0]
    table = Table(
        title=f"One night of close of business, {first['accounts']:,} accounts, "
        f"{first['workers']} workers",
        caption=f"kernel alone: {first['kernel_accounts_per_core_s']:,.0f} accounts/s on one core; "
        f"store write floor {first['store_write_floor_seconds']:.1f} s, "
        f"{first['store_write_floor_10m_seconds']:,.0f} s at {TARGET_ACCOUNTS:,} accounts",
    )
    for column in ("engine", "seconds", "accounts/s", "I/O floor s", "x floor", "peak MB"):
        table.add_column(column, justify="right")
    for row in results:
        table.add_row(
            row["engine"],
            f"{row['seconds']:.1f}",
            f"{row['accounts_per_s']:,.0f}",
            f"{row['io_floor_seconds']:.1f}",
            f"{row['ratio_to_io_floor']:.2f}",
            f"{row['peak_memory_mb']:,.0f}",
        )
    return table


def main(arguments: list[str] | None = None) -> None:
    """Command line: one engine (``--engine``) or both (``--compare``) on one generated book."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--engine", choices=ENGINES, default="local")
    parser.add_argument("--compare", action="store_true", help="both engines and their floors")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--partition-size", type=int, default=PARTITION_SIZE)
    parser.add_argument("--book", type=Path, help="an already generated book to copy")
    parser.add_argument("--measure", choices=MEASUREMENTS, help=argparse.SUPPRESS)
    options = parser.parse_args(arguments)
    if options.measure is not None:
        measured = measure(options.measure, options.book, options.workers, options.partition_size)
        print(json.dumps(measured | {"kind": options.measure, "workers": options.workers}))
        return
    engines = ENGINES if options.compare else (options.engine,)
    with tempfile.TemporaryDirectory() as folder:
        base = options.book or generate(Path(folder), options.accounts)
        kernel = child("kernel", base, 1, options.partition_size)
        store = child("store-floor", base, 1, options.partition_size)
        results = []
        for engine in engines:
            measured, floor = (
                child(kind, base, options.workers, options.partition_size)
                for kind in (engine, f"{engine}-floor")
            )
            results.append(result(measured, floor, kernel, store))
    if options.json:
        print(json.dumps(results[0] if len(results) == 1 else results))
    else:
        Console().print(compare_table(results))


if __name__ == "__main__":
    main()
