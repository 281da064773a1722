"""Optimal WoE binning: constraints that always hold, the exact optimum, and refused input.

Invariants are hypothesis properties over random data (trends, minimum shares and bad counts, IV
recomputed from counts, training rows landing in the bins that counted them); the merge's optimum
is checked against brute force over every partition; WoE values are checked against numbers worked
out by hand.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from lendguard.errors import (
    MissingFeatureError,
    ModelFileError,
    ScoringDataError,
    UnseenCategoryError,
)
from lendguard.scoring.binning import (
    TREND_FALLBACK,
    Bin,
    FeatureBinning,
    WoEBinner,
    _distinct_counts,
    bin_feature,
)
from lendguard.scoring.binning_merge import (
    MergeProblem,
    optimal_partition,
    optimal_partitions,
    woe_iv,
)

GERMAN_CREDIT = Path("/work/shared/data/german_credit.csv")

TRENDS = ("ascending", "descending", "peak", "valley", "none")


# --- helpers: independent recomputations ---


def value_bins(binning: FeatureBinning) -> list[Bin]:
    return [bin_ for bin_ in binning.bins if bin_.kind in ("interval", "categories")]


def bad_rates(bins: list[Bin]) -> list[float]:
    return [bin_.bad_count / (bin_.good_count + bin_.bad_count) for bin_ in bins]


def follows_trend(rates: list[float], trend: str) -> bool:
    """Whether consecutive rates follow ``trend`` strictly (a peak or valley may be monotone)."""
    steps = [later - earlier for earlier, later in itertools.pairwise(rates)]
    if trend == "none":
        return True
    if any(step == 0 for step in steps):
        return False
    signs = ["+" if step > 0 else "-" for step in steps]
    text = "".join(signs)
    patterns = {
        "ascending": "-" not in text,
        "descending": "+" not in text,
        "peak": "-+" not in text,
        "valley": "+-" not in text,
    }
    return patterns[trend]


def hand_woe_iv(good: int, bad: int, good_total: int, bad_total: int) -> tuple[float, float]:
    """The module's rule written out once more: +0.5 to both counts when one is zero."""
    if good + bad == 0:
        return 0.0, 0.0
    if good == 0 or bad == 0:
        good, bad = good + 0.5, bad + 0.5  # type: ignore[assignment]
    bad_share, good_share = bad / bad_total, good / good_total
    woe = math.log(bad_share / good_share)
    return woe, (bad_share - good_share) * woe


def assert_binning_consistent(binning: FeatureBinning, values: Any, target: np.ndarray) -> None:
    """Counts, WoE and IV agree with the data and with each other."""
    good_total = int((target == 0).sum())
    bad_total = int((target == 1).sum())
    table = binning.table()
    assert sum(row["count"] for row in table) == target.size
    assert sum(row["bad_count"] for row in table) == bad_total
    for row in table:
        woe, iv = hand_woe_iv(row["good_count"], row["bad_count"], good_total, bad_total)
        assert row["woe"] == pytest.approx(woe, abs=1e-12)
        assert row["iv"] == pytest.approx(iv, abs=1e-12)
    assert binning.iv == pytest.approx(sum(row["iv"] for row in table), abs=1e-12)
    indices = binning.bin_indices(values, unseen_category="error")
    assert indices.dtype == np.int32
    for position, bin_ in enumerate(binning.bins):
        in_bin = indices == position
        assert int((in_bin & (target == 0)).sum()) == bin_.good_count, bin_.label
        assert int((in_bin & (target == 1)).sum()) == bin_.bad_count, bin_.label
    assert binning.bins[-1].kind == "missing"


def assert_constraints(binning: FeatureBinning, rows: int, **options: Any) -> None:
    bins = value_bins(binning)
    if binning.trend == TREND_FALLBACK:
        assert len(bins) == 1
        return
    assert len(bins) <= options.get("max_bins", 8)
    for bin_ in bins:
        assert bin_.count >= options.get("min_bin_share", 0.05) * rows - 1e-9, bin_.label
        assert bin_.bad_count >= options.get("min_bin_bad_count", 1), bin_.label
    assert follows_trend(bad_rates(bins), binning.trend), (binning.trend, bad_rates(bins))


