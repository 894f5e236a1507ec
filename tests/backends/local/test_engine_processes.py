"""Each step is its own process group with its own log: cancel, failure, parallelism, fallback."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from textwrap import dedent

from app.backends.local.backend import LocalBackend
from app.backends.local.engine import LocalEngine
from app.backends.local.layout import DataLayout
from app.backends.local.runners import FreshInterpreterRunner
from app.backends.local.stepcache import MemoryStepCache
from app.domain.pipeline import FromStep, Step, graph
from app.domain.spec import DataAssetRef, RunSpec
from app.domain.state import RunState
from tests.support.loop import LoopThread

SLEEPER = dedent(
    """
    import argparse, json, os, subprocess, sys, time

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--after", default="")
    parser.add_argument("--out")
    args = parser.parse_args()
    started = time.time()
    # A grandchild in the same process group: cancel must take it down too.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(os.path.join(args.out, "pids.json"), "w") as f:
        json.dump({"step": os.getpid(), "child": child.pid, "start": started}, f)
    print("sleeping", args.seconds, flush=True)
    time.sleep(args.seconds)
    child.kill()
    with open(os.path.join(args.out, "times.json"), "w") as f:
        json.dump({"start": started, "end": time.time()}, f)
    """
)

SLEEPER_YML = dedent(
    """
    $schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
    type: command
    name: sleeper
    version: 1
    inputs:
      seconds: {type: number, default: 1}
      after: {type: uri_folder, optional: true}
    outputs:
      out: {type: uri_folder}
    code: ./src
    environment: azureml:diabetes-classify@latest
    command: >-
      python sleeper.py --seconds ${{inputs.seconds}}
      $[[--after ${{inputs.after}}]] --out ${{outputs.out}}
    """
)


def sleeper_component(root: Path) -> Path:
    (root / "sleeper" / "src").mkdir(parents=True, exist_ok=True)
    (root / "sleeper" / "src" / "sleeper.py").write_text(SLEEPER)
    (root / "sleeper" / "sleeper.yml").write_text(SLEEPER_YML)
    return root / "sleeper" / "sleeper.yml"


def spec(run_id: str, data: Path | None = None) -> RunSpec:
    return RunSpec(
        run_id=run_id,
        kind="pipeline",
        experiment_name="engine-tests",
        model_name="processes",
        data_asset=DataAssetRef(name="d", version="1", path=data or Path("/nonexistent")),
        force_rerun=True,
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (and a reaped process has no /proc entry any more).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:  # ENOENT or ESRCH: it is gone
        return False


def test_cancel_kills_the_whole_process_group(
    loop: LoopThread, backend: LocalBackend, tmp_path: Path
) -> None:
    sleeper_component(backend.components_dir)
    plan = (Step("train-model", "sleeper", {"seconds": "60"}),)
    engine = backend.engine
    assert engine is not None
    run_spec = spec("run-cancel-1")

    async def start_then_cancel() -> tuple[RunState, dict[str, int]]:
        engine.submit(run_spec, plan)
        outputs = backend.layout.step_dir("run-cancel-1", "train-model", 1) / "outputs" / "out"
        for _ in range(300):
            if (outputs / "pids.json").exists():
                break
            await asyncio.sleep(0.05)
        pids = json.loads((outputs / "pids.json").read_text())
        await engine.cancel("run-cancel-1")
        return engine.state("run-cancel-1"), pids

    state, pids = loop.run(start_then_cancel())
    assert state.raw_status == "Canceled"
    assert state.steps[0].raw_status == "Canceled"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (alive(pids["step"]) or alive(pids["child"])):
        time.sleep(0.1)
    assert not alive(pids["step"]) and not alive(pids["child"])


def test_failing_step_gives_its_error_line_and_skips_the_rest(
    loop: LoopThread, backend: LocalBackend, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("PatientID,Pregnancies\n1,2\n")
    run_spec = spec("run-fail-1", bad)
    engine = backend.engine
    assert engine is not None

    async def go() -> RunState:
        engine.submit(run_spec, graph(run_spec))
        return await engine.wait("run-fail-1")

    state = loop.run(go())
    assert state.raw_status == "Failed"
    train, evaluate, register = state.steps
    assert train.raw_status == "Failed" and train.exit_code == 2
    assert train.error is not None and "missing columns" in train.error, train.error
    assert "Traceback" not in train.error
    assert evaluate.raw_status == register.raw_status == "Canceled"
    assert "train-model" in (state.error or "")


def test_independent_steps_run_in_parallel_within_the_limit(tmp_path: Path) -> None:
    sleeper_component(tmp_path / "components")
    plan = (
        Step("a", "sleeper", {"seconds": "1.5"}),
        Step("b", "sleeper", {"seconds": "1.5"}),
        Step("c", "sleeper", {"seconds": "0.1", "after": FromStep("a", "out")}),
    )

    async def run_with(limit: int) -> dict[str, dict[str, float]]:
        layout = DataLayout(tmp_path / f"data-{limit}")
        layout.ensure()
        engine = LocalEngine(
            layout,
            FreshInterpreterRunner(),
            MemoryStepCache(),
            components_dir=tmp_path / "components",
            max_parallel_steps=limit,
        )
        engine.submit(spec(f"run-par-{limit}"), plan)
        state = await engine.wait(f"run-par-{limit}")
        assert state.raw_status == "Completed", [(s.name, s.error) for s in state.steps]
        outputs = engine.outputs
        return {
            n: json.loads((outputs(f"run-par-{limit}", n)["out"] / "times.json").read_text()) for n in "abc"
        }

    loop = LoopThread()
    try:
        parallel = loop.run(run_with(2))
        serial = loop.run(run_with(1))
    finally:
        loop.close()
    overlap = min(parallel["a"]["end"], parallel["b"]["end"]) - max(
        parallel["a"]["start"], parallel["b"]["start"]
    )
    assert overlap > 0.5, parallel
    assert parallel["c"]["start"] >= parallel["a"]["end"]  # dependency order
    assert serial["a"]["end"] <= serial["b"]["start"] or serial["b"]["end"] <= serial["a"]["start"], serial
