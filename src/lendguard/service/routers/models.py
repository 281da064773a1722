"""Model scoring: rows in, probability of bad, score and reason codes out.

Models come from the registry folder the service is configured with (``Settings.models_dir``),
checked against their digests (and signature, given ``Settings.model_key``) on every load, exactly
as ``lendguard model score`` does: a model file changed on disk is refused, never scored with.
Loading a saved model parses JSON only, so the folder cannot make the service run code.

No ``from __future__ import annotations``: FastAPI resolves these annotations at runtime.
"""

import logging
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from lendguard.errors import ModelFileError, ModelIntegrityError
from lendguard.scoring.registry import ModelRegistry, SavedModel
from lendguard.service.deps import Services, audit_event, get_services, require
from lendguard.service.errors import ProblemError
from lendguard.service.security import Principal

router = APIRouter(prefix="/models", tags=["models"])

logger = logging.getLogger("lendguard.service")

ServicesDep = Annotated[Services, Depends(get_services)]
Scorer = Annotated[Principal, Depends(require("models:score"))]

rows_per_score_max = 1_000
"""Rows one scoring request may carry: a batch file goes through ``lendguard model score``."""

columns_per_row_max = 500
"""Fields one row may carry: far above any scorecard's inputs."""

reasons_per_row_max = 20
"""Reason codes per row, as the CLI allows."""

Text = Annotated[str, StringConstraints(max_length=200)]
Value = (
    Text
    | Annotated[int, Field(ge=-(10**15), le=10**15)]
    | Annotated[float, Field(allow_inf_nan=False)]
    | bool
    | None
)
"""A cell: text, an integer, a finite number, a boolean or null (missing)."""

ModelName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]


class ScoreCreate(BaseModel):
    """Rows to score with one saved model."""

    model_config = ConfigDict(extra="forbid")

    rows: list[dict[Text, Value]] = Field(min_length=1, max_length=rows_per_score_max)
    version: int | None = Field(default=None, ge=1, description="Default: the latest version.")
    reasons: int = Field(default=4, ge=0, le=reasons_per_row_max)

    @field_validator("rows")
    @classmethod
    def _bounded_rows(cls, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if any(len(row) > columns_per_row_max for row in rows):
            raise ValueError(f"a row may have at most {columns_per_row_max} fields")
        return rows


class ScoredRow(BaseModel):
    """One row's result; ``score`` only for scorecards (higher is safer)."""

    probability_bad: float
    score: float | None
    reasons: list[dict[str, Any]]


class ScoreResult(BaseModel):
    """Which model scored, and each row's result in input order."""

    model: str
    version: int
    kind: str
    sha256: str
    rows: list[ScoredRow]


@router.post("/{name}/score", response_model=ScoreResult, summary="Score rows with a saved model")
def score_rows(
    services: ServicesDep, principal: Scorer, name: ModelName, body: ScoreCreate
) -> dict[str, Any]:
    """Probability of bad, score and reason codes per row; the call is audited (no row values)."""
    saved = _load(services, name, body.version)
    frame = pd.DataFrame.from_records(body.rows)
    rows = _scored(saved, frame, body.reasons)
    audit_event(
        services,
        principal,
        "models.score",
        f"{saved.name}/v{saved.version}",
        {"rows": len(rows), "kind": saved.kind, "sha256": saved.sha256},
    )
    return {
        "model": saved.name,
        "version": saved.version,
        "kind": saved.kind,
        "sha256": saved.sha256,
        "rows": rows,
    }


def _load(services: Services, name: str, version: int | None) -> SavedModel:
    """The model, or 404 when the registry has no such name or version.

    A model whose bytes fail their digest or signature is the server's problem, not the
    caller's: it is logged and answered as a 500 with nothing about the file.
    """
    settings = services.settings
    registry = ModelRegistry(settings.models_dir, settings.model_key)
    versions = registry.versions(name)
    if not versions or (version is not None and version not in versions):
        wanted = name if version is None else f"{name} version {version}"
        raise ProblemError(404, "unknown_model", f"no saved model {wanted}")
    try:
        return registry.load(name, version)
    except (ModelIntegrityError, ModelFileError) as error:
        logger.error("model %s refused on load: %s", name, error)
        raise ProblemError(
            500, "internal_error", "the server could not handle the request"
        ) from None


def _scored(saved: SavedModel, frame: pd.DataFrame, reason_count: int) -> list[dict[str, Any]]:
    """Each row's probability, score and reasons as plain JSON values."""
    probability = saved.model.predict_proba(frame)[:, 1]
    scores = saved.model.credit_score(frame) if saved.kind == "scorecard" else None
    reasons = saved.model.reason_codes(frame, reason_count) if reason_count else None
    return [
        {
            "probability_bad": float(probability[row]),
            "score": None if scores is None else float(scores[row]),
            "reasons": [] if reasons is None else [_plain(entry) for entry in reasons[row]],
        }
        for row in range(len(frame))
    ]


def _plain(entry: dict[str, Any]) -> dict[str, Any]:
    """NumPy scalars as Python ones, anything else odd as text (a bin label, an interval)."""
    plain: dict[str, Any] = {}
    for key, value in entry.items():
        if isinstance(value, np.generic):
            plain[key] = value.item()
        elif isinstance(value, str | int | float | bool) or value is None:
            plain[key] = value
        else:
            plain[key] = str(value)
    return plain
