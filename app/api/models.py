"""/v1/models: registered versions, the current champion and how it got there."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from app.api.deps import ModelsDep
from app.api.errors import problem_responses
from app.domain.spec import NAME_PATTERN

router = APIRouter(prefix="/v1/models", tags=["models"])


class ModelVersionRead(BaseModel):
    version: str
    created_at: datetime | None
    is_champion: bool
    metrics: dict[str, float]
    lineage: dict[str, str]


class ChampionEventRead(BaseModel):
    version: str
    run_id: str
    promoted_at: datetime
    metric: str
    value: float | None


class ModelRead(BaseModel):
    name: str
    champion_version: str | None
    versions: list[ModelVersionRead]
    champion_history: list[ChampionEventRead]


class ChampionMetricRead(BaseModel):
    name: str = Field(description="The metric the champion's promotion was decided on")
    value: float | None


class ModelSummaryRead(BaseModel):
    name: str
    champion_version: str | None
    champion_metric: ChampionMetricRead | None
    latest_version: str | None
    version_count: int
    updated_at: datetime | None


class ModelList(BaseModel):
    items: list[ModelSummaryRead]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page.")


@router.get(
    "",
    response_model=ModelList,
    summary="Registered models by name, each with its champion and the champion's metric",
    responses=problem_responses(401, 403, 422, 502, 503),
)
async def list_models(
    models: ModelsDep,
    cursor: Annotated[
        str | None, Query(max_length=128, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ModelList:
    page, next_cursor = await models.page(cursor, limit)
    return ModelList(
        items=[
            ModelSummaryRead(
                name=m.info.name,
                champion_version=m.info.champion_version,
                champion_metric=ChampionMetricRead(name=m.metric, value=m.value) if m.metric else None,
                latest_version=m.info.latest_version,
                version_count=m.info.version_count,
                updated_at=m.info.updated_at,
            )
            for m in page
        ],
        next_cursor=next_cursor,
    )


@router.get(
    "/{name}",
    response_model=ModelRead,
    summary="A registered model: versions with metrics and lineage, champion and its history",
    responses=problem_responses(401, 403, 404, 422, 502, 503),
)
async def get_model(
    name: Annotated[str, Path(min_length=1, max_length=128, pattern=NAME_PATTERN)],
    models: ModelsDep,
) -> ModelRead:
    found = await models.get(name)
    model = found.info
    return ModelRead(
        name=model.name,
        champion_version=model.champion_version,
        versions=[
            ModelVersionRead(
                version=v.version,
                created_at=v.created_at,
                is_champion=v.is_champion,
                metrics=v.metrics,
                lineage={k: val for k, val in v.tags.items() if not k.startswith("metric.")},
            )
            for v in model.versions
        ],
        champion_history=[
            ChampionEventRead(
                version=e.version, run_id=e.run_id, promoted_at=e.promoted_at, metric=e.metric, value=e.value
            )
            for e in found.champion_history
        ],
    )
