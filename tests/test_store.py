"""The ledger store on SQLite and PostgreSQL: round trips, atomic refusals, migrations, bounds."""

from __future__ import annotations

import hashlib
import string
import threading
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, inspect, text

from lendguard import limits
from lendguard.errors import ProductConfigError, UnknownAccountError, UnknownProductError
from lendguard.store import (
    AccountRecord,
    ConcurrentUpdateError,
    DuplicateAccountError,
    DuplicateRequestError,
    EventRecord,
    InvalidPageError,
    JournalLine,
    ProductRecord,
    RequestRecord,
    Store,
    create_engine_for,
    default_url,
    migrate,
)
from lendguard.store.schema import metadata

OPENED_ON = date(2026, 1, 15)
PRODUCT_TEXT = '[product]\nid = "cash-loan"\nversion = "1"\n'
PRODUCT = ProductRecord(
    "cash-loan", "1", "instalment", hashlib.sha256(PRODUCT_TEXT.encode()).hexdigest(), PRODUCT_TEXT
)
LEDGER_TABLES = {"products", "accounts", "events", "journal_lines", "requests", "account_snapshots"}


def open_account(store: Store, account_id: str = "acct-1", currency: str = "CNY") -> None:
    """Store the product (idempotent) and open an account under it."""
    store.save_product(PRODUCT)
    store.create_account(
        AccountRecord(account_id, PRODUCT.product_id, PRODUCT.version, currency, OPENED_ON, "open")
    )


def disbursement(
    account_id: str, sequence: int, amount_minor: int, request_id: str | None = None
) -> tuple[EventRecord, list[JournalLine]]:
    """A disbursement event: debit the loan, credit cash."""
    event = EventRecord(
        account_id, sequence, "disbursed", OPENED_ON, request_id, {"amount_minor": amount_minor}
    )
    lines = [
        JournalLine(account_id, sequence, 1, "loan_principal", amount_minor, "CNY"),
        JournalLine(account_id, sequence, 2, "cash", -amount_minor, "CNY"),
    ]
    return event, lines


def request_for(request_id: str, account_id: str, sequence: int) -> RequestRecord:
    return RequestRecord(
        request_id, account_id, "hash-" + request_id, {"sequence": sequence}, sequence
    )


def contents(store: Store, account_id: str) -> tuple:
    """Everything the store holds about an account, to prove a refused write left no trace."""
    return (
        store.get_account(account_id),
        store.load_events(account_id),
        store.journal(account_id),
        store.load_snapshot(account_id),
        store.trial_balance(),
    )


# Migrations


def test_migrations_run_from_scratch_and_again_as_a_no_op(store_url: str) -> None:
    engine = create_engine_for(store_url)
    try:
        migrate(engine)
        open_account(Store(engine))
        migrate(engine)
        assert set(inspect(engine).get_table_names()) >= LEDGER_TABLES
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert versions == [("0004",)]
        assert Store(engine).get_account("acct-1").status == "open"
    finally:
        engine.dispose()


