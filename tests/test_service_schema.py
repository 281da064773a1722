"""Schemathesis over the service's OpenAPI schema: generated requests never get a server error.

Runs on SQLite with an admin key (every route reachable) and a small, fixed number of examples per
operation, so the suite stays fast and the result does not depend on the run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.schemas import APIOperation

from lendguard.service.app import create_app
from lendguard.service.pii import new_key_entry
from lendguard.service.settings import Settings

CASH_LOAN = Path(__file__).resolve().parents[1] / "products" / "jiebei-standard.toml"
ADMIN_KEY = "schema-admin-key-0123456789-abcdefghijklmn"


def _app(folder: Path) -> FastAPI:
    application = create_app(
        Settings(
            db_url=f"sqlite:///{folder / 'service.sqlite'}",
            pii_keys=new_key_entry("k1"),
            bootstrap_admin_key=ADMIN_KEY,
        )
    )
    book = application.state.services.book
    book.register_product(str(CASH_LOAN))
    book.open_account("L1", "jiebei-standard", dt.date(2026, 1, 31), request_id="open")
    book.draw("L1", dt.date(2026, 1, 31), 120_000, 3, "equal-instalment", request_id="draw")
    return application


def test_no_generated_request_gets_a_server_error(tmp_path: Path) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", _app(tmp_path))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        _check(operation)


def _check(operation: APIOperation) -> None:
    @settings(
        max_examples=8,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: Case) -> None:
        response = case.call(headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        label = f"{case.method} {case.formatted_path}"
        assert response.status_code < 500, (label, response.text[:300])

    check()
