"""The fake Azure ML workspace: real azure-ai-ml clients, in-memory service."""

from .clock import FakeClock
from .credential import FakeCredential
from .jobs import STEP_SECONDS
from .transport import FakeTransport, Fault, Recorded
from .workspace import FakeWorkspace

__all__ = [
    "STEP_SECONDS",
    "FakeClock",
    "FakeCredential",
    "FakeTransport",
    "FakeWorkspace",
    "Fault",
    "Recorded",
]
