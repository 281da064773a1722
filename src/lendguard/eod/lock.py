"""The close-of-business lock: one run at a time per book, released when its process dies.

Two runs over the same accounts would race for every compare-and-set and double the work, whatever
their business dates, so the lock covers the book, not one date. It must die with its holder: a
killed run must not block the rerun that resumes it. Hence locks the operating system or the
database drop with the process or its connection, never a row or a file that says "running":
- PostgreSQL: a session advisory lock, keyed by the book's schema (tests and tenants share one
  database in separate schemas);
- SQLite: ``flock`` on a lock file beside the database (the file stays; the lock is the flock).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import make_url

from lendguard.errors import LendGuardError
from lendguard.store import create_engine_for

ADVISORY_LOCK_CLASS = 0x4C47_454F
"""First key of the PostgreSQL advisory lock ("LGEO"); the second is the schema's hash."""

LOCK_FILE_SUFFIX = ".eod.lock"


class EodLockedError(LendGuardError):
    """Another close-of-business run holds the book's lock. Nothing was written."""

    code = "eod_locked"


class UnsupportedEodDatabaseError(LendGuardError):
    """Close of business needs a database other processes can open (not in-memory SQLite)."""

    code = "unsupported_eod_database"


@contextmanager
def eod_lock(store_url: str) -> Iterator[None]:
    """Hold the book's close-of-business lock for the block, or raise :class:`EodLockedError`."""
    backend = make_url(store_url).get_backend_name()
    locker = _postgres_lock if backend == "postgresql" else _file_lock
    with locker(store_url):
        yield


@contextmanager
def _postgres_lock(store_url: str) -> Iterator[None]:
    """A session advisory lock on a connection of its own, held until the block ends."""
    engine = create_engine_for(store_url)
    try:
        with engine.connect() as connection:
            key = f"{ADVISORY_LOCK_CLASS}, hashtext(current_schema())"
            locked = connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar()
            connection.commit()
            if not locked:
                raise EodLockedError(_locked_message(store_url))
            try:
                yield
            finally:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
                connection.commit()
    finally:
        engine.dispose()


@contextmanager
def _file_lock(store_url: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``<database>.eod.lock``, held until the block ends."""
    database = make_url(store_url).database
    if not database or database == ":memory:":
        raise UnsupportedEodDatabaseError(
            "close of business runs in several processes: use a SQLite file or PostgreSQL"
        )
    path = Path(database).with_name(Path(database).name + LOCK_FILE_SUFFIX)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EodLockedError(_locked_message(store_url)) from None
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _locked_message(store_url: str) -> str:
    shown = make_url(store_url).render_as_string(hide_password=True)
    return f"another close-of-business run holds the lock on {shown}; wait for it to finish"
