"""What the data sources say, as immutable records: requests, raw reports, answers, columns.

A source is asked about one applicant (:class:`SourceRequest`) and answers with a
:class:`SourceAnswer`: a status and, when the status is ``ok``, one raw report: a PBOC-style
:class:`BureauReport`, a :class:`MultiLendingReport` (多头借贷), the platform's own
:class:`PlatformHistory`, or a :class:`BlocklistResult`. Reports check their own shape when built,
so a report that exists is well formed; a file or HTTP body that is not becomes a status ``error``
in the adapter, never a crash.

The flat columns the summarisers produce (``docs/underwriting.md``), and the value each column
takes when its source is not ``ok`` (:data:`MISSING_VALUES`), live here too, so every adapter and
rule reads one list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar, Literal, get_args

import numpy as np
from pydantic import ConfigDict, TypeAdapter, ValidationError

from lendguard.errors import LendGuardError, validation_problems

SourceName = Literal["bureau", "multi_lending", "platform", "blocklist"]
SOURCE_NAMES: tuple[SourceName, ...] = get_args(SourceName)
"""The four sources, in the order their columns appear and failures are listed."""

AnswerStatus = Literal["ok", "no_record", "timeout", "error"]
ANSWER_STATUSES: tuple[AnswerStatus, ...] = get_args(AnswerStatus)
FAILED_STATUSES = frozenset({"timeout", "error"})
"""Statuses the failure policy acts on; ``no_record`` (a thin file) is an answer, not a failure."""

NO_CONSENT = "no_consent"
"""The status of a row whose consent for the source is missing: the source was not asked."""

AccountKind = Literal["loan", "revolving", "mortgage", "other"]
InquiryReason = Literal["loan_approval", "credit_card_approval", "post_loan", "self"]
LENDING_INQUIRY_REASONS = frozenset({"loan_approval", "credit_card_approval"})
"""Inquiries that count towards ``bureau_inquiries_*``: a lender deciding on a new application.
Post-loan monitoring (贷后管理) and the person's own queries (本人查询) say nothing about credit
hunger, so they are left out (the usual reading of "硬查询" in PBOC reports)."""

STATUS_MONTHS = 24
"""Length of a PBOC repayment-status string (近24个月还款状态), oldest month first."""
STATUS_PATTERN = re.compile(r"[NC*/1-7]{24}")
"""Allowed status characters: ``N`` paid as agreed, ``*`` nothing due, ``C`` closed, ``/`` not yet
opened (PBOC writes ``/`` for months before the account existed), ``1``-``7`` periods overdue
(7 = 180 days or more). DOMAIN 6.34."""

identifier_length_max = 128
"""Longest application or applicant id: ids are keys, not free text."""
accounts_per_report_max = 500
"""A bureau report with more accounts than this is corrupt or hostile, not a person."""
inquiries_per_report_max = 2_000
applications_per_report_max = 5_000
amount_minor_max = 10**15
"""Same bound as :data:`lendguard.limits.amount_minor_max`: ten trillion yuan."""
past_due_days_max = 100_000


class SourceRequestError(LendGuardError):
    """A request the data sources cannot be asked (an empty id, a date that is not a date)."""

    code = "invalid_source_request"


class SourceDataError(LendGuardError):
    """A report that breaks its schema: a bad status string, a negative amount, a future account."""

    code = "invalid_source_data"


class SourceConfigError(LendGuardError):
    """A source setup that cannot work: unknown source name, bad policy file, missing consent."""

    code = "invalid_source_config"


@dataclass(frozen=True)
class SourceRequest:
    """Who a source is asked about; the lead builds one per application.

    Only what some source needs: the bureau matches name and ID number, the multi-lending feed and
    the blocklist key on ID number and phone, the platform on its own applicant id. Each adapter
    sends only the fields its source needs (PIPL Art. 6, DOMAIN 6.10).
    """

    application_id: str
    applicant_id: str
    applied_on: date
    id_number: str
    name: str
    phone: str

    def __post_init__(self) -> None:
        for field in ("application_id", "applicant_id", "id_number", "name", "phone"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value.strip():
                raise SourceRequestError(f"source request {field} must be a non-empty string")
        for field in ("application_id", "applicant_id"):
            value = getattr(self, field)
            if len(value) > identifier_length_max or not value.isprintable():
                raise SourceRequestError(
                    f"source request {field} must be printable, at most "
                    f"{identifier_length_max} characters"
                )
        if not isinstance(self.applied_on, date) or isinstance(self.applied_on, datetime):
            raise SourceRequestError("source request applied_on must be a date (not a datetime)")


_STRICT: ConfigDict = ConfigDict(strict=True, extra="forbid")


@dataclass(frozen=True)
class BureauAccount:
    """One credit account on a PBOC-style report (贷款 / 贷记卡 / 住房贷款 / 其他).

    ``limit_minor`` is the credit limit of a revolving account and the original principal of a
    loan. ``status_24m`` is aligned with every other account of the same report: its last
    character is the report's newest month.
    """

    __pydantic_config__: ClassVar[ConfigDict] = _STRICT
    kind: AccountKind
    opened_on: date
    limit_minor: int
    balance_minor: int
    monthly_repayment_minor: int
    overdue_minor: int
    status_24m: str

    def __post_init__(self) -> None:
        if self.kind not in get_args(AccountKind):
            known = ", ".join(get_args(AccountKind))
            raise SourceDataError(f"bureau account kind {self.kind!r} is not one of {known}")
        _check_date("bureau account opened_on", self.opened_on)
        for field in ("limit_minor", "balance_minor", "monthly_repayment_minor", "overdue_minor"):
            _check_count(f"bureau account {field}", getattr(self, field), amount_minor_max)
        if not isinstance(self.status_24m, str) or not STATUS_PATTERN.fullmatch(self.status_24m):
            raise SourceDataError(
                f"bureau account status_24m {self.status_24m!r} must be 24 characters from "
                "N * C / 1-7"
            )


@dataclass(frozen=True)
class BureauInquiry:
    """One query of the person's report (查询记录) by a lender or the person."""

    __pydantic_config__: ClassVar[ConfigDict] = _STRICT
    queried_on: date
    reason: InquiryReason

    def __post_init__(self) -> None:
        _check_date("bureau inquiry queried_on", self.queried_on)
        if self.reason not in get_args(InquiryReason):
            raise SourceDataError(f"bureau inquiry reason {self.reason!r} is not known")


