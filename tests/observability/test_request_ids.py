"""X-Request-ID through the started service: echoed, generated, sanitised, and in the access log."""

from __future__ import annotations

import re

import pytest

from app.observability.requestid import accept_request_id
from tests.observability.conftest import LogLines
from tests.support.asgi import AppThread

GENERATED = re.compile(r"[0-9a-f]{32}")


def access_lines(lines: LogLines, request_id: str) -> list[dict[str, object]]:
    return [
        line for line in lines() if line["logger"] == "trainctl.access" and line["request_id"] == request_id
    ]


def test_caller_id_round_trips_into_the_access_line(
    observed: AppThread, json_logs: tuple[object, LogLines]
) -> None:
    _, lines = json_logs
    response = observed.get(
        "/v1/training-runs", params={"limit": 1}, headers={"X-Request-ID": "ci-build.42:step-7"}
    )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "ci-build.42:step-7"
    [line] = access_lines(lines, "ci-build.42:step-7")
    assert line["level"] == "INFO"
    assert line["method"] == "GET"
    assert line["route"] == "/v1/training-runs"
    assert line["path"] == "/v1/training-runs"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert {"time", "message"} <= line.keys()


def test_an_id_is_generated_when_absent(observed: AppThread, json_logs: tuple[object, LogLines]) -> None:
    _, lines = json_logs
    first = observed.get("/v1/training-runs/does-not-exist")
    second = observed.get("/v1/training-runs/does-not-exist")
    assert first.status_code == 404
    assert GENERATED.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    [line] = access_lines(lines, first.headers["X-Request-ID"])
    assert line["status"] == 404
    assert line["route"] == "/v1/training-runs/{run_id}"


HOSTILE: list[str | bytes] = [
    "",
    "a" * 129,
    "has space",
    "semi;colon",
    "<script>alert(1)</script>",
    '"},"level":"CRITICAL',
    "../../etc/passwd",
    "-starts-with-dash",
    b"\xc3\xa9t\xc3\xa9",
    "x\r\nSet-Cookie: session=stolen",
    "tab\there",
]


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_ids_are_replaced(observed: AppThread, hostile: str | bytes) -> None:
    response = observed.get("/healthz", headers={"X-Request-ID": hostile})
    assert response.status_code == 200
    assert response.headers.get_list("X-Request-ID") == [response.headers["X-Request-ID"]]
    assert GENERATED.fullmatch(response.headers["X-Request-ID"])
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "raw",
    [b"0f8fad5b-d9cb-469f-a165-70867728950e", b"01ARZ3NDEKTSV4RRFFQ69G5FAV", b"req_1", b"a" * 128],
)
def test_ordinary_ids_are_kept(raw: bytes) -> None:
    assert accept_request_id(raw) == raw.decode()


def test_no_credential_reaches_the_log(observed: AppThread, json_logs: tuple[object, LogLines]) -> None:
    buffer, _ = json_logs
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtc3ViamVjdCJ9.c2lnbmF0dXJlLXNlY3JldA"
    secrets = {
        "Authorization": f"Bearer {jwt}",
        "X-API-Key": "key-sekrit-7Qx9",
        "Cookie": "session=cookie-sekrit-5Zt2",
    }
    observed.get("/v1/training-runs", params={"api_key": "query-sekrit-3Lm8"}, headers=secrets)
    observed.get("/v1/training-runs/missing", headers=secrets)
    observed.post("/v1/training-runs", json={"kind": "nonsense"}, headers=secrets)
    text = buffer.getvalue()  # type: ignore[attr-defined]
    assert "trainctl.access" in text
    for leaked in (jwt, "eyJhbGciOiJSUzI1NiJ9", "key-sekrit-7Qx9", "cookie-sekrit-5Zt2", "query-sekrit-3Lm8"):
        assert leaked not in text
