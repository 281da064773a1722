"""Accounts: open, read (state, schedule, statements, journal, history) and move money.

Every write goes through :class:`lendguard.ledger.book.Book`, which owns idempotency, catch-up and
the atomic write; this module only translates HTTP into those calls. Writes carry the caller's
``Idempotency-Key`` header as the ledger's request id: the first call answers 201, a retry with
the same body answers 200 with the original result, another body under the same key 409.

Concurrency: a write is a :class:`lendguard.service.ledger_writer.Decision` queued on the
process's :class:`~lendguard.service.ledger_writer.LedgerWriter`, which decides the requests of
every account in turn on one thread, locks each account across processes, and commits a batch of
requests with their audit records in one transaction. The routes that write are ``async``: they
wait for the writer's answer without holding a thread. Reads fold their own state. No personal
data here: accounts are ids.
"""

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Header, Path, Response, status
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import case, func, select

from lendguard import limits
from lendguard.delinquency.classification import FiveCategory
from lendguard.errors import InvalidEventError, UnknownAccountError
from lendguard.ledger.book import Book, Posted
from lendguard.ledger.state import AccountState, Plan, Statement
from lendguard.money import check_positive, format_minor, parse_minor
from lendguard.products.model import Component
from lendguard.service.deps import Page, PageDep, Services, get_services, require
from lendguard.service.errors import ProblemError
from lendguard.service.ledger_writer import Audited, Decision
from lendguard.service.security import Principal
from lendguard.store import AccountRecord, EventRecord, JournalLine, Store, schema

router = APIRouter(prefix="/accounts", tags=["accounts"])

_T = TypeVar("_T")

catch_up_days_max = limits.business_dates_per_run_max
"""Business days one request may close on its way (a far-future date would close thousands of
days in one call); an account further behind needs close of business first."""

ID_PATTERN = r"^[\x21-\x7e]+$"
"""Ids are visible ASCII without spaces: what ``commands.check_id`` accepts, stated in the API."""

AMOUNT_PATTERN = r"^[0-9]{1,16}(\.[0-9]{1,8})?$"
"""A plain decimal such as ``120.00``; the account's currency decides the decimals allowed."""

ServicesDep = Annotated[Services, Depends(get_services)]
Reader = Annotated[Principal, Depends(require("accounts:read"))]
Opener = Annotated[Principal, Depends(require("accounts:write"))]
Mover = Annotated[Principal, Depends(require("money:write"))]
Closer = Annotated[Principal, Depends(require("eod:run"))]

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]
AccountIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="Your id for this request; sending it again returns the original result.",
    ),
]
Amount = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        pattern=AMOUNT_PATTERN,
        description="Decimal string in the account's currency",
        examples=["120.00"],
    ),
]


def _iso_date(value: object) -> object:
    """Dates travel as ``YYYY-MM-DD`` text only: a number is not a business date."""
    if not isinstance(value, str | dt.date):
        raise ValueError("a date must be given as YYYY-MM-DD")
    return value


BusinessDate = Annotated[dt.date, BeforeValidator(_iso_date), Field(examples=["2026-01-05"])]


# --- request bodies ---------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenAccount(_Body):
    account_id: Identifier
    product_id: Identifier = Field(description="Opened under the latest stored version.")
    opened_on: BusinessDate
    due_day: int | None = Field(None, ge=1, le=31, description="Credit lines: a product due day.")
    credit_limit: Amount | None = Field(None, description="Default: the product's limit.")


class PurchaseCreate(_Body):
    purchase_id: Identifier
    amount: Amount
    business_date: BusinessDate


class DrawCreate(_Body):
    amount: Amount
    term: int = Field(ge=1, le=limits.term_periods_max, description="Monthly periods.")
    method: Literal["equal-instalment", "equal-principal", "interest-first"]
    business_date: BusinessDate


class RepaymentCreate(_Body):
    amount: Amount
    business_date: BusinessDate


class RefundCreate(_Body):
    purchase_id: Identifier
    amount: Amount
    business_date: BusinessDate


