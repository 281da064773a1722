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

import html
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from lendguard.errors import ScoringDataError
from lendguard.scoring import metrics

curve_points_max = 500
"""Points drawn per ROC or KS curve: more are invisible at report size and only grow the file."""

label_chars_max = 32
"""Characters of a bin label shown on a chart axis; the table beside it shows the whole label."""

histogram_bins = 30
"""Bars per class in the score distribution chart."""

_SVG_SETTINGS = {"svg.fonttype": "path", "svg.image_inline": True}
_SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
_BAD_COLOR = "#c0392b"
_GOOD_COLOR = "#2e86c1"
_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { border-bottom: 2px solid #444; padding-bottom: .3em; }
h2 { margin-top: 2em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f2f2f2; }
td.text { text-align: left; }
.status-stable { background: #e3f4e1; }
.status-watch { background: #fff3cd; }
.status-shift { background: #f8d7da; }
svg { max-width: 100%; height: auto; }
"""


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
        _section("Summary metrics", _metrics_table(data.metrics)),
        _section("Characteristics: weight of evidence", _binning_sections(data.binning_tables)),
        _section("ROC curve", _roc_chart(data)),
        _section("KS curve", _ks_chart(data)),
        _section("Score distribution", _distribution_chart(data)),
        _section("Calibration", _calibration_section(data)),
        _section("Lift by decile", _table(metrics.lift_table(data.y_true, data.y_score))),
    ]
    if data.points_table is not None:
        sections.append(_section("Points table", _table(data.points_table)))
    if data.drift is not None:
        sections.append(_section("Drift", _drift_section(data.drift)))
    if data.notes:
        items = "".join(f"<li>{_text(note)}</li>" for note in data.notes)
        sections.append(_section("Notes", f"<ul>{items}</ul>"))
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
    header = _table(
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
        f"<title>{_text(data.title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{_text(data.title)}</h1>\n{header}\n{''.join(sections)}</body>\n</html>\n"
    )


def _section(title: str, body: str) -> str:
    return f"<section>\n<h2>{_text(title)}</h2>\n{body}\n</section>\n"


def _metrics_table(samples: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per metric, one column per sample, so train and holdout sit side by side."""
    names = list(dict.fromkeys(name for sample in samples.values() for name in sample))
    rows = [
        {"metric": name, **{sample: values.get(name) for sample, values in samples.items()}}
        for name in names
    ]
    return _table(rows)


def _binning_sections(tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    if not tables:
        return "<p>No binned characteristics.</p>"
    parts = []
    for feature, rows in tables.items():
        chart = _woe_chart(feature, rows)
        parts.append(f"<h3>{_text(feature)}</h3>\n{chart}\n{_table(rows)}")
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
        f'<p class="{_status_class(overall)}">Overall status: <b>{_text(overall)}</b> '
        f"({_text(counts)})</p>\n{_table(rows, status_column='status')}"
    )


def _calibration_section(data: ReportData) -> str:
    table = metrics.calibration_table(data.y_true, data.probability)
    summary = _table(
        [
            {
                "expected calibration error": metrics.expected_calibration_error(
                    data.y_true, data.probability
                ),
                "brier": metrics.brier(data.y_true, data.probability),
            }
        ]
    )
    return f"{_calibration_chart(table)}\n{summary}\n{_table(table)}"


# --- tables -------------------------------------------------------------------------------------


def _table(rows: Sequence[Mapping[str, Any]], status_column: str | None = None) -> str:
    """An HTML table whose columns are the rows' keys in order of first appearance."""
    if not rows:
        return "<p>No rows.</p>"
    columns = list(dict.fromkeys(key for row in rows for key in row))
    head = "".join(f"<th>{_text(column)}</th>" for column in columns)
    body = []
    for row in rows:
        row_class = _status_class(row.get(status_column)) if status_column else ""
        cells = "".join(_cell(row.get(column)) for column in columns)
        body.append(f'<tr class="{row_class}">{cells}</tr>' if row_class else f"<tr>{cells}</tr>")
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(body) + "\n</table>"


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        text = "—" if value is None else str(value)
        return f'<td class="text">{_text(text)}</td>'
    if isinstance(value, int | np.integer):
        return f"<td>{int(value)}</td>"
    if isinstance(value, float | np.floating):
        if np.isnan(value):  # e.g. the bad rate of a bin no training row fell in
            return '<td class="text">—</td>'
        return f"<td>{format_number(float(value))}</td>"
    return f'<td class="text">{_text(str(value))}</td>'


def format_number(value: float) -> str:
    """How a report shows a float: four decimals, or four significant digits when tiny or huge."""
    if value == 0 or 1e-3 <= abs(value) < 1e9:
        return f"{value:.4f}"
    return f"{value:.4g}"


def _status_class(status: Any) -> str:
    """A CSS class only for the known statuses, so data never reaches an attribute unchecked."""
    return f"status-{status}" if status in ("stable", "watch", "shift") else ""


def _text(value: Any) -> str:
    return html.escape(str(value), quote=True)


# --- charts -------------------------------------------------------------------------------------


def _svg(figure: Figure, name: str) -> str:
    """The figure as an inline ``<svg>`` element, without the XML prolog and DOCTYPE URL."""
    buffer = io.StringIO()
    with matplotlib.rc_context({**_SVG_SETTINGS, "svg.hashsalt": f"lendguard-{name}"}):
        figure.savefig(buffer, format="svg", metadata=_SVG_METADATA)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


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
    return _svg(figure, f"woe-{feature}")


def _roc_chart(data: ReportData) -> str:
    points = metrics.roc_points(data.y_true, data.y_score)
    keep = _thinned(points.false_positive_rate.size)
    figure, axes = _figure()
    axes.plot(points.false_positive_rate[keep], points.true_positive_rate[keep], color=_BAD_COLOR)
    axes.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=0.8)
    axes.set_xlabel("share of goods flagged (false positive rate)")
    axes.set_ylabel("share of bads flagged (true positive rate)")
    axes.set_title(f"AUC {format_number(metrics.auc(data.y_true, data.y_score))}")
    return _svg(figure, "roc")


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
    return _svg(figure, "ks")


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
    return _svg(figure, "distribution")


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
    return _svg(figure, "calibration")


def _thinned(size: int) -> np.ndarray:
    """At most ``curve_points_max`` evenly spaced indices into ``size`` points, ends included."""
    return np.unique(np.linspace(0, size - 1, min(size, curve_points_max)).round().astype(int))


def _axis_label(label: Any) -> str:
    """A bin label fit for a chart axis: shortened, with ``$`` escaped so it is not mathtext."""
    text = str(label)
    if len(text) > label_chars_max:
        text = text[: label_chars_max - 1] + "…"
    return text.replace("$", r"\$")
