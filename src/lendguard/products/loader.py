"""Load a product TOML file: parse, validate the model, then check every plan against the APR cap.

A product is rejected as a whole with one message that names the file, the field and the rule;
nothing half-valid is ever returned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pydantic import ValidationError

from lendguard.errors import ProductConfigError, UnknownProductError, validation_problems
from lendguard.money import parse_minor
from lendguard.plans.apr import check_apr_cap, schedule_apr
from lendguard.plans.instalment import build_instalment_plan
from lendguard.plans.interest import Rate
from lendguard.plans.schedule import RepaymentMethod, build_schedule
from lendguard.products.model import FeeRateCard, Product

APR_PROBE_PRINCIPAL_MINOR = 1_000_000
"""Principal used to measure a product's APR (10,000.00): APR by IRR barely depends on it."""

APR_PROBE_START = dt.date(2026, 1, 15)
"""A fixed start date so the APR check is deterministic (no wall clock)."""


@dataclass(frozen=True, eq=False)
class ProductFile:
    """A validated product with the exact text it came from (stored beside every account).

    Two product files are the same product exactly when their text is the same (same hash).
    """

    product: Product
    source_text: str
    sha256: str

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProductFile) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)

    @property
    def product_id(self) -> str:
        return self.product.product.id

    @property
    def version(self) -> str:
        return self.product.product.version


def load_product(path: Path | str) -> ProductFile:
    """Read and validate a product file; unknown path or bad content -> a typed error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UnknownProductError(f"product file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProductConfigError(f"cannot read product file {path}: {exc}") from None
    return load_product_text(text, origin=str(path))


def load_product_text(text: str, origin: str = "<text>") -> ProductFile:
    """Validate product TOML text (the stored form of a product)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProductConfigError(f"{origin}: not valid TOML: {exc}") from None
    try:
        product = Product.model_validate(raw)
    except ValidationError as exc:
        raise ProductConfigError(f"{origin}: {_describe(exc)}") from None
    _check_amounts(product, origin)
    _check_caps(product, origin)
    return ProductFile(product, text, hashlib.sha256(text.encode()).hexdigest())


def _describe(exc: ValidationError) -> str:
    """The first few validation problems as ``field.path: message``."""
    return validation_problems(exc)


def _check_amounts(product: Product, origin: str) -> None:
    rules = product.credit_line or product.cash_loan
    assert rules is not None
    try:
        limit_minor = parse_minor(rules.credit_limit, product.currency)
        parse_minor(product.overdue.late_fee, product.currency)
        if product.cash_loan is not None:
            draw_min = parse_minor(product.cash_loan.draw_min, product.currency)
            if draw_min > limit_minor:
                raise ProductConfigError("cash_loan.draw_min exceeds the credit limit")
    except ProductConfigError as exc:
        raise ProductConfigError(f"{origin}: {exc.message}") from None
    except Exception as exc:  # InvalidAmountError from parse_minor
        raise ProductConfigError(f"{origin}: {exc}") from None
    if limit_minor <= 0:
        raise ProductConfigError(f"{origin}: credit_limit must be positive")


def loan_rate(product: Product) -> Rate:
    """The contract rate of a cash-loan product, the one every draw and penalty uses."""
    loan = product.cash_loan
    assert loan is not None, "loan_rate is for cash-loan products"
    return Rate.daily_percent(
        loan.daily_rate_percent, loan.day_count, year_days=loan.daily_rate_year_days
    )


def _check_caps(product: Product, origin: str) -> None:
    """Every plan the product can create must have an APR within ``caps.apr_max_percent``."""
    cap = product.caps.apr_max_percent / 100
    source = product.caps.source
    if product.cash_loan is not None:
        loan = product.cash_loan
        rate = loan_rate(product)
        for term in loan.terms:
            for method in loan.methods:
                schedule = build_schedule(
                    APR_PROBE_PRINCIPAL_MINOR,
                    rate,
                    term,
                    RepaymentMethod(method),
                    APR_PROBE_START,
                    currency=product.currency,
                )
                _cap(schedule, cap, source, f"{origin}: cash loan {term} months {method}")
    line = product.credit_line
    if line is not None:
        revolving_annual = line.revolving_daily_rate_percent * 365 / 100
        if revolving_annual > cap:
            raise ProductConfigError(
                f"{origin}: revolving interest {revolving_annual * 100:.2f}% a year exceeds "
                f"the cap "
                f"{cap * 100:.2f}% ({source})"
            )
        for name, card in (("purchase", line.purchase_instalment), ("bill", line.bill_instalment)):
            if card is not None:
                _check_card(product, card, cap, source, f"{origin}: {name} instalment")


def _check_card(product: Product, card: FeeRateCard, cap: Decimal, source: str, what: str) -> None:
    for term, fee_percent in sorted(card.fee_percent.items()):
        schedule = build_instalment_plan(
            APR_PROBE_PRINCIPAL_MINOR,
            term,
            fee_percent / 100,
            APR_PROBE_START,
            currency=product.currency,
            fee_rounding=product.rounding.fee,
        )
        _cap(schedule, cap, source, f"{what} {term} terms")


def _cap(schedule: object, cap: Decimal, source: str, what: str) -> None:
    check_apr_cap(schedule_apr(schedule), cap, source, what)
