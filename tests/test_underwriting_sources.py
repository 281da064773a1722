"""Data sources: the summariser rules, the adapters, consent gating, failure policy, synthetic data.

Known answers are worked out by hand on small reports whose dates sit on window edges; the
vectorised synthetic path is checked against the raw reports it builds (one rule, two generators),
the file adapter against the synthetic sources, and the HTTP adapter against an in-process mock
transport (no network, no sleeping).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from lendguard.underwriting import sources_config
from lendguard.underwriting.sources import (
    MISSING_VALUES,
    SOURCE_COLUMNS,
    SOURCE_NAMES,
    BlocklistResult,
    BureauAccount,
    BureauInquiry,
    BureauReport,
    FailurePolicy,
    FileSource,
    MultiLendingReport,
    PlatformHistory,
    SourceAnswer,
    SourceConfigError,
    SourceDataError,
    SourceRequest,
    SourceRequestError,
    fetch_sources,
    load_failure_policy,
    report_from_json,
    report_to_json,
    source_frame_columns,
    summarise_blocklist,
    summarise_bureau,
    summarise_multi_lending,
    summarise_platform,
)
from lendguard.underwriting.sources_config import load_synthetic_calibration
from lendguard.underwriting.sources_http import HttpSource
from lendguard.underwriting.sources_reports import COLUMN_DTYPES
from lendguard.underwriting.sources_summary import (
    as_days,
    months_before,
    summarise,
    whole_months_between,
)
from lendguard.underwriting.sources_synthetic import (
    SyntheticSource,
    SyntheticSources,
    latent_risk,
    request_batch,
)

APPLIED = date(2026, 3, 31)
ALL_CONSENT = "all"


def request(applicant_id: str = "P-1", applied_on: date = APPLIED) -> SourceRequest:
    return SourceRequest(
        application_id=f"A-{applicant_id}",
        applicant_id=applicant_id,
        applied_on=applied_on,
        id_number="11010519491231002X",
        name="王芳",
        phone="13912345678",
    )


def account(
    status: str,
    kind: str = "loan",
    opened_on: date = date(2020, 1, 15),
    limit_minor: int = 1_000_000,
    balance_minor: int = 500_000,
    monthly_repayment_minor: int = 30_000,
    overdue_minor: int = 0,
) -> BureauAccount:
    return BureauAccount(
        kind,  # type: ignore[arg-type]
        opened_on,
        limit_minor,
        balance_minor,
        monthly_repayment_minor,
        overdue_minor,
        status,
    )


def consent(rows: int, **given_: Sequence[bool]) -> dict[str, np.ndarray]:
    """All sources consented unless a source's column is given."""
    return {
        f"consent_{name}": np.array(given_.get(name, [True] * rows), dtype=bool)
        for name in SOURCE_NAMES
    }


def policy(**on_failure: str) -> FailurePolicy:
    base = load_failure_policy()
    changes = {
        name: base.for_source(name).model_copy(update={"on_failure": action})
        for name, action in on_failure.items()
    }
    return base.model_copy(update=changes)


# --- bureau summary: known answers ----------------------------------------------------------------


def test_bureau_months_union_across_accounts_and_worst_by_window() -> None:
    # positions 0..23, oldest first; the last 12 are positions 12..23
    card = account("5" + "N" * 10 + "1" + "2" + "N" * 9 + "11", kind="revolving")
    loan = account("N" * 11 + "1" + "N" * 10 + "*C")
    columns = summarise_bureau([BureauReport((card, loan), (), True)], [APPLIED])
    # months with any overdue: 0, 11, 12, 22, 23 (11 is overdue on both accounts: counted once)
    assert columns["bureau_overdue_months_24m"][0] == 5
    assert columns["bureau_worst_status_24m"][0] == 5
    assert columns["bureau_worst_status_12m"][0] == 2
    assert columns["bureau_accounts"][0] == 2


