"""The Spark engine against the embedded one and the online path, on real Spark in local mode.

Twin sample books from one seed: the embedded engine closes one, Spark another, ``Book`` a third,
and all three must end with the same events, journal and states; both engines must publish the
same Parquet parts byte for byte. One Spark session serves the whole module (starting a JVM costs
seconds); every run uses it and leaves it up.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NoReturn

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from sqlalchemy import update

from lendguard.eod.engine import InvalidEodRunError, RunSummary, run_eod
from lendguard.eod.kernel import INPUT_SCHEMA
from lendguard.eod.local import run_local
from lendguard.eod.spark import SparkTaskError, run_spark, spark_session
from lendguard.ledger.book import Book
from lendguard.ledger.events import EventKind
from lendguard.ledger.snapshot import state_to_data
from lendguard.simulation.sample_book import run_end, simulate
from lendguard.store import JournalLine, Store, create_engine_for, open_store, schema

ACCOUNTS = 40
MONTHS = 2
SEED = 5
END = run_end(MONTHS)
THROUGH = END + dt.timedelta(days=10)
PARTITION_SIZE = 7
"""Six partitions, so Spark runs two waves of up to four partitions on ``local[2]``."""


@dataclass(frozen=True)
class Closed:
    """Twin books after closing through ``THROUGH``: by each engine, and by ``Book``."""

    account_ids: list[str]
    local_url: str
    spark_url: str
    book_url: str
    local_out: Path
    spark_out: Path
    local: RunSummary
    spark: RunSummary
    heads_before: dict[str, int]


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def closed(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Closed:
    folder = tmp_path_factory.mktemp("twins")
    urls = {name: f"sqlite:///{folder / name}.sqlite" for name in ("local", "spark", "book")}
    account_ids = sample_book(urls["local"])
    assert sample_book(urls["spark"]) == sample_book(urls["book"]) == account_ids
    heads_before = heads(urls["spark"], account_ids)
    local = eod(run_local, "local", urls["local"], folder / "local-out", 1)
    spark_summary = eod(spark_runner(spark), "spark", urls["spark"], folder / "spark-out", "x")
    book = Book(open_store(urls["book"]))
    for account_id in account_ids:
        book.close_through(account_id, THROUGH)
    book.store.close()
    return Closed(
        account_ids,
        urls["local"],
        urls["spark"],
        urls["book"],
        folder / "local-out",
        folder / "spark-out",
        local,
        spark_summary,
        heads_before,
    )


# --- helpers --------------------------------------------------------------------------------------


def sample_book(url: str, accounts: int = ACCOUNTS) -> list[str]:
    """The seeded sample book at ``url``; its account ids."""
    store = open_store(url)
    try:
        return [b.account_id for b in simulate(Book(store), accounts, MONTHS, SEED)]
    finally:
        store.close()


def spark_runner(spark: SparkSession, **options: object) -> Callable[..., RunSummary]:
    """``run_spark`` on the module's session (``parallelism`` is then ignored)."""
    return partial(run_spark, session=spark, **options)


