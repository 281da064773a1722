"""A model's validation report as one self-contained HTML file a reviewer can open anywhere.

The file holds everything inline: CSS in a ``<style>`` element and every chart as an SVG drawn by
matplotlib, with text as paths so no font is needed. It loads nothing (no script, stylesheet, font
or image URL), so it can be mailed, archived with the model and opened offline years later, and it
cannot phone home. Every piece of text from the data (feature names, bin labels, notes) is
HTML-escaped, because category labels come from applicant data.

Charts use :class:`matplotlib.figure.Figure` directly, never ``pyplot``, and set their SVG options
inside ``matplotlib.rc_context``, so rendering neither opens windows nor changes the caller's
matplotlib settings. The output is a function of :class:`ReportData` alone (the creation time is
passed in and SVG ids are salted per chart, not random), so rendering the same data twice gives
the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from lendguard import html_report as page
from lendguard.errors import ScoringDataError
from lendguard.html_report import format_number
from lendguard.scoring import metrics

curve_points_max = 500
"""Points drawn per ROC or KS curve: more are invisible at report size and only grow the file."""

label_chars_max = 32
"""Characters of a bin label shown on a chart axis; the table beside it shows the whole label."""

histogram_bins = 30
"""Bars per class in the score distribution chart."""

_BAD_COLOR = "#c0392b"
_GOOD_COLOR = "#2e86c1"


@dataclass(frozen=True, eq=False)
class ReportData:
    """Everything a report shows, as plain data (``eq=False``: arrays do not compare as bools).

    ``metrics`` maps a sample name (``"train"``, ``"holdout"``) to its
    :func:`~lendguard.scoring.metrics.summary`. ``y_true``, ``y_score`` (higher = riskier) and
    ``probability`` are the holdout rows the curves and tables are drawn from; ``score_values``
    (the scaled credit score, optional) is what the score distribution shows, else ``y_score``.
    """

    title: str
    model_kind: str
    model_name: str
    model_version: str
    created: str
    metrics: Mapping[str, Mapping[str, Any]]
    binning_tables: Mapping[str, Sequence[Mapping[str, Any]]]
    y_true: np.ndarray
    y_score: np.ndarray
    probability: np.ndarray
    points_table: Sequence[Mapping[str, Any]] | None = None
    score_values: np.ndarray | None = None
    drift: Mapping[str, Any] | None = None
    notes: Sequence[str] = field(default_factory=tuple)


def render_report(data: ReportData, path: Path) -> Path:
    """Write the report for ``data`` to ``path`` (UTF-8 HTML) and return ``path``."""
    Path(path).write_text(report_html(data), encoding="utf-8")
    return Path(path)


def report_html(data: ReportData) -> str:
    """The report as one HTML string: header, then each section in a fixed order."""
    _check_holdout(data)
    sections = [
        page.section("Summary metrics", _metrics_table(data.metrics)),
        page.section("Characteristics: weight of evidence", _binning_sections(data.binning_tables)),
        page.section("ROC curve", _roc_chart(data)),
        page.section("KS curve", _ks_chart(data)),
        page.section("Score distribution", _distribution_chart(data)),
        page.section("Calibration", _calibration_section(data)),
        page.section("Lift by decile", page.table(metrics.lift_table(data.y_true, data.y_score))),
    ]
    if data.points_table is not None:
        sections.append(page.section("Points table", page.table(data.points_table)))
    if data.drift is not None:
        sections.append(page.section("Drift", _drift_section(data.drift)))
    if data.notes:
        items = "".join(f"<li>{page.text(note)}</li>" for note in data.notes)
        sections.append(page.section("Notes", f"<ul>{items}</ul>"))
    return _document(data, sections)


def _check_holdout(data: ReportData) -> None:
    """Refuse holdout arrays that disagree in length before any chart is drawn.

    The metric functions check ``y_true``, ``y_score`` and ``probability`` themselves; the credit
    scores are only drawn, so they are checked here.
    """
    row_count = np.asarray(data.y_true).shape[0]
    for name in ("y_score", "probability", "score_values"):
        values = getattr(data, name)
        if values is not None and np.asarray(values).shape[0] != row_count:
            raise ScoringDataError(
                f"the report's {name} has {np.asarray(values).shape[0]} rows, "
                f"y_true has {row_count}"
            )
    if data.score_values is not None:
        scores = np.asarray(data.score_values)
        if scores.dtype.kind not in "biuf" or not np.isfinite(scores).all():
            raise ScoringDataError("the report's score_values must be finite numbers")


def _document(data: ReportData, sections: Iterable[str]) -> str:
    header = page.table(
        [
            {
                "model kind": data.model_kind,
                "model": data.model_name,
                "version": data.model_version,
                "created": data.created,
            }
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{page.text(data.title)}</title>\n<style>{page.STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{page.text(data.title)}</h1>\n{header}\n{''.join(sections)}</body>\n</html>\n"
    )


def _metrics_table(samples: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per metric, one column per sample, so train and holdout sit side by side."""
    names = list(dict.fromkeys(name for sample in samples.values() for name in sample))
    rows = [
        {"metric": name, **{sample: values.get(name) for sample, values in samples.items()}}
        for name in names
    ]
    return page.table(rows)


