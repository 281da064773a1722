"""Optimal binning with weight of evidence (WoE): the first step of every scorecard.

A feature is cut into a few bins whose bad rates follow a trend a credit officer can defend (older
accounts are safer, more enquiries are riskier), and each bin gets a WoE, so a linear scorecard on
WoE values is monotone in the feature and explains itself.

How a feature is binned:

1. Missing values (NaN, None) and special codes (e.g. 96 = "not applicable") are set aside first.
   Each special code gets its own bin, even when no row has it (then its counts are zero); missing
   values get exactly one bin, always present, last.
2. The remaining values are pre-binned: ``"quantile"`` (up to ``max_prebins`` equal-frequency
   cuts), ``"tree"`` (a decision tree on the one feature, ``max_leaf_nodes=max_prebins``, leaves of
   at least ``min_bin_share`` of the rows), or ``"chimerge"`` (50 quantile pre-bins, then the
   adjacent pair with the lowest chi-square is merged until ``max_prebins`` remain). Cut points
   are data values: a bin ``[a, b)`` holds ``a`` and stops before ``b``; the first bin starts at
   -inf and the last ends at +inf, so any number at scoring time has a bin.
3. Adjacent pre-bins are merged into at most ``max_bins`` bins by the exact optimum of
   :mod:`lendguard.scoring.binning_merge`: the largest information value such that every bin has at
   least ``min_bin_share`` of all rows and ``min_bin_bad_count`` bads, and the bad rates follow the
   trend. ``"auto"`` keeps the better of ``"ascending"`` and ``"descending"`` (ascending on a tie),
   unless the best single turn (``"peak"`` or ``"valley"``) predicts held-out rows better (fitted
   on one seeded half, scored on the other, both ways): U-shaped risk is kept, noise stays
   monotone. If no partition meets the constraints (too few rows, too few bads), the
   values become one bin and the binning's ``trend`` is ``"fallback_single_bin"``, so the fallback
   is on record rather than silent.

Categorical features: the pre-bins are the categories sorted by bad rate (then by name); when there
are more than ``max_prebins`` categories, neighbours in that order are grouped into equal-frequency
pre-bins. Merging contiguous groups in bad-rate order makes the bad rates ascend by construction,
so every trend except ``"none"`` is recorded as ``"ascending"`` for a categorical feature. Rare
categories are not pooled beforehand: the minimum share joins them to their neighbours in bad-rate
order. Category values are compared as text, ``str(value)``, except that a whole float is written
without ".0" (pandas turns an integer column with missing values into floats, and 3 and 3.0 must
be one category); categories absent from the training rows (e.g. unused levels of a pandas
Categorical) are unseen at scoring time.

WoE and IV: ``WoE = ln(share of bads / share of goods)`` (positive = riskier) and
``IV = sum((share of bads - share of goods) * WoE)``, shares over all training rows. A bin with no
goods or no bads adds 0.5 to both counts before computing them; a bin with no rows (a special code
or the missing bin never seen in training) has WoE 0 and IV 0, a neutral score.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import ClassifierTags, Tags
from sklearn.utils.validation import check_is_fitted

from lendguard.errors import ModelFileError, ScoringDataError, UnseenCategoryError
from lendguard.scoring.binning_merge import (
    TRENDS,
    MergeProblem,
    Partition,
    optimal_partitions,
    woe_iv,
)
from lendguard.scoring.data import binary_target, feature_frame, require_columns

MonotonicTrend = Literal["auto", "ascending", "descending", "peak", "valley", "none"]
PreBinning = Literal["quantile", "tree", "chimerge"]
UnseenCategory = Literal["error", "missing", "riskiest"]
BinKind = Literal["interval", "categories", "special", "missing"]

TREND_FALLBACK = "fallback_single_bin"
"""The ``trend`` of a binning whose values could not be split under its constraints."""

AUTO_FOLD_SEED = 0
"""Seed of the split into halves that decides, under "auto", between monotone and a turn."""

AUTO_TURN_IV_GAIN_MIN = 0.1
"""In-sample IV gain (relative) below which a turn is not even tried on held-out rows: it saves
the held-out fits when the turn barely differs from the monotone binning."""

MONOTONE_TRENDS = ("ascending", "descending")
TURN_TRENDS = ("peak", "valley")
AUTO_TRENDS = (*MONOTONE_TRENDS, *TURN_TRENDS)
"""The trends ``"auto"`` chooses between: one dynamic programme solves all four."""

MONOTONIC_TRENDS = ("auto", *TRENDS)
PREBINNINGS = ("quantile", "tree", "chimerge")
UNSEEN_CATEGORY_POLICIES = ("error", "missing", "riskiest")
OUTPUTS = ("woe", "index")

prebins_max = 100
"""Most pre-bins a feature may have: the merge costs ``max_bins * n**3``, fine up to about 100."""

chimerge_start_prebins = 50
"""Quantile pre-bins ChiMerge starts from (or ``max_prebins`` if that is larger)."""

tree_cells_max = 1_000
"""Equal-frequency cells of distinct values a tree pre-binning splits between: like a histogram
tree, it keeps a tree on 150,000 distinct values to milliseconds at a negligible loss of cuts."""

distinct_sample_rows = 1_000
distinct_share_hashed_max = 0.2
"""Pre-binning groups equal values by hashing when, judged on the first ``distinct_sample_rows``,
at most this share of the values are distinct; otherwise it sorts them (see
``_distinct_counts``)."""

unseen_categories_shown_max = 5
"""Unseen categories an error message lists; the rest are counted."""

_SHARE_TOLERANCE = 1e-9
"""``min_bin_share * rows`` within this of an integer counts as that integer (0.05 * 1000 = 50)."""

_COMPARED_EDGES_MAX = 16
"""Up to this many interval edges, values are binned by comparisons rather than binary search."""

_IV_TOLERANCE = 1e-9
"""A saved binning's IV must equal the sum of its bins' IV within this (relative and absolute)."""


@dataclass(frozen=True)
class Bin:
    """One bin of a feature: what it holds, its training counts, and its WoE and IV contribution."""

    kind: BinKind
    label: str
    good_count: int
    bad_count: int
    woe: float
    iv: float
    lower: float = -math.inf
    upper: float = math.inf
    categories: tuple[str, ...] = ()
    special_codes: tuple[float | str, ...] = ()

    @property
    def count(self) -> int:
        """Training rows in the bin."""
        return self.good_count + self.bad_count


@dataclass(frozen=True)
class FeatureBinning:
    """A fitted binning of one feature: value bins, then special-code bins, then the missing bin."""

    feature: str
    dtype: Literal["numeric", "categorical"]
    bins: tuple[Bin, ...]
    trend: str
    iv: float

    def __post_init__(self) -> None:
        problem = _structure_problem(self.feature, self.dtype, self.bins, self.trend, self.iv)
        assert problem is None, problem

    def bin_indices(self, values: Any, unseen_category: str = "error") -> np.ndarray:
        """Return the index into ``bins`` of each value (int32).

        ``unseen_category`` decides a category not seen in training: ``"error"`` raises
        :class:`UnseenCategoryError`, ``"missing"`` uses the missing bin, ``"riskiest"`` the bin
        with the largest WoE (the cautious choice for underwriting).
        """
        _check_choice("unseen_category", unseen_category, UNSEEN_CATEGORY_POLICIES)
        if (
            self.dtype == "numeric"
            and isinstance(values, np.ndarray)
            and values.ndim == 1
            and values.dtype.kind in "fiu"
        ):
            # Already numbers: skip the checks a mixed column needs (the scoring hot path).
            return self._numeric_indices(values.astype(np.float64, copy=False))
        series = _as_series(values, self.feature)
        if self.dtype == "numeric":
            return self._numeric_indices(_numeric_array(series, self.feature))
        return self._categorical_indices(series, unseen_category)

    def woe_values(self, values: Any, unseen_category: str = "error") -> np.ndarray:
        """Return the WoE of each value's bin (float64)."""
        woe = np.array([bin_.woe for bin_ in self.bins], dtype=np.float64)
        return woe[self.bin_indices(values, unseen_category)]

    def table(self) -> list[dict[str, Any]]:
        """One row per bin for reports; ``bad_rate`` is NaN for a bin without training rows."""
        rows_total = sum(bin_.count for bin_ in self.bins)
        return [
            {
                "label": bin_.label,
                "count": bin_.count,
                "share": bin_.count / rows_total,
                "good_count": bin_.good_count,
                "bad_count": bin_.bad_count,
                "bad_rate": bin_.bad_count / bin_.count if bin_.count else math.nan,
                "woe": bin_.woe,
                "iv": bin_.iv,
            }
            for bin_ in self.bins
        ]

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON data: infinite edges are written as the strings "-inf" and "inf"."""
        return {
            "feature": self.feature,
            "dtype": self.dtype,
            "trend": self.trend,
            "iv": self.iv,
            "bins": [_bin_to_dict(bin_) for bin_ in self.bins],
        }

    @classmethod
    def from_dict(cls, data: Any) -> FeatureBinning:
        """Read what :meth:`to_dict` wrote, refusing any missing, extra or malformed field."""
        fields = _exact_keys(data, {"feature", "dtype", "trend", "iv", "bins"}, "binning")
        dtype = _choice(fields["dtype"], ("numeric", "categorical"), "dtype")
        bins_data = fields["bins"]
        if not isinstance(bins_data, list) or not bins_data:
            raise ModelFileError("binning field 'bins' must be a non-empty list")
        bins = tuple(
            _bin_from_dict(item, dtype, f"bins[{index}]") for index, item in enumerate(bins_data)
        )
        feature = fields["feature"]
        if not isinstance(feature, str) or not feature:
            raise ModelFileError("binning field 'feature' must be a non-empty string")
        trend = _choice(fields["trend"], (*TRENDS, TREND_FALLBACK), "trend")
        iv = _finite(fields["iv"], "iv")
        problem = _structure_problem(feature, dtype, bins, trend, iv)
        if problem is not None:
            raise ModelFileError(f"binning of {feature!r}: {problem}")
        return cls(feature=feature, dtype=dtype, bins=bins, trend=trend, iv=iv)

    def _numeric_indices(self, numbers: np.ndarray) -> np.ndarray:
        value_bins = [bin_ for bin_ in self.bins if bin_.kind == "interval"]
        edges = np.array([bin_.upper for bin_ in value_bins[:-1]], dtype=np.float64)
        indices = _interval_positions(edges, numbers)
        for position, bin_ in enumerate(self.bins):
            if bin_.kind == "special":
                indices[np.isin(numbers, np.array(bin_.special_codes, dtype=np.float64))] = position
        indices[np.isnan(numbers)] = len(self.bins) - 1
        return indices

    def _categorical_indices(self, series: pd.Series, unseen_category: str) -> np.ndarray:
        lookup = {
            name: position
            for position, bin_ in enumerate(self.bins)
            for name in (*bin_.categories, *(category_name(code) for code in bin_.special_codes))
        }
        labels, uniques = pd.factorize(series)
        positions = np.array(
            [lookup.get(category_name(value), -1) for value in uniques], dtype=np.int32
        )
        # Label -1 (missing) reads the appended last entry: the missing bin. Appending also keeps
        # the lookup valid when every value is missing and there are no uniques at all.
        indices = np.append(positions, len(self.bins) - 1)[labels]
        unseen = indices < 0
        if unseen.any():
            indices[unseen] = self._unseen_position(uniques[positions < 0], unseen_category)
        return indices.astype(np.int32)

    def _unseen_position(self, unseen_values: Any, unseen_category: str) -> int:
        if unseen_category == "missing":
            return len(self.bins) - 1
        if unseen_category == "riskiest":
            return int(np.argmax([bin_.woe for bin_ in self.bins]))
        names = sorted({category_name(value) for value in unseen_values})
        shown = ", ".join(repr(name) for name in names[:unseen_categories_shown_max])
        more = len(names) - unseen_categories_shown_max
        suffix = f" and {more} more" if more > 0 else ""
        raise UnseenCategoryError(
            f"feature {self.feature!r} has categories not seen in training: {shown}{suffix}"
        )


def _interval_positions(edges: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """Return how many edges each number reaches: its interval, as ``searchsorted(side="right")``.

    A scorecard has a handful of edges, and one vectorised comparison per edge is several times
    faster than a binary search per row; many edges go back to the binary search.
    """
    if edges.size > _COMPARED_EDGES_MAX:
        return np.searchsorted(edges, numbers, side="right").astype(np.int32)
    positions = np.zeros(numbers.shape, dtype=np.int32)
    for edge in edges:
        positions += numbers >= edge
    return positions


@dataclass(frozen=True)
class _Options:
    """The binning parameters of one feature, already checked."""

    prebinning: str
    max_prebins: int
    max_bins: int
    monotonic_trend: str
    min_bin_share: float
    min_bin_bad_count: int
    special_codes: tuple[Any, ...]


def bin_feature(
    values: Any,
    y: Any,
    *,
    feature: str,
    dtype: str | None = None,
    prebinning: PreBinning = "quantile",
    max_prebins: int = 20,
    max_bins: int = 8,
    monotonic_trend: MonotonicTrend = "auto",
    min_bin_share: float = 0.05,
    min_bin_bad_count: int = 1,
    special_codes: Sequence[float | str] = (),
) -> FeatureBinning:
    """Bin one feature against a 0/1 target (1 = bad); see the module docstring for how.

    ``dtype`` None infers it: numeric pandas dtypes are numeric; object, category, string and bool
    are categorical. Raises ValueError for a bad parameter and ScoringDataError for bad data.
    """
    options = _options(
        prebinning,
        max_prebins,
        max_bins,
        monotonic_trend,
        min_bin_share,
        min_bin_bad_count,
        special_codes,
    )
    _check_choice("dtype", dtype, (None, "numeric", "categorical"))
    target = binary_target(y)
    series = _as_series(values, feature)
    if len(series) != target.size:
        raise ScoringDataError(
            f"feature {feature!r} has {len(series)} rows but the target has {target.size}"
        )
    resolved = resolve_dtype(series, dtype, feature)
    return _bin_columns([(feature, series, resolved, options)], target)[1][0]


def resolve_dtype(series: pd.Series, dtype: str | None, feature: str) -> str:
    """Return "numeric" or "categorical": ``dtype`` if given, else inferred from the pandas type."""
    if pd.api.types.is_complex_dtype(series.dtype):
        raise ScoringDataError(f"feature {feature!r} holds complex numbers")
    if dtype is not None:
        return dtype
    if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
        return "categorical"
    return "numeric"


def _options(
    prebinning: Any,
    max_prebins: Any,
    max_bins: Any,
    monotonic_trend: Any,
    min_bin_share: Any,
    min_bin_bad_count: Any,
    special_codes: Any,
) -> _Options:
    """Check the parameters of one feature's binning; raise ValueError naming the bad one."""
    _check_choice("prebinning", prebinning, PREBINNINGS)
    _check_choice("monotonic_trend", monotonic_trend, MONOTONIC_TRENDS)
    _check_integer("max_prebins", max_prebins, 2, prebins_max)
    _check_integer("max_bins", max_bins, 1, None)
    _check_integer("min_bin_bad_count", min_bin_bad_count, 0, None)
    if (
        isinstance(min_bin_share, bool)
        or not isinstance(min_bin_share, int | float)
        or not 0 < min_bin_share <= 0.5
    ):
        raise ValueError(f"min_bin_share must be a number in (0, 0.5], got {min_bin_share!r}")
    if isinstance(special_codes, str | bytes) or not isinstance(special_codes, Sequence):
        raise ValueError(f"special_codes must be a list of codes, got {special_codes!r}")
    return _Options(
        prebinning=prebinning,
        max_prebins=max_prebins,
        max_bins=max_bins,
        monotonic_trend=monotonic_trend,
        min_bin_share=float(min_bin_share),
        min_bin_bad_count=min_bin_bad_count,
        special_codes=tuple(special_codes),
    )


