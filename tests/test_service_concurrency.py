"""Many clients repaying one account at once lose nothing: the result equals the serial one.

Clients fire repayments with distinct idempotency keys from several threads, at one app (its
ledger writer decides them in turn) and at two apps over one database (two processes: each
batch's transaction locks the account and refreshes a stale cached state first; a write that
still loses the compare-and-set is retried). Afterwards the account must hold exactly what a
single-threaded Book computes from the same repayments.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lendguard.ledger.book import Book
from lendguard.service.app import create_app
from lendguard.service.pii import new_key_entry
from lendguard.service.routers.accounts import account_view
from lendguard.service.settings import Settings
from lendguard.store import Store, open_store

CASH_LOAN = Path(__file__).resolve().parents[1] / "products" / "jiebei-standard.toml"
ADMIN_KEY = "concurrency-admin-key-0123456789-abcdefgh"
CLIENTS = 8
REPAYMENTS_PER_CLIENT = 10
PAY_DAY = "2026-02-28"


def amount_minor(client: int, number: int) -> int:
    """Distinct amounts (0.10 .. 8.00), so a lost or doubled repayment changes the total."""
    return 10 * (client * REPAYMENTS_PER_CLIENT + number + 1)


def prepare(book: Book) -> None:
    """The account every test repays: a 12,000.00 loan whose first instalment is billed."""
    book.register_product(str(CASH_LOAN))
    book.open_account("L1", "jiebei-standard", dt.date(2026, 1, 31), request_id="open")
    book.draw("L1", dt.date(2026, 1, 31), 1_200_000, 12, "equal-instalment", request_id="draw")
    book.close_through("L1", dt.date(2026, 2, 27))


def serial_state(tmp_path: Path) -> dict[str, Any]:
    """The state a single writer reaches with the same repayments, in order."""
    store = open_store(f"sqlite:///{tmp_path / 'serial.sqlite'}")
    book = Book(store)
    prepare(book)
    for client in range(CLIENTS):
        for number in range(REPAYMENTS_PER_CLIENT):
            book.repay(
                "L1",
                dt.date.fromisoformat(PAY_DAY),
                amount_minor(client, number),
                request_id=f"c{client}-{number}",
            )
    view = account_view(book.state("L1")).model_dump(mode="json")
    store.close()
    return view


@pytest.fixture
def apps(store_url: str) -> Iterator[list[FastAPI]]:
    """Two apps over one database, as two service processes would be, the account prepared."""
    settings = Settings(
        db_url=store_url, pii_keys=new_key_entry("k1"), bootstrap_admin_key=ADMIN_KEY
    )
    first, second = create_app(settings), create_app(settings)
    prepare(first.state.services.book)
    yield [first, second]
    for app in (first, second):
        app.state.services.store.close()


def repay_concurrently(clients: list[TestClient]) -> list[int]:
    """Every client thread posts its repayments as soon as all are ready; the statuses."""
    ready = threading.Barrier(CLIENTS)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def client_run(client: int) -> list[int]:
        http = clients[client % len(clients)]
        ready.wait()
        statuses = []
        for number in range(REPAYMENTS_PER_CLIENT):
            minor = amount_minor(client, number)
            response = http.post(
                "/accounts/L1/repayments",
                json={"amount": f"{minor // 100}.{minor % 100:02d}", "business_date": PAY_DAY},
                headers=headers | {"Idempotency-Key": f"c{client}-{number}"},
            )
            statuses.append(response.status_code)
        return statuses

    with ThreadPoolExecutor(CLIENTS) as pool:
        return [status for run in pool.map(client_run, range(CLIENTS)) for status in run]


def check_against_serial(client: TestClient, tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    state = client.get("/accounts/L1", headers=headers).json()
    assert state == serial_state(tmp_path)
    history = client.get("/accounts/L1/history", params={"limit": 1000}, headers=headers).json()
    repaid = [
        event["data"]["amount_minor"] for event in history["events"] if event["kind"] == "repayment"
    ]
    assert sorted(repaid) == sorted(
        amount_minor(c, n) for c in range(CLIENTS) for n in range(REPAYMENTS_PER_CLIENT)
    )
    journal = client.get("/accounts/L1/journal", params={"limit": 1}, headers=headers).json()
    assert journal["total"]["net_minor"] == 0


def test_one_process_serialises_repayments(apps: list[FastAPI], tmp_path: Path) -> None:
    with TestClient(apps[0]) as client:
        statuses = repay_concurrently([client])
        assert statuses == [201] * CLIENTS * REPAYMENTS_PER_CLIENT
        check_against_serial(client, tmp_path)


def test_two_processes_serialise_repayments(apps: list[FastAPI], tmp_path: Path) -> None:
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        statuses = repay_concurrently([first, second])
        assert statuses == [201] * CLIENTS * REPAYMENTS_PER_CLIENT
        check_against_serial(second, tmp_path)


def test_a_stale_process_refreshes_before_deciding(apps: list[FastAPI]) -> None:
    """The first app's cached state predates the second app's write: the batch's transaction
    sees the stored head moved on and decides on a fresh fold, so no write is refused."""
    stale_store = apps[0].state.services.store
    refusals = _count_refusals(stale_store)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    body = {"amount": "1.00", "business_date": PAY_DAY}
    with TestClient(apps[0]) as stale, TestClient(apps[1]) as fresh:
        assert stale.get("/accounts/L1", headers=headers).status_code == 200
        first = fresh.post(
            "/accounts/L1/repayments", json=body, headers=headers | {"Idempotency-Key": "b"}
        )
        assert first.status_code == 201, first.text
        second = stale.post(
            "/accounts/L1/repayments", json=body, headers=headers | {"Idempotency-Key": "a"}
        )
        assert second.status_code == 201, second.text
        assert second.json()["sequence"] == first.json()["sequence"] + 1
        assert (
            fresh.get("/accounts/L1", headers=headers).json()["sequence"]
            == (second.json()["sequence"])
        )
    assert refusals == []


def test_a_write_that_loses_the_compare_and_set_is_retried_on_a_fresh_fold(
    apps: list[FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that takes no lock (close of business, the CLI) can move the account after the
    refresh: the store refuses the stale write, and the request is run again on a fresh fold."""
    stale = apps[0].state.services
    refusals = _count_refusals(stale.store)
    hold = stale.writer._hold
    skipped: list[bool] = []

    def hold_without_refresh_once(*args: Any) -> None:
        if not skipped:  # as if the other write landed just after this refresh
            skipped.append(True)
            return
        hold(*args)

    monkeypatch.setattr(stale.writer, "_hold", hold_without_refresh_once)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    body = {"amount": "1.00", "business_date": PAY_DAY}
    with TestClient(apps[0]) as client, TestClient(apps[1]) as fresh:
        stale.book.state("L1")  # cached before the other app writes
        first = fresh.post(
            "/accounts/L1/repayments", json=body, headers=headers | {"Idempotency-Key": "b"}
        )
        second = client.post(
            "/accounts/L1/repayments", json=body, headers=headers | {"Idempotency-Key": "a"}
        )
        assert second.status_code == 201, second.text
        assert second.json()["sequence"] == first.json()["sequence"] + 1
    assert refusals == ["ConcurrentUpdateError"]


def _count_refusals(store: Store) -> list[str]:
    """Names of the errors ``store.append_many`` raises from now on (the list fills as it goes)."""
    refusals: list[str] = []
    append_many = store.append_many

    def counted(appends: Any) -> None:
        try:
            append_many(appends)
        except Exception as error:
            refusals.append(type(error).__name__)
            raise

    store.append_many = counted  # type: ignore[method-assign]
    return refusals