def step_data(
    rows: int = 2000, seed: int = 0, distinct: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Integers 0..distinct-1; bad rate 10% in the lower half and 60% in the upper half."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, distinct, rows).astype(np.float64)
    target = (rng.random(rows) < np.where(values < distinct // 2, 0.1, 0.6)).astype(np.int8)
    return values, target


# --- scikit-learn conformance ---

_NOT_VALUE_ERROR = (
    "bad data raises ScoringDataError (a ValueError) with lendguard's own message, which this "
    "check matches against scikit-learn's exact wording"
)


def _expected_failed_checks(estimator: Any) -> dict[str, str]:
    del estimator
    return {
        "check_estimators_dtypes": "y is derived from X as labels {1, 2}; the target must be 0/1",
        "check_complex_data": _NOT_VALUE_ERROR,
        "check_dtype_object": "an object-dtype target is refused by binary_target, "
        "without scikit-learn's 'Unknown label type' text",
        "check_estimators_empty_data_messages": _NOT_VALUE_ERROR,
        "check_fit2d_predict1d": _NOT_VALUE_ERROR,
    }


@parametrize_with_checks([WoEBinner()], expected_failed_checks=_expected_failed_checks)
def test_scikit_learn_conformance(estimator: WoEBinner, check: Callable[..., None]) -> None:
    check(estimator)


def test_tags_say_binary_target_required_and_missing_values_allowed() -> None:
    tags = WoEBinner().__sklearn_tags__()
    assert tags.target_tags.required
    assert tags.classifier_tags is not None and not tags.classifier_tags.multi_class
    assert tags.input_tags.allow_nan


# --- invariants on random data ---


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(20, 600),
    distinct=st.integers(2, 60),
    trend=st.sampled_from(TRENDS),
    prebinning=st.sampled_from(("quantile", "tree", "chimerge")),
    max_bins=st.integers(1, 8),
    min_bin_share=st.sampled_from((0.02, 0.05, 0.1, 0.3)),
    min_bin_bad_count=st.integers(0, 5),
)
def test_numeric_bins_respect_every_constraint(
    seed: int,
    rows: int,
    distinct: int,
    trend: str,
    prebinning: str,
    max_bins: int,
    min_bin_share: float,
    min_bin_bad_count: int,
) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, distinct, rows).astype(np.float64)
    risk = rng.random(distinct)  # any shape of bad rate, including U shapes and noise
    target = (rng.random(rows) < risk[values.astype(int)]).astype(np.int8)
    target[:2] = (0, 1)
    values[rng.random(rows) < 0.1] = np.nan
    values[:2] = (0.0, 1.0)  # never constant
    options = {
        "max_bins": max_bins,
        "min_bin_share": min_bin_share,
        "min_bin_bad_count": min_bin_bad_count,
    }
    binning = bin_feature(
        values,
        target,
        feature="x",
        prebinning=prebinning,
        monotonic_trend=trend,
        max_prebins=12,
        **options,
    )
    assert binning.trend in (trend, TREND_FALLBACK)
    assert_constraints(binning, rows, **options)
    assert_binning_consistent(binning, values, target)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(30, 500),
    categories=st.integers(2, 30),
    trend=st.sampled_from(("auto", *TRENDS)),
    max_prebins=st.integers(2, 12),
)
def test_categorical_bins_ascend_in_bad_rate_and_respect_constraints(
    seed: int, rows: int, categories: int, trend: str, max_prebins: int
) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, categories, rows)
    values = pd.Series([f"c{code}" for code in codes], dtype=object)
    target = (rng.random(rows) < rng.random(categories)[codes]).astype(np.int8)
    target[:2] = (0, 1)
    values[:2] = ("c0", "c1")
    values[rng.random(rows) < 0.05] = None
    binning = bin_feature(
        values, target, feature="grade", monotonic_trend=trend, max_prebins=max_prebins
    )
    expected_trend = "none" if trend == "none" else "ascending"
    assert binning.trend in (expected_trend, TREND_FALLBACK)
    assert_constraints(binning, rows)
    rates = bad_rates(value_bins(binning))
    assert rates == sorted(rates)  # groups come in bad-rate order whatever the trend
    names = [name for bin_ in value_bins(binning) for name in bin_.categories]
    assert sorted(names) == sorted(set(values.dropna()))
    assert_binning_consistent(binning, values, target)


# --- the merge is the exact optimum ---


def brute_force_iv(
    good: list[int], bad: list[int], trend: str, max_bins: int, min_count: int, min_bad: int
) -> float | None:
    """The best IV over every partition of adjacent pre-bins, by enumeration."""
    size = len(good)
    best = None
    for mask in range(2 ** (size - 1)):
        starts = [0] + [index + 1 for index in range(size - 1) if mask >> index & 1]
        if len(starts) > max_bins:
            continue
        ends = [*starts[1:], size]
        goods = [sum(good[start:end]) for start, end in zip(starts, ends, strict=True)]
        bads = [sum(bad[start:end]) for start, end in zip(starts, ends, strict=True)]
        if any(g + b < min_count or b < min_bad for g, b in zip(goods, bads, strict=True)):
            continue
        if not follows_trend([b / (g + b) for g, b in zip(goods, bads, strict=True)], trend):
            continue
        iv = sum(
            hand_woe_iv(g, b, sum(good), sum(bad))[1] for g, b in zip(goods, bads, strict=True)
        )
        best = iv if best is None else max(best, iv)
    return best


prebin_counts = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 40)).filter(lambda pair: sum(pair) > 0),
    min_size=1,
    max_size=8,
).filter(lambda pairs: sum(g for g, _ in pairs) > 0 and sum(b for _, b in pairs) > 0)


@settings(max_examples=300, deadline=None)
@given(
    counts=prebin_counts,
    trend=st.sampled_from(TRENDS),
    max_bins=st.integers(1, 8),
    min_count=st.integers(0, 40),
    min_bad=st.integers(0, 5),
)
def test_merge_finds_the_brute_force_optimum(
    counts: list[tuple[int, int]], trend: str, max_bins: int, min_count: int, min_bad: int
) -> None:
    good = [pair[0] for pair in counts]
    bad = [pair[1] for pair in counts]
    partition = optimal_partition(
        np.array(good),
        np.array(bad),
        good_total=sum(good),
        bad_total=sum(bad),
        trend=trend,
        max_bins=max_bins,
        min_bin_count=min_count,
        min_bin_bad_count=min_bad,
    )
    expected = brute_force_iv(good, bad, trend, max_bins, min_count, min_bad)
    if expected is None:
        assert partition is None
        return
    assert partition is not None
    assert partition.iv == pytest.approx(expected, abs=1e-12)
    # the partition it returns is allowed and really has that IV
    ends = [*partition.starts[1:], len(good)]
    goods = [sum(good[start:end]) for start, end in zip(partition.starts, ends, strict=True)]
    bads = [sum(bad[start:end]) for start, end in zip(partition.starts, ends, strict=True)]
    assert partition.starts[0] == 0 and len(partition.starts) <= max_bins
    assert all(g + b >= min_count and b >= min_bad for g, b in zip(goods, bads, strict=True))
    assert follows_trend([b / (g + b) for g, b in zip(goods, bads, strict=True)], trend)
    _, ivs = woe_iv(np.array(goods), np.array(bads), sum(good), sum(bad))
    assert float(ivs.sum()) == pytest.approx(partition.iv, abs=1e-12)


