"""The scorecard: scaling arithmetic, points consistency across exports, reasons, round trips."""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from lendguard.errors import (
    MissingFeatureError,
    ModelFileError,
    ScoringDataError,
    UnseenCategoryError,
)
from lendguard.scoring.data import binary_target
from lendguard.scoring.metrics import auc
from lendguard.scoring.scorecard import Scaling, Scorecard, round_points, unusable_columns
from scoring_helpers import german_credit


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    features, target = german_credit()
    return train_test_split(features, target, test_size=0.3, random_state=0, stratify=target)


@pytest.fixture(scope="module")
def fitted(split) -> Scorecard:
    train_x, _, train_y, _ = split
    return Scorecard().fit(train_x, train_y)


def test_scaling_known_answers() -> None:
    scaling = Scaling(base_score=600, base_odds=50, points_to_double_odds=20)
    assert scaling.factor == pytest.approx(20 / math.log(2))
    assert scaling.offset == pytest.approx(600 - 20 / math.log(2) * math.log(50))
    # odds 50:1 is the base score, 100:1 twenty points more, 25:1 twenty points less
    bad = np.array([1 / 51, 1 / 101, 1 / 26])
    assert scaling.score_from_probability(bad) == pytest.approx([600, 620, 580])


def test_round_points_is_half_away_from_zero() -> None:
    assert round_points(2.5, 0) == 3
    assert round_points(-2.5, 0) == -3
    assert round_points(1.25, 1) == 1.3
    assert round_points(-0.4, 0) == 0


def test_holdout_ranks_well_and_coefficients_are_positive(fitted, split) -> None:
    _, test_x, _, test_y = split
    assert (fitted.coefficients_ > 0).all()
    assert auc(test_y, fitted.predict_proba(test_x)[:, 1]) > 0.72
    assert auc(test_y, -fitted.credit_score(test_x)) > 0.72


def test_unrounded_points_reproduce_the_scaled_model(split) -> None:
    train_x, test_x, train_y, _ = split
    model = Scorecard(points_decimals=6).fit(train_x, train_y)
    expected = model.scaling.score_from_probability(model.predict_proba(test_x)[:, 1])
    tolerance = 1e-6 * (len(model.features_) + 1)
    assert np.abs(model.credit_score(test_x) - expected).max() < tolerance


def test_points_fall_as_woe_rises(fitted) -> None:
    for feature in fitted.features_:
        woe = np.array([bin_.woe for bin_ in fitted.binner_.binnings_[feature].bins])
        points = fitted.points_[feature]
        order = np.argsort(woe, kind="stable")
        assert (np.diff(points[order]) <= 0).all(), feature


def test_score_is_base_plus_points_table_rows(fitted, split) -> None:
    _, test_x, _, _ = split
    table = {(row["feature"], row["bin"]): row["points"] for row in fitted.points_table()}
    indices = fitted._bin_indices(test_x)
    expected = np.full(len(test_x), table[("(base)", "")])
    for feature in fitted.features_:
        labels = [fitted.binner_.binnings_[feature].bins[i].label for i in indices[feature]]
        expected += np.array([table[(feature, label)] for label in labels])
    assert np.array_equal(fitted.credit_score(test_x), expected)


def test_sql_case_expression_scores_like_python(fitted, split) -> None:
    _, test_x, _, _ = split
    connection = sqlite3.connect(":memory:")
    test_x.to_sql("applicants", connection, index=False)
    rows = connection.execute(f"SELECT {fitted.points_sql()} FROM applicants").fetchall()
    assert np.allclose([row[0] for row in rows], fitted.credit_score(test_x), atol=1e-9)


def test_sql_scores_missing_and_unseen_values() -> None:
    rng = np.random.default_rng(3)
    size = 4000
    amount = rng.normal(size=size)
    amount[rng.random(size) < 0.1] = np.nan
    region = rng.choice(["north", "south", "o'west"], size=size)
    risk = np.nan_to_num(amount, nan=1.5) + (region == "south")
    target = (rng.random(size) < 1 / (1 + np.exp(2 - risk))).astype(int)
    frame = pd.DataFrame({"amount": amount, "region": region})
    model = Scorecard().fit(frame, target)
    connection = sqlite3.connect(":memory:")
    probe = pd.DataFrame({"amount": [np.nan, 0.1, 5.0], "region": ["o'west", "south", "east"]})
    probe.to_sql("probe", connection, index=False)
    scores = [row[0] for row in connection.execute(f"SELECT {model.points_sql()} FROM probe")]
    assert scores[:2] == pytest.approx(list(model.credit_score(probe.iloc[:2])))
    assert scores[2] is None  # an unseen category makes the SQL score NULL, never a number


def test_score_record_matches_batch(fitted, split) -> None:
    _, test_x, _, _ = split
    batch = fitted.credit_score(test_x)
    for position in range(0, len(test_x), 37):
        record = test_x.iloc[position].to_dict()
        assert fitted.score_record(record) == batch[position]


def test_reason_codes_name_the_costliest_attributes(fitted, split) -> None:
    _, test_x, _, _ = split
    reasons = fitted.reason_codes(test_x, count=3)
    assert len(reasons) == len(test_x)
    for row in reasons:
        assert len(row) <= 3
        lost = [reason["points_lost"] for reason in row]
        assert all(value > 0 for value in lost)
        assert lost == sorted(lost, reverse=True)
    best = {f: int(np.argmax(fitted.points_[f])) for f in fitted.features_}
    assert all(
        fitted.points_[reason["feature"]][best[reason["feature"]]] - reason["points"]
        == reason["points_lost"]
        for row in reasons
        for reason in row
    )


