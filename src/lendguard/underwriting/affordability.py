"""Affordability (还款能力): can the applicant carry the new loan's monthly instalment?

Ability to repay is the centre of underwriting (issue 5, 'Why'), so three tests run on every
application, vectorised over the application frame with money in integer minor units:

* debt-to-income: (existing obligations + new instalment) <= ``dti_max_ratio`` x effective income;
* residual income: effective income - living costs - obligations - new instalment (reported);
* income stress: the same residual, with income cut by ``income_stress_share``, must stay >= 0.

Effective income is declared income, counted at (1 - ``unverified_income_haircut_share``) when it
is not verified. Living costs are the region's monthly per-capita consumption plus a share of it
per dependant. Existing obligations are the larger of the declared repayments and the repayments
the credit bureau shows (a declaration may leave debts out; the bureau misses non-bureau debts).

The affordable limit is the largest principal, in whole currency units and at most the configured
cap, whose instalment passes the DTI and stress tests. Every number comes from
``data/affordability.toml`` with its source.
"""

from __future__ import annotations

import hashlib
import tomllib
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from lendguard import limits
from lendguard.errors import LendGuardError, validation_problems

DEFAULT_CONFIG_PATH = Path(__file__).parent / "data" / "affordability.toml"

REGION_CODES = (
    "beijing", "tianjin", "hebei", "shanxi", "neimenggu", "liaoning", "jilin", "heilongjiang",
    "shanghai", "jiangsu", "zhejiang", "anhui", "fujian", "jiangxi", "shandong", "henan", "hubei",
    "hunan", "guangdong", "guangxi", "hainan", "chongqing", "sichuan", "guizhou", "yunnan",
    "xizang", "shaanxi", "gansu", "qinghai", "ningxia", "xinjiang",
)  # fmt: skip
"""The 31 provincial-level regions of the mainland as lower-case pinyin (陕西 = shaanxi)."""

DEPENDANTS_MAX = 50
"""A sanity bound on input (not policy): keeps living-cost arithmetic far from int64 overflow."""

COLUMNS_ADDED = (
    "dti_ratio",
    "residual_income_minor",
    "stressed_residual_income_minor",
    "affordable_limit_minor",
    "affordable",
    "new_instalment_minor",
)
"""What :func:`assess` adds to the frame (docs/underwriting.md)."""


class AffordabilityConfigError(LendGuardError):
    """An affordability file that is missing fields, has a share out of range or a bad region."""

    code = "invalid_affordability_config"


class AffordabilityInputError(LendGuardError):
    """An application frame whose affordability inputs are missing, mistyped or out of range."""

    code = "invalid_affordability_input"


def _no_float(value: object) -> object:
    if isinstance(value, float):
        raise ValueError(f'write {value!r} as a string (e.g. "{value}"): floats are inexact')
    return value


