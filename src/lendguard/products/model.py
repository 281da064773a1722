"""The product model: what a TOML product file may say, with the checks that keep it coherent.

Rates are percent strings (``"0.05"`` = 0.05 %/day) so no float ever enters; amounts are decimal
strings in the product currency. Each rule group carries a ``source`` naming where its numbers come
from (DOMAIN.md row or contract), because the numbers change and auditors ask.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from lendguard.dates.daycount import DayCount
from lendguard.money import RoundingMode, exponent


def _no_float(value: object) -> object:
    if isinstance(value, float):
        raise ValueError(f'write {value!r} as a string (e.g. "{value}"): floats are inexact')
    return value


Percent = Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0, le=1000)]
"""A non-negative percentage given as a string or integer."""

AmountText = Annotated[str, Field(pattern=r"^\d+(\.\d+)?$")]
"""A non-negative decimal amount in the product currency, as a string."""


class Strict(BaseModel):
    """Base: unknown keys are errors (a typo must not silently fall back to a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProductKind(StrEnum):
    """The two product shapes LendGuard services."""

    CREDIT_LINE = "credit-line"
    CASH_LOAN = "cash-loan"


class Component(StrEnum):
    """What a receivable is made of; the repayment waterfall orders these."""

    PENALTY = "penalty"
    LATE_FEE = "late_fee"
    FEE = "fee"
    INTEREST = "interest"
    PRINCIPAL = "principal"


class ProductHeader(Strict):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    version: str = Field(min_length=1, max_length=32)
    kind: ProductKind
    currency: str = "CNY"
    name: str = ""


class RoundingRules(Strict):
    """Rounding per quantity; remainders of split amounts go to ``remainder_period``."""

    interest: RoundingMode = RoundingMode.HALF_UP
    fee: RoundingMode = RoundingMode.HALF_EVEN
    penalty: RoundingMode = RoundingMode.HALF_UP
    remainder_period: Literal["first", "last"] = "first"
    source: str = "DOMAIN 1.6 (Alipay instalment fee arithmetic: half-even, remainders to period 1)"


class FeeRateCard(Strict):
    """Total fee per term for a flat-fee instalment plan (fee on the original principal)."""

    fee_percent: dict[int, Percent]
    source: str

    @model_validator(mode="after")
    def _terms(self) -> FeeRateCard:
        bad = [term for term in self.fee_percent if term not in (3, 6, 9, 12, 18, 24)]
        if bad:
            raise ValueError(f"instalment terms must be among 3/6/9/12/18/24, got {bad}")
        if not self.fee_percent:
            raise ValueError("a rate card needs at least one term")
        return self


class CreditLineRules(Strict):
    """Huabei-shaped revolving line with monthly bills (DOMAIN 1, 9)."""

    credit_limit: AmountText
    statement_day: int = Field(default=1, ge=1, le=28)
    due_day_choices: list[int] = Field(default_factory=lambda: [9, 10], min_length=1)
    minimum_payment_percent: Percent = Decimal(10)
    revolving_daily_rate_percent: Percent = Decimal("0.05")
    revolving_interest_base: Literal["unpaid-remainder", "full-statement"] = "unpaid-remainder"
    purchase_instalment: FeeRateCard | None = None
    bill_instalment: FeeRateCard | None = None
    source: str = "DOMAIN 1.1-1.7 and 9 (Huabei: statement 1st, due 9th/10th, minimum 10%)"

    @model_validator(mode="after")
    def _days(self) -> CreditLineRules:
        for due_day in self.due_day_choices:
            if not 1 <= due_day <= 28:
                raise ValueError(f"due day {due_day} must be 1..28")
            if due_day == self.statement_day:
                raise ValueError(f"due day {due_day} equals the statement day")
        if self.minimum_payment_percent > 100:
            raise ValueError("minimum_payment_percent must be at most 100")
        return self


class CashLoanRules(Strict):
    """Jiebei-shaped cash loan: draws within a line, repaid by a schedule (DOMAIN 2, 9)."""

    credit_limit: AmountText
    terms: list[int] = Field(min_length=1)
    daily_rate_percent: Percent
    daily_rate_year_days: Literal[360, 365] = 360
    day_count: DayCount = DayCount.ACT_365
    methods: list[str] = Field(default_factory=lambda: ["equal-instalment"], min_length=1)
    draw_min: AmountText = "1.00"
    source: str = "DOMAIN 2.1-2.5 and 9 (daily rate, 3/6/12 terms, daily-rate basis x360)"

    @model_validator(mode="after")
    def _values(self) -> CashLoanRules:
        known = {"equal-instalment", "equal-principal", "interest-first"}
        unknown = sorted(set(self.methods) - known)
        if unknown:
            raise ValueError(f"unknown repayment methods {unknown}; known: {sorted(known)}")
        if any(term <= 0 or term > 60 for term in self.terms):
            raise ValueError(f"terms must be 1..60 months, got {self.terms}")
        return self


class OverdueRules(Strict):
    """Penalty interest, late fee, grace, freeze and write-off (DOMAIN 1.8, 2.6, 4.17-4.18, 9)."""

    grace_days: int = Field(default=0, ge=0, le=60)
    penalty_base: Literal["overdue-amount", "overdue-principal"] = "overdue-amount"
    penalty_daily_rate_percent: Percent | None = None
    penalty_contract_rate_multiplier: Annotated[Decimal, BeforeValidator(_no_float)] | None = None
    compound_overdue_interest: bool = False
    late_fee: AmountText = "0"
    freeze_after_days: int = Field(default=1, ge=1)
    unfreeze_on_cure: bool = True
    write_off_after_days: int = Field(default=180, ge=30, le=3650)
    source: str = "DOMAIN 1.8 (0.05%/day on the overdue amount), 4.18 (charge-off at 180 DPD)"

    @model_validator(mode="after")
    def _rate(self) -> OverdueRules:
        given = [self.penalty_daily_rate_percent, self.penalty_contract_rate_multiplier]
        if sum(value is not None for value in given) != 1:
            raise ValueError(
                "give exactly one of penalty_daily_rate_percent and "
                "penalty_contract_rate_multiplier"
            )
        if self.compound_overdue_interest and self.penalty_base != "overdue-principal":
            raise ValueError(
                "compound_overdue_interest applies only with penalty_base = 'overdue-principal' "
                "(with 'overdue-amount' interest is already in the base)"
            )
        if self.freeze_after_days > self.write_off_after_days:
            raise ValueError("freeze_after_days cannot exceed write_off_after_days")
        return self


class WaterfallRules(Strict):
    """Repayment allocation order: components in order, oldest first within (DOMAIN 5.9)."""

    order: list[Component] = Field(
        default_factory=lambda: [
            Component.PENALTY,
            Component.LATE_FEE,
            Component.FEE,
            Component.INTEREST,
            Component.PRINCIPAL,
        ]
    )
    group_by: Literal["component", "due-date"] = "component"
    source: str = "contract order: penalty -> fees -> interest -> principal (DOMAIN 5.9)"

    @model_validator(mode="after")
    def _complete(self) -> WaterfallRules:
        if sorted(self.order) != sorted(Component):
            raise ValueError(
                f"waterfall order must list each of {[c.value for c in Component]} exactly once"
            )
        return self

    @classmethod
    def civil_code_561(cls) -> WaterfallRules:
        """民法典 第561条: costs of the claim, then interest, then principal."""
        return cls(
            order=[
                Component.FEE,
                Component.LATE_FEE,
                Component.INTEREST,
                Component.PENALTY,
                Component.PRINCIPAL,
            ],
            source="民法典 第561条 (DOMAIN 5.9): costs -> interest -> principal",
        )


class DelinquencyRules(Strict):
    """Bucket boundaries and the classification preset."""

    buckets: list[dict[str, object]] | None = None
    classification: Literal["credit-card", "risk-classification-2023"] = "credit-card"
    source: str = "DOMAIN 4.20 (buckets), 4b (credit-card five-category thresholds)"


class RateCaps(Strict):
    """The APR every plan must stay under (IRR, nominal annual)."""

    apr_max_percent: Percent = Decimal(24)
    source: str = "法发〔2017〕22号 第2条: 24% p.a. judicial cap for licensed lenders (DOMAIN 6.4)"


class Product(Strict):
    """A whole product file. Exactly one of ``credit_line`` / ``cash_loan`` matches ``kind``."""

    product: ProductHeader
    rounding: RoundingRules = RoundingRules()
    credit_line: CreditLineRules | None = None
    cash_loan: CashLoanRules | None = None
    overdue: OverdueRules
    waterfall: WaterfallRules = WaterfallRules()
    delinquency: DelinquencyRules = DelinquencyRules()
    caps: RateCaps = RateCaps()

    @model_validator(mode="after")
    def _shape(self) -> Product:
        exponent_ok = self.product.currency
        exponent(exponent_ok)
        is_line = self.product.kind is ProductKind.CREDIT_LINE
        if is_line and (self.credit_line is None or self.cash_loan is not None):
            raise ValueError("a credit-line product needs a [credit_line] table and no [cash_loan]")
        if not is_line and (self.cash_loan is None or self.credit_line is not None):
            raise ValueError("a cash-loan product needs a [cash_loan] table and no [credit_line]")
        if self.overdue.penalty_contract_rate_multiplier is not None and is_line:
            raise ValueError(
                "penalty_contract_rate_multiplier needs a contract rate: cash loans only"
            )
        return self

    @property
    def kind(self) -> ProductKind:
        return self.product.kind

    @property
    def currency(self) -> str:
        return self.product.currency
