"""``lendguard model``: train, score and report on German credit, and bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lendguard.cli.main import app
from scoring_helpers import GERMAN_CREDIT, TARGET


def run(*arguments: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(argument) for argument in arguments])
    return result.exit_code, result.stdout, result.stderr


def train(tmp_path: Path, *extra: str) -> dict:
    code, stdout, stderr = run(
        "model",
        "train",
        "--data",
        GERMAN_CREDIT,
        "--target",
        TARGET,
        "--bad-value",
        "bad",
        "--holdout",
        "0.3",
        "--seed",
        "0",
        "--out",
        tmp_path / "models",
        "--json",
        *extra,
    )
    assert code == 0, stderr
    return json.loads(stdout)


@pytest.mark.parametrize("kind", ["scorecard", "gbdt"])
def test_train_prints_holdout_metrics_and_saves(tmp_path: Path, kind: str) -> None:
    result = train(tmp_path, "--kind", kind)
    assert result["auc"] > 0.70
    assert result["gini"] == pytest.approx(2 * result["auc"] - 1)
    assert 0 < result["ks"] < 1
    assert result["fit_seconds"] > 0
    assert Path(result["model_path"], "model.json").is_file()
    assert result["holdout_rows"] == 300


def test_train_with_a_test_file_uses_all_of_data(tmp_path: Path) -> None:
    frame = pd.read_csv(GERMAN_CREDIT)
    frame.iloc[:700].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[700:].to_parquet(tmp_path / "test.parquet", index=False)
    code, stdout, stderr = run(
        "model",
        "train",
        "--data",
        tmp_path / "train.csv",
        "--test",
        tmp_path / "test.parquet",
        "--target",
        TARGET,
        "--bad-value",
        "bad",
        "--out",
        tmp_path / "models",
        "--json",
    )
    assert code == 0, stderr
    assert json.loads(stdout)["holdout_rows"] == 300


def test_score_and_report(tmp_path: Path) -> None:
    model = train(tmp_path)["model_path"]
    scored_path = tmp_path / "scored.parquet"
    code, _, stderr = run(
        "model",
        "score",
        "--model",
        model,
        "--data",
        GERMAN_CREDIT,
        "--out",
        scored_path,
        "--reasons",
        "2",
    )
    assert code == 0, stderr
    scored = pd.read_parquet(scored_path)
    assert len(scored) == 1000
    assert scored["probability_bad"].between(0, 1).all()
    assert scored["score"].corr(scored["probability_bad"], method="spearman") < -0.99
    assert all(len(json.loads(row)) <= 2 for row in scored["reasons"])
    report = tmp_path / "report.html"
    code, _, stderr = run(
        "model",
        "report",
        "--model",
        model,
        "--data",
        GERMAN_CREDIT,
        "--target",
        TARGET,
        "--bad-value",
        "bad",
        "--out",
        report,
        "--baseline",
        GERMAN_CREDIT,
    )
    assert code == 0, stderr
    html = report.read_text()
    assert "<svg" in html
    assert "status_of_existing_checking_account" in html


def test_text_target_without_bad_value_is_refused(tmp_path: Path) -> None:
    code, _, stderr = run(
        "model",
        "train",
        "--data",
        GERMAN_CREDIT,
        "--target",
        TARGET,
        "--out",
        tmp_path,
    )
    assert code == 2
    assert "error[invalid_scoring_data]" in stderr
    assert "--bad-value" in stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--target", "nope", "--bad-value", "bad"], "no target column"),
        (["--target", TARGET, "--bad-value", "awful"], "never occurs"),
        (["--target", TARGET, "--bad-value", "bad", "--kind", "forest"], "--kind"),
        (["--target", TARGET, "--bad-value", "bad", "--holdout", "1.5"], "holdout"),
    ],
)
def test_bad_training_input_exits_2(tmp_path: Path, arguments: list[str], message: str) -> None:
    code, _, stderr = run(
        "model", "train", "--data", GERMAN_CREDIT, "--out", tmp_path / "m", *arguments
    )
    assert code == 2
    assert message in stderr
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").rglob("model.json"))


def test_scoring_refuses_tampered_models_and_missing_columns(tmp_path: Path) -> None:
    model = Path(train(tmp_path)["model_path"])
    partial = tmp_path / "partial.csv"
    pd.read_csv(GERMAN_CREDIT).drop(columns=["status_of_existing_checking_account"]).to_csv(
        partial, index=False
    )
    code, _, stderr = run(
        "model", "score", "--model", model, "--data", partial, "--out", tmp_path / "s.csv"
    )
    assert code == 2
    assert "status_of_existing_checking_account" in stderr
    assert not (tmp_path / "s.csv").exists()
    body = (model / "model.json").read_text().replace('"intercept": ', '"intercept": 1 + ', 1)
    (model / "model.json").write_text(body)
    code, _, stderr = run(
        "model", "score", "--model", model, "--data", GERMAN_CREDIT, "--out", tmp_path / "s.csv"
    )
    assert code == 2
    assert "error[model_tampered]" in stderr
