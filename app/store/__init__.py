"""The store: the service's own database, the source of truth for runs.

``Store`` bundles one repository per aggregate (runs and their trials, data assets, champion
history) over one session factory; all SQL lives in those modules.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from app.store.champions import ChampionStore
from app.store.data_assets import DataAssetStore
from app.store.runs import RunStore
from app.store.trials import TrialStore


class Store:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.runs = RunStore(sessions)
        self.assets = DataAssetStore(sessions)
        self.champions = ChampionStore(sessions)
        self.trials = TrialStore(sessions)

    def ping(self) -> None:
        with self.sessions() as session:
            session.execute(text("SELECT 1"))