def _binning_sections(tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    if not tables:
        return "<p>No binned characteristics.</p>"
    parts = []
    for feature, rows in tables.items():
        chart = _woe_chart(feature, rows)
        parts.append(f"<h3>{page.text(feature)}</h3>\n{chart}\n{page.table(rows)}")
    return "\n".join(parts)


def _drift_section(drift: Mapping[str, Any]) -> str:
    """Overall status, then one row per feature (and the score) with PSI, CSI and missing rates."""
    entries = dict(drift.get("features", {}))
    if drift.get("score") is not None:
        entries["(score)"] = drift["score"]
    rows = [
        {
            "feature": name,
            "kind": entry.get("kind"),
            "psi": entry.get("psi"),
            "csi": entry.get("csi"),
            "train missing": entry.get("train_missing_rate"),
            "scoring missing": entry.get("scoring_missing_rate"),
            "missing change": entry.get("missing_rate_change"),
            "status": entry.get("status"),
        }
        for name, entry in entries.items()
    ]
    overall = drift.get("status")
    counts = f"{drift.get('train_count')} train rows, {drift.get('scoring_count')} scoring rows"
    return (
        f'<p class="{page.status_class(overall)}">Overall status: <b>{page.text(overall)}</b> '
        f"({page.text(counts)})</p>\n{page.table(rows, status_column='status')}"
    )


def _calibration_section(data: ReportData) -> str:
    table = metrics.calibration_table(data.y_true, data.probability)
    summary = page.table(
        [
            {
                "expected calibration error": metrics.expected_calibration_error(
                    data.y_true, data.probability
                ),
                "brier": metrics.brier(data.y_true, data.probability),
            }
        ]
    )
    return f"{_calibration_chart(table)}\n{summary}\n{page.table(table)}"


# --- tables -------------------------------------------------------------------------------------


# --- charts -------------------------------------------------------------------------------------


def _figure() -> tuple[Figure, Any]:
    figure = Figure(figsize=(6.4, 3.6), layout="constrained")
    return figure, figure.add_subplot()


def _woe_chart(feature: str, rows: Sequence[Mapping[str, Any]]) -> str:
    """Horizontal WoE bars, first bin on top; riskier (positive) bins red, safer blue."""
    labels = [_axis_label(row.get("label", "")) for row in rows]
    woe = np.array([float(row.get("woe", 0.0)) for row in rows])
    figure = Figure(figsize=(6.4, 0.6 + 0.32 * max(len(rows), 1)), layout="constrained")
    axes = figure.add_subplot()
    positions = np.arange(len(rows))
    axes.barh(positions, woe, color=np.where(woe > 0, _BAD_COLOR, _GOOD_COLOR))
    axes.set_yticks(positions, labels)
    axes.invert_yaxis()
    axes.axvline(0.0, color="#444", linewidth=0.8)
    axes.set_xlabel("WoE = ln(bad share / good share); positive = riskier")
    return page.svg(figure, f"woe-{feature}")


def _roc_chart(data: ReportData) -> str:
    points = metrics.roc_points(data.y_true, data.y_score)
    keep = _thinned(points.false_positive_rate.size)
    figure, axes = _figure()
    axes.plot(points.false_positive_rate[keep], points.true_positive_rate[keep], color=_BAD_COLOR)
    axes.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=0.8)
    axes.set_xlabel("share of goods flagged (false positive rate)")
    axes.set_ylabel("share of bads flagged (true positive rate)")
    axes.set_title(f"AUC {format_number(metrics.auc(data.y_true, data.y_score))}")
    return page.svg(figure, "roc")


