"""Gather what a model report shows from a saved model and a labelled table.

Kept apart from :mod:`lendguard.scoring.report` (which only draws) so the report's numbers come
from the same metric and drift functions that training and monitoring use.
"""

from __future__ import annotations

from typing import Any

from lendguard.scoring.metrics import summary
from lendguard.scoring.monitoring import drift_report
from lendguard.scoring.registry import SavedModel
from lendguard.scoring.report import ReportData
from lendguard.scoring.training import Labelled


def model_report_data(
    saved: SavedModel, evaluation: Labelled, reference: Labelled | None, created: str
) -> ReportData:
    """The report of ``saved`` evaluated on ``evaluation``, with drift against ``reference``."""
    model = saved.model
    probability = model.predict_proba(evaluation.features)[:, 1]
    metrics: dict[str, Any] = {"evaluation": summary(evaluation.target, probability)}
    for key in ("train_metrics", "holdout_metrics"):
        if key in saved.metadata:
            metrics[f"{key.removesuffix('_metrics')} (at training)"] = saved.metadata[key]
    binnings = model.binner_.binnings_ if saved.kind == "scorecard" else {}
    features = saved.features
    drift = None
    if reference is not None:
        drift = drift_report(
            reference.features,
            evaluation.features,
            features,
            binnings={f: binnings[f] for f in features if f in binnings} or None,
        )
    return ReportData(
        title=f"{saved.name} v{saved.version}",
        model_kind=saved.kind,
        model_name=saved.name,
        model_version=str(saved.version),
        created=created,
        metrics=metrics,
        binning_tables={f: binnings[f].table() for f in features if f in binnings},
        y_true=evaluation.target,
        y_score=probability,
        probability=probability,
        points_table=model.points_table() if saved.kind == "scorecard" else None,
        score_values=model.credit_score(evaluation.features) if saved.kind == "scorecard" else None,
        drift=drift,
        notes=[f"trained on {saved.metadata.get('training_rows', '?')} rows"],
    )
