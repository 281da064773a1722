"""Days past due mapped to buckets, five-category classes and IFRS 9 stages."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lendguard.delinquency.buckets import Bucket, BucketScheme, BucketSpell, track_bucket
from lendguard.delinquency.classification import (
    ClassificationThresholds,
    FiveCategory,
    Ifrs9Thresholds,
    classify_five,
    ifrs9_stage,
    non_performing,
)
from lendguard.errors import InvalidDateError, ProductConfigError

days_past_due = st.integers(min_value=0, max_value=10_000)
threshold_presets = st.sampled_from(
    [ClassificationThresholds(), ClassificationThresholds.risk_classification_2023()]
)

# --- buckets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "name"),
    [
        (0, "M0"),
        (1, "M1"),
        (30, "M1"),
        (31, "M2"),
        (60, "M2"),
        (61, "M3"),
        (90, "M3"),
        (91, "M4"),
        (120, "M4"),
        (121, "M5"),
        (150, "M5"),
        (151, "M6"),
        (180, "M6"),
        (181, "M7+"),
        (5_000, "M7+"),
    ],
)
def test_default_scheme_boundaries(days: int, name: str) -> None:
    assert BucketScheme.default().bucket_for(days).name == name


def test_default_scheme_names_its_source() -> None:
    assert "4.20" in BucketScheme.default().source


@given(days=days_past_due)
def test_every_day_count_falls_in_exactly_one_bucket(days: int) -> None:
    scheme = BucketScheme.default()
    holding = [bucket for bucket in scheme.buckets if bucket.contains(days)]
    assert holding == [scheme.bucket_for(days)]


@pytest.mark.parametrize("days", [-1, -30])
def test_negative_days_past_due_is_refused(days: int) -> None:
    with pytest.raises(ValueError, match="negative"):
        BucketScheme.default().bucket_for(days)


@pytest.mark.parametrize("days", [1.0, True, "3"])
def test_non_integer_days_past_due_is_refused(days: object) -> None:
    with pytest.raises(TypeError):
        BucketScheme.default().bucket_for(days)  # type: ignore[arg-type]


def test_from_mapping_reads_config_rows() -> None:
    rows = [
        {"name": "current", "days_min": 0, "days_max": 0},
        {"name": "early", "days_min": 1, "days_max": 29},
        {"name": "late", "days_min": 30},
    ]
    scheme = BucketScheme.from_mapping(rows, source="collections.toml")
    assert scheme.bucket_for(29).name == "early"
    assert scheme.bucket_for(30).name == "late"
    assert scheme.source == "collections.toml"


@pytest.mark.parametrize(
    ("buckets", "pattern"),
    [
        ((), "1..32 buckets"),
        ((Bucket("A", 1, None),), "start at 0"),
        ((Bucket("A", 0, 10), Bucket("B", 12, None)), "gap"),
        ((Bucket("A", 0, 10), Bucket("B", 10, None)), "overlap"),
        ((Bucket("A", 0, 10), Bucket("B", 11, 20)), "open-ended"),
        ((Bucket("A", 0, None), Bucket("B", 1, None)), "only the last"),
        ((Bucket("A", 0, 10), Bucket("A", 11, None)), "used twice"),
    ],
)
def test_invalid_schemes_are_refused(buckets: tuple[Bucket, ...], pattern: str) -> None:
    with pytest.raises(ProductConfigError, match=pattern):
        BucketScheme(buckets, source="test")


@pytest.mark.parametrize(
    ("name", "days_min", "days_max", "pattern"),
    [
        ("", 0, 0, "non-empty name"),
        ("A", -1, 0, "negative"),
        ("A", 10, 5, "below days_min"),
    ],
)
def test_invalid_buckets_are_refused(name: str, days_min: int, days_max: int, pattern: str) -> None:
    with pytest.raises(ProductConfigError, match=pattern):
        Bucket(name, days_min, days_max)


@pytest.mark.parametrize(
    ("row", "pattern"),
    [
        ({"name": "A"}, "needs name, days_min"),
        ({"name": "A", "days_min": 0, "days_mx": 3}, "needs name, days_min"),
        ({"name": 3, "days_min": 0}, "name must be a string"),
        ({"name": "A", "days_min": "0"}, "whole numbers"),
        ({"name": "A", "days_min": 0, "days_max": 2.5}, "whole numbers"),
    ],
)
def test_invalid_config_rows_are_refused_naming_the_source(row: dict, pattern: str) -> None:
    with pytest.raises(ProductConfigError, match=pattern) as caught:
        BucketScheme.from_mapping([row], source="product.toml")
    assert "product.toml" in caught.value.message


# --- bucket history ----------------------------------------------------------------------------

DAY_1 = dt.date(2026, 3, 1)
DAY_2 = dt.date(2026, 3, 2)
DAY_3 = dt.date(2026, 4, 1)


def test_first_bucket_opens_a_spell() -> None:
    assert track_bucket((), "M0", DAY_1) == (BucketSpell("M0", DAY_1, None),)


def test_same_bucket_leaves_history_unchanged() -> None:
    history = (BucketSpell("M0", DAY_1, None),)
    assert track_bucket(history, "M0", DAY_2) is history


def test_change_closes_the_open_spell_and_opens_another() -> None:
    history = track_bucket((), "M0", DAY_1)
    history = track_bucket(history, "M1", DAY_2)
    history = track_bucket(history, "M2", DAY_3)
    assert history == (
        BucketSpell("M0", DAY_1, DAY_2),
        BucketSpell("M1", DAY_2, DAY_3),
        BucketSpell("M2", DAY_3, None),
    )


def test_change_on_or_before_the_open_spell_is_refused() -> None:
    history = (BucketSpell("M0", DAY_2, None),)
    with pytest.raises(InvalidDateError, match="forward"):
        track_bucket(history, "M1", DAY_2)
    with pytest.raises(InvalidDateError, match="forward"):
        track_bucket(history, "M1", DAY_1)


def test_history_ending_closed_is_refused() -> None:
    with pytest.raises(InvalidDateError, match="closed spell"):
        track_bucket((BucketSpell("M0", DAY_1, DAY_2),), "M1", DAY_3)


def test_spell_cannot_end_before_it_starts() -> None:
    with pytest.raises(InvalidDateError):
        BucketSpell("M0", DAY_2, DAY_1)


@given(steps=st.lists(st.sampled_from(["M0", "M1", "M2"]), min_size=1, max_size=30))
def test_history_spells_are_contiguous_with_one_open(steps: list[str]) -> None:
    history: tuple[BucketSpell, ...] = ()
    for offset, name in enumerate(steps):
        history = track_bucket(history, name, DAY_1 + dt.timedelta(days=offset))
    assert [spell.left_on for spell in history].count(None) == 1
    assert history[-1].bucket == steps[-1]
    for previous, spell in itertools.pairwise(history):
        assert previous.left_on == spell.entered_on
        assert previous.bucket != spell.bucket


# --- five-category classification --------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (0, FiveCategory.NORMAL),
        (1, FiveCategory.SPECIAL_MENTION),
        (90, FiveCategory.SPECIAL_MENTION),
        (91, FiveCategory.SUBSTANDARD),
        (120, FiveCategory.SUBSTANDARD),
        (121, FiveCategory.DOUBTFUL),
        (180, FiveCategory.DOUBTFUL),
        (181, FiveCategory.LOSS),
    ],
)
def test_credit_card_bands(days: int, expected: FiveCategory) -> None:
    assert classify_five(days, ClassificationThresholds()) is expected


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (0, FiveCategory.NORMAL),
        (1, FiveCategory.SPECIAL_MENTION),
        (90, FiveCategory.SPECIAL_MENTION),
        (91, FiveCategory.SUBSTANDARD),
        (270, FiveCategory.SUBSTANDARD),
        (271, FiveCategory.DOUBTFUL),
        (360, FiveCategory.DOUBTFUL),
        (361, FiveCategory.LOSS),
    ],
)
def test_risk_classification_2023_bands(days: int, expected: FiveCategory) -> None:
    assert classify_five(days, ClassificationThresholds.risk_classification_2023()) is expected


def test_floor_forces_at_least_the_floor() -> None:
    thresholds = ClassificationThresholds()
    floor = FiveCategory.SUBSTANDARD
    assert classify_five(0, thresholds, floor=floor) is FiveCategory.SUBSTANDARD
    assert classify_five(200, thresholds, floor=floor) is FiveCategory.LOSS


def test_labels_and_order() -> None:
    assert [category.label_zh for category in FiveCategory] == [
        "正常",
        "关注",
        "次级",
        "可疑",
        "损失",
    ]
    assert [category.severity for category in FiveCategory] == [0, 1, 2, 3, 4]
    assert FiveCategory("special-mention") is FiveCategory.SPECIAL_MENTION


def test_non_performing_is_substandard_and_worse() -> None:
    flags = [non_performing(category) for category in FiveCategory]
    assert flags == [False, False, True, True, True]


@given(days=days_past_due, more_days=days_past_due, thresholds=threshold_presets)
def test_classification_never_improves_as_days_grow(
    days: int, more_days: int, thresholds: ClassificationThresholds
) -> None:
    earlier = classify_five(days, thresholds)
    later = classify_five(days + more_days, thresholds)
    assert later.severity >= earlier.severity


@given(
    days=days_past_due,
    floor=st.sampled_from(list(FiveCategory)),
    thresholds=threshold_presets,
)
def test_floor_result_is_the_worse_of_days_and_floor(
    days: int, floor: FiveCategory, thresholds: ClassificationThresholds
) -> None:
    result = classify_five(days, thresholds, floor=floor)
    by_days = classify_five(days, thresholds)
    assert result.severity == max(by_days.severity, floor.severity)


@pytest.mark.parametrize(
    "fields",
    [
        {"special_mention_days_min": 0},
        {"substandard_days_min": 1},
        {"doubtful_days_min": 91},
        {"loss_days_min": 100},
    ],
)
def test_thresholds_must_increase(fields: dict[str, int]) -> None:
    with pytest.raises(ProductConfigError, match="strictly increase"):
        ClassificationThresholds(**fields)


def test_negative_days_refused_in_classification() -> None:
    with pytest.raises(ValueError, match="negative"):
        classify_five(-1, ClassificationThresholds())


# --- IFRS 9 staging ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "stage"),
    [(0, 1), (30, 1), (31, 2), (90, 2), (91, 3), (400, 3)],
)
def test_ifrs9_backstops(days: int, stage: int) -> None:
    assert ifrs9_stage(days, Ifrs9Thresholds()) == stage


def test_written_off_is_stage_3() -> None:
    assert ifrs9_stage(0, Ifrs9Thresholds(), written_off=True) == 3


@given(days=days_past_due, more_days=days_past_due)
def test_stage_never_improves_as_days_grow(days: int, more_days: int) -> None:
    thresholds = Ifrs9Thresholds()
    assert ifrs9_stage(days + more_days, thresholds) >= ifrs9_stage(days, thresholds)


@pytest.mark.parametrize(("stage2", "stage3"), [(0, 91), (91, 91), (91, 31)])
def test_ifrs9_thresholds_must_increase(stage2: int, stage3: int) -> None:
    with pytest.raises(ProductConfigError, match="stage 2 < stage 3"):
        Ifrs9Thresholds(stage2_days_min=stage2, stage3_days_min=stage3)


def test_ifrs9_thresholds_name_their_source() -> None:
    assert "IFRS 9" in Ifrs9Thresholds().source
