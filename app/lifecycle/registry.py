"""Registered models as runs left them: the backend's registry plus the champion history the
lifecycle recorded."""

from __future__ import annotations

from dataclasses import dataclass

from app.backends.protocol import TrainingBackend
from app.domain.errors import NotFound
from app.domain.spec import PromotionRule
from app.domain.state import ModelSummaryInfo, RegisteredModelInfo
from app.store.champions import ChampionStore
from app.store.tables import ChampionEventRow


@dataclass(frozen=True)
class ModelView:
    info: RegisteredModelInfo
    champion_history: list[ChampionEventRow]


@dataclass(frozen=True)
class ModelSummary:
    info: ModelSummaryInfo
    #: The champion's value of the metric its promotion was decided on (the default rule's
    #: metric when no promotion was recorded here).
    metric: str | None
    value: float | None


class ModelRegistry:
    def __init__(self, backend: TrainingBackend, champions: ChampionStore) -> None:
        self.backend = backend
        self.champions = champions

    async def get(self, name: str) -> ModelView:
        info = await self.backend.model(name)
        if info is None:
            raise NotFound(
                f"no registered model named {name!r}; a pipeline run registers it when it promotes one"
            )
        return ModelView(info, self.champions.history(name))

    async def page(self, cursor: str | None, limit: int) -> tuple[list[ModelSummary], str | None]:
        """Models by name; the second value is the cursor of the next page, if any."""
        found = await self.backend.models(cursor, limit + 1)
        page = found[:limit]
        promotions = self.champions.latest([m.name for m in page]) if page else {}
        summaries = []
        for model in page:
            promoted = promotions.get(model.name)
            metric = promoted.metric if promoted else PromotionRule().metric
            value = model.champion_metrics.get(metric)
            if value is None and promoted is not None and promoted.version == model.champion_version:
                value = promoted.value
            summaries.append(ModelSummary(model, metric if model.champion_version else None, value))
        return summaries, page[-1].name if len(found) > limit else None