def test_bureau_amounts_and_utilisation_over_open_revolving_accounts() -> None:
    card = account("N" * 24, kind="revolving", limit_minor=2_000_000, balance_minor=500_000)
    closed_card = account("N" * 23 + "C", kind="revolving", limit_minor=9_000_000, balance_minor=0)
    overdue_loan = account("N" * 23 + "2", monthly_repayment_minor=70_000, overdue_minor=140_000)
    columns = summarise_bureau(
        [BureauReport((card, closed_card, overdue_loan), (), False)], [APPLIED]
    )
    assert columns["bureau_utilisation"][0] == pytest.approx(0.25)
    assert columns["bureau_current_overdue_minor"][0] == 140_000
    assert columns["bureau_monthly_repayment_minor"][0] == 3 * 30_000 - 30_000 + 70_000
    assert not columns["bureau_identity_matches"][0]
    only_loans = summarise_bureau([BureauReport((overdue_loan,), (), True)], [APPLIED])
    assert math.isnan(only_loans["bureau_utilisation"][0])


@pytest.mark.parametrize(
    ("opened_on", "applied_on", "months"),
    [
        (date(2024, 3, 31), date(2026, 3, 30), 23),
        (date(2024, 3, 31), date(2026, 3, 31), 24),
        (date(2026, 1, 31), date(2026, 2, 28), 1),  # month-end: February has no 31st
        (date(2026, 3, 31), date(2026, 3, 31), 0),
    ],
)
def test_bureau_history_counts_whole_months(opened_on: date, applied_on: date, months: int) -> None:
    report = BureauReport((account("N" * 24, opened_on=opened_on),), (), True)
    assert summarise_bureau([report], [applied_on])["bureau_history_months"][0] == months


def test_bureau_inquiry_windows_at_their_edges() -> None:
    dates_and_windows = [  # applied 2026-03-31; (queried_on, in 1m, in 3m, in 6m)
        (date(2026, 3, 31), 1, 1, 1),  # the application date itself
        (date(2026, 3, 1), 1, 1, 1),
        (date(2026, 2, 28), 0, 1, 1),  # exactly one month back (31 March -> 28 February)
        (date(2026, 1, 1), 0, 1, 1),
        (date(2025, 12, 31), 0, 0, 1),  # exactly three months back
        (date(2025, 10, 1), 0, 0, 1),
        (date(2025, 9, 30), 0, 0, 0),  # exactly six months back
        (date(2026, 4, 1), 0, 0, 0),  # after the application: outside every window
    ]
    for queried_on, *expected in dates_and_windows:
        report = BureauReport((), (BureauInquiry(queried_on, "loan_approval"),), True)
        columns = summarise_bureau([report], [APPLIED])
        counts = [columns[f"bureau_inquiries_{months}m"][0] for months in (1, 3, 6)]
        assert counts == expected, queried_on


def test_bureau_inquiries_count_only_lending_reasons() -> None:
    inquiries = tuple(
        BureauInquiry(date(2026, 3, 20), reason)  # type: ignore[arg-type]
        for reason in ("loan_approval", "credit_card_approval", "post_loan", "self")
    )
    columns = summarise_bureau([BureauReport((), inquiries, True)], [APPLIED])
    assert columns["bureau_inquiries_1m"][0] == 2


def test_no_report_gives_the_missing_values() -> None:
    columns = summarise_bureau([None, None], [APPLIED, APPLIED])
    for column in SOURCE_COLUMNS["bureau"]:
        expected = MISSING_VALUES[column]
        assert columns[column].dtype == COLUMN_DTYPES[column]
        if isinstance(expected, float):
            assert np.isnan(columns[column]).all()
        else:
            assert (columns[column] == expected).all(), column


def test_account_opened_after_the_application_is_refused() -> None:
    report = BureauReport((account("N" * 24, opened_on=date(2026, 4, 1)),), (), True)
    with pytest.raises(SourceDataError, match="opened_on"):
        summarise_bureau([report], [APPLIED])


# --- multi-lending, platform, blocklist: known answers --------------------------------------------


