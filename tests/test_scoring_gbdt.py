"""Boosted risk model: scikit-learn conformance, monotone promises, reason codes, safe round trips.

Known answers: tree SHAP contributions must add up to the margin LightGBM itself reports; a model
read back from JSON must predict bit for bit as the one that wrote it; German credit must rank
bads above goods about as well as published models do (AUC above 0.70).
"""

from __future__ import annotations

import copy
import json
import math
import sys
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from lendguard.errors import (
    MissingFeatureError,
    ModelFileError,
    ScoringDataError,
    UnseenCategoryError,
)
from lendguard.scoring.gbdt import BIAS_COLUMN, GBDTClassifier
from lendguard.scoring.metrics import auc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scoring_helpers import german_credit

TARGET_LABELS = "the target must be 0 (good) / 1 (bad); this check feeds other labels"
HELPER_WORDING = "refused by lendguard.scoring.data with its own message, not scikit-learn's"

ALWAYS_FAILING = {
    "check_estimators_dtypes": TARGET_LABELS + " (1 and 2)",
    "check_classifier_data_not_an_array": TARGET_LABELS + " (1 and 2)",
    "check_classifiers_classes": TARGET_LABELS + " (text, and -1/+1)",
    "check_supervised_y_2d": "a column-vector target is refused, not flattened with a warning",
    "check_classifiers_regression_target": "a continuous target is " + HELPER_WORDING,
    "check_classifier_not_supporting_multiclass": "a 3-class target is " + HELPER_WORDING,
    "check_dtype_object": "an object-dtype target is " + HELPER_WORDING,
    "check_complex_data": "a complex target is " + HELPER_WORDING,
    "check_estimators_empty_data_messages": "a table without columns is " + HELPER_WORDING,
    "check_fit2d_predict1d": "1-D features are " + HELPER_WORDING,
}
"""Checks that cannot pass for a binary 0/1 risk model that validates with the shared helpers."""

NOT_VALUE_ERROR = "ScoringDataError is not a ValueError, which this check requires"
NEEDS_VALUE_ERROR = dict.fromkeys(
    [
        "check_n_features_in_after_fitting",
        "check_estimator_sparse_tag",
        "check_estimator_sparse_array",
        "check_estimator_sparse_matrix",
        "check_classifiers_one_label",
        "check_classifiers_train",
        "check_supervised_y_no_nan",
        "check_fit2d_1sample",
        "check_fit1d",
        "check_requires_y_none",
    ],
    NOT_VALUE_ERROR,
)
"""Checks that pass exactly when ``ScoringDataError`` also derives from ``ValueError``."""


def expected_failed_checks(estimator: GBDTClassifier) -> dict[str, str]:
    """The checks this estimator is known to fail, with why."""
    failing = dict(ALWAYS_FAILING)
    if not issubclass(ScoringDataError, ValueError):
        failing.update(NEEDS_VALUE_ERROR)
    return failing


@parametrize_with_checks(
    [GBDTClassifier(n_estimators=10, calibration=None, min_child_samples=1)],
    expected_failed_checks=expected_failed_checks,
    xfail_strict=True,
)
def test_scikit_learn_conformance(estimator: GBDTClassifier, check: Any) -> None:
    check(estimator)


