"""Request body size limits, enforced while the body streams in.

A declared Content-Length over the limit is refused before a byte of the body is read; a
body without one (chunked) is counted as it arrives and cut off at the limit, so neither
memory nor the upload spool ever holds more than the limit.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import problem_for
from app.domain.errors import PayloadTooLarge

# Multipart framing and the small form fields around the file.
MULTIPART_OVERHEAD = 64 * 1024


class BodyTooLarge(PayloadTooLarge, HTTPException):
    """A PayloadTooLarge that is also an HTTPException: FastAPI re-raises HTTPExceptions met while
    reading a body (anything else becomes a 400), and the domain-error handler, earlier in the
    MRO, renders it as problem+json."""

    def __init__(self, limit: int, setting: str) -> None:
        detail = f"the request body is larger than the {limit} byte limit ({setting})"
        PayloadTooLarge.__init__(self, detail, invalid=[("body", "too large")])
        self.status_code = 413
        self.headers: dict[str, str] = {}


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    def _limit(self, headers: Headers) -> tuple[int, str]:
        if headers.get("content-type", "").lower().startswith("multipart/form-data"):
            return self.max_upload_bytes + MULTIPART_OVERHEAD, "TRAINCTL_MAX_UPLOAD_BYTES"
        return self.max_body_bytes, "TRAINCTL_MAX_BODY_BYTES"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit, setting = self._limit(headers)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            response = problem_for(
                BodyTooLarge(limit, setting), Request(scope), headers={"Connection": "close"}
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, setting)
            return message

        await self.app(scope, counted, send)
