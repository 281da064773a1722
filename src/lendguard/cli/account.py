"""``lendguard account``: serve one account through the ledger from the shell.

Every command opens the store named by ``--db`` (default: ``$LENDGUARD_DB``, else the SQLite file
``lendguard.sqlite`` here), so a session is a series of commands over one database. Amounts are
decimal strings in the account's currency and dates are ``YYYY-MM-DD``: the business date is
always typed, never read from the clock. Each state-changing request carries the caller's
``--request-id``; repeating it replays the first answer, so a retried command never posts twice.
Product registration and close of business take no request id: saving the same product text or
closing the same days again changes nothing.

Each view builds one JSON-ready dict; ``--json`` prints it, text mode draws rich tables from it,
so the two can never disagree.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lendguard import limits
from lendguard.cli.errors import bad_input_exits, database_errors, fail
from lendguard.delinquency.classification import FiveCategory
from lendguard.ledger.book import Book, Posted
from lendguard.ledger.state import AccountState, Plan
from lendguard.money import format_minor, parse_minor
from lendguard.products.model import Component
from lendguard.store import JournalLine, Store, default_url, open_store

account_app = typer.Typer(
    help="Open and service accounts: post requests, close business days, inspect the ledger.",
    no_args_is_help=True,
)
product_app = typer.Typer(help="Register and list product versions.", no_args_is_help=True)
account_app.add_typer(product_app, name="product")

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database URL (default: $LENDGUARD_DB, else sqlite lendguard.sqlite)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
AccountOption = Annotated[str, typer.Option("--account", help="Account id.")]
AccountArgument = Annotated[str, typer.Argument(help="Account id.")]
DateOption = Annotated[str, typer.Option("--date", help="Business date, YYYY-MM-DD.")]
AmountOption = Annotated[
    str, typer.Option("--amount", help="Amount in the account currency, e.g. 1234.56.")
]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why, for the audit trail.")]
RequestOption = Annotated[
    str,
    typer.Option("--request-id", help="Your id for this request; sending it again replays it."),
]

Request = Callable[[Book, str], Posted]
"""A state-changing call on the book, given the account's currency to read amounts in."""


# --- reading input ----------------------------------------------------------------------------


def read_date(text: str, option: str = "--date") -> dt.date:
    """A business date typed as YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"{option} must be a date as YYYY-MM-DD, got {text!r}")


def read_amount(text: str, currency: str, option: str = "--amount") -> int:
    """A positive amount typed as a decimal string, in minor units of ``currency``."""
    amount_minor = parse_minor(text, currency)
    if amount_minor <= 0:
        fail(f"{option} must be positive, got {text.strip()}", "invalid_amount")
    return amount_minor


def read_component(text: str) -> Component:
    """A receivable component by its name in the product file (``fee``, ``penalty``...)."""
    try:
        return Component(text)
    except ValueError:
        known = ", ".join(component.value for component in Component)
        fail(f"--component must be one of {known}, got {text!r}")


# --- printing ---------------------------------------------------------------------------------


def echo_json(value: dict[str, Any]) -> None:
    """One JSON object on stdout; Chinese labels stay readable."""
    typer.echo(json.dumps(value, ensure_ascii=False, default=str))


def event_summary(data: dict[str, Any], currency: str) -> str:
    """One short line from an event's data: its ids, dates and amounts (details are in --json)."""
    parts = (_summary_part(key, value, currency) for key, value in data.items())
    return " ".join(part for part in parts if part is not None)


def _summary_part(key: str, value: Any, currency: str) -> str | None:
    if isinstance(value, dict) and {"component", "amount_minor"} <= value.keys():
        return f"{value['component']}={format_minor(value['amount_minor'], currency)}"
    if isinstance(value, dict) and "nominal_percent" in value:
        return f"apr={value['nominal_percent']}%"
    if key.endswith("_minor") and isinstance(value, int):
        return f"{key.removesuffix('_minor')}={format_minor(value, currency)}"
    if isinstance(value, str | int):
        return f"{key}={value}"
    return None


def print_posted(posted: Posted, currency: str, as_json: bool) -> None:
    """A request's outcome, printed the same way when it is a replay (marked as such)."""
    if as_json:
        echo_json(posted.to_dict() | {"replayed": posted.replayed})
        return
    line = f"{posted.account_id} #{posted.sequence} {posted.kind}"
    summary = event_summary(posted.data, currency)
    if summary:
        line += f": {summary}"
    if posted.replayed:
        line += " (replayed)"
    typer.echo(line)


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A rich table on stdout, every cell shown as text."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    Console().print(table)


