"""Point-in-time B-card and C-card features and the forward-looking label.

The key property: features for a date D are a function of rows dated on or before D only, so
changing or adding any row after D leaves them exactly as they were (and a builder that peeks
ahead is caught by the same check). Known answers are worked by hand; random books are compared
with a slow reference that walks each account with ``dateutil`` calendar arithmetic.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.eod.engine import run_eod
from lendguard.eod.local import run_local
from lendguard.eod.outputs import SNAPSHOT_SCHEMA, SNAPSHOTS, read_feed
from lendguard.errors import MissingFeatureError, ScoringDataError
from lendguard.ledger.book import Book
from lendguard.scoring import features
from lendguard.scoring.features import (
    FEATURE_ORDER,
    KEY_COLUMNS,
    TRANSACTION_COLUMNS,
    build_features,
    label_outcomes,
    load_transactions,
)
from lendguard.simulation.sample_book import run_end, simulate
from lendguard.store import open_store

FEED_SCHEMA = SNAPSHOT_SCHEMA.append(pa.field("business_date", pa.date32()))
"""What ``read_feed`` returns: the snapshot columns plus the partition date."""

TRANSACTION_FEATURES = {
    "payment_ratio_1m",
    "payment_ratio_3m",
    "draw_count_3m",
    "draw_amount_minor_3m",
    "purchase_count_3m",
    "purchase_amount_minor_3m",
    "instalment_conversion_count_6m",
    "instalment_conversion_amount_minor_6m",
    "days_since_payment",
    "payment_count_30d",
    "payment_amount_minor_30d",
}
COLLECTION_ONLY = {
    "past_due_days",
    "bucket",
    "overdue_share",
    "past_due_days_max_ever",
    "cure_count",
    "days_since_payment",
    "payment_count_30d",
    "payment_amount_minor_30d",
}

D = dt.date


# --- building tables --------------------------------------------------------------------------


def snapshot(
    account_id: str,
    business_date: dt.date,
    *,
    opened_on: dt.date,
    total_minor: int = 0,
    limit_minor: int = 10_000,
    past_due_days: int = 0,
    overdue_minor: int = 0,
    bucket: str = "M0",
) -> dict[str, Any]:
    """A snapshot row with every column EOD writes; the ones the features ignore are filler."""
    return {
        "account_id": account_id,
        "product_id": "huabei-standard",
        "kind": "credit-line",
        "status": "open",
        "frozen": False,
        "principal_minor": total_minor,
        "interest_minor": 0,
        "fee_minor": 0,
        "penalty_minor": 0,
        "late_fee_minor": 0,
        "total_minor": total_minor,
        "credit_minor": 0,
        "available_minor": max(0, limit_minor - total_minor),
        "past_due_days": past_due_days,
        "delinquent_days": past_due_days,
        "bucket": bucket,
        "five_category": "normal",
        "ifrs9_stage": 1,
        "closed_through": business_date,
        "limit_minor": limit_minor,
        "overdue_minor": overdue_minor,
        "opened_on": opened_on,
        "business_date": business_date,
    }


def feed_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=FEED_SCHEMA)


def transactions_frame(rows: list[tuple[str, dt.date, str, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(TRANSACTION_COLUMNS))
    return frame.astype({"amount_minor": np.int64})


def row_of(frame: pd.DataFrame, account_id: str) -> pd.Series:
    (index,) = np.flatnonzero(frame["account_id"].to_numpy() == account_id)
    return frame.iloc[index]


# --- a hand-worked book -----------------------------------------------------------------------

A_OPENED = D(2025, 1, 10)
B_OPENED = D(2025, 3, 31)
HAND_BOOK = [
    snapshot("A", D(2025, 3, 31), opened_on=A_OPENED, total_minor=2_000),
    snapshot(
        "A",
        D(2025, 4, 30),
        opened_on=A_OPENED,
        total_minor=4_000,
        past_due_days=12,
        overdue_minor=500,
        bucket="M1",
    ),
    snapshot("A", D(2025, 5, 31), opened_on=A_OPENED, total_minor=5_000),
    snapshot(
        "A",
        D(2025, 6, 30),
        opened_on=A_OPENED,
        total_minor=6_000,
        past_due_days=35,
        overdue_minor=1_500,
        bucket="M2",
    ),
    snapshot(
        "A",
        D(2025, 7, 31),
        opened_on=A_OPENED,
        total_minor=8_000,
        past_due_days=5,
        overdue_minor=1_000,
        bucket="M1",
    ),
    snapshot("B", D(2025, 3, 31), opened_on=B_OPENED, total_minor=1_000, limit_minor=5_000),
    snapshot("B", D(2025, 5, 31), opened_on=B_OPENED, total_minor=2_500, limit_minor=5_000),
    snapshot("B", D(2025, 7, 31), opened_on=B_OPENED, total_minor=0, limit_minor=5_000),
    snapshot("C", D(2025, 5, 31), opened_on=B_OPENED, total_minor=900, past_due_days=30),
    snapshot("C", D(2025, 6, 30), opened_on=B_OPENED, total_minor=900, past_due_days=60),
]
"""C's last snapshot is 30 June: closed (or written off) before the July close."""

