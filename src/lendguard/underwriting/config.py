"""The underwriting configuration: score bands, grades with limits and daily rates, pricing method.

Loaded from TOML and validated strictly (unknown keys, floats, unordered grades are refused), then
every grade's price is checked against each product's APR cap for every term the product offers,
so a configuration that could quote an unlawful price never loads.
"""

from __future__ import annotations

import hashlib
import tomllib
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from lendguard.errors import LendGuardError, validation_problems
from lendguard.money import parse_minor

Source = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
PercentText = Annotated[str, StringConstraints(pattern=r"^\d+(\.\d+)?$")]
DATA = resources.files("lendguard.underwriting") / "data"


class UnderwritingConfigError(LendGuardError):
    """An underwriting configuration that is malformed or would price above a cap."""

    code = "invalid_underwriting_config"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Header(_Strict):
    id: str
    version: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    products: list[str] = Field(min_length=1)
    model: str
    champion_policy: str
    challenger_policy: str
    challenger_share: PercentText
    source: Source


class ScoreBands(_Strict):
    decline_below: int
    refer_below: int
    source: Source


class Grade(_Strict):
    name: str = Field(min_length=1)
    score_min: int
    limit_max: str
    daily_rate_percent: PercentText
    source: Source

    @property
    def daily_rate(self) -> Decimal:
        """The daily rate as a fraction (0.0004 for 0.04%)."""
        return Decimal(self.daily_rate_percent) / 100


class Pricing(_Strict):
    method: str
    reference_principal: str
    source: Source


class UnderwritingConfig(_Strict):
    """The whole file, plus its sha256 for the audit record."""

    underwriting: Header
    score: ScoreBands
    grade: list[Grade] = Field(min_length=1)
    pricing: Pricing
    sha256: str = ""

    def grade_limits_minor(self) -> list[int]:
        """Each grade's largest limit in minor units of the configuration's currency."""
        return [parse_minor(grade.limit_max, self.underwriting.currency) for grade in self.grade]

    def amount_minor(self, text: str) -> int:
        """An amount written in the configuration, in minor units."""
        return parse_minor(text, self.underwriting.currency)

    @property
    def challenger_share(self) -> Decimal:
        """Share of applications routed to the challenger policy, 0..1."""
        return Decimal(self.underwriting.challenger_share)


def load_config(path: Path | None = None) -> UnderwritingConfig:
    """Load and check a configuration file (default: the packaged standard one)."""
    body = (Path(path) if path is not None else DATA / "underwriting.toml").read_bytes()
    origin = str(path or "underwriting.toml")
    try:
        data = tomllib.loads(body.decode())
        config = UnderwritingConfig.model_validate(
            {**data, "sha256": hashlib.sha256(body).hexdigest()}
        )
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UnderwritingConfigError(f"{origin}: not valid TOML: {exc}") from None
    except ValidationError as exc:
        raise UnderwritingConfigError(f"{origin}: {validation_problems(exc)}") from None
    _check_consistency(config, origin)
    return config


def _check_consistency(config: UnderwritingConfig, origin: str) -> None:
    scores = [grade.score_min for grade in config.grade]
    if scores != sorted(scores, reverse=True) or len(set(scores)) != len(scores):
        raise UnderwritingConfigError(f"{origin}: grades must run from the highest score_min down")
    if config.grade[-1].score_min > config.score.decline_below:
        raise UnderwritingConfigError(
            f"{origin}: the last grade must start at or below score.decline_below, so every "
            "approvable score has a grade"
        )
    if config.score.decline_below > config.score.refer_below:
        raise UnderwritingConfigError(f"{origin}: score.decline_below must be <= refer_below")
    if not 0 <= config.challenger_share <= 1:
        raise UnderwritingConfigError(f"{origin}: challenger_share must be between 0 and 1")
    try:
        limits_minor = config.grade_limits_minor()
        config.amount_minor(config.pricing.reference_principal)
    except LendGuardError as exc:
        raise UnderwritingConfigError(f"{origin}: {exc}") from None
    for grade, limit_minor in zip(config.grade, limits_minor, strict=True):
        if limit_minor <= 0:
            raise UnderwritingConfigError(f"{origin}: grade {grade.name}: limit must be positive")