def _check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if not any(
        value is choice or (isinstance(value, str) and value == choice) for choice in choices
    ):
        shown = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name} must be one of {shown}, got {value!r}")


def _check_integer(name: str, value: Any, smallest: int, largest: int | None) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or value < smallest
        or (largest is not None and value > largest)
    ):
        bound = f"between {smallest} and {largest}" if largest is not None else f">= {smallest}"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")


def _as_series(values: Any, feature: str) -> pd.Series:
    """Return one column of values as a Series, refusing anything that is not one column."""
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, pd.DataFrame) or sparse.issparse(values):
        raise ScoringDataError(f"feature {feature!r} must be one dense column of values")
    is_list = isinstance(values, list | tuple)
    array = np.asarray(values, dtype=object) if is_list else np.asarray(values)
    if array.ndim != 1:
        raise ScoringDataError(f"feature {feature!r} must be one column, got shape {array.shape}")
    # a list has no dtype: infer one as pandas would for a column (numbers, or text)
    return pd.Series(array).infer_objects() if is_list else pd.Series(array)


def category_name(value: Any) -> str:
    """Return the text a categorical value is stored and matched as: ``str``, but 3.0 -> "3"."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _numeric_array(series: pd.Series, feature: str) -> np.ndarray:
    """Return the values as float64, NaN for missing, or name the values that are not numbers."""
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "biuf":
        return series.to_numpy(dtype=np.float64)  # NumPy numbers: NaN already marks missing
    if pd.api.types.is_complex_dtype(series.dtype):
        raise ScoringDataError(f"feature {feature!r} holds complex numbers")
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    try:
        converted = pd.to_numeric(series, errors="coerce")
    except (TypeError, ValueError) as error:
        raise ScoringDataError(
            f"feature {feature!r} is numeric but holds values that are not numbers ({error})"
        ) from error
    not_numbers = converted.isna().to_numpy() & series.notna().to_numpy()
    if not_numbers.any():
        shown = ", ".join(repr(value) for value in series[not_numbers].unique()[:5])
        raise ScoringDataError(f"feature {feature!r} is numeric but holds non-numbers: {shown}")
    return converted.to_numpy(dtype=np.float64, na_value=np.nan)


@dataclass(frozen=True)
class _Prebinned:
    """One feature after pre-binning: what the merge needs, and what the final bins need after it.

    ``rows`` (the numbers, or category codes with -1 for missing) and ``names`` (the categories
    the codes point to) let the training rows be placed in the final bins without reading the
    column again.
    """

    feature: str
    dtype: Literal["numeric", "categorical"]
    options: _Options
    trend: str
    """The trend to merge under: ``options.monotonic_trend``, or for a categorical feature
    "ascending" (or "none"), since its pre-bins are already in bad-rate order."""
    good: np.ndarray
    bad: np.ndarray
    cuts: np.ndarray
    """Numeric: the value each pre-bin after the first starts at (empty for categorical)."""
    groups: tuple[tuple[str, ...], ...]
    """Categorical: the categories of each pre-bin (empty for numeric)."""
    special_counts: tuple[tuple[float | str, int, int], ...]
    """Each special code with its good and bad counts."""
    missing_counts: tuple[int, int]
    rows: np.ndarray
    value_rows: np.ndarray
    """Rows neither missing nor a special code: the rows the pre-bins count."""
    names: np.ndarray
    value_groups: _ValueGroups | None
    """Numeric: the value rows' groups, when pre-binning hashed them."""