def _ks_chart(data: ReportData) -> str:
    """Cumulative bad and good shares against the share of rows flagged, riskiest first."""
    curve = metrics.ks_curve(data.y_true, data.y_score)
    target = np.asarray(data.y_true)
    bad_total = int(np.sum(target == 1))
    bad_share = np.concatenate(([0.0], curve.cumulative_bad_share))
    good_share = np.concatenate(([0.0], curve.cumulative_good_share))
    flagged_share = (bad_share * bad_total + good_share * (target.size - bad_total)) / target.size
    peak = int(np.argmax(np.abs(bad_share - good_share)))
    keep = np.union1d(_thinned(flagged_share.size), [peak])
    figure, axes = _figure()
    axes.plot(flagged_share[keep], bad_share[keep], color=_BAD_COLOR, label="bad")
    axes.plot(flagged_share[keep], good_share[keep], color=_GOOD_COLOR, label="good")
    axes.vlines(flagged_share[peak], good_share[peak], bad_share[peak], color="#444", linestyle=":")
    axes.set_xlabel("share of rows flagged, riskiest first")
    axes.set_ylabel("cumulative share")
    axes.set_title(f"KS {format_number(float(abs(bad_share[peak] - good_share[peak])))}")
    axes.legend(loc="lower right")
    return page.svg(figure, "ks")


def _distribution_chart(data: ReportData) -> str:
    values = data.score_values if data.score_values is not None else data.y_score
    values = np.asarray(values, dtype=np.float64)
    target = np.asarray(data.y_true)
    edges = np.histogram_bin_edges(values, bins=histogram_bins)
    figure, axes = _figure()
    for label, outcome, color in (("good", 0, _GOOD_COLOR), ("bad", 1, _BAD_COLOR)):
        axes.hist(
            values[target == outcome], bins=edges, density=True, alpha=0.5, color=color, label=label
        )
    axes.set_xlabel("credit score" if data.score_values is not None else "risk score")
    axes.set_ylabel("density")
    axes.legend()
    return page.svg(figure, "distribution")


def _calibration_chart(table: Sequence[Mapping[str, Any]]) -> str:
    predicted = [row["mean_probability"] for row in table]
    observed = [row["observed_bad_rate"] for row in table]
    top = max([*predicted, *observed]) * 1.05 or 1.0
    figure, axes = _figure()
    axes.plot([0, top], [0, top], color="#999", linestyle="--", linewidth=0.8)
    axes.plot(predicted, observed, marker="o", color=_BAD_COLOR)
    axes.set_xlim(0, top)
    axes.set_ylim(0, top)
    axes.set_xlabel("mean predicted probability of bad")
    axes.set_ylabel("observed bad rate")
    return page.svg(figure, "calibration")


def _thinned(size: int) -> np.ndarray:
    """At most ``curve_points_max`` evenly spaced indices into ``size`` points, ends included."""
    return np.unique(np.linspace(0, size - 1, min(size, curve_points_max)).round().astype(int))


def _axis_label(label: Any) -> str:
    """A bin label fit for a chart axis: shortened, with ``$`` escaped so it is not mathtext."""
    text = str(label)
    if len(text) > label_chars_max:
        text = text[: label_chars_max - 1] + "…"
    return text.replace("$", r"\$")
