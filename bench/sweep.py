"""The sweep benchmark: a 16-trial sweep pipeline on a warm service, POST -> outcome, as a
ratio against ../shared/bench-floor/sweep_floor.py (the same 16 trials, then evaluate ->
register, sequentially in one process) measured in the same run.

    .venv/bin/python bench/sweep.py [--repeats 3] [--skip-wide]

The trials are the floor's: reg_rate in (0.001, 0.01, 0.1, 1) x solver in (lbfgs, liblinear,
newton-cg, newton-cholesky), a grid, on the same 10,000 generated rows. Reported: the ratio,
trials per second, the peak memory (PSS of the service, its zygote and every step) while the
sweep runs at the default step limit, and again with all 16 trials in flight at once
(TRAINCTL_MAX_PARALLEL_STEPS=16). The floor and the sweep run in turns, each ratio against the
floors of its own turns. Prints a table and writes bench/results/sweep.json.
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

from bench.memory import PeakMemory  # noqa: E402
from bench.run import post_to_outcome, wait_warm  # noqa: E402
from bench.service import Service  # noqa: E402

FLOOR = Path(
    os.environ.get("TRAINCTL_SWEEP_FLOOR", ROOT.parent / "shared" / "bench-floor" / "sweep_floor.py")
)
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
TRIALS = 16
SWEEP = {
    "sampling": "grid",
    "max_trials": TRIALS,
    "search_space": {
        "reg_rate": {"choice": [0.001, 0.01, 0.1, 1.0]},
        "solver": {"choice": ["lbfgs", "liblinear", "newton-cg", "newton-cholesky"]},
    },
}


def floor_once(data: Path, workdir: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(FLOOR), str(data), str(workdir), "--trials", str(TRIALS)],
        check=True,
        cwd=FLOOR.parent,  # it imports its neighbour pipeline.py
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return time.perf_counter() - started


def sweep_to_outcome(client: httpx.Client, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    elapsed, run = post_to_outcome(client, body)
    if run["trials"]["completed"] != TRIALS:
        raise RuntimeError(f"expected {TRIALS} completed trials: {run['trials']}")
    return elapsed, run


def service_figures(
    data: Path, scratch: Path, repeats: int, *, parallel: int | None, label: str
) -> dict[str, Any]:
    """Floor and sweep measured in turns (the warm service idles while the floor runs), so a
    change in the machine's load hits both alike."""
    env = {"TRAINCTL_MAX_PARALLEL_STEPS": str(parallel)} if parallel else {}
    service = Service(scratch / label, env=env).start()
    figures: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=service.url, timeout=300) as client:
            figures["step_runner"] = wait_warm(client)
            sweep = {**SWEEP, "max_concurrent_trials": parallel or TRIALS}
            body = {"model_name": f"bench-{label}", "experiment_name": "bench", "sweep": sweep}
            sweep_to_outcome(client, body)  # the service's first sweep: not counted
            floors, fresh, peaks = [], [], []
            for i in range(repeats):
                floors.append(floor_once(data, scratch / f"floor-{label}-{i}"))
                memory = PeakMemory(service.pid).start()
                fresh.append(sweep_to_outcome(client, {**body, "force_rerun": True}))
                peaks.append(memory.stop())
            figures["floor_s"] = [round(t, 3) for t in floors]
            figures["sweep_s"] = [round(t, 3) for t, _ in fresh]
            figures["peak_pss_mb"] = round(max(peaks) / 2**20, 1)
            last = fresh[-1][1]
            figures["steps_s"] = {s["name"]: s["duration_seconds"] for s in last["steps"]}
            trials = client.get(f"/v1/training-runs/{last['id']}/trials").json()["items"]
            figures["trial_s_median"] = statistics.median(t["duration_seconds"] for t in trials)
            figures["best_trial"] = {k: trials[0][k] for k in ("name", "objective", "hyperparameters")}
            reused = [sweep_to_outcome(client, body) for _ in range(repeats)]
            figures["reused_s"] = [round(t, 3) for t, _ in reused]
    finally:
        service.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-wide", action="store_true", help="skip the run with all 16 trials in flight")
    args = parser.parse_args()

    from app.sampledata import write_csv

    with tempfile.TemporaryDirectory(prefix="trainctl-bench-sweep-") as tmp:
        scratch = Path(tmp)
        data = Path(write_csv(scratch / "diabetes.csv", rows=10_000, seed=42))  # = the default asset
        results: dict[str, Any] = {
            "default": service_figures(data, scratch, args.repeats, parallel=None, label="default")
        }
        if not args.skip_wide:
            results["wide"] = service_figures(data, scratch, args.repeats, parallel=TRIALS, label="wide")

    for figures in (results["default"], results.get("wide")):
        if figures:
            floor = statistics.median(figures["floor_s"])
            sweep = statistics.median(figures["sweep_s"])
            figures["ratio_vs_floor"] = round(sweep / floor, 3)
            figures["trials_per_s"] = round(TRIALS / sweep, 2)
            figures["reused_ratio_vs_floor"] = round(statistics.median(figures["reused_s"]) / floor, 4)
    results["floor_s"] = results["default"]["floor_s"] + results.get("wide", {}).get("floor_s", [])
    floor = statistics.median(results["floor_s"])
    results["floor_trials_per_s"] = round(TRIALS / floor, 2)
    report(results, floor)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(results, indent=2))


def report(results: dict[str, Any], floor: float) -> None:
    rows = [
        (
            "sweep floor (sweep_floor.py, 16 trials)",
            f"{floor:.2f} s",
            "1.00x",
            f"{results['floor_trials_per_s']} trials/s",
            "",
        )
    ]
    for key, name in (
        ("default", "warm service, 16-trial sweep, default step limit"),
        ("wide", "  same, 16 trials in flight"),
    ):
        figures = results.get(key)
        if not figures:
            continue
        rows.append(
            (
                name,
                f"{statistics.median(figures['sweep_s']):.2f} s",
                f"{figures['ratio_vs_floor']:.3f}x",
                f"{figures['trials_per_s']} trials/s",
                f"peak {figures['peak_pss_mb']} MB (PSS)",
            )
        )
        rows.append(
            (
                "  fully reused re-run",
                f"{statistics.median(figures['reused_s']):.3f} s",
                f"{figures['reused_ratio_vs_floor']:.4f}x",
                "",
                "",
            )
        )
    width = max(len(r[0]) for r in rows)
    for name, value, ratio, rate, memory in rows:
        print(f"{name:<{width}}  {value:<10} {ratio:<9} {rate:<16} {memory}")
    default = results["default"]
    print(f"target: <= 0.5x the floor; steps of the last fresh sweep: {default['steps_s']}")
    print(f"median trial {default['trial_s_median']} s; best {default['best_trial']}")
    print(f"runner: {default['step_runner']}")


if __name__ == "__main__":
    main()
