"""The service's own tables: API keys, the audit log and encrypted personal data.

They live on :data:`lendguard.store.schema.metadata`, so migration ``0004`` and the metadata
comparison test see them with the ledger's tables; ``schema`` imports this module at its end.
Nothing here stores a secret or personal data in plaintext: keys are hashes, personal data is
AES-GCM ciphertext, and the audit log's details are written without personal data.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    String,
    Table,
)

from lendguard.store.schema import metadata

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("role", String, nullable=False),
    Column("secret_hash", String, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("uq_api_keys_secret_hash", "secret_hash", unique=True),
)
"""One row per API key. ``secret_hash`` is ``<scheme>:<hex digest>`` of the whole key, never the
key; it is unique so an imported key (one not issued here) is found by its digest. A revoked key
keeps its row, so its id in the audit log still names someone."""

audit_log = Table(
    "audit_log",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String, nullable=False),
    Column("action", String, nullable=False),
    Column("target", String, nullable=False),
    Column("detail", JSON, nullable=False),
    Column("prev_hash", String, nullable=False),
    Column("hash", String, nullable=False),
    Index("ix_audit_log_target", "target"),
)
"""The append-only, hash-chained audit trail. ``sequence`` is assigned by the writer (1, 2, ...),
not by the database, so a gap means a deleted record; ``hash`` covers ``prev_hash`` and every other
column."""

personal_data = Table(
    "personal_data",
    metadata,
    Column("subject_id", String, primary_key=True),
    Column("kind", String, primary_key=True),
    Column("key_id", String, nullable=False),
    Column("nonce", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Index("ix_personal_data_key_id", "key_id"),
)
"""One encrypted value per subject and kind (name, ID number, phone). ``key_id`` names the data key
it is sealed under, so rotation finds the rows still under an old key through the index."""
