"""Train, evaluate and register a model from a table file: what ``lendguard model train`` runs.

The CLI only parses options; reading the file, mapping the target, the stratified split, fitting,
the holdout metrics and the registry entry all happen here so a notebook gets the same result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from lendguard.errors import ScoringDataError
from lendguard.scoring.data import binary_target
from lendguard.scoring.gbdt import GBDTClassifier
from lendguard.scoring.metrics import summary
from lendguard.scoring.registry import ModelRegistry, dataset_digest
from lendguard.scoring.scorecard import Scorecard

MODEL_KINDS = ("scorecard", "gbdt")
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


@dataclass(frozen=True)
class Labelled:
    """Features and a 0/1 target (1 = bad) read from one table."""

    features: pd.DataFrame
    target: np.ndarray


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced: the model, where it was saved, and how well it ranks."""

    model: Scorecard | GBDTClassifier
    path: Path
    version: int
    fit_seconds: float
    train_metrics: dict[str, float]
    holdout_metrics: dict[str, float]
    holdout: Labelled
    holdout_probability: np.ndarray


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, refusing other suffixes and unreadable files by name."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ScoringDataError(f"{path}: expected a .csv or .parquet file")
    try:
        return pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except FileNotFoundError:
        raise ScoringDataError(f"{path}: no such file") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ScoringDataError(f"{path}: cannot read it as {suffix[1:]}: {exc}") from None


def labelled(frame: pd.DataFrame, target_column: str, bad_value: str | None) -> Labelled:
    """Split a table into features and target; ``bad_value`` maps a text target to 0/1."""
    if target_column not in frame.columns:
        raise ScoringDataError(f"no target column {target_column!r} in the data")
    raw = frame[target_column]
    if raw.isna().any():
        raise ScoringDataError(f"the target column {target_column!r} has missing values")
    if bad_value is None:
        target = binary_target(raw.to_numpy())
    else:
        text = raw.astype(str)
        if not (text == bad_value).any():
            shown = ", ".join(sorted(text.unique())[:5])
            raise ScoringDataError(
                f"--bad-value {bad_value!r} never occurs in {target_column!r} (values: {shown})"
            )
        target = binary_target((text == bad_value).to_numpy(dtype=np.int8))
    return Labelled(frame.drop(columns=[target_column]), target)


def holdout_split(data: Labelled, holdout_share: float, seed: int) -> tuple[Labelled, Labelled]:
    """A stratified train/holdout split, the same for the same seed."""
    if not 0 < holdout_share < 1:
        raise ScoringDataError(f"the holdout share must be between 0 and 1, got {holdout_share}")
    train_x, test_x, train_y, test_y = train_test_split(
        data.features,
        data.target,
        test_size=holdout_share,
        random_state=seed,
        stratify=data.target,
    )
    return Labelled(train_x, train_y), Labelled(test_x, test_y)


def new_model(kind: str, seed: int) -> Scorecard | GBDTClassifier:
    """A model of the named kind with default settings."""
    if kind == "scorecard":
        return Scorecard()
    if kind == "gbdt":
        return GBDTClassifier(random_state=seed)
    raise ScoringDataError(f"unknown model kind {kind!r}: choose one of {', '.join(MODEL_KINDS)}")


def train(
    train_data: Labelled,
    holdout: Labelled,
    *,
    kind: str,
    seed: int,
    registry: ModelRegistry,
    name: str,
    metadata: dict[str, Any],
) -> TrainingResult:
    """Fit on ``train_data``, measure on both parts, and save the model with its metadata."""
    model = new_model(kind, seed)
    started = time.perf_counter()
    model.fit(train_data.features, train_data.target)
    fit_seconds = time.perf_counter() - started
    train_metrics = summary(train_data.target, model.predict_proba(train_data.features)[:, 1])
    probability = model.predict_proba(holdout.features)[:, 1]
    holdout_metrics = summary(holdout.target, probability)
    path = registry.save(
        model,
        name,
        {
            **metadata,
            "kind": kind,
            "seed": seed,
            "features": [str(column) for column in train_data.features.columns],
            "training_rows": len(train_data.target),
            "training_data_sha256": dataset_digest(train_data.features, train_data.target),
            "holdout_rows": len(holdout.target),
            "fit_seconds": fit_seconds,
            "train_metrics": train_metrics,
            "holdout_metrics": holdout_metrics,
        },
    )
    return TrainingResult(
        model=model,
        path=path,
        version=int(path.name[1:]),
        fit_seconds=fit_seconds,
        train_metrics=train_metrics,
        holdout_metrics=holdout_metrics,
        holdout=holdout,
        holdout_probability=probability,
    )
