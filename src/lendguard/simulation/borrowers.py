"""Simulated borrowers: who they are, what they earn each month, and how they spend and repay.

A borrower starts from an underwriting application (identity, region, income, employment,
obligations: :mod:`lendguard.underwriting.sample_applications`) and the latent risk that also
drives what the synthetic bureau reports about them (:func:`~lendguard.underwriting.
sources_synthetic.latent_risk`). So the application score sees a noisy picture of the same person
whose behaviour then decides the book: a policy change moves real outcomes.

Two latent traits decide repayment (the usual ability/willingness split of credit analysis):

- **ability**: this month's income (idiosyncratic volatility, job loss and recovery, macro shocks)
  less living costs and other debts, against what is due;
- **willingness**: a logistic function of the latent risk plus personal noise, falling with each
  missed month.

Each borrower has their own ``random.Random`` seeded from the run seed and their account id, so a
borrower's story does not depend on how accounts are split across workers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from dataclasses import dataclass, field

from lendguard.simulation.scenario import Scenario, ShockKind
from lendguard.underwriting.application import Application, Employment

LOW_INCOME_EMPLOYMENTS = frozenset({Employment.STUDENT, Employment.UNEMPLOYED})


def borrower_rng(seed: int, account_id: str) -> random.Random:
    """The borrower's own generator: a keyed hash of the run seed and the account id."""
    digest = hashlib.blake2b(f"{seed}:{account_id}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


@dataclass
class Borrower:
    """One booked customer: traits, a month-by-month income path, and their account."""

    account_id: str
    kind: str
    """``credit_line`` or ``cash_loan``."""
    application: Application
    latent_risk: float
    willingness: float
    income_path: list[float]
    """Income of each month of the run as a share of the declared income (1.0 = as declared)."""
    overspends: bool
    revolves: bool
    rng: random.Random
    missed_months: int = 0
    requests: int = 0
    record: list[tuple[dt.date, str, int]] = field(default_factory=list)
    """The simulator's own record, for the auditor: (day, what, amount) with ``what`` one of
    ``purchase``, ``draw``, ``repay`` (money the ledger accepted) and ``missed`` (a bill due on
    ``day`` left short by ``amount``)."""

    def request_id(self) -> str:
        """The next client-generated request id: deterministic and unique across the book."""
        self.requests += 1
        return f"{self.account_id}-{self.requests}"

    def income_minor(self, month: int) -> int:
        """Income in ``month`` of the run (from 1), in minor units."""
        index = min(max(month, 1), len(self.income_path)) - 1
        return int(self.application.applicant.monthly_income_minor * self.income_path[index])

    def capacity_minor(self, scenario: Scenario, month: int) -> int:
        """What the borrower can put towards this lender this month: income after living costs
        and other debts (which reprice in a rate shock), plus a little savings."""
        income = self.income_minor(month)
        essential = income * scenario.population.essential_spending_share
        repricing = 1 + scenario.shocks_in(month, ShockKind.RATE_CHANGE)
        obligations = self.application.applicant.monthly_obligations_minor * repricing
        spare = max(0.0, income - essential - obligations)
        return int(spare * (1 + scenario.population.savings_months))

    def willing(self, scenario: Scenario) -> bool:
        """Whether the borrower means to pay this time; each missed month wears it down."""
        decay = (1 - scenario.repayment.willingness_decay) ** self.missed_months
        return self.rng.random() < self.willingness * decay

    def accepts_restructuring(self, scenario: Scenario) -> bool:
        """Whether the borrower takes a restructuring offer: the hook the restructuring module
        calls. Neutral until that module lands (``hooks.restructuring_acceptance`` is 0)."""
        return self.rng.random() < scenario.hooks.restructuring_acceptance


def new_borrower(
    scenario: Scenario,
    account_id: str,
    kind: str,
    application: Application,
    latent_risk: float,
) -> Borrower:
    """Draw a borrower's hidden traits and income path for the whole run."""
    rng = borrower_rng(scenario.run.seed, account_id)
    population = scenario.population
    logit = (
        population.willingness_base
        - population.willingness_risk_weight * latent_risk
        + population.willingness_noise * rng.gauss(0, 1)
    )
    return Borrower(
        account_id=account_id,
        kind=kind,
        application=application,
        latent_risk=latent_risk,
        willingness=1 / (1 + math.exp(-logit)),
        income_path=income_path(scenario, application.applicant.employment, rng),
        overspends=rng.random() < scenario.spending.overspend_share,
        revolves=rng.random() < scenario.spending.revolver_share,
        rng=rng,
    )


def income_path(scenario: Scenario, employment: Employment, rng: random.Random) -> list[float]:
    """Monthly income relative to the declared one: log-normal noise, job loss spells, shocks.

    Job loss is a monthly hazard (plus any unemployment shock); a spell lasts
    ``job_loss_months`` and keeps ``unemployed_income_share`` of income. An income-drop shock
    scales everyone's income while it lasts.
    """
    population = scenario.population
    sigma = (
        population.self_employed_volatility
        if employment is Employment.SELF_EMPLOYED
        else population.income_volatility
    )
    path: list[float] = []
    out_of_work_until = 0
    for month in range(1, scenario.run.months + 1):
        hazard = population.job_loss_monthly + scenario.shocks_in(month, ShockKind.UNEMPLOYMENT)
        if month >= out_of_work_until and rng.random() < hazard:
            out_of_work_until = month + population.job_loss_months
        level = math.exp(sigma * rng.gauss(0, 1) - sigma * sigma / 2)
        if month < out_of_work_until:
            level *= population.unemployed_income_share
        level *= 1 - min(1.0, scenario.shocks_in(month, ShockKind.INCOME_DROP))
        path.append(level)
    return path


def monthly_spend_minor(borrower: Borrower, scenario: Scenario, month: int) -> int:
    """What a credit-line borrower means to spend on the line this month.

    Median ``spend_income_share`` of declared income, log-normal spread; an over-spender borrows
    to keep consumption up when income falls, the others cut back with it.
    """
    spending = scenario.spending
    declared = borrower.application.applicant.monthly_income_minor
    base = declared * spending.spend_income_share
    level = borrower.income_path[min(month, len(borrower.income_path)) - 1]
    factor = (2 - min(level, 1.0)) if borrower.overspends else min(level, 1.5)
    noise = math.exp(spending.spend_spread * borrower.rng.gauss(0, 1))
    return int(base * factor * noise)
