"""HTTP checks of a running trainctl container, from outside it (the stdlib only: run by the
host's python3 before any virtualenv exists). Called by .ci/container-test.

    container_probe.py serve BASE_URL STATE_FILE          health, auth, a pipeline to its outcome
    container_probe.py in-flight BASE_URL STATE_FILE      a second run, left with a step running
    container_probe.py after-restart BASE_URL STATE_FILE  (new container, same volume) both runs

The API key comes from TRAINCTL_API_KEY; after-restart also reads TRAINCTL_SIGTERM_AT (epoch
seconds). Each failed check exits 1 with a line saying which check failed and what was seen;
progress goes to stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class CheckFailed(Exception):
    pass


def call(
    base: str, method: str, path: str, body: Any = None, key: str | None = None, timeout: float = 30
) -> tuple[int, Any]:
    headers = {"accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    if key:
        headers["X-API-Key"] = key
    if not base.startswith("http://127.0.0.1:"):
        raise ValueError(f"loopback http only, not {base}")
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_ok(base: str, path: str, timeout: float) -> float:
    """Poll until PATH answers 200; the seconds it took."""
    start = time.monotonic()
    last = "no answer"
    while time.monotonic() - start < timeout:
        try:
            status, body = call(base, "GET", path, timeout=5)
            if status == 200:
                took = time.monotonic() - start
                print(f"ok   GET {path} -> 200 after {took:.1f} s: {json.dumps(body)[:200]}")
                return took
            last = f"{status} {json.dumps(body)[:300]}"
        except (OSError, urllib.error.URLError) as error:  # not listening yet
            last = repr(error)
        time.sleep(0.25)
    raise CheckFailed(f"GET {path} did not answer 200 within {timeout:.0f} s (last: {last})")


def expect(condition: bool, check: str, seen: object) -> None:
    if not condition:
        raise CheckFailed(f"{check}; seen: {seen}")
    print(f"ok   {check}")


def submit(base: str, key: str, body: dict[str, Any]) -> str:
    status, run = call(base, "POST", "/v1/training-runs", body, key=key)
    check = f"POST /v1/training-runs {json.dumps(body)} -> 202"
    expect(status == 202 and isinstance(run, dict), check, (status, run))
    return str(run["id"])


def run_to_outcome(base: str, key: str, run_id: str) -> dict[str, Any]:
    """Wait for the run to complete and check its decision; the run."""
    status, run = call(base, "GET", f"/v1/training-runs/{run_id}/wait?timeout=120", key=key, timeout=130)
    expect(
        status == 200 and run.get("status") == "completed",
        f"run {run_id} completes",
        (status, json.dumps(run)[:1500]),
    )
    steps = ", ".join(f"{s['name']} {s['status']} {s['duration_seconds']}s" for s in run.get("steps", []))
    print(f"     steps: {steps}")
    status, outcome = call(base, "GET", f"/v1/training-runs/{run_id}/outcome", key=key)
    expect(
        status == 200 and isinstance(outcome, dict) and "deploy" in outcome,
        f"GET /v1/training-runs/{run_id}/outcome has a decision",
        (status, outcome),
    )
    registered = outcome.get("registered_model") or {}
    print(
        f"     outcome: deploy={outcome['deploy']}, reason {outcome.get('reason')!r}, "
        f"registered {registered.get('name')} v{registered.get('version')}"
    )
    return dict(run)


def epoch(timestamp: str) -> float:
    moment = datetime.fromisoformat(timestamp)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def serve(base: str, key: str, state_file: Path) -> None:
    """Health, readiness, auth, and one pipeline from POST to its decision."""
    state = {"healthz_s": wait_ok(base, "/healthz", 180), "readyz_s": wait_ok(base, "/readyz", 180)}
    status, body = call(base, "POST", "/v1/training-runs", {"kind": "pipeline"})
    expect(status == 401, "POST without an API key is refused with 401", (status, body))
    status, body = call(base, "GET", "/v1/training-runs", key="not-" + key)
    expect(status == 401, "a wrong API key is refused with 401", (status, body))
    start = time.monotonic()
    state["first"] = submit(base, key, {"kind": "pipeline"})
    run_to_outcome(base, key, state["first"])
    state["pipeline_s"] = time.monotonic() - start
    print(f"     POST -> outcome in {state['pipeline_s']:.1f} s")
    state_file.write_text(json.dumps(state))


def in_flight(base: str, key: str, state_file: Path) -> None:
    """Submit a second run and return as soon as one of its steps runs: SIGTERM comes next."""
    state = json.loads(state_file.read_text())
    second = submit(base, key, {"kind": "pipeline", "force_rerun": True, "tags": {"check": "drain"}})
    deadline = time.monotonic() + 60
    while True:
        status, run = call(base, "GET", f"/v1/training-runs/{second}", key=key)
        running = [s["name"] for s in run["steps"] if s["status"] == "running"] if status == 200 else []
        if running:
            break
        if time.monotonic() > deadline:
            raise CheckFailed(f"run {second} had no step running within 60 s; seen: {status} {run}")
        time.sleep(0.05)
    print(f"ok   run {second} has {running} running: SIGTERM now")
    state.update(second=second, running_at_sigterm=running)
    state_file.write_text(json.dumps(state))


def after_restart(base: str, key: str, state_file: Path) -> None:
    """A new container on the same volume: the runs are there, the interrupted one completes."""
    state = json.loads(state_file.read_text())
    sigterm_at = float(os.environ["TRAINCTL_SIGTERM_AT"])
    wait_ok(base, "/healthz", 180)
    wait_ok(base, "/readyz", 180)
    status, page = call(base, "GET", "/v1/training-runs?limit=100", key=key)
    listed = {item["id"]: item["status"] for item in (page or {}).get("items", [])} if status == 200 else {}
    expect(
        listed.get(state["first"]) == "completed",
        "the run from before the restart is still listed, completed (the data volume was kept)",
        (status, listed),
    )
    status, outcome = call(base, "GET", f"/v1/training-runs/{state['first']}/outcome", key=key)
    expect(status == 200 and "deploy" in outcome, "its outcome is still there", (status, outcome))
    expect(state["second"] in listed, "the run in flight at SIGTERM is still listed", listed)
    run = run_to_outcome(base, key, state["second"])
    steps = {step["name"]: step for step in run["steps"]}
    for name in state["running_at_sigterm"]:
        # Finished during the drain, not killed and run again. Either the store kept its times
        # (started before SIGTERM), or the next start took over the outputs it had written
        # (then the store shows that moment and ~0 s: a real run of a step takes far longer).
        step = steps[name]
        started, took = epoch(step["started_at"]), step["duration_seconds"] or 0.0
        drained = step["exit_code"] == 0 and (started < sigterm_at or took < 0.2)
        how = (
            "its record kept"
            if started < sigterm_at
            else f"its outputs taken over at the restart, recorded as {took} s at {step['started_at']}"
        )
        expect(drained, f"step {name}, running at SIGTERM, finished during the drain ({how})", step)


PHASES = {"serve": serve, "in-flight": in_flight, "after-restart": after_restart}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in PHASES:
        print(__doc__, file=sys.stderr)
        return 2
    phase, base, state_file = argv[0], argv[1].rstrip("/"), Path(argv[2])
    key = os.environ.get("TRAINCTL_API_KEY", "")
    try:
        PHASES[phase](base, key, state_file)
    except CheckFailed as failure:
        print(f"CONTAINER CHECK FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