def _bin_columns(
    columns: list[tuple[str, pd.Series, str, _Options]], target: np.ndarray
) -> tuple[list[_Prebinned], list[FeatureBinning]]:
    """Bin checked columns (name, values, dtype, options); ``target`` is a 0/1 array of their
    length. The merges of all columns run together (see :func:`_merge_all`)."""
    prebinned = [
        _prebin_numeric(_numeric_array(series, name), target, name, options)
        if dtype == "numeric"
        else _prebin_categorical(series, target, name, options)
        for name, series, dtype, options in columns
    ]
    merges = _merge_all(prebinned, target)
    counted = [
        _counted_bins(feature, starts)
        for feature, (starts, _) in zip(prebinned, merges, strict=True)
    ]
    return prebinned, _scored(prebinned, counted, [trend for _, trend in merges], target)


def _prebin_numeric(
    numbers: np.ndarray, target: np.ndarray, feature: str, options: _Options
) -> _Prebinned:
    missing = np.isnan(numbers)
    _refuse_degenerate(feature, missing, numbers)
    codes = _numeric_codes(options.special_codes, feature)
    values = ~missing
    special = np.empty(0, dtype=np.int64)  # read only for the special codes, when there are any
    if codes:
        special = _special_positions(numbers, codes)
        values &= special < 0
    cuts, good, bad, groups = _numeric_prebins(
        numbers[values], target[values], options, numbers.size
    )
    return _Prebinned(
        feature=feature,
        dtype="numeric",
        options=options,
        trend=options.monotonic_trend,
        good=good,
        bad=bad,
        cuts=cuts,
        groups=(),
        special_counts=_special_counts(codes, special, target),
        missing_counts=_good_bad_counts(missing, target),
        rows=numbers,
        value_rows=values,
        names=np.empty(0, dtype=object),
        value_groups=groups,
    )


def _prebin_categorical(
    series: pd.Series, target: np.ndarray, feature: str, options: _Options
) -> _Prebinned:
    names, codes = _category_codes(series)
    missing = codes < 0
    _refuse_degenerate(feature, missing, codes)
    special_codes = tuple(dict.fromkeys(category_name(code) for code in options.special_codes))
    values = ~missing
    special = np.empty(0, dtype=np.int64)  # read only for the special codes, when there are any
    if special_codes:
        special_of_name = [
            special_codes.index(name) if name in special_codes else -1 for name in names
        ]
        # code -1 (missing) reads the appended last entry: not special
        special = np.array([*special_of_name, -1], dtype=np.int64)[codes]
        values &= special < 0
    groups, good, bad = _categorical_prebins(
        names, codes[values], target[values], options.max_prebins
    )
    return _Prebinned(
        feature=feature,
        dtype="categorical",
        options=options,
        trend="none" if options.monotonic_trend == "none" else "ascending",
        good=good,
        bad=bad,
        cuts=np.empty(0),
        groups=tuple(groups),
        special_counts=_special_counts(special_codes, special, target),
        missing_counts=_good_bad_counts(missing, target),
        rows=codes,
        value_rows=values,
        names=names,
        value_groups=None,
    )


