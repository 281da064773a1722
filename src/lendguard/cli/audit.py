"""``lendguard audit verify``: check the audit log's hash chain, record by record.

Exit 0 with ``audit log intact: N records`` and the head to keep as an anchor; exit 1 naming the
first bad record; exit 2 for bad input (a database without an audit log, a malformed anchor).
It only reads: pointing it at a wrong path must not create an empty, "intact" database there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine, inspect, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from lendguard.cli.errors import bad_input_exits, fail
from lendguard.service.audit import AuditAnchor, AuditLog
from lendguard.store import create_engine_for, default_url

EXIT_TAMPERED = 1

audit_app = typer.Typer(help="The tamper-evident audit log of the service.", no_args_is_help=True)


@audit_app.callback()
def _audit() -> None:
    """The tamper-evident audit log of the service."""


@audit_app.command("verify")
def verify_command(
    db: Annotated[
        str | None, typer.Option("--db", help="Database URL (default: $LENDGUARD_DB).")
    ] = None,
    anchor: Annotated[
        str | None,
        typer.Option(help="SEQUENCE:SHA256 of a head printed earlier: also catches truncation."),
    ] = None,
) -> None:
    """Recompute every record's hash and link; name the first record that fails."""
    url = db or default_url()
    with bad_input_exits():
        expected = None if anchor is None else AuditAnchor.parse(anchor)
        engine = _existing_database(url)
    try:
        if not inspect(engine).has_table("audit_log"):
            fail(
                f"no audit log in {_shown(url)}: run the service (or migrate) first", "no_audit_log"
            )
        result = AuditLog(engine).verify(expected)
    except OperationalError as exc:
        fail(f"cannot read {_shown(url)}: {exc.orig or exc}", "database_unavailable")
    finally:
        engine.dispose()
    if not result.ok:
        print(f"audit log broken at record {result.first_bad_sequence}: {result.problem}")
        print(f"records intact before it: {result.records}")
        raise typer.Exit(EXIT_TAMPERED)
    print(f"audit log intact: {result.records} records")
    print(f"head: {result.head_sequence}:{result.head_hash}")


def _existing_database(url: str) -> Engine:
    """An engine on ``url``; a SQLite path that does not exist is refused, not created."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        fail(f"not a database URL: {_shown(url)}", "bad_database_url")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or not Path(database).is_file():
            fail(f"no SQLite database at {database or '(memory)'}", "no_audit_log")
    return create_engine_for(url)


def _shown(url: str) -> str:
    """The URL with any password hidden, fit for a terminal."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"