HAND_TRANSACTIONS = [
    ("A", D(2025, 2, 15), "draw", 300),
    ("A", D(2025, 3, 1), "instalment_conversion", 1_200),
    ("A", D(2025, 5, 20), "statement_cut", 5_000),
    ("A", D(2025, 6, 5), "repayment", 2_000),
    ("A", D(2025, 6, 20), "statement_cut", 6_000),
    ("A", D(2025, 7, 3), "repayment", 3_000),
    ("A", D(2025, 7, 10), "repayment", 1_000),
    ("A", D(2025, 7, 12), "repayment", -1_000),
    ("A", D(2025, 7, 20), "statement_cut", 8_000),
    ("A", D(2025, 7, 25), "draw", 700),
    ("A", D(2025, 8, 5), "repayment", 9_999),
    ("Z", D(2025, 7, 1), "repayment", 50),
]
"""A's bounced July payment is a negative row on the day it bounced; Z has no snapshots."""


def test_hand_worked_behaviour_features() -> None:
    table = build_features(
        feed_table(HAND_BOOK), [D(2025, 7, 31)], transactions=transactions_frame(HAND_TRANSACTIONS)
    )
    assert list(table.columns) == [
        *KEY_COLUMNS,
        *(n for n in FEATURE_ORDER if n not in COLLECTION_ONLY),
    ]
    assert table["account_id"].tolist() == ["A", "B"]  # C closed before 31 July; Z never seen
    a, b = row_of(table, "A"), row_of(table, "B")
    assert a["snapshot_date"] == pd.Timestamp("2025-07-31")
    assert a["months_on_book"] == 6  # 10 Jan to 31 Jul
    assert b["months_on_book"] == 4  # 31 Mar to 31 Jul
    assert a["utilisation"] == pytest.approx(0.8)
    assert a["utilisation_mean_3m"] == pytest.approx((0.5 + 0.6 + 0.8) / 3)  # after 30 April
    assert b["utilisation_mean_3m"] == pytest.approx((0.5 + 0.0) / 2)
    assert (a["past_due_days_max_3m"], a["past_due_days_max_6m"], a["past_due_days_max_12m"]) == (
        35,
        35,
        35,
    )
    assert a["months_since_delinquent"] == 0  # past due now
    assert math.isnan(b["months_since_delinquent"])  # never
    assert a["delinquent_month_count_12m"] == 3  # the slices ending 31 Jul, 30 Jun, 30 Apr
    assert b["delinquent_month_count_12m"] == 0
    assert a["balance_change_minor_3m"] == 8_000 - 4_000  # 30 April is exactly 3 months back
    assert b["balance_change_minor_3m"] == 0 - 1_000
    assert a["payment_ratio_1m"] == pytest.approx(3_000 / 8_000)  # the bounce nets out
    assert a["payment_ratio_3m"] == pytest.approx(5_000 / 19_000)
    assert math.isnan(b["payment_ratio_3m"])  # nothing billed
    assert (a["draw_count_3m"], a["draw_amount_minor_3m"]) == (1, 700)
    assert (a["purchase_count_3m"], a["purchase_amount_minor_3m"]) == (0, 0)
    assert (a["instalment_conversion_count_6m"], a["instalment_conversion_amount_minor_6m"]) == (
        1,
        1_200,
    )
    assert (b["draw_count_3m"], b["draw_amount_minor_3m"]) == (0, 0)


