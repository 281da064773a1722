"""An HTTP data source (httpx): POST the request as JSON, read the report, retry with backoff.

``POST {base_url}/{name}`` with a JSON body of the application id, the application date and only
the fields that source needs (:data:`REQUEST_FIELDS`: PIPL Art. 6 minimum necessary, DOMAIN 6.10).
The answer:
- 200 with a report in the schema of :mod:`.sources_reports` -> ``ok``; a body that breaks the
  schema -> ``error`` (not retried: asking again gets the same body);
- 404 -> ``no_record`` (the source knows nothing: a thin file);
- 5xx and 429 -> retried, then ``error``; any other status -> ``error`` at once;
- a timeout -> retried, then ``timeout``; a connection failure -> retried, then ``error``.

Each attempt has ``timeout_s`` (httpx connect, read, write and pool timeouts); between attempts it
waits ``backoff_s``, then twice that, and so on, through the ``sleep`` function it was given, so
tests never sleep.
Requests go one after another over one pooled connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from lendguard.underwriting.sources_config import SourceFailurePolicy
from lendguard.underwriting.sources_reports import (
    SOURCE_NAMES,
    SourceAnswer,
    SourceConfigError,
    SourceDataError,
    SourceRequest,
    report_from_json,
)

REQUEST_FIELDS: dict[str, tuple[str, ...]] = {
    "bureau": ("name", "id_number"),
    "multi_lending": ("id_number", "phone"),
    "platform": ("applicant_id",),
    "blocklist": ("name", "id_number", "phone"),
}
"""What each source is sent besides the application id and date: the bureau matches name and ID
number, the multi-lending feed and the blocklist key on ID number and phone, the platform knows its
own applicant id."""

RETRYABLE_STATUS_CODES = frozenset({429})
"""Besides 5xx: too many requests is worth another try after the backoff."""
HTTP_OK = 200
HTTP_NOT_FOUND = 404
HTTP_SERVER_ERROR_MIN = 500


class HttpSource:
    """One data source over HTTP; use as a context manager (or call :meth:`close`)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        timeout_s: float,
        retries: int,
        backoff_s: float,
        *,
        version: str = "http-1",
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if name not in SOURCE_NAMES:
            raise SourceConfigError(f"unknown source {name!r}; known: {', '.join(SOURCE_NAMES)}")
        if timeout_s <= 0 or retries < 0 or backoff_s < 0:
            raise SourceConfigError(
                f"{name}: timeout_s must be > 0, retries and backoff_s >= 0 "
                f"(got {timeout_s}, {retries}, {backoff_s})"
            )
        self.name = name
        self.version = version
        self.retries = retries
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.clock = clock
        self.client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            headers=dict(headers or {}),
        )

    @classmethod
    def from_policy(
        cls, name: str, base_url: str, policy: SourceFailurePolicy, **options: Any
    ) -> HttpSource:
        """An adapter with the timeout, retries and backoff of the source's failure policy."""
        return cls(
            name,
            base_url,
            policy.timeout_s,
            policy.retries,
            policy.backoff_s,
            **options,
        )

    def __enter__(self) -> HttpSource:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def fetch(self, requests: Sequence[SourceRequest]) -> list[SourceAnswer]:
        """One answer per request, in order; the latency covers every attempt and wait."""
        return [self._answer(request) for request in requests]

    def _answer(self, request: SourceRequest) -> SourceAnswer:
        started = self.clock()
        status, report_body, error = self._attempts(self._body(request))
        report = None
        if report_body is not None:
            try:
                report = report_from_json(self.name, report_body)
            except SourceDataError as exc:
                status, error = "error", f"malformed response: {exc.message}"
        return SourceAnswer(status, report, error, (self.clock() - started) * 1000)

    def _body(self, request: SourceRequest) -> dict[str, str]:
        body = {
            "application_id": request.application_id,
            "applied_on": request.applied_on.isoformat(),
        }
        for field in REQUEST_FIELDS[self.name]:
            body[field] = getattr(request, field)
        return body

    def _attempts(self, body: dict[str, str]) -> tuple[str, bytes | None, str | None]:
        """(status, report bytes when 200, error): the outcome of the last attempt made."""
        outcome, retry = self._attempt(body)
        for attempt in range(self.retries):
            if not retry:
                return outcome
            self.sleep(self.backoff_s * 2**attempt)
            outcome, retry = self._attempt(body)
        if not retry:
            return outcome
        status, _, error = outcome
        return status, None, f"{error} (after {self.retries + 1} attempts)"

    def _attempt(self, body: dict[str, str]) -> tuple[tuple[str, bytes | None, str | None], bool]:
        """One POST: its outcome and whether another attempt may help."""
        try:
            response = self.client.post(f"/{self.name}", json=body)
        except httpx.TimeoutException as exc:
            return ("timeout", None, f"timed out: {type(exc).__name__}"), True
        except httpx.TransportError as exc:
            return ("error", None, f"transport: {type(exc).__name__}: {exc}"), True
        code = response.status_code
        if code == HTTP_OK:
            return ("ok", response.content, None), False
        if code == HTTP_NOT_FOUND:
            return ("no_record", None, None), False
        retry = code >= HTTP_SERVER_ERROR_MIN or code in RETRYABLE_STATUS_CODES
        return ("error", None, f"HTTP {code}"), retry
