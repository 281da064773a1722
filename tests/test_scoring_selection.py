"""Variable selection: IV, VIF, correlation filter, stepwise regression and the FeatureSelector.

Known answers are computed by hand or by an independent route (scikit-learn's unpenalised
logistic regression for likelihoods, ``roc_curve`` for KS, a plain least-squares regression on
the data for VIF); invariants are hypothesis properties.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_curve
from sklearn.utils.estimator_checks import parametrize_with_checks

from lendguard.errors import MissingFeatureError, ScoringDataError
from lendguard.scoring.selection import (
    FeatureSelector,
    correlation_filter,
    information_value,
    stepwise,
    variance_inflation_factors,
)

NON_BINARY_TARGET = (
    "feeds a target that is not 0/1 (multiclass, continuous or a single class); "
    "the selector refuses it with ScoringDataError by design"
)
EXPECTED_FAILED_CHECKS = {
    name: NON_BINARY_TARGET
    for name in (
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit",
        "check_estimators_dtypes",
        "check_dtype_object",
        "check_f_contiguous_array_estimator",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_fit2d_1feature",
        "check_dict_unchanged",
        "check_fit2d_predict1d",
    )
}
if not issubclass(ScoringDataError, ValueError):
    EXPECTED_FAILED_CHECKS["check_estimators_nan_inf"] = (
        "NaN and inf in fit raise ScoringDataError naming the column, and ScoringDataError "
        "is not a ValueError"
    )


# -- data ---------------------------------------------------------------------------------------


def _levels(latent: np.ndarray) -> np.ndarray:
    """A WoE-like column: five values, one per bin of a standard normal."""
    return (np.digitize(latent, [-1.5, -0.5, 0.5, 1.5]) - 2) * 0.4


def _bernoulli(rng: np.random.Generator, log_odds: np.ndarray) -> np.ndarray:
    return (rng.random(len(log_odds)) < 1.0 / (1.0 + np.exp(-log_odds))).astype(np.int8)


def _two_of_six(seed: int = 3, rows: int = 3000) -> tuple[pd.DataFrame, np.ndarray]:
    """Six normal columns; the target depends on x1 (strongly) and x4 only."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, 6))
    target = _bernoulli(rng, -1.0 + 1.2 * values[:, 1] - 0.9 * values[:, 4])
    return pd.DataFrame(values, columns=[f"x{index}" for index in range(6)]), target


def _scorecard_table(seed: int = 7, rows: int = 6000) -> tuple[pd.DataFrame, np.ndarray]:
    """A WoE table where each filter has one thing to catch.

    ``weak`` carries no risk (IV filter); ``strong_copy`` is ``strong`` with 10% of rows redrawn
    (correlation filter); ``abc_sum = a + b + c`` exactly, while no pair correlates above 0.6
    (VIF filter); the risk depends on ``a + b + c`` as a whole, and ``proxy`` only through its
    correlation with ``strong``, so stepwise keeps neither once ``strong`` and ``abc_sum`` are in.
    """
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(rows, 6))
    strong, a, b, c = (_levels(latent[:, index]) for index in range(4))
    table = pd.DataFrame(
        {
            "strong": strong,
            "strong_copy": np.where(rng.random(rows) < 0.1, _levels(rng.normal(size=rows)), strong),
            "weak": _levels(latent[:, 5]),
            "a": a,
            "b": b,
            "c": c,
            "abc_sum": a + b + c,
            "proxy": _levels(0.45 * latent[:, 0] + 0.9 * latent[:, 4]),
        }
    )
    return table, _bernoulli(rng, -1.5 + 2.0 * strong + (a + b + c))


