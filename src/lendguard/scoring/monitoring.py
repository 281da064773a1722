"""Is the population a model scores today still the one it was trained on?

A model's ranking and calibration hold only while applicants look like the training sample. The
population stability index (PSI) measures how far a variable's distribution has moved between an
``expected`` sample (training) and an ``actual`` one (recent scoring traffic)::

    PSI = sum over buckets of (actual_share - expected_share) * ln(actual_share / expected_share)

Buckets: a numeric variable is cut at quantiles of the expected sample into intervals closed on
the left, ``(-inf, q1), [q1, q2) ... [qk, +inf)``, as the scorecard bins are (a cut point is a data
value and belongs to the bucket it starts); a categorical one has a bucket per training
category (the ``category_buckets_max`` most frequent; rarer ones and categories never seen in
training share an ``(other)`` bucket). Missing values get a ``(missing)`` bucket. The optional
buckets, ``(missing)`` and ``(other)``, are listed only when one of the samples has values in them
(empty in both, they would add nothing, see below).

Smoothing, one rule everywhere: ``smoothing`` (0.5 by default) is added to the count of every
bucket that either sample has rows in, in both samples, before shares are computed: ``share =
(count + smoothing) / (total + smoothing * occupied_buckets)``. A bucket empty in one sample
therefore adds a large but finite term instead of an infinite one, and is never dropped (dropping
it would hide exactly the shift PSI is for). A bucket empty in both samples (a scorecard's missing
bin when no value is missing, say) says nothing about a move: it keeps share 0 and adds 0, where
smoothing it would add a term that depends only on the sample sizes. With ``smoothing=0`` a bucket
empty in one sample only is refused.

The characteristic stability index (CSI) of a binned feature reads the same shares on the bins of
a :class:`~lendguard.scoring.binning.FeatureBinning`; see :func:`csi` for the two definitions.

Status thresholds follow the industry convention for PSI (credit-risk model monitoring practice,
e.g. Siddiqi, *Credit Risk Scorecards*, 2006): below 0.1 stable, 0.1 to 0.25 watch, above 0.25 a
significant shift. They are parameters because a team's policy may set its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from lendguard.errors import ScoringDataError
from lendguard.scoring.binning import FeatureBinning
from lendguard.scoring.data import require_columns

bins_max = 100
"""Most quantile buckets a numeric PSI may ask for: PSI grows with bucket count, and beyond this
each bucket holds too few rows for its share to mean anything."""

category_buckets_max = 50
"""Training categories that keep their own PSI bucket (the most frequent); the rest share
``(other)``, so a free-text column cannot make a report of millions of rows."""

MISSING_LABEL = "(missing)"
OTHER_LABEL = "(other)"
STATUSES = ("stable", "watch", "shift")
"""Feature statuses from least to most alarming; the overall status is the worst of them."""


@dataclass(frozen=True)
class _Buckets:
    """Both samples' counts over the same buckets, with what a table shows of each bucket."""

    labels: list[str]
    lowers: list[float | None]
    uppers: list[float | None]
    expected_counts: np.ndarray
    actual_counts: np.ndarray


def psi_from_counts(expected_counts: Any, actual_counts: Any, smoothing: float = 0.5) -> float:
    """PSI of two samples already counted over the same buckets (in the same order)."""
    expected, actual = _checked_counts(expected_counts, actual_counts)
    return float(_contributions(expected, actual, smoothing).sum())


def psi(
    expected: Any, actual: Any, bins: int | Sequence[float] = 10, smoothing: float = 0.5
) -> float:
    """PSI of a numeric variable, bucketed at ``bins`` quantiles of ``expected`` or at given edges.

    ``bins`` as a sequence is the cut points; a leading ``-inf`` and trailing ``+inf`` may be
    included or left out. The quantile cut for level ``q`` is the expected value at sorted position
    ``floor(q * n)``, so about ``q * n`` rows fall below it; repeated cuts and a cut at the minimum
    are dropped, so every bucket holds at least one expected row and a heavily tied variable gets
    fewer buckets than asked.
    """
    buckets = _numeric_buckets(expected, actual, bins, name="values")
    return float(_contributions(buckets.expected_counts, buckets.actual_counts, smoothing).sum())


