"""The book simulator's risk report: one self-contained HTML file, a PDF, and a run comparison.

Why: a risk committee reads a simulated book the way it reads a real one, so the report shows the
standard measures of :mod:`lendguard.simulation.portfolio` with a one-line "how computed" under
every chart and the scenario that produced them at the end.

Like the scoring report (whose HTML helpers this module reuses), the HTML file holds everything
inline: CSS in a ``<style>`` element and every chart as an SVG drawn by matplotlib with text as
paths. It loads nothing (no script, stylesheet, font or image URL), so it can be mailed and
opened offline. Every text from the data or the caller (title, run names, scenario values) is
HTML-escaped. Charts use :class:`matplotlib.figure.Figure` directly, never ``pyplot``, so nothing
is registered globally; each figure is cleared once written. The PDF holds the same charts, one
per page, after a page of headline figures.

Money is shown in yuan (``CURRENCY`` minor units / 100, formatted exactly from the integers);
ratios as percentages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from lendguard import html_report as page
from lendguard.money import exponent, format_minor
from lendguard.simulation import portfolio
from lendguard.simulation.portfolio import Run

CURRENCY = "CNY"
"""The simulated products lend in yuan; balances are fen."""

SECTION_TITLES = (
    "Headline figures",
    "Book size and balances",
    "Delinquency by bucket",
    "Past-due rates (1+, 30+, 90+)",
    "Write-offs",
    "Vintage curves",
    "Roll rates",
    "C-M1 flow",
    "First payment default (FPD30)",
    "Approvals",
    "Score distribution",
    "Scenario parameters",
)
"""The HTML report's sections, in order."""

COMPARISON_TITLES = (
    "Headline figures",
    "Book size",
    "30+ rate",
    "Write-off rate",
    "Approval rate",
)

HEADLINE_LABELS = {
    "balance_share_1_plus": ("1+ dpd share of balance", "at the last date"),
    "balance_share_30_plus": ("30+ dpd share of balance", "at the last date"),
    "balance_share_90_plus": ("90+ dpd share of balance", "at the last date"),
    "m1_to_m2_roll_mean": ("M1 -> M2 roll rate", "mean of monthly rolls"),
    "c_m1_flow_mean": ("C-M1 flow rate", "mean of monthly flows"),
    "write_off_rate_annualised": ("Write-off rate, annualised", "whole run"),
    "fpd30": ("FPD30", "30+ dpd within 90 days of opening"),
    "final_approval_rate": ("Final approval rate", "after review of referrals"),
    "accounts": ("Accounts", "seen in the run"),
    "open_accounts": ("Open accounts", "at the last date"),
    "open_balance_minor": ("Open balance (yuan)", "at the last date"),
}
"""Label and scope of each :func:`portfolio.headline` figure, in display order."""

