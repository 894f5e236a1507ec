"""Azure ML backend: runs the command components as Azure ML jobs and pipelines."""

from .backend import AzureMLBackend
from .preflight import preflight

__all__ = ["AzureMLBackend", "preflight"]
