"""Holdout metrics, checked against scikit-learn, textbook formulas and samples worked by hand.

Property tests draw targets with both classes and scores from a few values (so ties are common,
the case that separates correct from merely plausible implementations) or from the whole float
range.
"""

from __future__ import annotations

import itertools
from random import Random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

from lendguard.errors import ScoringDataError
from lendguard.scoring import metrics

EXAMPLES_MAX = 60


@st.composite
def scored_samples(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """A 0/1 target with both classes and a score per row, ties likely."""
    labels = draw(st.lists(st.sampled_from([0, 1]), max_size=58))
    target = np.array([*labels, 0, 1])
    size = target.size
    values = st.one_of(
        st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]),
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    )
    score = np.array(draw(st.lists(values, min_size=size, max_size=size)))
    return target, score


@given(scored_samples())
@settings(max_examples=EXAMPLES_MAX, deadline=None)
def test_auc_and_gini_equal_scikit_learn(sample: tuple[np.ndarray, np.ndarray]) -> None:
    target, score = sample
    expected = roc_auc_score(target, score)
    assert metrics.auc(target, score) == pytest.approx(expected, abs=1e-12)
    assert metrics.gini(target, score) == pytest.approx(2 * expected - 1, abs=1e-12)


@given(scored_samples())
@settings(max_examples=EXAMPLES_MAX, deadline=None)
def test_ks_equals_the_largest_gap_between_empirical_cdfs(
    sample: tuple[np.ndarray, np.ndarray],
) -> None:
    """The textbook two-sample statistic, ``max |F_bad(v) - F_good(v)|`` over every value ``v``
    (what ``scipy.stats.ks_2samp`` reports, computed here without its p-value warnings)."""
    target, score = sample
    values = np.unique(score)
    bad_cdf = (score[target == 1][:, None] <= values).mean(axis=0)
    good_cdf = (score[target == 0][:, None] <= values).mean(axis=0)
    expected = np.abs(bad_cdf - good_cdf).max()
    assert metrics.ks(target, score) == pytest.approx(expected, abs=1e-12)


@given(scored_samples())
@settings(max_examples=EXAMPLES_MAX, deadline=None)
def test_roc_points_equal_scikit_learn_curve(sample: tuple[np.ndarray, np.ndarray]) -> None:
    target, score = sample
    false_rate, true_rate, thresholds = roc_curve(target, score, drop_intermediate=False)
    points = metrics.roc_points(target, score)
    np.testing.assert_allclose(points.false_positive_rate, false_rate)
    np.testing.assert_allclose(points.true_positive_rate, true_rate)
    np.testing.assert_array_equal(points.thresholds, thresholds)


@given(scored_samples())
@settings(max_examples=EXAMPLES_MAX, deadline=None)
def test_ks_curve_ends_at_one_and_peaks_at_ks(sample: tuple[np.ndarray, np.ndarray]) -> None:
    target, score = sample
    curve = metrics.ks_curve(target, score)
    assert np.all(np.diff(curve.thresholds) < 0)
    assert curve.cumulative_bad_share[-1] == curve.cumulative_good_share[-1] == 1.0
    assert curve.distance.max() == metrics.ks(target, score)


@given(scored_samples(), st.integers(min_value=1, max_value=12), st.randoms())
@settings(max_examples=EXAMPLES_MAX, deadline=None)
def test_lift_table_groups_partition_rows_without_splitting_ties(
    sample: tuple[np.ndarray, np.ndarray], groups: int, random: Random
) -> None:
    target, score = sample
    rows = metrics.lift_table(target, score, groups)
    assert [row["group"] for row in rows] == list(range(1, len(rows) + 1))
    assert 1 <= len(rows) <= groups
    assert sum(row["count"] for row in rows) == target.size
    assert sum(row["bad_count"] for row in rows) == target.sum()
    assert rows[-1]["cumulative_bad_share"] == pytest.approx(1.0)
    assert rows[-1]["cumulative_good_share"] == pytest.approx(1.0)
    for riskier, safer in itertools.pairwise(rows):
        assert riskier["min_score"] > safer["max_score"]
    assert max(row["ks"] for row in rows) <= metrics.ks(target, score) + 1e-12
    permutation = np.random.default_rng(random.getrandbits(32)).permutation(target.size)
    assert metrics.lift_table(target[permutation], score[permutation], groups) == rows


