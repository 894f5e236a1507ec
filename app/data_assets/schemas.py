"""Bodies of the data-assets API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.spec import Name


class DataAssetFromPath(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "diabetes-diagnostics", "path": "imports/diabetes.csv"}]},
    )

    name: Name
    path: str = Field(
        min_length=1, max_length=1024, description="A CSV file inside the service's data directory."
    )
    description: str | None = Field(default=None, max_length=1000)


class DataAssetRead(BaseModel):
    name: str
    version: str
    rows: int
    positive_rate: float
    sha256: str
    source: Literal["generated", "upload", "path"]
    description: str | None
    created_at: datetime


class DataAssetSummary(BaseModel):
    name: str
    latest_version: str
    versions: list[DataAssetRead]


class DataAssetList(BaseModel):
    items: list[DataAssetSummary]
