"""Input checks every scoring estimator shares: a binary target and a table of named features.

Estimators accept a pandas DataFrame (column names are the feature names) or a 2-D array
(features are named ``x0``, ``x1`` ... as scikit-learn does). Checks raise
:class:`~lendguard.errors.ScoringDataError` naming the column, so bad data never becomes a silently
wrong model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lendguard.errors import MissingFeatureError, ScoringDataError


def binary_target(y: Any) -> np.ndarray:
    """Return ``y`` as an int8 array of 0 (good) and 1 (bad), or refuse it.

    Accepts booleans, integers and floats that are exactly 0 or 1. Missing values, other values and
    a target with only one class are refused: none of them can train a risk model. Two
    comparisons check the values; ``np.unique`` (a sort) runs only to name values that are not 0/1.
    """
    values = np.asarray(y)
    if values.ndim != 1:
        raise ScoringDataError(f"the target must be one column, got shape {values.shape}")
    if values.size == 0:
        raise ScoringDataError("the target is empty")
    if values.dtype.kind not in "biuf":
        raise ScoringDataError(
            f"the target must be 0/1, got values of type {values.dtype} "
            "(map a text target with --bad-value)"
        )
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise ScoringDataError("the target has missing values")
    is_bad = values == 1
    bad_count = int(np.count_nonzero(is_bad))
    if bad_count + np.count_nonzero(values == 0) != values.size:
        unique = np.unique(values)
        shown = ", ".join(str(value) for value in unique[:5])
        raise ScoringDataError(f"the target must be 0/1, got values {shown}")
    if bad_count in (0, values.size):
        raise ScoringDataError(f"the target has one class only ({values[0]}): nothing to learn")
    return is_bad.astype(np.int8)


def feature_frame(X: Any) -> pd.DataFrame:  # noqa: N803
    """Return ``X`` as a DataFrame with string column names, without copying a DataFrame."""
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        array = np.asarray(X)
        if array.ndim != 2:
            raise ScoringDataError(f"features must be a 2-D table, got shape {array.shape}")
        frame = pd.DataFrame(array, columns=[f"x{index}" for index in range(array.shape[1])])
    if frame.shape[0] == 0:
        raise ScoringDataError("the feature table has no rows")
    if frame.shape[1] == 0:
        raise ScoringDataError("the feature table has no columns")
    if not all(isinstance(name, str) for name in frame.columns):
        frame = frame.rename(columns=str)
    if frame.columns.duplicated().any():
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise ScoringDataError(f"duplicate feature columns: {', '.join(duplicated)}")
    return frame


def require_columns(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Return ``frame`` restricted to ``names`` in order, or name every column that is missing."""
    _check_present(names, frame.columns)
    return frame.loc[:, list(names)]


def require_feature_arrays(
    columns: Mapping[str, Any], names: Sequence[str]
) -> dict[str, np.ndarray]:
    """The named columns of a mapping as 1-D arrays of one length, or a clear refusal: the same
    checks as :func:`feature_frame` and :func:`require_columns`, without building a table."""
    _check_present(names, columns)
    arrays = {name: np.asarray(columns[name]) for name in names}
    lengths = {array.shape for array in arrays.values()}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise ScoringDataError(f"feature columns must be 1-D and of one length, got {lengths}")
    if next(iter(lengths))[0] == 0:
        raise ScoringDataError("the feature table has no rows")
    return arrays


def _check_present(names: Sequence[str], present: Any) -> None:
    missing = [name for name in names if name not in present]
    if missing:
        raise MissingFeatureError(f"the data lacks model features: {', '.join(missing)}")