def applicants(size: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Synthetic applicants whose risk is not monotone in ``utilisation`` (it dips in the middle).

    ``income`` lowers risk, ``region`` shifts it, ``tenure`` is constant; a few values are missing.
    """
    rng = np.random.default_rng(seed)
    utilisation = rng.uniform(-3, 3, size)
    income = rng.normal(size=size)
    region = rng.choice(np.array(["north", "south", "east", "west"]), size)
    margin = 1.5 * np.sin(2 * utilisation) - income + (region == "south") - 1.0
    outcome = (rng.random(size) < expit(margin)).astype(np.int8)
    frame = pd.DataFrame(
        {
            "utilisation": utilisation,
            "income": income,
            "region": pd.Series(region, dtype=object),
            "tenure": np.full(size, 12.0),
        }
    )
    frame.loc[rng.random(size) < 0.05, "income"] = np.nan
    frame.loc[rng.random(size) < 0.05, "region"] = None
    return frame, outcome


SMALL = {"n_estimators": 60, "min_child_samples": 20}


@cache
def fitted(calibration: str | None = "isotonic", constrained: bool = True) -> GBDTClassifier:
    """A model on 3,000 synthetic applicants (cached: tests only read it)."""
    frame, outcome = applicants(3_000, seed=0)
    constraints = {"utilisation": 1, "income": -1} if constrained else None
    model = GBDTClassifier(calibration=calibration, monotone_constraints=constraints, **SMALL)
    return model.fit(frame, outcome)


def scoring_rows() -> pd.DataFrame:
    """Fresh applicants to score, with the training rows' missing values."""
    return applicants(400, seed=1)[0]


def margins_along(model: GBDTClassifier, feature: str, grid: np.ndarray) -> np.ndarray:
    """Margin of each of 25 applicants (rows) as ``feature`` walks ``grid`` (columns)."""
    base = scoring_rows().iloc[:25]
    rows = base.loc[base.index.repeat(grid.size)].reset_index(drop=True)
    rows[feature] = np.tile(grid, len(base))
    return model.decision_function(rows).reshape(len(base), grid.size)


def test_monotone_constraints_hold_along_a_grid() -> None:
    grid = np.linspace(-4, 4, 81)
    rising = margins_along(fitted(), "utilisation", grid)
    falling = margins_along(fitted(), "income", grid)
    assert np.all(np.diff(rising, axis=1) >= 0)
    assert np.all(np.diff(falling, axis=1) <= 0)


def test_without_constraints_the_same_data_breaks_monotonicity() -> None:
    # Shows the grid test above can fail: the data's risk really dips along utilisation.
    grid = np.linspace(-4, 4, 81)
    margins = margins_along(fitted(constrained=False), "utilisation", grid)
    assert np.any(np.diff(margins, axis=1) < -0.1)


@settings(max_examples=50, deadline=None)
@given(
    st.integers(min_value=0, max_value=399),
    st.floats(min_value=-1e6, max_value=1e6),
    st.floats(min_value=-1e6, max_value=1e6),
)
def test_raising_utilisation_never_lowers_risk(row: int, first: float, second: float) -> None:
    low, high = sorted((first, second))
    pair = scoring_rows().iloc[[row, row]].reset_index(drop=True)
    pair["utilisation"] = [low, high]
    margin = fitted().decision_function(pair)
    probability = fitted().predict_proba(pair)[:, 1]
    assert margin[0] <= margin[1]
    assert probability[0] <= probability[1]


@pytest.mark.parametrize("calibration", ["isotonic", "platt", None])
def test_json_round_trip_predicts_identically(calibration: str | None) -> None:
    model = fitted(calibration)
    text = json.dumps(model.to_dict(), allow_nan=False)
    loaded = GBDTClassifier.from_dict(json.loads(text))
    rows = scoring_rows()
    np.testing.assert_array_equal(loaded.decision_function(rows), model.decision_function(rows))
    np.testing.assert_array_equal(loaded.predict_proba(rows), model.predict_proba(rows))
    pd.testing.assert_frame_equal(loaded.contributions(rows), model.contributions(rows))
    assert loaded.get_params() == model.get_params()
    assert loaded.categories_ == model.categories_
    assert list(loaded.feature_names_in_) == list(model.feature_names_in_)


def test_contributions_and_bias_add_up_to_the_margin() -> None:
    rows = scoring_rows()
    contributions = fitted().contributions(rows)
    assert list(contributions.columns) == ["utilisation", "income", "region", "tenure", BIAS_COLUMN]
    assert contributions.index.equals(rows.index)
    np.testing.assert_allclose(
        contributions.sum(axis=1), fitted().decision_function(rows), rtol=0, atol=1e-9
    )
    assert np.all(contributions["tenure"] == 0)  # a constant feature never moves the score


def test_reason_codes_are_the_largest_positive_contributions() -> None:
    rows = scoring_rows()
    contributions = fitted().contributions(rows).drop(columns=BIAS_COLUMN)
    reasons = fitted().reason_codes(rows, count=2)
    assert len(reasons) == len(rows)
    for (_, row), row_contributions, row_reasons in zip(
        rows.iterrows(), contributions.to_dict("records"), reasons, strict=True
    ):
        positive = sorted(
            (value for value in row_contributions.values() if value > 0), reverse=True
        )
        assert [reason["contribution"] for reason in row_reasons] == positive[:2]
        for reason in row_reasons:
            assert reason["contribution"] == row_contributions[reason["feature"]]
            expected = row[reason["feature"]]
            assert reason["value"] == (None if pd.isna(expected) else expected)
    json.dumps(reasons, allow_nan=False)


def test_reason_codes_report_missing_values_as_none() -> None:
    rows = scoring_rows()
    reasons = fitted(constrained=False).reason_codes(rows, count=4)
    missing = [
        reason
        for row_reasons in reasons
        for reason in row_reasons
        if reason["feature"] == "income" and reason["value"] is None
    ]
    assert missing, "some missing incomes should count among the reasons"


def test_reason_codes_refuse_a_count_below_one() -> None:
    with pytest.raises(ValueError, match="count"):
        fitted().reason_codes(scoring_rows(), count=0)


def test_unseen_category_raises_naming_feature_and_values() -> None:
    rows = scoring_rows().iloc[:3].copy()
    rows["region"] = ["north", "mars", "venus"]
    with pytest.raises(UnseenCategoryError, match=r"region .*mars, venus"):
        fitted().predict_proba(rows)


def test_unseen_category_scores_as_missing_when_asked() -> None:
    model = copy.deepcopy(fitted()).set_params(unseen_category="missing")
    rows = scoring_rows().iloc[:3].copy()
    rows["region"] = ["mars", "venus", "pluto"]
    as_missing = rows.assign(region=None)
    np.testing.assert_array_equal(model.predict_proba(rows), model.predict_proba(as_missing))


def test_probabilities_are_calibrated_or_the_logistic_of_the_margin() -> None:
    rows = scoring_rows()
    probability = fitted().predict_proba(rows)
    np.testing.assert_allclose(probability.sum(axis=1), 1.0)
    assert np.all((probability >= 0) & (probability <= 1))
    uncalibrated = fitted(calibration=None)
    np.testing.assert_allclose(
        uncalibrated.predict_proba(rows)[:, 1], expit(uncalibrated.decision_function(rows))
    )
    assert fitted().calibrator_ is not None and uncalibrated.calibrator_ is None


def test_training_is_deterministic() -> None:
    frame, outcome = applicants(3_000, seed=0)
    again = GBDTClassifier(monotone_constraints={"utilisation": 1, "income": -1}, **SMALL)
    again.fit(frame, outcome)
    assert again.to_dict() == fitted().to_dict()


def test_learned_attributes() -> None:
    model = fitted()
    assert list(model.classes_) == [0, 1]
    assert model.n_features_in_ == 4
    assert model.categories_ == {"region": ["east", "north", "south", "west"]}
    assert model.booster_.num_trees() == SMALL["n_estimators"]


def test_columns_are_matched_by_name() -> None:
    rows = scoring_rows()
    shuffled = rows[["tenure", "region", "income", "utilisation"]].assign(note="ignored")
    np.testing.assert_array_equal(
        fitted().decision_function(shuffled), fitted().decision_function(rows)
    )
    with pytest.raises(MissingFeatureError, match="income"):
        fitted().predict(rows.drop(columns="income"))


def test_a_bare_array_must_have_the_trained_column_count() -> None:
    frame, outcome = applicants(500, seed=2)
    numeric = frame[["utilisation", "income"]].to_numpy()
    model = GBDTClassifier(calibration=None, **SMALL).fit(numeric, outcome)
    assert list(model.feature_names_in_) == ["x0", "x1"]
    with pytest.raises(ScoringDataError, match="X has 3 features, but GBDTClassifier"):
        model.predict(np.column_stack([numeric, numeric[:, 0]]))


def test_listed_numeric_columns_become_categorical() -> None:
    frame, outcome = applicants(1_000, seed=3)
    frame["branch"] = np.arange(len(frame)) % 3
    model = GBDTClassifier(calibration=None, categorical_features=["branch"], **SMALL)
    model.fit(frame, outcome)
    assert model.categories_["branch"] == ["0", "1", "2"]
    with pytest.raises(UnseenCategoryError, match=r"branch .*: 7$"):
        model.predict(frame.assign(branch=7))


def test_an_object_column_of_numbers_is_numeric() -> None:
    frame, outcome = applicants(1_000, seed=4)
    frame["utilisation"] = frame["utilisation"].astype(object)
    model = GBDTClassifier(calibration=None, **SMALL).fit(frame, outcome)
    assert "utilisation" not in model.categories_


def test_an_all_missing_column_is_refused_by_name() -> None:
    frame, outcome = applicants(500, seed=5)
    with pytest.raises(ScoringDataError, match="all missing: income"):
        GBDTClassifier(**SMALL).fit(frame.assign(income=np.nan), outcome)
    with pytest.raises(ScoringDataError, match="region is all missing"):
        GBDTClassifier(**SMALL).fit(frame.assign(region=None), outcome)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("income", math.inf, "income has infinite values"),
        ("income", "high", "income must hold numbers"),
    ],
)
def test_bad_numeric_values_are_refused_by_name(column: str, value: Any, message: str) -> None:
    rows = scoring_rows().iloc[:3].copy()
    rows[column] = rows[column].astype(object)
    rows.loc[rows.index[1], column] = value
    with pytest.raises(ScoringDataError, match=message):
        fitted().predict(rows)