def test_hand_worked_collection_features() -> None:
    table = build_features(
        feed_table(HAND_BOOK),
        [D(2025, 6, 30), D(2025, 7, 31)],
        kind="collection",
        transactions=transactions_frame(HAND_TRANSACTIONS),
    )
    keys = list(zip(table["account_id"], table["observation_date"].dt.date, strict=True))
    assert keys == [("A", D(2025, 6, 30)), ("C", D(2025, 6, 30)), ("A", D(2025, 7, 31))]
    a = table.iloc[2]
    assert (a["past_due_days"], a["bucket"]) == (5, "M1")
    assert a["overdue_share"] == pytest.approx(1_000 / 8_000)
    assert a["past_due_days_max_ever"] == 35
    assert a["cure_count"] == 1  # April's 12 days cured by May; June's 35 only fell to 5
    assert a["days_since_payment"] == 21  # 10 July, bounced or not
    assert (a["payment_count_30d"], a["payment_amount_minor_30d"]) == (1, 3_000)
    c = table.iloc[1]
    assert (c["past_due_days"], c["cure_count"], c["months_on_book"]) == (60, 0, 2)
    assert math.isnan(c["days_since_payment"])
    assert (c["payment_count_30d"], c["payment_amount_minor_30d"]) == (0, 0)


def test_an_observation_date_between_closes_stands_on_the_close_before() -> None:
    table = build_features(feed_table(HAND_BOOK), ["2025-06-15"])
    assert set(table["snapshot_date"]) == {pd.Timestamp("2025-05-31")}
    a = row_of(table, "A")
    assert a["months_since_delinquent"] == 1  # 30 April is in the slice (15 Apr, 15 May]
    assert a["past_due_days_max_3m"] == 12


def test_without_transactions_their_features_are_absent_not_zero() -> None:
    table = build_features(feed_table(HAND_BOOK), [D(2025, 7, 31)], kind="collection")
    assert TRANSACTION_FEATURES.isdisjoint(table.columns)
    assert set(COLLECTION_ONLY - TRANSACTION_FEATURES) <= set(table.columns)


# --- the label --------------------------------------------------------------------------------


def test_hand_worked_label_looks_only_after_the_date_and_up_to_the_horizon() -> None:
    labels = label_outcomes(
        feed_table(HAND_BOOK), [D(2025, 3, 31)], horizon_days=91, bad_past_due_days=30
    )
    # 91 days after 31 March is 30 June: A reaches 35 then, C reaches 30 on 31 May but has no
    # snapshot on 31 March, so it is not in the population.
    assert labels.to_dict("list") == {
        "account_id": ["A", "B"],
        "observation_date": [pd.Timestamp("2025-03-31")] * 2,
        "bad": [1, 0],
    }
    shorter = label_outcomes(feed_table(HAND_BOOK), [D(2025, 3, 31)], horizon_days=90)
    assert shorter["bad"].tolist() == [0, 0]  # 29 June: A's 12 days are not 30
    on_the_date = label_outcomes(feed_table(HAND_BOOK), [D(2025, 6, 30)], horizon_days=31)
    assert on_the_date.set_index("account_id")["bad"].to_dict() == {"A": 0, "C": 0}


def test_a_label_whose_window_runs_past_the_data_is_refused() -> None:
    with pytest.raises(
        ScoringDataError, match=r"2025-05-01 runs to 2025-08-01, past the last snapshot 2025-07-31"
    ):
        label_outcomes(feed_table(HAND_BOOK), [D(2025, 5, 1)], horizon_days=92)
    label_outcomes(feed_table(HAND_BOOK), [D(2025, 5, 1)], horizon_days=91)  # to 31 July: known


@pytest.mark.parametrize(
    "arguments", [{"horizon_days": 0}, {"bad_past_due_days": -1}, {"horizon_days": 1.5}]
)
def test_label_rule_parameters_must_be_whole_days(arguments: dict[str, Any]) -> None:
    with pytest.raises(ScoringDataError, match="whole number of days"):
        label_outcomes(feed_table(HAND_BOOK), [D(2025, 3, 31)], **arguments)


# --- bad input --------------------------------------------------------------------------------


def test_missing_snapshot_columns_are_named() -> None:
    table = feed_table(HAND_BOOK).drop_columns(["limit_minor", "opened_on"])
    with pytest.raises(MissingFeatureError, match="opened_on, limit_minor"):
        build_features(table, [D(2025, 7, 31)])
    with pytest.raises(MissingFeatureError, match="opened_on, limit_minor"):
        build_features(table.to_pandas(), [D(2025, 7, 31)])
    with pytest.raises(MissingFeatureError, match="amount_minor"):
        build_features(
            feed_table(HAND_BOOK),
            [D(2025, 7, 31)],
            transactions=transactions_frame(HAND_TRANSACTIONS).drop(columns="amount_minor"),
        )


