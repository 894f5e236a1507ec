"""trainctl benchmarks, each reported as a ratio against the one-process floor measured in the
same run (../shared/bench-floor/floor.py), so machine noise cancels out.

    .venv/bin/python bench/run.py [--repeats 3] [--skip-load] [--skip-queue]

Prints a table and writes bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import wrk  # noqa: E402
from bench.loadgen import run_load  # noqa: E402
from bench.memory import PeakMemory  # noqa: E402
from bench.service import Service  # noqa: E402

FLOOR = Path(os.environ.get("TRAINCTL_FLOOR", ROOT.parent / "shared" / "bench-floor" / "floor.py"))
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}


def timed(command: list[str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def median(values: list[float]) -> float:
    return statistics.median(values)


def floor_seconds(data: Path, scratch: Path, repeats: int) -> list[float]:
    return [
        timed([sys.executable, str(FLOOR), str(data), str(scratch / f"floor-{i}")]) for i in range(repeats)
    ]


def one_shot_seconds(scratch: Path, repeats: int) -> list[float]:
    return [
        timed(
            [
                sys.executable,
                "-m",
                "app",
                "pipeline",
                "--local",
                "--data-dir",
                str(scratch / f"oneshot-{i}"),
                "--model_name",
                "bench-oneshot",
                "--json",
            ],
            cwd=ROOT,
        )
        for i in range(repeats)
    ]


def wait_warm(client: httpx.Client, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runner = client.get("/v1/backend").json()["details"].get("step_runner", "")
        if "starting" not in runner:
            return str(runner)
        time.sleep(0.2)
    raise TimeoutError("the warm step runner did not get ready")


def post_to_outcome(client: httpx.Client, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    run_id = client.post("/v1/training-runs", json=body).json()["id"]
    run = client.get(f"/v1/training-runs/{run_id}/wait", params={"timeout": 300}).json()
    outcome = client.get(f"/v1/training-runs/{run_id}/outcome")
    elapsed = time.perf_counter() - started
    if run["status"] != "completed" or outcome.status_code != 200:
        raise RuntimeError(f"bench run failed: {run}")
    return elapsed, run


def service_figures(scratch: Path, repeats: int, load: bool) -> dict[str, Any]:
    service = Service(scratch / "service").start()
    figures: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=service.url, timeout=300) as client:
            figures["step_runner"] = wait_warm(client)
            body = {"model_name": "bench-warm", "experiment_name": "bench"}
            post_to_outcome(client, body)  # first run on the service: not counted
            fresh = [post_to_outcome(client, {**body, "force_rerun": True}) for _ in range(repeats)]
            figures["warm_pipeline_s"] = [round(t, 3) for t, _ in fresh]
            figures["warm_steps_s"] = {s["name"]: s["duration_seconds"] for s in fresh[-1][1]["steps"]}
            reused = [post_to_outcome(client, body) for _ in range(repeats)]
            assert all(s["reused"] for _, run in reused for s in run["steps"])
            figures["reused_pipeline_s"] = [round(t, 3) for t, _ in reused]
            if load:
                run_id = reused[-1][1]["id"]
                status_path = f"/v1/training-runs/{run_id}"
                if wrk.available():
                    figures["status_get_at_500rps"] = wrk.paced(
                        service.url + status_path, rate=500, seconds=10
                    )
                    figures["healthz_at_500rps"] = wrk.paced(service.url + "/healthz", rate=500, seconds=10)
                else:
                    status = run_load(service.port, status_path, rate=500, seconds=10)
                    figures["status_get_at_500rps"] = {"tool": "python", **status.summary()}
                submit_body = json.dumps({"kind": "job", "model_name": "bench-submit"}).encode()
                submit = run_load(
                    service.port,
                    "/v1/training-runs",
                    rate=20,
                    seconds=10,
                    method="POST",
                    body=submit_body,
                    processes=1,
                    connections=4,
                )
                figures["submit_at_20rps"] = submit.summary()
    finally:
        service.stop()
    return figures


def queue_figures(scratch: Path, runs: int) -> dict[str, Any]:
    service = Service(scratch / "queue").start()
    try:
        with httpx.Client(base_url=service.url, timeout=300) as client:
            wait_warm(client)
            assert service.proc is not None
            memory = PeakMemory(service.pid).start()
            started = time.perf_counter()
            ids = [
                client.post(
                    "/v1/training-runs",
                    json={
                        "model_name": "bench-queue",
                        "hyperparameters": {"reg_rate": round(0.001 * (i + 1), 4)},
                    },
                ).json()["id"]
                for i in range(runs)
            ]
            statuses = [
                client.get(f"/v1/training-runs/{r}/wait", params={"timeout": 300}).json()["status"]
                for r in ids
            ]
            elapsed = time.perf_counter() - started
            peak = memory.stop()
    finally:
        service.stop()
    return {
        "queued_runs": runs,
        "completed": statuses.count("completed"),
        "seconds": round(elapsed, 1),
        "peak_pss_mb": round(peak / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-queue", action="store_true")
    parser.add_argument("--queue-runs", type=int, default=50)
    args = parser.parse_args()

    from app.sampledata import write_csv

    with tempfile.TemporaryDirectory(prefix="trainctl-bench-") as tmp:
        scratch = Path(tmp)
        data = Path(write_csv(scratch / "diabetes.csv", rows=10_000, seed=42))  # = the default asset
        results: dict[str, Any] = {
            "floor_s": [round(t, 3) for t in floor_seconds(data, scratch, args.repeats)]
        }
        results["one_shot_cli_s"] = [round(t, 3) for t in one_shot_seconds(scratch, args.repeats)]
        results.update(service_figures(scratch, args.repeats, load=not args.skip_load))
        if not args.skip_queue:
            results["queue"] = queue_figures(scratch, args.queue_runs)

    floor = median(results["floor_s"])
    results["ratios"] = {
        "warm_pipeline_vs_floor": round(median(results["warm_pipeline_s"]) / floor, 3),
        "reused_pipeline_vs_floor": round(median(results["reused_pipeline_s"]) / floor, 3),
        "one_shot_cli_vs_floor": round(median(results["one_shot_cli_s"]) / floor, 3),
    }
    report(results, floor)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))


def report(results: dict[str, Any], floor: float) -> None:
    ratios = results["ratios"]
    rows = [
        ("one-process floor (floor.py)", f"{floor:.2f} s", "1.00x", ""),
        (
            "warm service: POST -> outcome, fresh",
            f"{median(results['warm_pipeline_s']):.2f} s",
            f"{ratios['warm_pipeline_vs_floor']:.3f}x",
            "target <= 0.25x",
        ),
        (
            "warm service: fully reused re-run",
            f"{median(results['reused_pipeline_s']):.3f} s",
            f"{ratios['reused_pipeline_vs_floor']:.3f}x",
            "target <= 0.05x",
        ),
        (
            "one-shot CLI incl. engine start-up",
            f"{median(results['one_shot_cli_s']):.2f} s",
            f"{ratios['one_shot_cli_vs_floor']:.3f}x",
            "target <= 1.0x",
        ),
    ]
    if "status_get_at_500rps" in results:
        s, p = results["status_get_at_500rps"], results["submit_at_20rps"]
        rows.append(
            (
                f"status GET offered 500 req/s ({s.get('tool', 'python')})",
                f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms",
                f"{s['rate_per_s']} req/s served",
                "target p99 < 10 ms",
            )
        )
        if "healthz_at_500rps" in results:
            h = results["healthz_at_500rps"]
            rows.append(
                (
                    "  same load on /healthz",
                    f"p50 {h['p50_ms']} ms, p99 {h['p99_ms']} ms",
                    f"{h['rate_per_s']} req/s served",
                    "",
                )
            )
        rows.append(
            (
                "submit POST at 20 req/s",
                f"p50 {p['p50_ms']} ms, p99 {p['p99_ms']} ms",
                f"{p['rate_per_s']} req/s",
                "target p99 < 50 ms",
            )
        )
    if "queue" in results:
        q = results["queue"]
        rows.append(
            (
                f"{q['queued_runs']} queued pipelines",
                f"{q['completed']} completed in {q['seconds']} s",
                f"peak {q['peak_pss_mb']} MB (PSS)",
                "goal < 1536 MB",
            )
        )
    width = max(len(r[0]) for r in rows)
    for name, value, ratio, target in rows:
        print(f"{name:<{width}}  {value:<28} {ratio:<16} {target}")
    print(f"steps of the last fresh warm run: {results['warm_steps_s']}; runner: {results['step_runner']}")


if __name__ == "__main__":
    main()
