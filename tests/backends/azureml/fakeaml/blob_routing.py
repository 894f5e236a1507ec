"""Send azure-ai-ml's code-upload blob clients through the fake transport.

`azure.ai.ml._artifacts._blob_storage_helper.BlobStorageClient` builds its own
`BlobServiceClient` / `ContainerClient` without the `transport=` given to `MLClient`, so
offline it would spend minutes on DNS retries. Swapping the two names in that one module for
subclasses that default `transport=` keeps the rest of the upload path real.
"""

from __future__ import annotations

from typing import Any

import pytest
from azure.ai.ml._artifacts import _blob_storage_helper
from azure.core.pipeline.transport import HttpTransport
from azure.storage.blob import BlobServiceClient, ContainerClient


def route_blob_clients(monkeypatch: pytest.MonkeyPatch, transport: HttpTransport) -> None:
    class RoutedBlobServiceClient(BlobServiceClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("transport", transport)
            super().__init__(*args, **kwargs)

    class RoutedContainerClient(ContainerClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("transport", transport)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(_blob_storage_helper, "BlobServiceClient", RoutedBlobServiceClient)
    monkeypatch.setattr(_blob_storage_helper, "ContainerClient", RoutedContainerClient)
