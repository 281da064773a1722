"""The book simulator: scenario validation, determinism, and an independent auditor.

The auditor never asks the ledger's rules what should have happened. It takes the simulator's own
record of what borrowers did (money lent and repaid, bills left short) and checks the platform's
journal, balances and delinquency against it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import case, func, select

from lendguard.eod.outputs import read_feed
from lendguard.ledger.book import Book
from lendguard.ledger.journal import CREDIT_LOSS_EXPENSE, SETTLEMENT
from lendguard.simulation.runner import Outcome, simulate
from lendguard.simulation.scenario import ScenarioError, load_scenario, packaged_scenarios
from lendguard.store import open_store
from lendguard.store import schema as store_schema

SMALL = {"accounts": 60, "months": 5, "origination_months": 2}


def small_scenario(name: str = "baseline", seed: int = 0):
    return load_scenario(name).with_overrides(seed=seed, **SMALL)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return simulate(small_scenario(), tmp_path_factory.mktemp("sim") / "out")


# --- scenarios --------------------------------------------------------------------------------


def test_packaged_scenarios_load() -> None:
    names = packaged_scenarios()
    assert {"baseline", "stress", "challenger"} <= set(names)
    stress = load_scenario("stress")
    assert stress.shocks_in(4, "income-drop") == pytest.approx(0.25)
    assert stress.shocks_in(3, "income-drop") == 0
    assert load_scenario("challenger").underwriting.policy == "challenger"


def _write_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = (Path(__file__).parents[1] / "src/lendguard/simulation/data/stress.toml").read_text()
    assert old in text
    path = tmp_path / "variant.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("size = 0.25", "size = -0.25", "shock.0.size"),
        ("months = 12", "months = 0", "run.months"),
        ("[spending]", "[spending]\nsurprise = 1", "spending.surprise: Extra inputs"),
        ("start_month = 4\nmonths = 3", "start_month = 40\nmonths = 3", "after the run"),
        ("revolver_share = 0.2", "revolver_share = 1.5", "spending.revolver_share"),
        ('kind = "income-drop"', 'kind = "meteor"', "shock.0.kind"),
    ],
)
def test_bad_scenarios_are_refused_with_the_field_named(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(ScenarioError, match=message.replace(".", r"\.")):
        load_scenario(_write_variant(tmp_path, old, new))


def test_unreadable_and_malformed_scenarios(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read the scenario"):
        load_scenario(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[run\n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(broken)


def test_overrides_are_validated_too() -> None:
    with pytest.raises(ScenarioError, match=r"run\.accounts"):
        load_scenario("baseline").with_overrides(accounts=0)
    shorter = load_scenario("baseline").with_overrides(months=3)
    assert shorter.run.origination_months == 3
    assert shorter.end == dt.date(2026, 3, 31)


def test_an_unwritable_output_path_fails_before_any_work(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ScenarioError, match="not a folder"):
        simulate(small_scenario(), blocker)
    with pytest.raises(ScenarioError, match="cannot create"):
        simulate(small_scenario(), blocker / "below")


# --- determinism ------------------------------------------------------------------------------


def _digest(folder: Path) -> str:
    """Hash of the run's snapshot and decision contents (Parquet metadata may differ)."""
    snapshots = read_feed(folder, "snapshots").sort_by(
        [("business_date", "ascending"), ("account_id", "ascending")]
    )
    decisions = pq.read_table(folder / "decisions.parquet")
    hasher = hashlib.sha256()
    for table in (snapshots, decisions):
        for column in table.column_names:
            hasher.update(column.encode())
            hasher.update(repr(table.column(column).to_pylist()).encode())
    return hasher.hexdigest()


def test_same_seed_same_book_on_any_number_of_workers(run: Outcome, tmp_path: Path) -> None:
    again = simulate(small_scenario(), tmp_path / "again", workers=1)
    assert _digest(again.out_dir) == _digest(run.out_dir)
    other = simulate(small_scenario(seed=1), tmp_path / "other")
    assert _digest(other.out_dir) != _digest(run.out_dir)


# --- the run's shape --------------------------------------------------------------------------


def test_the_run_books_the_accounts_asked_for_through_underwriting(run: Outcome) -> None:
    decisions = pq.read_table(run.out_dir / "decisions.parquet").to_pandas()
    booked = decisions.dropna(subset=["account_id"])
    assert len(booked) == len(run.borrowers) == SMALL["accounts"]
    assert set(booked["final"]) == {"approved"}
    assert set(booked["decision"]) <= {"approve", "refer"}
    assert (decisions["final"] == "declined").sum() > 0
    assert (booked["limit_minor"] > 0).all()