def _counted_bins(feature: _Prebinned, starts: tuple[int, ...]) -> list[_CountedBin]:
    """The bins from the merged pre-bins, the special codes and the missing rows."""
    good_counts, bad_counts = _merged_counts(feature.good, feature.bad, starts)
    if feature.dtype == "numeric":
        inner_edges = feature.cuts[np.asarray(starts[1:], dtype=np.int64) - 1]
        edges = [-math.inf, *(float(edge) for edge in inner_edges), math.inf]
        value_bins = [
            _CountedBin("interval", good_count, bad_count, lower=lower, upper=upper)
            for lower, upper, good_count, bad_count in zip(
                edges[:-1], edges[1:], good_counts, bad_counts, strict=True
            )
        ]
    else:
        ends = (*starts[1:], len(feature.groups))
        value_bins = [
            _CountedBin(
                "categories",
                good_count,
                bad_count,
                categories=tuple(name for group in feature.groups[start:end] for name in group),
            )
            for start, end, good_count, bad_count in zip(
                starts, ends, good_counts, bad_counts, strict=True
            )
        ]
    special_bins = [
        _CountedBin("special", good_count, bad_count, special_codes=(code,))
        for code, good_count, bad_count in feature.special_counts
    ]
    missing_bin = _CountedBin("missing", *feature.missing_counts)
    return [*value_bins, *special_bins, missing_bin]


def _training_indices(feature: _Prebinned, binning: FeatureBinning) -> np.ndarray:
    """Each training row's bin, from what fitting already holds: the same as ``bin_indices`` of
    the column, without converting or factorizing it again."""
    if feature.dtype == "numeric":
        return binning.bin_indices(feature.rows)
    position_of_name = {
        name: position
        for position, bin_ in enumerate(binning.bins)
        for name in (*bin_.categories, *bin_.special_codes)
    }
    positions = [position_of_name[name] for name in feature.names]
    # code -1 (missing) reads the appended last entry: the missing bin
    return np.array([*positions, len(binning.bins) - 1], dtype=np.int32)[feature.rows]


def _refuse_degenerate(feature: str, missing: np.ndarray, values: np.ndarray) -> None:
    """Refuse a column that is entirely missing, or one value in every row: neither ranks risk."""
    if missing.all():
        raise ScoringDataError(f"feature {feature!r} is all missing")
    if not missing.any() and (values == values[0]).all():
        raise ScoringDataError(f"feature {feature!r} is constant: one value in every row")


def _numeric_codes(special_codes: tuple[Any, ...], feature: str) -> tuple[float, ...]:
    """Return the special codes of a numeric feature as distinct finite floats."""
    codes = []
    for code in special_codes:
        if isinstance(code, bool) or not isinstance(code, int | float | np.number):
            raise ValueError(
                f"special_codes of numeric feature {feature!r} must be numbers, got {code!r}"
            )
        if not math.isfinite(code):
            raise ValueError(f"special_codes of feature {feature!r} must be finite, got {code!r}")
        codes.append(float(code))
    return tuple(dict.fromkeys(codes))


def _special_positions(values: np.ndarray, codes: Sequence[float]) -> np.ndarray:
    """Return, for each value, the index of its special code in ``codes``, or -1."""
    positions = np.full(values.shape, -1, dtype=np.int64)
    for index, code in enumerate(codes):
        positions[values == code] = index
    return positions