merge_problems = st.lists(
    st.tuples(
        prebin_counts,
        st.lists(st.sampled_from(TRENDS), min_size=1, max_size=5, unique=True),
        st.integers(1, 8),
        st.integers(0, 40),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(problems=merge_problems)
def test_merging_many_problems_at_once_finds_each_ones_own_optimum(
    problems: list[tuple[list[tuple[int, int]], list[str], int, int, int]],
) -> None:
    """Problems of different sizes, trends and caps share one programme (the smaller padded),
    yet each gets exactly the partition it gets alone, to the last bit of its IV."""
    merged = [
        MergeProblem(
            good_counts=np.array([pair[0] for pair in counts]),
            bad_counts=np.array([pair[1] for pair in counts]),
            good_total=sum(pair[0] for pair in counts),
            bad_total=sum(pair[1] for pair in counts),
            min_bin_count=min_count,
            min_bin_bad_count=min_bad,
            trends=tuple(trends),
            max_bins=max_bins,
        )
        for counts, trends, max_bins, min_count, min_bad in problems
    ]
    for problem, partitions in zip(merged, optimal_partitions(merged), strict=True):
        assert set(partitions) == set(problem.trends)
        for trend, partition in partitions.items():
            alone = optimal_partition(
                problem.good_counts,
                problem.bad_counts,
                good_total=problem.good_total,
                bad_total=problem.bad_total,
                trend=trend,
                max_bins=problem.max_bins,
                min_bin_count=problem.min_bin_count,
                min_bin_bad_count=problem.min_bin_bad_count,
            )
            assert partition == alone


def test_exactly_equal_partitions_are_decided_by_the_documented_order() -> None:
    """Mirror-image pre-bins give two partitions of exactly the same IV: the fewest bins win,
    then the earliest start of the last bin, whatever else shares the programme."""
    good, bad = np.array([10, 20, 10]), np.array([5, 2, 5])
    options = {"good_total": 40, "bad_total": 12, "min_bin_count": 0, "min_bin_bad_count": 0}
    alone = optimal_partition(good, bad, trend="none", max_bins=2, **options)
    assert alone is not None and alone.starts == (0, 1)
    _, left = woe_iv(np.array([10, 30]), np.array([5, 7]), 40, 12)
    _, right = woe_iv(np.array([30, 10]), np.array([7, 5]), 40, 12)
    assert alone.iv == float(left.sum()) == float(right.sum())
    identical = optimal_partition(
        np.array([10] * 4),
        np.array([5] * 4),
        good_total=40,
        bad_total=20,
        trend="none",
        max_bins=3,
        min_bin_count=0,
        min_bin_bad_count=0,
    )
    assert identical is not None and identical.starts == (0,)  # every split adds nothing
    other = MergeProblem(
        np.array([50, 5, 40, 1]), np.array([1, 20, 2, 9]), 96, 32, 0, 0, ("peak",), 8
    )
    mirrored = MergeProblem(good, bad, 40, 12, 0, 0, ("none",), 2)
    assert optimal_partitions([other, mirrored])[1]["none"] == alone


def test_merge_beats_greedy_adjacent_merging() -> None:
    """A greedy merge of the closest neighbours can lock in a worse partition than the optimum."""
    rng = np.random.default_rng(7)
    for _ in range(50):
        good = rng.integers(5, 60, 8)
        bad = rng.integers(1, 30, 8)
        options = {"good_total": int(good.sum()), "bad_total": int(bad.sum())}
        best = optimal_partition(
            good, bad, trend="none", max_bins=3, min_bin_count=0, min_bin_bad_count=0, **options
        )
        greedy_good, greedy_bad = list(good), list(bad)
        while len(greedy_good) > 3:
            rates = [b / (g + b) for g, b in zip(greedy_good, greedy_bad, strict=True)]
            index = int(np.argmin(np.abs(np.diff(rates))))
            greedy_good[index : index + 2] = [greedy_good[index] + greedy_good[index + 1]]
            greedy_bad[index : index + 2] = [greedy_bad[index] + greedy_bad[index + 1]]
        _, greedy_iv = woe_iv(np.array(greedy_good), np.array(greedy_bad), **options)
        assert best is not None
        assert best.iv >= float(greedy_iv.sum()) - 1e-12


def test_auto_keeps_the_better_of_ascending_and_descending() -> None:
    values, target = step_data()
    reversed_values = 100 - values
    for data, expected in ((values, "ascending"), (reversed_values, "descending")):
        auto = bin_feature(data, target, feature="x")
        ascending = bin_feature(data, target, feature="x", monotonic_trend="ascending")
        descending = bin_feature(data, target, feature="x", monotonic_trend="descending")
        assert auto.trend == expected
        assert auto.iv == pytest.approx(max(ascending.iv, descending.iv))


def test_valley_shaped_risk_is_binned_as_a_valley_with_more_iv_than_a_monotone_trend() -> None:
    rng = np.random.default_rng(3)
    ages = rng.integers(18, 80, 5000).astype(np.float64)
    risk = 0.05 + 0.5 * ((ages - 45) / 35) ** 2
    target = (rng.random(ages.size) < risk).astype(np.int8)
    valley = bin_feature(ages, target, feature="age", monotonic_trend="valley")
    descending = bin_feature(ages, target, feature="age", monotonic_trend="descending")
    auto = bin_feature(ages, target, feature="age")
    assert valley.trend == "valley"
    rates = bad_rates(value_bins(valley))
    assert follows_trend(rates, "valley")
    assert rates[0] > min(rates) < rates[-1]  # it really turns
    assert valley.iv > descending.iv
    assert (auto.trend, auto.iv) == ("valley", valley.iv)  # a real turn wins on held-out rows
    peak = bin_feature(ages, 1 - target, feature="age", monotonic_trend="peak")
    assert follows_trend(bad_rates(value_bins(peak)), "peak")


@pytest.mark.parametrize("seed", range(5))
def test_auto_keeps_a_monotone_trend_when_a_turn_is_only_noise(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=800)
    target = (rng.random(values.size) < 1 / (1 + np.exp(2 - values))).astype(np.int8)
    assert bin_feature(values, target, feature="x").trend == "ascending"


@pytest.mark.parametrize("prebinning", ["quantile", "tree", "chimerge"])
def test_every_prebinning_finds_a_step_in_risk(prebinning: str) -> None:
    values, target = step_data(distinct=20)  # few enough values for every method to see the step
    binning = bin_feature(values, target, feature="x", prebinning=prebinning)
    assert binning.trend == "ascending"
    assert 10 in [bin_.lower for bin_ in value_bins(binning)]
    assert_binning_consistent(binning, values, target)


def test_max_prebins_bounds_the_prebins() -> None:
    values, target = step_data(rows=3000)
    for prebinning in ("quantile", "tree", "chimerge"):
        binning = bin_feature(
            values, target, feature="x", prebinning=prebinning, max_prebins=3, max_bins=10
        )
        assert len(value_bins(binning)) <= 3


# --- known answers ---


def test_woe_and_iv_known_answer() -> None:
    # A: 40 good 10 bad; B: 30 good 20 bad; C: 10 good 30 bad. Goods 80, bads 60.
    values = ["A"] * 50 + ["B"] * 50 + ["C"] * 40
    target = [0] * 40 + [1] * 10 + [0] * 30 + [1] * 20 + [0] * 10 + [1] * 30
    binning = bin_feature(values, target, feature="grade", min_bin_share=0.05)
    assert [bin_.label for bin_ in binning.bins] == ["{A}", "{B}", "{C}", "missing"]
    expected_woe = [
        math.log((10 / 60) / (40 / 80)),  # -1.0986: safer than average
        math.log((20 / 60) / (30 / 80)),  # -0.1178
        math.log((30 / 60) / (10 / 80)),  # +1.3863: riskier
    ]
    for bin_, woe in zip(binning.bins, expected_woe, strict=False):
        assert bin_.woe == pytest.approx(woe, abs=1e-12)
    expected_iv = (
        (10 / 60 - 40 / 80) * expected_woe[0]
        + (20 / 60 - 30 / 80) * expected_woe[1]
        + (30 / 60 - 10 / 80) * expected_woe[2]
    )
    assert binning.iv == pytest.approx(expected_iv, abs=1e-12)
    assert binning.iv == pytest.approx(0.8910, abs=1e-4)  # 0.3662 + 0.0049 + 0.5199, by hand


def test_zero_count_rule_known_answer() -> None:
    """A bin with 10 goods and no bads: WoE = ln((0.5/50) / (10.5/100)); an empty bin is 0."""
    values = [1.0] * 45 + [2.0] * 95 + [math.nan] * 10
    target = [1] * 25 + [0] * 20 + [1] * 25 + [0] * 70 + [0] * 10  # goods 100, bads 50
    binning = bin_feature(values, target, feature="x", special_codes=[96], max_bins=1)
    missing = binning.bins[-1]
    assert (missing.good_count, missing.bad_count) == (10, 0)
    assert missing.woe == pytest.approx(math.log(0.01 / 0.105), abs=1e-12)  # -2.3514
    assert missing.iv == pytest.approx((0.01 - 0.105) * math.log(0.01 / 0.105), abs=1e-12)
    special = binning.bins[-2]
    assert special.label == "special 96"
    assert (special.count, special.woe, special.iv) == (0, 0.0, 0.0)


def test_missing_and_special_values_get_their_own_bins() -> None:
    values, target = step_data(rows=3000)  # values 0..99
    values = values.copy()
    values[:300] = np.nan
    values[300:500] = 996
    values = values.astype(object)
    values[500:600] = None
    binning = bin_feature(
        values, target, feature="months", dtype="numeric", special_codes=[996, 997]
    )
    labels = [bin_.label for bin_ in binning.bins]
    assert labels[-3:] == ["special 996", "special 997", "missing"]
    assert binning.bins[-3].count == 200
    assert binning.bins[-2].count == 0
    assert binning.bins[-1].count == 400
    assert value_bins(binning)[-1].lower < 100  # 996 took no part in the cut points
    assert_binning_consistent(binning, values, target)
    indices = binning.bin_indices([996, 997, None, math.nan, -1e9, 1e9])
    last_value_bin = len(labels) - 4
    expected = [last_value_bin + 1, last_value_bin + 2, last_value_bin + 3, last_value_bin + 3]
    assert indices.tolist() == [*expected, 0, last_value_bin]


def test_missing_bin_is_present_and_neutral_when_training_had_no_missing() -> None:
    values, target = step_data()
    binning = bin_feature(values, target, feature="x")
    missing = binning.bins[-1]
    assert (missing.kind, missing.label, missing.count, missing.woe) == (
        "missing",
        "missing",
        0,
        0.0,
    )
    assert binning.woe_values([None, math.nan]).tolist() == [0.0, 0.0]


def test_infinite_values_fall_in_the_outer_bins() -> None:
    values, target = step_data()
    values = values.copy()
    values[:100] = math.inf
    values[100:200] = -math.inf
    for prebinning in ("quantile", "tree", "chimerge"):
        binning = bin_feature(values, target, feature="x", prebinning=prebinning, max_prebins=50)
        assert all(math.isfinite(bin_.lower) for bin_ in value_bins(binning)[1:])
        assert binning.bin_indices([math.inf, -math.inf]).tolist() == [
            len(value_bins(binning)) - 1,
            0,
        ]
        assert_binning_consistent(binning, values, target)


def test_interval_labels_and_edges() -> None:
    values = np.array([1.5] * 50 + [12.5] * 50 + [30.0] * 50)
    target = np.array([0] * 45 + [1] * 5 + [0] * 35 + [1] * 15 + [0] * 20 + [1] * 30)
    binning = bin_feature(values, target, feature="x")
    assert [bin_.label for bin_ in binning.bins] == [
        "[-inf, 12.5)",
        "[12.5, 30)",
        "[30, inf)",
        "missing",
    ]
    assert binning.bin_indices([12.4999, 12.5, 29.99, 30, 1e12, -1e12]).tolist() == [
        0,
        1,
        1,
        2,
        2,
        0,
    ]


# --- fallback ---


def test_no_allowed_partition_falls_back_to_one_recorded_bin() -> None:
    values, target = step_data(rows=200)
    target[:] = 0
    target[:3] = 1  # three bads: no bin can hold five
    binning = bin_feature(values, target, feature="x", min_bin_bad_count=5)
    assert binning.trend == TREND_FALLBACK
    assert len(value_bins(binning)) == 1
    assert value_bins(binning)[0].label == "[-inf, inf)"
    assert_binning_consistent(binning, values, target)


def test_a_column_of_only_special_codes_and_missing_falls_back_without_crashing() -> None:
    values = [96.0] * 60 + [math.nan] * 40
    target = [0, 1] * 50
    binning = bin_feature(values, target, feature="x", special_codes=[96])
    assert binning.trend == TREND_FALLBACK
    assert [bin_.label for bin_ in binning.bins] == ["[-inf, inf)", "special 96", "missing"]
    assert binning.bins[0].count == 0 and binning.bins[0].woe == 0.0
    assert_binning_consistent(binning, values, np.array(target))


def test_a_dominant_missing_share_leaves_no_room_and_falls_back() -> None:
    values = [1.0, 2.0] * 5 + [math.nan] * 990  # 1% of rows have values, min share is 5%
    target = np.array([0, 1] * 500)
    binning = bin_feature(values, target, feature="x")
    assert binning.trend == TREND_FALLBACK
    assert_binning_consistent(binning, values, target)


# --- categorical features ---


def test_categories_are_strings_grouped_in_bad_rate_order() -> None:
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 6, 3000)
    risk = np.array([0.05, 0.5, 0.1, 0.3, 0.2, 0.4])
    target = (rng.random(codes.size) < risk[codes]).astype(np.int8)
    binning = bin_feature(pd.Series(codes), target, feature="region", dtype="categorical")
    assert binning.dtype == "categorical"
    assert all(isinstance(name, str) for bin_ in binning.bins for name in bin_.categories)
    order = [name for bin_ in value_bins(binning) for name in bin_.categories]
    assert order == ["0", "2", "4", "3", "5", "1"]
    assert (
        binning.bin_indices(np.array([0, 1])).tolist() == binning.bin_indices(["0", "1"]).tolist()
    )
    assert_binning_consistent(binning, pd.Series(codes), target)


def test_more_categories_than_prebins_are_grouped_with_their_bad_rate_neighbours() -> None:
    rng = np.random.default_rng(6)
    codes = rng.integers(0, 40, 4000)
    target = (rng.random(codes.size) < codes / 50).astype(np.int8)
    binning = bin_feature(
        [f"k{code:02d}" for code in codes], target, feature="k", max_prebins=5, max_bins=5
    )
    assert len(value_bins(binning)) <= 5
    groups = [sorted(int(name[1:]) for name in bin_.categories) for bin_ in value_bins(binning)]
    assert sorted(code for group in groups for code in group) == list(range(40))
    assert groups[0][0] < groups[-1][-1]


def test_bool_and_pandas_category_columns_are_categorical() -> None:
    rng = np.random.default_rng(8)
    flags = rng.random(1000) < 0.5
    target = (rng.random(1000) < np.where(flags, 0.4, 0.1)).astype(np.int8)
    binning = bin_feature(pd.Series(flags), target, feature="flag")
    assert binning.dtype == "categorical"
    assert [bin_.categories for bin_ in value_bins(binning)] == [("False",), ("True",)]
    categorical = pd.Series(pd.Categorical(np.where(flags, "y", "n"), categories=["n", "y", "z"]))
    binning = bin_feature(categorical, target, feature="flag")
    assert [bin_.categories for bin_ in value_bins(binning)] == [("n",), ("y",)]
    with pytest.raises(UnseenCategoryError):
        binning.bin_indices(pd.Series(["z"]))


def test_unseen_categories_follow_the_chosen_policy() -> None:
    values = ["A"] * 50 + ["B"] * 50 + ["C"] * 40
    target = [0] * 40 + [1] * 10 + [0] * 30 + [1] * 20 + [0] * 10 + [1] * 30
    binning = bin_feature(values, target, feature="grade")
    unseen = ["A", "Q", "R", "S", "T", "U", "V", "W"]
    with pytest.raises(UnseenCategoryError, match="grade") as raised:
        binning.bin_indices(unseen)
    assert "'Q'" in raised.value.message and "'U'" in raised.value.message
    assert "'V'" not in raised.value.message and "and 2 more" in raised.value.message
    missing_position = len(binning.bins) - 1
    assert binning.bin_indices(["A", "Q"], "missing").tolist() == [0, missing_position]
    riskiest = int(np.argmax([bin_.woe for bin_ in binning.bins]))
    assert binning.bins[riskiest].categories == ("C",)
    assert binning.bin_indices(["Q"], "riskiest").tolist() == [riskiest]
    assert binning.woe_values(["Q"], "riskiest")[0] == pytest.approx(binning.bins[riskiest].woe)
    with pytest.raises(ValueError, match="unseen_category"):
        binning.bin_indices(["A"], "zero")


def test_special_codes_of_a_categorical_feature_match_as_text() -> None:
    values = ["A", "B"] * 100 + ["N/A"] * 20
    target = [0, 1, 0, 0] * 50 + [1] * 20
    binning = bin_feature(values, target, feature="grade", special_codes=["N/A", "unknown"])
    assert [bin_.label for bin_ in binning.bins][-3:] == [
        "special N/A",
        "special unknown",
        "missing",
    ]
    assert binning.bins[-3].count == 20
    assert_binning_consistent(binning, values, np.array(target))


# --- JSON round trip and strict loading ---


def sample_binnings() -> list[FeatureBinning]:
    values, target = step_data()
    values = values.copy()
    values[:100] = np.nan
    values[100:150] = -1
    numeric = bin_feature(values, target, feature="months", special_codes=[-1, 999])
    grades = np.where(values < 30, "A", np.where(values < 70, "B", "C")).astype(object)
    grades[:40] = None
    grades[40:60] = "X"
    categorical = bin_feature(grades, target, feature="grade", special_codes=["X"])
    return [numeric, categorical]


@pytest.mark.parametrize("binning", sample_binnings(), ids=["numeric", "categorical"])
def test_json_round_trip_is_exact(binning: FeatureBinning) -> None:
    text = json.dumps(binning.to_dict(), allow_nan=False)
    loaded = FeatureBinning.from_dict(json.loads(text))
    assert loaded == binning
    probe = [None, 5, 50, 1e9, -1] if binning.dtype == "numeric" else ["A", "B", "C", "X", None]
    assert loaded.woe_values(probe).tolist() == binning.woe_values(probe).tolist()


def _mutations() -> list[tuple[str, Callable[[dict[str, Any]], None]]]:
    def setter(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
        def mutate(data: dict[str, Any]) -> None:
            target = data
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value

        return mutate

    def deleter(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
        def mutate(data: dict[str, Any]) -> None:
            target = data
            for key in path[:-1]:
                target = target[key]
            del target[path[-1]]

        return mutate

    return [
        ("missing feature", deleter(("feature",))),
        ("extra field", setter(("version",), 2)),
        ("empty feature", setter(("feature",), "")),
        ("unknown dtype", setter(("dtype",), "text")),
        ("unresolved trend", setter(("trend",), "auto")),
        ("iv not the sum", setter(("iv",), 12.0)),
        ("iv text", setter(("iv",), "0.3")),
        ("bins not a list", setter(("bins",), {})),
        ("no bins", setter(("bins",), [])),
        ("bool count", setter(("bins", 0, "good_count"), True)),
        ("negative count", setter(("bins", 0, "bad_count"), -1)),
        ("float count", setter(("bins", 0, "bad_count"), 1.5)),
        ("nan woe", setter(("bins", 0, "woe"), math.nan)),
        ("woe text", setter(("bins", 0, "woe"), "high")),
        ("unknown kind", setter(("bins", 0, "kind"), "range")),
        ("label not text", setter(("bins", 0, "label"), 3)),
        ("bin extra field", setter(("bins", 0, "categories"), [])),
        ("bin missing edge", deleter(("bins", 0, "upper"))),
        ("first edge not -inf", setter(("bins", 0, "lower"), 0)),
        ("edge word", setter(("bins", 0, "upper"), "infinity")),
        ("gap between bins", setter(("bins", 1, "lower"), 1e6)),
        ("missing bin not last", lambda data: data["bins"].reverse()),
        ("two missing bins", lambda data: data["bins"].append(copy.deepcopy(data["bins"][-1]))),
        ("no missing bin", lambda data: data["bins"].pop()),
        ("special code text", setter(("bins", -3, "special_codes"), ["-1"])),
        ("special code nan", setter(("bins", -3, "special_codes"), [math.nan])),
        ("special without codes", setter(("bins", -3, "special_codes"), [])),
        ("bin not an object", setter(("bins", 0), "bin")),
    ]


@pytest.mark.parametrize(("case", "mutate"), _mutations(), ids=[case for case, _ in _mutations()])
def test_malformed_binning_data_is_refused(
    case: str, mutate: Callable[[dict[str, Any]], None]
) -> None:
    data = json.loads(json.dumps(sample_binnings()[0].to_dict()))
    mutate(data)
    with pytest.raises(ModelFileError):
        FeatureBinning.from_dict(data)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda data: data["bins"][0]["categories"].append(data["bins"][1]["categories"][0]),
        lambda data: data["bins"][0].update(categories=[1]),
        lambda data: data["bins"][-2].update(special_codes=[data["bins"][0]["categories"][0]]),
        lambda data: data.update(dtype="numeric"),
    ],
    ids=["duplicate category", "category not text", "special code is a category", "wrong dtype"],
)
def test_malformed_categorical_binning_is_refused(mutate: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(json.dumps(sample_binnings()[1].to_dict()))
    mutate(data)
    with pytest.raises(ModelFileError):
        FeatureBinning.from_dict(data)


def test_non_mapping_data_is_refused() -> None:
    for data in (None, [], "binning"):
        with pytest.raises(ModelFileError):
            FeatureBinning.from_dict(data)


# --- bad input ---


def test_constant_and_all_missing_columns_are_refused_by_name() -> None:
    target = [0, 1] * 50
    with pytest.raises(ScoringDataError, match=r"'flat'.*constant"):
        bin_feature([7.0] * 100, target, feature="flat")
    with pytest.raises(ScoringDataError, match=r"'flat'.*constant"):
        bin_feature(["a"] * 100, target, feature="flat")
    with pytest.raises(ScoringDataError, match=r"'empty'.*all missing"):
        bin_feature([math.nan] * 100, target, feature="empty")
    with pytest.raises(ScoringDataError, match=r"'empty'.*all missing"):
        bin_feature([None] * 100, target, feature="empty", dtype="categorical")


def test_text_in_a_numeric_column_is_refused_by_name() -> None:
    values = pd.Series(["1", "2", "three", None] * 25, dtype=object)
    with pytest.raises(ScoringDataError, match=r"'income'.*'three'"):
        bin_feature(values, [0, 1] * 50, feature="income", dtype="numeric")
    good = pd.Series(["1", "2.5", "7", None] * 25, dtype=object)
    binning = bin_feature(good, [0, 1, 1, 0] * 25, feature="income", dtype="numeric")
    assert binning.dtype == "numeric"
    with pytest.raises(ScoringDataError, match="'income'"):
        binning.bin_indices(["x"])


@pytest.mark.parametrize("target", [[0, 2] * 50, [0] * 100, [0, 1] * 49 + [0, math.nan]])
def test_a_target_that_is_not_binary_is_refused(target: list[float]) -> None:
    with pytest.raises(ScoringDataError):
        bin_feature(list(range(100)), target, feature="x")


def test_values_and_target_of_different_lengths_are_refused() -> None:
    with pytest.raises(ScoringDataError, match="'x'"):
        bin_feature(list(range(10)), [0, 1] * 6, feature="x")


@pytest.mark.parametrize(
    ("options", "parameter"),
    [
        ({"max_bins": 0}, "max_bins"),
        ({"max_bins": 2.5}, "max_bins"),
        ({"max_prebins": 1}, "max_prebins"),
        ({"max_prebins": 1000}, "max_prebins"),
        ({"min_bin_share": 0}, "min_bin_share"),
        ({"min_bin_share": 0.6}, "min_bin_share"),
        ({"min_bin_share": True}, "min_bin_share"),
        ({"min_bin_bad_count": -1}, "min_bin_bad_count"),
        ({"monotonic_trend": "up"}, "monotonic_trend"),
        ({"prebinning": "kmeans"}, "prebinning"),
        ({"special_codes": "96"}, "special_codes"),
        ({"special_codes": [math.inf]}, "special_codes"),
        ({"special_codes": ["n/a"]}, "special_codes"),
        ({"dtype": "float"}, "dtype"),
    ],
)
def test_bad_parameters_are_value_errors_naming_the_parameter(
    options: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(ValueError, match=parameter):
        bin_feature(list(range(100)), [0, 1] * 50, feature="x", **options)


@pytest.mark.parametrize(
    ("options", "parameter"),
    [
        ({"max_bins": 0}, "max_bins"),
        ({"min_bin_share": 0.7}, "min_bin_share"),
        ({"monotonic_trend": {"nope": "ascending"}}, "monotonic_trend"),
        ({"monotonic_trend": {"a": "sideways"}}, "monotonic_trend"),
        ({"special_codes": {"nope": [1]}}, "special_codes"),
        ({"special_codes": 96}, "special_codes"),
        ({"categorical_features": ["nope"]}, "categorical_features"),
        ({"categorical_features": "b"}, "categorical_features"),
        ({"monotonic_trend": ["ascending"]}, "monotonic_trend"),
        ({"unseen_category": "drop"}, "unseen_category"),
        ({"output": "bins"}, "output"),
    ],
)
def test_binner_refuses_bad_parameters_in_fit(options: dict[str, Any], parameter: str) -> None:
    binner = WoEBinner(**options)  # __init__ only stores
    frame = pd.DataFrame({"a": np.arange(100.0), "b": np.arange(100.0) % 7})
    with pytest.raises(ValueError, match=parameter):
        binner.fit(frame, [0, 1] * 50)


# --- the transformer ---


def small_frame(rows: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows).astype(np.float64),
            "grade": rng.choice(["A", "B", "C", "D"], rows),
            "utilisation": rng.random(rows),
        }
    )
    frame.loc[rng.random(rows) < 0.05, "utilisation"] = np.nan
    logit = -1 + (frame["grade"] == "D") * 1.2 - (frame["age"] - 50) / 30
    target = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return frame, target


def test_binner_transforms_to_woe_and_to_bin_indices() -> None:
    frame, target = small_frame()
    binner = WoEBinner().fit(frame, target)
    assert list(binner.feature_names_in_) == ["age", "grade", "utilisation"]
    assert binner.n_features_in_ == 3
    assert binner.binnings_["grade"].dtype == "categorical"
    woe = binner.transform(frame)
    assert woe.dtype == np.float64 and woe.shape == (1000, 3)
    for column, name in enumerate(binner.feature_names_in_):
        assert woe[:, column].tolist() == binner.binnings_[name].woe_values(frame[name]).tolist()
    indices = WoEBinner(output="index").fit(frame, target).transform(frame)
    assert indices.dtype == np.int32
    assert indices[:, 1].tolist() == binner.binnings_["grade"].bin_indices(frame["grade"]).tolist()
    assert list(binner.get_feature_names_out()) == ["age", "grade", "utilisation"]
    ivs = binner.information_values()
    assert set(ivs) == {"age", "grade", "utilisation"}
    assert ivs["age"] == binner.binnings_["age"].iv > ivs["utilisation"]


@pytest.mark.parametrize("output", ["woe", "index"])
def test_fit_transform_places_training_rows_where_transform_would(output: str) -> None:
    """fit_transform reuses what fitting knows about each row instead of reading it again; the
    answer must be exactly transform's, special codes and missing values included."""
    frame, target = small_frame()
    frame["grade"] = frame["grade"].where(frame["age"] < 75)  # missing categories
    frame["age"] = frame["age"].where(frame["age"] % 7 != 0, -1.0)  # a special code
    binner = WoEBinner(special_codes={"age": [-1.0]}, output=output)
    fitted = binner.fit_transform(frame, target)
    expected = WoEBinner(special_codes={"age": [-1.0]}, output=output).fit(frame, target)
    assert fitted.dtype == expected.transform(frame).dtype
    np.testing.assert_array_equal(fitted, expected.transform(frame))


@pytest.mark.parametrize(
    ("values", "grouping"),
    [
        (np.random.default_rng(1).integers(0, 300, 5000) * 0.25, "hashing"),
        (np.random.default_rng(2).normal(size=5000), "sorting"),
        (np.random.default_rng(3).integers(0, 40, 800) * 1.0, "sorting"),
    ],
)
def test_hashing_and_sorting_count_distinct_values_alike(values: np.ndarray, grouping: str) -> None:
    """Pre-binning counts distinct values by hashing when they repeat and by sorting when they
    barely do; either way the counts are those of np.unique."""
    target = (np.random.default_rng(4).random(values.size) < 0.2).astype(np.int8)
    distinct, counts, bad, groups = _distinct_counts(values, target)
    assert (groups is not None) == (grouping == "hashing")
    expected, expected_counts = np.unique(values, return_counts=True)
    np.testing.assert_array_equal(distinct, expected)
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_array_equal(bad, [target[values == value].sum() for value in expected])
    if groups is not None:
        np.testing.assert_array_equal(groups.values[groups.codes], values)


def test_binner_matches_columns_by_name_and_allows_values_outside_training_range() -> None:
    frame, target = small_frame()
    binner = WoEBinner().fit(frame, target)
    reordered = frame[["utilisation", "grade", "age"]].assign(extra=1)
    assert binner.transform(reordered).tolist() == binner.transform(frame).tolist()
    far = frame.head(2).assign(age=[-1000.0, 1e9])
    woe = binner.transform(far)
    age_bins = binner.binnings_["age"].bins
    assert woe[:, 0].tolist() == [age_bins[0].woe, age_bins[-2].woe]
    with pytest.raises(MissingFeatureError, match="grade"):
        binner.transform(frame.drop(columns="grade"))


def test_binner_refuses_an_array_with_another_number_of_columns() -> None:
    rng = np.random.default_rng(0)
    features = rng.random((200, 3))
    target = (rng.random(200) < features[:, 0]).astype(np.int8)
    binner = WoEBinner().fit(features, target)
    assert list(binner.feature_names_in_) == ["x0", "x1", "x2"]
    with pytest.raises(ScoringDataError, match="expecting 3 features"):
        binner.transform(features[:, :2])
    with pytest.raises(ScoringDataError, match="expecting 3 features"):
        binner.transform(np.hstack([features, features]))


def test_binner_per_feature_trends_special_codes_and_declared_categoricals() -> None:
    frame, target = small_frame()
    frame["months"] = np.where(np.arange(1000) % 10 == 0, 999.0, frame["age"] % 12)
    binner = WoEBinner(
        monotonic_trend={"age": "valley", "grade": "none"},
        special_codes={"months": [999]},
        categorical_features=["grade", "months"],
    ).fit(frame, target)
    assert binner.binnings_["age"].trend in ("valley", TREND_FALLBACK)
    assert binner.binnings_["grade"].trend == "none"
    assert binner.binnings_["utilisation"].trend in ("ascending", "descending")
    months = binner.binnings_["months"]
    assert months.dtype == "categorical"
    assert [bin_.label for bin_ in months.bins][-2:] == ["special 999", "missing"]
    assert months.bins[-2].count == 100


def test_binner_applies_a_list_of_special_codes_to_numeric_features_only() -> None:
    frame, target = small_frame()
    frame.loc[:49, "age"] = -1
    binner = WoEBinner(special_codes=[-1]).fit(frame, target)
    assert binner.binnings_["age"].bins[-2].label == "special -1"
    assert binner.binnings_["age"].bins[-2].count == 50
    assert all(bin_.kind != "special" for bin_ in binner.binnings_["grade"].bins)


def test_binner_unseen_category_policy_reaches_transform() -> None:
    frame, target = small_frame()
    probe = frame.head(3).assign(grade=["A", "Z", "B"])
    with pytest.raises(UnseenCategoryError, match="'Z'"):
        WoEBinner().fit(frame, target).transform(probe)
    binner = WoEBinner(unseen_category="missing", output="index").fit(frame, target)
    missing_position = len(binner.binnings_["grade"].bins) - 1
    assert binner.transform(probe)[1, 1] == missing_position


def test_binner_before_fit_says_so() -> None:
    with pytest.raises(NotFittedError):
        WoEBinner().information_values()


def test_german_credit_smoke() -> None:
    frame = pd.read_csv(GERMAN_CREDIT)
    target = (frame.pop("creditability") == "bad").astype(np.int8)
    binner = WoEBinner().fit(frame, target)
    ivs = binner.information_values()
    assert ivs["status_of_existing_checking_account"] > 0.3
    assert max(ivs, key=ivs.__getitem__) == "status_of_existing_checking_account"
    assert binner.binnings_["duration_in_month"].trend == "ascending"  # longer loans, riskier
    woe = binner.transform(frame)
    assert woe.shape == (1000, frame.shape[1]) and np.isfinite(woe).all()
    for name, binning in binner.binnings_.items():
        assert_binning_consistent(binning, frame[name], target.to_numpy())


def test_binning_150k_rows_by_10_features_is_fast() -> None:
    """The target is well under 1 s; the bound leaves room for a busy shared test machine."""
    rng = np.random.default_rng(0)
    rows = 150_000
    frame = pd.DataFrame({f"f{index}": rng.normal(size=rows) for index in range(9)})
    frame["grade"] = rng.choice(list("ABCDEFGHIJ"), rows)
    target = (rng.random(rows) < 1 / (1 + np.exp(2 - frame["f0"]))).astype(np.int8)
    started = time.perf_counter()
    binner = WoEBinner().fit(frame, target)
    elapsed_s = time.perf_counter() - started
    assert binner.information_values()["f0"] > 0.1
    assert elapsed_s < 4.0, elapsed_s


def test_an_all_missing_categorical_batch_scores_as_the_missing_bin() -> None:
    values = pd.Series(["a", "b", "a", "c", None] * 40)
    target = np.array([0, 1, 0, 1, 0] * 40)
    binning = bin_feature(values, target, feature="channel", min_bin_share=0.05)
    missing = len(binning.bins) - 1
    assert binning.bins[missing].kind == "missing"
    assert binning.bin_indices(pd.Series([None, np.nan], dtype=object)).tolist() == [missing] * 2
    assert binning.bin_indices(np.array([None], dtype=object)).tolist() == [missing]
