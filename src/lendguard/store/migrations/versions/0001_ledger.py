"""The servicing ledger: products, accounts, events, journal lines, requests, snapshots.

Revision ID: 0001
Revises:
Create Date: 2026-01-15

Spelled out by hand rather than read from ``schema.py``: a migration must keep meaning what it
meant when it shipped. ``tests/test_store.py`` checks the result equals ``schema.metadata``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_NOT_NULL_REQUEST_ID = sa.text("request_id IS NOT NULL")


def upgrade() -> None:
    """Create the ledger tables and their indexes."""
    _create_products_and_accounts()
    _create_events_and_journal()
    _create_requests_and_snapshots()


def downgrade() -> None:
    """Drop every ledger table, dependents first."""
    for table in (
        "account_snapshots",
        "requests",
        "journal_lines",
        "events",
        "accounts",
        "products",
    ):
        op.drop_table(table)


def _create_products_and_accounts() -> None:
    op.create_table(
        "products",
        sa.Column("product_id", sa.String(), nullable=False),
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("stored_order", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("product_id", "version", name="pk_products"),
        sa.UniqueConstraint("stored_order", name="uq_products_stored_order"),
    )
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("product_id", sa.String(), nullable=False),
        sa.Column("product_version", sa.String(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("head_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_accounts"),
        sa.ForeignKeyConstraint(
            ["product_id", "product_version"],
            ["products.product_id", "products.version"],
            name="fk_accounts_products",
        ),
    )


def _create_events_and_journal() -> None:
    op.create_table(
        "events",
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("request_id", sa.String(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "sequence", name="pk_events"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"], name="fk_events_accounts"),
    )
    op.create_index(
        "uq_events_request_id",
        "events",
        ["request_id"],
        unique=True,
        sqlite_where=_NOT_NULL_REQUEST_ID,
        postgresql_where=_NOT_NULL_REQUEST_ID,
    )
    op.create_table(
        "journal_lines",
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("ledger_account", sa.String(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "sequence", "line_number", name="pk_journal_lines"),
        sa.ForeignKeyConstraint(
            ["account_id", "sequence"],
            ["events.account_id", "events.sequence"],
            name="fk_journal_lines_events",
        ),
    )
    op.create_index(
        "ix_journal_lines_ledger_account",
        "journal_lines",
        ["ledger_account", "currency", "amount_minor"],
    )


def _create_requests_and_snapshots() -> None:
    op.create_table(
        "requests",
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("request_hash", sa.String(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_requests"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.account_id"], name="fk_requests_accounts"
        ),
    )
    op.create_table(
        "account_snapshots",
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("last_closed_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("account_id", name="pk_account_snapshots"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.account_id"], name="fk_account_snapshots_accounts"
        ),
    )
    op.create_index("ix_account_snapshots_last_closed_on", "account_snapshots", ["last_closed_on"])
