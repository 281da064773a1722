"""Consent: which sources may be queried at the application date, and the audit that says why."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.underwriting.application import (
    Application,
    Consent,
    ConsentForm,
    ConsentSource,
    parse_application,
)
from lendguard.underwriting.consent import (
    CONSENT_COLUMNS,
    ConsentConfigError,
    ConsentStatus,
    consent_audit,
    consent_columns,
    consent_status,
    default_consent_policy,
    load_consent_policy,
)
from lendguard.underwriting.sample_applications import synthetic_applications

APPLIED_ON = dt.date(2026, 3, 2)
POLICY_TEXT = (
    Path(__file__).resolve().parents[1] / "src/lendguard/underwriting/data/consent.toml"
).read_text(encoding="utf-8")


def consent(
    source: str = "bureau",
    form: str = "written",
    purpose: str = "loan_application",
    granted: int = 0,
    withdrawn: int | None = None,
) -> dict[str, Any]:
    """A consent record; ``granted`` and ``withdrawn`` are days relative to ``APPLIED_ON``."""
    return {
        "source": source,
        "purpose": purpose,
        "form": form,
        "granted_on": (APPLIED_ON + dt.timedelta(days=granted)).isoformat(),
        "withdrawn_on": None
        if withdrawn is None
        else (APPLIED_ON + dt.timedelta(days=withdrawn)).isoformat(),
    }


def application(*consents: dict[str, Any], application_id: str = "APP-1") -> Application:
    return parse_application(
        {
            "application_id": application_id,
            "applied_on": APPLIED_ON.isoformat(),
            "product_id": "jiebei-standard",
            "requested_amount": "10000.00",
            "requested_term_months": 6,
            "applicant": {
                "applicant_id": "P-1",
                "name": "王芳",
                "id_number": "11010519491231002X",
                "phone": "13912345678",
                "birth_date": "1949-12-31",
                "region": "beijing",
                "monthly_income": "12000.00",
                "income_verified": True,
                "employment": "retired",
                "employment_months": 0,
                "monthly_obligations": "0.00",
                "dependants": 0,
            },
            "consents": list(consents),
        }
    )


MATRIX = [
    # source, form, purpose, granted, withdrawn, status
    ("bureau", "written", "loan_application", 0, None, "valid"),
    ("bureau", "written", "credit_limit_review", -30, None, "valid"),
    ("bureau", "electronic", "loan_application", 0, None, "form_not_allowed"),
    ("bureau", "oral", "loan_application", 0, None, "form_not_allowed"),
    ("bureau", "written", "marketing", 0, None, "purpose_not_allowed"),
    ("bureau", "written", "fraud_prevention", 0, None, "purpose_not_allowed"),
    ("bureau", "written", "loan_application", 1, None, "not_yet_granted"),
    ("bureau", "written", "loan_application", -5, 0, "withdrawn"),
    ("bureau", "written", "loan_application", -5, -1, "withdrawn"),
    ("bureau", "written", "loan_application", -5, 1, "valid"),
    ("bureau", "written", "loan_application", 0, 0, "withdrawn"),
    ("multi_lending", "electronic", "loan_application", 0, None, "valid"),
    ("multi_lending", "oral", "loan_application", 0, None, "form_not_allowed"),
    ("platform", "electronic", "credit_limit_review", 0, None, "valid"),
    ("blocklist", "electronic", "fraud_prevention", 0, None, "valid"),
    ("blocklist", "written", "post_loan_management", 0, None, "purpose_not_allowed"),
    ("sensitive", "written", "loan_application", 0, None, "valid"),
    ("sensitive", "electronic", "loan_application", 0, None, "form_not_allowed"),
]


@pytest.mark.parametrize(("source", "form", "purpose", "granted", "withdrawn", "status"), MATRIX)
def test_validity_matrix(
    source: str, form: str, purpose: str, granted: int, withdrawn: int | None, status: str
) -> None:
    item = application(consent(source, form, purpose, granted, withdrawn))
    columns = consent_columns([item])
    expected = {column: False for column in CONSENT_COLUMNS.values()}
    expected[f"consent_{source}"] = status == "valid"
    assert columns.iloc[0].to_dict() == expected
    (entry,) = [row for row in consent_audit(item) if row["source"] == source]
    assert entry["status"] == status and entry["valid"] == (status == "valid")


def test_columns_follow_the_contract() -> None:
    frame = consent_columns([application(), application(consent())])
    assert list(frame.columns) == [
        "consent_bureau",
        "consent_multi_lending",
        "consent_platform",
        "consent_blocklist",
        "consent_sensitive",
    ]
    assert all(str(kind) == "bool" for kind in frame.dtypes)
    assert frame["consent_bureau"].tolist() == [False, True]
    empty = consent_columns([])
    assert len(empty) == 0 and list(empty.columns) == list(CONSENT_COLUMNS.values())
    assert all(str(kind) == "bool" for kind in empty.dtypes)


def test_any_valid_consent_counts_and_the_audit_names_it() -> None:
    item = application(
        consent(form="electronic", granted=-1),
        consent(granted=-10),
        consent(granted=-3, withdrawn=-2),
    )
    assert consent_columns([item])["consent_bureau"].item()
    bureau = consent_audit(item)[0]
    assert bureau["status"] == "valid" and bureau["consents_given"] == 3
    assert bureau["consent"]["granted_on"] == "2026-02-20"
    assert bureau["consent"]["form"] == "written"


def test_without_a_valid_consent_the_audit_shows_the_latest_and_why() -> None:
    item = application(consent(form="electronic", granted=-1), consent(granted=-5, withdrawn=-2))
    bureau = consent_audit(item)[0]
    assert not bureau["valid"]
    assert bureau["status"] == "form_not_allowed"
    assert bureau["consent"]["granted_on"] == "2026-03-01"


def test_audit_for_a_missing_source() -> None:
    entries = consent_audit(application())
    assert [entry["source"] for entry in entries] == [str(source) for source in ConsentSource]
    assert all(entry["status"] == "missing" and entry["consent"] is None for entry in entries)
    assert all(entry["rule_source"].startswith("DOMAIN 6.") for entry in entries)
    policy = default_consent_policy()
    assert entries[0]["policy"] == f"{policy.policy.id}@{policy.policy.version}"
    assert len(entries[0]["policy_sha256"]) == 64


def test_audit_holds_no_personal_data() -> None:
    text = repr(consent_audit(application(consent())))
    assert "王芳" not in text and "11010519491231002X" not in text and "13912345678" not in text


def test_audit_agrees_with_columns_on_a_synthetic_batch() -> None:
    applications = synthetic_applications(2000, 21, APPLIED_ON)
    frame = consent_columns(applications)
    for position, item in enumerate(applications):
        entries = consent_audit(item)
        assert [entry["valid"] for entry in entries] == frame.iloc[position].tolist()
    shares = frame.mean()
    assert 0.8 < shares["consent_bureau"] < 0.97
    assert 0.8 < shares["consent_sensitive"] < 0.97


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(list(ConsentSource)),
    st.sampled_from(list(ConsentForm)),
    st.sampled_from(["loan_application", "credit_limit_review", "fraud_prevention", "marketing"]),
    st.integers(-400, 30),
    st.one_of(st.none(), st.integers(0, 400)),
)
def test_status_is_valid_exactly_when_all_four_conditions_hold(
    source: ConsentSource,
    form: ConsentForm,
    purpose: str,
    granted_days: int,
    withdrawn_after_days: int | None,
) -> None:
    granted_on = APPLIED_ON + dt.timedelta(days=granted_days)
    withdrawn_on = (
        None
        if withdrawn_after_days is None
        else granted_on + dt.timedelta(days=withdrawn_after_days)
    )
    record = Consent(
        source=source,
        purpose=purpose,
        form=form,
        granted_on=granted_on,
        withdrawn_on=withdrawn_on,
    )
    rule = default_consent_policy().sources[source]
    expected = (
        granted_on <= APPLIED_ON
        and (withdrawn_on is None or withdrawn_on > APPLIED_ON)
        and form in rule.forms
        and purpose in rule.purposes
    )
    assert (consent_status(record, APPLIED_ON, rule) is ConsentStatus.VALID) == expected


# --- The policy file ----------------------------------------------------------------------------


def test_packaged_policy_encodes_the_domain_rules() -> None:
    policy = default_consent_policy()
    assert set(policy.sources) == set(ConsentSource)
    assert policy.sources[ConsentSource.BUREAU].forms == {ConsentForm.WRITTEN}
    assert policy.sources[ConsentSource.SENSITIVE].forms == {ConsentForm.WRITTEN}
    assert "6.31" in policy.sources[ConsentSource.BUREAU].source
    assert "6.18" in policy.sources[ConsentSource.SENSITIVE].source
    assert "6.27" in policy.sources[ConsentSource.SENSITIVE].source
    assert all(ConsentForm.ORAL not in rule.forms for rule in policy.sources.values())


def test_a_policy_file_changes_the_outcome(tmp_path: Path) -> None:
    text = POLICY_TEXT.replace(
        'forms = ["written"]\npurposes = ["loan_application", "credit_limit_review"]\n'
        'source = "DOMAIN 6.31',
        'forms = ["written", "electronic"]\npurposes = ["loan_application"]\nsource = "DOMAIN 6.31',
    )
    assert text != POLICY_TEXT
    (tmp_path / "consent.toml").write_text(text, encoding="utf-8")
    policy = load_consent_policy(tmp_path / "consent.toml")
    item = application(consent(form="electronic"))
    assert consent_columns([item], policy)["consent_bureau"].item()
    assert not consent_columns([item])["consent_bureau"].item()


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("[sources.blocklist]", "[sources.unknown]", "sources.unknown"),
        ('forms = ["written"]', 'forms = ["carrier_pigeon"]', "sources.bureau.forms"),
        ('forms = ["written"]', "forms = []", "sources.bureau.forms"),
        ('purposes = ["loan_application", "credit_limit_review"]\n', "purposes = []\n", "purposes"),
        ('version = "2026.1"', 'version = "2026.1"\nowner = "x"', "policy.owner"),
        ('[policy]\nid = "underwriting-consent"', '[policy]\nid = ""', "policy.id"),
    ],
)
def test_malformed_policy_files_are_refused(tmp_path: Path, old: str, new: str, named: str) -> None:
    assert old in POLICY_TEXT
    path = tmp_path / "consent.toml"
    path.write_text(POLICY_TEXT.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConsentConfigError) as caught:
        load_consent_policy(path)
    assert caught.value.code == "invalid_consent_config"
    assert named in caught.value.message


def test_a_policy_missing_a_source_is_refused(tmp_path: Path) -> None:
    start = POLICY_TEXT.index("[sources.sensitive]")
    path = tmp_path / "consent.toml"
    path.write_text(POLICY_TEXT[:start], encoding="utf-8")
    with pytest.raises(ConsentConfigError, match="sources missing: sensitive"):
        load_consent_policy(path)


def test_unreadable_policy_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[policy\n", encoding="utf-8")
    with pytest.raises(ConsentConfigError):
        load_consent_policy(tmp_path / "bad.toml")
    with pytest.raises(ConsentConfigError):
        load_consent_policy(tmp_path / "absent.toml")
