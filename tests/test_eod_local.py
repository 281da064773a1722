"""The embedded close-of-business engine over whole sample books, on SQLite and PostgreSQL.

The reference is the online path: ``Book.close_through`` on a twin book built from the same seed
must end with exactly the events, journal and states the engine leaves. Runs are also repeated,
killed, locked out, given gaps and corrupted accounts.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import create_engine, make_url, update
from typer.testing import CliRunner

from lendguard.cli.main import app
from lendguard.eod.engine import (
    InvalidEodRunError,
    MissingBusinessDatesError,
    RunSummary,
    plan_dates,
    run_eod,
)
from lendguard.eod.local import run_local
from lendguard.eod.lock import EodLockedError, UnsupportedEodDatabaseError, eod_lock
from lendguard.eod.outputs import CHANGE_KINDS, CHANGES, SNAPSHOTS, delinquency_change, read_feed
from lendguard.ledger.book import Book
from lendguard.ledger.events import EventKind
from lendguard.simulation.sample_book import run_end, simulate
from lendguard.store import EventRecord, JournalLine, Store, create_engine_for, open_store, schema

ACCOUNTS = 24
MONTHS = 2
SEED = 11
END = run_end(MONTHS)
"""The sample book is closed through this date; runs close the dates after it."""


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def twin_url(store_url: str, tmp_path: Path) -> Iterator[str]:
    """A second empty database on the same backend as ``store_url``."""
    if store_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'twin.sqlite'}"
        return
    url = make_url(store_url)
    name = f"t_{uuid.uuid4().hex}"
    admin = create_engine(url.difference_update_query(["options"]))
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {name}")
    try:
        yield url.update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
        admin.dispose()


def sample_book(url: str, accounts: int = ACCOUNTS) -> list[str]:
    """The seeded sample book at ``url``; its account ids."""
    store = open_store(url)
    try:
        return [b.account_id for b in simulate(Book(store), accounts, MONTHS, SEED)]
    finally:
        store.close()


def eod(
    url: str,
    out: Path,
    target_date: dt.date,
    *,
    catch_up: bool = True,
    partition_size: int = 7,
    workers: int = 1,
) -> RunSummary:
    return run_eod(
        run_local,
        "local",
        url,
        target_date,
        catch_up=catch_up,
        out_dir=out,
        partition_size=partition_size,
        parallelism=workers,
    )


def ledger_of(url: str, account_ids: list[str]) -> dict[str, tuple]:
    """Per account: every event, every journal line, the state loaded afresh, the snapshot."""
    store = open_store(url)
    book = Book(store)
    try:
        return {
            account_id: (
                store.load_events(account_id),
                journal_of(store, account_id),
                book.state(account_id),
                store.load_snapshot(account_id),
            )
            for account_id in account_ids
        }
    finally:
        store.close()


def journal_of(store: Store, account_id: str) -> list[JournalLine]:
    lines: list[JournalLine] = []
    while page := store.journal(account_id, offset=len(lines)):
        lines.extend(page)
    return lines


def heads(url: str, account_ids: list[str]) -> dict[str, int]:
    """Each account's head sequence (its number of events)."""
    store = open_store(url)
    try:
        return {account_id: len(store.load_events(account_id)) for account_id in account_ids}
    finally:
        store.close()


def part_bytes(out: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*.parquet"))
    }


def feed(out: Path, name: str) -> pa.Table:
    """A whole feed in a stable row order."""
    table = read_feed(out, name)
    keys = [("business_date", "ascending"), ("account_id", "ascending")]
    if name == CHANGES:
        keys.append(("sequence", "ascending"))
    return table.sort_by(keys)


def night_of(events: list[EventRecord], index: int) -> dt.date:
    """The business date of the night an event belongs to: its next ``day_closed``."""
    return next(e.business_date for e in events[index:] if e.kind == EventKind.DAY_CLOSED)


# --- the engine against the online path -------------------------------------------------------


