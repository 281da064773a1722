"""Refusals over HTTP: problem+json with stable codes, the right status, nothing written.

Covers authentication (401), roles (403), bad amounts, dates and bodies (400/422), oversized
bodies (413), unknown routes, internal errors that must not leak a stack trace (500), settings
that refuse weak secrets, and ``lendguard serve``'s refusal to listen beyond loopback.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lendguard.cli.serve import is_loopback, serve_command
from lendguard.service.app import create_app, request_bytes_max
from lendguard.service.deps import AUTHENTICATION_CACHE_SECONDS, PrincipalCache, get_services
from lendguard.service.pii import PiiKeyError, new_key_entry
from lendguard.service.settings import InsecureSecretError, Settings, load_settings

CASH_LOAN = Path(__file__).resolve().parents[1] / "products" / "jiebei-standard.toml"
ADMIN_KEY = "errors-admin-key-0123456789-abcdefghijkl"
PROBLEM = "application/problem+json"


@pytest.fixture
def app(store_url: str) -> Iterator[FastAPI]:
    """An app with the cash-loan product and account L1 (a 1,200.00 loan drawn on Jan 31)."""
    settings = Settings(
        db_url=store_url, pii_keys=new_key_entry("k1"), bootstrap_admin_key=ADMIN_KEY
    )
    application = create_app(settings)
    services = application.state.services
    book = services.book
    book.register_product(str(CASH_LOAN))
    book.open_account("L1", "jiebei-standard", dt.date(2026, 1, 31), request_id="open")
    book.draw("L1", dt.date(2026, 1, 31), 120_000, 3, "equal-instalment", request_id="draw")
    yield application
    services.writer.close()
    services.store.close()


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def key_for(app: FastAPI, role: str) -> str:
    return app.state.services.keys.create_key(f"test {role}", role)[1]


def bearer(key: str, idempotency_key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    return headers if idempotency_key is None else headers | {"Idempotency-Key": idempotency_key}


def problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The problem body, after checking status, media type, the stable fields and the code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"] == f"https://lendguard.dev/problems/{body['code']}"
    assert body["title"] and body["detail"]
    if code is not None:
        assert body["code"] == code
    return body


def sequence(client: TestClient) -> int:
    """The account's head: unchanged means nothing was written."""
    return client.get("/accounts/L1", headers=bearer(ADMIN_KEY)).json()["sequence"]


# --- authentication and roles ------------------------------------------------------------------


def test_requests_without_a_valid_key_are_401(client: TestClient, app: FastAPI) -> None:
    problem(client.get("/accounts/L1"), 401, "unauthenticated")
    problem(client.get("/accounts/L1", headers=bearer("lg_nope_" + "x" * 43)), 401)
    problem(client.get("/accounts/L1", headers={"Authorization": "Basic abc"}), 401)
    problem(client.get("/accounts/L1", headers={"X-API-Key": ""}), 401)
    response = client.get("/accounts/L1")
    assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/accounts/L1", headers={"X-API-Key": ADMIN_KEY}).status_code == 200
    revoked = app.state.services.keys.create_key("leaver", "operator")
    app.state.services.keys.revoke(revoked[0])
    problem(client.get("/accounts/L1", headers=bearer(revoked[1])), 401)


def test_a_cached_key_still_needs_its_role_and_a_revoked_one_expires(
    client: TestClient, app: FastAPI
) -> None:
    services = app.state.services
    now = [0.0]
    services.principals = PrincipalCache(services.keys, clock=lambda: now[0])
    key_id, auditor = services.keys.create_key("auditor", "auditor")
    assert client.get("/accounts/L1", headers=bearer(auditor)).status_code == 200
    assert services.principals.cached(auditor) is not None
    body = {"amount": "1.00", "business_date": "2026-02-01"}
    refused = client.post("/accounts/L1/repayments", json=body, headers=bearer(auditor, "k1"))
    problem(refused, 403, "forbidden")
    services.keys.revoke(key_id)
    assert client.get("/accounts/L1", headers=bearer(auditor)).status_code == 200
    now[0] += AUTHENTICATION_CACHE_SECONDS
    problem(client.get("/accounts/L1", headers=bearer(auditor)), 401, "unauthenticated")


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("operator", True),
        ("service", True),
        ("admin", True),
        ("auditor", False),
        ("collector", False),
        ("risk_analyst", False),
    ],
)
def test_only_money_roles_move_money(
    client: TestClient, app: FastAPI, role: str, allowed: bool
) -> None:
    key = ADMIN_KEY if role == "admin" else key_for(app, role)
    body = {"amount": "10.00", "business_date": "2026-02-01"}
    response = client.post("/accounts/L1/repayments", json=body, headers=bearer(key, "r1"))
    if allowed:
        assert response.status_code == 201, response.text
    else:
        problem(response, 403, "forbidden")
        assert sequence(client) == 2
    assert client.get("/accounts/L1", headers=bearer(key)).status_code == 200


