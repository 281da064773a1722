"""Service: API keys (hashed), the hash-chained audit log, encrypted personal data.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

Spelled out by hand, like 0001: a migration must keep meaning what it meant when it shipped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``api_keys``, ``audit_log`` and ``personal_data``."""
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("secret_hash", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )
    op.create_index("uq_api_keys_secret_hash", "api_keys", ["secret_hash"], unique=True)
    op.create_table(
        "audit_log",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("sequence", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_target", "audit_log", ["target"])
    op.create_table(
        "personal_data",
        sa.Column("subject_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("key_id", sa.String(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", "kind", name="pk_personal_data"),
    )
    op.create_index("ix_personal_data_key_id", "personal_data", ["key_id"])


def downgrade() -> None:
    """Drop the service tables."""
    op.drop_index("ix_personal_data_key_id", table_name="personal_data")
    op.drop_table("personal_data")
    op.drop_index("ix_audit_log_target", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("uq_api_keys_secret_hash", table_name="api_keys")
    op.drop_table("api_keys")