@pytest.mark.parametrize("day", [D(2025, 3, 30), D(2025, 8, 1)])
def test_observation_dates_outside_the_snapshots_are_refused(day: dt.date) -> None:
    with pytest.raises(ScoringDataError, match=f"{day}.*from 2025-03-31 to 2025-07-31"):
        build_features(feed_table(HAND_BOOK), [D(2025, 7, 31), day])
    with pytest.raises(ScoringDataError, match=f"{day}"):
        label_outcomes(feed_table(HAND_BOOK), [day], horizon_days=1)


def test_duplicate_account_dates_are_refused() -> None:
    twice = [*HAND_BOOK, snapshot("B", D(2025, 5, 31), opened_on=B_OPENED, total_minor=7)]
    with pytest.raises(
        ScoringDataError, match=r"account B has more than one snapshot on 2025-05-31"
    ):
        build_features(feed_table(twice), [D(2025, 7, 31)])
    with pytest.raises(ScoringDataError, match="account B"):
        label_outcomes(feed_table(twice), [D(2025, 3, 31)], horizon_days=30)


def bad_snapshot_rows(frame: pd.DataFrame) -> Iterator[tuple[pd.DataFrame, str]]:
    yield frame.assign(past_due_days=frame["past_due_days"].astype(float)), "whole numbers"
    yield frame.assign(limit_minor=frame["limit_minor"].where(frame.index > 0)), "missing"
    yield frame.assign(business_date="not a date"), "not dates"
    yield frame.assign(opened_on=D(2025, 4, 1)), "before its opened_on"
    yield frame.assign(past_due_days=-frame["past_due_days"]), "past_due_days is negative"
    yield frame.iloc[:0], "no rows"


def test_malformed_snapshots_are_refused_naming_what_is_wrong() -> None:
    frame = feed_table(HAND_BOOK).to_pandas()
    for broken, message in bad_snapshot_rows(frame):
        with pytest.raises(ScoringDataError, match=message):
            build_features(broken, [D(2025, 7, 31)])


def test_malformed_transactions_and_arguments_are_refused() -> None:
    book = feed_table(HAND_BOOK)
    good = transactions_frame(HAND_TRANSACTIONS)
    with pytest.raises(ScoringDataError, match="unknown kinds refund"):
        build_features(book, [D(2025, 7, 31)], transactions=good.assign(kind="refund"))
    with pytest.raises(ScoringDataError, match=r"amount_minor .* whole numbers"):
        build_features(book, [D(2025, 7, 31)], transactions=good.assign(amount_minor=1.5))
    with pytest.raises(ScoringDataError, match="kind must be"):
        build_features(book, [D(2025, 7, 31)], kind="application")  # type: ignore[arg-type]
    with pytest.raises(ScoringDataError, match="no observation dates"):
        build_features(book, [])
    with pytest.raises(ScoringDataError, match="pyarrow Table or a pandas DataFrame"):
        build_features(HAND_BOOK, [D(2025, 7, 31)])  # type: ignore[arg-type]


# --- random books -----------------------------------------------------------------------------

START = D(2024, 1, 1)
KINDS = ("repayment", "prepayment", "purchase", "draw", "instalment_conversion")
BILLS = ("statement_cut", "instalment_due")


@st.composite
def books(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[str, dt.date, str, int]]]:
    """A few accounts with snapshots on random days over ~16 months, and their transactions."""
    rows: list[dict[str, Any]] = []
    transactions: list[tuple[str, dt.date, str, int]] = []
    for number in range(draw(st.integers(1, 4))):
        account_id = f"A{number}"
        opened_on = START - dt.timedelta(days=draw(st.integers(0, 400)))
        offsets = draw(st.lists(st.integers(0, 500), min_size=1, max_size=30, unique=True))
        for offset in sorted(offsets):
            total = draw(st.integers(0, 20_000))
            rows.append(
                snapshot(
                    account_id,
                    START + dt.timedelta(days=offset),
                    opened_on=opened_on,
                    total_minor=total,
                    limit_minor=draw(st.sampled_from([0, 10_000, 15_000])),
                    past_due_days=draw(st.sampled_from([0, 0, 0, 3, 31, 95])),
                    overdue_minor=draw(st.integers(0, total)),
                    bucket=draw(st.sampled_from(["M0", "M1", "M2"])),
                )
            )
        for _ in range(draw(st.integers(0, 12))):
            kind = draw(st.sampled_from(KINDS + BILLS))
            amount = draw(st.integers(1, 9_000))
            if kind in {"repayment", "purchase"} and draw(st.booleans()):
                amount = -amount  # a reversal
            day = START + dt.timedelta(days=draw(st.integers(-120, 520)))
            transactions.append((account_id, day, kind, amount))
    return rows, transactions


