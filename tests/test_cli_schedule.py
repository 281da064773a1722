"""``lendguard schedule``: JSON and table output, and one clear line with exit 2 on bad input."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from lendguard.cli.main import app as main_app

EXAMPLE = [
    "schedule",
    "--principal",
    "5000.00",
    "--annual-rate",
    "12",
    "--term",
    "18",
    "--method",
    "equal-instalment",
    "--day-count",
    "30/360",
    "--start",
    "2022-11-01",
]


@pytest.fixture
def app() -> typer.Typer:
    """The real ``lendguard`` command line, with its sub-commands."""
    return main_app


def run(app: typer.Typer, *arguments: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(arguments))
    return result.exit_code, result.stdout, result.stderr


def with_option(name: str, value: str | None, arguments: list[str] = EXAMPLE) -> list[str]:
    """``arguments`` with one option replaced (or removed when ``value`` is None)."""
    arguments = list(arguments)
    index = arguments.index(name)
    del arguments[index : index + 2]
    return arguments if value is None else [*arguments, name, value]


def test_schedule_is_registered_on_the_main_app() -> None:
    names = [command.name for command in main_app.registered_commands]
    assert "schedule" in names


def test_json_output(app: typer.Typer) -> None:
    exit_code, stdout, _ = run(app, *EXAMPLE, "--json")
    assert exit_code == 0
    output = json.loads(stdout)
    assert list(output) == [
        "currency",
        "principal",
        "method",
        "day_count",
        "periods",
        "total_interest",
        "total_payment",
        "apr",
        "apr_effective",
        "apr_convention",
    ]
    assert output["principal"] == "5000.00"
    assert (output["method"], output["day_count"], output["currency"]) == (
        "equal-instalment",
        "30/360",
        "CNY",
    )
    first, last = output["periods"][0], output["periods"][-1]
    assert first == {
        "number": 1,
        "due_date": "2022-12-01",
        "payment": "304.91",
        "principal": "254.91",
        "interest": "50.00",
        "fee": "0.00",
        "balance": "4745.09",
    }
    assert (last["number"], last["payment"], last["balance"]) == (18, "304.94", "0.00")
    assert (output["total_interest"], output["total_payment"]) == ("488.41", "5488.41")
    assert (output["apr"], output["apr_effective"]) == ("12.00", "12.68")
    assert output["apr_convention"] == "IRR, monthly, nominal = periodic x 12"


def test_daily_rate_is_a_percent_per_day(app: typer.Typer) -> None:
    arguments = with_option("--day-count", "ACT/365", with_option("--annual-rate", None))
    exit_code, stdout, _ = run(app, *arguments, "--daily-rate", "0.05", "--json")
    assert exit_code == 0
    output = json.loads(stdout)
    assert output["periods"][0]["interest"] == "75.00"  # 5,000.00 x 0.05% x 30 days (Nov)
    assert output["day_count"] == "ACT/365"


def test_due_day_currency_and_rounding_options(app: typer.Typer) -> None:
    arguments = [*EXAMPLE, "--due-day", "10", "--currency", "USD", "--rounding", "down", "--json"]
    exit_code, stdout, _ = run(app, *arguments)
    assert exit_code == 0
    output = json.loads(stdout)
    assert output["currency"] == "USD"
    assert output["periods"][0]["due_date"] == "2022-12-10"
    assert output["periods"][0]["payment"] == "304.91"


def test_table_output_has_totals_and_the_apr(app: typer.Typer) -> None:
    exit_code, stdout, _ = run(app, *EXAMPLE)
    assert exit_code == 0
    assert "Total" in stdout
    assert "5488.41" in stdout
    assert "APR 12.00% nominal, 12.68% effective (IRR, monthly, nominal = periodic x 12)" in stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (with_option("--principal", "-5000.00"), "principal must be positive"),
        (with_option("--principal", "0"), "principal must be positive"),
        (with_option("--principal", "5000.001"), "more precision than the minor unit"),
        (with_option("--principal", "5e3.0"), "not a plain decimal amount"),
        ([*EXAMPLE, "--daily-rate", "0.05"], "exactly one of --annual-rate or --daily-rate"),
        (with_option("--annual-rate", None), "exactly one of --annual-rate or --daily-rate"),
        (with_option("--annual-rate", "-1"), "must not be negative"),
        (with_option("--annual-rate", "twelve"), "not a decimal number"),
        (with_option("--start", "2022-02-30"), "YYYY-MM-DD"),
        (with_option("--method", "balloon"), "unknown repayment method"),
        (with_option("--day-count", "30/365"), "unknown day count"),
        (with_option("--term", "0"), "term must be 1..360"),
        ([*EXAMPLE, "--currency", "XXX"], "unknown currency"),
        ([*EXAMPLE, "--rounding", "nearest"], "unknown rounding mode"),
        ([*EXAMPLE, "--due-day", "32"], "due day must be 1..31"),
    ],
)
def test_bad_input_is_one_line_and_exit_two(
    app: typer.Typer, arguments: list[str], message: str
) -> None:
    exit_code, stdout, stderr = run(app, *arguments)
    assert exit_code == 2
    assert stdout == ""
    assert stderr.count("\n") == 1
    assert stderr.startswith("error[")
    assert message in stderr
