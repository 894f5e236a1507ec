"""The request id: taken from the caller when it is safe to echo and log, otherwise made here."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
MAX_LENGTH = 128

# The id goes into a response header and every log line, so a caller-supplied value must not
# be able to split a header (CR/LF), forge JSON or log fields, or bloat each line: a UUID,
# ULID, W3C trace id or "service-1234" passes; anything else is replaced, never repaired.
_SAFE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:\-]{{0,{MAX_LENGTH - 1}}}")

REQUEST_ID: ContextVar[str | None] = ContextVar("trainctl_request_id", default=None)


def accept_request_id(raw: bytes | None) -> str | None:
    """The caller's id when it is sane, else None (the caller then gets a fresh one)."""
    if raw is None or len(raw) > MAX_LENGTH:
        return None
    try:
        value = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    return value if _SAFE.fullmatch(value) else None


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request this code runs for, or None outside a request."""
    return REQUEST_ID.get()
