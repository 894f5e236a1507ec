"""The JSON formatter and the middleware on a bare app: fields, request-id binding, redaction."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os

import httpx
import pytest
from fastapi import FastAPI

from app.api.errors import install_handlers
from app.observability import JsonFormatter, configure_logging, current_request_id, install_observability
from tests.observability.conftest import LogLines

log = logging.getLogger("tests.observability.app")


def bare_app() -> FastAPI:
    app = FastAPI()
    install_handlers(app)

    @app.get("/async")
    async def in_loop() -> dict[str, str | None]:
        log.info("handled in the loop", extra={"order": 7})
        return {"seen": current_request_id()}

    @app.get("/sync")
    def in_thread() -> dict[str, str | None]:
        log.info("handled in a worker thread")
        return {"seen": current_request_id()}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaput")

    install_observability(app)
    return app


def call(app: FastAPI, path: str, **headers: str) -> httpx.Response:
    return call_and_look_after(app, path, **headers)[0]


def call_and_look_after(app: FastAPI, path: str, **headers: str) -> tuple[httpx.Response, str | None]:
    """The response, and the request id bound once it is over (ASGITransport runs the app in
    the caller's task, so an id left bound would show here)."""

    async def go() -> tuple[httpx.Response, str | None]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get(path, headers=headers)
            return response, current_request_id()

    return asyncio.run(go())


@pytest.mark.parametrize("path", ["/async", "/sync"])
def test_the_request_id_is_on_every_line_written_for_the_request(
    json_logs: tuple[io.StringIO, LogLines], path: str
) -> None:
    _, lines = json_logs
    response, after = call_and_look_after(bare_app(), path, **{"X-Request-ID": "trace-" + path[1:]})
    assert after is None  # unbound once the request is over
    assert response.json() == {"seen": "trace-" + path[1:]}
    mine = [line for line in lines() if line["request_id"] == "trace-" + path[1:]]
    assert {line["logger"] for line in mine} == {"tests.observability.app", "trainctl.access"}


def test_unhandled_errors_are_logged_under_the_request_id(json_logs: tuple[io.StringIO, LogLines]) -> None:
    _, lines = json_logs
    response = call(bare_app(), "/boom", **{"X-Request-ID": "trace-boom"})
    assert response.status_code == 500
    mine = [line for line in lines() if line["request_id"] == "trace-boom"]
    access = next(line for line in mine if line["logger"] == "trainctl.access")
    assert access["status"] == 500
    error = next(line for line in mine if line["logger"] == "app.api.errors")
    assert error["level"] == "ERROR"
    assert "RuntimeError: kaput" in error["exception"]


def test_probe_successes_are_debug_only(json_logs: tuple[io.StringIO, LogLines]) -> None:
    _, lines = json_logs
    app = bare_app()
    app.add_api_route("/healthz", lambda: {"status": "ok"})
    call(app, "/healthz", **{"X-Request-ID": "probe-1"})
    [line] = [line for line in lines() if line["request_id"] == "probe-1"]
    assert line["level"] == "DEBUG"


def format_one(message: str, *args: object, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("trainctl.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    parsed: dict[str, object] = json.loads(JsonFormatter().format(record))
    return parsed


def test_one_json_object_per_line_with_the_core_fields() -> None:
    out = format_one("two\nlines and a \u2028 separator %s", "arg", run_id="r-1", level="spoofed")
    assert out["message"] == "two\nlines and a \u2028 separator arg"
    assert out["run_id"] == "r-1"
    assert out["level"] == "WARNING"  # an extra field never overrides a core one
    assert out["logger"] == "trainctl.test"
    assert out["request_id"] is None
    assert str(out["time"]).endswith("+00:00")
    rendered = JsonFormatter().format(logging.makeLogRecord({"msg": "a\nb\u2028c"}))
    assert "\n" not in rendered
    assert rendered.isascii()


def test_secrets_are_masked_by_field_name_and_by_shape() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-part"
    out = format_one(
        "outbound call with Authorization: Bearer abc.def and x-api-key=k123 token %s",
        jwt,
        headers={"Authorization": "Bearer abc.def", "X-API-Key": "k123", "Accept": "application/json"},
        raw_headers=[(b"authorization", b"Basic dXNlcjpwYXNz"), (b"host", b"example")],
        client_secret="s3cr3t",
    )
    text = json.dumps(out)
    for secret in ("abc.def", "k123", jwt, "dXNlcjpwYXNz", "s3cr3t"):
        assert secret not in text
    assert out["headers"] == {
        "Authorization": "[REDACTED]",
        "X-API-Key": "[REDACTED]",
        "Accept": "application/json",
    }
    assert out["raw_headers"] == [["authorization", "[REDACTED]"], ["host", "example"]]


def test_exceptions_are_one_field(json_logs: tuple[io.StringIO, LogLines]) -> None:
    _, lines = json_logs
    try:
        raise ValueError("with Bearer tok-123 inside")
    except ValueError:
        logging.getLogger("trainctl.test").exception("failed")
    [line] = [line for line in lines() if line["logger"] == "trainctl.test"]
    assert "ValueError" in line["exception"]
    assert "tok-123" not in line["exception"]


def test_configure_logging_replaces_its_handler_and_rejects_unknown_levels(
    json_logs: tuple[io.StringIO, LogLines],
) -> None:
    second = io.StringIO()
    configure_logging("INFO", stream=second)
    configure_logging("INFO", stream=second)
    logging.getLogger("trainctl.test").info("once")
    assert len(second.getvalue().splitlines()) == 1
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("LOUD")


def test_mlflow_keeps_its_hands_off_the_handlers(json_logs: tuple[io.StringIO, LogLines]) -> None:
    # A later `import mlflow` must not install its own plain-text handlers: mlflow reads this
    # variable at import. (The fixture puts the environment back afterwards.)
    os.environ.pop("MLFLOW_CONFIGURE_LOGGING", None)
    configure_logging("INFO", stream=io.StringIO())
    assert os.environ["MLFLOW_CONFIGURE_LOGGING"] == "false"
