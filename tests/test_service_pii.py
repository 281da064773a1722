"""Personal data: sealed with AES-256-GCM at rest, bound to its row, rotated, masked when shown."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from lendguard import limits
from lendguard.service.pii import (
    EnvKeyProvider,
    InvalidPersonalDataError,
    PersonalDataError,
    PersonalDataVault,
    PiiKeyError,
    mask,
    mask_all,
    new_key_entry,
)
from lendguard.store import Store, open_store
from lendguard.store.service_tables import personal_data

K1 = new_key_entry("k1")
K2 = new_key_entry("k2")

PEOPLE = {
    "applicant-1": {"name": "王小明", "id_number": "110101199003078515", "phone": "13912345678"},
    "applicant-2": {"name": "Li Hua", "id_number": "440305198512240031", "phone": "18600001111"},
    "applicant-3": {"name": "陈静", "id_number": "31010419770615002X", "phone": "15055556666"},
}


def fill(vault: PersonalDataVault) -> None:
    for subject_id, values in PEOPLE.items():
        for kind, value in values.items():
            vault.put(subject_id, kind, value)


def encoded(key: bytes) -> str:
    return base64.b64encode(key).decode()


# Keys from the environment


def test_the_first_key_is_current_and_the_others_still_open() -> None:
    keys = EnvKeyProvider(f"{K2}, {K1}")
    current_id, current = keys.current()
    assert current_id == "k2" and len(current) == 32
    assert keys.get("k1") == base64.b64decode(K1.split(":")[1])
    assert keys.key_ids == ("k2", "k1")
    with pytest.raises(LookupError, match="k3"):
        keys.get("k3")


@pytest.mark.parametrize(
    ("configured", "complaint"),
    [
        ("", "no data keys"),
        (" , ", "no data keys"),
        (f"k1:{encoded(b'x' * 16)}", "16 bytes"),
        (f"k1:{encoded(b'x' * 33)}", "33 bytes"),
        ("k1:not*base64!", "not valid base64"),
        (encoded(b"x" * 32), "<id>:<base64>"),
        (f"bad id:{encoded(b'x' * 32)}", "<id>:<base64>"),
        (f"{K1},{K1}", "twice"),
        (",".join(new_key_entry(f"k{number}") for number in range(17)), "at most 16"),
    ],
)
def test_doubtful_key_text_is_refused(configured: str, complaint: str) -> None:
    with pytest.raises(PiiKeyError, match=complaint):
        EnvKeyProvider(configured)


def test_key_material_never_appears_in_a_repr_or_an_error() -> None:
    keys = EnvKeyProvider(f"{K2},{K1}")
    assert K1.split(":")[1] not in repr(keys) and K2.split(":")[1] not in repr(keys)
    short = encoded(b"secret-material!")
    with pytest.raises(PiiKeyError) as refused:
        EnvKeyProvider(f"k1:{short}")
    assert short not in str(refused.value)


# The vault


def test_values_round_trip_and_missing_ones_are_none(store: Store) -> None:
    vault = PersonalDataVault(store.engine, EnvKeyProvider(K1))
    fill(vault)
    for subject_id, values in PEOPLE.items():
        assert vault.get_subject(subject_id) == values
        for kind, value in values.items():
            assert vault.get(subject_id, kind) == value
    assert vault.get("nobody", "name") is None
    assert vault.get_subject("nobody") == {}


def test_put_replaces_a_value_and_reseals_it_with_a_fresh_nonce(store: Store) -> None:
    vault = PersonalDataVault(store.engine, EnvKeyProvider(K1))
    vault.put("applicant-1", "phone", "13912345678")
    before = sealed(store, "applicant-1", "phone")
    vault.put("applicant-1", "phone", "13912345678")
    after = sealed(store, "applicant-1", "phone")
    assert before[1] != after[1] and before[2] != after[2]
    vault.put("applicant-1", "phone", "13800000000")
    assert vault.get("applicant-1", "phone") == "13800000000"


def test_no_plaintext_reaches_the_database_rows(store: Store) -> None:
    fill(PersonalDataVault(store.engine, EnvKeyProvider(K1)))
    with store.engine.connect() as connection:
        rows = connection.execute(select(personal_data)).all()
    assert len(rows) == 9
    for row in rows:
        value = PEOPLE[row.subject_id][row.kind].encode()
        assert value not in bytes(row.ciphertext) and value not in bytes(row.nonce)


def test_no_plaintext_reaches_the_sqlite_files(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'people.sqlite'}")
    fill(PersonalDataVault(store.engine, EnvKeyProvider(K1)))
    store.close()
    written = b"".join(path.read_bytes() for path in tmp_path.glob("people.sqlite*"))
    assert b"applicant-2" in written  # the files read are the ones holding the rows
    for values in PEOPLE.values():
        for value in values.values():
            assert value.encode() not in written, value
            assert value.encode("utf-16-le") not in written, value


def test_rotation_reseals_every_row_so_the_old_key_can_go(store: Store) -> None:
    fill(PersonalDataVault(store.engine, EnvKeyProvider(K1)))
    with pytest.raises(PersonalDataError, match="'k1', which is not configured"):
        PersonalDataVault(store.engine, EnvKeyProvider(K2)).get("applicant-1", "name")
    rotating = PersonalDataVault(store.engine, EnvKeyProvider(f"{K2},{K1}"))
    assert rotating.rotate() == 9
    assert rotating.rotate() == 0
    new_only = PersonalDataVault(store.engine, EnvKeyProvider(K2))
    for subject_id, values in PEOPLE.items():
        assert new_only.get_subject(subject_id) == values
    with pytest.raises(PersonalDataError, match="'k2', which is not configured"):
        PersonalDataVault(store.engine, EnvKeyProvider(K1)).get("applicant-3", "phone")


def test_rotation_walks_every_page(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(PersonalDataVault(store.engine, EnvKeyProvider(K1)))
    monkeypatch.setattr(limits, "page_size_max", 2)
    assert PersonalDataVault(store.engine, EnvKeyProvider(f"{K2},{K1}")).rotate() == 9
    with store.engine.connect() as connection:
        key_ids = connection.execute(select(personal_data.c.key_id).distinct()).scalars().all()
    assert key_ids == ["k2"]


def sealed(store: Store, subject_id: str, kind: str) -> tuple[str, bytes, bytes]:
    table = personal_data
    query = select(table.c.key_id, table.c.nonce, table.c.ciphertext).where(
        table.c.subject_id == subject_id, table.c.kind == kind
    )
    with store.engine.connect() as connection:
        key_id, nonce, ciphertext = connection.execute(query).one()
    return key_id, bytes(nonce), bytes(ciphertext)


def overwrite(store: Store, subject_id: str, kind: str, value: tuple[str, bytes, bytes]) -> None:
    table = personal_data
    statement = (
        update(table)
        .where(table.c.subject_id == subject_id, table.c.kind == kind)
        .values(key_id=value[0], nonce=value[1], ciphertext=value[2])
    )
    with store.engine.begin() as connection:
        connection.execute(statement)


@pytest.mark.parametrize(
    ("source", "destination"),
    [
        (("applicant-2", "id_number"), ("applicant-1", "id_number")),  # another person's
        (("applicant-1", "name"), ("applicant-1", "phone")),  # another kind of the same person
    ],
)
def test_a_ciphertext_moved_to_another_row_does_not_decrypt(
    store: Store, source: tuple[str, str], destination: tuple[str, str]
) -> None:
    vault = PersonalDataVault(store.engine, EnvKeyProvider(K1))
    fill(vault)
    overwrite(store, *destination, sealed(store, *source))
    with pytest.raises(PersonalDataError, match="altered or moved") as refused:
        vault.get(*destination)
    assert PEOPLE[source[0]][source[1]] not in str(refused.value)
    assert vault.get(*source) == PEOPLE[source[0]][source[1]]


def test_a_flipped_ciphertext_byte_is_detected(store: Store) -> None:
    vault = PersonalDataVault(store.engine, EnvKeyProvider(K1))
    fill(vault)
    key_id, nonce, ciphertext = sealed(store, "applicant-3", "id_number")
    overwrite(
        store,
        "applicant-3",
        "id_number",
        (key_id, nonce, bytes([ciphertext[0] ^ 1]) + ciphertext[1:]),
    )
    with pytest.raises(PersonalDataError):
        vault.get("applicant-3", "id_number")


@pytest.mark.parametrize(
    ("subject_id", "kind", "value"),
    [
        ("applicant-1", "email", "a@example.com"),
        ("applicant-1", "name", ""),
        ("applicant-1", "name", "x" * 257),
        ("", "name", "王小明"),
        ("s" * 129, "name", "王小明"),
    ],
)
def test_values_the_vault_refuses_write_nothing(
    store: Store, subject_id: str, kind: str, value: str
) -> None:
    vault = PersonalDataVault(store.engine, EnvKeyProvider(K1))
    with pytest.raises(InvalidPersonalDataError):
        vault.put(subject_id, kind, value)
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM personal_data")).scalar_one() == 0


# Masking


@pytest.mark.parametrize(
    ("kind", "value", "shown"),
    [
        ("id_number", "110101199003078515", "110101********8515"),
        ("id_number", "12345", "*****"),
        ("phone", "13912345678", "139****5678"),
        ("phone", "12345", "*****"),
        ("name", "王小明", "王*"),
        ("name", "Li Hua", "L*"),
        ("name", "", ""),
    ],
)
def test_masking_keeps_only_what_identifies_no_one(kind: str, value: str, shown: str) -> None:
    assert mask(kind, value) == shown


def test_masking_a_whole_subject_and_an_unknown_kind() -> None:
    assert mask_all(PEOPLE["applicant-1"]) == {
        "name": "王*",
        "id_number": "110101********8515",
        "phone": "139****5678",
    }
    with pytest.raises(InvalidPersonalDataError):
        mask("email", "a@example.com")
