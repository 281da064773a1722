"""Gradient-boosted risk model: LightGBM trees, a calibrated probability of bad, and reason codes.

A scorecard explains itself but leaves signal on the table; boosted trees find interactions and
non-linear effects a scorecard cannot. :class:`GBDTClassifier` makes trees fit for credit use:

* **Monotone constraints.** ``monotone_constraints={"days_past_due": +1}`` promises that, other
  things equal, more days past due never lowers the risk. Regulators and applicants expect that, and
  it stops the trees from learning noise in thin corners of the data.
* **Calibration.** The booster trains on most rows; a held-out share fits a calibrator
  (:mod:`lendguard.scoring.calibration`) so ``predict_proba`` is a probability a policy can use.
* **Reason codes.** ``reason_codes`` names, per applicant, the features that pushed the risk up the
  most, from LightGBM's exact tree SHAP values: the basis of an adverse-action notice.
* **Safe saving.** ``to_dict`` is JSON plus LightGBM's own text model format; nothing is pickled, so
  loading a model a user received runs no code from it.

Input rules. Columns are matched by name, so a scoring table may hold extra columns in any order;
a bare 2-D array must have exactly the trained number of columns (named ``x0``, ``x1`` ...).
Text, category and bool columns, object columns holding anything but numbers, and any column named
in ``categorical_features`` are categorical: their values are compared as text (``str(value)``)
against the categories seen in fit. Other columns must hold numbers. Missing values are allowed
anywhere and LightGBM learns where they go; infinite values are refused, because they are nearly
always a ratio divided by zero upstream.
A column that is entirely missing in training is refused; a constant column is accepted and simply
never used by the trees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from lendguard.errors import ModelFileError, ScoringDataError, UnseenCategoryError
from lendguard.scoring.calibration import CALIBRATORS, Calibrator, calibrator_from_dict
from lendguard.scoring.data import binary_target, feature_frame, require_columns

MODEL_FORMAT = "lendguard.gbdt"
"""The ``format`` field of a saved model, so a scorecard file is never read as a boosted model."""

MODEL_FORMAT_VERSION = 1
"""Bumped whenever the saved layout changes; older readers refuse newer files."""

BIAS_COLUMN = "(bias)"
"""Column of :meth:`GBDTClassifier.contributions` holding the margin before any feature speaks."""

UNSEEN_CATEGORY_MODES = ("error", "missing")
"""What scoring does with a category never seen in fit: refuse the rows, or score it as missing."""

UNSEEN_SHOWN_MAX = 5
"""How many unseen category values an error message lists before it says "and N more"."""

_NUMERIC_INFERRED = ("integer", "floating", "mixed-integer-float")
"""What ``pandas.api.types.infer_dtype`` says of an object column holding only numbers."""


@dataclass(frozen=True)
class _Settings:
    """The estimator's parameters after validation, in plain Python types."""

    n_estimators: int
    learning_rate: float
    num_leaves: int
    min_child_samples: int
    subsample: float
    colsample_bytree: float
    reg_lambda: float
    monotone_constraints: dict[str, int]
    calibration: str | None
    calibration_share: float
    categorical_features: list[str]
    unseen_category: str
    random_state: int
    n_jobs: int

    def as_params(self) -> dict[str, Any]:
        """JSON-safe keyword arguments that rebuild an equal estimator."""
        params = dict(vars(self))
        params["monotone_constraints"] = dict(self.monotone_constraints) or None
        params["categorical_features"] = list(self.categorical_features) or None
        return params


