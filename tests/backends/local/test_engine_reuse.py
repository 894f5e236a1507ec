"""Step reuse: unchanged steps are reused, a changed byte re-runs exactly the affected steps."""

from __future__ import annotations

import shutil
from pathlib import Path

from app.backends.local.backend import LocalBackend
from app.backends.local.champion import champion_version
from app.domain.pipeline import graph
from app.domain.spec import DataAssetRef, RunSpec
from app.domain.state import RunState
from tests.support.loop import LoopThread
from tests.support.runs import sample_csv

_counter = iter(range(10_000))


def run(
    loop: LoopThread, backend: LocalBackend, data: Path, model: str, reg_rate: float = 0.01, **kw: object
) -> RunState:
    spec = RunSpec.model_validate(
        {
            "run_id": f"run-test-{next(_counter):04d}",
            "kind": "pipeline",
            "experiment_name": "engine-tests",
            "model_name": model,
            "data_asset": DataAssetRef(name="d", version="1", path=data),
            "hyperparameters": {"reg_rate": reg_rate},
            **kw,
        }
    )
    engine = backend.engine
    assert engine is not None

    async def submit_and_wait() -> RunState:
        engine.submit(spec, graph(spec))
        return await engine.wait(spec.run_id)

    state = loop.run(submit_and_wait())
    assert state.raw_status == "Completed", (state.error, [(s.name, s.error) for s in state.steps])
    return state


def reused(state: RunState) -> dict[str, bool]:
    return {s.name: s.reused for s in state.steps}


def test_identical_rerun_reuses_all_and_changed_data_reruns_all(
    loop: LoopThread, backend: LocalBackend, tmp_path: Path
) -> None:
    data = sample_csv(tmp_path / "data.csv", rows=1500, seed=11)
    first = run(loop, backend, data, "reuse-data")
    assert reused(first) == {"train-model": False, "evaluate-model": False, "register-model": False}
    assert champion_version(backend.layout.mlflow_db, "reuse-data") == "1"

    assert all(reused(run(loop, backend, data, "reuse-data")).values())

    # One byte of the data: the last label digit flips, so the training input differs.
    raw = bytearray(data.read_bytes())
    index = raw.rstrip(b"\n").rfind(b",") + 1
    raw[index] = ord("1") if raw[index] == ord("0") else ord("0")
    changed = tmp_path / "changed.csv"
    changed.write_bytes(bytes(raw))
    assert not any(reused(run(loop, backend, changed, "reuse-data")).values())


def test_changed_script_reruns_only_that_step_and_downstream(
    loop: LoopThread, backend: LocalBackend, tmp_path: Path
) -> None:
    data = sample_csv(tmp_path / "data.csv", rows=1500, seed=12)
    run(loop, backend, data, "reuse-script")
    evaluate = backend.components_dir / "evaluate" / "src" / "evaluate.py"
    original = evaluate.read_text()
    try:
        evaluate.write_text(original + "\n# one more line\n")
        state = run(loop, backend, data, "reuse-script")
        assert reused(state) == {"train-model": True, "evaluate-model": False, "register-model": False}
    finally:
        evaluate.write_text(original)


def test_force_rerun_runs_every_step(loop: LoopThread, backend: LocalBackend, tmp_path: Path) -> None:
    data = sample_csv(tmp_path / "data.csv", rows=1500, seed=13)
    run(loop, backend, data, "reuse-force")
    state = run(loop, backend, data, "reuse-force", force_rerun=True)
    assert not any(reused(state).values())


def test_reuse_needs_the_champion_the_step_saw_or_left(
    loop: LoopThread, backend: LocalBackend, tmp_path: Path
) -> None:
    data = sample_csv(tmp_path / "data.csv", rows=1500, seed=14)
    mlflow_db = backend.layout.mlflow_db
    run(loop, backend, data, "reuse-champion", reg_rate=1000)  # a weak model becomes v1
    assert champion_version(mlflow_db, "reuse-champion") == "1"
    run(loop, backend, data, "reuse-champion", reg_rate=0.01)  # a far better one: v2
    assert champion_version(mlflow_db, "reuse-champion") == "2"
    # The weak parameters again: training is reused, but the champion moved on since that
    # evaluation, so the decision is made again against v2 instead of being replayed.
    state = run(loop, backend, data, "reuse-champion", reg_rate=1000)
    assert reused(state) == {"train-model": True, "evaluate-model": False, "register-model": False}
    assert champion_version(mlflow_db, "reuse-champion") == "2"


def test_data_file_copy_with_same_bytes_is_reused(
    loop: LoopThread, backend: LocalBackend, tmp_path: Path
) -> None:
    data = sample_csv(tmp_path / "data.csv", rows=1500, seed=15)
    run(loop, backend, data, "reuse-copy")
    copy = tmp_path / "copy.csv"
    shutil.copyfile(data, copy)
    assert all(reused(run(loop, backend, copy, "reuse-copy")).values())
