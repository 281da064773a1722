"""The draws behind the synthetic sources, and the two generators that read them.

Every applicant has a 64-bit key: FNV-1a over the code points of the applicant id, started from the
seed and finished with the SplitMix64 mixer (never Python's ``hash``, which changes per process),
computed for the whole batch at once. The latent risk ``z ~ N(0, 1)`` is the inverse normal CDF of
the key's top 53 bits. Every other draw is a 16-bit *field* from a counter-based generator: the
lowbias32 integer hash of the applicant's 32-bit stream seed (the key folded) plus a lane counter,
two fields per hash. So a draw depends only on the applicant, the seed and its lane: one
applicant's report is the same alone or in any batch, on any machine. Sixteen bits are ample for
synthetic shares and shapes; normal draws come from a table of the normal quantile of each field
value. Statistically sound for test data; not cryptographic, and not meant to be.

Arrays are slot-major, ``(slots, rows)``, so sums over an applicant's accounts or inquiries are
additions of whole rows. Each source's draws object has ``columns()`` (the vectorised summary: only
the draws that move a column are made) and ``report(row)`` (the raw report, from the same draws
plus *detail* draws from a separate stream, such as an inquiry's exact day, that no column reads).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np
from scipy.special import ndtri

from lendguard.underwriting.sources_config import AccountKindCalibration, SyntheticCalibration
from lendguard.underwriting.sources_reports import (
    ANSWER_STATUSES,
    COLUMN_DTYPES,
    MISSING_VALUES,
    SOURCE_COLUMNS,
    STATUS_MONTHS,
    BlocklistResult,
    BureauAccount,
    BureauInquiry,
    BureauReport,
    MultiLendingReport,
    PlatformHistory,
    Report,
    SourceConfigError,
    SourceRequest,
)
from lendguard.underwriting.sources_summary import (
    APPLICATION_WINDOWS_DAYS,
    INQUIRY_WINDOWS_MONTHS,
    RECENT_STATUS_MONTHS,
    as_days,
    months_before,
)

ACCOUNT_KINDS = ("revolving", "loan", "mortgage", "other")
LENDING_REASONS = ("loan_approval", "credit_card_approval")
OTHER_REASONS = ("post_loan", "self")
INQUIRY_HORIZON_MONTHS = 12
INQUIRY_EDGES_MONTHS = (0, *INQUIRY_WINDOWS_MONTHS, INQUIRY_HORIZON_MONTHS)
"""Inquiry age buckets ``(edge[b], edge[b + 1]]`` months back: every summary window is an edge."""
INQUIRY_BUCKETS = len(INQUIRY_EDGES_MONTHS) - 1
EPISODE_ROLLS_MAX = 6
"""An overdue episode starts at period 1 and rolls at most six more times, to 7 (180+ days)."""

OK, NO_RECORD, TIMEOUT, ERROR = (
    ANSWER_STATUSES.index(status) for status in ("ok", "no_record", "timeout", "error")
)
_STREAMS = {
    "person": 1,
    "bureau": 2,
    "multi_lending": 3,
    "platform": 4,
    "blocklist": 5,
    "bureau_detail": 6,
}
_LANES_PER_STREAM = 1 << 24
_GOLDEN32 = np.uint32(0x9E3779B9)
_FIELD_VALUES = 1 << 16
_UNIFORM_BY_FIELD = (np.arange(_FIELD_VALUES) + 0.5) / _FIELD_VALUES
_NORMAL_BY_FIELD = ndtri(_UNIFORM_BY_FIELD)
"""Standard normal quantile of each 16-bit field value."""
_POPCOUNT_BY_FIELD = np.array([bin(value).count("1") for value in range(_FIELD_VALUES)], np.int64)
_MASK64 = (1 << 64) - 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = np.uint64(0x100000001B3)
_TWO_POW_53 = float(2**53)


# --- keys, risk, fields -------------------------------------------------------------------------


def applicant_keys(applicant_ids: Sequence[str], seed: int) -> np.ndarray:
    """A uint64 key per applicant: FNV-1a over the id's code points from a seeded start, mixed by
    SplitMix64; vectorised over the batch (one pass per character position)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= _MASK64:
        raise SourceConfigError(f"synthetic seed must be an integer from 0 to 2**64 - 1: {seed!r}")
    if not applicant_ids:
        return np.zeros(0, dtype=np.uint64)
    codes = np.array(applicant_ids, dtype=str).reshape(len(applicant_ids))
    points = codes.view(np.uint32).reshape(len(codes), -1)
    lengths = np.char.str_len(codes)
    state = np.full(len(codes), _FNV_OFFSET ^ seed, dtype=np.uint64)
    for position, column in enumerate(points.T):
        state = np.where(position < lengths, (state ^ column) * _FNV_PRIME, state)
    return _splitmix64(state)


