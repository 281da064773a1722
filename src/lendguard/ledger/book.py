"""The book: the servicing ledger as a library service over a store.

``Book`` is what the CLI, the service and the simulator call. For each request it
1. answers a retried request id with the original result (a different body under the same id is
   refused), 2. brings the account up to the day before the request's business date (no event is
   ever applied to a stale account), 3. decides the event with ``commands``, 4. writes the events,
   their journal lines and the request in one transaction, 5. applies them to the cached state.
Nothing is written when any step refuses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from lendguard import limits
from lendguard.errors import (
    IdempotencyConflictError,
    InvalidEventError,
    LendGuardError,
    UnknownAccountError,
)
from lendguard.ledger import commands
from lendguard.ledger.calendar_rules import ONE_DAY
from lendguard.ledger.close import close_through, write_off_event
from lendguard.ledger.events import Event, EventKind
from lendguard.ledger.journal import postings
from lendguard.ledger.rules import ProductRules, rules_for
from lendguard.ledger.snapshot import state_from_data, state_to_data
from lendguard.ledger.state import AccountState, apply, fold
from lendguard.products.loader import ProductFile, load_product, load_product_text
from lendguard.products.model import Component
from lendguard.store import (
    AccountRecord,
    Append,
    DuplicateAccountError,
    DuplicateRequestError,
    EventRecord,
    JournalLine,
    ProductRecord,
    RequestRecord,
    Store,
)


@dataclass(frozen=True)
class Posted:
    """The outcome of a request: the event it produced, and whether this was a replay."""

    account_id: str
    sequence: int
    kind: str
    data: dict[str, Any]
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "sequence": self.sequence,
            "kind": self.kind,
            "data": self.data,
        }


def request_hash(action: str, account_id: str, params: dict[str, Any]) -> str:
    """A stable digest of a request body, to tell a retry from a conflicting reuse of an id."""
    body = json.dumps(
        {"action": action, "account": account_id, "params": params}, sort_keys=True, default=str
    )
    return hashlib.sha256(body.encode()).hexdigest()


def to_records(
    account_id: str, first_sequence: int, events: list[Event], currency: str
) -> tuple[list[EventRecord], list[JournalLine]]:
    """Events and their journal lines as store records, numbered from ``first_sequence``."""
    event_records, lines = [], []
    for offset, event in enumerate(events):
        sequence = first_sequence + offset
        event_records.append(
            EventRecord(
                account_id,
                sequence,
                event.kind.value,
                event.business_date,
                event.request_id,
                event.data,
            )
        )
        lines.extend(
            JournalLine(account_id, sequence, number, ledger_account, amount, currency)
            for number, (ledger_account, amount) in enumerate(postings(event), start=1)
        )
    return event_records, lines


def from_record(record: EventRecord) -> Event:
    """A stored event back as a domain event."""
    return Event(EventKind(record.kind), record.business_date, record.payload, record.request_id)


class Book:
    """Accounts, products and their events over one :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._states: dict[str, AccountState] = {}
        self._products: dict[tuple[str, str], ProductFile] = {}
        self._pending: list[Append] | None = None
        self._pending_requests: dict[str, RequestRecord] = {}

    # --- products -----------------------------------------------------------------------------

    def register_product(self, path: str) -> ProductFile:
        """Validate a product file and store its exact text under its id and version."""
        product_file = load_product(path)
        self.store.save_product(
            ProductRecord(
                product_file.product_id,
                product_file.version,
                product_file.product.kind.value,
                product_file.sha256,
                product_file.source_text,
            )
        )
        self._products[(product_file.product_id, product_file.version)] = product_file
        return product_file

    def product(self, product_id: str, version: str | None = None) -> ProductFile:
        """A stored product version (latest if ``version`` is None)."""
        if version is not None and (product_id, version) in self._products:
            return self._products[(product_id, version)]
        record = self.store.get_product(product_id, version)
        cached = self._products.get((product_id, record.version))
        if cached is not None and cached.sha256 == record.sha256:
            return cached
        product_file = load_product_text(
            record.source_text, origin=f"{product_id}@{record.version}"
        )
        self._products[(product_id, record.version)] = product_file
        return product_file

    def _rules(self, state: AccountState) -> ProductRules:
        return rules_for(self.product(state.product_id, state.product_version))

    # --- accounts -----------------------------------------------------------------------------

    def open_account(
        self,
        account_id: str,
        product_id: str,
        opened_on: dt.date,
        *,
        request_id: str,
        due_day: int | None = None,
        credit_limit_minor: int | None = None,
    ) -> Posted:
        """Open an account under the latest version of a product."""
        commands.check_id(account_id, "account id")
        params = {
            "product_id": product_id,
            "opened_on": opened_on.isoformat(),
            "due_day": due_day,
            "credit_limit_minor": credit_limit_minor,
        }
        commands.check_id(request_id, "request id")
        digest = request_hash("open", account_id, params)
        replay = self._replay(request_id, digest)
        if replay is not None:
            return replay
        product_file = self.product(product_id)
        event = commands.open_account(
            product_file, opened_on, due_day=due_day, credit_limit_minor=credit_limit_minor
        )
        event = Event(event.kind, event.business_date, event.data, request_id)
        account = AccountRecord(
            account_id,
            product_file.product_id,
            product_file.version,
            product_file.product.currency,
            opened_on,
            "open",
        )
        if account_id in self._states:
            raise InvalidEventError(f"account {account_id} already exists")
        state = fold([event], account_id)
        posted = Posted(account_id, 1, event.kind.value, event.data)
        request = RequestRecord(request_id, account_id, digest, posted.to_dict(), 1)
        try:
            self._write(state, 0, [event], request=request, account=account)
        except DuplicateAccountError:
            self.forget(account_id)
            error = InvalidEventError(f"account {account_id} already exists")
            return self._replay_or_raise(request_id, digest, error)
        return posted

    def state(self, account_id: str) -> AccountState:
        """The account's current state (folded from its events once, then kept up to date)."""
        cached = self._states.get(account_id)
        if cached is not None:
            return cached
        pending = [
            record
            for append in self._pending or ()
            if append.account_id == account_id
            for record in append.events
        ]
        state = None
        if not pending or pending[0].sequence > 1:
            state = self._load_stored(account_id)
        for record in pending:
            event = from_record(record)
            if state is None:
                state = fold([event], account_id)
            else:
                apply(state, event)
        if state is None:
            raise UnknownAccountError(f"account {account_id} has no events")
        self._states[account_id] = state
        return state

    def _load_stored(self, account_id: str) -> AccountState | None:
        """The stored state: the latest snapshot plus the events after it, or a full fold."""
        self.store.get_account(account_id)  # UnknownAccountError for a bad id
        snapshot = self.store.load_snapshot(account_id)
        state = state_from_data(snapshot[1]) if snapshot is not None else None
        after = state.sequence if state is not None else 0
        records = self.store.load_events(account_id, after_sequence=after)
        if state is None:
            return (
                fold((from_record(record) for record in records), account_id) if records else None
            )
        for record in records:
            apply(state, from_record(record))
        return state

    def events(self, account_id: str) -> list[Event]:
        """The account's whole event log, in order."""
        self.state(account_id)
        return [from_record(record) for record in self.store.load_events(account_id)]

    def forget(self, account_id: str) -> None:
        """Drop the cached state: the next read folds the stored log and this batch's writes."""
        self._states.pop(account_id, None)

    # --- requests -----------------------------------------------------------------------------

    def close_through(
        self, account_id: str, through: dt.date, *, snapshot: bool = True
    ) -> list[Event]:
        """Close the account's business days up to ``through`` (idempotent: closed days stay).

        Long catch-ups are written in windows of ``limits.close_days_per_write_max`` days, so no
        single write exceeds the store's bound on events per append. ``snapshot=False`` skips
        storing the state snapshot (only a faster reload depends on it): a caller closing every
        night, like the simulator, stores one now and then rather than one a night.
        """
        state = self.state(account_id)
        rules = self._rules(state)
        window = dt.timedelta(days=limits.close_days_per_write_max)
        events: list[Event] = []
        while state.closed_through < through:
            expected_sequence = state.sequence
            until = min(through, state.closed_through + window)
            closed = self._guarded(account_id, close_through, state, rules, until)
            self._guarded(
                account_id, self._write, state, expected_sequence, closed, snapshot=snapshot
            )
            events.extend(closed)
        return events

    def purchase(
        self, account_id: str, day: dt.date, purchase_id: str, amount_minor: int, *, request_id: str
    ) -> Posted:
        return self._request(
            "purchase",
            account_id,
            day,
            request_id,
            {"purchase_id": purchase_id, "amount_minor": amount_minor},
            lambda s, p: commands.purchase(s, p, day, purchase_id, amount_minor),
        )

    def draw(
        self,
        account_id: str,
        day: dt.date,
        amount_minor: int,
        term: int,
        method: str,
        *,
        request_id: str,
    ) -> Posted:
        return self._request(
            "draw",
            account_id,
            day,
            request_id,
            {"amount_minor": amount_minor, "term": term, "method": method},
            lambda s, p: commands.draw(s, p, day, amount_minor, term, method),
        )

    def repay(self, account_id: str, day: dt.date, amount_minor: int, *, request_id: str) -> Posted:
        return self._request(
            "repay",
            account_id,
            day,
            request_id,
            {"amount_minor": amount_minor},
            lambda s, p: commands.repay(s, p, day, amount_minor, request_id),
        )

    def prepay(
        self,
        account_id: str,
        day: dt.date,
        plan_id: str,
        amount_minor: int | None,
        *,
        request_id: str,
    ) -> Posted:
        return self._request(
            "prepay",
            account_id,
            day,
            request_id,
            {"plan_id": plan_id, "amount_minor": amount_minor},
            lambda s, p: commands.prepay(s, p, day, plan_id, amount_minor, request_id),
        )

    def refund(
        self, account_id: str, day: dt.date, purchase_id: str, amount_minor: int, *, request_id: str
    ) -> Posted:
        return self._request(
            "refund",
            account_id,
            day,
            request_id,
            {"purchase_id": purchase_id, "amount_minor": amount_minor},
            lambda s, p: commands.refund(s, p, day, purchase_id, amount_minor),
        )

    def charge_fee(
        self, account_id: str, day: dt.date, amount_minor: int, name: str, *, request_id: str
    ) -> Posted:
        return self._request(
            "fee",
            account_id,
            day,
            request_id,
            {"amount_minor": amount_minor, "name": name},
            lambda s, p: commands.charge_fee(s, p, day, amount_minor, name),
        )

    def waive(
        self,
        account_id: str,
        day: dt.date,
        component: Component,
        amount_minor: int,
        reason: str,
        *,
        request_id: str,
    ) -> Posted:
        return self._request(
            "waive",
            account_id,
            day,
            request_id,
            {"component": component.value, "amount_minor": amount_minor, "reason": reason},
            lambda s, p: commands.waive(s, p, day, component, amount_minor, reason),
        )

    def convert_purchase(
        self, account_id: str, day: dt.date, purchase_id: str, term: int, *, request_id: str
    ) -> Posted:
        return self._request(
            "convert_purchase",
            account_id,
            day,
            request_id,
            {"purchase_id": purchase_id, "term": term},
            lambda s, p: commands.convert_purchase(s, p, day, purchase_id, term),
        )

    def convert_bill(
        self, account_id: str, day: dt.date, statement_id: str, term: int, *, request_id: str
    ) -> Posted:
        return self._request(
            "convert_bill",
            account_id,
            day,
            request_id,
            {"statement_id": statement_id, "term": term},
            lambda s, p: commands.convert_bill(s, p, day, statement_id, term),
        )

    def reverse(
        self, account_id: str, day: dt.date, target_sequence: int, reason: str, *, request_id: str
    ) -> Posted:
        def decide(state: AccountState, product: Any) -> Event:
            records = self.store.load_events(account_id, after_sequence=target_sequence - 1)
            if not records or records[0].sequence != target_sequence:
                raise InvalidEventError(f"account {account_id} has no event {target_sequence}")
            return commands.reverse(state, day, target_sequence, from_record(records[0]), reason)

        return self._request(
            "reverse",
            account_id,
            day,
            request_id,
            {"target_sequence": target_sequence, "reason": reason},
            decide,
        )

    def pause(self, account_id: str, day: dt.date, reason: str, *, request_id: str) -> Posted:
        return self._request(
            "pause",
            account_id,
            day,
            request_id,
            {"reason": reason},
            lambda s, p: commands.pause(s, day, reason),
        )

    def resume(self, account_id: str, day: dt.date, *, request_id: str) -> Posted:
        return self._request(
            "resume", account_id, day, request_id, {}, lambda s, p: commands.resume(s, day)
        )

    def write_off(self, account_id: str, day: dt.date, reason: str, *, request_id: str) -> Posted:
        def decide(state: AccountState, product: Any) -> Event:
            commands.check_open(state, "write off")
            return write_off_event(
                state, day, commands.check_id(reason, "reason"), state.delinquency.delinquent_days
            )

        return self._request("write_off", account_id, day, request_id, {"reason": reason}, decide)

    def close_account(self, account_id: str, day: dt.date, *, request_id: str) -> Posted:
        return self._request(
            "close", account_id, day, request_id, {}, lambda s, p: commands.close_account(s, day)
        )

    # --- the one request path -----------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group commit: every write inside the block goes to the store in one transaction.

        A durable commit costs milliseconds; a batch pays it once. All or nothing: if the
        transaction is refused, no request of the batch is stored and the cached states of every
        account it touched are dropped (the next read folds the stored log); an exception leaving
        the block abandons the whole batch. A request refused while deciding raises at once, as
        outside a batch, and can be caught inside the block. A batch holds at most
        ``limits.appends_per_transaction_max`` writes. Batches do not nest.
        """
        assert self._pending is None, "batches do not nest"
        pending: list[Append] = []
        self._pending = pending
        self._pending_requests = {}
        try:
            yield
            self._pending = None
            if pending:
                self.store.append_many(pending)
        except BaseException:
            self._pending = None
            for append in pending:
                self.forget(append.account_id)
            raise
        finally:
            self._pending = None
            self._pending_requests = {}

    def _replay(self, request_id: str, digest: str) -> Posted | None:
        """The original result of a request id already used for this request, else ``None``."""
        stored = self._pending_requests.get(request_id) or self.store.find_request(request_id)
        if stored is None:
            return None
        if stored.request_hash != digest:
            raise IdempotencyConflictError(
                f"request id {request_id} was already used for a different request"
            )
        response = stored.response
        return Posted(
            response["account_id"],
            response["sequence"],
            response["kind"],
            response["data"],
            replayed=True,
        )

    def _replay_or_raise(self, request_id: str, digest: str, error: Exception) -> Posted:
        """A refused request may be a retry of one that succeeded: answer it, else refuse."""
        replay = self._replay(request_id, digest)
        if replay is None:
            raise error
        return replay

    def _request(
        self,
        action: str,
        account_id: str,
        day: dt.date,
        request_id: str,
        params: dict[str, Any],
        decide: Callable[[AccountState, Any], Event],
    ) -> Posted:
        """Catch up, decide, write, apply: the path of every external request.

        The common case costs one transaction: the request id is checked by the write itself
        (a unique key); only a refused decision or write looks the id up, to answer a retry with
        its original result. A refused request writes nothing, not even the days it closed.
        """
        commands.check_id(request_id, "request id")
        digest = request_hash(action, account_id, params | {"day": day.isoformat()})
        if request_id in self._pending_requests:
            return self._replay_or_raise(request_id, digest, AssertionError("unreachable"))
        state = self.state(account_id)
        try:
            commands.check_date(state, day)
        except LendGuardError as error:
            return self._replay_or_raise(request_id, digest, error)
        rules = self._rules(state)
        if state.closed_through < day - ONE_DAY - dt.timedelta(
            days=limits.close_days_per_write_max
        ):
            self.close_through(account_id, day - ONE_DAY - ONE_DAY)
        expected_sequence = state.sequence
        system_events = self._guarded(account_id, close_through, state, rules, day - ONE_DAY)
        try:
            decided = decide(state, rules.product)
        except LendGuardError as error:
            if system_events:
                self.forget(account_id)  # the days closed for this request are not written
            return self._replay_or_raise(request_id, digest, error)
        event = Event(decided.kind, decided.business_date, decided.data, request_id)
        posted = Posted(account_id, state.sequence + 1, event.kind.value, event.data)
        request = RequestRecord(request_id, account_id, digest, posted.to_dict(), posted.sequence)
        try:
            self._write(
                state,
                expected_sequence,
                [*system_events, event],
                request=request,
                pending=event,
                snapshot=bool(system_events),
            )
        except DuplicateRequestError as error:
            self.forget(account_id)
            return self._replay_or_raise(request_id, digest, error)
        except BaseException:
            self.forget(account_id)
            raise
        return posted

    def _guarded(
        self, account_id: str, step: Callable[..., Any], *args: Any, **options: Any
    ) -> Any:
        """Run a step that changes the cached state; on failure drop the cache, so it refolds."""
        try:
            return step(*args, **options)
        except BaseException:
            self.forget(account_id)
            raise

    def _write(
        self,
        state: AccountState,
        expected_sequence: int,
        events: list[Event],
        *,
        request: RequestRecord | None = None,
        pending: Event | None = None,
        account: AccountRecord | None = None,
        snapshot: bool = False,
    ) -> None:
        """Store events (and the request) atomically, or queue them in the open batch.

        ``pending`` is the request's event, decided but not yet applied to ``state``: it is
        applied only after the write succeeds, so a refused write leaves the cached state as it
        was. Events before it (the night's, from catching up) are already applied; with
        ``snapshot`` they are written as their own append carrying the state they lead to, so the
        stored watermark (``last_closed_on``) never lags the days an online request closed.
        """
        if pending is None:
            appends = [
                self._append(
                    state,
                    expected_sequence,
                    events,
                    request=request,
                    account=account,
                    snapshot=snapshot,
                )
            ]
        else:
            assert events[-1] is pending, "the request's event comes last"
            appends = self._appends_with_pending(
                state, expected_sequence, events, request, pending, snapshot=snapshot
            )
        if self._pending is None:
            self.store.append_many(appends)
        elif len(self._pending) + len(appends) > limits.appends_per_transaction_max:
            raise InvalidEventError(
                f"a batch holds at most {limits.appends_per_transaction_max} writes: commit it and "
                "start another"
            )
        else:
            self._pending.extend(appends)
            if request is not None:
                self._pending_requests[request.request_id] = request
        if pending is not None:
            apply(state, pending)
        self._states[state.account_id] = state

    def _appends_with_pending(
        self,
        state: AccountState,
        expected_sequence: int,
        events: list[Event],
        request: RequestRecord | None,
        pending: Event,
        *,
        snapshot: bool,
    ) -> list[Append]:
        """The night's events (with the state they lead to), then the request's event."""
        head = events[:-1]
        appends = []
        if head:
            appends.append(self._append(state, expected_sequence, head, snapshot=snapshot))
        appends.append(
            self._append(
                state,
                expected_sequence + len(head),
                [pending],
                request=request,
                status=_status_after(state, pending),
            )
        )
        return appends

    def _append(
        self,
        state: AccountState,
        expected_sequence: int,
        events: list[Event],
        *,
        request: RequestRecord | None = None,
        status: str | None = None,
        account: AccountRecord | None = None,
        snapshot: bool = False,
    ) -> Append:
        """One account's write as the store takes it: records, journal lines, options."""
        event_records, lines = to_records(
            state.account_id, expected_sequence + 1, events, state.currency
        )
        return Append(
            state.account_id,
            expected_sequence,
            event_records,
            lines,
            request=request,
            status=status or state.status,
            account=account,
            snapshot=state_to_data(state) if snapshot else None,
        )


def _status_after(state: AccountState, pending: Event | None) -> str:
    if pending is not None and pending.kind is EventKind.CLOSED:
        return "closed"
    if pending is not None and pending.kind is EventKind.WRITE_OFF:
        return "written_off"
    return state.status
