"""The decision engine and desk: one vectorised rule set, limits, prices, audit and human review."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.plans.apr import percent_text, schedule_apr
from lendguard.plans.interest import Rate
from lendguard.plans.schedule import build_schedule
from lendguard.store import Store
from lendguard.store.underwriting import DecisionStore, DuplicateApplicationError, ReviewStateError
from lendguard.underwriting.application import ApplicationError, parse_application
from lendguard.underwriting.desk import UnderwritingDesk
from lendguard.underwriting.engine import Parts, Underwriter
from lendguard.underwriting.sample_applications import synthetic_applications
from lendguard.underwriting.sources import SourceRequest
from lendguard.underwriting.sources_synthetic import SyntheticSources
from lendguard.underwriting.standard import packaged_model, standard_parts, standard_underwriter

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "applications"
DAY = dt.date(2026, 11, 29)


@pytest.fixture(scope="module")
def underwriter() -> Underwriter:
    return standard_underwriter()


@pytest.fixture(scope="module")
def applications() -> list:
    return synthetic_applications(1500, 11, DAY)


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def test_a_batch_decides_exactly_as_one_at_a_time(underwriter, applications) -> None:
    batch = underwriter.decide_batch(applications[:150]).decisions()
    single = [underwriter.decide(application) for application in applications[:150]]
    assert [d.public() for d in batch] == [d.public() for d in single]


def test_decisions_are_deterministic(underwriter, applications) -> None:
    first = underwriter.decide_batch(applications).outputs
    again = standard_underwriter().decide_batch(applications).outputs
    assert first.equals(again)


def test_limits_respect_every_cap(underwriter, applications) -> None:
    batch = underwriter.decide_batch(applications)
    frame, outputs = batch.frame, batch.outputs
    config = underwriter.parts.config
    grade_limit = dict(
        zip((g.name for g in config.grade), config.grade_limits_minor(), strict=True)
    )
    approved = outputs["decision"] == "approve"
    assert approved.any() and (~approved).any()
    limit = outputs["limit_minor"]
    assert (limit[approved] <= frame["affordable_limit_minor"][approved]).all()
    assert (limit[approved] <= frame["product_amount_max_minor"][approved]).all()
    assert (limit[approved] <= outputs["grade"][approved].map(grade_limit)).all()
    assert (limit[approved] >= frame["product_draw_min_minor"][approved]).all()
    assert (limit[approved] % 100 == 0).all()
    assert (limit[~approved] == 0).all()
    assert outputs["apr"][outputs["decision"] == "decline"].isna().all()


def test_the_disclosed_apr_is_the_servicing_core_irr(underwriter) -> None:
    decision = underwriter.decide(parse_application(example("approve-clean")))
    assert decision.decision == "approve"
    grade = next(g for g in underwriter.parts.config.grade if g.name == decision.grade)
    loan = underwriter.parts.products["jiebei-standard"].product.cash_loan
    rate = Rate.daily_percent(
        Decimal(grade.daily_rate_percent), loan.day_count, year_days=loan.daily_rate_year_days
    )
    data = example("approve-clean")
    start = dt.date.fromisoformat(data["applied_on"])
    schedule = build_schedule(
        1_000_000, rate, data["requested_term_months"], "equal-instalment", start
    )
    assert decision.apr_percent == percent_text(schedule_apr(schedule).nominal_annual)
    assert Decimal(decision.apr_percent) <= 24  # DOMAIN 6.4 cap


def test_every_reason_reads_in_chinese_and_english(underwriter, applications) -> None:
    for decision in underwriter.decide_batch(applications).decisions():
        for reason in decision.reasons:
            assert reason["zh"] and reason["en"] and reason["code"].isupper()
        if decision.decision != "approve":
            assert decision.reasons, decision.application_id


def test_challenger_routing_is_stable_and_near_its_share(underwriter, applications) -> None:
    outputs = underwriter.decide_batch(applications).outputs
    share = float(underwriter.parts.config.challenger_share)
    routed = (outputs["route"] == "challenger").mean()
    assert abs(routed - share) < 0.03
    again = underwriter.decide_batch(list(reversed(applications))).outputs
    by_id = dict(zip(again["application_id"], again["route"], strict=True))
    assert all(
        by_id[a] == r for a, r in zip(outputs["application_id"], outputs["route"], strict=True)
    )
    assert all(
        "CHALLENGER_POLICY" in codes
        for codes, route in zip(outputs["reason_codes"], outputs["route"], strict=True)
        if route == "challenger"
    )


def test_an_applicant_under_18_is_declined(underwriter) -> None:
    data = example("approve-clean")
    data["applicant"]["birth_date"] = "2010-01-01"
    data["applicant"]["id_number"] = _id_number_born("20100101")
    decision = underwriter.decide(parse_application(data))
    assert decision.decision == "decline"
    assert "AGE_UNDER_MIN" in [reason["code"] for reason in decision.reasons]


def test_an_amount_above_the_product_maximum_is_declined(underwriter) -> None:
    data = example("approve-clean")
    data["requested_amount"] = "80000.00"
    codes = [r["code"] for r in underwriter.decide(parse_application(data)).reasons]
    assert "AMOUNT_ABOVE_PRODUCT_MAX" in codes


class Recording:
    """A source wrapper that remembers which applicants it was asked about."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.version = inner.version
        self.asked: list[str] = []

    def fetch(self, requests: Sequence[SourceRequest]):
        self.asked.extend(request.applicant_id for request in requests)
        return self.inner.fetch(requests)


