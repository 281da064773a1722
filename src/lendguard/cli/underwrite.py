"""``lendguard underwrite`` and ``lendguard review``: decide applications and review referrals.

``underwrite --application FILE.json`` decides one application, stores the decision with its audit
record, and prints it (``--json`` for one JSON object). ``underwrite --batch FILE.csv|parquet
--out DECISIONS.parquet`` decides a whole file in the flat batch layout and writes decisions with
their inputs to Parquet; malformed rows are listed and skipped, never half-decided. ``review``
lists the human-review queue, records a reviewer's decision, and records an applicant's contest.
The business date is ``--date`` (default: the application's own date), never the clock.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lendguard.cli.account import read_date
from lendguard.cli.errors import bad_input_exits, fail
from lendguard.store import default_url, open_store

review_app = typer.Typer(help="The human-review queue of referred and contested applications.")


def _desk(db: str | None) -> Any:
    from lendguard.store.underwriting import DecisionStore  # noqa: PLC0415
    from lendguard.underwriting.desk import UnderwritingDesk  # noqa: PLC0415
    from lendguard.underwriting.standard import standard_underwriter  # noqa: PLC0415

    store = open_store(db or default_url())
    return UnderwritingDesk(DecisionStore(store.engine), standard_underwriter())


def _business_date(text: str | None, fallback: dt.date) -> dt.date:
    return fallback if text is None else read_date(text)


def underwrite_command(
    application: Annotated[
        Path | None, typer.Option(help="One application as JSON (see examples/applications).")
    ] = None,
    batch: Annotated[
        Path | None, typer.Option(help="Many applications, .csv or .parquet (flat layout).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Decisions Parquet file to write (--batch).")
    ] = None,
    date: Annotated[
        str | None, typer.Option(help="Business date received, YYYY-MM-DD (default: applied_on).")
    ] = None,
    db: Annotated[str | None, typer.Option(help="Database URL (default: $LENDGUARD_DB).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Decide an application (approve, decline or refer) with limit, price and reasons."""
    if (application is None) == (batch is None):
        fail("give exactly one of --application FILE.json or --batch FILE")
    if application is not None:
        _underwrite_one(application, date, db, as_json)
        return
    assert batch is not None
    if out is None or out.suffix.lower() != ".parquet":
        fail("--batch needs --out DECISIONS.parquet")
    _underwrite_batch(batch, out, as_json)


def _underwrite_one(path: Path, date: str | None, db: str | None, as_json: bool) -> None:
    try:
        body = path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}", "invalid_application")
    with bad_input_exits():
        desk = _desk(db)
        received_on = _business_date(date, _applied_on(body) or dt.date(1970, 1, 1))
        decision = desk.submit(body, received_on)
    if as_json:
        print(json.dumps(decision, ensure_ascii=False))
        return
    _print_decision(decision)


def _applied_on(body: bytes) -> dt.date | None:
    """The application's own date, read loosely: full validation happens in ``submit``."""
    try:
        return dt.date.fromisoformat(json.loads(body)["applied_on"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def _underwrite_batch(path: Path, out: Path, as_json: bool) -> None:
    from lendguard.underwriting.batch import decide_file  # noqa: PLC0415
    from lendguard.underwriting.standard import standard_underwriter  # noqa: PLC0415

    with bad_input_exits():
        summary = decide_file(path, out, standard_underwriter())
    if as_json:
        print(json.dumps(summary))
        return
    table = Table(title=f"Decisions written to {out}")
    table.add_column("field")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
    Console().print(table)


def _print_decision(decision: dict[str, Any]) -> None:
    table = Table(title=f"Application {decision['application_id']}: {decision['decision']}")
    table.add_column("field")
    table.add_column("value")
    for key in ("decision", "limit", "daily_rate", "apr", "grade", "score", "route"):
        table.add_row(key, str(decision[key]))
    for reason in decision["reasons"]:
        table.add_row(reason["code"], f"{reason['zh']} / {reason['en']}")
    Console().print(table)


@review_app.command("list")
def review_list_command(
    db: Annotated[str | None, typer.Option(help="Database URL (default: $LENDGUARD_DB).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Items per page.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Items to skip.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Open review items, oldest first."""
    with bad_input_exits():
        items = _desk(db).store.review_queue(limit, offset)
    if as_json:
        for item in items:
            print(json.dumps({**item.__dict__, "opened_on": item.opened_on.isoformat()}))
        return
    table = Table(title="Review queue")
    for column in ("application", "reason", "opened on", "note"):
        table.add_column(column)
    for item in items:
        table.add_row(item.application_id, item.reason, item.opened_on.isoformat(), item.note)
    Console().print(table)


@review_app.command("decide")
def review_decide_command(
    application_id: Annotated[str, typer.Argument(help="The application to decide.")],
    outcome: Annotated[str, typer.Option(help="approve or decline.")],
    reviewer: Annotated[str, typer.Option(help="The reviewer's id.")],
    reason: Annotated[str, typer.Option(help="Why: kept in the audit record.")],
    date: Annotated[str, typer.Option(help="Business date, YYYY-MM-DD.")],
    limit: Annotated[
        str | None, typer.Option(help="Limit granted, e.g. 8000.00 (default: the proposed one).")
    ] = None,
    db: Annotated[str | None, typer.Option(help="Database URL (default: $LENDGUARD_DB).")] = None,
) -> None:
    """A reviewer approves or declines a referred or contested application."""
    from lendguard.money import parse_minor  # noqa: PLC0415

    with bad_input_exits():
        limit_minor = None if limit is None else parse_minor(limit, "CNY")
        decided = _desk(db).review(
            application_id,
            reviewer,
            outcome,
            reason,
            _business_date(date, dt.date.min),
            limit_minor,
        )
    print(json.dumps(decided, ensure_ascii=False))


@review_app.command("contest")
def review_contest_command(
    application_id: Annotated[str, typer.Argument(help="The application contested.")],
    statement: Annotated[str, typer.Option(help="The applicant's statement.")],
    date: Annotated[str, typer.Option(help="Business date, YYYY-MM-DD.")],
    db: Annotated[str | None, typer.Option(help="Database URL (default: $LENDGUARD_DB).")] = None,
) -> None:
    """An applicant contests an automated decision: it goes to human review (PIPL Art. 24)."""
    with bad_input_exits():
        item = _desk(db).contest(application_id, statement, _business_date(date, dt.date.min))
    print(f"application {item.application_id} queued for human review ({item.reason})")
