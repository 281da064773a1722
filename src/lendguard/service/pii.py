"""Personal data at rest: names, ID numbers and phones sealed with AES-256-GCM, masked when shown.

Each value is encrypted under a 32-byte data key named by an id; the row records the id, so keys
rotate without downtime: put the new key first in ``LENDGUARD_PII_KEYS``, restart, call
:meth:`PersonalDataVault.rotate`, then drop the old key. The associated data binds a ciphertext to
its subject and kind, so a ciphertext copied onto another row (someone else's ID number under
your name) fails to decrypt instead of leaking across records.

Keys come from a :class:`KeyProvider`; :class:`EnvKeyProvider` reads them from the environment,
and a KMS or vault client can stand in with the same two methods. Error messages name key ids,
subjects and kinds, never key material or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Mapping
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, Row, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from lendguard import limits
from lendguard.errors import LendGuardError
from lendguard.store.repository import BEGIN_IMMEDIATE_OPTION
from lendguard.store.service_tables import personal_data

KINDS: tuple[str, ...] = ("name", "id_number", "phone")
"""The kinds of personal data the vault holds."""

DATA_KEY_BYTES = 32
"""AES-256: a shorter key is refused, never padded."""

NONCE_BYTES = 12
"""GCM's standard nonce: random per encryption, so 2**32 values per key stay far from a repeat."""

data_keys_max = 16
"""Keys one provider may hold: the current one and the old ones still being rotated away."""

personal_value_chars_max = 256
"""Longest personal value stored: a long name is about 100 characters."""

subject_id_chars_max = 128
"""Longest subject id (an applicant or account holder id)."""

_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")

_ASSOCIATED_DATA_LABEL = "lendguard.personal_data.v1"

_UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class PiiKeyError(LendGuardError):
    """A data-key configuration that cannot be used (malformed, short, duplicate ids)."""

    code = "invalid_pii_keys"


class InvalidPersonalDataError(LendGuardError):
    """A personal value, kind or subject id the vault refuses to store."""

    code = "invalid_personal_data"


class PersonalDataError(RuntimeError):
    """A stored value that cannot be decrypted: tampered with, or sealed under a key not configured.

    Not a :class:`LendGuardError`: the caller did nothing wrong, the server's data or keys are.
    """


class KeyProvider(Protocol):
    """Where data keys come from: the current key for new seals, any known key for opening."""

    def current(self) -> tuple[str, bytes]:
        """``(key_id, key)`` that new values are sealed under."""
        ...

    def get(self, key_id: str) -> bytes:
        """The key named ``key_id``; raises :class:`LookupError` if it is not configured."""
        ...


