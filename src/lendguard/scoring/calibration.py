"""Turn a model's raw risk score into a probability of going bad that matches observed bad rates.

A boosted model ranks applicants well, but its raw margin is not a probability a credit policy can
use: cut-offs, expected loss and pricing all need "3 in 100 of these go bad" to be true. A
calibrator is fitted on scores of rows the model did not train on and maps score to probability.

Two calibrators, both for a raw score where higher means riskier (a log-odds margin, say):

* :class:`IsotonicCalibrator` fits the best non-decreasing step function. It assumes nothing about
  the shape of the mapping, so it needs a few thousand rows to be smooth.
* :class:`PlattCalibrator` fits ``p = 1 / (1 + exp(-(slope * score + intercept)))``: two numbers,
  stable on small samples, right when the score is already a log-odds up to a shift and a scale.

Both save to plain JSON-safe dicts holding only numbers, so loading one runs no code and needs no
scikit-learn object.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression

from lendguard.errors import ModelFileError, ScoringDataError
from lendguard.scoring.data import binary_target


class IsotonicCalibrator:
    """Probability of bad as a non-decreasing step function of the raw score.

    Fitting uses scikit-learn's pool-adjacent-violators; what is kept is only the knots
    (``thresholds_``, ``probabilities_``), and prediction interpolates linearly between them and
    clips beyond the first and last knot, exactly as ``IsotonicRegression(out_of_bounds="clip")``
    predicts. Equal scores always get equal probabilities, so many applicants can share one.
    """

    kind: ClassVar[str] = "isotonic"

    thresholds_: np.ndarray
    probabilities_: np.ndarray

    def fit(self, raw_score: Any, y: Any) -> IsotonicCalibrator:
        """Learn the knots from held-out raw scores and their 0/1 outcomes (1 = bad)."""
        scores, target = _scores_and_target(raw_score, y)
        regression = IsotonicRegression(increasing=True, out_of_bounds="clip")
        regression.fit(scores, target)
        self.thresholds_ = np.asarray(regression.X_thresholds_, dtype=np.float64)
        self.probabilities_ = np.asarray(regression.y_thresholds_, dtype=np.float64)
        return self

    def predict(self, raw_score: Any) -> np.ndarray:
        """Probability of bad for each raw score, in [0, 1]."""
        _require_fitted(self, "thresholds_")
        return np.interp(_raw_scores(raw_score), self.thresholds_, self.probabilities_)

    def to_dict(self) -> dict[str, Any]:
        """The knots as lists of floats, tagged with the calibrator kind."""
        _require_fitted(self, "thresholds_")
        return {
            "kind": self.kind,
            "thresholds": [float(value) for value in self.thresholds_],
            "probabilities": [float(value) for value in self.probabilities_],
        }

    @classmethod
    def from_dict(cls, data: Any) -> IsotonicCalibrator:
        """Rebuild a calibrator saved by :meth:`to_dict`, refusing anything malformed."""
        fields = _fields(data, cls.kind, ("thresholds", "probabilities"))
        thresholds = _float_list(fields["thresholds"], "thresholds")
        probabilities = _float_list(fields["probabilities"], "probabilities")
        _check_knots(thresholds, probabilities)
        calibrator = cls()
        calibrator.thresholds_ = thresholds
        calibrator.probabilities_ = probabilities
        return calibrator


class PlattCalibrator:
    """Probability of bad as a logistic function of the raw score: ``expit(slope * s + intercept)``.

    Fitted by maximum likelihood with Platt's smoothed targets, ``(bads + 1) / (bads + 2)`` for a
    bad and ``1 / (goods + 2)`` for a good, as in Platt (1999) and scikit-learn's sigmoid
    calibration.
    The smoothing keeps both numbers finite when the held-out scores separate goods from bads
    perfectly (a small calibration sample can), and shifts them only by about one over the sample
    size otherwise.
    """

    kind: ClassVar[str] = "platt"

    slope_: float
    intercept_: float

    def fit(self, raw_score: Any, y: Any) -> PlattCalibrator:
        """Learn slope and intercept from held-out raw scores and their 0/1 outcomes (1 = bad)."""
        scores, target = _scores_and_target(raw_score, y)
        self.slope_, self.intercept_ = _logistic_fit(scores, _platt_targets(target))
        return self

    def predict(self, raw_score: Any) -> np.ndarray:
        """Probability of bad for each raw score, in [0, 1]."""
        _require_fitted(self, "slope_")
        return expit(self.slope_ * _raw_scores(raw_score) + self.intercept_)

    def to_dict(self) -> dict[str, Any]:
        """Slope and intercept as floats, tagged with the calibrator kind."""
        _require_fitted(self, "slope_")
        return {"kind": self.kind, "slope": self.slope_, "intercept": self.intercept_}

    @classmethod
    def from_dict(cls, data: Any) -> PlattCalibrator:
        """Rebuild a calibrator saved by :meth:`to_dict`, refusing anything malformed."""
        fields = _fields(data, cls.kind, ("slope", "intercept"))
        calibrator = cls()
        calibrator.slope_ = _finite_float(fields["slope"], "slope")
        calibrator.intercept_ = _finite_float(fields["intercept"], "intercept")
        return calibrator


Calibrator = IsotonicCalibrator | PlattCalibrator
"""Either calibrator: both fit, predict, ``to_dict`` and ``from_dict`` alike."""

CALIBRATORS: dict[str, type[Calibrator]] = {
    IsotonicCalibrator.kind: IsotonicCalibrator,
    PlattCalibrator.kind: PlattCalibrator,
}
"""Calibrator classes by the ``kind`` their saved dicts carry."""


def calibrator_from_dict(data: Any) -> Calibrator:
    """Rebuild whichever calibrator ``data`` describes, from its ``kind`` field."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if not isinstance(kind, str) or kind not in CALIBRATORS:
        raise ModelFileError(
            f"unknown calibrator kind {kind!r}: expected one of {', '.join(CALIBRATORS)}"
        )
    return CALIBRATORS[kind].from_dict(data)


