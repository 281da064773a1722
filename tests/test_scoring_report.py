"""The HTML validation report: self-contained, escaped, deterministic, and showing true numbers.

Tables are read back with the standard library's HTML parser, so a test compares what a reviewer
would see with what :mod:`lendguard.scoring.metrics` computes.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from lendguard.errors import ScoringDataError
from lendguard.scoring import metrics, monitoring
from lendguard.scoring.binning import bin_feature
from lendguard.scoring.report import ReportData, format_number, render_report

HOSTILE_FEATURE = "<b>x</b>"
HOSTILE_LABEL = "<script>alert(1)</script>"
SECTION_TITLES = (
    "Summary metrics",
    "Characteristics: weight of evidence",
    "ROC curve",
    "KS curve",
    "Score distribution",
    "Calibration",
    "Lift by decile",
    "Points table",
    "Drift",
    "Notes",
)
SVG_NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


class TableReader(HTMLParser):
    """Collects each ``<table>`` as a list of rows of cell texts, and the ``<h2>`` titles."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.titles: list[str] = []
        self._cell: list[str] | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "h2":
            self._in_title = True
            self.titles.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "h2":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_title:
            self.titles[-1] += data


def read(text: str) -> TableReader:
    reader = TableReader()
    reader.feed(text)
    return reader


def table_with_header(reader: TableReader, first_header: str, *headers: str) -> list[list[str]]:
    """The first table whose header row starts with the given column names."""
    wanted = [first_header, *headers]
    for table in reader.tables:
        if table[0][: len(wanted)] == wanted:
            return table
    raise AssertionError(f"no table with columns {wanted}")


