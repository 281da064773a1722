"""Benchmark books of up to a billion accounts in minutes, without posting requests one by one.

Why: the sample book runs every request through ``Book`` (about 60 accounts a second), so a
million accounts would take hours. Here a few hundred *template* accounts go through the real
ledger (both product shapes, every behaviour of :mod:`lendguard.simulation.sample_book`), and the
book is then cloned from them: each clone is a template's snapshot JSON with the account id
rewritten, bulk-inserted with its account row straight through the driver in large
transactions.

A clone needs no events: its account row's ``head_sequence`` equals its snapshot's ``sequence``,
so loading it reads the snapshot and finds no later events, and the next append continues from
that sequence. The journal therefore holds only what runs after generation.

Back of the envelope: a snapshot is about 2.5 KB of JSON, so a million accounts write about
3.4 GB to SQLite with its indexes; the driver inserts about 50 MB/s in WAL mode (measured: 72 s
in all). The templates take a few seconds. ``OVERDUE_SHARE_PERCENT`` of clones come from
templates past due at the end.

Run ``python benchmarks/book_generator.py --accounts 1000000 --url sqlite:///book.sqlite`` (or
``--parquet DIR`` for the columnar snapshot dataset that Spark reads).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, insert

from lendguard.eod.kernel import INPUT_SCHEMA
from lendguard.ledger.book import Book
from lendguard.ledger.snapshot import state_to_data
from lendguard.simulation.sample_book import run_end, simulate
from lendguard.store import ProductRecord, create_engine_for, migrate, open_store, schema

TEMPLATES = 300
"""Template accounts simulated through the real ledger: enough for every path of the rules."""

TEMPLATE_MONTHS = 3
"""Months of history behind each template: statements, instalments and 60+ days of arrears."""

OVERDUE_SHARE_PERCENT = 10
"""Share of the generated book that is past due on its last closed day."""

ROWS_PER_TRANSACTION = 50_000
"""Accounts per insert transaction: large enough that commits cost nothing, small enough to keep
the WAL and the row lists to about 150 MB."""

ROWS_PER_PARQUET_FILE = 250_000
"""Accounts per file of the Parquet snapshot dataset (about 100 MB compressed per file)."""

TEMPLATE_STRIDE = 7919
"""A prime step through a template pool, so neighbouring ids copy different templates."""

accounts_max = 1_000_000_000
"""The account id format holds nine digits."""


@dataclass(frozen=True)
class Template:
    """One simulated account, ready to clone: its account row values and its snapshot text."""

    account_id: str
    product_id: str
    product_version: str
    currency: str
    opened_on: dt.date
    status: str
    sequence: int
    closed_through: dt.date
    state_text: str
    overdue: bool


@dataclass(frozen=True)
class TemplateBook:
    """The templates and the product versions they were opened under."""

    templates: list[Template]
    products: list[ProductRecord]

    @property
    def closed_through(self) -> dt.date:
        """The last business date every template (and so every clone) is closed through."""
        (day,) = {template.closed_through for template in self.templates}
        return day


def account_id_for(number: int) -> str:
    """The id of generated account ``number`` (fixed width, so ids sort as numbers do)."""
    return f"G{number:09d}"


def build_templates(folder: Path, count: int = TEMPLATES, seed: int = 1) -> TemplateBook:
    """Simulate ``count`` accounts through the real ``Book`` in a SQLite file under ``folder``."""
    store = open_store(f"sqlite:///{folder / 'templates.sqlite'}")
    try:
        book = Book(store)
        borrowers = simulate(book, accounts=count, months=TEMPLATE_MONTHS, seed=seed)
        templates = [_template(book, borrower.account_id) for borrower in borrowers]
        products = store.list_products()
    finally:
        store.close()
    book_templates = TemplateBook(templates, products)
    assert book_templates.closed_through == run_end(TEMPLATE_MONTHS)
    assert any(t.overdue for t in templates) and not all(t.overdue for t in templates)
    return book_templates


def _template(book: Book, account_id: str) -> Template:
    state = book.state(account_id)
    return Template(
        account_id=account_id,
        product_id=state.product_id,
        product_version=state.product_version,
        currency=state.currency,
        opened_on=state.opened_on,
        status=state.status,
        sequence=state.sequence,
        closed_through=state.closed_through,
        state_text=json.dumps(state_to_data(state)),
        overdue=state.status == "open" and state.delinquency.past_due_days > 0,
    )


def template_for(number: int, overdue: list[Template], current: list[Template]) -> Template:
    """The template clone ``number`` copies: one in ten (``OVERDUE_SHARE_PERCENT``) is overdue.

    Deterministic, and exact in every window of 100 accounts, so a book of any size has the same
    mix: clone ``n`` is overdue when ``n * share`` crosses a multiple of 100. A prime stride
    spreads each pool's templates over the ids.
    """
    crossed = (number + 1) * OVERDUE_SHARE_PERCENT // 100 > number * OVERDUE_SHARE_PERCENT // 100
    pool = overdue if crossed else current
    return pool[(number * TEMPLATE_STRIDE) % len(pool)]


def clone_text(template: Template, account_id: str) -> str:
    """The template's snapshot with its account id rewritten (also inside item sources).

    Template ids have a fixed width, so one id is never a part of another.
    """
    return template.state_text.replace(template.account_id, account_id)


def clones(book: TemplateBook, accounts: int) -> Iterator[tuple[str, Template, str]]:
    """``(account_id, template, snapshot_text)`` for each generated account, in id order."""
    if not 0 < accounts <= accounts_max:
        raise ValueError(f"accounts must be within 1..{accounts_max}, got {accounts}")
    overdue = [template for template in book.templates if template.overdue]
    current = [template for template in book.templates if not template.overdue]
    for number in range(accounts):
        template = template_for(number, overdue, current)
        account_id = account_id_for(number)
        yield account_id, template, clone_text(template, account_id)


def write_store(url: str, book: TemplateBook, accounts: int) -> None:
    """A migrated store at ``url`` holding the products and ``accounts`` cloned accounts."""
    store = open_store(url)
    try:
        for product in book.products:
            store.save_product(product)
    finally:
        store.close()
    engine = create_engine_for(url)
    try:
        migrate(engine)
        chunk: list[tuple[str, Template, str]] = []
        for clone in clones(book, accounts):
            chunk.append(clone)
            if len(chunk) == ROWS_PER_TRANSACTION:
                _insert_chunk(engine, chunk)
                chunk = []
        if chunk:
            _insert_chunk(engine, chunk)
    finally:
        engine.dispose()


def _insert_chunk(engine: Engine, chunk: list[tuple[str, Template, str]]) -> None:
    """Accounts and their snapshots in one transaction, one driver call per table.

    Values go in already in the stored form (ISO dates, JSON text): SQLAlchemy's per-row bind
    processing would parse and re-serialise every snapshot, which costs more than the insert.
    """
    account_rows = [
        {
            "account_id": account_id,
            "product_id": template.product_id,
            "product_version": template.product_version,
            "currency": template.currency,
            "opened_on": template.opened_on.isoformat(),
            "status": template.status,
            "head_sequence": template.sequence,
        }
        for account_id, template, _ in chunk
    ]
    snapshot_rows = [
        {
            "account_id": account_id,
            "sequence": template.sequence,
            "state": text,
            "last_closed_on": template.closed_through.isoformat(),
        }
        for account_id, template, text in chunk
    ]
    with engine.begin() as connection:
        cursor = connection.connection.cursor()
        try:
            for table, rows in (
                (schema.accounts, account_rows),
                (schema.account_snapshots, snapshot_rows),
            ):
                sql = str(insert(table).compile(dialect=engine.dialect))
                cursor.executemany(sql, rows)
        finally:
            cursor.close()


def write_parquet(folder: Path, book: TemplateBook, accounts: int) -> list[Path]:
    """The book as a Parquet snapshot dataset of the kernel's ``INPUT_SCHEMA``, in id order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    ids: list[str] = []
    texts: list[str] = []
    for account_id, _, text in clones(book, accounts):
        ids.append(account_id)
        texts.append(text)
        if len(ids) == ROWS_PER_PARQUET_FILE:
            paths.append(_write_file(folder, len(paths), ids, texts))
            ids, texts = [], []
    if ids:
        paths.append(_write_file(folder, len(paths), ids, texts))
    return paths


def _write_file(folder: Path, number: int, ids: list[str], texts: list[str]) -> Path:
    path = folder / f"part-{number:05d}.parquet"
    table = pa.table({"account_id": ids, "state": texts}, schema=INPUT_SCHEMA)
    pq.write_table(table, path)
    return path


def main(arguments: list[str] | None = None) -> None:
    """Command line: generate a book into a store URL and/or a Parquet folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--url", help="store URL, e.g. sqlite:///book.sqlite (must be empty)")
    parser.add_argument("--parquet", type=Path, help="folder for the Parquet snapshot dataset")
    parser.add_argument("--templates", type=int, default=TEMPLATES)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args(arguments)
    if options.url is None and options.parquet is None:
        parser.error("give --url, --parquet or both")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        book = build_templates(Path(folder), options.templates, options.seed)
    if options.url is not None:
        write_store(options.url, book, options.accounts)
    if options.parquet is not None:
        write_parquet(options.parquet, book, options.accounts)
    elapsed_seconds = time.perf_counter() - started
    print(
        f"{options.accounts} accounts closed through {book.closed_through} "
        f"in {elapsed_seconds:.1f} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
