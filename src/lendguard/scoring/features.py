"""Point-in-time features for the behaviour score (B-card) and the collection score (C-card).

Input is the account snapshots close of business writes each night (:mod:`lendguard.eod.outputs`,
as ``read_feed`` returns them: the snapshot columns plus ``business_date``) and, optionally, the
accounts' money and bills as :func:`load_transactions` reads them from the ledger. Output is one row
per account and observation date, keyed by ``account_id``, ``observation_date`` and
``snapshot_date`` (the close the row stands on).

**Point in time.** A feature for observation date D is computed from rows with
``business_date <= D`` and nothing else: :func:`_visible` is the one place history meets a date,
and every aggregate runs on what it returns. The tests rebuild features after changing every row
after D, and adding rows after D, and must get the same table. :func:`label_outcomes` looks
forward on purpose; it is a separate function so that no feature can share its window.

**Population.** The accounts in the latest snapshot on or before D: the book as its last close
before D left it (an account closed or written off earlier has no row then). The C-card keeps
those past due (``past_due_days > 0``) in that snapshot.

**Windows.** "Last N months" of D is the business dates t with ``D - N months < t <= D``, months
by the calendar with the day clipped to the month's end (31 March minus one month is 28 February).
Window aggregates read the snapshot rows present in the window, so pass every nightly snapshot: a
monthly sample misses what happens between its dates, and a model must be scored on the cadence it
was trained on. A window with no snapshot of the account (a gap in the data longer than the
window) gives NaN, not a made-up 0.

B-card features (C-card rows carry them too). (T): needs ``transactions``; without it these
columns are absent, not zero, because no data is not the same as no activity.

=============================================  ==============  =====================================
feature                                        window          definition
=============================================  ==============  =====================================
``months_on_book``                             opening to D    whole months from ``opened_on`` to D
``utilisation``                                at D            ``total_minor / limit_minor``; NaN
                                                               at a zero limit
``utilisation_mean_3m``                        3 months        mean utilisation of the snapshots
``past_due_days_max_3m``, ``_6m``, ``_12m``    3/6/12 months   worst ``past_due_days``
``months_since_delinquent``                    history to D    whole months from the last snapshot
                                                               past due to D (0: past due now); NaN:
                                                               never past due in the history given
``delinquent_month_count_12m``                 12 months       month-long slices (D-1m, D],
                                                               (D-2m, D-1m] ... with a snapshot
                                                               past due
``balance_change_minor_3m``                    D vs 3 months   ``total_minor`` now minus at the last
                                                               snapshot on or before D - 3 months;
                                                               NaN if there is none
``payment_ratio_1m``, ``_3m`` (T)              1/3 months      repaid / billed in the window; NaN
                                                               if nothing was billed
``draw_count_3m``, ``draw_amount_minor_3m``    3 months        cash-loan draws (T)
``purchase_count_3m``,                         3 months        purchases, net of reversals (T)
``purchase_amount_minor_3m``
``instalment_conversion_count_6m``,            6 months        purchases and bills turned into
``instalment_conversion_amount_minor_6m``                      instalment plans (T)
=============================================  ==============  =====================================

Payment ratio: repaid is repayments plus prepayments, net of bounced payments; billed is the
statement balances cut (``total_minor``, which includes what an earlier bill left unpaid, as the
statement shows it) plus loan instalments fallen due (principal, interest and fee). A one-month
window holds one cycle, so a payment may answer the bill of the cycle before; a ratio above 1 is
paying ahead.

C-card features (besides the B-card set):

==============================  ==============  ===================================================
feature                         window          definition
==============================  ==============  ===================================================
``past_due_days``, ``bucket``   at D            the delinquency clock and bucket of the snapshot
``overdue_share``               at D            ``overdue_minor / total_minor``
``past_due_days_max_ever``      history to D    worst ``past_due_days``
``cure_count``                  history to D    consecutive snapshots going from past due to not
``days_since_payment`` (T)      history to D    days from the last repayment posted (bounced or
                                                not) to D; NaN if none
``payment_count_30d``,          30 days         repayments in ``(D - 30 days, D]``, net of bounced
``payment_amount_minor_30d``                    ones (T)
==============================  ==============  ===================================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from lendguard import limits
from lendguard.errors import ScoringDataError
from lendguard.ledger.events import REVERSIBLE_KINDS, EventKind
from lendguard.scoring.data import require_columns

if TYPE_CHECKING:
    from pandas.api.typing import SeriesGroupBy

    from lendguard.store import EventRecord, Store

SNAPSHOT_COLUMNS = (
    "account_id",
    "business_date",
    "opened_on",
    "total_minor",
    "limit_minor",
    "overdue_minor",
    "past_due_days",
    "bucket",
)
"""Snapshot columns the builders read (EOD writes them all; ``read_feed`` adds the date)."""

TRANSACTION_COLUMNS = ("account_id", "business_date", "kind", "amount_minor")

PAYMENT_KINDS = frozenset({EventKind.REPAYMENT.value, EventKind.PREPAYMENT.value})
BILL_KINDS = frozenset({EventKind.STATEMENT_CUT.value, EventKind.INSTALMENT_DUE.value})
TRANSACTION_KINDS = (
    PAYMENT_KINDS
    | BILL_KINDS
    | {
        EventKind.PURCHASE.value,
        EventKind.DRAW.value,
        EventKind.INSTALMENT_CONVERSION.value,
    }
)
"""Values of a transactions table's ``kind``: ledger event kinds. A reversal is a row of the kind
it reverses with a negative amount, dated when it was posted, so a bounce is news from then on."""

KEY_COLUMNS = ("account_id", "observation_date", "snapshot_date")
FEATURE_ORDER = (
    "months_on_book",
    "utilisation",
    "utilisation_mean_3m",
    "past_due_days_max_3m",
    "past_due_days_max_6m",
    "past_due_days_max_12m",
    "months_since_delinquent",
    "delinquent_month_count_12m",
    "balance_change_minor_3m",
    "payment_ratio_1m",
    "payment_ratio_3m",
    "draw_count_3m",
    "draw_amount_minor_3m",
    "purchase_count_3m",
    "purchase_amount_minor_3m",
    "instalment_conversion_count_6m",
    "instalment_conversion_amount_minor_6m",
    "past_due_days",
    "bucket",
    "overdue_share",
    "past_due_days_max_ever",
    "cure_count",
    "days_since_payment",
    "payment_count_30d",
    "payment_amount_minor_30d",
)
"""Every feature column, in output order (a table has those of its kind and inputs)."""

ZERO_WHEN_ABSENT = frozenset(
    {
        "draw_count_3m",
        "draw_amount_minor_3m",
        "purchase_count_3m",
        "purchase_amount_minor_3m",
        "instalment_conversion_count_6m",
        "instalment_conversion_amount_minor_6m",
        "payment_count_30d",
        "payment_amount_minor_30d",
    }
)
"""Transaction counts and amounts: the transactions are the whole record, so an account with no
rows in the window has 0, not an unknown."""

WHOLE_NUMBER_FEATURES = ZERO_WHEN_ABSENT | {
    "months_on_book",
    "past_due_days",
    "past_due_days_max_ever",
    "cure_count",
}
"""Integer columns (never missing). ``bucket`` is text; every other feature is a float that is NaN
where it is undefined, so a column's type never depends on the data."""