def observation_day(draw: st.DrawFn, rows: list[dict[str, Any]]) -> dt.date:
    first = min(row["business_date"] for row in rows)
    last = max(row["business_date"] for row in rows)
    return first + dt.timedelta(days=draw(st.integers(0, (last - first).days)))


def rewrite_future(
    rows: list[dict[str, Any]],
    transactions: list[tuple[str, dt.date, str, int]],
    day: dt.date,
    seed: int,
) -> tuple[list[dict[str, Any]], list[tuple[str, dt.date, str, int]]]:
    """Every row after ``day`` changed, and new rows after it: new dates, new accounts (one that
    sorts before the others, to move every account's position), new transactions."""
    rng = np.random.default_rng(seed)
    last = max(row["business_date"] for row in rows)
    changed = []
    for original in rows:
        row = original
        if row["business_date"] > day:
            total = int(rng.integers(0, 50_000))
            row = original | {
                "total_minor": total,
                "limit_minor": int(rng.integers(0, 20_000)),
                "past_due_days": int(rng.integers(0, 400)),
                "overdue_minor": int(rng.integers(0, total + 1)),
                "bucket": "M9",
            }
        changed.append(row)
    later = day + dt.timedelta(days=1)
    for account_id in sorted({row["account_id"] for row in rows} | {"0new", "Znew"}):
        opened = next((r["opened_on"] for r in rows if r["account_id"] == account_id), later)
        for offset in (2, 40, 200):  # day + 1 <= last + 1: no clash
            business_date = last + dt.timedelta(days=offset)
            changed.append(snapshot(account_id, business_date, opened_on=opened, past_due_days=77))
        if account_id.endswith("new"):
            changed.append(snapshot(account_id, later, opened_on=later, past_due_days=9))
    moved = [
        (a, d, "draw", int(rng.integers(1, 99_999))) if d > day else (a, d, k, m)
        for a, d, k, m in transactions
    ]
    moved += [
        (account_id, later + dt.timedelta(days=int(rng.integers(0, 90))), kind, 12_345)
        for account_id in ("A0", "A1", "0new")
        for kind in KINDS + BILLS
    ]
    return changed, moved


def features_for(
    rows: list[dict[str, Any]],
    transactions: list[tuple[str, dt.date, str, int]],
    day: dt.date,
    kind: str,
) -> pd.DataFrame:
    return build_features(
        feed_table(rows),
        [day],
        kind=kind,
        transactions=transactions_frame(transactions),  # type: ignore[arg-type]
    )


def check_future_blind(
    rows: list[dict[str, Any]],
    transactions: list[tuple[str, dt.date, str, int]],
    day: dt.date,
    seed: int,
) -> None:
    future_rows, future_transactions = rewrite_future(rows, transactions, day, seed)
    for kind in ("behaviour", "collection"):
        pd.testing.assert_frame_equal(
            features_for(rows, transactions, day, kind),
            features_for(future_rows, future_transactions, day, kind),
        )


@settings(max_examples=30, deadline=None)
@given(data=st.data(), book=books(), seed=st.integers(0, 2**32 - 1))
def test_features_for_a_date_ignore_every_row_after_it(
    data: st.DataObject, book: tuple[list[dict[str, Any]], list], seed: int
) -> None:
    rows, transactions = book
    day = observation_day(data.draw, rows)
    check_future_blind(rows, transactions, day, seed)


