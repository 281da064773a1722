"""Delinquency buckets (M0, M1, ... M7+) and the history of an account's moves between them.

Roll rates, vintages and collection queues all read buckets (DOMAIN 4.20-4.22), and shops draw
the boundaries differently (some use 1-29 for M1), so a scheme is data with a named source. A
scheme is checked when built: it starts at 0 days, every day count falls in exactly one bucket,
and the last bucket is open-ended.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lendguard.errors import InvalidDateError, ProductConfigError

buckets_per_scheme_max = 32
"""More buckets than this is a config mistake; real schemes have 6 to 13."""

_ROW_KEYS_REQUIRED = frozenset({"name", "days_min"})
_ROW_KEYS_ALLOWED = _ROW_KEYS_REQUIRED | {"days_max"}


def check_days_past_due(days_past_due: int) -> None:
    """Refuse a negative or non-integer day count: it means a clock bug, not a customer state."""
    if isinstance(days_past_due, bool) or not isinstance(days_past_due, int):
        raise TypeError(f"days past due must be an int, got {days_past_due!r}")
    if days_past_due < 0:
        raise ValueError(f"days past due cannot be negative, got {days_past_due}")


@dataclass(frozen=True)
class Bucket:
    """Days past due from ``days_min`` to ``days_max``, both inclusive; ``None`` = no upper end."""

    name: str
    days_min: int
    days_max: int | None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ProductConfigError("a bucket needs a non-empty name")
        if self.days_min < 0:
            raise ProductConfigError(f"bucket {self.name}: days_min {self.days_min} is negative")
        if self.days_max is not None and self.days_max < self.days_min:
            raise ProductConfigError(
                f"bucket {self.name}: days_max {self.days_max} is below days_min {self.days_min}"
            )

    def contains(self, days_past_due: int) -> bool:
        """True when ``days_past_due`` lies inside this bucket."""
        return self.days_min <= days_past_due and (
            self.days_max is None or days_past_due <= self.days_max
        )


@dataclass(frozen=True)
class BucketScheme:
    """An ordered, gap-free set of buckets covering every day count from 0 upward."""

    buckets: tuple[Bucket, ...]
    source: str

    def __post_init__(self) -> None:
        where = f"bucket scheme ({self.source})"
        if not 1 <= len(self.buckets) <= buckets_per_scheme_max:
            raise ProductConfigError(
                f"{where}: needs 1..{buckets_per_scheme_max} buckets, got {len(self.buckets)}"
            )
        names = [bucket.name for bucket in self.buckets]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ProductConfigError(f"{where}: bucket names used twice: {duplicates}")
        _check_contiguous(self.buckets, where)

    @classmethod
    def default(cls) -> BucketScheme:
        """M0 current, then 30-day buckets M1..M6, and M7+ from 181 days (DOMAIN 4.20)."""
        buckets = [Bucket("M0", 0, 0)]
        buckets += [Bucket(f"M{n}", 30 * n - 29, 30 * n) for n in range(1, 7)]
        buckets.append(Bucket("M7+", 181, None))
        return cls(tuple(buckets), source="DOMAIN 4.20 industry convention (M1 = 1-30 DPD)")

    @classmethod
    def from_mapping(cls, rows: Iterable[Mapping[str, object]], *, source: str) -> BucketScheme:
        """A scheme from config rows ``{name, days_min, days_max}``; the last omits days_max."""
        buckets = tuple(_bucket_from_row(row, index, source) for index, row in enumerate(rows, 1))
        return cls(buckets, source=source)

    def bucket_for(self, days_past_due: int) -> Bucket:
        """The one bucket that holds ``days_past_due``."""
        check_days_past_due(days_past_due)
        for bucket in self.buckets:
            if bucket.contains(days_past_due):
                return bucket
        raise AssertionError(f"validated scheme {self.source} has no bucket for {days_past_due}")


def _check_contiguous(buckets: tuple[Bucket, ...], where: str) -> None:
    """Start at 0, each bucket begins the day after the previous ends, only the last is open."""
    if buckets[0].days_min != 0:
        raise ProductConfigError(f"{where}: first bucket {buckets[0].name} must start at 0 days")
    for previous, bucket in itertools.pairwise(buckets):
        if previous.days_max is None:
            raise ProductConfigError(
                f"{where}: only the last bucket may be open-ended, but {previous.name} is"
            )
        if bucket.days_min != previous.days_max + 1:
            raise ProductConfigError(
                f"{where}: {bucket.name} starts at {bucket.days_min} days but {previous.name} "
                f"ends at {previous.days_max}; buckets must neither overlap nor leave a gap"
            )
    if buckets[-1].days_max is not None:
        raise ProductConfigError(
            f"{where}: last bucket {buckets[-1].name} must be open-ended (omit days_max)"
        )


def _bucket_from_row(row: Mapping[str, object], index: int, source: str) -> Bucket:
    where = f"bucket scheme ({source}) row {index}"
    keys = set(row)
    if not _ROW_KEYS_REQUIRED <= keys <= _ROW_KEYS_ALLOWED:
        raise ProductConfigError(
            f"{where}: needs name, days_min and optionally days_max, got {sorted(keys)}"
        )
    name, days_min, days_max = row["name"], row["days_min"], row.get("days_max")
    if not isinstance(name, str):
        raise ProductConfigError(f"{where}: name must be a string, got {name!r}")
    if not _is_whole(days_min) or (days_max is not None and not _is_whole(days_max)):
        raise ProductConfigError(f"{where}: days_min and days_max must be whole numbers of days")
    return Bucket(name, days_min, days_max)


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class BucketSpell:
    """A stay in one bucket from ``entered_on`` up to, not including, ``left_on`` (None: open)."""

    bucket: str
    entered_on: dt.date
    left_on: dt.date | None

    def __post_init__(self) -> None:
        if self.left_on is not None and self.left_on <= self.entered_on:
            raise InvalidDateError(
                f"bucket {self.bucket} spell left on {self.left_on}, not after {self.entered_on}"
            )


def track_bucket(
    history: tuple[BucketSpell, ...], bucket_name: str, business_date: dt.date
) -> tuple[BucketSpell, ...]:
    """History after the close of ``business_date`` put the account in ``bucket_name``.

    A change closes the open spell and opens a new one; the same bucket returns ``history``
    unchanged, so rerunning a close is harmless. A change on or before the open spell's start is
    refused: it means days were processed out of order.
    """
    if not history:
        return (BucketSpell(bucket_name, business_date, None),)
    current = history[-1]
    if current.left_on is not None:
        raise InvalidDateError(f"bucket history ends with a closed spell: {current}")
    if current.bucket == bucket_name:
        return history
    if business_date <= current.entered_on:
        raise InvalidDateError(
            f"cannot move to {bucket_name} on {business_date}: the account entered "
            f"{current.bucket} on {current.entered_on}; business dates must move forward"
        )
    closed = BucketSpell(current.bucket, current.entered_on, business_date)
    return (*history[:-1], closed, BucketSpell(bucket_name, business_date, None))
