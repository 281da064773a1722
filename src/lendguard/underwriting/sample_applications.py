"""Synthetic loan applications: a deterministic, realistic mix for tests, benchmarks and the demo.

The same ``(count, seed, applied_on)`` always gives the same applications (every draw comes from
one seeded generator, in a fixed order), so a failing test or benchmark replays from its seed.

The mix: ages 18-65 skewed young (most applicants are 25-40), with a small share of 16- and
17-year-olds that the age rule must decline; regions drawn evenly from the 31 provinces; incomes
log-normal around each province's income level, by employment (students and the unemployed earn
little or nothing); about half with existing repayments, a few of them heavy; amounts up to the
product maximum and a small share above it; consents mostly present and valid, some missing,
electronic where written is needed, withdrawn, for another purpose or granted after the application.
Identity numbers are built from the region and birth date with a correct GB 11643 check character,
except a small share with a deliberately wrong one.

The shares below shape test data and never decide anything, so they are named constants here rather
than policy configuration. Names and phone numbers are invented.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from lendguard.underwriting.application import (
    Applicant,
    Application,
    Consent,
    ConsentForm,
    ConsentSource,
    Employment,
    id_check_characters,
    known_regions,
)

SYNTHETIC_COUNT_MAX = 10_000_000
"""Applications one call may generate (about 10 GB of models beyond this)."""

PRODUCT_ID = "jiebei-standard"
PRODUCT_AMOUNT_MAX_MINOR = 5_000_000
"""The packaged cash loan's credit limit (50,000.00 yuan): the top of the usual requests."""

UNDER_AGE_SHARE = 0.02
BROKEN_CHECKSUM_SHARE = 0.01
ABOVE_PRODUCT_MAX_SHARE = 0.02
OBLIGATIONS_SHARE = 0.45
HEAVY_OBLIGATIONS_SHARE = 0.05
"""Shares of applicants: under 18, wrong ID check character, amount above the product maximum,
with existing repayments, and with repayments of 60-120% of income."""

REQUEST_MEDIAN_MINOR = 800_000
REQUEST_SPREAD = 0.8
REQUEST_STEP_MINOR = 50_000
TERMS_MONTHS = (3, 6, 12)
TERM_SHARES = (0.2, 0.35, 0.45)
"""Requests: log-normal around 8,000 yuan in steps of 500 yuan; terms as the product offers them."""

DEPENDANTS_SHARES = (0.45, 0.25, 0.2, 0.08, 0.02)
"""Shares of applicants with 0, 1, 2, 3 and 4 dependants."""

EARNER_INCOME_FACTOR = 1.5
"""An earner's income against the per-capita disposable income, which counts non-earners too."""

EMPLOYMENTS = (
    Employment.EMPLOYED,
    Employment.SELF_EMPLOYED,
    Employment.STUDENT,
    Employment.RETIRED,
    Employment.UNEMPLOYED,
)
EMPLOYMENT_SHARES = np.array(
    [
        [0.35, 0.05, 0.52, 0.00, 0.08],  # under 23
        [0.72, 0.17, 0.01, 0.02, 0.08],  # 23 to 59
        [0.25, 0.10, 0.00, 0.60, 0.05],  # 60 and over
    ]
)
"""Employment by age band, in the order of ``EMPLOYMENTS``."""

INCOME_MEDIAN_FACTOR = np.array([1.0, 1.1, 0.0, 0.5, 0.0])
INCOME_SPREAD = np.array([0.5, 0.8, 0.0, 0.3, 0.0])
INCOME_VERIFIED_SHARE = np.array([0.7, 0.35, 0.1, 0.8, 0.0])
"""By employment: median against the regional earner income, log-normal sigma, share verified."""

STUDENT_INCOME_MAX_MINOR = 250_000
OBLIGATIONS_BASE_MIN_MINOR = 300_000
"""Students earn up to 2,500 yuan; repayments of people with little income scale from 3,000 yuan."""

CONSENT_SOURCES = tuple(ConsentSource)
CONSENT_PRESENT_SHARE = np.array([0.96, 0.95, 0.97, 0.97, 0.93])
CONSENT_WRITTEN_SHARE = np.array([0.97, 0.25, 0.25, 0.25, 0.96])
"""By source in ``ConsentSource`` order: share holding a consent, share of those in writing (the
rest electronic, which the bureau and sensitive data do not accept)."""

CONSENT_OTHER_PURPOSE_SHARE = 0.02
CONSENT_FUTURE_SHARE = 0.005
CONSENT_WITHDRAWN_SHARE = 0.01

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN_NAMES = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉"