class GBDTClassifier(ClassifierMixin, BaseEstimator):
    """Binary risk model (1 = bad, 0 = good) on LightGBM, calibrated and explainable.

    Parameters follow LightGBM's scikit-learn names. ``monotone_constraints`` maps a numeric
    feature to +1 (risk never falls as the value rises), -1 (never rises) or 0. ``calibration`` is
    ``"isotonic"``, ``"platt"`` or ``None``; when set, a stratified ``calibration_share`` of the
    training rows (drawn with ``random_state``) is held out of boosting to fit the calibrator.
    ``unseen_category`` is ``"error"`` (raise :class:`~lendguard.errors.UnseenCategoryError`) or
    ``"missing"`` (score the value as missing); it is read when scoring, so a fitted model's policy
    can change with ``set_params``. Training is deterministic for a given ``random_state`` and
    ``n_jobs``. With isotonic calibration the probability is a step function of the margin, so
    applicants with different margins can share a probability; rank by ``decision_function``.

    Learned attributes: ``classes_`` (``[0, 1]``), ``feature_names_in_``, ``n_features_in_``,
    ``booster_`` (a ``lightgbm.Booster`` whose features are named ``f0``, ``f1`` ... by position
    in ``feature_names_in_``), ``calibrator_`` (or ``None``), ``categories_`` (categorical feature
    -> its categories as text, in code order).
    """

    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 50,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        monotone_constraints: dict[str, int] | None = None,
        calibration: str | None = "isotonic",
        calibration_share: float = 0.2,
        categorical_features: Sequence[str] | None = None,
        unseen_category: str = "error",
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.monotone_constraints = monotone_constraints
        self.calibration = calibration
        self.calibration_share = calibration_share
        self.categorical_features = categorical_features
        self.unseen_category = unseen_category
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Any:
        """Missing values and text categories are accepted; only a 0/1 target is."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X: Any, y: Any) -> GBDTClassifier:  # noqa: N803
        """Train the booster (and the calibrator on held-out rows) on features ``X``, 0/1 ``y``."""
        settings = _validated_settings(self)
        frame, target = _training_data(X, y)
        names = [str(name) for name in frame.columns]
        _check_feature_settings(settings, names)
        categorical = _categorical_names(frame, settings.categorical_features)
        _check_constraints_numeric(settings.monotone_constraints, categorical)
        categories = {name: _learn_categories(frame[name]) for name in categorical}
        matrix = _encode(frame, names, categories, "error")
        booster, calibrator = _train(settings, matrix, target, names, categories)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.array(names, dtype=object)
        self.n_features_in_ = len(names)
        self.categories_ = categories
        self.booster_ = booster
        self.calibrator_ = calibrator
        return self

    def decision_function(self, X: Any) -> np.ndarray:  # noqa: N803
        """Raw margin (log-odds of bad before calibration): higher is riskier."""
        matrix = self._matrix(X)
        return self.booster_.predict(matrix, raw_score=True)

    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        """Columns: probability of good, probability of bad (calibrated when calibration is set)."""
        margin = self.decision_function(X)
        bad = expit(margin) if self.calibrator_ is None else self.calibrator_.predict(margin)
        return np.column_stack([1.0 - bad, bad])

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        """1 (bad) where the probability of bad exceeds 0.5, else 0.

        A lending policy sets its own cut-off on ``predict_proba``; 0.5 is scikit-learn's contract.
        """
        bad = self.predict_proba(X)[:, 1]
        return self.classes_[(bad > 0.5).astype(np.int64)]

    def contributions(self, X: Any) -> pd.DataFrame:  # noqa: N803
        """Per-row tree SHAP contribution of each feature, plus ``BIAS_COLUMN``, in margin units.

        Each row sums to :meth:`decision_function` for that row. Contributions are log-odds before
        calibration: a calibrator reshapes the probability but not which features drove it.
        """
        matrix = self._matrix(X)
        values = self.booster_.predict(matrix, pred_contrib=True)
        columns = [*self.feature_names_in_, BIAS_COLUMN]
        return pd.DataFrame(values, columns=columns, index=_row_index(X))

    def reason_codes(self, X: Any, count: int = 4) -> list[list[dict[str, Any]]]:  # noqa: N803
        """Per row, up to ``count`` features that raised the risk most, largest first.

        Each is ``{"feature", "value", "contribution"}``: the input value as given (``None`` when
        missing) and its contribution in margin (log-odds) units before calibration. Only positive
        contributions are reasons, so a low-risk row may get fewer than ``count`` or none. Ties
        keep the training column order.
        """
        if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        frame = self._frame(X)
        inputs = frame.to_numpy(dtype=object)
        values = self.contributions(frame).to_numpy()[:, :-1]
        order = np.argsort(-values, axis=1, kind="stable")[:, :count]
        return [
            _row_reasons(inputs[row], self.feature_names_in_, values[row], order[row])
            for row in range(values.shape[0])
        ]

    def to_dict(self) -> dict[str, Any]:
        """The fitted model as JSON-safe data: parameters, features, LightGBM text, calibrator."""
        check_is_fitted(self)
        calibrator = None if self.calibrator_ is None else self.calibrator_.to_dict()
        return {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "params": _validated_settings(self).as_params(),
            "feature_names": list(self.feature_names_in_),
            "categories": {name: list(values) for name, values in self.categories_.items()},
            "booster": self.booster_.model_to_string(),
            "calibrator": calibrator,
        }

    @classmethod
    def from_dict(cls, data: Any) -> GBDTClassifier:
        """Rebuild a model saved by :meth:`to_dict`; it predicts exactly as the saved one did.

        Anything malformed raises :class:`~lendguard.errors.ModelFileError` saying what, so a
        damaged or foreign file is never scored with.
        """
        fields = _model_fields(data)
        estimator, settings = _estimator_from_params(cls, fields["params"])
        names = _feature_names(fields["feature_names"])
        categories = _saved_categories(fields["categories"], names)
        _check_saved_settings(settings, names, categories)
        estimator.booster_ = _saved_booster(fields["booster"], names, categories)
        estimator.calibrator_ = _saved_calibrator(fields["calibrator"], settings.calibration)
        estimator.classes_ = np.array([0, 1])
        estimator.feature_names_in_ = np.array(names, dtype=object)
        estimator.n_features_in_ = len(names)
        estimator.categories_ = categories
        return estimator

    def _frame(self, X: Any) -> pd.DataFrame:  # noqa: N803
        """The model's columns of ``X`` in training order, or an error naming what is wrong."""
        check_is_fitted(self)
        frame = _feature_table(X)
        if not isinstance(X, pd.DataFrame) and frame.shape[1] != self.n_features_in_:
            raise ScoringDataError(
                f"X has {frame.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        return require_columns(frame, list(self.feature_names_in_))

    def _matrix(self, X: Any) -> np.ndarray:  # noqa: N803
        """``X`` encoded as the float matrix the booster reads."""
        frame = self._frame(X)
        settings = _validated_settings(self)
        names = list(self.feature_names_in_)
        return _encode(frame, names, self.categories_, settings.unseen_category)


def _validated_settings(estimator: GBDTClassifier) -> _Settings:
    """Check every parameter, raising ValueError naming the bad one (scikit-learn's convention)."""
    return _Settings(
        n_estimators=_integer(estimator.n_estimators, "n_estimators", 1),
        learning_rate=_real(estimator.learning_rate, "learning_rate", 0.0, math.inf),
        num_leaves=_integer(estimator.num_leaves, "num_leaves", 2),
        min_child_samples=_integer(estimator.min_child_samples, "min_child_samples", 1),
        subsample=_share(estimator.subsample, "subsample", closed_high=True),
        colsample_bytree=_share(estimator.colsample_bytree, "colsample_bytree", closed_high=True),
        reg_lambda=_real(estimator.reg_lambda, "reg_lambda", 0.0, math.inf, closed_low=True),
        monotone_constraints=_constraints(estimator.monotone_constraints),
        calibration=_choice(estimator.calibration, "calibration", (None, *CALIBRATORS)),
        calibration_share=_share(estimator.calibration_share, "calibration_share"),
        categorical_features=_names(estimator.categorical_features, "categorical_features"),
        unseen_category=_choice(
            estimator.unseen_category, "unseen_category", UNSEEN_CATEGORY_MODES
        ),
        random_state=_integer(estimator.random_state, "random_state", 0, 2**31 - 1),
        n_jobs=_integer(estimator.n_jobs, "n_jobs", 1),
    )


def _integer(value: Any, name: str, low: int, high: int | None = None) -> int:
    """An int (not a bool) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        upper = "" if high is None else f" and at most {high}"
        raise ValueError(f"{name} must be at least {low}{upper}, got {value}")
    return int(value)


def _real(value: Any, name: str, low: float, high: float, *, closed_low: bool = False) -> float:
    """A finite real number above ``low`` (or equal, when ``closed_low``) and below ``high``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    above_low = value >= low if closed_low else value > low
    if not (math.isfinite(value) and above_low and value < high):
        raise ValueError(f"{name} must be {'>=' if closed_low else '>'} {low}, got {value}")
    return float(value)


def _share(value: Any, name: str, *, closed_high: bool = False) -> float:
    """A share of rows or columns: in (0, 1), or (0, 1] when ``closed_high``."""
    share = _real(value, name, 0.0, math.inf)
    if share > 1 or (share == 1 and not closed_high):
        bracket = "]" if closed_high else ")"
        raise ValueError(f"{name} must be in (0, 1{bracket}, got {value}")
    return share


def _choice(value: Any, name: str, allowed: tuple[Any, ...]) -> Any:
    """One of ``allowed``."""
    if value not in allowed:
        shown = ", ".join(repr(option) for option in allowed)
        raise ValueError(f"{name} must be one of {shown}, got {value!r}")
    return value


def _names(value: Any, name: str) -> list[str]:
    """A list of distinct column names (``None`` means none)."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a list of column names, got {value!r}")
    if not all(isinstance(item, str) for item in value) or len(set(value)) != len(value):
        raise ValueError(f"{name} must hold distinct column names, got {value!r}")
    return list(value)


def _constraints(value: Any) -> dict[str, int]:
    """Feature -> -1, 0 or +1 (``None`` means unconstrained)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"monotone_constraints must be a dict feature -> -1/0/+1, got {value!r}")
    for feature, direction in value.items():
        if (
            not isinstance(feature, str)
            or isinstance(direction, bool)
            or direction not in (-1, 0, 1)
        ):
            raise ValueError(
                f"monotone_constraints must map feature names to -1, 0 or +1, "
                f"got {feature!r}: {direction!r}"
            )
    return {feature: int(direction) for feature, direction in value.items()}


