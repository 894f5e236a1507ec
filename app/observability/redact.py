"""Keeps credentials out of log lines, whatever a caller or a library puts in them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"authorization|api[-_]?key|password|passwd|secret|token|cookie|credential|signature", re.IGNORECASE
)
# Header-shaped text ("Authorization: Bearer abc", "x-api-key=abc") inside a message.
_HEADER_TEXT = re.compile(
    r"(?P<name>authorization|x-api-key|api[-_]?key)(?P<sep>[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?:bearer|basic)\s+)?[^\s,;\"'}]+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(bearer)\s+[A-Za-z0-9._~+/=\-]+", re.IGNORECASE)
# A JWT is recognisable on its own ("eyJ" is base64url for '{"'), even with no header name near it.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*")


def is_secret_key(key: object) -> bool:
    if isinstance(key, bytes):
        key = key.decode("latin-1")
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


def redact_text(text: str) -> str:
    text = _HEADER_TEXT.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", text)
    text = _BEARER.sub(lambda m: f"{m[1]} {MASK}", text)
    return _JWT.sub(MASK, text)


def redact_value(key: object, value: Any) -> Any:
    """The value of one log field, with secrets masked by field name and by shape."""
    if is_secret_key(key):
        return MASK
    if isinstance(value, Mapping):
        return {k: redact_value(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # Raw ASGI headers are [(name, value), ...]: judge each pair by its name.
        if all(isinstance(item, list | tuple) and len(item) == 2 for item in value):
            return [[_text(name), redact_value(name, inner)] for name, inner in value]
        return [redact_value(None, item) for item in value]
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    if isinstance(value, str):
        return redact_text(value)
    return value


def _text(value: object) -> object:
    return value.decode("latin-1") if isinstance(value, bytes) else value
