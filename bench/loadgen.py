"""A small open-loop HTTP load generator: requests go out on a fixed schedule, whatever the
answers do, so a slow server shows up as latency instead of as a lower request rate.

Raw HTTP/1.1 over keep-alive sockets with pre-built request bytes: an httpx client saturates
its own core at ~440 req/s (DESIGN.md 6b), which would measure the client, not the server.
Several processes share the load so the generator never becomes the bottleneck.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadResult:
    sent: int
    ok: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def summary(self) -> dict[str, float]:
        return {
            "requests": self.ok,
            "errors": self.errors,
            "rate_per_s": round(self.rate, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "max_ms": round(max(self.latencies_ms, default=float("nan")), 2),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else float("nan"),
        }


def _request_bytes(method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def _worker(
    port: int, request: bytes, rate: float, seconds: float, connections: int
) -> tuple[int, int, int, list[float]]:
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    counts = {"sent": 0, "ok": 0, "errors": 0}

    async def one(scheduled: float) -> None:
        reader, writer = await pool.get()
        try:
            writer.write(request)
            await writer.drain()
            status = await _read_response(reader)
            # Latency from the scheduled send time: queueing for a free connection counts too.
            latencies.append((time.perf_counter() - scheduled) * 1000)
            counts["ok" if status < 400 else "errors"] += 1
        except (OSError, asyncio.IncompleteReadError):
            counts["errors"] += 1
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        finally:
            pool.put_nowait((reader, writer))

    start = time.perf_counter()
    total = int(rate * seconds)
    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        counts["sent"] += 1
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    return counts["sent"], counts["ok"], counts["errors"], latencies


def _process(args: tuple[int, bytes, float, float, int]) -> tuple[int, int, int, list[float]]:
    return asyncio.run(_worker(*args))


def run_load(
    port: int,
    path: str,
    *,
    rate: float,
    seconds: float,
    method: str = "GET",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    processes: int = 2,
    connections: int = 16,
) -> LoadResult:
    request = _request_bytes(method, path, body, headers or {})
    per_process = (port, request, rate / processes, seconds, connections)
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_process, [per_process] * processes)
    elapsed = time.perf_counter() - started
    return LoadResult(
        sent=sum(p[0] for p in parts),
        ok=sum(p[1] for p in parts),
        errors=sum(p[2] for p in parts),
        seconds=seconds if elapsed > seconds else elapsed,
        latencies_ms=[x for p in parts for x in p[3]],
    )
