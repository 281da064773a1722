"""Portfolio metrics on a hand-made book whose every figure is worked out in the test.

The book (``example_book``) is six accounts seen on six business dates from 2026-01-05 to
2026-04-30, written in the simulator's exact layout and read back with ``load_run``. Month ends
are 01-31, 02-28, 03-31 and 04-30; 02-15 and 03-20 are mid-month dates that only the daily
measures (first 30+ date, balance before write-off) see. Balances at month ends::

    account kind         opened   01-31      02-28       03-31           04-30
    A       cash_loan    01-05    M0 10000   M0 10000    M0 10000        M0 10000
    B       credit_line  01-05    M0 20000   M1 20000/20 M2 21000/51     M3 22000/92
    C       credit_line  01-05    M0  5000   M1  5000/25 written off     written off
    D       cash_loan    02-10    -          M0  8000    closed          closed
    E       credit_line  01-05    M0     0   M0     0    M0     0        M0     0
    F       cash_loan    01-05    M0  3000   M0  3000    M1  3000/16     M2  3000/46

(``balance/past_due_days``.) C holds 5100 on 03-20, the day before its write-off; B and C first
reach 30 days past due on 03-20 (74 days after opening), F on 04-30 (115 days).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.eod.outputs import SNAPSHOT_SCHEMA, part_path
from lendguard.simulation import portfolio
from lendguard.simulation.portfolio import (
    DECISIONS_FILE,
    Run,
    approval_by_month,
    book_by_month,
    build_run,
    c_m1_flow,
    cohort_accounts,
    delinquency_by_bucket,
    first_payment_default_by_cohort,
    first_payment_default_rate,
    headline,
    load_run,
    past_due_rates,
    roll_rates,
    score_distribution,
    vintage_curves,
    write_off_rate_annualised,
    write_offs_by_month,
)
from lendguard.simulation.runner import DECISION_SCHEMA

JAN_05, JAN_31 = dt.date(2026, 1, 5), dt.date(2026, 1, 31)
FEB_10, FEB_15, FEB_28 = dt.date(2026, 2, 10), dt.date(2026, 2, 15), dt.date(2026, 2, 28)
MAR_20, MAR_31, APR_30 = dt.date(2026, 3, 20), dt.date(2026, 3, 31), dt.date(2026, 4, 30)
DATES = (JAN_05, JAN_31, FEB_15, FEB_28, MAR_20, MAR_31, APR_30)


# --- building runs in the simulator's layout ----------------------------------------------------


def snapshot_row(
    account_id: str,
    kind: str,
    opened_on: dt.date,
    business_date: dt.date,
    total_minor: int,
    *,
    past_due_days: int = 0,
    bucket: str = "M0",
    status: str = "open",
    interest_minor: int = 0,
    late_fee_minor: int = 0,
) -> dict[str, Any]:
    """A full ``SNAPSHOT_SCHEMA`` row (plus ``business_date``); principal is the remainder."""
    return {
        "business_date": business_date,
        "account_id": account_id,
        "product_id": f"{kind}-test",
        "kind": kind,
        "status": status,
        "frozen": False,
        "principal_minor": total_minor - interest_minor - late_fee_minor,
        "interest_minor": interest_minor,
        "fee_minor": 0,
        "penalty_minor": 0,
        "late_fee_minor": late_fee_minor,
        "total_minor": total_minor,
        "credit_minor": 0,
        "available_minor": 0,
        "past_due_days": past_due_days,
        "delinquent_days": max(past_due_days - 3, 0),
        "bucket": bucket,
        "five_category": "normal",
        "ifrs9_stage": 1,
        "closed_through": business_date,
        "limit_minor": 50_000,
        "overdue_minor": 0,
        "opened_on": opened_on,
    }


def decision_row(
    application_id: str,
    applied_on: dt.date,
    decision: str,
    final: str,
    score: float | None,
) -> dict[str, Any]:
    approved = final == "approved"
    return {
        "application_id": application_id,
        "applied_on": applied_on,
        "product_kind": "cash_loan",
        "decision": decision,
        "final": final,
        "score": score,
        "grade": "B" if approved else None,
        "limit_minor": 20_000 if approved else 0,
        "account_id": f"acct-{application_id}" if approved else None,
    }


def write_run(
    out_dir: Path, snapshots: Iterable[Mapping[str, Any]], decisions: Iterable[Mapping[str, Any]]
) -> Path:
    """Write rows as the simulator does: one snapshot part per business date, decisions file."""
    by_date: dict[dt.date, list[dict[str, Any]]] = {}
    for row in snapshots:
        values = dict(row)
        by_date.setdefault(values.pop("business_date"), []).append(values)
    for business_date, rows in by_date.items():
        path = part_path(out_dir, "snapshots", business_date, 0)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows.sort(key=lambda values: values["account_id"])
        pq.write_table(pa.Table.from_pylist(rows, schema=SNAPSHOT_SCHEMA), path)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(list(decisions), schema=DECISION_SCHEMA)
    pq.write_table(table, out_dir / DECISIONS_FILE)
    return out_dir


def example_book() -> list[dict[str, Any]]:
    """The six accounts of the module docstring, on every date from their opening."""
    rows = []
    for day in DATES:
        rows.append(snapshot_row("A", "cash_loan", JAN_05, day, 10_000, interest_minor=1_000))
        rows.append(snapshot_row("E", "credit_line", JAN_05, day, 0))
    b_states = {
        JAN_05: (20_000, 0, "M0"),
        JAN_31: (20_000, 0, "M0"),
        FEB_15: (20_000, 8, "M0"),
        FEB_28: (20_000, 20, "M1"),
        MAR_20: (20_500, 40, "M2"),
        MAR_31: (21_000, 51, "M2"),
        APR_30: (22_000, 92, "M3"),
    }
    for day, (total, late, bucket) in b_states.items():
        late_fee = 300 if late else 0
        rows.append(
            snapshot_row(
                "B", "credit_line", JAN_05, day, total,
                past_due_days=late, bucket=bucket, late_fee_minor=late_fee,
            )
        )  # fmt: skip
    c_states = {
        JAN_05: (5_000, 0, "M0"),
        JAN_31: (5_000, 0, "M0"),
        FEB_15: (5_000, 12, "M0"),
        FEB_28: (5_000, 25, "M1"),
        MAR_20: (5_100, 45, "M2"),
    }
    for day, (total, late, bucket) in c_states.items():
        rows.append(
            snapshot_row("C", "credit_line", JAN_05, day, total, past_due_days=late, bucket=bucket)
        )
    for day in (MAR_31, APR_30):
        rows.append(snapshot_row("C", "credit_line", JAN_05, day, 0, status="written_off"))
    for day in (FEB_15, FEB_28):
        rows.append(snapshot_row("D", "cash_loan", FEB_10, day, 8_000))
    for day in (MAR_20, MAR_31, APR_30):
        rows.append(snapshot_row("D", "cash_loan", FEB_10, day, 0, status="closed"))
    f_states = {
        JAN_05: (0, "M0"),
        JAN_31: (0, "M0"),
        FEB_15: (0, "M0"),
        FEB_28: (0, "M0"),
        MAR_20: (5, "M0"),
        MAR_31: (16, "M1"),
        APR_30: (46, "M2"),
    }
    for day, (late, bucket) in f_states.items():
        rows.append(
            snapshot_row("F", "cash_loan", JAN_05, day, 3_000, past_due_days=late, bucket=bucket)
        )
    return rows


def example_decisions() -> list[dict[str, Any]]:
    """Jan: 4 applications (approve, refer->approved, 2 declines, one unscored); Feb: 1
    approve; Mar: none; Apr: 1 refer->declined."""
    return [
        decision_row("1", dt.date(2026, 1, 3), "approve", "approved", 700.0),
        decision_row("2", dt.date(2026, 1, 4), "refer", "approved", 640.0),
        decision_row("3", dt.date(2026, 1, 9), "decline", "declined", 500.0),
        decision_row("4", dt.date(2026, 1, 20), "decline", "declined", None),
        decision_row("5", dt.date(2026, 2, 8), "approve", "approved", 680.0),
        decision_row("6", dt.date(2026, 4, 2), "refer", "declined", 610.0),
    ]


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("run")
    return load_run(write_run(folder, example_book(), example_decisions()))


MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04"]


# --- the example book ---------------------------------------------------------------------------


def test_month_ends_are_the_last_dates_present(example_run: Run) -> None:
    ends = example_run.month_ends
    assert ends.index.tolist() == MONTHS
    assert [d.date() for d in ends["month_end"]] == [JAN_31, FEB_28, MAR_31, APR_30]
    assert ends["days_covered"].tolist() == [27, 28, 31, 30]
    assert example_run.days_covered == (APR_30 - JAN_05).days + 1
    assert ends["complete"].all()


def test_book_counts_open_accounts_and_sums_components(example_run: Run) -> None:
    book = book_by_month(example_run)
    assert book.index.tolist() == MONTHS
    assert book["open_accounts"].tolist() == [5, 6, 4, 4]
    assert book["opened_accounts"].tolist() == [5, 1, 0, 0]
    assert book["total_minor"].tolist() == [38_000, 46_000, 34_000, 35_000]
    february = book.loc["2026-02"]
    assert february["interest_minor"] == 1_000
    assert february["late_fee_minor"] == 300
    assert february["principal_minor"] == 9_000 + 19_700 + 5_000 + 8_000 + 0 + 3_000
    components = [*portfolio.COMPONENT_COLUMNS]
    assert (book[components].sum(axis=1) == book["total_minor"]).all()


def test_delinquency_by_bucket_in_march(example_run: Run) -> None:
    frame = delinquency_by_bucket(example_run)
    march = frame[frame["month"] == "2026-03"].set_index("bucket")
    assert march.index.tolist() == ["M0", "M1", "M2", "M3"]
    assert march["accounts"].tolist() == [2, 1, 1, 0]
    assert march["balance_minor"].tolist() == [10_000, 3_000, 21_000, 0]
    assert march["balance_share"].tolist() == pytest.approx([10 / 34, 3 / 34, 21 / 34, 0])
    assert len(frame) == 4 * 4


def test_past_due_rates(example_run: Run) -> None:
    rates = past_due_rates(example_run)
    assert rates["rate_1_plus"].tolist() == pytest.approx([0, 25 / 46, 24 / 34, 25 / 35])
    assert rates["rate_30_plus"].tolist() == pytest.approx([0, 0, 21 / 34, 25 / 35])
    assert rates["rate_90_plus"].tolist() == pytest.approx([0, 0, 0, 22 / 35])
    assert rates["past_due_30_minor"].tolist() == [0, 0, 21_000, 25_000]


def test_write_off_is_the_balance_the_day_before(example_run: Run) -> None:
    frame = write_offs_by_month(example_run)
    assert frame["written_off_accounts"].tolist() == [0, 0, 1, 0]
    assert frame["written_off_minor"].tolist() == [0, 0, 5_100, 0]  # 03-20, not 02-28's 5000
    assert frame.loc["2026-03", "write_off_rate_annualised"] == pytest.approx(
        5_100 / 34_000 * 365 / 31
    )
    average_minor = (38_000 + 46_000 + 34_000 + 35_000) / 4
    assert write_off_rate_annualised(example_run) == pytest.approx(
        5_100 / average_minor * 12 / (116 * 12 / 365)
    )


def test_vintage_curves_count_ever_30_plus(example_run: Run) -> None:
    curves = vintage_curves(example_run)
    assert curves.index.tolist() == ["2026-01", "2026-02"]
    assert curves.columns.tolist() == [1, 2, 3]
    assert curves.loc["2026-01"].tolist() == pytest.approx([0, 2 / 5, 3 / 5])
    assert curves.loc["2026-02", 1] == 0
    assert curves.loc["2026-02", 2] == 0
    assert math.isnan(curves.loc["2026-02", 3])  # May is not in the run
    assert cohort_accounts(example_run).to_dict() == {"2026-01": 5, "2026-02": 1}


def test_roll_matrix_cells(example_run: Run) -> None:
    rolls = roll_rates(example_run)
    balance, count = rolls.balance, rolls.count
    assert balance.index.tolist() == ["M0", "M1", "M2", "M3"]
    assert balance.columns.tolist() == ["M0", "M1", "M2", "M3", "written_off", "paid_off/closed"]
    assert balance.loc["M0", "M0"] == pytest.approx(33_000 / 69_000)
    assert balance.loc["M0", "M1"] == pytest.approx(28_000 / 69_000)
    assert balance.loc["M0", "paid_off/closed"] == pytest.approx(8_000 / 69_000)
    assert balance.loc["M1", "M2"] == pytest.approx(23 / 28)
    assert balance.loc["M1", "written_off"] == pytest.approx(5 / 28)
    assert balance.loc["M2", "M3"] == pytest.approx(1.0)
    assert balance.loc["M3"].isna().all()  # M3 is only seen at the last month end
    assert count.loc["M0"].tolist() == pytest.approx([4 / 11, 3 / 11, 0, 0, 0, 4 / 11])
    assert count.loc["M1", "M2"] == pytest.approx(2 / 3)
    assert count.loc["M1", "written_off"] == pytest.approx(1 / 3)


def test_m1_to_m2_roll_by_month(example_run: Run) -> None:
    by_month = roll_rates(example_run).by_month
    assert by_month.index.tolist() == MONTHS[1:]
    assert by_month["from_month"].tolist() == MONTHS[:-1]
    assert by_month["m1_balance_minor"].tolist() == [0, 25_000, 3_000]
    assert by_month["m1_to_m2_minor"].tolist() == [0, 20_000, 3_000]
    assert math.isnan(by_month.loc["2026-02", "m1_to_m2_roll"])
    assert by_month["m1_to_m2_roll"].tolist()[1:] == pytest.approx([0.8, 1.0])


def test_c_m1_flow(example_run: Run) -> None:
    flow = c_m1_flow(example_run)
    assert flow["m0_balance_minor"].tolist() == [38_000, 21_000, 10_000]
    assert flow["m1_balance_minor"].tolist() == [25_000, 3_000, 0]
    assert flow["flow_rate"].tolist() == pytest.approx([25 / 38, 1 / 7, 0])


def test_first_payment_default(example_run: Run) -> None:
    frame = first_payment_default_by_cohort(example_run)
    # D (opened 02-10) is seen 79 days only; F reaches 30+ after 115 days, outside the window.
    assert frame.loc["2026-01"].tolist() == pytest.approx([5, 2, 0.4])
    assert "2026-02" not in frame.index
    assert first_payment_default_rate(example_run) == pytest.approx(0.4)


def test_approval_by_month_keeps_the_empty_month(example_run: Run) -> None:
    frame = approval_by_month(example_run)
    assert frame.index.tolist() == MONTHS
    assert frame["applications"].tolist() == [4, 1, 0, 1]
    assert frame["approved"].tolist() == [2, 1, 0, 0]
    assert frame.loc["2026-01", ["approve_share", "refer_share", "decline_share"]].tolist() == [
        0.25,
        0.25,
        0.5,
    ]
    assert frame.loc["2026-01", "final_approval_rate"] == 0.5
    assert frame.loc["2026-03"].drop(["applications", "approved"]).isna().all()
    assert frame.loc["2026-04", "final_approval_rate"] == 0


def test_score_distribution_splits_approved_and_declined(example_run: Run) -> None:
    frame = score_distribution(example_run, bins_count=2)
    assert frame["bin_low"].tolist() == [500, 600]
    assert frame["bin_high"].tolist() == [600, 700]
    assert frame["approved"].tolist() == [0, 3]
    assert frame["declined"].tolist() == [1, 1]  # the unscored decline is in no bin


def test_headline(example_run: Run) -> None:
    figures = headline(example_run)
    expected = {
        "balance_share_1_plus": 25 / 35,
        "balance_share_30_plus": 25 / 35,
        "balance_share_90_plus": 22 / 35,
        "m1_to_m2_roll_mean": 0.9,
        "c_m1_flow_mean": (25 / 38 + 1 / 7 + 0) / 3,
        "write_off_rate_annualised": 5_100 / 38_250 * 365 / 116,
        "fpd30": 0.4,
        "final_approval_rate": 0.5,
        "accounts": 6,
        "open_accounts": 4,
        "open_balance_minor": 35_000,
    }
    assert figures == pytest.approx(expected)
    assert all(type(value) is float for value in figures.values())


# --- edge cases ---------------------------------------------------------------------------------


def test_one_month_has_no_rolls_and_does_not_crash(tmp_path: Path) -> None:
    book = [row for row in example_book() if row["business_date"] in (JAN_05, JAN_31)]
    run = load_run(write_run(tmp_path, book, example_decisions()[:1]))
    rolls = roll_rates(run)
    assert rolls.balance.index.tolist() == ["M0"]
    assert rolls.balance.isna().all().all()
    assert rolls.by_month.empty
    assert c_m1_flow(run).empty
    assert vintage_curves(run).shape == (1, 0)
    figures = headline(run)
    assert math.isnan(figures["m1_to_m2_roll_mean"])
    assert math.isnan(figures["c_m1_flow_mean"])
    assert math.isnan(figures["fpd30"])  # nobody observed 90 days
    assert figures["write_off_rate_annualised"] == 0
    assert figures["balance_share_30_plus"] == 0


def test_month_without_open_balance_has_nan_rates(tmp_path: Path) -> None:
    """Jan has only an unused line; the loan opened mid-run in Feb carries the balance."""
    book = [
        snapshot_row("E", "credit_line", JAN_05, JAN_31, 0),
        snapshot_row("E", "credit_line", JAN_05, FEB_28, 0),
        snapshot_row("D", "cash_loan", FEB_10, FEB_15, 8_000),
        snapshot_row("D", "cash_loan", FEB_10, FEB_28, 8_000, past_due_days=3),
    ]
    run = load_run(write_run(tmp_path, book, example_decisions()))
    rates = past_due_rates(run)
    assert rates.loc["2026-01"][["rate_1_plus", "rate_30_plus", "rate_90_plus"]].isna().all()
    assert rates.loc["2026-02", "rate_1_plus"] == 1.0
    assert book_by_month(run)["open_accounts"].tolist() == [1, 2]
    assert c_m1_flow(run)["flow_rate"].isna().all()  # M0 held nothing at the end of Jan
    assert roll_rates(run).balance.loc["M0"].isna().all()
    assert roll_rates(run).count.loc["M0", "paid_off/closed"] == 1.0


def test_account_missing_at_the_next_month_end_is_shown_not_hidden(tmp_path: Path) -> None:
    book = [
        snapshot_row("A", "cash_loan", JAN_05, JAN_31, 1_000),
        snapshot_row("B", "cash_loan", JAN_05, JAN_31, 3_000),
        snapshot_row("A", "cash_loan", JAN_05, FEB_28, 1_000),
    ]
    run = load_run(write_run(tmp_path, book, example_decisions()))
    balance = roll_rates(run).balance
    assert balance.loc["M0", "not_observed"] == pytest.approx(0.75)
    assert balance.loc["M0", "M0"] == pytest.approx(0.25)


def test_a_run_cut_mid_month_leaves_that_month_out_of_vintages(tmp_path: Path) -> None:
    book = [
        snapshot_row("A", "cash_loan", JAN_05, day, 1_000, past_due_days=late)
        for day, late in ((JAN_05, 0), (JAN_31, 0), (FEB_15, 35))
    ]
    run = load_run(write_run(tmp_path, book, example_decisions()))
    assert run.month_ends["complete"].tolist() == [True, False]
    assert vintage_curves(run).shape == (1, 0)
    assert past_due_rates(run).loc["2026-02", "rate_30_plus"] == 1.0  # still a month end


def test_a_month_without_dates_is_skipped_not_invented(tmp_path: Path) -> None:
    """No February in the feed: rolls and flows pair January with March, MOB 1 stays unknown.

    G, opened in 2025, is written off on its first row: before the run, so neither a
    write-off of the run nor part of a vintage.
    """
    opened_2025 = dt.date(2025, 6, 1)
    book = [
        snapshot_row("A", "cash_loan", JAN_05, JAN_05, 1_000),
        snapshot_row("A", "cash_loan", JAN_05, JAN_31, 1_000),
        snapshot_row("A", "cash_loan", JAN_05, MAR_31, 1_000, past_due_days=40, bucket="M2"),
        snapshot_row("G", "cash_loan", opened_2025, JAN_31, 0, status="written_off"),
        snapshot_row("G", "cash_loan", opened_2025, MAR_31, 0, status="written_off"),
    ]
    run = load_run(write_run(tmp_path, book, example_decisions()))
    assert run.month_ends.index.tolist() == ["2026-01", "2026-03"]
    assert run.month_ends["days_covered"].tolist() == [27, 59]
    assert roll_rates(run).balance.loc["M0", "M2"] == 1.0
    assert c_m1_flow(run).index.tolist() == ["2026-03"]
    curve = vintage_curves(run).loc["2026-01"]
    assert math.isnan(curve[1])
    assert curve[2] == 1.0
    assert cohort_accounts(run).to_dict() == {"2026-01": 1}
    assert write_offs_by_month(run)["written_off_accounts"].sum() == 0


def test_an_empty_run_gives_empty_frames_and_undefined_ratios() -> None:
    schema = SNAPSHOT_SCHEMA.append(pa.field("business_date", pa.date32()))
    run = build_run(schema.empty_table(), DECISION_SCHEMA.empty_table())
    for metric in (book_by_month, past_due_rates, write_offs_by_month, approval_by_month):
        assert metric(run).empty
    figures = headline(run)
    assert figures["accounts"] == 0
    assert math.isnan(figures["balance_share_30_plus"])
    assert math.isnan(figures["final_approval_rate"])


def test_unknown_status_is_refused(tmp_path: Path) -> None:
    book = [snapshot_row("A", "cash_loan", JAN_05, JAN_31, 1_000, status="charged_off")]
    with pytest.raises(ValueError, match="charged_off"):
        load_run(write_run(tmp_path, book, example_decisions()))


# --- invariants on random books -----------------------------------------------------------------

BUCKET_DAYS = {"M0": (0, 0), "M1": (1, 30), "M2": (31, 60), "M3": (61, 90), "M4": (91, 120)}
MONTH_ENDS = (JAN_31, FEB_28, MAR_31, APR_30)

account_months = st.lists(
    st.tuples(
        st.sampled_from(["open", "open", "open", "written_off", "closed"]),
        st.sampled_from(list(BUCKET_DAYS)),
        st.integers(0, 50_000),
        st.integers(0, 29),
    ),
    min_size=1,
    max_size=len(MONTH_ENDS),
)


def random_book(accounts: list[list[tuple[str, str, int, int]]], months: int) -> pa.Table:
    rows = []
    for number, states in enumerate(accounts):
        start = number % months
        for month_index, (status, bucket, total, offset) in enumerate(states):
            if start + month_index >= months:
                break
            low, high = BUCKET_DAYS[bucket]
            late = min(low + offset, high)
            row = snapshot_row(
                f"acct-{number}",
                "cash_loan",
                MONTH_ENDS[start],
                MONTH_ENDS[start + month_index],
                total if status == "open" else 0,
                past_due_days=late,
                bucket=bucket,
                status=status,
            )
            rows.append(row)
    schema = SNAPSHOT_SCHEMA.append(pa.field("business_date", pa.date32()))
    return pa.Table.from_pylist(rows, schema=schema)


@settings(max_examples=40, deadline=None)
@given(
    accounts=st.lists(account_months, min_size=1, max_size=6),
    months=st.integers(1, len(MONTH_ENDS)),
)
def test_rates_and_rolls_are_proper_shares(
    accounts: list[list[tuple[str, str, int, int]]], months: int
) -> None:
    decisions = pa.Table.from_pylist(example_decisions(), schema=DECISION_SCHEMA)
    run = build_run(random_book(accounts, months), decisions)
    rates = past_due_rates(run)
    present = rates["rate_1_plus"].notna()
    for column in ("rate_1_plus", "rate_30_plus", "rate_90_plus"):
        assert rates.loc[present, column].between(0, 1).all()
    assert (rates.loc[present, "rate_90_plus"] <= rates.loc[present, "rate_30_plus"]).all()
    assert (rates.loc[present, "rate_30_plus"] <= rates.loc[present, "rate_1_plus"]).all()
    assert (rates["open_balance_minor"] > 0).eq(present).all()

    rolls = roll_rates(run)
    for matrix in (rolls.balance, rolls.count):
        sums = matrix.sum(axis=1, min_count=1)
        defined = matrix.notna().all(axis=1)
        assert np.allclose(sums[defined], 1.0)
        assert matrix.isna().all(axis=1).eq(~defined).all()  # a row is all numbers or all NaN

    curves = vintage_curves(run)
    for _, curve in curves.iterrows():
        values = curve.dropna().to_numpy()
        assert ((values >= 0) & (values <= 1)).all()
        assert (np.diff(values) >= 0).all()  # "ever 30+" never decreases
    figures = headline(run)
    assert set(figures) >= {"balance_share_30_plus", "fpd30", "write_off_rate_annualised"}
    assert all(isinstance(value, float) for value in figures.values())
    rate = figures["write_off_rate_annualised"]
    assert math.isnan(rate) or rate >= 0
    book = book_by_month(run)
    assert (book["total_minor"] == rates["open_balance_minor"]).all()
    assert pd.Index(book.index).is_monotonic_increasing
