"""Affordability: known answers worked by hand, the limit's defining property, bad input, config."""

from __future__ import annotations

import hashlib
import math
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.underwriting.affordability import (
    COLUMNS_ADDED,
    DEFAULT_CONFIG_PATH,
    REGION_CODES,
    AffordabilityConfig,
    AffordabilityConfigError,
    AffordabilityInputError,
    affordability_columns,
    assess,
    living_cost_minor,
    load_affordability_config,
)

PACKAGED = load_affordability_config()


def _whole_cost_config() -> AffordabilityConfig:
    """The packaged config with every yuan of average consumption counted, for hand arithmetic."""
    text = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    assert 'essential_share = "0.60"' in text
    folder = Path(tempfile.mkdtemp())
    path = folder / "whole-cost.toml"
    path.write_text(text.replace('essential_share = "0.60"', 'essential_share = "1"'), "utf-8")
    return load_affordability_config(path)


CONFIG = _whole_cost_config()
EIGHTH = 0.125
"""An instalment factor that is exact in binary (a zero-rate 8-month loan), for hand arithmetic."""


def applications(**columns: list[object]) -> pd.DataFrame:
    """Applications with the affordability inputs; unspecified columns take quiet defaults."""
    rows = len(next(iter(columns.values())))
    defaults: dict[str, list[object]] = {
        "application_id": [f"app-{row}" for row in range(rows)],
        "monthly_income_minor": [1_000_000] * rows,
        "income_verified": [True] * rows,
        "monthly_obligations_minor": [0] * rows,
        "bureau_monthly_repayment_minor": [0] * rows,
        "region": ["beijing"] * rows,
        "dependants": [0] * rows,
        "requested_amount_minor": [100_000] * rows,
    }
    defaults.update(columns)
    frame = pd.DataFrame(defaults)
    for name in frame.columns:
        if name.endswith("_minor") or name == "dependants":
            frame[name] = frame[name].astype(np.int64)
    return frame


def assess_one(factor: float = EIGHTH, **columns: object) -> pd.Series:
    frame = applications(**{name: [value] for name, value in columns.items()})
    return assess(frame, CONFIG, np.array([factor])).iloc[0]


# --- known answers ----------------------------------------------------------------------------


def test_dti_binding_worked_by_hand() -> None:
    # income 20,000.00 verified; obligations 8,000.00; Tibet living cost 1,391.67.
    # DTI budget = 50% x 2,000,000 - 800,000 = 200,000; stress budget = 1,600,000 - 139,167
    # - 800,000 = 660,833. The DTI budget binds: limit = 200,000 / 0.125 = 1,600,000.
    row = assess_one(
        monthly_income_minor=2_000_000,
        monthly_obligations_minor=800_000,
        region="xizang",
        requested_amount_minor=1_000_000,
    )
    assert row.affordable_limit_minor == 1_600_000
    assert row.new_instalment_minor == 125_000
    assert row.dti_ratio == pytest.approx(925_000 / 2_000_000)
    assert row.residual_income_minor == 2_000_000 - 139_167 - 925_000
    assert row.stressed_residual_income_minor == 1_600_000 - 139_167 - 925_000
    assert bool(row.affordable)


def test_stress_binding_worked_by_hand() -> None:
    # income 10,000.00; obligations 1,000.00; Beijing 4,241.42. DTI budget 400,000; stress budget
    # 800,000 - 424,142 - 100,000 = 275,858 binds: 275,858 / 0.125 = 2,206,864 -> 2,206,800.
    row = assess_one(
        monthly_income_minor=1_000_000,
        monthly_obligations_minor=100_000,
        requested_amount_minor=3_000_000,
    )
    assert row.affordable_limit_minor == 2_206_800
    assert row.new_instalment_minor == 375_000
    assert row.dti_ratio == pytest.approx(0.475)
    assert row.residual_income_minor == 1_000_000 - 424_142 - 475_000
    assert row.stressed_residual_income_minor == 800_000 - 424_142 - 475_000
    assert not bool(row.affordable)