def test_too_few_rows_to_hold_out_calibration_rows() -> None:
    frame, _ = applicants(12, seed=6)
    outcome = np.array([1] + [0] * 11)
    with pytest.raises(ScoringDataError, match="calibration_share"):
        GBDTClassifier(min_child_samples=1).fit(frame, outcome)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"monotone_constraints": {"salary": 1}}, "unknown features: salary"),
        ({"monotone_constraints": {"region": 1}}, "only constrain numeric features"),
        ({"monotone_constraints": {"income": 2}}, "-1, 0 or \\+1"),
        ({"monotone_constraints": {"income": True}}, "-1, 0 or \\+1"),
        ({"monotone_constraints": [1, 0]}, "dict"),
        ({"categorical_features": ["postcode"]}, "unknown features: postcode"),
        ({"categorical_features": "region"}, "list of column names"),
        ({"calibration": "beta"}, "calibration must be one of"),
        ({"calibration_share": 1.0}, "calibration_share must be in \\(0, 1\\)"),
        ({"calibration_share": 0}, "calibration_share must be > 0"),
        ({"subsample": 1.5}, "subsample must be in \\(0, 1\\]"),
        ({"n_estimators": 0}, "n_estimators must be at least 1"),
        ({"n_estimators": 10.0}, "n_estimators must be an integer"),
        ({"learning_rate": math.nan}, "learning_rate must be > 0"),
        ({"reg_lambda": -1.0}, "reg_lambda must be >= 0"),
        ({"unseen_category": "ignore"}, "unseen_category must be one of"),
        ({"random_state": None}, "random_state must be an integer"),
        ({"n_jobs": 0}, "n_jobs must be at least 1"),
    ],
)
def test_bad_parameters_raise_value_error_in_fit(params: dict[str, Any], message: str) -> None:
    frame, outcome = applicants(300, seed=7)
    model = GBDTClassifier(**params)
    with pytest.raises(ValueError, match=message):
        model.fit(frame, outcome)


