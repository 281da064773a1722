"""The simulator's HTML/PDF report and run comparison: self-contained, complete, escaped.

Built on the hand-made book of ``test_simulation_portfolio`` so the figures shown can be checked
against the ones worked out there.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import pyarrow as pa
import pytest

from lendguard.eod.outputs import SNAPSHOT_SCHEMA
from lendguard.simulation.portfolio import Run, build_run, load_run
from lendguard.simulation.report import (
    COMPARISON_TITLES,
    SECTION_TITLES,
    write_comparison,
    write_pdf,
    write_report,
)
from test_simulation_portfolio import (
    DECISION_SCHEMA,
    JAN_05,
    JAN_31,
    example_book,
    example_decisions,
    write_run,
)

HOSTILE = "<script>alert(1)</script>"
SVG_NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
SCENARIO = {"seed": 7, "book": {"accounts": 6, "months": 4}, "note": HOSTILE, "grades": ["A", "B"]}
CHARTS_DRAWN = 11
"""Every chart of the report has data in the example book (two in the roll-rate section)."""


class PageReader(HTMLParser):
    """Collects ``<h2>`` titles and every table as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.titles: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._title: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h2":
            self._title = ""
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2" and self._title is not None:
            self.titles.append(self._title)
            self._title = None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._title is not None:
            self._title += data
        if self._cell is not None:
            self._cell.append(data)


def read_page(text: str) -> PageReader:
    reader = PageReader()
    reader.feed(text)
    return reader


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("run")
    return load_run(write_run(folder, example_book(), example_decisions()))


@pytest.fixture(scope="module")
def report_text(run: Run, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "report.html"
    written = write_report(run, path, f"Book {HOSTILE}", SCENARIO)
    assert written == path
    return path.read_text(encoding="utf-8")


def assert_self_contained(text: str) -> None:
    for url in re.findall(r"https?://[^\s\"'<>)]*", text):
        assert url in SVG_NAMESPACES, url
    lowered = text.lower()
    for reference in ("<script", "<link", "<img", "<iframe", " src=", "@import"):
        assert reference not in lowered, reference
    # SVG refers to its own clip paths by fragment (url(#id)); the heatmap is an inline image.
    assert re.findall(r"url\(\s*[^#\s]", lowered) == []
    for target in re.findall(r"href=\"([^\"]{0,16})", lowered):
        assert target.startswith(("#", "data:image/png;")), target


def test_report_loads_nothing_from_outside(report_text: str) -> None:
    assert_self_contained(report_text)


def test_report_has_every_section_in_order_with_charts_and_captions(report_text: str) -> None:
    assert read_page(report_text).titles == list(SECTION_TITLES)
    assert report_text.count("<svg") == CHARTS_DRAWN
    assert report_text.count('<p class="caption">How computed:') == CHARTS_DRAWN


def test_report_escapes_the_title_and_scenario(report_text: str) -> None:
    assert HOSTILE not in report_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report_text


def test_report_headline_shows_the_worked_out_figures(report_text: str) -> None:
    headline = {row[0]: row[1] for row in read_page(report_text).tables[0][1:]}
    assert headline["1+ dpd share of balance"] == "71.43%"  # 25000 / 35000
    assert headline["90+ dpd share of balance"] == "62.86%"  # 22000 / 35000
    assert headline["M1 -> M2 roll rate"] == "90.00%"
    assert headline["FPD30"] == "40.00%"
    assert headline["Accounts"] == "6"
    assert headline["Open balance (yuan)"] == "350.00"


def test_report_ends_with_the_scenario_flattened(report_text: str) -> None:
    scenario = dict(read_page(report_text).tables[-1][1:])
    assert scenario == {
        "seed": "7",
        "book.accounts": "6",
        "book.months": "4",
        "note": HOSTILE,  # escaped in the file, read back as text
        "grades": '["A", "B"]',
    }


def test_report_leaves_matplotlib_alone(run: Run, tmp_path: Path) -> None:
    import matplotlib.pyplot as plt  # noqa: PLC0415 - only to see that no figure is registered

    settings = dict(matplotlib.rcParams)
    write_report(run, tmp_path / "a.html", "A", {})
    write_pdf(run, tmp_path / "a.pdf", "A")
    assert dict(matplotlib.rcParams) == settings
    assert plt.get_fignums() == []


def test_report_is_deterministic(run: Run, report_text: str, tmp_path: Path) -> None:
    again = write_report(run, tmp_path / "again.html", f"Book {HOSTILE}", SCENARIO)
    assert again.read_text(encoding="utf-8") == report_text


def test_pdf_has_a_headline_page_and_a_page_per_chart(run: Run, tmp_path: Path) -> None:
    path = write_pdf(run, tmp_path / "report.pdf", "Book review")
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page\b", data))
    assert pages == 1 + CHARTS_DRAWN


def test_comparison_puts_runs_side_by_side(run: Run, tmp_path: Path) -> None:
    book = [row for row in example_book() if row["account_id"] != "B"]
    other = load_run(write_run(tmp_path / "other", book, example_decisions()))
    hostile_name = f"stress {HOSTILE}"
    path = write_comparison(
        {"baseline": run, hostile_name: other}, tmp_path / "compare.html", "Baseline vs stress"
    )
    text = path.read_text(encoding="utf-8")
    assert_self_contained(text)
    page = read_page(text)
    assert page.titles == list(COMPARISON_TITLES)
    header, *rows = page.tables[0]
    assert header == ["figure", "baseline", hostile_name, f"{hostile_name} − baseline"]
    by_figure = {row[0]: row[1:] for row in rows}
    # Without B: open balance 13000 at the end, 30+ = F's 3000.
    assert by_figure["Open balance (yuan)"] == ["350.00", "130.00", "-220.00"]
    assert by_figure["30+ dpd share of balance"] == ["71.43%", "23.08%", "-48.35 pp"]
    assert text.count("<svg") == len(COMPARISON_TITLES) - 1
    assert HOSTILE not in text


def test_comparison_needs_two_runs(run: Run, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="two or more"):
        write_comparison({"only": run}, tmp_path / "compare.html", "One")


def test_one_month_run_reports_without_rolls(tmp_path: Path) -> None:
    book = [row for row in example_book() if row["business_date"] in (JAN_05, JAN_31)]
    run = load_run(write_run(tmp_path / "run", book, example_decisions()))
    text = write_report(run, tmp_path / "report.html", "January", {}).read_text(encoding="utf-8")
    assert read_page(text).titles == list(SECTION_TITLES)
    assert "No data." in text
    assert "No parameters given." in text
    assert write_pdf(run, tmp_path / "report.pdf", "January").read_bytes().startswith(b"%PDF")


def test_an_empty_run_still_gives_a_whole_report(tmp_path: Path) -> None:
    schema = SNAPSHOT_SCHEMA.append(pa.field("business_date", pa.date32()))
    run = build_run(schema.empty_table(), DECISION_SCHEMA.empty_table())
    text = write_report(run, tmp_path / "report.html", "Empty", {}).read_text(encoding="utf-8")
    assert read_page(text).titles == list(SECTION_TITLES)
    assert "<svg" not in text
    assert write_pdf(run, tmp_path / "report.pdf", "Empty").read_bytes().startswith(b"%PDF")
