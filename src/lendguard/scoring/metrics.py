"""How well a risk score ranks and how well a probability is calibrated, on a holdout sample.

Every function takes ``y_true`` (1 = bad, 0 = good, checked by
:func:`~lendguard.scoring.data.binary_target`) and a score where higher means riskier (a
probability of bad, a log-odds, or minus a credit score). Rows are never weighted. Bad data
raises :class:`~lendguard.errors.ScoringDataError`; a bad parameter (``groups``) raises
``ValueError``, as scikit-learn does.

Ties are treated the same way everywhere: rows with equal scores are indistinguishable to the
model, so they move together. AUC gives a tied bad/good pair half a point, KS and the curves step
over a whole block of equal scores at once, and grouped tables (lift, calibration) never split a
block across groups. Results therefore do not depend on the order of the rows.

Grouped tables keep equal counts where the ties allow: rows are sorted riskiest first and a row at
(0-based) sorted position ``p`` of ``n`` belongs to group ``floor(p * groups / n)``, except that a
block of equal scores joins the group of its first row. Groups left empty by that rule are dropped
and the rest numbered 1, 2 ... riskiest first, so a score with large ties yields fewer groups than
asked (a score with one value yields one group).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from scipy.stats import rankdata

from lendguard.errors import ScoringDataError
from lendguard.scoring.data import binary_target

groups_max = 1_000
"""Most groups a lift or calibration table may ask for: beyond that a table is not readable."""


class RocPoints(NamedTuple):
    """The ROC curve from the strictest threshold (nobody flagged) to the loosest (everyone)."""

    false_positive_rate: np.ndarray
    """Share of goods with a score at or above the threshold."""
    true_positive_rate: np.ndarray
    """Share of bads with a score at or above the threshold."""
    thresholds: np.ndarray
    """Distinct scores, riskiest first, after a leading ``+inf`` for the (0, 0) point."""


class KsCurve(NamedTuple):
    """Cumulative bad and good shares over score thresholds, riskiest first, for a KS plot."""

    thresholds: np.ndarray
    """Distinct scores, riskiest first."""
    cumulative_bad_share: np.ndarray
    """Share of bads with a score at or above the threshold."""
    cumulative_good_share: np.ndarray
    """Share of goods with a score at or above the threshold."""
    distance: np.ndarray
    """``|cumulative_bad_share - cumulative_good_share|``; its maximum is the KS statistic."""


def auc(y_true: Any, y_score: Any) -> float:
    """Area under the ROC curve: the chance a random bad scores riskier than a random good.

    Computed from ranks (Mann-Whitney U) with tied scores given their average rank, so a tied
    bad/good pair counts one half, exactly as ``sklearn.metrics.roc_auc_score``.
    """
    return _auc(*_scored(y_true, y_score))


def gini(y_true: Any, y_score: Any) -> float:
    """The Gini coefficient (accuracy ratio) credit teams quote: ``2 * AUC - 1``."""
    return 2.0 * auc(y_true, y_score) - 1.0


def ks(y_true: Any, y_score: Any) -> float:
    """Kolmogorov-Smirnov statistic: the widest gap between the bads' and goods' score CDFs.

    Thresholds are the distinct scores, so a block of equal scores is never split: the same value
    as ``scipy.stats.ks_2samp`` on the bads' and the goods' scores.
    """
    return _ks(*_scored(y_true, y_score))


def roc_points(y_true: Any, y_score: Any) -> RocPoints:
    """Every ROC point, one per distinct score; the same points as ``sklearn.metrics.roc_curve``
    with ``drop_intermediate=False``."""
    target, score = _scored(y_true, y_score)
    thresholds, bad_share, good_share = _cumulative_shares(target, score)
    return RocPoints(
        false_positive_rate=np.concatenate(([0.0], good_share)),
        true_positive_rate=np.concatenate(([0.0], bad_share)),
        thresholds=np.concatenate(([np.inf], thresholds)),
    )


def ks_curve(y_true: Any, y_score: Any) -> KsCurve:
    """Cumulative bad and good shares at each distinct score, riskiest first."""
    target, score = _scored(y_true, y_score)
    thresholds, bad_share, good_share = _cumulative_shares(target, score)
    return KsCurve(thresholds, bad_share, good_share, np.abs(bad_share - good_share))


def summary(y_true: Any, y_score: Any) -> dict[str, float | int]:
    """The headline numbers of a sample: AUC, KS, Gini, row count and bad rate."""
    target, score = _scored(y_true, y_score)
    area = _auc(target, score)
    return {
        "auc": area,
        "ks": _ks(target, score),
        "gini": 2.0 * area - 1.0,
        "count": int(target.size),
        "bad_rate": float(target.mean()),
    }


def lift_table(y_true: Any, y_score: Any, groups: int = 10) -> list[dict[str, float | int]]:
    """Rows per score group, riskiest first (deciles by default; ties kept together).

    ``ks`` is the gap between cumulative bad and good shares at the end of the group, and
    ``lift`` the group's bad rate over the whole sample's (2.0: twice as many bads as average).
    """
    target, score = _scored(y_true, y_score)
    order, group_of_sorted = _groups_riskiest_first(score, groups)
    sorted_target = target[order]
    sorted_score = score[order]
    bad_total = int(target.sum())
    good_total = target.size - bad_total
    overall_bad_rate = bad_total / target.size
    rows = []
    cumulative_bad_count = 0
    cumulative_good_count = 0
    for group, members in enumerate(_group_slices(group_of_sorted), start=1):
        count = members.stop - members.start
        bad_count = int(sorted_target[members].sum())
        cumulative_bad_count += bad_count
        cumulative_good_count += count - bad_count
        bad_share = cumulative_bad_count / bad_total
        good_share = cumulative_good_count / good_total
        rows.append(
            {
                "group": group,
                "count": count,
                "bad_count": bad_count,
                "bad_rate": bad_count / count,
                "cumulative_bad_share": bad_share,
                "cumulative_good_share": good_share,
                "ks": abs(bad_share - good_share),
                "lift": bad_count / count / overall_bad_rate,
                "min_score": float(sorted_score[members.stop - 1]),
                "max_score": float(sorted_score[members.start]),
            }
        )
    return rows


def calibration_table(
    y_true: Any, probability: Any, groups: int = 10
) -> list[dict[str, float | int]]:
    """Predicted against observed bad rate per probability group, riskiest first (ties together).

    ``gap`` is ``|mean_probability - observed_bad_rate|``: the calibration error of the group.
    """
    target, predicted = _scored(y_true, probability)
    _require_probability(predicted)
    order, group_of_sorted = _groups_riskiest_first(predicted, groups)
    sorted_target = target[order]
    sorted_predicted = predicted[order]
    rows = []
    for group, members in enumerate(_group_slices(group_of_sorted), start=1):
        mean_probability = float(sorted_predicted[members].mean())
        observed_bad_rate = float(sorted_target[members].mean())
        rows.append(
            {
                "group": group,
                "count": members.stop - members.start,
                "bad_count": int(sorted_target[members].sum()),
                "mean_probability": mean_probability,
                "observed_bad_rate": observed_bad_rate,
                "gap": abs(mean_probability - observed_bad_rate),
                "min_probability": float(sorted_predicted[members.stop - 1]),
                "max_probability": float(sorted_predicted[members.start]),
            }
        )
    return rows


def expected_calibration_error(y_true: Any, probability: Any, groups: int = 10) -> float:
    """Count-weighted mean of each group's ``|mean predicted - observed bad rate|``.

    Groups are those of :func:`calibration_table` (equal counts, ties kept together), so the value
    does not depend on row order. 0 means the probabilities match observed rates group by group.
    """
    rows = calibration_table(y_true, probability, groups)
    total = sum(row["count"] for row in rows)
    return sum(row["count"] * row["gap"] for row in rows) / total


def brier(y_true: Any, probability: Any) -> float:
    """Mean squared difference between the probability of bad and the outcome (lower is better)."""
    target, predicted = _scored(y_true, probability)
    _require_probability(predicted)
    return float(np.mean((predicted - target) ** 2))


def _scored(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check a target and its scores together; refuse what no metric can use."""
    target = binary_target(y_true)
    score = np.asarray(y_score)
    if score.ndim != 1:
        raise ScoringDataError(f"the scores must be one column, got shape {score.shape}")
    if score.size != target.size:
        raise ScoringDataError(
            f"the target has {target.size} rows but the scores have {score.size}"
        )
    if score.dtype.kind not in "biuf":
        raise ScoringDataError(f"the scores must be numbers, got values of type {score.dtype}")
    score = score.astype(np.float64)
    if not np.isfinite(score).all():
        raise ScoringDataError(
            f"the scores have {int((~np.isfinite(score)).sum())} missing or infinite values"
        )
    return target, score


