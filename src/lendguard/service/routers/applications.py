"""Applications: automated decisions, the human-review queue, review decisions and contests.

Routes translate HTTP into :class:`~lendguard.underwriting.desk.UnderwritingDesk` calls. The body
of ``POST /applications`` is read raw and handed to the desk, so a malformed application leaves
what the desk keeps for one (a rejection record: digest and reason, never the body) instead of
vanishing in request validation. The application id is the idempotency key; a JSON object body is
canonicalised first (sorted keys), so a retry that serialises the same application differently is
still the same application.

Personal data (name, ID number, phone) goes to the encrypted vault under the subject
``application:<id>``; responses carry it masked, and only ``GET .../applicant?unmasked=true`` by a
role holding ``personal_data:read_unmasked`` shows it, each such read audited.

No ``from __future__ import annotations``: FastAPI resolves these annotations at runtime.
"""

import datetime as dt
import json
import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from lendguard import limits
from lendguard.money import format_minor, parse_minor
from lendguard.service import roles
from lendguard.service.deps import PageDep, Services, audit_event, get_services, require
from lendguard.service.errors import ProblemError
from lendguard.service.pii import KINDS, mask_all
from lendguard.service.security import Principal
from lendguard.store.underwriting import ReviewItem, StoredDecision
from lendguard.underwriting.application import (
    CURRENCY,
    Application,
    ApplicationError,
    parse_application,
)
from lendguard.underwriting.desk import canonical_bytes, payload_digest

router = APIRouter(prefix="/applications", tags=["applications"])

ServicesDep = Annotated[Services, Depends(get_services)]
Decider = Annotated[Principal, Depends(require("applications:decide"))]
Reader = Annotated[Principal, Depends(require("applications:read"))]
Reviewer = Annotated[Principal, Depends(require("applications:review"))]

note_chars_max = 2_000
"""Longest reviewer reason or applicant statement kept: a page of text."""

_desk_lock = threading.Lock()
"""Serialises decisions in this process. Why: the synthetic bureau caches the last batch's people
on the source object (``SyntheticSources._batch``), which two threads deciding at once could read
half-replaced; a decision takes ~15 ms, so one at a time costs little."""

_IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
_AMOUNT = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"


# --- schemas ----------------------------------------------------------------------------------


class Reason(BaseModel):
    """One reason code with its texts in Chinese and English."""

    code: str
    zh: str
    en: str


class DecisionPublic(BaseModel):
    """A decision as the applicant's lender may see it: outcome, limit, price and reasons."""

    application_id: str
    decision: Literal["approve", "decline", "refer"]
    limit: str = Field(description="Limit granted, yuan as a decimal string.")
    limit_minor: int
    proposed_limit: str = Field(description="Largest limit the rules allow (refer: on approval).")
    proposed_limit_minor: int
    daily_rate: str | None = Field(description="Daily rate in percent, e.g. 0.030.")
    apr: str | None = Field(description="APR in percent (see apr_convention).")
    apr_convention: str | None
    grade: str | None
    score: float | None
    route: str = Field(description="champion or challenger policy.")
    reasons: list[Reason]
    note: str | None = Field(default=None, description="A reviewer's reason, after review.")


class ReviewItemPublic(BaseModel):
    """A referral or contest waiting for a reviewer (or closed by one)."""

    application_id: str
    opened_revision: int
    reason: Literal["referral", "contest"]
    note: str
    status: Literal["open", "closed"]
    opened_on: dt.date
    closed_revision: int | None


class ApplicantMasked(BaseModel):
    """The applicant's personal data as a caller may see it (masked unless allowed)."""

    name: str | None
    id_number: str | None
    phone: str | None
    masked: bool


class DecisionRecord(BaseModel):
    """The latest revision of an application's decision, who made it, and its review state."""

    revision: int
    decided_on: dt.date
    actor: str = Field(description='"automated", or the key id of the reviewer.')
    decision: DecisionPublic
    open_review: ReviewItemPublic | None
    applicant: ApplicantMasked


class ReviewQueuePage(BaseModel):
    """One page of open review items, oldest first."""

    items: list[ReviewItemPublic]
    limit: int
    offset: int


class ReviewCreate(BaseModel):
    """A reviewer's decision on a referred or contested application."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["approve", "decline"]
    reason: str = Field(min_length=1, max_length=note_chars_max)
    decided_on: dt.date = Field(description="Business date of the review.")
    limit: str | None = Field(
        default=None,
        pattern=_AMOUNT,
        description="Limit granted on approval, yuan (default: the proposed limit).",
    )


class ContestCreate(BaseModel):
    """An applicant's request that a person review an automated decision (PIPL Art. 24)."""

    model_config = ConfigDict(extra="forbid")

    statement: str = Field(min_length=1, max_length=note_chars_max)
    contested_on: dt.date = Field(description="Business date of the contest.")