def test_no_consent_no_query(applications) -> None:
    sources = SyntheticSources(0).sources()
    bureau = Recording(sources["bureau"])
    parts = standard_parts({**sources, "bureau": bureau})
    engine = Underwriter(Parts(**{**parts.__dict__, "model": packaged_model(parts.config)}))
    data = example("no-bureau-consent")
    decision = engine.decide(parse_application(data))
    assert bureau.asked == []
    assert decision.decision == "decline"
    assert "NO_BUREAU_CONSENT" in [reason["code"] for reason in decision.reasons]
    engine.decide(parse_application(example("approve-clean")))
    assert bureau.asked == [example("approve-clean")["applicant"]["applicant_id"]]


def test_a_failing_bureau_refers_and_never_crashes(applications) -> None:
    sources = SyntheticSources(0, failure_rates={"bureau": {"timeout": 1.0}}).sources()
    parts = standard_parts(sources)
    engine = Underwriter(Parts(**{**parts.__dict__, "model": packaged_model(parts.config)}))
    batch = engine.decide_batch(applications[:300])
    consented = batch.frame["consent_bureau"].to_numpy()
    assert (batch.frame["bureau_status"][consented] == "timeout").all()
    assert (batch.outputs["decision"][consented] != "approve").all()
    refer_codes = batch.outputs["reason_codes"][consented]
    assert all("SOURCE_FAILED_REFER" in codes for codes in refer_codes)


def test_unknown_products_are_refused(underwriter) -> None:
    data = example("approve-clean")
    data["product_id"] = "no-such-product"
    with pytest.raises(ApplicationError, match="no-such-product"):
        underwriter.decide(parse_application(data))


# --- the desk: audit, idempotency, review ----------------------------------------------------


@pytest.fixture
def desk(store: Store, underwriter: Underwriter) -> UnderwritingDesk:
    return UnderwritingDesk(DecisionStore(store.engine), underwriter)


def test_a_resubmission_returns_the_stored_decision(desk: UnderwritingDesk) -> None:
    body = json.dumps(example("approve-clean"))
    first = desk.submit(body, DAY)
    assert desk.submit(body, DAY) == first
    assert len(desk.store.revisions(first["application_id"])) == 1
    changed = example("approve-clean")
    changed["requested_amount"] = "1000.00"
    with pytest.raises(DuplicateApplicationError):
        desk.submit(changed, DAY)


