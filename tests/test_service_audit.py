"""The audit log: a hash chain that names the first edited, deleted, inserted or moved record."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from lendguard.cli.audit import audit_app
from lendguard.service.audit import (
    GENESIS_HASH,
    AuditAnchor,
    AuditLog,
    AuditRecordError,
    record_hash,
)
from lendguard.store import InvalidPageError, Store, create_engine_for, migrate, open_store
from lendguard.store.schema import metadata

T0 = dt.datetime(2026, 11, 29, 9, 30, tzinfo=dt.UTC)


def fill(log: AuditLog, count: int = 5) -> None:
    for number in range(1, count + 1):
        log.append(
            actor="k-operator",
            action="accounts.repay",
            target=f"acct-{number}",
            detail={"amount": f"{number}00.00", "amount_minor": number * 10_000},
            at=T0 + dt.timedelta(seconds=number),
        )


def sql(engine: Engine, *statements: str, **parameters: object) -> None:
    """Tamper with the table directly, as someone with database access would."""
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), parameters)


def stored_hash(engine: Engine, sequence: int) -> str:
    with engine.connect() as connection:
        query = text("SELECT hash FROM audit_log WHERE sequence = :sequence")
        return str(connection.execute(query, {"sequence": sequence}).scalar_one())


# Appending


def test_records_chain_from_the_genesis_hash_by_the_documented_formula(store: Store) -> None:
    log = AuditLog(store.engine)
    fill(log, 3)
    records = log.records()
    assert [record.sequence for record in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS_HASH
    for previous, record in itertools.pairwise(records):
        assert record.prev_hash == previous.hash
    first = records[0]
    assert first.hash == record_hash(
        GENESIS_HASH, 1, T0 + dt.timedelta(seconds=1), "k-operator", "accounts.repay", "acct-1",
        {"amount": "100.00", "amount_minor": 10_000},
    )  # fmt: skip
    assert log.verify().ok


def test_append_returns_the_record_as_stored(store: Store) -> None:
    log = AuditLog(store.engine)
    detail = {"reasons": ["R01", "R07"], "score": 0.4375, "note": "复核通过", "nested": {"n": None}}
    beijing = dt.timezone(dt.timedelta(hours=8))
    record = log.append("k-service", "applications.decide", "app-9", detail, T0.astimezone(beijing))
    assert record.at == T0 and record.at.utcoffset() == dt.timedelta(0)
    assert log.records() == [record]
    assert record.detail == detail
    assert log.verify().ok


def test_an_empty_log_verifies_with_the_genesis_head(store: Store) -> None:
    result = AuditLog(store.engine).verify()
    assert (result.ok, result.records, result.head_sequence, result.head_hash) == (
        True,
        0,
        0,
        GENESIS_HASH,
    )


@pytest.mark.parametrize(
    ("detail", "error"),
    [
        ({"when": dt.date(2026, 1, 1)}, TypeError),
        ({"ids": {1, 2}}, TypeError),
        ({"score": math.nan}, ValueError),
        ({"blob": "x" * 17_000}, AuditRecordError),
        (["not", "a", "mapping"], TypeError),
    ],
)
def test_a_detail_that_is_not_bounded_json_is_refused_and_nothing_written(
    store: Store, detail: object, error: type[Exception]
) -> None:
    log = AuditLog(store.engine)
    with pytest.raises(error):
        log.append("k-admin", "keys.create", "k-1", detail, T0)  # type: ignore[arg-type]
    assert log.records() == []


def test_fields_are_bounded_and_time_must_carry_a_zone(store: Store) -> None:
    log = AuditLog(store.engine)
    with pytest.raises(AuditRecordError, match="actor"):
        log.append("", "keys.create", "k-1", {}, T0)
    with pytest.raises(AuditRecordError, match="target"):
        log.append("k-admin", "keys.create", "t" * 257, {}, T0)
    with pytest.raises(AssertionError, match="timezone"):
        log.append("k-admin", "keys.create", "k-1", {}, T0.replace(tzinfo=None))
    assert log.records() == []
    assert log.append("k-admin", "eod.run", "", {}, T0).target == ""


def test_records_page_in_sequence_order_and_filter_by_target(store: Store) -> None:
    log = AuditLog(store.engine)
    fill(log, 5)
    assert [record.sequence for record in log.records(limit=2, offset=3)] == [4, 5]
    assert [record.sequence for record in log.records(target="acct-2")] == [2]
    with pytest.raises(InvalidPageError):
        log.records(limit=1_001)
    with pytest.raises(InvalidPageError):
        log.records(offset=-1)


def test_a_failed_write_reaches_its_caller_and_the_chain_goes_on(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AuditLog(store.engine)
    fill(log, 2)

    def database_gone(_entries: object) -> None:
        raise RuntimeError("database went away")

    with monkeypatch.context() as patch:
        patch.setattr(log, "_write", database_gone)
        with pytest.raises(RuntimeError, match="went away"):
            log.append("k-operator", "money.repay", "acct-9", {}, T0)
    assert log.append("k-operator", "money.repay", "acct-9", {}, T0).sequence == 3
    assert log.verify().records == 3


def test_concurrent_appends_form_one_unbroken_chain(store_url: str) -> None:
    """Two logs on two engines stand for two processes; threads in each share one log."""
    engines = [create_engine_for(store_url) for _ in range(2)]
    migrate(engines[0])
    logs = [AuditLog(engine) for engine in engines]
    returned: list[int] = []
    failures: list[BaseException] = []

    def writer(log: AuditLog, name: str) -> None:
        try:
            for number in range(25):
                record = log.append(name, "money.repay", f"acct-{number}", {"n": number}, T0)
                returned.append(record.sequence)
        except BaseException as error:  # surfaced by the assertion below
            failures.append(error)

    threads = [
        threading.Thread(target=writer, args=(logs[index % 2], f"k-{index}")) for index in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert failures == []
        assert sorted(returned) == list(range(1, 201))
        result = logs[0].verify()
        assert result.ok and result.records == 200
    finally:
        for engine in engines:
            engine.dispose()


# Tampering, each found by verify


def test_an_edited_field_is_named(store: Store) -> None:
    log = AuditLog(store.engine)
    fill(log)
    sql(store.engine, "UPDATE audit_log SET actor = 'k-mallory' WHERE sequence = 3")
    result = log.verify()
    assert (result.ok, result.first_bad_sequence, result.records) == (False, 3, 2)
    assert "altered" in (result.problem or "")


def test_an_edited_detail_is_named(store: Store) -> None:
    log = AuditLog(store.engine)
    fill(log)
    sql(
        store.engine,
        "UPDATE audit_log SET detail = :detail WHERE sequence = 2",
        detail=json.dumps({"amount": "1.00", "amount_minor": 100}),
    )
    result = log.verify()
    assert (result.ok, result.first_bad_sequence) == (False, 2)


def test_an_edited_time_is_named(store: Store) -> None:
    log = AuditLog(store.engine)
    fill(log)
    later = T0 + dt.timedelta(days=1)
    sql(store.engine, "UPDATE audit_log SET at = :at WHERE sequence = 4", at=later)
    assert log.verify().first_bad_sequence == 4


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(store: Store) -> None:
    log = AuditLog(store.engine)
    fill(log)
    forged = record_hash(
        stored_hash(store.engine, 2), 3, T0 + dt.timedelta(seconds=3), "k-mallory",
        "accounts.repay", "acct-3", {"amount": "300.00", "amount_minor": 30_000},
    )  # fmt: skip
    sql(
        store.engine,
        "UPDATE audit_log SET actor = 'k-mallory', hash = :forged WHERE sequence = 3",
        forged=forged,
    )
    result = log.verify()
    assert (result.ok, result.first_bad_sequence) == (False, 4)
    assert "does not follow record 3" in (result.problem or "")


def test_a_deleted_record_is_named(store: Store) -> None:
    log = AuditLog(store.engine)
    fill(log)
    sql(store.engine, "DELETE FROM audit_log WHERE sequence = 3")
    result = log.verify()
    assert (result.ok, result.first_bad_sequence, result.records) == (False, 3, 2)
    assert "missing" in (result.problem or "")


def test_a_deletion_hidden_by_renumbering_is_named(store: Store) -> None:
    log = AuditLog(store.engine)
    fill(log)
    sql(
        store.engine,
        "DELETE FROM audit_log WHERE sequence = 3",
        "UPDATE audit_log SET sequence = sequence + 1000 WHERE sequence > 3",
        "UPDATE audit_log SET sequence = sequence - 1001 WHERE sequence > 1000",
    )
    result = log.verify()
    assert (result.ok, result.first_bad_sequence) == (False, 3)
    assert "does not follow record 2" in (result.problem or "")


def test_an_inserted_record_is_named_even_with_a_valid_hash_of_its_own(store: Store) -> None:
    log = AuditLog(store.engine)
    fill(log)
    forged_at = T0 + dt.timedelta(seconds=2, milliseconds=500)
    prev_hash = stored_hash(store.engine, 2)
    forged = record_hash(prev_hash, 3, forged_at, "k-admin", "keys.create", "k-9", {})
    sql(
        store.engine,
        "UPDATE audit_log SET sequence = sequence + 1000 WHERE sequence >= 3",
        "UPDATE audit_log SET sequence = sequence - 999 WHERE sequence > 1000",
        "INSERT INTO audit_log (sequence, at, actor, action, target, detail, prev_hash, hash) "
        "VALUES (3, :at, 'k-admin', 'keys.create', 'k-9', '{}', :prev_hash, :forged)",
        at=forged_at,
        prev_hash=prev_hash,
        forged=forged,
    )
    result = log.verify()
    assert (result.ok, result.first_bad_sequence) == (False, 4)
    assert "does not follow record 3" in (result.problem or "")


def test_reordered_records_are_named(store: Store) -> None:
    log = AuditLog(store.engine)
    fill(log)
    sql(
        store.engine,
        "UPDATE audit_log SET sequence = 1002 WHERE sequence = 2",
        "UPDATE audit_log SET sequence = 2 WHERE sequence = 4",
        "UPDATE audit_log SET sequence = 4 WHERE sequence = 1002",
    )
    result = log.verify()
    assert (result.ok, result.first_bad_sequence) == (False, 2)


def test_a_value_overwritten_with_garbage_is_reported_not_crashed_on(tmp_path: Path) -> None:
    """SQLite stores whatever text it is given; PostgreSQL would refuse it at the UPDATE."""
    store = open_store(f"sqlite:///{tmp_path / 'audit.sqlite'}")
    try:
        log = AuditLog(store.engine)
        fill(log)
        sql(store.engine, "UPDATE audit_log SET detail = '{not json' WHERE sequence = 2")
        result = log.verify()
        assert (result.ok, result.first_bad_sequence) == (False, 2)
        assert "cannot be read" in (result.problem or "")
        sql(store.engine, "UPDATE audit_log SET at = 'yesterday' WHERE sequence = 1")
        assert log.verify().first_bad_sequence == 1
    finally:
        store.close()


# Anchors: what a chain alone cannot see


def test_cutting_the_newest_records_needs_an_anchor_to_be_seen(store: Store) -> None:
    log = AuditLog(store.engine)
    fill(log)
    head = log.verify()
    anchor = AuditAnchor(head.head_sequence, head.head_hash)
    sql(store.engine, "DELETE FROM audit_log WHERE sequence >= 4")
    assert log.verify().ok  # the documented limit of a bare chain
    result = log.verify(anchor)
    assert (result.ok, result.first_bad_sequence, result.records) == (False, 4, 3)
    assert "deleted from the end" in (result.problem or "")


def test_a_chain_rewritten_with_fresh_hashes_needs_an_anchor_to_be_seen(store: Store) -> None:
    log = AuditLog(store.engine)
    fill(log)
    anchor = AuditAnchor(4, stored_hash(store.engine, 4))
    records = log.records()
    prev_hash = stored_hash(store.engine, 1)
    for record in records[1:]:
        actor = "k-mallory" if record.sequence == 2 else record.actor
        forged = record_hash(
            prev_hash, record.sequence, record.at, actor, record.action, record.target,
            record.detail,
        )  # fmt: skip
        sql(
            store.engine,
            "UPDATE audit_log SET actor = :actor, prev_hash = :prev, hash = :forged "
            "WHERE sequence = :sequence",
            actor=actor,
            prev=prev_hash,
            forged=forged,
            sequence=record.sequence,
        )
        prev_hash = forged
    assert log.verify().ok  # the documented limit of a bare chain
    result = log.verify(anchor)
    assert (result.ok, result.first_bad_sequence) == (False, 4)
    assert "does not match the anchor" in (result.problem or "")


def test_an_anchor_of_the_intact_log_verifies() -> None:
    anchor = AuditAnchor.parse(f"12:{'AB' * 32}")
    assert anchor == AuditAnchor(12, "ab" * 32)
    for bad in ("12", "x:" + "ab" * 32, "0:" + "ab" * 32, "3:abc"):
        with pytest.raises(AuditRecordError):
            AuditAnchor.parse(bad)


# Storage


def test_migrations_create_exactly_the_service_tables_in_the_metadata(store_url: str) -> None:
    engine = create_engine_for(store_url)
    try:
        migrate(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
        assert differences == []
        assert {"api_keys", "audit_log", "personal_data"} <= set(metadata.tables)
    finally:
        engine.dispose()


# lendguard audit verify


def run(*arguments: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(audit_app, list(arguments))
    return result.exit_code, result.stdout, result.stderr


def test_verify_reports_an_intact_log_and_its_head(store: Store, store_url: str) -> None:
    log = AuditLog(store.engine)
    fill(log, 3)
    code, stdout, stderr = run("verify", "--db", store_url)
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0] == "audit log intact: 3 records"
    assert lines[1] == f"head: 3:{stored_hash(store.engine, 3)}"
    code, _, _ = run("verify", "--db", store_url, "--anchor", lines[1].removeprefix("head: "))
    assert code == 0


def test_verify_exits_1_naming_the_first_bad_record(store: Store, store_url: str) -> None:
    fill(AuditLog(store.engine))
    sql(store.engine, "UPDATE audit_log SET target = 'acct-999' WHERE sequence = 2")
    code, stdout, _ = run("verify", "--db", store_url)
    assert code == 1
    assert stdout.startswith("audit log broken at record 2: record 2 was altered")


def test_verify_refuses_a_missing_database_without_creating_it(tmp_path: Path) -> None:
    missing = tmp_path / "typo.sqlite"
    code, stdout, stderr = run("verify", "--db", f"sqlite:///{missing}")
    assert (code, stdout) == (2, "")
    assert "error[no_audit_log]" in stderr
    assert not missing.exists()


def test_verify_refuses_a_database_without_an_audit_log_or_a_bad_anchor(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    engine = create_engine_for(f"sqlite:///{path}")
    sql(engine, "CREATE TABLE unrelated (x INTEGER)")
    engine.dispose()
    code, _, stderr = run("verify", "--db", f"sqlite:///{path}")
    assert code == 2 and "error[no_audit_log]" in stderr
    code, _, stderr = run("verify", "--db", f"sqlite:///{path}", "--anchor", "nonsense")
    assert code == 2 and "error[invalid_audit_record]" in stderr