def psi_table(
    expected: Any, actual: Any, bins: int | Sequence[float] = 10, smoothing: float = 0.5
) -> list[dict[str, Any]]:
    """The buckets of :func:`psi`, one JSON-safe row each; ``contribution`` sums to the PSI.

    Shares are the smoothed ones the PSI is computed from; ``lower``/``upper`` are ``None`` where
    unbounded and for ``(missing)``.
    """
    return _bucket_rows(_numeric_buckets(expected, actual, bins, name="values"), smoothing)


def csi(
    expected_values: Any,
    actual_values: Any,
    binning: FeatureBinning,
    *,
    kind: Literal["woe", "psi"] = "woe",
    smoothing: float = 0.5,
    unseen_category: str = "error",
) -> float:
    """Characteristic stability index of one feature over its scorecard bins.

    ``kind="woe"`` (the scorecard definition, default): ``sum((actual_share - expected_share) *
    woe)`` over the bins. It is signed: positive means applicants moved into riskier bins, and
    times the feature's points per unit of WoE it is the average score shift the feature causes.
    ``kind="psi"``: the PSI formula over the same bins, an unsigned size of the move that some
    teams call CSI. Shares use the module's smoothing rule; ``unseen_category`` is passed to
    ``binning.bin_indices`` (``"error"`` refuses a category the binning never saw).
    """
    if kind not in ("woe", "psi"):
        raise ValueError(f"kind must be 'woe' or 'psi', got {kind!r}")
    bin_count = len(binning.bins)
    expected = _bin_counts(binning, expected_values, bin_count, unseen_category)
    actual = _bin_counts(binning, actual_values, bin_count, unseen_category)
    if kind == "psi":
        return float(_contributions(expected, actual, smoothing).sum())
    woe = np.array([bin_.woe for bin_ in binning.bins], dtype=np.float64)
    expected_share, actual_share = _smoothed_shares(expected, actual, smoothing)
    return float(np.dot(actual_share - expected_share, woe))


def drift_status(value: float, watch_threshold: float = 0.1, shift_threshold: float = 0.25) -> str:
    """``"stable"`` below ``watch_threshold``, ``"shift"`` above ``shift_threshold``, else
    ``"watch"`` (the conventional PSI bands, see the module docstring)."""
    if value < watch_threshold:
        return "stable"
    return "shift" if value > shift_threshold else "watch"


def drift_report(
    train: pd.DataFrame,
    scoring: pd.DataFrame,
    features: Sequence[str],
    *,
    score_column: str | None = None,
    binnings: dict[str, FeatureBinning] | None = None,
    bins: int = 10,
    smoothing: float = 0.5,
    watch_threshold: float = 0.1,
    shift_threshold: float = 0.25,
    csi_kind: Literal["woe", "psi"] = "woe",
    unseen_category: str = "error",
) -> dict[str, Any]:
    """Per-feature (and score) PSI, missing-rate change, CSI where binned, and a status each.

    Numeric columns (bool excepted) are bucketed at ``bins`` quantiles of ``train``, others per
    category. A status comes from PSI alone (CSI is reported beside it); the overall ``status`` is
    the worst. The result holds only str, int, float, None, lists and dicts, so it can be saved as
    JSON as it is.
    """
    _check_report_params(features, binnings, watch_threshold, shift_threshold)
    columns = [*features, *([score_column] if score_column is not None else [])]
    if not columns:
        raise ValueError("a drift report needs at least one feature or a score column")
    for frame in (train, scoring):
        require_columns(frame, columns)
        if frame.shape[0] == 0:
            raise ScoringDataError("a drift report needs rows in both the train and scoring data")
    thresholds = (watch_threshold, shift_threshold)
    entries = {
        name: _column_drift(train[name], scoring[name], bins, smoothing, thresholds)
        for name in features
    }
    for name, binning in (binnings or {}).items():
        entries[name]["csi"] = csi(
            train[name],
            scoring[name],
            binning,
            kind=csi_kind,
            smoothing=smoothing,
            unseen_category=unseen_category,
        )
    score = None
    if score_column is not None:
        score = _column_drift(
            train[score_column], scoring[score_column], bins, smoothing, thresholds
        )
    statuses = [entry["status"] for entry in entries.values()]
    statuses += [score["status"]] if score is not None else []
    return {
        "train_count": int(train.shape[0]),
        "scoring_count": int(scoring.shape[0]),
        "thresholds": {"watch": watch_threshold, "shift": shift_threshold},
        "smoothing": smoothing,
        "csi_kind": csi_kind,
        "status": max(statuses, key=STATUSES.index),
        "features": entries,
        "score": score,
    }