def test_migrated_tables_match_schema_metadata(store_url: str) -> None:
    engine = create_engine_for(store_url)
    try:
        migrate(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_default_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LENDGUARD_DB", raising=False)
    assert default_url() == "sqlite:///lendguard.sqlite"
    monkeypatch.setenv("LENDGUARD_DB", "postgresql+psycopg://ledger@db/ledger")
    assert default_url() == "postgresql+psycopg://ledger@db/ledger"


# Appending and loading


def test_append_then_load_round_trips(store: Store) -> None:
    open_account(store)
    first, first_lines = disbursement("acct-1", 1, 500_000, request_id="req-1")
    second, second_lines = disbursement("acct-1", 2, 1_000)
    request = request_for("req-1", "acct-1", 2)
    store.append("acct-1", 0, [first, second], first_lines + second_lines, request=request)
    assert store.load_events("acct-1") == [first, second]
    assert store.load_events("acct-1", after_sequence=1) == [second]
    assert store.journal("acct-1") == first_lines + second_lines
    assert store.find_request("req-1") == request
    assert store.find_request("req-2") is None


def test_append_writes_snapshot_and_status_with_the_events(store: Store) -> None:
    open_account(store)
    event, lines = disbursement("acct-1", 1, 500_000)
    state = {"principal_minor": 500_000, "last_closed_on": "2026-01-15"}
    store.append("acct-1", 0, [event], lines, snapshot=state, status="active")
    assert store.load_snapshot("acct-1") == (1, state)
    assert store.get_account("acct-1").status == "active"
    store.append("acct-1", 1, [], [], snapshot={"principal_minor": 0}, status="closed")
    assert store.load_snapshot("acct-1") == (1, {"principal_minor": 0})
    assert store.get_account("acct-1").status == "closed"


def test_stale_expected_sequence_raises_and_writes_nothing(store: Store) -> None:
    open_account(store)
    event, lines = disbursement("acct-1", 1, 500_000)
    store.append("acct-1", 0, [event], lines)
    before = contents(store, "acct-1")
    retry, retry_lines = disbursement("acct-1", 1, 700_000)
    with pytest.raises(ConcurrentUpdateError, match="at sequence 1, not 0"):
        store.append("acct-1", 0, [retry], retry_lines, status="frozen")
    skipped, skipped_lines = disbursement("acct-1", 3, 700_000)
    with pytest.raises(ConcurrentUpdateError):
        store.append("acct-1", 2, [skipped], skipped_lines)
    assert contents(store, "acct-1") == before


def test_duplicate_request_id_is_rejected_and_writes_nothing(store: Store) -> None:
    open_account(store, "acct-1")
    open_account(store, "acct-2")
    event, lines = disbursement("acct-1", 1, 500_000, request_id="req-1")
    store.append("acct-1", 0, [event], lines, request=request_for("req-1", "acct-1", 1))
    before = (contents(store, "acct-1"), contents(store, "acct-2"))
    again, again_lines = disbursement("acct-2", 1, 500_000, request_id="req-1")
    with pytest.raises(DuplicateRequestError, match="req-1"):
        store.append("acct-2", 0, [again], again_lines, request=request_for("req-1", "acct-2", 1))
    assert (contents(store, "acct-1"), contents(store, "acct-2")) == before
    assert store.find_request("req-1") == request_for("req-1", "acct-1", 1)


def test_unbalanced_journal_asserts_and_writes_nothing(store: Store) -> None:
    open_account(store)
    before = contents(store, "acct-1")
    event, lines = disbursement("acct-1", 1, 500_000)
    short = [lines[0], JournalLine("acct-1", 1, 2, "cash", -499_999, "CNY")]
    with pytest.raises(AssertionError, match="does not balance"):
        store.append("acct-1", 0, [event], short)
    mixed = [lines[0], JournalLine("acct-1", 1, 2, "cash", -500_000, "USD")]
    with pytest.raises(AssertionError, match="does not balance"):
        store.append("acct-1", 0, [event], mixed)
    assert contents(store, "acct-1") == before


def test_out_of_order_events_assert(store: Store) -> None:
    open_account(store)
    event, lines = disbursement("acct-1", 2, 500_000)
    with pytest.raises(AssertionError, match="does not continue"):
        store.append("acct-1", 0, [event], lines)


def test_request_ids_must_tie_up_with_the_request(store: Store) -> None:
    open_account(store)
    event, lines = disbursement("acct-1", 1, 500_000, request_id="req-1")
    with pytest.raises(AssertionError, match="request ids"):
        store.append("acct-1", 0, [event], lines)
    with pytest.raises(AssertionError, match="request ids"):
        store.append("acct-1", 0, [event], lines, request=request_for("req-2", "acct-1", 1))
    assert store.load_events("acct-1") == []


def test_store_refuses_an_engine_without_named_parameters(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    with pytest.raises(AssertionError, match="named parameters"):
        Store(engine)
    engine.dispose()


def test_concurrent_appends_exactly_one_wins(store: Store) -> None:
    open_account(store)
    writers_count = 4
    barrier = threading.Barrier(writers_count)
    outcomes: list[str] = []

    def write(amount_minor: int) -> None:
        event, lines = disbursement("acct-1", 1, amount_minor)
        barrier.wait()
        try:
            store.append("acct-1", 0, [event], lines)
            outcomes.append("written")
        except ConcurrentUpdateError:
            outcomes.append("refused")

    threads = [threading.Thread(target=write, args=(1_000 + n,)) for n in range(writers_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * (writers_count - 1) + ["written"]
    assert len(store.load_events("acct-1")) == 1


# Balances and listings


def test_trial_balance_sums_to_zero(store: Store) -> None:
    for number in range(3):
        account_id = f"acct-{number}"
        open_account(store, account_id)
        event, lines = disbursement(account_id, 1, 100_000 * (number + 1))
        store.append(account_id, 0, [event], lines)
    fee = EventRecord("acct-0", 2, "fee_charged", OPENED_ON, None, {})
    fee_lines = [
        JournalLine("acct-0", 2, 1, "fees_receivable", 250, "USD"),
        JournalLine("acct-0", 2, 2, "fee_income", -250, "USD"),
    ]
    store.append("acct-0", 1, [fee], fee_lines)
    assert store.trial_balance() == {
        ("loan_principal", "CNY"): 600_000,
        ("cash", "CNY"): -600_000,
        ("fees_receivable", "USD"): 250,
        ("fee_income", "USD"): -250,
    }
    assert store.journal_total_by_currency() == {"CNY": 0, "USD": 0}


def test_pages_are_bounded_and_cover_everything(store: Store) -> None:
    for number in range(5):
        open_account(store, f"acct-{number}")
    pages = [store.list_accounts(limit=2, offset=offset) for offset in (0, 2, 4)]
    assert [[account.account_id for account in page] for page in pages] == [
        ["acct-0", "acct-1"],
        ["acct-2", "acct-3"],
        ["acct-4"],
    ]
    assert store.list_accounts(limit=limits.page_size_max, offset=5) == []
    for limit, offset in ((0, 0), (limits.page_size_max + 1, 0), (10, -1)):
        with pytest.raises(InvalidPageError):
            store.list_accounts(limit=limit, offset=offset)
        with pytest.raises(InvalidPageError):
            store.journal(limit=limit, offset=offset)


def test_journal_pages_in_posting_order(store: Store) -> None:
    open_account(store)
    event, lines = disbursement("acct-1", 1, 500_000)
    store.append("acct-1", 0, [event], lines)
    assert store.journal(limit=1) == lines[:1]
    assert store.journal(limit=1, offset=1) == lines[1:]


# Products and accounts


def test_same_product_twice_is_a_no_op_and_latest_wins(store: Store) -> None:
    store.save_product(PRODUCT)
    store.save_product(PRODUCT)
    newer = ProductRecord(PRODUCT.product_id, "2", PRODUCT.kind, "other-sha", "v2 text")
    store.save_product(newer)
    assert store.list_products() == [PRODUCT, newer]
    assert store.get_product("cash-loan") == newer
    assert store.get_product("cash-loan", "1") == PRODUCT


def test_product_version_with_different_content_is_refused(store: Store) -> None:
    store.save_product(PRODUCT)
    changed = ProductRecord(PRODUCT.product_id, PRODUCT.version, PRODUCT.kind, "edited", "edited")
    message = "product cash-loan version 1 already stored with different content; bump the version"
    with pytest.raises(ProductConfigError, match=message):
        store.save_product(changed)
    assert store.list_products() == [PRODUCT]


def test_unknown_product_is_refused(store: Store) -> None:
    with pytest.raises(UnknownProductError):
        store.get_product("cash-loan")
    store.save_product(PRODUCT)
    with pytest.raises(UnknownProductError):
        store.get_product("cash-loan", "9")
    orphan = AccountRecord("acct-1", "cash-loan", "9", "CNY", OPENED_ON, "open")
    with pytest.raises(UnknownProductError):
        store.create_account(orphan)
    assert store.list_accounts() == []


def test_unknown_account_is_refused(store: Store) -> None:
    event, lines = disbursement("ghost", 1, 500_000)
    with pytest.raises(UnknownAccountError):
        store.get_account("ghost")
    with pytest.raises(UnknownAccountError):
        store.set_account_status("ghost", "frozen")
    with pytest.raises(UnknownAccountError):
        store.append("ghost", 0, [event], lines)


def test_account_ids_are_unique(store: Store) -> None:
    open_account(store)
    store.set_account_status("acct-1", "frozen")
    with pytest.raises(DuplicateAccountError):
        open_account(store)
    assert store.get_account("acct-1").status == "frozen"


# Property: random batches round-trip

KEYS = st.text(max_size=5)
JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(max_size=8)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)
NAMES = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=12)
AMOUNTS = st.integers(-limits.amount_minor_max, limits.amount_minor_max)
POSTINGS = st.lists(
    st.tuples(NAMES, st.sampled_from(["CNY", "USD", "JPY"]), AMOUNTS),
    min_size=1,
    max_size=3,
)


def balanced_lines(account_id: str, sequence: int, postings: list[tuple]) -> list[JournalLine]:
    """The drawn postings plus one suspense line per currency so the event balances."""
    lines = [
        JournalLine(account_id, sequence, number, name, amount_minor, currency)
        for number, (name, currency, amount_minor) in enumerate(postings, start=1)
    ]
    for currency in sorted({line.currency for line in lines}):
        total = sum(line.amount_minor for line in lines if line.currency == currency)
        number = len(lines) + 1
        lines.append(JournalLine(account_id, sequence, number, "suspense", -total, currency))
    return lines


@st.composite
def batches(draw: st.DrawFn) -> list[list[tuple]]:
    """Up to four batches of one to three events, each as (kind, day offset, payload, postings)."""
    event_shape = st.tuples(
        NAMES, st.integers(0, 3650), st.dictionaries(KEYS, JSON_VALUES, max_size=4), POSTINGS
    )
    return draw(st.lists(st.lists(event_shape, min_size=1, max_size=3), min_size=1, max_size=4))


@settings(
    max_examples=25,
    deadline=None,
    # One store serves every example; each example writes to its own new account.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(drawn=batches(), with_requests=st.booleans())
def test_random_batches_round_trip(
    store: Store, drawn: list[list[tuple]], with_requests: bool
) -> None:
    account_id = f"acct-{uuid.uuid4().hex}"
    open_account(store, account_id)
    written_events: list[EventRecord] = []
    written_lines: list[JournalLine] = []
    for batch_number, batch in enumerate(drawn):
        request_id = f"{account_id}-{batch_number}" if with_requests else None
        expected_sequence = len(written_events)
        events, lines = [], []
        for offset, (kind, days, payload, postings) in enumerate(batch, start=1):
            sequence = expected_sequence + offset
            carried = request_id if offset == 1 else None
            business_date = OPENED_ON + timedelta(days=days)
            events.append(EventRecord(account_id, sequence, kind, business_date, carried, payload))
            lines += balanced_lines(account_id, sequence, postings)
        request = None if request_id is None else request_for(request_id, account_id, len(events))
        store.append(account_id, expected_sequence, events, lines, request=request)
        written_events += events
        written_lines += lines
    assert store.load_events(account_id) == written_events
    assert store.journal(account_id, limit=limits.page_size_max) == written_lines
    assert set(store.journal_total_by_currency().values()) <= {0}