class ReversalCreate(_Body):
    sequence: int = Field(ge=1, le=limits.events_per_account_max, description="Event to undo.")
    reason: str = Field(min_length=1, max_length=200)
    business_date: BusinessDate


class CloseDay(_Body):
    through: BusinessDate = Field(description="Last business date to close.")


# --- responses --------------------------------------------------------------------------------


class PostingPublic(BaseModel):
    """The event a request posted (or, replayed, the one it posted the first time)."""

    account_id: str
    sequence: int
    kind: str
    currency: str
    amount: str | None
    amount_minor: int | None
    replayed: bool
    data: dict[str, Any]


class AccountSummary(BaseModel):
    account_id: str
    product_id: str
    product_version: str
    currency: str
    opened_on: dt.date
    status: str


class DelinquencyPublic(BaseModel):
    past_due_days: int
    delinquent_days: int
    bucket: str
    five_category: str
    five_category_zh: str
    ifrs9_stage: int


class AccountPublic(BaseModel):
    """An account's state: amounts as decimal strings with ``*_minor`` integers alongside."""

    account_id: str
    product_id: str
    product_version: str
    currency: str
    status: str
    opened_on: dt.date
    closed_through: dt.date
    sequence: int
    frozen: bool
    credit_limit: str
    credit_limit_minor: int
    available: str
    available_minor: int
    balance: str
    balance_minor: int
    balances: dict[str, str]
    balances_minor: dict[str, int]
    credit: str
    credit_minor: int
    written_off: str
    written_off_minor: int
    recovered: str
    recovered_minor: int
    delinquency: DelinquencyPublic


class PeriodPublic(BaseModel):
    number: int
    due_on: dt.date
    principal: str
    principal_minor: int
    interest: str
    interest_minor: int
    fee: str
    fee_minor: int
    billed: bool


class PlanPublic(BaseModel):
    plan_id: str
    kind: str
    method: str
    source: str
    principal: str
    principal_minor: int
    remaining: str
    remaining_minor: int
    apr: dict[str, str]
    periods: list[PeriodPublic]


class SchedulePublic(BaseModel):
    account_id: str
    currency: str
    plans: list[PlanPublic]


class StatementPublic(BaseModel):
    statement_id: str
    cut_on: dt.date
    due_on: dt.date
    total: str
    total_minor: int
    minimum: str
    minimum_minor: int
    paid: str
    paid_minor: int
    due_passed: bool
    paid_in_full: bool


class StatementsPublic(BaseModel):
    account_id: str
    currency: str
    statements: list[StatementPublic]


class JournalLinePublic(BaseModel):
    """A journal line: debits positive, credits negative."""

    sequence: int
    line: int
    ledger_account: str
    amount: str
    amount_minor: int


class JournalTotal(BaseModel):
    """Totals over the account's whole journal (every page): ``net`` is zero in a sound book."""

    debit: str
    debit_minor: int
    credit: str
    credit_minor: int
    net: str
    net_minor: int
    lines: int


class JournalPublic(BaseModel):
    account_id: str
    currency: str
    lines: list[JournalLinePublic]
    total: JournalTotal


class EventPublic(BaseModel):
    sequence: int
    business_date: dt.date
    kind: str
    request_id: str | None
    data: dict[str, Any]


class BucketSpellPublic(BaseModel):
    bucket: str
    entered_on: dt.date
    left_on: dt.date | None


class HistoryPublic(BaseModel):
    account_id: str
    events: list[EventPublic]
    bucket_history: list[BucketSpellPublic]


class ClosedDays(BaseModel):
    account_id: str
    events_posted: int
    closed_through: dt.date


# --- the request path -------------------------------------------------------------------------


def read_state(services: Services, account_id: str) -> AccountState:
    """The account's state as stored now, folded by a Book of its own.

    Why not the shared Book's cache: it may lag writes of other processes (close of business,
    other workers), and the writer thread may be mutating it; a private fold needs no lock.
    """
    return Book(services.store).state(account_id)


