"""Variable selection for scorecards: information value, correlation, VIF and stepwise regression.

A scorecard should use few features, each carrying risk information on its own and not repeating
another's. :class:`FeatureSelector` applies the usual filters in the usual order on the WoE table:
information value (drop weak features), pairwise correlation (of two near-duplicates keep the one
with the higher IV), variance inflation (drop what the others already explain) and, optionally,
stepwise logistic regression. Every dropped feature gets a one-line reason a reviewer can read.

Information value groups equal values, so it is exact for WoE columns (one value per bin) and
meaningless for a raw continuous column (every row is its own group). The zero-count rule is the
package's: a group with no goods or no bads gets 0.5 added to both its counts; shares are taken
over the unadjusted totals.

Stepwise regression maximises the likelihood of an unpenalised logistic regression fitted by
Newton's method (the same estimate as scikit-learn's ``LogisticRegression(C=np.inf)``, but it can
start from the previous step's coefficients, so each fit takes two or three passes over the data).
Fitting every possible move at every step would take hundreds of fits on a 30-feature table, so
moves are ranked the way SAS ranks them (score chi-square for an addition, Wald chi-square for a
removal), the best-ranked move of each kind is fitted exactly, and the better of the two is
taken when it improves the criterion (a removal that leaves it unchanged counts: of two equal
models the smaller is better). Every step lowers the criterion or keeps it with one feature less,
so no set of features is visited twice and the search ends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from lendguard.errors import ScoringDataError
from lendguard.scoring.data import binary_target, feature_frame, require_columns

CRITERIA = ("aic", "bic", "ks")
"""Stepwise criteria: AIC and BIC of the fitted model (lower is better), or its KS (higher)."""

DIRECTIONS = ("forward", "backward", "both")
"""Stepwise directions: only add, only remove, or either at every step."""

CANDIDATES_PER_STEP_MAX = 1
"""Moves of each kind (add, remove) fitted exactly per step, best-ranked first.

One matched the exhaustive search in the tests; each more costs one fit per step (about 50 ms at
150,000 rows and 12 features on one core).
"""

NEWTON_ITERATIONS_MAX = 100
"""Enough for separated data, where the likelihood only approaches its supremum geometrically."""

NEWTON_GAIN_MIN = 1e-6
"""A fit stops when Newton's method predicts less log-likelihood gain than this."""

LINE_SEARCH_HALVINGS_MAX = 40
"""A Newton step shrunk 2**40 times without gain means the fit is at its numerical optimum."""

COLLINEAR_RESIDUAL_SHARE = 1e-10
"""A regression leaving less than this share of a column's variance unexplained is collinear."""

WELL_CONDITIONED_EIGENVALUE_MIN = 1e-6
"""A correlation matrix whose eigenvalues are all at least this inverts accurately (to about
1e-10), and leaves every column a share of its variance far above ``COLLINEAR_RESIDUAL_SHARE``."""


def information_value(values: Any, y: Any) -> float:
    """Return the IV of a discrete feature: groups of equal values are its bins.

    Missing values form one group of their own, as the binner's missing bin does.
    """
    target = binary_target(y)
    column = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    if column.ndim != 1:
        raise ScoringDataError(f"the feature must be one column, got shape {column.shape}")
    if len(column) != len(target):
        raise ScoringDataError(
            f"the feature has {len(column)} values but the target has {len(target)}"
        )
    return _information_values(column[:, None], target)[0]


def _information_values(values: np.ndarray, target: np.ndarray) -> list[float]:
    """The IV of each column of ``values``: grouped one by one, scored in one computation."""
    bad_counts, good_counts = [], []
    for column in values.T:
        codes, _ = pd.factorize(column, use_na_sentinel=False)
        bads = np.bincount(codes, weights=target)
        bad_counts.append(bads)
        good_counts.append(np.bincount(codes) - bads)
    ends = np.cumsum([counts.size for counts in bad_counts])[:-1]
    terms = _iv_terms(np.concatenate(bad_counts), np.concatenate(good_counts), target)
    return [float(np.sum(column_terms)) for column_terms in np.split(terms, ends)]


