"""Exact money: integer minor units with a currency; rounding only through named modes.

Why integers: a ledger must balance to the fen on every event, and binary floats cannot hold 0.1.
Amounts enter as ``int`` minor units or as decimal strings (``"5000.00"``); floats are refused.
Rate arithmetic uses :class:`decimal.Decimal` at high precision and comes back to minor units only
through :func:`round_minor`, which always takes the rounding mode explicitly.
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from lendguard import limits
from lendguard.errors import CurrencyMismatchError, InvalidAmountError

CURRENCY_EXPONENTS: dict[str, int] = {"CNY": 2, "USD": 2, "EUR": 2, "HKD": 2, "JPY": 0}
"""Minor-unit exponent per ISO 4217 currency (ISO 4217 table)."""

_CONTEXT = decimal.Context(
    prec=50, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation]
)


class RoundingMode(StrEnum):
    """Named rounding modes. Products name theirs; nothing rounds implicitly."""

    HALF_EVEN = "half-even"
    HALF_UP = "half-up"
    DOWN = "down"
    """Toward zero (truncate)."""
    UP = "up"
    """Away from zero."""
    FLOOR = "floor"
    CEILING = "ceiling"


_DECIMAL_MODES = {
    RoundingMode.HALF_EVEN: decimal.ROUND_HALF_EVEN,
    RoundingMode.HALF_UP: decimal.ROUND_HALF_UP,
    RoundingMode.DOWN: decimal.ROUND_DOWN,
    RoundingMode.UP: decimal.ROUND_UP,
    RoundingMode.FLOOR: decimal.ROUND_FLOOR,
    RoundingMode.CEILING: decimal.ROUND_CEILING,
}


def to_decimal(value: Decimal | str | int) -> Decimal:
    """Read a rate or factor exactly; floats are refused because they are already inexact."""
    if isinstance(value, bool | float):
        raise InvalidAmountError(f"floats are not accepted for exact arithmetic: {value!r}")
    try:
        result = _CONTEXT.create_decimal(value)
    except (decimal.InvalidOperation, ValueError, TypeError) as exc:
        raise InvalidAmountError(f"not a decimal number: {value!r}") from exc
    if not result.is_finite():
        raise InvalidAmountError(f"not a finite number: {value!r}")
    return result


def round_minor(value: Decimal | Fraction | int, mode: RoundingMode) -> int:
    """Round an exact quantity of minor units to an integer with the given mode."""
    if isinstance(value, Fraction):
        value = _CONTEXT.divide(Decimal(value.numerator), Decimal(value.denominator))
    quantized = Decimal(value).quantize(Decimal(1), rounding=_DECIMAL_MODES[RoundingMode(mode)])
    return int(quantized)


def check_minor(amount_minor: object, *, what: str = "amount") -> int:
    """Validate a minor-unit integer: an int (not bool, not float) within ``amount_minor_max``."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise InvalidAmountError(
            f"{what} must be an integer number of minor units, got {type(amount_minor).__name__} "
            f"{amount_minor!r}"
        )
    if abs(amount_minor) > limits.amount_minor_max:
        raise InvalidAmountError(
            f"{what} {amount_minor} exceeds the limit {limits.amount_minor_max}"
        )
    return amount_minor


def check_positive(amount_minor: object, *, what: str = "amount") -> int:
    """Validate a strictly positive minor-unit amount (money movements are never zero)."""
    value = check_minor(amount_minor, what=what)
    if value <= 0:
        raise InvalidAmountError(f"{what} must be positive, got {value}")
    return value


def exponent(currency: str) -> int:
    """Minor-unit exponent of a currency; unknown currencies are an error, not a guess."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise InvalidAmountError(
            f"unknown currency {currency!r}; known: {', '.join(sorted(CURRENCY_EXPONENTS))}"
        ) from None


_PLAIN_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
"""Money as people write it: ``1234.56``. Exponents (``1e3``), ``nan`` and ``inf`` are refused."""


def parse_minor(text: str, currency: str) -> int:
    """Parse a decimal string such as ``"5000.00"`` into minor units; no sub-minor precision."""
    if not isinstance(text, str):
        raise InvalidAmountError(f"amount must be given as a decimal string, got {text!r}")
    if not _PLAIN_DECIMAL.fullmatch(text.strip()):
        raise InvalidAmountError(f"not a plain decimal amount such as 1234.56: {text!r}")
    value = to_decimal(text.strip())
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise InvalidAmountError(
            f"amount {text!r} has more precision than the minor unit of {currency} "
            f"({exponent(currency)} decimals)"
        )
    return check_minor(int(scaled))


def format_minor(amount_minor: int, currency: str) -> str:
    """Minor units as a plain decimal string (``123456`` CNY -> ``"1234.56"``)."""
    places = exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    whole, part = divmod(abs(amount_minor), 10**places)
    return f"{sign}{whole}.{part:0{places}d}" if places else f"{sign}{whole}"


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: integer minor units and an ISO currency. Immutable."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        check_minor(self.amount_minor)
        exponent(self.currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Build from a decimal string, refusing floats and sub-minor precision."""
        return cls(parse_minor(text, currency), currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def __str__(self) -> str:
        return f"{format_minor(self.amount_minor, self.currency)} {self.currency}"