def _amount_minor(text: str, currency: str) -> int:
    return check_positive(parse_minor(text, currency))


def _check_catch_up(state: AccountState, day: dt.date) -> None:
    """Refuse a business date so far ahead that this one request would close a year or more."""
    behind = (day - state.closed_through).days
    if behind > catch_up_days_max:
        raise ProblemError(
            409,
            "catch_up_too_long",
            f"{day} is {behind} days after the last closed date {state.closed_through} of "
            f"account {state.account_id}; run close of business first "
            f"(at most {catch_up_days_max} days per request)",
        )


def _posting(posted: Posted, currency: str, amount_minor: int | None) -> PostingPublic:
    return PostingPublic(
        account_id=posted.account_id,
        sequence=posted.sequence,
        kind=posted.kind,
        currency=currency,
        amount=None if amount_minor is None else format_minor(amount_minor, currency),
        amount_minor=amount_minor,
        replayed=posted.replayed,
        data=posted.data,
    )


def _audited(action: str, posting: PostingPublic, key: str) -> Audited[PostingPublic]:
    """The posting with the audit record of the request that produced (or replayed) it."""
    detail = {
        "request_id": key,
        "sequence": posting.sequence,
        "kind": posting.kind,
        "amount_minor": posting.amount_minor,
        "replayed": posting.replayed,
    }
    return Audited(posting, action, f"account/{posting.account_id}", detail)


def _move(
    action: str,
    account_id: str,
    day: dt.date,
    amount: str | None,
    key: str,
    post: Callable[[Book, int | None], Posted],
) -> Decision[PostingPublic]:
    """A money movement as the writer runs it: parse the amount in the account's currency, bound
    the catch-up, post."""

    def decide(book: Book) -> Audited[PostingPublic]:
        state = book.state(account_id)
        amount_minor = None if amount is None else _amount_minor(amount, state.currency)
        _check_catch_up(state, day)
        posting = _posting(post(book, amount_minor), state.currency, amount_minor)
        return _audited(action, posting, key)

    return decide


async def _posted(
    services: Services, principal: Principal, account_id: str, decide: Decision[PostingPublic]
) -> Response:
    """Run the write and answer 201, or 200 for a replay, with the posting as JSON.

    The body is serialised here from the typed model: returning a ``Response`` spares FastAPI
    validating the model it was just built from (a tenth of a repayment's CPU).
    """
    posting = await services.writer.run(account_id, principal.key_id, decide)
    return Response(
        posting.model_dump_json(),
        status_code=status.HTTP_200_OK if posting.replayed else status.HTTP_201_CREATED,
        media_type="application/json",
    )


WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": PostingPublic, "description": "A retry: the original result, nothing posted"},
}


# --- opening and listing ----------------------------------------------------------------------


@router.post(
    "",
    response_model=PostingPublic,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_RESPONSES,
    summary="Open an account",
)
async def open_account(
    body: OpenAccount,
    key: IdempotencyKey,
    services: ServicesDep,
    principal: Opener,
) -> Response:
    """Open an account under the latest stored version of a product."""

    def decide(book: Book) -> Audited[PostingPublic]:
        currency = book.product(body.product_id).product.currency
        limit_minor = None
        if body.credit_limit is not None:
            limit_minor = _amount_minor(body.credit_limit, currency)
        try:
            posted = book.open_account(
                body.account_id,
                body.product_id,
                body.opened_on,
                request_id=key,
                due_day=body.due_day,
                credit_limit_minor=limit_minor,
            )
        except InvalidEventError:
            _refuse_existing(book.store, body.account_id)
            raise
        return _audited("accounts.open", _posting(posted, currency, limit_minor), key)

    return await _posted(services, principal, body.account_id, decide)


def _refuse_existing(store: Store, account_id: str) -> None:
    """An id already taken is a conflict (409), not a malformed request."""
    try:
        store.get_account(account_id)
    except UnknownAccountError:
        return
    raise ProblemError(409, "duplicate_account", f"account {account_id} already exists")


