"""The store: the service's own database, the source of truth for runs.

``Store`` bundles one repository per aggregate (runs and their trials, data assets, champion
history, events, leases) over one session factory; all SQL lives in those modules.
``event_notifier`` is called after every commit that wrote events.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from app.store.champions import ChampionStore
from app.store.data_assets import DataAssetStore
from app.store.events import EventNotifier, EventStore
from app.store.leases import LeaseStore
from app.store.runs import RunStore
from app.store.trials import TrialStore


class Store:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.event_notifier = EventNotifier()
        self.runs = RunStore(sessions, self.event_notifier)
        self.events = EventStore(sessions)
        self.assets = DataAssetStore(sessions)
        self.champions = ChampionStore(sessions)
        self.trials = TrialStore(sessions)
        self.leases = LeaseStore(sessions)

    def ping(self) -> None:
        with self.sessions() as session:
            session.execute(text("SELECT 1"))