def test_every_day_has_a_snapshot_of_every_booked_account(run: Outcome) -> None:
    snapshots = read_feed(run.out_dir, "snapshots").to_pandas()
    per_day = snapshots.groupby("business_date")["account_id"].count()
    days = (dt.date(2026, 5, 31) - dt.date(2026, 1, 1)).days + 1
    assert len(list((run.out_dir / "snapshots").glob("business_date=*"))) == days
    assert days - 7 <= len(per_day) <= days  # the first days may have no account yet
    assert per_day.iloc[-1] == SMALL["accounts"]
    assert per_day.is_monotonic_increasing
    last = snapshots[snapshots["business_date"] == snapshots["business_date"].max()]
    assert (last.loc[last["status"] == "open", "closed_through"] == dt.date(2026, 5, 31)).all()


# --- the auditor ------------------------------------------------------------------------------


def _journal_by_account(url: str) -> dict[str, dict[str, tuple[int, int]]]:
    """Per account and ledger account: the debits and the credits (both positive)."""
    store = open_store(url)
    lines = store_schema.journal_lines
    amount = lines.c.amount_minor
    query = select(
        lines.c.account_id,
        lines.c.ledger_account,
        func.sum(case((amount > 0, amount), else_=0)),
        func.sum(case((amount < 0, -amount), else_=0)),
    ).group_by(lines.c.account_id, lines.c.ledger_account)
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    store.close()
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for account_id, ledger_account, debits, credits in rows:
        table.setdefault(account_id, {})[ledger_account] = (int(debits), int(credits))
    return table


def _recorded(borrower, *kinds: str) -> int:
    return sum(amount for _, what, amount in borrower.record if what in kinds)


def test_auditor_cash_and_balances_match_the_simulators_record(run: Outcome) -> None:
    """Cash out equals what borrowers bought and drew, cash in what they repaid; what they owe
    is exactly that plus what was charged, less what was written off."""
    journal = _journal_by_account(run.database_url)
    book = Book(open_store(run.database_url))
    try:
        for borrower in run.borrowers:
            lines = journal[borrower.account_id]
            lent = _recorded(borrower, "purchase", "draw")
            repaid = _recorded(borrower, "repay")
            assert lines.get(SETTLEMENT, (0, 0)) == (repaid, lent), borrower.account_id
            charged = sum(c - d for name, (d, c) in lines.items() if name.startswith("income:"))
            written_off = lines.get(CREDIT_LOSS_EXPENSE, (0, 0))[0]
            state = book.state(borrower.account_id)
            owed = state.balance_minor() - state.credit_minor
            assert owed == lent + charged - repaid - written_off, borrower.account_id
            assert 0 <= state.principal_outstanding_minor() <= lent
    finally:
        book.store.close()
    assert sum(_recorded(b, "purchase", "draw") for b in run.borrowers) > 0


def test_auditor_delinquency_agrees_with_what_borrowers_did(run: Outcome) -> None:
    """Never short on a bill: current (or late by a payment still on its way). Short on a bill
    and nothing paid since: past due at least since that bill's due date."""
    book = Book(open_store(run.database_url))
    end = dt.date(2026, 5, 31)
    late_window = dt.timedelta(days=small_scenario().repayment.late_days_max)
    clean = behind = 0
    try:
        for borrower in run.borrowers:
            state = book.state(borrower.account_id)
            if state.status != "open":
                continue
            missed = [day for day, what, _ in borrower.record if what == "missed"]
            repaid_on = [day for day, what, _ in borrower.record if what == "repay"]
            past_due_days = state.delinquency.past_due_days
            if not missed:
                oldest = end - dt.timedelta(days=past_due_days)
                assert past_due_days == 0 or oldest >= end - late_window, borrower.account_id
                clean += past_due_days == 0
            elif not [day for day in repaid_on if day >= missed[0]]:
                assert past_due_days >= (end - missed[0]).days, borrower.account_id
                behind += 1
    finally:
        book.store.close()
    assert clean > len(run.borrowers) // 2


def test_hooks_are_neutral_by_default_and_take_effect_when_set(run: Outcome) -> None:
    borrower = run.borrowers[0]
    calm = small_scenario()
    assert calm.hooks.restructuring_acceptance == 0
    assert not any(borrower.accepts_restructuring(calm) for _ in range(100))
    data = calm.model_dump()
    data["hooks"]["restructuring_acceptance"] = 1.0
    keen = type(calm).model_validate(data)
    assert all(borrower.accepts_restructuring(keen) for _ in range(100))