def test_unverified_income_bureau_obligations_and_dependants_worked_by_hand() -> None:
    # income 15,000.00 unverified -> counted 70% = 1,050,000. Obligations: the larger of declared
    # 50,000 and bureau 120,000. Sichuan 199,583 + 2 dependants x ceil(199,583 / 2) = 399,167.
    # DTI budget 525,000 - 120,000 = 405,000; stress budget 840,000 - 399,167 - 120,000 = 320,833
    # binds: 320,833 / 0.125 = 2,566,664 -> 2,566,600.
    row = assess_one(
        monthly_income_minor=1_500_000,
        income_verified=False,
        monthly_obligations_minor=50_000,
        bureau_monthly_repayment_minor=120_000,
        region="sichuan",
        dependants=2,
        requested_amount_minor=2_000_000,
    )
    assert row.affordable_limit_minor == 2_566_600
    assert row.new_instalment_minor == 250_000
    assert row.dti_ratio == pytest.approx(370_000 / 1_050_000)
    assert row.residual_income_minor == 1_050_000 - 399_167 - 370_000
    assert bool(row.affordable)


def test_living_cost_adds_half_the_regional_cost_per_dependant() -> None:
    frame = applications(region=["shanghai"] * 3 + ["guangdong"], dependants=[0, 1, 3, 1])
    assert list(living_cost_minor(frame, CONFIG)) == [
        437_567,
        437_567 + 218_784,
        437_567 + 3 * 218_784,
        302_000 + 151_000,
    ]


def test_zero_income_gives_zero_limit_and_infinite_dti() -> None:
    row = assess_one(monthly_income_minor=0, region="shanghai", requested_amount_minor=500_000)
    assert row.affordable_limit_minor == 0
    assert math.isinf(row.dti_ratio)
    assert row.residual_income_minor == -437_567 - 62_500
    assert not bool(row.affordable)


def test_obligations_above_the_dti_cap_give_zero_limit() -> None:
    row = assess_one(monthly_income_minor=1_000_000, monthly_obligations_minor=600_000)
    assert row.affordable_limit_minor == 0
    assert not bool(row.affordable)


def test_limit_is_capped_at_the_configured_maximum() -> None:
    row = assess_one(monthly_income_minor=10**9, requested_amount_minor=20_000_000)
    assert row.affordable_limit_minor == CONFIG.limit.max_minor == 20_000_000
    assert bool(row.affordable)


def test_requested_exactly_at_the_limit_is_affordable() -> None:
    # Budget 275,858 as in the stress case: 2,206,800 fits, 2,206,900 does not.
    at_limit = assess_one(monthly_obligations_minor=100_000, requested_amount_minor=2_206_800)
    above = assess_one(monthly_obligations_minor=100_000, requested_amount_minor=2_206_900)
    assert bool(at_limit.affordable)
    assert not bool(above.affordable)


def test_assess_keeps_the_input_and_replaces_stale_columns() -> None:
    frame = applications(monthly_income_minor=[1_000_000, 0])
    first = assess(frame, CONFIG, np.full(2, EIGHTH))
    again = assess(first, CONFIG, np.full(2, EIGHTH))
    assert list(frame.columns) == list(applications(monthly_income_minor=[0]).columns)
    assert list(first.columns[-len(COLUMNS_ADDED) :]) == list(COLUMNS_ADDED)
    pd.testing.assert_frame_equal(first, again)
    assert first.affordable_limit_minor.dtype == np.int64
    assert first.affordable.dtype == bool


def test_an_empty_frame_gives_empty_columns() -> None:
    frame = applications(monthly_income_minor=[1]).iloc[:0]
    result = assess(frame, CONFIG, np.zeros(0))
    assert len(result) == 0
    assert set(COLUMNS_ADDED) <= set(result.columns)


# --- the defining property of the limit --------------------------------------------------------


def oracle_rules_hold(row: dict[str, object], principal: int, factor: float) -> bool:
    """Every affordability rule at ``principal``, recomputed with exact fractions, row by row."""
    income = int(row["monthly_income_minor"])
    if not row["income_verified"]:
        income = math.floor(income * (1 - CONFIG.unverified_income_haircut_share.fraction))
    own = CONFIG.living_cost.monthly_minor_by_region[str(row["region"])]
    per_dependant = math.ceil(own * Fraction(CONFIG.living_cost.dependant_add_on_share))
    costs = own + per_dependant * int(row["dependants"])
    obligations = max(
        int(row["monthly_obligations_minor"]), int(row["bureau_monthly_repayment_minor"])
    )
    instalment = math.ceil(principal * factor)
    dti_holds = obligations + instalment <= CONFIG.dti_max_ratio.fraction * income
    stressed = income * (1 - CONFIG.income_stress_share.fraction)
    return dti_holds and stressed - costs - obligations - instalment >= 0


