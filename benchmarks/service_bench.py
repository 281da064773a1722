"""Repayments per second through the REST service, with 50 concurrent clients, on each store.

Bounded load on loopback only: the service runs under uvicorn in a subprocess bound to 127.0.0.1,
on a temporary SQLite file and on a fresh PostgreSQL schema; the clients run here. Two cases per
store: repayments spread over many accounts (the service's normal day), and every client repaying
one hot account (the worst case for the per-account serialisation). The issue's target: >= 1,000
repayments/s on PostgreSQL with p99 <= 50 ms.

Each case runs twice: a closed loop (every client sends its next request when the last is
answered: the service's capacity, with the latency of the queue the clients keep full) and an
offered load of ``--rate`` repayments/s (default 1,100) spread evenly over the clients, each
latency counted from when its request was due. The target is judged on the offered load.

Back of the envelope (measured on the 2-core machine): FastAPI under uvicorn spends ~0.3 ms of
CPU per request before any work (httptools parsing, routing, validation, dependencies), handing
the request to the service's ledger writer and back ~0.1 ms, and the writer ~0.25 ms deciding
and writing it: every request that arrived during the previous transaction is committed in one
transaction with its audit records (~10 round trips and a ~3 ms durable commit per batch, not per
request). The event loop and the writer share one interpreter lock, so one worker process tops
out near 1 / 0.65 ms ~ 1,500 requests/s, while the second core runs PostgreSQL, the clients and
anything else on the machine. With 50 clients in a closed loop the mean latency is
50 / throughput, so a closed loop's p99 says how full the queue is, not how fast a request is
served. The clients are a minimal asyncio HTTP/1.1 keep-alive client over raw sockets (~0.06 ms
of CPU per request; httpx cost ~2.8 ms and took a core of its own); each still sends a real
request with its own ``Idempotency-Key`` and checks every response's status and body.

After each case the store is read back: the repayment events on the measured accounts, and the
audit records of repayments, must each equal the requests that succeeded, or the case is reported
as failed (a lost or doubled payment, or an unaudited one). Where ``/proc`` exists, the report
also splits the machine's CPU during the measured load: this client, the service's processes, and
the whole machine (PostgreSQL and any other work running meanwhile).

    python benchmarks/service_bench.py [--requests 4000] [--clients 50] [--accounts 500]
        [--rate 1100] [--json]
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.run import POSTGRES_URL
from lendguard.ledger.book import Book
from lendguard.service.pii import new_key_entry
from lendguard.service.security import ApiKeyStore
from lendguard.store import open_store, schema
from lendguard.store.database import scratch_postgres_schema
from lendguard.store.service_tables import audit_log

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

OFFERED_PER_S = 1_100
"""The offered load the target is judged at: the target plus 10%, so a service that keeps up
still shows >= 1,000/s after the last requests' latency is added to the measured time."""

rate_max_per_s = 100_000
STARTUP_SECONDS_MAX = 60.0
requests_max = 100_000
"""Requests one case may send: the benchmark is a bounded load, never a soak."""
clients_max = 200
accounts_max = 10_000


@dataclass(frozen=True)
class CpuShare:
    """CPU seconds per second of the measured load (1.0 = one core busy), by consumer."""

    client: float
    """This process: the load generator."""
    service: float | None
    """The uvicorn process and its workers (``None`` without ``/proc``)."""
    machine: float | None
    """Every process on the machine, PostgreSQL and other work included."""