PAYMENT_WINDOW_DAYS = 30
"""The C-card's recent-payment window: a month of days, the usual collections look-back."""

BEHAVIOUR = "behaviour"
COLLECTION = "collection"

LABEL_HORIZON_DAYS = 180
LABEL_BAD_PAST_DUE_DAYS = 30
"""Default outcome rule of :func:`label_outcomes`: bad if 30 or more days past due within six
months, the common industry definition of a behaviour-score bad (collection scores often use a
shorter horizon; Basel's default definition is 90+)."""

_REVERSIBLE_TRANSACTION_KINDS = {kind.value for kind in REVERSIBLE_KINDS} & TRANSACTION_KINDS
"""Reversed events that are transactions here (repayments, purchases; not fees or waivers)."""


@dataclass(frozen=True, slots=True)
class _Moment:
    """An observation date in the integer forms the arrays use."""

    day: int
    """Days since 1970-01-01."""
    month: int
    """Months since January 1970."""
    day_of_month: int


# --- public API -------------------------------------------------------------------------------


def build_features(
    snapshots: pa.Table | pd.DataFrame,
    observation_dates: Iterable[Any],
    *,
    kind: Literal["behaviour", "collection"] = BEHAVIOUR,
    transactions: pa.Table | pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per account and observation date, from history on or before that date only.

    ``observation_dates``: dates, ISO texts or timestamps (a time of day is dropped), each inside
    the snapshots' range; repeats count once. ``kind="collection"`` keeps the accounts past due
    at the date and adds the C-card features. Rows come in observation date order, then account
    id order.
    """
    if kind not in (BEHAVIOUR, COLLECTION):
        raise ScoringDataError(f"kind must be {BEHAVIOUR!r} or {COLLECTION!r}, got {kind!r}")
    history, account_ids = _snapshot_history(snapshots)
    moments = _observation_moments(observation_dates, history)
    activity = None if transactions is None else _transaction_history(transactions, account_ids)
    frames = [_features_at(history, activity, moment, kind, account_ids) for moment in moments]
    return pd.concat(frames, ignore_index=True)


def label_outcomes(
    snapshots: pa.Table | pd.DataFrame,
    observation_dates: Iterable[Any],
    *,
    horizon_days: int = LABEL_HORIZON_DAYS,
    bad_past_due_days: int = LABEL_BAD_PAST_DUE_DAYS,
) -> pd.DataFrame:
    """The target: ``bad`` = 1 if ``past_due_days`` reaches ``bad_past_due_days`` in
    ``(D, D + horizon_days]``. Looks forward by design; never join it into features.

    Same population as :func:`build_features` (``kind="behaviour"``): join on the key columns to
    label a feature table; excluding accounts already bad at D is the caller's choice. The whole
    outcome window must lie inside the data, or every account would look good for want of rows.
    Like the features, it sees only the snapshot rows given: pass the nightly ones.
    """
    for name, value in (("horizon_days", horizon_days), ("bad_past_due_days", bad_past_due_days)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ScoringDataError(f"{name} must be a whole number of days >= 1, got {value!r}")
    history, account_ids = _snapshot_history(snapshots)
    moments = _observation_moments(observation_dates, history)
    _check_horizon(moments, history, horizon_days)
    frames = [
        _label_at(history, moment, horizon_days, bad_past_due_days, account_ids)
        for moment in moments
    ]
    return pd.concat(frames, ignore_index=True)


def load_transactions(store: Store, account_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The money and bills of ``account_ids`` (default: every account), as ``build_features``
    takes them: ``account_id, business_date, kind, amount_minor``, in account then event order.

    The store has no query by event kind, so this reads each account's whole event history, a
    page of accounts at a time; it is a batch job's load step.
    """
    ids = _all_account_ids(store) if account_ids is None else list(account_ids)
    rows: list[tuple[str, dt.date, str, int]] = []
    for start in range(0, len(ids), limits.page_size_max):
        page = ids[start : start + limits.page_size_max]
        for account_id, records in store.load_events_after(dict.fromkeys(page, 0)).items():
            rows.extend(_transaction_rows(account_id, records))
    frame = pd.DataFrame(rows, columns=list(TRANSACTION_COLUMNS))
    return frame.astype({"account_id": object, "kind": object, "amount_minor": np.int64})


# --- the store --------------------------------------------------------------------------------


def _all_account_ids(store: Store) -> list[str]:
    ids: list[str] = []
    while page := store.list_accounts(limits.page_size_max, len(ids)):
        ids.extend(record.account_id for record in page)
    return ids


def _transaction_rows(
    account_id: str, records: Sequence[EventRecord]
) -> list[tuple[str, dt.date, str, int]]:
    rows = []
    for record in records:
        found = _transaction(record.kind, record.payload)
        if found is not None:
            rows.append((account_id, record.business_date, *found))
    return rows


def _transaction(kind: str, data: dict[str, Any]) -> tuple[str, int] | None:
    """``(kind, amount_minor)`` of an event that is a transaction here, else ``None``."""
    if kind == EventKind.REVERSAL:
        target = data["target"]
        if target["kind"] not in _REVERSIBLE_TRANSACTION_KINDS:
            return None
        return target["kind"], -target["data"]["amount_minor"]
    amount_of = _AMOUNT_OF.get(kind)
    return None if amount_of is None else (kind, amount_of(data))


_AMOUNT_OF: dict[str, Callable[[dict[str, Any]], int]] = {
    EventKind.REPAYMENT: lambda data: data["amount_minor"],
    EventKind.PREPAYMENT: lambda data: data["amount_minor"],
    EventKind.PURCHASE: lambda data: data["amount_minor"],
    EventKind.DRAW: lambda data: data["principal_minor"],
    EventKind.INSTALMENT_CONVERSION: lambda data: data["principal_minor"],
    EventKind.STATEMENT_CUT: lambda data: data["total_minor"],
    EventKind.INSTALMENT_DUE: lambda data: sum(item["amount_minor"] for item in data["items"]),
}
"""How much each transaction event is for, read from what the event recorded."""
assert set(_AMOUNT_OF) == TRANSACTION_KINDS


# --- input checks -----------------------------------------------------------------------------


def _table(data: pa.Table | pd.DataFrame, names: Sequence[str], what: str) -> pd.DataFrame:
    """The columns ``names`` of a table as a DataFrame (only those are converted), none missing
    and none with missing values (counted by Arrow when it can: far cheaper on text)."""
    if isinstance(data, pa.Table):
        require_columns(pd.DataFrame(columns=data.column_names), names)
        nulls = [name for name in names if data.column(name).null_count]
        frame = data.select(list(names)).to_pandas(date_as_object=False)
    elif isinstance(data, pd.DataFrame):
        frame = require_columns(data, names)
        nulls = [name for name in names if frame[name].isna().any()]
    else:
        raise ScoringDataError(f"{what} must be a pyarrow Table or a pandas DataFrame")
    if nulls:
        raise ScoringDataError(f"column {nulls[0]} of the {what} has missing values")
    return frame


def _whole_numbers(frame: pd.DataFrame, names: Sequence[str], what: str) -> None:
    for name in names:
        if not pd.api.types.is_integer_dtype(frame[name]):
            raise ScoringDataError(
                f"column {name} of the {what} must hold whole numbers, got {frame[name].dtype}"
            )


def _day_numbers(values: Any, name: str) -> np.ndarray:
    """Dates as days since 1970-01-01 (a time of day is dropped)."""
    try:
        stamps = pd.to_datetime(pd.Series(values), format="ISO8601")
    except (ValueError, TypeError) as error:
        raise ScoringDataError(f"column {name} holds values that are not dates: {error}") from error
    if stamps.isna().any():
        raise ScoringDataError(f"column {name} has missing dates")
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        raise ScoringDataError(f"column {name} has time zones: pass plain business dates")
    return stamps.to_numpy().astype("datetime64[D]").astype(np.int64)


def _month_parts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(months since January 1970, day of month)`` of day numbers."""
    stamps = days.astype("datetime64[D]")
    months = stamps.astype("datetime64[M]")
    day_of_month = (stamps - months.astype("datetime64[D]")).astype(np.int64) + 1
    return months.astype(np.int64), day_of_month


def _snapshot_history(snapshots: pa.Table | pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Snapshots as integer columns sorted by account then date, and the account ids by code.

    Checked here, once: required columns, no missing values, whole-number amounts, no account
    twice on one date, no snapshot before its account opened.
    """
    frame = _table(snapshots, SNAPSHOT_COLUMNS, "snapshots")
    if frame.empty:
        raise ScoringDataError("the snapshots table has no rows")
    amounts = ("total_minor", "limit_minor", "overdue_minor", "past_due_days")
    _whole_numbers(frame, amounts, "snapshots")
    codes, account_ids = pd.factorize(frame["account_id"].astype(str), sort=True)
    day = _day_numbers(frame["business_date"], "business_date")
    opened_day = _day_numbers(frame["opened_on"], "opened_on")
    month, day_of_month = _month_parts(day)
    opened_month, opened_day_of_month = _month_parts(opened_day)
    history = pd.DataFrame(
        {
            "account": codes.astype(np.int64),
            "day": day,
            "month": month,
            "day_of_month": day_of_month,
            "opened_day": opened_day,
            "opened_month": opened_month,
            "opened_day_of_month": opened_day_of_month,
            **{name: frame[name].to_numpy(dtype=np.int64) for name in amounts},
            "bucket": frame["bucket"].astype(str).to_numpy(),
        }
    )
    history = history.iloc[np.lexsort((day, codes))].reset_index(drop=True)
    _check_snapshot_rows(history, np.asarray(account_ids))
    limit = history["limit_minor"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = history["total_minor"].to_numpy() / limit
    history["utilisation"] = np.where(limit > 0, ratio, np.nan)
    return history, np.asarray(account_ids, dtype=object)


def _check_snapshot_rows(history: pd.DataFrame, account_ids: np.ndarray) -> None:
    account, day = history["account"].to_numpy(), history["day"].to_numpy()
    repeated = np.flatnonzero((account[1:] == account[:-1]) & (day[1:] == day[:-1]))
    if repeated.size:
        first = repeated[0]
        raise ScoringDataError(
            f"account {account_ids[account[first]]} has more than one snapshot on "
            f"{_date_text(day[first])} ({repeated.size} repeated rows in all): one row per "
            "account and date"
        )
    early = np.flatnonzero(history["opened_day"].to_numpy() > day)
    if early.size:
        row = early[0]
        raise ScoringDataError(
            f"account {account_ids[account[row]]} has a snapshot on {_date_text(day[row])}, "
            "before its opened_on"
        )
    for name in ("limit_minor", "past_due_days"):
        negative = np.flatnonzero(history[name].to_numpy() < 0)
        if negative.size:
            row = negative[0]
            raise ScoringDataError(
                f"column {name} is negative for account {account_ids[account[row]]} "
                f"on {_date_text(day[row])}"
            )


def _observation_moments(observation_dates: Iterable[Any], history: pd.DataFrame) -> list[_Moment]:
    """Distinct observation dates in order, each inside the snapshots' date range."""
    if isinstance(observation_dates, str | dt.date | pd.Timestamp | np.datetime64):
        observation_dates = [observation_dates]
    values = list(observation_dates)
    if not values:
        raise ScoringDataError("no observation dates given")
    days = np.unique(_day_numbers(values, "observation_dates"))
    first, last = int(history["day"].min()), int(history["day"].max())
    outside = days[(days < first) | (days > last)]
    if outside.size:
        raise ScoringDataError(
            f"observation date {_date_text(outside[0])} is outside the snapshots, which run "
            f"from {_date_text(first)} to {_date_text(last)}"
        )
    months, days_of_month = _month_parts(days)
    return [
        _Moment(int(day), int(month), int(day_of_month))
        for day, month, day_of_month in zip(days, months, days_of_month, strict=True)
    ]


def _check_horizon(moments: Sequence[_Moment], history: pd.DataFrame, horizon_days: int) -> None:
    last = int(history["day"].max())
    late = [moment.day for moment in moments if moment.day + horizon_days > last]
    if late:
        raise ScoringDataError(
            f"the outcome window of observation date {_date_text(late[0])} runs to "
            f"{_date_text(late[0] + horizon_days)}, past the last snapshot {_date_text(last)}: "
            "its label is not known yet"
        )


def _transaction_history(
    transactions: pa.Table | pd.DataFrame, account_ids: np.ndarray
) -> pd.DataFrame:
    """Transactions as integer columns, accounts coded as in the snapshots (no order needed:
    every transaction feature is a sum, a count or a maximum).

    Rows of accounts with no snapshot are dropped: no population ever holds them.
    """
    frame = _table(transactions, TRANSACTION_COLUMNS, "transactions")
    _whole_numbers(frame, ("amount_minor",), "transactions")
    kinds = frame["kind"].astype(str)
    unknown = sorted(set(kinds.unique()) - TRANSACTION_KINDS)
    if unknown:
        raise ScoringDataError(
            f"column kind of the transactions has unknown kinds {', '.join(unknown[:5])}; "
            f"known: {', '.join(sorted(TRANSACTION_KINDS))}"
        )
    codes = pd.Categorical(frame["account_id"].astype(str), categories=account_ids).codes
    day = _day_numbers(frame["business_date"], "business_date")
    month, day_of_month = _month_parts(day)
    activity = pd.DataFrame(
        {
            "account": codes.astype(np.int64),
            "day": day,
            "month": month,
            "day_of_month": day_of_month,
            "kind": kinds.to_numpy(),
            "amount_minor": frame["amount_minor"].to_numpy(dtype=np.int64),
        }
    )
    return activity[activity["account"].to_numpy() >= 0]


def _date_text(day: int | np.integer) -> str:
    return str(np.datetime64(int(day), "D"))


# --- point in time ----------------------------------------------------------------------------


def _visible(rows: pd.DataFrame, moment: _Moment) -> pd.DataFrame:
    """The rows known at the end of the observation date: the only door from history to features."""
    return rows[rows["day"].to_numpy() <= moment.day]


def _months_back(rows: pd.DataFrame, moment: _Moment) -> np.ndarray:
    """For each row, the k with ``D - (k+1) months < business_date <= D - k months``.

    ``D - m months`` keeps D's day clipped to the month's length, so a date of the same month as
    ``D - m months`` is on or before it exactly when its day of month is at most D's.
    """
    months = moment.month - rows["month"].to_numpy()
    return months - (rows["day_of_month"].to_numpy() > moment.day_of_month)


def _features_at(
    history: pd.DataFrame,
    activity: pd.DataFrame | None,
    moment: _Moment,
    kind: str,
    account_ids: np.ndarray,
) -> pd.DataFrame:
    """The feature rows of one observation date, from the rows visible at it."""
    visible = _visible(history, moment)
    snapshot_day = int(visible["day"].max())
    current = visible[visible["day"].to_numpy() == snapshot_day].set_index("account")
    if kind == COLLECTION:
        current = current[current["past_due_days"] > 0]
    seen = None if activity is None else _visible(activity, moment)
    columns = _behaviour_columns(visible, current, moment)
    if seen is not None:
        columns |= _behaviour_activity(seen, moment)
    if kind == COLLECTION:
        columns |= _collection_columns(visible, current)
        if seen is not None:
            columns |= _collection_activity(seen, moment)
    return _assemble(columns, current.index, moment, snapshot_day, account_ids)


def _assemble(
    columns: dict[str, pd.Series],
    accounts: pd.Index,
    moment: _Moment,
    snapshot_day: int,
    account_ids: np.ndarray,
) -> pd.DataFrame:
    """Key columns, then the features in the documented order; counts and amounts of accounts
    with nothing in the window are 0, not missing."""
    frame = pd.DataFrame(
        {
            "account_id": account_ids[accounts.to_numpy()],
            "observation_date": pd.to_datetime(np.full(len(accounts), moment.day), unit="D"),
            "snapshot_date": pd.to_datetime(np.full(len(accounts), snapshot_day), unit="D"),
        }
    )
    for name in FEATURE_ORDER:
        if name not in columns:
            continue
        values = columns[name].reindex(accounts)
        if name in ZERO_WHEN_ABSENT:
            values = values.fillna(0)
        if name in WHOLE_NUMBER_FEATURES:
            assert values.notna().all(), f"{name} is missing for some accounts"
            values = values.astype(np.int64)
        elif name != "bucket":
            values = values.astype(np.float64)
        frame[name] = values.to_numpy()
    return frame


# --- B-card -----------------------------------------------------------------------------------


def _behaviour_columns(
    visible: pd.DataFrame, current: pd.DataFrame, moment: _Moment
) -> dict[str, pd.Series]:
    """The snapshot-only B-card features of the ``current`` accounts."""
    months_back = _months_back(visible, moment)
    accounts = visible["account"].to_numpy()
    past_due = visible["past_due_days"].to_numpy()
    late = past_due > 0
    year = _grouped(past_due, accounts, months_back < 12)
    earlier = months_back >= 3
    balance_then = _grouped(visible["total_minor"].to_numpy(), accounts, earlier).last()
    utilisation = visible["utilisation"].to_numpy()
    opened_months = moment.month - current["opened_month"]
    return {
        "months_on_book": opened_months - (current["opened_day_of_month"] > moment.day_of_month),
        "utilisation": current["utilisation"],
        "utilisation_mean_3m": _grouped(utilisation, accounts, months_back < 3).mean(),
        "past_due_days_max_3m": _grouped(past_due, accounts, months_back < 3).max(),
        "past_due_days_max_6m": _grouped(past_due, accounts, months_back < 6).max(),
        "past_due_days_max_12m": year.max(),
        "months_since_delinquent": _grouped(months_back, accounts, late).min(),
        "delinquent_month_count_12m": _late_slices(accounts, months_back, late, year.size()),
        "balance_change_minor_3m": current["total_minor"] - balance_then,
    }


def _late_slices(
    accounts: np.ndarray, months_back: np.ndarray, late: np.ndarray, year_rows: pd.Series
) -> pd.Series:
    """Month slices of the last 12 with a snapshot past due, for the accounts with a snapshot in
    those 12 months (``year_rows``: their row counts); the others are unknown, not 0."""
    inside = late & (months_back < 12)
    slices = pd.DataFrame({"account": accounts[inside], "slice": months_back[inside]})
    counts = slices.drop_duplicates().groupby("account").size()
    return counts.reindex(year_rows.index, fill_value=0)


def _grouped(values: np.ndarray, accounts: np.ndarray, inside: np.ndarray) -> SeriesGroupBy:
    """``values`` of the rows ``inside`` a window, grouped by account."""
    return pd.Series(values[inside]).groupby(accounts[inside])


def _behaviour_activity(activity: pd.DataFrame, moment: _Moment) -> dict[str, pd.Series]:
    """The transaction B-card features of every account with transactions."""
    months_back = _months_back(activity, moment)
    kinds = activity["kind"].to_numpy()
    paid, billed = np.isin(kinds, list(PAYMENT_KINDS)), np.isin(kinds, list(BILL_KINDS))
    columns = {}
    for months in (1, 3):
        inside = months_back < months
        repaid = _amounts(activity, paid & inside)
        due = _amounts(activity, billed & inside)
        ratio = repaid.reindex(due.index, fill_value=0) / due[due > 0]
        columns[f"payment_ratio_{months}m"] = ratio.astype(float)
    for kind, months in _ACTIVITY_WINDOWS:
        inside = (kinds == kind) & (months_back < months)
        columns[f"{kind}_count_{months}m"] = _net_count(activity, inside)
        columns[f"{kind}_amount_minor_{months}m"] = _amounts(activity, inside)
    return columns


_ACTIVITY_WINDOWS = (
    (EventKind.DRAW.value, 3),
    (EventKind.PURCHASE.value, 3),
    (EventKind.INSTALMENT_CONVERSION.value, 6),
)
"""``(transaction kind, window in months)`` of the count and amount features."""


def _amounts(activity: pd.DataFrame, inside: np.ndarray) -> pd.Series:
    """Net amount per account of the rows ``inside``."""
    accounts = activity["account"].to_numpy()
    return _grouped(activity["amount_minor"].to_numpy(), accounts, inside).sum()


def _net_count(activity: pd.DataFrame, inside: np.ndarray) -> pd.Series:
    """Rows per account ``inside``, less the reversals among them (never below 0).

    A reversal inside the window of an event before it would otherwise count -1.
    """
    signs = np.sign(activity["amount_minor"].to_numpy())
    counts = _grouped(signs, activity["account"].to_numpy(), inside).sum()
    return counts.clip(lower=0)


# --- C-card -----------------------------------------------------------------------------------


def _collection_columns(visible: pd.DataFrame, current: pd.DataFrame) -> dict[str, pd.Series]:
    """The snapshot-only C-card features of the ``current`` accounts."""
    accounts = visible["account"].to_numpy()
    past_due = visible["past_due_days"].to_numpy()
    everywhere = np.ones(len(visible), dtype=bool)
    total = current["total_minor"]
    return {
        "past_due_days": current["past_due_days"],
        "bucket": current["bucket"],
        "overdue_share": (current["overdue_minor"] / total.where(total > 0)).astype(float),
        "past_due_days_max_ever": _grouped(past_due, accounts, everywhere).max(),
        "cure_count": _grouped(_cures(accounts, past_due), accounts, everywhere).sum(),
    }


def _cures(accounts: np.ndarray, past_due: np.ndarray) -> np.ndarray:
    """1 on each snapshot not past due whose account's previous snapshot was (rows in order)."""
    cured = np.zeros(len(accounts), dtype=np.int64)
    cured[1:] = (accounts[1:] == accounts[:-1]) & (past_due[:-1] > 0) & (past_due[1:] == 0)
    return cured


def _collection_activity(activity: pd.DataFrame, moment: _Moment) -> dict[str, pd.Series]:
    """The transaction C-card features of every account with transactions."""
    days = activity["day"].to_numpy()
    accounts = activity["account"].to_numpy()
    paid = np.isin(activity["kind"].to_numpy(), list(PAYMENT_KINDS))
    posted = paid & (activity["amount_minor"].to_numpy() > 0)
    recent = paid & (days > moment.day - PAYMENT_WINDOW_DAYS)
    last_paid = _grouped(days, accounts, posted).max()
    return {
        "days_since_payment": (moment.day - last_paid).astype(float),
        "payment_count_30d": _net_count(activity, recent),
        "payment_amount_minor_30d": _amounts(activity, recent),
    }


# --- the label --------------------------------------------------------------------------------


def _label_at(
    history: pd.DataFrame,
    moment: _Moment,
    horizon_days: int,
    bad_past_due_days: int,
    account_ids: np.ndarray,
) -> pd.DataFrame:
    """Outcome of the accounts in the snapshot on or before D: the window after D, by design."""
    visible = _visible(history, moment)
    snapshot_day = int(visible["day"].max())
    population = visible[visible["day"].to_numpy() == snapshot_day]["account"].to_numpy()
    days = history["day"].to_numpy()
    ahead = (days > moment.day) & (days <= moment.day + horizon_days)
    bad_accounts = history["account"].to_numpy()[
        ahead & (history["past_due_days"].to_numpy() >= bad_past_due_days)
    ]
    return pd.DataFrame(
        {
            "account_id": account_ids[population],
            "observation_date": pd.to_datetime(np.full(len(population), moment.day), unit="D"),
            "bad": np.isin(population, bad_accounts).astype(np.int8),
        }
    )
