"""Scenario files of the book simulator: the book, the borrowers, macro shocks and the policy.

A scenario is TOML, validated strictly before any work starts: unknown keys, floats where shares
belong outside 0..1, negative shock sizes, months <= 0 and shocks outside the run are refused with
the file and the field named. Every behavioural number carries a ``source`` line (CALIBRATION.md,
DOMAIN.md or a design note), because a risk committee will ask where each one comes from.

The packaged scenarios live in ``lendguard/simulation/data``: ``baseline`` (the default),
``stress`` (a pandemic-like income drop and unemployment spike) and ``challenger`` (the challenger
policy on every application). ``load_scenario("stress")`` finds a packaged one by name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from lendguard.dates.months import add_months
from lendguard.errors import LendGuardError, validation_problems

Source = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
Share = Annotated[float, Field(ge=0, le=1)]
DATA = resources.files("lendguard.simulation") / "data"

accounts_max = 5_000_000
"""Beyond this a run needs the Spark engine and days, not a demo."""

months_max = 60
"""Five years: every plan term of the sample products and a full charge-off cycle, twice."""


class ScenarioError(LendGuardError):
    """A scenario file that is malformed, inconsistent or asks for the impossible."""

    code = "invalid_scenario"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Run(_Strict):
    """What to simulate: how many accounts, for how long, from which date, with which seed."""

    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    seed: int = Field(ge=0, lt=2**63)
    accounts: int = Field(gt=0, le=accounts_max)
    months: int = Field(gt=0, le=months_max)
    start: dt.date
    origination_months: int = Field(gt=0, le=months_max)
    """Accounts open evenly over the first ``origination_months`` months (vintages need cohorts)."""


class Book(_Strict):
    """The product mix of new accounts."""

    credit_line_share: Share
    source: Source


class Population(_Strict):
    """Borrower traits beyond the application (which comes from the underwriting generator)."""

    income_volatility: Share
    """Monthly standard deviation of log income of an employed borrower."""
    self_employed_volatility: Share
    job_loss_monthly: Share
    """Monthly chance of losing one's income (before shocks)."""
    job_loss_months: int = Field(gt=0, le=36)
    unemployed_income_share: Share
    """Income kept while out of work (benefits, savings, family)."""
    essential_spending_share: Share
    """Share of income spent on living costs before any debt."""
    savings_months: float = Field(ge=0, le=24)
    """Months of spare income a borrower can draw on to cover a bill."""
    willingness_base: float = Field(ge=-10, le=10)
    """Log-odds that an average borrower (latent risk 0) means to pay a given bill."""
    willingness_risk_weight: float = Field(ge=0, le=5)
    """How strongly the latent risk (which also drives the bureau data) lowers willingness."""
    willingness_noise: float = Field(ge=0, le=5)
    source: Source


class Spending(_Strict):
    """Credit-line spending and cash-loan borrowing."""

    purchases_per_month_max: int = Field(ge=0, le=60)
    spend_income_share: Share
    """Median monthly spend on the line as a share of income."""
    spend_spread: float = Field(ge=0, le=3)
    """Standard deviation of log monthly spend."""
    overspend_share: Share
    """Borrowers who spend more when their income falls (over-borrowing)."""
    purchase_instalment_chance: Share
    bill_instalment_chance: Share
    revolver_share: Share
    """Borrowers who pay the minimum when they could pay in full."""
    redraw_chance: Share
    """Chance a cash-loan borrower draws again once a loan is repaid."""
    prepay_chance: Share
    source: Source


class Repayment(_Strict):
    """How borrowers pay: on time, late, partly, or not at all."""

    late_chance: Share
    """Chance a willing, able borrower pays after the due date anyway (forgetting)."""
    late_days_max: int = Field(gt=0, le=60)
    early_days_max: int = Field(ge=0, le=30)
    cure_chance_monthly: Share
    """Chance an overdue borrower who can pay again catches up in a month."""
    willingness_decay: Share
    """Fall of willingness for each missed month (debt aversion wears off)."""
    source: Source


class Underwriting(_Strict):
    """Which policy decides the applications, and what human review does with referrals."""

    policy: str = Field(pattern="^(champion|challenger)$")
    review_approve_share: Share
    """Share of referred applications a reviewer approves."""
    score_shift: int = Field(ge=-200, le=200)
    """Points added to both score cut-offs (a tighter policy is a positive shift)."""
    source: Source


