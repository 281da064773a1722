"""The data-source configuration in ``data/sources.toml``: failure policy and synthetic calibration.

The failure policy says, per source, what a failed lookup (timeout or error after the retries)
means for the decision (``refer`` or ``decline``) and how an HTTP adapter retries. The synthetic
calibration holds every number of the deterministic synthetic sources, with where it comes from.
Both are validated strictly (unknown keys refused), and carry the file's sha256 for the audit.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from lendguard.errors import validation_problems
from lendguard.underwriting.sources_reports import SOURCE_NAMES, SourceConfigError

Source = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
Share = Annotated[float, Field(ge=0, le=1)]
DATA = resources.files("lendguard.underwriting") / "data"
FailureAction = Literal["refer", "decline"]
ModelT = TypeVar("ModelT", bound=BaseModel)

retries_max = 5
"""More retries than this turns one slow source into a stalled batch."""
timeout_s_max = 30.0
backoff_s_max = 10.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceFailurePolicy(_Strict):
    """What a failure of one source means, and how hard its HTTP adapter tries first."""

    on_failure: FailureAction
    retries: int = Field(ge=0, le=retries_max)
    timeout_s: float = Field(gt=0, le=timeout_s_max)
    backoff_s: float = Field(ge=0, le=backoff_s_max)
    source: Source


class FailurePolicy(_Strict):
    """The failure policy of all four sources, with the file's version and sha256."""

    version: str = Field(min_length=1)
    source: Source
    bureau: SourceFailurePolicy
    multi_lending: SourceFailurePolicy
    platform: SourceFailurePolicy
    blocklist: SourceFailurePolicy
    sha256: str = ""

    def for_source(self, name: str) -> SourceFailurePolicy:
        """The policy of one source by name."""
        if name not in SOURCE_NAMES:
            raise SourceConfigError(f"unknown source {name!r}; known: {', '.join(SOURCE_NAMES)}")
        policy: SourceFailurePolicy = getattr(self, name)
        return policy


# --- synthetic calibration ----------------------------------------------------------------------


class AccountKindCalibration(_Strict):
    """Share of accounts of one kind, its size (log-normal) and, for instalment loans, the term."""

    share: Share
    amount_median_minor: int = Field(gt=0)
    amount_log_sd: float = Field(ge=0, le=3)
    term_months: int | None = Field(default=None, ge=1, le=480)


class BureauCalibration(_Strict):
    identity_mismatch_share: Share
    account_slots: int = Field(ge=1, le=32)
    extra_account_share: Share
    history_months_median: float = Field(gt=0)
    history_log_sd: float = Field(ge=0, le=3)
    history_risk_slope: float
    history_months_max: int = Field(ge=1, le=1200)
    kinds: dict[Literal["revolving", "loan", "mortgage", "other"], AccountKindCalibration]
    utilisation_logit_intercept: float
    utilisation_logit_sd: float = Field(ge=0)
    utilisation_risk_slope: float
    minimum_payment_share: Share
    episode_slots: int = Field(ge=0, le=24)
    episode_logit_intercept: float
    episode_risk_slope: float
    roll_rate: float = Field(gt=0, lt=1)
    roll_risk_slope: float
    inquiry_slots: int = Field(ge=0, le=64)
    inquiry_logit_intercept: float
    inquiry_risk_slope: float
    inquiry_bucket_shares: list[Share] = Field(min_length=4, max_length=4)
    inquiry_reason_shares: dict[
        Literal["loan_approval", "credit_card_approval", "post_loan", "self"], Share
    ]
    source: Source

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> BureauCalibration:
        _check_sum("bureau.kinds shares", [kind.share for kind in self.kinds.values()])
        _check_sum("bureau.inquiry_bucket_shares", self.inquiry_bucket_shares)
        _check_sum("bureau.inquiry_reason_shares", list(self.inquiry_reason_shares.values()))
        if set(self.kinds) != {"revolving", "loan", "mortgage", "other"}:
            raise ValueError("bureau.kinds needs revolving, loan, mortgage and other")
        if len(self.inquiry_reason_shares) != 4:
            raise ValueError("bureau.inquiry_reason_shares needs all four reasons")
        for name, kind in self.kinds.items():
            if (kind.term_months is None) != (name == "revolving"):
                raise ValueError(f"bureau.kinds.{name}: term_months for instalment kinds only")
        return self


class MultiLendingCalibration(_Strict):
    application_slots: int = Field(ge=0, le=256)
    horizon_days: int = Field(ge=90, le=3650)  # at least the longest window (90 days)
    logit_intercept: float
    risk_slope: float
    lender_pool: int = Field(ge=1, le=64)  # distinct lenders are counted as bits of a uint64
    source: Source


class PlatformCalibration(_Strict):
    known_share: Share
    account_slots: int = Field(ge=1, le=32)
    extra_account_share: Share
    past_due_logit_intercept: float
    past_due_risk_slope: float
    past_due_days_median: float = Field(gt=0)
    past_due_log_sd: float = Field(ge=0, le=5)
    past_due_days_max: int = Field(ge=1, le=100_000)
    write_off_days: int = Field(ge=1)
    source: Source


class BlocklistCalibration(_Strict):
    hit_logit_intercept: float
    hit_risk_slope: float
    reasons: list[Annotated[str, StringConstraints(min_length=1)]] = Field(min_length=1)
    source: Source


class SyntheticCalibration(_Strict):
    """Every number behind the synthetic sources; risk slopes are per standard deviation."""

    version: str = Field(min_length=1)
    source: Source
    thin_file_share: Share
    bureau: BureauCalibration
    multi_lending: MultiLendingCalibration
    platform: PlatformCalibration
    blocklist: BlocklistCalibration
    sha256: str = ""


def _check_sum(field: str, shares: list[float]) -> None:
    if not math.isclose(sum(shares), 1.0, abs_tol=1e-9):
        raise ValueError(f"{field} must sum to 1, not {sum(shares)}")


# --- loading ------------------------------------------------------------------------------------


def load_failure_policy(path: Path | str | None = None) -> FailurePolicy:
    """The ``[failure_policy]`` table of a sources file (default: the packaged one)."""
    table, sha256, origin = _read_table(path, "failure_policy")
    return _validate(FailurePolicy, {**table, "sha256": sha256}, origin)


def load_synthetic_calibration(path: Path | str | None = None) -> SyntheticCalibration:
    """The ``[synthetic]`` table of a sources file (default: the packaged one)."""
    table, sha256, origin = _read_table(path, "synthetic")
    return _validate(SyntheticCalibration, {**table, "sha256": sha256}, origin)


def _read_table(path: Path | str | None, table: str) -> tuple[dict[str, Any], str, str]:
    origin = str(path) if path is not None else "sources.toml"
    try:
        body = (Path(path) if path is not None else DATA / "sources.toml").read_bytes()
        data = tomllib.loads(body.decode("utf-8"))
    except OSError as exc:
        raise SourceConfigError(f"{origin}: cannot read: {exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SourceConfigError(f"{origin}: not valid TOML: {exc}") from None
    if not isinstance(data.get(table), dict):
        raise SourceConfigError(f"{origin}: missing the [{table}] table")
    return data[table], hashlib.sha256(body).hexdigest(), origin


def _validate(model: type[ModelT], data: dict[str, Any], origin: str) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SourceConfigError(f"{origin}: {validation_problems(exc)}") from None
