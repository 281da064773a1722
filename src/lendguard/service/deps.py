"""Typed dependencies every router shares: the services, the caller, its permissions, a page.

Routers declare what they need (``Annotated[Principal, Depends(require("money:write"))]``) and
FastAPI resolves it per request; nothing here knows a route. ``Services`` is built once per app
by :func:`lendguard.service.app.create_app` and kept on ``app.state.services``.

No ``from __future__ import annotations``: FastAPI reads these signatures at runtime, and a
dependency whose annotation it cannot resolve silently becomes a query parameter.

The dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in its
thread pool, a hop per dependency per request. :func:`get_principal` answers from
:class:`PrincipalCache` on the event loop and goes to the thread pool only to query the database.
"""

import datetime as dt
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import make_url, text

from lendguard import limits
from lendguard.service import roles
from lendguard.service.errors import ProblemError
from lendguard.service.security import Principal, api_key_chars_max
from lendguard.store import create_engine_for

if TYPE_CHECKING:
    from lendguard.ledger.book import Book
    from lendguard.service.audit import AuditLog
    from lendguard.service.pii import PersonalDataVault
    from lendguard.service.security import ApiKeyStore
    from lendguard.service.settings import Settings
    from lendguard.store import Store
    from lendguard.store.underwriting import DecisionStore
    from lendguard.underwriting.desk import UnderwritingDesk

ACCOUNT_LOCK_STRIPES = 256
"""Locks shared by all accounts (an account maps to one by hash): bounded memory, and two busy
accounts rarely share a stripe."""

ACCOUNT_LOCK_CLASS = 0x4C47_4143
"""First key of the PostgreSQL advisory lock of an account ("LGAC"); close of business uses
another class, so the two never collide."""

ACCOUNT_LOCK_FILE_SUFFIX = ".accounts.lock"

AUTHENTICATION_CACHE_SECONDS = 2.0
"""How long a successful API-key authentication is reused without asking the database: a revoked
key (or one whose role changed) keeps working for at most this long in each process. Unknown and
revoked keys are never remembered, so a new key works at once."""

authentication_cache_entries_max = 10_000
"""Keys remembered at once per process; past it the expired ones go, then all of them."""


class SharedAccountLock(Protocol):
    """Mutual exclusion per account between the processes serving one database."""

    def hold(self, account_id: str, stripe: int) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...


class PostgresAccountLock:
    """A transaction-scoped advisory lock per account, on connections of its own.

    Its own engine (pool) so that a request waiting for a lock never holds a connection the
    requests it waits for need; the lock ends with the transaction, so a crashed holder's
    connection releases it. Keyed by schema and account id (tenants and tests share databases).
    """

    def __init__(self, url: str) -> None:
        self._engine = create_engine_for(url)

    @contextmanager
    def hold(self, account_id: str, stripe: int) -> Iterator[None]:
        del stripe  # the advisory key is the account's own hash
        with self._engine.begin() as connection:
            connection.execute(
                text(
                    "SELECT pg_advisory_xact_lock(:lock_class, "
                    "hashtext(current_schema() || '/' || :account_id))"
                ),
                {"lock_class": ACCOUNT_LOCK_CLASS, "account_id": account_id},
            )
            yield

    def close(self) -> None:
        self._engine.dispose()


