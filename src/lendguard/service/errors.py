"""problem+json (RFC 9457): how every refusal and failure leaves the service.

The domain raises :class:`lendguard.errors.LendGuardError` subclasses with stable ``code``s; this
module is the one place that turns a code into an HTTP status, so routes never pick statuses for
domain errors. A client gets ``type``, ``title``, ``status``, ``detail`` and ``code``; an unexpected
exception is logged here with its traceback and answered with a bare 500, because a stack trace
tells an attacker about the code and helps no legitimate caller.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lendguard.errors import LendGuardError

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://lendguard.dev/problems/"

logger = logging.getLogger("lendguard.service")

STATUS_BY_CODE: Mapping[str, int] = {
    # Nothing with that id.
    "unknown_account": 404,
    "unknown_product": 404,
    "unknown_api_key": 404,
    "not_found": 404,
    # The request is well formed but collides with what is stored or with the current state.
    "idempotency_conflict": 409,
    "concurrent_update": 409,
    "duplicate_request": 409,
    "duplicate_account": 409,
    "duplicate_application": 409,
    "account_state": 409,
    "invalid_review": 409,
    "eod_locked": 409,
    "missing_business_dates": 409,
    # The server's own configuration is broken: the caller can do nothing about it.
    "unsupported_database": 500,
    "unsupported_eod_database": 500,
    "invalid_underwriting_config": 500,
    "invalid_source_config": 500,
    "invalid_consent_config": 500,
    "invalid_affordability_config": 500,
    "invalid_policy": 500,
    "policy_column_mismatch": 500,
    "unknown_reason_code": 500,
    "invalid_pii_keys": 500,
    "model_tampered": 500,
    "invalid_model_file": 500,
}
"""HTTP status of each domain error code; any other ``LendGuardError`` is bad input (400)."""

BAD_INPUT_STATUS = 400

TITLES: Mapping[int, str] = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    500: "Internal server error",
}


class ProblemError(Exception):
    """A refusal the service layer itself decides (authentication, roles, missing headers)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def status_for(error: LendGuardError) -> int:
    """The HTTP status of a domain error, by its stable code."""
    return STATUS_BY_CODE.get(error.code, BAD_INPUT_STATUS)


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """One problem+json response; ``extra`` adds members such as validation ``errors``."""
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        **(extra or {}),
    }
    return JSONResponse(
        jsonable_encoder(body),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


async def _problem_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ProblemError)
    return problem_response(
        error.status, error.code, error.detail, headers=error.headers, extra=error.extra
    )


async def _domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, LendGuardError)
    status = status_for(error)
    if status >= 500:  # the server's fault: log it, tell the client nothing
        logger.error("%s %s refused by configuration: %s", request.method, request.url.path, error)
        return problem_response(500, "internal_error", "the server could not handle the request")
    return problem_response(status, error.code, error.message)


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"location": list(item.get("loc", ())), "message": item.get("msg", "invalid")}
        for item in error.errors()
    ]
    summary = "; ".join(
        f"{'.'.join(str(part) for part in item['location'])}: {item['message']}"
        for item in errors[:5]
    )
    return problem_response(422, "invalid_request", summary, extra={"errors": errors})


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    status = error.status_code
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, f"http_{status}")
    detail = error.detail if isinstance(error.detail, str) else TITLES.get(status, "Error")
    return problem_response(status, code, detail, headers=error.headers)


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(500, "internal_error", "the server could not handle the request")


def install_problem_handlers(app: FastAPI) -> None:
    """Route every refusal and failure of ``app`` through problem+json."""
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(LendGuardError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