def _feature_table(X: Any) -> pd.DataFrame:  # noqa: N803
    """``X`` as a named table; sparse matrices are refused by name rather than misread."""
    if sparse.issparse(X):
        raise ScoringDataError("sparse matrices are not supported: pass a dense table or array")
    return feature_frame(X)


def _training_data(X: Any, y: Any) -> tuple[pd.DataFrame, np.ndarray]:  # noqa: N803
    """Validated training table and 0/1 target of equal length."""
    if y is None:
        raise ScoringDataError("GBDTClassifier requires y to be passed, but the target y is None")
    frame = _feature_table(X)
    target = binary_target(y)
    if frame.shape[0] != target.size:
        raise ScoringDataError(f"X has {frame.shape[0]} rows but y has {target.size} values")
    if BIAS_COLUMN in frame.columns:
        raise ScoringDataError(f"a feature may not be named {BIAS_COLUMN!r}: contributions use it")
    return frame, target


def _check_feature_settings(settings: _Settings, names: list[str]) -> None:
    """Constraints and categorical lists may only name columns that exist."""
    for parameter, listed in (
        ("monotone_constraints", list(settings.monotone_constraints)),
        ("categorical_features", settings.categorical_features),
    ):
        unknown = [name for name in listed if name not in names]
        if unknown:
            raise ValueError(f"{parameter} names unknown features: {', '.join(unknown)}")