def _auc(target: np.ndarray, score: np.ndarray) -> float:
    bad_count = int(target.sum())
    good_count = target.size - bad_count
    bad_rank_sum = float(rankdata(score, method="average")[target == 1].sum())
    return (bad_rank_sum - bad_count * (bad_count + 1) / 2) / (bad_count * good_count)


def _ks(target: np.ndarray, score: np.ndarray) -> float:
    _, bad_share, good_share = _cumulative_shares(target, score)
    return float(np.abs(bad_share - good_share).max())


def _require_probability(predicted: np.ndarray) -> None:
    """Calibration compares probabilities with rates, so a score outside [0, 1] is refused."""
    outside = (predicted < 0.0) | (predicted > 1.0)
    if outside.any():
        raise ScoringDataError(
            f"probabilities must lie in [0, 1], got {int(outside.sum())} outside "
            f"(for example {predicted[outside][0]})"
        )


def _cumulative_shares(
    target: np.ndarray, score: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores riskiest first, with the share of bads and of goods at or above each."""
    thresholds, inverse = np.unique(-score, return_inverse=True)
    bad_counts = np.bincount(inverse, weights=target, minlength=thresholds.size)
    row_counts = np.bincount(inverse, minlength=thresholds.size)
    cumulative_bad = np.cumsum(bad_counts)
    cumulative_good = np.cumsum(row_counts - bad_counts)
    return -thresholds, cumulative_bad / cumulative_bad[-1], cumulative_good / cumulative_good[-1]


def _groups_riskiest_first(score: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The riskiest-first sort order and, per sorted row, its (not yet renumbered) group.

    A block of equal scores takes the group of its first sorted row (see the module docstring).
    """
    if isinstance(groups, bool) or not isinstance(groups, int | np.integer):
        raise ValueError(f"groups must be an integer, got {groups!r}")
    if not 1 <= groups <= groups_max:
        raise ValueError(f"groups must be between 1 and {groups_max}, got {groups}")
    order = np.argsort(-score, kind="stable")
    sorted_score = score[order]
    position = np.arange(score.size)
    block_starts = np.concatenate(([True], sorted_score[1:] != sorted_score[:-1]))
    block_first_position = np.maximum.accumulate(np.where(block_starts, position, 0))
    return order, block_first_position * groups // score.size


def _group_slices(group_of_sorted: np.ndarray) -> list[slice]:
    """Contiguous runs of equal group numbers in sorted rows; empty groups simply do not occur."""
    starts = np.flatnonzero(np.concatenate(([True], np.diff(group_of_sorted) != 0)))
    stops = np.concatenate((starts[1:], [group_of_sorted.size]))
    return [slice(int(start), int(stop)) for start, stop in zip(starts, stops, strict=True)]