@dataclass(frozen=True)
class BureauReport:
    """A credit report: accounts, inquiries, and whether name and ID number match its record."""

    __pydantic_config__: ClassVar[ConfigDict] = _STRICT
    accounts: tuple[BureauAccount, ...]
    inquiries: tuple[BureauInquiry, ...]
    identity_matches: bool

    def __post_init__(self) -> None:
        _check_items("bureau accounts", self.accounts, BureauAccount, accounts_per_report_max)
        _check_items("bureau inquiries", self.inquiries, BureauInquiry, inquiries_per_report_max)
        _check_bool("bureau identity_matches", self.identity_matches)


@dataclass(frozen=True)
class MultiLendingReport:
    """Applications the person made to other lenders: ``(applied_on, lender_id)`` pairs."""

    __pydantic_config__: ClassVar[ConfigDict] = _STRICT
    applications: tuple[tuple[date, str], ...]

    def __post_init__(self) -> None:
        if not isinstance(self.applications, tuple):
            raise SourceDataError("multi-lending applications must be a tuple")
        if len(self.applications) > applications_per_report_max:
            raise SourceDataError(
                f"multi-lending report has {len(self.applications)} applications, more than "
                f"{applications_per_report_max}"
            )
        for application in self.applications:
            if not isinstance(application, tuple) or len(application) != 2:
                raise SourceDataError("multi-lending application must be (applied_on, lender_id)")
            _check_date("multi-lending applied_on", application[0])
            if not isinstance(application[1], str) or not application[1]:
                raise SourceDataError("multi-lending lender_id must be a non-empty string")


@dataclass(frozen=True)
class PlatformHistory:
    """The applicant's history on this platform: accounts, worst days past due, any write-off."""

    __pydantic_config__: ClassVar[ConfigDict] = _STRICT
    accounts: int
    max_past_due_days: int
    written_off: bool

    def __post_init__(self) -> None:
        _check_count("platform accounts", self.accounts, accounts_per_report_max)
        _check_count("platform max_past_due_days", self.max_past_due_days, past_due_days_max)
        _check_bool("platform written_off", self.written_off)


@dataclass(frozen=True)
class BlocklistResult:
    """A blocklist lookup: a hit carries its reason (fraud, court-listed defaulter ...)."""

    __pydantic_config__: ClassVar[ConfigDict] = _STRICT
    hit: bool
    reason: str

    def __post_init__(self) -> None:
        _check_bool("blocklist hit", self.hit)
        if not isinstance(self.reason, str) or (self.hit and not self.reason):
            raise SourceDataError("blocklist reason must be a string, non-empty on a hit")


Report = BureauReport | MultiLendingReport | PlatformHistory | BlocklistResult

