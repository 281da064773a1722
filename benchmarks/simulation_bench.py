"""The book simulator's speed against issue 6's target: 50,000 accounts x 12 months in 2 minutes.

Runs the default scenario at ``--accounts`` (default 1,000) for its 12 months on every core, and
prints, in one table: the run's time, account-days per second (an account-day is one account
closed for one business date, with its requests and snapshot row), the time per account-day, the
50,000-account run this rate implies, and the per-account-day budget the target allows. Both
figures come from the same run, so the ratio is what to read on a shared machine.

    python benchmarks/simulation_bench.py [--accounts 1000] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lendguard.eod.outputs import read_feed
from lendguard.simulation.runner import simulate
from lendguard.simulation.scenario import load_scenario

TARGET_ACCOUNTS = 50_000
TARGET_SECONDS = 120.0


def measure(accounts: int) -> dict[str, float]:
    """One run of the default scenario at ``accounts``; its time and account-days."""
    scenario = load_scenario("baseline").with_overrides(accounts=accounts)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        simulate(scenario, Path(folder))
        seconds = time.perf_counter() - started
        account_days = read_feed(Path(folder), "snapshots").num_rows
    # The target book has the same shape: account-days scale with accounts.
    target_account_days = account_days * TARGET_ACCOUNTS / accounts
    return {
        "accounts": accounts,
        "seconds": seconds,
        "account_days": account_days,
        "account_days_per_s": account_days / seconds,
        "microseconds_per_account_day": seconds / account_days * 1e6,
        "projected_target_seconds": target_account_days / (account_days / seconds),
        "budget_microseconds_per_account_day": TARGET_SECONDS / target_account_days * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args()
    figures = measure(arguments.accounts)
    if arguments.json:
        print(json.dumps(figures))
        return
    table = Table(title=f"Book simulator, default scenario, {arguments.accounts:,} accounts")
    for column in ("measure", "figure", "target", "ratio"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    table.add_row("run", f"{figures['seconds']:.1f} s", "", "")
    table.add_row("account-days", f"{figures['account_days']:,}", "", "")
    spent, budget = (
        figures["microseconds_per_account_day"],
        figures["budget_microseconds_per_account_day"],
    )
    table.add_row(
        "time per account-day", f"{spent:.1f} µs", f"{budget:.1f} µs", f"{spent / budget:.1f}x"
    )
    table.add_row(
        f"{TARGET_ACCOUNTS:,} accounts x 12 months",
        f"{figures['projected_target_seconds']:,.0f} s (projected)",
        f"{TARGET_SECONDS:.0f} s",
        f"{figures['projected_target_seconds'] / TARGET_SECONDS:.1f}x",
    )
    Console().print(table)


if __name__ == "__main__":
    main()
