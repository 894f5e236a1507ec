"""HTTP access to the service, shared by remote and --local mode, and its error types.

Every command goes through `Api`, whether the service is a remote uvicorn or an app built
in this process: the output and exit codes cannot drift between the two modes.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import httpx

Json = dict[str, Any]

DEFAULT_URL = "http://127.0.0.1:8000"
HTTP_TIMEOUT = 30.0
# Extra seconds a long-poll request may take beyond the wait it asks the server for.
LONG_POLL_SLACK = 15.0

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT, EXIT_UNREACHABLE = 0, 1, 2, 3


class CliError(Exception):
    """A failure reported as one line on stderr and an exit code; never a traceback."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class ServiceUnreachable(CliError):
    def __init__(self, url: str, cause: Exception) -> None:
        super().__init__(
            f"cannot reach the trainctl service at {url} ({type(cause).__name__}: {cause or 'no detail'}). "
            "Start one with `trainctl serve` (or point --url / TRAINCTL_URL at yours), "
            "or run without a service: add --local to `trainctl job|pipeline`.",
            EXIT_UNREACHABLE,
        )


class ApiProblem(CliError):
    """An RFC 9457 answer (or any non-2xx) from the service."""

    def __init__(self, status: int, body: Json) -> None:
        self.status = status
        self.title = str(body.get("title") or f"HTTP {status}")
        self.detail = str(body.get("detail") or "")
        self.invalid: list[tuple[str, str]] = [
            (str(p.get("name", "")), str(p.get("reason", ""))) for p in body.get("invalid-params") or []
        ]
        self.body = body
        super().__init__(
            f"{self.title} ({status}): {self.detail}",
            EXIT_BAD_INPUT if 400 <= status < 500 else EXIT_RUN_FAILED,
        )

    def describe(self, field_flags: Mapping[str, str]) -> str:
        """One line naming each bad field by the CLI flag that set it, when one did."""
        if not self.invalid:
            return f"{self.title} ({self.status}): {self.detail}" if self.detail else self.title
        parts = [f"{_flag_for(name, field_flags)}: {reason}" for name, reason in self.invalid]
        line = f"{self.title} ({self.status}): " + "; ".join(parts)
        # The generic "Fix these fields" detail only repeats the names; a specific one adds facts.
        if self.detail and not self.detail.startswith("Fix these fields"):
            line += f" -- {self.detail}"
        return line


def _flag_for(name: str, field_flags: Mapping[str, str]) -> str:
    field = name
    for prefix in ("body.", "query.", "path.", "header."):
        if field.startswith(prefix):
            field = field[len(prefix) :]
            break
    matches = [key for key in field_flags if field == key or field.startswith(key + ".")]
    if not matches:
        return field
    flag = field_flags[max(matches, key=len)]
    return flag if flag.lstrip("-") == field else f"{flag} ({field})"


