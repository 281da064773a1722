"""``lendguard demo``: run the seeded sample book and print its summary.

The simulation itself lives in :mod:`lendguard.simulation.sample_book`; this module only parses
options, shows progress and prints.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lendguard.ledger.book import Book
from lendguard.simulation.sample_book import (
    START,
    accounts_max,
    fresh_database,
    months_max,
    run_end,
    simulate,
    summarise,
)
from lendguard.store import open_store

# --- the command ------------------------------------------------------------------------------


def demo_command(
    accounts: Annotated[
        int, typer.Option(min=1, max=accounts_max, help="Number of simulated accounts.")
    ] = 200,
    months: Annotated[int, typer.Option(min=1, max=months_max, help="Months to simulate.")] = 6,
    seed: Annotated[int, typer.Option(help="Seed of the simulation: same seed, same book.")] = 0,
    out: Annotated[
        Path, typer.Option(file_okay=False, help="Folder for lendguard.sqlite (replaced).")
    ] = Path("demo-out"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Build a seeded sample book through the real ledger and summarise it."""
    started = time.perf_counter()
    url = fresh_database(out)
    book = Book(open_store(url))
    try:
        columns = (TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("accounts", total=accounts)
            borrowers = simulate(book, accounts, months, seed, lambda: progress.advance(task))
        currency = borrowers[0].product.currency
        summary = {
            "seed": seed,
            "accounts": accounts,
            "months": months,
            "first_day": START.isoformat(),
            "last_day": run_end(months).isoformat(),
            "database": url,
            "currency": currency,
        }
        summary |= summarise(book, borrowers, currency)
    finally:
        book.store.close()
    elapsed_seconds = round(time.perf_counter() - started, 3)
    if as_json:
        typer.echo(json.dumps(summary | {"elapsed_seconds": elapsed_seconds}, ensure_ascii=False))
    else:
        print_summary(summary, elapsed_seconds)


def print_summary(summary: dict[str, Any], elapsed_seconds: float) -> None:
    """The summary as rich tables, between a line naming the run and one timing it."""
    console = Console()
    console.print(
        f"Demo book: {summary['accounts']} accounts, {summary['first_day']} to "
        f"{summary['last_day']}, seed {summary['seed']}, in {summary['database']}"
    )
    for title, columns, rows in summary_tables(summary):
        table = Table(title=title)
        for number, column in enumerate(columns):
            table.add_column(column, justify="left" if number == 0 else "right")
        for row in rows:
            table.add_row(*(str(cell) for cell in row))
        console.print(table)
    console.print(
        f"{summary['events']} events posted by {summary['requests']} requests in "
        f"{elapsed_seconds:.2f} s"
    )


def summary_tables(summary: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """Title, columns and rows of each summary table, in reading order."""
    trial = summary["trial_balance"]
    return [
        (
            "Accounts by product",
            ["Product", "Accounts", "Open", "Written off"],
            [[name, *row.values()] for name, row in summary["accounts_by_product"].items()],
        ),
        (
            "Borrowers by behaviour",
            ["Behaviour", "Borrowers"],
            list(map(list, summary["borrowers_by_behaviour"].items())),
        ),
        (
            f"Balances by component ({summary['currency']})",
            ["Component", "Balance"],
            list(map(list, summary["balances"].items())),
        ),
        (
            "Open book by bucket",
            ["Bucket", "Accounts", "Balance"],
            [[name, row["accounts"], row["balance"]] for name, row in summary["buckets"].items()],
        ),
        (
            "Open book by five-category (五级分类)",
            ["Category", "", "Accounts"],
            [
                [name, row["label_zh"], row["accounts"]]
                for name, row in summary["five_category"].items()
            ],
        ),
        (
            "Open book by IFRS 9 stage",
            ["Stage", "Accounts"],
            list(map(list, summary["ifrs9_stages"].items())),
        ),
        (
            "Losses",
            ["", "Accounts", "Amount"],
            [
                ["written off", *summary["written_off"].values()],
                ["recovered", *summary["recoveries"].values()],
            ],
        ),
        (
            "Trial balance",
            ["Ledger account", "Net"],
            [*map(list, trial["accounts"].items()), ["total", trial["total"]]],
        ),
    ]