_COUNT_KEYS = frozenset({"accounts", "open_accounts"})
_CAPTION_STYLE = "\n.caption { color: #555; font-size: .9em; margin-top: 0; }\n"
_COLORS = ("#2e86c1", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d")
_PDF_METADATA = {"Creator": None, "Producer": None, "CreationDate": None}
_PAGE_SIZE = (8.27, 11.69)
"""A4 portrait, inches: the headline page of the PDF."""


@dataclass(frozen=True, eq=False)
class _Metrics:
    """Every metric of one run, computed once and shared by the HTML, the PDF and the tables."""

    headline: dict[str, float]
    book: pd.DataFrame
    buckets: pd.DataFrame
    rates: pd.DataFrame
    write_offs: pd.DataFrame
    vintage: pd.DataFrame
    cohorts: pd.Series
    rolls: portfolio.RollRates
    flow: pd.DataFrame
    fpd: pd.DataFrame
    approvals: pd.DataFrame
    scores: pd.DataFrame
    unscored_applications: int


def _metrics(run: Run) -> _Metrics:
    return _Metrics(
        headline=portfolio.headline(run),
        book=portfolio.book_by_month(run),
        buckets=portfolio.delinquency_by_bucket(run),
        rates=portfolio.past_due_rates(run),
        write_offs=portfolio.write_offs_by_month(run),
        vintage=portfolio.vintage_curves(run),
        cohorts=portfolio.cohort_accounts(run),
        rolls=portfolio.roll_rates(run),
        flow=portfolio.c_m1_flow(run),
        fpd=portfolio.first_payment_default_by_cohort(run),
        approvals=portfolio.approval_by_month(run),
        scores=portfolio.score_distribution(run),
        unscored_applications=int(run.decisions["score"].isna().sum()),
    )


@dataclass(frozen=True)
class _Chart:
    """One chart: the section it belongs to, how it is drawn, and how its numbers are computed."""

    section: str
    name: str
    draw: Callable[[_Metrics], Figure | None]
    caption: str


# --- public -------------------------------------------------------------------------------------


CALIBRATION_TITLE = "Calibration against public figures"


def write_report(
    run: Run,
    out_path: Path,
    title: str,
    scenario: Mapping[str, Any],
    calibration: Sequence[Mapping[str, Any]] = (),
) -> Path:
    """Write the run's report as one self-contained HTML file at ``out_path`` and return it.

    ``calibration`` rows (``measure``, ``value``, ``low``, ``high``, ``inside``, ``source``), when
    given, add a section before the scenario parameters: is this book realistic?
    """
    metrics = _metrics(run)
    sections = [page.section(SECTION_TITLES[0], _headline_table(metrics.headline))]
    for section_title in SECTION_TITLES[1:-1]:
        charts = [chart for chart in _CHARTS if chart.section == section_title]
        body = "\n".join(_chart_html(chart, metrics) for chart in charts)
        body += "\n" + _SECTION_TABLES[section_title](metrics)
        sections.append(page.section(section_title, body))
    if calibration:
        sections.append(page.section(CALIBRATION_TITLE, _calibration_table(calibration)))
    sections.append(page.section(SECTION_TITLES[-1], _scenario_table(scenario)))
    return _write_html(out_path, title, sections)


def write_pdf(run: Run, pdf_path: Path, title: str) -> Path:
    """Write the headline figures and every chart of the report to a multi-page PDF.

    Page 1 is the title and the headline table; then one chart per page with its section title
    and its "how computed" line. Charts without data are left out.
    """
    metrics = _metrics(run)
    path = Path(pdf_path)
    with PdfPages(path, metadata=_PDF_METADATA) as pdf:
        headline_page = _headline_page(title, metrics.headline)
        pdf.savefig(headline_page)
        headline_page.clear()
        for chart in _CHARTS:
            figure = chart.draw(metrics)
            if figure is None:
                continue
            figure.suptitle(chart.section, fontweight="bold")
            figure.supxlabel(f"How computed: {chart.caption}", fontsize=7, wrap=True)
            pdf.savefig(figure)
            figure.clear()
    return path


def write_comparison(runs: Mapping[str, Run], out_path: Path, title: str) -> Path:
    """Write two or more runs side by side as one self-contained HTML file and return its path.

    The headline table has one column per run and, for every run after the first, its
    difference from the first (ratios in percentage points). Four charts overlay the runs: open
    balance, 30+ rate, annualised write-off rate and final approval rate by month.
    """
    if len(runs) < 2:
        raise ValueError(f"a comparison needs two or more runs, got {len(runs)}")
    metrics = {name: _metrics(run) for name, run in runs.items()}
    sections = [page.section(COMPARISON_TITLES[0], _comparison_table(metrics))]
    for section_title, (frame_of, column, scale, ylabel, caption) in zip(
        COMPARISON_TITLES[1:], _OVERLAYS, strict=True
    ):
        series = {name: _series(frame_of(m), column, scale) for name, m in metrics.items()}
        figure = _overlay_chart(series, ylabel, money=column.endswith("_minor"))
        chart = _render(figure, f"compare-{column}") if figure is not None else "<p>No data.</p>"
        sections.append(page.section(section_title, f"{chart}\n{_caption(caption)}"))
    return _write_html(out_path, title, sections)


# --- HTML ---------------------------------------------------------------------------------------


def _write_html(out_path: Path, title: str, sections: Sequence[str]) -> Path:
    document = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{page.text(title)}</title>\n<style>{page.STYLE}{_CAPTION_STYLE}</style>\n</head>\n"
        f"<body>\n<h1>{page.text(title)}</h1>\n{''.join(sections)}</body>\n</html>\n"
    )
    path = Path(out_path)
    path.write_text(document, encoding="utf-8")
    return path