def test_a_month_of_nights_equals_the_book_closing_each_account(
    store_url: str, twin_url: str, tmp_path: Path
) -> None:
    account_ids = sample_book(store_url)
    assert sample_book(twin_url) == account_ids
    before = heads(store_url, account_ids)
    through = END + dt.timedelta(days=31)  # the April statement is cut on the night of 31 March
    calls: list[tuple[int, int]] = []
    summary = run_eod(
        run_local,
        "local",
        store_url,
        through,
        catch_up=True,
        out_dir=tmp_path / "out",
        partition_size=7,
        parallelism=1,
        progress=lambda done, expected: calls.append((done, expected)),
    )
    twin = Book(open_store(twin_url))
    for account_id in account_ids:
        twin.close_through(account_id, through)
    twin.store.close()

    engine_ledger = ledger_of(store_url, account_ids)
    assert engine_ledger == ledger_of(twin_url, account_ids)
    assert summary.business_dates == tuple(END + dt.timedelta(days=n) for n in range(1, 32))
    assert (summary.accounts_closed, summary.accounts_skipped, summary.accounts_quarantined) == (
        ACCOUNTS,
        0,
        0,
    )
    posted = {a: len(engine_ledger[a][0]) - before[a] for a in account_ids}
    assert summary.events_posted == sum(posted.values())
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    check_parts(tmp_path / "out", engine_ledger, before, summary.business_dates)
    store = open_store(store_url)
    record = store.eod_run(summary.run_id)
    store.close()
    assert record is not None
    assert (record["status"], record["accounts_closed"], record["events_posted"]) == (
        "succeeded",
        ACCOUNTS,
        summary.events_posted,
    )


def check_parts(
    out: Path, ledger: dict[str, tuple], before: dict[str, int], dates: tuple[dt.date, ...]
) -> None:
    """One snapshot row per account and date; change rows are exactly the night's news."""
    for day in dates:
        for name in (SNAPSHOTS, CHANGES):
            assert (out / name / f"business_date={day}" / "part-00003.parquet").exists()
    snapshots = feed(out, SNAPSHOTS).to_pylist()
    assert len(snapshots) == len(ledger) * len(dates)
    assert all(row["closed_through"] == row["business_date"] for row in snapshots)
    last = {row["account_id"]: row for row in snapshots if row["business_date"] == dates[-1]}
    for account_id, (_, _, state, _) in ledger.items():
        assert last[account_id]["total_minor"] == state.balance_minor()
        assert last[account_id]["bucket"] == state.delinquency.bucket
    expected = {
        (account_id, event.sequence, night_of(events, index))
        for account_id, (events, _, _, _) in ledger.items()
        for index, event in enumerate(events)
        if event.sequence > before[account_id] and event.kind in CHANGE_KINDS
    }
    changes = feed(out, CHANGES).to_pylist()
    assert {(r["account_id"], r["sequence"], r["business_date"]) for r in changes} == expected
    assert any(row["kind"] == "statement_cut" for row in changes)
    moves = [row for row in changes if row["kind"] == "delinquency_changed"]
    assert moves and all(row["change"] is not None for row in moves)
    assert all(json.loads(row["detail"]) for row in changes if row["kind"] != "unfrozen")


# --- repeated, killed, locked, gapped ---------------------------------------------------------


def test_a_rerun_posts_nothing_and_rewrites_the_same_parts(store_url: str, tmp_path: Path) -> None:
    account_ids = sample_book(store_url)
    out = tmp_path / "out"
    night = eod(store_url, out, END + dt.timedelta(days=1), catch_up=False)
    one_night = part_bytes(out)
    rerun = eod(store_url, out, END + dt.timedelta(days=1), catch_up=False)
    assert (night.accounts_closed, rerun.accounts_skipped, rerun.events_posted) == (24, 24, 0)
    assert part_bytes(out) == one_night  # rebuilt from the state and the night's events

    first = eod(store_url, out, END + dt.timedelta(days=3))
    ledger, written = ledger_of(store_url, account_ids), part_bytes(out)
    assert first.business_dates == (END + dt.timedelta(days=2), END + dt.timedelta(days=3))
    assert first.accounts_closed == ACCOUNTS and len(written) == 2 * 3 * 4

    dates = tuple(END + dt.timedelta(days=n) for n in range(1, 4))
    again = run_local(store_url, dates, out, 7, 1, lambda *_: None, "again")
    assert (again.accounts_closed, again.accounts_skipped, again.events_posted) == (0, ACCOUNTS, 0)
    assert ledger_of(store_url, account_ids) == ledger
    assert part_bytes(out) == written  # rebuilt from the whole log, byte for byte

    earlier = eod(store_url, out, END + dt.timedelta(days=1), catch_up=False, partition_size=50)
    assert earlier.business_dates == (END + dt.timedelta(days=1),)
    assert earlier.accounts_skipped == ACCOUNTS and earlier.events_posted == 0
    assert ledger_of(store_url, account_ids) == ledger  # never moved back
    day = f"business_date={END + dt.timedelta(days=1)}"
    assert sorted(p.name for p in (out / SNAPSHOTS / day).iterdir()) == ["part-00000.parquet"]
    assert feed(out, SNAPSHOTS).equals(read_back(written, tmp_path, SNAPSHOTS))

    dates = tuple(END + dt.timedelta(days=n) for n in range(1, 6))
    further = run_local(store_url, dates, out, 7, 1, lambda *_: None, "further")
    assert (further.accounts_closed, further.accounts_skipped) == (ACCOUNTS, 0)
    assert {k: v for k, v in part_bytes(out).items() if k in written} == written
    assert feed(out, SNAPSHOTS)["business_date"].to_pylist().count(dates[-1]) == ACCOUNTS


