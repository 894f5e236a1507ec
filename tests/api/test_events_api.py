"""GET /v1/events over real uvicorn: what a run's life streams, resuming with Last-Event-ID
after a dropped connection, filters, keep-alives, the reader role, and a subscriber that fell
behind being told to reconnect."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fakebackend import AppFactory
from tests.support.http import LiveServer
from tests.support.server import ServiceProcess
from tests.support.sse import END, SseClient


@pytest.fixture
def server(make_app: AppFactory) -> Iterator[LiveServer]:
    with LiveServer(make_app(events_keepalive_seconds=0.3).app) as live:
        yield live


def submit(url: str, **body: object) -> str:
    answer = httpx.post(f"{url}/v1/training-runs", json={"kind": "pipeline", **body}, timeout=30)
    assert answer.status_code == 202, answer.text
    run_id: str = answer.json()["id"]
    return run_id


def test_a_pipeline_streams_creation_states_outcome_and_promotion(server: LiveServer) -> None:
    with SseClient(f"{server.url}/v1/events") as stream:
        assert stream.status_code == 200 and stream.content_type.startswith("text/event-stream")
        hello = stream.next()
        assert hello.retry is not None and hello.comments == ["connected"]
        run_id = submit(server.url, model_name="streamed")
        frames = stream.until(lambda f: f.event == "model.promoted")
    kinds = [f.event for f in frames]
    assert kinds[0] == "run.created" and kinds[-2:] == ["outcome.decided", "model.promoted"]
    assert "step.state" in kinds and kinds.count("run.state") >= 2
    documents = [f.json for f in frames]
    assert [d["id"] for d in documents] == [f.id for f in frames]
    assert all(d["run_id"] == run_id and d["kind"] == f.event for d, f in zip(documents, frames, strict=True))
    assert documents[0]["data"]["submitted_by"] == "local"
    final = [d for d in documents if d["kind"] == "run.state"][-1]
    assert final["data"]["status"] == "completed"
    assert documents[-1]["data"]["version"] == "1" and documents[-1]["model_name"] == "streamed"


def test_a_dropped_connection_resumes_with_last_event_id_and_misses_nothing(server: LiveServer) -> None:
    stream = SseClient(f"{server.url}/v1/events")
    first = submit(server.url, kind="job", model_name="resume")
    seen = stream.events(2)
    stream.close()  # the network drops here
    later = [submit(server.url, kind="job", model_name="resume") for _ in range(3)]
    httpx.get(f"{server.url}/v1/training-runs/{later[-1]}/wait", params={"timeout": 30})

    with SseClient(f"{server.url}/v1/events", headers={"Last-Event-ID": str(seen[-1].id)}) as resumed:
        rest = resumed.until(lambda f: f.event == "run.state" and f.json["data"]["status"] == "completed"
                             and f.json["run_id"] == later[-1])  # fmt: skip
    with SseClient(f"{server.url}/v1/events", params={"last_event_id": 0}) as everything:
        full = everything.until(lambda f: f.id == rest[-1].id)
    assert [f.id for f in seen + rest] == [f.id for f in full]
    assert {f.json["run_id"] for f in full} == {first, *later}


def test_filters_by_run_model_and_kind(server: LiveServer) -> None:
    a = submit(server.url, kind="job", model_name="filter-a")
    b = submit(server.url, kind="job", model_name="filter-b")
    for run in (a, b):
        httpx.get(f"{server.url}/v1/training-runs/{run}/wait", params={"timeout": 30})
    since = {"last_event_id": 0}
    with SseClient(f"{server.url}/v1/events", params={**since, "run_id": b}) as by_run:
        frames = by_run.until(lambda f: f.event == "run.state" and f.json["data"]["status"] == "completed")
        assert {f.json["run_id"] for f in frames} == {b}
    with SseClient(f"{server.url}/v1/events", params={**since, "model_name": "filter-a"}) as by_model:
        frames = by_model.until(lambda f: f.event == "run.state" and f.json["data"]["status"] == "completed")
        assert {f.json["model_name"] for f in frames} == {"filter-a"}
    params = {**since, "kind": ["run.created", "model.promoted"], "model_name": "filter-b"}
    with SseClient(f"{server.url}/v1/events", params=params) as by_kind:
        assert [f.event for f in by_kind.events(1)] == ["run.created"]
        assert by_kind.next(timeout=5).comments == ["keep-alive"]  # nothing else matches


def test_silence_is_filled_with_keep_alive_comments(server: LiveServer) -> None:
    with SseClient(f"{server.url}/v1/events") as stream:
        stream.next()
        assert stream.next(timeout=5).comments == ["keep-alive"]
        assert stream.next(timeout=5).comments == ["keep-alive"]


def test_bad_parameters_are_422_problems(server: LiveServer) -> None:
    for params, headers in (({"kind": "run.exploded"}, {}), ({}, {"Last-Event-ID": "yesterday"})):
        answer = httpx.get(f"{server.url}/v1/events", params=params, headers=headers, timeout=10)
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"


def test_a_subscriber_that_falls_behind_is_told_to_reconnect_and_loses_nothing(make_app: AppFactory) -> None:
    # Two events fit in a subscriber's buffer; a completed pipeline commits six at once.
    with LiveServer(make_app(events_buffer=2).app) as live:
        stream = SseClient(f"{live.url}/v1/events")
        stream.next()
        run_id = submit(live.url, model_name="behind")
        got: list = []
        while (frame := stream.next()) is not END:
            if frame.id is not None:
                got.append(frame)
            last_retry = frame.retry
        stream.close()
        assert last_retry is not None  # the last thing said before the end: reconnect
        assert len(got) < 8
        httpx.get(f"{live.url}/v1/training-runs/{run_id}/wait", params={"timeout": 30})
        resume = {"Last-Event-ID": str(got[-1].id) if got else "0"}
        with SseClient(f"{live.url}/v1/events", headers=resume) as again:
            rest = again.until(lambda f: f.event == "model.promoted")
        kinds = [f.event for f in got + rest]
        assert kinds[0] == "run.created" and kinds[-1] == "model.promoted"
        assert kinds == [
            "run.created",
            "run.state",
            *["step.state"] * 3,
            "run.state",
            "outcome.decided",
            "model.promoted",
        ]
        ids = [f.id for f in got + rest]
        assert ids == sorted(set(ids))


def test_a_reader_may_subscribe_and_no_key_is_a_401(make_app: AppFactory) -> None:
    keys = "reader:reader-key-0123456789abcdef,submitter:submit-key-0123456789abcdef"
    with LiveServer(make_app(auth_mode="api-key", api_keys=keys).app) as live:
        refused = httpx.get(f"{live.url}/v1/events", timeout=10)
        assert refused.status_code == 401
        with SseClient(f"{live.url}/v1/events", headers={"X-API-Key": "reader-key-0123456789abcdef"}) as ok:
            assert ok.status_code == 200 and ok.next().retry is not None


def test_stopping_the_service_ends_open_streams_first(tmp_path: Path) -> None:
    # uvicorn waits for open responses before its shutdown; a stream never ends by itself, so
    # SIGTERM must end it (with a retry hint) or stopping would wait out the whole grace period.
    service = ServiceProcess(tmp_path / "data", env={"TRAINCTL_WARM_RUNNER": "false"}).start()
    try:
        stream = SseClient(f"{service.url}/v1/events")
        assert stream.next().comments == ["connected"]
        assert service.proc is not None
        started = time.monotonic()
        service.proc.send_signal(signal.SIGTERM)
        frames = []
        while (frame := stream.next(timeout=20)) is not END:
            frames.append(frame)
        assert frames and frames[-1].retry is not None
        service.proc.wait(20)
        assert time.monotonic() - started < 15  # far below the 30 s grace period
        stream.close()
    finally:
        service.stop()