def _check_constraints_numeric(constraints: dict[str, int], categorical: list[str]) -> None:
    """Categories have no order, so a direction of risk along them means nothing."""
    constrained = [name for name in categorical if constraints.get(name, 0) != 0]
    if constrained:
        raise ValueError(
            f"monotone_constraints may only constrain numeric features; "
            f"categorical: {', '.join(constrained)}"
        )


def _categorical_names(frame: pd.DataFrame, listed: list[str]) -> list[str]:
    """Columns treated as categories: those listed, plus every column that is not numbers."""
    return [str(name) for name in frame.columns if name in listed or _holds_categories(frame[name])]


def _holds_categories(series: pd.Series) -> bool:
    """Category, bool and text columns; an object column holding only numbers is numeric."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return True
    if pd.api.types.is_object_dtype(dtype):
        return pd.api.types.infer_dtype(series, skipna=True) not in _NUMERIC_INFERRED
    return pd.api.types.is_string_dtype(dtype)


def _learn_categories(series: pd.Series) -> list[str]:
    """Distinct non-missing values as text, sorted, so the codes do not depend on row order."""
    labels, missing = _category_labels(series)
    if missing.all():
        raise ScoringDataError(f"feature {series.name} is all missing")
    return sorted(set(labels[~missing]))


def _category_labels(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each value as text, and where values are missing (their text is meaningless)."""
    missing = series.isna().to_numpy()
    labels = np.array([str(value) for value in series.to_numpy(dtype=object)], dtype=object)
    return labels, missing