@router.get("", response_model=list[AccountSummary], summary="List accounts")
def list_accounts(services: ServicesDep, _principal: Reader, page: PageDep) -> list[AccountSummary]:
    """One page of accounts in id order."""
    records = services.store.list_accounts(page.limit, page.offset)
    return [_summary(record) for record in records]


def _summary(record: AccountRecord) -> AccountSummary:
    return AccountSummary(
        account_id=record.account_id,
        product_id=record.product_id,
        product_version=record.product_version,
        currency=record.currency,
        opened_on=record.opened_on,
        status=record.status,
    )


# --- reading ----------------------------------------------------------------------------------


def _money(name: str, amount_minor: int, currency: str) -> dict[str, Any]:
    return {name: format_minor(amount_minor, currency), f"{name}_minor": amount_minor}


@router.get("/{account_id}", response_model=AccountPublic, summary="Account state")
def get_account(account_id: AccountIdPath, services: ServicesDep, _principal: Reader) -> Any:
    """Status, limit, balances by component, credit and delinquency."""
    return account_view(read_state(services, account_id))


def account_view(state: AccountState) -> AccountPublic:
    currency = state.currency
    category = FiveCategory(state.delinquency.five_category)
    balances = {component.value: state.balance_minor(component) for component in Component}
    amounts = (
        _money("credit_limit", state.credit_limit_minor, currency)
        | _money("available", state.available_minor(), currency)
        | _money("balance", state.balance_minor(), currency)
        | _money("credit", state.credit_minor, currency)
        | _money("written_off", state.written_off_minor, currency)
        | _money("recovered", state.recovered_minor, currency)
    )
    return AccountPublic(
        account_id=state.account_id,
        product_id=state.product_id,
        product_version=state.product_version,
        currency=currency,
        status=state.status,
        opened_on=state.opened_on,
        closed_through=state.closed_through,
        sequence=state.sequence,
        frozen=state.frozen,
        balances={name: format_minor(value, currency) for name, value in balances.items()},
        balances_minor=balances,
        delinquency=DelinquencyPublic(
            past_due_days=state.delinquency.past_due_days,
            delinquent_days=state.delinquency.delinquent_days,
            bucket=state.delinquency.bucket,
            five_category=category.value,
            five_category_zh=category.label_zh,
            ifrs9_stage=state.delinquency.ifrs9_stage,
        ),
        **amounts,
    )


@router.get("/{account_id}/schedule", response_model=SchedulePublic, summary="Open plans")
def get_schedule(
    account_id: AccountIdPath, services: ServicesDep, _principal: Reader, page: PageDep
) -> SchedulePublic:
    """Loans and instalment plans with their periods and APR, one page of plans."""
    state = read_state(services, account_id)
    plans = _page(list(state.plans.values()), page)
    return SchedulePublic(
        account_id=account_id,
        currency=state.currency,
        plans=[plan_view(plan, state.currency) for plan in plans],
    )


def _page(items: list[_T], page: Page) -> list[_T]:
    return items[page.offset : page.offset + page.limit]


def plan_view(plan: Plan, currency: str) -> PlanPublic:
    periods = [
        PeriodPublic(
            number=period.number,
            due_on=period.due_on,
            billed=period.billed,
            **_money("principal", period.principal_minor, currency),
            **_money("interest", period.interest_minor, currency),
            **_money("fee", period.fee_minor, currency),
        )
        for period in plan.periods
    ]
    return PlanPublic(
        plan_id=plan.plan_id,
        kind=plan.kind,
        method=plan.method,
        source=plan.source,
        apr=plan.apr,
        periods=periods,
        **_money("principal", plan.principal_minor, currency),
        **_money("remaining", plan.remaining_minor, currency),
    )