def _chart_html(chart: _Chart, metrics: _Metrics) -> str:
    figure = chart.draw(metrics)
    drawn = _render(figure, chart.name) if figure is not None else "<p>No data.</p>"
    return f"{drawn}\n{_caption(chart.caption)}"


def _render(figure: Figure, name: str) -> str:
    """The figure as inline SVG; the figure is cleared so its artists are freed at once."""
    svg = page.svg(figure, name)
    figure.clear()
    return svg


def _caption(text: str) -> str:
    return f'<p class="caption">How computed: {page.text(text)}</p>'


def _headline_table(headline: Mapping[str, float]) -> str:
    rows = [
        {"figure": label, "value": _headline_value(key, headline[key]), "scope": scope}
        for key, (label, scope) in HEADLINE_LABELS.items()
    ]
    return page.table(rows)


def _comparison_table(metrics: Mapping[str, _Metrics]) -> str:
    names = list(metrics)
    base = names[0]
    rows = []
    for key, (label, _scope) in HEADLINE_LABELS.items():
        row: dict[str, Any] = {"figure": label}
        for name in names:
            row[name] = _headline_value(key, metrics[name].headline[key])
        for name in names[1:]:
            delta = metrics[name].headline[key] - metrics[base].headline[key]
            row[f"{name} − {base}"] = _headline_delta(key, delta)
        rows.append(row)
    return page.table(rows)


def _headline_value(key: str, value: float) -> str:
    if np.isnan(value):
        return "—"
    if key in _COUNT_KEYS:
        return f"{int(value):,}"
    if key.endswith("_minor"):
        return _yuan(int(value))
    return _percent(value)


def _headline_delta(key: str, delta: float) -> str:
    if np.isnan(delta):
        return "—"
    if key in _COUNT_KEYS:
        return f"{int(delta):+,}"
    if key.endswith("_minor"):
        return ("+" if delta >= 0 else "") + _yuan(int(delta))
    return f"{delta * 100:+.2f} pp"


def _yuan(amount_minor: int) -> str:
    """Minor units as yuan with thousands separators, exact (no float on the way)."""
    return f"{Decimal(format_minor(amount_minor, CURRENCY)):,}"


def _percent(value: float) -> str:
    return "—" if np.isnan(value) else f"{value * 100:.2f}%"


def _calibration_table(checks: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        {
            "measure": row["measure"],
            "value": _percent(row["value"]),
            "target": f"{_percent(row['low'])} to {_percent(row['high'])}",
            "": "inside" if row["inside"] else "OUTSIDE",
            "source": row["source"],
        }
        for row in checks
    ]
    return page.table(rows)


def _scenario_table(scenario: Mapping[str, Any]) -> str:
    """One row per parameter; nested mappings flattened to dotted names, lists as JSON."""
    rows = [{"parameter": name, "value": value} for name, value in _flatten(scenario)]
    return page.table(rows) if rows else "<p>No parameters given.</p>"


