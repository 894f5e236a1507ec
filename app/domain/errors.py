"""One error hierarchy for every layer. Each error carries a stable ``code`` and ``title``
(the machine-readable problem type); only ``app/api/errors.py`` decides the HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Something the caller can act on: the detail says what happened and how to fix it."""

    code = "internal-error"
    title = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        invalid: list[tuple[str, str]] | None = None,
        retry_after: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        #: (field, reason) pairs, the field named as the caller sent it, e.g. body.path.
        self.invalid = invalid or []
        #: Seconds after which a retry may succeed.
        self.retry_after = retry_after
        self.extra = extra or {}


class NotFound(DomainError):
    code, title = "not-found", "Not found"


class Conflict(DomainError):
    code, title = "conflict", "Conflict"


class IdempotencyKeyReused(Conflict):
    code, title = "idempotency-key-reused", "Idempotency-Key reused with a different body"


class NotFinished(Conflict):
    code, title = "run-not-finished", "Run not finished"


class InvalidInput(DomainError):
    code, title = "invalid-input", "Invalid input"


class PayloadTooLarge(DomainError):
    code, title = "payload-too-large", "Payload too large"


class TooManyRuns(DomainError):
    code, title = "queue-full", "Too many queued runs"


class Unauthorized(DomainError):
    code, title = "unauthorized", "Authentication required"

    def __init__(self, detail: str, *, challenge: str) -> None:
        super().__init__(detail)
        #: How to authenticate (the scheme and where the credential goes).
        self.challenge = challenge


class Forbidden(DomainError):
    code, title = "forbidden", "Not allowed for this role"


class Unavailable(DomainError):
    code, title = "backend-unavailable", "Training backend unavailable"


class BackendError(DomainError):
    """A training backend failure; ``transient`` ones (throttling, timeouts, 5xx) are retried."""

    code, title = "backend-error", "Training backend error"

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message, retry_after=5 if transient else None)
        self.transient = transient
