"""An azure-core transport that answers from the in-memory workspace instead of the network.

It subclasses the real `RequestsTransport` and only swaps the `requests` adapter, so the
responses the SDK sees are built by the same code as in production (streaming, error
mapping, `RestRequestsTransportResponse` for the newer generated clients). A test can inject
faults, or replay a recorded answer for a route (`replay`), ahead of the workspace.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
import urllib3
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


@dataclass(frozen=True)
class Recorded:
    method: str
    url: str
    host: str
    path: str
    query: dict[str, str]
    body: bytes
    status: int
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def response_json(self) -> Any:
        return json.loads(self.response_body) if self.response_body else None


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
        data = json.dumps(payload).encode()
        return cls(status, data, {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def error(cls, status: int, code: str, message: str) -> Reply:
        return cls.json(status, {"error": {"code": code, "message": message}})


@dataclass
class Fault:
    """One injected misbehaviour, matched on method and a path fragment.

    `status` replaces the answer; with `after_processing` the workspace still applies the
    request first (the answer is lost on the way back, the worst case for duplicates).
    `delay_seconds` blocks the calling thread like a slow or stuck endpoint.
    """

    method: str | None
    path_contains: str
    status: int | None = None
    delay_seconds: float = 0.0
    times: int = 1
    after_processing: bool = False
    retry_after: str | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.hits >= self.times:
            return False
        return (self.method is None or self.method == method) and self.path_contains in path


@dataclass
class Canned:
    """A recorded answer replayed for every request matching method and path ending."""

    method: str
    path_ends_with: str
    reply: Reply

    def matches(self, method: str, path: str) -> bool:
        return self.method == method and path.endswith(self.path_ends_with)


Handler = Callable[[str, str, str, dict[str, str], bytes, Mapping[str, str]], Reply]


class _InProcessAdapter(BaseAdapter):
    def __init__(self, transport: FakeTransport) -> None:
        super().__init__()
        self._transport = transport

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        reply = self._transport.dispatch(request, read_timeout)
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(reply.body),
            headers={**reply.headers, "Content-Length": str(len(reply.body))},
            status=reply.status,
            preload_content=False,
            decode_content=False,
        )
        response = requests.Response()
        response.status_code = reply.status
        response.raw = raw
        response.headers = CaseInsensitiveDict(raw.headers)
        response.url = request.url or ""
        response.request = request
        response.reason = "fake"
        response.connection = self
        return response

    def close(self) -> None:
        pass


class FakeTransport(RequestsTransport):
    """Routes every request to `handler`; records it; applies injected faults."""

    def __init__(self, handler: Handler) -> None:
        session = requests.Session()
        self.adapter = _InProcessAdapter(self)
        session.mount("https://", self.adapter)
        session.mount("http://", self.adapter)
        super().__init__(session=session, session_owner=False)
        self._handler = handler
        self._lock = threading.Lock()
        self.log: list[Recorded] = []
        self.faults: list[Fault] = []
        self.canned: list[Canned] = []

    # -- assertions helpers -------------------------------------------------------------
    def requests(self, method: str | None = None, path_contains: str = "") -> list[Recorded]:
        with self._lock:
            return [r for r in self.log if (method is None or r.method == method) and path_contains in r.path]

    def clear(self) -> None:
        with self._lock:
            self.log.clear()

    @contextmanager
    def recording(self) -> Iterator[list[Recorded]]:
        """The requests made inside the block."""
        with self._lock:
            start = len(self.log)
        captured: list[Recorded] = []
        try:
            yield captured
        finally:
            with self._lock:
                captured.extend(self.log[start:])

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def replay(self, method: str, path_ends_with: str, reply: Reply) -> None:
        """Answer matching requests with `reply` (a recorded answer) instead of the handler;
        the latest one given for a path wins."""
        with self._lock:
            self.canned.insert(0, Canned(method, path_ends_with, reply))

    # -- the adapter's entry point ----------------------------------------------------------
    def dispatch(self, request: requests.PreparedRequest, read_timeout: float | None) -> Reply:
        method = request.method or "GET"
        parts = urlsplit(request.url or "")
        host, path = parts.hostname or "", parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        body = _body_bytes(request.body)
        fault = self._take_fault(method, path)
        if fault is not None and fault.delay_seconds:
            if read_timeout is not None and fault.delay_seconds > read_timeout:
                time.sleep(read_timeout)
                self._record(method, request.url or "", host, path, query, body, Reply(0))
                raise requests.exceptions.ReadTimeout(f"fake: no answer within {read_timeout}s")
            time.sleep(fault.delay_seconds)
        canned = next((c for c in self.canned if c.matches(method, path)), None)
        if canned is not None:
            reply = canned.reply
        elif fault is not None and fault.status is not None and not fault.after_processing:
            reply = _fault_reply(fault)
        else:
            reply = self._handler(method, host, path, query, body, request.headers)
            if fault is not None and fault.status is not None:
                reply = _fault_reply(fault)
        self._record(method, request.url or "", host, path, query, body, reply)
        return reply

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    def _record(
        self, method: str, url: str, host: str, path: str, query: dict[str, str], body: bytes, reply: Reply
    ) -> None:
        recorded = Recorded(
            method, url, host, path, query, body, reply.status, dict(reply.headers), reply.body
        )
        with self._lock:
            self.log.append(recorded)


def _fault_reply(fault: Fault) -> Reply:
    from .arm import error  # arm builds on Reply

    status = fault.status or 500
    code = "TooManyRequests" if status == 429 else "ServiceUnavailable"
    reply = error(status, code, f"fake: injected {status}")
    if fault.retry_after:
        reply.headers["Retry-After"] = fault.retry_after
    return reply


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    if hasattr(body, "read"):
        return bytes(body.read())
    # an iterable of chunks (streamed uploads)
    return b"".join(chunk if isinstance(chunk, bytes) else str(chunk).encode() for chunk in body)
