"""Domain errors to HTTP: every 4xx/5xx is RFC 9457 problem+json, and this module is the only
place that knows which status a domain error is."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.domain.errors import (
    BackendError,
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    TooManyRuns,
    Unauthorized,
    Unavailable,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://trainctl.dev/problems/"


class InvalidParam(BaseModel):
    name: str = Field(description="Dotted path of the offending field, e.g. body.hyperparameters.reg_rate")
    reason: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    invalid_params: list[InvalidParam] | None = Field(default=None, alias="invalid-params")

    model_config = {"populate_by_name": True}


#: The HTTP status of each domain error (found along the error's class hierarchy).
STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    PayloadTooLarge: 413,
    TooManyRuns: 429,
    Unauthorized: 401,
    Forbidden: 403,
    Unavailable: 503,
}


def status_of(error: DomainError) -> int:
    if isinstance(error, BackendError):
        return 503 if error.transient else 502
    for klass in type(error).__mro__:
        if klass in STATUS:
            return STATUS[klass]
    return 500


def problem_for(
    error: DomainError, request: Request, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A domain error as RFC 9457 problem+json: the one place domain errors become HTTP."""
    extra_headers = dict(headers or {})
    if error.retry_after is not None:
        extra_headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, Unauthorized):
        extra_headers["WWW-Authenticate"] = error.challenge
    return problem_response(
        status_of(error),
        error.code,
        error.title,
        error.detail,
        request,
        invalid=error.invalid,
        headers=extra_headers or None,
        extra=error.extra,
    )


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str | None,
    request: Request,
    *,
    invalid: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if invalid:
        body["invalid-params"] = [{"name": n, "reason": r} for n, r in invalid]
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, error: DomainError) -> JSONResponse:
        return problem_for(error, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        invalid = []
        for item in error.errors():
            loc = tuple(item.get("loc", ()))
            message = str(item.get("msg", "invalid"))
            if item.get("type") == "extra_forbidden":
                message = "unknown field: remove it (see the schema at /docs)"
            elif item.get("type") == "json_invalid":
                message = "the body is not valid JSON"
            invalid.append((_field_name(loc), message))
        names = ", ".join(sorted({n for n, _ in invalid})) or "the request"
        return problem_response(
            422, "validation-error", "Invalid request", f"Fix these fields: {names}", request, invalid=invalid
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        slug = {
            400: "bad-request",
            401: "unauthorized",
            403: "forbidden",
            404: "not-found",
            405: "method-not-allowed",
        }.get(error.status_code, "http-error")
        title = {400: "Bad request", 404: "Not found", 405: "Method not allowed"}.get(
            error.status_code, "HTTP error"
        )
        return problem_response(
            error.status_code, slug, title, str(error.detail), request, headers=dict(error.headers or {})
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            500,
            "internal-error",
            "Internal error",
            "An unexpected error occurred; see the service log.",
            request,
        )


#: One example answer per status, for the OpenAPI document (typed clients show them).
EXAMPLES: dict[int, tuple[str, str, str]] = {
    400: ("bad-request", "Bad request", "the body could not be decoded"),
    401: ("unauthorized", "Authentication required", "this endpoint needs credentials: send an API key"),
    403: ("forbidden", "Not allowed for this role", "POST /v1/training-runs needs the 'submitter' role"),
    404: ("not-found", "Not found", "no training run 'run-20261130-0001'"),
    409: ("conflict", "Conflict", "run run-20261130-0001 already ended completed"),
    413: ("payload-too-large", "Payload too large", "the request body is larger than the 1048576 byte limit"),
    422: ("validation-error", "Invalid request", "Fix these fields: body.hyperparameters.reg_rate"),
    429: ("queue-full", "Too many queued runs", "200 runs are already queued or running; retry later"),
    500: ("internal-error", "Internal error", "An unexpected error occurred; see the service log."),
    502: ("backend-error", "Training backend error", "the workspace refused the job"),
    503: ("backend-unavailable", "Training backend unavailable", "Azure ML answered 503; retry shortly"),
}


def problem_example(status: int) -> dict[str, Any]:
    slug, title, detail = EXAMPLES.get(status, ("http-error", "HTTP error", "see detail"))
    example: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": "/v1/training-runs",
    }
    if status == 422:
        example["invalid-params"] = [{"name": "body.hyperparameters.reg_rate", "reason": "must be > 0"}]
    return example


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem+json answers, each with an example."""
    descriptions = {
        400: "The body could not be parsed",
        401: "Missing or invalid credentials",
        403: "The caller's role does not allow this",
        404: "Not found",
        409: "Conflict",
        413: "Payload too large",
        422: "Invalid input: `invalid-params` names each bad field",
        429: "Too many queued runs; retry after `Retry-After` seconds",
        500: "An unexpected error; the service log has the details (same `X-Request-ID`)",
        502: "The training backend failed",
        503: "The training backend is unavailable",
    }
    return {
        s: {
            "model": Problem,
            "description": descriptions.get(s, "Error"),
            "content": {PROBLEM_JSON: {"example": problem_example(s)}},
        }
        for s in statuses
    }


def declare_problem_schema(document: dict[str, Any]) -> dict[str, Any]:
    """Put the Problem schema where the answers really are: FastAPI files a response model
    under the route's media type (`application/json`, `text/event-stream`), but 4xx/5xx
    bodies are `application/problem+json`, and a typed client only parses a body whose media
    type has a schema."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if not status.isdigit() or int(status) < 400 or PROBLEM_JSON not in content:
                    continue
                for media_type in [m for m in content if m != PROBLEM_JSON]:
                    declared = content.pop(media_type)
                    if "schema" in declared:
                        content[PROBLEM_JSON]["schema"] = declared["schema"]
    return document