def test_lift_table_by_hand_keeps_a_tied_block_in_the_group_of_its_first_row() -> None:
    score = [9, 9, 9, 8, 7, 6, 5, 4, 3, 2]
    target = [1, 1, 0, 1, 0, 1, 0, 0, 0, 0]
    rows = metrics.lift_table(target, score, groups=5)
    # Positions 0-2 (the tied 9s) start in group 0; 8 at position 3 -> 3*5//10 = 1; 7, 6 -> 2 ...
    assert [(row["min_score"], row["max_score"]) for row in rows] == [
        (9, 9),
        (8, 8),
        (6, 7),
        (4, 5),
        (2, 3),
    ]
    assert [row["count"] for row in rows] == [3, 1, 2, 2, 2]
    assert [row["bad_count"] for row in rows] == [2, 1, 1, 0, 0]
    assert [row["bad_rate"] for row in rows] == pytest.approx([2 / 3, 1, 0.5, 0, 0])
    # Overall bad rate 0.4: lift is the group's bad rate over it.
    assert [row["lift"] for row in rows] == pytest.approx([5 / 3, 2.5, 1.25, 0, 0])
    assert [row["cumulative_bad_share"] for row in rows] == pytest.approx([0.5, 0.75, 1, 1, 1])
    assert [row["cumulative_good_share"] for row in rows] == pytest.approx(
        [1 / 6, 1 / 6, 2 / 6, 4 / 6, 1]
    )
    assert [row["ks"] for row in rows] == pytest.approx([1 / 3, 7 / 12, 2 / 3, 1 / 3, 0])


def test_lift_table_has_equal_groups_without_ties_and_one_group_for_a_constant_score() -> None:
    target = np.tile([0, 1], 50)
    assert [row["count"] for row in metrics.lift_table(target, np.arange(100.0))] == [10] * 10
    (only,) = metrics.lift_table(target, np.full(100, 0.3))
    assert only["count"] == 100
    assert only["lift"] == pytest.approx(1.0)


def test_expected_calibration_error_by_hand() -> None:
    target = [1, 0, 1, 0]
    probability = [0.9, 0.8, 0.3, 0.1]
    # Groups {0.9, 0.8}: mean 0.85, observed 0.5; {0.3, 0.1}: mean 0.2, observed 0.5.
    rows = metrics.calibration_table(target, probability, groups=2)
    assert [row["mean_probability"] for row in rows] == pytest.approx([0.85, 0.2])
    assert [row["observed_bad_rate"] for row in rows] == pytest.approx([0.5, 0.5])
    assert [row["gap"] for row in rows] == pytest.approx([0.35, 0.3])
    error = metrics.expected_calibration_error(target, probability, groups=2)
    assert error == pytest.approx((2 * 0.35 + 2 * 0.3) / 4)


def test_expected_calibration_error_is_zero_when_probabilities_match_group_rates() -> None:
    target = [1, 0, 0, 0, 0, 1, 1, 1, 0, 0]
    probability = [0.2] * 5 + [0.6] * 5
    assert metrics.expected_calibration_error(target, probability, groups=2) == pytest.approx(0)
    assert metrics.expected_calibration_error(target, probability, groups=10) == pytest.approx(0)


@given(scored_samples())
@settings(max_examples=EXAMPLES_MAX, deadline=None)
def test_brier_equals_scikit_learn(sample: tuple[np.ndarray, np.ndarray]) -> None:
    target, score = sample
    probability = (score - score.min()) / (np.ptp(score) or 1.0)
    expected = brier_score_loss(target, probability)
    assert metrics.brier(target, probability) == pytest.approx(expected, abs=1e-12)


def test_summary_collects_the_headline_numbers() -> None:
    target = [0, 0, 1, 1, 0]
    score = [0.1, 0.4, 0.35, 0.8, 0.2]
    assert metrics.summary(target, score) == {
        "auc": pytest.approx(5 / 6),
        "ks": pytest.approx(2 / 3),
        "gini": pytest.approx(2 / 3),
        "count": 5,
        "bad_rate": pytest.approx(0.4),
    }


@pytest.mark.parametrize(
    ("target", "score", "message"),
    [
        ([0, 1, 1], [0.1, 0.2], "3 rows but the scores have 2"),
        ([0, 1, 1], [0.1, float("nan"), 0.3], "1 missing or infinite"),
        ([0, 1, 2], [0.1, 0.2, 0.3], "must be 0/1"),
        ([1, 1, 1], [0.1, 0.2, 0.3], "one class"),
        ([0, 1, 1], ["a", "b", "c"], "must be numbers"),
        ([0, 1, 1], [[0.1], [0.2], [0.3]], "one column"),
    ],
)
def test_bad_inputs_are_refused(target: list, score: list, message: str) -> None:
    with pytest.raises(ScoringDataError, match=message):
        metrics.summary(target, score)


def test_probabilities_outside_the_unit_interval_and_bad_group_counts_are_refused() -> None:
    with pytest.raises(ScoringDataError, match=r"\[0, 1\]"):
        metrics.brier([0, 1], [0.2, 1.5])
    with pytest.raises(ScoringDataError, match=r"\[0, 1\]"):
        metrics.expected_calibration_error([0, 1], [-0.1, 0.5])
    for groups in (0, metrics.groups_max + 1, 2.5, True):
        with pytest.raises(ValueError, match="groups"):
            metrics.lift_table([0, 1], [0.2, 0.5], groups)
