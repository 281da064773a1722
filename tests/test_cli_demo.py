"""``lendguard demo``: a small seeded book runs, balances, and repeats from the same seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from lendguard.cli.main import app

SMALL = ("--accounts", "20", "--months", "2")


def demo(out: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["demo", *SMALL, "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def summary(out: Path, *args: str) -> dict[str, Any]:
    """The JSON summary without the facts of the run itself (where, how long)."""
    printed = json.loads(demo(out, "--json", *args))
    assert printed.pop("database").endswith(f"{out.name}/lendguard.sqlite")
    assert printed.pop("elapsed_seconds") > 0
    return printed


def test_demo_prints_a_balanced_book(tmp_path: Path) -> None:
    text = demo(tmp_path)
    assert "Trial balance" in text and "Open book by bucket" in text and "正常" in text
    (total_row,) = [line for line in text.splitlines() if "│ total  " in line and "0.00" in line]
    assert total_row.split("│")[2].strip() == "0.00"
    assert (tmp_path / "lendguard.sqlite").exists()


def test_demo_summary_is_complete_and_balanced(tmp_path: Path) -> None:
    book = summary(tmp_path)
    assert (book["accounts"], book["months"], book["last_day"]) == (20, 2, "2026-02-28")
    assert sum(row["accounts"] for row in book["accounts_by_product"].values()) == 20
    assert list(book["buckets"]) == ["M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7+"]
    assert book["five_category"]["normal"]["label_zh"] == "正常"
    assert book["trial_balance"]["total"] == "0.00"
    assert (
        book["trial_balance"]["accounts"]["asset:receivable:principal"]
        == (book["balances"]["principal"])
    )
    assert book["events"] > book["requests"] > 20


def test_the_same_seed_gives_the_same_book_in_a_fresh_database(tmp_path: Path) -> None:
    first = summary(tmp_path, "--seed", "7")
    again = summary(tmp_path, "--seed", "7")  # same folder: the old database is replaced
    assert again == first
    assert summary(tmp_path, "--seed", "8") != first
