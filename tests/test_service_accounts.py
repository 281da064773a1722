"""The accounts API over HTTP on SQLite and PostgreSQL: lifecycles, idempotency, paging.

Each test drives a real app (``create_app``) through FastAPI's TestClient, the way a lender's
back office would, and checks what the ledger holds afterwards through the API and the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lendguard.service.app import create_app
from lendguard.service.deps import Services
from lendguard.service.pii import new_key_entry
from lendguard.service.settings import Settings

PRODUCTS = Path(__file__).resolve().parents[1] / "products"
CREDIT_LINE = (PRODUCTS / "huabei-standard.toml").read_text()
CASH_LOAN = (PRODUCTS / "jiebei-standard.toml").read_text()
ADMIN_KEY = "test-admin-key-0123456789-abcdefghijklmnop"


@dataclass
class Api:
    """A client of one app and a key per role."""

    client: TestClient
    services: Services
    keys: dict[str, str]

    def headers(self, role: str = "operator", key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        return headers if key is None else headers | {"Idempotency-Key": key}

    def post(self, path: str, body: dict[str, Any], key: str, role: str = "operator") -> Any:
        return self.client.post(path, json=body, headers=self.headers(role, key))

    def get(self, path: str, role: str = "auditor", **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers(role))


@pytest.fixture
def api(store_url: str) -> Iterator[Api]:
    """An app on ``store_url`` with both sample products and one key per role."""
    settings = Settings(
        db_url=store_url, pii_keys=new_key_entry("k1"), bootstrap_admin_key=ADMIN_KEY
    )
    app = create_app(settings)
    services: Services = app.state.services
    keys = {"admin": ADMIN_KEY}
    for role in ("operator", "service", "auditor", "collector", "risk_analyst"):
        keys[role] = services.keys.create_key(f"test {role}", role)[1]
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api(client, services, keys)
        for text in (CREDIT_LINE, CASH_LOAN):
            response = client.post(
                "/products",
                content=text,
                headers=api.headers("admin") | {"Content-Type": "application/toml"},
            )
            assert response.status_code == 201, response.text
        yield api


def ok(response: Any, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def open_cash_loan(api: Api, account_id: str = "L1", opened_on: str = "2026-01-31") -> None:
    body = {"account_id": account_id, "product_id": "jiebei-standard", "opened_on": opened_on}
    ok(api.post("/accounts", body, key=f"open-{account_id}"))


def open_credit_line(api: Api, account_id: str = "A1") -> None:
    body = {
        "account_id": account_id,
        "product_id": "huabei-standard",
        "opened_on": "2026-01-05",
        "due_day": 10,
    }
    ok(api.post("/accounts", body, key=f"open-{account_id}"))


def receivable_minor(api: Api, account_id: str) -> int:
    """What the journal says the borrower owes: the receivable lines of every page, summed."""
    total, offset = 0, 0
    while True:
        page = ok(api.get(f"/accounts/{account_id}/journal", limit=50, offset=offset), 200)
        total += sum(
            line["amount_minor"]
            for line in page["lines"]
            if line["ledger_account"].startswith("asset:receivable:")
        )
        offset += len(page["lines"])
        if len(page["lines"]) < 50:
            return total


def test_cash_loan_from_draw_to_paid_off(api: Api) -> None:
    open_cash_loan(api)
    drawn = ok(
        api.post(
            "/accounts/L1/draws",
            {
                "amount": "1200.00",
                "term": 3,
                "method": "equal-instalment",
                "business_date": "2026-01-31",
            },
            key="draw-1",
        )
    )
    assert (drawn["amount"], drawn["amount_minor"], drawn["kind"]) == ("1200.00", 120000, "draw")
    periods = drawn["data"]["periods"]
    days = [
        ("2026-02-27", "2026-02-28"),
        ("2026-03-30", "2026-03-31"),
        ("2026-04-29", "2026-04-30"),
    ]
    for number, (eve, due_on) in enumerate(days, start=1):
        closed = ok(api.post("/accounts/L1/close-day", {"through": eve}, key="unused"), 200)
        assert closed["closed_through"] == eve
        assert closed["events_posted"] > 0
        state = ok(api.get("/accounts/L1"), 200)
        billed = periods[number - 1]
        due_minor = state["balances_minor"]["interest"] + billed["principal_minor"]
        assert state["delinquency"]["bucket"] == "M0"
        amount = f"{due_minor // 100}.{due_minor % 100:02d}"
        paid = ok(
            api.post(
                "/accounts/L1/repayments",
                {"amount": amount, "business_date": due_on},
                key=f"pay-{number}",
            )
        )
        assert paid["amount_minor"] == due_minor
        assert sum(a["amount_minor"] for a in paid["data"]["allocations"]) == due_minor
    state = ok(api.get("/accounts/L1"), 200)
    assert state["balance_minor"] == 0
    assert state["balance"] == "0.00"
    assert state["available_minor"] == state["credit_limit_minor"]
    journal = ok(api.get("/accounts/L1/journal", limit=5), 200)
    assert journal["total"]["net_minor"] == 0
    assert journal["total"]["debit_minor"] == journal["total"]["credit_minor"] > 0
    assert receivable_minor(api, "L1") == 0


def test_credit_line_purchase_refund_repay_and_reverse(api: Api) -> None:
    open_credit_line(api)
    body = {"purchase_id": "p1", "amount": "1000.00", "business_date": "2026-01-06"}
    ok(api.post("/accounts/A1/purchases", body, key="buy-1", role="service"))
    body = {"purchase_id": "p1", "amount": "200.00", "business_date": "2026-01-07"}
    ok(api.post("/accounts/A1/refunds", body, key="refund-1", role="service"))
    ok(api.post("/accounts/A1/close-day", {"through": "2026-02-12"}, key="x"), 200)
    state = ok(api.get("/accounts/A1", role="collector"), 200)
    assert state["balances_minor"]["principal"] == 80000
    assert state["delinquency"]["past_due_days"] > 0
    statements = ok(api.get("/accounts/A1/statements"), 200)["statements"]
    assert statements[0]["total_minor"] == 80000
    paid = ok(
        api.post(
            "/accounts/A1/repayments",
            {"amount": "300.00", "business_date": "2026-02-13"},
            key="pay-1",
        )
    )
    after_payment = ok(api.get("/accounts/A1"), 200)
    assert after_payment["balance_minor"] == state["balance_minor"] - 30000
    assert receivable_minor(api, "A1") == after_payment["balance_minor"]
    reversal = {"sequence": paid["sequence"], "reason": "bounced", "business_date": "2026-02-13"}
    reversed_ = ok(api.post("/accounts/A1/reversals", reversal, key="rev-1"))
    assert reversed_["amount"] is None
    assert ok(api.get("/accounts/A1"), 200)["balance_minor"] == state["balance_minor"]
    assert receivable_minor(api, "A1") == state["balance_minor"]


def test_retry_returns_the_original_and_posts_once(api: Api) -> None:
    open_cash_loan(api)
    draw = {
        "amount": "500.00",
        "term": 6,
        "method": "equal-principal",
        "business_date": "2026-02-01",
    }
    first = api.post("/accounts/L1/draws", draw, key="d-1")
    again = api.post("/accounts/L1/draws", draw, key="d-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json() | {"replayed": True}
    events = ok(api.get("/accounts/L1/history", limit=1000), 200)["events"]
    assert [event["request_id"] for event in events].count("d-1") == 1
    audit = api.services.audit.records()
    draws = [record for record in audit if record.action == "accounts.draw"]
    assert [record.detail["replayed"] for record in draws] == [False, True]
    assert {record.target for record in draws} == {"account/L1"}


def test_same_key_with_another_body_is_a_conflict_and_writes_nothing(api: Api) -> None:
    open_cash_loan(api)
    draw = {
        "amount": "500.00",
        "term": 6,
        "method": "equal-principal",
        "business_date": "2026-02-01",
    }
    ok(api.post("/accounts/L1/draws", draw, key="d-1"))
    before = ok(api.get("/accounts/L1"), 200)
    response = api.post("/accounts/L1/draws", draw | {"amount": "600.00"}, key="d-1")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency_conflict"
    elsewhere = api.post(
        "/accounts/L1/repayments", {"amount": "1.00", "business_date": "2026-02-01"}, key="d-1"
    )
    assert elsewhere.status_code == 409
    assert ok(api.get("/accounts/L1"), 200) == before


def test_every_money_movement_needs_an_idempotency_key(api: Api) -> None:
    open_credit_line(api)
    bodies = {
        "purchases": {"purchase_id": "p1", "amount": "10.00", "business_date": "2026-01-06"},
        "draws": {
            "amount": "10.00",
            "term": 3,
            "method": "equal-instalment",
            "business_date": "2026-01-06",
        },
        "repayments": {"amount": "10.00", "business_date": "2026-01-06"},
        "refunds": {"purchase_id": "p1", "amount": "10.00", "business_date": "2026-01-06"},
        "reversals": {"sequence": 1, "reason": "typo", "business_date": "2026-01-06"},
    }
    for resource, body in bodies.items():
        response = api.client.post(f"/accounts/A1/{resource}", json=body, headers=api.headers())
        assert response.status_code == 422, resource
        problem = response.json()
        assert problem["code"] == "invalid_request"
        assert "Idempotency-Key" in problem["detail"]
    assert ok(api.get("/accounts/A1"), 200)["sequence"] == 1


def test_opening_an_existing_account_under_a_new_key_is_a_conflict(api: Api) -> None:
    open_cash_loan(api)
    body = {"account_id": "L1", "product_id": "jiebei-standard", "opened_on": "2026-01-31"}
    assert api.post("/accounts", body, key="open-L1").status_code == 200
    response = api.post("/accounts", body, key="open-L1-again")
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_account"


def test_unknown_account_and_product_are_404(api: Api) -> None:
    assert api.get("/accounts/NOPE").json()["code"] == "unknown_account"
    assert api.get("/accounts/NOPE").status_code == 404
    response = api.post(
        "/accounts/NOPE/repayments", {"amount": "1.00", "business_date": "2026-01-01"}, key="k"
    )
    assert response.status_code == 404
    body = {"account_id": "X", "product_id": "no-such-product", "opened_on": "2026-01-31"}
    assert api.post("/accounts", body, key="open-X").status_code == 404
    assert api.get("/products/no-such-product").status_code == 404


def test_listings_page_within_bounds(api: Api) -> None:
    for number in range(3):
        open_cash_loan(api, f"L{number}")
    assert [a["account_id"] for a in ok(api.get("/accounts", limit=2, offset=1), 200)] == [
        "L1",
        "L2",
    ]
    for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "many"}):
        response = api.get("/accounts/L1/journal", **params)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
    assert ok(api.get("/accounts/L1/journal", limit=1000), 200)["lines"] == []
    ok(
        api.post(
            "/accounts/L1/draws",
            {
                "amount": "600.00",
                "term": 3,
                "method": "equal-instalment",
                "business_date": "2026-01-31",
            },
            key="d",
        )
    )
    history = ok(api.get("/accounts/L1/history", limit=1, offset=1), 200)["events"]
    assert [(event["sequence"], event["kind"]) for event in history] == [(2, "draw")]
    lines = ok(api.get("/accounts/L1/journal", limit=1, offset=1), 200)["lines"]
    assert [(line["sequence"], line["line"]) for line in lines] == [(2, 2)]


def test_products_are_registered_by_admins_only_and_versions_are_immutable(api: Api) -> None:
    toml = {"Content-Type": "application/toml"}
    refused = api.client.post(
        "/products", content=CASH_LOAN, headers=api.headers("operator") | toml
    )
    assert refused.status_code == 403
    again = api.client.post("/products", content=CASH_LOAN, headers=api.headers("admin") | toml)
    assert again.status_code == 200
    edited = CASH_LOAN.replace("# ", "## ", 1)
    assert edited != CASH_LOAN
    conflict = api.client.post("/products", content=edited, headers=api.headers("admin") | toml)
    assert conflict.status_code == 409
    broken = api.client.post("/products", content="[product\n", headers=api.headers("admin") | toml)
    assert broken.status_code == 400
    assert broken.json()["code"] == "invalid_product"
    listed = ok(api.get("/products", role="collector"), 200)
    assert {p["product_id"] for p in listed} == {"huabei-standard", "jiebei-standard"}
    detail = ok(api.get("/products/jiebei-standard"), 200)
    assert detail["source_text"] == CASH_LOAN