class ShockKind(StrEnum):
    INCOME_DROP = "income-drop"
    UNEMPLOYMENT = "unemployment"
    RATE_CHANGE = "rate-change"


class Shock(_Strict):
    """A macro shock over some months of the run.

    ``income-drop``: every income falls by ``size`` (a share). ``unemployment``: ``size`` is added
    to the monthly job-loss chance. ``rate-change``: existing debt service rises by ``size`` (a
    share) — variable-rate obligations repricing.
    """

    kind: ShockKind
    start_month: int = Field(gt=0, le=months_max)
    months: int = Field(gt=0, le=months_max)
    size: float = Field(ge=0, le=1)
    source: Source = "scenario assumption"

    def active_in(self, month: int) -> bool:
        return self.start_month <= month < self.start_month + self.months


class Hooks(_Strict):
    """Effects of modules that have not landed yet; zero means no effect (the neutral default)."""

    reminder_on_time_uplift: Share = 0.0
    restructuring_acceptance: Share = 0.0
    collection_cure_uplift: Share = 0.0
    source: Source = "neutral until the reminder, restructuring and collection modules land"


class Scenario(_Strict):
    """A whole scenario file."""

    run: Run
    book: Book
    population: Population
    spending: Spending
    repayment: Repayment
    underwriting: Underwriting
    shock: tuple[Shock, ...] = ()
    hooks: Hooks = Hooks()
    sha256: str = Field(default="", exclude=True)

    @property
    def end(self) -> dt.date:
        """The last business date of the run."""
        return add_months(self.run.start, self.run.months) - dt.timedelta(days=1)

    def month_of(self, day: dt.date) -> int:
        """Month of the run ``day`` falls in, from 1."""
        return (day.year - self.run.start.year) * 12 + day.month - self.run.start.month + 1

    def shocks_in(self, month: int, kind: ShockKind) -> float:
        """Summed size of the shocks of ``kind`` active in ``month``."""
        return sum(s.size for s in self.shock if s.kind == kind and s.active_in(month))

    def with_overrides(self, **run: Any) -> Scenario:
        """The same scenario with some ``[run]`` fields replaced (``None`` keeps the file's)."""
        changes = {key: value for key, value in run.items() if value is not None}
        if not changes:
            return self
        data = self.model_dump() | {"sha256": self.sha256}
        data["run"] |= changes
        if "months" in changes and "origination_months" not in changes:
            data["run"]["origination_months"] = min(
                data["run"]["origination_months"], changes["months"]
            )
        return _validated(data, "overrides")


def packaged_scenarios() -> list[str]:
    """Names of the scenarios shipped with the package."""
    return sorted(p.name.removesuffix(".toml") for p in DATA.iterdir() if p.name.endswith(".toml"))


def load_scenario(name_or_path: str | Path = "baseline") -> Scenario:
    """A scenario by packaged name (``baseline``, ``stress`` ...) or by file path."""
    path = Path(name_or_path)
    if path.suffix != ".toml" and str(name_or_path) in packaged_scenarios():
        body = (DATA / f"{name_or_path}.toml").read_bytes()
    else:
        try:
            body = path.read_bytes()
        except OSError as exc:
            known = ", ".join(packaged_scenarios())
            raise ScenarioError(
                f"{name_or_path}: cannot read the scenario ({exc.strerror}); packaged: {known}"
            ) from None
    try:
        data = tomllib.loads(body.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{name_or_path}: not valid TOML: {exc}") from None
    data["sha256"] = hashlib.sha256(body).hexdigest()
    return _validated(data, str(name_or_path))


def _validated(data: dict[str, Any], origin: str) -> Scenario:
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{origin}: {validation_problems(exc)}") from None
    _check_consistency(scenario, origin)
    return scenario


def _check_consistency(scenario: Scenario, origin: str) -> None:
    run = scenario.run
    if run.origination_months > run.months:
        raise ScenarioError(
            f"{origin}: run.origination_months ({run.origination_months}) is after the run's "
            f"{run.months} months"
        )
    for index, shock in enumerate(scenario.shock):
        if shock.start_month > run.months:
            raise ScenarioError(
                f"{origin}: shock.{index}.start_month ({shock.start_month}) is after the run's "
                f"{run.months} months"
            )
