"""Run and step statuses: the small stable set the API exposes, and the raw vocabulary behind it."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """The small, stable status set the API exposes; the raw backend value travels beside it."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED})

# azure-ai-ml JobStatus values (plus REST's Unknown) -> normalized status.
# The local engine reports the same raw vocabulary so both backends read alike.
_RAW_TO_STATUS: dict[str, RunStatus] = {
    "NotStarted": RunStatus.QUEUED,
    "Queued": RunStatus.QUEUED,
    "Preparing": RunStatus.QUEUED,
    "Provisioning": RunStatus.QUEUED,
    "Starting": RunStatus.RUNNING,
    "Running": RunStatus.RUNNING,
    "CancelRequested": RunStatus.RUNNING,
    "Finalizing": RunStatus.RUNNING,
    "Completed": RunStatus.COMPLETED,
    "Failed": RunStatus.FAILED,
    "Canceled": RunStatus.CANCELED,
    "NotResponding": RunStatus.RUNNING,
    "Paused": RunStatus.RUNNING,
    "Unknown": RunStatus.RUNNING,
}


def normalize_status(raw: str) -> RunStatus:
    """Map a raw backend status to the stable set; an unheard-of value counts as still running."""
    return _RAW_TO_STATUS.get(raw, RunStatus.RUNNING)
