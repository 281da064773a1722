"""The pieces every self-contained HTML report shares: the style sheet, sections, tables, escaped
text and inline SVG charts (the scoring report and the simulator's risk report).

A report loads nothing (no script, stylesheet, font or image URL): CSS is inline, every chart is an
SVG drawn by matplotlib with text as paths, and every piece of text from the data is HTML-escaped.
SVG options are set inside ``matplotlib.rc_context`` and ids are salted per chart, so rendering
changes no caller setting and the same data gives the same bytes. Callers import the module
(``from lendguard import html_report as page``): its short names would shadow locals.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

SVG_SETTINGS = {"svg.fonttype": "path", "svg.image_inline": True}
SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}

STYLE = """
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


def section(title: str, body: str) -> str:
    return f"<section>\n<h2>{text(title)}</h2>\n{body}\n</section>\n"


def table(rows: Sequence[Mapping[str, Any]], status_column: str | None = None) -> str:
    """An HTML table whose columns are the rows' keys in order of first appearance."""
    if not rows:
        return "<p>No rows.</p>"
    columns = list(dict.fromkeys(key for row in rows for key in row))
    head = "".join(f"<th>{text(column)}</th>" for column in columns)
    body = []
    for row in rows:
        row_class = status_class(row.get(status_column)) if status_column else ""
        cells = "".join(_cell(row.get(column)) for column in columns)
        body.append(f'<tr class="{row_class}">{cells}</tr>' if row_class else f"<tr>{cells}</tr>")
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(body) + "\n</table>"


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        shown = "—" if value is None else str(value)
        return f'<td class="text">{text(shown)}</td>'
    if isinstance(value, int | np.integer):
        return f"<td>{int(value)}</td>"
    if isinstance(value, float | np.floating):
        if np.isnan(value):  # e.g. the bad rate of a bin no training row fell in
            return '<td class="text">—</td>'
        return f"<td>{format_number(float(value))}</td>"
    return f'<td class="text">{text(str(value))}</td>'


def format_number(value: float) -> str:
    """How a report shows a float: four decimals, or four significant digits when tiny or huge."""
    if value == 0 or 1e-3 <= abs(value) < 1e9:
        return f"{value:.4f}"
    return f"{value:.4g}"


def status_class(status: Any) -> str:
    """A CSS class only for the known statuses, so data never reaches an attribute unchecked."""
    return f"status-{status}" if status in ("stable", "watch", "shift") else ""


def text(value: Any) -> str:
    return html.escape(str(value), quote=True)


def svg(figure: Figure, name: str) -> str:
    """The figure as an inline ``<svg>`` element, without the XML prolog and DOCTYPE URL."""
    buffer = io.StringIO()
    with matplotlib.rc_context({**SVG_SETTINGS, "svg.hashsalt": f"lendguard-{name}"}):
        figure.savefig(buffer, format="svg", metadata=SVG_METADATA)
    drawn = buffer.getvalue()
    return drawn[drawn.index("<svg") :]
