"""Typed errors for bad input and refused business actions.

Every error a caller can cause carries a stable ``code`` so the CLI can print one clear line and
exit 2, and the service (later) can answer problem+json. Broken invariants are not here: they are
plain ``AssertionError`` and crash, because they mean a bug, not bad input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class LendGuardError(Exception):
    """Base class: an input or a request the platform refuses. Nothing was written."""

    code = "lendguard_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidAmountError(LendGuardError):
    """An amount that is a float, finer than the minor unit, or not positive where required."""

    code = "invalid_amount"


class CurrencyMismatchError(LendGuardError):
    """Two amounts in different currencies were combined."""

    code = "currency_mismatch"


class InvalidDateError(LendGuardError):
    """A date outside what the operation allows (before opening, before the last close...)."""

    code = "invalid_date"


class CalendarRangeError(LendGuardError):
    """A business-calendar question about a date the calendar has no data for."""

    code = "calendar_out_of_range"


class ProductConfigError(LendGuardError):
    """A product file that is missing fields, has contradictory fields or breaks a rate cap."""

    code = "invalid_product"


class RateCapError(ProductConfigError):
    """A plan or product whose APR exceeds the configured cap."""

    code = "rate_cap_exceeded"


class UnknownAccountError(LendGuardError):
    """No account with that id."""

    code = "unknown_account"


class UnknownProductError(LendGuardError):
    """No product with that id or path."""

    code = "unknown_product"


class AccountStateError(LendGuardError):
    """The event is not allowed in the account's current state (closed, frozen, over limit...)."""

    code = "account_state"


class InvalidEventError(LendGuardError):
    """An event whose fields are malformed or that refers to something that does not exist."""

    code = "invalid_event"


class IdempotencyConflictError(LendGuardError):
    """A request id reused with a different request body."""

    code = "idempotency_conflict"


class ScheduleError(LendGuardError):
    """Schedule parameters that cannot produce a schedule (term <= 0, negative rate...)."""

    code = "invalid_schedule"


class ScoringDataError(LendGuardError, ValueError):
    """Training or scoring data the scoring toolkit cannot use as given.

    A target that is not binary, a feature that is constant or entirely missing, a non-numeric value
    in a numeric feature: each names the column and what was wrong with it. It is also a
    ``ValueError``, which is what scikit-learn (and its conformance checks) expect of bad data.
    """

    code = "invalid_scoring_data"


class MissingFeatureError(ScoringDataError):
    """Scoring data lacks a column the model was trained on."""

    code = "missing_feature"


class UnseenCategoryError(ScoringDataError):
    """A categorical value at scoring time that the model never saw in training."""

    code = "unseen_category"


class ModelFileError(LendGuardError):
    """A saved model that cannot be read: unknown format version, missing parts, bad JSON."""

    code = "invalid_model_file"


class ModelIntegrityError(ModelFileError):
    """A saved model whose bytes no longer match the digests recorded when it was saved."""

    code = "model_tampered"


def validation_problems(exc: ValidationError, limit: int = 5) -> str:
    """The first ``limit`` problems of a pydantic validation as ``field.path: message``, one
    wording for every configuration and input file LendGuard reads."""
    parts = []
    for error in exc.errors(include_url=False)[:limit]:
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        parts.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)