def test_opening_accounts_and_closing_days_need_their_permissions(
    client: TestClient, app: FastAPI
) -> None:
    collector = key_for(app, "collector")
    service = key_for(app, "service")
    body = {"account_id": "L9", "product_id": "jiebei-standard", "opened_on": "2026-01-31"}
    problem(client.post("/accounts", json=body, headers=bearer(collector, "o9")), 403)
    assert client.post("/accounts", json=body, headers=bearer(service, "o9")).status_code == 201
    close = {"through": "2026-02-05"}
    problem(client.post("/accounts/L1/close-day", json=close, headers=bearer(service)), 403)
    assert sequence(client) == 2


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "status", "code"),
    [
        ("0.00", 400, "invalid_amount"),
        ("1.001", 400, "invalid_amount"),
        ("99999999999999.99", 400, "invalid_amount"),
        ("-5.00", 422, "invalid_request"),
        ("1e3", 422, "invalid_request"),
        ("", 422, "invalid_request"),
        ("NaN", 422, "invalid_request"),
        (12.5, 422, "invalid_request"),
        (1250, 422, "invalid_request"),
        (None, 422, "invalid_request"),
    ],
)
def test_bad_amounts_are_refused_and_write_nothing(
    client: TestClient, amount: Any, status: int, code: str
) -> None:
    body = {"amount": amount, "business_date": "2026-02-01"}
    response = client.post("/accounts/L1/repayments", json=body, headers=bearer(ADMIN_KEY, "r"))
    problem(response, status, code)
    assert sequence(client) == 2
    history = client.get("/accounts/L1/history", headers=bearer(ADMIN_KEY)).json()
    assert "r" not in [event["request_id"] for event in history["events"]]
    retried = {"amount": "1.00", "business_date": "2026-02-01"}
    assert (
        client.post(
            "/accounts/L1/repayments", json=retried, headers=bearer(ADMIN_KEY, "r")
        ).status_code
        == 201
    )


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "1.00", "business_date": 20260201},
        {"amount": "1.00", "business_date": "2026-13-01"},
        {"amount": "1.00", "business_date": "01/02/2026"},
        {"amount": "1.00"},
        {"amount": "1.00", "business_date": "2026-02-01", "currency": "USD"},
        [],
    ],
)
def test_malformed_bodies_are_422(client: TestClient, body: Any) -> None:
    response = client.post("/accounts/L1/repayments", json=body, headers=bearer(ADMIN_KEY, "r"))
    assert problem(response, 422, "invalid_request")["errors"]
    assert sequence(client) == 2


def test_refusals_by_the_ledger_keep_their_codes(client: TestClient) -> None:
    headers = bearer(ADMIN_KEY)
    before_open = {"amount": "1.00", "business_date": "2026-01-01"}
    response = client.post(
        "/accounts/L1/repayments", json=before_open, headers=headers | {"Idempotency-Key": "a"}
    )
    problem(response, 400, "invalid_date")
    far = {"amount": "1.00", "business_date": "2031-01-01"}
    response = client.post(
        "/accounts/L1/repayments", json=far, headers=headers | {"Idempotency-Key": "b"}
    )
    problem(response, 409, "catch_up_too_long")
    small = {
        "amount": "100.00",
        "term": 3,
        "method": "equal-instalment",
        "business_date": "2026-02-01",
    }
    response = client.post(
        "/accounts/L1/draws", json=small, headers=headers | {"Idempotency-Key": "c"}
    )
    problem(response, 400, "invalid_event")
    purchase = {"purchase_id": "p", "amount": "1.00", "business_date": "2026-02-01"}
    response = client.post(
        "/accounts/L1/purchases", json=purchase, headers=headers | {"Idempotency-Key": "d"}
    )
    problem(response, 409, "account_state")
    assert sequence(client) == 2


def test_bad_idempotency_keys_and_ids_are_422(client: TestClient) -> None:
    body = {"amount": "1.00", "business_date": "2026-02-01"}
    for key in ("", "with space", "x" * 65):
        response = client.post("/accounts/L1/repayments", json=body, headers=bearer(ADMIN_KEY, key))
        problem(response, 422, "invalid_request")
    problem(client.get("/accounts/" + "x" * 65, headers=bearer(ADMIN_KEY)), 422)
    assert sequence(client) == 2