def _check_report_params(
    features: Sequence[str],
    binnings: dict[str, FeatureBinning] | None,
    watch_threshold: float,
    shift_threshold: float,
) -> None:
    if isinstance(features, str):
        raise ValueError("features must be a list of column names, not one string")
    repeated = sorted({name for name in features if list(features).count(name) > 1})
    if repeated:
        raise ValueError(f"features listed more than once: {', '.join(repeated)}")
    if not 0 < watch_threshold <= shift_threshold:
        raise ValueError(
            f"thresholds must satisfy 0 < watch <= shift, got {watch_threshold}, {shift_threshold}"
        )
    for name, binning in (binnings or {}).items():
        if name not in features:
            raise ValueError(f"a binning is given for {name!r}, which is not among the features")
        if binning.feature != name:
            raise ValueError(f"the binning given for {name!r} is for {binning.feature!r}")


def _column_drift(
    train: pd.Series,
    scoring: pd.Series,
    bins: int,
    smoothing: float,
    thresholds: tuple[float, float],
) -> dict[str, Any]:
    """One column's entry in a drift report (``csi`` is filled in by the caller when binned)."""
    name = str(train.name)
    numeric = _is_numeric(train)
    if numeric:
        buckets = _numeric_buckets(
            _floats(train), _floats(_numeric_scoring(scoring, name)), bins, name
        )
    else:
        buckets = _categorical_buckets(train, scoring, name)
    rows = _bucket_rows(buckets, smoothing)
    value = float(sum(row["contribution"] for row in rows))
    train_missing_rate = float(train.isna().mean())
    scoring_missing_rate = float(scoring.isna().mean())
    return {
        "kind": "numeric" if numeric else "categorical",
        "psi": value,
        "status": drift_status(value, *thresholds),
        "csi": None,
        "train_missing_rate": train_missing_rate,
        "scoring_missing_rate": scoring_missing_rate,
        "missing_rate_change": scoring_missing_rate - train_missing_rate,
        "bins": rows,
    }


def _is_numeric(values: pd.Series) -> bool:
    """Numbers are bucketed by quantile; booleans, text and categories by value."""
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _floats(values: pd.Series) -> np.ndarray:
    """Numbers as floats with NaN for missing, nullable dtypes (``Int64``, ``pd.NA``) included."""
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _numeric_scoring(scoring: pd.Series, name: str) -> pd.Series:
    """A scoring column for a feature numeric in training: numeric too, or entirely missing."""
    if _is_numeric(scoring):
        return scoring
    if scoring.isna().all():
        return scoring.astype(np.float64)
    example = scoring.dropna().iloc[0]
    raise ScoringDataError(
        f"{name} is numeric in training but not in the scoring data (for example {example!r})"
    )