class FileAccountLock:
    """``lockf`` on the stripe's byte of ``<database>.accounts.lock`` beside a SQLite file.

    POSIX record locks belong to the process, not the thread, so this only ever runs under the
    stripe's thread lock; the file stays open until :meth:`close` because closing any descriptor
    of it would drop every lock the process holds on it. After ``close`` (an app's shutdown) the
    next request opens it again: test clients and servers may restart an app's lifespan.
    """

    def __init__(self, database: str) -> None:
        self._path = Path(database).with_name(Path(database).name + ACCOUNT_LOCK_FILE_SUFFIX)
        self._descriptor = -1
        self._opening = threading.Lock()

    def _open(self) -> int:
        with self._opening:
            if self._descriptor < 0:
                self._descriptor = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            return self._descriptor

    @contextmanager
    def hold(self, account_id: str, stripe: int) -> Iterator[None]:
        del account_id  # the stripe's byte is the lock
        descriptor = self._open()
        fcntl.lockf(descriptor, fcntl.LOCK_EX, 1, stripe)
        try:
            yield
        finally:
            fcntl.lockf(descriptor, fcntl.LOCK_UN, 1, stripe)

    def close(self) -> None:
        with self._opening:
            if self._descriptor >= 0:
                os.close(self._descriptor)
                self._descriptor = -1


def shared_account_lock(url: str) -> SharedAccountLock | None:
    """The cross-process lock for the database at ``url`` (none for in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return PostgresAccountLock(url)
    if parsed.database and parsed.database != ":memory:":
        return FileAccountLock(parsed.database)
    return None


class AccountLocks:
    """Mutual exclusion per account: between threads, and between processes when ``shared``.

    Why: ``Book`` caches each account's state and mutates it in place, so two threads of one
    process must not run a request on the same account at once. Between processes the store's
    compare-and-set refuses a stale write, but alone it starves: the process that just wrote has
    the state cached and wins every race against one that must fold the log again. The shared
    lock makes processes take turns; the compare-and-set stays the guard against writers that
    take no lock (close of business, the CLI).
    """

    def __init__(
        self, stripes: int = ACCOUNT_LOCK_STRIPES, shared: SharedAccountLock | None = None
    ) -> None:
        self._locks = [threading.Lock() for _ in range(stripes)]
        self._shared = shared

    def _stripe(self, account_id: str) -> int:
        digest = hashlib.blake2b(account_id.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % len(self._locks)

    @contextmanager
    def hold(self, account_id: str) -> Iterator[None]:
        """This process's lock on the account, then the shared one (for writes: reads fold
        their own state and need neither)."""
        stripe = self._stripe(account_id)
        with self._locks[stripe]:
            if self._shared is None:
                yield
                return
            with self._shared.hold(account_id, stripe):
                yield

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()


class PrincipalCache:
    """Successful authentications of one :class:`ApiKeyStore`, each reused for ``ttl`` seconds.

    Why: every request presents a key, and checking it is a database round trip (a sixth of a
    repayment's time). Keyed by the SHA-256 of the presented key, so the process's memory never
    holds a plaintext key; an entry is only ever made from the store's own answer, so the cache
    can delay a revocation by ``ttl`` but can never admit a key the store refused. Failures are not
    cached: a mistyped or revoked key asks the store every time, and cannot fill the cache.
    """

    def __init__(
        self,
        keys: "ApiKeyStore",
        ttl: float = AUTHENTICATION_CACHE_SECONDS,
        entries_max: int = authentication_cache_entries_max,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = keys
        self._ttl = ttl
        self._entries_max = entries_max
        self._clock = clock
        self._entries: dict[bytes, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def cached(self, plaintext: str) -> Principal | None:
        """The principal remembered for this key if still fresh, without any I/O."""
        if not 0 < len(plaintext) <= api_key_chars_max:
            return None
        entry = self._entries.get(_cache_key(plaintext))
        if entry is None or self._clock() >= entry[0]:
            return None
        return entry[1]

    def authenticate(self, plaintext: str) -> Principal | None:
        """:meth:`ApiKeyStore.authenticate`, answered from the cache while an entry is fresh."""
        principal = self.cached(plaintext)
        if principal is not None:
            return principal
        principal = self._keys.authenticate(plaintext)
        if principal is not None:
            self._remember(_cache_key(plaintext), principal)
        return principal

    def clear(self) -> None:
        """Forget every authentication (the next request of each key asks the store)."""
        with self._lock:
            self._entries.clear()

    def _remember(self, key: bytes, principal: Principal) -> None:
        with self._lock:
            now = self._clock()
            if len(self._entries) >= self._entries_max:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= self._entries_max:
                    self._entries.clear()
            self._entries[key] = (now + self._ttl, principal)


def _cache_key(plaintext: str) -> bytes:
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).digest()


@dataclass
class Services:
    """What routers need, built once per app (names fixed by docs/service.md)."""

    book: "Book"
    store: "Store"
    decisions: "DecisionStore"
    desk_factory: Callable[[], "UnderwritingDesk"]
    """Builds (once, then cached) the underwriting desk: loading the scorecard is slow, and most
    processes never underwrite."""
    keys: "ApiKeyStore"
    audit: "AuditLog"
    vault: "PersonalDataVault"
    settings: "Settings"
    account_locks: AccountLocks = field(default_factory=AccountLocks)
    principals: PrincipalCache = field(init=False)
    """``keys.authenticate`` with successful answers reused briefly (:class:`PrincipalCache`)."""

    def __post_init__(self) -> None:
        self.principals = PrincipalCache(self.keys)


async def get_services(request: Request) -> Services:
    """The app's services (set by ``create_app``)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token.")
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key (alternative to Bearer)."
)