def _sklearn_model(frame: pd.DataFrame, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Log-likelihood and probabilities of scikit-learn's unpenalised logistic regression."""
    model = LogisticRegression(C=np.inf, max_iter=10_000, tol=1e-10).fit(frame, target)
    probability = model.predict_proba(frame)[:, 1]
    log_likelihood = np.sum(target * np.log(probability) + (1 - target) * np.log1p(-probability))
    return float(log_likelihood), probability


# -- information value --------------------------------------------------------------------------


def test_information_value_known_answer_with_the_zero_count_rule() -> None:
    # A: 3 bads 1 good; B: 1 bad 3 goods; C: 0 bads 2 goods -> 0.5 and 2.5. Totals 4 bads, 6 goods.
    values = ["A", "A", "A", "A", "B", "B", "B", "B", "C", "C"]
    target = [1, 1, 1, 0, 1, 0, 0, 0, 0, 0]
    by_hand = (
        (3 / 4 - 1 / 6) * math.log((3 / 4) / (1 / 6))
        + (1 / 4 - 3 / 6) * math.log((1 / 4) / (3 / 6))
        + (0.5 / 4 - 2.5 / 6) * math.log((0.5 / 4) / (2.5 / 6))
    )
    assert by_hand == pytest.approx(1.4018235, abs=1e-6)
    assert information_value(values, target) == pytest.approx(by_hand, rel=1e-12)
    assert information_value(pd.Series(values), np.array(target)) == pytest.approx(by_hand)


def test_missing_values_are_one_group_of_their_own() -> None:
    # missing: 2 bads 0 goods -> 2.5 / 0.5; 1.0: 0 bads 2 goods -> 0.5 / 2.5. Totals 2 and 2.
    values = [np.nan, np.nan, 1.0, 1.0]
    target = [1, 1, 0, 0]
    by_hand = 2 * (2.5 / 2 - 0.5 / 2) * math.log(2.5 / 0.5)
    assert information_value(values, target) == pytest.approx(by_hand)


def test_a_constant_feature_has_no_information() -> None:
    assert information_value([0.3] * 5, [0, 1, 0, 1, 1]) == 0.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.booleans()), min_size=2, max_size=60).filter(
        lambda rows: len({bad for _, bad in rows}) == 2
    )
)
def test_information_value_is_a_crosstab_sum_and_ignores_labels(
    rows: list[tuple[int, bool]],
) -> None:
    values = np.array([value for value, _ in rows])
    target = np.array([bad for _, bad in rows], dtype=int)
    counts = pd.crosstab(values, target).reindex(columns=[0, 1], fill_value=0)
    goods, bads = counts[0].to_numpy(float), counts[1].to_numpy(float)
    lacking = (goods == 0) | (bads == 0)
    bad_share = (bads + 0.5 * lacking) / bads.sum()
    good_share = (goods + 0.5 * lacking) / goods.sum()
    expected = np.sum((bad_share - good_share) * np.log(bad_share / good_share))
    iv = information_value(values, target)
    assert iv >= 0.0
    assert iv == pytest.approx(expected, abs=1e-12)
    relabelled = np.array(["level-" + str(value * 7 + 1) for value in values])
    assert information_value(relabelled, target) == pytest.approx(iv, abs=1e-12)


def test_information_value_refuses_bad_input() -> None:
    with pytest.raises(ScoringDataError, match="3 values but the target has 2"):
        information_value([1, 2, 3], [0, 1])
    with pytest.raises(ScoringDataError, match="0/1"):
        information_value([1, 2, 3], [0, 1, 2])
    with pytest.raises(ScoringDataError, match="one column"):
        information_value(np.zeros((2, 2)), [0, 1])


# -- variance inflation -------------------------------------------------------------------------


def _vif_by_regression(frame: pd.DataFrame, name: str) -> float:
    """1 / (1 - R²) of ``name`` regressed on the other columns and an intercept, on the data."""
    others = frame.drop(columns=name).to_numpy()
    design = np.column_stack([np.ones(len(frame)), others])
    column = frame[name].to_numpy()
    coefficients = np.linalg.lstsq(design, column, rcond=None)[0]
    residual = column - design @ coefficients
    r_squared = 1.0 - residual @ residual / np.sum((column - column.mean()) ** 2)
    return 1.0 / (1.0 - r_squared)


def test_a_shifted_multiple_is_collinear_through_the_intercept() -> None:
    x = np.random.default_rng(0).normal(size=200)
    factors = variance_inflation_factors(pd.DataFrame({"x": x, "y": 2 * x + 1}))
    assert factors == {"x": math.inf, "y": math.inf}


