"""What to tell a person when Azure ML refused something: the role (or file) that fixes it.

Used by `trainctl doctor --smoke`, whose every failing line ends with its fix, and by the
registration of component code, which storage may refuse.
"""

from __future__ import annotations

from .client import http_status
from .environments import is_image_build_failure

ROLE = "assign the identity the AzureML Data Scientist role on the workspace"
STORAGE_ROLE = (
    "assign the identity Storage Blob Data Contributor on the workspace's storage account "
    "(its default datastore is identity-based)"
)

STORAGE_REFUSALS = {"AuthorizationPermissionMismatch", "AuthorizationFailure"}


def reason(error: BaseException) -> str:
    """The part of an error worth reading (after "what: ")."""
    return str(error).split(": ", 1)[-1].rstrip(".")


def storage_refused(error: BaseException) -> bool:
    """Storage (not Azure ML) refused: an upload to an identity-based datastore without a role."""
    current: BaseException | None = error
    for _ in range(10):
        if current is None:
            return False
        if getattr(current, "error_code", None) in STORAGE_REFUSALS:
            return True
        response = getattr(current, "response", None)
        url = str(getattr(getattr(response, "request", None), "url", "") or "")
        if ".blob.core." in url and getattr(response, "status_code", None) == 403:
            return True
        current = current.__cause__ or current.__context__
    return False


def write_fix(error: BaseException) -> str:
    """What to do when a write was refused: the role the refusal points at."""
    text = str(error)
    if storage_refused(error):
        return STORAGE_ROLE
    if http_status(error) in (401, 403) or "AuthorizationFailed" in text or "not allowed" in text:
        return ROLE
    return "retry; if it persists, check the workspace in Azure ML studio"


def run_fix(error: str, studio: str | None) -> str:
    """What to do about a smoke job that failed on the compute."""
    if is_image_build_failure(error):
        return (
            "check components/environment/conda.yml, and give the compute cluster's identity AcrPull "
            "on the workspace's container registry (image pulls)"
        )
    if any(word in error.lower() for word in ("authoriz", "permission", "forbidden", "403")):
        return (
            "give the compute cluster's identity AzureML Data Scientist on the workspace and Storage "
            "Blob Data Contributor on the datastore's storage account (step outputs)"
        )
    return f"read the job's logs in Azure ML studio{f' ({studio})' if studio else ''}"