def _category_codes(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct category names (as str) and each row's index into them (-1 = missing).

    Only the distinct values are turned into str, so a large column costs one factorize (of the
    bare array when there is one: the Series adds only overhead).
    """
    values = series.to_numpy() if isinstance(series.dtype, np.dtype) else series
    labels, uniques = pd.factorize(values)
    code_of_name: dict[str, int] = {}
    name_codes = [
        code_of_name.setdefault(category_name(value), len(code_of_name)) for value in uniques
    ]
    # label -1 (missing) reads the appended last entry
    codes = np.array([*name_codes, -1], dtype=np.int64)[labels]
    return np.array(list(code_of_name), dtype=object), codes


def _numeric_prebins(
    values: np.ndarray, target: np.ndarray, options: _Options, rows_total: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, _ValueGroups | None]:
    """Return the cut points (data values, ascending), the good and bad counts of each pre-bin,
    and the values' groups when grouping found them (see :func:`_distinct_counts`).

    The work is done on the distinct values and their counts, so after grouping them every step
    costs in distinct values, not rows.
    """
    if values.size == 0:
        return np.empty(0), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), None
    distinct, counts, bad, groups = _distinct_counts(values, target)
    good = counts - bad
    if options.prebinning == "tree":
        min_leaf_fraction = _min_bin_count(options.min_bin_share, rows_total) / values.size
        cut_indices = _tree_cuts(good, bad, options.max_prebins, min_leaf_fraction)
    elif options.prebinning == "chimerge":
        cut_indices = _quantile_cuts(counts, max(chimerge_start_prebins, options.max_prebins))
    else:
        cut_indices = _quantile_cuts(counts, options.max_prebins)
    cut_indices = cut_indices[np.isfinite(distinct[cut_indices])]  # +inf values join the last bin
    starts = np.concatenate(([0], cut_indices)).astype(np.int64)
    cuts = distinct[cut_indices]
    good_counts = np.add.reduceat(good, starts)
    bad_counts = np.add.reduceat(bad, starts)
    if options.prebinning == "chimerge":
        return (*_chimerge(cuts, good_counts, bad_counts, options.max_prebins), groups)
    return cuts, good_counts, bad_counts, groups


@dataclass(frozen=True)
class _ValueGroups:
    """Each value's group as an index into ``values``, where hashing grouped equal values: a way
    from rows back to their values that costs a gather rather than a search."""

    codes: np.ndarray
    values: np.ndarray


def _distinct_counts(
    values: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, _ValueGroups | None]:
    """Return the distinct values (ascending), the rows and the bads of each, and the groups when
    hashing made them.

    Values that repeat (ages, counts, amounts rounded as bureaus report them) are grouped by
    hashing and only the distinct values are sorted: several times faster than sorting every
    value. Hashing loses to sorting when most values are distinct, so the first
    ``distinct_sample_rows`` values decide: by the birthday estimate, ``m`` sampled values with
    ``r`` repeats come from about ``m**2 / (2 * r)`` distinct values, and hashing is used when
    that is at most ``distinct_share_hashed_max`` of the rows.
    """
    if values.size <= distinct_sample_rows:
        return (*_sorted_distinct_counts(values, target), None)  # too few to be worth hashing
    sample = values[:distinct_sample_rows]
    repeats = sample.size - np.unique(sample).size
    if 2 * repeats * distinct_share_hashed_max * values.size < sample.size**2:
        return (*_sorted_distinct_counts(values, target), None)
    codes, uniques = pd.factorize(values)
    order = np.argsort(uniques)
    counts = np.bincount(codes, minlength=uniques.size)
    bad = np.bincount(codes[target == 1], minlength=uniques.size)
    return uniques[order], counts[order], bad[order], _ValueGroups(codes, uniques)


def _sorted_distinct_counts(
    values: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_distinct_counts` by sorting: two sorts (all values, bad rows' values) are cheaper
    than ``np.unique`` with its inverse."""
    ordered = np.sort(values)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    distinct = ordered[starts]
    counts = np.diff(np.append(starts, ordered.size))
    bad_values = np.sort(values[target == 1])
    bad = np.diff(np.append(np.searchsorted(bad_values, distinct), bad_values.size))
    return distinct, counts, bad


def _quantile_cuts(counts: np.ndarray, prebins: int) -> np.ndarray:
    """Return indices of distinct values that start a pre-bin, about ``1/prebins`` of rows apart."""
    cumulative = np.cumsum(counts)
    thresholds = cumulative[-1] * np.arange(1, prebins) / prebins
    indices = np.searchsorted(cumulative, thresholds, side="left") + 1
    return np.unique(indices[indices < counts.size])


def _tree_cuts(
    good: np.ndarray, bad: np.ndarray, max_leaf_nodes: int, min_leaf_fraction: float
) -> np.ndarray:
    """Return the split points of a decision tree, as indices of distinct values.

    The tree is fitted on the ranks of cells of distinct values, weighted by their good and bad
    counts: the splits a tree finds on the rows, restricted to at most ``tree_cells_max``
    equal-frequency cells, at the cost of the cells rather than the rows, and free of the float32
    rounding a tree applies to raw values.
    """
    cell_starts = np.arange(good.size)
    if good.size > tree_cells_max:
        cell_starts = np.concatenate(([0], _quantile_cuts(good + bad, tree_cells_max)))
    cell_good = np.add.reduceat(good, cell_starts)
    cell_bad = np.add.reduceat(bad, cell_starts)
    ranks = np.arange(cell_starts.size, dtype=np.float64)
    weights = np.concatenate((cell_good, cell_bad)).astype(np.float64)
    kept = weights > 0
    tree = DecisionTreeClassifier(
        max_leaf_nodes=max_leaf_nodes,
        min_weight_fraction_leaf=min(min_leaf_fraction, 0.5),
        random_state=0,
    )
    tree.fit(
        np.concatenate((ranks, ranks))[kept, None],
        np.concatenate((np.zeros(ranks.size), np.ones(ranks.size)))[kept],
        sample_weight=weights[kept],
    )
    thresholds = tree.tree_.threshold[tree.tree_.feature >= 0]
    return np.unique(cell_starts[np.floor(thresholds).astype(np.int64) + 1])


def _chimerge(
    cuts: np.ndarray, good: np.ndarray, bad: np.ndarray, prebins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge the adjacent pair of pre-bins whose bad rates differ least until ``prebins`` remain."""
    while good.size > prebins:
        index = int(np.argmin(_adjacent_chi_square(good, bad)))
        good = np.concatenate((good[:index], [good[index] + good[index + 1]], good[index + 2 :]))
        bad = np.concatenate((bad[:index], [bad[index] + bad[index + 1]], bad[index + 2 :]))
        cuts = np.delete(cuts, index)
    return cuts, good, bad


def _adjacent_chi_square(good: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Chi-square of each 2x2 table (pre-bin i, i+1) x (good, bad); 0 where a margin is empty."""
    first_good, first_bad = good[:-1].astype(np.float64), bad[:-1].astype(np.float64)
    second_good, second_bad = good[1:].astype(np.float64), bad[1:].astype(np.float64)
    rows = first_good + first_bad + second_good + second_bad
    margins = (
        (first_good + first_bad)
        * (second_good + second_bad)
        * (first_good + second_good)
        * (first_bad + second_bad)
    )
    spread = (first_good * second_bad - first_bad * second_good) ** 2
    return np.where(margins > 0, rows * spread / np.maximum(margins, 1.0), 0.0)


def _categorical_prebins(
    names: np.ndarray, codes: np.ndarray, target: np.ndarray, max_prebins: int
) -> tuple[list[tuple[str, ...]], np.ndarray, np.ndarray]:
    """Return category groups in bad-rate order with their good and bad counts.

    Each category is a pre-bin unless there are more than ``max_prebins``; then neighbours in
    bad-rate order are grouped into about equal-frequency pre-bins.
    """
    counts = np.bincount(codes, minlength=names.size)
    bad = np.bincount(codes[target == 1], minlength=names.size)
    count_list, bad_list, name_list = counts.tolist(), bad.tolist(), names.tolist()
    order = sorted(
        (code for code, count in enumerate(count_list) if count),
        key=lambda code: (bad_list[code] / count_list[code], name_list[code]),
    )
    if not order:
        return [()], np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)
    group_starts = _equal_frequency_starts(counts[order], max_prebins)
    group_ends = [*group_starts[1:].tolist(), len(order)]
    groups = [
        tuple(name_list[code] for code in order[start:end])
        for start, end in zip(group_starts.tolist(), group_ends, strict=True)
    ]
    good_counts = np.add.reduceat(counts[order] - bad[order], group_starts)
    return groups, good_counts, np.add.reduceat(bad[order], group_starts)


def _equal_frequency_starts(counts: np.ndarray, groups_max: int) -> np.ndarray:
    """Split a sequence of counts into at most ``groups_max`` runs of about equal total."""
    if counts.size <= groups_max:
        return np.arange(counts.size)
    before = np.cumsum(counts) - counts
    group = (before * groups_max) // counts.sum()
    return np.flatnonzero(np.concatenate(([True], np.diff(group) > 0)))


def _min_bin_count(min_bin_share: float, rows_total: int) -> int:
    return max(1, math.ceil(min_bin_share * rows_total - _SHARE_TOLERANCE))


def _merge_all(features: list[_Prebinned], target: np.ndarray) -> list[tuple[tuple[int, ...], str]]:
    """Where each feature's value bins start (pre-bin indices), and the trend to record.

    A feature with a fixed trend takes that trend's best partition. Under ``"auto"`` it takes the
    better monotone trend (ascending on a tie), unless a single turn (peak or valley) predicts
    held-out rows better: a turn can only add IV on the rows it was fitted on (a monotone
    partition is a turn at one end), so it must earn its place out of sample, and is tried there
    only when it adds at least ``AUTO_TURN_IV_GAIN_MIN`` of IV in sample. Genuinely U-shaped risk
    (age, utilisation) wins; the wiggles of a small sample stay monotone. When no partition
    meets the constraints, all pre-bins become one bin and the trend says so.

    All features' merges run as one dynamic programme (its cost is mostly per programme, not per
    feature), and so do all held-out checks.
    """
    bads = int(np.count_nonzero(target))
    problems = [
        _merge_problem(
            feature.good, feature.bad, target.size, bads, _solved_trends(feature), feature.options
        )
        for feature in features
    ]
    chosen: list[tuple[Partition, str] | None] = []
    contested: list[tuple[int, tuple[Partition, str]]] = []
    solved = optimal_partitions(problems)
    for index, (feature, partitions) in enumerate(zip(features, solved, strict=True)):
        if feature.trend != "auto":
            chosen.append(_best_of(partitions, (feature.trend,)))
            continue
        monotone = _best_of(partitions, MONOTONE_TRENDS)
        turn = _best_of(partitions, TURN_TRENDS)
        chosen.append(turn if monotone is None else monotone)
        if (
            monotone is not None
            and turn is not None
            and turn[0].iv > monotone[0].iv * (1 + AUTO_TURN_IV_GAIN_MIN)
        ):
            contested.append((index, turn))
    winners = _turns_predicting_better(features, [index for index, _ in contested], target)
    for index, turn in contested:
        if index in winners:
            chosen[index] = turn
    return [
        ((0,), TREND_FALLBACK) if choice is None else (choice[0].starts, choice[1])
        for choice in chosen
    ]


def _solved_trends(feature: _Prebinned) -> tuple[str, ...]:
    return AUTO_TRENDS if feature.trend == "auto" else (feature.trend,)


@dataclass(frozen=True)
class _Fold:
    """Pre-bin counts of one half of the rows (to fit) and of the other half (to test), with the
    rows and bads of the fitted half (they set its totals and minimum bin size)."""

    fit_good: np.ndarray
    fit_bad: np.ndarray
    fit_rows: int
    fit_bads: int
    test_good: np.ndarray
    test_bad: np.ndarray


def _turns_predicting_better(
    features: list[_Prebinned], indices: list[int], target: np.ndarray
) -> set[int]:
    """Those of ``indices`` whose turn family predicts held-out rows better than the monotone one.

    Each family is fitted on one seeded half of the rows and scored by the binomial
    log-likelihood of the other half, both ways round. A half with one class cannot fit bins:
    then there is no evidence for a turn.
    """
    half = np.random.default_rng(AUTO_FOLD_SEED).random(target.size) < 0.5
    folds = {index: _numeric_folds(features[index], target, half) for index in indices}
    testable = [
        index
        for index in indices
        if all(0 < fold.fit_bads < fold.fit_rows for fold in folds[index])
    ]
    problems = [
        _merge_problem(
            fold.fit_good,
            fold.fit_bad,
            fold.fit_rows,
            fold.fit_bads,
            AUTO_TRENDS,
            features[index].options,
        )
        for index in testable
        for fold in folds[index]
    ]
    fitted = iter(optimal_partitions(problems))
    winners = set()
    for index in testable:
        partitions = [next(fitted) for _ in folds[index]]
        turn = _held_out_log_likelihood(TURN_TRENDS, folds[index], partitions)
        if turn > _held_out_log_likelihood(MONOTONE_TRENDS, folds[index], partitions):
            winners.add(index)
    return winners


def _numeric_folds(feature: _Prebinned, target: np.ndarray, half: np.ndarray) -> list[_Fold]:
    """The two halves ``half`` splits the rows into, each fitted on one side and tested on the
    other; one count over (pre-bin, half, bad) gives every pre-bin count of both."""
    assert feature.dtype == "numeric", "only numeric features choose their trend"
    groups = feature.value_groups
    if groups is None:
        values = feature.rows[feature.value_rows]
        prebin_of_value = np.searchsorted(feature.cuts, values, side="right")
    else:
        prebin_of_value = np.searchsorted(feature.cuts, groups.values, side="right")[groups.codes]
    value_half = half[feature.value_rows]
    value_bad = target[feature.value_rows] == 1
    cells = prebin_of_value * 4 + value_half * 2 + value_bad
    counts = np.bincount(cells, minlength=4 * feature.good.size).reshape(-1, 4)
    # columns: (other half, good), (other half, bad), (half, good), (half, bad)
    bad_rows = target == 1
    half_rows = int(np.count_nonzero(half))
    half_bads = int(np.count_nonzero(half & bad_rows))
    bads = int(np.count_nonzero(bad_rows))
    return [
        _Fold(counts[:, 2], counts[:, 3], half_rows, half_bads, counts[:, 0], counts[:, 1]),
        _Fold(
            counts[:, 0],
            counts[:, 1],
            target.size - half_rows,
            bads - half_bads,
            counts[:, 2],
            counts[:, 3],
        ),
    ]


def _held_out_log_likelihood(
    trends: tuple[str, ...], folds: list[_Fold], fitted: list[dict[str, Partition | None]]
) -> float:
    """Sum over folds of the test half's log-likelihood under the bins fitted on the fit half."""
    total = 0.0
    for fold, partitions in zip(folds, fitted, strict=True):
        best = _best_of(partitions, trends)
        if best is None:
            return -math.inf
        fit_good, fit_bad = _merged_counts(fold.fit_good, fold.fit_bad, best[0].starts)
        test_good, test_bad = _merged_counts(fold.test_good, fold.test_bad, best[0].starts)
        for good_count, bad_count, test_good_count, test_bad_count in zip(
            fit_good, fit_bad, test_good, test_bad, strict=True
        ):
            bad_rate = (bad_count + 0.5) / (good_count + bad_count + 1)
            total += test_bad_count * math.log(bad_rate)
            total += test_good_count * math.log(1 - bad_rate)
    return total


def _merge_problem(
    good: np.ndarray,
    bad: np.ndarray,
    rows: int,
    bads: int,
    trends: tuple[str, ...],
    options: _Options,
) -> MergeProblem:
    """The merge of pre-bin counts taken from ``rows`` rows with ``bads`` bads (they set the totals
    and the minimum bin size)."""
    return MergeProblem(
        good_counts=good,
        bad_counts=bad,
        good_total=rows - bads,
        bad_total=bads,
        min_bin_count=_min_bin_count(options.min_bin_share, rows),
        min_bin_bad_count=options.min_bin_bad_count,
        trends=trends,
        max_bins=options.max_bins,
    )


def _best_of(
    partitions: dict[str, Partition | None], trends: tuple[str, ...]
) -> tuple[Partition, str] | None:
    """The highest-IV partition among ``trends`` (the first on a tie), or None."""
    best = None
    for trend in trends:
        partition = partitions[trend]
        if partition is not None and (best is None or partition.iv > best[0].iv):
            best = (partition, trend)
    return best


def _merged_counts(
    good: np.ndarray, bad: np.ndarray, starts: tuple[int, ...]
) -> tuple[list[int], list[int]]:
    indices = np.asarray(starts, dtype=np.int64)
    return np.add.reduceat(good, indices).tolist(), np.add.reduceat(bad, indices).tolist()


class _CountedBin(NamedTuple):
    """A bin's kind, training counts and what it holds, before its WoE is known (a tuple: there
    are many, and they live only until the bins are scored)."""

    kind: BinKind
    good_count: int
    bad_count: int
    lower: float = -math.inf
    upper: float = math.inf
    categories: tuple[str, ...] = ()
    special_codes: tuple[float | str, ...] = ()


def _special_counts(
    codes: Sequence[float | str], special: np.ndarray, target: np.ndarray
) -> tuple[tuple[float | str, int, int], ...]:
    """Each special code with the good and bad counts of its rows (zero when none has it)."""
    return tuple(
        (code, *_good_bad_counts(special == index, target)) for index, code in enumerate(codes)
    )


def _good_bad_counts(rows: np.ndarray, target: np.ndarray) -> tuple[int, int]:
    """Goods and bads among the chosen rows."""
    bad_count = int(np.count_nonzero(rows & (target == 1)))
    return int(np.count_nonzero(rows)) - bad_count, bad_count


def _scored(
    features: list[_Prebinned],
    counted: list[list[_CountedBin]],
    trends: list[str],
    target: np.ndarray,
) -> list[FeatureBinning]:
    """Compute every bin's WoE and IV, label it, and build each feature's binning.

    The bins of all features share the target's totals, so their WoE and IV are one computation.
    """
    bins = [bin_ for feature_bins in counted for bin_ in feature_bins]
    bad_total = int(np.count_nonzero(target))
    woe, iv = woe_iv(
        np.array([bin_.good_count for bin_ in bins]),
        np.array([bin_.bad_count for bin_ in bins]),
        good_total=target.size - bad_total,
        bad_total=bad_total,
    )
    scores = iter(zip(woe.tolist(), iv.tolist(), strict=True))
    binnings = []
    for feature, feature_bins, trend in zip(features, counted, trends, strict=True):
        scored = tuple(_scored_bin(bin_, *next(scores)) for bin_ in feature_bins)
        total_iv = math.fsum(bin_.iv for bin_ in scored)
        binnings.append(
            FeatureBinning(
                feature=feature.feature, dtype=feature.dtype, bins=scored, trend=trend, iv=total_iv
            )
        )
    return binnings


def _scored_bin(bin_: _CountedBin, woe: float, iv: float) -> Bin:
    return Bin(
        kind=bin_.kind,
        label=_label(bin_),
        good_count=bin_.good_count,
        bad_count=bin_.bad_count,
        woe=woe,
        iv=iv,
        lower=bin_.lower,
        upper=bin_.upper,
        categories=bin_.categories,
        special_codes=bin_.special_codes,
    )


def _label(bin_: _CountedBin) -> str:
    if bin_.kind == "interval":
        return f"[{_format_number(bin_.lower)}, {_format_number(bin_.upper)})"
    if bin_.kind == "categories":
        return "{" + ", ".join(bin_.categories) + "}"
    if bin_.kind == "special":
        return "special " + ", ".join(_format_code(code) for code in bin_.special_codes)
    return "missing"


def _format_code(code: float | str) -> str:
    return code if isinstance(code, str) else _format_number(code)


def _format_number(number: float) -> str:
    """Shortest text for an edge: 30 not 30.0, 12.5, -inf."""
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    if float(number).is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(float(number))


# --- structure checks, shared by construction (assertions) and loading (ModelFileError) ---


def _structure_problem(
    feature: str, dtype: str, bins: tuple[Bin, ...], trend: str, iv: float
) -> str | None:
    """Describe the first way a binning is malformed, or return None when it is sound."""
    if dtype not in ("numeric", "categorical"):
        return f"dtype must be numeric or categorical, got {dtype!r}"
    if trend not in (*TRENDS, TREND_FALLBACK):
        return f"unknown trend {trend!r}"
    for check in (_kinds_problem, _values_problem, _specials_problem, _counts_problem):
        problem = check(dtype, bins)
        if problem is not None:
            return problem
    if not math.isfinite(iv) or not math.isclose(
        iv, math.fsum(bin_.iv for bin_ in bins), rel_tol=_IV_TOLERANCE, abs_tol=_IV_TOLERANCE
    ):
        return f"iv {iv!r} is not the sum of the bins' iv"
    return None


def _kinds_problem(dtype: str, bins: tuple[Bin, ...]) -> str | None:
    kinds = [bin_.kind for bin_ in bins]
    value_kind = "interval" if dtype == "numeric" else "categories"
    value_count = next(
        (index for index, kind in enumerate(kinds) if kind != value_kind), len(kinds)
    )
    expected = [value_kind] * value_count + ["special"] * (len(kinds) - value_count - 1)
    if value_count == 0 or kinds != [*expected, "missing"]:
        return f"bins must be {value_kind} bins, then special bins, then one missing bin: {kinds}"
    for bin_ in bins:
        if bin_.kind != "interval" and (bin_.lower != -math.inf or bin_.upper != math.inf):
            return f"bin {bin_.label!r} is not an interval but has edges"
        if bin_.kind != "categories" and bin_.categories:
            return f"bin {bin_.label!r} is not a category bin but has categories"
        if bin_.kind != "special" and bin_.special_codes:
            return f"bin {bin_.label!r} is not a special bin but has special codes"
    return None


def _values_problem(dtype: str, bins: tuple[Bin, ...]) -> str | None:
    if dtype == "categorical":
        names = [name for bin_ in bins for name in bin_.categories]
        if not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
            return "categories must be distinct strings"
        return None
    intervals = [bin_ for bin_ in bins if bin_.kind == "interval"]
    if intervals[0].lower != -math.inf or intervals[-1].upper != math.inf:
        return "interval bins must start at -inf and end at +inf"
    for bin_ in intervals:
        if not bin_.lower < bin_.upper:
            return f"interval bin {bin_.label!r} is empty"
    for left, right in itertools.pairwise(intervals):
        if left.upper != right.lower:
            return f"interval bins {left.label!r} and {right.label!r} are not contiguous"
    return None


def _specials_problem(dtype: str, bins: tuple[Bin, ...]) -> str | None:
    specials = [bin_ for bin_ in bins if bin_.kind == "special"]
    if any(not bin_.special_codes for bin_ in specials):
        return "a special bin needs at least one code"
    codes = [code for bin_ in specials for code in bin_.special_codes]
    if dtype == "numeric":
        valid = all(isinstance(code, float) and math.isfinite(code) for code in codes)
        clash = False
    else:
        valid = all(isinstance(code, str) for code in codes)
        clash = any(code in bin_.categories for bin_ in bins for code in codes)
    if not valid:
        expected = "finite floats" if dtype == "numeric" else "strings"
        return f"special codes of a {dtype} feature must be {expected}"
    if clash or len(set(codes)) != len(codes):
        return "special codes must be distinct and not categories"
    return None


def _counts_problem(dtype: str, bins: tuple[Bin, ...]) -> str | None:
    del dtype  # the same rules for both
    for bin_ in bins:
        counts = (bin_.good_count, bin_.bad_count)
        if any(
            isinstance(count, bool) or not isinstance(count, int) or count < 0 for count in counts
        ):
            return f"bin {bin_.label!r} counts must be integers >= 0"
        if not all(
            isinstance(number, float) and math.isfinite(number) for number in (bin_.woe, bin_.iv)
        ):
            return f"bin {bin_.label!r} woe and iv must be finite floats"
        if bin_.count == 0 and (bin_.woe != 0 or bin_.iv != 0):
            return f"bin {bin_.label!r} has no rows, so its woe and iv must be 0"
    if sum(bin_.good_count for bin_ in bins) == 0 or sum(bin_.bad_count for bin_ in bins) == 0:
        return "the bins must hold both goods and bads"
    return None


# --- JSON form ---


def _bin_to_dict(bin_: Bin) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": bin_.kind,
        "label": bin_.label,
        "good_count": bin_.good_count,
        "bad_count": bin_.bad_count,
        "woe": bin_.woe,
        "iv": bin_.iv,
    }
    if bin_.kind == "interval":
        data["lower"] = _edge_to_json(bin_.lower)
        data["upper"] = _edge_to_json(bin_.upper)
    elif bin_.kind == "categories":
        data["categories"] = list(bin_.categories)
    elif bin_.kind == "special":
        data["special_codes"] = list(bin_.special_codes)
    return data