def test_multi_lending_windows_and_distinct_lenders() -> None:
    def back(days: int) -> date:
        return APPLIED - timedelta(days=days)

    report = MultiLendingReport(
        (
            (back(0), "bank-a"),
            (back(6), "bank-a"),  # last day of the 7-day window
            (back(7), "bank-b"),  # first day outside it
            (back(29), "bank-c"),
            (back(30), "bank-c"),
            (back(89), "bank-d"),
            (back(90), "bank-e"),  # outside every window
            (back(-1), "bank-f"),  # after the application
        )
    )
    columns = summarise_multi_lending([report, None], [APPLIED, APPLIED])
    assert [columns[f"multi_applications_{days}d"][0] for days in (7, 30, 90)] == [2, 4, 6]
    assert [columns[f"multi_lenders_{days}d"][0] for days in (7, 30, 90)] == [1, 3, 4]
    assert all(columns[column][1] == 0 for column in SOURCE_COLUMNS["multi_lending"])


def test_platform_and_blocklist_summaries() -> None:
    platform = summarise_platform([PlatformHistory(2, 45, False), None])
    assert platform["platform_accounts"].tolist() == [2, 0]
    assert platform["platform_max_past_due_days"].tolist() == [45, 0]
    assert platform["platform_written_off"].tolist() == [False, False]
    blocklist = summarise_blocklist(
        [BlocklistResult(True, "fraud"), None, BlocklistResult(False, "")]
    )
    assert blocklist["blocklist_hit"].tolist() == [True, False, False]


# --- calendar helpers -----------------------------------------------------------------------------


@given(
    day=st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)),
    months=st.integers(min_value=0, max_value=400),
)
def test_whole_months_between_inverts_months_before(day: date, months: int) -> None:
    end = as_days([day])
    start = months_before(end, months)
    assert start[0] <= end[0]
    assert whole_months_between(start, end)[0] == months


# --- reports: shape checks and JSON ---------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"status": "N" * 23},
        {"status": "N" * 23 + "8"},
        {"status": "N" * 23 + "X"},
        {"limit_minor": -1},
        {"balance_minor": True},
        {"overdue_minor": 1.5},
        {"kind": "pawn"},
        {"opened_on": datetime(2020, 1, 1, 12, 0)},  # noqa: DTZ001 - a fixed, naive datetime
    ],
)
def test_malformed_accounts_are_refused(bad: dict[str, object]) -> None:
    fields = {"status": "N" * 24, **bad}
    with pytest.raises(SourceDataError):
        account(**fields)  # type: ignore[arg-type]


def test_reports_check_their_fields() -> None:
    with pytest.raises(SourceDataError, match="lender_id"):
        MultiLendingReport(((APPLIED, ""),))
    with pytest.raises(SourceDataError, match="reason"):
        BlocklistResult(True, "")
    with pytest.raises(SourceDataError, match="accounts"):
        PlatformHistory(-1, 0, False)
    with pytest.raises(SourceDataError, match="identity_matches"):
        BureauReport((), (), 1)  # type: ignore[arg-type]


def test_report_json_round_trip_and_strictness() -> None:
    report = BureauReport(
        (account("N" * 22 + "12", kind="revolving"),),
        (BureauInquiry(date(2026, 3, 2), "self"),),
        True,
    )
    assert report_from_json("bureau", report_to_json("bureau", report)) == report
    body = json.loads(report_to_json("bureau", report))
    body["accounts"][0]["limit_minor"] = 100.0
    with pytest.raises(SourceDataError, match=r"accounts\.0\.limit_minor"):
        report_from_json("bureau", json.dumps(body))
    with pytest.raises(SourceDataError, match="extra"):
        report_from_json(
            "bureau", json.dumps({**json.loads(report_to_json("bureau", report)), "extra": 1})
        )


def test_source_requests_check_their_fields() -> None:
    with pytest.raises(SourceRequestError, match="applicant_id"):
        replace(request(), applicant_id=" ")
    with pytest.raises(SourceRequestError, match="applied_on"):
        replace(request(), applied_on=datetime(2026, 3, 1))  # noqa: DTZ001 - fixed, naive
    with pytest.raises(SourceRequestError, match="printable"):
        replace(request(), applicant_id="P-1\x00")


# --- file adapter ---------------------------------------------------------------------------------