def saved() -> dict[str, Any]:
    """A fresh JSON copy of the cached model's saved form, free to damage."""
    return json.loads(json.dumps(fitted().to_dict()))


def damaged(change: Any) -> dict[str, Any]:
    """The saved model after ``change`` edited it in place (what ``change`` returns is ignored)."""
    data = saved()
    change(data)
    return data


def other_booster_text() -> str:
    """LightGBM text of a model over two features instead of four."""
    frame, outcome = applicants(300, seed=8)
    model = GBDTClassifier(calibration=None, **SMALL).fit(frame[["utilisation", "income"]], outcome)
    return model.booster_.model_to_string()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda data: data.update(format="lendguard.scorecard"), "not a saved GBDT model"),
        (lambda data: data.update(format_version=2), "format_version 2"),
        (lambda data: data.update(format_version=True), "format_version True"),
        (lambda data: data.pop("categories"), "missing \\['categories'\\]"),
        (lambda data: data.update(note="x"), "unknown \\['note'\\]"),
        (lambda data: data["params"].pop("n_jobs"), "params must be exactly"),
        (lambda data: data["params"].update(n_estimators=-3), "params are invalid"),
        (lambda data: data.update(feature_names=[]), "feature_names"),
        (lambda data: data.update(feature_names=["a", "a", "b", "c"]), "feature_names"),
        (lambda data: data["categories"].update(planet=["mars"]), "unknown feature 'planet'"),
        (lambda data: data["categories"].update(region=[]), "categories of region"),
        (lambda data: data["categories"].update(tenure=["12.0"]), "categorical features disagree"),
        (lambda data: data["params"].update(monotone_constraints={"gone": 1}), "disagree"),
        (lambda data: data.update(booster="not a model"), "not a readable LightGBM model"),
        (lambda data: data.update(booster=None), "LightGBM model text"),
        (lambda data: data.update(booster=other_booster_text()), "has 2 features"),
        (lambda data: data.update(calibrator=None), "unknown calibrator kind None"),
        (
            lambda data: data.update(calibrator={"kind": "platt", "slope": 1.0, "intercept": 0.0}),
            "saved calibrator is platt",
        ),
        (lambda data: data["params"].update(calibration=None), "has a calibrator"),
        (lambda data: data["calibrator"].update(thresholds="x"), "thresholds"),
    ],
)
def test_from_dict_refuses_malformed_models(change: Any, message: str) -> None:
    with pytest.raises(ModelFileError, match=message):
        GBDTClassifier.from_dict(damaged(change))


def test_from_dict_refuses_what_is_not_an_object() -> None:
    with pytest.raises(ModelFileError, match="must be an object, got list"):
        GBDTClassifier.from_dict([saved()])


def test_from_dict_refuses_a_booster_of_another_objective() -> None:
    data = saved()
    data["booster"] = data["booster"].replace("objective=binary sigmoid:1", "objective=regression")
    with pytest.raises(ModelFileError, match="objective is 'regression', not binary"):
        GBDTClassifier.from_dict(data)


def test_german_credit_holdout_auc() -> None:
    features, outcome = german_credit()
    train_x, test_x, train_y, test_y = train_test_split(
        features, outcome, test_size=0.3, stratify=outcome, random_state=0
    )
    model = GBDTClassifier().fit(train_x, train_y)
    assert auc(test_y, model.predict_proba(test_x)[:, 1]) > 0.70
    assert len(model.categories_) == 13  # every text column became categorical
