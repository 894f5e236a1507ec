"""How Azure Resource Manager answers, as the recordings show it: api-version checks, the error
body, the response headers that matter.

Facts from `../shared/azure-recordings/` (see SOURCES.md there):
- every ARM answer carries `x-ms-response-type`: `standard`, or `error` on an error body;
- an error body is `{"error": {"code", "message", "details": [], "additionalInfo": [...]}}`
  with `additionalInfo` items `{type, info: {value}}` (ComponentName, Correlation, ...);
- a PUT that creates answers 201 with a `Location` header naming the resource (with the
  api-version), a PUT that updates answers 200 without one;
- no answer of the service carries `Retry-After`, and none of the long-running operations
  uses `Azure-AsyncOperation` (cancel polls the `Location` URL).

What the recordings cannot show (the fake's own wording, marked where used): the answers to a
missing or unknown api-version follow ARM's documented codes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from .transport import Reply

ARM_HOST = "management.azure.com"
PROVIDER = "Microsoft.MachineLearningServices"

# The api-versions the recorded sessions and azure-ai-ml 1.35.2 use against this provider;
# the service supports more, but a version outside this set in a test means the SDK changed
# under us, which a test should notice.
KNOWN_API_VERSIONS = frozenset(
    {
        "2022-10-01",
        "2022-10-01-preview",
        "2023-04-01",
        "2023-04-01-preview",
        "2023-08-01-preview",
        "2024-01-01-preview",
        "2024-07-01-preview",
        "2024-10-01-preview",
        "2025-01-01-preview",
    }
)
# Run history (the `{region}.api.azureml.ms/history/v1.0/...` routes) takes its own version.
RUN_HISTORY_API_VERSION = "v1.0"

STANDARD = {"x-ms-response-type": "standard"}


def request_id() -> str:
    return str(uuid.uuid4())


def ok(status: int, payload: Any, *, location: str | None = None) -> Reply:
    """A successful ARM answer; `location` for a 201 that created a resource."""
    headers = dict(STANDARD)
    headers["x-ms-correlation-request-id"] = request_id()
    if location is not None:
        headers["Location"] = location
    return Reply.json(status, payload, headers)


def error(
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    inner: list[str] | None = None,
    location: str = "westeurope",
) -> Reply:
    """The ARM error body as recorded (06, 07, 08): details, additionalInfo, inner code chain."""
    info: list[dict[str, Any]] = [
        {"type": "ComponentName", "info": {"value": "managementfrontend"}},
        {
            "type": "Correlation",
            "info": {"value": {"operation": uuid.uuid4().hex, "request": uuid.uuid4().hex[:16]}},
        },
        {"type": "Environment", "info": {"value": location}},
        {"type": "Location", "info": {"value": location}},
        {"type": "Time", "info": {"value": "2025-01-01T12:00:00.0000000+00:00"}},
    ]
    if inner:
        chain: dict[str, Any] | None = None
        for code_name in reversed(inner):
            chain = {"code": code_name, "innerError": chain}
        info.append({"type": "InnerError", "info": {"value": chain}})
    body = {
        "error": {
            "code": code,
            "message": message,
            "details": [
                {"code": d["code"], "message": d["message"], "details": [], "additionalInfo": []}
                for d in details or []
            ],
            "additionalInfo": info,
        }
    }
    return Reply.json(
        status, body, {"x-ms-response-type": "error", "x-ms-correlation-request-id": request_id()}
    )


def api_version_problem(query: Mapping[str, str], resource_type: str, location: str) -> Reply | None:
    """ARM refuses a request without an api-version, or with one the provider does not know.

    Not in the recordings (the SDK always sends a known one); the codes are ARM's documented
    `MissingApiVersionParameter` and `NoRegisteredProviderFound`.
    """
    version = query.get("api-version")
    if not version:
        return error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
            location=location,
        )
    if version not in KNOWN_API_VERSIONS:
        return error(
            400,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for location '{location}' and API version "
            f"'{version}' for type '{resource_type}'. The supported api-versions are "
            f"'{', '.join(sorted(KNOWN_API_VERSIONS))}'.",
            location=location,
        )
    return None
