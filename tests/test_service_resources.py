"""Model scoring, close of business and delinquency status over HTTP.

Scoring uses a scorecard trained here on German credit and saved with ``ModelRegistry``; close of
business and delinquency run on a tiny book written through ``Book``. Everything is on SQLite
except ``test_close_of_business_then_delinquency``, which also runs on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lendguard.scoring.registry import MODEL_FILE, ModelRegistry
from lendguard.scoring.scorecard import Scorecard
from lendguard.service.app import create_app
from lendguard.service.pii import new_key_entry
from lendguard.service.roles import ROLES
from lendguard.service.settings import Settings
from lendguard.store import schema
from scoring_helpers import german_credit

PRODUCTS = Path(__file__).resolve().parents[1] / "products"
MODEL = "german-card"
OPENED_ON = dt.date(2026, 1, 31)
PROBLEM = "application/problem+json"


class Api:
    """A test client with one API key per role."""

    def __init__(self, client: TestClient, headers: dict[str, dict[str, str]]) -> None:
        self.client = client
        self.headers = headers
        self.services = client.app.state.services  # type: ignore[attr-defined]

    def post(self, role: str, path: str, **kwargs: Any) -> Any:
        return self.client.post(path, headers=self.headers[role], **kwargs)

    def get(self, role: str, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers[role], **kwargs)

    def actions(self) -> list[str]:
        return [record.action for record in self.services.audit.records()]


@contextmanager
def open_api(url: str, models_dir: Path, eod_out_dir: Path) -> Iterator[Api]:
    settings = Settings(
        db_url=url, pii_keys=new_key_entry("k1"), models_dir=models_dir, eod_out_dir=eod_out_dir
    )
    app = create_app(settings)
    headers = {}
    for role in ROLES:
        _, plaintext = app.state.services.keys.create_key(f"test-{role}", role)
        headers[role] = {"X-API-Key": plaintext}
    with TestClient(app) as client:
        yield Api(client, headers)


@pytest.fixture(scope="module")
def scorecard() -> Scorecard:
    features, target = german_credit()
    return Scorecard().fit(features, target)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory, scorecard: Scorecard) -> Path:
    root = tmp_path_factory.mktemp("models")
    registry = ModelRegistry(root)
    registry.save(scorecard, MODEL, {"note": "first"})
    registry.save(scorecard, MODEL, {"note": "second"})
    return root


@pytest.fixture
def api(tmp_path: Path, models_dir: Path) -> Iterator[Api]:
    url = f"sqlite:///{tmp_path / 'service.sqlite'}"
    with open_api(url, models_dir, tmp_path / "eod-out") as opened:
        yield opened


def rows(count: int) -> list[dict[str, Any]]:
    features, _ = german_credit()
    return json.loads(features.head(count).to_json(orient="records"))


# --- model scoring ----------------------------------------------------------------------------


def test_scores_match_the_saved_model(api: Api, scorecard: Scorecard) -> None:
    features, _ = german_credit()
    answer = api.post("risk_analyst", f"/models/{MODEL}/score", json={"rows": rows(5)})
    assert answer.status_code == 200, answer.text
    scored = answer.json()
    assert (scored["model"], scored["version"], scored["kind"]) == (MODEL, 2, "scorecard")
    expected_probability = scorecard.predict_proba(features.head(5))[:, 1]
    expected_score = scorecard.credit_score(features.head(5))
    expected_reasons = scorecard.reason_codes(features.head(5), 4)
    for row, result in enumerate(scored["rows"]):
        assert result["probability_bad"] == pytest.approx(expected_probability[row], abs=1e-12)
        assert result["score"] == expected_score[row]
        assert result["reasons"] == expected_reasons[row]
    assert not np.allclose(expected_probability, expected_probability[0])
    first = api.post("service", f"/models/{MODEL}/score", json={"rows": rows(1), "version": 1})
    assert first.json()["version"] == 1
    assert first.json()["rows"][0] == scored["rows"][0]
    none = api.post("service", f"/models/{MODEL}/score", json={"rows": rows(1), "reasons": 0})
    assert none.json()["rows"][0]["reasons"] == []
    records = [r for r in api.services.audit.records() if r.action == "models.score"]
    assert [(r.target, r.detail["rows"]) for r in records] == [
        (f"{MODEL}/v2", 5),
        (f"{MODEL}/v1", 1),
        (f"{MODEL}/v2", 1),
    ]


def test_scoring_refuses_what_it_cannot_score(api: Api) -> None:
    path = f"/models/{MODEL}/score"
    row = rows(1)[0]
    missing = {key: value for key, value in row.items() if key != "purpose"}
    answer = api.post("service", path, json={"rows": [missing]})
    assert (answer.status_code, answer.json()["code"]) == (400, "missing_feature")
    assert answer.headers["content-type"] == PROBLEM
    unseen = api.post("service", path, json={"rows": [{**row, "purpose": "a moon rocket"}]})
    assert (unseen.status_code, unseen.json()["code"]) == (400, "unseen_category")
    for body in (
        {"rows": []},
        {"rows": [row] * 1_001},
        {"rows": [row], "reasons": 21},
        {"rows": [row], "version": 0},
        {"rows": [row], "surprise": 1},
        {"rows": [{**row, "age_in_years": [67]}]},
    ):
        refused = api.post("service", path, json=body)
        assert refused.status_code == 422, body
        assert refused.headers["content-type"] == PROBLEM
    assert api.post("service", "/models/nope/score", json={"rows": [row]}).status_code == 404
    later = api.post("service", path, json={"rows": [row], "version": 9})
    assert (later.status_code, later.json()["code"]) == (404, "unknown_model")
    assert api.post("service", "/models/..%2Fetc/score", json={"rows": [row]}).status_code in (
        404,
        422,
    )
    for role in ("collector", "operator", "auditor"):
        assert api.post(role, path, json={"rows": [row]}).status_code == 403, role
    assert api.client.post(path, json={"rows": [row]}).status_code == 401
    assert "models.score" not in api.actions()


def test_a_tampered_model_is_never_scored(tmp_path: Path, scorecard: Scorecard) -> None:
    root = tmp_path / "models"
    saved = ModelRegistry(root).save(scorecard, MODEL, {})
    document = json.loads((saved / MODEL_FILE).read_text())
    document["model"]["intercept"] += 1.0
    (saved / MODEL_FILE).write_text(json.dumps(document, sort_keys=True))
    with open_api(f"sqlite:///{tmp_path / 'service.sqlite'}", root, tmp_path / "out") as api:
        answer = api.post("service", f"/models/{MODEL}/score", json={"rows": rows(1)})
        assert answer.status_code == 500
        assert answer.json()["code"] == "internal_error"
        assert str(root) not in answer.text and "digest" not in answer.text
        assert api.actions() == []


# --- close of business and delinquency --------------------------------------------------------


def tiny_book(api: Api) -> None:
    """L1: a cash loan never repaid; L2: a cash loan opened the same day, nothing drawn."""
    book = api.services.book
    book.register_product(str(PRODUCTS / "jiebei-standard.toml"))
    for account_id in ("L1", "L2"):
        book.open_account(account_id, "jiebei-standard", OPENED_ON, request_id=f"open-{account_id}")
    book.draw("L1", OPENED_ON, 1_200_000, 12, "equal-instalment", request_id="draw-L1")


@pytest.fixture
def api_on_both(store_url: str, tmp_path: Path, models_dir: Path) -> Iterator[Api]:
    with open_api(store_url, models_dir, tmp_path / "eod-out") as opened:
        yield opened


def test_close_of_business_then_delinquency(api_on_both: Api, tmp_path: Path) -> None:
    api = api_on_both
    tiny_book(api)
    behind = api.post("operator", "/eod/runs", json={"business_date": "2026-03-20"})
    assert (behind.status_code, behind.json()["code"]) == (409, "missing_business_dates")
    assert api.get("auditor", "/eod/runs").json()["items"] == []
    answer = api.post(
        "operator", "/eod/runs", json={"business_date": "2026-03-20", "catch_up": True}
    )
    assert answer.status_code == 201, answer.text
    run = answer.json()
    assert run["status"] == "succeeded"
    assert (run["first_business_date"], run["business_date"]) == ("2026-01-31", "2026-03-20")
    assert (run["accounts_closed"], run["accounts_quarantined"]) == (2, 0)
    assert run["events_posted"] > 0 and run["quarantined"] == []
    assert (tmp_path / "eod-out" / "snapshots" / "business_date=2026-03-20").is_dir()
    assert api.get("auditor", answer.headers["location"]).json() == run
    listed = api.get("risk_analyst", "/eod/runs").json()["items"]
    assert [item["run_id"] for item in listed] == [run["run_id"]]
    assert api.services.book.state("L1").closed_through == dt.date(2026, 3, 20)

    late = api.get("collector", "/accounts/L1/delinquency")
    assert late.status_code == 200, late.text
    assert late.json() == {
        "account_id": "L1",
        "as_of": "2026-03-20",
        "status": "open",
        "frozen": True,
        "currency": "CNY",
        "past_due_days": 20,
        "delinquent_days": 17,
        "oldest_past_due_on": "2026-02-28",
        "overdue": "1090.76",
        "overdue_minor": 109_076,
        "bucket": "M1",
        "bucket_since": "2026-03-04",
        "five_category": "special-mention",
        "five_category_zh": "关注",
        "non_performing": False,
        "ifrs9_stage": 1,
        "bucket_history": [{"bucket": "M1", "entered_on": "2026-03-04", "left_on": None}],
    }
    current = api.get("auditor", "/accounts/L2/delinquency").json()
    assert (current["past_due_days"], current["bucket"], current["overdue"]) == (0, "M0", "0.00")
    assert (current["bucket_since"], current["oldest_past_due_on"]) == (None, None)

    again = api.post("admin", "/eod/runs", json={"business_date": "2026-03-20"}).json()
    assert (again["accounts_closed"], again["accounts_skipped"], again["events_posted"]) == (
        0,
        2,
        0,
    )
    assert [action for action in api.actions() if action.startswith("eod.")] == ["eod.run"] * 2


def test_close_of_business_roles_and_refusals(api: Api) -> None:
    tiny_book(api)
    body = {"business_date": "2026-01-31"}
    for role in ("collector", "risk_analyst", "auditor", "service"):
        assert api.post(role, "/eod/runs", json=body).status_code == 403, role
    assert api.get("service", "/eod/runs").status_code == 403
    assert api.get("collector", "/eod/runs").status_code == 403
    for bad in (
        {"business_date": "31/01/2026"},
        {"business_date": "2026-01-31", "partition_size": 0},
        {"business_date": "2026-01-31", "workers": 0},
        {"business_date": "2026-01-31", "engine": "spark"},
    ):
        refused = api.post("operator", "/eod/runs", json=bad)
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"] == PROBLEM
    with api.services.store.engine.connect() as connection:
        assert connection.execute(schema.eod_runs.select()).first() is None
    unknown = api.get("auditor", "/eod/runs/" + "0" * 32)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_eod_run")
    assert api.get("auditor", "/eod/runs/not-a-run").status_code == 422
    assert api.get("auditor", "/eod/runs", params={"limit": 0}).status_code == 422
    assert api.actions() == []


def test_delinquency_roles_and_unknown_accounts(api: Api) -> None:
    tiny_book(api)
    assert api.get("collector", "/accounts/L1/delinquency").json()["as_of"] == "2026-01-30"
    assert api.get("service", "/accounts/L1/delinquency").status_code == 403
    assert api.client.get("/accounts/L1/delinquency").status_code == 401
    unknown = api.get("collector", "/accounts/NOPE/delinquency")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_account")
    assert api.actions() == []