def synthetic_applications(count: int, seed: int, applied_on: dt.date) -> list[Application]:
    """``count`` applications dated ``applied_on``, the same for the same seed."""
    assert 0 <= count <= SYNTHETIC_COUNT_MAX, f"count {count} outside 0..{SYNTHETIC_COUNT_MAX}"
    rng = np.random.default_rng(seed)
    people = _people(rng, count, applied_on)
    loans = _loans(rng, count)
    consents = _consents(rng, count, applied_on)
    return [
        Application.model_construct(
            application_id=f"SYN-{seed}-{index:07d}",
            applied_on=applied_on,
            product_id=PRODUCT_ID,
            requested_amount_minor=loans["amount_minor"][index],
            requested_term_months=loans["term_months"][index],
            applicant=Applicant.model_construct(
                applicant_id=f"P-{seed}-{index:07d}",
                **{field: values[index] for field, values in people.items()},
            ),
            consents=consents[index],
        )
        for index in range(count)
    ]


def _loans(rng: np.random.Generator, count: int) -> dict[str, list[int]]:
    """Requested amounts in fen (multiples of 500 yuan) and terms in months."""
    drawn = np.exp(np.log(REQUEST_MEDIAN_MINOR) + REQUEST_SPREAD * rng.standard_normal(count))
    steps = np.rint(drawn / REQUEST_STEP_MINOR).astype(np.int64)
    usual = steps.clip(1, PRODUCT_AMOUNT_MAX_MINOR // REQUEST_STEP_MINOR) * REQUEST_STEP_MINOR
    above = PRODUCT_AMOUNT_MAX_MINOR + rng.integers(1, 301, count) * REQUEST_STEP_MINOR
    amount = np.where(rng.random(count) < ABOVE_PRODUCT_MAX_SHARE, above, usual)
    return {
        "amount_minor": amount.tolist(),
        "term_months": rng.choice(TERMS_MONTHS, count, p=TERM_SHARES).tolist(),
    }


def _people(rng: np.random.Generator, count: int, applied_on: dt.date) -> dict[str, list[Any]]:
    """The applicant fields other than the id, one list per field."""
    regions = known_regions().regions
    codes = list(regions)
    region = rng.integers(0, len(codes), count)
    age = np.where(
        rng.random(count) < UNDER_AGE_SHARE,
        rng.integers(16, 18, count),
        18 + np.rint(47 * rng.beta(2.0, 3.5, count)).astype(np.int64),
    )
    birth = _birth_dates(rng, age, applied_on)
    employment = _employment(rng, age)
    income_level = np.array([regions[code].annual_disposable_income_minor for code in codes])
    income = _incomes(rng, employment, income_level[region] * EARNER_INCOME_FACTOR / 12)
    prefixes = np.array([int(regions[code].division_prefix) for code in codes])
    return {
        "name": _names(rng, count),
        "id_number": _id_numbers(rng, prefixes[region], birth),
        "phone": [f"1{lead}{rest:09d}" for lead, rest in _phone_parts(rng, count)],
        "birth_date": [
            dt.date(day // 10000, day // 100 % 100, day % 100) for day in birth.tolist()
        ],
        "region": [codes[index] for index in region.tolist()],
        "monthly_income_minor": income.tolist(),
        "income_verified": (rng.random(count) < INCOME_VERIFIED_SHARE[employment]).tolist(),
        "employment": [EMPLOYMENTS[index] for index in employment.tolist()],
        "employment_months": _employment_months(rng, employment, age).tolist(),
        "monthly_obligations_minor": _obligations(rng, income).tolist(),
        "dependants": rng.choice(len(DEPENDANTS_SHARES), count, p=DEPENDANTS_SHARES).tolist(),
    }


def _birth_dates(rng: np.random.Generator, age: np.ndarray, applied_on: dt.date) -> np.ndarray:
    """Birth dates as YYYYMMDD integers, ``age`` years and a random part of a year before."""
    days_before = np.floor((age + rng.random(len(age))) * 365.2425).astype(np.int64)
    days = np.datetime64(applied_on, "D") - days_before
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    months = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    month_days = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    return years * 10000 + months * 100 + month_days


def _employment(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    band = np.digitize(age, [23, 60])
    cumulative = np.cumsum(EMPLOYMENT_SHARES[band], axis=1)
    return (rng.random(len(age))[:, None] > cumulative).sum(axis=1).clip(0, len(EMPLOYMENTS) - 1)


def _incomes(
    rng: np.random.Generator, employment: np.ndarray, earner_median_minor: np.ndarray
) -> np.ndarray:
    """Monthly incomes in fen: drawn as real numbers, rounded to 100 yuan as people declare them."""
    median = earner_median_minor * INCOME_MEDIAN_FACTOR[employment]
    spread = INCOME_SPREAD[employment]
    drawn = np.where(
        median > 0,
        np.exp(np.log(np.maximum(median, 1)) + spread * rng.standard_normal(len(employment))),
        0,
    )
    student = employment == EMPLOYMENTS.index(Employment.STUDENT)
    drawn = np.where(student, rng.uniform(0, STUDENT_INCOME_MAX_MINOR, len(employment)), drawn)
    return (np.rint(drawn / 10_000) * 10_000).astype(np.int64)


def _employment_months(
    rng: np.random.Generator, employment: np.ndarray, age: np.ndarray
) -> np.ndarray:
    working = employment <= EMPLOYMENTS.index(Employment.SELF_EMPLOYED)
    longest = np.clip((age - 16) * 12, 0, 480)
    return np.where(working, rng.integers(0, longest + 1), 0)


def _obligations(rng: np.random.Generator, income: np.ndarray) -> np.ndarray:
    """Existing monthly repayments in fen, rounded to 10 yuan; heavy ones exceed half the income."""
    count = len(income)
    share = rng.beta(2.0, 7.0, count)
    heavy = rng.random(count) < HEAVY_OBLIGATIONS_SHARE
    share = np.where(heavy, rng.uniform(0.6, 1.2, count), share)
    has = heavy | (rng.random(count) < OBLIGATIONS_SHARE)
    base = np.maximum(income, OBLIGATIONS_BASE_MIN_MINOR)
    return np.where(has, np.rint(base * share / 1_000) * 1_000, 0).astype(np.int64)


def _names(rng: np.random.Generator, count: int) -> list[str]:
    surname = rng.integers(0, len(SURNAMES), count).tolist()
    first = rng.integers(0, len(GIVEN_NAMES), count).tolist()
    second = rng.integers(-len(GIVEN_NAMES), len(GIVEN_NAMES), count).tolist()
    return [
        SURNAMES[s] + GIVEN_NAMES[f] + (GIVEN_NAMES[t] if t >= 0 else "")
        for s, f, t in zip(surname, first, second, strict=True)
    ]


def _phone_parts(rng: np.random.Generator, count: int) -> zip[tuple[int, int]]:
    return zip(
        rng.integers(3, 10, count).tolist(), rng.integers(0, 10**9, count).tolist(), strict=True
    )


_CHECK_ALPHABET = np.frombuffer(b"0123456789X", dtype=np.uint8)


def _id_numbers(rng: np.random.Generator, prefix: np.ndarray, birth: np.ndarray) -> list[str]:
    """Identity numbers: division code, birth date, sequence and check character (some wrong)."""
    count = len(birth)
    county = 100 + rng.integers(1, 6, count)
    body = prefix * 10**15 + county * 10**11 + birth * 1000 + rng.integers(0, 1000, count)
    digits = body[:, None] // 10 ** np.arange(16, -1, -1, dtype=np.int64) % 10
    check = id_check_characters(digits)
    broken = rng.random(count) < BROKEN_CHECKSUM_SHARE
    position = np.searchsorted(_CHECK_ALPHABET, check)
    wrong = _CHECK_ALPHABET[(position + rng.integers(1, 11, count)) % 11]
    check = np.where(broken, wrong, check)
    return [
        f"{number:017d}{chr(code)}"
        for number, code in zip(body.tolist(), check.tolist(), strict=True)
    ]


def _consents(
    rng: np.random.Generator, count: int, applied_on: dt.date
) -> list[tuple[Consent, ...]]:
    """Each application's consents, one per source present, some of them not valid.

    Consents are immutable, so equal ones are one shared object: a batch holds a few hundred
    distinct consents, and building each once keeps generation fast.
    """
    shape = (count, len(CONSENT_SOURCES))
    present = rng.random(shape) < CONSENT_PRESENT_SHARE
    written = rng.random(shape) < CONSENT_WRITTEN_SHARE
    other_purpose = rng.random(shape) < CONSENT_OTHER_PURPOSE_SHARE
    future = rng.random(shape) < CONSENT_FUTURE_SHARE
    granted = applied_on.toordinal() + np.where(
        future, rng.integers(1, 6, shape), -rng.integers(0, 4, shape)
    )
    withdrawn = rng.random(shape) < CONSENT_WITHDRAWN_SHARE
    withdrawn_on = granted + rng.integers(0, 1 + np.maximum(applied_on.toordinal() - granted, 0))
    rows = zip(
        present.tolist(),
        (other_purpose * 2 + written).tolist(),
        granted.tolist(),
        np.where(withdrawn, withdrawn_on, 0).tolist(),
        strict=True,
    )
    made: dict[tuple[int, int, int, int], Consent] = {}
    return [_consent_row(made, *row) for row in rows]


def _consent_row(
    made: dict[tuple[int, int, int, int], Consent],
    present: list[bool],
    kinds: list[int],
    granted: list[int],
    withdrawn: list[int],
) -> tuple[Consent, ...]:
    consents = []
    for index, is_present in enumerate(present):
        if is_present:
            key = (index, kinds[index], granted[index], withdrawn[index])
            consent = made.get(key)
            if consent is None:
                consent = made[key] = _consent(*key)
            consents.append(consent)
    return tuple(consents)


def _consent(source_index: int, kind: int, granted: int, withdrawn: int) -> Consent:
    """``kind``: bit 0 written (else electronic), bit 1 another purpose (else loan_application)."""
    return Consent.model_construct(
        source=CONSENT_SOURCES[source_index],
        purpose="marketing" if kind & 2 else "loan_application",
        form=ConsentForm.WRITTEN if kind & 1 else ConsentForm.ELECTRONIC,
        granted_on=dt.date.fromordinal(granted),
        withdrawn_on=dt.date.fromordinal(withdrawn) if withdrawn else None,
    )
