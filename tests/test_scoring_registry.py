"""The model registry: versions, metadata, and refusal of altered or malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lendguard.errors import ModelFileError, ModelIntegrityError
from lendguard.scoring.gbdt import GBDTClassifier
from lendguard.scoring.registry import MODEL_FILE, ModelRegistry, dataset_digest, load_model
from lendguard.scoring.scorecard import Scorecard
from scoring_helpers import german_credit


@pytest.fixture(scope="module")
def scorecard() -> Scorecard:
    features, target = german_credit()
    return Scorecard().fit(features, target)


def test_versions_count_up_and_load_the_latest(tmp_path: Path, scorecard: Scorecard) -> None:
    registry = ModelRegistry(tmp_path)
    first = registry.save(scorecard, "a-card", {"note": "first"})
    second = registry.save(scorecard, "a-card", {"note": "second"})
    assert (first.name, second.name) == ("v0001", "v0002")
    assert registry.versions("a-card") == [1, 2]
    latest = registry.load("a-card")
    assert (latest.version, latest.metadata["note"], latest.kind) == (2, "second", "scorecard")
    features, _ = german_credit()
    assert np.array_equal(latest.model.credit_score(features), scorecard.credit_score(features))
    assert registry.load("a-card", 1).metadata["note"] == "first"


def test_no_staging_folders_are_left_behind(tmp_path: Path, scorecard: Scorecard) -> None:
    ModelRegistry(tmp_path).save(scorecard, "a-card", {})
    assert sorted(entry.name for entry in (tmp_path / "a-card").iterdir()) == ["v0001"]


def test_an_edited_model_file_is_refused(tmp_path: Path, scorecard: Scorecard) -> None:
    path = ModelRegistry(tmp_path).save(scorecard, "a-card", {})
    document = json.loads((path / MODEL_FILE).read_text())
    document["model"]["intercept"] += 1.0
    (path / MODEL_FILE).write_text(json.dumps(document, sort_keys=True))
    with pytest.raises(ModelIntegrityError, match="digest"):
        load_model(path)


def test_a_signature_catches_a_rewritten_manifest(tmp_path: Path, scorecard: Scorecard) -> None:
    key = b"risk-committee-key"
    path = ModelRegistry(tmp_path, signing_key=key).save(scorecard, "a-card", {})
    assert load_model(path, key).name == "a-card"
    with pytest.raises(ModelIntegrityError, match="signature"):
        load_model(path, b"another key")
    unsigned = ModelRegistry(tmp_path).save(scorecard, "b-card", {})
    with pytest.raises(ModelIntegrityError, match="not signed"):
        load_model(unsigned, key)


def test_malformed_and_missing_files_are_refused(tmp_path: Path, scorecard: Scorecard) -> None:
    registry = ModelRegistry(tmp_path)
    with pytest.raises(ModelFileError, match="no model named"):
        registry.load("nothing")
    path = registry.save(scorecard, "a-card", {})
    with pytest.raises(ModelFileError, match="no version 7"):
        registry.load("a-card", 7)
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_model(path)
    with pytest.raises(ModelFileError, match="cannot read"):
        load_model(tmp_path / "elsewhere")


@pytest.mark.parametrize("name", ["", "../escape", ".hidden", "a/b", "x" * 101])
def test_unsafe_names_are_refused(tmp_path: Path, scorecard: Scorecard, name: str) -> None:
    with pytest.raises(ModelFileError, match="model name"):
        ModelRegistry(tmp_path).save(scorecard, name, {})


def test_gbdt_round_trips_through_the_registry(tmp_path: Path) -> None:
    features, target = german_credit()
    model = GBDTClassifier(n_estimators=30, calibration="platt").fit(features, target)
    saved = ModelRegistry(tmp_path).save(model, "g", {})
    loaded = load_model(saved)
    assert loaded.kind == "gbdt"
    assert np.allclose(loaded.model.predict_proba(features), model.predict_proba(features))


def test_dataset_digest_sees_every_change() -> None:
    features, target = german_credit()
    base = dataset_digest(features, target)
    assert dataset_digest(features.copy(), target.copy()) == base
    flipped = target.copy()
    flipped[0] = 1 - flipped[0]
    assert dataset_digest(features, flipped) != base
    assert dataset_digest(features.rename(columns={"job": "work"}), target) != base
    edited = features.copy()
    edited.iloc[5, 1] += 1
    assert dataset_digest(edited, target) != base
