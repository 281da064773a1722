"""Close of business for the whole book, whatever engine runs it: dates, lock, run record, summary.

``run_eod`` is the one entry point (the CLI calls it): it takes the book's lock, works out which
business dates to close, records the run, hands the dates to an engine and records the outcome.
An engine (:data:`EngineRunner`: the embedded one in :mod:`.local`, Spark in ``.spark``) only
partitions accounts, runs :mod:`.kernel` on them, commits each partition with one group commit and
writes the outputs (:mod:`.outputs`); it reports per partition with :class:`PartitionResult`.

Why the dates are planned here: an account's days must close in order, and the book's nights are
published per date. ``--date D`` closes D only and refuses when the book is behind D-1 (the missing
nights would be folded into D's outputs); ``--through D`` closes every missing date in order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lendguard import limits
from lendguard.eod.lock import eod_lock
from lendguard.errors import LendGuardError
from lendguard.ledger.calendar_rules import ONE_DAY
from lendguard.store import open_store

STEPS = ("load", "rules", "write", "outputs")
"""Steps each partition times: read states, run the kernel, group commit, write Parquet."""

quarantine_examples_max = 20
"""Quarantined accounts a summary lists; ``eod_quarantine`` holds them all."""

workers_max = 1_024
"""Worker processes one run may start: far above any one machine's cores."""

Parallelism = int | str
"""Worker processes for the embedded engine; a Spark master URL (``local[2]``) for Spark."""

ProgressCallback = Callable[[int, int], None]
"""Called after each partition with (partitions done, partitions expected)."""


class MissingBusinessDatesError(LendGuardError):
    """``--date D`` on a book not closed through D-1. Nothing was written."""

    code = "missing_business_dates"


class InvalidEodRunError(LendGuardError):
    """Options outside their bounds (partition size, workers, too many dates)."""

    code = "invalid_eod_run"


@dataclass(frozen=True)
class Quarantined:
    """An account the kernel could not close, and the first business date it failed on."""

    business_date: dt.date
    account_id: str
    error: str


@dataclass(frozen=True)
class PartitionResult:
    """What one partition did; ``quarantined`` lists them all (a partition is bounded)."""

    partition_number: int
    accounts_closed: int
    accounts_skipped: int
    events_posted: int
    quarantined: tuple[Quarantined, ...]
    timings_seconds: Mapping[str, float]