def _edge_to_json(edge: float) -> float | str:
    if math.isinf(edge):
        return "inf" if edge > 0 else "-inf"
    return edge


_BIN_FIELDS = {"kind", "label", "good_count", "bad_count", "woe", "iv"}
_BIN_KIND_FIELDS: dict[str, set[str]] = {
    "interval": {"lower", "upper"},
    "categories": {"categories"},
    "special": {"special_codes"},
    "missing": set(),
}


def _bin_from_dict(data: Any, dtype: str, where: str) -> Bin:
    if not isinstance(data, dict):
        raise ModelFileError(f"{where} must be an object")
    kind = _choice(data.get("kind"), tuple(_BIN_KIND_FIELDS), f"{where}.kind")
    fields = _exact_keys(data, _BIN_FIELDS | _BIN_KIND_FIELDS[kind], where)
    label = fields["label"]
    if not isinstance(label, str):
        raise ModelFileError(f"{where}.label must be a string")
    where_fields: dict[str, Any] = {}
    if kind == "interval":
        where_fields["lower"] = _edge(fields["lower"], f"{where}.lower")
        where_fields["upper"] = _edge(fields["upper"], f"{where}.upper")
    elif kind == "categories":
        where_fields["categories"] = tuple(_strings(fields["categories"], f"{where}.categories"))
    elif kind == "special":
        where_fields["special_codes"] = tuple(
            _codes(fields["special_codes"], dtype, f"{where}.special_codes")
        )
    return Bin(
        kind=kind,
        label=label,
        good_count=_count(fields["good_count"], f"{where}.good_count"),
        bad_count=_count(fields["bad_count"], f"{where}.bad_count"),
        woe=_finite(fields["woe"], f"{where}.woe"),
        iv=_finite(fields["iv"], f"{where}.iv"),
        **where_fields,
    )


