"""Rules derived once per product version: buckets, thresholds and rates as ready values.

The close-of-day step runs for every account every night, so it must not re-parse percent strings
or rebuild bucket tables per account. Everything here is computed from the product file alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from lendguard.delinquency.buckets import BucketScheme
from lendguard.delinquency.classification import ClassificationThresholds, Ifrs9Thresholds
from lendguard.money import parse_minor
from lendguard.products.loader import ProductFile, loan_rate
from lendguard.products.model import Component, Product


@dataclass(frozen=True)
class ProductRules:
    """A product's rules in the form the daily close uses them."""

    product: Product
    buckets: BucketScheme
    classification: ClassificationThresholds
    stages: Ifrs9Thresholds
    penalty_daily_rate: Decimal
    penalty_components: frozenset[Component]
    revolving_daily_rate: Decimal
    late_fee_minor: int


def penalty_terms(product: Product) -> tuple[Decimal, frozenset[Component]]:
    """Daily penalty rate and the components it is charged on (DOMAIN 1.8, 2.6, 9).

    ``overdue-amount``: the configured rate on overdue principal, interest and fees (never on
    penalty or late fees: no interest on penalty, DOMAIN 6.7). ``overdue-principal``: the contract
    rate times the multiplier (e.g. 1.5) on overdue principal, and on overdue interest too when
    ``compound_overdue_interest`` is set (银发〔2003〕251号).
    """
    overdue = product.overdue
    if overdue.penalty_daily_rate_percent is not None:
        rate = overdue.penalty_daily_rate_percent / 100
    else:
        assert overdue.penalty_contract_rate_multiplier is not None
        contract = loan_rate(product).daily
        assert contract is not None
        rate = contract * overdue.penalty_contract_rate_multiplier
    if overdue.penalty_base == "overdue-amount":
        return rate, frozenset({Component.PRINCIPAL, Component.INTEREST, Component.FEE})
    if overdue.compound_overdue_interest:
        return rate, frozenset({Component.PRINCIPAL, Component.INTEREST})
    return rate, frozenset({Component.PRINCIPAL})


@lru_cache(maxsize=256)
def rules_for(product_file: ProductFile) -> ProductRules:
    """The derived rules of one product version (cached: product files are immutable)."""
    product = product_file.product
    settings = product.delinquency
    buckets = (
        BucketScheme.from_mapping(settings.buckets, source=settings.source)
        if settings.buckets
        else BucketScheme.default()
    )
    classification = (
        ClassificationThresholds.risk_classification_2023()
        if settings.classification == "risk-classification-2023"
        else ClassificationThresholds()
    )
    penalty_rate, penalty_components = penalty_terms(product)
    line = product.credit_line
    return ProductRules(
        product=product,
        buckets=buckets,
        classification=classification,
        stages=Ifrs9Thresholds(),
        penalty_daily_rate=penalty_rate,
        penalty_components=penalty_components,
        revolving_daily_rate=line.revolving_daily_rate_percent / 100 if line else Decimal(0),
        late_fee_minor=parse_minor(product.overdue.late_fee, product.currency),
    )