def test_independent_columns_have_vif_close_to_one() -> None:
    values = np.random.default_rng(1).normal(size=(20_000, 4))
    factors = variance_inflation_factors(values)
    assert list(factors) == ["x0", "x1", "x2", "x3"]
    assert all(1.0 <= factor < 1.002 for factor in factors.values())


def test_a_sum_of_other_columns_makes_all_of_them_infinite() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(size=(100, 3)), columns=["a", "b", "c"])
    frame["total"] = frame.sum(axis=1)
    frame["free"] = rng.normal(size=100)
    factors = variance_inflation_factors(frame)
    assert [factors[name] for name in ("a", "b", "c", "total")] == [math.inf] * 4
    assert factors["free"] == pytest.approx(_vif_by_regression(frame, "free"))


def test_constant_column_is_infinite_and_a_lone_column_is_one() -> None:
    frame = pd.DataFrame({"constant": [1.0] * 5, "x": [1.0, 2.0, 4.0, 3.0, 5.0]})
    assert variance_inflation_factors(frame)["constant"] == math.inf
    assert variance_inflation_factors(frame[["x"]]) == {"x": 1.0}


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 5), st.floats(0.0, 3.0))
def test_vif_equals_one_over_one_minus_r_squared(seed: int, width: int, mixing: float) -> None:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(80, width)) + mixing * rng.normal(size=(80, 1))
    frame = pd.DataFrame(values * rng.uniform(0.1, 10, size=width) + rng.normal(size=width) * 5)
    factors = variance_inflation_factors(frame)
    for name in frame.columns:
        assert factors[str(name)] >= 1.0
        assert factors[str(name)] == pytest.approx(_vif_by_regression(frame, name), rel=1e-7)


def test_vif_refuses_text_and_missing_values() -> None:
    with pytest.raises(ScoringDataError, match="feature grade"):
        variance_inflation_factors(pd.DataFrame({"grade": ["A", "B"], "x": [1.0, 2.0]}))
    with pytest.raises(ScoringDataError, match=r"missing \(NaN\) values: x"):
        variance_inflation_factors(pd.DataFrame({"x": [1.0, np.nan], "z": [1.0, 2.0]}))
    with pytest.raises(ScoringDataError, match=r"infinite \(inf\) values: z"):
        variance_inflation_factors(pd.DataFrame({"x": [1.0, 0.0], "z": [1.0, np.inf]}))


# -- correlation filter -------------------------------------------------------------------------


def test_of_a_correlated_pair_the_higher_iv_stays() -> None:
    rng = np.random.default_rng(4)
    base = rng.normal(size=500)
    frame = pd.DataFrame(
        {"a": base, "b": base + 0.1 * rng.normal(size=500), "c": rng.normal(size=500)}
    )
    correlation = np.corrcoef(frame["a"], frame["b"])[0, 1]
    kept, dropped = correlation_filter(frame, {"a": 0.1, "b": 0.3, "c": 0.2})
    assert kept == ["b", "c"]
    assert dropped == {"a": f"correlated {correlation:.2f} with b (higher IV)"}


def test_equal_iv_keeps_the_earlier_name_and_negative_correlation_counts() -> None:
    x = np.arange(10.0)
    frame = pd.DataFrame({"late": -x, "early": x})
    kept, dropped = correlation_filter(frame, {"late": 0.2, "early": 0.2})
    assert kept == ["early"]
    assert dropped == {"late": "correlated -1.00 with early (same IV)"}