@dataclass(frozen=True)
class CaseResult:
    """One store and one access pattern."""

    store: str
    case: str
    offered_per_s: float | None
    """The rate the clients offered; ``None``: a closed loop, as fast as the service answers."""
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
    """Repayment events in the store, and audit records of repayments, equal the successful
    requests."""
    failures: dict[str, int]
    """Failed requests by cause: a problem ``code``, an unexpected body or a transport error."""
    cpu: CpuShare

    def meets_target(self) -> bool:
        """Judged under an offered load (a closed loop measures capacity, and its latency is
        by construction the queue the clients themselves keep full: 50 / throughput)."""
        return (
            self.offered_per_s is not None
            and self.verified
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
    with scratch_postgres_schema(POSTGRES_URL, "bench") as url:
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


@dataclass(frozen=True)
class Server:
    """The service under test: where it listens and its process id."""

    host: str
    port: int
    pid: int

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextmanager
def server(url: str, workers: int) -> Iterator[Server]:
    """uvicorn serving ``create_app()`` on loopback in a subprocess, access log off."""
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
    running = Server(HOST, port, process.pid)
    try:
        wait_until_up(running.base, process)
        yield running
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


response_head_bytes_max = 16 * 1024
"""Longest status line and headers a response may have before the client gives up on it."""


class UnexpectedResponseError(Exception):
    """A response the client cannot take as an answer: malformed, chunked, or a wrong body."""


class Client:
    """One keep-alive HTTP/1.1 connection posting repayments, as a cheap load generator.

    Why not httpx: its ~2.8 ms of CPU per request, on the same 2 cores as the service, measured
    the client more than the service. Every request is still real (its own ``Idempotency-Key``,
    a JSON body) and every response is read whole and checked; a broken connection is opened
    again for the next request.
    """

    def __init__(self, server: Server, key: str) -> None:
        self._server = server
        self._head = (
            f"Host: {server.host}:{server.port}\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\n"
        )
        self._body = orjson.dumps({"amount": REPAYMENT, "business_date": REPAID_ON.isoformat()})
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def repay(self, account: str) -> str | None:
        """Post one repayment; ``None`` when it was answered 201 with the expected posting,
        else the cause of the failure."""
        request = (
            f"POST /accounts/{account}/repayments HTTP/1.1\r\n{self._head}"
            f"Idempotency-Key: {uuid.uuid4().hex}\r\nContent-Length: {len(self._body)}\r\n\r\n"
        ).encode() + self._body
        try:
            status, body = await self._exchange(request)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            await self.close()
            return type(error).__name__
        except UnexpectedResponseError:
            await self.close()
            return "unexpected_response"
        return _failure(status, body, account)

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(
                self._server.host, self._server.port, limit=response_head_bytes_max
            )
        reader, writer = self._streams
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *fields = head[:-4].split(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or parts[0] != b"HTTP/1.1" or not parts[1].isdigit():
            raise UnexpectedResponseError(status_line)
        length = None
        for field in fields:
            name, _, value = field.partition(b":")
            if name.strip().lower() == b"content-length":
                if not value.strip().isdigit():
                    raise UnexpectedResponseError(field)
                length = int(value)
        if length is None:  # the service always sends a length: anything else is a defect
            raise UnexpectedResponseError("no Content-Length")
        return int(parts[1]), await reader.readexactly(length)

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()


def _failure(status: int, body: bytes, account: str) -> str | None:
    """Why a response is not the 201 posting of a new repayment of ``REPAYMENT`` on
    ``account``: the problem's ``code``, ``unexpected_body``, or ``None`` when it is."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return f"http_{status}"
    if status != 201:
        code = answer.get("code") if isinstance(answer, dict) else None
        return str(code or f"http_{status}")
    expected = {"account_id": account, "kind": "repayment", "amount": REPAYMENT, "replayed": False}
    if not isinstance(answer, dict) or any(answer.get(k) != v for k, v in expected.items()):
        return "unexpected_body"
    return None


Schedule = Callable[[int], float] | None
"""When a client's request number ``n`` is due (``perf_counter`` seconds); ``None``: at once."""


async def client_loop(
    server: Server,
    key: str,
    targets: list[str],
    count: int,
    latencies: list[float],
    schedule: Schedule,
) -> Counter[str]:
    """One client: ``count`` repayments in turn over ``targets``; returns its failures by cause.

    On a schedule, each request waits for its due time, and its latency counts from that time,
    not from when it was sent: a service that falls behind is charged for the wait it causes
    (no coordinated omission).
    """
    failures: Counter[str] = Counter()
    client = Client(server, key)
    try:
        for number in range(count):
            started = time.perf_counter()
            if schedule is not None:
                started = schedule(number)
                await asyncio.sleep(max(0.0, started - time.perf_counter()))
            failure = await client.repay(targets[number % len(targets)])
            latencies.append((time.perf_counter() - started) * 1000)
            if failure is not None:
                failures[failure] += 1
    finally:
        await client.close()
    return failures


async def load(
    server: Server, key: str, targets: list[list[str]], per_client: int, rate_per_s: float = 0
) -> tuple[list[float], Counter[str], float]:
    """Every client's requests; with ``rate_per_s`` the clients together offer that many a
    second, evenly spaced (client ``c``'s request ``n`` is the ``n * clients + c``-th), else each
    sends its next request as soon as the last is answered (a closed loop)."""
    latencies: list[float] = []
    started = time.perf_counter()
    clients = len(targets)

    def schedule_of(client: int) -> Schedule:
        if not rate_per_s:
            return None
        return lambda number: started + (number * clients + client) / rate_per_s

    failures = await asyncio.gather(
        *(
            client_loop(server, key, mine, per_client, latencies, schedule_of(client))
            for client, mine in enumerate(targets)
        )
    )
    return latencies, sum(failures, Counter()), time.perf_counter() - started


# --- CPU accounting (Linux /proc; absent elsewhere) -------------------------------------------


def _ticks_per_second() -> int:
    return int(os.sysconf("SC_CLK_TCK"))


def process_tree_cpu_seconds(pid: int) -> float | None:
    """User and system CPU of ``pid`` and its direct children (uvicorn's workers)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    pids = [pid]
    for entry in proc.iterdir():
        fields = _stat_fields(entry / "stat") if entry.name.isdigit() else None
        if fields is not None and int(fields[1]) == pid:
            pids.append(int(entry.name))
    total = 0
    for member in pids:
        fields = _stat_fields(proc / str(member) / "stat")
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total / _ticks_per_second()


def _stat_fields(path: Path) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first)."""
    try:
        return path.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):  # the process ended meanwhile
        return None


def machine_cpu_seconds() -> float | None:
    """Busy CPU seconds of the whole machine since boot (all but idle and iowait)."""
    try:
        ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / _ticks_per_second()


def measured_load(
    server: Server, key: str, targets: list[list[str]], per_client: int, rate_per_s: float
) -> tuple[list[float], Counter[str], float, CpuShare]:
    """:func:`load`, with the CPU each consumer spent during it."""
    client_before = time.process_time()
    service_before = process_tree_cpu_seconds(server.pid)
    machine_before = machine_cpu_seconds()
    latencies, failures, seconds = asyncio.run(load(server, key, targets, per_client, rate_per_s))
    client = time.process_time() - client_before
    service_after = process_tree_cpu_seconds(server.pid)
    machine_after = machine_cpu_seconds()
    service = None
    if service_before is not None and service_after is not None:
        service = round((service_after - service_before) / seconds, 2)
    machine = None
    if machine_before is not None and machine_after is not None:
        machine = round((machine_after - machine_before) / seconds, 2)
    return latencies, failures, seconds, CpuShare(round(client / seconds, 2), service, machine)


def repayments_stored(url: str, accounts: list[str]) -> tuple[int, int]:
    """Repayment events on ``accounts``, and audit records of repayment requests."""
    store = open_store(url)
    try:
        events = schema.events
        posted = select(func.count()).where(
            events.c.kind == "repayment", events.c.account_id.in_(accounts)
        )
        audited = select(func.count()).where(audit_log.c.action == "accounts.repay")
        with store.engine.connect() as connection:
            return (
                int(connection.execute(posted).scalar_one()),
                int(connection.execute(audited).scalar_one()),
            )
    finally:
        store.close()


def run_case(store: str, case: str, options: argparse.Namespace, rate_per_s: float) -> CaseResult:
    """Seed a fresh database, start the service, warm it, then measure one load (closed loop
    when ``rate_per_s`` is 0, else offered at that rate)."""
    accounts = [f"A{number:05d}" for number in range(options.accounts if case == "spread" else 1)]
    clients = options.clients
    if case == "spread":
        targets = [accounts[client::clients] or accounts for client in range(clients)]
    else:
        targets = [accounts] * clients
    per_client = max(1, options.requests // clients)
    with database(store) as url:
        key = seed(url, accounts)
        with server(url, options.workers) as running:
            asyncio.run(load(running, key, targets, max(1, options.warmup // clients)))
            before = repayments_stored(url, accounts)
            latencies, failures, seconds, cpu = measured_load(
                running, key, targets, per_client, rate_per_s
            )
        after = repayments_stored(url, accounts)
    sent = per_client * clients
    failed = sum(failures.values())
    ordered = sorted(latencies)
    return CaseResult(
        store=store,
        case=case,
        offered_per_s=rate_per_s or None,
        clients=clients,
        accounts=len(accounts),
        requests=sent,
        succeeded=sent - failed,
        failed=failed,
        seconds=round(seconds, 3),
        repayments_per_s=round((sent - failed) / seconds, 1),
        p50_ms=round(statistics.median(ordered), 2),
        p99_ms=round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        verified=after[0] - before[0] == after[1] - before[1] == sent - failed,
        failures=dict(failures),
        cpu=cpu,
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
    for column in ("store", "case", "load", "accounts", "requests", "failed", "repayments/s",
                   "p50 ms", "p99 ms", "verified", "target", "CPU client", "service",
                   "machine"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("store", "case") else "right")
    for result in results:
        table.add_row(
            result.store,
            result.case,
            "closed" if result.offered_per_s is None else f"{result.offered_per_s:,.0f}/s",
            str(result.accounts),
            str(result.requests),
            str(result.failed),
            f"{result.repayments_per_s:,.0f}",
            f"{result.p50_ms:.1f}",
            f"{result.p99_ms:.1f}",
            "yes" if result.verified else "NO",
            _target_cell(result),
            f"{result.cpu.client:.2f}",
            "-" if result.cpu.service is None else f"{result.cpu.service:.2f}",
            "-" if result.cpu.machine is None else f"{result.cpu.machine:.2f}",
        )
    console = Console(width=160)
    console.print(table)
    console.print(
        f"CPU columns: cores busy during the measured load ({os.cpu_count()} on this machine); "
        "'machine' includes PostgreSQL and any other work running meanwhile."
    )
    for result in results:
        if result.failures:
            console.print(f"{result.store} {result.case} failures by cause: {result.failures}")


def _target_cell(result: CaseResult) -> str:
    if result.store != "postgresql" or result.offered_per_s is None:
        return "-"
    return "met" if result.meets_target() else "missed"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4_000, help="repayments per case")
    parser.add_argument("--warmup", type=int, default=500, help="repayments before measuring")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--accounts", type=int, default=500, help="accounts in the spread case")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--cases", default="spread,hot")
    parser.add_argument(
        "--rate",
        type=float,
        default=OFFERED_PER_S,
        help="repayments a second the clients offer together in the offered-load runs "
        "(0: closed loops only)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    options = parser.parse_args(argv)
    if not 0 <= options.rate <= rate_max_per_s:
        parser.error(f"--rate must be 0..{rate_max_per_s}")
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
    rates = [0.0, options.rate] if options.rate else [0.0]
    results = [
        run_case(store, case, options, rate)
        for store in options.stores.split(",")
        for case in options.cases.split(",")
        for rate in rates
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