def test_file_source_answers(tmp_path: Path) -> None:
    (tmp_path / "P-ok.json").write_text(json.dumps({"hit": True, "reason": "fraud"}))
    (tmp_path / "P-bad-json.json").write_text("{not json")
    (tmp_path / "P-bad-field.json").write_text(json.dumps({"hit": "yes", "reason": "x"}))
    (tmp_path / "P-extra.json").write_text(json.dumps({"hit": False, "reason": "", "note": 1}))
    source = FileSource("blocklist", tmp_path)
    ids = ["P-ok", "P-missing", "P-bad-json", "P-bad-field", "P-extra", "..passwd"]
    answers = source.fetch([request(applicant_id) for applicant_id in ids])
    assert [answer.status for answer in answers] == [
        "ok",
        "no_record",
        "error",
        "error",
        "error",
        "error",
    ]
    assert answers[0].report == BlocklistResult(True, "fraud")
    assert "Invalid JSON" in (answers[2].error or "")
    assert "hit" in (answers[3].error or "")
    assert "note" in (answers[4].error or "")
    assert "safe file name" in (answers[5].error or "")
    assert all(answer.latency_ms >= 0 for answer in answers)


def test_file_source_refuses_an_unknown_source(tmp_path: Path) -> None:
    with pytest.raises(SourceConfigError, match="unknown source"):
        FileSource("credit_score", tmp_path)


def test_file_sources_give_the_synthetic_columns(tmp_path: Path) -> None:
    synthetic = SyntheticSources(11)
    requests = request_batch(300, APPLIED)
    synthetic.export_reports(requests, tmp_path)
    files = {name: FileSource(name, tmp_path / name) for name in SOURCE_NAMES}
    from_files = fetch_sources(requests, consent(300), files, load_failure_policy())
    vectorised = fetch_sources(requests, consent(300), synthetic.sources(), load_failure_policy())
    # files cannot say "timeout": without faults, the statuses and every value agree
    assert_same_answers(from_files, vectorised)


# --- HTTP adapter ---------------------------------------------------------------------------------


class Server:
    """A scripted HTTP source: each call pops the next (status, body) or raises an exception."""

    def __init__(self, *script: tuple[int, object] | Exception) -> None:
        self.script = list(script)
        self.seen: list[httpx.Request] = []

    def __call__(self, http_request: httpx.Request) -> httpx.Response:
        self.seen.append(http_request)
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        status, body = step
        return httpx.Response(status, json=body)


def http_source(
    server: Server, name: str = "platform", retries: int = 2
) -> tuple[HttpSource, list]:
    sleeps: list[float] = []
    source = HttpSource(
        name,
        "https://sources.test",
        timeout_s=0.5,
        retries=retries,
        backoff_s=0.1,
        transport=httpx.MockTransport(server),
        sleep=sleeps.append,
    )
    return source, sleeps


def test_http_ok_and_no_record() -> None:
    body = {"accounts": 2, "max_past_due_days": 0, "written_off": False}
    server = Server((200, body), (404, {"detail": "unknown"}))
    source, sleeps = http_source(server)
    ok, missing = source.fetch([request("P-1"), request("P-2")])
    assert ok == SourceAnswer("ok", PlatformHistory(2, 0, False), None, ok.latency_ms)
    assert missing.status == "no_record" and missing.report is None
    assert sleeps == []
    assert server.seen[0].url == "https://sources.test/platform"


def test_http_retries_server_errors_with_backoff_then_succeeds() -> None:
    body = {"accounts": 1, "max_past_due_days": 3, "written_off": False}
    source, sleeps = http_source(Server((503, {}), (500, {}), (200, body)))
    (answer,) = source.fetch([request()])
    assert answer.status == "ok"
    assert sleeps == [0.1, 0.2]


def test_http_server_errors_past_the_retries_are_an_error() -> None:
    server = Server((500, {}), (502, {}), (503, {}))
    source, sleeps = http_source(server, retries=2)
    (answer,) = source.fetch([request()])
    assert answer.status == "error"
    assert "HTTP 503" in (answer.error or "") and "3 attempts" in (answer.error or "")
    assert len(server.seen) == 3 and len(sleeps) == 2


def test_http_timeouts_past_the_retries_are_a_timeout() -> None:
    timeout = httpx.ReadTimeout("slow")
    server = Server(timeout, timeout)
    source, sleeps = http_source(server, retries=1)
    (answer,) = source.fetch([request()])
    assert answer.status == "timeout" and answer.report is None
    assert len(server.seen) == 2 and sleeps == [0.1]