def _iv_terms(bad_counts: np.ndarray, good_counts: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Each bin's IV from its counts, with the 0.5 rule for a bin that lacks goods or bads;
    shares are of the target's totals."""
    bad_total = float(np.count_nonzero(target))
    good_total = target.size - bad_total
    lacking = (bad_counts == 0) | (good_counts == 0)
    bad_share = (bad_counts + 0.5 * lacking) / bad_total
    good_share = (good_counts + 0.5 * lacking) / good_total
    return (bad_share - good_share) * np.log(bad_share / good_share)


def variance_inflation_factors(frame: pd.DataFrame) -> dict[str, float]:
    """Return each column's VIF, ``1 / (1 - R²)`` of its regression on the others.

    The regressions have an intercept, so a shifted copy of a column (``2x + 1``) counts as
    collinear; a collinear or constant column gets ``math.inf``. They run on the centred cross
    products, so the table is read once (see :func:`_vifs`).
    """
    frame = feature_frame(frame)
    cross, constant = _cross_products(_numeric_values(frame))
    return _vifs(list(frame.columns), cross, constant)


def _vifs(names: list[str], cross: np.ndarray, constant: np.ndarray) -> dict[str, float]:
    """Each column's VIF from the cross products of the standardised columns.

    When the varying columns are far from collinear (the smallest eigenvalue of their correlation
    matrix is at least ``WELL_CONDITIONED_EIGENVALUE_MIN``), every VIF is a diagonal entry of the
    matrix's inverse: one inversion instead of a regression per column. Otherwise (some VIF may be
    infinite) each column gets its own least-squares regression.
    """
    varying = np.flatnonzero(~constant)
    correlations = cross[np.ix_(varying, varying)]
    factors = np.full(len(names), math.inf)
    if (
        len(names) > 1  # a lone column's VIF is 1 exactly, as its own regression says
        and varying.size
        and np.linalg.eigvalsh(correlations)[0] >= WELL_CONDITIONED_EIGENVALUE_MIN
    ):
        factors[varying] = np.diagonal(np.linalg.inv(correlations))
    else:
        factors[varying] = [_vif_from_cross(cross, index) for index in varying]
    return {name: float(factor) for name, factor in zip(names, factors, strict=True)}


def _cross_products(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cross products of the centred columns scaled to unit length (the correlation matrix, a
    constant column giving zeros), and which columns are constant.

    Each column is divided by its largest deviation before the products, so tiny or huge values
    neither underflow nor overflow; the columns' lengths come from the products' diagonal rather
    than from another pass over the table.
    """
    highest = values.max(axis=0)
    lowest = values.min(axis=0)
    constant = highest == lowest
    mean = values.mean(axis=0)
    magnitude = np.where(constant, 1.0, np.maximum(highest - mean, mean - lowest))
    centred = values - mean
    centred /= magnitude
    centred[:, constant] = 0.0
    cross = centred.T @ centred
    length = np.sqrt(np.where(constant, 1.0, np.diagonal(cross)))
    return cross / length[:, None] / length[None, :], constant


def _vif_from_cross(cross: np.ndarray, index: int) -> float:
    """VIF of column ``index`` from the correlation-scaled cross products of centred columns."""
    others = [other for other in range(cross.shape[0]) if other != index]
    if not others:
        return 1.0
    explained_by = cross[np.ix_(others, [index])]
    coefficients = np.linalg.lstsq(cross[np.ix_(others, others)], explained_by, rcond=None)[0]
    residual_share = float(cross[index, index] - (explained_by.T @ coefficients)[0, 0])
    if residual_share <= COLLINEAR_RESIDUAL_SHARE:
        return math.inf
    return 1.0 / residual_share


def correlation_filter(
    frame: pd.DataFrame, information_values: dict[str, float], max_correlation: float = 0.7
) -> tuple[list[str], dict[str, str]]:
    """Of every pair correlated beyond ``max_correlation``, drop the one with the lower IV.

    Features are visited from the highest IV down (equal IVs: by name) and each is kept unless it
    is too correlated with one already kept, so a feature dropped for a stronger one never removes
    a third. Returns the kept features in column order and ``dropped feature -> reason``.
    """
    _check_fraction("max_correlation", max_correlation)
    frame = feature_frame(frame)
    names = list(frame.columns)
    missing_iv = [name for name in names if name not in information_values]
    if missing_iv:
        raise ScoringDataError(f"no information value given for: {', '.join(missing_iv)}")
    correlations = np.clip(_cross_products(_numeric_values(frame))[0], -1.0, 1.0)
    return _correlation_drops(names, correlations, information_values, max_correlation)


def _correlation_drops(
    names: list[str],
    correlations: np.ndarray,
    information_values: dict[str, float],
    max_correlation: float,
) -> tuple[list[str], dict[str, str]]:
    """:func:`correlation_filter` on the correlation matrix of the named columns."""
    order = sorted(
        range(len(names)), key=lambda index: (-information_values[names[index]], names[index])
    )
    kept: list[int] = []
    dropped: dict[str, str] = {}
    for index in order:
        rival = _most_correlated(correlations, index, kept)
        if rival is not None and abs(correlations[index, rival]) > max_correlation:
            dropped[names[index]] = _correlation_reason(
                correlations[index, rival], names[rival], information_values, names[index]
            )
        else:
            kept.append(index)
    return [names[index] for index in sorted(kept)], dropped


def _most_correlated(correlations: np.ndarray, index: int, kept: list[int]) -> int | None:
    """The kept feature most correlated with ``index`` (first kept wins ties), or None."""
    if not kept:
        return None
    strengths = np.abs(correlations[index, kept])
    return kept[int(np.argmax(strengths))]


def _correlation_reason(
    correlation: float, rival: str, information_values: dict[str, float], name: str
) -> str:
    """The reviewer's line: how correlated, with what, and why that one stayed."""
    why = "higher IV" if information_values[rival] > information_values[name] else "same IV"
    return f"correlated {correlation:.2f} with {rival} ({why})"


@dataclass(frozen=True)
class StepwiseResult:
    """The features stepwise regression kept (column order) and the steps it took, in order.

    Each step is ``{"action": "add" | "remove", "feature": name, "criterion": value}``, the value
    being the criterion of the model after the step.
    """

    selected: tuple[str, ...]
    steps: tuple[dict, ...]


@dataclass(frozen=True)
class _Fit:
    """A fitted logistic regression on ``features`` (coefficients: intercept first).

    ``hessian`` is the information matrix at the last Newton iteration; the move ranking uses it.
    """

    features: tuple[str, ...]
    coefficients: np.ndarray
    log_likelihood: float
    linear_predictor: np.ndarray
    hessian: np.ndarray


@dataclass(frozen=True)
class _Problem:
    """What every fit of one stepwise search shares: the data and the criterion."""

    design: np.ndarray  # intercept column, then the features in column order
    columns: dict[str, int]  # feature -> its column in ``design``
    target: np.ndarray  # float64 0/1
    criterion: str

    def loss(self, fit: _Fit) -> float:
        """The criterion as a loss, lower is better: AIC, BIC or minus KS."""
        if self.criterion == "ks":
            return -_ks(fit.linear_predictor, self.target)
        parameter_count = len(fit.features) + 1
        penalty = 2.0 if self.criterion == "aic" else math.log(len(self.target))
        return penalty * parameter_count - 2.0 * fit.log_likelihood

    def value(self, fit: _Fit) -> float:
        """The criterion as reported: AIC, BIC or KS."""
        loss = self.loss(fit)
        return -loss if self.criterion == "ks" else loss


def stepwise(
    frame: pd.DataFrame,
    y: Any,
    *,
    criterion: str = "aic",
    direction: str = "both",
    max_features: int | None = None,
    initial: Sequence[str] | None = None,
) -> StepwiseResult:
    """Add or remove one feature at a time while the criterion improves.

    ``initial`` is the starting set (default: none for forward and both, all for backward).
    ``max_features`` stops additions at that many features; backward and both first remove the
    least significant features, improving or not, until the model is within it.
    """
    _check_choice("criterion", criterion, CRITERIA)
    _check_choice("direction", direction, DIRECTIONS)
    _check_max_features(max_features)
    frame = feature_frame(frame)
    problem = _problem(frame, y, criterion)
    start = _initial_features(problem, frame, direction, initial)
    if direction == "forward" and max_features is not None and len(start) > max_features:
        raise ValueError(
            f"initial has {len(start)} features, more than max_features {max_features}, "
            "and forward selection never removes one"
        )
    current = _fit(problem, start, _start_coefficients(problem, start))
    steps: list[dict] = []
    while (move := _next_move(problem, current, direction, max_features)) is not None:
        action, feature, current = move
        steps.append({"action": action, "feature": feature, "criterion": problem.value(current)})
    selected = tuple(name for name in frame.columns if name in current.features)
    return StepwiseResult(selected=selected, steps=tuple(steps))


def _problem(frame: pd.DataFrame, y: Any, criterion: str) -> _Problem:
    """Validate the data once and lay it out for the fits: intercept column first."""
    values = _numeric_values(frame)
    target = binary_target(y)
    _check_lengths(len(values), target)
    design = np.empty((values.shape[0], values.shape[1] + 1))
    design[:, 0] = 1.0
    design[:, 1:] = values
    columns = {name: index + 1 for index, name in enumerate(frame.columns)}
    return _Problem(design, columns, target.astype(np.float64), criterion)


def _initial_features(
    problem: _Problem, frame: pd.DataFrame, direction: str, initial: Sequence[str] | None
) -> tuple[str, ...]:
    """The starting features in column order: as given, or none (all for backward)."""
    if initial is None:
        return tuple(frame.columns) if direction == "backward" else ()
    names = [initial] if isinstance(initial, str) else list(initial)
    if len(set(names)) != len(names):
        raise ValueError(f"initial names a feature twice: {names}")
    require_columns(frame, names)
    return _in_column_order(problem, names)


def _in_column_order(problem: _Problem, names: Sequence[str]) -> tuple[str, ...]:
    """``names`` sorted as the columns are, so a feature set has one coefficient layout."""
    return tuple(sorted(names, key=problem.columns.__getitem__))


def _start_coefficients(problem: _Problem, features: Sequence[str]) -> np.ndarray:
    """The intercept-only optimum (the log-odds of a bad), every feature at zero."""
    bad_rate = float(problem.target.mean())
    start = np.zeros(len(features) + 1)
    start[0] = math.log(bad_rate / (1.0 - bad_rate))
    return start


def _next_move(
    problem: _Problem, current: _Fit, direction: str, max_features: int | None
) -> tuple[str, str, _Fit] | None:
    """The best of the shortlisted moves, if it improves the criterion (or the model is too big).

    Removals come first, so of two moves that score the same the smaller model wins.
    """
    count = len(current.features)
    too_big = max_features is not None and count > max_features
    moves: list[tuple[str, str, _Fit]] = []
    if direction != "forward":
        moves += [("remove", name, _moved(problem, current, name)) for name in _removals(current)]
    if direction != "backward" and (max_features is None or count < max_features):
        additions = _additions(problem, current)
        moves += [("add", name, _moved(problem, current, name)) for name in additions]
    if not moves:
        return None
    losses = [problem.loss(fit) for _, _, fit in moves]
    best = int(np.argmin(losses))
    if too_big or _improves(moves[best][0], losses[best], problem.loss(current)):
        return moves[best]
    return None


def _improves(action: str, loss: float, current_loss: float) -> bool:
    """An addition must lower the loss by more than rounding; a removal must not raise it.

    So a redundant feature goes even when the criterion does not notice it (KS), and the search
    cannot circle: every step lowers the loss, or keeps it and drops a feature.
    """
    if action == "remove":
        return loss <= current_loss
    return loss < current_loss - 1e-9 * max(1.0, abs(current_loss))


def _moved(problem: _Problem, current: _Fit, name: str) -> _Fit:
    """Refit with ``name`` added or removed, starting from the current coefficients."""
    if name in current.features:
        features = tuple(feature for feature in current.features if feature != name)
    else:
        features = _in_column_order(problem, [*current.features, name])
    known = dict(zip(current.features, current.coefficients[1:], strict=True))
    start = np.array([current.coefficients[0], *(known.get(feature, 0.0) for feature in features)])
    return _fit(problem, features, start)


def _removals(current: _Fit) -> list[str]:
    """The features whose removal costs least by the Wald chi-square, weakest first.

    The chi-square is the coefficient squared times the information the feature adds to the
    others (the inverse of its diagonal entry in the inverse Hessian), computed so that it is 0
    for a feature the others duplicate, which therefore goes first. Of equal ones the later
    column goes, as the correlation filter keeps the earlier name.
    """
    wald = [
        current.coefficients[index] ** 2 * _own_information(current.hessian, index)
        for index in range(1, len(current.coefficients))
    ]
    order = sorted(range(len(wald)), key=lambda position: (wald[position], -position))
    return [current.features[position] for position in order[:CANDIDATES_PER_STEP_MAX]]


def _own_information(hessian: np.ndarray, index: int) -> float:
    """The information of coefficient ``index`` left after the others (a Schur complement)."""
    others = [other for other in range(len(hessian)) if other != index]
    shared = hessian[others, index]
    explained = shared @ np.linalg.lstsq(hessian[np.ix_(others, others)], shared, rcond=None)[0]
    own = hessian[index, index]
    left = own - explained
    return float(left) if left > COLLINEAR_RESIDUAL_SHARE * own else 0.0


def _additions(problem: _Problem, current: _Fit) -> list[str]:
    """The features whose addition gains most by the score chi-square, strongest first.

    The score test needs only the current fit: one pass over the candidates, no refit. A
    candidate the current features already explain (no information left) is skipped: adding it
    cannot change the likelihood.
    """
    names = [name for name in problem.columns if name not in current.features]
    if not names:
        return []
    base = problem.design[:, [0, *(problem.columns[name] for name in current.features)]]
    candidates = problem.design[:, [problem.columns[name] for name in names]]
    probability = expit(current.linear_predictor)
    weighted = candidates * (probability * (1.0 - probability))[:, None]
    scores = (problem.target - probability) @ candidates
    cross = base.T @ weighted
    explained = np.linalg.lstsq(current.hessian, cross, rcond=None)[0]
    own_information = np.einsum("ij,ij->j", candidates, weighted)
    information = own_information - np.einsum("ij,ij->j", cross, explained)
    informative = information > COLLINEAR_RESIDUAL_SHARE * own_information
    chi_square = scores**2 / np.where(informative, information, 1.0)
    order = np.argsort(-chi_square, kind="stable")
    return [names[index] for index in order if informative[index]][:CANDIDATES_PER_STEP_MAX]


def _fit(problem: _Problem, features: tuple[str, ...], start: np.ndarray) -> _Fit:
    """Maximise the logistic likelihood on ``features`` by Newton's method from ``start``.

    Each step is halved until the likelihood does not fall, so the fit is safe from any start.
    On separated data the likelihood has no maximum; the fit stops when the predicted gain is
    negligible, close to the supremum, which is what the criterion needs.
    """
    design = problem.design[:, [0, *(problem.columns[name] for name in features)]]
    coefficients = start
    linear_predictor = design @ coefficients
    log_likelihood = _log_likelihood(linear_predictor, problem.target)
    hessian = np.zeros((len(start), len(start)))
    for _ in range(NEWTON_ITERATIONS_MAX):
        probability = expit(linear_predictor)
        gradient = (problem.target - probability) @ design
        hessian = _weighted_cross(design, probability * (1.0 - probability))
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        if gradient @ step / 2.0 < NEWTON_GAIN_MIN:
            break
        improved = _line_search(design, problem.target, coefficients, step, log_likelihood)
        if improved is None:
            break
        coefficients, linear_predictor, log_likelihood = improved
    return _Fit(features, coefficients, log_likelihood, linear_predictor, hessian)


def _line_search(
    design: np.ndarray,
    target: np.ndarray,
    coefficients: np.ndarray,
    step: np.ndarray,
    log_likelihood: float,
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The first of the step, half step, quarter step ... that does not lower the likelihood."""
    for halving in range(LINE_SEARCH_HALVINGS_MAX):
        candidate = coefficients + step / 2.0**halving
        linear_predictor = design @ candidate
        candidate_log_likelihood = _log_likelihood(linear_predictor, target)
        if candidate_log_likelihood >= log_likelihood:
            return candidate, linear_predictor, candidate_log_likelihood
    return None


def _log_likelihood(linear_predictor: np.ndarray, target: np.ndarray) -> float:
    """Bernoulli log-likelihood from the log-odds, without overflow for large log-odds."""
    softplus = np.maximum(linear_predictor, 0.0) + np.log1p(np.exp(-np.abs(linear_predictor)))
    return float(target @ linear_predictor - softplus.sum())


def _weighted_cross(design: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``design.T @ diag(weights) @ design``: the information matrix of the fit."""
    scaled = design * np.sqrt(weights)[:, None]
    return scaled.T @ scaled


def _ks(scores: np.ndarray, target: np.ndarray) -> float:
    """Largest gap between the cumulative bad and good shares; equal scores move together.

    Computed on the log-odds, which orders rows as the probability does without the ties that
    rounding a probability to 0 or 1 would create.
    """
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    bads = target[order]
    bad_cumulative = np.cumsum(bads) / bads.sum()
    good_cumulative = np.cumsum(1.0 - bads) / (len(bads) - bads.sum())
    group_ends = np.append(sorted_scores[1:] != sorted_scores[:-1], True)
    return float(np.max(np.abs(bad_cumulative - good_cumulative)[group_ends]))


class FeatureSelector(SelectorMixin, BaseEstimator):
    """Keep the features a scorecard should use: IV, then correlation, VIF and stepwise filters.

    Fit it on the WoE table (one float column per feature) and the 0/1 target. ``dropped_`` says
    why each other feature went, e.g. ``"iv 0.011 < 0.02"``, ``"correlated 0.83 with x3 (higher
    IV)"``, ``"vif 14.2 > 10"`` or ``"stepwise aic"``. ``stepwise`` names the criterion ("aic",
    "bic", "ks") or is None to skip it; ``max_features`` caps the stepwise model, or without
    stepwise keeps that many features of the highest IV.
    """

    def __init__(
        self,
        min_iv: float = 0.02,
        max_correlation: float = 0.7,
        max_vif: float = 10.0,
        stepwise: str | None = None,
        direction: str = "both",
        max_features: int | None = None,
    ) -> None:
        self.min_iv = min_iv
        self.max_correlation = max_correlation
        self.max_vif = max_vif
        self.stepwise = stepwise
        self.direction = direction
        self.max_features = max_features

    def fit(self, X: Any, y: Any) -> FeatureSelector:  # noqa: N803
        """Check the input, then run the filters in order (see :meth:`_select`)."""
        self._check_params()
        values, names, target = self._training_data(X, y)
        return self._select(values, names, target)

    def _fit_woe(self, woe: np.ndarray, names: list[str], target: np.ndarray) -> FeatureSelector:
        """:meth:`fit` on a WoE matrix a binner made, with its column names and the 0/1 target the
        binner was fitted on: the scorecard's path, which skips the table checks such a matrix
        passes by construction (float64, finite, named)."""
        self._check_params()
        assert woe.dtype == np.float64 and woe.shape == (target.size, len(names))
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        return self._select(woe, names, target)

    def _select(self, values: np.ndarray, names: list[str], target: np.ndarray) -> FeatureSelector:
        """Run the filters in order on checked float64 columns; refuse a result with no feature
        left. The correlation and VIF filters share one matrix of cross products, computed once."""
        self.information_values_ = dict(
            zip(names, _information_values(values, target), strict=True)
        )
        self.dropped_: dict[str, str] = {}
        self.stepwise_: StepwiseResult | None = None
        kept = self._apply(names, self._weak(names), "the IV filter")
        cross, constant = _cross_products(values)
        column = {name: index for index, name in enumerate(names)}
        indices = [column[name] for name in kept]
        _, correlated = _correlation_drops(
            kept,
            np.clip(cross[np.ix_(indices, indices)], -1.0, 1.0),
            self.information_values_,
            self.max_correlation,
        )
        kept = self._apply(kept, correlated, "the correlation filter")
        kept = self._apply(kept, self._inflated(kept, cross, constant, column), "the VIF filter")
        if self.stepwise is not None:
            table = pd.DataFrame(values[:, [column[name] for name in kept]], columns=kept)
            kept = self._apply(kept, self._stepwise_drops(table, target), "stepwise")
        elif self.max_features is not None:
            kept = self._apply(kept, self._beyond_cap(kept), "max_features")
        self.selected_features_ = kept
        self.support_ = np.isin(np.asarray(names, dtype=object), kept)
        return self

    def _training_data(self, X: Any, y: Any) -> tuple[np.ndarray, list[str], np.ndarray]:  # noqa: N803
        """Check the input: its shape the scikit-learn way, its values the scoring way.

        scikit-learn's checks refuse sparse, complex, one-dimensional and empty input with the
        messages its users know, and record ``n_features_in_`` (and ``feature_names_in_`` for a
        DataFrame); text, missing and infinite values and a target that is not 0/1 raise
        :class:`ScoringDataError` naming what is wrong. Returns the values as float64, the
        feature names and the target.
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        validate_data(self, X, reset=True, dtype=None, ensure_all_finite=False)
        frame = feature_frame(X)
        values = _numeric_values(frame)
        target = binary_target(y)
        _check_lengths(len(values), target)
        return values, list(frame.columns), target

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def _check_params(self) -> None:
        """Refuse parameter values that cannot select anything sensible, naming the parameter."""
        _check_number("min_iv", self.min_iv, lower=0.0)
        _check_fraction("max_correlation", self.max_correlation)
        _check_number("max_vif", self.max_vif, lower=1.0)
        if self.stepwise is not None:
            _check_choice("stepwise", self.stepwise, CRITERIA)
        _check_choice("direction", self.direction, DIRECTIONS)
        _check_max_features(self.max_features)

    def _apply(self, kept: list[str], dropped: dict[str, str], filter_name: str) -> list[str]:
        """Record the drops; a filter that leaves nothing is an error, not an empty scorecard."""
        self.dropped_.update(dropped)
        remaining = [name for name in kept if name not in dropped]
        if not remaining:
            shown = "; ".join(f"{name}: {reason}" for name, reason in list(dropped.items())[:5])
            raise ScoringDataError(
                f"every feature was filtered out; {filter_name} removed the last ones ({shown})"
            )
        return remaining

    def _weak(self, names: Sequence[str]) -> dict[str, str]:
        """Features whose IV is below ``min_iv``."""
        values = self.information_values_
        return {
            name: f"iv {values[name]:.3g} < {self.min_iv:g}"
            for name in names
            if values[name] < self.min_iv
        }

    def _inflated(
        self, kept: list[str], cross: np.ndarray, constant: np.ndarray, column: dict[str, int]
    ) -> dict[str, str]:
        """Drop the highest VIF above ``max_vif`` and recompute, until none is above.

        Equal VIFs (collinear columns are all infinite) drop the lower IV first, then the later
        name, as the correlation filter keeps the earlier name. ``cross`` holds the cross
        products of every column (``column`` says where), so a recomputation reads no data.
        """
        remaining = list(kept)
        dropped: dict[str, str] = {}
        while remaining:
            indices = [column[name] for name in remaining]
            factors = _vifs(remaining, cross[np.ix_(indices, indices)], constant[indices])
            worst = max(
                remaining, key=lambda name: (factors[name], -self.information_values_[name], name)
            )
            if factors[worst] <= self.max_vif:
                break
            dropped[worst] = f"vif {factors[worst]:.3g} > {self.max_vif:g}"
            remaining.remove(worst)
        return dropped

    def _stepwise_drops(self, table: pd.DataFrame, target: np.ndarray) -> dict[str, str]:
        """The features stepwise regression did not keep."""
        self.stepwise_ = stepwise(
            table,
            target,
            criterion=self.stepwise,
            direction=self.direction,
            max_features=self.max_features,
        )
        reason = f"stepwise {self.stepwise}"
        return {name: reason for name in table.columns if name not in self.stepwise_.selected}

    def _beyond_cap(self, kept: list[str]) -> dict[str, str]:
        """Without stepwise, ``max_features`` keeps the highest IVs (equal IVs: earlier name)."""
        ranked = sorted(kept, key=lambda name: (-self.information_values_[name], name))
        return {
            name: f"iv rank {rank} > max_features {self.max_features}"
            for rank, name in enumerate(ranked, start=1)
            if rank > self.max_features
        }


def _numeric_values(frame: pd.DataFrame) -> np.ndarray:
    """The table as float64, refusing text, missing and infinite values by column name.

    A table of NumPy numbers converts in one step (without a copy when it is one float block, as
    a WoE table is); other tables go column by column so that text is named.
    """
    if all(isinstance(dtype, np.dtype) and dtype.kind in "biuf" for dtype in frame.dtypes):
        values = frame.to_numpy(dtype=np.float64)
    else:
        values = np.column_stack([_numeric_column(name, frame[name]) for name in frame.columns])
    if np.isfinite(values).all():
        return values
    for problem, bad in (("missing (NaN)", np.isnan(values)), ("infinite (inf)", np.isinf(values))):
        columns = frame.columns[bad.any(axis=0)]
        if len(columns):
            raise ScoringDataError(f"features with {problem} values: {', '.join(columns)}")
    return values


def _numeric_column(name: str, column: pd.Series) -> np.ndarray:
    """One column as float64; an object column passes only if every value is a number."""
    if column.dtype.kind in "biuf":
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    if column.dtype.kind == "O":
        text = next((value for value in column if not _is_number(value)), None)
        if text is None:
            return column.to_numpy(dtype=np.float64, na_value=np.nan)
        raise ScoringDataError(f"feature {name} has a value that is not a number: {text!r}")
    raise ScoringDataError(f"feature {name} is not numeric (dtype {column.dtype})")


def _is_number(value: Any) -> bool:
    """A real number or a missing marker, as an object column of WoE values may hold."""
    return value is None or (isinstance(value, Real) and not isinstance(value, bool))


def _check_lengths(row_count: int, target: np.ndarray) -> None:
    """Features and target must describe the same rows."""
    if row_count != len(target):
        raise ScoringDataError(
            f"the features have {row_count} rows but the target has {len(target)}"
        )


def _check_choice(parameter: str, value: Any, choices: Sequence[str]) -> None:
    """A parameter that must be one of a few names."""
    if value not in choices:
        raise ValueError(f"{parameter} must be one of {', '.join(choices)}, got {value!r}")


def _check_number(parameter: str, value: Any, *, lower: float) -> None:
    """A real-number parameter (not a bool, not NaN) no smaller than ``lower``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not value >= lower:
        raise ValueError(f"{parameter} must be a number >= {lower:g}, got {value!r}")


def _check_fraction(parameter: str, value: Any) -> None:
    """A parameter in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value <= 1:
        raise ValueError(f"{parameter} must be in (0, 1], got {value!r}")


def _check_max_features(value: Any) -> None:
    """None (no cap) or a positive whole number."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"max_features must be None or an integer >= 1, got {value!r}")