def _exact_keys(data: Any, keys: set[str], where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ModelFileError(f"{where} must be an object")
    missing = sorted(keys - set(data))
    extra = sorted(str(key) for key in set(data) - keys)
    if missing or extra:
        raise ModelFileError(f"{where}: missing fields {missing}, unexpected fields {extra}")
    return data


def _choice(value: Any, choices: Sequence[str], where: str) -> Any:
    if not isinstance(value, str) or value not in choices:
        raise ModelFileError(f"{where} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelFileError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ModelFileError(f"{where} must be an integer >= 0, got {value!r}")
    return value


def _edge(value: Any, where: str) -> float:
    if value == "inf":
        return math.inf
    if value == "-inf":
        return -math.inf
    return _finite(value, where)


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ModelFileError(f"{where} must be a list of strings")
    return value


def _codes(value: Any, dtype: str, where: str) -> list[float | str]:
    if not isinstance(value, list):
        raise ModelFileError(f"{where} must be a list")
    if dtype == "categorical":
        return list(_strings(value, where))
    return [_finite(code, where) for code in value]


# --- scikit-learn transformer ---


class WoEBinner(TransformerMixin, BaseEstimator):
    """Bin every feature of a table and replace each value with its bin's WoE (or bin index).

    Parameters are those of :func:`bin_feature`, some with per-feature forms:
    ``monotonic_trend`` is one trend or a dict feature -> trend (absent features: "auto");
    ``special_codes`` is None, a list applied to every numeric feature, or a dict feature -> list;
    ``categorical_features`` is None (infer from dtypes) or the list of categorical features, all
    others being numeric. ``unseen_category`` is the policy of :meth:`FeatureBinning.bin_indices`;
    ``output`` is "woe" (float64 matrix) or "index" (int32 matrix of bin indices).

    Columns are matched by name, so a table with the training columns in another order, or with
    extra columns, transforms the same; a 2-D array has columns named x0, x1, ...
    """

    def __init__(
        self,
        prebinning: PreBinning = "quantile",
        max_prebins: int = 20,
        max_bins: int = 8,
        monotonic_trend: MonotonicTrend | Mapping[str, MonotonicTrend] = "auto",
        min_bin_share: float = 0.05,
        min_bin_bad_count: int = 1,
        special_codes: Sequence[float] | Mapping[str, Sequence[float | str]] | None = None,
        categorical_features: Sequence[str] | None = None,
        unseen_category: UnseenCategory = "error",
        output: Literal["woe", "index"] = "woe",
    ) -> None:
        self.prebinning = prebinning
        self.max_prebins = max_prebins
        self.max_bins = max_bins
        self.monotonic_trend = monotonic_trend
        self.min_bin_share = min_bin_share
        self.min_bin_bad_count = min_bin_bad_count
        self.special_codes = special_codes
        self.categorical_features = categorical_features
        self.unseen_category = unseen_category
        self.output = output

    def fit(self, X: Any, y: Any) -> WoEBinner:  # noqa: N803 - scikit-learn's name
        """Bin each feature of ``X`` against ``y`` (1 = bad, 0 = good)."""
        self._fit(X, y)
        return self

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:  # noqa: N803
        """Fit, then return what :meth:`transform` returns for ``X``, placing each training row in
        the bin fitting counted it in rather than reading the columns again."""
        prebinned = self._fit(X, y)
        as_index = self.output == "index"
        result = np.empty(
            (prebinned[0].rows.size, len(prebinned)),
            dtype=np.int32 if as_index else np.float64,
            order="F",
        )
        for column, feature in enumerate(prebinned):
            binning = self.binnings_[feature.feature]
            indices = _training_indices(feature, binning)
            if as_index:
                result[:, column] = indices
            else:
                result[:, column] = np.array([bin_.woe for bin_ in binning.bins])[indices]
        return result

    def _fit(self, X: Any, y: Any) -> list[_Prebinned]:  # noqa: N803
        """Fit, and return each feature's pre-binning (what :meth:`fit_transform` reuses)."""
        self._check_transform_params()
        frame = _dense_frame(X)
        if y is None:
            raise ValueError("WoEBinner requires y to be passed, but the target y is None")
        target = binary_target(y)
        if target.size != len(frame):
            raise ScoringDataError(f"X has {len(frame)} rows but y has {target.size}")
        names = [str(name) for name in frame.columns]
        self._check_feature_keys(names)
        categorical = set(() if self.categorical_features is None else self.categorical_features)
        columns = []
        for name in names:
            series = frame[name]
            declared = None
            if self.categorical_features is not None:
                declared = "categorical" if name in categorical else "numeric"
            dtype = resolve_dtype(series, declared, name)
            columns.append((name, series, dtype, self._options_for(name, dtype)))
        prebinned, binnings = _bin_columns(columns, target)
        self.binnings_ = dict(zip(names, binnings, strict=True))
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        return prebinned

    def transform(self, X: Any) -> np.ndarray:  # noqa: N803 - scikit-learn's name
        """Return the WoE (float64) or bin index (int32) of every value, one column per feature."""
        check_is_fitted(self, "binnings_")
        self._check_transform_params()
        frame = _dense_frame(X)
        if not isinstance(X, pd.DataFrame) and frame.shape[1] != self.n_features_in_:
            raise ScoringDataError(
                f"X has {frame.shape[1]} features, but WoEBinner is expecting "
                f"{self.n_features_in_} features as input"
            )
        frame = require_columns(frame, list(self.feature_names_in_))
        as_index = self.output == "index"
        # column-major, so that each feature's column is written contiguously
        result = np.empty(frame.shape, dtype=np.int32 if as_index else np.float64, order="F")
        for column, (name, binning) in enumerate(self.binnings_.items()):
            if as_index:
                result[:, column] = binning.bin_indices(frame[name], self.unseen_category)
            else:
                result[:, column] = binning.woe_values(frame[name], self.unseen_category)
        return result

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        """One output column per input feature, under the same name."""
        check_is_fitted(self, "binnings_")
        if input_features is not None and list(input_features) != list(self.feature_names_in_):
            raise ValueError("input_features must be the features seen in fit, in order")
        return self.feature_names_in_.copy()

    def information_values(self) -> dict[str, float]:
        """Each feature's information value, for screening features before a scorecard."""
        check_is_fitted(self, "binnings_")
        return {name: binning.iv for name, binning in self.binnings_.items()}

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        # the target must be binary: 1 = bad, 0 = good
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags

    def _check_transform_params(self) -> None:
        _check_choice("unseen_category", self.unseen_category, UNSEEN_CATEGORY_POLICIES)
        _check_choice("output", self.output, OUTPUTS)

    def _check_feature_keys(self, names: list[str]) -> None:
        """Refuse per-feature parameters of the wrong shape or naming features the data lacks."""
        trends, codes, categorical = (
            self.monotonic_trend,
            self.special_codes,
            self.categorical_features,
        )
        if not isinstance(trends, str | Mapping):
            raise ValueError(f"monotonic_trend must be a trend or a dict, got {trends!r}")
        if codes is not None and not _is_list_or_dict(codes):
            raise ValueError(f"special_codes must be a list or a dict, got {codes!r}")
        if categorical is not None and (
            isinstance(categorical, Mapping) or not _is_list_or_dict(categorical)
        ):
            raise ValueError(f"categorical_features must be a list of names, got {categorical!r}")
        named = {
            "monotonic_trend": trends if isinstance(trends, Mapping) else {},
            "special_codes": codes if isinstance(codes, Mapping) else {},
            "categorical_features": [] if categorical is None else categorical,
        }
        for parameter, keys in named.items():
            unknown = sorted(str(key) for key in keys if key not in names)
            if unknown:
                raise ValueError(f"{parameter} names features the data lacks: {', '.join(unknown)}")

    def _options_for(self, name: str, dtype: str) -> _Options:
        trend = self.monotonic_trend
        if isinstance(trend, Mapping):
            trend = trend.get(name, "auto")
        codes: Any = self.special_codes
        if isinstance(codes, Mapping):
            codes = codes.get(name, ())
        elif codes is None or dtype != "numeric":
            codes = ()
        return _options(
            self.prebinning,
            self.max_prebins,
            self.max_bins,
            trend,
            self.min_bin_share,
            self.min_bin_bad_count,
            codes,
        )


def _dense_frame(data: Any) -> pd.DataFrame:
    if sparse.issparse(data):
        raise TypeError("WoEBinner needs dense data, got a sparse matrix")
    return feature_frame(data)


def _is_list_or_dict(value: Any) -> bool:
    return isinstance(value, Mapping) or (
        isinstance(value, Sequence | np.ndarray) and not isinstance(value, str | bytes)
    )