def _encode(
    frame: pd.DataFrame, names: list[str], categories: dict[str, list[str]], unseen_mode: str
) -> np.ndarray:
    """The float matrix LightGBM reads: numbers as they are, categories as codes, NaN missing."""
    columns = [
        _encode_categorical(frame[name], categories[name], unseen_mode)
        if name in categories
        else _encode_numeric(frame[name])
        for name in names
    ]
    return np.column_stack(columns).astype(np.float64, copy=False)


def _encode_numeric(series: pd.Series) -> np.ndarray:
    """A numeric column as floats; text, complex or infinite values raise naming the column."""
    if pd.api.types.is_complex_dtype(series.dtype):
        raise ScoringDataError(f"feature {series.name}: complex data not supported")
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = _numbers_from_objects(series)
    if np.isinf(values).any():
        raise ScoringDataError(f"feature {series.name} has infinite values")
    return values


def _numbers_from_objects(series: pd.Series) -> np.ndarray:
    """Floats from an object column of numbers and missing values (text of numbers is refused)."""
    objects = series.to_numpy(dtype=object)
    missing = series.isna().to_numpy()
    numeric = np.array(
        [
            isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)
            for value in objects
        ],
        dtype=bool,
    )
    bad = ~numeric & ~missing
    if bad.any():
        shown = ", ".join(repr(value) for value in objects[bad][:UNSEEN_SHOWN_MAX])
        raise ScoringDataError(
            f"feature {series.name} must hold numbers (it was numeric in fit), got {shown}"
        )
    values = np.full(objects.size, np.nan)
    values[~missing] = objects[~missing].astype(np.float64)
    return values


def _encode_categorical(series: pd.Series, categories: list[str], unseen_mode: str) -> np.ndarray:
    """Category codes (positions in ``categories``); missing -> NaN; unseen -> error or NaN."""
    labels, missing = _category_labels(series)
    codes = pd.Index(categories).get_indexer(labels).astype(np.float64)
    unseen = (codes < 0) & ~missing
    if unseen.any() and unseen_mode == "error":
        values = sorted(set(labels[unseen]))
        more = len(values) - UNSEEN_SHOWN_MAX
        shown = ", ".join(values[:UNSEEN_SHOWN_MAX]) + (f" and {more} more" if more > 0 else "")
        raise UnseenCategoryError(f"feature {series.name} has categories unseen in fit: {shown}")
    codes[missing | unseen] = np.nan
    return codes


def _train(
    settings: _Settings,
    matrix: np.ndarray,
    target: np.ndarray,
    names: list[str],
    categories: dict[str, list[str]],
) -> tuple[lightgbm.Booster, Calibrator | None]:
    """The booster on the boosting rows, and the calibrator on the held-out rows (or None)."""
    _check_not_all_missing(matrix, names)
    if settings.calibration is None:
        return _boost(settings, matrix, target, names, categories), None
    boost_rows, calibration_rows = _calibration_split(target, settings)
    booster = _boost(settings, matrix[boost_rows], target[boost_rows], names, categories)
    margin = booster.predict(matrix[calibration_rows], raw_score=True)
    calibrator = CALIBRATORS[settings.calibration]().fit(margin, target[calibration_rows])
    return booster, calibrator


def _check_not_all_missing(matrix: np.ndarray, names: list[str]) -> None:
    """A column with no value at all cannot inform a split: it is a broken extract, say so."""
    empty = [name for name, column in zip(names, matrix.T, strict=True) if np.isnan(column).all()]
    if empty:
        raise ScoringDataError(f"features all missing: {', '.join(empty)}")