def _splitmix64(values: np.ndarray) -> np.ndarray:
    values = values + np.uint64(0x9E3779B97F4A7C15)
    values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def risk_from_keys(keys: np.ndarray) -> np.ndarray:
    """Latent risk, standard normal: inverse CDF of each key's top 53 bits."""
    return ndtri(((keys >> np.uint64(11)).astype(np.float64) + 0.5) / _TWO_POW_53)


def _lowbias32(values: np.ndarray) -> np.ndarray:
    """Chris Wellons' lowbias32 integer hash (good avalanche, 32-bit multiplies only), in place."""
    values ^= values >> np.uint32(16)
    values *= np.uint32(0x7FEB352D)
    values ^= values >> np.uint32(15)
    values *= np.uint32(0x846CA68B)
    values ^= values >> np.uint32(16)
    return values


class Lanes:
    """16-bit fields for a batch, lane after lane of one stream: ``fields(count)`` -> (count, rows).

    Lane ``2k`` is the low half of hash word ``k``, lane ``2k + 1`` its high half.
    """

    def __init__(self, keys: np.ndarray, stream: str) -> None:
        self.seeds = (keys ^ (keys >> np.uint64(32))).astype(np.uint32)[None, :]
        self.next_word = _STREAMS[stream] * _LANES_PER_STREAM

    def fields(self, count: int) -> np.ndarray:
        """The next ``count`` lanes: uint16, an array (count, rows)."""
        words = -(-count // 2)
        counters = np.arange(self.next_word, self.next_word + words, dtype=np.uint32)
        self.next_word += words
        hashed = _lowbias32(self.seeds + (counters * _GOLDEN32)[:, None])
        halves = hashed.astype("<u4", copy=False).view("<u2").reshape(words, -1, 2)
        return halves.transpose(0, 2, 1).reshape(2 * words, -1)[:count]


def popcount(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint64: ``np.bitwise_count`` (numpy 2), else four 16-bit table lookups."""
    values = values.astype(np.uint64)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values).astype(np.int64)
    total = np.zeros(values.shape, dtype=np.int64)
    for shift in (0, 16, 32, 48):
        total += _POPCOUNT_BY_FIELD[(values >> np.uint64(shift)) & np.uint64(_FIELD_VALUES - 1)]
    return total


def uniform(fields: np.ndarray) -> np.ndarray:
    """Fields as uniforms in (0, 1): ``(field + 0.5) / 65536``."""
    return (fields + 0.5) * (1.0 / _FIELD_VALUES)


def normal(fields: np.ndarray) -> np.ndarray:
    """Fields as standard normals (table lookup)."""
    return _NORMAL_BY_FIELD[fields]


def logistic(values: np.ndarray) -> np.ndarray:
    """The logistic function: probabilities are ``logistic(intercept + risk_slope * z)``."""
    return 1.0 / (1.0 + np.exp(-values))


def cumulative(shares: Sequence[float]) -> np.ndarray:
    """Thresholds of a categorical draw: the cumulative shares but the last."""
    return np.cumsum(shares)[:-1]


def _limits(kind: AccountKindCalibration) -> np.ndarray:
    """Limit (or principal) by field value: log-normal, in whole yuan (100 fen), at least one."""
    size = kind.amount_median_minor * np.exp(kind.amount_log_sd * _NORMAL_BY_FIELD)
    return np.maximum(100, np.rint(size / 100) * 100).astype(np.int64)


def split(fields: np.ndarray, *sizes: int) -> list[np.ndarray]:
    """Consecutive groups of lanes."""
    assert sum(sizes) == len(fields), "every lane drawn is used"
    starts = [sum(sizes[:index]) for index in range(len(sizes))]
    return [fields[start : start + size] for start, size in zip(starts, sizes, strict=True)]


@dataclass(frozen=True)
class Tables:
    """Numbers derived once from a calibration: thresholds and per-kind arrays."""

    calibration: SyntheticCalibration
    account_count: np.ndarray
    kind_by_field: np.ndarray
    limit_by_kind_field: np.ndarray
    utilisation_noise_by_field: np.ndarray
    kind_term_months: np.ndarray
    roll_logit: float
    inquiry_category: np.ndarray
    first_reason_share: tuple[float, float]
    platform_account_count: np.ndarray

    @classmethod
    def build(cls, calibration: SyntheticCalibration) -> Tables:
        """Derive the tables (once per :class:`SyntheticSources`)."""
        bureau = calibration.bureau
        kinds = [bureau.kinds[name] for name in ACCOUNT_KINDS]
        reasons = bureau.inquiry_reason_shares
        lending = sum(reasons[reason] for reason in LENDING_REASONS)
        groups = (lending, 1 - lending)
        platform = calibration.platform
        return cls(
            calibration=calibration,
            account_count=binomial_thresholds(bureau.account_slots - 1, bureau.extra_account_share),
            kind_by_field=count_reached(_UNIFORM_BY_FIELD, cumulative([k.share for k in kinds])),
            limit_by_kind_field=np.stack([_limits(kind) for kind in kinds]),
            utilisation_noise_by_field=bureau.utilisation_logit_sd * _NORMAL_BY_FIELD,
            kind_term_months=np.array([kind.term_months or 1 for kind in kinds], np.int64),
            roll_logit=math.log(bureau.roll_rate / (1 - bureau.roll_rate)),
            inquiry_category=cumulative(
                [group * bucket for group in groups for bucket in bureau.inquiry_bucket_shares]
            ),
            first_reason_share=(
                reasons[LENDING_REASONS[0]] / lending,
                reasons[OTHER_REASONS[0]] / (1 - lending),
            ),
            platform_account_count=binomial_thresholds(
                platform.account_slots - 1, platform.extra_account_share
            ),
        )


def binomial_thresholds(trials: int, share: float) -> np.ndarray:
    """Cumulative probabilities of Binomial(trials, share) below ``trials``: a uniform's count is
    the number of thresholds it reaches (inverse CDF)."""
    probabilities = [
        math.comb(trials, k) * share**k * (1 - share) ** (trials - k) for k in range(trials)
    ]
    return np.cumsum(probabilities)


def count_reached(u: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many thresholds each uniform reaches: a categorical draw by cumulative shares."""
    count = np.zeros(u.shape, dtype=np.int64)
    for threshold in thresholds:
        count += u >= threshold
    return count


def fault_status(u: np.ndarray, rates: Mapping[str, float]) -> np.ndarray:
    """Per row: TIMEOUT, ERROR, or -1 (no fault injected)."""
    timeout = rates.get("timeout", 0.0)
    status = np.full(u.shape, -1, dtype=np.int64)
    status[u < timeout + rates.get("error", 0.0)] = ERROR
    status[u < timeout] = TIMEOUT
    return status


def answer_status(fault: np.ndarray, no_record: np.ndarray) -> np.ndarray:
    """A fault wins; else ``no_record`` where the source knows nothing; else ``ok``."""
    return np.where(fault >= 0, fault, np.where(no_record, NO_RECORD, OK))


def select(condition: np.ndarray, chosen: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``np.where`` by arithmetic for finite numbers (exact: ``x * 1 + y * 0 == x``), several
    times faster than ``np.where`` on large arrays.

    (Elsewhere ``floor(a / b)`` stands for ``a // b`` on int64 amounts below 2**53 and terms up to
    480 months: a quotient's fractional part is at least 1/480, far above the rounding error.)
    """
    return chosen * condition + other * ~condition


def mask_missing(
    name: str, values: Mapping[str, np.ndarray], ok: np.ndarray
) -> dict[str, np.ndarray]:
    """The source's columns in contract order and dtype, ``MISSING_VALUES`` where not ``ok``
    (by arithmetic where it can: ``np.where`` is several times slower)."""
    columns = {}
    for column in SOURCE_COLUMNS[name]:
        value = values[column].astype(COLUMN_DTYPES[column], copy=False)
        missing = MISSING_VALUES[column]
        if missing is True:
            columns[column] = value | ~ok
        elif missing is False:
            columns[column] = value & ok
        elif missing == 0:
            columns[column] = value * ok
        else:
            columns[column] = np.where(ok, value, missing)
    return columns


@dataclass(frozen=True)
class Batch:
    """What every source's generator needs about a batch of requests."""

    requests: Sequence[SourceRequest]
    tables: Tables
    keys: np.ndarray
    risk: np.ndarray
    thin: np.ndarray

    @cached_property
    def applied(self) -> np.ndarray:
        """Application dates as datetime64[D] (only raw reports need them)."""
        return as_days([request.applied_on for request in self.requests])


class Draws(Protocol):
    """A source's draws for a batch: statuses, the vectorised columns, one raw report."""

    status: np.ndarray

    def columns(self) -> dict[str, np.ndarray]: ...

    def report(self, row: int) -> Report: ...


# --- bureau -------------------------------------------------------------------------------------


class BureauDraws:
    """Accounts (kind, size, balance, opening), overdue episodes and inquiries per applicant."""

    def __init__(self, batch: Batch, faults: Mapping[str, float]) -> None:
        self.batch, self.tables = batch, batch.tables
        self.config = config = batch.tables.calibration.bureau
        accounts, episodes = config.account_slots, config.episode_slots
        fault, identity, count, history, accounts_fields, episode_fields, self.inquiry_fields = (
            split(
                Lanes(batch.keys, "bureau").fields(
                    4 + 4 * accounts + 4 * episodes + config.inquiry_slots
                ),
                1,
                1,
                1,
                1,
                4 * accounts,
                4 * episodes,
                config.inquiry_slots,
            )
        )
        self.status = answer_status(fault_status(uniform(fault[0]), faults), batch.thin)
        self.identity_matches = uniform(identity[0]) >= config.identity_mismatch_share
        self.count = 1 + count_reached(uniform(count[0]), self.tables.account_count)
        months = config.history_months_median * np.exp(
            config.history_log_sd * normal(history[0]) - config.history_risk_slope * batch.risk
        )
        self.history = np.clip(np.rint(months), 1, config.history_months_max).astype(np.int64)
        self._accounts(accounts_fields.reshape(4, accounts, -1))
        self._episodes(episode_fields.reshape(4, episodes, -1))

    def _accounts(self, fields: np.ndarray) -> None:
        config, tables = self.config, self.tables
        kind, amount, balance, self.months_fields = fields
        self.active = np.arange(config.account_slots)[:, None] < self.count
        self.kind = tables.kind_by_field[kind]
        self.limit = tables.limit_by_kind_field.take(self.kind * _FIELD_VALUES + amount)
        self.revolving = self.kind == 0
        utilisation = logistic(
            config.utilisation_logit_intercept
            + config.utilisation_risk_slope * self.batch.risk
            + tables.utilisation_noise_by_field[balance]
        )
        share = select(self.revolving, utilisation, uniform(balance))
        self.balance = np.floor(self.limit * share).astype(np.int64)
        minimum = np.floor(self.balance * config.minimum_payment_share).astype(np.int64)
        term_months = tables.kind_term_months.take(self.kind)
        instalment = np.floor(self.limit / term_months).astype(np.int64)  # exact, see select()
        self.repayment = select(self.revolving, minimum, instalment)

    def _months_back(self, slot: np.ndarray) -> np.ndarray:
        """Months since the account in ``slot`` opened: the first at ``history``, others later."""
        fields = self.months_fields[slot, np.arange(slot.shape[-1])]
        later = np.floor(uniform(fields) * (self.history + 1)).astype(np.int64)
        return select(slot == 0, self.history, later)

    def _episodes(self, fields: np.ndarray) -> None:
        """Overdue episodes: each starts at period 1 on an open account and may roll on.

        Each is a run of months ``start .. start + length - 1`` (positions in the 24-month string)
        with periods ``1 .. length``; ``length`` stops at the newest month.
        """
        config, risk = self.config, self.batch.risk
        active, account, start, roll = fields
        self.episode_account = np.floor(uniform(account) * self.count).astype(np.int64)
        open_from = np.maximum(0, STATUS_MONTHS - 1 - self._months_back(self.episode_account))
        self.episode_start = open_from + np.floor(
            uniform(start) * (STATUS_MONTHS - open_from)
        ).astype(np.int64)
        roll_rate = logistic(self.tables.roll_logit + config.roll_risk_slope * risk)
        rolls = np.minimum(EPISODE_ROLLS_MAX, np.floor(np.log(uniform(roll)) / np.log(roll_rate)))
        chance = logistic(config.episode_logit_intercept + config.episode_risk_slope * risk)
        peak = ((1 + rolls) * (uniform(active) < chance)).astype(np.int64)
        self.episode_length = np.minimum(peak, STATUS_MONTHS - self.episode_start)

    def _current_periods(self) -> np.ndarray:
        """Periods overdue in the newest month, per account slot (slots, rows)."""
        reaches_newest = self.episode_start + self.episode_length == STATUS_MONTHS
        newest = self.episode_length * reaches_newest
        slots = np.arange(self.config.account_slots)[:, None]
        current = np.zeros(self.limit.shape, dtype=np.int64)
        for account, periods in zip(self.episode_account, newest, strict=True):
            current = np.maximum(current, (account == slots) * periods)
        return current

    def columns(self) -> dict[str, np.ndarray]:
        """The ``bureau_*`` columns straight from the draws (the vectorised path)."""
        revolving = self.active & self.revolving
        limit = (self.limit * revolving).sum(axis=0)
        balance = (self.balance * revolving).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            utilisation = np.where(limit > 0, balance / np.maximum(limit, 1), np.nan)
        values = {
            "bureau_identity_matches": self.identity_matches,
            "bureau_accounts": self.count,
            "bureau_history_months": self.history,
            "bureau_current_overdue_minor": (self._current_periods() * self.repayment).sum(0),
            "bureau_monthly_repayment_minor": (self.repayment * self.active).sum(axis=0),
            "bureau_utilisation": utilisation,
            **self._month_columns(),
            **self._inquiry_counts(),
        }
        return mask_missing("bureau", values, self.status == OK)

    def _month_columns(self) -> dict[str, np.ndarray]:
        runs = (np.left_shift(1, self.episode_length) - 1) << self.episode_start
        end = self.episode_start + self.episode_length
        recent = end > STATUS_MONTHS - RECENT_STATUS_MONTHS
        return {
            "bureau_overdue_months_24m": popcount(np.bitwise_or.reduce(runs, axis=0, initial=0)),
            "bureau_worst_status_24m": self.episode_length.max(axis=0, initial=0),
            "bureau_worst_status_12m": (self.episode_length * recent).max(axis=0, initial=0),
        }

    @cached_property
    def _inquiry_position(self) -> tuple[np.ndarray, np.ndarray]:
        """(active, position): an active slot's category is the number of
        ``tables.inquiry_category`` thresholds its position reaches (lending buckets 0-3 first,
        then other reasons' buckets 0-3)."""
        config = self.config
        u = uniform(self.inquiry_fields)
        chance = logistic(
            config.inquiry_logit_intercept + config.inquiry_risk_slope * self.batch.risk
        )
        return u < chance, u / chance

    def _inquiry_counts(self) -> dict[str, np.ndarray]:
        """Lending inquiries per window: categories 0 .. bucket, i.e. a position below the
        bucket's threshold (a position below a threshold < 1 is always an active slot's)."""
        _, position = self._inquiry_position
        thresholds = self.tables.inquiry_category
        return {
            f"bureau_inquiries_{months}m": (position < thresholds[bucket]).sum(axis=0)
            for bucket, months in enumerate(INQUIRY_WINDOWS_MONTHS)
        }

    # --- raw report ---

    @cached_property
    def _details(self) -> dict[str, np.ndarray]:
        """What only raw reports need, for the whole batch: every account's opening date, each
        inquiry's reason and day."""
        applied = self.batch.applied
        every_slot = np.repeat(np.arange(self.config.account_slots)[:, None], len(applied), axis=1)
        months_back = self._months_back(every_slot)
        inquiries = self.config.inquiry_slots
        reason, offset = (
            Lanes(self.batch.keys, "bureau_detail").fields(2 * inquiries).reshape(2, inquiries, -1)
        )
        active, position = self._inquiry_position
        category = count_reached(position, self.tables.inquiry_category)
        group, bucket = np.divmod(category, INQUIRY_BUCKETS)
        edges = np.array(INQUIRY_EDGES_MONTHS)
        newest = months_before(applied, edges[bucket])
        span_days = (newest - months_before(applied, edges[bucket + 1])).astype(np.int64)
        first_share = np.array(self.tables.first_reason_share)[group]
        return {
            "months_back": months_back,
            "opened_on": months_before(applied, months_back),
            "current": self._current_periods(),
            "inquiry_active": active,
            "inquiry_lending": group == 0,
            "inquiry_first_reason": uniform(reason) < first_share,
            "queried_on": newest - np.floor(uniform(offset) * span_days).astype("timedelta64[D]"),
        }

    def report(self, row: int) -> BureauReport:
        """The raw report of one row, built from the same draws."""
        accounts = tuple(self._account(row, slot) for slot in range(self.count[row]))
        active = self._details["inquiry_active"][:, row]
        inquiries = tuple(self._inquiry(row, slot) for slot in np.flatnonzero(active))
        return BureauReport(accounts, inquiries, bool(self.identity_matches[row]))

    def _account(self, row: int, slot: int) -> BureauAccount:
        repayment = int(self.repayment[slot, row])
        return BureauAccount(
            kind=ACCOUNT_KINDS[self.kind[slot, row]],  # type: ignore[arg-type]
            opened_on=self._details["opened_on"][slot, row].item(),
            limit_minor=int(self.limit[slot, row]),
            balance_minor=int(self.balance[slot, row]),
            monthly_repayment_minor=repayment,
            overdue_minor=int(self._details["current"][slot, row]) * repayment,
            status_24m=self._status_string(row, slot),
        )

    def _status_string(self, row: int, slot: int) -> str:
        open_from = max(0, STATUS_MONTHS - 1 - int(self._details["months_back"][slot, row]))
        periods = [0] * STATUS_MONTHS
        for episode in np.flatnonzero(self.episode_account[:, row] == slot):
            start = int(self.episode_start[episode, row])
            for period in range(1, int(self.episode_length[episode, row]) + 1):
                periods[start + period - 1] = max(periods[start + period - 1], period)
        text = [str(period) if period else "N" for period in periods]
        return "/" * open_from + "".join(text[open_from:])

    def _inquiry(self, row: int, slot: int) -> BureauInquiry:
        reasons = LENDING_REASONS if self._details["inquiry_lending"][slot, row] else OTHER_REASONS
        first = self._details["inquiry_first_reason"][slot, row]
        return BureauInquiry(
            queried_on=self._details["queried_on"][slot, row].item(),
            reason=reasons[0] if first else reasons[1],  # type: ignore[arg-type]
        )


# --- multi-lending, platform, blocklist ---------------------------------------------------------


class MultiLendingDraws:
    """Applications to other lenders: slots, each active with a risk-driven chance.

    A slot's draw ``u`` gives its position ``u / chance``: active below 1, and then its age
    ``floor(position * horizon_days)`` days. An inactive slot's age is at least ``horizon_days``
    (>= 90 by the calibration's bounds), so no window counts it.
    """

    def __init__(self, batch: Batch, faults: Mapping[str, float]) -> None:
        self.batch = batch
        config = batch.tables.calibration.multi_lending
        slots = config.application_slots
        fault, when, lender = split(
            Lanes(batch.keys, "multi_lending").fields(1 + 2 * slots), 1, slots, slots
        )
        self.status = answer_status(fault_status(uniform(fault[0]), faults), batch.thin)
        chance = logistic(config.logit_intercept + config.risk_slope * batch.risk)
        self.days_back = np.floor(uniform(when) / chance * config.horizon_days).astype(np.int64)
        self.active = self.days_back < config.horizon_days
        self.lender = (lender.astype(np.int64) * config.lender_pool) >> 16

    def columns(self) -> dict[str, np.ndarray]:
        values = {}
        bits = np.left_shift(np.uint64(1), self.lender.astype(np.uint64))
        for days in APPLICATION_WINDOWS_DAYS:
            inside = self.days_back < days
            values[f"multi_applications_{days}d"] = inside.sum(axis=0)
            lenders = np.bitwise_or.reduce(bits * inside, axis=0, initial=np.uint64(0))
            values[f"multi_lenders_{days}d"] = popcount(lenders)
        return mask_missing("multi_lending", values, self.status == OK)

    def report(self, row: int) -> MultiLendingReport:
        applied = self.batch.applied[row]
        return MultiLendingReport(
            tuple(
                (
                    (applied - np.timedelta64(int(self.days_back[slot, row]), "D")).item(),
                    f"lender-{int(self.lender[slot, row]):02d}",
                )
                for slot in np.flatnonzero(self.active[:, row])
            )
        )


class PlatformDraws:
    """The platform's own history: a returning customer's accounts and worst days past due."""

    def __init__(self, batch: Batch, faults: Mapping[str, float]) -> None:
        config = batch.tables.calibration.platform
        fault, known, count, past_due, days = Lanes(batch.keys, "platform").fields(5)
        no_record = uniform(known) >= config.known_share
        self.status = answer_status(fault_status(uniform(fault), faults), no_record)
        self.accounts = 1 + count_reached(uniform(count), batch.tables.platform_account_count)
        chance = logistic(config.past_due_logit_intercept + config.past_due_risk_slope * batch.risk)
        worst = config.past_due_days_median * np.exp(config.past_due_log_sd * normal(days))
        worst = np.clip(np.ceil(worst), 1, config.past_due_days_max).astype(np.int64)
        self.max_past_due_days = worst * (uniform(past_due) < chance)
        self.written_off = self.max_past_due_days > config.write_off_days

    def columns(self) -> dict[str, np.ndarray]:
        values = {
            "platform_accounts": self.accounts,
            "platform_max_past_due_days": self.max_past_due_days,
            "platform_written_off": self.written_off,
        }
        return mask_missing("platform", values, self.status == OK)

    def report(self, row: int) -> PlatformHistory:
        return PlatformHistory(
            accounts=int(self.accounts[row]),
            max_past_due_days=int(self.max_past_due_days[row]),
            written_off=bool(self.written_off[row]),
        )


class BlocklistDraws:
    """A blocklist lookup: hits more likely for riskier applicants; always answers."""

    def __init__(self, batch: Batch, faults: Mapping[str, float]) -> None:
        config = batch.tables.calibration.blocklist
        fault, hit, reason = uniform(Lanes(batch.keys, "blocklist").fields(3))
        self.status = answer_status(fault_status(fault, faults), np.zeros(len(batch.keys), bool))
        self.hit = hit < logistic(config.hit_logit_intercept + config.hit_risk_slope * batch.risk)
        self.reason = np.floor(reason * len(config.reasons)).astype(np.int64)
        self.reasons = config.reasons

    def columns(self) -> dict[str, np.ndarray]:
        return mask_missing("blocklist", {"blocklist_hit": self.hit}, self.status == OK)

    def report(self, row: int) -> BlocklistResult:
        hit = bool(self.hit[row])
        return BlocklistResult(hit=hit, reason=self.reasons[self.reason[row]] if hit else "")


DRAWS: dict[str, Callable[[Batch, Mapping[str, float]], Draws]] = {
    "bureau": BureauDraws,
    "multi_lending": MultiLendingDraws,
    "platform": PlatformDraws,
    "blocklist": BlocklistDraws,
}
