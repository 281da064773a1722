"""Persistence for the servicing ledger: tables, migrations and a repository of plain records.

The ledger core never imports SQLAlchemy: it hands :class:`Store` frozen records
(:mod:`lendguard.store.records`) and gets records back. Each write is one transaction, and an
append succeeds only if the account is still at the sequence the caller last saw.
"""

from lendguard.store.database import (
    UnsupportedDatabaseError,
    create_engine_for,
    default_url,
    migrate,
    open_store,
)
from lendguard.store.records import (
    AccountRecord,
    Append,
    EventRecord,
    JournalLine,
    ProductRecord,
    RequestRecord,
)
from lendguard.store.repository import (
    ConcurrentUpdateError,
    DuplicateAccountError,
    DuplicateRequestError,
    InvalidPageError,
    Store,
)

__all__ = [
    "AccountRecord",
    "Append",
    "ConcurrentUpdateError",
    "DuplicateAccountError",
    "DuplicateRequestError",
    "EventRecord",
    "InvalidPageError",
    "JournalLine",
    "ProductRecord",
    "RequestRecord",
    "Store",
    "UnsupportedDatabaseError",
    "create_engine_for",
    "default_url",
    "migrate",
    "open_store",
]
