"""Builds the Azure ML job for a RunSpec from the one pipeline graph: a command job for a
one-step graph, otherwise a ``dsl.pipeline`` with one node per step; a sweep node becomes the
train component's ``.sweep(...)`` (``sweeps.py``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from app.domain.errors import BackendError
from app.domain.pipeline import Binding, FromDataAsset, FromStep, Step, graph
from app.domain.spec import RunSpec

from . import sweeps

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


def step_environment_variables(
    spec: RunSpec, client_id: str | None, *, reusable: bool = False
) -> dict[str, str]:
    """What a step finds in its environment. Environment variables are part of Azure ML's reuse
    key: a step that may be reused gets nothing per run (the run id would defeat reuse)."""
    env = {} if reusable else {"TRAINCTL_RUN_ID": spec.run_id}
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


def _declared(component: Any, step: Step) -> None:
    """Every input the graph binds must be one the registered component declares."""
    missing = sorted(set(step.inputs) - set(component.inputs or {}))
    if missing:
        raise BackendError(f"component {component.name} does not declare inputs {missing}")


def data_input(name: str, version: str, data_type: str) -> Any:
    """The training data as a job input of the asset's own type: Azure ML refuses an input
    whose type differs from its data asset's (a uri_folder asset given as uri_file)."""
    from azure.ai.ml import Input

    return Input(type=data_type, path=f"azureml:{name}:{version}")


def data_ports(step: Step) -> tuple[str, ...]:
    """The step's inputs bound to the run's data asset (their port type follows the asset's)."""
    return tuple(name for name, binding in step.inputs.items() if isinstance(binding, FromDataAsset))


def _bind(step: Step, data: Any, nodes: Mapping[str, Any]) -> dict[str, Any]:
    def value(binding: Binding) -> Any:
        if isinstance(binding, FromStep):
            return nodes[binding.step].outputs[binding.output]
        if isinstance(binding, FromDataAsset):
            return data
        return binding

    return {name: value(binding) for name, binding in step.inputs.items()}


def build_command_job(
    spec: RunSpec, components: Mapping[str, Any], environment: str, client_id: str | None, data_type: str
) -> Any:
    """`azure.ai.ml.command` from the graph's single step: same command, code and interface."""
    from azure.ai.ml import Output, command

    (step,) = graph(spec)
    component = components[step.component]
    _declared(component, step)
    inputs = _bind(step, data_input(spec.data_asset.name, spec.data_asset.version, data_type), {})
    if step.sweep is not None:
        inputs |= sweeps.search_space(step.sweep.options)
    for name, port in (component.inputs or {}).items():
        if name not in inputs and getattr(port, "default", None) is not None:
            inputs[name] = port.default
    outputs = {name: Output(type=port.type) for name, port in (component.outputs or {}).items()}
    job = command(
        name=job_name_for(spec.run_id),
        display_name=step.name,
        experiment_name=spec.experiment_name,
        description=f"trainctl run {spec.run_id}",
        tags=job_tags(spec),
        code=component.code,  # the registered code asset: nothing is uploaded again
        command=component.command,
        environment=environment,
        compute=spec.compute_for(step.name) or _require_compute(spec),
        inputs=inputs,
        outputs=outputs,
        identity=_identity(client_id),
        environment_variables=step_environment_variables(spec, client_id),
    )
    if step.sweep is None:
        return job
    # A job with a sweep is a sweep job: the command above is its trial.
    swept = sweeps.make_sweep(job, step.sweep, spec.compute_for(step.name) or _require_compute(spec))
    swept.name, swept.display_name = job.name, step.name
    swept.experiment_name, swept.description, swept.tags = job.experiment_name, job.description, job.tags
    swept.identity = _identity(client_id)
    return swept


def build_pipeline_job(
    spec: RunSpec, components: Mapping[str, Any], client_id: str | None, data_type: str
) -> Any:
    """One node per graph step, keyed by the step's node key and shown under the step name the
    API exposes. The components come registered with the environment already bound, so the
    nodes carry no environment override of their own."""
    from azure.ai.ml import dsl

    default_compute = _require_compute(spec)
    steps = graph(spec)
    for step in steps:
        _declared(components[step.component], step)
    pipeline_name = spec.pipeline_name or f"{spec.experiment_name}-pipeline"

    # No annotations here: dsl.pipeline reads them to type the pipeline's inputs, and with
    # postponed evaluation it would see the string "Any" and refuse it.
    @dsl.pipeline(None, name=pipeline_name, compute=default_compute)
    def diabetes_pipeline(training_data):  # type: ignore[no-untyped-def]
        nodes: dict[str, Any] = {}
        for step in steps:
            inputs = _bind(step, training_data, nodes)
            if step.sweep is not None:
                inputs |= sweeps.search_space(step.sweep.options)
            node = components[step.component](**inputs)
            if step.sweep is not None:  # the best trial's outputs are the node's outputs
                node = sweeps.make_sweep(node, step.sweep, spec.compute_for(step.name))
            node.name = step.node_key
            node.display_name = step.name
            if step.sweep is None:  # a sweep node takes none (its trials run the component as is)
                reusable = bool(getattr(components[step.component], "is_deterministic", False))
                node.environment_variables = step_environment_variables(spec, client_id, reusable=reusable)
            if spec.compute_for(step.name):
                node.compute = spec.compute_for(step.name)
            nodes[step.name] = node

    job = diabetes_pipeline(
        training_data=data_input(spec.data_asset.name, spec.data_asset.version, data_type)
    )
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