def _raw_scores(raw_score: Any) -> np.ndarray:
    """``raw_score`` as a 1-D float array of finite values, or a ScoringDataError."""
    try:
        scores = np.asarray(raw_score, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ScoringDataError(f"raw scores must be numbers: {error}") from error
    if scores.ndim != 1:
        raise ScoringDataError(f"raw scores must be one column, got shape {scores.shape}")
    if not np.isfinite(scores).all():
        raise ScoringDataError("raw scores must be finite: found missing or infinite values")
    return scores


def _scores_and_target(raw_score: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated scores and 0/1 target of the same length."""
    scores = _raw_scores(raw_score)
    target = binary_target(y)
    if scores.size != target.size:
        raise ScoringDataError(f"{scores.size} raw scores but {target.size} target values")
    return scores, target


def _platt_targets(target: np.ndarray) -> np.ndarray:
    """Platt's smoothed targets: a bad counts as a little under 1, a good as a little over 0."""
    bad_count = int(target.sum())
    good_count = target.size - bad_count
    return np.where(target == 1, (bad_count + 1) / (bad_count + 2), 1 / (good_count + 2))


def _logistic_fit(scores: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """Slope and intercept minimising the mean log-loss of ``expit(slope * score + intercept)``."""

    def loss_and_gradient(parameters: np.ndarray) -> tuple[float, np.ndarray]:
        margin = parameters[0] * scores + parameters[1]
        loss = np.mean(np.logaddexp(0.0, margin) - targets * margin)
        residual = expit(margin) - targets
        return float(loss), np.array([np.mean(residual * scores), np.mean(residual)])

    base_rate = float(np.mean(targets))
    start = np.array([0.0, math.log(base_rate / (1 - base_rate))])
    result = minimize(
        loss_and_gradient, start, jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 500}
    )
    slope, intercept = (float(value) for value in result.x)
    assert math.isfinite(slope) and math.isfinite(intercept), "Platt fit diverged"
    return slope, intercept


def _require_fitted(calibrator: object, attribute: str) -> None:
    """Refuse to predict or save before fit: that is a programming error, not bad data."""
    assert hasattr(calibrator, attribute), f"{type(calibrator).__name__} is not fitted"


def _fields(data: Any, kind: str, names: tuple[str, ...]) -> dict[str, Any]:
    """``data`` as a dict of exactly ``kind`` plus ``names``, or a ModelFileError saying what."""
    if not isinstance(data, dict):
        raise ModelFileError(f"a {kind} calibrator must be an object, got {type(data).__name__}")
    if data.get("kind") != kind:
        raise ModelFileError(f"expected a {kind} calibrator, got kind {data.get('kind')!r}")
    expected = {"kind", *names}
    if set(data) != expected:
        missing = sorted(expected - set(data))
        unknown = sorted(set(data) - expected, key=str)
        raise ModelFileError(
            f"{kind} calibrator fields are wrong: missing {missing}, unknown {unknown}"
        )
    return data


def _finite_float(value: Any, name: str) -> float:
    """A JSON number that is finite (bools are refused: JSON true is not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelFileError(f"calibrator field {name} must be a finite number, got {value!r}")
    return float(value)


def _float_list(values: Any, name: str) -> np.ndarray:
    """A non-empty JSON list of finite numbers as a float array."""
    if not isinstance(values, list) or not values:
        raise ModelFileError(f"calibrator field {name} must be a non-empty list of numbers")
    return np.array([_finite_float(value, name) for value in values], dtype=np.float64)


def _check_knots(thresholds: np.ndarray, probabilities: np.ndarray) -> None:
    """Knots must pair up, rise in score, and hold non-decreasing probabilities in [0, 1]."""
    if thresholds.size != probabilities.size:
        raise ModelFileError(
            f"isotonic calibrator has {thresholds.size} thresholds "
            f"but {probabilities.size} probabilities"
        )
    if np.any(np.diff(thresholds) <= 0):
        raise ModelFileError("isotonic calibrator thresholds must be strictly increasing")
    if np.any(np.diff(probabilities) < 0):
        raise ModelFileError("isotonic calibrator probabilities must be non-decreasing")
    if probabilities[0] < 0 or probabilities[-1] > 1:
        raise ModelFileError("isotonic calibrator probabilities must lie in [0, 1]")
