"""Close of business: the record of each run and the accounts it quarantined.

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-01

Spelled out by hand, like 0001: a migration must keep meaning what it meant when it shipped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``eod_runs`` and ``eod_quarantine``."""
    op.create_table(
        "eod_runs",
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("first_business_date", sa.Date(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("engine", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accounts_closed", sa.BigInteger(), nullable=True),
        sa.Column("accounts_skipped", sa.BigInteger(), nullable=True),
        sa.Column("accounts_quarantined", sa.BigInteger(), nullable=True),
        sa.Column("events_posted", sa.BigInteger(), nullable=True),
        sa.Column("timings", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_eod_runs"),
    )
    op.create_index("ix_eod_runs_business_date", "eod_runs", ["business_date"])
    op.create_table(
        "eod_quarantine",
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "account_id", name="pk_eod_quarantine"),
        sa.ForeignKeyConstraint(["run_id"], ["eod_runs.run_id"], name="fk_eod_quarantine_eod_runs"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.account_id"], name="fk_eod_quarantine_accounts"
        ),
    )
    op.create_index("ix_eod_quarantine_business_date", "eod_quarantine", ["business_date"])


def downgrade() -> None:
    """Drop the close-of-business tables, dependents first."""
    op.drop_table("eod_quarantine")
    op.drop_table("eod_runs")