def test_http_client_errors_are_not_retried_but_429_is() -> None:
    source, sleeps = http_source(Server((400, {"detail": "bad"})))
    assert source.fetch([request()])[0].status == "error"
    assert sleeps == []
    body = {"hit": False, "reason": ""}
    source, sleeps = http_source(Server((429, {}), (200, body)), name="blocklist")
    assert source.fetch([request()])[0].report == BlocklistResult(False, "")
    assert sleeps == [0.1]


def test_http_malformed_body_is_an_error() -> None:
    source, _ = http_source(Server((200, {"accounts": "two"})))
    (answer,) = source.fetch([request()])
    assert answer.status == "error" and "malformed" in (answer.error or "")


def test_http_sends_each_source_only_what_it_needs() -> None:
    bureau_body = {"accounts": [], "inquiries": [], "identity_matches": True}
    server = Server((200, bureau_body))
    source, _ = http_source(server, name="bureau")
    source.fetch([request()])
    sent = json.loads(server.seen[0].content)
    assert sent == {
        "application_id": "A-P-1",
        "applied_on": "2026-03-31",
        "name": "王芳",
        "id_number": "11010519491231002X",
    }


def test_http_source_from_policy_uses_its_numbers() -> None:
    failure_policy = load_failure_policy()
    source = HttpSource.from_policy("bureau", "https://b.test", failure_policy.bureau)
    with source:
        assert source.retries == failure_policy.bureau.retries
        assert source.client.timeout.read == failure_policy.bureau.timeout_s


# --- fetch_sources: consent, failures, columns ----------------------------------------------------


class Recording:
    """An adapter that records what it is asked and answers from a function."""

    def __init__(self, name: str, answer: Callable[[SourceRequest], SourceAnswer]) -> None:
        self.name, self.version, self.answer = name, "test-1", answer
        self.seen: list[str] = []

    def fetch(self, requests: Sequence[SourceRequest]) -> list[SourceAnswer]:
        self.seen += [item.applicant_id for item in requests]
        return [self.answer(item) for item in requests]


def answering(name: str, status: str = "ok") -> Recording:
    reports = {
        "bureau": BureauReport((account("N" * 23 + "1"),), (), True),
        "multi_lending": MultiLendingReport(((APPLIED, "bank-a"),)),
        "platform": PlatformHistory(1, 10, False),
        "blocklist": BlocklistResult(False, ""),
    }
    report = reports[name] if status == "ok" else None
    error = "boom" if status in {"timeout", "error"} else None
    return Recording(name, lambda _: SourceAnswer(status, report, error, 1.5))  # type: ignore[arg-type]


def all_answering(**statuses: str) -> dict[str, Recording]:
    return {name: answering(name, statuses.get(name, "ok")) for name in SOURCE_NAMES}


def test_no_consent_no_query() -> None:
    sources = all_answering()
    requests = [request("P-1"), request("P-2"), request("P-3")]
    frame = fetch_sources(
        requests,
        consent(3, bureau=[True, False, True], blocklist=[False, False, False]),
        sources,
        load_failure_policy(),
    )
    assert sources["bureau"].seen == ["P-1", "P-3"]
    assert sources["blocklist"].seen == []
    assert sources["platform"].seen == ["P-1", "P-2", "P-3"]
    assert frame["bureau_status"].tolist() == ["ok", "no_consent", "ok"]
    assert frame["blocklist_status"].tolist() == ["no_consent"] * 3
    assert frame["bureau_worst_status_24m"].tolist() == [1, 0, 1]
    assert frame["bureau_latency_ms"].tolist()[0] == 1.5
    assert math.isnan(frame["bureau_latency_ms"][1])
    assert frame["sources_failure_action"].tolist() == ["", "", ""]


