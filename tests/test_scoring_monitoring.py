"""Population stability: PSI and CSI worked by hand, their invariants, and the drift report.

Known answers use small counts so each share and logarithm can be checked on paper; the comments
give the arithmetic.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.errors import MissingFeatureError, ScoringDataError, UnseenCategoryError
from lendguard.scoring import monitoring
from lendguard.scoring.binning import FeatureBinning, bin_feature

EXAMPLES_MAX = 60

samples = st.lists(
    st.one_of(st.sampled_from([0.0, 1.0, 2.0]), st.floats(-1e6, 1e6), st.just(math.nan)),
    min_size=1,
    max_size=80,
).filter(lambda values: not all(math.isnan(value) for value in values))


# --- PSI, by hand -------------------------------------------------------------------------------


def test_an_empty_bucket_is_smoothed_not_dropped() -> None:
    # Counts [2, 0] and [1, 1], plus 0.5 each: expected [2.5, 0.5] / 3, actual [1.5, 1.5] / 3.
    # PSI = (1/2 - 5/6) ln(0.5 / (5/6)) + (1/2 - 1/6) ln(0.5 / (1/6)) = (1/3) ln 5.
    assert monitoring.psi_from_counts([2, 0], [1, 1]) == pytest.approx(math.log(5) / 3)
    # Dropping the empty bucket instead would leave one bucket holding everything: PSI 0.
    assert monitoring.psi_from_counts([2, 0], [1, 1]) > 0.5


def test_a_bucket_empty_in_both_samples_adds_nothing() -> None:
    assert monitoring.psi_from_counts([2, 0, 3], [1, 0, 4]) == monitoring.psi_from_counts(
        [2, 3], [1, 4]
    )
    # Shares [0.4, 0, 0.6] -> [0.2, 0, 0.8]: -0.2 ln(0.5) + 0.2 ln(4/3) = 0.2 ln(8/3).
    assert monitoring.psi_from_counts([2, 0, 3], [1, 0, 4], smoothing=0) == pytest.approx(
        0.2 * math.log(8 / 3)
    )


def test_smoothing_zero_is_the_plain_formula_and_refuses_an_empty_bucket() -> None:
    # Shares [0.5, 0.5] -> [0.25, 0.75]: -0.25 ln 0.5 + 0.25 ln 1.5 = 0.25 ln 3.
    assert monitoring.psi_from_counts([50, 50], [25, 75], smoothing=0) == pytest.approx(
        0.25 * math.log(3)
    )
    with pytest.raises(ScoringDataError, match="bucket 1 is empty in the expected sample"):
        monitoring.psi_from_counts([2, 0], [1, 1], smoothing=0)


def test_numeric_psi_cuts_at_expected_quantiles_closed_on_the_left() -> None:
    expected = np.arange(1.0, 11.0)
    # Two buckets: the cut for 0.5 is the value at sorted position 5, 6: (-inf, 6) and [6, +inf).
    # Actual [1, 1, 5, 6] counts [3, 1]; smoothed: expected [5.5, 5.5] / 11, actual [3.5, 1.5] / 5.
    # PSI = 0.2 ln(0.7 / 0.5) - 0.2 ln(0.3 / 0.5) = 0.2 ln(7 / 3).
    actual = [1.0, 1.0, 5.0, 6.0]
    assert monitoring.psi(expected, actual, bins=2) == pytest.approx(0.2 * math.log(7 / 3))
    rows = monitoring.psi_table(expected, actual, bins=2)
    assert [row["label"] for row in rows] == ["(-inf, 6)", "[6, +inf)"]
    assert [(row["lower"], row["upper"]) for row in rows] == [(None, 6.0), (6.0, None)]
    assert [row["actual_count"] for row in rows] == [3, 1]
    assert [row["actual_share"] for row in rows] == pytest.approx([0.7, 0.3])


def test_missing_values_get_their_own_bucket() -> None:
    # Cut 3 on 1..4; actual [1, nan]: counts (-inf, 3) 2|1, [3, +inf) 2|0, missing 0|1.
    rows = monitoring.psi_table([1.0, 2.0, 3.0, 4.0], [1.0, math.nan], bins=2)
    assert [row["label"] for row in rows] == ["(-inf, 3)", "[3, +inf)", "(missing)"]
    expected_share = np.array([2.5, 2.5, 0.5]) / 5.5
    actual_share = np.array([1.5, 0.5, 1.5]) / 3.5
    hand = np.sum((actual_share - expected_share) * np.log(actual_share / expected_share))
    assert monitoring.psi([1.0, 2.0, 3.0, 4.0], [1.0, math.nan], bins=2) == pytest.approx(hand)


def test_explicit_edges_with_or_without_infinities_agree() -> None:
    expected = [0.5, 1.5, 2.5, 3.5]
    actual = [0.1, 0.2, 3.0, 9.0]
    with_infinities = monitoring.psi(expected, actual, bins=[-math.inf, 1, 3, math.inf])
    assert with_infinities == monitoring.psi(expected, actual, bins=[1, 3])
    # 3.0 falls in [3, +inf): counts [1, 2, 1] and [2, 0, 2], smoothed shares
    # [1.5, 2.5, 1.5] / 5.5 and [2.5, 0.5, 2.5] / 5.5.
    expected_share = np.array([1.5, 2.5, 1.5]) / 5.5
    actual_share = np.array([2.5, 0.5, 2.5]) / 5.5
    hand = np.sum((actual_share - expected_share) * np.log(actual_share / expected_share))
    assert with_infinities == pytest.approx(hand)


# --- PSI, properties ----------------------------------------------------------------------------


@given(samples, samples, st.integers(1, 12))
@settings(max_examples=EXAMPLES_MAX, deadline=None)
def test_psi_buckets_hold_every_row_and_contributions_sum_to_psi(
    expected: list[float], actual: list[float], bins: int
) -> None:
    rows = monitoring.psi_table(expected, actual, bins=bins)
    interval_rows = [row for row in rows if row["label"] != "(missing)"]
    assert 1 <= len(interval_rows) <= bins
    assert all(row["expected_count"] > 0 for row in interval_rows)
    assert sum(row["expected_count"] for row in rows) == len(expected)
    assert sum(row["actual_count"] for row in rows) == len(actual)
    assert sum(row["expected_share"] for row in rows) == pytest.approx(1.0)
    assert all(row["contribution"] >= 0 for row in rows)
    total = sum(row["contribution"] for row in rows)
    assert monitoring.psi(expected, actual, bins=bins) == pytest.approx(total)
    json.dumps(rows, allow_nan=False)


@given(samples, st.integers(1, 12))
@settings(max_examples=EXAMPLES_MAX, deadline=None)
def test_psi_of_a_sample_against_itself_is_zero(values: list[float], bins: int) -> None:
    assert monitoring.psi(values, values, bins=bins) == 0.0


@given(
    st.lists(st.integers(0, 50), min_size=1, max_size=12)
    .flatmap(
        lambda counts: st.tuples(
            st.just(counts),
            st.lists(st.integers(0, 50), min_size=len(counts), max_size=len(counts)),
        )
    )
    .filter(lambda counts: sum(counts[0]) > 0 and sum(counts[1]) > 0),
    st.sampled_from([0.5, 1.0, 1e-3]),
)
@settings(max_examples=EXAMPLES_MAX, deadline=None)
def test_psi_from_counts_is_symmetric_and_not_negative(
    counts: tuple[list[int], list[int]], smoothing: float
) -> None:
    expected, actual = counts
    forward = monitoring.psi_from_counts(expected, actual, smoothing)
    assert forward >= 0
    assert forward == pytest.approx(monitoring.psi_from_counts(actual, expected, smoothing))


@pytest.mark.parametrize(
    ("expected", "actual", "message"),
    [
        ([1, 2], [1, 2, 3], "same length"),
        ([1, -2], [1, 2], "not negative"),
        ([], [], "empty"),
        ([0, 0], [1, 2], "expected sample is empty"),
    ],
)
def test_bad_counts_are_refused(expected: list, actual: list, message: str) -> None:
    with pytest.raises(ScoringDataError, match=message):
        monitoring.psi_from_counts(expected, actual, smoothing=0)


def test_bad_values_and_parameters_are_refused() -> None:
    with pytest.raises(ScoringDataError, match="must be numbers"):
        monitoring.psi(["a", "b"], [1.0])
    with pytest.raises(ScoringDataError, match="infinity"):
        monitoring.psi([1.0, math.inf], [1.0])
    with pytest.raises(ScoringDataError, match="no values"):
        monitoring.psi([math.nan], [1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        monitoring.psi([1.0, 2.0], [1.0], bins=[2, 1])
    with pytest.raises(ValueError, match="bins must be between"):
        monitoring.psi([1.0, 2.0], [1.0], bins=0)
    with pytest.raises(ValueError, match="smoothing"):
        monitoring.psi([1.0, 2.0], [1.0], smoothing=-1)


# --- CSI ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def income() -> tuple[np.ndarray, FeatureBinning]:
    """A numeric feature whose bad rate rises with it, and its real binning."""
    rng = np.random.default_rng(3)
    values = rng.normal(size=2000)
    target = (rng.random(2000) < 1 / (1 + np.exp(-values))).astype(int)
    return values, bin_feature(values, target, feature="income")


def one_bin_csi(binning: FeatureBinning, chosen: int, smoothing: float, kind: str) -> float:
    """CSI by hand from the binning's own table, when every actual row falls in bin ``chosen``."""
    rows = binning.table()
    counts = np.array([row["count"] for row in rows], dtype=float)
    woe = np.array([row["woe"] for row in rows])
    actual_counts = np.where(np.arange(counts.size) == chosen, counts[chosen], 0.0)
    # The missing bin is empty in both samples: it is left out (share 0, term 0).
    occupied = (counts + actual_counts) > 0
    assert not occupied[-1]
    counts, actual_counts, woe = counts[occupied], actual_counts[occupied], woe[occupied]
    expected = (counts + smoothing) / (counts.sum() + smoothing * counts.size)
    actual = (actual_counts + smoothing) / (actual_counts.sum() + smoothing * counts.size)
    if kind == "woe":
        return float(np.sum((actual - expected) * woe))
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def test_csi_woe_and_psi_definitions_against_the_binning_table(
    income: tuple[np.ndarray, FeatureBinning],
) -> None:
    values, binning = income
    riskiest = int(np.argmax([bin_.woe for bin_ in binning.bins]))
    chosen = binning.bins[riskiest]
    actual = values[(values >= chosen.lower) & (values < chosen.upper)]
    # Without smoothing, every actual row in one bin: CSI = woe_k - sum(share_i * woe_i).
    shares = np.array([row["share"] for row in binning.table()])
    woes = np.array([bin_.woe for bin_ in binning.bins])
    by_hand = chosen.woe - float(np.dot(shares, woes))
    assert monitoring.csi(values, actual, binning, smoothing=0) == pytest.approx(by_hand)
    assert by_hand > 0  # moving everyone into the riskiest bin is a move towards risk
    for smoothing in (0.5, 1.0):
        for kind in ("woe", "psi"):
            assert monitoring.csi(
                values, actual, binning, kind=kind, smoothing=smoothing
            ) == pytest.approx(one_bin_csi(binning, riskiest, smoothing, kind))
    with pytest.raises(ScoringDataError, match="empty in the actual sample"):
        monitoring.csi(values, actual, binning, kind="psi", smoothing=0)