def _flatten(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(_flatten(value, f"{name}."))
        elif isinstance(value, str):
            rows.append((name, value))
        else:
            rows.append((name, json.dumps(value, default=str, ensure_ascii=False)))
    return rows


# --- tables under the charts --------------------------------------------------------------------


def _month_rows(
    frame: pd.DataFrame, formats: Mapping[str, Callable[[Any], Any]]
) -> list[dict[str, Any]]:
    return [
        {"month": month, **{label: fmt(row) for label, fmt in formats.items()}}
        for month, row in frame.iterrows()
    ]


def _book_table(metrics: _Metrics) -> str:
    formats: dict[str, Callable[[Any], Any]] = {
        "open accounts": lambda row: int(row["open_accounts"]),
        "opened in month": lambda row: int(row["opened_accounts"]),
    }
    for column in portfolio.BALANCE_COLUMNS:
        label = column.removesuffix("_minor").replace("_", " ") + " (yuan)"
        formats[label] = lambda row, column=column: _yuan(int(row[column]))
    return page.table(_month_rows(metrics.book, formats))


def _bucket_table(metrics: _Metrics) -> str:
    buckets = metrics.buckets
    if buckets.empty:
        return ""
    shares = buckets.pivot(index="month", columns="bucket", values="balance_share")
    counts = buckets.pivot(index="month", columns="bucket", values="accounts")
    order = portfolio.bucket_order(list(shares.columns))
    rows = [
        {
            "month": month,
            **{f"{b} share": _percent(shares.loc[month, b]) for b in order},
            **{f"{b} accounts": int(counts.loc[month, b]) for b in order},
        }
        for month in shares.index
    ]
    return page.table(rows)


def _rates_table(metrics: _Metrics) -> str:
    formats: dict[str, Callable[[Any], Any]] = {
        "open balance (yuan)": lambda row: _yuan(int(row["open_balance_minor"]))
    }
    for days in portfolio.PAST_DUE_THRESHOLDS_DAYS:
        formats[f"{days}+ (yuan)"] = lambda row, d=days: _yuan(int(row[f"past_due_{d}_minor"]))
        formats[f"{days}+ rate"] = lambda row, d=days: _percent(row[f"rate_{d}_plus"])
    return page.table(_month_rows(metrics.rates, formats))


def _write_off_table(metrics: _Metrics) -> str:
    formats: dict[str, Callable[[Any], Any]] = {
        "accounts written off": lambda row: int(row["written_off_accounts"]),
        "written off (yuan)": lambda row: _yuan(int(row["written_off_minor"])),
        "open balance (yuan)": lambda row: _yuan(int(row["open_balance_minor"])),
        "days": lambda row: int(row["days_covered"]),
        "annualised rate": lambda row: _percent(row["write_off_rate_annualised"]),
    }
    whole = _percent(metrics.headline["write_off_rate_annualised"])
    return f"<p>Whole run, annualised: <b>{page.text(whole)}</b></p>\n" + page.table(
        _month_rows(metrics.write_offs, formats)
    )


def _vintage_table(metrics: _Metrics) -> str:
    rows = [
        {
            "cohort": cohort,
            "accounts": int(metrics.cohorts.get(cohort, 0)),
            **{f"MOB {mob}": _percent(curve[mob]) for mob in metrics.vintage.columns},
        }
        for cohort, curve in metrics.vintage.iterrows()
    ]
    return page.table(rows)


def _matrix_rows(matrix: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {"from": source, **{str(target): _percent(row[target]) for target in matrix.columns}}
        for source, row in matrix.iterrows()
    ]


def _roll_tables(metrics: _Metrics) -> str:
    by_month = metrics.rolls.by_month
    formats: dict[str, Callable[[Any], Any]] = {
        "from month": lambda row: row["from_month"],
        "M1 balance at start (yuan)": lambda row: _yuan(int(row["m1_balance_minor"])),
        "of it in M2 (yuan)": lambda row: _yuan(int(row["m1_to_m2_minor"])),
        "M1 -> M2 roll": lambda row: _percent(row["m1_to_m2_roll"]),
    }
    return (
        "<h3>Share of balance</h3>\n"
        + page.table(_matrix_rows(metrics.rolls.balance))
        + "\n<h3>Share of accounts</h3>\n"
        + page.table(_matrix_rows(metrics.rolls.count))
        + "\n<h3>M1 -> M2 by month</h3>\n"
        + page.table(_month_rows(by_month, formats))
    )


def _flow_table(metrics: _Metrics) -> str:
    formats: dict[str, Callable[[Any], Any]] = {
        "from month": lambda row: row["from_month"],
        "M0 at start (yuan)": lambda row: _yuan(int(row["m0_balance_minor"])),
        "M1 at end (yuan)": lambda row: _yuan(int(row["m1_balance_minor"])),
        "flow rate": lambda row: _percent(row["flow_rate"]),
    }
    return page.table(_month_rows(metrics.flow, formats))


def _fpd_table(metrics: _Metrics) -> str:
    rows = [
        {
            "cohort": cohort,
            "eligible accounts": int(row["eligible_accounts"]),
            "30+ within 90 days": int(row["defaulted_accounts"]),
            "FPD30": _percent(row["fpd30"]),
        }
        for cohort, row in metrics.fpd.iterrows()
    ]
    whole = _percent(metrics.headline["fpd30"])
    return f"<p>Whole run: <b>{page.text(whole)}</b></p>\n" + page.table(rows)


def _approval_table(metrics: _Metrics) -> str:
    formats: dict[str, Callable[[Any], Any]] = {
        "applications": lambda row: int(row["applications"]),
        **{
            f"{decision} (automated)": lambda row, d=decision: _percent(row[f"{d}_share"])
            for decision in portfolio.DECISIONS
        },
        "approved (final)": lambda row: int(row["approved"]),
        "final approval rate": lambda row: _percent(row["final_approval_rate"]),
    }
    return page.table(_month_rows(metrics.approvals, formats))


def _score_table(metrics: _Metrics) -> str:
    note = f"<p>Applications without a score: {metrics.unscored_applications}</p>"
    rows = [
        {
            "score from": float(row["bin_low"]),
            "score to": float(row["bin_high"]),
            "approved": int(row["approved"]),
            "declined": int(row["declined"]),
        }
        for _, row in metrics.scores.iterrows()
    ]
    return f"{note}\n{page.table(rows)}"


_SECTION_TABLES: dict[str, Callable[[_Metrics], str]] = {
    "Book size and balances": _book_table,
    "Delinquency by bucket": _bucket_table,
    "Past-due rates (1+, 30+, 90+)": _rates_table,
    "Write-offs": _write_off_table,
    "Vintage curves": _vintage_table,
    "Roll rates": _roll_tables,
    "C-M1 flow": _flow_table,
    "First payment default (FPD30)": _fpd_table,
    "Approvals": _approval_table,
    "Score distribution": _score_table,
}


# --- charts -------------------------------------------------------------------------------------


def _figure() -> tuple[Figure, Any]:
    figure = Figure(figsize=(7.2, 3.8), layout="constrained")
    return figure, figure.add_subplot()


def _month_axis(axes: Any, months: Sequence[str]) -> np.ndarray:
    positions = np.arange(len(months))
    step = max(1, len(months) // 12)
    axes.set_xticks(positions[::step], [str(m) for m in months][::step], rotation=45)
    return positions


def _grouped() -> StrMethodFormatter:
    """Yuan on an axis as whole numbers with thousands separators, not with a ``1e9`` offset."""
    return StrMethodFormatter("{x:,.0f}")


def _scale(currency: str = CURRENCY) -> int:
    return 10 ** exponent(currency)


def _book_chart(metrics: _Metrics) -> Figure | None:
    book = metrics.book
    if book.empty:
        return None
    figure, axes = _figure()
    positions = _month_axis(axes, book.index)
    bottom = np.zeros(len(book))
    for color, column in zip(_COLORS, portfolio.COMPONENT_COLUMNS, strict=False):
        values = book[column].to_numpy(dtype="float64") / _scale()
        axes.bar(positions, values, bottom=bottom, color=color, label=column.removesuffix("_minor"))
        bottom += values
    axes.set_ylabel("open balance (yuan)")
    axes.yaxis.set_major_formatter(_grouped())
    axes.legend(loc="upper left", fontsize=7)
    accounts_axes = axes.twinx()
    accounts_axes.plot(positions, book["open_accounts"], color="#222", marker="o", label="accounts")
    accounts_axes.set_ylabel("open accounts")
    return figure


def _bucket_chart(metrics: _Metrics) -> Figure | None:
    buckets = metrics.buckets
    if buckets.empty:
        return None
    shares = buckets.pivot(index="month", columns="bucket", values="balance_share").fillna(0.0)
    late = [b for b in portfolio.bucket_order(list(shares.columns)) if b != "M0"]
    figure, axes = _figure()
    positions = _month_axis(axes, shares.index)
    bottom = np.zeros(len(shares))
    colors = _gradient(len(late))
    for color, bucket in zip(colors, late, strict=True):
        values = shares[bucket].to_numpy() * 100
        axes.bar(positions, values, bottom=bottom, color=color, label=_plain(bucket))
        bottom += values
    axes.set_ylabel("share of open balance (%)")
    if late:
        axes.legend(loc="upper left", fontsize=7, ncols=min(len(late), 4))
    return figure


def _gradient(count: int) -> list[Any]:
    """Light to dark reds, one per delinquent bucket: later buckets are darker."""
    return [colormaps["Reds"](0.35 + 0.6 * i / max(count - 1, 1)) for i in range(count)]


def _rates_chart(metrics: _Metrics) -> Figure | None:
    rates = metrics.rates
    if rates.empty:
        return None
    figure, axes = _figure()
    positions = _month_axis(axes, rates.index)
    for color, days in zip(_COLORS, portfolio.PAST_DUE_THRESHOLDS_DAYS, strict=False):
        values = rates[f"rate_{days}_plus"] * 100
        axes.plot(positions, values, marker="o", color=color, label=f"{days}+ dpd")
    axes.set_ylabel("share of open balance (%)")
    axes.legend(fontsize=8)
    return figure


def _write_off_chart(metrics: _Metrics) -> Figure | None:
    frame = metrics.write_offs
    if frame.empty:
        return None
    figure, axes = _figure()
    positions = _month_axis(axes, frame.index)
    axes.bar(positions, frame["written_off_minor"] / _scale(), color="#c0392b", alpha=0.6)
    axes.set_ylabel("written off in month (yuan)")
    axes.yaxis.set_major_formatter(_grouped())
    rate_axes = axes.twinx()
    rate_axes.plot(positions, frame["write_off_rate_annualised"] * 100, color="#222", marker="o")
    rate_axes.set_ylabel("annualised rate (%)")
    return figure


def _vintage_chart(metrics: _Metrics) -> Figure | None:
    vintage = metrics.vintage
    if vintage.empty or vintage.shape[1] == 0 or vintage.isna().all().all():
        return None
    figure, axes = _figure()
    for index, (cohort, curve) in enumerate(vintage.iterrows()):
        present = curve.dropna()
        if present.empty:
            continue
        axes.plot(
            present.index.to_numpy(dtype=int),
            present.to_numpy() * 100,
            marker="o",
            color=_COLORS[index % len(_COLORS)],
            label=_plain(cohort),
        )
    axes.set_xlabel("months on book")
    axes.set_ylabel("ever 30+ dpd (% of accounts)")
    axes.legend(fontsize=7, ncols=3)
    return figure


def _roll_heatmap(metrics: _Metrics) -> Figure | None:
    matrix = metrics.rolls.balance
    if matrix.empty or matrix.isna().all().all():
        return None
    values = matrix.to_numpy(dtype="float64")
    figure = Figure(figsize=(7.2, 0.9 + 0.45 * len(matrix)), layout="constrained")
    axes = figure.add_subplot()
    axes.imshow(np.ma.masked_invalid(values), cmap="Reds", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(matrix.shape[1]), [_plain(c) for c in matrix.columns], rotation=30)
    axes.set_yticks(range(matrix.shape[0]), [_plain(r) for r in matrix.index])
    for (row, column), value in np.ndenumerate(values):
        if not np.isnan(value):
            color = "white" if value > 0.6 else "black"
            axes.text(column, row, f"{value:.0%}", ha="center", va="center", fontsize=7, c=color)
    axes.set_xlabel("state at the next month end")
    axes.set_ylabel("bucket at month end")
    return figure


def _m1_roll_chart(metrics: _Metrics) -> Figure | None:
    return _monthly_line(metrics.rolls.by_month, "m1_to_m2_roll", "M1 -> M2 roll (%)")


def _flow_chart(metrics: _Metrics) -> Figure | None:
    return _monthly_line(metrics.flow, "flow_rate", "C-M1 flow rate (%)")


def _monthly_line(frame: pd.DataFrame, column: str, ylabel: str) -> Figure | None:
    if frame.empty or frame[column].isna().all():
        return None
    figure, axes = _figure()
    positions = _month_axis(axes, frame.index)
    axes.plot(positions, frame[column] * 100, marker="o", color=_COLORS[1])
    axes.set_ylabel(ylabel)
    return figure


def _fpd_chart(metrics: _Metrics) -> Figure | None:
    fpd = metrics.fpd
    if fpd.empty:
        return None
    figure, axes = _figure()
    positions = _month_axis(axes, fpd.index)
    axes.bar(positions, fpd["fpd30"].fillna(0.0) * 100, color=_COLORS[1])
    axes.set_xlabel("opening month")
    axes.set_ylabel("FPD30 (% of eligible accounts)")
    return figure


def _approval_chart(metrics: _Metrics) -> Figure | None:
    approvals = metrics.approvals
    if approvals.empty:
        return None
    figure, axes = _figure()
    positions = _month_axis(axes, approvals.index)
    bottom = np.zeros(len(approvals))
    colors = {"approve": "#27ae60", "refer": "#f1c40f", "decline": "#c0392b"}
    for decision in portfolio.DECISIONS:
        values = approvals[f"{decision}_share"].fillna(0.0).to_numpy() * 100
        label = f"{decision} (automated)"
        axes.bar(positions, values, bottom=bottom, color=colors[decision], alpha=0.7, label=label)
        bottom += values
    final_rate = approvals["final_approval_rate"] * 100
    axes.plot(positions, final_rate, color="#222", marker="o", label="approved (final)")
    axes.set_ylabel("share of applications (%)")
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure


def _score_chart(metrics: _Metrics) -> Figure | None:
    scores = metrics.scores
    if scores.empty:
        return None
    figure, axes = _figure()
    edges = np.append(scores["bin_low"].to_numpy(), scores["bin_high"].to_numpy()[-1])
    for final, color in ((portfolio.APPROVED, _COLORS[0]), (portfolio.DECLINED, _COLORS[1])):
        counts = scores[final].to_numpy()
        axes.stairs(counts, edges, fill=True, alpha=0.5, color=color, label=final)
    axes.set_xlabel("application score")
    axes.set_ylabel("applications")
    axes.legend(fontsize=8)
    return figure


def _plain(text: Any) -> str:
    """Text fit for a chart label: ``$`` escaped so matplotlib does not read it as mathtext."""
    return str(text).replace("$", r"\$")


_CHARTS = (
    _Chart(
        "Book size and balances",
        "book",
        _book_chart,
        "bars: sum of each balance component over accounts with status open at each month end "
        "(last business date present in the month); line: number of open accounts.",
    ),
    _Chart(
        "Delinquency by bucket",
        "buckets",
        _bucket_chart,
        "balance of open accounts in each delinquent bucket (M1 and later) / total open balance, "
        "at each month end; M0 is the remainder up to 100%.",
    ),
    _Chart(
        "Past-due rates (1+, 30+, 90+)",
        "rates",
        _rates_chart,
        "whole balance of open accounts with past_due_days >= 1, 30, 90 / total open balance, "
        "at each month end.",
    ),
    _Chart(
        "Write-offs",
        "write-offs",
        _write_off_chart,
        "bars: balance on the last snapshot before an account's status first becomes "
        "written_off, summed by month; line: that / open balance at the month end * 365 / days "
        "in the month.",
    ),
    _Chart(
        "Vintage curves",
        "vintage",
        _vintage_chart,
        "per opening month: accounts ever 30+ days past due by the month end k months after "
        "opening / accounts opened; fully observed months only.",
    ),
    _Chart(
        "Roll rates",
        "roll-heatmap",
        _roll_heatmap,
        "for accounts open at a month end: balance moving from each bucket to each state at the "
        "next month end / balance in the bucket, pooled over all pairs of consecutive month ends.",
    ),
    _Chart(
        "Roll rates",
        "roll-m1",
        _m1_roll_chart,
        "balance in M1 at month end t that is in M2 at t+1 / balance in M1 at t.",
    ),
    _Chart(
        "C-M1 flow",
        "flow",
        _flow_chart,
        "balance of open accounts in M1 at month end t+1 / balance of open accounts in M0 at t.",
    ),
    _Chart(
        "First payment default (FPD30)",
        "fpd",
        _fpd_chart,
        "accounts 30+ days past due within 90 days of opening / accounts observed at least 90 "
        "days after opening, by opening month (the feed has no first due date).",
    ),
    _Chart(
        "Approvals",
        "approvals",
        _approval_chart,
        "bars: automated approve / refer / decline counts / applications, by month applied; "
        "line: final approvals (after review of referrals) / applications.",
    ),
    _Chart(
        "Score distribution",
        "scores",
        _score_chart,
        f"applications per score bin ({portfolio.score_bins_count} equal-width bins over all "
        "scores), by final decision; unscored applications are not drawn.",
    ),
)


def _headline_page(title: str, headline: Mapping[str, float]) -> Figure:
    figure = Figure(figsize=_PAGE_SIZE)
    figure.text(0.5, 0.95, _plain(title), ha="center", va="top", fontsize=16, weight="bold")
    axes = figure.add_axes((0.08, 0.35, 0.84, 0.5))
    axes.axis("off")
    cells = [
        [label, _headline_value(key, headline[key]), scope]
        for key, (label, scope) in HEADLINE_LABELS.items()
    ]
    table = axes.table(
        cellText=[[_plain(cell) for cell in row] for row in cells],
        colLabels=["figure", "value", "scope"],
        colWidths=[0.36, 0.22, 0.42],
        loc="upper center",
        cellLoc="left",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1.0, 1.6)
    return figure


# --- comparison ---------------------------------------------------------------------------------


_OVERLAYS: tuple[tuple[Callable[[_Metrics], pd.DataFrame], str, float, str, str], ...] = (
    (
        lambda m: m.book,
        "total_minor",
        1.0 / _scale(),
        "open balance (yuan)",
        "sum of total_minor of open accounts at each month end.",
    ),
    (
        lambda m: m.rates,
        "rate_30_plus",
        100.0,
        "30+ dpd share of open balance (%)",
        "balance of open accounts 30+ days past due / open balance, at each month end.",
    ),
    (
        lambda m: m.write_offs,
        "write_off_rate_annualised",
        100.0,
        "annualised write-off rate (%)",
        "written off in the month / open balance at the month end * 365 / days in the month.",
    ),
    (
        lambda m: m.approvals,
        "final_approval_rate",
        100.0,
        "final approval rate (%)",
        "final approvals / applications, by month applied.",
    ),
)


def _series(frame: pd.DataFrame, column: str, scale: float) -> pd.Series:
    """A monthly column as a series on a date axis (the first of each month)."""
    values = frame[column].astype("float64") * scale
    values.index = pd.PeriodIndex(frame.index, freq="M").to_timestamp()
    return values


def _overlay_chart(series: Mapping[str, pd.Series], ylabel: str, *, money: bool) -> Figure | None:
    if all(values.dropna().empty for values in series.values()):
        return None
    figure, axes = _figure()
    for index, (name, values) in enumerate(series.items()):
        axes.plot(
            values.index,
            values.to_numpy(),
            marker="o",
            color=_COLORS[index % len(_COLORS)],
            label=_plain(name),
        )
    axes.set_ylabel(ylabel)
    if money:
        axes.yaxis.set_major_formatter(_grouped())
    axes.tick_params(axis="x", labelrotation=45)
    axes.legend(fontsize=8)
    return figure
