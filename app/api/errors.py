"""One error hierarchy, one set of handlers: every 4xx/5xx is RFC 9457 problem+json."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.backends.base import BackendError

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


class ApiError(Exception):
    status = 500
    slug = "internal-error"
    title = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        invalid: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.invalid = invalid or []
        self.headers = headers or {}
        self.extra = extra or {}


class NotFound(ApiError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(ApiError):
    status, slug, title = 409, "conflict", "Conflict"


class IdempotencyKeyReused(ApiError):
    status, slug, title = 409, "idempotency-key-reused", "Idempotency-Key reused with a different body"


class NotFinished(ApiError):
    status, slug, title = 409, "run-not-finished", "Run not finished"


class InvalidInput(ApiError):
    status, slug, title = 422, "invalid-input", "Invalid input"


class PayloadTooLarge(ApiError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class TooManyRuns(ApiError):
    status, slug, title = 429, "queue-full", "Too many queued runs"


class Unauthorized(ApiError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(ApiError):
    status, slug, title = 403, "forbidden", "Not allowed for this role"


class BackendUnavailable(ApiError):
    status, slug, title = 503, "backend-unavailable", "Training backend unavailable"


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
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return problem_response(
            error.status,
            error.slug,
            error.title,
            error.detail,
            request,
            invalid=error.invalid,
            headers=error.headers,
            extra=error.extra,
        )

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

    @app.exception_handler(BackendError)
    async def _backend(request: Request, error: BackendError) -> JSONResponse:
        return problem_response(
            503 if error.transient else 502,
            "backend-error",
            "Training backend error",
            str(error),
            request,
            headers={"Retry-After": "5"} if error.transient else None,
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


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem+json answers."""
    descriptions = {
        401: "Missing or invalid credentials",
        403: "The caller's role does not allow this",
        404: "Not found",
        409: "Conflict",
        413: "Payload too large",
        422: "Invalid input: `invalid-params` names each bad field",
        429: "Too many queued runs; retry after `Retry-After` seconds",
        502: "The training backend failed",
        503: "The training backend is unavailable",
    }
    return {
        s: {"model": Problem, "description": descriptions.get(s, "Error"), "content": {PROBLEM_JSON: {}}}
        for s in statuses
    }