def _unauthenticated(detail: str) -> ProblemError:
    return ProblemError(401, "unauthenticated", detail, headers={"WWW-Authenticate": "Bearer"})


async def get_principal(
    services: Annotated[Services, Depends(get_services)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> Principal:
    """The caller behind ``Authorization: Bearer <key>`` or ``X-API-Key`` (401 if neither works).

    A key authenticated in the last :data:`AUTHENTICATION_CACHE_SECONDS` is answered from memory;
    otherwise the store is asked, in the thread pool (it blocks).
    """
    presented = bearer.credentials if bearer is not None else api_key
    if not presented:
        raise _unauthenticated("an API key is required (Authorization: Bearer <key>)")
    principal = services.principals.cached(presented)
    if principal is None:
        principal = await run_in_threadpool(services.principals.authenticate, presented)
    if principal is None:
        raise _unauthenticated("the API key is not valid")
    return principal


def require(permission: str) -> Callable[..., Principal]:
    """A dependency admitting only callers whose role holds ``permission`` (403 otherwise).

    The permission must exist in the role matrix: a typo is a programmer error and fails when the
    router module is imported, not on the first request.
    """
    if permission not in roles.PERMISSIONS:
        raise AssertionError(f"unknown permission {permission!r}")

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not roles.allowed(principal.role, permission):
            raise ProblemError(403, "forbidden", f"role {principal.role!r} may not {permission}")
        return principal

    check.__name__ = f"require_{permission.replace(':', '_')}"
    return check


@dataclass(frozen=True)
class Page:
    """``?limit=`` (1..``limits.page_size_max``) and ``?offset=`` (>= 0) of a listing."""

    limit: int
    offset: int


PAGE_SIZE_DEFAULT = 100


async def get_page(
    limit: Annotated[int, Query(ge=1, le=limits.page_size_max)] = PAGE_SIZE_DEFAULT,
    offset: Annotated[int, Query(ge=0, le=limits.events_per_account_max)] = 0,
) -> Page:
    """The requested page; out-of-range values are a 422 problem, never silently clamped."""
    return Page(limit, offset)


PageDep = Annotated[Page, Depends(get_page)]


def audit_event(
    services: Services,
    principal: Principal,
    action: str,
    target: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append one record to the audit log: who (key id) did what to which resource, and when.

    ``detail`` must hold no plaintext personal data. The time is the service's clock (UTC): the
    audit log records when a request arrived, not its business date.
    """
    services.audit.append(
        actor=principal.key_id,
        action=action,
        target=target,
        detail=dict(detail or {}),
        at=dt.datetime.now(dt.UTC),
    )
