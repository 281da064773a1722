"""``lendguard serve``: run the REST service (FastAPI on uvicorn) over SQLite or PostgreSQL.

It listens on loopback unless told otherwise: the service moves money and holds personal data,
so exposing it is a decision (``--allow-remote``, behind TLS and a proxy), never a default.
Settings come from the environment (``LENDGUARD_DB``, ``LENDGUARD_PII_KEYS``,
``LENDGUARD_ADMIN_KEY``); a weak or missing secret stops it before it listens.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

from lendguard.cli.errors import bad_input_exits, fail

PORT_MAX = 65_535


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=PORT_MAX, help="TCP port.")] = 8000,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL (default: $LENDGUARD_DB, else sqlite)."),
    ] = None,
    allow_remote: Annotated[
        bool,
        typer.Option("--allow-remote", help="Listen on a non-loopback interface (put TLS first)."),
    ] = False,
) -> None:
    """Serve the REST API; OpenAPI documentation at /docs."""
    if not (allow_remote or is_loopback(host)):
        fail(
            f"refusing to listen on {host}: not a loopback address; pass --allow-remote to "
            "expose the service (behind TLS)",
            "remote_host",
        )
    # Imported here: the web stack is not needed by any other command.
    import uvicorn  # noqa: PLC0415

    from lendguard.service.app import create_app  # noqa: PLC0415
    from lendguard.service.settings import load_settings  # noqa: PLC0415

    with bad_input_exits():
        app = create_app(load_settings(db_url=db))
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