def test_a_dropped_feature_does_not_remove_a_third() -> None:
    rng = np.random.default_rng(5)
    a, c = rng.normal(size=(2, 2000))
    frame = pd.DataFrame({"a": a, "b": (a + c) / math.sqrt(2), "c": c})  # a-b, b-c ~0.71; a-c ~0
    kept, dropped = correlation_filter(frame, {"a": 0.5, "b": 0.4, "c": 0.3}, max_correlation=0.6)
    assert kept == ["a", "c"]
    assert list(dropped) == ["b"]


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, (25, 5), elements=st.integers(-500, 500).map(lambda value: value / 100)),
    st.lists(st.floats(0, 1), min_size=5, max_size=5),
    st.sampled_from([0.3, 0.7, 0.9]),
)
def test_correlation_filter_invariants(
    values: np.ndarray, ivs: list[float], max_correlation: float
) -> None:
    frame = pd.DataFrame(values, columns=list("pqrst"))
    information_values = dict(zip(frame.columns, ivs, strict=True))
    kept, dropped = correlation_filter(frame, information_values, max_correlation)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlations = np.nan_to_num(np.corrcoef(values, rowvar=False))
    index = {name: position for position, name in enumerate(frame.columns)}
    assert sorted(kept + list(dropped)) == list(frame.columns)
    for first in kept:
        for second in kept:
            if first != second:
                assert abs(correlations[index[first], index[second]]) <= max_correlation + 1e-9
    for name in dropped:
        rivals = [
            other
            for other in kept
            if abs(correlations[index[name], index[other]]) > max_correlation - 1e-9
            and information_values[other] >= information_values[name]
        ]
        assert rivals, f"{name} was dropped with no stronger correlated feature kept"


def test_correlation_filter_refuses_bad_arguments() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [3.0, 1.0, 2.0]})
    with pytest.raises(ScoringDataError, match="no information value given for: b"):
        correlation_filter(frame, {"a": 0.1})
    for bad in (0.0, 1.5, -0.2, True):
        with pytest.raises(ValueError, match="max_correlation"):
            correlation_filter(frame, {"a": 0.1, "b": 0.2}, max_correlation=bad)


# -- stepwise -----------------------------------------------------------------------------------


@pytest.mark.parametrize("criterion", ["aic", "bic"])
@pytest.mark.parametrize("direction", ["forward", "backward", "both"])
def test_stepwise_likelihood_criteria_find_the_two_informative_columns(
    criterion: str, direction: str
) -> None:
    frame, target = _two_of_six()
    result = stepwise(frame, target, criterion=criterion, direction=direction)
    assert result.selected == ("x1", "x4")
    log_likelihood, _ = _sklearn_model(frame[list(result.selected)], target)
    penalty = 2.0 if criterion == "aic" else math.log(len(target))
    expected = penalty * 3 - 2.0 * log_likelihood
    assert result.steps[-1]["criterion"] == pytest.approx(expected, rel=1e-8)
    values = [step["criterion"] for step in result.steps]
    assert values == sorted(values, reverse=True) and len(set(values)) == len(values)


@pytest.mark.parametrize("direction", ["forward", "both"])
def test_stepwise_ks_adds_the_informative_columns_first(direction: str) -> None:
    frame, target = _two_of_six()
    result = stepwise(frame, target, criterion="ks", direction=direction)
    assert [(step["action"], step["feature"]) for step in result.steps[:2]] == [
        ("add", "x1"),
        ("add", "x4"),
    ]
    assert {"x1", "x4"} <= set(result.selected)
    _, probability = _sklearn_model(frame[list(result.selected)], target)
    false_positive_rate, true_positive_rate, _ = roc_curve(target, probability)
    expected = np.max(true_positive_rate - false_positive_rate)
    assert result.steps[-1]["criterion"] == pytest.approx(expected, abs=1e-9)
    values = [step["criterion"] for step in result.steps]
    assert values == sorted(values) and len(set(values)) == len(values)


def _exhaustive_forward_aic(frame: pd.DataFrame, target: np.ndarray) -> list[str]:
    """Forward AIC selection that refits every candidate with scikit-learn: the reference."""
    selected: list[str] = []
    intercept_only = np.full(len(target), target.mean())
    best = 2.0 - 2.0 * np.sum(np.log(np.where(target == 1, intercept_only, 1 - intercept_only)))
    while True:
        scores = {}
        for name in frame.columns.difference(selected):
            log_likelihood, _ = _sklearn_model(frame[[*selected, name]], target)
            scores[name] = 2.0 * (len(selected) + 2) - 2.0 * log_likelihood
        if not scores or min(scores.values()) >= best:
            return selected
        choice = min(scores, key=scores.__getitem__)
        selected.append(choice)
        best = scores[choice]


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_ranked_stepwise_takes_the_path_of_the_exhaustive_search(seed: int) -> None:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(2000, 6))
    latent[:, 3] += 0.6 * latent[:, 0]  # correlated candidates make the ranking work harder
    frame = pd.DataFrame(latent, columns=list("abcdef"))
    target = _bernoulli(rng, -0.5 + 0.8 * latent[:, 0] - 0.5 * latent[:, 2] + 0.3 * latent[:, 3])
    result = stepwise(frame, target, criterion="aic", direction="forward")
    assert [step["feature"] for step in result.steps] == _exhaustive_forward_aic(frame, target)


