"""Engines and migrations: where the store's data lives and how its schema gets there.

SQLite is the single-machine default; PostgreSQL serves shared deployments. Both get the same
schema from the same Alembic migrations, run programmatically so an installed package migrates
from any working directory with no ``alembic.ini``.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, make_url

from lendguard.errors import LendGuardError
from lendguard.jsontext import dumps, loads
from lendguard.store.repository import BEGIN_IMMEDIATE_OPTION, Store
from lendguard.store.schema import metadata

DATABASE_URL_VARIABLE = "LENDGUARD_DB"
"""Environment variable naming the database URL."""

DEFAULT_URL = "sqlite:///lendguard.sqlite"
"""A SQLite file in the current directory: works with no setup for a single user."""

MIGRATIONS_DIRECTORY = Path(__file__).parent / "migrations"

SQLITE_BUSY_TIMEOUT_MILLISECONDS = 5_000
"""How long a SQLite writer waits for another's lock before failing: far above one append."""

MIGRATION_LOCK_KEY = 0x4C47_5354
"""PostgreSQL advisory lock id ("LGST") that serialises concurrent migrations."""


class UnsupportedDatabaseError(LendGuardError):
    """A database URL for a backend the store does not support."""

    code = "unsupported_database"


def default_url() -> str:
    """The database URL from ``LENDGUARD_DB``, else :data:`DEFAULT_URL`."""
    return os.environ.get(DATABASE_URL_VARIABLE, DEFAULT_URL)


_JSON_CODEC = {"json_serializer": dumps, "json_deserializer": loads}
"""JSON columns (snapshots, events, records) through the fast codec: same values as ``json``."""


def create_engine_for(url: str) -> Engine:
    """An engine tuned for its backend: SQLite (WAL) or PostgreSQL through psycopg 3."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        # Named parameters, as with psycopg: the store's pre-compiled writes pass dict rows.
        engine = create_engine(url, paramstyle="named", **_JSON_CODEC)
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    if backend == "postgresql":
        return create_engine(url, **_JSON_CODEC)
    raise UnsupportedDatabaseError(f"unsupported database {backend!r}: use sqlite or postgresql")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration; a no-op when it is already there."""
    with engine.execution_options(**{BEGIN_IMMEDIATE_OPTION: True}).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        command.upgrade(_alembic_config(connection), "head")


def open_store(url: str | None = None) -> Store:
    """A migrated store at ``url`` (default: :func:`default_url`)."""
    engine = create_engine_for(default_url() if url is None else url)
    migrate(engine)
    return Store(engine)


def _alembic_config(connection: Connection) -> Config:
    """Alembic settings built in code; ``env.py`` runs on the connection passed here."""
    config = Config()
    # configparser treats "%" as interpolation, so a path containing it must be escaped.
    config.set_main_option("script_location", str(MIGRATIONS_DIRECTORY).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


SQLITE_ATTACHED_MAX = 10
"""SQLite's default limit on attached files (``SQLITE_MAX_ATTACHED``)."""

SHARED_TABLES = frozenset({"products"})
"""Tables every shard holds the same rows of: merged once (identical rows are skipped)."""


@contextmanager
def scratch_postgres_schema(server_url: str, prefix: str) -> Iterator[str]:
    """A URL to a new, empty schema in the PostgreSQL database at ``server_url`` (its
    ``search_path`` set to it), dropped with everything in it on exit.

    For tests and benchmarks: runs stay isolated from each other and can repeat against the same
    database. ``prefix`` names who made it (a schema left by a killed run is easy to trace).
    """
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        url = make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def merge_sqlite_shards(target_url: str, shard_paths: Sequence[Path]) -> None:
    """Copy every row of SQLite shards into the target store, in one transaction, then delete
    the shards.

    Why: writers in separate processes each keep their own file (no lock waits between them)
    and one merge at the end costs a bulk copy inside SQLite. Every file carries the same
    migrations, so tables line up column for column; a row two shards both hold (other than
    the shared product texts) is refused, and nothing is merged.
    """
    target = make_url(target_url)
    assert target.get_backend_name() == "sqlite" and target.database, target_url
    assert len(shard_paths) <= SQLITE_ATTACHED_MAX, "SQLite attaches at most ten files"
    connection = sqlite3.connect(target.database, isolation_level=None)
    try:
        connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MILLISECONDS}")
        for number, path in enumerate(shard_paths):
            connection.execute(f"ATTACH DATABASE ? AS shard{number}", (str(path),))
        connection.execute("BEGIN IMMEDIATE")
        try:
            for number in range(len(shard_paths)):
                for table in metadata.sorted_tables:
                    verb = "INSERT OR IGNORE" if table.name in SHARED_TABLES else "INSERT"
                    connection.execute(
                        f"{verb} INTO main.{table.name} SELECT * FROM shard{number}.{table.name}"
                    )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    finally:
        connection.close()
    for path in shard_paths:
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)


def _configure_sqlite(dbapi_connection: Any, _connection_record: Any) -> None:
    """Per-connection SQLite settings.

    WAL lets readers run beside the writer; ``synchronous=NORMAL`` in WAL mode survives a process
    crash and loses at most the last commits on power loss; foreign keys are off by default in
    SQLite. ``isolation_level = None`` hands BEGIN to :func:`_begin_sqlite`.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MILLISECONDS}")
    cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    """Start write transactions with ``BEGIN IMMEDIATE``.

    A deferred transaction that reads and then writes cannot wait for the lock once another
    writer has committed (``SQLITE_BUSY_SNAPSHOT``); taking the lock at BEGIN makes writers queue
    under the busy timeout instead. Reads keep a deferred BEGIN so they never block writers.
    """
    immediate = connection.get_execution_options().get(BEGIN_IMMEDIATE_OPTION, False)
    # Straight to the driver: this runs once per transaction, and going through
    # exec_driver_sql cost a fifth of a small append.
    connection.connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