ApplicationId = Annotated[str, Path(min_length=1, max_length=64, pattern=_IDENTIFIER)]


# --- the decision request body ------------------------------------------------------------------


_MONEY_FIELDS = frozenset({"requested_amount", "monthly_income", "monthly_obligations"})


def _application_schema() -> dict[str, Any]:
    """The application's JSON schema for the docs, self-contained (no ``$defs``).

    Why not a pydantic body parameter: the desk must see malformed bodies to record them. Money
    fields are yuan decimal strings on the wire, though the model holds integer fen.
    """
    schema = Application.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any, name: str = "") -> Any:
        if isinstance(node, list):
            return [inline(entry) for entry in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
        if name in _MONEY_FIELDS:
            return {"type": "string", "pattern": _AMOUNT, "examples": ["20000.00"]}
        return {key: inline(value, key) for key, value in node.items()}

    return inline(schema)


async def _application_body(request: Request) -> bytes:
    """The raw body, read up to ``limits.application_bytes_max`` (413 beyond: nothing stored)."""
    received = bytearray()
    async for chunk in request.stream():
        received.extend(chunk)
        if len(received) > limits.application_bytes_max:
            raise ProblemError(
                413,
                "application_too_large",
                f"an application is at most {limits.application_bytes_max} bytes",
            )
    return bytes(received)


# --- routes -----------------------------------------------------------------------------------


@router.post(
    "",
    response_model=DecisionPublic,
    summary="Decide an application (approve, decline or refer)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _application_schema()}},
        }
    },
)
def decide_application(
    services: ServicesDep,
    principal: Decider,
    body: Annotated[bytes, Depends(_application_body)],
    received_on: Annotated[
        dt.date | None,
        Query(description="Business date received (default: the application's applied_on)."),
    ] = None,
) -> dict[str, Any]:
    """Decide one application, or return the stored decision for an id already decided.

    A different body under a decided id is a 409; a malformed application is a 400 naming each
    bad field (never its value) and leaves only a rejection record.
    """
    payload = _canonical_payload(body)
    day = received_on or _applied_on(payload) or _service_date()
    desk = services.desk_factory()
    try:
        with _desk_lock:
            public = desk.submit(payload, day)
    except ApplicationError as error:
        _audit_rejection(services, principal, payload, error)
        raise ProblemError(
            400, error.code, error.message, extra={"errors": _field_errors(error)}
        ) from None
    application = parse_application(payload)
    _keep_personal_data(services, application)
    audit_event(
        services,
        principal,
        "applications.decide",
        application.application_id,
        _decision_detail(public, payload),
    )
    return _public(public)


@router.get("/review-queue", response_model=ReviewQueuePage, summary="Open referrals and contests")
def review_queue(services: ServicesDep, _principal: Reviewer, page: PageDep) -> dict[str, Any]:
    """Open review items, oldest first, one bounded page."""
    items = services.decisions.review_queue(page.limit, page.offset)
    return {"items": [_item(item) for item in items], "limit": page.limit, "offset": page.offset}


@router.get(
    "/{application_id}", response_model=DecisionRecord, summary="The decision on an application"
)
def get_decision(
    services: ServicesDep, _principal: Reader, application_id: ApplicationId
) -> dict[str, Any]:
    """The latest revision (a review supersedes the automated decision); personal data masked."""
    latest = _revisions(services, application_id)[-1]
    item = services.decisions.open_item(application_id)
    return {
        "revision": latest.revision,
        "decided_on": latest.decided_on,
        "actor": latest.actor,
        "decision": _public(latest.record["public"]),
        "open_review": None if item is None else _item(item),
        "applicant": _applicant(services, application_id, unmasked=False),
    }


@router.get(
    "/{application_id}/applicant",
    response_model=ApplicantMasked,
    summary="The applicant's personal data (masked unless the role may see it)",
)
def get_applicant(
    services: ServicesDep,
    principal: Reader,
    application_id: ApplicationId,
    unmasked: Annotated[
        bool, Query(description="Plaintext; needs personal_data:read_unmasked; audited.")
    ] = False,
) -> dict[str, Any]:
    """Masked by default; an unmasked read is refused without the permission and always audited."""
    _revisions(services, application_id)
    if unmasked:
        if not roles.allowed(principal.role, "personal_data:read_unmasked"):
            raise ProblemError(
                403, "forbidden", f"role {principal.role!r} may not personal_data:read_unmasked"
            )
        audit_event(
            services,
            principal,
            "applications.applicant.read_unmasked",
            application_id,
            {"kinds": list(KINDS)},
        )
    return _applicant(services, application_id, unmasked=unmasked)


