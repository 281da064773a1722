"""Close of business: trigger a run for a business date, and read runs back from ``eod_runs``.

A run goes through :func:`lendguard.eod.engine.run_eod` with the embedded engine, exactly as
``lendguard eod --engine local`` does: the book's lock (a second run is a 409), the date plan
(a ``business_date`` with earlier dates still open is a 409 unless ``catch_up``), the run record,
and the Parquet outputs under ``Settings.eod_out_dir``. The request waits for the run: the answer
is its summary. The business date is always in the request; only the run record's timestamps come
from the clock.

No ``from __future__ import annotations``: FastAPI resolves these annotations at runtime.
"""

import datetime as dt
import os
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from lendguard import limits
from lendguard.eod.engine import quarantine_examples_max, run_eod
from lendguard.eod.local import run_local
from lendguard.ledger.book import Book
from lendguard.service.deps import PageDep, Services, audit_event, get_services, require
from lendguard.service.errors import ProblemError
from lendguard.service.security import Principal
from lendguard.store import schema

router = APIRouter(prefix="/eod", tags=["eod"])

ServicesDep = Annotated[Services, Depends(get_services)]
Runner = Annotated[Principal, Depends(require("eod:run"))]
Reader = Annotated[Principal, Depends(require("eod:read"))]

ENGINE = "local"
PARTITION_SIZE_DEFAULT = 5_000

workers_max = max(1, min(os.cpu_count() or 1, 64))
"""Worker processes one run may start from the service: this machine's cores."""

RunId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


class EodRunCreate(BaseModel):
    """Which business date to close, and how to split the work."""

    model_config = ConfigDict(extra="forbid")

    business_date: dt.date
    catch_up: bool = Field(
        default=False, description="Close every missing business date up to business_date."
    )
    partition_size: int = Field(
        default=PARTITION_SIZE_DEFAULT, ge=1, le=limits.accounts_per_partition_max
    )
    workers: int = Field(default=1, ge=1, le=workers_max, description="1: in the service.")


class QuarantinedAccount(BaseModel):
    """An account a run could not close, and the first business date it failed on."""

    business_date: dt.date
    account_id: str
    error: str


class EodRunSummary(BaseModel):
    """A run as ``eod_runs`` records it; counts are null while it runs (or if it failed)."""

    run_id: str
    engine: str
    status: Literal["running", "succeeded", "failed"]
    first_business_date: dt.date
    business_date: dt.date
    started_at: dt.datetime
    finished_at: dt.datetime | None
    accounts_closed: int | None
    accounts_skipped: int | None
    accounts_quarantined: int | None
    events_posted: int | None
    timings_seconds: dict[str, float] | None


class EodRunPublic(EodRunSummary):
    """One run with its first quarantined accounts (``eod_quarantine`` holds them all)."""

    quarantined: list[QuarantinedAccount] = Field(
        description=f"The first {quarantine_examples_max} quarantined accounts, by id."
    )


class EodRunPage(BaseModel):
    """Runs, the latest first."""

    items: list[EodRunSummary]
    limit: int
    offset: int


@router.post(
    "/runs",
    response_model=EodRunPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Close a business date for every serviced account",
)
def trigger_run(
    services: ServicesDep, principal: Runner, body: EodRunCreate, response: Response
) -> dict[str, Any]:
    """Run close of business now and answer with the recorded run (``Location`` names it)."""
    settings = services.settings
    summary = run_eod(
        run_local,
        ENGINE,
        settings.db_url,
        body.business_date,
        catch_up=body.catch_up,
        out_dir=settings.eod_out_dir,
        partition_size=body.partition_size,
        parallelism=body.workers,
    )
    # The run wrote events behind the cached account states: later reads must fold afresh.
    services.book = Book(services.store)
    audit_event(
        services,
        principal,
        "eod.run",
        summary.run_id,
        {
            "business_dates": [day.isoformat() for day in summary.business_dates],
            **summary.counts(),
        },
    )
    response.headers["Location"] = f"{router.prefix}/runs/{summary.run_id}"
    return _run(services, summary.run_id)


@router.get("/runs", response_model=EodRunPage, summary="Close-of-business runs, latest first")
def list_runs(services: ServicesDep, _principal: Reader, page: PageDep) -> dict[str, Any]:
    """One bounded page of runs by start time, the latest first."""
    table = schema.eod_runs
    query = (
        select(table)
        .order_by(table.c.started_at.desc(), table.c.run_id)
        .limit(page.limit)
        .offset(page.offset)
    )
    with services.store.engine.connect() as connection:
        records = [dict(row) for row in connection.execute(query).mappings()]
    return {
        "items": [_summary(record) for record in records],
        "limit": page.limit,
        "offset": page.offset,
    }


@router.get("/runs/{run_id}", response_model=EodRunPublic, summary="One close-of-business run")
def get_run(services: ServicesDep, _principal: Reader, run_id: RunId) -> dict[str, Any]:
    """The run's status and counts, and its first quarantined accounts."""
    return _run(services, run_id)


def _run(services: Services, run_id: str) -> dict[str, Any]:
    record = services.store.eod_run(run_id)
    if record is None:
        raise ProblemError(404, "unknown_eod_run", f"no close-of-business run {run_id}")
    quarantined = services.store.quarantined(run_id)[:quarantine_examples_max]
    return _summary(record) | {
        "quarantined": [
            {"business_date": day, "account_id": account_id, "error": error}
            for day, account_id, error in quarantined
        ]
    }


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    """An ``eod_runs`` row with its timings under the name the API uses."""
    summary = dict(record)
    summary["timings_seconds"] = summary.pop("timings")
    return summary
