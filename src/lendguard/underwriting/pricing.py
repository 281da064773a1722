"""Prices and instalments for underwriting: a grade's daily rate, its APR, and the monthly payment.

The APR (IRR, PBOC 公告〔2021〕第3号, DOMAIN 6.8) and the payment per unit of principal come from
the servicing core's own schedule and APR rules (:mod:`lendguard.plans`), never a second formula.
A quote depends on (daily rate, term, drawdown date); it is computed once per combination and
cached, so a batch of many applications prices a handful of schedules.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from lendguard.plans.apr import AprResult, check_apr_cap, percent_text
from lendguard.plans.interest import Rate
from lendguard.plans.schedule import build_schedule
from lendguard.products.loader import ProductFile

QUOTES_CACHED_MAX = 4096


@dataclass(frozen=True)
class Quote:
    """One price: the APR disclosed for it and the largest monthly payment per unit lent."""

    daily_rate_percent: str
    term_months: int
    apr: AprResult
    instalment_per_unit: float

    @property
    def apr_percent(self) -> str:
        """The nominal APR as disclosed, e.g. ``"14.53"``."""
        return percent_text(self.apr.nominal_annual)


@lru_cache(maxsize=QUOTES_CACHED_MAX)
def quote(
    product: ProductFile,
    daily_rate_percent: str,
    term_months: int,
    start: dt.date,
    method: str,
    reference_principal_minor: int,
) -> Quote:
    """The quote for a rate and term on ``product``, drawn on ``start`` (cached)."""
    loan = product.product.cash_loan
    assert loan is not None, "underwriting prices cash loans"
    rate = Rate.daily_percent(
        Decimal(daily_rate_percent), loan.day_count, year_days=loan.daily_rate_year_days
    )
    schedule = build_schedule(reference_principal_minor, rate, term_months, method, start)
    largest_payment = max(period.payment_minor for period in schedule.periods)
    return Quote(
        daily_rate_percent=daily_rate_percent,
        term_months=term_months,
        apr=schedule.apr,  # the schedule's own IRR: no upfront fee here
        instalment_per_unit=largest_payment / reference_principal_minor,
    )


def check_price_caps(
    product: ProductFile,
    daily_rates_percent: list[str],
    method: str,
    reference_principal_minor: int,
    start: dt.date,
) -> None:
    """Refuse any rate whose APR breaks the product's cap at any term the product offers."""
    caps = product.product.caps
    loan = product.product.cash_loan
    assert loan is not None, "underwriting prices cash loans"
    for daily_rate_percent in daily_rates_percent:
        for term in loan.terms:
            offer = quote(
                product, daily_rate_percent, term, start, method, reference_principal_minor
            )
            check_apr_cap(
                offer.apr,
                caps.apr_max_percent / 100,
                caps.source,
                f"{product.product_id} at {daily_rate_percent}% a day over {term} months",
            )
