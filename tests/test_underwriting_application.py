"""Application intake: parsing, identity checks, masking, the intake frame, batch rows, samples."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.underwriting.application import (
    INTAKE_COLUMNS,
    ROW_COLUMNS_REQUIRED,
    Application,
    ApplicationError,
    application_frame,
    application_rows,
    id_number_valid,
    id_numbers_valid,
    known_regions,
    masked_id_number,
    masked_phone,
    parse_application,
    parse_application_rows,
)
from lendguard.underwriting.sample_applications import synthetic_applications

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "applications"
APPLIED_ON = dt.date(2026, 3, 2)

BASE: dict[str, Any] = {
    "application_id": "APP-1",
    "applied_on": "2026-03-02",
    "product_id": "jiebei-standard",
    "requested_amount": "20000.00",
    "requested_term_months": 12,
    "applicant": {
        "applicant_id": "P-1",
        "name": "王芳",
        "id_number": "11010519491231002X",
        "phone": "13912345678",
        "birth_date": "1949-12-31",
        "region": "beijing",
        "monthly_income": "12000.00",
        "income_verified": True,
        "employment": "employed",
        "employment_months": 36,
        "monthly_obligations": "1500.00",
        "dependants": 1,
    },
    "consents": [
        {
            "source": "bureau",
            "purpose": "loan_application",
            "form": "written",
            "granted_on": "2026-03-01",
            "withdrawn_on": None,
        }
    ],
}
PII = ("王芳", "11010519491231002X", "13912345678")


def data(**changes: Any) -> dict[str, Any]:
    """A fresh copy of BASE; keys like ``applicant__region`` or ``consents__0__form`` go deep."""
    result = copy.deepcopy(BASE)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target: Any = result
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DROP:
            del target[last]
        else:
            target[last] = value
    return result


_DROP = object()


def reference_check_character(body: str) -> str:
    """ISO 7064 MOD 11-2 as written in the standard: sum of a_i * 2^(i-1) mod 11 from the right."""
    total = sum(int(digit) * 2 ** (17 - index) for index, digit in enumerate(body)) % 11
    value = (12 - total) % 11
    return "X" if value == 10 else str(value)


# --- Identity numbers ---------------------------------------------------------------------------


def test_known_identity_numbers() -> None:
    # GB 11643-1999's own example: 11010519491231002X, born 31 December 1949.
    assert id_number_valid("11010519491231002X", dt.date(1949, 12, 31))
    assert reference_check_character("11010519491231002") == "X"
    # By hand: weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 over 11010519491231002 sum to 167;
    # 167 mod 11 = 2, and the table 1 0 X 9 8 7 6 5 4 3 2 gives "X" for 2.
    # 44052418800101001 sums to 195; 195 mod 11 = 8 -> "4".
    assert id_number_valid("440524188001010014", dt.date(1880, 1, 1))
    assert not id_number_valid("110105194912310021", dt.date(1949, 12, 31))  # wrong check digit
    assert not id_number_valid("11010519491231002X", dt.date(1949, 12, 30))  # other birth date
    assert not id_number_valid("11010519491231002", dt.date(1949, 12, 31))  # 17 characters
    assert not id_number_valid("1101051949123100AX", dt.date(1949, 12, 31))


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[0-9]{17}", fullmatch=True), st.sampled_from("0123456789X"))
def test_vector_check_matches_the_standard_formula(body: str, check: str) -> None:
    birth = int(body[6:14])
    valid = id_numbers_valid([body + check], np.array([birth]))[0]
    assert bool(valid) == (check == reference_check_character(body))


def test_masking_keeps_only_division_code_and_sequence() -> None:
    assert masked_id_number("11010519491231002X") == "110105********002X"
    assert masked_phone("13912345678") == "139****5678"
    assert masked_id_number("12345") == "*****"
    assert masked_phone("123") == "***"


# --- Parsing ------------------------------------------------------------------------------------


def test_a_good_application_parses_into_fen() -> None:
    application = parse_application(BASE)
    assert application.requested_amount_minor == 2_000_000
    assert application.applicant.monthly_income_minor == 1_200_000
    assert application.applicant.monthly_obligations_minor == 150_000
    assert application.consents[0].granted_on == dt.date(2026, 3, 1)
    assert parse_application(json.dumps(BASE)) == application
    assert parse_application(json.dumps(BASE).encode()) == application


def test_round_trip_writes_amounts_as_yuan_strings() -> None:
    application = parse_application(BASE)
    dumped = json.loads(application.model_dump_json())
    assert dumped["requested_amount"] == "20000.00"
    assert dumped["applicant"]["monthly_income"] == "12000.00"
    assert parse_application(dumped) == application


def test_repr_hides_personal_information() -> None:
    text = repr(parse_application(BASE))
    assert not any(value in text for value in PII)


def test_lower_case_check_character_is_accepted() -> None:
    application = parse_application(data(applicant__id_number="11010519491231002x"))
    assert application.applicant.id_number == "11010519491231002X"


MALFORMED = [
    ("application_id", {"application_id": 17}),
    ("application_id", {"application_id": ""}),
    ("extra", {"extra": 1}),
    ("applicant.nickname", {"applicant__nickname": "x"}),
    ("applicant.monthly_income", {"applicant__monthly_income": "-1.00"}),
    ("applicant.monthly_income", {"applicant__monthly_income": 12000.5}),
    ("applicant.monthly_income", {"applicant__monthly_income": "12000.001"}),
    ("applicant.monthly_obligations", {"applicant__monthly_obligations": "-0.01"}),
    ("requested_amount", {"requested_amount": "0.00"}),
    ("requested_amount", {"requested_amount": "-500.00"}),
    ("requested_amount", {"requested_amount": "1e4"}),
    ("requested_term_months", {"requested_term_months": 0}),
    ("requested_term_months", {"requested_term_months": "12"}),
    ("requested_term_months", {"requested_term_months": True}),
    ("requested_term_months", {"requested_term_months": 12.0}),
    ("applicant.employment", {"applicant__employment": "astronaut"}),
    ("applicant.income_verified", {"applicant__income_verified": "yes"}),
    ("applicant.employment_months", {"applicant__employment_months": -1}),
    ("applicant.dependants", {"applicant__dependants": -1}),
    ("consents.0.form", {"consents__0__form": "email"}),
    ("consents.0.source", {"consents__0__source": "social_media"}),
    ("consents.0.purpose", {"consents__0__purpose": "Loan Application!"}),
    ("applicant.id_number", {"applicant__id_number": "11010519491231002"}),
    ("applicant.id_number", {"applicant__id_number": "11010519491231002XX"}),
    ("applicant.id_number", {"applicant__id_number": "1101051949123100A2"}),
    ("applicant.phone", {"applicant__phone": "1391234567"}),
    ("applicant.phone", {"applicant__phone": "23912345678"}),
    ("applicant.phone", {"applicant__phone": "+8613912345678"}),
    ("applicant.region", {"applicant__region": "hongkong"}),
    ("applicant.region", {"applicant__region": "Beijing"}),
    ("applied_on", {"applied_on": "2026-02-30"}),
    ("applied_on", {"applied_on": "02/03/2026"}),
    ("applied_on", {"applied_on": "2026-03-02T10:00:00"}),
    ("applied_on", {"applied_on": 20260302}),
    ("applicant.birth_date", {"applicant__birth_date": "1850-01-01"}),
    ("applicant.birth_date", {"applicant__birth_date": "2026-03-03"}),
    ("consents.0.withdrawn_on", {"consents__0__withdrawn_on": "2026-02-28"}),
    ("applicant.name", {"applicant__name": _DROP}),
    ("consents", {"consents": "bureau"}),
]


@pytest.mark.parametrize(("field", "changes"), MALFORMED)
def test_each_malformed_field_is_named(field: str, changes: dict[str, Any]) -> None:
    with pytest.raises(ApplicationError) as caught:
        parse_application(data(**changes))
    assert caught.value.code == "invalid_application"
    assert caught.value.fields == (field,)
    assert caught.value.message.startswith(f"{field}: ")
    assert not any(value in caught.value.message for value in PII)


def test_every_bad_field_is_named_at_once() -> None:
    bad = data(
        requested_term_months=0,
        applicant__phone="12",
        applicant__id_number="1",
        applicant__monthly_income=5,
        consents__0__form="oral-ish",
    )
    with pytest.raises(ApplicationError) as caught:
        parse_application(bad)
    assert set(caught.value.fields) == {
        "requested_term_months",
        "applicant.phone",
        "applicant.id_number",
        "applicant.monthly_income",
        "consents.0.form",
    }


def test_personal_data_never_reaches_an_error_message() -> None:
    bad = data(applicant__id_number="1101051949123100Z1", applicant__phone="139123456789")
    bad["applicant"]["name"] = 13912345678
    with pytest.raises(ApplicationError) as caught:
        parse_application(bad)
    message = caught.value.message
    assert "1101051949123100Z1" not in message and "139123456789" not in message
    assert "13912345678" not in message


@pytest.mark.parametrize("text", ["{", "[]", '"an application"', "null"])
def test_not_an_object(text: str) -> None:
    with pytest.raises(ApplicationError):
        parse_application(text)


def test_policy_outcomes_are_not_parse_errors() -> None:
    young = parse_application(
        data(applicant__birth_date="2010-05-01", applicant__id_number="110105201005010026")
    )
    huge = parse_application(data(requested_amount="9999999.00"))
    mismatch = parse_application(data(applicant__birth_date="1950-01-01"))
    frame = application_frame([young, huge, mismatch])
    assert frame["age_years"].tolist()[0] == 15
    assert frame["requested_amount_minor"].tolist()[1] == 999_999_900
    assert frame["id_number_valid"].tolist() == [True, True, False]


# --- The intake frame ---------------------------------------------------------------------------


def _aged(birth: str, applied: str) -> int:
    application = parse_application(data(applied_on=applied, applicant__birth_date=birth))
    return int(application_frame([application])["age_years"].iat[0])


@pytest.mark.parametrize(
    ("birth", "applied", "age"),
    [
        ("2000-03-02", "2026-03-02", 26),  # birthday today: a year older
        ("2000-03-03", "2026-03-02", 25),  # birthday tomorrow
        ("2008-03-02", "2026-03-02", 18),  # eighteen today
        ("2008-03-03", "2026-03-02", 17),
        ("2000-02-29", "2027-02-28", 26),  # leapling in a common year: not yet on 28 Feb
        ("2000-02-29", "2027-03-01", 27),  # ... a year older on 1 March
        ("2000-02-29", "2028-02-29", 28),  # ... and on the day in a leap year
        ("2000-02-29", "2028-02-28", 27),
        ("2026-03-02", "2026-03-02", 0),
        ("1999-12-31", "2026-01-01", 26),
    ],
)
def test_age_in_whole_years(birth: str, applied: str, age: int) -> None:
    assert _aged(birth, applied) == age


@settings(max_examples=200, deadline=None)
@given(st.dates(dt.date(1900, 1, 1), dt.date(2070, 1, 1)), st.integers(0, 120 * 366))
def test_age_counts_birthdays_passed(birth: dt.date, days_later: int) -> None:
    applied = birth + dt.timedelta(days=days_later)
    birthdays = sum(
        1 for year in range(birth.year + 1, applied.year + 1) if _birthday(birth, year) <= applied
    )
    assert _aged(birth.isoformat(), applied.isoformat()) == birthdays


def _birthday(birth: dt.date, year: int) -> dt.date:
    """The birthday in ``year``; 29 February falls on 1 March in a common year."""
    try:
        return birth.replace(year=year)
    except ValueError:
        return dt.date(year, 3, 1)


def test_frame_has_exactly_the_contract_columns() -> None:
    applications = synthetic_applications(50, 1, APPLIED_ON)
    frame = application_frame(applications)
    assert list(frame.columns) == list(INTAKE_COLUMNS)
    assert {name: str(kind) for name, kind in frame.dtypes.items()} == INTAKE_COLUMNS
    assert frame["application_id"].tolist() == [item.application_id for item in applications]
    assert frame["applied_on"].tolist() == [APPLIED_ON] * 50
    empty = application_frame([])
    assert list(empty.columns) == list(INTAKE_COLUMNS) and len(empty) == 0
    assert {name: str(kind) for name, kind in empty.dtypes.items()} == INTAKE_COLUMNS


def test_frame_holds_no_personal_data() -> None:
    applications = synthetic_applications(200, 2, APPLIED_ON)
    frame = application_frame(applications)
    cells = {str(cell) for column in frame.columns for cell in frame[column]}
    for item in applications:
        person = item.applicant
        assert not {person.name, person.id_number, person.phone} & cells


# --- Batch rows ---------------------------------------------------------------------------------


def _csv(frame: pd.DataFrame) -> pd.DataFrame:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    buffer.seek(0)
    return pd.read_csv(buffer, dtype=str)


def test_rows_round_trip_through_csv_and_parquet(tmp_path: Path) -> None:
    applications = synthetic_applications(300, 5, APPLIED_ON)
    flat = application_rows(applications)
    good, bad = parse_application_rows(_csv(flat))
    assert bad == [] and good == applications
    flat.to_parquet(tmp_path / "batch.parquet")
    good, bad = parse_application_rows(pd.read_parquet(tmp_path / "batch.parquet"))
    assert bad == [] and good == applications


def test_bad_rows_never_stop_good_ones() -> None:
    applications = synthetic_applications(20, 6, APPLIED_ON)
    rows = _csv(application_rows(applications))
    rows.loc[3, "applicant_monthly_income"] = "-3.00"
    rows.loc[7, "consent_bureau_form"] = "email"
    rows.loc[7, "requested_term_months"] = "twelve"
    rows.loc[11, "applicant_phone"] = "12345"
    rows.loc[12, "applicant_region"] = np.nan
    good, bad = parse_application_rows(rows)
    assert [position for position, _ in bad] == [3, 7, 11, 12]
    assert [error.fields for _, error in bad] == [
        ("applicant_monthly_income",),
        ("requested_term_months", "consent_bureau_form"),
        ("applicant_phone",),
        ("applicant_region",),
    ]
    assert "12345" not in bad[2][1].message
    keep = [index for index in range(20) if index not in {3, 7, 11, 12}]
    assert good == [applications[index] for index in keep]


def test_rows_accept_text_integers_and_booleans() -> None:
    row = {
        "application_id": "A-1",
        "applied_on": "2026-03-02",
        "product_id": "jiebei-standard",
        "requested_amount": "5000.00",
        "requested_term_months": "6",
        "applicant_id": "P-1",
        "applicant_name": "王芳",
        "applicant_id_number": "11010519491231002X",
        "applicant_phone": "13912345678",
        "applicant_birth_date": "1949-12-31",
        "applicant_region": "beijing",
        "applicant_monthly_income": "8000",
        "applicant_income_verified": "TRUE",
        "applicant_employment": "retired",
        "applicant_employment_months": "0",
        "applicant_monthly_obligations": "0",
        "applicant_dependants": "0",
        "consent_sensitive_form": "written",
        "consent_sensitive_purpose": "loan_application",
        "consent_sensitive_granted_on": "2026-03-02",
    }
    good, bad = parse_application_rows(pd.DataFrame([row]))
    assert bad == []
    (application,) = good
    assert application.requested_term_months == 6 and application.applicant.income_verified
    assert [consent.source for consent in application.consents] == ["sensitive"]


def test_half_written_consent_names_its_columns() -> None:
    rows = application_rows(synthetic_applications(1, 8, APPLIED_ON))
    rows["consent_platform_form"] = "written"
    rows["consent_platform_purpose"] = None
    rows["consent_platform_granted_on"] = None
    _, bad = parse_application_rows(rows)
    assert bad[0][1].fields == ("consent_platform_purpose", "consent_platform_granted_on")


def test_two_consents_for_one_source_do_not_fit_the_flat_layout() -> None:
    twice = parse_application(data(consents=[BASE["consents"][0], BASE["consents"][0]]))
    with pytest.raises(ApplicationError) as caught:
        application_rows([twice])
    assert caught.value.fields == ("consents",)


def test_a_plain_message_error_names_the_application() -> None:
    error = ApplicationError("the application is too large")
    assert error.message == "the application is too large"
    assert error.fields == ("(application)",)
    assert error.code == "invalid_application"


def test_unknown_or_missing_columns_fail_the_batch() -> None:
    rows = application_rows(synthetic_applications(2, 9, APPLIED_ON))
    with pytest.raises(ApplicationError) as caught:
        parse_application_rows(rows.assign(applicant_salary="1").drop(columns="applicant_phone"))
    assert caught.value.fields == ("applicant_salary", "applicant_phone")
    consents_optional = rows[list(ROW_COLUMNS_REQUIRED)]
    good, bad = parse_application_rows(consents_optional)
    assert len(good) == 2 and bad == [] and all(not item.consents for item in good)


# --- Reference data, examples and synthetic applications -----------------------------------------


def test_regions_are_the_31_mainland_provinces() -> None:
    table = known_regions()
    assert len(table.regions) == 31
    assert {"beijing", "shanghai", "guangdong", "xizang", "shaanxi", "shanxi"} <= set(table.regions)
    assert len({region.division_prefix for region in table.regions.values()}) == 31
    assert table.source and table.income_source


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda path: path.stem)
def test_examples_parse_with_valid_identity(path: Path) -> None:
    application = parse_application(path.read_bytes())
    person = application.applicant
    assert id_number_valid(person.id_number, person.birth_date)


def test_examples_cover_the_promised_cases() -> None:
    assert {path.stem for path in EXAMPLES.glob("*.json")} >= {
        "approve-clean",
        "thin-file-young",
        "no-bureau-consent",
        "high-obligations",
    }


def test_synthetic_applications_are_deterministic() -> None:
    first = synthetic_applications(500, 42, APPLIED_ON)
    assert first == synthetic_applications(500, 42, APPLIED_ON)
    assert first != synthetic_applications(500, 43, APPLIED_ON)
    assert synthetic_applications(0, 42, APPLIED_ON) == []


def test_synthetic_applications_are_valid_and_mixed() -> None:
    applications = synthetic_applications(10_000, 11, APPLIED_ON)
    reparsed = [parse_application(item.model_dump_json()) for item in applications[:2000]]
    assert reparsed == applications[:2000]
    frame = application_frame(applications)
    assert frame["application_id"].is_unique
    invalid = ~frame["id_number_valid"]
    assert 0.005 < invalid.mean() < 0.016
    # A broken number differs only in its check character: the birth date digits still match.
    for item in np.array(applications, dtype=object)[invalid.to_numpy()][:20]:
        person = item.applicant
        assert person.id_number[6:14] == person.birth_date.strftime("%Y%m%d")
        assert person.id_number[:2] == known_regions().regions[person.region].division_prefix
    ages = frame["age_years"]
    assert 0.01 < (ages < 18).mean() < 0.03 and ages.max() <= 66 and ages.min() >= 15
    assert set(frame["employment"]) == {
        "employed",
        "self_employed",
        "student",
        "retired",
        "unemployed",
    }
    assert (frame["monthly_obligations_minor"] > frame["monthly_income_minor"] * 0.6).mean() > 0.02
    assert frame["region"].nunique() == 31
    assert (frame["requested_amount_minor"] > 5_000_000).mean() > 0.01


def test_synthetic_incomes_follow_regional_levels() -> None:
    frame = application_frame(synthetic_applications(10_000, 12, APPLIED_ON))
    employed = frame[frame["employment"] == "employed"]
    median = employed.groupby("region")["monthly_income_minor"].median()
    assert median["shanghai"] > 2 * median["gansu"]


def test_amounts_are_integers_and_income_has_no_floats() -> None:
    application: Application = synthetic_applications(1, 13, APPLIED_ON)[0]
    assert isinstance(application.requested_amount_minor, int)
    assert isinstance(application.applicant.monthly_income_minor, int)
    assert isinstance(application.requested_term_months, int)
