"""A real `mlflow server` on a loopback port, standing in for the workspace tracking endpoint,
and helpers that seed it with what the pipeline steps would have logged on Azure ML."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

# A 1x1 transparent PNG: enough for media-type and download assertions.
PNG_BYTES = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
CANDIDATE_METRICS = {"accuracy": 0.78, "precision": 0.71, "recall": 0.62, "f1": 0.66, "roc_auc": 0.85}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MlflowServer:
    uri: str
    root: Path
    process: subprocess.Popen[bytes]

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def stop(self) -> None:
        # `mlflow server` runs uvicorn as a child: signal the whole group it leads.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


class StartingServer:
    """`mlflow server` launched in the background; `ready()` waits for /health.

    Started as soon as the first Azure test runs, so its slow start-up overlaps other tests.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        self.uri = f"http://127.0.0.1:{port}"
        mlflow_bin = Path(sys.executable).with_name("mlflow")
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MPLCONFIGDIR": tempfile.gettempdir()}
        with (root / "server.log").open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(mlflow_bin),
                    "server",
                    "--backend-store-uri",
                    f"sqlite:///{root / 'mlflow.db'}",
                    "--artifacts-destination",
                    str(root / "artifacts"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    "1",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=root,
                start_new_session=True,
            )
        self._server: MlflowServer | None = None

    def ready(self, timeout_seconds: float = 120.0) -> MlflowServer:
        if self._server is not None:
            return self._server
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(self.root / 'server.log').read_text()[-2000:]}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.uri}/health", timeout=1) as reply,
            ):
                if reply.status == 200:
                    self._server = MlflowServer(self.uri, self.root, self.process)
                    return self._server
            time.sleep(0.25)
        MlflowServer(self.uri, self.root, self.process).stop()
        raise RuntimeError("mlflow server did not become healthy in time")

    def stop(self) -> None:
        MlflowServer(self.uri, self.root, self.process).stop()


@dataclass(frozen=True)
class SeededPipeline:
    """MLflow run ids of the three steps, as Azure ML would name them (job name == run id)."""

    train: str
    evaluate: str
    register: str
    registered_version: str | None

    def by_display_name(self) -> dict[str, str]:
        return {"train-model": self.train, "evaluate-model": self.evaluate, "register-model": self.register}


def _log_files(client: MlflowClient, run_id: str, files: dict[str, bytes]) -> None:
    """All files of a run in one log_artifacts call (relative paths kept)."""
    with tempfile.TemporaryDirectory() as scratch:
        for relative, data in files.items():
            local = Path(scratch) / relative
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
        client.log_artifacts(run_id, scratch)


def seed_pipeline(
    client: MlflowClient,
    *,
    experiment: str,
    model_name: str,
    deploy: bool = True,
    champion: dict[str, Any] | None = None,
) -> SeededPipeline:
    """What train/evaluate/register log for one pipeline run (schemas of components/)."""
    existing = client.get_experiment_by_name(experiment)
    experiment_id = existing.experiment_id if existing else client.create_experiment(experiment)

    train = client.create_run(experiment_id, run_name="train-model").info.run_id
    now = int(time.time() * 1000)
    metrics = [
        Metric(k, v, now, 0) for k, v in (CANDIDATE_METRICS | {"training_accuracy_score": 0.8}).items()
    ]
    client.log_batch(train, metrics=metrics, params=[Param("reg_rate", "0.01")])
    _log_files(
        client,
        train,
        {"roc_curve.png": PNG_BYTES, "user_logs/std_log.txt": b"fitting LogisticRegression\ntrain done\n"},
    )
    client.set_terminated(train)

    evaluate = client.create_run(experiment_id, run_name="evaluate-model").info.run_id
    reason = "no champion yet: candidate roc_auc 0.8500 becomes the first"
    if champion is not None:
        reason = f"candidate roc_auc 0.8500 vs champion {model_name} v{champion['version']}: " + (
            "promoted" if deploy else "not promoted"
        )
    decision = {
        "model_name": model_name,
        "candidate_metrics": CANDIDATE_METRICS,
        "champion": champion,
        "rule": {"metric": "roc_auc", "min_improvement": 0.0},
        "improvement": None if champion is None else 0.01,
        "deploy": deploy,
        "reason": reason,
        "test_rows": 300,
    }
    client.log_metric(evaluate, "deploy", float(deploy))
    _log_files(
        client,
        evaluate,
        {"decision.json": json.dumps(decision).encode(), "user_logs/std_log.txt": f"{reason}\n".encode()},
    )
    client.set_terminated(evaluate)

    register = client.create_run(experiment_id, run_name="register-model").info.run_id
    version: str | None = None
    if deploy:
        with contextlib.suppress(Exception):
            client.create_registered_model(model_name)
        created = client.create_model_version(
            model_name,
            f"runs:/{register}/model",
            run_id=register,
            tags={f"metric.{k}": repr(v) for k, v in CANDIDATE_METRICS.items()} | {"data_asset": "d:1"},
        )
        version = str(created.version)
        client.set_registered_model_alias(model_name, "champion", version)
        client.set_model_version_tag(model_name, version, "champion", "true")
    info = {
        "registered": deploy,
        "name": model_name,
        "version": version,
        "reason": reason,
        "champion_before": champion,
        "champion_after": (
            {"name": model_name, "version": version, "metrics": CANDIDATE_METRICS} if deploy else champion
        ),
        "metrics": CANDIDATE_METRICS,
    }
    _log_files(
        client,
        register,
        {"model_info.json": json.dumps(info).encode(), "user_logs/std_log.txt": json.dumps(info).encode()},
    )
    client.set_terminated(register)
    return SeededPipeline(train, evaluate, register, version)


@dataclass(frozen=True)
class Registry:
    """Two pipeline runs of one model: the first promoted (no champion yet), the second
    evaluated against it and not promoted."""

    model_name: str
    promoted: SeededPipeline
    kept: SeededPipeline


def seed_registry(client: MlflowClient, model_name: str, experiment: str = "diabetes-training") -> Registry:
    promoted = seed_pipeline(client, experiment=experiment, model_name=model_name)
    champion = {"name": model_name, "version": promoted.registered_version, "metrics": CANDIDATE_METRICS}
    kept = seed_pipeline(
        client, experiment=experiment, model_name=model_name, deploy=False, champion=champion
    )
    return Registry(model_name, promoted, kept)


def seed_job_run(server: MlflowServer, job_name: str, experiment: str, metrics: dict[str, float]) -> None:
    """What a command job logs on Azure ML, under the run id Azure ML gives it: the job's name.

    The MLflow API assigns run ids itself, so the run is created and then renamed in the
    server's own store (every table keyed by run_uuid), which the server reads on each request.
    """
    import sqlite3

    client = server.client()
    existing = client.get_experiment_by_name(experiment)
    experiment_id = existing.experiment_id if existing else client.create_experiment(experiment)
    run_id = client.create_run(experiment_id, run_name="train-model").info.run_id
    for key, value in metrics.items():
        client.log_metric(run_id, key, value)
    client.set_terminated(run_id)
    with contextlib.closing(sqlite3.connect(server.root / "mlflow.db")) as db, db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = {row[1] for row in db.execute(f"PRAGMA table_info('{table}')")}
            if "run_uuid" in columns:
                db.execute(f"UPDATE '{table}' SET run_uuid = ? WHERE run_uuid = ?", (job_name, run_id))
            if table == "runs" and "run_id" in columns:
                db.execute("UPDATE runs SET run_id = ? WHERE run_id = ?", (job_name, run_id))
