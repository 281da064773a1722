"""Portfolio risk metrics of a simulated book, from the files the book simulator writes.

Why: a risk committee judges a book by a handful of standard measures (book size, delinquency by
bucket, the 1+/30+/90+ rates, write-offs, vintage curves, roll rates, flow rates, first payment
default, approvals). Each is a pure function of a :class:`Run` here, with its formula in its
docstring, so the report, the calibration test and a reviewer all read the same numbers.

Inputs (see ``docs/architecture.md`` and :mod:`lendguard.eod.outputs`):

- the snapshot feed, one row per account per business date (``SNAPSHOT_SCHEMA`` plus the
  ``business_date`` partition column), balances in integer minor units;
- ``decisions.parquet``, one row per application.

Conventions that hold for every function:

- **Month end** is the last business date present in a calendar month, so a run that stops
  mid-month still has a last "month end" (its last date). Month-based frames are indexed by the
  month as ``"YYYY-MM"`` and carry the ``month_end`` date. "Consecutive" month ends are
  consecutive in the feed: a calendar month without any business date is skipped, not invented.
- **Open** means ``status == "open"``. Book, bucket and rate measures count open accounts only:
  written-off and closed accounts hold no balance.
- Money stays in integer minor units (``*_minor`` columns); ratios are floats in 0..1, and a
  ratio whose denominator is zero is NaN (there is nothing to measure), never 0 and never an
  error.

Performance: a run of 50,000 accounts over 365 days is 18M snapshot rows. :func:`build_run`
reads six columns of every day (``DAILY_COLUMNS``) and reduces them to per-account facts (first
date 30+ days past due, first write-off) with pyarrow hash aggregations, and reads all the
needed columns of the month-end dates only (partition pruning: about 600k rows, text as
categoricals); every metric then works on those small frames. Measured on 2 CPU cores: about
6 s to build the run (mostly Parquet decoding) and under 1 s for every metric together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from lendguard.eod.outputs import PARTITIONING, SNAPSHOTS

DECISIONS_FILE = "decisions.parquet"

OPEN = "open"
WRITTEN_OFF = "written_off"
CLOSED = "closed"
STATUSES = frozenset({OPEN, WRITTEN_OFF, CLOSED})

DECISIONS = ("approve", "refer", "decline")
"""Automated outcomes of an application."""
APPROVED = "approved"
DECLINED = "declined"
FINALS = frozenset({APPROVED, DECLINED})
"""Outcomes after human review of referrals."""

CURRENT_BUCKET = "M0"
FIRST_DELINQUENT_BUCKET = "M1"
SECOND_DELINQUENT_BUCKET = "M2"

TARGET_WRITTEN_OFF = "written_off"
TARGET_PAID_OFF = "paid_off/closed"
TARGET_NOT_OBSERVED = "not_observed"
"""Roll target of an account open at one month end with no row at the next; shown only if any."""

COMPONENT_COLUMNS = (
    "principal_minor",
    "interest_minor",
    "fee_minor",
    "penalty_minor",
    "late_fee_minor",
)
BALANCE_COLUMNS = (*COMPONENT_COLUMNS, "total_minor")

SNAPSHOT_COLUMNS = (
    "account_id",
    "kind",
    "status",
    *BALANCE_COLUMNS,
    "past_due_days",
    "bucket",
    "opened_on",
    "business_date",
)
"""The snapshot columns the metrics read, at month ends; the others are never loaded."""

DAILY_COLUMNS = (
    "account_id",
    "business_date",
    "opened_on",
    "status",
    "past_due_days",
    "total_minor",
)
"""The snapshot columns read for every day (first 30+ date, write-off, observation window)."""

DECISION_COLUMNS = (
    "application_id",
    "applied_on",
    "product_kind",
    "decision",
    "final",
    "score",
    "grade",
    "limit_minor",
    "account_id",
)

PAST_DUE_THRESHOLDS_DAYS = (1, 30, 90)
"""The "1+, 30+, 90+" rates: balance of accounts at least this many days past due."""

VINTAGE_PAST_DUE_DAYS = 30
"""A vintage curve counts accounts ever this many days past due."""

FPD_PAST_DUE_DAYS = 30
FPD_WINDOW_DAYS = 90
"""FPD30: 30+ days past due within 90 days of opening, among accounts observed that long."""

DAYS_PER_YEAR = 365
"""Annualisation of write-off rates: a rate over ``d`` days is multiplied by 365 / d."""

score_bins_count = 20
"""Bars of the score distribution."""

_DAY = pd.Timedelta(days=1)
_BUCKET_NUMBER = re.compile(r"M(\d+)")


@dataclass(frozen=True, eq=False)
class Run:
    """One simulated run reduced to what the metrics need (``eq=False``: frames do not compare).

    - ``month_ends``: index ``month`` (``"YYYY-MM"``), columns ``month_end`` (the last business
      date present in the month), ``days_covered`` (business-calendar days from the previous
      month end, or from the run's first date, to this one, both ends counted once) and
      ``complete`` (the run saw the month to its end: a later month exists, or the month end is
      the month's last calendar day).
    - ``month_end_rows``: the snapshot rows of month-end dates, with ``month_index`` (position in
      ``month_ends``).
    - ``accounts``: one row per account id seen: ``opened_on``, ``first_observed_on``,
      ``last_observed_on``, ``past_due_30_on`` (first date with ``past_due_days >= 30``, NaT if
      never), ``written_off_on`` (first date with status written_off, NaT if never) and
      ``written_off_minor`` (see :func:`write_offs_by_month`; 0 if not written off in the run).
    - ``decisions``: ``decisions.parquet`` as read (``applied_on`` as datetime64).
    - ``first_date``: the run's first business date (NaT for an empty run).
    """

    month_ends: pd.DataFrame
    month_end_rows: pd.DataFrame
    accounts: pd.DataFrame
    decisions: pd.DataFrame
    first_date: pd.Timestamp

    @property
    def days_covered(self) -> int:
        """Days from the run's first business date to its last, both counted."""
        return int(self.month_ends["days_covered"].sum())


@dataclass(frozen=True, eq=False)
class RollRates:
    """The roll-rate matrices (rows: bucket at month end t; columns: state at t+1) and by month.

    ``balance`` and ``count`` are pooled over every pair of consecutive month ends; ``by_month``
    has the M1 -> M2 roll of each pair, indexed by the later month.
    """

    balance: pd.DataFrame
    count: pd.DataFrame
    by_month: pd.DataFrame


# --- loading ------------------------------------------------------------------------------------


def load_run(out_dir: Path) -> Run:
    """Read a simulator output folder (snapshot feed and decisions) into a :class:`Run`."""
    folder = Path(out_dir)
    dataset = ds.dataset(folder / SNAPSHOTS, format="parquet", partitioning=PARTITIONING)
    decisions = pq.read_table(folder / DECISIONS_FILE, columns=list(DECISION_COLUMNS))
    return build_run(dataset, decisions)


def build_run(snapshots: pa.Table | ds.Dataset, decisions: pa.Table) -> Run:
    """Reduce the daily snapshots (a table, or the feed as a dataset) and decisions to a Run.

    Two scans: every row of the few ``DAILY_COLUMNS`` (for the per-account facts), and every
    column of the month-end dates only (partition pruning when ``snapshots`` is the feed).
    Refuses (``ValueError``) a table that lacks a column or has a status or decision value the
    metrics do not know: an unknown status would silently fall out of every measure.
    """
    dataset = snapshots if isinstance(snapshots, ds.Dataset) else ds.dataset(snapshots)
    _require_columns(dataset.schema.names, SNAPSHOT_COLUMNS, "snapshot feed")
    _require_columns(decisions.column_names, DECISION_COLUMNS, DECISIONS_FILE)
    daily = dataset.to_table(columns=list(DAILY_COLUMNS))
    _require_values(daily["status"], STATUSES, "snapshot status")
    _require_values(decisions["decision"], frozenset(DECISIONS), "decision")
    _require_values(decisions["final"], FINALS, "final decision")

    dates = pd.DatetimeIndex(
        np.sort(pc.unique(daily["business_date"]).to_numpy(zero_copy_only=False))
    ).astype("datetime64[ns]")
    month_ends = _month_end_table(dates)
    month_end_rows = _month_end_rows(dataset, month_ends)
    accounts = _account_facts(daily)
    decision_frame = decisions.to_pandas(date_as_object=False)
    decision_frame["applied_on"] = decision_frame["applied_on"].astype("datetime64[ns]")
    first_date = dates[0] if len(dates) else pd.NaT
    return Run(month_ends, month_end_rows, accounts, decision_frame, first_date)


def _require_columns(present: list[str], columns: tuple[str, ...], what: str) -> None:
    missing = [column for column in columns if column not in present]
    if missing:
        raise ValueError(f"the {what} lacks columns {missing}")


def _require_values(column: pa.ChunkedArray, known: frozenset[str], what: str) -> None:
    values = set(pc.unique(column).to_pylist())
    unknown = values - known
    if unknown:
        raise ValueError(
            f"unknown {what} values {sorted(map(str, unknown))}; known {sorted(known)}"
        )


def _month_end_table(dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Last date present per calendar month, days covered since the previous one, completeness."""
    if len(dates) == 0:
        return pd.DataFrame(
            {
                "month_end": pd.Series([], dtype="datetime64[ns]"),
                "days_covered": pd.Series([], dtype="int64"),
                "complete": pd.Series([], dtype="bool"),
            },
            index=pd.Index([], dtype=object, name="month"),
        )
    periods = dates.to_period("M")
    ends = pd.Series(dates, index=dates).groupby(periods).max()
    previous = ends.shift(1)
    previous.iloc[0] = dates[0] - _DAY
    calendar_last = ends.index.to_timestamp(how="end").normalize()
    complete = np.asarray(ends.to_numpy() == calendar_last.to_numpy())
    complete[:-1] = True
    return pd.DataFrame(
        {
            "month_end": ends.to_numpy(),
            "days_covered": (ends - previous).dt.days.astype("int64").to_numpy(),
            "complete": complete,
        },
        index=pd.Index(ends.index.strftime("%Y-%m"), name="month"),
    )


def _month_end_rows(dataset: ds.Dataset, month_ends: pd.DataFrame) -> pd.DataFrame:
    """The snapshot rows of month-end dates as pandas, with their ``month_index``.

    Text columns become categoricals: the metrics compare and join them hundreds of thousands of
    times, and codes are an order of magnitude faster than Python strings.
    """
    end_dates = pa.array(month_ends["month_end"].to_numpy().astype("datetime64[D]"), pa.date32())
    table = dataset.to_table(
        columns=list(SNAPSHOT_COLUMNS), filter=ds.field("business_date").isin(end_dates)
    )
    rows = table.to_pandas(date_as_object=False, strings_to_categorical=True)
    for column in ("business_date", "opened_on"):
        rows[column] = rows[column].astype("datetime64[ns]")
    rows["month_index"] = np.searchsorted(
        month_ends["month_end"].to_numpy(), rows["business_date"].to_numpy()
    ).astype("int64")
    return rows


def _account_facts(daily: pa.Table) -> pd.DataFrame:
    """Per account: opening, observation window, first 30+ date, first write-off and amount.

    Hash aggregations over the daily rows; only the rows past due 30+ and the rows of accounts
    ever written off are filtered out in full.
    """
    seen = daily.group_by("account_id").aggregate(
        [("opened_on", "min"), ("business_date", "min"), ("business_date", "max")]
    )
    accounts = _to_frame(seen).rename(
        columns={
            "opened_on_min": "opened_on",
            "business_date_min": "first_observed_on",
            "business_date_max": "last_observed_on",
        }
    )
    past_due = daily.filter(pc.greater_equal(daily["past_due_days"], VINTAGE_PAST_DUE_DAYS))
    accounts["past_due_30_on"] = _first_dates(past_due).reindex(accounts.index)
    written_off = daily.filter(pc.equal(daily["status"], WRITTEN_OFF))
    accounts["written_off_on"] = _first_dates(written_off).reindex(accounts.index)
    amounts = _written_off_amounts(daily, accounts["written_off_on"].dropna())
    accounts["written_off_minor"] = amounts.reindex(accounts.index, fill_value=0).astype("int64")
    return accounts


def _to_frame(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas(date_as_object=False).set_index("account_id").sort_index()
    for column in frame.columns:
        if np.issubdtype(frame[column].dtype, np.datetime64):
            frame[column] = frame[column].astype("datetime64[ns]")
    return frame


def _first_dates(rows: pa.Table) -> pd.Series:
    """The first ``business_date`` per account among ``rows``."""
    first = rows.select(["account_id", "business_date"]).group_by("account_id")
    frame = _to_frame(first.aggregate([("business_date", "min")]))
    return frame["business_date_min"]


def _written_off_amounts(daily: pa.Table, written_off_on: pd.Series) -> pd.Series:
    """``total_minor`` on each account's last snapshot before its first written-off row.

    An account whose first row is already written off was written off before the run; it has no
    earlier row and no amount here.
    """
    if written_off_on.empty:
        return pd.Series(dtype="int64")
    ids = pa.array(written_off_on.index.to_list(), pa.string())
    rows = daily.filter(pc.is_in(daily["account_id"], value_set=ids))
    frame = rows.select(["account_id", "business_date", "total_minor"]).to_pandas(
        date_as_object=False
    )
    frame["business_date"] = frame["business_date"].astype("datetime64[ns]")
    before = frame[frame["business_date"] < frame["account_id"].map(written_off_on)]
    last = before.sort_values("business_date").groupby("account_id")["total_minor"].last()
    return last.astype("int64")


# --- helpers ------------------------------------------------------------------------------------


def _open_rows(run: Run) -> pd.DataFrame:
    rows = run.month_end_rows
    return rows[rows["status"] == OPEN]


def _ratio(numerator: pd.Series | float, denominator: pd.Series | float) -> pd.Series | float:
    """``numerator / denominator`` as floats, NaN where the denominator is zero."""
    if isinstance(denominator, pd.Series):
        return numerator.astype("float64") / denominator.astype("float64").where(denominator != 0)
    return float(numerator) / float(denominator) if denominator else float("nan")


def _per_month(run: Run, values: pd.Series | pd.DataFrame) -> pd.DataFrame:
    """Values grouped by ``month_index`` as a frame indexed by month, every month present."""
    frame = values.to_frame() if isinstance(values, pd.Series) else values
    frame = frame.reindex(range(len(run.month_ends)), fill_value=0)
    frame.index = run.month_ends.index
    return frame


def bucket_order(buckets: list[str] | pd.Index) -> list[str]:
    """Buckets in delinquency order: ``M0, M1, ..., M6, M7+``; names of another form last."""

    def key(bucket: str) -> tuple[int, str]:
        match = _BUCKET_NUMBER.match(bucket)
        return (int(match.group(1)) if match else 10**6, bucket)

    return sorted(set(buckets), key=key)


def _month_labels(dates: pd.Series) -> pd.Series:
    """``"YYYY-MM"`` of each date (None for NaT), formatting each distinct month once."""
    codes, months = pd.factorize(dates.dt.to_period("M"))
    labels = np.append(np.asarray(months.strftime("%Y-%m"), dtype=object), None)
    return pd.Series(labels[codes], index=dates.index, dtype=object)


def _month_frame(run: Run) -> pd.DataFrame:
    return run.month_ends[["month_end"]].copy()


# --- book and delinquency -----------------------------------------------------------------------


def book_by_month(run: Run) -> pd.DataFrame:
    """Book size at each month end.

    - ``open_accounts``: accounts with status open at the month end.
    - ``opened_accounts``: accounts whose ``opened_on`` falls in the calendar month.
    - ``principal_minor`` ... ``late_fee_minor``, ``total_minor``: sum of each balance component
      over open accounts at the month end (minor units). A month with no open account shows 0.
    """
    rows = _open_rows(run)
    grouped = rows.groupby("month_index")
    frame = _month_frame(run)
    frame["open_accounts"] = _per_month(run, grouped.size())[0].astype("int64")
    opened = _month_labels(run.accounts["opened_on"]).value_counts()
    frame["opened_accounts"] = opened.reindex(frame.index, fill_value=0).astype("int64")
    balances = _per_month(run, grouped[list(BALANCE_COLUMNS)].sum())
    return pd.concat([frame, balances.astype("int64")], axis=1)


def delinquency_by_bucket(run: Run) -> pd.DataFrame:
    """Open accounts and balance per delinquency bucket at each month end (long form).

    Columns ``month``, ``month_end``, ``bucket``, ``accounts`` (open accounts in the bucket),
    ``balance_minor`` (their ``total_minor``) and ``balance_share`` (bucket balance / open
    balance of the month; NaN if the month has no open balance). Every month x bucket pair seen
    in the run is present, zero when empty, so the buckets stack over time.
    """
    rows = _open_rows(run)
    buckets = bucket_order(rows["bucket"].unique().tolist())
    grid = pd.MultiIndex.from_product(
        [range(len(run.month_ends)), buckets], names=["month_index", "bucket"]
    )
    grouped = rows.groupby(["month_index", "bucket"], observed=True)
    frame = pd.DataFrame(
        {
            "accounts": grouped.size().reindex(grid, fill_value=0).astype("int64"),
            "balance_minor": grouped["total_minor"].sum().reindex(grid, fill_value=0),
        }
    ).reset_index()
    frame["balance_minor"] = frame["balance_minor"].astype("int64")
    month_total = frame.groupby("month_index")["balance_minor"].transform("sum")
    frame["balance_share"] = _ratio(frame["balance_minor"], month_total)
    frame.insert(0, "month", run.month_ends.index.to_numpy()[frame["month_index"]])
    frame.insert(1, "month_end", run.month_ends["month_end"].to_numpy()[frame["month_index"]])
    return frame.drop(columns="month_index")


def past_due_rates(run: Run) -> pd.DataFrame:
    """The 1+, 30+ and 90+ rates at each month end.

    ``open_balance_minor`` = total balance of open accounts; ``past_due_N_minor`` = total balance
    of open accounts with ``past_due_days >= N`` (the whole balance of the account, not only its
    overdue part: the balance at risk); ``rate_N_plus`` = ``past_due_N_minor /
    open_balance_minor`` (NaN when there is no open balance). So ``rate_90_plus <= rate_30_plus
    <= rate_1_plus``.
    """
    rows = _open_rows(run)
    frame = _month_frame(run)
    balance = rows.groupby("month_index")["total_minor"].sum()
    frame["open_balance_minor"] = _per_month(run, balance)["total_minor"].astype("int64")
    for days in PAST_DUE_THRESHOLDS_DAYS:
        late = rows[rows["past_due_days"] >= days].groupby("month_index")["total_minor"].sum()
        late_minor = _per_month(run, late)["total_minor"].astype("int64")
        frame[f"past_due_{days}_minor"] = late_minor
    for days in PAST_DUE_THRESHOLDS_DAYS:
        frame[f"rate_{days}_plus"] = _ratio(
            frame[f"past_due_{days}_minor"], frame["open_balance_minor"]
        )
    return frame


# --- write-offs ---------------------------------------------------------------------------------


def write_offs_by_month(run: Run) -> pd.DataFrame:
    """Amounts written off per month and the month's annualised write-off rate.

    - ``written_off_accounts``, ``written_off_minor``: accounts whose status first becomes
      written_off on a date in the month, and the sum of their ``total_minor`` on their last
      snapshot before that date (the balance written off). Accounts already written off on their
      first snapshot were written off before the run and are left out.
    - ``open_balance_minor``: open balance at the month end.
    - ``days_covered``: days of the month the run covered (see :class:`Run`).
    - ``write_off_rate_annualised`` = ``written_off_minor / open_balance_minor * 365 /
      days_covered`` (NaN with no open balance): :func:`write_off_rate_annualised` applied to one
      month.
    """
    accounts = run.accounts
    in_run = accounts[accounts["written_off_on"] > accounts["first_observed_on"]]
    month = _month_labels(in_run["written_off_on"])
    frame = _month_frame(run)
    frame["written_off_accounts"] = (
        month.value_counts().reindex(frame.index, fill_value=0).astype("int64")
    )
    amounts = in_run.groupby(month)["written_off_minor"].sum()
    frame["written_off_minor"] = amounts.reindex(frame.index, fill_value=0).astype("int64")
    frame["open_balance_minor"] = past_due_rates(run)["open_balance_minor"]
    frame["days_covered"] = run.month_ends["days_covered"]
    rate = _ratio(frame["written_off_minor"], frame["open_balance_minor"])
    frame["write_off_rate_annualised"] = rate * DAYS_PER_YEAR / frame["days_covered"]
    return frame


def write_off_rate_annualised(run: Run) -> float:
    """Written off over the run / average month-end open balance * 12 / months covered.

    Months covered = days covered * 12 / 365, so the rate is ``sum(written_off_minor) /
    mean(open_balance_minor at each month end) * 365 / days covered``. NaN if the run has no
    open balance at any month end.
    """
    frame = write_offs_by_month(run)
    if frame.empty:
        return float("nan")
    average_minor = float(frame["open_balance_minor"].mean())
    rate = _ratio(int(frame["written_off_minor"].sum()), average_minor)
    return rate * DAYS_PER_YEAR / run.days_covered


# --- vintages and first payment default ---------------------------------------------------------


def _cohort_accounts(run: Run) -> pd.DataFrame:
    """Accounts opened on or after the run's first date (earlier ones lack their early history)."""
    accounts = run.accounts[run.accounts["opened_on"] >= run.first_date].copy()
    accounts["cohort"] = _month_labels(accounts["opened_on"])
    return accounts


def cohort_accounts(run: Run) -> pd.Series:
    """Accounts per opening month (the vintage cohorts), from the run's first date on."""
    counts = _cohort_accounts(run).groupby("cohort").size().astype("int64")
    counts.name = "accounts"
    return counts


def vintage_curves(run: Run) -> pd.DataFrame:
    """Share of each cohort ever 30+ days past due by each month on book.

    Cohort = calendar month of ``opened_on`` (accounts opened before the run's first date are
    left out: their early history is not in the feed). Month on book ``k`` (k = 1, 2, ...) is the
    month end of the calendar month ``k`` months after the cohort month. Cell = accounts of the
    cohort whose first date with ``past_due_days >= 30`` is on or before that month end /
    accounts in the cohort. A cell is NaN unless that month is fully observed (``complete`` in
    :class:`Run`), so a curve never dips because a month was cut short.
    """
    accounts = _cohort_accounts(run)
    ends = run.month_ends[run.month_ends["complete"]]["month_end"]
    ends.index = pd.PeriodIndex(ends.index, freq="M")
    cohorts = sorted(accounts["cohort"].unique())
    mob_max = 0
    if cohorts and len(ends):
        mob_max = max(0, (ends.index.max() - pd.Period(cohorts[0], "M")).n)
    table = pd.DataFrame(
        np.nan,
        index=pd.Index(cohorts, name="cohort"),
        columns=pd.Index(range(1, mob_max + 1), name="months_on_book"),
    )
    for cohort, members in accounts.groupby("cohort"):
        period = pd.Period(str(cohort), "M")
        reached = members["past_due_30_on"]
        for mob in table.columns:
            end = ends.get(period + int(mob))
            if end is not None:
                table.loc[cohort, mob] = float((reached <= end).mean())
    return table


def first_payment_default_by_cohort(run: Run) -> pd.DataFrame:
    """FPD30 per opening month: ``eligible_accounts``, ``defaulted_accounts``, ``fpd30``.

    Eligible: opened on or after the run's first date and observed at least 90 days after
    ``opened_on`` (last snapshot date - opened_on >= 90 days). Defaulted: eligible, and first
    ``past_due_days >= 30`` no later than ``opened_on + 90`` days. ``fpd30`` = defaulted /
    eligible (NaN with none eligible).

    A proxy: the snapshot has no first-due-date column, so this counts any 30+ days past due
    within 90 days of opening, which for monthly products is almost always the first instalment
    or first statement going unpaid.
    """
    accounts = _cohort_accounts(run)
    window = pd.Timedelta(days=FPD_WINDOW_DAYS)
    eligible = accounts[accounts["last_observed_on"] - accounts["opened_on"] >= window]
    defaulted = eligible["past_due_30_on"] - eligible["opened_on"] <= window
    frame = pd.DataFrame(
        {
            "eligible_accounts": eligible.groupby("cohort").size(),
            "defaulted_accounts": defaulted.groupby(eligible["cohort"]).sum(),
        }
    )
    frame.index.name = "cohort"
    frame = frame.astype("int64")
    frame["fpd30"] = _ratio(frame["defaulted_accounts"], frame["eligible_accounts"])
    return frame


def first_payment_default_rate(run: Run) -> float:
    """FPD30 of the whole run: defaulted / eligible over all cohorts (see the by-cohort table)."""
    frame = first_payment_default_by_cohort(run)
    return _ratio(int(frame["defaulted_accounts"].sum()), int(frame["eligible_accounts"].sum()))


# --- roll and flow rates ------------------------------------------------------------------------


def _roll_pairs(run: Run) -> pd.DataFrame:
    """Each account open at a month end with its state at the next month end.

    ``target`` is ``written_off`` (status written off), ``paid_off/closed`` (closed, or open
    with zero balance), ``not_observed`` (no row at the next month end) or the next bucket.
    """
    last_index = len(run.month_ends) - 1
    source = _open_rows(run)
    source = source[source["month_index"] < last_index][
        ["account_id", "month_index", "bucket", "total_minor"]
    ]
    later = run.month_end_rows[["account_id", "month_index", "status", "bucket", "total_minor"]]
    later = later.assign(month_index=later["month_index"] - 1)
    pairs = source.merge(
        later, on=["account_id", "month_index"], how="left", suffixes=("", "_next")
    )
    status = pairs["status"]
    pairs["target"] = np.select(
        [
            status.isna(),
            status == WRITTEN_OFF,
            (status == CLOSED) | (pairs["total_minor_next"] == 0),
        ],
        [TARGET_NOT_OBSERVED, TARGET_WRITTEN_OFF, TARGET_PAID_OFF],
        default=pairs["bucket_next"].astype(object),
    )
    return pairs


def roll_rates(run: Run) -> RollRates:
    """Roll-rate matrices between consecutive month ends, pooled, and the M1 -> M2 roll by month.

    For every pair of consecutive month ends (t, t+1) and every account open at t: source =
    its bucket at t, target = its bucket at t+1, or ``written_off`` (status written off at
    t+1), or ``paid_off/closed`` (closed, or zero balance at t+1), or ``not_observed`` (no row
    at t+1; a column shown only when it happens).

    - ``balance``: cell = sum over all pairs of ``total_minor`` at t of accounts moving source
      -> target / sum over all pairs of ``total_minor`` at t in the source bucket. This is the
      balance-weighted average of the monthly matrices. Rows sum to 1; a row whose source bucket
      never had balance is NaN.
    - ``count``: the same with accounts instead of balance.
    - ``by_month`` (index: month of t+1): ``from_month``, ``m1_balance_minor`` (balance in M1 at
      t), ``m1_to_m2_minor`` (of it, balance in M2 at t+1) and ``m1_to_m2_roll`` (their ratio).

    With one month end only there are no pairs: the matrices are all NaN and ``by_month`` is
    empty.
    """
    pairs = _roll_pairs(run)
    sources = bucket_order(_open_rows(run)["bucket"].unique().tolist())
    targeted = [t for t in pairs["target"].unique() if t not in _SPECIAL_TARGETS]
    targets = [*bucket_order([*sources, *targeted]), TARGET_WRITTEN_OFF, TARGET_PAID_OFF]
    if (pairs["target"] == TARGET_NOT_OBSERVED).any():
        targets.append(TARGET_NOT_OBSERVED)
    balance = _roll_matrix(pairs.assign(weight=pairs["total_minor"]), sources, targets)
    count = _roll_matrix(pairs.assign(weight=1), sources, targets)
    return RollRates(balance, count, _m1_rolls(run, pairs))


_SPECIAL_TARGETS = frozenset({TARGET_WRITTEN_OFF, TARGET_PAID_OFF, TARGET_NOT_OBSERVED})


def _roll_matrix(pairs: pd.DataFrame, sources: list[str], targets: list[str]) -> pd.DataFrame:
    moved = pairs.groupby(["bucket", "target"], observed=True)["weight"].sum().unstack(fill_value=0)
    moved = moved.reindex(index=sources, columns=targets, fill_value=0).astype("float64")
    totals = moved.sum(axis=1)
    matrix = moved.div(totals.where(totals != 0), axis=0)
    matrix.index.name = "from_bucket"
    matrix.columns.name = "to"
    return matrix


def _m1_rolls(run: Run, pairs: pd.DataFrame) -> pd.DataFrame:
    pair_count = max(len(run.month_ends) - 1, 0)
    in_m1 = pairs[pairs["bucket"] == FIRST_DELINQUENT_BUCKET]
    to_m2 = in_m1[in_m1["target"] == SECOND_DELINQUENT_BUCKET]
    m1_minor = in_m1.groupby("month_index")["total_minor"].sum()
    m2_minor = to_m2.groupby("month_index")["total_minor"].sum()
    frame = pd.DataFrame(
        {
            "from_month": run.month_ends.index[:pair_count],
            "m1_balance_minor": m1_minor.reindex(range(pair_count), fill_value=0).to_numpy(),
            "m1_to_m2_minor": m2_minor.reindex(range(pair_count), fill_value=0).to_numpy(),
        },
        index=pd.Index(run.month_ends.index[1:], name="month"),
    )
    frame[["m1_balance_minor", "m1_to_m2_minor"]] = frame[
        ["m1_balance_minor", "m1_to_m2_minor"]
    ].astype("int64")
    frame["m1_to_m2_roll"] = _ratio(frame["m1_to_m2_minor"], frame["m1_balance_minor"])
    return frame


def c_m1_flow(run: Run) -> pd.DataFrame:
    """Current-to-M1 flow rate between consecutive month ends, indexed by the later month.

    ``m0_balance_minor`` = balance of open accounts in M0 at month end t; ``m1_balance_minor`` =
    balance of open accounts in M1 at month end t+1; ``flow_rate`` = ``m1_balance_minor /
    m0_balance_minor`` (NaN when M0 held no balance). A book-level ratio, not account-matched:
    the usual flow-rate convention.
    """
    rows = _open_rows(run)
    pair_count = max(len(run.month_ends) - 1, 0)
    by_bucket = rows.groupby(["bucket", "month_index"], observed=True)["total_minor"].sum()
    months = range(len(run.month_ends))
    current = _bucket_series(by_bucket, CURRENT_BUCKET).reindex(months, fill_value=0)
    first = _bucket_series(by_bucket, FIRST_DELINQUENT_BUCKET).reindex(months, fill_value=0)
    frame = pd.DataFrame(
        {
            "from_month": run.month_ends.index[:pair_count],
            "m0_balance_minor": current.to_numpy()[:pair_count].astype("int64"),
            "m1_balance_minor": first.to_numpy()[1:].astype("int64"),
        },
        index=pd.Index(run.month_ends.index[1:], name="month"),
    )
    frame["flow_rate"] = _ratio(frame["m1_balance_minor"], frame["m0_balance_minor"])
    return frame


def _bucket_series(by_bucket: pd.Series, bucket: str) -> pd.Series:
    if bucket in by_bucket.index.get_level_values("bucket"):
        return by_bucket.loc[bucket]
    return pd.Series(dtype="int64")


# --- approvals ----------------------------------------------------------------------------------


def approval_by_month(run: Run) -> pd.DataFrame:
    """Applications per month of ``applied_on`` and how they were decided.

    ``applications``; ``approve_share``, ``refer_share``, ``decline_share`` = automated outcome
    counts / applications; ``approved`` = final approvals (after review of referrals);
    ``final_approval_rate`` = approved / applications. Every month from the first application's
    to the last is present; a month without applications has 0 applications and NaN shares.
    """
    decisions = run.decisions
    columns = ["applications", *(f"{d}_share" for d in DECISIONS)]
    columns += ["approved", "final_approval_rate"]
    if decisions.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="month", dtype=object))
    periods = decisions["applied_on"].dt.to_period("M")
    months = pd.period_range(periods.min(), periods.max(), freq="M")
    frame = pd.DataFrame(index=months)
    frame["applications"] = periods.value_counts().reindex(months, fill_value=0)
    for decision in DECISIONS:
        count = (decisions["decision"] == decision).groupby(periods).sum()
        frame[f"{decision}_share"] = _ratio(
            count.reindex(months, fill_value=0), frame["applications"]
        )
    frame["approved"] = (decisions["final"] == APPROVED).groupby(periods).sum()
    frame["approved"] = frame["approved"].reindex(months, fill_value=0).fillna(0)
    frame[["applications", "approved"]] = frame[["applications", "approved"]].astype("int64")
    frame["final_approval_rate"] = _ratio(frame["approved"], frame["applications"])
    frame.index = pd.Index(months.strftime("%Y-%m"), name="month")
    return frame[columns]


def final_approval_rate(run: Run) -> float:
    """Final approvals / applications over the whole run (NaN without applications)."""
    decisions = run.decisions
    return _ratio(int((decisions["final"] == APPROVED).sum()), len(decisions))


def score_distribution(run: Run, bins_count: int = score_bins_count) -> pd.DataFrame:
    """Histogram of application scores, approved vs declined (final outcome).

    ``bins_count`` equal-width bins over the range of all non-null scores (numpy's histogram
    edges; the last bin includes its upper edge). Columns ``bin_low``, ``bin_high``,
    ``approved``, ``declined`` (application counts). Applications without a score (declined
    before scoring) are not in any bin; the report states how many.
    """
    scored = run.decisions[run.decisions["score"].notna()]
    if scored.empty:
        return pd.DataFrame(columns=["bin_low", "bin_high", APPROVED, DECLINED])
    scores = scored["score"].to_numpy(dtype="float64")
    edges = np.histogram_bin_edges(scores, bins=bins_count)
    frame = pd.DataFrame({"bin_low": edges[:-1], "bin_high": edges[1:]})
    for final in (APPROVED, DECLINED):
        counts, _ = np.histogram(scores[scored["final"].to_numpy() == final], bins=edges)
        frame[final] = counts.astype("int64")
    return frame


# --- headline -----------------------------------------------------------------------------------


def headline(run: Run) -> dict[str, float]:
    """The figures a calibration test and the report's first table check, as plain floats.

    - ``balance_share_1_plus``, ``_30_plus``, ``_90_plus``: the rates of
      :func:`past_due_rates` at the run's last month end (its last date);
    - ``m1_to_m2_roll_mean``: arithmetic mean of the monthly M1 -> M2 rolls, months without M1
      balance skipped; ``c_m1_flow_mean``: likewise for the C-M1 flow rate;
    - ``write_off_rate_annualised``: :func:`write_off_rate_annualised`;
    - ``fpd30``: :func:`first_payment_default_rate`;
    - ``final_approval_rate``: :func:`final_approval_rate`;
    - ``accounts``: accounts seen in the run; ``open_accounts`` and ``open_balance_minor``: open
      at the last month end.

    Ratios are in 0..1; NaN where undefined (e.g. a one-month run has no roll or flow).
    """
    rates = past_due_rates(run)
    last = rates.iloc[-1] if len(rates) else None
    book = book_by_month(run)
    figures = {
        f"balance_share_{days}_plus": _last(last, f"rate_{days}_plus")
        for days in PAST_DUE_THRESHOLDS_DAYS
    }
    figures |= {
        "m1_to_m2_roll_mean": _mean(roll_rates(run).by_month["m1_to_m2_roll"]),
        "c_m1_flow_mean": _mean(c_m1_flow(run)["flow_rate"]),
        "write_off_rate_annualised": float(write_off_rate_annualised(run)),
        "fpd30": float(first_payment_default_rate(run)),
        "final_approval_rate": float(final_approval_rate(run)),
        "accounts": float(len(run.accounts)),
        "open_accounts": float(book["open_accounts"].iloc[-1]) if len(book) else 0.0,
        "open_balance_minor": _last(last, "open_balance_minor") if last is not None else 0.0,
    }
    return figures


def _last(row: pd.Series | None, column: str) -> float:
    return float("nan") if row is None else float(row[column])


def _mean(values: pd.Series) -> float:
    present = values.dropna()
    return float(present.mean()) if len(present) else float("nan")