Share = Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0, le=1, decimal_places=6)]
"""A proportion between 0 and 1, written as a decimal string."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourcedShare(_Strict):
    """A policy proportion and where it comes from."""

    value: Share
    source: str = Field(min_length=1)

    @cached_property
    def fraction(self) -> Fraction:
        """The exact proportion, for integer arithmetic on minor units."""
        return Fraction(self.value)


class LimitRule(_Strict):
    """Affordable limits are multiples of ``step_minor`` and at most ``max_minor``."""

    step_minor: int = Field(gt=0, le=limits.amount_minor_max)
    max_minor: int = Field(gt=0, le=limits.amount_minor_max)
    source: str = Field(min_length=1)


class LivingCost(_Strict):
    """Monthly living cost of one person per region, plus a share of it per dependant."""

    monthly_minor_by_region: dict[str, Annotated[int, Field(gt=0, le=10**9)]]
    essential_share: Share
    essential_source: str = Field(min_length=1)
    dependant_add_on_share: Share
    dependant_source: str = Field(min_length=1)
    source: str = Field(min_length=1)

    @cached_property
    def dependant_fraction(self) -> Fraction:
        return Fraction(self.dependant_add_on_share)

    @cached_property
    def essential_fraction(self) -> Fraction:
        """The part of average consumption that is essential (food, housing, health ...)."""
        return Fraction(self.essential_share)

    @model_validator(mode="after")
    def _all_regions(self) -> LivingCost:
        missing = sorted(set(REGION_CODES) - set(self.monthly_minor_by_region))
        unknown = sorted(set(self.monthly_minor_by_region) - set(REGION_CODES))
        if missing or unknown:
            raise ValueError(f"regions missing: {missing or 'none'}; unknown: {unknown or 'none'}")
        return self


class ConfigHeader(_Strict):
    id: str = Field(min_length=1, max_length=64)
    version: str = Field(min_length=1, max_length=32)
    source: str = Field(min_length=1)


class AffordabilityConfig(_Strict):
    """The affordability policy; ``digest`` is the sha256 of the file it was read from."""

    affordability: ConfigHeader
    dti_max_ratio: SourcedShare
    income_stress_share: SourcedShare
    unverified_income_haircut_share: SourcedShare
    limit: LimitRule
    living_cost: LivingCost
    _digest: str = PrivateAttr(default="")
    _regions: pd.Index = PrivateAttr()
    _region_cost_minor: np.ndarray = PrivateAttr()

    @model_validator(mode="after")
    def _coherent(self) -> AffordabilityConfig:
        if self.dti_max_ratio.value == 0:
            raise ValueError("dti_max_ratio.value must be above 0")
        if self.income_stress_share.value == 1:
            raise ValueError("income_stress_share.value must be below 1 (1 leaves no income)")
        if self.limit.max_minor < self.limit.step_minor:
            raise ValueError("limit.max_minor is below limit.step_minor")
        return self

    def model_post_init(self, context: object, /) -> None:
        table = self.living_cost.monthly_minor_by_region
        self._regions = pd.Index(list(table))
        self._region_cost_minor = np.array(list(table.values()), dtype=np.int64)

    @property
    def version(self) -> str:
        return self.affordability.version

    @property
    def digest(self) -> str:
        return self._digest


def load_affordability_config(path: Path | str = DEFAULT_CONFIG_PATH) -> AffordabilityConfig:
    """Read and validate an affordability file; any problem names the file and the field."""
    path = Path(path)
    try:
        data = path.read_bytes()
        raw = tomllib.loads(data.decode("utf-8"))
    except OSError as exc:
        raise AffordabilityConfigError(f"cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AffordabilityConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        config = AffordabilityConfig.model_validate(raw)
    except ValidationError as exc:
        raise AffordabilityConfigError(f"{path}: {_describe(exc)}") from None
    config._digest = hashlib.sha256(data).hexdigest()
    return config


def _describe(exc: ValidationError) -> str:
    return validation_problems(exc)


def instalment_minor(principal_minor: np.ndarray, instalment_factor: np.ndarray) -> np.ndarray:
    """Monthly instalment of a principal: ``ceil(principal x factor)``, rounded up (prudent)."""
    return np.ceil(principal_minor * instalment_factor).astype(np.int64)


def assess(
    frame: pd.DataFrame, config: AffordabilityConfig, instalment_factor: np.ndarray
) -> pd.DataFrame:
    """The frame with the affordability columns added (``COLUMNS_ADDED``), as a new frame.

    ``instalment_factor`` is, per row, the monthly instalment of one minor unit of principal for
    the requested product, term and rate (computed by the caller from the product's schedule).
    """
    added = affordability_columns(frame, config, instalment_factor)
    stale = [name for name in COLUMNS_ADDED if name in frame.columns]
    kept = frame.drop(columns=stale) if stale else frame
    return pd.concat([kept, pd.DataFrame(added, index=frame.index)], axis=1)


def affordability_columns(
    frame: pd.DataFrame, config: AffordabilityConfig, instalment_factor: np.ndarray
) -> dict[str, np.ndarray]:
    """The affordability columns alone, for a caller that adds several stages' columns at once.

    Building a frame costs more than the arithmetic for a single application (about 0.2 ms of
    pandas ``concat``), so a pipeline can collect these arrays and concatenate once.
    """
    factor = np.asarray(instalment_factor, dtype=np.float64)
    assert factor.shape == (len(frame),), "one instalment factor per application"
    assert bool(np.all(np.isfinite(factor) & (factor > 0))), "instalment factors must be > 0"
    income = effective_income_minor(frame, config)
    costs = living_cost_minor(frame, config)
    obligations = np.maximum(
        _money_column(frame, "monthly_obligations_minor"),
        _money_column(frame, "bureau_monthly_repayment_minor"),
    )
    requested = _money_column(frame, "requested_amount_minor")
    new_instalment = instalment_minor(requested, factor)
    stressed_income = income - _share_ceil(income, config.income_stress_share.fraction)
    dti_budget = _share_floor(income, config.dti_max_ratio.fraction) - obligations
    stress_budget = stressed_income - costs - obligations
    limit = affordable_limit_minor(np.minimum(dti_budget, stress_budget), factor, config.limit)
    payments = obligations + new_instalment
    return {
        "dti_ratio": _ratio(payments, income),
        "residual_income_minor": income - costs - payments,
        "stressed_residual_income_minor": stressed_income - costs - payments,
        "affordable_limit_minor": limit,
        "affordable": requested <= limit,
        "new_instalment_minor": new_instalment,
    }


def effective_income_minor(frame: pd.DataFrame, config: AffordabilityConfig) -> np.ndarray:
    """Declared income, less the haircut where it is not verified."""
    income = _money_column(frame, "monthly_income_minor")
    verified = _bool_column(frame, "income_verified")
    haircut = _share_ceil(income, config.unverified_income_haircut_share.fraction)
    return np.where(verified, income, income - haircut)


def living_cost_minor(frame: pd.DataFrame, config: AffordabilityConfig) -> np.ndarray:
    """Monthly living cost of the applicant and their dependants in the applicant's region."""
    position = _region_positions(frame, config)
    own_minor = _share_ceil(
        config._region_cost_minor[position], config.living_cost.essential_fraction
    )
    dependants = _integer_column(frame, "dependants", DEPENDANTS_MAX)
    per_dependant_minor = _share_ceil(own_minor, config.living_cost.dependant_fraction)
    return own_minor + per_dependant_minor * dependants


def affordable_limit_minor(
    budget_minor: np.ndarray, factor: np.ndarray, rule: LimitRule
) -> np.ndarray:
    """The largest multiple of ``rule.step_minor`` (<= ``rule.max_minor``) whose instalment fits.

    ``budget_minor`` is the most new instalment each row can carry; a negative budget gives 0.
    The division is in floating point, so the candidate is then checked one step either way with
    the exact instalment rule, which is what the tests of affordability use.
    """
    step = rule.step_minor
    cap = rule.max_minor // step * step
    with np.errstate(divide="ignore", over="ignore"):
        raw = np.floor(np.maximum(budget_minor, 0) / factor)
    candidate = np.clip(raw, 0, cap).astype(np.int64) // step * step
    candidate -= step * (instalment_minor(candidate, factor) > budget_minor)
    candidate = np.maximum(candidate, 0)
    room = (candidate + step <= cap) & (instalment_minor(candidate + step, factor) <= budget_minor)
    candidate += step * room
    candidate = np.where(budget_minor < 0, 0, candidate)
    _check_limit(candidate, budget_minor, factor, step, cap)
    return candidate


def _check_limit(
    limit: np.ndarray, budget: np.ndarray, factor: np.ndarray, step: int, cap: int
) -> None:
    fundable = budget >= 0
    fits = instalment_minor(limit, factor) <= budget
    assert bool(np.all(fits[fundable])), "affordable limit breaks the instalment budget"
    blocked = (limit + step > cap) | (instalment_minor(limit + step, factor) > budget)
    assert bool(np.all(blocked[fundable])), "affordable limit is not the largest that fits"


def _share_floor(amount: np.ndarray, share: Fraction) -> np.ndarray:
    """``floor(amount x share)`` exactly, without overflow, for amounts >= 0 and share <= 1."""
    numerator, denominator = share.numerator, share.denominator
    whole, part = np.divmod(amount, denominator)
    return whole * numerator + part * numerator // denominator


def _share_ceil(amount: np.ndarray, share: Fraction) -> np.ndarray:
    """``ceil(amount x share)`` exactly, for amounts >= 0 and share <= 1."""
    numerator, denominator = share.numerator, share.denominator
    whole, part = np.divmod(amount, denominator)
    return whole * numerator - (-(part * numerator) // denominator)


def _ratio(payments: np.ndarray, income: np.ndarray) -> np.ndarray:
    """Payments over income; infinite where there is no income (no capacity at all)."""
    ratio = np.full(len(income), np.inf)
    np.divide(payments, income, out=ratio, where=income > 0)
    return ratio


def _region_positions(frame: pd.DataFrame, config: AffordabilityConfig) -> np.ndarray:
    regions = _column(frame, "region")
    position = config._regions.get_indexer(regions)
    unknown = position < 0
    if unknown.any():
        bad = sorted({str(value) for value in regions[unknown]})[:5]
        raise AffordabilityInputError(
            f"region: unknown region code(s) {bad} ({_first_id(frame, unknown)}); "
            f"expected lower-case pinyin province codes such as 'beijing'"
        )
    return position


def _money_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    return _integer_column(frame, name, limits.amount_minor_max)


def _integer_column(frame: pd.DataFrame, name: str, maximum: int) -> np.ndarray:
    values = _column(frame, name)
    if values.dtype.kind not in "iu":
        raise AffordabilityInputError(f"{name}: expected integers, got dtype {values.dtype}")
    values = values.astype(np.int64, copy=False)
    out_of_range = (values < 0) | (values > maximum)
    if out_of_range.any():
        value = values[out_of_range][0]
        raise AffordabilityInputError(
            f"{name}: {value} is outside 0..{maximum} ({_first_id(frame, out_of_range)})"
        )
    return values


def _bool_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    values = _column(frame, name)
    if values.dtype.kind != "b":
        raise AffordabilityInputError(f"{name}: expected booleans, got dtype {values.dtype}")
    return values


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        raise AffordabilityInputError(f"{name}: column missing from the application frame")
    return np.asarray(frame[name])


def _first_id(frame: pd.DataFrame, mask: np.ndarray) -> str:
    row = int(np.flatnonzero(mask)[0])
    if "application_id" in frame.columns:
        return f"application {np.asarray(frame['application_id'])[row]}"
    return f"row {row}"
