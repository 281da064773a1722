"""Exact money: parsing, refusing floats and sub-minor precision, and named rounding."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lendguard.errors import CurrencyMismatchError, InvalidAmountError
from lendguard.money import Money, RoundingMode, format_minor, parse_minor, round_minor

REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("text", ["1e3", "nan", "inf", "12.345", "1,000.00", "", "abc", " 1 2"])
def test_text_that_is_not_a_plain_amount_in_the_minor_unit_is_refused(text: str) -> None:
    with pytest.raises(InvalidAmountError):
        parse_minor(text, "CNY")


def test_floats_and_bools_never_become_money() -> None:
    with pytest.raises(InvalidAmountError):
        Money(10.0, "CNY")  # type: ignore[arg-type]
    with pytest.raises(InvalidAmountError):
        Money(True, "CNY")  # type: ignore[arg-type]
    with pytest.raises(InvalidAmountError):
        parse_minor(12.5, "CNY")  # type: ignore[arg-type]


def test_currencies_do_not_mix() -> None:
    with pytest.raises(CurrencyMismatchError):
        Money(100, "CNY") + Money(100, "USD")


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_format_and_parse_round_trip(amount_minor: int) -> None:
    assert parse_minor(format_minor(amount_minor, "CNY"), "CNY") == amount_minor


@pytest.mark.parametrize(
    ("value", "mode", "expected"),
    [
        (Decimal("2.5"), RoundingMode.HALF_EVEN, 2),
        (Decimal("3.5"), RoundingMode.HALF_EVEN, 4),
        (Decimal("2.5"), RoundingMode.HALF_UP, 3),
        (Decimal("-2.5"), RoundingMode.HALF_UP, -3),
        (Decimal("2.9"), RoundingMode.DOWN, 2),
        (Decimal("-2.1"), RoundingMode.FLOOR, -3),
        (Decimal("2.1"), RoundingMode.CEILING, 3),
        (Fraction(1, 3), RoundingMode.UP, 1),
    ],
)
def test_rounding_is_only_by_named_mode(value: Decimal, mode: RoundingMode, expected: int) -> None:
    assert round_minor(value, mode) == expected


@pytest.mark.parametrize("name", ["huabei-standard.toml", "jiebei-standard.toml"])
def test_the_packaged_sample_products_are_the_documented_ones(name: str) -> None:
    packaged = REPOSITORY / "src" / "lendguard" / "data" / "products" / name
    assert packaged.read_bytes() == (REPOSITORY / "products" / name).read_bytes()
