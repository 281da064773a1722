"""Entry point of the ``lendguard`` command: registers the sub-commands of each domain."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="lendguard",
    help="LendGuard: servicing ledger, delinquency and risk tools for a consumer-credit book.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

from lendguard.cli.schedule import schedule_command  # noqa: E402

app.command("schedule")(schedule_command)
from lendguard.cli.account import account_app  # noqa: E402

app.add_typer(account_app, name="account")
from lendguard.cli.demo import demo_command, simulate_command  # noqa: E402

app.command("demo")(demo_command)
app.command("simulate")(simulate_command)
from lendguard.cli.eod import eod_command  # noqa: E402

app.command("eod")(eod_command)
from lendguard.cli.model import model_app  # noqa: E402

app.add_typer(model_app, name="model")
from lendguard.cli.underwrite import review_app, underwrite_command  # noqa: E402

app.command("underwrite")(underwrite_command)
app.add_typer(review_app, name="review")
from lendguard.cli.audit import audit_app  # noqa: E402

app.add_typer(audit_app, name="audit")
from lendguard.cli.serve import serve_command  # noqa: E402

app.command("serve")(serve_command)
