"""The application scorecard shipped with LendGuard, and how it is trained (reproducibly).

There is no public Chinese application dataset, so the packaged A-card is trained on synthetic
applicants whose outcome follows a stated ground truth: a latent risk (the same one that drives
the synthetic bureau), the debt-to-income ratio of the new loan, and employment. It exists so the
underwriting pipeline, demo and tests run end to end; a lender replaces it with a model trained on
its own book (``lendguard model train``) by saving it under the configured name.

``python -m lendguard.underwriting.acard`` retrains it into ``src/lendguard/data/models``; a test
checks that retraining reproduces the shipped scores.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from lendguard.scoring.registry import ModelRegistry, dataset_digest
from lendguard.scoring.scorecard import Scorecard
from lendguard.underwriting.engine import Underwriter
from lendguard.underwriting.sample_applications import synthetic_applications
from lendguard.underwriting.sources_synthetic import latent_risk
from lendguard.underwriting.standard import SYNTHETIC_SEED, standard_parts

FEATURES = (
    "age_years",
    "monthly_income_minor",
    "income_verified",
    "employment",
    "employment_months",
    "dependants",
    "bureau_history_months",
    "bureau_accounts",
    "bureau_overdue_months_24m",
    "bureau_worst_status_24m",
    "bureau_inquiries_3m",
    "bureau_utilisation",
    "multi_lenders_30d",
    "multi_applications_90d",
    "dti_ratio",
)
"""What the A-card may read: intake, bureau, multi-lending and affordability columns."""

TRAINING_APPLICATIONS = 40_000
TRAINING_SEED = 20_261_129
TRAINING_DATE = dt.date(2026, 11, 1)
OUTCOME_INTERCEPT = -4.2
OUTCOME_LATENT_WEIGHT = 1.1
OUTCOME_DTI_WEIGHT = 0.8
OUTCOME_UNSTABLE_EMPLOYMENT_WEIGHT = 0.5
"""The synthetic ground truth (logit of going bad): about an 8% bad rate, mostly latent risk."""


def training_table(count: int = TRAINING_APPLICATIONS, seed: int = TRAINING_SEED) -> pd.DataFrame:
    """Synthetic applications through the real intake, sources and affordability, with outcomes."""
    applications = synthetic_applications(count, seed, TRAINING_DATE)
    frame = Underwriter(standard_parts()).features(applications)
    risk = latent_risk(frame["applicant_id"].tolist(), SYNTHETIC_SEED)
    dti = np.clip(frame["dti_ratio"].to_numpy(dtype=np.float64), 0, 2)
    unstable = frame["employment"].isin(["unemployed", "student"]).to_numpy()
    logit = (
        OUTCOME_INTERCEPT
        + OUTCOME_LATENT_WEIGHT * risk
        + OUTCOME_DTI_WEIGHT * dti
        + OUTCOME_UNSTABLE_EMPLOYMENT_WEIGHT * unstable
    )
    rng = np.random.default_rng(seed)
    frame = frame.loc[:, list(FEATURES)].copy()
    frame["bad"] = (rng.random(len(frame)) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return frame


def train(root: Path, name: str = "application-scorecard") -> Path:
    """Train the A-card on the synthetic table and save it as the next version under ``root``."""
    table = training_table()
    features, target = table.drop(columns=["bad"]), table["bad"].to_numpy()
    model = Scorecard().fit(features, target)
    return ModelRegistry(root).save(
        model,
        name,
        {
            "kind": "scorecard",
            "purpose": "application score (A-card) trained on synthetic applicants",
            "training_rows": len(target),
            "training_bad_rate": float(target.mean()),
            "training_data_sha256": dataset_digest(features, target),
            "training_seed": TRAINING_SEED,
            "features": list(FEATURES),
        },
    )


if __name__ == "__main__":
    print(train(Path(__file__).resolve().parents[1] / "data" / "models"))
