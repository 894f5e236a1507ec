"""Completion callbacks against a real HTTP receiver on 127.0.0.1 (allowlisted explicitly)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.lifecycle.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.support.auth import CALLBACK_SECRET, api_keys_setting, key_headers
from tests.support.fakebackend import AppFactory
from tests.support.http import Receiver, wait_for

SUBMITTER = key_headers("submitter")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def callback_app(make_app: AppFactory, **overrides: Any) -> TestClient:
    settings: dict[str, Any] = {
        "auth_mode": "api-key",
        "api_keys": api_keys_setting(),
        "callback_allowlist": ["127.0.0.1:*"],
        "callback_allow_http": True,
        "callback_secret": CALLBACK_SECRET,
        "callback_backoff_seconds": 0.05,
    }
    settings.update(overrides)
    return TestClient(make_app(**settings).app)


def submit(client: TestClient, callback_url: str, kind: str = "pipeline") -> str:
    response = client.post(
        "/v1/training-runs", json={"kind": kind, "callback_url": callback_url}, headers=SUBMITTER
    )
    assert response.status_code == 202, response.text
    run_id: str = response.json()["id"]
    return run_id


def settled(client: TestClient, run_id: str, timeout: float = 15) -> dict[str, Any]:
    def state() -> dict[str, Any] | None:
        run: dict[str, Any] = client.get(f"/v1/training-runs/{run_id}", headers=SUBMITTER).json()
        return run if run["callback_state"] in ("delivered", "failed") else None

    found: dict[str, Any] = wait_for(state, timeout=timeout)
    return found


def documented_verifier() -> Any:
    """The verification snippet of docs/security.md, run as written."""
    text = DOCS.read_text()
    snippet = re.search(r"<!-- verify-snippet -->\s*```python\n(.*?)```", text, re.S)
    assert snippet, "docs/security.md lost its verification snippet"
    namespace: dict[str, Any] = {}
    exec(compile(snippet.group(1), str(DOCS), "exec"), namespace)
    return namespace["verify"]


def test_signed_retried_and_visible_on_the_run(make_app: AppFactory, receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    with callback_app(make_app) as client:
        run_id = submit(client, f"{receiver.url}/hooks/trainctl?team=ml")
        run = settled(client, run_id)

    assert run["callback_state"] == "delivered"
    attempts = run["callback_attempts"]
    assert [a["status_code"] for a in attempts] == [500, 503, 200]
    assert attempts[0]["error"] == "HTTP 500"
    assert attempts[-1]["error"] is None
    assert len(receiver.received) == 3  # one POST per attempt, nothing after delivery

    verify = documented_verifier()
    for request in receiver.received:
        assert request.path == "/hooks/trainctl?team=ml"
        assert verify(CALLBACK_SECRET, request.headers, request.body)
        expected = hmac.new(
            CALLBACK_SECRET.encode(),
            request.headers[TIMESTAMP_HEADER].encode() + b"." + request.body,
            hashlib.sha256,
        ).hexdigest()
        assert request.headers[SIGNATURE_HEADER] == f"sha256={expected}"
        assert not verify("another-secret-entirely-000000", request.headers, request.body)
        assert not verify(CALLBACK_SECRET, request.headers, request.body.replace(b"completed", b"failed"))

    body = json.loads(receiver.received[-1].body)
    assert body["run_id"] == run_id
    assert body["status"] == "completed"
    assert body["kind"] == "pipeline"
    assert body["model_name"] == "diabetes-classifier"
    assert body["outcome"]["deploy"] is True


def test_stale_timestamps_fail_verification(make_app: AppFactory, receiver: Receiver) -> None:
    with callback_app(make_app) as client:
        settled(client, submit(client, f"{receiver.url}/hook", kind="job"))
    request = receiver.received[0]
    verify = documented_verifier()
    assert verify(CALLBACK_SECRET, request.headers, request.body)
    old = dict(request.headers)
    old[TIMESTAMP_HEADER] = str(int(time.time()) - 3600)
    assert not verify(CALLBACK_SECRET, old, request.body)


def test_bounded_attempts_then_failed(make_app: AppFactory, receiver: Receiver) -> None:
    receiver.default_status = 500
    with callback_app(make_app, callback_max_attempts=3) as client:
        run = settled(client, submit(client, f"{receiver.url}/hook", kind="job"))
    assert run["callback_state"] == "failed"
    assert len(run["callback_attempts"]) == 3 == len(receiver.received)


def test_redirects_are_not_followed(make_app: AppFactory, receiver: Receiver) -> None:
    receiver.default_status = 302  # Location points at a cloud metadata address
    with callback_app(make_app, callback_max_attempts=2) as client:
        run = settled(client, submit(client, f"{receiver.url}/hook", kind="job"))
    assert run["callback_state"] == "failed"
    assert "redirects are not followed" in run["callback_attempts"][0]["error"]
    assert len(receiver.received) == 2


def test_pending_callbacks_resume_after_a_restart(make_app: AppFactory, receiver: Receiver) -> None:
    receiver.default_status = 500
    with callback_app(make_app, callback_backoff_seconds=300) as client:
        run_id = submit(client, f"{receiver.url}/hook", kind="job")
        wait_for(lambda: receiver.received)
        wait_for(
            lambda: client.get(f"/v1/training-runs/{run_id}", headers=SUBMITTER).json()["callback_attempts"]
        )
    # Stopped mid-backoff: still pending, one attempt recorded.
    receiver.default_status = 204
    with callback_app(make_app, callback_backoff_seconds=0.01) as client:
        run = settled(client, run_id)
    assert run["callback_state"] == "delivered"
    assert [a["status_code"] for a in run["callback_attempts"]] == [500, 204]


def test_cancel_calls_back(make_app: AppFactory, receiver: Receiver) -> None:
    with callback_app(make_app) as client:
        client.app.state.services.backend.hold_all = True  # type: ignore[attr-defined]
        run_id = submit(client, f"{receiver.url}/hook", kind="job")
        wait_for(
            lambda: client.get(f"/v1/training-runs/{run_id}", headers=SUBMITTER).json()["status"] == "running"
        )
        assert client.post(f"/v1/training-runs/{run_id}/cancel", headers=SUBMITTER).status_code == 202
        settled(client, run_id)
    assert json.loads(receiver.received[0].body)["status"] == "canceled"


def test_runs_ended_outside_the_reconciler_are_swept_up(make_app: AppFactory, receiver: Receiver) -> None:
    from app.domain.status import RunStatus

    with callback_app(make_app) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        services.backend.hold_all = True
        run_id = submit(client, f"{receiver.url}/hook", kind="job")
        wait_for(
            lambda: client.get(f"/v1/training-runs/{run_id}", headers=SUBMITTER).json()["status"] == "running"
        )
        # What cancel-before-start does: end the run in the store, no reconciler hook.
        services.store.runs.finish(run_id, RunStatus.CANCELED, "Canceled", "canceled before it started")
    assert receiver.received == []
    with callback_app(make_app) as client:  # the start-up sweep finds it
        assert settled(client, run_id)["callback_state"] == "delivered"
    assert json.loads(receiver.received[0].body)["status"] == "canceled"


def test_host_not_on_the_allowlist_is_a_422(make_app: AppFactory) -> None:
    with callback_app(make_app, callback_allowlist=["hooks.example.com", "*.ci.example.com"]) as client:
        for url in (
            "http://evil.example.net/hook",
            "http://hooks.example.com.evil.net/",
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:8000/v1/training-runs",
            "http://[::1]/",
            "http://ci.example.com/",
        ):
            response = client.post(
                "/v1/training-runs", json={"kind": "job", "callback_url": url}, headers=SUBMITTER
            )
            assert response.status_code == 422, url
            assert response.json()["invalid-params"][0]["name"] == "body.callback_url"
        allowed = client.post(
            "/v1/training-runs",
            json={"kind": "job", "callback_url": "https://build.ci.example.com/done"},
            headers=SUBMITTER,
        )
        assert allowed.status_code == 202
        with_password = client.post(
            "/v1/training-runs",
            json={"callback_url": "https://user:pw@hooks.example.com/"},
            headers=SUBMITTER,
        )
        assert with_password.status_code == 422


def test_callbacks_are_refused_when_no_allowlist_is_set(make_app: AppFactory) -> None:
    with TestClient(make_app().app) as client:
        response = client.post("/v1/training-runs", json={"callback_url": "https://hooks.example.com/"})
    assert response.status_code == 422
    assert "disabled" in response.json()["detail"]
    assert response.json()["invalid-params"][0]["name"] == "body.callback_url"


def test_a_name_resolving_to_loopback_is_refused_before_sending(
    make_app: AppFactory, receiver: Receiver
) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    # "localhost" is on the list by name, but the address it resolves to is not.
    with callback_app(make_app, callback_allowlist=[f"localhost:{port}"]) as client:
        run = settled(client, submit(client, f"http://localhost:{port}/hook", kind="job"))
    assert run["callback_state"] == "failed"
    assert len(run["callback_attempts"]) == 1  # a refusal is final, not retried
    assert "loopback" in run["callback_attempts"][0]["error"]
    assert receiver.received == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook"])
def test_connection_errors_are_recorded(make_app: AppFactory, url: str) -> None:
    with callback_app(make_app, callback_max_attempts=2) as client:
        run = settled(client, submit(client, url, kind="job"))
    assert run["callback_state"] == "failed"
    assert all(a["status_code"] is None and "Connect" in a["error"] for a in run["callback_attempts"])


def test_an_overlong_callback_url_is_refused_before_it_is_stored(make_app: AppFactory) -> None:
    with callback_app(make_app, callback_allowlist=["hooks.example.com"]) as client:
        url = "https://hooks.example.com/" + "a" * 2100
        response = client.post(
            "/v1/training-runs", json={"kind": "job", "callback_url": url}, headers=SUBMITTER
        )
        assert response.status_code == 422
        assert response.json()["invalid-params"][0]["name"] == "body.callback_url"
        assert len(response.content) < 4096  # the URL is not echoed back whole
        assert client.get("/v1/training-runs", headers=SUBMITTER).json()["items"] == []