class EnvKeyProvider:
    """Data keys from text such as ``LENDGUARD_PII_KEYS="k2:<base64>,k1:<base64>"``.

    The first key is current; the others only open values not yet rotated. Each key must decode
    from standard base64 to exactly 32 bytes (make one with :func:`new_key_entry`).
    """

    def __init__(self, text: str) -> None:
        self._keys = _parse_keys(text)
        self._current_id = next(iter(self._keys))

    def current(self) -> tuple[str, bytes]:
        return self._current_id, self._keys[self._current_id]

    def get(self, key_id: str) -> bytes:
        try:
            return self._keys[key_id]
        except KeyError:
            raise LookupError(f"no data key {key_id!r} is configured") from None

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Configured key ids, current first."""
        return tuple(self._keys)

    def __repr__(self) -> str:
        return f"EnvKeyProvider(key_ids={self.key_ids!r})"


def new_key_entry(key_id: str) -> str:
    """A fresh ``key_id:<base64 of 32 random bytes>`` entry for ``LENDGUARD_PII_KEYS``."""
    if not _KEY_ID.fullmatch(key_id):
        raise PiiKeyError(f"a data key id is 1..32 letters, digits, '_', '.', '-': {key_id!r}")
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(DATA_KEY_BYTES)).decode('ascii')}"


def _parse_keys(text: str) -> dict[str, bytes]:
    """``id:base64`` entries separated by commas, in order; refuses anything doubtful."""
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    if not entries:
        raise PiiKeyError("no data keys configured: set LENDGUARD_PII_KEYS=<id>:<base64 key>")
    if len(entries) > data_keys_max:
        raise PiiKeyError(f"at most {data_keys_max} data keys; finish a rotation and drop old ones")
    keys: dict[str, bytes] = {}
    for entry in entries:
        key_id, separator, encoded = entry.partition(":")
        if not separator or not _KEY_ID.fullmatch(key_id):
            raise PiiKeyError("each data key is <id>:<base64>, the id 1..32 letters or digits")
        if key_id in keys:
            raise PiiKeyError(f"data key id {key_id!r} appears twice")
        keys[key_id] = _decode_key(key_id, encoded)
    return keys


def _decode_key(key_id: str, encoded: str) -> bytes:
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise PiiKeyError(f"data key {key_id!r} is not valid base64") from None
    if len(key) != DATA_KEY_BYTES:
        raise PiiKeyError(f"data key {key_id!r} has {len(key)} bytes; AES-256 needs 32")
    return key


class PersonalDataVault:
    """Seals and opens personal values in the ``personal_data`` table, one row per subject+kind."""

    def __init__(self, engine: Engine, keys: KeyProvider) -> None:
        self._engine = engine
        self._write_engine = engine.execution_options(**{BEGIN_IMMEDIATE_OPTION: True})
        self._keys = keys
        insert = _UPSERTS[engine.dialect.name](personal_data)
        self._upsert = insert.on_conflict_do_update(
            index_elements=[personal_data.c.subject_id, personal_data.c.kind],
            set_={
                "key_id": insert.excluded.key_id,
                "nonce": insert.excluded.nonce,
                "ciphertext": insert.excluded.ciphertext,
            },
        )

    def put(self, subject_id: str, kind: str, plaintext: str) -> None:
        """Store (or replace) one value, sealed under the current key."""
        _check_subject(subject_id)
        _check_kind(kind)
        if not plaintext or len(plaintext) > personal_value_chars_max:
            raise InvalidPersonalDataError(
                f"a {kind} must have 1..{personal_value_chars_max} characters"
            )
        key_id, nonce, ciphertext = self._seal(subject_id, kind, plaintext)
        row = {
            "subject_id": subject_id,
            "kind": kind,
            "key_id": key_id,
            "nonce": nonce,
            "ciphertext": ciphertext,
        }
        with self._write_engine.begin() as connection:
            connection.execute(self._upsert, row)

    def get(self, subject_id: str, kind: str) -> str | None:
        """The plaintext value, or ``None`` if none is stored. Callers mask it unless allowed."""
        _check_kind(kind)
        table = personal_data
        query = select(table).where(table.c.subject_id == subject_id, table.c.kind == kind)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else self._open(row)

    def get_subject(self, subject_id: str) -> dict[str, str]:
        """Every stored value of one subject, by kind."""
        query = select(personal_data).where(personal_data.c.subject_id == subject_id)
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return {row.kind: self._open(row) for row in rows}

    def rotate(self) -> int:
        """Re-seal every value not under the current key; returns how many rows changed.

        Works in pages of ``limits.page_size_max`` rows in key order, so it ends even while others
        write. A row changed meanwhile (a concurrent ``put``) is left alone: it is already sealed
        under the current key.
        """
        current_id, _ = self._keys.current()
        changed = 0
        after: tuple[str, str] | None = None
        while rows := self._rows_to_rotate(current_id, after):
            changed += self._reseal(rows)
            after = (rows[-1].subject_id, rows[-1].kind)
        return changed

    def _rows_to_rotate(self, current_id: str, after: tuple[str, str] | None) -> list[Row]:
        table = personal_data
        query = select(table).where(table.c.key_id != current_id)
        if after is not None:
            query = query.where(tuple_(table.c.subject_id, table.c.kind) > tuple_(*after))
        query = query.order_by(table.c.subject_id, table.c.kind).limit(limits.page_size_max)
        with self._engine.connect() as connection:
            return list(connection.execute(query).all())

    def _reseal(self, rows: list[Row]) -> int:
        """Re-encrypt one page in one transaction; a row applies only if still as it was read."""
        table = personal_data
        changed = 0
        with self._write_engine.begin() as connection:
            for row in rows:
                key_id, nonce, ciphertext = self._seal(row.subject_id, row.kind, self._open(row))
                statement = (
                    update(table)
                    .where(
                        table.c.subject_id == row.subject_id,
                        table.c.kind == row.kind,
                        table.c.key_id == row.key_id,
                        table.c.nonce == row.nonce,
                    )
                    .values(key_id=key_id, nonce=nonce, ciphertext=ciphertext)
                )
                changed += connection.execute(statement).rowcount
        return changed

    def _seal(self, subject_id: str, kind: str, plaintext: str) -> tuple[str, bytes, bytes]:
        key_id, key = self._keys.current()
        nonce = secrets.token_bytes(NONCE_BYTES)
        associated = _associated_data(subject_id, kind)
        return key_id, nonce, AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), associated)

    def _open(self, row: Row) -> str:
        where = f"{row.kind} of subject {row.subject_id!r}"
        try:
            key = self._keys.get(row.key_id)
        except LookupError:
            raise PersonalDataError(
                f"{where} is sealed under data key {row.key_id!r}, which is not configured"
            ) from None
        associated = _associated_data(row.subject_id, row.kind)
        try:
            plaintext = AESGCM(key).decrypt(bytes(row.nonce), bytes(row.ciphertext), associated)
        except InvalidTag:
            raise PersonalDataError(f"{where} fails authentication: altered or moved") from None
        return plaintext.decode("utf-8")


def mask(kind: str, value: str) -> str:
    """``value`` as a caller without ``personal_data:read_unmasked`` may see it.

    ID numbers keep the division code and the sequence (first 6, last 4), phones the first 3 and
    last 4 digits, names their first character and one ``*`` (so the length is hidden too).
    """
    _check_kind(kind)
    if kind == "name":
        return f"{value[:1]}*" if value else ""
    # Imported here: underwriting.application pulls in pandas, which most requests never need.
    from lendguard.underwriting.application import (  # noqa: PLC0415
        masked_id_number,
        masked_phone,
    )

    return masked_id_number(value) if kind == "id_number" else masked_phone(value)


def mask_all(values: Mapping[str, str]) -> dict[str, str]:
    """Every value of a :meth:`PersonalDataVault.get_subject` result, masked."""
    return {kind: mask(kind, value) for kind, value in values.items()}


def _associated_data(subject_id: str, kind: str) -> bytes:
    """What a ciphertext is bound to: a versioned label, the subject and the kind, unambiguously."""
    return json.dumps([_ASSOCIATED_DATA_LABEL, subject_id, kind]).encode("utf-8")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidPersonalDataError(f"unknown personal data kind {kind!r}; kinds: {KINDS}")


def _check_subject(subject_id: str) -> None:
    if not subject_id or len(subject_id) > subject_id_chars_max:
        raise InvalidPersonalDataError(
            f"a subject id must have 1..{subject_id_chars_max} characters"
        )