def test_the_future_check_catches_a_builder_that_peeks(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [
        snapshot("A", D(2025, 1, 31), opened_on=D(2024, 1, 1), total_minor=100),
        snapshot("A", D(2025, 2, 28), opened_on=D(2024, 1, 1), total_minor=200),
    ]
    transactions = [("A", D(2025, 1, 5), "repayment", 10)]
    check_future_blind(rows, transactions, D(2025, 1, 31), seed=1)
    monkeypatch.setattr(features, "_visible", lambda frame, moment: frame)
    with pytest.raises(AssertionError):
        check_future_blind(rows, transactions, D(2025, 1, 31), seed=1)


# --- a slow reference -------------------------------------------------------------------------


def months_back(business_date: dt.date, day: dt.date) -> int:
    """The k with day - (k+1) months < business_date <= day - k months, by walking."""
    k = 0
    while business_date <= day - relativedelta(months=k + 1):
        k += 1
    return k


def reference_row(
    own: list[dict[str, Any]], paid: list[tuple[dt.date, str, int]], day: dt.date
) -> dict[str, float]:
    """Every feature of one account, the slow way (``own`` sorted by date, on or before ``day``)."""
    now = own[-1]
    back = [months_back(row["business_date"], day) for row in own]
    window = {n: [r for r, k in zip(own, back, strict=True) if k < n] for n in (3, 6, 12)}
    late_back = [k for r, k in zip(own, back, strict=True) if r["past_due_days"] > 0]
    older = [r for r, k in zip(own, back, strict=True) if k >= 3]

    def utilisation(row: dict[str, Any]) -> float:
        return row["total_minor"] / row["limit_minor"] if row["limit_minor"] else math.nan

    ratios = [utilisation(r) for r in window[3] if r["limit_minor"]]
    expected = {
        "months_on_book": months_back(now["opened_on"], day),
        "utilisation": utilisation(now),
        "utilisation_mean_3m": sum(ratios) / len(ratios) if ratios else math.nan,
        "months_since_delinquent": min(late_back) if late_back else math.nan,
        "delinquent_month_count_12m": (
            len({k for k in late_back if k < 12}) if window[12] else math.nan
        ),
        "balance_change_minor_3m": (
            now["total_minor"] - older[-1]["total_minor"] if older else math.nan
        ),
        "past_due_days": now["past_due_days"],
        "past_due_days_max_ever": max(r["past_due_days"] for r in own),
        "cure_count": sum(
            1
            for before, after in itertools.pairwise(own)
            if before["past_due_days"] > 0 and after["past_due_days"] == 0
        ),
        "overdue_share": (
            now["overdue_minor"] / now["total_minor"] if now["total_minor"] else math.nan
        ),
    }
    for n in (3, 6, 12):
        worst = max((r["past_due_days"] for r in window[n]), default=math.nan)
        expected[f"past_due_days_max_{n}m"] = worst
    return expected | reference_activity(paid, day)


def reference_activity(paid: list[tuple[dt.date, str, int]], day: dt.date) -> dict[str, float]:
    seen = [(d, k, m) for d, k, m in paid if d <= day]

    def total(kinds: set[str], months: int) -> int:
        return sum(m for d, k, m in seen if k in kinds and months_back(d, day) < months)

    def count(kinds: set[str], inside: Any) -> int:
        return max(0, sum(int(np.sign(m)) for d, k, m in seen if k in kinds and inside(d)))

    payments = {"repayment", "prepayment"}
    expected: dict[str, float] = {}
    for months in (1, 3):
        billed = total(set(BILLS), months)
        repaid = total(payments, months)
        expected[f"payment_ratio_{months}m"] = repaid / billed if billed else math.nan
    for name, months in (("draw", 3), ("purchase", 3), ("instalment_conversion", 6)):
        expected[f"{name}_count_{months}m"] = count(
            {name}, lambda d, n=months: months_back(d, day) < n
        )
        expected[f"{name}_amount_minor_{months}m"] = total({name}, months)
    posted = [d for d, k, m in seen if k in payments and m > 0]
    expected["days_since_payment"] = (day - max(posted)).days if posted else math.nan

    def recent(d: dt.date) -> bool:
        return (day - d).days < 30

    expected["payment_count_30d"] = count(payments, recent)
    expected["payment_amount_minor_30d"] = sum(m for d, k, m in seen if k in payments and recent(d))
    return expected


def reference_features(
    rows: list[dict[str, Any]], transactions: list[tuple[str, dt.date, str, int]], day: dt.date
) -> dict[str, dict[str, float]]:
    visible = [row for row in rows if row["business_date"] <= day]
    snapshot_day = max(row["business_date"] for row in visible)
    population = sorted({r["account_id"] for r in visible if r["business_date"] == snapshot_day})
    expected = {}
    for account_id in population:
        own = sorted(
            (r for r in visible if r["account_id"] == account_id),
            key=lambda r: r["business_date"],
        )
        paid = [(d, k, m) for a, d, k, m in transactions if a == account_id]
        expected[account_id] = reference_row(own, paid, day)
    return expected


@settings(max_examples=40, deadline=None)
@given(data=st.data(), book=books())
def test_features_equal_a_slow_reference(data: st.DataObject, book: tuple[list, list]) -> None:
    rows, transactions = book
    day = observation_day(data.draw, rows)
    table = features_for(rows, transactions, day, "collection")
    expected = reference_features(rows, transactions, day)
    collection = {a for a, row in expected.items() if row["past_due_days"] > 0}
    assert set(table["account_id"]) == collection
    behaviour = features_for(rows, transactions, day, "behaviour")
    assert behaviour["account_id"].tolist() == sorted(expected)
    for frame in (table, behaviour):
        for _, row in frame.iterrows():
            for name, value in expected[row["account_id"]].items():
                if name in frame.columns:
                    assert row[name] == pytest.approx(value, nan_ok=True), name


@settings(max_examples=25, deadline=None)
@given(data=st.data(), book=books())
def test_window_features_are_consistent(data: st.DataObject, book: tuple[list, list]) -> None:
    rows, _ = book
    day = observation_day(data.draw, rows)
    table = build_features(feed_table(rows), [day], kind="collection")
    if table.empty:
        return
    worst = table[["past_due_days_max_3m", "past_due_days_max_6m", "past_due_days_max_12m"]]
    worst = worst.assign(ever=table["past_due_days_max_ever"])
    # NaN (a window with no snapshot) only in shorter windows than a known one, never above it
    assert (worst.notna().astype(int).diff(axis=1).fillna(0) >= 0).all().all()
    assert (worst.ffill(axis=1).diff(axis=1).fillna(0) >= 0).all().all()
    assert (table["past_due_days"] > 0).all()
    stale = table["snapshot_date"] <= table["observation_date"] - pd.DateOffset(months=1)
    assert ((table["months_since_delinquent"] == 0) | stale).all()
    behaviour = build_features(feed_table(rows), [day])
    recent = behaviour["months_since_delinquent"] < 3
    assert (recent == (behaviour["past_due_days_max_3m"] > 0)).all()
    counted = behaviour["delinquent_month_count_12m"]
    assert ((counted > 0) == (behaviour["past_due_days_max_12m"] > 0)).all()
    assert (counted.isna() == behaviour["past_due_days_max_12m"].isna()).all()
    assert (counted.dropna() <= 12).all()


@settings(max_examples=200, deadline=None)
@given(
    business_date=st.dates(D(2000, 1, 1), D(2030, 12, 31)),
    days_after=st.integers(0, 2_000),
)
def test_month_slices_match_calendar_arithmetic(business_date: dt.date, days_after: int) -> None:
    day = business_date + dt.timedelta(days=days_after)
    (days,) = features._day_numbers([business_date], "business_date")
    month, day_of_month = features._month_parts(np.array([days]))
    rows = pd.DataFrame({"month": month, "day_of_month": day_of_month})
    (moment,) = features._observation_moments(
        [day], pd.DataFrame({"day": [days, days + days_after]})
    )
    (k,) = features._months_back(rows, moment)
    stamp = pd.Timestamp(business_date)
    assert pd.Timestamp(day) - pd.DateOffset(months=int(k) + 1) < stamp
    assert stamp <= pd.Timestamp(day) - pd.DateOffset(months=int(k))


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    book=books(),
    horizon_days=st.integers(1, 120),
    bad_past_due_days=st.integers(1, 100),
)
def test_label_equals_a_slow_reference(
    data: st.DataObject, book: tuple[list, list], horizon_days: int, bad_past_due_days: int
) -> None:
    rows, _ = book
    first = min(row["business_date"] for row in rows)
    last = max(row["business_date"] for row in rows)
    if (last - first).days < horizon_days:
        return
    day = first + dt.timedelta(days=data.draw(st.integers(0, (last - first).days - horizon_days)))
    labels = label_outcomes(
        feed_table(rows), [day], horizon_days=horizon_days, bad_past_due_days=bad_past_due_days
    )
    expected = reference_features(rows, [], day)
    assert labels["account_id"].tolist() == sorted(expected)
    for account_id, bad in zip(labels["account_id"], labels["bad"], strict=True):
        ahead = [
            r["past_due_days"]
            for r in rows
            if r["account_id"] == account_id
            and day < r["business_date"] <= day + dt.timedelta(days=horizon_days)
        ]
        assert bad == int(any(p >= bad_past_due_days for p in ahead))