@dataclass(frozen=True)
class RunSummary:
    """The outcome of a run. Step timings are summed over partitions (worker-seconds), so with
    several workers they add up to more than ``elapsed_seconds``."""

    run_id: str
    engine: str
    business_dates: tuple[dt.date, ...]
    partitions: int
    accounts_closed: int
    accounts_skipped: int
    accounts_quarantined: int
    events_posted: int
    quarantined: tuple[Quarantined, ...]
    timings_seconds: Mapping[str, float]
    elapsed_seconds: float

    @property
    def accounts_per_second(self) -> float:
        """Accounts processed (closed, skipped or quarantined) per second of the run."""
        accounts = self.accounts_closed + self.accounts_skipped + self.accounts_quarantined
        return accounts / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def counts(self) -> dict[str, int]:
        """The counters, named as ``eod_runs`` columns."""
        return {
            "accounts_closed": self.accounts_closed,
            "accounts_skipped": self.accounts_skipped,
            "accounts_quarantined": self.accounts_quarantined,
            "events_posted": self.events_posted,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: dates as ISO text, rates rounded for people."""
        data = asdict(self)
        data["business_dates"] = [day.isoformat() for day in self.business_dates]
        data["quarantined"] = [
            {**asdict(entry), "business_date": entry.business_date.isoformat()}
            for entry in self.quarantined
        ]
        data["timings_seconds"] = {step: round(t, 3) for step, t in self.timings_seconds.items()}
        data["elapsed_seconds"] = round(self.elapsed_seconds, 3)
        data["accounts_per_second"] = round(self.accounts_per_second, 1)
        return data


@dataclass
class Tally:
    """Partition results added up into a :class:`RunSummary` (engines share it)."""

    partitions: int = 0
    accounts_closed: int = 0
    accounts_skipped: int = 0
    accounts_quarantined: int = 0
    events_posted: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)
    timings_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))

    def add(self, result: PartitionResult) -> None:
        """Count one partition; keeps the first quarantined accounts by id, in bounded memory."""
        self.partitions += 1
        self.accounts_closed += result.accounts_closed
        self.accounts_skipped += result.accounts_skipped
        self.accounts_quarantined += len(result.quarantined)
        self.events_posted += result.events_posted
        self.quarantined.extend(result.quarantined)
        self.quarantined.sort(key=lambda entry: entry.account_id)
        del self.quarantined[quarantine_examples_max:]
        for step, seconds in result.timings_seconds.items():
            self.timings_seconds[step] += seconds

    def summary(
        self, run_id: str, engine: str, business_dates: Sequence[dt.date], elapsed_seconds: float
    ) -> RunSummary:
        return RunSummary(
            run_id,
            engine,
            tuple(business_dates),
            self.partitions,
            self.accounts_closed,
            self.accounts_skipped,
            self.accounts_quarantined,
            self.events_posted,
            tuple(self.quarantined),
            dict(self.timings_seconds),
            elapsed_seconds,
        )


class EngineRunner(Protocol):
    """What an engine provides: close ``business_dates`` in order for every serviced account.

    The caller (:func:`run_eod`) holds the lock and has recorded run ``run_id``; the engine
    records quarantined accounts under it, writes parts under ``out_dir`` and calls ``progress``.
    """

    def __call__(
        self,
        store_url: str,
        business_dates: Sequence[dt.date],
        out_dir: Path,
        partition_size: int,
        parallelism: Parallelism,
        progress: ProgressCallback,
        run_id: str,
    ) -> RunSummary: ...


def run_eod(
    runner: EngineRunner,
    engine: str,
    store_url: str,
    target_date: dt.date,
    *,
    catch_up: bool,
    out_dir: Path,
    partition_size: int,
    parallelism: Parallelism,
    progress: ProgressCallback = lambda done, expected: None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> RunSummary:
    """Close ``target_date`` (with ``catch_up``, every missing date through it) under the lock.

    The run is recorded in ``eod_runs`` before the engine writes anything and marked
    ``succeeded`` or ``failed`` after; ``clock`` stamps the wall-clock times.
    """
    check_options(partition_size, parallelism)
    store = open_store(store_url)
    try:
        with eod_lock(store_url):
            business_dates = plan_dates(store.closed_through_min(), target_date, catch_up)
            run_id = uuid.uuid4().hex
            store.start_eod_run(run_id, business_dates, engine, clock())
            try:
                summary = runner(
                    store_url,
                    business_dates,
                    out_dir,
                    partition_size,
                    parallelism,
                    progress,
                    run_id,
                )
            except BaseException:
                store.finish_eod_run(run_id, "failed", clock(), {}, {})
                raise
            store.finish_eod_run(
                run_id, "succeeded", clock(), summary.counts(), summary.timings_seconds
            )
            return summary
    finally:
        store.close()


def plan_dates(
    closed_through_min: dt.date | None, target_date: dt.date, catch_up: bool
) -> list[dt.date]:
    """The business dates a run closes, oldest first.

    ``closed_through_min`` is the book's oldest watermark (``None``: an empty book). Without
    ``catch_up`` a book behind ``target_date - 1`` is refused, naming the missing dates. A date
    the book already closed is planned again: accounts closed through it are skipped and its
    outputs rewritten, which makes a rerun safe.
    """
    first = target_date if closed_through_min is None else closed_through_min + ONE_DAY
    if not catch_up and first < target_date:
        missing = (target_date - first).days
        last_missing = target_date - ONE_DAY
        named = first.isoformat() if missing == 1 else f"{first} to {last_missing}"
        raise MissingBusinessDatesError(
            f"business dates {named} are not closed for every account ({missing} missing); "
            f"close them first with --through {target_date}"
        )
    count = max(1, (target_date - first).days + 1)
    if count > limits.business_dates_per_run_max:
        raise InvalidEodRunError(
            f"{count} business dates from {first} exceed {limits.business_dates_per_run_max} per "
            f"run: close through an earlier date first"
        )
    return [target_date - ONE_DAY * offset for offset in reversed(range(count))]


def check_options(partition_size: int, parallelism: Parallelism) -> None:
    """Refuse a partition size outside ``1..accounts_per_partition_max`` or no workers."""
    if not 1 <= partition_size <= limits.accounts_per_partition_max:
        raise InvalidEodRunError(
            f"partition size must be 1..{limits.accounts_per_partition_max}, got {partition_size}"
        )
    if isinstance(parallelism, int) and not 1 <= parallelism <= workers_max:
        raise InvalidEodRunError(f"workers must be 1..{workers_max}, got {parallelism}")