@router.get("/{account_id}/statements", response_model=StatementsPublic, summary="Bills")
def get_statements(
    account_id: AccountIdPath, services: ServicesDep, _principal: Reader, page: PageDep
) -> StatementsPublic:
    """A credit line's monthly bills, oldest first, and how they were paid."""
    state = read_state(services, account_id)
    statements = _page(list(state.statements.values()), page)
    return StatementsPublic(
        account_id=account_id,
        currency=state.currency,
        statements=[statement_view(s, state.currency) for s in statements],
    )


def statement_view(statement: Statement, currency: str) -> StatementPublic:
    return StatementPublic(
        statement_id=statement.statement_id,
        cut_on=statement.cut_on,
        due_on=statement.due_on,
        due_passed=statement.due_passed,
        paid_in_full=statement.paid_in_full,
        **_money("total", statement.total_minor, currency),
        **_money("minimum", statement.minimum_minor, currency),
        **_money("paid", statement.paid_minor, currency),
    )


@router.get("/{account_id}/journal", response_model=JournalPublic, summary="Journal lines")
def get_journal(
    account_id: AccountIdPath, services: ServicesDep, _principal: Reader, page: PageDep
) -> JournalPublic:
    """One page of the account's journal lines, and totals over all of them."""
    currency = services.store.get_account(account_id).currency
    lines = services.store.journal(account_id, page.limit, page.offset)
    return JournalPublic(
        account_id=account_id,
        currency=currency,
        lines=[_line_view(line) for line in lines],
        total=_journal_total(services, account_id, currency),
    )


def _line_view(line: JournalLine) -> JournalLinePublic:
    return JournalLinePublic(
        sequence=line.sequence,
        line=line.line_number,
        ledger_account=line.ledger_account,
        **_money("amount", line.amount_minor, line.currency),
    )


def _journal_total(services: Services, account_id: str, currency: str) -> JournalTotal:
    """Debits, credits and line count of the whole journal, summed by the database."""
    table = schema.journal_lines
    amount = table.c.amount_minor
    query = select(
        func.coalesce(func.sum(case((amount > 0, amount), else_=0)), 0),
        func.coalesce(func.sum(case((amount < 0, -amount), else_=0)), 0),
        func.count(),
    ).where(table.c.account_id == account_id)
    with services.store.engine.connect() as connection:
        debit, credit, count = connection.execute(query).one()
    return JournalTotal(
        lines=int(count),
        **_money("debit", int(debit), currency),
        **_money("credit", int(credit), currency),
        **_money("net", int(debit) - int(credit), currency),
    )


@router.get("/{account_id}/history", response_model=HistoryPublic, summary="Event log")
def get_history(
    account_id: AccountIdPath, services: ServicesDep, _principal: Reader, page: PageDep
) -> HistoryPublic:
    """One page of the account's events in order, and its moves between delinquency buckets."""
    state = read_state(services, account_id)
    records = _events_page(services, account_id, page)
    return HistoryPublic(
        account_id=account_id,
        events=[_event_view(record) for record in records],
        bucket_history=[
            BucketSpellPublic(bucket=s.bucket, entered_on=s.entered_on, left_on=s.left_on)
            for s in state.bucket_history
        ],
    )


def _events_page(services: Services, account_id: str, page: Page) -> list[EventRecord]:
    """Events ``offset + 1 .. offset + limit`` (sequences are dense from 1)."""
    table = schema.events
    columns = [table.c[name] for name in EventRecord.__slots__]
    query = (
        select(*columns)
        .where(table.c.account_id == account_id, table.c.sequence > page.offset)
        .order_by(table.c.sequence)
        .limit(page.limit)
    )
    with services.store.engine.connect() as connection:
        return [EventRecord(*row) for row in connection.execute(query)]


def _event_view(record: EventRecord) -> EventPublic:
    return EventPublic(
        sequence=record.sequence,
        business_date=record.business_date,
        kind=record.kind,
        request_id=record.request_id,
        data=record.payload,
    )


# --- money movements --------------------------------------------------------------------------


