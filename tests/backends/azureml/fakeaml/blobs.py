"""The blob side of a code upload: HEAD (exists?), PUT (upload), PUT ?comp=metadata (confirm)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .transport import Reply

_LAST_MODIFIED = "Wed, 01 Jan 2025 12:00:00 GMT"


@dataclass
class Blob:
    data: bytes
    metadata: dict[str, str] = field(default_factory=dict)


class BlobStore:
    def __init__(self, missing: Callable[[str, str], Reply]) -> None:
        self.blobs: dict[str, Blob] = {}
        self._missing = missing

    def forbidden(self) -> Reply:
        """Storage refusing a write for want of a data role (identity-based access)."""
        body = (
            b'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthorizationPermissionMismatch</Code>'
            b"<Message>This request is not authorized to perform this operation using this permission."
            b"</Message></Error>"
        )
        headers = {"x-ms-error-code": "AuthorizationPermissionMismatch", "Content-Type": "application/xml"}
        return Reply(403, body, {**headers, "x-ms-request-id": str(uuid.uuid4())})

    def handle(
        self, method: str, path: str, query: dict[str, str], body: bytes, headers: Mapping[str, str]
    ) -> Reply:
        key = path.lstrip("/")
        comp = query.get("comp")
        meta = {k[len("x-ms-meta-") :]: v for k, v in headers.items() if k.lower().startswith("x-ms-meta-")}
        common = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-version": "2025-01-05"}
        if method == "PUT" and comp is None:
            self.blobs[key] = Blob(body, meta)
            return Reply(201, b"", {**common, "ETag": '"0x1"', "Last-Modified": _LAST_MODIFIED})
        blob = self.blobs.get(key)
        if method in ("PUT", "HEAD") and comp in (None, "metadata") and blob is None:
            # storage reports the reason in a header; the SDK maps BlobNotFound to ResourceNotFoundError
            return Reply(404, b"", {**common, "x-ms-error-code": "BlobNotFound"})
        if method == "PUT" and comp == "metadata" and blob is not None:
            blob.metadata = meta
            return Reply(200, b"", {**common, "ETag": '"0x2"', "Last-Modified": _LAST_MODIFIED})
        if method == "HEAD" and comp is None and blob is not None:
            meta_headers = {f"x-ms-meta-{k}": v for k, v in blob.metadata.items()}
            headers_out = {**common, **meta_headers, "x-ms-blob-type": "BlockBlob"}
            return Reply(200, b"", {**headers_out, "Last-Modified": _LAST_MODIFIED, "ETag": '"0x1"'})
        return self._missing(method, f"blob{path}?{comp or ''}")
