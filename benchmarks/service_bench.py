"""Repayments per second through the REST service, with 50 concurrent clients, on each store.

Bounded load on loopback only: the service runs under uvicorn in a subprocess bound to 127.0.0.1,
on a temporary SQLite file and on a fresh PostgreSQL schema; the clients run here. Two cases per
store: repayments spread over many accounts (the service's normal day), and every client repaying
one hot account (the worst case for the per-account serialisation). The issue's target: >= 1,000
repayments/s on PostgreSQL with p99 <= 50 ms.

Back of the envelope: a repayment is one HTTP round trip on loopback (~0.1 ms), authentication
(one indexed key lookup), the ledger request (a decision in tens of microseconds, one transaction
of ~4 rows), and one audit append (a second transaction, group-committed with its neighbours).
Python spends ~1 ms of CPU per request across FastAPI, pydantic and SQLAlchemy, so one worker
process tops out near 1,000/s before any database wait; the client shares the same cores, and
the hot account is serialised by design (one request on it at a time per process).

After each case the store is read back: the repayment events on the measured accounts must equal
the requests that succeeded, or the case is reported as failed (a lost or doubled payment).

    python benchmarks/service_bench.py [--requests 4000] [--clients 50] [--accounts 500] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.run import postgres_schema
from lendguard.ledger.book import Book
from lendguard.service.pii import new_key_entry
from lendguard.service.security import ApiKeyStore
from lendguard.store import open_store, schema

PRODUCT = Path(__file__).resolve().parents[1] / "products" / "jiebei-standard.toml"
HOST = "127.0.0.1"
OPENED_ON = dt.date(2026, 1, 31)
REPAID_ON = dt.date(2026, 2, 28)
"""The first instalment's due date: the accounts are closed through the day before in setup, so
no request pays for a catch-up and every repayment settles a billed instalment."""
DRAW_MINOR = 5_000_000
"""The product's whole line: its first instalment (~4,400 yuan) outlasts any case's repayments."""
REPAYMENT = "0.50"

TARGET_PER_S = 1_000
TARGET_P99_MS = 50.0
STARTUP_SECONDS_MAX = 60.0
requests_max = 100_000
"""Requests one case may send: the benchmark is a bounded load, never a soak."""
clients_max = 200
accounts_max = 10_000


@dataclass(frozen=True)
class CaseResult:
    """One store and one access pattern."""

    store: str
    case: str
    clients: int
    accounts: int
    requests: int
    succeeded: int
    failed: int
    seconds: float
    repayments_per_s: float
    p50_ms: float
    p99_ms: float
    verified: bool
    """Repayment events in the store equal the successful requests."""
    failures: dict[str, int]
    """Failed requests by cause: a problem ``code`` or a transport error."""

    def meets_target(self) -> bool:
        return (
            self.verified
            and self.failed == 0
            and self.repayments_per_s >= TARGET_PER_S
            and self.p99_ms <= TARGET_P99_MS
        )


# --- the database and the server --------------------------------------------------------------


@contextmanager
def database(store: str) -> Iterator[str]:
    """A URL to an empty database: a temporary SQLite file or a fresh PostgreSQL schema."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory(prefix="lendguard-service-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'bench.sqlite'}"
        return
    with postgres_schema() as url:
        yield url


def seed(url: str, accounts: list[str]) -> str:
    """Open and fund the accounts, close them through the day before the due date, and issue a
    ``service`` key; returns the key. Written through the library, in batches."""
    store = open_store(url)
    try:
        book = Book(store)
        book.register_product(str(PRODUCT))
        for start in range(0, len(accounts), 100):
            with book.batch():
                for account in accounts[start : start + 100]:
                    book.open_account(
                        account, "jiebei-standard", OPENED_ON, request_id=f"o-{account}"
                    )
                    book.draw(
                        account,
                        OPENED_ON,
                        DRAW_MINOR,
                        12,
                        "equal-instalment",
                        request_id=f"d-{account}",
                    )
                    book.close_through(account, REPAID_ON - dt.timedelta(days=1))
        _, plaintext = ApiKeyStore(store.engine).create_key("service-bench", "service")
        return plaintext
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(url: str, workers: int) -> Iterator[str]:
    """uvicorn serving ``create_app()`` on loopback in a subprocess; yields its base URL."""
    port = free_port()
    environment = {
        **os.environ,
        "LENDGUARD_DB": url,
        "LENDGUARD_PII_KEYS": new_key_entry("bench"),
    }
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "lendguard.service.app:create_app",
        "--host", HOST, "--port", str(port), "--workers", str(workers),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=environment)
    base = f"http://{HOST}:{port}"
    try:
        wait_until_up(base, process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS_MAX
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the service exited with code {process.returncode} on startup")
        try:
            if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the service did not answer on {base} within {STARTUP_SECONDS_MAX:.0f} s")


# --- the load ---------------------------------------------------------------------------------


async def client_loop(
    base: str, key: str, targets: list[str], count: int, latencies: list[float]
) -> Counter[str]:
    """One client: ``count`` repayments in turn over ``targets``; returns its failures by cause
    (the problem's ``code``, or the transport error's name)."""
    failures: Counter[str] = Counter()
    headers = {"Authorization": f"Bearer {key}"}
    body = {"amount": REPAYMENT, "business_date": REPAID_ON.isoformat()}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30.0) as client:
        for number in range(count):
            account = targets[number % len(targets)]
            started = time.perf_counter()
            try:
                answer = await client.post(
                    f"/accounts/{account}/repayments",
                    json=body,
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                )
            except httpx.TransportError as error:
                failures[type(error).__name__] += 1
                continue
            finally:
                latencies.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 201:
                failures[_cause(answer)] += 1
    return failures