def test_csi_is_zero_without_a_move_and_signed(income: tuple[np.ndarray, FeatureBinning]) -> None:
    values, binning = income
    assert monitoring.csi(values, values, binning) == 0.0
    assert monitoring.csi(values, values, binning, kind="psi") == 0.0
    assert monitoring.csi(values, values + 1.0, binning) > 0  # higher income bins are riskier here
    assert monitoring.csi(values, values - 1.0, binning) < 0
    with pytest.raises(ValueError, match="kind"):
        monitoring.csi(values, values, binning, kind="iv")  # type: ignore[arg-type]


def test_csi_passes_the_unseen_category_policy_to_the_binning() -> None:
    rng = np.random.default_rng(5)
    regions = rng.choice(["north", "south", "west"], 600)
    bad_rate = np.select([regions == "north", regions == "south"], [0.2, 0.5], 0.7)
    binning = bin_feature(regions, (rng.random(600) < bad_rate).astype(int), feature="region")
    with pytest.raises(UnseenCategoryError, match="east"):
        monitoring.csi(regions, ["east", "north"], binning)
    # As missing, both "east" rows land in the missing bin (WoE 0, last): CSI = -sum(share * woe).
    shares = np.array([row["share"] for row in binning.table()])
    woes = np.array([bin_.woe for bin_ in binning.bins])
    assert monitoring.csi(
        regions, ["east", "east"], binning, smoothing=0, unseen_category="missing"
    ) == pytest.approx(-float(np.dot(shares, woes)))