def _write_route(path: str, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return router.post(
        path,
        response_model=PostingPublic,
        status_code=status.HTTP_201_CREATED,
        responses=WRITE_RESPONSES,
        summary=summary,
    )


@_write_route("/{account_id}/purchases", "Purchase on a credit line")
async def purchase(
    account_id: AccountIdPath,
    body: PurchaseCreate,
    key: IdempotencyKey,
    services: ServicesDep,
    principal: Mover,
) -> Response:
    """A purchase: unbilled principal until the next statement."""
    day = body.business_date
    decide = _move(
        "accounts.purchase",
        account_id,
        day,
        body.amount,
        key,
        lambda book, amount_minor: book.purchase(
            account_id, day, body.purchase_id, amount_minor, request_id=key
        ),
    )
    return await _posted(services, principal, account_id, decide)


@_write_route("/{account_id}/draws", "Draw a cash loan")
async def draw(
    account_id: AccountIdPath,
    body: DrawCreate,
    key: IdempotencyKey,
    services: ServicesDep,
    principal: Mover,
) -> Response:
    """A draw: a new plan at the product's rate, its APR in ``data``."""
    day = body.business_date
    decide = _move(
        "accounts.draw",
        account_id,
        day,
        body.amount,
        key,
        lambda book, amount_minor: book.draw(
            account_id, day, amount_minor, body.term, body.method, request_id=key
        ),
    )
    return await _posted(services, principal, account_id, decide)


@_write_route("/{account_id}/repayments", "Repay")
async def repay(
    account_id: AccountIdPath,
    body: RepaymentCreate,
    key: IdempotencyKey,
    services: ServicesDep,
    principal: Mover,
) -> Response:
    """A repayment, allocated by the product's waterfall (a recovery once written off)."""
    day = body.business_date
    decide = _move(
        "accounts.repay",
        account_id,
        day,
        body.amount,
        key,
        lambda book, amount_minor: book.repay(account_id, day, amount_minor, request_id=key),
    )
    return await _posted(services, principal, account_id, decide)


@_write_route("/{account_id}/refunds", "Merchant refund")
async def refund(
    account_id: AccountIdPath,
    body: RefundCreate,
    key: IdempotencyKey,
    services: ServicesDep,
    principal: Mover,
) -> Response:
    """A merchant refund against a purchase, even one in instalments."""
    day = body.business_date
    decide = _move(
        "accounts.refund",
        account_id,
        day,
        body.amount,
        key,
        lambda book, amount_minor: book.refund(
            account_id, day, body.purchase_id, amount_minor, request_id=key
        ),
    )
    return await _posted(services, principal, account_id, decide)


@_write_route("/{account_id}/reversals", "Reverse an event")
async def reverse(
    account_id: AccountIdPath,
    body: ReversalCreate,
    key: IdempotencyKey,
    services: ServicesDep,
    principal: Mover,
) -> Response:
    """Undo a repayment, purchase, fee, waiver or recovery with its exact counter-event."""
    day = body.business_date
    decide = _move(
        "accounts.reverse",
        account_id,
        day,
        None,
        key,
        lambda book, _amount: book.reverse(
            account_id, day, body.sequence, body.reason, request_id=key
        ),
    )
    return await _posted(services, principal, account_id, decide)


@router.post("/{account_id}/close-day", response_model=ClosedDays, summary="Close business days")
async def close_day(
    account_id: AccountIdPath,
    body: CloseDay,
    services: ServicesDep,
    principal: Closer,
) -> ClosedDays:
    """Run close of business for one account through a date (closed days stay closed).

    Needs no idempotency key: closing days already closed posts nothing.
    """

    def decide(book: Book) -> Audited[ClosedDays]:
        _check_catch_up(book.state(account_id), body.through)
        posted = len(book.close_through(account_id, body.through))
        closed = ClosedDays(
            account_id=account_id,
            events_posted=posted,
            closed_through=book.state(account_id).closed_through,
        )
        detail = {"through": body.through.isoformat(), "events_posted": posted}
        return Audited(closed, "accounts.close_day", f"account/{account_id}", detail)

    return await services.writer.run(account_id, principal.key_id, decide)
