"""Calibrators: monotone isotonic steps, Platt's two numbers, strict JSON round trips.

Known answers come from a hand-worked pool-adjacent-violators case, from scikit-learn's own
``IsotonicRegression`` and ``LogisticRegression`` as independent references, and from synthetic
data drawn with known parameters.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from lendguard.errors import ModelFileError, ScoringDataError
from lendguard.scoring.calibration import (
    IsotonicCalibrator,
    PlattCalibrator,
    calibrator_from_dict,
)
from lendguard.scoring.metrics import expected_calibration_error

CALIBRATOR_CLASSES = [IsotonicCalibrator, PlattCalibrator]

scores = st.floats(min_value=-20, max_value=20, allow_nan=False)


@st.composite
def labelled_scores(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores with 0/1 outcomes holding both classes."""
    size = draw(st.integers(min_value=2, max_value=60))
    values = np.array(draw(st.lists(scores, min_size=size, max_size=size)))
    outcomes = np.array(draw(st.lists(st.sampled_from([0, 1]), min_size=size, max_size=size)))
    outcomes[:2] = [0, 1]
    return values, outcomes


def synthetic(
    size: int, slope: float, intercept: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and outcomes drawn so that P(bad | score) = expit(slope * score + intercept)."""
    rng = np.random.default_rng(seed)
    score = rng.normal(scale=2.0, size=size)
    outcome = (rng.random(size) < expit(slope * score + intercept)).astype(np.int8)
    return score, outcome


def round_trip(data: dict[str, Any]) -> Any:
    """``data`` through JSON text and back, as a file would take it."""
    return json.loads(json.dumps(data, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(labelled_scores(), st.lists(scores, min_size=1, max_size=40))
def test_isotonic_output_never_falls_as_the_score_rises(
    data: tuple[np.ndarray, np.ndarray], queries: list[float]
) -> None:
    calibrator = IsotonicCalibrator().fit(*data)
    predicted = calibrator.predict(np.sort(queries))
    assert np.all(np.diff(predicted) >= 0)
    assert np.all((predicted >= 0) & (predicted <= 1))


@settings(max_examples=40, deadline=None)
@given(labelled_scores(), st.lists(scores, min_size=1, max_size=40))
def test_isotonic_predicts_as_scikit_learn_with_clipping(
    data: tuple[np.ndarray, np.ndarray], queries: list[float]
) -> None:
    reference = IsotonicRegression(out_of_bounds="clip").fit(*data)
    calibrator = IsotonicCalibrator().fit(*data)
    np.testing.assert_allclose(calibrator.predict(queries), reference.predict(queries), atol=1e-12)


def test_isotonic_pools_adjacent_violators_by_hand() -> None:
    # Outcomes 0, 1, 0, 1 by rising score: the middle pair violates the order and pools to 1/2.
    calibrator = IsotonicCalibrator().fit([1.0, 2.0, 3.0, 4.0], [0, 1, 0, 1])
    np.testing.assert_allclose(calibrator.predict([1.0, 2.0, 3.0, 4.0]), [0.0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(calibrator.predict([-50.0, 2.5, 50.0]), [0.0, 0.5, 1.0])


def test_isotonic_on_a_constant_score_predicts_the_bad_rate() -> None:
    calibrator = IsotonicCalibrator().fit([0.3, 0.3, 0.3, 0.3], [0, 0, 0, 1])
    np.testing.assert_allclose(calibrator.predict([-1.0, 0.3, 9.0]), [0.25, 0.25, 0.25])


def test_platt_recovers_the_parameters_the_data_was_drawn_with() -> None:
    score, outcome = synthetic(20_000, slope=1.5, intercept=-0.7, seed=1)
    calibrator = PlattCalibrator().fit(score, outcome)
    assert calibrator.slope_ == pytest.approx(1.5, abs=0.08)
    assert calibrator.intercept_ == pytest.approx(-0.7, abs=0.08)


def test_platt_matches_an_unpenalised_logistic_regression_on_a_large_sample() -> None:
    # Platt's smoothed targets move the fit by about one over the sample size, no more.
    score, outcome = synthetic(20_000, slope=0.8, intercept=0.3, seed=2)
    reference = LogisticRegression(C=1e12, tol=1e-10, max_iter=1000).fit(score[:, None], outcome)
    calibrator = PlattCalibrator().fit(score, outcome)
    assert calibrator.slope_ == pytest.approx(reference.coef_[0, 0], abs=2e-3)
    assert calibrator.intercept_ == pytest.approx(reference.intercept_[0], abs=2e-3)


def test_platt_stays_finite_when_the_scores_separate_the_classes() -> None:
    calibrator = PlattCalibrator().fit([0.0, 1.0, 2.0, 3.0], [0, 0, 1, 1])
    assert math.isfinite(calibrator.slope_) and calibrator.slope_ > 0
    predicted = calibrator.predict([0.0, 3.0])
    assert 0 < predicted[0] < 0.5 < predicted[1] < 1


@pytest.mark.parametrize("calibrator_class", CALIBRATOR_CLASSES)
def test_calibration_error_falls_on_a_deliberately_miscalibrated_score(
    calibrator_class: type[IsotonicCalibrator | PlattCalibrator],
) -> None:
    rng = np.random.default_rng(3)
    truth = expit(rng.normal(loc=-2.0, size=20_000))
    outcome = (rng.random(truth.size) < truth).astype(np.int8)
    margin = 3.0 * logit(truth) + 1.0  # over-confident and shifted towards bad
    fit_rows, test_rows = slice(0, 10_000), slice(10_000, None)
    calibrator = calibrator_class().fit(margin[fit_rows], outcome[fit_rows])
    before = expected_calibration_error(outcome[test_rows], expit(margin[test_rows]))
    after = expected_calibration_error(outcome[test_rows], calibrator.predict(margin[test_rows]))
    assert before > 0.08
    assert after < 0.015  # the true probabilities themselves score about 0.008 on this sample


@pytest.mark.parametrize("calibrator_class", CALIBRATOR_CLASSES)
def test_json_round_trip_predicts_identically(
    calibrator_class: type[IsotonicCalibrator | PlattCalibrator],
) -> None:
    score, outcome = synthetic(2_000, slope=1.0, intercept=-1.0, seed=4)
    calibrator = calibrator_class().fit(score, outcome)
    loaded = calibrator_from_dict(round_trip(calibrator.to_dict()))
    assert type(loaded) is calibrator_class
    assert loaded.to_dict() == calibrator.to_dict()
    queries = np.linspace(-12, 12, 301)
    np.testing.assert_array_equal(loaded.predict(queries), calibrator.predict(queries))


ISOTONIC = {"kind": "isotonic", "thresholds": [0.0, 1.0], "probabilities": [0.1, 0.6]}
PLATT = {"kind": "platt", "slope": 1.0, "intercept": -2.0}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (["isotonic"], "unknown calibrator kind"),
        ({**ISOTONIC, "kind": "spline"}, "unknown calibrator kind"),
        ({**ISOTONIC, "kind": ["isotonic"]}, "unknown calibrator kind"),
        ({"thresholds": [0.0], "probabilities": [0.1]}, "unknown calibrator kind"),
        ({**ISOTONIC, "extra": 1}, "unknown \\['extra'\\]"),
        ({"kind": "isotonic", "thresholds": [0.0]}, "missing \\['probabilities'\\]"),
        ({**ISOTONIC, "thresholds": [0.0]}, "1 thresholds but 2 probabilities"),
        ({**ISOTONIC, "thresholds": [1.0, 0.0]}, "strictly increasing"),
        ({**ISOTONIC, "thresholds": [0.0, 0.0]}, "strictly increasing"),
        ({**ISOTONIC, "probabilities": [0.6, 0.1]}, "non-decreasing"),
        ({**ISOTONIC, "probabilities": [0.1, 1.5]}, "lie in \\[0, 1\\]"),
        ({**ISOTONIC, "probabilities": [-0.1, 0.5]}, "lie in \\[0, 1\\]"),
        ({**ISOTONIC, "thresholds": []}, "non-empty list"),
        ({**ISOTONIC, "thresholds": "0 1"}, "non-empty list"),
        ({**ISOTONIC, "thresholds": [0.0, "1"]}, "finite number"),
        ({**ISOTONIC, "thresholds": [0.0, math.inf]}, "finite number"),
        ({**PLATT, "slope": None}, "finite number"),
        ({**PLATT, "slope": True}, "finite number"),
        ({**PLATT, "intercept": math.nan}, "finite number"),
        ({"kind": "platt", "slope": 1.0}, "missing \\['intercept'\\]"),
    ],
)
def test_from_dict_refuses_malformed_data(data: Any, message: str) -> None:
    with pytest.raises(ModelFileError, match=message):
        calibrator_from_dict(data)


def test_from_dict_refuses_the_other_kind() -> None:
    with pytest.raises(ModelFileError, match="expected a platt calibrator"):
        PlattCalibrator.from_dict(ISOTONIC)


@pytest.mark.parametrize("calibrator_class", CALIBRATOR_CLASSES)
@pytest.mark.parametrize(
    ("raw_score", "y", "message"),
    [
        ([0.1, math.nan], [0, 1], "missing or infinite"),
        ([0.1, math.inf], [0, 1], "missing or infinite"),
        ([[0.1], [0.2]], [0, 1], "one column"),
        (["low", "high"], [0, 1], "must be numbers"),
        ([0.1, 0.2, 0.3], [0, 1], "3 raw scores but 2 target values"),
        ([0.1, 0.2], [0, 2], "0/1"),
        ([0.1, 0.2], [1, 1], "one class"),
    ],
)
def test_fit_refuses_bad_input(
    calibrator_class: type[IsotonicCalibrator | PlattCalibrator],
    raw_score: Any,
    y: Any,
    message: str,
) -> None:
    with pytest.raises(ScoringDataError, match=message):
        calibrator_class().fit(raw_score, y)


@pytest.mark.parametrize("calibrator_class", CALIBRATOR_CLASSES)
def test_predict_refuses_missing_scores(
    calibrator_class: type[IsotonicCalibrator | PlattCalibrator],
) -> None:
    calibrator = calibrator_class().fit([0.0, 1.0, 2.0], [0, 1, 1])
    with pytest.raises(ScoringDataError, match="missing or infinite"):
        calibrator.predict([0.5, math.nan])
