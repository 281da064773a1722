"""``lendguard schedule``: print a repayment schedule and its APR (IRR) from the command line.

Rates are typed as percents and read as exact decimals from the text (``--annual-rate 12`` is 12%
a year, ``--daily-rate 0.05`` is 0.05% a day, 万五); amounts print as decimal strings. The APR is
always shown, with its convention, as PBOC 公告〔2021〕第3号 asks (DOMAIN 6.8).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lendguard.cli.errors import bad_input_exits, fail
from lendguard.dates.daycount import DayCount
from lendguard.money import format_minor, parse_minor
from lendguard.plans.apr import AprResult, percent_text
from lendguard.plans.interest import Rate
from lendguard.plans.schedule import Schedule, build_schedule, check_rounding


def schedule_command(
    *,
    principal: Annotated[str, typer.Option(help="Amount lent, e.g. 5000.00.")],
    term: Annotated[int, typer.Option(help="Number of monthly periods.")],
    method: Annotated[
        str, typer.Option(help="equal-instalment, equal-principal or interest-first.")
    ],
    day_count: Annotated[str, typer.Option(help="ACT/365, ACT/360, 30/360 or ACT/ACT.")],
    start: Annotated[str, typer.Option(help="Drawdown date, YYYY-MM-DD.")],
    annual_rate: Annotated[
        str | None, typer.Option(help="Percent a year, e.g. 12 (exclusive with --daily-rate).")
    ] = None,
    daily_rate: Annotated[
        str | None, typer.Option(help="Percent a day, e.g. 0.05 (exclusive with --annual-rate).")
    ] = None,
    currency: Annotated[str, typer.Option(help="ISO currency of the amounts.")] = "CNY",
    rounding: Annotated[str, typer.Option(help="Rounding of interest and payments.")] = "half-up",
    due_day: Annotated[
        int | None, typer.Option(help="Day of the month payments fall due (default: start's).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Print a monthly repayment schedule with its totals and APR (IRR)."""
    with bad_input_exits():
        rate = _read_rate(annual_rate, daily_rate, _read_day_count(day_count))
        schedule = build_schedule(
            parse_minor(principal, currency),
            rate,
            term,
            method,
            _read_date(start),
            currency=currency,
            rounding=check_rounding(rounding),
            due_day=due_day,
        )
    if as_json:
        typer.echo(json.dumps(schedule_json(schedule), ensure_ascii=False))
    else:
        _print_table(schedule)


def schedule_json(schedule: Schedule) -> dict[str, object]:
    """The schedule as JSON-ready data: amounts as decimal strings, APR as percent strings."""
    currency = schedule.currency
    return {
        "currency": currency,
        "principal": format_minor(schedule.principal_minor, currency),
        "method": schedule.method.value,
        "day_count": schedule.rate.day_count.value,
        "periods": [
            {
                "number": period.number,
                "due_date": period.due_date.isoformat(),
                "payment": format_minor(period.payment_minor, currency),
                "principal": format_minor(period.principal_minor, currency),
                "interest": format_minor(period.interest_minor, currency),
                "fee": format_minor(period.fee_minor, currency),
                "balance": format_minor(period.balance_minor, currency),
            }
            for period in schedule.periods
        ],
        "total_interest": format_minor(schedule.total_interest_minor, currency),
        "total_payment": format_minor(schedule.total_payment_minor, currency),
        "apr": percent_text(schedule.apr.nominal_annual),
        "apr_effective": percent_text(schedule.apr.effective_annual),
        "apr_convention": schedule.apr.convention,
    }


def _apr_line(apr: AprResult) -> str:
    """The disclosure line: both annual readings and the convention behind them."""
    return (
        f"APR {percent_text(apr.nominal_annual)}% nominal, "
        f"{percent_text(apr.effective_annual)}% effective ({apr.convention})"
    )


def _read_rate(annual_rate: str | None, daily_rate: str | None, day_count: DayCount) -> Rate:
    if (annual_rate is None) == (daily_rate is None):
        fail("give exactly one of --annual-rate or --daily-rate")
    if annual_rate is not None:
        return Rate.annual_percent(annual_rate, day_count)
    assert daily_rate is not None  # one of the two, checked above
    return Rate.daily_percent(daily_rate, day_count)


def _read_day_count(text: str) -> DayCount:
    try:
        return DayCount(text.upper())
    except ValueError:
        known = ", ".join(day_count.value for day_count in DayCount)
        fail(f"unknown day count {text!r}; known: {known}")


def _read_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"--start must be a date as YYYY-MM-DD, got {text!r}")


def _print_table(schedule: Schedule) -> None:
    currency = schedule.currency
    principal = format_minor(schedule.principal_minor, currency)
    title = f"{schedule.method.value}: {principal} {currency}, {schedule.rate.day_count.value}"
    table = Table(title=title, show_footer=True)
    totals = {
        "Payment": schedule.total_payment_minor,
        "Principal": schedule.principal_minor,
        "Interest": schedule.total_interest_minor,
        "Fee": schedule.total_fee_minor,
    }
    table.add_column("#", footer="Total", justify="right")
    table.add_column("Due date")
    for name, total_minor in totals.items():
        table.add_column(name, footer=format_minor(total_minor, currency), justify="right")
    table.add_column("Balance", justify="right")
    for period in schedule.periods:
        amounts_minor = (
            period.payment_minor,
            period.principal_minor,
            period.interest_minor,
            period.fee_minor,
            period.balance_minor,
        )
        table.add_row(
            str(period.number),
            period.due_date.isoformat(),
            *(format_minor(amount, currency) for amount in amounts_minor),
        )
    console = Console()
    console.print(table)
    console.print(_apr_line(schedule.apr))