def test_max_features_stops_additions_and_forces_removals() -> None:
    frame, target = _two_of_six()
    assert stepwise(
        frame, target, criterion="bic", direction="forward", max_features=1
    ).selected == ("x1",)
    backward = stepwise(frame, target, criterion="bic", direction="backward", max_features=1)
    assert backward.selected == ("x1",)
    assert [step["action"] for step in backward.steps] == ["remove"] * 5
    assert backward.steps[-1]["feature"] == "x4"  # forced: removing x4 worsens BIC


def test_initial_features_are_the_start_and_can_be_removed() -> None:
    frame, target = _two_of_six()
    result = stepwise(frame, target, criterion="bic", direction="both", initial=["x0", "x1"])
    assert result.selected == ("x1", "x4")
    assert {(step["action"], step["feature"]) for step in result.steps} == {
        ("remove", "x0"),
        ("add", "x4"),
    }
    unchanged = stepwise(frame, target, criterion="bic", direction="forward", initial="x1")
    assert unchanged.selected == ("x1", "x4")


def test_a_collinear_copy_is_never_added() -> None:
    frame, target = _two_of_six()
    frame["x1_again"] = 2.0 * frame["x1"] + 1.0
    for criterion in ("aic", "ks"):
        result = stepwise(frame, target, criterion=criterion, direction="forward")
        assert not {"x1", "x1_again"} <= set(result.selected)


def test_backward_drops_duplicates_first_even_when_ks_cannot_tell() -> None:
    frame, target = _two_of_six()
    frame["x1_again"] = 2.0 * frame["x1"] + 1.0
    frame["flat"] = 1.0
    result = stepwise(frame, target, criterion="ks", direction="backward")
    first, second = result.steps[:2]
    assert (first["feature"], second["feature"]) == ("flat", "x1_again")
    assert first["criterion"] == second["criterion"]  # KS unchanged: the smaller model wins
    assert {"x1", "x4"} <= set(result.selected)


def test_separating_feature_is_taken_and_the_search_ends() -> None:
    rng = np.random.default_rng(6)
    target = np.array([0, 1] * 100)
    frame = pd.DataFrame(
        {"noise": rng.normal(size=200), "separates": 2.0 * target - 1 + rng.uniform(-0.5, 0.5, 200)}
    )
    result = stepwise(frame, target, criterion="aic", direction="both")
    assert result.steps[0]["feature"] == "separates"
    assert 2.0 * 2 < result.steps[0]["criterion"] < 2.0 * 2 + 1e-3  # log-likelihood near 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"criterion": "auc"}, "criterion"),
        ({"direction": "sideways"}, "direction"),
        ({"max_features": 0}, "max_features"),
        ({"max_features": 2.5}, "max_features"),
        ({"initial": ["x0", "x0"]}, "twice"),
        ({"initial": ["x0", "x1"], "max_features": 1, "direction": "forward"}, "max_features"),
    ],
)
def test_stepwise_refuses_bad_parameters(arguments: dict, message: str) -> None:
    frame, target = _two_of_six(rows=200)
    with pytest.raises(ValueError, match=message):
        stepwise(frame, target, **arguments)


def test_stepwise_refuses_bad_data() -> None:
    frame, target = _two_of_six(rows=200)
    with pytest.raises(MissingFeatureError, match="x9"):
        stepwise(frame, target, initial=["x9"])
    with pytest.raises(ScoringDataError, match="0/1"):
        stepwise(frame, target + 1)
    with pytest.raises(ScoringDataError, match="200 rows but the target has 199"):
        stepwise(frame, target[:-1])
    with pytest.raises(ScoringDataError, match="feature grade"):
        stepwise(frame.assign(grade="A"), target)


# -- FeatureSelector ----------------------------------------------------------------------------