REPORT_TYPES: dict[str, type[Report]] = {
    "bureau": BureauReport,
    "multi_lending": MultiLendingReport,
    "platform": PlatformHistory,
    "blocklist": BlocklistResult,
}
_ADAPTERS: dict[str, TypeAdapter[Report]] = {
    name: TypeAdapter(kind) for name, kind in REPORT_TYPES.items()
}


@dataclass(frozen=True)
class SourceAnswer:
    """One source's answer about one request; ``report`` is set exactly when ``status == "ok"``."""

    status: AnswerStatus
    report: Report | None = None
    error: str | None = None
    latency_ms: float = 0.0

    def __post_init__(self) -> None:
        assert self.status in ANSWER_STATUSES, f"unknown answer status {self.status!r}"
        assert (self.report is not None) == (self.status == "ok"), "report iff status ok"


def report_from_json(name: str, body: bytes | str) -> Report:
    """Parse and strictly validate one report (the dataclass as JSON); bad -> SourceDataError."""
    adapter = _ADAPTERS.get(name)
    if adapter is None:
        raise SourceConfigError(f"unknown source {name!r}; known: {', '.join(SOURCE_NAMES)}")
    try:
        return adapter.validate_json(body)
    except ValidationError as exc:
        raise SourceDataError(f"{name} report: {validation_problems(exc, 3)}") from None


def report_to_json(name: str, report: Report) -> bytes:
    """The JSON form :func:`report_from_json` reads (file fixtures, HTTP bodies)."""
    adapter = _ADAPTERS.get(name)
    if adapter is None:
        raise SourceConfigError(f"unknown source {name!r}; known: {', '.join(SOURCE_NAMES)}")
    return adapter.dump_json(report)


# --- columns ------------------------------------------------------------------------------------

SOURCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "bureau": (
        "bureau_identity_matches",
        "bureau_accounts",
        "bureau_history_months",
        "bureau_overdue_months_24m",
        "bureau_worst_status_24m",
        "bureau_worst_status_12m",
        "bureau_current_overdue_minor",
        "bureau_monthly_repayment_minor",
        "bureau_utilisation",
        "bureau_inquiries_1m",
        "bureau_inquiries_3m",
        "bureau_inquiries_6m",
    ),
    "multi_lending": (
        "multi_lenders_7d",
        "multi_lenders_30d",
        "multi_lenders_90d",
        "multi_applications_7d",
        "multi_applications_30d",
        "multi_applications_90d",
    ),
    "platform": ("platform_accounts", "platform_max_past_due_days", "platform_written_off"),
    "blocklist": ("blocklist_hit",),
}
"""Each source's value columns (its ``<source>_status`` column is separate)."""

MISSING_VALUES: dict[str, object] = {
    **dict.fromkeys([column for columns in SOURCE_COLUMNS.values() for column in columns], 0),
    "bureau_identity_matches": True,
    "bureau_utilisation": float("nan"),
    "platform_written_off": False,
    "blocklist_hit": False,
}
"""The value of each column when its source is not ``ok``: 0, False or NaN, and True for identity
(no record means no mismatch was seen). Rules read ``<source>_status`` first."""

COLUMN_DTYPES: dict[str, np.dtype] = {
    column: np.dtype(
        "bool" if isinstance(value, bool) else "float64" if isinstance(value, float) else "int64"
    )
    for column, value in MISSING_VALUES.items()
}
"""numpy dtype of each value column: bool, float64 or int64."""


def missing_columns(name: str, rows: int) -> dict[str, np.ndarray]:
    """Fresh arrays of ``rows`` missing values for each of a source's value columns."""
    return {
        column: np.full(rows, MISSING_VALUES[column], dtype=COLUMN_DTYPES[column])
        for column in SOURCE_COLUMNS[name]
    }


# --- checks -------------------------------------------------------------------------------------


def _check_date(field: str, value: object) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise SourceDataError(f"{field} must be a date, got {value!r}")


def _check_count(field: str, value: object, value_max: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= value_max:
        raise SourceDataError(f"{field} must be an integer from 0 to {value_max}, got {value!r}")


def _check_bool(field: str, value: object) -> None:
    if not isinstance(value, bool):
        raise SourceDataError(f"{field} must be true or false, got {value!r}")


def _check_items(field: str, items: object, kind: type, count_max: int) -> None:
    if not isinstance(items, tuple) or not all(isinstance(item, kind) for item in items):
        raise SourceDataError(f"{field} must be a tuple of {kind.__name__}")
    if len(items) > count_max:
        raise SourceDataError(f"{field}: {len(items)} items, more than {count_max}")