application_rows = st.fixed_dictionaries(
    {
        "monthly_income_minor": st.integers(0, 20_000_000),
        "income_verified": st.booleans(),
        "monthly_obligations_minor": st.integers(0, 2_000_000),
        "bureau_monthly_repayment_minor": st.integers(0, 2_000_000),
        "region": st.sampled_from(REGION_CODES),
        "dependants": st.integers(0, 6),
        "requested_amount_minor": st.integers(0, 30_000_000),
    }
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(application_rows, min_size=1, max_size=25),
    factors=st.lists(st.floats(0.0005, 1.2), min_size=25, max_size=25),
)
def test_limit_is_the_largest_whole_unit_amount_that_passes_every_rule(
    rows: list[dict[str, object]], factors: list[float]
) -> None:
    frame = applications(**{name: [row[name] for row in rows] for name in rows[0]})
    factor = np.array(factors[: len(rows)])
    result = assess(frame, CONFIG, factor)
    step, cap = CONFIG.limit.step_minor, CONFIG.limit.max_minor
    for index, row in enumerate(rows):
        limit = int(result.affordable_limit_minor.iloc[index])
        assert 0 <= limit <= cap
        assert limit % step == 0
        if limit > 0:
            assert oracle_rules_hold(row, limit, factors[index])
        if limit + step <= cap:
            assert not oracle_rules_hold(row, limit + step, factors[index])
        requested = int(row["requested_amount_minor"])
        assert bool(result.affordable.iloc[index]) == (requested <= limit)
        assert result.new_instalment_minor.iloc[index] == math.ceil(requested * factors[index])


# --- bad input ---------------------------------------------------------------------------------


def test_unknown_region_is_refused_naming_the_field_and_application() -> None:
    frame = applications(region=["beijing", "atlantis"])
    with pytest.raises(AffordabilityInputError) as caught:
        assess(frame, CONFIG, np.full(2, EIGHTH))
    assert "region" in caught.value.message
    assert "atlantis" in caught.value.message
    assert "app-1" in caught.value.message
    assert caught.value.code == "invalid_affordability_input"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("monthly_income_minor", -1),
        ("monthly_obligations_minor", -5),
        ("bureau_monthly_repayment_minor", -5),
        ("requested_amount_minor", -100),
        ("dependants", -1),
        ("dependants", 51),
    ],
)
def test_out_of_range_inputs_are_refused_naming_the_field(column: str, value: int) -> None:
    frame = applications(**{column: [0, value]})
    with pytest.raises(AffordabilityInputError, match=rf"^{column}: {value} .*app-1"):
        assess(frame, CONFIG, np.full(2, EIGHTH))


def test_float_money_and_missing_columns_are_refused() -> None:
    frame = applications(monthly_income_minor=[1_000_000])
    frame["monthly_income_minor"] = frame["monthly_income_minor"].astype(float)
    with pytest.raises(AffordabilityInputError, match="monthly_income_minor: expected integers"):
        assess(frame, CONFIG, np.array([EIGHTH]))
    with pytest.raises(AffordabilityInputError, match="dependants: column missing"):
        assess(applications(dependants=[0]).drop(columns="dependants"), CONFIG, np.array([0.1]))
    frame = applications(income_verified=["yes"])
    with pytest.raises(AffordabilityInputError, match="income_verified: expected booleans"):
        assess(frame, CONFIG, np.array([EIGHTH]))


def test_a_factor_per_row_is_a_caller_invariant() -> None:
    with pytest.raises(AssertionError):
        assess(applications(dependants=[0, 0]), CONFIG, np.array([EIGHTH]))
    with pytest.raises(AssertionError):
        assess(applications(dependants=[0]), CONFIG, np.array([0.0]))


# --- configuration -----------------------------------------------------------------------------