def test_each_filter_drops_what_it_should_with_a_readable_reason() -> None:
    table, target = _scorecard_table()
    selector = FeatureSelector(stepwise="bic").fit(table, target)
    information_values = {name: information_value(table[name], target) for name in table}
    assert selector.information_values_ == pytest.approx(information_values)
    correlation = np.corrcoef(table["strong"], table["strong_copy"])[0, 1]
    collinear = min(("a", "b", "c", "abc_sum"), key=information_values.__getitem__)
    assert selector.dropped_ == {
        "weak": f"iv {information_values['weak']:.3g} < 0.02",
        "strong_copy": f"correlated {correlation:.2f} with strong (higher IV)",
        collinear: "vif inf > 10",
        **{name: "stepwise bic" for name in ("a", "b", "c", "proxy") if name != collinear},
    }
    assert selector.selected_features_ == ["strong", "abc_sum"]
    assert selector.support_.tolist() == [name in ("strong", "abc_sum") for name in table]
    assert selector.get_feature_names_out().tolist() == ["strong", "abc_sum"]
    assert selector.stepwise_ is not None and selector.stepwise_.selected == ("strong", "abc_sum")
    np.testing.assert_array_equal(selector.transform(table), table[["strong", "abc_sum"]])
    assert list(selector.feature_names_in_) == list(table.columns)


@pytest.mark.parametrize("stepwise_criterion", [None, "bic"])
def test_the_scorecards_woe_path_selects_what_fit_selects(stepwise_criterion: str | None) -> None:
    """The scorecard hands the selector its WoE matrix without the table checks; the selection,
    reasons and information values must be those of a plain fit on the same table."""
    table, target = _scorecard_table()
    fitted = FeatureSelector(stepwise=stepwise_criterion).fit(table, target)
    values = np.asfortranarray(table.to_numpy(dtype=np.float64))
    direct = FeatureSelector(stepwise=stepwise_criterion)._fit_woe(
        values, list(table.columns), target.astype(np.int8)
    )
    assert direct.selected_features_ == fitted.selected_features_
    assert direct.dropped_ == fitted.dropped_
    assert direct.information_values_ == fitted.information_values_
    assert direct.support_.tolist() == fitted.support_.tolist()
    assert list(direct.feature_names_in_) == list(fitted.feature_names_in_)
    assert direct.n_features_in_ == fitted.n_features_in_


def test_vif_of_well_conditioned_columns_is_the_inverse_correlations_diagonal() -> None:
    """Far from collinear, one inversion gives every VIF; it agrees with a regression of each
    column on the others (the route near collinearity still takes)."""
    rng = np.random.default_rng(11)
    latent = rng.normal(size=(2000, 5))
    frame = pd.DataFrame(latent @ rng.normal(size=(5, 5)), columns=list("abcde"))
    factors = variance_inflation_factors(frame)
    for name in frame.columns:
        others = frame.drop(columns=name).assign(intercept=1.0).to_numpy()
        fitted = others @ np.linalg.lstsq(others, frame[name].to_numpy(), rcond=None)[0]
        residual = frame[name].to_numpy() - fitted
        centred = frame[name].to_numpy() - frame[name].mean()
        r_squared = 1.0 - (residual @ residual) / (centred @ centred)
        assert factors[name] == pytest.approx(1.0 / (1.0 - r_squared), rel=1e-9)


def test_a_finite_vif_above_the_limit_is_reported_with_its_value() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(2, 1000))
    frame = pd.DataFrame({"a": a, "b": b, "mix": a + b + 0.3 * rng.normal(size=1000)})
    target = _bernoulli(rng, a + b)
    vif = variance_inflation_factors(frame)["mix"]
    selector = FeatureSelector(min_iv=0.0, max_correlation=1.0, max_vif=10.0).fit(frame, target)
    assert selector.dropped_ == {"mix": f"vif {vif:.3g} > 10"}
    assert re.fullmatch(r"vif \d+(\.\d+)? > 10", selector.dropped_["mix"])


