"""Applications over HTTP: decisions, idempotent resubmission, refusals, review, contest, roles.

Most tests run on SQLite; ``test_decide_review_and_read_back`` runs on both stores. The standard
underwriter (seconds to build) is built once for the module and handed to each app's desk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lendguard.service.app import create_app
from lendguard.service.pii import new_key_entry
from lendguard.service.roles import ROLES
from lendguard.service.settings import Settings
from lendguard.store import schema
from lendguard.store.service_tables import personal_data
from lendguard.underwriting.desk import UnderwritingDesk
from lendguard.underwriting.engine import Underwriter
from lendguard.underwriting.standard import standard_underwriter

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "applications"
EXPECTED = {
    "approve-clean": "approve",
    "high-obligations": "decline",
    "no-bureau-consent": "decline",
    "thin-file-young": "refer",
}
PROBLEM = "application/problem+json"


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def personal_values(application: dict[str, Any]) -> list[str]:
    applicant = application["applicant"]
    return [applicant["name"], applicant["id_number"], applicant["phone"]]


@pytest.fixture(scope="module")
def underwriter() -> Underwriter:
    return standard_underwriter()


class Api:
    """A test client with one API key per role."""

    def __init__(self, client: TestClient, headers: dict[str, dict[str, str]]) -> None:
        self.client = client
        self.headers = headers
        self.services = client.app.state.services  # type: ignore[attr-defined]

    def post(
        self, role: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        return self.client.post(path, headers=self.headers[role] | (headers or {}), **kwargs)

    def get(self, role: str, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers[role], **kwargs)

    def count(self, table: Any) -> int:
        with self.services.store.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(table)).scalar_one())

    def audit(self) -> list[Any]:
        return self.services.audit.records()


@contextmanager
def open_api(url: str, underwriter: Underwriter) -> Iterator[Api]:
    app = create_app(Settings(db_url=url, pii_keys=new_key_entry("k1")))
    services = app.state.services
    desk = UnderwritingDesk(services.decisions, underwriter)
    services.desk_factory = lambda: desk
    headers = {}
    for role in ROLES:
        _, plaintext = services.keys.create_key(f"test-{role}", role)
        headers[role] = {"Authorization": f"Bearer {plaintext}"}
    with TestClient(app) as client:
        yield Api(client, headers)


@pytest.fixture
def api(tmp_path: Path, underwriter: Underwriter) -> Iterator[Api]:
    with open_api(f"sqlite:///{tmp_path / 'service.sqlite'}", underwriter) as opened:
        yield opened


@pytest.fixture
def api_on_both(store_url: str, underwriter: Underwriter) -> Iterator[Api]:
    with open_api(store_url, underwriter) as opened:
        yield opened


def test_each_example_is_decided_with_personal_data_masked(api: Api, tmp_path: Path) -> None:
    for name, outcome in EXPECTED.items():
        application = example(name)
        answer = api.post("service", "/applications", json=application)
        assert answer.status_code == 200, answer.text
        decision = answer.json()
        assert decision["decision"] == outcome
        assert decision["application_id"] == application["application_id"]
        assert all(reason["code"] and reason["en"] for reason in decision["reasons"])
        assert bool(decision["reasons"]) == (outcome != "approve")
        if outcome == "approve":
            assert decision["limit_minor"] > 0
            assert decision["limit"] == f"{decision['limit_minor'] / 100:.2f}"
        read = api.get("auditor", f"/applications/{application['application_id']}").json()
        assert (read["revision"], read["actor"]) == (1, "automated")
        assert read["decision"] == decision
        applicant = application["applicant"]
        assert read["applicant"] == {
            "name": applicant["name"][0] + "*",
            "id_number": applicant["id_number"][:6] + "*" * 8 + applicant["id_number"][-4:],
            "phone": applicant["phone"][:3] + "****" + applicant["phone"][-4:],
            "masked": True,
        }
        for value in personal_values(application):
            assert value not in answer.text
            assert value not in json.dumps(read, ensure_ascii=False)
    decided = [record for record in api.audit() if record.action == "applications.decide"]
    assert [record.detail["decision"] for record in decided] == list(EXPECTED.values())
    database = b"".join(path.read_bytes() for path in tmp_path.glob("service.sqlite*"))
    audit_text = json.dumps([record.detail for record in api.audit()], ensure_ascii=False)
    for name in EXPECTED:
        for value in personal_values(example(name)):
            assert value.encode() not in database
            assert value not in audit_text


def test_resubmission_returns_the_stored_decision(api: Api) -> None:
    application = example("approve-clean")
    first = api.post("service", "/applications", json=application)
    reordered = json.dumps(dict(reversed(list(application.items()))), indent=2)
    again = api.post(
        "service", "/applications", content=reordered, headers={"Content-Type": "text/plain"}
    )
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert api.count(schema.underwriting_decisions) == 1
    changed = {**application, "requested_amount": "25000.00"}
    conflict = api.post("service", "/applications", json=changed)
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == PROBLEM
    assert conflict.json()["code"] == "duplicate_application"
    assert api.count(schema.underwriting_decisions) == 1


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            lambda app: {
                **app,
                "requested_amount": 20000,
                "applicant": {**app["applicant"], "phone": "0123"},
            },
            {"requested_amount", "applicant.phone"},
        ),
        (lambda app: {**app, "surprise": True}, {"surprise"}),
        (lambda app: b'{"application_id": "APP-1", ', {"(application)"}),
        (lambda app: [app], {"(application)"}),
    ],
    ids=["bad-fields", "unknown-key", "broken-json", "not-an-object"],
)
def test_a_malformed_application_leaves_only_a_rejection(
    api: Api, body: Any, fields: set[str]
) -> None:
    application = example("approve-clean")
    payload = body(application)
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    answer = api.post("service", "/applications", content=content)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["code"] == "invalid_application"
    assert {".".join(error["location"]) for error in problem["errors"]} >= fields
    for value in personal_values(application):
        assert value not in answer.text
    assert api.count(schema.underwriting_rejections) == 1
    assert api.count(schema.underwriting_decisions) == 0
    assert api.count(schema.review_items) == 0
    assert api.count(personal_data) == 0
    assert [record.action for record in api.audit()] == ["applications.reject"]


def test_an_oversized_application_is_refused_before_anything_is_stored(api: Api) -> None:
    answer = api.post("service", "/applications", content=b"{" + b" " * 70_000 + b"}")
    assert answer.status_code == 413
    assert answer.json()["code"] == "application_too_large"
    assert api.count(schema.underwriting_rejections) == 0
    assert api.audit() == []


def test_decide_review_and_read_back(api_on_both: Api) -> None:
    api = api_on_both
    referred = example("thin-file-young")
    application_id = referred["application_id"]
    assert api.post("service", "/applications", json=referred).json()["decision"] == "refer"
    queue = api.get("risk_analyst", "/applications/review-queue").json()
    assert [(item["application_id"], item["reason"]) for item in queue["items"]] == [
        (application_id, "referral")
    ]
    assert api.get("auditor", f"/applications/{application_id}").json()["open_review"] is not None
    review = {"outcome": "approve", "reason": "payslips seen", "decided_on": "2026-03-03"}
    reviewed = api.post(
        "risk_analyst", f"/applications/{application_id}/review", json=review | {"limit": "8000.00"}
    )
    assert reviewed.status_code == 200, reviewed.text
    assert (reviewed.json()["decision"], reviewed.json()["limit_minor"]) == ("approve", 800_000)
    assert reviewed.json()["reasons"][0]["code"] == "HUMAN_APPROVED"
    read = api.get("auditor", f"/applications/{application_id}").json()
    reviewer_key = api.audit()[-1].actor
    assert (read["revision"], read["actor"], read["open_review"]) == (2, reviewer_key, None)
    assert read["decision"]["note"] == "payslips seen"
    assert api.get("risk_analyst", "/applications/review-queue").json()["items"] == []
    twice = api.post("risk_analyst", f"/applications/{application_id}/review", json=review)
    assert (twice.status_code, twice.json()["code"]) == (409, "invalid_review")
    assert [record.action for record in api.audit()] == [
        "applications.decide",
        "applications.review",
    ]


def test_a_contested_decline_goes_to_a_person(api: Api) -> None:
    declined = example("no-bureau-consent")
    application_id = declined["application_id"]
    api.post("service", "/applications", json=declined)
    contest = {"statement": "I did consent to the bureau check", "contested_on": "2026-03-04"}
    answer = api.post("service", f"/applications/{application_id}/contest", json=contest)
    assert answer.status_code == 201, answer.text
    assert (answer.json()["reason"], answer.json()["status"]) == ("contest", "open")
    queue = api.get("admin", "/applications/review-queue").json()["items"]
    assert [item["note"] for item in queue] == [contest["statement"]]
    decline = {"outcome": "decline", "reason": "consent form missing", "decided_on": "2026-03-05"}
    decided = api.post("risk_analyst", f"/applications/{application_id}/review", json=decline)
    assert (decided.json()["decision"], decided.json()["limit_minor"]) == ("decline", 0)
    again = api.post("service", f"/applications/{application_id}/contest", json=contest)
    assert (again.status_code, again.json()["code"]) == (409, "invalid_review")
    unknown = api.post("service", "/applications/APP-NONE/contest", json=contest)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_application")
    contested = [record for record in api.audit() if record.action == "applications.contest"]
    assert len(contested) == 1
    assert contest["statement"] not in json.dumps(contested[0].detail)


def test_review_input_is_checked_before_anything_is_written(api: Api) -> None:
    referred = example("thin-file-young")
    application_id = referred["application_id"]
    api.post("service", "/applications", json=referred)
    path = f"/applications/{application_id}/review"
    base = {"outcome": "approve", "reason": "ok", "decided_on": "2026-03-03"}
    for bad in (
        {**base, "outcome": "maybe"},
        {**base, "limit": "80.001"},
        {**base, "reason": ""},
        {**base, "reviewer": "someone-else"},
    ):
        answer = api.post("risk_analyst", path, json=bad)
        assert answer.status_code == 422, bad
        assert answer.headers["content-type"] == PROBLEM
    zero = api.post("risk_analyst", path, json={**base, "limit": "0.00"})
    assert (zero.status_code, zero.json()["code"]) == (409, "invalid_review")
    assert api.count(schema.underwriting_decisions) == 1
    assert len(api.get("admin", "/applications/review-queue").json()["items"]) == 1


def test_roles_are_enforced(api: Api) -> None:
    application = example("thin-file-young")
    application_id = application["application_id"]
    for role in ("collector", "auditor", "operator", "risk_analyst"):
        refused = api.post(role, "/applications", json=application)
        assert refused.status_code == 403, role
        assert refused.headers["content-type"] == PROBLEM
    assert api.count(schema.underwriting_rejections) == 0
    assert api.post("admin", "/applications", json=application).status_code == 200
    review = {"outcome": "decline", "reason": "no", "decided_on": "2026-03-03"}
    for role in ("auditor", "collector", "operator", "service"):
        path = f"/applications/{application_id}/review"
        assert api.post(role, path, json=review).status_code == 403, role
        assert api.get(role, "/applications/review-queue").status_code == 403, role
    assert api.get("collector", f"/applications/{application_id}").status_code == 403
    assert api.client.get(f"/applications/{application_id}").status_code == 401
    bad_key = {"Authorization": "Bearer lg_nope_nope"}
    assert api.client.get(f"/applications/{application_id}", headers=bad_key).status_code == 401
    assert api.get("auditor", "/applications/APP-NONE").status_code == 404
    assert api.count(schema.underwriting_decisions) == 1


def test_unmasked_personal_data_needs_the_permission_and_is_audited(api: Api) -> None:
    application = example("approve-clean")
    application_id = application["application_id"]
    api.post("service", "/applications", json=application)
    path = f"/applications/{application_id}/applicant"
    masked = api.get("auditor", path).json()
    assert masked["masked"] is True
    assert application["applicant"]["id_number"] not in json.dumps(masked)
    refused = api.get("auditor", path, params={"unmasked": "true"})
    assert refused.status_code == 403
    shown = api.get("operator", path, params={"unmasked": "true"}).json()
    applicant = application["applicant"]
    assert shown == {
        "name": applicant["name"],
        "id_number": applicant["id_number"],
        "phone": applicant["phone"],
        "masked": False,
    }
    reads = [r for r in api.audit() if r.action == "applications.applicant.read_unmasked"]
    assert [(record.target, record.actor) for record in reads] == [
        (application_id, api.audit()[-1].actor)
    ]
    assert applicant["id_number"] not in json.dumps(reads[0].detail)