def test_failure_action_is_the_strictest_over_failed_sources() -> None:
    sources = all_answering(bureau="timeout", platform="no_record", blocklist="error")
    frame = fetch_sources(
        [request()], consent(1), sources, policy(bureau="refer", blocklist="decline")
    )
    assert frame["sources_failed"][0] == "bureau,blocklist"
    assert frame["sources_failure_action"][0] == "decline"
    assert frame["bureau_error"][0] == "boom"
    assert frame["platform_status"][0] == "no_record"
    only_refer = fetch_sources(
        [request()], consent(1), all_answering(multi_lending="error"), policy()
    )
    assert only_refer["sources_failed"][0] == "multi_lending"
    assert only_refer["sources_failure_action"][0] == "refer"


def test_missing_consent_and_thin_files_are_not_failures() -> None:
    sources = all_answering(bureau="no_record")
    frame = fetch_sources(
        [request()],
        consent(1, blocklist=[False]),
        sources,
        policy(bureau="decline", blocklist="decline"),
    )
    assert frame["sources_failed"][0] == ""
    assert frame["sources_failure_action"][0] == ""


class Raising:
    name, version = "multi_lending", "broken-1"

    def fetch(self, requests: Sequence[SourceRequest]) -> list[SourceAnswer]:
        raise ConnectionError("feed unreachable")


class Short(Raising):
    def fetch(self, requests: Sequence[SourceRequest]) -> list[SourceAnswer]:
        return []


class WrongReport(Raising):
    def fetch(self, requests: Sequence[SourceRequest]) -> list[SourceAnswer]:
        return [SourceAnswer("ok", PlatformHistory(1, 0, False)) for _ in requests]


@pytest.mark.parametrize(
    ("adapter", "message"),
    [
        (Raising(), "ConnectionError: feed unreachable"),
        (Short(), "not 2 answers"),
        (WrongReport(), "PlatformHistory"),
    ],
)
def test_a_broken_adapter_is_an_error_status_not_a_crash(adapter: object, message: str) -> None:
    sources: dict[str, object] = {**all_answering(), "multi_lending": adapter}
    frame = fetch_sources([request("P-1"), request("P-2")], consent(2), sources, policy())  # type: ignore[arg-type]
    assert frame["multi_lending_status"].tolist() == ["error", "error"]
    assert message in frame["multi_lending_error"][0]
    assert frame["bureau_status"].tolist() == ["ok", "ok"]
    assert frame["sources_failure_action"].tolist() == ["refer", "refer"]


def test_a_report_from_the_future_is_an_error() -> None:
    future = BureauReport((account("N" * 24, opened_on=date(2026, 4, 2)),), (), True)
    sources = {
        **all_answering(),
        "bureau": Recording("bureau", lambda _: SourceAnswer("ok", future)),
    }
    frame = fetch_sources([request()], consent(1), sources, policy())  # type: ignore[arg-type]
    assert frame["bureau_status"][0] == "error"
    assert "after" in frame["bureau_error"][0]


def test_columns_and_dtypes_follow_the_contract() -> None:
    frame = fetch_sources(
        [request("P-1"), request("P-2")],
        consent(2, platform=[False, True]),
        all_answering(),
        policy(),
    )
    assert list(frame.columns) == source_frame_columns()
    assert frame.index.equals(pd.RangeIndex(2))
    for column, dtype in COLUMN_DTYPES.items():
        assert frame[column].dtype == dtype, column
    for name in SOURCE_NAMES:
        assert frame[f"{name}_status"].dtype == object
        assert frame[f"{name}_latency_ms"].dtype == np.float64
    empty = fetch_sources([], consent(0), all_answering(), policy())
    assert list(empty.columns) == source_frame_columns() and len(empty) == 0


def test_setup_mistakes_are_typed_errors() -> None:
    with pytest.raises(SourceConfigError, match="consent_platform"):
        fetch_sources(
            [request()],
            {key: value for key, value in consent(1).items() if key != "consent_platform"},
            all_answering(),
            policy(),
        )
    with pytest.raises(SourceConfigError, match="bool"):
        fetch_sources(
            [request()], {**consent(1), "consent_bureau": np.array([1])}, all_answering(), policy()
        )
    sources = {name: source for name, source in all_answering().items() if name != "blocklist"}
    with pytest.raises(SourceConfigError, match="exactly"):
        fetch_sources([request()], consent(1), sources, policy())  # type: ignore[arg-type]


# --- failure policy and calibration files ---------------------------------------------------------


