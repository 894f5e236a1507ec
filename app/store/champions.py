"""The champion history: which version became champion, when, by which run."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.store.tables import ChampionEventRow


class ChampionStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def history(self, model_name: str) -> list[ChampionEventRow]:
        query = (
            select(ChampionEventRow)
            .where(ChampionEventRow.model_name == model_name)
            .order_by(ChampionEventRow.id)
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    def latest(self, model_names: list[str]) -> dict[str, ChampionEventRow]:
        """The most recent promotion of each of `model_names` that has one."""
        newest = (
            select(func.max(ChampionEventRow.id))
            .where(ChampionEventRow.model_name.in_(model_names))
            .group_by(ChampionEventRow.model_name)
        )
        query = select(ChampionEventRow).where(ChampionEventRow.id.in_(newest))
        with self._sessions() as session:
            return {row.model_name: row for row in session.scalars(query)}


def add_champion_event(session: Session, event: ChampionEventRow) -> bool:
    """Inside the caller's transaction; one entry per (model, run), however often it is called.
    True when this call added it."""
    exists = session.scalars(
        select(ChampionEventRow).where(
            ChampionEventRow.model_name == event.model_name, ChampionEventRow.run_id == event.run_id
        )
    ).first()
    if exists is None:
        session.add(event)
        return True
    return False
