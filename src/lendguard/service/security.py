"""API keys: issued once in plaintext, stored only as a digest, checked on every request.

A key reads ``lg_<key id>_<secret>``: the key id is public (the audit log names callers by it),
the secret is 256 bits from :mod:`secrets`. The database holds ``sha256:<hex>`` of the whole key,
or ``hmac-sha256:<hex>`` when the store is given a pepper kept outside the database, so a leaked
table alone cannot be used to call the service. Keys are looked up by digest: a digest reveals
nothing usable about its key, so the lookup's timing cannot help a guesser; the fetched digest
is still compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, Insert, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from lendguard import limits
from lendguard.errors import LendGuardError
from lendguard.service import roles
from lendguard.store.repository import BEGIN_IMMEDIATE_OPTION, InvalidPageError
from lendguard.store.service_tables import api_keys

KEY_PREFIX = "lg"
KEY_ID_BYTES = 8
"""64 random bits: ids only need to be unique, not secret."""

SECRET_BYTES = 32
"""256 bits of secret per issued key."""

api_key_chars_max = 256
"""Longest presented key that is hashed at all: an issued key has 63 characters."""

imported_key_chars_min = 32
"""Shortest caller-chosen key :meth:`ApiKeyStore.ensure_key` accepts."""

key_name_chars_max = 100
"""Longest key name (who or what holds the key)."""

pepper_bytes_min = 32
"""Shortest pepper accepted: it must be as hard to guess as a key."""

_INSERT_IGNORING_DUPLICATES = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


class InvalidRoleError(LendGuardError):
    """A key asked for a role that does not exist."""

    code = "invalid_role"


class InvalidApiKeyError(LendGuardError):
    """A key name or a caller-chosen key that cannot be stored as given."""

    code = "invalid_api_key"


class UnknownApiKeyError(LendGuardError):
    """No key with that id."""

    code = "unknown_api_key"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    key_id: str
    name: str
    role: str


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown about a stored key: never its digest."""

    key_id: str
    name: str
    role: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ApiKeyStore:
    """Issues, checks and revokes API keys in the ``api_keys`` table of one engine.

    ``pepper`` (optional, at least 32 bytes, from outside the database) turns the stored digests
    into HMACs; changing it invalidates every key stored under the old one. ``clock`` stamps when a
    key was created or revoked: those are wall-clock facts, not business dates.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        pepper: bytes | None = None,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        if pepper is not None and len(pepper) < pepper_bytes_min:
            raise InvalidApiKeyError(f"the key pepper must be at least {pepper_bytes_min} bytes")
        self._engine = engine
        self._write_engine = engine.execution_options(**{BEGIN_IMMEDIATE_OPTION: True})
        self._pepper = pepper
        self._clock = clock
        # ensure_key's insert: a row already holding the digest wins, even under a race.
        self._insert_new = _INSERT_IGNORING_DUPLICATES[engine.dialect.name](
            api_keys
        ).on_conflict_do_nothing()

    def create_key(self, name: str, role: str) -> tuple[str, str]:
        """Issue a key: ``(key_id, plaintext)``. The plaintext is shown once and never stored."""
        _check_name(name)
        _check_role(role)
        key_id = secrets.token_hex(KEY_ID_BYTES)
        plaintext = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
        self._insert(insert(api_keys), key_id, name, role, self._digest(plaintext))
        return key_id, plaintext

    def ensure_key(self, name: str, role: str, plaintext: str) -> str:
        """Store a caller-chosen key (the bootstrap admin key) once; returns its key id.

        Calling again with the same key returns the stored id and changes nothing: in particular a
        revoked key stays revoked across restarts. The same key under another role is refused.
        """
        _check_name(name)
        _check_role(role)
        if not imported_key_chars_min <= len(plaintext) <= api_key_chars_max:
            raise InvalidApiKeyError(
                f"a chosen API key must have {imported_key_chars_min}.."
                f"{api_key_chars_max} characters"
            )
        digest = self._digest(plaintext)
        self._insert(self._insert_new, secrets.token_hex(KEY_ID_BYTES), name, role, digest)
        with self._engine.connect() as connection:
            row = connection.execute(
                select(api_keys.c.key_id, api_keys.c.role).where(api_keys.c.secret_hash == digest)
            ).one()
        if row.role != role:
            raise InvalidApiKeyError(f"key {row.key_id} is already stored with role {row.role}")
        return str(row.key_id)

    def authenticate(self, plaintext: str) -> Principal | None:
        """The principal holding this key, or ``None`` for an unknown, revoked or malformed key."""
        if not isinstance(plaintext, str) or not 0 < len(plaintext) <= api_key_chars_max:
            return None
        digest = self._digest(plaintext)
        query = select(api_keys.c.key_id, api_keys.c.name, api_keys.c.role, api_keys.c.secret_hash)
        query = query.where(api_keys.c.secret_hash == digest, api_keys.c.revoked_at.is_(None))
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None or not hmac.compare_digest(row.secret_hash, digest):
            return None
        return Principal(key_id=row.key_id, name=row.name, role=row.role)

    def revoke(self, key_id: str) -> None:
        """Revoke a key from now on; revoking a revoked key changes nothing."""
        statement = (
            update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=self._clock())
        )
        with self._write_engine.begin() as connection:
            if connection.execute(statement).rowcount == 0:
                known = connection.execute(select(exists().where(api_keys.c.key_id == key_id)))
                if not known.scalar_one():
                    raise UnknownApiKeyError(f"no API key {key_id}")

    def has_keys(self) -> bool:
        """Whether any key is still valid (a fresh install has none and needs a bootstrap key)."""
        query = select(exists().where(api_keys.c.revoked_at.is_(None)))
        with self._engine.connect() as connection:
            return bool(connection.execute(query).scalar_one())

    def list_keys(self, limit: int = limits.page_size_max, offset: int = 0) -> list[ApiKeyInfo]:
        """One page of keys, oldest first, without their digests."""
        if not 1 <= limit <= limits.page_size_max or offset < 0:
            raise InvalidPageError(f"page size must be 1..{limits.page_size_max}, offset >= 0")
        query = (
            select(
                api_keys.c.key_id,
                api_keys.c.name,
                api_keys.c.role,
                api_keys.c.created_at,
                api_keys.c.revoked_at,
            )
            .order_by(api_keys.c.created_at, api_keys.c.key_id)
            .limit(limit)
            .offset(offset)
        )
        with self._engine.connect() as connection:
            return [ApiKeyInfo(*row) for row in connection.execute(query)]

    def _insert(self, statement: Insert, key_id: str, name: str, role: str, digest: str) -> None:
        """Insert one key row with ``statement`` (a plain insert, or one ignoring duplicates)."""
        row = {
            "key_id": key_id,
            "name": name,
            "role": role,
            "secret_hash": digest,
            "created_at": self._clock(),
            "revoked_at": None,
        }
        with self._write_engine.begin() as connection:
            connection.execute(statement, row)

    def _digest(self, plaintext: str) -> str:
        """What is stored for a key: its SHA-256, or its HMAC-SHA-256 under the pepper."""
        data = plaintext.encode("utf-8")
        if self._pepper is None:
            return "sha256:" + hashlib.sha256(data).hexdigest()
        return "hmac-sha256:" + hmac.new(self._pepper, data, hashlib.sha256).hexdigest()


def _check_role(role: str) -> None:
    if role not in roles.ROLES:
        raise InvalidRoleError(f"unknown role {role!r}; roles are {', '.join(roles.ROLES)}")


def _check_name(name: str) -> None:
    if not name.strip() or len(name) > key_name_chars_max or not name.isprintable():
        raise InvalidApiKeyError(f"a key name must be 1..{key_name_chars_max} printable characters")
