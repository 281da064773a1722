"""The ledger's tables as SQLAlchemy Core metadata: the one description the repository queries.

Migrations under ``migrations/versions`` spell the same tables out by hand (a migration must not
change when this file does); a test compares the two so they cannot drift apart.

Money is ``BigInteger`` minor units. Strings carry no SQL length: bounds are enforced at the edges
(``lendguard.limits``), and a length here would reject on PostgreSQL what SQLite accepts.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
"""Named constraints, so later migrations can drop or alter them by name on every backend."""

products = Table(
    "products",
    metadata,
    Column("product_id", String, primary_key=True),
    Column("version", String, primary_key=True),
    Column("stored_order", BigInteger, nullable=False, unique=True),
    Column("kind", String, nullable=False),
    Column("sha256", String, nullable=False),
    Column("source_text", Text, nullable=False),
)
"""Every product version ever used; ``stored_order`` ranks insertions to find the latest."""

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String, primary_key=True),
    Column("product_id", String, nullable=False),
    Column("product_version", String, nullable=False),
    Column("currency", String, nullable=False),
    Column("opened_on", Date, nullable=False),
    Column("status", String, nullable=False),
    Column("head_sequence", BigInteger, nullable=False),
    ForeignKeyConstraint(
        ["product_id", "product_version"], ["products.product_id", "products.version"]
    ),
)
"""One row per account; ``head_sequence`` is its last event's sequence, the append guard."""

events = Table(
    "events",
    metadata,
    Column("account_id", String, primary_key=True),
    Column("sequence", BigInteger, primary_key=True),
    Column("kind", String, nullable=False),
    Column("business_date", Date, nullable=False),
    Column("request_id", String, nullable=True),
    Column("payload", JSON, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
    Index(
        "uq_events_request_id",
        "request_id",
        unique=True,
        sqlite_where=text("request_id IS NOT NULL"),
        postgresql_where=text("request_id IS NOT NULL"),
    ),
)
"""The append-only event log; at most one event carries a given request id."""

journal_lines = Table(
    "journal_lines",
    metadata,
    Column("account_id", String, primary_key=True),
    Column("sequence", BigInteger, primary_key=True),
    Column("line_number", Integer, primary_key=True),
    Column("ledger_account", String, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String, nullable=False),
    ForeignKeyConstraint(["account_id", "sequence"], ["events.account_id", "events.sequence"]),
    Index("ix_journal_lines_ledger_account", "ledger_account", "currency", "amount_minor"),
)
"""Postings of each event. The index covers the trial balance, so it never reads the table."""

requests = Table(
    "requests",
    metadata,
    Column("request_id", String, primary_key=True),
    Column("account_id", String, nullable=False),
    Column("request_hash", String, nullable=False),
    Column("response", JSON, nullable=False),
    Column("sequence", BigInteger, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
)
"""Idempotency: the first answer to each request id, returned again on a retry."""

account_snapshots = Table(
    "account_snapshots",
    metadata,
    Column("account_id", String, primary_key=True),
    Column("sequence", BigInteger, nullable=False),
    Column("state", JSON, nullable=False),
    Column("last_closed_on", Date, nullable=True),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
    Index("ix_account_snapshots_last_closed_on", "last_closed_on"),
)
"""Folded state at ``sequence``, so loading replays only later events.

``last_closed_on`` is a column so a close-of-business run can select accounts behind a date
without reading their JSON.
"""

eod_runs = Table(
    "eod_runs",
    metadata,
    Column("run_id", String, primary_key=True),
    Column("first_business_date", Date, nullable=False),
    Column("business_date", Date, nullable=False),
    Column("engine", String, nullable=False),
    Column("status", String, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("accounts_closed", BigInteger, nullable=True),
    Column("accounts_skipped", BigInteger, nullable=True),
    Column("accounts_quarantined", BigInteger, nullable=True),
    Column("events_posted", BigInteger, nullable=True),
    Column("timings", JSON, nullable=True),
    Index("ix_eod_runs_business_date", "business_date"),
)
"""One row per close-of-business run over ``first_business_date..business_date``.

``status`` is ``running`` until the run ends (``succeeded`` or ``failed``); a run killed on the way
stays ``running``. The timestamps are wall-clock facts about the run, not business dates.
"""

eod_quarantine = Table(
    "eod_quarantine",
    metadata,
    Column("run_id", String, primary_key=True),
    Column("account_id", String, primary_key=True),
    Column("business_date", Date, nullable=False),
    Column("error", Text, nullable=False),
    ForeignKeyConstraint(["run_id"], ["eod_runs.run_id"]),
    ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
    Index("ix_eod_quarantine_business_date", "business_date"),
)
"""Accounts a run could not close, with the error and the first business date it failed on.

A quarantined account keeps its state; each later run tries it again and records it again.
"""

underwriting_decisions = Table(
    "underwriting_decisions",
    metadata,
    Column("application_id", String, primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("decided_on", Date, nullable=False),
    Column("decision", String, nullable=False),
    Column("actor", String, nullable=False),
    Column("payload_sha256", String, nullable=False),
    Column("record", JSON, nullable=False),
    Index("ix_underwriting_decisions_decided_on", "decided_on"),
)
"""Every decision on an application, append-only: revision 1 is the automated decision, later
revisions are human reviews. ``record`` holds the inputs (no plaintext personal data), the versions
of rules, model and configuration, the outputs with reasons, and the timings."""

underwriting_rejections = Table(
    "underwriting_rejections",
    metadata,
    Column("rejection_id", Integer, primary_key=True, autoincrement=True),
    Column("received_on", Date, nullable=False),
    Column("payload_sha256", String, nullable=False),
    Column("code", String, nullable=False),
    Column("error", Text, nullable=False),
)
"""Applications refused before any decision (malformed input): the digest of what was received and
why, never the payload itself (it may hold personal data)."""

review_items = Table(
    "review_items",
    metadata,
    Column("application_id", String, primary_key=True),
    Column("opened_revision", Integer, primary_key=True),
    Column("reason", String, nullable=False),
    Column("note", Text, nullable=False),
    Column("status", String, nullable=False),
    Column("opened_on", Date, nullable=False),
    Column("closed_revision", Integer, nullable=True),
    Index("ix_review_items_status", "status"),
)
"""The human-review queue: referred applications (``reason`` = ``referral``) and automated
decisions the applicant contested (``contest``, PIPL Art. 24). Closing one appends a decision
revision and records it here."""

from lendguard.store import service_tables  # noqa: E402, F401  (registers the service's tables)