# --- the real ledger --------------------------------------------------------------------------


def test_features_from_a_real_book_and_its_close_of_business(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    store = open_store(url)
    account_ids = [b.account_id for b in simulate(Book(store), 6, 2, 5)]
    store.close()
    through = run_end(2) + dt.timedelta(days=20)
    run_eod(
        run_local,
        "local",
        url,
        through,
        catch_up=True,
        out_dir=tmp_path,
        partition_size=4,
        parallelism=1,
    )
    feed = read_feed(tmp_path, SNAPSHOTS)
    store = open_store(url)
    try:
        check_new_snapshot_columns(feed, store, account_ids, through)
        transactions = load_transactions(store)
        check_transactions(transactions, store, account_ids)
    finally:
        store.close()
    table = build_features(feed, [through], kind="collection", transactions=transactions)
    assert set(table["account_id"]) <= set(account_ids) and not table.empty
    assert table[["months_on_book", "utilisation", "past_due_days_max_12m"]].notna().all().all()
    assert (table["payment_ratio_3m"].dropna() >= 0).all()


def check_new_snapshot_columns(
    feed: pa.Table, store: Any, account_ids: list[str], through: dt.date
) -> None:
    """``limit_minor``, ``overdue_minor`` and ``opened_on`` agree with the ledger."""
    frame = feed.to_pandas()
    assert frame.columns.tolist()[-4:] == [
        "limit_minor",
        "overdue_minor",
        "opened_on",
        "business_date",
    ]
    book = Book(store)
    last = frame[frame["business_date"] == through].set_index("account_id")
    assert sorted(last.index) == account_ids
    for account_id in account_ids:
        state = book.state(account_id)
        assert last.loc[account_id, "limit_minor"] == state.credit_limit_minor
        assert last.loc[account_id, "opened_on"] == store.get_account(account_id).opened_on
    open_rows = frame[frame["status"] == "open"]
    assert (open_rows["overdue_minor"] <= open_rows["total_minor"]).all()
    assert ((open_rows["past_due_days"] > 0) <= (open_rows["overdue_minor"] > 0)).all()
    assert (open_rows["past_due_days"] > 0).any(), "the sample book should have late payers"


def check_transactions(transactions: pd.DataFrame, store: Any, account_ids: list[str]) -> None:
    """One row per money or bill event (and per reversal of one), amounts as the events say."""
    assert transactions.columns.tolist() == list(TRANSACTION_COLUMNS)
    assert sorted(set(transactions["account_id"])) == account_ids
    kinds = set(transactions["kind"])
    assert {"repayment", "purchase", "draw", "statement_cut", "instalment_due"} <= kinds
    for account_id in account_ids:
        events = store.load_events(account_id)
        own = transactions[transactions["account_id"] == account_id]
        repaid = sum(e.payload["amount_minor"] for e in events if e.kind == "repayment")
        reversed_paid = sum(
            e.payload["target"]["data"]["amount_minor"]
            for e in events
            if e.kind == "reversal" and e.payload["target"]["kind"] == "repayment"
        )
        paid_rows = own[own["kind"] == "repayment"]["amount_minor"]
        assert paid_rows.sum() == repaid - reversed_paid
        assert len(own[own["kind"] == "statement_cut"]) == sum(
            1 for e in events if e.kind == "statement_cut"
        )
        dates = [e.business_date for e in events if e.kind in {"repayment", "draw", "purchase"}]
        assert set(dates) <= set(own["business_date"])
    assert (
        load_transactions(store, account_ids[:2])["account_id"].unique().tolist() == account_ids[:2]
    )


# --- speed ------------------------------------------------------------------------------------


def test_a_large_book_builds_in_seconds() -> None:
    """20,000 accounts x 13 month-ends, one date: well under a second here; 5 s is the alarm."""
    accounts, months = 20_000, 13
    rng = np.random.default_rng(0)
    dates = (
        pd.date_range("2025-01-31", periods=months, freq="ME").to_numpy().astype("datetime64[D]")
    )
    count = accounts * months
    table = pa.table(
        {
            "account_id": np.repeat([f"A{i:06d}" for i in range(accounts)], months),
            "business_date": pa.array(np.tile(dates, accounts), pa.date32()),
            "opened_on": pa.array(np.full(count, np.datetime64("2024-06-15")), pa.date32()),
            "total_minor": rng.integers(0, 10**6, count),
            "limit_minor": np.full(count, 10**6),
            "overdue_minor": rng.integers(0, 1_000, count),
            "past_due_days": rng.choice([0, 0, 0, 5, 40], count).astype(np.int32),
            "bucket": np.full(count, "M0"),
        }
    )
    started = time.perf_counter()
    built = build_features(table, [dates[-1]], kind="collection")
    assert time.perf_counter() - started < 5
    assert len(built) == int((table["past_due_days"].to_numpy()[months - 1 :: months] > 0).sum())


def test_an_empty_transactions_table_means_no_activity() -> None:
    table = build_features(
        feed_table(HAND_BOOK),
        [D(2025, 7, 31)],
        kind="collection",
        transactions=transactions_frame([]),
    )
    a = row_of(table, "A")
    assert (a["draw_count_3m"], a["payment_count_30d"], a["payment_amount_minor_30d"]) == (0, 0, 0)
    assert math.isnan(a["payment_ratio_1m"]) and math.isnan(a["days_since_payment"])
