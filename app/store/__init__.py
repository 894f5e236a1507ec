"""The store: the service's own database, the source of truth for runs.

``Store`` bundles one repository per aggregate (runs, data assets, champion history, leases)
over one session factory; all SQL lives in those modules.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from app.store.champions import ChampionStore
from app.store.data_assets import DataAssetStore
from app.store.leases import LeaseStore
from app.store.runs import RunStore


class Store:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.runs = RunStore(sessions)
        self.assets = DataAssetStore(sessions)
        self.champions = ChampionStore(sessions)
        self.leases = LeaseStore(sessions)

    def ping(self) -> None:
        with self.sessions() as session:
            session.execute(text("SELECT 1"))
