"""Underwriting: decisions (append-only revisions), rejected applications, the review queue.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

Spelled out by hand, like 0001: a migration must keep meaning what it meant when it shipped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``underwriting_decisions``, ``underwriting_rejections`` and ``review_items``."""
    op.create_table(
        "underwriting_decisions",
        sa.Column("application_id", sa.String(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("decision", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("payload_sha256", sa.String(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("application_id", "revision", name="pk_underwriting_decisions"),
    )
    op.create_index(
        "ix_underwriting_decisions_decided_on", "underwriting_decisions", ["decided_on"]
    )
    op.create_table(
        "underwriting_rejections",
        sa.Column("rejection_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("payload_sha256", sa.String(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("rejection_id", name="pk_underwriting_rejections"),
    )
    op.create_table(
        "review_items",
        sa.Column("application_id", sa.String(), nullable=False),
        sa.Column("opened_revision", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("closed_revision", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("application_id", "opened_revision", name="pk_review_items"),
    )
    op.create_index("ix_review_items_status", "review_items", ["status"])


def downgrade() -> None:
    """Drop the underwriting tables."""
    op.drop_index("ix_review_items_status", table_name="review_items")
    op.drop_table("review_items")
    op.drop_table("underwriting_rejections")
    op.drop_index("ix_underwriting_decisions_decided_on", table_name="underwriting_decisions")
    op.drop_table("underwriting_decisions")