def _numeric_values(values: Any, name: str, sample: str) -> np.ndarray:
    """Floats with NaN for missing; text or infinities are refused, naming the column."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ScoringDataError(f"{name}: the {sample} values must be one column")
    if array.dtype.kind not in "biuf":
        raise ScoringDataError(f"{name}: the {sample} values must be numbers, got {array.dtype}")
    array = array.astype(np.float64)
    if np.isinf(array).any():
        raise ScoringDataError(f"{name}: the {sample} values include infinity")
    return array


def _numeric_buckets(
    expected: Any, actual: Any, bins: int | Sequence[float], name: str
) -> _Buckets:
    expected_values = _numeric_values(expected, name, "expected")
    actual_values = _numeric_values(actual, name, "actual")
    expected_present = expected_values[~np.isnan(expected_values)]
    if expected_present.size == 0:
        raise ScoringDataError(f"{name}: the expected sample has no values to bucket")
    edges = _edges(bins, expected_present)
    labels, lowers, uppers = _interval_labels(edges)
    expected_counts = _interval_counts(expected_values, edges)
    actual_counts = _interval_counts(actual_values, edges)
    return _with_optional_bucket(
        _Buckets(labels, lowers, uppers, expected_counts, actual_counts),
        MISSING_LABEL,
        int(np.isnan(expected_values).sum()),
        int(np.isnan(actual_values).sum()),
    )


def _edges(bins: int | Sequence[float], expected_present: np.ndarray) -> np.ndarray:
    """Interior cut points: quantiles of ``expected`` or the caller's edges, checked."""
    if isinstance(bins, bool):
        raise ValueError(f"bins must be a count or a list of edges, got {bins!r}")
    if isinstance(bins, int | np.integer):
        if not 1 <= bins <= bins_max:
            raise ValueError(f"bins must be between 1 and {bins_max}, got {bins}")
        ordered = np.sort(expected_present)
        positions = np.arange(1, bins) * ordered.size // bins
        cuts = np.unique(ordered[positions])
        return cuts[cuts > ordered[0]]
    edges = np.asarray(bins, dtype=np.float64)
    if edges.size and edges[0] == -np.inf:
        edges = edges[1:]
    if edges.size and edges[-1] == np.inf:
        edges = edges[:-1]
    if not np.isfinite(edges).all() or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bin edges must be finite and strictly increasing, got {list(bins)}")
    return edges


def _interval_labels(edges: np.ndarray) -> tuple[list[str], list[float | None], list[float | None]]:
    lowers: list[float | None] = [None, *(float(edge) for edge in edges)]
    uppers: list[float | None] = [*(float(edge) for edge in edges), None]
    labels = [
        f"{'(-inf' if lower is None else f'[{lower:.8g}'}, "
        f"{'+inf)' if upper is None else f'{upper:.8g})'}"
        for lower, upper in zip(lowers, uppers, strict=True)
    ]
    return labels, lowers, uppers