def test_packaged_config_covers_the_31_regions_with_sources() -> None:
    assert set(CONFIG.living_cost.monthly_minor_by_region) == set(REGION_CODES)
    assert len(REGION_CODES) == 31
    for part in (CONFIG.dti_max_ratio, CONFIG.income_stress_share):
        assert part.source
    assert CONFIG.unverified_income_haircut_share.fraction == Fraction(3, 10)
    assert PACKAGED.digest == hashlib.sha256(DEFAULT_CONFIG_PATH.read_bytes()).hexdigest()
    assert CONFIG.version == "2026.1"


def config_error(tmp_path: Path, old: str, new: str) -> str:
    text = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "affordability.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(AffordabilityConfigError) as caught:
        load_affordability_config(path)
    return caught.value.message


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ('value = "0.50"', "value = 0.5", "dti_max_ratio.value: write 0.5 as a string"),
        ('value = "0.50"', 'value = "0"', "dti_max_ratio.value must be above 0"),
        ('value = "0.50"', 'value = "1.5"', "dti_max_ratio.value"),
        ('value = "0.20"', 'value = "1"', "income_stress_share.value must be below 1"),
        ("beijing = 424_142", "peking = 424_142", "missing: ['beijing']; unknown: ['peking']"),
        ("step_minor = 100", "step_minor = 100\nrounding = 1", "limit.rounding"),
        ('source = "internal prudential', 'origin = "internal prudential', "source"),
        ("max_minor = 20_000_000", "max_minor = 50", "limit.max_minor is below"),
    ],
)
def test_bad_config_is_refused_naming_the_field(
    tmp_path: Path, old: str, new: str, words: str
) -> None:
    assert words in config_error(tmp_path, old, new)


def test_unreadable_config_raises_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(AffordabilityConfigError, match="cannot read"):
        load_affordability_config(tmp_path / "absent.toml")
    (tmp_path / "bad.toml").write_text("[dti_max_ratio\n", encoding="utf-8")
    with pytest.raises(AffordabilityConfigError, match="not valid TOML"):
        load_affordability_config(tmp_path / "bad.toml")


def test_a_stricter_config_gives_lower_limits(tmp_path: Path) -> None:
    text = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").replace(
        'value = "0.20"', 'value = "0.40"', 1
    )
    (tmp_path / "strict.toml").write_text(text, encoding="utf-8")
    strict: AffordabilityConfig = load_affordability_config(tmp_path / "strict.toml")
    frame = applications(monthly_income_minor=[1_500_000, 3_000_000])
    loose_limits = assess(frame, PACKAGED, np.full(2, 0.09)).affordable_limit_minor
    strict_limits = assess(frame, strict, np.full(2, 0.09)).affordable_limit_minor
    assert (strict_limits <= loose_limits).all()
    assert (strict_limits < loose_limits).any()
    assert strict.digest != PACKAGED.digest


# --- speed ---------------------------------------------------------------------------------------


def test_100k_rows_assess_well_within_a_second() -> None:
    rows = 100_000
    rng = np.random.default_rng(7)
    frame = applications(
        monthly_income_minor=list(rng.integers(0, 5_000_000, rows)),
        income_verified=list(rng.random(rows) < 0.5),
        region=list(rng.choice(REGION_CODES, rows)),
        dependants=list(rng.integers(0, 4, rows)),
        requested_amount_minor=list(rng.integers(50_000, 5_000_000, rows)),
    )
    factor = rng.uniform(0.08, 0.35, rows)
    started = time.perf_counter()
    columns = affordability_columns(frame, CONFIG, factor)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{elapsed:.3f} s for 100k rows"
    assert (columns["affordable_limit_minor"] % 100 == 0).all()


def test_only_the_essential_share_of_consumption_counts_as_living_cost() -> None:
    frame = pd.DataFrame({"region": ["beijing", "sichuan"], "dependants": [0, 2]})
    whole = living_cost_minor(frame, CONFIG)
    essential = living_cost_minor(frame, PACKAGED)
    own = [PACKAGED.living_cost.monthly_minor_by_region[r] for r in ("beijing", "sichuan")]
    expected_own = [math.ceil(cost * Fraction("0.6")) for cost in own]
    assert essential[0] == expected_own[0]
    assert essential[1] == expected_own[1] + 2 * math.ceil(expected_own[1] * Fraction("0.5"))
    assert (essential < whole).all()
