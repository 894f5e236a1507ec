"""Completion callbacks: one signed POST to a run's callback_url when the run ends.

Delivery is at least once: attempts are recorded on the run before the next one starts,
retried with exponential backoff up to a bounded count, and whatever is still pending when
the service stops is resumed when it starts again. Receivers deduplicate on `run_id`.

Signature: X-Trainctl-Signature = "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)),
timestamp being X-Trainctl-Timestamp (Unix seconds). See docs/security.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from app.domain.clock import utcnow
from app.domain.status import RunStatus
from app.security.apikeys import SecurityConfigError
from app.security.egress import CallbackPolicy, CallbackRefused
from app.settings import Settings
from app.store.runs import RunStore
from app.store.tables import RunRow

log = logging.getLogger(__name__)

EVENT = "training-run.finished"
TIMESTAMP_HEADER = "X-Trainctl-Timestamp"
SIGNATURE_HEADER = "X-Trainctl-Signature"
MIN_SECRET_LENGTH = 16
Verdict = Literal["delivered", "retry", "refused"]


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def payload(row: RunRow) -> bytes:
    document = {
        "event": EVENT,
        "run_id": row.id,
        "status": row.status,
        "kind": row.kind,
        "experiment_name": row.experiment_name,
        "model_name": row.model_name,
        "error": row.error,
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        "outcome": row.outcome.model_dump(mode="json", exclude={"promoted"}) if row.outcome else None,
        "url": f"/v1/training-runs/{row.id}",
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


class CallbackSender:
    def __init__(
        self,
        runs: RunStore,
        policy: CallbackPolicy,
        secret: SecretStr | None,
        *,
        max_attempts: int = 5,
        backoff_seconds: float = 2.0,
        max_backoff_seconds: float = 300.0,
        timeout_seconds: float = 10.0,
        sweep_seconds: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.runs = runs
        self.policy = policy
        self._secret = self.check_secret(policy, secret)
        self.max_attempts = max_attempts
        self.backoff = backoff_seconds
        self.max_backoff = max_backoff_seconds
        self.timeout = timeout_seconds
        self.sweep_seconds = sweep_seconds
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._deliveries: dict[str, asyncio.Task[None]] = {}
        self._sending = asyncio.Semaphore(16)

    @staticmethod
    def check_secret(policy: CallbackPolicy, secret: SecretStr | None) -> bytes:
        """The signing key; raises SecurityConfigError when callbacks are on without one."""
        value = secret.get_secret_value() if secret else ""
        if policy.enabled and len(value) < MIN_SECRET_LENGTH:
            raise SecurityConfigError(
                "TRAINCTL_CALLBACK_ALLOWLIST is set, so TRAINCTL_CALLBACK_SECRET must be too "
                f"(at least {MIN_SECRET_LENGTH} characters): receivers verify callbacks with it"
            )
        return value.encode()

    @classmethod
    def from_settings(cls, settings: Settings, runs: RunStore, policy: CallbackPolicy) -> CallbackSender:
        return cls(
            runs,
            policy,
            settings.callback_secret,
            max_attempts=settings.callback_max_attempts,
            backoff_seconds=settings.callback_backoff_seconds,
            timeout_seconds=settings.callback_timeout_seconds,
        )

    def start(self) -> None:
        # Never follow redirects (they would leave the allowlist) nor proxy settings (the
        # connection goes to the address the policy checked).
        self._client = httpx.AsyncClient(
            timeout=self.timeout, follow_redirects=False, trust_env=False, transport=self._transport
        )
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop(), name="callback-sweeper")

    async def stop(self) -> None:
        tasks = [t for t in (self._sweeper, *self._deliveries.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._sweeper = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def on_finished(self, row: RunRow) -> None:
        """Reconciler hook: start delivering in the background, never holding the reconciler."""
        if row.callback_url and row.callback_state == "pending":
            self._schedule(row.id)

    def sweep(self) -> None:
        """Pick up pending callbacks of finished runs: after a restart, or runs that ended
        outside the reconciler (canceled before they started)."""
        for row in self.runs.pending_callbacks():
            if RunStatus(row.status).is_final:
                self._schedule(row.id)

    async def _sweep_loop(self) -> None:
        while True:
            try:
                self.sweep()
            except Exception:  # a failed sweep must not end the loop
                log.exception("callback sweep failed")
            await asyncio.sleep(self.sweep_seconds)

    def _schedule(self, run_id: str) -> None:
        if run_id in self._deliveries or self._client is None:
            return
        task = asyncio.get_running_loop().create_task(self._deliver(run_id), name=f"callback-{run_id}")
        self._deliveries[run_id] = task
        task.add_done_callback(lambda _: self._deliveries.pop(run_id, None))

    async def _deliver(self, run_id: str) -> None:
        try:
            await self._deliver_until_settled(run_id)
        except Exception:  # e.g. the store is briefly unavailable: the next sweep resumes it
            log.exception("callback delivery for run %s stopped; it stays pending", run_id)

    async def _deliver_until_settled(self, run_id: str) -> None:
        while True:
            row = self.runs.get(run_id)
            if row is None or not row.callback_url or row.callback_state != "pending":
                return
            done = len(row.callback_attempts or [])
            if done >= self.max_attempts:  # the limit was lowered since the last attempt
                self._record(run_id, None, "gave up: no attempts left", "failed")
                return
            await asyncio.sleep(self._delay(row.callback_attempts, done))
            try:
                status_code, error, verdict = await self._attempt(row)
            except Exception as unexpected:  # record it like any failure and keep the bound
                log.exception("callback attempt for run %s failed unexpectedly", run_id)
                status_code, error, verdict = None, f"internal error: {type(unexpected).__name__}", "retry"
            if verdict == "delivered":
                state = "delivered"
            elif verdict == "refused" or done + 1 >= self.max_attempts:
                state = "failed"
            else:
                state = "pending"
            self._record(run_id, status_code, error, state)
            if state != "pending":
                log.info("callback for run %s %s after %d attempt(s)", run_id, state, done + 1)
                return

    def _delay(self, attempts: list[dict[str, Any]], done: int) -> float:
        """Seconds to wait before attempt done+1, counted from the previous attempt (which may
        predate a restart)."""
        if done == 0:
            return 0.0
        backoff = min(self.max_backoff, self.backoff * 2.0 ** (done - 1)) * random.uniform(1.0, 1.2)
        try:
            last = datetime.fromisoformat(str(attempts[-1]["at"]))
        except (KeyError, ValueError):
            return backoff
        return max(0.0, backoff - (utcnow() - last).total_seconds())

    async def _attempt(self, row: RunRow) -> tuple[int | None, str | None, Verdict]:
        assert self._client is not None
        assert row.callback_url
        try:
            target = await self.policy.target(row.callback_url)
        except CallbackRefused as refused:
            return None, f"refused: {refused}", "refused" if refused.permanent else "retry"
        body = payload(row)
        timestamp = str(int(time.time()))
        headers = {
            "Host": target.host_header,
            "Content-Type": "application/json",
            "User-Agent": "trainctl-callbacks/1",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self._secret, timestamp, body),
        }
        try:
            async with (
                self._sending,
                self._client.stream(
                    "POST", target.url, content=body, headers=headers, extensions=target.extensions
                ) as response,
            ):
                status = response.status_code  # the receiver's body is never read
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"[:500], "retry"
        if 200 <= status < 300:
            return status, None, "delivered"
        note = " (redirects are not followed)" if 300 <= status < 400 else ""
        return status, f"HTTP {status}{note}", "retry"

    def _record(self, run_id: str, status_code: int | None, error: str | None, state: str) -> None:
        attempt = {"at": utcnow().isoformat(), "status_code": status_code, "error": error}
        self.runs.record_callback_attempt(run_id, attempt, state)
