"""The underwriting desk: decisions with an audit trail, idempotency, and human review.

``submit`` parses, decides and stores an application in one step. The application id is the
idempotency key: the same body again returns the stored decision, a different body under the same
id is refused. A malformed application writes only a rejection record (the digest of what came and
why, never the body, which may hold personal data). A referral opens a review item in the same
transaction as its decision. A reviewer's approve or decline appends a new decision revision; an
applicant may contest an automated decision and get a human review (PIPL Art. 24, DOMAIN 6.17).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from lendguard import limits
from lendguard.store.underwriting import (
    DecisionStore,
    DuplicateApplicationError,
    ReviewItem,
    ReviewStateError,
    StoredDecision,
)
from lendguard.underwriting.application import Application, ApplicationError, parse_application
from lendguard.underwriting.engine import Decision, Underwriter
from lendguard.underwriting.policy import reason_text

AUTOMATED = "automated"
REVIEW_OUTCOMES = ("approve", "decline")


def payload_digest(payload: bytes) -> str:
    """sha256 of the bytes received: what the audit keeps instead of the personal data."""
    return hashlib.sha256(payload).hexdigest()


def canonical_bytes(payload: bytes | str | dict[str, Any]) -> bytes:
    """The body as bytes; a mapping is serialised canonically so its digest is stable."""
    if isinstance(payload, dict):
        return json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
    return payload.encode() if isinstance(payload, str) else payload


class UnderwritingDesk:
    """Decides, records and reviews applications over a :class:`DecisionStore`."""

    def __init__(self, store: DecisionStore, underwriter: Underwriter) -> None:
        self.store = store
        self.underwriter = underwriter

    def submit(self, payload: bytes | str | dict[str, Any], received_on: dt.date) -> dict:
        """Decide one application body (or return its earlier decision); see the module doc."""
        body = canonical_bytes(payload)
        digest = payload_digest(body)
        try:
            if len(body) > limits.application_bytes_max:
                raise ApplicationError(
                    f"the application is {len(body)} bytes; at most "
                    f"{limits.application_bytes_max} are accepted"
                )
            application = parse_application(body)
        except ApplicationError as exc:
            self.store.record_rejection(received_on, digest, exc.code, exc.message)
            raise
        return self.submit_parsed([application], [digest], received_on)[0]

    def submit_parsed(
        self,
        applications: Sequence[Application],
        digests: Sequence[str],
        received_on: dt.date,
    ) -> list[dict[str, Any]]:
        """Decide parsed applications, reusing stored decisions for ids already decided."""
        ids = [application.application_id for application in applications]
        if len(set(ids)) != len(ids):
            raise DuplicateApplicationError("an application id appears twice in one batch")
        stored = self.store.first_revisions(ids)
        for application_id, digest in zip(ids, digests, strict=True):
            earlier = stored.get(application_id)
            if earlier is not None and earlier.payload_sha256 != digest:
                raise DuplicateApplicationError(
                    f"application {application_id} was already decided for a different body"
                )
        fresh = [a for a in applications if a.application_id not in stored]
        decided = self.underwriter.decide_batch(fresh).decisions() if fresh else []
        decisions = {d.application_id: d for d in decided}
        records = [
            _stored(decisions[a.application_id], digest, received_on, self.underwriter.versions)
            for a, digest in zip(applications, digests, strict=True)
            if a.application_id in decisions
        ]
        referrals = [
            ReviewItem(
                record.application_id,
                1,
                "referral",
                "automated referral",
                "open",
                received_on,
                None,
            )
            for record in records
            if record.decision == "refer"
        ]
        self.store.record_decisions(records, referrals)
        by_id = {record.application_id: record for record in records} | stored
        return [by_id[application_id].record["public"] for application_id in ids]

    def contest(self, application_id: str, statement: str, on: dt.date) -> ReviewItem:
        """An applicant asks a person to review an automated decision."""
        revisions = self.store.revisions(application_id)
        if not revisions:
            raise ReviewStateError(f"no decision on application {application_id}")
        latest = revisions[-1]
        if latest.actor != AUTOMATED:
            raise ReviewStateError(
                f"application {application_id} was last decided by a person; "
                "a contest asks for human review of an automated decision"
            )
        if not statement.strip():
            raise ReviewStateError("a contest needs the applicant's statement")
        item = ReviewItem(application_id, latest.revision, "contest", statement, "open", on, None)
        self.store.open_review(item)
        return item

    def review(
        self,
        application_id: str,
        reviewer: str,
        outcome: str,
        note: str,
        decided_on: dt.date,
        limit_minor: int | None = None,
    ) -> dict[str, Any]:
        """A reviewer approves or declines; the decision becomes the next revision."""
        if outcome not in REVIEW_OUTCOMES:
            raise ReviewStateError(f"a review outcome is approve or decline, got {outcome!r}")
        if not reviewer.strip() or reviewer == AUTOMATED:
            raise ReviewStateError("a review needs the reviewer's id")
        if not note.strip():
            raise ReviewStateError("a review needs a reason")
        revisions = self.store.revisions(application_id)
        if not revisions:
            raise ReviewStateError(f"no decision on application {application_id}")
        if self.store.open_item(application_id) is None:
            raise ReviewStateError(f"{application_id} has no open review")
        public = _reviewed(revisions[0].record["public"], outcome, note, limit_minor)
        decision = StoredDecision(
            application_id=application_id,
            revision=revisions[-1].revision + 1,
            decided_on=decided_on,
            decision=outcome,
            actor=reviewer,
            payload_sha256=revisions[0].payload_sha256,
            record={
                "public": public,
                "reviewer": reviewer,
                "note": note,
                "reviews_revision": revisions[-1].revision,
            },
        )
        self.store.close_review(decision)
        return public


def _reviewed(
    automated: dict[str, Any], outcome: str, note: str, limit_minor: int | None
) -> dict[str, Any]:
    """The public decision after review: a person's approve keeps the computed price."""
    code = "HUMAN_APPROVED" if outcome == "approve" else "HUMAN_DECLINED"
    public = {**automated, "decision": outcome, "reasons": [reason_text(code)], "note": note}
    if outcome == "decline":
        return {**public, "limit": "0.00", "limit_minor": 0}
    if limit_minor is None:
        limit_minor = int(automated["proposed_limit_minor"])
    if limit_minor <= 0 or automated.get("daily_rate") is None:
        raise ReviewStateError(
            "an approval by review needs a positive limit and a price; this application has "
            f"limit {limit_minor} and {'no' if automated.get('daily_rate') is None else 'a'} "
            "price (give --limit, or decline)"
        )
    return {
        **public,
        "limit": f"{limit_minor // 100}.{limit_minor % 100:02d}",
        "limit_minor": limit_minor,
    }


def _stored(
    decision: Decision, digest: str, received_on: dt.date, versions: dict[str, Any]
) -> StoredDecision:
    return StoredDecision(
        application_id=decision.application_id,
        revision=1,
        decided_on=received_on,
        decision=decision.decision,
        actor=AUTOMATED,
        payload_sha256=digest,
        record={
            "public": decision.public(),
            "inputs": decision.inputs,
            "versions": versions,
            "timings_ms": decision.timings_ms,
        },
    )
