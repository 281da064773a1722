"""The scorecard: logistic regression on WoE, scaled to points a person can read and audit.

Fitting runs binning (:class:`~lendguard.scoring.binning.WoEBinner`), variable selection
(:class:`~lendguard.scoring.selection.FeatureSelector`) and an L2 logistic regression on the WoE of
the selected features (``regularization_strength`` is scikit-learn's ``C``; the default 0.1 is a
firmer L2 penalty than scikit-learn's 1.0, which held out better on small books such as German
credit and costs nothing on large ones, where the data outweighs the penalty). A feature whose
coefficient comes out zero or negative contradicts its own WoE (usually collinearity), so it is
dropped and the regression refitted until every coefficient is positive; each drop is recorded in
``dropped_`` with its reason.

Scaling (odds are good:bad)::

    factor = points_to_double_odds / ln 2
    offset = base_score - factor * ln(base_odds)
    score  = offset + factor * ln(odds) = offset - factor * (intercept + sum(coef_i * woe_i))

so ``base_score`` points mean ``base_odds`` good per bad and every ``points_to_double_odds`` more
points double the odds. Each attribute (a bin of a feature) is worth
``-factor * coef_i * woe_ij`` points, rounded to ``points_decimals`` (half away from zero), and the
intercept's share ``offset - factor * intercept`` is the base points row. The credit score is the
base points plus the points of each row's attributes, which is exactly what the exported points
table, CSV and SQL ``CASE`` expression compute. Probabilities come from the unrounded model.

Constant and all-missing columns are dropped before binning (recorded in ``dropped_``), because a
column with one value cannot rank anyone; every other data problem raises.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from lendguard.errors import ModelFileError, ScoringDataError
from lendguard.scoring.binning import UNSEEN_CATEGORY_POLICIES, Bin, FeatureBinning, WoEBinner
from lendguard.scoring.data import (
    binary_target,
    feature_frame,
    require_columns,
    require_feature_arrays,
)
from lendguard.scoring.selection import FeatureSelector

BASE_ROW = "(base)"
"""The points table's row for the intercept's share of every score."""

usable_check_head_rows = 64
"""Rows :func:`unusable_columns` reads first: two different values there make a column usable."""


@dataclass(frozen=True)
class Scaling:
    """How log-odds become points; see the module docstring for the arithmetic."""

    base_score: float
    base_odds: float
    points_to_double_odds: float

    @property
    def factor(self) -> float:
        """Points per unit of ln(odds)."""
        return self.points_to_double_odds / math.log(2)

    @property
    def offset(self) -> float:
        """The score at odds 1:1."""
        return self.base_score - self.factor * math.log(self.base_odds)

    def score_from_probability(self, probability_bad: np.ndarray) -> np.ndarray:
        """The unrounded score of a probability of bad (used to check the points arithmetic)."""
        odds_good = (1.0 - probability_bad) / probability_bad
        return self.offset + self.factor * np.log(odds_good)


def round_points(value: float, decimals: int) -> float:
    """Round half away from zero, so a points table is the same whoever recomputes it."""
    scale = 10.0**decimals
    return math.copysign(math.floor(abs(value) * scale + 0.5) / scale, value)


class Scorecard(ClassifierMixin, BaseEstimator):
    """A points scorecard: binning, selection, logistic regression and scaling in one estimator.

    ``credit_score`` is higher for safer applicants; ``predict_proba[:, 1]`` is the probability of
    bad. ``unseen_category`` says what a category never seen in training does at scoring time:
    ``"error"`` raises :class:`~lendguard.errors.UnseenCategoryError`, ``"missing"`` scores it as
    the missing bin, ``"riskiest"`` as the feature's riskiest bin.
    """

    def __init__(
        self,
        binner: WoEBinner | None = None,
        selector: FeatureSelector | None = None,
        regularization_strength: float = 0.1,
        base_score: float = 600.0,
        base_odds: float = 50.0,
        points_to_double_odds: float = 20.0,
        points_decimals: int = 0,
        reason_count: int = 4,
        unseen_category: str = "error",
    ) -> None:
        self.binner = binner
        self.selector = selector
        self.regularization_strength = regularization_strength
        self.base_score = base_score
        self.base_odds = base_odds
        self.points_to_double_odds = points_to_double_odds
        self.points_decimals = points_decimals
        self.reason_count = reason_count
        self.unseen_category = unseen_category

    def fit(self, X: Any, y: Any) -> Scorecard:  # noqa: N803
        """Bin, select, regress and scale; returns ``self``."""
        self._check_params()
        frame = feature_frame(X)
        target = binary_target(y)
        if len(frame) != len(target):
            raise ScoringDataError(f"{len(frame)} feature rows but {len(target)} targets")
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        self.classes_ = np.array([0, 1])
        self.dropped_: dict[str, str] = unusable_columns(frame)
        usable = [name for name in frame.columns if name not in self.dropped_]
        if not usable:
            raise ScoringDataError("every column is constant or entirely missing")
        self.binner_ = WoEBinner() if self.binner is None else clone(self.binner)
        self.binner_.set_params(output="woe")
        # the table itself when every column is usable: selecting columns would copy it
        binned = self.binner_.fit_transform(frame[usable] if self.dropped_ else frame, target)
        woe = np.asarray(binned, dtype=np.float64)
        self.selector_ = FeatureSelector() if self.selector is None else clone(self.selector)
        self.selector_._fit_woe(woe, usable, target)
        self.dropped_.update(self.selector_.dropped_)
        selected = list(self.selector_.selected_features_)
        self._fit_regression(woe, usable, selected, target)
        self._build_points()
        return self

    def _check_params(self) -> None:
        if not self.base_odds > 0:
            raise ValueError(f"base_odds must be positive, got {self.base_odds}")
        if not self.points_to_double_odds > 0:
            raise ValueError(
                f"points_to_double_odds must be positive, got {self.points_to_double_odds}"
            )
        if not self.regularization_strength > 0:
            raise ValueError(
                f"regularization_strength must be positive, got {self.regularization_strength}"
            )
        if self.unseen_category not in UNSEEN_CATEGORY_POLICIES:
            raise ValueError(f"unseen_category must be one of {UNSEEN_CATEGORY_POLICIES}")
        if not 0 <= self.points_decimals <= 6:
            raise ValueError(f"points_decimals must be 0..6, got {self.points_decimals}")

    def _fit_regression(
        self, woe: np.ndarray, columns: list[str], selected: list[str], target: np.ndarray
    ) -> None:
        """Fit on the ``selected`` columns of ``woe`` (named by ``columns``), then drop
        non-positive coefficients one at a time (weakest first) and refit."""
        features = list(selected)
        while True:
            # Newton-Cholesky: exact in a few steps when features are few and rows many.
            regression = LogisticRegression(
                C=self.regularization_strength, solver="newton-cholesky", max_iter=100
            )
            # _check_params has checked C, and WoE values are finite by construction: scikit-learn
            # need not check them again (its checks cost more than the solve on a small book)
            with config_context(skip_parameter_validation=True, assume_finite=True):
                regression.fit(woe[:, [columns.index(name) for name in features]], target)
            coefficients = regression.coef_[0]
            wrong = [index for index, value in enumerate(coefficients) if value <= 0]
            if not wrong:
                break
            worst = min(wrong, key=lambda index: coefficients[index])
            self.dropped_[features[worst]] = (
                f"coefficient {coefficients[worst]:.4f} <= 0 contradicts its WoE"
            )
            del features[worst]
            if not features:
                raise ScoringDataError("no feature keeps a positive coefficient")
        self.features_ = features
        self.coefficients_ = coefficients.astype(np.float64)
        self.intercept_ = float(regression.intercept_[0])

    def _build_points(self) -> None:
        scaling = self.scaling
        self.base_points_ = round_points(
            scaling.offset - scaling.factor * self.intercept_, self.points_decimals
        )
        self.points_ = {
            feature: np.array(
                [
                    round_points(-scaling.factor * coefficient * bin_.woe, self.points_decimals)
                    for bin_ in self.binner_.binnings_[feature].bins
                ]
            )
            for feature, coefficient in zip(self.features_, self.coefficients_, strict=True)
        }

    @property
    def scaling(self) -> Scaling:
        """The scaling parameters as one value."""
        return Scaling(self.base_score, self.base_odds, self.points_to_double_odds)

    def _bin_indices(self, X: Any) -> dict[str, np.ndarray]:  # noqa: N803
        """Each feature's bin per row. ``X`` is a table, or a mapping of feature name to column
        array (no DataFrame is built: a single score costs less than building one)."""
        check_is_fitted(self, "points_")
        if isinstance(X, Mapping):
            columns = require_feature_arrays(X, self.features_)
        else:
            frame = require_columns(feature_frame(X), self.features_)
            columns = {feature: frame[feature].to_numpy() for feature in self.features_}
        return {
            feature: self.binner_.binnings_[feature].bin_indices(
                columns[feature], unseen_category=self.unseen_category
            )
            for feature in self.features_
        }

    def decision_function(self, X: Any) -> np.ndarray:  # noqa: N803
        """The model's log-odds of bad (unrounded)."""
        indices = self._bin_indices(X)
        return self._margin(indices)

    def _margin(self, indices: dict[str, np.ndarray]) -> np.ndarray:
        margin = np.full(len(next(iter(indices.values()))), self.intercept_)
        for feature, coefficient in zip(self.features_, self.coefficients_, strict=True):
            woe = np.array([bin_.woe for bin_ in self.binner_.binnings_[feature].bins])
            margin += coefficient * woe[indices[feature]]
        return margin

    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        """Columns: probability of good (0) and of bad (1)."""
        bad = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - bad, bad])

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        """1 (bad) where the probability of bad is above one half."""
        return (self.decision_function(X) > 0).astype(np.int64)

    def credit_score(self, X: Any) -> np.ndarray:  # noqa: N803
        """Base points plus each row's attribute points: higher is safer."""
        return self._score(self._bin_indices(X))

    def _score(self, indices: dict[str, np.ndarray]) -> np.ndarray:
        score = np.full(len(next(iter(indices.values()))), self.base_points_)
        for feature in self.features_:
            score += self.points_[feature][indices[feature]]
        return score

    def score_record(self, record: dict[str, Any]) -> float:
        """One applicant's score from a mapping of feature to value, without building a table."""
        check_is_fitted(self, "points_")
        missing = [feature for feature in self.features_ if feature not in record]
        if missing:
            raise ScoringDataError(f"the record lacks model features: {', '.join(missing)}")
        score = self.base_points_
        for feature in self.features_:
            value = record[feature]
            values = np.array([np.nan if value is None else value], dtype=object)
            binning = self.binner_.binnings_[feature]
            if binning.dtype == "numeric":
                values = _numeric_record_value(feature, value)
            index = binning.bin_indices(values, unseen_category=self.unseen_category)[0]
            score += self.points_[feature][index]
        return float(score)

    def reason_codes(self, X: Any, count: int | None = None) -> list[list[dict[str, Any]]]:  # noqa: N803
        """Per row, the attributes that cost the most points against the feature's best bin."""
        limit = self.reason_count if count is None else count
        indices = self._bin_indices(X)
        losses = np.column_stack(
            [self.points_[f].max() - self.points_[f][indices[f]] for f in self.features_]
        )
        order = np.argsort(-losses, axis=1, kind="stable")[:, :limit]
        return [
            [
                self._reason(feature_index, indices, row)
                for feature_index in order[row]
                if losses[row, feature_index] > 0
            ]
            for row in range(losses.shape[0])
        ]

    def _reason(self, feature_index: int, indices: dict[str, np.ndarray], row: int) -> dict:
        feature = self.features_[feature_index]
        bin_index = int(indices[feature][row])
        points = self.points_[feature]
        return {
            "feature": feature,
            "bin": self.binner_.binnings_[feature].bins[bin_index].label,
            "points": float(points[bin_index]),
            "points_lost": float(points.max() - points[bin_index]),
        }

    def points_table(self) -> list[dict[str, Any]]:
        """Every attribute with its WoE and points, after a base points row."""
        check_is_fitted(self, "points_")
        rows: list[dict[str, Any]] = [
            {
                "feature": BASE_ROW,
                "bin": "",
                "kind": "base",
                "woe": 0.0,
                "points": self.base_points_,
            }
        ]
        for feature in self.features_:
            for bin_, points in zip(
                self.binner_.binnings_[feature].bins, self.points_[feature], strict=True
            ):
                rows.append(
                    {
                        "feature": feature,
                        "bin": bin_.label,
                        "kind": bin_.kind,
                        "woe": bin_.woe,
                        "points": float(points),
                    }
                )
        return rows

    def points_csv(self) -> str:
        """The points table as CSV text."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["feature", "bin", "kind", "woe", "points"])
        writer.writeheader()
        writer.writerows(self.points_table())
        return buffer.getvalue()

    def points_json(self) -> str:
        """The points table with its scaling, as JSON text."""
        scaling = self.scaling
        return json.dumps(
            {
                "base_score": scaling.base_score,
                "base_odds": scaling.base_odds,
                "points_to_double_odds": scaling.points_to_double_odds,
                "points": self.points_table(),
            },
            indent=2,
            ensure_ascii=False,
        )

    def points_sql(self) -> str:
        """One SQL expression computing the score from a row's raw columns.

        An unseen category or an unparsable value falls to ``ELSE NULL``, so the whole score is
        NULL: SQL cannot raise, and a NULL score is impossible to mistake for a real one.
        """
        check_is_fitted(self, "points_")
        terms = [_sql_number(self.base_points_)]
        for feature in self.features_:
            terms.append(_sql_case(feature, self.binner_.binnings_[feature], self.points_[feature]))
        return "\n  + ".join(terms)

    def to_dict(self) -> dict[str, Any]:
        """Everything the scorecard needs to score, as JSON-safe data (no code, no pickle)."""
        check_is_fitted(self, "points_")
        return {
            "params": {
                key: value
                for key, value in self.get_params(deep=False).items()
                if key not in ("binner", "selector")
            },
            "feature_names_in": [str(name) for name in self.feature_names_in_],
            "features": list(self.features_),
            "coefficients": [float(value) for value in self.coefficients_],
            "intercept": self.intercept_,
            "binnings": {f: self.binner_.binnings_[f].to_dict() for f in self.features_},
            "dropped": dict(self.dropped_),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scorecard:
        """Rebuild a fitted scorecard from :meth:`to_dict` output; malformed data is refused."""
        try:
            model = cls(**data["params"])
            model._check_params()
            features = [str(name) for name in data["features"]]
            coefficients = np.array([float(value) for value in data["coefficients"]])
            binnings = {f: FeatureBinning.from_dict(data["binnings"][f]) for f in features}
            model.intercept_ = float(data["intercept"])
            model.feature_names_in_ = np.asarray(data["feature_names_in"], dtype=object)
            model.dropped_ = {str(k): str(v) for k, v in data["dropped"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"not a scorecard: {exc!r}") from None
        if len(coefficients) != len(features) or not features:
            raise ModelFileError("a scorecard needs one coefficient per feature")
        model.features_ = features
        model.coefficients_ = coefficients
        model.n_features_in_ = len(model.feature_names_in_)
        model.classes_ = np.array([0, 1])
        model.binner_ = WoEBinner(unseen_category=model.unseen_category)
        model.binner_.binnings_ = binnings
        model._build_points()
        return model


def unusable_columns(frame: pd.DataFrame) -> dict[str, str]:
    """Columns that are entirely missing or hold a single value, with the reason.

    Two different values among the first ``usable_check_head_rows`` settle it for almost every
    column without reading the rest; only a column that looks constant there is read whole.
    """
    head = frame.iloc[:usable_check_head_rows].to_numpy()
    present = ~pd.isna(head)
    reasons: dict[str, str] = {}
    for index, name in enumerate(frame.columns):
        values = head[present[:, index], index]
        if values.size > 1 and bool((values != values[0]).any()):
            continue
        reason = _unusable(frame[name])
        if reason is not None:
            reasons[name] = reason
    return reasons


def _unusable(column: pd.Series) -> str | None:
    """Why a column cannot rank anyone, or None."""
    present = column.dropna()
    if present.empty:
        return "entirely missing"
    if len(present) == len(column) and (present == present.iloc[0]).all():
        return "constant"
    return None


def _numeric_record_value(feature: str, value: Any) -> np.ndarray:
    if value is None:
        return np.array([np.nan])
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ScoringDataError(f"feature {feature} is numeric, got {value!r}")
    return np.array([float(value)])


def _sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_literal(value: float | str) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return _sql_number(value)


def _sql_number(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _sql_case(feature: str, binning: FeatureBinning, points: np.ndarray) -> str:
    """Missing and special codes are tested first: a special code may lie inside an interval."""
    column = _sql_identifier(feature)
    pairs = sorted(
        zip(binning.bins, points, strict=True), key=lambda pair: _SQL_ORDER[pair[0].kind]
    )
    whens = [f"WHEN {_sql_condition(column, bin_)} THEN {_sql_number(p)}" for bin_, p in pairs]
    return f"CASE {' '.join(whens)} ELSE NULL END"


_SQL_ORDER = {"missing": 0, "special": 1, "interval": 2, "categories": 2}


def _sql_condition(column: str, bin_: Bin) -> str:
    if bin_.kind == "missing":
        return f"{column} IS NULL"
    if bin_.kind == "special":
        return f"{column} IN ({', '.join(_sql_literal(code) for code in bin_.special_codes)})"
    if bin_.kind == "categories":
        return f"{column} IN ({', '.join(_sql_literal(value) for value in bin_.categories)})"
    conditions = []
    if math.isfinite(bin_.lower):
        conditions.append(f"{column} >= {_sql_number(bin_.lower)}")
    if math.isfinite(bin_.upper):
        conditions.append(f"{column} < {_sql_number(bin_.upper)}")
    return " AND ".join(conditions) if conditions else f"{column} IS NOT NULL"