class Api:
    """The service's v1 endpoints, returning decoded JSON."""

    def __init__(self, http: httpx.AsyncClient, where: str) -> None:
        self.http = http
        self.where = where

    async def call(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] = (200, 201, 202),
        http_timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        if http_timeout is not None:
            kwargs["timeout"] = http_timeout
        try:
            response = await self.http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise ServiceUnreachable(self.where, error) from None
        except httpx.TimeoutException as error:
            raise CliError(
                f"the service at {self.where} did not answer {method} {path} in time ({error})",
                EXIT_RUN_FAILED,
            ) from None
        except httpx.UnsupportedProtocol:
            raise CliError(
                f"--url {self.where!r} must start with http:// or https://", EXIT_BAD_INPUT
            ) from None
        except httpx.TransportError as error:  # the connection broke mid-request: the service went away
            raise ServiceUnreachable(self.where, error) from None
        if response.status_code not in ok:
            raise ApiProblem(response.status_code, _problem_body(response))
        if not response.content:
            return None
        return response.json()

    async def submit(self, body: Json, idempotency_key: str | None) -> Json:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        result: Json = await self.call("POST", "/v1/training-runs", json=body, headers=headers)
        return result

    async def run(self, run_id: str) -> Json:
        result: Json = await self.call("GET", f"/v1/training-runs/{_seg(run_id)}")
        return result

    async def wait(self, run_id: str, seconds: float) -> Json:
        result: Json = await self.call(
            "GET",
            f"/v1/training-runs/{_seg(run_id)}/wait",
            params={"timeout": seconds},
            http_timeout=seconds + LONG_POLL_SLACK,
        )
        return result

    async def list_runs(self, params: Mapping[str, str | int]) -> Json:
        result: Json = await self.call("GET", "/v1/training-runs", params=dict(params))
        return result

    async def cancel(self, run_id: str) -> Json:
        result: Json = await self.call("POST", f"/v1/training-runs/{_seg(run_id)}/cancel")
        return result

    async def logs(self, run_id: str, step: str) -> Json:
        result: Json = await self.call("GET", f"/v1/training-runs/{_seg(run_id)}/logs", params={"step": step})
        return result

    async def outcome(self, run_id: str) -> Json:
        result: Json = await self.call("GET", f"/v1/training-runs/{_seg(run_id)}/outcome")
        return result

    async def trials(self, run_id: str) -> Json:
        result: Json = await self.call("GET", f"/v1/training-runs/{_seg(run_id)}/trials")
        return result

    async def metrics(self, run_id: str) -> Json:
        result: Json = await self.call("GET", f"/v1/training-runs/{_seg(run_id)}/metrics")
        return result

    async def model(self, name: str) -> Json:
        result: Json = await self.call("GET", f"/v1/models/{_seg(name)}")
        return result

    async def data_assets(self) -> Json:
        result: Json = await self.call("GET", "/v1/data-assets")
        return result

    async def upload(self, path: Path, name: str, description: str | None) -> Json:
        fields = {"name": name} | ({"description": description} if description else {})
        with path.open("rb") as handle:
            result: Json = await self.call(
                "POST", "/v1/data-assets", data=fields, files={"file": (path.name, handle, "text/csv")}
            )
        return result

    async def readiness(self) -> Json:
        # 503 carries the same body: it is the answer "not ready, because ...", not an error.
        result: Json = await self.call("GET", "/readyz", ok=(200, 503))
        return result

    async def backend(self) -> Json:
        result: Json = await self.call("GET", "/v1/backend")
        return result


def _seg(value: str) -> str:
    return quote(value, safe="")


def _problem_body(response: httpx.Response) -> Json:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    text = response.text.strip().splitlines()
    return {
        "title": response.reason_phrase or f"HTTP {response.status_code}",
        "detail": text[0][:300] if text else "",
    }


def option(
    args: argparse.Namespace, name: str, env: str | None = None, default: str | None = None
) -> str | None:
    """A connection option: the flag (before or after the subcommand), else the environment."""
    value = getattr(args, name, None)
    if value is None and env:
        value = os.environ.get(env) or None
    return value if value is not None else default


def auth_headers(api_key: str | None, token: str | None) -> dict[str, str]:
    headers = {"User-Agent": "trainctl-cli"}
    if api_key:
        headers["X-API-Key"] = api_key
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def remote_client(url: str, api_key: str | None = None, token: str | None = None) -> httpx.AsyncClient:
    # A corporate HTTP(S)_PROXY must not capture calls to a service on this machine.
    loopback = urlparse(url).hostname in {"127.0.0.1", "localhost", "::1"}
    return httpx.AsyncClient(
        base_url=url, headers=auth_headers(api_key, token), timeout=HTTP_TIMEOUT, trust_env=not loopback
    )


@asynccontextmanager
async def connect(args: argparse.Namespace) -> AsyncIterator[Api]:
    """The service the command talks to: in this process with --local, else over HTTP."""
    if getattr(args, "local", False):
        from app.cli.local import local_service

        async with local_service(getattr(args, "data_dir", None)) as http:
            yield Api(http, "the in-process service")
        return
    url = option(args, "url", "TRAINCTL_URL", DEFAULT_URL) or DEFAULT_URL
    api_key = option(args, "api_key", "TRAINCTL_API_KEY")
    token = option(args, "token", "TRAINCTL_TOKEN")
    async with remote_client(url, api_key, token) as http:
        yield Api(http, url)
