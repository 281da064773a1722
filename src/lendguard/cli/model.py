"""``lendguard model``: train, score and report credit models from CSV or Parquet files.

Models are saved in a registry folder (``--out``) as JSON (never pickle). When the environment
variable ``LENDGUARD_MODEL_KEY`` is set, models are signed with it on save and refused on load
unless their signature matches; without it, loading still refuses any file whose digest changed.

The scoring stack (scikit-learn, LightGBM, matplotlib) is imported inside each command, so the
rest of the ``lendguard`` command line starts without paying for it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from lendguard.cli.errors import bad_input_exits, database_errors, fail
from lendguard.scoring.features import LABEL_BAD_PAST_DUE_DAYS, LABEL_HORIZON_DAYS

if TYPE_CHECKING:
    from lendguard.scoring.registry import SavedModel

KEY_VARIABLE = "LENDGUARD_MODEL_KEY"

model_app = typer.Typer(
    help="Train, score and report credit scoring models (scorecard or gradient boosting).",
    no_args_is_help=True,
)


def _signing_key() -> bytes | None:
    value = os.environ.get(KEY_VARIABLE)
    return value.encode() if value else None


@model_app.command("train")
def train_command(
    data: Annotated[Path, typer.Option(help="Training table, .csv or .parquet.")],
    target: Annotated[str, typer.Option(help="Target column: 1/0, or see --bad-value.")],
    kind: Annotated[str, typer.Option(help="scorecard or gbdt.")] = "scorecard",
    holdout: Annotated[float, typer.Option(help="Share held out for evaluation.")] = 0.3,
    test: Annotated[
        Path | None, typer.Option(help="Holdout table: train on all of --data, evaluate here.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the split and the model.")] = 0,
    bad_value: Annotated[
        str | None, typer.Option(help="Target value meaning bad; every other value is good.")
    ] = None,
    out: Annotated[Path, typer.Option(file_okay=False, help="Model registry folder.")] = Path(
        "models"
    ),
    name: Annotated[
        str | None, typer.Option(help="Model name (default: data file name and kind).")
    ] = None,
    exclude: Annotated[
        str | None,
        typer.Option(help="Comma list of columns that are not features (ids, dates)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Fit a model, measure it on the holdout, and save it as the next version of its name."""
    from lendguard.scoring.registry import ModelRegistry  # noqa: PLC0415
    from lendguard.scoring.training import (  # noqa: PLC0415
        MODEL_KINDS,
        holdout_split,
        labelled,
        read_table,
        train,
    )

    if kind not in MODEL_KINDS:
        fail(f"--kind must be one of {', '.join(MODEL_KINDS)}, got {kind!r}")
    with bad_input_exits():
        data_all = labelled(_without(read_table(data), exclude), target, bad_value)
        if test is None:
            train_part, holdout_part = holdout_split(data_all, holdout, seed)
        else:
            train_part = data_all
            holdout_part = labelled(_without(read_table(test), exclude), target, bad_value)
        result = train(
            train_part,
            holdout_part,
            kind=kind,
            seed=seed,
            registry=ModelRegistry(out, _signing_key()),
            name=name or f"{data.stem}-{kind}",
            metadata={
                "data_file": str(data),
                "test_file": None if test is None else str(test),
                "target": target,
                "bad_value": bad_value,
                "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
        )
    summary = {
        **{key: result.holdout_metrics[key] for key in ("auc", "ks", "gini")},
        "fit_seconds": round(result.fit_seconds, 4),
        "model_path": str(result.path),
        "version": result.version,
        "kind": kind,
        "train_auc": result.train_metrics["auc"],
        "holdout_rows": len(result.holdout.target),
        "dropped": getattr(result.model, "dropped_", {}),
    }
    if as_json:
        print(json.dumps(summary))
        return
    _print_mapping("Model trained", summary)


@model_app.command("features")
def features_command(
    feed: Annotated[
        Path,
        typer.Option(
            file_okay=False,
            help="A close-of-business output folder holding snapshots/ "
            "(lendguard eod --out, or lendguard demo's folder).",
        ),
    ],
    on: Annotated[
        list[str], typer.Option(help="Observation date, YYYY-MM-DD (repeat for several).")
    ],
    out: Annotated[Path, typer.Option(help="Feature table to write, .csv or .parquet.")],
    kind: Annotated[str, typer.Option(help="behaviour (B-card) or collection (C-card).")] = (
        "behaviour"
    ),
    db: Annotated[
        str | None, typer.Option(help="The ledger's database URL: adds the transaction features.")
    ] = None,
    label: Annotated[
        bool, typer.Option(help="Add the outcome column 'bad' (the horizon must be in the data).")
    ] = True,
    horizon_days: Annotated[int, typer.Option(min=1, help="Outcome window after each date.")] = (
        LABEL_HORIZON_DAYS
    ),
    bad_days: Annotated[
        int, typer.Option(min=1, help="Days past due within the window that make 'bad'.")
    ] = LABEL_BAD_PAST_DUE_DAYS,
) -> None:
    """Build point-in-time B-card or C-card features from the nightly snapshots, labelled."""
    from lendguard.eod.outputs import SNAPSHOTS, read_feed  # noqa: PLC0415
    from lendguard.scoring.features import (  # noqa: PLC0415
        build_features,
        label_outcomes,
        load_transactions,
    )
    from lendguard.store import open_store  # noqa: PLC0415

    if out.suffix.lower() not in (".csv", ".parquet"):
        fail(f"--out must end in .csv or .parquet, got {out.name}")
    if not (feed / SNAPSHOTS).is_dir():
        fail(f"--feed {feed} holds no {SNAPSHOTS}/ folder", "bad_feed")
    with bad_input_exits():
        snapshots = read_feed(feed, SNAPSHOTS)
        transactions = None
        if db is not None:
            with database_errors(db):
                store = open_store(db)
            try:
                transactions = load_transactions(store)
            finally:
                store.close()
        table = build_features(snapshots, on, kind=kind, transactions=transactions)
        if label:
            outcomes = label_outcomes(
                snapshots, on, horizon_days=horizon_days, bad_past_due_days=bad_days
            )
            keys = ["account_id", "observation_date"]
            table = table.merge(outcomes, on=keys, how="left", validate="1:1")
    _write_table(table, out)
    print(f"{len(table)} rows of {kind} features into {out}")


def _write_table(table: pd.DataFrame, out: Path) -> None:
    """Write a table whole or not at all (a partial file is renamed into place when complete)."""
    temporary = out.with_name(f".{out.name}.partial")
    if out.suffix.lower() == ".csv":
        table.to_csv(temporary, index=False)
    else:
        table.to_parquet(temporary, index=False)
    temporary.replace(out)


def _without(frame: pd.DataFrame, exclude: str | None) -> pd.DataFrame:
    """The table less the ``--exclude`` columns, each of which must be there."""
    if exclude is None:
        return frame
    names = [name.strip() for name in exclude.split(",") if name.strip()]
    missing = [name for name in names if name not in frame.columns]
    if missing:
        fail(f"--exclude names columns the data does not have: {', '.join(missing)}")
    return frame.drop(columns=names)


@model_app.command("score")
def score_command(
    model: Annotated[Path, typer.Option(file_okay=False, help="A saved model version folder.")],
    data: Annotated[Path, typer.Option(help="Table to score, .csv or .parquet.")],
    out: Annotated[Path, typer.Option(help="Scored table to write, .csv or .parquet.")],
    reasons: Annotated[int, typer.Option(min=0, max=20, help="Reason codes per row.")] = 4,
    unseen: Annotated[
        str | None,
        typer.Option(help="Unseen categories: error, missing or riskiest (default: the model's)."),
    ] = None,
) -> None:
    """Add probability of bad, score (scorecards) and reason codes to every row of a table."""
    from lendguard.scoring.registry import load_model  # noqa: PLC0415
    from lendguard.scoring.training import read_table  # noqa: PLC0415

    if out.suffix.lower() not in (".csv", ".parquet"):
        fail(f"--out must end in .csv or .parquet, got {out.name}")
    with bad_input_exits():
        saved = load_model(model, _signing_key())
        if unseen is not None:
            saved.model.set_params(unseen_category=unseen)
        frame = read_table(data)
        scored = scored_table(saved, frame, reasons)
    _write_table(scored, out)
    print(f"scored {len(scored)} rows with {saved.name} v{saved.version} into {out}")


def scored_table(saved: SavedModel, frame: pd.DataFrame, reason_count: int) -> pd.DataFrame:
    """The input table with ``probability_bad``, ``score`` (scorecards) and ``reasons`` (JSON)."""
    result = frame.copy()
    result["probability_bad"] = saved.model.predict_proba(frame)[:, 1]
    if saved.kind == "scorecard":
        result["score"] = saved.model.credit_score(frame)
    if reason_count:
        codes = saved.model.reason_codes(frame, reason_count)
        result["reasons"] = [json.dumps(row, ensure_ascii=False, default=_plain) for row in codes]
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


@model_app.command("report")
def report_command(
    model: Annotated[Path, typer.Option(file_okay=False, help="A saved model version folder.")],
    data: Annotated[Path, typer.Option(help="Labelled table to evaluate on.")],
    target: Annotated[str, typer.Option(help="Target column.")],
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("model-report.html"),
    bad_value: Annotated[str | None, typer.Option(help="Target value meaning bad.")] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="Training-like table for the drift section.")
    ] = None,
) -> None:
    """Write a self-contained HTML report: metrics, WoE per bin, ROC, KS, scores, calibration."""
    from lendguard.scoring.registry import load_model  # noqa: PLC0415
    from lendguard.scoring.report import render_report  # noqa: PLC0415
    from lendguard.scoring.reporting import model_report_data  # noqa: PLC0415
    from lendguard.scoring.training import Labelled, labelled, read_table  # noqa: PLC0415

    with bad_input_exits():
        saved = load_model(model, _signing_key())
        evaluation = labelled(read_table(data), target, bad_value)
        reference: Labelled | None = None
        if baseline is not None:
            reference = labelled(read_table(baseline), target, bad_value)
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        report = model_report_data(saved, evaluation, reference, created)
        path = render_report(report, out)
    print(f"report written to {path}")


def _print_mapping(title: str, values: dict[str, Any]) -> None:
    table = Table(title=title)
    table.add_column("field")
    table.add_column("value")
    for key, value in values.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    Console().print(table)