def sample_data(**changes: object) -> ReportData:
    rng = np.random.default_rng(11)
    target = rng.integers(0, 2, 600)
    probability = 1 / (1 + np.exp(-(rng.normal(size=600) + 1.5 * target - 1)))
    income = rng.normal(size=600)
    income_binning = bin_feature(income, (income + rng.normal(size=600) > 0.5), feature="income")
    train = pd.DataFrame({HOSTILE_FEATURE: rng.normal(size=500)})
    scoring = pd.DataFrame({HOSTILE_FEATURE: rng.normal(0.5, size=400)})
    fields: dict[str, object] = {
        "title": "Application scorecard & friends",
        "model_kind": "scorecard",
        "model_name": "a-card",
        "model_version": "3",
        "created": "2026-02-01T09:00:00+08:00",
        "metrics": {
            "train": metrics.summary(target[:300], probability[:300]),
            "holdout": metrics.summary(target, probability),
        },
        "binning_tables": {
            HOSTILE_FEATURE: [
                {"label": "(-inf, 3)", "count": 250, "bad_rate": 0.2, "woe": -0.6, "iv": 0.07},
                {"label": HOSTILE_LABEL, "count": 250, "bad_rate": 0.6, "woe": 0.9, "iv": 0.2},
                {"label": "$5 and up", "count": 0, "bad_rate": float("nan"), "woe": 0, "iv": 0},
            ],
            "income": income_binning.table(),
        },
        "points_table": [{"feature": HOSTILE_FEATURE, "bin": "(-inf, 3)", "points": 21.0}],
        "y_true": target,
        "y_score": probability,
        "probability": probability,
        "score_values": 600 - 50 * np.log(probability / (1 - probability)),
        "drift": monitoring.drift_report(train, scoring, [HOSTILE_FEATURE]),
        "notes": ["Holdout is the last 3 months & <not> the training window."],
    }
    fields.update(changes)
    return ReportData(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def report_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "model.html"
    assert render_report(sample_data(), path) == path
    return path.read_text(encoding="utf-8")


def test_every_section_is_present_with_charts(report_text: str) -> None:
    assert report_text.startswith("<!DOCTYPE html>")
    assert read(report_text).titles == list(SECTION_TITLES)
    # Two WoE charts, then ROC, KS, score distribution and calibration.
    assert report_text.count("<svg") == 6


def test_the_report_loads_nothing_from_outside(report_text: str) -> None:
    for url in re.findall(r"https?://[^\s\"'<>]*", report_text):
        assert url in SVG_NAMESPACES, url
    assert re.findall(r'xmlns(?::\w+)?="([^"]*)"', report_text)  # the namespaces are there
    for forbidden in ("<script", "<link", "<img", "<iframe", "<object", "<embed", "@import"):
        assert forbidden not in report_text.lower()
    assert re.search(r"\b(src|srcset|action)\s*=", report_text) is None
    assert re.search(r"url\(\s*['\"]?(?!#)", report_text) is None  # only same-file references
    for target in re.findall(r'href="([^"]*)"', report_text):
        assert target.startswith("#"), target
    assert "<!DOCTYPE svg" not in report_text  # the SVG prolog names a DTD URL


def test_text_from_the_data_is_escaped(report_text: str) -> None:
    assert HOSTILE_FEATURE not in report_text
    assert HOSTILE_LABEL not in report_text
    assert "&lt;b&gt;x&lt;/b&gt;" in report_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report_text
    assert "Application scorecard &amp; friends" in report_text
    assert "&amp; &lt;not&gt; the training window" in report_text


def test_summary_metrics_shown_equal_the_computed_ones(report_text: str) -> None:
    data = sample_data()
    table = table_with_header(read(report_text), "metric", "train", "holdout")
    shown = {row[0]: row[1:] for row in table[1:]}
    assert set(shown) == {"auc", "ks", "gini", "count", "bad_rate"}
    holdout = metrics.summary(data.y_true, data.y_score)
    train = metrics.summary(data.y_true[:300], data.y_score[:300])
    for name in ("auc", "ks", "gini", "bad_rate"):
        assert shown[name] == [format_number(train[name]), format_number(holdout[name])]
    assert shown["count"] == ["300", "600"]
    # The charts' titles carry the same numbers (matplotlib keeps each text as an SVG comment).
    assert f"<!-- AUC {format_number(holdout['auc'])} -->" in report_text
    assert f"<!-- KS {format_number(holdout['ks'])} -->" in report_text


def test_lift_and_calibration_tables_equal_the_computed_ones(report_text: str) -> None:
    data = sample_data()
    reader = read(report_text)
    lift = table_with_header(reader, "group", "count", "bad_count", "bad_rate")
    expected = metrics.lift_table(data.y_true, data.y_score)
    assert len(lift) == len(expected) + 1
    for shown, row in zip(lift[1:], expected, strict=True):
        assert shown[0] == str(row["group"])
        assert shown[3] == format_number(row["bad_rate"])
        assert shown[lift[0].index("lift")] == format_number(row["lift"])
    error_table = table_with_header(reader, "expected calibration error", "brier")
    assert error_table[1] == [
        format_number(metrics.expected_calibration_error(data.y_true, data.probability)),
        format_number(metrics.brier(data.y_true, data.probability)),
    ]


def test_binning_drift_and_points_tables(report_text: str) -> None:
    data = sample_data()
    reader = read(report_text)
    bins = table_with_header(reader, "label", "count", "bad_rate", "woe", "iv")
    assert bins[1:] == [
        ["(-inf, 3)", "250", "0.2000", "-0.6000", "0.0700"],
        [HOSTILE_LABEL, "250", "0.6000", "0.9000", "0.2000"],
        ["$5 and up", "0", "—", "0", "0"],  # a bin without rows has no bad rate
    ]
    drift = table_with_header(reader, "feature", "kind", "psi", "csi")
    assert data.drift is not None
    entry = data.drift["features"][HOSTILE_FEATURE]
    assert drift[1][:4] == [HOSTILE_FEATURE, "numeric", format_number(entry["psi"]), "—"]
    assert drift[1][-1] == entry["status"]
    assert f'<tr class="status-{entry["status"]}">' in report_text
    income = table_with_header(reader, "label", "count", "share", "good_count", "bad_count")
    rows = data.binning_tables["income"]
    assert [shown[0] for shown in income[1:]] == [row["label"] for row in rows]
    woe_column = income[0].index("woe")
    assert [shown[woe_column] for shown in income[1:]] == [format_number(r["woe"]) for r in rows]
    assert income[-1][:2] == ["missing", "0"]
    assert income[-1][income[0].index("bad_rate")] == "—"
    points = table_with_header(reader, "feature", "bin", "points")
    assert points[1] == [HOSTILE_FEATURE, "(-inf, 3)", "21.0000"]


def test_optional_sections_are_left_out(tmp_path: Path) -> None:
    data = sample_data(points_table=None, drift=None, notes=(), score_values=None)
    text = render_report(data, tmp_path / "lean.html").read_text(encoding="utf-8")
    assert read(text).titles == [
        title for title in SECTION_TITLES if title not in ("Points table", "Drift", "Notes")
    ]
    assert "<!-- risk score -->" in text  # without credit scores the histogram shows y_score


def test_rendering_is_deterministic_and_leaves_matplotlib_settings_alone(
    report_text: str, tmp_path: Path
) -> None:
    settings_before = dict(matplotlib.rcParams)
    backend_before = matplotlib.get_backend()
    again = render_report(sample_data(), tmp_path / "again.html").read_text(encoding="utf-8")
    assert again == report_text
    assert dict(matplotlib.rcParams) == settings_before
    assert matplotlib.get_backend() == backend_before


def test_holdout_arrays_of_different_lengths_are_refused(tmp_path: Path) -> None:
    data = sample_data()
    with pytest.raises(ScoringDataError, match="score_values has 10 rows, y_true has 600"):
        render_report(sample_data(score_values=np.zeros(10)), tmp_path / "bad.html")
    with pytest.raises(ScoringDataError, match="score_values must be finite"):
        render_report(sample_data(score_values=np.full(600, np.nan)), tmp_path / "bad.html")
    with pytest.raises(ScoringDataError, match=r"\[0, 1\]"):
        render_report(sample_data(probability=data.y_score * 2), tmp_path / "bad.html")
    assert not (tmp_path / "bad.html").exists()