def _interval_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per left-closed interval; missing values are counted elsewhere."""
    present = values[~np.isnan(values)]
    index = np.searchsorted(edges, present, side="right")
    return np.bincount(index, minlength=edges.size + 1).astype(np.float64)


def _categorical_buckets(expected: pd.Series, actual: pd.Series, name: str) -> _Buckets:
    expected_counts = expected.dropna().value_counts()
    expected_counts = expected_counts[expected_counts > 0]  # a category dtype lists unused ones
    if expected_counts.empty:
        raise ScoringDataError(f"{name}: the expected sample has no values to bucket")
    ranked = sorted(expected_counts.items(), key=lambda item: (-item[1], str(item[0])))
    kept = [category for category, _ in ranked[:category_buckets_max]]
    actual_counts = actual.dropna().value_counts()
    kept_expected = expected_counts.reindex(kept).to_numpy(dtype=np.float64)
    kept_actual = actual_counts.reindex(kept, fill_value=0).to_numpy(dtype=np.float64)
    buckets = _Buckets(
        [str(category) for category in kept],
        [None] * len(kept),
        [None] * len(kept),
        kept_expected,
        kept_actual,
    )
    buckets = _with_optional_bucket(
        buckets,
        OTHER_LABEL,
        int(expected_counts.sum() - kept_expected.sum()),
        int(actual_counts.sum() - kept_actual.sum()),
    )
    return _with_optional_bucket(
        buckets, MISSING_LABEL, int(expected.isna().sum()), int(actual.isna().sum())
    )


def _with_optional_bucket(
    buckets: _Buckets, label: str, expected_count: int, actual_count: int
) -> _Buckets:
    """Append ``label`` when either sample has rows in it (see the module docstring)."""
    if expected_count == 0 and actual_count == 0:
        return buckets
    return _Buckets(
        [*buckets.labels, label],
        [*buckets.lowers, None],
        [*buckets.uppers, None],
        np.append(buckets.expected_counts, expected_count),
        np.append(buckets.actual_counts, actual_count),
    )


def _bucket_rows(buckets: _Buckets, smoothing: float) -> list[dict[str, Any]]:
    expected_share, actual_share = _smoothed_shares(
        buckets.expected_counts, buckets.actual_counts, smoothing
    )
    contribution = _contributions(buckets.expected_counts, buckets.actual_counts, smoothing)
    return [
        {
            "bin": index,
            "label": buckets.labels[index],
            "lower": buckets.lowers[index],
            "upper": buckets.uppers[index],
            "expected_count": int(buckets.expected_counts[index]),
            "actual_count": int(buckets.actual_counts[index]),
            "expected_share": float(expected_share[index]),
            "actual_share": float(actual_share[index]),
            "contribution": float(contribution[index]),
        }
        for index in range(len(buckets.labels))
    ]


def _bin_counts(
    binning: FeatureBinning, values: Any, bin_count: int, unseen_category: str
) -> np.ndarray:
    indices = np.asarray(binning.bin_indices(values, unseen_category=unseen_category))
    assert indices.size == 0 or 0 <= indices.min() <= indices.max() < bin_count, (
        f"bin_indices of {binning.feature} returned an index outside its {bin_count} bins"
    )
    return np.bincount(indices, minlength=bin_count).astype(np.float64)


def _checked_counts(expected_counts: Any, actual_counts: Any) -> tuple[np.ndarray, np.ndarray]:
    expected = np.asarray(expected_counts, dtype=np.float64)
    actual = np.asarray(actual_counts, dtype=np.float64)
    if expected.ndim != 1 or expected.shape != actual.shape:
        raise ScoringDataError(
            f"counts must be two lists of the same length, got shapes {expected.shape} and "
            f"{actual.shape}"
        )
    if expected.size == 0:
        raise ScoringDataError("counts are empty")
    for sample, counts in (("expected", expected), ("actual", actual)):
        if not np.isfinite(counts).all() or (counts < 0).any():
            raise ScoringDataError(f"the {sample} counts must be finite and not negative")
    return expected, actual


def _contributions(expected: np.ndarray, actual: np.ndarray, smoothing: float) -> np.ndarray:
    """Each bucket's ``(actual_share - expected_share) * ln(actual_share / expected_share)``,
    0 for a bucket empty in both samples."""
    expected_share, actual_share = _smoothed_shares(expected, actual, smoothing)
    occupied = (expected + actual) > 0
    for sample, share in (("expected", expected_share), ("actual", actual_share)):
        empty = occupied & (share == 0)
        if empty.any():
            raise ScoringDataError(
                f"bucket {int(np.flatnonzero(empty)[0])} is empty in the {sample} sample, "
                "so PSI would be infinite: use smoothing > 0"
            )
    ratio = np.divide(actual_share, expected_share, out=np.ones_like(actual_share), where=occupied)
    return (actual_share - expected_share) * np.log(ratio)


def _smoothed_shares(
    expected: np.ndarray, actual: np.ndarray, smoothing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Both samples' shares under the module's one rule: ``smoothing`` is added to the count of
    every bucket that either sample has rows in; a bucket empty in both keeps share 0."""
    if not (np.isfinite(smoothing) and smoothing >= 0):
        raise ValueError(f"smoothing must be a finite number >= 0, got {smoothing}")
    occupied = (expected + actual) > 0
    shares = []
    for sample, counts in (("expected", expected), ("actual", actual)):
        if counts.sum() == 0:
            raise ScoringDataError(f"the {sample} sample is empty")
        smoothed = np.where(occupied, counts + smoothing, 0.0)
        shares.append(smoothed / smoothed.sum())
    return shares[0], shares[1]