def _cause(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("code", answer.status_code))
    except ValueError:
        return str(answer.status_code)


async def load(
    base: str, key: str, targets: list[list[str]], per_client: int
) -> tuple[list[float], Counter[str], float]:
    latencies: list[float] = []
    started = time.perf_counter()
    failures = await asyncio.gather(
        *(client_loop(base, key, mine, per_client, latencies) for mine in targets)
    )
    return latencies, sum(failures, Counter()), time.perf_counter() - started


def repayments_stored(url: str, accounts: list[str]) -> int:
    store = open_store(url)
    try:
        events = schema.events
        query = select(func.count()).where(
            events.c.kind == "repayment", events.c.account_id.in_(accounts)
        )
        with store.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())
    finally:
        store.close()


def run_case(store: str, case: str, options: argparse.Namespace) -> CaseResult:
    """Seed a fresh database, start the service, warm it, then measure one load."""
    accounts = [f"A{number:05d}" for number in range(options.accounts if case == "spread" else 1)]
    clients = options.clients
    if case == "spread":
        targets = [accounts[client::clients] or accounts for client in range(clients)]
    else:
        targets = [accounts] * clients
    per_client = max(1, options.requests // clients)
    with database(store) as url:
        key = seed(url, accounts)
        with server(url, options.workers) as base:
            asyncio.run(load(base, key, targets, max(1, options.warmup // clients)))
            before = repayments_stored(url, accounts)
            latencies, failures, seconds = asyncio.run(load(base, key, targets, per_client))
        stored = repayments_stored(url, accounts) - before
    sent = per_client * clients
    failed = sum(failures.values())
    ordered = sorted(latencies)
    return CaseResult(
        store=store,
        case=case,
        clients=clients,
        accounts=len(accounts),
        requests=sent,
        succeeded=sent - failed,
        failed=failed,
        seconds=round(seconds, 3),
        repayments_per_s=round((sent - failed) / seconds, 1),
        p50_ms=round(statistics.median(ordered), 2),
        p99_ms=round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        verified=stored == sent - failed,
        failures=dict(failures),
    )


# --- the report -------------------------------------------------------------------------------


def print_table(results: list[CaseResult], options: argparse.Namespace) -> None:
    table = Table(
        title=(
            f"Repayments through the service: {options.clients} clients on loopback, "
            f"{options.workers} server worker(s); target on PostgreSQL >= {TARGET_PER_S}/s, "
            f"p99 <= {TARGET_P99_MS:.0f} ms"
        )
    )
    for column in ("store", "case", "accounts", "requests", "failed", "repayments/s", "p50 ms",
                   "p99 ms", "verified", "target"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("store", "case") else "right")
    for result in results:
        table.add_row(
            result.store,
            result.case,
            str(result.accounts),
            str(result.requests),
            str(result.failed),
            f"{result.repayments_per_s:,.0f}",
            f"{result.p50_ms:.1f}",
            f"{result.p99_ms:.1f}",
            "yes" if result.verified else "NO",
            ("met" if result.meets_target() else "missed") if result.store == "postgresql" else "-",
        )
    console = Console(width=120)
    console.print(table)
    for result in results:
        if result.failures:
            console.print(f"{result.store} {result.case} failures by cause: {result.failures}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4_000, help="repayments per case")
    parser.add_argument("--warmup", type=int, default=500, help="repayments before measuring")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--accounts", type=int, default=500, help="accounts in the spread case")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--cases", default="spread,hot")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    options = parser.parse_args(argv)
    if not 1 <= options.requests <= requests_max:
        parser.error(f"--requests must be 1..{requests_max}")
    if not 1 <= options.clients <= clients_max:
        parser.error(f"--clients must be 1..{clients_max}")
    if not 1 <= options.accounts <= accounts_max:
        parser.error(f"--accounts must be 1..{accounts_max}")
    if not 0 <= options.warmup <= requests_max:
        parser.error(f"--warmup must be 0..{requests_max}")
    if not set(options.stores.split(",")) <= {"sqlite", "postgresql"}:
        parser.error("--stores is a comma list of sqlite, postgresql")
    if not set(options.cases.split(",")) <= {"spread", "hot"}:
        parser.error("--cases is a comma list of spread, hot")
    return options


def main(argv: list[str] | None = None) -> None:
    options = parse(argv)
    results = [
        run_case(store, case, options)
        for store in options.stores.split(",")
        for case in options.cases.split(",")
    ]
    if options.json:
        summary: dict[str, Any] = {
            "target": {"repayments_per_s": TARGET_PER_S, "p99_ms": TARGET_P99_MS},
            "clients": options.clients,
            "workers": options.workers,
            "results": [
                asdict(result) | {"meets_target": result.meets_target()} for result in results
            ],
        }
        print(json.dumps(summary))
        return
    print_table(results, options)


if __name__ == "__main__":
    main()
