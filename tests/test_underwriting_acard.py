"""The packaged application scorecard is reproducible from its stated synthetic ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lendguard.scoring.registry import MODEL_FILE
from lendguard.underwriting.acard import train
from lendguard.underwriting.config import load_config
from lendguard.underwriting.standard import PACKAGE_DATA, packaged_model


def _to_digits(value: Any, digits: int = 12) -> Any:
    """Floats to ``digits`` significant digits, recursively: a BLAS solve may differ in the last
    bit from one run to another (thread scheduling changes the summation order)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {key: _to_digits(item, digits) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_digits(item, digits) for item in value]
    return value


def test_retraining_reproduces_the_shipped_model(tmp_path: Path) -> None:
    shipped = packaged_model(load_config())
    retrained = train(tmp_path)
    assert _to_digits(json.loads((retrained / MODEL_FILE).read_text())) == _to_digits(
        json.loads((shipped.path / MODEL_FILE).read_text())
    )
    assert Path(str(PACKAGE_DATA)) in shipped.path.parents


def test_the_shipped_model_ranks_its_training_truth(tmp_path: Path) -> None:
    shipped = packaged_model(load_config())
    assert shipped.metadata["training_rows"] == 40_000
    assert 0.05 < shipped.metadata["training_bad_rate"] < 0.11
    assert all(coefficient > 0 for coefficient in shipped.model.coefficients_)