def _calibration_split(target: np.ndarray, settings: _Settings) -> tuple[np.ndarray, np.ndarray]:
    """Row positions for boosting and for calibration, stratified on the target, in row order."""
    rows = np.arange(target.size)
    try:
        boost_rows, calibration_rows = train_test_split(
            rows,
            test_size=settings.calibration_share,
            stratify=target,
            random_state=settings.random_state,
        )
    except ValueError as error:
        raise ScoringDataError(
            f"too few rows to hold out calibration_share={settings.calibration_share} "
            f"of each class: {error}"
        ) from error
    for part in (boost_rows, calibration_rows):
        if np.unique(target[part]).size < 2:
            raise ScoringDataError(
                f"too few bads or goods to hold out calibration_share="
                f"{settings.calibration_share}: one side of the split has a single class"
            )
    return np.sort(boost_rows), np.sort(calibration_rows)


def _boost(
    settings: _Settings,
    matrix: np.ndarray,
    target: np.ndarray,
    names: list[str],
    categories: dict[str, list[str]],
) -> lightgbm.Booster:
    """Train LightGBM on the encoded matrix, features named by position."""
    categorical_positions = [names.index(name) for name in categories]
    dataset = lightgbm.Dataset(
        matrix,
        label=target,
        feature_name=_booster_feature_names(len(names)),
        categorical_feature=categorical_positions,
        free_raw_data=True,
    )
    return lightgbm.train(
        _booster_params(settings, names), dataset, num_boost_round=settings.n_estimators
    )


def _booster_params(settings: _Settings, names: list[str]) -> dict[str, Any]:
    """LightGBM parameters: the estimator's, plus everything that makes training reproducible."""
    return {
        "objective": "binary",
        "learning_rate": settings.learning_rate,
        "num_leaves": settings.num_leaves,
        "min_data_in_leaf": settings.min_child_samples,
        "bagging_fraction": settings.subsample,
        "bagging_freq": 1 if settings.subsample < 1 else 0,
        "feature_fraction": settings.colsample_bytree,
        "lambda_l2": settings.reg_lambda,
        "monotone_constraints": [settings.monotone_constraints.get(name, 0) for name in names],
        "seed": settings.random_state,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": settings.n_jobs,
        "verbose": -1,
    }


def _booster_feature_names(count: int) -> list[str]:
    """Positional names: LightGBM rewrites or refuses some characters real column names hold."""
    return [f"f{position}" for position in range(count)]


def _row_index(X: Any) -> pd.Index | None:  # noqa: N803
    """The caller's row labels when ``X`` is a DataFrame, so results line up with it."""
    return X.index if isinstance(X, pd.DataFrame) else None


def _row_reasons(
    inputs: np.ndarray, names: np.ndarray, values: np.ndarray, order: np.ndarray
) -> list[dict[str, Any]]:
    """The reason dicts of one row: features in ``order`` whose contribution is positive."""
    return [
        {
            "feature": str(names[position]),
            "value": _json_value(inputs[position]),
            "contribution": float(values[position]),
        }
        for position in order
        if values[position] > 0
    ]


def _json_value(value: Any) -> Any:
    """An input value as plain JSON: missing -> None, NumPy scalars -> Python scalars."""
    if pd.isna(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _model_fields(data: Any) -> dict[str, Any]:
    """The saved model's top-level fields, checked for presence, format and version."""
    expected = {
        "format",
        "format_version",
        "params",
        "feature_names",
        "categories",
        "booster",
        "calibrator",
    }
    if not isinstance(data, dict):
        raise ModelFileError(f"a saved GBDT model must be an object, got {type(data).__name__}")
    if data.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"not a saved GBDT model: format is {data.get('format')!r}")
    version = data.get("format_version")
    if version != MODEL_FORMAT_VERSION or isinstance(version, bool):
        raise ModelFileError(
            f"unsupported GBDT model format_version {version!r}: "
            f"this reader knows version {MODEL_FORMAT_VERSION}"
        )
    if set(data) != expected:
        missing = sorted(expected - set(data))
        unknown = sorted(set(data) - expected, key=str)
        raise ModelFileError(f"saved GBDT model fields: missing {missing}, unknown {unknown}")
    return data


