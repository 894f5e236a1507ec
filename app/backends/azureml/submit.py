"""Builds the Azure ML job (command) or pipeline job for a RunSpec from registered components."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from app.backends.base import (
    EVALUATE_STEP,
    REGISTER_STEP,
    TRAIN_STEP,
    BackendError,
    RunSpec,
)

RUN_ID_TAG = "trainctl.run_id"
KIND_TAG = "trainctl.kind"
_NAME_LIMIT = 100


def job_name_for(run_id: str) -> str:
    """The Azure job name of a run: derived from the run id, so it is found again after a crash.

    Job names allow letters, digits, `-` and `_`. When cleaning changes the id, a short hash
    of the original keeps two different ids from landing on the same name.
    """
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "-", run_id).strip("-_") or "run"
    name = f"trainctl-{cleaned}"
    if cleaned != run_id or len(name) > _NAME_LIMIT:
        suffix = hashlib.sha256(run_id.encode()).hexdigest()[:10]
        name = f"{name[: _NAME_LIMIT - 11]}-{suffix}"
    return name


def job_tags(spec: RunSpec) -> dict[str, str]:
    return {**spec.tags, RUN_ID_TAG: spec.run_id, KIND_TAG: spec.kind}


def step_environment_variables(spec: RunSpec, client_id: str | None) -> dict[str, str]:
    env = {"TRAINCTL_RUN_ID": spec.run_id}
    if client_id:
        # The original scripts read this name; Azure ML itself only sets DEFAULT_IDENTITY_CLIENT_ID.
        env["MANAGED_IDENTITY_CLIENT_ID"] = client_id
    return env


def _identity(client_id: str | None) -> Any:
    from azure.ai.ml.entities import ManagedIdentityConfiguration

    return ManagedIdentityConfiguration(client_id=client_id) if client_id else None


def _require_compute(spec: RunSpec) -> str:
    if not spec.compute:
        raise BackendError("a compute target is required on Azure ML (compute / --compute_name)")
    return spec.compute


def _accepted(component: Any, values: dict[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    """Only the inputs the component declares: optional knobs are dropped if a YAML lacks them,
    required ones fail loudly with the component named."""
    declared = set(component.inputs or {})
    missing = [name for name in required if name not in declared]
    if missing:
        raise BackendError(f"component {component.name} does not declare inputs {missing}")
    return {key: value for key, value in values.items() if key in declared}


def data_input(name: str, version: str) -> Any:
    from azure.ai.ml import Input

    return Input(type="uri_file", path=f"azureml:{name}:{version}")


def build_command_job(
    spec: RunSpec, train: Any, environment: str, data_version: str, client_id: str | None
) -> Any:
    """`azure.ai.ml.command` from the train component: same command, code and interface."""
    from azure.ai.ml import Output, command

    compute = spec.step_compute.get(TRAIN_STEP) or _require_compute(spec)
    inputs: dict[str, Any] = {
        "training_data": data_input(spec.data_asset.name, data_version),
        "reg_rate": spec.reg_rate,
        "solver": spec.solver,
    }
    for name, port in (train.inputs or {}).items():
        if name not in inputs and getattr(port, "default", None) is not None:
            inputs[name] = port.default
    inputs = _accepted(train, inputs, ("training_data", "reg_rate", "solver"))
    outputs = {name: Output(type=port.type) for name, port in (train.outputs or {}).items()}
    return command(
        name=job_name_for(spec.run_id),
        display_name=TRAIN_STEP,
        experiment_name=spec.experiment_name,
        description=f"trainctl run {spec.run_id}",
        tags=job_tags(spec),
        code=train.code,  # the registered code asset: nothing is uploaded again
        command=train.command,
        environment=environment,
        compute=compute,
        inputs=inputs,
        outputs=outputs,
        identity=_identity(client_id),
        environment_variables=step_environment_variables(spec, client_id),
    )


def build_pipeline_job(
    spec: RunSpec, components: dict[str, Any], data_version: str, client_id: str | None
) -> Any:
    """train -> evaluate -> register, with the step names the API exposes as display names.

    The components come registered with the environment already bound, so the nodes carry
    no environment override of their own.
    """
    from azure.ai.ml import dsl

    default_compute = _require_compute(spec)
    train, evaluate, register = components["train"], components["evaluate"], components["register"]
    env_vars = step_environment_variables(spec, client_id)
    data_asset = f"{spec.data_asset.name}:{data_version}"
    train_inputs = _accepted(
        train, {"reg_rate": spec.reg_rate, "solver": spec.solver}, ("training_data", "reg_rate", "solver")
    )

    def _configure(node: Any, step: str) -> None:
        node.display_name = step
        node.environment_variables = dict(env_vars)
        if spec.step_compute.get(step):
            node.compute = spec.step_compute[step]

    # Variable names become the node keys in the pipeline body; keep them stable.
    pipeline_name = spec.pipeline_name or f"{spec.experiment_name}-pipeline"

    # No annotations here: dsl.pipeline reads them to type the pipeline's inputs, and with
    # postponed evaluation it would see the string "Any" and refuse it.
    @dsl.pipeline(None, name=pipeline_name, compute=default_compute)
    def diabetes_pipeline(training_data):  # type: ignore[no-untyped-def]
        train_model = train(training_data=training_data, **train_inputs)
        _configure(train_model, TRAIN_STEP)
        evaluate_model = evaluate(
            **_accepted(
                evaluate,
                {
                    "model_input": train_model.outputs.model_output,
                    "test_data": train_model.outputs.test_data,
                    "model_name": spec.model_name,
                    "promotion_metric": spec.promotion.metric,
                    "min_improvement": spec.promotion.min_improvement,
                },
                ("model_input", "test_data", "model_name"),
            )
        )
        _configure(evaluate_model, EVALUATE_STEP)
        register_model = register(
            **_accepted(
                register,
                {
                    "model_input": train_model.outputs.model_output,
                    "evaluation_output": evaluate_model.outputs.evaluation_output,
                    "model_name": spec.model_name,
                    "data_asset": data_asset,
                },
                ("model_input", "evaluation_output", "model_name"),
            )
        )
        _configure(register_model, REGISTER_STEP)

    job = diabetes_pipeline(training_data=data_input(spec.data_asset.name, data_version))
    job.name = job_name_for(spec.run_id)
    job.display_name = pipeline_name
    job.experiment_name = spec.experiment_name
    job.description = f"trainctl run {spec.run_id}"
    job.tags = job_tags(spec)
    if job.settings is None:
        from azure.ai.ml.entities import PipelineJobSettings

        job.settings = PipelineJobSettings()
    job.settings.default_compute = default_compute
    job.settings.force_rerun = bool(spec.force_rerun)
    # dsl.pipeline takes no identity; the built PipelineJob serializes one (azure-ai-ml 1.35).
    identity = _identity(client_id)
    if identity is not None:
        job.identity = identity
    return job
