"""``lendguard eod``: close business dates for the whole book and publish the night's outputs.

``--date D`` closes D; ``--through D`` closes every date the book is missing up to D, in order.
The business date is always typed, never read from the clock. A refused run (missing dates,
another run holding the lock, bad options) prints one line and exits 2 with nothing written.
Progress over partitions goes to stderr; the summary (or ``--json``) to stdout.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lendguard import limits
from lendguard.cli.errors import bad_input_exits, database_errors, fail
from lendguard.eod.engine import EngineRunner, Parallelism, RunSummary, run_eod, workers_max
from lendguard.eod.local import run_local
from lendguard.store import default_url

ENGINES = ("local", "spark")


def eod_command(
    date: Annotated[
        str | None, typer.Option("--date", help="Close this business date, YYYY-MM-DD.")
    ] = None,
    through: Annotated[
        str | None,
        typer.Option("--through", help="Close every missing business date up to this one."),
    ] = None,
    engine: Annotated[str, typer.Option(help="local (in-process workers) or spark.")] = "local",
    master: Annotated[str, typer.Option(help="Spark master URL (--engine spark).")] = "local[2]",
    db: Annotated[
        str | None, typer.Option("--db", help="Database URL (default: $LENDGUARD_DB).")
    ] = None,
    out: Annotated[
        Path, typer.Option(file_okay=False, help="Folder for the snapshot and change parts.")
    ] = Path("eod-out"),
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=workers_max, help="Worker processes (default: all cores)."),
    ] = None,
    partition_size: Annotated[
        int,
        typer.Option(min=1, max=limits.accounts_per_partition_max, help="Accounts per partition."),
    ] = 5_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Close business dates for every serviced account, under the book's lock."""
    target_date, catch_up = _target(date, through)
    runner, parallelism = _engine(engine, master, workers)
    url = db or default_url()
    columns = (TextColumn("closing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        bad_input_exits(),
        database_errors(url),
        Progress(*columns, console=Console(stderr=True), transient=True) as progress,
    ):
        task = progress.add_task("partitions", total=None)
        summary = run_eod(
            runner,
            engine,
            url,
            target_date,
            catch_up=catch_up,
            out_dir=out,
            partition_size=partition_size,
            parallelism=parallelism,
            progress=lambda done, expected: progress.update(task, completed=done, total=expected),
        )
    if as_json:
        typer.echo(json.dumps(summary.to_dict() | {"out": str(out)}, ensure_ascii=False))
    else:
        print_summary(summary, out)


def _target(date: str | None, through: str | None) -> tuple[dt.date, bool]:
    """The target date and whether to catch up; exactly one of the two options is required."""
    if (date is None) == (through is None):
        fail("give exactly one of --date or --through")
    option, text = ("--date", date) if date is not None else ("--through", through)
    try:
        return dt.date.fromisoformat(text or ""), option == "--through"
    except ValueError:
        fail(f"{option} must be a date as YYYY-MM-DD, got {text!r}")


def _engine(engine: str, master: str, workers: int | None) -> tuple[EngineRunner, Parallelism]:
    """The runner of ``--engine`` and its parallelism; Spark is imported only when asked for."""
    if engine == "local":
        return run_local, workers or os.cpu_count() or 1
    if engine == "spark":
        # Lazy: pyspark starts a JVM and most runs never need it.
        from lendguard.eod.spark import run_spark  # noqa: PLC0415

        return run_spark, master
    fail(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")


def print_summary(summary: RunSummary, out: Path) -> None:
    """The run as a table of counts, one of step timings, and the quarantined accounts."""
    console = Console()
    dates = summary.business_dates
    named = str(dates[0]) if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    console.print(f"Close of business {named} ({summary.engine}, run {summary.run_id})")
    counts = Table(title="Accounts")
    for column in ("Closed", "Skipped", "Quarantined", "Events posted", "Accounts/s"):
        counts.add_column(column, justify="right")
    counts.add_row(
        *(str(value) for value in summary.counts().values()),
        f"{summary.accounts_per_second:.1f}",
    )
    console.print(counts)
    timings = Table(title=f"Seconds per step, summed over {summary.partitions} partitions")
    for step in summary.timings_seconds:
        timings.add_column(step, justify="right")
    timings.add_column("elapsed", justify="right")
    timings.add_row(
        *(f"{seconds:.2f}" for seconds in summary.timings_seconds.values()),
        f"{summary.elapsed_seconds:.2f}",
    )
    console.print(timings)
    if summary.quarantined:
        quarantine = Table(title=f"Quarantined ({summary.accounts_quarantined})")
        for column in ("Account", "Business date", "Error"):
            quarantine.add_column(column)
        for entry in summary.quarantined:
            quarantine.add_row(entry.account_id, str(entry.business_date), entry.error)
        console.print(quarantine)
    console.print(f"Outputs in {out}/snapshots and {out}/changes")
