"""May each data source be queried? One boolean column per source, from the consent records.

No consent, no query: a source is queried only when the application carries a consent that is
valid at its business date ``applied_on``. Valid means granted on or before ``applied_on``, not
withdrawn on or before it, given for one of the purposes the source accepts and in one of the forms
it accepts. What each source accepts is policy, so it lives in ``data/consent.toml`` with the rows
of DOMAIN.md it comes from: the credit bureau needs written consent with a stated purpose (DOMAIN
6.31, 征信业管理条例 Art. 18); income and other sensitive personal information needs a separate,
written consent (DOMAIN 6.18 and 6.27); the other sources take written or electronic consent.

The same test decides the columns and the audit record, so the record always explains the column.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from collections.abc import Sequence
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from lendguard.errors import LendGuardError, validation_problems
from lendguard.underwriting.application import (
    DATA,
    Application,
    Consent,
    ConsentForm,
    ConsentSource,
    PurposeCode,
)

CONSENT_COLUMNS: dict[ConsentSource, str] = {
    source: f"consent_{source}" for source in ConsentSource
}
"""The consent column of each source, in the order of the column contract."""


class ConsentConfigError(LendGuardError):
    """A consent policy file that is malformed, misses a source or leaves a source unsourced."""

    code = "invalid_consent_config"


class ConsentStatus(StrEnum):
    """Why a source may or may not be queried; checked in this order, the first failure wins."""

    VALID = "valid"
    MISSING = "missing"
    NOT_YET_GRANTED = "not_yet_granted"
    WITHDRAWN = "withdrawn"
    FORM_NOT_ALLOWED = "form_not_allowed"
    PURPOSE_NOT_ALLOWED = "purpose_not_allowed"


Source = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceRule(_Strict):
    """What one source accepts, and where that requirement comes from."""

    forms: frozenset[ConsentForm] = Field(min_length=1)
    purposes: frozenset[PurposeCode] = Field(min_length=1)
    source: Source


class PolicyHeader(_Strict):
    id: str = Field(min_length=1)
    version: str = Field(min_length=1)
    source: Source


class ConsentPolicy(_Strict):
    """The whole consent policy file, with its sha256 for the audit record."""

    policy: PolicyHeader
    sources: dict[ConsentSource, SourceRule]
    sha256: str = ""


def load_consent_policy(path: Path | str | None = None) -> ConsentPolicy:
    """Read and check a consent policy (default: the packaged one); every source must be there."""
    origin = str(path or "consent.toml")
    try:
        body = (Path(path) if path is not None else DATA / "consent.toml").read_bytes()
        policy = ConsentPolicy.model_validate(
            {**tomllib.loads(body.decode()), "sha256": hashlib.sha256(body).hexdigest()}
        )
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConsentConfigError(f"{origin}: cannot read: {exc}") from None
    except ValidationError as exc:
        raise ConsentConfigError(f"{origin}: {validation_problems(exc)}") from None
    missing = [str(source) for source in ConsentSource if source not in policy.sources]
    if missing:
        raise ConsentConfigError(f"{origin}: sources missing: {', '.join(missing)}")
    return policy


@cache
def default_consent_policy() -> ConsentPolicy:
    """The packaged policy, read once."""
    return load_consent_policy()


def consent_status(consent: Consent, applied_on: dt.date, rule: SourceRule) -> ConsentStatus:
    """Whether one consent lets its source be used at ``applied_on``, and if not, why not."""
    if consent.granted_on > applied_on:
        return ConsentStatus.NOT_YET_GRANTED
    if consent.withdrawn_on is not None and consent.withdrawn_on <= applied_on:
        return ConsentStatus.WITHDRAWN
    if consent.form not in rule.forms:
        return ConsentStatus.FORM_NOT_ALLOWED
    if consent.purpose not in rule.purposes:
        return ConsentStatus.PURPOSE_NOT_ALLOWED
    return ConsentStatus.VALID


def _valid_sources(application: Application, policy: ConsentPolicy) -> set[ConsentSource]:
    applied_on = application.applied_on
    return {
        consent.source
        for consent in application.consents
        if consent_status(consent, applied_on, policy.sources[consent.source])
        is ConsentStatus.VALID
    }


def consent_columns(
    applications: Sequence[Application], policy: ConsentPolicy | None = None
) -> pd.DataFrame:
    """``consent_<source>`` for each source: true when a valid consent exists at ``applied_on``."""
    return pd.DataFrame(consent_arrays(applications, policy), copy=False)


def consent_arrays(
    applications: Sequence[Application], policy: ConsentPolicy | None = None
) -> dict[str, np.ndarray]:
    """The columns of :func:`consent_columns` as arrays, for the decision path's table."""
    policy = policy or default_consent_policy()
    valid = [_valid_sources(application, policy) for application in applications]
    return {
        column: np.array([source in sources for sources in valid], dtype=bool)
        for source, column in CONSENT_COLUMNS.items()
    }


def _chosen(
    consents: list[Consent], applied_on: dt.date, rule: SourceRule
) -> tuple[Consent | None, ConsentStatus]:
    """The consent that decides a source: the latest valid one, else the latest one given."""
    if not consents:
        return None, ConsentStatus.MISSING
    ranked = sorted(consents, key=lambda consent: consent.granted_on, reverse=True)
    for consent in ranked:
        if consent_status(consent, applied_on, rule) is ConsentStatus.VALID:
            return consent, ConsentStatus.VALID
    return ranked[0], consent_status(ranked[0], applied_on, rule)


def consent_audit(
    application: Application, policy: ConsentPolicy | None = None
) -> list[dict[str, Any]]:
    """For each source, the consent that decided its column and why, for the audit record."""
    policy = policy or default_consent_policy()
    entries = []
    for source, column in CONSENT_COLUMNS.items():
        rule = policy.sources[source]
        given = [consent for consent in application.consents if consent.source == source]
        consent, status = _chosen(given, application.applied_on, rule)
        entries.append(
            {
                "source": str(source),
                "column": column,
                "valid": status is ConsentStatus.VALID,
                "status": str(status),
                "consent": None if consent is None else consent.model_dump(mode="json"),
                "consents_given": len(given),
                "policy": f"{policy.policy.id}@{policy.policy.version}",
                "policy_sha256": policy.sha256,
                "rule_source": rule.source,
            }
        )
    return entries
