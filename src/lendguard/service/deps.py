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
import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from lendguard import limits
from lendguard.service import roles
from lendguard.service.errors import ProblemError
from lendguard.service.ledger_writer import LedgerWriter
from lendguard.service.security import Principal, api_key_chars_max

if TYPE_CHECKING:
    from lendguard.ledger.book import Book
    from lendguard.service.audit import AuditLog
    from lendguard.service.pii import PersonalDataVault
    from lendguard.service.security import ApiKeyStore
    from lendguard.service.settings import Settings
    from lendguard.store import Store
    from lendguard.store.underwriting import DecisionStore
    from lendguard.underwriting.desk import UnderwritingDesk

AUTHENTICATION_CACHE_SECONDS = 2.0
"""How long a successful API-key authentication is reused without asking the database: a revoked
key (or one whose role changed) keeps working for at most this long in each process. Unknown and
revoked keys are never remembered, so a new key works at once."""

authentication_cache_entries_max = 10_000
"""Keys remembered at once per process; past it the expired ones go, then all of them."""


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
    principals: PrincipalCache = field(init=False)
    """``keys.authenticate`` with successful answers reused briefly (:class:`PrincipalCache`)."""
    writer: LedgerWriter = field(init=False)
    """The only writer through ``book``: routes that change accounts queue their requests here."""

    def __post_init__(self) -> None:
        self.principals = PrincipalCache(self.keys)
        self.writer = LedgerWriter(self.store, self.audit, lambda: self.book)


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