def eod(
    runner: Callable[..., RunSummary],
    engine: str,
    url: str,
    out: Path,
    parallelism: int | str,
    through: dt.date = THROUGH,
) -> RunSummary:
    return run_eod(
        runner,
        engine,
        url,
        through,
        catch_up=True,
        out_dir=out,
        partition_size=PARTITION_SIZE,
        parallelism=parallelism,
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


def trial_balance(url: str) -> dict[tuple[str, str], int]:
    store = open_store(url)
    try:
        assert all(total == 0 for total in store.journal_total_by_currency().values())
        return store.trial_balance()
    finally:
        store.close()


def heads(url: str, account_ids: list[str]) -> dict[str, int]:
    store = open_store(url)
    try:
        return {account_id: len(store.load_events(account_id)) for account_id in account_ids}
    finally:
        store.close()


def part_bytes(out: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*.parquet"))
    }


def counts(summary: RunSummary) -> tuple:
    return (
        summary.business_dates,
        summary.partitions,
        summary.accounts_closed,
        summary.accounts_skipped,
        summary.quarantined,
        summary.events_posted,
    )


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


def write_input_dataset(url: str, account_ids: list[str], folder: Path) -> Path:
    """The book's current states as a Parquet dataset of the kernel's ``INPUT_SCHEMA``."""
    store = open_store(url)
    book = Book(store)
    texts = [json.dumps(state_to_data(book.state(account_id))) for account_id in account_ids]
    store.close()
    folder.mkdir()
    middle = len(account_ids) // 2
    for number, rows in enumerate((slice(0, middle), slice(middle, None))):
        table = pa.table([account_ids[rows], texts[rows]], schema=INPUT_SCHEMA)
        pq.write_table(table, folder / f"part-{number}.parquet")
    return folder


# --- Spark against the embedded engine and the online path ----------------------------------------


def test_spark_closes_exactly_as_the_local_engine_and_the_book(closed: Closed) -> None:
    spark_ledger = ledger_of(closed.spark_url, closed.account_ids)
    assert spark_ledger == ledger_of(closed.local_url, closed.account_ids)
    assert spark_ledger == ledger_of(closed.book_url, closed.account_ids)
    assert trial_balance(closed.spark_url) == trial_balance(closed.local_url)
    assert trial_balance(closed.spark_url) == trial_balance(closed.book_url)
    assert counts(closed.spark) == counts(closed.local)
    assert closed.spark.engine == "spark"
    assert (closed.spark.accounts_closed, closed.spark.partitions) == (ACCOUNTS, 6)
    assert closed.spark.events_posted == sum(
        len(events) - closed.heads_before[account_id]
        for account_id, (events, _, _, _) in spark_ledger.items()
    )
    spark_parts = part_bytes(closed.spark_out)
    assert len(spark_parts) == 2 * 10 * 6
    assert spark_parts == part_bytes(closed.local_out)


def test_a_second_spark_run_posts_nothing_and_rewrites_the_same_parts(
    closed: Closed, spark: SparkSession
) -> None:
    ledger, parts = ledger_of(closed.spark_url, closed.account_ids), part_bytes(closed.spark_out)
    again = run_spark(
        closed.spark_url,
        closed.spark.business_dates,
        closed.spark_out,
        PARTITION_SIZE,
        "ignored",
        lambda *_: None,
        "again",
        session=spark,
    )
    assert (again.accounts_closed, again.accounts_skipped, again.events_posted) == (0, ACCOUNTS, 0)
    assert ledger_of(closed.spark_url, closed.account_ids) == ledger
    assert part_bytes(closed.spark_out) == parts  # replayed from the log, byte for byte


def test_a_corrupted_state_is_quarantined_as_locally_while_the_rest_close(
    spark: SparkSession, tmp_path: Path
) -> None:
    urls = {name: f"sqlite:///{tmp_path / name}.sqlite" for name in ("local", "spark")}
    summaries = {}
    for url in urls.values():
        account_ids = sample_book(url, accounts=6)
        corrupt_snapshot(url, account_ids[1], lambda state: {"snapshot_version": 1})
        corrupt_snapshot(url, account_ids[4], lambda state: state | {"product_version": "9"})
    before = heads(urls["spark"], account_ids)
    summaries["local"] = eod(run_local, "local", urls["local"], tmp_path / "local", 1)
    summaries["spark"] = eod(spark_runner(spark), "spark", urls["spark"], tmp_path / "spark", "x")

    summary = summaries["spark"]
    assert counts(summary) == counts(summaries["local"])
    assert (summary.accounts_closed, summary.accounts_quarantined) == (4, 2)
    errors = {entry.account_id: entry.error for entry in summary.quarantined}
    assert errors[account_ids[1]].startswith("unreadable snapshot: KeyError")
    assert "KeyError" in errors[account_ids[4]] and "@9" in errors[account_ids[4]]
    store = open_store(urls["spark"])
    assert {row[1] for row in store.quarantined(summary.run_id)} == set(errors)
    store.close()
    after = heads(urls["spark"], account_ids)
    assert all(after[a] == before[a] for a in errors)
    assert all(after[a] > before[a] for a in account_ids if a not in errors)
    assert part_bytes(tmp_path / "spark") == part_bytes(tmp_path / "local")
    readable = [a for a in account_ids if a != account_ids[1]]
    assert ledger_of(urls["spark"], readable) == ledger_of(urls["local"], readable)


def test_a_parquet_input_closes_the_same_and_a_stale_partition_reloads(
    closed: Closed, spark: SparkSession, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'parquet.sqlite'}"
    account_ids = sample_book(url)
    dataset = write_input_dataset(url, account_ids, tmp_path / "input")
    moved = account_ids[9]  # a request after the dataset was written: its state there is stale
    book = Book(open_store(url))
    book.charge_fee(moved, END + dt.timedelta(days=1), 1_00, "card", request_id="stale-1")
    book.store.close()

    runner = spark_runner(spark, input_path=dataset)
    summary = eod(runner, "spark", url, tmp_path / "out", "x")
    assert counts(summary)[1:5] == counts(closed.spark)[1:5]  # the fee adds events
    ledger = ledger_of(url, account_ids)
    expected = ledger_of(closed.spark_url, account_ids)
    assert {a: ledger[a] for a in account_ids if a != moved} == {
        a: expected[a] for a in account_ids if a != moved
    }
    events = ledger[moved][0]
    assert sum(event.request_id == "stale-1" for event in events) == 1
    closed_days = [e.business_date for e in events if e.kind == EventKind.DAY_CLOSED]
    assert closed_days == sorted(set(closed_days)) and closed_days[-1] == THROUGH
    assert trial_balance(url)  # balanced


def test_unsorted_input_is_refused(spark: SparkSession, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'book.sqlite'}"
    account_ids = sample_book(url, accounts=3)
    dataset = write_input_dataset(url, list(reversed(account_ids)), tmp_path / "input")
    with pytest.raises(InvalidEodRunError, match="strictly rising id order"):
        eod(spark_runner(spark, input_path=dataset), "spark", url, tmp_path / "out", "x")


def test_a_truncated_input_part_stops_the_run_before_anything_is_written(
    spark: SparkSession, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'book.sqlite'}"
    account_ids = sample_book(url, accounts=4)
    dataset = write_input_dataset(url, account_ids, tmp_path / "input")
    part = dataset / "part-1.parquet"
    part.write_bytes(part.read_bytes()[:-20])  # the footer cut off, as a crashed copy leaves it
    before = heads(url, account_ids)
    with pytest.raises(InvalidEodRunError, match=r"unreadable: .*part-1\.parquet"):
        eod(spark_runner(spark, input_path=dataset), "spark", url, tmp_path / "out", "x")
    assert heads(url, account_ids) == before
    assert not (tmp_path / "out").exists()


def test_an_input_part_without_the_state_column_is_refused(
    spark: SparkSession, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'book.sqlite'}"
    account_ids = sample_book(url, accounts=2)
    folder = tmp_path / "input"
    folder.mkdir()
    pq.write_table(pa.table({"account_id": account_ids}), folder / "part-0.parquet")
    with pytest.raises(InvalidEodRunError, match="needs a string column 'state'"):
        eod(spark_runner(spark, input_path=folder), "spark", url, tmp_path / "out", "x")


def test_a_failed_task_is_reported_by_its_own_error_line(
    spark: SparkSession, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'book.sqlite'}"
    sample_book(url, accounts=2)

    def failing(task: object) -> NoReturn:
        raise InvalidEodRunError("disk full on the executor")

    with pytest.raises(SparkTaskError, match=r"InvalidEodRunError: disk full on the executor$"):
        eod(spark_runner(spark, job=failing), "spark", url, tmp_path / "out", "x")