def test_the_audit_record_has_versions_inputs_and_no_personal_data(desk) -> None:
    data = example("approve-clean")
    decision = desk.submit(data, DAY)
    record = desk.store.revisions(decision["application_id"])[0].record
    versions = record["versions"]
    assert versions["champion_policy"]["sha256"] and versions["model"]["sha256"]
    assert versions["config"]["sha256"] and versions["products"]["jiebei-standard"]["sha256"]
    assert record["inputs"]["age_years"] > 0 and record["timings_ms"]
    text = json.dumps(record, ensure_ascii=False)
    for secret in (
        data["applicant"]["id_number"],
        data["applicant"]["name"],
        data["applicant"]["phone"],
    ):
        assert secret not in text


def test_a_malformed_application_leaves_only_a_rejection(desk) -> None:
    data = example("approve-clean")
    data["applicant"]["monthly_income"] = "-5.00"
    with pytest.raises(ApplicationError, match="monthly_income"):
        desk.submit(data, DAY)
    assert desk.store.rejections_count() == 1
    assert desk.store.revisions(data["application_id"]) == []


def test_referral_review_and_contest(desk) -> None:
    thin = desk.submit(example("thin-file-young"), DAY)
    assert thin["decision"] == "refer"
    assert [reason["code"] for reason in thin["reasons"]] == ["THIN_FILE"]
    assert [item.application_id for item in desk.store.review_queue()] == [thin["application_id"]]
    with pytest.raises(ReviewStateError, match="reason"):
        desk.review(thin["application_id"], "reviewer-7", "approve", " ", DAY)
    reviewed = desk.review(
        thin["application_id"], "reviewer-7", "approve", "payslips seen", DAY, limit_minor=300_000
    )
    assert reviewed["decision"] == "approve" and reviewed["limit_minor"] == 300_000
    assert reviewed["daily_rate"] == thin["daily_rate"] and reviewed["apr"] == thin["apr"]
    assert desk.store.review_queue() == []
    revisions = desk.store.revisions(thin["application_id"])
    assert [(r.revision, r.actor) for r in revisions] == [(1, "automated"), (2, "reviewer-7")]
    declined = desk.submit(example("no-bureau-consent"), DAY)
    assert declined["decision"] == "decline"
    with pytest.raises(ReviewStateError, match="no open review"):
        desk.review(declined["application_id"], "reviewer-7", "approve", "x", DAY)
    item = desk.contest(declined["application_id"], "I did consent on paper", DAY)
    assert item.reason == "contest"
    with pytest.raises(ReviewStateError, match="already waiting"):
        desk.contest(declined["application_id"], "again", DAY)
    upheld = desk.review(declined["application_id"], "reviewer-9", "decline", "no consent", DAY)
    assert upheld["decision"] == "decline"
    assert upheld["reasons"][0]["code"] == "HUMAN_DECLINED"
    with pytest.raises(ReviewStateError, match="last decided by a person"):
        desk.contest(declined["application_id"], "again", DAY)


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_any_synthetic_application_gets_a_complete_decision(seed: int) -> None:
    engine = _shared_engine()
    decision = engine.decide(synthetic_applications(1, seed, DAY)[0])
    assert decision.decision in ("approve", "refer", "decline")
    assert (decision.limit_minor > 0) == (decision.decision == "approve")
    assert (decision.apr_percent is None) == (decision.decision == "decline")
    assert np.isfinite(decision.score)


_ENGINE: list[Underwriter] = []


def _shared_engine() -> Underwriter:
    if not _ENGINE:
        _ENGINE.append(standard_underwriter())
    return _ENGINE[0]


def _id_number_born(birth: str) -> str:
    body = f"110105{birth}001"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return body + check