def test_without_stepwise_max_features_keeps_the_highest_ivs() -> None:
    table, target = _scorecard_table()
    selector = FeatureSelector(max_features=2).fit(table, target)
    assert selector.selected_features_ == ["strong", "abc_sum"]
    survivors = ["a", "b", "c", "proxy"]
    assert sum(selector.dropped_.get(name, "").startswith("iv rank") for name in survivors) == 3


def test_array_input_names_features_like_scikit_learn() -> None:
    frame, target = _two_of_six()
    selector = FeatureSelector(min_iv=0.0, stepwise="bic").fit(frame.to_numpy(), target)
    assert selector.selected_features_ == ["x1", "x4"]
    assert not hasattr(selector, "feature_names_in_")
    assert selector.n_features_in_ == 6
    assert selector.get_feature_names_out().tolist() == ["x1", "x4"]


def test_fit_returns_self_keeps_parameters_and_ignores_row_order() -> None:
    table, target = _scorecard_table(seed=9, rows=3000)
    selector = FeatureSelector(stepwise="aic", direction="forward")
    parameters = selector.get_params()
    assert selector.fit(table, target) is selector
    assert selector.get_params() == parameters
    order = np.random.default_rng(0).permutation(len(target))
    shuffled = clone(selector).fit(table.iloc[order].reset_index(drop=True), target[order])
    assert shuffled.selected_features_ == selector.selected_features_
    assert shuffled.dropped_ == selector.dropped_


def test_pandas_output_keeps_the_selected_column_names() -> None:
    table, target = _scorecard_table(rows=2000)
    selector = FeatureSelector().set_output(transform="pandas").fit(table, target)
    output = selector.transform(table)
    assert isinstance(output, pd.DataFrame)
    assert list(output.columns) == selector.selected_features_


def test_every_filter_that_empties_the_table_is_named() -> None:
    table, target = _scorecard_table(rows=2000)
    with pytest.raises(ScoringDataError, match="the IV filter removed the last ones"):
        FeatureSelector(min_iv=5.0).fit(table, target)
    constant = pd.DataFrame({"flat": np.zeros(len(target))})
    with pytest.raises(ScoringDataError, match=r"the VIF filter removed .*flat: vif inf > 10"):
        FeatureSelector(min_iv=0.0).fit(constant, target)
    noise = pd.DataFrame({"noise": _levels(np.random.default_rng(1).normal(size=len(target)))})
    with pytest.raises(ScoringDataError, match=r"stepwise removed .*noise: stepwise bic"):
        FeatureSelector(min_iv=0.0, stepwise="bic").fit(noise, target)


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("min_iv", -0.01),
        ("min_iv", "0.02"),
        ("min_iv", math.nan),
        ("max_correlation", 0.0),
        ("max_correlation", 1.01),
        ("max_vif", 0.5),
        ("max_vif", None),
        ("stepwise", "auc"),
        ("direction", "sideways"),
        ("max_features", 0),
        ("max_features", True),
    ],
)
def test_bad_parameters_raise_value_error_naming_them(parameter: str, value: object) -> None:
    table, target = _scorecard_table(rows=500)
    with pytest.raises(ValueError, match=parameter):
        FeatureSelector(**{parameter: value}).fit(table, target)


def test_bad_data_raises_scoring_data_error_naming_the_column() -> None:
    table, target = _scorecard_table(rows=500)
    with pytest.raises(ScoringDataError, match=r"missing \(NaN\) values: proxy"):
        FeatureSelector().fit(table.assign(proxy=np.nan), target)
    with pytest.raises(ScoringDataError, match="feature grade has a value that is not a number"):
        FeatureSelector().fit(table.assign(grade="A"), target)
    with pytest.raises(ScoringDataError, match="0/1"):
        FeatureSelector().fit(table, np.where(target == 1, "bad", "good"))
    with pytest.raises(ScoringDataError, match="500 rows but the target has 499"):
        FeatureSelector().fit(table, target[:-1])
    with pytest.raises(ValueError, match="requires y"):
        FeatureSelector().fit(table, None)


@parametrize_with_checks(
    [FeatureSelector()], expected_failed_checks=lambda _: EXPECTED_FAILED_CHECKS
)
def test_scikit_learn_conformance(estimator: FeatureSelector, check: object) -> None:
    check(estimator)  # type: ignore[operator]
