"""Status reads with `trainctl serve --workers N`: p50, p99 and requests served when 1,000
status GETs a second are offered (wrk, paced), beside the one-worker figure, on this machine.

    .venv/bin/python bench/workers.py [--workers 1 2] [--rate 1000] [--seconds 15]

The store is SQLite in a fresh data directory unless TRAINCTL_DATABASE_URL names another
database (PostgreSQL, then the workers hear each other through LISTEN/NOTIFY): give it an empty
database for each figure, as its rows name files in the data directory made here. wrk's pacing
(paced.lua) waits after each answer, so served stays a little under offered even when nothing
queues. Needs wrk (`apt-get install wrk`). Imports nothing from tests/.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import wrk
from bench.service import Service


def figures(workers: int, rate: int, seconds: int, connections: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trainctl-bench-workers-") as scratch:
        service = Service(
            Path(scratch) / "data", workers=workers, env={"TRAINCTL_WARM_RUNNER": "false"}
        ).start()
        try:
            with httpx.Client(base_url=service.url, timeout=120) as client:
                run_id = client.post("/v1/training-runs", json={"kind": "job"}).json()["id"]
                done = client.get(f"/v1/training-runs/{run_id}/wait", params={"timeout": 120}).json()
                assert done["status"] == "completed", done
                time.sleep(1)  # let start-up settle
                wrk.paced(service.url + "/healthz", rate=rate, seconds=2, connections=connections)  # warm
                result = wrk.paced(
                    f"{service.url}/v1/training-runs/{run_id}",
                    rate=rate,
                    seconds=seconds,
                    connections=connections,
                )
        finally:
            service.stop()
    return {"workers": workers, "offered_per_s": rate, **result}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    if not wrk.available():
        sys.exit("bench/workers.py needs wrk: apt-get install wrk")
    results = [figures(n, args.rate, args.seconds, args.connections) for n in args.workers]
    for result in results:
        print(
            f"--workers {result['workers']}: offered {result['offered_per_s']} req/s, served "
            f"{result['rate_per_s']} req/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
            f"errors {result['errors']}"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
