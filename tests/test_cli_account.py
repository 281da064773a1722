"""``lendguard account`` end to end on a temporary SQLite file: sessions, replays and refusals.

Each test drives the real command line (typer's runner) over a fresh database, the way an
operator would in a shell, and reads results back through ``--json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from lendguard.cli.main import app

PRODUCTS = Path(__file__).resolve().parents[1] / "products"
CREDIT_LINE = PRODUCTS / "huabei-standard.toml"
CASH_LOAN = PRODUCTS / "jiebei-standard.toml"


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A database URL with both sample products registered."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    for product in (CREDIT_LINE, CASH_LOAN):
        ok(url, "product", "add", str(product))
    return url


def run(db: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["account", *args, "--db", db])


def ok(db: str, *args: str) -> str:
    """Run a command that must succeed; its stdout."""
    result = run(db, *args)
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


def data(db: str, *args: str) -> dict[str, Any]:
    """Run a command with ``--json``; the one object it prints."""
    return json.loads(ok(db, *args, "--json"))


def refused(db: str, *args: str) -> str:
    """Run a command that must be refused: exit 2, one line on stderr, no traceback."""
    result = run(db, *args)
    assert result.exit_code == 2, (args, result.output)
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error[")
    return result.stderr


def open_credit_line(db: str, account: str = "A1") -> None:
    ok(
        db,
        "open",
        "--product",
        "huabei-standard",
        "--account",
        account,
        "--date",
        "2026-01-05",
        "--due-day",
        "10",
        "--limit",
        "5000",
        "--request-id",
        f"open-{account}",
    )


def purchase(db: str, day: str, purchase_id: str, amount: str) -> str:
    return ok(
        db,
        "purchase",
        "--account",
        "A1",
        "--date",
        day,
        "--purchase",
        purchase_id,
        "--amount",
        amount,
        "--request-id",
        f"buy-{purchase_id}",
    )


# --- a whole session --------------------------------------------------------------------------


def test_credit_line_session_from_purchase_to_delinquency(db: str) -> None:
    products = data(db, "product", "list")["products"]
    assert [p["product_id"] for p in products] == ["huabei-standard", "jiebei-standard"]
    open_credit_line(db)
    assert "purchase_id=p1 amount=1000.00" in purchase(db, "2026-01-06", "p1", "1000.00")
    purchase(db, "2026-01-20", "p2", "360.00")
    converted = data(
        db,
        "instalment",
        "--account",
        "A1",
        "--date",
        "2026-01-21",
        "--purchase",
        "p2",
        "--term",
        "3",
        "--request-id",
        "convert-p2",
    )
    assert converted["kind"] == "instalment_conversion"
    ok(db, "close-day", "--account", "A1", "--through", "2026-02-03")
    (statement,) = data(db, "statements", "A1")["statements"]
    assert (statement["cut_on"], statement["due_on"]) == ("2026-02-01", "2026-02-10")
    assert (statement["total"], statement["minimum"]) == ("1122.76", "222.76")
    ok(
        db,
        "repay",
        "--account",
        "A1",
        "--date",
        "2026-02-09",
        "--amount",
        "100.00",
        "--request-id",
        "pay-1",
    )
    ok(db, "close-day", "--account", "A1", "--through", "2026-02-20")

    shown = data(db, "show", "A1")
    assert (shown["status"], shown["frozen"], shown["credit_limit"]) == ("open", True, "5000.00")
    assert shown["balances"]["principal"] == "1262.76"  # 1000 + 360 - 97.24 paid
    assert shown["delinquency"] == {
        "past_due_days": 10,
        "delinquent_days": 10,
        "bucket": "M1",
        "five_category": "special-mention",
        "five_category_zh": "关注",
        "ifrs9_stage": 1,
    }
    assert shown["closed_through"] == "2026-02-20"
    assert "关注" in ok(db, "show", "A1")

    journal = data(db, "journal", "A1")
    assert journal["total"]["net"] == "0.00"
    assert journal["total"]["debit"] == journal["total"]["credit"]
    assert journal["total"]["lines"] == len(journal["lines"])

    history = data(db, "history", "A1")
    assert [e["sequence"] for e in history["events"]] == list(range(1, len(history["events"]) + 1))
    requests = [(e["kind"], e["request_id"]) for e in history["events"] if e["request_id"]]
    assert requests == [
        ("opened", "open-A1"),
        ("purchase", "buy-p1"),
        ("purchase", "buy-p2"),
        ("instalment_conversion", "convert-p2"),
        ("repayment", "pay-1"),
    ]
    assert history["bucket_history"] == [
        {"bucket": "M1", "entered_on": "2026-02-11", "left_on": None}
    ]
    text = ok(db, "history", "A1")
    assert "statement_cut" in text and "M1" in text


def test_cash_loan_draw_schedule_prepay_and_close(db: str) -> None:
    ok(
        db,
        "open",
        "--product",
        "jiebei-standard",
        "--account",
        "L1",
        "--date",
        "2026-01-31",
        "--request-id",
        "open-L1",
    )
    drawn = ok(
        db,
        "draw",
        "--account",
        "L1",
        "--date",
        "2026-01-31",
        "--amount",
        "12000",
        "--term",
        "12",
        "--method",
        "equal-instalment",
        "--request-id",
        "draw-1",
    )
    assert "plan_id=L2" in drawn and "apr=14.49%" in drawn
    (plan,) = data(db, "schedule", "L1")["plans"]
    assert (plan["plan_id"], len(plan["periods"]), plan["remaining"]) == ("L2", 12, "12000.00")
    assert "14.49% nominal" in ok(db, "schedule", "L1")
    partial = data(
        db,
        "prepay",
        "--account",
        "L1",
        "--date",
        "2026-02-15",
        "--plan",
        "L2",
        "--amount",
        "2000",
        "--request-id",
        "prepay-1",
    )
    assert partial["data"]["interest_minor"] == 7200  # 12000.00 x 0.04% x 15 days
    ok(
        db,
        "prepay",
        "--account",
        "L1",
        "--date",
        "2026-02-20",
        "--plan",
        "L2",
        "--request-id",
        "prepay-2",
    )
    assert data(db, "show", "L1")["balance"] == "0.00"
    assert data(db, "schedule", "L1")["plans"] == []
    ok(db, "close", "--account", "L1", "--date", "2026-02-21", "--request-id", "close-L1")
    assert data(db, "show", "L1")["status"] == "closed"


def test_servicing_corrections_write_off_and_recovery(db: str) -> None:
    open_credit_line(db)
    purchase(db, "2026-01-06", "p1", "800.00")
    refund = data(
        db,
        "refund",
        "--account",
        "A1",
        "--date",
        "2026-01-07",
        "--purchase",
        "p1",
        "--amount",
        "300",
        "--request-id",
        "refund-1",
    )
    assert refund["data"]["amount_minor"] == 30000
    ok(
        db,
        "fee",
        "--account",
        "A1",
        "--date",
        "2026-01-08",
        "--amount",
        "5",
        "--name",
        "sms",
        "--request-id",
        "fee-1",
    )
    ok(
        db,
        "waive",
        "--account",
        "A1",
        "--date",
        "2026-01-09",
        "--component",
        "fee",
        "--amount",
        "5",
        "--reason",
        "goodwill",
        "--request-id",
        "waive-1",
    )
    paid = data(
        db,
        "repay",
        "--account",
        "A1",
        "--date",
        "2026-01-10",
        "--amount",
        "50",
        "--request-id",
        "pay-1",
    )
    reversal = data(
        db,
        "reverse",
        "--account",
        "A1",
        "--date",
        "2026-01-11",
        "--sequence",
        str(paid["sequence"]),
        "--reason",
        "bounced",
        "--request-id",
        "reverse-1",
    )
    assert reversal["data"]["target_sequence"] == paid["sequence"]
    ok(
        db,
        "pause",
        "--account",
        "A1",
        "--date",
        "2026-01-12",
        "--reason",
        "dispute",
        "--request-id",
        "pause-1",
    )
    ok(db, "resume", "--account", "A1", "--date", "2026-01-13", "--request-id", "resume-1")
    ok(db, "close-day", "--account", "A1", "--through", "2026-02-02")
    converted = data(
        db,
        "instalment",
        "--account",
        "A1",
        "--date",
        "2026-02-03",
        "--statement",
        "S20260201",
        "--term",
        "3",
        "--request-id",
        "convert-bill",
    )
    assert converted["data"]["principal_minor"] == 50000
    ok(
        db,
        "write-off",
        "--account",
        "A1",
        "--date",
        "2026-02-04",
        "--reason",
        "fraud",
        "--request-id",
        "write-off-1",
    )
    recovery = data(
        db,
        "repay",
        "--account",
        "A1",
        "--date",
        "2026-02-05",
        "--amount",
        "20",
        "--request-id",
        "pay-2",
    )
    assert recovery["kind"] == "recovery"
    shown = data(db, "show", "A1")
    assert (shown["status"], shown["written_off"], shown["recovered"]) == (
        "written_off",
        "500.00",
        "20.00",
    )  # the plan's principal; its fees were never billed
    assert data(db, "journal", "A1")["total"]["net"] == "0.00"


def test_close_day_posts_in_bounded_windows_over_decades(db: str) -> None:
    open_credit_line(db)
    closed = data(db, "close-day", "--account", "A1", "--through", "2056-01-01")
    assert closed["closed_through"] == "2056-01-01"
    assert closed["events_posted"] > 10_000  # more than one store write may hold
    again = data(db, "close-day", "--account", "A1", "--through", "2056-01-01")
    assert again["events_posted"] == 0


def test_default_database_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LENDGUARD_DB", f"sqlite:///{tmp_path / 'env.sqlite'}")
    result = CliRunner().invoke(app, ["account", "product", "add", str(CREDIT_LINE)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env.sqlite").exists()


# --- idempotency ------------------------------------------------------------------------------


def test_a_replayed_request_prints_the_original_result(db: str) -> None:
    open_credit_line(db)
    first = purchase(db, "2026-01-06", "p1", "1000.00")
    again = purchase(db, "2026-01-06", "p1", "1000.00")
    assert again == first.rstrip("\n") + " (replayed)\n"
    repay = (
        "repay",
        "--account",
        "A1",
        "--date",
        "2026-01-08",
        "--amount",
        "10",
        "--request-id",
        "pay-1",
    )
    original, replay = data(db, *repay), data(db, *repay)
    assert (original.pop("replayed"), replay.pop("replayed")) == (False, True)
    assert original == replay
    assert len(data(db, "history", "A1")["events"]) == original["sequence"]


def test_an_open_replays_after_later_requests(db: str) -> None:
    open_credit_line(db)
    purchase(db, "2026-01-06", "p1", "10")
    result = run(
        db,
        "open",
        "--product",
        "huabei-standard",
        "--account",
        "A1",
        "--date",
        "2026-01-05",
        "--due-day",
        "10",
        "--limit",
        "5000",
        "--request-id",
        "open-A1",
    )
    assert result.exit_code == 0
    assert result.stdout.startswith("A1 #1 opened") and "(replayed)" in result.stdout


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("-5", "must be positive"),
        ("0", "must be positive"),
        ("1.001", "more precision than the minor unit"),
        ("1e3", "decimal amount such as 1234.56"),
        ("abc", "decimal amount such as 1234.56"),
        ("nan", "decimal amount such as 1234.56"),
    ],
)
def test_bad_amounts_are_refused_with_one_line(db: str, amount: str, message: str) -> None:
    open_credit_line(db)
    error = refused(
        db,
        "purchase",
        "--account",
        "A1",
        "--date",
        "2026-01-06",
        "--purchase",
        "p1",
        "--amount",
        amount,
        "--request-id",
        "buy-1",
    )
    assert error.startswith("error[invalid_amount]") and message in error


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("show", "NOPE"), "unknown_account"),
        (("journal", "NOPE"), "unknown_account"),
        (
            (
                "repay",
                "--account",
                "NOPE",
                "--date",
                "2026-01-06",
                "--amount",
                "1",
                "--request-id",
                "x",
            ),
            "unknown_account",
        ),
        (("product", "add", "/no/such/product.toml"), "unknown_product"),
        (
            (
                "open",
                "--product",
                "nope",
                "--account",
                "B1",
                "--date",
                "2026-01-05",
                "--request-id",
                "x",
            ),
            "unknown_product",
        ),
        (
            (
                "purchase",
                "--account",
                "A1",
                "--date",
                "2026-01-04",
                "--purchase",
                "p1",
                "--amount",
                "1",
                "--request-id",
                "x",
            ),
            "invalid_date",
        ),
        (
            (
                "purchase",
                "--account",
                "A1",
                "--date",
                "2026-13-01",
                "--purchase",
                "p1",
                "--amount",
                "1",
                "--request-id",
                "x",
            ),
            "bad_input",
        ),
        (
            (
                "purchase",
                "--account",
                "A1",
                "--date",
                "2026-01-06",
                "--purchase",
                "p1",
                "--amount",
                "1",
                "--request-id",
                "open-A1",
            ),
            "idempotency_conflict",
        ),
        (
            (
                "draw",
                "--account",
                "A1",
                "--date",
                "2026-01-06",
                "--amount",
                "600",
                "--term",
                "3",
                "--method",
                "equal-instalment",
                "--request-id",
                "x",
            ),
            "account_state",
        ),
        (
            (
                "waive",
                "--account",
                "A1",
                "--date",
                "2026-01-06",
                "--component",
                "tip",
                "--amount",
                "1",
                "--reason",
                "r",
                "--request-id",
                "x",
            ),
            "bad_input",
        ),
        (
            (
                "instalment",
                "--account",
                "A1",
                "--date",
                "2026-01-06",
                "--term",
                "3",
                "--request-id",
                "x",
            ),
            "bad_input",
        ),
        (("journal", "A1", "--limit", "0"), "invalid_page"),
    ],
)
def test_bad_input_is_refused_with_one_line_and_nothing_written(
    db: str, args: tuple[str, ...], code: str
) -> None:
    open_credit_line(db)
    before = data(db, "journal", "A1")["total"]
    assert refused(db, *args).startswith(f"error[{code}]")
    assert data(db, "journal", "A1")["total"] == before


def test_an_unusable_database_url_is_one_line(tmp_path: Path) -> None:
    for url in ("nonsense", f"sqlite:///{tmp_path / 'missing' / 'folder.sqlite'}"):
        assert refused(url, "show", "A1").startswith("error[bad_database]")
