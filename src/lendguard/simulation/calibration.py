"""Calibration: is the simulated book realistic? The default scenario's measures against target
ranges from public figures (``simulation/data/calibration.toml``, each with its source).

The rates are pooled over the last few month ends (``months_pooled``) and the roll rate is the
balance-weighted pooled matrix cell, because one month end of a small book is noisy; the targets
are ranges, not points (CALIBRATION.md: "targets with tolerance, not truths").
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from lendguard.simulation.portfolio import (
    FIRST_DELINQUENT_BUCKET,
    SECOND_DELINQUENT_BUCKET,
    Run,
    final_approval_rate,
    past_due_rates,
    roll_rates,
    write_off_rate_annualised,
)

DATA = resources.files("lendguard.simulation") / "data"
MEASURES = (
    "past_due_1_plus",
    "past_due_30_plus",
    "past_due_90_plus",
    "m1_to_m2_roll",
    "final_approval_rate",
    "write_off_rate_annualised",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Strict):
    measure: str = Field(pattern="^(" + "|".join(MEASURES) + ")$")
    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)
    source: Annotated[str, StringConstraints(min_length=1)]


class Targets(_Strict):
    version: str
    months_pooled: int = Field(gt=0, le=24)
    months_pooled_source: str
    target: tuple[Target, ...]


@dataclass(frozen=True)
class Check:
    """One measure of a run against its target range."""

    measure: str
    value: float
    low: float
    high: float
    source: str

    @property
    def inside(self) -> bool:
        return not math.isnan(self.value) and self.low <= self.value <= self.high


def load_targets() -> Targets:
    """The packaged calibration targets."""
    return Targets.model_validate(tomllib.loads((DATA / "calibration.toml").read_text()))


def measures(run: Run, months_pooled: int) -> dict[str, float]:
    """Every calibrated measure of a run (see the module docstring for the pooling)."""
    rates = past_due_rates(run).tail(months_pooled)
    pooled = {
        f"past_due_{days}_plus": float(rates[f"rate_{days}_plus"].mean()) for days in (1, 30, 90)
    }
    matrix = roll_rates(run).balance
    roll = float("nan")
    if FIRST_DELINQUENT_BUCKET in matrix.index and SECOND_DELINQUENT_BUCKET in matrix.columns:
        roll = float(matrix.loc[FIRST_DELINQUENT_BUCKET, SECOND_DELINQUENT_BUCKET])
    return pooled | {
        "m1_to_m2_roll": roll,
        "final_approval_rate": float(final_approval_rate(run)),
        "write_off_rate_annualised": float(write_off_rate_annualised(run)),
    }


def check(run: Run, targets: Targets | None = None) -> list[Check]:
    """Each target with the run's value, in the file's order."""
    targets = targets or load_targets()
    values = measures(run, targets.months_pooled)
    return [
        Check(target.measure, values[target.measure], target.low, target.high, target.source)
        for target in targets.target
    ]