def _estimator_from_params(
    cls: type[GBDTClassifier], params: Any
) -> tuple[GBDTClassifier, _Settings]:
    """An unfitted estimator with the saved parameters, all of them present and valid."""
    expected = set(cls._get_param_names())
    if not isinstance(params, dict) or set(params) != expected:
        shown = sorted(params, key=str) if isinstance(params, dict) else params
        raise ModelFileError(f"saved GBDT params must be exactly {sorted(expected)}, got {shown}")
    estimator = cls(**params)
    try:
        settings = _validated_settings(estimator)
    except ValueError as error:
        raise ModelFileError(f"saved GBDT params are invalid: {error}") from error
    return estimator, settings


def _feature_names(value: Any) -> list[str]:
    """A non-empty list of distinct feature names."""
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(name, str) for name in value)
        or len(set(value)) != len(value)
        or BIAS_COLUMN in value
    ):
        raise ModelFileError("saved feature_names must be a non-empty list of distinct names")
    return value


def _saved_categories(value: Any, names: list[str]) -> dict[str, list[str]]:
    """Categorical feature -> non-empty list of distinct category texts, features known."""
    if not isinstance(value, dict):
        raise ModelFileError("saved categories must map feature names to lists of categories")
    for feature, categories in value.items():
        if feature not in names:
            raise ModelFileError(f"saved categories name an unknown feature {feature!r}")
        if (
            not isinstance(categories, list)
            or not categories
            or not all(isinstance(category, str) for category in categories)
            or len(set(categories)) != len(categories)
        ):
            raise ModelFileError(
                f"saved categories of {feature} must be a non-empty list of distinct texts"
            )
    return {name: list(value[name]) for name in names if name in value}


def _check_saved_settings(
    settings: _Settings, names: list[str], categories: dict[str, list[str]]
) -> None:
    """Saved parameters must agree with the saved features, as fit would have insisted."""
    try:
        _check_feature_settings(settings, names)
        _check_constraints_numeric(settings.monotone_constraints, list(categories))
    except ValueError as error:
        raise ModelFileError(f"saved GBDT params disagree with its features: {error}") from error


def _saved_booster(
    text: Any, names: list[str], categories: dict[str, list[str]]
) -> lightgbm.Booster:
    """Parse LightGBM's text model and check it is a binary model over the saved features."""
    if not isinstance(text, str) or not text:
        raise ModelFileError("saved booster must be LightGBM model text")
    try:
        booster = lightgbm.Booster(model_str=text)
    except lightgbm.basic.LightGBMError as error:
        raise ModelFileError(f"saved booster is not a readable LightGBM model: {error}") from error
    objective = _model_objective(text)
    if objective.split(" ")[0] != "binary":
        raise ModelFileError(f"saved booster objective is {objective!r}, not binary")
    if booster.feature_name() != _booster_feature_names(len(names)):
        raise ModelFileError(
            f"saved booster has {booster.num_feature()} features, the model file lists {len(names)}"
        )
    positions = [names.index(name) for name in categories]
    if list(booster.params.get("categorical_feature", [])) != positions:
        raise ModelFileError("saved booster's categorical features disagree with saved categories")
    return booster


def _model_objective(text: str) -> str:
    """The ``objective=`` line of LightGBM's model header: what the trees' margin means."""
    for line in text.splitlines():
        if line.startswith("Tree="):
            break
        if line.startswith("objective="):
            return line.removeprefix("objective=")
    return ""


def _saved_calibrator(data: Any, calibration: str | None) -> Calibrator | None:
    """The saved calibrator, present exactly when the parameters say calibration is on."""
    if calibration is None:
        if data is not None:
            raise ModelFileError("saved model has a calibrator but calibration is None")
        return None
    calibrator = calibrator_from_dict(data)
    if calibrator.kind != calibration:
        raise ModelFileError(
            f"saved calibrator is {calibrator.kind}, the parameters say {calibration}"
        )
    return calibrator
