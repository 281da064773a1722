"""A model registry on disk: versioned, self-describing, tamper-evident, and never pickled.

Layout::

    ROOT/NAME/v0001/model.json      the model as data (scorecard points, LightGBM text model)
    ROOT/NAME/v0001/manifest.json   metadata + sha256 of model.json (+ HMAC when a key is given)

A version is written to a hidden temporary folder and renamed into place, so a reader never sees
half a model, and two savers racing for the same version number cannot both win (the rename of a
folder onto an existing one fails). Loading recomputes the digest and refuses a file that changed
(:class:`~lendguard.errors.ModelIntegrityError`). A digest alone only catches accidents and careless
edits: whoever can rewrite the model can rewrite its manifest. Given a signing key, the manifest
also carries an HMAC-SHA256 over the model bytes, which an attacker without the key cannot forge.
Loading only parses JSON and LightGBM's text format, so a model file cannot run code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lendguard.errors import ModelFileError, ModelIntegrityError
from lendguard.scoring.gbdt import GBDTClassifier
from lendguard.scoring.scorecard import Scorecard

FORMAT = "lendguard-model"
FORMAT_VERSION = 1
MODEL_FILE = "model.json"
MANIFEST_FILE = "manifest.json"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
VERSION_PATTERN = re.compile(r"^v(\d{4,})$")

KINDS: dict[str, type[Scorecard] | type[GBDTClassifier]] = {
    "scorecard": Scorecard,
    "gbdt": GBDTClassifier,
}


@dataclass(frozen=True)
class SavedModel:
    """A model read back from the registry, with the metadata it was saved with."""

    name: str
    version: int
    path: Path
    kind: str
    model: Scorecard | GBDTClassifier
    metadata: dict[str, Any]
    sha256: str

    @property
    def features(self) -> list[str]:
        """The columns the model reads: a scorecard's selected features, else all it saw."""
        if self.kind == "scorecard":
            return list(self.model.features_)
        return [str(name) for name in self.model.feature_names_in_]


def kind_of(model: Scorecard | GBDTClassifier) -> str:
    """The registry's name for a model's class."""
    for kind, cls in KINDS.items():
        if isinstance(model, cls):
            return kind
    raise TypeError(f"cannot register a {type(model).__name__}")


def dataset_digest(frame: pd.DataFrame, target: Any) -> str:
    """sha256 of a training table's values, column names and target, in row order."""
    digest = hashlib.sha256()
    digest.update(json.dumps([str(name) for name in frame.columns]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(pd.util.hash_pandas_object(pd.Series(target), index=False).to_numpy().tobytes())
    return digest.hexdigest()


class ModelRegistry:
    """Saves and loads versioned models under one root folder."""

    def __init__(self, root: Path, signing_key: bytes | None = None) -> None:
        self.root = Path(root)
        self.signing_key = signing_key

    def save(self, model: Scorecard | GBDTClassifier, name: str, metadata: dict[str, Any]) -> Path:
        """Write the next version of ``name``; returns its folder."""
        check_name(name)
        body = json.dumps(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "kind": kind_of(model),
                "model": model.to_dict(),
            },
            sort_keys=True,
            allow_nan=False,
        ).encode()
        manifest = {
            "name": name,
            "kind": kind_of(model),
            "sha256": hashlib.sha256(body).hexdigest(),
            "hmac_sha256": self._signature(body),
            "metadata": metadata,
        }
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
        _write_synced(staging / MODEL_FILE, body)
        for _ in range(100):
            version = self._next_version(name)
            manifest["version"] = version
            _write_synced(
                staging / MANIFEST_FILE, json.dumps(manifest, indent=2, sort_keys=True).encode()
            )
            target = folder / f"v{version:04d}"
            try:
                os.rename(staging, target)
            except OSError:
                continue
            return target
        raise ModelFileError(f"could not allocate a version of {name} after 100 tries")

    def _signature(self, body: bytes) -> str | None:
        if self.signing_key is None:
            return None
        return hmac.new(self.signing_key, body, hashlib.sha256).hexdigest()

    def versions(self, name: str) -> list[int]:
        """The saved versions of ``name``, oldest first."""
        check_name(name)
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = (VERSION_PATTERN.match(entry.name) for entry in folder.iterdir())
        return sorted(int(match.group(1)) for match in found if match)

    def _next_version(self, name: str) -> int:
        existing = self.versions(name)
        return existing[-1] + 1 if existing else 1

    def load(self, name: str, version: int | None = None) -> SavedModel:
        """Load one version (the latest when ``version`` is None), checking its digests."""
        existing = self.versions(name)
        if not existing:
            raise ModelFileError(f"no model named {name} under {self.root}")
        chosen = existing[-1] if version is None else version
        if chosen not in existing:
            raise ModelFileError(f"{name} has no version {chosen} (has {existing})")
        return load_model(self.root / name / f"v{chosen:04d}", self.signing_key)


def load_model(path: Path, signing_key: bytes | None = None) -> SavedModel:
    """Load the model saved in folder ``path``, refusing anything altered or malformed."""
    path = Path(path)
    manifest = _read_json(path / MANIFEST_FILE)
    try:
        body = (path / MODEL_FILE).read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read {path / MODEL_FILE}: {exc.strerror}") from None
    _verify(body, manifest, signing_key, path)
    document = _parse(body, path / MODEL_FILE)
    if document.get("format") != FORMAT or document.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path} is not a {FORMAT} version {FORMAT_VERSION} model")
    kind = document.get("kind")
    if kind not in KINDS or kind != manifest.get("kind"):
        raise ModelFileError(f"{path}: unknown or inconsistent model kind {kind!r}")
    model = KINDS[kind].from_dict(document["model"])
    try:
        return SavedModel(
            name=str(manifest["name"]),
            version=int(manifest["version"]),
            path=path,
            kind=kind,
            model=model,
            metadata=dict(manifest["metadata"]),
            sha256=str(manifest["sha256"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path / MANIFEST_FILE} is malformed: {exc!r}") from None


def _verify(body: bytes, manifest: dict[str, Any], key: bytes | None, path: Path) -> None:
    if hashlib.sha256(body).hexdigest() != manifest.get("sha256"):
        raise ModelIntegrityError(f"{path / MODEL_FILE} does not match the digest in its manifest")
    if key is None:
        return
    recorded = manifest.get("hmac_sha256")
    if not isinstance(recorded, str):
        raise ModelIntegrityError(f"{path} is not signed, and a signing key was given")
    expected = hmac.new(key, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(recorded, expected):
        raise ModelIntegrityError(f"{path} has a signature that the given key did not make")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return _parse(path.read_bytes(), path)
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror}") from None


def _parse(body: bytes, path: Path) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ModelFileError(f"{path} does not hold a JSON object")
    return document


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def check_name(name: str) -> None:
    """Refuse names that could escape the registry folder or clash with its layout."""
    if not NAME_PATTERN.match(name):
        raise ModelFileError(
            f"model name {name!r} must be 1-100 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