def read_back(parts: dict[str, bytes], tmp_path: Path, name: str) -> pa.Table:
    """A feed as it was when ``parts`` were taken."""
    copy = tmp_path / "copy"
    for relative, content in parts.items():
        (copy / relative).parent.mkdir(parents=True, exist_ok=True)
        (copy / relative).write_bytes(content)
    return feed(copy, name)


def test_a_killed_run_resumes_without_accruing_twice(
    store_url: str, twin_url: str, tmp_path: Path
) -> None:
    account_ids = sample_book(store_url)
    sample_book(twin_url)
    through = END + dt.timedelta(days=10)
    out = tmp_path / "killed"
    workers = "2" if store_url.startswith("sqlite") else "1"  # the pool once, in-process once
    command = [str(Path(sys.executable).parent / "lendguard"), "eod", "--db", store_url]
    options = ["--through", str(through), "--out", str(out), "--workers", workers]
    process = subprocess.Popen([*command, *options, "--partition-size", "3"])
    first_part = out / SNAPSHOTS / f"business_date={through}" / "part-00000.parquet"
    deadline = time.monotonic() + 30
    while not first_part.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (len(children) >= 2) == (workers == "2")  # the workers (and a resource tracker)
    assert all(dies(int(child)) for child in children)
    store = open_store(store_url)
    assert store.closed_through_min() < through, "the run ended before it was killed"
    store.close()

    resumed = eod(store_url, out, through, partition_size=3)
    assert resumed.accounts_closed + resumed.accounts_skipped == ACCOUNTS
    assert resumed.accounts_skipped >= 1
    eod(twin_url, tmp_path / "whole", through, partition_size=3)
    ledger = ledger_of(store_url, account_ids)
    assert ledger == ledger_of(twin_url, account_ids)
    for events, _, _, _ in ledger.values():
        closed = [e.business_date for e in events if e.kind == EventKind.DAY_CLOSED]
        assert closed == sorted(set(closed))  # no day closed twice
    assert part_bytes(out) == part_bytes(tmp_path / "whole")


def dies(pid: int) -> bool:
    """Whether a process is gone (or a zombie) within five seconds."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.01)
    return False


def test_a_second_run_is_refused_while_the_lock_is_held(store_url: str, tmp_path: Path) -> None:
    account_ids = sample_book(store_url, accounts=3)
    before = heads(store_url, account_ids)
    with eod_lock(store_url), pytest.raises(EodLockedError, match="another close-of-business"):
        eod(store_url, tmp_path, END + dt.timedelta(days=1))
    assert heads(store_url, account_ids) == before
    assert eod(store_url, tmp_path, END + dt.timedelta(days=1)).accounts_closed == 3


def test_a_date_after_a_gap_names_the_missing_dates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'book.sqlite'}"
    account_ids = sample_book(url, accounts=3)
    before = heads(url, account_ids)
    with pytest.raises(MissingBusinessDatesError, match="2026-03-01 to 2026-03-02") as refused:
        eod(url, tmp_path, dt.date(2026, 3, 3), catch_up=False)
    assert "--through 2026-03-03" in refused.value.message
    assert heads(url, account_ids) == before


def test_quarantined_accounts_are_reported_while_the_others_close(
    store_url: str, tmp_path: Path
) -> None:
    account_ids = sample_book(store_url, accounts=6)
    unreadable, unknown_product = account_ids[1], account_ids[4]
    corrupt_snapshot(store_url, unreadable, lambda state: {"snapshot_version": 1})
    corrupt_snapshot(store_url, unknown_product, lambda state: state | {"product_version": "9"})
    before = heads(store_url, account_ids)

    summary = eod(store_url, tmp_path, END + dt.timedelta(days=1))
    assert (summary.accounts_closed, summary.accounts_quarantined) == (4, 2)
    errors = {entry.account_id: entry.error for entry in summary.quarantined}
    assert errors[unreadable].startswith("unreadable snapshot: KeyError")
    assert "KeyError" in errors[unknown_product] and "@9" in errors[unknown_product]
    store = open_store(store_url)
    assert {row[1] for row in store.quarantined(summary.run_id)} == set(errors)
    after = heads(store_url, account_ids)
    assert all(after[a] == before[a] for a in errors)
    assert all(after[a] > before[a] for a in account_ids if a not in errors)
    assert set(feed(tmp_path, SNAPSHOTS)["account_id"].to_pylist()).isdisjoint(errors)
    store.close()


def corrupt_snapshot(url: str, account_id: str, change: Callable[[dict], dict]) -> None:
    """Overwrite an account's stored snapshot, as a bad migration or a disk fault might."""
    store = open_store(url)
    snapshot = store.load_snapshot(account_id)
    store.close()
    assert snapshot is not None
    table = schema.account_snapshots
    engine = create_engine_for(url)
    with engine.begin() as connection:
        connection.execute(
            update(table).where(table.c.account_id == account_id).values(state=change(snapshot[1]))
        )
    engine.dispose()


