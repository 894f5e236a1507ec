"""Body size limits: 413 problem+json, decided while the body streams, never after reading it all."""

from __future__ import annotations

import http.client
import json
import select
import socket
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from app.api.limits import MULTIPART_OVERHEAD
from tests.support.auth import api_keys_setting, key_headers
from tests.support.fakebackend import AppFactory
from tests.support.http import LiveServer

LIMIT = 4096
UPLOAD_LIMIT = 8192
ADMIN = key_headers("admin")


@pytest.fixture
def client(make_app: AppFactory) -> Iterator[TestClient]:
    built = make_app(
        auth_mode="api-key", api_keys=api_keys_setting(), max_body_bytes=LIMIT, max_upload_bytes=UPLOAD_LIMIT
    )
    with TestClient(built.app) as found:
        yield found


def assert_413(response: httpx.Response | http.client.HTTPResponse) -> None:
    status = response.status_code if isinstance(response, httpx.Response) else response.status
    assert status == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_declared_length_over_the_limit(client: TestClient) -> None:
    body = json.dumps({"kind": "job", "tags": {"pad": "x" * 500}, "pad": "y" * LIMIT})
    response = client.post(
        "/v1/training-runs", content=body, headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert_413(response)
    problem = response.json()
    assert problem["type"].endswith("/payload-too-large")
    assert "TRAINCTL_MAX_BODY_BYTES" in problem["detail"]


def test_small_bodies_pass(client: TestClient) -> None:
    assert client.post("/v1/training-runs", json={"kind": "job"}, headers=ADMIN).status_code == 202


def test_streamed_body_without_length(client: TestClient) -> None:
    chunks = (b" " * 1024 for _ in range(64))  # no Content-Length: counted as it arrives
    response = client.post(
        "/v1/training-runs", content=chunks, headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert_413(response)
    assert response.json()["type"].endswith("/payload-too-large")


def test_upload_with_declared_length_over_the_limit(client: TestClient) -> None:
    files = {"file": ("d.csv", b"x" * (UPLOAD_LIMIT + 200_000), "text/csv")}
    response = client.post("/v1/data-assets", data={"name": "big"}, files=files, headers=ADMIN)
    assert_413(response)


def stream_until_answered(port: int, head: bytes, chunk: bytes, most: int) -> tuple[bytes, int]:
    """Send a chunked body slowly until the server answers; return (answer, bytes sent).

    The pause after each chunk lets the server read it, so the byte count shows where the
    server decided, not how much the kernel's socket buffer could absorb."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head)
        for _ in range(most):
            readable, _, _ = select.select([connection], [], [], 0.05)
            if readable:
                break
            try:
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:  # the server hung up after answering
                break
            sent += len(chunk)
        answer = b""
        while data := connection.recv(65536):
            answer += data
            if b"\r\n\r\n" in answer and answer.endswith(b"}"):
                break
    return answer, sent


def request_head(path: str, content_type: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {ADMIN['X-API-Key']}\r\n"
        f"Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()


def test_streams_are_cut_off_on_a_real_socket(make_app: AppFactory) -> None:
    built = make_app(
        auth_mode="api-key", api_keys=api_keys_setting(), max_body_bytes=LIMIT, max_upload_bytes=UPLOAD_LIMIT
    )
    with LiveServer(built.app) as server:
        answer, sent = stream_until_answered(
            server.port, request_head("/v1/training-runs", "application/json"), b" " * 1024, most=2000
        )
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"application/problem+json" in answer
        assert sent <= LIMIT + 4 * 1024, f"{sent} bytes went in before the answer"

        boundary = "b0undary"
        head = request_head("/v1/data-assets", f"multipart/form-data; boundary={boundary}")
        preamble = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nbig\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.csv"\r\n\r\n'
        ).encode()
        head += b"%x\r\n%s\r\n" % (len(preamble), preamble)
        answer, sent = stream_until_answered(server.port, head, b"1," * 4096, most=5000)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"TRAINCTL_MAX_UPLOAD_BYTES" in answer
        assert sent <= UPLOAD_LIMIT + MULTIPART_OVERHEAD + 4 * 8192, f"{sent} bytes went in before the answer"

        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request(
            "POST",
            "/v1/training-runs",
            body=b" " * (LIMIT + 1),
            headers={**ADMIN, "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        assert_413(response)
        connection.close()