def open_book(db: str | None) -> Book:
    """The book over the store at ``db`` (``None``: the default URL); a bad URL is one line."""
    with database_errors(db or default_url()):
        return Book(open_store(db))


def post(db: str | None, account_id: str, as_json: bool, request: Request) -> None:
    """Run one state-changing request on an existing account and print its outcome."""
    with bad_input_exits():
        book = open_book(db)
        currency = book.store.get_account(account_id).currency
        posted = request(book, currency)
    print_posted(posted, currency, as_json)


# --- products ---------------------------------------------------------------------------------


@product_app.command("add")
def product_add_command(
    path: Annotated[str, typer.Argument(help="Product TOML file.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate a product file and store its exact text (the same text again is a no-op)."""
    with bad_input_exits():
        product_file = open_book(db).register_product(path)
    view = {
        "product_id": product_file.product_id,
        "version": product_file.version,
        "kind": product_file.product.kind.value,
        "currency": product_file.product.currency,
        "sha256": product_file.sha256,
    }
    if as_json:
        echo_json(view)
    else:
        typer.echo(f"{view['product_id']} {view['version']} sha256 {view['sha256']}")


@product_app.command("list")
def product_list_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Every stored product version, oldest first."""
    with bad_input_exits():
        records = open_book(db).store.list_products()
    products = [
        {"product_id": r.product_id, "version": r.version, "kind": r.kind, "sha256": r.sha256}
        for r in records
    ]
    if as_json:
        echo_json({"products": products})
        return
    rows = [list(product.values()) for product in products]
    print_table("Products", ["Product", "Version", "Kind", "sha256"], rows)


# --- opening and borrowing --------------------------------------------------------------------


@account_app.command("open")
def open_command(
    product: Annotated[str, typer.Option("--product", help="Product id (latest version).")],
    account: AccountOption,
    date: DateOption,
    request_id: RequestOption,
    due_day: Annotated[
        int | None, typer.Option("--due-day", help="Credit lines: one of the product's days.")
    ] = None,
    limit: Annotated[
        str | None, typer.Option("--limit", help="Credit limit (default: the product's).")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open an account under the latest stored version of a product."""
    with bad_input_exits():
        book = open_book(db)
        currency = book.product(product).product.currency
        limit_minor = None if limit is None else read_amount(limit, currency, "--limit")
        posted = book.open_account(
            account,
            product,
            read_date(date),
            request_id=request_id,
            due_day=due_day,
            credit_limit_minor=limit_minor,
        )
    print_posted(posted, currency, as_json)


@account_app.command("purchase")
def purchase_command(
    account: AccountOption,
    date: DateOption,
    purchase: Annotated[str, typer.Option("--purchase", help="Merchant's purchase id.")],
    amount: AmountOption,
    request_id: RequestOption,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """A purchase on a credit line (unbilled until the next statement)."""
    post(
        db,
        account,
        as_json,
        lambda book, currency: book.purchase(
            account, read_date(date), purchase, read_amount(amount, currency), request_id=request_id
        ),
    )


@account_app.command("draw")
def draw_command(
    account: AccountOption,
    date: DateOption,
    amount: AmountOption,
    term: Annotated[int, typer.Option("--term", help="Number of monthly periods.")],
    method: Annotated[
        str, typer.Option("--method", help="equal-instalment, equal-principal or interest-first.")
    ],
    request_id: RequestOption,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Draw a cash loan: a new plan at the product's rate, its APR shown."""
    post(
        db,
        account,
        as_json,
        lambda book, currency: book.draw(
            account,
            read_date(date),
            read_amount(amount, currency),
            term,
            method,
            request_id=request_id,
        ),
    )


# --- paying -----------------------------------------------------------------------------------


@account_app.command("repay")
def repay_command(
    account: AccountOption,
    date: DateOption,
    amount: AmountOption,
    request_id: RequestOption,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """A repayment, allocated by the product's waterfall (a recovery once written off)."""
    post(
        db,
        account,
        as_json,
        lambda book, currency: book.repay(
            account, read_date(date), read_amount(amount, currency), request_id=request_id
        ),
    )


@account_app.command("prepay")
def prepay_command(
    account: AccountOption,
    date: DateOption,
    plan: Annotated[str, typer.Option("--plan", help="Cash-loan plan id (see `schedule`).")],
    request_id: RequestOption,
    amount: Annotated[
        str | None, typer.Option("--amount", help="Amount to prepay (default: pay the plan off).")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Prepay a cash-loan plan, with interest for the days used only."""

    def request(book: Book, currency: str) -> Posted:
        amount_minor = None if amount is None else read_amount(amount, currency)
        return book.prepay(account, read_date(date), plan, amount_minor, request_id=request_id)

    post(db, account, as_json, request)


@account_app.command("refund")
def refund_command(
    account: AccountOption,
    date: DateOption,
    purchase: Annotated[str, typer.Option("--purchase", help="Purchase id to refund.")],
    amount: AmountOption,
    request_id: RequestOption,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """A merchant refund against a purchase, even one in instalments."""
    post(
        db,
        account,
        as_json,
        lambda book, currency: book.refund(
            account, read_date(date), purchase, read_amount(amount, currency), request_id=request_id
        ),
    )


# --- charges and concessions ------------------------------------------------------------------


@account_app.command("fee")
def fee_command(
    account: AccountOption,
    date: DateOption,
    amount: AmountOption,
    name: Annotated[str, typer.Option("--name", help="What the fee is for.")],
    request_id: RequestOption,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Charge a service fee."""
    post(
        db,
        account,
        as_json,
        lambda book, currency: book.charge_fee(
            account, read_date(date), read_amount(amount, currency), name, request_id=request_id
        ),
    )


@account_app.command("waive")
def waive_command(
    account: AccountOption,
    date: DateOption,
    component: Annotated[
        str, typer.Option("--component", help="penalty, late_fee, fee, interest or principal.")
    ],
    amount: AmountOption,
    reason: ReasonOption,
    request_id: RequestOption,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Waive part of a component, oldest first (a concession, booked as an expense)."""
    post(
        db,
        account,
        as_json,
        lambda book, currency: book.waive(
            account,
            read_date(date),
            read_component(component),
            read_amount(amount, currency),
            reason,
            request_id=request_id,
        ),
    )


@account_app.command("instalment")
def instalment_command(
    account: AccountOption,
    date: DateOption,
    term: Annotated[int, typer.Option("--term", help="Number of monthly instalments.")],
    request_id: RequestOption,
    purchase: Annotated[
        str | None, typer.Option("--purchase", help="Convert this unbilled purchase.")
    ] = None,
    statement: Annotated[
        str | None, typer.Option("--statement", help="Convert this bill (before its due date).")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Convert a purchase or a bill into instalments with the product's flat fee."""
    if (purchase is None) == (statement is None):
        fail("give exactly one of --purchase or --statement")

    def request(book: Book, currency: str) -> Posted:
        day = read_date(date)
        if purchase is not None:
            return book.convert_purchase(account, day, purchase, term, request_id=request_id)
        assert statement is not None  # exactly one of the two, checked above
        return book.convert_bill(account, day, statement, term, request_id=request_id)

    post(db, account, as_json, request)


# --- corrections and status -------------------------------------------------------------------


@account_app.command("reverse")
def reverse_command(
    account: AccountOption,
    date: DateOption,
    sequence: Annotated[int, typer.Option("--sequence", help="Sequence of the event to undo.")],
    reason: ReasonOption,
    request_id: RequestOption,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reverse a repayment, purchase, fee, waiver or recovery with a counter-event."""
    post(
        db,
        account,
        as_json,
        lambda book, currency: book.reverse(
            account, read_date(date), sequence, reason, request_id=request_id
        ),
    )


@account_app.command("pause")
def pause_command(
    account: AccountOption,
    date: DateOption,
    reason: ReasonOption,
    request_id: RequestOption,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop the delinquency clock and penalties (relief, a dispute under review)."""
    post(
        db,
        account,
        as_json,
        lambda book, currency: book.pause(account, read_date(date), reason, request_id=request_id),
    )


@account_app.command("resume")
def resume_command(
    account: AccountOption,
    date: DateOption,
    request_id: RequestOption,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restart the delinquency clock after a pause."""
    post(
        db,
        account,
        as_json,
        lambda book, currency: book.resume(account, read_date(date), request_id=request_id),
    )


@account_app.command("write-off")
def write_off_command(
    account: AccountOption,
    date: DateOption,
    reason: ReasonOption,
    request_id: RequestOption,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write off everything owed; later payments are recoveries."""
    post(
        db,
        account,
        as_json,
        lambda book, currency: book.write_off(
            account, read_date(date), reason, request_id=request_id
        ),
    )


@account_app.command("close")
def close_command(
    account: AccountOption,
    date: DateOption,
    request_id: RequestOption,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Close an account that owes nothing and holds no credit."""
    post(
        db,
        account,
        as_json,
        lambda book, currency: book.close_account(account, read_date(date), request_id=request_id),
    )


@account_app.command("close-day")
def close_day_command(
    account: AccountOption,
    through: Annotated[str, typer.Option("--through", help="Last business date to close.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run close of business for the account up to a date (days already closed are kept)."""
    with bad_input_exits():
        book = open_book(db)
        posted = len(book.close_through(account, read_date(through, "--through")))
        closed_through = book.state(account).closed_through
    view = {
        "account_id": account,
        "events_posted": posted,
        "closed_through": closed_through.isoformat(),
    }
    if as_json:
        echo_json(view)
    else:
        typer.echo(f"{account}: {posted} events posted, closed through {closed_through}")


# --- views ------------------------------------------------------------------------------------


def account_view(state: AccountState) -> dict[str, Any]:
    """Status, line, balances and delinquency of an account, amounts as decimal strings."""
    currency = state.currency
    category = FiveCategory(state.delinquency.five_category)
    return {
        "account_id": state.account_id,
        "product": f"{state.product_id}@{state.product_version}",
        "currency": currency,
        "status": state.status,
        "opened_on": state.opened_on.isoformat(),
        "closed_through": state.closed_through.isoformat(),
        "frozen": state.frozen,
        "credit_limit": format_minor(state.credit_limit_minor, currency),
        "available": format_minor(state.available_minor(), currency),
        "balance": format_minor(state.balance_minor(), currency),
        "balances": {
            component.value: format_minor(state.balance_minor(component), currency)
            for component in Component
        },
        "credit": format_minor(state.credit_minor, currency),
        "written_off": format_minor(state.written_off_minor, currency),
        "recovered": format_minor(state.recovered_minor, currency),
        "delinquency": {
            "past_due_days": state.delinquency.past_due_days,
            "delinquent_days": state.delinquency.delinquent_days,
            "bucket": state.delinquency.bucket,
            "five_category": category.value,
            "five_category_zh": category.label_zh,
            "ifrs9_stage": state.delinquency.ifrs9_stage,
        },
    }


@account_app.command("show")
def show_command(
    account: AccountArgument, db: DbOption = None, as_json: JsonOption = False
) -> None:
    """Status, limit, balances by component, credit and delinquency of one account."""
    with bad_input_exits():
        view = account_view(open_book(db).state(account))
    if as_json:
        echo_json(view)
        return
    delinquency = view["delinquency"]
    category = f"{delinquency['five_category']} ({delinquency['five_category_zh']})"
    rows = [[key, value] for key, value in view.items() if not isinstance(value, dict)]
    rows += [[f"balance: {name}", amount] for name, amount in view["balances"].items()]
    rows += [
        ["past-due days", delinquency["past_due_days"]],
        ["delinquent days", delinquency["delinquent_days"]],
        ["bucket", delinquency["bucket"]],
        ["five-category", category],
        ["IFRS 9 stage", delinquency["ifrs9_stage"]],
    ]
    print_table(f"Account {account}", ["Field", "Value"], rows)


def plan_view(plan: Plan, currency: str) -> dict[str, Any]:
    """A plan with its periods; a loan's interest is the schedule's (re-measured when due)."""
    return {
        "plan_id": plan.plan_id,
        "kind": plan.kind,
        "method": plan.method,
        "source": plan.source,
        "principal": format_minor(plan.principal_minor, currency),
        "remaining": format_minor(plan.remaining_minor, currency),
        "apr": plan.apr,
        "periods": [
            {
                "number": period.number,
                "due_on": period.due_on.isoformat(),
                "principal": format_minor(period.principal_minor, currency),
                "interest": format_minor(period.interest_minor, currency),
                "fee": format_minor(period.fee_minor, currency),
                "billed": period.billed,
            }
            for period in plan.periods
        ],
    }


@account_app.command("schedule")
def schedule_command(
    account: AccountArgument, db: DbOption = None, as_json: JsonOption = False
) -> None:
    """Open plans (loans and instalments) with their periods and APR."""
    with bad_input_exits():
        state = open_book(db).state(account)
    plans = [plan_view(plan, state.currency) for plan in state.plans.values()]
    if as_json:
        echo_json({"account_id": account, "currency": state.currency, "plans": plans})
        return
    if not plans:
        typer.echo(f"{account}: no open plans")
    for plan in plans:
        apr = plan["apr"]
        title = (
            f"{plan['plan_id']} {plan['kind']} ({plan['method']}): {plan['principal']}, "
            f"{plan['remaining']} remaining; APR {apr['nominal_percent']}% nominal, "
            f"{apr['effective_percent']}% effective ({apr['convention']})"
        )
        rows = [list(period.values()) for period in plan["periods"]]
        print_table(title, ["#", "Due on", "Principal", "Interest", "Fee", "Billed"], rows)


@account_app.command("statements")
def statements_command(
    account: AccountArgument, db: DbOption = None, as_json: JsonOption = False
) -> None:
    """The monthly bills of a credit line and how they were paid."""
    with bad_input_exits():
        state = open_book(db).state(account)
    currency = state.currency
    statements = [
        {
            "statement_id": s.statement_id,
            "cut_on": s.cut_on.isoformat(),
            "due_on": s.due_on.isoformat(),
            "total": format_minor(s.total_minor, currency),
            "minimum": format_minor(s.minimum_minor, currency),
            "paid": format_minor(s.paid_minor, currency),
            "due_passed": s.due_passed,
            "paid_in_full": s.paid_in_full,
        }
        for s in state.statements.values()
    ]
    if as_json:
        echo_json({"account_id": account, "currency": currency, "statements": statements})
        return
    columns = ["Statement", "Cut on", "Due on", "Total", "Minimum", "Paid", "Due passed", "In full"]
    print_table(f"Statements of {account}", columns, [list(s.values()) for s in statements])


def journal_totals(store: Store, account_id: str) -> tuple[int, int, int]:
    """Debits, credits and line count over the account's whole journal, page by page."""
    debit = credit = count = 0
    while True:
        page = store.journal(account_id, limits.page_size_max, count)
        debit += sum(line.amount_minor for line in page if line.amount_minor > 0)
        credit -= sum(line.amount_minor for line in page if line.amount_minor < 0)
        count += len(page)
        if len(page) < limits.page_size_max:
            return debit, credit, count


def line_view(line: JournalLine) -> dict[str, Any]:
    """A journal line: debits positive, credits negative, as a decimal string."""
    return {
        "sequence": line.sequence,
        "line": line.line_number,
        "ledger_account": line.ledger_account,
        "amount": format_minor(line.amount_minor, line.currency),
    }


@account_app.command("journal")
def journal_command(
    account: AccountArgument,
    limit: Annotated[int, typer.Option("--limit", help="Lines per page.")] = 100,
    offset: Annotated[int, typer.Option("--offset", help="Lines to skip.")] = 0,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """One page of the account's journal lines, and the totals of its whole journal."""
    with bad_input_exits():
        book = open_book(db)
        currency = book.store.get_account(account).currency
        lines = book.store.journal(account, limit, offset)
        debit, credit, count = journal_totals(book.store, account)
    total = {
        "debit": format_minor(debit, currency),
        "credit": format_minor(credit, currency),
        "net": format_minor(debit - credit, currency),
        "lines": count,
    }
    if as_json:
        echo_json(
            {
                "account_id": account,
                "currency": currency,
                "lines": [line_view(line) for line in lines],
                "total": total,
            }
        )
        return
    rows = [list(line_view(line).values()) for line in lines]
    rows.append(
        [
            "Total",
            f"{count} lines",
            f"debit {total['debit']} credit {total['credit']}",
            total["net"],
        ]
    )
    print_table(
        f"Journal of {account} ({currency})", ["#", "Line", "Ledger account", "Amount"], rows
    )


@account_app.command("history")
def history_command(
    account: AccountArgument, db: DbOption = None, as_json: JsonOption = False
) -> None:
    """The account's event log in order, and its moves between delinquency buckets."""
    with bad_input_exits():
        book = open_book(db)
        state = book.state(account)
        records = book.store.load_events(account)
    events = [
        {
            "sequence": record.sequence,
            "business_date": record.business_date.isoformat(),
            "kind": record.kind,
            "request_id": record.request_id,
            "summary": event_summary(record.payload, state.currency),
            "data": record.payload,
        }
        for record in records
    ]
    buckets = [
        {
            "bucket": spell.bucket,
            "entered_on": spell.entered_on.isoformat(),
            "left_on": None if spell.left_on is None else spell.left_on.isoformat(),
        }
        for spell in state.bucket_history
    ]
    if as_json:
        echo_json({"account_id": account, "events": events, "bucket_history": buckets})
        return
    rows = [
        [e["sequence"], e["business_date"], e["kind"], e["request_id"] or "", e["summary"]]
        for e in events
    ]
    print_table(f"History of {account}", ["#", "Date", "Kind", "Request", "Summary"], rows)
    rows = [[b["bucket"], b["entered_on"], b["left_on"] or "open"] for b in buckets]
    print_table(f"Buckets of {account}", ["Bucket", "Entered on", "Left on"], rows)
