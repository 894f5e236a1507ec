"""The OpenAPI operationId of every API route: short, stable names that generated clients use
as function names (``submitRun`` rather than FastAPI's ``submit_run_v1_training_runs_post``).

Renaming one breaks every generated client: add new ones, never change these.
"""

from __future__ import annotations

from fastapi.routing import APIRoute
from fastapi.utils import generate_unique_id

OPERATION_IDS = {
    # training runs
    "submit_run": "submitRun",
    "list_runs": "listRuns",
    "get_run": "getRun",
    "wait_run": "waitRun",
    "cancel_run": "cancelRun",
    "run_metrics": "getRunMetrics",
    "run_outcome": "getOutcome",
    "list_artifacts": "listArtifacts",
    "get_artifact": "getArtifact",
    "run_logs": "getRunLogs",
    "run_trials": "listTrials",
    # models
    "list_models": "listModels",
    "get_model": "getModel",
    # data assets
    "list_assets": "listDataAssets",
    "get_asset": "getDataAsset",
    "create_asset": "createDataAsset",
    # events
    "stream_events": "streamEvents",
    # service
    "healthz": "getHealth",
    "readyz": "getReadiness",
    "backend_info": "getBackend",
}


def operation_id(route: APIRoute) -> str:
    """FastAPI's ``generate_unique_id_function``: a documented route without a stable id is a
    bug; routes outside the API description (/metrics, the dashboard) keep FastAPI's."""
    if not route.include_in_schema:
        return generate_unique_id(route)
    try:
        return OPERATION_IDS[route.name]
    except KeyError:
        where = f"{route.name} ({route.path})"
        raise LookupError(f"route {where} has no operationId in app/api/operations.py") from None