def test_packaged_policy_loads_with_its_sources() -> None:
    failure_policy = load_failure_policy()
    assert failure_policy.source and len(failure_policy.sha256) == 64
    for name in SOURCE_NAMES:
        assert failure_policy.for_source(name).on_failure in {"refer", "decline"}
        assert failure_policy.for_source(name).source
    assert load_synthetic_calibration().thin_file_share == pytest.approx(0.08)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('on_failure = "refer"', 'on_failure = "approve"'),
        ("retries = 1", "retries = 99"),
        ("[failure_policy.bureau]", "[failure_policy.bureau]\nsurprise = 1"),
        ("thin_file_share = 0.08", "thin_file_share = 1.5"),
        ("kinds.other]\nshare = 0.10", "kinds.other]\nshare = 0.20"),  # kinds sum to 1.1
    ],
)
def test_bad_sources_files_are_refused(tmp_path: Path, change: str, message: str) -> None:
    packaged = sources_config.DATA / "sources.toml"
    text = packaged.read_text(encoding="utf-8")
    assert change in text
    path = tmp_path / "sources.toml"
    path.write_text(text.replace(change, message, 1), encoding="utf-8")
    with pytest.raises(SourceConfigError, match=str(path)):
        load_failure_policy(path)
        load_synthetic_calibration(path)


# --- synthetic sources ----------------------------------------------------------------------------


def assert_same_answers(left: pd.DataFrame, right: pd.DataFrame) -> None:
    latency = [f"{name}_latency_ms" for name in SOURCE_NAMES]
    pd.testing.assert_frame_equal(left.drop(columns=latency), right.drop(columns=latency))


def test_synthetic_sources_are_deterministic_and_batch_independent() -> None:
    requests = request_batch(400, APPLIED)
    first = pd.DataFrame(SyntheticSources(5).summary_columns(requests))
    again = pd.DataFrame(SyntheticSources(5).summary_columns(requests))
    pd.testing.assert_frame_equal(first, again)
    other_seed = pd.DataFrame(SyntheticSources(6).summary_columns(requests))
    assert not first["bureau_history_months"].equals(other_seed["bureau_history_months"])
    order = np.random.default_rng(0).permutation(400)
    shuffled = pd.DataFrame(SyntheticSources(5).summary_columns([requests[i] for i in order]))
    pd.testing.assert_frame_equal(shuffled, first.iloc[order].reset_index(drop=True))


def test_latent_risk_is_a_pinned_standard_normal() -> None:
    ids = [f"person-{index}" for index in range(20_000)]
    risk = latent_risk(ids, seed=1)
    assert abs(risk.mean()) < 0.03 and abs(risk.std() - 1) < 0.03
    assert np.array_equal(risk, latent_risk(ids, seed=1))
    # pinned: a change to the hash changes every synthetic data set, so it must be deliberate
    assert latent_risk(["P-88120"], seed=2026)[0] == pytest.approx(-1.512625, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**64 - 1),
    ids=st.lists(
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}", fullmatch=True),
        min_size=1,
        max_size=25,
        unique=True,
    ),
    applied_on=st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31)),
)
def test_vectorised_columns_equal_the_summaries_of_the_raw_reports(
    seed: int, ids: list[str], applied_on: date
) -> None:
    faults = {"timeout": 0.1, "error": 0.1}
    synthetic = SyntheticSources(seed, failure_rates={"bureau": faults, "platform": faults})
    requests = [request(applicant_id, applied_on) for applicant_id in ids]
    for name in SOURCE_NAMES:
        vectorised = synthetic.source_columns(name, requests)
        answers = synthetic.answers(name, requests)
        assert [answer.status for answer in answers] == vectorised[f"{name}_status"].tolist()
        raw = summarise(
            name, [answer.report for answer in answers], as_days([applied_on] * len(ids))
        )
        for column in SOURCE_COLUMNS[name]:
            np.testing.assert_array_equal(raw[column], vectorised[column], err_msg=column)
    single = synthetic.report_for(requests[0])
    assert single["bureau"] == synthetic.answers("bureau", requests)[0]