@router.post(
    "/{application_id}/review",
    response_model=DecisionPublic,
    summary="Record a reviewer's approve or decline",
)
def review_application(
    services: ServicesDep, principal: Reviewer, application_id: ApplicationId, body: ReviewCreate
) -> dict[str, Any]:
    """The reviewer (this API key) decides an open referral or contest: the next revision."""
    _revisions(services, application_id)
    limit_minor = None if body.limit is None else parse_minor(body.limit, CURRENCY)
    public = services.desk_factory().review(
        application_id, principal.key_id, body.outcome, body.reason, body.decided_on, limit_minor
    )
    audit_event(
        services,
        principal,
        "applications.review",
        application_id,
        {"outcome": body.outcome, "limit_minor": public["limit_minor"]},
    )
    return _public(public)


@router.post(
    "/{application_id}/contest",
    response_model=ReviewItemPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Contest an automated decision: it goes to human review",
)
def contest_application(
    services: ServicesDep, principal: Decider, application_id: ApplicationId, body: ContestCreate
) -> dict[str, Any]:
    """Queue the application for a person; the statement is kept for the reviewer, not audited."""
    _revisions(services, application_id)
    item = services.desk_factory().contest(application_id, body.statement, body.contested_on)
    audit_event(
        services,
        principal,
        "applications.contest",
        application_id,
        {"reviews_revision": item.opened_revision, "statement_chars": len(body.statement)},
    )
    return _item(item)


# --- helpers ----------------------------------------------------------------------------------


def _canonical_payload(body: bytes) -> bytes | dict[str, Any]:
    """A JSON object as a mapping (the desk serialises it canonically); anything else raw."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return body
    return document if isinstance(document, dict) else body


def _applied_on(payload: bytes | dict[str, Any]) -> dt.date | None:
    """The application's own date, read loosely: the desk validates it properly."""
    if not isinstance(payload, dict) or not isinstance(payload.get("applied_on"), str):
        return None
    try:
        return dt.date.fromisoformat(payload["applied_on"])
    except ValueError:
        return None


def _service_date() -> dt.date:
    """When a malformed body names no date, the rejection is filed under the service's day."""
    return dt.datetime.now(dt.UTC).date()


def _field_errors(error: ApplicationError) -> list[dict[str, Any]]:
    """The problems as the service's validation errors are shaped; messages echo no values."""
    return [{"location": field.split("."), "message": message} for field, message in error.problems]


def _audit_rejection(
    services: Services,
    principal: Principal,
    payload: bytes | dict[str, Any],
    error: ApplicationError,
) -> None:
    """A refused application is audited by its digest and the fields at fault, never its values."""
    audit_event(
        services,
        principal,
        "applications.reject",
        "application",
        {
            "payload_sha256": payload_digest(canonical_bytes(payload)),
            "code": error.code,
            "fields": list(error.fields)[:20],
        },
    )


def _decision_detail(public: dict[str, Any], payload: dict[str, Any] | bytes) -> dict[str, Any]:
    """The automated decision for the audit log: outcome and why, no personal data."""
    return {
        "payload_sha256": payload_digest(canonical_bytes(payload)),
        "decision": public["decision"],
        "limit_minor": public["limit_minor"],
        "grade": public["grade"],
        "score": public["score"],
        "route": public["route"],
        "reasons": [reason["code"] for reason in public["reasons"]],
    }


def _keep_personal_data(services: Services, application: Application) -> None:
    """Seal the applicant's name, ID number and phone in the vault (a retry rewrites the same)."""
    applicant = application.applicant
    subject = _subject(application.application_id)
    values = {"name": applicant.name, "id_number": applicant.id_number, "phone": applicant.phone}
    for kind, value in values.items():
        services.vault.put(subject, kind, value)


def _applicant(services: Services, application_id: str, *, unmasked: bool) -> dict[str, Any]:
    stored = services.vault.get_subject(_subject(application_id))
    shown = stored if unmasked else mask_all(stored)
    return {kind: shown.get(kind) for kind in KINDS} | {"masked": not unmasked}


def _subject(application_id: str) -> str:
    return f"application:{application_id}"


def _revisions(services: Services, application_id: str) -> list[StoredDecision]:
    revisions = services.decisions.revisions(application_id)
    if not revisions:
        raise ProblemError(404, "unknown_application", f"no decision on {application_id}")
    return revisions


def _public(public: dict[str, Any]) -> dict[str, Any]:
    """The domain's public decision plus the proposed limit as a decimal string."""
    proposed = int(public["proposed_limit_minor"])
    return {**public, "proposed_limit": format_minor(proposed, CURRENCY)}


def _item(item: ReviewItem) -> dict[str, Any]:
    return dict(item.__dict__)
