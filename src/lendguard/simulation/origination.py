"""Origination: applications arrive, the real underwriter decides, approved ones open accounts.

Each month of the origination window books its share of the run's accounts. Applications for a
month come from the underwriting generator, dated evenly over the month's days, and go through
:class:`~lendguard.underwriting.engine.Underwriter` in one batch; approvals (and the referrals a
reviewer approves) are booked in arrival order until the month's quota is full. Only the
applications up to the last one booked count as received, so the approval rate is measured on
what was actually decided.

Every applicant applies through the cash-loan configuration (the standard underwriting setup
scores applicants for the cash loan); a credit-line applicant then takes the same decision, with
the line capped at the credit-line product's limit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lendguard.dates.months import add_months
from lendguard.products.model import ProductKind
from lendguard.simulation.scenario import Scenario
from lendguard.underwriting.application import Application
from lendguard.underwriting.engine import Parts, Underwriter
from lendguard.underwriting.sample_applications import synthetic_applications
from lendguard.underwriting.sources_synthetic import latent_risk
from lendguard.underwriting.standard import SYNTHETIC_SEED, packaged_model, standard_parts

APPLICATIONS_PER_BOOKING = 6
"""Applications generated per account to book: the standard policy approves about one in five."""

ROUNDS_MAX = 20
"""Rounds of applications one month may take to fill its quota before giving up."""

CREDIT_LINE = ProductKind.CREDIT_LINE.value
CASH_LOAN = ProductKind.CASH_LOAN.value


@dataclass(frozen=True)
class Booking:
    """An approved application to open an account for."""

    application: Application
    kind: str
    limit_minor: int
    latent_risk: float


@dataclass
class MonthIntake:
    """One month's decided applications (the rows of ``decisions.parquet``) and its bookings."""

    decisions: list[dict[str, Any]] = field(default_factory=list)
    bookings: list[Booking] = field(default_factory=list)


def scenario_underwriter(scenario: Scenario) -> Underwriter:
    """The standard underwriter, with the scenario's policy and score cut-off shift."""
    parts = standard_parts()
    config = parts.config
    shift = scenario.underwriting.score_shift
    score = config.score.model_copy(
        update={
            "decline_below": config.score.decline_below + shift,
            "refer_below": config.score.refer_below + shift,
        }
    )
    challenger_share = "1" if scenario.underwriting.policy == "challenger" else "0"
    header = config.underwriting.model_copy(update={"challenger_share": challenger_share})
    config = config.model_copy(update={"score": score, "underwriting": header})
    model = packaged_model(config)
    return Underwriter(Parts(**{**parts.__dict__, "config": config, "model": model}))


def _split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` near-equal whole shares, the remainder to the first ones."""
    share, remainder = divmod(total, parts)
    return [share + (1 if index < remainder else 0) for index in range(parts)]


def monthly_quotas(scenario: Scenario, partition: int, partitions: int) -> list[int]:
    """Accounts one partition books in each month of the origination window."""
    months = _split(scenario.run.accounts, scenario.run.origination_months)
    return [_split(quota, partitions)[partition] for quota in months]


def intake_month(
    scenario: Scenario,
    underwriter: Underwriter,
    month: int,
    quota: int,
    line_limit_minor: int,
    partition: int,
) -> MonthIntake:
    """Decide a month's applications and pick its bookings; credit lines are capped at
    ``line_limit_minor`` (the credit-line product's limit)."""
    intake = MonthIntake()
    for round_number in range(ROUNDS_MAX):
        if len(intake.bookings) >= quota:
            break
        needed = quota - len(intake.bookings)
        applications = month_applications(scenario, month, partition, round_number, needed)
        _decide_into(intake, scenario, underwriter, applications, quota, line_limit_minor)
    return intake


def month_applications(
    scenario: Scenario, month: int, partition: int, round_number: int, needed: int
) -> list[Application]:
    """Applications spread evenly over the days of ``month`` (1-based), in arrival order."""
    first = add_months(scenario.run.start, month - 1)
    days = (add_months(first, 1) - first).days
    per_day = max(1, math.ceil(needed * APPLICATIONS_PER_BOOKING / days))
    applications: list[Application] = []
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        seed = _application_seed(scenario.run.seed, month, partition, round_number, offset)
        applications.extend(synthetic_applications(per_day, seed, day))
    return applications


def _application_seed(
    run_seed: int, month: int, partition: int, round_number: int, day_offset: int
) -> int:
    text = f"{run_seed}:{month}:{partition}:{round_number}:{day_offset}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=6).digest(), "big")


def _decide_into(
    intake: MonthIntake,
    scenario: Scenario,
    underwriter: Underwriter,
    applications: list[Application],
    quota: int,
    line_limit_minor: int,
) -> None:
    outputs = underwriter.decide_batch(applications).outputs
    risks = latent_risk([a.applicant.applicant_id for a in applications], SYNTHETIC_SEED)
    names = ("decision", "limit_minor", "proposed_limit_minor", "grade")
    columns = {name: outputs[name].to_numpy() for name in names}
    scores = outputs["score"].to_numpy(dtype=float)
    for row, application in enumerate(applications):
        if len(intake.bookings) >= quota:
            break
        decision = str(columns["decision"][row])
        approved = decision == "approve" or (
            decision == "refer" and _reviewer_approves(scenario, application.application_id)
        )
        kind = _product_kind(scenario, application.application_id)
        limit_column = "proposed_limit_minor" if decision == "refer" else "limit_minor"
        limit_minor = int(columns[limit_column][row]) if approved else 0
        if kind == CREDIT_LINE:
            limit_minor = min(limit_minor, line_limit_minor)
        approved = approved and limit_minor > 0
        intake.decisions.append(
            {
                "application_id": application.application_id,
                "applied_on": application.applied_on,
                "product_kind": kind,
                "decision": decision,
                "final": "approved" if approved else "declined",
                "score": None if np.isnan(scores[row]) else float(scores[row]),
                "grade": columns["grade"][row],
                "limit_minor": limit_minor,
                "account_id": None,
            }
        )
        if approved:
            intake.bookings.append(Booking(application, kind, limit_minor, float(risks[row])))


def _uniform(scenario: Scenario, purpose: str, key: str) -> float:
    """A deterministic uniform draw in [0, 1) for one purpose and one application."""
    text = f"{scenario.run.seed}:{purpose}:{key}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") / 2**64


def _reviewer_approves(scenario: Scenario, application_id: str) -> bool:
    return _uniform(scenario, "review", application_id) < scenario.underwriting.review_approve_share


def _product_kind(scenario: Scenario, application_id: str) -> str:
    share = scenario.book.credit_line_share
    return CREDIT_LINE if _uniform(scenario, "product", application_id) < share else CASH_LOAN
