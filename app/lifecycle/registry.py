"""Registered models as runs left them: the backend's registry plus the champion history the
lifecycle recorded."""

from __future__ import annotations

from dataclasses import dataclass

from app.backends.protocol import TrainingBackend
from app.domain.errors import NotFound
from app.domain.state import RegisteredModelInfo
from app.store.champions import ChampionStore
from app.store.tables import ChampionEventRow


@dataclass(frozen=True)
class ModelView:
    info: RegisteredModelInfo
    champion_history: list[ChampionEventRow]


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
