"""Dashboard and event-stream benchmarks (not timed tests):

1. The runs page with 10,000 runs in the store: server time (the page's Server-Timing header)
   and the time a client waits, for the first page, a filtered page and a page deep in the
   list. Target: <= 100 ms server time.
2. 100 subscribers on GET /v1/events while pipelines run on the local backend: how long after
   the state change (the event's commit time) each subscriber has the event. Target: p99
   <= 100 ms.

    .venv/bin/python bench/dashboard.py [--runs 10000] [--subscribers 100] [--pipelines 6]

The service is started as a user starts it (`trainctl serve`); the subscribers live in this
process, one asyncio connection each, so they do not share the service's interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.service import Service  # noqa: E402


def seed_runs(data_dir: Path, count: int) -> None:
    """`count` finished runs straight into a migrated store, in one transaction."""
    from app.domain.spec import DataAssetRef, RunSpec
    from app.store.db import make_engine, migrate, session_factory
    from app.store.tables import RunRow, StepRow

    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{data_dir / 'trainctl.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    statuses = ["completed"] * 8 + ["failed", "canceled"]
    with sessions.begin() as session:
        for n in range(count):
            run_id = f"run-00bench{n:012d}"
            kind = "pipeline" if n % 3 else "job"
            created = start + timedelta(minutes=n)
            spec = RunSpec(
                run_id=run_id,
                kind=kind,
                model_name=f"model-{n % 7}",
                experiment_name=f"experiment-{n % 5}",
                data_asset=DataAssetRef(name="diabetes-diagnostics", version="1"),
            )
            status = statuses[n % len(statuses)]
            steps = ["train-model", "evaluate-model", "register-model"][: 3 if kind == "pipeline" else 1]
            session.add(
                RunRow(
                    id=run_id, kind=kind, status=status, raw_status=status.capitalize(),
                    experiment_name=spec.experiment_name, model_name=spec.model_name, backend="local",
                    spec=spec, data_asset_name="diabetes-diagnostics", data_asset_version="1",
                    callback_attempts=[], submitted_by="bench", created_at=created,
                    started_at=created + timedelta(seconds=1), ended_at=created + timedelta(seconds=9),
                    updated_at=created + timedelta(seconds=9),
                    steps=[
                        StepRow(name=s, position=i, status=status, raw_status=status.capitalize(),
                                reused=False, started_at=created + timedelta(seconds=1 + 2 * i),
                                ended_at=created + timedelta(seconds=3 + 2 * i))
                        for i, s in enumerate(steps)
                    ],
                )
            )  # fmt: skip
    engine.dispose()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure_page(client: httpx.Client, url: str, repeats: int) -> dict[str, float]:
    server, waited = [], []
    client.get(url)  # warm: templates compiled, caches filled
    for _ in range(repeats):
        started = time.perf_counter()
        answer = client.get(url)
        waited.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text[:300]
        server.append(float(answer.headers["server-timing"].split("dur=")[1]))
    return {
        "server_p50_ms": statistics.median(server),
        "server_p95_ms": percentile(server, 95),
        "server_max_ms": max(server),
        "client_p50_ms": statistics.median(waited),
        "client_p95_ms": percentile(waited, 95),
    }


def runs_page_bench(service: Service, repeats: int) -> dict[str, Any]:
    results = {}
    with httpx.Client(base_url=service.url, timeout=30) as client:
        first = client.get("/ui/runs").text
        assert "data-count=" in first, first[:300]
        deep_cursor = "run-00bench000000001000"  # about 9,000 runs newer than it
        for name, url in [
            ("first page", "/ui/runs"),
            ("filtered (status, model, kind)", "/ui/runs?status=failed&model=model-3&kind=pipeline"),
            ("page 180 of 200 (cursor)", f"/ui/runs?cursor={deep_cursor}"),
        ]:
            results[name] = measure_page(client, url, repeats)
    return results


async def subscriber(url: str, ready: asyncio.Event, latencies: list[float], stop: asyncio.Event) -> None:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET /v1/events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    ready.set()
    try:
        while not stop.is_set():
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"data: {"):
                received = time.time()
                event = json.loads(line[6:])
                committed = datetime.fromisoformat(event["time"]).timestamp()
                latencies.append((received - committed) * 1000)
    finally:
        writer.close()


async def events_bench(service: Service, subscribers: int, pipelines: int) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in range(subscribers)]
    stop = asyncio.Event()
    readies = [asyncio.Event() for _ in range(subscribers)]
    tasks = [
        asyncio.create_task(subscriber(service.url, readies[i], latencies[i], stop))
        for i in range(subscribers)
    ]
    await asyncio.gather(*(r.wait() for r in readies))
    await asyncio.sleep(1.0)  # every subscription joined the live fan-out
    async with httpx.AsyncClient(base_url=service.url, timeout=120) as client:
        for n in range(pipelines):
            body = {"kind": "pipeline", "model_name": "bench-events", "force_rerun": True,
                    "hyperparameters": {"reg_rate": 0.01 + n / 1000}}  # fmt: skip
            run_id = (await client.post("/v1/training-runs", json=body)).json()["id"]
            await client.get(f"/v1/training-runs/{run_id}/wait", params={"timeout": 120})
    await asyncio.sleep(1.0)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    counts = [len(x) for x in latencies]
    every = [value for per in latencies for value in per]
    return {
        "subscribers": subscribers,
        "events_per_subscriber": f"{min(counts)}..{max(counts)}",
        "deliveries": len(every),
        "p50_ms": statistics.median(every),
        "p99_ms": percentile(every, 99),
        "max_ms": max(every),
    }


def report(args: argparse.Namespace, pages: dict[str, Any], events: dict[str, Any]) -> None:
    print(f"\nruns page, {args.runs:,} runs stored ({args.repeats} requests each; target <= 100 ms server)")
    print(f"{'page':34} {'server p50':>11} {'p95':>8} {'max':>8} {'client p50':>11} {'p95':>8}")
    for name, r in pages.items():
        server = f"{r['server_p50_ms']:9.1f}ms {r['server_p95_ms']:6.1f}ms {r['server_max_ms']:6.1f}ms"
        print(f"{name:34} {server} {r['client_p50_ms']:9.1f}ms {r['client_p95_ms']:6.1f}ms")
    print(
        f"\nevent stream: {events['subscribers']} subscribers, {args.pipelines} pipelines on the local "
        "backend (target p99 <= 100 ms after the state change)"
    )
    print(
        f"deliveries {events['deliveries']} ({events['events_per_subscriber']} events per subscriber): "
        f"p50 {events['p50_ms']:.1f} ms, p99 {events['p99_ms']:.1f} ms, max {events['max_ms']:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--pipelines", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trainctl-bench-ui-") as scratch:
        data_dir = Path(scratch) / "data"
        started = time.perf_counter()
        seed_runs(data_dir, args.runs)
        print(f"seeded {args.runs} runs in {time.perf_counter() - started:.1f} s")
        service = Service(data_dir).start()
        try:
            pages = runs_page_bench(service, args.repeats)
            events = asyncio.run(events_bench(service, args.subscribers, args.pipelines))
            report(args, pages, events)
            results = {"runs_page": pages, "events": events, "runs": args.runs}
            out = ROOT / "bench" / "results"
            out.mkdir(exist_ok=True)
            (out / "dashboard.json").write_text(json.dumps(results, indent=2))
        finally:
            service.stop()


if __name__ == "__main__":
    main()
