"""Shared fixtures: a fresh, isolated ledger database per test, on SQLite and on PostgreSQL.

PostgreSQL tests never skip: a server that is down fails them loudly (CI starts one). Each test
gets its own schema, so runs are isolated and can repeat against the same database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lendguard.store import Store, open_store
from lendguard.store.database import scratch_postgres_schema

POSTGRES_URL = os.environ.get(
    "LENDGUARD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
"""The PostgreSQL database the tests create their schemas in."""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a temporary SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    else:
        with scratch_postgres_schema(POSTGRES_URL, "t") as url:
            yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store on ``store_url``, closed after the test."""
    opened = open_store(store_url)
    yield opened
    opened.close()