def test_oversized_bodies_are_413(client: TestClient) -> None:
    headers = bearer(ADMIN_KEY) | {"Content-Type": "application/toml"}
    problem(
        client.post("/products", content=b"#" * (request_bytes_max + 1), headers=headers),
        413,
        "request_too_large",
    )

    def chunks() -> Iterator[bytes]:
        for _ in range(request_bytes_max // 65_536 + 2):
            yield b"#" * 65_536

    problem(client.post("/products", content=chunks(), headers=headers), 413, "request_too_large")


def test_unknown_routes_and_methods_are_problems(client: TestClient) -> None:
    problem(client.get("/nowhere", headers=bearer(ADMIN_KEY)), 404, "not_found")
    problem(client.delete("/accounts/L1", headers=bearer(ADMIN_KEY)), 405, "method_not_allowed")


# --- internal errors ---------------------------------------------------------------------------


def test_an_internal_error_is_a_bare_500(
    client: TestClient, app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> Any:
        raise RuntimeError("secret internals at /srv/lendguard/db.py line 42")

    app.dependency_overrides[get_services] = broken
    with caplog.at_level(logging.ERROR, logger="lendguard.service"):
        response = client.get("/accounts/L1", headers=bearer(ADMIN_KEY))
    body = problem(response, 500, "internal_error")
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    assert set(body) == {"type", "title", "status", "detail", "code"}
    assert "secret internals" in caplog.text


# --- settings and serve ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    ["changeme", "CHANGEME", "secret", "admin", "short-but-random-Q7x", "a" * 40, "ab" * 20],
)
def test_weak_admin_keys_stop_the_service(secret: str) -> None:
    with pytest.raises(InsecureSecretError) as refused:
        Settings(db_url="sqlite://", bootstrap_admin_key=secret)
    assert secret not in str(refused.value) or secret in {"changeme", "secret", "admin"}


def test_settings_come_from_the_environment() -> None:
    environ = {
        "LENDGUARD_DB": "sqlite:///x.sqlite",
        "LENDGUARD_ADMIN_KEY": ADMIN_KEY,
        "LENDGUARD_PII_KEYS": "k1:abc",
        "LENDGUARD_MODELS_DIR": "/srv/models",
        "LENDGUARD_MODEL_KEY": ADMIN_KEY[::-1],
        "LENDGUARD_EOD_OUT": "/srv/eod",
    }
    settings = load_settings(environ=environ)
    assert settings == Settings(
        db_url="sqlite:///x.sqlite",
        pii_keys="k1:abc",
        bootstrap_admin_key=ADMIN_KEY,
        models_dir=Path("/srv/models"),
        model_key=ADMIN_KEY[::-1].encode(),
        eod_out_dir=Path("/srv/eod"),
    )
    assert ADMIN_KEY not in repr(settings)
    assert ADMIN_KEY[::-1] not in repr(settings)
    assert load_settings("sqlite:///y.sqlite", environ).db_url == "sqlite:///y.sqlite"
    defaults = load_settings(environ={})
    assert (defaults.db_url, defaults.bootstrap_admin_key, defaults.model_key) == (
        "sqlite:///lendguard.sqlite",
        None,
        None,
    )
    for name in ("LENDGUARD_ADMIN_KEY", "LENDGUARD_MODEL_KEY"):
        with pytest.raises(InsecureSecretError, match=name):
            load_settings(environ=environ | {name: "changeme"})


def test_the_service_needs_data_keys(tmp_path: Path) -> None:
    with pytest.raises(PiiKeyError):
        create_app(Settings(db_url=f"sqlite:///{tmp_path / 'x.sqlite'}"))


def test_the_bootstrap_key_is_stored_once(tmp_path: Path) -> None:
    settings = Settings(
        db_url=f"sqlite:///{tmp_path / 'x.sqlite'}",
        pii_keys=new_key_entry("k1"),
        bootstrap_admin_key=ADMIN_KEY,
    )
    for _ in range(2):
        app = create_app(settings)
        with TestClient(app) as client:
            assert client.get("/products", headers=bearer(ADMIN_KEY)).status_code == 200
    assert len(app.state.services.keys.list_keys()) == 1


def test_serve_stays_on_loopback_unless_told(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **options: started.append(options))
    monkeypatch.setenv("LENDGUARD_PII_KEYS", new_key_entry("k1"))
    monkeypatch.delenv("LENDGUARD_ADMIN_KEY", raising=False)
    cli = typer.Typer()
    cli.command()(serve_command)
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'serve.sqlite'}"
    refused = runner.invoke(cli, ["--host", "0.0.0.0", "--db", db])
    assert refused.exit_code == 2
    assert "loopback" in refused.output
    assert started == []
    assert runner.invoke(cli, ["--port", "8123", "--db", db]).exit_code == 0
    assert started[-1]["host"] == "127.0.0.1"
    assert started[-1]["port"] == 8123
    allowed = runner.invoke(cli, ["--host", "0.0.0.0", "--allow-remote", "--db", db])
    assert allowed.exit_code == 0
    assert started[-1]["host"] == "0.0.0.0"
    monkeypatch.setenv("LENDGUARD_ADMIN_KEY", "changeme")
    weak = runner.invoke(cli, ["--db", db])
    assert weak.exit_code == 2
    assert "insecure_secret" in weak.output


def test_loopback_hosts() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.8.0.1", "::1", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "10.0.0.1", "::", "example.com", ""]))