def test_round_trip_through_json_scores_identically(fitted, split) -> None:
    _, test_x, _, _ = split
    loaded = Scorecard.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert np.array_equal(loaded.credit_score(test_x), fitted.credit_score(test_x))
    assert np.allclose(loaded.predict_proba(test_x), fitted.predict_proba(test_x), atol=1e-12)
    assert loaded.points_sql() == fitted.points_sql()


def test_malformed_dict_is_refused(fitted) -> None:
    data = fitted.to_dict()
    data["coefficients"] = data["coefficients"][:-1]
    with pytest.raises(ModelFileError):
        Scorecard.from_dict(data)
    with pytest.raises(ModelFileError):
        Scorecard.from_dict({"params": {}})


def test_constant_and_empty_columns_are_dropped_with_reasons(split) -> None:
    train_x, _, train_y, _ = split
    frame = train_x.assign(always_one=1, never_known=np.nan)
    model = Scorecard().fit(frame, train_y)
    assert model.dropped_["always_one"] == "constant"
    assert model.dropped_["never_known"] == "entirely missing"
    assert "always_one" not in model.features_


def test_a_column_is_judged_on_all_its_rows_not_only_the_first(split) -> None:
    """The first rows settle most columns; one that looks constant there is read whole."""
    train_x, _, train_y, _ = split
    rows = len(train_y)
    late_change = np.where(np.arange(rows) < rows - 5, 7.0, np.arange(rows) % 3)
    late_missing = np.where(np.arange(rows) < rows - 1, "a", None)
    frame = train_x.assign(
        late_change=late_change, late_missing=late_missing, constant_text="x", late_nan=np.nan
    )
    frame.iloc[-1, frame.columns.get_loc("late_nan")] = 1.0
    dropped = unusable_columns(frame)
    assert dropped == {"constant_text": "constant"}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ([0, 1, 2, 1], "must be 0/1, got values 0, 1, 2"),
        ([1, 1, 1], r"one class only \(1\)"),
        ([0.0, 0.0], r"one class only \(0.0\)"),
        ([0.0, 1.0, math.nan], "missing values"),
        (["good", "bad"], "map a text target"),
    ],
)
def test_the_target_must_be_zero_or_one_with_both_classes(target: list, message: str) -> None:
    with pytest.raises(ScoringDataError, match=message):
        binary_target(np.array(target))


def test_a_boolean_or_float_target_becomes_int8() -> None:
    assert binary_target(np.array([True, False])).tolist() == [1, 0]
    assert binary_target(np.array([0.0, 1.0, -0.0])).dtype == np.int8


def test_missing_columns_and_unseen_categories_at_scoring_time(fitted, split) -> None:
    _, test_x, _, _ = split
    categorical = next(
        f for f in fitted.features_ if fitted.binner_.binnings_[f].dtype == "categorical"
    )
    with pytest.raises(MissingFeatureError, match=categorical):
        fitted.credit_score(test_x.drop(columns=[categorical]))
    strange = test_x.head(3).assign(**{categorical: "never seen"})
    with pytest.raises(UnseenCategoryError, match="never seen"):
        fitted.credit_score(strange)
    data = fitted.to_dict()
    lenient = Scorecard.from_dict(
        {**data, "params": {**data["params"], "unseen_category": "riskiest"}}
    )
    riskiest = fitted.points_[categorical].min()
    baseline = fitted.credit_score(test_x.head(3))
    current = fitted.points_[categorical][fitted._bin_indices(test_x.head(3))[categorical]]
    assert np.array_equal(lenient.credit_score(strange), baseline - current + riskiest)


def test_scoring_a_mapping_of_columns_equals_scoring_the_table(fitted, split) -> None:
    _, test_x, _, _ = split
    columns = {name: test_x[name].to_numpy() for name in test_x.columns}
    assert np.array_equal(fitted.credit_score(columns), fitted.credit_score(test_x))
    one_row = {name: values[:1] for name, values in columns.items()}
    assert np.array_equal(fitted.credit_score(one_row), fitted.credit_score(test_x.head(1)))
    missing = {k: v for k, v in columns.items() if k != fitted.features_[0]}
    with pytest.raises(MissingFeatureError, match=fitted.features_[0]):
        fitted.credit_score(missing)
    ragged = {**columns, fitted.features_[0]: columns[fitted.features_[0]][:2]}
    with pytest.raises(ScoringDataError, match="one length"):
        fitted.credit_score(ragged)
    with pytest.raises(ScoringDataError, match="no rows"):
        fitted.credit_score({name: values[:0] for name, values in columns.items()})


def test_estimator_contract(fitted, split) -> None:
    train_x, test_x, train_y, _ = split
    fresh = clone(fitted)
    assert not hasattr(fresh, "points_")
    assert fresh.get_params()["base_score"] == 600.0
    pipeline = Pipeline([("same", FunctionTransformer(validate=False)), ("card", Scorecard())])
    pipeline.fit(train_x, train_y)
    assert np.allclose(pipeline.predict_proba(test_x), fitted.predict_proba(test_x))


@pytest.mark.parametrize(
    ("name", "value"),
    [("base_odds", 0), ("points_to_double_odds", -1), ("unseen_category", "ignore")],
)
def test_bad_parameters_are_refused(split, name, value) -> None:
    train_x, _, train_y, _ = split
    with pytest.raises(ValueError, match=name):
        Scorecard(**{name: value}).fit(train_x, train_y)
