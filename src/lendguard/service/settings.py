"""The service's settings, read from the environment by one function, checked once at startup.

Why no pydantic-settings: three values do not justify a dependency. Secrets that look like a
default or are short are refused here, before the app opens a database, because a service that
starts with ``LENDGUARD_ADMIN_KEY=changeme`` hands the book to anyone who guesses it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lendguard.errors import LendGuardError
from lendguard.store import default_url
from lendguard.store.database import DATABASE_URL_VARIABLE, DEFAULT_URL

PII_KEYS_VARIABLE = "LENDGUARD_PII_KEYS"
ADMIN_KEY_VARIABLE = "LENDGUARD_ADMIN_KEY"
MODEL_KEY_VARIABLE = "LENDGUARD_MODEL_KEY"
MODELS_DIR_VARIABLE = "LENDGUARD_MODELS_DIR"
EOD_OUT_VARIABLE = "LENDGUARD_EOD_OUT"

SECRET_LENGTH_MIN = 32
"""Shortest secret accepted: ``secrets.token_urlsafe(32)`` gives 43 characters."""

SECRET_DISTINCT_CHARACTERS_MIN = 10
"""A long secret made of few characters (``aaaa...``, ``changemechangeme...``) is a pattern."""

WEAK_SECRET_WORDS = frozenset(
    {"changeme", "change-me", "secret", "admin", "password", "default", "test", "lendguard"}
)
"""Words that mark a placeholder secret when the value is one of them (any case)."""

BOOTSTRAP_ADMIN_NAME = "bootstrap-admin"
"""Name under which the bootstrap admin key is stored."""


class InsecureSecretError(LendGuardError):
    """A configured secret that is short or an obvious placeholder."""

    code = "insecure_secret"


def check_secret(name: str, value: str) -> str:
    """``value`` if it could be a real secret; raises :class:`InsecureSecretError` naming ``name``.

    The message never repeats the value: it may be a real (if weak) secret.
    """
    if value.strip().lower() in WEAK_SECRET_WORDS:
        raise InsecureSecretError(f"{name} is a placeholder value; set a random secret")
    if len(value) < SECRET_LENGTH_MIN:
        raise InsecureSecretError(
            f"{name} must be at least {SECRET_LENGTH_MIN} characters "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if len(set(value)) < SECRET_DISTINCT_CHARACTERS_MIN:
        raise InsecureSecretError(f"{name} repeats a few characters; set a random secret")
    return value


@dataclass(frozen=True)
class Settings:
    """Where the book lives and the secrets the service starts with.

    ``pii_keys`` is the raw ``LENDGUARD_PII_KEYS`` text (its format belongs to
    :mod:`lendguard.service.pii`); ``bootstrap_admin_key`` is an admin API key created at startup
    when absent, so a fresh install can issue the other keys; ``models_dir`` is the model
    registry scored from, ``model_key`` the key its models are signed with (as for
    ``lendguard model``), ``eod_out_dir`` where close of business writes its Parquet outputs.
    Secrets stay out of ``repr``.
    """

    db_url: str = field(default_factory=default_url)
    pii_keys: str | None = field(default=None, repr=False)
    bootstrap_admin_key: str | None = field(default=None, repr=False)
    models_dir: Path = Path("models")
    model_key: bytes | None = field(default=None, repr=False)
    eod_out_dir: Path = Path("eod-out")

    def __post_init__(self) -> None:
        if self.bootstrap_admin_key is not None:
            check_secret(ADMIN_KEY_VARIABLE, self.bootstrap_admin_key)
        if self.model_key is not None:
            check_secret(MODEL_KEY_VARIABLE, self.model_key.decode("utf-8", "replace"))


def load_settings(db_url: str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment (``LENDGUARD_DB``, ``LENDGUARD_PII_KEYS``,
    ``LENDGUARD_ADMIN_KEY``, ``LENDGUARD_MODELS_DIR``, ``LENDGUARD_MODEL_KEY``,
    ``LENDGUARD_EOD_OUT``); ``db_url`` overrides the database. Empty variables count as unset."""
    env = os.environ if environ is None else environ
    model_key = env.get(MODEL_KEY_VARIABLE)
    return Settings(
        db_url=db_url or env.get(DATABASE_URL_VARIABLE) or DEFAULT_URL,
        pii_keys=env.get(PII_KEYS_VARIABLE) or None,
        bootstrap_admin_key=env.get(ADMIN_KEY_VARIABLE) or None,
        models_dir=Path(env.get(MODELS_DIR_VARIABLE) or "models"),
        model_key=model_key.encode() if model_key else None,
        eod_out_dir=Path(env.get(EOD_OUT_VARIABLE) or "eod-out"),
    )