class RawOnly:
    """A synthetic source without its vectorised path (fetch only), recording what it is asked."""

    def __init__(self, source: SyntheticSource) -> None:
        self.source, self.name, self.version = source, source.name, source.version
        self.seen: list[str] = []

    def fetch(self, requests: Sequence[SourceRequest]) -> list[SourceAnswer]:
        self.seen += [item.applicant_id for item in requests]
        return self.source.fetch(requests)


class Vectorised(RawOnly):
    """The same, with the vectorised path that fetch_sources prefers."""

    def summary_columns(self, requests: Sequence[SourceRequest]) -> dict[str, np.ndarray]:
        self.seen += [item.applicant_id for item in requests]
        return self.source.summary_columns(requests)


def test_fetch_path_equals_vectorised_path_with_faults() -> None:
    synthetic = SyntheticSources(3, failure_rates={"bureau": {"timeout": 0.05, "error": 0.02}})
    requests = request_batch(500, APPLIED)
    rng = np.random.default_rng(1)
    gates = {name: rng.random(500) < 0.9 for name in SOURCE_NAMES}
    fast = {name: Vectorised(source) for name, source in synthetic.sources().items()}
    slow = {name: RawOnly(source) for name, source in synthetic.sources().items()}
    vectorised = fetch_sources(requests, consent(500, **gates), fast, policy())
    raw = fetch_sources(requests, consent(500, **gates), slow, policy())
    assert_same_answers(raw, vectorised)
    assert set(vectorised["bureau_status"]) == {"ok", "no_record", "no_consent", "timeout", "error"}
    for name in SOURCE_NAMES:  # either path is asked about consented rows only
        asked = [item.applicant_id for item, ok in zip(requests, gates[name], strict=True) if ok]
        assert fast[name].seen == asked
        assert slow[name].seen == asked


def test_synthetic_shares_match_the_calibration() -> None:
    synthetic = SyntheticSources(99, failure_rates={"bureau": {"timeout": 0.02}})
    columns = pd.DataFrame(synthetic.summary_columns(request_batch(50_000, APPLIED)))
    bureau = columns["bureau_status"].value_counts(normalize=True)
    assert bureau["no_record"] == pytest.approx(0.08 * 0.98, abs=0.006)
    assert bureau["timeout"] == pytest.approx(0.02, abs=0.003)
    assert columns["blocklist_hit"].mean() == pytest.approx(0.01, abs=0.003)
    assert (columns["platform_status"] == "ok").mean() == pytest.approx(0.35, abs=0.01)
    ok = columns[columns["bureau_status"] == "ok"]
    assert 0.05 < (ok["bureau_overdue_months_24m"] > 0).mean() < 0.35
    assert (ok["bureau_accounts"] >= 1).all() and (ok["bureau_history_months"] >= 1).all()


def test_latent_risk_drives_overdue_history() -> None:
    synthetic = SyntheticSources(2026)
    requests = request_batch(5_000, APPLIED)
    columns = synthetic.summary_columns(requests)
    ok = columns["bureau_status"] == "ok"
    risk = synthetic.latent_risk(requests)[ok]
    assert spearmanr(risk, columns["bureau_overdue_months_24m"][ok]).statistic > 0.3
    assert spearmanr(risk, columns["bureau_history_months"][ok]).statistic < -0.1
    assert spearmanr(risk, columns["multi_applications_90d"][ok]).statistic > 0.3


def test_failure_rates_and_seed_are_checked() -> None:
    with pytest.raises(SourceConfigError, match="failure_rates"):
        SyntheticSources(1, failure_rates={"bureau": {"slow": 0.1}})
    with pytest.raises(SourceConfigError, match="failure_rates"):
        SyntheticSources(1, failure_rates={"bureau": {"timeout": 0.7, "error": 0.5}})
    with pytest.raises(SourceConfigError, match="seed"):
        SyntheticSources(-1)


def test_synthetic_batch_is_vectorised() -> None:
    """A loose guard against a per-row loop creeping into the fast path (about 30 ms here)."""
    synthetic = SyntheticSources(8)
    requests = request_batch(20_000, APPLIED)
    started = time.process_time()
    synthetic.summary_columns(requests)
    assert time.process_time() - started < 1.0