# --- drift report -------------------------------------------------------------------------------


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and scoring data: ``income`` shifts up, ``region`` gains a new value, ``age`` holds."""
    rng = np.random.default_rng(7)
    train = pd.DataFrame(
        {
            "income": rng.normal(10, 2, 2000),
            "age": rng.integers(20, 60, 2000),
            "region": rng.choice(["north", "south"], 2000),
            "score": rng.random(2000),
        }
    )
    scoring = pd.DataFrame(
        {
            "income": rng.normal(13, 2, 1000),
            "age": rng.integers(20, 60, 1000),
            "region": rng.choice(["north", "south", "east"], 1000),
            "score": rng.random(1000),
        }
    )
    train.loc[:199, "age"] = np.nan
    scoring.loc[:149, "age"] = np.nan
    return train, scoring


def test_drift_report_flags_shifts_and_is_json_safe() -> None:
    train, scoring = frames()
    report = monitoring.drift_report(
        train, scoring, ["income", "age", "region"], score_column="score"
    )
    assert json.loads(json.dumps(report, allow_nan=False)) == report
    features = report["features"]
    assert features["income"]["status"] == "shift"
    assert features["region"]["status"] == "shift"
    assert features["age"]["status"] == "stable"
    assert report["score"]["status"] == "stable"
    assert report["status"] == "shift"
    assert features["income"]["kind"] == "numeric"
    assert features["region"]["kind"] == "categorical"
    assert features["age"]["missing_rate_change"] == pytest.approx(0.05)
    assert features["age"]["bins"][-1]["label"] == "(missing)"
    assert "(missing)" not in [row["label"] for row in features["income"]["bins"]]
    assert features["income"]["psi"] == pytest.approx(
        monitoring.psi(train["income"], scoring["income"])
    )
    assert features["income"]["csi"] is None


def test_categorical_drift_counts_unseen_values_as_other() -> None:
    train = pd.DataFrame({"region": ["north"] * 6 + ["south"] * 4})
    scoring = pd.DataFrame({"region": ["north", "south", "east", "west", None]})
    (rows,) = [monitoring.drift_report(train, scoring, ["region"])["features"]["region"]["bins"]]
    assert [(row["label"], row["expected_count"], row["actual_count"]) for row in rows] == [
        ("north", 6, 1),
        ("south", 4, 1),
        ("(other)", 0, 2),
        ("(missing)", 0, 1),
    ]
    # Smoothed shares: train [6.5, 4.5, 0.5, 0.5] / 12, scoring [1.5, 1.5, 2.5, 1.5] / 7.
    expected_share = np.array([6.5, 4.5, 0.5, 0.5]) / 12
    actual_share = np.array([1.5, 1.5, 2.5, 1.5]) / 7
    hand = np.sum((actual_share - expected_share) * np.log(actual_share / expected_share))
    assert sum(row["contribution"] for row in rows) == pytest.approx(hand)


def test_rare_categories_share_the_other_bucket() -> None:
    names = [f"c{index:03d}" for index in range(monitoring.category_buckets_max + 20)]
    train = pd.DataFrame({"merchant": names + names[:3]})
    report = monitoring.drift_report(train, train, ["merchant"])
    labels = [row["label"] for row in report["features"]["merchant"]["bins"]]
    assert len(labels) == monitoring.category_buckets_max + 1
    assert labels[:3] == ["c000", "c001", "c002"]  # most frequent first
    assert labels[-1] == "(other)"
    assert report["features"]["merchant"]["psi"] == 0.0


def test_thresholds_are_parameters_and_the_bands_are_closed_as_documented() -> None:
    train, scoring = frames()
    strict = monitoring.drift_report(train, scoring, ["age"], watch_threshold=1e-9)
    assert strict["features"]["age"]["status"] == "watch"
    assert strict["thresholds"] == {"watch": 1e-9, "shift": 0.25}
    assert [monitoring.drift_status(value) for value in (0.0999, 0.1, 0.25, 0.2501)] == [
        "stable",
        "watch",
        "watch",
        "shift",
    ]


def test_drift_report_adds_csi_for_binned_features(
    income: tuple[np.ndarray, FeatureBinning],
) -> None:
    values, binning = income
    train = pd.DataFrame({"income": values, "age": np.arange(values.size) % 50})
    scoring = pd.DataFrame({"income": values[:500] + 0.5, "age": np.arange(500) % 50})
    report = monitoring.drift_report(
        train, scoring, ["income", "age"], binnings={"income": binning}, csi_kind="psi"
    )
    assert report["csi_kind"] == "psi"
    assert report["features"]["income"]["csi"] == pytest.approx(
        monitoring.csi(values, scoring["income"], binning, kind="psi")
    )
    assert report["features"]["age"]["csi"] is None
    with pytest.raises(ValueError, match="not among the features"):
        monitoring.drift_report(train, scoring, ["age"], binnings={"income": binning})
    with pytest.raises(ValueError, match="is for 'income'"):
        monitoring.drift_report(train, scoring, ["age"], binnings={"age": binning})


def test_drift_report_refuses_missing_columns_and_mismatched_types() -> None:
    train, scoring = frames()
    with pytest.raises(MissingFeatureError, match="income"):
        monitoring.drift_report(train, scoring.drop(columns="income"), ["income", "age"])
    with pytest.raises(MissingFeatureError, match="score"):
        monitoring.drift_report(train, scoring.drop(columns="score"), ["age"], score_column="score")
    scoring["income"] = scoring["income"].astype(str)
    with pytest.raises(ScoringDataError, match="income is numeric in training"):
        monitoring.drift_report(train, scoring, ["income"])
    with pytest.raises(ValueError, match="more than once: age"):
        monitoring.drift_report(train, train, ["age", "age"])
    with pytest.raises(ValueError, match="at least one"):
        monitoring.drift_report(train, train, [])
    with pytest.raises(ScoringDataError, match="rows"):
        monitoring.drift_report(train, train.iloc[:0], ["age"])


def test_nullable_and_all_missing_numeric_scoring_columns_are_accepted() -> None:
    train = pd.DataFrame({"age": pd.array([30, 40, None, 50], dtype="Int64")})
    scoring = pd.DataFrame({"age": [None, None]}, dtype=object)
    entry = monitoring.drift_report(train, scoring, ["age"])["features"]["age"]
    assert entry["scoring_missing_rate"] == 1.0
    assert entry["bins"][-1] == {**entry["bins"][-1], "expected_count": 1, "actual_count": 2}
