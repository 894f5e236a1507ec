"""Callers do not share idempotency keys and cannot starve each other's share of the queue."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.support.auth import api_keys_setting, key_headers
from tests.support.fakebackend import AppFactory

SUBMITTER, ADMIN = key_headers("submitter"), key_headers("admin")


def post(client: TestClient, headers: dict[str, str], body: dict[str, Any], key: str | None = None) -> Any:
    extra = {"Idempotency-Key": key} if key else {}
    return client.post("/v1/training-runs", json=body, headers={**headers, **extra})


def test_the_same_key_from_another_caller_is_another_run(make_app: AppFactory) -> None:
    built = make_app(auth_mode="api-key", api_keys=api_keys_setting())
    with TestClient(built.app) as client:
        mine = post(client, SUBMITTER, {"kind": "job"}, key="nightly")
        theirs = post(client, ADMIN, {"kind": "pipeline"}, key="nightly")
        assert (mine.status_code, theirs.status_code) == (202, 202)
        assert mine.json()["id"] != theirs.json()["id"]
        assert mine.json()["submitted_by"] != theirs.json()["submitted_by"]
        again = post(client, SUBMITTER, {"kind": "job"}, key="nightly")
        assert again.json()["id"] == mine.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
        conflict = post(client, SUBMITTER, {"kind": "pipeline"}, key="nightly")
        assert conflict.status_code == 409
        assert conflict.json()["run_id"] == mine.json()["id"]
        assert theirs.json()["id"] not in conflict.text  # nothing of the other caller's run


def test_one_caller_cannot_fill_the_whole_queue(make_app: AppFactory) -> None:
    built = make_app(
        auth_mode="api-key", api_keys=api_keys_setting(), max_queued_runs=4, max_queued_runs_per_caller=3
    )
    built.backend.hold_all = True  # runs stay running, so they count against the queue
    with TestClient(built.app) as client:
        assert [post(client, SUBMITTER, {"kind": "job"}).status_code for _ in range(3)] == [202] * 3
        refused = post(client, SUBMITTER, {"kind": "job"})
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
        assert (refused.json()["limit"], refused.json()["setting"]) == (
            "caller",
            "TRAINCTL_MAX_QUEUED_RUNS_PER_CALLER",
        )
        assert post(client, ADMIN, {"kind": "job"}).status_code == 202  # another caller still gets in
        full = post(client, ADMIN, {"kind": "job"})
        assert full.status_code == 429
        assert (full.json()["limit"], full.json()["setting"]) == ("service", "TRAINCTL_MAX_QUEUED_RUNS")


def test_without_auth_the_one_caller_has_the_whole_queue(make_app: AppFactory) -> None:
    built = make_app(max_queued_runs=3)
    built.backend.hold_all = True
    with TestClient(built.app) as client:
        assert [post(client, {}, {"kind": "job"}).status_code for _ in range(4)] == [202, 202, 202, 429]