# --- the command line on the demo book --------------------------------------------------------


def test_eod_closes_the_demo_book_from_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    demo = runner.invoke(app, ["demo", "--accounts", "30", "--months", "2", "--out", str(tmp_path)])
    assert demo.exit_code == 0, demo.output
    db = ["--db", f"sqlite:///{tmp_path / 'lendguard.sqlite'}", "--out", str(tmp_path / "eod")]
    options = ["--through", "2026-03-03", "--workers", "2", "--partition-size", "8", "--json"]
    closed = runner.invoke(app, ["eod", *db, *options])
    assert closed.exit_code == 0, closed.output
    summary = json.loads(closed.stdout)
    assert summary["business_dates"] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert (summary["accounts_closed"], summary["partitions"]) == (30, 4)
    assert set(summary["timings_seconds"]) == {"load", "rules", "write", "outputs"}
    assert len(list((tmp_path / "eod").rglob("part-*.parquet"))) == 2 * 3 * 4

    text = runner.invoke(app, ["eod", *db, "--date", "2026-03-03"])
    assert text.exit_code == 0, text.output
    assert "Skipped" in text.stdout and "Seconds per step" in text.stdout
    gap = runner.invoke(app, ["eod", *db, "--date", "2026-03-09"])
    assert gap.exit_code == 2
    assert "error[missing_business_dates]" in gap.output and "--through" in gap.output
    both = runner.invoke(app, ["eod", *db, "--date", "2026-03-04", "--through", "2026-03-04"])
    assert both.exit_code == 2
    with eod_lock(f"sqlite:///{tmp_path / 'lendguard.sqlite'}"):
        locked = runner.invoke(app, ["eod", *db, "--date", "2026-03-04"])
    assert locked.exit_code == 2 and "error[eod_locked]" in locked.output


def test_in_memory_sqlite_cannot_be_closed_by_several_processes() -> None:
    with pytest.raises(UnsupportedEodDatabaseError), eod_lock("sqlite://"):
        pass


# --- the pure parts ---------------------------------------------------------------------------


def test_plan_dates_catches_up_in_order_and_is_bounded() -> None:
    day = dt.date(2026, 3, 10)
    assert plan_dates(None, day, catch_up=False) == [day]
    assert plan_dates(day, day, catch_up=False) == [day]  # a rerun
    assert plan_dates(day + dt.timedelta(days=4), day, catch_up=True) == [day]  # ahead
    assert plan_dates(dt.date(2026, 3, 7), day, catch_up=True) == [
        dt.date(2026, 3, 8),
        dt.date(2026, 3, 9),
        day,
    ]
    with pytest.raises(
        MissingBusinessDatesError, match=r"2026-03-09 are not closed .*\(1 missing\)"
    ):
        plan_dates(dt.date(2026, 3, 8), day, catch_up=False)
    with pytest.raises(InvalidEodRunError, match="exceed"):
        plan_dates(dt.date(2024, 1, 1), day, catch_up=True)


@pytest.mark.parametrize(
    ("before", "after", "change"),
    [
        ("M0", "M1", "became_overdue"),
        ("M2", "M0", "cured"),
        ("M1", "M2", "bucket_moved"),
        ("M1", "M1", "reclassified"),
    ],
)
def test_delinquency_moves_are_named(before: str, after: str, change: str) -> None:
    assert delinquency_change(before, after, "M0") == change
